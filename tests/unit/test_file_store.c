/*
 * test_file_store.c — what only the file store promises: its URL, record
 * files that detect corruption and truncation (SESSIO_ECORRUPT, no crash),
 * 0600 files and 0700 folders, symbolic links never followed, a crash in
 * the middle of a write leaving the previous record intact, a gc cursor
 * that is bounded and resumes, and compare-and-set between processes. The
 * contract itself is checked for every store by tests/conformance/.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "sessio.h"
#include "sessio/store.h"
#include "store/store_internal.h" /* the record-level dispatch wrappers */
#include "store_util.h"

#define T0 1700000000000LL /* an arbitrary "now" in ms */
#define HOUR 3600000LL

static char dir[64];  /* a fresh folder per test */
static char url[128]; /* "file:<dir>/s" */

static void fresh_dir(void) {
  store_util_fresh_dir(dir, sizeof dir, "sessio-filetest");
  snprintf(url, sizeof url, "file:%s/s", dir);
}

static sessio_store *open_store(void) { return store_util_open(url); }

static sessio_key mk(uint32_t i) { return store_util_mixed_key(i, 0x5eed); }

/* The path of the record file of 'k': <dir>/s/ab/cd/<hex>. */
static void rec_path(const sessio_key *k, char *out, size_t cap) {
  char hex[65];
  for (int i = 0; i < 32; i++) sprintf(hex + 2 * i, "%02x", k->b[i]);
  snprintf(out, cap, "%s/s/%.2s/%.2s/%s", dir, hex, hex + 2, hex);
}

static uint64_t put(sessio_store *st, const sessio_key *k, const char *blob,
                    uint64_t expected, int64_t exp) {
  return store_util_put(st, k, blob, expected, exp, T0);
}

/* Loads 'k' at T0: returns the status, '*found' and the blob in 'buf'. */
static sessio_err get(sessio_store *st, const sessio_key *k, int *found,
                      char *buf, size_t cap) {
  sessio_record r;
  sessio_err rc = sessio__store_load(st, k, T0, &r, found);
  buf[0] = '\0';
  if (rc == SESSIO_OK && *found)
    snprintf(buf, cap, "%.*s", (int)r.blob_len, (const char *)r.blob);
  sessio_record_clear(&r);
  return rc;
}

