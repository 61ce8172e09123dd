/*
 * test_postgres_store.c — what the conformance suite cannot see of the
 * postgres:// store: URL parsing (percent-decoded user and password,
 * PGPASSWORD and a password file, refused parameters), the schema created
 * on first open and refused when a table is not ours, gc in bounded batches
 * through the expiry index, the statement and socket timeouts, an outage
 * (SESSIO_EUNAVAIL, one log line each way, no password in any line) with
 * recovery and no descriptor leak, and fork safety. The servers are private
 * (tests/postgres/pg_proc.h), started and stopped here.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "harness.h"
#include "postgres/pg_proc.h"
#include "sessio.h"
#include "sessio/store.h"
#include "store/store_internal.h"

#define HOUR 3600000LL
/* Characters that must be percent-encoded in a URL's userinfo. */
#define PASSWORD "p@ss:w/rd%?#&= x"
#define PASSWORD_ENC "p%40ss%3Aw%2Frd%25%3F%23%26%3D%20x"

static pp_server srv;   /* trust authentication */
static pp_server pwsrv; /* scram-sha-256 with PASSWORD */
static int64_t NOW;

static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  int n = 0;
  if (d == NULL) return -1;
  while (readdir(d) != NULL) n++;
  closedir(d);
  return n - 3; /* ".", ".." and the DIR's own descriptor */
}

static sessio_key key_of(const char *s) {
  sessio_key k;
  crypto_generichash(k.b, sizeof k.b, (const uint8_t *)s, strlen(s), NULL, 0);
  return k;
}

static sessio_err put(sessio_store *st, const sessio_key *k, int64_t expires) {
  sessio_record r;
  memset(&r, 0, sizeof r);
  r.blob = (uint8_t *)"blob";
  r.blob_len = 4;
  r.touched_at = NOW;
  r.expires_at = expires;
  uint64_t v;
  return sessio__store_save(st, k, &r, 0, NOW, &v);
}

static char *url_of(const pp_server *s, const char *userinfo,
                    const char *query) {
  static char buf[4][512];
  static int next;
  char *b = buf[next++ % 4];
  snprintf(b, 512, "postgres://%s@127.0.0.1:%d/postgres%s%s", userinfo, s->port,
           query ? "?" : "", query ? query : "");
  return b;
}

/* ---- the logger ----------------------------------------------------------- */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_text[16384];
static int log_down, log_up;

static void capture_log(void *ud, sessio_log_level level, const char *msg) {
  (void)ud;
  (void)level;
  pthread_mutex_lock(&log_mu);
  size_t n = strlen(log_text);
  snprintf(log_text + n, sizeof log_text - n, "%s\n", msg);
  if (strstr(msg, "unreachable")) log_down++;
  if (strstr(msg, "reachable again")) log_up++;
  pthread_mutex_unlock(&log_mu);
}

static void log_reset(void) {
  pthread_mutex_lock(&log_mu);
  log_text[0] = '\0';
  log_down = log_up = 0;
  pthread_mutex_unlock(&log_mu);
}

/* ---- URL ------------------------------------------------------------------ */

static void test_url_with_percent_encoded_password_opens(void) {
  sessio_store *st = NULL;
  CHECK_OK(
      sessio_store_open(url_of(&pwsrv, "sessio:" PASSWORD_ENC, NULL), &st));
  sessio_key k = key_of("pw-ok");
  if (st) CHECK_OK(put(st, &k, NOW + HOUR));
  sessio_store_close(st);
  /* postgresql:// is the same store. */
  char u[512];
  snprintf(u, sizeof u, "postgresql://sessio:%s@127.0.0.1:%d/postgres",
           PASSWORD_ENC, pwsrv.port);
  st = NULL;
  CHECK_OK(sessio_store_open(u, &st));
  if (st) CHECK_STR(sessio_store_name(st), "postgres");
  sessio_store_close(st);
}

