/*
 * sweep.h — the allocation-failure sweep engine. A sweep program is an
 * existing test source (test_session.c, conformance.c) compiled with a
 * header forced in front of it (sweep_unit.h, sweep_conformance.h) that
 * includes this one and makes RUN(fn) mean sweep_case(): each case is run
 * once counting its allocations, then again for every N with the Nth
 * allocation failing (mode ONCE) and with every allocation from the Nth on
 * failing (mode FROM).
 *
 * What each run proves (failures are counted and printed with case and N):
 *  - every public call that met an injected failure returned SESSIO_OK or
 *    SESSIO_ENOMEM (the calls are wrapped with -Wl,--wrap, see
 *    tests/alloc/CMakeLists.txt; only the outermost call made by the test
 *    is judged, per thread);
 *  - nothing crashes (a sanitizer report ends the program, naming the run);
 *  - nothing leaks: after the test's own handles are released, the live
 *    blocks tracked by failalloc are exactly those alive before the run,
 *    and LeakSanitizer checks the whole process after each case.
 * A test written for success trips over ENOMEM: once a failure was
 * injected, the first failing CHECK (or the test's abort()) ends the run by
 * longjmp, and every handle the test held (sessions, managers, configs,
 * stores, arrays returned by the library, the test's own blocks) is
 * released from a registry filled by the wrappers.
 */
#ifndef SESSIO_TEST_SWEEP_H
#define SESSIO_TEST_SWEEP_H

#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Not every sweep program uses every helper below. */
#pragma GCC diagnostic ignored "-Wunused-function"

/* Sanitizer hooks, weak: a build without sanitizers links too. */
int __lsan_do_recoverable_leak_check(void) __attribute__((weak));
void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

#include "failalloc.h"
#include "sessio.h"
#include "sessio/store.h"
#include "store/store_internal.h" /* the record-level dispatch wrappers */
#include "record.h"

void sweep_bail_(void);
#define HARNESS_ON_FAIL() sweep_bail_()
#include "harness.h"

/* Which N a case is swept at, by the allocations 'count' it makes:
 *  - count <= SWEEP_EVERY_MAX: every N;
 *  - up to SWEEP_STRESS_MAX: every N up to SWEEP_EVERY_MAX, then
 *    SWEEP_STRIDED more N evenly spread over the rest (cases that open
 *    stores with thousands of shards: each N re-runs the whole prefix);
 *  - over it (multi-thread stress cases, which run to the end whatever
 *    fails): SWEEP_SAMPLE N evenly spread. */
#ifndef SWEEP_EVERY_MAX
#define SWEEP_EVERY_MAX 1000
#endif
#ifndef SWEEP_STRESS_MAX
#define SWEEP_STRESS_MAX 50000
#endif
#ifndef SWEEP_STRIDED
#define SWEEP_STRIDED 32
#endif
#ifndef SWEEP_SAMPLE
#define SWEEP_SAMPLE 8
#endif
#define SWEEP_STR2_(x) #x
#define SWEEP_STR_(x) SWEEP_STR2_(x)

/* ---- state of the current run ------------------------------------------ */

static jmp_buf sweep_jb_;
static volatile int sweep_active_; /* a run is going on */
static const char *sweep_case_name_ = "";
static long sweep_n_;
static failalloc_mode sweep_mode_;
static pthread_mutex_t sweep_mu_ = PTHREAD_MUTEX_INITIALIZER;

/* Totals for the summary line. */
static long sw_runs_, sw_injected_, sw_bailed_, sw_met_, sw_met_ok_,
    sw_met_enomem_, sw_bad_rc_, sw_leaks_, sw_cases_, sw_sampled_;
static long sw_case_bad_; /* problems in the current case */

/* Allocation serial at the start of the current run (for leak reports). */
static uint64_t sweep_serial0_;

static const char *sweep_mode_name_(void) {
  return sweep_mode_ == FAILALLOC_ONCE   ? "once"
         : sweep_mode_ == FAILALLOC_FROM ? "from"
                                         : "count";
}

static void sweep_death_(void) {
  fprintf(stderr, "# sweep: died in case %s, mode %s, N=%ld\n",
          sweep_case_name_, sweep_mode_name_(), sweep_n_);
}

