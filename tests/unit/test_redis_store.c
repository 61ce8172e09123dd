/*
 * test_redis_store.c — what only the redis:// and redis-cluster:// stores
 * promise, beyond the conformance suite: URL parsing, CRC16 key slots, Lua
 * scripts surviving a flushed script cache, the outage behaviour (SESSIO_EUNAVAIL fast, no crash, no
 * descriptor leak, one log line per state change, recovery within a second
 * of Redis coming back), MOVED/ASK redirects during a slot migration, and
 * a master failover survived. Starts its own redis-server processes on free
 * 127.0.0.1 ports (tests/redis/redis_proc.h) and always stops them.
 */
#include <dirent.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "redis/redis_proc.h"
#include "sessio.h"
#include "sessio/store.h"
#include "store/store_internal.h" /* the record-level dispatch wrappers */
#include "store/redis_methods.h"

#define HOUR 3600000LL

static int64_t wall(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static sessio_key rand_key(void) {
  sessio_key k;
  if (getrandom(k.b, sizeof k.b, 0) != (ssize_t)sizeof k.b)
    memset(k.b, 0x5a, sizeof k.b);
  return k;
}

static sessio_err put(sessio_store *st, const sessio_key *k, uint64_t counter,
                      uint64_t expected, int64_t now, uint64_t *ver) {
  sessio_record r;
  memset(&r, 0, sizeof r);
  r.blob = (uint8_t *)&counter;
  r.blob_len = sizeof counter;
  r.touched_at = now;
  r.expires_at = now + HOUR;
  return sessio__store_save(st, k, &r, expected, now, ver);
}

/* Loads 'k': SESSIO_OK with '*found' and the counter in its blob. */
static sessio_err get(sessio_store *st, const sessio_key *k, int64_t now,
                      int *found, uint64_t *counter, uint64_t *ver) {
  sessio_record r;
  sessio_err rc = sessio__store_load(st, k, now, &r, found);
  if (rc == SESSIO_OK && *found && r.blob_len == 8) {
    memcpy(counter, r.blob, 8);
    if (ver) *ver = r.version;
  }
  sessio_record_clear(&r);
  return rc;
}

/* get(), retried for up to 5 s while it says SESSIO_EUNAVAIL (a command
 * timeout behind a slow fsync or a failover on a busy machine). */
static sessio_err get_retry(sessio_store *st, const sessio_key *k, int64_t now,
                            int *found, uint64_t *counter) {
  sessio_err rc;
  int64_t until = tp_mono_ms() + 5000;
  while ((rc = get(st, k, now, found, counter, NULL)) == SESSIO_EUNAVAIL &&
         tp_mono_ms() < until)
    tp_sleep_ms(10);
  return rc;
}

/* One compare-and-set increment (single try). */
static sessio_err incr_once(sessio_store *st, const sessio_key *k,
                            int64_t now) {
  int found = 0;
  uint64_t c = 0, v = 0, nv;
  sessio_err rc = get(st, k, now, &found, &c, &v);
  if (rc != SESSIO_OK) return rc;
  if (!found) return SESSIO_ECORRUPT;
  return put(st, k, c + 1, v, now, &nv);
}

static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  int n = 0;
  if (d == NULL) return -1;
  while (readdir(d) != NULL) n++;
  closedir(d);
  return n - 3; /* ".", ".." and the DIR's own descriptor */
}

/* The store's key name of a session (docs/STORES.md). */
static void record_name(const char *prefix, const sessio_key *k, char *out,
                        size_t cap) {
  size_t o = (size_t)snprintf(out, cap, "%s:s:{", prefix);
  for (int i = 0; i < SESSIO_KEY_BYTES && o + 3 < cap; i++)
    o += (size_t)snprintf(out + o, cap - o, "%02x", k->b[i]);
  snprintf(out + o, cap - o, "}");
}

/* ---- no server needed -------------------------------------------------- */

static void test_key_slots_are_crc16_of_the_hash_tag(void) {
  /* Vectors from the Redis Cluster specification. */
  CHECK_INT(sessio__rc_slot("123456789", 9), 0x31C3 & 16383);
  CHECK_INT(sessio__rc_slot("foo", 3), 12182);
  CHECK_INT(sessio__rc_slot("{user1000}.following", 20),
            sessio__rc_slot("user1000", 8));
  CHECK_INT(sessio__rc_slot("foo{}{bar}", 10),
            sessio__rc_slot("foo{}{bar}", 10) /* whole key */);
  CHECK(sessio__rc_slot("foo{}{bar}", 10) != sessio__rc_slot("bar", 3));
  CHECK_INT(sessio__rc_slot("foo{{bar}}zap", 13), sessio__rc_slot("{bar", 4));
}

static void test_malformed_urls_are_rejected(void) {
  static const char *bad[] = {"redis:",
                              "redis:/x",
                              "redis://",
                              "redis://:1",
                              "redis://h:0",
                              "redis://h:70000",
                              "redis://h:12x",
                              "redis://h:1/x",
                              "redis://h:1?x=1",
                              "redis://h:1?prefix=a*b",
                              "redis://h:1?prefix={a}",
                              "redis://h:1?timeout_ms=0",
                              "redis://h:1?pool=-1",
                              "redis://h:1?pool=0",
                              "redis://%2Ftmp%2Fr.sock:6379", /* no port */
                              "redis://%2Ftmp%2Fr%00.sock",
                              "redis-cluster://%2Ftmp%2Fr.sock",
                              "redis-cluster://",
                              "redis-cluster://h:1/0",
                              "redis-cluster://h:1,",
                              "redis-cluster://h:1?failover_wait_ms=x"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    sessio_store *st = NULL;
    sessio_err rc = sessio_store_open(bad[i], &st);
    if (rc != SESSIO_EINVAL) fprintf(stderr, "  url %s\n", bad[i]);
    CHECK_ERR(rc, SESSIO_EINVAL);
    CHECK(st == NULL);
  }
}

