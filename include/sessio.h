/*
 * sessio.h — the public API of libsessio: server-side HTTP sessions for C.
 *
 * This header is the API reference. It is organised as: errors, time,
 * configuration, the manager, one request's session (lifecycle, data,
 * users, CSRF, flash), commit, cookies, and low-level helpers (IDs).
 * The store contract, for writing a backend, is in <sessio/store.h>.
 *
 * A request, in short:
 *
 *     sessio *s;
 *     if (sessio_begin(mgr, cookie_headers, n, is_tls, now, &s) != SESSIO_OK)
 *         return reply_503();              // store down or out of memory
 *     int64_t items;
 *     sessio_incr(s, "cart.A1", 1, &items); // creates the session lazily
 *     sessio_commit(s, now);                // merge-safe write, if needed
 *     const char *sc = sessio_cookie_header(s); // NULL when nothing to send
 *     if (sc) add_header("Set-Cookie", sc);
 *     sessio_free(s);
 *
 * Conventions: every fallible function returns a sessio_err; SESSIO_OK is 0
 * and errors are negative. "Not found" and rejected client input are not
 * errors. Times are int64_t milliseconds since the Unix epoch, always passed
 * in by the caller ('now'), so tests move time without sleeping. Strings are
 * NUL-terminated UTF-8 unless a length is given. Handles are opaque. A
 * manager is safe to use from many threads at once; a sessio handle belongs
 * to one request and one thread at a time.
 */
#ifndef SESSIO_H
#define SESSIO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SESSIO_VERSION_MAJOR 1
#define SESSIO_VERSION_MINOR 0
#define SESSIO_VERSION_PATCH 0
#define SESSIO_VERSION_STRING "1.0.0"

/* The export marker: every public function is declared with it, and the
 * libraries are built with hidden visibility, so libsessio.so and
 * libsessio-mhd.so export the sessio_* API and nothing else. */
#if defined(__GNUC__) || defined(__clang__)
#define SESSIO_API __attribute__((visibility("default")))
#else
#define SESSIO_API
#endif

/* The version of the library the program runs with ("1.0.0"), which may
 * be newer than the SESSIO_VERSION_STRING it was compiled against. Static. */
SESSIO_API const char *sessio_version(void);

/* ------------------------------------------------------------------------
 * Errors
 * ---------------------------------------------------------------------- */

/* One table feeds the enum and sessio_strerror(). Append only. */
#define SESSIO_ERRNO_MAP(XX)                                                   \
  XX(ENOMEM, -1, "out of memory")                                              \
  XX(EINVAL, -2, "invalid argument or configuration")                          \
  XX(ENOBUFS, -3, "buffer too small")                                          \
  XX(ETOOBIG, -4, "size limit exceeded")                                       \
  XX(ETYPE, -5, "value has another type")                                      \
  XX(ECONFLICT, -6, "version conflict")                                        \
  XX(ECORRUPT, -7, "corrupted record")                                         \
  XX(EIO, -8, "input/output error")                                            \
  XX(EUNAVAIL, -9, "store unavailable")                                        \
  XX(ERANDOM, -10, "random number generator failed")                           \
  XX(ENOTSUP, -11, "operation not supported")                                  \
  XX(EOVERFLOW, -12, "integer overflow")                                       \
  XX(ESTATE, -13, "call not allowed in this state")                            \
  XX(EFULL, -14, "store is full")                                              \
  XX(EBUSY, -15, "too much contention, retries exhausted")                     \
  XX(EPERM, -16, "store path is open to other users (chmod go-rwx)")           \
  XX(ETRANSPORT, -17, "session ID in both a cookie and a bearer token")        \
  XX(ELIMIT, -18, "too many sessions for this user")

typedef enum sessio_err {
  SESSIO_OK = 0,
#define SESSIO_ERR_ENUM_(name, code, text) SESSIO_##name = (code),
  SESSIO_ERRNO_MAP(SESSIO_ERR_ENUM_)
#undef SESSIO_ERR_ENUM_
      SESSIO_ERR_MIN_ = -19
} sessio_err;

/* A static English description of 'err'; never NULL. */
SESSIO_API const char *sessio_strerror(sessio_err err);
/* The symbolic name ("SESSIO_ENOMEM"); never NULL. */
SESSIO_API const char *sessio_errname(sessio_err err);

/* ------------------------------------------------------------------------
 * Time
 * ---------------------------------------------------------------------- */

/* Wall-clock time in milliseconds since the Unix epoch (CLOCK_REALTIME).
 * Only a convenience for callers: the library's decisions never read a
 * clock (it reads CLOCK_MONOTONIC only to measure, for the metrics). */
SESSIO_API int64_t sessio_now_ms(void);

/* ------------------------------------------------------------------------
 * Sizes and limits
 * ---------------------------------------------------------------------- */

#define SESSIO_ID_BYTES 32            /* 256 bits from the OS CSPRNG */
#define SESSIO_ID_LEN 43              /* base64url, no padding */
#define SESSIO_KEY_BYTES 32           /* keyed BLAKE2b hash of the ID */
#define SESSIO_HANDLE_LEN 32          /* hex of the first 16 key bytes */
#define SESSIO_CSRF_LEN 64            /* hex of 32 random bytes */
#define SESSIO_USER_MAX 128           /* bytes of a user name */
#define SESSIO_LABEL_MAX 256          /* bytes of the readable session label */
#define SESSIO_SECRET_MAX 64          /* bytes of the optional server secret */
#define SESSIO_COOKIE_HEADER_MAX 8192 /* bytes of all Cookie headers read */

/* ------------------------------------------------------------------------
 * Logging
 * ---------------------------------------------------------------------- */

/* Log levels and the logger. Messages never contain a session ID: only the
 * first 16 hex digits of its keyed hash ("sid=3fa2..."), S20. */
typedef enum sessio_log_level {
  SESSIO_LOG_ERROR = 0,
  SESSIO_LOG_WARN = 1,
  SESSIO_LOG_INFO = 2,
  SESSIO_LOG_DEBUG = 3
} sessio_log_level;
typedef void (*sessio_log_fn)(void *ud, sessio_log_level level,
                              const char *msg);

/* ------------------------------------------------------------------------
 * Store handles
 * ---------------------------------------------------------------------- */

typedef struct sessio_store sessio_store;

