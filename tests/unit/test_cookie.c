/*
 * test_cookie.c — the Cookie parser and the Set-Cookie formatter.
 * Parser (S11): lenient rules, bounded reading (8 KiB, proven with a guard
 * page), hostile inputs, and 200k seeded random headers checked against a
 * reference model. Formatter (S8, S9): every attribute combination, the
 * grammar and size limits, ENOBUFS sizing, deletion cookies.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"
#include "sessio.h"

/* ---- a callback that records and checks what it is given ---------------- */

#define MAX_PAIRS                                                              \
  4096 /* 8192 bytes hold at most 2048 pairs ("a=;" x 2730
                          is 2730): room to spare */

typedef struct pair {
  size_t name_off, name_len, val_off, val_len;
} pair;

typedef struct seen {
  const char *base;  /* the header given to the parser */
  size_t limit;      /* bytes the parser may look at */
  size_t count;      /* pairs reported */
  size_t stop_after; /* 0: never stop */
  size_t out_of_bounds, bad_name;
  pair pairs[MAX_PAIRS];
} seen;

static int in_bounds(const seen *s, const char *p, size_t n) {
  return p >= s->base && n <= s->limit && (size_t)(p - s->base) <= s->limit - n;
}

static int record(void *ud, const char *name, size_t name_len, const char *val,
                  size_t val_len) {
  seen *s = ud;
  if (!in_bounds(s, name, name_len) || !in_bounds(s, val, val_len))
    s->out_of_bounds++;
  else if (name_len == 0 || memchr(name, ';', name_len) ||
           memchr(name, '=', name_len) || memchr(val, ';', val_len) ||
           name[0] == ' ' || name[0] == '\t' || name[name_len - 1] == ' ' ||
           name[name_len - 1] == '\t')
    s->bad_name++;
  if (s->count < MAX_PAIRS) {
    pair *p = &s->pairs[s->count];
    p->name_off = (size_t)(name - s->base);
    p->name_len = name_len;
    p->val_off = (size_t)(val - s->base);
    p->val_len = val_len;
  }
  s->count++;
  return s->stop_after != 0 && s->count >= s->stop_after;
}

static seen *parse(const char *h, size_t len) {
  static seen s;
  memset(&s, 0, sizeof s);
  s.base = h;
  s.limit = len < SESSIO_COOKIE_HEADER_MAX ? len : SESSIO_COOKIE_HEADER_MAX;
  sessio_cookie_parse(h, len, record, &s);
  return &s;
}

static seen *parse_str(const char *h) { return parse(h, strlen(h)); }

/* Compares pair 'i' with expected name and value (NUL-terminated). */
static int pair_is(const seen *s, size_t i, const char *name, const char *val) {
  const pair *p = &s->pairs[i];
  return i < s->count && p->name_len == strlen(name) &&
         memcmp(s->base + p->name_off, name, p->name_len) == 0 &&
         p->val_len == strlen(val) &&
         memcmp(s->base + p->val_off, val, p->val_len) == 0;
}

/* ---- parser: the rules --------------------------------------------------- */

static void test_parses_pairs_and_trims_whitespace(void) {
  seen *s = parse_str(" \t a \t = \t 1 \t ;b=2;  c = x y  ");
  CHECK_INT(s->count, 3);
  CHECK(pair_is(s, 0, "a", "1"));
  CHECK(pair_is(s, 1, "b", "2"));
  CHECK(pair_is(s, 2, "c", "x y")); /* inner space kept, like browsers */
  CHECK_INT(s->out_of_bounds + s->bad_name, 0);
}

static void test_skips_pairs_without_equals_or_name(void) {
  seen *s = parse_str("novalue; =v; \t=v2; ;;; a=1; flag ;b=");
  CHECK_INT(s->count, 2);
  CHECK(pair_is(s, 0, "a", "1"));
  CHECK(pair_is(s, 1, "b", ""));
}

static void test_value_keeps_later_equals_signs(void) {
  seen *s = parse_str("a=b=c==; d==");
  CHECK_INT(s->count, 2);
  CHECK(pair_is(s, 0, "a", "b=c=="));
  CHECK(pair_is(s, 1, "d", "="));
}

