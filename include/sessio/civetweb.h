/*
 * sessio/civetweb.h — sessio for the CivetWeb embedded HTTP server
 * (library sessio-civetweb).
 *
 * Two calls per handler: sessio_civetweb_begin() reads every Cookie header
 * of the request (and a bearer token, when the manager has the token
 * transport on) and decides whether the client's connection is TLS;
 * sessio_civetweb_commit() writes the session, starts the response
 * (mg_response_header_start) and adds Set-Cookie (or X-Session-Token),
 * "Cache-Control: no-store" and "Vary: Cookie"; the handler adds its own
 * headers and calls mg_response_header_send().
 *
 * A request handler, in short (error replies shortened):
 *
 *     static int handler(struct mg_connection *c, void *cbdata)
 *     {
 *       sessio_manager *mgr = cbdata;
 *       int64_t now = sessio_now_ms();
 *       sessio *s;
 *       sessio_err e = sessio_civetweb_begin(mgr, c, 0, now, &s);
 *       if (e == SESSIO_ETOOBIG) return mg_send_http_error(c, 431, "..."), 431;
 *       if (e != SESSIO_OK) return mg_send_http_error(c, 503, "..."), 503;
 *       int64_t visits = 0;
 *       sessio_incr(s, "visits", 1, &visits);    // creates the session
 *       e = sessio_civetweb_commit(s, c, 200, now); // store, start, headers
 *       sessio_free(s);
 *       if (e != SESSIO_OK) ...  // nothing started yet: answer 503 instead
 *       mg_response_header_add(c, "Content-Type", "text/plain", -1);
 *       mg_response_header_send(c);
 *       mg_printf(c, "visit %lld\n", (long long)visits);
 *       return 200;
 *     }
 *
 * CivetWeb lets a response be started once: that is why the commit, which
 * can fail, comes before mg_response_header_start().
 *
 * Thread safety: these functions touch only their arguments; call them from
 * CivetWeb's worker threads freely (a sessio handle belongs to one request).
 */
#ifndef SESSIO_CIVETWEB_H
#define SESSIO_CIVETWEB_H

#include <civetweb.h>

#include "../sessio.h"

#ifdef __cplusplus
extern "C" {
#endif

/* At most this many Cookie headers are read from one request. */
#define SESSIO_CIVETWEB_MAX_COOKIE_HEADERS 32

/* 1 when the client's connection is TLS: CivetWeb serves it on an HTTPS
 * port, or 'trust_proxy' is set and the request carries
 * "X-Forwarded-Proto: https" (first value of the list, case-insensitive).
 * Set 'trust_proxy' only when every request comes through a proxy you run
 * that sets that header. */
SESSIO_API int sessio_civetweb_is_tls(const struct mg_connection *conn,
                                      int trust_proxy);

/* Begins the request's session: collects all Cookie headers of 'conn' (the
 * name compared case-insensitively, any number of headers, S12), decides
 * TLS with sessio_civetweb_is_tls(), and calls sessio_begin_token() with
 * the request's Authorization and X-Session-Transport headers (read only
 * when the manager has the token transport enabled, S30).
 *
 * On SESSIO_OK '*out' is the caller's: sessio_free() it once the response
 * headers are added. Errors ('*out' is NULL then):
 *   SESSIO_ETOOBIG  the Cookie headers together are over
 *                   SESSIO_COOKIE_HEADER_MAX bytes or more than
 *                   SESSIO_CIVETWEB_MAX_COOKIE_HEADERS: answer 431;
 *   SESSIO_ETRANSPORT a session cookie and a bearer token in one
 *                   request: answer 400 (S30);
 *   SESSIO_EUNAVAIL the store cannot be reached: answer 503;
 *   SESSIO_ENOMEM   out of memory. */
SESSIO_API sessio_err sessio_civetweb_begin(sessio_manager *mgr,
                                            struct mg_connection *conn,
                                            int trust_proxy, int64_t now,
                                            sessio **out);

/* Adds the session's headers to the response of 'conn' started with
 * mg_response_header_start(): Set-Cookie when sessio_cookie_header() has
 * one, X-Session-Token when sessio_token_header() has one (S30), and "Cache-Control: no-store" and "Vary: Cookie" always (the
 * response depends on the session, S10). Call it after sessio_commit().
 * SESSIO_ENOMEM when CivetWeb cannot add a header (too many headers or
 * out of memory), SESSIO_ESTATE when no response was started. */
SESSIO_API sessio_err sessio_civetweb_add_headers(const sessio *s,
                                                  struct mg_connection *conn);

/* sessio_commit(s, now), then mg_response_header_start(conn, 'status')
 * and sessio_civetweb_add_headers(s, conn). On a commit error nothing was
 * stored and no response started: answer an error instead (503 for
 * SESSIO_EUNAVAIL). SESSIO_ESTATE when a response was already started. */
SESSIO_API sessio_err sessio_civetweb_commit(sessio *s,
                                             struct mg_connection *conn,
                                             int status, int64_t now);

#ifdef __cplusplus
}
#endif
#endif /* SESSIO_CIVETWEB_H */
