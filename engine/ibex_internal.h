/* Internal helpers shared across IBEX source files (not installed). */
#ifndef IBEX_INTERNAL_H
#define IBEX_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
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

char *ibex__strdup(const char *s); /* NULL in, NULL out */

/* Public options structs start with `size_t size` (sizeof the caller's struct): dst (of
 * dst_size bytes, already holding the defaults) takes the first min(src->size, dst_size)
 * bytes of src and its own size back. src NULL keeps the defaults; a size smaller than
 * the size field itself is refused (IBEX_ERR_ARG). */
ibex_status ibex__opts_copy(void *dst, size_t dst_size, const void *src, const char *what, ibex_diag *diag);
double ibex__now(void);            /* monotonic seconds (engine/parallel.c) */

/* k-th smallest of v[0..n) (n > 0, k < n) by quickselect (Hoare partition, middle pivot);
 * reorders v. O(n) on average: medians and quantiles without a full sort. */
float ibex__select_k(float *v, size_t n, size_t k);

#endif
