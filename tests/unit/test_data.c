/*
 * test_data.c — unit tests for src/data.c: the session data map (typed
 * set/get, incr, prefix ranges), its version-1 binary encoding (round trips,
 * exact bytes, and corrupted input: truncations, byte flips, random bytes)
 * and the operation log that is re-applied after a commit conflict.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "harness.h"

/* Lets the huge-allocation tests see malloc() return NULL under ASan, as it
 * does without it, instead of ASan aborting. Unused in other builds. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) {
  return "allocator_may_return_null=1";
}

#define K(s) (s), strlen(s)

/* Deterministic xorshift64* so failures reproduce. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545F4914F6CDD1Dull;
}

static int key_less(const sessio__entry *a, const sessio__entry *b) {
  size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
  int c = memcmp(a->key, b->key, n);
  return c < 0 || (c == 0 && a->key_len < b->key_len);
}

/* 1 when 'm' satisfies every invariant the encoding relies on. */
static int map_valid(const sessio__map *m) {
  if (m->n > m->cap) return 0;
  for (size_t i = 0; i < m->n; i++) {
    const sessio__entry *e = &m->v[i];
    if (e->key_len == 0 || e->key_len > 4096 || e->key[e->key_len] != '\0')
      return 0;
    if (i > 0 && !key_less(&m->v[i - 1], e)) return 0;
    switch (e->type) {
    case SESSIO_T_STR:
      if (e->bytes == NULL || e->bytes[e->len] != 0) return 0;
      if (e->len && memchr(e->bytes, 0, e->len)) return 0;
      break;
    case SESSIO_T_BYTES:
      if (e->bytes == NULL) return 0;
      break;
    case SESSIO_T_BOOL:
      if (e->ival != 0 && e->ival != 1) return 0;
      break;
    case SESSIO_T_INT: break;
    default: return 0;
    }
  }
  return 1;
}

static int entries_equal(const sessio__entry *a, const sessio__entry *b) {
  if (a->key_len != b->key_len || memcmp(a->key, b->key, a->key_len) != 0 ||
      a->type != b->type)
    return 0;
  if (a->type == SESSIO_T_STR || a->type == SESSIO_T_BYTES)
    return a->len == b->len &&
           (a->len == 0 || memcmp(a->bytes, b->bytes, a->len) == 0);
  return a->ival == b->ival;
}

static int maps_equal(const sessio__map *a, const sessio__map *b) {
  if (a->n != b->n) return 0;
  for (size_t i = 0; i < a->n; i++)
    if (!entries_equal(&a->v[i], &b->v[i])) return 0;
  return 1;
}

static int64_t get_int(const sessio__map *m, const char *key, int *ok) {
  const sessio__entry *e = sessio__map_get(m, key, strlen(key));
  *ok = e != NULL && e->type == SESSIO_T_INT;
  return *ok ? e->ival : 0;
}

/* ---- map ------------------------------------------------------------- */

static void test_set_get_every_type(void) {
  sessio__map m = SESSIO__MAP_INIT;
  CHECK_OK(sessio__map_set(&m, K("s"), SESSIO_T_STR, "hello", 5, 0));
  CHECK_OK(sessio__map_set(&m, K("i"), SESSIO_T_INT, NULL, 0, -42));
  CHECK_OK(sessio__map_set(&m, K("b"), SESSIO_T_BOOL, NULL, 0, 1));
  CHECK_OK(sessio__map_set(&m, K("y"), SESSIO_T_BYTES, "a\0b", 3, 0));
  CHECK_OK(sessio__map_set(&m, K("e"), SESSIO_T_STR, "", 0, 0));
  CHECK_OK(sessio__map_set(&m, K("z"), SESSIO_T_BYTES, NULL, 0, 0));
  CHECK_INT(m.n, 6);
  const sessio__entry *e = sessio__map_get(&m, K("s"));
  CHECK(e != NULL);
  if (e) {
    CHECK_INT(e->type, SESSIO_T_STR);
    CHECK_STR((const char *)e->bytes, "hello");
    CHECK_INT(e->len, 5);
    CHECK_STR(e->key, "s");
  }
  e = sessio__map_get(&m, K("i"));
  CHECK(e && e->type == SESSIO_T_INT && e->ival == -42);
  e = sessio__map_get(&m, K("b"));
  CHECK(e && e->type == SESSIO_T_BOOL && e->ival == 1);
  e = sessio__map_get(&m, K("y"));
  CHECK(e && e->type == SESSIO_T_BYTES && e->len == 3 &&
        memcmp(e->bytes, "a\0b", 3) == 0);
  e = sessio__map_get(&m, K("e"));
  CHECK(e && e->type == SESSIO_T_STR && e->len == 0 && e->bytes &&
        e->bytes[0] == 0);
  e = sessio__map_get(&m, K("z"));
  CHECK(e && e->type == SESSIO_T_BYTES && e->len == 0 && e->bytes != NULL);
  CHECK(sessio__map_get(&m, K("x")) == NULL);
  CHECK(sessio__map_get(&m, K("ss")) == NULL);
  CHECK(map_valid(&m));
  sessio__map_free(&m);
  CHECK_INT(m.n, 0);
  CHECK(m.v == NULL);
}

static void test_set_copies_key_and_value(void) {
  sessio__map m = SESSIO__MAP_INIT;
  char key[] = "k1", val[] = "v1";
  CHECK_OK(sessio__map_set(&m, K(key), SESSIO_T_STR, val, 2, 0));
  key[1] = '2';
  val[1] = '2';
  const sessio__entry *e = sessio__map_get(&m, K("k1"));
  CHECK(e && strcmp((const char *)e->bytes, "v1") == 0);
  CHECK(sessio__map_get(&m, K("k2")) == NULL);
  sessio__map_free(&m);
}

static void test_overwrite_with_another_type(void) {
  sessio__map m = SESSIO__MAP_INIT;
  CHECK_OK(sessio__map_set(&m, K("k"), SESSIO_T_STR, "text", 4, 0));
  CHECK_OK(sessio__map_set(&m, K("k"), SESSIO_T_INT, NULL, 0, 7));
  CHECK_INT(m.n, 1);
  const sessio__entry *e = sessio__map_get(&m, K("k"));
  CHECK(e && e->type == SESSIO_T_INT && e->ival == 7 && e->bytes == NULL);
  CHECK_OK(sessio__map_set(&m, K("k"), SESSIO_T_BYTES, "\x01\x02", 2, 0));
  e = sessio__map_get(&m, K("k"));
  CHECK(e && e->type == SESSIO_T_BYTES && e->len == 2 && e->bytes[1] == 2);
  /* A BOOL is stored as 0/1 whatever non-zero value is given. */
  CHECK_OK(sessio__map_set(&m, K("k"), SESSIO_T_BOOL, NULL, 0, 42));
  e = sessio__map_get(&m, K("k"));
  CHECK(e && e->type == SESSIO_T_BOOL && e->ival == 1);
  CHECK_INT(m.n, 1);
  sessio__map_free(&m);
}

