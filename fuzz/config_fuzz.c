/*
 * config_fuzz.c — configuration: every sessio_config_set_* fed fuzzed
 * strings and numbers, then sessio_manager_new, then a request, a login
 * and a follow-up request under that configuration (SECURITY.md S3, S8,
 * S13, S14). Proves: a refused setter changes nothing and an accepted one
 * stores exactly its arguments; the manager is refused exactly when a
 * reference of the documented rules says so (token name, __Host- and
 * __Secure- prefixes, SameSite=None, Domain characters); and under every
 * accepted configuration, any timeouts included, the cookies emitted obey
 * S8 (HttpOnly, Path=/, SameSite; Secure whenever the prefix or
 * SameSite=None needs it; no Domain under __Host-; a Max-Age only for
 * remember-me, never beyond the absolute timeout), carry the manager's
 * cookie name and a valid ID, and bring the session back on the next
 * request.
 */
#include "fuzz.h"
#include "manager.h"

#define NOW 1800000000000LL

static void quiet(void *ud, sessio_log_level l, const char *msg) {
  (void)ud;
  (void)l;
  (void)msg;
}

/* A duration: small and meaningful, or any 64-bit value. */
static int64_t fz_dur(fz *f) {
  uint8_t k = fz_u8(f);
  switch (k % 4) {
  case 0: return (int64_t)fz_u8(f) * 1000;    /* seconds */
  case 1: return (int64_t)fz_u8(f) * 3600000; /* hours */
  case 2: return (int64_t)(fz_u8(f) << 8 | fz_u8(f)) - 100;
  default: return (int64_t)fz_u64(f);
  }
}

static int token(const char *s) {
  if (*s == '\0') return 0;
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c <= ' ' || c >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", c)) return 0;
  }
  return 1;
}

static int starts(const char *s, const char *p) {
  return strncmp(s, p, strlen(p)) == 0;
}

/* The rules of sessio_manager_new, as sessio.h states them. */
static int ref_manager_ok(const sessio_config *c) {
  int always = c->secure == SESSIO_SECURE_ALWAYS;
  if (c->cookie_name[0]) {
    if (!token(c->cookie_name)) return 0;
    if (starts(c->cookie_name, "__Host-") && (!always || c->domain[0]))
      return 0;
    if (starts(c->cookie_name, "__Secure-") && !always) return 0;
  }
  if (c->samesite == SESSIO_SAMESITE_NONE && !always) return 0;
  for (const char *d = c->domain; *d; d++)
    if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                "0123456789-.",
                *d))
      return 0;
  return c->idle_ms <= c->absolute_ms;
}

/* Checks one Set-Cookie value against S8/S9; returns the ID (or "" for a
 * deletion cookie) in 'id'. */
