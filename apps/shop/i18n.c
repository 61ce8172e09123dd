/*
 * i18n.c — looks up sessio-shop's messages (messages.h) by language and
 * fills their "{N}" placeholders; also the page words that depend on data:
 * a device name from a User-Agent and a relative time ("5 min ago").
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "messages.h"
#include "shop.h"

static const char *const msgs_en[] = {
#define SHOP_MSG_EN(id, en, fr) en,
    SHOP_MESSAGES(SHOP_MSG_EN)
#undef SHOP_MSG_EN
};
static const char *const msgs_fr[] = {
#define SHOP_MSG_FR(id, en, fr) fr,
    SHOP_MESSAGES(SHOP_MSG_FR)
#undef SHOP_MSG_FR
};

const char *ui_lang(const char *pref) {
  return pref != NULL && strcmp(pref, "fr") == 0 ? "fr" : "en";
}

const char *accept_lang(const char *h) {
  /* Each item: a language range, then parameters; only q matters. Bounded
   * by the header, which the server already limits. */
  const char *best = "en";
  int best_q = -1;
  while (h != NULL && *h) {
    const char *item = h, *end = strchr(h, ',');
    size_t n = end ? (size_t)(end - item) : strlen(item);
    const char *lang = NULL, *q;
    int qv = 1000;
    h = end ? end + 1 : NULL;
    while (n > 0 && (*item == ' ' || *item == '\t')) item++, n--;
    if (n >= 2 && strncasecmp(item, "fr", 2) == 0 &&
        (n == 2 || item[2] == '-' || item[2] == ';' || item[2] == ' '))
      lang = "fr";
    else if ((n >= 2 && strncasecmp(item, "en", 2) == 0 &&
              (n == 2 || item[2] == '-' || item[2] == ';' || item[2] == ' ')) ||
             (n >= 1 && item[0] == '*'))
      lang = "en";
    if (lang == NULL) continue;
    q = memchr(item, ';', n);
    while (q != NULL && q < item + n) { /* ";q=0.8", ";q=1", ";q=0" */
      q++;
      while (q < item + n && *q == ' ') q++;
      if (q + 2 <= item + n && (q[0] == 'q' || q[0] == 'Q') && q[1] == '=') {
        const char *v = q + 2;
        qv = 0;
        if (v < item + n && *v == '1')
          qv = 1000;
        else if (v + 1 < item + n && v[0] == '0' && v[1] == '.')
          for (int k = 0, scale = 100; k < 3 && v + 2 + k < item + n &&
                                       v[2 + k] >= '0' && v[2 + k] <= '9';
               k++, scale /= 10)
            qv += (v[2 + k] - '0') * scale;
        break;
      }
      q = memchr(q, ';', (size_t)(item + n - q));
    }
    if (qv > best_q) {
      best_q = qv;
      best = qv > 0 ? lang : best;
    }
  }
  return best;
}

const char *tr(const char *lang, msg_id m) {
  if ((size_t)m >= MSG_COUNT) return "";
  return strcmp(ui_lang(lang), "fr") == 0 ? msgs_fr[m] : msgs_en[m];
}

size_t msg_count(void) { return MSG_COUNT; }

void msg_pair(size_t i, const char **en, const char **fr) {
  *en = i < MSG_COUNT ? msgs_en[i] : NULL;
  *fr = i < MSG_COUNT ? msgs_fr[i] : NULL;
}

/* Walks message 'm', calling 'put' for each literal run and argument. */
static void fill(const char *lang, msg_id m, const char *const *args, size_t n,
                 void (*put)(void *, const char *, size_t, int), void *ud) {
  const char *s = tr(lang, m), *run = s;
  while (*s) {
    if (s[0] == '{' && s[1] >= '1' && s[1] <= '9' && s[2] == '}') {
      size_t k = (size_t)(s[1] - '1');
      put(ud, run, (size_t)(s - run), 0);
      if (k < n && args[k] != NULL) put(ud, args[k], strlen(args[k]), 1);
      s += 3;
      run = s;
    } else {
      s++;
    }
  }
  put(ud, run, (size_t)(s - run), 0);
}

typedef struct plain {
  char *out;
  size_t size, len;
} plain;

static void put_plain(void *ud, const char *s, size_t len, int arg) {
  plain *p = ud;
  (void)arg;
  if (p->len + 1 >= p->size) return;
  if (len > p->size - 1 - p->len) len = p->size - 1 - p->len;
  memcpy(p->out + p->len, s, len);
  p->len += len;
  p->out[p->len] = '\0';
}

