/*
 * pages.c — sessio-shop's server-rendered HTML pages and form posts:
 * products, sign-in/out, cart, preferences, the three-step checkout, the
 * orders and the account's session list, and the error pages, all in one
 * layout. No JavaScript; every form carries the session's CSRF token once a
 * session exists. All output is escaped; every word comes from the message
 * table (messages.h) in the visitor's language.
 */
#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "messages.h"
#include "orders.h"
#include "shop.h"

/* ---- session helpers ------------------------------------------------------- */

static int add_count(void *ud, const char *key, sessio_type type,
                     const void *val, size_t len, int64_t ival) {
  (void)key;
  (void)val;
  (void)len;
  if (type == SESSIO_T_INT && ival > 0) *(int64_t *)ud += ival;
  return 0;
}

int64_t cart_count(const sessio *s) {
  int64_t n = 0;
  if (s != NULL && sessio_exists(s)) sessio_iterate(s, "cart.", add_count, &n);
  return n;
}

int handle_valid(const char *h) {
  size_t i;
  for (i = 0; h[i]; i++)
    if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
      return 0;
  return i == SESSIO_HANDLE_LEN;
}

typedef struct cart_line {
  char sku[SHOP_SKU_MAX + 1];
  int64_t qty;
} cart_line;

typedef struct cart_list {
  cart_line l[SHOP_CART_LINES];
  size_t n;
} cart_list;

static int add_line(void *ud, const char *key, sessio_type type,
                    const void *val, size_t len, int64_t ival) {
  cart_list *c = ud;
  (void)val;
  (void)len;
  if (type != SESSIO_T_INT || ival <= 0) return 0;
  if (c->n == SHOP_CART_LINES) return 1;
  key += 5; /* "cart." */
  snprintf(c->l[c->n].sku, sizeof c->l[c->n].sku, "%s", key);
  c->l[c->n].qty = ival;
  c->n++;
  return 0;
}

static void cart_get(const sessio *s, cart_list *c) {
  c->n = 0;
  if (s != NULL && sessio_exists(s)) sessio_iterate(s, "cart.", add_line, c);
}

static const char *sess_str(const sessio *s, const char *key,
                            const char *dflt) {
  const char *v;
  if (s != NULL && sessio_get_str(s, key, &v, NULL)) return v;
  return dflt;
}

static int csrf_ok(req *r) {
  size_t len = 0;
  const char *tok = form_get(r, "csrf", &len);
  if (tok == NULL) {
    tok = req_header(r, "X-CSRF-Token");
    len = tok ? strlen(tok) : 0;
  }
  return tok != NULL && sessio_csrf_check(r->s, tok, len);
}

/* The checks every form post passes, in order: the form parses (415, 413,
 * 400), the session loads (431, 503), the request is same-site (403), and
 * once a session exists it carries its CSRF token (403). 0 to go on. */
static int form_gate(req *r) {
  int st = req_form(r);
  if (st != 0) return st;
  st = req_session(r);
  if (st != 0) return st;
  if (req_cross_site(r)) return 403;
  if (sessio_exists(r->s) && !csrf_ok(r)) return 403;
  return 0;
}

/* The page language of this request's session: "en" or "fr". */
static const char *req_lang(req *r) {
  return ui_lang(sess_str(r->s, "pref.lang", "en"));
}

/* Sets the one-shot notice to message 'm' in the visitor's language. */
static void flash(req *r, msg_id m, const char *const *args, size_t n) {
  char msg[400];
  sessio_flash_set(r->s, "notice",
                   tr_fmt(msg, sizeof msg, req_lang(r), m, args, n));
}

/* ---- page frame ---------------------------------------------------------------- */

typedef struct page {
  req *r;
  sbuf b;
  const char *lang; /* the language the page is written in */
  char inl[8192];
} page;

#define T(m) tr(p->lang, (m))

static void csrf_field(page *p) {
  const char *t = p->r->s ? sessio_csrf_token(p->r->s) : NULL;
  if (t != NULL) {
    sb_puts(&p->b, "<input type=\"hidden\" name=\"csrf\" value=\"");
    sb_html(&p->b, t);
    sb_puts(&p->b, "\">");
  }
}

/* Loads the session (when it can: an error page renders without one) and
 * sets the page language. 0 or the status the session load failed with. */
static int page_open(page *p, req *r) {
  int st = r->s != NULL ? 0 : req_session(r);
  p->r = r;
  sb_init(&p->b, p->inl, sizeof p->inl);
  p->lang = req_lang(r);
  return st;
}

/* Writes the head, the header (skip link, navigation, cart count, sign-in
 * state) and the notices: the flash, and "you were signed out" after a sign
 * out or when the browser's session ended (expired or revoked elsewhere:
 * the library deletes the dead cookie on this very answer, S34). */
static void page_top(page *p, const char *title, const char *nav) {
  req *r = p->r;
  sbuf *b = &p->b;
  const char *theme = sess_str(r->s, "pref.theme", "light");
  const char *user = r->s ? sessio_user(r->s) : NULL;
  const char *flash_msg, *bye;
  static const struct {
    const char *href;
    msg_id label;
    int member;
  } links[] = {{"/", MSG_NAV_PRODUCTS, 0},
               {"/cart", MSG_NAV_CART, 0},
               {"/prefs", MSG_NAV_PREFS, 0},
               {"/orders", MSG_NAV_ORDERS, 1},
               {"/account/sessions", MSG_NAV_SESSIONS, 1}};
  sb_puts(b, "<!doctype html>\n<html lang=\"");
  sb_puts(b, p->lang);
  sb_puts(
      b,
      "\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
  sb_html(b, title);
  sb_puts(b, " · ");
  sb_html(b, T(MSG_SITE));
  sb_puts(
      b,
      "</title>\n<link rel=\"stylesheet\" href=\"/static/style.css\">\n"
      "<link rel=\"icon\" href=\"/static/favicon.svg\" type=\"image/svg+xml\">\n"
      "</head>\n<body class=\"theme-");
  sb_puts(b, strcmp(theme, "dark") == 0 ? "dark" : "light");
  sb_puts(b, "\">\n<a class=\"skip\" href=\"#main\">");
  sb_html(b, T(MSG_SKIP));
  sb_puts(
      b,
      "</a>\n<header class=\"top\">\n<a class=\"brand\" href=\"/\">sessio<span>shop</span></a>\n"
      "<nav aria-label=\"");
  sb_html(b, T(MSG_NAV_LABEL));
  sb_puts(b, "\">\n");
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
    if (links[i].member && user == NULL) continue;
    sb_printf(b, "<a href=\"%s\"%s>", links[i].href,
              strcmp(nav, links[i].href) == 0 ? " aria-current=\"page\"" : "");
    sb_html(b, T(links[i].label));
    if (links[i].label == MSG_NAV_CART) {
      sb_puts(b, " <span class=\"count\" id=\"cart-count\">");
      sb_int(b, cart_count(r->s));
      sb_puts(b, "<span class=\"vh\"> ");
      sb_html(b, T(MSG_CART_ITEMS));
      sb_puts(b, "</span></span>");
    }
    sb_puts(b, "</a>\n");
  }
  sb_puts(b, "</nav>\n<div class=\"who\">");
  if (user != NULL) {
    sb_puts(b, "<span id=\"user\">");
    sb_html(b, T(MSG_SIGNED_IN_AS));
    sb_puts(b, " <strong>");
    sb_html(b, user);
    sb_puts(
        b,
        "</strong></span>\n<form method=\"post\" action=\"/logout\" class=\"inline\">");
    csrf_field(p);
    sb_puts(b, "<button type=\"submit\" class=\"link\">");
    sb_html(b, T(MSG_SIGN_OUT));
    sb_puts(b, "</button></form>");
  } else {
    /* Signing in comes back here (not from the sign-in page itself). */
    sb_puts(b, "<a class=\"button small\" id=\"signin\" href=\"/login");
    if (strcmp(nav, "/login") != 0 && strcmp(r->url, "/") != 0 &&
        r->url[0] == '/') {
      sb_puts(b, "?next=");
      sb_urlenc(b, r->url);
    }
    sb_puts(b, "\">");
    sb_html(b, T(MSG_SIGN_IN));
    sb_puts(b, "</a>");
  }
  sb_puts(b, "</div>\n</header>\n<main id=\"main\" tabindex=\"-1\">\n");
  bye = req_query(r, "signed_out");
  if (user == NULL && bye != NULL && strcmp(bye, "1") == 0) {
    sb_puts(b, "<p class=\"flash\" role=\"status\" id=\"signed-out\">");
    sb_html(b, T(MSG_SIGNED_OUT));
    sb_puts(b, "</p>\n");
  } else if (user == NULL && ((r->s != NULL && sessio_rejected_ids(r->s) > 0) ||
                              (bye != NULL && strcmp(bye, "ended") == 0))) {
    /* Shown once: this answer carries the dead cookie's deletion (S34),
     * or came after a redirect that did. */
    sb_puts(b, "<p class=\"flash\" role=\"status\" id=\"signed-out\">");
    sb_html(b, T(MSG_SESSION_ENDED));
    sb_puts(b, "</p>\n");
  }
  /* A flash is consumed when shown; HEAD shows nothing, so changes nothing. */
  if (r->s != NULL && r->meth != M_HEAD && sessio_exists(r->s) &&
      sessio_flash_take(r->s, "notice", &flash_msg)) {
    sb_puts(b, "<p class=\"flash\" role=\"status\">");
    sb_html(b, flash_msg);
    sb_puts(b, "</p>\n");
  }
}

/* page_open then page_top. 0 or an error status. */
static int page_start(page *p, req *r, msg_id title, const char *nav) {
  int st = page_open(p, r);
  if (st != 0) return st;
  page_top(p, T(title), nav);
  return 0;
}

static void page_bottom(page *p) {
  sb_puts(&p->b, "</main>\n<footer>");
  sb_html(&p->b, T(MSG_FOOTER));
  sb_puts(&p->b, "</footer>\n</body>\n</html>\n");
}

