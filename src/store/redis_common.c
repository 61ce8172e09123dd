/*
 * redis_common.c — the parts of the redis:// and redis-cluster:// stores
 * that do not depend on routing: connection pools with timeouts and
 * reconnection backoff, URL options, key layout, record format, the Lua
 * scripts (run by EVALSHA, falling back to EVAL on NOSCRIPT) and the store
 * methods written over the backend's exec() hook. Layout and guarantees
 * are documented in docs/STORES.md ("Redis").
 */
#include "redis_common.h"
#include "crypto.h"
#include "helpers.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- time -------------------------------------------------------------- */

int64_t sessio__rc_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sessio__rc_sleep_ms(int64_t ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static struct timeval ms_tv(int ms) {
  struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
  return tv;
}

/* ---- SIGPIPE ------------------------------------------------------------
 * A write to a socket the peer closed raises SIGPIPE, which kills a process
 * that does not ignore it. Commands are sent with send(MSG_NOSIGNAL) (see
 * exchange()); only the connect path (AUTH, SELECT), where hiredis writes
 * with write(), blocks SIGPIPE in the calling thread and discards a pending
 * one. */

typedef struct pipe_guard {
  sigset_t old;
  int active;
} pipe_guard;

static void pipe_block(pipe_guard *g) {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGPIPE);
  g->active = pthread_sigmask(SIG_BLOCK, &s, &g->old) == 0 &&
              !sigismember(&g->old, SIGPIPE);
}

