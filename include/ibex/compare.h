/* Cartridge-case comparison: preprocessing and Congruent Matching Cells (CMC).
 *
 * Method (one fixed configuration, every default documented here):
 *  - preprocessing: robust plane levelling, outlier removal, breech-face region (exterior and
 *    firing-pin impression removed when the scan is not already cropped), block mean and
 *    bilinear resampling to a common lateral spacing, Gaussian regression band-pass
 *    (ISO 16610-61 weighting, 16-500 um as cmcR, NaN-aware by normalised convolution). What a
 *    scan needs is read from its content: a scan already cropped to the breech face and
 *    band-limited (the CSAFE-processed Fadul and Cadre files) is only levelled; no scan is
 *    upsampled (see ibex_preprocess_pair_spacing).
 *  - correlation: masked normalised cross-correlation (Padfield 2012) computed with FFTs,
 *    exact for masks: every lag is normalised over the points valid in both surfaces.
 *  - CMC: the reference is cut into a grid of cells; each cell is registered in the target
 *    region (region_factor x the cell side, centred on the cell) of the target rotated over
 *    the rotation grid. Decision rules: original CMC (Song 2013) and High-CMC (Tong 2015),
 *    both computed in both directions (A cells in B, B cells in A).
 */
#ifndef IBEX_COMPARE_H
#define IBEX_COMPARE_H

#include "ibex/export.h"

#include <stddef.h>
#include "ibex/surface.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- preprocessing ---------------------------------------------------------------- */

/* Inputs with more points are refused (IBEX_ERR_LIMIT) before any work: 2^24 points
 * (a 4096 x 4096 scan) is 64 MiB of float heights, the memory budget of one comparison. */
#define IBEX_PREPROCESS_MAX_POINTS ((size_t)1 << 24)

typedef enum ibex_preprocess_mode {
    IBEX_PREPROCESS_AUTO = 0,  /* full pipeline unless the scan looks already processed */
    IBEX_PREPROCESS_FULL = 1,  /* always the full pipeline */
    IBEX_PREPROCESS_LEVEL = 2  /* only resample + robust plane levelling */
} ibex_preprocess_mode;

typedef struct ibex_preprocess_opts {
    size_t struct_size; /* sizeof the struct, set by ibex_preprocess_opts_init: lets it grow (ABI) */
    ibex_preprocess_mode mode; /* default AUTO */
    double spacing;          /* target lateral spacing in metres; default 6.25e-6 (cmcR, NIST) */
    size_t max_side;         /* then shrink further so no side exceeds this; default 1024 */
    double lambda_short;     /* band-pass short cut-off (noise), metres; default 16e-6 (cmcR) */
    double lambda_long;      /* band-pass long cut-off (form, waviness), metres; default 500e-6 */
    double outlier_k;        /* invalidate |z - plane| > k * robust sigma; default 6 */
    int crop_exterior;       /* keep only the breech-face disc when the border is valid; 1 */
    int remove_firing_pin;   /* mask the firing-pin impression when found; default 1 */
} ibex_preprocess_opts;

/* What was done, with the parameters used (also recorded in out->meta.comment). */
typedef struct ibex_preprocess_info {
    int already_processed;   /* AUTO found a cropped, band-limited scan: levelled only */
    int cropped;             /* the exterior was already removed (corners of the valid
                                bounding box hold < 25 % valid points) */
    int band_limited;        /* cropped, and the RMS beyond lambda_long is < 60 % of the
                                whole: filtered already, so not band-passed again */
    double long_wave_fraction; /* that RMS fraction (cropped scans in AUTO mode) */
    double spacing_in, spacing_out;
    double plane[3];         /* z = p0 + p1 * x + p2 * y removed (x, y in metres) */
    size_t outliers;         /* points invalidated as outliers */
    double centre_x, centre_y, r_outer, r_firing_pin; /* metres; r = 0 when not applied */
    double valid_fraction;
    char steps[384];         /* one line: each step with its parameters */
} ibex_preprocess_info;

IBEX_API void ibex_preprocess_opts_init(ibex_preprocess_opts *o);
/* The lateral spacing at which two scans are compared: o->spacing, or the coarser scan's
 * own spacing when that is coarser (no scan is upsampled); spacings within 1 % of o->spacing
 * count as o->spacing. Preprocess both scans with opts.spacing set to it. o may be NULL. */
