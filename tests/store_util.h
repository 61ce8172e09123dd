/*
 * store_util.h — small helpers shared by the store unit tests and the
 * conformance suite: a fresh temporary folder and its removal, a key with
 * every bit depending on a counter, and, under CHECK*, opening a store,
 * refusing a bad URL, saving a string blob, counting a user's sessions and
 * the two-process compare-and-set increment test. The folder and process
 * helpers exist only where _XOPEN_SOURCE >= 700 is defined before the first
 * system header (nftw, mkdtemp, fork). Everything is static inline, so the
 * alloc sweeps compile it under their redirections.
 */
#ifndef SESSIO_TESTS_STORE_UTIL_H
#define SESSIO_TESTS_STORE_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "sessio/store.h"
#include "store/store_internal.h" /* the record-level dispatch wrappers */

/* A key whose 32 bytes all depend on 'i' (splitmix-style), 'seed' apart. */
static inline sessio_key store_util_mixed_key(uint32_t i, uint64_t seed) {
  sessio_key k;
  uint64_t x = (uint64_t)i * 0x9E3779B97F4A7C15ULL + seed;
  for (int w = 0; w < 4; w++) {
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 29;
    memcpy(k.b + 8 * w, &x, 8);
  }
  return k;
}

/* Opens 'url', counting the result as one check; NULL on failure. The caller
 * owns the store. */
static inline sessio_store *store_util_open(const char *url) {
  sessio_store *st = NULL;
  CHECK_OK(sessio_store_open(url, &st));
  return st;
}

/* Checks that opening 'url' is SESSIO_EINVAL and sets the store to NULL
 * (two checks); the URL is printed when the error is another. */
static inline void store_util_check_open_einval(const char *url) {
  sessio_store *st = (sessio_store *)1;
  sessio_err rc = sessio_store_open(url, &st);
  if (rc != SESSIO_EINVAL) fprintf(stderr, "  url %s\n", url);
  CHECK_ERR(rc, SESSIO_EINVAL);
  CHECK(st == NULL);
}

/* Saves the string 'blob' (without its NUL) under 'k', expecting version
 * 'expected', touched and saved at 'now'; counts as one check and returns
 * the new version (0 on failure). 'blob' stays the caller's. */
static inline uint64_t store_util_put(sessio_store *st, const sessio_key *k,
                                      const char *blob, uint64_t expected,
                                      int64_t expires_at, int64_t now) {
  sessio_record r;
  memset(&r, 0, sizeof r);
  r.blob = (uint8_t *)blob;
  r.blob_len = strlen(blob);
  r.expires_at = expires_at;
  r.touched_at = now;
  uint64_t v = 0;
  CHECK_OK(sessio__store_save(st, k, &r, expected, now, &v));
  return v;
}

/* How many sessions sessio__store_user_list() gives for 'user' at 'now',
 * counting the call as one check. The count starts at SIZE_MAX, so a list
 * call that does not set it never passes for a real count. */
static inline size_t store_util_user_count(sessio_store *st, const char *user,
                                           int64_t now) {
  sessio_key *keys = NULL;
  size_t n = SIZE_MAX;
  CHECK_OK(sessio__store_user_list(st, user, now, &keys, &n));
  free(keys);
  return n;
}

#if defined(_XOPEN_SOURCE) && _XOPEN_SOURCE >= 700
#include <ftw.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static inline int store_util_rm_entry(const char *path, const struct stat *sb,
                                      int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

/* Removes 'dir' and everything below it, never following symbolic links. */
static inline void store_util_rm_tree(const char *dir) {
  nftw(dir, store_util_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Removes the folder named in 'dir' (if any) and makes a fresh one,
 * /tmp/<prefix>-XXXXXX, writing its name into 'dir' (cap bytes). Exits with
 * status 2 if none can be made. */
static inline void store_util_fresh_dir(char *dir, size_t cap,
                                        const char *prefix) {
  if (dir[0]) store_util_rm_tree(dir);
  snprintf(dir, cap, "/tmp/%s-XXXXXX", prefix);
  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    exit(2);
  }
}

/* Two forked processes make 'per_child' compare-and-set increments each on
 * a little-endian 8-byte counter stored under 'k' in 'st' (created here at
 * version 1). With 'child_url' set, each child opens its own handle on it;
 * with NULL, the children use 'st', opened before fork(). Checks that both
 * children succeed and that the parent's handle then sees exactly
 * 2 * per_child increments at version 2 * per_child + 1. 'st' stays the
 * caller's. */
static inline void store_util_two_processes_increment(
    sessio_store *st, const char *child_url, sessio_key k, int per_child,
    int64_t now, int64_t expires_at) {
  uint64_t zero = 0, v;
  sessio_record r;
  memset(&r, 0, sizeof r);
  r.blob = (uint8_t *)&zero;
  r.blob_len = 8;
  r.expires_at = expires_at;
  CHECK_OK(sessio__store_save(st, &k, &r, 0, now, &v));
  fflush(NULL);
  pid_t pid[2];
  for (int c = 0; c < 2; c++) {
    pid[c] = fork();
    if (pid[c] == 0) {
      sessio_store *mine = st;
      if (child_url && sessio_store_open(child_url, &mine) != SESSIO_OK)
        _exit(2);
      for (int i = 0; i < per_child;) {
        sessio_record cur;
        int found = 0;
        if (sessio__store_load(mine, &k, now, &cur, &found) != SESSIO_OK ||
            !found || cur.blob_len != 8)
          _exit(3);
        uint64_t n;
        memcpy(&n, cur.blob, 8);
        n++;
        memcpy(cur.blob, &n, 8);
        sessio_err rc =
            sessio__store_save(mine, &k, &cur, cur.version, now, &v);
        sessio_record_clear(&cur);
        if (rc == SESSIO_OK)
          i++;
        else if (rc != SESSIO_ECONFLICT)
          _exit(4);
      }
      if (child_url) sessio_store_close(mine);
      _exit(0);
    }
    CHECK(pid[c] > 0);
  }
  for (int c = 0; c < 2; c++) {
    int status = 0;
    if (pid[c] <= 0) continue;
    CHECK_INT(waitpid(pid[c], &status, 0), pid[c]);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  sessio_record cur;
  int found = 0;
  CHECK_OK(sessio__store_load(st, &k, now, &cur, &found));
  CHECK_INT(found, 1);
  uint64_t n = 0;
  if (found && cur.blob_len == 8) memcpy(&n, cur.blob, 8);
  CHECK_INT(n, 2 * per_child);
  CHECK_INT(cur.version, 2 * per_child + 1);
  sessio_record_clear(&cur);
}
#endif /* _XOPEN_SOURCE >= 700 */

#endif /* SESSIO_TESTS_STORE_UTIL_H */
