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
#define _XOPEN_SOURCE 700 /* nftw, for bench_rm_tree() */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_util.h"
#include "sessio.h"
#include "sessio/store.h"

#define NOW_MS INT64_C(1764480000000) /* fixed, so runs are comparable */
#define HOUR INT64_C(3600000)

static int failures;
static char tmpdir[256];

static void fail(const char *what, sessio_err err) {
  fprintf(stderr, "store_bench: %s failed: %s\n", what,
          err ? sessio_strerror(err) : "wrong result");
  failures++;
}

/* A new session with a small cart and prefs; "sid=ID" into 'hdr'. */
static int make_session(bench_env *e, char *hdr, size_t cap) {
  sessio_err err;
  if (bench_make_session(e, NOW_MS, 0, hdr, cap, &err) == 0) return 0;
  fail("make_session", err);
  return -1;
}

/* ---- begin + set + commit ---------------------------------------------- */

typedef struct worker {
  bench_env *e;
  long n;
  double *lat_ns; /* n latencies */
  long errors;
  char hdr[256];
} worker;

static void *commit_worker(void *arg) {
  worker *w = arg;
  const char *hv[1] = {w->hdr};
  for (long i = 0; i < w->n; i++) {
    /* 'now' moves 1 ms per request, as on a live server: the idle expiry
     * slides at every commit. */
    int64_t now = NOW_MS + i;
    double t0 = bench_mono_ns();
    sessio *s = NULL;
    sessio_err err = sessio_begin(w->e->m, hv, 1, 0, now, &s);
    if (err == SESSIO_OK) err = sessio_set_int(s, "cart.S1", i + 1);
    if (err == SESSIO_OK) err = sessio_commit(s, now);
    sessio_free(s);
    w->lat_ns[i] = bench_mono_ns() - t0;
    if (err != SESSIO_OK && w->errors++ == 0) fail("begin+set+commit", err);
  }
  return NULL;
}

static void bench_commits(bench_env *e, const char *label, int threads,
                          long n) {
  worker w[2];
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
  double wall, cpu;
  bench_run_threads(threads, commit_worker, w, sizeof w[0], &wall, &cpu);
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
  /* CPU per commit (this process, all threads) does not depend on what
   * else runs on the machine; commits/s does. */
  char head[64];
  snprintf(head, sizeof head, "%-24s", label);
  bench_print_commits(head, threads, (double)total * 1e9 / wall, all, total,
                      cpu, errors);
  fflush(stdout);
  /* Each thread's last commit set cart.S1 to n. */
  for (int t = 0; t < threads; t++) {
    const char *hv[1] = {w[t].hdr};
    sessio *s = NULL;
    int64_t v = 0;
    if (sessio_begin(e->m, hv, 1, 0, NOW_MS + n, &s) != SESSIO_OK ||
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
  sessio_store *st;
  bench_gc_result g;
  const char *what;
  sessio_err err = bench_gc_measure(url, NOW_MS, n, NOW_MS + 1,
                                    NOW_MS + 2 * HOUR, NOW_MS + HOUR, &st, &g,
                                    &what);
  if (err != SESSIO_OK) fail(what, err);
  if (st == NULL) return;
  if ((long)g.removed != n) fail("gc removed count", SESSIO_OK);
  printf("%-24s gc (max_work 1000)      %9.0f removed/s  %7.1f ms/call"
         "         (%zu of %ld dead, %ld live, %ld calls)\n",
         label, (double)g.removed * 1e9 / g.ns, g.ns / 1e6 / (double)g.calls,
         g.removed, n, g.live, g.calls);
  fflush(stdout);
  sessio_store_close(st);
}

/* Runs everything on one store URL (with "{tmp}" resolved per part). */
static void bench_url(const char *tmpl, long n) {
  char url[1024], label[64];
  static int seq;
  snprintf(label, sizeof label, "%s", tmpl);
  char *q = strstr(label, "{tmp}");
  if (q) { /* "file:{tmp}/f?sync=full" -> "file?sync=full" */
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
  bench_env e;
  if (bench_env_open(&e, url, "store_bench") != SESSIO_OK) {
    failures++;
    return;
  }
  bench_commits(&e, label, 1, n);
  bench_commits(&e, label, 2, n);
  bench_env_close(&e);
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
    if (strcmp(argv[i], "--quick") == 0)
      quick = 1;
    else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
      n = atol(argv[++i]);
    else if (argv[i][0] == '-') {
      fprintf(stderr, "usage: %s [--quick] [-n N] [URL ...]\n", argv[0]);
      return 2;
    } else if (nurls < 32)
      urls[nurls++] = argv[i];
  }
  if (quick) n = n / 10 > 0 ? n / 10 : 1;
  if (bench_tmpdir_make(tmpdir, sizeof tmpdir, "sessio-store-bench") != 0) {
    perror("mkdtemp");
    return 2;
  }
  printf("# store_bench: n=%ld per thread, each thread on its own session;"
         " 'now' +1 ms per request\n",
         n);
  if (nurls > 0) {
    for (int i = 0; i < nurls; i++) bench_url(urls[i], n);
  } else {
    bench_url("file:{tmp}/f", n);
    bench_url("sqlite:{tmp}/s.db", n);
    /* The durable settings wait for the disk on every commit. */
    long nd = n / 20 > 0 ? n / 20 : 1;
    bench_url("file:{tmp}/f?sync=full", nd);
    bench_url("sqlite:{tmp}/s.db?sync=full", nd);
  }
  bench_rm_tree(tmpdir);
  return failures ? 1 : 0;
}
