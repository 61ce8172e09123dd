/*
 * test_metrics.c — sessio_metrics_write: every figure moves with what
 * happened (sessions created and ended by reason, logins, ID changes,
 * commits, conflicts and replays, rejected IDs, store call latency, store
 * errors, GC), counts stay exact under threads, and the buffer contract
 * (SESSIO_ENOBUFS with the size needed). The format itself is checked by
 * promtool in tests/http/test_metrics.py.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "sessio.h"

#define T0 1700000000000LL
#define MIN (60 * 1000LL)

static sessio_store *st;
static sessio_manager *m;
static char cookie[128];

static void open_all(const char *url) {
  sessio_config *cfg;
  if (sessio_store_open(url, &st) != SESSIO_OK) abort();
  sessio_config_new(&cfg);
  sessio_config_set_store(cfg, st);
  sessio_config_set_timeouts(cfg, 30 * MIN, 60 * MIN, 0);
  if (sessio_manager_new(cfg, &m) != SESSIO_OK) abort();
  sessio_config_free(cfg);
  cookie[0] = '\0';
}

static void close_all(void) {
  sessio_manager_free(m);
  sessio_store_close(st);
}

static sessio *begin(const char *c, int64_t now) {
  sessio *s = NULL;
  const char *h[1] = {c};
  if (sessio_begin(m, h, c && *c ? 1 : 0, 0, now, &s) != SESSIO_OK) abort();
  return s;
}

static void commit(sessio *s, int64_t now) {
  CHECK_OK(sessio_commit(s, now));
  const char *c = sessio_cookie_header(s);
  if (c) snprintf(cookie, sizeof cookie, "%.*s", (int)strcspn(c, ";"), c);
  sessio_free(s);
}

/* The value of the sample line that starts with 'name' (exactly, up to the
 * space), or -1. */
static double value(const char *text, const char *name) {
  size_t n = strlen(name);
  for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p)
    if (strncmp(p, name, n) == 0 && p[n] == ' ') return atof(p + n + 1);
  return -1;
}

static char *metrics(void) {
  size_t need = 0;
  CHECK_ERR(sessio_metrics_format(m, NULL, 0, &need), SESSIO_ENOBUFS);
  CHECK(need > 1000);
  char *buf = malloc(need + 1);
  size_t len = 0;
  CHECK_ERR(sessio_metrics_format(m, buf, need, &len), SESSIO_ENOBUFS);
  CHECK_OK(sessio_metrics_format(m, buf, need + 1, &len));
  CHECK_ERR(sessio_metrics_write(m, buf, need), SESSIO_ENOBUFS);
  CHECK_OK(sessio_metrics_write(m, buf, need + 1));
  CHECK(strlen(buf) == len);
  CHECK_INT(len, need);
  CHECK_INT(strlen(buf), len);
  return buf;
}

static void test_figures_follow_what_happened(void) {
  open_all("memory:");
  char *t = metrics();
  CHECK(value(t, "sessio_sessions_created_total") == 0);
  CHECK(strstr(t, "# TYPE sessio_sessions_created_total counter\n") != NULL);
  CHECK(strstr(t, "# HELP sessio_store_operation_duration_seconds ") != NULL);
  CHECK(strstr(t, "sessio_info{version=\"" SESSIO_VERSION_STRING
                  "\",store=\"memory\"} 1\n") != NULL);
  free(t);

  sessio *s = begin(NULL, T0); /* created */
  sessio_incr(s, "cart.A1", 1, NULL);
  commit(s, T0);
  s = begin(cookie, T0 + 1); /* login */
  sessio_login(s, "alice", 0, T0 + 1);
  commit(s, T0 + 1);
  s = begin(cookie, T0 + 2); /* regenerate */
  sessio_regenerate(s);
  commit(s, T0 + 2);
  /* Two requests on one session: the second meets a conflict and replays
   * its increment. */
  sessio *a = begin(cookie, T0 + 3), *b = begin(cookie, T0 + 3);
  sessio_incr(a, "cart.A1", 1, NULL);
  sessio_incr(b, "cart.A1", 1, NULL);
  commit(a, T0 + 3);
  commit(b, T0 + 3);
  s = begin(cookie, T0 + 4); /* logout */
  sessio_destroy(s);
  commit(s, T0 + 4);
  s = begin("sid=junk", T0 + 5); /* rejected, malformed */
  sessio_free(s);
  s = begin(NULL, T0 + 6); /* a session left to expire, found by GC */
  sessio_incr(s, "x", 1, NULL);
  commit(s, T0 + 6);
  size_t removed;
  int done;
  CHECK_OK(sessio_store_gc(st, T0 + 40 * MIN, 1000, &removed, &done));
  CHECK_INT(removed, 1);

  t = metrics();
  CHECK(value(t, "sessio_sessions_created_total") == 2);
  CHECK(value(t, "sessio_logins_total{result=\"ok\"}") == 1);
  CHECK(value(t, "sessio_logins_total{result=\"failed\"}") == 0);
  CHECK(value(t, "sessio_id_changes_total{reason=\"regenerate\"}") == 1);
  CHECK(value(t, "sessio_commits_total{result=\"ok\"}") == 7);
  CHECK(value(t, "sessio_commit_conflicts_total") == 1);
  CHECK(value(t, "sessio_commit_replays_total") == 1);
  CHECK(value(t, "sessio_sessions_ended_total{reason=\"logout\"}") == 1);
  CHECK(value(t, "sessio_sessions_ended_total{reason=\"collected\"}") == 1);
  CHECK(value(t, "sessio_rejected_ids_total{reason=\"malformed\"}") == 1);
  CHECK(value(t, "sessio_gc_calls_total") == 1);
  CHECK(value(t, "sessio_gc_removed_total") == 1);
  CHECK(value(t, "sessio_gc_work_units_total") == 1000);
  CHECK(value(t, "sessio_gc_passes_total") == 1);
  CHECK(value(t, "sessio_store_sessions") == 0);
  CHECK(value(t, "sessio_store_operation_duration_seconds_count{op=\"gc\"}") ==
        1);
  double saves =
      value(t, "sessio_store_operation_duration_seconds_count{op=\"save\"}");
  CHECK(saves >= 6);
  CHECK(value(t, "sessio_store_operation_duration_seconds_bucket{op=\"save\","
                 "le=\"+Inf\"}") == saves);
  CHECK(value(t, "sessio_store_errors_total{error=\"unavail\"}") == 0);
  free(t);
  close_all();
}

