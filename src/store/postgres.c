/*
 * postgres.c — the PostgreSQL store on libpq:
 *   postgres://[USER[:PASSWORD]@][HOST[:PORT][,HOST[:PORT]...]][/DB]
 *     [?table=NAME&pool=N&timeout_ms=N&connect_timeout=DUR
 *      &max_sessions=N&sslmode=MODE&target_session_attrs=...]
 *                                                     (also postgresql://)
 * One row per session in table NAME, the per-user index in NAME_users; the
 * compare-and-set is one conditional statement (INSERT ... ON CONFLICT DO
 * UPDATE ... WHERE, or UPDATE ... WHERE version = $n), so no transaction is
 * held across a request. A bounded pool of connections, each with its
 * prepared statements, talks to the server without blocking: every call has
 * a deadline on the socket, and the server a statement_timeout a little
 * shorter (so that it gives up first and the connection stays usable). The
 * layout and its guarantees: docs/STORES.md ("PostgreSQL").
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "crypto.h"
#include "helpers.h"
#include "store_internal.h"

#define CONNECT_MS_DEFAULT 2000
#define TIMEOUT_MS_DEFAULT 2000
#define POOL_DEFAULT 8
#define POOL_MAX 256
#define GC_BATCH 256 /* rows deleted per statement */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 500
#define NAME_MAX_LEN 40 /* table name: PostgreSQL allows 63, suffixes added */
#define SCHEMA_TAG_SESSIONS "sessio sessions, schema 1"
#define SCHEMA_TAG_USERS "sessio user index, schema 1"

/* Type OIDs of the parameters (pg_type.h is a server header). */
#define OID_BYTEA 17
#define OID_INT8 20

/* ---- statements --------------------------------------------------------
 * "@T" stands for the sessions table, "@U" for the user index table. Every
 * parameter and result travels in binary: bytea as raw bytes, int8 as eight
 * big-endian bytes. Users are bytea too: any bytes, no encoding to match. */

enum {
  S_LOAD,
  S_CREATE,
  S_UPDATE,
  S_TOUCH,
  S_REMOVE,
  S_UADD,
  S_ULIST,
  S_UREM,
  S_GC_SESSIONS,
  S_GC_USERS,
  S_ITER,
  S_COUNT,
  S_SCAN,
  S_LIVE,
  S_USCAN,
  S_N
};

static const struct {
  const char *sql;
  int nparams;
  Oid types[7];
} stmt_def[S_N] = {
    [S_LOAD] = {"SELECT version, expires_at, touched_at, user_name, blob"
                " FROM @T WHERE key = $1 AND expires_at > $2",
                2,
                {OID_BYTEA, OID_INT8}},
    /* Create: a new row, or over a dead one. A live row makes the DO
     * UPDATE's WHERE false: no row is written and the count is 0. The row
     * is locked while the WHERE is checked, so two creates, or a create
     * and an update, cannot both win. */
    [S_CREATE] = {"INSERT INTO @T AS t (key, version, expires_at, touched_at,"
                  " user_name, blob, expires_bucket)"
                  " VALUES ($1, 1, $2, $3, $4, $5, $2 >> 16)"
                  " ON CONFLICT (key) DO UPDATE SET version = 1,"
                  " expires_at = excluded.expires_at,"
                  " expires_bucket = excluded.expires_bucket,"
                  " touched_at = excluded.touched_at,"
                  " user_name = excluded.user_name, blob = excluded.blob"
                  " WHERE t.expires_at <= $6",
                  6,
                  {OID_BYTEA, OID_INT8, OID_INT8, OID_BYTEA, OID_BYTEA,
                   OID_INT8}},
    /* Replace: READ COMMITTED re-checks the WHERE on the newest row
     * version after waiting for a concurrent writer, which makes this a
     * compare-and-set. */
    [S_UPDATE] = {"UPDATE @T SET version = version + 1, expires_at = $3,"
                  " expires_bucket = $3 >> 16,"
                  " touched_at = $4, user_name = $5, blob = $6"
                  " WHERE key = $1 AND version = $2 AND expires_at > $7",
                  7,
                  {OID_BYTEA, OID_INT8, OID_INT8, OID_INT8, OID_BYTEA,
                   OID_BYTEA, OID_INT8}},
    [S_TOUCH] = {"UPDATE @T SET touched_at = $2, expires_at = $3,"
                 " expires_bucket = $3 >> 16"
                 " WHERE key = $1 AND expires_at > $4",
                 4,
                 {OID_BYTEA, OID_INT8, OID_INT8, OID_INT8}},
    [S_REMOVE] = {"DELETE FROM @T WHERE key = $1", 1, {OID_BYTEA}},
    [S_UADD] = {"INSERT INTO @U (user_name, key, expires_at)"
                " VALUES ($1, $2, $3) ON CONFLICT (user_name, key)"
                " DO UPDATE SET expires_at = excluded.expires_at",
                3,
                {OID_BYTEA, OID_BYTEA, OID_INT8}},
    [S_ULIST] = {"SELECT key FROM @U WHERE user_name = $1 AND expires_at > $2",
                 2,
                 {OID_BYTEA, OID_INT8}},
    [S_UREM] = {"DELETE FROM @U WHERE user_name = $1 AND key = $2",
                2,
                {OID_BYTEA, OID_BYTEA}},
    /* Dead rows, oldest expiry bucket first, through the bucket index, at
     * most $2 of them, deleted by their row addresses (a TID scan: the plan
     * never joins against the whole table); rows another gc holds are
     * skipped rather than waited for, and the outer WHERE keeps a row
     * revived meanwhile. */
    [S_GC_SESSIONS] = {"DELETE FROM @T WHERE ctid = ANY(ARRAY(SELECT ctid"
                       " FROM @T WHERE expires_bucket <= ($1 >> 16)"
                       " AND expires_at <= $1 ORDER BY expires_bucket"
                       " LIMIT $2 FOR UPDATE SKIP LOCKED))"
                       " AND expires_at <= $1 RETURNING key, user_name",
                       2,
                       {OID_INT8, OID_INT8}},
    [S_GC_USERS] = {"DELETE FROM @U WHERE ctid = ANY(ARRAY(SELECT ctid"
                    " FROM @U WHERE expires_at <= $1 ORDER BY expires_at"
                    " LIMIT $2 FOR UPDATE SKIP LOCKED))"
                    " AND expires_at <= $1",
                    2,
                    {OID_INT8, OID_INT8}},
    [S_ITER] = {"SELECT key, version, expires_at, touched_at, user_name, blob"
                " FROM @T WHERE expires_at > $1",
                1,
                {OID_INT8}},
    /* Rows and their payload bytes (key, blob, user and 24 bytes of
     * integers): a scan, for occasional monitoring only. */
    [S_COUNT] = {"SELECT count(*)::int8, coalesce(sum(length(blob)"
                 " + length(user_name) + 56), 0)::int8 FROM @T",
                 0,
                 {0}},
    /* Every row, live or dead, in key order after $1, at most $2. */
    [S_SCAN] = {"SELECT key, version, expires_at, touched_at, user_name, blob"
                " FROM @T WHERE key > $1 ORDER BY key LIMIT $2",
                2,
                {OID_BYTEA, OID_INT8}},
    /* Live rows, up to $2 (the bound: the walk of the bucket index stops
     * there), for the guest bound (max_sessions). */
    [S_LIVE] = {"SELECT count(*)::int8 FROM (SELECT 1 FROM @T"
                " WHERE expires_bucket >= ($1 >> 16) AND expires_at > $1"
                " LIMIT $2) AS live",
                2,
                {OID_INT8, OID_INT8}},
    /* Index entries from the cursor's (expires_at $1, key $2) on, in
     * that order, through the expiry index: user_scan. */
    [S_USCAN] = {"SELECT user_name, key, expires_at FROM @U"
                 " WHERE expires_at >= $1 AND (expires_at > $1 OR key >= $2)"
                 " ORDER BY expires_at, key, user_name LIMIT $3",
                 3,
                 {OID_INT8, OID_BYTEA, OID_INT8}},
};

static const char *const stmt_name[S_N] = {
    "sessio_load",   "sessio_create", "sessio_update", "sessio_touch",
    "sessio_remove", "sessio_uadd",   "sessio_ulist",  "sessio_urem",
    "sessio_gc_s",   "sessio_gc_u",   "sessio_iter",   "sessio_count",
    "sessio_scan",   "sessio_live",   "sessio_uscan"};

/* ---- the store ---------------------------------------------------------- */

typedef struct pg_conn {
  PGconn *pg;
  unsigned gen;  /* pool generation when opened */
  int broken;    /* do not pool it again */
  int timed_out; /* the server did not answer within timeout_ms */
  struct pg_conn *next;
} pg_conn;

