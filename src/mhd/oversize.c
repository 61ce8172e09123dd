/*
 * oversize.c — sessio-mhd's decision to answer a request 431 on the access
 * handler's first call (headers over a limit, Cookie headers over what
 * sessio reads, or so large for MHD's connection pool that no answer would
 * fit), and that 431 written straight to the socket (see
 * include/sessio/mhd.h and docs/RELIABILITY.md section 3 for why).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "cookie_limit.h"
#include "mhd/mhd_internal.h"

/* MHD 0.9.75's pool cost of one header, cookie or query argument record
 * (56 bytes, 64 aligned: MHD_set_connection_value_n_nocheck_). */
#define MHD_RECORD_COST 64
#define REPLY_HEAD_MAX 2048
#define REPLY_MAX (16 * 1024)

/* What one walk over MHD's records of a request measures. */
struct head_walk {
  size_t bytes;   /* all headers as on the wire */
  size_t cookie;  /* bytes of all Cookie headers */
  size_t ncookie; /* Cookie headers */
  size_t records; /* MHD's records: headers, cookies, query arguments */
};

static enum MHD_Result walk_head(void *cls, enum MHD_ValueKind kind,
                                 const char *key, size_t key_size,
                                 const char *value, size_t value_size) {
  struct head_walk *w = cls;
  (void)value;
  w->records++;
  if (kind != MHD_HEADER_KIND) return MHD_YES;
  w->bytes += key_size + value_size + 4; /* ": " and CRLF */
  if (key_size == 6 && strncasecmp(key, "Cookie", 6) == 0) {
    w->cookie += value_size;
    w->ncookie++;
  }
  return MHD_YES;
}

/* The pool holds the request line and headers as read
 * (MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE), one record per header, cookie
 * and query argument, and a copy of the Cookie header (parse_cookie_header);
 * this sum is an upper bound of that. */
int sessio_mhd_head_too_big(struct MHD_Connection *connection, size_t pool_size,
                            size_t headers_max) {
  struct head_walk w = {0, 0, 0, 0};
  const union MHD_ConnectionInfo *ci;
  size_t raw;
  MHD_get_connection_values_n(
      connection, MHD_HEADER_KIND | MHD_COOKIE_KIND | MHD_GET_ARGUMENT_KIND,
      walk_head, &w);
  /* what sessio_mhd_begin() refuses, under the same limits */
  if (w.ncookie > SESSIO_MHD_MAX_COOKIE_HEADERS ||
      sessio__cookie_budget(0, w.cookie) < w.cookie)
    return 1;
  if (headers_max > 0 && w.bytes > headers_max) return 1;
  if (pool_size == 0) return 0;
  ci = MHD_get_connection_info(connection,
                               MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
  raw = ci != NULL ? ci->header_size : pool_size;
  return raw + w.cookie + 16 + w.records * MHD_RECORD_COST +
             SESSIO_MHD_REPLY_ROOM >
         pool_size;
}

static int daemon_is_tls(struct MHD_Connection *connection) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(connection, MHD_CONNECTION_INFO_DAEMON);
  const union MHD_DaemonInfo *di;
  if (ci == NULL || ci->daemon == NULL) return 0;
  di = MHD_get_daemon_info(ci->daemon, MHD_DAEMON_INFO_FLAGS);
  return di != NULL && (di->flags & MHD_USE_TLS) != 0;
}

sessio_err sessio_mhd_reply_431(struct MHD_Connection *connection,
                                const char *method, const char *content_type,
                                const char *body, size_t body_len,
                                const char *extra_headers) {
  char out[REPLY_MAX], date[40];
  const union MHD_ConnectionInfo *ci;
  time_t now = time(NULL);
  struct tm tm;
  ssize_t sent;
  size_t len;
  int n;
  if (connection == NULL || (body == NULL && body_len > 0))
    return SESSIO_EINVAL;
  if (daemon_is_tls(connection)) return SESSIO_ENOTSUP;
  gmtime_r(&now, &tm);
  strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (content_type == NULL) content_type = "text/plain; charset=utf-8";
  if (extra_headers == NULL) extra_headers = "";
  n = snprintf(out, REPLY_HEAD_MAX,
               "HTTP/1.1 431 Request Header Fields Too Large\r\n"
               "Date: %s\r\nConnection: close\r\nContent-Type: %s\r\n"
               "Content-Length: %zu\r\nCache-Control: no-store\r\n%s\r\n",
               date, content_type, body_len, extra_headers);
  if (n < 0 || n >= REPLY_HEAD_MAX) return SESSIO_ETOOBIG;
  len = (size_t)n;
  if (method == NULL || strcmp(method, "HEAD") != 0) {
    if (body_len > sizeof out - len) return SESSIO_ETOOBIG;
    if (body_len > 0) memcpy(out + len, body, body_len);
    len += body_len;
  }
  ci = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
  if (ci == NULL) return SESSIO_EIO;
  do sent = send(ci->connect_fd, out, len, MSG_NOSIGNAL | MSG_DONTWAIT);
  while (sent < 0 && errno == EINTR);
  return sent == (ssize_t)len ? SESSIO_OK : SESSIO_EIO;
}
