/*
 * conformance.c — the one store conformance suite: `conformance URL` opens
 * the store with sessio_store_open(URL) and checks every rule of the
 * contract in include/sessio/store.h against it. "{tmp}" in URL is replaced
 * by a fresh mkdtemp() directory that is removed at the end (file:, sqlite:).
 *
 * Keys are BLAKE2b hashes of a random per-run prefix and a counter, and user
 * names carry the prefix, so several runs can share one Redis. Times are the
 * real clock plus offsets of hours (so a store that also sets server-side
 * TTLs, like Redis, keeps every record the test expects to be live), and
 * every check passes 'now' explicitly: nothing sleeps.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "harness.h"
#include "sessio.h"
#include "sessio/store.h"
#include "store/store_internal.h" /* the record-level dispatch wrappers */
#include "store_util.h"

#define HOUR 3600000LL
#define MIB (1024 * 1024)

static sessio_store *st; /* the store under test */
static char url[4096];   /* its URL, {tmp} resolved */
static int64_t NOW;      /* real time at start, ms */
static uint8_t run_prefix[16];
static char run_hex[33];
static _Atomic uint64_t key_counter;
static int shared_store; /* not memory: (other processes can see it) */

/* A fresh key, unique to this run. */
static sessio_key fresh_key(void) {
  uint8_t in[24];
  sessio_key k;
  uint64_t n = atomic_fetch_add(&key_counter, 1);
  memcpy(in, run_prefix, 16);
  memcpy(in + 16, &n, 8);
  crypto_generichash(k.b, sizeof k.b, in, sizeof in, NULL, 0);
  return k;
}

/* A user name unique to this run: "<prefix>-<name>". */
static const char *uname(const char *name) {
  static char buf[8][SESSIO_USER_MAX + 1];
  static int next;
  char *b = buf[next++ % 8];
  snprintf(b, SESSIO_USER_MAX + 1, "%s-%s", run_hex, name);
  return b;
}

static sessio_record rec_of(const void *blob, size_t len, const char *user,
                            int64_t touched_at, int64_t expires_at) {
  sessio_record r;
  memset(&r, 0, sizeof r);
  r.blob = (uint8_t *)blob;
  r.blob_len = len;
  r.touched_at = touched_at;
  r.expires_at = expires_at;
  if (user) snprintf(r.user, sizeof r.user, "%s", user);
  return r;
}

/* Creates a record with a small blob; returns its version (0 on error). */
static uint64_t create(const sessio_key *k, int64_t expires_at, int64_t now) {
  static const char blob[] = "conformance";
  sessio_record r = rec_of(blob, sizeof blob, NULL, now, expires_at);
  uint64_t v = 0;
  sessio_err rc = sessio__store_save(st, k, &r, 0, now, &v);
  CHECK_OK(rc);
  return rc == SESSIO_OK ? v : 0;
}

/* 1 when 'k' loads as a live record at 'now', 0 when not, -1 on error. */
static int is_live(const sessio_key *k, int64_t now) {
  sessio_record r;
  int found = 0;
  sessio_err rc = sessio__store_load(st, k, now, &r, &found);
  CHECK_OK(rc);
  sessio_record_clear(&r);
  return rc == SESSIO_OK ? found : -1;
}

/* Calls gc at 'now' until it reports a finished pass; returns the records
 * removed. Checks that no call removes more than 'max_work'. */
static size_t gc_pass(int64_t now, size_t max_work, size_t *calls) {
  size_t total = 0, n = 0;
  for (;;) {
    size_t removed = 0;
    int done = 0;
    sessio_err rc = sessio_store_gc(st, now, max_work, &removed, &done);
    CHECK_OK(rc);
    CHECK(removed <= max_work);
    total += removed;
    n++;
    if (rc != SESSIO_OK || done || n > 10000000) break;
  }
  CHECK(n <= 10000000);
  if (calls) *calls = n;
  return total;
}

/* ---- basic load / save -------------------------------------------------- */

static void test_load_of_missing_key_is_not_found(void) {
  sessio_key k = fresh_key();
  sessio_record r;
  int found = 7;
  CHECK_OK(sessio__store_load(st, &k, NOW, &r, &found));
  CHECK_INT(found, 0);
  CHECK(r.blob == NULL);
}

static void test_create_assigns_a_positive_version(void) {
  sessio_key k = fresh_key();
  CHECK(create(&k, NOW + HOUR, NOW) > 0);
  CHECK_INT(is_live(&k, NOW), 1);
}

static void test_second_create_conflicts_and_writes_nothing(void) {
  sessio_key k = fresh_key();
  sessio_record r1 = rec_of("first", 5, NULL, NOW, NOW + HOUR);
  sessio_record r2 = rec_of("second", 6, NULL, NOW, NOW + 2 * HOUR);
  uint64_t v1 = 0, v2 = 12345;
  CHECK_OK(sessio__store_save(st, &k, &r1, 0, NOW, &v1));
  CHECK_ERR(sessio__store_save(st, &k, &r2, 0, NOW, &v2), SESSIO_ECONFLICT);
  sessio_record got;
  int found = 0;
  CHECK_OK(sessio__store_load(st, &k, NOW, &got, &found));
  CHECK_INT(found, 1);
  CHECK_INT(got.version, v1);
  CHECK_INT(got.blob_len, 5);
  CHECK(got.blob && memcmp(got.blob, "first", 5) == 0);
  CHECK_INT(got.expires_at, NOW + HOUR);
  sessio_record_clear(&got);
}

static void test_save_with_wrong_version_conflicts_and_writes_nothing(void) {
  sessio_key k = fresh_key();
  uint64_t v = create(&k, NOW + HOUR, NOW), v2 = 0;
  sessio_record r = rec_of("changed", 7, NULL, NOW, NOW + HOUR);
  CHECK_ERR(sessio__store_save(st, &k, &r, v + 1, NOW, &v2), SESSIO_ECONFLICT);
  if (v > 1)
    CHECK_ERR(sessio__store_save(st, &k, &r, v - 1, NOW, &v2),
              SESSIO_ECONFLICT);
  sessio_record got;
  int found = 0;
  CHECK_OK(sessio__store_load(st, &k, NOW, &got, &found));
  CHECK_INT(found, 1);
  CHECK_INT(got.version, v);
  CHECK(got.blob_len != 7 || memcmp(got.blob, "changed", 7) != 0);
  sessio_record_clear(&got);
}

static void test_save_with_right_version_stores_a_greater_version(void) {
  sessio_key k = fresh_key();
  uint64_t v = create(&k, NOW + HOUR, NOW), v2 = 0, v3 = 0;
  sessio_record r = rec_of("changed", 7, NULL, NOW + 5, NOW + 2 * HOUR);
  CHECK_OK(sessio__store_save(st, &k, &r, v, NOW, &v2));
  CHECK(v2 > v);
  /* The old version is now stale. */
  CHECK_ERR(sessio__store_save(st, &k, &r, v, NOW, &v3), SESSIO_ECONFLICT);
  sessio_record got;
  int found = 0;
  CHECK_OK(sessio__store_load(st, &k, NOW, &got, &found));
  CHECK_INT(found, 1);
  CHECK_INT(got.version, v2);
  CHECK_INT(got.blob_len, 7);
  CHECK(got.blob && memcmp(got.blob, "changed", 7) == 0);
  CHECK_INT(got.expires_at, NOW + 2 * HOUR);
  CHECK_INT(got.touched_at, NOW + 5);
  sessio_record_clear(&got);
  CHECK_OK(sessio__store_save(st, &k, &r, v2, NOW, &v3));
  CHECK(v3 > v2);
}

static void test_save_of_missing_key_with_a_version_conflicts(void) {
  sessio_key k = fresh_key();
  sessio_record r = rec_of("x", 1, NULL, NOW, NOW + HOUR);
  uint64_t v = 0;
  CHECK_ERR(sessio__store_save(st, &k, &r, 1, NOW, &v), SESSIO_ECONFLICT);
  CHECK_INT(is_live(&k, NOW), 0);
}

/* Saves 'blob' under a fresh key and checks load returns it exactly. */
static void roundtrip(const uint8_t *blob, size_t len, const char *user) {
  sessio_key k = fresh_key();
  sessio_record r = rec_of(blob, len, user, NOW + 17, NOW + HOUR + 3);
  uint64_t v = 0;
  CHECK_OK(sessio__store_save(st, &k, &r, 0, NOW, &v));
  sessio_record got;
  int found = 0;
  CHECK_OK(sessio__store_load(st, &k, NOW, &got, &found));
  CHECK_INT(found, 1);
  CHECK_INT(got.version, v);
  CHECK_INT(got.blob_len, len);
  CHECK(got.blob_len != len || len == 0 || memcmp(got.blob, blob, len) == 0);
  CHECK_STR(got.user, user ? user : "");
  CHECK_INT(got.touched_at, NOW + 17);
  CHECK_INT(got.expires_at, NOW + HOUR + 3);
  sessio_record_clear(&got);
  CHECK(got.blob == NULL);
}

