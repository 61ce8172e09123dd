/*
 * test_remember.c — remember-me with its own lifetimes and the age of the
 * last password proof (S8): a remember-me session lives by its own idle
 * and absolute limits, longer than the session's absolute timeout, its
 * cookie never outliving the remember-me absolute lifetime; the auth age
 * grows from the login and restarts at sessio_auth_refresh(). Time is
 * injected; nothing sleeps.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "sessio.h"

#define T0 1700000000000LL
#define SEC 1000LL
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)

static sessio_store *st;
static sessio_manager *m;

static void setup(void) {
  sessio_config *cfg;
  if (sessio_store_open("memory:", &st) != SESSIO_OK ||
      sessio_config_new(&cfg) != SESSIO_OK)
    abort();
  sessio_config_set_store(cfg, st);
  CHECK_OK(sessio_config_set_timeouts(cfg, 30 * MIN, 12 * HOUR, 12 * HOUR));
  CHECK_OK(sessio_config_set_remember(cfg, 7 * DAY, 30 * DAY));
  if (sessio_manager_new(cfg, &m) != SESSIO_OK) abort();
  sessio_config_free(cfg);
}

static void teardown(void) {
  sessio_manager_free(m);
  sessio_store_close(st);
}

/* Signs in at 'now'; the cookie ("sid=ID") into 'cookie', the Set-Cookie
 * into 'sc'. */
static void login(int remember, int64_t now, char *cookie, char *sc) {
  sessio *s;
  CHECK_OK(sessio_begin(m, NULL, 0, 0, now, &s));
  CHECK_OK(sessio_login(s, "alice", remember, now));
  CHECK_OK(sessio_commit(s, now));
  const char *h = sessio_cookie_header(s);
  snprintf(sc, 256, "%s", h);
  snprintf(cookie, 128, "%.*s", (int)strcspn(h, ";"), h);
  sessio_free(s);
}

/* A request at 'now': 1 when still signed in (and touched). */
static int visit(const char *cookie, int64_t now) {
  const char *h[1] = {cookie};
  sessio *s;
  CHECK_OK(sessio_begin(m, h, 1, 0, now, &s));
  int ok = sessio_is_authenticated(s);
  CHECK_OK(sessio_commit(s, now));
  sessio_free(s);
  return ok;
}

static void test_remember_me_has_its_own_idle_and_absolute_S8(void) {
  char cookie[128], sc[256];
  setup();
  login(1, T0, cookie, sc);
  CHECK(strstr(sc, "Max-Age=2592000") != NULL); /* 30 days */
  /* Past the session's 12 h absolute timeout, used every 6 days. */
  for (int d = 6; d < 30; d += 6) CHECK(visit(cookie, T0 + d * DAY));
  CHECK(!visit(cookie, T0 + 30 * DAY)); /* the remember-me absolute */

  login(1, T0, cookie, sc);
  CHECK(visit(cookie, T0 + 7 * DAY - 1));
  CHECK(!visit(cookie, T0 + 14 * DAY)); /* 7 days unused */

  /* Without remember-me: the session's own timeouts. */
  login(0, T0, cookie, sc);
  CHECK(strstr(sc, "Max-Age") == NULL);
  for (int64_t t = 20 * MIN; t < 12 * HOUR; t += 20 * MIN)
    CHECK(visit(cookie, T0 + t));
  CHECK(!visit(cookie, T0 + 12 * HOUR));
  teardown();

  sessio_config *cfg;
  CHECK_OK(sessio_config_new(&cfg));
  CHECK_INT(sessio_config_set_remember(cfg, 8 * DAY, 7 * DAY), SESSIO_EINVAL);
  CHECK_INT(sessio_config_set_remember(cfg, 0, 7 * DAY), SESSIO_EINVAL);
  CHECK_INT(sessio_config_set_remember(cfg, DAY, 200 * 365 * DAY),
            SESSIO_EINVAL);
  sessio_config_free(cfg);
}

static void test_auth_age_grows_and_restarts_at_refresh_S8(void) {
  char cookie[128], sc[256];
  setup();
  sessio *s;
  CHECK_OK(sessio_begin(m, NULL, 0, 0, T0, &s));
  CHECK_INT(sessio_auth_age(s, T0), -1);
  CHECK_INT(sessio_auth_refresh(s, T0), SESSIO_ESTATE);
  sessio_free(s);

  login(1, T0, cookie, sc);
  const char *h[1] = {cookie};
  CHECK_OK(sessio_begin(m, h, 1, 0, T0 + 2 * HOUR, &s));
  CHECK_INT(sessio_auth_age(s, T0 + 2 * HOUR), 2 * HOUR);
  CHECK_OK(sessio_auth_refresh(s, T0 + 2 * HOUR));
  CHECK_INT(sessio_auth_age(s, T0 + 2 * HOUR), 0);
  CHECK_OK(sessio_commit(s, T0 + 2 * HOUR));
  CHECK(sessio_cookie_header(s) == NULL); /* same ID */
  sessio_free(s);
  CHECK_OK(sessio_begin(m, h, 1, 0, T0 + 3 * HOUR, &s));
  CHECK_INT(sessio_auth_age(s, T0 + 3 * HOUR), HOUR);
  sessio_free(s);
  teardown();
}

int main(void) {
  RUN(test_remember_me_has_its_own_idle_and_absolute_S8);
  RUN(test_auth_age_grows_and_restarts_at_refresh_S8);
  return DONE();
}
