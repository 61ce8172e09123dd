/*
 * memory.c — the in-process store ("memory:"), the reference implementation
 * of the contract in include/sessio/store.h. A sharded hash table of
 * records, a sharded user index, lazy expiry on access plus a bounded gc
 * cursor, and optional bounds with sampled "soonest to expire" eviction.
 *
 * URL: memory:[?max_sessions=N&max_bytes=N&shards=N]
 *   max_sessions  at most N records (N >= 1; default: no bound)
 *   max_bytes     at most about N bytes of heap (N >= 1; default: no bound)
 *   shards        N locks / tables, a power of two in 1..4096 (default 64)
 * Anything else after "memory:" is SESSIO_EINVAL.
 *
 * Layout. Records live in 'nshards' shards, each with its own mutex and an
 * ordered linear-probing table (never a global lock). The key is already a
 * uniform keyed BLAKE2b hash, so its bytes are used directly: bytes 0..7
 * choose the shard, bytes 8..15 (the sort word) the place in the shard's
 * table, bytes 16..23 the slot in a user's key set.
 *
 * The table: one array of slots, 8 bytes each: the entry's address, with
 * the record's distance from its home slot in the low bits that malloc's
 * alignment leaves zero (4 bits on x86-64). Records stay sorted by sort
 * word along the slots, each at or after its home (the word scaled to the
 * table) with no free slot in between, so a lookup reads slots from the
 * home, skips those of earlier homes by their distance alone, and
 * dereferences only the records of its own home (about one). An insert
 * shifts the rest of its run by one slot; a removal shifts back the
 * records after it that are not at their home (no tombstones), reading no
 * entry. There is no wraparound: a run past the last home goes into a tail
 * that lengthens when needed. A table grows under its shard lock past 92%
 * of its homes, to 84%, by any factor (the home is scaled, not masked), so
 * it costs 8 / 0.92..0.84 = 8.7..9.5 bytes per record, where a chain link
 * plus a doubling bucket array cost 16..24. Because the order never
 * changes, a sort word is a cursor that survives inserts, removals and
 * growth: gc and scan use one.
 *
 * Per-entry layout (one malloc per record, blob inline), the narrow
 * fields holding what nearly every record needs:
 *     ev          8   expires_at in 48 bits (+-4,462 years of ms) and bits
 *                     0..15 of the version (once unlinked: the link of the
 *                     list to free)
 *     idle        4   expires_at - touched_at, 0..UINT32_MAX ms (49.7 days)
 *     vhi         1   bits 16..23 of the version (so up to 16.7 million)
 *     flags       1   why it was unlinked (events of dropped records), and
 *                     which optional fields follow
 *     len         3   blob_len, up to 16 MiB - 1 (blobs are limited to
 *                     4 GiB - 1: SESSIO_ETOOBIG)
 *     key        32
 *   = 49 bytes, then only when needed: the interned user (8, a signed-in
 *   record) and the wide fields (32: the 64-bit version, touched_at,
 *   expires_at and blob length, for a record whose values the narrow ones
 *   cannot hold; such a record stays wide), then the blob. A touch that
 *   takes a narrow record out of range copies it into a wide one (and may
 *   then fail with SESSIO_ENOMEM). glibc adds 8 bytes of chunk header and
 *   rounds to 16; stats.bytes counts exactly that (heap_bytes) for every
 *   allocation of the store. Measured with sessio_micro --sessions 1000000
 *   (100 B of session data, a 181-byte blob): 249.3 bytes per session by
 *   mallinfo2, 248.9 by stats.bytes: a 240-byte chunk and ~9.3 bytes of
 *   table. A user name is stored once per user (in the user index), not
 *   per record.
 *
 * iterate calls back under one shard lock at a time: the callback must not
 * call into the same store (it would deadlock on that shard).
 *
 * User index. 'nshards' more shards map a user name (hashed with keyed
 * SipHash, so names cannot be chosen to collide) to an interned node: the
 * name once, a refcount (records naming the user + pairs), and the user's
 * key set, an open-addressing table of (key, expires_at) pairs: 40 bytes a
 * pair, O(1) add and remove, O(k) list. Stale pairs are allowed (the
 * caller repairs them on read); expired pairs are dropped when user_list
 * meets them and when gc removes the dead record they name. A signed-in
 * session costs 8 more bytes in its entry (the user pointer), its pair
 * (40 bytes a slot; a key set past 4 slots stays at most 3/4 full) and a
 * share of its user's node.
 *
 * Policy when full (max_sessions or max_bytes set). A create (save with
 * expected 0) that would go over a bound first reclaims dead records, then
 * evicts live ones: it samples up to 16 records of the record's own shard
 * (from a rotating slot), removes the dead ones it sees, and if
 * none were dead evicts the anonymous record (no user) with the earliest
 * expires_at among the sample (approximate "soonest to expire first", like
 * Redis's sampled volatile-ttl eviction), then checks again. Signed-in
 * records are never evicted for an anonymous one (S29: a flood of guest
 * sessions cannot push users out): when the rounds find no anonymous
 * record, an anonymous create is SESSIO_EFULL, and only a signed-in create
 * may then evict a signed-in record the same way. When its own shard has
 * nothing to give it tries the other shards (with trylock, so no lock-order
 * deadlock). Evictions are counted in stats.evicted, dead records in
 * stats.expired. A blob larger than max_bytes by itself, an empty store, or
 * more than 64 removals for one create give SESSIO_EFULL. Replacing an
 * existing record (expected > 0) never evicts; the bounds are approximate
 * (checked with atomic counters, not under one lock).
 */
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "crypto.h"
#include "helpers.h"
#include "../events.h"
#include "store_internal.h"

#define MEM_DEFAULT_SHARDS 64
#define MEM_MAX_SHARDS 4096
#define MEM_INITIAL_BUCKETS 16       /* user tables */
#define MEM_INITIAL_SLOTS 16         /* home slots of a record table */
#define MEM_LOAD_MAX 92              /* % of the home slots: then grow... */
#define MEM_LOAD_GROWN 84            /* ...to this load */
#define MEM_SAMPLE 16                /* records sampled per eviction round */
#define MEM_SAMPLE_BUCKETS 256       /* slots walked at most per sample */
#define MEM_MAX_EVICT 64             /* removals at most for one create */
#define MEM_EMPTY_BUCKETS_PER_UNIT 8 /* gc: empty slots cost 1/8 unit */
#define MEM_NOPOS ((size_t)-1)
#define MEM_PREFETCH 12          /* slots a rebuild reads ahead */
#define MEM_PAIR_EMPTY INT64_MIN /* marks a free slot in a key set */

/* ---- data structures ---------------------------------------------------- */

/* One (key, expires_at) pair of a user's key set. */
typedef struct upair {
  uint8_t key[SESSIO_KEY_BYTES];
  int64_t expires_at; /* MEM_PAIR_EMPTY for a free slot */
} upair;

/* An interned user. 'refs' counts the records pointing to it plus the
 * pairs in its key set; the node is freed when it drops to 0. Guarded by
 * its user shard's mutex. */
/* Why an entry left its table, for the events of dropped records. */
enum { DROP_NONE = 0, DROP_EXPIRED = 1, DROP_EVICTED = 2, DROP_COLLECTED = 3 };

typedef struct unode {
  struct unode *next;
  uint64_t hash;
  uint32_t refs;
  uint32_t npairs;
  uint32_t cap; /* slots in 'pairs', 0 or a power of two */
  upair *pairs; /* open addressing, linear probing */
  char name[];  /* NUL-terminated */
} unode;

/* A record. The fixed part holds what most records need; 'tail' holds, in
 * this order, the interned user (E_USER: a signed-in record), the wide
 * fields (E_WIDE: values the narrow ones cannot hold), then the blob. */
typedef struct entry {
  union {
    /* narrow: expires_at in the low 48 bits (two's complement), bits 0..15
     * of the version in the high 16 */
    uint64_t ev;
    struct entry *grave; /* once unlinked: the next one to free */
  };
  uint32_t idle;  /* narrow: expires_at - touched_at, 0..UINT32_MAX ms */
  uint8_t vhi;    /* narrow: bits 16..23 of the version */
  uint8_t flags;  /* DROP_* in E_DROP_MASK, E_USER, E_WIDE */
  uint8_t len[3]; /* narrow: blob_len, 24 bits */
  uint8_t key[SESSIO_KEY_BYTES];
  uint8_t tail[]; /* [unode *][entry_wide] blob; unaligned: memcpy */
} entry;