static void test_unquotes_only_balanced_quotes(void) {
  seen *s =
      parse_str("a=\"x\"; b=\"; c=\"y; d=z\"; e=\"\"; f= \" q \" ;g=\"\"\"");
  CHECK_INT(s->count, 7);
  CHECK(pair_is(s, 0, "a", "x"));
  CHECK(pair_is(s, 1, "b", "\""));
  CHECK(pair_is(s, 2, "c", "\"y"));
  CHECK(pair_is(s, 3, "d", "z\""));
  CHECK(pair_is(s, 4, "e", ""));
  CHECK(pair_is(s, 5, "f", " q ")); /* inside the quotes is the value */
  CHECK(pair_is(s, 6, "g", "\""));
}

static void test_callback_can_stop_iteration(void) {
  static seen s;
  const char *h = "a=1; b=2; c=3; d=4";
  memset(&s, 0, sizeof s);
  s.base = h;
  s.limit = strlen(h);
  s.stop_after = 2;
  sessio_cookie_parse(h, strlen(h), record, &s);
  CHECK_INT(s.count, 2);
}

static void test_empty_and_null_headers_report_nothing(void) {
  CHECK_INT(parse_str("")->count, 0);
  CHECK_INT(parse_str(";;;")->count, 0);
  CHECK_INT(parse_str("  \t ")->count, 0);
  CHECK_INT(parse_str("=")->count, 0);
  CHECK_INT(parse(NULL, 0)->count, 0);
  CHECK_INT(parse(NULL, 100)->count, 0);
  sessio_cookie_parse("a=1", 3, NULL, NULL); /* no callback: no crash */
  /* 'len' is honoured: the NUL-terminated rest is not read */
  CHECK_INT(parse("a=1; b=2", 3)->count, 1);
}

/* ---- parser: hostile inputs (S11) --------------------------------------- */

static void test_value_over_4096_bytes_S11(void) {
  size_t n = 6000;
  char *h = malloc(n + 4);
  CHECK(h != NULL);
  if (h == NULL) return;
  memcpy(h, "big=", 4);
  memset(h + 4, 'x', n);
  seen *s = parse(h, n + 4);
  CHECK_INT(s->count, 1);
  CHECK_INT(s->pairs[0].val_len, n);
  CHECK_INT(s->out_of_bounds, 0);
  free(h);
}

/* Only the first 8 KiB are read: a pair after it is never reported, a pair
 * across the boundary is cut at it. */
static void test_header_over_8k_is_read_only_to_8k_S11(void) {
  size_t len = 3 * SESSIO_COOKIE_HEADER_MAX;
  char *h = malloc(len);
  size_t o = 0, fills = 0;
  CHECK(h != NULL);
  if (h == NULL) return;
  memcpy(h, "first=1;", 8);
  o = 8;
  /* filler pairs up to just before the limit */
  while (o + 12 < SESSIO_COOKIE_HEADER_MAX - 20) {
    memcpy(h + o, " fill=abcde;", 12);
    o += 12;
    fills++;
  }
  /* "edge=" crosses the limit */
  memcpy(h + o, " edge=", 6);
  o += 6;
  while (o < SESSIO_COOKIE_HEADER_MAX + 50) h[o++] = 'E';
  h[o++] = ';';
  memcpy(h + o, " late=1;", 8);
  o += 8;
  while (o < len) h[o++] = ' ';

  seen *s = parse(h, len);
  CHECK(pair_is(s, 0, "first", "1"));
  CHECK_INT(s->out_of_bounds, 0);
  CHECK_INT(s->count, 2 + fills);
  /* the last pair reported is "edge", cut at 8192 bytes; no "late" */
  {
    const pair *last = &s->pairs[s->count - 1];
    CHECK_INT(last->name_len, 4);
    CHECK(memcmp(h + last->name_off, "edge", 4) == 0);
    CHECK_INT(last->val_off + last->val_len, SESSIO_COOKIE_HEADER_MAX);
    for (size_t i = 0; i < s->count && i < MAX_PAIRS; i++)
      CHECK(!(s->pairs[i].name_len == 4 &&
              memcmp(h + s->pairs[i].name_off, "late", 4) == 0));
  }
  free(h);
}

/* The same, proven by the MMU: the bytes after 8 KiB are on a page that
 * cannot be read, so any read past the limit crashes the test. */
