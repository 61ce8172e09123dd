/*
 * test_fcgi.c — sessio-fcgi against hand-made FastCGI parameter arrays and
 * a memory-backed output stream: every HTTP_COOKIE parameter read (S12),
 * TLS from the web server's HTTPS parameter or a trusted proxy only (S8),
 * the 8 KiB and header-count limits (S11), the header lines written (S10).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "sessio.h"
#include "sessio/fcgi.h"

static sessio_store *st;
static sessio_manager *mgr;
static const int64_t T0 = 1700000000000;

static void setup(void) {
  sessio_config *cfg;
  if (sessio_store_open("memory:", &st) != SESSIO_OK ||
      sessio_config_new(&cfg) != SESSIO_OK ||
      sessio_config_set_store(cfg, st) != SESSIO_OK ||
      sessio_manager_new(cfg, &mgr) != SESSIO_OK)
    abort();
  sessio_config_free(cfg);
}

/* A stored session; its cookie pair "sid=..." goes to 'pair'. */
static void make_session(char *pair, size_t cap) {
  char *envp[] = {NULL};
  sessio *s;
  if (sessio_fcgi_begin(mgr, envp, 0, T0, &s) != SESSIO_OK ||
      sessio_set_int(s, "n", 7) != SESSIO_OK ||
      sessio_commit(s, T0) != SESSIO_OK)
    abort();
  const char *sc = sessio_cookie_header(s);
  snprintf(pair, cap, "%.*s", (int)strcspn(sc, ";"), sc);
  sessio_free(s);
}

/* 1 when the parameters 'envp' bring back the session holding n=7. */
static int finds_session(char **envp) {
  sessio *s;
  int64_t n = 0;
  if (sessio_fcgi_begin(mgr, envp, 0, T0 + 1000, &s) != SESSIO_OK) return 0;
  int found = sessio_get_int(s, "n", &n) && n == 7;
  sessio_free(s);
  return found;
}

static void test_every_http_cookie_parameter_is_read_S12(void) {
  char pair[128], p1[160], p2[160];
  make_session(pair, sizeof pair);
  snprintf(p1, sizeof p1, "HTTP_COOKIE=a=1; %s", pair);
  char *alone[] = {"REQUEST_METHOD=GET", p1, NULL};
  CHECK(finds_session(alone));
  /* the session cookie in the second of two parameters, a forged one first */
  char *second[] = {
      "HTTP_COOKIE=sid=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", p1, NULL};
  CHECK(finds_session(second));
  char *first[] = {p1, "HTTP_COOKIE=sid=garbage", NULL};
  CHECK(finds_session(first));
  /* only the exact parameter name counts */
  snprintf(p2, sizeof p2, "HTTP_COOKIES=%s", pair);
  char *other[] = {p2, "HTTP_COOKIE", NULL};
  CHECK(!finds_session(other));
}

static void test_tls_comes_from_https_param_or_a_trusted_proxy_S8(void) {
  char *on[] = {"HTTPS=on", NULL}, *one[] = {"HTTPS=1", NULL},
       *upper[] = {"HTTPS=ON", NULL};
  char *off[] = {"HTTPS=off", NULL}, *none[] = {NULL};
  char *client[] = {"HTTP_HTTPS=on", NULL}; /* a client's "HTTPS: on" header */
  char *xfp[] = {"HTTP_X_FORWARDED_PROTO=https", NULL};
  char *xfp_list[] = {"HTTP_X_FORWARDED_PROTO= HTTPS, http", NULL};
  char *xfp_second[] = {"HTTP_X_FORWARDED_PROTO=http, https", NULL};
  char *xfp_longer[] = {"HTTP_X_FORWARDED_PROTO=httpsx", NULL};
  CHECK_INT(sessio_fcgi_is_tls(on, 0), 1);
  CHECK_INT(sessio_fcgi_is_tls(one, 0), 1);
  CHECK_INT(sessio_fcgi_is_tls(upper, 0), 1);
  CHECK_INT(sessio_fcgi_is_tls(off, 1), 0);
  CHECK_INT(sessio_fcgi_is_tls(none, 1), 0);
  CHECK_INT(sessio_fcgi_is_tls(NULL, 1), 0);
  CHECK_INT(sessio_fcgi_is_tls(client, 1), 0);
  CHECK_INT(sessio_fcgi_is_tls(xfp, 0), 0);
  CHECK_INT(sessio_fcgi_is_tls(xfp, 1), 1);
  CHECK_INT(sessio_fcgi_is_tls(xfp_list, 1), 1);
  CHECK_INT(sessio_fcgi_is_tls(xfp_second, 1), 0);
  CHECK_INT(sessio_fcgi_is_tls(xfp_longer, 1), 0);
}