enum { E_DROP_MASK = 3, E_USER = 4, E_WIDE = 8 };

/* The fields of a record the narrow ones cannot hold: a version past 2^24
 * - 1 (16.7 million saves), a blob of 16 MiB or more, an expires_at
 * outside +-2^47 ms (+-4,462 years around 1970), a touched_at after
 * expires_at or more than UINT32_MAX ms (49.7 days) before it. */
typedef struct entry_wide {
  uint64_t version;
  int64_t touched_at;
  int64_t expires_at;
  uint64_t blob_len;
} entry_wide;

#define NARROW_MAX_VERSION 0xffffffULL
#define NARROW_MAX_LEN 0xffffffULL
#define NARROW_EXP_BITS 48

/* A shard's records: an ordered linear-probing table (see "the record
 * table" below); slot[i] is 0 when free. */
typedef struct shard {
  pthread_mutex_t mu;
  uintptr_t *slot;
  size_t cap;    /* home slots: a key's home is in 0..cap-1 */
  size_t size;   /* slots in all: cap and the tail past it */
  size_t count;  /* records in this shard */
  size_t sample; /* rotating start slot for eviction samples */
} shard;

typedef struct ushard {
  pthread_mutex_t mu;
  unode **buckets;
  size_t mask;
  size_t count;
} ushard;

typedef struct mem_store {
  sessio_store base;
  size_t nshards; /* power of two; also the number of user shards */
  shard *shards;
  ushard *ushards;
  uint64_t max_sessions; /* 0: no bound */
  uint64_t max_bytes;    /* 0: no bound */
  _Atomic uint64_t sessions, bytes, evicted, expired;
  /* gc cursor: the shard, and the sort word from which the next call
   * goes on (every record below it was examined in this pass) */
  pthread_mutex_t gc_mu;
  size_t gc_shard;
  uint64_t gc_word;
  size_t gc_empty; /* empty slots seen, for the 1/8 unit cost */
  uint8_t ukey[crypto_shorthash_KEYBYTES]; /* seeds user name hashing */
} mem_store;

static uint64_t key_word(const sessio_key *k, int i) {
  uint64_t w;
  memcpy(&w, k->b + 8 * i, sizeof w);
  return w;
}

static uint64_t raw_word(const uint8_t *b, int i) {
  uint64_t w;
  memcpy(&w, b + 8 * i, sizeof w);
  return w;
}

/* The heap bytes behind an allocation of 'n' bytes as glibc's malloc
 * counts them (x86-64): an 8-byte size field, rounded up to 16, at least
 * 32. Every count of the store goes through it, so stats.bytes follows
 * what the heap really holds (mallinfo2's uordblks). */
static uint64_t heap_bytes(size_t n) {
  uint64_t c = ((uint64_t)n + 8 + 15) & ~(uint64_t)15;
  return c < 32 ? 32 : c;
}

static size_t ext_bytes(unsigned flags) {
  return (flags & E_USER ? sizeof(unode *) : 0) +
         (flags & E_WIDE ? sizeof(entry_wide) : 0);
}

static entry_wide e_wide(const entry *e);

static size_t e_len(const entry *e) {
  if (e->flags & E_WIDE) return (size_t)e_wide(e).blob_len;
  return (size_t)e->len[0] | (size_t)e->len[1] << 8 | (size_t)e->len[2] << 16;
}

static size_t entry_size(unsigned flags, size_t blob_len) {
  return offsetof(entry, tail) + ext_bytes(flags) + blob_len;
}

/* The heap bytes a record is accounted for. */
static uint64_t entry_bytes(const entry *e) {
  return heap_bytes(entry_size(e->flags, e_len(e)));
}

static uint8_t *e_blob(entry *e) { return e->tail + ext_bytes(e->flags); }

static unode *e_user(const entry *e) {
  unode *u = NULL;
  if (e->flags & E_USER) memcpy(&u, e->tail, sizeof u);
  return u;
}

static entry_wide e_wide(const entry *e) {
  entry_wide w;
  memcpy(&w, e->tail + (e->flags & E_USER ? sizeof(unode *) : 0), sizeof w);
  return w;
}

static void e_put_wide(entry *e, const entry_wide *w) {
  memcpy(e->tail + (e->flags & E_USER ? sizeof(unode *) : 0), w, sizeof *w);
}

static uint64_t e_version(const entry *e) {
  if (e->flags & E_WIDE) return e_wide(e).version;
  return e->ev >> NARROW_EXP_BITS | (uint64_t)e->vhi << 16;
}

static int64_t e_expires(const entry *e) {
  if (e->flags & E_WIDE) return e_wide(e).expires_at;
  uint64_t u = e->ev & ((1ULL << NARROW_EXP_BITS) - 1);
  return (int64_t)u - ((int64_t)(u >> (NARROW_EXP_BITS - 1))
                       << NARROW_EXP_BITS); /* sign extension */
}

static int64_t e_touched(const entry *e) {
  if (e->flags & E_WIDE) return e_wide(e).touched_at;
  return (int64_t)((uint64_t)e_expires(e) - e->idle);
}

static unsigned e_drop(const entry *e) { return e->flags & E_DROP_MASK; }

static void e_set_drop(entry *e, unsigned why) {
  e->flags = (uint8_t)((e->flags & ~E_DROP_MASK) | why);
}

/* Whether the narrow fields hold these values exactly. */
static int narrow_fits(uint64_t version, int64_t touched_at, int64_t expires_at,
                       size_t blob_len) {
  const int64_t lim = (int64_t)1 << (NARROW_EXP_BITS - 1);
  return version <= NARROW_MAX_VERSION && blob_len <= NARROW_MAX_LEN &&
         expires_at >= -lim && expires_at < lim && touched_at <= expires_at &&
         (uint64_t)expires_at - (uint64_t)touched_at <= UINT32_MAX;
}

/* Sets the blob's length of a new entry whose flags are set. */
static void e_set_len(entry *e, size_t blob_len) {
  if (e->flags & E_WIDE) {
    entry_wide w = {0, 0, 0, blob_len};
    e_put_wide(e, &w);
    memset(e->len, 0, sizeof e->len);
  } else {
    e->len[0] = (uint8_t)blob_len;
    e->len[1] = (uint8_t)(blob_len >> 8);
    e->len[2] = (uint8_t)(blob_len >> 16);
  }
}

/* Writes the values into 'e': a wide entry takes any, a narrow one only
 * values narrow_fits accepts (checked by the caller). */
static void e_set(entry *e, uint64_t version, int64_t touched_at,
                  int64_t expires_at) {
  if (e->flags & E_WIDE) {
    entry_wide w = e_wide(e);
    w.version = version;
    w.touched_at = touched_at;
    w.expires_at = expires_at;
    e_put_wide(e, &w);
    e->ev = 0;
    e->idle = 0;
    e->vhi = 0;
  } else {
    e->ev = ((uint64_t)expires_at & ((1ULL << NARROW_EXP_BITS) - 1)) |
            version << NARROW_EXP_BITS;
    e->vhi = (uint8_t)(version >> 16);
    e->idle = (uint32_t)((uint64_t)expires_at - (uint64_t)touched_at);
  }
}

static void acct_add(_Atomic uint64_t *c, uint64_t v) {
  atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}
static void acct_sub(_Atomic uint64_t *c, uint64_t v) {
  atomic_fetch_sub_explicit(c, v, memory_order_relaxed);
}
static uint64_t acct_get(_Atomic uint64_t *c) {
  return atomic_load_explicit(c, memory_order_relaxed);
}

static shard *shard_of(mem_store *ms, const sessio_key *key) {
  return &ms->shards[key_word(key, 0) & (ms->nshards - 1)];
}

/* ---- user index ---------------------------------------------------------- */

static uint64_t user_hash(mem_store *ms, const char *name, size_t len) {
  unsigned char h[crypto_shorthash_BYTES];
  uint64_t w;
  crypto_shorthash(h, (const unsigned char *)name, len, ms->ukey);
  memcpy(&w, h, sizeof w);
  return w;
}

