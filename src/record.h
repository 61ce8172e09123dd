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
 *   format 1: XChaCha20-Poly1305: nonce (24) || ciphertext || tag (16),
 *     whose plaintext is the encoded data map (data.h);
 *   format 2: sealed with ChaCha20-Poly1305 IETF: nonce (12) ||
 *     ciphertext || tag (16), whose plaintext is the encoded data map (a
 *     session of up to SESSIO__INLINE_MAX bytes of data); or, with
 *     SESSIO__F_CHUNKED in the flags, varint sealed_len, then the
 *     directory sealed that way (sealed_len bytes), then the chunks it
 *     lists. The directory's plaintext is
 *       varint n, n times: nonce (12), varint ct_len, varint
 *         first_len, first key: the chunks, each ct_len bytes of
 *         ciphertext || tag under that nonce and the session's key (AD
 *         "sessio.chunk.2"), whose plaintext is the encoded map of the
 *         keys from its first key (the first chunk: "") up to the next
 *         chunk's first key. The directory lists every chunk's nonce, so a
 *         chunk of another record or version does not open in its place.
 * In both formats the AD of the (directory's) seal is the header and the
 * user name. For a MOVED record (the old ID of a rotated session, kept for
 * the grace window) the plaintext is the 32 raw bytes of the new ID.
 * New records are format 2; format 1 (the 1.0 pre-releases) is still read.
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
/* Format 2, in the stored flags byte only (sessio__meta.flags never holds
 * it): the data is in chunks, and the header ends with the directory's
 * sealed length. */
#define SESSIO__F_CHUNKED 0x08

typedef struct sessio__meta {
  uint8_t format;    /* of a decoded record; encode writes the current one */
  uint8_t chunked;   /* of a decoded record: SESSIO__F_CHUNKED was set */
  size_t sealed_len; /* of a decoded record: the (directory's) sealed part */
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

/* Chunked data (format 2): a commit re-seals the chunks its operations
 * touched and copies the others' ciphertext as it was. */
#define SESSIO__CHUNK_TARGET 512 /* plaintext bytes a chunk is cut at */
#define SESSIO__INLINE_MAX 512   /* data up to this is sealed inline */

typedef struct sessio__chunk {
  const uint8_t *ct; /* ciphertext || tag, inside the chunks' 'blob' */
  size_t ct_len;
  uint8_t nonce[SESSIO__IETF_NONCE_BYTES];
  const char *first; /* lowest key of its range, inside 'dir' */
  size_t first_len;
  uint8_t open;  /* its entries are in the session's map */
  uint8_t dirty; /* a write fell in its range: sealed anew at commit */
} sessio__chunk;

typedef struct sessio__chunks {
  uint8_t *blob; /* the loaded record, owned */
  uint8_t *dir;  /* the directory's plaintext, owned (wiped when freed) */
  size_t dir_len;
  sessio__chunk *v;
  size_t n;
  size_t closed;    /* plaintext bytes of the chunks not opened */
  uint8_t seal[32]; /* the key they are sealed under */
} sessio__chunks;

#define SESSIO__CHUNKS_INIT                                                    \
  {                                                                            \
    NULL, NULL, 0, NULL, 0, 0, { 0 }                                           \
  }

void sessio__chunks_free(sessio__chunks *c);
/* Reads the chunk list of a directory's plaintext 'dir' over the
 * 'body_len' bytes of chunks at 'body' (both stay owned by the caller, who
 * moves them into 'c'). 1, 0 when malformed, -1 out of memory. */
int sessio__chunks_parse(sessio__chunks *c, const uint8_t *dir, size_t dir_len,
                         const uint8_t *body, size_t body_len);
/* The chunk whose range holds 'key' (c->n > 0). */
size_t sessio__chunks_find(const sessio__chunks *c, const char *key,
                           size_t key_len);
/* Opens chunk 'i' and adds its entries to 'm'. 1; 0 when it is forged,
 * malformed or holds a key outside its range (nothing added); -1 out of
 * memory (nothing added). */
int sessio__chunks_open(sessio__chunks *c, size_t i, sessio__map *m);

/* The same with the data map 'data' as the plaintext, encoded straight
 * into its place in 'out' and sealed there, so that no plaintext copy is
 * made or left in freed memory. 'map_size' is
 * sessio__map_encoded_size(data). With 'chunks' (of the loaded record,
 * under the same key; NULL for none) the chunks not marked dirty are
 * copied. */
sessio_err sessio__record_encode_map(const sessio__meta *meta, const char *user,
                                     const uint8_t seal_key[32],
                                     const sessio__map *data, size_t map_size,
                                     const sessio__chunks *chunks,
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
 * sessio__record_meta; in format 2 the directory) into 'out' (cleared
 * first). Returns 0 when the blob
 * is forged, corrupted or sealed under another key; SESSIO_ENOMEM is
 * reported as -1. */
int sessio__record_open(const uint8_t *blob, size_t len, size_t hdr_len,
                        const char *user, const uint8_t seal_key[32],
                        sessio__buf *out);
/* The same into caller memory, where 'len' is hdr_len + meta.sealed_len
 * (where the sealed part ends): 'out' has room for len - hdr_len -
 * sessio__record_overhead() bytes (a stack buffer for most records: no
 * allocation). The caller wipes it. */
int sessio__record_open_to(const uint8_t *blob, size_t len, size_t hdr_len,
                           const char *user, const uint8_t seal_key[32],
                           uint8_t *out);

#endif
