/*
 * test_gc.c — the GC runner (sessio_gc_*) with injected clocks: it keeps up
 * with a steady expiry rate where one fixed call a second falls behind, its
 * pass-rate floor bounds the dead records of a large store, it
 * stops at its time and unit budgets, its time grows while a backlog lasts, at the end of a pass and when garbage
 * is sparse, store failures are logged first at once and then once a
 * minute, and its thread runs at its interval and stops promptly.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "harness.h"
#include "sessio.h"
#include "sessio/store.h"
#include "store/store_internal.h"

#define T0 1700000000000LL /* any wall-clock ms */

/* ---- a clock the test moves ---------------------------------------------- */

typedef struct fake_clock {
  int64_t t;    /* the value read next */
  int64_t step; /* added after each read: the cost of a gc call */
  int64_t wall;
} fake_clock;

static int64_t fake_mono(void *ud) {
  fake_clock *c = ud;
  int64_t t = c->t;
  c->t += c->step;
  return t;
}

static int64_t fake_wall(void *ud) { return ((fake_clock *)ud)->wall; }

/* ---- a store whose gc the test scripts ----------------------------------- */

typedef struct fake_store {
  sessio_store base;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  sessio_err fail;              /* returned by gc when not SESSIO_OK */
  int removed_num, removed_den; /* each call removes ask * num / den */
  size_t done_at;               /* the call that completes a pass (0 = never) */
  size_t calls;
  size_t asks[64]; /* the first asks */
  int64_t last_now;
} fake_store;

static sessio_err fake_gc(sessio_store *st, int64_t now, size_t max_work,
                          size_t *removed, int *done) {
  fake_store *f = (fake_store *)st;
  pthread_mutex_lock(&f->mu);
  if (f->calls < sizeof f->asks / sizeof f->asks[0])
    f->asks[f->calls] = max_work;
  f->calls++;
  f->last_now = now;
  pthread_cond_broadcast(&f->cv);
  pthread_mutex_unlock(&f->mu);
  if (f->fail != SESSIO_OK) return f->fail;
  *removed += max_work * (size_t)f->removed_num / (size_t)f->removed_den;
  *done = f->done_at != 0 && f->calls == f->done_at;
  return SESSIO_OK;
}

static void fake_close(sessio_store *st) { (void)st; }

static const sessio_store_methods fake_methods = {
    .version = SESSIO_STORE_API_VERSION,
    .name = "fake",
    .gc = fake_gc,
    .close = fake_close,
};

static void fake_init(fake_store *f, int num, int den) {
  memset(f, 0, sizeof *f);
  f->base.methods = &fake_methods;
  pthread_mutex_init(&f->mu, NULL);
  pthread_cond_init(&f->cv, NULL);
  f->removed_num = num;
  f->removed_den = den;
}

static void fake_destroy(fake_store *f) {
  pthread_cond_destroy(&f->cv);
  pthread_mutex_destroy(&f->mu);
}

/* ---- a logger that keeps the lines --------------------------------------- */

typedef struct log_lines {
  int n;
  char last[512];
} log_lines;

static void keep_log(void *ud, sessio_log_level level, const char *msg) {
  log_lines *l = ud;
  if (level > SESSIO_LOG_WARN) return;
  l->n++;
  snprintf(l->last, sizeof l->last, "%s", msg);
}

/* ---- tests ----------------------------------------------------------------- */

/* Saves 'n' records of 100 B expiring at 'expires', keys from 'seq' on. */
static void fill(sessio_store *st, uint64_t *seq, long n, int64_t now,
                 int64_t expires) {
  static const uint8_t blob[100] = {1};
  for (long i = 0; i < n; i++) {
    sessio_key k;
    uint64_t x = ++*seq * 0x9E3779B97F4A7C15ULL, v;
    for (int j = 0; j < 4; j++) {
      x ^= x >> 29;
      x *= 0xBF58476D1CE4E5B9ULL;
      memcpy(k.b + 8 * j, &x, 8);
    }
    sessio_record r;
    memset(&r, 0, sizeof r);
    r.blob = (uint8_t *)blob;
    r.blob_len = sizeof blob;
    r.touched_at = now;
    r.expires_at = expires;
    CHECK_OK(sessio__store_save(st, &k, &r, 0, now, &v));
  }
}