IBEX_API double ibex_preprocess_pair_spacing(const ibex_surface *a, const ibex_surface *b,
                                             const ibex_preprocess_opts *o);
/* info may be NULL. A surface with no valid point is returned unchanged (CMC then says
 * "unsuitable"); an oversized one is refused. */
IBEX_API ibex_status ibex_preprocess(const ibex_surface *in, const ibex_preprocess_opts *o,
                                     ibex_surface **out, ibex_preprocess_info *info, ibex_diag *diag);

/* ---- Congruent Matching Cells ----------------------------------------------------- */

typedef enum ibex_verdict {
    IBEX_VERDICT_IDENTIFICATION = 0,
    IBEX_VERDICT_INCONCLUSIVE = 1,
    IBEX_VERDICT_ELIMINATION = 2,
    IBEX_VERDICT_UNSUITABLE = 3
} ibex_verdict;
IBEX_API const char *ibex_verdict_name(ibex_verdict v);

/* Prepared surfaces larger than this on a side are refused (IBEX_ERR_LIMIT). */
#define IBEX_CMC_MAX_SIDE 2048
/* Each cell must have at least this many points per side (else IBEX_ERR_ARG: too small). */
#define IBEX_CMC_MIN_CELL 8

typedef struct ibex_cmc_opts {
    size_t struct_size; /* sizeof the struct, set by ibex_cmc_opts_init: lets it grow (ABI) */
    unsigned cells_x, cells_y;  /* grid on the reference; default 8 x 8 (cmcR) */
    double theta_min, theta_max, theta_step; /* degrees; default -30, 30, 3 */
    double region_factor;       /* target region side / cell side; default 3 (cmcR) */
    double min_valid_frac;      /* cells with fewer valid points are not used; default 0.15
                                   (cmcR drops cells more than 85% missing; Chen 2017: 15%) */
    double min_overlap_frac;    /* a lag counts only when the overlap has at least this
                                   fraction of the cell's valid points; default 0.5 */
    double t_xy_m;              /* translation threshold, metres; default 125e-6 (Song 2018's
                                   20 points at 6.25 um, so the same at any spacing) */
    double t_theta;             /* rotation threshold, degrees; default 6 (Song 2018) */
    double t_ccf;               /* correlation threshold; default 0.5 (Song 2018) */
    unsigned tau;               /* High-CMC: thetas within tau of the top count; default 1 */
    unsigned id_threshold;      /* identification when cmc >= this; default 6 (Song 2013) */
    unsigned elim_threshold;    /* elimination when cmc <= this; default 2 */
    unsigned threads;           /* 0 = OpenMP default; results never depend on it */
    int fft_plans;              /* an ibex_fft_plans (ibex/fft.h); default
                                   IBEX_FFT_PLANS_WISDOM: PATIENT plans pinned by the wisdom
                                   file when one is open, else FFTW_ESTIMATE */
    size_t template_budget;     /* bytes of cell spectra held at once (cells are processed in
                                   batches within it; results do not change); 0 = 24 MiB */
    /* Switches that are not the method (ibex/experimental.h); NULL: none. */
    const struct ibex_cmc_experimental *experimental;
} ibex_cmc_opts;

typedef struct ibex_cmc_plan ibex_cmc_plan;

/* One row of the per-cell table: a reference cell registered in the target. */
typedef struct ibex_cmc_cell {
    unsigned direction;   /* 0: cells of A found in B; 1: cells of B found in A */
    unsigned row, col;    /* grid position in the reference of this direction */
    size_t x, y, w, h;    /* cell rectangle in the reference, points */
    double valid_frac;    /* valid fraction of the cell */
    int used;             /* enough valid points (min_valid_frac) and a valid lag found */
    double ccf;           /* best masked NCC over rotations and lags (original rule) */
    double theta;         /* rotation of the target at that maximum, degrees */
    double dx, dy;        /* translation of the cell in the rotated target, points */
    int cmc;              /* congruent under the original rule */
    int cmc_high;         /* congruent under High-CMC */
    double high_theta, high_dx, high_dy, high_ccf; /* the High-CMC registration when cmc_high */
} ibex_cmc_cell;

