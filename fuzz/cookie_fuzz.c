/*
 * cookie_fuzz.c — the Cookie header parser (SECURITY.md S11) and the
 * Set-Cookie formatter fed with fuzzed names and values (S9). Proves: every
 * reported name and value lies within the first SESSIO_COOKIE_HEADER_MAX
 * bytes, names are never empty, the pair count is bounded by what the bytes
 * can hold, and whatever the formatter accepts parses back to the same
 * name. Session IDs are fuzzed by id_fuzz.c. Built by scripts/fuzz.sh.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sessio.h"

typedef struct fuzz_ctx {
  const char *base;
  size_t limit;
  size_t count;
  const char *first_name, *first_val; /* the first pair reported */
  size_t first_nlen, first_vlen;
} fuzz_ctx;

static int on_pair(void *ud, const char *name, size_t name_len, const char *val,
                   size_t val_len) {
  fuzz_ctx *c = ud;
  /* Every reported byte lies within what the parser may read. */
  if (name < c->base || (size_t)(name - c->base) + name_len > c->limit ||
      val < c->base || (size_t)(val - c->base) + val_len > c->limit ||
      name_len == 0)
    abort();
  /* Touch the bytes so the sanitizers check them. */
  volatile char sink = 0;
  for (size_t i = 0; i < name_len; i++) sink ^= name[i];
  for (size_t i = 0; i < val_len; i++) sink ^= val[i];
  (void)sink;
  if (c->count == 0) {
    c->first_name = name;
    c->first_nlen = name_len;
    c->first_val = val;
    c->first_vlen = val_len;
  }
  c->count++;
  if (c->count > c->limit / 2 + 1) /* a pair needs at least "a=" and ';' */
    abort();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_ctx c = {(const char *)data,
                size < SESSIO_COOKIE_HEADER_MAX ? size
                                                : SESSIO_COOKIE_HEADER_MAX,
                0,
                NULL,
                NULL,
                0,
                0};
  sessio_cookie_parse((const char *)data, size, on_pair, &c);

  /* Formatter: split the input at the first 0 byte into name and value;
   * what it accepts must parse back to the same pair. */
  if (size < 9000) {
    char *copy = malloc(size + 1);
    char out[9000];
    size_t need = 0;
    if (copy == NULL) return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    const char *name = copy;
    size_t nlen = strlen(copy);
    const char *value = nlen < size ? copy + nlen + 1 : "";
    sessio_cookie_attrs at = {
        NULL, size & 1, SESSIO_SAMESITE_LAX, (int64_t)size - 100, NULL, 0};
    sessio_err err =
        sessio_cookie_format(out, sizeof out, &need, name, value, &at);
    if (err == SESSIO_OK) {
      fuzz_ctx c2 = {out, strlen(out), 0, NULL, NULL, 0, 0};
      size_t vlen = strlen(value);
      CHECK(need == c2.limit && need >= nlen + 1);
      CHECK(strncmp(out, name, nlen) == 0 && out[nlen] == '=');
      CHECK(nlen + vlen <= 4096); /* S9 */
      /* S9: only cookie-octets, no CTL, and the pair parses back exactly. */
      for (size_t i = 0; i < need; i++)
        CHECK((unsigned char)out[i] >= 0x20 && (unsigned char)out[i] < 0x7f);
      CHECK(strstr(out, "HttpOnly") != NULL);
      sessio_cookie_parse(out, c2.limit, on_pair, &c2);
      CHECK(c2.count >= 1);
      CHECK(c2.first_nlen == nlen && memcmp(c2.first_name, name, nlen) == 0);
      CHECK(c2.first_vlen == vlen && memcmp(c2.first_val, value, vlen) == 0);
    }
    free(copy);
  }
  return 0;
}