static enum MHD_Result page_end(page *p, unsigned status) {
  enum MHD_Result ret;
  page_bottom(p);
  ret = reply_html(p->r, status, &p->b);
  sb_free(&p->b);
  return ret;
}

static enum MHD_Result page_fail(page *p, int st) {
  sb_free(&p->b);
  return reply_error(p->r, (unsigned)st);
}

static void field_error(page *p, const char *id, const char *msg) {
  sb_puts(&p->b, "<p class=\"alert\" role=\"alert\"");
  if (id != NULL) sb_printf(&p->b, " id=\"%s\"", id);
  sb_puts(&p->b, ">");
  sb_html(&p->b, msg);
  sb_puts(&p->b, "</p>\n");
}

static void money(page *p, int64_t cents) {
  sb_puts(&p->b, "€&nbsp;");
  sb_money(&p->b, cents);
}

/* ---- error pages ------------------------------------------------------------------- */

static msg_id status_msg(unsigned status, msg_id *text) {
  switch (status) {
  case 400: *text = MSG_E400; return MSG_E400_T;
  case 401: *text = MSG_E401; return MSG_E401_T;
  case 403: *text = MSG_E403; return MSG_E403_T;
  case 404: *text = MSG_E404; return MSG_E404_T;
  case 405: *text = MSG_E405; return MSG_E405_T;
  case 413: *text = MSG_E413; return MSG_E413_T;
  case 415: *text = MSG_E415; return MSG_E415_T;
  case 429: *text = MSG_E429; return MSG_E429_T;
  case 431: *text = MSG_E431; return MSG_E431_T;
  case 503: *text = MSG_E503; return MSG_E503_T;
  default: *text = MSG_E500; return MSG_E500_T;
  }
}

static void error_body(page *p, const char *title, const char *text) {
  sb_puts(&p->b, "<section class=\"panel error\"><h1>");
  sb_html(&p->b, title);
  sb_puts(&p->b, "</h1><p>");
  sb_html(&p->b, text);
  sb_puts(&p->b, "</p><p><a class=\"button\" href=\"/\">");
  sb_html(&p->b, T(MSG_BACK_TO_SHOP));
  sb_puts(&p->b, "</a></p></section>\n");
}

/* An error page in the normal layout, theme and language: 'title' and
 * 'text' are messages, or (when 'm_title' is NULL) the strings 's_title'
 * and 's_text'. The session is used when the request has one or can load
 * it (a 404, a 400); after a store or session failure the page renders with
 * the defaults. */
static enum MHD_Result error_page(req *r, unsigned status,
                                  const msg_id *m_title, msg_id text,
                                  const char *s_title, const char *s_text) {
  page p;
  enum MHD_Result ret;
  if (page_open(&p, r) != 0) {
    sessio_free(r->s); /* unusable: render and answer without it */
    r->s = NULL;
    p.lang = "en";
  }
  if (m_title != NULL) {
    s_title = tr(p.lang, *m_title);
    s_text = tr(p.lang, text);
  }
  page_top(&p, s_title, "");
  error_body(&p, s_title, s_text);
  page_bottom(&p);
  ret = p.b.oom ? MHD_NO
                : reply(r, status, "text/html; charset=utf-8", p.b.p, p.b.len);
  sb_free(&p.b);
  return ret;
}

static enum MHD_Result page_error(req *r, unsigned status, msg_id title,
                                  msg_id text) {
  return error_page(r, status, &title, text, NULL, NULL);
}

enum MHD_Result page_message(req *r, unsigned status, const char *title,
                             const char *msg) {
  return error_page(r, status, NULL, MSG_E500, title, msg);
}

enum MHD_Result page_status(req *r, unsigned status) {
  if (status == NEW_SESSIONS_429)
    return page_error(r, 429, MSG_E429_T, MSG_E429_NEW);
  if (status == TOO_MANY_DEVICES_409) /* S33 */
    return page_error(r, 409, MSG_E409_DEVICES_T, MSG_E409_DEVICES);
  if (status == SESSION_BOTH_400) /* S30 */
    return page_error(r, 400, MSG_E400_T, MSG_E400_BOTH);
  msg_id text, title = status_msg(status, &text);
  return page_error(r, status, title, text);
}

void page_error_doc(sbuf *b, unsigned status, const char *lang) {
  /* Without a session (the 431 is written before any is read): the page of
   * the site's layout with what is known without one. The theme is not
   * known, so the page follows the browser's light or dark setting
   * (theme-auto) and says why; no cart count, sign-in state or form. */
  static const struct {
    const char *href;
    msg_id label;
  } links[] = {{"/", MSG_NAV_PRODUCTS},
               {"/cart", MSG_NAV_CART},
               {"/prefs", MSG_NAV_PREFS}};
  msg_id text, title = status_msg(status, &text);
  const char *t = tr(lang, title);
  lang = ui_lang(lang);
  sb_puts(b, "<!doctype html>\n<html lang=\"");
  sb_puts(b, lang);
  sb_puts(
      b,
      "\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
  sb_html(b, t);
  sb_puts(b, " · ");
  sb_html(b, tr(lang, MSG_SITE));
  sb_puts(
      b,
      "</title>\n<link rel=\"stylesheet\" href=\"/static/style.css\">\n"
      "<link rel=\"icon\" href=\"/static/favicon.svg\" type=\"image/svg+xml\">\n"
      "</head>\n<body class=\"theme-auto\">\n<a class=\"skip\" href=\"#main\">");
  sb_html(b, tr(lang, MSG_SKIP));
  sb_puts(
      b,
      "</a>\n<header class=\"top\">\n<a class=\"brand\" href=\"/\">sessio<span>shop</span></a>\n"
      "<nav aria-label=\"");
  sb_html(b, tr(lang, MSG_NAV_LABEL));
  sb_puts(b, "\">\n");
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
    sb_printf(b, "<a href=\"%s\">", links[i].href);
    sb_html(b, tr(lang, links[i].label));
    sb_puts(b, "</a>\n");
  }
  sb_puts(b, "</nav>\n</header>\n<main id=\"main\" tabindex=\"-1\">\n"
             "<section class=\"panel error\"><h1>");
  sb_html(b, t);
  sb_puts(b, "</h1><p>");
  sb_html(b, tr(lang, text));
  sb_puts(b, "</p><p id=\"prefs-unknown\">");
  sb_html(b, tr(lang, MSG_E431_PREFS));
  sb_puts(b, "</p><p><a class=\"button\" href=\"/\">");
  sb_html(b, tr(lang, MSG_BACK_TO_SHOP));
  sb_puts(b, "</a></p></section>\n</main>\n<footer>");
  sb_html(b, tr(lang, MSG_FOOTER));
  sb_puts(b, "</footer>\n</body>\n</html>\n");
}

/* A safe local redirect target: "/..." but not "//" or "/\", no controls. */
static const char *safe_next(const char *next) {
  if (next == NULL || next[0] != '/' || next[1] == '/' || next[1] == '\\' ||
      strlen(next) > 512)
    return "/";
  for (const char *c = next; *c; c++)
    if ((unsigned char)*c < 0x21 || (unsigned char)*c >= 0x7f || *c == '\\')
      return "/";
  return next;
}

/* Redirects guests to the sign-in page with 'next' set to this page.
 * Returns 1 when it answered. */
static int need_login(req *r, enum MHD_Result *ret) {
  char inl[256];
  sbuf b;
  if (sessio_is_authenticated(r->s)) return 0;
  sb_init(&b, inl, sizeof inl);
  sb_puts(&b, "/login?next=");
  sb_urlenc(&b, r->url);
  *ret = b.oom ? reply_error(r, 500) : reply_redirect(r, b.p);
  sb_free(&b);
  return 1;
}

/* S8: sensitive actions (signing sessions out, placing an order) need a
 * recent password: past --reauth-after since the last one, the sign-in
 * page asks for it again and comes back to 'back'. Signing in again as
 * the same user keeps the cart and the checkout data (S23). Returns 1 when
 * it answered. */
static int need_reauth(req *r, const char *back, enum MHD_Result *ret) {
  char inl[256];
  sbuf b;
  if (r->shop->reauth_ms <= 0 ||
      sessio_auth_age(r->s, r->now) <= r->shop->reauth_ms)
    return 0;
  sb_init(&b, inl, sizeof inl);
  sb_puts(&b, "/login?reauth=1&next=");
  sb_urlenc(&b, back);
  *ret = b.oom ? reply_error(r, 500) : reply_redirect(r, b.p);
  sb_free(&b);
  return 1;
}

/* The prologue of every members-only handler: the session loads (for a form
 * post, form_gate passes instead) and the visitor is signed in, else guests
 * go to the sign-in page. Returns 1 when it answered (*ret), 0 to go on. */
static int member_gate(req *r, int post, enum MHD_Result *ret) {
  int st = post ? form_gate(r) : req_session(r);
  if (st != 0) {
    *ret = reply_error(r, (unsigned)st);
    return 1;
  }
  return need_login(r, ret);
}

/* ---- products ------------------------------------------------------------------- */

#define SEEN_MAX 4 /* products in "Recently viewed" */

/* One product card; 'err' (may be NULL) is a message shown on the card
 * with the quantity the visitor typed ('qty'). */
