/*
 * http.c — sessio-shop's request plumbing on libmicrohttpd: the access
 * handler (body collection with limits, routing, 404/405), the answers
 * (security headers, session headers via sessio-mhd, the access log), and
 * the request helpers (headers, forms, CSRF gates).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "messages.h"
#include "shop.h"

static const char CSP_HTML[] =
    "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'; object-src 'none'";
static const char CSP_NONE[] = "default-src 'none'; frame-ancestors 'none'";

static int64_t mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int parse_method(const char *m) {
  switch (m[0]) {
  case 'G': return strcmp(m, "GET") == 0 ? M_GET : M_OTHER;
  case 'H': return strcmp(m, "HEAD") == 0 ? M_HEAD : M_OTHER;
  case 'P':
    if (strcmp(m, "POST") == 0) return M_POST;
    return strcmp(m, "PUT") == 0 ? M_PUT : M_OTHER;
  case 'D': return strcmp(m, "DELETE") == 0 ? M_DELETE : M_OTHER;
  default: return M_OTHER;
  }
}

static void req_init(req *r, shop *sh, struct MHD_Connection *c,
                     const char *url, const char *method, int meth) {
  r->shop = sh;
  r->conn = c;
  r->url = url;
  r->method = method;
  r->meth = meth;
  r->t0_us = mono_us();
  r->now = sessio_now_ms();
  r->route = -1;
  r->body = r->inline_body;
  r->body_len = 0;
  r->body_too_big = 0;
  r->body_heap = 0;
  r->s = NULL;
  r->committed = 0;
  r->nf = 0;
  r->form_done = 0;
  r->form_status = 0;
  r->login = NULL;
  r->suspended = 0;
  r->retry_ms = 0;
  r->allow = NULL;
}

static void req_release(req *r) {
  login_release(r);
  sessio_free(r->s);
  r->s = NULL;
  if (r->body_heap) free(r->body);
  r->body = NULL;
  r->body_heap = 0;
}

/* ---- request helpers ------------------------------------------------------ */