/* ---- the registry of what the test holds ---------------------------------- */

enum {
  R_ARRAY,
  R_SESS,
  R_MGR,
  R_CFG,
  R_CUSTOM_STORE,
  R_STORE,
  R_TBLOCK,
  R_KINDS
};

typedef struct reg_ent {
  int kind;
  void *p;
} reg_ent;

static reg_ent *reg_;
static size_t reg_n_, reg_cap_, reg_blocks_; /* blocks: ARRAY and TBLOCK */

static void reg_add_(int kind, void *p) {
  if (p == NULL || !sweep_active_) return;
  pthread_mutex_lock(&sweep_mu_);
  if (reg_n_ == reg_cap_) {
    reg_cap_ = reg_cap_ ? 2 * reg_cap_ : 256;
    reg_ = failalloc_real_realloc(reg_, reg_cap_ * sizeof *reg_);
    if (reg_ == NULL) abort();
  }
  reg_[reg_n_++] = (reg_ent){kind, p};
  if (kind == R_ARRAY || kind == R_TBLOCK) reg_blocks_++;
  pthread_mutex_unlock(&sweep_mu_);
}

static int reg_has_(void *p) {
  int has = 0;
  pthread_mutex_lock(&sweep_mu_);
  for (size_t i = 0; i < reg_n_ && !has; i++) has = reg_[i].p == p;
  pthread_mutex_unlock(&sweep_mu_);
  return has;
}

/* Forgets 'p' (of any kind when 'blocks_only' is 0). */
static void reg_del_(void *p, int blocks_only) {
  if (p == NULL) return;
  pthread_mutex_lock(&sweep_mu_);
  if (!blocks_only || reg_blocks_ > 0) {
    for (size_t i = reg_n_; i-- > 0;) {
      if (reg_[i].p != p) continue;
      int k = reg_[i].kind;
      if (blocks_only && k != R_ARRAY && k != R_TBLOCK) continue;
      if (k == R_ARRAY || k == R_TBLOCK) reg_blocks_--;
      reg_[i] = reg_[--reg_n_];
      break;
    }
  }
  pthread_mutex_unlock(&sweep_mu_);
}

static void sweep_free_hook_(void *p) { reg_del_(p, 1); }

/* Takes out one entry of 'kind'; NULL when none is left. */
static void *reg_pop_(int kind) {
  void *p = NULL;
  pthread_mutex_lock(&sweep_mu_);
  for (size_t i = reg_n_; i-- > 0;) {
    if (reg_[i].kind != kind) continue;
    p = reg_[i].p;
    if (kind == R_ARRAY || kind == R_TBLOCK) reg_blocks_--;
    reg_[i] = reg_[--reg_n_];
    break;
  }
  pthread_mutex_unlock(&sweep_mu_);
  return p;
}

/* Releases everything the test still holds, in dependency order. Returns
 * how many handles there were. */
static size_t reg_release_(void) {
  size_t n = 0;
  void *p;
  while ((p = reg_pop_(R_ARRAY)) != NULL) n++, free(p);
  while ((p = reg_pop_(R_SESS)) != NULL) n++, sessio_free(p);
  while ((p = reg_pop_(R_MGR)) != NULL) n++, sessio_manager_free(p);
  while ((p = reg_pop_(R_CFG)) != NULL) n++, sessio_config_free(p);
  while ((p = reg_pop_(R_CUSTOM_STORE)) != NULL) n++, sessio_store_close(p);
  while ((p = reg_pop_(R_STORE)) != NULL) n++, sessio_store_close(p);
  while ((p = reg_pop_(R_TBLOCK)) != NULL) n++, free(p);
  return n;
}

/* ---- the test's own allocations: never failed, released on bail -------- */

static void *sweep_t_malloc_(size_t n) {
  void *p = failalloc_real_malloc(n);
  reg_add_(R_TBLOCK, p);
  return p;
}
static void *sweep_t_calloc_(size_t n, size_t m) {
  void *p = failalloc_real_calloc(n, m);
  reg_add_(R_TBLOCK, p);
  return p;
}
static void *sweep_t_realloc_(void *p, size_t n) {
  reg_del_(p, 1);
  void *q = failalloc_real_realloc(p, n);
  reg_add_(R_TBLOCK, q ? q : p);
  return q;
}