static int quiet_log_calls;
static void quiet_log(void *ud, sessio_log_level l, const char *m) {
  (void)ud;
  (void)l;
  (void)m;
  quiet_log_calls++;
}

static void test_unreachable_server_at_open_is_unavailable(void) {
  int port = tp_free_port(0);
  char url[128];
  sessio_store *st = NULL;
  snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
  int64_t t0 = tp_mono_ms();
  CHECK_ERR(sessio_store_open(url, &st), SESSIO_EUNAVAIL);
  CHECK(st == NULL);
  snprintf(url, sizeof url, "redis-cluster://127.0.0.1:%d", port);
  CHECK_ERR(sessio_store_open(url, &st), SESSIO_EUNAVAIL);
  CHECK(st == NULL);
  CHECK(tp_mono_ms() - t0 < 2000);
  CHECK_ERR(sessio_store_set_logger(NULL, quiet_log, NULL, SESSIO_LOG_DEBUG),
            SESSIO_EINVAL);
}

/* ---- one server: outage ----------------------------------------------- */

static atomic_int log_down, log_up;
static void count_log(void *ud, sessio_log_level level, const char *msg) {
  (void)ud;
  if (strstr(msg, "unreachable")) atomic_fetch_add(&log_down, 1);
  if (strstr(msg, "reachable again")) atomic_fetch_add(&log_up, 1);
  (void)level;
}

struct worker {
  sessio_store *st;
  atomic_int *stop;
  long ok, unavail, other;
};

static void *worker_main(void *arg) {
  struct worker *w = arg;
  while (!atomic_load(w->stop)) {
    sessio_key k = rand_key();
    uint64_t v;
    int64_t now = wall();
    sessio_err rc = put(w->st, &k, 1, 0, now, &v);
    if (rc == SESSIO_OK) {
      int found = 0;
      uint64_t c = 0;
      rc = get(w->st, &k, now, &found, &c, NULL);
      if (rc == SESSIO_OK && (!found || c != 1)) rc = SESSIO_ECORRUPT;
    }
    if (rc == SESSIO_OK)
      w->ok++;
    else if (rc == SESSIO_EUNAVAIL)
      w->unavail++;
    else
      w->other++;
  }
  return NULL;
}

static void test_outage_gives_unavailable_then_recovers_within_a_second(void) {
  enum { N = 50, WORKERS = 2 };
  char dir[] = "/tmp/sessio-redis-outage-XXXXXX", url[128];
  if (mkdtemp(dir) == NULL) {
    CHECK(0);
    return;
  }
  int port = tp_free_port(0);
  /* Append-only with fsync always: acknowledged sessions survive. */
  pid_t pid = rp_start(port, dir, 0, 1);
  CHECK(rp_wait_ping(port, 5000));
  snprintf(url, sizeof url, "redis://127.0.0.1:%d?prefix=outage", port);

  int fd_open = count_fds();
  sessio_store *st = NULL;
  CHECK_OK(sessio_store_open(url, &st));
  if (st == NULL) goto done;
  CHECK_OK(sessio_store_set_logger(st, count_log, NULL, SESSIO_LOG_DEBUG));
  static sessio_key keys[N];
  int64_t now = wall();
  for (int i = 0; i < N; i++) {
    uint64_t v;
    keys[i] = rand_key();
    CHECK_OK(put(st, &keys[i], (uint64_t)i, 0, now, &v));
  }
  int fd_before = count_fds();

  atomic_int stop = 0;
  struct worker w[WORKERS];
  pthread_t th[WORKERS];
  for (int i = 0; i < WORKERS; i++) {
    memset(&w[i], 0, sizeof w[i]);
    w[i].st = st;
    w[i].stop = &stop;
    pthread_create(&th[i], NULL, worker_main, &w[i]);
  }
  tp_sleep_ms(100); /* traffic flowing */
  rp_kill(pid);
  pid = 0;

  /* While down: every call fails with SESSIO_EUNAVAIL, quickly. */
  int64_t worst = 0, calls = 0, t_end = tp_mono_ms() + 400;
  tp_sleep_ms(20);
  while (tp_mono_ms() < t_end) {
    int found = 7;
    uint64_t c;
    int64_t t = tp_mono_ms();
    CHECK_ERR(get(st, &keys[0], now, &found, &c, NULL), SESSIO_EUNAVAIL);
    t = tp_mono_ms() - t;
    worst = t > worst ? t : worst;
    calls++;
  }
  printf("# down: %" PRId64 " calls in 400 ms, slowest %" PRId64 " ms\n", calls,
         worst);
  CHECK(worst < 300);
  CHECK_INT(atomic_load(&log_down), 1);

  /* Back on the same port: calls succeed within a second. */
  pid = rp_start(port, dir, 0, 1);
  CHECK(rp_wait_ping(port, 5000));
  int64_t t_up = tp_mono_ms(), t_ok = -1;
  while (tp_mono_ms() - t_up < 5000) {
    int found = 0;
    uint64_t c;
    if (get(st, &keys[0], now, &found, &c, NULL) == SESSIO_OK) {
      t_ok = tp_mono_ms();
      break;
    }
    tp_sleep_ms(5);
  }
  printf("# recovered %" PRId64 " ms after redis answered PING\n", t_ok - t_up);
  CHECK(t_ok >= 0);
  CHECK(t_ok - t_up <= 1000);
  tp_sleep_ms(100);
  atomic_store(&stop, 1);
  long ok = 0, unavail = 0, other = 0;
  for (int i = 0; i < WORKERS; i++) {
    pthread_join(th[i], NULL);
    ok += w[i].ok;
    unavail += w[i].unavail;
    other += w[i].other;
  }
  printf("# workers: %ld ok, %ld unavailable, %ld other\n", ok, unavail, other);
  CHECK(ok > 0);
  CHECK(unavail > 0);
  CHECK_INT(other, 0);
  CHECK_INT(atomic_load(&log_down), 1);
  CHECK_INT(atomic_load(&log_up), 1);

  /* Acknowledged before the outage: still there (AOF, fsync always). A
   * read may still time out behind a slow fsync on a busy machine: that is
   * SESSIO_EUNAVAIL, retried here for up to 5 s. */
  for (int i = 0; i < N; i++) {
    int found = 0;
    uint64_t c = 99;
    CHECK_OK(get_retry(st, &keys[i], now, &found, &c));
    CHECK_INT(found, 1);
    CHECK_INT(c, i);
  }
  /* No descriptor leak: the pool holds at most one per worker. */
  CHECK(count_fds() <= fd_before + WORKERS);
  sessio_store_close(st);
  CHECK_INT(count_fds(), fd_open);
done:
  rp_kill(pid);
  rp_rmdir(dir);
}

