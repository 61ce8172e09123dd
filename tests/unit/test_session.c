/*
 * test_session.c — the request lifecycle of libsessio against the memory
 * store: lazy creation, strict mode, timeouts at their edges, login and
 * regeneration, rotation with grace, destroy, duplicate cookies, CSRF,
 * flash, limits, corrupted records, a store that is down, and merge-safe
 * commits with real threads. Time is injected; nothing sleeps.
 */
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "harness.h"
#include "record.h"
#include "sessio.h"
#include "sessio/store.h"
#include "store/store_internal.h" /* the record-level dispatch wrappers */

#define T0 1700000000000LL /* an arbitrary "now" */
#define SEC 1000LL
#define MIN (60 * SEC)
#define HOUR (60 * MIN)

/* ---- a store wrapper that counts calls and can fail ------------------ */

typedef struct wrap_store {
  sessio_store base;
  sessio_store *inner;
  int loads, saves, touches, removes;
  int64_t remove_now, uadd_now; /* the 'now' of the last such call */
  int down;                     /* every call fails with SESSIO_EUNAVAIL */
} wrap_store;

#define W(st) ((wrap_store *)(st))
#define DOWN(st)                                                               \
  do {                                                                         \
    if (W(st)->down) return SESSIO_EUNAVAIL;                                   \
  } while (0)

static sessio_err w_load(sessio_store *st, const sessio_key *k, int64_t now,
                         sessio_record *out, int *found) {
  DOWN(st);
  W(st)->loads++;
  return W(st)->inner->methods->load(W(st)->inner, k, now, out, found);
}
static sessio_err w_save(sessio_store *st, const sessio_key *k,
                         const sessio_record *r, uint64_t e, int64_t now,
                         uint64_t *v) {
  DOWN(st);
  W(st)->saves++;
  return W(st)->inner->methods->save(W(st)->inner, k, r, e, now, v);
}
static sessio_err w_touch(sessio_store *st, const sessio_key *k, int64_t t,
                          int64_t x, int64_t now, int *found) {
  DOWN(st);
  W(st)->touches++;
  return W(st)->inner->methods->touch(W(st)->inner, k, t, x, now, found);
}
static sessio_err w_remove(sessio_store *st, const sessio_key *k, int64_t now,
                           int *r) {
  DOWN(st);
  W(st)->removes++;
  W(st)->remove_now = now;
  return W(st)->inner->methods->remove(W(st)->inner, k, now, r);
}
static sessio_err w_uadd(sessio_store *st, const char *u, const sessio_key *k,
                         int64_t x, int64_t now) {
  DOWN(st);
  W(st)->uadd_now = now;
  return W(st)->inner->methods->user_add(W(st)->inner, u, k, x, now);
}
static sessio_err w_ulist(sessio_store *st, const char *u, int64_t now,
                          sessio_key **k, size_t *n) {
  DOWN(st);
  return W(st)->inner->methods->user_list(W(st)->inner, u, now, k, n);
}
static sessio_err w_urem(sessio_store *st, const char *u, const sessio_key *k) {
  DOWN(st);
  return W(st)->inner->methods->user_remove(W(st)->inner, u, k);
}
static sessio_err w_gc(sessio_store *st, int64_t now, size_t max,
                       size_t *removed, int *done) {
  return W(st)->inner->methods->gc(W(st)->inner, now, max, removed, done);
}
static void w_close(sessio_store *st) {
  sessio_store_close(W(st)->inner);
  free(st);
}
static const sessio_store_methods wrap_methods = {.version =
                                                      SESSIO_STORE_API_VERSION,
                                                  .name = "wrap",
                                                  .load = w_load,
                                                  .save = w_save,
                                                  .touch = w_touch,
                                                  .remove = w_remove,
                                                  .user_add = w_uadd,
                                                  .user_list = w_ulist,
                                                  .user_remove = w_urem,
                                                  .gc = w_gc,
                                                  .close = w_close};

static wrap_store *wrap_new(void) {
  wrap_store *w = calloc(1, sizeof *w);
  w->base.methods = &wrap_methods;
  if (sessio_store_open("memory:", &w->inner) != SESSIO_OK) abort();
  return w;
}

/* ---- fixture ---------------------------------------------------------- */

typedef struct fx {
  wrap_store *st;
  sessio_manager *m;
  char cookie[128]; /* "sid=..." as a browser would send it */
} fx;

static void fx_init_cfg(fx *f, void (*tweak)(sessio_config *)) {
  sessio_config *cfg;
  memset(f, 0, sizeof *f);
  f->st = wrap_new();
  if (sessio_config_new(&cfg) != SESSIO_OK) abort();
  sessio_config_set_store(cfg, &f->st->base);
  if (tweak) tweak(cfg);
  if (sessio_manager_new(cfg, &f->m) != SESSIO_OK) abort();
  sessio_config_free(cfg);
}
static void fx_init(fx *f) { fx_init_cfg(f, NULL); }
static void fx_done(fx *f) {
  sessio_manager_free(f->m);
  sessio_store_close(&f->st->base);
}

/* Begins a request with one Cookie header (or none when NULL). */
static sessio *begin(fx *f, const char *cookie, int64_t now) {
  sessio *s = NULL;
  const char *h[1] = {cookie};
  sessio_err rc = sessio_begin(f->m, h, cookie ? 1 : 0, 0, now, &s);
  if (rc != SESSIO_OK) {
    fprintf(stderr, "begin: %s\n", sessio_errname(rc));
    abort();
  }
  return s;
}

/* Commits, keeps the cookie the client would now send, frees. Returns the
 * Set-Cookie value seen (copied into 'sc' when not NULL). */
static int commit(fx *f, sessio *s, int64_t now, char *sc, size_t cap) {
  sessio_err rc = sessio_commit(s, now);
  const char *c = sessio_cookie_header(s);
  if (sc) snprintf(sc, cap, "%s", c ? c : "");
  if (c) {
    size_t n = strcspn(c, ";");
    if (strstr(c, "Max-Age=0") || n == strlen("sid=")) {
      f->cookie[0] = '\0';
    } else {
      snprintf(f->cookie, sizeof f->cookie, "%.*s", (int)n, c);
    }
  }
  sessio_free(s);
  return rc;
}

/* Makes a session holding cart.A1 = 1 at 'now'. */
static void make_session(fx *f, int64_t now) {
  sessio *s = begin(f, NULL, now);
  CHECK_OK(sessio_incr(s, "cart.A1", 1, NULL));
  CHECK_OK(commit(f, s, now, NULL, 0));
}

static int64_t cart(fx *f, int64_t now) {
  sessio *s = begin(f, f->cookie[0] ? f->cookie : NULL, now);
  int64_t v = -1;
  if (!sessio_get_int(s, "cart.A1", &v)) v = -1;
  sessio_free(s);
  return v;
}

static size_t store_sessions(fx *f) {
  struct sessio_store_stats st;
  sessio_store_stats(f->st->inner, &st);
  return (size_t)st.sessions;
}

/* ---- tests ------------------------------------------------------------ */

/* S16: a request that stores nothing creates nothing and sends no cookie. */
static void test_no_data_no_session_no_cookie(void) {
  fx f;
  fx_init(&f);
  for (int i = 0; i < 100; i++) {
    sessio *s = begin(&f, NULL, T0);
    CHECK(!sessio_exists(s));
    CHECK(sessio_csrf_token(s) == NULL);
    CHECK(sessio_handle(s) == NULL);
    int64_t v;
    CHECK(!sessio_get_int(s, "cart.A1", &v));
    CHECK_OK(sessio_delete(s, "cart.A1"));
    CHECK_OK(sessio_set_label(s, "curl/8"));
    char sc[256];
    CHECK_OK(commit(&f, s, T0, sc, sizeof sc));
    CHECK_STR(sc, "");
  }
  CHECK_INT(store_sessions(&f), 0);
  CHECK_INT(f.st->saves, 0);
  fx_done(&f);
}

/* S2, S8: the first data creates a session; the cookie carries only a
 * random ID with the right attributes. */
static void test_first_set_creates_session_and_cookie(void) {
  fx f;
  fx_init(&f);
  sessio *s = begin(&f, NULL, T0);
  CHECK_OK(sessio_set_str(s, "name", "alice"));
  CHECK(sessio_exists(s));
  CHECK(sessio_is_new(s));
  char sc[256];
  CHECK_OK(commit(&f, s, T0, sc, sizeof sc));
  CHECK(strncmp(sc, "sid=", 4) == 0);
  CHECK_INT(strcspn(sc, ";"), 4 + SESSIO_ID_LEN);
  CHECK(sessio_id_valid(sc + 4, SESSIO_ID_LEN));
  CHECK(strstr(sc, "alice") == NULL);
  CHECK(strstr(sc, "; Path=/") != NULL);
  CHECK(strstr(sc, "HttpOnly") != NULL);
  CHECK(strstr(sc, "SameSite=Lax") != NULL);
  CHECK(strstr(sc, "Max-Age") == NULL);
  CHECK(strstr(sc, "Expires") == NULL);
  CHECK(strstr(sc, "Domain") == NULL);
  CHECK(strstr(sc, "Secure") == NULL); /* plain HTTP, SECURE_AUTO */
  CHECK_INT(store_sessions(&f), 1);

  /* The next request finds the data; an unchanged session sends no cookie
   * and writes nothing. */
  int saves = f.st->saves;
  s = begin(&f, f.cookie, T0 + SEC);
  const char *v;
  CHECK(sessio_get_str(s, "name", &v, NULL) && strcmp(v, "alice") == 0);
  CHECK(!sessio_is_new(s));
  CHECK_OK(commit(&f, s, T0 + SEC, sc, sizeof sc));
  CHECK_STR(sc, "");
  CHECK_INT(f.st->saves, saves);
  fx_done(&f);
}

/* S8, S3: over TLS the cookie is Secure and named __Host-sid. */
static void test_tls_cookie_is_secure_host_prefixed(void) {
  fx f;
  fx_init(&f);
  sessio *s = NULL;
  CHECK_OK(sessio_begin(f.m, NULL, 0, 1, T0, &s));
  CHECK_OK(sessio_set_bool(s, "x", 1));
  CHECK_OK(sessio_commit(s, T0));
  const char *sc = sessio_cookie_header(s);
  CHECK(sc && strncmp(sc, "__Host-sid=", 11) == 0);
  CHECK(sc && strstr(sc, "; Secure") != NULL);
  CHECK(sc && strstr(sc, "Domain") == NULL);
  CHECK_STR(sessio_manager_cookie_name(f.m, 0), "sid");
  CHECK_STR(sessio_manager_cookie_name(f.m, 1), "__Host-sid");
  sessio_free(s);
  fx_done(&f);
}

static void cfg_host_never(sessio_config *c) {
  sessio_config_set_cookie(c, "__Host-x", SESSIO_SECURE_AUTO,
                           SESSIO_SAMESITE_LAX, NULL);
}

