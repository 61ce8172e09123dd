/*
 * file.c — the file store, "file:DIR[?sync=full&max_sessions=N]": one record per file at
 * DIR/ab/cd/<64 hex of the key>, written atomically (temporary file in the
 * same folder, optional fsync, rename) while a short flock on the bucket
 * folder makes the compare-and-set race-free between threads and processes.
 * The per-user index is DIR/users/ab/<user hash>/<key hex>; gc() walks both
 * trees with a cursor kept between calls. With max_sessions, new guest
 * sessions are refused while an estimate of the live records (counted by
 * each gc pass, moved by this process's creates and removes) is at the
 * bound. The contract: sessio/store.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <sodium.h>

#include "crypto.h"
#include "helpers.h"
#include "store_internal.h"

/*
 * Record file format, all integers little-endian:
 *
 *    0  magic "SSIOFREC"           8 bytes
 *    8  format (1)                 u32
 *   12  user_len (<= 128)          u32
 *   16  version                    u64
 *   24  expires_at                 i64
 *   32  touched_at                 i64
 *   40  blob_len                   u64
 *   48  key                        32 bytes (must match the file name)
 *   80  user                       user_len bytes, no NUL
 *    .. blob                       blob_len bytes
 *    .. checksum                   BLAKE2b-128 of everything before it
 *
 * Any mismatch (short file, wrong magic, format, lengths, key or checksum)
 * is SESSIO_ECORRUPT. The index entry format is "SSIOUIDX", expires_at
 * (i64) and BLAKE2b-128 of those 16 bytes.
 */
#define REC_MAGIC "SSIOFREC"
#define REC_FORMAT 1u
#define REC_HDR 80
#define SUM_LEN 16
#define REC_MAX_FILE (64u << 20) /* refuse to read files over 64 MiB */
#define IDX_MAGIC "SSIOUIDX"
#define IDX_LEN (16 + SUM_LEN)
#define KEY_HEX 64
#define USER_HEX 32
#define OPEN_DIR (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
#define OPEN_FILE (O_RDONLY | O_NOFOLLOW | O_CLOEXEC)

/* A sorted list of malloc()ed names, owned by the list. */
typedef struct names {
  char **v;
  size_t n, cap;
} names;

/* The gc cursor over one two-level tree (records or the user index):
 * position = (level-1 folder, level-2 folder, last leaf name handled). The
 * folder lists are read when the cursor enters them, so names added behind
 * the cursor wait for the next pass. */
typedef struct walker {
  int active;
  names l1;
  size_t i1;
  int l2_loaded;
  names l2;
  size_t i2;
  char last[96];
} walker;

/* A gc position read from DIR/gc.cursor at open: the walker of the saved
 * phase skips to it when it next lists its folders. */
typedef struct gc_resume {
  int pending;
  char l1[3];
  char l2[USER_HEX + 1];
  char last[96];
} gc_resume;

typedef struct file_store {
  sessio_store base;
  int dirfd;    /* DIR, open for the store's lifetime */
  int fsync_on; /* ?fsync=1 */
  /* Level-1 record folders DIR/ab, opened on first use and kept: folders
   * are never removed, so a cached descriptor stays right. -1 = not yet. */
  _Atomic int l1fd[256];
  pthread_mutex_t gc_mu; /* guards the cursor below */
  int gc_phase;          /* 0: records, 1: user index */
  walker w_rec, w_user;
  gc_resume resume;
  sessio_store_collect_fn gc_cb; /* collect's report, NULL for gc; gc_mu */
  void *gc_ud;
  _Atomic uint64_t expired;
  /* The guest bound (?max_sessions=N, 0: none). Counting the live records
   * of a folder tree means reading every file, so the bound uses an
   * estimate: the record files at open (dead ones too: no file is read),
   * replaced at the end of each whole gc pass over the records by the live
   * records that pass saw plus this process's creates minus its removes
   * since the pass began. It cannot drift for longer than one pass;
   * between passes it misses other processes' creates and still counts
   * records that died since. */
  uint64_t max_sessions;
  _Atomic int64_t live_est;   /* the estimate */
  _Atomic int64_t pass_delta; /* creates - removes since the pass began */
  int64_t pass_live;          /* live records seen by the pass (gc_mu) */
  int pass_whole;             /* the pass began at the start (gc_mu) */
} file_store;

/* ---- small helpers ------------------------------------------------------ */

static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}
static uint64_t get64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static int is_hex_name(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return 0;
  }
  return s[len] == '\0';
}
static int want_hex2(const char *s) { return is_hex_name(s, 2); }
static int want_user(const char *s) { return is_hex_name(s, USER_HEX); }
static int want_key(const char *s) { return is_hex_name(s, KEY_HEX); }
/* Record leaves: records and the temporary files of interrupted writes. */
static int want_rec_leaf(const char *s) {
  size_t n = strlen(s);
  return want_key(s) ||
         (s[0] == '.' && n > 4 && strcmp(s + n - 4, ".tmp") == 0);
}

static int unhex_key(const char *s, sessio_key *out) {
  return sessio__unhex(s, SESSIO_KEY_BYTES, out->b);
}

static sessio_err errno_err(int e) {
  switch (e) {
  case ENOMEM: return SESSIO_ENOMEM;
  default: return SESSIO_EIO;
  }
}

static void sum16(const void *p, size_t n, uint8_t out[SUM_LEN]) {
  crypto_generichash_blake2b(out, SUM_LEN, p, n, NULL, 0);
}

static void names_free(names *l) {
  for (size_t i = 0; i < l->n; i++) free(l->v[i]);
  free(l->v);
  memset(l, 0, sizeof *l);
}

static int cmp_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads the names of folder 'parent'/'name' that 'want' accepts into a new
 * sorted list. ENOENT is an empty list. */
static sessio_err names_read(int parent, const char *name,
                             int (*want)(const char *), names *out) {
  memset(out, 0, sizeof *out);
  int fd = openat(parent, name, OPEN_DIR);
  if (fd < 0) return errno == ENOENT ? SESSIO_OK : errno_err(errno);
  DIR *d = fdopendir(fd);
  if (d == NULL) {
    close(fd);
    return errno_err(errno);
  }
  sessio_err rc = SESSIO_OK;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (!want(de->d_name)) continue;
    if (out->n == out->cap) {
      size_t cap = out->cap ? out->cap * 2 : 16;
      char **v = realloc(out->v, cap * sizeof *v);
      if (v == NULL) {
        rc = SESSIO_ENOMEM;
        goto fail_list;
      }
      out->v = v;
      out->cap = cap;
    }
    if ((out->v[out->n] = strdup(de->d_name)) == NULL) {
      rc = SESSIO_ENOMEM;
      goto fail_list;
    }
    out->n++;
  }
  closedir(d);
  if (out->n > 1) qsort(out->v, out->n, sizeof *out->v, cmp_name);
  return SESSIO_OK;
fail_list:
  closedir(d);
  names_free(out);
  return rc;
}

static int lock_fd(int fd, int op) {
  while (flock(fd, op) != 0)
    if (errno != EINTR) return -1;
  return 0;
}

/* Opens (and with 'create', makes) folder 'name' below 'parent' without
 * following a symbolic link. -1 with errno on failure. */
static int subdir_open(file_store *fs, int parent, const char *name,
                       int create) {
  int fd = openat(parent, name, OPEN_DIR);
  if (fd < 0 && errno == ENOENT && create) {
    if (mkdirat(parent, name, 0700) != 0 && errno != EEXIST) return -1;
    if (fs->fsync_on) fsync(parent);
    fd = openat(parent, name, OPEN_DIR);
  }
  return fd;
}

