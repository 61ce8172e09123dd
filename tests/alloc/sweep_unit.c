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
#include "sweep_redirect.h"

#include SWEEP_TEST_SOURCE

#undef main
#undef printf

int main(void) {
  sweep_init();
  unit_main();
  return sweep_done(SWEEP_TEST_SOURCE " under allocation failure");
}
