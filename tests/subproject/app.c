/* app.c — the outside project's program: one request cycle on a memory
 * store through the sessio:: target it linked. */
#include <sessio.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  sessio_store *st;
  sessio_config *cfg;
  sessio_manager *m = NULL;
  sessio *s;
  int64_t v = 0, now = 1700000000000;
  if (sessio_store_open("memory:", &st) != SESSIO_OK ||
      sessio_config_new(&cfg) != SESSIO_OK)
    return 1;
  sessio_config_set_store(cfg, st);
  sessio_manager_new(cfg, &m);
  sessio_config_free(cfg);
  if (m == NULL || sessio_begin(m, NULL, 0, 0, now, &s) != SESSIO_OK) return 1;
  int ok = sessio_incr(s, "n", 1, &v) == SESSIO_OK &&
           sessio_commit(s, now) == SESSIO_OK && v == 1 &&
           sessio_cookie_header(s) != NULL &&
           strncmp(sessio_cookie_header(s), "sid=", 4) == 0;
  sessio_free(s);
  sessio_manager_free(m);
  sessio_store_close(st);
  printf("outside app: sessio %s %s\n", sessio_version(),
         ok ? "works" : "FAILED");
  return ok ? 0 : 1;
}
