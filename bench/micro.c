/*
 * micro.c — the micro-benchmark of libsessio (not a timed test): ns/op and
 * ops/s of ID generation, cookie parsing, begin+get, begin+set+commit and
 * concurrent commits on one session, and the memory one stored session costs
 * in the memory store. Public API only (sessio.h); 'now' is fixed so that runs
 * are deterministic. One line per figure; exit status 1 if a result is wrong.
 *
 *   sessio_micro [--quick] [--sessions N]
 *   sessio_micro --sizes B[,B...] [--quick]   only the one-key change against
 *                                             the session's size (below)
 */
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "sessio.h"

#define NOW_MS INT64_C(1764480000000) /* 2025-11-30 05:20 UTC, fixed */
#define DATA_BYTES 100                /* key + value bytes per stored session */

static int failures;

/* Wall time and the process's CPU time (user + system, all threads) are read
 * together: on a shared, oversubscribed machine the wall figure includes the
 * time other programs held the CPU, the CPU figure does not. */
static double cpu0_ns, cpu1_ns;
static double mono_ns(void) { /* starts a measure */
  cpu0_ns = bench_clock_ns(CLOCK_PROCESS_CPUTIME_ID);
  return bench_mono_ns();
}
static double wall_since(double t0) { /* ends it */
  double t = bench_mono_ns() - t0;
  cpu1_ns = bench_clock_ns(CLOCK_PROCESS_CPUTIME_ID);
  return t;
}

/* 'ns_total' is the wall time from wall_since(); the CPU time is taken over
 * the same interval. */
static void report(const char *name, double ns_total, long n) {
  double cpu = (cpu1_ns - cpu0_ns) / (double)n;
  double per = ns_total / (double)n;
  printf("%-34s %10.1f ns/op %12.0f ops/s  cpu %8.1f ns/op  (n=%ld)\n", name,
         per, 1e9 / per, cpu, n);
  fflush(stdout);
}

static void fail(const char *what, int err) {
  fprintf(stderr, "micro: %s failed: %s\n", what,
          err ? sessio_strerror((sessio_err)err) : "wrong result");
  failures++;
}

/* ---- a manager on a fresh memory store --------------------------------- */

static int env_open(bench_env *e, const char *url) {
  sessio_err err = bench_env_open(e, url, NULL);
  if (err == SESSIO_OK) return 0;
  fail(url, err);
  return -1;
}

/* Creates a session holding a small cart and prefs; writes "sid=ID" into
 * 'hdr' (the Cookie header a browser would send back). */
static int make_session(bench_env *e, char *hdr, size_t cap) {
  sessio_err err;
  if (bench_make_session(e, NOW_MS, 1, hdr, cap, &err) == 0) return 0;
  fail("make_session", err);
  return -1;
}

/* ---- 1. ID generation -------------------------------------------------- */

static void bench_id(long n) {
  char id[SESSIO_ID_LEN + 1];
  unsigned sink = 0;
  double t0 = mono_ns();
  for (long i = 0; i < n; i++) {
    sessio_err err = sessio_id_generate(id);
    if (err != SESSIO_OK) {
      fail("sessio_id_generate", err);
      return;
    }
    sink += (unsigned char)id[i % SESSIO_ID_LEN];
  }
  double t = wall_since(t0);
  if (!sessio_id_valid(id, strlen(id)) || sink == 0) fail("id valid", 0);
  report("id_generate", t, n);
}

/* ---- 2. cookie parse --------------------------------------------------- */

typedef struct find_ctx {
  const char *val;
  size_t len;
  int pairs;
} find_ctx;

static int find_sid(void *ud, const char *name, size_t nl, const char *val,
                    size_t vl) {
  find_ctx *f = ud;
  f->pairs++;
  if (nl == 3 && memcmp(name, "sid", 3) == 0) {
    f->val = val;
    f->len = vl;
  }
  return 0; /* read every pair, as a begin() that checks duplicates does */
}

