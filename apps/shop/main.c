/*
 * main.c — sessio-shop's entry point: configuration (flags with SESSIO_*
 * environment fallbacks), the store and session manager, the users, the
 * libmicrohttpd daemon (thread pool, epoll), libsessio's GC runner on its
 * own thread once a second, and a clean
 * shutdown on SIGINT/SIGTERM (stop accepting, let requests in flight
 * finish, then stop the daemon and close the store).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "orders.h"
#include "shop.h"

/* S29: the default stores carry a bound on sessions (docs/DEPLOYMENT.md,
 * "Sizing the session bound"): past it new guest sessions are refused
 * (SQLite) or evict other guest sessions (memory), never signed-in ones. */
#define DEFAULT_BOUND "100000"
#define DEFAULT_STORE "sqlite:var/sessions.db?max_sessions=" DEFAULT_BOUND
#define FALLBACK_STORE "memory:?max_sessions=" DEFAULT_BOUND
#define GC_INTERVAL_MS 1000 /* libsessio's GC runner, its default budget */
#define DRAIN_MS 5000       /* how long shutdown waits for open requests */
#define DRAIN_QUIET_MS 150  /* no request in flight for this long: stop */

typedef struct options {
  const char *listen;
  const char *store;
  long threads;
  const char *secure;
  int trust_proxy;
  const char *idle, *absolute, *remember;
  const char *remember_idle, *reauth_after; /* S8 */
  const char *users;
  const char *log_level;
  const char *invalid_limit, *invalid_window; /* S21 */
  const char *secret_file;                    /* S25 */
  const char *metrics_listen;                 /* NULL: no /metrics */
  const char *max_conns, *max_conns_client, *header_timeout; /* S26 */
  const char *login_limit, *login_window;                    /* S28 */
  const char *new_limit, *new_window;                        /* S29 */
  const char *tokens;                /* S30: "on"/"off" */
  const char *prev_secret[4];        /* S32: --previous-secret-file */
  const char *max_per_user, *on_max; /* S33 */
  int n_prev_secret;                 /* a 4th is refused */
  const char *data;                  /* the shop's own data (orders) */
  const char *cookie_name, *cookie_path, *cookie_domain, *same_site;
  const char *partitioned; /* "on"/"off" */
} options;

static void usage(FILE *f) {
  fprintf(
      f,
      "Usage: sessio-shop [options]\n"
      "A demo shop on sessio: sign-in, cart, preferences, checkout, JSON API.\n\n"
      "Options (each falls back to the environment variable shown):\n"
      "  --listen HOST:PORT   address to serve          SESSIO_LISTEN   (127.0.0.1:8080;\n"
      "                       port 0 picks a free one, [::1]:PORT for IPv6)\n"
      "  --store URL          session store             SESSIO_STORE    (" DEFAULT_STORE
      ",\n"
      "                       memory:?max_sessions=" DEFAULT_BOUND
      " when that store is\n"
      "                       not built in)\n"
      "                       memory:  sqlite:PATH  file:DIR  redis://HOST:PORT ...\n"
      "  --threads N          worker threads, 1..64     SESSIO_THREADS  (number of CPUs;\n"
      "                       4 per CPU on redis:, redis-cluster:, postgres:)\n"
      "  --max-conns N        open connections in all   SESSIO_MAX_CONNS (1024, at most\n"
      "                       the descriptors the process may open less 64)\n"
      "  --max-conns-per-client N  open connections of one client address\n"
      "                                                 SESSIO_MAX_CONNS_PER_CLIENT (128)\n"
      "  --header-timeout DUR a request's whole head must arrive within this (its body\n"
      "                       within 30s), however steadily it trickles in\n"
      "                                                 SESSIO_HEADER_TIMEOUT (10s)\n"
      "  --login-limit N      failed sign-ins a client may make per account within the\n"
      "                       window (4 x N over all accounts); then 429 (S28); 0 = off\n"
      "                                                 SESSIO_LOGIN_LIMIT (10)\n"
      "  --login-window DUR   the window of that count  SESSIO_LOGIN_WINDOW (15m)\n"
      "  --new-sessions-limit N  sessions one client may start within the window;\n"
      "                       then 429 (S29); 0 = no limit\n"
      "                                                 SESSIO_NEW_SESSIONS_LIMIT (1000)\n"
      "  --new-sessions-window DUR  the window of that count\n"
      "                                                 SESSIO_NEW_SESSIONS_WINDOW (1m)\n"
      "  --secure MODE        Secure cookies: auto|always|never\n"
      "                                                 SESSIO_SECURE   (auto)\n"
      "  --trust-proxy        trust X-Forwarded-Proto: https (and X-Forwarded-Host)\n"
      "                                                 SESSIO_TRUST_PROXY=1\n"
      "  --idle DUR           idle timeout              SESSIO_IDLE     (30m)\n"
      "  --absolute DUR       absolute timeout          SESSIO_ABSOLUTE (12h)\n"
      "  --remember DUR       remember-me absolute lifetime (S8), 0 = off\n"
      "                                                 SESSIO_REMEMBER (30d)\n"
      "  --remember-idle DUR  remember-me idle lifetime SESSIO_REMEMBER_IDLE (7d)\n"
      "  --reauth-after DUR   ask the password again before revoking sessions or\n"
      "                       placing an order past this age, 0 = never\n"
      "                                                 SESSIO_REAUTH_AFTER (1h)\n"
      "  --users FILE         lines \"name:$argon2id$...\" SESSIO_USERS    (demo users\n"
      "                       alice/wonderland and bob/builder)\n"
      "  --data DIR           the shop's own data: orders in DIR/shop.db\n"
      "                                                 SESSIO_DATA     (var)\n"
      "  --log-level LEVEL    error|warn|info|debug; info adds the access log\n"
      "                                                 SESSIO_LOG_LEVEL (warn)\n"
      "  --invalid-id-limit N a client whose session cookies named no live session\n"
      "                       N times in a window gets 429 on requests with a session\n"
      "                       cookie until the window ends (S21); 0 = only log\n"
      "                                                 SESSIO_INVALID_ID_LIMIT (100)\n"
      "  --invalid-id-window DUR  the window of that count\n"
      "                                                 SESSIO_INVALID_ID_WINDOW (60s)\n"
      "  --secret-file FILE   the server secret mixed into the keys of stored sessions:\n"
      "                       64 hexadecimal characters and a newline, the file not\n"
      "                       readable by group or others (chmod 600)\n"
      "                                                 SESSIO_SECRET_FILE (none)\n"
      "  --cookie-name NAME   session cookie name       SESSIO_COOKIE_NAME (__Host-sid over\n"
      "                       TLS, else sid; __Secure-sid with a Domain or Path)\n"
      "  --cookie-path PATH   cookie Path               SESSIO_COOKIE_PATH (/)\n"
      "  --cookie-domain HOST cookie Domain (not with __Host-)  SESSIO_COOKIE_DOMAIN (none)\n"
      "  --same-site VALUE    strict, lax or none (none needs --secure always)\n"
      "                                                 SESSIO_SAME_SITE (lax)\n"
      "  --partitioned        Partitioned cookie, CHIPS (needs --secure always)\n"
      "                                                 SESSIO_PARTITIONED (off)\n"
      "  --tokens[=on|off], --no-tokens  sessions in \"Authorization: Bearer ID\" for\n"
      "                       API and mobile clients (X-Session-Token answers)\n"
      "                                                 SESSIO_TOKENS   (on)\n"
      "  --max-sessions-per-user N  live sessions of one user (0 = no limit)\n"
      "                                                 SESSIO_MAX_SESSIONS_PER_USER (10)\n"
      "  --on-max-sessions P  evict-oldest or refuse (409, \"too many devices\")\n"
      "                                                 SESSIO_ON_MAX_SESSIONS (evict-oldest)\n"
      "  --previous-secret-file FILE  a secret being rotated out (repeatable, at most 3):\n"
      "                       sessions written under it are served and re-keyed\n"
      "                                                 SESSIO_PREVIOUS_SECRET_FILE (A:B)\n"
      "  --metrics-listen HOST:PORT  serve GET /metrics (Prometheus text format) on this\n"
      "                       separate address; off when not given\n"
      "                                                 SESSIO_METRICS_LISTEN (off)\n"
      "  --hash-password      read a password on stdin, print its argon2id hash\n"
      "                       (for a --users file line \"name:HASH\") and exit\n"
      "  -h, --help           this text\n\n"
      "Durations: a number with a unit ms, s, m, h or d (30m, 12h, 7d); no unit = seconds.\n"
      "Prints \"sessio-shop: listening on http://HOST:PORT\" when ready.\n");
}

