/*
 * orders.h — sessio-shop's orders: shop data, not session data, kept in the
 * shop's own SQLite database (DIR/shop.db, --data DIR). An order is placed
 * once per checkout token, so a repeated or concurrent "place" finds the
 * order the first one made.
 */
#ifndef SHOP_ORDERS_H
#define SHOP_ORDERS_H

#include <stddef.h>
#include <stdint.h>

#define ORDER_TEXT 201 /* SHOP_TEXT_MAX + 1 */
#define ORDER_LINES 64 /* SHOP_CART_LINES */

typedef struct order_line {
  char sku[33];
  int64_t qty, cents; /* unit price at the time of the order */
} order_line;

typedef struct order {
  int64_t id, created_ms, ship_cents, items_cents, items;
  char name[ORDER_TEXT], street[ORDER_TEXT], city[ORDER_TEXT], zip[ORDER_TEXT],
      country[ORDER_TEXT], note[ORDER_TEXT], ship[16];
  order_line line[ORDER_LINES];
  size_t nlines;
} order;

/* Opens (creating) DIR/shop.db, creating DIR (0700) when missing. 0, or -1
 * with the reason logged. Call once before serving; orders_close at exit. */
int orders_open(const char *dir);
void orders_close(void);
/* Places 'o' (id and created_ms are set here) for 'user' under 'token'
 * unless an order of that user and token exists: either way '*id' is the
 * order and '*created' says whether this call made it. 0, or -1 on a
 * database error. Safe from any thread. */
int orders_place(const char *user, const char *token, order *o, int64_t now,
                 int64_t *id, int *created);
/* The order of 'user' placed under 'token': 1 and '*id', 0 none, -1 error. */
int orders_by_token(const char *user, const char *token, int64_t *id);
/* Order 'id' of 'user' into '*o': 1, 0 when there is none (or it is
 * another user's), -1 on error. */
int orders_get(const char *user, int64_t id, order *o);
/* The newest orders of 'user' first, at most 'max' into 'rows' (lines not
 * filled), '*n' of them. 0 or -1. */
int orders_list(const char *user, order *rows, size_t max, size_t *n);

#endif /* SHOP_ORDERS_H */
