/*
 * id.c — session IDs: 32 bytes from the OS CSPRNG written as 43 characters
 * of unpadded base64url (RFC 4648 section 5), the validator that rejects
 * malformed IDs before any store lookup (S7), and the decoder.
 */
#include "crypto.h"

#include <sodium.h>

static const char b64url[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The 6-bit value of a base64url character, or -1. */
/* Value of each byte as a base64url digit, -1 when it is none. */
static const signed char b64url_values[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, 52, 53, 54, 55, 56, 57, 58, 59, 60,
    61, -1, -1, -1, -1, -1, -1, -1, 0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10,
    11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1,
    63, -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42,
    43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

static int b64url_value(unsigned char c) { return b64url_values[c]; }
void sessio__id_encode(const uint8_t raw[SESSIO_ID_BYTES],
                       char out[SESSIO_ID_LEN + 1]) {
  size_t i = 0, o = 0;
  /* 30 bytes in ten groups of three make 40 characters ... */
  for (; i + 3 <= SESSIO_ID_BYTES; i += 3) {
    uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 |
                 raw[i + 2];
    out[o++] = b64url[v >> 18 & 63];
    out[o++] = b64url[v >> 12 & 63];
    out[o++] = b64url[v >> 6 & 63];
    out[o++] = b64url[v & 63];
  }
  /* ... and the last two bytes (16 bits) make three characters, the last
   * of which carries 4 bits and two zero bits. */
  {
    uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8;
    out[o++] = b64url[v >> 18 & 63];
    out[o++] = b64url[v >> 12 & 63];
    out[o++] = b64url[v >> 6 & 63];
  }
  out[o] = '\0';
}

_Static_assert(SESSIO_ID_BYTES == 32 && SESSIO_ID_LEN == 43,
               "the encoder is written for 32-byte, 43-character IDs");

int sessio_id_valid(const char *id, size_t len) {
  int last;
  if (id == NULL || len != SESSIO_ID_LEN) return 0;
  for (size_t i = 0; i < len; i++)
    if (b64url_value((unsigned char)id[i]) < 0) return 0;
  /* 43 characters hold 258 bits for 256: the two spare bits must be zero,
   * so each ID has exactly one spelling. */
  last = b64url_value((unsigned char)id[SESSIO_ID_LEN - 1]);
  return (last & 3) == 0;
}

/* One pass: each character is looked up once, and the table's -1 for a
 * non-digit makes 'bad' negative (digits are 0..63 and only add low bits),
 * so validation costs no second loop. */
int sessio__id_decode(const char *id, size_t len,
                      uint8_t raw[SESSIO_ID_BYTES]) {
  const unsigned char *u = (const unsigned char *)id;
  size_t i = 0, o = 0;
  int bad = 0, spare = 0;
  if (id == NULL || len != SESSIO_ID_LEN) return 0;
  for (; o + 3 <= SESSIO_ID_BYTES; i += 4, o += 3) {
    int a = b64url_values[u[i]], b = b64url_values[u[i + 1]],
        c = b64url_values[u[i + 2]], d = b64url_values[u[i + 3]];
    bad |= a | b | c | d;
    uint32_t v = (uint32_t)(a & 63) << 18 | (uint32_t)(b & 63) << 12 |
                 (uint32_t)(c & 63) << 6 | (uint32_t)(d & 63);
    raw[o] = (uint8_t)(v >> 16);
    raw[o + 1] = (uint8_t)(v >> 8);
    raw[o + 2] = (uint8_t)v;
  }
  {
    int a = b64url_values[u[i]], b = b64url_values[u[i + 1]],
        c = b64url_values[u[i + 2]];
    /* The two spare bits of the last character must be zero (one spelling
     * per ID, as sessio_id_valid says). */
    bad |= a | b | c;
    spare = c & 3;
    uint32_t v = (uint32_t)(a & 63) << 18 | (uint32_t)(b & 63) << 12 |
                 (uint32_t)(c & 63) << 6;
    raw[o] = (uint8_t)(v >> 16);
    raw[o + 1] = (uint8_t)(v >> 8);
  }
  return bad >= 0 && spare == 0;
}

sessio_err sessio_id_generate(char out[SESSIO_ID_LEN + 1]) {
  uint8_t raw[SESSIO_ID_BYTES];
  sessio_err err = sessio__random(raw, sizeof raw);
  if (err != SESSIO_OK) {
    out[0] = '\0'; /* fail closed: never hand out a partial ID */
    return err;
  }
  sessio__id_encode(raw, out);
  sodium_memzero(raw, sizeof raw);
  return SESSIO_OK;
}
