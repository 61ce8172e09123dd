/*
 * redis_pool.c — connections to one Redis server (see redis_pool.h): the
 * shared links that pipeline every thread's commands, timeouts and
 * reconnection backoff, SIGPIPE handling, one command, a pipeline, a SCAN
 * step, what an error reply means, and the server part of a Redis URL.
 */
#include "redis_pool.h"
#include "helpers.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <semaphore.h>
#include <sys/uio.h>
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
 * that does not ignore it. Commands are sent with sendmsg(MSG_NOSIGNAL) (see
 * send_calls()); only the connect path (AUTH, SELECT), where hiredis writes
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

/* ---- the links ------------------------------------------------------------
 * Every thread's commands to one server go over a few shared connections
 * (links). A caller formats its commands, queues them on the least busy
 * link and, when nobody leads that link, leads it itself: it sends every
 * queued command in one write, reads the replies in order (hiredis parses
 * them from as few reads as the bytes allow) into each caller's slots, wakes
 * those callers, then sends the batch queued meanwhile and hands the link to
 * the first caller of that batch, who reads its replies in turn. So with 8
 * request threads one round trip carries several requests' commands, and
 * the server does one read and one write for all of them instead of one of
 * each per command; no thread sits on a connection of its own while another
 * could use it. A call's commands are always sent together and their replies
 * are its own (Redis answers in order on a connection). A failure fails
 * exactly the calls whose replies had not all arrived (their commands may
 * have run), never one that had its answer.
 *
 * Connections inherited through fork() are the parent's: a child that used
 * one would interleave its commands with the parent's on one socket and
 * could read the parent's replies (another user's session). A pool
 * remembers sessio__forks() (helpers.h) and forgets (closes, in the child
 * only) what it had when the count moved. */

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 500
#define IOV_BATCH 64 /* iovecs per sendmsg */

enum { CALL_QUEUED, CALL_SENT, CALL_DONE };

struct rc_call {
  const char *buf; /* the formatted commands */
  size_t len;
  size_t nrep;          /* replies expected */
  redisReply **replies; /* 'nrep' slots, filled in order */
  size_t got;           /* replies read so far */
  int state;            /* CALL_* */
  int lead;             /* handed the link: read the batch in flight */
  int retried;          /* sent again once: no byte of it had left */
  int maybe_done;       /* failed after it was sent */
  sessio_err rc;        /* when CALL_DONE */
  /* Posted when done or handed the link: a woken caller needs not the
   * pool's mutex. */
  sem_t wake;
  rc_call *next;
};

void sessio__rc_pool_init(rc_pool *p, sessio_store *owner) {
  (void)sessio__fork_watch(); /* its failure is reported by store_init */
  memset(p, 0, sizeof *p);
  pthread_mutex_init(&p->mu, NULL);
  p->port = 6379;
  p->connect_ms = 200;
  p->timeout_ms = 500;
  p->backoff = BACKOFF_MIN_MS;
  p->owner = owner;
  p->forks = sessio__forks();
}

sessio_err sessio__rc_pool_set_links(rc_pool *p, size_t n) {
  p->links = calloc(n, sizeof *p->links);
  if (p->links == NULL) return SESSIO_ENOMEM;
  p->n_links = n;
  return SESSIO_OK;
}

void sessio__rc_pool_destroy(rc_pool *p) {
  for (size_t i = 0; i < p->n_links; i++)
    if (p->links[i].c) redisFree(p->links[i].c);
  free(p->links);
  p->links = NULL;
  p->n_links = 0;
  explicit_bzero(p->password, sizeof p->password);
  pthread_mutex_destroy(&p->mu);
}

/* "host:port", or the socket's path, for log lines. */
static const char *where(const rc_pool *p, char *buf, size_t n) {
  if (p->host[0] == '/') return p->host;
  snprintf(buf, n, "%s:%d", p->host, p->port);
  return buf;
}

/* Records a failure: every link connects afresh before its next batch (they
 * point at the same server), and the first failure after a success is
 * logged once. */
