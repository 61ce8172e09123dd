/*
 * test_events.c — lifecycle events: every kind fires exactly once per
 * change, after the change is stored, with the right handle, user and
 * reason; from the thread that caused it and with no library lock held
 * (the handler calls back into the manager and the store); and exactly
 * once under real threads racing on the same sessions. Time is injected.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "sessio.h"
#include "sessio/store.h"

#define T0 1700000000000LL
#define SEC 1000LL
#define MIN (60 * SEC)

/* ---- a recording handler ---------------------------------------------- */

#define LOG_MAX 4096

typedef struct rec_ev {
  sessio_event_kind kind;
  sessio_event_reason reason;
  char handle[SESSIO_HANDLE_LEN + 1];
  char user[SESSIO_USER_MAX + 1];
  int64_t now;
  sessio_err error;
  pthread_t thread;
} rec_ev;

typedef struct recorder {
  pthread_mutex_t mu;
  rec_ev v[LOG_MAX];
  size_t n;
  _Atomic long kinds[16];
  sessio_manager *m; /* for the call-back checks */
  sessio_store *st;
  _Atomic long login_listed; /* LOGIN events whose session was listed */
} recorder;

static void on_event(void *ctx, const sessio_event *ev) {
  recorder *r = ctx;
  atomic_fetch_add(&r->kinds[ev->kind], 1);
  /* Delivered after the commit, with no lock held: the new session is
   * already in the user's listing, and the manager can be used here. */
  if (ev->kind == SESSIO_EVENT_LOGIN && r->m && ev->user) {
    sessio_session_info *v = NULL;
    size_t n = 0;
    if (sessio_manager_user_sessions(r->m, ev->user, ev->now, &v, &n) ==
        SESSIO_OK)
      for (size_t i = 0; i < n; i++)
        if (ev->handle && strcmp(v[i].handle, ev->handle) == 0)
          atomic_fetch_add(&r->login_listed, 1);
    free(v);
  }
  pthread_mutex_lock(&r->mu);
  if (r->n < LOG_MAX) {
    rec_ev *e = &r->v[r->n++];
    memset(e, 0, sizeof *e);
    e->kind = ev->kind;
    e->reason = ev->reason;
    if (ev->handle) snprintf(e->handle, sizeof e->handle, "%s", ev->handle);
    if (ev->user) snprintf(e->user, sizeof e->user, "%s", ev->user);
    e->now = ev->now;
    e->error = ev->error;
    e->thread = pthread_self();
  }
  pthread_mutex_unlock(&r->mu);
}

static recorder *recorder_new(void) {
  recorder *r = calloc(1, sizeof *r);
  pthread_mutex_init(&r->mu, NULL);
  return r;
}

static void recorder_free(recorder *r) {
  pthread_mutex_destroy(&r->mu);
  free(r);
}

static void reset(recorder *r) {
  r->n = 0;
  for (int i = 0; i < 16; i++) r->kinds[i] = 0;
}

/* ---- fixture ------------------------------------------------------------ */

typedef struct fx {
  sessio_store *st;
  sessio_manager *m;
  recorder *r;
  char cookie[128];
} fx;

static void fx_open(fx *f, const char *url, int64_t rotate) {
  sessio_config *cfg;
  memset(f, 0, sizeof *f);
  f->r = recorder_new();
  if (sessio_store_open(url, &f->st) != SESSIO_OK) abort();
  if (sessio_config_new(&cfg) != SESSIO_OK) abort();
  sessio_config_set_store(cfg, f->st);
  sessio_config_set_timeouts(cfg, 30 * MIN, 12 * 60 * MIN, 0);
  if (rotate) sessio_config_set_rotation(cfg, rotate, 30 * SEC);
  CHECK_OK(sessio_config_set_event_handler(cfg, on_event, f->r));
  if (sessio_manager_new(cfg, &f->m) != SESSIO_OK) abort();
  sessio_config_free(cfg);
  f->r->m = f->m;
  f->r->st = f->st;
}

static void fx_close(fx *f) {
  sessio_manager_free(f->m);
  sessio_store_close(f->st);
  recorder_free(f->r);
}

static sessio *begin(fx *f, const char *cookie, int64_t now) {
  sessio *s = NULL;
  const char *h[1] = {cookie};
  if (sessio_begin(f->m, h, cookie && *cookie ? 1 : 0, 0, now, &s) != SESSIO_OK)
    abort();
  return s;
}

