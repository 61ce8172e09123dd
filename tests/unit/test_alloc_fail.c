/*
 * test_alloc_fail.c — no session is half-written when memory runs out. Each
 * request scenario (create, update, login, regenerate, destroy, rotation,
 * merges after a conflict, revoke, listing) is prepared with allocation
 * working, then run with the Nth allocation failing (once, and from N on)
 * for every N until it completes (tests/alloc/failalloc.c wraps libsessio's
 * allocator). Afterwards, with allocation working again, every session the
 * client could name is re-read, and:
 *  - every call returned SESSIO_OK or SESSIO_ENOMEM;
 *  - a data call that failed changed nothing in the handle;
 *  - a request that failed (the app answers 503 and drops the handle) left
 *    the store exactly as it was: each session's data, user and flash, the
 *    user's session list and the count of live records, and sent no cookie;
 *  - a request that committed shows exactly its new state (the model of
 *    the operations that returned OK), old IDs dead where they must be;
 *  - always: sessio_manager_user_sessions lists exactly the live sessions of the
 *    user, and the store holds no record nobody can reach;
 *  - nothing leaks (failalloc's live-block count, then LeakSanitizer).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "failalloc.h"
#include "harness.h"
#include "sessio.h"
#include "sessio/store.h"
#include "store/store_internal.h" /* the record-level dispatch wrappers */

int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

#define T0 1700000000000LL
#define MIN 60000LL
#define NCK 8
#define DUMP 640

/* ---- a model of one session's data ----------------------------------- */

typedef struct model {
  char user[32];
  char k[16][24];
  char v[16][48]; /* "s:text" or "i:123" */
  int n;
  char flash[48];
} model;

static int m_find(const model *m, const char *k) {
  for (int i = 0; i < m->n; i++)
    if (strcmp(m->k[i], k) == 0) return i;
  return -1;
}
static void m_set(model *m, const char *k, const char *v) {
  int i = m_find(m, k);
  if (i < 0) i = m->n++;
  snprintf(m->k[i], sizeof m->k[i], "%s", k);
  snprintf(m->v[i], sizeof m->v[i], "%s", v);
}
static void m_del(model *m, const char *k) {
  int i = m_find(m, k);
  if (i < 0) return;
  m->n--;
  memmove(m->k[i], m->k[i + 1], (size_t)(m->n - i) * sizeof m->k[0]);
  memmove(m->v[i], m->v[i + 1], (size_t)(m->n - i) * sizeof m->v[0]);
}
static void m_incr(model *m, const char *k, long long d) {
  int i = m_find(m, k);
  char v[48];
  snprintf(v, sizeof v, "i:%lld", (i < 0 ? 0 : atoll(m->v[i] + 2)) + d);
  m_set(m, k, v);
}
/* The dump of a model, in the form dump_handle() gives. */
static void m_dump(const model *m, char *out) {
  int idx[16];
  for (int i = 0; i < m->n; i++) idx[i] = i;
  for (int i = 1; i < m->n; i++) /* by key, byte order */
    for (int j = i; j > 0 && strcmp(m->k[idx[j - 1]], m->k[idx[j]]) > 0; j--) {
      int t = idx[j];
      idx[j] = idx[j - 1];
      idx[j - 1] = t;
    }
  int p = snprintf(out, DUMP, "u=%s;", m->user);
  for (int i = 0; i < m->n; i++)
    p += snprintf(out + p, DUMP - (size_t)p, "%s=%s;", m->k[idx[i]],
                  m->v[idx[i]]);
  snprintf(out + p, DUMP - (size_t)p, "f=%s;", m->flash);
}

/* ---- the world: a store, a manager, the cookies a client holds --------- */

typedef struct world {
  sessio_store *st;
  sessio_manager *m;
  char ck[NCK][96]; /* "sid=..." */
  int nck;
} world;

static long bad_codes, runs, aborted, committed;

static void world_open(world *w, int rotate) {
  sessio_config *cfg = NULL;
  memset(w, 0, sizeof *w);
  if (sessio_store_open("memory:?shards=2", &w->st) != SESSIO_OK ||
      sessio_config_new(&cfg) != SESSIO_OK ||
      sessio_config_set_store(cfg, w->st) != SESSIO_OK ||
      (rotate &&
       sessio_config_set_rotation(cfg, 15 * MIN, 30000) != SESSIO_OK) ||
      sessio_manager_new(cfg, &w->m) != SESSIO_OK)
    abort();
  sessio_config_free(cfg);
}

