/*
 * shop.h — internal declarations shared by the files of sessio-shop, the
 * demo shop: configuration and server state (main.c), users (accounts.c),
 * the request plumbing and helpers (http.c, sbuf.c), HTML pages (pages.c),
 * the JSON API (api.c) and the fixed catalogue (catalog.c).
 */
#ifndef SHOP_H
#define SHOP_H

#include <microhttpd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "sessio.h"
#include "sessio/mhd.h"
#include "sessio/mhd_guard.h"

/* ---- limits ------------------------------------------------------------ */
#define SHOP_BODY_MAX (16 * 1024)    /* request body; larger: 413 */
#define SHOP_HEADERS_MAX (16 * 1024) /* all request headers; larger: 431 */
/* MHD's per-connection memory (main.c). At most 32 KiB: libmicrohttpd
 * 0.9.75 mmap()s a larger pool for every connection and munmap()s it at
 * close, and those calls wait for the process's memory-map lock, which a
 * password check's 64 MiB mmap/munmap holds for 100-800 ms on a busy
 * machine (docs/RELIABILITY.md, wrong-password floods). */
#define SHOP_MHD_POOL (32 * 1024)
#define SHOP_FIELD_MAX 1024 /* one form field value; larger: 413 */
#define SHOP_FIELDS_MAX 20  /* form fields per request; more: 413 */
#define SHOP_SKU_MAX 32     /* bytes of a SKU (API) */
#define SHOP_QTY_MAX 99     /* per add */
#define SHOP_TEXT_MAX 200   /* a checkout text field */
#define SHOP_CART_LINES 64  /* lines shown / returned */

/* ---- logging ------------------------------------------------------------ */
enum { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };
extern int shop_log_level;
/* Writes one logfmt line "ts=... level=... " + the formatted rest. */
void shop_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- the store's availability (store_state.c) ------------------------- */
/* The library's log lines (store state changes, session events) as logfmt
 * lines of the shop's log: a sessio_log_fn. */
void shop_core_log(void *ud, sessio_log_level level, const char *msg);
/* A sessio_event_fn that keeps the handle of a session whose load failed
 * (STORE_ERROR), for the request's 503 log line, on this thread. */
void shop_store_event(void *ctx, const sessio_event *ev);
const char *shop_failed_sid(void); /* NULL when none */
void shop_failed_sid_clear(void);
/* A store call of a request worked (1) or failed for the store (0). */
void shop_store_note(int ok, int64_t now);
/* A stand-in for a store that cannot be reached at start: every call is
 * SESSIO_EUNAVAIL until a background thread has opened 'url' (copied),
 * then every call goes to it. 0, or -1 when out of memory. */
int shop_store_open_late(const char *url, int level, sessio_store **out);

/* ---- a growable output buffer ------------------------------------------ */
/* Starts on caller storage ('inl'); grows on the heap. On out of memory
 * 'oom' is set and later appends are dropped. */
