/* Internal pieces of the bullet engine shared across its files (not installed). */
#ifndef IBEX_BULLET_INTERNAL_H
#define IBEX_BULLET_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "ibex/bullet.h"

/* NaN-aware Gaussian smoothing (normalised convolution, kernel truncated at 3 sigma):
 * out[i] is NaN when no valid input lies within the kernel. sigma in samples; <= 0.3 copies. */
void ibex__gauss_nan(const float *in, size_t n, double sigma, float *out);

/* Find striae (extrema) of a signature: fills sig->striae_*. */
ibex_status ibex__striae_find(ibex_land_signature *sig);

/* Striae matching of a at offset lag (b[i - lag] aligns with a[i]) over a's index range
 * [lo, hi): counts matches, mismatches and the longest consecutive run. */
void ibex__striae_match(const ibex_land_signature *a, const ibex_land_signature *b, long lag,
                        long lo, long hi, int *matches, int *mismatches, int *cms);

/* Best normalised cross-correlation over lags with overlap >= min_overlap samples.
 * Pearson correlation over the overlap of the gap-filled signatures. */
void ibex__ccf_best(const ibex_land_signature *a, const ibex_land_signature *b,
                    size_t min_overlap, double *ccf, long *lag);
/* Pearson correlation at one lag (NaN if the overlap is empty or flat). */
double ibex__ccf_at(const ibex_land_signature *a, const ibex_land_signature *b, long lag);

/* Finish a signature from its values: validity, fill, prefix sums, striae. */
ibex_status ibex__signature_finish(ibex_land_signature *sig);

#endif