/* ---- one server: URL credentials and database, a hung server ---------- */

/* Runs "AUTH pw", "SELECT db", "DBSIZE" on 'port'; the count or -1. */
static long long dbsize_of(int port, const char *pw, int db) {
  struct timeval tv = {1, 0};
  redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
  long long n = -1;
  if (c && !c->err) {
    redisReply *r = redisCommand(c, "AUTH %s", pw);
    if (r) freeReplyObject(r);
    r = redisCommand(c, "SELECT %d", db);
    if (r) freeReplyObject(r);
    r = redisCommand(c, "DBSIZE");
    if (r && r->type == REDIS_REPLY_INTEGER) n = r->integer;
    if (r) freeReplyObject(r);
  }
  if (c) redisFree(c);
  return n;
}

static void test_password_and_database_come_from_the_url(void) {
  char dir[] = "/tmp/sessio-redis-auth-XXXXXX", url[160];
  if (mkdtemp(dir) == NULL) {
    CHECK(0);
    return;
  }
  int port = tp_free_port(0);
  pid_t pid = rp_start(port, dir, 0, 0);
  CHECK(rp_wait_ping(port, 5000));
  redisReply *r = rp_command(port, "CONFIG SET requirepass s3cret-pw");
  CHECK(r && r->type == REDIS_REPLY_STATUS);
  if (r) freeReplyObject(r);
  sessio_store *st = NULL;
  int64_t now = wall();
  uint64_t v;

  snprintf(url, sizeof url, "redis://:s3cret-pw@127.0.0.1:%d/3?prefix=a", port);
  CHECK_OK(sessio_store_open(url, &st));
  if (st) {
    sessio_key k = rand_key();
    CHECK_OK(put(st, &k, 1, 0, now, &v));
    sessio_store_close(st);
    st = NULL;
  }
  CHECK_INT(dbsize_of(port, "s3cret-pw", 3), 1); /* in database 3 only */
  CHECK_INT(dbsize_of(port, "s3cret-pw", 0), 0);
  /* The ACL form USER:PASSWORD (Redis 6+: "default" is the classic user). */
  snprintf(url, sizeof url, "redis://default:s3cret-pw@127.0.0.1:%d/3", port);
  CHECK_OK(sessio_store_open(url, &st));
  sessio_store_close(st);
  st = NULL;
  /* A wrong or missing password: no store, an error, no crash. */
  snprintf(url, sizeof url, "redis://:wrong@127.0.0.1:%d", port);
  CHECK_ERR(sessio_store_open(url, &st), SESSIO_EUNAVAIL);
  CHECK(st == NULL);
  snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
  CHECK(sessio_store_open(url, &st) != SESSIO_OK);
  CHECK(st == NULL);
  rp_kill(pid);
  rp_rmdir(dir);
}

/* Userinfo is percent-decoded (RFC 3986): passwords as `openssl rand
 * -base64` makes them ('/', '+', '='), and with '@', ':', '%' and
 * non-ASCII bytes, reach AUTH as they were before encoding; the same
 * password not encoded is a malformed URL, and a URL whose user or
 * password decodes to a NUL or has a broken escape is refused. */
static void test_url_passwords_are_percent_decoded(void) {
  static const struct {
    const char *plain, *encoded;
  } pw[] = {{"ab/cd+ef==", "ab%2Fcd+ef=="},
            {"p@ss", "p%40ss"},
            {"a:b:c", "a%3Ab%3Ac"},
            {"100%sure", "100%25sure"},
            {"gr\xc3\xbc\xc3\x9f"
             "e",
             "gr%C3%BC%c3%9Fe"},
            {"/@:%?#", "%2F%40%3A%25%3F%23"}};
  char dir[] = "/tmp/sessio-redis-pct-XXXXXX", url[200];
  if (mkdtemp(dir) == NULL) {
    CHECK(0);
    return;
  }
  int port = tp_free_port(0);
  pid_t pid = rp_start(port, dir, 0, 0);
  CHECK(rp_wait_ping(port, 5000));
  struct timeval tv = {1, 0};
  redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
  CHECK(c != NULL && c->err == 0);
  for (size_t i = 0; c && !c->err && i < sizeof pw / sizeof pw[0]; i++) {
    sessio_store *st = NULL;
    char user[16];
    snprintf(user, sizeof user, "u%zu", i);
    redisReply *r =
        redisCommand(c, "ACL SETUSER %s on >%s ~* &* +@all", user, pw[i].plain);
    CHECK(r && r->type == REDIS_REPLY_STATUS);
    if (r) freeReplyObject(r);
    snprintf(url, sizeof url, "redis://%s:%s@127.0.0.1:%d", user, pw[i].encoded,
             port);
    sessio_err rc = sessio_store_open(url, &st);
    if (rc != SESSIO_OK) fprintf(stderr, "  password %s\n", pw[i].encoded);
    CHECK_OK(rc);
    sessio_store_close(st);
    /* The user name is decoded too ("u0" spelled "%750"). */
    snprintf(url, sizeof url, "redis://%%75%zu:%s@127.0.0.1:%d", i,
             pw[i].encoded, port);
    st = NULL;
    CHECK_OK(sessio_store_open(url, &st));
    sessio_store_close(st);
  }
  if (c) redisFree(c);
  static const char *const bad[] = {
      "redis://:ab/cd@127.0.0.1:%d", "redis://:a%%2@127.0.0.1:%d",
      "redis://:a%%00b@127.0.0.1:%d", "redis://:a%%zzb@127.0.0.1:%d",
      "redis-cluster://:a%%GG@127.0.0.1:%d"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    sessio_store *st = NULL;
    snprintf(url, sizeof url, bad[i], port);
    CHECK_ERR(sessio_store_open(url, &st), SESSIO_EINVAL);
    CHECK(st == NULL);
  }
  rp_kill(pid);
  rp_rmdir(dir);
}

