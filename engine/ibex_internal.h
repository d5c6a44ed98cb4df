/* Internal helpers shared across IBEX source files (not installed). */
#ifndef IBEX_INTERNAL_H
#define IBEX_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "ibex/status.h"

#if defined(__GNUC__)
#define IBEX__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define IBEX__PRINTF(a, b)
#endif

/* Fill diag (if not NULL) and return s, so callers can `return ibex__fail(...)`. */
ibex_status ibex__fail(ibex_diag *d, ibex_status s, const char *file, long long offset,
                       const char *fmt, ...) IBEX__PRINTF(5, 6);

/* a*b into *out; 0 on overflow. */
static inline int ibex__mul_ok(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

/* Public options structs start with `size_t struct_size` (the sizeof the caller was built
 * with, set by the struct's _init function), so they can grow without breaking programs built
 * against an older header: the library starts from its defaults in *local and takes the first
 * struct_size bytes of *o (newer fields keep their defaults). NULL o: the defaults. 0 when
 * struct_size cannot be a size of the struct (not set up by its _init function). */
static inline int ibex__opts_merge(void *local, size_t local_size, const void *o)
{
    if (!o) return 1;
    size_t n;
    memcpy(&n, o, sizeof n);
    if (n < sizeof n) return 0;
    memcpy(local, o, n < local_size ? n : local_size);
    memcpy(local, &local_size, sizeof local_size);
    return 1;
}
/* The refusal of options whose size field was never set (IBEX_ERR_ARG). */
ibex_status ibex__opts_refused(ibex_diag *d, const char *type);

char *ibex__strdup(const char *s); /* NULL in, NULL out */

struct ibex_surface;
/* 1 when s->z64 is present and current: at every point, valid and z == (float)z64, or
 * invalid (engine/surface.c). The X3P writer writes z64 only then. */
int ibex__surface_z64_current(const struct ibex_surface *s);
double ibex__now(void);            /* monotonic seconds (engine/parallel.c) */
double ibex__thread_cpu(void);     /* CPU seconds of the calling thread (engine/parallel.c) */

/* k-th smallest of v[0..n) (n > 0, k < n) by quickselect (Hoare partition, middle pivot);
 * reorders v. O(n) on average: medians and quantiles without a full sort. */
float ibex__select_k(float *v, size_t n, size_t k);

#endif