static void test_load_returns_exactly_the_saved_binary_blob(void) {
  uint8_t blob[512];
  for (size_t i = 0; i < sizeof blob; i++) blob[i] = (uint8_t)(i * 7);
  blob[0] = 0;
  blob[100] = 0;
  blob[sizeof blob - 1] = 0; /* NULs inside and at the end */
  roundtrip(blob, sizeof blob, uname("bin"));
}

static void test_load_returns_an_empty_blob(void) {
  roundtrip((const uint8_t *)"", 0, NULL);
}

static void test_load_returns_a_one_mebibyte_blob(void) {
  uint8_t *blob = malloc(MIB);
  CHECK(blob != NULL);
  if (!blob) return;
  randombytes_buf(blob, MIB);
  roundtrip(blob, MIB, uname("big"));
  free(blob);
}

static void test_user_of_maximal_length_round_trips(void) {
  char user[SESSIO_USER_MAX + 1];
  memset(user, 'u', SESSIO_USER_MAX);
  memcpy(user, run_hex, 32); /* unique per run */
  user[SESSIO_USER_MAX] = '\0';
  roundtrip((const uint8_t *)"b", 1, user);
}

/* ---- touch / remove ------------------------------------------------------ */

static void test_touch_changes_times_only(void) {
  sessio_key k = fresh_key();
  sessio_record r = rec_of("payload", 7, uname("t"), NOW, NOW + HOUR);
  uint64_t v = 0;
  int found = 0;
  CHECK_OK(sessio__store_save(st, &k, &r, 0, NOW, &v));
  CHECK_OK(sessio__store_touch(st, &k, NOW + 1000, NOW + 3 * HOUR, NOW + 1000,
                               &found));
  CHECK_INT(found, 1);
  sessio_record got;
  CHECK_OK(sessio__store_load(st, &k, NOW + 1000, &got, &found));
  CHECK_INT(found, 1);
  CHECK_INT(got.version, v); /* touch never changes the version */
  CHECK_INT(got.touched_at, NOW + 1000);
  CHECK_INT(got.expires_at, NOW + 3 * HOUR);
  CHECK_INT(got.blob_len, 7);
  CHECK(got.blob && memcmp(got.blob, "payload", 7) == 0);
  CHECK_STR(got.user, uname("t"));
  sessio_record_clear(&got);
  /* The version still works for a save after the touch. */
  uint64_t v2 = 0;
  CHECK_OK(sessio__store_save(st, &k, &r, v, NOW + 1000, &v2));
  CHECK(v2 > v);
}

static void test_touch_of_missing_key_is_not_found(void) {
  sessio_key k = fresh_key();
  int found = 7;
  CHECK_OK(sessio__store_touch(st, &k, NOW, NOW + HOUR, NOW, &found));
  CHECK_INT(found, 0);
  CHECK_INT(is_live(&k, NOW), 0); /* touch does not create */
}

static void test_remove_reports_removed_once(void) {
  sessio_key k = fresh_key();
  int removed = 7;
  create(&k, NOW + HOUR, NOW);
  CHECK_OK(sessio__store_remove(st, &k, NOW, &removed));
  CHECK_INT(removed, 1);
  CHECK_INT(is_live(&k, NOW), 0);
  CHECK_OK(sessio__store_remove(st, &k, NOW, &removed));
  CHECK_INT(removed, 0);
  /* A removed key can be created again. */
  CHECK(create(&k, NOW + HOUR, NOW) > 0);
  CHECK_INT(is_live(&k, NOW), 1);
}

static void test_remove_of_missing_key_is_not_an_error(void) {
  sessio_key k = fresh_key();
  int removed = 7;
  CHECK_OK(sessio__store_remove(st, &k, NOW, &removed));
  CHECK_INT(removed, 0);
}

/* ---- expiry edges (S13, S16): live while now < expires_at --------------- */

static void test_load_sees_record_dead_at_expires_at(void) {
  const int64_t T = NOW + HOUR;
  sessio_key k = fresh_key();
  create(&k, T, NOW);
  CHECK_INT(is_live(&k, T - 1), 1);
  CHECK_INT(is_live(&k, T), 0);
  CHECK_INT(is_live(&k, T + 1), 0);
}

static void test_touch_sees_record_dead_at_expires_at(void) {
  const int64_t T = NOW + HOUR;
  sessio_key k = fresh_key();
  int found = 0;
  create(&k, T, NOW);
  /* At T - 1 it is live: touch finds it (and keeps the expiry at T). */
  CHECK_OK(sessio__store_touch(st, &k, T - 1, T, T - 1, &found));
  CHECK_INT(found, 1);
  found = 7;
  CHECK_OK(sessio__store_touch(st, &k, T, T + HOUR, T, &found));
  CHECK_INT(found, 0);
  found = 7;
  CHECK_OK(sessio__store_touch(st, &k, T + 1, T + HOUR, T + 1, &found));
  CHECK_INT(found, 0);
  /* A touch of a dead record must not revive it. */
  CHECK_INT(is_live(&k, T + 2), 0);
}

static void test_save_sees_record_dead_at_expires_at(void) {
  const int64_t T = NOW + HOUR;
  sessio_key k = fresh_key();
  uint64_t v = create(&k, T, NOW), v2 = 0, v3 = 0;
  sessio_record r = rec_of("v2", 2, NULL, T - 1, T);
  CHECK_OK(sessio__store_save(st, &k, &r, v, T - 1, &v2)); /* live at T-1 */
  CHECK(v2 > v);
  CHECK_ERR(sessio__store_save(st, &k, &r, v2, T, &v3), SESSIO_ECONFLICT);
  CHECK_ERR(sessio__store_save(st, &k, &r, v2, T + 1, &v3), SESSIO_ECONFLICT);
  /* The conflicts wrote nothing: no revival with the new expiry. */
  CHECK_INT(is_live(&k, T), 0);
}

static void test_create_over_a_dead_record_succeeds(void) {
  const int64_t T = NOW + HOUR;
  sessio_key k = fresh_key();
  create(&k, T, NOW);
  sessio_record r = rec_of("new", 3, NULL, T, T + HOUR);
  uint64_t v = 0;
  CHECK_OK(sessio__store_save(st, &k, &r, 0, T, &v));
  CHECK(v > 0);
  sessio_record got;
  int found = 0;
  CHECK_OK(sessio__store_load(st, &k, T, &got, &found));
  CHECK_INT(found, 1);
  CHECK_INT(got.version, v);
  CHECK_INT(got.blob_len, 3);
  CHECK(got.blob && memcmp(got.blob, "new", 3) == 0);
  CHECK_INT(got.expires_at, T + HOUR);
  sessio_record_clear(&got);
}

static void test_create_over_a_dead_record_that_was_loaded_dead(void) {
  /* Same as above, but a load at T sees it dead first (a store may drop it
   * then): the create must still succeed. */
  const int64_t T = NOW + HOUR;
  sessio_key k = fresh_key();
  create(&k, T, NOW);
  CHECK_INT(is_live(&k, T), 0);
  CHECK(create(&k, T + HOUR, T) > 0);
  CHECK_INT(is_live(&k, T), 1);
}

/* ---- gc (S16) ------------------------------------------------------------ */

static void test_gc_is_bounded_and_removes_only_dead_records(void) {
  const int64_t t_gc = NOW + 2 * HOUR;
  enum { DEAD = 300, LIVE = 100, MAX_WORK = 10 };
  static sessio_key dead[DEAD], live[LIVE];
  size_t calls = 0;

  /* Finish the pass in progress and clear what earlier tests left dead at
   * t_gc, so the next pass starts at the cursor's beginning. */
  (void)gc_pass(t_gc, 1000, NULL);
  for (int i = 0; i < DEAD; i++) {
    dead[i] = fresh_key();
    create(&dead[i], NOW + HOUR + i, NOW);
  }
  for (int i = 0; i < LIVE; i++) {
    live[i] = fresh_key();
    create(&live[i], NOW + 3 * HOUR, NOW);
  }
  size_t removed = gc_pass(t_gc, MAX_WORK, &calls);
  CHECK_INT(removed, DEAD);
  /* At most 10 removed per call: at least 30 calls. (A store that walks
   * every record needs 40; one that finds the dead through an expiry
   * index, like sqlite, examines only the 300 dead ones.) */
  CHECK(calls >= DEAD / MAX_WORK);
  for (int i = 0; i < LIVE; i++) CHECK_INT(is_live(&live[i], t_gc), 1);
  for (int i = 0; i < DEAD; i++) CHECK_INT(is_live(&dead[i], t_gc), 0);
  /* A second pass finds nothing more. */
  CHECK_INT(gc_pass(t_gc, MAX_WORK, NULL), 0);
  for (int i = 0; i < LIVE; i++) {
    int r = 0;
    CHECK_OK(sessio__store_remove(st, &live[i], NOW, &r));
    CHECK_INT(r, 1);
  }
}