/* Opens a store from a URL-like name:
 *   memory:[?max_sessions=N&max_bytes=N&shards=N]
 *   file:DIR[?sync=normal|full&max_sessions=N]
 *   sqlite:PATH[?sync=normal|full&timeout_ms=N&max_sessions=N]
 *   redis://[[[USER]:]PASSWORD@]HOST[:PORT][/[DB]][?prefix=P&...]
 *   redis-cluster://[[[USER]:]PASSWORD@]HOST[:PORT][,HOST[:PORT]...][?...]
 *   postgres://[USER[:PASSWORD]@]HOST[:PORT][/DB][?table=NAME&pool=N&...]
 *     (also postgresql://)
 * (every option and the older spellings still accepted: docs/STORES.md).
 * Every store takes max_sessions=N: memory: evicts guests to make room;
 * the others refuse a new session without a user with SESSIO_EFULL while
 * N live sessions are counted (signed-in ones are always written; how
 * exact each store's count is: docs/STORES.md, "The guest bound").
 * On success '*out' is a new store owned by the caller (close it with
 * sessio_store_close). An unknown scheme or a malformed URL is SESSIO_EINVAL;
 * a known scheme whose backend was not built into this libsessio (the
 * sqlite and redis stores are optional at build time) is SESSIO_ENOTSUP;
 * a server that cannot be reached at open time is SESSIO_EUNAVAIL. A store
 * folder (file:) or database file (sqlite:) that already exists with any
 * permission for group or others is SESSIO_EPERM (S25: sessions are
 * credentials; chmod 700 the folder, 600 the file); what the store creates
 * itself is 0700 / 0600. */
SESSIO_API sessio_err sessio_store_open(const char *url, sessio_store **out);

/* Opens a store as sessio_store_open() does, with 'fn' (NULL: silent) set
 * as its logger at 'level' before the backend starts, so that an open
 * that fails can say why in one line: a server unreachable and the
 * client library's reason, a table or file that is not sessio's, with
 * what to do about it. Lines name servers, never a password. On success
 * the store keeps the logger, as after sessio_store_set_logger(); on
 * failure '*out' is NULL and nothing refers to 'fn' or 'ud' any more.
 * Errors as sessio_store_open(), and SESSIO_EINVAL for a 'level' out of
 * range. */
SESSIO_API sessio_err sessio_store_open_logged(const char *url,
                                               sessio_log_fn fn, void *ud,
                                               sessio_log_level level,
                                               sessio_store **out);

/* 1 when this libsessio can open stores of the scheme of 'url_or_scheme'
 * ("redis", "redis:", or a whole URL such as "sqlite:/var/s.db": the part
 * before the first ':' is compared); 0 for a scheme not built in, an
 * unknown scheme and NULL. Says nothing about the rest of the URL. Use it
 * to tell "backend not built" apart before sessio_store_open, or to list
 * the stores a program can offer. */
SESSIO_API int sessio_store_supported(const char *url_or_scheme);

/* Writes 'url' into 'buf' ('cap' bytes, NUL-terminated) with the password
 * of its user part replaced by "***" ("redis://:***@host:6379",
 * "redis://user:***@host"), for log lines and error messages: a store URL
 * is never printed as given (S25). A URL without a password is copied as
 * is. '*needed' (may be NULL) gets the length without the NUL;
 * SESSIO_ENOBUFS when 'cap' is too small, SESSIO_EINVAL when 'url' is NULL.
 * A copy of at least strlen(url) + 4 bytes always suffices. */
SESSIO_API sessio_err sessio_store_url_redact(const char *url, char *buf,
                                              size_t cap, size_t *needed);

/* Sends the store's own messages (a server unreachable or reachable again,
 * a cluster topology change, a damaged file skipped) to 'fn' at 'level' and
 * above. A store starts silent: the library never prints on its own. Call
 * it before the store is shared between threads. 'fn' NULL silences it
 * again. SESSIO_EINVAL when 'st' is NULL or 'level' is out of range. */
SESSIO_API sessio_err sessio_store_set_logger(sessio_store *st,
                                              sessio_log_fn fn, void *ud,
                                              sessio_log_level level);

/* Closes 'st' and frees it. NULL is allowed. Close it after every manager
 * that uses it has been freed. */
SESSIO_API void sessio_store_close(sessio_store *st);

/* Does at most 'max_work' units of expiry work (a unit is one record or one
 * index entry examined) and reports how many records it removed in
 * '*removed' (may be NULL). Call it periodically, e.g. every second with a
 * few hundred units. '*done' (may be NULL) is set to 1 when a full pass
 * over the store has just completed. */
SESSIO_API sessio_err sessio_store_gc(sessio_store *st, int64_t now,
                                      size_t max_work, size_t *removed,
                                      int *done);

/* ------------------------------------------------------------------------
 * The GC runner: how much sessio_store_gc() work to do each second
 *
 * One sessio_store_gc() call of a fixed size a second does not keep up with
 * a busy site: with 670 new sessions/s on SQLite, one call of 256 units a
 * second left 20,000 dead rows after 60 s, and the count kept growing
 * (bench/soak). A runner adapts, as Redis's expire cycle does: each run
 * makes calls of 'work' units and goes on while the last call found
 * garbage in at least a quarter of its work and the pass is not done,
 * until its budget is spent (by default 256 units a call and 100 ms a
 * run, which the demo shop runs once a second). While a backlog lasts (a
 * run ends on its time budget with garbage still dense), each next run gets
 * twice the time of the last, up to five budgets (500 ms by default); the
 * first run that ends otherwise goes back to one budget. So a quiet store
 * costs one call a second, a store with dead sessions gets a tenth of a
 * core, and one whose dead sessions outrun that up to half a core (at one
 * run a second) until it has caught up. The quarter rule alone lets a large store with a trickle
 * of expiries hold dead sessions for a long time (one 256-unit call a
 * second walks 10^6 sessions in 65 minutes), so once the runner has seen a
 * full pass end, each run also examines at least a sixtieth of the units
 * that pass took, whatever it finds: at one run a second a pass takes
 * about a minute, and a dead session is held about a minute past its
 * expiry at most (the budgets still end a run first).
 *
 * Call sessio_gc_run() once a second from your own timer, or let
 * sessio_gc_thread_start() do it. The runner never reads a clock for
 * expiry ('now' is yours); its time budget is measured with a monotonic
 * clock you may replace (sessio_gc_set_clocks()), or it is given in units
 * (sessio_gc_set_budget()), so tests drive it without sleeping. Store
 * failures are logged through the store's logger (sessio_store_set_logger):
 * the first at once, then a count once a minute while they go on, then a
 * line when gc works again.
 * ---------------------------------------------------------------------- */

typedef struct sessio_gc sessio_gc;

/* A clock: milliseconds, from whatever origin suits it. */
typedef int64_t (*sessio_clock_fn)(void *ud);

/* Makes a runner for 'st' (borrowed: it must outlive the runner) with the
 * defaults above. '*out' is the caller's: sessio_gc_free() it before
 * closing the store. SESSIO_EINVAL when 'st' or 'out' is NULL. */
SESSIO_API sessio_err sessio_gc_new(sessio_store *st, sessio_gc **out);

