/*
 * fuzz.h — what every fuzz target shares: the libFuzzer entry point's
 * prototype, CHECK (a broken invariant prints where and aborts, so libFuzzer
 * keeps the input as a crash), and a small reader that splits fuzz bytes
 * into typed fields (integers, lengths, strings) for structure-aware targets.
 */
#ifndef SESSIO_FUZZ_H
#define SESSIO_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__,     \
              #cond);                                                          \
      abort();                                                                 \
    }                                                                          \
  } while (0)

/* Consumes fuzz bytes front to back; reads past the end give zeros. */
typedef struct fz {
  const uint8_t *p;
  size_t n;
} fz;

static inline uint8_t fz_u8(fz *f) {
  if (f->n == 0) return 0;
  f->n--;
  return *f->p++;
}

static inline uint64_t fz_u64(fz *f) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | fz_u8(f);
  return v;
}

/* Up to 'max' bytes, the length taken from the next byte. '*len' gets how
 * many were available; the pointer is into the fuzz data. */
static inline const uint8_t *fz_bytes(fz *f, size_t max, size_t *len) {
  size_t want = fz_u8(f);
  if (want > max) want = max;
  if (want > f->n) want = f->n;
  const uint8_t *p = f->p;
  f->p += want;
  f->n -= want;
  *len = want;
  return p;
}

/* A NUL-terminated copy of up to 'max' (< cap) bytes into 'out' (cap bytes),
 * cut at the first NUL. */
static inline char *fz_str(fz *f, char *out, size_t cap, size_t max) {
  size_t len;
  const uint8_t *p = fz_bytes(f, max < cap ? max : cap - 1, &len);
  memcpy(out, p, len);
  out[len] = '\0';
  return out;
}

#endif
