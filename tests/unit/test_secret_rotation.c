/*
 * test_secret_rotation.c — server-secret rotation (S32) on the memory
 * store: a session written under a previous secret is served, re-keyed
 * under the current one at its next commit with the same ID (no cookie
 * sent), the old record gone in that commit, never two live copies, also
 * when two requests race; "no secret" as a previous one; at most three;
 * the check record follows. Time is injected; nothing sleeps.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "sessio.h"

#define T0 1700000000000LL
#define SEC 1000LL
#define MIN (60 * SEC)

static const char S1[] = "the old server secret, 32 bytes!";
static const char S2[] = "the new server secret, 32 bytes!";

/* A manager on 'st' with 'cur' (NULL: none) and up to two previous. */
static sessio_manager *mgr(sessio_store *st, const char *cur, const char *prev,
                           int prev_none) {
  sessio_config *cfg;
  sessio_manager *m;
  if (sessio_config_new(&cfg) != SESSIO_OK) abort();
  sessio_config_set_store(cfg, st);
  if (cur) CHECK_OK(sessio_config_set_secret(cfg, cur, strlen(cur)));
  if (prev)
    CHECK_OK(sessio_config_add_previous_secret(cfg, prev, strlen(prev)));
  if (prev_none) CHECK_OK(sessio_config_add_previous_secret(cfg, NULL, 0));
  if (sessio_manager_new(cfg, &m) != SESSIO_OK) abort();
  sessio_config_free(cfg);
  return m;
}

static sessio *begin(sessio_manager *m, const char *cookie, int64_t now) {
  const char *h[1] = {cookie};
  sessio *s;
  if (sessio_begin(m, h, cookie ? 1 : 0, 0, now, &s) != SESSIO_OK) abort();
  return s;
}

/* alice's session with cart.A1 = 2 under 'm'; its cookie in 'cookie'. */
static void make_session(sessio_manager *m, char *cookie, size_t cap) {
  sessio *s = begin(m, NULL, T0);
  CHECK_OK(sessio_incr(s, "cart.A1", 2, NULL));
  CHECK_OK(sessio_login(s, "alice", 0, T0));
  CHECK_OK(sessio_commit(s, T0));
  const char *sc = sessio_cookie_header(s);
  snprintf(cookie, cap, "%.*s", (int)strcspn(sc, ";"), sc);
  sessio_free(s);
}

static int64_t cart(sessio_manager *m, const char *cookie, int64_t now) {
  sessio *s = begin(m, cookie, now);
  int64_t v = -1;
  if (!sessio_get_int(s, "cart.A1", &v)) v = -1;
  sessio_free(s);
  return v;
}

static uint64_t records(sessio_store *st) {
  struct sessio_store_stats x;
  CHECK_OK(sessio_store_stats(st, &x));
  return x.sessions;
}

static void test_session_under_previous_secret_is_served_and_rekeyed_S32(void) {
  sessio_store *st;
  char cookie[128];
  CHECK_OK(sessio_store_open("memory:", &st));
  sessio_manager *old = mgr(st, S1, NULL, 0);
  sessio_manager *both = mgr(st, S2, S1, 0);
  sessio_manager *next = mgr(st, S2, NULL, 0);
  make_session(old, cookie, sizeof cookie);
  CHECK_INT(cart(next, cookie, T0 + SEC), -1); /* without rotation: lost */

  sessio *s = begin(both, cookie, T0 + SEC);
  CHECK(sessio_exists(s));
  CHECK_STR(sessio_user(s), "alice");
  CHECK_OK(sessio_commit(s, T0 + SEC));
  CHECK(sessio_cookie_header(s) == NULL); /* the ID did not change */
  sessio_free(s);
  CHECK_INT(records(st), 1);                      /* never two copies */
  CHECK_INT(cart(next, cookie, T0 + 2 * SEC), 2); /* under the new key */
  CHECK_INT(cart(old, cookie, T0 + 2 * SEC), -1); /* the old one is gone */
  sessio_session_info *list;
  size_t n;
  CHECK_OK(
      sessio_manager_user_sessions(next, "alice", T0 + 2 * SEC, &list, &n));
  CHECK_INT(n, 1);
  free(list);
  /* Timeouts still hold: idle 30 min from the last commit. */
  CHECK_INT(cart(next, cookie, T0 + SEC + 30 * MIN), -1);
  sessio_manager_free(old);
  sessio_manager_free(both);
  sessio_manager_free(next);
  sessio_store_close(st);
}