static void pipe_unblock(pipe_guard *g) {
  if (!g->active) return;
  sigset_t pend, s;
  sigemptyset(&s);
  sigaddset(&s, SIGPIPE);
  if (sigpending(&pend) == 0 && sigismember(&pend, SIGPIPE)) {
    struct timespec zero = {0, 0};
    while (sigtimedwait(&s, NULL, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* ---- connection pool --------------------------------------------------- */

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 500

/* Connections inherited through fork() are the parent's: a child that
 * used one would interleave its commands with the parent's on one socket
 * and could read the parent's replies (another user's session). A pool
 * remembers sessio__forks() (helpers.h) and forgets (closes, in the child
 * only) what it had when the count moved. */

void sessio__rc_pool_init(rc_pool *p, sessio_store *owner) {
  (void)sessio__fork_watch(); /* its failure is reported by store_init */
  memset(p, 0, sizeof *p);
  pthread_mutex_init(&p->mu, NULL);
  p->port = 6379;
  p->connect_ms = 200;
  p->timeout_ms = 500;
  p->max_idle = 32;
  p->backoff = BACKOFF_MIN_MS;
  p->owner = owner;
  p->forks = sessio__forks();
}

static void free_idle_locked(rc_pool *p) {
  for (size_t i = 0; i < p->n_idle; i++) redisFree(p->idle[i]);
  p->n_idle = 0;
}

void sessio__rc_pool_destroy(rc_pool *p) {
  free_idle_locked(p);
  free(p->idle);
  p->idle = NULL;
  explicit_bzero(p->password, sizeof p->password);
  pthread_mutex_destroy(&p->mu);
}

/* Records a failure: every idle connection is dropped (they point at the
 * same server), and the first failure after a success is logged once. */
static void mark_failed_locked(rc_pool *p, const char *why) {
  p->gen++;
  free_idle_locked(p);
  if (!p->down) {
    p->down = 1;
    p->backoff = BACKOFF_MIN_MS;
    p->next_try = sessio__rc_mono_ms() + p->backoff;
    sessio_store_log(p->owner, SESSIO_LOG_ERROR,
                   "redis %s:%d unreachable (%s); calls fail with "
                   "SESSIO_EUNAVAIL until it is back",
                   p->host, p->port, why);
  }
}

/* Checks a status reply of AUTH / SELECT; fills 'why' on failure. */
static int status_ok(redisContext *c, redisReply *r, char *why, size_t n) {
  int ok = r != NULL && r->type == REDIS_REPLY_STATUS;
  if (!ok)
    snprintf(why, n, "%s",
             r == NULL ? c->errstr
                       : (r->type == REDIS_REPLY_ERROR ? r->str : "bad reply"));
  if (r) freeReplyObject(r);
  return ok;
}

static redisContext *pool_connect(rc_pool *p, char *why, size_t n) {
  redisContext *c = redisConnectWithTimeout(p->host, p->port,
                                            ms_tv(p->connect_ms));
  if (c == NULL) {
    snprintf(why, n, "out of memory");
    return NULL;
  }
  if (c->err) {
    snprintf(why, n, "%s", c->errstr);
    goto fail;
  }
  if (redisSetTimeout(c, ms_tv(p->timeout_ms)) != REDIS_OK) {
    snprintf(why, n, "cannot set the timeout");
    goto fail;
  }
  redisEnableKeepAlive(c);
  if (p->password[0]) {
    const char *argv[3] = {"AUTH", p->user, p->password};
    size_t lens[3] = {4, strlen(p->user), strlen(p->password)};
    int off = p->user[0] ? 0 : 1;
    if (off) {
      argv[1] = "AUTH";
      lens[1] = 4;
    }
    if (!status_ok(c, redisCommandArgv(c, 3 - off, argv + off, lens + off),
                   why, n))
      goto fail;
  }
  if (p->db > 0) {
    char db[16];
    int len = snprintf(db, sizeof db, "%d", p->db);
    const char *argv[2] = {"SELECT", db};
    size_t lens[2] = {6, (size_t)len};
    if (!status_ok(c, redisCommandArgv(c, 2, argv, lens), why, n)) goto fail;
  }
  return c;
fail:
  redisFree(c);
  return NULL;
}

static sessio_err pool_get(rc_pool *p, rc_conn *out) {
  char why[160];
  unsigned forks = sessio__forks();
  pthread_mutex_lock(&p->mu);
  if (p->forks != forks) { /* we are a child: the parent's are not ours */
    p->forks = forks;
    p->gen++;
    free_idle_locked(p);
  }
  if (p->n_idle > 0) {
    out->c = p->idle[--p->n_idle];
    out->gen = p->gen;
    out->reused = 1;
    pthread_mutex_unlock(&p->mu);
    return SESSIO_OK;
  }
  if (p->down) {
    /* Not more often than the backoff: one caller per window tries. */
    int64_t now = sessio__rc_mono_ms();
    if (now < p->next_try) {
      pthread_mutex_unlock(&p->mu);
      return SESSIO_EUNAVAIL;
    }
    p->backoff = p->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
                                                 : p->backoff * 2;
    p->next_try = now + p->backoff;
  }
  unsigned gen = p->gen;
  pthread_mutex_unlock(&p->mu);

  pipe_guard g;
  pipe_block(&g);
  redisContext *c = pool_connect(p, why, sizeof why);
  pipe_unblock(&g);

  pthread_mutex_lock(&p->mu);
  if (c == NULL) {
    mark_failed_locked(p, why);
    pthread_mutex_unlock(&p->mu);
    return SESSIO_EUNAVAIL;
  }
  if (p->down) {
    p->down = 0;
    p->backoff = BACKOFF_MIN_MS;
    sessio_store_log(p->owner, SESSIO_LOG_WARN, "redis %s:%d reachable again",
                   p->host, p->port);
  }
  pthread_mutex_unlock(&p->mu);
  out->c = c;
  out->gen = gen;
  out->reused = 0;
  return SESSIO_OK;
}

static void pool_put(rc_pool *p, rc_conn *cn) {
  pthread_mutex_lock(&p->mu);
  if (cn->gen == p->gen && p->n_idle < p->max_idle) {
    p->idle[p->n_idle++] = cn->c;
    cn->c = NULL;
  }
  pthread_mutex_unlock(&p->mu);
  if (cn->c) redisFree(cn->c);
  cn->c = NULL;
}

/* Sends all of 'buf' with MSG_NOSIGNAL: a closed peer gives EPIPE, never
 * SIGPIPE, without touching the signal mask (hiredis itself would write()).
 * The socket is blocking with hiredis's send timeout. */
static int send_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return 0;
    }
    buf += n;
    len -= (size_t)n;
  }
  return 1;
}

/* One exchange (after ASKING when 'asking'): 1 with '*reply', or 0 with
 * '*kind' (a REDIS_ERR_* code) and errno telling why. */
static int exchange(redisContext *c, int asking, int argc, const char **argv,
                    const size_t *lens, redisReply **reply, int *kind) {
  static const char ask[] = "*1\r\n$6\r\nASKING\r\n";
  char *cmd = NULL;
  void *r = NULL;
  int len = redisFormatCommandArgv(&cmd, argc, argv, lens);
  if (len < 0) {
    *kind = REDIS_ERR_OOM;
    return 0;
  }
  int sent = (!asking || send_all(c->fd, ask, sizeof ask - 1)) &&
             send_all(c->fd, cmd, (size_t)len);
  int e = errno;
  redisFreeCommand(cmd);
  if (!sent) {
    errno = e;
    *kind = REDIS_ERR_IO;
    return 0;
  }
  /* The output buffer is empty: redisGetReply only reads. */
  if (asking) {
    if (redisGetReply(c, &r) != REDIS_OK) goto fail;
    freeReplyObject(r);
    r = NULL;
  }
  if (redisGetReply(c, &r) != REDIS_OK) goto fail;
  *reply = r;
  return 1;
fail:
  *kind = c->err ? c->err : REDIS_ERR_OTHER;
  return 0;
}

sessio_err sessio__rc_pool_command(rc_pool *p, int asking, int argc,
                                   const char **argv, const size_t *lens,
                                   redisReply **reply, int *maybe_done) {
  *reply = NULL;
  if (maybe_done) *maybe_done = 0;
  for (int attempt = 0;; attempt++) {
    rc_conn cn;
    sessio_err rc = pool_get(p, &cn);
    if (rc != SESSIO_OK) return rc;
    int kind = 0;
    errno = 0;
    int ok = exchange(cn.c, asking, argc, argv, lens, reply, &kind);
    int e = errno;
    if (ok) {
      pool_put(p, &cn);
      return SESSIO_OK;
    }
    redisFree(cn.c);
    if (kind == REDIS_ERR_OOM) return SESSIO_ENOMEM;
    /* An idle connection the server closed (restart, idle timeout): the
     * command never reached a live server; retry once on a fresh one. */
    int closed = kind == REDIS_ERR_EOF ||
                 (kind == REDIS_ERR_IO && (e == ECONNRESET || e == EPIPE));
    int stale = closed && cn.reused && attempt == 0;
    /* A closed connection means the idle ones are probably closed too:
     * drop them all. A timeout drops only this one. Neither marks the
     * server down: only a failed connect does (and backs off). */
    if (closed) {
      pthread_mutex_lock(&p->mu);
      p->gen++;
      free_idle_locked(p);
      pthread_mutex_unlock(&p->mu);
    }
    if (!stale) {
      if (maybe_done) *maybe_done = 1;
      return kind == REDIS_ERR_PROTOCOL ? SESSIO_EIO : SESSIO_EUNAVAIL;
    }
  }
}

sessio_err sessio__rc_pool_pipeline(rc_pool *p, size_t n, const int *argcs,
                                    const char *const *const *argvs,
                                    const size_t *const *lens,
                                    redisReply **replies) {
  size_t len = 0, cap = 0, got = 0;
  char *buf = NULL;
  sessio_err rc = SESSIO_OK;
  for (size_t i = 0; i < n; i++) replies[i] = NULL;
  for (size_t i = 0; i < n; i++) {
    char *cmd = NULL;
    int cl = redisFormatCommandArgv(&cmd, argcs[i], (const char **)argvs[i],
                                    lens[i]);
    if (cl < 0) {
      rc = SESSIO_ENOMEM;
      goto done;
    }
    if (len + (size_t)cl > cap) {
      size_t nc = (len + (size_t)cl) * 2;
      char *nb = realloc(buf, nc);
      if (nb == NULL) {
        redisFreeCommand(cmd);
        rc = SESSIO_ENOMEM;
        goto done;
      }
      buf = nb;
      cap = nc;
    }
    memcpy(buf + len, cmd, (size_t)cl);
    len += (size_t)cl;
    redisFreeCommand(cmd);
  }
  rc_conn cn;
  if ((rc = pool_get(p, &cn)) != SESSIO_OK) goto done;
  int ok = send_all(cn.c->fd, buf, len);
  for (; ok && got < n; got++) {
    void *r = NULL;
    ok = redisGetReply(cn.c, &r) == REDIS_OK;
    replies[got] = r;
  }
  if (ok) {
    pool_put(p, &cn);
    goto done;
  }
  redisFree(cn.c);
  pthread_mutex_lock(&p->mu); /* whatever broke it, start afresh */
  p->gen++;
  free_idle_locked(p);
  pthread_mutex_unlock(&p->mu);
  rc = SESSIO_EUNAVAIL;
done:
  if (rc != SESSIO_OK)
    for (size_t i = 0; i < n; i++) {
      if (replies[i]) freeReplyObject(replies[i]);
      replies[i] = NULL;
    }
  free(buf);
  return rc;
}

/* Moves the string elements of an array reply into a malloc()ed array. */
static sessio_err take_keys(redisReply *arr, char ***keys, size_t *n) {
  *keys = NULL;
  *n = 0;
  if (arr->elements == 0) return SESSIO_OK;
  char **out = calloc(arr->elements, sizeof *out);
  if (out == NULL) return SESSIO_ENOMEM;
  size_t m = 0;
  for (size_t i = 0; i < arr->elements; i++) {
    redisReply *e = arr->element[i];
    if (e->type != REDIS_REPLY_STRING) continue;
    out[m] = malloc(e->len + 1);
    if (out[m] == NULL) {
      for (size_t j = 0; j < m; j++) free(out[j]);
      free(out);
      return SESSIO_ENOMEM;
    }
    memcpy(out[m], e->str, e->len);
    out[m][e->len] = '\0';
    m++;
  }
  *keys = out;
  *n = m;
  return SESSIO_OK;
}

sessio_err sessio__rc_scan_pool(rc_pool *pool, unsigned long long *cur,
                                const char *pattern, size_t count,
                                char ***keys, size_t *n, int *wrapped) {
  char curb[24], countb[24];
  int cl = snprintf(curb, sizeof curb, "%llu", *cur);
  int nl = snprintf(countb, sizeof countb, "%zu", count ? count : 1);
  const char *argv[6] = {"SCAN", curb, "MATCH", pattern, "COUNT", countb};
  size_t lens[6] = {4, (size_t)cl, 5, strlen(pattern), 5, (size_t)nl};
  redisReply *r;
  *keys = NULL;
  *n = 0;
  *wrapped = 0;
  sessio_err rc = sessio__rc_pool_command(pool, 0, 6, argv, lens, &r, NULL);
  if (rc != SESSIO_OK) return rc;
  if (r->type == REDIS_REPLY_ERROR) {
    rc = sessio__rc_reply_err(r);
    goto done;
  }
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
      r->element[0]->type != REDIS_REPLY_STRING ||
      r->element[1]->type != REDIS_REPLY_ARRAY) {
    rc = SESSIO_EIO;
    goto done;
  }
  rc = take_keys(r->element[1], keys, n);
  if (rc != SESSIO_OK) goto done;
  *cur = strtoull(r->element[0]->str, NULL, 10);
  *wrapped = *cur == 0;
done:
  freeReplyObject(r);
  return rc;
}

