/*
 * redis_cluster.c — the redis-cluster:// store: routing of the shared
 * Redis store methods (redis_methods.c) over a Redis Cluster (the URL
 * grammar: redis_methods.h). A slot map (16384 slots -> node) comes from
 * CLUSTER SLOTS; each command goes to its key's slot owner; MOVED updates
 * the map and retries, ASK
 * retries once on the named node after ASKING; connection failures and
 * CLUSTERDOWN/TRYAGAIN refresh the map and retry with backoff for up to
 * failover_wait_ms (a replica being promoted), then SESSIO_EUNAVAIL. Each
 * node has its own connection pool (rc_pool). Every command touches one
 * key, so no command ever spans slots.
 */
#include <stdlib.h>
#include <string.h>

#include "redis_methods.h"

#define NSLOTS 16384
#define MAX_NODES 1024
#define REFRESH_MIN_MS 100 /* full map refreshes at most this often */
#define MAX_REDIRECTS 16

typedef struct cnode {
  rc_pool pool;
} cnode;

typedef struct cluster_store {
  rc_store rs; /* first: sessio_store is its first member */
  rc_options opt;
  char user[128], password[256];

  pthread_mutex_t mu;      /* guards everything below */
  cnode *nodes[MAX_NODES]; /* grow only, freed at close: pointers stay */
  size_t n_nodes;
  int16_t slots[NSLOTS];     /* index into nodes, -1 when unknown */
  size_t masters[MAX_NODES]; /* slot owners of the last full map, sorted */
  size_t n_masters;
  int64_t last_refresh; /* monotonic ms of the last full refresh */
  int last_refresh_ok;
  int refresh_wanted; /* a MOVED or failure asked for a refresh */
} cluster_store;

/* The node for host:port, added when new; NULL when full or out of
 * memory. Called with 'mu' held. */
static cnode *node_get_locked(cluster_store *cs, const char *host, size_t hlen,
                              int port, size_t *index) {
  for (size_t i = 0; i < cs->n_nodes; i++) {
    rc_pool *p = &cs->nodes[i]->pool;
    if (p->port == port && strlen(p->host) == hlen &&
        memcmp(p->host, host, hlen) == 0) {
      if (index) *index = i;
      return cs->nodes[i];
    }
  }
  if (cs->n_nodes == MAX_NODES || hlen == 0 ||
      hlen >= sizeof cs->nodes[0]->pool.host)
    return NULL;
  cnode *n = calloc(1, sizeof *n);
  if (n == NULL) return NULL;
  sessio__rc_pool_init(&n->pool, &cs->rs.base);
  if (sessio__rc_pool_set_links(&n->pool, cs->opt.links) != SESSIO_OK) {
    sessio__rc_pool_destroy(&n->pool);
    free(n);
    return NULL;
  }
  memcpy(n->pool.host, host, hlen);
  n->pool.host[hlen] = '\0';
  n->pool.port = port;
  n->pool.connect_ms = cs->opt.connect_ms;
  n->pool.timeout_ms = cs->opt.timeout_ms;
  strcpy(n->pool.user, cs->user);
  strcpy(n->pool.password, cs->password);
  if (index) *index = cs->n_nodes;
  cs->nodes[cs->n_nodes++] = n;
  return n;
}

static int cmp_size(const void *a, const void *b) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  return x < y ? -1 : x > y;
}

/* Installs a CLUSTER SLOTS reply got from node 'from'. 1 when it covered
 * at least one slot. Called with 'mu' held. */
