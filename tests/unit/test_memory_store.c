/*
 * test_memory_store.c — what only the memory store promises: URL
 * parameters, bounds and the eviction policy (soonest to expire first,
 * counted in stats.evicted, SESSIO_EFULL when nothing can go), bytes
 * accounting, and a many-shards/many-threads stress. The contract itself is
 * checked for every store by tests/conformance/.
 */
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "sessio.h"
#include "sessio/store.h"
#include "store/store_internal.h" /* the record-level dispatch wrappers */
#include "store_util.h"

#define T0 1700000000000LL /* an arbitrary "now" in ms */
#define HOUR 3600000LL

/* Spread bits over all key words the store uses for hashing. */
static sessio_key mk(uint32_t i) {
  return store_util_mixed_key(i, 0x1234567ULL);
}

static sessio_err put(sessio_store *st, uint32_t i, int64_t exp,
                      size_t blob_len, uint64_t *ver) {
  static uint8_t blob[65536];
  sessio_record r;
  if (blob_len > sizeof blob) return SESSIO_ETOOBIG;
  uint64_t v = 0;
  memset(&r, 0, sizeof r);
  r.expires_at = exp;
  r.touched_at = T0;
  r.blob = blob;
  r.blob_len = blob_len;
  sessio_key k = mk(i);
  sessio_err rc = sessio__store_save(st, &k, &r, 0, T0, &v);
  if (ver) *ver = v;
  return rc;
}

static int present(sessio_store *st, uint32_t i, int64_t now) {
  sessio_record r;
  int found = 0;
  sessio_key k = mk(i);
  if (sessio__store_load(st, &k, now, &r, &found) != SESSIO_OK) return -1;
  sessio_record_clear(&r);
  return found;
}

static void test_url_parameters_are_checked(void) {
  static const char *bad[] = {
      "memory:x",
      "memory:?shards=3",
      "memory:?shards=0",
      "memory:?shards=8192",
      "memory:?max_sessions=0",
      "memory:?max_sessions=-1",
      "memory:?max_bytes=12k",
      "memory:?max_bytes=99999999999999999999",
      "memory:?colour=red",
      "memory:?shards",
      "memory:?=4",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    store_util_check_open_einval(bad[i]);
  }
  static const char *good[] = {
      "memory:",
      "memory:?shards=1",
      "memory:?shards=4096",
      "memory:?max_sessions=10&max_bytes=100000&shards=2",
      "memory:?shards=%31%36", /* %-decoded: 16 */
  };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    sessio_store *st = NULL;
    CHECK_OK(sessio_store_open(good[i], &st));
    CHECK(st != NULL);
    if (st) CHECK_STR(sessio_store_name(st), "memory");
    sessio_store_close(st);
  }
}

static void test_full_store_evicts_soonest_to_expire(void) {
  struct sessio_store_stats s;
  /* One shard: the sample of 16 sees every record. */
  sessio_store *st = store_util_open("memory:?max_sessions=4&shards=1");
  if (!st) return;
  CHECK_OK(put(st, 1, T0 + 5 * HOUR, 10, NULL));
  CHECK_OK(put(st, 2, T0 + 2 * HOUR, 10, NULL)); /* soonest */
  CHECK_OK(put(st, 3, T0 + 9 * HOUR, 10, NULL));
  CHECK_OK(put(st, 4, T0 + 7 * HOUR, 10, NULL));
  CHECK_OK(put(st, 5, T0 + 8 * HOUR, 10, NULL));
  CHECK_INT(present(st, 2, T0), 0);
  CHECK_INT(present(st, 1, T0), 1);
  CHECK_INT(present(st, 3, T0), 1);
  CHECK_INT(present(st, 4, T0), 1);
  CHECK_INT(present(st, 5, T0), 1);
  CHECK_OK(sessio_store_stats(st, &s));
  CHECK_INT(s.sessions, 4);
  CHECK_INT(s.evicted, 1);
  CHECK_INT(s.expired, 0);
  /* Next to go: record 1 (5 h). */
  CHECK_OK(put(st, 6, T0 + 6 * HOUR, 10, NULL));
  CHECK_INT(present(st, 1, T0), 0);
  CHECK_OK(sessio_store_stats(st, &s));
  CHECK_INT(s.evicted, 2);
  sessio_store_close(st);
}

/* A record of 'user' ("" = anonymous) expiring at 'exp'. */
static sessio_err put_user(sessio_store *st, uint32_t i, int64_t exp,
                           const char *user) {
  static uint8_t blob[10];
  sessio_record r;
  uint64_t v = 0;
  memset(&r, 0, sizeof r);
  r.expires_at = exp;
  r.touched_at = T0;
  r.blob = blob;
  r.blob_len = sizeof blob;
  snprintf(r.user, sizeof r.user, "%s", user);
  sessio_key k = mk(i);
  return sessio__store_save(st, &k, &r, 0, T0, &v);
}

/* S29: when full, guests go first whatever their expiry; a guest create
 * never evicts a signed-in record (EFULL instead), a signed-in create may. */
