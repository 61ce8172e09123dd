/*
 * sqlite.c — the SQLite store, "sqlite:PATH[?sync=full&timeout_ms=N&max_sessions=N]": one
 * row per session in a WAL-mode database, the compare-and-set done by one
 * conditional INSERT/UPDATE, a users table for the per-user index, and gc
 * deleting expired rows in small batches through the expiry index. A pool
 * of connections (one per concurrent thread, each with its prepared
 * statements) makes it safe for many threads; WAL and a busy timeout make it
 * safe for several processes. The contract: sessio/store.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "crypto.h"
#include "helpers.h"
#include "store_internal.h"

#define BUSY_TIMEOUT_MS 5000 /* default; then SESSIO_EUNAVAIL */
#define GC_BATCH 256         /* rows deleted per statement (write lock) */
#define SCHEMA_VERSION 2     /* PRAGMA user_version of our databases */
/* The expiry index holds gc_at, expires_at rounded up to a grain of
 * 65.536 s, not expires_at itself: the idle expiry moves at every commit,
 * and an indexed value that moves makes each commit rewrite two pages of
 * the index (the entry leaves one leaf and joins the newest) besides the
 * row's own page. gc_at moves once a grain, so most commits write one
 * page. Liveness is still decided by the exact expires_at of the row. */
#define GC_GRAIN_MS 65536

/* The schema. 'key' is the 32-byte keyed hash; rows are clustered by it
 * (WITHOUT ROWID). 'gc_at' (see GC_GRAIN_MS) is never below expires_at,
 * so gc, which walks its index, never meets a live row there, except one
 * written by hand or by an older sessio (0, the default): gc files such a
 * row again rather than remove it. The users table is the per-user index: its primary key
 * (user, key) is the index on user, and its own expires_at lets gc drop
 * stale pairs without touching sessions. */
