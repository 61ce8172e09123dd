/*
 * test_crypto.c — the cryptography under session records: sealing and
 * opening (any tampered byte, the wrong key or a truncated input fails),
 * store-key and sealing-key derivation (S7), handles, hex, constant-time
 * comparison, and the CSPRNG's retry and fail-closed paths (S1).
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <sodium.h>

#include "crypto.h"
#include "harness.h"
#include "sessio.h"

static void random_id(uint8_t raw[SESSIO_ID_BYTES]) {
  CHECK_OK(sessio__random(raw, SESSIO_ID_BYTES));
}

/* The sealing key of an ID (no server secret), as sessio derives it. */
static void seal_key_of(const uint8_t raw[SESSIO_ID_BYTES],
                        uint8_t out[SESSIO__SEAL_KEY_BYTES]) {
  sessio_key unused;
  sessio__keys_derive(NULL, 0, raw, &unused, out);
}

static void test_seal_open_round_trip(void) {
  uint8_t raw[SESSIO_ID_BYTES], key[SESSIO__SEAL_KEY_BYTES];
  static const uint8_t ad[] = "record-header";
  const char *msg = "cart.A1=3; user=alice";
  size_t len = strlen(msg);
  uint8_t ct[64 + SESSIO__SEAL_OVERHEAD], pt[64];

  random_id(raw);
  seal_key_of(raw, key);
  CHECK_OK(sessio__seal(key, ad, sizeof ad, (const uint8_t *)msg, len, ct));
  memset(pt, 0, sizeof pt);
  CHECK_INT(
      sessio__open(key, ad, sizeof ad, ct, len + SESSIO__SEAL_OVERHEAD, pt), 1);
  CHECK(memcmp(pt, msg, len) == 0);
  /* the ciphertext does not contain the plaintext */
  {
    int found = 0;
    for (size_t i = 0; i + 5 <= len + SESSIO__SEAL_OVERHEAD; i++)
      found |= memcmp(ct + i, "alice", 5) == 0;
    CHECK(!found);
  }

  /* empty plaintext and no AD */
  CHECK_OK(sessio__seal(key, NULL, 0, NULL, 0, ct));
  CHECK_INT(sessio__open(key, NULL, 0, ct, SESSIO__SEAL_OVERHEAD, pt), 1);
}

/* Two seals of the same data differ (random nonce). */
static void test_seal_uses_fresh_nonce(void) {
  uint8_t key[SESSIO__SEAL_KEY_BYTES], a[8 + SESSIO__SEAL_OVERHEAD],
      b[8 + SESSIO__SEAL_OVERHEAD];
  CHECK_OK(sessio__random(key, sizeof key));
  CHECK_OK(sessio__seal(key, NULL, 0, (const uint8_t *)"12345678", 8, a));
  CHECK_OK(sessio__seal(key, NULL, 0, (const uint8_t *)"12345678", 8, b));
  CHECK(memcmp(a, b, 24) != 0);
  CHECK(memcmp(a + 24, b + 24, sizeof a - 24) != 0);
}

/* Any flipped bit in nonce, ciphertext, tag or AD makes open fail. */
static void test_tampered_seal_fails_to_open(void) {
  enum { PT = 50, CT = PT + SESSIO__SEAL_OVERHEAD, AD = 20 };
  uint8_t key[SESSIO__SEAL_KEY_BYTES], pt[PT], ct[CT], ad[AD], out[PT];
  size_t opened = 0;

  CHECK_OK(sessio__random(key, sizeof key));
  CHECK_OK(sessio__random(pt, sizeof pt));
  CHECK_OK(sessio__random(ad, sizeof ad));
  CHECK_OK(sessio__seal(key, ad, AD, pt, PT, ct));
  CHECK_INT(sessio__open(key, ad, AD, ct, CT, out), 1);

  for (size_t i = 0; i < CT; i++)
    for (int bit = 0; bit < 8; bit += 3) {
      ct[i] ^= (uint8_t)(1u << bit);
      opened += (size_t)sessio__open(key, ad, AD, ct, CT, out);
      ct[i] ^= (uint8_t)(1u << bit);
    }
  for (size_t i = 0; i < AD; i++) {
    ad[i] ^= 0x01;
    opened += (size_t)sessio__open(key, ad, AD, ct, CT, out);
    ad[i] ^= 0x01;
  }
  /* AD dropped or shortened */
  opened += (size_t)sessio__open(key, NULL, 0, ct, CT, out);
  opened += (size_t)sessio__open(key, ad, AD - 1, ct, CT, out);
  CHECK_INT(opened, 0);
  /* untouched still opens: the loop restored every byte */
  CHECK_INT(sessio__open(key, ad, AD, ct, CT, out), 1);
  CHECK(memcmp(out, pt, PT) == 0);
}