static ushard *ushard_of(mem_store *ms, uint64_t hash) {
  return &ms->ushards[hash & (ms->nshards - 1)];
}

static size_t ubucket(const ushard *us, uint64_t hash) {
  return (size_t)(hash >> 20) & us->mask;
}

/* Finds a user under its shard lock; NULL when absent. */
static unode *user_find(ushard *us, uint64_t hash, const char *name) {
  for (unode *u = us->buckets[ubucket(us, hash)]; u; u = u->next)
    if (u->hash == hash && strcmp(u->name, name) == 0) return u;
  return NULL;
}

/* Doubles a user shard's table; on allocation failure keeps the old one. */
static void ushard_grow(mem_store *ms, ushard *us) {
  size_t n = (us->mask + 1) * 2;
  unode **nb = calloc(n, sizeof *nb);
  if (nb == NULL) return;
  for (size_t i = 0; i <= us->mask; i++) {
    for (unode *u = us->buckets[i], *next; u; u = next) {
      next = u->next;
      size_t b = (size_t)(u->hash >> 20) & (n - 1);
      u->next = nb[b];
      nb[b] = u;
    }
  }
  free(us->buckets);
  acct_add(&ms->bytes, heap_bytes(n * sizeof *nb));
  acct_sub(&ms->bytes, heap_bytes((us->mask + 1) * sizeof *nb));
  us->buckets = nb;
  us->mask = n - 1;
}

/* Finds or creates a user under its shard lock; NULL on out of memory. */
static unode *user_get(mem_store *ms, ushard *us, uint64_t hash,
                       const char *name) {
  unode *u = user_find(us, hash, name);
  if (u) return u;
  size_t len = strlen(name);
  u = malloc(sizeof *u + len + 1);
  if (u == NULL) return NULL;
  memset(u, 0, sizeof *u);
  u->hash = hash;
  memcpy(u->name, name, len + 1);
  size_t b = ubucket(us, hash);
  u->next = us->buckets[b];
  us->buckets[b] = u;
  us->count++;
  acct_add(&ms->bytes, heap_bytes(sizeof *u + len + 1));
  if (us->count > us->mask + 1) ushard_grow(ms, us);
  return u;
}

/* Unlinks and frees 'u' once nothing refers to it (shard lock held). */
static void user_maybe_free(mem_store *ms, ushard *us, unode *u) {
  if (u->refs > 0) return;
  for (unode **pp = &us->buckets[ubucket(us, u->hash)]; *pp;
       pp = &(*pp)->next) {
    if (*pp == u) {
      *pp = u->next;
      break;
    }
  }
  us->count--;
  acct_sub(&ms->bytes, heap_bytes(sizeof *u + strlen(u->name) + 1));
  if (u->pairs) acct_sub(&ms->bytes, heap_bytes(u->cap * sizeof(upair)));
  free(u->pairs);
  free(u);
}

static size_t pair_home(const unode *u, const uint8_t *key) {
  return (size_t)raw_word(key, 2) & (u->cap - 1);
}

/* The slot holding 'key', or (size_t)-1. */
static size_t pair_find(const unode *u, const uint8_t *key) {
  size_t i = u->cap ? pair_home(u, key) : 0;
  /* A small set may be full: stop after 'cap' probes. */
  for (size_t n = 0; n < u->cap; n++, i = (i + 1) & (u->cap - 1)) {
    if (u->pairs[i].expires_at == MEM_PAIR_EMPTY) return (size_t)-1;
    if (memcmp(u->pairs[i].key, key, SESSIO_KEY_BYTES) == 0) return i;
  }
  return (size_t)-1;
}

/* Whether 'n' pairs fit in 'cap' slots: small sets (up to 4 slots, where a
 * probe is cheap) may be full, larger ones stay at most 3/4 full. */
static int pair_fits(size_t n, size_t cap) {
  return n <= cap && (cap <= 4 || n * 4 <= cap * 3);
}

static size_t pair_cap_for(size_t n) {
  size_t cap = 1;
  while (!pair_fits(n, cap)) cap *= 2;
  return cap;
}

/* Inserts into a table known to have room and not to hold 'key'. */
static void pair_insert_raw(unode *u, const uint8_t *key, int64_t exp) {
  size_t i = pair_home(u, key);
  while (u->pairs[i].expires_at != MEM_PAIR_EMPTY) i = (i + 1) & (u->cap - 1);
  memcpy(u->pairs[i].key, key, SESSIO_KEY_BYTES);
  u->pairs[i].expires_at = exp;
}

/* Rebuilds the key set with 'cap' slots (0 frees it), keeping pairs with
 * expires_at > 'keep_after'. Returns 0 on out of memory (nothing changed). */
static int pair_rebuild(mem_store *ms, unode *u, size_t cap,
                        int64_t keep_after) {
  upair *old = u->pairs;
  size_t ocap = u->cap;
  upair *np = NULL;
  if (cap > 0) {
    np = malloc(cap * sizeof *np);
    if (np == NULL) return 0;
    for (size_t i = 0; i < cap; i++) np[i].expires_at = MEM_PAIR_EMPTY;
  }
  u->pairs = np;
  u->cap = (uint32_t)cap;
  uint32_t kept = 0;
  for (size_t i = 0; i < ocap; i++) {
    if (old[i].expires_at == MEM_PAIR_EMPTY) continue;
    if (old[i].expires_at > keep_after && cap > 0) {
      pair_insert_raw(u, old[i].key, old[i].expires_at);
      kept++;
    }
  }
  u->refs -= u->npairs - kept;
  u->npairs = kept;
  if (old) acct_sub(&ms->bytes, heap_bytes(ocap * sizeof(upair)));
  if (np) acct_add(&ms->bytes, heap_bytes(cap * sizeof(upair)));
  free(old);
  return 1;
}

/* Removes the pair in slot 'i' (backward-shift deletion, no tombstones). */
static void pair_delete_at(unode *u, size_t i) {
  size_t m = u->cap - 1;
  u->pairs[i].expires_at = MEM_PAIR_EMPTY;
  for (size_t j = (i + 1) & m; u->pairs[j].expires_at != MEM_PAIR_EMPTY;
       j = (j + 1) & m) {
    size_t k = pair_home(u, u->pairs[j].key);
    /* Move j back to the hole at i when its home is not in (i, j]. */
    int in_range = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);
    if (!in_range) {
      u->pairs[i] = u->pairs[j];
      u->pairs[j].expires_at = MEM_PAIR_EMPTY;
      i = j;
    }
  }
  u->npairs--;
  u->refs--;
}

/* Takes a reference on user 'name' for a record; NULL on out of memory. */
static unode *user_ref(mem_store *ms, const char *name) {
  uint64_t h = user_hash(ms, name, strlen(name));
  ushard *us = ushard_of(ms, h);
  pthread_mutex_lock(&us->mu);
  unode *u = user_get(ms, us, h, name);
  if (u) u->refs++;
  pthread_mutex_unlock(&us->mu);
  return u;
}

/* Drops a record's reference on 'u'. When the record's key still has a
 * pair in the user's set that has itself expired (expires_at <= 'now'),
 * the pair goes too: it is stale and invisible to user_list anyway. Pass
 * now = INT64_MIN to leave the set alone. */
static void user_unref(mem_store *ms, unode *u, const uint8_t *key,
                       int64_t now) {
  ushard *us = ushard_of(ms, u->hash);
  pthread_mutex_lock(&us->mu);
  if (now != INT64_MIN) {
    size_t i = pair_find(u, key);
    if (i != (size_t)-1 && u->pairs[i].expires_at <= now) pair_delete_at(u, i);
  }
  u->refs--;
  user_maybe_free(ms, us, u);
  pthread_mutex_unlock(&us->mu);
}

