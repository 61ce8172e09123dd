/*
 * sessio/redis.h — optional knobs of the redis:// and redis-cluster://
 * stores. Everything else is set in the store URL (docs/STORES.md):
 *   redis://[[USER]:PASSWORD@]HOST[:PORT][/DB][?prefix=P&timeout_ms=N...]
 */
#ifndef SESSIO_REDIS_H
#define SESSIO_REDIS_H

#include "../sessio.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Sends the store's state-change messages ("redis HOST:PORT unreachable",
 * "redis HOST:PORT reachable again", cluster topology changes) to 'fn'
 * instead of one line on stderr. 'fn' NULL restores stderr. 'fn' may be
 * called from any thread that uses the store, once per state change.
 * SESSIO_EINVAL when 'st' is not a redis or redis-cluster store. */
sessio_err sessio_redis_set_logger(sessio_store *st, sessio_log_fn fn,
                                   void *ud);

#ifdef __cplusplus
}
#endif
#endif /* SESSIO_REDIS_H */
