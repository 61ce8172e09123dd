/* mhd_app.c — the outside project links sessio::mhd_static: its header and
 * library (and libmicrohttpd's) come with the target. */
#include <sessio/mhd.h>
#include <stdio.h>

int main(void) {
  sessio_err (*volatile begin)(sessio_manager *, struct MHD_Connection *, int,
                               int64_t, sessio **) = sessio_mhd_begin;
  printf("outside mhd app: %s\n", begin != NULL ? "linked" : "FAILED");
  return begin != NULL ? 0 : 1;
}
