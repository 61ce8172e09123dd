/*
 * populate.c — fills a store with live guest sessions for the scaling runs
 * of `make bench` (scripts/bench_scale.sh), through the public API only, as
 * sessio-shop would have made them: cookie "sid", no server secret, the
 * shop's cart key (cart.S0 = 1) and, with --bytes, "pad.N" strings so that
 * the session holds that many bytes of data. A shared store (SQLite, Redis)
 * filled so is what the shop then serves; a memory store lives in the shop's
 * process, so the shop makes those itself (bench/http/create.lua).
 *
 *   sessio_populate URL N [--bytes B] [--idle MS] [--threads T]
 *                   [--cookies FILE K] [--fill M [--spread MS]]
 *
 * --idle is the idle timeout the sessions get (the shop's --idle; 30 min by
 * default, the shop's default). --cookies writes "sid=ID<TAB>csrf" of the
 * first K sessions made, the format of bench/http/api.py sessions, so the
 * load driver can use them.
 *
 * --fill M (sqlite: only) then adds M filler rows in a few large
 * transactions: copies of the N sessions' rows under fresh random keys. A
 * commit through the API is one SQLite transaction (about 12 system calls:
 * 500 to 3,000 sessions/s on this machine, so 10^6 would take many
 * minutes); the copies cost the store what live sessions cost (same size,
 * same table and expiry index, live until their expires_at) but no one
 * holds their IDs, which the runs do not need: the load goes to the N real
 * ones. With N 0 the copies are of the live rows already in the file
 * (the first 1,000). --spread MS moves the copies' expiry evenly over MS ms after the
 * templates', so they die at M / MS per ms, as under steady traffic (the
 * GC run; a "gc_at" column, when the table has one, moves with it). Needs
 * the sqlite store's table "sessions" with columns "key" and "expires_at".
 *
 * Prints one line: "POPULATE sessions=N filled=M bytes=B seconds=S
 * rate=R/s"; exit status 1 on any failure.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "sessio.h"

#ifdef POPULATE_SQLITE
#include <sqlite3.h>
#endif

typedef struct job {
  sessio_manager *m;
  long n;     /* sessions this thread makes */
  size_t pad; /* bytes of the "pad.N" values, 0 = none */
  long keep;  /* cookies to keep (the first 'keep' made) */
  char (*cookies)[SESSIO_ID_LEN + 8 + SESSIO_CSRF_LEN + 2];
  int64_t now;    /* the time every session is made at */
  sessio_err err; /* the first failure */
  const char *what;
} job;

/* Sets 'len' bytes of 'pad' as "pad.0", "pad.1", ... of at most 8,000
 * bytes each (a value is at most 8 KiB by default). */
static sessio_err set_pad(sessio *s, const char *pad, size_t len) {
  sessio_err err = SESSIO_OK;
  for (size_t off = 0, i = 0; off < len && err == SESSIO_OK; i++) {
    char key[32];
    size_t n = len - off > 8000 ? 8000 : len - off;
    snprintf(key, sizeof key, "pad.%zu", i);
    err = sessio_set_strn(s, key, pad + off, n);
    off += n;
  }
  return err;
}

