/*
 * redis_methods.c — the store methods of the redis:// and redis-cluster://
 * stores, written once over the backend's exec() and scan() hooks: URL
 * options, key layout and slots, record format, load, save, touch, remove,
 * the user index, gc and iterate. Layout and guarantees: docs/STORES.md
 * ("Redis").
 */
#include "redis_methods.h"
#include "crypto.h"
#include "helpers.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- options ----------------------------------------------------------- */

void sessio__rc_options_default(rc_options *o) {
  memset(o, 0, sizeof *o);
  strcpy(o->prefix, "sessio");
  o->connect_ms = 200;
  o->timeout_ms = 500;
  o->grace_ms = 5000;
  o->links = 1;
  o->failover_wait_ms = 3000;
}

static int prefix_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > RC_PREFIX_MAX) return 0;
  for (; *s; s++) /* no glob or hash-tag characters */
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
          (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' || *s == '.' ||
          *s == ':'))
      return 0;
  return 1;
}

sessio_err sessio__rc_param(void *ud, const char *name, const char *val) {
  rc_options *o = ud;
  long long v;
  if (strcmp(name, "prefix") == 0) {
    if (!prefix_ok(val)) return SESSIO_EINVAL;
    strcpy(o->prefix, val);
  } else if (strcmp(name, "connect_timeout_ms") == 0) {
    if (!sessio__opt_int(val, 1, 60000, &v)) return SESSIO_EINVAL;
    o->connect_ms = (int)v;
  } else if (strcmp(name, "timeout_ms") == 0) {
    if (!sessio__opt_int(val, 1, 60000, &v)) return SESSIO_EINVAL;
    o->timeout_ms = (int)v;
  } else if (strcmp(name, "grace_ms") == 0) {
    if (!sessio__opt_int(val, 0, 86400000, &v)) return SESSIO_EINVAL;
    o->grace_ms = v;
  } else if (strcmp(name, "pool") == 0) {
    if (!sessio__opt_int(val, 1, 1024, &v)) return SESSIO_EINVAL;
    o->links = (size_t)v;
  } else if (strcmp(name, "max_sessions") == 0) {
    if (!sessio__opt_int(val, 1, INT64_MAX, &v)) return SESSIO_EINVAL;
    o->max_sessions = (uint64_t)v;
  } else if (strcmp(name, "failover_wait_ms") == 0) {
    if (!sessio__opt_int(val, 0, 60000, &v)) return SESSIO_EINVAL;
    o->failover_wait_ms = v;
  } else {
    return SESSIO_EINVAL;
  }
  return SESSIO_OK;
}

sessio_err sessio__rc_parse_query(const char *q, rc_options *o) {
  if (*q == '?') return sessio_store_url_params(q + 1, sessio__rc_param, o);
  return *q == '\0' ? SESSIO_OK : SESSIO_EINVAL;
}

/* ---- hashing: key slots ------------------------------------------------ */

/* CRC-16/XMODEM (polynomial 0x1021, initial 0), a byte at a time from a
 * table built once. */
static uint16_t crc16_table[256];
static pthread_once_t crc16_once = PTHREAD_ONCE_INIT;

static void crc16_init(void) {
  for (int i = 0; i < 256; i++) {
    uint16_t crc = (uint16_t)(i << 8);
    for (int b = 0; b < 8; b++)
      crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021)
                           : (uint16_t)(crc << 1);
    crc16_table[i] = crc;
  }
}

static uint16_t crc16_xmodem(const unsigned char *s, size_t n) {
  pthread_once(&crc16_once, crc16_init);
  uint16_t crc = 0;
  for (size_t i = 0; i < n; i++)
    crc = (uint16_t)((crc << 8) ^ crc16_table[(crc >> 8) ^ s[i]]);
  return crc;
}

unsigned sessio__rc_slot(const char *key, size_t len) {
  const char *open = memchr(key, '{', len);
  if (open != NULL) {
    size_t rest = len - (size_t)(open + 1 - key);
    const char *close = memchr(open + 1, '}', rest);
    if (close != NULL && close > open + 1)
      return crc16_xmodem((const unsigned char *)open + 1,
                          (size_t)(close - open - 1)) &
             16383u;
  }
  return crc16_xmodem((const unsigned char *)key, len) & 16383u;
}

/* ---- record format ------------------------------------------------------
 * One Redis string per session:
 *   "SSR1" | version u64 BE | expires_at i64 BE | touched_at i64 BE |
 *   user length u8 | user bytes | blob
 * The fixed header lets the scripts read the version and the expiry with
 * GETRANGE and touch rewrite the two times in place with SETRANGE. */

#define REC_MAGIC "SSR1"
#define REC_HDR 29 /* bytes before the user name */

static void put64(unsigned char *p, uint64_t v) {
  for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (unsigned char)v;
}

static uint64_t get64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | p[i];
  return v;
}