static void mark_failed_locked(rc_pool *p, const char *why) {
  p->gen++;
  if (!p->down) {
    char w[300];
    p->down = 1;
    p->backoff = BACKOFF_MIN_MS;
    p->next_try = sessio__rc_mono_ms() + p->backoff;
    sessio_store_log(p->owner, SESSIO_LOG_ERROR,
                     "redis %s unreachable (%s); calls fail with "
                     "SESSIO_EUNAVAIL until it is back",
                     where(p, w, sizeof w), why);
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
  int unix_socket = p->host[0] == '/';
  redisContext *c =
      unix_socket
          ? redisConnectUnixWithTimeout(p->host, ms_tv(p->connect_ms))
          : redisConnectWithTimeout(p->host, p->port, ms_tv(p->connect_ms));
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
  /* TCP only: on a Unix socket hiredis's TCP_KEEPIDLE fails and would leave
   * the context in its error state. */
  if (!unix_socket) redisEnableKeepAlive(c);
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

/* Makes sure link 'lk' has a connection of the current generation, called
 * with 'mu' held (released while connecting). SESSIO_EUNAVAIL at once while
 * the circuit is open; otherwise one connect (a probe while down). */
static sessio_err link_connect_locked(rc_pool *p, rc_link *lk) {
  char why[160];
  if (lk->c != NULL && lk->gen == p->gen) return SESSIO_OK;
  if (lk->c != NULL) { /* an older generation: replace it */
    redisFree(lk->c);
    lk->c = NULL;
  }
  if (p->down) {
    /* Not more often than the backoff: one caller per window tries. */
    int64_t now = sessio__rc_mono_ms();
    if (now < p->next_try) return SESSIO_EUNAVAIL;
    p->backoff = p->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
                                                 : p->backoff * 2;
    p->next_try = now + p->backoff;
  }
  unsigned gen = p->gen;
  int probing = p->down;
  pthread_mutex_unlock(&p->mu);

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
    return SESSIO_EUNAVAIL;
  }
  if (p->down) {
    char w[300];
    p->down = 0;
    p->backoff = BACKOFF_MIN_MS;
    sessio_store_log(p->owner, SESSIO_LOG_WARN, "redis %s reachable again",
                     where(p, w, sizeof w));
  }
  lk->c = c;
  lk->gen = gen;
  lk->reused = 0;
  return SESSIO_OK;
}

int sessio__rc_pool_open(rc_pool *p) {
  pthread_mutex_lock(&p->mu);
  int open = p->down && sessio__rc_mono_ms() < p->next_try;
  pthread_mutex_unlock(&p->mu);
  return open;
}

/* Ends 'call' with 'rc' and wakes its caller, by the link's leader. A
 * failed call keeps no reply. 'call' may be gone once this returns (its
 * caller returns): read its 'next' before. */
static void call_done(rc_call *call, sessio_err rc, int maybe_done) {
  if (rc != SESSIO_OK)
    for (size_t i = 0; i < call->got; i++) {
      freeReplyObject(call->replies[i]);
      call->replies[i] = NULL;
    }
  call->rc = rc;
  call->maybe_done = maybe_done;
  call->state = CALL_DONE;
  sem_post(&call->wake);
}

/* Sends the calls of 'batch' in as few sendmsg(MSG_NOSIGNAL) calls as the
 * socket takes: a closed peer gives EPIPE, never SIGPIPE, without touching
 * the signal mask (hiredis itself would write()). The socket is blocking with
 * hiredis's send timeout. 1 when all was sent, else 0 with errno and
 * '*none' set when not one byte left (the server saw nothing of it). */
static int send_calls(int fd, rc_call *batch, int *none) {
  rc_call *call = batch;
  size_t off = 0; /* bytes of 'call' already sent */
  *none = 1;
  while (call != NULL) {
    struct iovec iov[IOV_BATCH];
    struct msghdr mh;
    size_t n = 0, o = off;
    for (rc_call *c = call; c != NULL && n < IOV_BATCH; c = c->next, o = 0) {
      iov[n].iov_base = (void *)(c->buf + o);
      iov[n].iov_len = c->len - o;
      n++;
    }
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = iov;
    mh.msg_iovlen = n;
    ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return 0;
    }
    if (w > 0) *none = 0;
    size_t left = (size_t)w;
    while (call != NULL && left >= call->len - off) {
      left -= call->len - off;
      call = call->next;
      off = 0;
    }
    off += left;
  }
  return 1;
}