static void test_guest_creates_never_evict_signed_in_records_S29(void) {
  sessio_store *st = store_util_open("memory:?max_sessions=3&shards=1");
  if (!st) return;
  CHECK_OK(put_user(st, 1, T0 + 1 * HOUR, "alice")); /* soonest, but a user */
  CHECK_OK(put_user(st, 2, T0 + 5 * HOUR, ""));
  CHECK_OK(put_user(st, 3, T0 + 2 * HOUR, "bob"));
  CHECK_OK(put_user(st, 4, T0 + 9 * HOUR, "")); /* evicts guest 2 */
  CHECK_INT(present(st, 1, T0), 1);
  CHECK_INT(present(st, 2, T0), 0);
  CHECK_INT(present(st, 3, T0), 1);
  for (uint32_t i = 5; i < 200; i++) /* a flood of guests: guests only go */
    CHECK_OK(put_user(st, i, T0 + 3 * HOUR, ""));
  CHECK_INT(present(st, 1, T0), 1);
  CHECK_INT(present(st, 3, T0), 1);
  CHECK_OK(put_user(st, 300, T0 + 4 * HOUR, "carol")); /* takes the guest's */
  CHECK_ERR(put_user(st, 301, T0 + 4 * HOUR, ""),
            SESSIO_EFULL);                            /* only users */
  CHECK_OK(put_user(st, 302, T0 + 4 * HOUR, "dave")); /* a user may evict one */
  CHECK_INT(present(st, 1, T0), 0); /* the soonest to expire */
  sessio_store_close(st);
}

static void test_full_store_reclaims_dead_before_evicting(void) {
  struct sessio_store_stats s;
  sessio_store *st = store_util_open("memory:?max_sessions=3&shards=1");
  if (!st) return;
  CHECK_OK(put(st, 1, T0 + 1, 10, NULL)); /* dead from T0 + 1 on */
  CHECK_OK(put(st, 2, T0 + HOUR, 10, NULL));
  CHECK_OK(put(st, 3, T0 + HOUR, 10, NULL));
  /* The create at T0 + 2 finds the dead record and takes its place. */
  sessio_record r;
  uint64_t v;
  memset(&r, 0, sizeof r);
  r.expires_at = T0 + HOUR;
  sessio_key k4 = mk(4);
  CHECK_OK(sessio__store_save(st, &k4, &r, 0, T0 + 2, &v));
  CHECK_INT(present(st, 2, T0 + 2), 1);
  CHECK_INT(present(st, 3, T0 + 2), 1);
  CHECK_INT(present(st, 4, T0 + 2), 1);
  CHECK_OK(sessio_store_stats(st, &s));
  CHECK_INT(s.evicted, 0);
  CHECK_INT(s.expired, 1);
  CHECK_INT(s.sessions, 3);
  sessio_store_close(st);
}

static void test_eviction_reaches_other_shards(void) {
  struct sessio_store_stats s;
  sessio_store *st = store_util_open("memory:?max_sessions=8&shards=64");
  if (!st) return;
  for (uint32_t i = 0; i < 100; i++)
    CHECK_OK(put(st, i, T0 + HOUR + i, 10, NULL));
  CHECK_OK(sessio_store_stats(st, &s));
  CHECK_INT(s.sessions, 8);
  CHECK_INT(s.evicted, 92);
  /* The newest record always got in. */
  CHECK_INT(present(st, 99, T0), 1);
  sessio_store_close(st);
}

static void test_blob_larger_than_max_bytes_is_efull(void) {
  struct sessio_store_stats s;
  sessio_store *st = store_util_open("memory:?max_bytes=60000&shards=1");
  if (!st) return;
  CHECK_OK(sessio_store_stats(st, &s));
  uint64_t base = s.bytes;
  CHECK(base < 60000);
  /* A record that cannot fit even in an empty store. */
  uint8_t *big = calloc(1, 70000);
  sessio_record r;
  uint64_t v;
  memset(&r, 0, sizeof r);
  r.expires_at = T0 + HOUR;
  r.blob = big;
  r.blob_len = 70000;
  sessio_key k = mk(1);
  CHECK_ERR(sessio__store_save(st, &k, &r, 0, T0, &v), SESSIO_EFULL);
  CHECK_INT(present(st, 1, T0), 0);
  /* Filling with 4 KiB records keeps bytes under the bound by evicting. */
  for (uint32_t i = 10; i < 40; i++)
    CHECK_OK(put(st, i, T0 + HOUR, 4000, NULL));
  CHECK_OK(sessio_store_stats(st, &s));
  CHECK(s.bytes <= 60000);
  CHECK(s.evicted > 0);
  CHECK_INT(s.evicted + s.sessions, 30);
  free(big);
  sessio_store_close(st);
}

static void test_efull_when_nothing_can_be_evicted(void) {
  /* The table alone nearly fills max_bytes: an empty store has nothing to
   * evict for a record that does not fit. */
  sessio_store *st = store_util_open("memory:?max_bytes=40000&shards=1");
  if (!st) return;
  struct sessio_store_stats s;
  CHECK_OK(sessio_store_stats(st, &s));
  size_t room = (size_t)(40000 - s.bytes);
  CHECK_ERR(put(st, 1, T0 + HOUR, room, NULL), SESSIO_EFULL);
  CHECK_OK(sessio_store_stats(st, &s));
  CHECK_INT(s.sessions, 0);
  CHECK_INT(s.evicted, 0);
  sessio_store_close(st);
}

static void test_bytes_follow_blob_sizes(void) {
  struct sessio_store_stats s0, s1, s2;
  sessio_store *st = store_util_open("memory:?shards=1");
  if (!st) return;
  CHECK_OK(sessio_store_stats(st, &s0));
  CHECK_OK(put(st, 1, T0 + HOUR, 1000, NULL));
  CHECK_OK(sessio_store_stats(st, &s1));
  uint64_t d = s1.bytes - s0.bytes;
  /* The blob plus under 150 bytes of overhead (no table growth yet). */
  CHECK(d >= 1000);
  CHECK(d < 1000 + 150);
  int removed = 0;
  sessio_key k = mk(1);
  CHECK_OK(sessio__store_remove(st, &k, T0, &removed));
  CHECK_INT(removed, 1);
  CHECK_OK(sessio_store_stats(st, &s2));
  CHECK_INT(s2.bytes, s0.bytes);
  CHECK_INT(s2.sessions, 0);
  sessio_store_close(st);
}