static void key_names(const sessio_key *key, char hex[KEY_HEX + 1], char l1[3],
                      char l2[3]) {
  sessio__hex(key->b, SESSIO_KEY_BYTES, hex);
  memcpy(l1, hex, 2);
  l1[2] = '\0';
  memcpy(l2, hex + 2, 2);
  l2[2] = '\0';
}

/* The cached descriptor of DIR/'l1' (not to be closed by the caller). */
static int l1_get(file_store *fs, const char l1[3], int create) {
  int idx = (int)strtol(l1, NULL, 16);
  int fd = atomic_load(&fs->l1fd[idx]);
  if (fd >= 0) return fd;
  fd = subdir_open(fs, fs->dirfd, l1, create);
  if (fd < 0) return -1;
  int expected = -1;
  if (!atomic_compare_exchange_strong(&fs->l1fd[idx], &expected, fd)) {
    close(fd);
    fd = expected;
  }
  return fd;
}

/* Opens the bucket folder DIR/ab/cd of a key; the caller closes it. */
static int bucket_open(file_store *fs, const char l1[3], const char l2[3],
                       int create) {
  int p = l1_get(fs, l1, create);
  if (p < 0) return -1;
  return subdir_open(fs, p, l2, create);
}

/* ---- record files ------------------------------------------------------- */

/* Reads and checks the record 'name' in folder 'dfd'. '*exists' is 0 when
 * there is no such file. With 'want_blob' the blob goes to out->blob
 * (malloc()ed, the caller's); otherwise out->blob stays NULL. */
static sessio_err rec_read(int dfd, const char *name, const sessio_key *key,
                           int want_blob, sessio_record *out, int *exists) {
  sessio_err rc = SESSIO_ECORRUPT;
  uint8_t *buf = NULL;
  *exists = 0;
  memset(out, 0, sizeof *out);
  int fd = openat(dfd, name, OPEN_FILE);
  if (fd < 0) {
    if (errno == ENOENT) return SESSIO_OK;
    *exists = 1;
    /* A symbolic link or a folder where a record should be is not a
     * record we wrote: unreadable, never followed. */
    return (errno == ELOOP || errno == EISDIR) ? SESSIO_ECORRUPT
                                               : errno_err(errno);
  }
  *exists = 1;
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    rc = errno_err(errno);
    goto fail_fd;
  }
  if (!S_ISREG(sb.st_mode) || sb.st_size < REC_HDR + SUM_LEN ||
      (uint64_t)sb.st_size > REC_MAX_FILE)
    goto fail_fd;
  size_t size = (size_t)sb.st_size;
  /* Without the blob, the header and the user are enough... except that
   * the checksum covers the whole file, so read it all either way. */
  if ((buf = malloc(size)) == NULL) {
    rc = SESSIO_ENOMEM;
    goto fail_fd;
  }
  size_t got = 0;
  while (got < size) {
    ssize_t r = read(fd, buf + got, size - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      rc = errno_err(errno);
      goto fail_buf;
    }
    if (r == 0) goto fail_buf; /* shorter than fstat said */
    got += (size_t)r;
  }
  uint8_t sum[SUM_LEN];
  sum16(buf, size - SUM_LEN, sum);
  if (memcmp(buf, REC_MAGIC, 8) != 0 || get32(buf + 8) != REC_FORMAT ||
      sodium_memcmp(sum, buf + size - SUM_LEN, SUM_LEN) != 0)
    goto fail_buf;
  uint32_t user_len = get32(buf + 12);
  uint64_t blob_len = get64(buf + 40);
  if (user_len > SESSIO_USER_MAX ||
      blob_len != size - REC_HDR - SUM_LEN - user_len ||
      memcmp(buf + 48, key->b, SESSIO_KEY_BYTES) != 0 ||
      memchr(buf + REC_HDR, '\0', user_len) != NULL)
    goto fail_buf;
  out->version = get64(buf + 16);
  out->expires_at = (int64_t)get64(buf + 24);
  out->touched_at = (int64_t)get64(buf + 32);
  if (out->version == 0) goto fail_buf;
  memcpy(out->user, buf + REC_HDR, user_len);
  out->user[user_len] = '\0';
  if (want_blob) {
    /* Reuse the read buffer as the blob: move it to the front. */
    memmove(buf, buf + REC_HDR + user_len, (size_t)blob_len);
    out->blob = buf;
    out->blob_len = (size_t)blob_len;
    buf = NULL;
  }
  rc = SESSIO_OK;
fail_buf:
  free(buf);
fail_fd:
  close(fd);
  return rc;
}

/* rec_read without the bucket lock. The file a reader opened may, after
 * two more commits, become the temporary file that a third commit rewrites
 * in place (see file_replace), so a lock-free read can see a torn record:
 * its checksum fails, and reading the name again gets the current one. A
 * record that is really damaged fails every time. */
static sessio_err rec_read_unlocked(int dfd, const char *name,
                                    const sessio_key *key, sessio_record *out,
                                    int *exists) {
  sessio_err rc = SESSIO_ECORRUPT;
  for (int attempt = 0; attempt < 4 && rc == SESSIO_ECORRUPT; attempt++)
    rc = rec_read(dfd, name, key, 1, out, exists);
  return rc;
}

static int write_all(int fd, struct iovec *iov, int n) {
  while (n > 0) {
    ssize_t w = writev(fd, iov, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return -1;
    size_t left = (size_t)w;
    while (n > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      iov++;
      n--;
    }
    if (n > 0) {
      iov->iov_base = (uint8_t *)iov->iov_base + left;
      iov->iov_len -= left;
    }
  }
  return 0;
}

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

/* Puts 'tmp' in the place of the existing 'name' by exchanging the two
 * names: as atomic for readers as a rename, and the previous record stays
 * as the next write's temporary file (see file_replace). Falls back to a
 * rename where the exchange is not supported. */
static int swap_in(int dfd, const char *tmp, const char *name) {
#ifdef SYS_renameat2
  if (syscall(SYS_renameat2, dfd, tmp, dfd, name, RENAME_EXCHANGE) == 0)
    return 0;
  if (errno != EINVAL && errno != ENOSYS && errno != ENOENT) return -1;
#endif
  return renameat(dfd, tmp, dfd, name);
}

/* Writes 'n' pieces as file 'name' in folder 'dfd' atomically: the whole
 * content goes to the temporary file ".<name>.tmp" (0600, never through a
 * link), fsync when configured, then it takes the place of 'name' (by
 * exchange when 'exists'), then fsync of the folder. The caller holds the
 * folder's lock, so the temporary name is its own.
 *
 * Why an exchange and a reused temporary file: on ext4 (auto_da_alloc),
 * renaming a file over another one, or truncating one to zero, starts the
 * write-back of its data at once, about 0.3 ms per commit here, and making
 * and unlinking an inode per commit costs another 0.05 ms. Exchanging keeps
 * the previous version as ".<name>.tmp", which the next write overwrites in
 * place and cuts to length. A crash mid-write leaves only that file
 * damaged; remove() and gc delete it along with the record. */
static sessio_err file_replace(file_store *fs, int dfd, const char *name,
                               int exists, struct iovec *iov, int n) {
  char tmp[KEY_HEX + 8];
  size_t total = 0;
  for (int i = 0; i < n; i++) total += iov[i].iov_len;
  snprintf(tmp, sizeof tmp, ".%s.tmp", name);
  int fd = openat(dfd, tmp, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0) {
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_nlink != 1) {
      close(fd);
      fd = -1;
      errno = EEXIST;
    }
  }
  if (fd < 0) {
    if (errno != ENOENT) unlinkat(dfd, tmp, 0); /* a link or oddity */
    fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                0600);
  }
  if (fd < 0) return errno_err(errno);
  sessio_err rc = SESSIO_EIO;
  if (write_all(fd, iov, n) != 0) goto fail_tmp;
  if (ftruncate(fd, (off_t)total) != 0) goto fail_tmp;
  if (fs->fsync_on && fsync(fd) != 0) goto fail_tmp;
  int cr = close(fd);
  fd = -1;
  if (cr != 0) goto fail_tmp;
  if ((exists ? swap_in(dfd, tmp, name) : renameat(dfd, tmp, dfd, name)) != 0)
    goto fail_tmp;
  if (fs->fsync_on && fsync(dfd) != 0) return SESSIO_EIO;
  return SESSIO_OK;
