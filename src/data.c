/*
 * data.c — the session data map (a sorted array of typed entries, each key
 * and value in one allocation), its strict version-1 binary encoding, and
 * the per-request operation log that is re-applied after a commit conflict.
 * Contracts are in data.h; limits and choices beyond it are noted below.
 */
#include "data.h"

#include <stdlib.h>
#include <string.h>

/* Longest key the encoding accepts; the public layer enforces its own,
 * smaller, max_key. Kept here so every map that can be built can also be
 * encoded and decoded back. */
#define KEY_MAX 4096
#define FORMAT_V1 1
/* Smallest encoded entry: type, key_len, one key byte, one value byte. */
#define ENTRY_MIN 4

/* ---- keys ------------------------------------------------------------ */

/* memcmp order over the common length, then the shorter key first. */
static int key_cmp(const char *a, size_t alen, const char *b, size_t blen) {
  size_t n = alen < blen ? alen : blen;
  int c = n ? memcmp(a, b, n) : 0;
  if (c != 0) return c;
  return alen < blen ? -1 : alen > blen ? 1 : 0;
}

int sessio__key_cmp(const char *a, size_t alen, const char *b, size_t blen) {
  return key_cmp(a, alen, b, blen);
}

static int has_prefix(const char *key, size_t key_len, const char *prefix,
                      size_t prefix_len) {
  return key_len >= prefix_len &&
         (prefix_len == 0 || memcmp(key, prefix, prefix_len) == 0);
}

static int type_valid(int t) {
  return t == SESSIO_T_STR || t == SESSIO_T_INT || t == SESSIO_T_BOOL ||
         t == SESSIO_T_BYTES;
}

static int has_bytes(sessio_type t) {
  return t == SESSIO_T_STR || t == SESSIO_T_BYTES;
}

/* A key and value the encoding can represent: 1..KEY_MAX key bytes, a known
 * type, no NUL inside a string. Checked without reading 'val' beyond 'len'
 * and only for strings (so a huge BYTES length is not scanned). */
static int entry_valid(size_t key_len, sessio_type type, const void *val,
                       size_t len) {
  if (key_len == 0 || key_len > KEY_MAX || !type_valid(type)) return 0;
  if (has_bytes(type) && len > 0 && val == NULL) return 0;
  if (type == SESSIO_T_STR && len > 0 && memchr(val, 0, len) != NULL) return 0;
  return 1;
}

/* Index of the first entry >= key; '*found' tells whether it is equal. */
static size_t map_find(const sessio__map *m, const char *key, size_t key_len,
                       int *found) {
  size_t lo = 0, hi = m->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const sessio__entry *e = &m->v[mid];
    int c = key_cmp(e->key, e->key_len, key, key_len);
    if (c == 0) {
      *found = 1;
      return mid;
    }
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = 0;
  return lo;
}

/* ---- entries --------------------------------------------------------- */

/* Bytes of an entry's block: key, NUL, and for STR/BYTES value bytes, NUL.
 * 0 when that does not fit a size_t. */
static size_t entry_block_size(size_t key_len, sessio_type type, size_t len) {
  size_t vlen = has_bytes(type) ? len : 0;
  if (vlen > SIZE_MAX - key_len - 2) return 0;
  return key_len + 1 + (has_bytes(type) ? vlen + 1 : 0);
}

/* Fills 'e' with copies placed in 'block' (entry_block_size bytes): key,
 * NUL, value bytes, NUL. BOOL is stored as 0/1. */
static void entry_fill(sessio__entry *e, char *block, const char *key,
                       size_t key_len, sessio_type type, const void *val,
                       size_t len, int64_t ival) {
  memcpy(block, key, key_len);
  block[key_len] = '\0';
  e->key = block;
  e->key_len = key_len;
  e->type = type;
  e->in_block = 0;
  e->ival = 0;
  e->bytes = NULL;
  e->len = 0;
  if (has_bytes(type)) {
    e->bytes = (uint8_t *)block + key_len + 1;
    if (len) memcpy(e->bytes, val, len);
    e->bytes[len] = 0;
    e->len = len;
  } else if (type == SESSIO_T_BOOL) {
    e->ival = ival != 0;
  } else {
    e->ival = ival;
  }
}