/* Key names: PREFIX ":s:{" hex(key) "}" and PREFIX ":u:{" hex(user) "}".
 * The hash tag makes a session's record, and a user's index, each one key
 * in one slot; nothing needs two slots at once. */
#define KEYNAME_MAX (RC_PREFIX_MAX + 5 + 2 * SESSIO_USER_MAX + 1)

static size_t keyname(const rc_store *rs, char kind, const unsigned char *b,
                      size_t n, char out[KEYNAME_MAX + 1]) {
  size_t pl = strlen(rs->prefix);
  memcpy(out, rs->prefix, pl);
  out[pl] = ':';
  out[pl + 1] = kind;
  out[pl + 2] = ':';
  out[pl + 3] = '{';
  sessio__hex(b, n, out + pl + 4);
  out[pl + 4 + 2 * n] = '}';
  out[pl + 5 + 2 * n] = '\0';
  return pl + 5 + 2 * n;
}

/* Recognises a key name of this store: 's' (a record, '*key' filled), 'u'
 * (a user index) or 0. */
static char parse_keyname(const rc_store *rs, const char *name, size_t len,
                          sessio_key *key) {
  size_t pl = strlen(rs->prefix);
  if (len < pl + 6 || memcmp(name, rs->prefix, pl) != 0 || name[pl] != ':' ||
      name[pl + 2] != ':' || name[pl + 3] != '{' || name[len - 1] != '}')
    return 0;
  size_t hl = len - pl - 5;
  if (name[pl + 1] == 's' && hl == 2 * SESSIO_KEY_BYTES &&
      sessio__unhex(name + pl + 4, SESSIO_KEY_BYTES, key->b))
    return 's';
  if (name[pl + 1] == 'u' && hl % 2 == 0 && hl <= 2 * SESSIO_USER_MAX)
    return 'u';
  return 0;
}

/* Redis TTL for a record dead at 'expires_at' seen at 'now': the remaining
 * life plus the grace, in the caller's clock, so the caller's clock and
 * Redis's need not agree. Clamped to [1 ms, 100 years]. */
static int64_t ttl_ms(const rc_store *rs, int64_t expires_at, int64_t now) {
  const int64_t max = (int64_t)100 * 365 * 86400 * 1000;
  int64_t left;
  if (__builtin_sub_overflow(expires_at, now, &left))
    left = expires_at > now ? max : 0;
  if (left > max) left = max;
  if (left < 0) left = 0;
  left += rs->grace_ms;
  return left < 1 ? 1 : (left > max ? max : left);
}

/* ---- commands ------------------------------------------------------------ */

sessio_err sessio__rc_command(rc_store *rs, const char *key, size_t klen,
                              int argc, const char **argv, const size_t *lens,
                              redisReply **reply) {
  sessio_err rc = rs->ops->exec(rs, key, klen, argc, argv, lens, reply);
  if (rc == SESSIO_OK && (*reply)->type == REDIS_REPLY_ERROR) {
    rc = sessio__rc_reply_err(*reply);
    freeReplyObject(*reply);
    *reply = NULL;
  }
  return rc;
}

/* An integer reply's value, or 'bad' for any other reply. */
static long long int_reply(redisReply *r, long long bad) {
  return r->type == REDIS_REPLY_INTEGER ? r->integer : bad;
}

/* ---- store lifecycle ----------------------------------------------------- */

sessio_err sessio__rc_store_init(rc_store *rs, const rc_ops *ops,
                                 const rc_options *o) {
  if (sessio__fork_watch() != SESSIO_OK) return SESSIO_ENOMEM;
  rs->ops = ops;
  strcpy(rs->prefix, o->prefix);
  rs->grace_ms = o->grace_ms;
  pthread_mutex_init(&rs->gc_mu, NULL);
  memset(&rs->gc_cur, 0, sizeof rs->gc_cur);
  rs->gc_keys = NULL;
  rs->gc_n = rs->gc_i = 0;
  rs->gc_wrapped = 0;
  rs->gc_from = NULL;
  rs->max_sessions = o->max_sessions;
  rs->live_nl = (size_t)snprintf(rs->live_name, sizeof rs->live_name, "%s:live",
                                 rs->prefix);
  rs->gc_cb = NULL;
  rs->gc_ud = NULL;
  sessio__rc_scripts_init(&rs->scripts);
  return SESSIO_OK;
}

static void free_keys(char **keys, size_t n) {
  for (size_t i = 0; i < n; i++) free(keys[i]);
  free(keys);
}

void sessio__rc_store_destroy(rc_store *rs) {
  free_keys(rs->gc_keys, rs->gc_n);
  pthread_mutex_destroy(&rs->gc_mu);
  sessio__rc_scripts_destroy(&rs->scripts);
}

/* ---- methods ------------------------------------------------------------ */