static void test_wrong_password_does_not_open(void) {
  sessio_store *st = NULL;
  log_reset();
  CHECK_ERR(sessio_store_open_logged(url_of(&pwsrv, "sessio:wrong", NULL),
                                     capture_log, NULL, SESSIO_LOG_ERROR, &st),
            SESSIO_EUNAVAIL);
  CHECK(st == NULL);
  /* The server's reason, no password. */
  CHECK(strstr(log_text, "password authentication failed") != NULL);
  CHECK(strstr(log_text, "wrong") == NULL);
  /* The password is not decoded twice: "%2540" is "%40", not "@". */
  CHECK_ERR(sessio_store_open(url_of(&pwsrv, "sessio:p%2540ss", NULL), &st),
            SESSIO_EUNAVAIL);
}

static void test_password_from_pgpassword(void) {
  sessio_store *st = NULL;
  setenv("PGPASSWORD", PASSWORD, 1);
  CHECK_OK(sessio_store_open(url_of(&pwsrv, "sessio", NULL), &st));
  unsetenv("PGPASSWORD");
  sessio_store_close(st);
}

static void test_password_from_a_password_file(void) {
  char path[] = "/tmp/sessio-pgpass-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  if (fd < 0) return;
  /* In .pgpass, ':' and '\' in a field are escaped with '\'. */
  dprintf(fd, "127.0.0.1:%d:postgres:sessio:p@ss\\:w/rd%%?#&= x\n", pwsrv.port);
  close(fd);
  char q[128], enc[96];
  snprintf(enc, sizeof enc, "%s", path);
  snprintf(q, sizeof q, "passfile=%s", enc);
  sessio_store *st = NULL;
  CHECK_OK(sessio_store_open(url_of(&pwsrv, "sessio", q), &st));
  sessio_store_close(st);
  unlink(path);
}

static void test_malformed_urls_and_parameters_are_einval(void) {
  static const char *const bad_query[] = {
      "table=Bad-Name", "table=1abc", "table=a.b.c", "table=",
      "table=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
      "pool=0", "pool=257", "pool=x", "connect_timeout=abc",
      "connect_timeout=5h", "timeout_ms=0", "timeout_ms=2s",
      "connect_timeout_ms=1s", "statement_timeout=1000",
      "unknown=1", "sslmode", "a=%zz",
      "password=" PASSWORD_ENC /* only in the user part, where it is
                                  redacted from log lines (S25) */};
  sessio_store *st = NULL;
  for (size_t i = 0; i < sizeof bad_query / sizeof bad_query[0]; i++) {
    sessio_err rc =
        sessio_store_open(url_of(&srv, "sessio", bad_query[i]), &st);
    if (rc != SESSIO_EINVAL) fprintf(stderr, "  query: %s\n", bad_query[i]);
    CHECK_ERR(rc, SESSIO_EINVAL);
  }
  CHECK_ERR(sessio_store_open("postgres:", &st), SESSIO_EINVAL);
  CHECK_ERR(sessio_store_open("postgres:localhost/db", &st), SESSIO_EINVAL);
  CHECK_ERR(sessio_store_open("postgres://u:p%zz@127.0.0.1/db", &st),
            SESSIO_EINVAL);
  CHECK_ERR(sessio_store_open("postgres://127.0.0.1:99999/db", &st),
            SESSIO_EINVAL);
  CHECK(st == NULL);
}

static void test_good_parameters_are_accepted(void) {
  sessio_store *st = NULL;
  CHECK_OK(sessio_store_open(
      url_of(&srv, "sessio",
             "table=params&pool=3&sslmode=disable&connect_timeout=1500ms"
             "&timeout_ms=3000&application_name=sessio%20test"
             "&target_session_attrs=read-write"),
      &st));
  sessio_store_close(st);
  /* A schema-qualified table. */
  char *r = pp_sql(&srv, "CREATE SCHEMA IF NOT EXISTS app");
  free(r);
  st = NULL;
  CHECK_OK(sessio_store_open(url_of(&srv, "sessio", "table=app.sess"), &st));
  sessio_store_close(st);
  r = pp_sql(&srv, "SELECT obj_description('app.sess'::regclass)");
  CHECK_STR(r, "sessio sessions, schema 1");
  free(r);
}

/* ---- schema --------------------------------------------------------------- */

