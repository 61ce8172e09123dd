/*
 * json_fuzz.c — sessio-shop's JSON body handling (apps/shop/parse.c, used
 * by the API in api.c): shop_json_object over cJSON, shop_json_int,
 * shop_sku_ok, and the field checks of POST /api/cart, PUT /api/prefs and
 * POST /api/login. Proves, for any body: no read outside the body (it is
 * not NUL-terminated here); an accepted body is one JSON object with only
 * whitespace after it, and every string the shop reads is the whole string
 * sent (the decoded lengths of an independent RFC 8259 decoder equal the C
 * string lengths: nothing cut at a NUL, whether from \u0000, a raw 0 byte
 * or a malformed \u escape); a body cJSON reads is refused only when a
 * string would be cut or it holds a 0 byte (never valid JSON); printing an accepted object and parsing it again
 * gives the same tree; a qty accepted is an integer 1..99 and a SKU
 * accepted is 1..32 printable bytes that fit the cart key.
 */
#include <cjson/cJSON.h>
#include <math.h>

#include "fuzz.h"
#include "shop.h"

/* Independent decoder of the JSON text's strings (RFC 8259): the sum of
 * their decoded lengths in UTF-8, every key and value. A malformed escape
 * counts one byte (whatever it becomes, the string goes on). */
static size_t ref_strings_len(const uint8_t *s, size_t n) {
  size_t total = 0;
  int in = 0;
  for (size_t i = 0; i < n; i++) {
    if (!in) {
      in = s[i] == '"';
      continue;
    }
    if (s[i] == '"') {
      in = 0;
    } else if (s[i] != '\\' || i + 1 >= n) {
      total++;
    } else if (s[++i] != 'u') {
      total++;
    } else {
      char hex[5] = {0};
      unsigned long cp = 0;
      int ok = i + 4 < n;
      if (ok) {
        memcpy(hex, s + i + 1, 4);
        for (int k = 0; k < 4; k++)
          ok &= strchr("0123456789abcdefABCDEF", hex[k]) && hex[k];
      }
      if (!ok) {
        total++;
        continue;
      }
      cp = strtoul(hex, NULL, 16);
      i += 4;
      if (cp >= 0xd800 && cp <= 0xdbff && i + 6 < n && s[i + 1] == '\\' &&
          s[i + 2] == 'u') {
        total += 4; /* a surrogate pair: one code point over U+FFFF */
        i += 6;
      } else {
        total += cp < 0x80 ? 1 : cp < 0x800 ? 2 : 3;
      }
    }
  }
  return total;
}

/* The same sum as the parsed tree holds it, as C strings. */
static size_t tree_strings_len(const cJSON *j) {
  size_t total = 0;
  for (; j; j = j->next) {
    if (j->string) total += strlen(j->string);
    if (cJSON_IsString(j)) total += strlen(j->valuestring);
    total += tree_strings_len(j->child);
  }
  return total;
}

static int finite_tree(const cJSON *j) {
  for (; j; j = j->next) {
    if (cJSON_IsNumber(j) && !isfinite(j->valuedouble)) return 0;
    if (!finite_tree(j->child)) return 0;
  }
  return 1;
}

/* Same shape, names, order and values. */
static int same_tree(const cJSON *a, const cJSON *b) {
  for (; a && b; a = a->next, b = b->next) {
    if ((a->type & 0xff) != (b->type & 0xff)) return 0;
    if ((a->string == NULL) != (b->string == NULL)) return 0;
    if (a->string && strcmp(a->string, b->string) != 0) return 0;
    if (cJSON_IsString(a) && strcmp(a->valuestring, b->valuestring) != 0)
      return 0;
    /* cJSON prints 15 significant digits when they read back within its
     * own epsilon: numbers compare to 1e-13 relative. */
    if (cJSON_IsNumber(a) &&
        fabs(a->valuedouble - b->valuedouble) >
            1e-13 * fmax(fabs(a->valuedouble), fabs(b->valuedouble)))
      return 0;
    if (!same_tree(a->child, b->child)) return 0;
  }
  return a == NULL && b == NULL;
}

static int ref_sku(const char *s) {
  size_t n = strlen(s);
  if (n < 1 || n > SHOP_SKU_MAX) return 0;
  for (size_t i = 0; i < n; i++)
    if (s[i] <= ' ' || s[i] > '~') return 0;
  return 1;
}

/* The endpoints' field checks, as api.c makes them. */
static void endpoints(const cJSON *j) {
  const cJSON *sku = cJSON_GetObjectItemCaseSensitive(j, "sku");
  const cJSON *qty = cJSON_GetObjectItemCaseSensitive(j, "qty");
  int q = -1;
  if (cJSON_IsString(sku)) {
    int ok = shop_sku_ok(sku->valuestring);
    CHECK(ok == ref_sku(sku->valuestring));
    if (ok) {
      char key[8 + SHOP_SKU_MAX];
      int n = snprintf(key, sizeof key, "cart.%s", sku->valuestring);
      CHECK(n > 0 && (size_t)n < sizeof key); /* never truncated */
    }
  }
  if (shop_json_int(qty, 1, SHOP_QTY_MAX, &q)) {
    CHECK(q >= 1 && q <= SHOP_QTY_MAX && qty->valuedouble == (double)q);
  } else if (cJSON_IsNumber(qty)) {
    double d = qty->valuedouble;
    CHECK(!(d >= 1 && d <= SHOP_QTY_MAX && d == floor(d)));
  }
  const cJSON *user = cJSON_GetObjectItemCaseSensitive(j, "user");
  const cJSON *theme = cJSON_GetObjectItemCaseSensitive(j, "theme");
  if (cJSON_IsString(user)) CHECK(user->valuestring != NULL);
  if (cJSON_IsString(theme)) CHECK(theme->valuestring != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > SHOP_BODY_MAX) return 0; /* the shop answers 413 before */
  cJSON *j = shop_json_object((const char *)data, size);

  /* What the shop accepts is what cJSON parses to one object followed by
   * whitespace only, less the bodies where a string would come out cut
   * at a NUL: exactly those are refused. */
  const char *end = NULL;
  cJSON *plain =
      size ? cJSON_ParseWithLengthOpts((const char *)data, size, &end, 0)
           : NULL;
  int parsed = plain != NULL && cJSON_IsObject(plain);
  if (parsed) {
    while (end < (const char *)data + size &&
           (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
      end++;
    parsed = end == (const char *)data + size;
  }
  if (parsed) {
    /* A 0 byte is never valid JSON (cJSON skips it as whitespace outside
     * strings): refused too. */
    int cut = tree_strings_len(plain) != ref_strings_len(data, size) ||
              memchr(data, 0, size) != NULL;
    CHECK((j != NULL) == !cut);
  } else {
    CHECK(j == NULL);
  }
  cJSON_Delete(plain);
  if (j == NULL) return 0;

  CHECK(cJSON_IsObject(j));
  CHECK(tree_strings_len(j) == ref_strings_len(data, size));
  endpoints(j);
  if (finite_tree(j)) {
    char *text = cJSON_PrintUnformatted(j);
    CHECK(text != NULL);
    cJSON *k = shop_json_object(text, strlen(text));
    CHECK(k != NULL && same_tree(j, k));
    cJSON_Delete(k);
    cJSON_free(text);
  }
  cJSON_Delete(j);
  return 0;
}