/* Parses a stored value into '*out' (blob malloc()ed). */
static sessio_err decode(const char *v, size_t len, sessio_record *out) {
  const unsigned char *p = (const unsigned char *)v;
  if (len < REC_HDR || memcmp(p, REC_MAGIC, 4) != 0) return SESSIO_ECORRUPT;
  size_t ul = p[28];
  if (ul > SESSIO_USER_MAX || REC_HDR + ul > len) return SESSIO_ECORRUPT;
  if (memchr(p + REC_HDR, '\0', ul) != NULL) return SESSIO_ECORRUPT;
  out->version = get64(p + 4);
  out->expires_at = (int64_t)get64(p + 12);
  out->touched_at = (int64_t)get64(p + 20);
  if (out->version == 0) return SESSIO_ECORRUPT;
  memcpy(out->user, p + REC_HDR, ul);
  out->user[ul] = '\0';
  out->blob_len = len - REC_HDR - ul;
  out->blob = malloc(out->blob_len ? out->blob_len : 1);
  if (out->blob == NULL) return SESSIO_ENOMEM;
  memcpy(out->blob, p + REC_HDR + ul, out->blob_len);
  return SESSIO_OK;
}

static sessio_err load_named(rc_store *rs, const char *name, size_t nl,
                             int64_t now, sessio_record *out, int *found) {
  const char *argv[2] = {"GET", name};
  size_t lens[2] = {3, nl};
  redisReply *r;
  *found = 0;
  sessio_err rc = sessio__rc_command(rs, name, nl, 2, argv, lens, &r);
  if (rc != SESSIO_OK) return rc;
  if (r->type == REDIS_REPLY_NIL) goto done;
  if (r->type != REDIS_REPLY_STRING) {
    rc = SESSIO_EIO;
    goto done;
  }
  sessio_record rec;
  memset(&rec, 0, sizeof rec);
  rc = decode(r->str, r->len, &rec);
  if (rc != SESSIO_OK) {
    free(rec.blob);
    goto done;
  }
  if (rec.expires_at <= now) { /* dead: same as missing */
    free(rec.blob);
    goto done;
  }
  *out = rec;
  *found = 1;
done:
  freeReplyObject(r);
  return rc;
}

sessio_err sessio__rc_load(sessio_store *st, const sessio_key *key, int64_t now,
                           sessio_record *out, int *found) {
  rc_store *rs = (rc_store *)st;
  char name[KEYNAME_MAX + 1];
  size_t nl = keyname(rs, 's', key->b, SESSIO_KEY_BYTES, name);
  return load_named(rs, name, nl, now, out, found);
}

/* ---- the live index of a bounded store -----------------------------------
 * With max_sessions, every record is also a member of PREFIX ":live"
 * scored by its expires_at: the live count is ZCOUNT(now, +inf), so a record
 * leaves the count when it dies, even one deleted behind the store's back
 * (Redis eviction, FLUSHDB of a replica) or whose ZREM was lost: the count
 * cannot drift for longer than one session lifetime. A create is admitted
 * (counted and added) by one script before the record is written; later
 * saves and touches move the score, remove drops the member. An index
 * update that fails after its record was written is not an error of the
 * call: the member is fixed by the record's next save or touch. */

static sessio_err live_admit(rc_store *rs, const sessio_key *key,
                             int64_t expires_at, int64_t now, uint64_t max,
                             int *admitted) {
  char nowb[24], score[24], maxb[24];
  int nl = snprintf(nowb, sizeof nowb, "%" PRId64, now);
  int sl = snprintf(score, sizeof score, "%" PRId64, expires_at);
  int ml = snprintf(maxb, sizeof maxb, "%" PRIu64, max);
  const char *args[4] = {nowb, score, (const char *)key->b, maxb};
  size_t alens[4] = {(size_t)nl, (size_t)sl, SESSIO_KEY_BYTES, (size_t)ml};
  redisReply *r;
  sessio_err rc = sessio__rc_eval(rs, RC_S_ADMIT, rs->live_name, rs->live_nl, 4,
                                  args, alens, &r);
  if (rc != SESSIO_OK) return rc;
  long long res = int_reply(r, -1);
  freeReplyObject(r);
  if (res < 0) return SESSIO_EIO;
  *admitted = res == 1;
  return SESSIO_OK;
}

/* ZADD (a new expiry) or ZREM ('expires_at' NULL) of one member. */
static void live_update(rc_store *rs, const sessio_key *key,
                        const int64_t *expires_at) {
  char score[24];
  int sl = expires_at ? snprintf(score, sizeof score, "%" PRId64, *expires_at)
                      : 0;
  const char *argv[4] = {expires_at ? "ZADD" : "ZREM", rs->live_name,
                         expires_at ? score : (const char *)key->b,
                         (const char *)key->b};
  size_t lens[4] = {4, rs->live_nl, expires_at ? (size_t)sl : SESSIO_KEY_BYTES,
                    SESSIO_KEY_BYTES};
  redisReply *r;
  if (sessio__rc_command(rs, rs->live_name, rs->live_nl, expires_at ? 4 : 3,
                         argv, lens, &r) == SESSIO_OK)
    freeReplyObject(r);
}