static void test_gc_with_zero_work_does_nothing(void) {
  sessio_key k = fresh_key();
  create(&k, NOW + 1, NOW);
  size_t removed = 0;
  int done = 0;
  CHECK_OK(sessio_store_gc(st, NOW + HOUR, 0, &removed, &done));
  CHECK_INT(removed, 0);
}

/* ---- collect and user_scan (version 4) ---------------------------------- */

static void check_list(const char *user, int64_t now, const sessio_key *want,
                       size_t nwant);

static int has_v4(sessio_store_methods const *m) { return m->version >= 4; }

enum { COL_DEAD = 24, COL_LIVE = 6 };
struct col_ctx {
  const sessio_key *dead, *live;
  _Atomic int seen_dead[COL_DEAD], seen_live[COL_LIVE];
  _Atomic int user_ok[COL_DEAD];
  _Atomic size_t reports;
};

static void col_cb(void *ud, const sessio_key *key, const char *user) {
  struct col_ctx *c = ud;
  atomic_fetch_add(&c->reports, 1);
  for (int i = 0; i < COL_DEAD; i++) {
    if (memcmp(c->dead[i].b, key->b, SESSIO_KEY_BYTES) != 0) continue;
    atomic_fetch_add(&c->seen_dead[i], 1);
    const char *want = i % 2 ? uname("collect") : "";
    if (user != NULL && strcmp(user, want) == 0)
      atomic_fetch_add(&c->user_ok[i], 1);
  }
  for (int i = 0; i < COL_LIVE; i++)
    if (memcmp(c->live[i].b, key->b, SESSIO_KEY_BYTES) == 0)
      atomic_fetch_add(&c->seen_live[i], 1);
}

struct col_thread {
  struct col_ctx *c;
  int64_t now;
  size_t removed;
  sessio_err rc;
};

/* Collect passes in steps of 3 until one is done. */
static void *col_run(void *arg) {
  struct col_thread *t = arg;
  int done = 0;
  for (int n = 0; !done && n < 1000000 && t->rc == SESSIO_OK; n++) {
    size_t r = 0;
    t->rc = st->methods->collect(st, t->now, 3, col_cb, t->c, &r, &done);
    t->removed += r;
  }
  return NULL;
}

/* collect removes what gc removes and names each removed record exactly
 * once, with the user of its header, even with two threads collecting at
 * once; live records are never named. */
static void test_collect_names_each_removed_record_once(void) {
  if (!has_v4(st->methods) || st->methods->collect == NULL) return;
  const int64_t t_gc = NOW + 2 * HOUR;
  static sessio_key dead[COL_DEAD], live[COL_LIVE];
  static struct col_ctx c;
  memset(&c, 0, sizeof c);
  c.dead = dead;
  c.live = live;
  (void)gc_pass(t_gc, 1000, NULL);
  for (int i = 0; i < COL_DEAD; i++) {
    dead[i] = fresh_key();
    sessio_record r =
        rec_of("col", 3, i % 2 ? uname("collect") : NULL, NOW, NOW + HOUR + i);
    uint64_t v;
    CHECK_OK(sessio__store_save(st, &dead[i], &r, 0, NOW, &v));
  }
  for (int i = 0; i < COL_LIVE; i++) {
    live[i] = fresh_key();
    sessio_record r = rec_of("col", 3, uname("collect"), NOW, NOW + 3 * HOUR);
    uint64_t v;
    CHECK_OK(sessio__store_save(st, &live[i], &r, 0, NOW, &v));
  }
  struct col_thread t[2] = {{&c, t_gc, 0, SESSIO_OK}, {&c, t_gc, 0, SESSIO_OK}};
  pthread_t th[2];
  for (int i = 0; i < 2; i++)
    CHECK(pthread_create(&th[i], NULL, col_run, &t[i]) == 0);
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
  CHECK_OK(t[0].rc);
  CHECK_OK(t[1].rc);
  for (int i = 0; i < COL_DEAD; i++) {
    CHECK_INT(atomic_load(&c.seen_dead[i]), 1);
    CHECK_INT(atomic_load(&c.user_ok[i]), 1);
    CHECK_INT(is_live(&dead[i], NOW), 0);
  }
  for (int i = 0; i < COL_LIVE; i++) {
    CHECK_INT(atomic_load(&c.seen_live[i]), 0);
    CHECK_INT(is_live(&live[i], t_gc), 1);
  }
  /* Every record counted in '*removed' was named, and no other. */
  CHECK_INT(atomic_load(&c.reports), t[0].removed + t[1].removed);
  for (int i = 0; i < COL_LIVE; i++) {
    int r;
    CHECK_OK(sessio__store_remove(st, &live[i], NOW, &r));
  }
}

struct us_ctx {
  const sessio_key *keys;
  const char *const *users;
  const int64_t *exp;
  int n;
  int seen[8], good[8];
  sessio_store_user_entry shown[8];
};

static int us_cb(void *ud, const sessio_store_user_entry *e) {
  struct us_ctx *c = ud;
  for (int i = 0; i < c->n; i++) {
    uint8_t h[SESSIO_STORE_USER_HASH_BYTES];
    sessio_store_user_hash(c->users[i], h);
    if (memcmp(c->keys[i].b, e->key.b, SESSIO_KEY_BYTES) != 0 ||
        memcmp(h, e->user_hash, sizeof h) != 0)
      continue;
    c->seen[i]++;
    c->shown[i] = *e;
    if ((e->user[0] == '\0' || strcmp(e->user, c->users[i]) == 0) &&
        e->expires_at == c->exp[i])
      c->good[i]++;
  }
  return 0;
}

static sessio_err user_scan_pass(size_t max_work, struct us_ctx *c,
                                 size_t *calls) {
  sessio_store_cursor cur = SESSIO_STORE_CURSOR_INIT;
  *calls = 0;
  for (;;) {
    sessio_store_cursor copy;
    int done = 0;
    memcpy(&copy, &cur, sizeof copy);
    sessio_err rc =
        st->methods->user_scan(st, &copy, max_work, us_cb, c, &done);
    if (rc != SESSIO_OK) return rc;
    memcpy(&cur, &copy, sizeof cur);
    ++*calls;
    if (done) return SESSIO_OK;
    if (*calls > 1000000) return SESSIO_EIO;
  }
}

/* user_scan shows every entry of the index in bounded steps: entries of a
 * live record, of a removed record, a dead entry, and the entries of a user
 * who has no live session; each shown entry can be removed: by name, or by
 * its digest (user_entry_remove) where the store shows no name. */
static void test_user_scan_shows_every_index_entry(void) {
  if (!has_v4(st->methods) || st->methods->user_scan == NULL) return;
  const char *a = uname("scan-a"), *b = uname("scan-b");
  char ua[SESSIO_USER_MAX + 1], ub[SESSIO_USER_MAX + 1];
  snprintf(ua, sizeof ua, "%s", a);
  snprintf(ub, sizeof ub, "%s", b);
  sessio_key k[4] = {fresh_key(), fresh_key(), fresh_key(), fresh_key()};
  const char *users[4] = {ua, ua, ub, ub};
  int64_t exp[4] = {NOW + HOUR, NOW + HOUR + 1, NOW + 2 * HOUR, NOW + HOUR};
  sessio_record r = rec_of("us", 2, ua, NOW, NOW + HOUR);
  uint64_t v;
  CHECK_OK(sessio__store_save(st, &k[0], &r, 0, NOW, &v)); /* a live one */
  for (int i = 0; i < 4; i++)
    CHECK_OK(sessio__store_user_add(st, users[i], &k[i], exp[i], NOW));
  struct us_ctx c = {k, users, exp, 4, {0}, {0}, {{{{0}}, 0, {0}, {0}}}};
  size_t calls = 0, calls_big = 0;
  CHECK_OK(user_scan_pass(1, &c, &calls));
  for (int i = 0; i < 4; i++) {
    CHECK(c.seen[i] >= 1);
    CHECK_INT(c.good[i], c.seen[i]);
  }
  struct us_ctx c2 = {k, users, exp, 4, {0}, {0}, {{{{0}}, 0, {0}, {0}}}};
  CHECK_OK(user_scan_pass(100000, &c2, &calls_big));
  for (int i = 0; i < 4; i++) CHECK(c2.seen[i] >= 1);
  if (!shared_store) CHECK(calls > calls_big);
  sessio_store_cursor bad;
  snprintf(bad.text, sizeof bad.text, "%s", "not a cursor at all");
  int done = 0;
  CHECK_ERR(st->methods->user_scan(st, &bad, 10, us_cb, &c, &done),
            SESSIO_EINVAL);
  /* Removing each entry as it was shown (by its digest alone where the
   * store shows no name). */
  for (int i = 0; i < 4; i++) {
    const sessio_store_user_entry *e = &c2.shown[i];
    if (e->user[0] != '\0') {
      CHECK_OK(st->methods->user_remove(st, e->user, &e->key));
    } else {
      CHECK(st->methods->user_entry_remove != NULL);
      if (st->methods->user_entry_remove != NULL)
        CHECK_OK(st->methods->user_entry_remove(st, e));
    }
  }
  check_list(ua, NOW, NULL, 0);
  check_list(ub, NOW, NULL, 0);
  struct us_ctx c3 = {k, users, exp, 4, {0}, {0}, {{{{0}}, 0, {0}, {0}}}};
  CHECK_OK(user_scan_pass(100000, &c3, &calls_big));
  for (int i = 0; i < 4; i++) CHECK_INT(c3.seen[i], 0);
  int rm;
  CHECK_OK(sessio__store_remove(st, &k[0], NOW, &rm));
}