typedef struct pg_store {
  sessio_store base;
  /* libpq connection keywords and values, NULL-terminated; the password
   * (if any) is among the values and is wiped at close. */
  char **kw, **val;
  size_t nkw;
  char where[300]; /* "user@host:port/db" for log lines */
  char schema[NAME_MAX_LEN + 1], table[NAME_MAX_LEN + 1];
  char *sql[S_N];   /* statements with the table names filled in */
  int connect_ms;   /* connect_timeout */
  int io_ms;        /* timeout_ms: the deadline of one call */
  int statement_ms; /* the server's statement_timeout */
  size_t max_conns;

  pthread_mutex_t mu; /* guards everything below */
  pthread_cond_t cv;  /* a connection came back */
  pg_conn *idle;
  size_t n_open;  /* connections open (idle or in use) */
  unsigned gen;   /* bumped when one connection is found broken:
                               the idle ones go too */
  unsigned forks; /* fork count the connections belong to */
  int down;       /* the circuit is open: from a failed connect (or
                               2 calls in a row the server did not answer
                               within timeout_ms) until a paced connect, a
                               probe, succeeds; meanwhile calls fail at once
                               instead of each holding its thread */
  int timeouts;   /* unanswered calls since the last answer */
  int64_t next_try, backoff;
  /* The guest bound (?max_sessions=N, 0: none). Counting the live rows
   * costs a walk of up to N index entries, so the count is taken at most
   * once a second of the callers' clock (live_at, under 'mu') and moved by
   * this process's creates and removes in between; other processes'
   * creates show at the next count. */
  int64_t live_at; /* 'now' of the last count; INT64_MIN: none yet */
  int64_t live_n;  /* live rows then, plus creates minus removes since */

  _Atomic uint64_t expired;
  uint64_t max_sessions;
} pg_store;

/* Connections inherited through fork() are the parent's: a child that
 * used one would mix its statements with the parent's on one socket, and
 * one that closed it with PQfinish would send the server a Terminate that
 * ends the parent's session. A child forgets them (see forget()), noticing
 * the fork through sessio__forks(). */

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void put64(char *p, int64_t v) {
  uint64_t u = (uint64_t)v;
  for (int i = 7; i >= 0; i--, u >>= 8) p[i] = (char)(u & 0xff);
}

static int64_t get64(const char *p) {
  uint64_t u = 0;
  for (int i = 0; i < 8; i++) u = u << 8 | (unsigned char)p[i];
  return (int64_t)u;
}

/* The value of libpq keyword 'k' in the store's conninfo, or NULL. */
static const char *conn_value(const pg_store *ps, const char *k) {
  for (size_t i = 0; i < ps->nkw; i++)
    if (strcmp(ps->kw[i], k) == 0) return ps->val[i];
  return NULL;
}

/* Copies libpq's message 'msg' into 'why' on one line, with the password
 * (should a message ever quote it) replaced by "***". */
static void scrub(const pg_store *ps, const char *msg, char *why, size_t n) {
  const char *pw = conn_value(ps, "password");
  size_t pl = pw ? strlen(pw) : 0, o = 0;
  if (msg == NULL) msg = "";
  while (*msg && o + 1 < n) {
    if (pl > 0 && strncmp(msg, pw, pl) == 0) {
      for (const char *s = "***"; *s && o + 1 < n; s++) why[o++] = *s;
      msg += pl;
      continue;
    }
    why[o++] = (*msg == '\n' || *msg == '\r' || *msg == '\t') ? ' ' : *msg;
    msg++;
  }
  while (o > 0 && why[o - 1] == ' ') o--;
  why[o] = '\0';
}

/* ---- connections -------------------------------------------------------- */

/* Waits until 'fd' is ready for 'events' or 'deadline' (monotonic ms)
 * passes: 1 ready, 0 timed out, -1 error. */
static int wait_fd(int fd, short events, int64_t deadline) {
  if (fd < 0) return -1;
  for (;;) {
    int64_t left = deadline - mono_ms();
    if (left <= 0) return 0;
    struct pollfd p = {fd, events, 0};
    int r = poll(&p, 1, left > 60000 ? 60000 : (int)left);
    if (r > 0) return 1;
    if (r < 0 && errno != EINTR) return -1;
  }
}

/* Notices and warnings of the server ("terminating connection due to
 * administrator command") go to the store's logger, never to stderr as
 * libpq's default would. */
static void on_notice(void *arg, const char *msg) {
  pg_store *ps = arg;
  char line[256];
  scrub(ps, msg, line, sizeof line);
  sessio_store_log(&ps->base, SESSIO_LOG_DEBUG, "postgres %s: %s", ps->where,
                   line);
}

/* Closes a connection of this process. */
static void conn_close(pg_conn *c) {
  if (c == NULL) return;
  PQfinish(c->pg);
  free(c);
}

/* Frees a connection inherited from the parent without a word to the
 * server: its socket number is first pointed at /dev/null, so PQfinish's
 * Terminate goes nowhere and its close() releases only our descriptor. */
static void forget(pg_conn *c) {
  int fd = PQsocket(c->pg);
  if (fd >= 0) {
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
      dup2(null, fd);
      close(null);
    }
  }
  conn_close(c);
}

static sessio_err map_sqlstate(const char *state) {
  if (state == NULL || strlen(state) != 5) return SESSIO_EIO;
  if (strncmp(state, "08", 2) == 0 ||  /* connection exception */
      strncmp(state, "57P", 3) == 0 || /* shutdown, cannot connect */
      strcmp(state, "57014") == 0 ||   /* statement_timeout */
      strncmp(state, "40", 2) == 0 ||  /* serialization, deadlock */
      strcmp(state, "53200") == 0 ||   /* out of memory */
      strcmp(state, "53300") == 0 ||   /* too many connections */
      strcmp(state, "55P03") == 0 ||   /* lock not available */
      strcmp(state, "25006") == 0)     /* read-only: a standby */
    return SESSIO_EUNAVAIL;
  if (strncmp(state, "54", 2) == 0) return SESSIO_ETOOBIG;
  return SESSIO_EIO; /* disk full, a table not ours, ... */
}

/* Collects the results of the query just sent on 'c', with 'deadline'
 * for every wait on the socket. 'row' (may be NULL) is called with each
 * single-row result (single-row mode); the final result is left in '*res'
 * (may be NULL: then it is freed). A connection that broke, or that timed
 * out (its state is then unknown), is marked broken. */
static sessio_err collect(pg_store *ps, pg_conn *c, int64_t deadline,
                          int (*row)(void *ud, const PGresult *r), void *ud,
                          PGresult **res) {
  sessio_err rc = SESSIO_OK;
  PGresult *keep = NULL;
  int stopped = 0, reconnect = 0;
  if (res) *res = NULL;
  /* Flush what libpq could not send at once. */
  for (;;) {
    int f = PQflush(c->pg);
    if (f == 0) break;
    int w = f < 0 ? -1 : wait_fd(PQsocket(c->pg), POLLIN | POLLOUT, deadline);
    if (w <= 0 || !PQconsumeInput(c->pg)) {
      c->broken = 1;
      c->timed_out = w == 0;
      return SESSIO_EUNAVAIL;
    }
  }
  for (;;) {
    while (PQisBusy(c->pg)) {
      int w = wait_fd(PQsocket(c->pg), POLLIN, deadline);
      if (w <= 0 || !PQconsumeInput(c->pg)) {
        c->broken = 1;
        c->timed_out = w == 0;
        PQclear(keep);
        return SESSIO_EUNAVAIL;
      }
    }
    PGresult *r = PQgetResult(c->pg);
    if (r == NULL) break;
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_SINGLE_TUPLE) {
      if (!stopped && rc == SESSIO_OK && row && row(ud, r) != 0) {
        /* The rest of the rows would have to be read and thrown away;
         * dropping the connection is cheaper for a large table. */
        stopped = 1;
        c->broken = 1;
        PQclear(r);
        break;
      }
      PQclear(r);
      deadline = mono_ms() + ps->io_ms; /* progress: a fresh deadline */
      continue;
    }
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && rc == SESSIO_OK) {
      const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
      rc = map_sqlstate(state);
      if (state == NULL)
        rc = SESSIO_EUNAVAIL; /* libpq's own: the connection is gone */
      /* A statement timeout or a lock wait leaves the connection fine;
       * a connection error, a shutdown or a read-only server (a standby,
       * after a failover) calls for a new one. */
      reconnect = state == NULL || strncmp(state, "08", 2) == 0 ||
                  strncmp(state, "57P", 3) == 0 || strcmp(state, "25006") == 0;
    }
    if (rc == SESSIO_OK) { /* of several statements, the last result */
      PQclear(keep);
      keep = r;
    } else {
      PQclear(r);
    }
  }
  if (PQstatus(c->pg) != CONNECTION_OK) {
    c->broken = 1;
    if (rc == SESSIO_OK && !stopped) rc = SESSIO_EUNAVAIL;
  } else if (reconnect) {
    c->broken = 1; /* a shutdown under way, or a standby: start afresh */
  }
  if (rc == SESSIO_OK && keep == NULL && !stopped) rc = SESSIO_EIO;
  if (rc != SESSIO_OK || res == NULL)
    PQclear(keep);
  else
    *res = keep;
  return rc;
}