sessio_err sessio__rc_save(sessio_store *st, const sessio_key *key,
                           const sessio_record *rec, uint64_t expected,
                           int64_t now, uint64_t *new_version) {
  rc_store *rs = (rc_store *)st;
  size_t ul = strnlen(rec->user, sizeof rec->user);
  if (ul > SESSIO_USER_MAX || (rec->blob_len > 0 && rec->blob == NULL))
    return SESSIO_EINVAL;
  if (expected == UINT64_MAX) return SESSIO_EOVERFLOW;

  if (expected == 0 && rs->max_sessions) {
    /* A new guest session past the bound is refused; a signed-in one is
     * always written (max 0), so a guest flood cannot lock users out. */
    int admitted = 0;
    sessio_err rc = live_admit(rs, key, rec->expires_at, now,
                               rec->user[0] ? 0 : rs->max_sessions, &admitted);
    if (rc != SESSIO_OK) return rc;
    if (!admitted) return SESSIO_EFULL;
  }
  size_t vlen = REC_HDR + ul + rec->blob_len;
  unsigned char *val = malloc(vlen);
  if (val == NULL) return SESSIO_ENOMEM;
  memcpy(val, REC_MAGIC, 4);
  put64(val + 4, expected + 1);
  put64(val + 12, (uint64_t)rec->expires_at);
  put64(val + 20, (uint64_t)rec->touched_at);
  val[28] = (unsigned char)ul;
  memcpy(val + REC_HDR, rec->user, ul);
  if (rec->blob_len) memcpy(val + REC_HDR + ul, rec->blob, rec->blob_len);

  char name[KEYNAME_MAX + 1], exp[8], nowb[24], ttl[24];
  size_t nl = keyname(rs, 's', key->b, SESSIO_KEY_BYTES, name);
  put64((unsigned char *)exp, expected);
  int nowl = snprintf(nowb, sizeof nowb, "%" PRId64, now);
  int ttll =
      snprintf(ttl, sizeof ttl, "%" PRId64, ttl_ms(rs, rec->expires_at, now));
  const char *args[4] = {exp, nowb, (const char *)val, ttl};
  size_t alens[4] = {expected ? 8 : 0, (size_t)nowl, vlen, (size_t)ttll};
  redisReply *r;
  sessio_err rc;
  if (expected == 0) {
    /* Creating: a plain SET NX is enough when the key is absent (nearly
     * always: keys are random). When anything is there, live or dead, the
     * script decides. */
    const char *argv[6] = {"SET", name, (const char *)val, "PX", ttl, "NX"};
    size_t lens[6] = {3, nl, vlen, 2, (size_t)ttll, 2};
    rc = sessio__rc_command(rs, name, nl, 6, argv, lens, &r);
    if (rc != SESSIO_OK) {
      free(val);
      return rc;
    }
    int created = r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    if (created) {
      free(val);
      *new_version = 1;
      return SESSIO_OK;
    }
  }
  rc = sessio__rc_eval(rs, RC_S_SAVE, name, nl, 4, args, alens, &r);
  free(val);
  if (rc != SESSIO_OK) return rc;
  long long res = int_reply(r, -2);
  freeReplyObject(r);
  if (res == 1) {
    *new_version = expected + 1;
    if (rs->max_sessions && expected) live_update(rs, key, &rec->expires_at);
    return SESSIO_OK;
  }
  return res == 0 ? SESSIO_ECONFLICT : res == -1 ? SESSIO_ECORRUPT : SESSIO_EIO;
}

sessio_err sessio__rc_touch(sessio_store *st, const sessio_key *key,
                            int64_t touched_at, int64_t expires_at, int64_t now,
                            int *found) {
  rc_store *rs = (rc_store *)st;
  char name[KEYNAME_MAX + 1], nowb[24], ttl[24];
  unsigned char times[16];
  size_t nl = keyname(rs, 's', key->b, SESSIO_KEY_BYTES, name);
  *found = 0;
  put64(times, (uint64_t)expires_at);
  put64(times + 8, (uint64_t)touched_at);
  int nowl = snprintf(nowb, sizeof nowb, "%" PRId64, now);
  int ttll = snprintf(ttl, sizeof ttl, "%" PRId64, ttl_ms(rs, expires_at, now));
  const char *args[3] = {nowb, (const char *)times, ttl};
  size_t alens[3] = {(size_t)nowl, 16, (size_t)ttll};
  redisReply *r;
  sessio_err rc = sessio__rc_eval(rs, RC_S_TOUCH, name, nl, 3, args, alens, &r);
  if (rc != SESSIO_OK) return rc;
  long long res = int_reply(r, -2);
  freeReplyObject(r);
  if (res == 1) {
    *found = 1;
    if (rs->max_sessions) live_update(rs, key, &expires_at);
  }
  return res >= 0 ? SESSIO_OK : res == -1 ? SESSIO_ECORRUPT : SESSIO_EIO;
}