static void test_schema_is_created_on_first_open(void) {
  sessio_store *st = NULL;
  char *r = pp_sql(&srv, "SELECT to_regclass('fresh') IS NULL");
  CHECK_STR(r, "t");
  free(r);
  CHECK_OK(sessio_store_open(url_of(&srv, "sessio", "table=fresh"), &st));
  r = pp_sql(&srv, "SELECT obj_description('fresh'::regclass) || ' / ' ||"
                   " obj_description('fresh_users'::regclass)");
  CHECK_STR(r, "sessio sessions, schema 1 / sessio user index, schema 1");
  free(r);
  /* The indexes: on expiry (gc; the sessions' by its 65 s bucket) for
   * both, and the user index's primary key starts with the user. */
  r = pp_sql(&srv, "SELECT string_agg(indexdef, ' | ' ORDER BY indexname)"
                   " FROM pg_indexes WHERE tablename IN ('fresh',"
                   " 'fresh_users')");
  CHECK(r && strstr(r, "fresh_expires ON public.fresh USING btree "
                       "(expires_bucket)"));
  CHECK(r && strstr(r, "fresh_users_expires ON public.fresh_users USING "
                       "btree (expires_at)"));
  CHECK(r && strstr(r, "ON public.fresh_users USING btree (user_name, key)"));
  if (r) printf("# %s\n", r);
  free(r);
  sessio_store_close(st);
  /* A second open finds it and keeps the data. */
  st = NULL;
  CHECK_OK(sessio_store_open(url_of(&srv, "sessio", "table=fresh"), &st));
  sessio_store_close(st);
}

static void test_a_table_that_is_not_ours_is_refused_with_a_clear_error(void) {
  sessio_store *st = NULL;
  char *r = pp_sql(&srv, "CREATE TABLE theirs (id int PRIMARY KEY);"
                         "INSERT INTO theirs VALUES (1)");
  free(r);
  log_reset();
  CHECK_ERR(sessio_store_open_logged(url_of(&srv, "sessio", "table=theirs"),
                                     capture_log, NULL, SESSIO_LOG_ERROR, &st),
            SESSIO_EINVAL);
  CHECK(st == NULL);
  /* One line that says what and what to do. */
  printf("# %s", log_text);
  CHECK(strstr(log_text, "table theirs or theirs_users exists and is not a "
                         "sessio table") != NULL);
  CHECK(strstr(log_text, "?table=NAME") != NULL);
  CHECK(strstr(log_text, "127.0.0.1") != NULL);
  /* Untouched. */
  r = pp_sql(&srv, "SELECT count(*) FROM theirs");
  CHECK_STR(r, "1");
  free(r);
  CHECK_STR(r = pp_sql(&srv, "SELECT to_regclass('theirs_users') IS NULL"),
            "t");
  free(r);
  /* Ours by name, but the user index table is someone else's. */
  r = pp_sql(&srv, "CREATE TABLE half_users (x int)");
  free(r);
  CHECK_ERR(sessio_store_open(url_of(&srv, "sessio", "table=half"), &st),
            SESSIO_EINVAL);
  /* Ours by comment but of another shape: statements do not prepare. */
  r = pp_sql(&srv, "CREATE TABLE odd (key bytea PRIMARY KEY);"
                   "CREATE TABLE odd_users (x int);"
                   "COMMENT ON TABLE odd IS 'sessio sessions, schema 1';"
                   "COMMENT ON TABLE odd_users IS "
                   "'sessio user index, schema 1'");
  free(r);
  CHECK_ERR(sessio_store_open(url_of(&srv, "sessio", "table=odd"), &st),
            SESSIO_EINVAL);
}

static void *open_close(void *arg) {
  sessio_store *st = NULL;
  *(sessio_err *)arg =
      sessio_store_open(url_of(&srv, "sessio", "table=race"), &st);
  sessio_store_close(st);
  return NULL;
}

static void test_concurrent_first_opens_agree_on_the_schema(void) {
  enum { N = 6 };
  pthread_t th[N];
  sessio_err rc[N];
  for (int i = 0; i < N; i++)
    CHECK_INT(pthread_create(&th[i], NULL, open_close, &rc[i]), 0);
  for (int i = 0; i < N; i++) {
    pthread_join(th[i], NULL);
    CHECK_OK(rc[i]);
  }
}