static void test_user_names_are_freed_with_their_last_reference(void) {
  struct sessio_store_stats s0, s1, s2;
  sessio_store *st = store_util_open("memory:?shards=1");
  if (!st) return;
  CHECK_OK(sessio_store_stats(st, &s0));
  sessio_record r;
  uint64_t v;
  memset(&r, 0, sizeof r);
  r.expires_at = T0 + HOUR;
  strcpy(r.user, "alice@example.com");
  sessio_key k1 = mk(1), k2 = mk(2);
  CHECK_OK(sessio__store_save(st, &k1, &r, 0, T0, &v));
  CHECK_OK(sessio__store_save(st, &k2, &r, 0, T0, &v));
  CHECK_OK(sessio__store_user_add(st, "alice@example.com", &k1, T0 + HOUR, T0));
  CHECK_OK(sessio__store_user_add(st, "alice@example.com", &k2, T0 + HOUR, T0));
  CHECK_OK(sessio_store_stats(st, &s1));
  CHECK(s1.bytes > s0.bytes);
  int removed;
  CHECK_OK(sessio__store_remove(st, &k1, T0, &removed));
  CHECK_OK(sessio__store_user_remove(st, "alice@example.com", &k1));
  CHECK_OK(sessio__store_user_remove(st, "alice@example.com", &k2));
  /* The record k2 still names the user. */
  sessio_record got;
  int found = 0;
  CHECK_OK(sessio__store_load(st, &k2, T0, &got, &found));
  CHECK_INT(found, 1);
  CHECK_STR(got.user, "alice@example.com");
  sessio_record_clear(&got);
  CHECK_OK(sessio__store_remove(st, &k2, T0, &removed));
  CHECK_OK(sessio_store_stats(st, &s2));
  CHECK_INT(s2.bytes, s0.bytes); /* record, user node, key set: all gone */
  sessio_store_close(st);
}

static void test_gc_drops_expired_user_pairs_of_dead_records(void) {
  struct sessio_store_stats s0, s1;
  sessio_store *st = store_util_open("memory:?shards=1");
  if (!st) return;
  CHECK_OK(sessio_store_stats(st, &s0));
  sessio_record r;
  uint64_t v;
  memset(&r, 0, sizeof r);
  r.expires_at = T0 + HOUR;
  strcpy(r.user, "bob");
  sessio_key k = mk(7);
  CHECK_OK(sessio__store_save(st, &k, &r, 0, T0, &v));
  CHECK_OK(sessio__store_user_add(st, "bob", &k, T0 + HOUR, T0));
  size_t removed = 0;
  int done = 0;
  for (int i = 0; i < 1000 && !done; i++)
    CHECK_OK(sessio_store_gc(st, T0 + HOUR, 100, &removed, &done));
  CHECK_INT(done, 1);
  CHECK_OK(sessio_store_stats(st, &s1));
  CHECK_INT(s1.sessions, 0);
  CHECK_INT(s1.expired, 1);
  CHECK_INT(s1.bytes, s0.bytes);
  sessio_store_close(st);
}

static void test_gc_crosses_empty_tables_in_bounded_steps(void) {
  /* 4096 shards x 16 buckets, all empty: a pass is 65536 empty buckets,
   * 1/8 unit each, so gc(100) needs many calls, never one. */
  sessio_store *st = store_util_open("memory:?shards=4096");
  if (!st) return;
  size_t removed = 0;
  int done = 0, calls = 0;
  while (!done && calls < 100000) {
    CHECK_OK(sessio_store_gc(st, T0, 100, &removed, &done));
    calls++;
  }
  CHECK_INT(done, 1);
  CHECK(calls >= 65536 / 8 / 100);
  CHECK_INT(removed, 0);
  sessio_store_close(st);
}

/* The per-user key set (open addressing, backward-shift deletion, small
 * sets allowed to be full) against a plain array model. */
static void test_user_key_set_matches_a_model(void) {
  enum { U = 40, OPS = 20000 };
  sessio_store *st = store_util_open("memory:?shards=1");
  if (!st) return;
  int64_t model[U] = {0}; /* 0: absent, else expires_at */
  uint64_t seed = 88172645463325252ULL;
  int mismatches = 0;
  for (int op = 0; op < OPS && mismatches < 5; op++) {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    /* Keep the set small at times (0..7 keys) and large at others. */
    uint32_t span = (op / 2000) % 2 ? U : 8;
    uint32_t i = (uint32_t)(seed % span);
    sessio_key k = mk(1000 + i);
    if ((seed >> 32) % 3 != 0) {
      int64_t exp = T0 + 1 + (int64_t)((seed >> 40) % 1000);
      CHECK_OK(sessio__store_user_add(st, "m", &k, exp, T0));
      model[i] = exp;
    } else {
      CHECK_OK(sessio__store_user_remove(st, "m", &k));
      model[i] = 0;
    }
    sessio_key *keys = NULL;
    size_t n = 0, want = 0;
    CHECK_OK(sessio__store_user_list(st, "m", T0, &keys, &n));
    for (uint32_t j = 0; j < U; j++) {
      if (model[j] == 0) continue;
      want++;
      sessio_key kj = mk(1000 + j);
      int in = 0;
      for (size_t x = 0; x < n; x++)
        in |= memcmp(keys[x].b, kj.b, SESSIO_KEY_BYTES) == 0;
      if (!in) mismatches++;
    }
    if (n != want) mismatches++;
    free(keys);
  }
  CHECK_INT(mismatches, 0);
  /* Listing after every pair expired empties (and frees) the set. */
  sessio_key *keys = NULL;
  size_t n = 9;
  CHECK_OK(sessio__store_user_list(st, "m", T0 + 2000, &keys, &n));
  CHECK_INT(n, 0);
  CHECK(keys == NULL);
  sessio_store_close(st);
}

