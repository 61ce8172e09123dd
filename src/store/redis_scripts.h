/*
 * redis_scripts.h — the Lua scripts of the Redis stores, one per atomic
 * step, and how to run one: EVALSHA with a digest the server computed
 * (SCRIPT LOAD, cached per store), EVAL when the server does not know it.
 */
#ifndef SESSIO_REDIS_SCRIPTS_H
#define SESSIO_REDIS_SCRIPTS_H

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>

#include "store_internal.h"

typedef struct rc_store rc_store; /* redis_methods.h */

/* The scripts; their arguments are documented beside their text. */
typedef enum rc_script {
  RC_S_SAVE,  /* compare-and-set of a record */
  RC_S_TOUCH, /* new times and TTL of a live record */
  RC_S_GC,    /* delete one record if it is dead */
  RC_S_UADD,  /* add a user index pair, extend the set's TTL */
  RC_S_ULIST, /* drop a user's dead pairs, list the others */
  RC_S_ADMIT, /* the live index of a bounded store: trim, count, add */
  RC_SCRIPTS
} rc_script;

/* A store's digests for EVALSHA, as SCRIPT LOAD returned them: the server
 * computes them, sessio carries no SHA-1. Each is written once under 'mu',
 * then known[i] is set (release); readers test it (acquire). */
typedef struct rc_scripts {
  pthread_mutex_t mu;
  char sha[RC_SCRIPTS][41];
  atomic_int known[RC_SCRIPTS];
} rc_scripts;

void sessio__rc_scripts_init(rc_scripts *s);
void sessio__rc_scripts_destroy(rc_scripts *s);

/* The digest of script 'which' for EVALSHA into '*sha'. The first time,
 * SCRIPT LOAD on the server that owns 'key' computes it (and loads the
 * script there); then it is remembered for the life of the store. */
sessio_err sessio__rc_script_sha(rc_store *rs, rc_script which, const char *key,
                                 size_t klen, const char **sha);

/* Runs script 'which' on 'key' with up to 4 arguments: EVALSHA, and EVAL
 * when the server does not know the script yet (new or restarted server,
 * failed-over replica). '*reply' is never an error reply on SESSIO_OK. */
sessio_err sessio__rc_eval(rc_store *rs, rc_script which, const char *key,
                           size_t klen, int nargs, const char **args,
                           const size_t *alens, redisReply **reply);

#endif
