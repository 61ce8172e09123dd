/*
 * with_postgres.c — runs a test program against a PostgreSQL started for
 * it:   with_postgres PROGRAM ARGS...
 * makes a server in a temporary directory (tests/postgres/pg_proc.h: initdb,
 * a free 127.0.0.1 port, an unprivileged user when run as root), replaces
 * "{postgres}" in ARGS by its URL (postgres://sessio@127.0.0.1:P/postgres)
 * and "{postgres_unix}" by the URL of its Unix-domain socket,
 * runs PROGRAM, stops the server and removes the directory (the server also
 * dies with this process), and exits with PROGRAM's status. Used by the
 * CTest registrations of the conformance suite.
 */
#include "postgres/pg_proc.h"

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr,
            "usage: %s PROGRAM ARGS... ({postgres} = URL, {postgres_unix} ="
            " URL over the Unix-domain socket)\n",
            argv[0]);
    return 2;
  }
  pp_server s;
  int status = 1;
  if (!pp_init(&s, NULL) || !pp_start(&s, NULL)) {
    fprintf(stderr, "with_postgres: could not start a PostgreSQL server\n");
    pp_destroy(&s);
    return 1;
  }
  char **args = calloc((size_t)argc, sizeof *args);
  char **subst = calloc((size_t)argc, sizeof *subst);
  if (args == NULL || subst == NULL) goto done;
  for (int i = 1; i < argc; i++) {
    const char *url = s.url, *mark = "{postgres}";
    const char *p = strstr(argv[i], mark);
    if (p == NULL) {
      url = s.url_unix;
      mark = "{postgres_unix}";
      p = strstr(argv[i], mark);
    }
    args[i - 1] = argv[i];
    if (p == NULL) continue;
    size_t n = strlen(argv[i]) + strlen(url) + 1;
    char *t = malloc(n);
    if (t == NULL) continue;
    snprintf(t, n, "%.*s%s%s", (int)(p - argv[i]), argv[i], url,
             p + strlen(mark));
    subst[i - 1] = t;
    args[i - 1] = t;
  }
  fflush(NULL);
  pid_t child = fork();
  if (child == 0) {
    execvp(args[0], args);
    perror("with_postgres: exec");
    _exit(127);
  }
  if (child > 0) {
    int ws = 0;
    while (waitpid(child, &ws, 0) < 0 && errno == EINTR) {
    }
    status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 1;
  }
done:
  for (int i = 0; subst && i < argc; i++) free(subst[i]);
  free(subst);
  free(args);
  pp_destroy(&s);
  return status;
}