#if defined(__SANITIZE_ADDRESS__)
/* Under ASan, an allocation over 64 MiB returns NULL instead of aborting:
 * lets a test see the out-of-memory path of save. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) {
  return "allocator_may_return_null=1:max_allocation_size_mb=64";
}
#endif

static void test_save_out_of_memory_is_enomem_and_stores_nothing(void) {
#if defined(__SANITIZE_ADDRESS__)
  const size_t len = 128u << 20; /* over the 64 MiB limit above */
  struct sessio_store_stats s0, s1;
  sessio_store *st = store_util_open("memory:");
  if (!st) return;
  /* Untouched anonymous pages: the store fails before reading them. */
  void *big = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(big != MAP_FAILED);
  if (big == MAP_FAILED) goto out;
  CHECK_OK(sessio_store_stats(st, &s0));
  sessio_record r;
  uint64_t v = 0;
  memset(&r, 0, sizeof r);
  r.expires_at = T0 + HOUR;
  r.blob = big;
  r.blob_len = len;
  strcpy(r.user, "oom");
  sessio_key k = mk(3);
  CHECK_ERR(sessio__store_save(st, &k, &r, 0, T0, &v), SESSIO_ENOMEM);
  CHECK_INT(present(st, 3, T0), 0);
  CHECK_OK(sessio_store_stats(st, &s1));
  CHECK_INT(s1.sessions, s0.sessions);
  CHECK_INT(s1.bytes, s0.bytes);
  munmap(big, len);
out:
  sessio_store_close(st);
#else
  printf("# skipped: needs ASan's allocator_may_return_null\n");
#endif
}

/* ---- stress: many threads on a bounded, sharded store ------------------ */

enum {
  STRESS_THREADS = 8,
  STRESS_OPS = 20000,
  STRESS_KEYS = 3000,
  STRESS_MAX = 1000
};

struct stress_ctx {
  sessio_store *st;
  uint64_t seed;
  sessio_err err;
};

static uint64_t rnd(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static void *stress_thread(void *arg) {
  struct stress_ctx *c = arg;
  uint8_t blob[300];
  char user[16];
  memset(blob, 0xAB, sizeof blob);
  for (int op = 0; op < STRESS_OPS && c->err == SESSIO_OK; op++) {
    uint64_t x = rnd(&c->seed);
    uint32_t i = (uint32_t)(x % STRESS_KEYS);
    sessio_key k = mk(i);
    int64_t now = T0 + op; /* time moves forward per thread */
    int64_t exp = now + 1000 + (int64_t)((x >> 20) % 100000);
    snprintf(user, sizeof user, "u%u", (unsigned)(i % 50));
    sessio_record r;
    memset(&r, 0, sizeof r);
    sessio_err rc = SESSIO_OK;
    int found = 0;
    uint64_t v = 0;
    switch ((x >> 40) % 8) {
    case 0:
    case 1: /* create */
      r.expires_at = exp;
      r.blob = blob;
      r.blob_len = (x >> 8) % sizeof blob;
      if ((x >> 50) & 1) strcpy(r.user, user);
      rc = sessio__store_save(c->st, &k, &r, 0, now, &v);
      if (rc == SESSIO_ECONFLICT) rc = SESSIO_OK;
      /* S29: a full store refuses a guest when its samples hold users only. */
      if (rc == SESSIO_EFULL && r.user[0] == '\0') rc = SESSIO_OK;
      break;
    case 2: /* update */
      rc = sessio__store_load(c->st, &k, now, &r, &found);
      if (rc == SESSIO_OK && found) {
        r.expires_at = exp;
        rc = sessio__store_save(c->st, &k, &r, r.version, now, &v);
        if (rc == SESSIO_ECONFLICT) rc = SESSIO_OK;
      }
      sessio_record_clear(&r);
      break;
    case 3: rc = sessio__store_touch(c->st, &k, now, exp, now, &found); break;
    case 4: rc = sessio__store_remove(c->st, &k, T0, &found); break;
    case 5: rc = sessio__store_user_add(c->st, user, &k, exp, T0); break;
    case 6: {
      sessio_key *keys = NULL;
      size_t n = 0;
      rc = sessio__store_user_list(c->st, user, now, &keys, &n);
      for (size_t j = 0; j < n && j < 2; j++)
        rc = sessio__store_user_remove(c->st, user, &keys[j]);
      free(keys);
      break;
    }
    default: {
      size_t removed = 0;
      int done = 0;
      rc = sessio_store_gc(c->st, now, 50, &removed, &done);
    }
    }
    if (rc != SESSIO_OK) c->err = rc;
  }
  return NULL;
}

static int count_cb(void *ud, const sessio_key *key, const sessio_record *rec) {
  (void)key;
  (void)rec;
  ++*(uint64_t *)ud;
  return 0;
}

static void test_many_threads_on_a_bounded_sharded_store(void) {
  sessio_store *st = store_util_open("memory:?shards=256&max_sessions=1000");
  if (!st) return;
  pthread_t th[STRESS_THREADS];
  struct stress_ctx c[STRESS_THREADS];
  for (int i = 0; i < STRESS_THREADS; i++) {
    c[i] = (struct stress_ctx){st, 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1),
                               SESSIO_OK};
    CHECK_INT(pthread_create(&th[i], NULL, stress_thread, &c[i]), 0);
  }
  for (int i = 0; i < STRESS_THREADS; i++) {
    pthread_join(th[i], NULL);
    CHECK_OK(c[i].err);
  }
  struct sessio_store_stats s;
  uint64_t held = 0;
  CHECK_OK(sessio_store_stats(st, &s));
  CHECK_OK(sessio__store_iterate(st, INT64_MIN, count_cb, &held));
  CHECK_INT(s.sessions, held); /* the counter matches the tables */
  /* The bound is checked with atomic counters: at most one racing create
   * per thread can pass it at the same time. */
  CHECK(s.sessions <= STRESS_MAX + STRESS_THREADS);
  CHECK(s.evicted > 0); /* the eviction path ran under contention */
  printf("# stress: %" PRIu64 " held, %" PRIu64 " evicted, %" PRIu64
         " expired\n",
         s.sessions, s.evicted, s.expired);
  /* Everything removed: the counters go back to zero. */
  for (uint32_t i = 0; i < STRESS_KEYS; i++) {
    int removed;
    sessio_key k = mk(i);
    CHECK_OK(sessio__store_remove(st, &k, T0, &removed));
  }
  CHECK_OK(sessio_store_stats(st, &s));
  CHECK_INT(s.sessions, 0);
  sessio_store_close(st);
}