static void world_close(world *w) {
  sessio_manager_free(w->m);
  sessio_store_close(w->st);
}

/* The cookie a Set-Cookie value sets, added to the world's; -1 when none
 * or a deletion. */
static int keep_cookie(world *w, const sessio *s) {
  const char *sc = sessio_cookie_header(s);
  if (sc == NULL || strstr(sc, "Max-Age=0") != NULL) return -1;
  if (w->nck == NCK) abort();
  snprintf(w->ck[w->nck], sizeof w->ck[0], "%.*s", (int)strcspn(sc, ";"), sc);
  return w->nck++;
}

static sessio *begin_ok(world *w, int ci, int64_t now) {
  sessio *s = NULL;
  const char *h[1] = {ci >= 0 ? w->ck[ci] : NULL};
  if (sessio_begin(w->m, h, ci >= 0 ? 1 : 0, 0, now, &s) != SESSIO_OK) abort();
  return s;
}

/* Setup (allocation working): a session with cart.A1 = 1 and name = x,
 * logged in as 'user' when not NULL. Returns its cookie; fills 'mo'. */
static int make(world *w, const char *user, int64_t now, model *mo) {
  sessio *s = begin_ok(w, -1, now);
  if (sessio_incr(s, "cart.A1", 1, NULL) != SESSIO_OK ||
      sessio_set_str(s, "name", "x") != SESSIO_OK ||
      (user && sessio_login(s, user, 0, now) != SESSIO_OK) ||
      sessio_commit(s, now) != SESSIO_OK)
    abort();
  int ci = keep_cookie(w, s);
  sessio_free(s);
  if (mo) {
    memset(mo, 0, sizeof *mo);
    m_set(mo, "cart.A1", "i:1");
    m_set(mo, "name", "s:x");
    snprintf(mo->user, sizeof mo->user, "%s", user ? user : "");
  }
  return ci;
}

static int dump_cb(void *ud, const char *key, sessio_type t, const void *v,
                   size_t len, int64_t ival) {
  char *out = ud;
  size_t p = strlen(out);
  if (t == SESSIO_T_INT)
    snprintf(out + p, DUMP - p, "%s=i:%lld;", key, (long long)ival);
  else
    snprintf(out + p, DUMP - p, "%s=s:%.*s;", key, (int)len, (const char *)v);
  return 0;
}

/* What the handle holds: "u=USER;key=val;...;" (no flash). */
static void dump_handle(sessio *s, char *out) {
  const char *u = sessio_user(s);
  snprintf(out, DUMP, "u=%s;", u ? u : "");
  sessio_iterate(s, "", dump_cb, out);
}

/* What cookie 'ci' reaches at 'now': "-" or the handle's dump plus its
 * flash "n" ("f=...;"); its handle into 'handle'. Reads only. */