/* Fills 'e' with copies in one allocation that the entry owns through
 * 'e->key'. */
static sessio_err entry_make(sessio__entry *e, const char *key, size_t key_len,
                             sessio_type type, const void *val, size_t len,
                             int64_t ival) {
  size_t total = entry_block_size(key_len, type, len);
  if (total == 0) return SESSIO_ENOMEM;
  char *block = malloc(total);
  if (block == NULL) return SESSIO_ENOMEM;
  entry_fill(e, block, key, key_len, type, val, len, ival);
  return SESSIO_OK;
}

/* Session data is wiped before it is freed (it may hold the CSRF token and
 * whatever the application keeps there). */
static void entry_free(sessio__entry *e) {
  if (e->key != NULL && !e->in_block) {
    sessio__wipe(e->key, entry_block_size(e->key_len, e->type, e->len));
    free(e->key);
  }
  e->key = NULL;
  e->bytes = NULL;
}

/* Room for one more entry. */
static sessio_err map_grow(sessio__map *m, size_t want) {
  if (want <= m->cap) return SESSIO_OK;
  size_t cap = m->cap ? m->cap : 8;
  while (cap < want) {
    if (cap > SIZE_MAX / 2 / sizeof(sessio__entry)) return SESSIO_ENOMEM;
    cap *= 2;
  }
  sessio__entry *v = realloc(m->v, cap * sizeof(*v));
  if (v == NULL) return SESSIO_ENOMEM;
  m->v = v;
  m->cap = cap;
  return SESSIO_OK;
}

/* Removes entries [lo, hi). */
static void map_remove_range(sessio__map *m, size_t lo, size_t hi) {
  if (lo >= hi) return;
  for (size_t i = lo; i < hi; i++) entry_free(&m->v[i]);
  memmove(&m->v[lo], &m->v[hi], (m->n - hi) * sizeof(m->v[0]));
  m->n -= hi - lo;
}

/* ---- map ------------------------------------------------------------- */

void sessio__map_free(sessio__map *m) {
  for (size_t i = 0; i < m->n; i++) entry_free(&m->v[i]);
  if (m->v != NULL) {
    sessio__wipe(m->v, m->n * sizeof(m->v[0])); /* the INT and BOOL values */
    free(m->v);
  }
  if (m->block != NULL) {
    sessio__wipe(m->block, m->block_len);
    free(m->block);
  }
  m->v = NULL;
  m->n = m->cap = 0;
  m->block = NULL;
  m->block_len = 0;
}

/* 'dst' must be an initialised map; its old content is replaced on success
 * and left as it was on failure. 'dst' and 'src' may not be the same. */
sessio_err sessio__map_copy(sessio__map *dst, const sessio__map *src) {
  sessio__map tmp = SESSIO__MAP_INIT;
  sessio_err rc = map_grow(&tmp, src->n);
  if (rc != SESSIO_OK) goto fail;
  for (size_t i = 0; i < src->n; i++) {
    const sessio__entry *e = &src->v[i];
    rc = entry_make(&tmp.v[i], e->key, e->key_len, e->type, e->bytes, e->len,
                    e->ival);
    if (rc != SESSIO_OK) goto fail;
    tmp.n++;
  }
  sessio__map_free(dst);
  *dst = tmp;
  return SESSIO_OK;
fail:
  sessio__map_free(&tmp);
  return rc;
}

size_t sessio__map_lower_bound(const sessio__map *m, const char *key,
                               size_t key_len) {
  int found;
  return map_find(m, key, key_len, &found);
}

const sessio__entry *sessio__map_get(const sessio__map *m, const char *key,
                                     size_t key_len) {
  int found;
  size_t i = map_find(m, key, key_len, &found);
  return found ? &m->v[i] : NULL;
}

/* SESSIO_EINVAL for what the encoding cannot hold (an empty key or one over
 * 4096 bytes, an unknown type, a NUL inside a string); SESSIO_ENOMEM. The
 * map is unchanged on error. */