typedef struct ibex_cmc_direction {
    unsigned cells_used;
    unsigned cmc;          /* original rule (Song 2013) */
    unsigned cmc_high;     /* High-CMC (Tong 2015); 0 when its theta test fails */
    int high_pass;         /* the High-CMC theta test passed: one peak of high-count angles,
                              within t_theta of this direction's consensus theta, and
                              opposite to the other direction's peak within t_theta */
    double theta, dx, dy;  /* consensus (medians, original rule): rotation deg, shift points */
    double high_theta;     /* centre of the High-CMC theta mode, degrees */
    double score;          /* sum of CCF over the original rule's congruent cells */
} ibex_cmc_direction;

typedef struct ibex_cmc_result {
    ibex_cmc_direction dir[2];
    unsigned cmc;          /* min over the two directions, original rule */
    unsigned cmc_high;     /* min over the two directions, High-CMC */
    double score;          /* continuous similarity for ranking: mean over directions of the
                              sum of CCF over congruent cells, original rule (0 .. cells);
                              never NaN */
    ibex_verdict verdict;  /* from cmc (original rule, the smaller direction) and the thresholds
                              above; unsuitable when either direction has fewer than
                              id_threshold usable cells. The original rule, not High-CMC: with
                              masked NCC, cells with little valid area reach CCF >= 0.5 by
                              chance, and High-CMC's per-rotation vote let such cells pass on
                              known non-matches of the Fadul set (see bench_cmc). */
    double theta, dx, dy;  /* full-scan registration of B on A: consensus of direction 0 */
    double full_ccf;       /* masked NCC of the whole surfaces at that registration */
    double spacing;        /* metres per point of the compared surfaces */
    size_t n_cells;        /* 2 * cells_x * cells_y */
    ibex_cmc_cell *cells;  /* direction 0 cells first, row-major */
    /* timings, seconds: wall clock of run, and thread-seconds per stage */
    double t_total, t_rotate, t_fft, t_ncc, t_decision;
    double fft_flops;      /* floating-point operations of the FFT stage (2.5 N log2 N each) */
    size_t fft_nx, fft_ny; /* FFT size of the cell correlations */
    size_t bytes_peak;     /* memory held by the run's buffers */
    /* coarse-to-fine search: thread-seconds of the full-resolution climbs, lags evaluated
     * directly, (cell, rotation) searches, those left to the FFT path, and (verify_search)
     * those whose best lag or CCF (beyond 1e-4) differs from the exhaustive search */
    double t_fine;
    unsigned long long lags_direct;
    size_t searches, fallbacks, search_mismatches;
} ibex_cmc_result;

IBEX_API void ibex_cmc_opts_init(ibex_cmc_opts *o);
IBEX_API ibex_status ibex_cmc_plan_create(const ibex_cmc_opts *o, ibex_cmc_plan **out, ibex_diag *diag);
/* a and b are prepared surfaces (ibex_preprocess) with the same spacing. Re-entrant on a
 * const plan. A surface with too few usable cells gives OK and verdict "unsuitable". */
IBEX_API ibex_status ibex_cmc_plan_run(const ibex_cmc_plan *p, const ibex_surface *a,
                                       const ibex_surface *b, ibex_cmc_result **out, ibex_diag *diag);
IBEX_API void ibex_cmc_result_free(ibex_cmc_result *r);
IBEX_API void ibex_cmc_plan_free(ibex_cmc_plan *p);
IBEX_API const ibex_cmc_opts *ibex_cmc_plan_opts(const ibex_cmc_plan *p);

/* tgt resampled (bilinear, valid where its 4 neighbours are) into ref's grid at a CMC
 * registration (rotation theta in degrees, shift dx, dy in points, as in ibex_cmc_result),
 * so the two can be shown side by side, aligned. */
IBEX_API ibex_status ibex_cmc_align(const ibex_surface *ref, const ibex_surface *tgt, double theta,
                                    double dx, double dy, ibex_surface **out, ibex_diag *diag);

/* Name of the kernel set the plan uses ("avx2" or "scalar"). */
IBEX_API const char *ibex_cmc_plan_simd(const ibex_cmc_plan *p);

#ifdef __cplusplus
}
#endif
#endif
