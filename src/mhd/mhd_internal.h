/*
 * mhd_internal.h — what the files of sessio-mhd share and do not export:
 * the bounded gathering of a connection's Cookie headers, so that
 * sessio_mhd_begin(), the oversize decision and the invalid-ID throttle
 * read the same headers under the same limits.
 */
#ifndef SESSIO_MHD_INTERNAL_H
#define SESSIO_MHD_INTERNAL_H

#include "sessio/mhd.h"

/* Points 'vals' at the values of every Cookie header of 'connection'
 * (into MHD's connection memory, valid for the request) and sets '*n'.
 * -1 when there are more than SESSIO_MHD_MAX_COOKIE_HEADERS or more bytes
 * than sessio reads (the request is answered 431; 'vals' then holds the
 * ones before the limit), else 0. */
int sessio_mhd__cookies(struct MHD_Connection *connection,
                        const char *vals[SESSIO_MHD_MAX_COOKIE_HEADERS],
                        size_t *n);

#endif /* SESSIO_MHD_INTERNAL_H */
