/*
 * config.c — sessio_config (defaults and setters) and sessio_manager
 * (validated, immutable copy of a configuration, safe to share between
 * threads), plus the manager's logger.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manager.h"

#define MINUTE (60 * 1000LL)
#define HOUR (60 * MINUTE)
#define DAY (24 * HOUR)
/* The longest duration accepted: far beyond any sensible timeout, and small
 * enough that 'now' + a duration never overflows (fuzz/config_fuzz.c found
 * absolute = INT64_MAX overflowing at session creation). */
#define DURATION_MAX (100 * 365 * DAY)

sessio_err sessio_config_new(sessio_config **out) {
  if (out == NULL) return SESSIO_EINVAL;
  sessio_config *c = calloc(1, sizeof *c);
  if ((*out = c) == NULL) return SESSIO_ENOMEM;
  c->idle_ms = 30 * MINUTE;
  c->absolute_ms = 12 * HOUR;
  c->remember_ms = 12 * HOUR;
  c->touch_interval_ms = MINUTE;
  c->rotate_ms = 0;
  c->grace_ms = 30 * 1000;
  c->secure = SESSIO_SECURE_AUTO;
  c->samesite = SESSIO_SAMESITE_LAX;
  c->max_key = 128;
  c->max_value = 8 * 1024;
  c->max_total = 64 * 1024;
  c->log_level = SESSIO_LOG_INFO;
  return SESSIO_OK;
}

void sessio_config_free(sessio_config *cfg) {
  if (cfg) {
    memset(cfg->secret, 0, sizeof cfg->secret);
    memset(cfg->prev_secret, 0, sizeof cfg->prev_secret);
    free(cfg);
  }
}

sessio_err sessio_config_set_store(sessio_config *cfg, sessio_store *st) {
  if (cfg == NULL || st == NULL || st->methods == NULL) return SESSIO_EINVAL;
  /* Version 2 changed signatures; later versions only append methods. */
  if (st->methods->version < 2) return SESSIO_ENOTSUP;
  cfg->store = st;
  return SESSIO_OK;
}

sessio_err sessio_config_set_timeouts(sessio_config *cfg, int64_t idle,
                                      int64_t absolute, int64_t remember) {
  if (cfg == NULL || idle <= 0 || absolute <= 0 || remember < 0 ||
      idle > absolute || absolute > DURATION_MAX || remember > DURATION_MAX)
    return SESSIO_EINVAL;
  cfg->idle_ms = idle;
  cfg->absolute_ms = absolute;
  cfg->remember_ms = remember;
  return SESSIO_OK;
}

sessio_err sessio_config_set_remember(sessio_config *cfg, int64_t idle,
                                      int64_t absolute) {
  if (cfg == NULL || idle <= 0 || absolute <= 0 || idle > absolute ||
      absolute > DURATION_MAX)
    return SESSIO_EINVAL;
  cfg->rem_idle_ms = idle;
  cfg->rem_abs_ms = absolute;
  if (cfg->remember_ms == 0) cfg->remember_ms = absolute; /* enabled */
  return SESSIO_OK;
}

sessio_err sessio_config_set_touch_interval(sessio_config *cfg,
                                            int64_t interval) {
  if (cfg == NULL || interval < 0 || interval > DURATION_MAX)
    return SESSIO_EINVAL;
  cfg->touch_interval_ms = interval;
  return SESSIO_OK;
}

sessio_err sessio_config_set_rotation(sessio_config *cfg, int64_t interval,
                                      int64_t grace) {
  if (cfg == NULL || interval < 0 || grace < 0 || interval > DURATION_MAX ||
      grace > DURATION_MAX)
    return SESSIO_EINVAL;
  cfg->rotate_ms = interval;
  cfg->grace_ms = grace;
  return SESSIO_OK;
}