/* ---- gc ------------------------------------------------------------------- */

static void test_gc_is_bounded_and_goes_through_the_expiry_index(void) {
  enum { DEAD = 3000, LIVE = 50 };
  sessio_store *st = NULL;
  CHECK_OK(sessio_store_open(url_of(&srv, "sessio", "table=gcb"), &st));
  if (st == NULL) return;
  /* Many rows written in one statement, as the store would write them. */
  char sql[768];
  snprintf(sql, sizeof sql,
           "INSERT INTO gcb SELECT sha256(int4send(i)), 1, %lld + i * 1000,"
           " %lld, ''::bytea, '\\x00'::bytea, (%lld + i * 1000) >> 16"
           " FROM generate_series(1, %d) i;"
           "INSERT INTO gcb SELECT sha256(int4send(-i)), 1, %lld, %lld,"
           " ''::bytea, '\\x00'::bytea, %lld >> 16"
           " FROM generate_series(1, %d) i;"
           "ANALYZE gcb",
           (long long)NOW, (long long)NOW, (long long)NOW, DEAD,
           (long long)(NOW + 2 * HOUR), (long long)NOW,
           (long long)(NOW + 2 * HOUR), LIVE);
  char *r = pp_sql(&srv, sql);
  CHECK(r != NULL);
  free(r);
  /* The plan of gc's statement: the expiry index, not a scan of the
   * table. */
  snprintf(sql, sizeof sql,
           "EXPLAIN DELETE FROM gcb WHERE ctid = ANY(ARRAY(SELECT ctid"
           " FROM gcb WHERE expires_bucket <= (%lld >> 16) AND"
           " expires_at <= %lld ORDER BY expires_bucket"
           " LIMIT 100 FOR UPDATE SKIP LOCKED)) AND expires_at <= %lld",
           (long long)(NOW + HOUR), (long long)(NOW + HOUR),
           (long long)(NOW + HOUR));
  char ci[128];
  snprintf(ci, sizeof ci,
           "host=127.0.0.1 port=%d dbname=postgres "
           "user=sessio",
           srv.port);
  PGconn *c = PQconnectdb(ci);
  PGresult *pr = PQexec(c, sql);
  int index_scan = 0, seq_scan = 0;
  for (int i = 0; i < PQntuples(pr); i++) {
    const char *line = PQgetvalue(pr, i, 0);
    if (strstr(line, "gcb_expires")) index_scan = 1;
    if (strstr(line, "Seq Scan")) seq_scan = 1;
    printf("# %s\n", line);
  }
  CHECK(index_scan);
  CHECK(!seq_scan);
  PQclear(pr);
  PQfinish(c);

  size_t removed = 0;
  int done = 0;
  /* Dead: expiring NOW + 1 s .. NOW + 3000 s, all before NOW + HOUR. */
  CHECK_OK(sessio_store_gc(st, NOW + HOUR, 100, &removed, &done));
  CHECK_INT(removed, 100);
  CHECK_INT(done, 0);
  snprintf(sql, sizeof sql, "SELECT count(*) FROM gcb WHERE expires_at <= %lld",
           (long long)(NOW + HOUR));
  CHECK_STR(r = pp_sql(&srv, sql), "2900");
  free(r);
  size_t total = removed, calls = 1;
  while (!done && calls < 1000) {
    removed = 0;
    CHECK_OK(sessio_store_gc(st, NOW + HOUR, 700, &removed, &done));
    CHECK(removed <= 700);
    total += removed;
    calls++;
  }
  CHECK_INT(total, DEAD);
  CHECK(calls >= (DEAD - 100) / 700);
  CHECK_STR(r = pp_sql(&srv, "SELECT count(*) FROM gcb"), "50");
  free(r);
  struct sessio_store_stats s;
  CHECK_OK(sessio_store_stats(st, &s));
  CHECK_INT(s.expired, DEAD);
  CHECK_INT(s.sessions, LIVE);
  sessio_store_close(st);
}

/* ---- timeouts ------------------------------------------------------------- */

