/*
 * test_store_registry.c — the store registry tells "built in", "known but
 * left out of this build" and "unknown" apart: sessio_store_supported()
 * answers for a scheme or a whole URL, and sessio_store_open() on a known
 * scheme whose backend was not built is SESSIO_ENOTSUP (an unknown scheme
 * stays SESSIO_EINVAL). Compiled with the SESSIO_HAVE_<NAME> defines of the
 * build, so the same file checks a full build and a core-only one.
 */
#include "harness.h"
#include "sessio.h"

static void test_core_stores_are_always_supported(void) {
  CHECK_INT(sessio_store_supported("memory"), 1);
  CHECK_INT(sessio_store_supported("memory:"), 1);
  CHECK_INT(sessio_store_supported("memory:?shards=4"), 1);
  CHECK_INT(sessio_store_supported("file:/tmp/x"), 1);
}

static void test_unknown_scheme_is_unsupported_and_einval(void) {
  sessio_store *st = (sessio_store *)&st;
  CHECK_INT(sessio_store_supported(NULL), 0);
  CHECK_INT(sessio_store_supported(""), 0);
  CHECK_INT(sessio_store_supported("nosuch:x"), 0);
  CHECK_INT(sessio_store_supported("mem"), 0);
  CHECK_INT(sessio_store_supported("memoryx:"), 0);
  CHECK_INT(sessio_store_supported("redis-clusterx://h:1"), 0);
  CHECK_ERR(sessio_store_open("nosuch:x", &st), SESSIO_EINVAL);
  CHECK(st == NULL);
  /* A scheme name alone is not a URL. */
  CHECK_ERR(sessio_store_open("memory", &st), SESSIO_EINVAL);
  CHECK_ERR(sessio_store_open("memor:", &st), SESSIO_EINVAL);
}

/* 'have' is whether the build says the backend is in: then the scheme is
 * supported; otherwise opening 'url' is SESSIO_ENOTSUP. */
static void check_optional(const char *scheme, const char *url, int have) {
  sessio_store *st = (sessio_store *)&st;
  CHECK_INT(sessio_store_supported(scheme), have);
  CHECK_INT(sessio_store_supported(url), have);
  if (!have) {
    CHECK_ERR(sessio_store_open(url, &st), SESSIO_ENOTSUP);
    CHECK(st == NULL);
  }
}

static void test_optional_backends_follow_the_build(void) {
#ifdef SESSIO_HAVE_SQLITE
  check_optional("sqlite", "sqlite:/nonexistent/dir/s.db", 1);
#else
  check_optional("sqlite", "sqlite:/nonexistent/dir/s.db", 0);
#endif
#ifdef SESSIO_HAVE_REDIS
  check_optional("redis", "redis://127.0.0.1:1/0", 1);
  check_optional("redis-cluster:", "redis-cluster://127.0.0.1:1", 1);
#else
  check_optional("redis", "redis://127.0.0.1:1/0", 0);
  check_optional("redis-cluster:", "redis-cluster://127.0.0.1:1", 0);
#endif
#ifdef SESSIO_HAVE_POSTGRES
  check_optional("postgres", "postgres://127.0.0.1:1/db", 1);
  check_optional("postgresql:", "postgresql://127.0.0.1:1/db", 1);
#else
  check_optional("postgres", "postgres://127.0.0.1:1/db", 0);
  check_optional("postgresql:", "postgresql://127.0.0.1:1/db", 0);
#endif
}

int main(void) {
  RUN(test_core_stores_are_always_supported);
  RUN(test_unknown_scheme_is_unsupported_and_einval);
  RUN(test_optional_backends_follow_the_build);
  return DONE();
}