typedef struct sbuf {
  char *p;
  size_t len, cap;
  int heap;
  int oom;
} sbuf;
void sb_init(sbuf *b, char *inl, size_t cap);
void sb_free(sbuf *b);
void sb_add(sbuf *b, const char *s, size_t n);
void sb_puts(sbuf *b, const char *s);
void sb_printf(sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sb_int(sbuf *b, int64_t v);
void sb_html(sbuf *b, const char *s);     /* HTML-escaped */
void sb_json_str(sbuf *b, const char *s); /* quoted JSON string */
void sb_urlenc(sbuf *b, const char *s);   /* percent-encoded */
void sb_money(sbuf *b, int64_t cents);    /* "12.50" */

/* ---- users ---------------------------------------------------------------- */
typedef struct shop_users shop_users;
/* Loads "name:$argon2id$..." lines from 'path', or, when 'path' is NULL,
 * hashes the demo users (alice/wonderland, bob/builder). 0 on success. */
int users_load(const char *path, shop_users **out);
void users_free(shop_users *u);
/* 1 when 'password' is the user's password (argon2id verify). An unknown
 * user costs the same time as a known one. */
int users_verify(const shop_users *u, const char *user, const char *password);

/* ---- catalogue ------------------------------------------------------------ */
typedef struct product {
  const char *sku, *name, *blurb;
  int64_t cents;
  const char *name_fr, *blurb_fr; /* the pages in French */
} product;
extern const product catalog[];
extern const size_t catalog_len;
const product *catalog_find(const char *sku);
/* The product's name and blurb in the page language 'lang' ("en", "fr"). */
const char *product_name(const product *p, const char *lang);
const char *product_blurb(const product *p, const char *lang);

/* ---- server state ---------------------------------------------------------- */
typedef struct shop {
  sessio_store *store;
  sessio_manager *mgr;
  shop_users *users;
  int trust_proxy;
  sessio_mhd_limiter *throttle; /* S21: invalid IDs per client (sessio-mhd) */
  unsigned invalid_limit;       /* --invalid-id-limit, for the warning */
  int64_t invalid_window;       /* --invalid-id-window, ms */
  struct sessio_mhd_pool *pool; /* S27: password checks (login.c) */
  unsigned login_limit; /* S28: failed sign-ins per account and client */
  sessio_mhd_limiter *login_pair, *login_client, *login_account;
  sessio_mhd_limiter *new_sessions; /* S29: sessions started per client */
  unsigned new_limit;               /* --new-sessions-limit, 0: none */
  int64_t reauth_ms;   /* S8: --reauth-after, ms; 0: never ask again */
  atomic_int stopping; /* set at shutdown: answers close the connection */
  atomic_int inflight; /* requests between their first call and their answer */
  struct MHD_Response *r_healthz, *r_css, *r_icon;
} shop;

/* ---- one request ----------------------------------------------------------- */
enum {
  M_GET = 1,
  M_HEAD = 2,
  M_POST = 4,
  M_PUT = 8,
  M_DELETE = 16,
  M_OTHER = 32
};

typedef struct form_field {
  const char *name, *val;
  size_t len;
} form_field;

typedef struct req {
  shop *shop;
  struct MHD_Connection *conn;
  const char *url;
  const char *method;
  int meth;
  int64_t t0_us; /* monotonic start, for the access log */
  int64_t now;   /* wall clock ms, passed to sessio */
  int route;     /* index in the route table, shop_routes() for none, -1
                  * before dispatch (for the metrics) */
  /* body */
  char *body;
  size_t body_len;
  int body_too_big;
  int body_heap;
  /* session */
  sessio *s;
  int committed;
  /* form fields, decoded in place in 'body' */
  form_field f[SHOP_FIELDS_MAX];
  size_t nf;
  int form_done, form_status; /* decoded in place, so once only */
  /* a password check on the pool (login.c); the request is suspended
   * until it is done, then handled again from the start */
  struct shop_login *login;
  int suspended;
  int64_t retry_ms;      /* Retry-After of a 429 other than S21's, when > 0 */
  const char *allow;     /* the Allow header of a 405, or NULL */
  char inline_body[256]; /* small bodies (a cart add); keeps req under
                         * malloc's per-thread cache limit (1032 bytes) */
} req;

/* Request plumbing (http.c). */
enum MHD_Result shop_handler(void *cls, struct MHD_Connection *c,
                             const char *url, const char *method,
                             const char *version, const char *upload,
                             size_t *upload_size, void **req_cls);
void shop_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                    enum MHD_RequestTerminationCode toe);
int shop_make_static(shop *sh);

/* The route table's size and paths (labels of the metrics). */
size_t shop_routes(void);
const char *shop_route_path(size_t i);
/* The route of 'url': its index, or shop_routes() for none. */
size_t shop_route_of(const char *url);

