/*
 * sessio/store.h — the store contract: what a session backend implements.
 *
 * The contract is written once, here, above the method table. Every store
 * (memory, file, sqlite, redis, redis-cluster, or your own) is held to it
 * by one conformance suite (tests/conformance/). The memory store
 * (src/store/memory.c) is the reference implementation.
 */
#ifndef SESSIO_STORE_H
#define SESSIO_STORE_H

#include "../sessio.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 2: remove and user_add take 'now' (every method that needs a time takes
 * it; a store never reads a clock). 3: scan. 4: collect, user_scan,
 * user_entry_remove, sweep. */
#define SESSIO_STORE_API_VERSION 4

/* A record's name in the store: a keyed BLAKE2b hash of the session
 * ID. Stores never see a raw session ID (S7). */
typedef struct sessio_key {
  uint8_t b[SESSIO_KEY_BYTES];
} sessio_key;

/* One stored session, as the store sees it.
 *
 * 'blob' is opaque to the store: readable metadata followed by the sealed
 * (encrypted and authenticated) data. The store keeps it byte for byte.
 * 'version', 'expires_at', 'touched_at' and 'user' are the fields the store
 * itself acts on. */
typedef struct sessio_record {
  uint64_t version;   /* > 0 for a stored record; assigned by the store */
  int64_t expires_at; /* ms; at or after it the record is dead */
  int64_t touched_at; /* ms; last activity, moved by touch */
  char user[SESSIO_USER_MAX + 1]; /* "" when the session has no user */
  uint8_t *blob;
  size_t blob_len;
} sessio_record;

/* Called by iterate for each live record. 'rec->blob' is valid only during
 * the call. Return 0 to go on, non-zero to stop. */
typedef int (*sessio_store_iter_fn)(void *ud, const sessio_key *key,
                                    const sessio_record *rec);

/* Where a scan stands: NUL-terminated text the store writes ("" to start).
 * Opaque to the caller, who keeps it between calls. */
typedef struct sessio_store_cursor {
  char text[128];
} sessio_store_cursor;
#define SESSIO_STORE_CURSOR_INIT                                               \
  {                                                                            \
    { 0 }                                                                      \
  }

/* Called by collect (version 4) once for each record it removed: its 'key'
 * (the caller derives the session's handle from it, never an ID) and its
 * 'user' as the record's header holds it ("" when none, or when the record
 * could not be read). Valid during the call only. */
typedef void (*sessio_store_collect_fn)(void *ud, const sessio_key *key,
                                        const char *user);

/* Bytes of the digest of a user name (BLAKE2b-128, sessio_store_user_hash). */
#define SESSIO_STORE_USER_HASH_BYTES 16

/* One entry of the user index, as user_scan (version 4) shows it. */
typedef struct sessio_store_user_entry {
  sessio_key key;     /* the record the entry names */
  int64_t expires_at; /* the entry's own expiry, ms; INT64_MIN: unreadable */
  /* The user's name, or "" when the store keeps only a digest of it (the
   * file store names a user's index folder by the digest). */
  char user[SESSIO_USER_MAX + 1];
  /* sessio_store_user_hash() of the name; every store fills it. */
  uint8_t user_hash[SESSIO_STORE_USER_HASH_BYTES];
} sessio_store_user_entry;

/* Called by user_scan for each entry; 'e' is valid during the call only.
 * The return value is ignored. */
typedef int (*sessio_store_user_iter_fn)(void *ud,
                                         const sessio_store_user_entry *e);

/* Called by sweep for each leftover: 'what' says what it is ("temporary
 * file without its record"), 'name' where (a path inside the store; never
 * a session ID), 'removed' 1 when sweep removed it. Valid during the call. */
typedef void (*sessio_store_sweep_fn)(void *ud, const char *what,
                                      const char *name, int removed);