/* ---- the test's threads: joined before a run is ended early -------------- */

enum { SWEEP_MAX_THREADS = 256 };
static pthread_t sweep_threads_[SWEEP_MAX_THREADS];
static int sweep_nthreads_;

static int sweep_pthread_create_(pthread_t *t, const pthread_attr_t *a,
                                 void *(*fn)(void *), void *arg) {
  int rc = pthread_create(t, a, fn, arg);
  if (rc == 0 && sweep_nthreads_ < SWEEP_MAX_THREADS)
    sweep_threads_[sweep_nthreads_++] = *t;
  return rc;
}

static void sweep_forget_thread_(pthread_t t) {
  for (int i = 0; i < sweep_nthreads_; i++) {
    if (pthread_equal(sweep_threads_[i], t)) {
      sweep_threads_[i] = sweep_threads_[--sweep_nthreads_];
      return;
    }
  }
}

static int sweep_pthread_join_(pthread_t t, void **ret) {
  int rc = pthread_join(t, ret);
  if (rc == 0) sweep_forget_thread_(t);
  return rc;
}

/* ---- bailing out -------------------------------------------------------- */

/* A check failed: after an injected failure this ends the run (once the
 * test's threads are done); before one it is a real failure and the check
 * reports it as usual. */
void sweep_bail_(void) {
  if (sweep_active_ && failalloc_injected() > 0) {
    while (sweep_nthreads_ > 0) {
      pthread_join(sweep_threads_[sweep_nthreads_ - 1], NULL);
      sweep_nthreads_--;
    }
    longjmp(sweep_jb_, 1);
  }
}

static void sweep_abort_(void) {
  sweep_bail_();
  sweep_death_();
  abort();
}

/* Quiet test output while failures are being injected. */
static int sweep_fprintf_(FILE *f, const char *fmt, ...) {
  if (sweep_active_ && (f == stdout || failalloc_injected() > 0)) return 0;
  va_list ap;
  va_start(ap, fmt);
  int r = vfprintf(f, fmt, ap);
  va_end(ap);
  return r;
}

/* ---- the wrapped public API ---------------------------------------------- */

static _Thread_local int sweep_depth_;

static long sweep_enter_(void) {
  sweep_depth_++;
  return failalloc_thread_injected();
}

static sessio_err sweep_leave_(const char *fn, sessio_err rc, long before) {
  sweep_depth_--;
  if (sweep_depth_ == 0 && sweep_active_ &&
      failalloc_thread_injected() != before) {
    pthread_mutex_lock(&sweep_mu_);
    sw_met_++;
    if (rc == SESSIO_OK) {
      sw_met_ok_++;
    } else if (rc == SESSIO_ENOMEM) {
      sw_met_enomem_++;
    } else {
      sw_bad_rc_++;
      sw_case_bad_++;
      fprintf(stderr,
              "  BAD %s returned %s after an injected allocation "
              "failure (case %s, mode %s, N=%ld)\n",
              fn, sessio_errname(rc), sweep_case_name_, sweep_mode_name_(),
              sweep_n_);
    }
    pthread_mutex_unlock(&sweep_mu_);
  }
  return rc;
}

#define SW_WRAP(name, params, args)                                            \
  sessio_err __real_##name params;                                             \
  sessio_err __wrap_##name params;                                             \
  sessio_err __wrap_##name params {                                            \
    long b_ = sweep_enter_();                                                  \
    return sweep_leave_(#name, __real_##name args, b_);                        \
  }

SW_WRAP(sessio_commit, (sessio * s, int64_t now), (s, now))
SW_WRAP(sessio_set_str, (sessio * s, const char *k, const char *v), (s, k, v))
SW_WRAP(sessio_set_strn, (sessio * s, const char *k, const char *v, size_t n),
        (s, k, v, n))
SW_WRAP(sessio_set_int, (sessio * s, const char *k, int64_t v), (s, k, v))
SW_WRAP(sessio_set_bool, (sessio * s, const char *k, int v), (s, k, v))
SW_WRAP(sessio_set_bytes, (sessio * s, const char *k, const void *v, size_t n),
        (s, k, v, n))