const char *req_header(req *r, const char *name) {
  return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *req_query(req *r, const char *name) {
  return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* S21: each session ID that names no live session (forged, guessed,
 * expired or ended) is counted for its client in sessio-mhd's fixed table
 * (sessio_mhd_invalid_id_note). A client that sent --invalid-id-limit of
 * them within --invalid-id-window is answered 429 with Retry-After on
 * every request that carries a session cookie, in any of its Cookie
 * headers, until its window ends, before any store lookup
 * (sessio_mhd_invalid_id_check): a guesser learns nothing and costs the
 * store nothing. Requests without a session cookie are still served, so a
 * newcomer behind the same NAT can browse and start a session. One warning
 * per window per client. The client is the peer address (IPv6 by its /64),
 * with --trust-proxy the last address in X-Forwarded-For. */
#define INVALID_REPORT 100 /* the warning's count when refusing is off */

static void note_invalid_id(req *r) {
  char client[64];
  unsigned n = sessio_rejected_ids(r->s);
  unsigned limit = r->shop->invalid_limit;
  unsigned mark = limit ? limit : INVALID_REPORT;
  unsigned count = sessio_mhd_invalid_id_note(r->shop->throttle, r->conn,
                                              r->shop->trust_proxy, r->s,
                                              r->now, client, sizeof client);
  if (count >= mark && count - n < mark) /* this request crossed the mark */
    shop_log(
        LOG_WARN,
        "msg=\"many invalid session IDs from one client\" client=%s count=%u "
        "window_ms=%lld action=%s",
        client, count, (long long)r->shop->invalid_window,
        limit ? "refused" : "reported");
}

/* Seconds until this client's window ends (Retry-After of a 429), >= 1. */
static const char *retry_after(req *r, char *buf, size_t size) {
  sessio_mhd_limiter *l = r->shop->throttle;
  int64_t ms = r->retry_ms > 0 /* a sign-in or new-session limit */
                   ? r->retry_ms
                   : sessio_mhd_limiter_check(
                         l,
                         sessio_mhd_limiter_client(
                             l, r->conn, r->shop->trust_proxy, NULL, NULL, 0),
                         r->now);
  snprintf(buf, size, "%lld", (long long)(ms > 0 ? (ms + 999) / 1000 : 1));
  return buf;
}

/* Store failures come in floods (every request fails while the store is
 * down): the first is logged at once, then at most one line a minute with
 * the count of the others (the library's own lines say when a server goes
 * down and comes back, at the moment it happens). */
static void store_warn(req *r, const char *what, sessio_err e) {
  static _Atomic int64_t last_ms;
  static atomic_uint suppressed;
  int64_t last = atomic_load_explicit(&last_ms, memory_order_relaxed);
  if (r->now - last < 60000 ||
      !atomic_compare_exchange_strong(&last_ms, &last, r->now)) {
    atomic_fetch_add_explicit(&suppressed, 1, memory_order_relaxed);
    return;
  }
  const char *sid = shop_failed_sid();
  shop_log(LOG_WARN, "msg=\"%s\" error=%s suppressed=%u sid=%.16s", what,
           sessio_errname(e), atomic_exchange(&suppressed, 0), sid ? sid : "-");
}

static int is_api(const req *r);

int req_session(req *r) {
  sessio_err e;
  if (r->s != NULL) return 0;
  /* S21: a client over the limit is refused before any store lookup. */
  if (sessio_mhd_invalid_id_check(r->shop->throttle, r->shop->mgr, r->conn,
                                  r->shop->trust_proxy, r->now) > 0) {
    shop_metrics_throttled();
    return 429;
  }
  shop_failed_sid_clear();
  e = sessio_mhd_begin(r->shop->mgr, r->conn, r->shop->trust_proxy, r->now,
                       &r->s);
  shop_store_note(e == SESSIO_OK, r->now);
  switch (e) {
  case SESSIO_OK:
    if (sessio_rejected_ids(r->s) > 0) note_invalid_id(r);
    /* S34: the pages delete a dead session cookie as they say "you were
     * signed out"; the JSON API keeps its contract, shared with the
     * benchmark's peers: a read with an unknown ID sends no cookie. */
    if (is_api(r)) sessio_keep_dead_cookie(r->s);
    return 0;
  case SESSIO_ETOOBIG: return 431;
  case SESSIO_ETRANSPORT: return SESSION_BOTH_400; /* S30 */
  case SESSIO_EUNAVAIL:
  case SESSIO_EIO:
  case SESSIO_EBUSY: store_warn(r, "session load failed", e); return 503;
  default:
    shop_log(LOG_ERROR, "msg=\"session load failed\" error=%s",
             sessio_errname(e));
    return 500;
  }
}

int req_commit(req *r) {
  sessio_err e;
  if (r->s == NULL || r->committed) return 0;
  r->committed = 1;
  if (sessio_is_new(r->s) && sessio_exists(r->s)) {
    const char *ua = req_header(r, MHD_HTTP_HEADER_USER_AGENT);
    sessio_mhd_limiter *l = r->shop->new_sessions;
    /* S29: sessions one client may start in a window; only a request that
     * starts one pays for finding out who the client is. */
    if (r->shop->new_limit > 0) {
      uint64_t k = sessio_mhd_limiter_client(l, r->conn, r->shop->trust_proxy,
                                             NULL, NULL, 0);
      if (sessio_mhd_limiter_note(l, k, 1, r->now) > r->shop->new_limit) {
        r->retry_ms = sessio_mhd_limiter_check(l, k, r->now);
        sessio_free(r->s);
        r->s = NULL;
        return NEW_SESSIONS_429;
      }
    }
    sessio_set_label(r->s, ua && *ua ? ua : "unknown client");
  }
  e = sessio_commit(r->s, r->now);
  if (e == SESSIO_OK || e == SESSIO_EUNAVAIL || e == SESSIO_EIO)
    shop_store_note(e == SESSIO_OK, r->now);
  if (e == SESSIO_OK) return 0;
  /* Nothing of this request was stored; answer without session headers. */
  sessio_free(r->s);
  r->s = NULL;
  switch (e) {
  case SESSIO_ETOOBIG: return 413;
  case SESSIO_ELIMIT: return TOO_MANY_DEVICES_409; /* S33 */
  case SESSIO_EFULL: /* S29: the store's bound refuses new guest sessions */
    store_warn(r, "session store full", e);
    return 503;
  case SESSIO_EUNAVAIL:
  case SESSIO_EIO:
  case SESSIO_EBUSY: store_warn(r, "session commit failed", e); return 503;
  default:
    shop_log(LOG_ERROR, "msg=\"session commit failed\" error=%s",
             sessio_errname(e));
    return 500;
  }
}

/* The host[:port] part of an origin "scheme://host[:port]", or NULL. */
static const char *origin_host(const char *origin) {
  const char *p = strstr(origin, "://");
  return p ? p + 3 : NULL;
}

int req_cross_site(req *r) {
  const char *sfs = req_header(r, "Sec-Fetch-Site");
  const char *origin, *oh, *host;
  if (sfs != NULL && strcasecmp(sfs, "cross-site") == 0) return 1;
  origin = req_header(r, "Origin");
  if (origin == NULL) return 0; /* not a browser's cross-origin request */
  oh = origin_host(origin);
  if (oh == NULL || *oh == '\0')
    return 1; /* "null" (sandboxed, file:) or junk */
  host = req_header(r, MHD_HTTP_HEADER_HOST);
  if (host != NULL && strcasecmp(oh, host) == 0) return 0;
  if (r->shop->trust_proxy) {
    const char *fh = req_header(r, "X-Forwarded-Host");
    if (fh != NULL && strcasecmp(oh, fh) == 0) return 0;
  }
  return 1;
}

/* Case-insensitive: the media type of Content-Type is 'want'. */
static int ctype_is(req *r, const char *want) {
  const char *ct = req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
  size_t n = strlen(want);
  if (ct == NULL) return 0;
  while (*ct == ' ') ct++;
  if (strncasecmp(ct, want, n) != 0) return 0;
  ct += n;
  while (*ct == ' ' || *ct == '\t') ct++;
  return *ct == '\0' || *ct == ';';
}

int req_is_json(req *r) { return ctype_is(r, "application/json"); }

int req_form(req *r) {
  if (!ctype_is(r, "application/x-www-form-urlencoded"))
    return r->body_len == 0 &&
                   req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE) == NULL
               ? 0 /* an empty POST (a bare button) */
               : 415;
  /* Decoded in place, so once only: a request handled again after a
   * password check must not decode its values twice ("%2541"). */
  if (!r->form_done) {
    r->form_status = shop_form_parse(r->body, r->body_len, r->f, &r->nf);
    r->form_done = 1;
  }
  return r->form_status;
}

const char *form_get(req *r, const char *name, size_t *len) {
  for (size_t i = 0; i < r->nf; i++)
    if (strcmp(r->f[i].name, name) == 0) {
      if (len) *len = r->f[i].len;
      return r->f[i].val;
    }
  return NULL;
}

/* ---- answers ---------------------------------------------------------------- */

static void log_access(req *r, unsigned status) {
  char path[160];
  size_t i;
  /* A session that could not be loaded is named by its hashed ID too. */
  const char *sid = r->s            ? sessio_handle(r->s)
                    : status == 503 ? shop_failed_sid()
                                    : NULL;
  if (shop_log_level < LOG_INFO) return;
  for (i = 0; r->url[i] && i < sizeof path - 1; i++) {
    unsigned char c = (unsigned char)r->url[i];
    path[i] = (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\') ? '?' : (char)c;
  }
  path[i] = '\0';
  shop_log(LOG_INFO,
           "msg=request method=%s path=\"%s\" status=%u dur_us=%lld sid=%.16s",
           r->meth == M_OTHER ? "OTHER" : r->method, path, status,
           (long long)(mono_us() - r->t0_us), sid ? sid : "-");
}

/* Adds the headers every answer gets, then queues and logs it. */
static enum MHD_Result send_reply(req *r, unsigned status,
                                  struct MHD_Response *resp, int html,
                                  int session_dep) {
  enum MHD_Result ret;
  int ok = 1;
  ok &= MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff") ==
        MHD_YES;
  ok &= MHD_add_response_header(resp, "Content-Security-Policy",
                                html ? CSP_HTML : CSP_NONE) == MHD_YES;
  ok &= MHD_add_response_header(resp, "Referrer-Policy", "same-origin") ==
        MHD_YES;
  if (html)
    ok &= MHD_add_response_header(resp, "X-Frame-Options", "DENY") == MHD_YES;
  if (r->s != NULL && session_dep) {
    ok &= sessio_mhd_add_headers(r->s, resp) == SESSIO_OK;
  } else {
    ok &= MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                                  "no-store") == MHD_YES;
  }
  if (atomic_load_explicit(&r->shop->stopping, memory_order_relaxed))
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
  if (!ok) {
    MHD_destroy_response(resp);
    shop_metrics_answer(r, 500);
    log_access(r, 500);
    return MHD_NO; /* MHD closes the connection */
  }
  /* Counted before it is queued: a client that has its answer sees it in
   * the metrics. */
  shop_metrics_answer(r, status);
  ret = MHD_queue_response(r->conn, status, resp);
  MHD_destroy_response(resp);
  log_access(r, status);
  return ret;
}

/* The common path of every dynamic answer. 'extra_name' (may be NULL) is one
 * more header (Location, Allow). */
static enum MHD_Result reply_full(req *r, unsigned status, const char *ctype,
                                  const char *body, size_t len,
                                  const char *extra_name,
                                  const char *extra_val) {
  struct MHD_Response *resp;
  char ra[24];
  int st = req_commit(r);
  if (st != 0 && status < 400) return reply_error(r, (unsigned)st);
  resp =
      MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
  if (resp == NULL) return MHD_NO;
  if ((ctype && MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                        ctype) != MHD_YES) ||
      (extra_name &&
       MHD_add_response_header(resp, extra_name, extra_val) != MHD_YES) ||
      (status == 405 && r->allow &&
       MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow) !=
           MHD_YES) ||
      (status == 503 &&
       MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1") !=
           MHD_YES) ||
      (status == 429 &&
       MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER,
                               retry_after(r, ra, sizeof ra)) != MHD_YES)) {
    MHD_destroy_response(resp);
    return MHD_NO;
  }
  return send_reply(r, status, resp,
                    ctype && strncmp(ctype, "text/html", 9) == 0, 1);
}

