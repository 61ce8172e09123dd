/*
 * record.c — encodes and decodes a session's stored blob: readable metadata
 * plus the sealed data (format in record.h). Format 2 seals the data either
 * inside the directory (small sessions) or in chunks the directory lists,
 * so that a commit re-seals only the chunks its operations touched.
 */
#include "record.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define MAGIC 'S'
#define FORMAT 2 /* written; FORMAT_V1 is still read */
#define FORMAT_V1 1
#define OVERHEAD SESSIO__IETF_OVERHEAD
#define NONCE SESSIO__IETF_NONCE_BYTES
#define TAG SESSIO__TAG_BYTES
#define CHUNKS_MAX 65536
#define FIRST_MAX 4096 /* a key's limit in data.h's encoding */

/* The associated data of every chunk: chunks are bound to their record and
 * version by the nonce the (authenticated) directory lists for them, so
 * their own AD only separates them from directories. */
static const uint8_t chunk_ad[] = "sessio.chunk.2";

size_t sessio__record_overhead(uint8_t format) {
  return format == FORMAT_V1 ? SESSIO__SEAL_OVERHEAD : SESSIO__IETF_OVERHEAD;
}

/* The associated data is the header plus the user name, so neither can be
 * swapped or edited in the store without the open failing. */
static sessio_err build_ad(sessio__buf *ad, const uint8_t *hdr, size_t hlen,
                           const char *user) {
  sessio_err rc = sessio__buf_append(ad, hdr, hlen);
  if (rc == SESSIO_OK) rc = sessio__buf_append(ad, user, strlen(user));
  return rc;
}

/* Room for the associated data of most records without an allocation. */
#define AD_STACK 512

/* ---- planning the chunks of a commit ------------------------------------ */

/* One chunk of the record being written: the ciphertext of a chunk of the
 * loaded record copied as it was, or the map entries [lo, hi) sealed anew. */
typedef struct piece {
  const sessio__chunk *copy;
  size_t lo, hi, pt_len;
  const char *first; /* the lowest key its range holds */
  size_t first_len;
  uint8_t nonce[NONCE];
} piece;

typedef struct plan {
  piece *v;
  size_t n, cap;
} plan;

static sessio_err plan_push(plan *p, piece x) {
  if (p->n == p->cap) {
    size_t cap = p->cap ? 2 * p->cap : 8;
    piece *v = realloc(p->v, cap * sizeof *v);
    if (v == NULL) return SESSIO_ENOMEM;
    p->v = v;
    p->cap = cap;
  }
  p->v[p->n++] = x;
  return SESSIO_OK;
}

static size_t view_size(const sessio__map *m, size_t lo, size_t hi) {
  sessio__map view = {m->v + lo, hi - lo, hi - lo, NULL, 0};
  return sessio__map_encoded_size(&view);
}

/* Cuts the entries [lo, hi) of 'm' into pieces of about
 * SESSIO__CHUNK_TARGET bytes (an entry larger than that is a piece of its
 * own); the first piece's range starts at 'first'. */
static sessio_err plan_range(plan *p, const sessio__map *m, size_t lo,
                             size_t hi, const char *first, size_t first_len) {
  size_t start = lo, cur = 0;
  for (size_t i = lo; i <= hi; i++) {
    size_t e = i < hi ? view_size(m, i, i + 1) - 2 : 0;
    if (i == hi || (cur > 0 && cur + e > SESSIO__CHUNK_TARGET)) {
      if (i > start) {
        piece x = {NULL,  start,     i,  view_size(m, start, i),
                   first, first_len, {0}};
        sessio_err rc = plan_push(p, x);
        if (rc != SESSIO_OK) return rc;
      }
      if (i == hi) break;
      start = i;
      cur = 0;
      first = m->v[i].key;
      first_len = m->v[i].key_len;
    }
    cur += e;
  }
  return SESSIO_OK;
}

/* The pieces of 'data' with the chunks 'c' of the loaded record (NULL or
 * empty: every entry is sealed anew). A chunk not marked dirty holds what
 * the map holds in its range, so its ciphertext is copied. */