/* Puts 'calls' (a list) back at the head of the link's queue, in order. */
static void requeue_locked(rc_link *lk, rc_call *calls) {
  rc_call *last = NULL;
  size_t n = 0;
  for (rc_call *c = calls; c != NULL; c = c->next) {
    c->state = CALL_QUEUED;
    c->retried = 1;
    last = c;
    n++;
  }
  if (last == NULL) return;
  last->next = lk->queue;
  if (lk->queue == NULL) lk->queue_tail = last;
  lk->queue = calls;
  lk->queued += n;
}

/* What a failed send or read means for the pool, with 'mu' held: two
 * timeouts in a row with no answer between them open the circuit (one slow
 * command alone is not an outage); a closed connection means the others
 * are probably closed too, so every link connects afresh. The link's
 * connection is dropped either way. */
static void link_failed_locked(rc_pool *p, rc_link *lk, int timed_out) {
  redisFree(lk->c);
  lk->c = NULL;
  if (timed_out) {
    if (++p->timeouts >= 2)
      mark_failed_locked(p, "no answer within timeout_ms");
  } else {
    p->gen++;
  }
}

static int is_timeout(int kind, int e) {
  int t = kind == REDIS_ERR_IO && (e == EAGAIN || e == EWOULDBLOCK);
#ifdef REDIS_ERR_TIMEOUT
  t = t || kind == REDIS_ERR_TIMEOUT;
#endif
  return t;
}

/* 1 when an idle connection is still good to send on: a server that
 * closed it while it was idle (restart, its idle timeout, CLIENT KILL) has
 * left an end of file (or a reset) to read, and one with bytes waiting
 * would hand them to the next batch as its replies. Non-blocking. */
static int link_idle_ok(const redisContext *c) {
  char b;
  ssize_t r = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
  return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
}

/* Sends the link's queue as one batch, with 'mu' held (released while
 * connecting and writing). On success the batch is in flight ('lk->sent');
 * on failure its calls are done with an error. A batch is sent again only
 * when the server cannot have seen any of it: a reused connection found
 * closed before the send is replaced first, and a send that fails before
 * its first byte left is tried once more on a new connection. Nothing is
 * sent again after a byte of it may have reached the server: a compare and
 * set that ran but whose answer was lost would otherwise run twice. */
static void send_queue_locked(rc_pool *p, rc_link *lk) {
  rc_call *batch = lk->queue;
  lk->queue = lk->queue_tail = NULL;
  lk->queued = 0;
  if (lk->c != NULL && lk->gen == p->gen && lk->reused && !link_idle_ok(lk->c))
    link_failed_locked(p, lk, 0);
  sessio_err rc = link_connect_locked(p, lk);
  if (rc != SESSIO_OK) {
    while (batch != NULL) {
      rc_call *next = batch->next;
      call_done(batch, rc, 0);
      batch = next;
    }
    return;
  }
  for (rc_call *c = batch; c != NULL; c = c->next) c->state = CALL_SENT;
  lk->sent = batch;
  redisContext *c = lk->c;
  pthread_mutex_unlock(&p->mu);
  int none;
  int ok = send_calls(c->fd, batch, &none);
  int e = errno;
  pthread_mutex_lock(&p->mu);
  if (ok) return;
  lk->sent = NULL;
  link_failed_locked(p, lk, is_timeout(REDIS_ERR_IO, e));
  rc_call *retry = NULL, **rt = &retry;
  while (batch != NULL) {
    rc_call *next = batch->next;
    batch->next = NULL;
    if (none && !batch->retried) {
      *rt = batch;
      rt = &batch->next;
    } else {
      call_done(batch, SESSIO_EUNAVAIL, !none);
    }
    batch = next;
  }
  requeue_locked(lk, retry);
}