static void note_log(void *ud, sessio_log_level level, const char *msg) {
  (void)level;
  (void)msg;
  ++*(int *)ud;
}

static void test_open_logged_keeps_the_logger_and_checks_its_level(void) {
  sessio_store *st = NULL;
  int lines = 0;
  CHECK_ERR(sessio_store_open_logged("memory:", note_log, &lines,
                                     (sessio_log_level)9, &st),
            SESSIO_EINVAL);
  CHECK(st == NULL);
  CHECK_ERR(sessio_store_open_logged("nosuch:", note_log, &lines,
                                     SESSIO_LOG_WARN, &st),
            SESSIO_EINVAL);
  CHECK_ERR(sessio_store_open_logged(NULL, NULL, NULL, SESSIO_LOG_WARN, &st),
            SESSIO_EINVAL);
  CHECK_OK(sessio_store_open_logged("memory:", note_log, &lines,
                                    SESSIO_LOG_WARN, &st));
  CHECK(st != NULL);
  if (st != NULL) {
    /* As after sessio_store_set_logger(). */
    CHECK(st->log_fn == note_log);
    CHECK(st->log_ud == &lines);
    CHECK_INT(st->log_level, SESSIO_LOG_WARN);
    sessio_store_log(st, SESSIO_LOG_ERROR, "x");
    sessio_store_log(st, SESSIO_LOG_DEBUG, "y");
    CHECK_INT(lines, 1);
  }
  sessio_store_close(st);
  /* sessio_store_open() leaves a store silent. */
  CHECK_OK(sessio_store_open("memory:", &st));
  if (st != NULL) CHECK(st->log_fn == NULL);
  sessio_store_close(st);
}

/* An update that keeps the blob's length is written over the entry in
 * place; one that changes the user (or the length) takes the general path.
 * Either way the contract holds: the new blob, version and times, the
 * user, a stale version refused, the byte count unchanged by a same-size
 * update. */
static sessio_err save_as(sessio_store *st, const sessio_key *k,
                          const char *blob, const char *user, int64_t t,
                          uint64_t expected, uint64_t *v) {
  sessio_record r;
  memset(&r, 0, sizeof r);
  r.expires_at = t + HOUR;
  r.touched_at = t;
  snprintf(r.user, sizeof r.user, "%s", user);
  r.blob = (uint8_t *)blob;
  r.blob_len = strlen(blob);
  return sessio__store_save(st, k, &r, expected, t, v);
}

static void check_loaded(sessio_store *st, const sessio_key *k,
                         const char *blob, const char *user, int64_t t,
                         uint64_t version) {
  sessio_record r;
  int found = 0;
  CHECK_OK(sessio__store_load(st, k, t, &r, &found));
  CHECK_INT(found, 1);
  if (!found) return;
  CHECK_INT(r.version, version);
  CHECK_INT(r.touched_at, t);
  CHECK_INT(r.expires_at, t + HOUR);
  CHECK_STR(r.user, user);
  CHECK_INT(r.blob_len, strlen(blob));
  CHECK(r.blob_len == strlen(blob) && memcmp(r.blob, blob, r.blob_len) == 0);
  sessio_record_clear(&r);
}

static void test_same_size_update_rewrites_the_entry_and_keeps_the_contract(
    void) {
  sessio_store *st = NULL;
  struct sessio_store_stats s1, s2;
  uint64_t v1 = 0, v2 = 0, v3 = 0, v4 = 0, vx = 0;
  sessio_key k = mk(7);
  CHECK_OK(sessio_store_open("memory:", &st));
  CHECK_OK(save_as(st, &k, "cart=1", "alice", T0, 0, &v1));
  memset(&s1, 0, sizeof s1);
  CHECK_OK(sessio_store_stats(st, &s1));
  /* same length, same user: in place */
  CHECK_OK(save_as(st, &k, "cart=2", "alice", T0 + 1, v1, &v2));
  CHECK(v2 > v1);
  check_loaded(st, &k, "cart=2", "alice", T0 + 1, v2);
  memset(&s2, 0, sizeof s2);
  CHECK_OK(sessio_store_stats(st, &s2));
  CHECK_INT(s2.bytes, s1.bytes);
  CHECK_INT(s2.sessions, 1);
  /* a stale version is refused and changes nothing */
  CHECK_ERR(save_as(st, &k, "cart=9", "alice", T0 + 2, v1, &vx),
            SESSIO_ECONFLICT);
  check_loaded(st, &k, "cart=2", "alice", T0 + 1, v2);
  /* same length, another user: the general path */
  CHECK_OK(save_as(st, &k, "cart=3", "bob", T0 + 3, v2, &v3));
  check_loaded(st, &k, "cart=3", "bob", T0 + 3, v3);
  /* same length, no user any more; then a longer blob */
  CHECK_OK(save_as(st, &k, "cart=4", "", T0 + 4, v3, &v4));
  check_loaded(st, &k, "cart=4", "", T0 + 4, v4);
  CHECK_OK(save_as(st, &k, "cart=10", "", T0 + 5, v4, &vx));
  check_loaded(st, &k, "cart=10", "", T0 + 5, vx);
  sessio_store_close(st);
}

