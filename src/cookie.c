/*
 * cookie.c — reading Cookie request headers and writing Set-Cookie values.
 * The parser is lenient like browsers (RFC 6265 / rfc6265bis), never
 * allocates and reads at most SESSIO_COOKIE_HEADER_MAX bytes (S11). The
 * formatter only emits the rfc6265bis grammar (S8, S9).
 */
#include <stdio.h>
#include <string.h>

#include "cookie_limit.h"
#include "sessio.h"

/* ---- parsing ------------------------------------------------------------ */

static int is_ows(char c) { return c == ' ' || c == '\t'; }

/* Shrinks [*b, *e) past leading and trailing SP / HTAB. */
static void trim(const char **b, const char **e) {
  while (*b < *e && is_ows(**b)) (*b)++;
  while (*e > *b && is_ows((*e)[-1])) (*e)--;
}

/* One pass over at most SESSIO_COOKIE_HEADER_MAX bytes; each byte is looked
 * at a bounded number of times (memchr for ';', memchr for '=' inside the
 * pair, trimming), so the work is linear in the bytes read whatever the
 * input. Junk is skipped, never reported as an error. */
void sessio_cookie_parse(const char *header, size_t len, sessio_cookie_fn cb,
                         void *ud) {
  const char *p, *end;

  if (header == NULL || cb == NULL) return;
  len = sessio__cookie_budget(0, len);
  p = header;
  end = header + len;
  while (p < end) {
    const char *semi = memchr(p, ';', (size_t)(end - p));
    const char *pair_end = semi ? semi : end;
    const char *eq = memchr(p, '=', (size_t)(pair_end - p));

    if (eq != NULL) {
      const char *nb = p, *ne = eq, *vb = eq + 1, *ve = pair_end;
      trim(&nb, &ne);
      trim(&vb, &ve);
      /* "a quoted value" is passed without its quotes; a lone quote is
       * kept as part of the value. */
      if (ve - vb >= 2 && *vb == '"' && ve[-1] == '"') {
        vb++;
        ve--;
      }
      if (ne > nb && cb(ud, nb, (size_t)(ne - nb), vb, (size_t)(ve - vb)))
        return;
    }
    if (semi == NULL) break;
    p = semi + 1;
  }
}

/* ---- formatting --------------------------------------------------------- */

#define COOKIE_NAME_VALUE_MAX 4096  /* rfc6265bis: name + value */
#define COOKIE_MAX_AGE_MAX 34560000 /* 400 days, rfc6265bis cap */
#define COOKIE_DOMAIN_MAX 253
#define COOKIE_PATH_MAX 1024

/* tchar of RFC 7230 section 3.2.6. */
static int is_tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
      (c >= '0' && c <= '9'))
    return 1;
  return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* cookie-octet of RFC 6265 section 4.1.1: no CTLs, whitespace, DQUOTE,
 * comma, semicolon or backslash. */
static int is_cookie_octet(unsigned char c) {
  return c == 0x21 || (c >= 0x23 && c <= 0x2B) || (c >= 0x2D && c <= 0x3A) ||
         (c >= 0x3C && c <= 0x5B) || (c >= 0x5D && c <= 0x7E);
}

static int is_alnum(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9');
}

/* A host name: dot-separated labels of 1..63 letters, digits and '-', not
 * starting or ending with '-', 253 bytes at most. One leading '.' is
 * allowed (legacy form; browsers ignore it). */
static int domain_ok(const char *d) {
  size_t n = strlen(d), label = 0;
  if (n > 0 && d[0] == '.') {
    d++;
    n--;
  }
  if (n == 0 || n > COOKIE_DOMAIN_MAX) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)d[i];
    if (c == '.') {
      if (label == 0 || d[i - 1] == '-') return 0;
      label = 0;
    } else if (is_alnum(c) || c == '-') {
      if (label == 0 && c == '-') return 0;
      if (++label > 63) return 0;
    } else {
      return 0;
    }
  }
  return label > 0 && d[n - 1] != '-';
}

/* Appends to a caller buffer, counting what would have been written so the
 * caller learns the size needed even when 'cap' is too small. */