/* A store that cannot be reached: the error is counted by kind, and a
 * failed login commit counts as a failed login. */
static void test_store_errors_and_failed_login(void) {
  /* Nothing listens on port 1: every call is SESSIO_EUNAVAIL (the store
   * opens lazily when the server is down at open time). */
  sessio_store *rs = NULL;
  if (!sessio_store_supported("redis")) {
    printf("# skip: the redis store is not built into this libsessio\n");
    return;
  }
  sessio_err rc = sessio_store_open("redis://127.0.0.1:1/0", &rs);
  if (rc != SESSIO_OK) { /* refused at open: nothing more to see here */
    CHECK_ERR(rc, SESSIO_EUNAVAIL);
    return;
  }
  sessio_config *cfg;
  sessio_config_new(&cfg);
  sessio_config_set_store(cfg, rs);
  if (sessio_manager_new(cfg, &m) != SESSIO_OK) abort();
  sessio_config_free(cfg);
  st = rs;
  sessio *s = begin(NULL, T0);
  sessio_login(s, "bob", 0, T0);
  CHECK_ERR(sessio_commit(s, T0), SESSIO_EUNAVAIL);
  sessio_free(s);
  char *t = metrics();
  CHECK(value(t, "sessio_logins_total{result=\"failed\"}") == 1);
  CHECK(value(t, "sessio_commits_total{result=\"failed\"}") == 1);
  CHECK(value(t, "sessio_store_errors_total{error=\"unavail\"}") >= 1);
  free(t);
  close_all();
}

#define THREADS 4
#define ROUNDS 200

static void *creator(void *arg) {
  (void)arg;
  for (int i = 0; i < ROUNDS; i++) {
    sessio *s = begin(NULL, T0);
    sessio_incr(s, "cart.A1", 1, NULL);
    if (sessio_commit(s, T0) != SESSIO_OK) abort();
    sessio_free(s);
  }
  return NULL;
}

static void test_counts_exact_under_threads(void) {
  open_all("memory:");
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, creator, NULL);
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  char *x = metrics();
  CHECK(value(x, "sessio_sessions_created_total") == THREADS * ROUNDS);
  CHECK(value(x, "sessio_commits_total{result=\"ok\"}") == THREADS * ROUNDS);
  CHECK(
      value(x, "sessio_store_operation_duration_seconds_count{op=\"save\"}") ==
      THREADS * ROUNDS);
  CHECK(value(x, "sessio_store_sessions") == THREADS * ROUNDS);
  free(x);
  close_all();
}

static void test_bad_arguments(void) {
  size_t len = 7;
  CHECK_ERR(sessio_metrics_format(NULL, NULL, 0, &len), SESSIO_EINVAL);
  CHECK_INT(len, 0);
}

int main(void) {
  RUN(test_figures_follow_what_happened);
  RUN(test_store_errors_and_failed_login);
  RUN(test_counts_exact_under_threads);
  RUN(test_bad_arguments);
  return DONE();
}