sessio_err sessio__map_set_prepare(sessio__map *m, const char *key,
                                   size_t key_len, sessio_type type,
                                   const void *val, size_t len, int64_t ival,
                                   sessio__entry *out) {
  if (!entry_valid(key_len, type, val, len)) return SESSIO_EINVAL;
  sessio_err rc = map_grow(m, m->n + 1); /* room in case the key is new */
  if (rc != SESSIO_OK) return rc;
  return entry_make(out, key, key_len, type, val, len, ival);
}

void sessio__map_set_apply(sessio__map *m, sessio__entry *e) {
  int found;
  size_t i = map_find(m, e->key, e->key_len, &found);
  if (found) {
    entry_free(&m->v[i]);
  } else {
    memmove(&m->v[i + 1], &m->v[i], (m->n - i) * sizeof(m->v[0]));
    m->n++;
  }
  m->v[i] = *e;
  e->key = NULL;
  e->bytes = NULL;
}

void sessio__map_set_drop(sessio__entry *e) { entry_free(e); }

sessio_err sessio__map_set(sessio__map *m, const char *key, size_t key_len,
                           sessio_type type, const void *val, size_t len,
                           int64_t ival) {
  sessio__entry e;
  sessio_err rc =
      sessio__map_set_prepare(m, key, key_len, type, val, len, ival, &e);
  if (rc == SESSIO_OK) sessio__map_set_apply(m, &e);
  return rc;
}

int sessio__map_delete(sessio__map *m, const char *key, size_t key_len) {
  int found;
  size_t i = map_find(m, key, key_len, &found);
  if (!found) return 0;
  map_remove_range(m, i, i + 1);
  return 1;
}

/* An absent key is created with 'delta' (SESSIO_EINVAL when the key is one
 * the encoding cannot hold). '*result' (may be NULL) is set on success. */
sessio_err sessio__map_incr(sessio__map *m, const char *key, size_t key_len,
                            int64_t delta, int64_t *result) {
  int found;
  size_t i = map_find(m, key, key_len, &found);
  if (!found) {
    sessio_err rc =
        sessio__map_set(m, key, key_len, SESSIO_T_INT, NULL, 0, delta);
    if (rc == SESSIO_OK && result) *result = delta;
    return rc;
  }
  sessio__entry *e = &m->v[i];
  if (e->type != SESSIO_T_INT) return SESSIO_ETYPE;
  int64_t sum;
  if (__builtin_add_overflow(e->ival, delta, &sum)) return SESSIO_EOVERFLOW;
  e->ival = sum;
  if (result) *result = sum;
  return SESSIO_OK;
}

/* Keys with the prefix are contiguous in sorted order: they start at the
 * first key >= prefix, and every later key >= prefix without it sorts after
 * all of them, so the end is a binary search on "has the prefix". */
void sessio__map_prefix(const sessio__map *m, const char *prefix,
                        size_t prefix_len, size_t *lo, size_t *hi) {
  int found;
  size_t a = map_find(m, prefix, prefix_len, &found);
  size_t b = m->n;
  size_t l = a;
  while (l < b) {
    size_t mid = l + (b - l) / 2;
    const sessio__entry *e = &m->v[mid];
    if (has_prefix(e->key, e->key_len, prefix, prefix_len))
      l = mid + 1;
    else
      b = mid;
  }
  *lo = a;
  *hi = l;
}

/* ---- encoding -------------------------------------------------------- */

static size_t entry_encoded_size(const sessio__entry *e) {
  size_t n = 1 + sessio__varint_size(e->key_len) + e->key_len;
  switch (e->type) {
  case SESSIO_T_STR:
  case SESSIO_T_BYTES: n += sessio__varint_size(e->len) + e->len; break;
  case SESSIO_T_INT: n += sessio__varint_size(sessio__zz_enc(e->ival)); break;
  default: n += 1; break; /* BOOL */
  }
  return n;
}

size_t sessio__map_encoded_size(const sessio__map *m) {
  size_t n = 1 + sessio__varint_size(m->n);
  for (size_t i = 0; i < m->n; i++) n += entry_encoded_size(&m->v[i]);
  return n;
}