/* Reads the replies of the batch in flight, with 'mu' held (released while
 * reading), and ends its calls, each as soon as its replies are in: those
 * with all their replies succeed even when the connection fails after
 * them. 'me' (the leader's own call) is ended last, so that it is still
 * there to be handed nothing. */
static void read_sent_locked(rc_pool *p, rc_link *lk, rc_call *me) {
  rc_call *batch = lk->sent;
  redisContext *c = lk->c;
  int ok = 1;
  size_t got = 0; /* replies of the whole batch */
  pthread_mutex_unlock(&p->mu);
  while (batch != NULL) {
    rc_call *call = batch;
    while (call->got < call->nrep) {
      void *r = NULL;
      if (redisGetReply(c, &r) != REDIS_OK) {
        ok = 0;
        break;
      }
      call->replies[call->got++] = r;
      got++;
    }
    if (!ok) break;
    batch = call->next;
    call->next = NULL;
    if (call == me) /* not posted: the leader is not waiting */
      me->state = CALL_DONE;
    else
      call_done(call, SESSIO_OK, 0);
  }
  int e = errno, kind = c->err;
  pthread_mutex_lock(&p->mu);
  lk->sent = NULL;
  if (got > 0) p->timeouts = 0; /* an answer: the server is alive */
  if (ok) {
    lk->reused = 1;
    return;
  }
  /* The batch reached the server: what did not answer may have run, and
   * is never sent again (see send_queue_locked). */
  sessio_err rc = kind == REDIS_ERR_OOM        ? SESSIO_ENOMEM
                  : kind == REDIS_ERR_PROTOCOL ? SESSIO_EIO
                                               : SESSIO_EUNAVAIL;
  link_failed_locked(p, lk, is_timeout(kind, e));
  while (batch != NULL) {
    rc_call *next = batch->next;
    batch->next = NULL;
    call_done(batch, batch->got == batch->nrep ? SESSIO_OK : rc,
              batch->got != batch->nrep);
    batch = next;
  }
}

/* Leads link 'lk' for caller 'me', with 'mu' held: sends what is queued,
 * reads what is in flight, until 'me' is done; then sends the next batch
 * and hands the link to its first caller, or leaves it idle. */
static void lead_locked(rc_pool *p, rc_link *lk, rc_call *me) {
  while (me->state != CALL_DONE) {
    if (lk->sent != NULL)
      read_sent_locked(p, lk, me);
    else if (lk->queue != NULL)
      send_queue_locked(p, lk);
  }
  while (lk->sent == NULL && lk->queue != NULL) send_queue_locked(p, lk);
  if (lk->sent != NULL) {
    lk->sent->lead = 1;
    sem_post(&lk->sent->wake);
  } else {
    lk->busy = 0;
  }
}

/* The link a new call joins: an idle one if any, else the shortest queue. */
static rc_link *pick_link_locked(rc_pool *p) {
  rc_link *best = &p->links[0];
  for (size_t i = 0; i < p->n_links; i++) {
    rc_link *lk = &p->links[i];
    if (!lk->busy) return lk;
    if (lk->queued < best->queued) best = lk;
  }
  return best;
}

/* In a child after fork(): the links are the parent's. Their sockets are
 * closed here (in the child only) and their calls, the parent's threads',
 * forgotten. */
static void forget_links_locked(rc_pool *p) {
  p->gen++;
  for (size_t i = 0; i < p->n_links; i++) {
    rc_link *lk = &p->links[i];
    if (lk->c) redisFree(lk->c);
    memset(lk, 0, sizeof *lk);
  }
}

/* Runs the 'len' bytes of formatted commands in 'buf', expecting 'nrep'
 * replies into 'replies': see sessio__rc_pool_command. */