static long file_size(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

static void test_bad_urls_are_einval(void) {
  fresh_dir();
  const char *bad[] = {"file:",
                       "file:?sync=full",
                       "file:/tmp/x?sync=1",
                       "file:/tmp/x?sync=",
                       "file:/tmp/x?fsync=2",
                       "file:/tmp/x?fsync=",
                       "file:/tmp/x?color=blue"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    store_util_check_open_einval(bad[i]);
  }
  /* A regular file where the folder should be. */
  char path[160], u[200];
  snprintf(path, sizeof path, "%s/plain", dir);
  FILE *f = fopen(path, "w");
  if (f) fclose(f);
  snprintf(u, sizeof u, "file:%s", path);
  sessio_store *st = NULL;
  CHECK(sessio_store_open(u, &st) != SESSIO_OK);
  CHECK(st == NULL);
  /* Good ones: the shared name "sync", and "fsync", its older spelling. */
  snprintf(u, sizeof u, "file:%s/a?sync=full", dir);
  CHECK_OK(sessio_store_open(u, &st));
  CHECK_STR(sessio_store_name(st), "file");
  sessio_store_close(st);
  snprintf(u, sizeof u, "file:%s/b/c?sync=normal", dir);
  CHECK_OK(sessio_store_open(u, &st));
  sessio_store_close(st);
  snprintf(u, sizeof u, "file:%s/d?fsync=1", dir);
  CHECK_OK(sessio_store_open(u, &st));
  sessio_store_close(st);
  snprintf(u, sizeof u, "file:%s/e?fsync=false", dir);
  CHECK_OK(sessio_store_open(u, &st));
  sessio_store_close(st);
}

static void test_files_are_0600_and_folders_0700(void) {
  fresh_dir();
  sessio_store *st = open_store();
  sessio_key k = mk(1);
  put(st, &k, "secret", 0, T0 + HOUR);
  CHECK_OK(sessio__store_user_add(st, "alice", &k, T0 + HOUR, T0));
  char path[256];
  struct stat sb;
  rec_path(&k, path, sizeof path);
  CHECK_INT(stat(path, &sb), 0);
  CHECK_INT(sb.st_mode & 0777, 0600);
  for (int up = 0; up < 3; up++) { /* .../cd, .../ab, <dir>/s */
    *strrchr(path, '/') = '\0';
    CHECK_INT(stat(path, &sb), 0);
    CHECK_INT(sb.st_mode & 0777, 0700);
  }
  /* The user index: every folder 0700, every entry 0600. */
  char ud[200];
  snprintf(ud, sizeof ud, "%s/s/users", dir);
  CHECK_INT(stat(ud, &sb), 0);
  CHECK_INT(sb.st_mode & 0777, 0700);
  DIR *d1 = opendir(ud);
  int entries = 0;
  struct dirent *a, *b, *c;
  while (d1 && (a = readdir(d1)) != NULL) {
    if (a->d_name[0] == '.') continue;
    char p1[600];
    snprintf(p1, sizeof p1, "%s/%s", ud, a->d_name);
    DIR *d2 = opendir(p1);
    while (d2 && (b = readdir(d2)) != NULL) {
      if (b->d_name[0] == '.') continue;
      char p2[900];
      snprintf(p2, sizeof p2, "%s/%s", p1, b->d_name);
      CHECK_INT(stat(p2, &sb), 0);
      CHECK_INT(sb.st_mode & 0777, 0700);
      /* The user name never appears in a path. */
      CHECK(strstr(p2, "alice") == NULL);
      DIR *d3 = opendir(p2);
      while (d3 && (c = readdir(d3)) != NULL) {
        if (c->d_name[0] == '.') continue;
        char p3[1200];
        snprintf(p3, sizeof p3, "%s/%s", p2, c->d_name);
        CHECK_INT(stat(p3, &sb), 0);
        CHECK_INT(sb.st_mode & 0777, 0600);
        entries++;
      }
      if (d3) closedir(d3);
    }
    if (d2) closedir(d2);
  }
  if (d1) closedir(d1);
  CHECK_INT(entries, 1);
  sessio_store_close(st);
}

/* Flips one byte at 'off' (from the end when negative) of 'path'. */
static void flip_byte(const char *path, long off) {
  int fd = open(path, O_RDWR);
  CHECK(fd >= 0);
  if (fd < 0) return;
  long size = file_size(path);
  off_t at = (off_t)(off < 0 ? size + off : off);
  unsigned char c = 0;
  CHECK_INT(pread(fd, &c, 1, at), 1);
  c ^= 0x40;
  CHECK_INT(pwrite(fd, &c, 1, at), 1);
  close(fd);
}

/* S25: an existing store folder with any permission for group or others
 * is refused (SESSIO_EPERM) and left as it was; 0700 opens. */
static void test_folder_open_to_others_is_refused_S25(void) {
  static const mode_t modes[] = {0755, 0750, 0705, 0770, 0701};
  char sub[96], u[128];
  fresh_dir();
  snprintf(sub, sizeof sub, "%s/s", dir);
  snprintf(u, sizeof u, "file:%s", sub);
  CHECK_INT(mkdir(sub, 0700), 0);
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
    CHECK_INT(chmod(sub, modes[i]), 0);
    sessio_store *st = NULL;
    CHECK_ERR(sessio_store_open(u, &st), SESSIO_EPERM);
    CHECK(st == NULL);
    struct stat sb;
    CHECK_INT(stat(sub, &sb), 0);
    CHECK_INT(sb.st_mode & 0777, (int)modes[i]);
  }
  CHECK_INT(chmod(sub, 0700), 0);
  sessio_store *st = NULL;
  CHECK_OK(sessio_store_open(u, &st));
  sessio_store_close(st);
}

