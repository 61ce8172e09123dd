/*
 * secret_check.c — the server-secret check record: one record under a
 * fixed, well-known key (derived without any secret) whose content is
 * sealed under a key derived from the manager's secret. The first manager
 * to check writes it; later ones, and the sessio admin command, learn
 * whether they hold the secret the store's sessions were written with. A
 * wrong secret is otherwise silent: every session looks unknown.
 */
#include <string.h>

#include <sodium.h>

#include "manager.h"

#define CHECK_MAGIC "SESSIO-SECRET-CHECK-1"
#define CHECK_PT "sessio"
#define CENTURY (100LL * 365 * 24 * 3600 * 1000)

/* The fixed "ID" the check record is derived from. */
static void check_raw(uint8_t raw[SESSIO_ID_BYTES]) {
  static const char label[] = "sessio server secret check record";
  memset(raw, 0, SESSIO_ID_BYTES);
  memcpy(raw, label,
         sizeof label - 1 < SESSIO_ID_BYTES ? sizeof label - 1
                                            : SESSIO_ID_BYTES);
}

void sessio__secret_check_key(sessio_key *key) {
  uint8_t raw[SESSIO_ID_BYTES];
  check_raw(raw);
  sessio__key_derive(NULL, 0, raw, key);
}

/* 1 when the check record 'rec' opens under 'seal'. */
static int opens(const sessio_record *rec, const uint8_t *seal, uint8_t *pt) {
  const size_t mlen = sizeof CHECK_MAGIC - 1;
  return rec->blob_len == mlen + sizeof CHECK_PT - 1 + SESSIO__SEAL_OVERHEAD &&
         memcmp(rec->blob, CHECK_MAGIC, mlen) == 0 &&
         sessio__open(seal, (const uint8_t *)CHECK_MAGIC, mlen,
                      rec->blob + mlen, rec->blob_len - mlen, pt) &&
         memcmp(pt, CHECK_PT, sizeof CHECK_PT - 1) == 0;
}

sessio_err sessio_manager_check_secret(sessio_manager *m, int64_t now,
                                       int record, int *same) {
  if (same) *same = 0;
  if (m == NULL || same == NULL) return SESSIO_EINVAL;
  uint8_t raw[SESSIO_ID_BYTES], seal[SESSIO__SEAL_KEY_BYTES];
  uint8_t blob[sizeof CHECK_MAGIC - 1 + sizeof CHECK_PT - 1 +
               SESSIO__SEAL_OVERHEAD];
  uint8_t pt[sizeof CHECK_PT - 1];
  const size_t mlen = sizeof CHECK_MAGIC - 1;
  sessio_key key, ignored;
  sessio_record rec;
  int found = 0;
  check_raw(raw);
  sessio__secret_check_key(&key);
  sessio__keys_derive(m->cfg.secret, m->cfg.secret_len, raw, &ignored, seal);
  sessio_err rc = sessio__store_load(m->cfg.store, &key, now, &rec, &found);
  if (rc != SESSIO_OK) goto done;
  uint64_t expect = 0; /* the version of a record to write again */
  if (found) {
    *same = opens(&rec, seal, pt);
    /* Written with a previous secret: a rotation in progress. */
    for (size_t i = 0; !*same && i < m->cfg.n_prev; i++) {
      uint8_t pseal[SESSIO__SEAL_KEY_BYTES];
      sessio__keys_derive(m->cfg.prev_secret[i], m->cfg.prev_len[i], raw,
                          &ignored, pseal);
      if (opens(&rec, pseal, pt)) expect = rec.version;
      sodium_memzero(pseal, sizeof pseal);
      if (expect) *same = 1;
    }
    sessio_record_clear(&rec);
    if (!expect || !record) goto done;
  } else if (!record) {
    *same = -1;
    goto done;
  }
  /* None yet (or a previous secret's): this manager's becomes the
   * store's. */
  memcpy(blob, CHECK_MAGIC, mlen);
  rc = sessio__seal(seal, (const uint8_t *)CHECK_MAGIC, mlen,
                    (const uint8_t *)CHECK_PT, sizeof CHECK_PT - 1,
                    blob + mlen);
  if (rc != SESSIO_OK) goto done;
  memset(&rec, 0, sizeof rec);
  rec.expires_at = now + CENTURY;
  rec.touched_at = now;
  rec.blob = blob;
  rec.blob_len = sizeof blob;
  uint64_t v;
  rc = sessio__store_save(m->cfg.store, &key, &rec, expect, now, &v);
  if (rc == SESSIO_ECONFLICT) { /* another process wrote it meanwhile */
    sodium_memzero(seal, sizeof seal);
    return sessio_manager_check_secret(m, now, record, same);
  }
  if (rc == SESSIO_OK) *same = 1;
done:
  sodium_memzero(seal, sizeof seal);
  return rc;
}
