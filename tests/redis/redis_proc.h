/*
 * redis_proc.h — test helpers that start and stop redis-server processes
 * on free 127.0.0.1 ports (single servers and a 3+3 node cluster). Every
 * server is started with PR_SET_PDEATHSIG, so it dies with the test even
 * when the test crashes or is killed by a CTest timeout. Header-only
 * (static functions) for tests/redis/with_redis.c and
 * tests/unit/test_redis_store.c.
 */
#ifndef SESSIO_TEST_REDIS_PROC_H
#define SESSIO_TEST_REDIS_PROC_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../proc_util.h"

/* The Unix-domain socket rp_start() opens beside the port: 'dir'/redis-PORT.sock
 * (into 'out', 'cap' bytes). */
static inline void rp_socket_path(const char *dir, int port, char *out,
                                  size_t cap) {
  snprintf(out, cap, "%s/redis-%d.sock", dir, port);
}

/* Starts redis-server on 127.0.0.1:'port' and on the Unix-domain socket
 * rp_socket_path() names, with persistence off (or append-only with fsync
 * always when 'aof'), files in 'dir'. */
static inline pid_t rp_start(int port, const char *dir, int cluster, int aof) {
  char portb[16], conf[64], sock[200];
  snprintf(portb, sizeof portb, "%d", port);
  snprintf(conf, sizeof conf, "nodes-%d.conf", port);
  rp_socket_path(dir, port, sock, sizeof sock);
  const char *argv[40];
  int n = 0;
  argv[n++] = "redis-server";
  argv[n++] = "--port";
  argv[n++] = portb;
  argv[n++] = "--bind";
  argv[n++] = "127.0.0.1";
  argv[n++] = "--save";
  argv[n++] = "";
  argv[n++] = "--appendonly";
  argv[n++] = aof ? "yes" : "no";
  if (aof) {
    argv[n++] = "--appendfsync";
    argv[n++] = "always";
  }
  argv[n++] = "--dir";
  argv[n++] = dir;
  argv[n++] = "--unixsocket";
  argv[n++] = sock;
  argv[n++] = "--unixsocketperm";
  argv[n++] = "700";
  argv[n++] = "--daemonize";
  argv[n++] = "no";
  argv[n++] = "--logfile";
  argv[n++] = "";
  argv[n++] = "--loglevel";
  argv[n++] = "warning";
  argv[n++] = "--repl-diskless-sync-delay"; /* replicas in sync at once */
  argv[n++] = "0";
  if (cluster) {
    argv[n++] = "--cluster-enabled";
    argv[n++] = "yes";
    argv[n++] = "--cluster-config-file";
    argv[n++] = conf;
    argv[n++] = "--cluster-node-timeout";
    argv[n++] = "1000";
    /* Other masters keep serving while one is failing over. */
    argv[n++] = "--cluster-require-full-coverage";
    argv[n++] = "no";
  }
  argv[n] = NULL;
  fflush(NULL);
  pid_t pid = fork();
  if (pid != 0) return pid;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  int null = open("/dev/null", O_RDWR);
  if (null >= 0) {
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
  }
  execvp(argv[0], (char *const *)argv);
  _exit(127);
}

/* Waits until the server at 'port' answers PING; 1 when it did. */
static inline int rp_wait_ping(int port, int timeout_ms) {
  int64_t end = tp_mono_ms() + timeout_ms;
  do {
    struct timeval tv = {0, 200000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c && !c->err) {
      redisReply *r = redisCommand(c, "PING");
      int ok = r && r->type == REDIS_REPLY_STATUS;
      if (r) freeReplyObject(r);
      redisFree(c);
      if (ok) return 1;
    } else if (c) {
      redisFree(c);
    }
    tp_sleep_ms(10);
  } while (tp_mono_ms() < end);
  return 0;
}

static inline void rp_kill(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGKILL);
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
  }
}