/* Stops the runner's thread if it runs, then frees it. NULL allowed. */
SESSIO_API void sessio_gc_free(sessio_gc *g);

/* Each sessio_store_gc() call asks for 'work' units (> 0); one run stops
 * after 'budget_ms' ms by the monotonic clock (0 = no time limit) or
 * 'budget_units' units (0 = no unit limit; the last call asks only for
 * what is left), whichever comes first. At least one budget must be set:
 * SESSIO_EINVAL otherwise, and for a negative 'budget_ms'. */
SESSIO_API sessio_err sessio_gc_set_budget(sessio_gc *g, size_t work,
                                           int64_t budget_ms,
                                           size_t budget_units);

/* Replaces the runner's clocks: 'mono' (monotonic ms) measures the time
 * budget and paces the failure log, 'wall' (Unix ms) gives the thread its
 * 'now' for expiry. NULL keeps the default (CLOCK_MONOTONIC, and
 * sessio_now_ms()). 'ud' is passed to both. Call it before the thread is
 * started. */
SESSIO_API sessio_err sessio_gc_set_clocks(sessio_gc *g, sessio_clock_fn wall,
                                           sessio_clock_fn mono, void *ud);

/* Why a run stopped. */
typedef enum sessio_gc_stop {
  SESSIO_GC_STOP_SPARSE = 0, /* the last call found little garbage */
  SESSIO_GC_STOP_DONE = 1,   /* a full pass over the store completed */
  SESSIO_GC_STOP_TIME = 2,   /* the time budget is spent */
  SESSIO_GC_STOP_UNITS = 3,  /* the unit budget is spent */
  SESSIO_GC_STOP_ERROR = 4   /* a sessio_store_gc() call failed */
} sessio_gc_stop;

/* What one run did. */
typedef struct sessio_gc_report {
  size_t calls;       /* sessio_store_gc() calls made */
  size_t work;        /* units asked for in all */
  size_t removed;     /* records removed */
  int64_t elapsed_ms; /* by the monotonic clock */
  sessio_gc_stop stop;
} sessio_gc_report;

/* One run at 'now' (the expiry time, as for sessio_store_gc()). '*out'
 * (may be NULL) tells what was done, also on error. Returns the error of
 * the sessio_store_gc() call that failed (the run stops there; it is also
 * logged, see above), else SESSIO_OK. Runs of one runner are serialised:
 * call it from any thread, also while its thread runs. */
SESSIO_API sessio_err sessio_gc_run(sessio_gc *g, int64_t now,
                                    sessio_gc_report *out);

/* Starts a thread that calls sessio_gc_run(g, wall clock) every
 * 'interval_ms' (> 0; 1000 is the advice above). SESSIO_ESTATE when it
 * already runs, SESSIO_EINVAL for a bad interval, SESSIO_ENOMEM when no
 * thread can be made. The thread blocks no signal of its own: start it
 * after the program has set its signal mask. */
SESSIO_API sessio_err sessio_gc_thread_start(sessio_gc *g, int64_t interval_ms);

/* Stops the thread and waits for it: at once when it is waiting, else
 * after the run in progress. Nothing happens when no thread runs. Start
 * and stop the thread from one thread (the runner's owner). */
SESSIO_API void sessio_gc_thread_stop(sessio_gc *g);

/* A store's counters. A struct tag without a typedef, so that the function
 * that fills it can share its name (as stat() and struct stat do). */
struct sessio_store_stats {
  uint64_t sessions; /* records held (may include expired not yet removed) */
  uint64_t bytes;    /* bytes of memory or storage used, when known */
  uint64_t evicted;  /* records dropped because the store was full */
  uint64_t expired;  /* records removed by expiry */
};

/* Fills '*out'. Fields a store cannot tell are 0. */
SESSIO_API sessio_err sessio_store_stats(sessio_store *st,
                                         struct sessio_store_stats *out);

/* The scheme name of 'st' ("memory", "sqlite", ...); static. */
SESSIO_API const char *sessio_store_name(const sessio_store *st);

/* ------------------------------------------------------------------------
 * Configuration
 * ---------------------------------------------------------------------- */

typedef struct sessio_config sessio_config;

typedef enum sessio_secure {
  SESSIO_SECURE_AUTO = 0, /* Secure when the request came over TLS */
  SESSIO_SECURE_ALWAYS = 1,
  SESSIO_SECURE_NEVER = 2
} sessio_secure;

typedef enum sessio_samesite {
  SESSIO_SAMESITE_LAX = 0, /* default */
  SESSIO_SAMESITE_STRICT = 1,
  SESSIO_SAMESITE_NONE = 2 /* refused unless Secure is ALWAYS */
} sessio_samesite;


/* Creates a configuration with the defaults:
 *   idle timeout 30 min, absolute timeout 12 h, remember-me 12 h,
 *   touch interval 60 s, rotation off (grace 30 s when enabled),
 *   cookie "__Host-sid" when Secure and "sid" otherwise, SameSite=Lax,
 *   Secure AUTO, no Domain, limits: key 128 B, value 8 KiB, total 64 KiB,
 *   no server secret, no store (one must be set), no logger. */
SESSIO_API sessio_err sessio_config_new(sessio_config **out);
SESSIO_API void sessio_config_free(sessio_config *cfg);

/* The store is borrowed: it must outlive every manager made from 'cfg'.
 * SESSIO_ENOTSUP for a store written against an older method table
 * (its 'version' is below 2, see sessio/store.h). */
SESSIO_API sessio_err sessio_config_set_store(sessio_config *cfg,
                                              sessio_store *st);
/* Millisecond timeouts. 'idle' and 'absolute' must be > 0 and
 * idle <= absolute. No duration setter accepts more than 100 years. A remember-me session gets a persistent cookie and lives
 * min('remember', 'absolute') from login, used as both its idle and its
 * absolute limit: never longer than the absolute timeout (S8). 0 disables
 * remember-me. */
SESSIO_API sessio_err sessio_config_set_timeouts(sessio_config *cfg,
                                                 int64_t idle, int64_t absolute,
                                                 int64_t remember);
/* A remember-me login's own lifetimes (S8): its session lives while it is
 * used at least every 'idle' ms and at most 'absolute' ms from the login,
 * and its cookie's Max-Age is the time left to that absolute deadline
 * (browsers cap it at 400 days). Both may exceed the session's absolute
 * timeout: weeks rather than hours, with a password asked again before
 * sensitive actions (sessio_auth_age). 0 < 'idle' <= 'absolute' <= 100
 * years, else SESSIO_EINVAL. Without this call a remember-me session lives
 * min('remember', 'absolute') of sessio_config_set_timeouts() as both. */