/* Parses "30m", "12h", "7d", "45s", "500ms", "90" (seconds) into ms. */
static int parse_duration(const char *s, int64_t *out) {
  char *end;
  long long v;
  int64_t mul;
  errno = 0;
  v = strtoll(s, &end, 10);
  if (end == s || v < 0 || errno != 0) return -1;
  if (*end == '\0' || strcmp(end, "s") == 0)
    mul = 1000;
  else if (strcmp(end, "ms") == 0)
    mul = 1;
  else if (strcmp(end, "m") == 0)
    mul = 60 * 1000;
  else if (strcmp(end, "h") == 0)
    mul = 3600 * 1000;
  else if (strcmp(end, "d") == 0)
    mul = 24 * 3600 * 1000;
  else
    return -1;
  if (v > INT64_MAX / mul) return -1;
  *out = (int64_t)v * mul;
  return 0;
}

static const char *envor(const char *v, const char *env, const char *dflt) {
  const char *e;
  if (v != NULL) return v;
  e = getenv(env);
  return e != NULL && *e != '\0' ? e : dflt;
}

/* --hash-password: reads one password line from stdin and prints its
 * argon2id hash, for a --users file. */
static int hash_password(void) {
  char pw[1024], out[crypto_pwhash_STRBYTES];
  size_t n;
  if (sodium_init() < 0 || fgets(pw, sizeof pw, stdin) == NULL) return 1;
  n = strcspn(pw, "\r\n");
  pw[n] = '\0';
  if (n == 0 ||
      crypto_pwhash_str(out, pw, n, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
    fprintf(stderr, "sessio-shop: cannot hash an empty password\n");
    return 1;
  }
  sodium_memzero(pw, sizeof pw);
  printf("%s\n", out);
  return 0;
}

/* Request threads per CPU when the store is reached over the network. */
#define NETWORK_THREADS_PER_CPU 4

/* 1 when 'url' names a store on another server (its calls wait on round
 * trips), 0 for the embedded ones and the default. */
static int network_store(const char *url) {
  static const char *const schemes[] = {
      "redis:", "redis-cluster:", "postgres:", "postgresql:"};
  if (url == NULL) return 0;
  for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
    if (strncmp(url, schemes[i], strlen(schemes[i])) == 0) return 1;
  return 0;
}

static int bad_arg(const char *a) {
  fprintf(stderr, "sessio-shop: unknown argument '%s' (see --help)\n", a);
  return -1;
}

static int parse_args(int argc, char **argv, options *o) {
  const char *threads = NULL;
  int trust = -1;
  memset(o, 0, sizeof *o);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char **dst = NULL;
    const char *val = NULL;
    size_t n;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      exit(0);
    }
    if (strcmp(a, "--hash-password") == 0) exit(hash_password());
    if (strcmp(a, "--trust-proxy") == 0) {
      trust = 1;
      continue;
    }
    /* S30: the header-token transport, on by default. */
    if (strcmp(a, "--tokens") == 0 || strcmp(a, "--no-tokens") == 0) {
      o->tokens = a[2] == 'n' ? "off" : "on";
      continue;
    }
    /* S32: repeatable, so not an OPT(). */
    if (strncmp(a, "--previous-secret-file", 22) == 0 &&
        (a[22] == '\0' || a[22] == '=')) {
      const char *v = a[22] == '=' ? a + 23 : (i + 1 < argc ? argv[++i] : NULL);
      if (v == NULL) {
        fprintf(stderr, "sessio-shop: --previous-secret-file needs a value\n");
        return -1;
      }
      if (o->n_prev_secret == 3) {
        fprintf(stderr, "sessio-shop: at most 3 --previous-secret-file\n");
        return -1;
      }
      o->prev_secret[o->n_prev_secret++] = v;
      continue;
    }
    if (strcmp(a, "--partitioned") == 0) {
      o->partitioned = "on";
      continue;
    }
    if (strncmp(a, "--partitioned=", 14) == 0) {
      o->partitioned = a + 14;
      continue;
    }
    if (strncmp(a, "--tokens=", 9) == 0) {
      o->tokens = a + 9;
      continue;
    }
    if (strncmp(a, "--", 2) != 0) return bad_arg(a);
    n = strcspn(a, "=");
#define OPT(name, field)                                                       \
  if (strncmp(a, "--" name, n) == 0 && n == strlen("--" name)) dst = &o->field;
    OPT("listen", listen)
    OPT("store", store)
    OPT("secure", secure)
    OPT("idle", idle)
    OPT("absolute", absolute)
    OPT("remember", remember)
    OPT("remember-idle", remember_idle)
    OPT("reauth-after", reauth_after)
    OPT("users", users)
    OPT("log-level", log_level)
    OPT("invalid-id-limit", invalid_limit)
    OPT("invalid-id-window", invalid_window)
    OPT("secret-file", secret_file)
    OPT("max-conns", max_conns)
    OPT("max-conns-per-client", max_conns_client)
    OPT("header-timeout", header_timeout)
    OPT("login-limit", login_limit)
    OPT("login-window", login_window)
    OPT("new-sessions-limit", new_limit)
    OPT("new-sessions-window", new_window)
    OPT("metrics-listen", metrics_listen)
    OPT("data", data)
    OPT("cookie-name", cookie_name)
    OPT("max-sessions-per-user", max_per_user)
    OPT("on-max-sessions", on_max)
    OPT("cookie-path", cookie_path)
    OPT("cookie-domain", cookie_domain)
    OPT("same-site", same_site)
#undef OPT
    if (strncmp(a, "--threads", n) == 0 && n == 9) dst = &threads;
    if (dst == NULL) return bad_arg(a);
    if (a[n] == '=') {
      val = a + n + 1;
    } else {
      if (i + 1 >= argc) {
        fprintf(stderr, "sessio-shop: %s needs a value\n", a);
        return -1;
      }
      val = argv[++i];
    }
    *dst = val;
  }
  o->listen = envor(o->listen, "SESSIO_LISTEN", "127.0.0.1:8080");
  o->store = envor(o->store, "SESSIO_STORE", NULL);
  o->secure = envor(o->secure, "SESSIO_SECURE", "auto");
  o->idle = envor(o->idle, "SESSIO_IDLE", "30m");
  o->absolute = envor(o->absolute, "SESSIO_ABSOLUTE", "12h");
  o->remember = envor(o->remember, "SESSIO_REMEMBER", "30d");
  o->remember_idle =
      envor(o->remember_idle, "SESSIO_REMEMBER_IDLE", NULL); /* 7d */
  o->reauth_after = envor(o->reauth_after, "SESSIO_REAUTH_AFTER", "1h");
  o->users = envor(o->users, "SESSIO_USERS", NULL);
  o->log_level = envor(o->log_level, "SESSIO_LOG_LEVEL", "warn");
  o->invalid_limit = envor(o->invalid_limit, "SESSIO_INVALID_ID_LIMIT", "100");
  o->invalid_window =
      envor(o->invalid_window, "SESSIO_INVALID_ID_WINDOW", "60s");
  o->secret_file = envor(o->secret_file, "SESSIO_SECRET_FILE", NULL);
  o->max_conns = envor(o->max_conns, "SESSIO_MAX_CONNS", "1024");
  o->max_conns_client =
      envor(o->max_conns_client, "SESSIO_MAX_CONNS_PER_CLIENT", "128");
  o->header_timeout = envor(o->header_timeout, "SESSIO_HEADER_TIMEOUT", "10s");
  o->login_limit = envor(o->login_limit, "SESSIO_LOGIN_LIMIT", "10");
  o->login_window = envor(o->login_window, "SESSIO_LOGIN_WINDOW", "15m");
  o->new_limit = envor(o->new_limit, "SESSIO_NEW_SESSIONS_LIMIT", "1000");
  o->new_window = envor(o->new_window, "SESSIO_NEW_SESSIONS_WINDOW", "1m");
  o->metrics_listen = envor(o->metrics_listen, "SESSIO_METRICS_LISTEN", NULL);
  o->tokens = envor(o->tokens, "SESSIO_TOKENS", "on");
  o->max_per_user =
      envor(o->max_per_user, "SESSIO_MAX_SESSIONS_PER_USER", "10");
  o->on_max = envor(o->on_max, "SESSIO_ON_MAX_SESSIONS", "evict-oldest");
  if (o->n_prev_secret == 0) { /* SESSIO_PREVIOUS_SECRET_FILE=A:B:C */
    static char list[4096];
    const char *e = envor(NULL, "SESSIO_PREVIOUS_SECRET_FILE", NULL);
    if (e != NULL && strlen(e) < sizeof list) {
      strcpy(list, e);
      for (char *save = NULL, *t = strtok_r(list, ":", &save); t != NULL;
           t = strtok_r(NULL, ":", &save)) {
        if (o->n_prev_secret == 3) {
          fprintf(stderr, "sessio-shop: at most 3 --previous-secret-file\n");
          return -1;
        }
        o->prev_secret[o->n_prev_secret++] = t;
      }
    }
  }
  o->data = envor(o->data, "SESSIO_DATA", "var");
  o->cookie_name = envor(o->cookie_name, "SESSIO_COOKIE_NAME", NULL);
  o->cookie_path = envor(o->cookie_path, "SESSIO_COOKIE_PATH", "/");
  o->cookie_domain = envor(o->cookie_domain, "SESSIO_COOKIE_DOMAIN", NULL);
  o->same_site = envor(o->same_site, "SESSIO_SAME_SITE", "lax");
  o->partitioned = envor(o->partitioned, "SESSIO_PARTITIONED", "off");
  threads = envor(threads, "SESSIO_THREADS", NULL);
  if (trust < 0) {
    const char *e = getenv("SESSIO_TRUST_PROXY");
    trust = e != NULL && (strcmp(e, "1") == 0 || strcasecmp(e, "true") == 0 ||
                          strcasecmp(e, "yes") == 0);
  }
  o->trust_proxy = trust;
  if (threads != NULL) {
    char *end;
    o->threads = strtol(threads, &end, 10);
    /* S27: more request threads do not make password checks cheaper (they
     * run on the pool), and each costs memory: 64 is plenty. */
    if (*end != '\0' || o->threads < 1 || o->threads > 64) {
      fprintf(stderr, "sessio-shop: --threads wants 1..64, not '%s'\n",
              threads);
      return -1;
    }
  } else {
    o->threads = sysconf(_SC_NPROCESSORS_ONLN);
    if (o->threads < 1) o->threads = 1;
    /* A request thread blocks while a network store answers (a cart add
     * is two round trips to Redis or PostgreSQL), so with one thread per
     * CPU the CPUs sit idle for most of each request: more requests in
     * flight per CPU keep them busy (docs/PERFORMANCE.md, "Redis"). */
    if (network_store(o->store)) o->threads *= NETWORK_THREADS_PER_CPU;
    if (o->threads > 64) o->threads = 64;
  }
  return 0;
}