/* ---- options ----------------------------------------------------------- */

void sessio__rc_options_default(rc_options *o) {
  memset(o, 0, sizeof *o);
  strcpy(o->prefix, "sessio");
  o->connect_ms = 200;
  o->timeout_ms = 500;
  o->grace_ms = 5000;
  o->max_idle = 32;
  o->failover_wait_ms = 3000;
}

static int prefix_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > RC_PREFIX_MAX) return 0;
  for (; *s; s++) /* no glob or hash-tag characters */
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
          (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' || *s == '.' ||
          *s == ':'))
      return 0;
  return 1;
}

sessio_err sessio__rc_param(void *ud, const char *name, const char *val) {
  rc_options *o = ud;
  long long v;
  if (strcmp(name, "prefix") == 0) {
    if (!prefix_ok(val)) return SESSIO_EINVAL;
    strcpy(o->prefix, val);
  } else if (strcmp(name, "connect_timeout_ms") == 0) {
    if (!sessio__opt_int(val, 1, 60000, &v)) return SESSIO_EINVAL;
    o->connect_ms = (int)v;
  } else if (strcmp(name, "timeout_ms") == 0) {
    if (!sessio__opt_int(val, 1, 60000, &v)) return SESSIO_EINVAL;
    o->timeout_ms = (int)v;
  } else if (strcmp(name, "grace_ms") == 0) {
    if (!sessio__opt_int(val, 0, 86400000, &v)) return SESSIO_EINVAL;
    o->grace_ms = v;
  } else if (strcmp(name, "pool") == 0) {
    if (!sessio__opt_int(val, 1, 1024, &v)) return SESSIO_EINVAL;
    o->max_idle = (size_t)v;
  } else if (strcmp(name, "failover_wait_ms") == 0) {
    if (!sessio__opt_int(val, 0, 60000, &v)) return SESSIO_EINVAL;
    o->failover_wait_ms = v;
  } else {
    return SESSIO_EINVAL;
  }
  return SESSIO_OK;
}

sessio_err sessio__rc_parse_query(const char *q, rc_options *o) {
  if (*q == '?') return sessio_store_url_params(q + 1, sessio__rc_param, o);
  return *q == '\0' ? SESSIO_OK : SESSIO_EINVAL;
}

const char *sessio__rc_parse_auth(const char *s, rc_pool *p) {
  size_t auth_end = strcspn(s, "/?@");
  if (s[auth_end] != '@') return s;
  const char *colon = memchr(s, ':', auth_end);
  const char *pw = colon ? colon + 1 : s;
  size_t ulen = colon ? (size_t)(colon - s) : 0;
  size_t plen = (size_t)(s + auth_end - pw);
  if (ulen >= sizeof p->user || plen >= sizeof p->password || plen == 0)
    return NULL;
  memcpy(p->user, s, ulen);
  p->user[ulen] = '\0';
  memcpy(p->password, pw, plen);
  p->password[plen] = '\0';
  return s + auth_end + 1;
}

int sessio__rc_parse_hostport(const char *s, const char *e, rc_pool *p) {
  const char *hs = s, *he, *port = NULL;
  if (s < e && *s == '[') { /* [IPv6]:port */
    hs = s + 1;
    he = memchr(hs, ']', (size_t)(e - hs));
    if (he == NULL) return 0;
    if (he + 1 < e) {
      if (he[1] != ':') return 0;
      port = he + 2;
    }
  } else {
    he = s;
    while (he < e && *he != ':') he++;
    if (he < e) port = he + 1;
  }
  size_t hl = (size_t)(he - hs);
  if (hl == 0 || hl >= sizeof p->host) return 0;
  memcpy(p->host, hs, hl);
  p->host[hl] = '\0';
  p->port = 6379;
  if (port != NULL) {
    char buf[8];
    long long v;
    size_t pl = (size_t)(e - port);
    if (pl == 0 || pl >= sizeof buf) return 0;
    memcpy(buf, port, pl);
    buf[pl] = '\0';
    if (!sessio__opt_int(buf, 1, 65535, &v)) return 0;
    p->port = (int)v;
  }
  return 1;
}