/* S19 with S32: the CSRF token is derived from a salt with the server
 * secret, yet a rotation of the secret keeps it (forms rendered before the
 * rotation still submit), at the re-keying commit and after it; another
 * secret alone gives another token, and a login still rotates it. */
static void test_csrf_token_survives_secret_rotation_S19_S32(void) {
  sessio_store *st;
  char cookie[128], tok[SESSIO_CSRF_LEN + 1];
  CHECK_OK(sessio_store_open("memory:", &st));
  sessio_manager *old = mgr(st, S1, NULL, 0);
  sessio_manager *both = mgr(st, S2, S1, 0);
  sessio_manager *next = mgr(st, S2, NULL, 0);
  make_session(old, cookie, sizeof cookie);
  sessio *s = begin(old, cookie, T0 + SEC);
  snprintf(tok, sizeof tok, "%s", sessio_csrf_token(s));
  sessio_free(s);
  CHECK_INT(strlen(tok), SESSIO_CSRF_LEN);

  s = begin(both, cookie, T0 + SEC);
  CHECK_STR(sessio_csrf_token(s), tok);
  CHECK(sessio_csrf_check(s, tok, strlen(tok)));
  CHECK_OK(sessio_commit(s, T0 + SEC));
  sessio_free(s);
  s = begin(next, cookie, T0 + 2 * SEC);
  CHECK(sessio_exists(s));
  CHECK_STR(sessio_csrf_token(s), tok);
  CHECK_OK(sessio_login(s, "alice", 0, T0 + 2 * SEC));
  CHECK(strcmp(sessio_csrf_token(s), tok) != 0);
  sessio_free(s);
  sessio_manager_free(old);
  sessio_manager_free(both);
  sessio_manager_free(next);
  sessio_store_close(st);
}

static void test_two_requests_racing_to_rekey_lose_nothing_S32(void) {
  sessio_store *st;
  char cookie[128];
  CHECK_OK(sessio_store_open("memory:", &st));
  sessio_manager *old = mgr(st, S1, NULL, 0);
  sessio_manager *both = mgr(st, S2, S1, 0);
  make_session(old, cookie, sizeof cookie);
  sessio *a = begin(both, cookie, T0 + SEC);
  sessio *b = begin(both, cookie, T0 + SEC);
  CHECK_OK(sessio_incr(a, "cart.A1", 1, NULL));
  CHECK_OK(sessio_incr(b, "cart.A1", 10, NULL));
  CHECK_OK(sessio_commit(a, T0 + SEC));
  CHECK_OK(sessio_commit(b, T0 + 2 * SEC));
  CHECK(sessio_cookie_header(a) == NULL && sessio_cookie_header(b) == NULL);
  sessio_free(a);
  sessio_free(b);
  CHECK_INT(records(st), 1);
  CHECK_INT(cart(both, cookie, T0 + 3 * SEC), 13);
  sessio_manager_free(old);
  sessio_manager_free(both);
  sessio_store_close(st);
}