/* Saves 'blob' for 'user' with the given times and loads it back exactly. */
static void save_times(sessio_store *st, const sessio_key *k, const char *blob,
                       const char *user, int64_t touched, int64_t expires,
                       uint64_t expected, uint64_t *v) {
  sessio_record r;
  memset(&r, 0, sizeof r);
  r.expires_at = expires;
  r.touched_at = touched;
  snprintf(r.user, sizeof r.user, "%s", user);
  r.blob = (uint8_t *)blob;
  r.blob_len = strlen(blob);
  CHECK_OK(sessio__store_save(st, k, &r, expected, T0, v));
}

static void check_times(sessio_store *st, const sessio_key *k, const char *blob,
                        const char *user, int64_t touched, int64_t expires,
                        uint64_t version) {
  sessio_record r;
  int found = 0;
  CHECK_OK(sessio__store_load(st, k, T0, &r, &found));
  CHECK_INT(found, 1);
  if (!found) return;
  CHECK_INT(r.version, version);
  CHECK_INT(r.touched_at, touched);
  CHECK_INT(r.expires_at, expires);
  CHECK_STR(r.user, user);
  CHECK(r.blob_len == strlen(blob) && memcmp(r.blob, blob, r.blob_len) == 0);
  sessio_record_clear(&r);
}

/* A record keeps expires_at in 48 bits (+-4,462 years of milliseconds)
 * and touched_at as a 32-bit offset below it (49.7 days): times outside
 * those ranges (a longer idle time, a touched_at after expires_at, the
 * extremes of int64) are stored whole, by save, by an in-place update and
 * by touch, and read back exactly. */
static void test_times_outside_the_narrow_offset_round_trip(void) {
  sessio_store *st = NULL;
  struct sessio_store_stats s0, s1;
  uint64_t v = 0, v2 = 0;
  const int64_t DAY = 24 * HOUR, EDGE = (int64_t)UINT32_MAX;
  const char *user[2] = {"", "carol"};
  CHECK_OK(sessio_store_open("memory:?shards=1", &st));
  if (st == NULL) return;
  memset(&s0, 0, sizeof s0);
  CHECK_OK(sessio_store_stats(st, &s0));
  for (int u = 0; u < 2; u++) {
    sessio_key k = mk(40 + (uint32_t)u);
    /* at the edge of the offset: narrow; one past it: wide */
    save_times(st, &k, "a=1", user[u], T0, T0 + EDGE, 0, &v);
    check_times(st, &k, "a=1", user[u], T0, T0 + EDGE, v);
    save_times(st, &k, "a=2", user[u], T0, T0 + EDGE + 1, v, &v2);
    check_times(st, &k, "a=2", user[u], T0, T0 + EDGE + 1, v2);
    /* touch moves it back in range, and out again */
    int found = 0;
    CHECK_OK(sessio__store_touch(st, &k, T0 + 5, T0 + HOUR, T0, &found));
    CHECK_INT(found, 1);
    check_times(st, &k, "a=2", user[u], T0 + 5, T0 + HOUR, v2);
    CHECK_OK(sessio__store_touch(st, &k, T0 + 6, T0 + 400 * DAY, T0, &found));
    check_times(st, &k, "a=2", user[u], T0 + 6, T0 + 400 * DAY, v2);
    /* the edges of the 48-bit expires_at */
    const int64_t E47 = (int64_t)1 << 47;
    save_times(st, &k, "a=5", user[u], E47 - 10, E47 - 1, v2, &v);
    check_times(st, &k, "a=5", user[u], E47 - 10, E47 - 1, v);
    save_times(st, &k, "a=6", user[u], E47 - 10, E47, v, &v2);
    check_times(st, &k, "a=6", user[u], E47 - 10, E47, v2);
    save_times(st, &k, "a=2", user[u], T0 + 6, T0 + 400 * DAY, v2, &v2);
    /* touched after expiry, and the extremes */
    save_times(st, &k, "a=3", user[u], T0 + 2 * HOUR, T0 + HOUR, v2, &v);
    check_times(st, &k, "a=3", user[u], T0 + 2 * HOUR, T0 + HOUR, v);
    save_times(st, &k, "a=4", user[u], INT64_MIN, INT64_MAX, v, &v2);
    check_times(st, &k, "a=4", user[u], INT64_MIN, INT64_MAX, v2);
    CHECK_OK(sessio__store_touch(st, &k, INT64_MAX, INT64_MAX, T0, &found));
    check_times(st, &k, "a=4", user[u], INT64_MAX, INT64_MAX, v2);
    /* a narrow record touched out of range in place of a save */
    sessio_key k2 = mk(50 + (uint32_t)u);
    save_times(st, &k2, "b=1", user[u], T0, T0 + HOUR, 0, &v);
    CHECK_OK(sessio__store_touch(st, &k2, INT64_MIN, T0 + HOUR, T0, &found));
    CHECK_INT(found, 1);
    check_times(st, &k2, "b=1", user[u], INT64_MIN, T0 + HOUR, v);
  }
  /* Every byte counted on the way is given back. */
  for (uint32_t i = 0; i < 2; i++) {
    int removed = 0;
    sessio_key a = mk(40 + i), b = mk(50 + i);
    CHECK_OK(sessio__store_remove(st, &a, T0, &removed));
    CHECK_OK(sessio__store_remove(st, &b, T0, &removed));
    CHECK_OK(sessio__store_user_remove(st, "carol", &a));
  }
  memset(&s1, 0, sizeof s1);
  CHECK_OK(sessio_store_stats(st, &s1));
  CHECK_INT(s1.bytes, s0.bytes);
  CHECK_INT(s1.sessions, 0);
  sessio_store_close(st);
}