/* "HOST:PORT" or "[V6]:PORT" into a socket address. */
static int parse_listen(const char *s, struct sockaddr_storage *ss, int *v6) {
  char host[128];
  const char *colon, *port;
  char *end;
  long p;
  memset(ss, 0, sizeof *ss);
  if (s[0] == '[') {
    const char *rb = strchr(s, ']');
    if (rb == NULL || rb[1] != ':' || (size_t)(rb - s - 1) >= sizeof host)
      return -1;
    memcpy(host, s + 1, (size_t)(rb - s - 1));
    host[rb - s - 1] = '\0';
    port = rb + 2;
    *v6 = 1;
  } else {
    colon = strrchr(s, ':');
    if (colon == NULL || (size_t)(colon - s) >= sizeof host) return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    port = colon + 1;
    *v6 = 0;
  }
  p = strtol(port, &end, 10);
  if (*port == '\0' || *end != '\0' || p < 0 || p > 65535) return -1;
  if (*v6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)p);
    return inet_pton(AF_INET6, host, &a->sin6_addr) == 1 ? 0 : -1;
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)p);
    if (host[0] == '\0' || strcmp(host, "localhost") == 0)
      strcpy(host, "127.0.0.1");
    return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
  }
}

/* ---- loggers --------------------------------------------------------------------- */