/* S35: the IETF seal of record format 2 round-trips, uses a fresh 96-bit
 * nonce, and any flipped bit of nonce, ciphertext, tag or AD, a truncation
 * or the other cipher's opener makes open fail. */
static void test_ietf_seal_round_trip_and_tamper_S35(void) {
  enum { PT = 40, CT = PT + SESSIO__IETF_OVERHEAD, AD = 12 };
  uint8_t key[SESSIO__SEAL_KEY_BYTES], pt[PT], ct[CT], ct2[CT], ad[AD],
      out[PT + SESSIO__SEAL_OVERHEAD];
  size_t opened = 0;

  CHECK_OK(sessio__random(key, sizeof key));
  CHECK_OK(sessio__random(pt, sizeof pt));
  CHECK_OK(sessio__random(ad, sizeof ad));
  CHECK_OK(sessio__seal_ietf(key, ad, AD, pt, PT, ct));
  CHECK_OK(sessio__seal_ietf(key, ad, AD, pt, PT, ct2));
  CHECK(memcmp(ct, ct2, SESSIO__IETF_NONCE_BYTES) != 0);
  CHECK_INT(sessio__open_ietf(key, ad, AD, ct, CT, out), 1);
  CHECK(memcmp(out, pt, PT) == 0);
  for (size_t i = 0; i < CT; i++) {
    ct[i] ^= 0x10;
    opened += (size_t)sessio__open_ietf(key, ad, AD, ct, CT, out);
    ct[i] ^= 0x10;
  }
  for (size_t i = 0; i < AD; i++) {
    ad[i] ^= 0x01;
    opened += (size_t)sessio__open_ietf(key, ad, AD, ct, CT, out);
    ad[i] ^= 0x01;
  }
  for (size_t n = 0; n < CT; n++)
    opened += (size_t)sessio__open_ietf(key, ad, AD, ct, n, out);
  opened += (size_t)sessio__open(key, ad, AD, ct, CT, out);
  CHECK_INT(opened, 0);
  CHECK_INT(sessio__open_ietf(key, ad, AD, ct, CT, out), 1);
  /* in place, as records are sealed */
  uint8_t buf[CT];
  memcpy(buf + SESSIO__IETF_NONCE_BYTES, pt, PT);
  CHECK_OK(
      sessio__seal_ietf(key, NULL, 0, buf + SESSIO__IETF_NONCE_BYTES, PT, buf));
  CHECK_INT(sessio__open_ietf(key, NULL, 0, buf, CT, out), 1);
  CHECK(memcmp(out, pt, PT) == 0);
}

static void test_wrong_key_fails_to_open(void) {
  uint8_t raw1[SESSIO_ID_BYTES], raw2[SESSIO_ID_BYTES];
  uint8_t k1[SESSIO__SEAL_KEY_BYTES], k2[SESSIO__SEAL_KEY_BYTES];
  uint8_t ct[5 + SESSIO__SEAL_OVERHEAD], out[5];

  random_id(raw1);
  memcpy(raw2, raw1, sizeof raw2);
  raw2[SESSIO_ID_BYTES - 1] ^= 1; /* a neighbouring ID */
  seal_key_of(raw1, k1);
  seal_key_of(raw2, k2);
  CHECK_OK(sessio__seal(k1, NULL, 0, (const uint8_t *)"hello", 5, ct));
  CHECK_INT(sessio__open(k2, NULL, 0, ct, sizeof ct, out), 0);
  CHECK_INT(sessio__open(k1, NULL, 0, ct, sizeof ct, out), 1);
}

/* Every truncation fails. Each input is copied into a heap block of
 * exactly its length, so ASan reports any read past its end. */
static void test_truncated_seal_fails_without_overread(void) {
  enum { PT = 33, CT = PT + SESSIO__SEAL_OVERHEAD };
  uint8_t key[SESSIO__SEAL_KEY_BYTES], pt[PT], ct[CT], out[PT];
  size_t opened = 0;

  CHECK_OK(sessio__random(key, sizeof key));
  CHECK_OK(sessio__random(pt, sizeof pt));
  CHECK_OK(sessio__seal(key, NULL, 0, pt, PT, ct));
  for (size_t n = 0; n < CT; n++) {
    uint8_t *copy = malloc(n ? n : 1);
    CHECK(copy != NULL);
    if (copy == NULL) return;
    memcpy(copy, ct, n);
    opened += (size_t)sessio__open(key, NULL, 0, copy, n, out);
    /* the tail alone (nonce cut off) */
    if (n > 0)
      opened += (size_t)sessio__open(key, NULL, 0, copy + 1, n - 1, out);
    free(copy);
  }
  opened += (size_t)sessio__open(key, NULL, 0, NULL, 0, out);
  CHECK_INT(opened, 0);
}

