/*
 * integration.h — private helpers shared by the HTTP server integrations
 * (sessio-mhd, sessio-fcgi, sessio-civetweb): the trusted-proxy protocol
 * check and the bounded gathering of Cookie header values. Header-only
 * (static inline) because each integration is its own library and
 * libsessio exports only the public API.
 */
#ifndef SESSIO_INTEGRATION_H
#define SESSIO_INTEGRATION_H

#include <stddef.h>
#include <strings.h>

#include "cookie_limit.h"
#include "sessio.h"

/* 1 when the X-Forwarded-Proto value 'v' starts with the token "https"
 * (ASCII case-insensitive), followed by the end, a comma or whitespace:
 * the first proxy's view of the client connection. NULL is 0. */
static inline int sessio__proto_is_https(const char *v) {
  if (v == NULL) return 0;
  while (*v == ' ' || *v == '\t') v++;
  if (strncasecmp(v, "https", 5) != 0) return 0;
  v += 5;
  return *v == '\0' || *v == ',' || *v == ' ' || *v == '\t';
}

/* Cookie header values of one request, gathered without copying. 'max'
 * values, and no more bytes in all than sessio reads
 * (sessio__cookie_budget): past either limit 'too_big' is set and the
 * request is to be answered 431 (S11). */
struct sessio__cookie_set {
  const char **vals;
  size_t max;
  size_t n;
  size_t bytes;
  int too_big;
};

/* Adds 'value' ('len' bytes) to 'set'; 0 when a limit is passed. */
static inline int sessio__cookie_add(struct sessio__cookie_set *set,
                                     const char *value, size_t len) {
  if (set->n == set->max || sessio__cookie_budget(set->bytes, len) < len) {
    set->too_big = 1;
    return 0;
  }
  set->vals[set->n++] = value;
  set->bytes += len;
  return 1;
}

#endif /* SESSIO_INTEGRATION_H */