void sessio__map_encode_to(const sessio__map *m, uint8_t *p) {
  *p++ = FORMAT_V1;
  p = sessio__put_varint(p, m->n);
  for (size_t i = 0; i < m->n; i++) {
    const sessio__entry *e = &m->v[i];
    *p++ = (uint8_t)e->type;
    p = sessio__put_varint(p, e->key_len);
    memcpy(p, e->key, e->key_len);
    p += e->key_len;
    switch (e->type) {
    case SESSIO_T_STR:
    case SESSIO_T_BYTES:
      p = sessio__put_varint(p, e->len);
      if (e->len) memcpy(p, e->bytes, e->len);
      p += e->len;
      break;
    case SESSIO_T_INT:
      p = sessio__put_varint(p, sessio__zz_enc(e->ival));
      break;
    default: *p++ = (uint8_t)(e->ival != 0); break;
    }
  }
}

/* Appends the encoding to 'out'. On SESSIO_ENOMEM 'out' keeps its length
 * (the space is reserved up front, so nothing is half written). */
sessio_err sessio__map_encode(const sessio__map *m, sessio__buf *out) {
  size_t n = sessio__map_encoded_size(m);
  sessio_err rc = sessio__buf_reserve(out, n);
  if (rc != SESSIO_OK) return rc;
  sessio__map_encode_to(m, out->data + out->len);
  out->len += n;
  return SESSIO_OK;
}

/* A varint in its shortest form: every value has exactly one encoding, so
 * a decoded map re-encodes to the very same bytes. */
static int get_canonical_varint(const uint8_t **p, const uint8_t *end,
                                uint64_t *v) {
  const uint8_t *start = *p;
  if (!sessio__get_varint(p, end, v)) return 0;
  return (size_t)(*p - start) == sessio__varint_size(*v);
}

/* 'm' must be an initialised map; its previous content is discarded. Beyond
 * data.h's list, non-shortest varints are also rejected as corrupt. */
sessio_err sessio__map_decode(sessio__map *m, const uint8_t *p, size_t len) {
  sessio_err rc = SESSIO_ECORRUPT;
  sessio__map_free(m);
  if (p == NULL || len == 0) return SESSIO_ECORRUPT;
  const uint8_t *end = p + len;
  uint8_t format;
  uint64_t count;
  if (!sessio__get_u8(&p, end, &format) || format != FORMAT_V1) goto fail;
  if (!get_canonical_varint(&p, end, &count)) goto fail;
  if (count > (uint64_t)(end - p) / ENTRY_MIN) goto fail;
  rc = map_grow(m, (size_t)count);
  if (rc != SESSIO_OK) goto fail;
  /* Every key and value is a copy of input bytes plus at most two NULs an
   * entry, and each entry's encoding has at least two bytes beside its key
   * and value bytes (type, key length): 'len' bytes hold them all. */
  size_t used = 0;
  if (count > 0) {
    rc = SESSIO_ENOMEM;
    m->block_len = len;
    m->block = malloc(m->block_len);
    if (m->block == NULL) {
      m->block_len = 0;
      goto fail;
    }
  }
  rc = SESSIO_ECORRUPT;
  for (uint64_t i = 0; i < count; i++) {
    uint8_t type;
    uint64_t key_len, vlen = 0, u = 0;
    const uint8_t *key, *val = NULL;
    if (!sessio__get_u8(&p, end, &type) || !type_valid(type)) goto fail;
    if (!get_canonical_varint(&p, end, &key_len)) goto fail;
    if (key_len == 0 || key_len > KEY_MAX || key_len > (uint64_t)(end - p))
      goto fail;
    key = p;
    p += key_len;
    if (m->n > 0) {
      const sessio__entry *prev = &m->v[m->n - 1];
      if (key_cmp(prev->key, prev->key_len, (const char *)key,
                  (size_t)key_len) >= 0)
        goto fail;
    }
    switch ((sessio_type)type) {
    case SESSIO_T_STR:
    case SESSIO_T_BYTES:
      if (!get_canonical_varint(&p, end, &vlen)) goto fail;
      if (vlen > (uint64_t)(end - p)) goto fail;
      val = p;
      p += vlen;
      if (type == SESSIO_T_STR && vlen && memchr(val, 0, (size_t)vlen))
        goto fail;
      break;
    case SESSIO_T_INT:
      if (!get_canonical_varint(&p, end, &u)) goto fail;
      break;
    default: { /* BOOL */
      uint8_t b;
      if (!sessio__get_u8(&p, end, &b) || b > 1) goto fail;
      u = b;
      break;
    }
    }
    int64_t ival = type == SESSIO_T_INT ? sessio__zz_dec(u) : (int64_t)u;
    sessio__entry *e = &m->v[m->n];
    size_t need =
        entry_block_size((size_t)key_len, (sessio_type)type, (size_t)vlen);
    if (need == 0 || need > m->block_len - used) goto fail; /* see above */
    entry_fill(e, (char *)m->block + used, (const char *)key, (size_t)key_len,
               (sessio_type)type, val, (size_t)vlen, ival);
    e->in_block = 1;
    used += need;
    m->n++;
  }
  if (p != end) goto fail;
  return SESSIO_OK;
fail:
  sessio__map_free(m);
  return rc;
}