/* Runs one command on 127.0.0.1:'port'; the reply (free it) or NULL. */
static inline redisReply *rp_command(int port, const char *cmd) {
  struct timeval tv = {1, 0};
  redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
  redisReply *r = NULL;
  if (c && !c->err) {
    redisSetTimeout(c, tv);
    r = redisCommand(c, cmd);
  }
  if (c) redisFree(c);
  return r;
}

/* The node agrees the cluster is whole and, if a master, has a replica
 * in sync (so that it can fail over). */
static inline int rp_cluster_ok(int port) {
  redisReply *r = rp_command(port, "CLUSTER INFO");
  int ok = r && r->type == REDIS_REPLY_STRING &&
           strstr(r->str, "cluster_state:ok") != NULL &&
           strstr(r->str, "cluster_slots_ok:16384") != NULL;
  if (r) freeReplyObject(r);
  if (!ok) return 0;
  r = rp_command(port, "INFO replication");
  ok = r && r->type == REDIS_REPLY_STRING &&
       (strstr(r->str, "role:slave") != NULL ||
        strstr(r->str, "state=online") != NULL);
  if (r) freeReplyObject(r);
  return ok;
}

/* A 3 masters + 3 replicas cluster on the six 'ports'. 1 when every node
 * reports cluster_state:ok within 'timeout_ms'. */
static inline int rp_cluster_create(const int ports[6], int timeout_ms) {
  char addr[6][32];
  const char *argv[16];
  int n = 0;
  argv[n++] = "redis-cli";
  argv[n++] = "--cluster";
  argv[n++] = "create";
  for (int i = 0; i < 6; i++) {
    snprintf(addr[i], sizeof addr[i], "127.0.0.1:%d", ports[i]);
    argv[n++] = addr[i];
  }
  argv[n++] = "--cluster-replicas";
  argv[n++] = "1";
  argv[n++] = "--cluster-yes";
  argv[n] = NULL;
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) return 0;
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
      dup2(null, 0);
      dup2(null, 1);
    }
    execvp(argv[0], (char *const *)argv);
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 0;
  int64_t end = tp_mono_ms() + timeout_ms;
  for (;;) {
    int all = 1;
    for (int i = 0; i < 6 && all; i++) all = rp_cluster_ok(ports[i]);
    if (all) return 1;
    if (tp_mono_ms() > end) return 0;
    tp_sleep_ms(50);
  }
}

/* Waits until the replica of the master at 'port' has everything the
 * master has (its offset in INFO replication equals master_repl_offset).
 * A WAIT on a fresh connection would not do: WAIT only covers the writes
 * of its own connection. 1 when in sync within 'timeout_ms'. */
static inline int rp_replica_in_sync(int port, int timeout_ms) {
  int64_t end = tp_mono_ms() + timeout_ms;
  for (;;) {
    redisReply *r = rp_command(port, "INFO replication");
    int ok = 0;
    if (r && r->type == REDIS_REPLY_STRING) {
      const char *m = strstr(r->str, "master_repl_offset:");
      const char *s = strstr(r->str, "slave0:");
      const char *o = s ? strstr(s, "offset=") : NULL;
      if (strstr(r->str, "role:slave") != NULL)
        ok = 1; /* not a master: nothing to wait for */
      else if (m && o)
        ok = strtoll(m + 19, NULL, 10) == strtoll(o + 7, NULL, 10);
    }
    if (r) freeReplyObject(r);
    if (ok) return 1;
    if (tp_mono_ms() > end) return 0;
    tp_sleep_ms(10);
  }
}

/* Removes the files in 'dir' (flat) and 'dir' itself. */
static inline void rp_rmdir(const char *dir) {
  DIR *d = opendir(dir);
  if (d != NULL) {
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)) != NULL) {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
      if (unlink(path) != 0) { /* appendonlydir in Redis 7 */
        DIR *sub = opendir(path);
        if (sub != NULL) {
          struct dirent *f;
          char p2[1024];
          while ((f = readdir(sub)) != NULL) {
            snprintf(p2, sizeof p2, "%s/%s", path, f->d_name);
            unlink(p2);
          }
          closedir(sub);
        }
        rmdir(path);
      }
    }
    closedir(d);
  }
  rmdir(dir);
}

#endif