static void product_card(page *p, const product *pr, const char *err,
                         const char *qty) {
  sbuf *b = &p->b;
  const char *name = product_name(pr, p->lang);
  const char *args[] = {name};
  sb_puts(b, "<li class=\"product\" id=\"product-");
  sb_html(b, pr->sku);
  sb_puts(b, "\"><img src=\"/static/img/");
  sb_html(b, pr->sku);
  sb_puts(
      b,
      ".svg\" alt=\"\" width=\"160\" height=\"120\"><h2><a href=\"/product/");
  sb_html(b, pr->sku);
  sb_puts(b, "\">");
  sb_html(b, name);
  sb_puts(b, "</a></h2><p class=\"blurb\">");
  sb_html(b, product_blurb(pr, p->lang));
  sb_puts(b, "</p><p class=\"price\">");
  money(p, pr->cents);
  sb_puts(b, "</p>\n");
  if (err != NULL) {
    sb_printf(b, "<p class=\"alert\" role=\"alert\" id=\"qty-error-%s\">",
              pr->sku);
    sb_html(b, err);
    sb_puts(b, "</p>");
  }
  sb_puts(b, "<form method=\"post\" action=\"/cart/add\" class=\"add\">");
  csrf_field(p);
  sb_puts(b, "<input type=\"hidden\" name=\"sku\" value=\"");
  sb_html(b, pr->sku);
  sb_puts(b, "\"><label>");
  sb_html(b, T(MSG_QTY));
  sb_puts(b, " <input type=\"number\" name=\"qty\" value=\"");
  sb_html(b, qty ? qty : "1");
  sb_puts(b, "\" min=\"1\" max=\"99\" aria-label=\"");
  sb_tr(b, p->lang, MSG_QTY_OF, args, 1);
  sb_puts(b, "\"");
  if (err != NULL) {
    sb_printf(
        b, " aria-invalid=\"true\" aria-describedby=\"qty-error-%s\" autofocus",
        pr->sku);
  }
  sb_puts(b, "></label><button type=\"submit\">");
  sb_html(b, T(MSG_ADD_TO_CART));
  sb_puts(b, "</button></form></li>\n");
}

/* The SKUs of "Recently viewed" (newest first) from the session's "seen". */
static size_t seen_get(const sessio *s, const product **out) {
  const char *v = sess_str(s, "seen", "");
  size_t n = 0;
  char sku[SHOP_SKU_MAX + 1];
  while (*v && n < SEEN_MAX) {
    size_t k = strcspn(v, ",");
    if (k < sizeof sku) {
      memcpy(sku, v, k);
      sku[k] = '\0';
      if ((out[n] = catalog_find(sku)) != NULL) n++;
    }
    v += k;
    if (*v == ',') v++;
  }
  return n;
}

/* Puts 'pr' first in "Recently viewed". 0 or a sessio error. */
static sessio_err seen_add(sessio *s, const product *pr) {
  const product *old[SEEN_MAX];
  size_t n = seen_get(s, old);
  char v[SEEN_MAX * (SHOP_SKU_MAX + 1) + 1];
  size_t len = (size_t)snprintf(v, sizeof v, "%s", pr->sku);
  if (n > 0 && old[0] == pr) return SESSIO_OK; /* already first: no write */
  for (size_t i = 0, kept = 1; i < n && kept < SEEN_MAX; i++)
    if (old[i] != pr) {
      len += (size_t)snprintf(v + len, sizeof v - len, ",%s", old[i]->sku);
      kept++;
    }
  return sessio_set_str(s, "seen", v);
}

static enum MHD_Result home(req *r, unsigned status, const product *err_pr,
                            const char *err, const char *qty) {
  page p;
  const product *seen[SEEN_MAX];
  size_t nseen;
  int st = page_start(&p, r, MSG_NAV_PRODUCTS, "/");
  sbuf *b = &p.b;
  if (st != 0) return page_fail(&p, st);
  sb_puts(b, "<section class=\"intro\"><h1>");
  sb_html(b, tr(p.lang, MSG_NAV_PRODUCTS));
  sb_puts(b, "</h1><p>");
  sb_html(b, tr(p.lang, MSG_HOME_INTRO));
  sb_puts(b, "</p></section>\n");
  nseen = seen_get(r->s, seen);
  if (nseen > 0) {
    sb_puts(
        b,
        "<section class=\"recent\" id=\"recent\" aria-labelledby=\"recent-h\"><h2 id=\"recent-h\">");
    sb_html(b, tr(p.lang, MSG_RECENT));
    sb_puts(b, "</h2><ul>");
    for (size_t i = 0; i < nseen; i++) {
      sb_puts(b, "<li><a href=\"/product/");
      sb_html(b, seen[i]->sku);
      sb_puts(b, "\"><img src=\"/static/img/");
      sb_html(b, seen[i]->sku);
      sb_puts(b, ".svg\" alt=\"\" width=\"48\" height=\"36\">");
      sb_html(b, product_name(seen[i], p.lang));
      sb_puts(b, "</a></li>");
    }
    sb_puts(b, "</ul></section>\n");
  }
  sb_puts(b, "<ul class=\"products\">\n");
  for (size_t i = 0; i < catalog_len; i++)
    product_card(&p, &catalog[i], &catalog[i] == err_pr ? err : NULL,
                 &catalog[i] == err_pr ? qty : NULL);
  sb_puts(b, "</ul>\n");
  return page_end(&p, status);
}

enum MHD_Result page_home(req *r) { return home(r, 200, NULL, NULL, NULL); }

enum MHD_Result page_product(req *r) {
  page p;
  const product *pr = catalog_find(r->url + strlen("/product/"));
  const char *args[1];
  int st;
  sbuf *b;
  if (pr == NULL) return page_status(r, 404);
  st = page_open(&p, r);
  if (st != 0) return page_fail(&p, st);
  /* "Recently viewed" is kept in the session: a view is what starts one. */
  if (r->meth == M_GET && seen_add(r->s, pr) != SESSIO_OK)
    return page_fail(&p, 500);
  page_top(&p, product_name(pr, p.lang), "");
  b = &p.b;
  args[0] = product_name(pr, p.lang);
  sb_puts(b, "<p class=\"crumbs\"><a href=\"/\">");
  sb_html(b, tr(p.lang, MSG_BACK_TO_PRODUCTS));
  sb_puts(b, "</a></p>\n<article class=\"detail\" id=\"product-");
  sb_html(b, pr->sku);
  sb_puts(b, "\"><img src=\"/static/img/");
  sb_html(b, pr->sku);
  sb_puts(b, ".svg\" width=\"320\" height=\"240\" alt=\"");
  sb_tr(b, p.lang, MSG_PICTURE_OF, args, 1);
  sb_puts(b, "\"><div><h1>");
  sb_html(b, args[0]);
  sb_puts(b, "</h1><p>");
  sb_html(b, product_blurb(pr, p.lang));
  sb_puts(b, "</p><p class=\"price\">");
  money(&p, pr->cents);
  sb_puts(b, "</p><form method=\"post\" action=\"/cart/add\" class=\"add\">");
  csrf_field(&p);
  sb_puts(b, "<input type=\"hidden\" name=\"sku\" value=\"");
  sb_html(b, pr->sku);
  sb_puts(b, "\"><label>");
  sb_html(b, tr(p.lang, MSG_QTY));
  sb_puts(
      b,
      " <input type=\"number\" name=\"qty\" value=\"1\" min=\"1\" max=\"99\"></label>"
      "<button type=\"submit\">");
  sb_html(b, tr(p.lang, MSG_ADD_TO_CART));
  sb_puts(b, "</button></form></div></article>\n");
  return page_end(&p, 200);
}

/* ---- sign in / out ---------------------------------------------------------------- */

/* The sign-in form; after a failed attempt ('failed') the password field
 * takes the focus and points at the alert 'err_id'. */
static void login_form(page *p, const char *user, const char *next,
                       const char *err_id) {
  sbuf *b = &p->b;
  const char *demo[] = {"alice", "wonderland", "bob", "builder"};
  sb_puts(
      b,
      "<form method=\"post\" action=\"/login\" class=\"panel stack\" id=\"login-form\">");
  csrf_field(p);
  sb_puts(b, "<input type=\"hidden\" name=\"next\" value=\"");
  sb_html(b, safe_next(next));
  sb_puts(b, "\"><label>");
  sb_html(b, T(MSG_USER_NAME));
  sb_puts(
      b,
      " <input name=\"user\" autocomplete=\"username\" required maxlength=\"128\" value=\"");
  sb_html(b, user ? user : "");
  sb_puts(b, "\"></label>\n<label>");
  sb_html(b, T(MSG_PASSWORD));
  sb_puts(
      b,
      " <input type=\"password\" name=\"password\" autocomplete=\"current-password\" required");
  if (err_id != NULL)
    sb_printf(b, " autofocus aria-describedby=\"%s\"", err_id);
  sb_puts(
      b,
      "></label>\n<label class=\"check\"><input type=\"checkbox\" name=\"remember\" value=\"1\"> ");
  sb_html(b, T(MSG_REMEMBER));
  sb_puts(b, "</label>\n<button type=\"submit\">");
  sb_html(b, T(MSG_SIGN_IN));
  sb_puts(b, "</button></form>\n<p class=\"hint\">");
  sb_tr(b, p->lang, MSG_DEMO_USERS, demo, 4);
  sb_puts(b, "</p>\n");
}

enum MHD_Result page_login(req *r) {
  page p;
  int st = page_start(&p, r, MSG_LOGIN_TITLE, "/login");
  const char *user;
  if (st != 0) return page_fail(&p, st);
  sb_puts(&p.b, "<h1>");
  sb_html(&p.b, tr(p.lang, MSG_LOGIN_TITLE));
  sb_puts(&p.b, "</h1>\n");
  user = sessio_user(r->s);
  if (user != NULL && req_query(r, "reauth") != NULL) { /* S8 */
    sb_puts(&p.b, "<p class=\"alert\" id=\"reauth\">");
    sb_html(&p.b, tr(p.lang, MSG_REAUTH));
    sb_puts(&p.b, "</p>\n");
    login_form(&p, user, req_query(r, "next"), NULL);
    return page_end(&p, 200);
  }
  if (user != NULL) {
    const char *args[] = {user};
    sb_puts(&p.b, "<p>");
    sb_tr(&p.b, p.lang, MSG_ALREADY_IN, args, 1);
    sb_puts(&p.b, "</p>\n");
  }
  login_form(&p, NULL, req_query(r, "next"), NULL);
  return page_end(&p, 200);
}