SW_WRAP(sessio_delete, (sessio * s, const char *k), (s, k))
SW_WRAP(sessio_incr, (sessio * s, const char *k, int64_t d, int64_t *r),
        (s, k, d, r))
SW_WRAP(sessio_delete_prefix, (sessio * s, const char *p), (s, p))
SW_WRAP(sessio_iterate,
        (const sessio *s, const char *p, sessio_iter_fn cb, void *ud),
        (s, p, cb, ud))
SW_WRAP(sessio_flash_set, (sessio * s, const char *k, const char *m), (s, k, m))
SW_WRAP(sessio_login, (sessio * s, const char *u, int r, int64_t now),
        (s, u, r, now))
SW_WRAP(sessio_regenerate, (sessio * s), (s))
SW_WRAP(sessio_destroy, (sessio * s), (s))
SW_WRAP(sessio_set_label, (sessio * s, const char *i), (s, i))
SW_WRAP(sessio_manager_revoke_one,
        (sessio_manager * m, const char *u, const char *h, int64_t now,
         size_t *r),
        (m, u, h, now, r))
SW_WRAP(sessio_manager_revoke_all,
        (sessio_manager * m, const char *u, const char *k, int64_t now,
         size_t *r),
        (m, u, k, now, r))
SW_WRAP(sessio_config_set_timeouts,
        (sessio_config * c, int64_t i, int64_t a, int64_t r), (c, i, a, r))
SW_WRAP(sessio_config_set_touch_interval, (sessio_config * c, int64_t i),
        (c, i))
SW_WRAP(sessio_config_set_rotation, (sessio_config * c, int64_t i, int64_t g),
        (c, i, g))
SW_WRAP(sessio_config_set_cookie,
        (sessio_config * c, const char *n, sessio_secure s, sessio_samesite ss,
         const char *d),
        (c, n, s, ss, d))
SW_WRAP(sessio_config_set_secret, (sessio_config * c, const void *s, size_t n),
        (c, s, n))
SW_WRAP(sessio_config_set_limits,
        (sessio_config * c, size_t k, size_t v, size_t t), (c, k, v, t))
SW_WRAP(sessio_config_set_logger,
        (sessio_config * c, sessio_log_fn f, void *ud, sessio_log_level l),
        (c, f, ud, l))
SW_WRAP(sessio_store_gc,
        (sessio_store * st, int64_t now, size_t w, size_t *r, int *d),
        (st, now, w, r, d))
SW_WRAP(sessio_store_stats, (sessio_store * st, struct sessio_store_stats *o),
        (st, o))
SW_WRAP(sessio__store_save,
        (sessio_store * st, const sessio_key *k, const sessio_record *r,
         uint64_t e, int64_t now, uint64_t *v),
        (st, k, r, e, now, v))
SW_WRAP(sessio__store_touch,
        (sessio_store * st, const sessio_key *k, int64_t t, int64_t x,
         int64_t now, int *f),
        (st, k, t, x, now, f))
SW_WRAP(sessio__store_remove,
        (sessio_store * st, const sessio_key *k, int64_t now, int *r),
        (st, k, now, r))
SW_WRAP(sessio__store_user_add,
        (sessio_store * st, const char *u, const sessio_key *k, int64_t x,
         int64_t now),
        (st, u, k, x, now))
SW_WRAP(sessio__store_user_remove,
        (sessio_store * st, const char *u, const sessio_key *k), (st, u, k))
SW_WRAP(sessio__store_iterate,
        (sessio_store * st, int64_t now, sessio_store_iter_fn cb, void *ud),
        (st, now, cb, ud))

/* Calls that hand the test something to release: registered when the test
 * itself made the call (depth 1). */
sessio_err __real_sessio_begin(sessio_manager *, const char *const *, size_t,
                               int, int64_t, sessio **);
sessio_err __wrap_sessio_begin(sessio_manager *m, const char *const *h,
                               size_t n, int tls, int64_t now, sessio **out);
sessio_err __wrap_sessio_begin(sessio_manager *m, const char *const *h,
                               size_t n, int tls, int64_t now, sessio **out) {
  long b = sweep_enter_();
  sessio_err rc = __real_sessio_begin(m, h, n, tls, now, out);
  if (rc == SESSIO_OK && sweep_depth_ == 1) reg_add_(R_SESS, *out);
  return sweep_leave_("sessio_begin", rc, b);
}

