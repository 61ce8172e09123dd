/*
 * fcgi.c — sessio-fcgi: the bridge between libfcgi requests (their
 * parameter array and output stream) and the sessio core (see
 * include/sessio/fcgi.h). Cookies are read from every HTTP_COOKIE
 * parameter without copying (pointers into the request's parameters,
 * valid until FCGX_Finish_r).
 */
#include "sessio/fcgi.h"

#include <string.h>
#include <strings.h>

#include "integration.h"

/* The value of the parameter "NAME=value" in 'p' when its name is 'name'
 * ('len' bytes), else NULL. FastCGI parameter names are case-sensitive. */
static const char *param_value(const char *p, const char *name, size_t len) {
  if (strncmp(p, name, len) != 0 || p[len] != '=') return NULL;
  return p + len + 1;
}

static const char *param(FCGX_ParamArray envp, const char *name) {
  size_t len = strlen(name);
  for (; envp != NULL && *envp != NULL; envp++) {
    const char *v = param_value(*envp, name, len);
    if (v != NULL) return v;
  }
  return NULL;
}

int sessio_fcgi_is_tls(FCGX_ParamArray envp, int trust_proxy) {
  const char *https = param(envp, "HTTPS");
  if (https != NULL &&
      (strcasecmp(https, "on") == 0 || strcmp(https, "1") == 0))
    return 1;
  return trust_proxy &&
         sessio__proto_is_https(param(envp, "HTTP_X_FORWARDED_PROTO"));
}

sessio_err sessio_fcgi_begin(sessio_manager *mgr, FCGX_ParamArray envp,
                             int trust_proxy, int64_t now, sessio **out) {
  const char *vals[SESSIO_FCGI_MAX_COOKIE_HEADERS];
  struct sessio__cookie_set set = {vals, SESSIO_FCGI_MAX_COOKIE_HEADERS, 0, 0,
                                   0};
  *out = NULL;
  /* Every HTTP_COOKIE parameter: a web server may pass several Cookie
   * headers as several parameters (nginx before 1.23 does), and a cookie
   * in the second must count as much as one in the first (S12). */
  for (FCGX_ParamArray p = envp; p != NULL && *p != NULL; p++) {
    const char *v = param_value(*p, "HTTP_COOKIE", 11);
    if (v != NULL && !sessio__cookie_add(&set, v, strlen(v)))
      return SESSIO_ETOOBIG;
  }
  /* The token transport's headers (S30), as the web server passes them
   * (HTTP_ plus the header name); the core ignores them unless the manager
   * has that transport enabled. */
  return sessio_begin_token(mgr, set.vals, set.n,
                            param(envp, "HTTP_AUTHORIZATION"),
                            param(envp, "HTTP_X_SESSION_TRANSPORT"),
                            sessio_fcgi_is_tls(envp, trust_proxy), now, out);
}

static int put(FCGX_Stream *out, const char *s) {
  return FCGX_PutStr(s, (int)strlen(s), out) >= 0;
}

sessio_err sessio_fcgi_write_headers(const sessio *s, FCGX_Stream *out) {
  const char *sc = sessio_cookie_header(s);
  const char *tok = sessio_token_header(s);
  /* The values are cookie-octets and attributes only (S9), and an ID's
   * characters: neither can carry a CR or LF into the header block. */
  if (sc != NULL &&
      !(put(out, "Set-Cookie: ") && put(out, sc) && put(out, "\r\n")))
    return SESSIO_EIO;
  if (tok != NULL &&
      !(put(out, "X-Session-Token: ") && put(out, tok) && put(out, "\r\n")))
    return SESSIO_EIO;
  if (!put(out, "Cache-Control: no-store\r\nVary: Cookie\r\n"))
    return SESSIO_EIO;
  return SESSIO_OK;
}

sessio_err sessio_fcgi_commit(sessio *s, FCGX_Stream *out, int64_t now) {
  sessio_err e = sessio_commit(s, now);
  if (e != SESSIO_OK) return e;
  return sessio_fcgi_write_headers(s, out);
}
