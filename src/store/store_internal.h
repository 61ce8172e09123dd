/*
 * store_internal.h — how libsessio finds its built-in stores. Each backend
 * in src/store/ exports one open function taking the part of the URL after
 * the scheme ("memory:" -> "", "file:/var/s" -> "/var/s",
 * "redis://h:1/0" -> "//h:1/0"); the table in store.c maps schemes to them.
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

#endif
