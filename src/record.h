/*
 * record.h — the blob a store keeps for a session: readable metadata (what
 * the server must read without the session ID: times, limits, flags, the
 * label) followed by the sealed data (an AEAD under a key derived from the
 * raw session ID, with the metadata and user name as associated data).
 * Internal to libsessio.
 *
 * Blob format, versions 1 and 2:
 *   u8 'S', u8 format (1 or 2), u8 flags,
 *   varint created_at, zigzag varint auth_at - created_at,
 *   zigzag varint rotated_at - created_at, varint idle_ms,
 *   zigzag varint abs_deadline - created_at, varint info_len, info bytes,
 *   then the sealed part:
 *     format 1: XChaCha20-Poly1305, nonce (24) || ciphertext || tag (16);
 *     format 2: ChaCha20-Poly1305 IETF, nonce (12) || ciphertext || tag (16).
 * New records are format 2; format 1 (the 1.0 pre-releases) is still read.
 * The plaintext is the encoded data map (data.h); for a MOVED record (the
 * old ID of a rotated session, kept for the grace window) it is the 32 raw
 * bytes of the new ID.
 */
#ifndef SESSIO_RECORD_H
#define SESSIO_RECORD_H

#include "buf.h"
#include "crypto.h"
#include "data.h"

#define SESSIO__F_AUTH 0x01     /* a completed login (S22) */
#define SESSIO__F_REMEMBER 0x02 /* persistent cookie */
#define SESSIO__F_MOVED 0x04    /* forward pointer to a rotated ID */
#define SESSIO__F_KNOWN 0x07

typedef struct sessio__meta {
  uint8_t format; /* of a decoded record; encode writes the current one */
  uint8_t flags;
  int64_t created_at;
  int64_t auth_at;
  int64_t rotated_at;
  int64_t idle_ms;
  int64_t abs_deadline;
  char info[SESSIO_LABEL_MAX + 1];
} sessio__meta;

/* Encodes metadata and seals 'pt' into 'out' (cleared first). 'user' is ""
 * when none. */
sessio_err sessio__record_encode(const sessio__meta *meta, const char *user,
                                 const uint8_t seal_key[32], const uint8_t *pt,
                                 size_t pt_len, sessio__buf *out);

/* The same with the encoded map 'data' as the plaintext, encoded straight
 * into its place in 'out' and sealed there, so that no plaintext copy is
 * made or left in freed memory. 'pt_len' is sessio__map_encoded_size(data). */
sessio_err sessio__record_encode_map(const sessio__meta *meta, const char *user,
                                     const uint8_t seal_key[32],
                                     const sessio__map *data, size_t pt_len,
                                     sessio__buf *out);

/* Reads the metadata of 'blob' into '*meta' and sets '*sealed'/'*sealed_len'
 * to the sealed part and '*hdr_len' to the header length. Returns 0 when
 * the blob is malformed (an unknown format included). */
int sessio__record_meta(const uint8_t *blob, size_t len, sessio__meta *meta,
                        size_t *hdr_len);

/* The nonce and tag bytes of the sealed part of a record of 'format' (as
 * sessio__record_meta read it): the plaintext is that much shorter. */
size_t sessio__record_overhead(uint8_t format);

/* Opens the sealed part of 'blob' (metadata already read, 'hdr_len' from
 * sessio__record_meta) into 'out' (cleared first). Returns 0 when the blob
 * is forged, corrupted or sealed under another key; SESSIO_ENOMEM is
 * reported as -1. */
int sessio__record_open(const uint8_t *blob, size_t len, size_t hdr_len,
                        const char *user, const uint8_t seal_key[32],
                        sessio__buf *out);
/* The same into caller memory: 'out' has room for len - hdr_len -
 * sessio__record_overhead() bytes (a stack buffer for most records: no
 * allocation). The caller wipes it. */
int sessio__record_open_to(const uint8_t *blob, size_t len, size_t hdr_len,
                           const char *user, const uint8_t seal_key[32],
                           uint8_t *out);

#endif