fail_tmp:
  if (fd >= 0) close(fd);
  unlinkat(dfd, tmp, 0);
  return rc;
}

/* Unlinks the temporary twin ".<name>.tmp" of a record (lock held). */
static void twin_unlink(int dfd, const char *name) {
  char tmp[KEY_HEX + 8];
  snprintf(tmp, sizeof tmp, ".%s.tmp", name);
  unlinkat(dfd, tmp, 0);
}

static sessio_err rec_write(file_store *fs, int dfd, const char *name,
                            int exists, const sessio_key *key, uint64_t version,
                            int64_t expires_at, int64_t touched_at,
                            const char *user, const uint8_t *blob,
                            size_t blob_len) {
  size_t user_len = strnlen(user, SESSIO_USER_MAX + 1);
  if (user_len > SESSIO_USER_MAX) return SESSIO_EINVAL;
  if (blob_len > REC_MAX_FILE - REC_HDR - SUM_LEN - SESSIO_USER_MAX)
    return SESSIO_ETOOBIG;
  uint8_t hdr[REC_HDR], sum[SUM_LEN];
  memcpy(hdr, REC_MAGIC, 8);
  put32(hdr + 8, REC_FORMAT);
  put32(hdr + 12, (uint32_t)user_len);
  put64(hdr + 16, version);
  put64(hdr + 24, (uint64_t)expires_at);
  put64(hdr + 32, (uint64_t)touched_at);
  put64(hdr + 40, (uint64_t)blob_len);
  memcpy(hdr + 48, key->b, SESSIO_KEY_BYTES);
  crypto_generichash_blake2b_state h;
  crypto_generichash_blake2b_init(&h, NULL, 0, SUM_LEN);
  crypto_generichash_blake2b_update(&h, hdr, sizeof hdr);
  crypto_generichash_blake2b_update(&h, (const uint8_t *)user, user_len);
  if (blob_len > 0) crypto_generichash_blake2b_update(&h, blob, blob_len);
  crypto_generichash_blake2b_final(&h, sum, SUM_LEN);
  struct iovec iov[4] = {{hdr, sizeof hdr},
                         {(void *)user, user_len},
                         {(void *)blob, blob_len},
                         {sum, SUM_LEN}};
  return file_replace(fs, dfd, name, exists, iov, 4);
}

/* ---- the methods -------------------------------------------------------- */

static sessio_err f_load(sessio_store *st, const sessio_key *key, int64_t now,
                         sessio_record *out, int *found) {
  file_store *fs = (file_store *)st;
  char hex[KEY_HEX + 1], l1[3], l2[3];
  key_names(key, hex, l1, l2);
  *found = 0;
  /* No lock: the name always points to a complete file (see
   * rec_read_unlocked for the one exception and how it is handled). */
  int dfd = bucket_open(fs, l1, l2, 0);
  if (dfd < 0) return errno == ENOENT ? SESSIO_OK : errno_err(errno);
  int exists;
  sessio_err rc = rec_read_unlocked(dfd, hex, key, out, &exists);
  close(dfd);
  if (rc != SESSIO_OK || !exists) return rc;
  if (now >= out->expires_at) {
    sessio_record_clear(out);
    memset(out, 0, sizeof *out);
    return SESSIO_OK;
  }
  *found = 1;
  return SESSIO_OK;
}

/* Opens and locks the bucket of 'key' for a read-compare-write. Without
 * 'create', a missing bucket is SESSIO_OK with '*dfd' = -1. */
static sessio_err bucket_lock(file_store *fs, const sessio_key *key, int create,
                              char hex[KEY_HEX + 1], int *dfd) {
  char l1[3], l2[3];
  key_names(key, hex, l1, l2);
  *dfd = bucket_open(fs, l1, l2, create);
  if (*dfd < 0) /* no bucket: no record (save always creates it) */
    return errno == ENOENT && !create ? SESSIO_OK : errno_err(errno);
  if (lock_fd(*dfd, LOCK_EX) != 0) {
    int e = errno;
    close(*dfd);
    *dfd = -1;
    return errno_err(e);
  }
  return SESSIO_OK;
}

static sessio_err f_save(sessio_store *st, const sessio_key *key,
                         const sessio_record *rec, uint64_t expected,
                         int64_t now, uint64_t *new_version) {
  file_store *fs = (file_store *)st;
  char hex[KEY_HEX + 1];
  int dfd, exists;
  sessio_record cur;
  if (rec->blob == NULL && rec->blob_len > 0) return SESSIO_EINVAL;
  /* A new guest session past the bound is refused; a signed-in one is
   * always written, so a guest flood cannot lock users out. */
  if (expected == 0 && fs->max_sessions && rec->user[0] == '\0' &&
      atomic_load(&fs->live_est) >= (int64_t)fs->max_sessions)
    return SESSIO_EFULL;
  sessio_err rc = bucket_lock(fs, key, 1, hex, &dfd);
  if (rc != SESSIO_OK) return rc;
  rc = rec_read(dfd, hex, key, 0, &cur, &exists);
  if (rc == SESSIO_ECORRUPT && expected == 0) {
    /* An unreadable file under a fresh key: creating replaces it. */
    exists = 0;
    rc = SESSIO_OK;
  }
  if (rc != SESSIO_OK) goto done;
  int live = exists && now < cur.expires_at;
  if (expected == 0 ? live : (!live || cur.version != expected)) {
    rc = SESSIO_ECONFLICT;
    goto done;
  }
  rc = rec_write(fs, dfd, hex, exists, key, expected + 1, rec->expires_at,
                 rec->touched_at, rec->user, rec->blob, rec->blob_len);
  if (rc == SESSIO_OK) *new_version = expected + 1;
  if (rc == SESSIO_OK && expected == 0 && fs->max_sessions) {
    atomic_fetch_add(&fs->live_est, 1);
    atomic_fetch_add(&fs->pass_delta, 1);
  }
done:
  close(dfd); /* releases the lock */
  return rc;
}