/* ---- hashing: key slots ------------------------------------------------ */

/* CRC-16/XMODEM (polynomial 0x1021, initial 0), a byte at a time from a
 * table built once. */
static uint16_t crc16_table[256];
static pthread_once_t crc16_once = PTHREAD_ONCE_INIT;

static void crc16_init(void) {
  for (int i = 0; i < 256; i++) {
    uint16_t crc = (uint16_t)(i << 8);
    for (int b = 0; b < 8; b++)
      crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021)
                           : (uint16_t)(crc << 1);
    crc16_table[i] = crc;
  }
}

static uint16_t crc16_xmodem(const unsigned char *s, size_t n) {
  pthread_once(&crc16_once, crc16_init);
  uint16_t crc = 0;
  for (size_t i = 0; i < n; i++)
    crc = (uint16_t)((crc << 8) ^ crc16_table[(crc >> 8) ^ s[i]]);
  return crc;
}

unsigned sessio__rc_slot(const char *key, size_t len) {
  const char *open = memchr(key, '{', len);
  if (open != NULL) {
    size_t rest = len - (size_t)(open + 1 - key);
    const char *close = memchr(open + 1, '}', rest);
    if (close != NULL && close > open + 1)
      return crc16_xmodem((const unsigned char *)open + 1,
                          (size_t)(close - open - 1)) & 16383u;
  }
  return crc16_xmodem((const unsigned char *)key, len) & 16383u;
}

/* ---- record format ------------------------------------------------------
 * One Redis string per session:
 *   "SSR1" | version u64 BE | expires_at i64 BE | touched_at i64 BE |
 *   user length u8 | user bytes | blob
 * The fixed header lets the scripts read the version and the expiry with
 * GETRANGE and touch rewrite the two times in place with SETRANGE. */

#define REC_MAGIC "SSR1"
#define REC_HDR 29 /* bytes before the user name */

static void put64(unsigned char *p, uint64_t v) {
  for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (unsigned char)v;
}

static uint64_t get64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | p[i];
  return v;
}

/* Key names: PREFIX ":s:{" hex(key) "}" and PREFIX ":u:{" hex(user) "}".
 * The hash tag makes a session's record, and a user's index, each one key
 * in one slot; nothing needs two slots at once. */
#define KEYNAME_MAX (RC_PREFIX_MAX + 5 + 2 * SESSIO_USER_MAX + 1)

static size_t keyname(const rc_store *rs, char kind, const unsigned char *b,
                      size_t n, char out[KEYNAME_MAX + 1]) {
  size_t pl = strlen(rs->prefix);
  memcpy(out, rs->prefix, pl);
  out[pl] = ':';
  out[pl + 1] = kind;
  out[pl + 2] = ':';
  out[pl + 3] = '{';
  sessio__hex(b, n, out + pl + 4);
  out[pl + 4 + 2 * n] = '}';
  out[pl + 5 + 2 * n] = '\0';
  return pl + 5 + 2 * n;
}

/* Recognises a key name of this store: 's' (a record, '*key' filled), 'u'
 * (a user index) or 0. */
static char parse_keyname(const rc_store *rs, const char *name, size_t len,
                          sessio_key *key) {
  size_t pl = strlen(rs->prefix);
  if (len < pl + 6 || memcmp(name, rs->prefix, pl) != 0 ||
      name[pl] != ':' || name[pl + 2] != ':' || name[pl + 3] != '{' ||
      name[len - 1] != '}')
    return 0;
  size_t hl = len - pl - 5;
  if (name[pl + 1] == 's' && hl == 2 * SESSIO_KEY_BYTES &&
      sessio__unhex(name + pl + 4, SESSIO_KEY_BYTES, key->b))
    return 's';
  if (name[pl + 1] == 'u' && hl % 2 == 0 && hl <= 2 * SESSIO_USER_MAX)
    return 'u';
  return 0;
}

/* Redis TTL for a record dead at 'expires_at' seen at 'now': the remaining
 * life plus the grace, in the caller's clock, so the caller's clock and
 * Redis's need not agree. Clamped to [1 ms, 100 years]. */
static int64_t ttl_ms(const rc_store *rs, int64_t expires_at, int64_t now) {
  const int64_t max = (int64_t)100 * 365 * 86400 * 1000;
  int64_t left;
  if (__builtin_sub_overflow(expires_at, now, &left))
    left = expires_at > now ? max : 0;
  if (left > max) left = max;
  if (left < 0) left = 0;
  left += rs->grace_ms;
  return left < 1 ? 1 : (left > max ? max : left);
}

/* ---- scripts ------------------------------------------------------------ */

enum { S_SAVE, S_TOUCH, S_GC, S_UADD, S_ULIST, S_COUNT };

/* Every script reads one key (KEYS[1]). A record is live while its
 * expires_at (bytes 13-20) is greater than the caller's 'now'. */
_Static_assert(S_COUNT == RC_SCRIPTS, "rc_store.sha has one slot per script");

