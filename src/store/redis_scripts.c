/*
 * redis_scripts.c — the Lua scripts that make each step of the Redis
 * stores atomic on the server (compare-and-set, touch, gc of one record,
 * the user index), run by EVALSHA with their digests cached per store,
 * falling back to EVAL when a server does not know them (NOSCRIPT).
 */
#include "redis_scripts.h"
#include "redis_methods.h"

#include <stdatomic.h>
#include <string.h>

/* Every script reads one key (KEYS[1]). A record is live while its
 * expires_at (bytes 13-20 of the record format, redis_methods.c) is
 * greater than the caller's 'now'. */
static const char *const scripts[RC_SCRIPTS] = {
    /* save: ARGV = expected version (8 bytes, "" to create), now,
     * new value, ttl ms. 1 saved, 0 conflict, -1 corrupt. */
    [RC_S_SAVE] = "local h = redis.call('GETRANGE', KEYS[1], 0, 19)\n"
                  "local live = false\n"
                  "if #h > 0 then\n"
                  "  if #h < 20 or string.sub(h, 1, 4) ~= 'SSR1' then "
                  "return -1 end\n"
                  "  live = struct.unpack('>i8', h, 13) > tonumber(ARGV[2])\n"
                  "end\n"
                  "if #ARGV[1] == 0 then\n"
                  "  if live then return 0 end\n"
                  "elseif not live or string.sub(h, 5, 12) ~= ARGV[1] then\n"
                  "  return 0\n"
                  "end\n"
                  "redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])\n"
                  "return 1\n",
    /* touch: ARGV = now, expires_at|touched_at (16 bytes), ttl ms.
     * 1 touched, 0 missing or dead, -1 corrupt. */
    [RC_S_TOUCH] = "local h = redis.call('GETRANGE', KEYS[1], 0, 19)\n"
                   "if #h == 0 then return 0 end\n"
                   "if #h < 20 or string.sub(h, 1, 4) ~= 'SSR1' then "
                   "return -1 end\n"
                   "if struct.unpack('>i8', h, 13) <= tonumber(ARGV[1]) then "
                   "return 0 end\n"
                   "redis.call('SETRANGE', KEYS[1], 12, ARGV[2])\n"
                   "redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
                   "return 1\n",
    /* gc of one record: ARGV = now. {1, user} when it was dead and is
     * removed (the user from the header: byte 29 is its length), else 0. */
    [RC_S_GC] = "local h = redis.call('GETRANGE', KEYS[1], 0, 28)\n"
                "if #h == 29 and string.sub(h, 1, 4) == 'SSR1' and "
                "struct.unpack('>i8', h, 13) <= tonumber(ARGV[1]) then\n"
                "  local n = string.byte(h, 29)\n"
                "  local u = ''\n"
                "  if n > 0 then u = redis.call('GETRANGE', KEYS[1], 29, "
                "28 + n) end\n"
                "  redis.call('DEL', KEYS[1])\n"
                "  return {1, u}\n"
                "end\n"
                "return 0\n",
    /* user_add: ARGV = expires_at (score), key (member), ttl ms. The set
     * lives as long as its longest-lived entry. */
    [RC_S_UADD] = "redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])\n"
                  "local t = redis.call('PTTL', KEYS[1])\n"
                  "if t < tonumber(ARGV[3]) then "
                  "redis.call('PEXPIRE', KEYS[1], ARGV[3]) end\n"
                  "return 1\n",
    /* user_list: ARGV = now. Drops dead pairs, returns the others. */
    [RC_S_ULIST] = ("redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])\n"
                    "return redis.call('ZRANGE', KEYS[1], 0, -1)\n"),
    /* admit into the live index of a bounded store (max_sessions): a
     * sorted set of record keys scored by expires_at, so a record leaves
     * the count when it dies whatever happens to it. ARGV = now,
     * expires_at, key (member), max (0: always admitted, a signed-in
     * session). Drops up to 64 dead members (bounded work; every admit
     * drops more than it adds, so dead members never pile up), then
     * refuses when 'max' members are live. 1 admitted, 0 full. Counting
     * and adding in one script makes racing creates unable to overshoot. */
    [RC_S_ADMIT] =
        "local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1],"
        " 'LIMIT', 0, 64)\n"
        "if #old > 0 then redis.call('ZREM', KEYS[1], unpack(old)) end\n"
        "local max = tonumber(ARGV[4])\n"
        "if max > 0 and redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[1], '+inf')"
        " >= max then return 0 end\n"
        "redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])\n"
        "return 1\n",
};

void sessio__rc_scripts_init(rc_scripts *s) {
  pthread_mutex_init(&s->mu, NULL);
  for (int i = 0; i < RC_SCRIPTS; i++) atomic_init(&s->known[i], 0);
}

void sessio__rc_scripts_destroy(rc_scripts *s) {
  pthread_mutex_destroy(&s->mu);
}

sessio_err sessio__rc_script_sha(rc_store *rs, rc_script which, const char *key,
                                 size_t klen, const char **sha) {
  *sha = rs->scripts.sha[which];
  if (atomic_load_explicit(&rs->scripts.known[which], memory_order_acquire))
    return SESSIO_OK;
  const char *argv[3] = {"SCRIPT", "LOAD", scripts[which]};
  size_t lens[3] = {6, 4, strlen(scripts[which])};
  redisReply *r;
  sessio_err rc = sessio__rc_command(rs, key, klen, 3, argv, lens, &r);
  if (rc != SESSIO_OK) return rc;
  if (r->type != REDIS_REPLY_STRING || r->len != 40) {
    freeReplyObject(r);
    return SESSIO_EIO;
  }
  pthread_mutex_lock(&rs->scripts.mu);
  if (!atomic_load_explicit(&rs->scripts.known[which], memory_order_relaxed)) {
    memcpy(rs->scripts.sha[which], r->str, 40);
    rs->scripts.sha[which][40] = '\0';
    atomic_store_explicit(&rs->scripts.known[which], 1, memory_order_release);
  }
  pthread_mutex_unlock(&rs->scripts.mu);
  freeReplyObject(r);
  return SESSIO_OK;
}

sessio_err sessio__rc_eval(rc_store *rs, rc_script which, const char *key,
                           size_t klen, int nargs, const char **args,
                           const size_t *alens, redisReply **reply) {
  const char *argv[8];
  size_t lens[8];
  sessio_err rc = sessio__rc_script_sha(rs, which, key, klen, &argv[1]);
  if (rc != SESSIO_OK) return rc;
  argv[0] = "EVALSHA";
  lens[0] = 7;
  lens[1] = 40;
  argv[2] = "1";
  lens[2] = 1;
  argv[3] = key;
  lens[3] = klen;
  for (int i = 0; i < nargs; i++) {
    argv[4 + i] = args[i];
    lens[4 + i] = alens[i];
  }
  rc = rs->ops->exec(rs, key, klen, 4 + nargs, argv, lens, reply);
  if (rc == SESSIO_OK && (*reply)->type == REDIS_REPLY_ERROR &&
      strncmp((*reply)->str, "NOSCRIPT", 8) == 0) {
    freeReplyObject(*reply);
    *reply = NULL;
    argv[0] = "EVAL";
    lens[0] = 4;
    argv[1] = scripts[which];
    lens[1] = strlen(scripts[which]);
    rc = rs->ops->exec(rs, key, klen, 4 + nargs, argv, lens, reply);
  }
  if (rc == SESSIO_OK && (*reply)->type == REDIS_REPLY_ERROR) {
    rc = sessio__rc_reply_err(*reply);
    freeReplyObject(*reply);
    *reply = NULL;
  }
  return rc;
}