static void test_set_rejects_what_encoding_cannot_hold(void) {
  sessio__map m = SESSIO__MAP_INIT;
  static char big[4097];
  memset(big, 'k', sizeof(big));
  CHECK_OK(sessio__map_set(&m, K("a"), SESSIO_T_INT, NULL, 0, 1));
  CHECK_ERR(sessio__map_set(&m, "", 0, SESSIO_T_INT, NULL, 0, 1),
            SESSIO_EINVAL);
  CHECK_ERR(sessio__map_set(&m, big, 4097, SESSIO_T_INT, NULL, 0, 1),
            SESSIO_EINVAL);
  CHECK_ERR(sessio__map_set(&m, K("a"), SESSIO_T_STR, "x\0y", 3, 0),
            SESSIO_EINVAL);
  CHECK_ERR(sessio__map_set(&m, K("a"), SESSIO_T_NONE, NULL, 0, 0),
            SESSIO_EINVAL);
  CHECK_ERR(sessio__map_set(&m, K("a"), (sessio_type)5, NULL, 0, 0),
            SESSIO_EINVAL);
  /* Unchanged by the refusals. */
  CHECK_INT(m.n, 1);
  int ok;
  CHECK_INT(get_int(&m, "a", &ok), 1);
  CHECK(ok);
  CHECK_OK(sessio__map_set(&m, big, 4096, SESSIO_T_INT, NULL, 0, 2));
  CHECK_INT(m.n, 2);
  sessio__map_free(&m);
}

static void test_delete_present_and_absent(void) {
  sessio__map m = SESSIO__MAP_INIT;
  const char *keys[] = {"a", "b", "c", "d"};
  for (int i = 0; i < 4; i++)
    CHECK_OK(sessio__map_set(&m, K(keys[i]), SESSIO_T_INT, NULL, 0, i));
  CHECK_INT(sessio__map_delete(&m, K("b")), 1);
  CHECK_INT(sessio__map_delete(&m, K("b")), 0);
  CHECK_INT(sessio__map_delete(&m, K("zz")), 0);
  CHECK_INT(m.n, 3);
  CHECK(sessio__map_get(&m, K("b")) == NULL);
  CHECK(sessio__map_get(&m, K("a")) && sessio__map_get(&m, K("c")) &&
        sessio__map_get(&m, K("d")));
  CHECK_INT(sessio__map_delete(&m, K("a")), 1);
  CHECK_INT(sessio__map_delete(&m, K("d")), 1);
  CHECK_INT(sessio__map_delete(&m, K("c")), 1);
  CHECK_INT(m.n, 0);
  CHECK_INT(sessio__map_delete(&m, K("c")), 0);
  sessio__map_free(&m);
}

static void test_keys_sorted_bytewise_then_shorter_first(void) {
  sessio__map m = SESSIO__MAP_INIT;
  /* Inserted out of order; "\x80" and "\xff" must sort after ASCII. */
  const char *in[] = {"b", "\xff", "ab", "a", "\x80", "abc", "B", "a\x01"};
  const char *want[] = {"B", "a", "a\x01", "ab", "abc", "b", "\x80", "\xff"};
  for (size_t i = 0; i < 8; i++)
    CHECK_OK(sessio__map_set(&m, K(in[i]), SESSIO_T_INT, NULL, 0, 0));
  CHECK_INT(m.n, 8);
  for (size_t i = 0; i < 8 && i < m.n; i++) CHECK_STR(m.v[i].key, want[i]);
  CHECK(map_valid(&m));
  sessio__map_free(&m);
}

/* Random sets and deletes agree with a plain array model. */
static void test_many_random_sets_and_deletes_match_model(void) {
  sessio__map m = SESSIO__MAP_INIT;
  enum { NK = 300 };
  int64_t model[NK];
  int present[NK] = {0};
  char key[2];
  for (int i = 0; i < 20000; i++) {
    int k = (int)(rnd() % NK);
    /* Keys of one or two bytes, some >= 0x80, some prefixes of others. */
    key[0] = (char)(0x30 + k / 2 % 150);
    key[1] = (char)(0x7e + k % 2 * (k / 2 % 3));
    size_t klen = k % 2 ? 2 : 1;
    if (rnd() % 3 == 0) {
      CHECK_INT(sessio__map_delete(&m, key, klen), present[k]);
      present[k] = 0;
    } else {
      CHECK_OK(sessio__map_set(&m, key, klen, SESSIO_T_INT, NULL, 0, i));
      present[k] = 1;
      model[k] = i;
    }
  }
  size_t count = 0;
  for (int k = 0; k < NK; k++) {
    if (!present[k]) continue;
    count++;
    key[0] = (char)(0x30 + k / 2 % 150);
    key[1] = (char)(0x7e + k % 2 * (k / 2 % 3));
    const sessio__entry *e = sessio__map_get(&m, key, k % 2 ? 2 : 1);
    CHECK(e && e->ival == model[k]);
  }
  CHECK_INT(m.n, count);
  CHECK(map_valid(&m));
  sessio__map_free(&m);
}

static void test_copy_is_deep_and_replaces_dst(void) {
  sessio__map a = SESSIO__MAP_INIT, b = SESSIO__MAP_INIT;
  CHECK_OK(sessio__map_set(&a, K("s"), SESSIO_T_STR, "one", 3, 0));
  CHECK_OK(sessio__map_set(&a, K("i"), SESSIO_T_INT, NULL, 0, 5));
  CHECK_OK(sessio__map_set(&b, K("old"), SESSIO_T_INT, NULL, 0, 1));
  CHECK_OK(sessio__map_copy(&b, &a));
  CHECK(maps_equal(&a, &b));
  CHECK(sessio__map_get(&b, K("old")) == NULL);
  CHECK(a.v[1].bytes != b.v[1].bytes);
  CHECK_OK(sessio__map_set(&a, K("s"), SESSIO_T_STR, "two", 3, 0));
  const sessio__entry *e = sessio__map_get(&b, K("s"));
  CHECK(e && strcmp((const char *)e->bytes, "one") == 0);
  sessio__map empty = SESSIO__MAP_INIT;
  CHECK_OK(sessio__map_copy(&b, &empty));
  CHECK_INT(b.n, 0);
  sessio__map_free(&a);
  sessio__map_free(&b);
}

