/*
 * accounts.c — sessio-shop's user list: name and argon2id hash (libsodium's
 * crypto_pwhash_str format). Either the demo users, hashed at start-up, or
 * a file of "name:$argon2id$..." lines (--users FILE; '#' starts a comment).
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shop.h"

#define USERS_MAX 1024

typedef struct shop_user {
  char name[SESSIO_USER_MAX + 1];
  char hash[crypto_pwhash_STRBYTES];
} shop_user;

struct shop_users {
  size_t n;
  shop_user u[];
};

static const char *const demo[][2] = {{"alice", "wonderland"},
                                      {"bob", "builder"}};

static int name_ok(const char *s, size_t n) {
  if (n == 0 || n > SESSIO_USER_MAX) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c <= 0x20 || c == 0x7f || c == ':') return 0;
  }
  return 1;
}

static int load_file(const char *path, shop_users **out) {
  FILE *f = fopen(path, "r");
  char line[SESSIO_USER_MAX + crypto_pwhash_STRBYTES + 8];
  shop_users *u;
  size_t lineno = 0;
  if (f == NULL) {
    shop_log(LOG_ERROR,
             "msg=\"cannot open users file\" path=\"%s\" error=\"%s\"", path,
             strerror(errno));
    return -1;
  }
  u = calloc(1, sizeof *u + USERS_MAX * sizeof(shop_user));
  if (u == NULL) goto fail_file;
  while (fgets(line, sizeof line, f) != NULL) {
    size_t len = strcspn(line, "\r\n");
    char *colon;
    lineno++;
    line[len] = '\0';
    if (len == 0 || line[0] == '#') continue;
    colon = strchr(line, ':');
    if (colon == NULL || !name_ok(line, (size_t)(colon - line)) ||
        strncmp(colon + 1, "$argon2id$", 10) != 0 ||
        strlen(colon + 1) >= crypto_pwhash_STRBYTES) {
      shop_log(
          LOG_ERROR,
          "msg=\"bad users file line (want name:$argon2id$...)\" path=\"%s\" line=%zu",
          path, lineno);
      goto fail_u;
    }
    if (u->n == USERS_MAX) {
      shop_log(LOG_ERROR, "msg=\"too many users\" max=%d", USERS_MAX);
      goto fail_u;
    }
    memcpy(u->u[u->n].name, line, (size_t)(colon - line));
    strcpy(u->u[u->n].hash, colon + 1);
    u->n++;
  }
  if (u->n == 0) {
    shop_log(LOG_ERROR, "msg=\"users file has no users\" path=\"%s\"", path);
    goto fail_u;
  }
  fclose(f);
  *out = u;
  return 0;
fail_u:
  free(u);
fail_file:
  fclose(f);
  return -1;
}

int users_load(const char *path, shop_users **out) {
  shop_users *u;
  size_t n = sizeof demo / sizeof demo[0];
  *out = NULL;
  if (path != NULL) return load_file(path, out);
  u = calloc(1, sizeof *u + n * sizeof(shop_user));
  if (u == NULL) return -1;
  for (size_t i = 0; i < n; i++) {
    strcpy(u->u[i].name, demo[i][0]);
    if (crypto_pwhash_str(u->u[i].hash, demo[i][1], strlen(demo[i][1]),
                          crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
      free(u);
      return -1;
    }
  }
  u->n = n;
  *out = u;
  return 0;
}

void users_free(shop_users *u) {
  if (u != NULL) sodium_memzero(u, sizeof *u + u->n * sizeof(shop_user));
  free(u);
}

int users_verify(const shop_users *u, const char *user, const char *password) {
  const shop_user *found = NULL;
  size_t plen = strlen(password);
  for (size_t i = 0; i < u->n; i++)
    if (strcmp(u->u[i].name, user) == 0) found = &u->u[i];
  /* An unknown name is checked against the first hash all the same, so the
   * answer takes as long and does not tell which names exist. */
  int ok = crypto_pwhash_str_verify(found ? found->hash : u->u[0].hash,
                                    password, plen) == 0;
  return ok && found != NULL;
}