static sessio_err mem_user_add(sessio_store *st, const char *user,
                               const sessio_key *key, int64_t expires_at,
                               int64_t now) {
  mem_store *ms = (mem_store *)st;
  (void)now; /* pairs are kept until user_list or gc finds them expired */
  sessio_err rc = SESSIO_OK;
  if (expires_at == MEM_PAIR_EMPTY) expires_at = MEM_PAIR_EMPTY + 1;
  uint64_t h = user_hash(ms, user, strlen(user));
  ushard *us = ushard_of(ms, h);
  pthread_mutex_lock(&us->mu);
  unode *u = user_get(ms, us, h, user);
  if (u == NULL) {
    rc = SESSIO_ENOMEM;
    goto out;
  }
  size_t i = pair_find(u, key->b);
  if (i != (size_t)-1) {
    u->pairs[i].expires_at = expires_at;
    goto out;
  }
  if (!pair_fits((size_t)u->npairs + 1, u->cap) &&
      !pair_rebuild(ms, u, pair_cap_for((size_t)u->npairs + 1), INT64_MIN)) {
    rc = SESSIO_ENOMEM;
    user_maybe_free(ms, us, u);
    goto out;
  }
  pair_insert_raw(u, key->b, expires_at);
  u->npairs++;
  u->refs++;
out:
  pthread_mutex_unlock(&us->mu);
  return rc;
}

static sessio_err mem_user_list(sessio_store *st, const char *user, int64_t now,
                                sessio_key **keys, size_t *n) {
  mem_store *ms = (mem_store *)st;
  sessio_err rc = SESSIO_OK;
  uint64_t h = user_hash(ms, user, strlen(user));
  ushard *us = ushard_of(ms, h);
  pthread_mutex_lock(&us->mu);
  unode *u = user_find(us, h, user);
  if (u == NULL || u->npairs == 0) goto out;
  sessio_key *out = malloc(u->npairs * sizeof *out);
  if (out == NULL) {
    rc = SESSIO_ENOMEM;
    goto out;
  }
  size_t k = 0;
  for (size_t i = 0; i < u->cap; i++) {
    if (u->pairs[i].expires_at == MEM_PAIR_EMPTY) continue;
    if (u->pairs[i].expires_at > now)
      memcpy(out[k++].b, u->pairs[i].key, SESSIO_KEY_BYTES);
  }
  /* Expired pairs seen here are dropped (O(k), already paid for). */
  if (k < u->npairs) {
    (void)pair_rebuild(ms, u, k ? pair_cap_for(k) : 0, now);
    user_maybe_free(ms, us, u);
  }
  if (k == 0) {
    free(out);
    out = NULL;
  }
  *keys = out;
  *n = k;
out:
  pthread_mutex_unlock(&us->mu);
  return rc;
}

static sessio_err mem_user_remove(sessio_store *st, const char *user,
                                  const sessio_key *key) {
  mem_store *ms = (mem_store *)st;
  uint64_t h = user_hash(ms, user, strlen(user));
  ushard *us = ushard_of(ms, h);
  pthread_mutex_lock(&us->mu);
  unode *u = user_find(us, h, user);
  if (u) {
    size_t i = pair_find(u, key->b);
    if (i != (size_t)-1) {
      pair_delete_at(u, i);
      if (u->npairs == 0) (void)pair_rebuild(ms, u, 0, INT64_MIN);
      user_maybe_free(ms, us, u);
    }
  }
  pthread_mutex_unlock(&us->mu);
  return SESSIO_OK;
}

/* ---- records ------------------------------------------------------------- */

/* Frees a list of unlinked entries (linked through 'grave') after the
 * shard lock is released; see user_unref for 'now'. Entries collect removed
 * go to 'cb' when it is not NULL; other drops are reported as events. */
static void free_entries_cb(mem_store *ms, entry *list, int64_t now,
                            sessio_store_collect_fn cb, void *ud) {
  while (list) {
    entry *next = list->grave;
    unode *u = e_user(list);
    if (e_drop(list)) {
      sessio_key k;
      const char *user = u ? u->name : NULL;
      memcpy(k.b, list->key, sizeof k.b);
      if (cb != NULL && e_drop(list) == DROP_COLLECTED)
        cb(ud, &k, user ? user : "");
      else
        sessio__store_dropped(&ms->base, &k, user,
                              e_drop(list) == DROP_EVICTED);
    }
    if (u) user_unref(ms, u, list->key, now);
    free(list);
    list = next;
  }
}

static void free_entries(mem_store *ms, entry *list, int64_t now) {
  free_entries_cb(ms, list, now, NULL, NULL);
}

static void bury(entry *e, entry **grave) {
  e->grave = *grave;
  *grave = e;
}

/* ---- the record table ----------------------------------------------------
 * Records are kept sorted by their sort word (key word 1) along the slots,
 * with free slots between them: a record sits at or after its home slot
 * (the word scaled to 0..cap-1, which keeps the order) with no free slot
 * between home and record. A lookup starts at the home and stops at a free
 * slot or a record of a later home; an insert shifts the run after its
 * place by one; a removal shifts back the records after it that are not at
 * their home. There is no wraparound: records past the last home go to the
 * tail, which lengthens when a run reaches its end. Since the order never
 * changes, a word is a cursor that survives inserts, removals and growth.
 *
 * A slot is the entry's address with, in the low bits malloc's alignment
 * leaves zero, the record's distance from its home (SLOT_MASK when it is
 * that far or farther: then the home is computed from the entry). So the
 * probes of a lookup read only the slots until they reach the records of
 * the key's own home (less than one other record on average), and a removal
 * never reads an entry. */

#define SLOT_MASK ((uintptr_t)(_Alignof(max_align_t) >= 16 ? 15 : 7))

static entry *slot_e(const shard *sh, size_t i) {
  return (entry *)(sh->slot[i] & ~SLOT_MASK);
}

static uintptr_t slot_make(const entry *e, size_t dist) {
  return (uintptr_t)e | (dist < SLOT_MASK ? (uintptr_t)dist : SLOT_MASK);
}

static uint64_t e_word(const entry *e) { return raw_word(e->key, 1); }

static size_t home_of_word(size_t cap, uint64_t w) {
  return (size_t)(((w >> 32) * (uint64_t)cap) >> 32);
}

/* The least word whose home is 'pos' or later (pos <= cap). */
static uint64_t first_word_at(size_t cap, size_t pos) {
  uint64_t hi = (((uint64_t)pos << 32) + cap - 1) / cap;
  return hi > UINT32_MAX ? UINT64_MAX : hi << 32;
}

/* The home of the record in the occupied slot 'i'. */
static size_t home_at(const shard *sh, size_t i) {
  uintptr_t d = sh->slot[i] & SLOT_MASK;
  return d < SLOT_MASK ? i - d : home_of_word(sh->cap, e_word(slot_e(sh, i)));
}

/* The slot holding 'key', or MEM_NOPOS. A record in slot i at distance d
 * belongs to home i - d: an earlier home than the key's when d > i - h, a
 * later one (the key is absent) when d < i - h. */
static size_t slot_find(const shard *sh, const uint8_t *key) {
  uint64_t w = raw_word(key, 1);
  size_t h = home_of_word(sh->cap, w);
  const uintptr_t *slot = sh->slot;
  for (size_t i = h; i < sh->size && slot[i]; i++) {
    uintptr_t d = slot[i] & SLOT_MASK;
    if (d != i - h) {
      if (d < SLOT_MASK || i - h < SLOT_MASK) {
        if (d > i - h) continue;
        break;
      }
      size_t hi = home_at(sh, i); /* far from home: read the word */
      if (hi < h) continue;
      if (hi > h) break;
    }
    const entry *e = (const entry *)(slot[i] & ~SLOT_MASK);
    uint64_t ew = e_word(e);
    if (ew > w) break;
    if (ew == w && raw_word(e->key, 0) == raw_word(key, 0) &&
        raw_word(e->key, 2) == raw_word(key, 2) &&
        raw_word(e->key, 3) == raw_word(key, 3))
      return i;
  }
  return MEM_NOPOS;
}

/* The first slot at or after the home of 'w' that is free or holds a word
 * above 'w' (or not below it, when 'strict'), or size. */
static size_t slot_after(const shard *sh, uint64_t w, int strict) {
  size_t h = home_of_word(sh->cap, w), i = h;
  for (; i < sh->size && sh->slot[i]; i++) {
    size_t hi = home_at(sh, i);
    if (hi < h) continue;
    if (hi > h) break;
    uint64_t ew = e_word(slot_e(sh, i));
    if (strict ? ew >= w : ew > w) break;
  }
  return i;
}

static size_t slot_seek(const shard *sh, uint64_t w) {
  return slot_after(sh, w, 1);
}

/* Slots past the last home for a table of 'cap' homes, and the step by
 * which the tail lengthens when a run reaches its end. */
