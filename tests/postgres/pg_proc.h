/*
 * pg_proc.h — test helpers that make a private PostgreSQL server: initdb in
 * a temporary directory, then the server on a free 127.0.0.1 port (TCP
 * only, no Unix socket), stopped fast, immediately or killed. PostgreSQL
 * refuses to run as root, so when the tests run as root the directory is
 * given to "nobody" and initdb and the server run as that user. The server
 * is started directly rather than through pg_ctl (which would detach it), as
 * our child with PR_SET_PDEATHSIG: it dies with the test even when the test
 * crashes or is killed by a CTest timeout. Binaries: $SESSIO_PG_BIN, else
 * the newest /usr/lib/postgresql/N/bin (Debian's postgresql package).
 * Header-only (static functions) for tests/postgres/with_postgres.c and
 * tests/unit/test_postgres_store.c.
 */
#ifndef SESSIO_TEST_PG_PROC_H
#define SESSIO_TEST_PG_PROC_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../proc_util.h"

typedef struct pp_server {
  char dir[64];  /* the temporary directory (data in dir/data) */
  char bin[256]; /* where initdb and postgres are */
  int port;
  pid_t pid; /* the postmaster, or 0 */
  uid_t uid; /* who runs it (0: ourselves) */
  gid_t gid;
  char url[128]; /* postgres://sessio@127.0.0.1:PORT/postgres */
  /* The same server over its Unix-domain socket in 'dir' (the host part is
   * the directory, percent-encoded): postgres://sessio@%2Ftmp%2F...:PORT/postgres */
  char url_unix[256];
} pp_server;

static inline int pp_find_bin(char *out, size_t n) {
  const char *env = getenv("SESSIO_PG_BIN");
  if (env != NULL && *env) {
    snprintf(out, n, "%s", env);
    return 1;
  }
  int best = 0;
  DIR *d = opendir("/usr/lib/postgresql");
  if (d == NULL) return 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    int v = atoi(e->d_name);
    char p[256];
    snprintf(p, sizeof p, "/usr/lib/postgresql/%d/bin/initdb", v);
    if (v > best && access(p, X_OK) == 0) best = v;
  }
  closedir(d);
  if (best == 0) return 0;
  snprintf(out, n, "/usr/lib/postgresql/%d/bin", best);
  return 1;
}

/* In a forked child: become the server's user, stdout/stderr to 'log'
 * (or /dev/null), die with the parent. */
static inline void pp_child_setup(const pp_server *s, const char *log) {
  if (s->uid != 0) {
    if (setgroups(0, NULL) != 0 && errno != EPERM) _exit(126);
    if (setgid(s->gid) != 0 || setuid(s->uid) != 0) _exit(126);
  }
  /* After setuid (which clears it). */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  int null = open("/dev/null", O_RDWR);
  int out = log ? open(log, O_WRONLY | O_CREAT | O_APPEND, 0600) : null;
  if (null >= 0) dup2(null, 0);
  if (out >= 0) {
    dup2(out, 1);
    dup2(out, 2);
  }
}