SESSIO_API sessio_err sessio_config_set_remember(sessio_config *cfg,
                                                 int64_t idle,
                                                 int64_t absolute);
/* An unchanged session's expiry is extended in the store (a cheap touch) at
 * most once per 'interval' ms. 0 touches on every request. */
SESSIO_API sessio_err sessio_config_set_touch_interval(sessio_config *cfg,
                                                       int64_t interval);
/* Periodic ID rotation of authenticated sessions every 'interval' ms (0 =
 * off), the old ID staying usable for 'grace' ms for requests in flight. */
SESSIO_API sessio_err sessio_config_set_rotation(sessio_config *cfg,
                                                 int64_t interval,
                                                 int64_t grace);
/* Cookie attributes. 'name' NULL keeps the default; 'domain' NULL means no
 * Domain attribute. Strings are copied. Checked when the manager is made. */
SESSIO_API sessio_err sessio_config_set_cookie(sessio_config *cfg,
                                               const char *name,
                                               sessio_secure secure,
                                               sessio_samesite samesite,
                                               const char *domain);
/* The cookie's Path ('path' NULL or "/": the default "/"): 1..1024 bytes
 * starting with '/', no control character or ';'. Copied; checked here
 * (SESSIO_EINVAL) and when the manager is made: a "__Host-" name needs
 * Path=/, and without a name the default over TLS is then "__Secure-sid". */
SESSIO_API sessio_err sessio_config_set_cookie_path(sessio_config *cfg,
                                                    const char *path);
/* The Partitioned attribute (CHIPS: a cookie kept per top-level site when
 * the site is embedded in another). 'partitioned' 1 sets it; the manager
 * is then refused (SESSIO_EINVAL) unless Secure is ALWAYS, since browsers
 * drop a Partitioned cookie without Secure. Off by default. */
SESSIO_API sessio_err sessio_config_set_partitioned(sessio_config *cfg,
                                                    int partitioned);
/* Optional server secret (1..SESSIO_SECRET_MAX bytes, copied) mixed into
 * the keyed hash that names records in the store. Changing it orphans
 * every stored session, unless the old one is given as a previous secret
 * (sessio_config_add_previous_secret). */
SESSIO_API sessio_err sessio_config_set_secret(sessio_config *cfg,
                                               const void *secret, size_t len);
/* Header-token transport, for API and mobile clients (S30). Off by
 * default. With 'enabled' set, sessio_begin_token() also reads a session
 * from "Authorization: Bearer <ID>", and a client that asks for it
 * ("X-Session-Transport: token", or sessio_use_token()) gets its new or
 * regenerated ID in sessio_token_header() (the "X-Session-Token" response
 * header), never in a Set-Cookie. Timeouts, strict mode, regeneration and
 * revocation are those of cookie sessions; the ID is never read from or
 * written to a URL. */
SESSIO_API sessio_err sessio_config_set_token_transport(sessio_config *cfg,
                                                        int enabled);
/* Secret rotation: adds a previous server secret (1..SESSIO_SECRET_MAX
 * bytes, copied; or 'secret' NULL and 'len' 0 for "no secret", to start
 * using one), at most three (SESSIO_ETOOBIG for a fourth). A presented ID
 * whose record is not found under the current secret is looked up under
 * each previous one, in the order added; a session found so is served as
 * usual and re-keyed under the current secret at its next commit (the
 * record saved under the new key and the old one ended in that same
 * commit, with the version check of an ID change: never two live copies;
 * the ID, and so the cookie, do not change; nothing is logged out). Once
 * the longest lifetime has passed since every server holds the new
 * secret, the previous ones can be dropped (docs/DEPLOYMENT.md). An
 * unknown ID then costs one store lookup per previous secret. */
SESSIO_API sessio_err sessio_config_add_previous_secret(sessio_config *cfg,
                                                        const void *secret,
                                                        size_t len);
/* What a login does when its user already has the most sessions allowed. */
typedef enum sessio_max_policy {
  SESSIO_MAX_EVICT_OLDEST = 0, /* the least recently seen others are revoked */
  SESSIO_MAX_REFUSE = 1        /* the login's commit fails: SESSIO_ELIMIT */
} sessio_max_policy;

/* Sessions per user (S33): at most 'n' live sessions of one signed-in user,
 * the new one included ('n' 0: no limit, the default). Enforced when a
 * login commits: with SESSIO_MAX_EVICT_OLDEST the user's other sessions
 * beyond the 'n' most recently seen are revoked (REVOKED events), the new
 * one counting as the most recent; with SESSIO_MAX_REFUSE sessio_commit()
 * returns SESSIO_ELIMIT and nothing of the login is stored (answer 409:
 * "signed in on too many devices: sign one out first"). Two logins of one
 * user racing never leave more than 'n': each commit stores its session,
 * then counts; under REFUSE both may then be refused, and under
 * EVICT_OLDEST the older of them may be revoked by the newer. Costs a
 * listing of the user's sessions at each login. SESSIO_EINVAL for an
 * unknown policy. */
SESSIO_API sessio_err sessio_config_set_max_sessions_per_user(
    sessio_config *cfg, size_t n, sessio_max_policy policy);
/* Limits on one key, one value and the encoded total of a session. */
SESSIO_API sessio_err sessio_config_set_limits(sessio_config *cfg,
                                               size_t max_key, size_t max_value,
                                               size_t max_total);
SESSIO_API sessio_err sessio_config_set_logger(sessio_config *cfg,
                                               sessio_log_fn fn, void *ud,
                                               sessio_log_level level);

/* ------------------------------------------------------------------------
 * Lifecycle events
 * ---------------------------------------------------------------------- */

/* What happened to a session. Append only. */
typedef enum sessio_event_kind {
  SESSIO_EVENT_CREATED = 1,     /* a new session was stored */
  SESSIO_EVENT_LOGIN = 2,       /* sessio_login() committed (new ID) */
  SESSIO_EVENT_REGENERATED = 3, /* sessio_regenerate() committed (new ID) */
  SESSIO_EVENT_ROTATED = 4,     /* periodic rotation committed (new ID) */
  SESSIO_EVENT_LOGOUT = 5,      /* sessio_destroy() committed */
  SESSIO_EVENT_REVOKED = 6,     /* sessio_manager_revoke_one/_all removed it */
  SESSIO_EVENT_EXPIRED = 7,     /* found dead: on access or by the store/GC */
  SESSIO_EVENT_EVICTED = 8,     /* a bounded store dropped it to make room */
  SESSIO_EVENT_REJECTED = 9,    /* a presented ID led to no session */
  SESSIO_EVENT_STORE_ERROR = 10 /* a store call failed; see 'error' */
} sessio_event_kind;

