/*
 * failalloc.c — the fault-injecting allocator of failalloc.h: __wrap_*
 * versions of malloc, calloc, realloc, strdup and free that count, fail on
 * demand, and track every live block in a hash table keyed by the masked
 * pointer (so the table never makes a leaked block look reachable).
 * Set FAILALLOC_TRAP=S in the environment to abort() at the allocation with
 * serial number S (to get its stack from the sanitizer).
 */
#include "failalloc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
void __real_free(void *p);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
void __wrap_free(void *p);

#define MASK 0xa5a5a5a5a5a5a5a5ULL

static _Atomic int mode;
static _Atomic long fail_at, calls, injected;
static _Thread_local long thread_injected;
static _Thread_local int suspended;
static long long trap = -2;

/* ---- the table of live blocks ---------------------------------------- */

typedef struct slot {
  uint64_t key; /* pointer ^ MASK; 0 = empty */
  uint64_t serial;
  size_t size;
} slot;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static slot *tab;
static size_t cap, used;
static uint64_t next_serial = 1;

static size_t home(uint64_t key) {
  key ^= key >> 29;
  key *= 0x9e3779b97f4a7c15ULL;
  return (size_t)(key >> 17) & (cap - 1);
}

static void put(uint64_t key, uint64_t serial, size_t size) {
  size_t i = home(key);
  while (tab[i].key != 0) i = (i + 1) & (cap - 1);
  tab[i] = (slot){key, serial, size};
  used++;
}

static void grow(void) {
  slot *old = tab;
  size_t ocap = cap;
  cap = cap ? cap * 2 : 4096;
  tab = __real_calloc(cap, sizeof *tab);
  if (tab == NULL) abort();
  used = 0;
  for (size_t i = 0; i < ocap; i++)
    if (old[i].key) put(old[i].key, old[i].serial, old[i].size);
  __real_free(old);
}

static void track(void *p, size_t size, uint64_t serial) {
  pthread_mutex_lock(&mu);
  if ((used + 1) * 2 > cap) grow();
  put((uint64_t)(uintptr_t)p ^ MASK, serial, size);
  pthread_mutex_unlock(&mu);
}

/* Removes 'p' from the table (backward-shift deletion); 0 when unknown. */
static int untrack(void *p) {
  uint64_t key = (uint64_t)(uintptr_t)p ^ MASK;
  int found = 0;
  pthread_mutex_lock(&mu);
  if (cap) {
    size_t i = home(key);
    while (tab[i].key != 0 && tab[i].key != key) i = (i + 1) & (cap - 1);
    if (tab[i].key == key) {
      found = 1;
      used--;
      size_t j = i;
      for (;;) {
        tab[i].key = 0;
        for (;;) {
          j = (j + 1) & (cap - 1);
          if (tab[j].key == 0) goto out;
          size_t h = home(tab[j].key);
          /* j's entry may move to i when its home is not in (i, j]. */
          if (i <= j ? (i >= h || h > j) : (i >= h && h > j)) break;
        }
        tab[i] = tab[j];
        i = j;
      }
    }
  }
out:
  pthread_mutex_unlock(&mu);
  return found;
}

static uint64_t take_serial(void) {
  pthread_mutex_lock(&mu);
  uint64_t s = next_serial++;
  pthread_mutex_unlock(&mu);
  if (trap == -2) {
    const char *t = getenv("FAILALLOC_TRAP");
    trap = t ? atoll(t) : -1;
  }
  if ((long long)s == trap) abort();
  return s;
}

/* ---- injection --------------------------------------------------------- */

static int should_fail(void) {
  if (suspended) return 0;
  long n = ++calls;
  int md = mode;
  if (md == FAILALLOC_OFF) return 0;
  long at = fail_at;
  if ((md == FAILALLOC_ONCE && n == at) || (md == FAILALLOC_FROM && n >= at)) {
    injected++;
    thread_injected++;
    return 1;
  }
  return 0;
}

void failalloc_arm(failalloc_mode m, long n) {
  mode = FAILALLOC_OFF;
  calls = 0;
  injected = 0;
  fail_at = n;
  mode = m;
}

void failalloc_disarm(void) { mode = FAILALLOC_OFF; }
long failalloc_calls(void) { return calls; }
long failalloc_injected(void) { return injected; }
long failalloc_thread_injected(void) { return thread_injected; }
void failalloc_suspend(int on) { suspended += on ? 1 : -1; }

size_t failalloc_live(void) {
  pthread_mutex_lock(&mu);
  size_t n = used;
  pthread_mutex_unlock(&mu);
  return n;
}

uint64_t failalloc_serial(void) {
  pthread_mutex_lock(&mu);
  uint64_t s = next_serial;
  pthread_mutex_unlock(&mu);
  return s;
}

size_t failalloc_report_since(uint64_t from) {
  size_t n = 0;
  pthread_mutex_lock(&mu);
  for (size_t i = 0; i < cap; i++) {
    if (tab[i].key && tab[i].serial >= from) {
      if (n < 20)
        fprintf(stderr,
                "  leaked block: %zu bytes, allocation serial %llu "
                "(FAILALLOC_TRAP=%llu shows where)\n",
                tab[i].size, (unsigned long long)tab[i].serial,
                (unsigned long long)tab[i].serial);
      n++;
    }
  }
  pthread_mutex_unlock(&mu);
  return n;
}

/* ---- the wrappers -------------------------------------------------------- */

void *__wrap_malloc(size_t n) {
  if (should_fail()) return NULL;
  uint64_t s = take_serial();
  void *p = __real_malloc(n);
  if (p) track(p, n, s);
  return p;
}

void *__wrap_calloc(size_t n, size_t m) {
  if (should_fail()) return NULL;
  uint64_t s = take_serial();
  void *p = __real_calloc(n, m);
  if (p) track(p, n * m, s);
  return p;
}

void *__wrap_realloc(void *p, size_t n) {
  if (should_fail()) return NULL; /* 'p' stays valid */
  uint64_t s = take_serial();
  /* Untracked first: once freed, another thread may be given 'p'. */
  int had = p ? untrack(p) : 0;
  void *q = __real_realloc(p, n);
  if (q)
    track(q, n, s);
  else if (had && n != 0)
    track(p, n, s); /* failed: 'p' is still ours */
  return q;
}

char *__wrap_strdup(const char *str) {
  if (should_fail()) return NULL;
  uint64_t s = take_serial();
  char *p = __real_strdup(str);
  if (p) track(p, strlen(str) + 1, s);
  return p;
}

void (*failalloc_free_hook)(void *p);

void __wrap_free(void *p) {
  if (p == NULL) return;
  if (failalloc_free_hook) failalloc_free_hook(p);
  untrack(p); /* blocks from shared libraries are simply not in the table */
  __real_free(p);
}

void *failalloc_real_malloc(size_t n) { return __real_malloc(n); }
void *failalloc_real_calloc(size_t n, size_t m) { return __real_calloc(n, m); }
void *failalloc_real_realloc(void *p, size_t n) { return __real_realloc(p, n); }
char *failalloc_real_strdup(const char *s) { return __real_strdup(s); }