/* Commits and keeps the cookie the browser would send next. */
static sessio_err commit(fx *f, sessio *s, int64_t now) {
  sessio_err rc = sessio_commit(s, now);
  const char *c = sessio_cookie_header(s);
  if (c) {
    size_t n = strcspn(c, ";");
    if (strstr(c, "Max-Age=0"))
      f->cookie[0] = '\0';
    else
      snprintf(f->cookie, sizeof f->cookie, "%.*s", (int)n, c);
  }
  sessio_free(s);
  return rc;
}

/* The handle of the session the cookie names, or "" (read without
 * events: the recorder is reset afterwards by the callers that care). */
static void handle_of(fx *f, int64_t now, char *out) {
  sessio *s = begin(f, f->cookie, now);
  const char *h = sessio_handle(s);
  snprintf(out, SESSIO_HANDLE_LEN + 1, "%s", h ? h : "");
  sessio_free(s);
}

static void check_one(recorder *r, sessio_event_kind kind,
                      sessio_event_reason reason, const char *handle,
                      const char *user, int64_t now) {
  CHECK_INT(r->n, 1);
  if (r->n < 1) return;
  CHECK_STR(sessio_event_kind_name(r->v[0].kind), sessio_event_kind_name(kind));
  CHECK_STR(sessio_event_reason_name(r->v[0].reason),
            sessio_event_reason_name(reason));
  if (handle) CHECK_STR(r->v[0].handle, handle);
  CHECK_STR(r->v[0].user, user ? user : "");
  CHECK_INT(r->v[0].now, now);
  CHECK(pthread_equal(r->v[0].thread, pthread_self()));
}

/* ---- one kind at a time -------------------------------------------------- */

static void test_created_login_regenerated_logout(void) {
  fx f;
  char h[SESSIO_HANDLE_LEN + 1];
  fx_open(&f, "memory:", 0);

  sessio *s = begin(&f, NULL, T0);
  CHECK_OK(sessio_incr(s, "cart.A1", 1, NULL));
  CHECK_INT(f.r->n, 0); /* nothing before the commit */
  CHECK_OK(commit(&f, s, T0));
  handle_of(&f, T0, h);
  check_one(f.r, SESSIO_EVENT_CREATED, SESSIO_REASON_NONE, h, NULL, T0);

  reset(f.r);
  s = begin(&f, f.cookie, T0 + 1);
  CHECK_OK(sessio_login(s, "alice", 0, T0 + 1));
  CHECK_OK(commit(&f, s, T0 + 1));
  handle_of(&f, T0 + 1, h);
  check_one(f.r, SESSIO_EVENT_LOGIN, SESSIO_REASON_NONE, h, "alice", T0 + 1);
  CHECK_INT(f.r->login_listed, 1);

  reset(f.r);
  s = begin(&f, f.cookie, T0 + 2);
  CHECK_OK(sessio_regenerate(s));
  CHECK_OK(commit(&f, s, T0 + 2));
  handle_of(&f, T0 + 2, h);
  check_one(f.r, SESSIO_EVENT_REGENERATED, SESSIO_REASON_NONE, h, "alice",
            T0 + 2);

  reset(f.r);
  s = begin(&f, f.cookie, T0 + 3);
  CHECK_OK(sessio_destroy(s));
  CHECK_OK(commit(&f, s, T0 + 3));
  check_one(f.r, SESSIO_EVENT_LOGOUT, SESSIO_REASON_NONE, h, "alice", T0 + 3);

  /* A login on a new session: two changes, two events, in order. */
  reset(f.r);
  s = begin(&f, NULL, T0 + 4);
  CHECK_OK(sessio_login(s, "bob", 0, T0 + 4));
  CHECK_OK(commit(&f, s, T0 + 4));
  CHECK_INT(f.r->n, 2);
  CHECK_INT(f.r->v[0].kind, SESSIO_EVENT_CREATED);
  CHECK_INT(f.r->v[1].kind, SESSIO_EVENT_LOGIN);
  CHECK_STR(f.r->v[1].user, "bob");

  /* Nothing changed, nothing stored: no event. */
  reset(f.r);
  s = begin(&f, NULL, T0 + 5);
  CHECK_OK(commit(&f, s, T0 + 5));
  s = begin(&f, f.cookie, T0 + 5);
  CHECK_OK(sessio_incr(s, "cart.A1", 1, NULL)); /* an update: no event */
  CHECK_OK(commit(&f, s, T0 + 5));
  CHECK_INT(f.r->n, 0);
  fx_close(&f);
}

