/*
 * store_state.c — sessio-shop and its store's availability: a store that
 * cannot be reached at start is waited for in the background (the shop
 * serves, answering 503 for session work, until it opens), the readiness
 * state that GET /readyz reports (cached: request outcomes and at most one
 * probe a second), the library's log lines turned into logfmt, and the
 * hashed session ID of a request whose session could not be loaded.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shop.h"
#include "sessio/store.h"

/* ---- the library's lines as logfmt ---------------------------------------
 * The library writes free text, sometimes ending in "key=value" pairs
 * ("unknown or expired session ID sid=ab12..."): the text becomes msg="..."
 * (quotes and backslashes escaped, control bytes replaced) and the pairs
 * follow as they are. */

static int pair_start(const char *p) {
  const char *k = p;
  while ((*k >= 'a' && *k <= 'z') || *k == '_') k++;
  return k > p && *k == '=' && k[1] != '\0' && k[1] != ' ';
}

void shop_core_log(void *ud, sessio_log_level level, const char *msg) {
  char text[600];
  size_t o = 0;
  const char *rest = "";
  (void)ud;
  for (const char *p = msg; *p && o < sizeof text - 3; p++) {
    if (*p == ' ' && pair_start(p + 1)) {
      rest = p;
      break;
    }
    unsigned char c = (unsigned char)*p;
    if (c == '"' || c == '\\') text[o++] = '\\';
    text[o++] = c < 0x20 ? '?' : (char)c;
  }
  text[o] = '\0';
  shop_log((int)level, "src=sessio msg=\"%s\"%s", text, rest);
}

/* ---- the hashed session ID of a failed load --------------------------------
 * The library reports a store error with the handle of the session it was
 * loading (an event, on the request's thread, before sessio_begin returns):
 * the access line of the 503 that follows names it. */

static _Thread_local char failed_sid[SESSIO_HANDLE_LEN + 1];

void shop_store_event(void *ctx, const sessio_event *ev) {
  (void)ctx;
  if (ev->kind == SESSIO_EVENT_STORE_ERROR && ev->handle != NULL) {
    strncpy(failed_sid, ev->handle, sizeof failed_sid - 1);
    failed_sid[sizeof failed_sid - 1] = '\0';
  }
}

const char *shop_failed_sid(void) { return failed_sid[0] ? failed_sid : NULL; }
void shop_failed_sid_clear(void) { failed_sid[0] = '\0'; }

/* ---- readiness --------------------------------------------------------------
 * "Ready" means the store answers. Request outcomes keep the state fresh for
 * free; without traffic, at most one probe a second (one read of the secret
 * check record) refreshes it, whatever the number of probes. A store call
 * that succeeded in the last second makes the shop ready even while others
 * fail: with one cluster master down, most sessions still work. */

#define READY_FRESH_MS 1000

static _Atomic int64_t ok_at, fail_at, probe_at;
static atomic_int store_open = 1;

void shop_store_note(int ok, int64_t now) {
  atomic_store_explicit(ok ? &ok_at : &fail_at, now, memory_order_relaxed);
}

static int ready_state(shop *sh, int64_t now) {
  if (!atomic_load(&store_open)) return 0;
  int64_t ok = atomic_load_explicit(&ok_at, memory_order_relaxed);
  int64_t fail = atomic_load_explicit(&fail_at, memory_order_relaxed);
  if (now - ok < READY_FRESH_MS) return 1;
  if (now - fail < READY_FRESH_MS) return 0;
  int64_t last = atomic_load(&probe_at);
  if (now - last >= READY_FRESH_MS &&
      atomic_compare_exchange_strong(&probe_at, &last, now)) {
    int same = 0;
    sessio_err e = sessio_manager_check_secret(sh->mgr, now, 0, &same);
    shop_store_note(e == SESSIO_OK, sessio_now_ms());
    return e == SESSIO_OK;
  }
  return ok >= fail; /* another thread probes: the last known state */
}

enum MHD_Result get_readyz(req *r) {
  static const char yes[] = "ready\n", no[] = "store unreachable\n";
  if (ready_state(r->shop, r->now))
    return reply(r, 200, "text/plain; charset=utf-8", yes, sizeof yes - 1);
  return reply(r, 503, "text/plain; charset=utf-8", no, sizeof no - 1);
}

