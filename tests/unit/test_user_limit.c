/*
 * test_user_limit.c — sessions per user (S33) on the memory store: the
 * limit counts the new session, evict-oldest revokes the least recently
 * seen others, refuse fails the login's commit with SESSIO_ELIMIT and
 * stores nothing of it, and logins of one user racing from threads never
 * leave more than the limit. Time is injected; nothing sleeps.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "sessio.h"

#define T0 1700000000000LL
#define SEC 1000LL

static sessio_store *st;

static sessio_manager *mgr(size_t max, sessio_max_policy policy) {
  sessio_config *cfg;
  sessio_manager *m;
  if (sessio_config_new(&cfg) != SESSIO_OK) abort();
  sessio_config_set_store(cfg, st);
  CHECK_OK(sessio_config_set_max_sessions_per_user(cfg, max, policy));
  if (sessio_manager_new(cfg, &m) != SESSIO_OK) abort();
  sessio_config_free(cfg);
  return m;
}

/* A login of 'user' from a new client at 'now': its cookie in 'cookie'
 * ("" when refused); returns what the commit said. */
static sessio_err login(sessio_manager *m, const char *user, int64_t now,
                        char *cookie, size_t cap) {
  sessio *s;
  if (sessio_begin(m, NULL, 0, 0, now, &s) != SESSIO_OK) abort();
  CHECK_OK(sessio_login(s, user, 0, now));
  sessio_err rc = sessio_commit(s, now);
  const char *sc = sessio_cookie_header(s);
  snprintf(cookie, cap, "%.*s", sc ? (int)strcspn(sc, ";") : 0, sc ? sc : "");
  sessio_free(s);
  return rc;
}

static int alive(sessio_manager *m, const char *cookie, int64_t now) {
  const char *h[1] = {cookie};
  sessio *s;
  if (sessio_begin(m, h, 1, 0, now, &s) != SESSIO_OK) abort();
  int ok = sessio_is_authenticated(s);
  CHECK_OK(sessio_commit(s, now)); /* a touch: it was seen at 'now' */
  sessio_free(s);
  return ok;
}

static size_t count(sessio_manager *m, const char *user, int64_t now) {
  sessio_session_info *v;
  size_t n;
  CHECK_OK(sessio_manager_user_sessions(m, user, now, &v, &n));
  free(v);
  return n;
}

static void test_evict_oldest_revokes_the_least_recently_seen_S33(void) {
  char a[128], b[128], c[128], d[128];
  CHECK_OK(sessio_store_open("memory:", &st));
  sessio_manager *m = mgr(2, SESSIO_MAX_EVICT_OLDEST);
  CHECK_OK(login(m, "alice", T0, a, sizeof a));
  CHECK_OK(login(m, "alice", T0 + SEC, b, sizeof b));
  CHECK_INT(count(m, "alice", T0 + SEC), 2);
  CHECK_OK(login(m, "alice", T0 + 2 * SEC, c, sizeof c));
  CHECK_INT(count(m, "alice", T0 + 2 * SEC), 2);
  CHECK(!alive(m, a, T0 + 3 * SEC));  /* the oldest went */
  CHECK(alive(m, b, T0 + 120 * SEC)); /* b is now the most recently seen */
  CHECK_OK(login(m, "alice", T0 + 121 * SEC, d, sizeof d));
  CHECK(!alive(m, c, T0 + 122 * SEC));
  CHECK(alive(m, b, T0 + 122 * SEC) && alive(m, d, T0 + 122 * SEC));
  /* Other users are counted apart. */
  CHECK_OK(login(m, "bob", T0 + 123 * SEC, a, sizeof a));
  CHECK_INT(count(m, "alice", T0 + 123 * SEC), 2);
  sessio_manager_free(m);
  sessio_store_close(st);
}

