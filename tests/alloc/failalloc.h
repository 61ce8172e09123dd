/*
 * failalloc.h — a fault-injecting allocator for tests. Linked with
 * -Wl,--wrap=malloc,calloc,realloc,strdup,free (see tests/alloc/CMakeLists.txt)
 * it sees every allocation made by the objects of the executable: libsessio
 * (static) and the test code. Shared libraries (libsodium, sqlite, libc
 * itself) are not affected.
 *
 * Modes: OFF counts only; ONCE fails the Nth allocation after failalloc_arm
 * and no other; FROM fails the Nth and every later one. Every live block is
 * tracked (pointers stored masked, so LeakSanitizer still sees a leaked
 * block as unreachable), which gives an exact leak check per run.
 */
#ifndef SESSIO_TEST_FAILALLOC_H
#define SESSIO_TEST_FAILALLOC_H

#include <stddef.h>
#include <stdint.h>

typedef enum failalloc_mode {
  FAILALLOC_OFF = 0,  /* count, never fail */
  FAILALLOC_ONCE = 1, /* fail the Nth allocation only */
  FAILALLOC_FROM = 2  /* fail the Nth and every later allocation */
} failalloc_mode;

/* Resets the counters and sets the mode; 'n' >= 1 counts from 1. */
void failalloc_arm(failalloc_mode mode, long n);
/* Back to OFF; the counters are kept. */
void failalloc_disarm(void);
/* Allocations seen since the last arm (failed ones included). */
long failalloc_calls(void);
/* Failures injected since the last arm, by all threads. */
long failalloc_injected(void);
/* Failures injected in the calling thread since it started (monotonic):
 * compare before and after a call to know whether that call met one. */
long failalloc_thread_injected(void);
/* Suspends injection (and counting) in the calling thread while > 0. */
void failalloc_suspend(int on);

/* Tracked blocks alive now, and the serial number the next allocation
 * will get (serials grow across arms). */
size_t failalloc_live(void);
uint64_t failalloc_serial(void);
/* Prints (to stderr) the live blocks allocated at or after serial 'from';
 * returns how many there are. */
size_t failalloc_report_since(uint64_t from);

/* Called with every pointer freed through the wrapper, before the free
 * (the sweep uses it to forget arrays the test held). */
extern void (*failalloc_free_hook)(void *p);

/* The real allocator, for test code that must not be failed. */
void *failalloc_real_malloc(size_t n);
void *failalloc_real_calloc(size_t n, size_t m);
void *failalloc_real_realloc(void *p, size_t n);
char *failalloc_real_strdup(const char *s);

#endif