/* Runs the simple query 'sql' (one or more statements) on 'c'. */
static sessio_err exec_simple(pg_store *ps, pg_conn *c, const char *sql,
                              PGresult **res) {
  if (!PQsendQuery(c->pg, sql)) {
    c->broken = 1;
    return SESSIO_EUNAVAIL;
  }
  return collect(ps, c, mono_ms() + ps->io_ms, NULL, NULL, res);
}

static sessio_err setup_schema(pg_store *ps, pg_conn *c);

/* Opens a connection within connect_timeout, without blocking, and
 * prepares the statements; with 'setup', first creates or checks the
 * schema. On failure 'why' says why (no password in it). */
static sessio_err conn_open(pg_store *ps, int setup, pg_conn **out, char *why,
                            size_t n) {
  sessio_err rc = SESSIO_EUNAVAIL;
  pg_conn *c = calloc(1, sizeof *c);
  if (c == NULL) {
    snprintf(why, n, "out of memory");
    return SESSIO_ENOMEM;
  }
  c->pg = PQconnectStartParams((const char *const *)ps->kw,
                               (const char *const *)ps->val, 0);
  if (c->pg == NULL) {
    snprintf(why, n, "out of memory");
    free(c);
    return SESSIO_ENOMEM;
  }
  PQsetNoticeProcessor(c->pg, on_notice, ps);
  int64_t deadline = mono_ms() + ps->connect_ms;
  PostgresPollingStatusType s = PGRES_POLLING_WRITING;
  if (PQstatus(c->pg) == CONNECTION_BAD) s = PGRES_POLLING_FAILED;
  while (s != PGRES_POLLING_OK) {
    if (s == PGRES_POLLING_FAILED) {
      scrub(ps, PQerrorMessage(c->pg), why, n);
      goto fail;
    }
    int w = wait_fd(PQsocket(c->pg),
                    s == PGRES_POLLING_WRITING ? POLLOUT : POLLIN, deadline);
    if (w == 0) {
      snprintf(why, n, "no connection within %d ms", ps->connect_ms);
      goto fail;
    }
    if (w < 0) {
      snprintf(why, n, "%s", strerror(errno));
      goto fail;
    }
    s = PQconnectPoll(c->pg);
  }
  if (PQsetnonblocking(c->pg, 1) != 0) {
    snprintf(why, n, "cannot make the connection non-blocking");
    goto fail;
  }
  if (setup && (rc = setup_schema(ps, c)) != SESSIO_OK) {
    if (rc == SESSIO_EINVAL) {
      /* A long schema or table name may cut the message: it stays a hint.
       * Release builds (-O2) warn about that cut, and warnings are errors. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif
      snprintf(why, n,
               "table %s%s%s or %s%s%s_users exists and is not a "
               "sessio table (schema 1): left untouched; choose another "
               "name with ?table=NAME",
               ps->schema, ps->schema[0] ? "." : "", ps->table, ps->schema,
               ps->schema[0] ? "." : "", ps->table);
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
    } else
      scrub(ps, PQerrorMessage(c->pg), why, n);
    goto fail_rc;
  }
  for (int i = 0; i < S_N; i++) {
    if (!PQsendPrepare(c->pg, stmt_name[i], ps->sql[i], stmt_def[i].nparams,
                       stmt_def[i].types)) {
      scrub(ps, PQerrorMessage(c->pg), why, n);
      goto fail;
    }
    rc = collect(ps, c, mono_ms() + ps->io_ms, NULL, NULL, NULL);
    if (rc != SESSIO_OK) {
      scrub(ps, PQerrorMessage(c->pg), why, n);
      /* Tables of another shape (ours by name and comment, but changed):
       * a statement does not prepare. A configuration error. */
      if (rc == SESSIO_EIO) {
        rc = SESSIO_EINVAL;
        size_t l = strlen(why);
        if (snprintf(why + l, n - l,
                     " (table %s%s%s is not of sessio's "
                     "schema 1)",
                     ps->schema, ps->schema[0] ? "." : "",
                     ps->table) >= (int)(n - l))
          why[n - 1] = '\0';
      }
      goto fail_rc;
    }
  }
  *out = c;
  return SESSIO_OK;
fail:
  rc = SESSIO_EUNAVAIL;
fail_rc:
  conn_close(c);
  return rc;
}

/* Whether an idle connection still looks usable: the server sends nothing
 * to an idle session of ours, so anything readable (an error before it
 * closes, end of file) means it is gone. One poll(), no round trip. */
static int idle_ok(pg_conn *c) {
  struct pollfd p = {PQsocket(c->pg), POLLIN, 0};
  if (p.fd < 0 || PQstatus(c->pg) != CONNECTION_OK) return 0;
  int r;
  while ((r = poll(&p, 1, 0)) < 0 && errno == EINTR) {
  }
  return r == 0;
}

static void drop_idle_locked(pg_store *ps) {
  while (ps->idle) {
    pg_conn *c = ps->idle;
    ps->idle = c->next;
    ps->n_open--;
    conn_close(c);
  }
  pthread_cond_broadcast(&ps->cv);
}

static void mark_failed_locked(pg_store *ps, const char *why) {
  ps->gen++;
  drop_idle_locked(ps);
  if (!ps->down) {
    ps->down = 1;
    ps->backoff = BACKOFF_MIN_MS;
    ps->next_try = mono_ms() + ps->backoff;
    sessio_store_log(&ps->base, SESSIO_LOG_ERROR,
                     "postgres %s unreachable (%s); calls fail with "
                     "SESSIO_EUNAVAIL until it is back",
                     ps->where, why);
  }
}

/* In a child after fork(): the parent's connections are forgotten. */
static void after_fork_locked(pg_store *ps, unsigned forks) {
  while (ps->idle) {
    pg_conn *c = ps->idle;
    ps->idle = c->next;
    forget(c);
  }
  ps->n_open = 0;
  ps->gen++;
  ps->forks = forks;
}

/* Takes a pooled connection, or opens one while fewer than 'pool' are
 * open; waits up to the call's deadline for one to come back. */
