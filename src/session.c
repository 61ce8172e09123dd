/*
 * session.c — one request's session: begin (cookie -> validated ID ->
 * store load -> liveness -> open), the data API that records operations,
 * login / regenerate / destroy / rotation, and the merge-safe commit.
 *
 * Commit never holds a lock across the request: it writes with a version
 * check (compare-and-set in the store); on a conflict it reloads the record,
 * re-applies this request's operations (data.h: set/delete last-writer-wins
 * per key, incr commutes) and retries.
 */
#include <sched.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cookie_limit.h"
#include "manager.h"

#define MAX_CANDIDATES 8 /* session cookie values tried per request */
#define MAX_RETRIES 512  /* commit attempts under contention */
#define RESERVED '_'     /* first byte of keys sessio keeps for itself */
/* The CSRF token's source in the data: 16 bytes of the CSPRNG from which
 * the token is derived (sessio__csrf_derive), or in sessions written before
 * record format 2 (and after a secret rotation, see csrf_rekey) the 32
 * bytes of the token itself. Shown as 64 hex digits either way. */
#define CSRF_KEY "_c"
#define CSRF_BYTES SESSIO__CSRF_TOKEN_BYTES
#define CSRF_SALT SESSIO__CSRF_SALT_BYTES
#define FLASH_PREFIX "_flash."
#define PT_STACK 1024 /* plaintexts up to this size open on the stack */

/* A session identity: what the ID gives. */
typedef struct ident {
  uint8_t raw[SESSIO_ID_BYTES];
  sessio_key key;
  uint8_t seal[SESSIO__SEAL_KEY_BYTES];
} ident;

/* How a replaced identity ends at commit. */
enum old_fate { OLD_NONE, OLD_KILL, OLD_MOVE };

struct sessio {
  sessio_manager *m;
  int tls;
  int64_t now; /* of begin */
  int committed;
  unsigned rejected; /* session cookie values rejected at begin (S21) */
  int token;         /* the session travels in a header, not a cookie (S30) */
  int cookie_seen;   /* the request named the session cookie */
  int drop_cookie;   /* every value under the cookie name was rejected and
                        none adopted: commit sends a deletion (S34) */
  char token_out[SESSIO_ID_LEN + 1]; /* X-Session-Token value, or "" */

  int has_id;   /* a session exists (loaded or created here) */
  int created;  /* created in this request, not yet stored */
  int followed; /* reached through a rotated ID: send the new cookie */
  ident id;
  char handle[SESSIO_HANDLE_LEN + 1];
  uint64_t version;   /* of the stored record, 0 when not stored */
  int64_t touched_at; /* of the stored record */
  sessio__meta meta;
  char user[SESSIO_USER_MAX + 1];
  int info_changed;
  int meta_changed;

  sessio__map data;      /* the data of the opened chunks (all, inline) */
  sessio__chunks chunks; /* of the loaded record, when it has chunks */
  sessio__ops ops;

  /* The stored identity this request replaces (regenerate, login,
   * rotation, destroy). */
  enum old_fate old_fate;
  int destroyed;
  ident old;
  uint64_t old_version;
  char old_user[SESSIO_USER_MAX + 1];

  char **flash; /* messages taken by sessio_flash_take, owned */
  size_t n_flash;

  char csrf[SESSIO_CSRF_LEN + 1]; /* hex of the token, or "" (none) */
  int csrf_ready;                 /* 'csrf' is up to date with 'data' */
  int login_pending; /* sessio_login called: the ID change is a login */
  int rekey;         /* loaded under a previous secret: 'old' holds those
                        keys, 'id' the same ID under the current secret */
  sessio__evq evq;   /* events of this call, delivered before it returns */

  char *cookie;     /* Set-Cookie value after commit: NULL or cookie_mem */
  char *cookie_mem; /* owned; reserved before the store is written */
  size_t cookie_cap;
  sessio__buf scratch;
};

/* Backs off after the 'attempt'-th conflict on one record: yield at first,
 * then sleep a random time that doubles up to ~1 ms, so that many writers
 * of one session make progress instead of colliding in lockstep. */
static void backoff(int attempt) {
  if (attempt < 4) {
    sched_yield();
    return;
  }
  uint32_t r = 0;
  sessio__random_fast(&r, sizeof r);
  int shift = attempt - 4 < 10 ? attempt - 4 : 10;
  struct timespec ts = {0, (long)(r % (1u << shift) + 1) * 1000L};
  nanosleep(&ts, NULL);
}

/* ---- identities ------------------------------------------------------ */

static void ident_from_raw(const sessio_manager *m, ident *id) {
  sessio__keys_derive(m->cfg.secret, m->cfg.secret_len, id->raw, &id->key,
                      id->seal);
}

static sessio_err ident_new(const sessio_manager *m, ident *id) {
  sessio_err rc = sessio__random_fast(id->raw, sizeof id->raw);
  if (rc == SESSIO_OK) ident_from_raw(m, id);
  return rc;
}

static void set_ident(sessio *s, const ident *id) {
  s->id = *id;
  sessio__handle(&s->id.key, s->handle);
}

static void csrf_sync(sessio *s);
static sessio_err csrf_rekey(sessio *s, size_t prev);

/* ---- loading --------------------------------------------------------- */

typedef struct loaded {
  ident id;
  uint64_t version;
  int64_t touched_at;
  sessio__meta meta;
  char user[SESSIO_USER_MAX + 1];
  sessio__map data;
  sessio__chunks chunks;
  int followed;
  int rekey;   /* found under a previous secret: 'id' holds its keys */
  size_t prev; /* which previous secret, when 'rekey' */
  sessio_event_reason miss; /* when not found: unknown, unreadable, or
                               expired (idle/absolute) by our own clock */
} loaded;

/* Loads and opens the live session of 'id' into '*out'. '*found' = 0 when
 * there is none: missing, dead, corrupt or forged (all logged). A MOVED
 * record (rotation grace) is followed once. */
static sessio_err load_ident(sessio_manager *m, const ident *id, int64_t now,
                             int hops, loaded *out, int *found) {
  sessio_record rec;
  /* The plaintext is opened into the stack when it fits (most sessions),
   * else into the heap; wiped either way once decoded. */
  uint8_t stack[PT_STACK];
  uint8_t *pt = stack;
  size_t pt_len = 0;
  size_t hdr;
  int ok;
  char h[SESSIO_HANDLE_LEN + 1];

  *found = 0;
  out->miss = SESSIO_REASON_UNKNOWN;
  out->chunks = (sessio__chunks)SESSIO__CHUNKS_INIT;
  sessio_err rc = sessio__store_load(m->cfg.store, &id->key, now, &rec, found);
  if (rc != SESSIO_OK || !*found) {
    if (rc == SESSIO_ECORRUPT) goto corrupt;
    return rc;
  }
  *found = 0;
  if (!sessio__record_meta(rec.blob, rec.blob_len, &out->meta, &hdr))
    goto corrupt;
  if (now >= sessio__deadline(&out->meta, rec.touched_at)) {
    /* S13/S14: expired by the server's own clock, whatever the store says.
     * Removed now so the store does not wait for its GC. */
    sessio__handle(&id->key, h);
    sessio__log(m, SESSIO_LOG_INFO, "session expired sid=%.16s", h);
    int gone = 0;
    sessio__store_remove(m->cfg.store, &id->key, now, &gone);
    if (rec.user[0])
      sessio__store_user_remove(m->cfg.store, rec.user, &id->key);
    /* The expiry is reported by the request that removed the record. */
    out->miss = !gone                           ? SESSIO_REASON_UNKNOWN
                : now >= out->meta.abs_deadline ? SESSIO_REASON_ABSOLUTE
                                                : SESSIO_REASON_IDLE;
    memcpy(out->user, rec.user, sizeof out->user);
    goto done;
  }
  /* sessio__record_meta checked that the sealed part is at least its
   * overhead long. */
  pt_len = out->meta.sealed_len - sessio__record_overhead(out->meta.format);
  if (pt_len > sizeof stack && (pt = malloc(pt_len)) == NULL) {
    pt = stack;
    pt_len = 0;
    rc = SESSIO_ENOMEM;
    goto done;
  }
  size_t body = hdr + out->meta.sealed_len; /* where format 2's chunks start */
  ok = sessio__record_open_to(rec.blob, body, hdr, rec.user, id->seal, pt);
  if (ok < 0) {
    rc = SESSIO_ENOMEM;
    goto done;
  }
  if (ok == 0) goto corrupt;
  if (out->meta.flags & SESSIO__F_MOVED) {
    if (hops > 0 || pt_len != SESSIO_ID_BYTES || body != rec.blob_len)
      goto corrupt;
    ident next;
    memcpy(next.raw, pt, SESSIO_ID_BYTES);
    ident_from_raw(m, &next);
    sessio__wipe(pt, pt_len);
    if (pt != stack) free(pt);
    sessio_record_clear(&rec);
    rc = load_ident(m, &next, now, hops + 1, out, found);
    sessio__wipe(next.raw, sizeof next.raw);
    if (*found) out->followed = 1;
    return rc;
  }
  const uint8_t *map = pt;
  size_t map_len = pt_len;
  sessio_err drc = SESSIO_OK;
  if (out->meta.chunked) {
    /* Chunked: only the directory is open; the chunks open when a key in
     * their range is first used. */
    sessio__chunks *c = &out->chunks;
    if ((c->dir = malloc(pt_len)) == NULL) {
      rc = SESSIO_ENOMEM;
      goto done;
    }
    memcpy(c->dir, pt, pt_len);
    c->dir_len = pt_len;
    ok = sessio__chunks_parse(c, c->dir, pt_len, rec.blob + body,
                              rec.blob_len - body);
    if (ok != 1) {
      sessio__chunks_free(c);
      if (ok < 0) {
        rc = SESSIO_ENOMEM;
        goto done;
      }
      goto corrupt;
    }
    c->blob = rec.blob; /* the chunks' ciphertext stays where it is */
    rec.blob = NULL;
    memcpy(c->seal, id->seal, sizeof c->seal);
    out->data = (sessio__map)SESSIO__MAP_INIT;
  } else {
    drc = sessio__map_decode(&out->data, map, map_len);
  }
  if (drc == SESSIO_ENOMEM) {
    rc = drc;
    goto done;
  }
  if (drc != SESSIO_OK) goto corrupt;
  out->id = *id;
  out->version = rec.version;
  out->touched_at = rec.touched_at;
  memcpy(out->user, rec.user, sizeof out->user);
  out->followed = 0;
  *found = 1;
  goto done;

corrupt:
  out->miss = SESSIO_REASON_UNREADABLE;
  sessio__handle(&id->key, h);
  sessio__log(m, SESSIO_LOG_WARN, "unreadable session record sid=%.16s", h);
  rc = SESSIO_OK;
done:
  sessio__wipe(pt, pt_len);
  if (pt != stack) free(pt);
  sessio_record_clear(&rec);
  return rc;
}

