/*
 * pages.c — sessio-shop's server-rendered HTML pages and form posts:
 * products, sign-in/out, cart, preferences, the three-step checkout and
 * the account's session list. No JavaScript; every form carries the
 * session's CSRF token once a session exists. All output is escaped.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shop.h"

/* ---- session helpers ------------------------------------------------------- */

static int add_count(void *ud, const char *key, sessio_type type,
                     const void *val, size_t len, int64_t ival) {
  (void)key; (void)val; (void)len;
  if (type == SESSIO_T_INT && ival > 0)
    *(int64_t *)ud += ival;
  return 0;
}

int64_t cart_count(const sessio *s) {
  int64_t n = 0;
  if (s != NULL && sessio_exists(s))
    sessio_iterate(s, "cart.", add_count, &n);
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
  (void)val; (void)len;
  if (type != SESSIO_T_INT || ival <= 0)
    return 0;
  if (c->n == SHOP_CART_LINES)
    return 1;
  key += 5; /* "cart." */
  snprintf(c->l[c->n].sku, sizeof c->l[c->n].sku, "%s", key);
  c->l[c->n].qty = ival;
  c->n++;
  return 0;
}

static void cart_get(const sessio *s, cart_list *c) {
  c->n = 0;
  if (sessio_exists(s))
    sessio_iterate(s, "cart.", add_line, c);
}

static const char *sess_str(const sessio *s, const char *key, const char *dflt) {
  const char *v;
  if (sessio_get_str(s, key, &v, NULL))
    return v;
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
  if (st != 0)
    return st;
  st = req_session(r);
  if (st != 0)
    return st;
  if (req_cross_site(r))
    return 403;
  if (sessio_exists(r->s) && !csrf_ok(r))
    return 403;
  return 0;
}

/* ---- page frame ---------------------------------------------------------------- */

typedef struct page {
  req *r;
  sbuf b;
  const char *lang;
  char inl[8192];
} page;

static const char *tr(const char *lang, const char *en, const char *fr,
                      const char *de) {
  if (strcmp(lang, "fr") == 0) return fr;
  if (strcmp(lang, "de") == 0) return de;
  return en;
}

static void csrf_field(page *p) {
  const char *t = p->r->s ? sessio_csrf_token(p->r->s) : NULL;
  if (t != NULL) {
    sb_puts(&p->b, "<input type=\"hidden\" name=\"csrf\" value=\"");
    sb_html(&p->b, t);
    sb_puts(&p->b, "\">");
  }
}

/* Starts a page: loads the session, writes the head, the header (user,
 * cart count, navigation) and the flash message. 0 or an error status. */
static int page_start(page *p, req *r, const char *title, const char *nav) {
  int st = req_session(r);
  const char *theme, *user, *flash;
  sbuf *b = &p->b;
  p->r = r;
  sb_init(b, p->inl, sizeof p->inl);
  if (st != 0)
    return st;
  theme = sess_str(r->s, "pref.theme", "light");
  p->lang = sess_str(r->s, "pref.lang", "en");
  user = sessio_user(r->s);
  sb_puts(b, "<!doctype html>\n<html lang=\"");
  sb_html(b, p->lang);
  sb_puts(b, "\">\n<head>\n<meta charset=\"utf-8\">\n"
             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
             "<title>");
  sb_html(b, title);
  sb_puts(b, " · sessio shop</title>\n"
             "<link rel=\"stylesheet\" href=\"/static/style.css\">\n"
             "<link rel=\"icon\" href=\"/static/favicon.svg\" type=\"image/svg+xml\">\n"
             "</head>\n<body class=\"theme-");
  sb_puts(b, strcmp(theme, "dark") == 0 ? "dark" : "light");
  sb_puts(b, "\">\n<header class=\"top\">\n<a class=\"brand\" href=\"/\">sessio<span>shop</span></a>\n<nav>\n");
  static const char *const links[][2] = {
      {"/", "Products"}, {"/cart", "Cart"}, {"/prefs", "Preferences"},
      {"/account/sessions", "Sessions"}};
  for (size_t i = 0; i < 4; i++) {
    if (i == 3 && user == NULL)
      break;
    sb_printf(b, "<a href=\"%s\"%s>%s", links[i][0],
              strcmp(nav, links[i][0]) == 0 ? " aria-current=\"page\"" : "", links[i][1]);
    if (i == 1) {
      sb_puts(b, " <span class=\"count\" id=\"cart-count\">");
      sb_int(b, cart_count(r->s));
      sb_puts(b, "</span>");
    }
    sb_puts(b, "</a>\n");
  }
  sb_puts(b, "</nav>\n<div class=\"who\">");
  if (user != NULL) {
    sb_puts(b, "<span id=\"user\">Signed in as <strong>");
    sb_html(b, user);
    sb_puts(b, "</strong></span>\n<form method=\"post\" action=\"/logout\" class=\"inline\">");
    csrf_field(p);
    sb_puts(b, "<button type=\"submit\" class=\"link\">Sign out</button></form>");
  } else {
    sb_puts(b, "<a class=\"button small\" id=\"signin\" href=\"/login\">Sign in</a>");
  }
  sb_puts(b, "</div>\n</header>\n<main>\n");
  /* A flash is consumed when shown; HEAD shows nothing, so changes nothing. */
  if (r->meth != M_HEAD && sessio_exists(r->s) && sessio_flash_take(r->s, "notice", &flash)) {
    sb_puts(b, "<p class=\"flash\" role=\"status\">");
    sb_html(b, flash);
    sb_puts(b, "</p>\n");
  }
  return 0;
}

