/*
 * test_token.c — the header-token transport (S30) against the memory
 * store: a bearer token carries the session, new IDs go out in
 * X-Session-Token and never in a cookie, a cookie and a token together
 * adopt neither, CSRF only for cookies, and timeouts, strict mode, login,
 * logout and revocation as for cookies. Time is injected; nothing sleeps.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "sessio.h"

#define T0 1700000000000LL
#define SEC 1000LL
#define MIN (60 * SEC)

typedef struct fx {
  sessio_store *st;
  sessio_manager *m;
} fx;

static void fx_init(fx *f, int tokens) {
  sessio_config *cfg;
  memset(f, 0, sizeof *f);
  if (sessio_store_open("memory:", &f->st) != SESSIO_OK ||
      sessio_config_new(&cfg) != SESSIO_OK)
    abort();
  sessio_config_set_store(cfg, f->st);
  sessio_config_set_token_transport(cfg, tokens);
  if (sessio_manager_new(cfg, &f->m) != SESSIO_OK) abort();
  sessio_config_free(cfg);
}

static void fx_done(fx *f) {
  sessio_manager_free(f->m);
  sessio_store_close(f->st);
}

/* Begins a request with an optional Cookie header, bearer token and
 * X-Session-Transport value. */
static sessio *begin(fx *f, const char *cookie, const char *token,
                     const char *transport, int64_t now) {
  char auth[128];
  const char *h[1] = {cookie};
  sessio *s = NULL;
  if (token) snprintf(auth, sizeof auth, "Bearer %s", token);
  sessio_err rc = sessio_begin_token(
      f->m, h, cookie ? 1 : 0, token ? auth : NULL, transport, 0, now, &s);
  if (rc != SESSIO_OK) {
    fprintf(stderr, "begin: %s\n", sessio_errname(rc));
    abort();
  }
  return s;
}

/* Commits and frees; copies the X-Session-Token value into 'tok' ("" when
 * none) and checks no Set-Cookie went out. */
static void commit_token(sessio *s, int64_t now, char tok[SESSIO_ID_LEN + 1]) {
  CHECK_OK(sessio_commit(s, now));
  CHECK(sessio_cookie_header(s) == NULL);
  const char *t = sessio_token_header(s);
  snprintf(tok, SESSIO_ID_LEN + 1, "%s", t ? t : "");
  sessio_free(s);
}

/* A token client's session: made with "X-Session-Transport: token". */
static void make_token_session(fx *f, char tok[SESSIO_ID_LEN + 1]) {
  sessio *s = begin(f, NULL, NULL, "token", T0);
  CHECK(sessio_uses_token(s));
  CHECK_OK(sessio_incr(s, "cart.A1", 1, NULL));
  commit_token(s, T0, tok);
}

static void test_new_id_goes_in_token_header_never_in_cookie_S30(void) {
  fx f;
  char tok[SESSIO_ID_LEN + 1], again[SESSIO_ID_LEN + 1];
  fx_init(&f, 1);
  make_token_session(&f, tok);
  CHECK_INT(strlen(tok), SESSIO_ID_LEN);
  CHECK(sessio_id_valid(tok, strlen(tok)));

  /* The bearer token carries it; unchanged, nothing is sent again. */
  sessio *s = begin(&f, NULL, tok, NULL, T0 + SEC);
  int64_t v = 0;
  CHECK(sessio_get_int(s, "cart.A1", &v));
  CHECK_INT(v, 1);
  CHECK(sessio_uses_token(s));
  CHECK_OK(sessio_incr(s, "cart.A1", 1, NULL));
  commit_token(s, T0 + SEC, again);
  CHECK_STR(again, "");

  /* The scheme is case-insensitive, blanks around the value are not part
   * of it. */
  char auth[128];
  snprintf(auth, sizeof auth, "bearer   %s  ", tok);
  CHECK_OK(sessio_begin_token(f.m, NULL, 0, auth, NULL, 0, T0 + 2 * SEC, &s));
  CHECK(sessio_get_int(s, "cart.A1", &v));
  CHECK_INT(v, 2);
  sessio_free(s);

  /* Another scheme is not a session. */
  CHECK_OK(sessio_begin_token(f.m, NULL, 0, "Basic YWxpY2U6eA==", NULL, 0,
                              T0 + 2 * SEC, &s));
  CHECK(!sessio_exists(s));
  CHECK_INT(sessio_rejected_ids(s), 0);
  sessio_free(s);
  fx_done(&f);
}

