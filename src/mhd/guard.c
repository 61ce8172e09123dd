/*
 * guard.c — sessio-mhd's connection guard (S26, include/sessio/mhd_guard.h):
 * the daemon options for the connection limits, and deadlines for a whole
 * request head and body. libmicrohttpd's own timeout is reset by every byte,
 * so a client that trickles one header line every few seconds holds its
 * connection for ever; here every tracked connection has one deadline,
 * moved only by the request's progress (accept, request line, head done,
 * answered), and a reaper thread shuts down the sockets past theirs.
 * Connections are tracked from MHD's connect notification to its close
 * notification, which MHD sends before it closes the socket, so the reaper
 * never touches a descriptor that was closed and reused.
 */
#include "sessio/mhd_guard.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#define REAP_MS 100   /* how often the reaper looks */
#define FD_RESERVE 64 /* descriptors kept for stores, logs and listeners */

typedef struct tracked {
  struct tracked *prev, *next;
  sessio_mhd_guard *g;
  int fd;
  int64_t deadline; /* monotonic ms; INT64_MAX: none */
} tracked;

struct sessio_mhd_guard {
  sessio_mhd_limits lim;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int stop;
  pthread_t reaper;
  tracked head; /* list sentinel */
  atomic_uint_fast64_t closed;
};

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sessio_mhd_limits_default(sessio_mhd_limits *lim) {
  if (lim == NULL) return;
  lim->max_conns = 1024;
  lim->max_conns_per_client = 128;
  lim->head_timeout_ms = 10000;
  lim->body_timeout_ms = 30000;
  lim->idle_timeout_ms = 30000;
}

/* Defaults for zero fields; the total never above what the process may
 * open (MHD would accept and fail, or stop accepting at all). */
static void fill_limits(const sessio_mhd_limits *in, sessio_mhd_limits *out) {
  sessio_mhd_limits d;
  struct rlimit rl;
  sessio_mhd_limits_default(&d);
  *out = in ? *in : d;
  if (out->max_conns == 0) out->max_conns = d.max_conns;
  if (out->max_conns_per_client == 0)
    out->max_conns_per_client = d.max_conns_per_client;
  if (out->head_timeout_ms == 0) out->head_timeout_ms = d.head_timeout_ms;
  if (out->body_timeout_ms == 0) out->body_timeout_ms = d.body_timeout_ms;
  if (out->idle_timeout_ms == 0) out->idle_timeout_ms = d.idle_timeout_ms;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
      rl.rlim_cur > FD_RESERVE && out->max_conns > rl.rlim_cur - FD_RESERVE)
    out->max_conns = (unsigned)(rl.rlim_cur - FD_RESERVE);
  if (out->max_conns_per_client > out->max_conns)
    out->max_conns_per_client = out->max_conns;
}

static void *reaper_main(void *arg) {
  sessio_mhd_guard *g = arg;
  pthread_mutex_lock(&g->mu);
  while (!g->stop) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += REAP_MS * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&g->cv, &g->mu, &ts);
    if (g->stop) break;
    int64_t now = mono_ms();
    for (tracked *t = g->head.next; t != &g->head; t = t->next) {
      if (now < t->deadline) continue;
      /* MHD sees the end of the stream and closes the connection itself
       * (its close notification then untracks it). */
      shutdown(t->fd, SHUT_RDWR);
      t->deadline = INT64_MAX;
      atomic_fetch_add_explicit(&g->closed, 1, memory_order_relaxed);
    }
  }
  pthread_mutex_unlock(&g->mu);
  return NULL;
}

sessio_err sessio_mhd_guard_new(const sessio_mhd_limits *lim,
                                sessio_mhd_guard **out) {
  pthread_condattr_t ca;
  if (out == NULL) return SESSIO_EINVAL;
  *out = NULL;
  sessio_mhd_guard *g = calloc(1, sizeof *g);
  if (g == NULL) return SESSIO_ENOMEM;
  fill_limits(lim, &g->lim);
  g->head.next = g->head.prev = &g->head;
  atomic_init(&g->closed, 0);
  if (pthread_mutex_init(&g->mu, NULL) != 0) goto fail_g;
  if (pthread_condattr_init(&ca) != 0) goto fail_mu;
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  int rc = pthread_cond_init(&g->cv, &ca);
  pthread_condattr_destroy(&ca);
  if (rc != 0) goto fail_mu;
  if (pthread_create(&g->reaper, NULL, reaper_main, g) != 0) goto fail_cv;
  *out = g;
  return SESSIO_OK;
fail_cv:
  pthread_cond_destroy(&g->cv);
fail_mu:
  pthread_mutex_destroy(&g->mu);
fail_g:
  free(g);
  return SESSIO_ENOMEM;
}

