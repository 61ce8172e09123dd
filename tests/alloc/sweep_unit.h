/*
 * sweep_unit.h — turns a core unit test file into the allocation-failure
 * sweep over its cases. The build compiles tests/unit/test_NAME.c itself
 * with this header forced in front of it (-include, see
 * tests/alloc/CMakeLists.txt): RUN() then sweeps each case
 * (tests/alloc/sweep.h), the test's own allocations are kept out of the
 * injection, and the test's main() becomes sweep_unit_main(), called by
 * the main() below. Cases making more than SWEEP_EVERY_MAX allocations
 * (the multi-thread stress cases) are swept at a sample of N.
 */
#ifndef SESSIO_TEST_SWEEP_UNIT_H
#define SESSIO_TEST_SWEEP_UNIT_H

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

#ifndef SWEEP_SUITE
#error "SWEEP_SUITE names the swept test file (tests/alloc/CMakeLists.txt)"
#endif

int sweep_unit_main(void);

int main(void) {
  sweep_init();
  sweep_unit_main();
  return sweep_done(SWEEP_SUITE " under allocation failure");
}

#undef RUN
#undef DONE
#define RUN(fn) sweep_case(#fn, fn, NULL)
#define DONE() 0
#define main sweep_unit_main
#include "sweep_redirect.h"

#endif