static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS sessions("
    " key BLOB PRIMARY KEY NOT NULL,"
    " version INTEGER NOT NULL,"
    " expires_at INTEGER NOT NULL,"
    " touched_at INTEGER NOT NULL,"
    " user TEXT NOT NULL DEFAULT '',"
    " blob BLOB NOT NULL,"
    " gc_at INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS sessions_gc ON sessions(gc_at);"
    "CREATE TABLE IF NOT EXISTS users("
    " user TEXT NOT NULL,"
    " key BLOB NOT NULL,"
    " expires_at INTEGER NOT NULL,"
    " PRIMARY KEY(user, key)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS users_expires ON users(expires_at);";

/* Schema version 1 indexed expires_at itself; its databases get gc_at
 * (the ALTER puts it last, where new databases have it too). */
static const char migrate_v1_sql[] =
    "ALTER TABLE sessions ADD COLUMN gc_at INTEGER NOT NULL DEFAULT 0;"
    "UPDATE sessions SET gc_at = (expires_at + 65535) / 65536 * 65536"
    " WHERE expires_at > 0;"
    "DROP INDEX IF EXISTS sessions_expires;";

enum {
  S_LOAD,
  S_CREATE,
  S_UPDATE,
  S_UPDATE_REFILE,
  S_TOUCH,
  S_TOUCH_REFILE,
  S_REMOVE,
  S_UADD,
  S_ULIST,
  S_UREM,
  S_GC_SESSIONS,
  S_GC_REFILE,
  S_GC_WALK,
  S_GC_WALK_DELETE,
  S_GC_USERS,
  S_ITER,
  S_COUNT,
  S_SCAN,
  S_LIVE,
  S_USCAN,
  S_N
};

static const char *const stmt_sql[S_N] = {
    [S_LOAD] = "SELECT version, expires_at, touched_at, user, blob"
               " FROM sessions WHERE key = ?1 AND expires_at > ?2",
    /* Create: a new row, or over a dead one; a live one makes the
     * DO UPDATE's WHERE false, so changes() is 0: a conflict. */
    [S_CREATE] =
        "INSERT INTO sessions(key, version, expires_at, touched_at, user,"
        " blob, gc_at) VALUES(?1, 1, ?2, ?3, ?4, ?5, ?7)"
        " ON CONFLICT(key) DO UPDATE SET version = 1,"
        " expires_at = excluded.expires_at, touched_at = excluded.touched_at,"
        " user = excluded.user, blob = excluded.blob, gc_at = excluded.gc_at"
        " WHERE sessions.expires_at <= ?6",
    /* The usual update: the new expiry has the row's gc_at (?8), so the
     * statement leaves gc_at and its index alone. When it finds no row,
     * the REFILE form (same compare-and-set, gc_at written) decides. */
    [S_UPDATE] = "UPDATE sessions SET version = version + 1, expires_at = ?3,"
                 " touched_at = ?4, user = ?5, blob = ?6"
                 " WHERE key = ?1 AND version = ?2 AND expires_at > ?7"
                 " AND gc_at = ?8",
    [S_UPDATE_REFILE] =
        "UPDATE sessions SET version = version + 1, expires_at = ?3,"
        " touched_at = ?4, user = ?5, blob = ?6, gc_at = ?8"
        " WHERE key = ?1 AND version = ?2 AND expires_at > ?7",
    [S_TOUCH] = "UPDATE sessions SET touched_at = ?2, expires_at = ?3"
                " WHERE key = ?1 AND expires_at > ?4 AND gc_at = ?5",
    [S_TOUCH_REFILE] = "UPDATE sessions SET touched_at = ?2, expires_at = ?3,"
                       " gc_at = ?5 WHERE key = ?1 AND expires_at > ?4",
    [S_REMOVE] = "DELETE FROM sessions WHERE key = ?1",
    [S_UADD] = "INSERT INTO users(user, key, expires_at) VALUES(?1, ?2, ?3)"
               " ON CONFLICT(user, key) DO UPDATE"
               " SET expires_at = excluded.expires_at",
    [S_ULIST] = "SELECT key FROM users WHERE user = ?1 AND expires_at > ?2",
    [S_UREM] = "DELETE FROM users WHERE user = ?1 AND key = ?2",
    /* The deleted rows' keys and users come back (RETURNING), so gc can
     * name what it removed without a second read. */
    /* gc_at <= now: dead by construction; the expires_at test keeps a
     * row whose gc_at is behind its expiry (see the schema), which the
     * REFILE statement then files under its own grain. */
    [S_GC_SESSIONS] =
        "DELETE FROM sessions WHERE key IN (SELECT key FROM sessions"
        " WHERE gc_at <= ?1 ORDER BY gc_at LIMIT ?2) AND expires_at <= ?1"
        " RETURNING key, user",
    [S_GC_REFILE] =
        "UPDATE sessions SET gc_at = (expires_at + 65535) / 65536 * 65536"
        " WHERE key IN (SELECT key FROM sessions WHERE gc_at <= ?1"
        " ORDER BY gc_at LIMIT ?2) AND expires_at > ?1",
    /* The grain that holds 'now' has dead rows and live ones: gc walks
     * it in key order, a bounded step at a time from the walk's cursor
     * (?2), and deletes the dead rows of each step. */
    [S_GC_WALK] = "SELECT count(*), max(key) FROM (SELECT key FROM sessions"
                  " WHERE gc_at = ?1 AND key > ?2 ORDER BY key LIMIT ?3)",
    [S_GC_WALK_DELETE] =
        "DELETE FROM sessions WHERE gc_at = ?1 AND key > ?2 AND key <= ?3"
        " AND expires_at <= ?4 RETURNING key, user",
    [S_GC_USERS] = "DELETE FROM users WHERE (user, key) IN (SELECT user, key"
                   " FROM users WHERE expires_at <= ?1"
                   " ORDER BY expires_at LIMIT ?2)",
    [S_ITER] = "SELECT key, version, expires_at, touched_at, user, blob"
               " FROM sessions WHERE expires_at > ?1",
    /* Rows and their payload bytes (key, blob, user and 24 bytes of
     * integers): a scan, for occasional monitoring only. */
    [S_COUNT] = "SELECT count(*), total(length(blob) + length(user) + 56)"
                " FROM sessions",
    /* Every row, live or dead, in key order after the cursor's key. */
    [S_SCAN] = "SELECT key, version, expires_at, touched_at, user, blob"
               " FROM sessions WHERE key > ?1 ORDER BY key LIMIT ?2",
    /* Live sessions, for the guest bound (max_sessions), paid by
     * anonymous creates only: a row filed past now + one grain (?2) is
     * live (an index-only count); the rows of the grains in between are
     * checked one by one. */
    [S_LIVE] = "SELECT (SELECT count(*) FROM sessions WHERE gc_at > ?2)"
               " + (SELECT count(*) FROM sessions WHERE gc_at > ?1"
               " AND gc_at <= ?2 AND expires_at > ?1)",
    /* Index entries from the cursor's (expires_at ?1, key ?2) on, in
     * that order, through the expiry index: user_scan. */
    [S_USCAN] = "SELECT user, key, expires_at FROM users"
                " WHERE expires_at >= ?1 AND (expires_at > ?1 OR key >= ?2)"
                " ORDER BY expires_at, key, CAST(user AS BLOB) LIMIT ?3",
};

/* One connection with its statements, used by one thread at a time. */
typedef struct conn {
  sqlite3 *db;
  sqlite3_stmt *st[S_N];
  unsigned gen; /* sessio__forks() when opened (see conn_get) */
  int writer;   /* the store's 'writer': used under write_mu only */
  struct conn *next;
} conn;

typedef struct sqlite_store {
  sessio_store base;
  char *path;
  int sync_full;
  /* ?locking=exclusive: one connection, which holds the database's lock
   * for the store's life (PRAGMA locking_mode=EXCLUSIVE, the WAL index in
   * its own memory): no lock calls per transaction, and no other process
   * can open the file. Every call goes through the writer. */
  int exclusive;
  int busy_ms;             /* ?timeout_ms=MS */
  pthread_mutex_t pool_mu; /* guards 'pool' */
  conn *pool;              /* idle connections */
  /* SQLite lets one writer in at a time anyway; making this process's
   * threads queue on a mutex instead of in SQLite's busy handler (which
   * sleeps in steps of milliseconds) keeps writes fast under contention.
   * Other processes still wait through the busy timeout. */
  pthread_mutex_t write_mu;
  /* The connection every write of this process goes through, under
   * write_mu (NULL until needed, or after an error). SQLite keeps a
   * connection's page cache only while no other connection has written;
   * one writer per process keeps its cache warm, so a write reads no page
   * back from the files (several connections writing in turn each re-read
   * theirs), and a load that finds write_mu free uses it too. */
  conn *writer;
  /* gc's walk of the grain that holds 'now' (see q_gc): the grain, and
   * the last key examined ('walk_len' 0: from the start). */
  pthread_mutex_t walk_mu;
  int64_t walk_grain;
  uint8_t walk_key[SESSIO_KEY_BYTES];
  int walk_len;
  _Atomic uint64_t expired;
  uint64_t max_sessions; /* ?max_sessions=N: guests refused past N; 0 none */
} sqlite_store;

/* Connections inherited through fork() belong to the parent: the child
 * must neither use nor close them (SQLite's POSIX locks are per process).
 * They are parked here, still reachable, and never touched again. */
static pthread_mutex_t parked_mu = PTHREAD_MUTEX_INITIALIZER;
static conn *parked;

/* A connection remembers sessio__forks() when it was opened (helpers.h). */

static sessio_err map_rc(int rc) {
  switch (rc & 0xff) {
  case SQLITE_OK:
  case SQLITE_ROW:
  case SQLITE_DONE: return SESSIO_OK;
  case SQLITE_NOMEM: return SESSIO_ENOMEM;
  case SQLITE_BUSY:
  case SQLITE_LOCKED: return SESSIO_EUNAVAIL; /* busy timeout ran out */
  case SQLITE_CORRUPT:
  case SQLITE_NOTADB: return SESSIO_ECORRUPT;
  case SQLITE_TOOBIG: return SESSIO_ETOOBIG;
  default: return SESSIO_EIO; /* IOERR, FULL, CANTOPEN, READONLY, ... */
  }
}

static void conn_free(conn *c) {
  for (int i = 0; i < S_N; i++) sqlite3_finalize(c->st[i]);
  sqlite3_close_v2(c->db);
  free(c);
}

static sessio_err exec(sqlite3 *db, const char *sql) {
  return map_rc(sqlite3_exec(db, sql, NULL, NULL, NULL));
}

static sessio_err db_setup(sqlite3 *db, int busy_ms);

/* The busy handler: SQLite's own sleeps at least a millisecond at a time,
 * far longer than a commit here (about 20 us), so waits start at 20 us and
 * double up to 160 us, then stay at 160 us until 'busy_ms' in all; then the
 * call fails with SQLITE_BUSY, reported as SESSIO_EUNAVAIL. Another
 * process's write lock is held for one commit, a few tens of microseconds:
 * longer sleeps (this handler went up to 2 ms) leave the lock free while
 * the waiting processes sleep, so several shops on one file served fewer
 * requests than one. */
static int busy_wait(void *ud, int count) {
  const sqlite_store *ss = ud;
  long waited = count <= 3 ? 20L * ((1L << count) - 1)
                           : 140L + (long)(count - 3) * 160L;
  if (waited >= (long)ss->busy_ms * 1000L) return 0;
  usleep(count < 3 ? (useconds_t)(20L << count) : 160);
  return 1;
}

/* Opens a connection and prepares its statements; with 'setup', first
 * makes sure the database is in WAL mode and has the schema. */
static sessio_err conn_open(sqlite_store *ss, int setup, conn **out) {
  sessio_err rc;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
#ifdef SQLITE_OPEN_NOFOLLOW
  flags |= SQLITE_OPEN_NOFOLLOW;
#endif
  conn *c = calloc(1, sizeof *c);
  if (c == NULL) return SESSIO_ENOMEM;
  c->gen = sessio__forks();
  int r = sqlite3_open_v2(ss->path, &c->db, flags, NULL);
  if (r != SQLITE_OK) {
    rc = r == SQLITE_NOMEM ? SESSIO_ENOMEM : map_rc(r);
    if (rc == SESSIO_OK) rc = SESSIO_EIO;
    goto fail_conn;
  }
  sqlite3_extended_result_codes(c->db, 1);
  sqlite3_busy_handler(c->db, busy_wait, ss);
  /* Before the first access, so that SQLite keeps the WAL index in this
   * connection's memory instead of the shared -shm file. */
  if (ss->exclusive &&
      (rc = exec(c->db, "PRAGMA locking_mode=EXCLUSIVE")) != SESSIO_OK)
    goto fail_conn;
  rc = exec(c->db, ss->sync_full ? "PRAGMA synchronous=FULL"
                                 : "PRAGMA synchronous=NORMAL");
  if (rc != SESSIO_OK) goto fail_conn;
  /* SQLite's automatic checkpoint, inside the commit that takes the WAL
   * past 4000 pages (16 MiB, four times its default), while this process's
   * writes wait on write_mu: the checkpoint copies everything, so the next
   * commit starts the WAL over and the file stays within 16 MiB. A PASSIVE
   * checkpoint on another connection beside the commits (tried in this
   * release) rarely caught up with them: the WAL grew to 1.5 GB in 40 s of
   * cart adds, and with sync=full every flush also extended the file. The
   * WAL file is cut back to 64 MiB after a checkpoint if it grew past it. */
  rc = exec(c->db, "PRAGMA wal_autocheckpoint=4000;"
                   "PRAGMA journal_size_limit=67108864");
  if (rc != SESSIO_OK) goto fail_conn;
  if (setup && (rc = db_setup(c->db, ss->busy_ms)) != SESSIO_OK) goto fail_conn;
  for (int i = 0; i < S_N; i++) {
    r = sqlite3_prepare_v3(c->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                           &c->st[i], NULL);
    if (r != SQLITE_OK) {
      rc = map_rc(r);
      if (rc == SESSIO_OK) rc = SESSIO_EIO;
      goto fail_conn;
    }
  }
  *out = c;
  return SESSIO_OK;
fail_conn:
  conn_free(c);
  return rc;
}

static void park(conn *c) {
  pthread_mutex_lock(&parked_mu);
  c->next = parked;
  parked = c;
  pthread_mutex_unlock(&parked_mu);
}

/* Takes an idle connection of this process, or opens one. */
static sessio_err writer_get(sqlite_store *ss, conn **out);

static sessio_err conn_get(sqlite_store *ss, conn **out) {
  if (ss->exclusive) return writer_get(ss, out);
  unsigned me = sessio__forks();
  pthread_mutex_lock(&ss->pool_mu);
  conn *c;
  while ((c = ss->pool) != NULL) {
    ss->pool = c->next;
    if (c->gen == me) break;
    park(c);
  }
  pthread_mutex_unlock(&ss->pool_mu);
  if (c != NULL) {
    *out = c;
    return SESSIO_OK;
  }
  return conn_open(ss, 0, out);
}

/* Returns 'c' to the pool; after an error that may have left it broken
 * (anything but a busy timeout), closes it so the next call starts afresh. */
static void writer_put(sqlite_store *ss, conn *c, sessio_err rc);

static void conn_put(sqlite_store *ss, conn *c, sessio_err rc) {
  if (c->writer) {
    writer_put(ss, c, rc);
    return;
  }
  if (rc != SESSIO_OK && rc != SESSIO_EUNAVAIL && rc != SESSIO_ECONFLICT) {
    conn_free(c);
    return;
  }
  pthread_mutex_lock(&ss->pool_mu);
  c->next = ss->pool;
  ss->pool = c;
  pthread_mutex_unlock(&ss->pool_mu);
}

/* The writer connection, with write_mu held (opened if needed; one
 * inherited through fork() is parked). Undone by writer_put. */
static sessio_err writer_locked(sqlite_store *ss, conn **out) {
  conn *c = ss->writer;
  if (c != NULL && c->gen != sessio__forks()) {
    park(c);
    c = ss->writer = NULL;
  }
  if (c == NULL) {
    sessio_err rc = conn_open(ss, 0, &c);
    if (rc != SESSIO_OK) return rc;
    c->writer = 1;
    ss->writer = c;
  }
  *out = c;
  return SESSIO_OK;
}

static sessio_err writer_get(sqlite_store *ss, conn **out) {
  pthread_mutex_lock(&ss->write_mu);
  sessio_err rc = writer_locked(ss, out);
  if (rc != SESSIO_OK) pthread_mutex_unlock(&ss->write_mu);
  return rc;
}

/* As conn_put, for the writer: closed after an error that may have left
 * it broken (the next write opens another); write_mu released. */
static void writer_put(sqlite_store *ss, conn *c, sessio_err rc) {
  if (rc != SESSIO_OK && rc != SESSIO_EUNAVAIL && rc != SESSIO_ECONFLICT &&
      rc != SESSIO_EFULL) {
    conn_free(c);
    ss->writer = NULL;
  }
  pthread_mutex_unlock(&ss->write_mu);
}

/* A connection for a read: the writer when write_mu is free (its cache
 * is warm), else one of the pool. Given back by read_put. */
static sessio_err read_get(sqlite_store *ss, conn **out) {
  if (pthread_mutex_trylock(&ss->write_mu) == 0) {
    if (writer_locked(ss, out) == SESSIO_OK) return SESSIO_OK;
    pthread_mutex_unlock(&ss->write_mu);
  }
  return conn_get(ss, out);
}

static void read_put(sqlite_store *ss, conn *c, sessio_err rc) {
  if (c->writer)
    writer_put(ss, c, rc);
  else
    conn_put(ss, c, rc);
}

/* Runs a prepared write statement to its end under the process's write
 * mutex (held already when 'c' is the writer); '*changes' gets the rows
 * it changed. Resets the statement. */
static sessio_err run_write(sqlite_store *ss, conn *c, sqlite3_stmt *st,
                            int *changes) {
  if (!c->writer) pthread_mutex_lock(&ss->write_mu);
  int r = sqlite3_step(st);
  if (changes) *changes = sqlite3_changes(c->db);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (!c->writer) pthread_mutex_unlock(&ss->write_mu);
  return r == SQLITE_DONE ? SESSIO_OK
                          : map_rc(r == SQLITE_ROW ? SQLITE_IOERR : r);
}

/* gc_at of a row that expires at 'expires_at': rounded up to the grain
 * (so never below it), as in the SQL of migrate_v1_sql and S_GC_REFILE. */
static int64_t gc_at_of(int64_t expires_at) {
  if (expires_at <= 0) return 0;
  if (expires_at > INT64_MAX - GC_GRAIN_MS) return INT64_MAX;
  return (expires_at + GC_GRAIN_MS - 1) / GC_GRAIN_MS * GC_GRAIN_MS;
}

static void bind_key(sqlite3_stmt *st, int i, const sessio_key *key) {
  sqlite3_bind_blob(st, i, key->b, SESSIO_KEY_BYTES, SQLITE_STATIC);
}

static void bind_blob(sqlite3_stmt *st, int i, const uint8_t *p, size_t n) {
  /* A non-NULL pointer stores an empty BLOB rather than NULL. */
  sqlite3_bind_blob64(st, i, p ? (const void *)p : (const void *)"", n,
                      SQLITE_STATIC);
}

/* Fills 'out' from the row of 'st' whose columns start at 'col':
 * version, expires_at, touched_at, user, blob. A row of the wrong shape
 * (not written by us) is SESSIO_ECORRUPT. */
static sessio_err row_to_record(sqlite3_stmt *st, int col, int want_blob,
                                sessio_record *out) {
  memset(out, 0, sizeof *out);
  if (sqlite3_column_type(st, col) != SQLITE_INTEGER ||
      sqlite3_column_type(st, col + 1) != SQLITE_INTEGER ||
      sqlite3_column_type(st, col + 2) != SQLITE_INTEGER ||
      sqlite3_column_type(st, col + 3) != SQLITE_TEXT ||
      sqlite3_column_type(st, col + 4) != SQLITE_BLOB)
    return SESSIO_ECORRUPT;
  sqlite3_int64 v = sqlite3_column_int64(st, col);
  if (v <= 0) return SESSIO_ECORRUPT;
  const unsigned char *user = sqlite3_column_text(st, col + 3);
  int ulen = sqlite3_column_bytes(st, col + 3);
  if (user == NULL || ulen < 0 || ulen > SESSIO_USER_MAX ||
      memchr(user, '\0', (size_t)ulen) != NULL)
    return SESSIO_ECORRUPT;
  out->version = (uint64_t)v;
  out->expires_at = sqlite3_column_int64(st, col + 1);
  out->touched_at = sqlite3_column_int64(st, col + 2);
  memcpy(out->user, user, (size_t)ulen);
  out->user[ulen] = '\0';
  if (want_blob) {
    const void *b = sqlite3_column_blob(st, col + 4);
    int blen = sqlite3_column_bytes(st, col + 4);
    if (blen < 0) return SESSIO_ECORRUPT;
    out->blob = malloc(blen > 0 ? (size_t)blen : 1);
    if (out->blob == NULL) return SESSIO_ENOMEM;
    if (blen > 0) memcpy(out->blob, b, (size_t)blen);
    out->blob_len = (size_t)blen;
  }
  return SESSIO_OK;
}

/* ---- the methods -------------------------------------------------------- */

static sessio_err q_load(sessio_store *st, const sessio_key *key, int64_t now,
                         sessio_record *out, int *found) {
  sqlite_store *ss = (sqlite_store *)st;
  conn *c;
  *found = 0;
  sessio_err rc = read_get(ss, &c);
  if (rc != SESSIO_OK) return rc;
  sqlite3_stmt *s = c->st[S_LOAD];
  bind_key(s, 1, key);
  sqlite3_bind_int64(s, 2, now);
  int r = sqlite3_step(s);
  if (r == SQLITE_ROW) {
    rc = row_to_record(s, 0, 1, out);
    if (rc == SESSIO_OK)
      *found = 1;
    else
      sessio_record_clear(out);
  } else if (r != SQLITE_DONE) {
    rc = map_rc(r);
  }
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  read_put(ss, c, rc == SESSIO_ECORRUPT ? SESSIO_OK : rc);
  return rc;
}

static sessio_err q_save(sessio_store *st, const sessio_key *key,
                         const sessio_record *rec, uint64_t expected,
                         int64_t now, uint64_t *new_version) {
  sqlite_store *ss = (sqlite_store *)st;
  conn *c;
  int changes = 0;
  if ((rec->blob == NULL && rec->blob_len > 0) || expected >= INT64_MAX)
    return SESSIO_EINVAL;
  sessio_err rc;
  sqlite3_stmt *s;
  if (expected == 0 && ss->max_sessions && rec->user[0] == '\0') {
    /* S29: a new anonymous session over the bound is refused; signed-in
     * ones are always written (a guest flood cannot push users out). The
     * count runs on a reader, so writes do not wait for it. */
    if ((rc = conn_get(ss, &c)) != SESSIO_OK) return rc;
    s = c->st[S_LIVE];
    sqlite3_bind_int64(s, 1, now);
    sqlite3_bind_int64(
        s, 2, now < INT64_MAX - GC_GRAIN_MS ? now + GC_GRAIN_MS : INT64_MAX);
    int r = sqlite3_step(s);
    uint64_t live = r == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(s, 0) : 0;
    if (r != SQLITE_ROW)
      rc = map_rc(r);
    else if (live >= ss->max_sessions)
      rc = SESSIO_EFULL;
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    conn_put(ss, c, rc == SESSIO_EFULL ? SESSIO_OK : rc);
    if (rc != SESSIO_OK) return rc;
  }
  if ((rc = writer_get(ss, &c)) != SESSIO_OK) return rc;
  int64_t gc_at = gc_at_of(rec->expires_at);
  if (expected == 0) {
    s = c->st[S_CREATE];
    bind_key(s, 1, key);
    sqlite3_bind_int64(s, 2, rec->expires_at);
    sqlite3_bind_int64(s, 3, rec->touched_at);
    sqlite3_bind_text(s, 4, rec->user, -1, SQLITE_STATIC);
    bind_blob(s, 5, rec->blob, rec->blob_len);
    sqlite3_bind_int64(s, 6, now);
    sqlite3_bind_int64(s, 7, gc_at);
    rc = run_write(ss, c, s, &changes);
  } else {
    /* First without moving gc_at; when that finds no row (the expiry
     * moved to another grain, or a conflict), the form that files the
     * row again, itself a full compare-and-set, decides. */
    for (int i = S_UPDATE; i <= S_UPDATE_REFILE; i++) {
      s = c->st[i];
      bind_key(s, 1, key);
      sqlite3_bind_int64(s, 2, (sqlite3_int64)expected);
      sqlite3_bind_int64(s, 3, rec->expires_at);
      sqlite3_bind_int64(s, 4, rec->touched_at);
      sqlite3_bind_text(s, 5, rec->user, -1, SQLITE_STATIC);
      bind_blob(s, 6, rec->blob, rec->blob_len);
      sqlite3_bind_int64(s, 7, now);
      sqlite3_bind_int64(s, 8, gc_at);
      rc = run_write(ss, c, s, &changes);
      if (rc != SESSIO_OK || changes == 1) break;
    }
  }
  if (rc == SESSIO_OK) {
    if (changes == 1)
      *new_version = expected + 1;
    else
      rc = SESSIO_ECONFLICT;
  }
  writer_put(ss, c, rc);
  return rc;
}

static sessio_err q_touch(sessio_store *st, const sessio_key *key,
                          int64_t touched_at, int64_t expires_at, int64_t now,
                          int *found) {
  sqlite_store *ss = (sqlite_store *)st;
  conn *c;
  int changes = 0;
  *found = 0;
  sessio_err rc = writer_get(ss, &c);
  if (rc != SESSIO_OK) return rc;
  /* As in save: gc_at is written only when the expiry changes grain. */
  for (int i = S_TOUCH; i <= S_TOUCH_REFILE; i++) {
    sqlite3_stmt *s = c->st[i];
    bind_key(s, 1, key);
    sqlite3_bind_int64(s, 2, touched_at);
    sqlite3_bind_int64(s, 3, expires_at);
    sqlite3_bind_int64(s, 4, now);
    sqlite3_bind_int64(s, 5, gc_at_of(expires_at));
    rc = run_write(ss, c, s, &changes);
    if (rc != SESSIO_OK || changes == 1) break;
  }
  if (rc == SESSIO_OK) *found = changes == 1;
  writer_put(ss, c, rc);
  return rc;
}

static sessio_err q_remove(sessio_store *st, const sessio_key *key, int64_t now,
                           int *removed) {
  sqlite_store *ss = (sqlite_store *)st;
  (void)now; /* the row goes, live or dead */
  conn *c;
  int changes = 0;
  *removed = 0;
  sessio_err rc = writer_get(ss, &c);
  if (rc != SESSIO_OK) return rc;
  sqlite3_stmt *s = c->st[S_REMOVE];
  bind_key(s, 1, key);
  rc = run_write(ss, c, s, &changes);
  if (rc == SESSIO_OK) *removed = changes == 1;
  writer_put(ss, c, rc);
  return rc;
}

static sessio_err q_user_add(sessio_store *st, const char *user,
                             const sessio_key *key, int64_t expires_at,
                             int64_t now) {
  sqlite_store *ss = (sqlite_store *)st;
  (void)now; /* the row holds expires_at; user_list and gc compare it */
  conn *c;
  sessio_err rc = writer_get(ss, &c);
  if (rc != SESSIO_OK) return rc;
  sqlite3_stmt *s = c->st[S_UADD];
  sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
  bind_key(s, 2, key);
  sqlite3_bind_int64(s, 3, expires_at);
  rc = run_write(ss, c, s, NULL);
  writer_put(ss, c, rc);
  return rc;
}

static sessio_err q_user_list(sessio_store *st, const char *user, int64_t now,
                              sessio_key **keys, size_t *n) {
  sqlite_store *ss = (sqlite_store *)st;
  conn *c;
  size_t cap = 0;
  *keys = NULL;
  *n = 0;
  sessio_err rc = conn_get(ss, &c);
  if (rc != SESSIO_OK) return rc;
  sqlite3_stmt *s = c->st[S_ULIST];
  sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, now);
  int r;
  while ((r = sqlite3_step(s)) == SQLITE_ROW) {
    if (sqlite3_column_type(s, 0) != SQLITE_BLOB ||
        sqlite3_column_bytes(s, 0) != SESSIO_KEY_BYTES)
      continue; /* not ours: skipped, the index is repaired on read */
    if (*n == cap) {
      size_t ncap = cap ? cap * 2 : 8;
      sessio_key *k = realloc(*keys, ncap * sizeof *k);
      if (k == NULL) {
        rc = SESSIO_ENOMEM;
        break;
      }
      *keys = k;
      cap = ncap;
    }
    memcpy((*keys)[*n].b, sqlite3_column_blob(s, 0), SESSIO_KEY_BYTES);
    (*n)++;
  }
  if (rc == SESSIO_OK && r != SQLITE_DONE) rc = map_rc(r);
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  if (rc != SESSIO_OK || *n == 0) {
    free(*keys);
    *keys = NULL;
    *n = 0;
  }
  conn_put(ss, c, rc);
  return rc;
}