/* S7: the store key is a keyed, domain-separated hash of the raw ID. */
static void test_key_derivation_is_deterministic_and_separated_S7(void) {
  uint8_t raw[SESSIO_ID_BYTES], raw2[SESSIO_ID_BYTES];
  uint8_t seal[SESSIO__SEAL_KEY_BYTES], seal2[SESSIO__SEAL_KEY_BYTES];
  uint8_t plain[32];
  static const uint8_t s1[] = "server secret one";
  static const uint8_t s2[] = "server secret two";
  sessio_key a, b, none, none2, k1, k1b, k2, other;

  random_id(raw);
  memcpy(raw2, raw, sizeof raw2);
  raw2[0] ^= 0x80;

  sessio__key_derive(NULL, 0, raw, &none);
  sessio__key_derive(NULL, 0, raw, &none2);
  sessio__key_derive(s1, sizeof s1 - 1, raw, &k1);
  sessio__key_derive(s1, sizeof s1 - 1, raw, &k1b);
  sessio__key_derive(s2, sizeof s2 - 1, raw, &k2);
  sessio__key_derive(s1, sizeof s1 - 1, raw2, &other);
  seal_key_of(raw, seal);
  seal_key_of(raw, seal2);

  /* deterministic */
  CHECK(memcmp(none.b, none2.b, SESSIO_KEY_BYTES) == 0);
  CHECK(memcmp(k1.b, k1b.b, SESSIO_KEY_BYTES) == 0);
  CHECK(memcmp(seal, seal2, sizeof seal) == 0);
  /* the secret matters, and which secret */
  CHECK(memcmp(none.b, k1.b, SESSIO_KEY_BYTES) != 0);
  CHECK(memcmp(k1.b, k2.b, SESSIO_KEY_BYTES) != 0);
  /* the ID matters */
  CHECK(memcmp(k1.b, other.b, SESSIO_KEY_BYTES) != 0);
  /* the store key never equals the sealing key, with or without secret */
  CHECK(memcmp(none.b, seal, SESSIO_KEY_BYTES) != 0);
  CHECK(memcmp(k1.b, seal, SESSIO_KEY_BYTES) != 0);
  /* and neither is a plain, undomained BLAKE2b of the ID, or the ID */
  crypto_generichash(plain, sizeof plain, raw, sizeof raw, NULL, 0);
  CHECK(memcmp(none.b, plain, sizeof plain) != 0);
  CHECK(memcmp(seal, plain, sizeof plain) != 0);
  CHECK(memcmp(none.b, raw, SESSIO_KEY_BYTES) != 0);

  /* both keys come from one call; the pair is what the separate calls give */
  {
    sessio_key kk;
    uint8_t ss[SESSIO__SEAL_KEY_BYTES];
    sessio__keys_derive(s1, sizeof s1 - 1, raw, &kk, ss);
    CHECK(memcmp(kk.b, k1.b, SESSIO_KEY_BYTES) == 0);
    CHECK(memcmp(ss, kk.b, SESSIO_KEY_BYTES) != 0);
    CHECK(memcmp(ss, seal, sizeof ss) != 0); /* the secret reaches it too */
  }

  /* secrets up to SESSIO_SECRET_MAX bytes are used in full */
  {
    uint8_t big[SESSIO_SECRET_MAX];
    memset(big, 7, sizeof big);
    sessio__key_derive(big, sizeof big, raw, &a);
    big[SESSIO_SECRET_MAX - 1] = 8;
    sessio__key_derive(big, sizeof big, raw, &b);
    CHECK(memcmp(a.b, b.b, SESSIO_KEY_BYTES) != 0);
  }
}