enum MHD_Result reply(req *r, unsigned status, const char *ctype,
                      const char *body, size_t len) {
  return reply_full(r, status, ctype, body, len, NULL, NULL);
}

enum MHD_Result reply_json(req *r, unsigned status, sbuf *b) {
  if (b->oom) return reply_error(r, 500);
  return reply(r, status, "application/json", b->p, b->len);
}

enum MHD_Result reply_html(req *r, unsigned status, sbuf *b) {
  if (b->oom) return reply_error(r, 500);
  return reply(r, status, "text/html; charset=utf-8", b->p, b->len);
}

/* A redirect answering a dead session cookie carries the cookie's deletion
 * (S34), so the page it leads to cannot see that the session ended: the
 * notice rides in the address instead ("signed_out=ended"). */
enum MHD_Result reply_redirect(req *r, const char *location) {
  char inl[256];
  sbuf b;
  enum MHD_Result ret;
  if (r->s == NULL || sessio_rejected_ids(r->s) == 0 ||
      sessio_is_authenticated(r->s) || location[0] != '/' ||
      strstr(location, "signed_out=") != NULL)
    return reply_full(r, MHD_HTTP_SEE_OTHER, "text/plain; charset=utf-8", "", 0,
                      MHD_HTTP_HEADER_LOCATION, location);
  sb_init(&b, inl, sizeof inl);
  sb_puts(&b, location);
  sb_puts(&b,
          strchr(location, '?') ? "&signed_out=ended" : "?signed_out=ended");
  ret = b.oom ? reply_error(r, 500)
              : reply_full(r, MHD_HTTP_SEE_OTHER, "text/plain; charset=utf-8",
                           "", 0, MHD_HTTP_HEADER_LOCATION, b.p);
  sb_free(&b);
  return ret;
}

