/*
 * service.c — sessio-auth-service: sessions for an application that is not
 * written in C, through nginx's auth_request (see README.md and nginx.conf
 * next to it). A small libmicrohttpd server with sessio-mhd:
 *   GET/POST /login, POST /logout  the demo's sign-in page and forms
 *                                  (examples/common/demo.h);
 *   GET /auth                      what nginx asks before every request to
 *                                  the protected application: 204 with
 *                                  X-Session-User (and X-Session-Csrf, the
 *                                  session's CSRF token) for a signed-in
 *                                  session, 401 otherwise, 403 for an
 *                                  unsafe method sent cross-site.
 * Behind nginx, run it with --trust-proxy (nginx sets X-Forwarded-Proto)
 * and let only nginx reach it: it listens on loopback, and X-Session-User
 * is only as true as the path to it.
 *
 *   sessio-auth-service --listen 127.0.0.1:8081 [--store URL] [--trust-proxy]
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sessio.h>
#include <sessio/mhd.h>

#include "demo.h"

/* One request's upload, kept between MHD's calls. */
struct upload {
  char body[DEMO_BODY_MAX];
  size_t len;
  int too_big;
};

static enum MHD_Result queue(struct MHD_Connection *c, int status,
                             struct MHD_Response *r) {
  enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, r);
  MHD_destroy_response(r);
  return ok;
}

/* An answer without the session's headers (431, 503). */
static enum MHD_Result fail(struct MHD_Connection *c, int status,
                            const char *msg) {
  struct MHD_Response *r = MHD_create_response_from_buffer(
      strlen(msg), (void *)msg, MHD_RESPMEM_MUST_COPY);
  if (r == NULL) return MHD_NO;
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
  return queue(c, status, r);
}

static int unsafe_method(const char *m) {
  return m == NULL || !(strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 ||
                        strcmp(m, "OPTIONS") == 0);
}

/* 1 when the browser says the request comes from another site: an unsafe
 * method then never reaches the application (S19). Sec-Fetch-Site is
 * trusted when present; else Origin must name this host. */
static int cross_site(struct MHD_Connection *c) {
  const char *fetch =
      MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-Fetch-Site");
  if (fetch != NULL)
    return !(strcmp(fetch, "same-origin") == 0 || strcmp(fetch, "none") == 0);
  const char *origin =
      MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
  const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
  if (origin == NULL) return 0; /* not a browser's cross-site request */
  const char *o = strstr(origin, "://");
  return host == NULL || o == NULL || strcasecmp(o + 3, host) != 0;
}

/* GET /auth: the session decides, nothing is created. */
static enum MHD_Result auth(struct MHD_Connection *c, sessio *s, int64_t now) {
  const char *method =
      MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Original-Method");
  int status = 401;
  if (sessio_is_authenticated(s))
    status = unsafe_method(method) && cross_site(c) ? 403 : 204;
  struct MHD_Response *r =
      MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
  if (r == NULL) return MHD_NO;
  /* The commit extends the idle timeout (a throttled touch) and, with
   * rotation on, may send a new cookie, which nginx passes on. */
  if (sessio_mhd_commit(s, r, now) != SESSIO_OK) {
    MHD_destroy_response(r);
    return fail(c, 503, "session store unavailable\n");
  }
  if (status == 204) {
    const char *csrf = sessio_csrf_token(s);
    MHD_add_response_header(r, "X-Session-User", sessio_user(s));
    if (csrf != NULL) MHD_add_response_header(r, "X-Session-Csrf", csrf);
  }
  return queue(c, status, r);
}

struct app {
  sessio_manager *mgr;
  int trust_proxy;
};

