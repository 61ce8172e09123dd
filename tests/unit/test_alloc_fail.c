/*
 * test_alloc_fail.c — allocation failure paths: malloc, calloc and realloc
 * made by libsessio are wrapped (the link uses -Wl,--wrap, see
 * CMakeLists.txt) so that the Nth call fails. A whole request scenario is run
 * with N = 1, 2, 3, ... until it completes: every call must fail cleanly
 * with SESSIO_ENOMEM or succeed, never crash, never leak (LeakSanitizer
 * checks at exit), and the store must stay usable afterwards.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "sessio.h"

#include "failalloc.h"

static long fail_at; /* 0 = never fail */
#define injected (failalloc_injected() > 0)

#define T0 1700000000000LL
static int bad_codes;

/* Any result but OK or ENOMEM is a bug. */
static int ok(sessio_err rc) {
  if (rc != SESSIO_OK && rc != SESSIO_ENOMEM) {
    fprintf(stderr, "  unexpected %s at fail_at=%ld\n", sessio_errname(rc),
            fail_at);
    bad_codes++;
  }
  return rc == SESSIO_OK;
}

/* One user's visit: create a session, add to the cart, log in, list and
 * revoke sessions, log out. Returns 1 when it ran to the end. */
static int scenario(sessio_manager *m) {
  sessio *s = NULL;
  char cookie[128] = "";
  const char *h[1] = {cookie};
  int done = 0;
  if (!ok(sessio_begin(m, NULL, 0, 0, T0, &s))) return 0;
  if (!ok(sessio_incr(s, "cart.A1", 2, NULL)) ||
      !ok(sessio_set_str(s, "pref.theme", "dark")) ||
      !ok(sessio_flash_set(s, "n", "hello")) || !ok(sessio_commit(s, T0)))
    goto out;
  snprintf(cookie, sizeof cookie, "%.*s",
           (int)strcspn(sessio_set_cookie(s), ";"), sessio_set_cookie(s));
  sessio_free(s);
  s = NULL;
  if (!ok(sessio_begin(m, h, 1, 0, T0 + 1, &s))) return 0;
  const char *msg;
  sessio_flash_take(s, "n", &msg);
  if (!ok(sessio_set_info(s, "agent")) ||
      !ok(sessio_login(s, "alice", 1, T0 + 1)) ||
      !ok(sessio_commit(s, T0 + 1)))
    goto out;
  snprintf(cookie, sizeof cookie, "%.*s",
           (int)strcspn(sessio_set_cookie(s), ";"), sessio_set_cookie(s));
  sessio_free(s);
  s = NULL;
  sessio_session_info *v = NULL;
  size_t n = 0;
  if (!ok(sessio_user_sessions(m, "alice", T0 + 2, &v, &n))) return 0;
  free(v);
  size_t revoked;
  if (!ok(sessio_user_revoke(m, "alice", NULL, "00", T0 + 2, &revoked)))
    return 0;
  if (!ok(sessio_begin(m, h, 1, 0, T0 + 3, &s))) return 0;
  if (!ok(sessio_destroy(s)) || !ok(sessio_commit(s, T0 + 3))) goto out;
  done = 1;
out:
  sessio_free(s);
  return done;
}

static void test_every_allocation_failure_is_clean(void) {
  int completed = 0;
  long n;
  for (n = 1; n < 5000 && !completed; n++) {
    sessio_store *st = NULL;
    sessio_config *cfg = NULL;
    sessio_manager *m = NULL;
    fail_at = n;
    failalloc_arm(FAILALLOC_ONCE, n);
    if (ok(sessio_store_open("memory:?shards=2", &st)) &&
        ok(sessio_config_new(&cfg)) && ok(sessio_config_set_store(cfg, st)) &&
        ok(sessio_manager_new(cfg, &m))) {
      int ran = scenario(m);
      completed = ran && !injected;
      /* After a failure the store still serves a clean scenario. */
      int had = injected;
      failalloc_disarm();
      if (had) CHECK(scenario(m));
    }
    failalloc_disarm();
    sessio_manager_free(m);
    sessio_config_free(cfg);
    sessio_store_close(st);
  }
  CHECK(completed);
  CHECK(n > 20); /* the scenario really allocates */
  CHECK_INT(bad_codes, 0);
  printf("  allocation failure injected at calls 1..%ld\n", n - 1);
}

int main(void) {
  RUN(test_every_allocation_failure_is_clean);
  return DONE();
}