/* The dead records left in a memory store after 'seconds' of 'rate' new
 * sessions a second, each living 'ttl' ms, with gc once a second: by the
 * runner (default budget, a gc call costing 1 ms) or, when 'fixed', by one
 * sessio_store_gc() call of 256 units. */
static long dead_after(long seconds, long rate, int64_t ttl, int fixed) {
  sessio_store *st = NULL;
  sessio_gc *g = NULL;
  fake_clock c = {0, 1, 0};
  struct sessio_store_stats s;
  uint64_t seq = 0;
  long live = 0;
  CHECK_OK(sessio_store_open("memory:", &st));
  CHECK_OK(sessio_gc_new(st, &g));
  CHECK_OK(sessio_gc_set_clocks(g, NULL, fake_mono, &c));
  if (st == NULL || g == NULL) return -1;
  for (long sec = 0; sec < seconds; sec++) {
    int64_t now = T0 + sec * 1000;
    fill(st, &seq, rate, now, now + ttl);
    if (fixed) {
      CHECK_OK(sessio_store_gc(st, now, 256, NULL, NULL));
    } else {
      sessio_gc_report r;
      CHECK_OK(sessio_gc_run(g, now, &r));
      CHECK(r.elapsed_ms <= 101);
    }
  }
  CHECK_OK(sessio_store_stats(st, &s));
  live = rate * (long)(ttl / 1000); /* those made in the last ttl */
  sessio_gc_free(g);
  sessio_store_close(st);
  return (long)s.sessions - live;
}

/* The figure behind the runner (bench/soak: one fixed call a second left
 * dead rows growing without bound): at 1,000 new sessions a second living
 * 10 s, the runner holds the dead records under a share of the live ones
 * for a minute, where one fixed call falls behind by ~700 a second. */
static void test_runner_keeps_up_with_an_expiry_rate(void) {
  long fixed = dead_after(60, 1000, 10000, 1);
  long adaptive = dead_after(60, 1000, 10000, 0);
  printf("  dead records after 60 s at 1000/s: fixed call %ld, runner %ld\n",
         fixed, adaptive);
  CHECK(fixed > 30000);
  CHECK(adaptive >= 0);
  CHECK(adaptive < 5000); /* live: 10,000 */
  /* and it does not grow: another minute ends no higher */
  long longer = dead_after(120, 1000, 10000, 0);
  printf("  after 120 s: runner %ld\n", longer);
  CHECK(longer < 5000);
}

/* A large store with a trickle of expiries: 50 new sessions a second, each
 * living 30 minutes (90,000 live). Dead records are under a quarter of any
 * stretch of the table, so the quarter rule alone makes one 256-unit call
 * a second, a pass of ~6 minutes, and held up to 11,729 dead records;
 * the pass-rate floor makes every run examine a sixtieth of the last pass,
 * so a pass takes about a minute and the dead held stay under a minute of
 * expiries (3,000; 1,437 measured). */
static void test_runner_floor_bounds_dead_records_in_a_large_store(void) {
  sessio_store *st = NULL;
  sessio_gc *g = NULL;
  fake_clock c = {0, 0, 0}; /* time stands still: no budget ends a run */
  uint64_t seq = 0;
  long rate = 50, worst = 0;
  int64_t ttl = 1800 * 1000;
  CHECK_OK(sessio_store_open("memory:", &st));
  CHECK_OK(sessio_gc_new(st, &g));
  CHECK_OK(sessio_gc_set_clocks(g, NULL, fake_mono, &c));
  if (st == NULL || g == NULL) return;
  for (long sec = 0; sec < 3600; sec++) {
    int64_t now = T0 + sec * 1000;
    sessio_gc_report r;
    struct sessio_store_stats s;
    fill(st, &seq, rate, now, now + ttl);
    CHECK_OK(sessio_gc_run(g, now, &r));
    CHECK_OK(sessio_store_stats(st, &s));
    long live = sec < 1800 ? (sec + 1) * rate : 1800 * rate;
    long dead = (long)s.sessions - live;
    if (sec >= 2400 && dead > worst) worst = dead;
  }
  printf("  90,000 live, 50 expiries/s: at most %ld dead records held\n",
         worst);
  CHECK(worst < 3000); /* a minute of expiries */
  sessio_gc_free(g);
  sessio_store_close(st);
}