sessio_err sessio__rc_remove(sessio_store *st, const sessio_key *key,
                             int64_t now, int *removed) {
  rc_store *rs = (rc_store *)st;
  (void)now; /* DEL, live or dead */
  char name[KEYNAME_MAX + 1];
  size_t nl = keyname(rs, 's', key->b, SESSIO_KEY_BYTES, name);
  const char *argv[2] = {"DEL", name};
  size_t lens[2] = {3, nl};
  redisReply *r;
  *removed = 0;
  sessio_err rc = sessio__rc_command(rs, name, nl, 2, argv, lens, &r);
  if (rc != SESSIO_OK) return rc;
  long long res = int_reply(r, -1);
  freeReplyObject(r);
  if (res < 0) return SESSIO_EIO;
  *removed = res > 0;
  if (rs->max_sessions) live_update(rs, key, NULL);
  return SESSIO_OK;
}

sessio_err sessio__rc_user_add(sessio_store *st, const char *user,
                               const sessio_key *key, int64_t expires_at,
                               int64_t now) {
  rc_store *rs = (rc_store *)st;
  char name[KEYNAME_MAX + 1], score[24], ttl[24];
  size_t nl = keyname(rs, 'u', (const unsigned char *)user, strlen(user), name);
  int sl = snprintf(score, sizeof score, "%" PRId64, expires_at);
  int tl = snprintf(ttl, sizeof ttl, "%" PRId64, ttl_ms(rs, expires_at, now));
  const char *args[3] = {score, (const char *)key->b, ttl};
  size_t alens[3] = {(size_t)sl, SESSIO_KEY_BYTES, (size_t)tl};
  redisReply *r;
  sessio_err rc = sessio__rc_eval(rs, RC_S_UADD, name, nl, 3, args, alens, &r);
  if (rc == SESSIO_OK) freeReplyObject(r);
  return rc;
}

sessio_err sessio__rc_user_list(sessio_store *st, const char *user, int64_t now,
                                sessio_key **keys, size_t *n) {
  rc_store *rs = (rc_store *)st;
  char name[KEYNAME_MAX + 1], nowb[24];
  size_t nl = keyname(rs, 'u', (const unsigned char *)user, strlen(user), name);
  int nowl = snprintf(nowb, sizeof nowb, "%" PRId64, now);
  const char *args[1] = {nowb};
  size_t alens[1] = {(size_t)nowl};
  redisReply *r;
  sessio_err rc = sessio__rc_eval(rs, RC_S_ULIST, name, nl, 1, args, alens, &r);
  if (rc != SESSIO_OK) return rc;
  if (r->type != REDIS_REPLY_ARRAY) {
    rc = SESSIO_EIO;
    goto done;
  }
  if (r->elements == 0) goto done;
  sessio_key *out = malloc(r->elements * sizeof *out);
  if (out == NULL) {
    rc = SESSIO_ENOMEM;
    goto done;
  }
  size_t m = 0;
  for (size_t i = 0; i < r->elements; i++) {
    redisReply *e = r->element[i];
    if (e->type == REDIS_REPLY_STRING && e->len == SESSIO_KEY_BYTES)
      memcpy(out[m++].b, e->str, SESSIO_KEY_BYTES);
  }
  if (m == 0) {
    free(out);
    goto done;
  }
  *keys = out;
  *n = m;
done:
  freeReplyObject(r);
  return rc;
}

sessio_err sessio__rc_user_remove(sessio_store *st, const char *user,
                                  const sessio_key *key) {
  rc_store *rs = (rc_store *)st;
  char name[KEYNAME_MAX + 1];
  size_t nl = keyname(rs, 'u', (const unsigned char *)user, strlen(user), name);
  const char *argv[3] = {"ZREM", name, (const char *)key->b};
  size_t lens[3] = {4, nl, SESSIO_KEY_BYTES};
  redisReply *r;
  sessio_err rc = sessio__rc_command(rs, name, nl, 3, argv, lens, &r);
  if (rc == SESSIO_OK) freeReplyObject(r);
  return rc;
}

/* The gc script's answer for the record 'name': 1 when it removed it,
 * reported to collect's callback with the user of its header. */
