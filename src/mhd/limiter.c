/*
 * limiter.c — sessio-mhd's per-client limiter (a set-associative table of
 * LIM_BUCKETS x LIM_WAYS fixed windows, each bucket guarded by one of
 * LIM_STRIPES mutexes), the client keys (SipHash-2-4 of the address under
 * the limiter's random key) and the invalid-ID throttle built on them
 * (S21). Time is a parameter, so tests/unit/test_mhd_limiter.c drives the
 * table directly.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "mhd/mhd_internal.h"

#define LIM_BUCKETS 1024
#define LIM_WAYS 4
#define LIM_STRIPES 64

typedef struct slot {
  uint64_t key; /* meaningful only when 'count' > 0 */
  int64_t window_start;
  unsigned count; /* counted in the window that began at window_start */
} slot;

struct sessio_mhd_limiter {
  unsigned limit;
  int64_t window_ms;
  uint64_t k0, k1; /* SipHash key */
  /* The latest end of a window in which some client reached the limit:
   * before it, someone may be refused; from it on, nobody is. */
  _Atomic int64_t refusing_until;
  pthread_mutex_t mu[LIM_STRIPES];
  slot tab[LIM_BUCKETS][LIM_WAYS];
};

/* ---- SipHash-2-4 ----------------------------------------------------------- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                               \
  do {                                                                         \
    v0 += v1;                                                                  \
    v1 = ROTL(v1, 13);                                                         \
    v1 ^= v0;                                                                  \
    v0 = ROTL(v0, 32);                                                         \
    v2 += v3;                                                                  \
    v3 = ROTL(v3, 16);                                                         \
    v3 ^= v2;                                                                  \
    v0 += v3;                                                                  \
    v3 = ROTL(v3, 21);                                                         \
    v3 ^= v0;                                                                  \
    v2 += v1;                                                                  \
    v1 = ROTL(v1, 17);                                                         \
    v1 ^= v2;                                                                  \
    v2 = ROTL(v2, 32);                                                         \
  } while (0)

static uint64_t siphash(uint64_t k0, uint64_t k1, const unsigned char *p,
                        size_t len) {
  uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
  uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
  uint64_t b = (uint64_t)len << 56, m;
  size_t i, end = len - len % 8;
  for (i = 0; i < end; i += 8) {
    m = 0;
    for (int j = 7; j >= 0; j--) m = m << 8 | p[i + (size_t)j];
    v3 ^= m;
    SIPROUND;
    SIPROUND;
    v0 ^= m;
  }
  for (int j = (int)(len % 8) - 1; j >= 0; j--)
    b |= (uint64_t)p[end + (size_t)j] << (8 * j);
  v3 ^= b;
  SIPROUND;
  SIPROUND;
  v0 ^= b;
  v2 ^= 0xff;
  SIPROUND;
  SIPROUND;
  SIPROUND;
  SIPROUND;
  return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- the table ------------------------------------------------------------- */