enum MHD_Result post_login(req *r) {
  const char *user, *pw, *rem, *next;
  char loc[520];
  int st = form_gate(r);
  sessio_err e;
  if (st != 0) return reply_error(r, (unsigned)st);
  user = form_get(r, "user", NULL);
  pw = form_get(r, "password", NULL);
  rem = form_get(r, "remember", NULL);
  next = safe_next(form_get(r, "next", NULL));
  st = user == NULL || pw == NULL || *user == '\0' ||
               strlen(user) > SESSIO_USER_MAX
           ? LOGIN_BAD
           : login_check(r, user, pw);
  if (st == LOGIN_PENDING)
    return MHD_YES; /* called again once the password is checked (S27) */
  if (st == LOGIN_BUSY) return page_error(r, 503, MSG_BUSY_T, MSG_BUSY);
  if (st == LOGIN_ERROR) return reply_error(r, 500);
  if (st != LOGIN_OK) {
    page p;
    char n[24];
    const char *args[] = {n};
    int limited = st == LOGIN_LIMITED;
    shop_log(LOG_INFO, "msg=\"login %s\"",
             limited ? "refused: too many attempts" : "failed");
    st = page_start(&p, r, MSG_LOGIN_TITLE, "/login");
    if (st != 0) return page_fail(&p, st);
    sb_puts(&p.b, "<h1>");
    sb_html(&p.b, tr(p.lang, MSG_LOGIN_TITLE));
    sb_puts(&p.b, "</h1>\n");
    if (limited) { /* S28: said without checking the password */
      char msg[160];
      snprintf(n, sizeof n, "%lld", (long long)((r->retry_ms + 999) / 1000));
      field_error(
          &p, "login-error",
          tr_fmt(msg, sizeof msg, p.lang, MSG_LOGIN_THROTTLED, args, 1));
    } else {
      field_error(&p, "login-error", tr(p.lang, MSG_LOGIN_FAILED));
    }
    login_form(&p, user, next, "login-error");
    return page_end(&p, limited ? 429 : 401);
  }
  e = sessio_login(
      r->s, user, rem != NULL && *rem != '\0' && strcmp(rem, "0") != 0, r->now);
  if (e != SESSIO_OK) return reply_error(r, e == SESSIO_ENOMEM ? 500 : 503);
  {
    const char *ua = req_header(r, MHD_HTTP_HEADER_USER_AGENT);
    sessio_set_label(r->s, ua && *ua ? ua : "unknown client");
  }
  flash(r, MSG_SIGNED_IN, NULL, 0);
  snprintf(loc, sizeof loc, "%s", next);
  return reply_redirect(r, loc);
}

enum MHD_Result post_logout(req *r) {
  int st = form_gate(r);
  if (st != 0) return reply_error(r, (unsigned)st);
  if (sessio_exists(r->s) && sessio_destroy(r->s) != SESSIO_OK)
    return reply_error(r, 500);
  /* The session is gone, so the notice rides in the address. */
  return reply_redirect(r, "/?signed_out=1");
}

/* ---- cart ----------------------------------------------------------------------------- */

/* The cart's lines as a table (cards on small screens). 'edit': with the
 * quantity and remove forms. Returns the items' total in cents. */
static int64_t cart_table(page *p, const cart_list *c, int edit) {
  sbuf *b = &p->b;
  int64_t total = 0;
  sb_puts(
      b,
      "<table class=\"cart cards\" id=\"cart\"><thead><tr><th scope=\"col\">");
  sb_html(b, T(MSG_PRODUCT));
  sb_puts(b, "</th><th scope=\"col\">");
  sb_html(b, T(MSG_QTY));
  sb_puts(b, "</th><th scope=\"col\" class=\"num\">");
  sb_html(b, T(MSG_PRICE));
  sb_puts(b, "</th><th scope=\"col\" class=\"num\">");
  sb_html(b, T(MSG_LINE_TOTAL));
  sb_puts(b, "</th>");
  if (edit) {
    sb_puts(b, "<th scope=\"col\"><span class=\"vh\">");
    sb_html(b, T(MSG_ACTIONS));
    sb_puts(b, "</span></th>");
  }
  sb_puts(b, "</tr></thead><tbody>\n");
  for (size_t i = 0; i < c->n; i++) {
    const product *pr = catalog_find(c->l[i].sku);
    sb_puts(b, "<tr><td class=\"name\">");
    if (pr) {
      sb_puts(b, "<a href=\"/product/");
      sb_html(b, pr->sku);
      sb_puts(b, "\">");
      sb_html(b, product_name(pr, p->lang));
      sb_puts(b, "</a>");
    } else {
      sb_html(b, c->l[i].sku);
    }
    sb_puts(b, " <small>");
    sb_html(b, c->l[i].sku);
    sb_puts(b, "</small></td><td class=\"qty\" data-label=\"");
    sb_html(b, T(MSG_QTY));
    sb_puts(b, "\">");
    if (edit) {
      const char *args[] = {pr ? product_name(pr, p->lang) : c->l[i].sku};
      sb_puts(
          b,
          "<form method=\"post\" action=\"/cart/update\" class=\"qtyform\">");
      csrf_field(p);
      sb_puts(b, "<input type=\"hidden\" name=\"sku\" value=\"");
      sb_html(b, c->l[i].sku);
      sb_puts(
          b,
          "\"><input type=\"number\" name=\"qty\" min=\"0\" max=\"99\" value=\"");
      sb_int(b, c->l[i].qty);
      sb_puts(b, "\" aria-label=\"");
      sb_tr(b, p->lang, MSG_QTY_OF, args, 1);
      sb_puts(b, "\"><button type=\"submit\" class=\"secondary small\">");
      sb_html(b, T(MSG_UPDATE));
      sb_puts(b, "</button></form>");
    } else {
      sb_int(b, c->l[i].qty);
    }
    sb_puts(b, "</td><td class=\"num\" data-label=\"");
    sb_html(b, T(MSG_PRICE));
    sb_puts(b, "\">");
    if (pr) {
      if (edit) { /* the quantity as text too, next to the field */
        sb_int(b, c->l[i].qty);
        sb_puts(b, " × ");
      }
      money(p, pr->cents);
      sb_puts(b, "</td><td class=\"num\" data-label=\"");
      sb_html(b, T(MSG_LINE_TOTAL));
      sb_puts(b, "\">");
      money(p, pr->cents * c->l[i].qty);
      total += pr->cents * c->l[i].qty;
    } else {
      sb_puts(b, "—</td><td class=\"num\">—");
    }
    sb_puts(b, "</td>");
    if (edit) {
      sb_puts(
          b,
          "<td class=\"act\"><form method=\"post\" action=\"/cart/remove\" class=\"inline\">");
      csrf_field(p);
      sb_puts(b, "<input type=\"hidden\" name=\"sku\" value=\"");
      sb_html(b, c->l[i].sku);
      sb_puts(b, "\"><button type=\"submit\" class=\"link\">");
      sb_html(b, T(MSG_REMOVE));
      sb_puts(b, "</button></form></td>");
    }
    sb_puts(b, "</tr>\n");
  }
  sb_puts(b, "</tbody></table>\n");
  return total;
}

/* The sums under a cart or order: subtotal, then (when 'ship' >= 0)
 * shipping and the total to pay. */
static void sums(page *p, int64_t subtotal, int64_t ship) {
  sbuf *b = &p->b;
  sb_puts(b, "<dl class=\"sums\"><dt>");
  sb_html(b, T(MSG_SUBTOTAL));
  sb_puts(b, "</dt><dd id=\"cart-total\">");
  money(p, subtotal);
  sb_puts(b, "</dd>");
  if (ship >= 0) {
    sb_puts(b, "<dt>");
    sb_html(b, T(MSG_SHIPPING));
    sb_puts(b, "</dt><dd id=\"shipping-cost\">");
    money(p, ship);
    sb_puts(b, "</dd><dt class=\"grand\">");
    sb_html(b, T(MSG_TOTAL_TO_PAY));
    sb_puts(b, "</dt><dd class=\"grand\" id=\"grand-total\">");
    money(p, subtotal + ship);
    sb_puts(b, "</dd>");
  }
  sb_puts(b, "</dl>\n");
}

static void empty_cart(page *p) {
  sb_puts(&p->b, "<p class=\"empty\">");
  sb_html(&p->b, T(MSG_CART_EMPTY));
  sb_puts(&p->b, " <a href=\"/\">");
  sb_html(&p->b, T(MSG_SEE_PRODUCTS));
  sb_puts(&p->b, "</a>.</p>\n");
}

enum MHD_Result page_cart(req *r) {
  page p;
  cart_list c;
  int st = page_start(&p, r, MSG_CART_TITLE, "/cart");
  if (st != 0) return page_fail(&p, st);
  sb_puts(&p.b, "<h1>");
  sb_html(&p.b, tr(p.lang, MSG_CART_TITLE));
  sb_puts(&p.b, "</h1>\n");
  cart_get(r->s, &c);
  if (c.n == 0) {
    empty_cart(&p);
  } else {
    sums(&p, cart_table(&p, &c, 1), -1);
    sb_puts(
        &p.b,
        "<p class=\"actions\"><a class=\"button\" href=\"/checkout/address\">");
    sb_html(&p.b, tr(p.lang, MSG_CHECKOUT));
    sb_puts(&p.b, "</a></p>\n");
  }
  return page_end(&p, 200);
}

/* The quantity field "qty": 1 and '*qty' when it is a whole number lo..hi. */
static int qty_field(req *r, long lo, long *qty) {
  const char *qs = form_get(r, "qty", NULL);
  char *end = NULL;
  if (qs == NULL || *qs < '0' || *qs > '9') return 0;
  *qty = strtol(qs, &end, 10);
  return *end == '\0' && *qty >= lo && *qty <= SHOP_QTY_MAX;
}