static void test_incr_absent_existing_and_errors(void) {
  sessio__map m = SESSIO__MAP_INIT;
  int64_t r = 99;
  int ok;
  CHECK_OK(sessio__map_incr(&m, K("n"), 3, &r));
  CHECK_INT(r, 3);
  CHECK_OK(sessio__map_incr(&m, K("n"), -10, &r));
  CHECK_INT(r, -7);
  CHECK_OK(sessio__map_incr(&m, K("n"), 2, NULL));
  CHECK_INT(get_int(&m, "n", &ok), -5);
  CHECK(ok);
  CHECK_OK(sessio__map_incr(&m, K("zero"), 0, &r));
  CHECK_INT(r, 0);
  CHECK(sessio__map_get(&m, K("zero")) != NULL);

  /* Another type: SESSIO_ETYPE, value and type unchanged. */
  CHECK_OK(sessio__map_set(&m, K("s"), SESSIO_T_STR, "5", 1, 0));
  CHECK_OK(sessio__map_set(&m, K("b"), SESSIO_T_BOOL, NULL, 0, 1));
  r = 99;
  CHECK_ERR(sessio__map_incr(&m, K("s"), 1, &r), SESSIO_ETYPE);
  CHECK_ERR(sessio__map_incr(&m, K("b"), 1, &r), SESSIO_ETYPE);
  CHECK_INT(r, 99);
  const sessio__entry *e = sessio__map_get(&m, K("s"));
  CHECK(e && e->type == SESSIO_T_STR && strcmp((char *)e->bytes, "5") == 0);

  /* Overflow both ways: SESSIO_EOVERFLOW, value unchanged. */
  CHECK_OK(sessio__map_set(&m, K("max"), SESSIO_T_INT, NULL, 0, INT64_MAX));
  CHECK_ERR(sessio__map_incr(&m, K("max"), 1, &r), SESSIO_EOVERFLOW);
  CHECK_INT(get_int(&m, "max", &ok), INT64_MAX);
  CHECK_OK(sessio__map_incr(&m, K("max"), 0, &r));
  CHECK_INT(r, INT64_MAX);
  CHECK_OK(sessio__map_set(&m, K("min"), SESSIO_T_INT, NULL, 0, INT64_MIN));
  CHECK_ERR(sessio__map_incr(&m, K("min"), -1, &r), SESSIO_EOVERFLOW);
  CHECK_INT(get_int(&m, "min", &ok), INT64_MIN);
  CHECK_OK(sessio__map_incr(&m, K("min"), INT64_MAX, &r));
  CHECK_INT(r, -1);
  /* An absent key that cannot be stored. */
  CHECK_ERR(sessio__map_incr(&m, "", 0, 1, &r), SESSIO_EINVAL);
  CHECK(map_valid(&m));
  sessio__map_free(&m);
}

/* ---- prefix ranges --------------------------------------------------- */

static void check_range(const sessio__map *m, const char *p, size_t plen,
                        size_t want_lo, size_t want_hi) {
  size_t lo = 777, hi = 777;
  sessio__map_prefix(m, p, plen, &lo, &hi);
  CHECK_INT(lo, want_lo);
  CHECK_INT(hi, want_hi);
}

static void test_prefix_ranges(void) {
  sessio__map m = SESSIO__MAP_INIT;
  check_range(&m, K(""), 0, 0);
  check_range(&m, K("a"), 0, 0);
  /* Index: 0 "a", 1 "ab", 2 "abc", 3 "abd", 4 "ac", 5 "b", 6 "\x7f",
   *        7 "\x80", 8 "\x80\x01", 9 "\xff", 10 "\xff\xff" */
  const char *keys[] = {"a",    "ab",   "abc",      "abd",  "ac",      "b",
                        "\x7f", "\x80", "\x80\x01", "\xff", "\xff\xff"};
  for (size_t i = 0; i < 11; i++)
    CHECK_OK(sessio__map_set(&m, K(keys[i]), SESSIO_T_INT, NULL, 0, 0));
  for (size_t i = 0; i < 11; i++) CHECK_STR(m.v[i].key, keys[i]);
  check_range(&m, K(""), 0, 11); /* empty prefix: everything */
  check_range(&m, K("a"), 0, 5);
  check_range(&m, K("ab"), 1, 4); /* keys that prefix each other */
  check_range(&m, K("abc"), 2, 3);
  check_range(&m, K("abcd"), 3, 3); /* longer than every key */
  check_range(&m, K("aa"), 1, 1);   /* between keys */
  check_range(&m, K("A"), 0, 0);    /* before all */
  check_range(&m, K("c"), 6, 6);    /* nothing */
  check_range(&m, K("\x80"), 7, 9); /* bytes >= 0x80 */
  check_range(&m, K("\xff"), 9, 11);
  check_range(&m, K("\xff\xff\xff"), 11, 11); /* after all */
  sessio__map_free(&m);
}

/* Every range agrees with a linear scan, over random maps whose keys come
 * from a tiny alphabet so that prefixes collide often. */
static void test_prefix_matches_linear_scan(void) {
  const char alpha[] = {'a', 'b', (char)0x80, (char)0xff};
  for (int round = 0; round < 200; round++) {
    sessio__map m = SESSIO__MAP_INIT;
    int nkeys = (int)(rnd() % 40);
    char key[4];
    for (int i = 0; i < nkeys; i++) {
      size_t klen = 1 + rnd() % 4;
      for (size_t j = 0; j < klen; j++) key[j] = alpha[rnd() % 4];
      CHECK_OK(sessio__map_set(&m, key, klen, SESSIO_T_INT, NULL, 0, i));
    }
    for (int t = 0; t < 30; t++) {
      char p[5];
      size_t plen = rnd() % 5;
      for (size_t j = 0; j < plen; j++) p[j] = alpha[rnd() % 4];
      size_t lo, hi, cnt = 0;
      sessio__map_prefix(&m, p, plen, &lo, &hi);
      for (size_t i = 0; i < m.n; i++) {
        int match = m.v[i].key_len >= plen &&
                    (plen == 0 || memcmp(m.v[i].key, p, plen) == 0);
        cnt += (size_t)match;
        if (match != (i >= lo && i < hi)) {
          CHECK(match == (i >= lo && i < hi));
          break;
        }
      }
      CHECK_INT(hi - lo, cnt);
    }
    sessio__map_free(&m);
  }
}

/* ---- encoding -------------------------------------------------------- */

/* The bytes of the documented v1 format, written out by hand. */
static void test_encode_exact_v1_bytes(void) {
  sessio__map m = SESSIO__MAP_INIT;
  sessio__buf b = SESSIO__BUF_INIT;
  CHECK_OK(sessio__map_encode(&m, &b));
  CHECK_INT(b.len, 2);
  CHECK(b.len == 2 && b.data[0] == 1 && b.data[1] == 0);
  CHECK_INT(sessio__map_encoded_size(&m), 2);
  sessio__buf_free(&b);

  CHECK_OK(sessio__map_set(&m, K("c"), SESSIO_T_STR, "hi", 2, 0));
  CHECK_OK(sessio__map_set(&m, K("a"), SESSIO_T_INT, NULL, 0, -1));
  CHECK_OK(sessio__map_set(&m, K("b"), SESSIO_T_BOOL, NULL, 0, 1));
  CHECK_OK(sessio__map_set(&m, K("d"), SESSIO_T_BYTES, "\x00\xff", 2, 0));
  CHECK_OK(sessio__map_set(&m, K("e"), SESSIO_T_INT, NULL, 0, 64));
  const uint8_t want[] = {1, 5,                       /* format, count */
                          2, 1, 'a', 1,               /* INT zigzag(-1) */
                          3, 1, 'b', 1,               /* BOOL */
                          1, 1, 'c', 2,    'h', 'i',  /* STR */
                          4, 1, 'd', 2,    0,   0xff, /* BYTES */
                          2, 1, 'e', 0x80, 1};        /* zigzag(64)=128 */
  CHECK_OK(sessio__map_encode(&m, &b));
  CHECK_INT(b.len, sizeof(want));
  CHECK(b.len == sizeof(want) && memcmp(b.data, want, sizeof(want)) == 0);
  CHECK_INT(sessio__map_encoded_size(&m), sizeof(want));
  /* Encode appends. */
  CHECK_OK(sessio__map_encode(&m, &b));
  CHECK_INT(b.len, 2 * sizeof(want));
  CHECK(memcmp(b.data + sizeof(want), want, sizeof(want)) == 0);
  sessio__buf_free(&b);
  sessio__map_free(&m);
}

