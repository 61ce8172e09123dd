/*
 * redis_common.h — what the redis:// and redis-cluster:// stores share:
 * a connection pool per server with timeouts, reconnection backoff and
 * once-per-change logging; the key layout and record format; the Lua
 * scripts that make the version check atomic; and the store methods
 * themselves, written once over an "exec one command for this key" hook
 * that each backend implements (one server, or slot routing with
 * MOVED/ASK). See docs/STORES.md for the layout and its guarantees.
 */
#ifndef SESSIO_REDIS_COMMON_H
#define SESSIO_REDIS_COMMON_H

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>

#include "store_internal.h"

/* ---- connection pool to one server ---------------------------------- */

typedef struct rc_pool {
  char host[256];
  int port;
  int db;                /* SELECTed after connect when > 0 */
  char user[128];        /* ACL user for AUTH, "" for none */
  char password[256];    /* "" for no AUTH */
  int connect_ms;        /* connect timeout */
  int timeout_ms;        /* command (read/write) timeout */
  size_t max_idle;       /* idle connections kept */

  pthread_mutex_t mu;    /* guards everything below */
  redisContext **idle;   /* free list (a stack) of idle connections */
  size_t n_idle;
  unsigned gen;          /* bumped when a connection is found closed (the
                            idle ones go too) or after fork(); connections
                            of an older generation are not pooled again */
  unsigned forks;        /* fork count when the idle conns were made */
  int down;              /* 1 from a failed connect until one succeeds */
  int64_t next_try;      /* monotonic ms before which no connect is tried */
  int64_t backoff;       /* current reconnect delay, ms */
  sessio_store *owner;   /* the store, for its logger */
} rc_pool;

/* A connection taken from a pool, with the generation it was made in. */
typedef struct rc_conn {
  redisContext *c;
  unsigned gen;
  int reused; /* came from the idle list (may be stale) */
} rc_conn;

void sessio__rc_pool_init(rc_pool *p, sessio_store *owner);
void sessio__rc_pool_destroy(rc_pool *p);
/* Runs one command (after ASKING when 'asking') on a pooled connection.
 * SESSIO_OK with '*reply' set (it may be an error reply: the connection is
 * fine), or SESSIO_EUNAVAIL when the server cannot be reached or timed out
 * (the connection is dropped, the pool marked down and backed off),
 * SESSIO_ENOMEM. '*maybe_done' (may be NULL) is set to 1 when the failure
 * came after the command was sent, so it may have run: such a command is
 * not retried (a retried compare-and-set could apply twice). A reused idle connection that turns out to be closed is
 * replaced once by a fresh one. */
sessio_err sessio__rc_pool_command(rc_pool *p, int asking, int argc,
                                   const char **argv, const size_t *lens,
                                   redisReply **reply, int *maybe_done);
/* Sends 'n' commands in one write on one pooled connection and reads the
 * 'n' replies into 'replies' (each may be an error reply). SESSIO_EUNAVAIL
 * (no reply kept) when the connection fails; nothing is retried. */
sessio_err sessio__rc_pool_pipeline(rc_pool *p, size_t n, const int *argcs,
                                    const char *const *const *argvs,
                                    const size_t *const *lens,
                                    redisReply **replies);
/* One "SCAN *cur MATCH pattern COUNT count" step on 'pool': the keys
 * returned are malloc()ed strings in a malloc()ed array; '*cur' moves on
 * and '*wrapped' is set when it came back to 0. */
sessio_err sessio__rc_scan_pool(rc_pool *pool, unsigned long long *cur,
                                const char *pattern, size_t count,
                                char ***keys, size_t *n, int *wrapped);

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
                     const char **argv, const size_t *lens,
                     redisReply **reply);
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
#define RC_SCRIPTS 5 /* the Lua scripts of redis_common.c */

struct rc_store {
  sessio_store base; /* first: the store "subclass" */
  const rc_ops *ops;
  char prefix[RC_PREFIX_MAX + 1];
  int64_t grace_ms;          /* added to every Redis TTL */

  pthread_mutex_t gc_mu;     /* guards the gc cursor and leftovers */
  rc_cursor gc_cur;
  char **gc_keys;            /* keys scanned but not yet examined */
  size_t gc_n, gc_i;
  int gc_wrapped;            /* the scan that produced gc_keys wrapped */
  rc_pool *gc_from;          /* the server gc_keys came from */