static void test_corrupted_record_is_detected(void) {
  fresh_dir();
  sessio_store *st = open_store();
  char path[256], buf[64];
  int found = 9;
  /* A byte flipped in the header, the blob, and the checksum. */
  long where[] = {0, 20, 90, -3};
  for (size_t i = 0; i < sizeof where / sizeof where[0]; i++) {
    sessio_key k = mk(10 + (uint32_t)i);
    put(st, &k, "a blob of some length", 0, T0 + HOUR);
    rec_path(&k, path, sizeof path);
    flip_byte(path, where[i]);
    found = 9;
    CHECK_ERR(get(st, &k, &found, buf, sizeof buf), SESSIO_ECORRUPT);
    CHECK_INT(found, 0);
    /* An update cannot check the version: it fails the same way. */
    sessio_record r;
    memset(&r, 0, sizeof r);
    r.expires_at = T0 + HOUR;
    uint64_t v;
    CHECK_ERR(sessio__store_save(st, &k, &r, 1, T0, &v), SESSIO_ECORRUPT);
  }
  sessio_store_close(st);
}

static void test_truncated_or_empty_record_is_detected(void) {
  fresh_dir();
  sessio_store *st = open_store();
  char path[256], buf[64];
  int found;
  long keep[] = {0, 7, 79, 95, -1 /* one byte short */};
  for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
    sessio_key k = mk(20 + (uint32_t)i);
    put(st, &k, "a blob of some length", 0, T0 + HOUR);
    rec_path(&k, path, sizeof path);
    long size = file_size(path);
    CHECK_INT(truncate(path, keep[i] < 0 ? size + keep[i] : keep[i]), 0);
    found = 9;
    CHECK_ERR(get(st, &k, &found, buf, sizeof buf), SESSIO_ECORRUPT);
    CHECK_INT(found, 0);
  }
  /* Garbage of a plausible size. */
  sessio_key k = mk(29);
  put(st, &k, "x", 0, T0 + HOUR);
  rec_path(&k, path, sizeof path);
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (f) {
    for (int i = 0; i < 200; i++) fputc(i * 7, f);
    fclose(f);
  }
  CHECK_ERR(get(st, &k, &found, buf, sizeof buf), SESSIO_ECORRUPT);
  sessio_store_close(st);
}

static void test_create_replaces_an_unreadable_record_and_gc_removes_one(void) {
  fresh_dir();
  sessio_store *st = open_store();
  char path[256], buf[64];
  int found;
  sessio_key a = mk(30), b = mk(31);
  put(st, &a, "one", 0, T0 + HOUR);
  put(st, &b, "two", 0, T0 + HOUR);
  rec_path(&a, path, sizeof path);
  CHECK_INT(truncate(path, 10), 0);
  CHECK(put(st, &a, "fresh", 0, T0 + HOUR) == 1);
  CHECK_OK(get(st, &a, &found, buf, sizeof buf));
  CHECK_STR(buf, "fresh");
  rec_path(&b, path, sizeof path);
  CHECK_INT(truncate(path, 10), 0);
  size_t removed = 0, total = 0;
  int done = 0;
  for (int i = 0; i < 1000 && !done; i++) {
    CHECK_OK(sessio_store_gc(st, T0, 100, &removed, &done));
    total += removed;
  }
  CHECK_INT(total, 1);
  CHECK_INT(file_size(path), -1);
  CHECK_OK(get(st, &a, &found, buf, sizeof buf));
  CHECK_INT(found, 1);
  sessio_store_close(st);
}

