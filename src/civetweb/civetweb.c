/*
 * civetweb.c — sessio-civetweb: the bridge between CivetWeb connections
 * and the sessio core (see include/sessio/civetweb.h). Cookie headers are
 * gathered without copying (pointers into CivetWeb's request buffer, valid
 * for the whole request) and handed to sessio_begin.
 */
#include "sessio/civetweb.h"

#include <string.h>
#include <strings.h>

#include "integration.h"

int sessio_civetweb_is_tls(const struct mg_connection *conn, int trust_proxy) {
  const struct mg_request_info *ri = mg_get_request_info(conn);
  if (ri == NULL) return 0;
  if (ri->is_ssl) return 1;
  if (!trust_proxy) return 0;
  for (int i = 0; i < ri->num_headers; i++)
    if (strcasecmp(ri->http_headers[i].name, "X-Forwarded-Proto") == 0)
      return sessio__proto_is_https(ri->http_headers[i].value);
  return 0;
}

sessio_err sessio_civetweb_begin(sessio_manager *mgr,
                                 struct mg_connection *conn, int trust_proxy,
                                 int64_t now, sessio **out) {
  const char *vals[SESSIO_CIVETWEB_MAX_COOKIE_HEADERS];
  struct sessio__cookie_set set = {vals, SESSIO_CIVETWEB_MAX_COOKIE_HEADERS, 0,
                                   0, 0};
  const struct mg_request_info *ri = mg_get_request_info(conn);
  *out = NULL;
  if (ri == NULL) return SESSIO_EINVAL;
  /* Every Cookie header, not mg_get_header()'s first one only (S12). */
  for (int i = 0; i < ri->num_headers; i++) {
    const struct mg_header *h = &ri->http_headers[i];
    if (h->name == NULL || h->value == NULL ||
        strcasecmp(h->name, "Cookie") != 0)
      continue;
    if (!sessio__cookie_add(&set, h->value, strlen(h->value)))
      return SESSIO_ETOOBIG;
  }
  /* The token transport's headers (S30); the core ignores them unless the
   * manager has that transport enabled. */
  return sessio_begin_token(
      mgr, set.vals, set.n, mg_get_header(conn, "Authorization"),
      mg_get_header(conn, "X-Session-Transport"),
      sessio_civetweb_is_tls(conn, trust_proxy), now, out);
}

/* mg_response_header_add's errors: -3 means no response was started. */
static sessio_err add(struct mg_connection *conn, const char *name,
                      const char *value) {
  int rc = mg_response_header_add(conn, name, value, -1);
  if (rc == 0) return SESSIO_OK;
  return rc == -3 ? SESSIO_ESTATE : SESSIO_ENOMEM;
}

sessio_err sessio_civetweb_add_headers(const sessio *s,
                                       struct mg_connection *conn) {
  const char *sc = sessio_cookie_header(s);
  const char *tok = sessio_token_header(s);
  sessio_err e = SESSIO_OK;
  if (sc != NULL) e = add(conn, "Set-Cookie", sc);
  if (e == SESSIO_OK && tok != NULL) e = add(conn, "X-Session-Token", tok);
  if (e == SESSIO_OK) e = add(conn, "Cache-Control", "no-store");
  if (e == SESSIO_OK) e = add(conn, "Vary", "Cookie");
  return e;
}

sessio_err sessio_civetweb_commit(sessio *s, struct mg_connection *conn,
                                  int status, int64_t now) {
  sessio_err e = sessio_commit(s, now);
  if (e != SESSIO_OK) return e;
  int rc = mg_response_header_start(conn, status);
  if (rc != 0) return rc == -1 ? SESSIO_EINVAL : SESSIO_ESTATE;
  return sessio_civetweb_add_headers(s, conn);
}