/* Why, where a kind has several causes. Append only. */
typedef enum sessio_event_reason {
  SESSIO_REASON_NONE = 0,
  SESSIO_REASON_IDLE = 1,      /* expired: idle timeout passed */
  SESSIO_REASON_ABSOLUTE = 2,  /* expired: absolute deadline passed */
  SESSIO_REASON_COLLECTED = 3, /* expired: the store dropped the dead
                                  record (GC, or lazily on access) */
  SESSIO_REASON_FULL = 4,      /* evicted: the store was at its bound */
  SESSIO_REASON_MALFORMED = 5, /* rejected: not of the ID's form (S7) */
  SESSIO_REASON_UNKNOWN = 6,   /* rejected: no live record (S5) */
  SESSIO_REASON_UNREADABLE = 7 /* rejected: record there but its seal does
                                  not open (damage, or another secret) */
} sessio_event_reason;

/* One event. Pointers are valid during the callback only. */
typedef struct sessio_event {
  sessio_event_kind kind;
  sessio_event_reason reason;
  /* The session's public handle (SESSIO_HANDLE_LEN hex digits, never the
   * ID), or NULL when there is none (a malformed ID, a store error
   * outside a session). For the new-ID kinds it is the new handle. */
  const char *handle;
  const char *user; /* the signed-in user when known, else NULL */
  int64_t now;      /* the 'now' of the call that caused it */
  sessio_err error; /* SESSIO_EVENT_STORE_ERROR: the error; else OK */
} sessio_event;

typedef void (*sessio_event_fn)(void *ctx, const sessio_event *ev);

/* Calls 'fn'('ctx', event) for each lifecycle event of the managers made
 * from 'cfg' ('fn' NULL: none). Rules:
 *   - an event is delivered after its change is committed to the store
 *     (a commit that fails delivers STORE_ERROR, not the change), exactly
 *     once per change, and never while the library holds a lock;
 *   - from the thread that caused it, at the end of the call that caused
 *     it: sessio_begin (EXPIRED, REJECTED), sessio_commit (CREATED, LOGIN,
 *     REGENERATED, ROTATED, LOGOUT, EVICTED), the revoke calls (REVOKED),
 *     sessio_store_gc or the GC runner (EXPIRED with reason COLLECTED);
 *     STORE_ERROR from whichever call failed;
 *   - 'fn' must not block (it runs on the request path) and must not call
 *     back into the session or the call that delivers it; it may use the
 *     manager for other work and must be safe to call from many threads.
 * A record a store drops by itself (Redis key expiry) is not seen and has
 * no event. Cost: without a handler, nothing; with one, a small copy per
 * event. An event that cannot be queued for want of memory is lost. */
SESSIO_API sessio_err sessio_config_set_event_handler(sessio_config *cfg,
                                                      sessio_event_fn fn,
                                                      void *ctx);

/* "created", "login", ..., "store_error"; "" for an unknown kind. Static. */
SESSIO_API const char *sessio_event_kind_name(sessio_event_kind kind);
/* "none", "idle", "absolute", "collected", "full", "malformed", "unknown",
 * "unreadable"; "" for an unknown reason. Static. */
SESSIO_API const char *sessio_event_reason_name(sessio_event_reason reason);

/* ------------------------------------------------------------------------
 * The manager
 * ---------------------------------------------------------------------- */

typedef struct sessio_manager sessio_manager;

/* Makes a manager from 'cfg' (copied; free 'cfg' whenever you like).
 * SESSIO_EINVAL when the configuration is unsafe or incomplete: no store,
 * a "__Host-" cookie name without Secure ALWAYS, with a Domain or with a
 * Path other than "/", SameSite=None or Partitioned without Secure ALWAYS,
 * idle > absolute, a cookie name that
 * is not an RFC 6265 token. */
SESSIO_API sessio_err sessio_manager_new(const sessio_config *cfg,
                                         sessio_manager **out);
SESSIO_API void sessio_manager_free(sessio_manager *m);

/* The cookie name this manager uses on a request with 'tls' set or not. */
SESSIO_API const char *sessio_manager_cookie_name(const sessio_manager *m,
                                                  int tls);

/* The server-secret check: tells whether this manager holds the secret
 * (sessio_config_set_secret, or none) that the store's sessions were
 * written with, which is otherwise silent (every session just looks
 * unknown). The store keeps one check record under a fixed key, sealed
 * under a key derived from the secret. '*same' gets 1 on a match, 0 when
 * the record was written with another secret (or none while this manager
 * has one, or the reverse), -1 when the store has no check record. With
 * 'record' set, a missing record is written with this manager's secret
 * (then '*same' is 1): servers that hold the secret do so at start (the
 * shop does when given one, and warns on a mismatch); tools that only read
 * pass 0. A record written with one of the manager's previous secrets
 * (sessio_config_add_previous_secret) also gives 1, and with 'record' set
 * it is written again with the current secret, so that a finished
 * rotation leaves a matching record. The record lives 100 years and counts
 * as one record in the
 * store's statistics. Errors: SESSIO_EINVAL, the store's errors. */
SESSIO_API sessio_err sessio_manager_check_secret(sessio_manager *m,
                                                  int64_t now, int record,
                                                  int *same);

/* Writes the manager's figures in the Prometheus text exposition format
 * (version 0.0.4: "# HELP" and "# TYPE" lines, names sessio_*, seconds and
 * bytes in the names, "_total" for counters) into 'buf' ('cap' bytes,
 * NUL-terminated): sessions created and ended by reason, logins, ID
 * changes, commits, conflicts and replays, rejected IDs by reason, store
 * call latency by operation (histogram), store errors by kind, GC work and
 * garbage found, and the store's own counts when it can tell them.
 * SESSIO_ENOBUFS when 'cap' is too small (sessio_metrics_format tells the
 * size needed).
 * The counters are relaxed atomics updated where things happen (no lock on
 * the request path); store calls are timed with CLOCK_MONOTONIC, which is
 * read only to measure. Safe from any thread at any time; it asks the store
 * for its counts (sessio_store_stats), so it costs a store call. */
SESSIO_API sessio_err sessio_metrics_write(sessio_manager *m, char *buf,
                                           size_t cap);
/* sessio_metrics_write with the length: '*len' (may be NULL) gets the
 * length written without the NUL, or with SESSIO_ENOBUFS the size needed
 * without the NUL (call it with 'buf' NULL and 'cap' 0 to size a buffer). */
SESSIO_API sessio_err sessio_metrics_format(sessio_manager *m, char *buf,
                                            size_t cap, size_t *len);

/* ------------------------------------------------------------------------
 * One request's session
 * ---------------------------------------------------------------------- */

typedef struct sessio sessio;