static const char *const scripts[S_COUNT] = {
    /* save: ARGV = expected version (8 bytes, "" to create), now,
     * new value, ttl ms. 1 saved, 0 conflict, -1 corrupt. */
    [S_SAVE] = "local h = redis.call('GETRANGE', KEYS[1], 0, 19)\n"
        "local live = false\n"
        "if #h > 0 then\n"
        "  if #h < 20 or string.sub(h, 1, 4) ~= 'SSR1' then "
        "return -1 end\n"
        "  live = struct.unpack('>i8', h, 13) > tonumber(ARGV[2])\n"
        "end\n"
        "if #ARGV[1] == 0 then\n"
        "  if live then return 0 end\n"
        "elseif not live or string.sub(h, 5, 12) ~= ARGV[1] then\n"
        "  return 0\n"
        "end\n"
        "redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])\n"
        "return 1\n",
    /* touch: ARGV = now, expires_at|touched_at (16 bytes), ttl ms.
     * 1 touched, 0 missing or dead, -1 corrupt. */
    [S_TOUCH] = "local h = redis.call('GETRANGE', KEYS[1], 0, 19)\n"
        "if #h == 0 then return 0 end\n"
        "if #h < 20 or string.sub(h, 1, 4) ~= 'SSR1' then "
        "return -1 end\n"
        "if struct.unpack('>i8', h, 13) <= tonumber(ARGV[1]) then "
        "return 0 end\n"
        "redis.call('SETRANGE', KEYS[1], 12, ARGV[2])\n"
        "redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
        "return 1\n",
    /* gc of one record: ARGV = now. 1 when it was dead and is removed. */
    [S_GC] = "local h = redis.call('GETRANGE', KEYS[1], 0, 19)\n"
        "if #h == 20 and string.sub(h, 1, 4) == 'SSR1' and "
        "struct.unpack('>i8', h, 13) <= tonumber(ARGV[1]) then\n"
        "  redis.call('DEL', KEYS[1])\n"
        "  return 1\n"
        "end\n"
        "return 0\n",
    /* user_add: ARGV = expires_at (score), key (member), ttl ms. The set
     * lives as long as its longest-lived entry. */
    [S_UADD] = "redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])\n"
        "local t = redis.call('PTTL', KEYS[1])\n"
        "if t < tonumber(ARGV[3]) then "
        "redis.call('PEXPIRE', KEYS[1], ARGV[3]) end\n"
        "return 1\n",
    /* user_list: ARGV = now. Drops dead pairs, returns the others. */
    [S_ULIST] = ("redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])\n"
                 "return redis.call('ZRANGE', KEYS[1], 0, -1)\n"),
};

static sessio_err command(rc_store *rs, const char *key, size_t klen,
                          int argc, const char **argv, const size_t *lens,
                          redisReply **reply) {
  sessio_err rc = rs->ops->exec(rs, key, klen, argc, argv, lens, reply);
  if (rc == SESSIO_OK && (*reply)->type == REDIS_REPLY_ERROR) {
    rc = sessio__rc_reply_err(*reply);
    freeReplyObject(*reply);
    *reply = NULL;
  }
  return rc;
}

/* The digest of script 'which' for EVALSHA into '*sha'. The first time,
 * SCRIPT LOAD on the server that owns 'key' computes it (and loads the
 * script there); then it is remembered for the life of the store. */
static sessio_err script_sha(rc_store *rs, int which, const char *key,
                             size_t klen, const char **sha) {
  *sha = rs->sha[which];
  if (atomic_load_explicit(&rs->sha_known[which], memory_order_acquire))
    return SESSIO_OK;
  const char *argv[3] = {"SCRIPT", "LOAD", scripts[which]};
  size_t lens[3] = {6, 4, strlen(scripts[which])};
  redisReply *r;
  sessio_err rc = command(rs, key, klen, 3, argv, lens, &r);
  if (rc != SESSIO_OK) return rc;
  if (r->type != REDIS_REPLY_STRING || r->len != 40) {
    freeReplyObject(r);
    return SESSIO_EIO;
  }
  pthread_mutex_lock(&rs->sha_mu);
  if (!atomic_load_explicit(&rs->sha_known[which], memory_order_relaxed)) {
    memcpy(rs->sha[which], r->str, 40);
    rs->sha[which][40] = '\0';
    atomic_store_explicit(&rs->sha_known[which], 1, memory_order_release);
  }
  pthread_mutex_unlock(&rs->sha_mu);
  freeReplyObject(r);
  return SESSIO_OK;
}

/* Runs script 'which' on 'key' with up to 4 arguments: EVALSHA, and EVAL
 * when the server does not know the script yet (new or restarted server,
 * failed-over replica). '*reply' is never an error reply on SESSIO_OK. */
static sessio_err eval(rc_store *rs, int which, const char *key, size_t klen,
                       int nargs, const char **args, const size_t *alens,
                       redisReply **reply) {
  const char *argv[8];
  size_t lens[8];
  sessio_err rc = script_sha(rs, which, key, klen, &argv[1]);
  if (rc != SESSIO_OK) return rc;
  argv[0] = "EVALSHA";
  lens[0] = 7;
  lens[1] = 40;
  argv[2] = "1";
  lens[2] = 1;
  argv[3] = key;
  lens[3] = klen;
  for (int i = 0; i < nargs; i++) {
    argv[4 + i] = args[i];
    lens[4 + i] = alens[i];
  }
  rc = rs->ops->exec(rs, key, klen, 4 + nargs, argv, lens, reply);
  if (rc == SESSIO_OK && (*reply)->type == REDIS_REPLY_ERROR &&
      strncmp((*reply)->str, "NOSCRIPT", 8) == 0) {
    freeReplyObject(*reply);
    *reply = NULL;
    argv[0] = "EVAL";
    lens[0] = 4;
    argv[1] = scripts[which];
    lens[1] = strlen(scripts[which]);
    rc = rs->ops->exec(rs, key, klen, 4 + nargs, argv, lens, reply);
  }
  if (rc == SESSIO_OK && (*reply)->type == REDIS_REPLY_ERROR) {
    rc = sessio__rc_reply_err(*reply);
    freeReplyObject(*reply);
    *reply = NULL;
  }
  return rc;
}

/* An integer reply's value, or 'bad' for any other reply. */
static long long int_reply(redisReply *r, long long bad) {
  return r->type == REDIS_REPLY_INTEGER ? r->integer : bad;
}

sessio_err sessio__rc_reply_err(const redisReply *r) {
  static const char *const transient[] = {
      "LOADING", "BUSY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY",
      "MOVED",   "ASK"};
  const char *s = r->str ? r->str : "";
  for (size_t i = 0; i < sizeof transient / sizeof transient[0]; i++) {
    size_t n = strlen(transient[i]);
    if (strncmp(s, transient[i], n) == 0 && (s[n] == ' ' || s[n] == '\0'))
      return SESSIO_EUNAVAIL;
  }
  if (strncmp(s, "OOM", 3) == 0) return SESSIO_EFULL;
  if (strstr(s, "max number of clients") != NULL) return SESSIO_EUNAVAIL;
  return SESSIO_EIO;
}

/* ---- store lifecycle ----------------------------------------------------- */

