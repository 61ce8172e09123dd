/*
 * test_sqlite_store.c — what only the SQLite store promises: its URL
 * (sync modes, busy timeout, bad URLs), a 0600 database in WAL mode, rows
 * of the wrong shape and a damaged file reported as errors (never a crash),
 * a held write lock turned into SESSIO_EUNAVAIL, gc in small batches, the
 * expiry index filed by grain (one page per commit, gc never removing a
 * live row, the version 1 schema migrated), and compare-and-set between
 * processes, including a handle used across fork(); checkpoints that keep
 * the WAL bounded though no commit runs one; locking=exclusive, which
 * keeps the file to one store handle and refuses every other opener.
 * The contract itself is checked for every store by tests/conformance/.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "harness.h"
#include "sessio.h"
#include "sessio/store.h"
#include "store/store_internal.h" /* the record-level dispatch wrappers */
#include "store_util.h"

#define T0 1700000000000LL
#define HOUR 3600000LL

static char dir[64];
static char db_path[128];
static char url[192];

static void fresh_dir(void) {
  store_util_fresh_dir(dir, sizeof dir, "sessio-sqlitetest");
  snprintf(db_path, sizeof db_path, "%s/s.db", dir);
  snprintf(url, sizeof url, "sqlite:%s", db_path);
}

static sessio_key mk(uint32_t i) {
  sessio_key k;
  memset(&k, 0, sizeof k);
  memcpy(k.b, &i, sizeof i);
  k.b[31] = 0x5a;
  return k;
}

static uint64_t put(sessio_store *st, const sessio_key *k, const char *blob,
                    uint64_t expected, int64_t exp) {
  return store_util_put(st, k, blob, expected, exp, T0);
}

/* Runs SQL on the database through a connection of our own. */
static int raw_exec(const char *sql) {
  sqlite3 *db = NULL;
  int rc = sqlite3_open(db_path, &db);
  if (rc == SQLITE_OK) {
    sqlite3_busy_timeout(db, 2000);
    rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
  }
  sqlite3_close(db);
  return rc;
}

/* The shared option names (sync, timeout_ms), and busy_timeout, the older
 * spelling of timeout_ms, still accepted. */
static void test_sync_modes_and_timeout_parse(void) {
  fresh_dir();
  const char *good[] = {"",
                        "?sync=normal",
                        "?sync=full",
                        "?sync=full&timeout_ms=100",
                        "?timeout_ms=0",
                        "?sync=full&busy_timeout=100",
                        "?busy_timeout=0",
                        "?locking=normal",
                        "?locking=exclusive&sync=full"};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    char u[256];
    sessio_store *st = NULL;
    snprintf(u, sizeof u, "%s%s", url, good[i]);
    CHECK_OK(sessio_store_open(u, &st));
    if (st) CHECK_STR(sessio_store_name(st), "sqlite");
    sessio_store_close(st);
  }
}

static void test_bad_urls_are_einval(void) {
  fresh_dir();
  char u[256];
  const char *bad_suffix[] = {"?sync=off",
                              "?sync=FULL",
                              "?sync=",
                              "?journal=wal",
                              "?busy_timeout=-1",
                              "?busy_timeout=12x",
                              "?busy_timeout=99999999",
                              "?timeout_ms=-1",
                              "?timeout_ms=",
                              "?timeout_ms=600001",
                              "?locking=",
                              "?locking=EXCLUSIVE",
                              "?locking=shared"};
  for (size_t i = 0; i < sizeof bad_suffix / sizeof bad_suffix[0]; i++) {
    snprintf(u, sizeof u, "%s%s", url, bad_suffix[i]);
    store_util_check_open_einval(u);
  }
  const char *bad[] = {"sqlite:", "sqlite:?sync=full", "sqlite::memory:",
                       "sqlite:/etc/passwd/x.db" /* under a file */};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    store_util_check_open_einval(bad[i]);
  }
  /* Missing folders are made (0700). */
  snprintf(u, sizeof u, "sqlite:%s/a/b/s.db", dir);
  sessio_store *made = NULL;
  CHECK_OK(sessio_store_open(u, &made));
  sessio_store_close(made);
  struct stat sb;
  snprintf(u, sizeof u, "%s/a/b", dir);
  CHECK_INT(stat(u, &sb), 0);
  CHECK_INT(sb.st_mode & 0777, 0700);
  /* A folder where the database should be. */
  snprintf(u, sizeof u, "sqlite:%s", dir);
  sessio_store *st = NULL;
  CHECK(sessio_store_open(u, &st) != SESSIO_OK);
  CHECK(st == NULL);
}

