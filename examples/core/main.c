/* examples/core/main.c — libsessio with no HTTP library: what any server
 * integration does, on a bare socket. It hands the request's Cookie headers
 * to sessio_begin(), changes the session, commits it, and sends the one
 * Set-Cookie that sessio_cookie_header() gives plus "Cache-Control:
 * no-store" and "Vary: Cookie". The same routes as examples/mhd: GET /
 * counts visits, POST /login?user=NAME signs in, POST /logout signs out.
 * One request per connection, one at a time (HTTP/1.0): an illustration,
 * not a web server. Usage: sessio-core-example [PORT [STORE_URL]] */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <sessio.h>

#define MAX_COOKIE_HEADERS 32

static volatile sig_atomic_t stopping;
static void on_stop(int sig) { (void)sig, stopping = 1; }

static void answer(int fd, const char *status, const char *set_cookie,
                   const char *body) {
  char head[1024];
  int n = snprintf(
      head, sizeof head,
      "HTTP/1.0 %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
      "Cache-Control: no-store\r\nVary: Cookie\r\n%s%s%s\r\n",
      status, strlen(body), set_cookie ? "Set-Cookie: " : "",
      set_cookie ? set_cookie : "", set_cookie ? "\r\n" : "");
  if (n > 0 && (size_t)n < sizeof head && write(fd, head, (size_t)n) == n)
    (void)!write(fd, body, strlen(body));
}

/* Reads one request (its headers: no route reads a body) and answers it. */
static void serve(sessio_manager *mgr, int fd) {
  char req[16384], method[8], path[256], body[256], *end = NULL;
  size_t len = 0;
  ssize_t got;
  while (end == NULL && len < sizeof req - 1 &&
         (got = read(fd, req + len, sizeof req - 1 - len)) > 0) {
    req[len += (size_t)got] = '\0';
    end = strstr(req, "\r\n\r\n");
  }
  if (end == NULL || sscanf(req, "%7s %255s", method, path) != 2) {
    answer(fd, "400 Bad Request", NULL, "bad request\n");
    return;
  }
  end[2] = '\0'; /* the header block: lines that each end in "\r\n" */

  /* Every Cookie header, whatever its case: sessio reads them all (S12). */
  const char *cookies[MAX_COOKIE_HEADERS];
  size_t n = 0;
  for (char *line = strstr(req, "\r\n") + 2, *eol; (eol = strstr(line, "\r\n"));
       line = eol + 2) {
    *eol = '\0';
    if (strncasecmp(line, "Cookie:", 7) == 0 && n < MAX_COOKIE_HEADERS)
      cookies[n++] = line + 7 + strspn(line + 7, " \t");
  }

  int64_t now = sessio_now_ms();
  sessio *s;
  sessio_err e = sessio_begin(mgr, cookies, n, 0, now, &s);
  if (e != SESSIO_OK) {
    answer(fd, "503 Service Unavailable", NULL, "store unavailable\n");
    return;
  }
  int post = strcmp(method, "POST") == 0;
  char *user = strstr(path, "?user=");
  if (user != NULL) *user = '\0', user += 6; /* no %-decoding: a sketch */
  if (post && strcmp(path, "/login") == 0 && user != NULL && *user != '\0') {
    /* A real application checks a password and a CSRF token first. */
    e = sessio_login(s, user, 0, now); /* new session ID, data kept */
    snprintf(body, sizeof body, "signed in as %s\n", user);
  } else if (post && strcmp(path, "/logout") == 0) {
    e = sessio_destroy(s); /* the record goes, the cookie is deleted */
    snprintf(body, sizeof body, "signed out\n");
  } else if (!post && strcmp(path, "/") == 0) {
    int64_t visits = 0;
    e = sessio_incr(s, "visits", 1, &visits); /* the first change creates it */
    const char *who = sessio_user(s);
    snprintf(body, sizeof body, "visit %lld%s%s\n", (long long)visits,
             who ? " by " : "", who ? who : "");
  } else {
    sessio_free(s);
    answer(fd, "404 Not Found", NULL, "not found\n");
    return;
  }
  if (e == SESSIO_OK) e = sessio_commit(s, now);
  if (e == SESSIO_OK)
    answer(fd, "200 OK", sessio_cookie_header(s), body);
  else /* nothing was stored: send no cookie */
    answer(fd, "503 Service Unavailable", NULL, "session not saved\n");
  sessio_free(s);
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
  int one = 1, srv = socket(AF_INET, SOCK_STREAM, 0);
  setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (mgr == NULL || bind(srv, (struct sockaddr *)&addr, sizeof addr) != 0 ||
      listen(srv, 16) != 0)
    return fprintf(stderr, "cannot start\n"), 1;
  struct sigaction sa = {.sa_handler = on_stop}; /* ends the poll() below */
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  printf("listening on http://127.0.0.1:%d/\n", ntohs(addr.sin_port));
  fflush(stdout);
  sessio_gc *gc; /* expires old sessions: run it about once a second */
  if (sessio_gc_new(st, &gc) != SESSIO_OK)
    return fprintf(stderr, "no memory\n"), 1;
  int64_t last_gc = sessio_now_ms();
  struct pollfd listening = {.fd = srv, .events = POLLIN};
  while (!stopping) {
    int fd = poll(&listening, 1, 1000) > 0 ? accept(srv, NULL, NULL) : -1;
    if (fd >= 0) {
      struct timeval limit = {5, 0}; /* a silent client is dropped */
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
      serve(mgr, fd);
      close(fd);
    }
    if (sessio_now_ms() - last_gc >= 1000) {
      last_gc = sessio_now_ms();
      sessio_gc_run(gc, last_gc, NULL); /* bounded: at most 100 ms */
    }
  }
  sessio_gc_free(gc);
  close(srv);
  sessio_manager_free(mgr);
  sessio_store_close(st);
  return 0;
}