sessio_err __real_sessio_manager_new(const sessio_config *, sessio_manager **);
sessio_err __wrap_sessio_manager_new(const sessio_config *c,
                                     sessio_manager **out);
sessio_err __wrap_sessio_manager_new(const sessio_config *c,
                                     sessio_manager **out) {
  long b = sweep_enter_();
  sessio_err rc = __real_sessio_manager_new(c, out);
  if (rc == SESSIO_OK && sweep_depth_ == 1) reg_add_(R_MGR, *out);
  return sweep_leave_("sessio_manager_new", rc, b);
}

sessio_err __real_sessio_config_new(sessio_config **);
sessio_err __wrap_sessio_config_new(sessio_config **out);
sessio_err __wrap_sessio_config_new(sessio_config **out) {
  long b = sweep_enter_();
  sessio_err rc = __real_sessio_config_new(out);
  if (rc == SESSIO_OK && sweep_depth_ == 1) reg_add_(R_CFG, *out);
  return sweep_leave_("sessio_config_new", rc, b);
}

sessio_err __real_sessio_store_open(const char *, sessio_store **);
sessio_err __wrap_sessio_store_open(const char *url, sessio_store **out);
sessio_err __wrap_sessio_store_open(const char *url, sessio_store **out) {
  long b = sweep_enter_();
  sessio_err rc = __real_sessio_store_open(url, out);
  if (rc == SESSIO_OK && sweep_depth_ == 1) reg_add_(R_STORE, *out);
  return sweep_leave_("sessio_store_open", rc, b);
}

/* The store a harness opens and closes around each run itself (the
 * conformance suite's): a manager made on it must not close it. */
static sessio_store *sweep_borrowed_store_;

/* A store the test built itself (a wrapper around another): closed on bail
 * through the store API, which closes what it wraps. */
sessio_err __real_sessio_config_set_store(sessio_config *, sessio_store *);
sessio_err __wrap_sessio_config_set_store(sessio_config *c, sessio_store *st);
sessio_err __wrap_sessio_config_set_store(sessio_config *c, sessio_store *st) {
  long b = sweep_enter_();
  sessio_err rc = __real_sessio_config_set_store(c, st);
  if (rc == SESSIO_OK && sweep_depth_ == 1 && !reg_has_(st) &&
      st != sweep_borrowed_store_)
    reg_add_(R_CUSTOM_STORE, st);
  return sweep_leave_("sessio_config_set_store", rc, b);
}

sessio_err __real_sessio_manager_user_sessions(sessio_manager *, const char *,
                                               int64_t, sessio_session_info **,
                                               size_t *);
sessio_err __wrap_sessio_manager_user_sessions(sessio_manager *m, const char *u,
                                               int64_t now,
                                               sessio_session_info **o,
                                               size_t *n);
sessio_err __wrap_sessio_manager_user_sessions(sessio_manager *m, const char *u,
                                               int64_t now,
                                               sessio_session_info **o,
                                               size_t *n) {
  long b = sweep_enter_();
  sessio_err rc = __real_sessio_manager_user_sessions(m, u, now, o, n);
  if (rc == SESSIO_OK && sweep_depth_ == 1) reg_add_(R_ARRAY, *o);
  return sweep_leave_("sessio_manager_user_sessions", rc, b);
}

sessio_err __real_sessio__store_user_list(sessio_store *, const char *, int64_t,
                                          sessio_key **, size_t *);
sessio_err __wrap_sessio__store_user_list(sessio_store *st, const char *u,
                                          int64_t now, sessio_key **k,
                                          size_t *n);
sessio_err __wrap_sessio__store_user_list(sessio_store *st, const char *u,
                                          int64_t now, sessio_key **k,
                                          size_t *n) {
  long b = sweep_enter_();
  sessio_err rc = __real_sessio__store_user_list(st, u, now, k, n);
  if (rc == SESSIO_OK && sweep_depth_ == 1) reg_add_(R_ARRAY, *k);
  return sweep_leave_("sessio__store_user_list", rc, b);
}