static void test_database_is_0600_in_wal_mode(void) {
  fresh_dir();
  sessio_store *st = NULL;
  CHECK_OK(sessio_store_open(url, &st));
  sessio_key k = mk(1);
  put(st, &k, "x", 0, T0 + HOUR);
  struct stat sb;
  CHECK_INT(stat(db_path, &sb), 0);
  CHECK_INT(sb.st_mode & 0777, 0600);
  char wal[160];
  snprintf(wal, sizeof wal, "%s-wal", db_path);
  CHECK_INT(stat(wal, &sb), 0); /* WAL mode keeps a -wal file */
  CHECK_INT(sb.st_mode & 0777, 0600);
  sqlite3 *db = NULL;
  sqlite3_stmt *s = NULL;
  CHECK_INT(sqlite3_open(db_path, &db), SQLITE_OK);
  CHECK_INT(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL),
            SQLITE_OK);
  CHECK_INT(sqlite3_step(s), SQLITE_ROW);
  CHECK_STR((const char *)sqlite3_column_text(s, 0), "wal");
  sqlite3_finalize(s);
  sqlite3_close(db);
  sessio_store_close(st);
}

/* S25: an existing database file with any permission for group or others
 * is refused (SESSIO_EPERM), and left as it was; 0600 opens. */
static void test_database_open_to_others_is_refused_S25(void) {
  static const mode_t modes[] = {0644, 0640, 0604, 0660, 0606};
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
    fresh_dir();
    int fd = open(db_path, O_RDWR | O_CREAT, 0600);
    CHECK(fd >= 0);
    if (fd >= 0) close(fd);
    CHECK_INT(chmod(db_path, modes[i]), 0);
    sessio_store *st = NULL;
    CHECK_ERR(sessio_store_open(url, &st), SESSIO_EPERM);
    CHECK(st == NULL);
    struct stat sb;
    CHECK_INT(stat(db_path, &sb), 0);
    CHECK_INT(sb.st_mode & 0777, (int)modes[i]);
  }
  CHECK_INT(chmod(db_path, 0600), 0);
  sessio_store *st = NULL;
  CHECK_OK(sessio_store_open(url, &st));
  sessio_store_close(st);
  CHECK(strstr(sessio_strerror(SESSIO_EPERM), "other users") != NULL);
}

static void test_symlinked_database_is_refused(void) {
  fresh_dir();
  char target[160], u[256];
  snprintf(target, sizeof target, "%s/target.db", dir);
  CHECK_INT(symlink(target, db_path), 0);
  sessio_store *st = NULL;
  snprintf(u, sizeof u, "sqlite:%s", db_path);
  CHECK(sessio_store_open(u, &st) != SESSIO_OK);
  CHECK(st == NULL);
  struct stat sb;
  CHECK(stat(target, &sb) != 0); /* nothing created through the link */
}

static void test_row_of_the_wrong_shape_is_corrupt(void) {
  fresh_dir();
  sessio_store *st = NULL;
  CHECK_OK(sessio_store_open(url, &st));
  sessio_key k = mk(2);
  put(st, &k, "fine", 0, T0 + HOUR);
  /* Someone stored text where the version and the blob should be. */
  CHECK_INT(raw_exec("UPDATE sessions SET version = 'abc', blob = 'text'"),
            SQLITE_OK);
  sessio_record r;
  int found = 9;
  CHECK_ERR(sessio__store_load(st, &k, T0, &r, &found), SESSIO_ECORRUPT);
  CHECK_INT(found, 0);
  CHECK(r.blob == NULL);
  /* The store still works for other keys. */
  sessio_key k2 = mk(3);
  put(st, &k2, "other", 0, T0 + HOUR);
  CHECK_OK(sessio__store_load(st, &k2, T0, &r, &found));
  CHECK_INT(found, 1);
  sessio_record_clear(&r);
  sessio_store_close(st);
}