static void bench_cookie_parse(long n) {
  /* What a browser sends to a shop: analytics, consent, prefs, the session. */
  static const char hdr[] =
      "_ga=GA1.1.1234567890.1764480000; _gid=GA1.1.987654321.1764480000; "
      "consent=\"analytics=1,ads=0\"; theme=dark; lang=en-GB; "
      "sid=Jx3kZ9qW0rT5yU8iO1pA4sD7fG2hJ6kL9zX3cV5bN8m; "
      "_fbp=fb.1.1764480000000.1234567890; recently_viewed=S1%2CS4%2CS7";
  size_t len = strlen(hdr);
  find_ctx f;
  long found = 0;
  double t0 = mono_ns();
  for (long i = 0; i < n; i++) {
    memset(&f, 0, sizeof f);
    sessio_cookie_parse(hdr, len, find_sid, &f);
    found += (f.len == SESSIO_ID_LEN && f.pairs == 8);
  }
  double t = wall_since(t0);
  if (found != n) fail("cookie parse (8 pairs, sid found)", 0);
  report("cookie_parse (8 pairs, 270 B)", t, n);
}

/* ---- 3. begin + get (hit) ---------------------------------------------- */

/* 'n' times begin + get of the session in 'hv', then commit if 'commit';
 * reports under 'name'. -1 when a begin failed (nothing reported). */
static int time_begin_get(bench_env *e, const char *const *hv, long n,
                          int commit, const char *name, const char *check) {
  long hits = 0;
  double t0 = mono_ns();
  for (long i = 0; i < n; i++) {
    sessio *s = NULL;
    int64_t v = 0;
    sessio_err err = sessio_begin(e->m, hv, 1, 0, NOW_MS, &s);
    if (err != SESSIO_OK) {
      fail("sessio_begin", err);
      return -1;
    }
    hits += sessio_get_int(s, "cart.S1", &v) && v == 2;
    if (commit && (err = sessio_commit(s, NOW_MS)) != SESSIO_OK)
      fail("commit", err);
    sessio_free(s);
  }
  double t = wall_since(t0);
  if (hits != n) fail(check, 0);
  report(name, t, n);
  return 0;
}

static void bench_begin_get(bench_env *e, long n) {
  char hdr[256];
  const char *hv[1] = {hdr};
  if (make_session(e, hdr, sizeof hdr)) return;
  if (time_begin_get(e, hv, n, 0, "begin+get (hit)", "begin+get hit")) return;
  /* The same, with the (no-op, throttled) commit a request handler makes. */
  time_begin_get(e, hv, n, 1, "begin+get+commit (unchanged)",
                 "begin+get+commit hit");
}

/* ---- 4. begin + set + commit (existing session, one key changed) ------- */

/* The timed loop alone, not inlined, so that a profiler can count exactly
 * 'n' operations: valgrind --tool=callgrind --toggle-collect=loop_set_commit
 * (docs/PERFORMANCE.md). Returns 0, or -1 after reporting a failure. */
__attribute__((noinline)) static int loop_set_commit(bench_env *e,
                                                     const char *const *hv,
                                                     long n) {
  for (long i = 0; i < n; i++) {
    sessio *s = NULL;
    sessio_err err = sessio_begin(e->m, hv, 1, 0, NOW_MS, &s);
    if (err != SESSIO_OK) {
      fail("sessio_begin", err);
      return -1;
    }
    if ((err = sessio_set_int(s, "cart.S1", i + 1)) != SESSIO_OK ||
        (err = sessio_commit(s, NOW_MS)) != SESSIO_OK) {
      fail("set+commit", err);
      sessio_free(s);
      return -1;
    }
    if (sessio_cookie_header(s) != NULL)
      fail("no Set-Cookie for a known session", 0);
    sessio_free(s);
  }
  return 0;
}

