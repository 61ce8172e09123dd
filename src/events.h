/*
 * events.h — lifecycle events inside libsessio. A call that causes events
 * queues them (sessio__ev_note) while it works, possibly under a commit
 * lock, and delivers them (sessio__ev_fire) just before it returns, with
 * no lock held. Stores report records they drop by themselves (expired,
 * evicted) with sessio__store_dropped(); those go to the queue of the call
 * running on this thread (sessio__ev_enter), or, for sessio_store_gc, to
 * every manager registered on the store. Internal to libsessio.
 */
#ifndef SESSIO_EVENTS_H
#define SESSIO_EVENTS_H

#include "sessio.h"
#include "sessio/store.h"

typedef struct sessio__ev {
  sessio_event_kind kind;
  sessio_event_reason reason;
  sessio_err error;
  char handle[SESSIO_HANDLE_LEN + 1]; /* "" when none */
  char user[SESSIO_USER_MAX + 1];     /* "" when none */
} sessio__ev;

typedef struct sessio__evq {
  sessio__ev *v;
  size_t n, cap;
} sessio__evq;

#define SESSIO__EVQ_INIT                                                       \
  { NULL, 0, 0 }

struct sessio_manager;

/* Queues one event of manager 'm' on 'q' when 'm' has a handler. 'key'
 * and 'user' may be NULL (or "" for the user). */
void sessio__ev_note(const struct sessio_manager *m, sessio__evq *q,
                     sessio_event_kind kind, sessio_event_reason reason,
                     sessio_err error, const sessio_key *key, const char *user);
/* Delivers and empties 'q' (no lock may be held). */
void sessio__ev_fire(const struct sessio_manager *m, sessio__evq *q,
                     int64_t now);
void sessio__ev_free(sessio__evq *q);

/* The call running on this thread: store drops are queued on 'q' for
 * 'm'. Calls nest: enter returns the previous context, leave restores it. */
typedef struct sessio__ev_ctx {
  const struct sessio_manager *m;
  sessio__evq *q;
} sessio__ev_ctx;
sessio__ev_ctx sessio__ev_enter(const struct sessio_manager *m, sessio__evq *q);
void sessio__ev_leave(sessio__ev_ctx prev);
/* The manager whose call runs on this thread, or NULL. */
const struct sessio_manager *sessio__ev_current(void);

/* The managers sharing a store, for events of sessio_store_gc. */
void sessio__ev_register(struct sessio_manager *m, sessio_store *st);
void sessio__ev_unregister(struct sessio_manager *m);

/* Calls 'fn' for each manager registered on 'st', with no lock held (a
 * manager must not be freed while GC of its store runs). */
void sessio__ev_each_manager(sessio_store *st,
                             void (*fn)(struct sessio_manager *m, void *ud),
                             void *ud);

/* A backend dropped the record 'key' of 'user' (NULL or "" when none) by
 * itself: 'evicted' set for room, else because it was dead. Call it with
 * no store lock held. */
void sessio__store_dropped(sessio_store *st, const sessio_key *key,
                           const char *user, int evicted);

/* Counts one sessio_store_gc call (its arguments and results, 'ns' its
 * duration) for every manager of 'st', delivers the drops it collected on
 * 'q' to them, then empties 'q'. */
void sessio__ev_gc_done(sessio_store *st, sessio__evq *q, int64_t now,
                        size_t max_work, size_t removed, int done, uint64_t ns,
                        sessio_err rc);

#endif