static void test_damaged_database_file_is_an_error_not_a_crash(void) {
  fresh_dir();
  sessio_store *st = NULL;
  /* Not a database at all. */
  FILE *f = fopen(db_path, "w");
  CHECK(f != NULL);
  if (f) {
    for (int i = 0; i < 8192; i++) fputc((i * 131) & 0xff, f);
    fclose(f);
  }
  CHECK_INT(chmod(db_path, 0600), 0);
  sessio_err rc = sessio_store_open(url, &st);
  CHECK_ERR(rc, SESSIO_ECORRUPT);
  CHECK(st == NULL);
  /* A real database whose pages get overwritten while open. */
  fresh_dir();
  CHECK_OK(sessio_store_open(url, &st));
  for (uint32_t i = 0; i < 300; i++) {
    sessio_key k = mk(100 + i);
    put(st, &k, "a blob that fills some pages of the table", 0, T0 + HOUR);
  }
  CHECK_INT(raw_exec("PRAGMA wal_checkpoint(TRUNCATE)"), SQLITE_OK);
  int fd = open(db_path, O_RDWR);
  CHECK(fd >= 0);
  if (fd >= 0) {
    char junk[4096];
    memset(junk, 0xA5, sizeof junk);
    for (off_t off = 4096; off < 8 * 4096; off += 4096)
      CHECK_INT(pwrite(fd, junk, sizeof junk, off), (int)sizeof junk);
    close(fd);
  }
  int errors = 0;
  for (uint32_t i = 0; i < 300; i++) {
    sessio_key k = mk(100 + i);
    sessio_record r;
    int found = 0;
    rc = sessio__store_load(st, &k, T0, &r, &found);
    if (rc != SESSIO_OK) {
      errors++;
      CHECK(rc == SESSIO_ECORRUPT || rc == SESSIO_EIO);
    }
    sessio_record_clear(&r);
  }
  CHECK(errors > 0);
  sessio_store_close(st);
}

/* Another process holding the write lock longer than timeout_ms: the
 * write is SESSIO_EUNAVAIL (the caller answers 503), reads still work,
 * and writes work again once the lock is gone. */