static void bench_begin_set_commit(bench_env *e, long n) {
  char hdr[256];
  const char *hv[1] = {hdr};
  if (make_session(e, hdr, sizeof hdr)) return;
  double t0 = mono_ns();
  if (loop_set_commit(e, hv, n)) return;
  double t = wall_since(t0);
  report("begin+set+commit", t, n);

  /* The cart add of the shop: an increment (merge-safe operation). */
  t0 = mono_ns();
  for (long i = 0; i < n; i++) {
    sessio *s = NULL;
    sessio_err err = sessio_begin(e->m, hv, 1, 0, NOW_MS, &s);
    if (err != SESSIO_OK) {
      fail("sessio_begin", err);
      return;
    }
    if ((err = sessio_incr(s, "cart.S2", 1, NULL)) != SESSIO_OK ||
        (err = sessio_commit(s, NOW_MS)) != SESSIO_OK) {
      fail("incr+commit", err);
      sessio_free(s);
      return;
    }
    sessio_free(s);
  }
  t = wall_since(t0);
  report("begin+incr+commit", t, n);

  /* Check that every change landed: S1 was set to n, S2 was 1 plus n. */
  sessio *s = NULL;
  int64_t v1 = 0, v2 = 0;
  if (sessio_begin(e->m, hv, 1, 0, NOW_MS, &s) != SESSIO_OK) {
    fail("begin (check)", 0);
    return;
  }
  if (!sessio_get_int(s, "cart.S1", &v1) || v1 != n ||
      !sessio_get_int(s, "cart.S2", &v2) || v2 != n + 1) {
    fprintf(stderr,
            "micro: cart.S1=%" PRId64 " (want %ld), cart.S2=%" PRId64
            " (want %ld)\n",
            v1, n, v2, n + 1);
    fail("set/incr results", 0);
  }
  sessio_free(s);
}

/* ---- 4b. one key changed, against the session's size ------------------ */

/* The cost of a one-key change (begin + set of cart.S1 + commit) on a
 * session that holds about 'bytes' bytes of data: the cart and prefs of
 * bench_make_session, plus "pad.N" strings making up the rest. What grows
 * with the size is what a commit does with the whole record: it is loaded
 * (copied out of the store), opened (decrypted), decoded, encoded, sealed
 * again and saved, so each byte of the session is handled about six times
 * per change. One line per size ("size-curve") for scripts/bench_scale.sh. */
static void bench_size(long n, long bytes) {
  bench_env e;
  char hdr[256];
  const char *hv[1] = {hdr};
  sessio *s = NULL;
  sessio_err err;
  /* cart.S1, cart.S2 and two prefs: about 70 bytes of keys and values;
   * each pad key adds 5 */
  long padlen = bytes > 70 + 5 ? bytes - 70 - 5 * (1 + bytes / 8000) : 0;
  char *pad = malloc((size_t)padlen + 1);
  if (pad == NULL) {
    fail("malloc", SESSIO_ENOMEM);
    return;
  }
  for (long i = 0; i < padlen; i++) pad[i] = (char)('a' + i % 26);
  pad[padlen] = '\0';
  if (env_open(&e, "memory:")) goto fail_pad;
  if (make_session(&e, hdr, sizeof hdr)) goto fail_env;
  /* A value is at most 8 KiB (the default limit): pad.0, pad.1, ... */
  if ((err = sessio_begin(e.m, hv, 1, 0, NOW_MS, &s)) == SESSIO_OK)
    for (long off = 0, i = 0; off < padlen && err == SESSIO_OK; i++) {
      char key[32];
      long len = padlen - off > 8000 ? 8000 : padlen - off;
      snprintf(key, sizeof key, "pad.%ld", i);
      err = sessio_set_strn(s, key, pad + off, (size_t)len);
      off += len;
    }
  if (err != SESSIO_OK || (err = sessio_commit(s, NOW_MS)) != SESSIO_OK) {
    fail("size: pad", err);
    sessio_free(s);
    goto fail_env;
  }
  sessio_free(s);
  double t0 = mono_ns();
  if (loop_set_commit(&e, hv, n) == 0) {
    double t = wall_since(t0);
    char name[64];
    snprintf(name, sizeof name, "size-curve %ld B begin+set+commit", bytes);
    report(name, t, n);
  }
fail_env:
  bench_env_close(&e);
fail_pad:
  free(pad);
}

