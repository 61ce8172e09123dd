/*
 * id_fuzz.c — session ID validation and decoding (SECURITY.md S7, and the
 * one-spelling rule behind S1/S5). Proves, for any bytes: the validator
 * agrees with an independent reference (43 base64url characters, the last
 * one without stray bits); validator and decoder agree; a decoded ID
 * re-encodes to the same text; any 32 raw bytes encode to a valid ID that
 * decodes back to them; and, end to end through sessio_begin on an empty
 * store, a malformed ID never reaches the store (S7), no ID is ever adopted
 * (S5) and nothing is stored for a request without data (S16).
 */
#include "crypto.h"
#include "fuzz.h"
#include "sessio.h"
#include "sessio/store.h"
#include "store/store_internal.h" /* the record-level dispatch wrappers */

static const char ALPHA[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The reference validator, written without the library's table. */
static int ref_valid(const uint8_t *s, size_t n) {
  if (n != SESSIO_ID_LEN) return 0;
  int v = 0;
  for (size_t i = 0; i < n; i++) {
    const char *c = s[i] ? memchr(ALPHA, s[i], 64) : NULL;
    if (c == NULL) return 0;
    v = (int)(c - ALPHA);
  }
  return v % 4 == 0; /* 43 * 6 = 258 bits for 256: two zero bits */
}

/* ---- a store that counts lookups, over a memory store ------------------ */

typedef struct counting {
  sessio_store base;
  sessio_store *inner;
  unsigned loads;
} counting;

static counting cs;

static sessio_err c_load(sessio_store *st, const sessio_key *k, int64_t now,
                         sessio_record *out, int *found) {
  counting *c = (counting *)st;
  c->loads++;
  return sessio__store_load(c->inner, k, now, out, found);
}
static sessio_err c_save(sessio_store *st, const sessio_key *k,
                         const sessio_record *r, uint64_t e, int64_t now,
                         uint64_t *v) {
  return sessio__store_save(((counting *)st)->inner, k, r, e, now, v);
}
static sessio_err c_touch(sessio_store *st, const sessio_key *k, int64_t t,
                          int64_t e, int64_t now, int *found) {
  return sessio__store_touch(((counting *)st)->inner, k, t, e, now, found);
}
static sessio_err c_remove(sessio_store *st, const sessio_key *k, int64_t now,
                           int *r) {
  return sessio__store_remove(((counting *)st)->inner, k, now, r);
}
static sessio_err c_uadd(sessio_store *st, const char *u, const sessio_key *k,
                         int64_t e, int64_t now) {
  return sessio__store_user_add(((counting *)st)->inner, u, k, e, now);
}
static sessio_err c_ulist(sessio_store *st, const char *u, int64_t now,
                          sessio_key **keys, size_t *n) {
  return sessio__store_user_list(((counting *)st)->inner, u, now, keys, n);
}
static sessio_err c_uremove(sessio_store *st, const char *u,
                            const sessio_key *k) {
  return sessio__store_user_remove(((counting *)st)->inner, u, k);
}
static sessio_err c_gc(sessio_store *st, int64_t now, size_t w, size_t *r,
                       int *d) {
  return sessio_store_gc(((counting *)st)->inner, now, w, r, d);
}
static void c_close(sessio_store *st) { (void)st; }

static const sessio_store_methods counting_methods = {
    .version = SESSIO_STORE_API_VERSION,
    .name = "counting",
    .load = c_load,
    .save = c_save,
    .touch = c_touch,
    .remove = c_remove,
    .user_add = c_uadd,
    .user_list = c_ulist,
    .user_remove = c_uremove,
    .gc = c_gc,
    .close = c_close,
};

static sessio_manager *mgr;

static void setup(void) {
  sessio_config *cfg;
  cs.base.methods = &counting_methods;
  if (sessio_store_open("memory:", &cs.inner) != SESSIO_OK ||
      sessio_config_new(&cfg) != SESSIO_OK ||
      sessio_config_set_store(cfg, &cs.base) != SESSIO_OK ||
      sessio_manager_new(cfg, &mgr) != SESSIO_OK)
    abort();
  sessio_config_free(cfg);
}

/* Counts the distinct well-formed values of the "sid" cookie. */
typedef struct sids {
  char v[64][SESSIO_ID_LEN];
  size_t n, valid;
} sids;

static int on_pair(void *ud, const char *name, size_t nlen, const char *val,
                   size_t vlen) {
  sids *s = ud;
  if (nlen != 3 || memcmp(name, "sid", 3) != 0) return 0;
  if (!ref_valid((const uint8_t *)val, vlen)) return 0;
  for (size_t i = 0; i < s->n; i++)
    if (memcmp(s->v[i], val, SESSIO_ID_LEN) == 0) return 0;
  if (s->n < 64) memcpy(s->v[s->n++], val, SESSIO_ID_LEN);
  s->valid++;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *id = (const char *)data;
  uint8_t raw[SESSIO_ID_BYTES], raw2[SESSIO_ID_BYTES];
  char text[SESSIO_ID_LEN + 1];

  if (mgr == NULL) setup();

  /* Validator = reference = decoder; one spelling per ID. */
  int valid = sessio_id_valid(id, size);
  CHECK(valid == ref_valid(data, size));
  CHECK(sessio__id_decode(id, size, raw) == valid);
  if (valid) {
    sessio__id_encode(raw, text);
    CHECK(strlen(text) == SESSIO_ID_LEN);
    CHECK(memcmp(text, id, SESSIO_ID_LEN) == 0);
  }
  CHECK(sessio_id_valid(NULL, size) == 0);

  /* Any 32 bytes: encode, then validate and decode back. */
  if (size >= SESSIO_ID_BYTES) {
    sessio__id_encode(data, text);
    CHECK(text[SESSIO_ID_LEN] == '\0');
    CHECK(ref_valid((const uint8_t *)text, SESSIO_ID_LEN));
    CHECK(sessio__id_decode(text, SESSIO_ID_LEN, raw2) == 1);
    CHECK(memcmp(raw2, data, SESSIO_ID_BYTES) == 0);
  }

  /* End to end: "sid=<bytes>" on an empty store. */
  if (size <= 9000) {
    char *hdr = malloc(size + 5);
    if (hdr == NULL) return 0;
    memcpy(hdr, "sid=", 4);
    memcpy(hdr + 4, data, size);
    hdr[size + 4] = '\0';
    size_t hlen = strnlen(hdr, SESSIO_COOKIE_HEADER_MAX);
    sids want = {.n = 0, .valid = 0};
    sessio_cookie_parse(hdr, hlen, on_pair, &want);

    const char *h = hdr;
    sessio *s = NULL;
    cs.loads = 0;
    sessio_err rc = sessio_begin(mgr, &h, 1, 0, 1000000000000LL, &s);
    CHECK(rc == SESSIO_OK);
    /* S7: only well-formed IDs reach the store, at most one lookup each
     * (and at most 8 per request); a header with one gets looked up. */
    CHECK(cs.loads <= want.valid);
    CHECK(want.valid == 0 || cs.loads > 0);
    /* S5: an empty store adopts nothing; every value is rejected. */
    CHECK(!sessio_exists(s));
    CHECK(sessio_rejected_ids(s) >= 1);
    CHECK(sessio_commit(s, 1000000000000LL) == SESSIO_OK);
    sessio_free(s);
    /* S16: nothing stored for a request that set no data. */
    struct sessio_store_stats st;
    CHECK(sessio_store_stats(cs.inner, &st) == SESSIO_OK);
    CHECK(st.sessions == 0);
    free(hdr);
  }
  return 0;
}