static enum MHD_Result handler(void *cls, struct MHD_Connection *c,
                               const char *url, const char *method,
                               const char *version, const char *data,
                               size_t *data_size, void **req_cls) {
  struct app *app = cls;
  struct upload *up = *req_cls;
  (void)version;
  if (up == NULL) { /* the first call: headers only */
    if ((up = calloc(1, sizeof *up)) == NULL) return MHD_NO;
    *req_cls = up;
    return MHD_YES;
  }
  if (*data_size > 0) { /* a piece of the body */
    if (*data_size > DEMO_BODY_MAX - up->len)
      up->too_big = 1;
    else
      memcpy(up->body + up->len, data, *data_size), up->len += *data_size;
    *data_size = 0;
    return MHD_YES;
  }

  int64_t now = sessio_now_ms();
  sessio *s;
  sessio_err e = sessio_mhd_begin(app->mgr, c, app->trust_proxy, now, &s);
  if (e == SESSIO_ETOOBIG && strcmp(url, "/auth") == 0)
    return fail(c, 401, ""); /* no session can be read: sign in again */
  if (e == SESSIO_ETOOBIG) return fail(c, 431, "cookies too large\n");
  if (e != SESSIO_OK) return fail(c, 503, "session store unavailable\n");
  if (strcmp(url, "/auth") == 0) {
    enum MHD_Result ok = auth(c, s, now);
    sessio_free(s);
    return ok;
  }

  /* The page's "next" (GET /login?next=/app/): MHD keeps the query
   * string apart, already decoded. */
  char q[300] = "";
  const char *next =
      MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "next");
  if (next != NULL && demo_safe_next(next) &&
      strcspn(next, "%+&") == strlen(next))
    snprintf(q, sizeof q, "next=%s", next);
  struct demo_reply d = {0};
  if (up->too_big)
    demo_error(&d, 413, "request body too large");
  else
    demo_handle(s, method, url, q, up->body, up->len, now, &d);
  struct MHD_Response *r =
      MHD_create_response_from_buffer(d.len, d.body, MHD_RESPMEM_MUST_COPY);
  if (r == NULL || sessio_mhd_commit(s, r, now) != SESSIO_OK) {
    if (r != NULL) MHD_destroy_response(r);
    sessio_free(s);
    demo_reply_free(&d);
    return fail(c, 503, "session store unavailable\n");
  }
  sessio_free(s);
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, d.content_type);
  if (d.location[0] != '\0')
    MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, d.location);
  int status = d.status;
  demo_reply_free(&d);
  return queue(c, status, r);
}

static void completed(void *cls, struct MHD_Connection *c, void **req_cls,
                      enum MHD_RequestTerminationCode toe) {
  (void)cls, (void)c, (void)toe;
  free(*req_cls);
  *req_cls = NULL;
}

int main(int argc, char **argv) {
  const char *listen = NULL, *store = NULL;
  struct app app = {0};
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
      listen = argv[++i];
    else if (strcmp(argv[i], "--store") == 0 && i + 1 < argc)
      store = argv[++i];
    else if (strcmp(argv[i], "--trust-proxy") == 0)
      app.trust_proxy = 1;
    else
      listen = NULL, i = argc;
  }
  struct sockaddr_in sa = {0};
  char host[64];
  unsigned port = 0;
  if (listen == NULL || sscanf(listen, "%63[^:]:%u", host, &port) != 2 ||
      inet_pton(AF_INET, host, &sa.sin_addr) != 1 || port == 0 ||
      port > 65535) {
    fprintf(stderr,
            "usage: %s --listen IPV4:PORT [--store URL] [--trust-proxy]\n",
            argv[0]);
    return 2;
  }
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sessio_store *st;
  if (demo_open(store, 0, &st, &app.mgr) != 0) return 1;
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);
  struct MHD_Daemon *d = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0,
      NULL, NULL, handler, &app, MHD_OPTION_SOCK_ADDR,
      (const struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE, 4u,
      MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_NOTIFY_COMPLETED,
      completed, NULL, MHD_OPTION_END);
  if (d == NULL) {
    fprintf(stderr, "cannot listen on %s\n", listen);
    demo_close(st, app.mgr);
    return 1;
  }
  fprintf(stderr, "sessio-auth-service: http://%s/\n", listen);
  int64_t last_gc = 0;
  struct timespec second = {1, 0};
  for (;;) {
    int sig = sigtimedwait(&sigs, NULL, &second);
    if (sig == SIGTERM || sig == SIGINT) break;
    demo_gc(st, sessio_now_ms(), &last_gc);
  }
  MHD_stop_daemon(d);
  demo_close(st, app.mgr);
  return 0;
}
