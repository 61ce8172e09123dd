/*
 * test_mhd_limiter.c — sessio-mhd's per-client limiter, the table behind
 * the invalid-ID throttle (S21), with injected time: the request after the
 * limit is refused, for exactly what is left of the window, the window's
 * end lifts it, clients are counted apart, a flood of other clients does
 * not evict the one being refused, threads count exactly, a request's
 * rejected IDs each count, keys are keyed per limiter.
 */
#include <limits.h>
#include <pthread.h>
#include <stdint.h>

#include "harness.h"
#include "sessio/mhd.h"

#define BUCKETS 1024 /* the table's shape, as include/sessio/mhd.h says */
#define WAYS 4

/* A limiter, or NULL (the check then fails the test). */
static sessio_mhd_limiter *mk(unsigned limit, int64_t window_ms) {
  sessio_mhd_limiter *l = NULL;
  CHECK_OK(sessio_mhd_limiter_new(limit, window_ms, &l));
  return l;
}

/* One count, as for a request with one rejected ID. */
static unsigned note(sessio_mhd_limiter *l, uint64_t key, int64_t now) {
  return sessio_mhd_limiter_note(l, key, 1, now);
}

#define T0 1700000000000LL /* any wall-clock ms */

/* S21: 'limit' invalid IDs pass; the next request is refused until the
 * window that began with the first one ends. */
static void test_request_after_limit_is_refused_until_window_ends_S21(void) {
  sessio_mhd_limiter *t = mk(3, 60000);
  CHECK(t != NULL);
  if (t == NULL) return;
  CHECK_INT(sessio_mhd_limiter_check(t, 42, T0), 0);
  CHECK_INT(note(t, 42, T0), 1);
  CHECK_INT(sessio_mhd_limiter_check(t, 42, T0 + 1), 0);
  CHECK_INT(note(t, 42, T0 + 1000), 2);
  CHECK_INT(sessio_mhd_limiter_check(t, 42, T0 + 1000), 0);
  CHECK_INT(note(t, 42, T0 + 2000), 3);
  /* the 4th request: refused for what is left of the window */
  CHECK_INT(sessio_mhd_limiter_check(t, 42, T0 + 2000), 58000);
  CHECK_INT(sessio_mhd_limiter_check(t, 42, T0 + 59999), 1);
  /* the window's end lifts it, and a new window starts from 1 */
  CHECK_INT(sessio_mhd_limiter_check(t, 42, T0 + 60000), 0);
  CHECK_INT(note(t, 42, T0 + 60000), 1);
  CHECK_INT(sessio_mhd_limiter_check(t, 42, T0 + 60001), 0);
  sessio_mhd_limiter_free(t);
}

/* A window is fixed: invalid IDs spread over more than the window never
 * add up to the limit. */
static void test_slow_sender_is_never_refused_S21(void) {
  sessio_mhd_limiter *t = mk(5, 1000);
  int refused = 0;
  for (int i = 0; i < 1000; i++) {
    int64_t now = T0 + (int64_t)i * 250; /* 4 per window */
    refused += sessio_mhd_limiter_check(t, 7, now) > 0;
    note(t, 7, now);
  }
  CHECK_INT(refused, 0);
  sessio_mhd_limiter_free(t);
}

static void test_limit_zero_counts_but_never_refuses(void) {
  sessio_mhd_limiter *t = mk(0, 60000);
  unsigned c = 0;
  for (int i = 0; i < 1000; i++) c = note(t, 9, T0 + i);
  CHECK_INT(c, 1000);
  CHECK_INT(sessio_mhd_limiter_check(t, 9, T0 + 1000), 0);
  sessio_mhd_limiter_free(t);
}

/* S21: one client over the limit does not refuse another. */
static void test_clients_are_counted_apart_S21(void) {
  sessio_mhd_limiter *t = mk(2, 10000);
  note(t, 100, T0);
  note(t, 100, T0);
  CHECK(sessio_mhd_limiter_check(t, 100, T0) > 0);
  CHECK_INT(sessio_mhd_limiter_check(t, 101, T0), 0);
  /* same bucket, other key */
  CHECK_INT(sessio_mhd_limiter_check(t, 100 + BUCKETS, T0), 0);
  sessio_mhd_limiter_free(t);
}

/* A wall clock stepped back before the window's start ends the window: a
 * step back never refuses for longer than one window. */
static void test_clock_step_back_ends_the_window(void) {
  sessio_mhd_limiter *t = mk(1, 60000);
  note(t, 5, T0);
  CHECK(sessio_mhd_limiter_check(t, 5, T0 + 10) > 0);
  CHECK_INT(sessio_mhd_limiter_check(t, 5, T0 - 3600000), 0);
  CHECK_INT(note(t, 5, T0 - 3600000), 1);
  sessio_mhd_limiter_free(t);
}