static int gc_removed(rc_store *rs, const char *name, const redisReply *r) {
  sessio_key k;
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
      r->element[0]->type != REDIS_REPLY_INTEGER || r->element[0]->integer != 1)
    return 0;
  if (rs->gc_cb != NULL && parse_keyname(rs, name, strlen(name), &k) == 's') {
    char user[SESSIO_USER_MAX + 1] = "";
    const redisReply *u = r->element[1];
    if (u->type == REDIS_REPLY_STRING && u->len <= SESSIO_USER_MAX &&
        memchr(u->str, '\0', u->len) == NULL) {
      memcpy(user, u->str, u->len);
      user[u->len] = '\0';
    }
    rs->gc_cb(rs->gc_ud, &k, user);
  }
  return 1;
}

/* Examines one scanned key for gc: a dead record is deleted (atomically
 * with its expiry check), a user index loses its dead pairs. */
static sessio_err gc_one(rc_store *rs, const char *name, int64_t now,
                         size_t *removed) {
  sessio_key k;
  size_t nl = strlen(name);
  char kind = parse_keyname(rs, name, nl, &k);
  char nowb[24];
  int nowl = snprintf(nowb, sizeof nowb, "%" PRId64, now);
  redisReply *r;
  sessio_err rc = SESSIO_OK;
  if (kind == 's') {
    const char *args[1] = {nowb};
    size_t alens[1] = {(size_t)nowl};
    rc = sessio__rc_eval(rs, RC_S_GC, name, nl, 1, args, alens, &r);
    if (rc == SESSIO_OK) {
      if (gc_removed(rs, name, r)) (*removed)++;
      freeReplyObject(r);
    }
  } else if (kind == 'u') {
    const char *argv[4] = {"ZREMRANGEBYSCORE", name, "-inf", nowb};
    size_t lens[4] = {16, nl, 4, (size_t)nowl};
    rc = sessio__rc_command(rs, name, nl, 4, argv, lens, &r);
    if (rc == SESSIO_OK) freeReplyObject(r);
  }
  return rc;
}

/* gc_one for 'n' keys scanned on 'from', their commands pipelined there.
 * A key whose answer is an error (NOSCRIPT, MOVED after a topology change)
 * is done again by gc_one, which handles those. */
#define GC_BATCH 128

static sessio_err gc_batch(rc_store *rs, rc_pool *from, char **keys, size_t n,
                           int64_t now, size_t *removed) {
  sessio_err rc = SESSIO_OK;
  if (from == NULL || n < 2) {
    for (size_t i = 0; i < n && rc == SESSIO_OK; i++)
      rc = gc_one(rs, keys[i], now, removed);
    return rc;
  }
  const char *gc_sha;
  rc = sessio__rc_script_sha(rs, RC_S_GC, keys[0], strlen(keys[0]), &gc_sha);
  if (rc != SESSIO_OK) return rc;
  char nowb[24];
  size_t nowl = (size_t)snprintf(nowb, sizeof nowb, "%" PRId64, now);
  int argcs[GC_BATCH];
  const char *argvs[GC_BATCH][5];
  size_t lens[GC_BATCH][5];
  const char *const *av[GC_BATCH];
  const size_t *lv[GC_BATCH];
  size_t idx[GC_BATCH], m = 0;
  redisReply *replies[GC_BATCH];
  for (size_t i = 0; i < n && i < GC_BATCH; i++) {
    sessio_key k;
    size_t nl = strlen(keys[i]);
    char kind = parse_keyname(rs, keys[i], nl, &k);
    if (kind == 's') {
      const char *a[5] = {"EVALSHA", gc_sha, "1", keys[i], nowb};
      size_t l[5] = {7, 40, 1, nl, nowl};
      memcpy(argvs[m], a, sizeof a);
      memcpy(lens[m], l, sizeof l);
      argcs[m] = 5;
    } else if (kind == 'u') {
      const char *a[4] = {"ZREMRANGEBYSCORE", keys[i], "-inf", nowb};
      size_t l[4] = {16, nl, 4, nowl};
      memcpy(argvs[m], a, sizeof a);
      memcpy(lens[m], l, sizeof l);
      argcs[m] = 4;
    } else {
      continue; /* not ours: examined, nothing to do */
    }
    av[m] = argvs[m];
    lv[m] = lens[m];
    idx[m++] = i;
  }
  if (m == 0) return SESSIO_OK;
  rc = sessio__rc_pool_pipeline(from, m, argcs, av, lv, replies);
  if (rc != SESSIO_OK) return rc;
  for (size_t j = 0; j < m; j++) {
    redisReply *r = replies[j];
    if (r->type == REDIS_REPLY_ERROR) {
      if (rc == SESSIO_OK) rc = gc_one(rs, keys[idx[j]], now, removed);
    } else if (argcs[j] == 5 && gc_removed(rs, keys[idx[j]], r)) {
      (*removed)++;
    }
    freeReplyObject(r);
  }
  return rc;
}

/* Redis drops a record by itself grace_ms after its expiry (its PEXPIRE):
 * collect reports only the dead records it finds and deletes before that,
 * never those Redis dropped first (see docs/OPERATIONS.md). */
