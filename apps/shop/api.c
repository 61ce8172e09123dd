/*
 * api.c — sessio-shop's JSON API (/api/...), the pages' semantics for scripts.
 * Writes check 415 (content type), then 403 (CSRF token, or cross-site when
 * no session exists), then 400 (body), so a refused request creates nothing.
 * Bodies are parsed with cJSON; answers are written straight into a buffer.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shop.h"

#define XSITE 1403 /* internal: 403 for a cross-site request */

static enum MHD_Result api_fail(req *r, int st) {
  if (st == XSITE) return reply_json_error(r, 403, "cross-site request");
  if (st == 403) return reply_json_error(r, 403, "csrf");
  if (st == 1401) /* REAUTH */
    return reply_json_error(r, 401, "reauthenticate");
  return reply_error(r, (unsigned)st);
}

static int token_ok(req *r) {
  const char *tok;
  if (!sessio_csrf_required(r->s)) /* S30: a bearer session */
    return 1;
  tok = req_header(r, "X-CSRF-Token");
  return tok != NULL && sessio_csrf_check(r->s, tok, strlen(tok));
}

/* The gate of every API write: 415 when 'json' and the body is not
 * application/json, the session loads (431, 503), then a session's CSRF
 * token (403) or, when the request would create a session, same-site
 * (XSITE). 0 to go on. */
static int api_gate(req *r, int json) {
  int st;
  if (json && !req_is_json(r)) return 415;
  st = req_session(r);
  if (st != 0) return st;
  if (sessio_exists(r->s)) {
    if (!token_ok(r)) return 403;
  } else if (req_cross_site(r)) {
    return XSITE;
  }
  return 0;
}

/* The start of the JSON writes: api_gate(r, 1) passes and the body is a JSON
 * object (400). Returns the object (parse.c), which the caller cJSON_Delete()s,
 * or NULL when it has answered (*ret). */
static cJSON *api_json_body(req *r, enum MHD_Result *ret) {
  cJSON *j = NULL;
  int st = api_gate(r, 1);
  if (st != 0)
    *ret = api_fail(r, st);
  else if ((j = shop_json_object(r->body, r->body_len)) == NULL)
    *ret = reply_json_error(r, 400, "body must be a JSON object");
  return j;
}

/* ---- JSON writers ------------------------------------------------------------ */

struct cart_ctx {
  sbuf *b;
  int64_t items;
  int first;
};

static int cart_item(void *ud, const char *key, sessio_type type,
                     const void *val, size_t len, int64_t ival) {
  struct cart_ctx *c = ud;
  (void)val;
  (void)len;
  if (type != SESSIO_T_INT || ival <= 0) return 0;
  if (!c->first) sb_add(c->b, ",", 1);
  c->first = 0;
  sb_json_str(c->b, key + 5);
  sb_add(c->b, ":", 1);
  sb_int(c->b, ival);
  c->items += ival;
  return 0;
}

/* Writes {"sku":qty,...} and returns the total quantity. */
static int64_t write_cart(sbuf *b, const sessio *s) {
  struct cart_ctx c = {b, 0, 1};
  sb_add(b, "{", 1);
  if (s != NULL && sessio_exists(s)) sessio_iterate(s, "cart.", cart_item, &c);
  sb_add(b, "}", 1);
  return c.items;
}

struct pref_ctx {
  sbuf *b;
  int first;
};

static int pref_item(void *ud, const char *key, sessio_type type,
                     const void *val, size_t len, int64_t ival) {
  struct pref_ctx *c = ud;
  (void)len;
  (void)ival;
  if (type != SESSIO_T_STR) return 0;
  if (!c->first) sb_add(c->b, ",", 1);
  c->first = 0;
  sb_json_str(c->b, key + 5);
  sb_add(c->b, ":", 1);
  sb_json_str(c->b, (const char *)val);
  return 0;
}

static void write_prefs(sbuf *b, const sessio *s) {
  struct pref_ctx c = {b, 1};
  sb_add(b, "{", 1);
  if (s != NULL && sessio_exists(s)) sessio_iterate(s, "pref.", pref_item, &c);
  sb_add(b, "}", 1);
}

static void write_str_or_null(sbuf *b, const char *s) {
  if (s == NULL)
    sb_puts(b, "null");
  else
    sb_json_str(b, s);
}

/* {"cart":{...},"items":N,"csrf":T} after a commit. */
static enum MHD_Result reply_cart(req *r) {
  char inl[1024];
  sbuf b;
  enum MHD_Result ret;
  int64_t items;
  sb_init(&b, inl, sizeof inl);
  sb_add(&b, "{\"cart\":", 8);
  items = write_cart(&b, r->s);
  sb_add(&b, ",\"items\":", 9);
  sb_int(&b, items);
  sb_add(&b, ",\"csrf\":", 8);
  write_str_or_null(&b, r->s ? sessio_csrf_token(r->s) : NULL);
  sb_add(&b, "}", 1);
  ret = reply_json(r, 200, &b);
  sb_free(&b);
  return ret;
}

