/* Baseline comparators for the benchmark harness. Deliberately plain reference
 * methods, named "baseline" wherever they are reported, so the real comparators
 * (CMC for cartridge cases, signature matching for bullets) have a floor to beat:
 *
 * baseline-ncc (cartridge cases): areal normalised cross-correlation. Both surfaces are
 *   block-averaged to ~50 um and ~25 um, high-passed by subtracting a masked Gaussian
 *   (sigma 0.25 mm) and scaled to unit RMS; the score is the largest masked NCC (Padfield
 *   2012, FFT form) over all translations that overlap by at least half the largest
 *   overlap at that rotation (and 10% of the smaller valid area), searching a full turn
 *   in 6 degree steps at 50 um, then 1 degree steps around the best angle at 25 um.
 * baseline-ccf (bullet lands): the land is averaged along its striae into one profile
 *   (the striation direction is the axis along which averaging keeps most variance),
 *   resampled to 2 um, 15% trimmed at each end (groove shoulders), form removed by a
 *   least-squares quadratic (the bullet's curvature) and a Gaussian high-pass (sigma 100 um); the score is the largest Pearson correlation over
 *   lags with at least 50% overlap of the shorter profile. */
#ifndef IBEX_BASELINE_INTERNAL_H
#define IBEX_BASELINE_INTERNAL_H

#include "ibex/surface.h"

typedef struct ibex__ncc_prep ibex__ncc_prep;
typedef struct ibex__ncc_result {
    double ncc;        /* best masked NCC, in [-1, 1] */
    double angle_deg;  /* rotation of b that gave it */
    double shift_x, shift_y; /* translation of b onto a, metres */
    double overlap;    /* overlap points / smaller valid area */
} ibex__ncc_result;

ibex_status ibex__ncc_prepare(const ibex_surface *s, ibex__ncc_prep **out, ibex_diag *diag);
void ibex__ncc_free(ibex__ncc_prep *p);
/* Re-entrant: may run on many pairs at once. */
ibex_status ibex__ncc_compare(const ibex__ncc_prep *a, const ibex__ncc_prep *b,
                              ibex__ncc_result *res, ibex_diag *diag);
/* The same search keeping up to k rotations: the best coarse angles at least min_sep
 * degrees apart (best first), each refined at the fine level as ibex__ncc_compare refines
 * its one (k = 1 is ibex__ncc_compare). res holds k entries; *n_out gets how many. For
 * callers that weigh several rotations (prealign.c: 180-degree twins of line patterns). */
ibex_status ibex__ncc_candidates(const ibex__ncc_prep *a, const ibex__ncc_prep *b, size_t k,
                                 double min_sep, ibex__ncc_result *res, size_t *n_out,
                                 ibex_diag *diag);

/* The same NCC over a rotation window only (degrees, CMC's convention: theta_min..max, as
 * ibex_cmc_opts): every 3 degrees at the coarse level, then 1-degree steps within 2 degrees
 * of the best at the fine level (angle_deg then in [0, 360)). The screening score of a two-step query (io/search.c):
 * a few milliseconds where CMC takes a second. */
ibex_status ibex__ncc_window(const ibex__ncc_prep *a, const ibex__ncc_prep *b, double theta_min,
                             double theta_max, ibex__ncc_result *res, ibex_diag *diag);

typedef struct ibex__profile ibex__profile;
typedef struct ibex__ccf_result {
    double ccf;      /* best Pearson correlation, in [-1, 1] */
    double lag;      /* shift of b along a, metres */
    double overlap;  /* overlap points / shorter profile */
} ibex__ccf_result;

ibex_status ibex__profile_prepare(const ibex_surface *s, ibex__profile **out, ibex_diag *diag);
void ibex__profile_free(ibex__profile *p);
size_t ibex__profile_length(const ibex__profile *p);
ibex_status ibex__ccf_compare(const ibex__profile *a, const ibex__profile *b,
                              ibex__ccf_result *res, ibex_diag *diag);

#endif