static void test_rotated(void) {
  fx f;
  char h[SESSIO_HANDLE_LEN + 1];
  fx_open(&f, "memory:", 5 * MIN);
  sessio *s = begin(&f, NULL, T0);
  CHECK_OK(sessio_login(s, "carol", 0, T0));
  CHECK_OK(commit(&f, s, T0));
  reset(f.r);
  s = begin(&f, f.cookie, T0 + 6 * MIN);
  CHECK_OK(commit(&f, s, T0 + 6 * MIN));
  handle_of(&f, T0 + 6 * MIN, h);
  check_one(f.r, SESSIO_EVENT_ROTATED, SESSIO_REASON_NONE, h, "carol",
            T0 + 6 * MIN);
  fx_close(&f);
}

static void test_revoked_one_and_all(void) {
  fx f;
  char h[3][SESSIO_HANDLE_LEN + 1];
  fx_open(&f, "memory:", 0);
  for (int i = 0; i < 3; i++) {
    f.cookie[0] = '\0';
    sessio *s = begin(&f, NULL, T0 + i);
    CHECK_OK(sessio_login(s, "dave", 0, T0 + i));
    CHECK_OK(commit(&f, s, T0 + i));
    handle_of(&f, T0 + i, h[i]);
  }
  reset(f.r);
  size_t n = 0;
  CHECK_OK(sessio_manager_revoke_one(f.m, "dave", h[0], T0 + 10, &n));
  CHECK_INT(n, 1);
  check_one(f.r, SESSIO_EVENT_REVOKED, SESSIO_REASON_NONE, h[0], "dave",
            T0 + 10);
  reset(f.r);
  CHECK_OK(sessio_manager_revoke_all(f.m, "dave", h[2], T0 + 11, &n));
  check_one(f.r, SESSIO_EVENT_REVOKED, SESSIO_REASON_NONE, h[1], "dave",
            T0 + 11);
  reset(f.r);
  CHECK_OK(sessio_manager_revoke_all(f.m, "dave", NULL, T0 + 12, &n));
  check_one(f.r, SESSIO_EVENT_REVOKED, SESSIO_REASON_NONE, h[2], "dave",
            T0 + 12);
  reset(f.r); /* nothing left: nothing to report */
  CHECK_OK(sessio_manager_revoke_all(f.m, "dave", NULL, T0 + 13, &n));
  CHECK_INT(f.r->n, 0);
  fx_close(&f);
}

/* Expired on access: the memory store drops the dead record itself
 * (reason collected); the presented ID is then also rejected. */
static void test_expired_on_access_and_by_gc(void) {
  fx f;
  char h[SESSIO_HANDLE_LEN + 1];
  fx_open(&f, "memory:", 0);
  sessio *s = begin(&f, NULL, T0);
  CHECK_OK(sessio_login(s, "erin", 0, T0));
  CHECK_OK(commit(&f, s, T0));
  handle_of(&f, T0, h);
  reset(f.r);
  s = begin(&f, f.cookie, T0 + 31 * MIN);
  sessio_free(s);
  CHECK_INT(f.r->n, 2);
  CHECK_INT(f.r->v[0].kind, SESSIO_EVENT_EXPIRED);
  CHECK_INT(f.r->v[0].reason, SESSIO_REASON_COLLECTED);
  CHECK_STR(f.r->v[0].handle, h);
  CHECK_STR(f.r->v[0].user, "erin");
  CHECK_INT(f.r->v[1].kind, SESSIO_EVENT_REJECTED);
  CHECK_INT(f.r->v[1].reason, SESSIO_REASON_UNKNOWN);

  /* By GC: delivered from the thread that called sessio_store_gc. */
  f.cookie[0] = '\0';
  s = begin(&f, NULL, T0);
  CHECK_OK(sessio_incr(s, "cart.A1", 1, NULL));
  CHECK_OK(commit(&f, s, T0));
  handle_of(&f, T0, h);
  reset(f.r);
  size_t removed = 0;
  int done = 0;
  CHECK_OK(sessio_store_gc(f.st, T0 + 31 * MIN, 1000, &removed, &done));
  CHECK_INT(removed, 1);
  check_one(f.r, SESSIO_EVENT_EXPIRED, SESSIO_REASON_COLLECTED, h, NULL,
            T0 + 31 * MIN);
  reset(f.r);
  CHECK_OK(sessio_store_gc(f.st, T0 + 32 * MIN, 1000, &removed, &done));
  CHECK_INT(f.r->n, 0);
  fx_close(&f);
}

