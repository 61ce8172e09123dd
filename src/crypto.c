/*
 * crypto.c — the cryptography around session IDs: libsodium setup, the OS
 * CSPRNG (getrandom, fails closed), the keyed hash that names a record in
 * the store, the per-session sealing key, XChaCha20-Poly1305 sealing, hex
 * and constant-time comparison. Contracts are in crypto.h.
 */
#include "crypto.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>

#include <sodium.h>

/* ---- library setup ------------------------------------------------------ */

static pthread_once_t crypto_once = PTHREAD_ONCE_INIT;
static int crypto_init_rc = -1;

static void crypto_init_once(void) {
  /* sodium_init() returns 0 on first success, 1 when already initialised
   * (by the application, say), -1 on failure. */
  crypto_init_rc = sodium_init() < 0 ? -1 : 0;
}

sessio_err sessio__crypto_init(void) {
  if (pthread_once(&crypto_once, crypto_init_once) != 0) return SESSIO_ERANDOM;
  return crypto_init_rc == 0 ? SESSIO_OK : SESSIO_ERANDOM;
}

/* ---- CSPRNG (S1) -------------------------------------------------------- */

/* getrandom(2) without GRND_NONBLOCK blocks until the kernel pool is
 * initialised, then never blocks. Requests over 256 bytes may return short,
 * and a signal may interrupt the call: both are completed here. Anything
 * else (ENOSYS on an old kernel, EFAULT, ...) fails closed: no fallback to
 * a weaker source. */
sessio_err sessio__random(void *buf, size_t len) {
  uint8_t *p = buf;
  while (len > 0) {
    ssize_t n = getrandom(p, len, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return SESSIO_ERANDOM;
    }
    if (n == 0)
      return SESSIO_ERANDOM; /* never expected; avoid spinning forever */
    p += (size_t)n;
    len -= (size_t)n;
  }
  return SESSIO_OK;
}

/* Small requests (IDs, nonces, CSRF tokens) are served from a per-thread
 * page of getrandom(2) output, so a request costs no system call (which is
 * slow under virtualisation). The page is mapped MADV_WIPEONFORK: a forked
 * child finds it zeroed (empty) and refills from the kernel, so parent and
 * child never hand out the same bytes (S1). Bytes are wiped once handed out.
 * Where the page cannot be set up, every call goes to getrandom. */
#define POOL_PAGE 4096
typedef struct rand_pool {
  size_t left; /* unread bytes at the end of 'bytes'; 0 after fork */
  uint8_t bytes[POOL_PAGE - sizeof(size_t)];
} rand_pool;

static pthread_key_t pool_key;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static int pool_key_ok;
static _Thread_local rand_pool *tls_pool;
static _Thread_local int tls_pool_failed;

static void pool_release(void *p) { munmap(p, POOL_PAGE); }
static void pool_key_init(void) {
  pool_key_ok = pthread_key_create(&pool_key, pool_release) == 0;
}

static rand_pool *pool_get(void) {
  if (tls_pool || tls_pool_failed) return tls_pool;
  pthread_once(&pool_once, pool_key_init);
  void *p = mmap(NULL, POOL_PAGE, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) goto fail;
  if (!pool_key_ok || madvise(p, POOL_PAGE, MADV_WIPEONFORK) != 0 ||
      pthread_setspecific(pool_key, p) != 0) {
    munmap(p, POOL_PAGE);
    goto fail;
  }
  return tls_pool = p;
fail:
  tls_pool_failed = 1;
  return NULL;
}

sessio_err sessio__random_fast(void *buf, size_t len) {
  rand_pool *p = pool_get();
  if (p == NULL || len > sizeof p->bytes / 4) return sessio__random(buf, len);
  if (p->left < len) {
    sessio_err rc = sessio__random(p->bytes, sizeof p->bytes);
    if (rc != SESSIO_OK) return rc;
    p->left = sizeof p->bytes;
  }
  uint8_t *src = p->bytes + sizeof p->bytes - p->left;
  memcpy(buf, src, len);
  sodium_memzero(src, len);
  p->left -= len;
  return SESSIO_OK;
}

/* ---- keys (S7) ---------------------------------------------------------- */

/* One BLAKE2b-512 call gives both keys (domain "sessio.keys...1"): the
 * store key is its first half, the sealing key its second half. */
static const uint8_t personal_keys[crypto_generichash_blake2b_PERSONALBYTES] = {
    's', 'e', 's', 's', 'i', 'o', '.', 'k',
    'e', 'y', 's', '.', '.', '.', '.', '1'};

