/* Bullets: land-engraved-area (LEA) signatures, land-to-land and bullet-to-bullet comparison.
 *
 * A land scan (one LEA, 3D surface) becomes a signature: the striation profile across the
 * land width, taken from a stable crosscut, with the groove shoulders cut off, the bullet's
 * curvature removed and band-pass filtered, resampled to a common spacing so scans from
 * different instruments compare. Two signatures are aligned by cross-correlation; features of
 * the aligned pair (CCF, consecutive matching striae, matches per mm, distance) go through a
 * logistic model fitted on development data (docs/reference/bullet.md) to give a land score.
 * Two bullets are compared through every land pairing and the best cyclic phase (sequence
 * average maximum, SAM). */
#ifndef IBEX_BULLET_H
#define IBEX_BULLET_H

#include "ibex/export.h"

#include <stddef.h>
#include <stdint.h>
#include "ibex/status.h"
#include "ibex/surface.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ibex_land_axis {
    IBEX_LAND_AXIS_AUTO = 0, /* find the striation direction from the data */
    IBEX_LAND_AXIS_X = 1,    /* land width along x, striae along y (e.g. CSAFE Hamby 44) */
    IBEX_LAND_AXIS_Y = 2     /* land width along y, striae along x (e.g. NBTRD Hamby 252) */
} ibex_land_axis;

typedef struct ibex_land_opts {
    size_t struct_size; /* sizeof the struct, set by ibex_land_opts_init: lets it grow (ABI) */
    ibex_land_axis axis;   /* AUTO by default */
    double spacing;        /* signature spacing in metres (2e-6) */
    double band;           /* crosscut band unit along the striae, metres (20e-6); the band
                              grows while neighbouring bands agree */
    double sigma_short;    /* Gaussian removing noise, metres (2e-6) */
    double sigma_long;     /* Gaussian removing waviness (high-pass), metres (25e-6) */
    double min_width;      /* refuse lands narrower than this between grooves, metres (400e-6) */
    double min_stability;  /* refuse when neighbouring bands correlate less than this (0.3) */
} ibex_land_opts;

IBEX_API void ibex_land_opts_init(ibex_land_opts *o);

/* A land signature. Read-only for callers; made by ibex_land_signature_create. */
typedef struct ibex_land_signature {
    size_t n;              /* samples */
    double spacing;        /* metres between samples */
    float *sig;            /* striation signature in metres; NaN where invalid */
    uint8_t *valid;        /* 1 where sig is a measured value */
    size_t n_valid;
    ibex_land_axis axis;   /* orientation used (found or forced) */
    double axis_ratio;     /* evidence: across/along roughness ratio (>1 = confident) */
    double crosscut;       /* centre of the crosscut band along the striae, metres from the
                              first row (or column) of the scan */
    double stability;      /* correlation of the bands either side of the crosscut */
    double groove_left;    /* groove shoulders found, metres along the width from the
                              first column (or row) of the scan */
    double groove_right;
    double offset;         /* position of sample 0 along the width, metres (as grooves) */
    /* Striae (signature extrema) for consecutive-matching-striae counts. */
    size_t n_striae;
    int32_t *striae_pos;   /* sample index, ascending */
    int8_t *striae_type;   /* +1 peak, -1 valley */
    /* Internal: signature with gaps filled by zero, and its prefix sums, for fast CCF. */
    float *filled;
    double *psum, *psum2;
} ibex_land_signature;

/* IBEX_ERR_UNSUPPORTED for profiles (one row or column), intensity images, lands with no
 * usable crosscut or narrower than min_width; IBEX_ERR_FORMAT for no valid point. */
IBEX_API ibex_status ibex_land_signature_create(const ibex_surface *s, const ibex_land_opts *o,
                                                ibex_land_signature **out, ibex_diag *diag);
/* A signature from a profile already extracted (values in metres, NaN = missing):
 * band-pass and striae only; for tests and for callers with their own crosscut. */
IBEX_API ibex_status ibex_land_signature_from_profile(const float *profile, size_t n, double spacing,
                                                      const ibex_land_opts *o,
                                                      ibex_land_signature **out, ibex_diag *diag);
IBEX_API void ibex_land_signature_free(ibex_land_signature *sig);

/* Land-to-land comparison of two aligned signatures. */
typedef struct ibex_land_result {
    double ccf;            /* maximum normalised cross-correlation (Pearson over the overlap) */
    long lag;              /* samples: b[i - lag] aligns with a[i] */
    double lag_m;          /* lag in metres */
    double overlap;        /* overlap length / length of the shorter signature */
    double overlap_m;      /* overlap length in metres */
    double distance;       /* RMS difference of the aligned signatures, metres */
    int cms;               /* longest run of consecutive matching striae */
    int matches, mismatches; /* striae matched / unmatched in the overlap */
    double matches_per_mm, mismatches_per_mm;
    double match_share;    /* matched striae / all striae of both lands in the overlap, 2m/(2m+u) */
    double distance_rel;   /* distance / RMS of the two aligned signatures (unit-free) */
    double score;          /* calibrated land score: P(same land) from the logistic model */
} ibex_land_result;

