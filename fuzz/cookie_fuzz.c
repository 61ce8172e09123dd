/*
 * cookie_fuzz.c — libFuzzer target for the client-facing parsers: the
 * Cookie header parser (S11), the session-ID validator/decoder (S7) and the
 * Set-Cookie formatter fed with fuzzed names and values (S9). Not part of
 * the default build; see fuzz/README.md for the command.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "sessio.h"

typedef struct fuzz_ctx {
  const char *base;
  size_t limit;
  size_t count;
} fuzz_ctx;

static int on_pair(void *ud, const char *name, size_t name_len,
                   const char *val, size_t val_len) {
  fuzz_ctx *c = ud;
  /* Every reported byte lies within what the parser may read. */
  if (name < c->base || (size_t)(name - c->base) + name_len > c->limit ||
      val < c->base || (size_t)(val - c->base) + val_len > c->limit ||
      name_len == 0)
    abort();
  /* Touch the bytes so the sanitizers check them. */
  volatile char sink = 0;
  for (size_t i = 0; i < name_len; i++)
    sink ^= name[i];
  for (size_t i = 0; i < val_len; i++)
    sink ^= val[i];
  (void)sink;
  c->count++;
  if (c->count > c->limit / 2 + 1) /* a pair needs at least "a=" and ';' */
    abort();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_ctx c = {(const char *)data,
                size < SESSIO_COOKIE_HEADER_MAX ? size
                                                : SESSIO_COOKIE_HEADER_MAX,
                0};
  sessio_cookie_parse((const char *)data, size, on_pair, &c);

  /* The ID validator and decoder agree, and a decoded ID re-encodes to the
   * same characters (one spelling per ID). */
  {
    uint8_t raw[SESSIO_ID_BYTES];
    int valid = sessio_id_valid((const char *)data, size);
    int decoded = sessio__id_decode((const char *)data, size, raw);
    if (valid != decoded)
      abort();
    if (decoded) {
      char again[SESSIO_ID_LEN + 1];
      sessio__id_encode(raw, again);
      if (memcmp(again, data, SESSIO_ID_LEN) != 0)
        abort();
    }
  }

  /* Formatter: split the input at the first 0 byte into name and value;
   * what it accepts must parse back to the same pair. */
  if (size < 9000) {
    char *copy = malloc(size + 1);
    char out[9000];
    size_t need = 0;
    if (copy == NULL)
      return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    const char *name = copy;
    size_t nlen = strlen(copy);
    const char *value = nlen < size ? copy + nlen + 1 : "";
    sessio_cookie_attrs at = {NULL, size & 1, SESSIO_SAMESITE_LAX,
                              (int64_t)size - 100};
    sessio_err err = sessio_cookie_format(out, sizeof out, &need, name, value,
                                          &at);
    if (err == SESSIO_OK) {
      fuzz_ctx c2 = {out, strlen(out), 0};
      if (need != c2.limit || need < nlen + 1)
        abort();
      if (strncmp(out, name, nlen) != 0 || out[nlen] != '=')
        abort();
      sessio_cookie_parse(out, c2.limit, on_pair, &c2);
      if (c2.count == 0)
        abort();
    }
    free(copy);
  }
  return 0;
}