static void test_a_statement_waiting_on_a_lock_times_out_as_unavail(void) {
  sessio_store *st = NULL;
  CHECK_OK(sessio_store_open(
      url_of(&srv, "sessio", "table=locked&timeout_ms=300"), &st));
  if (st == NULL) return;
  sessio_key k = key_of("locked");
  CHECK_OK(put(st, &k, NOW + HOUR));
  char ci[128];
  snprintf(ci, sizeof ci,
           "host=127.0.0.1 port=%d dbname=postgres "
           "user=sessio",
           srv.port);
  PGconn *c = PQconnectdb(ci);
  PGresult *pr = PQexec(c, "BEGIN; LOCK TABLE locked IN ACCESS EXCLUSIVE MODE");
  CHECK_INT(PQresultStatus(pr), PGRES_COMMAND_OK);
  PQclear(pr);
  sessio_record rec;
  int found = 0;
  int64_t t0 = tp_mono_ms();
  CHECK_ERR(sessio__store_load(st, &k, NOW, &rec, &found), SESSIO_EUNAVAIL);
  int64_t took = tp_mono_ms() - t0;
  printf("# a locked table answered SESSIO_EUNAVAIL after %lld ms\n",
         (long long)took);
  CHECK(took >= 150 && took < 1500);
  pr = PQexec(c, "ROLLBACK");
  PQclear(pr);
  PQfinish(c);
  CHECK_OK(sessio__store_load(st, &k, NOW, &rec, &found));
  CHECK_INT(found, 1);
  sessio_record_clear(&rec);
  sessio_store_close(st);
}

/* Sends 'sig' to every process whose parent is 'ppid'. */
static void signal_children(pid_t ppid, int sig) {
  DIR *d = opendir("/proc");
  struct dirent *e;
  while (d && (e = readdir(d)) != NULL) {
    char path[300], buf[512];
    int pid = atoi(e->d_name);
    if (pid <= 0) continue;
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) continue;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')');
    int pp = 0;
    if (rp && sscanf(rp + 2, "%*c %d", &pp) == 1 && pp == ppid) kill(pid, sig);
  }
  if (d) closedir(d);
}

static void test_a_server_that_stops_answering_times_out_on_the_socket(void) {
  sessio_store *st = NULL;
  CHECK_OK(sessio_store_open(url_of(&srv, "sessio",
                                    "table=hang&timeout_ms=1000"
                                    "&connect_timeout_ms=300"),
                             &st));
  if (st == NULL) return;
  sessio_key k = key_of("hang");
  CHECK_OK(put(st, &k, NOW + HOUR));
  /* Every server process frozen: no statement_timeout can fire, only our
   * deadline on the socket (timeout_ms). */
  kill(srv.pid, SIGSTOP);
  signal_children(srv.pid, SIGSTOP);
  sessio_record rec;
  int found = 0;
  int64_t t0 = tp_mono_ms();
  sessio_err rc = sessio__store_load(st, &k, NOW, &rec, &found);
  int64_t took = tp_mono_ms() - t0;
  /* A second unanswered call opens the circuit: the next ones fail at
   * once (but for a paced probe, within connect_timeout_ms), so a frozen
   * server does not hold every request thread for timeout_ms. */
  sessio_err rc2 = sessio__store_load(st, &k, NOW, &rec, &found);
  int64_t t1 = tp_mono_ms(), slowest = 0;
  int calls = 0;
  sessio_err rc3 = SESSIO_EUNAVAIL;
  while (tp_mono_ms() - t1 < 500 && rc3 == SESSIO_EUNAVAIL) {
    int64_t t = tp_mono_ms();
    rc3 = sessio__store_load(st, &k, NOW, &rec, &found);
    t = tp_mono_ms() - t;
    if (t > slowest) slowest = t;
    calls++;
  }
  signal_children(srv.pid, SIGCONT);
  kill(srv.pid, SIGCONT);
  CHECK_ERR(rc, SESSIO_EUNAVAIL);
  CHECK_ERR(rc2, SESSIO_EUNAVAIL);
  CHECK_ERR(rc3, SESSIO_EUNAVAIL);
  printf("# a frozen server answered SESSIO_EUNAVAIL after %lld ms; circuit "
         "open: %d calls in 500 ms, slowest %lld ms\n",
         (long long)took, calls, (long long)slowest);
  CHECK(took >= 950 && took < 2500);
  CHECK(calls >= 10 && slowest < 950); /* never timeout_ms again */
  /* Back to normal (a fresh connection). */
  int ok = 0;
  for (int i = 0; i < 200 && !ok; i++) {
    ok = sessio__store_load(st, &k, NOW, &rec, &found) == SESSIO_OK;
    if (!ok) tp_sleep_ms(10);
  }
  CHECK(ok);
  CHECK_INT(found, 1);
  sessio_record_clear(&rec);
  sessio_store_close(st);
}