void sessio__keys_derive(const uint8_t *secret, size_t secret_len,
                         const uint8_t raw[SESSIO_ID_BYTES], sessio_key *key,
                         uint8_t seal[SESSIO__SEAL_KEY_BYTES]) {
  uint8_t out[SESSIO_KEY_BYTES + SESSIO__SEAL_KEY_BYTES];
  /* BLAKE2b takes keys of up to 64 bytes (SESSIO_SECRET_MAX); the config
   * layer enforces the limit, this clamps defensively. */
  if (secret_len > crypto_generichash_blake2b_KEYBYTES_MAX)
    secret_len = crypto_generichash_blake2b_KEYBYTES_MAX;
  if (secret == NULL) secret_len = 0;
  crypto_generichash_blake2b_salt_personal(
      out, sizeof out, raw, SESSIO_ID_BYTES, secret_len > 0 ? secret : NULL,
      secret_len, NULL, personal_keys);
  memcpy(key->b, out, SESSIO_KEY_BYTES);
  memcpy(seal, out + SESSIO_KEY_BYTES, SESSIO__SEAL_KEY_BYTES);
  sodium_memzero(out, sizeof out);
}

static const uint8_t personal_csrf[crypto_generichash_blake2b_PERSONALBYTES] = {
    's', 'e', 's', 's', 'i', 'o', '.', 'c',
    's', 'r', 'f', '.', '.', '.', '.', '2'};

void sessio__csrf_derive(const uint8_t *secret, size_t secret_len,
                         const uint8_t salt[SESSIO__CSRF_SALT_BYTES],
                         uint8_t token[SESSIO__CSRF_TOKEN_BYTES]) {
  if (secret_len > crypto_generichash_blake2b_KEYBYTES_MAX)
    secret_len = crypto_generichash_blake2b_KEYBYTES_MAX;
  if (secret == NULL) secret_len = 0;
  crypto_generichash_blake2b_salt_personal(
      token, SESSIO__CSRF_TOKEN_BYTES, salt, SESSIO__CSRF_SALT_BYTES,
      secret_len > 0 ? secret : NULL, secret_len, NULL, personal_csrf);
}

void sessio__key_derive(const uint8_t *secret, size_t secret_len,
                        const uint8_t raw[SESSIO_ID_BYTES], sessio_key *out) {
  uint8_t seal[SESSIO__SEAL_KEY_BYTES];
  sessio__keys_derive(secret, secret_len, raw, out, seal);
  sodium_memzero(seal, sizeof seal);
}

/* ---- sealing ------------------------------------------------------------ */

#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES

_Static_assert(NONCE_BYTES + TAG_BYTES == SESSIO__SEAL_OVERHEAD,
               "seal overhead is nonce + tag");
_Static_assert(NONCE_BYTES == SESSIO__NONCE_BYTES, "nonce size");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES ==
                   SESSIO__SEAL_KEY_BYTES,
               "seal key size");

sessio_err sessio__seal(const uint8_t key[SESSIO__SEAL_KEY_BYTES],
                        const uint8_t *ad, size_t ad_len, const uint8_t *pt,
                        size_t pt_len, uint8_t *out) {
  sessio_err err;
  unsigned long long clen = 0;

  if (pt_len > crypto_aead_xchacha20poly1305_ietf_MESSAGEBYTES_MAX)
    return SESSIO_ETOOBIG;
  err = sessio__crypto_init();
  if (err != SESSIO_OK) return err;
  /* A 192-bit random nonce: collisions are negligible even across many
   * writes under one key, so no counter state is needed. */
  err = sessio__random_fast(out, NONCE_BYTES);
  if (err != SESSIO_OK) return err;
  if (crypto_aead_xchacha20poly1305_ietf_encrypt(out + NONCE_BYTES, &clen, pt,
                                                 pt_len, ad, ad_len, NULL, out,
                                                 key) != 0)
    return SESSIO_EINVAL;
  return SESSIO_OK;
}

int sessio__open(const uint8_t key[SESSIO__SEAL_KEY_BYTES], const uint8_t *ad,
                 size_t ad_len, const uint8_t *ct, size_t ct_len,
                 uint8_t *out) {
  unsigned long long mlen = 0;

  if (ct == NULL || ct_len < SESSIO__SEAL_OVERHEAD) return 0;
  if (sessio__crypto_init() != SESSIO_OK) return 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          out, &mlen, NULL, ct + NONCE_BYTES, ct_len - NONCE_BYTES, ad, ad_len,
          ct, key) != 0)
    return 0;
  return mlen == ct_len - SESSIO__SEAL_OVERHEAD;
}

#define NONCE2_BYTES crypto_aead_chacha20poly1305_ietf_NPUBBYTES
#define TAG2_BYTES crypto_aead_chacha20poly1305_ietf_ABYTES

_Static_assert(NONCE2_BYTES + TAG2_BYTES == SESSIO__IETF_OVERHEAD,
               "IETF seal overhead is nonce + tag");
_Static_assert(NONCE2_BYTES == SESSIO__IETF_NONCE_BYTES, "IETF nonce size");
_Static_assert(crypto_aead_chacha20poly1305_ietf_KEYBYTES ==
                   SESSIO__SEAL_KEY_BYTES,
               "IETF seal key size");