enum MHD_Result reply_json_error(req *r, unsigned status, const char *error) {
  char inl[256];
  sbuf b;
  enum MHD_Result ret;
  sb_init(&b, inl, sizeof inl);
  sb_puts(&b, "{\"error\":");
  sb_json_str(&b, error);
  sb_puts(&b, "}");
  ret = reply(r, status, "application/json", b.p, b.len);
  sb_free(&b);
  return ret;
}

static const char *json_error_text(unsigned status) {
  switch (status) {
  case 400: return "bad request";
  case 401: return "unauthenticated";
  case 403: return "csrf";
  case 404: return "not found";
  case 405: return "method not allowed";
  case 413: return "too large";
  case 415: return "content type must be application/json";
  case 429: return "too many invalid session IDs";
  case 431: return "headers too large";
  case 503: return "store unavailable";
  default: return "internal error";
  }
}

enum MHD_Result reply_html_error(req *r, unsigned status, const char *title,
                                 const char *msg) {
  return page_message(r, status, title, msg);
}

static int is_api(const req *r) {
  return strncmp(r->url, "/api/", 5) == 0 || strcmp(r->url, "/api") == 0;
}

enum MHD_Result reply_error(req *r, unsigned status) {
  if (status == NEW_SESSIONS_429) {
    if (is_api(r)) return reply_json_error(r, 429, "too many new sessions");
    return page_status(r, NEW_SESSIONS_429);
  }
  if (status == TOO_MANY_DEVICES_409) { /* S33: nothing of the login stored */
    if (is_api(r))
      return reply_json_error(
          r, 409, "Signed in on too many devices: sign one out first");
    return page_status(r, TOO_MANY_DEVICES_409);
  }
  if (status == SESSION_BOTH_400) { /* S30: neither session was adopted */
    if (is_api(r))
      return reply_json_error(
          r, 400, "session in both a cookie and a bearer token: send one");
    return page_status(r, SESSION_BOTH_400);
  }
  if (status == 503 || status == 500 || status == 431) {
    /* The session is unusable (or was the problem): answer without it. */
    sessio_free(r->s);
    r->s = NULL;
  }
  if (is_api(r)) return reply_json_error(r, status, json_error_text(status));
  return page_status(r, status);
}