/* Every call finds only garbage, each costs 10 ms: the 100 ms budget ends
 * the run after 10 calls. */
static void test_runner_stops_at_time_budget(void) {
  fake_store f;
  fake_clock c = {5000, 10, 0};
  sessio_gc *g = NULL;
  sessio_gc_report r;
  fake_init(&f, 1, 1);
  CHECK_OK(sessio_gc_new(&f.base, &g));
  CHECK_OK(sessio_gc_set_clocks(g, NULL, fake_mono, &c));
  CHECK_OK(sessio_gc_run(g, T0, &r));
  CHECK_INT(r.calls, 10);
  CHECK_INT(r.work, 2560);
  CHECK_INT(r.removed, 2560);
  CHECK_INT(r.elapsed_ms, 100);
  CHECK_INT(r.stop, SESSIO_GC_STOP_TIME);
  CHECK_INT(f.last_now, T0);
  sessio_gc_free(g);
  fake_destroy(&f);
}

/* A backlog (every call finds only garbage, each costs 10 ms): each run
 * that ends on its time gets twice the time next, up to five budgets
 * (500 ms); the first run that ends otherwise (sparse garbage) goes back to
 * one budget. Without the growth every run stops after 10 calls. */
static void test_runner_time_grows_while_a_backlog_lasts(void) {
  static const size_t calls[] = {10, 20, 40, 50, 50};
  fake_store f;
  fake_clock c = {5000, 10, 0};
  sessio_gc *g = NULL;
  sessio_gc_report r;
  fake_init(&f, 1, 1);
  CHECK_OK(sessio_gc_new(&f.base, &g));
  CHECK_OK(sessio_gc_set_clocks(g, NULL, fake_mono, &c));
  for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
    CHECK_OK(sessio_gc_run(g, T0, &r));
    CHECK_INT(r.calls, calls[i]);
    CHECK_INT(r.removed, calls[i] * 256);
    CHECK_INT(r.stop, SESSIO_GC_STOP_TIME);
  }
  f.removed_num = 1; /* caught up: a sixteenth is garbage */
  f.removed_den = 16;
  CHECK_OK(sessio_gc_run(g, T0, &r));
  CHECK_INT(r.calls, 1);
  CHECK_INT(r.stop, SESSIO_GC_STOP_SPARSE);
  f.removed_num = 1; /* a new backlog starts from one budget */
  f.removed_den = 1;
  CHECK_OK(sessio_gc_run(g, T0, &r));
  CHECK_INT(r.calls, 10);
  CHECK_INT(r.stop, SESSIO_GC_STOP_TIME);
  /* Setting the budget starts from it again. */
  CHECK_OK(sessio_gc_set_budget(g, 256, 30, 0));
  CHECK_OK(sessio_gc_run(g, T0, &r));
  CHECK_INT(r.calls, 3);
  CHECK_OK(sessio_gc_run(g, T0, &r));
  CHECK_INT(r.calls, 6);
  sessio_gc_free(g);
  fake_destroy(&f);
}