/* One guest session as the shop's first cart add makes it, plus the pad. */
static void *make_sessions(void *p) {
  job *j = p;
  char *pad = NULL;
  if (j->pad > 0) {
    if ((pad = malloc(j->pad + 1)) == NULL) {
      j->err = SESSIO_ENOMEM;
      j->what = "malloc";
      return NULL;
    }
    for (size_t i = 0; i < j->pad; i++) pad[i] = (char)('a' + i % 26);
    pad[j->pad] = '\0';
  }
  for (long i = 0; i < j->n && j->err == SESSIO_OK; i++) {
    sessio *s = NULL;
    sessio_err err = sessio_begin(j->m, NULL, 0, 0, j->now, &s);
    if (err != SESSIO_OK) {
      j->err = err;
      j->what = "sessio_begin";
      break;
    }
    if ((err = sessio_incr(s, "cart.S0", 1, NULL)) != SESSIO_OK ||
        (pad && (err = set_pad(s, pad, j->pad)) != SESSIO_OK) ||
        (err = sessio_commit(s, j->now)) != SESSIO_OK) {
      j->err = err;
      j->what = "set+commit";
    } else if (i < j->keep) {
      char hdr[SESSIO_ID_LEN + 8];
      const char *csrf = sessio_csrf_token(s);
      if (bench_sid_header(s, hdr, sizeof hdr) != 0 || csrf == NULL) {
        j->err = SESSIO_EINVAL;
        j->what = "no cookie or csrf token";
      } else {
        snprintf(j->cookies[i], sizeof j->cookies[i], "%s\t%s", hdr, csrf);
      }
    }
    sessio_free(s);
  }
  free(pad);
  return NULL;
}

static int usage(const char *prog) {
  fprintf(stderr,
          "usage: %s URL N [--bytes B] [--idle MS] [--threads T] "
          "[--cookies FILE K] [--fill M [--spread MS]]\n",
          prog);
  return 2;
}

#ifdef POPULATE_SQLITE
/* Runs 'sql' on 'db'; 0, or -1 after printing the error. */
static int exec_sql(sqlite3 *db, const char *sql) {
  char *msg = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK) return 0;
  fprintf(stderr, "populate: %s: %s\n", sql, msg ? msg : "?");
  sqlite3_free(msg);
  return -1;
}

/* Adds 'm' copies of the live rows of 'path' under random keys, with their
 * expiry moved by i * spread_ms / m (see the file's header). 0 or -1. */
static int fill_sqlite(const char *path, long m, long spread_ms, int64_t now) {
  sqlite3 *db = NULL;
  sqlite3_stmt *cols = NULL, *ins = NULL;
  char sql[2048] = "", list[1024] = "", sel[1024] = "";
  long templates = 0;
  int rc = -1;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
    fprintf(stderr, "populate: cannot open %s: %s\n", path,
            db ? sqlite3_errmsg(db) : "out of memory");
    goto done;
  }
  sqlite3_busy_timeout(db, 10000);
  /* Random keys touch pages all over the table: a page cache that holds it
   * keeps the inserts off the disk until each COMMIT. */
  if (exec_sql(db, "PRAGMA cache_size=-1048576") != 0) goto done;
  /* The column list, so that the copy keeps every column the store has. */
  if (sqlite3_prepare_v2(db, "SELECT name FROM pragma_table_info('sessions')",
                         -1, &cols, NULL) != SQLITE_OK)
    goto fail_sql;
  int has_key = 0, has_exp = 0;
  while (sqlite3_step(cols) == SQLITE_ROW) {
    const char *c = (const char *)sqlite3_column_text(cols, 0);
    const char *expr = c;
    char buf[128];
    if (strcmp(c, "key") == 0) {
      expr = "randomblob(32)";
      has_key = 1;
    } else if (strcmp(c, "expires_at") == 0) {
      expr = "expires_at + ?2 * ?3 / ?4";
      has_exp = 1;
    } else if (strcmp(c, "gc_at") == 0) {
      /* the store's expiry grain (src/store/sqlite.c, GC_GRAIN_MS) */
      expr = "(expires_at + ?2 * ?3 / ?4 + 65535) / 65536 * 65536";
    }
    snprintf(buf, sizeof buf, "%s\"%s\"", *list ? "," : "", c);
    strncat(list, buf, sizeof list - strlen(list) - 1);
    snprintf(buf, sizeof buf, "%s%s", *sel ? "," : "", expr);
    strncat(sel, buf, sizeof sel - strlen(sel) - 1);
  }
  sqlite3_finalize(cols);
  cols = NULL;
  if (!has_key || !has_exp) {
    fprintf(stderr, "populate: %s has no table sessions(key, expires_at)\n",
            path);
    goto done;
  }
  snprintf(sql, sizeof sql,
           "CREATE TEMP TABLE fill AS SELECT * FROM sessions"
           " WHERE expires_at > %" PRId64 " LIMIT 1000",
           now);
  if (exec_sql(db, sql) != 0) goto done;
  templates = sqlite3_changes(db);
  if (sqlite3_prepare_v2(db, "SELECT count(*) FROM temp.fill", -1, &cols,
                         NULL) != SQLITE_OK ||
      sqlite3_step(cols) != SQLITE_ROW)
    goto fail_sql;
  templates = sqlite3_column_int64(cols, 0);
  sqlite3_finalize(cols);
  cols = NULL;
  if (templates == 0) {
    fprintf(stderr, "populate: no live row in %s to copy\n", path);
    goto done;
  }
  snprintf(sql, sizeof sql,
           "INSERT INTO sessions(%s) SELECT %s FROM temp.fill WHERE rowid = ?1",
           list, sel);
  if (sqlite3_prepare_v2(db, sql, -1, &ins, NULL) != SQLITE_OK) goto fail_sql;
  for (long i = 0; i < m; i++) {
    /* 50,000 rows a transaction keeps the WAL a few tens of MB. */
    if (i % 50000 == 0 && (i > 0 ? exec_sql(db, "COMMIT") : 0) != 0) goto done;
    if (i % 50000 == 0 && exec_sql(db, "BEGIN IMMEDIATE") != 0) goto done;
    sqlite3_bind_int64(ins, 1, 1 + i % templates);
    sqlite3_bind_int64(ins, 2, i);
    sqlite3_bind_int64(ins, 3, spread_ms);
    sqlite3_bind_int64(ins, 4, m);
    if (sqlite3_step(ins) != SQLITE_DONE) goto fail_sql;
    sqlite3_reset(ins);
  }
  if (m > 0 && exec_sql(db, "COMMIT") != 0) goto done;
  /* The copies are in the WAL: move them into the database file, so the
   * point measured next does not pay for a checkpoint of them. */
  if (exec_sql(db, "PRAGMA wal_checkpoint(TRUNCATE)") != 0) goto done;
  rc = 0;
  goto done;
