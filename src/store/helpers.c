/*
 * helpers.c — helpers the stores share (see helpers.h): mkdir -p, fork
 * detection, the URL path/query split and the option value syntax.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crypto.h"
#include "helpers.h"

/* ---- folders ------------------------------------------------------------ */

/* One folder of the path: made when missing, checked when present. The
 * stat comes first so that an existing folder on a read-only file system
 * (or one we may not write to) is not an error. */
static int one_dir(const char *path) {
  struct stat sb;
  if (stat(path, &sb) == 0) {
    if (S_ISDIR(sb.st_mode)) return 0;
    errno = ENOTDIR;
    return -1;
  }
  if (errno != ENOENT) return -1;
  if (mkdir(path, 0700) != 0 && errno != EEXIST) return -1;
  return 0;
}

int sessio__mkdirs(char *path) {
  if (path[0] == '\0') {
    errno = ENOENT;
    return -1;
  }
  for (char *p = path + 1; *p; p++) {
    if (*p != '/' || p[-1] == '/') continue;
    *p = '\0';
    int r = one_dir(path);
    *p = '/';
    if (r != 0) return -1;
  }
  return one_dir(path);
}

int sessio__mkdirs_above(char *path) {
  char *last = strrchr(path, '/');
  if (last == NULL || last == path) return 0;
  *last = '\0';
  int r = sessio__mkdirs(path);
  int e = errno;
  *last = '/';
  errno = e;
  return r;
}

/* ---- fork detection ------------------------------------------------------ */

static _Atomic unsigned fork_count;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static int fork_hooked;

static void on_fork_child(void) {
  atomic_fetch_add_explicit(&fork_count, 1, memory_order_relaxed);
}

static void fork_hook_init(void) {
  fork_hooked = pthread_atfork(NULL, NULL, on_fork_child) == 0;
}

sessio_err sessio__fork_watch(void) {
  if (pthread_once(&fork_once, fork_hook_init) != 0 || !fork_hooked)
    return SESSIO_ENOMEM;
  return SESSIO_OK;
}

unsigned sessio__forks(void) {
  return atomic_load_explicit(&fork_count, memory_order_relaxed);
}

/* ---- URLs and options ---------------------------------------------------- */

const char *sessio__url_split(const char *rest, size_t *path_len) {
  const char *q = strchr(rest, '?');
  *path_len = q ? (size_t)(q - rest) : strlen(rest);
  return q ? q + 1 : NULL;
}

int sessio__opt_int(const char *val, long long lo, long long hi,
                    long long *out) {
  long long v = 0;
  if (*val == '\0') return 0;
  for (const char *s = val; *s; s++) {
    if (*s < '0' || *s > '9') return 0;
    int d = *s - '0';
    if (v > (hi - d) / 10) return 0; /* above hi (hi >= 0) */
    v = v * 10 + d;
  }
  if (v < lo || v > hi) return 0;
  *out = v;
  return 1;
}

int sessio__opt_flag(const char *val, int *out) {
  static const char *const yes[] = {"1", "true", "on", "yes"};
  static const char *const no[] = {"0", "false", "off", "no"};
  for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
    if (strcmp(val, yes[i]) == 0) {
      *out = 1;
      return 1;
    }
    if (strcmp(val, no[i]) == 0) {
      *out = 0;
      return 1;
    }
  }
  return 0;
}

int sessio__opt_sync(const char *val, int *full) {
  if (strcmp(val, "normal") == 0)
    *full = 0;
  else if (strcmp(val, "full") == 0)
    *full = 1;
  else
    return 0;
  return 1;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int sessio__url_decode(const char *s, const char *e, char *out) {
  size_t o = 0;
  while (s < e) {
    if (*s == '%') {
      int h, l;
      if (e - s < 3 || (h = hexval(s[1])) < 0 || (l = hexval(s[2])) < 0 ||
          (h == 0 && l == 0))
        return 0;
      out[o++] = (char)(h * 16 + l);
      s += 3;
    } else {
      out[o++] = *s++;
    }
  }
  out[o] = '\0';
  return 1;
}

/* ---- the SQL stores' user_scan cursor ----------------------------------- */

int sessio__ucur_parse(const char *text, sessio__ucur *c) {
  char kh[2 * SESSIO_KEY_BYTES + 1];
  long long e;
  unsigned long n;
  memset(c, 0, sizeof *c);
  c->expires_at = INT64_MIN;
  if (text[0] == '\0') return 1;
  if (sscanf(text, "%lld %64s %lu", &e, kh, &n) != 3 ||
      strlen(kh) != 2 * SESSIO_KEY_BYTES ||
      !sessio__unhex(kh, SESSIO_KEY_BYTES, c->key))
    return 0;
  c->expires_at = (int64_t)e;
  c->key_len = SESSIO_KEY_BYTES;
  c->skip = n;
  return 1;
}

int sessio__ucur_step(sessio__ucur *c, int64_t expires_at, const uint8_t *key,
                      unsigned long *to_skip) {
  int same = c->key_len && c->expires_at == expires_at &&
             memcmp(c->key, key, SESSIO_KEY_BYTES) == 0;
  if (same && *to_skip > 0) {
    --*to_skip;
    return 1;
  }
  if (same) {
    c->skip++;
  } else {
    c->expires_at = expires_at;
    memcpy(c->key, key, SESSIO_KEY_BYTES);
    c->key_len = SESSIO_KEY_BYTES;
    c->skip = 1;
    *to_skip = 0;
  }
  return 0;
}

void sessio__ucur_format(const sessio__ucur *c, char *out) {
  char kh[2 * SESSIO_KEY_BYTES + 1];
  sessio__hex(c->key, SESSIO_KEY_BYTES, kh);
  snprintf(out, 128, "%lld %s %lu", (long long)c->expires_at, kh, c->skip);
}
