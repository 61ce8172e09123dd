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
 * Below them, two pieces of work every MHD server needs and should not
 * copy: the 431 for a request whose headers leave MHD no room to answer
 * (sessio_mhd_head_too_big, sessio_mhd_reply_431), and a per-client
 * limiter with the invalid-ID throttle built on it (sessio_mhd_limiter_*,
 * sessio_mhd_invalid_id_check/_note, S21).
 *
 * Thread safety: these functions touch only their arguments (a limiter
 * locks its own table); call them from MHD's handler threads freely (a
 * sessio handle belongs to one request).
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
SESSIO_API int sessio_mhd_is_tls(struct MHD_Connection *connection,
                                 int trust_proxy);

/* Begins the request's session: collects all Cookie headers of
 * 'connection' (the name compared case-insensitively, any number of
 * headers, S12), decides TLS with sessio_mhd_is_tls(), and calls
 * sessio_begin_token() with the request's Authorization and
 * X-Session-Transport headers (read only when the manager has the token
 * transport enabled, S30).
 *
 * On SESSIO_OK '*out' is the caller's: sessio_free() it after the response
 * is queued. Errors ('*out' is NULL then):
 *   SESSIO_ETOOBIG  the Cookie headers together are over
 *                   SESSIO_COOKIE_HEADER_MAX bytes or more than
 *                   SESSIO_MHD_MAX_COOKIE_HEADERS: answer 431;
 *   SESSIO_ETRANSPORT a session cookie and a bearer token in one
 *                   request: answer 400 (S30);
 *   SESSIO_EUNAVAIL the store cannot be reached: answer 503;
 *   SESSIO_ENOMEM   out of memory. */
SESSIO_API sessio_err sessio_mhd_begin(sessio_manager *mgr,
                                       struct MHD_Connection *connection,
                                       int trust_proxy, int64_t now,
                                       sessio **out);

/* Adds the session's headers to 'response' (borrowed): Set-Cookie when
 * sessio_cookie_header() has one, X-Session-Token when
 * sessio_token_header() has one (S30), and "Cache-Control: no-store" and
 * "Vary: Cookie" always (the response depends on the session, S10). Call
 * it after sessio_commit(). SESSIO_ENOMEM when MHD cannot add a header. */
SESSIO_API sessio_err sessio_mhd_add_headers(const sessio *s,
                                             struct MHD_Response *response);

/* sessio_commit(s, now), then sessio_mhd_add_headers(s, response). On a
 * commit error nothing was stored and no header is added: discard
 * 'response' and answer an error instead (503 for SESSIO_EUNAVAIL). */
SESSIO_API sessio_err sessio_mhd_commit(sessio *s,
                                        struct MHD_Response *response,
                                        int64_t now);

/* ------------------------------------------------------------------------
 * Requests too large to answer (S11)
 *
 * libmicrohttpd keeps a request's line and headers in its per-connection
 * pool (MHD_OPTION_CONNECTION_MEMORY_LIMIT), one 64-byte record per
 * header, cookie and query argument, and a copy of the Cookie header, and
 * builds the answer's header in what is left. When too little is left,
 * MHD 0.9.75 closes the connection without an answer ("failed to create
 * response header"), and an application cannot reach MHD's own error path
 * once its handler runs. Keep the pool at 32 KiB or less: MHD 0.9.75
 * mmap()s a larger one per connection and munmap()s it at close, and with
 * a sessio_mhd_pool checking passwords (64 MiB mmap/munmap each) those
 * calls wait for the process's memory-map lock for up to hundreds of ms.
 * So decide on the access handler's first call:
 *
 *     if (*req_cls == NULL && sessio_mhd_head_too_big(c, POOL, 16384)) {
 *       sessio_mhd_reply_431(c, method, "text/plain", "too large\n", 10, NULL);
 *       return MHD_NO;                        // MHD closes the connection
 *     }
 * ---------------------------------------------------------------------- */

/* What sessio_mhd_head_too_big() keeps free in the pool for the header of
 * an answer, in bytes. */