struct sweep_ctx {
  int seen, removed;
  char last[256];
};

static void sweep_cb(void *ud, const char *what, const char *name,
                     int removed) {
  struct sweep_ctx *c = ud;
  c->seen++;
  c->removed += removed;
  snprintf(c->last, sizeof c->last, "%s: %s", what, name);
}

static sessio_err sweep_pass(int repair, struct sweep_ctx *c) {
  sessio_store_cursor cur = SESSIO_STORE_CURSOR_INIT;
  for (int calls = 0; calls < 1000000; calls++) {
    int done = 0;
    sessio_err rc = st->methods->sweep(st, &cur, 3, repair, sweep_cb, c, &done);
    if (rc != SESSIO_OK || done) return rc;
  }
  return SESSIO_EIO;
}

/* sweep walks in bounded steps and refuses a cursor it did not write; on
 * the file store it reports the temporary file of an interrupted first
 * write (no record beside it), and removes it only when asked. */
static void test_sweep_reports_leftovers_and_removes_them_on_repair(void) {
  if (!has_v4(st->methods) || st->methods->sweep == NULL) return;
  struct sweep_ctx c;
  memset(&c, 0, sizeof c);
  sessio_store_cursor bad;
  snprintf(bad.text, sizeof bad.text, "%s", "not a cursor at all");
  int done = 0;
  CHECK_ERR(st->methods->sweep(st, &bad, 10, 0, sweep_cb, &c, &done),
            SESSIO_EINVAL);
  if (strncmp(url, "file:", 5) != 0) {
    CHECK_OK(sweep_pass(0, &c));
    return;
  }
  /* A record written (its folder exists), and a crash's leftover beside
   * no record in that folder. */
  sessio_key k = fresh_key();
  create(&k, NOW + HOUR, NOW);
  char hex[2 * SESSIO_KEY_BYTES + 1], path[4200];
  for (int i = 0; i < SESSIO_KEY_BYTES; i++)
    sprintf(hex + 2 * i, "%02x", k.b[i]);
  size_t dl = strcspn(url + 5, "?");
  hex[63] = hex[63] == '0' ? '1' : '0'; /* a neighbour key: no record */
  snprintf(path, sizeof path, "%.*s/%.2s/%.2s/.%s.tmp", (int)dl, url + 5, hex,
           hex + 2, hex);
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (f == NULL) return;
  fputs("half", f);
  fclose(f);
  memset(&c, 0, sizeof c);
  CHECK_OK(sweep_pass(0, &c));
  CHECK_INT(c.seen, 1);
  CHECK_INT(c.removed, 0);
  CHECK(access(path, F_OK) == 0);
  memset(&c, 0, sizeof c);
  CHECK_OK(sweep_pass(1, &c));
  CHECK_INT(c.seen, 1);
  CHECK_INT(c.removed, 1);
  CHECK(access(path, F_OK) != 0);
  CHECK_INT(is_live(&k, NOW), 1); /* the record beside it is untouched */
  int rm;
  CHECK_OK(sessio__store_remove(st, &k, NOW, &rm));
}

/* ---- user index (S18) ---------------------------------------------------- */

static int key_in(const sessio_key *k, const sessio_key *keys, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (memcmp(keys[i].b, k->b, SESSIO_KEY_BYTES) == 0) return 1;
  return 0;
}

/* Lists 'user' at 'now' and checks the result is exactly 'want'. */
static void check_list(const char *user, int64_t now, const sessio_key *want,
                       size_t nwant) {
  sessio_key *keys = NULL;
  size_t n = 99;
  CHECK_OK(sessio__store_user_list(st, user, now, &keys, &n));
  CHECK_INT(n, nwant);
  for (size_t i = 0; i < nwant; i++) CHECK(key_in(&want[i], keys, n));
  free(keys);
}

static void test_user_index_add_list_remove(void) {
  const char *u = uname("alice");
  sessio_key k[3] = {fresh_key(), fresh_key(), fresh_key()};
  for (int i = 0; i < 3; i++) create(&k[i], NOW + HOUR, NOW);
  check_list(u, NOW, NULL, 0);
  for (int i = 0; i < 3; i++)
    CHECK_OK(sessio__store_user_add(st, u, &k[i], NOW + HOUR, NOW));
  check_list(u, NOW, k, 3);
  /* Adding the same pair twice keeps one. */
  CHECK_OK(sessio__store_user_add(st, u, &k[0], NOW + HOUR, NOW));
  check_list(u, NOW, k, 3);
  CHECK_OK(sessio__store_user_remove(st, u, &k[1]));
  sessio_key rest[2] = {k[0], k[2]};
  check_list(u, NOW, rest, 2);
  /* Removing a missing pair is fine. */
  CHECK_OK(sessio__store_user_remove(st, u, &k[1]));
  CHECK_OK(sessio__store_user_remove(st, uname("nobody"), &k[1]));
  CHECK_OK(sessio__store_user_remove(st, u, &k[0]));
  CHECK_OK(sessio__store_user_remove(st, u, &k[2]));
  check_list(u, NOW, NULL, 0);
}

static void test_user_list_returns_only_live_pairs(void) {
  const char *u = uname("bob");
  sessio_key a = fresh_key(), b = fresh_key();
  CHECK_OK(sessio__store_user_add(st, u, &a, NOW + HOUR, NOW));
  CHECK_OK(sessio__store_user_add(st, u, &b, NOW + 2 * HOUR, NOW));
  check_list(u, NOW + HOUR - 1, (sessio_key[]){a, b}, 2);
  check_list(u, NOW + HOUR, &b, 1); /* a's pair expired at NOW + HOUR */
  check_list(u, NOW + 2 * HOUR, NULL, 0);
  /* An expired pair may have been dropped by that list: adding it again
   * with a later expiry brings it back. */
  CHECK_OK(sessio__store_user_add(st, u, &b, NOW + 3 * HOUR, NOW));
  check_list(u, NOW + 2 * HOUR, &b, 1);
  CHECK_OK(sessio__store_user_remove(st, u, &a));
  CHECK_OK(sessio__store_user_remove(st, u, &b));
}

static void test_users_are_kept_apart(void) {
  const char *u1 = uname("carol"), *u2 = uname("dave"), *u3 = uname("carol2");
  sessio_key k1 = fresh_key(), k2 = fresh_key(), k3 = fresh_key();
  CHECK_OK(sessio__store_user_add(st, u1, &k1, NOW + HOUR, NOW));
  CHECK_OK(sessio__store_user_add(st, u2, &k2, NOW + HOUR, NOW));
  CHECK_OK(sessio__store_user_add(st, u2, &k3, NOW + HOUR, NOW));
  check_list(u1, NOW, &k1, 1);
  check_list(u2, NOW, (sessio_key[]){k2, k3}, 2);
  check_list(u3, NOW, NULL, 0);
  CHECK_OK(sessio__store_user_remove(st, u1, &k2)); /* not u1's: no effect */
  check_list(u2, NOW, (sessio_key[]){k2, k3}, 2);
  CHECK_OK(sessio__store_user_remove(st, u1, &k1));
  CHECK_OK(sessio__store_user_remove(st, u2, &k2));
  CHECK_OK(sessio__store_user_remove(st, u2, &k3));
}

static void test_user_add_again_moves_the_expiry(void) {
  const char *u = uname("erin");
  sessio_key k = fresh_key();
  CHECK_OK(sessio__store_user_add(st, u, &k, NOW + HOUR, NOW));
  check_list(u, NOW + 2 * HOUR, NULL, 0);
  CHECK_OK(sessio__store_user_add(st, u, &k, NOW + 3 * HOUR, NOW)); /* later */
  check_list(u, NOW + 2 * HOUR, &k, 1);
  CHECK_OK(sessio__store_user_add(st, u, &k, NOW + HOUR, NOW)); /* earlier */
  check_list(u, NOW, &k, 1);
  check_list(u, NOW + 2 * HOUR, NULL, 0);
  CHECK_OK(sessio__store_user_remove(st, u, &k));
}

/* A store never reads a clock: records and index entries live by the 'now'
 * each call is given, even thirty days before or after the real time (a
 * store that looked at its own clock would find the past ones dead and
 * keep the future ones too long). */