sessio_err sessio_config_set_cookie(sessio_config *cfg, const char *name,
                                    sessio_secure secure,
                                    sessio_samesite samesite,
                                    const char *domain) {
  if (cfg == NULL || (unsigned)secure > SESSIO_SECURE_NEVER ||
      (unsigned)samesite > SESSIO_SAMESITE_NONE)
    return SESSIO_EINVAL;
  if (name && strlen(name) > SESSIO__COOKIE_NAME_MAX) return SESSIO_EINVAL;
  if (domain && strlen(domain) > SESSIO__DOMAIN_MAX) return SESSIO_EINVAL;
  strcpy(cfg->cookie_name, name ? name : "");
  strcpy(cfg->domain, domain ? domain : "");
  cfg->secure = secure;
  cfg->samesite = samesite;
  return SESSIO_OK;
}

/* A cookie path: '/' then bytes other than controls and ';'. */
static int path_ok(const char *p) {
  size_t n = strlen(p);
  if (n == 0 || n > SESSIO__PATH_MAX || p[0] != '/') return 0;
  for (; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == ';') return 0;
  return 1;
}

sessio_err sessio_config_set_cookie_path(sessio_config *cfg, const char *path) {
  if (cfg == NULL) return SESSIO_EINVAL;
  if (path == NULL || strcmp(path, "/") == 0) {
    cfg->path[0] = '\0';
    return SESSIO_OK;
  }
  if (!path_ok(path)) return SESSIO_EINVAL;
  strcpy(cfg->path, path);
  return SESSIO_OK;
}

sessio_err sessio_config_set_partitioned(sessio_config *cfg, int partitioned) {
  if (cfg == NULL) return SESSIO_EINVAL;
  cfg->partitioned = partitioned != 0;
  return SESSIO_OK;
}

sessio_err sessio_config_set_secret(sessio_config *cfg, const void *secret,
                                    size_t len) {
  if (cfg == NULL || secret == NULL || len == 0 || len > SESSIO_SECRET_MAX)
    return SESSIO_EINVAL;
  memcpy(cfg->secret, secret, len);
  cfg->secret_len = len;
  return SESSIO_OK;
}

sessio_err sessio_config_set_token_transport(sessio_config *cfg, int enabled) {
  if (cfg == NULL) return SESSIO_EINVAL;
  cfg->tokens = enabled != 0;
  return SESSIO_OK;
}

sessio_err sessio_config_add_previous_secret(sessio_config *cfg,
                                             const void *secret, size_t len) {
  if (cfg == NULL || (secret == NULL && len > 0) || len > SESSIO_SECRET_MAX)
    return SESSIO_EINVAL;
  if (cfg->n_prev == SESSIO__PREV_SECRETS) return SESSIO_ETOOBIG;
  if (len > 0) memcpy(cfg->prev_secret[cfg->n_prev], secret, len);
  cfg->prev_len[cfg->n_prev++] = len;
  return SESSIO_OK;
}

sessio_err sessio_config_set_max_sessions_per_user(sessio_config *cfg, size_t n,
                                                   sessio_max_policy policy) {
  if (cfg == NULL || (unsigned)policy > SESSIO_MAX_REFUSE) return SESSIO_EINVAL;
  cfg->max_per_user = n;
  cfg->max_policy = policy;
  return SESSIO_OK;
}

sessio_err sessio_config_set_limits(sessio_config *cfg, size_t max_key,
                                    size_t max_value, size_t max_total) {
  if (cfg == NULL || max_key == 0 || max_key > 4096 || max_value == 0 ||
      max_total == 0 || max_total > ((size_t)1 << 30))
    return SESSIO_EINVAL;
  cfg->max_key = max_key;
  cfg->max_value = max_value;
  cfg->max_total = max_total;
  return SESSIO_OK;
}

sessio_err sessio_config_set_logger(sessio_config *cfg, sessio_log_fn fn,
                                    void *ud, sessio_log_level level) {
  if (cfg == NULL || (unsigned)level > SESSIO_LOG_DEBUG) return SESSIO_EINVAL;
  cfg->log_fn = fn;
  cfg->log_ud = ud;
  cfg->log_level = level;
  return SESSIO_OK;
}

