/*
 * store_bench.c — the benchmark of the durable stores (not a timed test):
 * commits/s and latency percentiles of begin+set+commit through the public
 * API (a sessio_manager on each store URL), with 1 and 2 threads each on its
 * own session, and gc throughput (expired records removed per second).
 *
 *   sessio_store_bench [--quick] [-n N] [URL ...]
 *
 * Without URLs it runs file:{tmp}/f and sqlite:{tmp}/s.db (the defaults:
 * no fsync, sync=normal), then the durable settings with fewer operations.
 * "{tmp}" is a fresh folder under $TMPDIR (or /tmp), removed at the end.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sessio.h"
#include "sessio/store.h"

#define NOW_MS INT64_C(1764480000000) /* fixed, so runs are comparable */
#define HOUR INT64_C(3600000)

static int failures;
static char tmpdir[256];

static double mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void fail(const char *what, sessio_err err) {
  fprintf(stderr, "store_bench: %s failed: %s\n", what,
          err ? sessio_strerror(err) : "wrong result");
  failures++;
}

/* User + system CPU time of the whole process, in ns. */
static double cpu_ns(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ((double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec) * 1e9 +
         ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) * 1e3;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* ---- a manager on a store ---------------------------------------------- */

typedef struct env {
  sessio_store *st;
  sessio_manager *m;
} env;

static int env_open(env *e, const char *url) {
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
  return 0;
fail_mgr:
  sessio_config_free(cfg);
fail_cfg:
  sessio_store_close(e->st);
fail_store:
  fprintf(stderr, "store_bench: cannot open %s: %s\n", url,
          sessio_strerror(err));
  failures++;
  return -1;
}

static void env_close(env *e) {
  sessio_manager_free(e->m);
  sessio_store_close(e->st);
}

/* A new session with a small cart and prefs; "sid=ID" into 'hdr'. */
static int make_session(env *e, char *hdr, size_t cap) {
  sessio *s = NULL;
  sessio_err err;
  if ((err = sessio_begin(e->m, NULL, 0, 0, NOW_MS, &s)) != SESSIO_OK)
    goto fail;
  if ((err = sessio_incr(s, "cart.S1", 2, NULL)) != SESSIO_OK ||
      (err = sessio_set_str(s, "prefs.theme", "dark")) != SESSIO_OK ||
      (err = sessio_set_str(s, "prefs.lang", "en")) != SESSIO_OK ||
      (err = sessio_commit(s, NOW_MS)) != SESSIO_OK)
    goto fail_s;
  const char *sc = sessio_set_cookie(s);
  size_t n = sc ? strcspn(sc, ";") : 0;
  if (n == 0 || n + 1 > cap) {
    err = SESSIO_OK;
    goto fail_s;
  }
  memcpy(hdr, sc, n);
  hdr[n] = '\0';
  sessio_free(s);
  return 0;
fail_s:
  sessio_free(s);
fail:
  fail("make_session", err);
  return -1;
}

/* ---- begin + set + commit ---------------------------------------------- */

typedef struct worker {
  env *e;
  long n;
  double *lat_ns; /* n latencies */
  long errors;
  char hdr[256];
} worker;

static void *commit_worker(void *arg) {
  worker *w = arg;
  const char *hv[1] = {w->hdr};
  for (long i = 0; i < w->n; i++) {
    double t0 = mono_ns();
    sessio *s = NULL;
    sessio_err err = sessio_begin(w->e->m, hv, 1, 0, NOW_MS, &s);
    if (err == SESSIO_OK) err = sessio_set_int(s, "cart.S1", i + 1);
    if (err == SESSIO_OK) err = sessio_commit(s, NOW_MS);
    sessio_free(s);
    w->lat_ns[i] = mono_ns() - t0;
    if (err != SESSIO_OK && w->errors++ == 0) fail("begin+set+commit", err);
  }
  return NULL;
}

static void bench_commits(env *e, const char *label, int threads, long n) {
  worker w[2];
  pthread_t th[2];
  if (threads > 2) threads = 2;
  for (int t = 0; t < threads; t++) {
    memset(&w[t], 0, sizeof w[t]);
    w[t].e = e;
    w[t].n = n;
    w[t].lat_ns = malloc((size_t)n * sizeof(double));
    if (w[t].lat_ns == NULL || make_session(e, w[t].hdr, sizeof w[t].hdr)) {
      fail("setup", SESSIO_ENOMEM);
      for (int u = 0; u <= t; u++) free(w[u].lat_ns);
      return;
    }
  }
  double t0 = mono_ns(), c0 = cpu_ns();
  for (int t = 0; t < threads; t++)
    pthread_create(&th[t], NULL, commit_worker, &w[t]);
  for (int t = 0; t < threads; t++) pthread_join(th[t], NULL);
  double wall = mono_ns() - t0, cpu = cpu_ns() - c0;
  /* All latencies together for the percentiles. */
  long total = n * threads, errors = 0;
  double *all = malloc((size_t)total * sizeof(double));
  if (all == NULL) {
    fail("percentiles", SESSIO_ENOMEM);
    goto done;
  }
  for (int t = 0; t < threads; t++) {
    memcpy(all + (long)t * n, w[t].lat_ns, (size_t)n * sizeof(double));
    errors += w[t].errors;
  }
  qsort(all, (size_t)total, sizeof(double), cmp_double);
  /* CPU per commit (this process, all threads) does not depend on what
   * else runs on the machine; commits/s does. */
  printf("%-24s begin+set+commit %d thread%s %9.0f commits/s  p50 %7.1f us"
         "  p99 %7.1f us  cpu %5.1f us/commit  (n=%ld, errors=%ld)\n",
         label, threads, threads > 1 ? "s" : " ", (double)total * 1e9 / wall,
         all[total / 2] / 1e3, all[(long)((double)total * 0.99)] / 1e3,
         cpu / 1e3 / (double)total, total, errors);
  fflush(stdout);
  /* Each thread's last commit set cart.S1 to n. */
  for (int t = 0; t < threads; t++) {
    const char *hv[1] = {w[t].hdr};
    sessio *s = NULL;
    int64_t v = 0;
    if (sessio_begin(e->m, hv, 1, 0, NOW_MS, &s) != SESSIO_OK ||
        !sessio_get_int(s, "cart.S1", &v) || v != n)
      fail("final value check", SESSIO_OK);
    sessio_free(s);
  }
  free(all);
done:
  for (int t = 0; t < threads; t++) free(w[t].lat_ns);
}

/* ---- gc ---------------------------------------------------------------- */

/* Fills a fresh store with 'n' records dead at NOW+1 and 'n / 4' live ones,
 * then times full gc passes of max_work 1000 per call. */
static void bench_gc(const char *url, const char *label, long n) {
  sessio_store *st = NULL;
  sessio_err err = sessio_store_open(url, &st);
  if (err != SESSIO_OK) {
    fail("gc store open", err);
    return;
  }
  static const char blob[200] = "x";
  long live = n / 4;
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
    r.touched_at = NOW_MS;
    r.expires_at = i < n ? NOW_MS + 1 : NOW_MS + 2 * HOUR;
    if ((err = sessio_store_save(st, &k, &r, 0, NOW_MS, &v)) != SESSIO_OK) {
      fail("gc fill", err);
      sessio_store_close(st);
      return;
    }
  }
  size_t total = 0;
  long calls = 0;
  int done = 0;
  double t0 = mono_ns();
  while (!done) {
    size_t removed = 0;
    if ((err = sessio_store_gc(st, NOW_MS + HOUR, 1000, &removed, &done)) !=
        SESSIO_OK) {
      fail("gc", err);
      break;
    }
    total += removed;
    calls++;
  }
  double t = mono_ns() - t0;
  if ((long)total != n) fail("gc removed count", SESSIO_OK);
  printf("%-24s gc (max_work 1000)      %9.0f removed/s  %7.1f ms/call"
         "         (%zu of %ld dead, %ld live, %ld calls)\n",
         label, (double)total * 1e9 / t, t / 1e6 / (double)calls, total, n,
         live, calls);
  fflush(stdout);
  sessio_store_close(st);
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

/* Runs everything on one store URL (with "{tmp}" resolved per part). */
static void bench_url(const char *tmpl, long n) {
  char url[1024], label[64];
  static int seq;
  snprintf(label, sizeof label, "%s", tmpl);
  char *q = strstr(label, "{tmp}");
  if (q) { /* "file:{tmp}/f?fsync=1" -> "file?fsync=1" */
    char *end = strpbrk(q, "?");
    memmove(q - 1, end ? end : q + strlen(q), strlen(end ? end : q) + 1);
  }
  /* A fresh path per run: "{tmp}" -> "{tmp}/<seq>". */
  char sub[300];
  snprintf(sub, sizeof sub, "%s/%d", tmpdir, seq++);
  mkdir(sub, 0700);
  const char *p = strstr(tmpl, "{tmp}");
  if (p)
    snprintf(url, sizeof url, "%.*s%s%s", (int)(p - tmpl), tmpl, sub, p + 5);
  else
    snprintf(url, sizeof url, "%s", tmpl);
  env e;
  if (env_open(&e, url) != 0) return;
  bench_commits(&e, label, 1, n);
  bench_commits(&e, label, 2, n);
  env_close(&e);
  snprintf(sub, sizeof sub, "%s/%d", tmpdir, seq++);
  mkdir(sub, 0700);
  if (p)
    snprintf(url, sizeof url, "%.*s%s%s", (int)(p - tmpl), tmpl, sub, p + 5);
  bench_gc(url, label, n);
}

int main(int argc, char **argv) {
  long n = 20000;
  int quick = 0, nurls = 0;
  const char *urls[32];
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0) quick = 1;
    else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) n = atol(argv[++i]);
    else if (argv[i][0] == '-') {
      fprintf(stderr, "usage: %s [--quick] [-n N] [URL ...]\n", argv[0]);
      return 2;
    } else if (nurls < 32) urls[nurls++] = argv[i];
  }
  if (quick) n = n / 10 > 0 ? n / 10 : 1;
  const char *t = getenv("TMPDIR");
  snprintf(tmpdir, sizeof tmpdir, "%s/sessio-store-bench-XXXXXX",
           t && *t ? t : "/tmp");
  if (mkdtemp(tmpdir) == NULL) {
    perror("mkdtemp");
    return 2;
  }
  printf("# store_bench: n=%ld per thread, each thread on its own session;"
         " 'now' fixed\n", n);
  if (nurls > 0) {
    for (int i = 0; i < nurls; i++) bench_url(urls[i], n);
  } else {
    bench_url("file:{tmp}/f", n);
    bench_url("sqlite:{tmp}/s.db", n);
    /* The durable settings wait for the disk on every commit. */
    long nd = n / 20 > 0 ? n / 20 : 1;
    bench_url("file:{tmp}/f?fsync=1", nd);
    bench_url("sqlite:{tmp}/s.db?sync=full", nd);
  }
  nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  return failures ? 1 : 0;
}