/* A store whose clock lags ours still serves a record our own rules say
 * is dead: the manager ends it and says why (idle or absolute). */
typedef struct lag_store {
  sessio_store base;
  sessio_store *inner;
  int64_t lag;
  int down;
  int flip; /* damage the last byte of every loaded record */
} lag_store;
#define L(st) ((lag_store *)(st))
#define DOWN(st)                                                               \
  do {                                                                         \
    if (L(st)->down) return SESSIO_EUNAVAIL;                                   \
  } while (0)
static sessio_err l_load(sessio_store *st, const sessio_key *k, int64_t now,
                         sessio_record *out, int *found) {
  DOWN(st);
  sessio_err rc = L(st)->inner->methods->load(L(st)->inner, k, now - L(st)->lag,
                                              out, found);
  if (rc == SESSIO_OK && *found && L(st)->flip && out->blob_len)
    out->blob[out->blob_len - 1] ^= 1;
  return rc;
}
static sessio_err l_save(sessio_store *st, const sessio_key *k,
                         const sessio_record *r, uint64_t e, int64_t now,
                         uint64_t *v) {
  DOWN(st);
  return L(st)->inner->methods->save(L(st)->inner, k, r, e, now - L(st)->lag,
                                     v);
}
static sessio_err l_touch(sessio_store *st, const sessio_key *k, int64_t t,
                          int64_t x, int64_t now, int *found) {
  DOWN(st);
  return L(st)->inner->methods->touch(L(st)->inner, k, t, x, now - L(st)->lag,
                                      found);
}
static sessio_err l_remove(sessio_store *st, const sessio_key *k, int64_t now,
                           int *r) {
  DOWN(st);
  return L(st)->inner->methods->remove(L(st)->inner, k, now - L(st)->lag, r);
}
static sessio_err l_uadd(sessio_store *st, const char *u, const sessio_key *k,
                         int64_t x, int64_t now) {
  DOWN(st);
  return L(st)->inner->methods->user_add(L(st)->inner, u, k, x,
                                         now - L(st)->lag);
}
static sessio_err l_ulist(sessio_store *st, const char *u, int64_t now,
                          sessio_key **k, size_t *n) {
  DOWN(st);
  return L(st)->inner->methods->user_list(L(st)->inner, u, now - L(st)->lag, k,
                                          n);
}
static sessio_err l_urem(sessio_store *st, const char *u, const sessio_key *k) {
  DOWN(st);
  return L(st)->inner->methods->user_remove(L(st)->inner, u, k);
}
static sessio_err l_gc(sessio_store *st, int64_t now, size_t max,
                       size_t *removed, int *done) {
  return L(st)->inner->methods->gc(L(st)->inner, now, max, removed, done);
}
static void l_close(sessio_store *st) {
  sessio_store_close(L(st)->inner);
  free(st);
}
static const sessio_store_methods lag_methods = {.version =
                                                     SESSIO_STORE_API_VERSION,
                                                 .name = "lag",
                                                 .load = l_load,
                                                 .save = l_save,
                                                 .touch = l_touch,
                                                 .remove = l_remove,
                                                 .user_add = l_uadd,
                                                 .user_list = l_ulist,
                                                 .user_remove = l_urem,
                                                 .gc = l_gc,
                                                 .close = l_close};

static void fx_open_lag(fx *f, int64_t lag) {
  sessio_config *cfg;
  memset(f, 0, sizeof *f);
  f->r = recorder_new();
  lag_store *l = calloc(1, sizeof *l);
  l->base.methods = &lag_methods;
  l->lag = lag;
  if (sessio_store_open("memory:", &l->inner) != SESSIO_OK) abort();
  f->st = &l->base;
  sessio_config_new(&cfg);
  sessio_config_set_store(cfg, f->st);
  sessio_config_set_timeouts(cfg, 30 * MIN, 60 * MIN, 0);
  sessio_config_set_touch_interval(cfg, 0);
  sessio_config_set_event_handler(cfg, on_event, f->r);
  if (sessio_manager_new(cfg, &f->m) != SESSIO_OK) abort();
  sessio_config_free(cfg);
}