/* Begins a request. 'headers' are the request's Cookie header values (all
 * of them, in any order; 'n' may be 0), 'tls' says whether the client's
 * connection was TLS (directly or per a trusted proxy).
 *
 * Reads the session cookie, validates its form (S7), and loads the session
 * from the store. An absent, malformed, unknown (S5), expired (S13, S14) or
 * undecryptable ID is not an error: '*out' is then an empty anonymous
 * session, and nothing is stored until data is set. When the cookie name
 * appears several times, every well-formed value is tried and the live one
 * wins (S12); with several live ones, the most recently active wins, unless
 * they belong to different signed-in users: then none is adopted, '*out' is
 * anonymous and the event is logged (S24; someone planted a cookie, e.g.
 * over plain HTTP or from a sibling subdomain). A guest session and a
 * user's, or two of the same user, keep the most-recently-active rule. The
 * real defence against planted cookies is the "__Host-" name (the default
 * over TLS), which a sibling or an HTTP page cannot set.
 *
 * Errors ('*out' is NULL after any): SESSIO_EINVAL when 'm' or 'out' is
 * NULL, or 'headers' is NULL with 'n' > 0; SESSIO_ENOMEM; and what the
 * store answered when loading a session: SESSIO_EUNAVAIL (store down: the
 * caller answers 503 and the client retries), SESSIO_EIO (another store
 * failure: a disk error, an unexpected reply). A record that cannot be read
 * (SESSIO_ECORRUPT from the store) is not an error: it is no session.
 * On success '*out' is owned by the caller: sessio_free() it. */
SESSIO_API sessio_err sessio_begin(sessio_manager *m,
                                   const char *const *headers, size_t n,
                                   int tls, int64_t now, sessio **out);

/* Begins a request as sessio_begin() does, and also reads the
 * header-token transport (S30) when the manager has it enabled
 * (sessio_config_set_token_transport; otherwise both headers are ignored
 * and this is sessio_begin()). 'authorization' is the request's
 * Authorization header value or NULL: "Bearer <ID>" (the scheme compared
 * case-insensitively) carries the session; another scheme is ignored; a
 * bearer value that is not of the ID's form, unknown or expired is counted
 * in sessio_rejected_ids() like a bad cookie. 'transport' is the
 * X-Session-Transport header value or NULL: "token" asks that a session
 * made in this request travel as a token.
 * A request that carries both a session cookie (any value under the
 * manager's cookie name) and a bearer token is refused with
 * SESSIO_ETRANSPORT and adopts neither ('*out' NULL; answer 400): which of
 * the two the client meant cannot be told, and taking either lets a
 * planted one win. A session cookie with "X-Session-Transport: token" is a
 * cookie session (its ID never moves into a header that script can read).
 * Other errors and ownership as sessio_begin(). */
SESSIO_API sessio_err sessio_begin_token(sessio_manager *m,
                                         const char *const *headers, size_t n,
                                         const char *authorization,
                                         const char *transport, int tls,
                                         int64_t now, sessio **out);

/* 1 when this request's session travels in a header (a bearer token was
 * presented, or the token transport was asked for), 0 for a cookie. */
SESSIO_API int sessio_uses_token(const sessio *s);

/* Makes the session of this request travel as a token: its new or
 * regenerated ID is then given by sessio_token_header(), never in a
 * Set-Cookie (for a login API whose JSON asks for a token). Call it before
 * sessio_login(). SESSIO_ENOTSUP when the manager has no token transport,
 * SESSIO_ESTATE after commit or when the request carried a session cookie
 * (a cookie's ID never moves into a header); SESSIO_OK when it already
 * travels as a token. */
SESSIO_API sessio_err sessio_use_token(sessio *s);

/* After sessio_commit(): the ID to send in the "X-Session-Token" response
 * header (SESSIO_ID_LEN characters), or NULL when none is to be sent (the
 * session travels in a cookie, or its ID did not change). Sent for a new
 * session, a login, a regeneration and a rotation. Valid until
 * sessio_free(). */
SESSIO_API const char *sessio_token_header(const sessio *s);

/* Frees a session handle. Uncommitted changes are dropped. NULL allowed. */
SESSIO_API void sessio_free(sessio *s);

/* 1 when the session exists in the store or will be created at commit. */
SESSIO_API int sessio_exists(const sessio *s);
/* 1 when the session was created in this request (not loaded). */
SESSIO_API int sessio_is_new(const sessio *s);
/* How many session cookie values of this request were rejected: malformed,
 * unknown, expired or unreadable. Integrations count these per client to
 * throttle or report ID guessing (S21). */
SESSIO_API unsigned sessio_rejected_ids(const sessio *s);

/* An opaque public handle of the session: SESSIO_HANDLE_LEN lowercase hex
 * digits derived from the keyed hash, usable in URLs to name a session to
 * revoke (never the session ID). NULL when the session does not exist. Valid
 * until the ID changes or the handle is freed. */
SESSIO_API const char *sessio_handle(const sessio *s);

/* Session metadata, readable without the ID (for listings). */
SESSIO_API int64_t sessio_created_at(const sessio *s); /* 0 when none */
SESSIO_API int64_t sessio_last_seen(const sessio *s);  /* 0 when none */
SESSIO_API int64_t sessio_expires_at(const sessio *s); /* 0 when none */

/* A short readable label kept in clear with the record (e.g. the user
 * agent), shown in session listings. Copied, truncated to SESSIO_LABEL_MAX
 * bytes at a UTF-8 boundary; stored at commit. Setting the same value
 * again is not a change. */
SESSIO_API sessio_err sessio_set_label(sessio *s, const char *label);
/* The label, or "" — valid until the next sessio_set_label or free. */
SESSIO_API const char *sessio_label(const sessio *s);

/* ------------------------------------------------------------------------
 * Session data: a flat map of string keys to typed values.
 *
 * Keys are 1..max_key bytes of printable ASCII not starting with '_'
 * (keys starting with "_" are reserved for sessio: SESSIO_EINVAL). Setting a
 * value on an anonymous session creates it (a new ID is made at commit, and
 * a cookie sent). Each change is also recorded as an operation so that
 * sessio_commit() can merge it with concurrent requests:
 *   - set and delete: last writer wins per key;
 *   - incr: commutes (two concurrent +1 give +2).
 * SESSIO_ETOOBIG when a key, a value or the encoded total is over its limit;
 * nothing is changed then.
 * ---------------------------------------------------------------------- */

typedef enum sessio_type {
  SESSIO_T_NONE = 0,
  SESSIO_T_STR = 1,
  SESSIO_T_INT = 2,
  SESSIO_T_BOOL = 3,
  SESSIO_T_BYTES = 4
} sessio_type;

/* The type of the value at 'key', or SESSIO_T_NONE when absent. */
SESSIO_API sessio_type sessio_type_of(const sessio *s, const char *key);

