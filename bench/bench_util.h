/*
 * bench_util.h — what the benchmark programs (micro.c, store_bench.c,
 * redis_bench.c) share: clocks, CPU time and timed threads, a manager on a
 * store URL, a new session and its "sid=ID" Cookie header, the
 * commit-latency line, the gc fill and timed gc, and a temp folder made and
 * removed. Header only (static inline); output formats are the callers'.
 */
#ifndef SESSIO_BENCH_UTIL_H
#define SESSIO_BENCH_UTIL_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "sessio.h"
#include "sessio/store.h"
#include "store/store_internal.h" /* the record-level dispatch wrappers */

/* ---- clocks ------------------------------------------------------------ */

static inline double bench_clock_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static inline double bench_mono_ns(void) {
  return bench_clock_ns(CLOCK_MONOTONIC);
}

/* User + system CPU time in ns of this process, all threads (who =
 * RUSAGE_SELF), or of its waited-for children (RUSAGE_CHILDREN). */
static inline double bench_cpu_ns(int who) {
  struct rusage ru;
  getrusage(who, &ru);
  return ((double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec) * 1e9 +
         ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) * 1e3;
}

/* qsort comparator for doubles, ascending. */
static inline int bench_cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Runs fn(arg of thread i) in 'threads' threads (at most 8), the args
 * 'size' bytes apart from 'args', and waits for them; sets '*wall_ns' and
 * '*cpu_ns' (this process, all threads) to what the run took. */
static inline void bench_run_threads(int threads, void *(*fn)(void *),
                                     void *args, size_t size, double *wall_ns,
                                     double *cpu_ns) {
  pthread_t th[8];
  if (threads > 8) threads = 8;
  double t0 = bench_mono_ns(), c0 = bench_cpu_ns(RUSAGE_SELF);
  for (int t = 0; t < threads; t++)
    pthread_create(&th[t], NULL, fn, (char *)args + (size_t)t * size);
  for (int t = 0; t < threads; t++) pthread_join(th[t], NULL);
  *wall_ns = bench_mono_ns() - t0;
  *cpu_ns = bench_cpu_ns(RUSAGE_SELF) - c0;
}

/* ---- a manager on a store ---------------------------------------------- */

typedef struct bench_env {
  sessio_store *st;  /* owned */
  sessio_manager *m; /* owned */
} bench_env;

/* Opens the store at 'url' and a manager on it (cookie "sid", never Secure,
 * SameSite=Lax). On failure returns the error, leaves nothing open, and,
 * unless 'prog' is NULL, prints "PROG: cannot open URL: ERROR". */
static inline sessio_err bench_env_open(bench_env *e, const char *url,
                                        const char *prog) {
  sessio_config *cfg = NULL;
  sessio_err err;
  memset(e, 0, sizeof *e);
  if ((err = sessio_store_open(url, &e->st)) != SESSIO_OK) goto fail_store;
  if ((err = sessio_config_new(&cfg)) != SESSIO_OK) goto fail_cfg;
  if ((err = sessio_config_set_store(cfg, e->st)) != SESSIO_OK ||
      (err = sessio_config_set_cookie(cfg, "sid", SESSIO_SECURE_NEVER,
                                      SESSIO_SAMESITE_LAX, NULL)) !=
          SESSIO_OK ||
      (err = sessio_manager_new(cfg, &e->m)) != SESSIO_OK)
    goto fail_mgr;
  sessio_config_free(cfg);
  return SESSIO_OK;
fail_mgr:
  sessio_config_free(cfg);
fail_cfg:
  sessio_store_close(e->st);
fail_store:
  if (prog)
    fprintf(stderr, "%s: cannot open %s: %s\n", prog, url,
            sessio_strerror(err));
  return err;
}

static inline void bench_env_close(bench_env *e) {
  sessio_manager_free(e->m);
  sessio_store_close(e->st);
}

/* Copies "sid=ID" of the Set-Cookie of committed session 's' into 'hdr' (the
 * Cookie header a browser sends back). Returns 0, -1 when there is no
 * Set-Cookie, or -2 when it does not fit in 'cap' bytes. */
static inline int bench_sid_header(const sessio *s, char *hdr, size_t cap) {
  const char *sc = sessio_cookie_header(s);
  size_t n = sc ? strcspn(sc, ";") : 0;
  if (n == 0 || memchr(sc, '=', n) == NULL) return -1;
  if (n + 1 > cap) return -2;
  memcpy(hdr, sc, n);
  hdr[n] = '\0';
  return 0;
}

/* Creates a session holding a small cart (cart.S1 = 2, and cart.S2 = 1 when
 * 'cart_s2') and prefs, committed at 'now'; writes "sid=ID" into 'hdr'. On
 * failure returns -1 with '*err' the cause (SESSIO_OK: no usable
 * Set-Cookie; SESSIO_ENOBUFS: it does not fit in 'cap'). */
static inline int bench_make_session(bench_env *e, int64_t now, int cart_s2,
                                     char *hdr, size_t cap, sessio_err *err) {
  sessio *s = NULL;
  int r;
  if ((*err = sessio_begin(e->m, NULL, 0, 0, now, &s)) != SESSIO_OK) return -1;
  if ((*err = sessio_incr(s, "cart.S1", 2, NULL)) != SESSIO_OK ||
      (cart_s2 && (*err = sessio_incr(s, "cart.S2", 1, NULL)) != SESSIO_OK) ||
      (*err = sessio_set_str(s, "prefs.theme", "dark")) != SESSIO_OK ||
      (*err = sessio_set_str(s, "prefs.lang", "en")) != SESSIO_OK ||
      (*err = sessio_commit(s, now)) != SESSIO_OK)
    goto fail_s;
  if ((r = bench_sid_header(s, hdr, cap)) != 0) {
    *err = r == -2 ? SESSIO_ENOBUFS : SESSIO_OK;
    goto fail_s;
  }
  sessio_free(s);
  return 0;
fail_s:
  sessio_free(s);
  return -1;
}