/* ---- static answers ------------------------------------------------------- */

extern const unsigned char shop_style_css[];
extern const size_t shop_style_css_len;
extern const unsigned char shop_favicon_svg[];
extern const size_t shop_favicon_svg_len;

static struct MHD_Response *make_static(const void *data, size_t len,
                                        const char *ctype, const char *cache) {
  struct MHD_Response *r = MHD_create_response_from_buffer(
      len, (void *)data, MHD_RESPMEM_PERSISTENT);
  if (r == NULL) return NULL;
  if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) !=
          MHD_YES ||
      MHD_add_response_header(r, "X-Content-Type-Options", "nosniff") !=
          MHD_YES ||
      MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, cache) !=
          MHD_YES ||
      MHD_add_response_header(r, "Content-Security-Policy", CSP_NONE) !=
          MHD_YES ||
      MHD_add_response_header(r, "Referrer-Policy", "same-origin") != MHD_YES) {
    MHD_destroy_response(r);
    return NULL;
  }
  return r;
}

int shop_make_static(shop *sh) {
  sh->r_healthz = make_static("ok", 2, "text/plain; charset=utf-8", "no-store");
  sh->r_css = make_static(shop_style_css, shop_style_css_len,
                          "text/css; charset=utf-8", "public, max-age=300");
  sh->r_icon = make_static(shop_favicon_svg, shop_favicon_svg_len,
                           "image/svg+xml", "public, max-age=86400");
  return sh->r_healthz && sh->r_css && sh->r_icon ? 0 : -1;
}

