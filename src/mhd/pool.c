/*
 * pool.c — sessio-mhd's bounded job pool (S27, include/sessio/mhd_guard.h):
 * a fixed ring of queued jobs and a few worker threads at a lower priority.
 * A job belongs to a suspended MHD connection; the worker resumes it when
 * the job is done, and MHD calls the application's handler again. The
 * queue is bounded, so a flood of slow requests (password checks: 64 MiB
 * and ~100 ms of CPU each) costs at most workers x one job's memory and
 * never holds a request thread; what does not fit is refused at once.
 */
#include "sessio/mhd_guard.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define WORKER_NICE 10

typedef struct job {
  struct MHD_Connection *c;
  sessio_mhd_job_fn fn;
  void *arg;
} job;

struct sessio_mhd_pool {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int closing;
  unsigned workers, cap;
  size_t head, n; /* the ring: n jobs from head */
  job *ring;
  pthread_t *threads;
};

static void *worker_main(void *arg) {
  sessio_mhd_pool *p = arg;
  /* Request threads first: on Linux a thread has its own nice value. */
  setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), WORKER_NICE);
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (p->n == 0 && !p->closing) pthread_cond_wait(&p->cv, &p->mu);
    if (p->n == 0) break; /* closing, and nothing left to run */
    job j = p->ring[p->head];
    p->head = (p->head + 1) % p->cap;
    p->n--;
    pthread_mutex_unlock(&p->mu);
    j.fn(j.arg);
    MHD_resume_connection(j.c);
    pthread_mutex_lock(&p->mu);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

sessio_err sessio_mhd_pool_new(unsigned workers, unsigned queue,
                               sessio_mhd_pool **out) {
  if (out == NULL) return SESSIO_EINVAL;
  *out = NULL;
  if (workers == 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    workers = n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
  }
  if (queue == 0) queue = 4 * workers;
  if (workers > 1024 || queue > 1u << 20) return SESSIO_EINVAL;
  sessio_mhd_pool *p = calloc(1, sizeof *p);
  if (p == NULL) return SESSIO_ENOMEM;
  p->workers = workers;
  p->cap = queue;
  p->ring = calloc(queue, sizeof *p->ring);
  p->threads = calloc(workers, sizeof *p->threads);
  if (p->ring == NULL || p->threads == NULL) goto fail_mem;
  if (pthread_mutex_init(&p->mu, NULL) != 0) goto fail_mem;
  if (pthread_cond_init(&p->cv, NULL) != 0) goto fail_mu;
  unsigned i;
  for (i = 0; i < workers; i++)
    if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0) break;
  if (i < workers) {
    pthread_mutex_lock(&p->mu);
    p->closing = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    while (i-- > 0) pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->cv);
    goto fail_mu;
  }
  *out = p;
  return SESSIO_OK;
fail_mu:
  pthread_mutex_destroy(&p->mu);
fail_mem:
  free(p->threads);
  free(p->ring);
  free(p);
  return SESSIO_ENOMEM;
}

sessio_err sessio_mhd_pool_submit(sessio_mhd_pool *p, struct MHD_Connection *c,
                                  sessio_mhd_job_fn fn, void *arg) {
  if (p == NULL || c == NULL || fn == NULL) return SESSIO_EINVAL;
  pthread_mutex_lock(&p->mu);
  if (p->closing) {
    pthread_mutex_unlock(&p->mu);
    return SESSIO_ESTATE;
  }
  if (p->n == p->cap) {
    pthread_mutex_unlock(&p->mu);
    return SESSIO_EFULL;
  }
  /* Suspended before any worker can see the job, so the resume always
   * follows the suspend. */
  MHD_suspend_connection(c);
  p->ring[(p->head + p->n) % p->cap] = (job){c, fn, arg};
  p->n++;
  pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->mu);
  return SESSIO_OK;
}

unsigned sessio_mhd_pool_workers(const sessio_mhd_pool *p) {
  return p ? p->workers : 0;
}
unsigned sessio_mhd_pool_queue(const sessio_mhd_pool *p) {
  return p ? p->cap : 0;
}

void sessio_mhd_pool_free(sessio_mhd_pool *p) {
  if (p == NULL) return;
  pthread_mutex_lock(&p->mu);
  p->closing = 1;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  for (unsigned i = 0; i < p->workers; i++) pthread_join(p->threads[i], NULL);
  pthread_cond_destroy(&p->cv);
  pthread_mutex_destroy(&p->mu);
  free(p->threads);
  free(p->ring);
  free(p);
}