static void test_symlink_in_place_of_a_record_is_not_followed(void) {
  fresh_dir();
  sessio_store *st = open_store();
  char path[256], target[256], buf[64];
  int found;
  sessio_key k = mk(40), other = mk(41);
  put(st, &k, "mine", 0, T0 + HOUR);
  put(st, &other, "victim", 0, T0 + HOUR);
  /* Make k's record a link to 'other''s file (a well-formed record). */
  rec_path(&k, path, sizeof path);
  rec_path(&other, target, sizeof target);
  CHECK_INT(unlink(path), 0);
  CHECK_INT(symlink(target, path), 0);
  CHECK_ERR(get(st, &k, &found, buf, sizeof buf), SESSIO_ECORRUPT);
  CHECK_INT(found, 0);
  /* A create replaces the link itself, never writes through it. */
  CHECK(put(st, &k, "new", 0, T0 + HOUR) == 1);
  struct stat sb;
  CHECK_INT(lstat(path, &sb), 0);
  CHECK(S_ISREG(sb.st_mode));
  CHECK_OK(get(st, &other, &found, buf, sizeof buf));
  CHECK_STR(buf, "victim");
  sessio_store_close(st);
}

static void test_symlinked_bucket_folder_is_not_followed(void) {
  fresh_dir();
  sessio_store *st = open_store();
  char path[256], elsewhere[200], buf[64];
  int found;
  sessio_key k = mk(50);
  put(st, &k, "mine", 0, T0 + HOUR);
  rec_path(&k, path, sizeof path);
  *strrchr(path, '/') = '\0'; /* the bucket .../ab/cd */
  snprintf(elsewhere, sizeof elsewhere, "%s/elsewhere", dir);
  CHECK_INT(rename(path, elsewhere), 0);
  CHECK_INT(symlink(elsewhere, path), 0);
  /* Reads and writes through the link fail; nothing lands elsewhere. */
  CHECK(get(st, &k, &found, buf, sizeof buf) != SESSIO_OK);
  CHECK_INT(found, 0);
  sessio_record r;
  memset(&r, 0, sizeof r);
  r.expires_at = T0 + HOUR;
  uint64_t v;
  CHECK(sessio__store_save(st, &k, &r, 1, T0, &v) != SESSIO_OK);
  DIR *d = opendir(elsewhere);
  int n = 0;
  struct dirent *de;
  while (d && (de = readdir(d)) != NULL) n += de->d_name[0] != '.';
  if (d) closedir(d);
  CHECK_INT(n, 1); /* only the original record */
  sessio_store_close(st);
}

/* A writer killed between creating its temporary file and the rename
 * leaves ".<hex>.tmp": the record keeps its previous content, the next
 * write succeeds, and gc clears the leftover. */
static void test_crash_mid_write_leaves_the_previous_record(void) {
  fresh_dir();
  sessio_store *st = open_store();
  char path[256], tmp[300], buf[64];
  int found;
  sessio_key k = mk(60);
  uint64_t v = put(st, &k, "before", 0, T0 + HOUR);
  rec_path(&k, path, sizeof path);
  char *slash = strrchr(path, '/');
  snprintf(tmp, sizeof tmp, "%.*s/.%s.tmp", (int)(slash - path), path,
           slash + 1);
  FILE *f = fopen(tmp, "w");
  CHECK(f != NULL);
  if (f) {
    fputs("SSIOFREC half a rec", f);
    fclose(f);
  }
  CHECK_OK(get(st, &k, &found, buf, sizeof buf));
  CHECK_STR(buf, "before");
  /* The leftover does not block the next write. */
  uint64_t v2 = put(st, &k, "after", v, T0 + HOUR);
  CHECK_INT(v2, v + 1);
  CHECK_OK(get(st, &k, &found, buf, sizeof buf));
  CHECK_STR(buf, "after");
  /* The leftover was overwritten: it now holds the previous version. */
  CHECK(file_size(tmp) != (long)strlen("SSIOFREC half a rec"));
  /* Another crash; this time gc clears it without touching the record. */
  f = fopen(tmp, "w");
  if (f) fclose(f);
  int done = 0;
  size_t removed = 0;
  for (int i = 0; i < 100 && !done; i++)
    CHECK_OK(sessio_store_gc(st, T0, 50, &removed, &done));
  CHECK_INT(file_size(tmp), -1);
  CHECK_OK(get(st, &k, &found, buf, sizeof buf));
  CHECK_STR(buf, "after");
  sessio_store_close(st);
}

/* S17: removing a record leaves no earlier version of it on disk (the
 * previous version kept as the next write's temporary file goes too). */
