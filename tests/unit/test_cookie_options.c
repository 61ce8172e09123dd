/*
 * test_cookie_options.c — the cookie's Path, Partitioned (CHIPS), Domain,
 * SameSite and name as a manager sends them, and the combinations it
 * refuses: Partitioned or SameSite=None without Secure, a __Host- name
 * with a Domain or a Path other than "/" (S8, S31).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "sessio.h"

#define T0 1700000000000LL

typedef struct opts {
  const char *name, *domain, *path;
  sessio_secure secure;
  sessio_samesite same;
  int partitioned;
} opts;

/* Makes a manager with 'o' on a memory store; returns what
 * sessio_manager_new() said, and with SESSIO_OK the Set-Cookie of a new
 * session over TLS in 'sc'. */
static sessio_err try_opts(const opts *o, char *sc, size_t cap) {
  sessio_store *st;
  sessio_config *cfg;
  sessio_manager *m = NULL;
  if (sessio_store_open("memory:", &st) != SESSIO_OK ||
      sessio_config_new(&cfg) != SESSIO_OK)
    abort();
  sessio_config_set_store(cfg, st);
  CHECK_OK(
      sessio_config_set_cookie(cfg, o->name, o->secure, o->same, o->domain));
  CHECK_OK(sessio_config_set_cookie_path(cfg, o->path));
  CHECK_OK(sessio_config_set_partitioned(cfg, o->partitioned));
  sessio_err rc = sessio_manager_new(cfg, &m);
  sessio_config_free(cfg);
  if (rc == SESSIO_OK) {
    sessio *s;
    CHECK_OK(sessio_begin(m, NULL, 0, 1, T0, &s));
    CHECK_OK(sessio_set_int(s, "x", 1));
    CHECK_OK(sessio_commit(s, T0));
    snprintf(sc, cap, "%s", sessio_cookie_header(s));
    sessio_free(s);
    sessio_manager_free(m);
  }
  sessio_store_close(st);
  return rc;
}

static void test_path_partitioned_and_samesite_are_sent_S31(void) {
  char sc[512];
  opts o = {NULL, NULL, "/shop", SESSIO_SECURE_ALWAYS, SESSIO_SAMESITE_NONE, 1};
  CHECK_OK(try_opts(&o, sc, sizeof sc));
  /* A Path other than "/" rules out __Host-: the default name follows. */
  CHECK(strncmp(sc, "__Secure-sid=", 13) == 0);
  CHECK(strstr(sc, "; Path=/shop; ") != NULL);
  CHECK(strstr(sc, "; Secure; ") != NULL);
  CHECK(strstr(sc, "SameSite=None; Partitioned") != NULL);

  opts d = {"shop_sid",           "example.com",          NULL,
            SESSIO_SECURE_ALWAYS, SESSIO_SAMESITE_STRICT, 0};
  CHECK_OK(try_opts(&d, sc, sizeof sc));
  CHECK(strncmp(sc, "shop_sid=", 9) == 0);
  CHECK(strstr(sc, "; Path=/; Domain=example.com; ") != NULL);
  CHECK(strstr(sc, "SameSite=Strict") != NULL);
  CHECK(strstr(sc, "Partitioned") == NULL);

  opts def = {NULL, NULL, NULL, SESSIO_SECURE_AUTO, SESSIO_SAMESITE_LAX, 0};
  CHECK_OK(try_opts(&def, sc, sizeof sc));
  CHECK(strncmp(sc, "__Host-sid=", 11) == 0);
  CHECK(strstr(sc, "; Path=/; ") != NULL);
}

static void test_unsafe_combinations_are_refused_S31(void) {
  char sc[512];
  opts part = {NULL, NULL, NULL, SESSIO_SECURE_AUTO, SESSIO_SAMESITE_LAX, 1};
  CHECK_INT(try_opts(&part, sc, sizeof sc), SESSIO_EINVAL);
  opts none = {NULL, NULL, NULL, SESSIO_SECURE_AUTO, SESSIO_SAMESITE_NONE, 0};
  CHECK_INT(try_opts(&none, sc, sizeof sc), SESSIO_EINVAL);
  opts hostdom = {"__Host-s",           "example.com",       NULL,
                  SESSIO_SECURE_ALWAYS, SESSIO_SAMESITE_LAX, 0};
  CHECK_INT(try_opts(&hostdom, sc, sizeof sc), SESSIO_EINVAL);
  opts hostpath = {"__Host-s",          NULL, "/a", SESSIO_SECURE_ALWAYS,
                   SESSIO_SAMESITE_LAX, 0};
  CHECK_INT(try_opts(&hostpath, sc, sizeof sc), SESSIO_EINVAL);
  opts hostok = {"__Host-s",          NULL, "/", SESSIO_SECURE_ALWAYS,
                 SESSIO_SAMESITE_LAX, 1};
  CHECK_OK(try_opts(&hostok, sc, sizeof sc));
  CHECK(strstr(sc, "Partitioned") != NULL);

  /* Bad paths are refused by the setter. */
  sessio_config *cfg;
  CHECK_OK(sessio_config_new(&cfg));
  CHECK_INT(sessio_config_set_cookie_path(cfg, "shop"), SESSIO_EINVAL);
  CHECK_INT(sessio_config_set_cookie_path(cfg, "/a;Domain=evil"),
            SESSIO_EINVAL);
  CHECK_INT(sessio_config_set_cookie_path(cfg, "/a\r\nX: y"), SESSIO_EINVAL);
  CHECK_INT(sessio_config_set_cookie_path(cfg, ""), SESSIO_EINVAL);
  CHECK_OK(sessio_config_set_cookie_path(cfg, "/"));
  CHECK_OK(sessio_config_set_cookie_path(cfg, NULL));
  sessio_config_free(cfg);

  /* The formatter itself refuses Partitioned without Secure. */
  sessio_cookie_attrs a = {NULL, 0, SESSIO_SAMESITE_LAX, -1, NULL, 1};
  char buf[256];
  CHECK_INT(sessio_cookie_format(buf, sizeof buf, NULL, "sid", "v", &a),
            SESSIO_EINVAL);
  a.secure = 1;
  a.path = "/x";
  CHECK_OK(sessio_cookie_format(buf, sizeof buf, NULL, "sid", "v", &a));
  CHECK_STR(buf, "sid=v; Path=/x; Secure; HttpOnly; SameSite=Lax; Partitioned");
}

int main(void) {
  RUN(test_path_partitioned_and_samesite_are_sent_S31);
  RUN(test_unsafe_combinations_are_refused_S31);
  return DONE();
}
