/*
 * store.c — the store registry (scheme -> backend) and the thin public
 * wrappers that check arguments and dispatch through a store's method
 * table. The contract itself is written in include/sessio/store.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../events.h"
#include "../metrics.h"
#include "helpers.h"
#include "store_internal.h"

/* Every scheme libsessio knows. A backend left out of the build (CMake
 * option SESSIO_WITH_<NAME> OFF, so SESSIO_HAVE_<NAME> undefined) keeps its
 * row with no open function: its URLs are SESSIO_ENOTSUP, not "unknown". */
#ifdef SESSIO_HAVE_SQLITE
#define OPEN_SQLITE sessio__store_open_sqlite
#else
#define OPEN_SQLITE NULL
#endif
#ifdef SESSIO_HAVE_REDIS
#define OPEN_REDIS sessio__store_open_redis
#define OPEN_REDIS_CLUSTER sessio__store_open_redis_cluster
#else
#define OPEN_REDIS NULL
#define OPEN_REDIS_CLUSTER NULL
#endif
#ifdef SESSIO_HAVE_POSTGRES
#define OPEN_POSTGRES sessio__store_open_postgres
#else
#define OPEN_POSTGRES NULL
#endif

static const struct {
  const char *scheme;         /* without the ':' */
  sessio__store_open_fn open; /* NULL: known, not built */
} backends[] = {
    {"memory", sessio__store_open_memory},
    {"file", sessio__store_open_file},
    {"sqlite", OPEN_SQLITE},
    {"redis", OPEN_REDIS},
    {"redis-cluster", OPEN_REDIS_CLUSTER},
    {"postgres", OPEN_POSTGRES},
    {"postgresql", OPEN_POSTGRES},
};

/* The row whose scheme is 'url' up to its first ':' (or all of it), or -1. */
static int backend_of(const char *url) {
  size_t n = strcspn(url, ":");
  for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
    if (strlen(backends[i].scheme) == n &&
        strncmp(url, backends[i].scheme, n) == 0)
      return (int)i;
  return -1;
}

int sessio_store_supported(const char *url_or_scheme) {
  if (url_or_scheme == NULL) return 0;
  int i = backend_of(url_or_scheme);
  return i >= 0 && backends[i].open != NULL;
}

/* The logger of the open in progress on this thread (set only by
 * sessio_store_open_logged, for the backend's open function). */
static _Thread_local struct {
  sessio_log_fn fn;
  void *ud;
  sessio_log_level level;
} opening;

void sessio__store_open_log(sessio_log_level level, const char *fmt, ...) {
  if (opening.fn == NULL || level > opening.level) return;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  opening.fn(opening.ud, level, msg);
}

sessio_err sessio_store_open_logged(const char *url, sessio_log_fn fn, void *ud,
                                    sessio_log_level level,
                                    sessio_store **out) {
  if (out != NULL) *out = NULL;
  if (url == NULL || out == NULL || level < SESSIO_LOG_ERROR ||
      level > SESSIO_LOG_DEBUG)
    return SESSIO_EINVAL;
  int i = backend_of(url);
  if (i < 0 || url[strlen(backends[i].scheme)] != ':') return SESSIO_EINVAL;
  if (backends[i].open == NULL) return SESSIO_ENOTSUP;
  opening.fn = fn;
  opening.ud = ud;
  opening.level = level;
  sessio_err rc = backends[i].open(url + strlen(backends[i].scheme) + 1, out);
  opening.fn = NULL;
  opening.ud = NULL;
  if (rc == SESSIO_OK) {
    (*out)->log_fn = fn;
    (*out)->log_ud = ud;
    (*out)->log_level = level;
  }
  return rc;
}

sessio_err sessio_store_open(const char *url, sessio_store **out) {
  return sessio_store_open_logged(url, NULL, NULL, SESSIO_LOG_ERROR, out);
}

sessio_err sessio_store_set_logger(sessio_store *st, sessio_log_fn fn, void *ud,
                                   sessio_log_level level) {
  if (st == NULL || level < SESSIO_LOG_ERROR || level > SESSIO_LOG_DEBUG)
    return SESSIO_EINVAL;
  st->log_fn = fn;
  st->log_ud = ud;
  st->log_level = level;
  return SESSIO_OK;
}

void sessio_store_log(sessio_store *st, sessio_log_level level, const char *fmt,
                      ...) {
  if (st == NULL || st->log_fn == NULL || level > st->log_level) return;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  st->log_fn(st->log_ud, level, msg);
}

void sessio_store_close(sessio_store *st) {
  if (st != NULL) st->methods->close(st);
}

const char *sessio_store_name(const sessio_store *st) {
  return st ? st->methods->name : "";
}