/* A unit budget instead of time: the last call asks only for the rest. */
static void test_runner_stops_at_unit_budget(void) {
  fake_store f;
  fake_clock c = {0, 0, 0}; /* time stands still */
  sessio_gc *g = NULL;
  sessio_gc_report r;
  fake_init(&f, 1, 1);
  CHECK_OK(sessio_gc_new(&f.base, &g));
  CHECK_OK(sessio_gc_set_clocks(g, NULL, fake_mono, &c));
  CHECK_OK(sessio_gc_set_budget(g, 256, 0, 1000));
  CHECK_OK(sessio_gc_run(g, T0, &r));
  CHECK_INT(r.calls, 4);
  CHECK_INT(r.work, 1000);
  CHECK_INT(f.asks[0], 256);
  CHECK_INT(f.asks[3], 1000 - 3 * 256);
  CHECK_INT(r.stop, SESSIO_GC_STOP_UNITS);
  sessio_gc_free(g);
  fake_destroy(&f);
}

static void test_runner_stops_when_pass_is_done(void) {
  fake_store f;
  fake_clock c = {0, 0, 0};
  sessio_gc *g = NULL;
  sessio_gc_report r;
  fake_init(&f, 1, 1);
  f.done_at = 3;
  CHECK_OK(sessio_gc_new(&f.base, &g));
  CHECK_OK(sessio_gc_set_clocks(g, NULL, fake_mono, &c));
  CHECK_OK(sessio_gc_run(g, T0, &r));
  CHECK_INT(r.calls, 3);
  CHECK_INT(r.stop, SESSIO_GC_STOP_DONE);
  sessio_gc_free(g);
  fake_destroy(&f);
}

/* Garbage in a quarter of the work goes on; less stops after one call. */
static void test_runner_goes_on_only_while_a_quarter_is_garbage(void) {
  fake_store f;
  fake_clock c = {0, 0, 0};
  sessio_gc *g = NULL;
  sessio_gc_report r;
  fake_init(&f, 1, 4); /* 64 of 256 */
  f.done_at = 7;
  CHECK_OK(sessio_gc_new(&f.base, &g));
  CHECK_OK(sessio_gc_set_clocks(g, NULL, fake_mono, &c));
  CHECK_OK(sessio_gc_run(g, T0, &r));
  CHECK_INT(r.calls, 7);
  CHECK_INT(r.stop, SESSIO_GC_STOP_DONE);
  f.removed_num = 63; /* 63 of 256 */
  f.removed_den = 256;
  CHECK_OK(sessio_gc_run(g, T0, &r));
  CHECK_INT(r.calls, 1);
  CHECK_INT(r.removed, 63);
  CHECK_INT(r.stop, SESSIO_GC_STOP_SPARSE);
  sessio_gc_free(g);
  fake_destroy(&f);
}

/* A store that is down fails every run: one line at once, then one line a
 * minute with the count, then one when it works again. */
static void test_failures_are_logged_first_then_once_a_minute(void) {
  fake_store f;
  fake_clock c = {0, 0, 0};
  sessio_gc *g = NULL;
  sessio_gc_report r;
  log_lines l = {0, ""};
  fake_init(&f, 1, 1);
  f.fail = SESSIO_EUNAVAIL;
  CHECK_OK(sessio_store_set_logger(&f.base, keep_log, &l, SESSIO_LOG_DEBUG));
  CHECK_OK(sessio_gc_new(&f.base, &g));
  CHECK_OK(sessio_gc_set_clocks(g, NULL, fake_mono, &c));
  CHECK_ERR(sessio_gc_run(g, T0, &r), SESSIO_EUNAVAIL);
  CHECK_INT(r.calls, 1);
  CHECK_INT(r.stop, SESSIO_GC_STOP_ERROR);
  CHECK_INT(l.n, 1);
  CHECK(strstr(l.last, "store gc failed: SESSIO_EUNAVAIL") != NULL);
  for (int s = 1; s < 60; s++) {
    c.t = s * 1000;
    CHECK_ERR(sessio_gc_run(g, T0 + s * 1000, &r), SESSIO_EUNAVAIL);
  }
  CHECK_INT(l.n, 1);
  c.t = 60000;
  CHECK_ERR(sessio_gc_run(g, T0 + 60000, &r), SESSIO_EUNAVAIL);
  CHECK_INT(l.n, 2);
  CHECK(strstr(l.last, "failed 60 more times in 60 s") != NULL);
  printf("  %s\n", l.last);
  f.fail = SESSIO_OK;
  f.removed_num = 0; /* a clean store: one call a run */
  c.t = 61000;
  CHECK_OK(sessio_gc_run(g, T0 + 61000, &r));
  CHECK_INT(l.n, 3);
  CHECK(strstr(l.last, "works again after 61 failed calls") != NULL);
  CHECK_OK(sessio_gc_run(g, T0 + 62000, &r));
  CHECK_INT(l.n, 3);
  sessio_gc_free(g);
  fake_destroy(&f);
}

