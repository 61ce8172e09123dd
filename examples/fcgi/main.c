/*
 * main.c — the sessio demo (examples/common/demo.h: a page counter, sign
 * in, sign out) as a FastCGI application on libfcgi with sessio-fcgi.
 * It binds its own socket and answers one request at a time; run it behind
 * nginx, Apache or lighttpd (see nginx.conf next to it).
 *
 *   sessio-fcgi-example --listen 127.0.0.1:9000 [--store URL] [--trust-proxy]
 *                       [--tokens]
 * --tokens also takes sessions in "Authorization: Bearer ID" (S30).
 */
#include <fcgiapp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sessio.h>
#include <sessio/fcgi.h>

#include "demo.h"

static void send_reply(FCGX_Stream *out, const struct demo_reply *r) {
  FCGX_FPrintF(out, "Status: %d %s\r\nContent-Type: %s\r\n", r->status,
               demo_status_text(r->status), r->content_type);
  if (r->location[0] != '\0')
    FCGX_FPrintF(out, "Location: %s\r\n", r->location);
  FCGX_PutS("\r\n", out);
  if (r->body != NULL) FCGX_PutStr(r->body, (int)r->len, out);
}

/* Reads the request body: at most DEMO_BODY_MAX bytes (413 above). */
static int read_body(FCGX_Request *rq, char *buf, size_t *len) {
  const char *cl = FCGX_GetParam("CONTENT_LENGTH", rq->envp);
  long n = cl != NULL && *cl != '\0' ? strtol(cl, NULL, 10) : 0;
  if (n < 0 || n > DEMO_BODY_MAX) return -1;
  *len = n > 0 ? (size_t)FCGX_GetStr(buf, (int)n, rq->in) : 0;
  return 0;
}

static void handle(sessio_manager *mgr, FCGX_Request *rq, int trust_proxy,
                   int64_t now) {
  static char body[DEMO_BODY_MAX];
  struct demo_reply r = {0};
  size_t body_len = 0;
  const char *method = FCGX_GetParam("REQUEST_METHOD", rq->envp);
  const char *uri = FCGX_GetParam("REQUEST_URI", rq->envp);
  const char *query = FCGX_GetParam("QUERY_STRING", rq->envp);
  char path[1024];
  snprintf(path, sizeof path, "%s", uri ? uri : "/");
  path[strcspn(path, "?")] = '\0';

  sessio *s;
  sessio_err e = sessio_fcgi_begin(mgr, rq->envp, trust_proxy, now, &s);
  if (e != SESSIO_OK) {
    if (e == SESSIO_ETOOBIG)
      demo_error(&r, 431, "cookies too large");
    else if (e == SESSIO_ETRANSPORT)
      demo_error(&r, 400, "a session cookie and a bearer token");
    else
      demo_error(&r, 503, "session store unavailable");
    send_reply(rq->out, &r);
    demo_reply_free(&r);
    return;
  }
  if (read_body(rq, body, &body_len) != 0)
    demo_error(&r, 413, "request body too large");
  else
    demo_handle(s, method ? method : "GET", path, query, body, body_len, now,
                &r);
  /* The commit writes the session's header lines; the status and content
   * type follow (CGI header lines are unordered). */
  e = sessio_fcgi_commit(s, rq->out, now);
  sessio_free(s);
  if (e != SESSIO_OK) demo_error(&r, 503, "session store unavailable");
  send_reply(rq->out, &r);
  demo_reply_free(&r);
}

int main(int argc, char **argv) {
  const char *listen = NULL, *store = NULL;
  int trust_proxy = 0, tokens = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
      listen = argv[++i];
    else if (strcmp(argv[i], "--store") == 0 && i + 1 < argc)
      store = argv[++i];
    else if (strcmp(argv[i], "--trust-proxy") == 0)
      trust_proxy = 1;
    else if (strcmp(argv[i], "--tokens") == 0)
      tokens = 1;
    else
      listen = NULL, i = argc;
  }
  if (listen == NULL) {
    fprintf(stderr,
            "usage: %s --listen HOST:PORT|PATH [--store URL] [--trust-proxy]"
            " [--tokens]\n",
            argv[0]);
    return 2;
  }
  sessio_store *st;
  sessio_manager *mgr;
  if (FCGX_Init() != 0 || demo_open(store, tokens, &st, &mgr) != 0) return 1;
  int sock = FCGX_OpenSocket(listen, 64);
  if (sock < 0) {
    fprintf(stderr, "cannot listen on %s\n", listen);
    demo_close(st, mgr);
    return 1;
  }
  fprintf(stderr, "sessio-fcgi-example: FastCGI on %s\n", listen);
  FCGX_Request rq;
  FCGX_InitRequest(&rq, sock, 0);
  int64_t last_gc = 0;
  while (FCGX_Accept_r(&rq) >= 0) {
    int64_t now = sessio_now_ms();
    handle(mgr, &rq, trust_proxy, now);
    FCGX_Finish_r(&rq);
    demo_gc(st, now, &last_gc);
  }
  demo_close(st, mgr);
  return 0;
}