sessio_err sessio__rc_collect(sessio_store *st, int64_t now, size_t max_work,
                              sessio_store_collect_fn cb, void *ud,
                              size_t *removed, int *done) {
  rc_store *rs = (rc_store *)st;
  char pattern[RC_PREFIX_MAX + 3];
  snprintf(pattern, sizeof pattern, "%s:*", rs->prefix);
  sessio_err rc = SESSIO_OK;
  size_t work = 0, rem = 0;
  pthread_mutex_lock(&rs->gc_mu);
  rs->gc_cb = cb;
  rs->gc_ud = ud;
  while (work < max_work) {
    if (rs->gc_i < rs->gc_n) {
      size_t k = rs->gc_n - rs->gc_i;
      if (k > max_work - work) k = max_work - work;
      if (k > GC_BATCH) k = GC_BATCH;
      work += k;
      rc = gc_batch(rs, rs->gc_from, rs->gc_keys + rs->gc_i, k, now, &rem);
      rs->gc_i += k;
      if (rc != SESSIO_OK) break;
      continue;
    }
    free_keys(rs->gc_keys, rs->gc_n);
    rs->gc_keys = NULL;
    rs->gc_n = rs->gc_i = 0;
    if (rs->gc_wrapped) { /* the batch just finished ended a pass */
      rs->gc_wrapped = 0;
      *done = 1;
      break;
    }
    char **keys = NULL;
    size_t n = 0;
    int wrapped = 0;
    rc = rs->ops->scan(rs, &rs->gc_cur, pattern, max_work - work, &keys, &n,
                       &wrapped, &rs->gc_from);
    if (rc != SESSIO_OK) break;
    rs->gc_keys = keys;
    rs->gc_n = n;
    rs->gc_wrapped = wrapped;
    if (n == 0 && !wrapped) work++; /* an empty step still costs a unit */
  }
  rs->gc_cb = NULL;
  rs->gc_ud = NULL;
  pthread_mutex_unlock(&rs->gc_mu);
  *removed += rem;
  return rc;
}

sessio_err sessio__rc_gc(sessio_store *st, int64_t now, size_t max_work,
                         size_t *removed, int *done) {
  return sessio__rc_collect(st, now, max_work, NULL, NULL, removed, done);
}

/* Loads each session record named in 'keys' (of one SCAN step) as of
 * 'now' and calls 'cb' on it. With 'stop' set, a non-zero return of 'cb'
 * sets '*stop' and ends the walk; with 'stop' NULL every record of the step
 * is visited (scan's cursor moves past the whole step). Index keys are
 * passed over, a record that cannot be read is skipped. */
static sessio_err visit_keys(rc_store *rs, char **keys, size_t n, int64_t now,
                             sessio_store_iter_fn cb, void *ud, int *stop) {
  sessio_err rc = SESSIO_OK;
  for (size_t i = 0; i < n && !(stop && *stop) && rc == SESSIO_OK; i++) {
    sessio_key k;
    sessio_record rec;
    int found = 0;
    size_t nl = strlen(keys[i]);
    if (parse_keyname(rs, keys[i], nl, &k) != 's') continue;
    memset(&rec, 0, sizeof rec);
    rc = load_named(rs, keys[i], nl, now, &rec, &found);
    if (rc == SESSIO_ECORRUPT) rc = SESSIO_OK; /* skip what cannot be read */
    if (rc == SESSIO_OK && found && cb(ud, &k, &rec) != 0 && stop) *stop = 1;
    free(rec.blob);
  }
  return rc;
}

sessio_err sessio__rc_iterate(sessio_store *st, int64_t now,
                              sessio_store_iter_fn cb, void *ud) {
  rc_store *rs = (rc_store *)st;
  char pattern[RC_PREFIX_MAX + 8];
  snprintf(pattern, sizeof pattern, "%s:s:*", rs->prefix);
  rc_cursor cur;
  memset(&cur, 0, sizeof cur);
  sessio_err rc = SESSIO_OK;
  int wrapped = 0, stop = 0;
  while (!wrapped && !stop && rc == SESSIO_OK) {
    char **keys = NULL;
    size_t n = 0;
    rc_pool *from;
    rc = rs->ops->scan(rs, &cur, pattern, 200, &keys, &n, &wrapped, &from);
    if (rc == SESSIO_OK) rc = visit_keys(rs, keys, n, now, cb, ud, &stop);
    free_keys(keys, n);
  }
  return rc;
}

/* Scan cursor: "NODE CURSOR", the server (cluster: index among the masters)
 * and its SCAN cursor. One SCAN step per call, COUNT 'max_work' (a hint:
 * Redis may return a few more or fewer). Dead records are not seen: Redis
 * drops them itself (their TTL, set with PEXPIRE). */
