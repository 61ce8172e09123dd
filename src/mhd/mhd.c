/*
 * mhd.c — sessio-mhd: the bridge between libmicrohttpd connections and
 * responses and the sessio core (see include/sessio/mhd.h).
 * Cookie headers are gathered without copying (pointers into MHD's
 * connection memory, valid for the whole request) and handed to sessio_begin.
 */
#include "sessio/mhd.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "integration.h"
#include "mhd/mhd_internal.h"

/* MHD's walk over the headers: every Cookie header (the name compared
 * case-insensitively) into a bounded set; stops at the first over a limit. */
static enum MHD_Result collect_cookie(void *cls, enum MHD_ValueKind kind,
                                      const char *key, size_t key_size,
                                      const char *value, size_t value_size) {
  (void)kind;
  if (key_size != 6 || strncasecmp(key, "Cookie", 6) != 0 || value == NULL)
    return MHD_YES;
  return sessio__cookie_add(cls, value, value_size) ? MHD_YES : MHD_NO;
}

int sessio_mhd__cookies(struct MHD_Connection *connection,
                        const char *vals[SESSIO_MHD_MAX_COOKIE_HEADERS],
                        size_t *n) {
  struct sessio__cookie_set set = {vals, SESSIO_MHD_MAX_COOKIE_HEADERS, 0, 0,
                                   0};
  MHD_get_connection_values_n(connection, MHD_HEADER_KIND, collect_cookie,
                              &set);
  *n = set.n;
  return set.too_big ? -1 : 0;
}

int sessio_mhd_is_tls(struct MHD_Connection *connection, int trust_proxy) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(connection, MHD_CONNECTION_INFO_DAEMON);
  if (ci != NULL && ci->daemon != NULL) {
    const union MHD_DaemonInfo *di =
        MHD_get_daemon_info(ci->daemon, MHD_DAEMON_INFO_FLAGS);
    if (di != NULL && (di->flags & MHD_USE_TLS) != 0) return 1;
  }
  if (trust_proxy) {
    const char *p = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
                                                "X-Forwarded-Proto");
    if (sessio__proto_is_https(p)) return 1;
  }
  return 0;
}

sessio_err sessio_mhd_begin(sessio_manager *mgr,
                            struct MHD_Connection *connection, int trust_proxy,
                            int64_t now, sessio **out) {
  const char *vals[SESSIO_MHD_MAX_COOKIE_HEADERS];
  size_t n;
  *out = NULL;
  if (sessio_mhd__cookies(connection, vals, &n) != 0) return SESSIO_ETOOBIG;
  /* The token transport's headers (S30); the core ignores them unless the
   * manager has it enabled. */
  return sessio_begin_token(
      mgr, vals, n,
      MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
                                  MHD_HTTP_HEADER_AUTHORIZATION),
      MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
                                  "X-Session-Transport"),
      sessio_mhd_is_tls(connection, trust_proxy), now, out);
}

sessio_err sessio_mhd_add_headers(const sessio *s,
                                  struct MHD_Response *response) {
  const char *sc = sessio_cookie_header(s);
  const char *tok = sessio_token_header(s);
  if (sc != NULL && MHD_add_response_header(
                        response, MHD_HTTP_HEADER_SET_COOKIE, sc) != MHD_YES)
    return SESSIO_ENOMEM;
  if (tok != NULL &&
      MHD_add_response_header(response, "X-Session-Token", tok) != MHD_YES)
    return SESSIO_ENOMEM;
  if (MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL,
                              "no-store") != MHD_YES ||
      MHD_add_response_header(response, MHD_HTTP_HEADER_VARY, "Cookie") !=
          MHD_YES)
    return SESSIO_ENOMEM;
  return SESSIO_OK;
}

sessio_err sessio_mhd_commit(sessio *s, struct MHD_Response *response,
                             int64_t now) {
  sessio_err e = sessio_commit(s, now);
  if (e != SESSIO_OK) return e;
  return sessio_mhd_add_headers(s, response);
}
