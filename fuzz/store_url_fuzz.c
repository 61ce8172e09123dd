/*
 * store_url_fuzz.c — store URL parsing: sessio_store_open for memory:,
 * file:, sqlite:, redis:// and redis-cluster:// URLs, and the shared query
 * parser sessio_store_url_params. The real open functions run, but nothing
 * reaches a network or the disk: the link wraps hiredis's connect and
 * mkdir/open/stat (fuzz/build.mk), which record their arguments and fail.
 * Proves, for any URL: only a memory: URL opens, and exactly when a
 * reference of its grammar says so; a malformed redis URL is refused before
 * any connection is tried, a well-formed one tries only hosts and ports
 * written in it (port 1..65535) and answers SESSIO_EUNAVAIL; file: and
 * sqlite: only ever touch a prefix of the path written in the URL; a
 * password given in the URL never appears in a log line; the query parser
 * gives pairs that re-encode and parse back the same; every error path
 * frees what it took (LeakSanitizer).
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "fuzz.h"
#include "sessio.h"
#include "sessio/store.h"

/* ---- the wrapped calls ------------------------------------------------- */

static int blocking;        /* set around sessio_store_open */
static const char *url_now; /* the URL being opened */
static unsigned connects, fs_calls;
static char logbuf[8192];
static size_t loglen;

typedef struct redisContext redisContext;
redisContext *__wrap_redisConnectWithTimeout(const char *ip, int port,
                                             const struct timeval tv);
redisContext *__real_redisConnectWithTimeout(const char *ip, int port,
                                             const struct timeval tv);
redisContext *__wrap_redisConnectUnixWithTimeout(const char *path,
                                                 const struct timeval tv);
int __wrap_mkdir(const char *path, mode_t mode);
int __real_mkdir(const char *path, mode_t mode);
int __wrap_open(const char *path, int flags, ...);
int __real_open(const char *path, int flags, ...);
int __wrap_open64(const char *path, int flags, ...);
int __real_open64(const char *path, int flags, ...);
int __wrap_stat(const char *path, struct stat *sb);
int __real_stat(const char *path, struct stat *sb);
int __wrap_stat64(const char *path, struct stat *sb);
int __real_stat64(const char *path, struct stat *sb);
int __wrap_fprintf(FILE *f, const char *fmt, ...);

/* The path part of the URL being opened: after "file:" or "sqlite:". */
static void check_path(const char *path) {
  const char *rest = strchr(url_now, ':') + 1;
  CHECK(strncmp(path, rest, strlen(path)) == 0);
  fs_calls++;
}

redisContext *__wrap_redisConnectWithTimeout(const char *ip, int port,
                                             const struct timeval tv) {
  (void)tv;
  CHECK(blocking);
  CHECK(ip != NULL && ip[0] != '\0' && strlen(ip) < 256);
  CHECK(port >= 1 && port <= 65535);
  CHECK(strstr(url_now, ip) != NULL);
  connects++;
  return NULL; /* the pool takes it for "cannot connect" */
}

/* redis://%2FPATH: the host part, percent-decoded, is an absolute path
 * that fits a sockaddr_un. */
redisContext *__wrap_redisConnectUnixWithTimeout(const char *path,
                                                 const struct timeval tv) {
  (void)tv;
  CHECK(blocking);
  CHECK(path != NULL && path[0] == '/' && strlen(path) < 108);
  CHECK(strncmp(url_now, "redis:", 6) == 0);
  connects++;
  return NULL;
}

int __wrap_mkdir(const char *path, mode_t mode) {
  if (!blocking) return __real_mkdir(path, mode);
  check_path(path);
  errno = EACCES;
  return -1;
}

static int open_common(int real64, const char *path, int flags, va_list ap) {
  mode_t mode = (flags & O_CREAT) ? (mode_t)va_arg(ap, int) : 0;
  if (!blocking)
    return real64 ? __real_open64(path, flags, mode)
                  : __real_open(path, flags, mode);
  check_path(path);
  errno = EACCES;
  return -1;
}

int __wrap_open(const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  int r = open_common(0, path, flags, ap);
  va_end(ap);
  return r;
}

int __wrap_open64(const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  int r = open_common(1, path, flags, ap);
  va_end(ap);
  return r;
}