/* Secret rotation: looks the ID of 'l' up under each previous secret
 * after it was not found under the current one. Found, 'l' holds the
 * session with the previous secret's keys and 'rekey' set. */
static sessio_err load_previous(sessio_manager *m, int64_t now, loaded *l,
                                int *found) {
  sessio_err rc = SESSIO_OK;
  for (size_t i = 0; i < m->cfg.n_prev && !*found; i++) {
    ident prev;
    memcpy(prev.raw, l->id.raw, SESSIO_ID_BYTES);
    sessio__keys_derive(m->cfg.prev_secret[i], m->cfg.prev_len[i], prev.raw,
                        &prev.key, prev.seal);
    rc = load_ident(m, &prev, now, 1, l, found); /* no MOVED hop */
    if (rc != SESSIO_OK) break;
    if (*found) {
      l->rekey = 1;
      l->prev = i;
    }
  }
  return rc;
}

/* Takes a loaded session into the handle. */
static void adopt(sessio *s, loaded *l) {
  set_ident(s, &l->id);
  if (l->rekey) {
    /* Served now; at commit the record moves to the current secret's key
     * (commit_replace, the same ID) and the old one ends. */
    s->old = l->id;
    s->old_version = l->version;
    memcpy(s->old_user, l->user, sizeof s->old_user);
    s->old_fate = OLD_KILL;
    s->rekey = 1;
    ident cur;
    memcpy(cur.raw, l->id.raw, SESSIO_ID_BYTES);
    ident_from_raw(s->m, &cur);
    set_ident(s, &cur);
  }
  s->has_id = 1;
  s->version = l->rekey ? 0 : l->version; /* nothing under the new key yet */
  s->touched_at = l->touched_at;
  s->meta = l->meta;
  memcpy(s->user, l->user, sizeof s->user);
  sessio__map_free(&s->data);
  s->data = l->data;
  l->data = (sessio__map)SESSIO__MAP_INIT;
  sessio__chunks_free(&s->chunks);
  s->chunks = l->chunks;
  l->chunks = (sessio__chunks)SESSIO__CHUNKS_INIT;
  s->followed |= l->followed;
  csrf_sync(s);
}

/* The event of a presented ID that gave no session: expired by our own
 * clock (the record was removed), else rejected. */
static void note_miss(sessio *s, const loaded *l) {
  if (l->miss == SESSIO_REASON_IDLE || l->miss == SESSIO_REASON_ABSOLUTE)
    sessio__ev_note(s->m, &s->evq, SESSIO_EVENT_EXPIRED, l->miss, SESSIO_OK,
                    &l->id.key, l->user);
  else
    sessio__ev_note(s->m, &s->evq, SESSIO_EVENT_REJECTED, l->miss, SESSIO_OK,
                    &l->id.key, NULL);
}

/* A failure of the store (not of the caller or of memory). */
static void note_error(sessio *s, sessio_err rc) {
  if (rc == SESSIO_EUNAVAIL || rc == SESSIO_EIO || rc == SESSIO_ECORRUPT ||
      rc == SESSIO_EFULL)
    sessio__ev_note(s->m, &s->evq, SESSIO_EVENT_STORE_ERROR, SESSIO_REASON_NONE,
                    rc, s->has_id ? &s->id.key : NULL,
                    s->user[0] ? s->user : NULL);
}

/* An event of this session's current identity and user. */
static void note(sessio *s, sessio_event_kind kind) {
  sessio__ev_note(s->m, &s->evq, kind, SESSIO_REASON_NONE, SESSIO_OK,
                  &s->id.key, s->user[0] ? s->user : NULL);
}

/* The end of the replaced identity (logout). */
static void note_old_ended(sessio *s) {
  sessio__ev_note(s->m, &s->evq, SESSIO_EVENT_LOGOUT, SESSIO_REASON_NONE,
                  SESSIO_OK, &s->old.key, s->old_user[0] ? s->old_user : NULL);
}

typedef struct cands {
  const char *name;
  size_t name_len;
  uint8_t raw[MAX_CANDIDATES][SESSIO_ID_BYTES]; /* decoded IDs */
  size_t n;
  size_t invalid;
  int seen; /* the cookie name appeared, whatever its value */
} cands;

static int collect(void *ud, const char *name, size_t nlen, const char *val,
                   size_t vlen) {
  cands *c = ud;
  if (nlen != c->name_len || memcmp(name, c->name, nlen) != 0) return 0;
  c->seen = 1;
  if (c->n == MAX_CANDIDATES) return 0;
  /* Decoding validates (S7): a malformed value never reaches the store. */
  if (!sessio__id_decode(val, vlen, c->raw[c->n])) {
    c->invalid++;
    return 0;
  }
  for (size_t i = 0; i < c->n; i++)
    if (memcmp(c->raw[i], c->raw[c->n], SESSIO_ID_BYTES) == 0) return 0;
  c->n++;
  return 0;
}

sessio_err sessio_begin(sessio_manager *m, const char *const *headers, size_t n,
                        int tls, int64_t now, sessio **out) {
  return sessio_begin_token(m, headers, n, NULL, NULL, tls, now, out);
}

/* The value of "Authorization: Bearer <v>" (scheme case-insensitive, then
 * one or more spaces), trimmed of trailing blanks, or NULL for another
 * scheme or none. */
static const char *bearer(const char *auth, size_t *len) {
  if (auth == NULL || strncasecmp(auth, "Bearer", 6) != 0 ||
      (auth[6] != ' ' && auth[6] != '\t'))
    return NULL;
  auth += 6;
  while (*auth == ' ' || *auth == '\t') auth++;
  size_t n = strnlen(auth, SESSIO_ID_LEN + 64);
  while (n > 0 && (auth[n - 1] == ' ' || auth[n - 1] == '\t')) n--;
  *len = n;
  return auth;
}

sessio_err sessio_begin_token(sessio_manager *m, const char *const *headers,
                              size_t n, const char *authorization,
                              const char *transport, int tls, int64_t now,
                              sessio **out) {
  if (m == NULL || out == NULL || (n > 0 && headers == NULL))
    return SESSIO_EINVAL;
  *out = NULL;
  cands c;
  c.name = sessio_manager_cookie_name(m, tls);
  c.name_len = strlen(c.name);
  c.n = c.invalid = 0;
  c.seen = 0;
  size_t used = 0; /* bytes read across all headers (S11) */
  for (size_t i = 0; i < n && sessio__cookie_budget(used, 1) > 0; i++) {
    if (headers[i] == NULL) continue;
    size_t len = strnlen(headers[i], sessio__cookie_budget(used, SIZE_MAX));
    sessio_cookie_parse(headers[i], len, collect, &c);
    used += len;
  }
  /* S30: a bearer token is one more candidate, and never together with a
   * session cookie: which one the client meant cannot be told. */
  size_t blen = 0;
  const char *b = m->cfg.tokens ? bearer(authorization, &blen) : NULL;
  if (b != NULL && c.seen) return SESSIO_ETRANSPORT;
  if (b != NULL) {
    if (sessio__id_decode(b, blen, c.raw[0]))
      c.n = 1;
    else
      c.invalid = 1;
  }
  sessio *s = calloc(1, sizeof *s);
  if (s == NULL) return SESSIO_ENOMEM;
  s->m = m;
  s->tls = tls;
  s->now = now;
  s->cookie_seen = c.seen;
  s->token = b != NULL || (m->cfg.tokens && !c.seen && transport != NULL &&
                           strcasecmp(transport, "token") == 0);
  sessio__ev_ctx prev = sessio__ev_enter(m, &s->evq);
  s->rejected = (unsigned)c.invalid;
  for (size_t i = 0; i < c.invalid; i++)
    sessio__ev_note(m, &s->evq, SESSIO_EVENT_REJECTED, SESSIO_REASON_MALFORMED,
                    SESSIO_OK, NULL, NULL);
  if (c.invalid)
    sessio__log(m, SESSIO_LOG_INFO, "malformed session cookie ignored");

  /* S12: every well-formed value is tried, and the outcome does not depend
   * on their order: the most recently active live session wins, ties broken
   * by key. S24: live sessions of two different signed-in users in one
   * request mean someone planted a cookie (cookie tossing: plain HTTP, or a
   * sibling subdomain under a cookie Domain); adopting either could put the
   * victim's input into the attacker's session, so none is adopted. */
  sessio_err rc = SESSIO_OK;
  loaded best, cur;
  sessio_key failed_key; /* the record whose load failed: its handle goes
                            with the STORE_ERROR event (the 503's log line) */
  int have = 0, conflict = 0, have_failed = 0;
  char first_user[SESSIO_USER_MAX + 1] = "";
  memset(&best, 0, sizeof best);
  for (size_t i = 0; i < c.n; i++) {
    int found;
    memset(&cur, 0, sizeof cur);
    memcpy(cur.id.raw, c.raw[i], SESSIO_ID_BYTES);
    ident_from_raw(m, &cur.id);
    rc = load_ident(m, &cur.id, now, 0, &cur, &found);
    if (rc == SESSIO_OK && !found && cur.miss == SESSIO_REASON_UNKNOWN)
      rc = load_previous(m, now, &cur, &found);
    if (rc != SESSIO_OK) {
      failed_key = cur.id.key;
      have_failed = 1;
      break;
    }
    if (!found) {
      s->rejected++;
      note_miss(s, &cur);
      char h[SESSIO_HANDLE_LEN + 1];
      sessio__handle(&cur.id.key, h);
      sessio__log(m, SESSIO_LOG_INFO, "unknown or expired session ID sid=%.16s",
                  h);
      continue;
    }
    if ((cur.meta.flags & SESSIO__F_AUTH) && cur.user[0]) {
      if (!first_user[0])
        memcpy(first_user, cur.user, sizeof first_user);
      else if (strcmp(first_user, cur.user) != 0)
        conflict = 1;
    }
    if (!have || cur.touched_at > best.touched_at ||
        (cur.touched_at == best.touched_at &&
         memcmp(cur.id.key.b, best.id.key.b, SESSIO_KEY_BYTES) < 0)) {
      if (have) {
        sessio__map_free(&best.data);
        sessio__chunks_free(&best.chunks);
      }
      best = cur;
      have = 1;
    } else {
      sessio__map_free(&cur.data);
      sessio__chunks_free(&cur.chunks);
    }
  }
  sessio__ev_leave(prev);
  if (rc != SESSIO_OK) {
    if (have) {
      sessio__map_free(&best.data);
      sessio__chunks_free(&best.chunks);
    }
    if (have_failed && (rc == SESSIO_EUNAVAIL || rc == SESSIO_EIO ||
                        rc == SESSIO_ECORRUPT || rc == SESSIO_EFULL))
      sessio__ev_note(m, &s->evq, SESSIO_EVENT_STORE_ERROR, SESSIO_REASON_NONE,
                      rc, &failed_key, NULL);
    else
      note_error(s, rc);
    sessio__ev_fire(m, &s->evq, now);
    sessio_free(s);
    return rc;
  }
  /* S34: a browser that keeps presenting a dead ID (unknown, expired,
   * revoked, malformed) is told to drop it, so that the application says
   * "you were signed out" once. Not when any value under the name gave a
   * live session (S12, S24): that cookie may be the one a deletion hits. */
  s->drop_cookie = c.seen && !have && s->rejected > 0;
  if (conflict) {
    sessio__log(m, SESSIO_LOG_WARN,
                "session cookies of different users in one request, none "
                "adopted");
    sessio__map_free(&best.data);
    sessio__chunks_free(&best.chunks);
    have = 0;
  }
  if (have) {
    adopt(s, &best);
    if (best.rekey && (rc = csrf_rekey(s, best.prev)) != SESSIO_OK) {
      sessio__ev_fire(m, &s->evq, now);
      sessio_free(s);
      return rc;
    }
  }
  sessio__ev_fire(m, &s->evq, now);
  *out = s;
  return SESSIO_OK;
}