static sessio_err q_user_remove(sessio_store *st, const char *user,
                                const sessio_key *key) {
  sqlite_store *ss = (sqlite_store *)st;
  conn *c;
  sessio_err rc = writer_get(ss, &c);
  if (rc != SESSIO_OK) return rc;
  sqlite3_stmt *s = c->st[S_UREM];
  sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
  bind_key(s, 2, key);
  rc = run_write(ss, c, s, NULL);
  writer_put(ss, c, rc);
  return rc;
}

/* Runs the sessions' gc statement: deletes and reports (RETURNING) each
 * removed row to 'cb' (may be NULL) under the write lock; '*changes' the
 * rows deleted. */
static sessio_err run_gc_sessions(sqlite_store *ss, conn *c, sqlite3_stmt *s,
                                  sessio_store_collect_fn cb, void *ud,
                                  int *changes) {
  int r;
  *changes = 0;
  if (!c->writer) pthread_mutex_lock(&ss->write_mu);
  while ((r = sqlite3_step(s)) == SQLITE_ROW) {
    (*changes)++;
    if (cb == NULL || sqlite3_column_type(s, 0) != SQLITE_BLOB ||
        sqlite3_column_bytes(s, 0) != SESSIO_KEY_BYTES)
      continue;
    sessio_key key;
    char user[SESSIO_USER_MAX + 1] = "";
    const unsigned char *u = sqlite3_column_text(s, 1);
    int ulen = sqlite3_column_bytes(s, 1);
    memcpy(key.b, sqlite3_column_blob(s, 0), SESSIO_KEY_BYTES);
    if (u != NULL && ulen > 0 && ulen <= SESSIO_USER_MAX &&
        memchr(u, '\0', (size_t)ulen) == NULL) {
      memcpy(user, u, (size_t)ulen);
      user[ulen] = '\0';
    }
    cb(ud, &key, user);
  }
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  if (!c->writer) pthread_mutex_unlock(&ss->write_mu);
  return r == SQLITE_DONE ? SESSIO_OK : map_rc(r);
}

