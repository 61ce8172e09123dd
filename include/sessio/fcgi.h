/*
 * sessio/fcgi.h — sessio for FastCGI applications on libfcgi (library
 * sessio-fcgi).
 *
 * Two calls per request: sessio_fcgi_begin() reads every HTTP_COOKIE
 * parameter of the request (and a bearer token, when the manager has the
 * token transport on) and decides whether the client's connection is TLS;
 * sessio_fcgi_commit() writes the session and writes Set-Cookie (or
 * X-Session-Token),
 * "Cache-Control: no-store" and "Vary: Cookie" header lines to the
 * response stream. The application writes its own "Status:" and
 * "Content-Type:" lines, in any order (CGI header lines are unordered), and
 * the blank line that ends the headers.
 *
 * A request loop, in short (error replies shortened):
 *
 *     FCGX_Request rq;
 *     FCGX_InitRequest(&rq, sock, 0);
 *     while (FCGX_Accept_r(&rq) >= 0) {
 *       int64_t now = sessio_now_ms();
 *       sessio *s;
 *       sessio_err e = sessio_fcgi_begin(mgr, rq.envp, 0, now, &s);
 *       if (e == SESSIO_ETOOBIG) { reply(rq.out, 431); continue; }
 *       if (e != SESSIO_OK) { reply(rq.out, 503); continue; }
 *       int64_t visits = 0;
 *       sessio_incr(s, "visits", 1, &visits);    // creates the session
 *       e = sessio_fcgi_commit(s, rq.out, now);  // store + header lines
 *       sessio_free(s);
 *       if (e != SESSIO_OK) ... // nothing stored, nothing written: 503
 *       FCGX_FPrintF(rq.out, "Status: 200 OK\r\n"
 *                    "Content-Type: text/plain\r\n\r\n"
 *                    "visit %lld\n", (long long)visits);
 *       FCGX_Finish_r(&rq);
 *     }
 *
 * Where TLS ends: a FastCGI application learns it from its web server's
 * parameters. nginx (fastcgi_params: "fastcgi_param HTTPS $https
 * if_not_empty;"), Apache and lighttpd set HTTPS=on for a TLS connection.
 * Those parameters come from the web server, never from the client; the
 * client's X-Forwarded-Proto header (parameter HTTP_X_FORWARDED_PROTO) is
 * believed only with 'trust_proxy' set.
 *
 * Thread safety: these functions touch only their arguments; call them from
 * any thread that owns the request (a sessio handle belongs to one request).
 */
#ifndef SESSIO_FCGI_H
#define SESSIO_FCGI_H

#include <fcgiapp.h>

#include "../sessio.h"

#ifdef __cplusplus
extern "C" {
#endif

/* At most this many HTTP_COOKIE parameters are read from one request (a
 * web server may pass each Cookie header as its own parameter). */
#define SESSIO_FCGI_MAX_COOKIE_HEADERS 32

/* 1 when the client's connection is TLS: the parameter HTTPS is "on" (or
 * "1", case-insensitive) as the web server sets it, or 'trust_proxy' is
 * set and HTTP_X_FORWARDED_PROTO starts with "https" (first value of the
 * list, case-insensitive). Set 'trust_proxy' only when every request comes
 * through a proxy you run that sets that header. 'envp' is the request's
 * parameter array (FCGX_Request.envp), borrowed. */
SESSIO_API int sessio_fcgi_is_tls(FCGX_ParamArray envp, int trust_proxy);

/* Begins the request's session: collects every HTTP_COOKIE parameter of
 * 'envp' (any number of them, S12), decides TLS with sessio_fcgi_is_tls(),
 * and calls sessio_begin_token() with the HTTP_AUTHORIZATION and
 * HTTP_X_SESSION_TRANSPORT parameters (read only when the manager has the
 * token transport enabled, S30; nginx passes every request header as an
 * HTTP_ parameter, Apache passes Authorization only with "CGIPassAuth On").
 *
 * On SESSIO_OK '*out' is the caller's: sessio_free() it once the response
 * headers are written. Errors ('*out' is NULL then):
 *   SESSIO_ETOOBIG  the cookies together are over SESSIO_COOKIE_HEADER_MAX
 *                   bytes or in more than SESSIO_FCGI_MAX_COOKIE_HEADERS
 *                   parameters: answer "Status: 431";
 *   SESSIO_ETRANSPORT a session cookie and a bearer token in one
 *                   request: answer "Status: 400" (S30);
 *   SESSIO_EUNAVAIL the store cannot be reached: answer "Status: 503";
 *   SESSIO_ENOMEM   out of memory. */
SESSIO_API sessio_err sessio_fcgi_begin(sessio_manager *mgr,
                                        FCGX_ParamArray envp, int trust_proxy,
                                        int64_t now, sessio **out);

/* Writes the session's header lines to 'out' (borrowed), each ended by
 * CRLF: "Set-Cookie: ..." when sessio_cookie_header() has one,
 * "X-Session-Token: ..." when sessio_token_header() has one (S30), and
 * "Cache-Control: no-store" and "Vary: Cookie" always (the response depends
 * on the session, S10). Call it after sessio_commit(), before the blank
 * line that ends the headers. SESSIO_EIO when the stream fails. */
SESSIO_API sessio_err sessio_fcgi_write_headers(const sessio *s,
                                                FCGX_Stream *out);

/* sessio_commit(s, now), then sessio_fcgi_write_headers(s, out). On a
 * commit error nothing was stored and nothing written: answer an error
 * instead (503 for SESSIO_EUNAVAIL). */
SESSIO_API sessio_err sessio_fcgi_commit(sessio *s, FCGX_Stream *out,
                                         int64_t now);

#ifdef __cplusplus
}
#endif
#endif /* SESSIO_FCGI_H */