/* S21: the table is fixed; 10^5 other clients (a thousand of them in the
 * refused client's own bucket) do not push the refused client out. */
static void test_flood_of_other_clients_keeps_refused_client_S21(void) {
  sessio_mhd_limiter *t = mk(10, 60000);
  const uint64_t bad = 77;
  for (int i = 0; i < 10; i++) note(t, bad, T0);
  for (uint64_t k = 1; k <= 1000; k++) note(t, bad + k * BUCKETS, T0 + 1);
  for (uint64_t k = 0; k < 100000; k++)
    note(t, 0x9e3779b97f4a7c15ULL * (k + 1), T0 + 2);
  CHECK_INT(sessio_mhd_limiter_check(t, bad, T0 + 3), 60000 - 3);
  /* and the light senders that were evicted simply start again */
  CHECK_INT(sessio_mhd_limiter_check(t, bad + BUCKETS, T0 + 3), 0);
  sessio_mhd_limiter_free(t);
}

/* A slot whose window is over is reused before any live one. */
static void test_stale_slot_is_reused_first(void) {
  sessio_mhd_limiter *t = mk(3, 1000);
  uint64_t base = 3;
  for (int w = 0; w < WAYS; w++)
    for (int i = 0; i < 3; i++) /* each way refused */
      note(t, base + (uint64_t)w * BUCKETS, T0 + (w == 0 ? 0 : 500));
  /* way 0's window ended at T0 + 1000; a newcomer takes that slot */
  note(t, base + 99 * BUCKETS, T0 + 1001);
  for (int w = 1; w < WAYS; w++)
    CHECK(sessio_mhd_limiter_check(t, base + (uint64_t)w * BUCKETS, T0 + 1001) >
          0);
  sessio_mhd_limiter_free(t);
}

typedef struct {
  sessio_mhd_limiter *t;
  int n;
} worker_arg;

static void *worker(void *p) {
  worker_arg *a = p;
  for (int i = 0; i < a->n; i++) note(a->t, 1234, T0 + 1);
  return NULL;
}

/* Notes from many threads are all counted (no lost update). */
static void test_threads_count_exactly(void) {
  sessio_mhd_limiter *t = mk(1, 60000);
  pthread_t th[4];
  worker_arg a = {t, 20000};
  for (int i = 0; i < 4; i++)
    CHECK(pthread_create(&th[i], NULL, worker, &a) == 0);
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  CHECK_INT(note(t, 1234, T0 + 2), 80001);
  sessio_mhd_limiter_free(t);
}

/* sessio_mhd_limiter_active() is the request path's lock-free pre-check: false
 * until some client reaches the limit, true for the rest of that window,
 * false again once it ends, and never true with the refusal off. */
static void test_active_only_while_someone_may_be_refused_S21(void) {
  sessio_mhd_limiter *t = mk(2, 1000), *off = mk(0, 1000);
  CHECK(t != NULL && off != NULL);
  if (t == NULL || off == NULL) {
    sessio_mhd_limiter_free(t);
    sessio_mhd_limiter_free(off);
    return;
  }
  CHECK_INT(sessio_mhd_limiter_active(t, T0), 0);
  note(t, 5, T0);
  CHECK_INT(sessio_mhd_limiter_active(t, T0 + 1), 0); /* under the limit */
  note(t, 5, T0 + 100);                               /* reaches it */
  CHECK_INT(sessio_mhd_limiter_active(t, T0 + 100), 1);
  CHECK_INT(sessio_mhd_limiter_active(t, T0 + 999), 1);
  CHECK_INT(sessio_mhd_limiter_active(t, T0 + 1000),
            0); /* its window is over */
  /* a later client extends the mark, an earlier window does not cut it */
  note(t, 6, T0 + 500);
  note(t, 6, T0 + 600);
  CHECK_INT(sessio_mhd_limiter_active(t, T0 + 1400), 1);
  CHECK_INT(sessio_mhd_limiter_active(t, T0 + 1500), 0);
  for (int i = 0; i < 10; i++) note(off, 7, T0 + i);
  CHECK_INT(sessio_mhd_limiter_active(off, T0 + 10), 0);
  /* whenever check refuses, active says so */
  for (int64_t now = T0; now < T0 + 2000; now += 50)
    if (sessio_mhd_limiter_check(t, 5, now) > 0 ||
        sessio_mhd_limiter_check(t, 6, now) > 0)
      CHECK_INT(sessio_mhd_limiter_active(t, now), 1);
  sessio_mhd_limiter_free(t);
  sessio_mhd_limiter_free(off);
}