static void test_remove_leaves_no_previous_version_on_disk(void) {
  fresh_dir();
  sessio_store *st = open_store();
  char path[256];
  sessio_key k = mk(65);
  uint64_t v = put(st, &k, "version one", 0, T0 + HOUR);
  put(st, &k, "version two", v, T0 + HOUR);
  rec_path(&k, path, sizeof path);
  *strrchr(path, '/') = '\0';
  int removed = 0;
  CHECK_OK(sessio__store_remove(st, &k, T0, &removed));
  CHECK_INT(removed, 1);
  DIR *d = opendir(path);
  int n = 0;
  struct dirent *de;
  while (d && (de = readdir(d)) != NULL)
    n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
  if (d) closedir(d);
  CHECK_INT(n, 0);
  sessio_store_close(st);
}

/* S16: each call does at most max_work units and the next call continues
 * where the last stopped: a pass over N records takes about N / max_work
 * calls, every dead one is removed once, no live one is touched. */
static void test_gc_cursor_is_bounded_and_resumes(void) {
  enum { DEAD = 120, LIVE = 80, MAX_WORK = 7 };
  fresh_dir();
  sessio_store *st = open_store();
  for (uint32_t i = 0; i < DEAD + LIVE; i++) {
    sessio_key k = mk(1000 + i);
    put(st, &k, "g", 0, i < DEAD ? T0 + 10 : T0 + HOUR);
  }
  const int64_t t = T0 + 1000;
  size_t total = 0, calls = 0, max_removed = 0;
  int done = 0;
  while (!done && calls < 100000) {
    size_t removed = 0;
    CHECK_OK(sessio_store_gc(st, t, MAX_WORK, &removed, &done));
    if (removed > max_removed) max_removed = removed;
    total += removed;
    calls++;
  }
  CHECK_INT(total, DEAD);
  CHECK(max_removed <= MAX_WORK);
  /* Every record examined once, MAX_WORK per call: at least this many
   * calls, and not many more (folders listed count as work too). */
  CHECK(calls >= (DEAD + LIVE) / MAX_WORK);
  CHECK(calls <= 4 * (DEAD + LIVE) / MAX_WORK + 10);
  printf("# gc pass over %d records: %zu calls of %d units\n", DEAD + LIVE,
         calls, MAX_WORK);
  for (uint32_t i = 0; i < DEAD + LIVE; i++) {
    sessio_key k = mk(1000 + i);
    char buf[8];
    int found = 0;
    CHECK_OK(get(st, &k, &found, buf, sizeof buf)); /* loads at T0 */
    CHECK_INT(found, i >= DEAD);
  }
  /* The next pass starts again from the beginning and finds nothing. */
  done = 0;
  total = 0;
  while (!done) {
    size_t removed = 0;
    CHECK_OK(sessio_store_gc(st, t, 1000, &removed, &done));
    total += removed;
  }
  CHECK_INT(total, 0);
  sessio_store_close(st);
}

/* The cursor lives in the handle: a gc of max_work 1 never removes more
 * than one record and half a pass leaves exactly the rest for later. */
static void test_gc_with_one_unit_per_call_makes_progress(void) {
  fresh_dir();
  sessio_store *st = open_store();
  for (uint32_t i = 0; i < 10; i++) {
    sessio_key k = mk(2000 + i);
    put(st, &k, "g", 0, T0 + 10);
  }
  size_t total = 0, calls = 0;
  int done = 0;
  while (!done && calls < 10000) {
    size_t removed = 0;
    CHECK_OK(sessio_store_gc(st, T0 + 100, 1, &removed, &done));
    CHECK(removed <= 1);
    total += removed;
    calls++;
  }
  CHECK_INT(total, 10);
  CHECK(calls >= 10);
  sessio_store_close(st);
}