static void test_parser_never_touches_bytes_past_8k_S11(void) {
  long pg = sysconf(_SC_PAGESIZE);
  size_t page = pg > 0 ? (size_t)pg : 4096;
  size_t pre = (SESSIO_COOKIE_HEADER_MAX + page - 1) / page * page;
  size_t total = pre + page;
  char *map = mmap(NULL, total, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(map != MAP_FAILED);
  if (map == MAP_FAILED) return;
  char *h = map + pre - SESSIO_COOKIE_HEADER_MAX; /* ends at the guard */
  for (size_t i = 0; i < SESSIO_COOKIE_HEADER_MAX; i += 4)
    memcpy(h + i, "a=1;", 4);
  /* no ';' at the very end: the parser must stop at the limit by count */
  memcpy(h + SESSIO_COOKIE_HEADER_MAX - 4, "z=99", 4);
  CHECK(mprotect(map + pre, page, PROT_NONE) == 0);
  seen *s = parse(h, 1u << 20); /* claims a megabyte */
  CHECK_INT(s->count, SESSIO_COOKIE_HEADER_MAX / 4);
  CHECK(pair_is(s, s->count - 1, "z", "99"));
  munmap(map, total);
}

static void test_ten_thousand_pairs_are_bounded_S11(void) {
  size_t n = 10000, len = 4 * n;
  char *h = malloc(len);
  CHECK(h != NULL);
  if (h == NULL) return;
  for (size_t i = 0; i < n; i++) memcpy(h + 4 * i, "a=1;", 4);
  seen *s = parse(h, len);
  CHECK_INT(s->count, SESSIO_COOKIE_HEADER_MAX / 4);
  CHECK_INT(s->out_of_bounds + s->bad_name, 0);
  /* 10^4 empty-name pairs: nothing reported */
  for (size_t i = 0; i < n; i++) memcpy(h + 4 * i, " =1;", 4);
  CHECK_INT(parse(h, len)->count, 0);
  free(h);
}

static void test_nul_control_and_high_bytes_S11(void) {
  static const char h[] = "a\0b=c\x01"
                          "d; \x80\xff=\xfe; e=\0; \x7f=\r\n; k=v";
  seen *s = parse(h, sizeof h - 1);
  CHECK_INT(s->count, 5);
  CHECK_INT(s->out_of_bounds + s->bad_name, 0);
  CHECK_INT(s->pairs[0].name_len, 3); /* "a\0b": bytes, not a C string */
  CHECK_INT(s->pairs[0].val_len, 3);
  CHECK_INT(s->pairs[1].name_len, 2);
  CHECK_INT(s->pairs[2].val_len, 1);
  CHECK(pair_is(s, 4, "k", "v"));
}

/* ---- parser: a seeded random flood against a reference model (S11) ------ */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t xorshift64(void) {
  uint64_t x = rng_state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return rng_state = x;
}

/* The reference: the same rules, written as index arithmetic over a copy
 * of the input, independently of the parser's pointer walk. */
static size_t model(const char *h, size_t len, pair *out, size_t max) {
  size_t n = 0, start = 0;
  if (len > SESSIO_COOKIE_HEADER_MAX) len = SESSIO_COOKIE_HEADER_MAX;
  for (size_t i = 0; i <= len; i++) {
    if (i < len && h[i] != ';') continue;
    size_t eq = start;
    while (eq < i && h[eq] != '=') eq++;
    if (eq < i) {
      size_t nb = start, ne = eq, vb = eq + 1, ve = i;
      while (nb < ne && (h[nb] == ' ' || h[nb] == '\t')) nb++;
      while (ne > nb && (h[ne - 1] == ' ' || h[ne - 1] == '\t')) ne--;
      while (vb < ve && (h[vb] == ' ' || h[vb] == '\t')) vb++;
      while (ve > vb && (h[ve - 1] == ' ' || h[ve - 1] == '\t')) ve--;
      if (ve >= vb + 2 && h[vb] == '"' && h[ve - 1] == '"') {
        vb++;
        ve--;
      }
      if (ne > nb && n < max) {
        out[n].name_off = nb;
        out[n].name_len = ne - nb;
        out[n].val_off = vb;
        out[n].val_len = ve - vb;
        n++;
      }
    }
    start = i + 1;
  }
  return n;
}

static void test_random_headers_match_model_S11(void) {
  static const char alpha[] = "ab=;=; \t\"\"\x00\x01\x7f\x80\xff,\\x=;";
  static pair want[MAX_PAIRS];
  const size_t rounds = 200000;
  size_t mismatches = 0, oob = 0, unbounded = 0, total_pairs = 0;

  for (size_t r = 0; r < rounds; r++) {
    uint64_t x = xorshift64();
    /* mostly short headers, one in 500 long (up to 12 KiB) */
    size_t len = (r % 500 == 0) ? (size_t)(x % 12288) : (size_t)(x % 96);
    char *h = malloc(len ? len : 1); /* exact size: ASan sees overreads */
    size_t semis = 0;
    if (h == NULL) {
      CHECK(h != NULL);
      return;
    }
    for (size_t i = 0; i < len; i++) {
      uint64_t y = xorshift64();
      h[i] = (y & 7) == 0 ? (char)(y >> 8)
                          : alpha[(y >> 8) % (sizeof alpha - 1)];
    }
    for (size_t i = 0; i < len && i < SESSIO_COOKIE_HEADER_MAX; i++)
      semis += h[i] == ';';

    seen *s = parse(h, len);
    size_t n = model(h, len, want, MAX_PAIRS);
    oob += s->out_of_bounds + s->bad_name;
    if (s->count > semis + 1) unbounded++;
    if (s->count != n) {
      mismatches++;
    } else {
      for (size_t i = 0; i < n && i < MAX_PAIRS; i++)
        if (memcmp(&s->pairs[i], &want[i], sizeof want[i]) != 0) {
          mismatches++;
          break;
        }
    }
    total_pairs += s->count;
    free(h);
  }
  printf("  %zu random headers, %zu pairs reported\n", rounds, total_pairs);
  CHECK_INT(mismatches, 0);
  CHECK_INT(oob, 0);
  CHECK_INT(unbounded, 0);
  CHECK(total_pairs > rounds); /* the junk did contain pairs */
}

/* ---- formatter (S8, S9) -------------------------------------------------- */

static void test_default_cookie_has_safe_attributes_S8(void) {
  char buf[256];
  size_t need = 0;
  CHECK_OK(sessio_cookie_format(buf, sizeof buf, &need, "sid", "abc", NULL));
  CHECK_STR(buf, "sid=abc; Path=/; HttpOnly; SameSite=Lax");
  CHECK_INT(need, strlen(buf));
}

static void test_every_attribute_combination_S8(void) {
  const char *domains[] = {NULL, "example.com", "a-b.example.org"};
  const int64_t ages[] = {-1, 0, 3600, 34560000, 34560001, INT64_MAX};
  const char *ss[] = {"Lax", "Strict", "None"};
  size_t combos = 0;
  for (size_t d = 0; d < 3; d++)
    for (int sec = 0; sec < 2; sec++)
      for (int same = 0; same < 3; same++)
        for (size_t a = 0; a < sizeof ages / sizeof ages[0]; a++) {
          sessio_cookie_attrs at = {domains[d], sec,  (sessio_samesite)same,
                                    ages[a],    NULL, 0};
          char buf[512], want[512], dom[64] = "", age[64] = "";
          size_t need = 0;
          if (domains[d]) snprintf(dom, sizeof dom, "Domain=%s; ", domains[d]);
          if (ages[a] >= 0)
            snprintf(age, sizeof age, "Max-Age=%lld; ",
                     (long long)(ages[a] > 34560000 ? 34560000 : ages[a]));
          snprintf(want, sizeof want,
                   "sid=v_1-.; Path=/; %s%s%sHttpOnly; SameSite=%s", dom, age,
                   sec ? "Secure; " : "", ss[same]);
          CHECK_OK(sessio_cookie_format(buf, sizeof buf, &need, "sid", "v_1-.",
                                        &at));
          CHECK_STR(buf, want);
          CHECK_INT(need, strlen(want));
          combos++;
        }
  CHECK_INT(combos, 108);
}

/* S17/S8: the deletion cookie. */
static void test_deletion_cookie(void) {
  sessio_cookie_attrs at = {NULL, 1, SESSIO_SAMESITE_LAX, 0, NULL, 0};
  char buf[128];
  CHECK_OK(sessio_cookie_format(buf, sizeof buf, NULL, "__Host-sid", "", &at));
  CHECK_STR(buf, "__Host-sid=; Path=/; Max-Age=0; Secure; HttpOnly; "
                 "SameSite=Lax");
  /* NULL value is the empty value */
  CHECK_OK(
      sessio_cookie_format(buf, sizeof buf, NULL, "__Host-sid", NULL, &at));
  CHECK_STR(buf, "__Host-sid=; Path=/; Max-Age=0; Secure; HttpOnly; "
                 "SameSite=Lax");
}

static void test_small_buffer_gets_enobufs_and_size(void) {
  sessio_cookie_attrs at = {"example.com", 1, SESSIO_SAMESITE_STRICT, 60,
                            NULL,          0};
  char full[256], buf[256];
  size_t need = 0, need2;
  CHECK_OK(sessio_cookie_format(full, sizeof full, &need, "sid", "x", &at));
  CHECK_INT(need, strlen(full));
  for (size_t cap = 0; cap <= need; cap++) {
    need2 = 12345;
    memset(buf, '#', sizeof buf);
    CHECK_ERR(sessio_cookie_format(buf, cap, &need2, "sid", "x", &at),
              SESSIO_ENOBUFS);
    CHECK_INT(need2, need);
    if (cap > 0) CHECK_INT(buf[0], '\0'); /* no truncated header left behind */
    CHECK_INT(buf[cap], '#');             /* nothing written past 'cap' */
  }
  need2 = 0;
  CHECK_OK(sessio_cookie_format(buf, need + 1, &need2, "sid", "x", &at));
  CHECK_STR(buf, full);
  CHECK_INT(need2, need);
  /* size query with no buffer */
  need2 = 0;
  CHECK_ERR(sessio_cookie_format(NULL, 0, &need2, "sid", "x", &at),
            SESSIO_ENOBUFS);
  CHECK_INT(need2, need);
}

static void test_invalid_names_values_domains_rejected_S9(void) {
  const char *names[] = {
      "",         "a b", "a=b", "a;b",  "a\"b",
      "\xc3\xa4", "a,b", "(a)", "a\tb", "a\x7f",
      "a/b",      "a:b", "a@b", "{a}",  "a\r\nSet-Cookie: x"};
  const char *values[] = {" ",
                          "a b",
                          "\"",
                          "a,b",
                          "a;b",
                          "a\\b",
                          "\x7f",
                          "\x80",
                          "a\tb",
                          "\"quoted\"",
                          "x\r\nLocation: /evil"};
  const char *domains[] = {"",       ".",       "exa mple.com", "-a.com",
                           "a-.com", "a..com",  "a.com;",       "a.com\r\nX: y",
                           "a.com/", "a_b.com", "..a.com"};
  char buf[256];
  size_t need;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    need = 99;
    CHECK_ERR(sessio_cookie_format(buf, sizeof buf, &need, names[i], "v", NULL),
              SESSIO_EINVAL);
    CHECK_INT(need, 0);
  }
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
    CHECK_ERR(
        sessio_cookie_format(buf, sizeof buf, NULL, "sid", values[i], NULL),
        SESSIO_EINVAL);
  for (size_t i = 0; i < sizeof domains / sizeof domains[0]; i++) {
    sessio_cookie_attrs at = {domains[i], 1, SESSIO_SAMESITE_LAX, -1, NULL, 0};
    CHECK_ERR(sessio_cookie_format(buf, sizeof buf, NULL, "sid", "v", &at),
              SESSIO_EINVAL);
  }
  {
    char label[80];
    memset(label, 'a', 64);
    memcpy(label + 64, ".com", 5); /* a 64-byte label */
    sessio_cookie_attrs at = {label, 1, SESSIO_SAMESITE_LAX, -1, NULL, 0};
    CHECK_ERR(sessio_cookie_format(buf, sizeof buf, NULL, "sid", "v", &at),
              SESSIO_EINVAL);
    memcpy(label + 63, ".com", 5); /* a 63-byte label is fine */
    CHECK_OK(sessio_cookie_format(buf, sizeof buf, NULL, "sid", "v", &at));
  }
  {
    sessio_cookie_attrs at = {NULL, 1, (sessio_samesite)7, -1, NULL, 0};
    CHECK_ERR(sessio_cookie_format(buf, sizeof buf, NULL, "sid", "v", &at),
              SESSIO_EINVAL);
  }
  CHECK_ERR(sessio_cookie_format(buf, sizeof buf, NULL, NULL, "v", NULL),
            SESSIO_EINVAL);
}