sessio_err sessio_mhd_limiter_new(unsigned limit, int64_t window_ms,
                                  sessio_mhd_limiter **out) {
  sessio_mhd_limiter *l;
  unsigned char key[16];
  size_t got = 0;
  int i;
  if (out == NULL) return SESSIO_EINVAL;
  *out = NULL;
  if (window_ms <= 0) return SESSIO_EINVAL;
  while (got < sizeof key) {
    ssize_t n = getrandom(key + got, sizeof key - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return SESSIO_ERANDOM; /* fail closed: no predictable keys */
    got += (size_t)n;
  }
  l = calloc(1, sizeof *l);
  if (l == NULL) return SESSIO_ENOMEM;
  l->limit = limit;
  l->window_ms = window_ms;
  memcpy(&l->k0, key, 8);
  memcpy(&l->k1, key + 8, 8);
  atomic_init(&l->refusing_until, INT64_MIN);
  for (i = 0; i < LIM_STRIPES; i++)
    if (pthread_mutex_init(&l->mu[i], NULL) != 0) goto fail_mu;
  *out = l;
  return SESSIO_OK;
fail_mu:
  while (i-- > 0) pthread_mutex_destroy(&l->mu[i]);
  free(l);
  return SESSIO_ENOMEM;
}

void sessio_mhd_limiter_free(sessio_mhd_limiter *l) {
  if (l == NULL) return;
  for (int i = 0; i < LIM_STRIPES; i++) pthread_mutex_destroy(&l->mu[i]);
  free(l);
}

/* A window is live from its start for window_ms. A clock that went back
 * before the start ends it too, so a step back never blocks anyone for
 * longer than one window. */
static int live(const sessio_mhd_limiter *l, const slot *s, int64_t now) {
  return s->count > 0 && now >= s->window_start &&
         now - s->window_start < l->window_ms;
}

/* Keys are keyed hashes already: their low bits pick the bucket. */
static size_t bucket_of(uint64_t key) { return (size_t)(key % LIM_BUCKETS); }

int sessio_mhd_limiter_active(sessio_mhd_limiter *l, int64_t now) {
  return l != NULL && l->limit > 0 &&
         now < atomic_load_explicit(&l->refusing_until, memory_order_acquire);
}

int64_t sessio_mhd_limiter_check(sessio_mhd_limiter *l, uint64_t key,
                                 int64_t now) {
  size_t b = bucket_of(key);
  int64_t left = 0;
  if (l == NULL || l->limit == 0) return 0;
  pthread_mutex_lock(&l->mu[b % LIM_STRIPES]);
  for (int w = 0; w < LIM_WAYS; w++) {
    const slot *s = &l->tab[b][w];
    if (s->count > 0 && s->key == key) {
      if (live(l, s, now) && s->count >= l->limit)
        left = s->window_start + l->window_ms - now;
      break;
    }
  }
  pthread_mutex_unlock(&l->mu[b % LIM_STRIPES]);
  return left;
}

unsigned sessio_mhd_limiter_note(sessio_mhd_limiter *l, uint64_t key,
                                 unsigned n, int64_t now) {
  size_t b = bucket_of(key);
  slot *row, *s = NULL;
  unsigned count, before;
  if (l == NULL || n == 0) return 0;
  pthread_mutex_lock(&l->mu[b % LIM_STRIPES]);
  row = l->tab[b];
  for (int w = 0; w < LIM_WAYS; w++)
    if (row[w].count > 0 && row[w].key == key) {
      s = &row[w];
      break;
    }
  if (s == NULL) {
    /* A free or stale way first, else the lowest count (the oldest among
     * equals): a flood of new addresses evicts light senders, not the
     * client that is being refused. */
    for (int w = 0; w < LIM_WAYS; w++) {
      slot *c = &row[w];
      if (!live(l, c, now)) {
        s = c;
        break;
      }
      if (s == NULL || c->count < s->count ||
          (c->count == s->count && c->window_start < s->window_start))
        s = c;
    }
    s->key = key;
    s->count = 0;
  }
  if (!live(l, s, now)) {
    s->window_start = now;
    s->count = 0;
  }
  before = s->count;
  s->count = n > UINT_MAX - before ? UINT_MAX : before + n;
  count = s->count;
  if (l->limit > 0 && before < l->limit && count >= l->limit) {
    /* refusals begin: raise the mark */
    int64_t end = s->window_start + l->window_ms;
    int64_t cur =
        atomic_load_explicit(&l->refusing_until, memory_order_relaxed);
    while (cur < end && !atomic_compare_exchange_weak_explicit(
                            &l->refusing_until, &cur, end, memory_order_release,
                            memory_order_relaxed)) {
    }
  }
  pthread_mutex_unlock(&l->mu[b % LIM_STRIPES]);
  return count;
}

/* ---- client keys ------------------------------------------------------------- */

typedef struct client_addr {
  unsigned char
      b[1 + 16 + 1 + SESSIO_USER_MAX]; /* family tag, address, scope */
  size_t n;
} client_addr;

/* Keeps the bytes that name the client: IPv4 (also mapped in IPv6) whole,
 * IPv6 its /64. */
static void client_set(client_addr *c, int family, const unsigned char *p,
                       char *text, size_t cap) {
  static const unsigned char mapped[12] = {0, 0, 0, 0, 0,    0,
                                           0, 0, 0, 0, 0xff, 0xff};
  char buf[INET6_ADDRSTRLEN];
  if (family == AF_INET6 && memcmp(p, mapped, 12) == 0) {
    family = AF_INET;
    p += 12;
  }
  if (family == AF_INET) {
    c->b[0] = 4;
    memcpy(c->b + 1, p, 4);
    c->n = 5;
  } else {
    c->b[0] = 6;
    memcpy(c->b + 1, p, 8);
    c->n = 9;
  }
  if (text != NULL && cap > 0 && inet_ntop(family, p, buf, sizeof buf) != NULL)
    snprintf(text, cap, "%s", buf);
}

/* The last element of an X-Forwarded-For value, when it is an address. */
static int client_from_xff(client_addr *c, const char *xff, char *text,
                           size_t cap) {
  const char *s = strrchr(xff, ',');
  char buf[INET6_ADDRSTRLEN];
  unsigned char a[16];
  size_t n;
  s = s ? s + 1 : xff;
  s += strspn(s, " \t");
  n = strcspn(s, " \t");
  if (n == 0 || n >= sizeof buf) return 0;
  memcpy(buf, s, n);
  buf[n] = '\0';
  if (inet_pton(AF_INET, buf, a) == 1)
    client_set(c, AF_INET, a, text, cap);
  else if (inet_pton(AF_INET6, buf, a) == 1)
    client_set(c, AF_INET6, a, text, cap);
  else
    return 0;
  return 1;
}

uint64_t sessio_mhd_limiter_client(const sessio_mhd_limiter *l,
                                   struct MHD_Connection *connection,
                                   int trust_proxy, const char *scope,
                                   char *text, size_t cap) {
  client_addr c;
  const char *xff;
  c.b[0] = 0;
  c.n = 1;
  if (text != NULL && cap > 0) snprintf(text, cap, "?");
  xff = trust_proxy ? MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
                                                  "X-Forwarded-For")
                    : NULL;
  if (xff == NULL || !client_from_xff(&c, xff, text, cap)) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci != NULL && ci->client_addr != NULL) {
      const struct sockaddr *sa = ci->client_addr;
      if (sa->sa_family == AF_INET)
        client_set(&c, AF_INET,
                   (const unsigned char *)&(
                       (const struct sockaddr_in *)(const void *)sa)
                       ->sin_addr,
                   text, cap);
      else if (sa->sa_family == AF_INET6)
        client_set(&c, AF_INET6,
                   (const unsigned char *)&(
                       (const struct sockaddr_in6 *)(const void *)sa)
                       ->sin6_addr,
                   text, cap);
    }
  }
  if (scope != NULL) {
    size_t sn = strnlen(scope, SESSIO_USER_MAX);
    c.b[c.n++] = 0xff; /* never a family tag: a scoped key is apart */
    memcpy(c.b + c.n, scope, sn);
    c.n += sn;
  }
  return l != NULL ? siphash(l->k0, l->k1, c.b, c.n) : 0;
}