static sessio_err conn_get(pg_store *ps, pg_conn **out) {
  char why[512];
  unsigned forks = sessio__forks();
  int64_t deadline = mono_ms() + ps->io_ms;
  pthread_mutex_lock(&ps->mu);
  if (ps->forks != forks) after_fork_locked(ps, forks);
  for (;;) {
    while (ps->idle != NULL) {
      pg_conn *c = ps->idle;
      ps->idle = c->next;
      /* The check is a system call: made without the lock, which every
       * other request thread takes twice per statement (a thread put to
       * sleep while holding it made the others wait in futex()). 'c' is
       * ours alone meanwhile. */
      pthread_mutex_unlock(&ps->mu);
      if (idle_ok(c)) {
        *out = c;
        return SESSIO_OK;
      }
      pthread_mutex_lock(&ps->mu);
      /* Closed under us (a restart, an idle timeout): the other idle ones
       * most likely are too. */
      ps->n_open--;
      conn_close(c);
      ps->gen++;
      drop_idle_locked(ps);
    }
    if (ps->n_open < ps->max_conns) break;
    int64_t left = deadline - mono_ms();
    if (left <= 0) {
      pthread_mutex_unlock(&ps->mu);
      return SESSIO_EUNAVAIL; /* every connection busy for too long */
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += left / 1000;
    ts.tv_nsec += (left % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&ps->cv, &ps->mu, &ts);
  }
  if (ps->down) {
    /* Not more often than the backoff: one caller per window tries. */
    int64_t now = mono_ms();
    if (now < ps->next_try) {
      pthread_mutex_unlock(&ps->mu);
      return SESSIO_EUNAVAIL;
    }
    ps->backoff = ps->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
                                                   : ps->backoff * 2;
    ps->next_try = now + ps->backoff;
  }
  ps->n_open++;
  unsigned gen = ps->gen;
  pthread_mutex_unlock(&ps->mu);

  pg_conn *c = NULL;
  sessio_err rc = conn_open(ps, 0, &c, why, sizeof why);

  pthread_mutex_lock(&ps->mu);
  if (rc != SESSIO_OK) {
    ps->n_open--;
    pthread_cond_signal(&ps->cv);
    if (rc == SESSIO_EUNAVAIL) mark_failed_locked(ps, why);
    pthread_mutex_unlock(&ps->mu);
    return rc;
  }
  c->gen = gen;
  if (ps->down) {
    ps->down = 0;
    ps->backoff = BACKOFF_MIN_MS;
    sessio_store_log(&ps->base, SESSIO_LOG_WARN, "postgres %s reachable again",
                     ps->where);
  }
  pthread_mutex_unlock(&ps->mu);
  *out = c;
  return SESSIO_OK;
}

/* Gives 'c' back; a broken one, or one of an older generation or of the
 * parent process, is closed instead. */
static void conn_put(pg_store *ps, pg_conn *c) {
  unsigned forks = sessio__forks();
  pthread_mutex_lock(&ps->mu);
  if (ps->forks != forks) {
    after_fork_locked(ps, forks);
    forget(c);
    pthread_mutex_unlock(&ps->mu);
    return;
  }
  if (c->timed_out) {
    /* One slow call alone is not an outage; two in a row with no answer
     * between them open the circuit. */
    if (++ps->timeouts >= 2)
      mark_failed_locked(ps, "no answer within timeout_ms");
  } else if (!c->broken) {
    ps->timeouts = 0;
  }
  if (c->broken) ps->gen++;
  if (c->broken || c->gen != ps->gen) {
    if (c->broken) drop_idle_locked(ps);
    ps->n_open--;
    conn_close(c);
  } else {
    c->next = ps->idle;
    ps->idle = c;
  }
  pthread_cond_signal(&ps->cv);
  pthread_mutex_unlock(&ps->mu);
}

/* One prepared statement with binary parameters and results. */
typedef struct params {
  int n;
  const char *v[7];
  int len[7];
  int fmt[7];
  char ints[7][8];
} params;

static void p_bytes(params *p, const void *b, size_t len) {
  /* A non-NULL pointer: NULL would be SQL NULL. */
  p->v[p->n] = b ? (const char *)b : "";
  p->len[p->n] = (int)len;
  p->fmt[p->n] = 1;
  p->n++;
}

static void p_int(params *p, int64_t v) {
  put64(p->ints[p->n], v);
  p_bytes(p, p->ints[p->n], 8);
}

/* Runs statement 'i' with 'p' on a pooled connection; '*res' (may be NULL)
 * gets its result; 'row' as for collect(). */
static sessio_err run(pg_store *ps, int i, const params *p,
                      int (*row)(void *, const PGresult *), void *ud,
                      PGresult **res) {
  pg_conn *c;
  if (res) *res = NULL;
  sessio_err rc = conn_get(ps, &c);
  if (rc != SESSIO_OK) return rc;
  if (!PQsendQueryPrepared(c->pg, stmt_name[i], p->n, p->v, p->len, p->fmt,
                           1)) {
    c->broken = 1;
    rc = SESSIO_EUNAVAIL;
  } else {
    if (row != NULL && !PQsetSingleRowMode(c->pg)) row = NULL;
    rc = collect(ps, c, mono_ms() + ps->io_ms, row, ud, res);
  }
  conn_put(ps, c);
  return rc;
}

/* The count of rows a command changed ("INSERT 0 1" -> 1). */
static long changed(const PGresult *r) {
  const char *t = PQcmdTuples((PGresult *)r);
  return t && *t ? strtol(t, NULL, 10) : 0;
}

/* Fills 'out' from row 0 of 'r', columns from 'col': version, expires_at,
 * touched_at, user_name, blob. A row of the wrong shape is
 * SESSIO_ECORRUPT. */
static sessio_err row_to_record(const PGresult *r, int row, int col,
                                int want_blob, sessio_record *out) {
  memset(out, 0, sizeof *out);
  PGresult *rr = (PGresult *)r;
  for (int i = 0; i < 5; i++)
    if (PQgetisnull(rr, row, col + i)) return SESSIO_ECORRUPT;
  if (PQgetlength(rr, row, col) != 8 || PQgetlength(rr, row, col + 1) != 8 ||
      PQgetlength(rr, row, col + 2) != 8)
    return SESSIO_ECORRUPT;
  int64_t v = get64(PQgetvalue(rr, row, col));
  if (v <= 0) return SESSIO_ECORRUPT;
  int ulen = PQgetlength(rr, row, col + 3);
  const char *user = PQgetvalue(rr, row, col + 3);
  if (ulen < 0 || ulen > SESSIO_USER_MAX ||
      memchr(user, '\0', (size_t)ulen) != NULL)
    return SESSIO_ECORRUPT;
  out->version = (uint64_t)v;
  out->expires_at = get64(PQgetvalue(rr, row, col + 1));
  out->touched_at = get64(PQgetvalue(rr, row, col + 2));
  memcpy(out->user, user, (size_t)ulen);
  out->user[ulen] = '\0';
  int blen = PQgetlength(rr, row, col + 4);
  if (blen < 0) return SESSIO_ECORRUPT;
  if (want_blob) {
    out->blob = malloc(blen > 0 ? (size_t)blen : 1);
    if (out->blob == NULL) return SESSIO_ENOMEM;
    if (blen > 0) memcpy(out->blob, PQgetvalue(rr, row, col + 4), (size_t)blen);
  } else {
    out->blob = (uint8_t *)PQgetvalue(rr, row, col + 4);
  }
  out->blob_len = (size_t)blen;
  return SESSIO_OK;
}

/* ---- the methods -------------------------------------------------------- */

static sessio_err q_load(sessio_store *st, const sessio_key *key, int64_t now,
                         sessio_record *out, int *found) {
  pg_store *ps = (pg_store *)st;
  params p = {0};
  PGresult *r;
  *found = 0;
  p_bytes(&p, key->b, SESSIO_KEY_BYTES);
  p_int(&p, now);
  sessio_err rc = run(ps, S_LOAD, &p, NULL, NULL, &r);
  if (rc != SESSIO_OK) return rc;
  if (PQntuples(r) == 1 && PQnfields(r) == 5) {
    rc = row_to_record(r, 0, 0, 1, out);
    if (rc == SESSIO_OK)
      *found = 1;
    else
      sessio_record_clear(out);
  }
  PQclear(r);
  return rc;
}

#define LIVE_RECOUNT_MS 1000

/* For a new session of a bounded store: admits it (counting it in
 * 'live_n') or sets '*full' when it is a guest and the bound is reached.
 * A signed-in session ('guest' 0) is always admitted. */
static sessio_err live_admit(pg_store *ps, int guest, int64_t now, int *full) {
  *full = 0;
  pthread_mutex_lock(&ps->mu);
  int stale = ps->live_at == INT64_MIN || now < ps->live_at ||
              now - ps->live_at >= LIVE_RECOUNT_MS;
  pthread_mutex_unlock(&ps->mu);
  if (stale && guest) {
    params p = {0};
    PGresult *r;
    p_int(&p, now);
    p_int(&p, (int64_t)ps->max_sessions);
    sessio_err rc = run(ps, S_LIVE, &p, NULL, NULL, &r);
    if (rc != SESSIO_OK) return rc;
    int ok = PQntuples(r) == 1 && PQgetlength(r, 0, 0) == 8;
    int64_t n = ok ? get64(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    if (!ok) return SESSIO_EIO;
    pthread_mutex_lock(&ps->mu);
    ps->live_at = now;
    ps->live_n = n;
    pthread_mutex_unlock(&ps->mu);
  }
  pthread_mutex_lock(&ps->mu);
  if (guest && ps->live_n >= (int64_t)ps->max_sessions)
    *full = 1;
  else
    ps->live_n++;
  pthread_mutex_unlock(&ps->mu);
  return SESSIO_OK;
}

static void live_move(pg_store *ps, int64_t by) {
  pthread_mutex_lock(&ps->mu);
  ps->live_n += by;
  pthread_mutex_unlock(&ps->mu);
}

static sessio_err q_save(sessio_store *st, const sessio_key *key,
                         const sessio_record *rec, uint64_t expected,
                         int64_t now, uint64_t *new_version) {
  pg_store *ps = (pg_store *)st;
  params p = {0};
  PGresult *r;
  if ((rec->blob == NULL && rec->blob_len > 0) || expected >= INT64_MAX)
    return SESSIO_EINVAL;
  if (rec->blob_len > 0x3fffffff) return SESSIO_ETOOBIG; /* bytea: 1 GiB */
  if (expected == 0 && ps->max_sessions) {
    /* A new guest session past the bound is refused; a signed-in one is
     * always written, so a guest flood cannot lock users out. */
    int full;
    sessio_err rc = live_admit(ps, rec->user[0] == '\0', now, &full);
    if (rc != SESSIO_OK) return rc;
    if (full) return SESSIO_EFULL;
  }
  p_bytes(&p, key->b, SESSIO_KEY_BYTES);
  if (expected > 0) p_int(&p, (int64_t)expected);
  p_int(&p, rec->expires_at);
  p_int(&p, rec->touched_at);
  p_bytes(&p, rec->user, strlen(rec->user));
  p_bytes(&p, rec->blob, rec->blob_len);
  p_int(&p, now);
  sessio_err rc =
      run(ps, expected == 0 ? S_CREATE : S_UPDATE, &p, NULL, NULL, &r);
  if (rc == SESSIO_OK) {
    if (changed(r) == 1)
      *new_version = expected + 1;
    else
      rc = SESSIO_ECONFLICT;
    PQclear(r);
  }
  if (rc != SESSIO_OK && expected == 0 && ps->max_sessions)
    live_move(ps, -1); /* admitted, not written */
  return rc;
}

static sessio_err q_touch(sessio_store *st, const sessio_key *key,
                          int64_t touched_at, int64_t expires_at, int64_t now,
                          int *found) {
  pg_store *ps = (pg_store *)st;
  params p = {0};
  PGresult *r;
  *found = 0;
  p_bytes(&p, key->b, SESSIO_KEY_BYTES);
  p_int(&p, touched_at);
  p_int(&p, expires_at);
  p_int(&p, now);
  sessio_err rc = run(ps, S_TOUCH, &p, NULL, NULL, &r);
  if (rc != SESSIO_OK) return rc;
  *found = changed(r) == 1;
  PQclear(r);
  return rc;
}

static sessio_err q_remove(sessio_store *st, const sessio_key *key, int64_t now,
                           int *removed) {
  pg_store *ps = (pg_store *)st;
  params p = {0};
  PGresult *r;
  (void)now;
  *removed = 0;
  p_bytes(&p, key->b, SESSIO_KEY_BYTES);
  sessio_err rc = run(ps, S_REMOVE, &p, NULL, NULL, &r);
  if (rc != SESSIO_OK) return rc;
  *removed = changed(r) == 1;
  PQclear(r);
  if (*removed && ps->max_sessions) live_move(ps, -1);
  return rc;
}

static sessio_err q_user_add(sessio_store *st, const char *user,
                             const sessio_key *key, int64_t expires_at,
                             int64_t now) {
  params p = {0};
  (void)now;
  p_bytes(&p, user, strlen(user));
  p_bytes(&p, key->b, SESSIO_KEY_BYTES);
  p_int(&p, expires_at);
  return run((pg_store *)st, S_UADD, &p, NULL, NULL, NULL);
}

static sessio_err q_user_list(sessio_store *st, const char *user, int64_t now,
                              sessio_key **keys, size_t *n) {
  params p = {0};
  PGresult *r;
  *keys = NULL;
  *n = 0;
  p_bytes(&p, user, strlen(user));
  p_int(&p, now);
  sessio_err rc = run((pg_store *)st, S_ULIST, &p, NULL, NULL, &r);
  if (rc != SESSIO_OK) return rc;
  int rows = PQntuples(r);
  if (rows > 0) {
    *keys = malloc((size_t)rows * sizeof **keys);
    if (*keys == NULL) rc = SESSIO_ENOMEM;
  }
  for (int i = 0; i < rows && rc == SESSIO_OK; i++) {
    if (PQgetisnull(r, i, 0) || PQgetlength(r, i, 0) != SESSIO_KEY_BYTES)
      continue; /* not ours: skipped, the index is repaired on read */
    memcpy((*keys)[*n].b, PQgetvalue(r, i, 0), SESSIO_KEY_BYTES);
    (*n)++;
  }
  if (rc != SESSIO_OK || *n == 0) {
    free(*keys);
    *keys = NULL;
    *n = 0;
  }
  PQclear(r);
  return rc;
}

static sessio_err q_user_remove(sessio_store *st, const char *user,
                                const sessio_key *key) {
  params p = {0};
  p_bytes(&p, user, strlen(user));
  p_bytes(&p, key->b, SESSIO_KEY_BYTES);
  return run((pg_store *)st, S_UREM, &p, NULL, NULL, NULL);
}

/* Deletes expired rows with statement 'which' in batches of at most
 * GC_BATCH, within the work left. '*clean' is 1 when a batch came back
 * short: no expired row is left behind it. */
static sessio_err gc_table(pg_store *ps, int which, int64_t now,
                           size_t max_work, sessio_store_collect_fn cb,
                           void *ud, size_t *work, size_t *deleted,
                           int *clean) {
  *clean = 0;
  while (*work < max_work) {
    size_t lim = max_work - *work;
    if (lim > GC_BATCH) lim = GC_BATCH;
    params p = {0};
    PGresult *r;
    p_int(&p, now);
    p_int(&p, (int64_t)lim);
    sessio_err rc = run(ps, which, &p, NULL, NULL, &r);
    if (rc != SESSIO_OK) return rc;
    long ch = changed(r);
    /* The sessions' statement returns each deleted row's key and user. */
    for (int i = 0; cb != NULL && i < PQntuples(r) && PQnfields(r) == 2; i++) {
      char user[SESSIO_USER_MAX + 1] = "";
      int ul = PQgetlength(r, i, 1);
      const char *u = PQgetvalue(r, i, 1);
      sessio_key key;
      if (PQgetlength(r, i, 0) != SESSIO_KEY_BYTES) continue;
      memcpy(key.b, PQgetvalue(r, i, 0), SESSIO_KEY_BYTES);
      if (ul > 0 && ul <= SESSIO_USER_MAX && !memchr(u, '\0', (size_t)ul)) {
        memcpy(user, u, (size_t)ul);
        user[ul] = '\0';
      }
      cb(ud, &key, user);
    }
    PQclear(r);
    if (ch < 0) ch = 0;
    /* The index probe costs one unit even when it finds nothing. */
    *work += ch > 0 ? (size_t)ch : 1;
    *deleted += (size_t)ch;
    if ((size_t)ch < lim) {
      *clean = 1;
      break;
    }
  }
  return SESSIO_OK;
}

static sessio_err q_collect(sessio_store *st, int64_t now, size_t max_work,
                            sessio_store_collect_fn cb, void *ud,
                            size_t *removed, int *done) {
  pg_store *ps = (pg_store *)st;
  size_t work = 0, dead = 0, stale = 0;
  int clean_s = 0, clean_u = 0;
  *done = 0;
  if (max_work == 0) return SESSIO_OK;
  /* The cursor is the expiry index itself: every call starts at the
   * oldest expired row, and a pass is over when none is left. */
  sessio_err rc = gc_table(ps, S_GC_SESSIONS, now, max_work, cb, ud, &work,
                           &dead, &clean_s);
  if (rc == SESSIO_OK && clean_s && work < max_work)
    rc = gc_table(ps, S_GC_USERS, now, max_work, NULL, NULL, &work, &stale,
                  &clean_u);
  *removed += dead;
  atomic_fetch_add(&ps->expired, dead);
  if (rc == SESSIO_OK && clean_s && clean_u) *done = 1;
  return rc;
}

static sessio_err q_gc(sessio_store *st, int64_t now, size_t max_work,
                       size_t *removed, int *done) {
  return q_collect(st, now, max_work, NULL, NULL, removed, done);
}

/* The user index in (expires_at, key, user) order; the cursor is
 * sessio__ucur (helpers.h). */
static sessio_err q_user_scan(sessio_store *st, sessio_store_cursor *cur,
                              size_t max_work, sessio_store_user_iter_fn cb,
                              void *ud, int *done) {
  sessio__ucur uc;
  params p = {0};
  PGresult *r;
  *done = 0;
  if (!sessio__ucur_parse(cur->text, &uc)) return SESSIO_EINVAL;
  if (max_work == 0) max_work = 1;
  if (max_work > 100000) max_work = 100000; /* one result in memory */
  unsigned long skip = uc.skip;
  if (skip > 100000) return SESSIO_EINVAL;
  p_int(&p, uc.expires_at);
  p_bytes(&p, uc.key, uc.key_len);
  p_int(&p, (int64_t)(max_work + skip));
  sessio_err rc = run((pg_store *)st, S_USCAN, &p, NULL, NULL, &r);
  if (rc != SESSIO_OK) return rc;
  int n = PQntuples(r);
  size_t rows = 0;
  for (int i = 0; i < n && PQnfields(r) == 3; i++) {
    sessio_store_user_entry e;
    int ul = PQgetlength(r, i, 0);
    const char *u = PQgetvalue(r, i, 0);
    if (PQgetlength(r, i, 1) != SESSIO_KEY_BYTES || PQgetlength(r, i, 2) != 8 ||
        ul < 0) {
      rows++;
      continue;
    }
    memset(&e, 0, sizeof e);
    memcpy(e.key.b, PQgetvalue(r, i, 1), SESSIO_KEY_BYTES);
    e.expires_at = get64(PQgetvalue(r, i, 2));
    if (sessio__ucur_step(&uc, e.expires_at, e.key.b, &skip)) continue;
    rows++;
    if (ul == 0 || ul > SESSIO_USER_MAX || memchr(u, '\0', (size_t)ul))
      continue; /* not a name we wrote */
    memcpy(e.user, u, (size_t)ul);
    e.user[ul] = '\0';
    sessio_store_user_hash(e.user, e.user_hash);
    (void)cb(ud, &e);
  }
  PQclear(r);
  if (rows < max_work) {
    *done = 1;
    cur->text[0] = '\0';
  } else {
    sessio__ucur_format(&uc, cur->text);
  }
  return SESSIO_OK;
}

struct iter_ctx {
  sessio_store_iter_fn cb;
  void *ud;
};

static int iter_row(void *ud, const PGresult *r) {
  struct iter_ctx *ic = ud;
  sessio_key key;
  sessio_record rec;
  PGresult *rr = (PGresult *)r;
  if (PQntuples(rr) != 1 || PQnfields(rr) != 6 || PQgetisnull(rr, 0, 0) ||
      PQgetlength(rr, 0, 0) != SESSIO_KEY_BYTES)
    return 0;
  memcpy(key.b, PQgetvalue(rr, 0, 0), SESSIO_KEY_BYTES);
  /* The blob is lent straight from the row for the call. */
  if (row_to_record(r, 0, 1, 0, &rec) != SESSIO_OK) return 0;
  return ic->cb(ic->ud, &key, &rec);
}

static sessio_err q_iterate(sessio_store *st, int64_t now,
                            sessio_store_iter_fn cb, void *ud) {
  params p = {0};
  struct iter_ctx ic = {cb, ud};
  p_int(&p, now);
  return run((pg_store *)st, S_ITER, &p, iter_row, &ic, NULL);
}

static sessio_err q_stats(sessio_store *st, struct sessio_store_stats *out) {
  pg_store *ps = (pg_store *)st;
  params p = {0};
  PGresult *r;
  sessio_err rc = run(ps, S_COUNT, &p, NULL, NULL, &r);
  if (rc != SESSIO_OK) return rc;
  if (PQntuples(r) == 1 && PQnfields(r) == 2 && PQgetlength(r, 0, 0) == 8 &&
      PQgetlength(r, 0, 1) == 8) {
    out->sessions = (uint64_t)get64(PQgetvalue(r, 0, 0));
    out->bytes = (uint64_t)get64(PQgetvalue(r, 0, 1));
  } else {
    rc = SESSIO_EIO;
  }
  PQclear(r);
  out->expired = atomic_load(&ps->expired);
  return rc;
}

/* The admin walk (contract version 3): key order, the cursor the hex of
 * the last key visited. */
static sessio_err q_scan(sessio_store *st, sessio_store_cursor *cur,
                         size_t max_work, sessio_store_iter_fn cb, void *ud,
                         int *done) {
  uint8_t last[SESSIO_KEY_BYTES];
  size_t last_len = 0;
  params p = {0};
  PGresult *r;
  *done = 0;
  if (cur->text[0]) {
    if (strlen(cur->text) != 2 * SESSIO_KEY_BYTES ||
        !sessio__unhex(cur->text, SESSIO_KEY_BYTES, last))
      return SESSIO_EINVAL;
    last_len = SESSIO_KEY_BYTES;
  }
  if (max_work == 0) max_work = 1;
  if (max_work > 100000) max_work = 100000; /* one result in memory */
  p_bytes(&p, last, last_len);
  p_int(&p, (int64_t)max_work);
  sessio_err rc = run((pg_store *)st, S_SCAN, &p, NULL, NULL, &r);
  if (rc != SESSIO_OK) return rc;
  int rows = PQntuples(r);
  for (int i = 0; i < rows; i++) {
    sessio_key key;
    sessio_record rec;
    if (PQgetisnull(r, i, 0) || PQgetlength(r, i, 0) != SESSIO_KEY_BYTES)
      continue;
    memcpy(key.b, PQgetvalue(r, i, 0), SESSIO_KEY_BYTES);
    memcpy(last, key.b, SESSIO_KEY_BYTES);
    last_len = SESSIO_KEY_BYTES;
    /* The blob is lent straight from the result for the call. */
    if (row_to_record(r, i, 1, 0, &rec) != SESSIO_OK) continue;
    (void)cb(ud, &key, &rec);
  }
  PQclear(r);
  if ((size_t)rows < max_work) {
    *done = 1;
    cur->text[0] = '\0';
  } else {
    sessio__hex(last, SESSIO_KEY_BYTES, cur->text);
  }
  return SESSIO_OK;
}

static void free_conninfo(pg_store *ps) {
  for (size_t i = 0; i < ps->nkw; i++) {
    free(ps->kw[i]);
    if (ps->val[i]) {
      explicit_bzero(ps->val[i], strlen(ps->val[i]));
      free(ps->val[i]);
    }
  }
  free(ps->kw);
  free(ps->val);
  ps->kw = ps->val = NULL;
  ps->nkw = 0;
}

static void pg_free(pg_store *ps) {
  for (int i = 0; i < S_N; i++) free(ps->sql[i]);
  free_conninfo(ps);
  pthread_cond_destroy(&ps->cv);
  pthread_mutex_destroy(&ps->mu);
  free(ps);
}

static void q_close(sessio_store *st) {
  pg_store *ps = (pg_store *)st;
  unsigned forks = sessio__forks();
  pthread_mutex_lock(&ps->mu);
  if (ps->forks != forks) after_fork_locked(ps, forks);
  drop_idle_locked(ps);
  pthread_mutex_unlock(&ps->mu);
  pg_free(ps);
}

static const sessio_store_methods postgres_methods = {
    .version = SESSIO_STORE_API_VERSION,
    .name = "postgres",
    .load = q_load,
    .save = q_save,
    .touch = q_touch,
    .remove = q_remove,
    .user_add = q_user_add,
    .user_list = q_user_list,
    .user_remove = q_user_remove,
    .gc = q_gc,
    .iterate = q_iterate,
    .stats = q_stats,
    .close = q_close,
    .scan = q_scan,
    .collect = q_collect,
    .user_scan = q_user_scan,
};

/* ---- schema ------------------------------------------------------------- */

/* Replaces "@T" and "@U" in 'tmpl' by the table names; malloc()ed. */
static char *fill(const pg_store *ps, const char *tmpl) {
  char t[2 * NAME_MAX_LEN + 8], u[2 * NAME_MAX_LEN + 16];
  snprintf(t, sizeof t, "%s%s%s", ps->schema, ps->schema[0] ? "." : "",
           ps->table);
  snprintf(u, sizeof u, "%s_users", t);
  size_t n = strlen(tmpl) + 1;
  for (const char *p = tmpl; (p = strchr(p, '@')) != NULL; p++) n += strlen(u);
  char *out = malloc(n), *o = out;
  if (out == NULL) return NULL;
  for (const char *p = tmpl; *p;) {
    if (p[0] == '@' && (p[1] == 'T' || p[1] == 'U')) {
      const char *s = p[1] == 'T' ? t : u;
      size_t l = strlen(s);
      memcpy(o, s, l);
      o += l;
      p += 2;
    } else {
      *o++ = *p++;
    }
  }
  *o = '\0';
  return out;
}

/* "@N" in the DDL below is the bare table name (index names live in the
 * table's schema and cannot be qualified). */
static char *fill_ddl(const pg_store *ps, const char *tmpl) {
  char *a = fill(ps, tmpl);
  if (a == NULL) return NULL;
  size_t n = strlen(a) + 1;
  for (const char *p = a; (p = strstr(p, "@N")) != NULL; p++)
    n += strlen(ps->table);
  char *out = malloc(n), *o = out;
  if (out != NULL) {
    for (const char *p = a; *p;) {
      if (p[0] == '@' && p[1] == 'N') {
        size_t l = strlen(ps->table);
        memcpy(o, ps->table, l);
        o += l;
        p += 2;
      } else {
        *o++ = *p++;
      }
    }
    *o = '\0';
  }
  free(a);
  return out;
}

/* The session rows: lookups go through the primary key, gc through an
 * index on the expiry's bucket of 65.536 s (expires_at >> 16, written by
 * every statement that writes expires_at: a generated column would cost a
 * parse of its expression per statement), not on expires_at itself. Every save and touch moves expires_at, but rarely its
 * bucket; an UPDATE that changes no indexed value is a HOT update (the new
 * row version goes on the same page, no index entry is written), which
 * roughly halves the cost of a save and keeps the indexes from bloating.
 * The fill factor leaves room on each page for those updates. The blob is
 * sealed (encrypted) data that does not compress: EXTERNAL storage spares
 * the server the attempt. The user index is its own table, its primary key
 * (user, key) the index on the user, its expiry indexed for gc (a pair is
 * written at sign-in, not per request). The comments mark the tables as
 * ours and carry the schema version. */
static const char ddl[] =
    "CREATE TABLE @T (key bytea PRIMARY KEY, version int8 NOT NULL,"
    " expires_at int8 NOT NULL, touched_at int8 NOT NULL,"
    " user_name bytea NOT NULL DEFAULT '', blob bytea NOT NULL,"
    " expires_bucket int8 NOT NULL)"
    " WITH (fillfactor = 70);"
    "ALTER TABLE @T ALTER COLUMN blob SET STORAGE EXTERNAL;"
    "CREATE INDEX @N_expires ON @T (expires_bucket);"
    "CREATE TABLE @U (user_name bytea NOT NULL, key bytea NOT NULL,"
    " expires_at int8 NOT NULL, PRIMARY KEY (user_name, key));"
    "CREATE INDEX @N_users_expires ON @U (expires_at);"
    "COMMENT ON TABLE @T IS '" SCHEMA_TAG_SESSIONS "';"
    "COMMENT ON TABLE @U IS '" SCHEMA_TAG_USERS "';";

/* Creates the two tables if neither exists, or checks that both are ours
 * (by their comments), in one transaction under an advisory lock so that
 * processes opening a new database at once agree. SESSIO_EINVAL when a
 * table of that name is not ours. */
static sessio_err setup_schema(pg_store *ps, pg_conn *c) {
  PGresult *r = NULL;
  sessio_err rc;
  char *check = fill(ps, "BEGIN; SELECT pg_advisory_xact_lock(hashtext('sessio"
                         " schema @T'));"
                         " SELECT to_regclass('@T') IS NOT NULL,"
                         " coalesce(obj_description(to_regclass('@T'),"
                         " 'pg_class'), ''),"
                         " to_regclass('@U') IS NOT NULL,"
                         " coalesce(obj_description(to_regclass('@U'),"
                         " 'pg_class'), '')");
  char *create = fill_ddl(ps, ddl);
  if (check == NULL || create == NULL) {
    rc = SESSIO_ENOMEM;
    goto done;
  }
  if ((rc = exec_simple(ps, c, check, &r)) != SESSIO_OK) goto rollback;
  if (PQntuples(r) != 1 || PQnfields(r) != 4) {
    rc = SESSIO_EIO;
    goto rollback;
  }
  /* Results of a simple query are text. */
  int has_t = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
  int has_u = strcmp(PQgetvalue(r, 0, 2), "t") == 0;
  int ours_t = strcmp(PQgetvalue(r, 0, 1), SCHEMA_TAG_SESSIONS) == 0;
  int ours_u = strcmp(PQgetvalue(r, 0, 3), SCHEMA_TAG_USERS) == 0;
  PQclear(r);
  r = NULL;
  if (has_t || has_u) {
    rc = has_t && has_u && ours_t && ours_u ? SESSIO_OK : SESSIO_EINVAL;
    goto rollback; /* nothing to write: end the transaction either way */
  }
  if ((rc = exec_simple(ps, c, create, NULL)) != SESSIO_OK) goto rollback;
  rc = exec_simple(ps, c, "COMMIT", NULL);
  goto done;
rollback:
  if (c->broken == 0) {
    sessio_err e = exec_simple(ps, c, "ROLLBACK", NULL);
    if (rc == SESSIO_OK) rc = e;
  }
done:
  PQclear(r);
  free(check);
  free(create);
  return rc;
}

/* ---- open --------------------------------------------------------------- */

/* Parses a duration: digits and a unit "ms", "s" or "min"; digits alone
 * are in 'bare_ms' units (seconds for connect_timeout, as libpq reads
 * it). */
static int parse_dur(const char *s, int64_t bare_ms, int64_t lo, int64_t hi,
                     int *out) {
  char *end;
  if (*s < '0' || *s > '9') return 0;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno != 0 || v > 100000000) return 0;
  int64_t ms;
  if (*end == '\0')
    ms = v * bare_ms;
  else if (strcmp(end, "ms") == 0)
    ms = v;
  else if (strcmp(end, "s") == 0)
    ms = v * 1000;
  else if (strcmp(end, "min") == 0)
    ms = v * 60000;
  else
    return 0;
  if (ms < lo || ms > hi) return 0;
  *out = (int)ms;
  return 1;
}

static int ident_ok(const char *s, size_t n) {
  if (n == 0 || n > NAME_MAX_LEN) return 0;
  if (!((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_')) return 0;
  for (size_t i = 1; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
          s[i] == '_'))
      return 0;
  return 1;
}

/* libpq keywords a URL may pass through, besides those of the URL's own
 * parts (user, host, port, dbname), which may also be given as parameters.
 * Not "password": sessio_store_url_redact() masks the password of the
 * user part only, so a password must be there (or in PGPASSWORD or a
 * password file). Anything else is refused, as in the other stores. */
static const char *const passthrough[] = {"host",
                                          "hostaddr",
                                          "port",
                                          "dbname",
                                          "user",
                                          "passfile",
                                          "sslmode",
                                          "sslrootcert",
                                          "sslcert",
                                          "sslkey",
                                          "sslcrl",
                                          "sslcrldir",
                                          "sslsni",
                                          "ssl_min_protocol_version",
                                          "ssl_max_protocol_version",
                                          "channel_binding",
                                          "gssencmode",
                                          "requirepeer",
                                          "krbsrvname",
                                          "target_session_attrs",
                                          "application_name",
                                          "options",
                                          "service"};

typedef struct open_ctx {
  pg_store *ps;
  char *kw[64], *val[64];
  size_t n;
  sessio_err err;
} open_ctx;

/* Sets keyword 'k' to 'v' (copied), replacing an earlier value. */
static int set_kw(open_ctx *o, const char *k, const char *v) {
  for (size_t i = 0; i < o->n; i++)
    if (strcmp(o->kw[i], k) == 0) {
      char *nv = strdup(v);
      if (nv == NULL) return 0;
      explicit_bzero(o->val[i], strlen(o->val[i]));
      free(o->val[i]);
      o->val[i] = nv;
      return 1;
    }
  if (o->n + 1 >= sizeof o->kw / sizeof o->kw[0]) return 0;
  o->kw[o->n] = strdup(k);
  o->val[o->n] = strdup(v);
  if (o->kw[o->n] == NULL || o->val[o->n] == NULL) {
    free(o->kw[o->n]);
    free(o->val[o->n]);
    return 0;
  }
  o->n++;
  return 1;
}

static sessio_err pg_param(void *ud, const char *name, const char *val) {
  open_ctx *o = ud;
  pg_store *ps = o->ps;
  if (strcmp(name, "table") == 0) {
    const char *dot = strchr(val, '.');
    size_t sl = dot ? (size_t)(dot - val) : 0;
    const char *t = dot ? dot + 1 : val;
    if ((dot && !ident_ok(val, sl)) || !ident_ok(t, strlen(t)))
      return SESSIO_EINVAL;
    memcpy(ps->schema, val, sl);
    ps->schema[sl] = '\0';
    snprintf(ps->table, sizeof ps->table, "%s", t);
    return SESSIO_OK;
  }
  long long v;
  if (strcmp(name, "max_sessions") == 0) {
    if (!sessio__opt_int(val, 1, INT64_MAX, &v)) return SESSIO_EINVAL;
    ps->max_sessions = (uint64_t)v;
    return SESSIO_OK;
  }
  if (strcmp(name, "pool") == 0) {
    if (!sessio__opt_int(val, 1, POOL_MAX, &v)) return SESSIO_EINVAL;
    ps->max_conns = (size_t)v;
    return SESSIO_OK;
  }
  if (strcmp(name, "timeout_ms") == 0) {
    if (!sessio__opt_int(val, 10, 600000, &v)) return SESSIO_EINVAL;
    ps->io_ms = (int)v;
    return SESSIO_OK;
  }
  /* connect_timeout is libpq's name (and a bare number libpq's unit,
   * seconds); connect_timeout_ms the name the other stores use. */
  if (strcmp(name, "connect_timeout") == 0)
    return parse_dur(val, 1000, 100, 600000, &ps->connect_ms) ? SESSIO_OK
                                                              : SESSIO_EINVAL;
  if (strcmp(name, "connect_timeout_ms") == 0) {
    if (!sessio__opt_int(val, 100, 600000, &v)) return SESSIO_EINVAL;
    ps->connect_ms = (int)v;
    return SESSIO_OK;
  }
  for (size_t i = 0; i < sizeof passthrough / sizeof passthrough[0]; i++)
    if (strcmp(name, passthrough[i]) == 0)
      return set_kw(o, name, val) ? SESSIO_OK : SESSIO_ENOMEM;
  return SESSIO_EINVAL;
}

static const char *kw_get(const open_ctx *o, const char *k) {
  for (size_t i = 0; i < o->n; i++)
    if (strcmp(o->kw[i], k) == 0) return o->val[i];
  return NULL;
}

/* Builds the conninfo of 'rest' ("//..." after the scheme): libpq parses
 * and percent-decodes the URL's authority and path (several hosts
 * included); the query is ours (table, pool, timeouts) or passed through;
 * then the settings every connection needs are added. */
static sessio_err build_conninfo(pg_store *ps, const char *rest) {
  open_ctx o;
  sessio_err rc = SESSIO_EINVAL;
  char *errmsg = NULL;
  PQconninfoOption *opts = NULL;
  memset(&o, 0, sizeof o);
  o.ps = ps;
  if (strncmp(rest, "//", 2) != 0) return SESSIO_EINVAL;
  const char *q = strchr(rest, '?');
  size_t blen = q ? (size_t)(q - rest) : strlen(rest);
  char *uri = malloc(blen + 12);
  if (uri == NULL) return SESSIO_ENOMEM;
  memcpy(uri, "postgresql:", 11);
  memcpy(uri + 11, rest, blen);
  uri[11 + blen] = '\0';
  opts = PQconninfoParse(uri, &errmsg);
  explicit_bzero(uri, blen + 11);
  free(uri);
  if (opts == NULL) {
    /* errmsg NULL: out of memory; else a malformed URL (not logged: it
     * may quote the password). */
    rc = errmsg == NULL ? SESSIO_ENOMEM : SESSIO_EINVAL;
    goto done;
  }
  for (PQconninfoOption *p = opts; p->keyword; p++)
    if (p->val != NULL && p->val[0] != '\0' &&
        !set_kw(&o, p->keyword, p->val)) {
      rc = SESSIO_ENOMEM;
      goto done;
    }
  if (q != NULL &&
      (rc = sessio_store_url_params(q + 1, pg_param, &o)) != SESSIO_OK)
    goto done;
  /* Timeouts: the server cancels a statement after statement_timeout (in
   * the startup packet: no extra round trip), a little before the call's
   * deadline on the socket, so that a slow statement leaves a usable
   * connection; TCP gives up on unanswered data after the deadline;
   * keepalives find a dead peer of an idle connection. */
  ps->statement_ms = ps->io_ms - (ps->io_ms / 4 < 500 ? ps->io_ms / 4 : 500);
  char buf[512], num[32];
  const char *user_opts = kw_get(&o, "options");
  snprintf(buf, sizeof buf, "-c statement_timeout=%d%s%s", ps->statement_ms,
           user_opts ? " " : "", user_opts ? user_opts : "");
  snprintf(num, sizeof num, "%d",
           (ps->connect_ms + 999) / 1000 < 2 ? 2
                                             : (ps->connect_ms + 999) / 1000);
  if (!set_kw(&o, "options", buf) || !set_kw(&o, "connect_timeout", num) ||
      !set_kw(&o, "keepalives", "1") || !set_kw(&o, "keepalives_idle", "30") ||
      !set_kw(&o, "keepalives_interval", "10") ||
      !set_kw(&o, "keepalives_count", "3") ||
      !set_kw(&o, "fallback_application_name", "sessio")) {
    rc = SESSIO_ENOMEM;
    goto done;
  }
  snprintf(num, sizeof num, "%d", ps->io_ms);
  if (!set_kw(&o, "tcp_user_timeout", num)) {
    rc = SESSIO_ENOMEM;
    goto done;
  }
  /* libpq would take any port string and fail only when connecting. */
  const char *ports = kw_get(&o, "port");
  for (const char *pp = ports; pp != NULL && *pp;) {
    char *end;
    if (*pp < '0' || *pp > '9') goto done;
    long v = strtol(pp, &end, 10);
    if (v < 1 || v > 65535 || (*end != '\0' && *end != ',')) goto done;
    pp = *end == ',' ? end + 1 : end;
  }
  const char *h = kw_get(&o, "host"), *pt = kw_get(&o, "port"),
             *db = kw_get(&o, "dbname"), *u = kw_get(&o, "user");
  snprintf(ps->where, sizeof ps->where, "%s%s%s:%s/%s", u ? u : "",
           u ? "@" : "", h ? h : "(default)", pt ? pt : "5432",
           db ? db : (u ? u : ""));
  ps->kw = calloc(o.n + 1, sizeof *ps->kw);
  ps->val = calloc(o.n + 1, sizeof *ps->val);
  if (ps->kw == NULL || ps->val == NULL) {
    free(ps->kw);
    free(ps->val);
    ps->kw = ps->val = NULL;
    rc = SESSIO_ENOMEM;
    goto done;
  }
  for (size_t i = 0; i < o.n; i++) {
    ps->kw[i] = o.kw[i];
    ps->val[i] = o.val[i];
  }
  ps->nkw = o.n;
  o.n = 0;
  rc = SESSIO_OK;
done:
  for (size_t i = 0; i < o.n; i++) {
    free(o.kw[i]);
    explicit_bzero(o.val[i], strlen(o.val[i]));
    free(o.val[i]);
  }
  if (opts != NULL) {
    for (PQconninfoOption *p = opts; p->keyword; p++)
      if (p->val) explicit_bzero(p->val, strlen(p->val));
    PQconninfoFree(opts);
  }
  PQfreemem(errmsg);
  return rc;
}

/* 'rest' is "//..." after "postgres:" or "postgresql:". */
sessio_err sessio__store_open_postgres(const char *rest, sessio_store **out) {
  sessio_err rc;
  char why[512];
  *out = NULL;
  if (sessio__fork_watch() != SESSIO_OK) return SESSIO_ENOMEM;
  pg_store *ps = calloc(1, sizeof *ps);
  if (ps == NULL) return SESSIO_ENOMEM;
  ps->base.methods = &postgres_methods;
  ps->connect_ms = CONNECT_MS_DEFAULT;
  ps->io_ms = TIMEOUT_MS_DEFAULT;
  ps->max_conns = POOL_DEFAULT;
  ps->backoff = BACKOFF_MIN_MS;
  ps->live_at = INT64_MIN;
  ps->forks = sessio__forks();
  strcpy(ps->table, "sessio_sessions");
  atomic_init(&ps->expired, 0);
  if (pthread_mutex_init(&ps->mu, NULL) != 0) {
    free(ps);
    return SESSIO_ENOMEM;
  }
  pthread_condattr_t ca;
  if (pthread_condattr_init(&ca) != 0) {
    pthread_mutex_destroy(&ps->mu);
    free(ps);
    return SESSIO_ENOMEM;
  }
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  int cr = pthread_cond_init(&ps->cv, &ca);
  pthread_condattr_destroy(&ca);
  if (cr != 0) {
    pthread_mutex_destroy(&ps->mu);
    free(ps);
    return SESSIO_ENOMEM;
  }
  if ((rc = build_conninfo(ps, rest)) != SESSIO_OK) goto fail;
  for (int i = 0; i < S_N; i++)
    if ((ps->sql[i] = fill(ps, stmt_def[i].sql)) == NULL) {
      rc = SESSIO_ENOMEM;
      goto fail;
    }
  /* Reachable now, and the schema ours? (A server down later is handled
   * call by call.) The first connection stays in the pool. */
  pg_conn *c;
  if ((rc = conn_open(ps, 1, &c, why, sizeof why)) != SESSIO_OK) {
    sessio__store_open_log(SESSIO_LOG_ERROR, "postgres %s: %s", ps->where, why);
    goto fail;
  }
  c->gen = ps->gen;
  ps->idle = c;
  ps->n_open = 1;
  *out = &ps->base;
  return SESSIO_OK;
fail:
  pg_free(ps);
  return rc;
}