/* Getters return 1 and fill the out parameters when 'key' holds a value of
 * that type, else 0. Returned pointers stay valid until the next change to
 * that key, sessio_commit() or sessio_free(). Strings are NUL-terminated;
 * 'len' (may be NULL) excludes the NUL. */
SESSIO_API int sessio_get_str(const sessio *s, const char *key,
                              const char **val, size_t *len);
SESSIO_API int sessio_get_int(const sessio *s, const char *key, int64_t *val);
SESSIO_API int sessio_get_bool(const sessio *s, const char *key, int *val);
SESSIO_API int sessio_get_bytes(const sessio *s, const char *key,
                                const void **val, size_t *len);

/* Setters copy their input. */
SESSIO_API sessio_err sessio_set_str(sessio *s, const char *key,
                                     const char *val);
SESSIO_API sessio_err sessio_set_strn(sessio *s, const char *key,
                                      const char *val, size_t len);
SESSIO_API sessio_err sessio_set_int(sessio *s, const char *key, int64_t val);
SESSIO_API sessio_err sessio_set_bool(sessio *s, const char *key, int val);
SESSIO_API sessio_err sessio_set_bytes(sessio *s, const char *key,
                                       const void *val, size_t len);
/* Deleting an absent key is not an error (and not a change). */
SESSIO_API sessio_err sessio_delete(sessio *s, const char *key);
/* Adds 'delta' to the integer at 'key' (absent counts as 0) and stores the
 * new value in '*result' (may be NULL). SESSIO_ETYPE when the key holds
 * another type, SESSIO_EOVERFLOW when the sum overflows. Deleting the
 * key when its merged value reaches 0 is up to the caller. */
SESSIO_API sessio_err sessio_incr(sessio *s, const char *key, int64_t delta,
                                  int64_t *result);
/* Deletes every key that starts with 'prefix' ("" = all user data). */
SESSIO_API sessio_err sessio_delete_prefix(sessio *s, const char *prefix);

/* Calls 'cb' for each key starting with 'prefix' ("" = all), in ascending
 * byte order of keys. 'cb' returns 0 to go on, non-zero to stop. The data
 * must not be changed from inside 'cb'. Reserved keys are never shown. */
typedef int (*sessio_iter_fn)(void *ud, const char *key, sessio_type type,
                              const void *val, size_t len, int64_t ival);
SESSIO_API sessio_err sessio_iterate(const sessio *s, const char *prefix,
                                     sessio_iter_fn cb, void *ud);

/* One-shot flash values: set now, read once by a later request. */
SESSIO_API sessio_err sessio_flash_set(sessio *s, const char *key,
                                       const char *msg);
/* Takes the flash message for 'key': returns 1 and '*msg' (valid until
 * sessio_free) when there was one, and deletes it at commit; else 0. */
SESSIO_API int sessio_flash_take(sessio *s, const char *key, const char **msg);

/* ------------------------------------------------------------------------
 * Users, privilege changes, ending sessions
 * ---------------------------------------------------------------------- */

/* Marks a completed login (S22: the only way to set the authenticated mark).
 * Regenerates the ID (S6; the old ID is dead at once), sets the user
 * (1..SESSIO_USER_MAX bytes, copied), resets the idle and absolute timeouts
 * from 'now' (S14), rotates the CSRF token, and with 'remember' set makes
 * the cookie persistent for the remember-me lifetime. Adds the session to
 * the user's index.
 * The data: a guest's is kept (a guest cart survives login), and so is the
 * data of a session already signed in as 'user'. Signing in as a different
 * user than the one signed in is an account switch (S23): the previous
 * user's session ends as with sessio_destroy() and the new user starts from
 * empty data (only the label is kept), so nothing the previous user entered
 * reaches the new one. If such a switch then fails (SESSIO_ENOMEM,
 * SESSIO_ERANDOM), the handle is left signed out, never half switched. */
SESSIO_API sessio_err sessio_login(sessio *s, const char *user, int remember,
                                   int64_t now);
/* The signed-in user name, or NULL. Valid until the handle is freed. */
SESSIO_API const char *sessio_user(const sessio *s);
SESSIO_API int sessio_is_authenticated(const sessio *s);

/* How long ago, in ms at 'now', the signed-in user last proved a password:
 * since sessio_login() or the last sessio_auth_refresh(). -1 when nobody
 * is signed in. A remember-me session may be weeks old: ask for the
 * password again before sensitive actions when this is over your limit. */
SESSIO_API int64_t sessio_auth_age(const sessio *s, int64_t now);

/* Records that the signed-in user just proved the password again (after a
 * successful re-check), so that sessio_auth_age() starts from 'now';
 * stored at commit. The ID, data and lifetimes are unchanged (signing in
 * again with sessio_login() does the same and also regenerates the ID).
 * SESSIO_ESTATE when nobody is signed in or after commit. */
SESSIO_API sessio_err sessio_auth_refresh(sessio *s, int64_t now);

/* Gives the session a new ID at commit, keeping its data; the old ID stops
 * working at once (S6). For privilege changes other than login. */
SESSIO_API sessio_err sessio_regenerate(sessio *s);

/* Ends the session: at commit the record is removed from the store and a
 * deletion cookie is sent (S17). The handle then acts as anonymous. */
SESSIO_API sessio_err sessio_destroy(sessio *s);

/* A user's live sessions, for "where you are signed in" pages (S18). */
typedef struct sessio_session_info {
  char handle[SESSIO_HANDLE_LEN + 1];
  int64_t created_at;
  int64_t last_seen;
  int64_t expires_at;
  int remember;
  char label[SESSIO_LABEL_MAX + 1]; /* sessio_label() of the session */
} sessio_session_info;

/* Lists the live sessions of 'user' into a new array '*out' of '*n'
 * entries, most recently seen first. The caller frees '*out' with free().
 * No user or no session is '*n' = 0 and '*out' = NULL, not an error. */
SESSIO_API sessio_err sessio_manager_user_sessions(sessio_manager *m,
                                                   const char *user,
                                                   int64_t now,
                                                   sessio_session_info **out,
                                                   size_t *n);
/* Revokes the one session of 'user' whose handle is 'handle' (not NULL:
 * SESSIO_EINVAL). A handle that is not one of the user's live sessions
 * revokes nothing and is not an error. '*revoked' (may be NULL) gets the
 * count (0 or 1). The revoked session's cookie stops working at once. */
SESSIO_API sessio_err sessio_manager_revoke_one(sessio_manager *m,
                                                const char *user,
                                                const char *handle, int64_t now,
                                                size_t *revoked);
/* Revokes every live session of 'user' except the one whose handle is
 * 'keep_handle' (NULL = none spared; pass the current session's handle for
 * "sign out everywhere else"). '*revoked' (may be NULL) gets the count. */