enum MHD_Result post_cart_add(req *r) {
  const char *sku;
  const product *pr;
  long qty;
  int64_t have = 0;
  char key[8 + SHOP_SKU_MAX], n[24];
  sessio_err e;
  int st = form_gate(r);
  if (st != 0) return reply_error(r, (unsigned)st);
  sku = form_get(r, "sku", NULL);
  pr = sku ? catalog_find(sku) : NULL;
  if (pr == NULL)
    return page_error(r, 400, MSG_UNKNOWN_PRODUCT_T, MSG_UNKNOWN_PRODUCT);
  if (!qty_field(r, 1, &qty)) {
    /* Said on the product's card, with what was typed, not a dead end. */
    const char *qs = form_get(r, "qty", NULL);
    return home(r, 400, pr, tr(req_lang(r), MSG_BAD_QTY),
                qs && strlen(qs) <= 8 ? qs : "1");
  }
  snprintf(key, sizeof key, "cart.%s", pr->sku);
  /* A line holds at most SHOP_QTY_MAX, however many adds it took. */
  if (sessio_exists(r->s)) sessio_get_int(r->s, key, &have);
  if (have < 0) have = 0;
  if (have + qty > SHOP_QTY_MAX) {
    const char *args[] = {product_name(pr, req_lang(r))};
    if ((e = sessio_set_int(r->s, key, SHOP_QTY_MAX)) != SESSIO_OK)
      return reply_error(r, e == SESSIO_ETOOBIG ? 413 : 500);
    flash(r, MSG_ADDED_CAPPED, args, 1);
    return reply_redirect(r, "/cart");
  }
  e = sessio_incr(r->s, key, qty, NULL);
  if (e != SESSIO_OK)
    return reply_error(r, e == SESSIO_ETOOBIG     ? 413
                          : e == SESSIO_EOVERFLOW ? 400
                                                  : 500);
  snprintf(n, sizeof n, "%ld", qty);
  {
    const char *args[] = {n, product_name(pr, req_lang(r))};
    flash(r, MSG_ADDED, args, 2);
  }
  return reply_redirect(r, "/cart");
}

/* Deletes the cart line 'sku' (a checked SKU). 0 or the error status. */
static int cart_delete(req *r, const char *sku) {
  char key[8 + SHOP_SKU_MAX];
  sessio_err e;
  snprintf(key, sizeof key, "cart.%s", sku);
  if ((e = sessio_delete(r->s, key)) != SESSIO_OK)
    return e == SESSIO_EINVAL || e == SESSIO_ETOOBIG ? 400 : 500;
  return 0;
}

enum MHD_Result post_cart_remove(req *r) {
  const char *sku;
  int st = form_gate(r);
  if (st != 0) return reply_error(r, (unsigned)st);
  sku = form_get(r, "sku", NULL);
  /* S25: a value that cannot be a SKU (a space from "a+b", bytes outside
   * printable ASCII) is the client's mistake: 400, never a failed delete. */
  if (sku == NULL || !shop_sku_ok(sku))
    return page_error(r, 400, MSG_UNKNOWN_PRODUCT_T, MSG_NOTHING_TO_REMOVE);
  if (sessio_exists(r->s)) {
    if ((st = cart_delete(r, sku)) != 0) return reply_error(r, (unsigned)st);
    flash(r, MSG_REMOVED, NULL, 0);
  }
  return reply_redirect(r, "/cart");
}

enum MHD_Result post_cart_update(req *r) {
  const char *sku;
  long qty;
  char key[8 + SHOP_SKU_MAX];
  int st = form_gate(r);
  if (st != 0) return reply_error(r, (unsigned)st);
  sku = form_get(r, "sku", NULL);
  if (sku == NULL || catalog_find(sku) == NULL)
    return page_error(r, 400, MSG_UNKNOWN_PRODUCT_T, MSG_UNKNOWN_PRODUCT);
  if (!qty_field(r, 0, &qty))
    return page_error(r, 400, MSG_E400_T, MSG_BAD_QTY);
  if (!sessio_exists(r->s)) return reply_redirect(r, "/cart");
  if (qty == 0) {
    if ((st = cart_delete(r, sku)) != 0) return reply_error(r, (unsigned)st);
    flash(r, MSG_REMOVED, NULL, 0);
  } else {
    snprintf(key, sizeof key, "cart.%s", sku);
    if (sessio_set_int(r->s, key, qty) != SESSIO_OK) return reply_error(r, 500);
    flash(r, MSG_UPDATED, NULL, 0);
  }
  return reply_redirect(r, "/cart");
}

/* ---- preferences ------------------------------------------------------------------------- */

enum MHD_Result page_prefs(req *r) {
  page p;
  const char *theme, *lang;
  int st = page_start(&p, r, MSG_PREFS_TITLE, "/prefs");
  sbuf *b = &p.b;
  if (st != 0) return page_fail(&p, st);
  theme = sess_str(r->s, "pref.theme", "light");
  lang = sess_str(r->s, "pref.lang", "en");
  sb_puts(b, "<h1>");
  sb_html(b, tr(p.lang, MSG_PREFS_TITLE));
  sb_puts(b, "</h1>\n<p>");
  sb_html(b, tr(p.lang, MSG_PREFS_INTRO));
  sb_puts(
      b,
      "</p>\n<form method=\"post\" action=\"/prefs\" class=\"panel stack\" id=\"prefs-form\">");
  csrf_field(&p);
  sb_puts(b, "<fieldset><legend>");
  sb_html(b, tr(p.lang, MSG_THEME));
  sb_printf(
      b,
      "</legend><label class=\"check\"><input type=\"radio\" name=\"theme\" value=\"light\"%s> ",
      strcmp(theme, "dark") != 0 ? " checked" : "");
  sb_html(b, tr(p.lang, MSG_LIGHT));
  sb_printf(
      b,
      "</label><label class=\"check\"><input type=\"radio\" name=\"theme\" value=\"dark\"%s> ",
      strcmp(theme, "dark") == 0 ? " checked" : "");
  sb_html(b, tr(p.lang, MSG_DARK));
  sb_puts(b, "</label></fieldset>\n<label>");
  sb_html(b, tr(p.lang, MSG_LANGUAGE));
  /* Each language's name in that language (and marked so). */
  sb_printf(
      b,
      " <select name=\"lang\"><option value=\"en\" lang=\"en\"%s>English</option>"
      "<option value=\"fr\" lang=\"fr\"%s>Français</option>"
      "<option value=\"de\"%s>",
      strcmp(lang, "en") == 0 ? " selected" : "",
      strcmp(lang, "fr") == 0 ? " selected" : "",
      strcmp(lang, "de") == 0 ? " selected" : "");
  sb_html(b, tr(p.lang, MSG_LANG_DE));
  sb_puts(b, "</option></select></label>\n<button type=\"submit\">");
  sb_html(b, tr(p.lang, MSG_SAVE));
  sb_puts(b, "</button></form>\n");
  return page_end(&p, 200);
}

static int theme_ok(const char *t) {
  return t && (!strcmp(t, "light") || !strcmp(t, "dark"));
}
static int lang_ok(const char *l) {
  return l && (!strcmp(l, "en") || !strcmp(l, "fr") || !strcmp(l, "de"));
}

enum MHD_Result post_prefs(req *r) {
  const char *theme, *lang;
  int st = form_gate(r);
  if (st != 0) return reply_error(r, (unsigned)st);
  theme = form_get(r, "theme", NULL);
  lang = form_get(r, "lang", NULL);
  if ((theme == NULL && lang == NULL) || (theme && !theme_ok(theme)) ||
      (lang && !lang_ok(lang)))
    return page_error(r, 400, MSG_E400_T, MSG_BAD_PREF);
  if ((theme && sessio_set_str(r->s, "pref.theme", theme) != SESSIO_OK) ||
      (lang && sessio_set_str(r->s, "pref.lang", lang) != SESSIO_OK))
    return reply_error(r, 500);
  flash(r, MSG_PREFS_SAVED, NULL, 0);
  return reply_redirect(r, "/prefs");
}

/* ---- checkout ----------------------------------------------------------------------------- */

static const struct {
  const char *name, *autocomplete;
  msg_id label;
} addr_fields[] = {{"name", "name", MSG_F_NAME},
                   {"street", "street-address", MSG_F_STREET},
                   {"city", "address-level2", MSG_F_CITY},
                   {"zip", "postal-code", MSG_F_ZIP},
                   {"country", "country-name", MSG_F_COUNTRY}};
#define N_ADDR (sizeof addr_fields / sizeof addr_fields[0])

/* The countries the shop ships to: the value stored, then the French name. */
static const char *const countries[][2] = {
    {"Austria", "Autriche"},      {"Belgium", "Belgique"},
    {"France", "France"},         {"Germany", "Allemagne"},
    {"Ireland", "Irlande"},       {"Italy", "Italie"},
    {"Luxembourg", "Luxembourg"}, {"Netherlands", "Pays-Bas"},
    {"Portugal", "Portugal"},     {"Spain", "Espagne"},
    {"Switzerland", "Suisse"},    {"United Kingdom", "Royaume-Uni"}};
#define N_COUNTRIES (sizeof countries / sizeof countries[0])

static const char *country_name(const char *v, const char *lang) {
  for (size_t i = 0; i < N_COUNTRIES; i++)
    if (strcmp(v, countries[i][0]) == 0)
      return strcmp(lang, "fr") == 0 ? countries[i][1] : countries[i][0];
  return v;
}

static const struct {
  const char *id;
  msg_id label;
  int64_t cents;
} ship_opts[] = {{"standard", MSG_SHIP_STANDARD, 490},
                 {"express", MSG_SHIP_EXPRESS, 1200},
                 {"pickup", MSG_SHIP_PICKUP, 0}};
#define N_SHIP (sizeof ship_opts / sizeof ship_opts[0])

static int64_t ship_cost(const char *ship) {
  for (size_t i = 0; i < N_SHIP; i++)
    if (strcmp(ship, ship_opts[i].id) == 0) return ship_opts[i].cents;
  return -1;
}

static const char *co_get(const sessio *s, const char *field) {
  char key[32];
  snprintf(key, sizeof key, "co.%s", field);
  return sess_str(s, key, "");
}

/* Stores the form's value of 'field' under "co.FIELD" (empty: deleted).
 * 0, or 400 when the value is too long, or 500. */
static int co_save(req *r, const char *field) {
  char key[32];
  size_t len = 0;
  const char *v = form_get(r, field, &len);
  if (v == NULL) return 0;
  if (len > SHOP_TEXT_MAX) return 400;
  snprintf(key, sizeof key, "co.%s", field);
  if ((len == 0 ? sessio_delete(r->s, key)
                : sessio_set_strn(r->s, key, v, len)) != SESSIO_OK)
    return 500;
  return 0;
}

/* 1 when 's' has a character other than white space. */
static int has_text(const char *s) {
  for (; *s; s++)
    if (!isspace((unsigned char)*s)) return 1;
  return 0;
}