/*
 * THE CONTRACT
 *
 * Liveness. A record is live while now < expires_at. A dead record must
 * behave exactly as a missing one for every method (load says not found,
 * save with expected 0 may create over it, touch says not found), whether or
 * not it has been physically removed yet. Stores may drop dead records at
 * any time (Redis expiry) and must drop them through gc().
 *
 * Time is a parameter. Every method that needs a time takes 'now'
 * (milliseconds, the caller's clock): a store never reads a clock of its
 * own to decide liveness, expiry or a TTL, so tests move time by passing
 * it and the caller's clock and the backend's need not agree. A method
 * added later that needs a time takes 'now' too. (A store may read a
 * monotonic clock for its own timeouts and reconnection backoff.)
 *
 * Missing is not an error. load, touch and remove of a missing key return
 * SESSIO_OK with '*found' / '*removed' set to 0.
 *
 * Versions. Every successful save stores a version strictly greater than
 * 'expected' (exactly expected + 1 in the stores shipped here) and reports
 * it in '*new_version'. save is a compare-and-set and MUST be atomic with
 * respect to every other save, touch and remove of the same key, from any
 * thread or process that shares the store:
 *   expected == 0: create; SESSIO_ECONFLICT if a live record exists;
 *   expected  > 0: replace only a live record whose version == expected;
 *                  SESSIO_ECONFLICT otherwise (including missing).
 * On SESSIO_ECONFLICT nothing is written. touch never changes the version.
 *
 * Ownership. Inputs are borrowed for the call. load fills '*out': its
 * 'blob' is allocated by the store with malloc() and owned by the caller,
 * who releases it with free(). user_list returns a malloc()ed array that
 * the caller free()s.
 *
 * remove deletes the record, live or dead; '*removed' is 1 when a record
 * was there (a dead one not yet dropped may count). 'now' lets a store
 * drop what has expired on the way (the memory store's index pairs).
 *
 * User index. user_add records that 'key' belongs to 'user' until
 * 'expires_at' (a later add for the same pair moves the expiry); 'now' is
 * the time of the add (a store that expires entries itself, as Redis does,
 * sets their lifetime from expires_at - now). user_list
 * returns the keys; user_remove forgets one pair (missing is OK). The index
 * may hold stale keys (of removed or dead records): callers check each key
 * with load and remove stale pairs ("repaired on read"). user_add and
 * user_list must be O(1) and O(sessions of that user) respectively.
 *
 * GC. gc(now, max_work) does at most 'max_work' units of work (a unit is
 * one record or index entry examined), removes dead records and stale index
 * entries among them, adds the count of removed records to '*removed', and
 * sets '*done' to 1 when it has just finished a full pass (its cursor
 * wrapped). It keeps its cursor between calls. It never scans the whole
 * store in one call.
 *
 * Errors. SESSIO_EUNAVAIL when the backend cannot be reached (the caller
 * answers 503 and retries later; the store reconnects by itself),
 * SESSIO_EIO for other I/O failures, SESSIO_ECORRUPT for a stored record
 * that cannot be read, SESSIO_ENOMEM, SESSIO_EFULL when a bounded store
 * refuses a new record. Never a crash, never an abort.
 *
 * Threads. Every method may be called from many threads at once.
 *
 * Call order. open, then any methods in any order, then close exactly once
 * when no other call is in flight. close frees the store.
 *
 * Versioning. From version 2 on the table only grows: new methods are
 * appended and the version raised; a caller checks 'version' before using a
 * later method. Version 2 gave remove and user_add their 'now', so
 * sessio_config_set_store() refuses a table below 2 (SESSIO_ENOTSUP).
 * 'iterate' and 'stats' may be NULL (SESSIO_ENOTSUP is reported).
 * Version 3 appended 'scan' (NULL allowed: tools report SESSIO_ENOTSUP).
 *
 * Scan (version 3), for admin tools (the sessio command): visits every
 * record the store holds, live or dead (the caller compares expires_at with
 * its own 'now'), in bounded steps. Each call resumes at '*cursor' (all
 * zero to start: SESSIO_STORE_CURSOR_INIT), examines at most about
 * 'max_work' records, calls 'cb' for each, updates '*cursor' and sets
 * '*done' to 1 when the pass is complete. 'cb's return value is ignored.
 * A record present for the whole pass is visited at least once; one may be
 * visited twice (a table that grows, a Redis rehash), and records created
 * or removed during the pass may or may not be. 'rec->blob' is valid only
 * during the call; the callback must not call into the store. The cursor
 * is plain text, so a tool may save it to resume a pass later.
 *
 * Version 4 appended four methods; each may be NULL (then sessio_store_gc
 * falls back to gc, and tools report SESSIO_ENOTSUP).
 *
 * collect(now, max_work, cb, ud, removed, done) is gc that names what it
 * removes: the same work, cursor, '*removed' and '*done' as gc, and 'cb'
 * called exactly once for each record this call removed (the call whose
 * delete succeeded: of two processes collecting at once, or a collect
 * racing a remove, only the one that deleted the record reports it), with
 * the key and the user from the record's header. A store never opens the
 * sealed blob for this. 'cb' may run under a store lock: it must not call
 * into the store or block. A record the backend drops by itself was never
 * seen by collect and is not reported. The Redis stores give every record
 * a TTL of its remaining life plus grace_ms (default 5 s): collect reports
 * exactly the dead records (by the caller's 'now') it deletes before Redis
 * expires them, and cannot report one Redis expired first (GC stopped or
 * slower than grace_ms); those have no event and no count.
 * sessio_store_gc() calls collect when present and delivers an "expired"
 * event (reason collected) per report to the managers of the store.
 *
 * user_scan(cursor, max_work, cb, ud, done), for admin tools (sessio
 * check): visits every user-index entry the store holds, live or dead,
 * including entries whose record is gone and entries of users with no
 * live session, in bounded steps with the same cursor rules as scan. An
 * entry the store cannot read is still visited when its key is known,
 * with expires_at INT64_MIN. The callback must not call into the store.
 *
 * user_entry_remove(e) removes an entry that user_scan showed without its
 * user's name ('e->user' "": the store keeps only the digest), by
 * 'e->user_hash' and 'e->key' (missing is OK). NULL for a store whose
 * user_scan always gives the name: a tool removes a named entry with
 * user_remove(e->user, &e->key), as any other.
 *
 * sweep(cursor, max_work, repair, cb, ud, done) (version 4, NULL for a
 * store that holds nothing but records and index entries: memory, sqlite,
 * postgres, redis) walks what else the store keeps, in bounded steps with
 * the cursor rules of scan, and reports each leftover that belongs to no
 * record (the file store: the temporary file of a write that a crash
 * interrupted, beside no record). With 'repair' set it removes each one
 * it reports, when that is safe at that moment (under the lock writers
 * take), and says so in 'removed'.
 */
