/*
 * throttle.h — sessio-shop's per-client counter of invalid session IDs
 * (SECURITY.md S21): a fixed-size table, safe to use from many threads,
 * with the time passed in by the caller. Knows nothing of HTTP; http.c
 * turns a client address into the 64-bit key and a refusal into a 429.
 */
#ifndef SHOP_THROTTLE_H
#define SHOP_THROTTLE_H

#include <stdint.h>

/* Slots in the table (buckets x ways): what the counter costs in memory
 * (24 bytes a slot) whatever the number of clients. */
#define THROTTLE_BUCKETS 1024
#define THROTTLE_WAYS 4

typedef struct shop_throttle shop_throttle;

/* A table where a client that sent 'limit' invalid IDs within 'window_ms'
 * of its first one is refused until that window ends. 'limit' 0 turns the
 * refusal off (counting goes on, for the warning). 'window_ms' > 0.
 * Returns NULL on out of memory. Free with throttle_free. */
shop_throttle *throttle_new(unsigned limit, int64_t window_ms);
void throttle_free(shop_throttle *t);
/* The limit and window it was made with (0 for a NULL table). */
unsigned throttle_limit(const shop_throttle *t);
int64_t throttle_window(const shop_throttle *t);

/* 0 when no client can be refused at 'now': none has reached the limit in
 * a window that is still open. One atomic load, no lock: callers test it
 * before they spend anything on finding out who the client is. */
int throttle_active(shop_throttle *t, int64_t now);

/* 0 when 'client' may go on at 'now' (ms); otherwise the ms left (> 0)
 * until its window ends. Changes nothing. */
int64_t throttle_check(shop_throttle *t, uint64_t client, int64_t now);

/* Counts one invalid ID of 'client' at 'now' and returns its count in the
 * current window (1 for the first of a window). When the table is full, a
 * new client takes the place of one whose window is over, else of the one
 * with the lowest count, so heavy senders stay counted. */
unsigned throttle_note(shop_throttle *t, uint64_t client, int64_t now);

#endif /* SHOP_THROTTLE_H */