/* ---- operation log --------------------------------------------------- */

/* Each op owns 'key' and, for a SET of STR/BYTES, 'bytes' (NUL-terminated),
 * as two allocations. */
static void op_free(sessio__op *op) {
  free(op->key);
  free(op->bytes);
  op->key = NULL;
  op->bytes = NULL;
}

void sessio__ops_free(sessio__ops *ops) {
  for (size_t i = 0; i < ops->n; i++) op_free(&ops->v[i]);
  free(ops->v);
  ops->v = NULL;
  ops->n = ops->cap = 0;
}

/* Does 'op' change the value of 'key'? */
static int op_touches(const sessio__op *op, const char *key, size_t key_len) {
  if (op->kind == SESSIO__OP_DEL_PREFIX)
    return has_prefix(key, key_len, op->key, op->key_len);
  return key_cmp(op->key, op->key_len, key, key_len) == 0;
}

/* Is 'op' made redundant by a later 'kind' op on 'key'? A later SET or DEL
 * decides the key alone; a later DEL_PREFIX decides every key under it,
 * and subsumes an earlier DEL_PREFIX of a longer prefix. */
static int op_superseded(const sessio__op *op, sessio__op_kind kind,
                         const char *key, size_t key_len) {
  switch (kind) {
  case SESSIO__OP_SET:
  case SESSIO__OP_DEL:
    return op->kind != SESSIO__OP_DEL_PREFIX &&
           key_cmp(op->key, op->key_len, key, key_len) == 0;
  case SESSIO__OP_DEL_PREFIX:
    return has_prefix(op->key, op->key_len, key, key_len);
  default: return 0;
  }
}

static sessio_err ops_grow(sessio__ops *ops) {
  if (ops->n < ops->cap) return SESSIO_OK;
  size_t cap = ops->cap ? ops->cap * 2 : 8;
  if (cap > SIZE_MAX / 2 / sizeof(sessio__op)) return SESSIO_ENOMEM;
  sessio__op *v = realloc(ops->v, cap * sizeof(*v));
  if (v == NULL) return SESSIO_ENOMEM;
  ops->v = v;
  ops->cap = cap;
  return SESSIO_OK;
}

/* SESSIO_EINVAL for a SET the map would refuse (see sessio__map_set), an
 * INCR of an invalid key, or an unknown kind; SESSIO_ENOMEM. The log is
 * unchanged on error: everything is allocated before anything is dropped.
 * An INCR folds into the last op that touches its key when that op is an
 * INCR of the same key and the sum does not overflow. */