static sessio_err plan_make(plan *p, const sessio__map *data,
                            const sessio__chunks *c) {
  if (c == NULL || c->n == 0) return plan_range(p, data, 0, data->n, "", 0);
  for (size_t i = 0; i < c->n; i++) {
    const sessio__chunk *k = &c->v[i];
    sessio_err rc;
    if (!k->dirty) {
      piece x = {k, 0, 0, k->ct_len - TAG, k->first, k->first_len, {0}};
      memcpy(x.nonce, k->nonce, NONCE);
      rc = plan_push(p, x);
    } else {
      size_t lo = sessio__map_lower_bound(data, k->first, k->first_len);
      size_t hi = i + 1 < c->n
                      ? sessio__map_lower_bound(data, c->v[i + 1].first,
                                                c->v[i + 1].first_len)
                      : data->n;
      rc = plan_range(p, data, lo, hi, k->first, k->first_len);
    }
    if (rc != SESSIO_OK) return rc;
  }
  return SESSIO_OK;
}

/* ---- writing ------------------------------------------------------------ */

/* Writes the header and the sealed directory (and chunks) into 'out'. The
 * directory's plaintext is 'pt' (a forward pointer, or raw bytes), or with
 * 'data' set the map, inline when small, else in chunks. */
static sessio_err encode(const sessio__meta *meta, const char *user,
                         const uint8_t seal_key[32], const sessio__map *data,
                         size_t total, const sessio__chunks *chunks,
                         const uint8_t *pt, size_t pt_len, sessio__buf *out) {
  size_t info_len = strlen(meta->info);
  size_t user_len = strlen(user);
  plan pl = {NULL, 0, 0};
  size_t body = 0; /* bytes of the chunks after the directory */
  int chunked = 0;
  sessio_err rc;
  out->len = 0;
  if (data != NULL) {
    if ((chunks != NULL && chunks->n > 0) || total > SESSIO__INLINE_MAX) {
      if ((rc = plan_make(&pl, data, chunks)) != SESSIO_OK) goto done;
      chunked = pl.n > 0; /* else the map is empty: inline */
      pt_len = chunked ? sessio__varint_size(pl.n) : total;
      for (size_t i = 0; i < pl.n; i++) {
        size_t fl = i == 0 ? 0 : pl.v[i].first_len;
        pt_len += NONCE + sessio__varint_size(pl.v[i].pt_len + TAG) +
                  sessio__varint_size(fl) + fl;
        body += pl.v[i].pt_len + TAG;
      }
    } else {
      pt_len = total;
    }
  }
  /* One allocation for the whole record and the AD built after it: the
   * header is at most 3 bytes, 7 varints of 10 bytes and the label. */
  size_t hmax = 3 + 7 * 10 + info_len;
  if ((rc = sessio__buf_reserve(out, 2 * hmax + user_len + pt_len + OVERHEAD +
                                         body)) != SESSIO_OK)
    goto done;
  uint8_t flags = (uint8_t)((meta->flags & SESSIO__F_KNOWN) |
                            (chunked ? SESSIO__F_CHUNKED : 0));
  if ((rc = sessio__buf_put_u8(out, MAGIC)) != SESSIO_OK ||
      (rc = sessio__buf_put_u8(out, FORMAT)) != SESSIO_OK ||
      (rc = sessio__buf_put_u8(out, flags)) != SESSIO_OK ||
      (rc = sessio__buf_put_varint(out, (uint64_t)meta->created_at)) ||
      (rc = sessio__buf_put_varint(
           out, sessio__zz_enc(meta->auth_at - meta->created_at))) ||
      (rc = sessio__buf_put_varint(
           out, sessio__zz_enc(meta->rotated_at - meta->created_at))) ||
      (rc = sessio__buf_put_varint(out, (uint64_t)meta->idle_ms)) ||
      (rc = sessio__buf_put_varint(
           out, sessio__zz_enc(meta->abs_deadline - meta->created_at))) ||
      (rc = sessio__buf_put_varint(out, info_len)) ||
      (rc = sessio__buf_append(out, meta->info, info_len)) ||
      (chunked && (rc = sessio__buf_put_varint(out, pt_len + OVERHEAD))))
    goto done;
  size_t hlen = out->len;
  uint8_t *sealed = out->data + hlen;
  uint8_t *chunk_at = sealed + pt_len + OVERHEAD;
  /* The AD is built after the record temporarily: no second allocation. */
  uint8_t *ad = chunk_at + body;
  memcpy(ad, out->data, hlen);
  memcpy(ad + hlen, user, user_len);
  uint8_t *dir = sealed + NONCE;
  if (chunked) {
    uint8_t *q = chunk_at;
    for (size_t i = 0; i < pl.n; i++) {
      piece *x = &pl.v[i];
      if (x->copy != NULL) {
        memcpy(q, x->copy->ct, x->copy->ct_len);
      } else {
        sessio__map view = {data->v + x->lo, x->hi - x->lo, x->hi - x->lo, NULL,
                            0};
        sessio__map_encode_to(&view, q);
        rc = sessio__seal_ietf_detached(seal_key, chunk_ad, sizeof chunk_ad, q,
                                        x->pt_len, x->nonce, q);
        if (rc != SESSIO_OK) {
          sodium_memzero(q, x->pt_len);
          goto done;
        }
      }
      q += x->pt_len + TAG;
    }
    uint8_t *d = sessio__put_varint(dir, pl.n);
    for (size_t i = 0; i < pl.n; i++) {
      size_t fl = i == 0 ? 0 : pl.v[i].first_len;
      memcpy(d, pl.v[i].nonce, NONCE);
      d = sessio__put_varint(d + NONCE, pl.v[i].pt_len + TAG);
      d = sessio__put_varint(d, fl);
      if (fl) memcpy(d, pl.v[i].first, fl);
      d += fl;
    }
  } else if (data != NULL) {
    sessio__map_encode_to(data, dir);
  } else if (pt_len) {
    memcpy(dir, pt, pt_len);
  }
  rc = sessio__seal_ietf(seal_key, ad, hlen + user_len, dir, pt_len, sealed);
  if (rc != SESSIO_OK) {
    /* The plaintext is in place: not left in the buffer. */
    sodium_memzero(sealed, pt_len + OVERHEAD);
    goto done;
  }
  out->len = hlen + pt_len + OVERHEAD + body;
done:
  free(pl.v);
  return rc;
}

