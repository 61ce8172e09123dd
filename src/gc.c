/*
 * gc.c — the GC runner: adaptive rounds of sessio_store_gc() within a time
 * or unit budget (the contract and the measurements behind it are in
 * include/sessio.h), a summarising failure log, and an optional thread that
 * runs it at an interval and stops at once when asked (condition variable).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "sessio.h"
#include "sessio/store.h"

#define GC_WORK_DEFAULT 256      /* units per sessio_store_gc() call */
#define GC_BUDGET_MS_DEFAULT 100 /* of every second, in the shop's pace */
#define GC_FAIL_REPORT_MS 60000  /* repeated failures: one line a minute */
#define GC_PASS_RUNS 60          /* a pass in at most this many runs */
#define GC_BACKLOG_MAX 5         /* a backlog's run: up to 5 time budgets */

struct sessio_gc {
  sessio_store *st;
  size_t work, budget_units;
  int64_t budget_ms;
  sessio_clock_fn wall, mono;
  void *clock_ud;

  pthread_mutex_t run_mu; /* one run at a time; guards the fields below */
  size_t pass_units;      /* units the last complete pass took (0: none) */
  size_t cur_units;       /* units of the pass in progress */
  int64_t run_ms;         /* this run's time budget: budget_ms, more in a
                             backlog */
  int failing;            /* the last call failed */
  unsigned long fails;    /* failures since the first of this streak */
  unsigned long unreported;
  int64_t reported_at; /* mono ms of the last failure line */

  pthread_mutex_t thr_mu; /* guards the thread's fields */
  pthread_cond_t thr_cv;  /* CLOCK_MONOTONIC, for the interval wait */
  pthread_t thr;
  int running, stop;
  int64_t interval_ms;
};

static int64_t mono_default(void *ud) {
  struct timespec ts;
  (void)ud;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_default(void *ud) {
  (void)ud;
  return sessio_now_ms();
}

sessio_err sessio_gc_new(sessio_store *st, sessio_gc **out) {
  pthread_condattr_t ca;
  sessio_gc *g;
  if (out == NULL) return SESSIO_EINVAL;
  *out = NULL;
  if (st == NULL) return SESSIO_EINVAL;
  g = calloc(1, sizeof *g);
  if (g == NULL) return SESSIO_ENOMEM;
  g->st = st;
  g->work = GC_WORK_DEFAULT;
  g->budget_ms = g->run_ms = GC_BUDGET_MS_DEFAULT;
  g->wall = wall_default;
  g->mono = mono_default;
  if (pthread_mutex_init(&g->run_mu, NULL) != 0) goto fail_run_mu;
  if (pthread_mutex_init(&g->thr_mu, NULL) != 0) goto fail_thr_mu;
  if (pthread_condattr_init(&ca) != 0) goto fail_attr;
  if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
      pthread_cond_init(&g->thr_cv, &ca) != 0)
    goto fail_cv;
  pthread_condattr_destroy(&ca);
  *out = g;
  return SESSIO_OK;
fail_cv:
  pthread_condattr_destroy(&ca);
fail_attr:
  pthread_mutex_destroy(&g->thr_mu);
fail_thr_mu:
  pthread_mutex_destroy(&g->run_mu);
fail_run_mu:
  free(g);
  return SESSIO_ENOMEM;
}

void sessio_gc_free(sessio_gc *g) {
  if (g == NULL) return;
  sessio_gc_thread_stop(g);
  pthread_cond_destroy(&g->thr_cv);
  pthread_mutex_destroy(&g->thr_mu);
  pthread_mutex_destroy(&g->run_mu);
  free(g);
}

sessio_err sessio_gc_set_budget(sessio_gc *g, size_t work, int64_t budget_ms,
                                size_t budget_units) {
  if (g == NULL || work == 0 || budget_ms < 0 ||
      (budget_ms == 0 && budget_units == 0))
    return SESSIO_EINVAL;
  pthread_mutex_lock(&g->run_mu);
  g->work = work;
  g->budget_ms = g->run_ms = budget_ms;
  g->budget_units = budget_units;
  pthread_mutex_unlock(&g->run_mu);
  return SESSIO_OK;
}

sessio_err sessio_gc_set_clocks(sessio_gc *g, sessio_clock_fn wall,
                                sessio_clock_fn mono, void *ud) {
  if (g == NULL) return SESSIO_EINVAL;
  pthread_mutex_lock(&g->run_mu);
  g->wall = wall != NULL ? wall : wall_default;
  g->mono = mono != NULL ? mono : mono_default;
  g->clock_ud = ud;
  pthread_mutex_unlock(&g->run_mu);
  return SESSIO_OK;
}

/* A store that cannot be reached fails every call, every second: the first
 * failure is logged at once, the next ones are counted into one line a
 * minute, and the end of the streak is logged too. Called under run_mu. */
static void note_result(sessio_gc *g, sessio_err e, int64_t t) {
  if (e == SESSIO_OK) {
    if (g->failing)
      sessio_store_log(g->st, SESSIO_LOG_WARN,
                       "store gc works again after %lu failed calls", g->fails);
    g->failing = 0;
    return;
  }
  if (!g->failing) {
    g->failing = 1;
    g->fails = 1;
    g->unreported = 0;
    g->reported_at = t;
    sessio_store_log(g->st, SESSIO_LOG_WARN,
                     "store gc failed: %s (%s); further failures are counted "
                     "and reported once a minute",
                     sessio_errname(e), sessio_strerror(e));
    return;
  }
  g->fails++;
  g->unreported++;
  if (t - g->reported_at >= GC_FAIL_REPORT_MS) {
    sessio_store_log(g->st, SESSIO_LOG_WARN,
                     "store gc failed %lu more times in %lld s, last: %s",
                     g->unreported, (long long)((t - g->reported_at) / 1000),
                     sessio_errname(e));
    g->unreported = 0;
    g->reported_at = t;
  }
}

