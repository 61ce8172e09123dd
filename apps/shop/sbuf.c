/*
 * sbuf.c — sessio-shop's output buffer (sbuf: starts on the caller's stack,
 * grows on the heap) with the escapes every page and JSON answer use, and
 * the logfmt logger.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shop.h"

int shop_log_level = LOG_WARN;

void shop_log(int level, const char *fmt, ...) {
  static const char *const names[] = {"error", "warn", "info", "debug"};
  char line[1024];
  struct timespec ts;
  struct tm tm;
  size_t n;
  va_list ap;
  if (level > shop_log_level) return;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  n = strftime(line, sizeof line, "ts=%Y-%m-%dT%H:%M:%S", &tm);
  n += (size_t)snprintf(line + n, sizeof line - n, ".%03ldZ level=%s ",
                        ts.tv_nsec / 1000000L, names[level & 3]);
  va_start(ap, fmt);
  int k = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
  va_end(ap);
  if (k < 0) k = 0;
  n += (size_t)k;
  if (n > sizeof line - 2) n = sizeof line - 2;
  line[n++] = '\n';
  /* One write per line keeps lines whole across threads. */
  fwrite(line, 1, n, stderr);
}

void sb_init(sbuf *b, char *inl, size_t cap) {
  b->p = inl;
  b->len = 0;
  b->cap = cap;
  b->heap = 0;
  b->oom = 0;
  if (cap) b->p[0] = '\0';
}

void sb_free(sbuf *b) {
  if (b->heap) free(b->p);
  b->p = NULL;
  b->heap = 0;
  b->len = b->cap = 0;
}

static int sb_grow(sbuf *b, size_t need) {
  size_t cap = b->cap ? b->cap : 256;
  char *p;
  if (b->oom) return 0;
  while (cap < need) {
    if (cap > (size_t)1 << 30) {
      b->oom = 1;
      return 0;
    }
    cap *= 2;
  }
  if (b->heap) {
    p = realloc(b->p, cap);
  } else {
    p = malloc(cap);
    if (p != NULL && b->len) memcpy(p, b->p, b->len);
  }
  if (p == NULL) {
    b->oom = 1;
    return 0;
  }
  b->p = p;
  b->cap = cap;
  b->heap = 1;
  return 1;
}

void sb_add(sbuf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap && !sb_grow(b, b->len + n + 1)) return;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

void sb_puts(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

void sb_printf(sbuf *b, const char *fmt, ...) {
  va_list ap;
  int n;
  if (b->oom) return;
  va_start(ap, fmt);
  n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
  va_end(ap);
  if (n < 0) {
    b->oom = 1;
    return;
  }
  if (b->len + (size_t)n + 1 > b->cap) {
    if (!sb_grow(b, b->len + (size_t)n + 1)) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
  }
  b->len += (size_t)n;
}

void sb_int(sbuf *b, int64_t v) {
  char tmp[24];
  char *e = tmp + sizeof tmp, *p = e;
  uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  do {
    *--p = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0) *--p = '-';
  sb_add(b, p, (size_t)(e - p));
}

/* The length of the well-formed UTF-8 sequence at 's' (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *s) {
  unsigned char c = s[0];
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return (s[1] & 0xC0) == 0x80 ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if ((s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
    if (c == 0xE0 && s[1] < 0xA0) return 0; /* overlong */
    if (c == 0xED && s[1] > 0x9F) return 0; /* surrogate */
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if ((s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
      return 0;
    if (c == 0xF0 && s[1] < 0x90) return 0;
    if (c == 0xF4 && s[1] > 0x8F) return 0;
    return 4;
  }
  return 0;
}

static const char REPLACEMENT[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* The escapers' step for a byte >= 0x80 at '*s': a valid UTF-8 sequence is
 * kept in the pending run ('*s' moves to its last byte); any other byte is
 * replaced by U+FFFD. 1 when '*s' was such a byte (the caller goes on), 0
 * for ASCII. */
static int non_ascii(sbuf *b, const char **s, const char **run) {
  size_t u;
  if ((unsigned char)**s < 0x80) return 0;
  if ((u = utf8_len((const unsigned char *)*s)) > 0) {
    *s += u - 1;
    return 1;
  }
  sb_add(b, *run, (size_t)(*s - *run));
  sb_puts(b, REPLACEMENT);
  *run = *s + 1;
  return 1;
}

/* Both escapers write valid UTF-8 whatever bytes they get (S25: a stored
 * user agent is whatever a client sent): a byte that does not start a
 * well-formed sequence becomes U+FFFD. */
void sb_html(sbuf *b, const char *s) {
  const char *run = s;
  for (; *s; s++) {
    const char *rep;
    if (non_ascii(b, &s, &run)) continue;
    switch (*s) {
    case '&': rep = "&amp;"; break;
    case '<': rep = "&lt;"; break;
    case '>': rep = "&gt;"; break;
    case '"': rep = "&quot;"; break;
    case '\'': rep = "&#39;"; break;
    default: continue;
    }
    sb_add(b, run, (size_t)(s - run));
    sb_puts(b, rep);
    run = s + 1;
  }
  sb_add(b, run, (size_t)(s - run));
}

void sb_json_str(sbuf *b, const char *s) {
  static const char hex[] = "0123456789abcdef";
  const char *run = s;
  sb_add(b, "\"", 1);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    char esc[6];
    size_t n = 2;
    if (non_ascii(b, &s, &run)) continue;
    if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f) continue;
    sb_add(b, run, (size_t)(s - run));
    esc[0] = '\\';
    switch (c) {
    case '"': esc[1] = '"'; break;
    case '\\': esc[1] = '\\'; break;
    case '\n': esc[1] = 'n'; break;
    case '\r': esc[1] = 'r'; break;
    case '\t': esc[1] = 't'; break;
    default:
      esc[1] = 'u';
      esc[2] = '0';
      esc[3] = '0';
      esc[4] = hex[c >> 4];
      esc[5] = hex[c & 15];
      n = 6;
    }
    sb_add(b, esc, n);
    run = s + 1;
  }
  sb_add(b, run, (size_t)(s - run));
  sb_add(b, "\"", 1);
}

void sb_urlenc(sbuf *b, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
        c == '~' || c == '/') {
      sb_add(b, (const char *)&c, 1);
    } else {
      char e[3] = {'%', hex[c >> 4], hex[c & 15]};
      sb_add(b, e, 3);
    }
  }
}

void sb_money(sbuf *b, int64_t cents) {
  sb_int(b, cents / 100);
  char f[3] = {'.', (char)('0' + (cents % 100) / 10), (char)('0' + cents % 10)};
  sb_add(b, f, 3);
}

void sb_time(sbuf *b, int64_t ms) {
  char t[32];
  struct tm tm;
  time_t sec = (time_t)(ms / 1000);
  gmtime_r(&sec, &tm);
  size_t n = strftime(t, sizeof t, "%Y-%m-%d %H:%M UTC", &tm);
  sb_add(b, t, n);
}
