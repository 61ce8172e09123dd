/*
 * buf.h — growable byte buffers and varint helpers used by the encoders.
 * Internal to libsessio (sessio__ prefix).
 */
#ifndef SESSIO_BUF_H
#define SESSIO_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sessio.h"

typedef struct sessio__buf {
  uint8_t *data; /* malloc()ed, owned by the buffer */
  size_t len;
  size_t cap;
} sessio__buf;

#define SESSIO__BUF_INIT                                                       \
  { NULL, 0, 0 }

sessio_err sessio__buf_reserve(sessio__buf *b, size_t extra);
sessio_err sessio__buf_append_slow(sessio__buf *b, const void *p, size_t n);

/* Appends 'n' bytes; the common case (room left) is inline. */
static inline sessio_err sessio__buf_append(sessio__buf *b, const void *p,
                                            size_t n) {
  if (n <= b->cap - b->len) {
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    return SESSIO_OK;
  }
  return sessio__buf_append_slow(b, p, n);
}
sessio_err sessio__buf_put_varint_slow(sessio__buf *b, uint64_t v);

/* One byte; inline while there is room. */
static inline sessio_err sessio__buf_put_u8(sessio__buf *b, uint8_t v) {
  if (b->len < b->cap) {
    b->data[b->len++] = v;
    return SESSIO_OK;
  }
  return sessio__buf_append_slow(b, &v, 1);
}

/* The bytes of 'v' as an unsigned LEB128 varint (1 to 10). */
static inline size_t sessio__varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

/* Writes 'v' as an unsigned LEB128 varint at 'p', which has room for
 * sessio__varint_size(v) bytes; returns the byte after it. */
static inline uint8_t *sessio__put_varint(uint8_t *p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  *p++ = (uint8_t)v;
  return p;
}

/* An unsigned LEB128 varint; written in place while 10 bytes are free (the
 * encoders call it per field, so a copy through a temporary showed). */
static inline sessio_err sessio__buf_put_varint(sessio__buf *b, uint64_t v) {
  if (b->cap - b->len < 10) return sessio__buf_put_varint_slow(b, v);
  b->len = (size_t)(sessio__put_varint(b->data + b->len, v) - b->data);
  return SESSIO_OK;
}
/* Little-endian fixed 64-bit. */
sessio_err sessio__buf_put_u64(sessio__buf *b, uint64_t v);
void sessio__buf_free(sessio__buf *b);

/* Readers over [*p, end): advance *p and return 1, or return 0 (and leave
 * *p unspecified) when the input is short or malformed. */
int sessio__get_varint_slow(const uint8_t **p, const uint8_t *end, uint64_t *v);
int sessio__get_u64(const uint8_t **p, const uint8_t *end, uint64_t *v);

/* Most varints of a record are one byte: that case is inline. */
static inline int sessio__get_varint(const uint8_t **p, const uint8_t *end,
                                     uint64_t *v) {
  if (*p < end && **p < 0x80) {
    *v = *(*p)++;
    return 1;
  }
  return sessio__get_varint_slow(p, end, v);
}

static inline int sessio__get_u8(const uint8_t **p, const uint8_t *end,
                                 uint8_t *v) {
  if (*p >= end) return 0;
  *v = *(*p)++;
  return 1;
}

/* Zeroes 'n' bytes before they are freed or left: a memset the compiler
 * may not drop (the barrier says the bytes are read). sodium_memzero does
 * the same through three calls, which showed in the request path. */
static inline void sessio__wipe(void *p, size_t n) {
  if (n == 0) return;
  memset(p, 0, n);
  __asm__ __volatile__("" : : "r"(p) : "memory");
}

/* ZigZag for signed varints. */
static inline uint64_t sessio__zz_enc(int64_t v) {
  return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}
static inline int64_t sessio__zz_dec(uint64_t v) {
  return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

#endif
