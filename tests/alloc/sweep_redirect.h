/*
 * sweep_redirect.h — included right before a test source is compiled into
 * a sweep program (sweep_unit.h, sweep_conformance.h): routes the test's
 * abort(), thread creation, its own allocations and its output through
 * sweep.h, so that a run cut short by an injected failure can end the case,
 * join its threads and release what it held. No include guard on purpose.
 */
#define abort() sweep_abort_()
#define pthread_create(t, a, f, x) sweep_pthread_create_(t, a, f, x)
#define pthread_join(t, r) sweep_pthread_join_(t, r)
#define malloc(n) sweep_t_malloc_(n)
#define calloc(n, m) sweep_t_calloc_(n, m)
#define realloc(p, n) sweep_t_realloc_(p, n)
#define fprintf(...) sweep_fprintf_(__VA_ARGS__)
#define printf(...) sweep_fprintf_(stdout, __VA_ARGS__)
