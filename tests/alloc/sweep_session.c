/*
 * sweep_session.c — the allocation-failure sweep over the core unit tests:
 * tests/unit/test_session.c is compiled here unchanged, with RUN() sweeping
 * each case (tests/alloc/sweep.h) and the test's own allocations kept out
 * of the injection. The multi-thread stress case (16 x 1000 commits) makes
 * more than SWEEP_EVERY_MAX allocations and is swept at a sample of N.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crypto.h"
#include "sweep.h"

#undef RUN
#undef DONE
#define RUN(fn) sweep_case(#fn, fn, NULL)
#define DONE() 0
#define main session_main
#define abort() sweep_abort_()
#define pthread_create(t, a, f, x) sweep_pthread_create_(t, a, f, x)
#define pthread_join(t, r) sweep_pthread_join_(t, r)
#define malloc(n) sweep_t_malloc_(n)
#define calloc(n, m) sweep_t_calloc_(n, m)
#define realloc(p, n) sweep_t_realloc_(p, n)
#define fprintf(...) sweep_fprintf_(__VA_ARGS__)
#define printf(...) sweep_fprintf_(stdout, __VA_ARGS__)

#include "../unit/test_session.c"

#undef main
#undef printf

int main(void) {
  sweep_init();
  session_main();
  return sweep_done("test_session under allocation failure");
}
