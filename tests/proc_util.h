/*
 * proc_util.h — what the tests' server launchers (tests/redis/redis_proc.h,
 * tests/postgres/pg_proc.h) share: a monotonic clock for their deadlines, a
 * sleep that survives EINTR, and a free loopback port to start a server on.
 * Header-only (static inline).
 */
#ifndef SESSIO_TEST_PROC_UTIL_H
#define SESSIO_TEST_PROC_UTIL_H

#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static inline int64_t tp_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void tp_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* 1 when 127.0.0.1:'port' can be bound now. SO_REUSEADDR as the servers
 * themselves use it, so a port held only by TIME_WAIT sockets counts. */
static inline int tp_port_free(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
  close(fd);
  return ok;
}

/* A free port in [11000, 22000), below Linux's ephemeral range (32768+)
 * where client sockets in TIME_WAIT would make a later bind fail; with
 * 'need_bus' set, port + 10000 is free too (a Redis cluster bus). */
static inline int tp_free_port(int need_bus) {
  for (int i = 0; i < 1000; i++) {
    unsigned r = 0;
    if (getrandom(&r, sizeof r, 0) != sizeof r) r = (unsigned)rand();
    int port = 11000 + (int)(r % 11000);
    if (tp_port_free(port) && (!need_bus || tp_port_free(port + 10000)))
      return port;
  }
  return -1;
}

#endif