static enum MHD_Result page_end(page *p, unsigned status) {
  enum MHD_Result ret;
  sb_puts(&p->b, "</main>\n<footer>sessio shop — a demo of server-side sessions. "
                 "Your browser holds only a random session ID; everything else stays on the server."
                 "</footer>\n</body>\n</html>\n");
  ret = reply_html(p->r, status, &p->b);
  sb_free(&p->b);
  return ret;
}

static enum MHD_Result page_fail(page *p, int st) {
  sb_free(&p->b);
  return reply_error(p->r, (unsigned)st);
}

static void field_error(page *p, const char *msg) {
  sb_puts(&p->b, "<p class=\"alert\" role=\"alert\">");
  sb_html(&p->b, msg);
  sb_puts(&p->b, "</p>\n");
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
  if (sessio_is_authenticated(r->s))
    return 0;
  sb_init(&b, inl, sizeof inl);
  sb_puts(&b, "/login?next=");
  sb_urlenc(&b, r->url);
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

enum MHD_Result page_home(req *r) {
  page p;
  int st = page_start(&p, r, "Products", "/");
  sbuf *b = &p.b;
  if (st != 0)
    return page_fail(&p, st);
  sb_puts(b, "<section class=\"intro\"><h1>");
  sb_puts(b, tr(p.lang, "Products", "Produits", "Produkte"));
  sb_puts(b, "</h1><p>");
  sb_puts(b, tr(p.lang, "Good coffee gear, remembered from page to page.",
                "Du bon matériel à café, mémorisé d’une page à l’autre.",
                "Gutes Kaffeezubehör, von Seite zu Seite gemerkt."));
  sb_puts(b, "</p></section>\n<ul class=\"products\">\n");
  for (size_t i = 0; i < catalog_len; i++) {
    const product *pr = &catalog[i];
    sb_puts(b, "<li class=\"product\" id=\"product-");
    sb_html(b, pr->sku);
    sb_puts(b, "\"><h2>");
    sb_html(b, pr->name);
    sb_puts(b, "</h2><p class=\"blurb\">");
    sb_html(b, pr->blurb);
    sb_puts(b, "</p><p class=\"price\">€ ");
    sb_money(b, pr->cents);
    sb_puts(b, "</p>\n<form method=\"post\" action=\"/cart/add\" class=\"add\">");
    csrf_field(&p);
    sb_puts(b, "<input type=\"hidden\" name=\"sku\" value=\"");
    sb_html(b, pr->sku);
    sb_puts(b, "\"><label>Qty <input type=\"number\" name=\"qty\" value=\"1\" min=\"1\" max=\"99\">"
               "</label><button type=\"submit\">Add to cart</button></form></li>\n");
  }
  sb_puts(b, "</ul>\n");
  return page_end(&p, 200);
}

/* ---- sign in / out ---------------------------------------------------------------- */

static void login_form(page *p, const char *user, const char *next) {
  sbuf *b = &p->b;
  sb_puts(b, "<form method=\"post\" action=\"/login\" class=\"panel stack\" id=\"login-form\">");
  csrf_field(p);
  sb_puts(b, "<input type=\"hidden\" name=\"next\" value=\"");
  sb_html(b, safe_next(next));
  sb_puts(b, "\"><label>User name <input name=\"user\" autocomplete=\"username\" required "
             "maxlength=\"128\" value=\"");
  sb_html(b, user ? user : "");
  sb_puts(b, "\"></label>\n<label>Password <input type=\"password\" name=\"password\" "
             "autocomplete=\"current-password\" required></label>\n"
             "<label class=\"check\"><input type=\"checkbox\" name=\"remember\" value=\"1\"> "
             "Remember me on this device</label>\n"
             "<button type=\"submit\">Sign in</button></form>\n"
             "<p class=\"hint\">Demo users: <code>alice</code> / <code>wonderland</code> and "
             "<code>bob</code> / <code>builder</code>.</p>\n");
}

enum MHD_Result page_login(req *r) {
  page p;
  int st = page_start(&p, r, "Sign in", "/login");
  const char *user;
  if (st != 0)
    return page_fail(&p, st);
  sb_puts(&p.b, "<h1>Sign in</h1>\n");
  user = sessio_user(r->s);
  if (user != NULL) {
    sb_puts(&p.b, "<p>You are signed in as <strong>");
    sb_html(&p.b, user);
    sb_puts(&p.b, "</strong>. Signing in as another user starts that user's own session: "
               "nothing of this account (cart, preferences, checkout details) "
               "is carried over.</p>\n");
  }
  login_form(&p, NULL, req_query(r, "next"));
  return page_end(&p, 200);
}

enum MHD_Result post_login(req *r) {
  const char *user, *pw, *rem, *next;
  char loc[520];
  int st = form_gate(r);
  sessio_err e;
  if (st != 0)
    return reply_error(r, (unsigned)st);
  user = form_get(r, "user", NULL);
  pw = form_get(r, "password", NULL);
  rem = form_get(r, "remember", NULL);
  next = safe_next(form_get(r, "next", NULL));
  st = user == NULL || pw == NULL || *user == '\0' || strlen(user) > SESSIO_USER_MAX
           ? LOGIN_BAD
           : login_check(r, user, pw);
  if (st == LOGIN_PENDING)
    return MHD_YES; /* called again once the password is checked (S27) */
  if (st == LOGIN_BUSY)
    return reply_html_error(r, 503, "Busy", "Too many sign-ins at once. Please try again in a moment.");
  if (st == LOGIN_ERROR)
    return reply_error(r, 500);
  if (st != LOGIN_OK) {
    page p;
    char msg[96];
    int limited = st == LOGIN_LIMITED;
    shop_log(LOG_INFO, "msg=\"login %s\"", limited ? "refused: too many attempts" : "failed");
    st = page_start(&p, r, "Sign in", "/login");
    if (st != 0)
      return page_fail(&p, st);
    sb_puts(&p.b, "<h1>Sign in</h1>\n");
    if (limited) { /* S28: said without checking the password */
      snprintf(msg, sizeof msg, "Too many attempts, try again in %lld s.",
               (long long)((r->retry_ms + 999) / 1000));
      field_error(&p, msg);
    } else {
      field_error(&p, "Wrong user name or password.");
    }
    login_form(&p, user, next);
    return page_end(&p, limited ? 429 : 401);
  }
  e = sessio_login(r->s, user, rem != NULL && *rem != '\0' && strcmp(rem, "0") != 0, r->now);
  if (e != SESSIO_OK)
    return reply_error(r, e == SESSIO_ENOMEM ? 500 : 503);
  {
    const char *ua = req_header(r, MHD_HTTP_HEADER_USER_AGENT);
    sessio_set_label(r->s, ua && *ua ? ua : "unknown client");
  }
  sessio_flash_set(r->s, "notice", "You are signed in.");
  snprintf(loc, sizeof loc, "%s", next);
  return reply_redirect(r, loc);
}

enum MHD_Result post_logout(req *r) {
  int st = form_gate(r);
  if (st != 0)
    return reply_error(r, (unsigned)st);
  if (sessio_exists(r->s) && sessio_destroy(r->s) != SESSIO_OK)
    return reply_error(r, 500);
  return reply_redirect(r, "/");
}

/* ---- cart ----------------------------------------------------------------------------- */

static void cart_table(page *p, const cart_list *c, int64_t *total_out) {
  sbuf *b = &p->b;
  int64_t total = 0;
  sb_puts(b, "<table class=\"cart\" id=\"cart\"><thead><tr><th>Product</th><th>Qty</th>"
             "<th class=\"num\">Price</th><th class=\"num\">Total</th><th></th></tr></thead><tbody>\n");
  for (size_t i = 0; i < c->n; i++) {
    const product *pr = catalog_find(c->l[i].sku);
    sb_puts(b, "<tr><td>");
    sb_html(b, pr ? pr->name : c->l[i].sku);
    sb_puts(b, " <small>");
    sb_html(b, c->l[i].sku);
    sb_puts(b, "</small></td><td class=\"qty\">");
    sb_int(b, c->l[i].qty);
    sb_puts(b, "</td><td class=\"num\">");
    if (pr) {
      sb_money(b, pr->cents);
      sb_puts(b, "</td><td class=\"num\">");
      sb_money(b, pr->cents * c->l[i].qty);
      total += pr->cents * c->l[i].qty;
    } else {
      sb_puts(b, "—</td><td class=\"num\">—");
    }
    sb_puts(b, "</td><td>");
    if (total_out == NULL) {
      sb_puts(b, "<form method=\"post\" action=\"/cart/remove\" class=\"inline\">");
      csrf_field(p);
      sb_puts(b, "<input type=\"hidden\" name=\"sku\" value=\"");
      sb_html(b, c->l[i].sku);
      sb_puts(b, "\"><button type=\"submit\" class=\"link\">Remove</button></form>");
    }
    sb_puts(b, "</td></tr>\n");
  }
  sb_puts(b, "</tbody><tfoot><tr><th>Total</th><td></td><td></td><td class=\"num\" id=\"cart-total\">€ ");
  sb_money(b, total);
  sb_puts(b, "</td><td></td></tr></tfoot></table>\n");
  if (total_out)
    *total_out = total;
}

enum MHD_Result page_cart(req *r) {
  page p;
  cart_list c;
  int st = page_start(&p, r, "Cart", "/cart");
  if (st != 0)
    return page_fail(&p, st);
  sb_puts(&p.b, "<h1>Your cart</h1>\n");
  cart_get(r->s, &c);
  if (c.n == 0) {
    sb_puts(&p.b, "<p class=\"empty\">Your cart is empty. <a href=\"/\">See the products</a>.</p>\n");
  } else {
    cart_table(&p, &c, NULL);
    sb_puts(&p.b, "<p class=\"actions\"><a class=\"button\" href=\"/checkout/address\">Checkout</a></p>\n");
  }
  return page_end(&p, 200);
}

enum MHD_Result post_cart_add(req *r) {
  const char *sku, *qs;
  const product *pr;
  long qty;
  char key[8 + SHOP_SKU_MAX], msg[160];
  sessio_err e;
  int st = form_gate(r);
  if (st != 0)
    return reply_error(r, (unsigned)st);
  sku = form_get(r, "sku", NULL);
  pr = sku ? catalog_find(sku) : NULL;
  if (pr == NULL)
    return reply_html_error(r, 400, "Unknown product", "That product is not in the catalogue.");
  qs = form_get(r, "qty", NULL);
  {
    char *end = NULL;
    qty = qs ? strtol(qs, &end, 10) : 0;
    if (qs == NULL || *qs < '0' || *qs > '9' || *end != '\0' || qty < 1 || qty > SHOP_QTY_MAX)
      return reply_html_error(r, 400, "Bad quantity", "The quantity must be a whole number from 1 to 99.");
  }
  snprintf(key, sizeof key, "cart.%s", pr->sku);
  e = sessio_incr(r->s, key, qty, NULL);
  if (e != SESSIO_OK)
    return reply_error(r, e == SESSIO_ETOOBIG ? 413 : e == SESSIO_EOVERFLOW ? 400 : 500);
  snprintf(msg, sizeof msg, "Added %ld × %s to your cart.", qty, pr->name);
  sessio_flash_set(r->s, "notice", msg);
  return reply_redirect(r, "/cart");
}

enum MHD_Result post_cart_remove(req *r) {
  const char *sku;
  char key[8 + SHOP_SKU_MAX];
  int st = form_gate(r);
  if (st != 0)
    return reply_error(r, (unsigned)st);
  sku = form_get(r, "sku", NULL);
  /* S25: a value that cannot be a SKU (a space from "a+b", bytes outside
   * printable ASCII) is the client's mistake: 400, never a failed delete. */
  if (sku == NULL || !shop_sku_ok(sku))
    return reply_html_error(r, 400, "Unknown product", "Nothing to remove.");
  if (sessio_exists(r->s)) {
    sessio_err e;
    snprintf(key, sizeof key, "cart.%s", sku);
    if ((e = sessio_delete(r->s, key)) != SESSIO_OK)
      return reply_error(r, e == SESSIO_EINVAL || e == SESSIO_ETOOBIG ? 400 : 500);
    sessio_flash_set(r->s, "notice", "Removed from your cart.");
  }
  return reply_redirect(r, "/cart");
}

/* ---- preferences ------------------------------------------------------------------------- */

enum MHD_Result page_prefs(req *r) {
  page p;
  const char *theme, *lang;
  static const char *const langs[][2] = {{"en", "English"}, {"fr", "Français"}, {"de", "Deutsch"}};
  int st = page_start(&p, r, "Preferences", "/prefs");
  sbuf *b = &p.b;
  if (st != 0)
    return page_fail(&p, st);
  theme = sess_str(r->s, "pref.theme", "light");
  lang = sess_str(r->s, "pref.lang", "en");
  sb_puts(b, "<h1>Preferences</h1>\n<p>Kept in your session: they follow you on every page.</p>\n"
             "<form method=\"post\" action=\"/prefs\" class=\"panel stack\" id=\"prefs-form\">");
  csrf_field(&p);
  sb_puts(b, "<fieldset><legend>Theme</legend>");
  sb_printf(b, "<label class=\"check\"><input type=\"radio\" name=\"theme\" value=\"light\"%s> Light</label>",
            strcmp(theme, "dark") != 0 ? " checked" : "");
  sb_printf(b, "<label class=\"check\"><input type=\"radio\" name=\"theme\" value=\"dark\"%s> Dark</label>",
            strcmp(theme, "dark") == 0 ? " checked" : "");
  sb_puts(b, "</fieldset>\n<label>Language <select name=\"lang\">");
  for (size_t i = 0; i < 3; i++)
    sb_printf(b, "<option value=\"%s\"%s>%s</option>", langs[i][0],
              strcmp(lang, langs[i][0]) == 0 ? " selected" : "", langs[i][1]);
  sb_puts(b, "</select></label>\n<button type=\"submit\">Save</button></form>\n");
  return page_end(&p, 200);
}

static int theme_ok(const char *t) { return t && (!strcmp(t, "light") || !strcmp(t, "dark")); }
static int lang_ok(const char *l) {
  return l && (!strcmp(l, "en") || !strcmp(l, "fr") || !strcmp(l, "de"));
}

enum MHD_Result post_prefs(req *r) {
  const char *theme, *lang;
  int st = form_gate(r);
  if (st != 0)
    return reply_error(r, (unsigned)st);
  theme = form_get(r, "theme", NULL);
  lang = form_get(r, "lang", NULL);
  if ((theme == NULL && lang == NULL) || (theme && !theme_ok(theme)) || (lang && !lang_ok(lang)))
    return reply_html_error(r, 400, "Bad preference",
                            "The theme must be light or dark and the language en, fr or de.");
  if ((theme && sessio_set_str(r->s, "pref.theme", theme) != SESSIO_OK) ||
      (lang && sessio_set_str(r->s, "pref.lang", lang) != SESSIO_OK))
    return reply_error(r, 500);
  sessio_flash_set(r->s, "notice", "Preferences saved.");
  return reply_redirect(r, "/prefs");
}

/* ---- checkout ----------------------------------------------------------------------------- */

static const char *const addr_fields[][2] = {
    {"name", "Full name"}, {"street", "Street and number"}, {"city", "City"},
    {"zip", "Postcode"}, {"country", "Country"}};
#define N_ADDR (sizeof addr_fields / sizeof addr_fields[0])

static const char *const ship_opts[][3] = {
    {"standard", "Standard (3–5 days)", "490"},
    {"express", "Express (next day)", "1200"},
    {"pickup", "Pick up in the shop", "0"}};

static int64_t ship_cost(const char *ship) {
  for (size_t i = 0; i < 3; i++)
    if (strcmp(ship, ship_opts[i][0]) == 0)
      return atoll(ship_opts[i][2]);
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
  if (v == NULL)
    return 0;
  if (len > SHOP_TEXT_MAX)
    return 400;
  snprintf(key, sizeof key, "co.%s", field);
  if ((len == 0 ? sessio_delete(r->s, key) : sessio_set_strn(r->s, key, v, len)) != SESSIO_OK)
    return 500;
  return 0;
}

static int address_complete(const sessio *s) {
  for (size_t i = 0; i < N_ADDR; i++)
    if (*co_get(s, addr_fields[i][0]) == '\0')
      return 0;
  return 1;
}

static void steps(page *p, int cur) {
  static const char *const names[] = {"Address", "Shipping", "Review"};
  sb_puts(&p->b, "<ol class=\"steps\">");
  for (int i = 0; i < 3; i++)
    sb_printf(&p->b, "<li%s>%s</li>", i == cur ? " class=\"current\" aria-current=\"step\"" : "",
              names[i]);
  sb_puts(&p->b, "</ol>\n");
}

static void nav_buttons(page *p, const char *back_label, const char *next_label) {
  sb_printf(&p->b, "<div class=\"row\"><button type=\"submit\" name=\"go\" value=\"back\" "
                   "class=\"secondary\" formnovalidate>%s</button>"
                   "<button type=\"submit\" name=\"go\" value=\"next\">%s</button></div>",
            back_label, next_label);
}

static enum MHD_Result address_page(req *r, unsigned status, int show_missing) {
  page p;
  int st = page_start(&p, r, "Checkout: address", "");
  if (st != 0)
    return page_fail(&p, st);
  sb_puts(&p.b, "<h1>Checkout</h1>\n");
  steps(&p, 0);
  if (show_missing)
    field_error(&p, "Please fill in every field of the address.");
  sb_puts(&p.b, "<form method=\"post\" action=\"/checkout/address\" class=\"panel stack\" id=\"address-form\">");
  csrf_field(&p);
  for (size_t i = 0; i < N_ADDR; i++) {
    sb_printf(&p.b, "<label>%s <input name=\"%s\" maxlength=\"200\" required value=\"",
              addr_fields[i][1], addr_fields[i][0]);
    sb_html(&p.b, co_get(r->s, addr_fields[i][0]));
    sb_puts(&p.b, "\"></label>\n");
  }
  nav_buttons(&p, "Back to cart", "Continue");
  sb_puts(&p.b, "</form>\n");
  return page_end(&p, status);
}

enum MHD_Result page_co_address(req *r) {
  enum MHD_Result ret;
  if (member_gate(r, 0, &ret))
    return ret;
  return address_page(r, 200, 0);
}

enum MHD_Result post_co_address(req *r) {
  enum MHD_Result ret;
  const char *go;
  int st;
  if (member_gate(r, 1, &ret))
    return ret;
  for (size_t i = 0; i < N_ADDR; i++)
    if ((st = co_save(r, addr_fields[i][0])) != 0)
      return st == 400 ? reply_html_error(r, 400, "Too long", "A field is longer than 200 characters.")
                       : reply_error(r, 500);
  go = form_get(r, "go", NULL);
  if (go != NULL && strcmp(go, "back") == 0)
    return reply_redirect(r, "/cart");
  if (!address_complete(r->s))
    return address_page(r, 400, 1);
  return reply_redirect(r, "/checkout/shipping");
}

static enum MHD_Result shipping_page(req *r, unsigned status, int show_missing) {
  page p;
  const char *ship;
  int st = page_start(&p, r, "Checkout: shipping", "");
  if (st != 0)
    return page_fail(&p, st);
  ship = co_get(r->s, "ship");
  sb_puts(&p.b, "<h1>Checkout</h1>\n");
  steps(&p, 1);
  if (show_missing)
    field_error(&p, "Please choose a shipping method.");
  sb_puts(&p.b, "<form method=\"post\" action=\"/checkout/shipping\" class=\"panel stack\" id=\"shipping-form\">");
  csrf_field(&p);
  sb_puts(&p.b, "<fieldset><legend>Shipping method</legend>");
  for (size_t i = 0; i < 3; i++) {
    sb_printf(&p.b, "<label class=\"check\"><input type=\"radio\" name=\"ship\" value=\"%s\"%s> %s — € ",
              ship_opts[i][0], strcmp(ship, ship_opts[i][0]) == 0 ? " checked" : "",
              ship_opts[i][1]);
    sb_money(&p.b, atoll(ship_opts[i][2]));
    sb_puts(&p.b, "</label>");
  }
  sb_puts(&p.b, "</fieldset>\n<label>Delivery note (optional) <input name=\"note\" maxlength=\"200\" value=\"");
  sb_html(&p.b, co_get(r->s, "note"));
  sb_puts(&p.b, "\"></label>\n");
  nav_buttons(&p, "Back", "Continue");
  sb_puts(&p.b, "</form>\n");
  return page_end(&p, status);
}

enum MHD_Result page_co_shipping(req *r) {
  enum MHD_Result ret;
  if (member_gate(r, 0, &ret))
    return ret;
  return shipping_page(r, 200, 0);
}

enum MHD_Result post_co_shipping(req *r) {
  enum MHD_Result ret;
  const char *go, *ship;
  int st;
  if (member_gate(r, 1, &ret))
    return ret;
  ship = form_get(r, "ship", NULL);
  if (ship != NULL && ship_cost(ship) < 0)
    return reply_html_error(r, 400, "Bad shipping method", "Choose one of the listed methods.");
  if ((st = co_save(r, "ship")) != 0 || (st = co_save(r, "note")) != 0)
    return st == 400 ? reply_html_error(r, 400, "Too long", "A field is longer than 200 characters.")
                     : reply_error(r, 500);
  go = form_get(r, "go", NULL);
  if (go != NULL && strcmp(go, "back") == 0)
    return reply_redirect(r, "/checkout/address");
  if (ship_cost(co_get(r->s, "ship")) < 0)
    return shipping_page(r, 400, 1);
  return reply_redirect(r, "/checkout/review");
}

enum MHD_Result page_co_review(req *r) {
  enum MHD_Result ret;
  page p;
  cart_list c;
  int64_t total = 0, ship;
  int st;
  if (member_gate(r, 0, &ret))
    return ret;
  if (!address_complete(r->s))
    return reply_redirect(r, "/checkout/address");
  ship = ship_cost(co_get(r->s, "ship"));
  if (ship < 0)
    return reply_redirect(r, "/checkout/shipping");
  st = page_start(&p, r, "Checkout: review", "");
  if (st != 0)
    return page_fail(&p, st);
  sb_puts(&p.b, "<h1>Checkout</h1>\n");
  steps(&p, 2);
  cart_get(r->s, &c);
  sb_puts(&p.b, "<section class=\"panel\" id=\"review\"><h2>Deliver to</h2><address>");
  for (size_t i = 0; i < N_ADDR; i++) {
    sb_html(&p.b, co_get(r->s, addr_fields[i][0]));
    sb_puts(&p.b, "<br>");
  }
  sb_puts(&p.b, "</address><h2>Shipping</h2><p>");
  for (size_t i = 0; i < 3; i++)
    if (strcmp(co_get(r->s, "ship"), ship_opts[i][0]) == 0)
      sb_puts(&p.b, ship_opts[i][1]);
  if (*co_get(r->s, "note")) {
    sb_puts(&p.b, " — “");
    sb_html(&p.b, co_get(r->s, "note"));
    sb_puts(&p.b, "”");
  }
  sb_puts(&p.b, "</p><h2>Items</h2>");
  if (c.n == 0) {
    sb_puts(&p.b, "<p class=\"empty\">Your cart is empty. <a href=\"/\">See the products</a>.</p>");
  } else {
    cart_table(&p, &c, &total);
    sb_puts(&p.b, "<p class=\"grand\">Shipping € ");
    sb_money(&p.b, ship);
    sb_puts(&p.b, " — to pay <strong id=\"grand-total\">€ ");
    sb_money(&p.b, total + ship);
    sb_puts(&p.b, "</strong></p>");
  }
  sb_puts(&p.b, "</section>\n<div class=\"row\"><form method=\"post\" action=\"/checkout/review\">");
  csrf_field(&p);
  sb_puts(&p.b, "<button type=\"submit\" name=\"go\" value=\"back\" class=\"secondary\">Back</button></form>");
  if (c.n > 0) {
    sb_puts(&p.b, "<form method=\"post\" action=\"/checkout/place\">");
    csrf_field(&p);
    sb_puts(&p.b, "<button type=\"submit\" id=\"place-order\">Place order</button></form>");
  }
  sb_puts(&p.b, "</div>\n");
  return page_end(&p, 200);
}

enum MHD_Result post_co_review(req *r) {
  enum MHD_Result ret;
  const char *go;
  if (member_gate(r, 1, &ret))
    return ret;
  go = form_get(r, "go", NULL);
  if (go != NULL && strcmp(go, "back") == 0)
    return reply_redirect(r, "/checkout/shipping");
  return reply_redirect(r, "/checkout/review");
}

enum MHD_Result post_co_place(req *r) {
  enum MHD_Result ret;
  cart_list c;
  char msg[200];
  int64_t items = 0;
  if (member_gate(r, 1, &ret))
    return ret;
  cart_get(r->s, &c);
  if (c.n == 0) {
    sessio_flash_set(r->s, "notice", "Your cart is empty.");
    return reply_redirect(r, "/cart");
  }
  if (!address_complete(r->s))
    return reply_redirect(r, "/checkout/address");
  if (ship_cost(co_get(r->s, "ship")) < 0)
    return reply_redirect(r, "/checkout/shipping");
  for (size_t i = 0; i < c.n; i++)
    items += c.l[i].qty;
  snprintf(msg, sizeof msg, "Thank you! Order %06u is placed: %lld item%s on the way.",
           (unsigned)randombytes_uniform(1000000), (long long)items, items == 1 ? "" : "s");
  if (sessio_delete_prefix(r->s, "cart.") != SESSIO_OK ||
      sessio_delete_prefix(r->s, "co.") != SESSIO_OK ||
      sessio_flash_set(r->s, "notice", msg) != SESSIO_OK)
    return reply_error(r, 500);
  return reply_redirect(r, "/");
}

/* ---- account: sessions ---------------------------------------------------------------- */

enum MHD_Result page_sessions(req *r) {
  enum MHD_Result ret;
  page p;
  sessio_session_info *list = NULL;
  size_t n = 0;
  const char *cur;
  sessio_err e;
  int st;
  if (member_gate(r, 0, &ret))
    return ret;
  e = sessio_manager_user_sessions(r->shop->mgr, sessio_user(r->s), r->now, &list, &n);
  if (e != SESSIO_OK)
    return reply_error(r, e == SESSIO_ENOMEM ? 500 : 503);
  st = page_start(&p, r, "Your sessions", "/account/sessions");
  if (st != 0) {
    free(list);
    return page_fail(&p, st);
  }
  cur = sessio_handle(r->s);
  sb_puts(&p.b, "<h1>Where you are signed in</h1>\n<table class=\"sessions\" id=\"sessions\">"
                "<thead><tr><th>Device</th><th>Signed in</th><th>Last seen</th><th>Expires</th>"
                "<th></th></tr></thead><tbody>\n");
  for (size_t i = 0; i < n; i++) {
    int is_cur = cur != NULL && strcmp(cur, list[i].handle) == 0;
    sb_printf(&p.b, "<tr data-handle=\"%s\"%s><td>", list[i].handle, is_cur ? " class=\"current\"" : "");
    sb_html(&p.b, list[i].label[0] ? list[i].label : "unknown client");
    if (is_cur)
      sb_puts(&p.b, " <span class=\"badge\">this device</span>");
    if (list[i].remember)
      sb_puts(&p.b, " <span class=\"badge muted\">remembered</span>");
    sb_puts(&p.b, "</td><td>");
    sb_time(&p.b, list[i].created_at);
    sb_puts(&p.b, "</td><td>");
    sb_time(&p.b, list[i].last_seen);
    sb_puts(&p.b, "</td><td>");
    sb_time(&p.b, list[i].expires_at);
    sb_puts(&p.b, "</td><td>");
    if (!is_cur) {
      sb_puts(&p.b, "<form method=\"post\" action=\"/account/sessions/revoke\" class=\"inline\">");
      csrf_field(&p);
      sb_printf(&p.b, "<input type=\"hidden\" name=\"handle\" value=\"%s\">"
                      "<button type=\"submit\" class=\"link\">Sign out</button></form>",
                list[i].handle);
    }
    sb_puts(&p.b, "</td></tr>\n");
  }
  sb_puts(&p.b, "</tbody></table>\n");
  if (n > 1) {
    sb_puts(&p.b, "<form method=\"post\" action=\"/account/sessions/revoke\" class=\"actions\">");
    csrf_field(&p);
    sb_puts(&p.b, "<input type=\"hidden\" name=\"others\" value=\"1\">"
                  "<button type=\"submit\" id=\"revoke-others\">Sign out everywhere else</button></form>\n");
  }
  free(list);
  return page_end(&p, 200);
}

enum MHD_Result post_sessions_revoke(req *r) {
  enum MHD_Result ret;
  const char *handle, *others, *cur;
  size_t revoked = 0;
  sessio_err e;
  char msg[80];
  if (member_gate(r, 1, &ret))
    return ret;
  handle = form_get(r, "handle", NULL);
  others = form_get(r, "others", NULL);
  cur = sessio_handle(r->s);
  if (others != NULL && strcmp(others, "1") == 0) {
    e = sessio_manager_revoke_all(r->shop->mgr, sessio_user(r->s), cur, r->now, &revoked);
  } else if (handle != NULL && handle_valid(handle)) {
    if (cur != NULL && strcmp(handle, cur) == 0) {
      if (sessio_destroy(r->s) != SESSIO_OK)
        return reply_error(r, 500);
      return reply_redirect(r, "/");
    }
    e = sessio_manager_revoke_one(r->shop->mgr, sessio_user(r->s), handle, r->now, &revoked);
  } else {
    return reply_html_error(r, 400, "Bad request", "Choose a session to sign out.");
  }
  if (e != SESSIO_OK)
    return reply_error(r, e == SESSIO_ENOMEM ? 500 : 503);
  snprintf(msg, sizeof msg, "Signed out %zu other session%s.", revoked, revoked == 1 ? "" : "s");
  sessio_flash_set(r->s, "notice", msg);
  return reply_redirect(r, "/account/sessions");
}