static size_t tail_for(size_t cap) { return 8 + cap / 128; }

static uint64_t table_bytes(size_t size) {
  return heap_bytes(size * sizeof(uintptr_t));
}

/* Asks the CPU to fetch the sort word of the record in slot 'i', if any:
 * a rebuild reads every record's word in slot order, i.e. all over the
 * heap, and fetching a few ahead overlaps those cache misses. */
static void prefetch_word(const shard *sh, size_t i) {
#if defined(__GNUC__)
  if (i < sh->size && sh->slot[i]) __builtin_prefetch(slot_e(sh, i)->key + 8);
#else
  (void)sh;
  (void)i;
#endif
}

/* Rebuilds the table of 'sh' with 'cap' homes (cap >= count), keeping the
 * order; 0 on out of memory (nothing changed). */
static int shard_rebuild(mem_store *ms, shard *sh, size_t cap) {
  size_t size = cap + tail_for(cap);
  for (;;) {
    uintptr_t *slot = calloc(size, sizeof *slot);
    if (slot == NULL) return 0;
    size_t next = 0, i;
    for (i = 0; i < sh->size; i++) {
      prefetch_word(sh, i + MEM_PREFETCH);
      if (sh->slot[i] == 0) continue;
      entry *e = slot_e(sh, i);
      size_t h = home_of_word(cap, e_word(e));
      size_t at = h > next ? h : next;
      if (at >= size) break;
      slot[at] = slot_make(e, at - h);
      next = at + 1;
    }
    if (i < sh->size) { /* a run went past the tail: a longer one */
      free(slot);
      size += tail_for(cap);
      continue;
    }
    acct_sub(&ms->bytes, table_bytes(sh->size));
    acct_add(&ms->bytes, table_bytes(size));
    free(sh->slot);
    sh->slot = slot;
    sh->cap = cap;
    sh->size = size;
    return 1;
  }
}

/* Lengthens the tail; 0 on out of memory. */
static int shard_extend(mem_store *ms, shard *sh) {
  size_t size = sh->size + tail_for(sh->cap);
  uintptr_t *slot = realloc(sh->slot, size * sizeof *slot);
  if (slot == NULL) return 0;
  memset(slot + sh->size, 0, (size - sh->size) * sizeof *slot);
  acct_sub(&ms->bytes, table_bytes(sh->size));
  acct_add(&ms->bytes, table_bytes(size));
  sh->slot = slot;
  sh->size = size;
  return 1;
}

/* Adds 'e', whose key the table does not hold (shard lock held); 0 on out
 * of memory (nothing changed). Past MEM_LOAD_MAX the table grows first; if
 * that fails the record still goes in while a slot is free. */
static int slot_insert(mem_store *ms, shard *sh, entry *e) {
  if ((sh->count + 1) * 100 > sh->cap * MEM_LOAD_MAX &&
      sh->cap < UINT32_MAX / 2) {
    size_t cap = (sh->count + 1) * 100 / MEM_LOAD_GROWN + 1;
    (void)shard_rebuild(ms, sh, cap);
  }
  uint64_t w = e_word(e);
  size_t h = home_of_word(sh->cap, w);
  size_t p = slot_after(sh, w, 0), q = p;
  while (q < sh->size && sh->slot[q]) q++;
  if (q == sh->size && !shard_extend(ms, sh)) return 0;
  /* the run p..q-1 moves one slot further from its homes */
  for (; q > p; q--) {
    uintptr_t v = sh->slot[q - 1];
    sh->slot[q] = (v & SLOT_MASK) < SLOT_MASK ? v + 1 : v;
  }
  sh->slot[p] = slot_make(e, p - h);
  sh->count++;
  return 1;
}

/* Takes the record in slot 'i' out (shard lock held): the records after it
 * that are not at their home move back by one. */
static void slot_delete(shard *sh, size_t i) {
  size_t q = i + 1;
  for (; q < sh->size && sh->slot[q]; q++) {
    uintptr_t v = sh->slot[q], d = v & SLOT_MASK;
    if (d == 0) break; /* at its home */
    if (d < SLOT_MASK) {
      sh->slot[q - 1] = v - 1;
    } else {
      entry *e = slot_e(sh, q);
      sh->slot[q - 1] = slot_make(e, q - 1 - home_of_word(sh->cap, e_word(e)));
    }
  }
  sh->slot[q - 1] = 0;
  sh->count--;
}

/* Takes slot 'i' out of the table (shard lock held), accounts for it and
 * puts it on 'grave' with the reason 'why'. */
static void unlink_entry(mem_store *ms, shard *sh, size_t i, entry **grave,
                         unsigned why) {
  entry *e = slot_e(sh, i);
  slot_delete(sh, i);
  acct_sub(&ms->sessions, 1);
  acct_sub(&ms->bytes, entry_bytes(e));
  e_set_drop(e, why);
  bury(e, grave);
}

/* The live record for 'key' or NULL, and its slot in '*at'; a dead one
 * found on the way is removed (lazy expiry) onto 'grave'. Shard lock
 * held. */
/* Lazy expiry, out of line: find_live stays a leaf on its hot path. */
#if defined(__GNUC__)
__attribute__((noinline, cold))
#endif
static void
expire_at(mem_store *ms, shard *sh, size_t i, entry **grave) {
  unlink_entry(ms, sh, i, grave, DROP_EXPIRED);
  acct_add(&ms->expired, 1);
}

static entry *find_live(mem_store *ms, shard *sh, const sessio_key *key,
                        int64_t now, entry **grave, size_t *at) {
  size_t i = slot_find(sh, key->b);
  if (i == MEM_NOPOS) return NULL;
  entry *e = slot_e(sh, i);
  if (now < e_expires(e)) {
    *at = i;
    return e;
  }
  expire_at(ms, sh, i, grave);
  return NULL;
}

/* Replaces the narrow entry in slot 'i' (shard lock held) by a wide copy,
 * which it returns; NULL on out of memory, the entry unchanged. The copy
 * keeps the user's reference. */
static entry *widen(mem_store *ms, shard *sh, size_t i) {
  entry *e = slot_e(sh, i);
  unsigned flags = e->flags | E_WIDE;
  size_t len = e_len(e);
  entry *ne = malloc(entry_size(flags, len));
  if (ne == NULL) return NULL;
  memcpy(ne, e, offsetof(entry, tail));
  ne->flags = (uint8_t)flags;
  if (e->flags & E_USER) memcpy(ne->tail, e->tail, sizeof(unode *));
  e_set_len(ne, len);
  e_set(ne, e_version(e), e_touched(e), e_expires(e));
  memcpy(e_blob(ne), e_blob(e), len);
  sh->slot[i] = (uintptr_t)ne | (sh->slot[i] & SLOT_MASK);
  acct_add(&ms->bytes, entry_bytes(ne));
  acct_sub(&ms->bytes, entry_bytes(e));
  free(e);
  return ne;
}

static int fits(mem_store *ms, uint64_t add_bytes) {
  if (ms->max_sessions && acct_get(&ms->sessions) + 1 > ms->max_sessions)
    return 0;
  if (ms->max_bytes && acct_get(&ms->bytes) + add_bytes > ms->max_bytes)
    return 0;
  return 1;
}

/* One eviction round on 'sh' (its lock held): samples up to MEM_SAMPLE
 * records from a rotating slot, removes the dead ones; when none was dead,
 * evicts the live one with the earliest expires_at. Returns how many
 * records it removed. */
static size_t shard_reclaim(mem_store *ms, shard *sh, int64_t now,
                            entry **grave, int allow_auth) {
  size_t walk = sh->size < MEM_SAMPLE_BUCKETS ? sh->size : MEM_SAMPLE_BUCKETS;
  size_t seen = 0, removed = 0, victim = MEM_NOPOS;
  if (sh->count == 0) return 0;
  size_t i = sh->sample % sh->size;
  for (size_t w = 0; w < walk && seen < MEM_SAMPLE;) {
    entry *e = slot_e(sh, i);
    if (e != NULL) {
      seen++;
      if (e_expires(e) <= now) { /* the next record may move into 'i' */
        unlink_entry(ms, sh, i, grave, DROP_EXPIRED);
        acct_add(&ms->expired, 1);
        removed++;
        continue;
      }
      if ((allow_auth || !(e->flags & E_USER)) &&
          (victim == MEM_NOPOS || e_expires(e) < e_expires(slot_e(sh, victim))))
        victim = i;
    }
    w++;
    i = i + 1 == sh->size ? 0 : i + 1;
  }
  sh->sample = i;
  if (removed > 0 || victim == MEM_NOPOS) return removed;
  unlink_entry(ms, sh, victim, grave, DROP_EVICTED);
  acct_add(&ms->evicted, 1);
  return 1;
}