sessio_err sessio__rc_store_init(rc_store *rs, const rc_ops *ops,
                                 const rc_options *o) {
  if (sessio__fork_watch() != SESSIO_OK) return SESSIO_ENOMEM;
  rs->ops = ops;
  strcpy(rs->prefix, o->prefix);
  rs->grace_ms = o->grace_ms;
  pthread_mutex_init(&rs->gc_mu, NULL);
  memset(&rs->gc_cur, 0, sizeof rs->gc_cur);
  rs->gc_keys = NULL;
  rs->gc_n = rs->gc_i = 0;
  rs->gc_wrapped = 0;
  rs->gc_from = NULL;
  pthread_mutex_init(&rs->sha_mu, NULL);
  for (int i = 0; i < RC_SCRIPTS; i++) atomic_init(&rs->sha_known[i], 0);
  return SESSIO_OK;
}

static void free_keys(char **keys, size_t n) {
  for (size_t i = 0; i < n; i++) free(keys[i]);
  free(keys);
}

void sessio__rc_store_destroy(rc_store *rs) {
  free_keys(rs->gc_keys, rs->gc_n);
  pthread_mutex_destroy(&rs->gc_mu);
  pthread_mutex_destroy(&rs->sha_mu);
}

/* ---- methods --------------------------------------------------------------- */

/* Parses a stored value into '*out' (blob malloc()ed). */
static sessio_err decode(const char *v, size_t len, sessio_record *out) {
  const unsigned char *p = (const unsigned char *)v;
  if (len < REC_HDR || memcmp(p, REC_MAGIC, 4) != 0) return SESSIO_ECORRUPT;
  size_t ul = p[28];
  if (ul > SESSIO_USER_MAX || REC_HDR + ul > len) return SESSIO_ECORRUPT;
  if (memchr(p + REC_HDR, '\0', ul) != NULL) return SESSIO_ECORRUPT;
  out->version = get64(p + 4);
  out->expires_at = (int64_t)get64(p + 12);
  out->touched_at = (int64_t)get64(p + 20);
  if (out->version == 0) return SESSIO_ECORRUPT;
  memcpy(out->user, p + REC_HDR, ul);
  out->user[ul] = '\0';
  out->blob_len = len - REC_HDR - ul;
  out->blob = malloc(out->blob_len ? out->blob_len : 1);
  if (out->blob == NULL) return SESSIO_ENOMEM;
  memcpy(out->blob, p + REC_HDR + ul, out->blob_len);
  return SESSIO_OK;
}

static sessio_err load_named(rc_store *rs, const char *name, size_t nl,
                             int64_t now, sessio_record *out, int *found) {
  const char *argv[2] = {"GET", name};
  size_t lens[2] = {3, nl};
  redisReply *r;
  *found = 0;
  sessio_err rc = command(rs, name, nl, 2, argv, lens, &r);
  if (rc != SESSIO_OK) return rc;
  if (r->type == REDIS_REPLY_NIL) goto done;
  if (r->type != REDIS_REPLY_STRING) {
    rc = SESSIO_EIO;
    goto done;
  }
  sessio_record rec;
  memset(&rec, 0, sizeof rec);
  rc = decode(r->str, r->len, &rec);
  if (rc != SESSIO_OK) {
    free(rec.blob);
    goto done;
  }
  if (rec.expires_at <= now) { /* dead: same as missing */
    free(rec.blob);
    goto done;
  }
  *out = rec;
  *found = 1;
done:
  freeReplyObject(r);
  return rc;
}

sessio_err sessio__rc_load(sessio_store *st, const sessio_key *key,
                           int64_t now, sessio_record *out, int *found) {
  rc_store *rs = (rc_store *)st;
  char name[KEYNAME_MAX + 1];
  size_t nl = keyname(rs, 's', key->b, SESSIO_KEY_BYTES, name);
  return load_named(rs, name, nl, now, out, found);
}

sessio_err sessio__rc_save(sessio_store *st, const sessio_key *key,
                           const sessio_record *rec, uint64_t expected,
                           int64_t now, uint64_t *new_version) {
  rc_store *rs = (rc_store *)st;
  size_t ul = strnlen(rec->user, sizeof rec->user);
  if (ul > SESSIO_USER_MAX || (rec->blob_len > 0 && rec->blob == NULL))
    return SESSIO_EINVAL;
  if (expected == UINT64_MAX) return SESSIO_EOVERFLOW;

  size_t vlen = REC_HDR + ul + rec->blob_len;
  unsigned char *val = malloc(vlen);
  if (val == NULL) return SESSIO_ENOMEM;
  memcpy(val, REC_MAGIC, 4);
  put64(val + 4, expected + 1);
  put64(val + 12, (uint64_t)rec->expires_at);
  put64(val + 20, (uint64_t)rec->touched_at);
  val[28] = (unsigned char)ul;
  memcpy(val + REC_HDR, rec->user, ul);
  if (rec->blob_len) memcpy(val + REC_HDR + ul, rec->blob, rec->blob_len);

  char name[KEYNAME_MAX + 1], exp[8], nowb[24], ttl[24];
  size_t nl = keyname(rs, 's', key->b, SESSIO_KEY_BYTES, name);
  put64((unsigned char *)exp, expected);
  int nowl = snprintf(nowb, sizeof nowb, "%" PRId64, now);
  int ttll = snprintf(ttl, sizeof ttl, "%" PRId64,
                      ttl_ms(rs, rec->expires_at, now));
  const char *args[4] = {exp, nowb, (const char *)val, ttl};
  size_t alens[4] = {expected ? 8 : 0, (size_t)nowl, vlen, (size_t)ttll};
  redisReply *r;
  sessio_err rc;
  if (expected == 0) {
    /* Creating: a plain SET NX is enough when the key is absent (nearly
     * always: keys are random). When anything is there, live or dead, the
     * script decides. */
    const char *argv[6] = {"SET", name, (const char *)val, "PX", ttl, "NX"};
    size_t lens[6] = {3, nl, vlen, 2, (size_t)ttll, 2};
    rc = command(rs, name, nl, 6, argv, lens, &r);
    if (rc != SESSIO_OK) {
      free(val);
      return rc;
    }
    int created = r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    if (created) {
      free(val);
      *new_version = 1;
      return SESSIO_OK;
    }
  }
  rc = eval(rs, S_SAVE, name, nl, 4, args, alens, &r);
  free(val);
  if (rc != SESSIO_OK) return rc;
  long long res = int_reply(r, -2);
  freeReplyObject(r);
  if (res == 1) {
    *new_version = expected + 1;
    return SESSIO_OK;
  }
  return res == 0 ? SESSIO_ECONFLICT : res == -1 ? SESSIO_ECORRUPT
                                                 : SESSIO_EIO;
}