static void test_expiry_follows_the_given_now_not_a_clock(void) {
  const int64_t month = 30 * 24 * HOUR;
  const int64_t at[2] = {NOW - month, NOW + month};
  for (int i = 0; i < 2; i++) {
    const int64_t t = at[i];
    const char *u = uname(i ? "ivan" : "judy");
    sessio_key k = fresh_key();
    CHECK(create(&k, t + HOUR, t) > 0);
    CHECK_OK(sessio__store_user_add(st, u, &k, t + HOUR, t));
    check_list(u, t, &k, 1);
    check_list(u, t + HOUR - 1, &k, 1);
    CHECK_INT(is_live(&k, t + HOUR - 1), 1);
    CHECK_INT(is_live(&k, t + HOUR), 0);
    check_list(u, t + HOUR, NULL, 0);
    int removed = 0;
    CHECK_OK(sessio__store_remove(st, &k, t + HOUR, &removed));
    CHECK_OK(sessio__store_user_remove(st, u, &k));
    check_list(u, t, NULL, 0);
  }
}

static void test_user_index_tolerates_stale_pairs(void) {
  /* The index may name records that are gone; the caller checks each key
   * with load and removes the pair ("repaired on read"). */
  const char *u = uname("frank");
  sessio_key gone = fresh_key(), kept = fresh_key();
  create(&gone, NOW + HOUR, NOW);
  create(&kept, NOW + HOUR, NOW);
  CHECK_OK(sessio__store_user_add(st, u, &gone, NOW + HOUR, NOW));
  CHECK_OK(sessio__store_user_add(st, u, &kept, NOW + HOUR, NOW));
  int removed = 0;
  CHECK_OK(sessio__store_remove(st, &gone, NOW, &removed));
  CHECK_INT(removed, 1);
  sessio_key *keys = NULL;
  size_t n = 0;
  CHECK_OK(sessio__store_user_list(st, u, NOW, &keys, &n));
  CHECK(key_in(&kept, keys, n));
  CHECK(n <= 2);
  for (size_t i = 0; i < n; i++) { /* repair */
    if (is_live(&keys[i], NOW) == 0)
      CHECK_OK(sessio__store_user_remove(st, u, &keys[i]));
  }
  free(keys);
  check_list(u, NOW, &kept, 1);
  CHECK_OK(sessio__store_user_remove(st, u, &kept));
}

static void test_user_index_handles_many_keys_per_user(void) {
  enum { N = 200 };
  const char *u = uname("grace");
  static sessio_key k[N];
  for (int i = 0; i < N; i++) {
    k[i] = fresh_key();
    CHECK_OK(sessio__store_user_add(st, u, &k[i], NOW + HOUR + i, NOW));
  }
  check_list(u, NOW, k, N);
  for (int i = 0; i < N; i += 2)
    CHECK_OK(sessio__store_user_remove(st, u, &k[i]));
  sessio_key odd[N / 2];
  for (int i = 0; i < N / 2; i++) odd[i] = k[2 * i + 1];
  check_list(u, NOW, odd, N / 2);
  /* Half of the odd ones have expired at NOW + HOUR + N / 2. */
  check_list(u, NOW + HOUR + N / 2, odd + N / 4, N / 4);
  for (int i = 1; i < N; i += 2)
    CHECK_OK(sessio__store_user_remove(st, u, &k[i]));
  check_list(u, NOW, NULL, 0);
}

/* ---- iterate and stats --------------------------------------------------- */

struct iter_ctx {
  const sessio_key *keys;
  size_t n;
  int seen[8];
  int bad_blob;
};

static int iter_cb(void *ud, const sessio_key *key, const sessio_record *rec) {
  struct iter_ctx *c = ud;
  for (size_t i = 0; i < c->n; i++) {
    if (memcmp(c->keys[i].b, key->b, SESSIO_KEY_BYTES) == 0) {
      c->seen[i]++;
      if (rec->blob_len != 2 || memcmp(rec->blob, "it", 2) != 0) c->bad_blob++;
    }
  }
  return 0;
}

static void test_iterate_sees_live_records_only(void) {
  const int64_t T = NOW + HOUR;
  sessio_key k[5];
  for (int i = 0; i < 5; i++) {
    k[i] = fresh_key();
    sessio_record r = rec_of("it", 2, NULL, NOW, i < 3 ? T + HOUR : T);
    uint64_t v;
    CHECK_OK(sessio__store_save(st, &k[i], &r, 0, NOW, &v));
  }
  struct iter_ctx c = {k, 5, {0}, 0};
  sessio_err rc = sessio__store_iterate(st, T, iter_cb, &c);
  if (rc == SESSIO_ENOTSUP) return; /* optional method */
  CHECK_OK(rc);
  for (int i = 0; i < 3; i++) CHECK_INT(c.seen[i], 1);
  for (int i = 3; i < 5; i++) CHECK_INT(c.seen[i], 0);
  CHECK_INT(c.bad_blob, 0);
  for (int i = 0; i < 5; i++) {
    int r;
    CHECK_OK(sessio__store_remove(st, &k[i], NOW, &r));
  }
}

static int stop_cb(void *ud, const sessio_key *key, const sessio_record *rec) {
  (void)key;
  (void)rec;
  ++*(int *)ud;
  return 1;
}

static void test_iterate_stops_when_the_callback_says_so(void) {
  sessio_key k[3] = {fresh_key(), fresh_key(), fresh_key()};
  for (int i = 0; i < 3; i++) create(&k[i], NOW + HOUR, NOW);
  int calls = 0;
  sessio_err rc = sessio__store_iterate(st, NOW, stop_cb, &calls);
  if (rc == SESSIO_ENOTSUP) return;
  CHECK_OK(rc);
  CHECK_INT(calls, 1);
}

/* A full scan pass in steps of 'max_work', through a cursor copied as
 * text between calls (as a tool resuming later would); counts the calls. */
static sessio_err scan_pass(size_t max_work, struct iter_ctx *c,
                            size_t *calls) {
  sessio_store_cursor cur = SESSIO_STORE_CURSOR_INIT;
  *calls = 0;
  for (;;) {
    sessio_store_cursor copy;
    int done = 0;
    memcpy(&copy, &cur, sizeof copy);
    sessio_err rc = st->methods->scan(st, &copy, max_work, iter_cb, c, &done);
    if (rc != SESSIO_OK) return rc;
    memcpy(&cur, &copy, sizeof cur);
    ++*calls;
    if (done) return SESSIO_OK;
    if (*calls > 1000000) return SESSIO_EIO;
  }
}

static void test_scan_visits_every_record_in_bounded_steps(void) {
  if (st->methods->version < 3 || st->methods->scan == NULL) return;
  const int64_t T = NOW + HOUR;
  sessio_key k[8];
  for (int i = 0; i < 8; i++) {
    k[i] = fresh_key();
    sessio_record r = rec_of("it", 2, i % 2 ? "u" : NULL, NOW, T + HOUR);
    uint64_t v;
    CHECK_OK(sessio__store_save(st, &k[i], &r, 0, NOW, &v));
  }
  size_t calls = 0, calls_big = 0;
  struct iter_ctx c = {k, 8, {0}, 0};
  CHECK_OK(scan_pass(2, &c, &calls));
  for (int i = 0; i < 8; i++) CHECK(c.seen[i] >= 1);
  CHECK_INT(c.bad_blob, 0);
  struct iter_ctx c2 = {k, 8, {0}, 0};
  CHECK_OK(scan_pass(100000, &c2, &calls_big));
  for (int i = 0; i < 8; i++) CHECK(c2.seen[i] >= 1);
  /* Bounded: a small step takes more calls than one large step. */
  if (!shared_store) CHECK(calls > calls_big);
  /* A cursor the store did not write is refused, not a crash. */
  sessio_store_cursor bad;
  snprintf(bad.text, sizeof bad.text, "%s", "not a cursor at all");
  int done = 0;
  CHECK_ERR(st->methods->scan(st, &bad, 10, iter_cb, &c, &done), SESSIO_EINVAL);
  for (int i = 0; i < 8; i++) {
    int r;
    CHECK_OK(sessio__store_remove(st, &k[i], NOW, &r));
  }
}

/* Scan shows records as stored: the user and times are the saved ones, and
 * a dead record not yet collected may be seen (its expires_at tells). */
struct scan_one {
  sessio_key key;
  int seen;
  sessio_record rec;
};

static int scan_one_cb(void *ud, const sessio_key *key,
                       const sessio_record *rec) {
  struct scan_one *o = ud;
  if (memcmp(o->key.b, key->b, SESSIO_KEY_BYTES) == 0) {
    o->seen++;
    o->rec = *rec;
    o->rec.blob = NULL;
  }
  return 0;
}

static void test_scan_shows_records_as_stored(void) {
  if (st->methods->version < 3 || st->methods->scan == NULL) return;
  struct scan_one o;
  memset(&o, 0, sizeof o);
  o.key = fresh_key();
  sessio_record r = rec_of("stored", 6, uname("scan"), NOW + 5, NOW + HOUR);
  uint64_t v;
  CHECK_OK(sessio__store_save(st, &o.key, &r, 0, NOW, &v));
  sessio_store_cursor cur = SESSIO_STORE_CURSOR_INIT;
  int done = 0;
  while (!done)
    CHECK_OK(st->methods->scan(st, &cur, 50, scan_one_cb, &o, &done));
  CHECK(o.seen >= 1);
  CHECK_STR(o.rec.user, uname("scan"));
  CHECK_INT(o.rec.expires_at, NOW + HOUR);
  CHECK_INT(o.rec.touched_at, NOW + 5);
  CHECK_INT(o.rec.version, v);
  int rm;
  CHECK_OK(sessio__store_remove(st, &o.key, NOW, &rm));
}