/* Makes room for one more record of 'add_bytes' (own shard lock held):
 * anonymous records go first; signed-in ones only for a signed-in record
 * ('auth'). */
static sessio_err make_room(mem_store *ms, shard *own, uint64_t add_bytes,
                            int64_t now, entry **grave, int auth) {
  if (ms->max_bytes && add_bytes > ms->max_bytes) return SESSIO_EFULL;
  size_t own_i = (size_t)(own - ms->shards);
  int allow_auth = 0;
  for (int round = 0; round <= MEM_MAX_EVICT; round++) {
    if (fits(ms, add_bytes)) return SESSIO_OK;
    if (round == MEM_MAX_EVICT) break;
    size_t got = 0;
    for (size_t i = 0; i < ms->nshards && got == 0; i++) {
      shard *sh = &ms->shards[(own_i + i) & (ms->nshards - 1)];
      if (sh != own && pthread_mutex_trylock(&sh->mu) != 0) continue;
      got = shard_reclaim(ms, sh, now, grave, allow_auth);
      if (sh != own) pthread_mutex_unlock(&sh->mu);
    }
    if (got == 0 && auth && !allow_auth) {
      allow_auth = 1; /* no anonymous record seen: a user may replace a user */
      continue;
    }
    if (got == 0) break;
  }
  return SESSIO_EFULL;
}

static void fill_record(const entry *e, sessio_record *out) {
  unode *u = e_user(e);
  if (e->flags & E_WIDE) {
    entry_wide w = e_wide(e);
    out->version = w.version;
    out->expires_at = w.expires_at;
    out->touched_at = w.touched_at;
  } else {
    out->version = e_version(e);
    out->expires_at = e_expires(e);
    out->touched_at = (int64_t)((uint64_t)out->expires_at - e->idle);
  }
  if (u) {
    size_t n = strlen(u->name);
    memcpy(out->user, u->name, n + 1);
  } else {
    out->user[0] = '\0';
  }
}

static sessio_err mem_load(sessio_store *st, const sessio_key *key, int64_t now,
                           sessio_record *out, int *found) {
  mem_store *ms = (mem_store *)st;
  shard *sh = shard_of(ms, key);
  entry *grave = NULL;
  sessio_err rc = SESSIO_OK;
  *found = 0;
  size_t at;
  pthread_mutex_lock(&sh->mu);
  entry *e = find_live(ms, sh, key, now, &grave, &at);
  if (e) {
    size_t len = e_len(e);
    uint8_t *blob = malloc(len ? len : 1);
    if (blob == NULL) {
      rc = SESSIO_ENOMEM;
    } else {
      memcpy(blob, e_blob(e), len);
      fill_record(e, out);
      out->blob = blob;
      out->blob_len = len;
      *found = 1;
    }
  }
  pthread_mutex_unlock(&sh->mu);
  free_entries(ms, grave, now);
  return rc;
}

static sessio_err mem_save(sessio_store *st, const sessio_key *key,
                           const sessio_record *rec, uint64_t expected,
                           int64_t now, uint64_t *new_version) {
  mem_store *ms = (mem_store *)st;
  shard *sh = shard_of(ms, key);
  entry *grave = NULL, *ne;
  sessio_err rc = SESSIO_OK;
  size_t ulen = strnlen(rec->user, sizeof rec->user);

  if (rec->blob_len > UINT32_MAX) return SESSIO_ETOOBIG;
  if ((rec->blob == NULL && rec->blob_len > 0) || ulen > SESSIO_USER_MAX ||
      expected == UINT64_MAX)
    return SESSIO_EINVAL;
  if (expected > 0) {
    /* An update that keeps the blob's length and the user (a counter or a
     * flag changed: most updates) is written over the entry under the lock,
     * with no allocation; anything else takes the general path below. */
    int done = 0;
    size_t at;
    pthread_mutex_lock(&sh->mu);
    entry *cur = find_live(ms, sh, key, now, &grave, &at);
    if (cur == NULL || e_version(cur) != expected) {
      rc = SESSIO_ECONFLICT;
      done = 1;
    } else if (e_len(cur) == rec->blob_len &&
               ((cur->flags & E_WIDE) ||
                narrow_fits(expected + 1, rec->touched_at, rec->expires_at,
                            rec->blob_len)) &&
               (!(cur->flags & E_USER)
                    ? ulen == 0
                    : ulen > 0 && strcmp(e_user(cur)->name, rec->user) == 0)) {
      e_set(cur, expected + 1, rec->touched_at, rec->expires_at);
      if (rec->blob_len) memcpy(e_blob(cur), rec->blob, rec->blob_len);
      *new_version = expected + 1;
      done = 1;
    }
    pthread_mutex_unlock(&sh->mu);
    if (done) {
      free_entries(ms, grave, now);
      return rc;
    }
  }
  unsigned flags = (ulen > 0 ? E_USER : 0) |
                   (narrow_fits(expected + 1, rec->touched_at, rec->expires_at,
                                rec->blob_len)
                        ? 0
                        : E_WIDE);
  ne = malloc(entry_size(flags, rec->blob_len));
  if (ne == NULL) return SESSIO_ENOMEM;
  memcpy(ne->key, key->b, SESSIO_KEY_BYTES);
  ne->flags = (uint8_t)flags;
  e_set_len(ne, rec->blob_len);
  e_set(ne, expected + 1, rec->touched_at, rec->expires_at);
  if (rec->blob_len) memcpy(e_blob(ne), rec->blob, rec->blob_len);
  if (ulen > 0) {
    unode *u = user_ref(ms, rec->user);
    if (u == NULL) {
      free(ne);
      return SESSIO_ENOMEM;
    }
    memcpy(ne->tail, &u, sizeof u);
  }

  size_t at = 0;
  pthread_mutex_lock(&sh->mu);
  entry *cur = find_live(ms, sh, key, now, &grave, &at); /* dead ones go */
  if (expected == 0 ? cur != NULL
                    : (cur == NULL || e_version(cur) != expected)) {
    rc = SESSIO_ECONFLICT;
    goto unlock;
  }
  if (cur) { /* replace in its slot: same key, same place */
    sh->slot[at] = (uintptr_t)ne | (sh->slot[at] & SLOT_MASK);
    acct_add(&ms->bytes, entry_bytes(ne));
    acct_sub(&ms->bytes, entry_bytes(cur));
    bury(cur, &grave);
  } else {
    rc = make_room(ms, sh, entry_bytes(ne), now, &grave, ulen > 0);
    if (rc != SESSIO_OK) goto unlock;
    if (!slot_insert(ms, sh, ne)) {
      rc = SESSIO_ENOMEM;
      goto unlock;
    }
    acct_add(&ms->sessions, 1);
    acct_add(&ms->bytes, entry_bytes(ne));
  }
  *new_version = expected + 1;
  ne = NULL;
unlock:
  pthread_mutex_unlock(&sh->mu);
  if (ne) bury(ne, &grave); /* not stored */
  /* A replaced record keeps its user pairs: the key lives on. */
  free_entries(ms, grave, rc == SESSIO_OK && expected > 0 ? INT64_MIN : now);
  return rc;
}

static sessio_err mem_touch(sessio_store *st, const sessio_key *key,
                            int64_t touched_at, int64_t expires_at, int64_t now,
                            int *found) {
  mem_store *ms = (mem_store *)st;
  shard *sh = shard_of(ms, key);
  entry *grave = NULL;
  pthread_mutex_lock(&sh->mu);
  sessio_err rc = SESSIO_OK;
  size_t at;
  entry *e = find_live(ms, sh, key, now, &grave, &at);
  if (e && !(e->flags & E_WIDE) &&
      !narrow_fits(e_version(e), touched_at, expires_at, e_len(e)) &&
      (e = widen(ms, sh, at)) == NULL)
    rc = SESSIO_ENOMEM;
  if (e) e_set(e, e_version(e), touched_at, expires_at);
  *found = e != NULL;
  pthread_mutex_unlock(&sh->mu);
  free_entries(ms, grave, now);
  return rc;
}

