/*
 * sessio/mhd.h — sessio for GNU libmicrohttpd (library sessio-mhd).
 *
 * Two calls per handler: sessio_mhd_begin() reads every Cookie header of
 * an MHD connection and decides whether the client's connection is TLS;
 * sessio_mhd_commit() writes the session and puts Set-Cookie,
 * "Cache-Control: no-store" and "Vary: Cookie" on the response.
 *
 * A handler, in short (error replies shortened):
 *
 *     static enum MHD_Result handler(void *cls, struct MHD_Connection *c,
 *                                    const char *url, const char *method,
 *                                    const char *version, const char *upload,
 *                                    size_t *upload_size, void **req_cls)
 *     {
 *       static int seen;                      // a GET, answered on call 2:
 *       if (*req_cls == NULL) {               // MHD 0.9.75 closes the
 *         *req_cls = &seen;                   // connection when a response
 *         return MHD_YES;                     // is queued on the first call
 *       }
 *       sessio_manager *mgr = cls;
 *       int64_t now = sessio_now_ms();
 *       sessio *s;
 *       sessio_err e = sessio_mhd_begin(mgr, c, 0, now, &s);
 *       if (e == SESSIO_ETOOBIG) return reply(c, 431, "cookies too large");
 *       if (e != SESSIO_OK) return reply(c, 503, "store unavailable");
 *
 *       int64_t visits = 0;
 *       sessio_incr(s, "visits", 1, &visits);  // creates the session
 *
 *       char body[64];
 *       int n = snprintf(body, sizeof body, "visit %lld\n", (long long)visits);
 *       struct MHD_Response *r = MHD_create_response_from_buffer(
 *           (size_t)n, body, MHD_RESPMEM_MUST_COPY);
 *       e = sessio_mhd_commit(s, r, now);     // store + headers
 *       sessio_free(s);
 *       if (e != SESSIO_OK) {                 // nothing was stored
 *         MHD_destroy_response(r);
 *         return reply(c, 503, "store unavailable");
 *       }
 *       enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, r);
 *       MHD_destroy_response(r);
 *       return ok;
 *     }
 *
 * When the response body depends on the committed state (the merged cart
 * after concurrent adds), call sessio_commit() first, build the response,
 * then sessio_mhd_add_headers().
 *
 * Thread safety: these functions touch only their arguments; call them from
 * MHD's handler threads freely (a sessio handle belongs to one request).
 */
#ifndef SESSIO_MHD_H
#define SESSIO_MHD_H

#include <microhttpd.h>

#include "../sessio.h"

#ifdef __cplusplus
extern "C" {
#endif

/* At most this many Cookie headers are read from one request. */
#define SESSIO_MHD_MAX_COOKIE_HEADERS 32

/* 1 when the client's connection is TLS: the MHD daemon serves HTTPS, or
 * 'trust_proxy' is set and the request carries "X-Forwarded-Proto: https"
 * (first value of the list, case-insensitive). Set 'trust_proxy' only when
 * every request comes through a proxy you run that sets that header. */
SESSIO_API int sessio_mhd_is_tls(struct MHD_Connection *connection, int trust_proxy);

/* Begins the request's session: collects all Cookie headers of
 * 'connection' (the name compared case-insensitively, any number of
 * headers, S12), decides TLS with sessio_mhd_is_tls(), and calls
 * sessio_begin().
 *
 * On SESSIO_OK '*out' is the caller's: sessio_free() it after the response
 * is queued. Errors ('*out' is NULL then):
 *   SESSIO_ETOOBIG  the Cookie headers together are over
 *                   SESSIO_COOKIE_HEADER_MAX bytes or more than
 *                   SESSIO_MHD_MAX_COOKIE_HEADERS: answer 431;
 *   SESSIO_EUNAVAIL the store cannot be reached: answer 503;
 *   SESSIO_ENOMEM   out of memory. */
SESSIO_API sessio_err sessio_mhd_begin(sessio_manager *mgr,
                            struct MHD_Connection *connection,
                            int trust_proxy, int64_t now, sessio **out);

/* Adds the session's headers to 'response' (borrowed): Set-Cookie when
 * sessio_cookie_header() has one, and "Cache-Control: no-store" and
 * "Vary: Cookie" always (the response depends on the session, S10). Call
 * it after sessio_commit(). SESSIO_ENOMEM when MHD cannot add a header. */
SESSIO_API sessio_err sessio_mhd_add_headers(const sessio *s,
                                  struct MHD_Response *response);

/* sessio_commit(s, now), then sessio_mhd_add_headers(s, response). On a
 * commit error nothing was stored and no header is added: discard
 * 'response' and answer an error instead (503 for SESSIO_EUNAVAIL). */
SESSIO_API sessio_err sessio_mhd_commit(sessio *s, struct MHD_Response *response,
                             int64_t now);

#ifdef __cplusplus
}
#endif
#endif /* SESSIO_MHD_H */