static void test_stats_count_sessions_and_expiry(void) {
  struct sessio_store_stats s0, s1, s2, s3;
  sessio_err rc = sessio_store_stats(st, &s0);
  if (rc == SESSIO_ENOTSUP) return;
  CHECK_OK(rc);
  if (shared_store && strncmp(url, "redis", 5) == 0) return; /* others' keys */
  const int64_t T = NOW + 4 * HOUR;
  (void)gc_pass(T, 1000, NULL); /* nothing dead at T is left over */
  CHECK_OK(sessio_store_stats(st, &s0));
  sessio_key k[5];
  for (int i = 0; i < 5; i++) {
    k[i] = fresh_key();
    create(&k[i], i < 2 ? T : T + HOUR, NOW);
  }
  CHECK_OK(sessio_store_stats(st, &s1));
  if (s1.sessions != 0) CHECK_INT(s1.sessions, s0.sessions + 5);
  if (s1.bytes != 0) CHECK(s1.bytes > s0.bytes);
  int removed = 0;
  CHECK_OK(sessio__store_remove(st, &k[4], NOW, &removed));
  CHECK_OK(sessio_store_stats(st, &s2));
  if (s2.sessions != 0) CHECK_INT(s2.sessions, s0.sessions + 4);
  CHECK_INT(gc_pass(T, 1000, NULL), 2);
  CHECK_OK(sessio_store_stats(st, &s3));
  if (s3.sessions != 0 || s2.sessions != 0)
    CHECK_INT(s3.sessions, s0.sessions + 2);
  if (s3.expired != 0) CHECK_INT(s3.expired, s0.expired + 2);
  CHECK_INT(s3.evicted, s0.evicted);
  for (int i = 2; i < 4; i++)
    CHECK_OK(sessio__store_remove(st, &k[i], NOW, &removed));
}

/* ---- concurrency --------------------------------------------------------- */

/* Overridable: the allocation-failure sweep (tests/alloc) runs fewer. */
#ifndef CONFORMANCE_THREADS
#define CONFORMANCE_THREADS 8
#endif
#ifndef CONFORMANCE_INCREMENTS
#define CONFORMANCE_INCREMENTS 200
#endif
enum { THREADS = CONFORMANCE_THREADS, INCREMENTS = CONFORMANCE_INCREMENTS };

/* One compare-and-set increment of the counter in 'k''s blob. Returns
 * SESSIO_OK, or the error that stopped it. */
static sessio_err cas_increment(sessio_store *s, const sessio_key *k,
                                uint64_t *conflicts) {
  for (int tries = 0; tries < 1000000; tries++) {
    sessio_record r;
    int found = 0;
    sessio_err rc = sessio__store_load(s, k, NOW, &r, &found);
    if (rc != SESSIO_OK) return rc;
    if (!found || r.blob_len != 8) {
      sessio_record_clear(&r);
      return SESSIO_ECORRUPT;
    }
    uint64_t n, v = 0;
    memcpy(&n, r.blob, 8);
    n++;
    memcpy(r.blob, &n, 8);
    rc = sessio__store_save(s, k, &r, r.version, NOW, &v);
    sessio_record_clear(&r);
    if (rc == SESSIO_OK) return SESSIO_OK;
    if (rc != SESSIO_ECONFLICT) return rc;
    ++*conflicts;
  }
  return SESSIO_EBUSY;
}

struct cas_ctx {
  sessio_key key;
  sessio_err err;
  uint64_t conflicts;
};

static void *cas_thread(void *arg) {
  struct cas_ctx *c = arg;
  for (int i = 0; i < INCREMENTS && c->err == SESSIO_OK; i++)
    c->err = cas_increment(st, &c->key, &c->conflicts);
  return NULL;
}

static uint64_t counter_of(const sessio_key *k) {
  sessio_record r;
  int found = 0;
  uint64_t n = 0;
  CHECK_OK(sessio__store_load(st, k, NOW, &r, &found));
  CHECK_INT(found, 1);
  CHECK_INT(r.blob_len, 8);
  if (found && r.blob_len == 8) memcpy(&n, r.blob, 8);
  sessio_record_clear(&r);
  return n;
}

static void test_concurrent_compare_and_set_loses_no_increment(void) {
  sessio_key k = fresh_key();
  uint64_t zero = 0, v;
  sessio_record r = rec_of(&zero, 8, NULL, NOW, NOW + HOUR);
  CHECK_OK(sessio__store_save(st, &k, &r, 0, NOW, &v));
  pthread_t th[THREADS];
  struct cas_ctx c[THREADS];
  uint64_t conflicts = 0;
  for (int i = 0; i < THREADS; i++) {
    c[i] = (struct cas_ctx){k, SESSIO_OK, 0};
    CHECK_INT(pthread_create(&th[i], NULL, cas_thread, &c[i]), 0);
  }
  for (int i = 0; i < THREADS; i++) {
    pthread_join(th[i], NULL);
    CHECK_OK(c[i].err);
    conflicts += c[i].conflicts;
  }
  CHECK_INT(counter_of(&k), THREADS * INCREMENTS);
  printf("# %d CAS increments, %" PRIu64 " conflicts retried\n",
         THREADS * INCREMENTS, conflicts);
}

struct disjoint_ctx {
  int failures;
  sessio_err err;
};

static void *disjoint_thread(void *arg) {
  struct disjoint_ctx *c = arg;
  enum { N = 50 };
  sessio_key k[N];
  uint64_t ver[N];
  char blob[32];
  for (int i = 0; i < N; i++) {
    k[i] = fresh_key();
    int len = snprintf(blob, sizeof blob, "rec-%d", i);
    sessio_record r = rec_of(blob, (size_t)len, NULL, NOW, NOW + HOUR);
    sessio_err rc = sessio__store_save(st, &k[i], &r, 0, NOW, &ver[i]);
    if (rc != SESSIO_OK) c->err = rc;
  }
  for (int i = 0; i < N; i++) {
    int len = snprintf(blob, sizeof blob, "upd-%d", i);
    sessio_record r = rec_of(blob, (size_t)len, NULL, NOW, NOW + HOUR);
    uint64_t v;
    sessio_err rc = sessio__store_save(st, &k[i], &r, ver[i], NOW, &v);
    if (rc != SESSIO_OK) c->err = rc;
  }
  for (int i = 0; i < N; i++) {
    sessio_record r;
    int found = 0;
    int len = snprintf(blob, sizeof blob, "upd-%d", i);
    sessio_err rc = sessio__store_load(st, &k[i], NOW, &r, &found);
    if (rc != SESSIO_OK) c->err = rc;
    if (!found || r.blob_len != (size_t)len || memcmp(r.blob, blob, len) != 0)
      c->failures++;
    sessio_record_clear(&r);
    int removed = 0;
    rc = sessio__store_remove(st, &k[i], NOW, &removed);
    if (rc != SESSIO_OK) c->err = rc;
    if (!removed) c->failures++;
  }
  return NULL;
}

static void test_threads_on_disjoint_keys_do_not_interfere(void) {
  pthread_t th[THREADS];
  struct disjoint_ctx c[THREADS];
  for (int i = 0; i < THREADS; i++) {
    c[i] = (struct disjoint_ctx){0, SESSIO_OK};
    CHECK_INT(pthread_create(&th[i], NULL, disjoint_thread, &c[i]), 0);
  }
  for (int i = 0; i < THREADS; i++) {
    pthread_join(th[i], NULL);
    CHECK_OK(c[i].err);
    CHECK_INT(c[i].failures, 0);
  }
}

/* Two processes, each with its own handle on the store, increment one
 * counter by compare-and-set: only meaningful for shared stores. */
static void test_processes_compare_and_set_loses_no_increment(void) {
  enum { CHILDREN = 2, PER_CHILD = 100 };
  /* a store that keeps its file to one handle has no second process */
  if (!shared_store || strstr(url, "locking=exclusive") != NULL) return;
  sessio_key k = fresh_key();
  uint64_t zero = 0, v;
  sessio_record r = rec_of(&zero, 8, NULL, NOW, NOW + HOUR);
  CHECK_OK(sessio__store_save(st, &k, &r, 0, NOW, &v));
  fflush(NULL);
  pid_t pid[CHILDREN];
  for (int i = 0; i < CHILDREN; i++) {
    pid[i] = fork();
    CHECK(pid[i] >= 0);
    if (pid[i] == 0) {
      sessio_store *mine = NULL;
      int code = 0;
      uint64_t conflicts = 0;
      if (sessio_store_open(url, &mine) != SESSIO_OK) _exit(2);
      for (int j = 0; j < PER_CHILD; j++) {
        sessio_err rc = cas_increment(mine, &k, &conflicts);
        if (rc != SESSIO_OK) {
          fprintf(stderr, "  child: %s\n", sessio_errname(rc));
          code = 3;
          break;
        }
      }
      sessio_store_close(mine);
      _exit(code);
    }
  }
  for (int i = 0; i < CHILDREN; i++) {
    int status = 0;
    if (pid[i] <= 0) continue;
    CHECK_INT(waitpid(pid[i], &status, 0), pid[i]);
    CHECK(WIFEXITED(status));
    CHECK_INT(WEXITSTATUS(status), 0);
  }
  CHECK_INT(counter_of(&k), CHILDREN * PER_CHILD);
}