/* ---- handlers -------------------------------------------------------------------- */

enum MHD_Result api_session(req *r) {
  char inl[1024];
  sbuf b;
  enum MHD_Result ret;
  const char *user;
  int st = req_session(r);
  if (st != 0) return api_fail(r, st);
  user = sessio_user(r->s);
  sb_init(&b, inl, sizeof inl);
  sb_puts(&b, sessio_is_authenticated(r->s)
                  ? "{\"authenticated\":true,\"user\":"
                  : "{\"authenticated\":false,\"user\":");
  write_str_or_null(&b, user);
  sb_add(&b, ",\"csrf\":", 8);
  write_str_or_null(&b, sessio_csrf_token(r->s));
  sb_add(&b, ",\"cart\":", 8);
  write_cart(&b, r->s);
  sb_add(&b, ",\"prefs\":", 9);
  write_prefs(&b, r->s);
  sb_add(&b, "}", 1);
  ret = reply_json(r, 200, &b);
  sb_free(&b);
  return ret;
}

enum MHD_Result api_cart_add(req *r) {
  cJSON *j;
  const cJSON *sku, *qty;
  int q = 0;
  char key[8 + SHOP_SKU_MAX];
  sessio_err e;
  enum MHD_Result ret;
  int st;
  j = api_json_body(r, &ret);
  if (j == NULL) return ret;
  sku = cJSON_GetObjectItemCaseSensitive(j, "sku");
  qty = cJSON_GetObjectItemCaseSensitive(j, "qty");
  if (!cJSON_IsString(sku) || !shop_sku_ok(sku->valuestring)) {
    cJSON_Delete(j);
    return reply_json_error(
        r, 400, "sku must be a string of 1 to 32 printable characters");
  }
  if (!shop_json_int(qty, 1, SHOP_QTY_MAX, &q)) {
    cJSON_Delete(j);
    return reply_json_error(r, 400, "qty must be an integer from 1 to 99");
  }
  snprintf(key, sizeof key, "cart.%s", sku->valuestring);
  cJSON_Delete(j);
  e = sessio_incr(r->s, key, q, NULL);
  if (e != SESSIO_OK) {
    if (e == SESSIO_ETOOBIG)
      return reply_json_error(r, 413, "session too large");
    if (e == SESSIO_EINVAL || e == SESSIO_ETYPE || e == SESSIO_EOVERFLOW)
      return reply_json_error(r, 400, "cannot add this sku");
    return api_fail(r, 500);
  }
  st = req_commit(r);
  if (st != 0) return api_fail(r, st);
  return reply_cart(r);
}

enum MHD_Result api_cart_delete(req *r) {
  const char *sku = r->url + strlen("/api/cart/");
  char key[8 + SHOP_SKU_MAX];
  int st = req_session(r);
  if (st != 0) return api_fail(r, st);
  if (sessio_exists(r->s)) {
    if (!token_ok(r)) return api_fail(r, 403);
    if (!shop_sku_ok(sku)) return reply_json_error(r, 400, "bad sku");
    snprintf(key, sizeof key, "cart.%s", sku);
    if (sessio_delete(r->s, key) != SESSIO_OK) return api_fail(r, 500);
    st = req_commit(r);
    if (st != 0) return api_fail(r, st);
  } else if (!shop_sku_ok(sku)) {
    return reply_json_error(r, 400, "bad sku");
  }
  return reply_cart(r);
}

static int theme_ok(const char *t) {
  return !strcmp(t, "light") || !strcmp(t, "dark");
}
static int lang_ok(const char *l) {
  return !strcmp(l, "en") || !strcmp(l, "fr") || !strcmp(l, "de");
}

