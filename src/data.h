/*
 * data.h — session data: a flat map of string keys to typed values, the
 * log of operations a request made on it (for merge-safe commits), and the
 * compact versioned binary encoding of the map. Internal to libsessio.
 *
 * The map is a sorted array of entries (sessions hold few keys): lookups
 * are binary searches, prefix iteration is a range. Values are stored in
 * one allocation with their key; the entries a decode made share one
 * block. Session data is wiped before its memory is freed.
 */
#ifndef SESSIO_DATA_H
#define SESSIO_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "sessio.h"

typedef struct sessio__entry {
  char *key; /* NUL-terminated; key and bytes are one block that the entry
                owns, or part of the map's block when 'in_block' */
  size_t key_len;
  sessio_type type;
  uint8_t in_block;
  int64_t ival;   /* SESSIO_T_INT, SESSIO_T_BOOL (0/1) */
  uint8_t *bytes; /* SESSIO_T_STR (NUL-terminated), SESSIO_T_BYTES */
  size_t len;     /* bytes length, excluding the NUL of strings */
} sessio__entry;

typedef struct sessio__map {
  sessio__entry *v; /* sorted by key, memcmp order then length */
  size_t n;
  size_t cap;
  /* The keys and values of every decoded entry, in one allocation (a
   * decode makes two allocations, not one per entry); wiped when freed. */
  uint8_t *block;
  size_t block_len;
} sessio__map;

#define SESSIO__MAP_INIT                                                       \
  { NULL, 0, 0, NULL, 0 }

void sessio__map_free(sessio__map *m);
/* Deep copy. */
sessio_err sessio__map_copy(sessio__map *dst, const sessio__map *src);

const sessio__entry *sessio__map_get(const sessio__map *m, const char *key,
                                     size_t key_len);
/* Sets 'key' to a value; 'val'/'len' for STR and BYTES, 'ival' for INT and
 * BOOL. Copies everything. */
sessio_err sessio__map_set(sessio__map *m, const char *key, size_t key_len,
                           sessio_type type, const void *val, size_t len,
                           int64_t ival);
/* The same set in two steps, for a caller that must do more between the
 * allocations and the change (log the operation): prepare allocates all
 * the set needs into '*e' and changes nothing but the map's capacity;
 * apply then cannot fail and takes '*e'; drop frees an unapplied one. */
sessio_err sessio__map_set_prepare(sessio__map *m, const char *key,
                                   size_t key_len, sessio_type type,
                                   const void *val, size_t len, int64_t ival,
                                   sessio__entry *e);
void sessio__map_set_apply(sessio__map *m, sessio__entry *e);
void sessio__map_set_drop(sessio__entry *e);
/* Removes 'key'; returns 1 when it was present. */
int sessio__map_delete(sessio__map *m, const char *key, size_t key_len);
/* Adds 'delta' (absent = 0). SESSIO_ETYPE / SESSIO_EOVERFLOW leave the map
 * unchanged. */
sessio_err sessio__map_incr(sessio__map *m, const char *key, size_t key_len,
                            int64_t delta, int64_t *result);
/* Key order of the map: memcmp order, then length. */
int sessio__key_cmp(const char *a, size_t alen, const char *b, size_t blen);
/* Index of the first entry whose key is >= 'key' (m->n when none). */
size_t sessio__map_lower_bound(const sessio__map *m, const char *key,
                               size_t key_len);
/* Index range [*lo, *hi) of keys starting with 'prefix'. */
void sessio__map_prefix(const sessio__map *m, const char *prefix,
                        size_t prefix_len, size_t *lo, size_t *hi);

/* Encoding, version 1:
 *   u8 format (1), varint count, then per entry in key order:
 *   u8 type, varint key_len, key bytes, value:
 *     STR/BYTES: varint len, bytes;  INT: zigzag varint;  BOOL: u8 0/1.
 * Keys must be strictly ascending and valid; anything else is corrupt. */
sessio_err sessio__map_encode(const sessio__map *m, sessio__buf *out);
/* The exact size sessio__map_encode would produce. */
size_t sessio__map_encoded_size(const sessio__map *m);
/* Writes the encoding to 'dst', which has room for exactly
 * sessio__map_encoded_size(m) bytes (an encoder that places it itself). */
void sessio__map_encode_to(const sessio__map *m, uint8_t *dst);
/* Decodes into an empty map. SESSIO_ECORRUPT on any malformed input
 * (leaves the map empty), SESSIO_ENOMEM. Bounded by 'len'. */
sessio_err sessio__map_decode(sessio__map *m, const uint8_t *p, size_t len);

/* Operation log. */
typedef enum sessio__op_kind {
  SESSIO__OP_SET = 1,
  SESSIO__OP_DEL = 2,
  SESSIO__OP_INCR = 3,
  SESSIO__OP_DEL_PREFIX = 4
} sessio__op_kind;

typedef struct sessio__op {
  sessio__op_kind kind;
  char *key; /* owned; the prefix for DEL_PREFIX */
  size_t key_len;
  sessio_type type; /* SET */
  uint8_t *bytes;   /* SET of STR/BYTES; owned */
  size_t len;
  int64_t ival; /* SET of INT/BOOL; delta of INCR */
} sessio__op;

typedef struct sessio__ops {
  sessio__op *v;
  size_t n;
  size_t cap;
} sessio__ops;

#define SESSIO__OPS_INIT                                                       \
  { NULL, 0, 0 }

void sessio__ops_free(sessio__ops *ops);
/* Appends an operation (copies its key and value). A SET or DEL of a key
 * drops earlier SET/DEL ops of the same key (only the last one matters);
 * consecutive INCRs of one key are folded into one. */
sessio_err sessio__ops_push(sessio__ops *ops, sessio__op_kind kind,
                            const char *key, size_t key_len, sessio_type type,
                            const void *val, size_t len, int64_t ival);
/* Re-applies every operation in order to 'm' (after a conflict reload).
 * An INCR on a key that now holds another type replaces it with the delta
 * (the increment wins over a concurrent set of another type) and an
 * overflowing INCR saturates; both are logged by the caller, not errors. */
sessio_err sessio__ops_apply(const sessio__ops *ops, sessio__map *m);

#endif