/* A map of 'n' keys of every type, with edge values. */
static void build_sample(sessio__map *m, int n) {
  static const int64_t ints[] = {
      0, 1, -1, 63, -64, 64, INT64_MAX, INT64_MIN, 1234567890123, -987654321};
  char key[64];
  static uint8_t blob[3000];
  for (size_t i = 0; i < sizeof(blob); i++) blob[i] = (uint8_t)(i * 7 + 1);
  for (int i = 0; i < n; i++) {
    int kl = snprintf(key, sizeof(key), "k%d.\xc3\xa9%d", i % 17, i);
    switch (i % 5) {
    case 0:
      CHECK_OK(sessio__map_set(m, key, (size_t)kl, SESSIO_T_STR, "value",
                               (size_t)(i % 6), 0));
      break;
    case 1:
      CHECK_OK(sessio__map_set(m, key, (size_t)kl, SESSIO_T_INT, NULL, 0,
                               ints[i % 10]));
      break;
    case 2:
      CHECK_OK(sessio__map_set(m, key, (size_t)kl, SESSIO_T_BOOL, NULL, 0,
                               i % 3 == 0));
      break;
    case 3:
      CHECK_OK(sessio__map_set(m, key, (size_t)kl, SESSIO_T_BYTES, blob,
                               (size_t)(i * 31) % sizeof(blob), 0));
      break;
    default:
      CHECK_OK(sessio__map_set(m, key, (size_t)kl, SESSIO_T_INT, NULL, 0,
                               (int64_t)rnd()));
    }
  }
}

static void test_encode_decode_round_trip_many_keys(void) {
  sessio__map m = SESSIO__MAP_INIT, d = SESSIO__MAP_INIT;
  build_sample(&m, 1500);
  CHECK_INT(m.n, 1500);
  static char longkey[4096];
  memset(longkey, 'L', sizeof(longkey));
  CHECK_OK(sessio__map_set(&m, longkey, 4096, SESSIO_T_STR, "x", 1, 0));
  sessio__buf b = SESSIO__BUF_INIT;
  CHECK_OK(sessio__map_encode(&m, &b));
  CHECK_INT(b.len, sessio__map_encoded_size(&m));
  CHECK_OK(sessio__map_decode(&d, b.data, b.len));
  CHECK(maps_equal(&m, &d));
  CHECK(map_valid(&d));
  /* Decoding into a non-empty map replaces its content. */
  CHECK_OK(sessio__map_decode(&d, b.data, b.len));
  CHECK(maps_equal(&m, &d));
  /* Re-encoding gives the same bytes. */
  sessio__buf b2 = SESSIO__BUF_INIT;
  CHECK_OK(sessio__map_encode(&d, &b2));
  CHECK(b.len == b2.len && memcmp(b.data, b2.data, b.len) == 0);
  sessio__buf_free(&b);
  sessio__buf_free(&b2);
  sessio__map_free(&m);
  sessio__map_free(&d);
}

static void test_encoded_size_matches_for_random_maps(void) {
  for (int round = 0; round < 100; round++) {
    sessio__map m = SESSIO__MAP_INIT, d = SESSIO__MAP_INIT;
    build_sample(&m, (int)(rnd() % 60));
    sessio__buf b = SESSIO__BUF_INIT;
    CHECK_OK(sessio__map_encode(&m, &b));
    CHECK_INT(b.len, sessio__map_encoded_size(&m));
    CHECK_OK(sessio__map_decode(&d, b.data, b.len));
    CHECK(maps_equal(&m, &d));
    sessio__buf_free(&b);
    sessio__map_free(&m);
    sessio__map_free(&d);
  }
}

/* Decodes 'len' bytes from an exact-size heap copy (so ASan sees any read
 * past the end) into a map that starts non-empty. Returns the status; on
 * failure checks the map was left empty and the status is ECORRUPT; on
 * success checks the map is valid and re-encodes to the very same bytes. */
static sessio_err decode_checked(const uint8_t *p, size_t len) {
  uint8_t *copy = malloc(len ? len : 1);
  if (copy == NULL) return SESSIO_ENOMEM;
  if (len) memcpy(copy, p, len);
  sessio__map m = SESSIO__MAP_INIT;
  CHECK_OK(sessio__map_set(&m, K("stale"), SESSIO_T_INT, NULL, 0, 1));
  sessio_err rc = sessio__map_decode(&m, copy, len);
  if (rc != SESSIO_OK) {
    CHECK_ERR(rc, SESSIO_ECORRUPT);
    CHECK_INT(m.n, 0);
  } else {
    CHECK(map_valid(&m));
    sessio__buf b = SESSIO__BUF_INIT;
    CHECK_OK(sessio__map_encode(&m, &b));
    CHECK(b.len == len && memcmp(b.data, p, len) == 0);
    CHECK_INT(sessio__map_encoded_size(&m), len);
    sessio__buf_free(&b);
  }
  sessio__map_free(&m);
  free(copy);
  return rc;
}

#define BYTES(...)                                                             \
  (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})

