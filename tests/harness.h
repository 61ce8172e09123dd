/*
 * harness.h — the tiny test harness used by every C test in sessio.
 *
 * A test file defines functions 'static void test_something(void)' and a
 * main() that calls RUN(test_something) for each, then returns DONE().
 * CHECK* macros print both values on failure and mark the current test
 * failed; the run ends with the line "N passed, N failed" that CTest and CI
 * read. No test sleeps: time is passed to sessio explicitly.
 */
#ifndef SESSIO_TEST_HARNESS_H
#define SESSIO_TEST_HARNESS_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int harness_passed_, harness_failed_, harness_cur_failed_;
static const char *harness_cur_name_;

/* Run first when a check fails. The allocation-failure sweep
 * (tests/alloc/sweep.h) defines it to end a case that met an injected
 * allocation failure; by default it does nothing. */
#ifndef HARNESS_ON_FAIL
#define HARNESS_ON_FAIL() ((void)0)
#endif

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      HARNESS_ON_FAIL();                                                       \
      fprintf(stderr, "  FAIL %s:%d in %s: %s\n", __FILE__, __LINE__,          \
              harness_cur_name_, #cond);                                       \
      harness_cur_failed_ = 1;                                                 \
    }                                                                          \
  } while (0)

#define CHECK_INT(a, b)                                                        \
  do {                                                                         \
    long long ha_ = (long long)(a), hb_ = (long long)(b);                      \
    if (ha_ != hb_) {                                                          \
      HARNESS_ON_FAIL();                                                       \
      fprintf(stderr, "  FAIL %s:%d in %s: %s == %s (%lld != %lld)\n",         \
              __FILE__, __LINE__, harness_cur_name_, #a, #b, ha_, hb_);        \
      harness_cur_failed_ = 1;                                                 \
    }                                                                          \
  } while (0)

#define CHECK_STR(a, b)                                                        \
  do {                                                                         \
    const char *ha_ = (a), *hb_ = (b);                                         \
    if (ha_ == NULL || hb_ == NULL || strcmp(ha_, hb_) != 0) {                 \
      HARNESS_ON_FAIL();                                                       \
      fprintf(stderr, "  FAIL %s:%d in %s: %s == %s (\"%s\" != \"%s\")\n",     \
              __FILE__, __LINE__, harness_cur_name_, #a, #b,                   \
              ha_ ? ha_ : "(null)", hb_ ? hb_ : "(null)");                     \
      harness_cur_failed_ = 1;                                                 \
    }                                                                          \
  } while (0)

/* Checks a sessio_err against an expected one, printing both names. */
#define CHECK_ERR(a, b)                                                        \
  do {                                                                         \
    int ha_ = (int)(a), hb_ = (int)(b);                                        \
    if (ha_ != hb_) {                                                          \
      HARNESS_ON_FAIL();                                                       \
      fprintf(stderr, "  FAIL %s:%d in %s: %s == %s (%s != %s)\n", __FILE__,   \
              __LINE__, harness_cur_name_, #a, #b,                             \
              sessio_errname((sessio_err)ha_),                                 \
              sessio_errname((sessio_err)hb_));                                \
      harness_cur_failed_ = 1;                                                 \
    }                                                                          \
  } while (0)

#define CHECK_OK(a) CHECK_ERR((a), SESSIO_OK)

#define RUN(fn)                                                                \
  do {                                                                         \
    harness_cur_name_ = #fn;                                                   \
    harness_cur_failed_ = 0;                                                   \
    fn();                                                                      \
    if (harness_cur_failed_) {                                                 \
      harness_failed_++;                                                       \
      fprintf(stderr, "not ok - %s\n", #fn);                                   \
    } else {                                                                   \
      harness_passed_++;                                                       \
      printf("ok - %s\n", #fn);                                                \
    }                                                                          \
    fflush(stdout);                                                            \
  } while (0)

#define DONE()                                                                 \
  (printf("%d passed, %d failed\n", harness_passed_, harness_failed_),         \
   harness_failed_ ? 1 : 0)

#endif