static void check_cookie(const sessio_manager *m, const sessio_config *c,
                         int tls, const char *sc, char id[SESSIO_ID_LEN + 1]) {
  const char *name = sessio_manager_cookie_name(m, tls);
  size_t nlen = strlen(name);
  CHECK(token(name));
  CHECK(strncmp(sc, name, nlen) == 0 && sc[nlen] == '=');
  const char *val = sc + nlen + 1;
  size_t vlen = strcspn(val, ";");
  CHECK(vlen == 0 || (vlen == SESSIO_ID_LEN && sessio_id_valid(val, vlen)));
  memcpy(id, val, vlen);
  id[vlen] = '\0';
  const char *at = val + vlen; /* the attributes; the name may hold anything
                                  a token may, "Max-Age" included */
  int secure = strstr(at, "; Secure") != NULL;
  CHECK(strstr(at, "; HttpOnly") != NULL && strstr(at, "; Path=/") != NULL);
  CHECK(strstr(at, "; SameSite=") != NULL);
  if (c->secure == SESSIO_SECURE_ALWAYS ||
      (c->secure == SESSIO_SECURE_AUTO && tls))
    CHECK(secure);
  if (c->secure == SESSIO_SECURE_NEVER) CHECK(!secure);
  if (starts(name, "__Host-") || starts(name, "__Secure-") ||
      strstr(at, "SameSite=None"))
    CHECK(secure);
  const char *dom = strstr(at, "; Domain=");
  if (starts(name, "__Host-")) CHECK(dom == NULL);
  CHECK((dom != NULL) == (c->domain[0] != '\0'));
  const char *ma = strstr(at, "; Max-Age=");
  if (ma != NULL && vlen > 0) {
    long long age = strtoll(ma + 10, NULL, 10);
    int64_t life = c->remember_ms < c->absolute_ms ? c->remember_ms
                                                   : c->absolute_ms;
    CHECK(age >= 0 && age <= life / 1000 + 1); /* S8 */
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz f = {data, size};
  sessio_config *cfg;
  sessio_store *st;
  CHECK(sessio_config_new(&cfg) == SESSIO_OK);
  CHECK(sessio_store_open("memory:?shards=1", &st) == SESSIO_OK);
  CHECK(sessio_config_set_store(cfg, st) == SESSIO_OK);

  unsigned nops = fz_u8(&f) % 12;
  for (unsigned i = 0; i < nops; i++) {
    sessio_config before;
    memcpy(&before, cfg, sizeof before);
    sessio_err rc;
    uint8_t op = fz_u8(&f) % 7;
    switch (op) {
    case 0: {
      int64_t idle = fz_dur(&f), abs = fz_dur(&f), rem = fz_dur(&f);
      rc = sessio_config_set_timeouts(cfg, idle, abs, rem);
      if (rc == SESSIO_OK)
        CHECK(cfg->idle_ms == idle && cfg->absolute_ms == abs &&
              cfg->remember_ms == rem && idle > 0 && idle <= abs && rem >= 0);
      break;
    }
    case 1: {
      int64_t t = fz_dur(&f);
      rc = sessio_config_set_touch_interval(cfg, t);
      if (rc == SESSIO_OK) CHECK(cfg->touch_interval_ms == t && t >= 0);
      break;
    }
    case 2: {
      int64_t iv = fz_dur(&f), grace = fz_dur(&f);
      rc = sessio_config_set_rotation(cfg, iv, grace);
      if (rc == SESSIO_OK)
        CHECK(cfg->rotate_ms == iv && cfg->grace_ms == grace);
      break;
    }
    case 3: {
      char name[300], domain[300];
      uint8_t flags = fz_u8(&f);
      int secure = (int)(fz_u8(&f) % 5) - 1, same = (int)(fz_u8(&f) % 5) - 1;
      fz_str(&f, name, sizeof name, 255);
      fz_str(&f, domain, sizeof domain, 255);
      rc = sessio_config_set_cookie(
          cfg, flags & 1 ? NULL : name, (sessio_secure)secure,
          (sessio_samesite)same, flags & 2 ? NULL : domain);
      if (rc == SESSIO_OK) {
        CHECK(strcmp(cfg->cookie_name, flags & 1 ? "" : name) == 0);
        CHECK(strcmp(cfg->domain, flags & 2 ? "" : domain) == 0);
        CHECK((int)cfg->secure == secure && (int)cfg->samesite == same);
      }
      break;
    }
    case 4: {
      size_t n;
      const uint8_t *p = fz_bytes(&f, 80, &n);
      rc = sessio_config_set_secret(cfg, p, n);
      if (rc == SESSIO_OK)
        CHECK(cfg->secret_len == n && memcmp(cfg->secret, p, n) == 0);
      break;
    }
    case 5: {
      size_t k = (size_t)fz_dur(&f), v = (size_t)fz_dur(&f),
             t = (size_t)fz_dur(&f);
      rc = sessio_config_set_limits(cfg, k, v, t);
      if (rc == SESSIO_OK)
        CHECK(cfg->max_key == k && cfg->max_value == v && cfg->max_total == t);
      break;
    }
    default: {
      int level = (int)(fz_u8(&f) % 6) - 1;
      rc = sessio_config_set_logger(cfg, quiet, NULL, (sessio_log_level)level);
      if (rc == SESSIO_OK) CHECK((int)cfg->log_level == level);
      break;
    }
    }
    CHECK(rc == SESSIO_OK || rc == SESSIO_EINVAL);
    /* A refused setter leaves the configuration as it was. */
    if (rc != SESSIO_OK) CHECK(memcmp(&before, cfg, sizeof before) == 0);
  }
  sessio_manager *m = NULL;
  sessio_err rc = sessio_manager_new(cfg, &m);
  CHECK(rc == SESSIO_OK || rc == SESSIO_EINVAL);
  CHECK((rc == SESSIO_OK) == ref_manager_ok(cfg));
  if (rc == SESSIO_OK) {
    int tls = fz_u8(&f) & 1, remember = fz_u8(&f) & 1;
    char id[SESSIO_ID_LEN + 1],
        hdr[SESSIO__COOKIE_NAME_MAX + SESSIO_ID_LEN + 4];
    sessio *s = NULL;
    /* A guest adds to a cart: the session is created. */
    CHECK(sessio_begin(m, NULL, 0, tls, NOW, &s) == SESSIO_OK);
    sessio_err e = sessio_set_int(s, "cart.A1", 2);
    CHECK(e == SESSIO_OK || e == SESSIO_ETOOBIG || e == SESSIO_EINVAL);
    /* The encoded total (the CSRF token included) may pass a tiny
     * max_total only at commit: SESSIO_ETOOBIG then, nothing stored. */
    if (e == SESSIO_OK) e = sessio_commit(s, NOW);
    CHECK(e == SESSIO_OK || e == SESSIO_ETOOBIG || e == SESSIO_EINVAL);
    if (e == SESSIO_OK) {
      const char *sc = sessio_cookie_header(s);
      CHECK(sc != NULL);
      check_cookie(m, cfg, tls, sc, id);
      CHECK(id[0] != '\0');
      snprintf(hdr, sizeof hdr, "%s=%s", sessio_manager_cookie_name(m, tls),
               id);
      sessio_free(s);

      /* The next request, a moment later, finds it and signs in. */
      const char *h = hdr;
      int64_t later = NOW + 1;
      CHECK(sessio_begin(m, &h, 1, tls, later, &s) == SESSIO_OK);
      int64_t v = 0;
      int live = later < NOW + cfg->idle_ms && later < NOW + cfg->absolute_ms;
      CHECK(sessio_get_int(s, "cart.A1", &v) == live);
      if (live) CHECK(v == 2);
      e = sessio_login(s, "alice", remember, later);
      CHECK(e == SESSIO_OK || e == SESSIO_ETOOBIG);
      if (e == SESSIO_OK) e = sessio_commit(s, later);
      CHECK(e == SESSIO_OK || e == SESSIO_ETOOBIG);
      if (e == SESSIO_OK) {
        const char *sc2 = sessio_cookie_header(s);
        CHECK(sc2 != NULL);
        check_cookie(m, cfg, tls, sc2, id);
        CHECK(strstr(sc2 + strcspn(sc2, ";"), "; Max-Age=") == NULL ||
              (remember && cfg->remember_ms > 0));
      }
    }
    sessio_free(s);
    sessio_manager_free(m);
  }
  sessio_config_free(cfg);
  sessio_store_close(st);
  return 0;
}