sessio_err sessio__record_encode(const sessio__meta *meta, const char *user,
                                 const uint8_t seal_key[32], const uint8_t *pt,
                                 size_t pt_len, sessio__buf *out) {
  return encode(meta, user, seal_key, NULL, 0, NULL, pt, pt_len, out);
}

sessio_err sessio__record_encode_map(const sessio__meta *meta, const char *user,
                                     const uint8_t seal_key[32],
                                     const sessio__map *data, size_t map_size,
                                     const sessio__chunks *chunks,
                                     sessio__buf *out) {
  return encode(meta, user, seal_key, data, map_size, chunks, NULL, 0, out);
}

/* ---- reading ------------------------------------------------------------ */

static int get_i64(const uint8_t **p, const uint8_t *end, int64_t *v) {
  uint64_t u;
  if (!sessio__get_varint(p, end, &u) || u > (uint64_t)INT64_MAX) return 0;
  *v = (int64_t)u;
  return 1;
}

/* A time stored relative to created_at (zigzag, so it may be earlier). */
static int get_rel(const uint8_t **p, const uint8_t *end, int64_t base,
                   int64_t *v) {
  uint64_t u;
  if (!sessio__get_varint(p, end, &u)) return 0;
  int64_t d = sessio__zz_dec(u);
  if (__builtin_add_overflow(base, d, v) || *v < 0) return 0;
  return 1;
}

