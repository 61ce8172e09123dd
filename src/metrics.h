/*
 * metrics.h — the manager's counters and histograms. Every figure is a
 * relaxed atomic added to where it happens (no lock on the request path);
 * sessio_metrics_write() reads them in the Prometheus text format. Store
 * calls are timed in store.c when they run inside a manager's call (the
 * thread's current call, events.h). Internal to libsessio.
 */
#ifndef SESSIO_METRICS_H
#define SESSIO_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "sessio.h"

/* Store operations, for their counts and latency. */
enum {
  SESSIO__OP_LOAD,
  SESSIO__OP_SAVE,
  SESSIO__OP_TOUCH,
  SESSIO__OP_REMOVE,
  SESSIO__OP_USER_ADD,
  SESSIO__OP_USER_LIST,
  SESSIO__OP_USER_REMOVE,
  SESSIO__OP_GC,
  SESSIO__OP_N
};

#define SESSIO__HIST_N 15 /* 14 finite buckets and +Inf */

typedef struct sessio__hist {
  _Atomic uint64_t b[SESSIO__HIST_N]; /* not cumulative: one bucket each */
  _Atomic uint64_t sum_ns;
} sessio__hist;

/* One thread's share of the figures. Threads add to their own stripe (a
 * thread-local index, round robin), so that two request threads do not
 * bounce one cache line between cores on every counter; a reader sums the
 * stripes. */
#define SESSIO__MET_STRIPES 16

typedef struct sessio__met_stripe {
  _Atomic uint64_t created;
  _Atomic uint64_t ended[8]; /* by sessio_event_kind / reason: see .c */
  _Atomic uint64_t logins_ok, logins_failed;
  _Atomic uint64_t regenerated, rotated;
  _Atomic uint64_t commits_ok, commits_failed;
  _Atomic uint64_t conflicts, replays;
  _Atomic uint64_t rejected[8];      /* by sessio_event_reason */
  _Atomic uint64_t store_errors[16]; /* by -sessio_err */
  _Atomic uint64_t gc_calls, gc_removed, gc_passes, gc_units;
  sessio__hist ops[SESSIO__OP_N];
} __attribute__((aligned(64))) sessio__met_stripe;

typedef struct sessio__metrics {
  sessio__met_stripe s[SESSIO__MET_STRIPES];
} sessio__metrics;

/* This thread's stripe of 'mt'. */
sessio__met_stripe *sessio__met_mine(sessio__metrics *mt);

struct sessio_manager;

static inline void sessio__met_add(_Atomic uint64_t *c, uint64_t n) {
  atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* Counts one lifecycle change (called for every event noted). */
void sessio__met_event(const struct sessio_manager *m, sessio_event_kind kind,
                       sessio_event_reason reason);
/* Times a store call made inside a manager's call: begin returns 0 when
 * none runs on this thread, and end then does nothing. */
uint64_t sessio__met_begin(void);
/* The monotonic clock the timings use, in ns (never 0). */
uint64_t sessio__met_clock(void);
void sessio__met_end(int op, uint64_t t0, sessio_err rc);
/* One sessio_store_gc() call, for every manager of its store. */
void sessio__met_gc(struct sessio_manager *m, size_t max_work, size_t removed,
                    int done, uint64_t ns, sessio_err rc);

#endif
