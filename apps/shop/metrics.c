/*
 * metrics.c — sessio-shop's /metrics: its own HTTP figures (requests by
 * route and status code, a latency histogram, requests in flight, S21
 * refusals), kept in relaxed atomics, and a second, small libmicrohttpd
 * daemon on --metrics-listen that answers GET /metrics with the library's
 * figures (sessio_metrics_write) followed by these, in the Prometheus text
 * format. It is a separate address so that it can stay off the public
 * network. The library's part and the response come from sessio-mhd
 * (sessio_mhd_metrics_response).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "shop.h"

#define ROUTES_MAX 40 /* room for the route table and "other" */
#define HIST_N 13     /* 12 finite buckets and +Inf */
#define STRIPES 8     /* per-thread shares (see add()) */

/* The status codes the shop answers; any other is counted as its class
 * ("2xx" ...) in the last slots. */
static const unsigned codes[] = {200, 201, 204, 301, 302, 303, 304,
                                 400, 401, 403, 404, 405, 409, 413,
                                 415, 422, 429, 431, 500, 503};
#define CODES (sizeof codes / sizeof codes[0])
#define CODE_N (CODES + 5) /* and 1xx..5xx */

/* One thread's share: request threads add to their own stripe, so that
 * two of them do not bounce a cache line between cores on every answer. */
typedef struct stripe {
  _Atomic uint64_t requests[ROUTES_MAX][CODE_N];
  _Atomic uint64_t lat[HIST_N], lat_sum_us, throttled;
} __attribute__((aligned(64))) stripe;

static stripe stripes[STRIPES];
static _Atomic unsigned next_stripe;
static _Thread_local unsigned my_stripe = STRIPES;

static stripe *mine(void) {
  if (my_stripe == STRIPES)
    my_stripe =
        atomic_fetch_add_explicit(&next_stripe, 1, memory_order_relaxed) %
        STRIPES;
  return &stripes[my_stripe];
}

static size_t code_index(unsigned status) {
  for (size_t i = 0; i < CODES; i++)
    if (codes[i] == status) return i;
  return CODES + (status / 100 - 1);
}

static const int64_t bound_us[HIST_N - 1] = {250,    500,    1000,   2500,
                                             5000,   10000,  25000,  50000,
                                             100000, 250000, 500000, 1000000};
static const char *const bound_txt[HIST_N] = {
    "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
    "0.05",    "0.1",    "0.25",  "0.5",    "1",     "+Inf"};

