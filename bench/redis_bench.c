/*
 * redis_bench.c — the benchmark of the redis:// store (not a timed test):
 * commits/s and p50/p99 latency of begin+set+commit through the public API
 * with 1 and 2 threads, for new sessions (one round trip: the CAS create)
 * and for existing ones (two: load, then CAS save), gc throughput, and, in
 * the same run against the same server, `redis-benchmark -t set -P 1` at
 * the same concurrency for comparison.
 *
 *   sessio_redis_bench [--quick] [-n N] redis://HOST:PORT
 *   sessio_redis_bench [--quick] [-n N] redis-cluster://HOST:PORT,...
 * (on a cluster: commits and gc only, no redis-benchmark comparison)
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench_util.h"
#include "sessio.h"
#include "sessio/store.h"

#define NOW_MS INT64_C(1764480000000) /* fixed, so runs are comparable */
#define HOUR INT64_C(3600000)

static int failures;
static int verbose = 1; /* print each measurement (off inside rounds) */

static void fail(const char *what, sessio_err err) {
  fprintf(stderr, "redis_bench: %s failed: %s\n", what,
          err ? sessio_strerror(err) : "wrong result");
  failures++;
}

typedef struct worker {
  bench_env *e;
  long n;
  int existing; /* 1: one session of its own, loaded each time */
  double *lat_ns;
  long errors;
  char hdr[256];
} worker;

/* begin + set + commit, on a new session ("sid=ID" of it into 'hdr'). */
static sessio_err new_session(bench_env *e, long i, char *hdr, size_t cap) {
  sessio *s = NULL;
  sessio_err err = sessio_begin(e->m, NULL, 0, 0, NOW_MS, &s);
  if (err == SESSIO_OK) err = sessio_set_int(s, "cart.S1", i + 1);
  if (err == SESSIO_OK) err = sessio_commit(s, NOW_MS);
  if (err == SESSIO_OK && hdr && bench_sid_header(s, hdr, cap) != 0)
    err = SESSIO_EIO;
  sessio_free(s);
  return err;
}

static void *worker_main(void *arg) {
  worker *w = arg;
  const char *hv[1] = {w->hdr};
  for (long i = 0; i < w->n; i++) {
    double t0 = bench_mono_ns();
    sessio_err err;
    if (w->existing) {
      sessio *s = NULL;
      err = sessio_begin(w->e->m, hv, 1, 0, NOW_MS, &s);
      if (err == SESSIO_OK) err = sessio_set_int(s, "cart.S1", i + 1);
      if (err == SESSIO_OK) err = sessio_commit(s, NOW_MS);
      sessio_free(s);
    } else {
      err = new_session(w->e, i, NULL, 0);
    }
    w->lat_ns[i] = bench_mono_ns() - t0;
    if (err != SESSIO_OK && w->errors++ == 0) fail("begin+set+commit", err);
  }
  return NULL;
}

/* Returns commits/s. */
static double bench_commits(bench_env *e, int existing, int threads, long n) {
  worker w[2];
  double rate = 0;
  for (int t = 0; t < threads; t++) {
    memset(&w[t], 0, sizeof w[t]);
    w[t].e = e;
    w[t].n = n;
    w[t].existing = existing;
    w[t].lat_ns = malloc((size_t)n * sizeof(double));
    if (w[t].lat_ns == NULL ||
        (existing && new_session(e, 0, w[t].hdr, sizeof w[t].hdr) != 0)) {
      fail("setup", SESSIO_ENOMEM);
      for (int u = 0; u <= t; u++) free(w[u].lat_ns);
      return 0;
    }
  }
  double wall, cpu;
  bench_run_threads(threads, worker_main, w, sizeof w[0], &wall, &cpu);
  long total = n * threads, errors = 0;
  double *all = malloc((size_t)total * sizeof(double));
  if (all != NULL) {
    for (int t = 0; t < threads; t++) {
      memcpy(all + (long)t * n, w[t].lat_ns, (size_t)n * sizeof(double));
      errors += w[t].errors;
    }
    rate = (double)total * 1e9 / wall;
    if (verbose) {
      char head[32];
      snprintf(head, sizeof head, "redis %-9s", existing ? "existing" : "new");
      bench_print_commits(head, threads, rate, all, total, cpu, errors);
    }
    fflush(stdout);
    free(all);
  }
  for (int t = 0; t < threads; t++) free(w[t].lat_ns);
  return errors ? 0 : rate;
}

/* `redis-benchmark -t set -c C -n N -P 1` on the same server: SET/s. */
static double redis_benchmark(const char *host, int port, int clients, long n) {
  char cmd[512], line[512];
  double rate = 0;
  snprintf(cmd, sizeof cmd,
           "redis-benchmark -h %s -p %d -t set -c %d -n %ld -P 1 -q "
           "2>/dev/null",
           host, port, clients, n);
  double c0 = bench_cpu_ns(RUSAGE_CHILDREN);
  FILE *p = popen(cmd, "r");
  if (p == NULL) return 0;
  while (fgets(line, sizeof line, p) != NULL) {
    /* Progress "SET: rps=..." lines end in \r; the result is
     * "SET: 41152.26 requests per second, p50=0.023 msec". */
    for (char *seg = strtok(line, "\r\n"); seg; seg = strtok(NULL, "\r\n")) {
      char *at = strstr(seg, "SET: ");
      if (at && strstr(seg, "requests per second")) rate = strtod(at + 5, NULL);
    }
  }
  pclose(p);
  double cpu = bench_cpu_ns(RUSAGE_CHILDREN) - c0;
  if (verbose)
    printf("redis-benchmark -h %s -p %d -t set -c %d -n %ld -P 1: "
           "%9.0f SET/s  cpu %5.1f us/SET (redis-benchmark itself)\n",
           host, port, clients, n, rate, cpu / 1e3 / (double)n);
  fflush(stdout);
  return rate;
}