static void test_cookie_and_bearer_together_adopt_neither_S30(void) {
  fx f;
  char tok[SESSIO_ID_LEN + 1], cookie[128];
  fx_init(&f, 1);
  make_token_session(&f, tok);
  snprintf(cookie, sizeof cookie, "sid=%s", tok);
  char auth[128];
  snprintf(auth, sizeof auth, "Bearer %s", tok);
  const char *h[1] = {cookie};
  sessio *s = (sessio *)&f; /* must be set to NULL */
  CHECK_INT(sessio_begin_token(f.m, h, 1, auth, NULL, 0, T0 + SEC, &s),
            SESSIO_ETRANSPORT);
  CHECK(s == NULL);
  /* Any value under the cookie name counts, a malformed one too. */
  const char *junk[1] = {"a=b; sid=not-an-id"};
  CHECK_INT(sessio_begin_token(f.m, junk, 1, auth, "token", 0, T0 + SEC, &s),
            SESSIO_ETRANSPORT);
  CHECK(s == NULL);
  /* Another cookie is no conflict. */
  const char *other[1] = {"theme=dark"};
  CHECK_OK(sessio_begin_token(f.m, other, 1, auth, NULL, 0, T0 + SEC, &s));
  CHECK(sessio_exists(s));
  sessio_free(s);
  fx_done(&f);
}

static void test_headers_are_ignored_without_token_transport_S30(void) {
  fx f, g;
  char tok[SESSIO_ID_LEN + 1];
  fx_init(&f, 1);
  fx_init(&g, 0);
  make_token_session(&f, tok);
  char auth[128], cookie[128];
  snprintf(auth, sizeof auth, "Bearer %s", tok);
  snprintf(cookie, sizeof cookie, "sid=%s", tok);
  const char *h[1] = {cookie};
  sessio *s;
  /* Off: a bearer is not read, a cookie with it is no conflict, and a new
   * session goes in a cookie whatever the client asks. */
  CHECK_OK(sessio_begin_token(g.m, h, 1, auth, "token", 0, T0, &s));
  CHECK(!sessio_uses_token(s));
  CHECK(sessio_csrf_required(s));
  CHECK_INT(sessio_use_token(s), SESSIO_ENOTSUP);
  CHECK_OK(sessio_set_int(s, "x", 1));
  CHECK_OK(sessio_commit(s, T0));
  CHECK(sessio_cookie_header(s) != NULL);
  CHECK(sessio_token_header(s) == NULL);
  sessio_free(s);
  fx_done(&g);
  fx_done(&f);
}

static void test_csrf_needed_for_cookie_sessions_only_S30(void) {
  fx f;
  char tok[SESSIO_ID_LEN + 1];
  fx_init(&f, 1);
  /* A cookie session always needs it, also when the client asks for the
   * token transport: its ID never moves into a header. */
  sessio *s = begin(&f, NULL, NULL, NULL, T0);
  CHECK(sessio_csrf_required(s));
  CHECK_OK(sessio_set_int(s, "x", 1));
  CHECK_OK(sessio_commit(s, T0));
  const char *sc = sessio_cookie_header(s);
  CHECK(sc != NULL);
  char cookie[128];
  snprintf(cookie, sizeof cookie, "%.*s", (int)strcspn(sc, ";"), sc);
  CHECK(sessio_token_header(s) == NULL);
  sessio_free(s);

  s = begin(&f, cookie, NULL, "token", T0 + SEC);
  CHECK(sessio_exists(s));
  CHECK(!sessio_uses_token(s));
  CHECK(sessio_csrf_required(s));
  CHECK_INT(sessio_use_token(s), SESSIO_ESTATE);
  CHECK_OK(sessio_login(s, "alice", 0, T0 + SEC));
  CHECK_OK(sessio_commit(s, T0 + SEC));
  CHECK(sessio_cookie_header(s) != NULL);
  CHECK(sessio_token_header(s) == NULL);
  sessio_free(s);

  /* A token session never needs it. */
  make_token_session(&f, tok);
  s = begin(&f, NULL, tok, NULL, T0 + 2 * SEC);
  CHECK(sessio_exists(s));
  CHECK(!sessio_csrf_required(s));
  sessio_free(s);
  fx_done(&f);
}

