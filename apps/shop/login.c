/*
 * login.c — sessio-shop's password checks under attack: the failed-login
 * limits (S28) and the argon2id check on sessio-mhd's bounded pool, off
 * the request threads (S27). Both sign-in handlers (POST /login and
 * POST /api/login) call login_check(), which is re-entered once the pool
 * has checked the password and MHD has resumed the request.
 *
 * Limits: a client gets --login-limit failed sign-ins per account within
 * --login-window, and four times that over all accounts; past either it
 * is answered 429 without a password check until its window ends. The
 * account itself is never locked for everyone (an attacker could then
 * lock its owner out for as long as it likes): failures on one account
 * from many clients are counted and logged instead. The three counters
 * are sessio-mhd's fixed limiter tables (S21's), so their memory is
 * bounded whatever the number of clients and accounts.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "shop.h"

#define CLIENT_FACTOR 4   /* a client's failures over all accounts: 4 x limit */
#define ACCOUNT_REPORT 10 /* failures on one account, all clients: 10 x limit */

struct shop_login {
  const shop_users *users;
  char *user, *password; /* copies, the password wiped after the check */
  size_t pw_len;
  int ok;
};

int login_limits_new(shop *sh, unsigned limit, int64_t window_ms) {
  unsigned client = limit > UINT32_MAX / CLIENT_FACTOR ? UINT32_MAX
                                                       : limit * CLIENT_FACTOR;
  sh->login_limit = limit;
  if (sessio_mhd_limiter_new(limit, window_ms, &sh->login_pair) != SESSIO_OK ||
      sessio_mhd_limiter_new(client, window_ms, &sh->login_client) !=
          SESSIO_OK ||
      sessio_mhd_limiter_new(0, window_ms, &sh->login_account) !=
          SESSIO_OK) /* counts only */
    return -1;
  return 0;
}

void login_limits_free(shop *sh) {
  sessio_mhd_limiter_free(sh->login_pair);
  sessio_mhd_limiter_free(sh->login_client);
  sessio_mhd_limiter_free(sh->login_account);
}

/* The keys of this request's client for 'user', over all accounts, and of
 * the account alone. */
static uint64_t pair_key(req *r, const char *user) {
  return sessio_mhd_limiter_client(r->shop->login_pair, r->conn,
                                   r->shop->trust_proxy, user, NULL, 0);
}
static uint64_t client_key(req *r) {
  return sessio_mhd_limiter_client(r->shop->login_client, r->conn,
                                   r->shop->trust_proxy, NULL, NULL, 0);
}

/* ms until this client may try 'user' again, 0 when it may now. */
static int64_t limited(req *r, const char *user) {
  int64_t a, b;
  if (r->shop->login_limit == 0) return 0;
  a = sessio_mhd_limiter_check(r->shop->login_pair, pair_key(r, user), r->now);
  b = sessio_mhd_limiter_check(r->shop->login_client, client_key(r), r->now);
  return a > b ? a : b;
}

static void note_failure(req *r, const char *user) {
  unsigned n;
  sessio_mhd_limiter *acc = r->shop->login_account;
  sessio_mhd_limiter_note(r->shop->login_pair, pair_key(r, user), 1, r->now);
  sessio_mhd_limiter_note(r->shop->login_client, client_key(r), 1, r->now);
  n = sessio_mhd_limiter_note(
      acc, sessio_mhd_limiter_key(acc, user, strlen(user)), 1, r->now);
  if (r->shop->login_limit > 0 && n == r->shop->login_limit * ACCOUNT_REPORT)
    shop_log(LOG_WARN, "msg=\"many failed sign-ins for one account\" count=%u",
             n);
}

static void job_free(struct shop_login *j) {
  if (j == NULL) return;
  if (j->password) sodium_memzero(j->password, j->pw_len);
  free(j->password);
  free(j->user);
  free(j);
}

void login_release(req *r) {
  job_free(r->login);
  r->login = NULL;
}

static void run_check(void *arg) {
  struct shop_login *j = arg;
  j->ok = users_verify(j->users, j->user, j->password);
  sodium_memzero(j->password, j->pw_len);
}

int login_check(req *r, const char *user, const char *password) {
  struct shop_login *j = r->login;
  sessio_err e;
  if (j != NULL) { /* resumed: the pool has checked it */
    int ok = j->ok;
    login_release(r);
    if (!ok) note_failure(r, user);
    return ok ? LOGIN_OK : LOGIN_BAD;
  }
  if ((r->retry_ms = limited(r, user)) > 0) return LOGIN_LIMITED;
  if (r->shop->pool == NULL) { /* no pool (tests of the plain path) */
    int ok = users_verify(r->shop->users, user, password);
    if (!ok) note_failure(r, user);
    return ok ? LOGIN_OK : LOGIN_BAD;
  }
  j = calloc(1, sizeof *j);
  if (j == NULL) return LOGIN_ERROR;
  j->users = r->shop->users;
  j->pw_len = strlen(password);
  j->user = strdup(user);
  j->password = strdup(password);
  if (j->user == NULL || j->password == NULL) {
    job_free(j);
    return LOGIN_ERROR;
  }
  r->login = j;
  e = sessio_mhd_pool_submit(r->shop->pool, r->conn, run_check, j);
  if (e != SESSIO_OK) {
    login_release(r);
    return e == SESSIO_EFULL ? LOGIN_BUSY : LOGIN_ERROR;
  }
  r->suspended = 1;
  return LOGIN_PENDING;
}