static void test_bad_arguments_are_refused(void) {
  fake_store f;
  sessio_gc *g = NULL;
  fake_init(&f, 1, 1);
  CHECK_ERR(sessio_gc_new(NULL, &g), SESSIO_EINVAL);
  CHECK(g == NULL);
  CHECK_OK(sessio_gc_new(&f.base, &g));
  CHECK_ERR(sessio_gc_set_budget(g, 0, 100, 0), SESSIO_EINVAL);
  CHECK_ERR(sessio_gc_set_budget(g, 256, 0, 0), SESSIO_EINVAL);
  CHECK_ERR(sessio_gc_set_budget(g, 256, -1, 100), SESSIO_EINVAL);
  CHECK_ERR(sessio_gc_thread_start(g, 0), SESSIO_EINVAL);
  CHECK_ERR(sessio_gc_run(NULL, T0, NULL), SESSIO_EINVAL);
  sessio_gc_thread_stop(g); /* not running: nothing */
  sessio_gc_free(g);
  sessio_gc_free(NULL);
  fake_destroy(&f);
}

static int64_t real_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The thread runs at its interval with the wall clock's 'now', and a stop
 * does not wait out the interval: started with a day's interval, it stops
 * at once (a stop that waited would hit the test's timeout). */
static void test_thread_runs_and_stops_promptly(void) {
  fake_store f;
  fake_clock c = {0, 0, T0 + 777};
  sessio_gc *g = NULL;
  fake_init(&f, 0, 1);
  CHECK_OK(sessio_gc_new(&f.base, &g));
  CHECK_OK(sessio_gc_set_clocks(g, fake_wall, NULL, &c));
  CHECK_OK(sessio_gc_thread_start(g, 1));
  CHECK_ERR(sessio_gc_thread_start(g, 1), SESSIO_ESTATE);
  pthread_mutex_lock(&f.mu);
  while (f.calls < 3)
    pthread_cond_wait(&f.cv, &f.mu); /* woken by the fake gc */
  CHECK_INT(f.last_now, T0 + 777);
  pthread_mutex_unlock(&f.mu);
  sessio_gc_thread_stop(g);

  size_t calls = f.calls;
  int64_t t0 = real_mono_ms();
  CHECK_OK(sessio_gc_thread_start(g, 86400000));
  sessio_gc_thread_stop(g);
  CHECK(real_mono_ms() - t0 < 10000);
  CHECK_INT(f.calls, calls);
  /* free stops a running thread too */
  CHECK_OK(sessio_gc_thread_start(g, 86400000));
  sessio_gc_free(g);
  fake_destroy(&f);
}

int main(void) {
  RUN(test_runner_keeps_up_with_an_expiry_rate);
  RUN(test_runner_floor_bounds_dead_records_in_a_large_store);
  RUN(test_runner_stops_at_time_budget);
  RUN(test_runner_time_grows_while_a_backlog_lasts);
  RUN(test_runner_stops_at_unit_budget);
  RUN(test_runner_stops_when_pass_is_done);
  RUN(test_runner_goes_on_only_while_a_quarter_is_garbage);
  RUN(test_failures_are_logged_first_then_once_a_minute);
  RUN(test_bad_arguments_are_refused);
  RUN(test_thread_runs_and_stops_promptly);
  return DONE();
}
