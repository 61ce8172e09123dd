/*
 * manager.h — the structs behind the opaque sessio_config,
 * sessio_manager and sessio handles, shared by config.c (configuration and
 * manager), session.c (one request's lifecycle and commit) and users.c
 * (per-user listing and revocation). Internal to libsessio.
 */
#ifndef SESSIO_MANAGER_H
#define SESSIO_MANAGER_H

#include <pthread.h>

#include "buf.h"
#include "crypto.h"
#include "data.h"
#include "events.h"
#include "metrics.h"
#include "record.h"
#include "sessio.h"
#include "sessio/store.h"
#include "store/store_internal.h"

#define SESSIO__COOKIE_NAME_MAX 64
#define SESSIO__DOMAIN_MAX 253
#define SESSIO__PATH_MAX 1024
#define SESSIO__PREV_SECRETS 3

struct sessio_config {
  sessio_store *store;
  int64_t idle_ms, absolute_ms, remember_ms;
  /* A remember-me login's own lifetimes (sessio_config_set_remember);
   * 0: min(remember_ms, absolute_ms) as both, the older rule. */
  int64_t rem_idle_ms, rem_abs_ms;
  int64_t touch_interval_ms;
  int64_t rotate_ms, grace_ms;
  char cookie_name[SESSIO__COOKIE_NAME_MAX + 1]; /* "" = default */
  sessio_secure secure;
  sessio_samesite samesite;
  char domain[SESSIO__DOMAIN_MAX + 1]; /* "" = none */
  char path[SESSIO__PATH_MAX + 1];     /* "" = "/" */
  int partitioned;
  uint8_t secret[SESSIO_SECRET_MAX];
  size_t secret_len;
  /* Secrets being rotated out: sessions found under one are re-keyed
   * under 'secret' at their next commit. */
  uint8_t prev_secret[SESSIO__PREV_SECRETS][SESSIO_SECRET_MAX];
  size_t prev_len[SESSIO__PREV_SECRETS];
  size_t n_prev;
  size_t max_key, max_value, max_total;
  sessio_log_fn log_fn;
  void *log_ud;
  sessio_log_level log_level;
  sessio_event_fn event_fn;
  void *event_ctx;
  int tokens;          /* header-token transport enabled (S30) */
  size_t max_per_user; /* 0: no limit (S33) */
  sessio_max_policy max_policy;
};

/* Commits to one record from threads of one process take one of these
 * striped locks around their compare-and-set loop (never across a request),
 * so that they queue instead of starving each other with conflicts; only
 * writers in other processes still cause retries. */
#define SESSIO__COMMIT_STRIPES 1024

struct sessio_manager {
  struct sessio_config cfg;
  char name_tls[SESSIO__COOKIE_NAME_MAX + 1];   /* cookie name over TLS */
  char name_plain[SESSIO__COOKIE_NAME_MAX + 1]; /* and without */
  pthread_mutex_t stripes[SESSIO__COMMIT_STRIPES];
  sessio__metrics *met; /* counters, written without a lock (metrics.h) */
};

/* The store key of the server-secret check record (secret_check.c). */
void sessio__secret_check_key(sessio_key *key);

/* Logs through the configured logger when 'level' is enabled. */
void sessio__log(const sessio_manager *m, sessio_log_level level,
                 const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Liveness of a record by the server's own rules (S13, S14): live while
 * now < touched_at + idle and now < abs_deadline. The sum saturates: the
 * metadata is read from the store before the seal is checked, and a
 * stored idle_ms may be anything up to INT64_MAX (fuzz/regressions/record). */
static inline int64_t sessio__deadline(const sessio__meta *meta,
                                       int64_t touched_at) {
  int64_t idle;
  if (__builtin_add_overflow(touched_at, meta->idle_ms, &idle))
    idle = meta->idle_ms > 0 ? INT64_MAX : INT64_MIN;
  return idle < meta->abs_deadline ? idle : meta->abs_deadline;
}

#endif