/* S8: unsafe cookie configurations are refused when the manager is made. */
static void test_unsafe_configs_refused(void) {
  wrap_store *w = wrap_new();
  sessio_config *c;
  sessio_manager *m = NULL;
  CHECK_OK(sessio_config_new(&c));
  CHECK_ERR(sessio_manager_new(c, &m), SESSIO_EINVAL); /* no store */
  sessio_config_set_store(c, &w->base);
  cfg_host_never(c);
  CHECK_ERR(sessio_manager_new(c, &m), SESSIO_EINVAL);
  sessio_config_set_cookie(c, "__Host-x", SESSIO_SECURE_ALWAYS,
                           SESSIO_SAMESITE_LAX, "example.com");
  CHECK_ERR(sessio_manager_new(c, &m), SESSIO_EINVAL);
  sessio_config_set_cookie(c, "sid", SESSIO_SECURE_AUTO, SESSIO_SAMESITE_NONE,
                           NULL);
  CHECK_ERR(sessio_manager_new(c, &m), SESSIO_EINVAL);
  sessio_config_set_cookie(c, "bad name", SESSIO_SECURE_AUTO,
                           SESSIO_SAMESITE_LAX, NULL);
  CHECK_ERR(sessio_manager_new(c, &m), SESSIO_EINVAL);
  sessio_config_set_cookie(c, "__Secure-s", SESSIO_SECURE_NEVER,
                           SESSIO_SAMESITE_LAX, NULL);
  CHECK_ERR(sessio_manager_new(c, &m), SESSIO_EINVAL);
  CHECK_ERR(sessio_config_set_timeouts(c, 2 * HOUR, HOUR, 0), SESSIO_EINVAL);
  CHECK_ERR(sessio_config_set_timeouts(c, 0, HOUR, 0), SESSIO_EINVAL);
  /* Durations over 100 years: now + absolute overflowed at creation
   * (fuzz/regressions/config/). */
  CHECK_ERR(sessio_config_set_timeouts(c, HOUR, INT64_MAX, 0), SESSIO_EINVAL);
  CHECK_ERR(sessio_config_set_timeouts(c, HOUR, HOUR, INT64_MAX),
            SESSIO_EINVAL);
  CHECK_ERR(sessio_config_set_rotation(c, INT64_MAX, 0), SESSIO_EINVAL);
  CHECK_ERR(sessio_config_set_touch_interval(c, INT64_MAX), SESSIO_EINVAL);
  CHECK_OK(sessio_config_set_timeouts(c, HOUR, 100 * 365 * 24 * HOUR, 0));
  /* And the good ones are accepted. */
  sessio_config_set_cookie(c, "__Host-sid", SESSIO_SECURE_ALWAYS,
                           SESSIO_SAMESITE_NONE, NULL);
  CHECK_OK(sessio_manager_new(c, &m));
  CHECK_STR(sessio_manager_cookie_name(m, 0), "__Host-sid");
  sessio_manager_free(m);
  sessio_config_free(c);
  sessio_store_close(&w->base);
}

/* S5: a well-formed but unknown ID is never adopted, and nothing is stored
 * under it. */
static void test_unknown_id_never_adopted(void) {
  fx f;
  fx_init(&f);
  char fake[SESSIO_ID_LEN + 1], hdr[80];
  CHECK_OK(sessio_id_generate(fake));
  snprintf(hdr, sizeof hdr, "sid=%s", fake);
  sessio *s = begin(&f, hdr, T0);
  CHECK(!sessio_exists(s));
  CHECK_INT(sessio_rejected_ids(s), 1); /* S21 */
  CHECK_OK(sessio_set_int(s, "n", 1));
  char sc[256];
  CHECK_OK(commit(&f, s, T0, sc, sizeof sc));
  CHECK(strstr(sc, fake) == NULL);
  /* Nothing under the fake ID. */
  uint8_t raw[SESSIO_ID_BYTES];
  sessio_key key;
  sessio_record rec;
  int found = 1;
  CHECK(sessio__id_decode(fake, SESSIO_ID_LEN, raw));
  sessio__key_derive(NULL, 0, raw, &key);
  CHECK_OK(sessio__store_load(f.st->inner, &key, T0, &rec, &found));
  CHECK_INT(found, 0);
  fx_done(&f);
}

/* S7: malformed IDs are rejected before any store lookup. */
static void test_malformed_ids_never_reach_store(void) {
  fx f;
  fx_init(&f);
  const char *bad[] = {
      "sid=",
      "sid=abc",
      "sid=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", /* 44 */
      "sid=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",   /* 42 */
      "sid=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",  /* padding */
      "sid=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+",  /* alphabet */
      "sid=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB",  /* stray bits */
      "sid=\"\"",
      "sid",
      "=",
      ";;;",
      "sid=%00",
      "sid=../../etc/passwd"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    sessio *s = begin(&f, bad[i], T0);
    CHECK(!sessio_exists(s));
    /* S21: what was rejected is counted for the integration */
    CHECK_INT(sessio_rejected_ids(s),
              strchr(bad[i], '=') && bad[i][0] == 's' ? 1 : 0);
    sessio_free(s);
  }
  CHECK_INT(f.st->loads, 0);
  fx_done(&f);
}

/* S12: with the cookie twice, junk or unknown values never shadow the live
 * one, in either order; with two live sessions, the most recent wins. */
static void test_duplicate_cookie_names(void) {
  fx f;
  fx_init(&f);
  make_session(&f, T0);
  char live[128], unknown[80], fake[SESSIO_ID_LEN + 1];
  snprintf(live, sizeof live, "%s", f.cookie);
  CHECK_OK(sessio_id_generate(fake));
  snprintf(unknown, sizeof unknown, "sid=%s", fake);
  const char *orders[][2] = {{live, "sid=junk"}, {"sid=junk", live},
                             {live, unknown},    {unknown, live},
                             {"sid=\"x", live},  {live, "sid="}};
  for (size_t i = 0; i < 6; i++) {
    sessio *s = NULL;
    CHECK_OK(sessio_begin(f.m, orders[i], 2, 0, T0 + SEC, &s));
    int64_t v = 0;
    CHECK(sessio_get_int(s, "cart.A1", &v) && v == 1);
    sessio_free(s);
  }
  /* Both in one header too. */
  char one[300];
  snprintf(one, sizeof one, "%s; other=1; %s", unknown, live);
  sessio *s = begin(&f, one, T0 + SEC);
  CHECK(sessio_exists(s));
  sessio_free(s);

  /* Two live sessions: the more recently active one wins either way. */
  char older[128];
  snprintf(older, sizeof older, "%s", live);
  make_session(&f, T0 + 2 * SEC); /* f.cookie is now the newer */
  s = begin(&f, f.cookie, T0 + 3 * SEC);
  CHECK_OK(sessio_incr(s, "cart.A1", 5, NULL));
  CHECK_OK(commit(&f, s, T0 + 3 * SEC, NULL, 0));
  const char *two[2] = {older, f.cookie}, *owt[2] = {f.cookie, older};
  sessio *a = NULL, *b = NULL;
  CHECK_OK(sessio_begin(f.m, two, 2, 0, T0 + 4 * SEC, &a));
  CHECK_OK(sessio_begin(f.m, owt, 2, 0, T0 + 4 * SEC, &b));
  int64_t va = 0, vb = 0;
  CHECK(sessio_get_int(a, "cart.A1", &va));
  CHECK(sessio_get_int(b, "cart.A1", &vb));
  CHECK_INT(va, 6);
  CHECK_INT(vb, 6);
  sessio_free(a);
  sessio_free(b);
  fx_done(&f);
}

/* Makes a session signed in as 'user' at 'now'; returns its cookie. */
static void make_user_session(fx *f, const char *user, int64_t now,
                              char *cookie, size_t cap) {
  sessio *s = begin(f, NULL, now);
  CHECK_OK(sessio_login(s, user, 0, now));
  CHECK_OK(sessio_incr(s, "cart.A1", 1, NULL));
  CHECK_OK(commit(f, s, now, NULL, 0));
  snprintf(cookie, cap, "%s", f->cookie);
}

/* S24: live sessions of different users in one request: none is adopted,
 * in either order and in one header or two; the same user's two sessions,
 * or a guest's and a user's, keep the most-recently-active rule (S12). */
static void test_live_sessions_of_different_users_adopt_none_S24(void) {
  fx f;
  fx_init(&f);
  char alice[128], mallory[128], alice2[128], guest[128];
  make_user_session(&f, "alice", T0, alice, sizeof alice);
  make_user_session(&f, "mallory", T0 + SEC, mallory, sizeof mallory);
  make_user_session(&f, "alice", T0 + 2 * SEC, alice2, sizeof alice2);
  make_session(&f, T0 + 3 * SEC);
  snprintf(guest, sizeof guest, "%s", f.cookie);
  const char *ab[2] = {alice, mallory}, *ba[2] = {mallory, alice};
  const char *aa[2] = {alice, alice2}, *ga[2] = {guest, alice};
  const char *const *cases[2] = {ab, ba};
  for (int i = 0; i < 2; i++) {
    sessio *s = NULL;
    CHECK_OK(sessio_begin(f.m, cases[i], 2, 0, T0 + 4 * SEC, &s));
    CHECK(!sessio_exists(s));
    CHECK(sessio_user(s) == NULL);
    CHECK_INT(sessio_rejected_ids(s), 0);
    sessio_free(s);
  }
  char one[300];
  snprintf(one, sizeof one, "%s; %s", mallory, alice);
  sessio *s = begin(&f, one, T0 + 4 * SEC);
  CHECK(!sessio_exists(s));
  sessio_free(s);
  s = NULL;
  CHECK_OK(sessio_begin(f.m, aa, 2, 0, T0 + 4 * SEC, &s));
  CHECK_STR(sessio_user(s), "alice");
  sessio_free(s);
  s = NULL;
  CHECK_OK(sessio_begin(f.m, ga, 2, 0, T0 + 4 * SEC, &s));
  CHECK(sessio_exists(s)); /* the guest session is the more recent */
  CHECK(sessio_user(s) == NULL);
  sessio_free(s);
  fx_done(&f);
}

static void cfg_short(sessio_config *c) {
  sessio_config_set_timeouts(c, 30 * MIN, 2 * HOUR, 7 * 24 * HOUR);
  sessio_config_set_touch_interval(c, 0);
}

/* S13: idle timeout at, just before and just after the limit; a request
 * before it extends it. */
static void test_idle_timeout_edges(void) {
  fx f;
  fx_init_cfg(&f, cfg_short);
  make_session(&f, T0);
  CHECK_INT(cart(&f, T0 + 30 * MIN - 1), 1); /* just before: alive */
  CHECK_INT(cart(&f, T0 + 30 * MIN), -1);    /* at: gone */

  fx_done(&f);
  fx_init_cfg(&f, cfg_short);
  make_session(&f, T0);
  CHECK_INT(cart(&f, T0 + 30 * MIN + 1), -1); /* after: gone */
  /* and it was removed from the store */
  CHECK_INT(store_sessions(&f), 0);

  fx_done(&f);
  fx_init_cfg(&f, cfg_short);
  make_session(&f, T0);
  /* Activity before the limit extends it (touch interval 0). */
  sessio *s = begin(&f, f.cookie, T0 + 29 * MIN);
  CHECK_OK(commit(&f, s, T0 + 29 * MIN, NULL, 0));
  CHECK_INT(cart(&f, T0 + 58 * MIN), 1);
  fx_done(&f);
}