sessio_err sessio__rc_touch(sessio_store *st, const sessio_key *key,
                            int64_t touched_at, int64_t expires_at,
                            int64_t now, int *found) {
  rc_store *rs = (rc_store *)st;
  char name[KEYNAME_MAX + 1], nowb[24], ttl[24];
  unsigned char times[16];
  size_t nl = keyname(rs, 's', key->b, SESSIO_KEY_BYTES, name);
  *found = 0;
  put64(times, (uint64_t)expires_at);
  put64(times + 8, (uint64_t)touched_at);
  int nowl = snprintf(nowb, sizeof nowb, "%" PRId64, now);
  int ttll =
      snprintf(ttl, sizeof ttl, "%" PRId64, ttl_ms(rs, expires_at, now));
  const char *args[3] = {nowb, (const char *)times, ttl};
  size_t alens[3] = {(size_t)nowl, 16, (size_t)ttll};
  redisReply *r;
  sessio_err rc = eval(rs, S_TOUCH, name, nl, 3, args, alens, &r);
  if (rc != SESSIO_OK) return rc;
  long long res = int_reply(r, -2);
  freeReplyObject(r);
  if (res == 1) *found = 1;
  return res >= 0 ? SESSIO_OK : res == -1 ? SESSIO_ECORRUPT : SESSIO_EIO;
}

sessio_err sessio__rc_remove(sessio_store *st, const sessio_key *key,
                             int64_t now, int *removed) {
  rc_store *rs = (rc_store *)st;
  (void)now; /* DEL, live or dead */
  char name[KEYNAME_MAX + 1];
  size_t nl = keyname(rs, 's', key->b, SESSIO_KEY_BYTES, name);
  const char *argv[2] = {"DEL", name};
  size_t lens[2] = {3, nl};
  redisReply *r;
  *removed = 0;
  sessio_err rc = command(rs, name, nl, 2, argv, lens, &r);
  if (rc != SESSIO_OK) return rc;
  long long res = int_reply(r, -1);
  freeReplyObject(r);
  if (res < 0) return SESSIO_EIO;
  *removed = res > 0;
  return SESSIO_OK;
}

sessio_err sessio__rc_user_add(sessio_store *st, const char *user,
                               const sessio_key *key, int64_t expires_at,
                               int64_t now) {
  rc_store *rs = (rc_store *)st;
  char name[KEYNAME_MAX + 1], score[24], ttl[24];
  size_t nl = keyname(rs, 'u', (const unsigned char *)user, strlen(user),
                      name);
  int sl = snprintf(score, sizeof score, "%" PRId64, expires_at);
  int tl = snprintf(ttl, sizeof ttl, "%" PRId64, ttl_ms(rs, expires_at, now));
  const char *args[3] = {score, (const char *)key->b, ttl};
  size_t alens[3] = {(size_t)sl, SESSIO_KEY_BYTES, (size_t)tl};
  redisReply *r;
  sessio_err rc = eval(rs, S_UADD, name, nl, 3, args, alens, &r);
  if (rc == SESSIO_OK) freeReplyObject(r);
  return rc;
}

sessio_err sessio__rc_user_list(sessio_store *st, const char *user,
                                int64_t now, sessio_key **keys, size_t *n) {
  rc_store *rs = (rc_store *)st;
  char name[KEYNAME_MAX + 1], nowb[24];
  size_t nl = keyname(rs, 'u', (const unsigned char *)user, strlen(user),
                      name);
  int nowl = snprintf(nowb, sizeof nowb, "%" PRId64, now);
  const char *args[1] = {nowb};
  size_t alens[1] = {(size_t)nowl};
  redisReply *r;
  sessio_err rc = eval(rs, S_ULIST, name, nl, 1, args, alens, &r);
  if (rc != SESSIO_OK) return rc;
  if (r->type != REDIS_REPLY_ARRAY) {
    rc = SESSIO_EIO;
    goto done;
  }
  if (r->elements == 0) goto done;
  sessio_key *out = malloc(r->elements * sizeof *out);
  if (out == NULL) {
    rc = SESSIO_ENOMEM;
    goto done;
  }
  size_t m = 0;
  for (size_t i = 0; i < r->elements; i++) {
    redisReply *e = r->element[i];
    if (e->type == REDIS_REPLY_STRING && e->len == SESSIO_KEY_BYTES)
      memcpy(out[m++].b, e->str, SESSIO_KEY_BYTES);
  }
  if (m == 0) {
    free(out);
    goto done;
  }
  *keys = out;
  *n = m;
done:
  freeReplyObject(r);
  return rc;
}

sessio_err sessio__rc_user_remove(sessio_store *st, const char *user,
                                  const sessio_key *key) {
  rc_store *rs = (rc_store *)st;
  char name[KEYNAME_MAX + 1];
  size_t nl = keyname(rs, 'u', (const unsigned char *)user, strlen(user),
                      name);
  const char *argv[3] = {"ZREM", name, (const char *)key->b};
  size_t lens[3] = {4, nl, SESSIO_KEY_BYTES};
  redisReply *r;
  sessio_err rc = command(rs, name, nl, 3, argv, lens, &r);
  if (rc == SESSIO_OK) freeReplyObject(r);
  return rc;
}

/* Examines one scanned key for gc: a dead record is deleted (atomically
 * with its expiry check), a user index loses its dead pairs. */
static sessio_err gc_one(rc_store *rs, const char *name, int64_t now,
                         size_t *removed) {
  sessio_key k;
  size_t nl = strlen(name);
  char kind = parse_keyname(rs, name, nl, &k);
  char nowb[24];
  int nowl = snprintf(nowb, sizeof nowb, "%" PRId64, now);
  redisReply *r;
  sessio_err rc = SESSIO_OK;
  if (kind == 's') {
    const char *args[1] = {nowb};
    size_t alens[1] = {(size_t)nowl};
    rc = eval(rs, S_GC, name, nl, 1, args, alens, &r);
    if (rc == SESSIO_OK) {
      if (int_reply(r, 0) == 1) (*removed)++;
      freeReplyObject(r);
    }
  } else if (kind == 'u') {
    const char *argv[4] = {"ZREMRANGEBYSCORE", name, "-inf", nowb};
    size_t lens[4] = {16, nl, 4, (size_t)nowl};
    rc = command(rs, name, nl, 4, argv, lens, &r);
    if (rc == SESSIO_OK) freeReplyObject(r);
  }
  return rc;
}