enum MHD_Result api_prefs(req *r) {
  cJSON *j;
  const cJSON *theme, *lang;
  char inl[512];
  sbuf b;
  enum MHD_Result ret;
  int st;
  j = api_json_body(r, &ret);
  if (j == NULL) return ret;
  theme = cJSON_GetObjectItemCaseSensitive(j, "theme");
  lang = cJSON_GetObjectItemCaseSensitive(j, "lang");
  if ((theme == NULL && lang == NULL) ||
      (theme && (!cJSON_IsString(theme) || !theme_ok(theme->valuestring))) ||
      (lang && (!cJSON_IsString(lang) || !lang_ok(lang->valuestring)))) {
    cJSON_Delete(j);
    return reply_json_error(r, 400,
                            "theme must be light or dark, lang en, fr or de");
  }
  if ((theme &&
       sessio_set_str(r->s, "pref.theme", theme->valuestring) != SESSIO_OK) ||
      (lang &&
       sessio_set_str(r->s, "pref.lang", lang->valuestring) != SESSIO_OK)) {
    cJSON_Delete(j);
    return api_fail(r, 500);
  }
  cJSON_Delete(j);
  st = req_commit(r);
  if (st != 0) return api_fail(r, st);
  sb_init(&b, inl, sizeof inl);
  sb_puts(&b, "{\"prefs\":");
  write_prefs(&b, r->s);
  sb_puts(&b, ",\"csrf\":");
  write_str_or_null(&b, r->s ? sessio_csrf_token(r->s) : NULL);
  sb_puts(&b, "}");
  ret = reply_json(r, 200, &b);
  sb_free(&b);
  return ret;
}

enum MHD_Result api_login(req *r) {
  cJSON *j;
  const cJSON *user, *pw, *rem, *tr;
  int remember = 0;
  char inl[512];
  sbuf b;
  enum MHD_Result ret;
  sessio_err e;
  /* Sign-in is a state change like any other (a forged login would sign
   * the victim in as the attacker): a session's token is needed once a
   * session exists, else the same-site check. */
  int st;
  j = api_json_body(r, &ret);
  if (j == NULL) return ret;
  user = cJSON_GetObjectItemCaseSensitive(j, "user");
  pw = cJSON_GetObjectItemCaseSensitive(j, "password");
  rem = cJSON_GetObjectItemCaseSensitive(j, "remember");
  tr = cJSON_GetObjectItemCaseSensitive(j, "transport");
  if (!cJSON_IsString(user) || !cJSON_IsString(pw) ||
      (rem != NULL && !cJSON_IsBool(rem) && !cJSON_IsNull(rem)) ||
      (tr != NULL && !cJSON_IsNull(tr) &&
       (!cJSON_IsString(tr) || (strcmp(tr->valuestring, "token") != 0 &&
                                strcmp(tr->valuestring, "cookie") != 0)))) {
    cJSON_Delete(j);
    return reply_json_error(
        r, 400,
        "user and password must be strings, remember a boolean, "
        "transport \"token\" or \"cookie\"");
  }
  if (cJSON_IsString(tr) && strcmp(tr->valuestring, "token") == 0) {
    /* S30: the new ID goes in X-Session-Token and the answer, never in a
     * cookie; a request that carried the session cookie cannot switch. */
    sessio_err te = sessio_use_token(r->s);
    if (te != SESSIO_OK) {
      cJSON_Delete(j);
      return reply_json_error(r, 400,
                              te == SESSIO_ENOTSUP
                                  ? "token transport is off (--tokens)"
                                  : "a cookie session cannot become a token: "
                                    "sign in without the cookie");
    }
  }
  remember = cJSON_IsTrue(rem);
  st = user->valuestring[0] == '\0' ||
               strlen(user->valuestring) > SESSIO_USER_MAX
           ? LOGIN_BAD
           : login_check(r, user->valuestring, pw->valuestring);
  if (st != LOGIN_OK) {
    cJSON_Delete(j);
    switch (st) {
    case LOGIN_PENDING: return MHD_YES; /* called again once checked (S27) */
    case LOGIN_LIMITED:
      shop_log(LOG_INFO, "msg=\"login refused: too many attempts\"");
      return reply_json_error(r, 429, "too many attempts"); /* S28 */
    case LOGIN_BUSY: return reply_json_error(r, 503, "busy, try again");
    case LOGIN_ERROR: return api_fail(r, 500);
    default:
      shop_log(LOG_INFO, "msg=\"login failed\"");
      return reply_json_error(r, 401, "credentials");
    }
  }
  e = sessio_login(r->s, user->valuestring, remember, r->now);
  cJSON_Delete(j);
  if (e != SESSIO_OK) return api_fail(r, e == SESSIO_ENOMEM ? 500 : 503);
  {
    const char *ua = req_header(r, MHD_HTTP_HEADER_USER_AGENT);
    sessio_set_label(r->s, ua && *ua ? ua : "unknown client");
  }
  st = req_commit(r);
  if (st != 0) return api_fail(r, st);
  sb_init(&b, inl, sizeof inl);
  sb_puts(&b, "{");
  if (sessio_token_header(r->s) != NULL) { /* S30 */
    sb_puts(&b, "\"token\":");
    sb_json_str(&b, sessio_token_header(r->s));
    sb_puts(&b, ",");
  }
  sb_puts(&b, "\"user\":");
  write_str_or_null(&b, sessio_user(r->s));
  sb_puts(&b, ",\"csrf\":");
  write_str_or_null(&b, sessio_csrf_token(r->s));
  sb_puts(&b, "}");
  ret = reply_json(r, 200, &b);
  sb_free(&b);
  return ret;
}