/* S14: the absolute timeout holds even with continuous activity. */
static void test_absolute_timeout_despite_activity(void) {
  fx f;
  fx_init_cfg(&f, cfg_short);
  make_session(&f, T0);
  for (int64_t t = T0 + 10 * MIN; t < T0 + 2 * HOUR; t += 10 * MIN) {
    sessio *s = begin(&f, f.cookie, t);
    CHECK(sessio_exists(s));
    CHECK_OK(sessio_incr(s, "cart.A1", 1, NULL));
    CHECK_OK(commit(&f, s, t, NULL, 0));
  }
  CHECK_INT(cart(&f, T0 + 2 * HOUR - 1), 12);
  CHECK_INT(cart(&f, T0 + 2 * HOUR), -1);
  fx_done(&f);
}

/* S14: re-authentication resets both timeouts. */
static void test_login_resets_timeouts(void) {
  fx f;
  fx_init_cfg(&f, cfg_short);
  make_session(&f, T0);
  int64_t t = T0 + 2 * HOUR - MIN;
  for (int64_t a = T0 + 20 * MIN; a < t; a += 20 * MIN) { /* stay active */
    sessio *k = begin(&f, f.cookie, a);
    CHECK_OK(commit(&f, k, a, NULL, 0));
  }
  sessio *s = begin(&f, f.cookie, t);
  CHECK(sessio_exists(s));
  CHECK_OK(sessio_login(s, "alice", 0, t));
  CHECK_OK(commit(&f, s, t, NULL, 0));
  CHECK_INT(cart(&f, t + 29 * MIN), 1); /* past the old absolute deadline */
  for (int64_t a = t + 20 * MIN; a < t + 2 * HOUR; a += 20 * MIN) {
    sessio *k = begin(&f, f.cookie, a);
    CHECK_OK(commit(&f, k, a, NULL, 0));
  }
  CHECK_INT(cart(&f, t + 2 * HOUR - 1), 1); /* the new absolute deadline */
  CHECK_INT(cart(&f, t + 2 * HOUR), -1);
  fx_done(&f);
}

static void cfg_remember(sessio_config *c) {
  sessio_config_set_timeouts(c, 30 * MIN, 12 * HOUR, 4 * HOUR);
  sessio_config_set_touch_interval(c, 0);
}

/* S8: remember-me gives a Max-Age that never passes the absolute timeout
 * (remember 7 d is capped by absolute 2 h), and the remembered session
 * survives an idle gap that ends a normal one. */
static void test_remember_me_max_age(void) {
  fx f;
  fx_init_cfg(&f, cfg_short); /* idle 30 min, absolute 2 h, remember 7 d */
  sessio *s = begin(&f, NULL, T0);
  CHECK_OK(sessio_login(s, "alice", 1, T0));
  char sc[256];
  CHECK_OK(commit(&f, s, T0, sc, sizeof sc));
  CHECK(strstr(sc, "; Max-Age=7200;") != NULL);
  s = begin(&f, f.cookie, T0 + 2 * HOUR - 1); /* idle 2 h: still alive */
  CHECK_STR(sessio_user(s), "alice");
  sessio_free(s);
  s = begin(&f, f.cookie, T0 + 2 * HOUR);
  CHECK(sessio_user(s) == NULL);
  sessio_free(s);
  fx_done(&f);

  fx_init_cfg(&f, cfg_remember); /* remember 4 h below absolute 12 h */
  s = begin(&f, NULL, T0);
  CHECK_OK(sessio_login(s, "alice", 1, T0));
  CHECK_OK(commit(&f, s, T0, sc, sizeof sc));
  CHECK(strstr(sc, "; Max-Age=14400;") != NULL);
  s = begin(&f, f.cookie, T0 + 4 * HOUR - 1);
  CHECK_STR(sessio_user(s), "alice");
  sessio_free(s);
  s = begin(&f, f.cookie, T0 + 4 * HOUR);
  CHECK(sessio_user(s) == NULL);
  sessio_free(s);
  fx_done(&f);
}

/* S6, S19, S22: login changes the ID (old one dead at once), keeps the
 * guest cart, rotates the CSRF token and sets the authenticated mark. */
static void test_login_regenerates_id_keeps_cart(void) {
  fx f;
  fx_init(&f);
  make_session(&f, T0);
  char guest[128];
  snprintf(guest, sizeof guest, "%s", f.cookie);
  sessio *s = begin(&f, f.cookie, T0 + SEC);
  CHECK(!sessio_is_authenticated(s));
  CHECK(sessio_user(s) == NULL);
  char csrf[SESSIO_CSRF_LEN + 1];
  snprintf(csrf, sizeof csrf, "%s", sessio_csrf_token(s));
  CHECK_OK(sessio_login(s, "alice", 0, T0 + SEC));
  CHECK(strcmp(csrf, sessio_csrf_token(s)) != 0);
  CHECK_INT(strlen(sessio_csrf_token(s)), SESSIO_CSRF_LEN);
  char sc[256];
  CHECK_OK(commit(&f, s, T0 + SEC, sc, sizeof sc));
  CHECK(strcmp(guest, f.cookie) != 0);
  s = begin(&f, f.cookie, T0 + 2 * SEC);
  CHECK_STR(sessio_user(s), "alice");
  CHECK(sessio_is_authenticated(s));
  int64_t v = 0;
  CHECK(sessio_get_int(s, "cart.A1", &v) && v == 1);
  CHECK(!sessio_csrf_check(s, csrf, strlen(csrf)));
  sessio_free(s);
  /* The guest ID is dead. */
  s = begin(&f, guest, T0 + 2 * SEC);
  CHECK(!sessio_exists(s));
  sessio_free(s);
  CHECK_INT(store_sessions(&f), 1);
  fx_done(&f);
}

/* S23: signing in as another user starts from empty data and ends the
 * previous user's session; the same user signing in again keeps the data. */
static void test_login_as_another_user_starts_empty_S23(void) {
  fx f;
  fx_init(&f);
  sessio *s = begin(&f, NULL, T0);
  CHECK_OK(sessio_set_label(s, "Browser/1"));
  CHECK_OK(sessio_login(s, "alice", 0, T0));
  CHECK_OK(sessio_set_str(s, "addr.street", "door code 4711"));
  CHECK_OK(sessio_incr(s, "cart.A1", 2, NULL));
  CHECK_OK(commit(&f, s, T0, NULL, 0));
  char alice[128];
  snprintf(alice, sizeof alice, "%s", f.cookie);

  /* Same user again: the data stays. */
  s = begin(&f, f.cookie, T0 + SEC);
  CHECK_OK(sessio_login(s, "alice", 0, T0 + SEC));
  CHECK(sessio_get_str(s, "addr.street", NULL, NULL));
  CHECK_OK(commit(&f, s, T0 + SEC, NULL, 0));
  s = begin(&f, f.cookie, T0 + 2 * SEC);
  CHECK_STR(sessio_user(s), "alice");
  CHECK(sessio_get_str(s, "addr.street", NULL, NULL));
  sessio_free(s);
  snprintf(alice, sizeof alice, "%s", f.cookie);

  /* Another user: nothing of alice's reaches bob. */
  s = begin(&f, f.cookie, T0 + 3 * SEC);
  CHECK_OK(sessio_login(s, "bob", 0, T0 + 3 * SEC));
  CHECK_STR(sessio_user(s), "bob");
  CHECK(!sessio_get_str(s, "addr.street", NULL, NULL));
  CHECK(sessio_csrf_token(s) != NULL);
  CHECK_STR(sessio_label(s), "Browser/1");
  CHECK_OK(commit(&f, s, T0 + 3 * SEC, NULL, 0));
  CHECK(strcmp(alice, f.cookie) != 0);
  s = begin(&f, f.cookie, T0 + 4 * SEC);
  CHECK_STR(sessio_user(s), "bob");
  int64_t v = 0;
  CHECK(!sessio_get_str(s, "addr.street", NULL, NULL));
  CHECK(!sessio_get_int(s, "cart.A1", &v));
  sessio_free(s);
  /* alice's session ended with the switch, and left her index. */
  s = begin(&f, alice, T0 + 4 * SEC);
  CHECK(!sessio_exists(s));
  sessio_free(s);
  sessio_session_info *list = NULL;
  size_t n = 9;
  CHECK_OK(sessio_manager_user_sessions(f.m, "alice", T0 + 4 * SEC, &list, &n));
  CHECK_INT(n, 0);
  free(list);
  CHECK_INT(store_sessions(&f), 1);
  fx_done(&f);
}

/* The manager hands its caller's 'now' to every store method that takes
 * one (the library reads no clock): login indexes the user at the commit's
 * time, destroy removes at the commit's time. A store written against an
 * older method table is refused. */
static void test_store_gets_the_callers_now(void) {
  fx f;
  fx_init(&f);
  make_session(&f, T0);
  sessio *s = begin(&f, f.cookie, T0 + 7 * SEC);
  CHECK_OK(sessio_login(s, "alice", 0, T0 + 7 * SEC));
  CHECK_OK(commit(&f, s, T0 + 9 * SEC, NULL, 0));
  CHECK_INT(f.st->uadd_now, T0 + 9 * SEC);
  CHECK_INT(f.st->remove_now, T0 + 9 * SEC); /* the guest ID's record */
  s = begin(&f, f.cookie, T0 + 11 * SEC);
  CHECK_OK(sessio_destroy(s));
  CHECK_OK(commit(&f, s, T0 + 13 * SEC, NULL, 0));
  CHECK_INT(f.st->remove_now, T0 + 13 * SEC);
  fx_done(&f);

  sessio_store_methods old = wrap_methods;
  wrap_store *w = wrap_new();
  sessio_config *cfg;
  old.version = 1;
  w->base.methods = &old;
  CHECK_OK(sessio_config_new(&cfg));
  CHECK_INT(sessio_config_set_store(cfg, &w->base), SESSIO_ENOTSUP);
  sessio_config_free(cfg);
  w->base.methods = &wrap_methods;
  sessio_store_close(&w->base);
}

/* S6: regenerate keeps the data and kills the old ID; an update committed to
 * the old ID by an overlapping request is not lost. */
static void test_regenerate_merges_overlapping_update(void) {
  fx f;
  fx_init(&f);
  make_session(&f, T0);
  char old[128];
  snprintf(old, sizeof old, "%s", f.cookie);
  sessio *a = begin(&f, old, T0 + SEC);
  sessio *b = begin(&f, old, T0 + SEC);
  CHECK_OK(sessio_regenerate(a));
  CHECK_OK(sessio_incr(b, "cart.A1", 10, NULL));
  CHECK_OK(sessio_commit(b, T0 + SEC)); /* lands on the old record first */
  sessio_free(b);
  CHECK_OK(commit(&f, a, T0 + SEC, NULL, 0));
  CHECK(strcmp(old, f.cookie) != 0);
  CHECK_INT(cart(&f, T0 + 2 * SEC), 11);
  sessio *s = begin(&f, old, T0 + 2 * SEC);
  CHECK(!sessio_exists(s));
  sessio_free(s);
  fx_done(&f);
}

/* S17: destroy removes the record and sends a deletion cookie; replaying
 * the old cookie is anonymous. */
