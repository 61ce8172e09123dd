/*
 * record.c — encodes and decodes a session's stored blob: readable metadata
 * plus the sealed data (format in record.h).
 */
#include "record.h"

#include <string.h>

#include <sodium.h>

#define MAGIC 'S'
#define FORMAT 2 /* written; FORMAT_V1 is still read */
#define FORMAT_V1 1
#define OVERHEAD SESSIO__IETF_OVERHEAD
#define NONCE SESSIO__IETF_NONCE_BYTES

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

/* Writes the header and seals into 'out'. The plaintext is 'pt', or with
 * 'data' set, that map's encoding (pt_len bytes) written in its place and
 * sealed there. */
static sessio_err encode(const sessio__meta *meta, const char *user,
                         const uint8_t seal_key[32], const sessio__map *data,
                         const uint8_t *pt, size_t pt_len, sessio__buf *out) {
  size_t info_len = strlen(meta->info);
  size_t user_len = strlen(user);
  sessio_err rc;
  out->len = 0;
  /* One allocation for the whole record and the AD built after it (see
   * below): the header is at most 3 bytes, 6 varints of 10 bytes and the
   * label. Growing the buffer as the header is written cost a realloc (and a
   * copy) per commit. */
  size_t hmax = 3 + 6 * 10 + info_len;
  if ((rc = sessio__buf_reserve(out, 2 * hmax + user_len + pt_len +
                                         OVERHEAD)) != SESSIO_OK)
    return rc;
  if ((rc = sessio__buf_put_u8(out, MAGIC)) != SESSIO_OK ||
      (rc = sessio__buf_put_u8(out, FORMAT)) != SESSIO_OK ||
      (rc = sessio__buf_put_u8(out, meta->flags)) != SESSIO_OK ||
      (rc = sessio__buf_put_varint(out, (uint64_t)meta->created_at)) ||
      (rc = sessio__buf_put_varint(
           out, sessio__zz_enc(meta->auth_at - meta->created_at))) ||
      (rc = sessio__buf_put_varint(
           out, sessio__zz_enc(meta->rotated_at - meta->created_at))) ||
      (rc = sessio__buf_put_varint(out, (uint64_t)meta->idle_ms)) ||
      (rc = sessio__buf_put_varint(
           out, sessio__zz_enc(meta->abs_deadline - meta->created_at))) ||
      (rc = sessio__buf_put_varint(out, info_len)) ||
      (rc = sessio__buf_append(out, meta->info, info_len)))
    return rc;
  size_t hlen = out->len;
  /* The AD is the header plus the user; it is built at the end of 'out'
   * temporarily to avoid a second allocation, then the sealed bytes take
   * its place. */
  if ((rc = sessio__buf_reserve(out, hlen + user_len + pt_len + OVERHEAD)) !=
      SESSIO_OK)
    return rc;
  uint8_t *sealed = out->data + hlen;
  uint8_t *ad = sealed + pt_len + OVERHEAD;
  memcpy(ad, out->data, hlen);
  memcpy(ad + hlen, user, user_len);
  if (data != NULL) {
    pt = sealed + NONCE;
    sessio__map_encode_to(data, sealed + NONCE);
  }
  rc = sessio__seal_ietf(seal_key, ad, hlen + user_len, pt, pt_len, sealed);
  if (rc != SESSIO_OK) {
    /* The plaintext may be in place: not left in the buffer. */
    if (data != NULL) sodium_memzero(sealed, pt_len + OVERHEAD);
    return rc;
  }
  out->len = hlen + pt_len + OVERHEAD;
  return SESSIO_OK;
}

sessio_err sessio__record_encode(const sessio__meta *meta, const char *user,
                                 const uint8_t seal_key[32], const uint8_t *pt,
                                 size_t pt_len, sessio__buf *out) {
  return encode(meta, user, seal_key, NULL, pt, pt_len, out);
}

sessio_err sessio__record_encode_map(const sessio__meta *meta, const char *user,
                                     const uint8_t seal_key[32],
                                     const sessio__map *data, size_t pt_len,
                                     sessio__buf *out) {
  return encode(meta, user, seal_key, data, NULL, pt_len, out);
}

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
  uint64_t info_len;
  if (blob == NULL || !sessio__get_u8(&p, end, &magic) || magic != MAGIC ||
      !sessio__get_u8(&p, end, &format) ||
      (format != FORMAT && format != FORMAT_V1) ||
      !sessio__get_u8(&p, end, &meta->flags) ||
      (meta->flags & ~SESSIO__F_KNOWN) != 0 ||
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
  if ((size_t)(end - p) < sessio__record_overhead(format)) return 0;
  meta->format = format;
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
  size_t ct_len = len - hdr_len;
  out->len = 0;
  if (sessio__buf_reserve(out, ct_len) != SESSIO_OK) return -1;
  int ok =
      sessio__record_open_to(blob, len, hdr_len, user, seal_key, out->data);
  if (ok == 1) out->len = ct_len - sessio__record_overhead(blob[1]);
  return ok;
}