/* One redis-server of the test's own (no cluster, no AOF) in a scratch
 * folder, and a store on it opened with "?QUERY". 'st' is NULL when either
 * failed (counted as a failed check); one_redis_stop() ends both. */
typedef struct one_redis {
  char dir[64];
  int port;
  pid_t pid;
  sessio_store *st;
} one_redis;

static void one_redis_start(one_redis *r, const char *query) {
  char url[200];
  snprintf(r->dir, sizeof r->dir, "/tmp/sessio-redis-XXXXXX");
  r->pid = -1;
  r->st = NULL;
  if (mkdtemp(r->dir) == NULL) {
    CHECK(0);
    r->dir[0] = '\0';
    return;
  }
  r->port = tp_free_port(0);
  r->pid = rp_start(r->port, r->dir, 0, 0);
  CHECK(rp_wait_ping(r->port, 5000));
  snprintf(url, sizeof url, "redis://127.0.0.1:%d?%s", r->port, query);
  CHECK_OK(sessio_store_open(url, &r->st));
}

static void one_redis_stop(one_redis *r) {
  sessio_store_close(r->st);
  if (r->pid > 0) {
    kill(r->pid, SIGCONT); /* in case a test stopped it */
    rp_kill(r->pid);
  }
  if (r->dir[0]) rp_rmdir(r->dir);
}

/* A server that accepts connections but does not answer (SIGSTOP): the
 * first call ends with SESSIO_EUNAVAIL after about 'timeout_ms' and opens
 * the circuit; from then on calls fail at once, except the one per backoff
 * window that probes (a connect and a PING, within connect_timeout_ms);
 * the store works again once the server answers a probe. */
static void test_hung_server_times_out_once_then_fails_fast_then_recovers(
    void) {
  one_redis R;
  one_redis_start(&R, "prefix=h&timeout_ms=200&connect_timeout_ms=100");
  sessio_store *st = R.st;
  pid_t pid = R.pid;
  if (st == NULL) goto done;
  sessio_store_set_logger(st, quiet_log, NULL, SESSIO_LOG_DEBUG);
  int64_t now = wall();
  sessio_key k = rand_key();
  uint64_t v, c = 0;
  int found = 0;
  CHECK_OK(put(st, &k, 5, 0, now, &v));

  kill(pid, SIGSTOP);
  int64_t t = tp_mono_ms();
  CHECK_ERR(get(st, &k, now, &found, &c, NULL), SESSIO_EUNAVAIL);
  t = tp_mono_ms() - t;
  if (!(t >= 150 && t < 1500))
    fprintf(stderr, "  first call %lld ms\n", (long long)t);
  CHECK(t >= 150 && t < 1500);
  int fast = 0, calls = 0, slow = 0;
  int64_t slowest = 0, until = tp_mono_ms() + 1000;
  while (tp_mono_ms() < until) { /* a second of calls: several probes */
    t = tp_mono_ms();
    CHECK_ERR(get(st, &k, now, &found, &c, NULL), SESSIO_EUNAVAIL);
    t = tp_mono_ms() - t;
    if (t > slowest) slowest = t;
    fast += t < 20;
    slow += t >= 600; /* a probe is connect_timeout_ms, then PING's */
    calls++;
  }
  printf("# hung: %d calls in 1 s, %d under 20 ms, slowest %lld ms\n", calls,
         fast, (long long)slowest);
  CHECK(slow <= 1); /* one may lose the CPU on a busy machine */
  CHECK(calls >= 20 && fast >= calls - 15);
  kill(pid, SIGCONT);
  CHECK_OK(get_retry(st, &k, now, &found, &c));
  CHECK_INT(found, 1);
  CHECK_INT(c, 5);
done:
  one_redis_stop(&R);
}

static long long pttl(int port, const char *name) {
  char cmd[400];
  snprintf(cmd, sizeof cmd, "PTTL %s", name);
  redisReply *r = rp_command(port, cmd);
  long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -9;
  if (r) freeReplyObject(r);
  return v;
}

/* The scripts are run by digest (EVALSHA); the digest comes from the
 * server (SCRIPT LOAD). A server that forgot them (SCRIPT FLUSH, like a
 * restart or a failover to a replica that never ran them) gets the source
 * again: save, touch and gc keep working, and the digest the store uses is
 * the one the server reports for the same source. */