sessio_err sessio__seal_ietf(const uint8_t key[SESSIO__SEAL_KEY_BYTES],
                             const uint8_t *ad, size_t ad_len,
                             const uint8_t *pt, size_t pt_len, uint8_t *out) {
  sessio_err err;
  unsigned long long clen = 0;

  if (pt_len > crypto_aead_chacha20poly1305_ietf_MESSAGEBYTES_MAX)
    return SESSIO_ETOOBIG;
  err = sessio__crypto_init();
  if (err != SESSIO_OK) return err;
  /* A 96-bit random nonce is safe here because the key is the session's
   * own (derived from its 256-bit ID): only the commits of one session
   * share it, and S9 bounds those. No HChaCha20 subkey per call. */
  err = sessio__random_fast(out, NONCE2_BYTES);
  if (err != SESSIO_OK) return err;
  if (crypto_aead_chacha20poly1305_ietf_encrypt(out + NONCE2_BYTES, &clen, pt,
                                                pt_len, ad, ad_len, NULL, out,
                                                key) != 0)
    return SESSIO_EINVAL;
  return SESSIO_OK;
}

int sessio__open_ietf(const uint8_t key[SESSIO__SEAL_KEY_BYTES],
                      const uint8_t *ad, size_t ad_len, const uint8_t *ct,
                      size_t ct_len, uint8_t *out) {
  unsigned long long mlen = 0;

  if (ct == NULL || ct_len < SESSIO__IETF_OVERHEAD) return 0;
  if (sessio__crypto_init() != SESSIO_OK) return 0;
  if (crypto_aead_chacha20poly1305_ietf_decrypt(
          out, &mlen, NULL, ct + NONCE2_BYTES, ct_len - NONCE2_BYTES, ad,
          ad_len, ct, key) != 0)
    return 0;
  return mlen == ct_len - SESSIO__IETF_OVERHEAD;
}

sessio_err sessio__seal_ietf_detached(const uint8_t key[SESSIO__SEAL_KEY_BYTES],
                                      const uint8_t *ad, size_t ad_len,
                                      const uint8_t *pt, size_t pt_len,
                                      uint8_t nonce[SESSIO__IETF_NONCE_BYTES],
                                      uint8_t *out) {
  unsigned long long clen = 0;
  if (pt_len > crypto_aead_chacha20poly1305_ietf_MESSAGEBYTES_MAX)
    return SESSIO_ETOOBIG;
  sessio_err err = sessio__crypto_init();
  if (err == SESSIO_OK) err = sessio__random_fast(nonce, NONCE2_BYTES);
  if (err != SESSIO_OK) return err;
  if (crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, pt, pt_len, ad,
                                                ad_len, NULL, nonce, key) != 0)
    return SESSIO_EINVAL;
  return SESSIO_OK;
}

int sessio__open_ietf_detached(const uint8_t key[SESSIO__SEAL_KEY_BYTES],
                               const uint8_t nonce[SESSIO__IETF_NONCE_BYTES],
                               const uint8_t *ad, size_t ad_len,
                               const uint8_t *ct, size_t ct_len, uint8_t *out) {
  unsigned long long mlen = 0;
  if (ct == NULL || ct_len < TAG2_BYTES) return 0;
  if (sessio__crypto_init() != SESSIO_OK) return 0;
  if (crypto_aead_chacha20poly1305_ietf_decrypt(out, &mlen, NULL, ct, ct_len,
                                                ad, ad_len, nonce, key) != 0)
    return 0;
  return mlen == ct_len - TAG2_BYTES;
}

/* ---- encodings and comparison ------------------------------------------- */

/* Two digits per byte from one table lookup: a request writes the hex of
 * the CSRF token and of the handle, and a digit at a time showed. */
static const char hex_pairs[513] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
    "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
    "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
    "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

void sessio__hex(const uint8_t *p, size_t n, char *out) {
  for (size_t i = 0; i < n; i++) memcpy(out + 2 * i, hex_pairs + 2 * p[i], 2);
  out[2 * n] = '\0';
}

int sessio__unhex(const char *s, size_t n, uint8_t *out) {
  for (size_t i = 0; i < n; i++) {
    int v = 0;
    for (int j = 0; j < 2; j++) {
      char c = s[2 * i + (size_t)j];
      int d = c >= '0' && c <= '9'   ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                     : -1;
      if (d < 0) return 0;
      v = v * 16 + d;
    }
    out[i] = (uint8_t)v;
  }
  return 1;
}

void sessio__handle(const sessio_key *key, char out[SESSIO_HANDLE_LEN + 1]) {
  sessio__hex(key->b, SESSIO_HANDLE_LEN / 2, out);
}

int sessio__ct_equal(const void *a, const void *b, size_t n) {
  if (n == 0) return 1;
  return sodium_memcmp(a, b, n) == 0;
}
