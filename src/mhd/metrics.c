/*
 * metrics.c — sessio-mhd's GET /metrics answer: the manager's figures in
 * the Prometheus text format (sessio_metrics_write), with the
 * application's own appended, as one libmicrohttpd response.
 */
#include <stdlib.h>
#include <string.h>

#include "mhd/mhd_internal.h"

struct MHD_Response *sessio_mhd_metrics_response(sessio_manager *mgr,
                                                 const char *extra,
                                                 size_t extra_len) {
  size_t cap = 16384, len = 0;
  char *buf = NULL;
  sessio_err e;
  if (mgr == NULL || (extra == NULL && extra_len > 0)) return NULL;
  /* The figures may grow between the size asked and the write: retry. */
  for (;;) {
    char *p = realloc(buf, cap + extra_len);
    if (p == NULL) goto fail_buf;
    buf = p;
    e = sessio_metrics_format(mgr, buf, cap, &len);
    if (e != SESSIO_ENOBUFS) break;
    cap = len + 1024;
  }
  if (e != SESSIO_OK) goto fail_buf;
  if (extra_len) memcpy(buf + len, extra, extra_len);
  struct MHD_Response *r = MHD_create_response_from_buffer(
      len + extra_len, buf, MHD_RESPMEM_MUST_FREE);
  if (r == NULL) goto fail_buf;
  if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                              "text/plain; version=0.0.4; charset=utf-8") !=
          MHD_YES ||
      MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") !=
          MHD_YES) {
    MHD_destroy_response(r); /* frees 'buf' */
    return NULL;
  }
  return r;
fail_buf:
  free(buf);
  return NULL;
}