void sessio_free(sessio *s) {
  if (s == NULL) return;
  sessio__map_free(&s->data);
  sessio__chunks_free(&s->chunks);
  sessio__ops_free(&s->ops);
  for (size_t i = 0; i < s->n_flash; i++) free(s->flash[i]);
  free(s->flash);
  free(s->cookie_mem);
  sessio__buf_free(&s->scratch);
  sessio__ev_free(&s->evq);
  free(s);
}

/* ---- creation -------------------------------------------------------- */

/* ---- chunks of the loaded record ------------------------------------- */

/* A chunked record (record.h) is opened a chunk at a time: the map holds
 * the entries of the chunks opened so far, and every access to a key first
 * opens the chunk whose range holds it. A write marks that chunk dirty:
 * commit seals the dirty chunks anew and copies the others as they were.
 * Getters take a const handle and may open a chunk: the handle belongs to
 * one thread at a time (sessio.h), so that is safe. */

static sessio_err chunk_open(sessio_manager *m, sessio__map *data,
                             sessio__chunks *c, size_t i, int dirty) {
  if (!c->v[i].open) {
    int ok = sessio__chunks_open(c, i, data);
    if (ok < 0) return SESSIO_ENOMEM;
    if (ok == 0) {
      sessio__log(m, SESSIO_LOG_WARN,
                  "unreadable chunk %zu of a session "
                  "record",
                  i);
      return SESSIO_ECORRUPT;
    }
  }
  if (dirty) c->v[i].dirty = 1;
  return SESSIO_OK;
}

/* The chunk that holds 'key'. */
static sessio_err chunk_need(sessio_manager *m, sessio__map *data,
                             sessio__chunks *c, const char *key, size_t klen,
                             int dirty) {
  if (c->n == 0) return SESSIO_OK;
  return chunk_open(m, data, c, sessio__chunks_find(c, key, klen), dirty);
}

/* The chunks that may hold keys starting with 'prefix' ("": all). */
static sessio_err chunk_need_prefix(sessio_manager *m, sessio__map *data,
                                    sessio__chunks *c, const char *prefix,
                                    size_t plen, int dirty) {
  if (c->n == 0) return SESSIO_OK;
  size_t i = sessio__chunks_find(c, prefix, plen);
  sessio_err rc = chunk_open(m, data, c, i, dirty);
  /* A later chunk can hold such keys only when its first key has the
   * prefix: a first key without it is greater than all of them. */
  for (i++; rc == SESSIO_OK && i < c->n; i++) {
    const sessio__chunk *k = &c->v[i];
    if (k->first_len < plen || memcmp(k->first, prefix, plen) != 0) break;
    rc = chunk_open(m, data, c, i, dirty);
  }
  return rc;
}

/* Every chunk the operations of 'ops' touch, marked dirty (a replay after
 * a conflict changes exactly those). */
static sessio_err chunk_need_ops(sessio_manager *m, sessio__map *data,
                                 sessio__chunks *c, const sessio__ops *ops) {
  sessio_err rc = SESSIO_OK;
  for (size_t i = 0; rc == SESSIO_OK && i < ops->n; i++) {
    const sessio__op *op = &ops->v[i];
    rc = op->kind == SESSIO__OP_DEL_PREFIX
             ? chunk_need_prefix(m, data, c, op->key, op->key_len, 1)
             : chunk_need(m, data, c, op->key, op->key_len, 1);
  }
  return rc;
}

static sessio_err need(const sessio *cs, const char *key, size_t klen,
                       int dirty) {
  sessio *s = (sessio *)cs;
  return chunk_need(s->m, &s->data, &s->chunks, key, klen, dirty);
}

static sessio_err need_prefix(const sessio *cs, const char *prefix, size_t plen,
                              int dirty) {
  sessio *s = (sessio *)cs;
  return chunk_need_prefix(s->m, &s->data, &s->chunks, prefix, plen, dirty);
}

/* The encoded size of all the data, opened or not (the limits). */
static size_t data_size(const sessio *s) {
  return sessio__map_encoded_size(&s->data) + s->chunks.closed;
}

/* The token as 'secret' ('len' bytes) gives it from the data's CSRF_KEY
 * entry into 'token'; 0 when the data holds none. */
static int csrf_of(const sessio__map *data, const uint8_t *secret, size_t len,
                   uint8_t token[CSRF_BYTES]) {
  const sessio__entry *e = sessio__map_get(data, CSRF_KEY, sizeof CSRF_KEY - 1);
  if (e == NULL || e->type != SESSIO_T_BYTES) return 0;
  if (e->len == CSRF_SALT) {
    sessio__csrf_derive(secret, len, e->bytes, token);
    return 1;
  }
  if (e->len != CSRF_BYTES) return 0;
  memcpy(token, e->bytes, CSRF_BYTES);
  return 1;
}

/* Called whenever the data may have changed the token: the hex form is
 * derived again when it is next asked for (most requests never ask, so
 * begin does not pay for the hash). */
static void csrf_sync(sessio *s) {
  s->csrf_ready = 0;
  s->csrf[0] = '\0';
}

/* The hex form of the token, derived on first use. The handle belongs to
 * one thread at a time (sessio.h), so the cache may be filled from the
 * const getters. */
static const char *csrf_hex(const sessio *cs) {
  sessio *s = (sessio *)cs;
  if (!s->csrf_ready) {
    uint8_t token[CSRF_BYTES];
    const struct sessio_config *cfg = &s->m->cfg;
    if (need(s, CSRF_KEY, sizeof CSRF_KEY - 1, 0) == SESSIO_OK &&
        csrf_of(&s->data, cfg->secret, cfg->secret_len, token))
      sessio__hex(token, CSRF_BYTES, s->csrf);
    else
      s->csrf[0] = '\0';
    sessio__wipe(token, sizeof token);
    s->csrf_ready = 1;
  }
  return s->csrf[0] ? s->csrf : NULL;
}

/* Sets 'key' in the handle's data and, when 'log' is set, records the
 * operation for the merge at commit: all or nothing, so that a call that
 * fails (out of memory) leaves the data and the log as they were. Every
 * allocation comes first; the data changes only once none can fail. */
static sessio_err data_set(sessio *s, int log, const char *key, size_t klen,
                           sessio_type type, const void *val, size_t len,
                           int64_t ival) {
  sessio__entry e;
  sessio_err rc = need(s, key, klen, 1);
  if (rc != SESSIO_OK) return rc;
  rc = sessio__map_set_prepare(&s->data, key, klen, type, val, len, ival, &e);
  if (rc != SESSIO_OK) return rc;
  if (log && (rc = sessio__ops_push(&s->ops, SESSIO__OP_SET, key, klen, type,
                                    val, len, ival)) != SESSIO_OK) {
    sessio__map_set_drop(&e);
    return rc;
  }
  sessio__map_set_apply(&s->data, &e);
  return SESSIO_OK;
}

