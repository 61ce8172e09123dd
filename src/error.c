/*
 * error.c — sessio_strerror() and sessio_errname(), both generated from the
 * one error table in sessio.h; the wall-clock convenience; the version.
 */
#include <time.h>

#include "sessio.h"

const char *sessio_strerror(sessio_err err) {
  switch (err) {
  case SESSIO_OK: return "success";
#define XX(name, code, text)                                                   \
  case SESSIO_##name: return text;
    SESSIO_ERRNO_MAP(XX)
#undef XX
  default: return "unknown error";
  }
}

const char *sessio_errname(sessio_err err) {
  switch (err) {
  case SESSIO_OK: return "SESSIO_OK";
#define XX(name, code, text)                                                   \
  case SESSIO_##name: return "SESSIO_" #name;
    SESSIO_ERRNO_MAP(XX)
#undef XX
  default: return "SESSIO_UNKNOWN";
  }
}

int64_t sessio_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *sessio_version(void) { return SESSIO_VERSION_STRING; }