static void test_scripts_survive_a_flushed_script_cache(void) {
  char name[160];
  one_redis R;
  one_redis_start(&R, "prefix=sha");
  sessio_store *st = R.st;
  int port = R.port;
  if (st == NULL) goto done;
  const int64_t now = 1000000;
  sessio_key k = rand_key();
  uint64_t v = 0, v2 = 0, c = 0;
  int found = 0;
  CHECK_OK(put(st, &k, 1, 0, now, &v));
  redisReply *r = rp_command(port, "SCRIPT FLUSH");
  CHECK(r != NULL && r->type == REDIS_REPLY_STATUS);
  if (r) freeReplyObject(r);
  CHECK_OK(put(st, &k, 2, v, now, &v2)); /* NOSCRIPT, then EVAL */
  CHECK_OK(get(st, &k, now, &found, &c, NULL));
  CHECK_INT(found, 1);
  CHECK_INT(c, 2);
  r = rp_command(port, "SCRIPT FLUSH");
  if (r) freeReplyObject(r);
  CHECK_OK(sessio__store_touch(st, &k, now + 1, now + HOUR, now + 1, &found));
  CHECK_INT(found, 1);
  /* gc pipelines EVALSHA by the remembered digest: after another flush
   * the keys it could not examine are done again one by one. */
  r = rp_command(port, "SCRIPT FLUSH");
  if (r) freeReplyObject(r);
  size_t removed = 0;
  int done = 0;
  for (int i = 0; i < 10 && !done; i++)
    CHECK_OK(sessio_store_gc(st, now + 2 * HOUR, 1000, &removed, &done));
  CHECK_INT(removed, 1);
  CHECK_OK(get(st, &k, now, &found, &c, NULL));
  CHECK_INT(found, 0);
  /* The digests in use are the server's own: after the flush, gc and
   * this update (a create is a plain SET NX) sent their sources again,
   * and the server knows those two scripts by the remembered digests. */
  CHECK_OK(put(st, &k, 3, 0, now, &v));
  CHECK_OK(put(st, &k, 4, v, now, &v2));
  rc_store *rs = (rc_store *)st;
  int known = 0;
  for (int i = 0; i < RC_SCRIPTS; i++) {
    if (!atomic_load(&rs->scripts.known[i])) continue;
    snprintf(name, sizeof name, "SCRIPT EXISTS %s", rs->scripts.sha[i]);
    r = rp_command(port, name);
    CHECK(r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 1);
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 1)
      known += (int)r->element[0]->integer;
    if (r) freeReplyObject(r);
  }
  CHECK_INT(known, 2);
done:
  one_redis_stop(&R);
}

/* Redis drops dead sessions itself: every record, and every user index,
 * carries a TTL of its remaining life (by the caller's clock) plus the
 * grace. Checked on the TTLs, without waiting for them. */
static void test_records_and_user_sets_carry_redis_ttls(void) {
  char name[160];
  one_redis R;
  one_redis_start(&R, "prefix=ttl&grace_ms=1000");
  sessio_store *st = R.st;
  int port = R.port;
  if (st == NULL) goto done;
  /* A synthetic clock far from the real one: TTLs are relative to it. */
  const int64_t now = 1000000;
  sessio_key k = rand_key();
  sessio_record r;
  uint64_t v;
  int found = 0;
  /* user_add as the store's first call: its TTL comes from the 'now' it
   * is given, not from a clock of the store's own. */
  CHECK_OK(sessio__store_user_add(st, "dan", &k, now + 3 * HOUR, now));
  long long t0 = pttl(port, "ttl:u:{64616e}"); /* hex("dan") */
  CHECK(t0 > 3 * HOUR - 5000 && t0 <= 3 * HOUR + 1000);
  memset(&r, 0, sizeof r);
  r.blob = (uint8_t *)"x";
  r.blob_len = 1;
  r.touched_at = now;
  r.expires_at = now + 60000;
  CHECK_OK(sessio__store_save(st, &k, &r, 0, now, &v));
  record_name("ttl", &k, name, sizeof name);
  long long t = pttl(port, name);
  CHECK(t > 55000 && t <= 61000); /* 60 s of life + 1 s of grace */
  CHECK_OK(
      sessio__store_touch(st, &k, now + 1000, now + HOUR, now + 1000, &found));
  CHECK_INT(found, 1);
  t = pttl(port, name);
  CHECK(t > HOUR - 5000 && t <= HOUR + 1000);
  CHECK_OK(sessio__store_user_add(st, "carol", &k, now + 2 * HOUR, now));
  t = pttl(port, "ttl:u:{6361726f6c}"); /* hex("carol") */
  CHECK(t > 2 * HOUR - 5000 && t <= 2 * HOUR + 1000);
  /* A later, shorter add does not cut the set's life. */
  sessio_key k2 = rand_key();
  CHECK_OK(sessio__store_user_add(st, "carol", &k2, now + 60000, now));
  CHECK(pttl(port, "ttl:u:{6361726f6c}") > 2 * HOUR - 5000);
done:
  one_redis_stop(&R);
}

/* After fork() the child must not use the parent's pooled connections:
 * on a shared socket each could read the other's replies (another user's
 * session). Both read their own key many times at once. */