/* Deletes expired rows with statement 'which' in batches of at most
 * GC_BATCH, within the work left, naming the sessions removed to 'cb'.
 * '*clean' is 1 when a batch came back short: no expired row is left
 * behind it. With 'refile' (>= 0), a short batch is followed by that
 * statement, which files the live rows the batch met (a gc_at behind
 * their expiry) under their own grain, so they hold up no later call. */
static sessio_err gc_table(sqlite_store *ss, conn *c, int which, int refile,
                           int64_t now, size_t max_work,
                           sessio_store_collect_fn cb, void *ud, size_t *work,
                           size_t *deleted, int *clean) {
  *clean = 0;
  while (*work < max_work) {
    size_t lim = max_work - *work;
    if (lim > GC_BATCH) lim = GC_BATCH;
    sqlite3_stmt *s = c->st[which];
    int changes = 0;
    sqlite3_bind_int64(s, 1, now);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)lim);
    sessio_err rc = which == S_GC_SESSIONS
                        ? run_gc_sessions(ss, c, s, cb, ud, &changes)
                        : run_write(ss, c, s, &changes);
    if (rc != SESSIO_OK) return rc;
    /* The index probe costs one unit even when it finds nothing. */
    *work += changes > 0 ? (size_t)changes : 1;
    *deleted += (size_t)changes;
    if ((size_t)changes < lim) {
      if (refile >= 0 && *work < max_work) {
        int moved = 0;
        s = c->st[refile];
        sqlite3_bind_int64(s, 1, now);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)(max_work - *work));
        if ((rc = run_write(ss, c, s, &moved)) != SESSIO_OK) return rc;
        *work += (size_t)moved;
      }
      *clean = 1;
      break;
    }
  }
  return SESSIO_OK;
}