/* ---- driver -------------------------------------------------------------- */

/* ---- session rules that touch the store ---------------------------------- */

/* A manager on the store under test with the secret 'cur' (NULL: none) and
 * the previous secret 'prev' (NULL: none). */
static sessio_manager *manager(const char *cur, const char *prev) {
  sessio_config *cfg;
  sessio_manager *m = NULL;
  if (sessio_config_new(&cfg) != SESSIO_OK) abort();
  CHECK_OK(sessio_config_set_store(cfg, st));
  if (cur) CHECK_OK(sessio_config_set_secret(cfg, cur, strlen(cur)));
  if (prev)
    CHECK_OK(sessio_config_add_previous_secret(cfg, prev, strlen(prev)));
  CHECK_OK(sessio_manager_new(cfg, &m));
  sessio_config_free(cfg);
  return m;
}

/* The session of 'cookie' ("sid=ID") under 'm' at 'now': its cart.A1, or
 * -1 when there is none. */
static int64_t cart_of(sessio_manager *m, const char *cookie, int64_t now) {
  const char *h[1] = {cookie};
  sessio *s = NULL;
  int64_t v = -1;
  CHECK_OK(sessio_begin(m, h, 1, 0, now, &s));
  if (s && !sessio_get_int(s, "cart.A1", &v)) v = -1;
  sessio_free(s);
  return v;
}

/* S32: a session written under a previous secret is re-keyed under the
 * current one at its next commit: served, the same ID, one copy left,
 * concurrent commits merged, the user index following. */
static void test_rekey_under_a_new_secret_moves_the_record_S32(void) {
  char s1[40], s2[40], cookie[128];
  snprintf(s1, sizeof s1, "old-%.20s", run_hex);
  snprintf(s2, sizeof s2, "new-%.20s", run_hex);
  sessio_manager *old = manager(s1, NULL), *both = manager(s2, s1),
                 *next = manager(s2, NULL);
  const char *user = uname("rekey");
  int64_t t = NOW;
  sessio *s = NULL, *a = NULL, *b = NULL;
  CHECK_OK(sessio_begin(old, NULL, 0, 0, t, &s));
  CHECK_OK(sessio_incr(s, "cart.A1", 2, NULL));
  CHECK_OK(sessio_login(s, user, 0, t));
  CHECK_OK(sessio_commit(s, t));
  const char *sc = sessio_cookie_header(s);
  snprintf(cookie, sizeof cookie, "%.*s", (int)strcspn(sc, ";"), sc);
  sessio_free(s);
  CHECK_INT(cart_of(next, cookie, t + 1), -1);

  const char *h[1] = {cookie};
  CHECK_OK(sessio_begin(both, h, 1, 0, t + 10, &a));
  CHECK_OK(sessio_begin(both, h, 1, 0, t + 10, &b));
  CHECK_OK(sessio_incr(a, "cart.A1", 1, NULL));
  CHECK_OK(sessio_incr(b, "cart.A1", 10, NULL));
  CHECK_OK(sessio_commit(a, t + 20));
  CHECK_OK(sessio_commit(b, t + 30));
  CHECK(sessio_cookie_header(a) == NULL && sessio_cookie_header(b) == NULL);
  sessio_free(a);
  sessio_free(b);
  CHECK_INT(cart_of(next, cookie, t + 40), 13);
  CHECK_INT(cart_of(old, cookie, t + 40), -1); /* no second live copy */
  sessio_session_info *list = NULL;
  size_t n = 0;
  CHECK_OK(sessio_manager_user_sessions(next, user, t + 50, &list, &n));
  CHECK_INT(n, 1);
  free(list);
  size_t revoked = 0;
  CHECK_OK(sessio_manager_revoke_all(next, user, NULL, t + 60, &revoked));
  CHECK_INT(revoked, 1);
  sessio_manager_free(old);
  sessio_manager_free(both);
  sessio_manager_free(next);
}

/* ---- the guest bound (max_sessions) --------------------------------------- */

/* The store's URL with "max_sessions=N" and a namespace of its own, so the
 * records of the other cases do not count: a sibling folder or database
 * file (file:, sqlite:), a prefix (redis), a table (postgres). Parameters
 * naming the namespace or a bound are dropped from the original query. */
static void bounded_url(unsigned n, char *out, size_t cap) {
  char base[4096], query[4096] = "";
  const char *q = strchr(url, '?');
  size_t bl = q ? (size_t)(q - url) : strlen(url);
  snprintf(base, sizeof base, "%.*s", (int)bl, url);
  for (const char *p = q ? q + 1 : NULL; p && *p;) {
    size_t l = strcspn(p, "&");
    if (strncmp(p, "prefix=", 7) && strncmp(p, "table=", 6) &&
        strncmp(p, "max_sessions=", 13) && strncmp(p, "max_bytes=", 10))
      snprintf(query + strlen(query), sizeof query - strlen(query), "%.*s&",
               (int)l, p);
    p += l + (p[l] == '&');
  }
  if (strncmp(url, "file:", 5) == 0 || strncmp(url, "sqlite:", 7) == 0)
    snprintf(base + bl, sizeof base - bl, "-bound-%.8s", run_hex);
  else if (strncmp(url, "redis", 5) == 0)
    snprintf(query + strlen(query), sizeof query - strlen(query),
             "prefix=bound-%.16s&", run_hex);
  else if (strncmp(url, "postgres", 8) == 0)
    snprintf(query + strlen(query), sizeof query - strlen(query),
             "table=bound_%.16s&", run_hex);
  snprintf(out, cap, "%s?%smax_sessions=%u", base, query, n);
}

static sessio_err put_in(sessio_store *b, const sessio_key *k, const char *user,
                         int64_t expires_at, int64_t now) {
  static const char blob[] = "bounded";
  sessio_record r = rec_of(blob, sizeof blob, user, now, expires_at);
  uint64_t v = 0;
  return sessio__store_save(b, k, &r, 0, now, &v);
}

static int live_in(sessio_store *b, const sessio_key *k, int64_t now) {
  sessio_record r;
  int found = 0;
  CHECK_OK(sessio__store_load(b, k, now, &r, &found));
  sessio_record_clear(&r);
  return found;
}

/* S29: with max_sessions=N a store holds at most N live guest sessions: a
 * new guest past the bound is refused with SESSIO_EFULL and nothing is
 * written (the memory store may instead evict another guest), while a
 * signed-in create, updates and touches of stored sessions always succeed.
 * Dead records leave the count (at the latest after a gc pass) and so do
 * removed ones. */
static void test_bound_refuses_new_guests_never_signed_in_ones_S29(void) {
  enum { N = 4 };
  char burl[8300];
  sessio_store *b = NULL;
  bounded_url(N, burl, sizeof burl);
  CHECK_OK(sessio_store_open(burl, &b));
  if (b == NULL) return;
  int evicts = strcmp(sessio_store_name(b), "memory") == 0;
  int64_t t = NOW, t2 = NOW + 2 * HOUR + 1;
  sessio_key g[N + 2], u = fresh_key(), late[N + 1];
  int ok = 0, live = 0;
  for (int i = 0; i < N + 2; i++) {
    g[i] = fresh_key();
    sessio_err rc = put_in(b, &g[i], NULL, t + HOUR, t);
    CHECK(rc == SESSIO_OK || rc == SESSIO_EFULL);
    if (rc == SESSIO_EFULL) CHECK_INT(live_in(b, &g[i], t), 0);
    CHECK(i < N ? rc == SESSIO_OK : (evicts || rc == SESSIO_EFULL));
    ok += rc == SESSIO_OK;
  }
  for (int i = 0; i < N + 2; i++) live += live_in(b, &g[i], t);
  CHECK(live <= N);
  CHECK(ok >= N);
  /* Full of guests: a user still gets in, and stays. */
  CHECK_OK(put_in(b, &u, uname("bounded"), t + 3 * HOUR, t));
  sessio_err rc = put_in(b, &g[0], NULL, t + HOUR, t + 1);
  CHECK(rc == SESSIO_ECONFLICT || rc == SESSIO_EFULL || evicts);
  sessio_key extra = fresh_key();
  rc = put_in(b, &extra, NULL, t + HOUR, t + 1);
  CHECK(rc == SESSIO_EFULL || (evicts && rc == SESSIO_OK));
  CHECK_INT(live_in(b, &u, t + 2), 1);
  /* Stored sessions are updated and touched whatever the bound. */
  sessio_record r;
  int found = 0;
  CHECK_OK(sessio__store_load(b, &u, t + 3, &r, &found));
  if (found) {
    uint64_t v = 0;
    r.touched_at = t + 3;
    CHECK_OK(sessio__store_save(b, &u, &r, r.version, t + 3, &v));
  }
  sessio_record_clear(&r);
  CHECK_OK(sessio__store_touch(b, &u, t + 4, t + 3 * HOUR, t + 4, &found));
  CHECK_INT(found, 1);
  /* Once the guests are dead (and a gc pass ran), there is room again: the
   * user counts, N - 1 guests get in, the next is refused. */
  for (;;) {
    size_t removed = 0;
    int done = 0;
    rc = sessio_store_gc(b, t2, 1000, &removed, &done);
    CHECK_OK(rc);
    if (rc != SESSIO_OK || done) break;
  }
  ok = 0;
  for (int i = 0; i < N + 1; i++) {
    late[i] = fresh_key();
    rc = put_in(b, &late[i], NULL, t2 + HOUR, t2);
    CHECK(rc == SESSIO_OK || rc == SESSIO_EFULL);
    CHECK(i < N - 1 ? rc == SESSIO_OK : (evicts || rc == SESSIO_EFULL));
    ok += rc == SESSIO_OK;
  }
  CHECK(ok >= N - 1);
  CHECK_INT(live_in(b, &u, t2), 1);
  /* A removed session leaves the count. */
  int removed = 0, i = 0;
  while (i < N && !live_in(b, &late[i], t2)) i++; /* memory: maybe evicted */
  CHECK_OK(sessio__store_remove(b, &late[i < N ? i : 0], t2 + 1, &removed));
  CHECK_INT(removed, 1);
  sessio_key after = fresh_key();
  CHECK_OK(put_in(b, &after, NULL, t2 + HOUR, t2 + 2));
  CHECK_INT(live_in(b, &u, t2 + 3), 1);
  sessio_store_close(b);
}