static void test_decode_rejects_each_malformation(void) {
  /* Valid baselines first, so the rejections below are about one defect. */
  CHECK_OK(decode_checked(BYTES(1, 0)));
  CHECK_OK(decode_checked(BYTES(1, 1, 2, 1, 'a', 2)));
  CHECK_OK(decode_checked(BYTES(1, 2, 1, 1, 'a', 0, 1, 2, 'a', 'b', 0)));

  CHECK_ERR(decode_checked(NULL, 0), SESSIO_ECORRUPT);
  CHECK_ERR(decode_checked(BYTES(1)), SESSIO_ECORRUPT);    /* no count */
  CHECK_ERR(decode_checked(BYTES(0, 0)), SESSIO_ECORRUPT); /* format 0 */
  CHECK_ERR(decode_checked(BYTES(2, 0)), SESSIO_ECORRUPT); /* format 2 */
  /* Count larger than the bytes can hold (and a huge count). */
  CHECK_ERR(decode_checked(BYTES(1, 2, 2, 1, 'a', 2)), SESSIO_ECORRUPT);
  CHECK_ERR(
      decode_checked(BYTES(1, 0xff, 0xff, 0xff, 0xff, 0x0f, 2, 1, 'a', 2)),
      SESSIO_ECORRUPT);
  /* Unknown types. */
  CHECK_ERR(decode_checked(BYTES(1, 1, 0, 1, 'a', 2)), SESSIO_ECORRUPT);
  CHECK_ERR(decode_checked(BYTES(1, 1, 5, 1, 'a', 2)), SESSIO_ECORRUPT);
  CHECK_ERR(decode_checked(BYTES(1, 1, 0xff, 1, 'a', 2)), SESSIO_ECORRUPT);
  /* key_len 0, key beyond the end. */
  CHECK_ERR(decode_checked(BYTES(1, 1, 2, 0, 2, 2)), SESSIO_ECORRUPT);
  CHECK_ERR(decode_checked(BYTES(1, 1, 2, 9, 'a', 2)), SESSIO_ECORRUPT);
  /* Keys equal, descending, and a longer key before its prefix. */
  CHECK_ERR(decode_checked(BYTES(1, 2, 2, 1, 'a', 0, 2, 1, 'a', 0)),
            SESSIO_ECORRUPT);
  CHECK_ERR(decode_checked(BYTES(1, 2, 2, 1, 'b', 0, 2, 1, 'a', 0)),
            SESSIO_ECORRUPT);
  CHECK_ERR(decode_checked(BYTES(1, 2, 2, 2, 'a', 'b', 0, 2, 1, 'a', 0)),
            SESSIO_ECORRUPT);
  /* Bool not 0/1. */
  CHECK_OK(decode_checked(BYTES(1, 1, 3, 1, 'a', 1)));
  CHECK_ERR(decode_checked(BYTES(1, 1, 3, 1, 'a', 2)), SESSIO_ECORRUPT);
  /* STR with a NUL byte; the same bytes are fine as BYTES. */
  CHECK_ERR(decode_checked(BYTES(1, 1, 1, 1, 'a', 3, 'x', 0, 'y')),
            SESSIO_ECORRUPT);
  CHECK_OK(decode_checked(BYTES(1, 1, 4, 1, 'a', 3, 'x', 0, 'y')));
  /* Value length beyond the end. */
  CHECK_ERR(decode_checked(BYTES(1, 1, 4, 1, 'a', 4, 'x', 0, 'y')),
            SESSIO_ECORRUPT);
  /* Trailing bytes. */
  CHECK_ERR(decode_checked(BYTES(1, 0, 0)), SESSIO_ECORRUPT);
  CHECK_ERR(decode_checked(BYTES(1, 1, 2, 1, 'a', 2, 0)), SESSIO_ECORRUPT);
  /* Varint overflow: 10 bytes with bits past 64, and 11 bytes. */
  CHECK_ERR(decode_checked(BYTES(1, 1, 2, 1, 'a', 0xff, 0xff, 0xff, 0xff, 0xff,
                                 0xff, 0xff, 0xff, 0xff, 0x7f)),
            SESSIO_ECORRUPT);
  CHECK_ERR(decode_checked(BYTES(1, 1, 2, 1, 'a', 0xff, 0xff, 0xff, 0xff, 0xff,
                                 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)),
            SESSIO_ECORRUPT);
  /* The largest INT encoding is fine: zigzag(INT64_MIN) = 2^64-1. */
  CHECK_OK(decode_checked(BYTES(1, 1, 2, 1, 'a', 0xff, 0xff, 0xff, 0xff, 0xff,
                                0xff, 0xff, 0xff, 0xff, 0x01)));
  /* Non-shortest varints (a second encoding of the same map). */
  CHECK_ERR(decode_checked(BYTES(1, 0x80, 0)), SESSIO_ECORRUPT);
  CHECK_ERR(decode_checked(BYTES(1, 1, 2, 0x81, 0, 'a', 2)), SESSIO_ECORRUPT);
  CHECK_ERR(decode_checked(BYTES(1, 1, 2, 1, 'a', 0x82, 0)), SESSIO_ECORRUPT);
}

static void test_decode_key_length_limit(void) {
  static uint8_t in[4200];
  for (size_t kl = 4095; kl <= 4097; kl++) {
    size_t n = 0;
    in[n++] = 1;
    in[n++] = 1;
    in[n++] = SESSIO_T_BOOL;
    in[n++] = (uint8_t)(0x80 | (kl & 0x7f));
    in[n++] = (uint8_t)(kl >> 7);
    memset(in + n, 'k', kl);
    n += kl;
    in[n++] = 0;
    sessio_err rc = decode_checked(in, n);
    CHECK_ERR(rc, kl <= 4096 ? SESSIO_OK : SESSIO_ECORRUPT);
  }
}

static void encode_sample(sessio__buf *b, int n) {
  sessio__map m = SESSIO__MAP_INIT;
  build_sample(&m, n);
  CHECK_OK(sessio__map_set(&m, K("zz.bool0"), SESSIO_T_BOOL, NULL, 0, 0));
  CHECK_OK(sessio__map_set(&m, K("zz.str"), SESSIO_T_STR, "abc", 3, 0));
  CHECK_OK(sessio__map_encode(&m, b));
  sessio__map_free(&m);
}

static void test_decode_every_truncation_fails(void) {
  sessio__buf b = SESSIO__BUF_INIT;
  encode_sample(&b, 12);
  CHECK(b.len > 100);
  CHECK_OK(decode_checked(b.data, b.len));
  for (size_t len = 0; len < b.len; len++)
    CHECK_ERR(decode_checked(b.data, len), SESSIO_ECORRUPT);
  sessio__buf_free(&b);
}

/* Every byte replaced by each of its 255 other values: each result either
 * decodes to a valid map that re-encodes to exactly that input, or is
 * rejected cleanly with an empty map. */
static void test_decode_every_byte_change_is_safe(void) {
  sessio__buf b = SESSIO__BUF_INIT;
  encode_sample(&b, 8);
  uint8_t *p = malloc(b.len);
  CHECK(p != NULL);
  if (p == NULL) return;
  size_t accepted = 0, rejected = 0;
  for (size_t i = 0; i < b.len; i++) {
    memcpy(p, b.data, b.len);
    for (int d = 1; d < 256; d++) {
      p[i] = (uint8_t)(b.data[i] ^ d);
      if (decode_checked(p, b.len) == SESSIO_OK)
        accepted++;
      else
        rejected++;
    }
  }
  /* Both outcomes happen (value bytes may change freely, framing not). */
  CHECK(accepted > 0);
  CHECK(rejected > 0);
  free(p);
  sessio__buf_free(&b);
}

static void test_decode_random_bytes_is_safe(void) {
  uint8_t buf[96];
  size_t accepted = 0;
  for (int i = 0; i < 100000; i++) {
    size_t len = rnd() % sizeof(buf);
    for (size_t j = 0; j < len; j++) buf[j] = (uint8_t)rnd();
    /* Steer most inputs past the format byte and to small counts. */
    if (len > 0 && i % 4 != 0) buf[0] = 1;
    if (len > 1 && i % 2 != 0) buf[1] = (uint8_t)(rnd() % 4);
    if (len > 2 && i % 8 > 1) buf[2] = (uint8_t)(1 + rnd() % 4);
    if (len > 3 && i % 8 > 1) buf[3] = (uint8_t)(rnd() % 6);
    if (decode_checked(buf, len) == SESSIO_OK) accepted++;
  }
  printf("  random inputs accepted: %zu of 100000\n", accepted);
}

/* ---- operation log --------------------------------------------------- */