static const sessio_store_methods memory_methods;

sessio_err sessio__memory_force_version(sessio_store *st, const sessio_key *key,
                                        uint64_t version, int64_t now) {
  mem_store *ms = (mem_store *)st;
  if (st == NULL || st->methods != &memory_methods || version == 0)
    return SESSIO_EINVAL;
  shard *sh = shard_of(ms, key);
  entry *grave = NULL;
  sessio_err rc = SESSIO_OK;
  size_t at;
  pthread_mutex_lock(&sh->mu);
  entry *e = find_live(ms, sh, key, now, &grave, &at);
  int64_t touched = e ? e_touched(e) : 0;
  if (e == NULL)
    rc = SESSIO_EINVAL;
  else if (!(e->flags & E_WIDE) &&
           !narrow_fits(version, touched, e_expires(e), e_len(e)) &&
           (e = widen(ms, sh, at)) == NULL)
    rc = SESSIO_ENOMEM;
  if (e) e_set(e, version, touched, e_expires(e));
  pthread_mutex_unlock(&sh->mu);
  free_entries(ms, grave, now);
  return rc;
}

static sessio_err mem_remove(sessio_store *st, const sessio_key *key,
                             int64_t now, int *removed) {
  mem_store *ms = (mem_store *)st;
  shard *sh = shard_of(ms, key);
  entry *grave = NULL;
  pthread_mutex_lock(&sh->mu);
  size_t i = slot_find(sh, key->b);
  *removed = i != MEM_NOPOS;
  if (i != MEM_NOPOS) unlink_entry(ms, sh, i, &grave, DROP_NONE);
  pthread_mutex_unlock(&sh->mu);
  /* The user's pair goes too when it has expired; a live one is the
   * caller's to remove (user_remove). */
  free_entries(ms, grave, now);
  return SESSIO_OK;
}

/* ---- gc, iterate, stats -------------------------------------------------- */

/* One step of a walk over a shard's slots in word order, shared by gc and
 * scan: after an empty slot 'i' every record with a home up to 'i' lies
 * behind it, so the walk goes on from the first word whose home is after
 * 'i'; after the record of word 'w', from w + 1. Sets '*word' and returns
 * 0, or returns 1 when nothing of the shard is left. */
static int walk_past_empty(const shard *sh, size_t i, uint64_t *word) {
  if (i + 1 >= sh->cap) return 1;
  *word = first_word_at(sh->cap, i + 1);
  return 0;
}

static int walk_past_record(uint64_t w, uint64_t *word) {
  if (w == UINT64_MAX) return 1;
  *word = w + 1;
  return 0;
}

/* Whether slot 'i' holds a record of word 'w': two keys may share a word
 * (one chance in 2^64 a pair), and since the cursor is a word a walk never
 * stops between them. */
static int word_goes_on(const shard *sh, size_t i, uint64_t w) {
  return i < sh->size && sh->slot[i] && e_word(slot_e(sh, i)) == w;
}

/* Walks the cursor over (shard, sort word). A unit is one record
 * examined; an empty slot costs 1/MEM_EMPTY_BUCKETS_PER_UNIT of a unit so
 * a large, mostly empty table is still crossed in bounded steps. Stops at
 * the end of a pass (cursor wrapped) and reports done. The table keeps its
 * records in word order through inserts, removals and growth, so a pass
 * examines every record that stays in the store from its start to its
 * end. */
static sessio_err mem_collect(sessio_store *st, int64_t now, size_t max_work,
                              sessio_store_collect_fn cb, void *ud,
                              size_t *removed, int *done) {
  mem_store *ms = (mem_store *)st;
  size_t work = 0, n_removed = 0;
  *done = 0;
  if (max_work == 0) return SESSIO_OK;
  pthread_mutex_lock(&ms->gc_mu);
  while (work < max_work && !*done) {
    shard *sh = &ms->shards[ms->gc_shard];
    entry *grave = NULL;
    int finished = 0;
    pthread_mutex_lock(&sh->mu);
    size_t i = slot_seek(sh, ms->gc_word);
    uint64_t last = 0;
    int tie = 0;
    while (!finished && (work < max_work || tie)) {
      entry *e = i < sh->size ? slot_e(sh, i) : NULL;
      if (i >= sh->size) {
        finished = 1;
      } else if (e == NULL) {
        if (++ms->gc_empty % MEM_EMPTY_BUCKETS_PER_UNIT == 0) work++;
        finished = walk_past_empty(sh, i++, &ms->gc_word);
        tie = 0;
      } else if (work++, e_expires(e) <= now) {
        /* The next record may move back into 'i'. The cursor is still at
         * or below this word, so stopping here skips nothing. */
        unlink_entry(ms, sh, i, &grave, DROP_COLLECTED);
        acct_add(&ms->expired, 1);
        n_removed++;
        tie = tie && word_goes_on(sh, i, last);
      } else {
        last = e_word(e);
        tie = word_goes_on(sh, ++i, last);
        if (!tie) finished = walk_past_record(last, &ms->gc_word);
      }
    }
    if (finished) {
      ms->gc_word = 0;
      if (++ms->gc_shard == ms->nshards) {
        ms->gc_shard = 0;
        *done = 1;
      }
    }
    pthread_mutex_unlock(&sh->mu);
    free_entries_cb(ms, grave, now, cb, ud);
  }
  pthread_mutex_unlock(&ms->gc_mu);
  *removed += n_removed;
  return SESSIO_OK;
}

/* gc without a report: what it removes becomes events of the call running
 * on this thread, as lazy expiry does. */
static sessio_err mem_gc(sessio_store *st, int64_t now, size_t max_work,
                         size_t *removed, int *done) {
  return mem_collect(st, now, max_work, NULL, NULL, removed, done);
}

/* The callback runs under the shard lock: it must not call into this
 * store. Scan cursor: "SHARD WORD", the sort word (hex) from which the
 * shard goes on. The table keeps records in word order through inserts,
 * removals and growth, so records at or after the cursor stay at or after
 * it: none is skipped. A call stops between two different words, so it may
 * do a little over 'max_work' when keys share a word. */
static sessio_err mem_scan(sessio_store *st, sessio_store_cursor *cur,
                           size_t max_work, sessio_store_iter_fn cb, void *ud,
                           int *done) {
  mem_store *ms = (mem_store *)st;
  unsigned long si = 0;
  uint64_t word = 0;
  size_t work = 0, empty = 0;
  *done = 0;
  if (cur->text[0] && sscanf(cur->text, "%lu %" SCNx64, &si, &word) != 2)
    return SESSIO_EINVAL;
  while (si < ms->nshards && work < max_work) {
    shard *sh = &ms->shards[si];
    int finished = 0;
    pthread_mutex_lock(&sh->mu);
    size_t i = slot_seek(sh, word);
    int tie = 0;
    while (!finished && (work < max_work || tie)) {
      entry *e = i < sh->size ? slot_e(sh, i) : NULL;
      if (i >= sh->size) {
        finished = 1;
      } else if (e == NULL) {
        if (++empty % MEM_EMPTY_BUCKETS_PER_UNIT == 0) work++;
        finished = walk_past_empty(sh, i++, &word);
        tie = 0;
      } else {
        sessio_record rec;
        sessio_key key;
        uint64_t w = e_word(e);
        fill_record(e, &rec);
        rec.blob = e_blob(e);
        rec.blob_len = e_len(e);
        memcpy(key.b, e->key, SESSIO_KEY_BYTES);
        (void)cb(ud, &key, &rec);
        work++;
        tie = word_goes_on(sh, ++i, w);
        if (!tie) finished = walk_past_record(w, &word);
      }
    }
    pthread_mutex_unlock(&sh->mu);
    if (finished) {
      si++;
      word = 0;
    }
  }
  if (si >= ms->nshards) {
    *done = 1;
    cur->text[0] = '\0';
  } else {
    snprintf(cur->text, sizeof cur->text, "%lu %" PRIx64, si, word);
  }
  return SESSIO_OK;
}