/* One SCAN step of the walks below over the keys "PREFIX:KIND:*", from
 * the text cursor "NODE CURSOR": '*keys' and '*n' are the caller's to
 * free_keys(); '*next' is the cursor to store with scan_advance() once the
 * keys are visited. */
typedef struct scan_step {
  rc_cursor next;
  int wrapped;
} scan_step;

static sessio_err scan_keys(rc_store *rs, const sessio_store_cursor *cursor,
                            char kind, size_t max_work, char ***keys, size_t *n,
                            scan_step *step) {
  char pattern[RC_PREFIX_MAX + 8];
  unsigned long long node = 0, c = 0;
  rc_pool *from;
  *keys = NULL;
  *n = 0;
  if (cursor->text[0] && sscanf(cursor->text, "%llu %llu", &node, &c) != 2)
    return SESSIO_EINVAL;
  step->next.node = (size_t)node;
  step->next.cur = c;
  step->wrapped = 0;
  snprintf(pattern, sizeof pattern, "%s:%c:*", rs->prefix, kind);
  return rs->ops->scan(rs, &step->next, pattern, max_work ? max_work : 1, keys,
                       n, &step->wrapped, &from);
}

/* Stores the cursor after a step, or ends the pass. */
static void scan_advance(sessio_store_cursor *cursor, const scan_step *step,
                         int *done) {
  if (step->wrapped) {
    *done = 1;
    cursor->text[0] = '\0';
  } else {
    snprintf(cursor->text, sizeof cursor->text, "%llu %llu",
             (unsigned long long)step->next.node, step->next.cur);
  }
}

sessio_err sessio__rc_scan(sessio_store *st, sessio_store_cursor *cursor,
                           size_t max_work, sessio_store_iter_fn cb, void *ud,
                           int *done) {
  rc_store *rs = (rc_store *)st;
  char **keys;
  size_t n;
  scan_step step;
  *done = 0;
  sessio_err rc = scan_keys(rs, cursor, 's', max_work, &keys, &n, &step);
  if (rc == SESSIO_OK) rc = visit_keys(rs, keys, n, INT64_MIN, cb, ud, NULL);
  free_keys(keys, n);
  if (rc != SESSIO_OK) return rc;
  scan_advance(cursor, &step, done);
  return SESSIO_OK;
}

/* User-index cursor: "NODE CURSOR" as for scan, over the index keys. One
 * SCAN step per call; each index key found is read whole (ZRANGE with the
 * scores: a user's sessions are few). The user's name is the hex of the
 * key's hash tag. Redis drops an index key by itself when its longest-lived
 * entry is past its TTL. */
sessio_err sessio__rc_user_scan(sessio_store *st, sessio_store_cursor *cursor,
                                size_t max_work, sessio_store_user_iter_fn cb,
                                void *ud, int *done) {
  rc_store *rs = (rc_store *)st;
  char **keys;
  size_t n;
  scan_step step;
  *done = 0;
  sessio_err rc = scan_keys(rs, cursor, 'u', max_work, &keys, &n, &step);
  size_t pl = strlen(rs->prefix);
  for (size_t i = 0; i < n && rc == SESSIO_OK; i++) {
    sessio_key k;
    size_t nl = strlen(keys[i]);
    if (parse_keyname(rs, keys[i], nl, &k) != 'u') continue;
    sessio_store_user_entry e;
    memset(&e, 0, sizeof e);
    size_t ul = (nl - pl - 5) / 2;
    if (ul == 0 || !sessio__unhex(keys[i] + pl + 4, ul, (uint8_t *)e.user) ||
        memchr(e.user, '\0', ul) != NULL)
      continue; /* not a name we wrote */
    e.user[ul] = '\0';
    sessio_store_user_hash(e.user, e.user_hash);
    const char *argv[5] = {"ZRANGE", keys[i], "0", "-1", "WITHSCORES"};
    size_t lens[5] = {6, nl, 1, 2, 10};
    redisReply *r;
    rc = sessio__rc_command(rs, keys[i], nl, 5, argv, lens, &r);
    if (rc != SESSIO_OK) break;
    if (r->type == REDIS_REPLY_ARRAY) {
      for (size_t j = 0; j + 1 < r->elements; j += 2) {
        const redisReply *m = r->element[j], *sc = r->element[j + 1];
        if (m->type != REDIS_REPLY_STRING || m->len != SESSIO_KEY_BYTES)
          continue;
        memcpy(e.key.b, m->str, SESSIO_KEY_BYTES);
        e.expires_at = INT64_MIN;
        if (sc->type == REDIS_REPLY_STRING) /* RESP2: the score as text */
          e.expires_at = (int64_t)strtoll(sc->str, NULL, 10);
        (void)cb(ud, &e);
      }
    }
    freeReplyObject(r);
  }
  free_keys(keys, n);
  if (rc != SESSIO_OK) return rc;
  scan_advance(cursor, &step, done);
  return SESSIO_OK;
}