static inline int pp_wait(pid_t pid) {
  int st = 0;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Creates the directory and runs initdb (superuser "sessio"; trust on
 * 127.0.0.1, or scram-sha-256 with 'password' when not NULL). 1 on
 * success. */
static inline int pp_init(pp_server *s, const char *password) {
  memset(s, 0, sizeof *s);
  snprintf(s->dir, sizeof s->dir, "/tmp/sessio-pg-XXXXXX");
  if (!pp_find_bin(s->bin, sizeof s->bin)) {
    fprintf(stderr, "pg_proc: no PostgreSQL server binaries (Debian: "
                    "postgresql)\n");
    return 0;
  }
  if (mkdtemp(s->dir) == NULL) return 0;
  if (geteuid() == 0) {
    struct passwd *pw = getpwnam("nobody");
    if (pw == NULL) return 0;
    s->uid = pw->pw_uid;
    s->gid = pw->pw_gid;
    if (chown(s->dir, s->uid, s->gid) != 0) return 0;
  }
  char data[128], pwfile[128], initdb[300], pwarg[160];
  snprintf(data, sizeof data, "%s/data", s->dir);
  snprintf(pwfile, sizeof pwfile, "%s/pw", s->dir);
  snprintf(initdb, sizeof initdb, "%s/initdb", s->bin);
  snprintf(pwarg, sizeof pwarg, "--pwfile=%s", pwfile);
  if (password != NULL) {
    FILE *f = fopen(pwfile, "w");
    if (f == NULL) return 0;
    fprintf(f, "%s\n", password);
    fclose(f);
    if (s->uid != 0 && chown(pwfile, s->uid, s->gid) != 0) return 0;
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) return 0;
  if (pid == 0) {
    pp_child_setup(s, NULL);
    const char *argv[16];
    int n = 0;
    argv[n++] = initdb;
    argv[n++] = "-D";
    argv[n++] = data;
    argv[n++] = "-U";
    argv[n++] = "sessio";
    argv[n++] = "-E";
    argv[n++] = "UTF8";
    argv[n++] = "--locale=C";
    argv[n++] = "--no-sync";
    argv[n++] = "--auth-local=trust";
    argv[n++] = password ? "--auth-host=scram-sha-256" : "--auth-host=trust";
    if (password) argv[n++] = pwarg;
    argv[n] = NULL;
    execv(initdb, (char *const *)argv);
    _exit(127);
  }
  int ok = pp_wait(pid) == 0;
  if (password != NULL) unlink(pwfile);
  s->port = tp_free_port(0);
  snprintf(s->url, sizeof s->url, "postgres://sessio@127.0.0.1:%d/postgres",
           s->port);
  char host[192];
  size_t h = 0;
  for (const char *c = s->dir; *c && h + 4 < sizeof host; c++) {
    if (*c == '/')
      h += (size_t)snprintf(host + h, sizeof host - h, "%%2F");
    else
      host[h++] = *c;
  }
  host[h] = '\0';
  snprintf(s->url_unix, sizeof s->url_unix, "postgres://sessio@%s:%d/postgres",
           host, s->port);
  return ok && s->port > 0;
}

/* 1 when the server answers a connection. */
static inline int pp_ping(const pp_server *s) {
  char ci[128];
  snprintf(ci, sizeof ci,
           "host=127.0.0.1 port=%d dbname=postgres user=sessio "
           "connect_timeout=2",
           s->port);
  return PQping(ci) == PQPING_OK;
}

/* Starts the server (again) on s->port with 'extra' settings ("-c k=v"
 * pairs, may be NULL); waits until it accepts connections. 1 on success. */
static inline int pp_start(pp_server *s, const char *const *extra) {
  char data[128], post[300], port[16], log[128];
  snprintf(data, sizeof data, "%s/data", s->dir);
  snprintf(post, sizeof post, "%s/postgres", s->bin);
  snprintf(port, sizeof port, "%d", s->port);
  snprintf(log, sizeof log, "%s/log", s->dir);
  /* TCP on 127.0.0.1, and the Unix-domain socket in our directory (for
   * url_unix; the server's user owns the directory). */
  char unix_dirs[128];
  snprintf(unix_dirs, sizeof unix_dirs, "unix_socket_directories=%s", s->dir);
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) return 0;
  if (pid == 0) {
    pp_child_setup(s, log);
    const char *argv[48];
    int n = 0;
    argv[n++] = post;
    argv[n++] = "-D";
    argv[n++] = data;
    argv[n++] = "-p";
    argv[n++] = port;
    argv[n++] = "-c";
    argv[n++] = "listen_addresses=127.0.0.1";
    argv[n++] = "-c";
    argv[n++] = unix_dirs;
    argv[n++] = "-c";
    argv[n++] = "max_connections=200";
    for (int i = 0; extra && extra[i] && n < 46; i++) argv[n++] = extra[i];
    argv[n] = NULL;
    execv(post, (char *const *)argv);
    _exit(127);
  }
  s->pid = pid;
  int64_t end = tp_mono_ms() + 30000;
  while (tp_mono_ms() < end) {
    if (pp_ping(s)) return 1;
    if (waitpid(pid, NULL, WNOHANG) == pid) {
      s->pid = 0;
      return 0;
    }
    tp_sleep_ms(20);
  }
  return 0;
}

/* Stops the server with 'sig': SIGINT (fast shutdown), SIGQUIT
 * (immediate: crash recovery at the next start) or SIGKILL. */
static inline void pp_stop(pp_server *s, int sig) {
  if (s->pid <= 0) return;
  kill(s->pid, sig);
  pp_wait(s->pid);
  s->pid = 0;
  /* The backends of a killed postmaster go when they notice. */
  if (sig == SIGKILL) tp_sleep_ms(100);
}

static inline void pp_rm_tree(const char *path) {
  struct stat sb;
  if (lstat(path, &sb) != 0) return;
  if (S_ISDIR(sb.st_mode)) {
    DIR *d = opendir(path);
    if (d != NULL) {
      struct dirent *e;
      while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
          continue;
        char sub[1024];
        int n = snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        if (n > 0 && (size_t)n < sizeof sub) pp_rm_tree(sub); /* else: skip */
      }
      closedir(d);
    }
    rmdir(path);
  } else {
    unlink(path);
  }
}

/* Stops the server (if running) and removes its directory. */
static inline void pp_destroy(pp_server *s) {
  pp_stop(s, SIGINT);
  if (s->dir[0] && strncmp(s->dir, "/tmp/sessio-pg-", 15) == 0)
    pp_rm_tree(s->dir);
}

/* Runs 'sql' as the superuser on a fresh connection; the result's first
 * value (malloc()ed) or NULL on error, or "" for a command. */
static inline char *pp_sql(const pp_server *s, const char *sql) {
  char ci[128];
  snprintf(ci, sizeof ci,
           "host=127.0.0.1 port=%d dbname=postgres user=sessio "
           "connect_timeout=5",
           s->port);
  PGconn *c = PQconnectdb(ci);
  char *out = NULL;
  if (PQstatus(c) == CONNECTION_OK) {
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_TUPLES_OK && PQntuples(r) > 0 && PQnfields(r) > 0)
      out = strdup(PQgetvalue(r, 0, 0));
    else if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
      out = strdup("");
    else
      fprintf(stderr, "pp_sql: %s", PQresultErrorMessage(r));
    PQclear(r);
  } else {
    fprintf(stderr, "pp_sql: %s", PQerrorMessage(c));
  }
  PQfinish(c);
  return out;
}

#endif