/* A session found under a previous secret (S32) keeps the token its pages
 * carry: the salt form would give another token under the current secret,
 * so the token that secret derived is stored whole instead (logged, so a
 * merge at commit keeps it). */
static sessio_err csrf_rekey(sessio *s, size_t prev) {
  const struct sessio_config *cfg = &s->m->cfg;
  sessio_err nrc = need(s, CSRF_KEY, sizeof CSRF_KEY - 1, 0);
  if (nrc != SESSIO_OK) return nrc;
  const sessio__entry *e =
      sessio__map_get(&s->data, CSRF_KEY, sizeof CSRF_KEY - 1);
  uint8_t token[CSRF_BYTES];
  if (e == NULL || e->type != SESSIO_T_BYTES || e->len != CSRF_SALT)
    return SESSIO_OK;
  sessio__csrf_derive(cfg->prev_secret[prev], cfg->prev_len[prev], e->bytes,
                      token);
  sessio_err rc = data_set(s, 1, CSRF_KEY, sizeof CSRF_KEY - 1, SESSIO_T_BYTES,
                           token, sizeof token, 0);
  sessio__wipe(token, sizeof token);
  if (rc == SESSIO_OK) csrf_sync(s);
  return rc;
}

/* A new token: a new salt (S19: 128 bits of the CSPRNG). */
static sessio_err new_csrf(sessio *s) {
  uint8_t raw[CSRF_SALT];
  sessio_err rc = sessio__random_fast(raw, sizeof raw);
  if (rc == SESSIO_OK)
    rc = data_set(s, !s->created, CSRF_KEY, sizeof CSRF_KEY - 1, SESSIO_T_BYTES,
                  raw, sizeof raw, 0);
  if (rc == SESSIO_OK) csrf_sync(s);
  return rc;
}

/* Makes the anonymous handle a new session (first data set). S5: the ID is
 * always minted here, never taken from the client. */
static sessio_err ensure_session(sessio *s) {
  if (s->committed) return SESSIO_ESTATE;
  if (s->has_id) return SESSIO_OK;
  ident id;
  sessio_err rc = ident_new(s->m, &id);
  if (rc != SESSIO_OK) return rc;
  const struct sessio_config *cfg = &s->m->cfg;
  char info[SESSIO_LABEL_MAX + 1];
  memcpy(info, s->meta.info, sizeof info); /* a label set before creation */
  memset(&s->meta, 0, sizeof s->meta);
  memcpy(s->meta.info, info, sizeof info);
  s->meta.created_at = s->now;
  s->meta.rotated_at = s->now;
  s->meta.idle_ms = cfg->idle_ms;
  s->meta.abs_deadline = s->now + cfg->absolute_ms;
  s->user[0] = '\0';
  s->version = 0;
  s->touched_at = s->now;
  sessio__map_free(&s->data);
  sessio__chunks_free(&s->chunks);
  sessio__ops_free(&s->ops);
  s->created = 1;
  rc = new_csrf(s);
  if (rc != SESSIO_OK) {
    sessio__map_free(&s->data);
    s->created = 0;
    return rc;
  }
  set_ident(s, &id);
  s->has_id = 1;
  return SESSIO_OK;
}

/* Undoes ensure_session() when the call that made the session failed: a
 * failed call leaves an anonymous handle anonymous. */
static void unmake_session(sessio *s) {
  sessio__map_free(&s->data);
  sessio__chunks_free(&s->chunks);
  sessio__ops_free(&s->ops);
  s->created = 0;
  s->has_id = 0;
  s->csrf[0] = '\0';
}

/* ---- metadata -------------------------------------------------------- */

int sessio_exists(const sessio *s) { return s && s->has_id; }
int sessio_is_new(const sessio *s) { return s && s->has_id && s->created; }
unsigned sessio_rejected_ids(const sessio *s) { return s ? s->rejected : 0; }

const char *sessio_handle(const sessio *s) {
  return s && s->has_id ? s->handle : NULL;
}

int64_t sessio_created_at(const sessio *s) {
  return s && s->has_id ? s->meta.created_at : 0;
}
int64_t sessio_last_seen(const sessio *s) {
  return s && s->has_id ? s->touched_at : 0;
}
int64_t sessio_expires_at(const sessio *s) {
  return s && s->has_id ? sessio__deadline(&s->meta, s->touched_at) : 0;
}

sessio_err sessio_set_label(sessio *s, const char *info) {
  if (s == NULL || info == NULL) return SESSIO_EINVAL;
  if (s->committed) return SESSIO_ESTATE;
  size_t n = strnlen(info, SESSIO_LABEL_MAX + 1);
  if (n > SESSIO_LABEL_MAX) {
    n = SESSIO_LABEL_MAX;
    while (n > 0 && ((unsigned char)info[n] & 0xC0) == 0x80) n--; /* UTF-8 */
  }
  if (strlen(s->meta.info) == n && memcmp(s->meta.info, info, n) == 0)
    return SESSIO_OK;
  memcpy(s->meta.info, info, n);
  s->meta.info[n] = '\0';
  s->info_changed = 1;
  return SESSIO_OK;
}

const char *sessio_label(const sessio *s) { return s ? s->meta.info : ""; }

/* ---- data ------------------------------------------------------------ */

/* SESSIO_OK for a valid user key: 1..max_key printable ASCII bytes, not
 * starting with the reserved '_'. Reads at most max_key + 1 bytes. */
static sessio_err check_key(const sessio *s, const char *key, size_t *len) {
  if (key == NULL || *key == '\0' || *key == RESERVED) return SESSIO_EINVAL;
  size_t n = 0;
  for (; key[n]; n++) {
    unsigned char c = (unsigned char)key[n];
    if (n >= s->m->cfg.max_key) return SESSIO_ETOOBIG;
    if (c < 0x21 || c > 0x7e) return SESSIO_EINVAL;
  }
  *len = n;
  return SESSIO_OK;
}

/* Encoded size of one entry, per data.h's format (a bound is enough). */
static size_t entry_size(size_t key_len, sessio_type t, size_t len) {
  size_t v = (t == SESSIO_T_STR || t == SESSIO_T_BYTES) ? 10 + len
             : t == SESSIO_T_BOOL                       ? 1
                                                        : 10;
  return 1 + 10 + key_len + v;
}

static sessio_err set_value(sessio *s, const char *key, sessio_type type,
                            const void *val, size_t len, int64_t ival) {
  size_t klen;
  if (s == NULL) return SESSIO_EINVAL;
  if (s->committed) return SESSIO_ESTATE;
  sessio_err rc = check_key(s, key, &klen);
  if (rc != SESSIO_OK) return rc;
  if (len > s->m->cfg.max_value) return SESSIO_ETOOBIG;
  if (s->has_id && (rc = need(s, key, klen, 1)) != SESSIO_OK) return rc;
  size_t total = s->has_id ? data_size(s) : 0;
  const sessio__entry *old = s->has_id ? sessio__map_get(&s->data, key, klen)
                                       : NULL;
  size_t sub = old ? entry_size(klen, old->type, old->len) : 0;
  if (total - (sub < total ? sub : total) + entry_size(klen, type, len) >
      s->m->cfg.max_total)
    return SESSIO_ETOOBIG;
  int had = s->has_id;
  rc = ensure_session(s);
  if (rc != SESSIO_OK) return rc;
  rc = data_set(s, 1, key, klen, type, val, len, ival);
  if (rc != SESSIO_OK && !had) unmake_session(s);
  return rc;
}

sessio_err sessio_set_str(sessio *s, const char *key, const char *val) {
  if (val == NULL) return SESSIO_EINVAL;
  return sessio_set_strn(s, key, val, strlen(val));
}

sessio_err sessio_set_strn(sessio *s, const char *key, const char *val,
                           size_t len) {
  if (val == NULL || memchr(val, '\0', len) != NULL) return SESSIO_EINVAL;
  return set_value(s, key, SESSIO_T_STR, val, len, 0);
}

sessio_err sessio_set_int(sessio *s, const char *key, int64_t val) {
  return set_value(s, key, SESSIO_T_INT, NULL, 0, val);
}

sessio_err sessio_set_bool(sessio *s, const char *key, int val) {
  return set_value(s, key, SESSIO_T_BOOL, NULL, 0, val ? 1 : 0);
}

sessio_err sessio_set_bytes(sessio *s, const char *key, const void *val,
                            size_t len) {
  if (val == NULL && len > 0) return SESSIO_EINVAL;
  return set_value(s, key, SESSIO_T_BYTES, val ? val : "", len, 0);
}

sessio_err sessio_delete(sessio *s, const char *key) {
  size_t klen;
  if (s == NULL) return SESSIO_EINVAL;
  if (s->committed) return SESSIO_ESTATE;
  sessio_err rc = check_key(s, key, &klen);
  if (rc != SESSIO_OK) return rc;
  if (!s->has_id) return SESSIO_OK;
  if ((rc = need(s, key, klen, 1)) != SESSIO_OK) return rc;
  if (sessio__map_get(&s->data, key, klen) == NULL) return SESSIO_OK;
  rc = sessio__ops_push(&s->ops, SESSIO__OP_DEL, key, klen, SESSIO_T_NONE, NULL,
                        0, 0);
  if (rc == SESSIO_OK) sessio__map_delete(&s->data, key, klen);
  return rc;
}

/* A copy of an operation log, made by pushing its operations again (a log
 * is kept compacted, so this gives the same log); 'dst' is left empty on
 * failure. */
static sessio_err ops_copy(const sessio__ops *src, sessio__ops *dst) {
  sessio_err rc = SESSIO_OK;
  for (size_t i = 0; rc == SESSIO_OK && i < src->n; i++) {
    const sessio__op *op = &src->v[i];
    rc = sessio__ops_push(dst, op->kind, op->key, op->key_len, op->type,
                          op->bytes, op->len, op->ival);
  }
  if (rc != SESSIO_OK) sessio__ops_free(dst);
  return rc;
}