/* One step of the walk of the grain that holds 'now' (rows expiring
 * within the next GC_GRAIN_MS, dead and live mixed): examines at most
 * 'max_work' - '*work' rows from the cursor and deletes the dead ones,
 * naming them to 'cb'. '*clean' is 1 when the walk reached the end of
 * the grain. */
static sessio_err gc_walk(sqlite_store *ss, conn *c, int64_t now,
                          size_t max_work, sessio_store_collect_fn cb, void *ud,
                          size_t *work, size_t *deleted, int *clean) {
  sessio_err rc = SESSIO_OK;
  int64_t grain = gc_at_of(now);
  *clean = 1;
  if (grain <= now) return SESSIO_OK; /* now on a boundary: all dead */
  pthread_mutex_lock(&ss->walk_mu);
  if (ss->walk_grain != grain) {
    ss->walk_grain = grain;
    ss->walk_len = 0;
  }
  size_t lim = max_work - *work;
  if (lim > GC_BATCH) lim = GC_BATCH;
  sqlite3_stmt *s = c->st[S_GC_WALK];
  sqlite3_bind_int64(s, 1, grain);
  sqlite3_bind_blob(s, 2, ss->walk_key, ss->walk_len, SQLITE_STATIC);
  sqlite3_bind_int64(s, 3, (sqlite3_int64)lim);
  int r = sqlite3_step(s);
  size_t seen = 0;
  uint8_t last[SESSIO_KEY_BYTES];
  int last_len = 0;
  if (r == SQLITE_ROW) {
    seen = (size_t)sqlite3_column_int64(s, 0);
    int n = sqlite3_column_bytes(s, 1);
    if (seen > 0 && n > 0 && n <= SESSIO_KEY_BYTES) {
      memcpy(last, sqlite3_column_blob(s, 1), (size_t)n);
      last_len = n;
    }
  } else {
    rc = map_rc(r);
  }
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  if (rc == SESSIO_OK && last_len > 0) {
    int changes = 0;
    s = c->st[S_GC_WALK_DELETE];
    sqlite3_bind_int64(s, 1, grain);
    sqlite3_bind_blob(s, 2, ss->walk_key, ss->walk_len, SQLITE_STATIC);
    sqlite3_bind_blob(s, 3, last, last_len, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, now);
    rc = run_gc_sessions(ss, c, s, cb, ud, &changes);
    if (rc == SESSIO_OK) *deleted += (size_t)changes;
  }
  if (rc == SESSIO_OK) {
    *work += seen > 0 ? seen : 1;
    if (seen < lim) {
      ss->walk_len = 0; /* the end of the grain: the next pass starts over */
    } else {
      memcpy(ss->walk_key, last, (size_t)last_len);
      ss->walk_len = last_len;
      *clean = 0;
    }
  }
  pthread_mutex_unlock(&ss->walk_mu);
  return rc;
}

