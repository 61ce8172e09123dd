/*
 * users.c — the per-user view of sessions (S18): list a user's live
 * sessions for a "where you are signed in" page, and revoke one, all, or all
 * but the current one. The store's user index may hold stale keys; each key
 * is checked against its record here and stale pairs are removed ("repaired
 * on read").
 */
#include <stdlib.h>
#include <string.h>

#include "manager.h"

/* Reads a live record's metadata for the listing; '*live' = 0 for a stale
 * index entry (missing, dead, unreadable or belonging to another user). */
static sessio_err peek(sessio_manager *m, const char *user,
                       const sessio_key *key, int64_t now,
                       sessio_session_info *info, int *live) {
  sessio_record rec;
  sessio__meta meta;
  size_t hdr;
  int found;
  *live = 0;
  sessio_err rc = sessio__store_load(m->cfg.store, key, now, &rec, &found);
  if (rc == SESSIO_ECORRUPT) return SESSIO_OK;
  if (rc != SESSIO_OK || !found) return rc;
  if (sessio__record_meta(rec.blob, rec.blob_len, &meta, &hdr) &&
      !(meta.flags & SESSIO__F_MOVED) && strcmp(rec.user, user) == 0 &&
      now < sessio__deadline(&meta, rec.touched_at)) {
    *live = 1;
    memset(info, 0, sizeof *info);
    sessio__handle(key, info->handle);
    info->created_at = meta.created_at;
    info->last_seen = rec.touched_at;
    info->expires_at = sessio__deadline(&meta, rec.touched_at);
    info->remember = (meta.flags & SESSIO__F_REMEMBER) != 0;
    memcpy(info->label, meta.info, sizeof info->label);
  }
  sessio_record_clear(&rec);
  return SESSIO_OK;
}

static int by_last_seen_desc(const void *a, const void *b) {
  const sessio_session_info *x = a, *y = b;
  if (x->last_seen != y->last_seen) return x->last_seen < y->last_seen ? 1 : -1;
  return strcmp(x->handle, y->handle);
}

/* Lists the user's live sessions, with their keys in 'keys_out' (parallel
 * to '*out') when it is not NULL. */
static sessio_err list(sessio_manager *m, const char *user, int64_t now,
                       sessio_session_info **out, sessio_key **keys_out,
                       size_t *n) {
  sessio_key *keys = NULL;
  size_t nk = 0, live_n = 0;
  sessio_session_info *v = NULL;
  *out = NULL;
  *n = 0;
  if (keys_out) *keys_out = NULL;
  sessio_err rc = sessio__store_user_list(m->cfg.store, user, now, &keys, &nk);
  if (rc != SESSIO_OK || nk == 0) goto done;
  v = calloc(nk, sizeof *v);
  if (v == NULL) {
    rc = SESSIO_ENOMEM;
    goto done;
  }
  for (size_t i = 0; i < nk; i++) {
    int live;
    rc = peek(m, user, &keys[i], now, &v[live_n], &live);
    if (rc != SESSIO_OK) goto done;
    if (live) {
      keys[live_n++] = keys[i];
    } else {
      rc = sessio__store_user_remove(m->cfg.store, user, &keys[i]);
      if (rc != SESSIO_OK) goto done;
    }
  }
  if (live_n == 0) goto done;
  if (keys_out == NULL) /* the sort would break the pairing with keys */
    qsort(v, live_n, sizeof *v, by_last_seen_desc);
  *out = v;
  *n = live_n;
  v = NULL;
  if (keys_out) {
    *keys_out = keys;
    keys = NULL;
  }
done:
  free(v);
  free(keys);
  return rc;
}

/* A failure of the store, as an event (see session.c). */
static void note_error(sessio_manager *m, sessio__evq *q, sessio_err rc,
                       const char *user) {
  if (rc == SESSIO_EUNAVAIL || rc == SESSIO_EIO || rc == SESSIO_ECORRUPT ||
      rc == SESSIO_EFULL)
    sessio__ev_note(m, q, SESSIO_EVENT_STORE_ERROR, SESSIO_REASON_NONE, rc,
                    NULL, user);
}

sessio_err sessio_manager_user_sessions(sessio_manager *m, const char *user,
                                        int64_t now, sessio_session_info **out,
                                        size_t *n) {
  if (m == NULL || user == NULL || out == NULL || n == NULL)
    return SESSIO_EINVAL;
  sessio__evq q = SESSIO__EVQ_INIT;
  sessio__ev_ctx prev = sessio__ev_enter(m, &q);
  sessio_err rc = list(m, user, now, out, NULL, n);
  sessio__ev_leave(prev);
  note_error(m, &q, rc, user);
  sessio__ev_fire(m, &q, now);
  sessio__ev_free(&q);
  return rc;
}

/* Revokes the user's live sessions that 'pick' selects: with 'only' set,
 * the one with that handle; else every one but 'keep' (may be NULL). */
static sessio_err revoke(sessio_manager *m, const char *user, const char *keep,
                         const char *only, int64_t now, size_t *revoked) {
  sessio_session_info *v = NULL;
  sessio_key *keys = NULL;
  size_t n = 0, count = 0;
  if (revoked) *revoked = 0;
  if (m == NULL || user == NULL) return SESSIO_EINVAL;
  sessio__evq q = SESSIO__EVQ_INIT;
  sessio__ev_ctx prev = sessio__ev_enter(m, &q);
  sessio_err rc = list(m, user, now, &v, &keys, &n);
  for (size_t i = 0; rc == SESSIO_OK && i < n; i++) {
    if (keep && strcmp(keep, v[i].handle) == 0) continue;
    if (only && strcmp(only, v[i].handle) != 0) continue;
    /* Counted only by the call that removed it: two revocations racing
     * on one session report it once. */
    int gone = 0;
    rc = sessio__store_remove(m->cfg.store, &keys[i], now, &gone);
    if (rc == SESSIO_OK)
      rc = sessio__store_user_remove(m->cfg.store, user, &keys[i]);
    if (rc == SESSIO_OK && gone) {
      count++;
      sessio__ev_note(m, &q, SESSIO_EVENT_REVOKED, SESSIO_REASON_NONE,
                      SESSIO_OK, &keys[i], user);
      sessio__log(m, SESSIO_LOG_INFO, "session revoked sid=%.16s", v[i].handle);
    }
  }
  free(v);
  free(keys);
  sessio__ev_leave(prev);
  note_error(m, &q, rc, user);
  sessio__ev_fire(m, &q, now);
  sessio__ev_free(&q);
  if (revoked) *revoked = count;
  return rc;
}

sessio_err sessio_manager_revoke_one(sessio_manager *m, const char *user,
                                     const char *handle, int64_t now,
                                     size_t *revoked) {
  if (handle == NULL) {
    if (revoked) *revoked = 0;
    return SESSIO_EINVAL;
  }
  return revoke(m, user, NULL, handle, now, revoked);
}

sessio_err sessio_manager_revoke_all(sessio_manager *m, const char *user,
                                     const char *keep_handle, int64_t now,
                                     size_t *revoked) {
  return revoke(m, user, keep_handle, NULL, now, revoked);
}