sessio_err sessio_delete_prefix(sessio *s, const char *prefix) {
  if (s == NULL || prefix == NULL || *prefix == RESERVED) return SESSIO_EINVAL;
  if (s->committed) return SESSIO_ESTATE;
  if (!s->has_id) return SESSIO_OK;
  size_t plen = strlen(prefix), lo, hi;
  sessio_err nrc = need_prefix(s, prefix, plen, 1);
  if (nrc != SESSIO_OK) return nrc;
  sessio__map_prefix(&s->data, prefix, plen, &lo, &hi);
  /* With the empty prefix, reserved keys (CSRF, flash) stay. */
  size_t user_keys = 0;
  for (size_t i = lo; i < hi; i++)
    if (s->data.v[i].key[0] != RESERVED) user_keys++;
  if (user_keys == 0) return SESSIO_OK;
  if (plen == 0) {
    /* Delete user keys one by one so reserved keys survive. The DELs go to
     * a copy of the log, which replaces it once all are in: a failure
     * half way changes nothing. */
    sessio__ops log = SESSIO__OPS_INIT;
    sessio_err rc = ops_copy(&s->ops, &log);
    for (size_t i = 0; rc == SESSIO_OK && i < s->data.n; i++) {
      const sessio__entry *e = &s->data.v[i];
      if (e->key[0] != RESERVED)
        rc = sessio__ops_push(&log, SESSIO__OP_DEL, e->key, e->key_len,
                              SESSIO_T_NONE, NULL, 0, 0);
    }
    if (rc != SESSIO_OK) {
      sessio__ops_free(&log);
      return rc;
    }
    sessio__ops_free(&s->ops);
    s->ops = log;
    for (size_t i = s->data.n; i-- > 0;) {
      sessio__entry *e = &s->data.v[i];
      if (e->key[0] != RESERVED)
        sessio__map_delete(&s->data, e->key, e->key_len);
    }
    return SESSIO_OK;
  }
  sessio_err rc = sessio__ops_push(&s->ops, SESSIO__OP_DEL_PREFIX, prefix, plen,
                                   SESSIO_T_NONE, NULL, 0, 0);
  if (rc != SESSIO_OK) return rc;
  for (size_t i = hi; i-- > lo;)
    sessio__map_delete(&s->data, s->data.v[i].key, s->data.v[i].key_len);
  return SESSIO_OK;
}

sessio_err sessio_incr(sessio *s, const char *key, int64_t delta,
                       int64_t *result) {
  size_t klen;
  if (s == NULL) return SESSIO_EINVAL;
  if (s->committed) return SESSIO_ESTATE;
  sessio_err rc = check_key(s, key, &klen);
  if (rc != SESSIO_OK) return rc;
  if (s->has_id) {
    if ((rc = need(s, key, klen, 1)) != SESSIO_OK) return rc;
    const sessio__entry *e = sessio__map_get(&s->data, key, klen);
    if (e && e->type != SESSIO_T_INT) return SESSIO_ETYPE;
    if (e &&
        (delta > 0 ? e->ival > INT64_MAX - delta : e->ival < INT64_MIN - delta))
      return SESSIO_EOVERFLOW;
    if (!e &&
        data_size(s) + entry_size(klen, SESSIO_T_INT, 0) > s->m->cfg.max_total)
      return SESSIO_ETOOBIG;
  }
  int had = s->has_id;
  rc = ensure_session(s);
  if (rc != SESSIO_OK) return rc;
  int64_t r;
  int existed = sessio__map_get(&s->data, key, klen) != NULL;
  rc = sessio__map_incr(&s->data, key, klen, delta, &r);
  if (rc != SESSIO_OK) {
    if (!had) unmake_session(s);
    return rc;
  }
  rc = sessio__ops_push(&s->ops, SESSIO__OP_INCR, key, klen, SESSIO_T_INT, NULL,
                        0, delta);
  if (rc != SESSIO_OK) { /* undone: a key the incr made goes again */
    int64_t undo;
    if (existed)
      sessio__map_incr(&s->data, key, klen, -delta, &undo);
    else
      sessio__map_delete(&s->data, key, klen);
    if (!had) unmake_session(s);
    return rc;
  }
  if (result) *result = r;
  return SESSIO_OK;
}

sessio_type sessio_type_of(const sessio *s, const char *key) {
  if (s == NULL || !s->has_id || key == NULL || *key == RESERVED)
    return SESSIO_T_NONE;
  size_t klen = strlen(key);
  if (need(s, key, klen, 0) != SESSIO_OK) return SESSIO_T_NONE;
  const sessio__entry *e = sessio__map_get(&s->data, key, klen);
  return e ? e->type : SESSIO_T_NONE;
}

static const sessio__entry *get_typed(const sessio *s, const char *key,
                                      sessio_type t) {
  if (s == NULL || !s->has_id || key == NULL || *key == RESERVED) return NULL;
  size_t klen = strlen(key);
  if (need(s, key, klen, 0) != SESSIO_OK) return NULL;
  const sessio__entry *e = sessio__map_get(&s->data, key, klen);
  return e && e->type == t ? e : NULL;
}

int sessio_get_str(const sessio *s, const char *key, const char **val,
                   size_t *len) {
  const sessio__entry *e = get_typed(s, key, SESSIO_T_STR);
  if (e == NULL) return 0;
  if (val) *val = (const char *)e->bytes;
  if (len) *len = e->len;
  return 1;
}

int sessio_get_int(const sessio *s, const char *key, int64_t *val) {
  const sessio__entry *e = get_typed(s, key, SESSIO_T_INT);
  if (e && val) *val = e->ival;
  return e != NULL;
}

int sessio_get_bool(const sessio *s, const char *key, int *val) {
  const sessio__entry *e = get_typed(s, key, SESSIO_T_BOOL);
  if (e && val) *val = e->ival != 0;
  return e != NULL;
}

int sessio_get_bytes(const sessio *s, const char *key, const void **val,
                     size_t *len) {
  const sessio__entry *e = get_typed(s, key, SESSIO_T_BYTES);
  if (e == NULL) return 0;
  if (val) *val = e->bytes;
  if (len) *len = e->len;
  return 1;
}

sessio_err sessio_iterate(const sessio *s, const char *prefix,
                          sessio_iter_fn cb, void *ud) {
  if (s == NULL || cb == NULL) return SESSIO_EINVAL;
  if (!s->has_id) return SESSIO_OK;
  if (prefix == NULL) prefix = "";
  size_t lo, hi, plen = strlen(prefix);
  sessio_err rc = need_prefix(s, prefix, plen, 0);
  if (rc != SESSIO_OK) return rc;
  sessio__map_prefix(&s->data, prefix, plen, &lo, &hi);
  for (size_t i = lo; i < hi; i++) {
    const sessio__entry *e = &s->data.v[i];
    if (e->key[0] == RESERVED) continue;
    if (cb(ud, e->key, e->type, e->bytes, e->len, e->ival)) break;
  }
  return SESSIO_OK;
}

/* ---- flash ----------------------------------------------------------- */

static int flash_key(const char *key, char *out, size_t cap) {
  int n = snprintf(out, cap, FLASH_PREFIX "%s", key ? key : "");
  return key && *key && n > 0 && (size_t)n < cap;
}

sessio_err sessio_flash_set(sessio *s, const char *key, const char *msg) {
  char k[160];
  if (s == NULL || msg == NULL || !flash_key(key, k, sizeof k))
    return SESSIO_EINVAL;
  if (s->committed) return SESSIO_ESTATE;
  size_t len = strlen(msg);
  if (len > s->m->cfg.max_value) return SESSIO_ETOOBIG;
  int had = s->has_id;
  sessio_err rc = ensure_session(s);
  if (rc != SESSIO_OK) return rc;
  rc = data_set(s, 1, k, strlen(k), SESSIO_T_STR, msg, len, 0);
  if (rc != SESSIO_OK && !had) unmake_session(s);
  return rc;
}

int sessio_flash_take(sessio *s, const char *key, const char **msg) {
  char k[160];
  if (s == NULL || !s->has_id || s->committed || !flash_key(key, k, sizeof k))
    return 0;
  if (need(s, k, strlen(k), 1) != SESSIO_OK) return 0;
  const sessio__entry *e = sessio__map_get(&s->data, k, strlen(k));
  if (e == NULL || e->type != SESSIO_T_STR) return 0;
  char **grown = realloc(s->flash, (s->n_flash + 1) * sizeof *grown);
  if (grown == NULL) return 0;
  s->flash = grown;
  char *copy = strdup((const char *)e->bytes);
  if (copy == NULL) return 0;
  if (sessio__ops_push(&s->ops, SESSIO__OP_DEL, k, strlen(k), SESSIO_T_NONE,
                       NULL, 0, 0) != SESSIO_OK) {
    free(copy);
    return 0;
  }
  sessio__map_delete(&s->data, k, strlen(k));
  s->flash[s->n_flash++] = copy;
  if (msg) *msg = copy;
  return 1;
}

/* ---- CSRF ------------------------------------------------------------ */

const char *sessio_csrf_token(const sessio *s) {
  if (s == NULL || !s->has_id) return NULL;
  return csrf_hex(s);
}

int sessio_csrf_check(const sessio *s, const char *token, size_t len) {
  const char *want = sessio_csrf_token(s);
  if (want == NULL || token == NULL || len != SESSIO_CSRF_LEN) return 0;
  return sessio__ct_equal(want, token, SESSIO_CSRF_LEN);
}

/* ---- users and privilege changes ------------------------------------- */

/* Moves the current stored identity to 'old' (to be killed or moved at
 * commit) and gives the handle a fresh ID. */
static sessio_err replace_ident(sessio *s, enum old_fate fate) {
  ident id;
  sessio_err rc = ident_new(s->m, &id);
  if (rc != SESSIO_OK) return rc;
  if (!s->created && s->old_fate == OLD_NONE) {
    s->old = s->id;
    s->old_version = s->version;
    memcpy(s->old_user, s->user, sizeof s->old_user);
  }
  if (!s->created) s->old_fate = fate;
  set_ident(s, &id);
  return SESSIO_OK;
}