static void core_log(void *ud, sessio_log_level level, const char *msg) {
  shop_core_log(ud, level, msg); /* logfmt: store_state.c */
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
  char msg[512];
  size_t n;
  (void)cls;
  vsnprintf(msg, sizeof msg, fmt, ap);
  n = strlen(msg);
  while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = '\0';
  for (size_t i = 0; i < n; i++)
    if (msg[i] == '"' || (unsigned char)msg[i] < 0x20) msg[i] = '\'';
  /* MHD reports client-side trouble (resets, bad requests) here too: keep
   * it out of the default log. */
  shop_log(LOG_INFO, "src=mhd msg=\"%s\"", msg);
}

/* ---- start-up ------------------------------------------------------------------------------- */

static int open_store(const char *url, sessio_store **out) {
  sessio_err e;
  if (url != NULL) {
    /* With the logger from the start: a failing open says why. */
    e = sessio_store_open_logged(url, core_log, NULL,
                                 (sessio_log_level)shop_log_level, out);
    if (e == SESSIO_ENOTSUP && !sessio_store_supported(url)) {
      /* Only the scheme: the rest of the URL may hold a password (S25). */
      shop_log(LOG_ERROR,
               "msg=\"store backend %.*s is not built into this libsessio\" "
               "error=%s",
               (int)strcspn(url, ":"), url, sessio_errname(e));
      return -1;
    }
    if (e != SESSIO_OK) {
      /* S25: the URL may hold a Redis password; it never reaches a log. */
      char shown[512];
      if (sessio_store_url_redact(url, shown, sizeof shown, NULL) != SESSIO_OK)
        strcpy(shown, "(not shown)");
      for (char *c = shown; *c; c++)
        if (*c == '"' || (unsigned char)*c < 0x20) *c = '?';
      /* Unreachable is not misconfigured: start anyway, answer 503 for
       * session work (and on /readyz) until the store opens. */
      if (e == SESSIO_EUNAVAIL &&
          shop_store_open_late(url, shop_log_level, out) == 0) {
        shop_log(LOG_ERROR,
                 "msg=\"store unreachable at start; session requests get 503 "
                 "until it is reachable\" store=\"%s\" error=%s",
                 shown, sessio_errname(e));
        return 0;
      }
      shop_log(LOG_ERROR,
               "msg=\"cannot open store\" store=\"%s\" error=%s (%s)", shown,
               sessio_errname(e), sessio_strerror(e));
      return -1;
    }
    return 0;
  }
  /* The default: the durable embedded store when it is built in. */
  mkdir("var", 0700);
  e = sessio_store_open(DEFAULT_STORE, out);
  if (e == SESSIO_OK) return 0;
  if (e == SESSIO_EPERM) { /* S25: said, never silently replaced */
    shop_log(LOG_ERROR, "msg=\"cannot open store\" store=\"%s\" error=%s (%s)",
             DEFAULT_STORE, sessio_errname(e), sessio_strerror(e));
    return -1;
  }
  shop_log(
      LOG_WARN,
      "msg=\"default store unavailable, using memory: (sessions are lost at exit)\" "
      "store=\"%s\" error=%s",
      DEFAULT_STORE, sessio_errname(e));
  e = sessio_store_open(FALLBACK_STORE, out);
  if (e != SESSIO_OK) {
    shop_log(LOG_ERROR,
             "msg=\"cannot open store\" store=" FALLBACK_STORE " error=%s",
             sessio_errname(e));
    return -1;
  }
  return 0;
}

/* S25: reads the server secret from 'path': exactly 64 hexadecimal
 * characters and a newline (32 bytes), in a regular file that group and
 * others cannot read. 0, or -1 after saying why on stderr. */
