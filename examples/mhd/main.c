/* examples/mhd/main.c — sessions in a GNU libmicrohttpd server: a page
 * counter and a sign-in. GET / counts visits, GET /whoami reads the session
 * only, POST /login?user=NAME signs in, POST /logout signs out.
 * Usage: sessio-mhd-example [PORT [STORE_URL]] */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sessio/mhd.h>

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code,
                             const char *text) {
  struct MHD_Response *r = MHD_create_response_from_buffer(
      strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
  enum MHD_Result ok = MHD_queue_response(c, code, r);
  MHD_destroy_response(r);
  return ok;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c,
                               const char *url, const char *method,
                               const char *version, const char *upload,
                               size_t *upload_size, void **req_cls) {
  static int started;
  (void)version, (void)upload;
  if (*req_cls == NULL) { /* answer on the second call, once headers are in */
    *req_cls = &started;
    return MHD_YES;
  }
  if (*upload_size != 0)
    return *upload_size = 0, MHD_YES; /* no route reads a body */
  int64_t now = sessio_now_ms();
  sessio *s;
  sessio_err e = sessio_mhd_begin(cls, c, 0, now, &s);
  if (e == SESSIO_ETOOBIG) return reply(c, 431, "cookies too large\n");
  if (e != SESSIO_OK) return reply(c, 503, "store unavailable\n");

  char body[256];
  int post = strcmp(method, "POST") == 0;
  const char *user =
      MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "user");
  if (post && strcmp(url, "/login") == 0 && user != NULL && *user != '\0') {
    /* A real application checks a password and a CSRF token first. */
    e = sessio_login(s, user, 0, now); /* new session ID, data kept */
    snprintf(body, sizeof body, "signed in as %s\n", user);
  } else if (post && strcmp(url, "/logout") == 0) {
    e = sessio_destroy(s); /* the record goes, the cookie is deleted */
    snprintf(body, sizeof body, "signed out\n");
  } else if (!post && strcmp(url, "/") == 0) {
    int64_t visits = 0;
    e = sessio_incr(s, "visits", 1, &visits); /* the first change creates it */
    user = sessio_user(s);
    snprintf(body, sizeof body, "visit %lld%s%s\n", (long long)visits,
             user ? " by " : "", user ? user : "");
  } else if (!post && strcmp(url, "/whoami") == 0) {
    /* Read only: stores nothing; a dead cookie gets its deletion. */
    user = sessio_user(s);
    snprintf(body, sizeof body, "%s\n", user ? user : "guest");
  } else {
    sessio_free(s);
    return reply(c, 404, "not found\n");
  }
  struct MHD_Response *r = MHD_create_response_from_buffer(
      strlen(body), body, MHD_RESPMEM_MUST_COPY);
  if (e == SESSIO_OK) e = sessio_mhd_commit(s, r, now); /* store + Set-Cookie */
  sessio_free(s);
  if (e != SESSIO_OK) {
    MHD_destroy_response(r);
    return reply(c, 503, "session not saved\n");
  }
  enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, r);
  MHD_destroy_response(r);
  return ok;
}

int main(int argc, char **argv) {
  const char *store_url = argc > 2 ? argv[2] : "memory:";
  struct sockaddr_in addr = {.sin_family = AF_INET,
                             .sin_port = htons(argc > 1 ? atoi(argv[1]) : 8080),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  sessio_store *st;
  sessio_config *cfg;
  sessio_manager *mgr = NULL;
  if (sessio_store_open(store_url, &st) != SESSIO_OK)
    return fprintf(stderr, "bad store\n"), 1;
  if (sessio_config_new(&cfg) == SESSIO_OK &&
      sessio_config_set_store(cfg, st) == SESSIO_OK)
    sessio_manager_new(cfg, &mgr);
  sessio_config_free(cfg);
  sigset_t stop; /* blocked in every thread, taken by sigwait below */
  sigemptyset(&stop), sigaddset(&stop, SIGINT), sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);
  sessio_gc *gc = NULL; /* expires old sessions, once a second, in its thread */
  struct MHD_Daemon *d = NULL;
  if (mgr && sessio_gc_new(st, &gc) == SESSIO_OK &&
      sessio_gc_thread_start(gc, 1000) == SESSIO_OK)
    d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0,
                         NULL, NULL, handler, mgr, MHD_OPTION_SOCK_ADDR, &addr,
                         MHD_OPTION_END);
  if (d == NULL) return fprintf(stderr, "cannot start\n"), 1;
  printf("listening on http://127.0.0.1:%d/\n", ntohs(addr.sin_port));
  fflush(stdout);
  int sig;
  sigwait(&stop, &sig);
  MHD_stop_daemon(d);
  sessio_gc_free(gc); /* stops its thread */
  sessio_manager_free(mgr);
  sessio_store_close(st);
  return 0;
}