static sessio_err f_touch(sessio_store *st, const sessio_key *key,
                          int64_t touched_at, int64_t expires_at, int64_t now,
                          int *found) {
  file_store *fs = (file_store *)st;
  char hex[KEY_HEX + 1];
  int dfd, exists;
  sessio_record cur;
  *found = 0;
  sessio_err rc = bucket_lock(fs, key, 0, hex, &dfd);
  if (rc != SESSIO_OK || dfd < 0) return rc;
  rc = rec_read(dfd, hex, key, 1, &cur, &exists);
  if (rc != SESSIO_OK || !exists || now >= cur.expires_at) goto done;
  rc = rec_write(fs, dfd, hex, 1, key, cur.version, expires_at, touched_at,
                 cur.user, cur.blob, cur.blob_len);
  if (rc == SESSIO_OK) *found = 1;
done:
  sessio_record_clear(&cur);
  close(dfd);
  return rc;
}

static sessio_err f_remove(sessio_store *st, const sessio_key *key, int64_t now,
                           int *removed) {
  file_store *fs = (file_store *)st;
  (void)now; /* the file goes, live or dead */
  char hex[KEY_HEX + 1];
  int dfd;
  *removed = 0;
  sessio_err rc = bucket_lock(fs, key, 0, hex, &dfd);
  if (rc != SESSIO_OK || dfd < 0) return rc;
  twin_unlink(dfd, hex); /* the previous version goes too (S17) */
  if (unlinkat(dfd, hex, 0) == 0) {
    *removed = 1;
    if (fs->max_sessions) {
      atomic_fetch_sub(&fs->live_est, 1);
      atomic_fetch_sub(&fs->pass_delta, 1);
    }
    if (fs->fsync_on && fsync(dfd) != 0) rc = SESSIO_EIO;
  } else if (errno != ENOENT) {
    rc = errno_err(errno);
  }
  close(dfd);
  return rc;
}

/* ---- the per-user index ------------------------------------------------- */

/* DIR/users/ab/<32 hex of BLAKE2b-128(user)>: the user name never appears
 * in a path (it may hold any byte and is personal data). */
static void user_names(const char *user, char uh[USER_HEX + 1], char l1[3]) {
  uint8_t h[USER_HEX / 2];
  crypto_generichash_blake2b(h, sizeof h, (const uint8_t *)user, strlen(user),
                             NULL, 0);
  sessio__hex(h, sizeof h, uh);
  memcpy(l1, uh, 2);
  l1[2] = '\0';
}

/* Opens DIR/users/ab/<uh>; the caller closes it. -1 with errno. */
static int user_dir_open(file_store *fs, const char *user, int create) {
  char uh[USER_HEX + 1], l1[3];
  user_names(user, uh, l1);
  int a = subdir_open(fs, fs->dirfd, "users", create);
  if (a < 0) return -1;
  int b = subdir_open(fs, a, l1, create);
  int e = errno;
  close(a);
  if (b < 0) {
    errno = e;
    return -1;
  }
  int c = subdir_open(fs, b, uh, create);
  e = errno;
  close(b);
  errno = e;
  return c;
}

/* Reads an index entry: 1 and '*expires_at', or 0 when unreadable. */
static int idx_read(int dfd, const char *name, int64_t *expires_at) {
  uint8_t b[IDX_LEN + 1], sum[SUM_LEN];
  int fd = openat(dfd, name, OPEN_FILE);
  if (fd < 0) return 0;
  ssize_t n;
  do n = read(fd, b, sizeof b);
  while (n < 0 && errno == EINTR);
  close(fd);
  if (n != IDX_LEN || memcmp(b, IDX_MAGIC, 8) != 0) return 0;
  sum16(b, 16, sum);
  if (memcmp(sum, b + 16, SUM_LEN) != 0) return 0;
  *expires_at = (int64_t)get64(b + 8);
  return 1;
}

static sessio_err f_user_add(sessio_store *st, const char *user,
                             const sessio_key *key, int64_t expires_at,
                             int64_t now) {
  file_store *fs = (file_store *)st;
  (void)now; /* the entry holds expires_at; user_list and gc compare it */
  char hex[KEY_HEX + 1];
  uint8_t b[IDX_LEN];
  sessio__hex(key->b, SESSIO_KEY_BYTES, hex);
  memcpy(b, IDX_MAGIC, 8);
  put64(b + 8, (uint64_t)expires_at);
  sum16(b, 16, b + 16);
  sessio_err rc = SESSIO_EIO;
  /* gc removes an emptied user folder under its lock; a writer that opened
   * it just before sees ENOENT when it creates its file, and starts over. */
  for (int attempt = 0; attempt < 5; attempt++) {
    int dfd = user_dir_open(fs, user, 1);
    if (dfd < 0) return errno_err(errno);
    if (lock_fd(dfd, LOCK_EX) != 0) {
      rc = errno_err(errno);
      close(dfd);
      return rc;
    }
    struct iovec iov[1] = {{b, sizeof b}};
    errno = 0;
    rc = file_replace(fs, dfd, hex, 0, iov, 1);
    int e = errno;
    close(dfd);
    if (rc == SESSIO_OK || e != ENOENT) break;
  }
  return rc;
}

static sessio_err f_user_list(sessio_store *st, const char *user, int64_t now,
                              sessio_key **keys, size_t *n) {
  file_store *fs = (file_store *)st;
  *keys = NULL;
  *n = 0;
  int dfd = user_dir_open(fs, user, 0);
  if (dfd < 0) return errno == ENOENT ? SESSIO_OK : errno_err(errno);
  names l;
  sessio_err rc = names_read(dfd, ".", want_key, &l);
  if (rc != SESSIO_OK) goto fail_dir;
  if (l.n == 0) goto done;
  if ((*keys = malloc(l.n * sizeof **keys)) == NULL) {
    rc = SESSIO_ENOMEM;
    goto fail_names;
  }
  for (size_t i = 0; i < l.n; i++) {
    int64_t exp;
    if (idx_read(dfd, l.v[i], &exp) && now < exp &&
        unhex_key(l.v[i], &(*keys)[*n]))
      (*n)++;
  }
  if (*n == 0) {
    free(*keys);
    *keys = NULL;
  }
done:
fail_names:
  names_free(&l);
fail_dir:
  close(dfd);
  return rc;
}

static sessio_err f_user_remove(sessio_store *st, const char *user,
                                const sessio_key *key) {
  file_store *fs = (file_store *)st;
  char hex[KEY_HEX + 1];
  sessio__hex(key->b, SESSIO_KEY_BYTES, hex);
  int dfd = user_dir_open(fs, user, 0);
  if (dfd < 0) return errno == ENOENT ? SESSIO_OK : errno_err(errno);
  sessio_err rc = SESSIO_OK;
  if (lock_fd(dfd, LOCK_EX) != 0)
    rc = errno_err(errno);
  else if (unlinkat(dfd, hex, 0) != 0 && errno != ENOENT)
    rc = errno_err(errno);
  close(dfd);
  return rc;
}

/* User-index cursor: "UH KEYHEX", the user folder and the entry last
 * visited ("" before the first). Folders and names are read sorted, so the
 * walk is in (user digest, key) order and resumes after that pair. A user
 * folder costs a unit on top of its entries, so empty ones still move the
 * walk on. */