static sessio_err q_collect(sessio_store *st, int64_t now, size_t max_work,
                            sessio_store_collect_fn cb, void *ud,
                            size_t *removed, int *done) {
  sqlite_store *ss = (sqlite_store *)st;
  conn *c;
  size_t work = 0, dead = 0, stale = 0;
  int clean_s = 0, clean_w = 0, clean_u = 0;
  *done = 0;
  if (max_work == 0) return SESSIO_OK;
  sessio_err rc = conn_get(ss, &c);
  if (rc != SESSIO_OK) return rc;
  /* The expiry index is the cursor: every call starts at the oldest
   * grain that has passed (all its rows are dead), then walks the grain
   * that holds 'now'; a pass is over when both are done. */
  rc = gc_table(ss, c, S_GC_SESSIONS, S_GC_REFILE, now, max_work, cb, ud, &work,
                &dead, &clean_s);
  if (rc == SESSIO_OK && clean_s && work < max_work)
    rc = gc_walk(ss, c, now, max_work, cb, ud, &work, &dead, &clean_w);
  if (rc == SESSIO_OK && clean_w && work < max_work)
    rc = gc_table(ss, c, S_GC_USERS, -1, now, max_work, NULL, NULL, &work,
                  &stale, &clean_u);
  *removed += dead;
  atomic_fetch_add(&ss->expired, dead);
  if (rc == SESSIO_OK && clean_s && clean_w && clean_u) *done = 1;
  conn_put(ss, c, rc);
  return rc;
}

static sessio_err q_gc(sessio_store *st, int64_t now, size_t max_work,
                       size_t *removed, int *done) {
  return q_collect(st, now, max_work, NULL, NULL, removed, done);
}

/* Scan cursor: the hex of the last key visited ("" before the first). */
static sessio_err q_scan(sessio_store *st, sessio_store_cursor *cur,
                         size_t max_work, sessio_store_iter_fn cb, void *ud,
                         int *done) {
  sqlite_store *ss = (sqlite_store *)st;
  uint8_t last[SESSIO_KEY_BYTES];
  size_t last_len = 0, rows = 0;
  conn *c;
  *done = 0;
  if (cur->text[0]) {
    if (strlen(cur->text) != 2 * SESSIO_KEY_BYTES ||
        !sessio__unhex(cur->text, SESSIO_KEY_BYTES, last))
      return SESSIO_EINVAL;
    last_len = SESSIO_KEY_BYTES;
  }
  if (max_work == 0) max_work = 1;
  sessio_err rc = conn_get(ss, &c);
  if (rc != SESSIO_OK) return rc;
  sqlite3_stmt *s = c->st[S_SCAN];
  sqlite3_bind_blob(s, 1, last, (int)last_len, SQLITE_TRANSIENT);
  sqlite3_bind_int64(
      s, 2, (sqlite3_int64)(max_work < INT32_MAX ? max_work : INT32_MAX));
  int r;
  while ((r = sqlite3_step(s)) == SQLITE_ROW) {
    sessio_key key;
    sessio_record rec;
    if (sqlite3_column_type(s, 0) != SQLITE_BLOB ||
        sqlite3_column_bytes(s, 0) != SESSIO_KEY_BYTES)
      continue;
    memcpy(key.b, sqlite3_column_blob(s, 0), SESSIO_KEY_BYTES);
    memcpy(last, key.b, SESSIO_KEY_BYTES);
    last_len = SESSIO_KEY_BYTES;
    rows++;
    sessio_err e = row_to_record(s, 1, 0, &rec);
    if (e == SESSIO_ECORRUPT) continue;
    if (e != SESSIO_OK) {
      rc = e;
      break;
    }
    rec.blob = (uint8_t *)sqlite3_column_blob(s, 5);
    rec.blob_len = (size_t)sqlite3_column_bytes(s, 5);
    (void)cb(ud, &key, &rec);
  }
  if (rc == SESSIO_OK && r != SQLITE_DONE && r != SQLITE_ROW) rc = map_rc(r);
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  conn_put(ss, c, rc);
  if (rc != SESSIO_OK) return rc;
  if (rows < max_work) {
    *done = 1;
    cur->text[0] = '\0';
  } else {
    sessio__hex(last, SESSIO_KEY_BYTES, cur->text);
  }
  return SESSIO_OK;
}