static sessio_err push_set_int(sessio__ops *o, const char *k, int64_t v) {
  return sessio__ops_push(o, SESSIO__OP_SET, K(k), SESSIO_T_INT, NULL, 0, v);
}
static sessio_err push_set_str(sessio__ops *o, const char *k, const char *v) {
  return sessio__ops_push(o, SESSIO__OP_SET, K(k), SESSIO_T_STR, v, strlen(v),
                          0);
}
static sessio_err push_incr(sessio__ops *o, const char *k, int64_t d) {
  return sessio__ops_push(o, SESSIO__OP_INCR, K(k), SESSIO_T_NONE, NULL, 0, d);
}
static sessio_err push_del(sessio__ops *o, const char *k) {
  return sessio__ops_push(o, SESSIO__OP_DEL, K(k), SESSIO_T_NONE, NULL, 0, 0);
}
static sessio_err push_delp(sessio__ops *o, const char *k) {
  return sessio__ops_push(o, SESSIO__OP_DEL_PREFIX, K(k), SESSIO_T_NONE, NULL,
                          0, 0);
}

static int op_is(const sessio__ops *o, size_t i, sessio__op_kind kind,
                 const char *key) {
  return i < o->n && o->v[i].kind == kind && o->v[i].key_len == strlen(key) &&
         memcmp(o->v[i].key, key, strlen(key)) == 0 &&
         o->v[i].key[o->v[i].key_len] == '\0';
}

static void test_ops_set_and_del_drop_earlier_ops_of_key(void) {
  sessio__ops o = SESSIO__OPS_INIT;
  CHECK_OK(push_set_int(&o, "a", 1));
  CHECK_OK(push_incr(&o, "a", 1));
  CHECK_OK(push_set_str(&o, "b", "x"));
  CHECK_OK(push_del(&o, "a"));
  CHECK_INT(o.n, 2);
  CHECK(op_is(&o, 0, SESSIO__OP_SET, "b"));
  CHECK(op_is(&o, 1, SESSIO__OP_DEL, "a"));
  CHECK_OK(push_set_str(&o, "a", "again"));
  CHECK_INT(o.n, 2);
  CHECK(op_is(&o, 1, SESSIO__OP_SET, "a"));
  CHECK(o.n == 2 && o.v[1].type == SESSIO_T_STR && o.v[1].len == 5 &&
        strcmp((char *)o.v[1].bytes, "again") == 0);
  /* "ab" is another key, not dropped by a SET of "a". */
  CHECK_OK(push_set_int(&o, "ab", 1));
  CHECK_OK(push_set_int(&o, "a", 2));
  CHECK_INT(o.n, 3);
  CHECK(op_is(&o, 1, SESSIO__OP_SET, "ab"));
  CHECK(op_is(&o, 2, SESSIO__OP_SET, "a"));
  sessio__ops_free(&o);
  CHECK_INT(o.n, 0);
}

static void test_ops_del_prefix_drops_earlier_ops_under_it(void) {
  sessio__ops o = SESSIO__OPS_INIT;
  CHECK_OK(push_set_int(&o, "cart.a", 1));
  CHECK_OK(push_set_str(&o, "user", "u"));
  CHECK_OK(push_delp(&o, "cart.x"));
  CHECK_OK(push_incr(&o, "cart.b", 2));
  CHECK_OK(push_del(&o, "cart"));
  CHECK_OK(push_delp(&o, "cart."));
  CHECK_INT(o.n, 3);
  CHECK(op_is(&o, 0, SESSIO__OP_SET, "user"));
  CHECK(op_is(&o, 1, SESSIO__OP_DEL, "cart")); /* not under "cart." */
  CHECK(op_is(&o, 2, SESSIO__OP_DEL_PREFIX, "cart."));
  /* Ops after it stay, and an empty prefix drops everything before. */
  CHECK_OK(push_incr(&o, "cart.c", 1));
  CHECK_INT(o.n, 4);
  CHECK_OK(push_delp(&o, ""));
  CHECK_INT(o.n, 1);
  CHECK(op_is(&o, 0, SESSIO__OP_DEL_PREFIX, ""));
  sessio__ops_free(&o);
}

static void test_ops_consecutive_incr_fold(void) {
  sessio__ops o = SESSIO__OPS_INIT;
  CHECK_OK(push_incr(&o, "x", 1));
  CHECK_OK(push_incr(&o, "x", 2));
  CHECK_INT(o.n, 1);
  CHECK(op_is(&o, 0, SESSIO__OP_INCR, "x") && o.v[0].ival == 3);
  /* Ops on other keys in between do not prevent folding. */
  CHECK_OK(push_set_int(&o, "y", 0));
  CHECK_OK(push_delp(&o, "y"));
  CHECK_OK(push_incr(&o, "x", -10));
  CHECK_INT(o.n, 2);
  CHECK(o.n >= 1 && o.v[0].ival == -7);
  /* An op that changes x in between does. */
  CHECK_OK(push_delp(&o, "x"));
  CHECK_OK(push_incr(&o, "x", 5));
  CHECK_INT(o.n, 3);
  CHECK(op_is(&o, 1, SESSIO__OP_DEL_PREFIX, "x"));
  CHECK(op_is(&o, 2, SESSIO__OP_INCR, "x") && o.v[2].ival == 5);
  CHECK_OK(push_set_int(&o, "z", 1));
  CHECK_OK(push_incr(&o, "z", 1));
  CHECK_INT(o.n, 5); /* not folded into the SET */
  /* A fold that would overflow keeps two ops. */
  sessio__ops_free(&o);
  CHECK_OK(push_incr(&o, "x", INT64_MAX));
  CHECK_OK(push_incr(&o, "x", 1));
  CHECK_INT(o.n, 2);
  CHECK_OK(push_incr(&o, "x", -1));
  CHECK_INT(o.n, 2);
  CHECK(o.n == 2 && o.v[0].ival == INT64_MAX && o.v[1].ival == 0);
  sessio__ops_free(&o);
}

static void test_ops_push_rejects_invalid(void) {
  sessio__ops o = SESSIO__OPS_INIT;
  CHECK_OK(push_set_int(&o, "a", 1));
  CHECK_ERR(push_set_int(&o, "", 1), SESSIO_EINVAL);
  CHECK_ERR(push_incr(&o, "", 1), SESSIO_EINVAL);
  CHECK_ERR(
      sessio__ops_push(&o, SESSIO__OP_SET, K("a"), SESSIO_T_STR, "a\0b", 3, 0),
      SESSIO_EINVAL);
  CHECK_ERR(sessio__ops_push(&o, (sessio__op_kind)9, K("a"), SESSIO_T_INT, NULL,
                             0, 0),
            SESSIO_EINVAL);
  CHECK_INT(o.n, 1);
  CHECK(op_is(&o, 0, SESSIO__OP_SET, "a"));
  sessio__ops_free(&o);
}

