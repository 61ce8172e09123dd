/*
 * main.c — the sessio demo (examples/common/demo.h: a page counter, sign
 * in, sign out) on the CivetWeb embedded HTTP server with sessio-civetweb.
 * One request handler for every path; CivetWeb's worker threads share the
 * manager (a manager is thread-safe, a sessio handle is per request).
 *
 *   sessio-civetweb-example --listen 127.0.0.1:8080 [--store URL] [--trust-proxy]
 *                           [--tokens]
 * --tokens also takes sessions in "Authorization: Bearer ID" (S30).
 */
#include <civetweb.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <sessio.h>
#include <sessio/civetweb.h>

#include "demo.h"

struct app {
  sessio_manager *mgr;
  int trust_proxy;
  int tokens;
};

static int send_reply(struct mg_connection *c, const struct demo_reply *r) {
  char len[32];
  snprintf(len, sizeof len, "%zu", r->len);
  mg_response_header_add(c, "Content-Type", r->content_type, -1);
  mg_response_header_add(c, "Content-Length", len, -1);
  if (r->location[0] != '\0')
    mg_response_header_add(c, "Location", r->location, -1);
  mg_response_header_send(c);
  if (r->body != NULL) mg_write(c, r->body, r->len);
  return r->status;
}

/* An answer without the session's headers (431, 503). */
static int fail(struct mg_connection *c, int status, const char *msg) {
  struct demo_reply r = {0};
  demo_error(&r, status, msg);
  mg_response_header_start(c, status);
  send_reply(c, &r);
  demo_reply_free(&r);
  return status;
}

/* Reads the request body: at most DEMO_BODY_MAX bytes (-1 above). */
static long read_body(struct mg_connection *c, char *buf) {
  const struct mg_request_info *ri = mg_get_request_info(c);
  long n = 0;
  if (ri->content_length > DEMO_BODY_MAX) return -1;
  while (n < DEMO_BODY_MAX) {
    int got = mg_read(c, buf + n, (size_t)(DEMO_BODY_MAX - n));
    if (got <= 0) break;
    n += got;
  }
  return n;
}

static int handler(struct mg_connection *c, void *cbdata) {
  struct app *app = cbdata;
  const struct mg_request_info *ri = mg_get_request_info(c);
  char body[DEMO_BODY_MAX];
  int64_t now = sessio_now_ms();
  sessio *s;
  sessio_err e = sessio_civetweb_begin(app->mgr, c, app->trust_proxy, now, &s);
  if (e == SESSIO_ETOOBIG) return fail(c, 431, "cookies too large");
  if (e == SESSIO_ETRANSPORT)
    return fail(c, 400, "a session cookie and a bearer token");
  if (e != SESSIO_OK) return fail(c, 503, "session store unavailable");

  struct demo_reply r = {0};
  long n = read_body(c, body);
  if (n < 0)
    demo_error(&r, 413, "request body too large");
  else
    demo_handle(s, ri->request_method, ri->local_uri ? ri->local_uri : "/",
                ri->query_string, body, (size_t)n, now, &r);
  e = sessio_civetweb_commit(s, c, r.status, now); /* store, start, headers */
  sessio_free(s);
  int status = e == SESSIO_OK ? send_reply(c, &r)
                              : fail(c, 503, "session store unavailable");
  demo_reply_free(&r);
  return status;
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
    else if (strcmp(argv[i], "--tokens") == 0)
      app.tokens = 1;
    else
      listen = NULL, i = argc;
  }
  if (listen == NULL) {
    fprintf(stderr,
            "usage: %s --listen HOST:PORT [--store URL] [--trust-proxy]"
            " [--tokens]\n",
            argv[0]);
    return 2;
  }
  sessio_store *st;
  if (demo_open(store, app.tokens, &st, &app.mgr) != 0) return 1;
  /* SIGTERM and SIGINT are waited for below: blocked here, before
   * CivetWeb's threads start, so that none of them takes the signal. */
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);

  mg_init_library(0);
  /* Keep-alive is off by default in CivetWeb (every reply here has a
   * length); without TCP_NODELAY the header and body writes of a reply
   * wait for the delayed ACK (~40 ms) on a kept-alive connection. */
  const char *options[] = {
      "listening_ports", listen, "num_threads", "8", "enable_keep_alive", "yes",
      "tcp_nodelay",     "1",    NULL};
  struct mg_callbacks callbacks = {0};
  struct mg_context *ctx = mg_start(&callbacks, NULL, options);
  if (ctx == NULL) {
    fprintf(stderr, "cannot listen on %s\n", listen);
    demo_close(st, app.mgr);
    return 1;
  }
  mg_set_request_handler(ctx, "/", handler, &app);
  fprintf(stderr, "sessio-civetweb-example: http://%s/\n", listen);

  /* The expiry work, once a second, until a signal comes. */
  int64_t last_gc = 0;
  struct timespec second = {1, 0};
  for (;;) {
    int sig = sigtimedwait(&sigs, NULL, &second);
    if (sig == SIGTERM || sig == SIGINT) break;
    demo_gc(st, sessio_now_ms(), &last_gc);
  }
  mg_stop(ctx);
  mg_exit_library();
  demo_close(st, app.mgr);
  return 0;
}
