/*
 * redis_pool.h — connections to one Redis server: a pool with connect and
 * command timeouts, reconnection backoff and once-per-change logging,
 * safe against SIGPIPE and fork(); one command, a pipeline or a SCAN step
 * at a time. Both Redis backends use one pool per server.
 */
#ifndef SESSIO_REDIS_POOL_H
#define SESSIO_REDIS_POOL_H

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdint.h>

#include "store_internal.h"

typedef struct rc_pool {
  char host[256];
  int port;
  int db;             /* SELECTed after connect when > 0 */
  char user[128];     /* ACL user for AUTH, "" for none */
  char password[256]; /* "" for no AUTH */
  int connect_ms;     /* connect timeout */
  int timeout_ms;     /* command (read/write) timeout */
  size_t max_idle;    /* idle connections kept */

  pthread_mutex_t mu;  /* guards everything below */
  redisContext **idle; /* free list (a stack) of idle connections */
  size_t n_idle;
  unsigned gen;        /* bumped when a connection is found closed (the
                            idle ones go too) or after fork(); connections
                            of an older generation are not pooled again */
  unsigned forks;      /* fork count when the idle conns were made */
  int down;            /* the circuit is open: 1 from a failed connect or
                            2 timed-out commands until a probe (a connect
                            and a PING, each within connect_ms) succeeds;
                            meanwhile calls fail at once, and one caller
                            per backoff window probes */
  int timeouts;        /* commands timed out since the last answer */
  int64_t next_try;    /* monotonic ms before which no connect is tried */
  int64_t backoff;     /* current reconnect delay, ms */
  sessio_store *owner; /* the store, for its logger */
} rc_pool;

/* A connection taken from a pool, with the generation it was made in. */
typedef struct rc_conn {
  redisContext *c;
  unsigned gen;
  int reused; /* came from the idle list (may be stale) */
} rc_conn;

void sessio__rc_pool_init(rc_pool *p, sessio_store *owner);
void sessio__rc_pool_destroy(rc_pool *p);
/* 1 when the pool's circuit is open: the server is known down (a failed
 * connect, two timed-out commands) and the next paced probe is not due yet,
 * so a command would fail at once with SESSIO_EUNAVAIL. */
int sessio__rc_pool_open(rc_pool *p);
/* Runs one command (after ASKING when 'asking') on a pooled connection.
 * SESSIO_OK with '*reply' set (it may be an error reply: the connection is
 * fine), or SESSIO_EUNAVAIL when the server cannot be reached or timed out
 * (the connection is dropped, the pool marked down and backed off),
 * SESSIO_ENOMEM. '*maybe_done' (may be NULL) is set to 1 when the failure
 * came after the command was sent, so it may have run: such a command is
 * not retried (a retried compare-and-set could apply twice). A reused idle
 * connection that turns out to be closed is replaced once by a fresh one. */
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
                                const char *pattern, size_t count, char ***keys,
                                size_t *n, int *wrapped);

/* Maps an error reply to SESSIO_EUNAVAIL (transient: LOADING, BUSY,
 * MASTERDOWN, CLUSTERDOWN, TRYAGAIN, READONLY, MOVED, ASK, too many
 * clients), SESSIO_EFULL (OOM) or SESSIO_EIO. */
sessio_err sessio__rc_reply_err(const redisReply *r);

/* The server part of a Redis URL (the grammar: redis_methods.h), into a
 * pool's fields. sessio__rc_parse_auth parses "[[[USER]:]PASSWORD@]" at the
 * start of 's' and returns the rest (all of 's' when there is no '@'
 * before the first '/' or '?'); NULL when malformed.
 * sessio__rc_parse_hostport parses "HOST[:PORT]" or "[IPv6][:PORT]" from
 * [s, e), PORT 1..65535 (default 6379); 0 when malformed. */
const char *sessio__rc_parse_auth(const char *s, rc_pool *p);
int sessio__rc_parse_hostport(const char *s, const char *e, rc_pool *p);

/* Monotonic milliseconds (for backoff and retry deadlines only). */
int64_t sessio__rc_mono_ms(void);
void sessio__rc_sleep_ms(int64_t ms);

#endif