/* The handle is the hex of the first 16 key bytes, lowercase. */
static void test_handle_is_hex_of_key_prefix(void) {
  sessio_key key;
  char h[SESSIO_HANDLE_LEN + 1], hex[2 * SESSIO_KEY_BYTES + 1];
  for (int i = 0; i < SESSIO_KEY_BYTES; i++) key.b[i] = (uint8_t)(0xa0 + i);
  sessio__handle(&key, h);
  CHECK_STR(h, "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
  CHECK_INT(strlen(h), SESSIO_HANDLE_LEN);
  sessio__hex(key.b, SESSIO_KEY_BYTES, hex);
  CHECK(strncmp(hex, h, SESSIO_HANDLE_LEN) == 0);
  sessio__hex((const uint8_t *)"\x00\x0f\xf0\xff", 4, hex);
  CHECK_STR(hex, "000ff0ff");
  sessio__hex(NULL, 0, hex);
  CHECK_STR(hex, "");
  /* and back: round trip, and anything but lowercase hex is refused */
  sessio_key back;
  sessio__hex(key.b, SESSIO_KEY_BYTES, hex);
  CHECK(sessio__unhex(hex, SESSIO_KEY_BYTES, back.b));
  CHECK(memcmp(back.b, key.b, SESSIO_KEY_BYTES) == 0);
  hex[5] = 'A';
  CHECK(!sessio__unhex(hex, SESSIO_KEY_BYTES, back.b));
  hex[5] = 'g';
  CHECK(!sessio__unhex(hex, SESSIO_KEY_BYTES, back.b));
}

static void test_ct_equal(void) {
  uint8_t a[64], b[64];
  CHECK_OK(sessio__random(a, sizeof a));
  memcpy(b, a, sizeof b);
  CHECK_INT(sessio__ct_equal(a, b, sizeof a), 1);
  b[0] ^= 1;
  CHECK_INT(sessio__ct_equal(a, b, sizeof a), 0);
  b[0] ^= 1;
  b[63] ^= 0x80;
  CHECK_INT(sessio__ct_equal(a, b, sizeof a), 0);
  CHECK_INT(sessio__ct_equal(a, b, 63), 1);
  CHECK_INT(sessio__ct_equal(a, b, 0), 1);
}

static volatile sig_atomic_t alarms;
static void on_alarm(int sig) {
  (void)sig;
  alarms++;
}

/* 1 when no 64-byte block of 'p' is all zero: each block has been written
 * with random bytes (a zero block by chance has probability 2^-512). */
static int all_blocks_filled(const uint8_t *p, size_t n) {
  static const uint8_t zero[64];
  for (size_t i = 0; i + 64 <= n; i += 64)
    if (memcmp(p + i, zero, 64) == 0) return 0;
  return 1;
}

/* S1: large requests under a storm of signals (no SA_RESTART) still come
 * back complete: EINTR is retried and short reads are continued. */
static void test_random_completes_under_signals_S1(void) {
  enum { LEN = 4 << 20, ROUNDS = 12 };
  struct sigaction sa, old;
  struct itimerval it = {{0, 200}, {0, 200}}, off = {{0, 0}, {0, 0}};
  uint8_t *buf = malloc(LEN);
  int failed = 0, partial = 0;

  CHECK(buf != NULL);
  if (buf == NULL) return;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0; /* no SA_RESTART: interrupted calls return early */
  CHECK(sigaction(SIGALRM, &sa, &old) == 0);
  alarms = 0;
  CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);
  for (int r = 0; r < ROUNDS; r++) {
    memset(buf, 0, LEN);
    if (sessio__random(buf, LEN) != SESSIO_OK)
      failed++;
    else if (!all_blocks_filled(buf, LEN))
      partial++;
  }
  setitimer(ITIMER_REAL, &off, NULL);
  sigaction(SIGALRM, &old, NULL);
  printf("  %d signals during %d reads of %d bytes\n", (int)alarms, ROUNDS,
         LEN);
  CHECK_INT(failed, 0);
  CHECK_INT(partial, 0);
  CHECK(alarms > 0);
  free(buf);
}

/* S1: a kernel error is reported, never papered over (EFAULT here). */
static void test_random_fails_closed_S1(void) {
  CHECK_ERR(sessio__random((void *)16, 32), SESSIO_ERANDOM);
  CHECK_OK(sessio__random(NULL, 0));
}

static void test_crypto_init_is_idempotent(void) {
  CHECK_OK(sessio__crypto_init());
  CHECK_OK(sessio__crypto_init());
}

int main(void) {
  RUN(test_crypto_init_is_idempotent);
  RUN(test_seal_open_round_trip);
  RUN(test_seal_uses_fresh_nonce);
  RUN(test_tampered_seal_fails_to_open);
  RUN(test_wrong_key_fails_to_open);
  RUN(test_ietf_seal_round_trip_and_tamper_S35);
  RUN(test_truncated_seal_fails_without_overread);
  RUN(test_key_derivation_is_deterministic_and_separated_S7);
  RUN(test_handle_is_hex_of_key_prefix);
  RUN(test_ct_equal);
  RUN(test_random_completes_under_signals_S1);
  RUN(test_random_fails_closed_S1);
  return DONE();
}
