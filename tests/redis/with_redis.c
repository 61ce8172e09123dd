/*
 * with_redis.c — runs a test program against a Redis started for it:
 *   with_redis [--cluster | --unix] PROGRAM ARGS...
 * starts one redis-server (or six, made into a 3+3 cluster) on free
 * 127.0.0.1 ports, replaces "{redis}" in ARGS by the store URL
 * (redis://127.0.0.1:P or redis-cluster://127.0.0.1:P1,...; with --unix
 * the server's Unix-domain socket, redis://%2Ftmp%2F...%2Fredis-P.sock),
 * runs PROGRAM,
 * stops the servers (always: they also die with this process) and exits
 * with PROGRAM's status. Used by the CTest registrations of the conformance
 * suite (tests/conformance/CMakeLists.txt).
 */
#include "redis/redis_proc.h"

int main(int argc, char **argv) {
  int cluster = 0, unix_socket = 0, first = 1;
  if (argc > 1 && strcmp(argv[1], "--cluster") == 0) {
    cluster = 1;
    first = 2;
  } else if (argc > 1 && strcmp(argv[1], "--unix") == 0) {
    unix_socket = 1;
    first = 2;
  }
  if (argc <= first) {
    fprintf(stderr,
            "usage: %s [--cluster | --unix] PROGRAM ARGS... ({redis} = URL)\n",
            argv[0]);
    return 2;
  }
  char dir[] = "/tmp/sessio-redis-XXXXXX";
  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    return 2;
  }
  int nodes = cluster ? 6 : 1, ports[6] = {0};
  pid_t pids[6] = {0};
  int status = 1, ok = 1;
  char url[256];
  size_t ul = (size_t)snprintf(url, sizeof url, "%s",
                               cluster ? "redis-cluster://" : "redis://");
  int tries = 0;
  for (int i = 0; i < nodes && ok; i++) {
    if (++tries > 100) {
      ok = 0;
      break;
    }
    ports[i] = tp_free_port(cluster);
    for (int j = 0; j < i; j++)
      if (ports[j] == ports[i] || ports[j] + 10000 == ports[i] ||
          ports[j] == ports[i] + 10000)
        ports[i] = -1;
    if (ports[i] < 0) {
      i--;
      continue;
    }
    pids[i] = rp_start(ports[i], dir, cluster, 0);
    ok = pids[i] > 0 && rp_wait_ping(ports[i], 5000);
    if (i < 3)
      ul += (size_t)snprintf(url + ul, sizeof url - ul, "%s127.0.0.1:%d",
                             i ? "," : "", ports[i]);
  }
  if (ok && cluster) ok = rp_cluster_create(ports, 30000);
  if (!ok) {
    fprintf(stderr, "with_redis: could not start redis-server%s\n",
            cluster ? " cluster" : "");
    goto done;
  }
  if (unix_socket) { /* the path, its '/' percent-encoded */
    char sock[200];
    rp_socket_path(dir, ports[0], sock, sizeof sock);
    ul = (size_t)snprintf(url, sizeof url, "redis://");
    for (const char *s = sock; *s && ul + 4 < sizeof url; s++)
      ul += (size_t)snprintf(url + ul, sizeof url - ul,
                             *s == '/' ? "%%2F" : "%c", *s);
  }
  char **args = calloc((size_t)(argc - first + 1), sizeof *args);
  char *subst[64] = {0};
  if (args == NULL) goto done;
  for (int i = first; i < argc; i++) {
    const char *p = strstr(argv[i], "{redis}");
    args[i - first] = argv[i];
    if (p == NULL || i - first >= 64) continue;
    size_t n = strlen(argv[i]) + strlen(url) + 1;
    char *s = malloc(n);
    if (s == NULL) continue;
    snprintf(s, n, "%.*s%s%s", (int)(p - argv[i]), argv[i], url, p + 7);
    subst[i - first] = s;
    args[i - first] = s;
  }
  fflush(NULL);
  pid_t child = fork();
  if (child == 0) {
    execvp(args[0], args);
    perror("with_redis: exec");
    _exit(127);
  }
  int ws = 0;
  if (child > 0) {
    while (waitpid(child, &ws, 0) < 0 && errno == EINTR) {
    }
    status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 1;
  }
  for (int i = 0; i < 64; i++) free(subst[i]);
  free(args);
done:
  for (int i = 0; i < nodes; i++) rp_kill(pids[i]);
  rp_rmdir(dir);
  return status;
}