static sessio_err f_user_scan(sessio_store *st, sessio_store_cursor *cur,
                              size_t max_work, sessio_store_user_iter_fn cb,
                              void *ud, int *done) {
  file_store *fs = (file_store *)st;
  char luh[USER_HEX + 1] = "", lkey[KEY_HEX + 1] = "";
  size_t work = 0;
  names a, b, c;
  *done = 0;
  if (cur->text[0]) {
    if (sscanf(cur->text, "%32s %64s", luh, lkey) < 1 || !want_user(luh) ||
        (lkey[0] && !want_key(lkey)))
      return SESSIO_EINVAL;
  }
  if (max_work == 0) max_work = 1;
  int root = openat(fs->dirfd, "users", OPEN_DIR);
  if (root < 0) {
    if (errno != ENOENT) return errno_err(errno);
    *done = 1; /* no index yet */
    cur->text[0] = '\0';
    return SESSIO_OK;
  }
  sessio_err rc = names_read(root, ".", want_hex2, &a);
  if (rc != SESSIO_OK) goto fail_root;
  for (size_t i = 0; i < a.n && work < max_work && rc == SESSIO_OK; i++) {
    if (luh[0] && strncmp(a.v[i], luh, 2) < 0) continue;
    int p1 = openat(root, a.v[i], OPEN_DIR);
    if (p1 < 0) continue;
    if ((rc = names_read(p1, ".", want_user, &b)) != SESSIO_OK) {
      close(p1);
      break;
    }
    for (size_t j = 0; j < b.n && work < max_work && rc == SESSIO_OK; j++) {
      int same = luh[0] && strcmp(b.v[j], luh) == 0;
      if (luh[0] && strcmp(b.v[j], luh) < 0) continue;
      int dfd = openat(p1, b.v[j], OPEN_DIR);
      if (dfd < 0) continue;
      if ((rc = names_read(dfd, ".", want_key, &c)) != SESSIO_OK) {
        close(dfd);
        break;
      }
      sessio_store_user_entry e;
      memset(&e, 0, sizeof e);
      sessio__unhex(b.v[j], USER_HEX / 2, e.user_hash);
      if (!same) {
        memcpy(luh, b.v[j], USER_HEX + 1);
        lkey[0] = '\0';
        work++;
      }
      for (size_t k = 0; k < c.n && work < max_work; k++) {
        if (lkey[0] && strcmp(c.v[k], lkey) <= 0) continue;
        if (!unhex_key(c.v[k], &e.key)) continue;
        if (!idx_read(dfd, c.v[k], &e.expires_at)) e.expires_at = INT64_MIN;
        memcpy(lkey, c.v[k], KEY_HEX + 1);
        work++;
        (void)cb(ud, &e);
      }
      names_free(&c);
      close(dfd);
    }
    names_free(&b);
    close(p1);
  }
  names_free(&a);
fail_root:
  close(root);
  if (rc != SESSIO_OK) return rc;
  if (work < max_work) {
    *done = 1;
    cur->text[0] = '\0';
  } else {
    snprintf(cur->text, sizeof cur->text, "%s %s", luh, lkey);
  }
  return SESSIO_OK;
}

/* Removes an entry by the user's digest: the index folder is named by it,
 * so an entry whose user name is unknown can still go. */
static sessio_err f_user_entry_remove(sessio_store *st,
                                      const sessio_store_user_entry *e) {
  file_store *fs = (file_store *)st;
  char uh[USER_HEX + 1], l1[3], hex[KEY_HEX + 1];
  sessio__hex(e->user_hash, USER_HEX / 2, uh);
  memcpy(l1, uh, 2);
  l1[2] = '\0';
  sessio__hex(e->key.b, SESSIO_KEY_BYTES, hex);
  int a = openat(fs->dirfd, "users", OPEN_DIR);
  if (a < 0) return errno == ENOENT ? SESSIO_OK : errno_err(errno);
  int b = openat(a, l1, OPEN_DIR);
  close(a);
  if (b < 0) return errno == ENOENT ? SESSIO_OK : errno_err(errno);
  int dfd = openat(b, uh, OPEN_DIR);
  close(b);
  if (dfd < 0) return errno == ENOENT ? SESSIO_OK : errno_err(errno);
  sessio_err rc = SESSIO_OK;
  if (lock_fd(dfd, LOCK_EX) != 0)
    rc = errno_err(errno);
  else if (unlinkat(dfd, hex, 0) != 0 && errno != ENOENT)
    rc = errno_err(errno);
  close(dfd);
  return rc;
}

/* A temporary file ".<name>.tmp" (a writer's, or the previous version a
 * write keeps beside its record) whose record <name> is not there: a crash
 * interrupted the first write of a record or index entry. */
static int orphan_twin(int dfd, const char *leaf) {
  size_t n = strlen(leaf);
  char name[KEY_HEX + 1];
  struct stat sb;
  if (n != KEY_HEX + 5 || leaf[0] != '.' || strcmp(leaf + n - 4, ".tmp") != 0)
    return 0;
  memcpy(name, leaf + 1, KEY_HEX);
  name[KEY_HEX] = '\0';
  if (!want_key(name)) return 0;
  return fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT;
}

static int want_dot_tmp(const char *s) {
  size_t n = strlen(s);
  return s[0] == '.' && n > 5 && strcmp(s + n - 4, ".tmp") == 0;
}

/* Sweep cursor: "T L1 L2", the tree (0 records, 1 user index) and the
 * last leaf folder handled ("" to start). One unit per leaf folder and per
 * leftover. Leftovers are checked and removed under the folder's lock, the
 * one writers hold while their temporary file is theirs. */
static sessio_err f_sweep(sessio_store *st, sessio_store_cursor *cur,
                          size_t max_work, int repair, sessio_store_sweep_fn cb,
                          void *ud, int *done) {
  file_store *fs = (file_store *)st;
  int tree = 0;
  char l1[3] = "", l2[USER_HEX + 1] = "";
  size_t work = 0;
  sessio_err rc = SESSIO_OK;
  *done = 0;
  if (cur->text[0] && (sscanf(cur->text, "%d %2s %32s", &tree, l1, l2) != 3 ||
                       (tree != 0 && tree != 1) || !want_hex2(l1) ||
                       !(tree ? want_user(l2) : want_hex2(l2))))
    return SESSIO_EINVAL;
  if (max_work == 0) max_work = 1;
  for (; tree < 2 && work < max_work && rc == SESSIO_OK; tree++) {
    int root = tree ? openat(fs->dirfd, "users", OPEN_DIR) : fs->dirfd;
    if (root < 0) {
      if (errno != ENOENT) rc = errno_err(errno);
      l1[0] = l2[0] = '\0';
      continue;
    }
    names a, b, c;
    if ((rc = names_read(root, ".", want_hex2, &a)) != SESSIO_OK) {
      if (tree) close(root);
      break;
    }
    for (size_t i = 0; i < a.n && work < max_work && rc == SESSIO_OK; i++) {
      if (l1[0] && strcmp(a.v[i], l1) < 0) continue;
      int p1 = openat(root, a.v[i], OPEN_DIR);
      if (p1 < 0) continue;
      rc = names_read(p1, ".", tree ? want_user : want_hex2, &b);
      for (size_t j = 0; j < b.n && work < max_work && rc == SESSIO_OK; j++) {
        if (l1[0] && strcmp(a.v[i], l1) == 0 && strcmp(b.v[j], l2) <= 0)
          continue;
        int dfd = openat(p1, b.v[j], OPEN_DIR);
        if (dfd < 0) continue;
        work++;
        snprintf(l1, sizeof l1, "%s", a.v[i]);
        snprintf(l2, sizeof l2, "%s", b.v[j]);
        if ((rc = names_read(dfd, ".", want_dot_tmp, &c)) != SESSIO_OK) {
          close(dfd);
          break;
        }
        if (c.n > 0 && lock_fd(dfd, LOCK_EX) != 0) rc = errno_err(errno);
        for (size_t k = 0; k < c.n && rc == SESSIO_OK; k++) {
          char where[128];
          if (!orphan_twin(dfd, c.v[k])) continue;
          int gone = repair && unlinkat(dfd, c.v[k], 0) == 0;
          snprintf(where, sizeof where, "%s%s/%s/%s", tree ? "users/" : "",
                   a.v[i], b.v[j], c.v[k]);
          cb(ud, "temporary file without its record", where, gone);
          work++;
        }
        names_free(&c);
        close(dfd); /* releases the lock */
      }
      names_free(&b);
      close(p1);
    }
    names_free(&a);
    if (tree) close(root);
    if (work < max_work && rc == SESSIO_OK)
      l1[0] = l2[0] = '\0';
    else
      break;
  }
  if (rc != SESSIO_OK) return rc;
  if (tree >= 2) {
    *done = 1;
    cur->text[0] = '\0';
  } else {
    snprintf(cur->text, sizeof cur->text, "%d %s %s", tree, l1, l2);
  }
  return SESSIO_OK;
}