sessio_err __real_sessio__store_load(sessio_store *, const sessio_key *,
                                     int64_t, sessio_record *, int *);
sessio_err __wrap_sessio__store_load(sessio_store *st, const sessio_key *k,
                                     int64_t now, sessio_record *r, int *f);
sessio_err __wrap_sessio__store_load(sessio_store *st, const sessio_key *k,
                                     int64_t now, sessio_record *r, int *f) {
  long b = sweep_enter_();
  sessio_err rc = __real_sessio__store_load(st, k, now, r, f);
  if (rc == SESSIO_OK && sweep_depth_ == 1 && *f) reg_add_(R_ARRAY, r->blob);
  return sweep_leave_("sessio__store_load", rc, b);
}

/* Internal calls some unit tests make with buffers of their own. */
sessio_err __real_sessio__record_encode(const sessio__meta *, const char *,
                                        const uint8_t *, const uint8_t *,
                                        size_t, sessio__buf *);
sessio_err __wrap_sessio__record_encode(const sessio__meta *m, const char *u,
                                        const uint8_t *k, const uint8_t *pt,
                                        size_t n, sessio__buf *out);
sessio_err __wrap_sessio__record_encode(const sessio__meta *m, const char *u,
                                        const uint8_t *k, const uint8_t *pt,
                                        size_t n, sessio__buf *out) {
  long b = sweep_enter_();
  if (sweep_depth_ == 1) reg_del_(out->data, 1);
  sessio_err rc = __real_sessio__record_encode(m, u, k, pt, n, out);
  if (sweep_depth_ == 1) reg_add_(R_ARRAY, out->data);
  return sweep_leave_("sessio__record_encode", rc, b);
}

int __real_sessio__record_open(const uint8_t *, size_t, size_t, const char *,
                               const uint8_t *, sessio__buf *);
int __wrap_sessio__record_open(const uint8_t *blob, size_t len, size_t hdr,
                               const char *u, const uint8_t *k,
                               sessio__buf *out);
int __wrap_sessio__record_open(const uint8_t *blob, size_t len, size_t hdr,
                               const char *u, const uint8_t *k,
                               sessio__buf *out) {
  sweep_depth_++;
  if (sweep_depth_ == 1) reg_del_(out->data, 1);
  int r = __real_sessio__record_open(blob, len, hdr, u, k, out);
  if (sweep_depth_ == 1) reg_add_(R_ARRAY, out->data);
  sweep_depth_--;
  return r;
}

/* Releases: forgotten by the registry at any depth (a wrapping store
 * closes the store it wraps from inside sessio_store_close). */
#define SW_RELEASE(name, type)                                                 \
  void __real_##name(type p);                                                  \
  void __wrap_##name(type p);                                                  \
  void __wrap_##name(type p) {                                                 \
    reg_del_((void *)p, 0);                                                    \
    __real_##name(p);                                                          \
  }
SW_RELEASE(sessio_free, sessio *)
SW_RELEASE(sessio_manager_free, sessio_manager *)
SW_RELEASE(sessio_config_free, sessio_config *)
SW_RELEASE(sessio_store_close, sessio_store *)

/* ---- running a case -------------------------------------------------------- */

typedef struct sweep_hooks {
  void (*before)(void *ud); /* called with injection off */
  void (*after)(void *ud);
  void *ud;
} sweep_hooks;

/* One run of 'fn' with the current arming; returns 1 when it bailed. */
static int sweep_run_(void (*fn)(void), const sweep_hooks *h) {
  volatile int bailed = 0;
  size_t live0 = failalloc_live();
  sweep_serial0_ = failalloc_serial();
  if (h && h->before) h->before(h->ud);
  failalloc_arm(sweep_mode_, sweep_n_);
  sweep_active_ = 1;
  if (setjmp(sweep_jb_) == 0) {
    fn();
  } else {
    bailed = 1;
  }
  failalloc_disarm();
  long injected = failalloc_injected();
  reg_release_();
  sweep_active_ = 0;
  if (h && h->after) h->after(h->ud);
  size_t live1 = failalloc_live();
  if (live1 != live0) {
    fprintf(stderr,
            "  LEAK in case %s, mode %s, N=%ld: %zu blocks alive "
            "before the run, %zu after\n",
            sweep_case_name_, sweep_mode_name_(), sweep_n_, live0, live1);
    failalloc_report_since(sweep_serial0_);
    sw_leaks_++;
    sw_case_bad_++;
  }
  sw_runs_++;
  sw_injected_ += injected;
  if (bailed) sw_bailed_++;
  return bailed;
}