/* The user index in (expires_at, key, user) order; the cursor is
 * sessio__ucur (helpers.h). Rows of the wrong shape are passed over. */
static sessio_err q_user_scan(sessio_store *st, sessio_store_cursor *cur,
                              size_t max_work, sessio_store_user_iter_fn cb,
                              void *ud, int *done) {
  sqlite_store *ss = (sqlite_store *)st;
  sessio__ucur uc;
  size_t rows = 0;
  conn *c;
  *done = 0;
  if (!sessio__ucur_parse(cur->text, &uc)) return SESSIO_EINVAL;
  if (max_work == 0) max_work = 1;
  sessio_err rc = conn_get(ss, &c);
  if (rc != SESSIO_OK) return rc;
  sqlite3_stmt *s = c->st[S_USCAN];
  unsigned long skip = uc.skip;
  if (max_work > INT32_MAX - skip) max_work = INT32_MAX - skip;
  sqlite3_bind_int64(s, 1, uc.expires_at);
  sqlite3_bind_blob(s, 2, uc.key, (int)uc.key_len, SQLITE_TRANSIENT);
  sqlite3_bind_int64(s, 3, (sqlite3_int64)(max_work + skip));
  int r;
  while ((r = sqlite3_step(s)) == SQLITE_ROW) {
    sessio_store_user_entry e;
    const unsigned char *u = sqlite3_column_blob(s, 0);
    int ulen = sqlite3_column_bytes(s, 0);
    if (sqlite3_column_type(s, 1) != SQLITE_BLOB ||
        sqlite3_column_bytes(s, 1) != SESSIO_KEY_BYTES || ulen < 0) {
      rows++;
      continue;
    }
    memset(&e, 0, sizeof e);
    memcpy(e.key.b, sqlite3_column_blob(s, 1), SESSIO_KEY_BYTES);
    e.expires_at = sqlite3_column_int64(s, 2);
    if (sessio__ucur_step(&uc, e.expires_at, e.key.b, &skip)) continue;
    rows++;
    if (ulen == 0 || ulen > SESSIO_USER_MAX || memchr(u, '\0', (size_t)ulen))
      continue; /* not a name we wrote */
    memcpy(e.user, u, (size_t)ulen);
    e.user[ulen] = '\0';
    sessio_store_user_hash(e.user, e.user_hash);
    (void)cb(ud, &e);
  }
  if (r != SQLITE_DONE && r != SQLITE_ROW) rc = map_rc(r);
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  conn_put(ss, c, rc);
  if (rc != SESSIO_OK) return rc;
  if (rows < max_work) {
    *done = 1;
    cur->text[0] = '\0';
  } else {
    sessio__ucur_format(&uc, cur->text);
  }
  return SESSIO_OK;
}

static sessio_err q_iterate(sessio_store *st, int64_t now,
                            sessio_store_iter_fn cb, void *ud) {
  sqlite_store *ss = (sqlite_store *)st;
  conn *c;
  sessio_err rc = conn_get(ss, &c);
  if (rc != SESSIO_OK) return rc;
  sqlite3_stmt *s = c->st[S_ITER];
  sqlite3_bind_int64(s, 1, now);
  int r;
  while ((r = sqlite3_step(s)) == SQLITE_ROW) {
    sessio_key key;
    sessio_record rec;
    if (sqlite3_column_type(s, 0) != SQLITE_BLOB ||
        sqlite3_column_bytes(s, 0) != SESSIO_KEY_BYTES)
      continue;
    memcpy(key.b, sqlite3_column_blob(s, 0), SESSIO_KEY_BYTES);
    sessio_err e = row_to_record(s, 1, 0, &rec);
    if (e == SESSIO_ECORRUPT) continue;
    if (e != SESSIO_OK) {
      rc = e;
      break;
    }
    /* The blob is lent straight from the row for the call. */
    rec.blob = (uint8_t *)sqlite3_column_blob(s, 5);
    rec.blob_len = (size_t)sqlite3_column_bytes(s, 5);
    if (cb(ud, &key, &rec) != 0) break;
  }
  if (rc == SESSIO_OK && r != SQLITE_DONE && r != SQLITE_ROW) rc = map_rc(r);
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  conn_put(ss, c, rc);
  return rc;
}

static sessio_err q_stats(sessio_store *st, struct sessio_store_stats *out) {
  sqlite_store *ss = (sqlite_store *)st;
  conn *c;
  sessio_err rc = conn_get(ss, &c);
  if (rc != SESSIO_OK) return rc;
  sqlite3_stmt *s = c->st[S_COUNT];
  int r = sqlite3_step(s);
  if (r == SQLITE_ROW) {
    out->sessions = (uint64_t)sqlite3_column_int64(s, 0);
    out->bytes = (uint64_t)sqlite3_column_double(s, 1);
  } else {
    rc = map_rc(r);
  }
  sqlite3_reset(s);
  out->expired = atomic_load(&ss->expired);
  conn_put(ss, c, rc);
  return rc;
}

static void q_close(sessio_store *st) {
  sqlite_store *ss = (sqlite_store *)st;
  unsigned me = sessio__forks();
  if (ss->writer != NULL) {
    ss->writer->next = ss->pool;
    ss->pool = ss->writer;
    ss->writer = NULL;
  }
  conn *c = ss->pool;
  while (c != NULL) {
    conn *next = c->next;
    if (c->gen == me) {
      conn_free(c);
    } else {
      pthread_mutex_lock(&parked_mu);
      c->next = parked;
      parked = c;
      pthread_mutex_unlock(&parked_mu);
    }
    c = next;
  }
  pthread_mutex_destroy(&ss->pool_mu);
  pthread_mutex_destroy(&ss->write_mu);
  pthread_mutex_destroy(&ss->walk_mu);
  free(ss->path);
  free(ss);
}

static const sessio_store_methods sqlite_methods = {
    .version = SESSIO_STORE_API_VERSION,
    .name = "sqlite",
    .load = q_load,
    .save = q_save,
    .touch = q_touch,
    .remove = q_remove,
    .user_add = q_user_add,
    .user_list = q_user_list,
    .user_remove = q_user_remove,
    .gc = q_gc,
    .iterate = q_iterate,
    .scan = q_scan,
    .stats = q_stats,
    .close = q_close,
    .collect = q_collect,
    .user_scan = q_user_scan,
};

/* ---- open --------------------------------------------------------------- */

/* "sync=normal|full" and "timeout_ms=N" (how long a call waits for the
 * write lock; "busy_timeout" is its older spelling). */
