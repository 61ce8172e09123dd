/*
 * crypto.h — session IDs and the cryptography around them (libsodium):
 * CSPRNG, base64url IDs, the keyed hash that names records in the store,
 * the per-session sealing key and the AEADs that seal record data
 * (ChaCha20-Poly1305 IETF for session records, XChaCha20-Poly1305 for
 * format-1 records and the secret check).
 * Internal to libsessio. Implemented in crypto.c; IDs in id.c.
 */
#ifndef SESSIO_CRYPTO_H
#define SESSIO_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "sessio.h"
#include "sessio/store.h"

/* Calls sodium_init() once (thread-safe). SESSIO_ERANDOM if it fails. */
sessio_err sessio__crypto_init(void);

/* 'len' bytes from the OS CSPRNG: getrandom(2), EINTR retried, short reads
 * completed; SESSIO_ERANDOM on any other failure (fails closed, S1). */
sessio_err sessio__random(void *buf, size_t len);

/* The same for small requests (a few hundred bytes at most), served from a
 * per-thread buffer of getrandom output that a fork() wipes in the child.
 * Use it on request paths: IDs, nonces, tokens. */
sessio_err sessio__random_fast(void *buf, size_t len);

/* Encodes 32 raw bytes as a 43-char base64url ID plus NUL. */
void sessio__id_encode(const uint8_t raw[SESSIO_ID_BYTES],
                       char out[SESSIO_ID_LEN + 1]);
/* Validates 'id' by sessio_id_valid()'s rules and decodes it, in one pass.
 * Returns 1, or 0 if invalid ('raw' then holds nothing usable). */
int sessio__id_decode(const char *id, size_t len, uint8_t raw[SESSIO_ID_BYTES]);

/* Both keys of a session from one BLAKE2b-512 of the raw ID (personalised,
 * keyed with 'secret' when 'secret_len' > 0): the first half is the store
 * key, which names the record in the store (S7); the second half is the
 * sealing key, which the store never sees. Knowing one half tells nothing
 * of the other without the 256-bit ID. */
#define SESSIO__SEAL_KEY_BYTES 32
void sessio__keys_derive(const uint8_t *secret, size_t secret_len,
                         const uint8_t raw[SESSIO_ID_BYTES], sessio_key *key,
                         uint8_t seal[SESSIO__SEAL_KEY_BYTES]);
/* A session's CSRF token from the 16-byte salt its data keeps (S19): a
 * BLAKE2b-256 of 'salt' keyed with the server secret ('secret_len' 0: no
 * key), personalised "sessio.csrf" so it is no other hash of the tree. The
 * salt is sealed with the data, so the token is as unpredictable as 128
 * bits of the CSPRNG; the secret also keeps a leaked plaintext of the data
 * (a dump of a session) from giving the token. */
#define SESSIO__CSRF_SALT_BYTES 16
#define SESSIO__CSRF_TOKEN_BYTES 32
void sessio__csrf_derive(const uint8_t *secret, size_t secret_len,
                         const uint8_t salt[SESSIO__CSRF_SALT_BYTES],
                         uint8_t token[SESSIO__CSRF_TOKEN_BYTES]);

/* The store key alone (tests and tools). */
void sessio__key_derive(const uint8_t *secret, size_t secret_len,
                        const uint8_t raw[SESSIO_ID_BYTES], sessio_key *out);

/* XChaCha20-Poly1305 with a random 24-byte nonce. 'out' gets
 * nonce || ciphertext || tag: pt_len + SESSIO__SEAL_OVERHEAD bytes.
 * 'ad' (may be NULL when ad_len is 0) is authenticated, not encrypted.
 * 'pt' may be out + SESSIO__NONCE_BYTES: the data is then sealed in place
 * (no plaintext copy is left behind); it may not overlap 'out' otherwise. */
#define SESSIO__SEAL_OVERHEAD 40
#define SESSIO__NONCE_BYTES 24
sessio_err sessio__seal(const uint8_t key[SESSIO__SEAL_KEY_BYTES],
                        const uint8_t *ad, size_t ad_len, const uint8_t *pt,
                        size_t pt_len, uint8_t *out);
/* Opens what sessio__seal made. 'out' gets ct_len - SESSIO__SEAL_OVERHEAD
 * bytes. Returns 1 when authentic, 0 when forged, truncated or the wrong
 * key (then 'out' holds nothing usable). */
int sessio__open(const uint8_t key[SESSIO__SEAL_KEY_BYTES], const uint8_t *ad,
                 size_t ad_len, const uint8_t *ct, size_t ct_len, uint8_t *out);

/* ChaCha20-Poly1305 (IETF) with a random 96-bit nonce: what record format
 * 2 seals with. Each session has its own sealing key, so the nonce space is
 * per session: the bound is in docs/SECURITY.md's sealing rule (S9). The
 * same layout and in-place rule as sessio__seal, with a 12-byte nonce. */
#define SESSIO__IETF_OVERHEAD 28
#define SESSIO__IETF_NONCE_BYTES 12
sessio_err sessio__seal_ietf(const uint8_t key[SESSIO__SEAL_KEY_BYTES],
                             const uint8_t *ad, size_t ad_len,
                             const uint8_t *pt, size_t pt_len, uint8_t *out);
int sessio__open_ietf(const uint8_t key[SESSIO__SEAL_KEY_BYTES],
                      const uint8_t *ad, size_t ad_len, const uint8_t *ct,
                      size_t ct_len, uint8_t *out);

/* The same with the nonce kept apart (the chunks of a record, whose nonces
 * its directory lists): 'nonce' gets a fresh random one, 'out' gets
 * ciphertext || tag (pt_len + 16 bytes; 'pt' may equal 'out'). */
#define SESSIO__TAG_BYTES 16
sessio_err sessio__seal_ietf_detached(const uint8_t key[SESSIO__SEAL_KEY_BYTES],
                                      const uint8_t *ad, size_t ad_len,
                                      const uint8_t *pt, size_t pt_len,
                                      uint8_t nonce[SESSIO__IETF_NONCE_BYTES],
                                      uint8_t *out);
int sessio__open_ietf_detached(const uint8_t key[SESSIO__SEAL_KEY_BYTES],
                               const uint8_t nonce[SESSIO__IETF_NONCE_BYTES],
                               const uint8_t *ad, size_t ad_len,
                               const uint8_t *ct, size_t ct_len, uint8_t *out);

/* Lowercase hex of 'n' bytes into 'out' (2n chars + NUL). */
void sessio__hex(const uint8_t *p, size_t n, char *out);
/* The reverse: 2n lowercase hex digits of 's' into 'n' bytes. Returns 0 on
 * any other character ('out' then holds nothing usable). */
int sessio__unhex(const char *s, size_t n, uint8_t *out);
/* The public handle of a key: hex of its first 16 bytes. */
void sessio__handle(const sessio_key *key, char out[SESSIO_HANDLE_LEN + 1]);

/* Constant-time equality of two byte strings of equal length. */
int sessio__ct_equal(const void *a, const void *b, size_t n);

#endif