fail_sql:
  fprintf(stderr, "populate: %s: %s\n", path, sqlite3_errmsg(db));
done:
  sqlite3_finalize(cols);
  sqlite3_finalize(ins);
  sqlite3_close(db);
  return rc;
}
#endif

int main(int argc, char **argv) {
  const char *url, *cookie_file = NULL;
  long n, bytes = 0, idle_ms = 30L * 60 * 1000, keep = 0, fill = 0, spread = 0;
  int threads = 2, rc = 1;
  sessio_store *st = NULL;
  sessio_config *cfg = NULL;
  sessio_manager *m = NULL;
  sessio_err err;
  char(*cookies)[SESSIO_ID_LEN + 8 + SESSIO_CSRF_LEN + 2] = NULL;
  job jobs[8];
  pthread_t th[8];
  if (argc < 3) return usage(argv[0]);
  url = argv[1];
  n = strtol(argv[2], NULL, 10);
  for (int i = 3; i < argc; i++) {
    if (strcmp(argv[i], "--bytes") == 0 && i + 1 < argc)
      bytes = strtol(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--idle") == 0 && i + 1 < argc)
      idle_ms = strtol(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
      threads = (int)strtol(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--cookies") == 0 && i + 2 < argc) {
      cookie_file = argv[++i];
      keep = strtol(argv[++i], NULL, 10);
    } else if (strcmp(argv[i], "--fill") == 0 && i + 1 < argc)
      fill = strtol(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--spread") == 0 && i + 1 < argc)
      spread = strtol(argv[++i], NULL, 10);
    else
      return usage(argv[0]);
  }
  if (n < 0 || bytes < 0 || idle_ms <= 0 || threads < 1 || threads > 8 ||
      keep < 0 || keep > n || fill < 0 || spread < 0)
    return usage(argv[0]);
  if (fill > 0 && strncmp(url, "sqlite:", 7) != 0) {
    fprintf(stderr, "populate: --fill is for sqlite: stores only\n");
    return 2;
  }
#ifndef POPULATE_SQLITE
  if (fill > 0) {
    fprintf(stderr, "populate: built without SQLite: no --fill\n");
    return 2;
  }
#endif

  /* The pad's share: the "pad.N" keys and values, less what the cart key
   * holds ("cart.S0" and an 8-byte integer), so the data is about 'bytes'. */
  size_t pad = bytes > 5 + 15 ? (size_t)(bytes - 15 - 5 * (1 + bytes / 8000))
                              : 0;
  if ((err = sessio_store_open(url, &st)) != SESSIO_OK) {
    fprintf(stderr, "populate: cannot open %s: %s\n", url,
            sessio_strerror(err));
    return 1;
  }
  if ((err = sessio_config_new(&cfg)) != SESSIO_OK ||
      (err = sessio_config_set_store(cfg, st)) != SESSIO_OK ||
      (err = sessio_config_set_timeouts(
           cfg, idle_ms,
           idle_ms > 12L * 3600 * 1000 ? idle_ms : 12L * 3600 * 1000, 0)) !=
          SESSIO_OK ||
      (err = sessio_config_set_cookie(cfg, "sid", SESSIO_SECURE_NEVER,
                                      SESSIO_SAMESITE_LAX, NULL)) !=
          SESSIO_OK ||
      (err = sessio_manager_new(cfg, &m)) != SESSIO_OK) {
    fprintf(stderr, "populate: manager: %s\n", sessio_strerror(err));
    goto done;
  }

  if (keep > 0 && (cookies = calloc((size_t)keep, sizeof *cookies)) == NULL) {
    fprintf(stderr, "populate: out of memory\n");
    goto done;
  }
  int64_t now = sessio_now_ms();
  long given = 0, kept = 0;
  for (int t = 0; t < threads; t++) {
    long share = n / threads + (t < n % threads);
    long k = (keep - kept) < share ? keep - kept : share;
    jobs[t] = (job){m,   share,     pad, k, cookies ? cookies + kept : NULL,
                    now, SESSIO_OK, NULL};
    given += share;
    kept += k;
  }
  double t0 = bench_mono_ns();
  int started = 0;
  for (; started < threads; started++)
    if (pthread_create(&th[started], NULL, make_sessions, &jobs[started]))
      break;
  for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
  double secs = (bench_mono_ns() - t0) / 1e9;
  rc = started == threads ? 0 : 1;
  for (int t = 0; t < threads; t++)
    if (jobs[t].err != SESSIO_OK) {
      fprintf(stderr, "populate: %s: %s\n", jobs[t].what,
              sessio_strerror(jobs[t].err));
      rc = 1;
    }
  if (rc == 0 && cookie_file != NULL) {
    FILE *f = fopen(cookie_file, "w");
    for (long i = 0; f != NULL && i < keep; i++) fprintf(f, "%s\n", cookies[i]);
    if (f == NULL || fclose(f) != 0) {
      fprintf(stderr, "populate: cannot write %s\n", cookie_file);
      rc = 1;
    }
  }
#ifdef POPULATE_SQLITE
  if (rc == 0 && fill > 0) {
    char path[4096];
    snprintf(path, sizeof path, "%s", url + 7);
    path[strcspn(path, "?")] = '\0';
    rc = fill_sqlite(path, fill, spread, now) != 0;
    secs = (bench_mono_ns() - t0) / 1e9;
  }
#endif
  if (rc == 0)
    printf("POPULATE sessions=%ld filled=%ld bytes=%ld seconds=%.2f "
           "rate=%.0f/s\n",
           given, fill, bytes, secs,
           secs > 0 ? (double)(given + fill) / secs : 0.0);
done:
  free(cookies);
  sessio_manager_free(m);
  sessio_config_free(cfg);
  sessio_store_close(st);
  return rc;
}