static void test_ops_last_writer_wins(void) {
  sessio__ops o = SESSIO__OPS_INIT;
  sessio__map m = SESSIO__MAP_INIT;
  CHECK_OK(push_set_str(&o, "theme", "light"));
  CHECK_OK(push_set_str(&o, "theme", "dark"));
  CHECK_INT(o.n, 1);
  /* Another request stored theme=blue meanwhile; this request's later
   * write wins. */
  CHECK_OK(sessio__map_set(&m, K("theme"), SESSIO_T_STR, "blue", 4, 0));
  CHECK_OK(sessio__ops_apply(&o, &m));
  const sessio__entry *e = sessio__map_get(&m, K("theme"));
  CHECK(e && e->type == SESSIO_T_STR && strcmp((char *)e->bytes, "dark") == 0);
  sessio__map_free(&m);
  sessio__ops_free(&o);
}

static void test_ops_apply_onto_concurrently_changed_map(void) {
  sessio__ops a = SESSIO__OPS_INIT;
  sessio__map m = SESSIO__MAP_INIT;
  /* Request A loaded an empty session and did these. */
  CHECK_OK(push_incr(&a, "cart.x", 1));
  CHECK_OK(push_set_str(&a, "theme", "dark"));
  /* Request B committed first: cart.x=5 and a key of its own. */
  CHECK_OK(sessio__map_set(&m, K("cart.x"), SESSIO_T_INT, NULL, 0, 5));
  CHECK_OK(sessio__map_set(&m, K("lang"), SESSIO_T_STR, "fr", 2, 0));
  CHECK_OK(sessio__ops_apply(&a, &m));
  int ok;
  CHECK_INT(get_int(&m, "cart.x", &ok), 6);
  CHECK(ok);
  const sessio__entry *e = sessio__map_get(&m, K("theme"));
  CHECK(e && strcmp((char *)e->bytes, "dark") == 0);
  e = sessio__map_get(&m, K("lang"));
  CHECK(e && strcmp((char *)e->bytes, "fr") == 0);
  CHECK_INT(m.n, 3);
  /* The ops can be applied again (a second conflict) to a fresh reload. */
  sessio__map m2 = SESSIO__MAP_INIT;
  CHECK_OK(sessio__map_set(&m2, K("cart.x"), SESSIO_T_INT, NULL, 0, 7));
  CHECK_OK(sessio__ops_apply(&a, &m2));
  CHECK_INT(get_int(&m2, "cart.x", &ok), 8);
  sessio__map_free(&m2);
  sessio__map_free(&m);
  sessio__ops_free(&a);
}

static void test_ops_apply_deletes_and_every_set_type(void) {
  sessio__ops o = SESSIO__OPS_INIT;
  sessio__map m = SESSIO__MAP_INIT;
  CHECK_OK(push_del(&o, "gone"));
  CHECK_OK(push_delp(&o, "cart."));
  CHECK_OK(push_set_str(&o, "s", "str"));
  CHECK_OK(sessio__ops_push(&o, SESSIO__OP_SET, K("y"), SESSIO_T_BYTES, "\0\1",
                            2, 0));
  CHECK_OK(
      sessio__ops_push(&o, SESSIO__OP_SET, K("b"), SESSIO_T_BOOL, NULL, 0, 5));
  CHECK_OK(push_set_int(&o, "i", -3));
  CHECK_OK(push_del(&o, "absent"));
  /* The reloaded map has keys another request added under "cart.". */
  CHECK_OK(sessio__map_set(&m, K("gone"), SESSIO_T_INT, NULL, 0, 1));
  CHECK_OK(sessio__map_set(&m, K("cart.a"), SESSIO_T_INT, NULL, 0, 1));
  CHECK_OK(sessio__map_set(&m, K("cart.b"), SESSIO_T_INT, NULL, 0, 1));
  CHECK_OK(sessio__map_set(&m, K("cart"), SESSIO_T_INT, NULL, 0, 1));
  CHECK_OK(sessio__map_set(&m, K("cartz"), SESSIO_T_INT, NULL, 0, 1));
  CHECK_OK(sessio__ops_apply(&o, &m));
  CHECK(sessio__map_get(&m, K("gone")) == NULL);
  CHECK(sessio__map_get(&m, K("cart.a")) == NULL);
  CHECK(sessio__map_get(&m, K("cart.b")) == NULL);
  CHECK(sessio__map_get(&m, K("cart")) != NULL);
  CHECK(sessio__map_get(&m, K("cartz")) != NULL);
  const sessio__entry *e = sessio__map_get(&m, K("y"));
  CHECK(e && e->type == SESSIO_T_BYTES && e->len == 2 && e->bytes[1] == 1);
  e = sessio__map_get(&m, K("b"));
  CHECK(e && e->type == SESSIO_T_BOOL && e->ival == 1);
  e = sessio__map_get(&m, K("s"));
  CHECK(e && e->type == SESSIO_T_STR && strcmp((char *)e->bytes, "str") == 0);
  int ok;
  CHECK_INT(get_int(&m, "i", &ok), -3);
  CHECK_INT(m.n, 6);
  CHECK(map_valid(&m));
  /* No ops: the map is unchanged. */
  sessio__ops none = SESSIO__OPS_INIT;
  sessio__map before = SESSIO__MAP_INIT;
  CHECK_OK(sessio__map_copy(&before, &m));
  CHECK_OK(sessio__ops_apply(&none, &m));
  CHECK(maps_equal(&before, &m));
  sessio__map_free(&before);
  sessio__map_free(&m);
  sessio__ops_free(&o);
}

static void test_ops_incr_replaces_other_type(void) {
  sessio__ops o = SESSIO__OPS_INIT;
  sessio__map m = SESSIO__MAP_INIT;
  CHECK_OK(push_incr(&o, "n", 3));
  CHECK_OK(push_incr(&o, "f", -1));
  CHECK_OK(sessio__map_set(&m, K("n"), SESSIO_T_STR, "seven", 5, 0));
  CHECK_OK(sessio__map_set(&m, K("f"), SESSIO_T_BOOL, NULL, 0, 1));
  CHECK_OK(sessio__ops_apply(&o, &m));
  int ok;
  CHECK_INT(get_int(&m, "n", &ok), 3);
  CHECK(ok);
  CHECK_INT(get_int(&m, "f", &ok), -1);
  CHECK(ok);
  sessio__map_free(&m);
  sessio__ops_free(&o);
}

static void test_ops_incr_saturates(void) {
  sessio__ops up = SESSIO__OPS_INIT, down = SESSIO__OPS_INIT;
  sessio__map m = SESSIO__MAP_INIT;
  CHECK_OK(push_incr(&up, "n", 5));
  CHECK_OK(push_incr(&down, "n", -5));
  CHECK_OK(sessio__map_set(&m, K("n"), SESSIO_T_INT, NULL, 0, INT64_MAX - 1));
  CHECK_OK(sessio__ops_apply(&up, &m));
  int ok;
  CHECK_INT(get_int(&m, "n", &ok), INT64_MAX);
  CHECK_OK(sessio__map_set(&m, K("n"), SESSIO_T_INT, NULL, 0, INT64_MIN + 1));
  CHECK_OK(sessio__ops_apply(&down, &m));
  CHECK_INT(get_int(&m, "n", &ok), INT64_MIN);
  /* Two ops kept by an overflowing fold: the first saturates, the second
   * then moves away from the limit. */
  sessio__ops two = SESSIO__OPS_INIT;
  CHECK_OK(push_incr(&two, "n", INT64_MAX));
  CHECK_OK(push_incr(&two, "n", INT64_MAX));
  CHECK_INT(two.n, 2);
  CHECK_OK(sessio__map_set(&m, K("n"), SESSIO_T_INT, NULL, 0, 1));
  CHECK_OK(sessio__ops_apply(&two, &m));
  CHECK_INT(get_int(&m, "n", &ok), INT64_MAX);
  sessio__map_free(&m);
  sessio__ops_free(&up);
  sessio__ops_free(&down);
  sessio__ops_free(&two);
}