static void bench_gc(const char *url, long n) {
  sessio_store *st;
  bench_gc_result g;
  const char *what;
  /* Dead at NOW+1h, gc at NOW+2h: Redis's own expiry (the remaining
   * life plus the grace, in real time) does not drop them first. */
  sessio_err err = bench_gc_measure(url, NOW_MS, n, NOW_MS + HOUR,
                                    NOW_MS + 3 * HOUR, NOW_MS + 2 * HOUR, &st,
                                    &g, &what);
  if (err != SESSIO_OK) fail(what, err);
  if (st == NULL) return;
  if ((long)g.removed != n) fail("gc removed count", SESSIO_OK);
  printf("redis gc (max_work 1000)   %9.0f removed/s  %7.1f ms/call"
         "  (%zu of %ld dead, %ld live, %ld calls)\n",
         (double)g.removed * 1e9 / g.ns, g.ns / 1e6 / (double)g.calls,
         g.removed, n, g.live, g.calls);
  /* Remove the live ones too, so reruns start clean. */
  (void)sessio_store_gc(st, NOW_MS + 4 * HOUR, (size_t)(n + g.live) * 2, NULL,
                        NULL);
  sessio_store_close(st);
}

int main(int argc, char **argv) {
  long n = 20000;
  int quick = 0;
  const char *base = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0)
      quick = 1;
    else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
      n = atol(argv[++i]);
    else if (argv[i][0] != '-' && base == NULL)
      base = argv[i];
    else
      base = NULL, i = argc;
  }
  if (base == NULL) base = getenv("SESSIO_BENCH_REDIS_URL");
  char host[256];
  int port = 0, cluster = 0;
  if (base != NULL &&
      sscanf(base, "redis-cluster://%255[^:/?,]:%d", host, &port) == 2)
    cluster = 1; /* commits and gc only: no redis-benchmark comparison */
  else if (base == NULL ||
           sscanf(base, "redis://%255[^:/?]:%d", host, &port) != 2) {
    fprintf(stderr,
            "usage: %s [--quick] [-n N] redis://HOST:PORT | "
            "redis-cluster://HOST:PORT,...\n",
            argv[0]);
    return 2;
  }
  if (quick) n = n / 10 > 0 ? n / 10 : 1;
  char url[600];
  char gc_url[600];
  snprintf(url, sizeof url, "%s%sprefix=bench", base,
           strchr(base, '?') ? "&" : "?");
  snprintf(gc_url, sizeof gc_url, "%s%sprefix=benchgc", base,
           strchr(base, '?') ? "&" : "?");
  printf("# redis_bench: %s, n=%ld per thread, 'now' fixed\n", url, n);
  bench_env e;
  if (bench_env_open(&e, url, "redis_bench") != SESSIO_OK) return 1;
  for (int threads = 1; threads <= 2; threads++) {
    (void)bench_commits(&e, 0, threads, n);
    (void)bench_commits(&e, 1, threads, n);
    if (!cluster) (void)redis_benchmark(host, port, threads, n * threads);
  }
  if (cluster) {
    bench_env_close(&e);
    bench_gc(gc_url, n);
    return failures ? 1 : 0;
  }
  /* On a shared machine the rates drift from second to second, so the
   * comparison is made in ROUNDS short rounds, each running the three
   * back to back, and the median of the per-round ratios is reported. */
  enum { ROUNDS = 7 };
  long rn = n / ROUNDS > 100 ? n / ROUNDS : 100;
  verbose = 0;
  for (int threads = 1; threads <= 2; threads++) {
    double rf[ROUNDS], re[ROUNDS], rs[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
      double fresh = bench_commits(&e, 0, threads, rn);
      double existing = bench_commits(&e, 1, threads, rn);
      double set = redis_benchmark(host, port, threads, rn * threads);
      rs[r] = set;
      rf[r] = set > 0 ? fresh / set : 0;
      re[r] = set > 0 ? existing / set : 0;
    }
    qsort(rf, ROUNDS, sizeof rf[0], bench_cmp_double);
    qsort(re, ROUNDS, sizeof re[0], bench_cmp_double);
    qsort(rs, ROUNDS, sizeof rs[0], bench_cmp_double);
    printf("ratio at concurrency %d (median of %d rounds of %ld, SET median "
           "%.0f/s): new %.0f%%, existing %.0f%% of redis-benchmark SET "
           "(target >= 70%%)\n",
           threads, ROUNDS, rn * threads, rs[ROUNDS / 2], 100 * rf[ROUNDS / 2],
           100 * re[ROUNDS / 2]);
    fflush(stdout);
  }
  verbose = 1;
  bench_env_close(&e);
  bench_gc(gc_url, n);
  /* Redis's own CPU per command, which does not depend on the load. */
  char cmd[400], line[512];
  snprintf(cmd, sizeof cmd, "redis-cli -h %s -p %d info commandstats", host,
           port);
  FILE *p = popen(cmd, "r");
  while (p && fgets(line, sizeof line, p) != NULL) {
    if (strncmp(line, "cmdstat_set:", 12) == 0 ||
        strncmp(line, "cmdstat_get:", 12) == 0 ||
        strncmp(line, "cmdstat_evalsha:", 16) == 0) {
      char *u = strstr(line, "usec_per_call=");
      printf("redis server %.*s %.*s us per call\n",
             (int)strcspn(line + 8, ":"), line + 8,
             u ? (int)strcspn(u + 14, ",") : 1, u ? u + 14 : "?");
    }
  }
  if (p) pclose(p);
  return failures ? 1 : 0;
}