static void test_expired_idle_and_absolute_by_our_clock(void) {
  fx f;
  char h[SESSIO_HANDLE_LEN + 1];
  fx_open_lag(&f, 0);
  sessio *s = begin(&f, NULL, T0);
  CHECK_OK(sessio_login(s, "fay", 0, T0));
  CHECK_OK(commit(&f, s, T0));
  handle_of(&f, T0, h);
  reset(f.r);
  L(f.st)->lag = 20 * MIN;
  s = begin(&f, f.cookie, T0 + 31 * MIN); /* store thinks T0 + 11 min */
  CHECK(!sessio_exists(s));
  sessio_free(s);
  check_one(f.r, SESSIO_EVENT_EXPIRED, SESSIO_REASON_IDLE, h, "fay",
            T0 + 31 * MIN);

  /* Absolute: touched every 20 min, dead at 60 min whatever the idle. */
  L(f.st)->lag = 0;
  f.cookie[0] = '\0';
  s = begin(&f, NULL, T0);
  CHECK_OK(sessio_login(s, "fay", 0, T0));
  CHECK_OK(commit(&f, s, T0));
  handle_of(&f, T0, h);
  for (int64_t t = T0 + 20 * MIN; t < T0 + 60 * MIN; t += 20 * MIN) {
    s = begin(&f, f.cookie, t);
    CHECK(sessio_exists(s));
    CHECK_OK(commit(&f, s, t));
  }
  reset(f.r);
  L(f.st)->lag = 10 * MIN;
  s = begin(&f, f.cookie, T0 + 61 * MIN);
  CHECK(!sessio_exists(s));
  sessio_free(s);
  check_one(f.r, SESSIO_EVENT_EXPIRED, SESSIO_REASON_ABSOLUTE, h, "fay",
            T0 + 61 * MIN);
  fx_close(&f);
}

static void test_store_error(void) {
  fx f;
  fx_open_lag(&f, 0);
  sessio *s = begin(&f, NULL, T0);
  CHECK_OK(sessio_incr(s, "cart.A1", 1, NULL));
  CHECK_OK(commit(&f, s, T0));
  reset(f.r);
  L(f.st)->down = 1;
  const char *h[1] = {f.cookie};
  s = NULL;
  CHECK_ERR(sessio_begin(f.m, h, 1, 0, T0 + 1, &s), SESSIO_EUNAVAIL);
  check_one(f.r, SESSIO_EVENT_STORE_ERROR, SESSIO_REASON_NONE, NULL, NULL,
            T0 + 1);
  CHECK_ERR(f.r->v[0].error, SESSIO_EUNAVAIL);
  /* A commit that fails reports the error and not the change. */
  L(f.st)->down = 0;
  s = begin(&f, NULL, T0 + 2);
  CHECK_OK(sessio_incr(s, "cart.A1", 1, NULL));
  L(f.st)->down = 1;
  reset(f.r);
  CHECK_ERR(sessio_commit(s, T0 + 2), SESSIO_EUNAVAIL);
  sessio_free(s);
  check_one(f.r, SESSIO_EVENT_STORE_ERROR, SESSIO_REASON_NONE, NULL, NULL,
            T0 + 2);
  reset(f.r);
  size_t n;
  CHECK_ERR(sessio_manager_revoke_all(f.m, "nobody", NULL, T0 + 3, &n),
            SESSIO_EUNAVAIL);
  check_one(f.r, SESSIO_EVENT_STORE_ERROR, SESSIO_REASON_NONE, NULL, "nobody",
            T0 + 3);
  fx_close(&f);
}

static void test_evicted(void) {
  fx f;
  char first[SESSIO_HANDLE_LEN + 1];
  fx_open(&f, "memory:?max_sessions=2&shards=1", 0);
  for (int i = 0; i < 3; i++) {
    f.cookie[0] = '\0';
    sessio *s = begin(&f, NULL, T0 + i);
    CHECK_OK(sessio_login(s, "gus", 0, T0 + i));
    if (i == 2) reset(f.r);
    CHECK_OK(commit(&f, s, T0 + i));
    if (i == 0) handle_of(&f, T0, first);
  }
  /* The third commit evicted the first session (soonest to expire). */
  CHECK_INT(f.r->n, 3);
  CHECK_INT(f.r->v[0].kind, SESSIO_EVENT_EVICTED);
  CHECK_INT(f.r->v[0].reason, SESSIO_REASON_FULL);
  CHECK_STR(f.r->v[0].handle, first);
  CHECK_STR(f.r->v[0].user, "gus");
  CHECK_INT(f.r->v[1].kind, SESSIO_EVENT_CREATED);
  CHECK_INT(f.r->v[2].kind, SESSIO_EVENT_LOGIN);
  fx_close(&f);
}