/* Metrics (metrics.c): the shop's HTTP figures, served with the library's
 * on GET /metrics at --metrics-listen. Counting is a few relaxed atomic
 * adds per answer. */
void shop_metrics_answer(req *r, unsigned status); /* every answer */
void shop_metrics_throttled(void);                 /* an S21 429 */
/* Starts the /metrics server on 'listen' (HOST:PORT); NULL on failure.
 * '*port' gets the bound port. */
struct MHD_Daemon *shop_metrics_start(shop *sh, const char *listen,
                                      unsigned *port);

/* A request header value, or NULL. */
const char *req_header(req *r, const char *name);
/* A query-string argument, or NULL. */
const char *req_query(req *r, const char *name);
/* Begins the session when not done yet. Returns 0, or the status to answer
 * (431, 503, 500) after which the caller sends an error. */
int req_session(req *r);
/* Sign-in checks (login.c). login_check() says what to answer for a
 * sign-in with 'user' and 'password': LOGIN_OK, LOGIN_BAD (401),
 * LOGIN_LIMITED (429, r->retry_ms set), LOGIN_BUSY (503: the pool's queue
 * is full), LOGIN_ERROR (500), or LOGIN_PENDING: the request is suspended
 * while the pool checks the password; the handler returns MHD_YES and is
 * called again, from the start, once it is done. */
enum {
  LOGIN_OK,
  LOGIN_BAD,
  LOGIN_LIMITED,
  LOGIN_BUSY,
  LOGIN_ERROR,
  LOGIN_PENDING
};
int login_check(req *r, const char *user, const char *password);
void login_release(req *r);
/* The sign-in limiters of 'sh' (S28): 0, or -1 out of memory. */
int login_limits_new(shop *sh, unsigned limit, int64_t window_ms);
void login_limits_free(shop *sh);

/* 1 when the request says it comes from another site (Origin or
 * Sec-Fetch-Site). */
int req_cross_site(req *r);
/* Parses an urlencoded body into r->f. 0, 400, 413 or 415. */
int req_form(req *r);
/* A form field, or NULL; '*len' (may be NULL) gets its length. */
const char *form_get(req *r, const char *name, size_t *len);

/* Pure body parsers (parse.c), fuzzed by fuzz/form_fuzz.c and json_fuzz.c.
 * shop_form_parse decodes the urlencoded 'body' in place ('body[len]' must
 * be writable) into at most SHOP_FIELDS_MAX fields '*f' ('*nf' of them,
 * pointing into 'body', NUL-terminated): 0, 400 or 413.
 * shop_json_object: the body as a JSON object, or NULL (malformed, trailing
 * bytes, not an object, a string with \u0000); cJSON_Delete() it.
 * shop_json_int: 1 and '*out' when 'v' is an integer 'lo'..'hi'.
 * shop_sku_ok: 1..SHOP_SKU_MAX bytes of printable ASCII without space. */
struct cJSON;
int shop_form_parse(char *body, size_t len, form_field *f, size_t *nf);
struct cJSON *shop_json_object(const char *body, size_t len);
int shop_json_int(const struct cJSON *v, int lo, int hi, int *out);
int shop_sku_ok(const char *s);
/* 1 when the Content-Type is application/json (parameters allowed). */
int req_is_json(req *r);
/* Commits the session now (once). 0 or the error status (503/500/413, or
 * NEW_SESSIONS_429: the client started too many sessions, S29; reply_error
 * answers it as a 429). */
#define NEW_SESSIONS_429 1429
/* req_session's status for a request carrying a session in both a cookie
 * and a bearer token (S30); reply_error answers it as a 400 naming why. */
#define SESSION_BOTH_400 1400
/* req_commit's status for a login over --max-sessions-per-user with
 * --on-max-sessions refuse (S33); reply_error answers 409. */
#define TOO_MANY_DEVICES_409 1409
int req_commit(req *r);

