/*
 * redis_methods.h — the Redis stores' shared part: the store struct that
 * both backends subclass, the hooks each implements (exec one command for
 * a key: one server, or slot routing with MOVED/ASK; scan keys), the URL
 * options, and the store methods written once over those hooks.
 *
 * The URL grammar, one for both backends (parsed by redis.c and
 * redis_cluster.c with the helpers of redis_pool.h and below):
 *   redis://[[[USER]:]PASSWORD@]HOST[:PORT][/[DB]][?OPTIONS]
 *   redis-cluster://[[[USER]:]PASSWORD@]HOST[:PORT][,HOST[:PORT]...][?OPTIONS]
 * HOST is a name, an IPv4 address or [IPv6], or (redis:// only) a Unix-domain
 * socket's path percent-encoded ("%2Frun%2Fredis.sock", no PORT); PORT
 * 1..65535 (default 6379);
 * DB 0..10000 (default 0; a cluster has only database 0, so no '/');
 * USER (an ACL user) and PASSWORD (not empty) are percent-decoded
 * (RFC 3986: a '/', '?', '@', '%' or ':' in them is written %2F, %3F, %40,
 * %25, %3A; any other byte but NUL may be escaped too); OPTIONS are name=value pairs joined by '&':
 * prefix, connect_timeout_ms, timeout_ms, grace_ms, pool, max_sessions,
 * and for a cluster failover_wait_ms (docs/STORES.md lists them).
 */
#ifndef SESSIO_REDIS_METHODS_H
#define SESSIO_REDIS_METHODS_H

#include <hiredis/hiredis.h>
#include <pthread.h>

#include "redis_pool.h"
#include "redis_scripts.h"
#include "store_internal.h"

/* ---- the store ------------------------------------------------------- */

typedef struct rc_store rc_store;

/* Where a key scan is: which server (cluster: index among the masters)
 * and that server's SCAN cursor. Zeroed: at the start. */
typedef struct rc_cursor {
  size_t node;
  unsigned long long cur;
} rc_cursor;

typedef struct rc_ops {
  /* Runs one command whose keys all live in the slot of 'key' ('klen'
   * bytes). Same results as sessio__rc_pool_command. */
  sessio_err (*exec)(rc_store *rs, const char *key, size_t klen, int argc,
                     const char **argv, const size_t *lens, redisReply **reply);
  /* One step of a key scan from '*cur': up to about 'count' key names
   * matching 'pattern' are returned in '*keys' (a malloc()ed array of
   * malloc()ed strings, '*n' of them; both may be empty), '*cur' moves on,
   * and '*wrapped' is set (and '*cur' zeroed) when every server has been
   * scanned to its end. '*from' is the server the keys came from (gc sends
   * its commands for them there, pipelined). */
  sessio_err (*scan)(rc_store *rs, rc_cursor *cur, const char *pattern,
                     size_t count, char ***keys, size_t *n, int *wrapped,
                     rc_pool **from);
} rc_ops;

#define RC_PREFIX_MAX 64

struct rc_store {
  sessio_store base; /* first: the store "subclass" */
  const rc_ops *ops;
  char prefix[RC_PREFIX_MAX + 1];
  int64_t grace_ms; /* added to every Redis TTL */

  pthread_mutex_t gc_mu; /* guards the gc cursor and leftovers */
  rc_cursor gc_cur;
  char **gc_keys; /* keys scanned but not yet examined */
  size_t gc_n, gc_i;
  int gc_wrapped;                /* the scan that produced gc_keys wrapped */
  rc_pool *gc_from;              /* the server gc_keys came from */
  sessio_store_collect_fn gc_cb; /* collect's report (NULL for gc) */
  void *gc_ud;

  rc_scripts scripts; /* digests for EVALSHA (redis_scripts.h) */

  /* ?max_sessions=N (0: no bound): new guest sessions are refused with
   * SESSIO_EFULL while N records are live in the index PREFIX ":live" (a
   * sorted set of keys scored by expires_at, kept by save, touch and
   * remove; RC_S_ADMIT in redis_scripts.c). */
  uint64_t max_sessions;
  char live_name[RC_PREFIX_MAX + 6];
  size_t live_nl;
};