static int read_secret(const char *path, unsigned char secret[32]) {
  char text[80];
  struct stat sb;
  ssize_t n;
  size_t len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    fprintf(stderr, "sessio-shop: cannot open --secret-file '%s': %s\n", path,
            strerror(errno));
    return -1;
  }
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    fprintf(stderr, "sessio-shop: --secret-file '%s' is not a regular file\n",
            path);
    close(fd);
    return -1;
  }
  if (sb.st_mode & (S_IRGRP | S_IROTH | S_IWGRP | S_IWOTH)) {
    fprintf(
        stderr,
        "sessio-shop: --secret-file '%s' is readable or writable by group or "
        "others (mode %03o): refused; chmod 600 it\n",
        path, (unsigned)(sb.st_mode & 0777));
    close(fd);
    return -1;
  }
  while (len < sizeof text &&
         (n = read(fd, text + len, sizeof text - len)) != 0) {
    if (n < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "sessio-shop: cannot read --secret-file '%s': %s\n", path,
              strerror(errno));
      close(fd);
      return -1;
    }
    len += (size_t)n;
  }
  close(fd);
  if (len != 65 || text[64] != '\n' ||
      sodium_hex2bin(secret, 32, text, 64, NULL, NULL, NULL) != 0) {
    sodium_memzero(text, sizeof text);
    fprintf(
        stderr,
        "sessio-shop: --secret-file '%s' must hold 64 hexadecimal characters and a "
        "newline (e.g. made with: head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n'; "
        "echo)\n",
        path);
    return -1;
  }
  sodium_memzero(text, sizeof text);
  return 0;
}

/* 1 for on/1/true/yes, 0 for off/0/false/no, -1 otherwise. */
static int on_off(const char *v) {
  if (!strcasecmp(v, "on") || !strcmp(v, "1") || !strcasecmp(v, "true") ||
      !strcasecmp(v, "yes"))
    return 1;
  if (!strcasecmp(v, "off") || !strcmp(v, "0") || !strcasecmp(v, "false") ||
      !strcasecmp(v, "no"))
    return 0;
  return -1;
}

static int cookie_bad(const char *why) {
  fprintf(stderr, "sessio-shop: %s\n", why);
  return -1;
}

/* The cookie flags, checked at start with a message that names the rule
 * broken (the library only says "invalid"). 0, or -1 when said. */