/* ---- outage --------------------------------------------------------------- */

struct worker {
  sessio_store *st;
  int id;
  atomic_int *stop;
  int ok, unavail, other;
};

static void *hammer(void *arg) {
  struct worker *w = arg;
  char name[32];
  int i = 0;
  while (!atomic_load(w->stop)) {
    snprintf(name, sizeof name, "w%d-%d", w->id, i++ % 20);
    sessio_key k = key_of(name);
    sessio_record rec;
    int found = 0;
    sessio_err rc = sessio__store_load(w->st, &k, NOW, &rec, &found);
    if (rc == SESSIO_OK) {
      sessio_record_clear(&rec);
      if (!found) rc = put(w->st, &k, NOW + HOUR);
      if (rc == SESSIO_ECONFLICT) rc = SESSIO_OK;
    }
    if (rc == SESSIO_OK)
      w->ok++;
    else if (rc == SESSIO_EUNAVAIL)
      w->unavail++;
    else
      w->other++;
    if (i % 50 == 0) tp_sleep_ms(1);
  }
  return NULL;
}

static void
test_outage_is_unavail_then_recovers_and_never_logs_the_password_S25(void) {
  enum { WORKERS = 6 };
  int fd_open = count_fds();
  sessio_store *st = NULL;
  CHECK_OK(sessio_store_open(
      url_of(&pwsrv, "sessio:" PASSWORD_ENC, "table=outage&pool=4"), &st));
  if (st == NULL) return;
  log_reset();
  CHECK_OK(sessio_store_set_logger(st, capture_log, NULL, SESSIO_LOG_DEBUG));
  atomic_int stop = 0;
  struct worker w[WORKERS];
  pthread_t th[WORKERS];
  for (int i = 0; i < WORKERS; i++) {
    w[i] = (struct worker){st, i, &stop, 0, 0, 0};
    CHECK_INT(pthread_create(&th[i], NULL, hammer, &w[i]), 0);
  }
  tp_sleep_ms(300); /* traffic on every pooled connection */
  int fd_busy = count_fds();
  /* A crash: the postmaster and its backends killed at once. */
  pp_stop(&pwsrv, SIGQUIT);
  tp_sleep_ms(1500); /* many calls fail meanwhile */
  int unavail = 0;
  for (int i = 0; i < WORKERS; i++) unavail += w[i].unavail;
  CHECK(unavail > 0);
  /* Failing calls do not pile up descriptors. */
  CHECK(count_fds() <= fd_busy);
  CHECK(pp_start(&pwsrv, NULL)); /* crash recovery, same port */
  int64_t t_up = tp_mono_ms();
  int ok_before[WORKERS];
  for (int i = 0; i < WORKERS; i++) ok_before[i] = w[i].ok;
  int back = 0;
  while (!back && tp_mono_ms() - t_up < 5000) {
    back = 1;
    for (int i = 0; i < WORKERS; i++) back &= w[i].ok > ok_before[i] + 5;
    if (!back) tp_sleep_ms(10);
  }
  int64_t recovered = tp_mono_ms() - t_up;
  atomic_store(&stop, 1);
  for (int i = 0; i < WORKERS; i++) {
    pthread_join(th[i], NULL);
    CHECK_INT(w[i].other, 0);
  }
  printf("# %d calls answered SESSIO_EUNAVAIL; every worker back %lld ms "
         "after the restart\n",
         unavail, (long long)recovered);
  CHECK(back);
  CHECK(recovered < 1500);
  CHECK_INT(log_down, 1);
  CHECK_INT(log_up, 1);
  CHECK(strstr(log_text, "127.0.0.1") != NULL);
  CHECK(strstr(log_text, PASSWORD) == NULL);
  CHECK(strstr(log_text, PASSWORD_ENC) == NULL);
  CHECK(strstr(log_text, "p@ss") == NULL);
  printf("# log: %s", log_text);
  CHECK(count_fds() <= fd_busy);
  sessio_store_close(st);
  CHECK_INT(count_fds(), fd_open);
}