int __wrap_stat(const char *path, struct stat *sb) {
  if (!blocking) return __real_stat(path, sb);
  check_path(path);
  errno = ENOENT;
  return -1;
}

int __wrap_stat64(const char *path, struct stat *sb) {
  if (!blocking) return __real_stat64(path, sb);
  check_path(path);
  errno = ENOENT;
  return -1;
}

/* The stores' default logger writes to stderr: kept for the password
 * check instead of printed. */
int __wrap_fprintf(FILE *f, const char *fmt, ...) {
  va_list ap;
  int r;
  va_start(ap, fmt);
  if (blocking && f == stderr && strncmp(fmt, "sessio:", 7) == 0) {
    r = vsnprintf(logbuf + loglen, sizeof logbuf - loglen, fmt, ap);
    if (r > 0)
      loglen += (size_t)r < sizeof logbuf - loglen ? (size_t)r
                                                   : sizeof logbuf - loglen - 1;
  } else {
    r = vfprintf(f, fmt, ap);
  }
  va_end(ap);
  return r;
}

/* ---- the query parser ------------------------------------------------------ */

typedef struct pairs {
  char name[16][256], val[16][256];
  size_t n, more;
} pairs;

static sessio_err on_param(void *ud, const char *name, const char *val) {
  pairs *p = ud;
  CHECK(name[0] != '\0');
  if (p->n < 16 && strlen(name) < 256 && strlen(val) < 256) {
    strcpy(p->name[p->n], name);
    strcpy(p->val[p->n], val);
    p->n++;
  } else {
    p->more++;
  }
  return SESSIO_OK;
}

static void encode(char *out, size_t cap, size_t *o, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    CHECK(*o + 4 < cap);
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') {
      out[(*o)++] = (char)c;
    } else {
      out[(*o)++] = '%';
      out[(*o)++] = hex[c >> 4];
      out[(*o)++] = hex[c & 15];
    }
  }
}

/* Pairs parse back the same after percent-encoding every byte. */
static void params_round_trip(const char *query, pairs *p, sessio_err *rc) {
  memset(p, 0, sizeof *p);
  *rc = sessio_store_url_params(query, on_param, p);
  CHECK(*rc == SESSIO_OK || *rc == SESSIO_EINVAL);
  if (*rc != SESSIO_OK || p->more) return;
  static char text[16 * 2 * 256 * 3 + 64];
  static pairs again;
  size_t o = 0;
  for (size_t i = 0; i < p->n; i++) {
    if (i) text[o++] = '&';
    encode(text, sizeof text, &o, p->name[i]);
    text[o++] = '=';
    encode(text, sizeof text, &o, p->val[i]);
  }
  text[o] = '\0';
  memset(&again, 0, sizeof again);
  CHECK(sessio_store_url_params(text, on_param, &again) == SESSIO_OK);
  CHECK(again.n == p->n);
  for (size_t i = 0; i < p->n; i++)
    CHECK(strcmp(again.name[i], p->name[i]) == 0 &&
          strcmp(again.val[i], p->val[i]) == 0);
}

/* ---- the memory store's grammar ---------------------------------------------- */

/* A store option's number: 1..LLONG_MAX, leading zeros allowed (the
 * option vocabulary of src/store/helpers.c, sessio__opt_int). */
static int ref_u64(const char *s, uint64_t *v) {
  if (*s == '\0') return 0;
  while (s[0] == '0' && s[1] != '\0') s++; /* leading zeros are fine */
  if (strlen(s) > 20) return 0;
  for (const char *p = s; *p; p++)
    if (*p < '0' || *p > '9') return 0;
  errno = 0;
  unsigned long long x = strtoull(s, NULL, 10);
  if (errno == ERANGE || x == 0 || x > (unsigned long long)LLONG_MAX) return 0;
  *v = x;
  return 1;
}

static int ref_memory_ok(const char *rest, const pairs *p, sessio_err prc) {
  if (rest[0] == '\0') return 1;
  if (rest[0] != '?' || prc != SESSIO_OK) return 0;
  CHECK(p->more == 0); /* only checked for short queries (see below) */
  for (size_t i = 0; i < p->n; i++) {
    uint64_t v;
    if (!ref_u64(p->val[i], &v)) return 0;
    if (strcmp(p->name[i], "shards") == 0) {
      if (v > 4096 || __builtin_popcountll(v) != 1) return 0;
    } else if (strcmp(p->name[i], "max_sessions") != 0 &&
               strcmp(p->name[i], "max_bytes") != 0) {
      return 0;
    }
  }
  return 1;
}