static void test_no_secret_as_previous_and_at_most_three_S32(void) {
  sessio_store *st;
  char cookie[128];
  CHECK_OK(sessio_store_open("memory:", &st));
  sessio_manager *none = mgr(st, NULL, NULL, 0);
  sessio_manager *first = mgr(st, S2, NULL, 1);
  make_session(none, cookie, sizeof cookie);
  CHECK_INT(cart(first, cookie, T0 + SEC), 2);
  /* A logout of a session found under a previous secret ends it. */
  sessio *s = begin(first, cookie, T0 + SEC);
  CHECK_OK(sessio_destroy(s));
  CHECK_OK(sessio_commit(s, T0 + SEC));
  sessio_free(s);
  CHECK_INT(records(st), 0);
  CHECK_INT(cart(none, cookie, T0 + 2 * SEC), -1);
  sessio_manager_free(none);
  sessio_manager_free(first);

  sessio_config *cfg;
  CHECK_OK(sessio_config_new(&cfg));
  for (int i = 0; i < 3; i++)
    CHECK_OK(sessio_config_add_previous_secret(cfg, S1, sizeof S1 - 1));
  CHECK_INT(sessio_config_add_previous_secret(cfg, S1, sizeof S1 - 1),
            SESSIO_ETOOBIG);
  CHECK_INT(sessio_config_add_previous_secret(cfg, NULL, 3), SESSIO_EINVAL);
  sessio_config_free(cfg);
  sessio_store_close(st);
}

static void test_login_after_rekey_changes_the_id_S32(void) {
  sessio_store *st;
  char cookie[128];
  CHECK_OK(sessio_store_open("memory:", &st));
  sessio_manager *old = mgr(st, S1, NULL, 0);
  sessio_manager *both = mgr(st, S2, S1, 0);
  make_session(old, cookie, sizeof cookie);
  sessio *s = begin(both, cookie, T0 + SEC);
  CHECK_OK(sessio_login(s, "alice", 0, T0 + SEC));
  CHECK_OK(sessio_commit(s, T0 + SEC));
  const char *sc = sessio_cookie_header(s);
  CHECK(sc != NULL);
  char fresh[128];
  snprintf(fresh, sizeof fresh, "%.*s", (int)strcspn(sc, ";"), sc);
  sessio_free(s);
  CHECK(strcmp(fresh, cookie) != 0);
  CHECK_INT(records(st), 1);
  CHECK_INT(cart(both, fresh, T0 + 2 * SEC), 2);
  CHECK_INT(cart(both, cookie, T0 + 2 * SEC), -1);
  sessio_manager_free(old);
  sessio_manager_free(both);
  sessio_store_close(st);
}

static void test_check_record_follows_the_rotation_S32(void) {
  sessio_store *st;
  int same = 9;
  CHECK_OK(sessio_store_open("memory:", &st));
  sessio_manager *old = mgr(st, S1, NULL, 0);
  sessio_manager *both = mgr(st, S2, S1, 0);
  sessio_manager *next = mgr(st, S2, NULL, 0);
  CHECK_OK(sessio_manager_check_secret(old, T0, 1, &same));
  CHECK_INT(same, 1);
  CHECK_OK(sessio_manager_check_secret(next, T0, 0, &same));
  CHECK_INT(same, 0);
  CHECK_OK(sessio_manager_check_secret(both, T0, 0, &same));
  CHECK_INT(same, 1); /* holds it as a previous secret */
  CHECK_OK(sessio_manager_check_secret(next, T0, 0, &same));
  CHECK_INT(same, 0); /* reading changed nothing */
  CHECK_OK(sessio_manager_check_secret(both, T0, 1, &same));
  CHECK_INT(same, 1);
  CHECK_OK(sessio_manager_check_secret(next, T0, 0, &same));
  CHECK_INT(same, 1); /* written again with the current secret */
  CHECK_OK(sessio_manager_check_secret(old, T0, 0, &same));
  CHECK_INT(same, 0);
  sessio_manager_free(old);
  sessio_manager_free(both);
  sessio_manager_free(next);
  sessio_store_close(st);
}

int main(void) {
  RUN(test_session_under_previous_secret_is_served_and_rekeyed_S32);
  RUN(test_two_requests_racing_to_rekey_lose_nothing_S32);
  RUN(test_no_secret_as_previous_and_at_most_three_S32);
  RUN(test_login_after_rekey_changes_the_id_S32);
  RUN(test_check_record_follows_the_rotation_S32);
  RUN(test_csrf_token_survives_secret_rotation_S19_S32);
  return DONE();
}
