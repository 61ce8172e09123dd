/*
 * buf.c — growable byte buffers and the varint / fixed-width codecs that the
 * record and data encoders share.
 */
#include "buf.h"

#include <stdlib.h>
#include <string.h>

sessio_err sessio__buf_reserve(sessio__buf *b, size_t extra) {
  if (extra <= b->cap - b->len) return SESSIO_OK;
  if (extra > SIZE_MAX / 2 - b->len) return SESSIO_ENOMEM;
  size_t want = b->len + extra;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < want) cap *= 2;
  uint8_t *p = realloc(b->data, cap);
  if (p == NULL) return SESSIO_ENOMEM;
  b->data = p;
  b->cap = cap;
  return SESSIO_OK;
}

sessio_err sessio__buf_append_slow(sessio__buf *b, const void *p, size_t n) {
  sessio_err rc = sessio__buf_reserve(b, n);
  if (rc != SESSIO_OK) return rc;
  if (n) memcpy(b->data + b->len, p, n);
  b->len += n;
  return SESSIO_OK;
}

sessio_err sessio__buf_put_varint_slow(sessio__buf *b, uint64_t v) {
  uint8_t tmp[10];
  size_t n = 0;
  while (v >= 0x80) {
    tmp[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  tmp[n++] = (uint8_t)v;
  return sessio__buf_append(b, tmp, n);
}

sessio_err sessio__buf_put_u64(sessio__buf *b, uint64_t v) {
  uint8_t tmp[8];
  for (int i = 0; i < 8; i++) tmp[i] = (uint8_t)(v >> (8 * i));
  return sessio__buf_append(b, tmp, 8);
}

void sessio__buf_free(sessio__buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

int sessio__get_varint_slow(const uint8_t **p, const uint8_t *end,
                            uint64_t *v) {
  uint64_t r = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    if (*p >= end) return 0;
    uint8_t c = *(*p)++;
    if (shift == 63 && c > 1) return 0; /* would overflow 64 bits */
    r |= (uint64_t)(c & 0x7f) << shift;
    if (!(c & 0x80)) {
      *v = r;
      return 1;
    }
  }
  return 0;
}

int sessio__get_u64(const uint8_t **p, const uint8_t *end, uint64_t *v) {
  if (end - *p < 8) return 0;
  uint64_t r = 0;
  for (int i = 0; i < 8; i++) r |= (uint64_t)(*p)[i] << (8 * i);
  *p += 8;
  *v = r;
  return 1;
}
