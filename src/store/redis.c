/*
 * redis.c — the redis:// store: one Redis server (over TCP or its
 * Unix-domain socket), a few shared connections.
 * This file parses the URL (its grammar: redis_methods.h), runs commands
 * on the one server and scans its keys for gc; the methods, scripts and
 * pool are in redis_methods.c, redis_scripts.c and redis_pool.c.
 */
#include <stdlib.h>
#include <string.h>

#include "redis_methods.h"

typedef struct redis_store {
  rc_store rs; /* first: sessio_store is its first member */
  rc_pool pool;
} redis_store;

static sessio_err one_exec(rc_store *rs, const char *key, size_t klen, int argc,
                           const char **argv, const size_t *lens,
                           redisReply **reply) {
  (void)key;
  (void)klen;
  return sessio__rc_pool_command(&((redis_store *)rs)->pool, 0, argc, argv,
                                 lens, reply, NULL);
}

static sessio_err one_scan(rc_store *rs, rc_cursor *cur, const char *pattern,
                           size_t count, char ***keys, size_t *n, int *wrapped,
                           rc_pool **from) {
  *from = &((redis_store *)rs)->pool;
  return sessio__rc_scan_pool(&((redis_store *)rs)->pool, &cur->cur, pattern,
                              count, keys, n, wrapped);
}

static const rc_ops one_ops = {one_exec, one_scan};

static void redis_close(sessio_store *st) {
  redis_store *s = (redis_store *)st;
  sessio__rc_pool_destroy(&s->pool);
  sessio__rc_store_destroy(&s->rs);
  free(s);
}

static const sessio_store_methods redis_methods =
    SESSIO__RC_METHODS("redis", redis_close);

/* 'rest' is the URL after "redis:" (grammar: redis_methods.h). */
sessio_err sessio__store_open_redis(const char *rest, sessio_store **out) {
  rc_options o;
  sessio_err rc;
  sessio__rc_options_default(&o);
  if (strncmp(rest, "//", 2) != 0) return SESSIO_EINVAL;

  redis_store *s = calloc(1, sizeof *s);
  if (s == NULL) return SESSIO_ENOMEM;
  s->rs.base.methods = &redis_methods;
  sessio__rc_pool_init(&s->pool, &s->rs.base);

  const char *p = sessio__rc_parse_auth(rest + 2, &s->pool);
  if (p == NULL) {
    rc = SESSIO_EINVAL;
    goto fail_pool;
  }
  const char *hend = p + strcspn(p, "/?");
  if (!sessio__rc_parse_hostport(p, hend, &s->pool)) {
    rc = SESSIO_EINVAL;
    goto fail_pool;
  }
  const char *q = hend;
  if (*q == '/') {
    char *end;
    long db = 0;
    if (q[1] != '\0' && q[1] != '?') {
      if (q[1] < '0' || q[1] > '9') {
        rc = SESSIO_EINVAL;
        goto fail_pool;
      }
      db = strtol(q + 1, &end, 10);
      if (db > 10000 || (*end != '\0' && *end != '?')) {
        rc = SESSIO_EINVAL;
        goto fail_pool;
      }
      q = end;
    } else {
      q++;
    }
    s->pool.db = (int)db;
  }
  rc = sessio__rc_parse_query(q, &o);
  if (rc != SESSIO_OK) goto fail_pool;
  s->pool.connect_ms = o.connect_ms;
  s->pool.timeout_ms = o.timeout_ms;
  rc = sessio__rc_pool_set_links(&s->pool, o.links);
  if (rc != SESSIO_OK) goto fail_pool;
  rc = sessio__rc_store_init(&s->rs, &one_ops, &o);
  if (rc != SESSIO_OK) goto fail_pool;

  /* Reachable now? (A server down later is handled call by call.) */
  const char *argv[1] = {"PING"};
  size_t lens[1] = {4};
  redisReply *r;
  rc = sessio__rc_pool_command(&s->pool, 0, 1, argv, lens, &r, NULL);
  if (rc != SESSIO_OK) goto fail_store;
  if (r->type == REDIS_REPLY_ERROR) rc = sessio__rc_reply_err(r);
  freeReplyObject(r);
  if (rc != SESSIO_OK) goto fail_store;
  *out = &s->rs.base;
  return SESSIO_OK;

fail_store:
  sessio__rc_store_destroy(&s->rs);
fail_pool:
  sessio__rc_pool_destroy(&s->pool);
  free(s);
  return rc;
}