/* ---- 5. concurrent commits on one session ------------------------------ */

typedef struct worker_arg {
  bench_env *e;
  const char *hdr;
  long n;
  long errors;
  sessio_err last_err;
} worker_arg;

static void *incr_worker(void *p) {
  worker_arg *a = p;
  const char *hv[1] = {a->hdr};
  for (long i = 0; i < a->n; i++) {
    sessio *s = NULL;
    sessio_err err = sessio_begin(a->e->m, hv, 1, 0, NOW_MS, &s);
    if (err != SESSIO_OK) {
      a->errors++;
      a->last_err = err;
      continue;
    }
    if ((err = sessio_incr(s, "counter", 1, NULL)) != SESSIO_OK ||
        (err = sessio_commit(s, NOW_MS)) != SESSIO_OK) {
      a->errors++;
      a->last_err = err;
    }
    sessio_free(s);
  }
  return NULL;
}

static void bench_concurrent(bench_env *e, long n_per_thread, int nthreads) {
  char hdr[256];
  worker_arg args[8];
  pthread_t th[8];
  const char *hv[1] = {hdr};
  long errors = 0;
  sessio_err last_err = SESSIO_OK;
  int started = 0;
  if (nthreads > 8) nthreads = 8;
  if (make_session(e, hdr, sizeof hdr)) return;
  double t0 = mono_ns();
  for (int i = 0; i < nthreads; i++) {
    args[i] = (worker_arg){e, hdr, n_per_thread, 0, SESSIO_OK};
    if (pthread_create(&th[i], NULL, incr_worker, &args[i]) != 0) break;
    started++;
  }
  for (int i = 0; i < started; i++) {
    pthread_join(th[i], NULL);
    errors += args[i].errors;
    if (args[i].errors) last_err = args[i].last_err;
  }
  double t = wall_since(t0);
  long total = n_per_thread * started;
  char name[64];
  snprintf(name, sizeof name, "concurrent incr+commit (%d thr)", started);
  report(name, t, total);

  sessio *s = NULL;
  int64_t v = -1;
  if (sessio_begin(e->m, hv, 1, 0, NOW_MS, &s) == SESSIO_OK) {
    sessio_get_int(s, "counter", &v);
    sessio_free(s);
  }
  printf("%-34s %10" PRId64 " of %ld  (%s, %ld errors%s%s)\n",
         "concurrent final count", v, total,
         v == total + 0 && errors == 0 ? "exact"
         : v + errors == total         ? "every failed commit reported"
                                       : "LOST UPDATES",
         errors, errors ? ", last: " : "",
         errors ? sessio_errname(last_err) : "");
  fflush(stdout);
  if (v != total || errors != 0 || started != nthreads)
    fail("concurrent count", 0);
}

/* ---- 6. memory per stored session -------------------------------------- */

static long rss_kib(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long pages = 0, resident = 0;
  if (!f) return -1;
  if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = -1;
  fclose(f);
  return resident < 0 ? -1 : resident * 4; /* 4 KiB pages on x86-64 */
}

static size_t heap_in_use(void) {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd; /* main arena in use + mmapped blocks */
}