/* ---- gc ----------------------------------------------------------------- */

/* Examines leaves of the record bucket 'dfd' (locked by the caller). */
static void gc_rec_leaf(file_store *fs, int dfd, const char *name, int64_t now,
                        size_t *removed) {
  if (name[0] == '.') {
    /* Writers hold this lock while their temporary file exists, so one
     * seen now was left by a crash. */
    unlinkat(dfd, name, 0);
    return;
  }
  sessio_key key;
  sessio_record cur;
  int exists;
  if (!unhex_key(name, &key)) return;
  sessio_err rc = rec_read(dfd, name, &key, 0, &cur, &exists);
  if (!exists) return;
  if (rc == SESSIO_OK && now < cur.expires_at) fs->pass_live++;
  if (rc == SESSIO_ECORRUPT || (rc == SESSIO_OK && now >= cur.expires_at)) {
    twin_unlink(dfd, name);
    if (unlinkat(dfd, name, 0) == 0) {
      (*removed)++;
      atomic_fetch_add(&fs->expired, 1);
      if (rc == SESSIO_OK && cur.user[0] != '\0')
        f_user_remove(&fs->base, cur.user, &key);
      /* The header was read and checked: its user is the record's. An
       * unreadable file is reported with its key only. */
      if (fs->gc_cb)
        fs->gc_cb(fs->gc_ud, &key, rc == SESSIO_OK ? cur.user : "");
    }
  }
}

static void gc_user_leaf(file_store *fs, int dfd, const char *name, int64_t now,
                         size_t *removed) {
  (void)fs;
  (void)removed;
  int64_t exp;
  if (!idx_read(dfd, name, &exp) || now >= exp) unlinkat(dfd, name, 0);
}

typedef struct tree {
  int is_users;
  int (*want_l2)(const char *);
  int (*want_leaf)(const char *);
  void (*leaf)(file_store *fs, int dfd, const char *name, int64_t now,
               size_t *removed);
} tree;

static const tree rec_tree = {0, want_hex2, want_rec_leaf, gc_rec_leaf};
static const tree user_tree = {1, want_user, want_key, gc_user_leaf};

static void walker_reset(walker *w) {
  names_free(&w->l1);
  names_free(&w->l2);
  memset(w, 0, sizeof *w);
}

/* One slice of a pass over 'tr'. Counts a folder listing or a leaf as one
 * unit. Returns 1 when the pass has just finished. */
static sessio_err gc_walk(file_store *fs, const tree *tr, walker *w,
                          gc_resume *rs, int64_t now, size_t max_work,
                          size_t *work, size_t *removed, int *finished) {
  sessio_err rc = SESSIO_OK;
  int root = -1;
  *finished = 0;
  if (tr->is_users) {
    root = openat(fs->dirfd, "users", OPEN_DIR);
    if (root < 0 && errno != ENOENT) return errno_err(errno);
    if (root < 0) { /* no index yet: an empty pass */
      (*work)++;
      walker_reset(w);
      *finished = 1;
      return SESSIO_OK;
    }
  } else {
    root = fs->dirfd;
  }
  while (*work < max_work) {
    if (!w->active) {
      walker_reset(w);
      if ((rc = names_read(root, ".", want_hex2, &w->l1)) != SESSIO_OK) break;
      w->active = 1;
      if (rs != NULL && rs->pending) {
        while (w->i1 < w->l1.n && strcmp(w->l1.v[w->i1], rs->l1) < 0) w->i1++;
        if (w->i1 >= w->l1.n || strcmp(w->l1.v[w->i1], rs->l1) != 0)
          rs->pending = 0;
      }
      (*work)++;
      continue;
    }
    if (w->i1 >= w->l1.n) {
      walker_reset(w);
      *finished = 1;
      break;
    }
    int p1 = openat(root, w->l1.v[w->i1], OPEN_DIR);
    if (p1 < 0) { /* gone or not a folder: skip it */
      w->i1++;
      w->l2_loaded = 0;
      (*work)++;
      continue;
    }
    if (!w->l2_loaded) {
      names_free(&w->l2);
      rc = names_read(p1, ".", tr->want_l2, &w->l2);
      close(p1);
      if (rc != SESSIO_OK) break;
      w->l2_loaded = 1;
      w->i2 = 0;
      w->last[0] = '\0';
      if (rs != NULL && rs->pending) {
        while (w->i2 < w->l2.n && strcmp(w->l2.v[w->i2], rs->l2) < 0) w->i2++;
        if (w->i2 < w->l2.n && strcmp(w->l2.v[w->i2], rs->l2) == 0)
          snprintf(w->last, sizeof w->last, "%s", rs->last);
        rs->pending = 0;
      }
      (*work)++;
      continue;
    }
    if (w->i2 >= w->l2.n) {
      close(p1);
      w->i1++;
      w->l2_loaded = 0;
      continue;
    }
    /* One leaf folder: list it, lock it, handle leaves after 'last'. */
    const char *l2name = w->l2.v[w->i2];
    int dfd = openat(p1, l2name, OPEN_DIR);
    names leaves;
    if (dfd < 0 || names_read(dfd, ".", tr->want_leaf, &leaves) != SESSIO_OK ||
        lock_fd(dfd, LOCK_EX) != 0) {
      if (dfd >= 0) close(dfd);
      close(p1);
      w->i2++;
      w->last[0] = '\0';
      (*work)++;
      continue;
    }
    size_t i = 0;
    while (i < leaves.n && strcmp(leaves.v[i], w->last) <= 0) i++;
    /* The listing is not kept between calls, so it costs a unit only when
     * it leads to no leaf: this way max_work 1 still moves forward. */
    if (i >= leaves.n) (*work)++;
    size_t handled = 0;
    for (; i < leaves.n && *work < max_work; i++) {
      tr->leaf(fs, dfd, leaves.v[i], now, removed);
      snprintf(w->last, sizeof w->last, "%s", leaves.v[i]);
      (*work)++;
      handled++;
    }
    int bucket_done = i >= leaves.n;
    if (bucket_done) {
      if (tr->is_users && handled == leaves.n) {
        /* Every entry examined in one go; drop the folder if it is now
         * empty (fails with ENOTEMPTY otherwise). Under its lock, so
         * user_add retries on its side. */
        unlinkat(p1, l2name, AT_REMOVEDIR);
      }
      w->i2++;
      w->last[0] = '\0';
    }
    names_free(&leaves);
    close(dfd);
    close(p1);
  }
  if (tr->is_users) close(root);
  return rc;
}