static void test_user_index_is_shared_between_handles(void) {
  fresh_dir();
  sessio_store *a = open_store(), *b = open_store();
  sessio_key k1 = mk(70), k2 = mk(71);
  CHECK_OK(sessio__store_user_add(a, "bob", &k1, T0 + HOUR, T0));
  CHECK_OK(sessio__store_user_add(b, "bob", &k2, T0 + 10, T0));
  sessio_key *keys = NULL;
  size_t n = 0;
  CHECK_OK(sessio__store_user_list(b, "bob", T0, &keys, &n));
  CHECK_INT(n, 2);
  free(keys);
  CHECK_OK(sessio__store_user_list(a, "bob", T0 + 100, &keys, &n));
  CHECK_INT(n, 1);
  if (n == 1) CHECK(memcmp(keys[0].b, k1.b, 32) == 0);
  free(keys);
  /* gc drops the dead pair; the live one stays. */
  int done = 0;
  size_t removed;
  while (!done) CHECK_OK(sessio_store_gc(b, T0 + 100, 50, &removed, &done));
  CHECK_INT(store_util_user_count(a, "bob", T0), 1);
  CHECK_OK(sessio__store_user_remove(a, "bob", &k1));
  CHECK_OK(sessio__store_user_list(b, "bob", T0, &keys, &n));
  CHECK_INT(n, 0);
  CHECK(keys == NULL);
  /* The emptied user folder goes at the next pass; add still works. */
  done = 0;
  while (!done) CHECK_OK(sessio_store_gc(b, T0, 50, &removed, &done));
  CHECK_OK(sessio__store_user_add(a, "bob", &k2, T0 + HOUR, T0));
  CHECK_INT(store_util_user_count(b, "bob", T0), 1);
  sessio_store_close(a);
  sessio_store_close(b);
}

/* gc removes a dead record's user index entry along with it. */
static void test_gc_of_a_dead_record_drops_its_index_entry(void) {
  fresh_dir();
  sessio_store *st = open_store();
  sessio_key k = mk(80);
  sessio_record r;
  memset(&r, 0, sizeof r);
  r.expires_at = T0 + 10;
  snprintf(r.user, sizeof r.user, "carol");
  uint64_t v;
  CHECK_OK(sessio__store_save(st, &k, &r, 0, T0, &v));
  CHECK_OK(sessio__store_user_add(st, "carol", &k, T0 + HOUR, T0));
  int done = 0;
  size_t removed = 0, total = 0;
  while (!done) {
    CHECK_OK(sessio_store_gc(st, T0 + 100, 50, &removed, &done));
    total += removed;
  }
  CHECK_INT(total, 1);
  CHECK_INT(store_util_user_count(st, "carol", T0), 0);
  sessio_store_close(st);
}

/* The cursor is kept in DIR/gc.cursor: a new handle (a restarted process)
 * goes on from where the last one stopped instead of starting over. A dead
 * record added behind the saved position waits for the next pass. */
static void test_gc_cursor_survives_reopen(void) {
  fresh_dir();
  sessio_store *st = open_store();
  for (uint32_t i = 0; i < 60; i++) {
    sessio_key k = mk(3000 + i);
    k.b[0] = (uint8_t)(0x80 + i % 32);
    put(st, &k, "g", 0, T0 + 10);
  }
  size_t r1 = 0, removed = 0;
  int done = 0;
  for (int i = 0; i < 2; i++) {
    CHECK_OK(sessio_store_gc(st, T0 + 100, 10, &removed, &done));
    r1 += removed;
  }
  CHECK(r1 > 0 && r1 < 60);
  CHECK_INT(done, 0);
  sessio_store_close(st);

  st = open_store();
  sessio_key behind = mk(3100);
  behind.b[0] = 0x00;
  put(st, &behind, "g", 0, T0 + 10);
  size_t r2 = 0;
  done = 0;
  for (int i = 0; i < 10000 && !done; i++) {
    CHECK_OK(sessio_store_gc(st, T0 + 100, 10, &removed, &done));
    r2 += removed;
  }
  CHECK_INT(r1 + r2, 60);
  char path[256];
  rec_path(&behind, path, sizeof path);
  CHECK(file_size(path) > 0); /* not reached in the resumed pass */
  size_t r3 = 0;
  done = 0;
  for (int i = 0; i < 10000 && !done; i++) {
    CHECK_OK(sessio_store_gc(st, T0 + 100, 10, &removed, &done));
    r3 += removed;
  }
  CHECK_INT(r3, 1);
  CHECK_INT(file_size(path), -1);
  sessio_store_close(st);
}

