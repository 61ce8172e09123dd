/*
 * orders.c — the orders database of sessio-shop (orders.h): one SQLite
 * connection behind a mutex (orders are rare next to page views), WAL, a
 * unique (user, token) so one checkout makes one order however often or
 * concurrently it is placed.
 */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "orders.h"
#include "shop.h"

static sqlite3 *db;
static pthread_mutex_t db_lock = PTHREAD_MUTEX_INITIALIZER;

static const char SCHEMA[] =
    "PRAGMA journal_mode=WAL;"
    "CREATE TABLE IF NOT EXISTS orders("
    " id INTEGER PRIMARY KEY, user TEXT NOT NULL, token TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL, name TEXT, street TEXT, city TEXT, zip TEXT,"
    " country TEXT, ship TEXT, note TEXT, ship_cents INTEGER, items_cents INTEGER,"
    " items INTEGER, UNIQUE(user, token));"
    "CREATE TABLE IF NOT EXISTS order_lines("
    " order_id INTEGER NOT NULL REFERENCES orders(id), sku TEXT NOT NULL,"
    " qty INTEGER NOT NULL, cents INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS order_lines_order ON order_lines(order_id);";

int orders_open(const char *dir) {
  char path[4096];
  char *err = NULL;
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
    shop_log(LOG_ERROR,
             "msg=\"cannot create the data directory\" dir=\"%s\" error=\"%s\"",
             dir, strerror(errno));
    return -1;
  }
  snprintf(path, sizeof path, "%s/shop.db", dir);
  if (sqlite3_open_v2(path, &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                          SQLITE_OPEN_FULLMUTEX,
                      NULL) != SQLITE_OK ||
      sqlite3_busy_timeout(db, 5000) != SQLITE_OK ||
      sqlite3_exec(db, SCHEMA, NULL, NULL, &err) != SQLITE_OK) {
    shop_log(LOG_ERROR,
             "msg=\"cannot open the orders database\" path=\"%s\" error=\"%s\"",
             path,
             err  ? err
             : db ? sqlite3_errmsg(db)
                  : "out of memory");
    sqlite3_free(err);
    sqlite3_close(db);
    db = NULL;
    return -1;
  }
  return 0;
}

void orders_close(void) {
  sqlite3_close(db);
  db = NULL;
}

static int find_token(const char *user, const char *token, int64_t *id) {
  sqlite3_stmt *st = NULL;
  int rc, found = -1;
  if (sqlite3_prepare_v2(db, "SELECT id FROM orders WHERE user=?1 AND token=?2",
                         -1, &st, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, token, -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    *id = sqlite3_column_int64(st, 0);
    found = 1;
  } else if (rc == SQLITE_DONE) {
    found = 0;
  }
  sqlite3_finalize(st);
  return found;
}

int orders_by_token(const char *user, const char *token, int64_t *id) {
  int r;
  if (db == NULL) return -1;
  pthread_mutex_lock(&db_lock);
  r = find_token(user, token, id);
  pthread_mutex_unlock(&db_lock);
  return r;
}

static int insert(const char *user, const char *token, order *o) {
  sqlite3_stmt *st = NULL;
  int ok;
  if (sqlite3_prepare_v2(
          db,
          "INSERT INTO orders(user, token, created_ms, name, street, city, zip,"
          " country, ship, note, ship_cents, items_cents, items)"
          " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)",
          -1, &st, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, token, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, o->created_ms);
  sqlite3_bind_text(st, 4, o->name, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 5, o->street, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 6, o->city, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 7, o->zip, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 8, o->country, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 9, o->ship, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 10, o->note, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 11, o->ship_cents);
  sqlite3_bind_int64(st, 12, o->items_cents);
  sqlite3_bind_int64(st, 13, o->items);
  ok = sqlite3_step(st) == SQLITE_DONE;
  sqlite3_finalize(st);
  if (!ok) return -1;
  o->id = sqlite3_last_insert_rowid(db);
  if (sqlite3_prepare_v2(
          db,
          "INSERT INTO order_lines(order_id, sku, qty, cents) VALUES(?1,?2,?3,?4)",
          -1, &st, NULL) != SQLITE_OK)
    return -1;
  for (size_t i = 0; ok && i < o->nlines; i++) {
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, o->id);
    sqlite3_bind_text(st, 2, o->line[i].sku, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, o->line[i].qty);
    sqlite3_bind_int64(st, 4, o->line[i].cents);
    ok = sqlite3_step(st) == SQLITE_DONE;
  }
  sqlite3_finalize(st);
  return ok ? 0 : -1;
}

int orders_place(const char *user, const char *token, order *o, int64_t now,
                 int64_t *id, int *created) {
  int r = -1, f;
  if (db == NULL) return -1;
  *created = 0;
  o->created_ms = now;
  pthread_mutex_lock(&db_lock);
  if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
    goto fail_begin;
  f = find_token(user, token, id);
  if (f < 0) goto fail_tx;
  if (f == 0) {
    if (insert(user, token, o) != 0) goto fail_tx;
    *id = o->id;
    *created = 1;
  }
  if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) goto fail_tx;
  r = 0;
  goto done;
fail_tx:
  shop_log(LOG_ERROR, "msg=\"order not placed\" error=\"%s\"",
           sqlite3_errmsg(db));
  sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
  *created = 0;
fail_begin:
done:
  pthread_mutex_unlock(&db_lock);
  return r;
}