/* ---- a store opened late ------------------------------------------------------
 * When the store cannot be reached at start the shop still starts: it holds
 * a stand-in store whose every method answers SESSIO_EUNAVAIL (the shop's
 * 503) and a thread that opens the real one every half second, then hands
 * every call to it. The attempts are not logged (each would log the same
 * outage); the outage is logged once, and the moment it ends. */

typedef struct late_store {
  sessio_store base;
  sessio_store_methods m; /* named after the URL's scheme */
  char scheme[32];
  char *url;
  _Atomic(sessio_store *) inner;
  atomic_int stop;
  pthread_t thread;
  int level;
} late_store;

static sessio_store *inner_of(sessio_store *st) {
  return atomic_load_explicit(&((late_store *)st)->inner, memory_order_acquire);
}

static sessio_err l_load(sessio_store *st, const sessio_key *key, int64_t now,
                         sessio_record *out, int *found) {
  sessio_store *in = inner_of(st);
  *found = 0;
  return in ? in->methods->load(in, key, now, out, found) : SESSIO_EUNAVAIL;
}
static sessio_err l_save(sessio_store *st, const sessio_key *key,
                         const sessio_record *rec, uint64_t expected,
                         int64_t now, uint64_t *nv) {
  sessio_store *in = inner_of(st);
  return in ? in->methods->save(in, key, rec, expected, now, nv)
            : SESSIO_EUNAVAIL;
}
static sessio_err l_touch(sessio_store *st, const sessio_key *key, int64_t t,
                          int64_t e, int64_t now, int *found) {
  sessio_store *in = inner_of(st);
  *found = 0;
  return in ? in->methods->touch(in, key, t, e, now, found) : SESSIO_EUNAVAIL;
}
static sessio_err l_remove(sessio_store *st, const sessio_key *key, int64_t now,
                           int *removed) {
  sessio_store *in = inner_of(st);
  if (removed) *removed = 0;
  return in ? in->methods->remove(in, key, now, removed) : SESSIO_EUNAVAIL;
}
static sessio_err l_user_add(sessio_store *st, const char *user,
                             const sessio_key *key, int64_t expires_at,
                             int64_t now) {
  sessio_store *in = inner_of(st);
  return in ? in->methods->user_add(in, user, key, expires_at, now)
            : SESSIO_EUNAVAIL;
}
static sessio_err l_user_list(sessio_store *st, const char *user, int64_t now,
                              sessio_key **keys, size_t *n) {
  sessio_store *in = inner_of(st);
  *keys = NULL;
  *n = 0;
  return in ? in->methods->user_list(in, user, now, keys, n) : SESSIO_EUNAVAIL;
}
static sessio_err l_user_remove(sessio_store *st, const char *user,
                                const sessio_key *key) {
  sessio_store *in = inner_of(st);
  return in ? in->methods->user_remove(in, user, key) : SESSIO_EUNAVAIL;
}
static sessio_err l_gc(sessio_store *st, int64_t now, size_t max_work,
                       size_t *removed, int *done) {
  sessio_store *in = inner_of(st);
  *removed = 0;
  *done = 0;
  return in ? in->methods->gc(in, now, max_work, removed, done)
            : SESSIO_EUNAVAIL;
}
static sessio_err l_iterate(sessio_store *st, int64_t now,
                            sessio_store_iter_fn cb, void *ud) {
  sessio_store *in = inner_of(st);
  if (in == NULL) return SESSIO_EUNAVAIL;
  return in->methods->iterate ? in->methods->iterate(in, now, cb, ud)
                              : SESSIO_ENOTSUP;
}
static sessio_err l_stats(sessio_store *st, struct sessio_store_stats *out) {
  sessio_store *in = inner_of(st);
  if (in == NULL) return SESSIO_EUNAVAIL;
  return in->methods->stats ? in->methods->stats(in, out) : SESSIO_ENOTSUP;
}
static sessio_err l_scan(sessio_store *st, sessio_store_cursor *cursor,
                         size_t max_work, sessio_store_iter_fn cb, void *ud,
                         int *done) {
  sessio_store *in = inner_of(st);
  *done = 0;
  if (in == NULL) return SESSIO_EUNAVAIL;
  return in->methods->version >= 3 && in->methods->scan
             ? in->methods->scan(in, cursor, max_work, cb, ud, done)
             : SESSIO_ENOTSUP;
}