static int cookie_rules(const options *o, sessio_secure sec,
                        sessio_samesite *same, int *partitioned) {
  int secure = sec == SESSIO_SECURE_ALWAYS;
  const char *name = o->cookie_name;
  if (strcasecmp(o->same_site, "lax") == 0)
    *same = SESSIO_SAMESITE_LAX;
  else if (strcasecmp(o->same_site, "strict") == 0)
    *same = SESSIO_SAMESITE_STRICT;
  else if (strcasecmp(o->same_site, "none") == 0)
    *same = SESSIO_SAMESITE_NONE;
  else
    return cookie_bad("--same-site wants strict, lax or none");
  if ((*partitioned = on_off(o->partitioned)) < 0)
    return cookie_bad("--partitioned wants on or off");
  if (*same == SESSIO_SAMESITE_NONE && !secure)
    return cookie_bad("--same-site none needs --secure always: browsers refuse "
                      "SameSite=None without Secure");
  if (*partitioned && !secure)
    return cookie_bad(
        "--partitioned needs --secure always: browsers drop a Partitioned "
        "cookie without Secure");
  if (o->cookie_path[0] != '/' || strlen(o->cookie_path) > 1024 ||
      strpbrk(o->cookie_path, ";\r\n\t") != NULL)
    return cookie_bad(
        "--cookie-path must start with '/' and hold no ';' or control "
        "character (at most 1024 bytes)");
  if (name != NULL) {
    if (*name == '\0' || strlen(name) > 64 ||
        strpbrk(name, "()<>@,;:\\\"/[]?={} \t") != NULL)
      return cookie_bad(
          "--cookie-name must be a token of 1..64 characters (no spaces, "
          "separators or '=')");
    if (strncmp(name, "__Host-", 7) == 0) {
      if (o->cookie_domain != NULL)
        return cookie_bad(
            "--cookie-domain cannot be used with a __Host- cookie name: the "
            "__Host- prefix forbids a Domain");
      if (strcmp(o->cookie_path, "/") != 0)
        return cookie_bad("a __Host- cookie name needs --cookie-path /");
      if (!secure)
        return cookie_bad("a __Host- cookie name needs --secure always");
    }
    if (strncmp(name, "__Secure-", 9) == 0 && !secure)
      return cookie_bad("a __Secure- cookie name needs --secure always");
  }
  if (o->cookie_domain != NULL &&
      (*o->cookie_domain == '\0' ||
       strspn(o->cookie_domain, "abcdefghijklmnopqrstuvwxyz"
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") !=
           strlen(o->cookie_domain)))
    return cookie_bad(
        "--cookie-domain must be a host name (letters, digits, '-' and '.')");
  return 0;
}

static int make_manager(const options *o, sessio_store *st,
                        sessio_manager **out) {
  sessio_config *cfg;
  sessio_secure sec;
  int64_t idle, absolute, remember, remember_idle;
  sessio_err e;
  if (strcmp(o->secure, "auto") == 0)
    sec = SESSIO_SECURE_AUTO;
  else if (strcmp(o->secure, "always") == 0)
    sec = SESSIO_SECURE_ALWAYS;
  else if (strcmp(o->secure, "never") == 0)
    sec = SESSIO_SECURE_NEVER;
  else {
    fprintf(stderr,
            "sessio-shop: --secure wants auto, always or never, not '%s'\n",
            o->secure);
    return -1;
  }
  if (parse_duration(o->idle, &idle) || idle == 0) {
    fprintf(stderr, "sessio-shop: bad --idle '%s' (e.g. 30m)\n", o->idle);
    return -1;
  }
  if (parse_duration(o->absolute, &absolute) || absolute == 0) {
    fprintf(stderr, "sessio-shop: bad --absolute '%s' (e.g. 12h)\n",
            o->absolute);
    return -1;
  }
  if (parse_duration(o->remember, &remember)) {
    fprintf(stderr, "sessio-shop: bad --remember '%s' (e.g. 30d, 0 = off)\n",
            o->remember);
    return -1;
  }
  if (o->remember_idle == NULL) { /* 7 days, or all of a shorter --remember */
    remember_idle = 7 * 24 * 3600 * 1000LL;
    if (remember > 0 && remember_idle > remember) remember_idle = remember;
  } else if (parse_duration(o->remember_idle, &remember_idle) ||
             remember_idle == 0) {
    fprintf(stderr, "sessio-shop: bad --remember-idle '%s' (e.g. 7d)\n",
            o->remember_idle);
    return -1;
  }
  if (remember > 0 && remember_idle > remember) {
    fprintf(
        stderr,
        "sessio-shop: --remember-idle must not be longer than --remember\n");
    return -1;
  }
  if (idle > absolute) {
    fprintf(stderr, "sessio-shop: --idle must not be longer than --absolute\n");
    return -1;
  }
  int tokens = on_off(o->tokens);
  if (tokens < 0) {
    fprintf(stderr, "sessio-shop: --tokens wants on or off, not '%s'\n",
            o->tokens);
    return -1;
  }
  sessio_samesite same;
  int partitioned;
  sessio_max_policy max_policy;
  char *end;
  long max_per_user = strtol(o->max_per_user, &end, 10);
  if (*o->max_per_user == '\0' || *end != '\0' || max_per_user < 0 ||
      max_per_user > 100000) {
    fprintf(
        stderr,
        "sessio-shop: --max-sessions-per-user wants 0..100000 (0 = no limit), "
        "not '%s'\n",
        o->max_per_user);
    return -1;
  }
  if (strcmp(o->on_max, "evict-oldest") == 0)
    max_policy = SESSIO_MAX_EVICT_OLDEST;
  else if (strcmp(o->on_max, "refuse") == 0)
    max_policy = SESSIO_MAX_REFUSE;
  else {
    fprintf(
        stderr,
        "sessio-shop: --on-max-sessions wants evict-oldest or refuse, not '%s'\n",
        o->on_max);
    return -1;
  }
  if (cookie_rules(o, sec, &same, &partitioned) != 0) return -1;
  if (sessio_config_new(&cfg) != SESSIO_OK) return -1;
  if (o->secret_file != NULL) {
    unsigned char secret[32];
    if (read_secret(o->secret_file, secret) != 0) {
      sessio_config_free(cfg);
      return -1;
    }
    e = sessio_config_set_secret(cfg, secret, sizeof secret);
    sodium_memzero(secret, sizeof secret);
    if (e != SESSIO_OK) {
      sessio_config_free(cfg);
      return -1;
    }
  }
  /* S32: sessions written under a previous secret are served and re-keyed
   * under the current one (docs/DEPLOYMENT.md, rotating the secret). */
  for (int i = 0; i < o->n_prev_secret; i++) {
    unsigned char secret[32];
    if (read_secret(o->prev_secret[i], secret) != 0) {
      sessio_config_free(cfg);
      return -1;
    }
    e = sessio_config_add_previous_secret(cfg, secret, sizeof secret);
    sodium_memzero(secret, sizeof secret);
    if (e != SESSIO_OK) {
      sessio_config_free(cfg);
      return -1;
    }
  }
  if ((e = sessio_config_set_store(cfg, st)) != SESSIO_OK ||
      (e = sessio_config_set_timeouts(cfg, idle, absolute, remember)) !=
          SESSIO_OK ||
      (remember > 0 && (e = sessio_config_set_remember(
                            cfg, remember_idle, remember)) != SESSIO_OK) ||
      (e = sessio_config_set_cookie(cfg, o->cookie_name, sec, same,
                                    o->cookie_domain)) != SESSIO_OK ||
      (e = sessio_config_set_cookie_path(cfg, o->cookie_path)) != SESSIO_OK ||
      (e = sessio_config_set_partitioned(cfg, partitioned)) != SESSIO_OK ||
      (e = sessio_config_set_token_transport(cfg, tokens)) != SESSIO_OK ||
      (e = sessio_config_set_max_sessions_per_user(cfg, (size_t)max_per_user,
                                                   max_policy)) != SESSIO_OK ||
      (e = sessio_config_set_logger(cfg, core_log, NULL,
                                    (sessio_log_level)shop_log_level)) !=
          SESSIO_OK ||
      (e = sessio_config_set_event_handler(cfg, shop_store_event, NULL)) !=
          SESSIO_OK ||
      (e = sessio_manager_new(cfg, out)) != SESSIO_OK) {
    fprintf(stderr, "sessio-shop: bad session configuration: %s\n",
            sessio_strerror(e));
    sessio_config_free(cfg);
    return -1;
  }
  sessio_config_free(cfg);
  return 0;
}

/* S21: the invalid-ID throttle from --invalid-id-limit and
 * --invalid-id-window. 0, -1 for a bad value (said on stderr), -2 for out
 * of memory. */
static int make_throttle(const options *o, shop *sh) {
  char *end;
  unsigned long limit;
  int64_t window;
  errno = 0;
  limit = strtoul(o->invalid_limit, &end, 10);
  if (*o->invalid_limit == '\0' || *end != '\0' || errno != 0 ||
      o->invalid_limit[0] == '-' || limit > 1000000000UL) {
    fprintf(stderr,
            "sessio-shop: --invalid-id-limit wants 0..1000000000, not '%s'\n",
            o->invalid_limit);
    return -1;
  }
  if (parse_duration(o->invalid_window, &window) || window == 0) {
    fprintf(stderr, "sessio-shop: bad --invalid-id-window '%s' (e.g. 60s)\n",
            o->invalid_window);
    return -1;
  }
  sh->invalid_limit = (unsigned)limit;
  sh->invalid_window = window;
  return sessio_mhd_limiter_new((unsigned)limit, window, &sh->throttle) ==
                 SESSIO_OK
             ? 0
             : -2;
}

/* A whole number 'lo'..'hi' from 'text' for flag 'name'; -1 after saying
 * why on stderr. */
static int parse_count(const char *name, const char *text, unsigned long lo,
                       unsigned long hi, unsigned *out) {
  char *end;
  unsigned long v;
  errno = 0;
  v = strtoul(text, &end, 10);
  if (*text == '\0' || *text == '-' || *end != '\0' || errno != 0 || v < lo ||
      v > hi) {
    fprintf(stderr, "sessio-shop: %s wants %lu..%lu, not '%s'\n", name, lo, hi,
            text);
    return -1;
  }
  *out = (unsigned)v;
  return 0;
}

/* S26-S29: the connection guard, the password pool, the sign-in limits
 * and the new-session limit from their flags. 0, -1 for a bad value
 * (said on stderr), -2 for out of memory. */
static int make_guards(const options *o, shop *sh, sessio_mhd_guard **guard) {
  sessio_mhd_limits lim;
  unsigned limit;
  int64_t head, window, nwindow;
  sessio_mhd_limits_default(&lim);
  if (parse_count("--max-conns", o->max_conns, 1, 1000000, &lim.max_conns) ||
      parse_count("--max-conns-per-client", o->max_conns_client, 1, 1000000,
                  &lim.max_conns_per_client) ||
      parse_count("--login-limit", o->login_limit, 0, 1000000, &limit) ||
      parse_count("--new-sessions-limit", o->new_limit, 0, 1000000000,
                  &sh->new_limit))
    return -1;
  if (parse_duration(o->header_timeout, &head) || head < 100 ||
      head > 3600 * 1000) {
    fprintf(stderr,
            "sessio-shop: bad --header-timeout '%s' (100ms..1h, e.g. 10s)\n",
            o->header_timeout);
    return -1;
  }
  if (parse_duration(o->login_window, &window) || window == 0) {
    fprintf(stderr, "sessio-shop: bad --login-window '%s' (e.g. 15m)\n",
            o->login_window);
    return -1;
  }
  if (parse_duration(o->new_window, &nwindow) || nwindow == 0) {
    fprintf(stderr, "sessio-shop: bad --new-sessions-window '%s' (e.g. 1m)\n",
            o->new_window);
    return -1;
  }
  lim.head_timeout_ms = (unsigned)head;
  if (o->trust_proxy) /* every connection comes from the proxy */
    lim.max_conns_per_client = lim.max_conns;
  if (login_limits_new(sh, limit, window) != 0 ||
      sessio_mhd_limiter_new(sh->new_limit, nwindow, &sh->new_sessions) !=
          SESSIO_OK ||
      sessio_mhd_guard_new(&lim, guard) != SESSIO_OK ||
      sessio_mhd_pool_new(0, 0, &sh->pool) != SESSIO_OK)
    return -2;
  return 0;
}

static struct MHD_Daemon *start_daemon(shop *sh, const options *o,
                                       const struct sockaddr_storage *ss,
                                       int v6, int epoll,
                                       sessio_mhd_guard *guard) {
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
                   MHD_ALLOW_SUSPEND_RESUME |
                   (epoll ? MHD_USE_EPOLL : MHD_USE_POLL) |
                   (v6 ? MHD_USE_IPv6 : 0);
  struct MHD_OptionItem gopts[SESSIO_MHD_GUARD_OPTIONS];
  if (sessio_mhd_guard_options(guard, gopts, SESSIO_MHD_GUARD_OPTIONS) == 0)
    return NULL;
  return MHD_start_daemon(
      flags, 0, NULL, NULL, shop_handler, sh, MHD_OPTION_EXTERNAL_LOGGER,
      mhd_log, sh, MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)ss,
      MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(o->threads > 1 ? o->threads : 0),
      /* Headers, the request line and MHD's parsed cookies (56 bytes per
       * cookie) live in this per-connection pool; what does not fit is
       * answered 431 by MHD, what leaves less than SESSIO_MHD_REPLY_ROOM for
       * the answer by the shop (sessio_mhd_head_too_big). MHD clears the pool between requests, so its
       * size costs on every request (callgrind, cart: 16 KiB 84k, 32 KiB
       * 108k, 40 KiB 121k, 64 KiB 158k instructions per request). Over
       * 32 KiB MHD mmap()s the pool for each connection, and those calls
       * stall behind a password check's munmap (shop.h): 32 KiB it is,
       * which holds a Cookie header of ~400 short pairs; the shop's own
       * limit on all headers (SHOP_HEADERS_MAX, 431) is checked first. */
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)SHOP_MHD_POOL,
      /* S26: connection limits and head/body deadlines (sessio-mhd). */
      MHD_OPTION_ARRAY, gopts, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
      MHD_OPTION_NOTIFY_COMPLETED, shop_completed, sh, MHD_OPTION_END);
}

