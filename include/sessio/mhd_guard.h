/*
 * sessio/mhd_guard.h — sessio-mhd's defences of a libmicrohttpd daemon
 * against a hostile client (library sessio-mhd): connection limits and
 * deadlines for a whole request head and body (a guard), and a small
 * bounded pool that runs slow work such as password checks off MHD's
 * request threads, the connection suspended meanwhile (a pool).
 *
 * A daemon with both, in short (error handling shortened):
 *
 *     sessio_mhd_limits lim;
 *     sessio_mhd_limits_default(&lim);            // or set the fields
 *     sessio_mhd_guard *g;
 *     sessio_mhd_guard_new(&lim, &g);
 *     struct MHD_OptionItem opts[SESSIO_MHD_GUARD_OPTIONS];
 *     sessio_mhd_guard_options(g, opts, SESSIO_MHD_GUARD_OPTIONS);
 *     d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
 *                          MHD_ALLOW_SUSPEND_RESUME | ..., port,
 *                          NULL, NULL, handler, cls,
 *                          MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
 *     // in the handler: sessio_mhd_guard_head_done(c) on the first call
 *     // of a request, sessio_mhd_guard_body_done(c) on its last;
 *     // for a password check: sessio_mhd_pool_submit(pool, c, fn, arg)
 *     ...
 *     sessio_mhd_pool_free(pool);   // before MHD_stop_daemon
 *     MHD_stop_daemon(d);
 *     sessio_mhd_guard_free(g);     // after it
 *
 * Thread safety: every function may be called from any thread.
 */
#ifndef SESSIO_MHD_GUARD_H
#define SESSIO_MHD_GUARD_H

#include <microhttpd.h>

#include "../sessio.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the guard: connection limits and deadlines (S26) ----------------- */

/* Connection limits and deadlines. Zero fields take the default. */
typedef struct sessio_mhd_limits {
  unsigned max_conns;            /* open connections in all (1024, at most
                                    the descriptors the process may open
                                    less 64) */
  unsigned max_conns_per_client; /* per client address (128); behind a proxy
                                    that is the proxy: set it to max_conns */
  unsigned head_timeout_ms;      /* the whole request head, from the request
                                    line's end; a new connection's from its
                                    accept (10 s) */
  unsigned body_timeout_ms;      /* the whole body, from the head (30 s) */
  unsigned idle_timeout_ms;      /* a keep-alive connection waiting for its
                                    next request line (30 s) */
} sessio_mhd_limits;

/* Fills '*lim' with the defaults above. */
SESSIO_API void sessio_mhd_limits_default(sessio_mhd_limits *lim);

typedef struct sessio_mhd_guard sessio_mhd_guard;

/* A guard with 'lim' (copied; NULL = defaults), and its reaper thread,
 * which closes (shutdown) a connection whose head or body is past its
 * deadline, however steadily it trickles bytes: MHD's own timeout is reset
 * by every byte. '*out' is the caller's: sessio_mhd_guard_free() it after
 * MHD_stop_daemon(). SESSIO_ENOMEM, SESSIO_EINVAL for NULL 'out'. */
SESSIO_API sessio_err sessio_mhd_guard_new(const sessio_mhd_limits *lim,
                                           sessio_mhd_guard **out);
/* Stops the reaper and frees 'g'. NULL allowed. */
SESSIO_API void sessio_mhd_guard_free(sessio_mhd_guard *g);

/* How many MHD_OptionItem sessio_mhd_guard_options() writes at most. */
#define SESSIO_MHD_GUARD_OPTIONS 8

/* Writes the daemon options of 'g' into 'opts' ('cap' items), ending with
 * MHD_OPTION_END: MHD_OPTION_CONNECTION_LIMIT, MHD_OPTION_PER_IP_CONNECTION_
 * LIMIT, MHD_OPTION_CONNECTION_TIMEOUT (the idle timeout, a backstop),
 * MHD_OPTION_NOTIFY_CONNECTION and MHD_OPTION_URI_LOG_CALLBACK (the
 * guard's, so the daemon must not set its own). Pass them with
 * MHD_OPTION_ARRAY. Returns the number written with the END, or 0 when
 * 'cap' is under SESSIO_MHD_GUARD_OPTIONS. */
SESSIO_API size_t sessio_mhd_guard_options(sessio_mhd_guard *g,
                                           struct MHD_OptionItem *opts,
                                           size_t cap);
/* The limits in force (after defaults and the descriptor cap). */
SESSIO_API void sessio_mhd_guard_limits(const sessio_mhd_guard *g,
                                        sessio_mhd_limits *out);

/* Tell the guard where a request is: call _head_done on the first call of
 * the access handler for a request (its head is in: the body deadline
 * starts), _body_done when the request is answered or its last call made
 * (no deadline but the idle one until the next request line). A
 * connection the guard does not know (a daemon without its options) is
 * ignored. */
SESSIO_API void sessio_mhd_guard_head_done(struct MHD_Connection *c);
SESSIO_API void sessio_mhd_guard_body_done(struct MHD_Connection *c);

/* Connections the guard closed for a missed deadline, since it was made. */
SESSIO_API uint64_t sessio_mhd_guard_closed(const sessio_mhd_guard *g);

/* ---- the pool: slow work off the request threads (S27) ---------------- */

typedef struct sessio_mhd_pool sessio_mhd_pool;
typedef void (*sessio_mhd_job_fn)(void *arg);

/* A pool of 'workers' threads (0 = one per online CPU) and a queue of
 * 'queue' jobs waiting (0 = 4 per worker). The workers run at a lower
 * priority than the caller (nice +10 each) so that request threads get
 * the CPU first. '*out' is the caller's. SESSIO_ENOMEM, SESSIO_EINVAL.
 * A job that maps and unmaps large memory (argon2id: 64 MiB a check)
 * holds the process's memory-map lock meanwhile, so request threads must
 * not mmap per request: keep MHD_OPTION_CONNECTION_MEMORY_LIMIT at 32 KiB
 * or less (a larger MHD pool is mmap()ed for each connection). */
SESSIO_API sessio_err sessio_mhd_pool_new(unsigned workers, unsigned queue,
                                          sessio_mhd_pool **out);

/* From an MHD access handler (the daemon started with
 * MHD_ALLOW_SUSPEND_RESUME): suspends 'c' and queues 'fn(arg)'; a worker
 * runs it, then resumes 'c', and MHD calls the access handler again for
 * the same request, which then reads what 'fn' left in 'arg' (owned by the
 * caller; keep it in the request's state). The handler returns MHD_YES
 * after a successful submit and answers nothing yet.
 * SESSIO_EFULL when the queue is full (nothing suspended: answer 503 with
 * Retry-After), SESSIO_ESTATE once sessio_mhd_pool_free() has begun. */
SESSIO_API sessio_err sessio_mhd_pool_submit(sessio_mhd_pool *p,
                                             struct MHD_Connection *c,
                                             sessio_mhd_job_fn fn, void *arg);

/* The pool's size: worker threads and queue places. */
SESSIO_API unsigned sessio_mhd_pool_workers(const sessio_mhd_pool *p);
SESSIO_API unsigned sessio_mhd_pool_queue(const sessio_mhd_pool *p);

/* Refuses new jobs, runs the queued ones to their end (each resumes its
 * connection), joins the workers and frees 'p'. Call it while the daemon
 * still runs, before MHD_stop_daemon(). NULL allowed. */
SESSIO_API void sessio_mhd_pool_free(sessio_mhd_pool *p);

#ifdef __cplusplus
}
#endif
#endif /* SESSIO_MHD_GUARD_H */