static void test_rejected_malformed_unknown_unreadable(void) {
  fx f;
  fx_open(&f, "memory:", 0);
  sessio *s = begin(&f, "sid=not-an-id", T0);
  sessio_free(s);
  check_one(f.r, SESSIO_EVENT_REJECTED, SESSIO_REASON_MALFORMED, NULL, NULL,
            T0);

  reset(f.r);
  char id[SESSIO_ID_LEN + 1], cookie[64];
  CHECK_OK(sessio_id_generate(id));
  snprintf(cookie, sizeof cookie, "sid=%s", id);
  s = begin(&f, cookie, T0);
  sessio_free(s);
  CHECK_INT(f.r->n, 1);
  CHECK_INT(f.r->v[0].kind, SESSIO_EVENT_REJECTED);
  CHECK_INT(f.r->v[0].reason, SESSIO_REASON_UNKNOWN);
  CHECK_INT(strlen(f.r->v[0].handle), SESSIO_HANDLE_LEN);

  fx_close(&f);

  /* A record whose seal does not open (damaged, or written under another
   * secret): rejected as unreadable, with its handle. */
  fx_open_lag(&f, 0);
  s = begin(&f, NULL, T0);
  CHECK_OK(sessio_incr(s, "cart.A1", 1, NULL));
  CHECK_OK(commit(&f, s, T0));
  char h[SESSIO_HANDLE_LEN + 1];
  handle_of(&f, T0, h);
  reset(f.r);
  L(f.st)->flip = 1;
  s = begin(&f, f.cookie, T0 + 1);
  CHECK(!sessio_exists(s));
  sessio_free(s);
  check_one(f.r, SESSIO_EVENT_REJECTED, SESSIO_REASON_UNREADABLE, h, NULL,
            T0 + 1);
  fx_close(&f);
}

/* ---- threads ------------------------------------------------------------- */

#define THREADS 4
#define ROUNDS 40

typedef struct worker {
  fx *f;
  int id;
  char user[32];
  char cookie[128];
} worker;

static sessio *wbegin(worker *w, int64_t now) {
  sessio *s = NULL;
  const char *h[1] = {w->cookie};
  if (sessio_begin(w->f->m, h, w->cookie[0] ? 1 : 0, 0, now, &s) != SESSIO_OK)
    abort();
  return s;
}

static void wcommit(worker *w, sessio *s, int64_t now) {
  if (sessio_commit(s, now) != SESSIO_OK) abort();
  const char *c = sessio_cookie_header(s);
  if (c) {
    size_t n = strcspn(c, ";");
    if (strstr(c, "Max-Age=0"))
      w->cookie[0] = '\0';
    else
      snprintf(w->cookie, sizeof w->cookie, "%.*s", (int)n, c);
  }
  sessio_free(s);
}

/* Each round: create, login, regenerate, logout; all threads share the
 * manager and the store. */
static void *lifecycle_thread(void *arg) {
  worker *w = arg;
  int64_t now = T0;
  for (int i = 0; i < ROUNDS; i++) {
    sessio *s = wbegin(w, now);
    sessio_incr(s, "cart.A1", 1, NULL);
    wcommit(w, s, now);
    s = wbegin(w, now);
    if (sessio_login(s, w->user, 0, now) != SESSIO_OK) abort();
    wcommit(w, s, now);
    s = wbegin(w, now);
    sessio_regenerate(s);
    wcommit(w, s, now);
    s = wbegin(w, now);
    sessio_destroy(s);
    wcommit(w, s, now);
    now += SEC;
  }
  return NULL;
}

