/*
 * store_internal.h — how libsessio finds its built-in stores. Each backend
 * in src/store/ exports one open function taking the part of the URL after
 * the scheme ("memory:" -> "", "file:/var/s" -> "/var/s",
 * "redis://h:1/0" -> "//h:1/0"); the table in store.c maps schemes to them.
 * Also the internal dispatch wrappers the core and the tests call.
 */
#ifndef SESSIO_STORE_INTERNAL_H
#define SESSIO_STORE_INTERNAL_H

#include "sessio/store.h"

typedef sessio_err (*sessio__store_open_fn)(const char *rest,
                                            sessio_store **out);

sessio_err sessio__store_open_memory(const char *rest, sessio_store **out);
sessio_err sessio__store_open_file(const char *rest, sessio_store **out);
sessio_err sessio__store_open_sqlite(const char *rest, sessio_store **out);
sessio_err sessio__store_open_redis(const char *rest, sessio_store **out);
sessio_err sessio__store_open_redis_cluster(const char *rest,
                                            sessio_store **out);
/* Logs one line through the logger given to sessio_store_open_logged(),
 * for a backend's open function (the store's own logger does not exist
 * yet); nothing when the open came through sessio_store_open(). Same
 * rules as sessio_store_log: no password, no session ID. */
void sessio__store_open_log(sessio_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Built when libpq is found (SESSIO_HAVE_POSTGRES). */
sessio_err sessio__store_open_postgres(const char *rest, sessio_store **out);

/* Thin wrappers that check arguments and dispatch through the table. They
 * are internal: an application never reads or writes a record itself (a
 * record written from outside would bypass the sealing). */
sessio_err sessio__store_load(sessio_store *st, const sessio_key *key,
                              int64_t now, sessio_record *out, int *found);
sessio_err sessio__store_save(sessio_store *st, const sessio_key *key,
                              const sessio_record *rec, uint64_t expected,
                              int64_t now, uint64_t *new_version);
sessio_err sessio__store_touch(sessio_store *st, const sessio_key *key,
                               int64_t touched_at, int64_t expires_at,
                               int64_t now, int *found);
sessio_err sessio__store_remove(sessio_store *st, const sessio_key *key,
                                int64_t now, int *removed);
sessio_err sessio__store_user_add(sessio_store *st, const char *user,
                                  const sessio_key *key, int64_t expires_at,
                                  int64_t now);
sessio_err sessio__store_user_list(sessio_store *st, const char *user,
                                   int64_t now, sessio_key **keys, size_t *n);
sessio_err sessio__store_user_remove(sessio_store *st, const char *user,
                                     const sessio_key *key);
sessio_err sessio__store_iterate(sessio_store *st, int64_t now,
                                 sessio_store_iter_fn cb, void *ud);

/* For tests of the memory store: sets the version of the live record
 * 'key' to 'version' (> 0) as that many saves would, so the edges of its
 * narrow fields can be reached. SESSIO_EINVAL when 'st' is not a memory
 * store or holds no live record 'key'. */
sessio_err sessio__memory_force_version(sessio_store *st, const sessio_key *key,
                                        uint64_t version, int64_t now);

#endif