static enum MHD_Result send_static(req *r, struct MHD_Response *resp) {
  shop_metrics_answer(r, 200);
  enum MHD_Result ret = MHD_queue_response(r->conn, MHD_HTTP_OK, resp);
  log_access(r, 200);
  return ret;
}

/* ---- routing ----------------------------------------------------------------- */

struct route {
  const char *path;
  int prefix; /* 1: matches "path" followed by at least one byte */
  handler_fn get, post, put, del;
};

static enum MHD_Result get_healthz(req *r) {
  return send_static(r, r->shop->r_healthz);
}
static enum MHD_Result get_css(req *r) {
  return send_static(r, r->shop->r_css);
}
static enum MHD_Result get_icon(req *r) {
  return send_static(r, r->shop->r_icon);
}

/* /static/img/SKU.svg: a product picture, embedded like the stylesheet. */
static enum MHD_Result get_image(req *r) {
  char sku[SHOP_SKU_MAX + 1];
  const char *name = r->url + strlen("/static/img/");
  size_t n = strcspn(name, "."), len;
  const unsigned char *svg = NULL;
  struct MHD_Response *resp;
  enum MHD_Result ret;
  if (n < sizeof sku && strcmp(name + n, ".svg") == 0) {
    memcpy(sku, name, n);
    sku[n] = '\0';
    svg = shop_image(sku, &len);
  }
  if (svg == NULL) return reply_error(r, 404);
  resp = make_static(svg, len, "image/svg+xml", "public, max-age=86400");
  if (resp == NULL) return MHD_NO;
  ret = send_static(r, resp);
  MHD_destroy_response(resp);
  return ret;
}

static const struct route routes[] = {
    {"/api/cart", 0, NULL, api_cart_add, NULL, NULL},
    {"/api/session", 0, api_session, NULL, NULL, NULL},
    {"/healthz", 0, get_healthz, NULL, NULL, NULL},
    {"/readyz", 0, get_readyz, NULL, NULL, NULL},
    {"/", 0, page_home, NULL, NULL, NULL},
    {"/api/login", 0, NULL, api_login, NULL, NULL},
    {"/api/logout", 0, NULL, api_logout, NULL, NULL},
    {"/api/cart/", 1, NULL, NULL, NULL, api_cart_delete},
    {"/api/prefs", 0, NULL, NULL, api_prefs, NULL},
    {"/api/sessions", 0, api_sessions, NULL, NULL, api_sessions_delete},
    {"/api/sessions/", 1, NULL, NULL, NULL, api_session_delete},
    {"/static/style.css", 0, get_css, NULL, NULL, NULL},
    {"/static/favicon.svg", 0, get_icon, NULL, NULL, NULL},
    {"/login", 0, page_login, post_login, NULL, NULL},
    {"/logout", 0, NULL, post_logout, NULL, NULL},
    {"/cart", 0, page_cart, NULL, NULL, NULL},
    {"/cart/add", 0, NULL, post_cart_add, NULL, NULL},
    {"/cart/remove", 0, NULL, post_cart_remove, NULL, NULL},
    {"/prefs", 0, page_prefs, post_prefs, NULL, NULL},
    {"/checkout/address", 0, page_co_address, post_co_address, NULL, NULL},
    {"/checkout/shipping", 0, page_co_shipping, post_co_shipping, NULL, NULL},
    {"/checkout/review", 0, page_co_review, post_co_review, NULL, NULL},
    {"/checkout/place", 0, NULL, post_co_place, NULL, NULL},
    {"/account/sessions", 0, page_sessions, NULL, NULL, NULL},
    {"/account/sessions/revoke", 0, NULL, post_sessions_revoke, NULL, NULL},
    {"/cart/update", 0, NULL, post_cart_update, NULL, NULL},
    {"/product/", 1, page_product, NULL, NULL, NULL},
    {"/orders", 0, page_orders, NULL, NULL, NULL},
    {"/orders/", 1, page_order, NULL, NULL, NULL},
    {"/static/img/", 1, get_image, NULL, NULL, NULL},
};