/* Answers. 'body' is copied (the caller keeps it). When the request has a
 * session it is committed first if not done yet, and its headers are added
 * (Set-Cookie, no-store, Vary); a commit error turns a 2xx/3xx answer into
 * 503 (store), 413 (session too large) or 500. Each returns what MHD's access
 * handler must return. */
enum MHD_Result reply(req *r, unsigned status, const char *ctype,
                      const char *body, size_t len);
enum MHD_Result reply_json(req *r, unsigned status, sbuf *b);
enum MHD_Result reply_html(req *r, unsigned status, sbuf *b);
enum MHD_Result reply_redirect(req *r, const char *location);
enum MHD_Result reply_json_error(req *r, unsigned status, const char *error);
/* An HTML error page with a title and message (escaped), in the shop's
 * layout (page_message, pages.c). */
enum MHD_Result reply_html_error(req *r, unsigned status, const char *title,
                                 const char *msg);
/* An error for 'status' in the request's flavour: JSON under /api/, HTML
 * otherwise. */
enum MHD_Result reply_error(req *r, unsigned status);

/* Handlers (pages.c, api.c). Each answers the request. */
typedef enum MHD_Result (*handler_fn)(req *r);
/* GET /readyz: 200 when the store answers, 503 when not (store_state.c). */
enum MHD_Result get_readyz(req *r);
enum MHD_Result page_home(req *r);
enum MHD_Result page_login(req *r);
enum MHD_Result post_login(req *r);
enum MHD_Result post_logout(req *r);
enum MHD_Result page_cart(req *r);
enum MHD_Result post_cart_add(req *r);
enum MHD_Result post_cart_remove(req *r);
enum MHD_Result page_prefs(req *r);
enum MHD_Result post_prefs(req *r);
enum MHD_Result page_co_address(req *r);
enum MHD_Result post_co_address(req *r);
enum MHD_Result page_co_shipping(req *r);
enum MHD_Result post_co_shipping(req *r);
enum MHD_Result page_co_review(req *r);
enum MHD_Result post_co_review(req *r);
enum MHD_Result post_co_place(req *r);
enum MHD_Result page_sessions(req *r);
enum MHD_Result post_sessions_revoke(req *r);
enum MHD_Result post_cart_update(req *r);
enum MHD_Result page_product(req *r); /* /product/SKU */
enum MHD_Result page_orders(req *r);
enum MHD_Result page_order(req *r); /* /orders/ID */
/* The HTML error page of 'status' in the shop's layout, theme and language
 * (pages.c); reply_error answers pages with it. */
enum MHD_Result page_status(req *r, unsigned status);
enum MHD_Result page_message(req *r, unsigned status, const char *title,
                             const char *msg);
/* The same page without a request or session, appended to 'b': for
 * answers written before a session can be read. In 'lang' (from
 * Accept-Language, see accept_lang), the theme following the browser's
 * light or dark setting, and a sentence saying the preferences could not
 * be read. */
void page_error_doc(sbuf *b, unsigned status, const char *lang);
/* The product picture of 'sku' (an embedded SVG): its bytes and length, or
 * NULL. */
const unsigned char *shop_image(const char *sku, size_t *len);

enum MHD_Result api_login(req *r);
enum MHD_Result api_logout(req *r);
enum MHD_Result api_session(req *r);
enum MHD_Result api_cart_add(req *r);
enum MHD_Result api_cart_delete(req *r);
enum MHD_Result api_prefs(req *r);
enum MHD_Result api_sessions(req *r);
enum MHD_Result api_sessions_delete(req *r);
enum MHD_Result api_session_delete(req *r);

/* Session helpers shared by pages and API (pages.c). */
int64_t cart_count(const sessio *s);
/* 1 when 'h' is SESSIO_HANDLE_LEN lowercase hex digits. */
int handle_valid(const char *h);
/* Writes the server's time 'ms' as "2026-11-30 04:12 UTC". */
void sb_time(sbuf *b, int64_t ms);

#endif /* SHOP_H */