int sessio__record_meta(const uint8_t *blob, size_t len, sessio__meta *meta,
                        size_t *hdr_len) {
  const uint8_t *p = blob, *end = blob + len;
  uint8_t magic, format;
  uint64_t info_len, sealed_len;
  if (blob == NULL || !sessio__get_u8(&p, end, &magic) || magic != MAGIC ||
      !sessio__get_u8(&p, end, &format) ||
      (format != FORMAT && format != FORMAT_V1) ||
      !sessio__get_u8(&p, end, &meta->flags) ||
      (meta->flags &
       ~(SESSIO__F_KNOWN | (format == FORMAT ? SESSIO__F_CHUNKED : 0))) != 0 ||
      !get_i64(&p, end, &meta->created_at) ||
      !get_rel(&p, end, meta->created_at, &meta->auth_at) ||
      !get_rel(&p, end, meta->created_at, &meta->rotated_at) ||
      !get_i64(&p, end, &meta->idle_ms) ||
      !get_rel(&p, end, meta->created_at, &meta->abs_deadline) ||
      !sessio__get_varint(&p, end, &info_len) || info_len > SESSIO_LABEL_MAX ||
      info_len > (uint64_t)(end - p))
    return 0;
  memcpy(meta->info, p, (size_t)info_len);
  meta->info[info_len] = '\0';
  if (memchr(meta->info, '\0', (size_t)info_len) != NULL) return 0;
  p += info_len;
  meta->chunked = (meta->flags & SESSIO__F_CHUNKED) != 0;
  meta->flags &= SESSIO__F_KNOWN;
  if (!meta->chunked) {
    sealed_len = (uint64_t)(end - p);
  } else if (!sessio__get_varint(&p, end, &sealed_len) ||
             sealed_len > (uint64_t)(end - p)) {
    return 0;
  }
  if (sealed_len < sessio__record_overhead(format)) return 0;
  meta->format = format;
  meta->sealed_len = (size_t)sealed_len;
  *hdr_len = (size_t)(p - blob);
  return 1;
}

int sessio__record_open_to(const uint8_t *blob, size_t len, size_t hdr_len,
                           const char *user, const uint8_t seal_key[32],
                           uint8_t *out) {
  uint8_t stack[AD_STACK];
  sessio__buf ad = {stack, 0, sizeof stack};
  int ok;
  if (hdr_len + strlen(user) > sizeof stack) ad = (sessio__buf)SESSIO__BUF_INIT;
  if (build_ad(&ad, blob, hdr_len, user) != SESSIO_OK) {
    ok = -1;
    goto done;
  }
  /* The format byte was checked by sessio__record_meta; the AD covers it, so
   * a format-1 record cannot be presented as format 2 or back. */
  if (blob[1] == FORMAT_V1)
    ok = sessio__open(seal_key, ad.data, ad.len, blob + hdr_len, len - hdr_len,
                      out);
  else
    ok = sessio__open_ietf(seal_key, ad.data, ad.len, blob + hdr_len,
                           len - hdr_len, out);
done:
  if (ad.data != stack) sessio__buf_free(&ad);
  return ok;
}

int sessio__record_open(const uint8_t *blob, size_t len, size_t hdr_len,
                        const char *user, const uint8_t seal_key[32],
                        sessio__buf *out) {
  sessio__meta meta;
  size_t h;
  out->len = 0;
  if (!sessio__record_meta(blob, len, &meta, &h) || h != hdr_len) return 0;
  if (sessio__buf_reserve(out, meta.sealed_len) != SESSIO_OK) return -1;
  int ok = sessio__record_open_to(blob, hdr_len + meta.sealed_len, hdr_len,
                                  user, seal_key, out->data);
  if (ok == 1)
    out->len = meta.sealed_len - sessio__record_overhead(meta.format);
  return ok;
}

/* ---- chunks ------------------------------------------------------------- */

void sessio__chunks_free(sessio__chunks *c) {
  if (c->v == NULL && c->blob == NULL && c->dir == NULL) return; /* none */
  free(c->blob);
  if (c->dir != NULL) sodium_memzero(c->dir, c->dir_len);
  free(c->dir);
  free(c->v);
  sodium_memzero(c->seal, sizeof c->seal);
  *c = (sessio__chunks)SESSIO__CHUNKS_INIT;
}