sessio_err sessio_regenerate(sessio *s) {
  if (s == NULL) return SESSIO_EINVAL;
  if (s->committed) return SESSIO_ESTATE;
  if (!s->has_id) return SESSIO_OK;
  return replace_ident(s, OLD_KILL);
}

sessio_err sessio_login(sessio *s, const char *user, int remember,
                        int64_t now) {
  if (s == NULL || user == NULL) return SESSIO_EINVAL;
  size_t n = strlen(user);
  if (n == 0 || n > SESSIO_USER_MAX) return SESSIO_EINVAL;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)user[i] < 0x20 || user[i] == 0x7f) return SESSIO_EINVAL;
  if (s->committed) return SESSIO_ESTATE;
  /* S23: signing in as another user than the one signed in is an account
   * switch, not a privilege change of the same person: the new user starts
   * from empty data, so nothing the previous user entered (an address, a
   * cart) reaches them. The previous session ends as on a destroy; the label
   * (the client's) stays. A guest's data, or the same user's, is kept. */
  const char *prev = sessio_user(s);
  if (prev != NULL && strcmp(prev, user) != 0) {
    char label[SESSIO_LABEL_MAX + 1];
    memcpy(label, s->meta.info, sizeof label);
    sessio_err drc = sessio_destroy(s);
    if (drc != SESSIO_OK) return drc;
    memcpy(s->meta.info, label, sizeof label);
    sessio__log(s->m, SESSIO_LOG_INFO,
                "sign-in as another user: previous session ended, data "
                "not carried over");
  }
  /* S19: the CSRF token is rotated first, the one step that can run out
   * of memory, so a login that fails leaves no half-done privilege change
   * (a rotated token alone is harmless). */
  int had = s->has_id;
  sessio_err rc = ensure_session(s);
  if (rc == SESSIO_OK && (rc = new_csrf(s)) != SESSIO_OK && !had)
    unmake_session(s);
  if (rc == SESSIO_OK && !s->created) rc = replace_ident(s, OLD_KILL);
  if (rc != SESSIO_OK) return rc;
  const struct sessio_config *cfg = &s->m->cfg;
  int rem = remember && cfg->remember_ms > 0;
  /* S8: a remembered session never outlives the remember-me absolute
   * lifetime: its own (sessio_config_set_remember), else the absolute
   * timeout. */
  int64_t rem_life = cfg->remember_ms < cfg->absolute_ms ? cfg->remember_ms
                                                         : cfg->absolute_ms;
  int64_t rem_idle = rem_life > cfg->idle_ms ? rem_life : cfg->idle_ms;
  if (cfg->rem_abs_ms > 0) {
    rem_life = cfg->rem_abs_ms;
    rem_idle = cfg->rem_idle_ms;
  }
  memcpy(s->user, user, n + 1);
  s->login_pending = 1;
  s->meta.flags = (uint8_t)(SESSIO__F_AUTH | (rem ? SESSIO__F_REMEMBER : 0));
  s->meta.auth_at = now;
  s->meta.rotated_at = now;
  /* S14: re-authentication resets both timeouts. A remember-me session
   * lives min(remember, absolute) from login, as its idle and absolute
   * limit, and its cookie's Max-Age is the time left to that. */
  s->meta.idle_ms = rem ? rem_idle : cfg->idle_ms;
  s->meta.abs_deadline = now + (rem ? rem_life : cfg->absolute_ms);
  s->touched_at = now;
  s->meta_changed = 1;
  return SESSIO_OK;
}

const char *sessio_user(const sessio *s) {
  return s && s->has_id && (s->meta.flags & SESSIO__F_AUTH) && s->user[0]
             ? s->user
             : NULL;
}

int sessio_is_authenticated(const sessio *s) { return sessio_user(s) != NULL; }

int64_t sessio_auth_age(const sessio *s, int64_t now) {
  if (sessio_user(s) == NULL) return -1;
  int64_t age = now - s->meta.auth_at;
  return age > 0 ? age : 0;
}

sessio_err sessio_auth_refresh(sessio *s, int64_t now) {
  if (s == NULL) return SESSIO_EINVAL;
  if (s->committed) return SESSIO_ESTATE;
  if (sessio_user(s) == NULL) return SESSIO_ESTATE;
  s->meta.auth_at = now;
  s->meta_changed = 1;
  return SESSIO_OK;
}

sessio_err sessio_destroy(sessio *s) {
  if (s == NULL) return SESSIO_EINVAL;
  if (s->committed) return SESSIO_ESTATE;
  if (!s->has_id) return SESSIO_OK;
  if (!s->created && s->old_fate == OLD_NONE) {
    s->old = s->id;
    s->old_version = s->version;
    memcpy(s->old_user, s->user, sizeof s->old_user);
  }
  if (!s->created || s->old_fate != OLD_NONE) s->old_fate = OLD_KILL;
  s->destroyed = 1;
  /* Back to anonymous: later data calls create a fresh session. */
  s->has_id = 0;
  s->created = 0;
  s->version = 0;
  s->user[0] = '\0';
  memset(&s->meta, 0, sizeof s->meta);
  sessio__map_free(&s->data);
  sessio__chunks_free(&s->chunks);
  sessio__ops_free(&s->ops);
  s->csrf[0] = '\0';
  return SESSIO_OK;
}

/* ---- commit ---------------------------------------------------------- */

/* Seals the handle's data and metadata into s->scratch and describes it as
 * a record to save at 'now'. */
static sessio_err build_record(sessio *s, int64_t now, sessio_record *rec) {
  sessio__chunks *c = &s->chunks;
  size_t map_size = sessio__map_encoded_size(&s->data);
  size_t total = map_size + c->closed;
  sessio_err rc;
  if (total > s->m->cfg.max_total) return SESSIO_ETOOBIG;
  /* Chunks are copied only under the key they were sealed with (a new ID
   * or secret seals everything anew) and while the data is too big to be
   * sealed inline. */
  if (c->n > 0 && (total <= SESSIO__INLINE_MAX ||
                   memcmp(c->seal, s->id.seal, sizeof c->seal) != 0)) {
    if ((rc = need_prefix(s, "", 0, 1)) != SESSIO_OK) return rc;
    sessio__chunks_free(c);
    map_size = sessio__map_encoded_size(&s->data);
  }
  rc = sessio__record_encode_map(&s->meta, s->user, s->id.seal, &s->data,
                                 map_size, c->n > 0 ? c : NULL, &s->scratch);
  if (rc != SESSIO_OK) return rc;
  memset(rec, 0, sizeof *rec);
  rec->expires_at = sessio__deadline(&s->meta, now);
  rec->touched_at = now;
  memcpy(rec->user, s->user, sizeof rec->user);
  rec->blob = s->scratch.data;
  rec->blob_len = s->scratch.len;
  return SESSIO_OK;
}

/* The record that ends an old identity: dead at once (kill), or a sealed
 * pointer to the new ID for the grace window (move, S15). */
static sessio_err build_tombstone(sessio *s, int64_t now, sessio_record *rec,
                                  sessio__buf *out) {
  sessio__meta meta;
  memset(&meta, 0, sizeof meta);
  int move = s->old_fate == OLD_MOVE;
  meta.flags = move ? SESSIO__F_MOVED : 0;
  meta.created_at = now;
  meta.idle_ms = move ? s->m->cfg.grace_ms : 0;
  meta.abs_deadline = now + meta.idle_ms;
  sessio_err rc = sessio__record_encode(&meta, "", s->old.seal, s->id.raw,
                                        move ? SESSIO_ID_BYTES : 0, out);
  if (rc != SESSIO_OK) return rc;
  memset(rec, 0, sizeof *rec);
  rec->expires_at = meta.abs_deadline;
  rec->touched_at = now;
  rec->blob = out->data;
  rec->blob_len = out->len;
  return SESSIO_OK;
}

/* After a conflict on 'id': reload its live record, re-apply this request's
 * operations, keep this request's metadata changes. '*gone' is set when the
 * session ended meanwhile. */
static sessio_err reload_merge(sessio *s, const ident *id, int64_t now,
                               uint64_t *version, int keep_meta, int follow,
                               int *gone) {
  loaded l;
  int found;
  memset(&l, 0, sizeof l);
  *gone = 0;
  sessio__met_add(&sessio__met_mine(s->m->met)->conflicts,
                  1); /* called after each one */
  sessio_err rc = load_ident(s->m, id, now, 0, &l, &found);
  if (rc != SESSIO_OK) return rc;
  if (!found &&
      (l.miss == SESSIO_REASON_IDLE || l.miss == SESSIO_REASON_ABSOLUTE))
    note_miss(s, &l);
  if (!found || (l.followed && !follow)) {
    *gone = 1;
    sessio__map_free(&l.data);
    sessio__chunks_free(&l.chunks);
    return SESSIO_OK;
  }
  rc = chunk_need_ops(s->m, &l.data, &l.chunks, &s->ops);
  if (rc == SESSIO_OK) rc = sessio__ops_apply(&s->ops, &l.data);
  if (rc != SESSIO_OK) {
    sessio__map_free(&l.data);
    sessio__chunks_free(&l.chunks);
    return rc;
  }
  sessio__met_add(&sessio__met_mine(s->m->met)->replays, 1);
  sessio__map_free(&s->data);
  s->data = l.data;
  sessio__chunks_free(&s->chunks);
  s->chunks = l.chunks;
  csrf_sync(s);
  *version = l.version;
  if (l.followed) {
    /* Rotated meanwhile by another request: continue on the new ID. */
    set_ident(s, &l.id);
    s->followed = 1;
  }
  if (!keep_meta) {
    char info[SESSIO_LABEL_MAX + 1];
    memcpy(info, s->meta.info, sizeof info);
    s->meta = l.meta;
    memcpy(s->user, l.user, sizeof s->user);
    if (s->info_changed) memcpy(s->meta.info, info, sizeof info);
  }
  return SESSIO_OK;
}