static int64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void add(_Atomic uint64_t *c, uint64_t n) {
  atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

void shop_metrics_answer(req *r, unsigned status) {
  size_t route = r->route >= 0 ? (size_t)r->route : shop_route_of(r->url);
  stripe *st = mine();
  if (route >= ROUTES_MAX) route = ROUTES_MAX - 1;
  if (status >= 100 && status < 600)
    add(&st->requests[route][code_index(status)], 1);
  int64_t us = now_us() - r->t0_us;
  if (us < 0) us = 0;
  size_t i = 0;
  while (i < HIST_N - 1 && us > bound_us[i]) i++;
  add(&st->lat[i], 1);
  add(&st->lat_sum_us, (uint64_t)us);
}

void shop_metrics_throttled(void) { add(&mine()->throttled, 1); }

/* The sum over the stripes of the counter at 'field' in stripe 0. */
static uint64_t get(const _Atomic uint64_t *field) {
  size_t off = (size_t)((const char *)field - (const char *)&stripes[0]);
  uint64_t v = 0;
  for (size_t i = 0; i < STRIPES; i++)
    v += atomic_load_explicit(
        (const _Atomic uint64_t *)((const char *)&stripes[i] + off),
        memory_order_relaxed);
  return v;
}

/* The shop's figures, appended to 'b'. */
static void write_shop(shop *sh, sbuf *b) {
  size_t nroutes = shop_routes();
  sb_puts(b, "# HELP sessio_shop_http_requests_total HTTP requests answered by "
             "sessio-shop, by route (\"other\": no route) and status code.\n"
             "# TYPE sessio_shop_http_requests_total counter\n");
  for (size_t rt = 0; rt <= nroutes && rt < ROUTES_MAX; rt++)
    for (size_t c = 0; c < CODE_N; c++) {
      uint64_t v = get(&stripes[0].requests[rt][c]);
      char code[8];
      if (c < CODES)
        snprintf(code, sizeof code, "%u", codes[c]);
      else
        snprintf(code, sizeof code, "%zuxx", c - CODES + 1);
      if (v)
        sb_printf(
            b,
            "sessio_shop_http_requests_total{route=\"%s\",code=\"%s\"} %llu\n",
            rt < nroutes ? shop_route_path(rt) : "other", code,
            (unsigned long long)v);
    }
  sb_puts(b, "# HELP sessio_shop_http_request_duration_seconds Time from a "
             "request's first byte of headers to its answer being queued.\n"
             "# TYPE sessio_shop_http_request_duration_seconds histogram\n");
  uint64_t cum = 0;
  for (size_t i = 0; i < HIST_N; i++) {
    cum += get(&stripes[0].lat[i]);
    sb_printf(
        b, "sessio_shop_http_request_duration_seconds_bucket{le=\"%s\"} %llu\n",
        bound_txt[i], (unsigned long long)cum);
  }
  uint64_t sum = get(&stripes[0].lat_sum_us);
  sb_printf(b, "sessio_shop_http_request_duration_seconds_sum %llu.%06llu\n",
            (unsigned long long)(sum / 1000000),
            (unsigned long long)(sum % 1000000));
  sb_printf(b, "sessio_shop_http_request_duration_seconds_count %llu\n",
            (unsigned long long)cum);
  sb_printf(
      b,
      "# HELP sessio_shop_http_requests_in_flight Requests being served.\n"
      "# TYPE sessio_shop_http_requests_in_flight gauge\n"
      "sessio_shop_http_requests_in_flight %d\n",
      atomic_load_explicit(&sh->inflight, memory_order_relaxed));
  sb_printf(b,
            "# HELP sessio_shop_throttled_total Requests refused with 429 "
            "because their client presented too many invalid session IDs "
            "(S21).\n"
            "# TYPE sessio_shop_throttled_total counter\n"
            "sessio_shop_throttled_total %llu\n",
            (unsigned long long)get(&stripes[0].throttled));
}

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status,
                              const char *ctype, char *body, size_t len,
                              int owned) {
  struct MHD_Response *resp = MHD_create_response_from_buffer(
      len, body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
  if (resp == NULL) {
    if (owned) free(body);
    return MHD_NO;
  }
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  enum MHD_Result ret = MHD_queue_response(c, status, resp);
  MHD_destroy_response(resp);
  return ret;
}

static enum MHD_Result metrics_handler(void *cls, struct MHD_Connection *c,
                                       const char *url, const char *method,
                                       const char *version, const char *upload,
                                       size_t *upload_size, void **req_cls) {
  shop *sh = cls;
  static int marker;
  (void)version;
  (void)upload;
  if (*req_cls == NULL) { /* first call: headers only */
    *req_cls = &marker;
    return MHD_YES;
  }
  if (*upload_size) { /* a body means nothing here */
    *upload_size = 0;
    return MHD_YES;
  }
  if (strcmp(url, "/metrics") != 0)
    return answer(c, 404, "text/plain; charset=utf-8", (char *)"not found\n",
                  10, 0);
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
    return answer(c, 405, "text/plain; charset=utf-8", (char *)"GET only\n", 9,
                  0);
  /* The shop's figures, after the library's (sessio-mhd puts them together). */
  sbuf b;
  sb_init(&b, NULL, 0);
  write_shop(sh, &b);
  if (b.oom) {
    sb_free(&b);
    return MHD_NO;
  }
  struct MHD_Response *resp = sessio_mhd_metrics_response(sh->mgr, b.p, b.len);
  sb_free(&b);
  if (resp == NULL)
    return answer(c, 500, "text/plain; charset=utf-8",
                  (char *)"metrics failed\n", 15, 0);
  enum MHD_Result ret = MHD_queue_response(c, 200, resp);
  MHD_destroy_response(resp);
  return ret;
}

/* "HOST:PORT" (IPv4, or [IPv6]:PORT) into 'ss'. 0 or -1. */
static int parse_addr(const char *s, struct sockaddr_storage *ss, int *v6) {
  char host[64];
  const char *colon = strrchr(s, ':');
  size_t hl;
  char *end;
  long port;
  if (colon == NULL) return -1;
  hl = (size_t)(colon - s);
  port = strtol(colon + 1, &end, 10);
  if (*end != '\0' || colon[1] == '\0' || port < 0 || port > 65535) return -1;
  memset(ss, 0, sizeof *ss);
  if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    if (hl - 2 >= sizeof host) return -1;
    memcpy(host, s + 1, hl - 2);
    host[hl - 2] = '\0';
    if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1) return -1;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    *v6 = 1;
    return 0;
  }
  struct sockaddr_in *a = (struct sockaddr_in *)ss;
  if (hl >= sizeof host) return -1;
  memcpy(host, s, hl);
  host[hl] = '\0';
  if (inet_pton(AF_INET, host, &a->sin_addr) != 1) return -1;
  a->sin_family = AF_INET;
  a->sin_port = htons((uint16_t)port);
  *v6 = 0;
  return 0;
}

struct MHD_Daemon *shop_metrics_start(shop *sh, const char *listen,
                                      unsigned *port) {
  struct sockaddr_storage ss;
  int v6;
  if (parse_addr(listen, &ss, &v6) != 0) return NULL;
  struct MHD_Daemon *d = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | (v6 ? MHD_USE_IPv6 : 0),
      0, NULL, NULL, metrics_handler, sh, MHD_OPTION_SOCK_ADDR,
      (const struct sockaddr *)&ss, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
      MHD_OPTION_END);
  if (d != NULL && port != NULL) {
    const union MHD_DaemonInfo *di =
        MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *port = di ? di->port : 0;
  }
  return d;
}