static void dump_cookie(world *w, int ci, int64_t now, char *out,
                        char *handle) {
  sessio *s = begin_ok(w, ci, now);
  handle[0] = '\0';
  if (!sessio_exists(s)) {
    snprintf(out, DUMP, "-");
  } else {
    const char *msg = NULL;
    dump_handle(s, out);
    size_t p = strlen(out);
    snprintf(out + p, DUMP - p, "f=%s;",
             sessio_flash_take(s, "n", &msg) ? msg : "");
    snprintf(handle, SESSIO_HANDLE_LEN + 1, "%s", sessio_handle(s));
  }
  sessio_free(s);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int live_cb(void *ud, const sessio_key *k, const sessio_record *r) {
  (void)k, (void)r;
  ++*(size_t *)ud;
  return 0;
}

typedef struct snap {
  char dump[NCK][DUMP];
  char handle[NCK][SESSIO_HANDLE_LEN + 1];
  char list[NCK * 40]; /* alice's handles, sorted */
  size_t live;         /* live records in the store */
} snap;

static void take(world *w, int64_t now, snap *sn) {
  memset(sn, 0, sizeof *sn);
  for (int i = 0; i < w->nck; i++)
    dump_cookie(w, i, now, sn->dump[i], sn->handle[i]);
  sessio_session_info *v = NULL;
  size_t n = 0;
  if (sessio_manager_user_sessions(w->m, "alice", now, &v, &n) != SESSIO_OK)
    abort();
  const char *hs[NCK * 2];
  for (size_t i = 0; i < n && i < NCK * 2; i++) hs[i] = v[i].handle;
  qsort(hs, n, sizeof hs[0], cmp_str);
  for (size_t i = 0; i < n; i++) {
    strcat(sn->list, hs[i]);
    strcat(sn->list, ",");
  }
  free(v);
  if (sessio__store_iterate(w->st, now, live_cb, &sn->live) != SESSIO_OK)
    abort();
}

/* Always true: alice's list is exactly the live sessions her cookies reach,
 * and the store holds the reachable records plus 'moved' rotation
 * pointers, nothing else. */
static void check_consistent(world *w, const snap *sn, size_t moved,
                             const char *what) {
  const char *hs[NCK];
  size_t n = 0, distinct = 0;
  for (int i = 0; i < w->nck; i++) {
    if (sn->dump[i][0] == '-') continue;
    int seen = 0;
    for (int j = 0; j < i; j++)
      if (sn->dump[j][0] != '-' && strcmp(sn->handle[j], sn->handle[i]) == 0)
        seen = 1;
    if (seen) continue;
    distinct++;
    if (strncmp(sn->dump[i], "u=alice;", 8) == 0) hs[n++] = sn->handle[i];
  }
  qsort(hs, n, sizeof hs[0], cmp_str);
  char want[NCK * 40] = "";
  for (size_t i = 0; i < n; i++) {
    strcat(want, hs[i]);
    strcat(want, ",");
  }
  if (strcmp(want, sn->list) != 0) {
    fprintf(stderr, "  %s: alice's list [%s], her live sessions [%s]\n", what,
            sn->list, want);
    CHECK(0);
  }
  if (sn->live != distinct + moved) {
    fprintf(stderr, "  %s: %zu live records, %zu reachable (+%zu moved)\n",
            what, sn->live, distinct, moved);
    CHECK(0);
  }
}

static void check_unchanged(world *w, const snap *a, const snap *b,
                            const char *what) {
  for (int i = 0; i < w->nck; i++) {
    if (strcmp(a->dump[i], b->dump[i]) != 0) {
      fprintf(stderr, "  %s: cookie %d was [%s], is [%s]\n", what, i,
              a->dump[i], b->dump[i]);
      CHECK(0);
    }
  }
  CHECK_STR(a->list, b->list);
  CHECK_INT(a->live, b->live);
}

/* ---- one request under injection ---------------------------------------- */

static const char *mode_name(failalloc_mode m) {
  return m == FAILALLOC_ONCE ? "once" : "from";
}

static failalloc_mode cur_mode;
static long cur_n;
static const char *cur_scen;

/* Judges a result: OK -> 1, ENOMEM -> 0, anything else is a bug. */
static int ok(sessio_err rc, const char *call) {
  if (rc == SESSIO_OK) return 1;
  if (rc != SESSIO_ENOMEM) {
    fprintf(stderr, "  %s: %s returned %s (mode %s, N=%ld)\n", cur_scen, call,
            sessio_errname(rc), mode_name(cur_mode), cur_n);
    bad_codes++;
  }
  return 0;
}

/* Data calls: a failed one must leave the handle as it was; the model
 * follows the ones that succeed (the app goes on regardless). */
#define DATA_CALL(s, mo, call, apply)                                          \
  do {                                                                         \
    char b_[DUMP], a_[DUMP];                                                   \
    dump_handle(s, b_);                                                        \
    if (ok(call, #call)) {                                                     \
      apply;                                                                   \
      data_ok++;                                                               \
    } else {                                                                   \
      dump_handle(s, a_);                                                      \
      if (strcmp(a_, b_) != 0) {                                               \
        fprintf(stderr,                                                        \
                "  %s: failed %s changed the handle: [%s] -> "                 \
                "[%s] (mode %s, N=%ld)\n",                                     \
                cur_scen, #call, b_, a_, mode_name(cur_mode), cur_n);          \
        CHECK(0);                                                              \
      }                                                                        \
    }                                                                          \
  } while (0)

enum scen {
  S_CREATE,
  S_UPDATE,
  S_LOGIN_GUEST,
  S_LOGIN_NEW,
  S_REGENERATE,
  S_DESTROY,
  S_DESTROY_THEN_FLASH,
  S_ROTATE,
  S_MERGE,
  S_REGENERATE_MERGE,
  S_CLEAR_MERGE,
  S_REVOKE,
  S_LIST_REPAIRS,
  S_COUNT
};
static const char *scen_names[S_COUNT] = {"create",
                                          "update",
                                          "login of a guest",
                                          "login of a new session",
                                          "regenerate",
                                          "destroy",
                                          "destroy then flash",
                                          "rotation",
                                          "update merged after a conflict",
                                          "regenerate merged after a conflict",
                                          "clear all merged after a conflict",
                                          "revoke all but one",
                                          "list repairing a stale entry"};

/* Runs scenario 'sc' with the allocator armed at (mode, n). Returns 1 when
 * a failure was injected. */
static int run(enum scen sc, failalloc_mode mode, long n) {
  world w;
  model mo;            /* the target session's expected state on success */
  int target = -1;     /* the cookie the request uses (-1: none) */
  int dead[NCK] = {0}; /* cookies that must be dead on success */
  size_t moved = 0;    /* rotation pointers live on success */
  int64_t now = T0 + 1000;
  sessio *s = NULL, *other = NULL;
  int done = 0, gone_ok = 0, injected, data_ok = 0;
  snap before, after;
  size_t live0 = failalloc_live();
  uint64_t serial0 = failalloc_serial();

  cur_mode = mode;
  cur_n = n;
  cur_scen = scen_names[sc];
  world_open(&w, sc == S_ROTATE);
  memset(&mo, 0, sizeof mo);

  /* Setup, allocation working. */
  switch (sc) {
  case S_CREATE:
    make(&w, "alice", T0, NULL); /* somebody else, listed */
    break;
  case S_UPDATE:
  case S_LOGIN_GUEST:
    make(&w, "alice", T0, NULL);
    target = make(&w, NULL, T0, &mo);
    break;
  case S_LOGIN_NEW: make(&w, "alice", T0, NULL); break;
  case S_REGENERATE:
  case S_DESTROY:
  case S_DESTROY_THEN_FLASH:
  case S_REVOKE:
  case S_LIST_REPAIRS:
    target = make(&w, "alice", T0, &mo);
    make(&w, "alice", T0, NULL);
    if (sc == S_REVOKE) make(&w, "alice", T0, NULL);
    break;
  case S_ROTATE:
    target = make(&w, "alice", T0, &mo);
    make(&w, "alice", T0, NULL);
    now = T0 + 15 * MIN;
    break;
  case S_MERGE:
  case S_REGENERATE_MERGE:
  case S_CLEAR_MERGE:
    target = make(&w, sc == S_REGENERATE_MERGE ? "alice" : NULL, T0, &mo);
    /* Two overlapping requests: 'other' commits first. */
    s = begin_ok(&w, target, now);
    other = begin_ok(&w, target, now);
    if (sessio_incr(other, "cart.A1", 10, NULL) != SESSIO_OK ||
        sessio_commit(other, now) != SESSIO_OK)
      abort();
    sessio_free(other);
    m_incr(&mo, "cart.A1", 10);
    break;
  default: break;
  }
  if (sc == S_LIST_REPAIRS) { /* a stale pair: its record is gone */
    uint8_t raw[SESSIO_ID_BYTES];
    sessio_key key;
    int removed = 0;
    if (!sessio__id_decode(w.ck[target] + 4, SESSIO_ID_LEN, raw)) abort();
    sessio__key_derive(NULL, 0, raw, &key);
    if (sessio__store_remove(w.st, &key, now, &removed) != SESSIO_OK ||
        !removed)
      abort();
  }
  take(&w, now, &before);
  check_consistent(&w, &before, 0, "setup");

  /* The request, with the allocator armed. The app gives up (and answers
   * 503) when begin, login, regenerate, destroy or commit fail. */
  failalloc_arm(mode, n);
  switch (sc) {
  case S_CREATE:
  case S_UPDATE:
  case S_LOGIN_GUEST:
  case S_LOGIN_NEW:
  case S_REGENERATE:
  case S_DESTROY:
  case S_DESTROY_THEN_FLASH:
  case S_ROTATE: {
    const char *h[1] = {target >= 0 ? w.ck[target] : NULL};
    if (!ok(sessio_begin(w.m, h, target >= 0, 0, now, &s), "sessio_begin"))
      break;
    if (sc == S_CREATE) {
      ok(sessio_set_label(s, "agent"), "sessio_set_label"); /* no data */
      DATA_CALL(s, &mo, sessio_incr(s, "cart.A1", 2, NULL),
                m_incr(&mo, "cart.A1", 2));
      DATA_CALL(s, &mo, sessio_set_str(s, "theme", "dark"),
                m_set(&mo, "theme", "s:dark"));
      DATA_CALL(s, &mo, sessio_flash_set(s, "n", "hello"),
                snprintf(mo.flash, sizeof mo.flash, "hello"));
    } else if (sc == S_UPDATE || sc == S_ROTATE) {
      DATA_CALL(s, &mo, sessio_incr(s, "cart.A1", 1, NULL),
                m_incr(&mo, "cart.A1", 1));
      DATA_CALL(s, &mo, sessio_set_str(s, "theme", "dark"),
                m_set(&mo, "theme", "s:dark"));
      DATA_CALL(s, &mo, sessio_delete(s, "name"), m_del(&mo, "name"));
      if (sc == S_ROTATE) moved = 1;
    } else if (sc == S_LOGIN_GUEST || sc == S_LOGIN_NEW) {
      if (sc == S_LOGIN_NEW)
        DATA_CALL(s, &mo, sessio_incr(s, "cart.A1", 1, NULL),
                  m_incr(&mo, "cart.A1", 1));
      if (!ok(sessio_login(s, "alice", 0, now), "sessio_login")) break;
      snprintf(mo.user, sizeof mo.user, "alice");
      if (target >= 0) dead[target] = 1;
    } else if (sc == S_REGENERATE) {
      DATA_CALL(s, &mo, sessio_set_str(s, "theme", "dark"),
                m_set(&mo, "theme", "s:dark"));
      if (!ok(sessio_regenerate(s), "sessio_regenerate")) break;
      dead[target] = 1;
    } else { /* destroy */
      if (!ok(sessio_destroy(s), "sessio_destroy")) break;
      dead[target] = 1;
      memset(&mo, 0, sizeof mo);
      gone_ok = sc == S_DESTROY;
      if (sc == S_DESTROY_THEN_FLASH)
        DATA_CALL(s, &mo, sessio_flash_set(s, "n", "bye"),
                  snprintf(mo.flash, sizeof mo.flash, "bye"));
    }
    done = ok(sessio_commit(s, now), "sessio_commit");
    break;
  }
  case S_MERGE:
    DATA_CALL(s, &mo, sessio_incr(s, "cart.A1", 1, NULL),
              m_incr(&mo, "cart.A1", 1));
    DATA_CALL(s, &mo, sessio_set_str(s, "theme", "dark"),
              m_set(&mo, "theme", "s:dark"));
    done = ok(sessio_commit(s, now), "sessio_commit");
    break;
  case S_CLEAR_MERGE: /* every user key, one DEL each in the log */
    DATA_CALL(s, &mo, sessio_set_str(s, "theme", "dark"),
              m_set(&mo, "theme", "s:dark"));
    DATA_CALL(s, &mo, sessio_delete_prefix(s, ""), mo.n = 0);
    done = ok(sessio_commit(s, now), "sessio_commit");
    break;
  case S_REGENERATE_MERGE:
    if (!ok(sessio_regenerate(s), "sessio_regenerate")) break;
    dead[target] = 1;
    done = ok(sessio_commit(s, now), "sessio_commit");
    break;
  case S_REVOKE: {
    size_t r = 0;
    char keep[SESSIO_HANDLE_LEN + 1];
    snprintf(keep, sizeof keep, "%s", before.handle[2]);
    done = ok(sessio_manager_revoke_all(w.m, "alice", keep, now, &r),
              "sessio_manager_revoke_all");
    if (done) CHECK_INT(r, 2);
    dead[0] = dead[1] = 1;
    break;
  }
  case S_LIST_REPAIRS: {
    sessio_session_info *v = NULL;
    size_t k = 0;
    done = ok(sessio_manager_user_sessions(w.m, "alice", now, &v, &k),
              "sessio_manager_user_sessions");
    if (done) CHECK_INT(k, 1);
    free(v);
    break;
  }
  default: break;
  }
  failalloc_disarm();
  injected = failalloc_injected() > 0;

  /* The outcome, allocation working. */
  int newc = -1;
  if (s && done) newc = keep_cookie(&w, s);
  if (s && !done) CHECK(sessio_cookie_header(s) == NULL);
  sessio_free(s);
  take(&w, now, &after);
  check_consistent(&w, &after, done ? moved : 0, cur_scen);
  runs++;
  if (!done) {
    aborted++;
    /* S_REVOKE may have revoked some before failing: each one is then
     * entirely gone, which check_consistent covered; the kept one lives. */
    if (sc == S_REVOKE) {
      CHECK_STR(after.dump[2], before.dump[2]);
      for (int i = 0; i < 2; i++)
        CHECK(after.dump[i][0] == '-' ||
              strcmp(after.dump[i], before.dump[i]) == 0);
    } else {
      check_unchanged(&w, &before, &after, cur_scen);
    }
  } else {
    committed++;
    char want[DUMP];
    m_dump(&mo, want);
    for (int i = 0; i < w.nck; i++)
      if (dead[i]) CHECK_STR(after.dump[i], "-");
    if (sc == S_REVOKE) {
      CHECK_STR(after.dump[2], before.dump[2]);
    } else if (sc == S_LIST_REPAIRS) {
      check_unchanged(&w, &before, &after, cur_scen);
    } else if (gone_ok ||
               ((sc == S_CREATE || sc == S_DESTROY_THEN_FLASH) && !data_ok)) {
      /* Destroyed; or no data call succeeded: no new session. */
      CHECK(newc < 0);
      CHECK_INT(after.live, before.live - (sc == S_CREATE ? 0 : 1));
    } else {
      int at = newc >= 0 ? newc : target;
      CHECK(at >= 0);
      if (at >= 0 && strcmp(after.dump[at], want) != 0) {
        fprintf(stderr, "  %s: got [%s], want [%s] (mode %s, N=%ld)\n",
                cur_scen, after.dump[at], want, mode_name(cur_mode), cur_n);
        CHECK(0);
      }
      if (sc == S_ROTATE) /* the old ID reaches it in the grace window */
        CHECK_STR(after.dump[target], want);
    }
  }
  world_close(&w);
  if (failalloc_live() != live0) {
    fprintf(stderr, "  %s: leak (mode %s, N=%ld)\n", cur_scen, mode_name(mode),
            n);
    failalloc_report_since(serial0);
    CHECK(0);
  }
  return injected;
}

/* Every N in both modes, for every scenario, until the request completes
 * without meeting a failure. */
static void test_no_session_is_half_written_when_allocation_fails(void) {
  long injected_total = 0;
  for (int sc = 0; sc < S_COUNT; sc++) {
    long per = 0;
    for (int m = FAILALLOC_ONCE; m <= FAILALLOC_FROM; m++) {
      long n;
      for (n = 1; n < 10000; n++) {
        int fails0 = harness_cur_failed_;
        int inj = run((enum scen)sc, (failalloc_mode)m, n);
        if (harness_cur_failed_ && !fails0)
          fprintf(stderr, "  ^ scenario '%s', mode %s, N=%ld\n", scen_names[sc],
                  mode_name((failalloc_mode)m), n);
        if (!inj) break;
        per++;
      }
      CHECK(n < 10000);
    }
    CHECK(per > 2); /* the request really allocates */
    injected_total += per;
    printf("# %-36s %4ld runs with an injected failure\n", scen_names[sc], per);
  }
  CHECK_INT(bad_codes, 0);
  printf("# %ld runs (%ld with an injected failure): %ld requests failed "
         "cleanly, %ld committed\n",
         runs, injected_total, aborted, committed);
  if (__lsan_do_recoverable_leak_check)
    CHECK_INT(__lsan_do_recoverable_leak_check(), 0);
}

int main(void) {
  RUN(test_no_session_is_half_written_when_allocation_fails);
  return DONE();
}