int sessio__chunks_parse(sessio__chunks *c, const uint8_t *dir, size_t dir_len,
                         const uint8_t *body, size_t body_len) {
  const uint8_t *p = dir, *end = dir + dir_len;
  uint64_t n;
  if (!sessio__get_varint(&p, end, &n) || n == 0 || n > CHUNKS_MAX ||
      n > (uint64_t)(end - p) / (NONCE + 2))
    return 0;
  c->v = calloc((size_t)n, sizeof *c->v);
  if (c->v == NULL) return -1;
  c->n = (size_t)n;
  c->closed = 0;
  size_t off = 0;
  for (size_t i = 0; i < c->n; i++) {
    sessio__chunk *k = &c->v[i];
    uint64_t ct_len, fl;
    if ((size_t)(end - p) < NONCE) return 0;
    memcpy(k->nonce, p, NONCE);
    p += NONCE;
    if (!sessio__get_varint(&p, end, &ct_len) || ct_len <= TAG ||
        ct_len > body_len - off || !sessio__get_varint(&p, end, &fl) ||
        fl > FIRST_MAX || fl > (uint64_t)(end - p))
      return 0;
    /* The first chunk holds the lowest keys (its range starts at ""); the
     * others start at a key greater than the previous chunk's start. */
    if ((i == 0) != (fl == 0)) return 0;
    k->first = (const char *)p;
    k->first_len = (size_t)fl;
    if (i > 1 && sessio__key_cmp(c->v[i - 1].first, c->v[i - 1].first_len,
                                 k->first, k->first_len) >= 0)
      return 0;
    p += fl;
    k->ct = body + off;
    k->ct_len = (size_t)ct_len;
    off += (size_t)ct_len;
    c->closed += (size_t)ct_len - TAG;
  }
  /* Nothing after the directory's list, nothing after the last chunk. */
  return p == end && off == body_len;
}

size_t sessio__chunks_find(const sessio__chunks *c, const char *key,
                           size_t key_len) {
  size_t lo = 1, hi = c->n; /* the last chunk whose start is <= key */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (sessio__key_cmp(c->v[mid].first, c->v[mid].first_len, key, key_len) <=
        0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo - 1;
}

int sessio__chunks_open(sessio__chunks *c, size_t i, sessio__map *m) {
  sessio__chunk *k = &c->v[i];
  size_t pt_len = k->ct_len - TAG;
  uint8_t stack[1024];
  uint8_t *pt = pt_len <= sizeof stack ? stack : malloc(pt_len);
  sessio__map part = SESSIO__MAP_INIT;
  int ok = 0;
  size_t added = 0;
  if (pt == NULL) return -1;
  if (!sessio__open_ietf_detached(c->seal, k->nonce, chunk_ad, sizeof chunk_ad,
                                  k->ct, k->ct_len, pt))
    goto done;
  sessio_err rc = sessio__map_decode(&part, pt, pt_len);
  if (rc == SESSIO_ENOMEM) ok = -1;
  if (rc != SESSIO_OK || part.n == 0) goto done;
  /* Every key inside the chunk's range. */
  const sessio__entry *lo = &part.v[0], *hi = &part.v[part.n - 1];
  if (sessio__key_cmp(lo->key, lo->key_len, k->first, k->first_len) < 0 ||
      (i + 1 < c->n && sessio__key_cmp(hi->key, hi->key_len, c->v[i + 1].first,
                                       c->v[i + 1].first_len) >= 0))
    goto done;
  for (; added < part.n; added++) {
    const sessio__entry *e = &part.v[added];
    if (sessio__map_get(m, e->key, e->key_len) != NULL) goto undo; /* bug */
    if (sessio__map_set(m, e->key, e->key_len, e->type, e->bytes, e->len,
                        e->ival) != SESSIO_OK) {
      ok = -1;
      goto undo;
    }
  }
  k->open = 1;
  c->closed -= pt_len;
  ok = 1;
  goto done;
undo:
  while (added-- > 0)
    sessio__map_delete(m, part.v[added].key, part.v[added].key_len);
done:
  sessio__map_free(&part);
  sodium_memzero(pt, pt_len);
  if (pt != stack) free(pt);
  return ok;
}