typedef struct sessio_store_methods {
  int version;      /* SESSIO_STORE_API_VERSION */
  const char *name; /* scheme: "memory", "sqlite", ... */

  sessio_err (*load)(sessio_store *st, const sessio_key *key, int64_t now,
                     sessio_record *out, int *found);
  sessio_err (*save)(sessio_store *st, const sessio_key *key,
                     const sessio_record *rec, uint64_t expected, int64_t now,
                     uint64_t *new_version);
  sessio_err (*touch)(sessio_store *st, const sessio_key *key,
                      int64_t touched_at, int64_t expires_at, int64_t now,
                      int *found);
  sessio_err (*remove)(sessio_store *st, const sessio_key *key, int64_t now,
                       int *removed);

  sessio_err (*user_add)(sessio_store *st, const char *user,
                         const sessio_key *key, int64_t expires_at,
                         int64_t now);
  sessio_err (*user_list)(sessio_store *st, const char *user, int64_t now,
                          sessio_key **keys, size_t *n);
  sessio_err (*user_remove)(sessio_store *st, const char *user,
                            const sessio_key *key);

  sessio_err (*gc)(sessio_store *st, int64_t now, size_t max_work,
                   size_t *removed, int *done);
  sessio_err (*iterate)(sessio_store *st, int64_t now, sessio_store_iter_fn cb,
                        void *ud);
  sessio_err (*stats)(sessio_store *st, struct sessio_store_stats *out);
  void (*close)(sessio_store *st);

  /* version 3 */
  sessio_err (*scan)(sessio_store *st, sessio_store_cursor *cursor,
                     size_t max_work, sessio_store_iter_fn cb, void *ud,
                     int *done);

  /* version 4 */
  sessio_err (*collect)(sessio_store *st, int64_t now, size_t max_work,
                        sessio_store_collect_fn cb, void *ud, size_t *removed,
                        int *done);
  sessio_err (*user_scan)(sessio_store *st, sessio_store_cursor *cursor,
                          size_t max_work, sessio_store_user_iter_fn cb,
                          void *ud, int *done);
  sessio_err (*user_entry_remove)(sessio_store *st,
                                  const sessio_store_user_entry *e);
  sessio_err (*sweep)(sessio_store *st, sessio_store_cursor *cursor,
                      size_t max_work, int repair, sessio_store_sweep_fn cb,
                      void *ud, int *done);
} sessio_store_methods;

/* The base of every store. A backend "subclasses" it by making it the first
 * member of its own struct: struct mem_store { sessio_store base; ... }. */
struct sessio_store {
  const sessio_store_methods *methods;
  /* The store's logger (sessio_store_set_logger); NULL: the store is
   * silent. sessio_store_open() clears these after the backend's open, so
   * a backend need not; it logs with sessio_store_log(). */
  sessio_log_fn log_fn;
  void *log_ud;
  sessio_log_level log_level;
};

/* Logs one message of a backend through the store's logger, when one is
 * set and 'level' is at or above its threshold; never prints on its own.
 * Messages name servers and states, never a session ID or a password. */
SESSIO_API void sessio_store_log(sessio_store *st, sessio_log_level level,
                                 const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Writes the digest of 'user' (NUL-terminated) that user_scan reports in
 * 'user_hash': BLAKE2b-128, unkeyed, of its bytes. A tool compares it with
 * the user of a record when the store shows only the digest. */
SESSIO_API void sessio_store_user_hash(
    const char *user, uint8_t out[SESSIO_STORE_USER_HASH_BYTES]);

/* Frees the blob of a loaded record and resets it. */
SESSIO_API void sessio_record_clear(sessio_record *rec);

/* Parses the "a=1&b=x" query part of a store URL (without the '?') and
 * calls 'cb' with each NUL-terminated, %XX-decoded name and value (valid
 * during the call). A helper shared by the backends. SESSIO_EINVAL on a
 * malformed pair, or whatever 'cb' returns when it is not SESSIO_OK. */
typedef sessio_err (*sessio_store_url_param_fn)(void *ud, const char *name,
                                                const char *val);
SESSIO_API sessio_err sessio_store_url_params(const char *query,
                                              sessio_store_url_param_fn cb,
                                              void *ud);

#ifdef __cplusplus
}
#endif
#endif /* SESSIO_STORE_H */