char *tr_fmt(char *out, size_t size, const char *lang, msg_id m,
             const char *const *args, size_t n) {
  plain p = {out, size, 0};
  if (size > 0) out[0] = '\0';
  fill(lang, m, args, n, put_plain, &p);
  return out;
}

static void put_html(void *ud, const char *s, size_t len, int arg) {
  char tmp[512];
  (void)arg;
  while (len > 0) {
    size_t k = len < sizeof tmp - 1 ? len : sizeof tmp - 1;
    memcpy(tmp, s, k);
    tmp[k] = '\0';
    sb_html(ud, tmp);
    s += k;
    len -= k;
  }
}

void sb_tr(sbuf *b, const char *lang, msg_id m, const char *const *args,
           size_t n) {
  fill(lang, m, args, n, put_html, b);
}

/* ---- device names ------------------------------------------------------- */

#define UA_SHOWN 48 /* bytes of an unnamed User-Agent shown */

/* The first of 'pairs' (needle, name) whose needle 'ua' contains. */
static const char *first_of(const char *ua, const char *const (*pairs)[2],
                            size_t n) {
  for (size_t i = 0; i < n; i++)
    if (strstr(ua, pairs[i][0]) != NULL) return pairs[i][1];
  return NULL;
}

void ua_describe(const char *ua, const char *lang, char *out, size_t size) {
  /* Order matters: Edge and Opera say "Chrome", Chrome says "Safari",
   * iPhones say "Mac OS X" and Android says "Linux". */
  static const char *const browsers[][2] = {
      {"Edg/", "Edge"},
      {"OPR/", "Opera"},
      {"Firefox/", "Firefox"},
      {"FxiOS/", "Firefox"},
      {"CriOS/", "Chrome"},
      {"HeadlessChrome/", "Headless Chrome"},
      {"Chromium/", "Chromium"},
      {"Chrome/", "Chrome"},
      {"Safari/", "Safari"},
      {"curl/", "curl"},
      {"python-requests/", "Python requests"},
      {"Python-urllib/", "Python"}};
  static const char *const systems[][2] = {
      {"iPhone", "iPhone"},   {"iPad", "iPad"},       {"Android", "Android"},
      {"CrOS", "ChromeOS"},   {"Windows", "Windows"}, {"Mac OS X", "macOS"},
      {"Macintosh", "macOS"}, {"Linux", "Linux"},     {"FreeBSD", "FreeBSD"}};
  const char *b, *s;
  if (ua == NULL || *ua == '\0' || strcmp(ua, "unknown client") == 0) {
    snprintf(out, size, "%s", tr(lang, MSG_UNKNOWN_DEVICE));
    return;
  }
  b = first_of(ua, browsers, sizeof browsers / sizeof browsers[0]);
  s = first_of(ua, systems, sizeof systems / sizeof systems[0]);
  if (b != NULL && s != NULL) {
    const char *args[] = {b, s};
    tr_fmt(out, size, lang, MSG_UA_ON, args, 2);
  } else if (b != NULL) {
    snprintf(out, size, "%s", b);
  } else {
    /* A client we cannot name (a script, a bot): what it calls itself,
     * cut to a readable length. */
    size_t n = strlen(ua);
    if (n > UA_SHOWN)
      snprintf(out, size, "%.*s…", UA_SHOWN, ua);
    else
      snprintf(out, size, "%s", ua);
  }
}

/* ---- times --------------------------------------------------------------- */

void sb_reltime(sbuf *b, const char *lang, int64_t ms, int64_t now) {
  char iso[32], n[24];
  struct tm tm;
  time_t sec = (time_t)(ms / 1000);
  int64_t d = ms - now, a = d < 0 ? -d : d;
  msg_id m;
  int64_t v;
  const char *args[1] = {n};
  gmtime_r(&sec, &tm);
  strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
  sb_printf(b, "<time datetime=\"%s\" title=\"", iso);
  sb_time(b, ms);
  sb_puts(b, "\">");
  if (a < 60000) {
    m = MSG_JUST_NOW;
    v = 0;
  } else if (a < 3600000) {
    m = d < 0 ? MSG_MIN_AGO : MSG_IN_MIN;
    v = a / 60000;
  } else if (a < 86400000) {
    m = d < 0 ? MSG_H_AGO : MSG_IN_H;
    v = a / 3600000;
  } else {
    m = d < 0 ? MSG_D_AGO : MSG_IN_D;
    v = a / 86400000;
  }
  snprintf(n, sizeof n, "%lld", (long long)v);
  sb_tr(b, lang, m, args, 1);
  sb_puts(b, "</time>");
}