static void test_destroy_removes_record_and_clears_cookie(void) {
  fx f;
  fx_init(&f);
  make_session(&f, T0);
  char old[128];
  snprintf(old, sizeof old, "%s", f.cookie);
  sessio *s = begin(&f, old, T0 + SEC);
  CHECK_OK(sessio_destroy(s));
  CHECK(!sessio_exists(s));
  char sc[256];
  CHECK_OK(commit(&f, s, T0 + SEC, sc, sizeof sc));
  CHECK(strncmp(sc, "sid=;", 5) == 0);
  CHECK(strstr(sc, "Max-Age=0") != NULL);
  CHECK(strstr(sc, "Path=/") != NULL);
  CHECK_INT(store_sessions(&f), 0);
  s = begin(&f, old, T0 + 2 * SEC);
  CHECK(!sessio_exists(s));
  sessio_free(s);

  /* Destroy, then a flash for the next page: one cookie, a fresh ID. */
  make_session(&f, T0);
  snprintf(old, sizeof old, "%s", f.cookie);
  s = begin(&f, old, T0 + SEC);
  CHECK_OK(sessio_destroy(s));
  CHECK_OK(sessio_flash_set(s, "msg", "Signed out"));
  CHECK_OK(commit(&f, s, T0 + SEC, sc, sizeof sc));
  CHECK(strstr(sc, "Max-Age=0") == NULL);
  CHECK(strcmp(old, f.cookie) != 0);
  CHECK_INT(store_sessions(&f), 1);
  fx_done(&f);
}

/* The cookie of a shop under /shop on example.org, for S34. */
static void cfg_shop_path(sessio_config *c) {
  sessio_config_set_cookie(c, "shop_sid", SESSIO_SECURE_AUTO,
                           SESSIO_SAMESITE_STRICT, "example.org");
  sessio_config_set_cookie_path(c, "/shop");
}

/* Commits a read-only request with Cookie 'cookie'; its Set-Cookie in 'sc'. */
static void read_only(fx *f, const char *cookie, int64_t now, char *sc,
                      size_t cap) {
  sessio *s = begin(f, cookie, now);
  CHECK(!sessio_exists(s));
  CHECK_OK(commit(f, s, now, sc, cap));
}

/* S34: a request whose session cookie is dead (unknown, expired, destroyed
 * elsewhere, malformed) and that starts no session gets a deletion cookie
 * with the name and attributes of the real one, unless the application
 * keeps it; a request without the cookie, or with a live one beside the
 * dead one, gets none; a request that starts a session gets its new cookie
 * instead. */
static void test_dead_cookie_is_deleted_once_S34(void) {
  fx f;
  char sc[256], dead[128], fake[SESSIO_ID_LEN + 1], unknown[80];
  fx_init_cfg(&f, cfg_shop_path);
  CHECK_OK(sessio_id_generate(fake));
  snprintf(unknown, sizeof unknown, "shop_sid=%s", fake);

  read_only(&f, unknown, T0, sc, sizeof sc); /* unknown */
  CHECK_STR(sc, "shop_sid=; Path=/shop; Domain=example.org; Max-Age=0; "
                "HttpOnly; SameSite=Strict");
  read_only(&f, "shop_sid=junk", T0, sc, sizeof sc); /* malformed */
  CHECK(strncmp(sc, "shop_sid=;", 10) == 0 && strstr(sc, "Max-Age=0"));

  /* The application may keep it (an API whose contract is no cookie). */
  sessio *s = begin(&f, unknown, T0);
  CHECK_OK(sessio_keep_dead_cookie(s));
  CHECK_OK(commit(&f, s, T0, sc, sizeof sc));
  CHECK_STR(sc, "");
  s = begin(&f, unknown, T0);
  CHECK_OK(sessio_commit(s, T0));
  CHECK_INT(sessio_keep_dead_cookie(s), SESSIO_ESTATE);
  sessio_free(s);
  CHECK_INT(sessio_keep_dead_cookie(NULL), SESSIO_EINVAL);

  make_session(&f, T0); /* expired */
  snprintf(dead, sizeof dead, "%s", f.cookie);
  read_only(&f, dead, T0 + 400 * 24 * HOUR, sc, sizeof sc);
  CHECK(strncmp(sc, "shop_sid=;", 10) == 0 && strstr(sc, "Max-Age=0"));

  make_session(&f, T0); /* destroyed by another request */
  snprintf(dead, sizeof dead, "%s", f.cookie);
  s = begin(&f, dead, T0 + SEC);
  CHECK_OK(sessio_destroy(s));
  CHECK_OK(commit(&f, s, T0 + SEC, sc, sizeof sc));
  read_only(&f, dead, T0 + 2 * SEC, sc, sizeof sc);
  CHECK(strncmp(sc, "shop_sid=;", 10) == 0 && strstr(sc, "Max-Age=0"));
  CHECK_INT(store_sessions(&f), 0); /* S16: the deletion stores nothing */

  /* No session cookie at all: nothing (S16). */
  read_only(&f, NULL, T0, sc, sizeof sc);
  CHECK_STR(sc, "");
  read_only(&f, "theme=dark; sid=x", T0, sc, sizeof sc);
  CHECK_STR(sc, "");

  /* A live session beside the dead ID: it is adopted, nothing sent (S12). */
  make_session(&f, T0);
  char both[256];
  snprintf(both, sizeof both, "%s; %s", unknown, f.cookie);
  s = begin(&f, both, T0 + SEC);
  CHECK(sessio_exists(s));
  CHECK_INT(sessio_rejected_ids(s), 1);
  CHECK_OK(commit(&f, s, T0 + SEC, sc, sizeof sc));
  CHECK_STR(sc, "");

  /* A dead ID and new data: the new session's cookie, never the dead ID. */
  s = begin(&f, unknown, T0);
  CHECK_OK(sessio_incr(s, "cart.A1", 1, NULL));
  CHECK_OK(commit(&f, s, T0, sc, sizeof sc));
  CHECK(strncmp(sc, "shop_sid=", 9) == 0 && strstr(sc, "Max-Age=0") == NULL);
  CHECK(strstr(sc, fake) == NULL);
  fx_done(&f);
}

static void cfg_rotate(sessio_config *c) {
  sessio_config_set_rotation(c, 15 * MIN, 30 * SEC);
  sessio_config_set_touch_interval(c, 0);
}

/* S15: periodic rotation of an authenticated session, with a grace window
 * for requests in flight with the old ID. */
static void test_rotation_with_grace_window(void) {
  fx f;
  fx_init_cfg(&f, cfg_rotate);
  sessio *s = begin(&f, NULL, T0);
  CHECK_OK(sessio_login(s, "alice", 0, T0));
  CHECK_OK(commit(&f, s, T0, NULL, 0));
  char before[128];
  snprintf(before, sizeof before, "%s", f.cookie);
  /* Before the interval: no rotation. */
  char sc[256];
  s = begin(&f, f.cookie, T0 + 15 * MIN - 1);
  CHECK_OK(commit(&f, s, T0 + 15 * MIN - 1, sc, sizeof sc));
  CHECK_STR(sc, "");
  /* At the interval: a new ID. */
  int64_t t = T0 + 15 * MIN;
  s = begin(&f, f.cookie, t);
  CHECK_OK(commit(&f, s, t, sc, sizeof sc));
  CHECK(strcmp(before, f.cookie) != 0);
  /* Within the grace window the old ID still reaches the session, and the
   * answer moves the client to the new ID. */
  s = begin(&f, before, t + 30 * SEC - 1);
  CHECK_STR(sessio_user(s), "alice");
  CHECK_OK(sessio_incr(s, "n", 1, NULL));
  char sc2[256];
  sessio_err rc = sessio_commit(s, t + 30 * SEC - 1);
  CHECK_OK(rc);
  snprintf(sc2, sizeof sc2, "%s",
           sessio_cookie_header(s) ? sessio_cookie_header(s) : "");
  sessio_free(s);
  CHECK(strncmp(sc2, f.cookie, strlen(f.cookie)) == 0);
  /* After it, the old ID is dead. */
  s = begin(&f, before, t + 30 * SEC);
  CHECK(!sessio_exists(s));
  sessio_free(s);
  s = begin(&f, f.cookie, t + 31 * SEC);
  int64_t n = 0;
  CHECK(sessio_get_int(s, "n", &n) && n == 1);
  sessio_free(s);
  fx_done(&f);
}

/* S18: list a user's sessions, revoke all others, revoke one, and stale
 * index entries are repaired on read. */
static void test_user_sessions_list_and_revoke(void) {
  fx f;
  fx_init(&f);
  char c[3][128];
  for (int i = 0; i < 3; i++) {
    sessio *s = begin(&f, NULL, T0 + i);
    char ua[32];
    snprintf(ua, sizeof ua, "device-%d", i);
    CHECK_OK(sessio_set_label(s, ua));
    CHECK_OK(sessio_login(s, "alice", 0, T0 + i));
    CHECK_OK(commit(&f, s, T0 + i, NULL, 0));
    snprintf(c[i], sizeof c[i], "%s", f.cookie);
  }
  make_session(&f, T0); /* a guest: not listed */
  sessio_session_info *v = NULL;
  size_t n = 0;
  CHECK_OK(sessio_manager_user_sessions(f.m, "alice", T0 + 10, &v, &n));
  CHECK_INT(n, 3);
  if (n == 3) {
    CHECK_STR(v[0].label, "device-2"); /* most recent first */
    CHECK_STR(v[2].label, "device-0");
  }
  free(v);
  CHECK_OK(sessio_manager_user_sessions(f.m, "nobody", T0, &v, &n));
  CHECK_INT(n, 0);
  CHECK(v == NULL);

  /* "Sign out everywhere else" from device 2. */
  sessio *s = begin(&f, c[2], T0 + 20);
  char keep[SESSIO_HANDLE_LEN + 1];
  snprintf(keep, sizeof keep, "%s", sessio_handle(s));
  sessio_free(s);
  size_t revoked = 0;
  CHECK_OK(sessio_manager_revoke_all(f.m, "alice", keep, T0 + 20, &revoked));
  CHECK_INT(revoked, 2);
  for (int i = 0; i < 2; i++) {
    s = begin(&f, c[i], T0 + 21);
    CHECK(!sessio_exists(s));
    sessio_free(s);
  }
  s = begin(&f, c[2], T0 + 21);
  CHECK_STR(sessio_user(s), "alice");
  sessio_free(s);
  /* A handle of somebody else's session revokes nothing. */
  CHECK_OK(sessio_manager_revoke_one(f.m, "bob", keep, T0 + 22, &revoked));
  CHECK_INT(revoked, 0);
  /* Revoke exactly one. */
  CHECK_OK(sessio_manager_revoke_one(f.m, "alice", keep, T0 + 22, &revoked));
  CHECK_INT(revoked, 1);
  CHECK_OK(sessio_manager_user_sessions(f.m, "alice", T0 + 23, &v, &n));
  CHECK_INT(n, 0);
  free(v);
  fx_done(&f);
}