static void test_held_write_lock_is_unavailable_then_recovers(void) {
  fresh_dir();
  char u[256];
  snprintf(u, sizeof u, "%s?timeout_ms=50", url);
  sessio_store *st = NULL;
  CHECK_OK(sessio_store_open(u, &st));
  sessio_key k = mk(4);
  uint64_t v = put(st, &k, "before", 0, T0 + HOUR);
  sqlite3 *db = NULL;
  CHECK_INT(sqlite3_open(db_path, &db), SQLITE_OK);
  CHECK_INT(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
  sessio_record r;
  memset(&r, 0, sizeof r);
  r.blob = (uint8_t *)"after";
  r.blob_len = 5;
  r.expires_at = T0 + HOUR;
  uint64_t nv = 0;
  CHECK_ERR(sessio__store_save(st, &k, &r, v, T0, &nv), SESSIO_EUNAVAIL);
  int found = 0;
  sessio_record got;
  CHECK_OK(sessio__store_load(st, &k, T0, &got, &found));
  CHECK_INT(found, 1);
  sessio_record_clear(&got);
  CHECK_INT(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  CHECK_OK(sessio__store_save(st, &k, &r, v, T0, &nv));
  CHECK_INT(nv, v + 1);
  sessio_store_close(st);
}

/* S16: expired rows go in batches of at most max_work per call, live ones
 * stay, and a pass ends (done) when none is left. Expired user index
 * pairs go too. */
static void test_gc_deletes_in_small_batches(void) {
  enum { DEAD = 1000, LIVE = 50, MAX_WORK = 64 };
  fresh_dir();
  sessio_store *st = NULL;
  CHECK_OK(sessio_store_open(url, &st));
  for (uint32_t i = 0; i < DEAD + LIVE; i++) {
    sessio_key k = mk(1000 + i);
    put(st, &k, "g", 0, i < DEAD ? T0 + 10 + i : T0 + HOUR);
  }
  sessio_key uk = mk(5);
  CHECK_OK(sessio__store_user_add(st, "dave", &uk, T0 + 10, T0));
  size_t total = 0, calls = 0;
  int done = 0;
  while (!done && calls < 10000) {
    size_t removed = 0;
    CHECK_OK(sessio_store_gc(st, T0 + HOUR - 1, MAX_WORK, &removed, &done));
    CHECK(removed <= MAX_WORK);
    total += removed;
    calls++;
  }
  CHECK_INT(total, DEAD);
  CHECK(calls >= DEAD / MAX_WORK);
  struct sessio_store_stats s;
  CHECK_OK(sessio_store_stats(st, &s));
  CHECK_INT(s.sessions, LIVE);
  CHECK_INT(s.expired, DEAD);
  /* The expired pair is gone from the table, not only hidden. */
  CHECK_INT(store_util_user_count(st, "dave", 0), 0);
  sessio_store_close(st);
}

/* Two processes, 200 compare-and-set increments each on one record. The
 * children use the handle the parent opened before fork(): the store must
 * leave the parent's connection alone and open its own. */
static void test_two_processes_lose_no_increment(void) {
  fresh_dir();
  sessio_store *st = store_util_open(url);
  /* NULL: the children use 'st'. The parent's own connection must still
   * work after them (the final load in the helper). */
  store_util_two_processes_increment(st, NULL, mk(6), 200, T0, T0 + HOUR);
  sessio_store_close(st);
}

/* Sessions survive closing and reopening the store (a restart). */
static void test_records_survive_reopen(void) {
  fresh_dir();
  sessio_store *st = NULL;
  char u[256];
  snprintf(u, sizeof u, "%s?sync=full", url);
  CHECK_OK(sessio_store_open(u, &st));
  sessio_key k = mk(7);
  put(st, &k, "kept", 0, T0 + HOUR);
  CHECK_OK(sessio__store_user_add(st, "erin", &k, T0 + HOUR, T0));
  sessio_store_close(st);
  CHECK_OK(sessio_store_open(url, &st));
  sessio_record r;
  int found = 0;
  CHECK_OK(sessio__store_load(st, &k, T0, &r, &found));
  CHECK_INT(found, 1);
  CHECK_INT(r.blob_len, 4);
  if (r.blob_len == 4) CHECK(memcmp(r.blob, "kept", 4) == 0);
  sessio_record_clear(&r);
  CHECK_INT(store_util_user_count(st, "erin", T0), 1);
  sessio_store_close(st);
}

/* The grain of the expiry index (src/store/sqlite.c, GC_GRAIN_MS). */
#define GRAIN 65536LL

/* Column 'col' of the first row of SQL run on our own connection (-1 on
 * failure). */
static int64_t raw_col(const char *sql, int col) {
  sqlite3 *db = NULL;
  sqlite3_stmt *s = NULL;
  int64_t v = -1;
  if (sqlite3_open(db_path, &db) == SQLITE_OK) {
    sqlite3_busy_timeout(db, 2000);
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
      v = sqlite3_column_int64(s, col);
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
  return v;
}

static int64_t raw_int(const char *sql) { return raw_col(sql, 0); }

/* Frames (pages) in the WAL: what the commits since the last truncating
 * checkpoint wrote. */
static int64_t wal_frames(void) {
  return raw_col("PRAGMA wal_checkpoint(PASSIVE)", 1);
}

static void wal_truncate(void) {
  CHECK_INT(raw_col("PRAGMA wal_checkpoint(TRUNCATE)", 1), 0);
}

/* The sliding expiry moves at every commit; within one grain of the
 * expiry index a commit writes only the row's page, and a commit that
 * moves the expiry to another grain writes the index too. */
static void test_commit_within_one_expiry_grain_writes_one_page(void) {
  fresh_dir();
  sessio_store *st = NULL;
  CHECK_OK(sessio_store_open(url, &st));
  const int64_t g = (T0 + HOUR) / GRAIN * GRAIN;
  sessio_key k = mk(40);
  uint64_t v = put(st, &k, "cart", 0, g + 10);
  wal_truncate();
  v = put(st, &k, "cart+1", v, g + 20);
  CHECK_INT(wal_frames(), 1);
  wal_truncate();
  int found = 0;
  CHECK_OK(sessio__store_touch(st, &k, T0 + 1, g + 30, T0, &found));
  CHECK_INT(found, 1);
  CHECK_INT(wal_frames(), 1);
  wal_truncate();
  v = put(st, &k, "cart+2", v, g + GRAIN + 20); /* the next grain */
  CHECK_INT(wal_frames(), 2);
  CHECK_INT(raw_int("SELECT gc_at FROM sessions"), g + 2 * GRAIN);
  wal_truncate();
  CHECK_OK(sessio__store_touch(st, &k, T0 + 2, g + 5, T0, &found)); /* back */
  CHECK_INT(found, 1);
  CHECK_INT(wal_frames(), 2);
  CHECK_INT(raw_int("SELECT gc_at FROM sessions"), g + GRAIN);
  /* Compare-and-set holds on both paths: a stale version writes nothing. */
  sessio_record r;
  memset(&r, 0, sizeof r);
  r.blob = (uint8_t *)"x";
  r.blob_len = 1;
  r.expires_at = g + 40;
  uint64_t nv = 0;
  CHECK_ERR(sessio__store_save(st, &k, &r, v - 1, T0, &nv), SESSIO_ECONFLICT);
  r.expires_at = g + 3 * GRAIN;
  CHECK_ERR(sessio__store_save(st, &k, &r, v - 1, T0, &nv), SESSIO_ECONFLICT);
  CHECK_INT(raw_int("SELECT version FROM sessions"), (int64_t)v);
  sessio_store_close(st);
}

/* The grain that holds 'now' mixes dead rows and live ones: gc walks it
 * in bounded steps and removes the dead rows exactly from their expiry
 * on, never a live one. */
static void test_gc_walks_the_current_grain_in_bounded_steps(void) {
  enum { DEAD = 100, LIVE = 200, MAX_WORK = 32 };
  fresh_dir();
  sessio_store *st = NULL;
  CHECK_OK(sessio_store_open(url, &st));
  const int64_t g = (T0 + HOUR) / GRAIN * GRAIN, now = g + 500;
  for (uint32_t i = 0; i < DEAD + LIVE; i++) {
    sessio_key k = mk(2000 + i);
    put(st, &k, "w", 0, i % 3 == 0 ? g + 10 + i : now + 1 + i);
  }
  sessio_key d = mk(2000);
  sessio_record r;
  int found = 1;
  CHECK_OK(sessio__store_load(st, &d, g + 10, &r, &found));
  CHECK_INT(found, 0); /* dead from its expiry on, before gc */
  size_t total = 0, calls = 0;
  int done = 0;
  while (!done && calls < 1000) {
    size_t removed = 0;
    CHECK_OK(sessio_store_gc(st, now, MAX_WORK, &removed, &done));
    CHECK(removed <= MAX_WORK);
    total += removed;
    calls++;
  }
  CHECK_INT(total, DEAD);
  CHECK(calls >= (DEAD + LIVE) / MAX_WORK);
  CHECK_INT(raw_int("SELECT count(*) FROM sessions"), LIVE);
  /* A second pass finds nothing more. */
  size_t again = 0;
  done = 0;
  for (calls = 0; !done && calls < 1000; calls++)
    CHECK_OK(sessio_store_gc(st, now, MAX_WORK, &again, &done));
  CHECK_INT(again, 0);
  sessio_store_close(st);
}

/* A row whose gc_at is behind its expiry (written by hand, or by an older
 * sessio still running during an upgrade) is never removed while live:
 * gc files it under its own grain and moves on. */
static void test_gc_files_again_a_live_row_behind_its_grain(void) {
  fresh_dir();
  sessio_store *st = NULL;
  CHECK_OK(sessio_store_open(url, &st));
  const int64_t g = (T0 + HOUR) / GRAIN * GRAIN;
  for (uint32_t i = 0; i < 20; i++) {
    sessio_key k = mk(300 + i);
    put(st, &k, "live", 0, g + 10);
  }
  sessio_key d = mk(299);
  put(st, &d, "dead", 0, T0 + 5);
  CHECK_INT(raw_exec("UPDATE sessions SET gc_at = 0"), SQLITE_OK);
  size_t removed = 0;
  int done = 0;
  CHECK_OK(sessio_store_gc(st, T0 + 10, 1000, &removed, &done));
  CHECK_INT(removed, 1);
  CHECK_INT(done, 1);
  CHECK_INT(raw_int("SELECT count(*) FROM sessions WHERE gc_at = 0"), 0);
  CHECK_INT(raw_int("SELECT count(*) FROM sessions WHERE gc_at < expires_at"),
            0);
  CHECK_INT(raw_int("SELECT count(*) FROM sessions"), 20);
  sessio_store_close(st);
}

/* A database of schema version 1 (the expiry index on expires_at) is
 * brought to version 2 at open: every row kept and filed by grain. */
static void test_database_of_version_1_is_migrated(void) {
  fresh_dir();
  const int64_t g = (T0 + HOUR) / GRAIN * GRAIN;
  char sql[1024];
  snprintf(sql, sizeof sql,
           "PRAGMA journal_mode=WAL;"
           "CREATE TABLE sessions(key BLOB PRIMARY KEY NOT NULL,"
           " version INTEGER NOT NULL, expires_at INTEGER NOT NULL,"
           " touched_at INTEGER NOT NULL, user TEXT NOT NULL DEFAULT '',"
           " blob BLOB NOT NULL) WITHOUT ROWID;"
           "CREATE INDEX sessions_expires ON sessions(expires_at);"
           "CREATE TABLE users(user TEXT NOT NULL, key BLOB NOT NULL,"
           " expires_at INTEGER NOT NULL, PRIMARY KEY(user, key))"
           " WITHOUT ROWID;"
           "CREATE INDEX users_expires ON users(expires_at);"
           "INSERT INTO sessions VALUES(zeroblob(32), 3, %lld, %lld, '',"
           " x'0102');"
           "INSERT INTO sessions VALUES(x'01' || zeroblob(31), 1, %lld, %lld,"
           " '', x'03');"
           "PRAGMA user_version=1;",
           (long long)(g + 10), (long long)T0, (long long)(T0 + 5),
           (long long)T0);
  CHECK_INT(raw_exec(sql), SQLITE_OK);
  CHECK_INT(chmod(db_path, 0600), 0);
  sessio_store *st = NULL;
  CHECK_OK(sessio_store_open(url, &st));
  CHECK_INT(raw_int("PRAGMA user_version"), 2);
  CHECK_INT(raw_int("SELECT count(*) FROM sqlite_schema"
                    " WHERE name = 'sessions_expires'"),
            0);
  CHECK_INT(raw_int("SELECT gc_at FROM sessions WHERE version = 3"), g + GRAIN);
  sessio_key k;
  memset(&k, 0, sizeof k);
  sessio_record r;
  int found = 0;
  CHECK_OK(sessio__store_load(st, &k, T0, &r, &found));
  CHECK_INT(found, 1);
  CHECK_INT(r.version, 3);
  sessio_record_clear(&r);
  uint64_t v = put(st, &k, "after", 3, g + 20);
  CHECK_INT(v, 4);
  size_t removed = 0;
  int done = 0;
  CHECK_OK(sessio_store_gc(st, T0 + 2 * GRAIN, 100, &removed, &done));
  CHECK_INT(removed, 1);
  sessio_store_close(st);
  /* A second open finds version 2 and changes nothing. */
  CHECK_OK(sessio_store_open(url, &st));
  CHECK_INT(raw_int("SELECT count(*) FROM sessions"), 1);
  sessio_store_close(st);
}

/* A database of another schema version is not ours to write into. */
static void test_database_of_another_version_is_refused(void) {
  fresh_dir();
  CHECK_INT(raw_exec("PRAGMA user_version=99"), SQLITE_OK);
  CHECK_INT(chmod(db_path, 0600), 0); /* made by sqlite3_open: umask's mode */
  sessio_store *st = NULL;
  CHECK_ERR(sessio_store_open(url, &st), SESSIO_EINVAL);
  CHECK(st == NULL);
}

/* The WAL stays bounded: no commit checkpoints (that would hold the write
 * mutex through the copy and the syncs), so the store runs a PASSIVE
 * checkpoint after the commit that takes the WAL past 4000 frames, and
 * the WAL starts over. 6000 commits of two frames each would make a WAL
 * of 12,000 frames (48 MiB) without it. */
static void test_checkpoints_keep_the_wal_bounded(void) {
  enum { COMMITS = 6000, FRAME = 4096 + 24, LIMIT = 4000 + 200 };
  fresh_dir();
  sessio_store *st = store_util_open(url);
  sessio_key k = mk(7);
  uint64_t v = put(st, &k, "0", 0, T0 + HOUR);
  char blob[16];
  for (int i = 1; i < COMMITS; i++) {
    snprintf(blob, sizeof blob, "%d", i);
    v = put(st, &k, blob, v, T0 + HOUR);
  }
  char wal[160];
  struct stat sb;
  snprintf(wal, sizeof wal, "%s-wal", db_path);
  CHECK_INT(stat(wal, &sb), 0);
  CHECK((long long)sb.st_size <= (long long)LIMIT * FRAME);
  if ((long long)sb.st_size > (long long)LIMIT * FRAME)
    fprintf(stderr, "  WAL of %lld bytes after %d commits, limit %lld\n",
            (long long)sb.st_size, COMMITS, (long long)LIMIT * FRAME);
  sessio_store_close(st);
}

/* locking=exclusive: the handle holds the file's lock from open to close.
 * Every other opener is refused with SESSIO_EUNAVAIL after timeout_ms, an
 * exclusive one or a normal one, in this process or another; the store
 * works as usual (no -shm file: the WAL index is in its memory), and
 * once it is closed the file opens normally with everything in it. */
static void test_exclusive_locking_keeps_the_file_to_one_handle(void) {
  fresh_dir();
  char ex[256], other[256];
  snprintf(ex, sizeof ex, "%s?locking=exclusive&timeout_ms=50", url);
  snprintf(other, sizeof other, "%s?timeout_ms=50", url);
  sessio_store *st = store_util_open(ex);
  sessio_key k = mk(8);
  uint64_t v = put(st, &k, "one", 0, T0 + HOUR);
  v = put(st, &k, "two", v, T0 + HOUR);
  CHECK_INT(v, 2);
  char shm[160];
  struct stat sb;
  snprintf(shm, sizeof shm, "%s-shm", db_path);
  CHECK_INT(stat(shm, &sb), -1);
  sessio_store *second = NULL;
  CHECK_ERR(sessio_store_open(other, &second), SESSIO_EUNAVAIL);
  CHECK(second == NULL);
  CHECK_ERR(sessio_store_open(ex, &second), SESSIO_EUNAVAIL);
  CHECK(second == NULL);
  fflush(NULL);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    sessio_store *mine = NULL;
    _exit(sessio_store_open(other, &mine) == SESSIO_EUNAVAIL ? 0 : 1);
  }
  int status = 0;
  CHECK_INT(waitpid(pid, &status, 0), pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK_INT(raw_exec("SELECT count(*) FROM sessions"), SQLITE_BUSY);
  /* gc, stats and scans go through the one connection too */
  size_t removed = 0;
  int done = 0;
  CHECK_OK(sessio_store_gc(st, T0, 64, &removed, &done));
  struct sessio_store_stats stats;
  CHECK_OK(sessio_store_stats(st, &stats));
  CHECK_INT(stats.sessions, 1);
  sessio_store_close(st);
  st = store_util_open(other);
  sessio_record got;
  int found = 0;
  CHECK_OK(sessio__store_load(st, &k, T0, &got, &found));
  CHECK_INT(found, 1);
  CHECK_INT(got.version, 2);
  CHECK(got.blob_len == 3 && memcmp(got.blob, "two", 3) == 0);
  sessio_record_clear(&got);
  sessio_store_close(st);
}

int main(void) {
  RUN(test_sync_modes_and_timeout_parse);
  RUN(test_bad_urls_are_einval);
  RUN(test_database_is_0600_in_wal_mode);
  RUN(test_symlinked_database_is_refused);
  RUN(test_database_open_to_others_is_refused_S25);
  RUN(test_row_of_the_wrong_shape_is_corrupt);
  RUN(test_damaged_database_file_is_an_error_not_a_crash);
  RUN(test_held_write_lock_is_unavailable_then_recovers);
  RUN(test_gc_deletes_in_small_batches);
  RUN(test_two_processes_lose_no_increment);
  RUN(test_records_survive_reopen);
  RUN(test_database_of_another_version_is_refused);
  RUN(test_commit_within_one_expiry_grain_writes_one_page);
  RUN(test_gc_walks_the_current_grain_in_bounded_steps);
  RUN(test_gc_files_again_a_live_row_behind_its_grain);
  RUN(test_database_of_version_1_is_migrated);
  RUN(test_checkpoints_keep_the_wal_bounded);
  RUN(test_exclusive_locking_keeps_the_file_to_one_handle);
  if (dir[0]) store_util_rm_tree(dir);
  return DONE();
}
