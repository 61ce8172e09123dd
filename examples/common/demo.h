/*
 * demo.h — the small application every sessio server example serves, so
 * that each example shows only its server's glue (begin, commit, headers)
 * and one black-box test suite can check them all alike.
 *
 * Routes:
 *   GET  /, GET /login  the page: counts visits (this creates the session,
 *                       and with it the CSRF token of the sign-in form),
 *                       shows the user and a sign-in or sign-out form
 *   GET  /whoami        read-only: "user NAME\nvisits N\n" or "anonymous\n"
 *   POST /login         form user, password, csrf[, next]: 303 to next
 *   POST /logout        form csrf: ends the session, 303 to /
 * Demo accounts: alice / wonderland, bob / builder.
 */
#ifndef SESSIO_EXAMPLE_DEMO_H
#define SESSIO_EXAMPLE_DEMO_H

#include <stddef.h>
#include <stdint.h>

#include <sessio.h>

/* Request bodies the demo reads are forms of a few fields. */
#define DEMO_BODY_MAX 4096

struct demo_reply {
  int status;
  const char *content_type; /* static */
  char location[512];       /* "" when none */
  char *body;               /* malloc'd, NUL-terminated; demo_reply_free */
  size_t len;
};

/* Answers one request on the session 's' (begun by the integration;
 * committed by it after this returns). 'query' and 'body' may be NULL.
 * Always fills 'r' (500 when out of memory). */
void demo_handle(sessio *s, const char *method, const char *path,
                 const char *query, const char *body, size_t body_len,
                 int64_t now, struct demo_reply *r);

/* A reply with a plain-text 'msg' (for 431, 503, 413...). */
void demo_error(struct demo_reply *r, int status, const char *msg);

void demo_reply_free(struct demo_reply *r);

/* Opens the store at 'url' ("memory:" when NULL) and a manager with the
 * default configuration on it, plus the header-token transport (S30:
 * "Authorization: Bearer ID" for API clients) when 'tokens' is set. 0 on
 * success; else prints why and returns -1. */
int demo_open(const char *url, int tokens, sessio_store **st,
              sessio_manager **mgr);
void demo_close(sessio_store *st, sessio_manager *mgr);

/* Expiry work for the store at most once a second, a few hundred records
 * at a time (bounded, S16); '*last' is the caller's timestamp. */
void demo_gc(sessio_store *st, int64_t now, int64_t *last);

/* Finds 'key' in the form 'form' ('len' bytes, application/x-www-form-
 * urlencoded), URL-decodes its value into 'out' ('cap' bytes with the NUL).
 * 1 when found and it fits, else 0. */
int demo_form_value(const char *form, size_t len, const char *key, char *out,
                    size_t cap);

/* 1 when 'next' is a local path safe to redirect to: starts with one '/',
 * not "//" or "/\" (another host), printable ASCII without quotes. */
int demo_safe_next(const char *next);

/* The reason phrase of an HTTP status the demo uses ("OK", "See Other"). */
const char *demo_status_text(int status);

#endif /* SESSIO_EXAMPLE_DEMO_H */
