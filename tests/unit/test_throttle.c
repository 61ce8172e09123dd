/*
 * test_throttle.c — sessio-shop's invalid-ID throttle (S21) with injected
 * time: the request after the limit is refused, for exactly what is left of
 * the window, the window's end lifts it, clients are counted apart, a flood
 * of other clients does not evict the one being refused, threads count
 * exactly. The shop's throttle.c is built into this test (CMakeLists.txt):
 * it is not part of a library.
 */
#include <pthread.h>
#include <stdint.h>

#include "harness.h"
#include "throttle.h"

#define T0 1700000000000LL /* any wall-clock ms */

/* S21: 'limit' invalid IDs pass; the next request is refused until the
 * window that began with the first one ends. */
static void test_request_after_limit_is_refused_until_window_ends_S21(void) {
  shop_throttle *t = throttle_new(3, 60000);
  CHECK(t != NULL);
  if (t == NULL)
    return;
  CHECK_INT(throttle_check(t, 42, T0), 0);
  CHECK_INT(throttle_note(t, 42, T0), 1);
  CHECK_INT(throttle_check(t, 42, T0 + 1), 0);
  CHECK_INT(throttle_note(t, 42, T0 + 1000), 2);
  CHECK_INT(throttle_check(t, 42, T0 + 1000), 0);
  CHECK_INT(throttle_note(t, 42, T0 + 2000), 3);
  /* the 4th request: refused for what is left of the window */
  CHECK_INT(throttle_check(t, 42, T0 + 2000), 58000);
  CHECK_INT(throttle_check(t, 42, T0 + 59999), 1);
  /* the window's end lifts it, and a new window starts from 1 */
  CHECK_INT(throttle_check(t, 42, T0 + 60000), 0);
  CHECK_INT(throttle_note(t, 42, T0 + 60000), 1);
  CHECK_INT(throttle_check(t, 42, T0 + 60001), 0);
  throttle_free(t);
}

/* A window is fixed: invalid IDs spread over more than the window never
 * add up to the limit. */
static void test_slow_sender_is_never_refused_S21(void) {
  shop_throttle *t = throttle_new(5, 1000);
  int refused = 0;
  for (int i = 0; i < 1000; i++) {
    int64_t now = T0 + (int64_t)i * 250; /* 4 per window */
    refused += throttle_check(t, 7, now) > 0;
    throttle_note(t, 7, now);
  }
  CHECK_INT(refused, 0);
  throttle_free(t);
}

static void test_limit_zero_counts_but_never_refuses(void) {
  shop_throttle *t = throttle_new(0, 60000);
  unsigned c = 0;
  for (int i = 0; i < 1000; i++)
    c = throttle_note(t, 9, T0 + i);
  CHECK_INT(c, 1000);
  CHECK_INT(throttle_check(t, 9, T0 + 1000), 0);
  throttle_free(t);
}

/* S21: one client over the limit does not refuse another. */
static void test_clients_are_counted_apart_S21(void) {
  shop_throttle *t = throttle_new(2, 10000);
  throttle_note(t, 100, T0);
  throttle_note(t, 100, T0);
  CHECK(throttle_check(t, 100, T0) > 0);
  CHECK_INT(throttle_check(t, 101, T0), 0);
  /* same bucket, other key */
  CHECK_INT(throttle_check(t, 100 + THROTTLE_BUCKETS, T0), 0);
  throttle_free(t);
}

/* A wall clock stepped back before the window's start ends the window: a
 * step back never refuses for longer than one window. */
static void test_clock_step_back_ends_the_window(void) {
  shop_throttle *t = throttle_new(1, 60000);
  throttle_note(t, 5, T0);
  CHECK(throttle_check(t, 5, T0 + 10) > 0);
  CHECK_INT(throttle_check(t, 5, T0 - 3600000), 0);
  CHECK_INT(throttle_note(t, 5, T0 - 3600000), 1);
  throttle_free(t);
}

/* S21: the table is fixed; 10^5 other clients (a thousand of them in the
 * refused client's own bucket) do not push the refused client out. */