sessio_err sessio_gc_run(sessio_gc *g, int64_t now, sessio_gc_report *out) {
  sessio_gc_report r = {0, 0, 0, 0, SESSIO_GC_STOP_SPARSE};
  sessio_err e = SESSIO_OK;
  int64_t t0, t;
  size_t min_work;
  if (g == NULL) {
    if (out != NULL) *out = r;
    return SESSIO_EINVAL;
  }
  pthread_mutex_lock(&g->run_mu);
  /* The pass-rate floor: once a pass has completed, a run examines at
   * least 1/GC_PASS_RUNS of what that pass took, however little garbage
   * it finds, so a dead record waits at most about GC_PASS_RUNS runs. */
  min_work = g->pass_units / GC_PASS_RUNS;
  t0 = t = g->mono(g->clock_ud);
  for (;;) {
    size_t ask = g->work, removed = 0;
    int done = 0;
    if (g->budget_units > 0 && g->budget_units - r.work < ask)
      ask = g->budget_units - r.work;
    e = sessio_store_gc(g->st, now, ask, &removed, &done);
    r.calls++;
    r.work += ask;
    r.removed += removed;
    if (e == SESSIO_OK) {
      g->cur_units += ask;
      if (done) {
        g->pass_units = g->cur_units;
        g->cur_units = 0;
      }
    }
    t = g->mono(g->clock_ud);
    if (e != SESSIO_OK) {
      r.stop = SESSIO_GC_STOP_ERROR;
      break;
    }
    if (done) {
      r.stop = SESSIO_GC_STOP_DONE;
      break;
    }
    /* under a quarter of the work, and the floor reached */
    if (removed < (ask + 3) / 4 && r.work >= min_work) {
      r.stop = SESSIO_GC_STOP_SPARSE;
      break;
    }
    if (g->budget_units > 0 && r.work >= g->budget_units) {
      r.stop = SESSIO_GC_STOP_UNITS;
      break;
    }
    if (g->run_ms > 0 && t - t0 >= g->run_ms) {
      r.stop = SESSIO_GC_STOP_TIME;
      break;
    }
  }
  /* A backlog: the time ran out while garbage was still dense. The next
   * run gets twice the time, up to GC_BACKLOG_MAX budgets; any other end
   * (sparse, a pass done, units, an error) goes back to the budget. */
  if (r.stop == SESSIO_GC_STOP_TIME)
    g->run_ms = g->run_ms * 2 < g->budget_ms * GC_BACKLOG_MAX
                    ? g->run_ms * 2
                    : g->budget_ms * GC_BACKLOG_MAX;
  else
    g->run_ms = g->budget_ms;
  r.elapsed_ms = t - t0;
  note_result(g, e, t);
  if (e == SESSIO_OK && r.removed > 0)
    sessio_store_log(g->st, SESSIO_LOG_DEBUG,
                     "store gc removed %zu records in %zu calls", r.removed,
                     r.calls);
  pthread_mutex_unlock(&g->run_mu);
  if (out != NULL) *out = r;
  return e;
}

/* ---- the thread ---------------------------------------------------------- */

static void *gc_thread(void *arg) {
  sessio_gc *g = arg;
  struct timespec ts;
  pthread_mutex_lock(&g->thr_mu);
  while (!g->stop) {
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(g->interval_ms / 1000);
    ts.tv_nsec += (long)(g->interval_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    /* Waits out the interval; a stop wakes it at once. */
    while (!g->stop) {
      int rc = pthread_cond_timedwait(&g->thr_cv, &g->thr_mu, &ts);
      if (rc != 0 && rc != EINTR) break; /* ETIMEDOUT: time for a run */
    }
    if (g->stop) break;
    pthread_mutex_unlock(&g->thr_mu);
    sessio_gc_run(g, g->wall(g->clock_ud), NULL);
    pthread_mutex_lock(&g->thr_mu);
  }
  pthread_mutex_unlock(&g->thr_mu);
  return NULL;
}

sessio_err sessio_gc_thread_start(sessio_gc *g, int64_t interval_ms) {
  sessio_err e = SESSIO_OK;
  if (g == NULL || interval_ms <= 0 || interval_ms > INT64_C(86400000))
    return SESSIO_EINVAL;
  pthread_mutex_lock(&g->thr_mu);
  if (g->running) {
    e = SESSIO_ESTATE;
  } else {
    g->interval_ms = interval_ms;
    g->stop = 0;
    if (pthread_create(&g->thr, NULL, gc_thread, g) != 0)
      e = SESSIO_ENOMEM;
    else
      g->running = 1;
  }
  pthread_mutex_unlock(&g->thr_mu);
  return e;
}

void sessio_gc_thread_stop(sessio_gc *g) {
  pthread_t t;
  if (g == NULL) return;
  pthread_mutex_lock(&g->thr_mu);
  if (!g->running) {
    pthread_mutex_unlock(&g->thr_mu);
    return;
  }
  g->stop = 1;
  t = g->thr;
  pthread_cond_signal(&g->thr_cv);
  pthread_mutex_unlock(&g->thr_mu);
  pthread_join(t, NULL);
  pthread_mutex_lock(&g->thr_mu);
  g->running = 0;
  pthread_mutex_unlock(&g->thr_mu);
}