/* RFC 9110 token characters. */
static int is_token(const char *s) {
  if (*s == '\0') return 0;
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c <= 0x20 || c >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", c)) return 0;
  }
  return 1;
}

static int has_prefix(const char *s, const char *p) {
  return strncmp(s, p, strlen(p)) == 0;
}

sessio_err sessio_manager_new(const sessio_config *cfg, sessio_manager **out) {
  if (cfg == NULL || out == NULL) return SESSIO_EINVAL;
  *out = NULL;
  const char *name = cfg->cookie_name;
  int always = cfg->secure == SESSIO_SECURE_ALWAYS;
  if (cfg->store == NULL || cfg->idle_ms > cfg->absolute_ms) {
    return SESSIO_EINVAL;
  }
  if (*name) {
    if (!is_token(name)) return SESSIO_EINVAL;
    /* rfc6265bis prefixes: __Host- needs Secure, Path=/ and no Domain;
     * __Secure- needs Secure (S8). */
    if (has_prefix(name, "__Host-") &&
        (!always || cfg->domain[0] || cfg->path[0]))
      return SESSIO_EINVAL;
    if (has_prefix(name, "__Secure-") && !always) return SESSIO_EINVAL;
  }
  if (cfg->samesite == SESSIO_SAMESITE_NONE && !always) return SESSIO_EINVAL;
  /* Browsers drop a Partitioned cookie that is not Secure (CHIPS). */
  if (cfg->partitioned && !always) return SESSIO_EINVAL;
  if (cfg->domain[0]) {
    for (const char *d = cfg->domain; *d; d++)
      if (!(('a' <= *d && *d <= 'z') || ('A' <= *d && *d <= 'Z') ||
            ('0' <= *d && *d <= '9') || *d == '-' || *d == '.'))
        return SESSIO_EINVAL;
  }
  sessio_err rc = sessio__crypto_init();
  if (rc != SESSIO_OK) return rc;

  sessio_manager *m = calloc(1, sizeof *m);
  if (m == NULL) return SESSIO_ENOMEM;
  if ((m->met = calloc(1, sizeof *m->met)) == NULL) {
    free(m);
    return SESSIO_ENOMEM;
  }
  m->cfg = *cfg;
  for (size_t i = 0; i < SESSIO__COMMIT_STRIPES; i++)
    pthread_mutex_init(&m->stripes[i], NULL);
  sessio__ev_register(m, cfg->store);
  if (*name) {
    strcpy(m->name_tls, name);
    strcpy(m->name_plain, name);
  } else {
    /* S3: generic names; __Host- whenever the cookie is Secure and no
     * Domain is set. */
    strcpy(m->name_tls,
           cfg->domain[0] || cfg->path[0] ? "__Secure-sid" : "__Host-sid");
    strcpy(m->name_plain, "sid");
    if (cfg->secure == SESSIO_SECURE_ALWAYS) strcpy(m->name_plain, m->name_tls);
    if (cfg->secure == SESSIO_SECURE_NEVER) strcpy(m->name_tls, "sid");
  }
  *out = m;
  return SESSIO_OK;
}

void sessio_manager_free(sessio_manager *m) {
  if (m) {
    sessio__ev_unregister(m);
    for (size_t i = 0; i < SESSIO__COMMIT_STRIPES; i++)
      pthread_mutex_destroy(&m->stripes[i]);
    memset(m->cfg.secret, 0, sizeof m->cfg.secret);
    memset(m->cfg.prev_secret, 0, sizeof m->cfg.prev_secret);
    free(m->met);
    free(m);
  }
}

const char *sessio_manager_cookie_name(const sessio_manager *m, int tls) {
  if (m == NULL) return "";
  return tls ? m->name_tls : m->name_plain;
}

void sessio__log(const sessio_manager *m, sessio_log_level level,
                 const char *fmt, ...) {
  if (m->cfg.log_fn == NULL || level > m->cfg.log_level) return;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  m->cfg.log_fn(m->cfg.log_ud, level, msg);
}