static int install_map_locked(cluster_store *cs, const redisReply *r,
                              const cnode *from) {
  int16_t map[NSLOTS]; /* 32 KiB on the stack */
  size_t masters[MAX_NODES], nm = 0;
  size_t covered = 0;
  if (r->type != REDIS_REPLY_ARRAY) return 0;
  memset(map, 0xff, sizeof map);
  for (size_t i = 0; i < r->elements; i++) {
    const redisReply *e = r->element[i];
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 3) continue;
    const redisReply *lo = e->element[0], *hi = e->element[1];
    if (lo->type != REDIS_REPLY_INTEGER || hi->type != REDIS_REPLY_INTEGER ||
        lo->integer < 0 || hi->integer >= NSLOTS || lo->integer > hi->integer)
      continue;
    size_t owner = 0;
    for (size_t j = 2; j < e->elements; j++) {
      const redisReply *n = e->element[j];
      if (n->type != REDIS_REPLY_ARRAY || n->elements < 2 ||
          n->element[0]->type != REDIS_REPLY_STRING ||
          n->element[1]->type != REDIS_REPLY_INTEGER)
        continue;
      const char *host = n->element[0]->str;
      size_t hlen = n->element[0]->len;
      if (hlen == 0) { /* "the node that answered" */
        host = from->pool.host;
        hlen = strlen(host);
      }
      size_t idx;
      if (node_get_locked(cs, host, hlen, (int)n->element[1]->integer, &idx) ==
          NULL)
        continue;
      if (j == 2) owner = idx + 1;
    }
    if (owner == 0) continue;
    for (long long s = lo->integer; s <= hi->integer; s++)
      map[s] = (int16_t)(owner - 1);
    covered += (size_t)(hi->integer - lo->integer + 1);
    size_t k = 0;
    while (k < nm && masters[k] != owner - 1) k++;
    if (k == nm && nm < MAX_NODES) masters[nm++] = owner - 1;
  }
  if (covered == 0) return 0;
  qsort(masters, nm, sizeof masters[0], cmp_size);
  int changed = nm != cs->n_masters ||
                memcmp(masters, cs->masters, nm * sizeof masters[0]) != 0;
  if (changed && cs->n_masters > 0) {
    char list[512];
    size_t off = 0;
    list[0] = '\0';
    for (size_t k = 0; k < nm && off < sizeof list - 1; k++) {
      int w = snprintf(list + off, sizeof list - off, "%s%s:%d", k ? "," : "",
                       cs->nodes[masters[k]]->pool.host,
                       cs->nodes[masters[k]]->pool.port);
      if (w < 0) break;
      off += (size_t)w;
    }
    /* A master gone and another new: a replica was promoted. Said so, with
     * both names, so an operator need not diff two lists. */
    char gone[272] = "", came[272] = "";
    for (size_t k = 0; k < cs->n_masters; k++) {
      size_t j = 0;
      while (j < nm && masters[j] != cs->masters[k]) j++;
      if (j == nm && gone[0] == '\0')
        snprintf(gone, sizeof gone, "%s:%d",
                 cs->nodes[cs->masters[k]]->pool.host,
                 cs->nodes[cs->masters[k]]->pool.port);
    }
    for (size_t j = 0; j < nm; j++) {
      size_t k = 0;
      while (k < cs->n_masters && cs->masters[k] != masters[j]) k++;
      if (k == cs->n_masters && came[0] == '\0')
        snprintf(came, sizeof came, "%s:%d", cs->nodes[masters[j]]->pool.host,
                 cs->nodes[masters[j]]->pool.port);
    }
    if (gone[0] && came[0])
      sessio_store_log(&cs->rs.base, SESSIO_LOG_WARN,
                       "redis-cluster failover seen: master %s replaced by %s",
                       gone, came);
    sessio_store_log(&cs->rs.base, SESSIO_LOG_WARN,
                     "redis-cluster topology changed: masters %s%s", list,
                     covered < NSLOTS ? " (some slots unserved)" : "");
  }
  memcpy(cs->slots, map, sizeof map);
  memcpy(cs->masters, masters, nm * sizeof masters[0]);
  cs->n_masters = nm;
  return 1;
}

/* Reloads the slot map from the first node that answers CLUSTER SLOTS.
 * At most once per REFRESH_MIN_MS unless 'force'; a skipped refresh
 * reports the last outcome. SESSIO_EUNAVAIL when no node answered. */