static int country_listed(const char *v) {
  for (size_t i = 0; i < N_COUNTRIES; i++)
    if (strcmp(v, countries[i][0]) == 0) return 1;
  return 0;
}

/* Every field has text. The country comes from a list in the form, but a
 * scripted client may send another name: it is kept and shown as sent. */
static int address_complete(const sessio *s) {
  for (size_t i = 0; i < N_ADDR; i++)
    if (!has_text(co_get(s, addr_fields[i].name))) return 0;
  return 1;
}

/* Every checkout step sends an empty cart back to the cart page, saying
 * why. Returns 1 when it answered. */
static int empty_gate(req *r, enum MHD_Result *ret) {
  if (cart_count(r->s) > 0) return 0;
  flash(r, MSG_CART_EMPTY_CO, NULL, 0);
  *ret = reply_redirect(r, "/cart");
  return 1;
}

static void steps(page *p, int cur) {
  static const msg_id names[] = {MSG_STEP_ADDRESS, MSG_STEP_SHIPPING,
                                 MSG_STEP_REVIEW};
  sb_puts(&p->b, "<ol class=\"steps\" aria-label=\"");
  sb_html(&p->b, T(MSG_STEPS_LABEL));
  sb_puts(&p->b, "\">");
  for (int i = 0; i < 3; i++) {
    sb_printf(&p->b, "<li%s>",
              i == cur ? " class=\"current\" aria-current=\"step\"" : "");
    sb_html(&p->b, T(names[i]));
    sb_puts(&p->b, "</li>");
  }
  sb_puts(&p->b, "</ol>\n");
}

/* The step's buttons. "Continue" comes first in the form, so that Enter in
 * a field (the browser's implicit submission uses the first submit button)
 * goes forward; the style puts "Back" on the left. */
static void nav_buttons(page *p, msg_id back_label) {
  sb_puts(
      &p->b,
      "<div class=\"row steps-nav\"><button type=\"submit\" name=\"go\" value=\"next\">");
  sb_html(&p->b, T(MSG_CONTINUE));
  sb_puts(
      &p->b,
      "</button><button type=\"submit\" name=\"go\" value=\"back\" class=\"secondary\" "
      "formnovalidate>");
  sb_html(&p->b, T(back_label));
  sb_puts(&p->b, "</button></div>");
}

static enum MHD_Result address_page(req *r, unsigned status, int show_missing) {
  page p;
  int st = page_start(&p, r, MSG_CO_ADDRESS_T, "");
  sbuf *b = &p.b;
  if (st != 0) return page_fail(&p, st);
  sb_puts(b, "<h1>");
  sb_html(b, tr(p.lang, MSG_CHECKOUT));
  sb_puts(b, "</h1>\n");
  steps(&p, 0);
  if (show_missing)
    field_error(&p, "address-error", tr(p.lang, MSG_ADDR_MISSING));
  sb_puts(
      b,
      "<form method=\"post\" action=\"/checkout/address\" class=\"panel stack\" id=\"address-form\">");
  csrf_field(&p);
  for (size_t i = 0; i < N_ADDR; i++) {
    const char *v = co_get(r->s, addr_fields[i].name);
    const char *invalid =
        show_missing && !has_text(v) ? " aria-invalid=\"true\"" : "";
    sb_puts(b, "<label>");
    sb_html(b, tr(p.lang, addr_fields[i].label));
    if (strcmp(addr_fields[i].name, "country") == 0) {
      sb_printf(
          b,
          " <select name=\"country\" autocomplete=\"country-name\" required%s><option value=\"\">",
          invalid);
      sb_html(b, tr(p.lang, MSG_CHOOSE));
      sb_puts(b, "</option>");
      if (has_text(v) && !country_listed(v)) {
        sb_puts(b, "<option selected>");
        sb_html(b, v);
        sb_puts(b, "</option>");
      }
      for (size_t k = 0; k < N_COUNTRIES; k++) {
        sb_puts(b, "<option value=\"");
        sb_html(b, countries[k][0]);
        sb_puts(b, strcmp(v, countries[k][0]) == 0 ? "\" selected>" : "\">");
        sb_html(b, country_name(countries[k][0], p.lang));
        sb_puts(b, "</option>");
      }
      sb_puts(b, "</select></label>\n");
      continue;
    }
    sb_printf(
        b,
        " <input name=\"%s\" autocomplete=\"%s\" maxlength=\"200\" required%s value=\"",
        addr_fields[i].name, addr_fields[i].autocomplete, invalid);
    sb_html(b, v);
    sb_puts(b, "\"></label>\n");
  }
  nav_buttons(&p, MSG_BACK_TO_CART);
  sb_puts(b, "</form>\n");
  return page_end(&p, status);
}

enum MHD_Result page_co_address(req *r) {
  enum MHD_Result ret;
  if (member_gate(r, 0, &ret) || empty_gate(r, &ret)) return ret;
  return address_page(r, 200, 0);
}

static enum MHD_Result too_long(req *r, int st) {
  return st == 400 ? page_error(r, 400, MSG_E400_T, MSG_TOO_LONG)
                   : reply_error(r, 500);
}

enum MHD_Result post_co_address(req *r) {
  enum MHD_Result ret;
  const char *go;
  int st;
  if (member_gate(r, 1, &ret) || empty_gate(r, &ret)) return ret;
  for (size_t i = 0; i < N_ADDR; i++)
    if ((st = co_save(r, addr_fields[i].name)) != 0) return too_long(r, st);
  go = form_get(r, "go", NULL);
  if (go != NULL && strcmp(go, "back") == 0) return reply_redirect(r, "/cart");
  if (!address_complete(r->s)) return address_page(r, 400, 1);
  return reply_redirect(r, "/checkout/shipping");
}

static enum MHD_Result shipping_page(req *r, unsigned status,
                                     int show_missing) {
  page p;
  const char *ship;
  int st = page_start(&p, r, MSG_CO_SHIPPING_T, "");
  sbuf *b = &p.b;
  if (st != 0) return page_fail(&p, st);
  ship = co_get(r->s, "ship");
  sb_puts(b, "<h1>");
  sb_html(b, tr(p.lang, MSG_CHECKOUT));
  sb_puts(b, "</h1>\n");
  steps(&p, 1);
  if (show_missing)
    field_error(&p, "shipping-error", tr(p.lang, MSG_SHIP_MISSING));
  sb_puts(
      b,
      "<form method=\"post\" action=\"/checkout/shipping\" class=\"panel stack\" id=\"shipping-form\">");
  csrf_field(&p);
  sb_puts(b, "<fieldset><legend>");
  sb_html(b, tr(p.lang, MSG_SHIP_METHOD));
  sb_puts(b, "</legend>");
  for (size_t i = 0; i < N_SHIP; i++) {
    sb_printf(
        b,
        "<label class=\"check\"><input type=\"radio\" name=\"ship\" value=\"%s\"%s%s> ",
        ship_opts[i].id, strcmp(ship, ship_opts[i].id) == 0 ? " checked" : "",
        i == 0 ? " required" : "");
    sb_html(b, tr(p.lang, ship_opts[i].label));
    sb_puts(b, " — ");
    money(&p, ship_opts[i].cents);
    sb_puts(b, "</label>");
  }
  sb_puts(b, "</fieldset>\n<label>");
  sb_html(b, tr(p.lang, MSG_NOTE));
  sb_puts(b, " <input name=\"note\" maxlength=\"200\" value=\"");
  sb_html(b, co_get(r->s, "note"));
  sb_puts(b, "\"></label>\n");
  nav_buttons(&p, MSG_BACK);
  sb_puts(b, "</form>\n");
  return page_end(&p, status);
}

enum MHD_Result page_co_shipping(req *r) {
  enum MHD_Result ret;
  if (member_gate(r, 0, &ret) || empty_gate(r, &ret)) return ret;
  return shipping_page(r, 200, 0);
}

enum MHD_Result post_co_shipping(req *r) {
  enum MHD_Result ret;
  const char *go, *ship;
  int st;
  if (member_gate(r, 1, &ret) || empty_gate(r, &ret)) return ret;
  ship = form_get(r, "ship", NULL);
  if (ship != NULL && ship_cost(ship) < 0)
    return page_error(r, 400, MSG_E400_T, MSG_BAD_SHIP);
  if ((st = co_save(r, "ship")) != 0 || (st = co_save(r, "note")) != 0)
    return too_long(r, st);
  go = form_get(r, "go", NULL);
  if (go != NULL && strcmp(go, "back") == 0)
    return reply_redirect(r, "/checkout/address");
  if (ship_cost(co_get(r->s, "ship")) < 0) return shipping_page(r, 400, 1);
  return reply_redirect(r, "/checkout/review");
}

/* The address block of an order or of the checkout's review. */
static void address_block(page *p, const char *const *lines) {
  sb_puts(&p->b, "<address>");
  for (size_t i = 0; i < N_ADDR; i++) {
    sb_html(&p->b,
            i == N_ADDR - 1 ? country_name(lines[i], p->lang) : lines[i]);
    sb_puts(&p->b, "<br>");
  }
  sb_puts(&p->b, "</address>");
}

static void ship_line(page *p, const char *ship, const char *note) {
  sb_puts(&p->b, "<p>");
  for (size_t i = 0; i < N_SHIP; i++)
    if (strcmp(ship, ship_opts[i].id) == 0)
      sb_html(&p->b, T(ship_opts[i].label));
  if (*note) {
    sb_puts(&p->b, " — “");
    sb_html(&p->b, note);
    sb_puts(&p->b, "”");
  }
  sb_puts(&p->b, "</p>");
}

/* The checkout's token: one order per checkout, however often "Place
 * order" is sent. Made on the review page, kept until the order is placed. */
static const char *co_token(req *r) {
  unsigned char raw[12];
  char hex[sizeof raw * 2 + 1];
  const char *t = co_get(r->s, "token");
  if (*t) return t;
  randombytes_buf(raw, sizeof raw);
  sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
  if (sessio_set_str(r->s, "co.token", hex) != SESSIO_OK) return NULL;
  return co_get(r->s, "token");
}