static sessio_err l_collect(sessio_store *st, int64_t now, size_t max_work,
                            sessio_store_collect_fn cb, void *ud,
                            size_t *removed, int *done) {
  sessio_store *in = inner_of(st);
  *done = 0;
  if (in == NULL) return SESSIO_EUNAVAIL;
  return in->methods->version >= 4 && in->methods->collect
             ? in->methods->collect(in, now, max_work, cb, ud, removed, done)
             : in->methods->gc(in, now, max_work, removed, done);
}
static sessio_err l_user_scan(sessio_store *st, sessio_store_cursor *cursor,
                              size_t max_work, sessio_store_user_iter_fn cb,
                              void *ud, int *done) {
  sessio_store *in = inner_of(st);
  *done = 0;
  if (in == NULL) return SESSIO_EUNAVAIL;
  return in->methods->version >= 4 && in->methods->user_scan
             ? in->methods->user_scan(in, cursor, max_work, cb, ud, done)
             : SESSIO_ENOTSUP;
}
static sessio_err l_user_entry_remove(sessio_store *st,
                                      const sessio_store_user_entry *e) {
  sessio_store *in = inner_of(st);
  if (in == NULL) return SESSIO_EUNAVAIL;
  return in->methods->version >= 4 && in->methods->user_entry_remove
             ? in->methods->user_entry_remove(in, e)
             : SESSIO_ENOTSUP;
}

static void l_close(sessio_store *st) {
  late_store *ls = (late_store *)st;
  atomic_store(&ls->stop, 1);
  pthread_join(ls->thread, NULL);
  sessio_store_close(atomic_load(&ls->inner));
  explicit_bzero(ls->url, strlen(ls->url));
  free(ls->url);
  free(ls);
}

static void *opener(void *arg) {
  late_store *ls = arg;
  while (!atomic_load(&ls->stop)) {
    struct timespec ts = {0, 500 * 1000000L};
    nanosleep(&ts, NULL);
    sessio_store *st = NULL;
    sessio_err e = sessio_store_open(ls->url, &st);
    if (e == SESSIO_OK) {
      sessio_store_set_logger(st, shop_core_log, NULL,
                              (sessio_log_level)ls->level);
      atomic_store_explicit(&ls->inner, st, memory_order_release);
      atomic_store(&store_open, 1);
      shop_log(LOG_WARN, "msg=\"store reachable, serving sessions\" store=%s",
               ls->scheme);
      return NULL;
    }
    if (e != SESSIO_EUNAVAIL) { /* refused now (a password changed?): say so */
      shop_log(LOG_ERROR, "msg=\"store cannot be opened\" store=%s error=%s",
               ls->scheme, sessio_errname(e));
      return NULL;
    }
  }
  return NULL;
}

int shop_store_open_late(const char *url, int level, sessio_store **out) {
  late_store *ls = calloc(1, sizeof *ls);
  if (ls == NULL) return -1;
  ls->url = strdup(url);
  if (ls->url == NULL) {
    free(ls);
    return -1;
  }
  snprintf(ls->scheme, sizeof ls->scheme, "%.*s", (int)strcspn(url, ":"), url);
  ls->level = level;
  ls->m = (sessio_store_methods){.version = SESSIO_STORE_API_VERSION,
                                 .name = ls->scheme,
                                 .load = l_load,
                                 .save = l_save,
                                 .touch = l_touch,
                                 .remove = l_remove,
                                 .user_add = l_user_add,
                                 .user_list = l_user_list,
                                 .user_remove = l_user_remove,
                                 .gc = l_gc,
                                 .iterate = l_iterate,
                                 .stats = l_stats,
                                 .close = l_close,
                                 .scan = l_scan,
                                 .collect = l_collect,
                                 .user_scan = l_user_scan,
                                 .user_entry_remove = l_user_entry_remove};
  ls->base.methods = &ls->m;
  atomic_store(&store_open, 0);
  if (pthread_create(&ls->thread, NULL, opener, ls) != 0) {
    atomic_store(&store_open, 1);
    free(ls->url);
    free(ls);
    return -1;
  }
  *out = &ls->base;
  return 0;
}
