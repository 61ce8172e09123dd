/*
 * parse.c — sessio-shop's pure request-body parsers, kept apart from the
 * MHD request plumbing so that they can be fuzzed on their own
 * (fuzz/form_fuzz.c, fuzz/json_fuzz.c): the urlencoded form parser (used
 * by req_form in http.c) and the JSON body checks of the API (api.c).
 */
#include <cjson/cJSON.h>
#include <string.h>

#include "shop.h"

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Decodes s[0..n) in place ('+' and %XX); returns the new length or -1.
 * Writes a NUL at s[new length], which is at most s[n]. */
static long url_decode(char *s, size_t n) {
  size_t i = 0, o = 0;
  while (i < n) {
    char c = s[i];
    if (c == '+') {
      s[o++] = ' ';
      i++;
    } else if (c == '%') {
      int h, l;
      if (i + 2 >= n) return -1;
      h = hexval((unsigned char)s[i + 1]);
      l = hexval((unsigned char)s[i + 2]);
      if (h < 0 || l < 0) return -1;
      s[o++] = (char)(h * 16 + l);
      i += 3;
    } else {
      s[o++] = c;
      i++;
    }
  }
  s[o] = '\0';
  return (long)o;
}

/* Valid UTF-8 without NUL or control bytes other than tab, CR and LF. */
static int text_ok(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f)
        return 0;
      i++;
      continue;
    }
    size_t k;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
      k = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      k = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      k = 3;
      cp = c & 0x07;
    } else
      return 0;
    if (i + k >= n) return 0;
    for (size_t j = 1; j <= k; j++) {
      if ((s[i + j] & 0xc0) != 0x80) return 0;
      cp = (cp << 6) | (s[i + j] & 0x3f);
    }
    if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) ||
        (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return 0;
    i += k + 1;
  }
  return 1;
}

int shop_form_parse(char *body, size_t len, form_field *f, size_t *nf) {
  char *p = body, *end = body + len;
  *nf = 0;
  while (p < end) {
    char *amp = memchr(p, '&', (size_t)(end - p));
    char *pe = amp ? amp : end;
    char *eq = memchr(p, '=', (size_t)(pe - p));
    long nl, vl;
    if (pe == p) { /* empty pair "&&" */
      p = pe + 1;
      continue;
    }
    if (eq == NULL) return 400;
    if (*nf == SHOP_FIELDS_MAX) return 413;
    *eq = '\0';
    nl = url_decode(p, (size_t)(eq - p));
    vl = url_decode(eq + 1, (size_t)(pe - eq - 1));
    if (nl <= 0 || vl < 0) return 400;
    if (vl > SHOP_FIELD_MAX) return 413;
    if (!text_ok((const unsigned char *)p, (size_t)nl) ||
        !text_ok((const unsigned char *)eq + 1, (size_t)vl))
      return 400;
    f[*nf].name = p;
    f[*nf].val = eq + 1;
    f[*nf].len = (size_t)vl;
    (*nf)++;
    p = pe + 1;
  }
  return 0;
}

static int is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
         (c >= 'A' && c <= 'F');
}

/* 1 when a string of the JSON text would hold a NUL once cJSON decodes it:
 * a raw 0 byte (cJSON copies it), the escape \u0000, or a \u escape
 * without four hex digits (cJSON reads a malformed one as 0). cJSON's
 * strings are NUL-terminated, so "alice\u0000x" or "alice\u00zzx" would
 * silently read as "alice": such a body is refused (fuzz/json_fuzz.c found
 * the malformed escape). A backslash is an escape when an odd number of
 * them precede the 'u' (they come in pairs otherwise, "\\u0000" is text). */
static int has_nul(const char *s, size_t n) {
  if (memchr(s, 0, n) != NULL) return 1;
  for (size_t i = 1; i < n; i++) {
    size_t k = 0;
    int zero = 1;
    if (s[i] != 'u') continue;
    while (k < i && s[i - 1 - k] == '\\') k++;
    if (k % 2 == 0) continue;
    if (n - i - 1 < 4) return 1;
    for (size_t j = 1; j <= 4; j++) {
      if (!is_hex(s[i + j])) return 1;
      zero &= s[i + j] == '0';
    }
    if (zero) return 1;
  }
  return 0;
}

struct cJSON *shop_json_object(const char *body, size_t len) {
  const char *end = NULL;
  cJSON *j;
  if (len == 0 || has_nul(body, len)) return NULL;
  j = cJSON_ParseWithLengthOpts(body, len, &end, 0);
  if (j == NULL) return NULL;
  while (end < body + len &&
         (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t'))
    end++;
  if (end != body + len || !cJSON_IsObject(j)) {
    cJSON_Delete(j);
    return NULL;
  }
  return j;
}

int shop_json_int(const struct cJSON *v, int lo, int hi, int *out) {
  double d;
  if (!cJSON_IsNumber(v)) return 0;
  d = v->valuedouble;
  if (!(d >= lo && d <= hi) || d != (double)(int)d) return 0;
  *out = (int)d;
  return 1;
}

int shop_sku_ok(const char *s) {
  size_t i;
  for (i = 0; s[i]; i++)
    if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e) return 0;
  return i >= 1 && i <= SHOP_SKU_MAX;
}