typedef struct limit_racer {
  sessio_manager *m;
  const char *user;
  int64_t now;
  sessio_err rc;
} limit_racer;

static void *limit_login(void *arg) {
  limit_racer *r = arg;
  sessio *s = NULL;
  r->rc = sessio_begin(r->m, NULL, 0, 0, r->now, &s);
  if (r->rc == SESSIO_OK) r->rc = sessio_login(s, r->user, 0, r->now);
  if (r->rc == SESSIO_OK) r->rc = sessio_commit(s, r->now);
  sessio_free(s);
  return NULL;
}

/* S33: logins of one user racing from threads (processes share the store
 * the same way) never leave more live sessions than the limit, under both
 * policies. Under the allocation sweep they run one after another. */
static void test_sessions_per_user_hold_under_racing_logins_S33(void) {
  for (int policy = 0; policy < 2; policy++) {
    sessio_config *cfg;
    sessio_manager *m = NULL;
    if (sessio_config_new(&cfg) != SESSIO_OK) abort();
    CHECK_OK(sessio_config_set_store(cfg, st));
    CHECK_OK(sessio_config_set_max_sessions_per_user(
        cfg, 2, (sessio_max_policy)policy));
    CHECK_OK(sessio_manager_new(cfg, &m));
    sessio_config_free(cfg);
    const char *user = uname(policy ? "limit-refuse" : "limit-evict");
    enum { N = 6 };
    limit_racer r[N];
    for (int i = 0; i < N; i++) {
      r[i].m = m;
      r[i].user = user;
      r[i].now = NOW + 1000;
    }
#ifdef SESSIO_TEST_SWEEP_CONFORMANCE_H
    for (int i = 0; i < N; i++) limit_login(&r[i]);
#else
    pthread_t t[N];
    for (int i = 0; i < N; i++) pthread_create(&t[i], NULL, limit_login, &r[i]);
    for (int i = 0; i < N; i++) pthread_join(t[i], NULL);
#endif
    int ok = 0;
    for (int i = 0; i < N; i++) {
      CHECK(r[i].rc == SESSIO_OK ||
            (policy == SESSIO_MAX_REFUSE && r[i].rc == SESSIO_ELIMIT));
      ok += r[i].rc == SESSIO_OK;
    }
    sessio_session_info *list = NULL;
    size_t n = 0;
    CHECK_OK(sessio_manager_user_sessions(m, user, NOW + 2000, &list, &n));
    free(list);
    CHECK(n <= 2);
    CHECK(n >= 1 || policy == SESSIO_MAX_REFUSE);
    if (policy == SESSIO_MAX_EVICT_OLDEST) CHECK_INT(ok, N);
    CHECK_OK(sessio_manager_revoke_all(m, user, NULL, NOW + 3000, NULL));
    sessio_manager_free(m);
  }
}

int main(int argc, char **argv) {
  char tmpdir[] = "/tmp/sessio-conformance-XXXXXX";
  int have_tmp = 0;
  struct timespec ts;

  if (argc != 2) {
    fprintf(stderr, "usage: %s STORE-URL   ({tmp} = a fresh directory)\n",
            argv[0]);
    return 2;
  }
  /* Resolve {tmp}. */
  const char *in = argv[1], *p = strstr(in, "{tmp}");
  if (p) {
    if (mkdtemp(tmpdir) == NULL) {
      perror("mkdtemp");
      return 2;
    }
    have_tmp = 1;
    snprintf(url, sizeof url, "%.*s%s%s", (int)(p - in), in, tmpdir, p + 5);
  } else {
    snprintf(url, sizeof url, "%s", in);
  }
  shared_store = strncmp(url, "memory:", 7) != 0;

  if (sodium_init() < 0 || getrandom(run_prefix, sizeof run_prefix, 0) !=
                               (ssize_t)sizeof run_prefix) {
    fprintf(stderr, "no randomness\n");
    return 2;
  }
  for (int i = 0; i < 16; i++) sprintf(run_hex + 2 * i, "%02x", run_prefix[i]);
  clock_gettime(CLOCK_REALTIME, &ts);
  NOW = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;

  sessio_err rc = sessio_store_open(url, &st);
  if (rc != SESSIO_OK) {
    fprintf(stderr, "cannot open %s: %s\n", url, sessio_strerror(rc));
    printf("0 passed, 1 failed\n");
    return 1;
  }
  printf("# store %s (%s)\n", sessio_store_name(st), url);

  RUN(test_scan_visits_every_record_in_bounded_steps);
  RUN(test_scan_shows_records_as_stored);
  RUN(test_load_of_missing_key_is_not_found);
  RUN(test_create_assigns_a_positive_version);
  RUN(test_second_create_conflicts_and_writes_nothing);
  RUN(test_save_with_wrong_version_conflicts_and_writes_nothing);
  RUN(test_save_with_right_version_stores_a_greater_version);
  RUN(test_save_of_missing_key_with_a_version_conflicts);
  RUN(test_load_returns_exactly_the_saved_binary_blob);
  RUN(test_load_returns_an_empty_blob);
  RUN(test_load_returns_a_one_mebibyte_blob);
  RUN(test_user_of_maximal_length_round_trips);
  RUN(test_touch_changes_times_only);
  RUN(test_touch_of_missing_key_is_not_found);
  RUN(test_remove_reports_removed_once);
  RUN(test_remove_of_missing_key_is_not_an_error);
  RUN(test_load_sees_record_dead_at_expires_at);
  RUN(test_touch_sees_record_dead_at_expires_at);
  RUN(test_save_sees_record_dead_at_expires_at);
  RUN(test_create_over_a_dead_record_succeeds);
  RUN(test_create_over_a_dead_record_that_was_loaded_dead);
  RUN(test_gc_is_bounded_and_removes_only_dead_records);
  RUN(test_gc_with_zero_work_does_nothing);
  RUN(test_collect_names_each_removed_record_once);
  RUN(test_user_scan_shows_every_index_entry);
  RUN(test_sweep_reports_leftovers_and_removes_them_on_repair);
  RUN(test_user_index_add_list_remove);
  RUN(test_user_list_returns_only_live_pairs);
  RUN(test_users_are_kept_apart);
  RUN(test_user_add_again_moves_the_expiry);
  RUN(test_user_index_tolerates_stale_pairs);
  RUN(test_expiry_follows_the_given_now_not_a_clock);
  RUN(test_user_index_handles_many_keys_per_user);
  RUN(test_iterate_sees_live_records_only);
  RUN(test_iterate_stops_when_the_callback_says_so);
  RUN(test_stats_count_sessions_and_expiry);
  RUN(test_concurrent_compare_and_set_loses_no_increment);
  RUN(test_threads_on_disjoint_keys_do_not_interfere);
  RUN(test_processes_compare_and_set_loses_no_increment);
  RUN(test_rekey_under_a_new_secret_moves_the_record_S32);
  RUN(test_sessions_per_user_hold_under_racing_logins_S33);
  RUN(test_bound_refuses_new_guests_never_signed_in_ones_S29);

  sessio_store_close(st);
  if (have_tmp) store_util_rm_tree(tmpdir);
  return DONE();
}