size_t shop_routes(void) { return sizeof routes / sizeof routes[0]; }
const char *shop_route_path(size_t i) { return routes[i].path; }

static const struct route *find_route(const char *url);
size_t shop_route_of(const char *url) {
  const struct route *rt = find_route(url);
  return rt ? (size_t)(rt - routes) : shop_routes();
}

static const struct route *find_route(const char *url) {
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
    const struct route *rt = &routes[i];
    if (rt->prefix) {
      size_t n = strlen(rt->path);
      if (strncmp(url, rt->path, n) == 0 && url[n] != '\0') return rt;
    } else if (strcmp(url, rt->path) == 0) {
      return rt;
    }
  }
  return NULL;
}

static enum MHD_Result dispatch(req *r) {
  const struct route *rt = find_route(r->url);
  handler_fn h = NULL;
  char allow[48];
  r->route = rt ? (int)(rt - routes) : (int)shop_routes();
  if (rt == NULL) return reply_error(r, 404);
  switch (r->meth) {
  case M_GET:
  case M_HEAD: h = rt->get; break;
  case M_POST: h = rt->post; break;
  case M_PUT: h = rt->put; break;
  case M_DELETE: h = rt->del; break;
  default: break;
  }
  if (h != NULL) return h(r);
  allow[0] = '\0';
  if (rt->get) strcat(allow, "GET, HEAD, ");
  if (rt->post) strcat(allow, "POST, ");
  if (rt->put) strcat(allow, "PUT, ");
  if (rt->del) strcat(allow, "DELETE, ");
  allow[strlen(allow) - 2] = '\0';
  if (is_api(r))
    return reply_full(r, 405, "application/json",
                      "{\"error\":\"method not allowed\"}", 30,
                      MHD_HTTP_HEADER_ALLOW, allow);
  r->allow = allow;           /* read while the page is answered, below */
  return page_status(r, 405); /* in the site's layout, theme and language */
}

/* ---- the MHD access handler ------------------------------------------------ */

/* The 431 for headers that are too large (sessio_mhd_head_too_big: over
 * SHOP_HEADERS_MAX, Cookie headers over what sessio reads, or too large for
 * MHD's pool to hold an answer too), written by sessio-mhd straight to the
 * socket with the shop's security headers and its HTML page or JSON error,
 * "Connection: close"; then MHD_NO, so that MHD closes the connection. */
static enum MHD_Result reply_431_direct(req *r) {
  char inl[2048], extra[512];
  sbuf body;
  int api = is_api(r);
  sessio_err e;
  sb_init(&body, inl, sizeof inl);
  if (api)
    sb_puts(&body, "{\"error\":\"headers too large\"}");
  else
    page_error_doc(&body, 431, accept_lang(req_header(r, "Accept-Language")));
  snprintf(extra, sizeof extra,
           "X-Content-Type-Options: nosniff\r\nContent-Security-Policy: %s\r\n"
           "Referrer-Policy: same-origin\r\n%s",
           api ? CSP_NONE : CSP_HTML, api ? "" : "X-Frame-Options: DENY\r\n");
  shop_metrics_answer(r, 431); /* before the client can have it */
  e = body.oom ? SESSIO_ENOMEM
               : sessio_mhd_reply_431(r->conn, r->method,
                                      api ? "application/json"
                                          : "text/html; charset=utf-8",
                                      body.p, body.len, extra);
  if (e != SESSIO_OK)
    shop_log(LOG_INFO, "msg=\"431 not fully sent\" error=%s",
             sessio_errname(e));
  log_access(r, 431);
  sb_free(&body);
  return MHD_NO; /* MHD closes the connection */
}

