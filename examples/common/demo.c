/*
 * demo.c — the demo application behind the server examples (see demo.h):
 * routing, the page, the sign-in and sign-out forms. Knows nothing about
 * any HTTP server: the examples give it the request and send its reply.
 */
#include "demo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
  const char *user, *password;
} accounts[] = {{"alice", "wonderland"}, {"bob", "builder"}};

/* Compares without an early exit, so the time does not tell how much of a
 * guess was right. */
static int same(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  unsigned char d = la != lb;
  for (size_t i = 0; i < la && i < lb; i++) d |= (unsigned char)(a[i] ^ b[i]);
  return d == 0;
}

static int check_password(const char *user, const char *password) {
  int ok = 0;
  for (size_t i = 0; i < sizeof accounts / sizeof accounts[0]; i++)
    ok |= same(user, accounts[i].user) & same(password, accounts[i].password);
  return ok;
}

const char *demo_status_text(int status) {
  switch (status) {
  case 200: return "OK";
  case 303: return "See Other";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 413: return "Content Too Large";
  case 431: return "Request Header Fields Too Large";
  case 503: return "Service Unavailable";
  default: return "Internal Server Error";
  }
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int demo_form_value(const char *form, size_t len, const char *key, char *out,
                    size_t cap) {
  size_t klen = strlen(key), i = 0;
  if (form == NULL) return 0;
  while (i < len) {
    size_t end = i;
    while (end < len && form[end] != '&') end++;
    if (end - i > klen && memcmp(form + i, key, klen) == 0 &&
        form[i + klen] == '=') {
      size_t o = 0;
      for (size_t j = i + klen + 1; j < end; j++) {
        int c = (unsigned char)form[j];
        if (c == '+') {
          c = ' ';
        } else if (c == '%' && j + 2 < end && hexval(form[j + 1]) >= 0 &&
                   hexval(form[j + 2]) >= 0) {
          c = hexval(form[j + 1]) * 16 + hexval(form[j + 2]);
          j += 2;
        }
        if (c == 0 || o + 1 >= cap) return 0;
        out[o++] = (char)c;
      }
      out[o] = '\0';
      return 1;
    }
    i = end + 1;
  }
  return 0;
}

int demo_safe_next(const char *next) {
  if (next[0] != '/' || next[1] == '/' || next[1] == '\\') return 0;
  for (const char *p = next; *p; p++)
    if (*p < 0x21 || *p > 0x7e || *p == '"' || *p == '\'' || *p == '<' ||
        *p == '>' || *p == '\\')
      return 0;
  return 1;
}

static void html(FILE *f, const char *s) {
  for (; *s; s++) {
    switch (*s) {
    case '&': fputs("&amp;", f); break;
    case '<': fputs("&lt;", f); break;
    case '>': fputs("&gt;", f); break;
    case '"': fputs("&quot;", f); break;
    case '\'': fputs("&#39;", f); break;
    default: fputc(*s, f);
    }
  }
}

void demo_error(struct demo_reply *r, int status, const char *msg) {
  free(r->body);
  r->status = status;
  r->content_type = "text/plain; charset=utf-8";
  r->location[0] = '\0';
  r->len = strlen(msg) + 1;
  r->body = malloc(r->len + 1);
  if (r->body == NULL) {
    r->len = 0;
    return;
  }
  memcpy(r->body, msg, r->len - 1);
  memcpy(r->body + r->len - 1, "\n", 2);
}

void demo_reply_free(struct demo_reply *r) {
  free(r->body);
  r->body = NULL;
}

static void redirect(struct demo_reply *r, const char *to) {
  demo_error(r, 303, "see other");
  snprintf(r->location, sizeof r->location, "%s", to);
}

/* The page: counts the visit and shows the forms, both carrying the
 * session's CSRF token (the sign-in form is protected too, S19). */
static void page(sessio *s, const char *query, struct demo_reply *r) {
  int64_t visits = 0;
  char next[256] = "/";
  if (sessio_incr(s, "visits", 1, &visits) != SESSIO_OK) {
    demo_error(r, 500, "cannot count the visit");
    return;
  }
  if (query != NULL &&
      (!demo_form_value(query, strlen(query), "next", next, sizeof next) ||
       !demo_safe_next(next)))
    snprintf(next, sizeof next, "/");
  const char *csrf = sessio_csrf_token(s);
  const char *user = sessio_user(s);
  FILE *f = open_memstream(&r->body, &r->len);
  if (f == NULL) {
    demo_error(r, 500, "out of memory");
    return;
  }
  fputs("<!doctype html>\n<meta charset=\"utf-8\"><title>sessio demo</title>\n",
        f);
  fprintf(f, "<p>Visits: <span id=\"visits\">%lld</span></p>\n",
          (long long)visits);
  if (user != NULL) {
    fputs("<p>Signed in as <span id=\"user\">", f);
    html(f, user);
    fputs("</span></p>\n<form method=\"post\" action=\"/logout\">", f);
    fprintf(f, "<input type=\"hidden\" name=\"csrf\" value=\"%s\">",
            csrf ? csrf : "");
    fputs("<button>Sign out</button></form>\n", f);
  } else {
    fputs("<p>Not signed in.</p>\n<form method=\"post\" action=\"/login\">", f);
    fprintf(f, "<input type=\"hidden\" name=\"csrf\" value=\"%s\">",
            csrf ? csrf : "");
    fputs("<input type=\"hidden\" name=\"next\" value=\"", f);
    html(f, next);
    fputs(
        "\"><input name=\"user\" autocomplete=\"username\"> <input name=\"password\" "
        "type=\"password\" autocomplete=\"current-password\"> <button>Sign in</button>"
        "</form>\n",
        f);
  }
  if (fclose(f) != 0) {
    r->body = NULL;
    demo_error(r, 500, "out of memory");
    return;
  }
  r->status = 200;
  r->content_type = "text/html; charset=utf-8";
}

static void whoami(sessio *s, struct demo_reply *r) {
  char buf[SESSIO_USER_MAX + 64];
  int64_t visits = 0;
  sessio_get_int(s, "visits", &visits);
  if (sessio_user(s) != NULL)
    snprintf(buf, sizeof buf, "user %s\nvisits %lld", sessio_user(s),
             (long long)visits);
  else if (sessio_exists(s))
    snprintf(buf, sizeof buf, "anonymous\nvisits %lld", (long long)visits);
  else
    snprintf(buf, sizeof buf, "anonymous");
  demo_error(r, 200, buf);
}

static int csrf_ok(sessio *s, const char *body, size_t len) {
  char token[SESSIO_CSRF_LEN + 1];
  return demo_form_value(body, len, "csrf", token, sizeof token) &&
         sessio_csrf_check(s, token, strlen(token));
}

static void login(sessio *s, const char *body, size_t len, int64_t now,
                  struct demo_reply *r) {
  char user[SESSIO_USER_MAX + 1], password[256], next[256];
  if (!csrf_ok(s, body, len)) {
    demo_error(r, 403, "missing or wrong CSRF token: reload the page");
    return;
  }
  if (!demo_form_value(body, len, "user", user, sizeof user) ||
      !demo_form_value(body, len, "password", password, sizeof password) ||
      !check_password(user, password)) {
    demo_error(r, 401, "wrong user or password");
    return;
  }
  if (sessio_login(s, user, 0, now) != SESSIO_OK) {
    demo_error(r, 500, "cannot sign in");
    return;
  }
  if (!demo_form_value(body, len, "next", next, sizeof next) ||
      !demo_safe_next(next))
    snprintf(next, sizeof next, "/");
  redirect(r, next);
}

static void logout(sessio *s, const char *body, size_t len,
                   struct demo_reply *r) {
  if (!csrf_ok(s, body, len)) {
    demo_error(r, 403, "missing or wrong CSRF token: reload the page");
    return;
  }
  if (sessio_destroy(s) != SESSIO_OK) {
    demo_error(r, 500, "cannot sign out");
    return;
  }
  redirect(r, "/");
}

void demo_handle(sessio *s, const char *method, const char *path,
                 const char *query, const char *body, size_t body_len,
                 int64_t now, struct demo_reply *r) {
  int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
  int post = strcmp(method, "POST") == 0;
  memset(r, 0, sizeof *r);
  if (strcmp(path, "/") == 0 || strcmp(path, "/login") == 0) {
    if (get)
      page(s, query, r);
    else if (post && strcmp(path, "/login") == 0)
      login(s, body, body_len, now, r);
    else
      demo_error(r, 405, "method not allowed");
  } else if (strcmp(path, "/whoami") == 0) {
    if (get)
      whoami(s, r);
    else
      demo_error(r, 405, "method not allowed");
  } else if (strcmp(path, "/logout") == 0) {
    if (post)
      logout(s, body, body_len, r);
    else
      demo_error(r, 405, "method not allowed");
  } else {
    demo_error(r, 404, "not found");
  }
}

int demo_open(const char *url, int tokens, sessio_store **st,
              sessio_manager **mgr) {
  sessio_config *cfg = NULL;
  sessio_err e = sessio_store_open(url ? url : "memory:", st);
  if (e != SESSIO_OK) {
    fprintf(stderr, "cannot open store %s: %s\n",
            url ? url : "memory:", sessio_strerror(e));
    return -1;
  }
  if ((e = sessio_config_new(&cfg)) == SESSIO_OK &&
      (e = sessio_config_set_store(cfg, *st)) == SESSIO_OK &&
      (e = sessio_config_set_token_transport(cfg, tokens)) == SESSIO_OK)
    e = sessio_manager_new(cfg, mgr);
  sessio_config_free(cfg);
  if (e != SESSIO_OK) {
    fprintf(stderr, "cannot make the session manager: %s\n",
            sessio_strerror(e));
    sessio_store_close(*st);
    return -1;
  }
  return 0;
}

void demo_close(sessio_store *st, sessio_manager *mgr) {
  sessio_manager_free(mgr);
  sessio_store_close(st);
}

void demo_gc(sessio_store *st, int64_t now, int64_t *last) {
  if (now - *last < 1000) return;
  *last = now;
  sessio_store_gc(st, now, 500, NULL, NULL);
}