uint64_t sessio_mhd_limiter_key(const sessio_mhd_limiter *l, const void *data,
                                size_t len) {
  if (l == NULL || (data == NULL && len > 0)) return 0;
  return siphash(l->k0 ^ 0x5bd1e995ULL, l->k1, data,
                 len); /* apart from clients */
}

/* ---- the invalid-ID throttle (S21) ---------------------------------------- */

struct has_sid {
  const char *name[2];
  size_t len[2];
  int found;
};

static int find_sid(void *ud, const char *name, size_t name_len,
                    const char *val, size_t val_len) {
  struct has_sid *h = ud;
  (void)val;
  (void)val_len;
  for (int i = 0; i < 2; i++)
    if (name_len == h->len[i] && memcmp(name, h->name[i], name_len) == 0) {
      h->found = 1;
      return 1; /* stop */
    }
  return 0;
}

/* 1 when a Cookie header of the request names one of the manager's cookie
 * names (with or without TLS: either costs a guesser nothing to send),
 * read as sessio_begin() reads them: every header, the core's parser,
 * within the same byte limit. A request over the limits counts as
 * carrying one (it is answered 431 anyway). */
static int carries_session_cookie(sessio_manager *mgr,
                                  struct MHD_Connection *connection) {
  const char *vals[SESSIO_MHD_MAX_COOKIE_HEADERS];
  size_t n;
  struct has_sid h;
  if (sessio_mhd__cookies(connection, vals, &n) != 0) return 1;
  h.name[0] = sessio_manager_cookie_name(mgr, 0);
  h.name[1] = sessio_manager_cookie_name(mgr, 1);
  h.len[0] = strlen(h.name[0]);
  h.len[1] = strlen(h.name[1]);
  h.found = 0;
  for (size_t i = 0; i < n && !h.found; i++)
    sessio_cookie_parse(vals[i], strlen(vals[i]), find_sid, &h);
  return h.found;
}

int64_t sessio_mhd_invalid_id_check(sessio_mhd_limiter *l, sessio_manager *mgr,
                                    struct MHD_Connection *connection,
                                    int trust_proxy, int64_t now) {
  /* Who the client is costs a hash and the cookie parse: found out only
   * while someone may be refused at all. */
  if (!sessio_mhd_limiter_active(l, now) || mgr == NULL ||
      !carries_session_cookie(mgr, connection))
    return 0;
  return sessio_mhd_limiter_check(
      l, sessio_mhd_limiter_client(l, connection, trust_proxy, NULL, NULL, 0),
      now);
}

unsigned sessio_mhd_invalid_id_note(sessio_mhd_limiter *l,
                                    struct MHD_Connection *connection,
                                    int trust_proxy, const sessio *s,
                                    int64_t now, char *text, size_t cap) {
  unsigned n = s != NULL ? sessio_rejected_ids(s) : 0;
  if (l == NULL || n == 0) return 0;
  return sessio_mhd_limiter_note(
      l, sessio_mhd_limiter_client(l, connection, trust_proxy, NULL, text, cap),
      n, now);
}
