/*
 * test_secret_check.c — sessio_manager_check_secret: the first check writes
 * the store's check record, later managers with the same secret match, and
 * another secret (or none, or one where the store had none) is detected
 * rather than silently finding no session.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "sessio.h"

#define T0 1700000000000LL

static sessio_manager *manager(sessio_store *st, const char *secret) {
  sessio_config *cfg;
  sessio_manager *m;
  sessio_config_new(&cfg);
  sessio_config_set_store(cfg, st);
  if (secret) sessio_config_set_secret(cfg, secret, strlen(secret));
  if (sessio_manager_new(cfg, &m) != SESSIO_OK) abort();
  sessio_config_free(cfg);
  return m;
}

static int check(sessio_store *st, const char *secret, int record) {
  sessio_manager *m = manager(st, secret);
  int same = -2;
  CHECK_OK(sessio_manager_check_secret(m, T0, record, &same));
  sessio_manager_free(m);
  return same;
}

static void test_first_check_records_the_secret_and_others_differ(void) {
  sessio_store *st;
  CHECK_OK(sessio_store_open("memory:", &st));
  CHECK_INT(check(st, "alpha", 0), -1); /* none yet, only read */
  CHECK_INT(check(st, "alpha", 1), 1);  /* written */
  CHECK_INT(check(st, "alpha", 0), 1);
  CHECK_INT(check(st, "beta", 0), 0);
  CHECK_INT(check(st, "beta", 1), 0); /* never overwritten */
  CHECK_INT(check(st, NULL, 0), 0);
  CHECK_INT(check(st, "alpha", 0), 1);
  struct sessio_store_stats s;
  CHECK_OK(sessio_store_stats(st, &s));
  CHECK_INT(s.sessions, 1);
  sessio_store_close(st);

  CHECK_OK(sessio_store_open("memory:", &st));
  CHECK_INT(check(st, NULL, 1), 1); /* a store written without a secret */
  CHECK_INT(check(st, "alpha", 0), 0);
  sessio_store_close(st);
}

static void test_bad_arguments(void) {
  int same = 7;
  CHECK_ERR(sessio_manager_check_secret(NULL, T0, 0, &same), SESSIO_EINVAL);
  CHECK_INT(same, 0);
}

int main(void) {
  RUN(test_first_check_records_the_secret_and_others_differ);
  RUN(test_bad_arguments);
  return DONE();
}