static void test_each_change_once_with_threads(void) {
  fx f;
  fx_open(&f, "memory:", 0);
  pthread_t t[THREADS];
  worker w[THREADS];
  for (int i = 0; i < THREADS; i++) {
    memset(&w[i], 0, sizeof w[i]);
    w[i].f = &f;
    w[i].id = i;
    snprintf(w[i].user, sizeof w[i].user, "user%d", i);
    pthread_create(&t[i], NULL, lifecycle_thread, &w[i]);
  }
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  CHECK_INT(f.r->kinds[SESSIO_EVENT_CREATED], THREADS * ROUNDS);
  CHECK_INT(f.r->kinds[SESSIO_EVENT_LOGIN], THREADS * ROUNDS);
  CHECK_INT(f.r->login_listed, THREADS * ROUNDS);
  CHECK_INT(f.r->kinds[SESSIO_EVENT_REGENERATED], THREADS * ROUNDS);
  CHECK_INT(f.r->kinds[SESSIO_EVENT_LOGOUT], THREADS * ROUNDS);
  CHECK_INT(f.r->n, 4 * THREADS * ROUNDS);
  fx_close(&f);
}

/* Many requests carrying the same cookie end one session at the same
 * time (logout, revoke, expiry by GC): each ending is reported once. */
typedef struct racer {
  fx *f;
  const char *cookie;
  int what; /* 0 logout, 1 revoke all, 2 gc */
  pthread_barrier_t *go;
} racer;

static void *race_thread(void *arg) {
  racer *r = arg;
  pthread_barrier_wait(r->go);
  if (r->what == 0) {
    sessio *s = NULL;
    const char *h[1] = {r->cookie};
    if (sessio_begin(r->f->m, h, 1, 0, T0 + 1, &s) != SESSIO_OK) abort();
    sessio_destroy(s);
    sessio_commit(s, T0 + 1);
    sessio_free(s);
  } else if (r->what == 1) {
    size_t n;
    sessio_manager_revoke_all(r->f->m, "hal", NULL, T0 + 1, &n);
  } else {
    size_t removed;
    int done;
    sessio_store_gc(r->f->st, T0 + 31 * MIN, 100000, &removed, &done);
  }
  return NULL;
}

static void test_racing_endings_reported_once(void) {
  for (int what = 0; what < 3; what++) {
    fx f;
    fx_open(&f, "memory:?shards=4", 0);
    char cookies[8][128];
    for (int i = 0; i < 8; i++) {
      f.cookie[0] = '\0';
      sessio *s = begin(&f, NULL, T0);
      CHECK_OK(sessio_login(s, "hal", 0, T0));
      CHECK_OK(commit(&f, s, T0));
      snprintf(cookies[i], sizeof cookies[i], "%s", f.cookie);
    }
    reset(f.r);
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, THREADS * 2);
    pthread_t t[THREADS * 2];
    racer r[THREADS * 2];
    for (int i = 0; i < THREADS * 2; i++) {
      /* logout: two threads per session for four sessions */
      r[i].f = &f;
      r[i].cookie = cookies[i / 2];
      r[i].what = what;
      r[i].go = &go;
      pthread_create(&t[i], NULL, race_thread, &r[i]);
    }
    for (int i = 0; i < THREADS * 2; i++) pthread_join(t[i], NULL);
    pthread_barrier_destroy(&go);
    sessio_event_kind want = what == 0   ? SESSIO_EVENT_LOGOUT
                             : what == 1 ? SESSIO_EVENT_REVOKED
                                         : SESSIO_EVENT_EXPIRED;
    CHECK_INT(f.r->kinds[want], what == 0 ? 4 : 8);
    fx_close(&f);
  }
}

/* GC events come from every store (each store's collect names what it
 * removed): sessions ended while threads ran sessio_store_gc at once are
 * each reported exactly once, as expired (collected), with their handle
 * and user, on a thread that called GC; the metrics count them too. */
#define GC_SESSIONS 40

typedef struct gc_racer {
  fx *f;
  pthread_barrier_t *go;
  sessio_err rc;
} gc_racer;

static void *gc_race_thread(void *arg) {
  gc_racer *g = arg;
  int done = 0;
  pthread_barrier_wait(g->go);
  for (int n = 0; !done && n < 100000 && g->rc == SESSIO_OK; n++) {
    size_t removed = 0;
    g->rc = sessio_store_gc(g->f->st, T0 + 31 * MIN, 7, &removed, &done);
  }
  return NULL;
}