/* A record keeps a 24-bit version until a save goes past 2^24 - 1 (16.7
 * million saves); from there on it keeps the whole 64-bit version, so the
 * versions still only grow and a stale one still conflicts, including one
 * whose low bits match. The same across 2^32. */
static void test_version_past_its_narrow_field_keeps_growing(void) {
  sessio_store *st = NULL;
  uint64_t v = 0, vx = 0;
  const char *user[2] = {"", "dave"};
  const uint64_t edge[2] = {0xffffffULL, UINT32_MAX};
  CHECK_OK(sessio_store_open("memory:", &st));
  if (st == NULL) return;
  for (int u = 0; u < 4; u++) {
    sessio_key k = mk(60 + (uint32_t)u);
    const char *name = user[u % 2];
    uint64_t top = edge[u / 2];
    save_times(st, &k, "c=1", name, T0, T0 + HOUR, 0, &v);
    CHECK_ERR(sessio__memory_force_version(st, &k, 0, T0), SESSIO_EINVAL);
    CHECK_OK(sessio__memory_force_version(st, &k, top - 1, T0));
    save_times(st, &k, "c=2", name, T0, T0 + HOUR, top - 1, &v);
    CHECK_INT(v, top);
    check_times(st, &k, "c=2", name, T0, T0 + HOUR, v);
    /* the same length in place, then a longer blob: both past the edge */
    save_times(st, &k, "c=3", name, T0, T0 + HOUR, v, &v);
    CHECK_INT(v, top + 1);
    check_times(st, &k, "c=3", name, T0, T0 + HOUR, v);
    save_times(st, &k, "c=10", name, T0 + 1, T0 + HOUR, v, &v);
    CHECK_INT(v, top + 2);
    check_times(st, &k, "c=10", name, T0 + 1, T0 + HOUR, v);
    sessio_record r;
    memset(&r, 0, sizeof r);
    r.expires_at = T0 + HOUR;
    r.touched_at = T0;
    snprintf(r.user, sizeof r.user, "%s", name);
    r.blob = (uint8_t *)"c=11";
    r.blob_len = 4;
    CHECK_ERR(sessio__store_save(st, &k, &r, 1, T0, &vx), SESSIO_ECONFLICT);
    CHECK_ERR(sessio__store_save(st, &k, &r, top, T0, &vx), SESSIO_ECONFLICT);
    CHECK_ERR(sessio__store_save(st, &k, &r, v & 0xffffff, T0, &vx),
              SESSIO_ECONFLICT);
    check_times(st, &k, "c=10", name, T0 + 1, T0 + HOUR, v);
    /* touch keeps the version */
    int found = 0;
    CHECK_OK(sessio__store_touch(st, &k, T0 + 2, T0 + 2 * HOUR, T0, &found));
    check_times(st, &k, "c=10", name, T0 + 2, T0 + 2 * HOUR, v);
  }
  sessio_key none = mk(99);
  CHECK_ERR(sessio__memory_force_version(st, &none, 5, T0), SESSIO_EINVAL);
  sessio_store_close(st);
}

/* ---- the record table against a model ----------------------------------
 * Keys whose sort word (bytes 8..15) repeats, or shares its top 16 bits
 * with others, as well as spread ones; one shard, so every key meets the
 * same table through its growth. */
#define MODEL_KEYS 6000
static sessio_key model_key(uint32_t i) {
  sessio_key k = store_util_mixed_key(i, 0xfeedULL);
  uint64_t w;
  memcpy(&w, k.b + 8, 8);
  if (i % 7 == 0) w = 0x1234567890abcdefULL + (i % 3); /* equal words */
  if (i % 11 == 0) w = (w & 0x0000ffffffffffffULL) | 0xabcd000000000000ULL;
  if (i % 13 == 0) w = i % 2 ? UINT64_MAX : 0; /* the ends of the order */
  memcpy(k.b + 8, &w, 8);
  return k;
}

static int scan_mark_cb(void *ud, const sessio_key *key,
                        const sessio_record *rec) {
  uint8_t *seen = ud;
  uint32_t i;
  (void)rec;
  memcpy(&i, rec->blob, sizeof i);
  CHECK(memcmp(key->b, model_key(i).b, SESSIO_KEY_BYTES) == 0);
  if (i < MODEL_KEYS && seen[i] < 255) seen[i]++;
  return 0;
}

