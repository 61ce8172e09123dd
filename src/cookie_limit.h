/*
 * cookie_limit.h — the one place that decides how much of a request's
 * Cookie headers sessio reads (SESSIO_COOKIE_HEADER_MAX in all, S11).
 * Header-only (static inline), because the integrations are libraries of
 * their own and libsessio exports only the public API: the core's parser
 * and sessio_begin() read no more than this allows, and the integrations
 * answer 431 when a request has more (src/integration.h).
 */
#ifndef SESSIO_COOKIE_LIMIT_H
#define SESSIO_COOKIE_LIMIT_H

#include <stddef.h>

#include "sessio.h"

/* Of a Cookie header value of 'len' bytes that follows 'used' bytes of
 * the same request's earlier Cookie headers, how many bytes sessio reads:
 * all 'len', or what is left of SESSIO_COOKIE_HEADER_MAX. Less than 'len'
 * means the request's cookies are over the limit. */
static inline size_t sessio__cookie_budget(size_t used, size_t len) {
  size_t left =
      used < SESSIO_COOKIE_HEADER_MAX ? SESSIO_COOKIE_HEADER_MAX - used : 0;
  return len < left ? len : left;
}

#endif /* SESSIO_COOKIE_LIMIT_H */