static sessio_err mem_iterate(sessio_store *st, int64_t now,
                              sessio_store_iter_fn cb, void *ud) {
  mem_store *ms = (mem_store *)st;
  sessio_record rec;
  sessio_key key;
  int stop = 0;
  for (size_t s = 0; s < ms->nshards && !stop; s++) {
    shard *sh = &ms->shards[s];
    pthread_mutex_lock(&sh->mu);
    for (size_t i = 0; i < sh->size && !stop; i++) {
      entry *e = slot_e(sh, i);
      if (e != NULL) {
        if (e_expires(e) <= now) continue;
        fill_record(e, &rec);
        rec.blob = e_blob(e);
        rec.blob_len = e_len(e);
        memcpy(key.b, e->key, SESSIO_KEY_BYTES);
        stop = cb(ud, &key, &rec) != 0;
      }
    }
    pthread_mutex_unlock(&sh->mu);
  }
  return SESSIO_OK;
}

/* User-index cursor: "SHARD BUCKET" of the user tables, as for scan (they
 * only double too). Every pair of every user in a bucket is visited. */
static sessio_err mem_user_scan(sessio_store *st, sessio_store_cursor *cur,
                                size_t max_work, sessio_store_user_iter_fn cb,
                                void *ud, int *done) {
  mem_store *ms = (mem_store *)st;
  unsigned long si = 0, bi = 0;
  size_t work = 0;
  *done = 0;
  if (cur->text[0] && sscanf(cur->text, "%lu %lu", &si, &bi) != 2)
    return SESSIO_EINVAL;
  if (max_work == 0) max_work = 1;
  while (si < ms->nshards && work < max_work) {
    ushard *us = &ms->ushards[si];
    pthread_mutex_lock(&us->mu);
    for (; bi <= us->mask && work < max_work; bi++) {
      for (unode *u = us->buckets[bi]; u; u = u->next) {
        sessio_store_user_entry e;
        memset(&e, 0, sizeof e);
        snprintf(e.user, sizeof e.user, "%s", u->name);
        sessio_store_user_hash(u->name, e.user_hash);
        for (size_t i = 0; i < u->cap; i++) {
          if (u->pairs[i].expires_at == MEM_PAIR_EMPTY) continue;
          memcpy(e.key.b, u->pairs[i].key, SESSIO_KEY_BYTES);
          e.expires_at = u->pairs[i].expires_at;
          (void)cb(ud, &e);
          work++;
        }
      }
      work++; /* the bucket itself */
    }
    int finished = bi > us->mask;
    pthread_mutex_unlock(&us->mu);
    if (finished) {
      si++;
      bi = 0;
    }
  }
  if (si >= ms->nshards) {
    *done = 1;
    cur->text[0] = '\0';
  } else {
    snprintf(cur->text, sizeof cur->text, "%lu %lu", si, bi);
  }
  return SESSIO_OK;
}

static sessio_err mem_stats(sessio_store *st, struct sessio_store_stats *out) {
  mem_store *ms = (mem_store *)st;
  out->sessions = acct_get(&ms->sessions);
  out->bytes = acct_get(&ms->bytes);
  out->evicted = acct_get(&ms->evicted);
  out->expired = acct_get(&ms->expired);
  return SESSIO_OK;
}

/* ---- open / close -------------------------------------------------------- */

static void mem_free(mem_store *ms) {
  if (ms->shards) {
    for (size_t s = 0; s < ms->nshards; s++) {
      shard *sh = &ms->shards[s];
      if (sh->slot == NULL) continue;
      for (size_t i = 0; i < sh->size; i++) free(slot_e(sh, i));
      free(sh->slot);
      pthread_mutex_destroy(&sh->mu);
    }
  }
  if (ms->ushards) {
    for (size_t s = 0; s < ms->nshards; s++) {
      ushard *us = &ms->ushards[s];
      if (us->buckets == NULL) continue;
      for (size_t b = 0; b <= us->mask; b++) {
        for (unode *u = us->buckets[b], *next; u; u = next) {
          next = u->next;
          free(u->pairs);
          free(u);
        }
      }
      free(us->buckets);
      pthread_mutex_destroy(&us->mu);
    }
  }
  free(ms->shards);
  free(ms->ushards);
  pthread_mutex_destroy(&ms->gc_mu);
  free(ms);
}

static void mem_close(sessio_store *st) {
  if (st) mem_free((mem_store *)st);
}

static const sessio_store_methods memory_methods = {
    .version = SESSIO_STORE_API_VERSION,
    .name = "memory",
    .load = mem_load,
    .save = mem_save,
    .touch = mem_touch,
    .remove = mem_remove,
    .user_add = mem_user_add,
    .user_list = mem_user_list,
    .user_remove = mem_user_remove,
    .gc = mem_gc,
    .iterate = mem_iterate,
    .scan = mem_scan,
    .stats = mem_stats,
    .close = mem_close,
    .collect = mem_collect,
    .user_scan = mem_user_scan,
};

typedef struct mem_params {
  uint64_t max_sessions, max_bytes, shards;
} mem_params;

static sessio_err mem_param(void *ud, const char *name, const char *val) {
  mem_params *p = ud;
  long long n;
  if (!sessio__opt_int(val, 1, LLONG_MAX, &n)) return SESSIO_EINVAL;
  uint64_t v = (uint64_t)n;
  if (strcmp(name, "max_sessions") == 0) {
    p->max_sessions = v;
  } else if (strcmp(name, "max_bytes") == 0) {
    p->max_bytes = v;
  } else if (strcmp(name, "shards") == 0) {
    if (v > MEM_MAX_SHARDS || (v & (v - 1)) != 0) return SESSIO_EINVAL;
    p->shards = v;
  } else {
    return SESSIO_EINVAL;
  }
  return SESSIO_OK;
}

sessio_err sessio__store_open_memory(const char *rest, sessio_store **out) {
  mem_params p = {0, 0, MEM_DEFAULT_SHARDS};
  sessio_err rc;
  mem_store *ms;

  *out = NULL;
  size_t plen;
  const char *q = sessio__url_split(rest, &plen);
  if (plen != 0) return SESSIO_EINVAL; /* "memory:" has no path */
  if (q != NULL &&
      (rc = sessio_store_url_params(q, mem_param, &p)) != SESSIO_OK)
    return rc;
  if ((rc = sessio__crypto_init()) != SESSIO_OK) return rc;

  ms = calloc(1, sizeof *ms);
  if (ms == NULL) return SESSIO_ENOMEM;
  ms->base.methods = &memory_methods;
  ms->nshards = (size_t)p.shards;
  ms->max_sessions = p.max_sessions;
  ms->max_bytes = p.max_bytes;
  pthread_mutex_init(&ms->gc_mu, NULL);
  if ((rc = sessio__random(ms->ukey, sizeof ms->ukey)) != SESSIO_OK) goto fail;
  rc = SESSIO_ENOMEM;
  ms->shards = calloc(ms->nshards, sizeof *ms->shards);
  ms->ushards = calloc(ms->nshards, sizeof *ms->ushards);
  if (ms->shards == NULL || ms->ushards == NULL) goto fail;
  for (size_t s = 0; s < ms->nshards; s++) {
    shard *sh = &ms->shards[s];
    ushard *us = &ms->ushards[s];
    sh->cap = MEM_INITIAL_SLOTS;
    sh->size = MEM_INITIAL_SLOTS + tail_for(MEM_INITIAL_SLOTS);
    if ((sh->slot = calloc(sh->size, sizeof *sh->slot)) == NULL) {
      sh->size = 0;
      goto fail;
    }
    pthread_mutex_init(&sh->mu, NULL);
    us->buckets = calloc(MEM_INITIAL_BUCKETS, sizeof *us->buckets);
    if (us->buckets == NULL) goto fail;
    pthread_mutex_init(&us->mu, NULL);
    us->mask = MEM_INITIAL_BUCKETS - 1;
  }
  ms->bytes = heap_bytes(sizeof *ms) + heap_bytes(ms->nshards * sizeof(shard)) +
              heap_bytes(ms->nshards * sizeof(ushard)) +
              ms->nshards * (table_bytes(MEM_INITIAL_SLOTS +
                                         tail_for(MEM_INITIAL_SLOTS)) +
                             heap_bytes(MEM_INITIAL_BUCKETS * sizeof(void *)));
  *out = &ms->base;
  return SESSIO_OK;

fail:
  mem_free(ms);
  return rc;
}