#define SESSIO_MHD_REPLY_ROOM 1024

/* 1 when the request on 'connection' is to be answered 431 at once: its
 * headers are over 'headers_max' bytes as on the wire (0: no limit of its
 * own); its Cookie headers are more than sessio reads
 * (SESSIO_COOKIE_HEADER_MAX bytes or SESSIO_MHD_MAX_COOKIE_HEADERS
 * headers: the SESSIO_ETOOBIG of sessio_mhd_begin(), decided here
 * already); or an upper bound of what they take of MHD's connection pool
 * ('pool_size', the daemon's MHD_OPTION_CONNECTION_MEMORY_LIMIT; 0 skips
 * this check) leaves less than SESSIO_MHD_REPLY_ROOM for an answer.
 * Else 0. Call it on the access handler's first call of a request. */
SESSIO_API int sessio_mhd_head_too_big(struct MHD_Connection *connection,
                                       size_t pool_size, size_t headers_max);

/* Answers 431 on 'connection' by writing the whole answer to its socket
 * at once, since MHD's pool may have no room to build it: the status line,
 * Date, "Connection: close", Content-Type 'content_type', Content-Length,
 * "Cache-Control: no-store", 'extra_headers' (complete "Name: value\r\n"
 * lines, e.g. your security headers; NULL for none), then 'body'
 * ('body_len' bytes; not sent when 'method' is "HEAD"). Inputs are
 * borrowed. Return MHD_NO from the access handler afterwards, so that MHD
 * closes the connection. The socket is idle at that point (MHD answers the
 * requests of a connection one after the other) and non-blocking: what
 * the kernel does not take at once is dropped with the connection.
 * SESSIO_OK when all was handed to the kernel; SESSIO_EIO when not (the
 * client is gone or does not read); SESSIO_ENOTSUP on a TLS daemon (the
 * socket carries TLS records: nothing is written); SESSIO_ETOOBIG when
 * the answer's header would be over 2 KiB or the answer over 16 KiB. */
SESSIO_API sessio_err sessio_mhd_reply_431(struct MHD_Connection *connection,
                                           const char *method,
                                           const char *content_type,
                                           const char *body, size_t body_len,
                                           const char *extra_headers);

/* ------------------------------------------------------------------------
 * Per-client limits, and the invalid-ID throttle (S21)
 *
 * A limiter is a fixed table of per-client counters in fixed windows:
 * 1024 buckets x 4 ways (about 100 KB whatever the number of clients),
 * safe to use from many threads, time passed in. A client that reached
 * 'limit' within 'window_ms' of its first count is refused until that
 * window ends. When the table is full, a new client takes the place of one
 * whose window is over, else of the one with the lowest count, so a flood
 * of new addresses never evicts the client being refused. Keys are keyed
 * hashes under the limiter's own random key, so nobody can aim many
 * addresses at one bucket.
 *
 * The invalid-ID throttle, in a handler (errors shortened):
 *
 *     int64_t wait = sessio_mhd_invalid_id_check(lim, mgr, c, 0, now);
 *     if (wait > 0)                 // a guesser: no store lookup at all
 *       return reply_429(c, (wait + 999) / 1000);  // Retry-After, seconds
 *     sessio_err e = sessio_mhd_begin(mgr, c, 0, now, &s);
 *     ...
 *     sessio_mhd_invalid_id_note(lim, c, 0, s, now, NULL, 0);
 * ---------------------------------------------------------------------- */

typedef struct sessio_mhd_limiter sessio_mhd_limiter;

/* A limiter that refuses a client after 'limit' counts within 'window_ms'
 * (> 0) of its first; 'limit' 0 counts but never refuses (to report
 * only). '*out' is the caller's: sessio_mhd_limiter_free() it.
 * SESSIO_EINVAL for a bad window or NULL 'out', SESSIO_ENOMEM,
 * SESSIO_ERANDOM when the OS has no random bytes for its key. */
SESSIO_API sessio_err sessio_mhd_limiter_new(unsigned limit, int64_t window_ms,
                                             sessio_mhd_limiter **out);