enum MHD_Result page_co_review(req *r) {
  enum MHD_Result ret;
  page p;
  cart_list c;
  int64_t ship;
  const char *lines[N_ADDR], *token;
  int st;
  sbuf *b;
  if (member_gate(r, 0, &ret) || empty_gate(r, &ret)) return ret;
  if (!address_complete(r->s)) return reply_redirect(r, "/checkout/address");
  ship = ship_cost(co_get(r->s, "ship"));
  if (ship < 0) return reply_redirect(r, "/checkout/shipping");
  if ((token = co_token(r)) == NULL) return reply_error(r, 500);
  st = page_start(&p, r, MSG_CO_REVIEW_T, "");
  if (st != 0) return page_fail(&p, st);
  b = &p.b;
  sb_puts(b, "<h1>");
  sb_html(b, tr(p.lang, MSG_CHECKOUT));
  sb_puts(b, "</h1>\n");
  steps(&p, 2);
  cart_get(r->s, &c);
  sb_puts(b, "<section class=\"panel\" id=\"review\"><h2>");
  sb_html(b, tr(p.lang, MSG_DELIVER_TO));
  sb_puts(b, "</h2>");
  for (size_t i = 0; i < N_ADDR; i++)
    lines[i] = co_get(r->s, addr_fields[i].name);
  address_block(&p, lines);
  sb_puts(b, "<h2>");
  sb_html(b, tr(p.lang, MSG_SHIPPING));
  sb_puts(b, "</h2>");
  ship_line(&p, co_get(r->s, "ship"), co_get(r->s, "note"));
  sb_puts(b, "<h2>");
  sb_html(b, tr(p.lang, MSG_ITEMS));
  sb_puts(b, "</h2>");
  sums(&p, cart_table(&p, &c, 0), ship);
  sb_puts(
      b,
      "</section>\n<div class=\"row steps-nav\"><form method=\"post\" action=\"/checkout/place\">");
  csrf_field(&p);
  sb_puts(b, "<input type=\"hidden\" name=\"token\" value=\"");
  sb_html(b, token);
  sb_puts(b, "\"><button type=\"submit\" id=\"place-order\">");
  sb_html(b, tr(p.lang, MSG_PLACE_ORDER));
  sb_puts(b,
          "</button></form><form method=\"post\" action=\"/checkout/review\">");
  csrf_field(&p);
  sb_puts(
      b,
      "<button type=\"submit\" name=\"go\" value=\"back\" class=\"secondary\">");
  sb_html(b, tr(p.lang, MSG_BACK));
  sb_puts(b, "</button></form></div>\n");
  return page_end(&p, 200);
}

enum MHD_Result post_co_review(req *r) {
  enum MHD_Result ret;
  const char *go;
  if (member_gate(r, 1, &ret)) return ret;
  go = form_get(r, "go", NULL);
  if (go != NULL && strcmp(go, "back") == 0)
    return reply_redirect(r, "/checkout/shipping");
  return reply_redirect(r, "/checkout/review");
}

static enum MHD_Result to_order(req *r, int64_t id) {
  char loc[40];
  snprintf(loc, sizeof loc, "/orders/%lld", (long long)id);
  return reply_redirect(r, loc);
}

/* A checkout token: 24 lowercase hex digits. */
static int token_ok(const char *t) {
  size_t i;
  for (i = 0; t[i]; i++)
    if (!((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'f')))
      return 0;
  return i == 24;
}

enum MHD_Result post_co_place(req *r) {
  enum MHD_Result ret;
  cart_list c;
  order *o;
  const char *token, *user;
  int64_t id = 0;
  int created = 0, f;
  char n[24], num[24];
  if (member_gate(r, 1, &ret) || need_reauth(r, "/checkout/review", &ret))
    return ret;
  user = sessio_user(r->s);
  token = form_get(r, "token", NULL);
  if (token == NULL || !token_ok(token)) token = co_get(r->s, "token");
  cart_get(r->s, &c);
  if (c.n == 0) {
    /* Placed already (a second click, a second tab, a retry): the order. */
    if (token_ok(token) && (f = orders_by_token(user, token, &id)) != 0)
      return f < 0 ? reply_error(r, 503) : to_order(r, id);
    flash(r, MSG_CART_EMPTY_CO, NULL, 0);
    return reply_redirect(r, "/cart");
  }
  if (!address_complete(r->s)) return reply_redirect(r, "/checkout/address");
  if (ship_cost(co_get(r->s, "ship")) < 0)
    return reply_redirect(r, "/checkout/shipping");
  if (!token_ok(token)) return reply_redirect(r, "/checkout/review");
  if ((o = calloc(1, sizeof *o)) == NULL) return reply_error(r, 500);
  snprintf(o->name, sizeof o->name, "%s", co_get(r->s, "name"));
  snprintf(o->street, sizeof o->street, "%s", co_get(r->s, "street"));
  snprintf(o->city, sizeof o->city, "%s", co_get(r->s, "city"));
  snprintf(o->zip, sizeof o->zip, "%s", co_get(r->s, "zip"));
  snprintf(o->country, sizeof o->country, "%s", co_get(r->s, "country"));
  snprintf(o->ship, sizeof o->ship, "%s", co_get(r->s, "ship"));
  snprintf(o->note, sizeof o->note, "%s", co_get(r->s, "note"));
  o->ship_cents = ship_cost(o->ship);
  for (size_t i = 0; i < c.n && o->nlines < ORDER_LINES; i++) {
    const product *pr = catalog_find(c.l[i].sku);
    order_line *l = &o->line[o->nlines++];
    snprintf(l->sku, sizeof l->sku, "%s", c.l[i].sku);
    l->qty = c.l[i].qty;
    l->cents = pr ? pr->cents : 0;
    o->items += l->qty;
    o->items_cents += l->qty * l->cents;
  }
  f = orders_place(user, token, o, r->now, &id, &created);
  snprintf(n, sizeof n, "%lld", (long long)o->items);
  free(o);
  if (f != 0) return reply_error(r, 503);
  /* Placed by this request or a concurrent one of the same checkout: the
   * cart and checkout details have become that order either way. */
  snprintf(num, sizeof num, "%lld", (long long)id);
  {
    const char *args[] = {num, n};
    if (sessio_delete_prefix(r->s, "cart.") != SESSIO_OK ||
        sessio_delete_prefix(r->s, "co.") != SESSIO_OK)
      return reply_error(r, 500);
    flash(r, MSG_ORDER_PLACED, args, 2);
  }
  return to_order(r, id);
}

/* ---- orders -------------------------------------------------------------------------------- */

#define ORDERS_SHOWN 50

enum MHD_Result page_orders(req *r) {
  enum MHD_Result ret;
  page p;
  order *rows;
  size_t n = 0;
  int st;
  sbuf *b;
  if (member_gate(r, 0, &ret)) return ret;
  if ((rows = malloc(ORDERS_SHOWN * sizeof *rows)) == NULL)
    return reply_error(r, 500);
  if (orders_list(sessio_user(r->s), rows, ORDERS_SHOWN, &n) != 0) {
    free(rows);
    return reply_error(r, 503);
  }
  st = page_start(&p, r, MSG_ORDERS_T, "/orders");
  if (st != 0) {
    free(rows);
    return page_fail(&p, st);
  }
  b = &p.b;
  sb_puts(b, "<h1>");
  sb_html(b, tr(p.lang, MSG_ORDERS_T));
  sb_puts(b, "</h1>\n");
  if (n == 0) {
    sb_puts(b, "<p class=\"empty\">");
    sb_html(b, tr(p.lang, MSG_NO_ORDERS));
    sb_puts(b, " <a href=\"/\">");
    sb_html(b, tr(p.lang, MSG_SEE_PRODUCTS));
    sb_puts(b, "</a>.</p>\n");
  } else {
    sb_puts(
        b,
        "<table class=\"cards\" id=\"orders\"><thead><tr><th scope=\"col\">");
    sb_html(b, tr(p.lang, MSG_ORDER_NO));
    sb_puts(b, "</th><th scope=\"col\">");
    sb_html(b, tr(p.lang, MSG_PLACED_AT));
    sb_puts(b, "</th><th scope=\"col\" class=\"num\">");
    sb_html(b, tr(p.lang, MSG_ORDER_ITEMS));
    sb_puts(b, "</th><th scope=\"col\" class=\"num\">");
    sb_html(b, tr(p.lang, MSG_TOTAL_TO_PAY));
    sb_puts(b, "</th></tr></thead><tbody>\n");
    for (size_t i = 0; i < n; i++) {
      sb_printf(b, "<tr><td class=\"name\"><a href=\"/orders/%lld\">",
                (long long)rows[i].id);
      {
        char num[24];
        const char *args[] = {num};
        snprintf(num, sizeof num, "%lld", (long long)rows[i].id);
        sb_tr(b, p.lang, MSG_ORDER_T, args, 1);
      }
      sb_puts(b, "</a></td><td data-label=\"");
      sb_html(b, tr(p.lang, MSG_PLACED_AT));
      sb_puts(b, "\">");
      sb_reltime(b, p.lang, rows[i].created_ms, r->now);
      sb_puts(b, "</td><td class=\"num\" data-label=\"");
      sb_html(b, tr(p.lang, MSG_ORDER_ITEMS));
      sb_puts(b, "\">");
      sb_int(b, rows[i].items);
      sb_puts(b, "</td><td class=\"num\" data-label=\"");
      sb_html(b, tr(p.lang, MSG_TOTAL_TO_PAY));
      sb_puts(b, "\">");
      money(&p, rows[i].items_cents + rows[i].ship_cents);
      sb_puts(b, "</td></tr>\n");
    }
    sb_puts(b, "</tbody></table>\n");
  }
  free(rows);
  return page_end(&p, 200);
}