static void test_bad_window_is_refused(void) {
  sessio_mhd_limiter *l = (sessio_mhd_limiter *)&l;
  CHECK_ERR(sessio_mhd_limiter_new(5, 0, &l), SESSIO_EINVAL);
  CHECK(l == NULL);
  CHECK_ERR(sessio_mhd_limiter_new(5, -1, &l), SESSIO_EINVAL);
  CHECK_ERR(sessio_mhd_limiter_new(5, 1000, NULL), SESSIO_EINVAL);
  CHECK_INT(sessio_mhd_limiter_check(NULL, 1, T0), 0);
  CHECK_INT(note(NULL, 1, T0), 0);
  CHECK_INT(sessio_mhd_limiter_active(NULL, T0), 0);
  sessio_mhd_limiter_free(NULL);
}

/* S21 counts IDs, not requests: a note of 8 (a request with 8 rejected
 * IDs) adds 8, so a limit of 80 is reached by the 10th such request, and
 * a note that jumps over the limit starts the refusal as one that lands
 * on it. A note of 0 counts nothing. */
static void test_each_count_adds_n_S21(void) {
  sessio_mhd_limiter *t = mk(80, 60000), *u = mk(10, 60000);
  CHECK_INT(sessio_mhd_limiter_note(t, 3, 0, T0), 0);
  for (int i = 1; i <= 9; i++)
    CHECK_INT(sessio_mhd_limiter_note(t, 3, 8, T0 + i), 8 * i);
  CHECK_INT(sessio_mhd_limiter_check(t, 3, T0 + 10), 0);
  CHECK_INT(sessio_mhd_limiter_active(t, T0 + 10), 0);
  CHECK_INT(sessio_mhd_limiter_note(t, 3, 8, T0 + 10), 80);
  CHECK_INT(sessio_mhd_limiter_check(t, 3, T0 + 11),
            60000 - 10); /* from T0 + 1 */
  CHECK_INT(sessio_mhd_limiter_active(t, T0 + 11), 1);
  /* 9 then 8: over 10 without landing on it */
  CHECK_INT(sessio_mhd_limiter_note(u, 4, 9, T0), 9);
  CHECK_INT(sessio_mhd_limiter_note(u, 4, 8, T0 + 1), 17);
  CHECK(sessio_mhd_limiter_check(u, 4, T0 + 2) > 0);
  CHECK_INT(sessio_mhd_limiter_active(u, T0 + 2), 1);
  /* saturates instead of wrapping */
  CHECK_INT(sessio_mhd_limiter_note(u, 4, UINT_MAX, T0 + 3), UINT_MAX);
  CHECK(sessio_mhd_limiter_check(u, 4, T0 + 4) > 0);
  sessio_mhd_limiter_free(t);
  sessio_mhd_limiter_free(u);
}

/* Keys are keyed hashes: the same bytes give the same key in one limiter
 * and (almost surely) another key in another limiter; other bytes, another
 * key. */
static void test_keys_are_keyed_per_limiter(void) {
  sessio_mhd_limiter *a = mk(1, 1000), *b = mk(1, 1000);
  uint64_t ka = sessio_mhd_limiter_key(a, "alice", 5);
  CHECK(ka == sessio_mhd_limiter_key(a, "alice", 5));
  CHECK(ka != sessio_mhd_limiter_key(b, "alice", 5));
  CHECK(ka != sessio_mhd_limiter_key(a, "alicf", 5));
  CHECK(sessio_mhd_limiter_key(a, "", 0) != sessio_mhd_limiter_key(a, "a", 1));
  sessio_mhd_limiter_free(a);
  sessio_mhd_limiter_free(b);
}

int main(void) {
  RUN(test_request_after_limit_is_refused_until_window_ends_S21);
  RUN(test_slow_sender_is_never_refused_S21);
  RUN(test_limit_zero_counts_but_never_refuses);
  RUN(test_clients_are_counted_apart_S21);
  RUN(test_clock_step_back_ends_the_window);
  RUN(test_flood_of_other_clients_keeps_refused_client_S21);
  RUN(test_stale_slot_is_reused_first);
  RUN(test_threads_count_exactly);
  RUN(test_active_only_while_someone_may_be_refused_S21);
  RUN(test_bad_window_is_refused);
  RUN(test_each_count_adds_n_S21);
  RUN(test_keys_are_keyed_per_limiter);
  return DONE();
}