/* Every tchar is a valid name and every cookie-octet a valid value. */
static void test_full_grammar_accepted_S9(void) {
  const char *tchars = "!#$%&'*+-.^_`|~0123456789"
                       "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  char octets[128], buf[512];
  size_t n = 0, accepted = 0;
  for (int c = 1; c < 256; c++)
    if (c == 0x21 || (c >= 0x23 && c <= 0x2B) || (c >= 0x2D && c <= 0x3A) ||
        (c >= 0x3C && c <= 0x5B) || (c >= 0x5D && c <= 0x7E))
      octets[n++] = (char)c;
  octets[n] = '\0';
  CHECK_OK(sessio_cookie_format(buf, sizeof buf, NULL, tchars, octets, NULL));
  /* and each byte outside the set is refused, alone */
  for (int c = 1; c < 256; c++) {
    char v[2] = {(char)c, 0};
    if (sessio_cookie_format(buf, sizeof buf, NULL, "n", v, NULL) == SESSIO_OK)
      accepted++;
  }
  CHECK_INT(accepted, n);
  accepted = 0;
  for (int c = 1; c < 256; c++) {
    char nm[2] = {(char)c, 0};
    if (sessio_cookie_format(buf, sizeof buf, NULL, nm, "v", NULL) == SESSIO_OK)
      accepted++;
  }
  CHECK_INT(accepted, strlen(tchars));
}