static sessio_err link_call(rc_pool *p, const char *buf, size_t len,
                            size_t nrep, redisReply **replies,
                            int *maybe_done) {
  rc_call me;
  memset(&me, 0, sizeof me);
  me.buf = buf;
  me.len = len;
  me.nrep = nrep;
  me.replies = replies;
  for (size_t i = 0; i < nrep; i++) replies[i] = NULL;
  unsigned forks = sessio__forks();
  pthread_mutex_lock(&p->mu);
  if (p->forks != forks) { /* we are a child: the parent's are not ours */
    p->forks = forks;
    forget_links_locked(p);
  }
  /* While the server is known down, calls fail at once (a probe is due
   * only once per backoff window, and then the leader makes it). */
  if (p->down && sessio__rc_mono_ms() < p->next_try) {
    pthread_mutex_unlock(&p->mu);
    if (maybe_done) *maybe_done = 0;
    return SESSIO_EUNAVAIL;
  }
  sem_init(&me.wake, 0, 0);
  rc_link *lk = pick_link_locked(p);
  if (lk->queue_tail)
    lk->queue_tail->next = &me;
  else
    lk->queue = &me;
  lk->queue_tail = &me;
  lk->queued++;
  if (!lk->busy) {
    lk->busy = 1;
    lead_locked(p, lk, &me);
    pthread_mutex_unlock(&p->mu);
  } else {
    pthread_mutex_unlock(&p->mu);
    while (sem_wait(&me.wake) != 0) { /* EINTR */
    }
    if (me.state != CALL_DONE) { /* handed the link */
      pthread_mutex_lock(&p->mu);
      lead_locked(p, lk, &me);
      pthread_mutex_unlock(&p->mu);
    }
  }
  sem_destroy(&me.wake);
  if (maybe_done) *maybe_done = me.maybe_done;
  return me.rc;
}

sessio_err sessio__rc_pool_command(rc_pool *p, int asking, int argc,
                                   const char **argv, const size_t *lens,
                                   redisReply **reply, int *maybe_done) {
  static const char ask[] = "*1\r\n$6\r\nASKING\r\n";
  char *cmd = NULL;
  redisReply *replies[2];
  *reply = NULL;
  if (maybe_done) *maybe_done = 0;
  int len = redisFormatCommandArgv(&cmd, argc, argv, lens);
  if (len < 0) return SESSIO_ENOMEM;
  const char *buf = cmd;
  size_t blen = (size_t)len;
  char *both = NULL;
  if (asking) { /* ASKING and the command go together, in this order */
    both = malloc(sizeof ask - 1 + blen);
    if (both == NULL) {
      redisFreeCommand(cmd);
      return SESSIO_ENOMEM;
    }
    memcpy(both, ask, sizeof ask - 1);
    memcpy(both + sizeof ask - 1, cmd, blen);
    buf = both;
    blen += sizeof ask - 1;
  }
  sessio_err rc = link_call(p, buf, blen, asking ? 2 : 1, replies, maybe_done);
  free(both);
  redisFreeCommand(cmd);
  if (rc != SESSIO_OK) return rc;
  if (asking) freeReplyObject(replies[0]);
  *reply = replies[asking ? 1 : 0];
  return SESSIO_OK;
}

sessio_err sessio__rc_pool_pipeline(rc_pool *p, size_t n, const int *argcs,
                                    const char *const *const *argvs,
                                    const size_t *const *lens,
                                    redisReply **replies) {
  size_t len = 0, cap = 0;
  char *buf = NULL;
  sessio_err rc = SESSIO_OK;
  for (size_t i = 0; i < n; i++) replies[i] = NULL;
  if (n == 0) return SESSIO_OK;
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
  rc = link_call(p, buf, len, n, replies, NULL);
done:
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
  if (e - s >= 3 && s[0] == '%' && s[1] == '2' &&
      (s[2] == 'F' || s[2] == 'f')) {
    /* A Unix-domain socket: its path, percent-encoded (a '/' would end the
     * host part), no port; a ':' in the path is written %3A. Its length is
     * checked against sun_path (108 bytes on Linux) by the connect. */
    if (memchr(s, ':', (size_t)(e - s)) != NULL ||
        (size_t)(e - s) >= sizeof p->host ||
        !sessio__url_decode(s, e, p->host) || strlen(p->host) >= 108)
      return 0;
    p->port = 6379;
    return 1;
  }
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