static void test_forked_child_does_not_share_the_parents_connections(void) {
  enum { LOOPS = 2000 };
  one_redis R;
  one_redis_start(&R, "prefix=f");
  sessio_store *st = R.st;
  if (st == NULL) goto done;
  int64_t now = wall();
  sessio_key kp = rand_key(), kc = rand_key();
  uint64_t v;
  CHECK_OK(put(st, &kp, 111, 0, now, &v));
  CHECK_OK(put(st, &kc, 222, 0, now, &v)); /* an idle connection now */
  fflush(NULL);
  pid_t child = fork();
  if (child == 0) {
    int bad = 0;
    for (int i = 0; i < LOOPS && !bad; i++) {
      int found = 0;
      uint64_t c = 0;
      bad = get(st, &kc, now, &found, &c, NULL) != SESSIO_OK || !found ||
            c != 222;
    }
    _exit(bad);
  }
  CHECK(child > 0);
  long bad = 0;
  for (int i = 0; i < LOOPS; i++) {
    int found = 0;
    uint64_t c = 0;
    if (get(st, &kp, now, &found, &c, NULL) != SESSIO_OK || !found || c != 111)
      bad++;
  }
  int status = -1;
  if (child > 0) waitpid(child, &status, 0);
  CHECK_INT(bad, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
done:
  one_redis_stop(&R);
}

/* ---- one server: shared connections, auto-pipelining, a Unix socket ---- */

/* Counts the server's client connections, the one asking included. */
static long client_count(int port) {
  redisReply *r = rp_command(port, "CLIENT LIST");
  long n = -1;
  if (r && r->type == REDIS_REPLY_STRING) {
    n = 0;
    for (const char *s = r->str; (s = strstr(s, "id=")) != NULL; s += 3) n++;
  }
  if (r) freeReplyObject(r);
  return n;
}

struct pipe_worker {
  sessio_store *st;
  int id;
  long wrong, failed;
};

/* Each thread writes and reads back its own keys: a reply handed to the
 * wrong caller (another thread's record) would show as a wrong counter. */
static void *pipe_worker_main(void *arg) {
  struct pipe_worker *w = arg;
  int64_t now = wall();
  sessio_key k = rand_key();
  uint64_t ver = 0;
  for (uint64_t i = 1; i <= 300; i++) {
    uint64_t c = 0, v = 0;
    int found = 0;
    uint64_t want = (uint64_t)w->id * 1000000 + i;
    if (put(w->st, &k, want, ver, now, &v) != SESSIO_OK ||
        get(w->st, &k, now, &found, &c, &ver) != SESSIO_OK) {
      w->failed++;
      continue;
    }
    if (!found || c != want || ver != v) w->wrong++;
  }
  return NULL;
}

/* Every thread's commands share the store's 'pool' connections (two here,
 * for 8 threads): each caller still gets exactly its own replies, and
 * compare-and-set versions stay each caller's. */
static void test_threads_share_two_connections_and_get_their_own_replies(void) {
  enum { T = 8 };
  one_redis R;
  one_redis_start(&R, "prefix=pipe&pool=2");
  if (R.st == NULL) goto done;
  struct pipe_worker w[T];
  pthread_t th[T];
  for (int i = 0; i < T; i++) {
    memset(&w[i], 0, sizeof w[i]);
    w[i].st = R.st;
    w[i].id = i + 1;
    pthread_create(&th[i], NULL, pipe_worker_main, &w[i]);
  }
  long wrong = 0, failed = 0;
  for (int i = 0; i < T; i++) {
    pthread_join(th[i], NULL);
    wrong += w[i].wrong;
    failed += w[i].failed;
  }
  CHECK_INT(wrong, 0);
  CHECK_INT(failed, 0);
  /* At most the store's two (the second is opened only when both were
   * wanted at once) and the one that asks. */
  long clients = client_count(R.port);
  if (clients > 3) fprintf(stderr, "  %ld clients\n", clients);
  CHECK(clients >= 2 && clients <= 3);
done:
  one_redis_stop(&R);
}

/* A connection the server closed (restart, its idle `timeout`, CLIENT KILL)
 * fails the next batch before anything runs: it is sent again once on a
 * fresh connection, and the caller sees nothing: a load, and a gc pass. */
static void test_a_connection_the_server_closed_is_replaced_transparently(
    void) {
  one_redis R;
  one_redis_start(&R, "prefix=kill");
  if (R.st == NULL) goto done;
  int64_t now = wall();
  sessio_key k = rand_key();
  uint64_t v, c = 0;
  int found = 0;
  CHECK_OK(put(R.st, &k, 7, 0, now, &v));
  for (int round = 0; round < 3; round++) {
    redisReply *r = rp_command(R.port, "CLIENT KILL TYPE normal");
    CHECK(r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer >= 1);
    if (r) freeReplyObject(r);
    if (round < 2) {
      CHECK_OK(get(R.st, &k, now, &found, &c, NULL));
      CHECK_INT(found, 1);
      CHECK_INT(c, 7);
    } else {
      size_t removed = 9;
      int fin = 0;
      CHECK_OK(sessio_store_gc(R.st, now, 100, &removed, &fin));
      CHECK_INT(removed, 0);
    }
  }
done:
  one_redis_stop(&R);
}

/* A server on the same host over its Unix-domain socket: the path in the
 * host part, percent-encoded; every call works as over TCP, and a server
 * that goes away is SESSIO_EUNAVAIL, logged with the socket's path. */
static char last_log[512];
static void keep_log(void *ud, sessio_log_level l, const char *m) {
  (void)ud;
  (void)l;
  snprintf(last_log, sizeof last_log, "%s", m);
}

static void test_a_unix_socket_url_reaches_the_server(void) {
  char dir[] = "/tmp/sessio-redis-unix-XXXXXX", sock[200], url[400];
  if (mkdtemp(dir) == NULL) {
    CHECK(0);
    return;
  }
  int port = tp_free_port(0);
  pid_t pid = rp_start(port, dir, 0, 0);
  CHECK(rp_wait_ping(port, 5000));
  rp_socket_path(dir, port, sock, sizeof sock);
  size_t ul = (size_t)snprintf(url, sizeof url, "redis://");
  for (const char *s = sock; *s; s++)
    ul += (size_t)snprintf(url + ul, sizeof url - ul, *s == '/' ? "%%2F" : "%c",
                           *s);
  snprintf(url + ul, sizeof url - ul, "/3?prefix=u");
  sessio_store *st = NULL;
  CHECK_OK(sessio_store_open(url, &st));
  if (st == NULL) goto done;
  sessio_store_set_logger(st, keep_log, NULL, SESSIO_LOG_DEBUG);
  int64_t now = wall();
  sessio_key k = rand_key();
  uint64_t v, c = 0;
  int found = 0;
  CHECK_OK(put(st, &k, 42, 0, now, &v));
  CHECK_OK(get(st, &k, now, &found, &c, NULL));
  CHECK_INT(found, 1);
  CHECK_INT(c, 42);
  CHECK_INT(dbsize_of(port, "", 3), 1); /* database 3, as the URL says */
  rp_kill(pid);
  pid = 0;
  CHECK_ERR(get(st, &k, now, &found, &c, NULL), SESSIO_EUNAVAIL);
  CHECK(strstr(last_log, sock) != NULL);
  sessio_store_close(st);
done:
  rp_kill(pid);
  rp_rmdir(dir);
}

/* ---- cluster ------------------------------------------------------------- */

static int cports[6];
static pid_t cpids[6];
static char cdir[] = "/tmp/sessio-redis-cluster-XXXXXX";
static int cluster_up;

static int start_cluster(void) {
  if (mkdtemp(cdir) == NULL) return 0;
  for (int i = 0; i < 6; i++) {
    int p, clash;
    do {
      p = tp_free_port(1);
      clash = 0;
      for (int j = 0; j < i; j++)
        clash |= cports[j] == p || cports[j] == p + 10000 ||
                 cports[j] + 10000 == p;
    } while (clash);
    cports[i] = p;
    cpids[i] = rp_start(p, cdir, 1, 0);
    if (!rp_wait_ping(p, 5000)) return 0;
  }
  return rp_cluster_create(cports, 30000);
}

static void stop_cluster(void) {
  for (int i = 0; i < 6; i++) rp_kill(cpids[i]);
  rp_rmdir(cdir);
}

/* The port of the master serving 'slot' per node 'ask_port', or -1. */
static int owner_port(int ask_port, unsigned slot, char *id, size_t idcap) {
  redisReply *r = rp_command(ask_port, "CLUSTER SLOTS");
  int port = -1;
  if (r && r->type == REDIS_REPLY_ARRAY) {
    for (size_t i = 0; i < r->elements; i++) {
      redisReply *e = r->element[i];
      if (e->elements < 3 || (unsigned)e->element[0]->integer > slot ||
          (unsigned)e->element[1]->integer < slot)
        continue;
      port = (int)e->element[2]->element[1]->integer;
      if (id && e->element[2]->elements > 2)
        snprintf(id, idcap, "%s", e->element[2]->element[2]->str);
    }
  }
  if (r) freeReplyObject(r);
  return port;
}

static void test_cluster_slot_matches_cluster_keyslot(void) {
  if (!cluster_up) {
    CHECK(cluster_up);
    return;
  }
  for (int i = 0; i < 20; i++) {
    sessio_key k = rand_key();
    char name[128], cmd[160];
    record_name("x", &k, name, sizeof name);
    snprintf(cmd, sizeof cmd, "CLUSTER KEYSLOT %s", name);
    redisReply *r = rp_command(cports[0], cmd);
    CHECK(r != NULL && r->type == REDIS_REPLY_INTEGER);
    if (r && r->type == REDIS_REPLY_INTEGER)
      CHECK_INT(sessio__rc_slot(name, strlen(name)), r->integer);
    if (r) freeReplyObject(r);
  }
}

/* Moves one slot between masters by hand: ASK while it migrates, MOVED
 * after; the store follows both. */
static void test_cluster_follows_ask_and_moved_during_a_migration(void) {
  if (!cluster_up) {
    CHECK(cluster_up);
    return;
  }
  char url[128], name1[128], name2[128], cmd[512], ida[64] = "", idb[64] = "";
  snprintf(url, sizeof url, "redis-cluster://127.0.0.1:%d?prefix=mig",
           cports[0]);
  sessio_store *st = NULL;
  CHECK_OK(sessio_store_open(url, &st));
  if (st == NULL) return;
  int64_t now = wall();
  sessio_key k1 = rand_key(), k2;
  record_name("mig", &k1, name1, sizeof name1);
  unsigned slot = sessio__rc_slot(name1, strlen(name1));
  do { /* a second session in the same slot */
    k2 = rand_key();
    record_name("mig", &k2, name2, sizeof name2);
  } while (sessio__rc_slot(name2, strlen(name2)) != slot);
  uint64_t v;
  CHECK_OK(put(st, &k1, 41, 0, now, &v));

  int pa = owner_port(cports[0], slot, ida, sizeof ida), pb = -1;
  for (int i = 0; i < 6 && pb < 0; i++) {
    char id[64];
    int p = owner_port(cports[i], (slot + 5462) % 16384, id, sizeof id);
    if (p != pa && p > 0) {
      pb = p;
      snprintf(idb, sizeof idb, "%s", id);
    }
  }
  CHECK(pa > 0 && pb > 0);
  if (pa < 0 || pb < 0) goto done;
  redisReply *r;
  snprintf(cmd, sizeof cmd, "CLUSTER SETSLOT %u IMPORTING %s", slot, ida);
  r = rp_command(pb, cmd);
  CHECK(r && r->type == REDIS_REPLY_STATUS);
  if (r) freeReplyObject(r);
  snprintf(cmd, sizeof cmd, "CLUSTER SETSLOT %u MIGRATING %s", slot, idb);
  r = rp_command(pa, cmd);
  CHECK(r && r->type == REDIS_REPLY_STATUS);
  if (r) freeReplyObject(r);

  /* k2 is not on the old owner: it answers ASK, the store follows. */
  CHECK_OK(put(st, &k2, 7, 0, now, &v));
  int found = 0;
  uint64_t c = 0;
  CHECK_OK(get(st, &k2, now, &found, &c, NULL));
  CHECK_INT(found, 1);
  CHECK_INT(c, 7);
  r = rp_command(pb, "DBSIZE"); /* it was written on the new owner */
  CHECK(r && r->type == REDIS_REPLY_INTEGER && r->integer >= 1);
  if (r) freeReplyObject(r);

  /* Move k1 and finish: the old owner answers MOVED. */
  snprintf(cmd, sizeof cmd, "MIGRATE 127.0.0.1 %d %s 0 5000", pb, name1);
  r = rp_command(pa, cmd);
  CHECK(r && r->type == REDIS_REPLY_STATUS);
  if (r) freeReplyObject(r);
  snprintf(cmd, sizeof cmd, "CLUSTER SETSLOT %u NODE %s", slot, idb);
  for (int i = 0; i < 2; i++) {
    r = rp_command(i == 0 ? pb : pa, cmd);
    CHECK(r && r->type == REDIS_REPLY_STATUS);
    if (r) freeReplyObject(r);
  }
  found = 0;
  CHECK_OK(get(st, &k1, now, &found, &c, NULL));
  CHECK_INT(found, 1);
  CHECK_INT(c, 41);
  CHECK_OK(incr_once(st, &k1, now));
  CHECK_OK(get(st, &k1, now, &found, &c, NULL));
  CHECK_INT(c, 42);
done:
  sessio_store_close(st);
}

static void test_cluster_survives_a_master_failover(void) {
  enum { N = 120 };
  if (!cluster_up) {
    CHECK(cluster_up);
    return;
  }
  char url[160];
  snprintf(url, sizeof url,
           "redis-cluster://127.0.0.1:%d,127.0.0.1:%d?prefix=fo", cports[0],
           cports[1]);
  sessio_store *st = NULL;
  CHECK_OK(sessio_store_open(url, &st));
  if (st == NULL) return;
  sessio_store_set_logger(st, quiet_log, NULL, SESSIO_LOG_DEBUG);
  int64_t now = wall();
  static sessio_key keys[N];
  static int port_of[N];
  static uint64_t count[N];
  for (int i = 0; i < N; i++) {
    char name[128];
    uint64_t v;
    keys[i] = rand_key();
    CHECK_OK(put(st, &keys[i], 0, 0, now, &v));
    record_name("fo", &keys[i], name, sizeof name);
    port_of[i] =
        owner_port(cports[0], sessio__rc_slot(name, strlen(name)), NULL, 0);
    count[i] = 0;
  }
  int victim = port_of[0];
  pid_t vpid = 0;
  for (int i = 0; i < 6; i++)
    if (cports[i] == victim) vpid = cpids[i];
  /* Sessions written so far are on the victim's replica too (replication
   * is asynchronous: what it had not received would be lost). */
  CHECK(rp_replica_in_sync(victim, 10000));
  CHECK(vpid > 0);
  for (int i = 0; i < 6; i++)
    if (cpids[i] == vpid) cpids[i] = 0;
  rp_kill(vpid);

  int64_t t_kill = tp_mono_ms(), t_back = -1;
  long other_fail = 0, victim_fail = 0, victim_ok_after = 0;
  while (tp_mono_ms() - t_kill < 30000 && victim_ok_after < 20) {
    for (int i = 0; i < N && victim_ok_after < 20; i++) {
      sessio_err rc = incr_once(st, &keys[i], now);
      if (rc == SESSIO_OK) count[i]++;
      if (port_of[i] != victim) {
        if (rc != SESSIO_OK) {
          other_fail++;
          fprintf(stderr, "  other master: %s\n", sessio_errname(rc));
        }
      } else if (rc == SESSIO_OK) {
        if (t_back < 0) t_back = tp_mono_ms();
        victim_ok_after++;
      } else {
        CHECK_ERR(rc, SESSIO_EUNAVAIL);
        victim_fail++;
      }
    }
  }
  printf("# failover: victim slots back after %" PRId64
         " ms, %ld failed calls there, %ld elsewhere\n",
         t_back < 0 ? -1 : t_back - t_kill, victim_fail, other_fail);
  CHECK(t_back > 0);
  CHECK_INT(other_fail, 0);
  /* Every session is still there, with every acknowledged increment on
   * masters that did not fail (the victim's were replicated by WAIT). */
  for (int i = 0; i < N; i++) {
    int found = 0;
    uint64_t c = 0;
    CHECK_OK(get_retry(st, &keys[i], now, &found, &c));
    CHECK_INT(found, 1);
    if (port_of[i] != victim) CHECK_INT(c, count[i]);
  }
  sessio_store_close(st);
}

int main(void) {
  RUN(test_key_slots_are_crc16_of_the_hash_tag);
  RUN(test_malformed_urls_are_rejected);
  RUN(test_unreachable_server_at_open_is_unavailable);
  RUN(test_outage_gives_unavailable_then_recovers_within_a_second);
  RUN(test_password_and_database_come_from_the_url);
  RUN(test_url_passwords_are_percent_decoded);
  RUN(test_hung_server_times_out_once_then_fails_fast_then_recovers);
  RUN(test_forked_child_does_not_share_the_parents_connections);
  RUN(test_threads_share_two_connections_and_get_their_own_replies);
  RUN(test_a_connection_the_server_closed_is_replaced_transparently);
  RUN(test_a_unix_socket_url_reaches_the_server);
  RUN(test_records_and_user_sets_carry_redis_ttls);
  RUN(test_scripts_survive_a_flushed_script_cache);
  cluster_up = start_cluster();
  RUN(test_cluster_slot_matches_cluster_keyslot);
  RUN(test_cluster_follows_ask_and_moved_during_a_migration);
  RUN(test_cluster_survives_a_master_failover);
  stop_cluster();
  return DONE();
}