sessio_err sessio__store_load(sessio_store *st, const sessio_key *key,
                              int64_t now, sessio_record *out, int *found) {
  if (st == NULL || key == NULL || out == NULL || found == NULL)
    return SESSIO_EINVAL;
  memset(out, 0, sizeof *out);
  *found = 0;
  uint64_t t0 = sessio__met_begin();
  sessio_err rc = st->methods->load(st, key, now, out, found);
  sessio__met_end(SESSIO__OP_LOAD, t0, rc);
  return rc;
}

sessio_err sessio__store_save(sessio_store *st, const sessio_key *key,
                              const sessio_record *rec, uint64_t expected,
                              int64_t now, uint64_t *new_version) {
  if (st == NULL || key == NULL || rec == NULL || new_version == NULL)
    return SESSIO_EINVAL;
  uint64_t t0 = sessio__met_begin();
  sessio_err rc = st->methods->save(st, key, rec, expected, now, new_version);
  sessio__met_end(SESSIO__OP_SAVE, t0, rc);
  return rc;
}

sessio_err sessio__store_touch(sessio_store *st, const sessio_key *key,
                               int64_t touched_at, int64_t expires_at,
                               int64_t now, int *found) {
  int dummy;
  if (st == NULL || key == NULL) return SESSIO_EINVAL;
  uint64_t t0 = sessio__met_begin();
  sessio_err rc = st->methods->touch(st, key, touched_at, expires_at, now,
                                     found ? found : &dummy);
  sessio__met_end(SESSIO__OP_TOUCH, t0, rc);
  return rc;
}

sessio_err sessio__store_remove(sessio_store *st, const sessio_key *key,
                                int64_t now, int *removed) {
  int dummy;
  if (st == NULL || key == NULL) return SESSIO_EINVAL;
  uint64_t t0 = sessio__met_begin();
  sessio_err rc = st->methods->remove(st, key, now, removed ? removed : &dummy);
  sessio__met_end(SESSIO__OP_REMOVE, t0, rc);
  return rc;
}

static int user_ok(const char *user) {
  size_t n;
  return user != NULL && (n = strlen(user)) > 0 && n <= SESSIO_USER_MAX;
}

sessio_err sessio__store_user_add(sessio_store *st, const char *user,
                                  const sessio_key *key, int64_t expires_at,
                                  int64_t now) {
  if (st == NULL || key == NULL || !user_ok(user)) return SESSIO_EINVAL;
  uint64_t t0 = sessio__met_begin();
  sessio_err rc = st->methods->user_add(st, user, key, expires_at, now);
  sessio__met_end(SESSIO__OP_USER_ADD, t0, rc);
  return rc;
}

sessio_err sessio__store_user_list(sessio_store *st, const char *user,
                                   int64_t now, sessio_key **keys, size_t *n) {
  if (st == NULL || keys == NULL || n == NULL || !user_ok(user))
    return SESSIO_EINVAL;
  *keys = NULL;
  *n = 0;
  uint64_t t0 = sessio__met_begin();
  sessio_err rc = st->methods->user_list(st, user, now, keys, n);
  sessio__met_end(SESSIO__OP_USER_LIST, t0, rc);
  return rc;
}

sessio_err sessio__store_user_remove(sessio_store *st, const char *user,
                                     const sessio_key *key) {
  if (st == NULL || key == NULL || !user_ok(user)) return SESSIO_EINVAL;
  uint64_t t0 = sessio__met_begin();
  sessio_err rc = st->methods->user_remove(st, user, key);
  sessio__met_end(SESSIO__OP_USER_REMOVE, t0, rc);
  return rc;
}

/* A record collect removed: an "expired" event (reason collected) queued
 * on this thread's sessio_store_gc call, delivered when it returns. */
static void collected(void *ud, const sessio_key *key, const char *user) {
  sessio__store_dropped(ud, key, user, 0);
}

void sessio_store_user_hash(const char *user,
                            uint8_t out[SESSIO_STORE_USER_HASH_BYTES]) {
  crypto_generichash_blake2b(out, SESSIO_STORE_USER_HASH_BYTES,
                             (const uint8_t *)user, user ? strlen(user) : 0,
                             NULL, 0);
}