static void test_record_table_matches_a_model(void) {
  sessio_store *st = store_util_open("memory:?shards=1");
  static uint8_t in[MODEL_KEYS], seen[MODEL_KEYS], during[MODEL_KEYS];
  uint64_t rng = 42;
  if (!st) return;
  memset(in, 0, sizeof in);
  for (int round = 0; round < 6; round++) {
    /* a random half of the keys changes state: created or removed */
    for (uint32_t n = 0; n < MODEL_KEYS; n++) {
      rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
      uint32_t i = (uint32_t)(rng >> 33) % MODEL_KEYS;
      sessio_key k = model_key(i);
      if (in[i]) {
        int removed = 0;
        CHECK_OK(sessio__store_remove(st, &k, T0, &removed));
        CHECK_INT(removed, 1);
        in[i] = 0;
      } else {
        sessio_record r;
        uint64_t v = 0;
        memset(&r, 0, sizeof r);
        r.blob = (uint8_t *)&i;
        r.blob_len = sizeof i;
        r.touched_at = T0;
        /* some die at T0 + 1, for gc below */
        r.expires_at = (i % 5 == 0 && round % 2) ? T0 + 1 : T0 + HOUR;
        CHECK_OK(sessio__store_save(st, &k, &r, 0, T0, &v));
        in[i] = r.expires_at == T0 + 1 ? 2 : 1;
      }
    }
    size_t live = 0;
    for (uint32_t i = 0; i < MODEL_KEYS; i++) {
      sessio_record r;
      int found = 0;
      sessio_key k = model_key(i);
      CHECK_OK(sessio__store_load(st, &k, T0, &r, &found));
      CHECK_INT(found, in[i] != 0);
      if (found) sessio_record_clear(&r);
      live += in[i] != 0;
    }
    struct sessio_store_stats s;
    CHECK_OK(sessio_store_stats(st, &s));
    CHECK_INT(s.sessions, live);
    /* A scan in steps of 3 while records come and go between the steps:
     * every record there from start to end is seen. */
    sessio_store_cursor cur = SESSIO_STORE_CURSOR_INIT;
    int done = 0, step = 0;
    memset(seen, 0, sizeof seen);
    memcpy(during, in, sizeof in);
    while (!done) {
      CHECK_OK(st->methods->scan(st, &cur, 3, scan_mark_cb, seen, &done));
      if (++step % 4 == 0) {
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        uint32_t i = (uint32_t)(rng >> 33) % MODEL_KEYS;
        sessio_key k = model_key(i);
        during[i] = 0; /* not there all along */
        if (in[i]) {
          int removed = 0;
          CHECK_OK(sessio__store_remove(st, &k, T0, &removed));
          in[i] = 0;
        } else {
          sessio_record r;
          uint64_t v = 0;
          memset(&r, 0, sizeof r);
          r.blob = (uint8_t *)&i;
          r.blob_len = sizeof i;
          r.touched_at = T0;
          r.expires_at = T0 + HOUR;
          CHECK_OK(sessio__store_save(st, &k, &r, 0, T0, &v));
          in[i] = 1;
        }
      }
      CHECK(step < 100000);
      if (step >= 100000) break;
    }
    size_t missed = 0;
    for (uint32_t i = 0; i < MODEL_KEYS; i++)
      if (during[i] && in[i] && seen[i] == 0) missed++;
    CHECK_INT(missed, 0);
    /* gc, one unit at a time, removes exactly the dead ones */
    size_t removed = 0, dead = 0;
    for (uint32_t i = 0; i < MODEL_KEYS; i++) dead += in[i] == 2;
    done = 0;
    for (int calls = 0; !done && calls < 1000000; calls++) {
      size_t r = 0;
      CHECK_OK(sessio_store_gc(st, T0 + 1, 1, &r, &done));
      removed += r;
    }
    CHECK_INT(removed, dead);
    for (uint32_t i = 0; i < MODEL_KEYS; i++)
      if (in[i] == 2) in[i] = 0;
  }
  sessio_store_close(st);
}

/* A record keeps its blob's length in 24 bits: a blob of 16 MiB or more
 * is kept with the wide fields, on create and on an in-place update. */
static void test_blob_of_16_mib_and_more_round_trips(void) {
  sessio_store *st = NULL;
  size_t sizes[2] = {((size_t)1 << 24) - 1, (size_t)1 << 24};
  CHECK_OK(sessio_store_open("memory:", &st));
  if (st == NULL) return;
  for (int j = 0; j < 2; j++) {
    uint8_t *b = malloc(sizes[j]);
    if (b == NULL) continue;
    for (size_t i = 0; i < sizes[j]; i++) b[i] = (uint8_t)(i * 7 + (size_t)j);
    sessio_record r, out;
    sessio_key k = mk(70 + (uint32_t)j);
    uint64_t v = 0;
    int found = 0;
    memset(&r, 0, sizeof r);
    r.blob = b;
    r.blob_len = sizes[j];
    r.touched_at = T0;
    r.expires_at = T0 + HOUR;
    CHECK_OK(sessio__store_save(st, &k, &r, 0, T0, &v));
    b[sizes[j] - 1] ^= 0x5a; /* same length: in place */
    CHECK_OK(sessio__store_save(st, &k, &r, v, T0, &v));
    CHECK_OK(sessio__store_load(st, &k, T0, &out, &found));
    CHECK_INT(found, 1);
    if (found) {
      CHECK_INT(out.blob_len, sizes[j]);
      CHECK(out.blob_len == sizes[j] && memcmp(out.blob, b, sizes[j]) == 0);
      CHECK_INT(out.version, v);
      sessio_record_clear(&out);
    }
    free(b);
  }
  sessio_store_close(st);
}

int main(void) {
  RUN(test_open_logged_keeps_the_logger_and_checks_its_level);
  RUN(test_url_parameters_are_checked);
  RUN(test_same_size_update_rewrites_the_entry_and_keeps_the_contract);
  RUN(test_times_outside_the_narrow_offset_round_trip);
  RUN(test_version_past_its_narrow_field_keeps_growing);
  RUN(test_blob_of_16_mib_and_more_round_trips);
  RUN(test_full_store_evicts_soonest_to_expire);
  RUN(test_guest_creates_never_evict_signed_in_records_S29);
  RUN(test_full_store_reclaims_dead_before_evicting);
  RUN(test_eviction_reaches_other_shards);
  RUN(test_blob_larger_than_max_bytes_is_efull);
  RUN(test_efull_when_nothing_can_be_evicted);
  RUN(test_bytes_follow_blob_sizes);
  RUN(test_user_names_are_freed_with_their_last_reference);
  RUN(test_gc_drops_expired_user_pairs_of_dead_records);
  RUN(test_gc_crosses_empty_tables_in_bounded_steps);
  RUN(test_user_key_set_matches_a_model);
  RUN(test_record_table_matches_a_model);
  RUN(test_save_out_of_memory_is_enomem_and_stores_nothing);
  RUN(test_many_threads_on_a_bounded_sharded_store);
  return DONE();
}
