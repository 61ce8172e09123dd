/*
 * throttle.c — the per-client invalid-ID counter of sessio-shop (S21): a
 * set-associative table of THROTTLE_BUCKETS x THROTTLE_WAYS fixed windows,
 * each bucket guarded by one of THROTTLE_STRIPES mutexes. Pure C and time
 * as a parameter, so tests/unit/test_throttle.c can drive it directly.
 */
#include "throttle.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define THROTTLE_STRIPES 64

typedef struct slot {
  uint64_t client; /* the key; meaningful only when 'count' > 0 */
  int64_t window_start;
  unsigned count;  /* invalid IDs in the window that began at window_start */
} slot;

struct shop_throttle {
  unsigned limit;
  int64_t window_ms;
  /* The latest end of a window in which some client reached the limit:
   * before it, someone may be refused; from it on, nobody is. */
  _Atomic int64_t refusing_until;
  pthread_mutex_t mu[THROTTLE_STRIPES];
  slot tab[THROTTLE_BUCKETS][THROTTLE_WAYS];
};

shop_throttle *throttle_new(unsigned limit, int64_t window_ms) {
  shop_throttle *t;
  int i;
  if (window_ms <= 0)
    return NULL;
  t = calloc(1, sizeof *t);
  if (t == NULL)
    return NULL;
  t->limit = limit;
  t->window_ms = window_ms;
  atomic_init(&t->refusing_until, INT64_MIN);
  for (i = 0; i < THROTTLE_STRIPES; i++)
    if (pthread_mutex_init(&t->mu[i], NULL) != 0)
      goto fail_mu;
  return t;
fail_mu:
  while (i-- > 0)
    pthread_mutex_destroy(&t->mu[i]);
  free(t);
  return NULL;
}

void throttle_free(shop_throttle *t) {
  if (t == NULL)
    return;
  for (int i = 0; i < THROTTLE_STRIPES; i++)
    pthread_mutex_destroy(&t->mu[i]);
  free(t);
}

unsigned throttle_limit(const shop_throttle *t) { return t ? t->limit : 0; }
int64_t throttle_window(const shop_throttle *t) { return t ? t->window_ms : 0; }

/* A window is live from its start for window_ms. A clock that went back
 * before the start ends it too, so a step back never blocks anyone for
 * longer than one window. */
static int live(const shop_throttle *t, const slot *s, int64_t now) {
  return s->count > 0 && now >= s->window_start && now - s->window_start < t->window_ms;
}

/* The key is already a keyed hash (http.c): its low bits pick the bucket. */
static size_t bucket_of(uint64_t client) { return (size_t)(client % THROTTLE_BUCKETS); }

int throttle_active(shop_throttle *t, int64_t now) {
  return t != NULL && t->limit > 0 &&
         now < atomic_load_explicit(&t->refusing_until, memory_order_acquire);
}

int64_t throttle_check(shop_throttle *t, uint64_t client, int64_t now) {
  size_t b = bucket_of(client);
  int64_t left = 0;
  if (t == NULL || t->limit == 0)
    return 0;
  pthread_mutex_lock(&t->mu[b % THROTTLE_STRIPES]);
  for (int w = 0; w < THROTTLE_WAYS; w++) {
    const slot *s = &t->tab[b][w];
    if (s->count > 0 && s->client == client) {
      if (live(t, s, now) && s->count >= t->limit)
        left = s->window_start + t->window_ms - now;
      break;
    }
  }
  pthread_mutex_unlock(&t->mu[b % THROTTLE_STRIPES]);
  return left;
}

unsigned throttle_note(shop_throttle *t, uint64_t client, int64_t now) {
  size_t b = bucket_of(client);
  slot *row, *s = NULL;
  unsigned count;
  if (t == NULL)
    return 0;
  pthread_mutex_lock(&t->mu[b % THROTTLE_STRIPES]);
  row = t->tab[b];
  for (int w = 0; w < THROTTLE_WAYS; w++)
    if (row[w].count > 0 && row[w].client == client) {
      s = &row[w];
      break;
    }
  if (s == NULL) {
    /* A free or stale way first, else the lowest count (the oldest among
     * equals): a flood of new addresses evicts light senders, not the
     * client that is being refused. */
    for (int w = 0; w < THROTTLE_WAYS; w++) {
      slot *c = &row[w];
      if (!live(t, c, now)) {
        s = c;
        break;
      }
      if (s == NULL || c->count < s->count ||
          (c->count == s->count && c->window_start < s->window_start))
        s = c;
    }
    s->client = client;
    s->count = 0;
  }
  if (!live(t, s, now)) {
    s->window_start = now;
    s->count = 0;
  }
  if (s->count < UINT_MAX)
    s->count++;
  count = s->count;
  if (t->limit > 0 && count == t->limit) { /* refusals begin: raise the mark */
    int64_t end = s->window_start + t->window_ms;
    int64_t cur = atomic_load_explicit(&t->refusing_until, memory_order_relaxed);
    while (cur < end && !atomic_compare_exchange_weak_explicit(
                            &t->refusing_until, &cur, end, memory_order_release,
                            memory_order_relaxed)) {
    }
  }
  pthread_mutex_unlock(&t->mu[b % THROTTLE_STRIPES]);
  return count;
}