/* Sweeps one case: a counting run, then every N (or a sample) in both
 * modes. The case passes when no run broke a rule. */
static void sweep_case(const char *name, void (*fn)(void),
                       const sweep_hooks *h) {
  sweep_case_name_ = name;
  harness_cur_name_ = name;
  harness_cur_failed_ = 0;
  sw_case_bad_ = 0;
  sw_cases_++;
  long runs0 = sw_runs_, inj0 = sw_injected_;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);

  /* Counting run: must pass as it does without the sweep. */
  sweep_mode_ = FAILALLOC_OFF;
  sweep_n_ = 0;
  sweep_run_(fn, h);
  long count = failalloc_calls();
  int failed_plain = harness_cur_failed_;
  int stress = count > SWEEP_STRESS_MAX,
      strided = !stress && count > SWEEP_EVERY_MAX;
  long stride = stress ? count / SWEEP_SAMPLE
                       : (count - SWEEP_EVERY_MAX) / SWEEP_STRIDED + 1;
  if (stress || strided) sw_sampled_++;

  for (int m = FAILALLOC_ONCE; m <= FAILALLOC_FROM && !failed_plain; m++) {
    sweep_mode_ = (failalloc_mode)m;
    for (long i = 1;; i++) {
      long n = stress ? 1 + (i - 1) * stride
               : i <= SWEEP_EVERY_MAX
                   ? i
                   : SWEEP_EVERY_MAX + (i - SWEEP_EVERY_MAX) * stride;
      if (stress && i > SWEEP_SAMPLE) break;
      if (i > 4 * count + 1000) { /* never finished: a loop */
        fprintf(stderr, "  case %s never completed\n", name);
        sw_case_bad_++;
        break;
      }
      sweep_n_ = n;
      harness_cur_failed_ = 0;
      sweep_run_(fn, h);
      /* A check that failed after an injected failure without ending the
       * run is expected; one that failed without any is not. */
      if (harness_cur_failed_ && failalloc_injected() == 0) {
        fprintf(stderr,
                "  case %s failed a check without an injected "
                "failure (mode %d, N=%ld)\n",
                name, m, n);
        sw_case_bad_++;
      }
      if (!stress && failalloc_injected() == 0) break; /* ran to the end */
    }
  }
  /* LeakSanitizer over the whole process, once per case. */
  if (__lsan_do_recoverable_leak_check &&
      __lsan_do_recoverable_leak_check() != 0)
    sw_case_bad_++;

  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs =
      (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  harness_cur_failed_ = failed_plain || sw_case_bad_ > 0;
  if (harness_cur_failed_) {
    harness_failed_++;
    fprintf(stderr, "not ok - %s\n", name);
  } else {
    harness_passed_++;
    printf("ok - %s: %ld allocations, %ld runs, %ld failures injected, "
           "%.1f s%s\n",
           name, count, sw_runs_ - runs0, sw_injected_ - inj0, secs,
           stress ? " (stress case: a sample of N)"
           : strided
               ? " (every N to " SWEEP_STR_(SWEEP_EVERY_MAX) ", then strided)"
               : "");
  }
  fflush(stdout);
}

static void sweep_init(void) {
  failalloc_free_hook = sweep_free_hook_;
  if (__sanitizer_set_death_callback)
    __sanitizer_set_death_callback(sweep_death_);
}

static int sweep_done(const char *suite) {
  printf("# %s: %ld cases (%ld not at every N), %ld runs, %ld allocation "
         "failures injected, %ld runs ended early by a failed check; %ld "
         "public calls met an injected failure: %ld returned OK, %ld "
         "SESSIO_ENOMEM, %ld something else; %ld leaking runs\n",
         suite, sw_cases_, sw_sampled_, sw_runs_, sw_injected_, sw_bailed_,
         sw_met_, sw_met_ok_, sw_met_enomem_, sw_bad_rc_, sw_leaks_);
  return DONE();
}

#endif