/* The cursor is also written to DIR/gc.cursor after each gc call and read
 * at open, so that short-lived processes (a cron job doing a little gc
 * each time) still get through a whole pass. Best effort: a lost or stale
 * cursor only means part of a pass is walked twice or later. Format:
 * "sessio-gc-cursor 1 PHASE L1 L2 LAST", '-' for an empty field. */
static void cursor_save(file_store *fs) {
  walker *w = fs->gc_phase ? &fs->w_user : &fs->w_rec;
  const char *l1 = "-", *l2 = "-", *last = "-";
  char buf[256];
  if (w->active && w->i1 < w->l1.n) {
    l1 = w->l1.v[w->i1];
    if (w->l2_loaded && w->i2 < w->l2.n) {
      l2 = w->l2.v[w->i2];
      if (w->last[0]) last = w->last;
    }
  }
  int n = snprintf(buf, sizeof buf, "sessio-gc-cursor 1 %d %s %s %s\n",
                   fs->gc_phase, l1, l2, last);
  if (n <= 0 || (size_t)n >= sizeof buf) return;
  struct iovec iov[1] = {{buf, (size_t)n}};
  /* The temporary name is shared by every process: take DIR's lock. */
  if (lock_fd(fs->dirfd, LOCK_EX) != 0) return;
  file_replace(fs, fs->dirfd, "gc.cursor", 0, iov, 1);
  lock_fd(fs->dirfd, LOCK_UN);
}

static void cursor_load(file_store *fs) {
  char buf[256], l1[8], l2[40], last[100];
  int phase;
  int fd = openat(fs->dirfd, "gc.cursor", OPEN_FILE);
  if (fd < 0) return;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return;
  buf[n] = '\0';
  if (sscanf(buf, "sessio-gc-cursor 1 %d %7s %39s %99s", &phase, l1, l2,
             last) != 4 ||
      (phase != 0 && phase != 1) || !want_hex2(l1))
    return;
  fs->gc_phase = phase;
  fs->resume.pending = 1;
  memcpy(fs->resume.l1, l1, 3); /* checked: 2 hex digits */
  if (phase ? want_user(l2) : want_hex2(l2))
    memcpy(fs->resume.l2, l2, strlen(l2) + 1);
  if (strlen(last) < sizeof fs->resume.last &&
      (phase ? want_key(last) : want_rec_leaf(last)))
    memcpy(fs->resume.last, last, strlen(last) + 1);
}

static sessio_err f_collect(sessio_store *st, int64_t now, size_t max_work,
                            sessio_store_collect_fn cb, void *ud,
                            size_t *removed, int *done) {
  file_store *fs = (file_store *)st;
  size_t work = 0;
  sessio_err rc = SESSIO_OK;
  *done = 0;
  pthread_mutex_lock(&fs->gc_mu);
  fs->gc_cb = cb;
  fs->gc_ud = ud;
  while (work < max_work && rc == SESSIO_OK && !*done) {
    int finished = 0;
    if (fs->gc_phase == 0) {
      if (!fs->w_rec.active) { /* a pass over the records begins */
        fs->pass_live = 0;
        atomic_store(&fs->pass_delta, 0);
        fs->pass_whole = !fs->resume.pending;
      }
      rc = gc_walk(fs, &rec_tree, &fs->w_rec, &fs->resume, now, max_work, &work,
                   removed, &finished);
      if (finished) {
        fs->gc_phase = 1;
        if (fs->pass_whole && fs->max_sessions)
          atomic_store(&fs->live_est,
                       fs->pass_live + atomic_load(&fs->pass_delta));
      }
    } else {
      rc = gc_walk(fs, &user_tree, &fs->w_user, &fs->resume, now, max_work,
                   &work, removed, &finished);
      if (finished) {
        fs->gc_phase = 0;
        *done = 1;
      }
    }
  }
  if (max_work > 0) cursor_save(fs);
  fs->gc_cb = NULL;
  fs->gc_ud = NULL;
  pthread_mutex_unlock(&fs->gc_mu);
  return rc;
}

/* The record files in DIR, live or dead (no file is read): the first
 * estimate of a bounded store, before its first gc pass. */
static sessio_err count_records(file_store *fs, int64_t *n) {
  names l1, l2, leaves;
  sessio_err rc = names_read(fs->dirfd, ".", want_hex2, &l1);
  *n = 0;
  for (size_t i = 0; rc == SESSIO_OK && i < l1.n; i++) {
    int p1 = openat(fs->dirfd, l1.v[i], OPEN_DIR);
    if (p1 < 0) continue;
    rc = names_read(p1, ".", want_hex2, &l2);
    for (size_t j = 0; rc == SESSIO_OK && j < l2.n; j++) {
      rc = names_read(p1, l2.v[j], want_key, &leaves);
      *n += (int64_t)leaves.n;
      names_free(&leaves);
    }
    names_free(&l2);
    close(p1);
  }
  names_free(&l1);
  return rc;
}

static sessio_err f_gc(sessio_store *st, int64_t now, size_t max_work,
                       size_t *removed, int *done) {
  return f_collect(st, now, max_work, NULL, NULL, removed, done);
}

/* ---- iterate, stats, close ---------------------------------------------- */

/* Scan cursor: the hex name of the last record visited ("" before the
 * first). Folders and names are read sorted, so the walk is in key order
 * and resumes after that name. */
static sessio_err f_scan(sessio_store *st, sessio_store_cursor *cur,
                         size_t max_work, sessio_store_iter_fn cb, void *ud,
                         int *done) {
  file_store *fs = (file_store *)st;
  char last[KEY_HEX + 1] = "";
  size_t work = 0;
  names a, b, c;
  *done = 0;
  if (cur->text[0]) {
    if (!want_key(cur->text)) return SESSIO_EINVAL;
    memcpy(last, cur->text, sizeof last);
  }
  if (max_work == 0) max_work = 1;
  sessio_err rc = names_read(fs->dirfd, ".", want_hex2, &a);
  if (rc != SESSIO_OK) return rc;
  for (size_t i = 0; i < a.n && work < max_work && rc == SESSIO_OK; i++) {
    int same1 = last[0] && strncmp(a.v[i], last, 2) == 0;
    if (last[0] && strncmp(a.v[i], last, 2) < 0) continue;
    int p1 = openat(fs->dirfd, a.v[i], OPEN_DIR);
    if (p1 < 0) continue;
    if ((rc = names_read(p1, ".", want_hex2, &b)) != SESSIO_OK) {
      close(p1);
      break;
    }
    for (size_t j = 0; j < b.n && work < max_work && rc == SESSIO_OK; j++) {
      if (same1 && strncmp(b.v[j], last + 2, 2) < 0) continue;
      int dfd = openat(p1, b.v[j], OPEN_DIR);
      if (dfd < 0) continue;
      if ((rc = names_read(dfd, ".", want_key, &c)) != SESSIO_OK) {
        close(dfd);
        break;
      }
      for (size_t k = 0; k < c.n && work < max_work; k++) {
        sessio_key key;
        sessio_record rec;
        int exists;
        if (last[0] && strcmp(c.v[k], last) <= 0) continue;
        if (!unhex_key(c.v[k], &key)) continue;
        sessio_err r = rec_read_unlocked(dfd, c.v[k], &key, &rec, &exists);
        if (r == SESSIO_ENOMEM) {
          rc = r;
          break;
        }
        memcpy(last, c.v[k], sizeof last);
        work++;
        if (r == SESSIO_OK && exists) (void)cb(ud, &key, &rec);
        sessio_record_clear(&rec);
      }
      names_free(&c);
      close(dfd);
    }
    names_free(&b);
    close(p1);
  }
  names_free(&a);
  if (rc != SESSIO_OK) return rc;
  if (work < max_work) {
    *done = 1;
    cur->text[0] = '\0';
  } else {
    memcpy(cur->text, last, sizeof last);
  }
  return SESSIO_OK;
}