/* ---- reports ----------------------------------------------------------- */

/* One line: 'head' (the store's label), then " begin+set+commit", the rate,
 * p50 and p99 of the 'total' latencies in 'lat_ns' (sorted here), and the
 * CPU per commit. */
static inline void bench_print_commits(const char *head, int threads,
                                       double rate, double *lat_ns, long total,
                                       double cpu_ns, long errors) {
  qsort(lat_ns, (size_t)total, sizeof(double), bench_cmp_double);
  printf("%s begin+set+commit %d thread%s %9.0f commits/s  p50 %7.1f us"
         "  p99 %7.1f us  cpu %5.1f us/commit  (n=%ld, errors=%ld)\n",
         head, threads, threads > 1 ? "s" : " ", rate, lat_ns[total / 2] / 1e3,
         lat_ns[(long)((double)total * 0.99)] / 1e3,
         cpu_ns / 1e3 / (double)total, total, errors);
}

/* ---- gc ---------------------------------------------------------------- */

/* Saves 'n' records of 200 B that expire at 'dead_at', then 'live' that
 * expire at 'live_at', under keys that depend only on their index. */
static inline sessio_err bench_gc_fill(sessio_store *st, int64_t now, long n,
                                       long live, int64_t dead_at,
                                       int64_t live_at) {
  static const char blob[200] = "x";
  for (long i = 0; i < n + live; i++) {
    sessio_key k;
    uint64_t x = (uint64_t)i * 0x9E3779B97F4A7C15ULL + 77, v;
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
    r.expires_at = i < n ? dead_at : live_at;
    sessio_err err = sessio__store_save(st, &k, &r, 0, now, &v);
    if (err != SESSIO_OK) return err;
  }
  return SESSIO_OK;
}

/* Full gc pass at 'now', 1000 records of work per call: adds to '*removed'
 * and '*calls', sets '*ns' to the wall time. Stops at the first error. */
static inline sessio_err bench_gc_run(sessio_store *st, int64_t now,
                                      size_t *removed, long *calls,
                                      double *ns) {
  sessio_err err = SESSIO_OK;
  int done = 0;
  double t0 = bench_mono_ns();
  while (!done) {
    size_t r = 0;
    if ((err = sessio_store_gc(st, now, 1000, &r, &done)) != SESSIO_OK) break;
    *removed += r;
    (*calls)++;
  }
  *ns = bench_mono_ns() - t0;
  return err;
}

/* Opens the store at 'url', fills it with 'n' dead and 'n / 4' live records
 * (bench_gc_fill, at 'now'), and times a full gc at 'gc_at' (bench_gc_run)
 * into '*g'. On failure returns the error with '*what' the step that failed:
 * "gc store open" or "gc fill" (then '*st' is NULL: nothing stays open), or
 * "gc" ('*g' holds what was done). Otherwise the caller owns '*st'. */
typedef struct bench_gc_result {
  long live;      /* live records saved besides the 'n' dead ones */
  size_t removed; /* records the gc calls removed */
  long calls;     /* gc calls made */
  double ns;      /* wall time of the gc calls */
} bench_gc_result;

static inline sessio_err bench_gc_measure(const char *url, int64_t now, long n,
                                          int64_t dead_at, int64_t live_at,
                                          int64_t gc_at, sessio_store **st,
                                          bench_gc_result *g,
                                          const char **what) {
  sessio_err err;
  memset(g, 0, sizeof *g);
  g->live = n / 4;
  *st = NULL;
  *what = "gc store open";
  if ((err = sessio_store_open(url, st)) != SESSIO_OK) {
    *st = NULL;
    return err;
  }
  *what = "gc fill";
  if ((err = bench_gc_fill(*st, now, n, g->live, dead_at, live_at)) !=
      SESSIO_OK) {
    sessio_store_close(*st);
    *st = NULL;
    return err;
  }
  *what = "gc";
  return bench_gc_run(*st, gc_at, &g->removed, &g->calls, &g->ns);
}

/* ---- a temp folder ----------------------------------------------------- */

/* Makes "$TMPDIR/NAME-XXXXXX" (or under /tmp) into 'buf'; 0 or -1. */
static inline int bench_tmpdir_make(char *buf, size_t cap, const char *name) {
  const char *t = getenv("TMPDIR");
  snprintf(buf, cap, "%s/%s-XXXXXX", t && *t ? t : "/tmp", name);
  return mkdtemp(buf) ? 0 : -1;
}

/* Removing a folder tree needs nftw: only where the includer asked for the
 * X/Open API (#define _XOPEN_SOURCE 700 before any #include). */
#if defined(_XOPEN_SOURCE) && _XOPEN_SOURCE >= 500
#include <ftw.h>

static inline int bench__rm_entry(const char *path, const struct stat *sb,
                                  int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

/* Removes 'path' and all below it (symlinks are not followed). */
static inline void bench_rm_tree(const char *path) {
  nftw(path, bench__rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}
#endif

#endif