/* A password in a redis URL ("//[user]:PASSWORD@") is replaced by MARK,
 * text no log line holds by chance. Returns the offset just past the
 * '@' ('url' has room for MARK), or 0 when there is no password. */
#define MARK "pW-SeCrEt-7c1"
static size_t mark_password(char *url, size_t size) {
  if (strncmp(url, "redis", 5) != 0) return 0;
  char *auth = strstr(url, "//");
  if (auth == NULL) return 0;
  auth += 2;
  size_t alen = strcspn(auth, "/?@");
  if (auth[alen] != '@') return 0;
  char *colon = memchr(auth, ':', alen);
  char *pw = colon ? colon + 1 : auth;
  size_t n = (size_t)(auth + alen - pw);
  if (n == 0 || n >= 256) return 0;
  size_t tail = size - (size_t)(auth + alen - url) + 1; /* "@..." and NUL */
  memmove(pw + strlen(MARK), auth + alen, tail);
  memcpy(pw, MARK, strlen(MARK));
  return (size_t)(pw - url) + strlen(MARK) + 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 4096) return 0;
  char *url = malloc(size + sizeof MARK);
  CHECK(url != NULL);
  memcpy(url, data, size);
  url[size] = '\0';
  size_t marked = mark_password(url, size);

  pairs p;
  sessio_err prc = SESSIO_OK;
  const char *q = strchr(url, '?');
  if (q) params_round_trip(q + 1, &p, &prc);

  sessio_store *st = NULL;
  url_now = url;
  connects = fs_calls = 0;
  loglen = 0;
  logbuf[0] = '\0';
  blocking = 1;
  sessio_err rc = sessio_store_open(url, &st);
  blocking = 0;

  CHECK((rc == SESSIO_OK) == (st != NULL));
  int mem = strncmp(url, "memory:", 7) == 0;
  int fil = strncmp(url, "file:", 5) == 0 || strncmp(url, "sqlite:", 7) == 0;
  int red = strncmp(url, "redis:", 6) == 0 ||
            strncmp(url, "redis-cluster:", 14) == 0;
  if (mem) {
    CHECK(rc == SESSIO_OK || rc == SESSIO_EINVAL);
    if (q == NULL || !p.more)
      CHECK((rc == SESSIO_OK) == ref_memory_ok(url + 7, &p, prc));
  } else if (fil) {
    /* Refused, or stopped by the wrapped disk calls. */
    CHECK(rc == SESSIO_EINVAL || rc == SESSIO_EIO);
    CHECK(rc != SESSIO_EIO || fs_calls > 0);
  } else if (red) {
    CHECK(rc == SESSIO_EINVAL || rc == SESSIO_EUNAVAIL);
    /* Parsed first: a connection only for a URL accepted as a whole. */
    CHECK((rc == SESSIO_EUNAVAIL) == (connects > 0));
    if (strncmp(url, "redis:", 6) == 0) CHECK(connects <= 1);
  } else {
    /* Unknown (EINVAL), or a store this build left out (ENOTSUP: postgres
     * here, which the fuzz build does not register). */
    CHECK((rc == SESSIO_EINVAL || rc == SESSIO_ENOTSUP) && connects == 0 &&
          fs_calls == 0);
    CHECK(rc != SESSIO_ENOTSUP || !sessio_store_supported(url));
  }
  if (!red) CHECK(connects == 0);
  if (!fil) CHECK(fs_calls == 0);

  /* The password (replaced by MARK) is never logged, unless the same
   * text is written after the '@' too. */
  if (red && marked && strstr(url + marked, MARK) == NULL)
    CHECK(strstr(logbuf, MARK) == NULL);

  if (st != NULL) {
    CHECK(strcmp(sessio_store_name(st), "memory") == 0);
    struct sessio_store_stats stats;
    CHECK(sessio_store_stats(st, &stats) == SESSIO_OK && stats.sessions == 0);
    sessio_store_close(st);
  }
  free(url);
  return 0;
}