/* The URL options of both backends, filled by sessio__rc_param. */
typedef struct rc_options {
  char prefix[RC_PREFIX_MAX + 1];
  int connect_ms, timeout_ms;
  int64_t grace_ms;
  size_t links;             /* shared connections per server ("pool") */
  int64_t failover_wait_ms; /* cluster only */
  uint64_t max_sessions;    /* 0: no bound */
} rc_options;

void sessio__rc_options_default(rc_options *o);
/* sessio_store_url_param_fn over an rc_options. */
sessio_err sessio__rc_param(void *ud, const char *name, const char *val);
/* Parses the end of a URL, 'q': "" or "?params" into 'o'; anything else is
 * SESSIO_EINVAL. */
sessio_err sessio__rc_parse_query(const char *q, rc_options *o);

sessio_err sessio__rc_store_init(rc_store *rs, const rc_ops *ops,
                                 const rc_options *o);
void sessio__rc_store_destroy(rc_store *rs);

/* Runs one command on 'key' through the backend's exec hook; an error
 * reply becomes its sessio_err (sessio__rc_reply_err) and no reply. */
sessio_err sessio__rc_command(rc_store *rs, const char *key, size_t klen,
                              int argc, const char **argv, const size_t *lens,
                              redisReply **reply);

/* Key slot (CRC16/XMODEM of the hash tag, or the key) mod 16384. */
unsigned sessio__rc_slot(const char *key, size_t len);

/* The store methods, shared by both backends. */
sessio_err sessio__rc_load(sessio_store *st, const sessio_key *key, int64_t now,
                           sessio_record *out, int *found);
sessio_err sessio__rc_save(sessio_store *st, const sessio_key *key,
                           const sessio_record *rec, uint64_t expected,
                           int64_t now, uint64_t *new_version);
sessio_err sessio__rc_touch(sessio_store *st, const sessio_key *key,
                            int64_t touched_at, int64_t expires_at, int64_t now,
                            int *found);
sessio_err sessio__rc_remove(sessio_store *st, const sessio_key *key,
                             int64_t now, int *removed);
sessio_err sessio__rc_user_add(sessio_store *st, const char *user,
                               const sessio_key *key, int64_t expires_at,
                               int64_t now);
sessio_err sessio__rc_user_list(sessio_store *st, const char *user, int64_t now,
                                sessio_key **keys, size_t *n);
sessio_err sessio__rc_user_remove(sessio_store *st, const char *user,
                                  const sessio_key *key);
sessio_err sessio__rc_gc(sessio_store *st, int64_t now, size_t max_work,
                         size_t *removed, int *done);
sessio_err sessio__rc_collect(sessio_store *st, int64_t now, size_t max_work,
                              sessio_store_collect_fn cb, void *ud,
                              size_t *removed, int *done);
sessio_err sessio__rc_user_scan(sessio_store *st, sessio_store_cursor *cursor,
                                size_t max_work, sessio_store_user_iter_fn cb,
                                void *ud, int *done);
sessio_err sessio__rc_iterate(sessio_store *st, int64_t now,
                              sessio_store_iter_fn cb, void *ud);
sessio_err sessio__rc_scan(sessio_store *st, sessio_store_cursor *cursor,
                           size_t max_work, sessio_store_iter_fn cb, void *ud,
                           int *done);

/* The initializer of a Redis backend's method table: the methods above, its
 * 'name' and its own 'close'. Use:
 *   static const sessio_store_methods m = SESSIO__RC_METHODS("redis", c); */
#define SESSIO__RC_METHODS(name_, close_)                                      \
  {                                                                            \
    .version = SESSIO_STORE_API_VERSION, .name = (name_),                      \
    .load = sessio__rc_load, .save = sessio__rc_save,                          \
    .touch = sessio__rc_touch, .remove = sessio__rc_remove,                    \
    .user_add = sessio__rc_user_add, .user_list = sessio__rc_user_list,        \
    .user_remove = sessio__rc_user_remove, .gc = sessio__rc_gc,                \
    .iterate = sessio__rc_iterate, .stats = NULL, .close = (close_),           \
    .scan = sessio__rc_scan, .collect = sessio__rc_collect,                    \
    .user_scan = sessio__rc_user_scan,                                         \
  }

#endif
