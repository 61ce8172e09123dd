/*
 * redis_pool.h — connections to one Redis server: a few links shared by
 * every thread, each pipelining whatever its callers queue (auto-pipelining),
 * with connect and command timeouts, reconnection backoff and once-per-change
 * logging, safe against SIGPIPE and fork(); one command, a pipeline or a
 * SCAN step per call. Both Redis backends use one pool per server.
 */
#ifndef SESSIO_REDIS_POOL_H
#define SESSIO_REDIS_POOL_H

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdint.h>

#include "store_internal.h"

/* A caller's commands on a link (redis_pool.c). */
typedef struct rc_call rc_call;

/* One connection shared by the threads that call at once. Callers queue
 * their commands; one of them at a time leads the link: it sends everything
 * queued in one write, reads the replies in order into each caller's slots
 * and wakes them, then hands the link to a caller of the next batch. */
typedef struct rc_link {
  redisContext *c; /* NULL: not connected */
  unsigned gen;    /* the pool generation 'c' was made in */
  int reused;      /* 'c' has answered a batch (so it may have gone stale) */
  int busy;        /* a caller leads the link */
  rc_call *queue, *queue_tail; /* waiting to be sent */
  size_t queued;
  rc_call *sent; /* the batch in flight, in order */
} rc_link;

typedef struct rc_pool {
  /* A name or address; a path (it starts with '/') for a Unix-domain
   * socket. */
  char host[256];
  int port;
  int db;             /* SELECTed after connect when > 0 */
  char user[128];     /* ACL user for AUTH, "" for none */
  char password[256]; /* "" for no AUTH */
  int connect_ms;     /* connect timeout */
  int timeout_ms;     /* read/write timeout of a batch */

  pthread_mutex_t mu; /* guards everything below */
  rc_link *links;     /* n_links shared connections */
  size_t n_links;
  unsigned gen;        /* bumped when a connection is found closed (the
                            others are then replaced before their next
                            batch) or after fork(); a link whose 'gen' is
                            older connects afresh */
  unsigned forks;      /* fork count when the links were made */
  int down;            /* the circuit is open: 1 from a failed connect or
                            2 timed-out batches until a probe (a connect
                            and a PING, each within connect_ms) succeeds;
                            meanwhile calls fail at once, and one caller
                            per backoff window probes */
  int timeouts;        /* batches timed out since the last answer */
  int64_t next_try;    /* monotonic ms before which no connect is tried */
  int64_t backoff;     /* current reconnect delay, ms */
  sessio_store *owner; /* the store, for its logger */
} rc_pool;

void sessio__rc_pool_init(rc_pool *p, sessio_store *owner);
/* Gives the pool 'n' links (shared connections; 1..1024), once, after
 * init: SESSIO_OK or SESSIO_ENOMEM. */
sessio_err sessio__rc_pool_set_links(rc_pool *p, size_t n);
void sessio__rc_pool_destroy(rc_pool *p);
/* 1 when the pool's circuit is open: the server is known down (a failed
 * connect, two timed-out commands) and the next paced probe is not due yet,
 * so a command would fail at once with SESSIO_EUNAVAIL. */
int sessio__rc_pool_open(rc_pool *p);
/* Runs one command (after ASKING when 'asking') on one of the pool's links,
 * pipelined with the commands other threads send at the same time.
 * SESSIO_OK with '*reply' set (it may be an error reply: the connection is
 * fine), or SESSIO_EUNAVAIL when the server cannot be reached or timed out
 * (the connection is dropped and every command in flight on it fails; the
 * pool is marked down and backed off), SESSIO_EIO on a protocol error,
 * SESSIO_ENOMEM. '*maybe_done' (may be NULL) is set to 1 when the failure
 * came after the command was sent, so it may have run: such a command is
 * not retried (a retried compare-and-set could apply twice). An idle
 * connection the server closed (restart, idle timeout) is found so before a
 * batch is sent on it and replaced; a batch whose send fails before its
 * first byte left is sent once more on a fresh one. A call waits for the
 * batch ahead of it and then its own: at most about 2 x timeout_ms. */
sessio_err sessio__rc_pool_command(rc_pool *p, int asking, int argc,
                                   const char **argv, const size_t *lens,
                                   redisReply **reply, int *maybe_done);
/* Sends 'n' commands together on one link (with whatever else is queued
 * there) and reads the 'n' replies into 'replies' (each may be an error
 * reply). SESSIO_EUNAVAIL (no reply kept) when the connection fails; the
 * results as sessio__rc_pool_command. */
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
 * [s, e), PORT 1..65535 (default 6379), or a Unix-domain socket's path
 * percent-encoded ("%2Frun%2Fredis%2Fredis.sock", no port; into 'host');
 * 0 when malformed. */
const char *sessio__rc_parse_auth(const char *s, rc_pool *p);
int sessio__rc_parse_hostport(const char *s, const char *e, rc_pool *p);

/* Monotonic milliseconds (for backoff and retry deadlines only). */
int64_t sessio__rc_mono_ms(void);
void sessio__rc_sleep_ms(int64_t ms);

#endif
