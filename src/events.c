/*
 * events.c — lifecycle events: the per-call queue, delivery with no lock
 * held, the thread's current call (for drops a store reports from inside
 * it), the registry of managers per store (for drops found by
 * sessio_store_gc) and the names of kinds and reasons.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "manager.h"

static const char *const kind_names[] = {
    "",        "created", "login",   "regenerated", "rotated",    "logout",
    "revoked", "expired", "evicted", "rejected",    "store_error"};
static const char *const reason_names[] = {
    "none", "idle",      "absolute", "collected",
    "full", "malformed", "unknown",  "unreadable"};

const char *sessio_event_kind_name(sessio_event_kind kind) {
  unsigned k = (unsigned)kind;
  return k < sizeof kind_names / sizeof kind_names[0] ? kind_names[k] : "";
}

const char *sessio_event_reason_name(sessio_event_reason reason) {
  unsigned r = (unsigned)reason;
  return r < sizeof reason_names / sizeof reason_names[0] ? reason_names[r]
                                                          : "";
}

sessio_err sessio_config_set_event_handler(sessio_config *cfg,
                                           sessio_event_fn fn, void *ctx) {
  if (cfg == NULL) return SESSIO_EINVAL;
  cfg->event_fn = fn;
  cfg->event_ctx = ctx;
  return SESSIO_OK;
}

static void push(sessio__evq *q, sessio_event_kind kind,
                 sessio_event_reason reason, sessio_err error,
                 const sessio_key *key, const char *user) {
  if (q->n == q->cap) {
    size_t cap = q->cap ? q->cap * 2 : 4;
    sessio__ev *v = realloc(q->v, cap * sizeof *v);
    if (v == NULL) return; /* lost, as documented */
    q->v = v;
    q->cap = cap;
  }
  sessio__ev *e = &q->v[q->n++];
  e->kind = kind;
  e->reason = reason;
  e->error = error;
  e->handle[0] = '\0';
  if (key) sessio__handle(key, e->handle);
  e->user[0] = '\0';
  if (user) {
    size_t n = strnlen(user, SESSIO_USER_MAX);
    memcpy(e->user, user, n);
    e->user[n] = '\0';
  }
}

void sessio__ev_note(const sessio_manager *m, sessio__evq *q,
                     sessio_event_kind kind, sessio_event_reason reason,
                     sessio_err error, const sessio_key *key,
                     const char *user) {
  sessio__met_event(m, kind, reason);
  if (m->cfg.event_fn == NULL || q == NULL) return;
  push(q, kind, reason, error, key, user);
}

static void deliver(const sessio_manager *m, const sessio__ev *e, int64_t now) {
  sessio_event ev;
  ev.kind = e->kind;
  ev.reason = e->reason;
  ev.handle = e->handle[0] ? e->handle : NULL;
  ev.user = e->user[0] ? e->user : NULL;
  ev.now = now;
  ev.error = e->error;
  m->cfg.event_fn(m->cfg.event_ctx, &ev);
}

void sessio__ev_fire(const sessio_manager *m, sessio__evq *q, int64_t now) {
  if (q->n == 0) return;
  if (m->cfg.event_fn)
    for (size_t i = 0; i < q->n; i++) deliver(m, &q->v[i], now);
  q->n = 0;
}

void sessio__ev_free(sessio__evq *q) {
  free(q->v);
  q->v = NULL;
  q->n = q->cap = 0;
}

/* ---- the call running on this thread --------------------------------- */

static _Thread_local sessio__ev_ctx current;

sessio__ev_ctx sessio__ev_enter(const sessio_manager *m, sessio__evq *q) {
  sessio__ev_ctx prev = current;
  current.m = m;
  current.q = q;
  return prev;
}

void sessio__ev_leave(sessio__ev_ctx prev) { current = prev; }

const sessio_manager *sessio__ev_current(void) { return current.m; }

void sessio__store_dropped(sessio_store *st, const sessio_key *key,
                           const char *user, int evicted) {
  (void)st;
  sessio_event_kind kind = evicted ? SESSIO_EVENT_EVICTED
                                   : SESSIO_EVENT_EXPIRED;
  sessio_event_reason reason = evicted ? SESSIO_REASON_FULL
                                       : SESSIO_REASON_COLLECTED;
  if (current.q == NULL) return;
  if (current.m) /* inside a manager's call: that manager's event */
    sessio__ev_note(current.m, current.q, kind, reason, SESSIO_OK, key, user);
  else /* inside sessio_store_gc: for every manager of the store */
    push(current.q, kind, reason, SESSIO_OK, key, user);
}

/* ---- managers per store ---------------------------------------------- */

typedef struct reg {
  sessio_manager *m;
  sessio_store *st;
} reg;

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static reg *regs;
static size_t n_regs, cap_regs;

void sessio__ev_register(sessio_manager *m, sessio_store *st) {
  pthread_mutex_lock(&reg_mu);
  if (n_regs == cap_regs) {
    size_t cap = cap_regs ? cap_regs * 2 : 4;
    reg *v = realloc(regs, cap * sizeof *v);
    if (v == NULL) goto out; /* this manager hears no GC drops */
    regs = v;
    cap_regs = cap;
  }
  regs[n_regs].m = m;
  regs[n_regs].st = st;
  n_regs++;
out:
  pthread_mutex_unlock(&reg_mu);
}

void sessio__ev_unregister(sessio_manager *m) {
  pthread_mutex_lock(&reg_mu);
  for (size_t i = 0; i < n_regs; i++) {
    if (regs[i].m == m) {
      regs[i] = regs[--n_regs];
      break;
    }
  }
  if (n_regs == 0) {
    free(regs);
    regs = NULL;
    cap_regs = 0;
  }
  pthread_mutex_unlock(&reg_mu);
}

/* Calls 'fn' for each manager of 'st', outside the registry lock (a
 * manager must not be freed while GC of its store runs). */
void sessio__ev_each_manager(sessio_store *st,
                             void (*fn)(sessio_manager *m, void *ud),
                             void *ud) {
  enum { BATCH = 16 };
  sessio_manager *ms[BATCH];
  size_t from = 0;
  for (;;) {
    size_t n = 0, i;
    pthread_mutex_lock(&reg_mu);
    for (i = from; i < n_regs && n < BATCH; i++)
      if (regs[i].st == st) ms[n++] = regs[i].m;
    from = i;
    int more = i < n_regs;
    pthread_mutex_unlock(&reg_mu);
    for (size_t k = 0; k < n; k++) fn(ms[k], ud);
    if (!more) break;
  }
}

typedef struct gc_ud {
  sessio__evq *q;
  int64_t now;
  size_t max_work, removed;
  int done;
  uint64_t ns;
  sessio_err rc;
} gc_ud;

static void gc_deliver(sessio_manager *m, void *ud) {
  gc_ud *g = ud;
  sessio__met_gc(m, g->max_work, g->removed, g->done, g->ns, g->rc);
  for (size_t i = 0; i < g->q->n; i++)
    sessio__met_event(m, g->q->v[i].kind, g->q->v[i].reason);
  if (m->cfg.event_fn)
    for (size_t i = 0; i < g->q->n; i++) deliver(m, &g->q->v[i], g->now);
}

void sessio__ev_gc_done(sessio_store *st, sessio__evq *q, int64_t now,
                        size_t max_work, size_t removed, int done, uint64_t ns,
                        sessio_err rc) {
  gc_ud g = {q, now, max_work, removed, done, ns, rc};
  sessio__ev_each_manager(st, gc_deliver, &g);
  q->n = 0;
}