enum MHD_Result api_logout(req *r) {
  int st = api_gate(r, 0);
  if (st != 0 && st != XSITE) return api_fail(r, st);
  /* No session (or cross-site without one): nothing to end. */
  if (sessio_exists(r->s) && sessio_destroy(r->s) != SESSIO_OK)
    return api_fail(r, 500);
  return reply(r, 204, NULL, "", 0);
}

enum MHD_Result api_sessions(req *r) {
  sessio_session_info *list = NULL;
  size_t n = 0;
  const char *cur;
  char inl[2048];
  sbuf b;
  enum MHD_Result ret;
  sessio_err e;
  int st = req_session(r);
  if (st != 0) return api_fail(r, st);
  if (!sessio_is_authenticated(r->s))
    return reply_json_error(r, 401, "unauthenticated");
  e = sessio_manager_user_sessions(r->shop->mgr, sessio_user(r->s), r->now,
                                   &list, &n);
  if (e != SESSIO_OK) return api_fail(r, e == SESSIO_ENOMEM ? 500 : 503);
  cur = sessio_handle(r->s);
  sb_init(&b, inl, sizeof inl);
  sb_puts(&b, "{\"sessions\":[");
  for (size_t i = 0; i < n; i++) {
    sb_printf(&b,
              "%s{\"handle\":\"%s\",\"created_at\":%lld,\"last_seen\":%lld,"
              "\"expires_at\":%lld,\"remember\":%s,\"current\":%s,\"info\":",
              i ? "," : "", list[i].handle, (long long)list[i].created_at,
              (long long)list[i].last_seen, (long long)list[i].expires_at,
              list[i].remember ? "true" : "false",
              cur && strcmp(cur, list[i].handle) == 0 ? "true" : "false");
    sb_json_str(&b, list[i].label);
    sb_puts(&b, "}");
  }
  sb_puts(&b, "]}");
  free(list);
  ret = reply_json(r, 200, &b);
  sb_free(&b);
  return ret;
}

#define REAUTH 1401 /* internal: 401, the password is needed again (S8) */

/* The common start of the two revoking calls: signed in (401), token (403),
 * a password proved within --reauth-after (401 "reauthenticate": POST
 * /api/login again as the same user, which keeps the session's data). */
static int revoke_gate(req *r) {
  int st = req_session(r);
  if (st != 0) return st;
  if (!sessio_is_authenticated(r->s)) return 401;
  if (!token_ok(r)) return 403;
  if (req_cross_site(r)) return XSITE;
  if (r->shop->reauth_ms > 0 &&
      sessio_auth_age(r->s, r->now) > r->shop->reauth_ms)
    return REAUTH;
  return 0;
}

static enum MHD_Result reply_revoked(req *r, size_t n) {
  char body[48];
  int len = snprintf(body, sizeof body, "{\"revoked\":%zu}", n);
  return reply(r, 200, "application/json", body, (size_t)len);
}

enum MHD_Result api_sessions_delete(req *r) {
  const char *others = req_query(r, "others");
  size_t n = 0;
  sessio_err e;
  int st = revoke_gate(r);
  if (st != 0) return api_fail(r, st);
  if (others == NULL || strcmp(others, "1") != 0)
    return reply_json_error(r, 400, "use ?others=1 to end every other session");
  e = sessio_manager_revoke_all(r->shop->mgr, sessio_user(r->s),
                                sessio_handle(r->s), r->now, &n);
  if (e != SESSIO_OK) return api_fail(r, e == SESSIO_ENOMEM ? 500 : 503);
  return reply_revoked(r, n);
}

enum MHD_Result api_session_delete(req *r) {
  const char *handle = r->url + strlen("/api/sessions/");
  const char *cur;
  size_t n = 0;
  sessio_err e;
  int st = revoke_gate(r);
  if (st != 0) return api_fail(r, st);
  if (!handle_valid(handle)) return reply_json_error(r, 404, "no such session");
  cur = sessio_handle(r->s);
  if (cur != NULL && strcmp(cur, handle) == 0) {
    if (sessio_destroy(r->s) != SESSIO_OK) return api_fail(r, 500);
    return reply_revoked(r, 1);
  }
  e = sessio_manager_revoke_one(r->shop->mgr, sessio_user(r->s), handle, r->now,
                                &n);
  if (e != SESSIO_OK) return api_fail(r, e == SESSIO_ENOMEM ? 500 : 503);
  if (n == 0) return reply_json_error(r, 404, "no such session");
  return reply_revoked(r, n);
}