static void col_text(sqlite3_stmt *st, int col, char *out, size_t size) {
  const unsigned char *t = sqlite3_column_text(st, col);
  snprintf(out, size, "%s", t ? (const char *)t : "");
}

/* Fills the order columns of row 'st' (the SELECT in ORDER_COLS order). */
#define ORDER_COLS                                                             \
  "id, created_ms, name, street, city, zip, country, ship, note, ship_cents, items_cents, items"
static void read_order(sqlite3_stmt *st, order *o) {
  o->id = sqlite3_column_int64(st, 0);
  o->created_ms = sqlite3_column_int64(st, 1);
  col_text(st, 2, o->name, sizeof o->name);
  col_text(st, 3, o->street, sizeof o->street);
  col_text(st, 4, o->city, sizeof o->city);
  col_text(st, 5, o->zip, sizeof o->zip);
  col_text(st, 6, o->country, sizeof o->country);
  col_text(st, 7, o->ship, sizeof o->ship);
  col_text(st, 8, o->note, sizeof o->note);
  o->ship_cents = sqlite3_column_int64(st, 9);
  o->items_cents = sqlite3_column_int64(st, 10);
  o->items = sqlite3_column_int64(st, 11);
  o->nlines = 0;
}

int orders_get(const char *user, int64_t id, order *o) {
  sqlite3_stmt *st = NULL;
  int r = -1, rc;
  if (db == NULL) return -1;
  pthread_mutex_lock(&db_lock);
  if (sqlite3_prepare_v2(
          db, "SELECT " ORDER_COLS " FROM orders WHERE id=?1 AND user=?2", -1,
          &st, NULL) != SQLITE_OK)
    goto done;
  sqlite3_bind_int64(st, 1, id);
  sqlite3_bind_text(st, 2, user, -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  if (rc == SQLITE_DONE) {
    r = 0;
    goto done;
  }
  if (rc != SQLITE_ROW) goto done;
  read_order(st, o);
  sqlite3_finalize(st);
  st = NULL;
  if (sqlite3_prepare_v2(
          db,
          "SELECT sku, qty, cents FROM order_lines WHERE order_id=?1 ORDER BY rowid",
          -1, &st, NULL) != SQLITE_OK)
    goto done;
  sqlite3_bind_int64(st, 1, id);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW && o->nlines < ORDER_LINES) {
    order_line *l = &o->line[o->nlines++];
    col_text(st, 0, l->sku, sizeof l->sku);
    l->qty = sqlite3_column_int64(st, 1);
    l->cents = sqlite3_column_int64(st, 2);
  }
  r = rc == SQLITE_DONE || rc == SQLITE_ROW ? 1 : -1;
done:
  sqlite3_finalize(st);
  pthread_mutex_unlock(&db_lock);
  return r;
}

int orders_list(const char *user, order *rows, size_t max, size_t *n) {
  sqlite3_stmt *st = NULL;
  int r = -1, rc = SQLITE_ERROR;
  *n = 0;
  if (db == NULL) return -1;
  pthread_mutex_lock(&db_lock);
  if (sqlite3_prepare_v2(db,
                         "SELECT " ORDER_COLS
                         " FROM orders WHERE user=?1 ORDER BY id DESC"
                         " LIMIT ?2",
                         -1, &st, NULL) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
    while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW)
      read_order(st, &rows[(*n)++]);
    r = rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
  }
  sqlite3_finalize(st);
  pthread_mutex_unlock(&db_lock);
  return r;
}