enum MHD_Result page_order(req *r) {
  enum MHD_Result ret;
  page p;
  order *o;
  cart_list c;
  const char *num = r->url + strlen("/orders/"), *lines[N_ADDR];
  char *end;
  long long id;
  int st, f;
  sbuf *b;
  if (member_gate(r, 0, &ret)) return ret;
  id = strtoll(num, &end, 10);
  if (*num < '1' || *num > '9' || *end != '\0' || strlen(num) > 18)
    return page_status(r, 404);
  if ((o = malloc(sizeof *o)) == NULL) return reply_error(r, 500);
  f = orders_get(sessio_user(r->s), id, o);
  if (f <= 0) {
    free(o);
    return f == 0 ? page_status(r, 404) : reply_error(r, 503);
  }
  {
    char title[64];
    const char *args[] = {num};
    st = page_open(&p, r);
    if (st != 0) {
      free(o);
      return page_fail(&p, st);
    }
    page_top(&p, tr_fmt(title, sizeof title, p.lang, MSG_ORDER_T, args, 1),
             "/orders");
    b = &p.b;
    sb_puts(b, "<h1>");
    sb_html(b, title);
    sb_puts(b, "</h1>\n<p class=\"meta\">");
    sb_html(b, tr(p.lang, MSG_PLACED_AT));
    sb_puts(b, " ");
    sb_reltime(b, p.lang, o->created_ms, r->now);
    sb_puts(b, "</p>\n<section class=\"panel\" id=\"order\"><h2>");
  }
  sb_html(b, tr(p.lang, MSG_DELIVER_TO));
  sb_puts(b, "</h2>");
  lines[0] = o->name, lines[1] = o->street, lines[2] = o->city,
  lines[3] = o->zip;
  lines[4] = o->country;
  address_block(&p, lines);
  sb_puts(b, "<h2>");
  sb_html(b, tr(p.lang, MSG_SHIPPING));
  sb_puts(b, "</h2>");
  ship_line(&p, o->ship, o->note);
  sb_puts(b, "<h2>");
  sb_html(b, tr(p.lang, MSG_ITEMS));
  sb_puts(b, "</h2>");
  /* The order's lines in the cart's table (the catalogue's prices are fixed). */
  c.n = 0;
  for (size_t i = 0; i < o->nlines && c.n < SHOP_CART_LINES; i++) {
    snprintf(c.l[c.n].sku, sizeof c.l[c.n].sku, "%s", o->line[i].sku);
    c.l[c.n++].qty = o->line[i].qty;
  }
  cart_table(&p, &c, 0);
  sums(&p, o->items_cents, o->ship_cents);
  sb_puts(b, "</section>\n<p><a href=\"/orders\">");
  sb_html(b, tr(p.lang, MSG_ALL_ORDERS));
  sb_puts(b, "</a></p>\n");
  free(o);
  return page_end(&p, 200);
}

/* ---- account: sessions ---------------------------------------------------------------- */

#define SESSIONS_PER_PAGE 10

enum MHD_Result page_sessions(req *r) {
  enum MHD_Result ret;
  page p;
  sessio_session_info *list = NULL;
  size_t n = 0, pages, pg = 1, first, last;
  const char *cur, *q;
  sessio_err e;
  int st;
  sbuf *b;
  if (member_gate(r, 0, &ret)) return ret;
  e = sessio_manager_user_sessions(r->shop->mgr, sessio_user(r->s), r->now,
                                   &list, &n);
  if (e != SESSIO_OK) return reply_error(r, e == SESSIO_ENOMEM ? 500 : 503);
  st = page_start(&p, r, MSG_SESSIONS_T, "/account/sessions");
  if (st != 0) {
    free(list);
    return page_fail(&p, st);
  }
  b = &p.b;
  pages = n == 0 ? 1 : (n + SESSIONS_PER_PAGE - 1) / SESSIONS_PER_PAGE;
  if ((q = req_query(r, "page")) != NULL) {
    long v = strtol(q, NULL, 10);
    pg = v < 1 ? 1 : (size_t)v > pages ? pages : (size_t)v;
  }
  first = (pg - 1) * SESSIONS_PER_PAGE;
  last = first + SESSIONS_PER_PAGE < n ? first + SESSIONS_PER_PAGE : n;
  cur = sessio_handle(r->s);
  sb_puts(b, "<h1>");
  sb_html(b, tr(p.lang, MSG_SESSIONS_H));
  sb_puts(
      b,
      "</h1>\n<table class=\"sessions cards\" id=\"sessions\"><thead><tr><th scope=\"col\">");
  sb_html(b, tr(p.lang, MSG_DEVICE));
  sb_puts(b, "</th><th scope=\"col\">");
  sb_html(b, tr(p.lang, MSG_SIGNED_IN_AT));
  sb_puts(b, "</th><th scope=\"col\">");
  sb_html(b, tr(p.lang, MSG_LAST_SEEN));
  sb_puts(b, "</th><th scope=\"col\">");
  sb_html(b, tr(p.lang, MSG_EXPIRES));
  sb_puts(b, "</th><th scope=\"col\"><span class=\"vh\">");
  sb_html(b, tr(p.lang, MSG_ACTIONS));
  sb_puts(b, "</span></th></tr></thead><tbody>\n");
  for (size_t i = first; i < last; i++) {
    int is_cur = cur != NULL && strcmp(cur, list[i].handle) == 0;
    char dev[96];
    static const msg_id cols[] = {MSG_SIGNED_IN_AT, MSG_LAST_SEEN, MSG_EXPIRES};
    const int64_t times[] = {list[i].created_at, list[i].last_seen,
                             list[i].expires_at};
    ua_describe(list[i].label, p.lang, dev, sizeof dev);
    sb_printf(b, "<tr data-handle=\"%s\"%s><td class=\"name\"><span title=\"",
              list[i].handle, is_cur ? " class=\"current\"" : "");
    sb_html(b, list[i].label);
    sb_puts(b, "\">");
    sb_html(b, dev);
    sb_puts(b, "</span>");
    if (is_cur) {
      sb_puts(b, " <span class=\"badge\">");
      sb_html(b, tr(p.lang, MSG_THIS_DEVICE));
      sb_puts(b, "</span>");
    }
    if (list[i].remember) {
      sb_puts(b, " <span class=\"badge muted\">");
      sb_html(b, tr(p.lang, MSG_REMEMBERED));
      sb_puts(b, "</span>");
    }
    sb_puts(b, "</td>");
    for (size_t k = 0; k < 3; k++) {
      sb_puts(b, "<td data-label=\"");
      sb_html(b, tr(p.lang, cols[k]));
      sb_puts(b, "\">");
      sb_reltime(b, p.lang, times[k], r->now);
      sb_puts(b, "</td>");
    }
    sb_puts(b, "<td class=\"act\">");
    if (!is_cur) {
      sb_puts(
          b,
          "<form method=\"post\" action=\"/account/sessions/revoke\" class=\"inline\">");
      csrf_field(&p);
      sb_printf(b,
                "<input type=\"hidden\" name=\"handle\" value=\"%s\">"
                "<button type=\"submit\" class=\"link\">",
                list[i].handle);
      sb_html(b, tr(p.lang, MSG_SIGN_OUT));
      sb_puts(b, "</button></form>");
    }
    sb_puts(b, "</td></tr>\n");
  }
  sb_puts(b, "</tbody></table>\n");
  if (pages > 1) {
    char a[24], z[24];
    const char *args[] = {a, z};
    snprintf(a, sizeof a, "%zu", pg);
    snprintf(z, sizeof z, "%zu", pages);
    sb_puts(b, "<nav class=\"pager\" aria-label=\"");
    sb_tr(b, p.lang, MSG_PAGE_N, args, 2);
    sb_puts(b, "\">");
    if (pg > 1) {
      sb_printf(b, "<a href=\"/account/sessions?page=%zu\" rel=\"prev\">",
                pg - 1);
      sb_html(b, tr(p.lang, MSG_PREV));
      sb_puts(b, "</a>");
    }
    sb_puts(b, "<span>");
    sb_tr(b, p.lang, MSG_PAGE_N, args, 2);
    sb_puts(b, "</span>");
    if (pg < pages) {
      sb_printf(b, "<a href=\"/account/sessions?page=%zu\" rel=\"next\">",
                pg + 1);
      sb_html(b, tr(p.lang, MSG_NEXT));
      sb_puts(b, "</a>");
    }
    sb_puts(b, "</nav>\n");
  }
  if (n > 1) {
    sb_puts(
        b,
        "<form method=\"post\" action=\"/account/sessions/revoke\" class=\"actions\">");
    csrf_field(&p);
    sb_puts(b, "<input type=\"hidden\" name=\"others\" value=\"1\">"
               "<button type=\"submit\" id=\"revoke-others\">");
    sb_html(b, tr(p.lang, MSG_SIGN_OUT_OTHERS));
    sb_puts(b, "</button></form>\n");
  }
  free(list);
  return page_end(&p, 200);
}

enum MHD_Result post_sessions_revoke(req *r) {
  enum MHD_Result ret;
  const char *handle, *others, *cur;
  size_t revoked = 0;
  sessio_err e;
  char n[24];
  const char *args[] = {n};
  if (member_gate(r, 1, &ret) || need_reauth(r, "/account/sessions", &ret))
    return ret;
  handle = form_get(r, "handle", NULL);
  others = form_get(r, "others", NULL);
  cur = sessio_handle(r->s);
  if (others != NULL && strcmp(others, "1") == 0) {
    e = sessio_manager_revoke_all(r->shop->mgr, sessio_user(r->s), cur, r->now,
                                  &revoked);
  } else if (handle != NULL && handle_valid(handle)) {
    if (cur != NULL && strcmp(handle, cur) == 0) {
      if (sessio_destroy(r->s) != SESSIO_OK) return reply_error(r, 500);
      return reply_redirect(r, "/?signed_out=1");
    }
    e = sessio_manager_revoke_one(r->shop->mgr, sessio_user(r->s), handle,
                                  r->now, &revoked);
  } else {
    return page_error(r, 400, MSG_E400_T, MSG_CHOOSE_SESSION);
  }
  if (e != SESSIO_OK) return reply_error(r, e == SESSIO_ENOMEM ? 500 : 503);
  snprintf(n, sizeof n, "%zu", revoked);
  flash(r, MSG_SIGNED_OUT_N, args, 1);
  return reply_redirect(r, "/account/sessions");
}