static void test_a_server_down_at_open_is_unavail(void) {
  sessio_store *st = NULL;
  int port = tp_free_port(0);
  char u[128];
  snprintf(u, sizeof u, "postgres://sessio@127.0.0.1:%d/postgres", port);
  int fds = count_fds();
  CHECK_ERR(sessio_store_open(u, &st), SESSIO_EUNAVAIL);
  CHECK(st == NULL);
  CHECK_INT(count_fds(), fds);
}

/* ---- fork ----------------------------------------------------------------- */

static void test_a_forked_child_leaves_the_parents_connection_alone(void) {
  sessio_store *st = NULL;
  CHECK_OK(sessio_store_open(
      url_of(&srv, "sessio", "table=forked&pool=1&application_name=forktest"),
      &st));
  if (st == NULL) return;
  sessio_key k = key_of("forked");
  CHECK_OK(put(st, &k, NOW + HOUR));
  /* The backend serving the parent's one pooled connection. */
  char *backend = pp_sql(&srv, "SELECT pid FROM pg_stat_activity"
                               " WHERE application_name = 'forktest'");
  CHECK(backend && *backend);
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    /* The child uses the store (its own connection) and closes it. */
    sessio_record rec;
    int found = 0;
    sessio_err rc = sessio__store_load(st, &k, NOW, &rec, &found);
    sessio_record_clear(&rec);
    sessio_store_close(st);
    _exit(rc == SESSIO_OK && found ? 0 : 1);
  }
  CHECK(pid > 0);
  CHECK_INT(pp_wait(pid), 0);
  /* The parent's connection still works, on the same backend: the child
   * neither used nor terminated it. */
  sessio_record rec;
  int found = 0;
  CHECK_OK(sessio__store_load(st, &k, NOW, &rec, &found));
  CHECK_INT(found, 1);
  sessio_record_clear(&rec);
  char sql[160];
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM pg_stat_activity"
           " WHERE pid = %s",
           backend ? backend : "0");
  char *alive = pp_sql(&srv, sql);
  CHECK_STR(alive, "1");
  free(alive);
  free(backend);
  sessio_store_close(st);
}

int main(void) {
  struct timespec ts;
  if (sodium_init() < 0) return 2;
  clock_gettime(CLOCK_REALTIME, &ts);
  NOW = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
  if (!pp_init(&srv, NULL) || !pp_start(&srv, NULL) ||
      !pp_init(&pwsrv, PASSWORD) || !pp_start(&pwsrv, NULL)) {
    fprintf(stderr, "cannot start PostgreSQL\n");
    pp_destroy(&srv);
    pp_destroy(&pwsrv);
    printf("0 passed, 1 failed\n");
    return 1;
  }
  RUN(test_url_with_percent_encoded_password_opens);
  RUN(test_wrong_password_does_not_open);
  RUN(test_password_from_pgpassword);
  RUN(test_password_from_a_password_file);
  RUN(test_malformed_urls_and_parameters_are_einval);
  RUN(test_good_parameters_are_accepted);
  RUN(test_schema_is_created_on_first_open);
  RUN(test_a_table_that_is_not_ours_is_refused_with_a_clear_error);
  RUN(test_concurrent_first_opens_agree_on_the_schema);
  RUN(test_gc_is_bounded_and_goes_through_the_expiry_index);
  RUN(test_a_statement_waiting_on_a_lock_times_out_as_unavail);
  RUN(test_a_server_that_stops_answering_times_out_on_the_socket);
  RUN(test_a_server_down_at_open_is_unavail);
  RUN(test_outage_is_unavail_then_recovers_and_never_logs_the_password_S25);
  RUN(test_a_forked_child_leaves_the_parents_connection_alone);
  pp_destroy(&srv);
  pp_destroy(&pwsrv);
  return DONE();
}