static void test_refuse_fails_the_login_and_stores_nothing_S33(void) {
  char a[128], b[128], c[128], guest[128];
  CHECK_OK(sessio_store_open("memory:", &st));
  sessio_manager *m = mgr(2, SESSIO_MAX_REFUSE);
  CHECK_OK(login(m, "alice", T0, a, sizeof a));
  CHECK_OK(login(m, "alice", T0 + SEC, b, sizeof b));
  /* A guest with a cart signs in a third time: refused, cart kept. */
  sessio *s;
  CHECK_OK(sessio_begin(m, NULL, 0, 0, T0 + 2 * SEC, &s));
  CHECK_OK(sessio_incr(s, "cart.A1", 1, NULL));
  CHECK_OK(sessio_commit(s, T0 + 2 * SEC));
  const char *sc = sessio_cookie_header(s);
  snprintf(guest, sizeof guest, "%.*s", (int)strcspn(sc, ";"), sc);
  sessio_free(s);
  const char *h[1] = {guest};
  CHECK_OK(sessio_begin(m, h, 1, 0, T0 + 3 * SEC, &s));
  CHECK_OK(sessio_login(s, "alice", 0, T0 + 3 * SEC));
  CHECK_INT(sessio_commit(s, T0 + 3 * SEC), SESSIO_ELIMIT);
  CHECK(sessio_cookie_header(s) == NULL);
  sessio_free(s);
  CHECK_INT(count(m, "alice", T0 + 3 * SEC), 2);
  CHECK_OK(sessio_begin(m, h, 1, 0, T0 + 4 * SEC, &s));
  int64_t v = 0;
  CHECK(!sessio_is_authenticated(s) && sessio_get_int(s, "cart.A1", &v) &&
        v == 1);
  sessio_free(s);
  /* Signing one out frees a place. */
  CHECK_INT(login(m, "alice", T0 + 5 * SEC, c, sizeof c), SESSIO_ELIMIT);
  size_t n = 0;
  sessio_session_info *list;
  size_t k;
  CHECK_OK(sessio_manager_user_sessions(m, "alice", T0 + 5 * SEC, &list, &k));
  CHECK_OK(
      sessio_manager_revoke_one(m, "alice", list[0].handle, T0 + 5 * SEC, &n));
  free(list);
  CHECK_INT(n, 1);
  CHECK_OK(login(m, "alice", T0 + 6 * SEC, c, sizeof c));
  CHECK(alive(m, c, T0 + 7 * SEC));
  CHECK_INT(sessio_config_set_max_sessions_per_user(NULL, 1, SESSIO_MAX_REFUSE),
            SESSIO_EINVAL);
  sessio_manager_free(m);
  sessio_store_close(st);
}

typedef struct racer {
  sessio_manager *m;
  int64_t now;
  sessio_err rc;
} racer;

static void *race(void *arg) {
  racer *r = arg;
  char c[128];
  r->rc = login(r->m, "carol", r->now, c, sizeof c);
  return NULL;
}

/* Racing logins of one user from threads: never more than the limit. */
static void test_racing_logins_never_exceed_the_limit_S33(void) {
  for (int policy = 0; policy < 2; policy++) {
    CHECK_OK(sessio_store_open("memory:", &st));
    sessio_manager *m = mgr(3, (sessio_max_policy)policy);
    enum { N = 8 };
    pthread_t t[N];
    racer r[N];
    for (int round = 0; round < 4; round++) {
      for (int i = 0; i < N; i++) {
        r[i].m = m;
        r[i].now = T0 + round * SEC; /* the same 'now': ties by handle */
        pthread_create(&t[i], NULL, race, &r[i]);
      }
      int ok = 0;
      for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        CHECK(r[i].rc == SESSIO_OK ||
              (policy == SESSIO_MAX_REFUSE && r[i].rc == SESSIO_ELIMIT));
        ok += r[i].rc == SESSIO_OK;
      }
      size_t n = count(m, "carol", T0 + round * SEC);
      CHECK(n <= 3);
      if (policy == SESSIO_MAX_EVICT_OLDEST) CHECK(n >= 1 && ok == N);
    }
    sessio_manager_free(m);
    sessio_store_close(st);
  }
}

int main(void) {
  RUN(test_evict_oldest_revokes_the_least_recently_seen_S33);
  RUN(test_refuse_fails_the_login_and_stores_nothing_S33);
  RUN(test_racing_logins_never_exceed_the_limit_S33);
  return DONE();
}
