/*
 * redis_pool.c — connections to one Redis server (see redis_pool.h): the
 * pool with its timeouts and reconnection backoff, SIGPIPE handling, one
 * command, a pipeline, a SCAN step, what an error reply means, and the
 * server part of a Redis URL.
 */
#include "redis_pool.h"
#include "helpers.h"

#include <errno.h>
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
  redisContext *c =
      redisConnectWithTimeout(p->host, p->port, ms_tv(p->connect_ms));
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
    if (!status_ok(c, redisCommandArgv(c, 3 - off, argv + off, lens + off), why,
                   n))
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

  int probing = p->down;
  pipe_guard g;
  pipe_block(&g);
  redisContext *c = pool_connect(p, why, sizeof why);
  /* While the server is known down, a connect is a probe: it must answer
   * a PING within connect_ms before the pool trusts it again (a stopped
   * server, or a host behind a dead link, still accepts connections in
   * its kernel but answers nothing). */
  if (c != NULL && probing) {
    static const char *const ping[1] = {"PING"};
    static const size_t plen[1] = {4};
    redisSetTimeout(c, ms_tv(p->connect_ms));
    if (!status_ok(c, redisCommandArgv(c, 1, (const char **)ping, plen), why,
                   sizeof why) ||
        redisSetTimeout(c, ms_tv(p->timeout_ms)) != REDIS_OK) {
      redisFree(c);
      c = NULL;
    }
  }
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

int sessio__rc_pool_open(rc_pool *p) {
  pthread_mutex_lock(&p->mu);
  int open = p->down && sessio__rc_mono_ms() < p->next_try;
  pthread_mutex_unlock(&p->mu);
  return open;
}

static void pool_put(rc_pool *p, rc_conn *cn) {
  pthread_mutex_lock(&p->mu);
  p->timeouts = 0; /* an answer: the server is alive */
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
     * drop them all. Two timeouts in a row, with no answer between them,
     * open the circuit: the server is marked down and, until a paced probe gets its PING answered, calls fail at once
     * instead of each holding its thread for timeout_ms. */
    int timed_out = kind == REDIS_ERR_IO && (e == EAGAIN || e == EWOULDBLOCK);
#ifdef REDIS_ERR_TIMEOUT
    timed_out = timed_out || kind == REDIS_ERR_TIMEOUT;
#endif
    if (timed_out) {
      pthread_mutex_lock(&p->mu);
      if (++p->timeouts >= 2) /* one slow command alone is not an outage */
        mark_failed_locked(p, "no answer within timeout_ms");
      pthread_mutex_unlock(&p->mu);
    } else if (closed) {
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
  int e = errno, timed_out = cn.c->err == REDIS_ERR_IO &&
                             (e == EAGAIN || e == EWOULDBLOCK);
#ifdef REDIS_ERR_TIMEOUT
  timed_out = timed_out || cn.c->err == REDIS_ERR_TIMEOUT;
#endif
  redisFree(cn.c);
  pthread_mutex_lock(&p->mu); /* whatever broke it, start afresh */
  if (timed_out && ++p->timeouts >= 2)
    mark_failed_locked(p, "no answer within timeout_ms");
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
                                const char *pattern, size_t count, char ***keys,
                                size_t *n, int *wrapped) {
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

sessio_err sessio__rc_reply_err(const redisReply *r) {
  static const char *const transient[] = {
      "LOADING",  "BUSY",     "MASTERDOWN", "CLUSTERDOWN",
      "TRYAGAIN", "READONLY", "MOVED",      "ASK"};
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

/* ---- the server part of a URL ----------------------------------------- */

const char *sessio__rc_parse_auth(const char *s, rc_pool *p) {
  size_t auth_end = strcspn(s, "/?@");
  if (s[auth_end] != '@') return s;
  const char *colon = memchr(s, ':', auth_end);
  const char *pw = colon ? colon + 1 : s;
  size_t ulen = colon ? (size_t)(colon - s) : 0;
  size_t plen = (size_t)(s + auth_end - pw);
  /* Decoded, so a password may hold any byte but NUL ("/" is "%2F", "@"
   * "%40", ":" "%3A", "%" "%25"); decoding never makes a value longer. */
  if (ulen >= sizeof p->user || plen >= sizeof p->password || plen == 0 ||
      !sessio__url_decode(s, s + ulen, p->user) ||
      !sessio__url_decode(pw, pw + plen, p->password))
    return NULL;
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
