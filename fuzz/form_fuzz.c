/*
 * form_fuzz.c — sessio-shop's urlencoded form parser (apps/shop/parse.c,
 * behind req_form: every POST of the pages). Proves, for any body: the
 * answer is 0, 400 or 413 and is the one an independent reference parser
 * gives (RFC 3629 UTF-8 by table, no control bytes but tab/CR/LF, at most
 * SHOP_FIELDS_MAX fields of at most SHOP_FIELD_MAX bytes, non-empty names);
 * on success every field lies inside the body, is NUL-terminated with the
 * length reported, and the fields equal the reference's; re-encoding the
 * fields and parsing again gives them back. The parser writes one byte
 * past the body (the shop keeps that byte), never more: ASan checks it.
 */
#include "fuzz.h"
#include "shop.h"

/* ---- the reference ------------------------------------------------------- */

typedef struct rfield {
  uint8_t name[SHOP_BODY_MAX], val[SHOP_BODY_MAX];
  size_t nlen, vlen;
} rfield;

static rfield ref[SHOP_FIELDS_MAX];

static int hexdig(uint8_t c) {
  const char *d = "0123456789abcdef0123456789ABCDEF";
  const char *p = c ? memchr(d, c, 32) : NULL;
  return p ? (int)((p - d) % 16) : -1;
}

/* %XX and '+'; -1 when a '%' is not followed by two hex digits. */
static long ref_decode(const uint8_t *s, size_t n, uint8_t *out) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '%') {
      if (n - i < 3 || hexdig(s[i + 1]) < 0 || hexdig(s[i + 2]) < 0) return -1;
      out[o++] = (uint8_t)(hexdig(s[i + 1]) * 16 + hexdig(s[i + 2]));
      i += 2;
    } else {
      out[o++] = s[i] == '+' ? ' ' : s[i];
    }
  }
  return (long)o;
}

/* Well-formed UTF-8 per the table of RFC 3629 section 4, without C0
 * controls (tab, CR, LF allowed) and DEL. */
static int ref_text(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    uint8_t lo = 0x80, hi = 0xbf;
    size_t more;
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f)
        return 0;
      i++;
      continue;
    }
    if (c >= 0xc2 && c <= 0xdf)
      more = 1;
    else if (c >= 0xe0 && c <= 0xef)
      more = 2;
    else if (c >= 0xf0 && c <= 0xf4)
      more = 3;
    else
      return 0;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
    if (n - i - 1 < more) return 0;
    if (s[i + 1] < lo || s[i + 1] > hi) return 0;
    for (size_t k = 2; k <= more; k++)
      if (s[i + k] < 0x80 || s[i + k] > 0xbf) return 0;
    i += more + 1;
  }
  return 1;
}

/* The shop's rules, pair by pair in order, as documented in shop.h. */
static int ref_parse(const uint8_t *b, size_t len, size_t *nf) {
  size_t i = 0;
  *nf = 0;
  while (i < len) {
    size_t j = i;
    while (j < len && b[j] != '&') j++;
    if (j == i) { /* empty pair */
      i++;
      continue;
    }
    const uint8_t *eq = memchr(b + i, '=', j - i);
    if (eq == NULL) return 400;
    if (*nf == SHOP_FIELDS_MAX) return 413;
    rfield *f = &ref[*nf];
    long nl = ref_decode(b + i, (size_t)(eq - (b + i)), f->name);
    long vl = ref_decode(eq + 1, (size_t)(b + j - eq - 1), f->val);
    if (nl <= 0 || vl < 0) return 400;
    if (vl > SHOP_FIELD_MAX) return 413;
    if (!ref_text(f->name, (size_t)nl) || !ref_text(f->val, (size_t)vl))
      return 400;
    f->nlen = (size_t)nl;
    f->vlen = (size_t)vl;
    (*nf)++;
    i = j + 1;
  }
  return 0;
}

/* ---- the target ------------------------------------------------------------ */

static void encode(sbuf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
        c == '~') {
      sb_add(b, (const char *)&c, 1);
    } else if (c == ' ') {
      sb_add(b, "+", 1);
    } else {
      char e[3] = {'%', hex[c >> 4], hex[c & 15]};
      sb_add(b, e, 3);
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > SHOP_BODY_MAX) return 0; /* the shop answers 413 before */
  /* As http.c keeps a body: its bytes, then a NUL it may overwrite. */
  char *body = malloc(size + 1);
  form_field f[SHOP_FIELDS_MAX], g[SHOP_FIELDS_MAX];
  size_t nf = 0, rnf = 0, ng = 0;
  CHECK(body != NULL);
  memcpy(body, data, size);
  body[size] = '\0';

  int rc = shop_form_parse(body, size, f, &nf);
  CHECK(rc == 0 || rc == 400 || rc == 413);
  CHECK(nf <= SHOP_FIELDS_MAX);
  CHECK(rc == ref_parse(data, size, &rnf));
  if (rc == 0) {
    CHECK(nf == rnf);
    for (size_t i = 0; i < nf; i++) {
      size_t nl = strlen(f[i].name);
      CHECK(f[i].name >= body && f[i].name + nl <= body + size);
      CHECK(f[i].val >= body && f[i].val + f[i].len <= body + size);
      CHECK(nl > 0 && strlen(f[i].val) == f[i].len);
      CHECK(f[i].len <= SHOP_FIELD_MAX);
      CHECK(nl == ref[i].nlen && memcmp(f[i].name, ref[i].name, nl) == 0);
      CHECK(f[i].len == ref[i].vlen &&
            memcmp(f[i].val, ref[i].val, f[i].len) == 0);
    }
    /* Round trip through the encoder a browser would use. */
    sbuf b;
    char inl[512];
    sb_init(&b, inl, sizeof inl);
    for (size_t i = 0; i < nf; i++) {
      if (i) sb_add(&b, "&", 1);
      encode(&b, f[i].name, strlen(f[i].name));
      sb_add(&b, "=", 1);
      encode(&b, f[i].val, f[i].len);
    }
    sb_add(&b, "", 1); /* room for the parser's NUL */
    CHECK(!b.oom);
    CHECK(shop_form_parse(b.p, b.len - 1, g, &ng) == 0 && ng == nf);
    for (size_t i = 0; i < nf; i++) {
      CHECK(strcmp(g[i].name, f[i].name) == 0 && g[i].len == f[i].len);
      CHECK(memcmp(g[i].val, f[i].val, f[i].len) == 0);
    }
    sb_free(&b);
  }
  free(body);
  return 0;
}