/* The compacted log (drops and folds) has the same effect as applying every
 * op as it came, on random base maps: checks that compaction never changes
 * the result. Deltas are small, so no saturation is involved. */
static void test_ops_compaction_preserves_effect(void) {
  static const char *keys[] = {"a", "ab", "abc", "b", "b.x", "b.y", "\x80"};
  static const char *prefixes[] = {"", "a", "ab", "b.", "\x80", "c"};
  for (int round = 0; round < 2000; round++) {
    sessio__map base = SESSIO__MAP_INIT, one = SESSIO__MAP_INIT,
                all = SESSIO__MAP_INIT;
    for (int k = 0; k < 7; k++) {
      switch (rnd() % 4) {
      case 0: break;
      case 1:
        CHECK_OK(sessio__map_set(&base, K(keys[k]), SESSIO_T_INT, NULL, 0,
                                 (int64_t)(rnd() % 100)));
        break;
      case 2:
        CHECK_OK(sessio__map_set(&base, K(keys[k]), SESSIO_T_STR, "s", 1, 0));
        break;
      default:
        CHECK_OK(sessio__map_set(&base, K(keys[k]), SESSIO_T_BOOL, NULL, 0, 1));
      }
    }
    CHECK_OK(sessio__map_copy(&one, &base));
    sessio__ops log = SESSIO__OPS_INIT;
    int nops = 1 + (int)(rnd() % 12);
    for (int i = 0; i < nops; i++) {
      sessio__ops single = SESSIO__OPS_INIT;
      const char *k = keys[rnd() % 7];
      int64_t d = (int64_t)(rnd() % 7) - 3;
      switch (rnd() % 5) {
      case 0:
        CHECK_OK(push_set_int(&single, k, d));
        CHECK_OK(push_set_int(&log, k, d));
        break;
      case 1:
        CHECK_OK(push_set_str(&single, k, "v"));
        CHECK_OK(push_set_str(&log, k, "v"));
        break;
      case 2:
        CHECK_OK(push_del(&single, k));
        CHECK_OK(push_del(&log, k));
        break;
      case 3: {
        const char *p = prefixes[rnd() % 6];
        CHECK_OK(push_delp(&single, p));
        CHECK_OK(push_delp(&log, p));
        break;
      }
      default:
        CHECK_OK(push_incr(&single, k, d));
        CHECK_OK(push_incr(&log, k, d));
      }
      CHECK_OK(sessio__ops_apply(&single, &one));
      sessio__ops_free(&single);
    }
    CHECK(log.n <= (size_t)nops);
    CHECK_OK(sessio__map_copy(&all, &base));
    CHECK_OK(sessio__ops_apply(&log, &all));
    if (!maps_equal(&one, &all)) {
      CHECK(maps_equal(&one, &all));
      round = 1 << 30; /* one report is enough */
    }
    sessio__ops_free(&log);
    sessio__map_free(&base);
    sessio__map_free(&one);
    sessio__map_free(&all);
  }
}

/* ---- allocation failure ---------------------------------------------- */

/* Real allocation failures, from sizes no allocator can satisfy (malloc
 * returns NULL; there is no malloc-failure injection build yet). */
static void test_huge_values_fail_with_enomem_and_change_nothing(void) {
  sessio__map m = SESSIO__MAP_INIT;
  sessio__ops o = SESSIO__OPS_INIT;
  static const uint8_t small[16];
  CHECK_OK(sessio__map_set(&m, K("k"), SESSIO_T_INT, NULL, 0, 1));
  CHECK_OK(push_set_int(&o, "k", 1));
  /* Sizes whose allocation fails before any byte of 'small' is read past
   * its end: one overflows the size computation, the other is refused. */
  size_t sizes[] = {SIZE_MAX, SIZE_MAX / 4};
  for (int i = 0; i < 2; i++) {
    CHECK_ERR(sessio__map_set(&m, K("k"), SESSIO_T_BYTES, small, sizes[i], 0),
              SESSIO_ENOMEM);
    CHECK_ERR(sessio__map_set(&m, K("new"), SESSIO_T_BYTES, small, sizes[i], 0),
              SESSIO_ENOMEM);
    CHECK_ERR(sessio__ops_push(&o, SESSIO__OP_SET, K("k"), SESSIO_T_BYTES,
                               small, sizes[i], 0),
              SESSIO_ENOMEM);
  }
  int ok;
  CHECK_INT(m.n, 1);
  CHECK_INT(get_int(&m, "k", &ok), 1);
  CHECK(ok);
  CHECK_INT(o.n, 1); /* the earlier SET of "k" was not dropped */
  CHECK(op_is(&o, 0, SESSIO__OP_SET, "k") && o.v[0].ival == 1);
  sessio__ops_free(&o);
  sessio__map_free(&m);
}

int main(void) {
  RUN(test_set_get_every_type);
  RUN(test_set_copies_key_and_value);
  RUN(test_overwrite_with_another_type);
  RUN(test_set_rejects_what_encoding_cannot_hold);
  RUN(test_delete_present_and_absent);
  RUN(test_keys_sorted_bytewise_then_shorter_first);
  RUN(test_many_random_sets_and_deletes_match_model);
  RUN(test_copy_is_deep_and_replaces_dst);
  RUN(test_incr_absent_existing_and_errors);
  RUN(test_prefix_ranges);
  RUN(test_prefix_matches_linear_scan);
  RUN(test_encode_exact_v1_bytes);
  RUN(test_encode_decode_round_trip_many_keys);
  RUN(test_encoded_size_matches_for_random_maps);
  RUN(test_decode_rejects_each_malformation);
  RUN(test_decode_key_length_limit);
  RUN(test_decode_every_truncation_fails);
  RUN(test_decode_every_byte_change_is_safe);
  RUN(test_decode_random_bytes_is_safe);
  RUN(test_ops_set_and_del_drop_earlier_ops_of_key);
  RUN(test_ops_del_prefix_drops_earlier_ops_under_it);
  RUN(test_ops_consecutive_incr_fold);
  RUN(test_ops_push_rejects_invalid);
  RUN(test_ops_last_writer_wins);
  RUN(test_ops_apply_onto_concurrently_changed_map);
  RUN(test_ops_apply_deletes_and_every_set_type);
  RUN(test_ops_incr_replaces_other_type);
  RUN(test_ops_incr_saturates);
  RUN(test_ops_compaction_preserves_effect);
  RUN(test_huge_values_fail_with_enomem_and_change_nothing);
  return DONE();
}
