/*
 * sweep_unit.c — the allocation-failure sweep over one core unit test file,
 * named at build time by SWEEP_TEST_SOURCE (tests/alloc/CMakeLists.txt):
 * the file is compiled here unchanged, with RUN() sweeping each case
 * (tests/alloc/sweep.h) and the test's own allocations kept out of the
 * injection. Cases making more than SWEEP_EVERY_MAX allocations (the
 * multi-thread stress cases) are swept at a sample of N.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "crypto.h"
#include "data.h"
#include "sweep.h"

#undef RUN
#undef DONE
#define RUN(fn) sweep_case(#fn, fn, NULL)
#define DONE() 0
#define main unit_main
#define abort() sweep_abort_()
#define pthread_create(t, a, f, x) sweep_pthread_create_(t, a, f, x)
#define pthread_join(t, r) sweep_pthread_join_(t, r)
#define malloc(n) sweep_t_malloc_(n)
#define calloc(n, m) sweep_t_calloc_(n, m)
#define realloc(p, n) sweep_t_realloc_(p, n)
#define fprintf(...) sweep_fprintf_(__VA_ARGS__)
#define printf(...) sweep_fprintf_(stdout, __VA_ARGS__)

#include SWEEP_TEST_SOURCE

#undef main
#undef printf

int main(void) {
  sweep_init();
  unit_main();
  return sweep_done(SWEEP_TEST_SOURCE " under allocation failure");
}