/* Signatures must share their spacing (same opts). Overlaps shorter than half the shorter
 * signature are not considered. */
IBEX_API ibex_status ibex_land_compare(const ibex_land_signature *a, const ibex_land_signature *b,
                                       ibex_land_result *res, ibex_diag *diag);

/* Land-score model: logistic regression on features that mean the same at any spacing,
 * amplitude and land width (ccf, cms, match_share, distance_rel; see docs/reference/bullet.md). */
#define IBEX_LAND_NFEAT 4
IBEX_API void ibex_land_features(const ibex_land_result *r, double f[IBEX_LAND_NFEAT]);
IBEX_API const char *ibex_land_feature_name(int i);
IBEX_API double ibex_land_model_score(const double f[IBEX_LAND_NFEAT]);

/* A land-score model: P(same land) = logistic(coef[0] + sum coef[k+1] z_k), z_k the feature
 * standardised by mean/sdev and clipped to +-3. The shipped one is ibex_land_model_score's. */
typedef struct ibex_land_model {
    double mean[IBEX_LAND_NFEAT];
    double sdev[IBEX_LAND_NFEAT];
    double coef[IBEX_LAND_NFEAT + 1];
} ibex_land_model;
IBEX_API void ibex_land_model_shipped(ibex_land_model *m);
IBEX_API double ibex_land_model_apply(const ibex_land_model *m, const double f[IBEX_LAND_NFEAT]);
/* Fits a model on n land pairs (features row-major n x IBEX_LAND_NFEAT, same[i] 1 for a pair
 * of the same land): standardisation from these pairs, then L2-regularised logistic
 * regression by Newton's method (ridge on the standardised coefficients, not the intercept;
 * ridge 1 is what the shipped model used). IBEX_ERR_ARG without both classes or with a
 * non-finite feature. */
IBEX_API ibex_status ibex_land_model_fit(const double *features, const int *same, size_t n,
                                         double ridge, ibex_land_model *out, ibex_diag *diag);

typedef enum ibex_bullet_verdict {
    IBEX_BULLET_IDENTIFICATION = 0,
    IBEX_BULLET_INCONCLUSIVE = 1,
    IBEX_BULLET_ELIMINATION = 2,
    IBEX_BULLET_UNSUITABLE = 3
} ibex_bullet_verdict;
IBEX_API const char *ibex_bullet_verdict_name(ibex_bullet_verdict v); /* AFTE word */

/* A bullet: n_lands land positions around its circumference (in firing order as numbered);
 * lands[i] NULL when land i is missing or unusable. */
typedef struct ibex_bullet {
    size_t n_lands;
    const ibex_land_signature *const *lands;
} ibex_bullet;

/* Land-score thresholds used by the verdicts. */
#define IBEX_LAND_MATCH 0.5      /* a land pair with score >= this counts as matching */
#define IBEX_LAND_ID 0.9         /* land-to-land identification */
#define IBEX_LAND_ELIM 0.1       /* land-to-land elimination */

typedef struct ibex_bullet_result {
    size_t na, nb;           /* land positions of bullet a and b */
    ibex_land_result *pairs; /* na*nb, pairs[i*nb + j]: land i of a vs land j of b */
    uint8_t *compared;       /* na*nb: 1 when both lands exist and compared */
    size_t n_phases;         /* max(na, nb) */
    double *sam;             /* per phase: mean land score over compared pairs (NaN if none) */
    size_t *phase_pairs;     /* per phase: number of compared pairs */
    size_t best_phase;       /* land i of a pairs with land (i + best_phase) mod n of b */
    double score;            /* bullet score: SAM at the best phase */
    double runner_up;        /* best SAM over the other phases */
    size_t n_compared;       /* compared pairs in the best phase */
    size_t n_matching;       /* of those, land score >= IBEX_LAND_MATCH */
    ibex_bullet_verdict verdict;
    char reason[160];        /* one line: why this verdict */
} ibex_bullet_result;

/* Every land pairing (in parallel), SAM per cyclic phase, best phase, verdict:
 *  identification  best phase has >= 2 matching lands, SAM >= 0.5 and >= 0.25 above the
 *                  runner-up phase;
 *  elimination     no compared land pair in any phase reaches IBEX_LAND_MATCH, with >= 2
 *                  lands usable on each bullet;
 *  unsuitable      a bullet has no usable land;
 *  inconclusive    otherwise (including a bullet with a single usable land).
 * IBEX_ERR_ARG when a bullet has no land positions or signatures differ in spacing. */
IBEX_API ibex_status ibex_bullet_compare(const ibex_bullet *a, const ibex_bullet *b,
                                         ibex_bullet_result **out, ibex_diag *diag);
/* The same with another land-score model (NULL: the shipped one), e.g. one fitted leaving
 * out the study being measured (ibex bench accuracy --method bullet). */
IBEX_API ibex_status ibex_bullet_compare_model(const ibex_bullet *a, const ibex_bullet *b,
                                               const ibex_land_model *model,
                                               ibex_bullet_result **out, ibex_diag *diag);
IBEX_API void ibex_bullet_result_free(ibex_bullet_result *r);

#ifdef __cplusplus
}
#endif
#endif
