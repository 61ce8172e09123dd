/*
 * metrics.c — the manager's figures (metrics.h): counting from lifecycle
 * events, timing store calls, and writing everything in the Prometheus
 * text exposition format (version 0.0.4) with sessio_metrics_write().
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "manager.h"

/* Which slot of 'ended' a kind and reason count in, and its label. */
enum {
  END_LOGOUT,
  END_REVOKED,
  END_IDLE,
  END_ABSOLUTE,
  END_COLLECTED,
  END_EVICTED,
  END_N
};
static const char *const end_names[END_N] = {
    "logout", "revoked", "idle", "absolute", "collected", "evicted"};

static _Atomic unsigned next_stripe;
static _Thread_local unsigned my_stripe = SESSIO__MET_STRIPES;

sessio__met_stripe *sessio__met_mine(sessio__metrics *mt) {
  if (my_stripe == SESSIO__MET_STRIPES)
    my_stripe =
        atomic_fetch_add_explicit(&next_stripe, 1, memory_order_relaxed) %
        SESSIO__MET_STRIPES;
  return &mt->s[my_stripe];
}

/* This thread's stripe of the manager's figures. */
static sessio__met_stripe *met(const sessio_manager *m) {
  return sessio__met_mine(m->met);
}

void sessio__met_event(const sessio_manager *m, sessio_event_kind kind,
                       sessio_event_reason reason) {
  sessio__met_stripe *mt = met(m);
  int end = -1;
  switch (kind) {
  case SESSIO_EVENT_CREATED: sessio__met_add(&mt->created, 1); break;
  case SESSIO_EVENT_LOGIN: sessio__met_add(&mt->logins_ok, 1); break;
  case SESSIO_EVENT_REGENERATED: sessio__met_add(&mt->regenerated, 1); break;
  case SESSIO_EVENT_ROTATED: sessio__met_add(&mt->rotated, 1); break;
  case SESSIO_EVENT_LOGOUT: end = END_LOGOUT; break;
  case SESSIO_EVENT_REVOKED: end = END_REVOKED; break;
  case SESSIO_EVENT_EVICTED: end = END_EVICTED; break;
  case SESSIO_EVENT_EXPIRED:
    end = reason == SESSIO_REASON_IDLE       ? END_IDLE
          : reason == SESSIO_REASON_ABSOLUTE ? END_ABSOLUTE
                                             : END_COLLECTED;
    break;
  case SESSIO_EVENT_REJECTED:
    if ((unsigned)reason < 8) sessio__met_add(&mt->rejected[reason], 1);
    break;
  case SESSIO_EVENT_STORE_ERROR: break; /* counted per store call */
  }
  if (end >= 0) sessio__met_add(&mt->ended[end], 1);
}

/* ---- store call latency ------------------------------------------------ */

/* Bucket bounds in nanoseconds and as Prometheus writes them. */
static const uint64_t bound_ns[SESSIO__HIST_N - 1] = {
    100000,    250000,    500000,     1000000,   2500000,
    5000000,   10000000,  25000000,   50000000,  100000000,
    250000000, 500000000, 1000000000, 2500000000};
static const char *const bound_txt[SESSIO__HIST_N] = {
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
    "0.05",   "0.1",     "0.25",   "0.5",   "1",      "2.5",   "+Inf"};

/* A monotonic clock, only to measure: the library's decisions never
 * depend on it (they take 'now'). Never 0, so 0 can mean "not timed". */
static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec + 1;
}

static void observe(sessio__hist *h, uint64_t ns) {
  size_t i = 0;
  while (i < SESSIO__HIST_N - 1 && ns > bound_ns[i]) i++;
  sessio__met_add(&h->b[i], 1);
  sessio__met_add(&h->sum_ns, ns);
}

static void count_error(sessio__met_stripe *mt, sessio_err rc) {
  if (rc < 0 && rc != SESSIO_ECONFLICT && -rc < 16)
    sessio__met_add(&mt->store_errors[-rc], 1);
}

uint64_t sessio__met_clock(void) { return mono_ns(); }

uint64_t sessio__met_begin(void) {
  return sessio__ev_current() ? mono_ns() : 0;
}

void sessio__met_end(int op, uint64_t t0, sessio_err rc) {
  const sessio_manager *m;
  if (t0 == 0 || (m = sessio__ev_current()) == NULL) return;
  observe(&met(m)->ops[op], mono_ns() - t0);
  count_error(met(m), rc);
}