/* S19: a CSRF token exists with the session, is checked exactly. */
static void test_csrf_token(void) {
  fx f;
  fx_init(&f);
  sessio *s = begin(&f, NULL, T0);
  CHECK(!sessio_csrf_check(s, "", 0));
  CHECK_OK(sessio_set_int(s, "x", 1));
  const char *tok = sessio_csrf_token(s);
  CHECK(tok != NULL && strlen(tok) == SESSIO_CSRF_LEN);
  char t[SESSIO_CSRF_LEN + 1];
  snprintf(t, sizeof t, "%s", tok);
  CHECK(strspn(t, "0123456789abcdef") == SESSIO_CSRF_LEN);
  CHECK(sessio_csrf_check(s, t, SESSIO_CSRF_LEN));
  CHECK(!sessio_csrf_check(s, t, SESSIO_CSRF_LEN - 1));
  t[10] = t[10] == 'a' ? 'b' : 'a';
  CHECK(!sessio_csrf_check(s, t, SESSIO_CSRF_LEN));
  CHECK(sessio_type_of(s, "_csrf") == SESSIO_T_NONE); /* reserved, hidden */
  CHECK_ERR(sessio_set_str(s, "_csrf", "mine"), SESSIO_EINVAL);
  CHECK_OK(commit(&f, s, T0, NULL, 0));
  s = begin(&f, f.cookie, T0 + 1);
  CHECK(sessio_csrf_token(s) && strlen(sessio_csrf_token(s)) == 64);
  sessio_free(s);
  fx_done(&f);
}

/* S19: the record keeps 16 bytes of the CSPRNG, not the token: the token
 * is derived from them with a keyed hash, so neither a copy of the store
 * nor the opened data holds it. Regenerating the ID keeps the token; two
 * sessions never share one. */
static void test_csrf_token_derived_not_stored_S19(void) {
  fx f;
  fx_init(&f);
  make_session(&f, T0);
  sessio *s = begin(&f, f.cookie, T0 + 1);
  char tok[SESSIO_CSRF_LEN + 1];
  snprintf(tok, sizeof tok, "%s", sessio_csrf_token(s));
  CHECK_OK(sessio_regenerate(s));
  CHECK_STR(sessio_csrf_token(s), tok);
  CHECK_OK(commit(&f, s, T0 + 1, NULL, 0));
  s = begin(&f, f.cookie, T0 + 2);
  CHECK_STR(sessio_csrf_token(s), tok);
  sessio_free(s);

  uint8_t raw[SESSIO_ID_BYTES], seal[SESSIO__SEAL_KEY_BYTES], tb[32];
  sessio_key key;
  sessio_record rec;
  sessio__meta meta;
  sessio__buf pt = SESSIO__BUF_INIT;
  sessio__map m = SESSIO__MAP_INIT;
  size_t hdr;
  int found;
  CHECK(sessio__unhex(tok, sizeof tb, tb));
  CHECK(sessio__id_decode(f.cookie + 4, SESSIO_ID_LEN, raw));
  sessio__keys_derive(NULL, 0, raw, &key, seal);
  CHECK_OK(sessio__store_load(f.st->inner, &key, T0 + 2, &rec, &found));
  CHECK(found);
  CHECK(sessio__record_meta(rec.blob, rec.blob_len, &meta, &hdr));
  CHECK(sessio__record_open(rec.blob, rec.blob_len, hdr, rec.user, seal, &pt) ==
        1);
  CHECK(!meta.chunked); /* small: the map is inline */
  CHECK_OK(sessio__map_decode(&m, pt.data, pt.len));
  const sessio__entry *e = sessio__map_get(&m, "_c", 2);
  CHECK(e != NULL && e->type == SESSIO_T_BYTES);
  CHECK_INT(e->len, 16);
  for (size_t i = 0; i + 8 <= pt.len; i++) CHECK(memcmp(pt.data + i, tb, 8));
  for (size_t i = 0; i + 8 <= rec.blob_len; i++)
    CHECK(memcmp(rec.blob + i, tb, 8));
  sessio__map_free(&m);
  sessio__buf_free(&pt);
  sessio_record_clear(&rec);

  /* Another session, another token. */
  f.cookie[0] = '\0';
  make_session(&f, T0);
  s = begin(&f, f.cookie, T0 + 3);
  CHECK(strcmp(sessio_csrf_token(s), tok) != 0);
  sessio_free(s);
  fx_done(&f);
}

static void test_flash_is_one_shot(void) {
  fx f;
  fx_init(&f);
  sessio *s = begin(&f, NULL, T0);
  CHECK_OK(sessio_flash_set(s, "notice", "Order placed"));
  CHECK_OK(commit(&f, s, T0, NULL, 0));
  const char *msg = NULL;
  s = begin(&f, f.cookie, T0 + 1);
  CHECK(sessio_flash_take(s, "notice", &msg));
  CHECK_STR(msg, "Order placed");
  CHECK(!sessio_flash_take(s, "notice", &msg));
  CHECK_OK(commit(&f, s, T0 + 1, NULL, 0));
  s = begin(&f, f.cookie, T0 + 2);
  CHECK(!sessio_flash_take(s, "notice", &msg));
  sessio_free(s);
  fx_done(&f);
}

static int count_cb(void *ud, const char *key, sessio_type t, const void *v,
                    size_t len, int64_t ival) {
  (void)key, (void)t, (void)v, (void)len;
  *(int64_t *)ud += ival;
  return 0;
}