  /* Script digests for EVALSHA, as SCRIPT LOAD returned them: the server
   * computes them, sessio carries no SHA-1. Each is written once under
   * sha_mu, then sha_known[i] is set (release); readers test it (acquire). */
  pthread_mutex_t sha_mu;
  char sha[RC_SCRIPTS][41];
  atomic_int sha_known[RC_SCRIPTS];
};

/* Common URL options, filled by sessio__rc_parse_param. */
typedef struct rc_options {
  char prefix[RC_PREFIX_MAX + 1];
  int connect_ms, timeout_ms;
  int64_t grace_ms;
  size_t max_idle;
  int64_t failover_wait_ms; /* cluster only */
} rc_options;

void sessio__rc_options_default(rc_options *o);
/* sessio_store_url_param_fn over an rc_options. */
sessio_err sessio__rc_param(void *ud, const char *name, const char *val);
/* Parses "[[user]:password@]" at the start of 's' into the pool fields and
 * returns the rest; NULL when malformed. */
const char *sessio__rc_parse_auth(const char *s, rc_pool *p);
/* Parses "HOST[:PORT]" from [s, e) into the pool; 0 when malformed. */
int sessio__rc_parse_hostport(const char *s, const char *e, rc_pool *p);
/* Parses the end of a URL, 'q': "" or "?params" into 'o'; anything else is
 * SESSIO_EINVAL. */
sessio_err sessio__rc_parse_query(const char *q, rc_options *o);

sessio_err sessio__rc_store_init(rc_store *rs, const rc_ops *ops,
                                 const rc_options *o);
void sessio__rc_store_destroy(rc_store *rs);

/* Maps an error reply to SESSIO_EUNAVAIL (transient: LOADING, BUSY,
 * MASTERDOWN, CLUSTERDOWN, TRYAGAIN, READONLY), SESSIO_EFULL (OOM) or
 * SESSIO_EIO. */
sessio_err sessio__rc_reply_err(const redisReply *r);

/* Key slot (CRC16/XMODEM of the hash tag, or the key) mod 16384. */
unsigned sessio__rc_slot(const char *key, size_t len);

/* The store methods, shared by both backends. */
sessio_err sessio__rc_load(sessio_store *st, const sessio_key *key,
                           int64_t now, sessio_record *out, int *found);
sessio_err sessio__rc_save(sessio_store *st, const sessio_key *key,
                           const sessio_record *rec, uint64_t expected,
                           int64_t now, uint64_t *new_version);
sessio_err sessio__rc_touch(sessio_store *st, const sessio_key *key,
                            int64_t touched_at, int64_t expires_at,
                            int64_t now, int *found);
sessio_err sessio__rc_remove(sessio_store *st, const sessio_key *key,
                             int64_t now, int *removed);
sessio_err sessio__rc_user_add(sessio_store *st, const char *user,
                               const sessio_key *key, int64_t expires_at,
                               int64_t now);
sessio_err sessio__rc_user_list(sessio_store *st, const char *user,
                                int64_t now, sessio_key **keys, size_t *n);
sessio_err sessio__rc_user_remove(sessio_store *st, const char *user,
                                  const sessio_key *key);
sessio_err sessio__rc_gc(sessio_store *st, int64_t now, size_t max_work,
                         size_t *removed, int *done);
sessio_err sessio__rc_iterate(sessio_store *st, int64_t now,
                              sessio_store_iter_fn cb, void *ud);

/* The initializer of a Redis backend's method table: the methods above, its
 * 'name' and its own 'close'. Use:
 *   static const sessio_store_methods m = SESSIO__RC_METHODS("redis", c); */
#define SESSIO__RC_METHODS(name_, close_)                                    \
  {                                                                          \
    .version = SESSIO_STORE_API_VERSION, .name = (name_),                    \
    .load = sessio__rc_load, .save = sessio__rc_save,                        \
    .touch = sessio__rc_touch, .remove = sessio__rc_remove,                  \
    .user_add = sessio__rc_user_add, .user_list = sessio__rc_user_list,      \
    .user_remove = sessio__rc_user_remove, .gc = sessio__rc_gc,              \
    .iterate = sessio__rc_iterate, .stats = NULL, .close = (close_),         \
  }

/* Monotonic milliseconds (for backoff and retry deadlines only). */
int64_t sessio__rc_mono_ms(void);
void sessio__rc_sleep_ms(int64_t ms);

#endif