sessio_err sessio__ops_push(sessio__ops *ops, sessio__op_kind kind,
                            const char *key, size_t key_len, sessio_type type,
                            const void *val, size_t len, int64_t ival) {
  sessio_err rc;
  switch (kind) {
  case SESSIO__OP_SET:
    if (!entry_valid(key_len, type, val, len)) return SESSIO_EINVAL;
    break;
  case SESSIO__OP_INCR:
    if (!entry_valid(key_len, SESSIO_T_INT, NULL, 0)) return SESSIO_EINVAL;
    /* Fold into the last op touching this key when it is an INCR. */
    for (size_t i = ops->n; i-- > 0;) {
      sessio__op *op = &ops->v[i];
      if (!op_touches(op, key, key_len)) continue;
      int64_t sum;
      if (op->kind == SESSIO__OP_INCR &&
          !__builtin_add_overflow(op->ival, ival, &sum)) {
        op->ival = sum;
        return SESSIO_OK;
      }
      break;
    }
    break;
  case SESSIO__OP_DEL:
  case SESSIO__OP_DEL_PREFIX: break;
  default: return SESSIO_EINVAL;
  }
  if (key_len == SIZE_MAX) return SESSIO_ENOMEM;

  sessio__op nop = {0};
  nop.kind = kind;
  nop.key_len = key_len;
  nop.key = malloc(key_len + 1);
  if (nop.key == NULL) return SESSIO_ENOMEM;
  if (key_len) memcpy(nop.key, key, key_len);
  nop.key[key_len] = '\0';
  if (kind == SESSIO__OP_SET) {
    nop.type = type;
    if (has_bytes(type)) {
      rc = SESSIO_ENOMEM;
      if (len == SIZE_MAX) goto fail_key;
      nop.bytes = malloc(len + 1);
      if (nop.bytes == NULL) goto fail_key;
      if (len) memcpy(nop.bytes, val, len);
      nop.bytes[len] = 0;
      nop.len = len;
    } else {
      nop.ival = type == SESSIO_T_BOOL ? ival != 0 : ival;
    }
  } else if (kind == SESSIO__OP_INCR) {
    nop.ival = ival;
  }
  rc = ops_grow(ops);
  if (rc != SESSIO_OK) goto fail_bytes;

  /* Drop what the new op makes redundant, keeping the order of the rest. */
  size_t w = 0;
  for (size_t i = 0; i < ops->n; i++) {
    if (op_superseded(&ops->v[i], kind, key, key_len))
      op_free(&ops->v[i]);
    else
      ops->v[w++] = ops->v[i];
  }
  ops->n = w;
  ops->v[ops->n++] = nop;
  return SESSIO_OK;

fail_bytes:
  free(nop.bytes);
fail_key:
  free(nop.key);
  return rc;
}

static sessio_err op_apply(const sessio__op *op, sessio__map *m) {
  sessio_err rc = SESSIO_OK;
  size_t lo, hi;
  switch (op->kind) {
  case SESSIO__OP_SET:
    rc = sessio__map_set(m, op->key, op->key_len, op->type, op->bytes, op->len,
                         op->ival);
    break;
  case SESSIO__OP_DEL: sessio__map_delete(m, op->key, op->key_len); break;
  case SESSIO__OP_DEL_PREFIX:
    sessio__map_prefix(m, op->key, op->key_len, &lo, &hi);
    map_remove_range(m, lo, hi);
    break;
  case SESSIO__OP_INCR:
    rc = sessio__map_incr(m, op->key, op->key_len, op->ival, NULL);
    if (rc == SESSIO_ETYPE) {
      /* The increment wins over a concurrent set of another type. */
      rc = sessio__map_set(m, op->key, op->key_len, SESSIO_T_INT, NULL, 0,
                           op->ival);
    } else if (rc == SESSIO_EOVERFLOW) {
      /* Saturate: the key exists and holds an INT. */
      int found;
      size_t i = map_find(m, op->key, op->key_len, &found);
      if (found) m->v[i].ival = op->ival > 0 ? INT64_MAX : INT64_MIN;
      rc = SESSIO_OK;
    }
    break;
  }
  /* Only running out of memory stops the merge; an op the map refuses
   * (not produced by sessio__ops_push) is skipped. */
  return rc == SESSIO_ENOMEM ? rc : SESSIO_OK;
}

/* All or nothing: the ops are applied to a copy that replaces 'm' only when
 * every op went through, so on SESSIO_ENOMEM 'm' is as it was. */
sessio_err sessio__ops_apply(const sessio__ops *ops, sessio__map *m) {
  sessio__map tmp = SESSIO__MAP_INIT;
  sessio_err rc = sessio__map_copy(&tmp, m);
  if (rc != SESSIO_OK) goto fail;
  for (size_t i = 0; i < ops->n; i++) {
    rc = op_apply(&ops->v[i], &tmp);
    if (rc != SESSIO_OK) goto fail;
  }
  sessio__map_free(m);
  *m = tmp;
  return SESSIO_OK;
fail:
  sessio__map_free(&tmp);
  return rc;
}