static sessio_err refresh(cluster_store *cs, int force) {
  pthread_mutex_lock(&cs->mu);
  int64_t now = sessio__rc_mono_ms();
  if (!force && now - cs->last_refresh < REFRESH_MIN_MS &&
      cs->last_refresh != 0) {
    int ok = cs->last_refresh_ok;
    pthread_mutex_unlock(&cs->mu);
    return ok ? SESSIO_OK : SESSIO_EUNAVAIL;
  }
  cs->last_refresh = now;
  cs->refresh_wanted = 0;
  size_t n = cs->n_nodes;
  pthread_mutex_unlock(&cs->mu);

  static const char *argv[2] = {"CLUSTER", "SLOTS"};
  static const size_t lens[2] = {7, 5};
  sessio_err rc = SESSIO_EUNAVAIL;
  /* Nodes are only appended, so indexes below 'n' stay valid unlocked. */
  for (size_t i = 0; i < n && rc != SESSIO_OK; i++) {
    pthread_mutex_lock(&cs->mu);
    cnode *node = cs->nodes[i];
    pthread_mutex_unlock(&cs->mu);
    redisReply *r;
    sessio_err e =
        sessio__rc_pool_command(&node->pool, 0, 2, argv, lens, &r, NULL);
    if (e == SESSIO_ENOMEM) {
      rc = e;
      break;
    }
    if (e != SESSIO_OK) continue;
    pthread_mutex_lock(&cs->mu);
    if (install_map_locked(cs, r, node)) rc = SESSIO_OK;
    pthread_mutex_unlock(&cs->mu);
    freeReplyObject(r);
  }
  pthread_mutex_lock(&cs->mu);
  cs->last_refresh_ok = rc == SESSIO_OK;
  pthread_mutex_unlock(&cs->mu);
  return rc;
}

/* Parses "MOVED 3999 127.0.0.1:6381" / "ASK ..." into the node. */
static cnode *redirect_target(cluster_store *cs, const char *err,
                              unsigned *slot) {
  const char *sp = strchr(err, ' ');
  if (sp == NULL) return NULL;
  char *end;
  unsigned long s = strtoul(sp + 1, &end, 10);
  if (*end != ' ' || s >= NSLOTS) return NULL;
  const char *addr = end + 1, *colon = strrchr(addr, ':');
  if (colon == NULL || colon == addr) return NULL;
  long port = strtol(colon + 1, &end, 10);
  if (port <= 0 || port > 65535 || (*end != '\0' && *end != ' ')) return NULL;
  *slot = (unsigned)s;
  pthread_mutex_lock(&cs->mu);
  cnode *n = node_get_locked(cs, addr, (size_t)(colon - addr), (int)port, NULL);
  pthread_mutex_unlock(&cs->mu);
  return n;
}

static int starts(const char *s, const char *w) {
  size_t n = strlen(w);
  return strncmp(s, w, n) == 0 && (s[n] == ' ' || s[n] == '\0');
}