typedef struct out_buf {
  char *buf;
  size_t cap;
  size_t len; /* bytes the whole output needs, without the NUL */
} out_buf;

static void put(out_buf *o, const char *s, size_t n) {
  if (o->buf != NULL && o->len < o->cap) {
    size_t room = o->cap - o->len;
    memcpy(o->buf + o->len, s, n < room ? n : room);
  }
  o->len += n;
}

static void puts_(out_buf *o, const char *s) { put(o, s, strlen(s)); }

sessio_err sessio_cookie_format(char *buf, size_t cap, size_t *needed,
                                const char *name, const char *value,
                                const sessio_cookie_attrs *attrs) {
  static const sessio_cookie_attrs defaults = {NULL, 0,    SESSIO_SAMESITE_LAX,
                                               -1,   NULL, 0};
  size_t name_len, value_len;
  const char *samesite;
  out_buf o;

  if (needed != NULL) *needed = 0;
  if (attrs == NULL) attrs = &defaults;
  if (value == NULL) value = "";
  if (name == NULL) return SESSIO_EINVAL;

  /* Limits and grammar are checked before any work (S9). */
  name_len = strlen(name);
  value_len = strlen(value);
  if (name_len == 0 || name_len > COOKIE_NAME_VALUE_MAX ||
      value_len > COOKIE_NAME_VALUE_MAX - name_len)
    return SESSIO_EINVAL;
  for (size_t i = 0; i < name_len; i++)
    if (!is_tchar((unsigned char)name[i])) return SESSIO_EINVAL;
  for (size_t i = 0; i < value_len; i++)
    if (!is_cookie_octet((unsigned char)value[i])) return SESSIO_EINVAL;
  if (attrs->domain != NULL && !domain_ok(attrs->domain)) return SESSIO_EINVAL;
  const char *path = attrs->path != NULL ? attrs->path : "/";
  size_t path_len = strlen(path);
  if (path_len == 0 || path_len > COOKIE_PATH_MAX || path[0] != '/')
    return SESSIO_EINVAL;
  for (size_t i = 0; i < path_len; i++)
    if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f || path[i] == ';')
      return SESSIO_EINVAL;
  if (attrs->partitioned && !attrs->secure) /* browsers drop it (CHIPS) */
    return SESSIO_EINVAL;
  switch (attrs->samesite) {
  case SESSIO_SAMESITE_LAX: samesite = "Lax"; break;
  case SESSIO_SAMESITE_STRICT: samesite = "Strict"; break;
  case SESSIO_SAMESITE_NONE: samesite = "None"; break;
  default: return SESSIO_EINVAL;
  }

  o.buf = buf;
  o.cap = buf != NULL ? cap : 0;
  o.len = 0;
  put(&o, name, name_len);
  put(&o, "=", 1);
  put(&o, value, value_len);
  puts_(&o, "; Path=");
  put(&o, path, path_len);
  puts_(&o, "; ");
  if (attrs->domain != NULL) {
    puts_(&o, "Domain=");
    puts_(&o, attrs->domain);
    puts_(&o, "; ");
  }
  if (attrs->max_age >= 0) {
    char num[24];
    int64_t age = attrs->max_age > COOKIE_MAX_AGE_MAX ? COOKIE_MAX_AGE_MAX
                                                      : attrs->max_age;
    int n = snprintf(num, sizeof num, "%lld", (long long)age);
    puts_(&o, "Max-Age=");
    put(&o, num, (size_t)n);
    puts_(&o, "; ");
  }
  if (attrs->secure) puts_(&o, "Secure; ");
  puts_(&o, "HttpOnly; SameSite=");
  puts_(&o, samesite);
  if (attrs->partitioned) puts_(&o, "; Partitioned");

  if (needed != NULL) *needed = o.len;
  if (buf == NULL || o.len >= cap) {
    if (buf != NULL && cap > 0)
      buf[0] = '\0'; /* never leave a truncated header behind */
    return SESSIO_ENOBUFS;
  }
  buf[o.len] = '\0';
  return SESSIO_OK;
}