/* gc_one for 'n' keys scanned on 'from', their commands pipelined there.
 * A key whose answer is an error (NOSCRIPT, MOVED after a topology change)
 * is done again by gc_one, which handles those. */
#define GC_BATCH 128

static sessio_err gc_batch(rc_store *rs, rc_pool *from, char **keys, size_t n,
                           int64_t now, size_t *removed) {
  sessio_err rc = SESSIO_OK;
  if (from == NULL || n < 2) {
    for (size_t i = 0; i < n && rc == SESSIO_OK; i++)
      rc = gc_one(rs, keys[i], now, removed);
    return rc;
  }
  const char *gc_sha;
  rc = script_sha(rs, S_GC, keys[0], strlen(keys[0]), &gc_sha);
  if (rc != SESSIO_OK) return rc;
  char nowb[24];
  size_t nowl = (size_t)snprintf(nowb, sizeof nowb, "%" PRId64, now);
  int argcs[GC_BATCH];
  const char *argvs[GC_BATCH][5];
  size_t lens[GC_BATCH][5];
  const char *const *av[GC_BATCH];
  const size_t *lv[GC_BATCH];
  size_t idx[GC_BATCH], m = 0;
  redisReply *replies[GC_BATCH];
  for (size_t i = 0; i < n && i < GC_BATCH; i++) {
    sessio_key k;
    size_t nl = strlen(keys[i]);
    char kind = parse_keyname(rs, keys[i], nl, &k);
    if (kind == 's') {
      const char *a[5] = {"EVALSHA", gc_sha, "1", keys[i], nowb};
      size_t l[5] = {7, 40, 1, nl, nowl};
      memcpy(argvs[m], a, sizeof a);
      memcpy(lens[m], l, sizeof l);
      argcs[m] = 5;
    } else if (kind == 'u') {
      const char *a[4] = {"ZREMRANGEBYSCORE", keys[i], "-inf", nowb};
      size_t l[4] = {16, nl, 4, nowl};
      memcpy(argvs[m], a, sizeof a);
      memcpy(lens[m], l, sizeof l);
      argcs[m] = 4;
    } else {
      continue; /* not ours: examined, nothing to do */
    }
    av[m] = argvs[m];
    lv[m] = lens[m];
    idx[m++] = i;
  }
  if (m == 0) return SESSIO_OK;
  rc = sessio__rc_pool_pipeline(from, m, argcs, av, lv, replies);
  if (rc != SESSIO_OK) return rc;
  for (size_t j = 0; j < m; j++) {
    redisReply *r = replies[j];
    if (r->type == REDIS_REPLY_ERROR) {
      if (rc == SESSIO_OK) rc = gc_one(rs, keys[idx[j]], now, removed);
    } else if (argcs[j] == 5 && int_reply(r, 0) == 1) {
      (*removed)++;
    }
    freeReplyObject(r);
  }
  return rc;
}

sessio_err sessio__rc_gc(sessio_store *st, int64_t now, size_t max_work,
                         size_t *removed, int *done) {
  rc_store *rs = (rc_store *)st;
  char pattern[RC_PREFIX_MAX + 3];
  snprintf(pattern, sizeof pattern, "%s:*", rs->prefix);
  sessio_err rc = SESSIO_OK;
  size_t work = 0, rem = 0;
  pthread_mutex_lock(&rs->gc_mu);
  while (work < max_work) {
    if (rs->gc_i < rs->gc_n) {
      size_t k = rs->gc_n - rs->gc_i;
      if (k > max_work - work) k = max_work - work;
      if (k > GC_BATCH) k = GC_BATCH;
      work += k;
      rc = gc_batch(rs, rs->gc_from, rs->gc_keys + rs->gc_i, k, now, &rem);
      rs->gc_i += k;
      if (rc != SESSIO_OK) break;
      continue;
    }
    free_keys(rs->gc_keys, rs->gc_n);
    rs->gc_keys = NULL;
    rs->gc_n = rs->gc_i = 0;
    if (rs->gc_wrapped) { /* the batch just finished ended a pass */
      rs->gc_wrapped = 0;
      *done = 1;
      break;
    }
    char **keys = NULL;
    size_t n = 0;
    int wrapped = 0;
    rc = rs->ops->scan(rs, &rs->gc_cur, pattern, max_work - work, &keys, &n,
                       &wrapped, &rs->gc_from);
    if (rc != SESSIO_OK) break;
    rs->gc_keys = keys;
    rs->gc_n = n;
    rs->gc_wrapped = wrapped;
    if (n == 0 && !wrapped) work++; /* an empty step still costs a unit */
  }
  pthread_mutex_unlock(&rs->gc_mu);
  *removed += rem;
  return rc;
}

sessio_err sessio__rc_iterate(sessio_store *st, int64_t now,
                              sessio_store_iter_fn cb, void *ud) {
  rc_store *rs = (rc_store *)st;
  char pattern[RC_PREFIX_MAX + 8];
  snprintf(pattern, sizeof pattern, "%s:s:*", rs->prefix);
  rc_cursor cur;
  memset(&cur, 0, sizeof cur);
  sessio_err rc = SESSIO_OK;
  int wrapped = 0, stop = 0;
  while (!wrapped && !stop && rc == SESSIO_OK) {
    char **keys = NULL;
    size_t n = 0;
    rc_pool *from;
    rc = rs->ops->scan(rs, &cur, pattern, 200, &keys, &n, &wrapped, &from);
    for (size_t i = 0; i < n && !stop && rc == SESSIO_OK; i++) {
      sessio_key k;
      sessio_record rec;
      int found = 0;
      size_t nl = strlen(keys[i]);
      if (parse_keyname(rs, keys[i], nl, &k) != 's') continue;
      memset(&rec, 0, sizeof rec);
      rc = load_named(rs, keys[i], nl, now, &rec, &found);
      if (rc == SESSIO_ECORRUPT) rc = SESSIO_OK; /* skip what cannot be read */
      if (rc == SESSIO_OK && found) stop = cb(ud, &k, &rec) != 0;
      free(rec.blob);
    }
    free_keys(keys, n);
  }
  return rc;
}