void sessio_mhd_guard_free(sessio_mhd_guard *g) {
  if (g == NULL) return;
  pthread_mutex_lock(&g->mu);
  g->stop = 1;
  pthread_cond_signal(&g->cv);
  pthread_mutex_unlock(&g->mu);
  pthread_join(g->reaper, NULL);
  /* MHD_stop_daemon has closed every connection, so the list is empty;
   * free what a daemon stopped without notifications may have left. */
  for (tracked *t = g->head.next, *n; t != &g->head; t = n) {
    n = t->next;
    free(t);
  }
  pthread_cond_destroy(&g->cv);
  pthread_mutex_destroy(&g->mu);
  free(g);
}

void sessio_mhd_guard_limits(const sessio_mhd_guard *g,
                             sessio_mhd_limits *out) {
  if (g != NULL && out != NULL) *out = g->lim;
}

uint64_t sessio_mhd_guard_closed(const sessio_mhd_guard *g) {
  return g ? (uint64_t)atomic_load_explicit(&((sessio_mhd_guard *)g)->closed,
                                            memory_order_relaxed)
           : 0;
}

static void notify(void *cls, struct MHD_Connection *c, void **socket_context,
                   enum MHD_ConnectionNotificationCode code) {
  sessio_mhd_guard *g = cls;
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    tracked *t = malloc(sizeof *t);
    *socket_context = NULL;
    if (t == NULL || ci == NULL) { /* untracked: MHD's idle timeout only */
      free(t);
      return;
    }
    t->g = g;
    t->fd = ci->connect_fd;
    t->deadline = mono_ms() + g->lim.head_timeout_ms;
    pthread_mutex_lock(&g->mu);
    t->next = g->head.next;
    t->prev = &g->head;
    g->head.next->prev = t;
    g->head.next = t;
    pthread_mutex_unlock(&g->mu);
    *socket_context = t;
  } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
    tracked *t = *socket_context;
    if (t == NULL) return;
    pthread_mutex_lock(&g->mu);
    t->prev->next = t->next;
    t->next->prev = t->prev;
    pthread_mutex_unlock(&g->mu);
    free(t);
    *socket_context = NULL;
  }
}

/* Moves the deadline of 'c' to now + 'ms' ('which' picks the field). */
static void set_deadline(struct MHD_Connection *c, int which) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  tracked *t = ci ? ci->socket_context : NULL;
  if (t == NULL) return;
  sessio_mhd_guard *g = t->g;
  unsigned ms = which == 0   ? g->lim.head_timeout_ms
                : which == 1 ? g->lim.body_timeout_ms
                             : g->lim.idle_timeout_ms;
  pthread_mutex_lock(&g->mu);
  if (t->deadline != INT64_MAX) t->deadline = mono_ms() + ms;
  pthread_mutex_unlock(&g->mu);
}

/* The request line is in: the rest of the head has head_timeout_ms. The
 * return value is the request's first *req_cls, which stays NULL. */
static void *uri_log(void *cls, const char *uri, struct MHD_Connection *c) {
  (void)cls;
  (void)uri;
  set_deadline(c, 0);
  return NULL;
}

void sessio_mhd_guard_head_done(struct MHD_Connection *c) {
  set_deadline(c, 1);
}
void sessio_mhd_guard_body_done(struct MHD_Connection *c) {
  set_deadline(c, 2);
}

size_t sessio_mhd_guard_options(sessio_mhd_guard *g, struct MHD_OptionItem *o,
                                size_t cap) {
  size_t n = 0;
  if (g == NULL || o == NULL || cap < SESSIO_MHD_GUARD_OPTIONS) return 0;
  o[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT,
                                   (intptr_t)g->lim.max_conns, NULL};
  o[n++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                   (intptr_t)g->lim.max_conns_per_client, NULL};
  /* MHD's idle timeout, in seconds, stays a backstop above the deadlines. */
  unsigned longest = g->lim.idle_timeout_ms;
  if (g->lim.body_timeout_ms > longest) longest = g->lim.body_timeout_ms;
  o[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
                                   (intptr_t)(longest / 1000 + 1), NULL};
  o[n++] = (struct MHD_OptionItem){
      MHD_OPTION_NOTIFY_CONNECTION,
      (intptr_t)(MHD_NotifyConnectionCallback)notify, g};
  o[n++] = (struct MHD_OptionItem){
      MHD_OPTION_URI_LOG_CALLBACK,
      (intptr_t)(void *(*)(void *, const char *,
                           struct MHD_Connection *))uri_log,
      g};
  o[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
  return n;
}