/* Reserves room for the Set-Cookie value before the store is written, so
 * that a commit that has written cannot then fail for want of memory to
 * tell the client (who would be left holding a dead ID). */
static sessio_err cookie_reserve(sessio *s) {
  if (s->cookie_mem) return SESSIO_OK;
  /* NAME=ID; Path=/; Domain=D; Max-Age=N; Secure; HttpOnly; SameSite=X is
   * under 100 bytes besides the name, the ID and the domain. */
  size_t cap = strlen(sessio_manager_cookie_name(s->m, s->tls)) +
               SESSIO_ID_LEN + strlen(s->m->cfg.domain) +
               strlen(s->m->cfg.path) + 180;
  s->cookie_mem = malloc(cap);
  if (s->cookie_mem == NULL) return SESSIO_ENOMEM;
  s->cookie_cap = cap;
  return SESSIO_OK;
}

static sessio_err make_cookie(sessio *s, int64_t now, int deletion) {
  const struct sessio_config *cfg = &s->m->cfg;
  if (s->token) {
    /* S30: a token session's ID goes in X-Session-Token, never in a
     * cookie; an ended token needs nothing sent (it is dead). */
    if (!deletion) sessio__id_encode(s->id.raw, s->token_out);
    return SESSIO_OK;
  }
  sessio_cookie_attrs a;
  char id[SESSIO_ID_LEN + 1] = "";
  a.domain = cfg->domain[0] ? cfg->domain : NULL;
  a.secure = cfg->secure == SESSIO_SECURE_ALWAYS ||
             (cfg->secure == SESSIO_SECURE_AUTO && s->tls);
  a.samesite = cfg->samesite;
  a.max_age = -1;
  a.path = cfg->path[0] ? cfg->path : NULL;
  a.partitioned = cfg->partitioned;
  if (deletion) {
    a.max_age = 0;
  } else {
    sessio__id_encode(s->id.raw, id);
    if (s->meta.flags & SESSIO__F_REMEMBER) {
      /* S8: never beyond the absolute deadline. */
      int64_t left = s->meta.abs_deadline - now;
      a.max_age = left > 0 ? left / 1000 : 0;
    }
  }
  sessio_err rc = cookie_reserve(s); /* done already on every usual path */
  if (rc != SESSIO_OK) return rc;
  rc = sessio_cookie_format(s->cookie_mem, s->cookie_cap, NULL,
                            sessio_manager_cookie_name(s->m, s->tls), id, &a);
  if (rc == SESSIO_OK) s->cookie = s->cookie_mem;
  return rc;
}

/* Ends the replaced identity's entry in the user index, after the commit
 * point: a failure only leaves a stale entry, which listings repair, so it
 * is logged rather than returned. */
static void unindex_old(sessio *s) {
  if (!s->old_user[0]) return;
  sessio_err rc =
      sessio__store_user_remove(s->m->cfg.store, s->old_user, &s->old.key);
  if (rc != SESSIO_OK)
    sessio__log(s->m, SESSIO_LOG_WARN,
                "stale user index entry left (%s), repaired on read",
                sessio_errname(rc));
}

/* Takes back the record this commit saved under its new ID (and its index
 * entry) when a later step failed, so that a failed commit stores nothing.
 * Best effort: if the store refuses, the record is unreachable (its ID was
 * never sent) and expires. */
static void undo_new(sessio *s, int64_t now, int indexed) {
  sessio_store *st = s->m->cfg.store;
  sessio_err rc = sessio__store_remove(st, &s->id.key, now, NULL);
  if (rc == SESSIO_OK && indexed && s->user[0])
    rc = sessio__store_user_remove(st, s->user, &s->id.key);
  if (rc != SESSIO_OK)
    sessio__log(s->m, SESSIO_LOG_WARN,
                "failed commit not taken back (%s) sid=%.16s",
                sessio_errname(rc), s->handle);
}

static sessio_err index_user(sessio *s, int64_t now) {
  if (!s->user[0]) return SESSIO_OK;
  return sessio__store_user_add(s->m->cfg.store, s->user, &s->id.key,
                                sessio__deadline(&s->meta, now), now);
}

/* Saves the handle under its (new) identity and ends the old identity, so
 * that no update committed to the old one meanwhile is lost: the old record
 * is replaced by a tombstone with a version check, and on a conflict the
 * newer data is merged into the new record before trying again.
 * Order: new record, its user index entry, then the tombstone (the commit
 * point); a failure before the tombstone takes the new record back, so the
 * old session is left whole. After it, only clean-up remains. */
static sessio_err commit_replace(sessio *s, int64_t now) {
  sessio_store *st = s->m->cfg.store;
  sessio__buf tomb = SESSIO__BUF_INIT;
  sessio_record rec, trec;
  uint64_t new_version = 0, v;
  sessio_err rc = SESSIO_OK;
  int attempt, saved = 0, indexed = 0;
  for (attempt = 0; attempt < MAX_RETRIES; attempt++) {
    if ((rc = build_record(s, now, &rec)) != SESSIO_OK) break;
    rc = sessio__store_save(st, &s->id.key, &rec, new_version, now, &v);
    if (rc != SESSIO_OK)
      break; /* a collision on a fresh 256-bit ID is not
                                   a conflict we can expect */
    new_version = v;
    saved = 1;
    if (!indexed) { /* the metadata is this request's: the deadline holds */
      if ((rc = index_user(s, now)) != SESSIO_OK) break;
      indexed = 1;
    }
    if ((rc = build_tombstone(s, now, &trec, &tomb)) != SESSIO_OK) break;
    rc = sessio__store_save(st, &s->old.key, &trec, s->old_version, now, &v);
    if (rc != SESSIO_ECONFLICT) break;
    int gone;
    uint64_t ov = 0;
    ident keep = s->id;
    ident old = s->old;
    rc = reload_merge(s, &old, now, &ov, 1, 0, &gone);
    set_ident(s, &keep); /* the new identity stays the target */
    if (rc != SESSIO_OK) break;
    if (gone) break; /* ended meanwhile: nothing left to kill */
    s->old_version = ov;
    backoff(attempt);
  }
  if (attempt == MAX_RETRIES) rc = SESSIO_EBUSY;
  sessio__buf_free(&tomb);
  if (rc != SESSIO_OK) {
    if (saved) undo_new(s, now, indexed);
    return rc;
  }
  /* Committed. A killed record is dead already (its tombstone expires at
   * once); removing it and its index entry is clean-up. */
  if (s->old_fate == OLD_KILL &&
      sessio__store_remove(st, &s->old.key, now, NULL) != SESSIO_OK)
    sessio__log(s->m, SESSIO_LOG_WARN, "dead record left for gc");
  unindex_old(s);
  s->version = new_version;
  s->touched_at = now;
  return SESSIO_OK;
}

/* Saves changes of a stored session with a version check, merging with
 * concurrent commits (see the file header). */
static sessio_err commit_update(sessio *s, int64_t now) {
  sessio_store *st = s->m->cfg.store;
  sessio_record rec;
  uint64_t v;
  sessio_err rc = SESSIO_OK;
  for (int attempt = 0; attempt < MAX_RETRIES; attempt++) {
    if ((rc = build_record(s, now, &rec)) != SESSIO_OK) return rc;
    /* The index entry's expiry first: an entry outliving its record is
     * repaired on read, a save that stored and then failed would not be. */
    if ((s->meta_changed || s->info_changed) &&
        (rc = index_user(s, now)) != SESSIO_OK)
      return rc;
    rc = sessio__store_save(st, &s->id.key, &rec, s->version, now, &v);
    if (rc == SESSIO_OK) {
      s->version = v;
      s->touched_at = now;
      return SESSIO_OK;
    }
    if (rc != SESSIO_ECONFLICT) return rc;
    int gone;
    ident cur = s->id;
    rc = reload_merge(s, &cur, now, &s->version, s->meta_changed, 1, &gone);
    if (rc != SESSIO_OK) return rc;
    if (gone) {
      /* Destroyed or expired by another request meanwhile: this request's
       * changes are dropped rather than resurrecting the session. */
      sessio__log(s->m, SESSIO_LOG_INFO,
                  "session ended during request, changes dropped sid=%.16s",
                  s->handle);
      s->has_id = 0;
      return SESSIO_OK;
    }
    backoff(attempt);
  }
  return SESSIO_EBUSY;
}

/* The commit lock of a record (see SESSIO__COMMIT_STRIPES). */
static pthread_mutex_t *stripe(sessio_manager *m, const sessio_key *key) {
  unsigned i =
      ((unsigned)key->b[30] << 8 | key->b[31]) % SESSIO__COMMIT_STRIPES;
  return &m->stripes[i];
}

/* Secret rotation: moves a session loaded under a previous secret to the
 * current secret's key, keeping its ID (no cookie to send). It is an ID
 * change without a new ID: the record is saved under the new key, the old
 * one ended with a version check (commit_replace). When another request
 * re-keyed it first, the new key's record exists (the create conflicts):
 * this request's changes are merged into it as an update instead. */
static sessio_err commit_rekey(sessio *s, int64_t now) {
  pthread_mutex_t *mu = stripe(s->m, &s->old.key);
  pthread_mutex_lock(mu);
  sessio_err rc = commit_replace(s, now);
  pthread_mutex_unlock(mu);
  if (rc == SESSIO_OK) {
    sessio__log(s->m, SESSIO_LOG_DEBUG,
                "session re-keyed under the current secret sid=%.16s",
                s->handle);
    return rc;
  }
  if (rc != SESSIO_ECONFLICT) return rc;
  s->old_fate = OLD_NONE;
  int gone;
  ident cur = s->id;
  mu = stripe(s->m, &s->id.key);
  pthread_mutex_lock(mu);
  rc = reload_merge(s, &cur, now, &s->version, s->meta_changed, 1, &gone);
  if (rc == SESSIO_OK && gone) s->has_id = 0; /* ended meanwhile */
  if (rc == SESSIO_OK && !gone) rc = commit_update(s, now);
  pthread_mutex_unlock(mu);
  return rc;
}

