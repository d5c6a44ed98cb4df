/* Switches that are not the method: kept for measurement and testing (bench/bench_cmc, the
 * scalar-vs-SIMD tests), outside the options a caller of the method sees, and free to change
 * between releases. */
#ifndef IBEX_EXPERIMENTAL_H
#define IBEX_EXPERIMENTAL_H

#include <stddef.h>
#include "ibex/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Pointed to by ibex_cmc_opts.experimental (NULL: none); the plan keeps a copy. */
typedef struct ibex_cmc_experimental {
    size_t struct_size;   /* sizeof the struct, set by ibex_cmc_experimental_init */
    int force_scalar;     /* 1: scalar kernels (as IBEX_SIMD=scalar); default 0 */
    /* Search for each cell's best lag at each rotation. Default (coarse_to_fine = 0): the
     * exhaustive search, every lag of every cell by FFT; the reference method.
     * coarse_to_fine = 1: the masked NCC of every lag on coarse_factor x coarse_factor block
     * means ranks the lags, and full-resolution hill climbs from the coarse_keep best coarse
     * maxima evaluate the exact masked NCC of the lags they visit. It misses the exhaustive
     * maximum of a few percent of (cell, rotation) searches on the Fadul set (on non-matching
     * cells the NCC map is close to white noise at the pixel scale, so no coarse level
     * predicts where its maximum is) and so changes some CMC counts: see docs/measurements/cmc-speed.md.
     * Cells with fewer than 4 coarse points per side are searched exhaustively. */
    int coarse_to_fine;
    unsigned coarse_factor; /* 0 = 2 */
    unsigned coarse_keep;   /* coarse maxima climbed per cell and rotation; 0 = 4 */
    int verify_search;      /* with coarse_to_fine: also run the exhaustive search and count
                               the searches whose best lag differs (slow; bench) */
} ibex_cmc_experimental;

IBEX_API void ibex_cmc_experimental_init(ibex_cmc_experimental *x);

#ifdef __cplusplus
}
#endif
#endif