static void test_flood_of_other_clients_keeps_refused_client_S21(void) {
  shop_throttle *t = throttle_new(10, 60000);
  const uint64_t bad = 77;
  for (int i = 0; i < 10; i++)
    throttle_note(t, bad, T0);
  for (uint64_t k = 1; k <= 1000; k++)
    throttle_note(t, bad + k * THROTTLE_BUCKETS, T0 + 1);
  for (uint64_t k = 0; k < 100000; k++)
    throttle_note(t, 0x9e3779b97f4a7c15ULL * (k + 1), T0 + 2);
  CHECK_INT(throttle_check(t, bad, T0 + 3), 60000 - 3);
  /* and the light senders that were evicted simply start again */
  CHECK_INT(throttle_check(t, bad + THROTTLE_BUCKETS, T0 + 3), 0);
  throttle_free(t);
}

/* A slot whose window is over is reused before any live one. */
static void test_stale_slot_is_reused_first(void) {
  shop_throttle *t = throttle_new(3, 1000);
  uint64_t base = 3;
  for (int w = 0; w < THROTTLE_WAYS; w++)
    for (int i = 0; i < 3; i++) /* each way refused */
      throttle_note(t, base + (uint64_t)w * THROTTLE_BUCKETS, T0 + (w == 0 ? 0 : 500));
  /* way 0's window ended at T0 + 1000; a newcomer takes that slot */
  throttle_note(t, base + 99 * THROTTLE_BUCKETS, T0 + 1001);
  for (int w = 1; w < THROTTLE_WAYS; w++)
    CHECK(throttle_check(t, base + (uint64_t)w * THROTTLE_BUCKETS, T0 + 1001) > 0);
  throttle_free(t);
}

typedef struct {
  shop_throttle *t;
  int n;
} worker_arg;

static void *worker(void *p) {
  worker_arg *a = p;
  for (int i = 0; i < a->n; i++)
    throttle_note(a->t, 1234, T0 + 1);
  return NULL;
}

/* Notes from many threads are all counted (no lost update). */
static void test_threads_count_exactly(void) {
  shop_throttle *t = throttle_new(1, 60000);
  pthread_t th[4];
  worker_arg a = {t, 20000};
  for (int i = 0; i < 4; i++)
    CHECK(pthread_create(&th[i], NULL, worker, &a) == 0);
  for (int i = 0; i < 4; i++)
    pthread_join(th[i], NULL);
  CHECK_INT(throttle_note(t, 1234, T0 + 2), 80001);
  throttle_free(t);
}

/* throttle_active() is the request path's lock-free pre-check: false
 * until some client reaches the limit, true for the rest of that window,
 * false again once it ends, and never true with the refusal off. */
static void test_active_only_while_someone_may_be_refused_S21(void) {
  shop_throttle *t = throttle_new(2, 1000), *off = throttle_new(0, 1000);
  CHECK(t != NULL && off != NULL);
  if (t == NULL || off == NULL) {
    throttle_free(t);
    throttle_free(off);
    return;
  }
  CHECK_INT(throttle_active(t, T0), 0);
  throttle_note(t, 5, T0);
  CHECK_INT(throttle_active(t, T0 + 1), 0); /* under the limit */
  throttle_note(t, 5, T0 + 100);             /* reaches it */
  CHECK_INT(throttle_active(t, T0 + 100), 1);
  CHECK_INT(throttle_active(t, T0 + 999), 1);
  CHECK_INT(throttle_active(t, T0 + 1000), 0); /* its window is over */
  /* a later client extends the mark, an earlier window does not cut it */
  throttle_note(t, 6, T0 + 500);
  throttle_note(t, 6, T0 + 600);
  CHECK_INT(throttle_active(t, T0 + 1400), 1);
  CHECK_INT(throttle_active(t, T0 + 1500), 0);
  for (int i = 0; i < 10; i++)
    throttle_note(off, 7, T0 + i);
  CHECK_INT(throttle_active(off, T0 + 10), 0);
  /* whenever check refuses, active says so */
  for (int64_t now = T0; now < T0 + 2000; now += 50)
    if (throttle_check(t, 5, now) > 0 || throttle_check(t, 6, now) > 0)
      CHECK_INT(throttle_active(t, now), 1);
  throttle_free(t);
  throttle_free(off);
}

static void test_bad_window_is_refused(void) {
  CHECK(throttle_new(5, 0) == NULL);
  CHECK(throttle_new(5, -1) == NULL);
  CHECK_INT(throttle_check(NULL, 1, T0), 0);
  CHECK_INT(throttle_note(NULL, 1, T0), 0);
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
  return DONE();
}