/* Most recently seen first, ties by handle: every login of one user sorts
 * the same list the same way, so racing logins agree on whom to keep. */
static int by_recency(const void *a, const void *b) {
  const sessio_session_info *x = a, *y = b;
  if (x->last_seen != y->last_seen) return x->last_seen > y->last_seen ? -1 : 1;
  return strcmp(x->handle, y->handle);
}

/* Sessions per user (S33), at a login's commit. 'stored' 0: before the
 * login is written (REFUSE only: the common refusal writes nothing); 1:
 * after it, counting what racing logins stored too. '*over' is set when
 * REFUSE must refuse. Under EVICT_OLDEST, keeps this session and the
 * max - 1 most recently seen others, revoking the rest. */
static sessio_err user_limit(sessio *s, int64_t now, int stored, int *over) {
  sessio_manager *m = s->m;
  sessio_session_info *v = NULL;
  size_t n = 0, max = m->cfg.max_per_user, others = 0;
  *over = 0;
  sessio_err rc = sessio_manager_user_sessions(m, s->user, now, &v, &n);
  if (rc != SESSIO_OK) return rc;
  char old_handle[SESSIO_HANDLE_LEN + 1] = "";
  if (!stored && s->old_fate != OLD_NONE)
    sessio__handle(&s->old.key, old_handle);
  if (n > 1) qsort(v, n, sizeof *v, by_recency);
  for (size_t i = 0; i < n; i++) {
    /* Not this session, nor the one this login replaces (about to end). */
    if (strcmp(v[i].handle, s->handle) == 0 ||
        (old_handle[0] && strcmp(v[i].handle, old_handle) == 0))
      continue;
    if (++others < max) continue; /* 'max - 1' others fit beside this one */
    if (m->cfg.max_policy == SESSIO_MAX_REFUSE) {
      *over = 1;
      break;
    }
    if (stored && (rc = sessio_manager_revoke_one(m, s->user, v[i].handle, now,
                                                  NULL)) != SESSIO_OK)
      break;
  }
  free(v);
  return rc;
}

static sessio_err commit(sessio *s, int64_t now);

sessio_err sessio_commit(sessio *s, int64_t now) {
  if (s == NULL) return SESSIO_EINVAL;
  if (s->committed) return SESSIO_ESTATE;
  sessio__ev_ctx prev = sessio__ev_enter(s->m, &s->evq);
  sessio_err rc = commit(s, now);
  sessio__ev_leave(prev);
  sessio__met_stripe *mt = sessio__met_mine(s->m->met);
  sessio__met_add(rc == SESSIO_OK ? &mt->commits_ok : &mt->commits_failed, 1);
  if (rc != SESSIO_OK && s->login_pending)
    sessio__met_add(&mt->logins_failed, 1);
  if (rc != SESSIO_OK) note_error(s, rc);
  sessio__ev_fire(s->m, &s->evq, now);
  return rc;
}

/* The commit itself; each change's event is noted where it is stored. */
static sessio_err commit(sessio *s, int64_t now) {
  s->committed = 1;
  sessio_store *st = s->m->cfg.store;
  const struct sessio_config *cfg = &s->m->cfg;
  sessio_err rc = SESSIO_OK;
  int rotating = 0;

  /* S15: periodic rotation of authenticated sessions, with a grace window;
   * never on top of a privilege change (that kills the old ID instead). */
  if (s->has_id && !s->created && s->old_fate == OLD_NONE && cfg->rotate_ms &&
      (s->meta.flags & SESSIO__F_AUTH) &&
      now - s->meta.rotated_at >= cfg->rotate_ms) {
    if ((rc = replace_ident(s, OLD_MOVE)) != SESSIO_OK) return rc;
    s->meta.rotated_at = now;
    rotating = 1;
    sessio__log(s->m, SESSIO_LOG_INFO, "session rotated sid=%.16s", s->handle);
  }

  /* Room for the cookie is made before anything is written (see
   * cookie_reserve); with rotation on, an update may move to a new ID. */
  if ((s->destroyed || s->created || s->old_fate != OLD_NONE || s->followed ||
       (cfg->rotate_ms && s->has_id)) &&
      (rc = cookie_reserve(s)) != SESSIO_OK)
    return rc;

  if (s->destroyed && s->old_fate == OLD_KILL && !s->has_id) {
    int gone = 0; /* two logouts racing on one session: one event */
    if ((rc = sessio__store_remove(st, &s->old.key, now, &gone)) != SESSIO_OK)
      return rc;
    unindex_old(s);
    if (gone) note_old_ended(s);
    sessio__log(s->m, SESSIO_LOG_INFO, "session destroyed");
    return make_cookie(s, now, 1); /* S17 */
  }
  /* S16: nothing stored; no cookie, but the deletion of a dead one (S34),
   * which only a request that sent that cookie can get. */
  if (!s->has_id) return s->drop_cookie ? make_cookie(s, now, 1) : SESSIO_OK;

  /* S33: a login over the per-user limit is refused before anything is
   * written; racing logins are counted again once stored (below). */
  int limited = s->login_pending && cfg->max_per_user > 0 && s->user[0];
  if (limited && cfg->max_policy == SESSIO_MAX_REFUSE) {
    int over;
    if ((rc = user_limit(s, now, 0, &over)) != SESSIO_OK) return rc;
    if (over) return SESSIO_ELIMIT;
  }

  int send_cookie = 0;
  int rekey_only = s->rekey && s->old_fate != OLD_NONE &&
                   memcmp(s->id.raw, s->old.raw, SESSIO_ID_BYTES) == 0;
  if (rekey_only && !s->destroyed) {
    rc = commit_rekey(s, now);
  } else if (s->old_fate != OLD_NONE && !s->destroyed) {
    pthread_mutex_t *mu = stripe(s->m, &s->old.key);
    pthread_mutex_lock(mu);
    rc = commit_replace(s, now);
    pthread_mutex_unlock(mu);
    send_cookie = 1;
    if (rc == SESSIO_OK) {
      note(s, rotating           ? SESSIO_EVENT_ROTATED
              : s->login_pending ? SESSIO_EVENT_LOGIN
                                 : SESSIO_EVENT_REGENERATED);
      sessio__log(s->m, SESSIO_LOG_INFO, "session ID regenerated sid=%.16s",
                  s->handle);
    }
  } else if (s->created) {
    sessio_record rec;
    uint64_t v;
    rc = build_record(s, now, &rec);
    if (rc == SESSIO_OK)
      rc = sessio__store_save(st, &s->id.key, &rec, 0, now, &v);
    if (rc == SESSIO_OK) {
      /* Then its index entry, and (destroyed, then new data) the end of
       * the old session; a failure takes the new record back. */
      int indexed = (rc = index_user(s, now)) == SESSIO_OK;
      if (rc == SESSIO_OK && s->destroyed && s->old_fate == OLD_KILL &&
          (rc = sessio__store_remove(st, &s->old.key, now, NULL)) == SESSIO_OK)
        unindex_old(s);
      if (rc != SESSIO_OK) {
        undo_new(s, now, indexed);
        return rc;
      }
      s->version = v;
      s->touched_at = now;
      if (s->destroyed && s->old_fate == OLD_KILL) note_old_ended(s);
      note(s, SESSIO_EVENT_CREATED);
      if (s->login_pending) note(s, SESSIO_EVENT_LOGIN);
      sessio__log(s->m, SESSIO_LOG_INFO, "session created sid=%.16s",
                  s->handle);
    }
    send_cookie = 1;
  } else if (s->ops.n > 0 || s->meta_changed || s->info_changed) {
    pthread_mutex_t *mu = stripe(s->m, &s->id.key);
    pthread_mutex_lock(mu);
    rc = commit_update(s, now);
    pthread_mutex_unlock(mu);
  } else if (now - s->touched_at >= cfg->touch_interval_ms) {
    /* Unchanged: a cheap, throttled touch extends the idle expiry. */
    int found;
    rc = index_user(s, now); /* first, as in commit_update */
    if (rc == SESSIO_OK)
      rc = sessio__store_touch(st, &s->id.key, now,
                               sessio__deadline(&s->meta, now), now, &found);
    if (rc == SESSIO_OK && found) s->touched_at = now;
  }
  if (rc != SESSIO_OK) return rc;
  if (limited) {
    int over = 0;
    rc = user_limit(s, now, 1, &over);
    if (rc == SESSIO_OK && over) { /* a racing login took the last place */
      undo_new(s, now, 1);
      s->has_id = 0;
      return SESSIO_ELIMIT;
    }
    if (rc != SESSIO_OK) /* the login is stored: said, not undone */
      sessio__log(s->m, SESSIO_LOG_WARN,
                  "sessions per user not enforced (%s) sid=%.16s",
                  sessio_errname(rc), s->handle);
  }
  if ((send_cookie || s->followed) && s->has_id) return make_cookie(s, now, 0);
  return SESSIO_OK;
}

const char *sessio_cookie_header(const sessio *s) {
  return s ? s->cookie : NULL;
}

sessio_err sessio_keep_dead_cookie(sessio *s) {
  if (s == NULL) return SESSIO_EINVAL;
  if (s->committed) return SESSIO_ESTATE;
  s->drop_cookie = 0;
  return SESSIO_OK;
}

const char *sessio_token_header(const sessio *s) {
  return s && s->token_out[0] ? s->token_out : NULL;
}

int sessio_uses_token(const sessio *s) { return s && s->token; }

sessio_err sessio_use_token(sessio *s) {
  if (s == NULL) return SESSIO_EINVAL;
  if (!s->m->cfg.tokens) return SESSIO_ENOTSUP;
  if (s->committed || s->cookie_seen) return SESSIO_ESTATE;
  s->token = 1;
  return SESSIO_OK;
}

int sessio_csrf_required(const sessio *s) { return !(s && s->token); }