void sessio__met_gc(sessio_manager *m, size_t max_work, size_t removed,
                    int done, uint64_t ns, sessio_err rc) {
  sessio__met_stripe *mt = met(m);
  sessio__met_add(&mt->gc_calls, 1);
  sessio__met_add(&mt->gc_units, max_work);
  sessio__met_add(&mt->gc_removed, removed);
  if (done) sessio__met_add(&mt->gc_passes, 1);
  observe(&mt->ops[SESSIO__OP_GC], ns);
  count_error(mt, rc);
}

/* ---- the text format ---------------------------------------------------- */

typedef struct out {
  char *buf;
  size_t cap, len; /* 'len' keeps counting past 'cap': the size needed */
} out;

static void put(out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void put(out *o, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  size_t room = o->len < o->cap ? o->cap - o->len : 0;
  int n = vsnprintf(room ? o->buf + o->len : NULL, room, fmt, ap);
  va_end(ap);
  if (n > 0) o->len += (size_t)n;
}

/* The sum over the stripes of the counter at 'field' in stripe 0. */
static uint64_t sum(const sessio__metrics *mt, const _Atomic uint64_t *field) {
  size_t off = (size_t)((const char *)field - (const char *)&mt->s[0]);
  uint64_t v = 0;
  for (size_t i = 0; i < SESSIO__MET_STRIPES; i++)
    v += atomic_load_explicit(
        (const _Atomic uint64_t *)((const char *)&mt->s[i] + off),
        memory_order_relaxed);
  return v;
}

static void head(out *o, const char *name, const char *type, const char *help) {
  put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void one(out *o, const char *name, const char *type, const char *help,
                uint64_t v) {
  head(o, name, type, help);
  put(o, "%s %llu\n", name, (unsigned long long)v);
}

static const char *const op_names[SESSIO__OP_N] = {
    "load",     "save",      "touch",       "remove",
    "user_add", "user_list", "user_remove", "gc"};

static void hist(out *o, const char *op, const sessio__metrics *mt,
                 const sessio__hist *h) {
  uint64_t cum = 0;
  for (size_t i = 0; i < SESSIO__HIST_N; i++) {
    cum += sum(mt, &h->b[i]);
    put(o,
        "sessio_store_operation_duration_seconds_bucket{op=\"%s\",le=\"%s\"} "
        "%llu\n",
        op, bound_txt[i], (unsigned long long)cum);
  }
  uint64_t ns = sum(mt, &h->sum_ns);
  put(o, "sessio_store_operation_duration_seconds_sum{op=\"%s\"} %llu.%09llu\n",
      op, (unsigned long long)(ns / 1000000000u),
      (unsigned long long)(ns % 1000000000u));
  put(o, "sessio_store_operation_duration_seconds_count{op=\"%s\"} %llu\n", op,
      (unsigned long long)cum);
}

/* "unavail" for SESSIO_EUNAVAIL: the symbolic name without its prefix. */
static void err_label(sessio_err e, char *lbl, size_t cap) {
  const char *n = sessio_errname(e);
  if (strncmp(n, "SESSIO_E", 8) == 0) n += 8;
  size_t i = 0;
  for (; n[i] && i + 1 < cap; i++)
    lbl[i] = (char)(n[i] >= 'A' && n[i] <= 'Z' ? n[i] + 32 : n[i]);
  lbl[i] = '\0';
}

sessio_err sessio_metrics_write(sessio_manager *m, char *buf, size_t cap) {
  return sessio_metrics_format(m, buf, cap, NULL);
}

sessio_err sessio_metrics_format(sessio_manager *m, char *buf, size_t cap,
                                 size_t *len) {
  if (len) *len = 0;
  if (m == NULL || (buf == NULL && cap > 0)) return SESSIO_EINVAL;
  const sessio__metrics *mt = m->met;
  out o = {buf, cap, 0};

  head(&o, "sessio_info", "gauge", "The library version and the store.");
  put(&o, "sessio_info{version=\"%s\",store=\"%s\"} 1\n", sessio_version(),
      sessio_store_name(m->cfg.store));
  one(&o, "sessio_sessions_created_total", "counter",
      "Sessions created (stored for the first time).",
      sum(mt, &mt->s[0].created));
  head(&o, "sessio_sessions_ended_total", "counter",
       "Sessions ended, by reason: logout, revoked, idle or absolute "
       "(expired by our clock on access), collected (dead record dropped by "
       "the store or its GC), evicted (bounded store full).");
  for (int i = 0; i < END_N; i++)
    put(&o, "sessio_sessions_ended_total{reason=\"%s\"} %llu\n", end_names[i],
        (unsigned long long)sum(mt, &mt->s[0].ended[i]));
  head(&o, "sessio_logins_total", "counter",
       "Logins (sessio_login) committed (ok) or whose commit failed.");
  put(&o, "sessio_logins_total{result=\"ok\"} %llu\n",
      (unsigned long long)sum(mt, &mt->s[0].logins_ok));
  put(&o, "sessio_logins_total{result=\"failed\"} %llu\n",
      (unsigned long long)sum(mt, &mt->s[0].logins_failed));
  head(&o, "sessio_id_changes_total", "counter",
       "Session ID changes besides login: sessio_regenerate and periodic "
       "rotation.");
  put(&o, "sessio_id_changes_total{reason=\"regenerate\"} %llu\n",
      (unsigned long long)sum(mt, &mt->s[0].regenerated));
  put(&o, "sessio_id_changes_total{reason=\"rotate\"} %llu\n",
      (unsigned long long)sum(mt, &mt->s[0].rotated));
  head(&o, "sessio_commits_total", "counter",
       "sessio_commit calls, by result.");
  put(&o, "sessio_commits_total{result=\"ok\"} %llu\n",
      (unsigned long long)sum(mt, &mt->s[0].commits_ok));
  put(&o, "sessio_commits_total{result=\"failed\"} %llu\n",
      (unsigned long long)sum(mt, &mt->s[0].commits_failed));
  one(&o, "sessio_commit_conflicts_total", "counter",
      "Version conflicts met by commits (another writer saved first).",
      sum(mt, &mt->s[0].conflicts));
  one(&o, "sessio_commit_replays_total", "counter",
      "Reloads after a conflict whose operations were re-applied.",
      sum(mt, &mt->s[0].replays));
  head(&o, "sessio_rejected_ids_total", "counter",
       "Presented session IDs that led to no session: malformed, unknown "
       "(or expired in the store), unreadable (seal does not open).");
  static const sessio_event_reason rej[] = {
      SESSIO_REASON_MALFORMED, SESSIO_REASON_UNKNOWN, SESSIO_REASON_UNREADABLE};
  for (size_t i = 0; i < 3; i++)
    put(&o, "sessio_rejected_ids_total{reason=\"%s\"} %llu\n",
        sessio_event_reason_name(rej[i]),
        (unsigned long long)sum(mt, &mt->s[0].rejected[rej[i]]));
  head(&o, "sessio_store_operation_duration_seconds", "histogram",
       "Latency of store calls made by this manager (and of GC calls on "
       "its store), by operation.");
  for (int i = 0; i < SESSIO__OP_N; i++)
    hist(&o, op_names[i], mt, &mt->s[0].ops[i]);
  head(&o, "sessio_store_errors_total", "counter",
       "Failed store calls, by error (unavail: unreachable; io; corrupt; "
       "full; nomem; others when seen).");
  static const sessio_err always[] = {SESSIO_EUNAVAIL, SESSIO_EIO,
                                      SESSIO_ECORRUPT, SESSIO_EFULL,
                                      SESSIO_ENOMEM};
  for (int e = 1; e < 16; e++) {
    int shown = 0;
    for (size_t k = 0; k < sizeof always / sizeof always[0]; k++)
      shown |= always[k] == (sessio_err)-e;
    uint64_t v = sum(mt, &mt->s[0].store_errors[e]);
    if (!shown && v == 0) continue;
    char lbl[32];
    err_label((sessio_err)-e, lbl, sizeof lbl);
    put(&o, "sessio_store_errors_total{error=\"%s\"} %llu\n", lbl,
        (unsigned long long)v);
  }
  one(&o, "sessio_gc_calls_total", "counter",
      "sessio_store_gc calls on this manager's store.",
      sum(mt, &mt->s[0].gc_calls));
  one(&o, "sessio_gc_work_units_total", "counter",
      "Units of GC work asked for (a unit is one record or index entry "
      "examined).",
      sum(mt, &mt->s[0].gc_units));
  one(&o, "sessio_gc_removed_total", "counter",
      "Dead records removed by GC (garbage found).",
      sum(mt, &mt->s[0].gc_removed));
  one(&o, "sessio_gc_passes_total", "counter",
      "Full GC passes over the store completed.", sum(mt, &mt->s[0].gc_passes));

  struct sessio_store_stats ss;
  if (sessio_store_stats(m->cfg.store, &ss) == SESSIO_OK) {
    one(&o, "sessio_store_sessions", "gauge",
        "Records the store holds (live sessions, plus dead ones not yet "
        "collected in stores that cannot tell them apart).",
        ss.sessions);
    one(&o, "sessio_store_bytes", "gauge",
        "Bytes of memory or storage the store uses, when it can tell.",
        ss.bytes);
  }
  if (len) *len = o.len;
  if (o.len >= cap) return SESSIO_ENOBUFS;
  return SESSIO_OK;
}