static void gc_events_once_on(const char *url) {
  fx f;
  char handles[GC_SESSIONS][SESSIO_HANDLE_LEN + 1];
  printf("# %s\n", url);
  fx_open(&f, url, 0);
  for (int i = 0; i < GC_SESSIONS; i++) {
    char user[32];
    f.cookie[0] = '\0';
    sessio *s = begin(&f, NULL, T0);
    snprintf(user, sizeof user, "gc-user%d", i);
    if (i % 2)
      CHECK_OK(sessio_login(s, user, 0, T0));
    else
      CHECK_OK(sessio_incr(s, "cart.A1", 1, NULL));
    CHECK_OK(commit(&f, s, T0));
    handle_of(&f, T0, handles[i]);
  }
  reset(f.r);
  pthread_barrier_t go;
  pthread_barrier_init(&go, NULL, THREADS);
  pthread_t t[THREADS];
  gc_racer g[THREADS];
  for (int i = 0; i < THREADS; i++) {
    g[i].f = &f;
    g[i].go = &go;
    g[i].rc = SESSIO_OK;
    pthread_create(&t[i], NULL, gc_race_thread, &g[i]);
  }
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  pthread_barrier_destroy(&go);
  for (int i = 0; i < THREADS; i++) CHECK_OK(g[i].rc);
  CHECK_INT(f.r->kinds[SESSIO_EVENT_EXPIRED], GC_SESSIONS);
  CHECK_INT(f.r->n, GC_SESSIONS);
  for (int i = 0; i < GC_SESSIONS; i++) {
    int seen = 0;
    char user[32];
    snprintf(user, sizeof user, "gc-user%d", i);
    for (size_t j = 0; j < f.r->n; j++) {
      rec_ev *e = &f.r->v[j];
      if (strcmp(e->handle, handles[i]) != 0) continue;
      seen++;
      CHECK_INT(e->reason, SESSIO_REASON_COLLECTED);
      CHECK_STR(e->user, i % 2 ? user : "");
      CHECK_INT(e->now, T0 + 31 * MIN);
      int on_gc_thread = 0;
      for (int k = 0; k < THREADS; k++)
        if (pthread_equal(e->thread, t[k])) on_gc_thread = 1;
      CHECK(on_gc_thread);
    }
    CHECK_INT(seen, 1);
  }
  char buf[16384];
  CHECK_OK(sessio_metrics_write(f.m, buf, sizeof buf));
  char want[96];
  snprintf(want, sizeof want,
           "sessio_sessions_ended_total{reason=\"collected\"} %d\n",
           GC_SESSIONS);
  CHECK(strstr(buf, want) != NULL);
  fx_close(&f);
}

static int rm_tree(const char *dir) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd);
}

static void test_gc_events_once_from_every_store_with_threads(void) {
  char dir[] = "/tmp/sessio-events-XXXXXX", url[128];
  gc_events_once_on("memory:");
  if (mkdtemp(dir) == NULL) {
    CHECK(0);
    return;
  }
  snprintf(url, sizeof url, "file:%s/f", dir);
  gc_events_once_on(url);
  if (sessio_store_supported("sqlite")) {
    snprintf(url, sizeof url, "sqlite:%s/s.db", dir);
    gc_events_once_on(url);
  }
  CHECK_INT(rm_tree(dir), 0);
}

static void test_names(void) {
  CHECK_STR(sessio_event_kind_name(SESSIO_EVENT_CREATED), "created");
  CHECK_STR(sessio_event_kind_name(SESSIO_EVENT_STORE_ERROR), "store_error");
  CHECK_STR(sessio_event_kind_name((sessio_event_kind)99), "");
  CHECK_STR(sessio_event_reason_name(SESSIO_REASON_UNREADABLE), "unreadable");
  CHECK_STR(sessio_event_reason_name((sessio_event_reason)99), "");
  CHECK_ERR(sessio_config_set_event_handler(NULL, on_event, NULL),
            SESSIO_EINVAL);
}

int main(void) {
  RUN(test_created_login_regenerated_logout);
  RUN(test_rotated);
  RUN(test_revoked_one_and_all);
  RUN(test_expired_on_access_and_by_gc);
  RUN(test_expired_idle_and_absolute_by_our_clock);
  RUN(test_store_error);
  RUN(test_evicted);
  RUN(test_rejected_malformed_unknown_unreadable);
  RUN(test_each_change_once_with_threads);
  RUN(test_racing_endings_reported_once);
  RUN(test_gc_events_once_from_every_store_with_threads);
  RUN(test_names);
  return DONE();
}