static void bench_memory(long n) {
  char url[128];
  bench_env e;
  /* 'data' key (4 B) + 96 B value = DATA_BYTES of user data per session */
  char val[DATA_BYTES - 4 + 1];
  memset(val, 'x', sizeof val - 1);
  val[sizeof val - 1] = '\0';

  snprintf(url, sizeof url, "memory:?max_sessions=%ld&max_bytes=%ld", n * 2,
           n * 4096);
  malloc_trim(0);
  size_t h0 = heap_in_use();
  long r0 = rss_kib();
  if (env_open(&e, url)) return;
  double t0 = mono_ns();
  for (long i = 0; i < n; i++) {
    sessio *s = NULL;
    sessio_err err = sessio_begin(e.m, NULL, 0, 0, NOW_MS, &s);
    if (err != SESSIO_OK) {
      fail("begin (memory)", err);
      break;
    }
    memcpy(val, &i, sizeof i < 8 ? sizeof i : 8); /* vary the data */
    for (size_t k = 0; k < 8; k++)
      if (val[k] == '\0') val[k] = 'y';
    if ((err = sessio_set_str(s, "data", val)) != SESSIO_OK ||
        (err = sessio_commit(s, NOW_MS)) != SESSIO_OK) {
      fail("set+commit (memory)", err);
      sessio_free(s);
      break;
    }
    sessio_free(s);
  }
  double t = wall_since(t0);
  report("create session (memory store)", t, n);
  size_t h1 = heap_in_use();
  long r1 = rss_kib();
  struct sessio_store_stats stats;
  memset(&stats, 0, sizeof stats);
  sessio_store_stats(e.st, &stats);
  double heap_per = ((double)h1 - (double)h0) / (double)n;
  double rss_per = ((double)r1 - (double)r0) * 1024.0 / (double)n;
  printf("%-34s %10.1f B/session (heap, malloc in use); overhead beyond "
         "%d B of data: %.1f B\n",
         "memory per stored session", heap_per, DATA_BYTES,
         heap_per - DATA_BYTES);
  printf("%-34s %10.1f B/session (RSS delta); overhead: %.1f B\n",
         "memory per stored session (RSS)", rss_per, rss_per - DATA_BYTES);
  printf("%-34s %10" PRIu64 " sessions, %" PRIu64 " bytes (%.1f B/session "
         "by the store's count)\n",
         "store stats", stats.sessions, stats.bytes,
         stats.sessions ? (double)stats.bytes / (double)stats.sessions : 0.0);
  if (stats.sessions != 0 && stats.sessions != (uint64_t)n)
    fail("store holds every session", 0);
  bench_env_close(&e);
}

int main(int argc, char **argv) {
  int quick = 0;
  long sessions = 1000000;
  const char *sizes = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0) {
      quick = 1;
    } else if (strcmp(argv[i], "--sessions") == 0 && i + 1 < argc) {
      sessions = strtol(argv[++i], NULL, 10);
    } else if (strcmp(argv[i], "--sizes") == 0 && i + 1 < argc) {
      sizes = argv[++i];
    } else {
      fprintf(stderr, "usage: %s [--quick] [--sessions N] | --sizes B,B,...\n",
              argv[0]);
      return 2;
    }
  }
  if (quick && sessions == 1000000) sessions = 10000;
  long k = quick ? 10 : 1;
  bench_env e;
  if (sizes != NULL) { /* the size curve alone */
    for (const char *p = sizes; *p;) {
      char *end;
      long b = strtol(p, &end, 10);
      if (end == p || b < 0) {
        fprintf(stderr, "micro: --sizes wants numbers, not '%s'\n", p);
        return 2;
      }
      bench_size(200000 / k, b);
      p = *end == ',' ? end + 1 : end;
    }
    if (failures) fprintf(stderr, "micro: %d check(s) failed\n", failures);
    return failures ? 1 : 0;
  }

  printf("sessio %s micro-benchmark, memory store, fixed now, single thread "
         "unless said\n",
         SESSIO_VERSION_STRING);
  /* Memory first, in the main thread only: mallinfo2 counts the main arena. */
  bench_memory(sessions);
  bench_id(200000 / k);
  bench_cookie_parse(1000000 / k);
  if (env_open(&e, "memory:") == 0) {
    bench_begin_get(&e, 500000 / k);
    bench_begin_set_commit(&e, 500000 / k);
    bench_concurrent(&e, 200000 / k, 2);
    bench_env_close(&e);
  }
  if (failures) fprintf(stderr, "micro: %d check(s) failed\n", failures);
  return failures ? 1 : 0;
}