static void test_login_gives_a_new_token_and_kills_the_old_S30(void) {
  fx f;
  char tok[SESSIO_ID_LEN + 1], tok2[SESSIO_ID_LEN + 1], none[SESSIO_ID_LEN + 1];
  fx_init(&f, 1);
  make_token_session(&f, tok);
  sessio *s = begin(&f, NULL, tok, NULL, T0 + SEC);
  CHECK_OK(sessio_login(s, "alice", 0, T0 + SEC));
  commit_token(s, T0 + SEC, tok2);
  CHECK_INT(strlen(tok2), SESSIO_ID_LEN);
  CHECK(strcmp(tok, tok2) != 0);
  s = begin(&f, NULL, tok, NULL, T0 + 2 * SEC);
  CHECK(!sessio_exists(s)); /* S6: dead at once */
  CHECK_INT(sessio_rejected_ids(s), 1);
  sessio_free(s);
  s = begin(&f, NULL, tok2, NULL, T0 + 2 * SEC);
  CHECK_STR(sessio_user(s), "alice");
  int64_t v = 0;
  CHECK(sessio_get_int(s, "cart.A1", &v) && v == 1); /* the guest cart */
  /* Logout: nothing is sent, the token is dead. */
  CHECK_OK(sessio_destroy(s));
  commit_token(s, T0 + 2 * SEC, none);
  CHECK_STR(none, "");
  s = begin(&f, NULL, tok2, NULL, T0 + 3 * SEC);
  CHECK(!sessio_exists(s));
  sessio_free(s);

  /* A login asked for by the API (sessio_use_token) on a fresh request. */
  s = begin(&f, NULL, NULL, NULL, T0 + 4 * SEC);
  CHECK(!sessio_uses_token(s));
  CHECK_OK(sessio_use_token(s));
  CHECK_OK(sessio_login(s, "bob", 1, T0 + 4 * SEC));
  commit_token(s, T0 + 4 * SEC, tok);
  CHECK_INT(strlen(tok), SESSIO_ID_LEN);
  /* Revocation ends it like a cookie session. */
  size_t n = 0;
  CHECK_OK(sessio_manager_revoke_all(f.m, "bob", NULL, T0 + 5 * SEC, &n));
  CHECK_INT(n, 1);
  s = begin(&f, NULL, tok, NULL, T0 + 6 * SEC);
  CHECK(!sessio_exists(s));
  sessio_free(s);
  fx_done(&f);
}

static void test_timeouts_and_strict_mode_hold_for_tokens_S30(void) {
  fx f;
  char tok[SESSIO_ID_LEN + 1], made[SESSIO_ID_LEN + 1], out[SESSIO_ID_LEN + 1];
  fx_init(&f, 1);
  make_token_session(&f, tok);
  /* Idle 30 min by default: at the edge it is gone. */
  sessio *s = begin(&f, NULL, tok, NULL, T0 + 30 * MIN - 1);
  CHECK(sessio_exists(s));
  sessio_free(s);
  s = begin(&f, NULL, tok, NULL, T0 + 30 * MIN);
  CHECK(!sessio_exists(s));
  sessio_free(s);

  /* S5: a made-up token of the right form is never adopted; the session
   * made next gets a fresh ID, sent as a token. */
  CHECK_OK(sessio_id_generate(made));
  s = begin(&f, NULL, made, NULL, T0);
  CHECK(!sessio_exists(s));
  CHECK_INT(sessio_rejected_ids(s), 1);
  CHECK(sessio_uses_token(s));
  CHECK_OK(sessio_set_int(s, "x", 1));
  commit_token(s, T0, out);
  CHECK_INT(strlen(out), SESSIO_ID_LEN);
  CHECK(strcmp(out, made) != 0);

  /* A malformed one never reaches the store and counts as rejected. */
  s = begin(&f, NULL, "../../etc/passwd", NULL, T0);
  CHECK(!sessio_exists(s));
  CHECK_INT(sessio_rejected_ids(s), 1);
  sessio_free(s);
  fx_done(&f);
}

int main(void) {
  RUN(test_new_id_goes_in_token_header_never_in_cookie_S30);
  RUN(test_cookie_and_bearer_together_adopt_neither_S30);
  RUN(test_headers_are_ignored_without_token_transport_S30);
  RUN(test_csrf_needed_for_cookie_sessions_only_S30);
  RUN(test_login_gives_a_new_token_and_kills_the_old_S30);
  RUN(test_timeouts_and_strict_mode_hold_for_tokens_S30);
  return DONE();
}
