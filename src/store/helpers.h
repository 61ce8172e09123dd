/*
 * helpers.h — what several stores need and write once here: making a
 * folder path (mkdir -p), noticing that the process was forked, splitting
 * a store URL into path and query, and reading option values in the one
 * vocabulary every store shares (docs/STORES.md, "Options").
 */
#ifndef SESSIO_STORE_HELPERS_H
#define SESSIO_STORE_HELPERS_H

#include <stddef.h>

#include "sessio.h"

/* Makes the folder 'path' and every missing folder above it, mode 0700
 * ("mkdir -p"); folders that exist are left as they are (they may be
 * links: the administrator's choice). 0 on success, else -1 with errno
 * (ENOTDIR when a part of the path is not a folder). 'path' is a writable
 * copy: it is cut at each '/' during the call and restored. */
int sessio__mkdirs(char *path);

/* Makes the folders above the file 'path' (not the file itself), as
 * sessio__mkdirs; a bare file name needs none. */
int sessio__mkdirs_above(char *path);

/* Fork detection for stores that pool connections a child must not use:
 * sessio__fork_watch() registers (once per process) a pthread_atfork hook
 * that raises a count in every child; sessio__forks() reads it. A pool
 * remembers the count its connections were made under and drops them when
 * it changed. Cheaper than getpid() per call. Do not fork while another
 * thread is inside a store. sessio__fork_watch is SESSIO_ENOMEM when the
 * hook cannot be registered. */
sessio_err sessio__fork_watch(void);
unsigned sessio__forks(void);

/* Splits the rest of a store URL at its first '?': returns the query after
 * the '?' (NULL when there is none) and sets '*path_len' to the length of
 * what comes before it. */
const char *sessio__url_split(const char *rest, size_t *path_len);

/* Percent-decodes [s, e) (RFC 3986 %XX) into 'out', which holds at least
 * e - s + 1 bytes, NUL-terminated. 0 for a malformed escape or %00 (a NUL
 * would cut the value short), 1 when decoded. Every part of a store URL a
 * user may need any byte in (userinfo, option values) goes through it. */
int sessio__url_decode(const char *s, const char *e, char *out);

/* Option values, one syntax for every store. An integer is decimal digits
 * only, in [lo, hi]; a flag is 1/0, true/false, on/off or yes/no. 1 when
 * valid (the value in '*out'), 0 when not. */
int sessio__opt_int(const char *val, long long lo, long long hi,
                    long long *out);
int sessio__opt_flag(const char *val, int *out);

/* "sync": how hard a store makes a write durable before it returns.
 * "normal" (the default): survives the process; "full": also survives a
 * power loss (fsync). 1 when valid, with '*full' set. */
int sessio__opt_sync(const char *val, int *full);

/* The user_scan cursor of the SQL stores: where the walk in (expires_at,
 * key, user) order stands: the last (expires_at, key) visited and how many
 * entries of that pair (of different users) were visited. Text: "EXPIRES
 * KEYHEX N" ("" to start). An entry of the same pair removed between two
 * calls can make the next one of that pair be passed over: a key in the
 * index of two users with the same expiry only happens to stale entries. */
typedef struct sessio__ucur {
  int64_t expires_at; /* INT64_MIN at the start */
  uint8_t key[SESSIO_KEY_BYTES];
  size_t key_len;     /* 0 at the start */
  unsigned long skip; /* entries of (expires_at, key) already visited */
} sessio__ucur;
/* 1 when 'text' is a valid cursor (or ""), 0 when not. */
int sessio__ucur_parse(const char *text, sessio__ucur *c);
/* Called for each row in walk order: 1 when it was visited by an earlier
 * call (pass it over), else 0 and the cursor moves to it. */
int sessio__ucur_step(sessio__ucur *c, int64_t expires_at, const uint8_t *key,
                      unsigned long *to_skip);
/* Writes 'c' as text into 'out' (at least 128 bytes). */
void sessio__ucur_format(const sessio__ucur *c, char *out);

#endif