static sessio_err cluster_exec(rc_store *rs, const char *key, size_t klen,
                               int argc, const char **argv, const size_t *lens,
                               redisReply **reply) {
  cluster_store *cs = (cluster_store *)rs;
  unsigned slot = sessio__rc_slot(key, klen);
  int64_t deadline = sessio__rc_mono_ms() + cs->opt.failover_wait_ms;
  int64_t backoff = 10;
  cnode *ask = NULL;
  *reply = NULL;
  for (int redirects = 0;;) {
    cnode *node = ask;
    if (node == NULL) {
      pthread_mutex_lock(&cs->mu);
      int idx = cs->slots[slot];
      int want = cs->refresh_wanted;
      pthread_mutex_unlock(&cs->mu);
      if (idx < 0 || want) {
        sessio_err e = refresh(cs, 0);
        if (e == SESSIO_ENOMEM) return e;
        pthread_mutex_lock(&cs->mu);
        idx = cs->slots[slot];
        pthread_mutex_unlock(&cs->mu);
      }
      pthread_mutex_lock(&cs->mu);
      node = idx >= 0 ? cs->nodes[idx] : NULL;
      pthread_mutex_unlock(&cs->mu);
    }
    sessio_err rc = SESSIO_EUNAVAIL;
    int maybe_done = 0;
    if (node != NULL)
      rc = sessio__rc_pool_command(&node->pool, ask != NULL, argc, argv, lens,
                                   reply, &maybe_done);
    ask = NULL;
    if (rc == SESSIO_OK && (*reply)->type == REDIS_REPLY_ERROR) {
      const char *err = (*reply)->str;
      unsigned s;
      if ((starts(err, "MOVED") || starts(err, "ASK")) &&
          redirects < MAX_REDIRECTS) {
        int moved = err[0] == 'M';
        cnode *to = redirect_target(cs, err, &s);
        freeReplyObject(*reply);
        *reply = NULL;
        redirects++;
        if (to == NULL) return SESSIO_EIO;
        if (moved) {
          pthread_mutex_lock(&cs->mu);
          for (size_t i = 0; i < cs->n_nodes; i++)
            if (cs->nodes[i] == to) cs->slots[s] = (int16_t)i;
          cs->refresh_wanted = 1; /* probably more slots moved */
          pthread_mutex_unlock(&cs->mu);
        } else {
          ask = to;
        }
        continue;
      }
      if (starts(err, "CLUSTERDOWN") || starts(err, "TRYAGAIN") ||
          starts(err, "MASTERDOWN") || starts(err, "READONLY") ||
          starts(err, "LOADING")) {
        freeReplyObject(*reply); /* not run: safe to retry */
        *reply = NULL;
        rc = SESSIO_EUNAVAIL;
      } else {
        return SESSIO_OK; /* an answer; the caller maps the error */
      }
    } else if (rc == SESSIO_OK) {
      return SESSIO_OK;
    }
    if (rc != SESSIO_EUNAVAIL) return rc;
    pthread_mutex_lock(&cs->mu);
    cs->refresh_wanted = 1;
    pthread_mutex_unlock(&cs->mu);
    /* Sent and maybe run: not retried. Else wait for the cluster to heal,
     * unless no node at all answers. */
    if (maybe_done) return SESSIO_EUNAVAIL;
    sessio_err e = refresh(cs, 0);
    if (e != SESSIO_OK) return e;
    /* Fail fast: while the slot's owner is known down (its circuit open)
     * waiting would only hold the caller's thread; the 503 comes at once,
     * and a later call finds the promoted replica through the refreshed
     * map. Only a cluster that says it is healing (CLUSTERDOWN, TRYAGAIN)
     * or a node that just failed is waited for, up to failover_wait_ms. */
    pthread_mutex_lock(&cs->mu);
    int idx = cs->slots[slot];
    cnode *owner = idx >= 0 ? cs->nodes[idx] : NULL;
    pthread_mutex_unlock(&cs->mu);
    if (owner != NULL && sessio__rc_pool_open(&owner->pool))
      return SESSIO_EUNAVAIL;
    if (owner != NULL && owner != node && redirects++ < MAX_REDIRECTS)
      continue; /* the slot moved (a replica promoted): try it now */
    if (sessio__rc_mono_ms() + backoff > deadline) return SESSIO_EUNAVAIL;
    sessio__rc_sleep_ms(backoff);
    backoff = backoff * 2 > 200 ? 200 : backoff * 2;
  }
}

/* gc/iterate scan: each master of the current map in turn. */
static sessio_err cluster_scan(rc_store *rs, rc_cursor *cur,
                               const char *pattern, size_t count, char ***keys,
                               size_t *n, int *wrapped, rc_pool **from) {
  cluster_store *cs = (cluster_store *)rs;
  *from = NULL;
  *keys = NULL;
  *n = 0;
  *wrapped = 0;
  pthread_mutex_lock(&cs->mu);
  int want = cs->refresh_wanted || cs->n_masters == 0;
  pthread_mutex_unlock(&cs->mu);
  if (want) {
    sessio_err e = refresh(cs, 0);
    if (e != SESSIO_OK) return e;
  }
  pthread_mutex_lock(&cs->mu);
  size_t nm = cs->n_masters;
  cnode *node = cur->node < nm ? cs->nodes[cs->masters[cur->node]] : NULL;
  pthread_mutex_unlock(&cs->mu);
  if (node == NULL) { /* fewer masters than before: the pass is over */
    memset(cur, 0, sizeof *cur);
    *wrapped = 1;
    return SESSIO_OK;
  }
  int ended = 0;
  *from = &node->pool;
  sessio_err rc = sessio__rc_scan_pool(&node->pool, &cur->cur, pattern, count,
                                       keys, n, &ended);
  if (rc != SESSIO_OK) return rc;
  if (ended) {
    cur->node++;
    cur->cur = 0;
    if (cur->node >= nm) {
      memset(cur, 0, sizeof *cur);
      *wrapped = 1;
    }
  }
  return SESSIO_OK;
}