/* NULL allowed. */
SESSIO_API void sessio_mhd_limiter_free(sessio_mhd_limiter *l);

/* The key of the client of 'connection' in 'l': the peer address (IPv6
 * by its /64: one host or one LAN holds a whole /64), or with
 * 'trust_proxy' the last address of X-Forwarded-For (the one your proxy
 * saw; those before it are whatever the client wrote), hashed with
 * 'scope' (NULL or a string, e.g. an account name, to count a client per
 * account). 'text' ('cap' bytes, may be NULL) gets the address for a log
 * line ("?" when unknown). */
SESSIO_API uint64_t sessio_mhd_limiter_client(const sessio_mhd_limiter *l,
                                              struct MHD_Connection *connection,
                                              int trust_proxy,
                                              const char *scope, char *text,
                                              size_t cap);
/* The key of 'len' bytes of 'data' in 'l' (a keyed hash), for counting
 * something other than a client, e.g. an account. */
SESSIO_API uint64_t sessio_mhd_limiter_key(const sessio_mhd_limiter *l,
                                           const void *data, size_t len);

/* 0 when no client can be refused at 'now' (none has reached the limit in
 * a window still open): one atomic load, no lock. Test it before spending
 * anything on finding out who the client is. */
SESSIO_API int sessio_mhd_limiter_active(sessio_mhd_limiter *l, int64_t now);

/* 0 when 'key' may go on at 'now'; else the ms left (> 0) until its
 * window ends. Changes nothing. */
SESSIO_API int64_t sessio_mhd_limiter_check(sessio_mhd_limiter *l, uint64_t key,
                                            int64_t now);

/* Counts 'n' for 'key' at 'now' and returns its count in the current
 * window (from 'n' for the first of a window; saturates at UINT_MAX). */
SESSIO_API unsigned sessio_mhd_limiter_note(sessio_mhd_limiter *l, uint64_t key,
                                            unsigned n, int64_t now);

/* S21, before sessio_mhd_begin(): 0 when the request may go on; else the
 * ms until the client's window ends, and the request is to be answered
 * 429 with Retry-After, before any store lookup. Only a request that
 * carries a session cookie can be refused: a value named one of the
 * manager's cookie names in any of its Cookie headers, read as
 * sessio_begin() reads them (every header, the same parser and limits),
 * so a newcomer behind the same address still browses and can start a
 * session. */
SESSIO_API int64_t sessio_mhd_invalid_id_check(
    sessio_mhd_limiter *l, sessio_manager *mgr,
    struct MHD_Connection *connection, int trust_proxy, int64_t now);

/* S21, after sessio_mhd_begin(): counts each session ID of the request
 * that named no live session (sessio_rejected_ids(s)), not the request,
 * for its client. Returns the client's count in its window (0 when 's'
 * rejected none: nothing counted). 'text' ('cap' bytes, may be NULL) gets
 * the client's address when something was counted, for a log line. */
SESSIO_API unsigned sessio_mhd_invalid_id_note(
    sessio_mhd_limiter *l, struct MHD_Connection *connection, int trust_proxy,
    const sessio *s, int64_t now, char *text, size_t cap);

/* ------------------------------------------------------------------------
 * Metrics
 * ---------------------------------------------------------------------- */

/* A response to GET /metrics: the manager's figures (sessio_metrics_write,
 * the Prometheus text format) followed by 'extra' ('extra_len' bytes, may
 * be NULL: the application's own figures in the same format), with
 * "Content-Type: text/plain; version=0.0.4; charset=utf-8" and
 * "Cache-Control: no-store". The caller queues it (status 200) and
 * destroys it, as any response; NULL when out of memory. Serve it on an
 * address of its own, away from the public network. */
SESSIO_API struct MHD_Response *sessio_mhd_metrics_response(sessio_manager *mgr,
                                                            const char *extra,
                                                            size_t extra_len);

#ifdef __cplusplus
}
#endif
#endif /* SESSIO_MHD_H */