sessio_err sessio_store_gc(sessio_store *st, int64_t now, size_t max_work,
                           size_t *removed, int *done) {
  size_t r = 0;
  int d = 0;
  if (st == NULL) return SESSIO_EINVAL;
  /* Records the backend drops are delivered to the managers of the store
   * from this thread, once the backend has returned (no lock held). */
  sessio__evq q = SESSIO__EVQ_INIT;
  sessio__ev_ctx prev = sessio__ev_enter(NULL, &q);
  uint64_t t0 = sessio__met_clock();
  sessio_err rc =
      st->methods->version >= 4 && st->methods->collect
          ? st->methods->collect(st, now, max_work, collected, st, &r, &d)
          : st->methods->gc(st, now, max_work, &r, &d);
  uint64_t ns = sessio__met_clock() - t0;
  sessio__ev_leave(prev);
  sessio__ev_gc_done(st, &q, now, max_work, r, d, ns, rc);
  sessio__ev_free(&q);
  if (removed) *removed = r;
  if (done) *done = d;
  return rc;
}

sessio_err sessio__store_iterate(sessio_store *st, int64_t now,
                                 sessio_store_iter_fn cb, void *ud) {
  if (st == NULL || cb == NULL) return SESSIO_EINVAL;
  if (st->methods->iterate == NULL) return SESSIO_ENOTSUP;
  return st->methods->iterate(st, now, cb, ud);
}

sessio_err sessio_store_stats(sessio_store *st,
                              struct sessio_store_stats *out) {
  if (st == NULL || out == NULL) return SESSIO_EINVAL;
  memset(out, 0, sizeof *out);
  if (st->methods->stats == NULL) return SESSIO_ENOTSUP;
  return st->methods->stats(st, out);
}

void sessio_record_clear(sessio_record *rec) {
  if (rec == NULL) return;
  free(rec->blob);
  rec->blob = NULL;
  rec->blob_len = 0;
}

sessio_err sessio_store_url_params(const char *query,
                                   sessio_store_url_param_fn cb, void *ud) {
  if (query == NULL || cb == NULL) return SESSIO_EINVAL;
  size_t qlen = strlen(query);
  char *name = malloc(qlen + 1), *val = malloc(qlen + 1);
  sessio_err rc = SESSIO_OK;
  if (name == NULL || val == NULL) {
    rc = SESSIO_ENOMEM;
    goto done;
  }
  for (const char *p = query; *p && rc == SESSIO_OK;) {
    const char *amp = strchr(p, '&');
    const char *end = amp ? amp : p + strlen(p);
    const char *eq = memchr(p, '=', (size_t)(end - p));
    if (end == p) { /* empty pair "a=1&&b=2" */
      p = amp ? amp + 1 : end;
      continue;
    }
    if (eq == NULL || eq == p || !sessio__url_decode(p, eq, name) ||
        !sessio__url_decode(eq + 1, end, val)) {
      rc = SESSIO_EINVAL;
      break;
    }
    rc = cb(ud, name, val);
    p = amp ? amp + 1 : end;
  }
done:
  free(name);
  free(val);
  return rc;
}

/* The userinfo of "scheme://userinfo@host..." ends at an '@': "user:password"
 * or a lone password. A well-formed URL has its '/', '?' and '@' escaped
 * in the password, but a log line must not leak a password that was not:
 * the password runs from the first ':' (or the "//") to the last '@' before
 * the first '?' that follows the first '@'. An '@' after a '?' and a '='
 * is in an option value (no userinfo). Masking too much is harmless. */
sessio_err sessio_store_url_redact(const char *url, char *buf, size_t cap,
                                   size_t *needed) {
  if (url == NULL || (buf == NULL && cap > 0)) return SESSIO_EINVAL;
  const char *auth = strstr(url, "://");
  size_t keep = strlen(url), skip = 0; /* bytes kept, then replaced */
  const char *first_at = auth ? strchr(auth + 3, '@') : NULL;
  const char *q0 = auth ? strchr(auth + 3, '?') : NULL;
  if (first_at != NULL && q0 != NULL && q0 < first_at &&
      memchr(q0, '=', (size_t)(first_at - q0)) != NULL)
    first_at = NULL;
  if (first_at != NULL) {
    auth += 3;
    const char *q = strchr(first_at, '?');
    const char *last_at = first_at;
    for (const char *c = first_at; *c && (q == NULL || c < q); c++)
      if (*c == '@') last_at = c;
    const char *colon = memchr(auth, ':', (size_t)(first_at - auth));
    const char *pw = colon ? colon + 1 : auth;
    keep = (size_t)(pw - url);
    skip = (size_t)(last_at - pw);
  }
  const char *mask = skip ? "***" : "";
  size_t n = keep + strlen(mask) + strlen(url + keep + skip);
  if (needed) *needed = n;
  if (n + 1 > cap) return SESSIO_ENOBUFS;
  memcpy(buf, url, keep);
  memcpy(buf + keep, mask, strlen(mask));
  memcpy(buf + keep + strlen(mask), url + keep + skip,
         strlen(url + keep + skip) + 1);
  return SESSIO_OK;
}