static const rc_ops cluster_ops = {cluster_exec, cluster_scan};

static void cluster_free(cluster_store *cs) {
  explicit_bzero(cs->password, sizeof cs->password);
  for (size_t i = 0; i < cs->n_nodes; i++) {
    sessio__rc_pool_destroy(&cs->nodes[i]->pool);
    free(cs->nodes[i]);
  }
  pthread_mutex_destroy(&cs->mu);
  free(cs);
}

static void cluster_close(sessio_store *st) {
  cluster_store *cs = (cluster_store *)st;
  sessio__rc_store_destroy(&cs->rs);
  cluster_free(cs);
}

static const sessio_store_methods cluster_methods =
    SESSIO__RC_METHODS("redis-cluster", cluster_close);

/* 'rest' is the URL after "redis-cluster:" (grammar: redis_methods.h). */
sessio_err sessio__store_open_redis_cluster(const char *rest,
                                            sessio_store **out) {
  sessio_err rc;
  if (strncmp(rest, "//", 2) != 0) return SESSIO_EINVAL;
  cluster_store *cs = calloc(1, sizeof *cs);
  if (cs == NULL) return SESSIO_ENOMEM;
  cs->rs.base.methods = &cluster_methods;
  pthread_mutex_init(&cs->mu, NULL);
  memset(cs->slots, 0xff, sizeof cs->slots);
  sessio__rc_options_default(&cs->opt);

  rc_pool auth; /* only its user and password fields are used */
  memset(&auth, 0, sizeof auth);
  const char *p = sessio__rc_parse_auth(rest + 2, &auth);
  if (p == NULL) {
    rc = SESSIO_EINVAL;
    goto fail;
  }
  strcpy(cs->user, auth.user);
  strcpy(cs->password, auth.password);
  explicit_bzero(auth.password, sizeof auth.password);
  const char *hend = p + strcspn(p, "/?");
  /* No /DB: a cluster has only database 0, so a '/' is SESSIO_EINVAL. */
  rc = sessio__rc_parse_query(hend, &cs->opt);
  if (rc != SESSIO_OK) goto fail;
  rc = sessio__rc_store_init(&cs->rs, &cluster_ops, &cs->opt);
  if (rc != SESSIO_OK) goto fail;
  for (const char *s = p; s < hend;) {
    const char *e = memchr(s, ',', (size_t)(hend - s));
    if (e == NULL) e = hend;
    if (e == s || (e < hend && e + 1 == hend)) { /* empty "a,,b" / "a," */
      rc = SESSIO_EINVAL;
      goto fail_store;
    }
    rc_pool hp;
    memset(&hp, 0, sizeof hp);
    /* No Unix socket: the nodes announce each other by address and port. */
    if (!sessio__rc_parse_hostport(s, e, &hp) || hp.host[0] == '/') {
      rc = SESSIO_EINVAL;
      goto fail_store;
    }
    pthread_mutex_lock(&cs->mu);
    cnode *n = node_get_locked(cs, hp.host, strlen(hp.host), hp.port, NULL);
    pthread_mutex_unlock(&cs->mu);
    if (n == NULL) {
      rc = SESSIO_ENOMEM;
      goto fail_store;
    }
    s = e < hend ? e + 1 : e;
  }
  if (cs->n_nodes == 0) {
    rc = SESSIO_EINVAL;
    goto fail_store;
  }
  rc = refresh(cs, 1);
  if (rc != SESSIO_OK) goto fail_store;
  *out = &cs->rs.base;
  return SESSIO_OK;

fail_store:
  sessio__rc_store_destroy(&cs->rs);
  cluster_free(cs);
  return rc;
fail:
  cluster_free(cs);
  return rc;
}