/* Loads take no lock while commits rewrite the record: a reader must never
 * report a well-written record as corrupt (a torn read is read again). */
struct torn_ctx {
  sessio_store *st;
  sessio_key key;
  _Atomic int stop;
  long loads, corrupt, errors, missing;
};

static void *torn_reader(void *arg) {
  struct torn_ctx *c = arg;
  while (!atomic_load(&c->stop)) {
    sessio_record r;
    int found = 0;
    sessio_err rc = sessio__store_load(c->st, &c->key, T0, &r, &found);
    if (rc == SESSIO_ECORRUPT)
      c->corrupt++;
    else if (rc != SESSIO_OK)
      c->errors++;
    else if (!found)
      c->missing++;
    sessio_record_clear(&r);
    c->loads++;
  }
  return NULL;
}

static void test_lock_free_loads_never_see_a_torn_record(void) {
  enum { WRITES = 3000, READERS = 2 };
  static char big[6000];
  memset(big, 'b', sizeof big - 1);
  fresh_dir();
  sessio_store *st = open_store();
  struct torn_ctx c[READERS];
  pthread_t th[READERS];
  sessio_key k = mk(95);
  uint64_t v = put(st, &k, "start", 0, T0 + HOUR);
  for (int i = 0; i < READERS; i++) {
    memset(&c[i], 0, sizeof c[i]);
    c[i].st = st;
    c[i].key = k;
    CHECK_INT(pthread_create(&th[i], NULL, torn_reader, &c[i]), 0);
  }
  for (int i = 0; i < WRITES; i++) /* sizes alternate: short and long */
    v = put(st, &k, i % 2 ? "short" : big, v, T0 + HOUR);
  long loads = 0;
  for (int i = 0; i < READERS; i++) {
    atomic_store(&c[i].stop, 1);
    pthread_join(th[i], NULL);
    CHECK_INT(c[i].corrupt, 0);
    CHECK_INT(c[i].errors, 0);
    CHECK_INT(c[i].missing, 0);
    loads += c[i].loads;
  }
  CHECK_INT(v, WRITES + 1);
  printf("# %d writes, %ld concurrent loads\n", WRITES, loads);
  sessio_store_close(st);
}

/* Two processes, each with its own handle, 200 compare-and-set increments
 * each on one record: the short lock makes the total exact. */
static void test_two_processes_lose_no_increment(void) {
  fresh_dir();
  sessio_store *st = open_store();
  store_util_two_processes_increment(st, url, mk(90), 200, T0, T0 + HOUR);
  sessio_store_close(st);
}

int main(void) {
  RUN(test_bad_urls_are_einval);
  RUN(test_files_are_0600_and_folders_0700);
  RUN(test_folder_open_to_others_is_refused_S25);
  RUN(test_corrupted_record_is_detected);
  RUN(test_truncated_or_empty_record_is_detected);
  RUN(test_create_replaces_an_unreadable_record_and_gc_removes_one);
  RUN(test_symlink_in_place_of_a_record_is_not_followed);
  RUN(test_symlinked_bucket_folder_is_not_followed);
  RUN(test_crash_mid_write_leaves_the_previous_record);
  RUN(test_remove_leaves_no_previous_version_on_disk);
  RUN(test_gc_cursor_is_bounded_and_resumes);
  RUN(test_gc_with_one_unit_per_call_makes_progress);
  RUN(test_user_index_is_shared_between_handles);
  RUN(test_gc_of_a_dead_record_drops_its_index_entry);
  RUN(test_gc_cursor_survives_reopen);
  RUN(test_lock_free_loads_never_see_a_torn_record);
  RUN(test_two_processes_lose_no_increment);
  if (dir[0]) store_util_rm_tree(dir);
  return DONE();
}