/* S9: name + value at most 4096 bytes. */
static void test_name_plus_value_limit_4096_S9(void) {
  char value[4200], *buf = malloc(8192);
  size_t need = 0;
  CHECK(buf != NULL);
  if (buf == NULL) return;
  memset(value, 'v', sizeof value);
  value[4093] = '\0'; /* "sid" + 4093 = 4096 */
  CHECK_OK(sessio_cookie_format(buf, 8192, &need, "sid", value, NULL));
  CHECK_INT(need, 4096 + strlen("=; Path=/; HttpOnly; SameSite=Lax"));
  value[4093] = 'v';
  value[4094] = '\0'; /* 4097 */
  CHECK_ERR(sessio_cookie_format(buf, 8192, &need, "sid", value, NULL),
            SESSIO_EINVAL);
  /* a 4097-byte name alone */
  value[4094] = 'v';
  value[4097] = '\0';
  CHECK_ERR(sessio_cookie_format(buf, 8192, &need, value, "", NULL),
            SESSIO_EINVAL);
  free(buf);
}

/* What the formatter writes, the parser reads back. */
static void test_formatted_cookie_parses_back(void) {
  sessio_cookie_attrs at = {"example.com", 1,    SESSIO_SAMESITE_LAX,
                            100,           NULL, 0};
  char buf[256];
  CHECK_OK(sessio_cookie_format(buf, sizeof buf, NULL, "sid",
                                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
                                &at));
  seen *s = parse_str(buf);
  CHECK(s->count >= 1);
  CHECK(pair_is(s, 0, "sid", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"));
}

int main(void) {
  RUN(test_parses_pairs_and_trims_whitespace);
  RUN(test_skips_pairs_without_equals_or_name);
  RUN(test_value_keeps_later_equals_signs);
  RUN(test_unquotes_only_balanced_quotes);
  RUN(test_callback_can_stop_iteration);
  RUN(test_empty_and_null_headers_report_nothing);
  RUN(test_value_over_4096_bytes_S11);
  RUN(test_header_over_8k_is_read_only_to_8k_S11);
  RUN(test_parser_never_touches_bytes_past_8k_S11);
  RUN(test_ten_thousand_pairs_are_bounded_S11);
  RUN(test_nul_control_and_high_bytes_S11);
  RUN(test_random_headers_match_model_S11);
  RUN(test_default_cookie_has_safe_attributes_S8);
  RUN(test_every_attribute_combination_S8);
  RUN(test_deletion_cookie);
  RUN(test_small_buffer_gets_enobufs_and_size);
  RUN(test_invalid_names_values_domains_rejected_S9);
  RUN(test_full_grammar_accepted_S9);
  RUN(test_name_plus_value_limit_4096_S9);
  RUN(test_formatted_cookie_parses_back);
  return DONE();
}