static void test_data_types_prefix_and_limits(void) {
  fx f;
  fx_init(&f);
  sessio *s = begin(&f, NULL, T0);
  CHECK_OK(sessio_set_str(s, "s", "text"));
  CHECK_OK(sessio_set_int(s, "i", -42));
  CHECK_OK(sessio_set_bool(s, "b", 1));
  CHECK_OK(sessio_set_bytes(s, "y", "\0\1\2", 3));
  CHECK_OK(sessio_incr(s, "cart.A", 2, NULL));
  CHECK_OK(sessio_incr(s, "cart.B", 3, NULL));
  CHECK_ERR(sessio_incr(s, "s", 1, NULL), SESSIO_ETYPE);
  CHECK_OK(sessio_set_int(s, "max", INT64_MAX));
  CHECK_ERR(sessio_incr(s, "max", 1, NULL), SESSIO_EOVERFLOW);
  CHECK_OK(commit(&f, s, T0, NULL, 0));

  s = begin(&f, f.cookie, T0 + 1);
  const char *str;
  int64_t i;
  int b;
  const void *y;
  size_t len;
  CHECK(sessio_get_str(s, "s", &str, &len) && len == 4);
  CHECK(sessio_get_int(s, "i", &i) && i == -42);
  CHECK(sessio_get_bool(s, "b", &b) && b == 1);
  CHECK(sessio_get_bytes(s, "y", &y, &len) && len == 3 &&
        memcmp(y, "\0\1\2", 3) == 0);
  CHECK(!sessio_get_int(s, "s", &i)); /* wrong type */
  CHECK(sessio_type_of(s, "b") == SESSIO_T_BOOL);
  int64_t sum = 0;
  CHECK_OK(sessio_iterate(s, "cart.", count_cb, &sum));
  CHECK_INT(sum, 5);
  CHECK_OK(sessio_delete_prefix(s, "cart."));
  sum = 0;
  CHECK_OK(sessio_iterate(s, "cart.", count_cb, &sum));
  CHECK_INT(sum, 0);
  /* Limits give a clear error and change nothing. */
  char big[200];
  memset(big, 'k', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  CHECK_ERR(sessio_set_int(s, big, 1), SESSIO_ETOOBIG);
  char *huge = calloc(1, 9000);
  memset(huge, 'v', 8999);
  CHECK_ERR(sessio_set_str(s, "v", huge), SESSIO_ETOOBIG);
  CHECK(sessio_type_of(s, "v") == SESSIO_T_NONE);
  for (int k = 0; k < 8; k++) {
    char key[16];
    snprintf(key, sizeof key, "f%d", k);
    CHECK_OK(sessio_set_strn(s, key, huge, 8000));
  }
  CHECK_ERR(sessio_set_strn(s, "f8", huge, 8000), SESSIO_ETOOBIG);
  free(huge);
  CHECK_ERR(sessio_set_int(s, "", 1), SESSIO_EINVAL);
  CHECK_ERR(sessio_set_int(s, "sp ace", 1), SESSIO_EINVAL);
  CHECK_ERR(sessio_set_int(s, "_x", 1), SESSIO_EINVAL);
  CHECK_OK(commit(&f, s, T0 + 2, NULL, 0));
  fx_done(&f);
}

/* Corrupted records (any byte changed) are rejected cleanly: the request
 * is anonymous, nothing crashes. */
static void test_corrupted_record_is_no_session(void) {
  fx f;
  fx_init(&f);
  make_session(&f, T0);
  /* Tamper with the stored blob through the store API. */
  sessio *s;
  uint8_t raw[SESSIO_ID_BYTES];
  sessio_key key;
  CHECK(sessio__id_decode(f.cookie + 4, SESSIO_ID_LEN, raw));
  sessio__key_derive(NULL, 0, raw, &key);
  sessio_record rec;
  int found;
  CHECK_OK(sessio__store_load(f.st->inner, &key, T0, &rec, &found));
  CHECK(found);
  for (size_t pos = 0; found && pos < rec.blob_len; pos += 7) {
    uint64_t v;
    rec.blob[pos] ^= 0x5a;
    CHECK_OK(sessio__store_save(f.st->inner, &key, &rec, rec.version, T0, &v));
    rec.version = v;
    s = begin(&f, f.cookie, T0 + 1);
    CHECK(!sessio_exists(s));
    sessio_free(s);
    rec.blob[pos] ^= 0x5a;
  }
  sessio_record_clear(&rec);
  fx_done(&f);
}

/* A record's idle_ms is read from the store before the seal is checked and
 * may be anything up to INT64_MAX: the deadline saturates instead of
 * overflowing (found by fuzz/record_fuzz.c, fuzz/regressions/record/). */
static void test_stored_idle_ms_int64_max_does_not_overflow(void) {
  fx f;
  fx_init(&f);
  make_session(&f, T0);
  uint8_t raw[SESSIO_ID_BYTES], seal[SESSIO__SEAL_KEY_BYTES];
  sessio_key key;
  sessio_record rec;
  sessio__meta meta;
  sessio__buf pt = SESSIO__BUF_INIT, blob = SESSIO__BUF_INIT;
  size_t hdr;
  int found;
  uint64_t v;
  CHECK(sessio__id_decode(f.cookie + 4, SESSIO_ID_LEN, raw));
  sessio__keys_derive(NULL, 0, raw, &key, seal);
  CHECK_OK(sessio__store_load(f.st->inner, &key, T0, &rec, &found));
  CHECK(found);
  CHECK(sessio__record_meta(rec.blob, rec.blob_len, &meta, &hdr));
  CHECK(sessio__record_open(rec.blob, rec.blob_len, hdr, rec.user, seal, &pt) ==
        1);
  meta.idle_ms = INT64_MAX;
  CHECK_OK(
      sessio__record_encode(&meta, rec.user, seal, pt.data, pt.len, &blob));
  sessio_record_clear(&rec);
  rec.blob = blob.data;
  rec.blob_len = blob.len;
  CHECK_OK(sessio__store_save(f.st->inner, &key, &rec, rec.version, T0, &v));
  /* Still the live session it was (before the fix: UBSan's overflow). */
  CHECK_INT(cart(&f, T0 + 1), 1);
  sessio__buf_free(&pt);
  sessio__buf_free(&blob);
  fx_done(&f);
}

/* A record written by the 1.0 pre-releases (record format 1: XChaCha20-
 * Poly1305, the CSRF token stored whole) is made by that code path
 * (sessio__record_encode at commit 7a9726f) for the raw ID 01 02 .. 20, no
 * server secret, user "alice", label "fixture", created at T0, 30 days of
 * idle and absolute life, data {_c: a0 a1 .. bf, cart.A1: 3, note: "format
 * one"}. Format 2 still reads it, keeps its CSRF token, and a commit writes
 * it back as format 2. */
static const uint8_t format1_record[] = {
    0x53, 0x01, 0x01, 0x80, 0xd0, 0x95, 0xff, 0xbc, 0x31, 0x00, 0x00, 0x80,
    0x90, 0xfb, 0xd3, 0x09, 0x80, 0xa0, 0xf6, 0xa7, 0x13, 0x07, 0x66, 0x69,
    0x78, 0x74, 0x75, 0x72, 0x65, 0x9b, 0x8f, 0x99, 0x06, 0xd4, 0x07, 0x44,
    0xde, 0xea, 0x91, 0xae, 0xf1, 0x82, 0x9a, 0xbf, 0x65, 0xff, 0x48, 0xab,
    0x04, 0xe5, 0x1c, 0xae, 0x69, 0x11, 0xb2, 0x68, 0x07, 0x88, 0x7c, 0xb0,
    0x8e, 0x11, 0x39, 0x4f, 0xf3, 0x77, 0x32, 0x01, 0x43, 0x23, 0xa6, 0xc5,
    0x15, 0x79, 0x0d, 0x08, 0x80, 0x44, 0xc5, 0xb7, 0xda, 0xfe, 0xfb, 0xc9,
    0xc2, 0x47, 0x8a, 0x2d, 0x9c, 0x40, 0x26, 0x56, 0x1f, 0xc7, 0x24, 0x94,
    0xa5, 0xdd, 0xc9, 0xca, 0x6c, 0x7f, 0x33, 0x62, 0x49, 0x04, 0x8f, 0x9d,
    0x11, 0xac, 0xc8, 0xcd, 0xd7, 0xc8, 0xaf, 0x77, 0xc3, 0xf8, 0x28, 0x6c,
    0xb7, 0x76, 0xb0, 0xd7, 0xb4, 0x50, 0x35, 0x22, 0xda, 0x8b, 0xa6, 0xc9,
    0x7a, 0x02, 0xfa,
};

static void test_format1_record_still_decodes_S35(void) {
  fx f;
  fx_init(&f);
  uint8_t raw[SESSIO_ID_BYTES], seal[SESSIO__SEAL_KEY_BYTES];
  for (int i = 0; i < SESSIO_ID_BYTES; i++) raw[i] = (uint8_t)(i + 1);
  sessio_key key;
  sessio__keys_derive(NULL, 0, raw, &key, seal);
  sessio_record rec;
  uint8_t blob1[sizeof format1_record];
  memcpy(blob1, format1_record, sizeof blob1);
  memset(&rec, 0, sizeof rec);
  rec.blob = blob1;
  rec.blob_len = sizeof blob1;
  rec.touched_at = T0;
  rec.expires_at = T0 + 30 * 24 * HOUR;
  strcpy(rec.user, "alice");
  uint64_t v;
  CHECK_OK(sessio__store_save(f.st->inner, &key, &rec, 0, T0, &v));
  char id[SESSIO_ID_LEN + 1];
  sessio__id_encode(raw, id);
  snprintf(f.cookie, sizeof f.cookie, "sid=%s", id);
  const char *want_csrf =
      "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf";

  sessio *s = begin(&f, f.cookie, T0 + SEC);
  CHECK(sessio_exists(s));
  CHECK_STR(sessio_user(s), "alice");
  CHECK_STR(sessio_label(s), "fixture");
  int64_t n = 0;
  CHECK(sessio_get_int(s, "cart.A1", &n));
  CHECK_INT(n, 3);
  const char *note = NULL;
  CHECK(sessio_get_str(s, "note", &note, NULL));
  CHECK_STR(note, "format one");
  CHECK_STR(sessio_csrf_token(s), want_csrf);
  CHECK(sessio_csrf_check(s, want_csrf, strlen(want_csrf)));
  CHECK_OK(sessio_incr(s, "cart.A1", 1, NULL));
  CHECK_OK(commit(&f, s, T0 + 2 * SEC, NULL, 0));

  /* Written back as format 2, and still the same session and token. */
  int found;
  CHECK_OK(sessio__store_load(f.st->inner, &key, T0 + 2 * SEC, &rec, &found));
  CHECK(found);
  CHECK(rec.blob_len > 2);
  CHECK_INT(rec.blob[0], 'S');
  CHECK_INT(rec.blob[1], 2);
  sessio_record_clear(&rec);
  s = begin(&f, f.cookie, T0 + 3 * SEC);
  CHECK(sessio_get_int(s, "cart.A1", &n));
  CHECK_INT(n, 4);
  CHECK_STR(sessio_user(s), "alice");
  CHECK_STR(sessio_csrf_token(s), want_csrf);
  sessio_free(s);

  /* A format-1 record with its format byte changed to 2 does not open: the
   * format is authenticated. */
  uint8_t forged[sizeof format1_record];
  memcpy(forged, format1_record, sizeof forged);
  forged[1] = 2;
  rec.blob = forged;
  rec.blob_len = sizeof forged;
  rec.touched_at = T0;
  rec.expires_at = T0 + 30 * 24 * HOUR;
  strcpy(rec.user, "alice");
  CHECK_OK(sessio__store_load(f.st->inner, &key, T0 + 3 * SEC, &rec, &found));
  uint64_t cur = rec.version;
  sessio_record_clear(&rec);
  rec.blob = forged;
  rec.blob_len = sizeof forged;
  rec.touched_at = T0 + 3 * SEC;
  rec.expires_at = T0 + 30 * 24 * HOUR;
  strcpy(rec.user, "alice");
  CHECK_OK(sessio__store_save(f.st->inner, &key, &rec, cur, T0 + 3 * SEC, &v));
  s = begin(&f, f.cookie, T0 + 4 * SEC);
  CHECK(!sessio_exists(s));
  sessio_free(s);
  fx_done(&f);
}

/* ---- chunked records (record format 2) ------------------------------- */

/* A copy of a stored record, in the test's own memory. */
typedef struct tblob {
  uint8_t *p;
  size_t len;
} tblob;

/* A chunk as the directory lists it (pointers into a tblob and its
 * directory), read here without the library's parser. */
typedef struct tchunk {
  const uint8_t *nonce, *ct;
  size_t ct_len;
} tchunk;

/* The stored record of the fx's session, copied into '*blob'. */
static void stored_blob(fx *f, int64_t now, tblob *blob) {
  uint8_t raw[SESSIO_ID_BYTES], seal[SESSIO__SEAL_KEY_BYTES];
  sessio_key key;
  sessio_record rec;
  int found;
  CHECK(sessio__id_decode(f->cookie + 4, SESSIO_ID_LEN, raw));
  sessio__keys_derive(NULL, 0, raw, &key, seal);
  CHECK_OK(sessio__store_load(f->st->inner, &key, now, &rec, &found));
  CHECK(found);
  free(blob->p);
  blob->p = malloc(rec.blob_len);
  CHECK(blob->p != NULL);
  memcpy(blob->p, rec.blob, rec.blob_len);
  blob->len = rec.blob_len;
  sessio_record_clear(&rec);
}

/* Writes 'blob' over the fx's stored record. */
static void store_blob(fx *f, int64_t now, const tblob *blob) {
  uint8_t raw[SESSIO_ID_BYTES], seal[SESSIO__SEAL_KEY_BYTES];
  sessio_key key;
  sessio_record rec;
  int found;
  uint64_t v;
  CHECK(sessio__id_decode(f->cookie + 4, SESSIO_ID_LEN, raw));
  sessio__keys_derive(NULL, 0, raw, &key, seal);
  CHECK_OK(sessio__store_load(f->st->inner, &key, now, &rec, &found));
  CHECK(found);
  sessio_record_clear(&rec);
  rec.blob = blob->p;
  rec.blob_len = blob->len;
  CHECK_OK(sessio__store_save(f->st->inner, &key, &rec, rec.version, now, &v));
}

/* The chunks of a stored record (format 2) into 'c' (room for 64); 0 when
 * its data is inline. 'dir' gets the directory's plaintext. */
static size_t blob_chunks(fx *f, const tblob *blob, sessio__buf *dir,
                          tchunk *c) {
  uint8_t raw[SESSIO_ID_BYTES], seal[SESSIO__SEAL_KEY_BYTES];
  sessio_key key;
  sessio__meta meta;
  size_t hdr;
  uint64_t n, len;
  CHECK(sessio__id_decode(f->cookie + 4, SESSIO_ID_LEN, raw));
  sessio__keys_derive(NULL, 0, raw, &key, seal);
  CHECK(sessio__record_meta(blob->p, blob->len, &meta, &hdr));
  CHECK_INT(meta.format, 2);
  CHECK_INT(sessio__record_open(blob->p, blob->len, hdr, "", seal, dir), 1);
  if (!meta.chunked) return 0;
  const uint8_t *p = dir->data, *end = dir->data + dir->len;
  const uint8_t *body = blob->p + hdr + meta.sealed_len;
  CHECK(sessio__get_varint(&p, end, &n) && n <= 64);
  for (size_t i = 0; i < n; i++) {
    c[i].nonce = p;
    p += 12;
    CHECK(sessio__get_varint(&p, end, &len));
    c[i].ct = body;
    c[i].ct_len = (size_t)len;
    body += len;
    CHECK(sessio__get_varint(&p, end, &len));
    p += len;
  }
  CHECK(p == end && body == blob->p + blob->len);
  return (size_t)n;
}

static int count_keys_cb(void *ud, const char *key, sessio_type t,
                         const void *v, size_t len, int64_t ival) {
  (void)key, (void)t, (void)v, (void)len, (void)ival;
  ++*(int64_t *)ud;
  return 0;
}

static void fill(char *p, size_t n, char c) {
  memset(p, c, n);
  p[n] = '\0';
}

/* Sets pad.0 .. pad.<n-1> to 3,000 bytes each ('a', 'b', ...): a session
 * of several chunks. */
static void set_pads(sessio *s, int n) {
  static char big[3001];
  for (int i = 0; i < n; i++) {
    char k[16];
    snprintf(k, sizeof k, "pad.%d", i);
    fill(big, 3000, (char)('a' + i));
    CHECK_OK(sessio_set_str(s, k, big));
  }
}

/* A one-key change to a big session seals only the chunk of that key
 * again: every other chunk's ciphertext (and nonce) is copied as it was.
 * All values read back; a prefix delete spans chunks; a session that
 * shrinks goes back to inline. */
static void test_chunked_record_reseals_only_the_touched_chunk(void) {
  fx f;
  fx_init(&f);
  make_session(&f, T0);
  static char big[3001];
  sessio *s = begin(&f, f.cookie, T0 + 1);
  set_pads(s, 5);
  CHECK_OK(sessio_set_int(s, "z.small", 5));
  CHECK_OK(commit(&f, s, T0 + 1, NULL, 0));

  tblob b1 = {NULL, 0}, b2 = {NULL, 0};
  sessio__buf d1 = SESSIO__BUF_INIT, d2 = SESSIO__BUF_INIT;
  tchunk c1[64], c2[64];
  stored_blob(&f, T0 + 1, &b1);
  size_t n1 = blob_chunks(&f, &b1, &d1, c1);
  CHECK(n1 >= 6); /* the cart, each pad value alone, the small key */

  s = begin(&f, f.cookie, T0 + 2);
  CHECK_OK(sessio_incr(s, "cart.A1", 1, NULL));
  CHECK_OK(commit(&f, s, T0 + 2, NULL, 0));
  stored_blob(&f, T0 + 2, &b2);
  size_t n2 = blob_chunks(&f, &b2, &d2, c2);
  CHECK_INT(n2, n1);
  size_t same = 0;
  for (size_t i = 0; i < n1; i++)
    same += memcmp(c1[i].nonce, c2[i].nonce, 12) == 0 &&
            c1[i].ct_len == c2[i].ct_len &&
            memcmp(c1[i].ct, c2[i].ct, c1[i].ct_len) == 0;
  CHECK_INT(same, n1 - 1);

  s = begin(&f, f.cookie, T0 + 3);
  int64_t v = 0;
  CHECK(sessio_get_int(s, "cart.A1", &v) && v == 2);
  CHECK(sessio_get_int(s, "z.small", &v) && v == 5);
  for (int i = 0; i < 5; i++) {
    char k[16];
    const char *got = NULL;
    size_t len = 0;
    snprintf(k, sizeof k, "pad.%d", i);
    fill(big, 3000, (char)('a' + i));
    CHECK(sessio_get_str(s, k, &got, &len));
    CHECK(len == 3000 && memcmp(got, big, 3000) == 0);
  }
  int64_t count = 0;
  CHECK_OK(sessio_iterate(s, "pad.", count_keys_cb, &count));
  CHECK_INT(count, 5);
  CHECK_OK(sessio_delete_prefix(s, "pad."));
  CHECK_OK(commit(&f, s, T0 + 3, NULL, 0));
  stored_blob(&f, T0 + 3, &b1);
  CHECK_INT(blob_chunks(&f, &b1, &d1, c1), 0); /* inline again */
  CHECK_INT(cart(&f, T0 + 4), 2);
  s = begin(&f, f.cookie, T0 + 4);
  CHECK(sessio_get_int(s, "z.small", &v) && v == 5);
  CHECK(sessio_csrf_token(s) != NULL);
  sessio_free(s);
  free(b1.p);
  free(b2.p);
  sessio__buf_free(&d1);
  sessio__buf_free(&d2);
  fx_done(&f);
}

/* Merge-safe commit on a chunked record: two requests that began on the
 * same version change keys in different chunks and the same counter; the
 * second one conflicts, reloads (only the directory), replays its log on
 * the chunks it touches, and nothing is lost. A regenerate (a new key)
 * seals every chunk anew and the data stays whole. */
static void test_chunked_record_merges_concurrent_commits(void) {
  fx f;
  fx_init(&f);
  make_session(&f, T0);
  static char big[3001];
  sessio *s = begin(&f, f.cookie, T0 + 1);
  set_pads(s, 4);
  CHECK_OK(commit(&f, s, T0 + 1, NULL, 0));

  sessio *a = begin(&f, f.cookie, T0 + 2);
  sessio *b = begin(&f, f.cookie, T0 + 2);
  CHECK_OK(sessio_incr(a, "cart.A1", 1, NULL));
  fill(big, 3000, 'x');
  CHECK_OK(sessio_set_str(a, "pad.1", big));
  CHECK_OK(sessio_incr(b, "cart.A1", 1, NULL));
  fill(big, 3000, 'y');
  CHECK_OK(sessio_set_str(b, "pad.3", big));
  CHECK_OK(sessio_delete(b, "pad.0"));
  CHECK_OK(sessio_commit(a, T0 + 2));
  CHECK_OK(sessio_commit(b, T0 + 2));
  sessio_free(a);
  sessio_free(b);

  s = begin(&f, f.cookie, T0 + 3);
  int64_t v = 0;
  const char *got;
  size_t len;
  CHECK(sessio_get_int(s, "cart.A1", &v));
  CHECK_INT(v, 3);
  CHECK(!sessio_get_str(s, "pad.0", &got, &len));
  CHECK(sessio_get_str(s, "pad.1", &got, &len) && len == 3000 && got[0] == 'x');
  CHECK(sessio_get_str(s, "pad.2", &got, &len) && len == 3000 && got[0] == 'c');
  CHECK(sessio_get_str(s, "pad.3", &got, &len) && len == 3000 && got[0] == 'y');
  CHECK_OK(sessio_regenerate(s));
  CHECK_OK(commit(&f, s, T0 + 3, NULL, 0));
  s = begin(&f, f.cookie, T0 + 4);
  CHECK(sessio_get_str(s, "pad.2", &got, &len) && len == 3000 && got[0] == 'c');
  CHECK(sessio_get_int(s, "cart.A1", &v) && v == 3);
  sessio_free(s);
  fx_done(&f);
}

/* A chunk is bound to its record's version: the ciphertext of a chunk of
 * an older version put in its place does not open (its value reads as
 * absent, a write to its range is SESSIO_ECORRUPT, the other chunks still
 * read), and a truncated or extended record is no session at all. */
static void test_chunk_of_another_version_does_not_open(void) {
  fx f;
  fx_init(&f);
  make_session(&f, T0);
  static char big[3001];
  sessio *s = begin(&f, f.cookie, T0 + 1);
  fill(big, 3000, 'a');
  CHECK_OK(sessio_set_str(s, "pad.0", big));
  CHECK_OK(sessio_set_str(s, "pad.1", big));
  CHECK_OK(commit(&f, s, T0 + 1, NULL, 0));
  tblob old = {NULL, 0}, cur = {NULL, 0};
  sessio__buf d1 = SESSIO__BUF_INIT, d2 = SESSIO__BUF_INIT;
  tchunk c1[64], c2[64];
  stored_blob(&f, T0 + 1, &old);
  s = begin(&f, f.cookie, T0 + 2);
  fill(big, 3000, 'b');
  CHECK_OK(sessio_set_str(s, "pad.1", big));
  CHECK_OK(commit(&f, s, T0 + 2, NULL, 0));
  stored_blob(&f, T0 + 2, &cur);
  size_t n = blob_chunks(&f, &old, &d1, c1);
  CHECK_INT(blob_chunks(&f, &cur, &d2, c2), n);
  size_t swapped = 0;
  for (size_t i = 0; i < n; i++)
    if (memcmp(c1[i].nonce, c2[i].nonce, 12) != 0 &&
        c1[i].ct_len == c2[i].ct_len) {
      memcpy((uint8_t *)c2[i].ct, c1[i].ct, c1[i].ct_len);
      swapped++;
    }
  CHECK_INT(swapped, 1);
  store_blob(&f, T0 + 2, &cur);
  s = begin(&f, f.cookie, T0 + 3);
  const char *got;
  size_t len;
  CHECK(sessio_exists(s));
  CHECK(!sessio_get_str(s, "pad.1", &got, &len));
  CHECK_ERR(sessio_set_str(s, "pad.1", "x"), SESSIO_ECORRUPT);
  CHECK(sessio_get_str(s, "pad.0", &got, &len) && got[0] == 'a');
  sessio_free(s);

  /* Truncated by a byte, or a byte more: not a session. */
  cur.len--;
  store_blob(&f, T0 + 3, &cur);
  s = begin(&f, f.cookie, T0 + 4);
  CHECK(!sessio_exists(s));
  sessio_free(s);
  free(old.p);
  free(cur.p);
  sessio__buf_free(&d1);
  sessio__buf_free(&d2);
  fx_done(&f);
}

/* A store that is down is an error for begin and commit, never a crash and
 * never a silent logout. */
static void test_store_down_is_an_error(void) {
  fx f;
  fx_init(&f);
  make_session(&f, T0);
  f.st->down = 1;
  sessio *s = (sessio *)1;
  const char *h[1] = {f.cookie};
  CHECK_ERR(sessio_begin(f.m, h, 1, 0, T0, &s), SESSIO_EUNAVAIL);
  CHECK(s == NULL);
  f.st->down = 0;
  s = begin(&f, f.cookie, T0);
  CHECK_OK(sessio_incr(s, "cart.A1", 1, NULL));
  f.st->down = 1;
  CHECK_ERR(sessio_commit(s, T0), SESSIO_EUNAVAIL);
  CHECK(sessio_cookie_header(s) == NULL);
  sessio_free(s);
  f.st->down = 0;
  CHECK_INT(cart(&f, T0 + 1), 1);
  fx_done(&f);
}

static void cfg_touch(sessio_config *c) {
  sessio_config_set_touch_interval(c, MIN);
}

/* An unchanged session is touched at most once per touch interval, and
 * never rewritten. */
static void test_touch_is_throttled(void) {
  fx f;
  fx_init_cfg(&f, cfg_touch);
  make_session(&f, T0);
  int saves = f.st->saves;
  for (int64_t t = T0; t < T0 + 5 * MIN; t += 10 * SEC) {
    sessio *s = begin(&f, f.cookie, t);
    CHECK_OK(commit(&f, s, t, NULL, 0));
  }
  CHECK_INT(f.st->saves, saves);
  CHECK_INT(f.st->touches, 4); /* at +1, +2, +3, +4 min */
  fx_done(&f);
}

/* Two overlapping requests of one user: both updates land. */
static void test_overlapping_requests_merge(void) {
  fx f;
  fx_init(&f);
  make_session(&f, T0);
  sessio *a = begin(&f, f.cookie, T0 + 1);
  sessio *b = begin(&f, f.cookie, T0 + 1);
  CHECK_OK(sessio_incr(a, "cart.A1", 1, NULL));
  CHECK_OK(sessio_set_str(a, "theme", "dark"));
  CHECK_OK(sessio_incr(b, "cart.A1", 1, NULL));
  CHECK_OK(sessio_set_str(b, "lang", "fr"));
  CHECK_OK(sessio_commit(a, T0 + 2));
  CHECK_OK(sessio_commit(b, T0 + 2));
  sessio_free(a);
  sessio_free(b);
  sessio *s = begin(&f, f.cookie, T0 + 3);
  int64_t v = 0;
  const char *str;
  CHECK(sessio_get_int(s, "cart.A1", &v));
  CHECK_INT(v, 3);
  CHECK(sessio_get_str(s, "theme", &str, NULL) && strcmp(str, "dark") == 0);
  CHECK(sessio_get_str(s, "lang", &str, NULL) && strcmp(str, "fr") == 0);
  sessio_free(s);
  fx_done(&f);
}

typedef struct thr {
  fx *f;
  int id;
  int errors;
} thr;

#define THREADS 16
#define PER_THREAD 1000

static void *incr_thread(void *arg) {
  thr *t = arg;
  for (int i = 0; i < PER_THREAD; i++) {
    sessio *s = NULL;
    const char *h[1] = {t->f->cookie};
    if (sessio_begin(t->f->m, h, 1, 0, T0 + 1, &s) != SESSIO_OK) {
      t->errors++;
      continue;
    }
    char key[32];
    snprintf(key, sizeof key, "k%d", t->id);
    if (sessio_incr(s, "cart.A1", 1, NULL) != SESSIO_OK ||
        (i == 0 && sessio_set_int(s, key, t->id) != SESSIO_OK) ||
        sessio_commit(s, T0 + 1) != SESSIO_OK ||
        sessio_cookie_header(s) != NULL)
      t->errors++;
    sessio_free(s);
  }
  return NULL;
}

/* 16 threads x 1000 increments on one session = 16000, and each thread's
 * own key survives: no lost update, no lock across the request. */
static void test_threads_no_lost_update(void) {
  fx f;
  fx_init(&f);
  make_session(&f, T0);
  pthread_t th[THREADS];
  thr t[THREADS];
  for (int i = 0; i < THREADS; i++) {
    t[i] = (thr){&f, i, 0};
    pthread_create(&th[i], NULL, incr_thread, &t[i]);
  }
  int errors = 0;
  for (int i = 0; i < THREADS; i++) {
    pthread_join(th[i], NULL);
    errors += t[i].errors;
  }
  CHECK_INT(errors, 0);
  CHECK_INT(cart(&f, T0 + 2), 1 + THREADS * PER_THREAD);
  sessio *s = begin(&f, f.cookie, T0 + 2);
  for (int i = 0; i < THREADS; i++) {
    char key[32];
    int64_t v = -1;
    snprintf(key, sizeof key, "k%d", i);
    CHECK(sessio_get_int(s, key, &v) && v == i);
  }
  sessio_free(s);
  fx_done(&f);
}

/* A server secret changes the store key: the same ID names another record. */
static void test_secret_keys_records(void) {
  uint8_t raw[SESSIO_ID_BYTES] = {1, 2, 3};
  sessio_key a, b;
  sessio__key_derive(NULL, 0, raw, &a);
  sessio__key_derive((const uint8_t *)"s3cret", 6, raw, &b);
  CHECK(memcmp(a.b, b.b, sizeof a.b) != 0);
}

static void test_commit_twice_is_state_error(void) {
  fx f;
  fx_init(&f);
  sessio *s = begin(&f, NULL, T0);
  CHECK_OK(sessio_commit(s, T0));
  CHECK_ERR(sessio_commit(s, T0), SESSIO_ESTATE);
  CHECK_ERR(sessio_set_int(s, "x", 1), SESSIO_ESTATE);
  sessio_free(s);
  fx_done(&f);
}

static void test_strerror_names_every_error(void) {
  for (int e = 0; e >= SESSIO_ERR_MIN_; e--) {
    CHECK(sessio_strerror((sessio_err)e) != NULL);
    CHECK(sessio_errname((sessio_err)e) != NULL);
  }
  CHECK_STR(sessio_errname(SESSIO_EUNAVAIL), "SESSIO_EUNAVAIL");
  CHECK_STR(sessio_strerror(SESSIO_ENOMEM), "out of memory");
}

/* S25: store URLs are printed with their password masked. */
static void test_store_url_redact_masks_passwords_S25(void) {
  static const char *const cases[][2] = {
      {"redis://:Sup3rS3cretPw@127.0.0.1:6379/0",
       "redis://:***@127.0.0.1:6379/0"},
      {"redis://app:pw@h:1?prefix=x", "redis://app:***@h:1?prefix=x"},
      {"redis://lonepw@h:1", "redis://***@h:1"},
      {"redis-cluster://:pw@a:1,b:2", "redis-cluster://:***@a:1,b:2"},
      {"redis://h:1/0?prefix=a@b", "redis://h:1/0?prefix=a@b"},
      /* Escaped as it should be, and not: no byte of it is shown. */
      {"redis://:a%2Fb%40c%3A%25d@h:1", "redis://:***@h:1"},
      {"redis://:a/b@h:1", "redis://:***@h:1"},
      {"redis://u:a@b@h:1?prefix=p", "redis://u:***@h:1?prefix=p"},
      {"redis://:a?b/c@h:1?prefix=p", "redis://:***@h:1?prefix=p"},
      {"postgres://u:pw@h/db?application_name=x@y",
       "postgres://u:***@h/db?application_name=x@y"},
      {"sqlite:var/s.db", "sqlite:var/s.db"},
      {"memory:", "memory:"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char buf[128];
    size_t need = 0;
    CHECK_OK(sessio_store_url_redact(cases[i][0], buf, sizeof buf, &need));
    CHECK_STR(buf, cases[i][1]);
    CHECK_INT(need, strlen(cases[i][1]));
  }
  char small[8];
  size_t need = 0;
  CHECK_ERR(sessio_store_url_redact("redis://:pw@host:6379", small,
                                    sizeof small, &need),
            SESSIO_ENOBUFS);
  CHECK_INT(need, strlen("redis://:***@host:6379"));
  CHECK_ERR(sessio_store_url_redact(NULL, small, sizeof small, NULL),
            SESSIO_EINVAL);
}

/* S1: the per-thread random buffer used on request paths never hands the
 * same bytes to a parent and its forked child. */
static void test_buffered_random_differs_after_fork(void) {
  uint8_t a[32], b[32], c[32];
  CHECK_OK(sessio__random_fast(a, sizeof a)); /* fill this thread's buffer */
  int fd[2];
  CHECK(pipe(fd) == 0);
  pid_t pid = fork();
  if (pid == 0) {
    uint8_t x[32];
    if (sessio__random_fast(x, sizeof x) != SESSIO_OK) _exit(2);
    _exit(write(fd[1], x, sizeof x) == (ssize_t)sizeof x ? 0 : 3);
  }
  CHECK(pid > 0);
  CHECK_OK(sessio__random_fast(b, sizeof b));
  CHECK(read(fd[0], c, sizeof c) == (ssize_t)sizeof c);
  int st = -1;
  waitpid(pid, &st, 0);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  CHECK(memcmp(b, c, sizeof b) != 0);
  CHECK(memcmp(a, b, sizeof a) != 0);
  close(fd[0]);
  close(fd[1]);
}

/* ---- S20: events are logged, with keyed hashes only ------------------- */

static char logbuf[8192];
static void capture(void *ud, sessio_log_level lvl, const char *msg) {
  (void)ud, (void)lvl;
  strncat(logbuf, msg, sizeof logbuf - strlen(logbuf) - 2);
  strcat(logbuf, "\n");
}
static void cfg_log(sessio_config *c) {
  sessio_config_set_logger(c, capture, NULL, SESSIO_LOG_DEBUG);
  sessio_config_set_timeouts(c, 30 * MIN, 2 * HOUR, 0);
}

static void test_events_logged_with_hashed_ids_only(void) {
  fx f;
  logbuf[0] = '\0';
  fx_init_cfg(&f, cfg_log);
  make_session(&f, T0); /* create */
  char ids[4][128];
  snprintf(ids[0], sizeof ids[0], "%s", f.cookie + 4);
  sessio *s = begin(&f, f.cookie, T0 + 1);
  CHECK_OK(sessio_login(s, "alice", 0, T0 + 1)); /* regenerate */
  CHECK_OK(commit(&f, s, T0 + 1, NULL, 0));
  snprintf(ids[1], sizeof ids[1], "%s", f.cookie + 4);
  s = begin(&f, f.cookie, T0 + 2);
  CHECK_OK(sessio_destroy(s)); /* destroy */
  CHECK_OK(commit(&f, s, T0 + 2, NULL, 0));
  make_session(&f, T0 + 3);
  snprintf(ids[2], sizeof ids[2], "%s", f.cookie + 4);
  s = begin(&f, f.cookie, T0 + 3 + 30 * MIN); /* expire */
  sessio_free(s);
  char fake[SESSIO_ID_LEN + 1], hdr[80];
  CHECK_OK(sessio_id_generate(fake));
  snprintf(ids[3], sizeof ids[3], "%s", fake);
  snprintf(hdr, sizeof hdr, "sid=%s", fake);
  sessio_free(begin(&f, hdr, T0 + 4));        /* unknown ID */
  sessio_free(begin(&f, "sid=junk", T0 + 4)); /* malformed */
  CHECK(strstr(logbuf, "session created sid=") != NULL);
  CHECK(strstr(logbuf, "session ID regenerated sid=") != NULL);
  CHECK(strstr(logbuf, "session destroyed") != NULL);
  /* The expired one and the made-up one (a store treats dead as missing,
   * so both read "unknown or expired"). */
  const char *p = strstr(logbuf, "unknown or expired session ID sid=");
  CHECK(p != NULL);
  CHECK(p && strstr(p + 1, "unknown or expired session ID sid=") != NULL);
  CHECK(strstr(logbuf, "malformed session cookie") != NULL);
  for (int i = 0; i < 4; i++) CHECK(strstr(logbuf, ids[i]) == NULL);
  fx_done(&f);
}

int main(void) {
  RUN(test_no_data_no_session_no_cookie);
  RUN(test_first_set_creates_session_and_cookie);
  RUN(test_tls_cookie_is_secure_host_prefixed);
  RUN(test_unsafe_configs_refused);
  RUN(test_unknown_id_never_adopted);
  RUN(test_malformed_ids_never_reach_store);
  RUN(test_duplicate_cookie_names);
  RUN(test_live_sessions_of_different_users_adopt_none_S24);
  RUN(test_idle_timeout_edges);
  RUN(test_absolute_timeout_despite_activity);
  RUN(test_login_resets_timeouts);
  RUN(test_remember_me_max_age);
  RUN(test_login_regenerates_id_keeps_cart);
  RUN(test_login_as_another_user_starts_empty_S23);
  RUN(test_regenerate_merges_overlapping_update);
  RUN(test_store_gets_the_callers_now);
  RUN(test_destroy_removes_record_and_clears_cookie);
  RUN(test_dead_cookie_is_deleted_once_S34);
  RUN(test_rotation_with_grace_window);
  RUN(test_user_sessions_list_and_revoke);
  RUN(test_csrf_token);
  RUN(test_csrf_token_derived_not_stored_S19);
  RUN(test_flash_is_one_shot);
  RUN(test_data_types_prefix_and_limits);
  RUN(test_corrupted_record_is_no_session);
  RUN(test_store_down_is_an_error);
  RUN(test_touch_is_throttled);
  RUN(test_overlapping_requests_merge);
  RUN(test_threads_no_lost_update);
  RUN(test_stored_idle_ms_int64_max_does_not_overflow);
  RUN(test_format1_record_still_decodes_S35);
  RUN(test_chunked_record_reseals_only_the_touched_chunk);
  RUN(test_chunked_record_merges_concurrent_commits);
  RUN(test_chunk_of_another_version_does_not_open);
  RUN(test_secret_keys_records);
  RUN(test_commit_twice_is_state_error);
  RUN(test_strerror_names_every_error);
  RUN(test_store_url_redact_masks_passwords_S25);
  RUN(test_buffered_random_differs_after_fork);
  RUN(test_events_logged_with_hashed_ids_only);
  return DONE();
}
