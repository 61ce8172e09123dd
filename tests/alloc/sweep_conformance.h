/*
 * sweep_conformance.h — turns the store conformance suite
 * (tests/conformance/conformance.c, compiled with this header forced in
 * front of it, see tests/alloc/CMakeLists.txt) into the allocation-failure
 * sweep over its cases, with fewer threads, on the store URL given on the
 * command line (memory: in CTest): every case runs against a fresh store
 * opened before each run and closed after it, so each run's leak check
 * covers the store too. The suite's main() becomes
 * sweep_conformance_main(), called by the main() below.
 * Usage: sweep_conformance STORE-URL
 */
#ifndef SESSIO_TEST_SWEEP_CONFORMANCE_H
#define SESSIO_TEST_SWEEP_CONFORMANCE_H

#define _XOPEN_SOURCE 700 /* nftw, as conformance.c */
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "sweep.h"

/* A fresh store per run, in place of the suite's one. */
static sessio_store *sweep_saved_st_;
static const char *sweep_url_;

static void conf_before(void *ud) {
  sessio_store **stp = ud;
  sweep_saved_st_ = *stp;
  if (sessio_store_open(sweep_url_, stp) != SESSIO_OK) {
    fprintf(stderr, "cannot open %s\n", sweep_url_);
    exit(2);
  }
  sweep_borrowed_store_ = *stp;
}

static void conf_after(void *ud) {
  sessio_store **stp = ud;
  sessio_store_close(*stp);
  *stp = sweep_saved_st_;
}

int sweep_conformance_main(int argc, char **argv);

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s STORE-URL\n", argv[0]);
    return 2;
  }
  sweep_url_ = argv[1];
  sweep_init();
  if (sweep_conformance_main(argc, argv) != 0) return 1;
  return sweep_done("conformance under allocation failure");
}

/* The suite's store is 'st', a file-level variable of conformance.c. */
#undef RUN
#undef DONE
#define RUN(fn)                                                                \
  sweep_case(#fn, fn, &(sweep_hooks){conf_before, conf_after, &st})
#define DONE() 0
#define main sweep_conformance_main
#include "sweep_redirect.h"
/* 2 threads x 20 increments: every N of the concurrent cases stays cheap. */
#define CONFORMANCE_THREADS 2
#define CONFORMANCE_INCREMENTS 20

#endif