static sessio_err sqlite_param(void *ud, const char *name, const char *val) {
  sqlite_store *ss = ud;
  long long v;
  if (strcmp(name, "sync") == 0)
    return sessio__opt_sync(val, &ss->sync_full) ? SESSIO_OK : SESSIO_EINVAL;
  if (strcmp(name, "locking") == 0) {
    if (strcmp(val, "normal") == 0)
      ss->exclusive = 0;
    else if (strcmp(val, "exclusive") == 0)
      ss->exclusive = 1;
    else
      return SESSIO_EINVAL;
    return SESSIO_OK;
  }
  if (strcmp(name, "max_sessions") == 0) {
    if (!sessio__opt_int(val, 1, INT64_MAX, &v)) return SESSIO_EINVAL;
    ss->max_sessions = (uint64_t)v;
    return SESSIO_OK;
  }
  if (strcmp(name, "timeout_ms") == 0 || strcmp(name, "busy_timeout") == 0) {
    if (!sessio__opt_int(val, 0, 600000, &v)) return SESSIO_EINVAL;
    ss->busy_ms = (int)v;
    return SESSIO_OK;
  }
  return SESSIO_EINVAL;
}

/* Runs once per open: WAL mode (persistent in the file), the schema, and
 * the schema version check, in one immediate transaction so that several
 * processes opening a new database at once agree. */
static sessio_err db_setup(sqlite3 *db, int busy_ms) {
  sqlite3_stmt *s = NULL;
  sessio_err rc;
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  /* Switching to WAL needs a moment alone with the file; a busy answer
   * here does not go through the busy handler, so retry a few times, but
   * not past 'busy_ms' in all (a file another process holds with
   * locking=exclusive answers busy after the handler's whole wait). */
  for (int i = 0;; i++) {
    rc = SESSIO_EIO;
    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &s, NULL) !=
        SQLITE_OK)
      return map_rc(sqlite3_errcode(db));
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
      const char *mode = (const char *)sqlite3_column_text(s, 0);
      rc = mode && strcmp(mode, "wal") == 0 ? SESSIO_OK : SESSIO_EIO;
    } else {
      rc = map_rc(r);
    }
    sqlite3_finalize(s);
    clock_gettime(CLOCK_MONOTONIC, &t);
    if (rc != SESSIO_EUNAVAIL || i >= 50 ||
        (t.tv_sec - t0.tv_sec) * 1000L + (t.tv_nsec - t0.tv_nsec) / 1000000L >=
            (long)busy_ms)
      break;
    usleep(10000);
  }
  if (rc != SESSIO_OK) return rc;
  if ((rc = exec(db, "BEGIN IMMEDIATE")) != SESSIO_OK) return rc;
  if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) !=
      SQLITE_OK) {
    rc = map_rc(sqlite3_errcode(db));
    goto fail_txn;
  }
  int r = sqlite3_step(s);
  int uv = r == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
  rc = r == SQLITE_ROW ? SESSIO_OK : map_rc(r);
  sqlite3_finalize(s);
  if (rc != SESSIO_OK) goto fail_txn;
  if (uv != 0 && uv != 1 && uv != SCHEMA_VERSION) {
    rc = SESSIO_EINVAL; /* a database of another program or version */
    goto fail_txn;
  }
  if (uv == 1 && (rc = exec(db, migrate_v1_sql)) != SESSIO_OK) goto fail_txn;
  if ((rc = exec(db, schema_sql)) != SESSIO_OK) goto fail_txn;
  _Static_assert(SCHEMA_VERSION == 2, "the PRAGMA below names the version");
  if (uv != SCHEMA_VERSION &&
      (rc = exec(db, "PRAGMA user_version=2")) != SESSIO_OK)
    goto fail_txn;
  return exec(db, "COMMIT");
fail_txn:
  exec(db, "ROLLBACK");
  return rc;
}

sessio_err sessio__store_open_sqlite(const char *rest, sessio_store **out) {
  sessio_err rc = SESSIO_EINVAL;
  size_t plen;
  const char *q = sessio__url_split(rest, &plen);
  *out = NULL;
  /* A path is required; ":memory:" and other special names would give
   * each connection its own database, so they are refused. */
  if (plen == 0 || plen >= 4096 || rest[0] == ':') return SESSIO_EINVAL;
  if ((rc = sessio__fork_watch()) != SESSIO_OK) return rc;
  rc = SESSIO_EINVAL;
  sqlite_store *ss = calloc(1, sizeof *ss);
  if (ss == NULL) return SESSIO_ENOMEM;
  ss->base.methods = &sqlite_methods;
  ss->busy_ms = BUSY_TIMEOUT_MS;
  if (q != NULL &&
      (rc = sessio_store_url_params(q, sqlite_param, ss)) != SESSIO_OK)
    goto fail_ss;
  atomic_init(&ss->expired, 0);
  if ((ss->path = strndup(rest, plen)) == NULL) {
    rc = SESSIO_ENOMEM;
    goto fail_ss;
  }
  /* The folder is made if missing (0700), so that a relative default such
   * as "sqlite:var/sessions.db" works on a fresh checkout. Then the file is
   * created by us so it is 0600 (SQLite gives its -wal and -shm files the
   * same mode) and never through a link. */
  if (sessio__mkdirs_above(ss->path) != 0) {
    rc = errno == ENOTDIR || errno == EEXIST ? SESSIO_EINVAL : SESSIO_EIO;
    goto fail_path;
  }
  int fd = open(ss->path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    rc = errno == ENOENT || errno == ENOTDIR || errno == EISDIR ||
                 errno == ELOOP
             ? SESSIO_EINVAL
             : SESSIO_EIO;
    goto fail_path;
  }
  /* S25: an existing database file readable by others (made with the
   * usual umask, or copied) is refused rather than used. */
  struct stat fsb;
  rc = fstat(fd, &fsb) != 0                       ? SESSIO_EIO
       : (fsb.st_mode & (S_IRWXG | S_IRWXO)) != 0 ? SESSIO_EPERM
                                                  : SESSIO_OK;
  if (rc != SESSIO_OK) {
    close(fd);
    goto fail_path;
  }
  close(fd);
  if (pthread_mutex_init(&ss->pool_mu, NULL) != 0) {
    rc = SESSIO_ENOMEM;
    goto fail_path;
  }
  if (pthread_mutex_init(&ss->write_mu, NULL) != 0) {
    rc = SESSIO_ENOMEM;
    goto fail_pool_mu;
  }
  if (pthread_mutex_init(&ss->walk_mu, NULL) != 0) {
    rc = SESSIO_ENOMEM;
    goto fail_write_mu;
  }
  conn *c;
  if ((rc = conn_open(ss, 1, &c)) != SESSIO_OK) {
    if (rc == SESSIO_EUNAVAIL)
      sessio__store_open_log(
          SESSIO_LOG_ERROR, "sqlite: %s is locked by another process (%s)",
          ss->path,
          ss->exclusive ? "exclusive locking needs the file to itself"
                        : "one that opened it with exclusive locking?");
    goto fail_walk_mu;
  }
  if (ss->exclusive) {
    c->writer = 1;
    ss->writer = c;
  } else {
    ss->pool = c;
  }
  *out = &ss->base;
  return SESSIO_OK;
fail_walk_mu:
  pthread_mutex_destroy(&ss->walk_mu);
fail_write_mu:
  pthread_mutex_destroy(&ss->write_mu);
fail_pool_mu:
  pthread_mutex_destroy(&ss->pool_mu);
fail_path:
  free(ss->path);
fail_ss:
  free(ss);
  return rc;
}