SESSIO_API sessio_err sessio_manager_revoke_all(sessio_manager *m,
                                                const char *user,
                                                const char *keep_handle,
                                                int64_t now, size_t *revoked);

/* ------------------------------------------------------------------------
 * CSRF (S19)
 * ---------------------------------------------------------------------- */

/* The session's CSRF token (SESSIO_CSRF_LEN hex digits, derived with a
 * keyed hash from 16 bytes of the CSPRNG that the session keeps sealed, made
 * when the session is created, rotated at login), or NULL when there is no
 * session. Valid until login or free. */
SESSIO_API const char *sessio_csrf_token(const sessio *s);
/* 1 when a state-changing request on this session needs the CSRF token:
 * always for a cookie-carried session (a browser attaches the cookie on
 * its own, also to a forged request), never for one carried by a bearer
 * token or asked for as a token in a request without a session cookie (a
 * browser attaches neither header on its own, S30). */
SESSIO_API int sessio_csrf_required(const sessio *s);
/* 1 when 'token' ('len' bytes) equals the session's token, compared in
 * constant time; 0 otherwise, and always 0 when there is no session. */
SESSIO_API int sessio_csrf_check(const sessio *s, const char *token,
                                 size_t len);

/* ------------------------------------------------------------------------
 * Commit
 * ---------------------------------------------------------------------- */

/* Writes the request's changes:
 *   - nothing changed and the session exists: a throttled touch that
 *     extends the idle expiry (at most once per touch interval);
 *   - changes: a save with a version check; on a conflict the record is
 *     reloaded, this request's operations re-applied, and the save retried,
 *     so no update is lost and no request waits for another's handler;
 *   - destroy: the record is removed; regenerate/login: the new record is
 *     written and the old one removed (or, for rotation, kept for the grace
 *     window).
 * After it, sessio_cookie_header() tells what to send. Commit may be called
 * once; later changes are SESSIO_ESTATE.
 * Errors: SESSIO_EUNAVAIL, SESSIO_EIO, SESSIO_ENOMEM, SESSIO_ETOOBIG (the
 * merged data is over the limit), SESSIO_EBUSY (conflicts kept winning). On
 * error nothing of this request was stored and no cookie is to be sent. */
SESSIO_API sessio_err sessio_commit(sessio *s, int64_t now);

/* The Set-Cookie header value to send, or NULL when none is needed: it is
 * sent for a new ID (creation, login, regeneration, rotation), for a rotated
 * ID the client still presents, and for a destroy (a deletion cookie); an
 * unchanged session sends none. A request that sent the session cookie but
 * whose every value under that name was rejected (unknown, expired,
 * revoked, malformed: sessio_rejected_ids() > 0) and that starts no new
 * session gets a deletion cookie too (same name and attributes, Max-Age=0,
 * S34): the browser drops the dead ID, so the application can say "you
 * were signed out" on that response and the next request is plain
 * anonymous. A request without the cookie never gets one (S16), nor one
 * where any value gave a live session (S12, S24). Like every cookie it is
 * decided by sessio_commit(), which read-only requests call too (see
 * sessio_keep_dead_cookie to leave the cookie alone). At most one
 * Set-Cookie per response (S9). A token-carried session never gets one
 * (see sessio_token_header). Valid until sessio_free(). */
SESSIO_API const char *sessio_cookie_header(const sessio *s);

/* Asks that this response not delete the dead session cookie the request
 * presented (S34): sessio_commit() then sends no cookie for it, as for a
 * request that sent none. For answers whose contract is "no Set-Cookie
 * unless a session starts" (a JSON API that other implementations share)
 * or that will tell the user later. Changes nothing else: a session this
 * request starts still gets its cookie. Call before sessio_commit();
 * SESSIO_ESTATE after it, SESSIO_EINVAL for NULL. */
SESSIO_API sessio_err sessio_keep_dead_cookie(sessio *s);

/* ------------------------------------------------------------------------
 * Cookies and IDs, for integrations and tests
 * ---------------------------------------------------------------------- */

/* Parses one Cookie header value (RFC 6265 / rfc6265bis, lenient like
 * browsers: pairs separated by ';', optional whitespace, quoted values
 * unquoted, pairs without '=' or with an empty name skipped). Calls 'cb'
 * for each pair; 'cb' returns non-zero to stop. Work is bounded: at most
 * SESSIO_COOKIE_HEADER_MAX bytes are read, the rest is ignored. Never
 * fails on junk input; pointers passed to 'cb' are into 'header'. */
typedef int (*sessio_cookie_fn)(void *ud, const char *name, size_t name_len,
                                const char *val, size_t val_len);
SESSIO_API void sessio_cookie_parse(const char *header, size_t len,
                                    sessio_cookie_fn cb, void *ud);

/* 1 when 'id' ('len' bytes) has the form of a session ID: SESSIO_ID_LEN
 * characters of the base64url alphabet, canonical (the last character
 * carries no stray bits). */
SESSIO_API int sessio_id_valid(const char *id, size_t len);

/* Writes a new session ID (SESSIO_ID_LEN characters and a NUL) to 'out'.
 * SESSIO_ERANDOM when the OS CSPRNG fails (fails closed). */
SESSIO_API sessio_err sessio_id_generate(char out[SESSIO_ID_LEN + 1]);

/* Attributes of a Set-Cookie header. */
typedef struct sessio_cookie_attrs {
  const char *domain; /* NULL: no Domain */
  int secure;         /* 1: Secure */
  sessio_samesite samesite;
  int64_t max_age;  /* seconds; < 0: no Max-Age (browser session) */
  const char *path; /* NULL: "/" */
  int partitioned;  /* 1: Partitioned (CHIPS); needs secure */
} sessio_cookie_attrs;

/* Formats a Set-Cookie value "NAME=VALUE; Path=/; [Domain=..; ]
 * [Max-Age=N; ][Secure; ]HttpOnly; SameSite=Lax[; Partitioned]" into 'buf' ('cap' bytes,
 * NUL-terminated). '*needed' (may be NULL) gets the length without the NUL.
 * SESSIO_ENOBUFS when 'cap' is too small; SESSIO_EINVAL when the name is not
 * a token, the value has a byte outside cookie-octet, or name+value is over
 * 4096 bytes (S9), the path does not start with '/' or holds a control
 * character or ';' (at most 1024 bytes), or Partitioned is asked for
 * without Secure (browsers drop it). A deletion cookie has an empty value
 * and max_age 0. */
SESSIO_API sessio_err sessio_cookie_format(char *buf, size_t cap,
                                           size_t *needed, const char *name,
                                           const char *value,
                                           const sessio_cookie_attrs *attrs);

#ifdef __cplusplus
}
#endif
#endif /* SESSIO_H */