/* *req_cls of a GET or HEAD between its first and second call. */
static const char get_marker;

enum MHD_Result shop_handler(void *cls, struct MHD_Connection *c,
                             const char *url, const char *method,
                             const char *version, const char *upload,
                             size_t *upload_size, void **req_cls) {
  shop *sh = cls;
  req *r = *req_cls;
  enum MHD_Result ret;
  (void)version;
  if (r == NULL) {
    int meth = parse_method(method);
    const char *cl;
    sessio_mhd_guard_head_done(c); /* S26: the body's deadline starts */
    if (sessio_mhd_head_too_big(c, SHOP_MHD_POOL, SHOP_HEADERS_MAX)) {
      req local;
      req_init(&local, sh, c, url, method, meth);
      ret = reply_431_direct(&local);
      req_release(&local);
      return ret;
    }
    if (meth & (M_GET | M_HEAD)) {
      /* No body to wait for. MHD 0.9.75 closes the connection when a
       * response is queued on the very first call, so mark the request
       * (a static marker, no allocation) and answer on the second call. */
      *req_cls = (void *)&get_marker;
      return MHD_YES;
    }
    cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl != NULL && strtoull(cl, NULL, 10) > SHOP_BODY_MAX) {
      req local;
      req_init(&local, sh, c, url, method, meth);
      ret = reply_error(&local, 413);
      req_release(&local);
      return ret;
    }
    r = malloc(sizeof *r);
    if (r == NULL) return MHD_NO;
    req_init(r, sh, c, url, method, meth);
    *req_cls = r;
    atomic_fetch_add_explicit(&sh->inflight, 1, memory_order_relaxed);
    return MHD_YES;
  }
  if (r == (const req *)(const void *)&get_marker) {
    req local;
    if (*upload_size != 0) {
      /* A GET or HEAD with a body: the body means nothing, drop it and
       * answer on the final call. */
      *upload_size = 0;
      return MHD_YES;
    }
    *req_cls = NULL;
    atomic_fetch_add_explicit(&sh->inflight, 1, memory_order_relaxed);
    req_init(&local, sh, c, url, method, parse_method(method));
    ret = dispatch(&local);
    req_release(&local);
    sessio_mhd_guard_body_done(c);
    atomic_fetch_sub_explicit(&sh->inflight, 1, memory_order_release);
    return ret;
  }
  if (*upload_size != 0) {
    size_t n = *upload_size;
    *upload_size = 0;
    if (r->body_too_big) return MHD_YES;
    if (r->body_len + n > SHOP_BODY_MAX) {
      r->body_too_big = 1;
      return MHD_YES;
    }
    if (r->body_len + n + 1 > sizeof r->inline_body && !r->body_heap) {
      char *p = malloc(SHOP_BODY_MAX + 1);
      if (p == NULL) return MHD_NO;
      memcpy(p, r->body, r->body_len);
      r->body = p;
      r->body_heap = 1;
    }
    memcpy(r->body + r->body_len, upload, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return MHD_YES;
  }
  r->body[r->body_len] = '\0';
  r->suspended = 0; /* handled again after a password check (login.c) */
  if (r->body_too_big)
    ret = reply_error(r, 413);
  else
    ret = dispatch(r);
  if (r->suspended)
    return MHD_YES; /* the pool resumes it; the request keeps its state */
  req_release(r);
  sessio_mhd_guard_body_done(c);
  return ret;
}

void shop_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                    enum MHD_RequestTerminationCode toe) {
  req *r = *req_cls;
  (void)cls;
  (void)c;
  (void)toe;
  if (r != NULL && r != (const req *)(const void *)&get_marker) {
    atomic_fetch_sub_explicit(&r->shop->inflight, 1, memory_order_release);
    req_release(r);
    free(r);
    *req_cls = NULL;
  }
}