static void test_tls_request_gets_the_host_prefixed_secure_cookie_S3_S8(void) {
  char *envp[] = {"HTTPS=on", NULL};
  sessio *s;
  CHECK_OK(sessio_fcgi_begin(mgr, envp, 0, T0, &s));
  CHECK_OK(sessio_set_int(s, "n", 1));
  CHECK_OK(sessio_commit(s, T0));
  const char *sc = sessio_cookie_header(s);
  CHECK(sc != NULL && strncmp(sc, "__Host-sid=", 11) == 0 &&
        strstr(sc, "; Secure") != NULL);
  sessio_free(s);
}

static void test_cookies_over_8_kib_or_too_many_parameters_are_etoobig_S11(
    void) {
  static char big1[5000], big2[5000];
  memcpy(big1, "HTTP_COOKIE=", 12);
  memset(big1 + 12, 'a', sizeof big1 - 13);
  memcpy(big2, big1, sizeof big1);
  char *two[] = {big1, big2, NULL};
  char *one[] = {big1, NULL};
  sessio *s = (sessio *)1;
  CHECK_ERR(sessio_fcgi_begin(mgr, two, 0, T0, &s), SESSIO_ETOOBIG);
  CHECK(s == NULL);
  CHECK_OK(sessio_fcgi_begin(mgr, one, 0, T0, &s));
  sessio_free(s);
  char *many[SESSIO_FCGI_MAX_COOKIE_HEADERS + 2];
  for (int i = 0; i < SESSIO_FCGI_MAX_COOKIE_HEADERS; i++)
    many[i] = "HTTP_COOKIE=a=1";
  many[SESSIO_FCGI_MAX_COOKIE_HEADERS] = NULL;
  CHECK_OK(sessio_fcgi_begin(mgr, many, 0, T0, &s));
  sessio_free(s);
  many[SESSIO_FCGI_MAX_COOKIE_HEADERS] = "HTTP_COOKIE=b=2";
  many[SESSIO_FCGI_MAX_COOKIE_HEADERS + 1] = NULL;
  CHECK_ERR(sessio_fcgi_begin(mgr, many, 0, T0, &s), SESSIO_ETOOBIG);
}

/* An output stream into a buffer; a full buffer closes it (an error). */
static void stream_full(FCGX_Stream *out, int do_close) {
  (void)do_close;
  out->isClosed = 1;
}

static void memory_stream(FCGX_Stream *out, unsigned char *buf, size_t cap) {
  memset(out, 0, sizeof *out);
  out->rdNext = out->wrNext = out->stopUnget = buf;
  out->stop = buf + cap;
  out->emptyBuffProc = stream_full;
}

static void test_commit_writes_set_cookie_no_store_and_vary_lines_S10(void) {
  unsigned char buf[1024];
  FCGX_Stream out;
  char *envp[] = {NULL};
  sessio *s;
  memory_stream(&out, buf, sizeof buf);
  CHECK_OK(sessio_fcgi_begin(mgr, envp, 0, T0, &s));
  CHECK_OK(sessio_set_int(s, "n", 1));
  CHECK_OK(sessio_fcgi_commit(s, &out, T0));
  char expect[512];
  snprintf(expect, sizeof expect,
           "Set-Cookie: %s\r\nCache-Control: no-store\r\nVary: Cookie\r\n",
           sessio_cookie_header(s));
  CHECK_INT(out.wrNext - buf, strlen(expect));
  CHECK(memcmp(buf, expect, strlen(expect)) == 0);
  sessio_free(s);
  /* nothing to send: the two cache lines only */
  memory_stream(&out, buf, sizeof buf);
  CHECK_OK(sessio_fcgi_begin(mgr, envp, 0, T0, &s));
  CHECK_OK(sessio_fcgi_commit(s, &out, T0));
  CHECK_INT(out.wrNext - buf,
            strlen("Cache-Control: no-store\r\nVary: Cookie\r\n"));
  sessio_free(s);
  /* a stream that fails is SESSIO_EIO */
  memory_stream(&out, buf, 10);
  CHECK_OK(sessio_fcgi_begin(mgr, envp, 0, T0, &s));
  CHECK_ERR(sessio_fcgi_write_headers(s, &out), SESSIO_EIO);
  sessio_free(s);
}

int main(void) {
  setup();
  RUN(test_every_http_cookie_parameter_is_read_S12);
  RUN(test_tls_comes_from_https_param_or_a_trusted_proxy_S8);
  RUN(test_tls_request_gets_the_host_prefixed_secure_cookie_S3_S8);
  RUN(test_cookies_over_8_kib_or_too_many_parameters_are_etoobig_S11);
  RUN(test_commit_writes_set_cookie_no_store_and_vary_lines_S10);
  sessio_manager_free(mgr);
  sessio_store_close(st);
  return DONE();
}