/* Lets the requests in flight finish, then stops the daemon. From the
 * signal on, every answer carries "Connection: close", so keep-alive clients
 * go away after their current request. The daemon keeps its listening
 * socket during the drain (MHD_quiesce_daemon was seen to drop a keep-alive
 * connection whose next request had arrived but was not yet read); the
 * drain ends once no request has been in flight for DRAIN_QUIET_MS, or
 * after DRAIN_MS. */
static void drain_and_stop(shop *sh, struct MHD_Daemon *d) {
  int quiet = 0;
  atomic_store(&sh->stopping, 1);
  for (int waited = 0; waited < DRAIN_MS; waited += 10) {
    int n = atomic_load_explicit(&sh->inflight, memory_order_acquire);
    quiet = n == 0 ? quiet + 10 : 0;
    if (quiet >= DRAIN_QUIET_MS) break;
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  /* Queued password checks end and resume their connections while the
   * daemon still runs; none is taken after this. */
  sessio_mhd_pool_free(sh->pool);
  sh->pool = NULL;
  MHD_stop_daemon(d);
}

int main(int argc, char **argv) {
  options o;
  shop sh;
  struct sockaddr_storage ss;
  int v6, sig, rc = 1;
  sigset_t set;
  sessio_gc *gc = NULL;
  struct MHD_Daemon *d, *md = NULL;
  unsigned metrics_port = 0;
  const union MHD_DaemonInfo *di;
  sessio_mhd_guard *guard = NULL;
  unsigned port;
  char host[64];

  setvbuf(stderr, NULL, _IOLBF, 0);
  if (parse_args(argc, argv, &o) != 0) return 2;
  if (strcmp(o.log_level, "error") == 0)
    shop_log_level = LOG_ERROR;
  else if (strcmp(o.log_level, "warn") == 0)
    shop_log_level = LOG_WARN;
  else if (strcmp(o.log_level, "info") == 0)
    shop_log_level = LOG_INFO;
  else if (strcmp(o.log_level, "debug") == 0)
    shop_log_level = LOG_DEBUG;
  else {
    fprintf(stderr,
            "sessio-shop: --log-level wants error, warn, info or debug\n");
    return 2;
  }
  if (parse_listen(o.listen, &ss, &v6) != 0) {
    fprintf(stderr, "sessio-shop: bad --listen '%s' (want HOST:PORT)\n",
            o.listen);
    return 2;
  }
  if (sodium_init() < 0) {
    fprintf(stderr, "sessio-shop: libsodium failed to start\n");
    return 1;
  }

  /* Signals are taken by sigwait() in this thread; every thread made from
   * here on inherits the mask. */
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);

  memset(&sh, 0, sizeof sh);
  sh.trust_proxy = o.trust_proxy;
  if (parse_duration(o.reauth_after, &sh.reauth_ms)) {
    fprintf(stderr,
            "sessio-shop: bad --reauth-after '%s' (e.g. 1h, 0 = never)\n",
            o.reauth_after);
    return 2;
  }
  switch (make_throttle(&o, &sh)) {
  case 0: break;
  case -1: rc = 2; goto fail_none;
  default: goto fail_none;
  }
  if (open_store(o.store, &sh.store) != 0) goto fail_none;
  sessio_store_set_logger(sh.store, core_log, NULL,
                          (sessio_log_level)shop_log_level);
  if (make_manager(&o, sh.store, &sh.mgr) != 0) {
    rc = 2;
    goto fail_store;
  }
  {
    /* A secret other than the one the store's sessions were written with
     * makes every session look unknown: say so once, at start. With a
     * secret, the shop records it in the store (for this check and the
     * sessio command's); without one it only reads. */
    int same = 1;
    sessio_err ce = sessio_manager_check_secret(sh.mgr, sessio_now_ms(),
                                                o.secret_file != NULL, &same);
    if (ce != SESSIO_OK)
      shop_log(LOG_WARN, "msg=\"server secret not checked\" error=%s",
               sessio_errname(ce));
    else if (same == 0)
      shop_log(LOG_WARN,
               "msg=\"the store's sessions were written with another server "
               "secret (--secret-file): they will not be found\"");
  }
  if (users_load(o.users, &sh.users) != 0) goto fail_mgr;
  if (shop_make_static(&sh) != 0) goto fail_users;
  if (orders_open(o.data) != 0) goto fail_static;

  switch (make_guards(&o, &sh, &guard)) {
  case 0: break;
  case -1: rc = 2; goto fail_static;
  default: goto fail_static;
  }
  d = start_daemon(&sh, &o, &ss, v6,
                   MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES,
                   guard);
  if (d == NULL) {
    shop_log(LOG_WARN, "msg=\"epoll daemon failed, trying poll\"");
    d = start_daemon(&sh, &o, &ss, v6, 0, guard);
  }
  if (d == NULL) {
    shop_log(LOG_ERROR, "msg=\"cannot listen\" listen=\"%s\"", o.listen);
    goto fail_static;
  }
  if (o.metrics_listen != NULL) {
    unsigned mport = 0;
    md = shop_metrics_start(&sh, o.metrics_listen, &mport);
    if (md == NULL) {
      shop_log(LOG_ERROR, "msg=\"cannot serve metrics\" metrics_listen=\"%s\"",
               o.metrics_listen);
      fprintf(
          stderr,
          "sessio-shop: cannot serve metrics on '%s' (want a free HOST:PORT)\n",
          o.metrics_listen);
      MHD_stop_daemon(d);
      rc = 2;
      goto fail_static;
    }
    metrics_port = mport;
  }
  /* Expired sessions are removed by libsessio's runner: its adaptive
   * budget keeps up with a busy site where one fixed call a second did not
   * (bench/soak), and it logs store failures through core_log. */
  if (sessio_gc_new(sh.store, &gc) != SESSIO_OK ||
      sessio_gc_thread_start(gc, GC_INTERVAL_MS) != SESSIO_OK) {
    shop_log(LOG_ERROR, "msg=\"cannot start the gc thread\"");
    sessio_gc_free(gc);
    MHD_stop_daemon(d);
    if (md) MHD_stop_daemon(md);
    goto fail_static;
  }

  di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  port = di ? di->port : 0;
  if (v6)
    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host,
              sizeof host);
  else
    inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host,
              sizeof host);
  printf(
      "sessio-shop: listening on http://%s%s%s:%u (store %s, %ld thread%s)\n",
      v6 ? "[" : "", host, v6 ? "]" : "", port, sessio_store_name(sh.store),
      o.threads, o.threads == 1 ? "" : "s");
  if (md != NULL)
    printf("sessio-shop: metrics on http://%.*s:%u/metrics\n",
           (int)(strrchr(o.metrics_listen, ':') - o.metrics_listen),
           o.metrics_listen, metrics_port);
  fflush(stdout);

  do {
    if (sigwait(&set, &sig) != 0) sig = SIGTERM;
  } while (sig != SIGINT && sig != SIGTERM);
  shop_log(LOG_WARN, "msg=\"shutting down\" signal=%s",
           sig == SIGINT ? "SIGINT" : "SIGTERM");

  drain_and_stop(&sh, d);
  if (md) MHD_stop_daemon(md);
  sessio_gc_free(gc); /* stops its thread */
  rc = 0;
fail_static:
  sessio_mhd_pool_free(sh.pool);
  sessio_mhd_guard_free(guard);
  login_limits_free(&sh);
  sessio_mhd_limiter_free(sh.new_sessions);
  orders_close();
  if (sh.r_healthz) MHD_destroy_response(sh.r_healthz);
  if (sh.r_css) MHD_destroy_response(sh.r_css);
  if (sh.r_icon) MHD_destroy_response(sh.r_icon);
fail_users:
  users_free(sh.users);
fail_mgr:
  sessio_manager_free(sh.mgr);
fail_store:
  sessio_store_close(sh.store);
fail_none:
  sessio_mhd_limiter_free(sh.throttle);
  if (rc == 0) printf("sessio-shop: stopped\n");
  return rc;
}
