/* Full-circle pre-registration of cartridge cases for CMC.
 *
 * CMC (ibex/compare.h) searches rotations in a window (default -30..30 deg), which suits
 * scans taken in a common orientation, like the Fadul set. Casings scanned in any
 * orientation (synthetic sets, most casework) need a coarse rotation first. Method: the
 * masked areal NCC of the whole surfaces (Padfield 2012, FFT over all translations) at
 * 50 um over a full turn in 6 deg steps; the 4 best angles at least 30 deg apart are each
 * refined in 1 deg steps at 25 um and the best refined one is kept (the search of
 * engine/baseline_ncc.c, on surfaces block-averaged and 0.25 mm high-passed). The target is
 * then turned by that angle, theta0, and CMC runs on the turned target with its usual
 * window, which is thereby centred on theta0; the reported rotation is theta0 + CMC's.
 * Single-threaded and free of random choices: the result never depends on the thread
 * count. About 0.1-0.3 s of CPU per pair of 500 x 500 scans, against about 1-2 s for CMC. */
#ifndef IBEX_PREALIGN_H
#define IBEX_PREALIGN_H

#include "ibex/export.h"

#include "ibex/compare.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ibex_prealign_opts {
    size_t struct_size; /* sizeof the struct, set by ibex_prealign_opts_init: lets it grow (ABI) */
    /* A found |theta0| at or below this is taken as 0 (the target is not turned): CMC's
     * window already covers it, and an untouched target keeps plain CMC's counts.
     * Default 15 deg (half of CMC's default window); negative = always turn. */
    double snap_deg;
} ibex_prealign_opts;

typedef struct ibex_prealign_result {
    int found;           /* 1; 0 only from ibex_cmc_plan_run_prealigned when the search had
                            too few valid points or no overlap (all other fields 0) */
    double theta_found;  /* degrees in (-180, 180]: rotation of B onto A (CMC's convention) */
    double theta;        /* the rotation applied to B before CMC: theta_found or 0 (snap) */
    double ncc;          /* masked NCC of the whole surfaces at theta_found, in [-1, 1] */
    double overlap;      /* overlap at that pose / smaller valid area */
    double seconds;      /* wall clock of the search */
} ibex_prealign_result;

IBEX_API void ibex_prealign_opts_init(ibex_prealign_opts *o);

/* Coarse rotation of b onto a (prepared surfaces of one spacing, as for CMC). o may be
 * NULL (defaults). Fails (IBEX_ERR_FORMAT / IBEX_ERR_UNSUPPORTED) on surfaces with too few
 * valid points or that never overlap. */
IBEX_API ibex_status ibex_prealign_run(const ibex_surface *a, const ibex_surface *b,
                                       const ibex_prealign_opts *o, ibex_prealign_result *out,
                                       ibex_diag *diag);

/* ibex_cmc_plan_run after pre-registration: b is turned by theta0 (bilinear, about its
 * centre, as CMC turns it) and CMC runs on (a, turned b). When the search cannot run (too
 * few valid points, no overlap) b is compared untouched, so CMC gives its own verdict
 * (usually "unsuitable") rather than an error; pre->found then is 0. Every rotation in the result is
 * then expressed for the original b: theta, dir[0].theta and direction-0 cell thetas are
 * theta0 + CMC's (wrapped to (-180, 180]); direction 1 (B's cells found in A turned by t)
 * reports t - theta0. The direction-1 cell rectangles lie on b turned by theta0. With
 * theta0 = 0 the result is exactly ibex_cmc_plan_run's. pre (optional) gets the search. */
IBEX_API ibex_status ibex_cmc_plan_run_prealigned(const ibex_cmc_plan *p, const ibex_surface *a,
                                                  const ibex_surface *b, const ibex_prealign_opts *o,
                                                  ibex_cmc_result **out, ibex_prealign_result *pre,
                                                  ibex_diag *diag);

#ifdef __cplusplus
}
#endif
#endif