static sessio_err f_iterate(sessio_store *st, int64_t now,
                            sessio_store_iter_fn cb, void *ud) {
  file_store *fs = (file_store *)st;
  names a, b, c;
  sessio_err rc = names_read(fs->dirfd, ".", want_hex2, &a);
  if (rc != SESSIO_OK) return rc;
  int stop = 0;
  for (size_t i = 0; i < a.n && !stop && rc == SESSIO_OK; i++) {
    int p1 = openat(fs->dirfd, a.v[i], OPEN_DIR);
    if (p1 < 0) continue;
    if ((rc = names_read(p1, ".", want_hex2, &b)) != SESSIO_OK) {
      close(p1);
      break;
    }
    for (size_t j = 0; j < b.n && !stop && rc == SESSIO_OK; j++) {
      int dfd = openat(p1, b.v[j], OPEN_DIR);
      if (dfd < 0) continue;
      if ((rc = names_read(dfd, ".", want_key, &c)) != SESSIO_OK) {
        close(dfd);
        break;
      }
      for (size_t k = 0; k < c.n && !stop; k++) {
        sessio_key key;
        sessio_record rec;
        int exists;
        if (!unhex_key(c.v[k], &key)) continue;
        sessio_err r = rec_read_unlocked(dfd, c.v[k], &key, &rec, &exists);
        if (r == SESSIO_ENOMEM) {
          rc = r;
          break;
        }
        if (r == SESSIO_OK && exists && now < rec.expires_at)
          stop = cb(ud, &key, &rec) != 0;
        sessio_record_clear(&rec);
      }
      names_free(&c);
      close(dfd);
    }
    names_free(&b);
    close(p1);
  }
  names_free(&a);
  return rc;
}

static sessio_err f_stats(sessio_store *st, struct sessio_store_stats *out) {
  file_store *fs = (file_store *)st;
  /* Counting records would mean a scan: only what this handle saw. */
  out->expired = atomic_load(&fs->expired);
  return SESSIO_OK;
}

static void f_close(sessio_store *st) {
  file_store *fs = (file_store *)st;
  for (int i = 0; i < 256; i++) {
    int fd = atomic_load(&fs->l1fd[i]);
    if (fd >= 0) close(fd);
  }
  walker_reset(&fs->w_rec);
  walker_reset(&fs->w_user);
  pthread_mutex_destroy(&fs->gc_mu);
  close(fs->dirfd);
  free(fs);
}

static const sessio_store_methods file_methods = {
    .version = SESSIO_STORE_API_VERSION,
    .name = "file",
    .load = f_load,
    .save = f_save,
    .touch = f_touch,
    .remove = f_remove,
    .user_add = f_user_add,
    .user_list = f_user_list,
    .user_remove = f_user_remove,
    .gc = f_gc,
    .iterate = f_iterate,
    .scan = f_scan,
    .stats = f_stats,
    .close = f_close,
    .collect = f_collect,
    .user_scan = f_user_scan,
    .user_entry_remove = f_user_entry_remove,
    .sweep = f_sweep,
};

/* ---- open --------------------------------------------------------------- */

typedef struct file_opts {
  int fsync_on;
  uint64_t max_sessions;
} file_opts;

/* "sync=normal|full" ("fsync=0|1" is the older spelling of the same) and
 * "max_sessions=N" (N >= 1). */
static sessio_err file_param(void *ud, const char *name, const char *val) {
  file_opts *o = ud;
  long long v;
  if (strcmp(name, "sync") == 0)
    return sessio__opt_sync(val, &o->fsync_on) ? SESSIO_OK : SESSIO_EINVAL;
  if (strcmp(name, "fsync") == 0)
    return sessio__opt_flag(val, &o->fsync_on) ? SESSIO_OK : SESSIO_EINVAL;
  if (strcmp(name, "max_sessions") == 0) {
    if (!sessio__opt_int(val, 1, INT64_MAX, &v)) return SESSIO_EINVAL;
    o->max_sessions = (uint64_t)v;
    return SESSIO_OK;
  }
  return SESSIO_EINVAL; /* unknown parameters are mistakes, not hints */
}

sessio_err sessio__store_open_file(const char *rest, sessio_store **out) {
  sessio_err rc = SESSIO_EINVAL;
  size_t dlen;
  const char *q = sessio__url_split(rest, &dlen);
  file_opts opts = {0, 0};
  *out = NULL;
  if (dlen == 0 || dlen >= 4096) return SESSIO_EINVAL;
  if (q != NULL &&
      (rc = sessio_store_url_params(q, file_param, &opts)) != SESSIO_OK)
    return rc;
  if ((rc = sessio__crypto_init()) != SESSIO_OK) return rc;
  char *dir = strndup(rest, dlen);
  if (dir == NULL) return SESSIO_ENOMEM;
  if (memchr(rest, '\0', dlen) != NULL) {
    rc = SESSIO_EINVAL;
    goto fail_dir;
  }
  file_store *fs = calloc(1, sizeof *fs);
  if (fs == NULL) {
    rc = SESSIO_ENOMEM;
    goto fail_dir;
  }
  fs->base.methods = &file_methods;
  fs->fsync_on = opts.fsync_on;
  fs->max_sessions = opts.max_sessions;
  atomic_init(&fs->live_est, 0);
  atomic_init(&fs->pass_delta, 0);
  for (int i = 0; i < 256; i++) atomic_init(&fs->l1fd[i], -1);
  atomic_init(&fs->expired, 0);
  /* The folder named in the URL is the administrator's choice and may be
   * reached through a link; everything below it is opened with openat()
   * and O_NOFOLLOW. */
  if (sessio__mkdirs(dir) != 0) {
    rc = errno == ENOTDIR ? SESSIO_EINVAL : SESSIO_EIO;
    goto fail_fs;
  }
  fs->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fs->dirfd < 0) {
    rc = errno == ENOTDIR ? SESSIO_EINVAL : SESSIO_EIO;
    goto fail_fs;
  }
  /* S25: records are credentials; a folder other users may enter (made by
   * hand with the usual umask) is refused rather than used. */
  struct stat dsb;
  if (fstat(fs->dirfd, &dsb) != 0) {
    rc = SESSIO_EIO;
    goto fail_fd;
  }
  if (dsb.st_mode & (S_IRWXG | S_IRWXO)) {
    rc = SESSIO_EPERM;
    goto fail_fd;
  }
  if (pthread_mutex_init(&fs->gc_mu, NULL) != 0) {
    rc = SESSIO_ENOMEM;
    goto fail_fd;
  }
  cursor_load(fs);
  if (fs->max_sessions) {
    int64_t n = 0;
    if ((rc = count_records(fs, &n)) != SESSIO_OK) goto fail_mu;
    atomic_store(&fs->live_est, n);
  }
  free(dir);
  *out = &fs->base;
  return SESSIO_OK;
fail_mu:
  pthread_mutex_destroy(&fs->gc_mu);
fail_fd:
  close(fs->dirfd);
fail_fs:
  free(fs);
fail_dir:
  free(dir);
  return rc;
}
