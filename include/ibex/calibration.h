/* Calibrated score-based likelihood ratios: a logistic calibration of a comparison score
 * into log10 LR, bounded by the empirical lower and upper bounds its calibration data
 * support (ELUB, Vergeer et al. 2016), the log-likelihood-ratio cost Cllr and its
 * discrimination part Cllr_min (pool-adjacent-violators), and the verbal scale of the
 * ENFSI guideline for evaluative reporting (2015).
 *
 * LR = P(score | same source) / P(score | different sources). A higher score means "more
 * likely the same source". */
#ifndef IBEX_CALIBRATION_H
#define IBEX_CALIBRATION_H

#include "ibex/export.h"

#include <stddef.h>
#include "ibex/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* log10 LR(s) = clamp((a + b s) / ln 10, log10_lo, log10_hi). */
typedef struct ibex_calibration {
    char id[64];            /* version tag, e.g. "cartridge-cmc/2026-12-02" */
    char score[32];         /* which score it calibrates, e.g. "cmc" */
    double a, b;            /* natural-log odds at equal priors: ln LR = a + b s */
    double log10_lo, log10_hi; /* ELUB bounds on log10 LR */
    size_t n_match, n_nonmatch; /* calibration pairs */
} ibex_calibration;

/* Fit on n scores with labels same[i] (1 same source, 0 different): logistic regression
 * with the two classes weighted equally (so its log odds are a log LR, whatever the class
 * sizes) and one misleading pseudo-observation per class (a different-source pair at the
 * highest same-source score and a same-source pair at the lowest different-source score),
 * so separable data still give a finite slope; then the ELUB bounds of its LRs on the same
 * data. IBEX_ERR_ARG without at least one pair of each class or with a non-finite score.
 * id and score name are copied (truncated) when not NULL. */
IBEX_API ibex_status ibex_calibration_fit(const double *score, const int *same, size_t n,
                                          const char *id, const char *score_name,
                                          ibex_calibration *out, ibex_diag *diag);

/* Bounded log10 LR of a score (NaN for a NaN score). */
IBEX_API double ibex_calibration_log10_lr(const ibex_calibration *c, double score);

/* ELUB bounds (log10) of a set of log10 LRs with labels: the widest interval around 0 in
 * which the LRs, with one misleading observation of each class added, keep a normalised
 * Bayes error below that of the neutral system (LR = 1) at every prior the interval
 * spans. 0 and 0 when nothing is supported. */
IBEX_API void ibex_elub(const double *log10_lr, const int *same, size_t n, double *log10_lo,
                        double *log10_hi);

/* Cllr = 0.5 (mean log2(1 + 1/LR) over same-source + mean log2(1 + LR) over different-
 * source), Brummer and du Preez 2006; 0 perfect, 1 uninformative. NaN without both classes. */
IBEX_API double ibex_cllr(const double *log10_lr, const int *same, size_t n);
/* Cllr after the optimal monotone recalibration of the same LRs (PAV): what is lost to
 * discrimination; Cllr - Cllr_min is the calibration loss. */
IBEX_API double ibex_cllr_min(const double *log10_lr, const int *same, size_t n);
/* Empirical cross-entropy (bits) at prior log10 odds p: the ECE plot's curve (Ramos 2013). */
IBEX_API double ibex_ece(const double *log10_lr, const int *same, size_t n, double prior_log10_odds);

/* ENFSI verbal equivalent: "no support", "weak support", "moderate support", "moderately
 * strong support", "strong support", "very strong support", "extremely strong support",
 * each "for same source" or "for different sources" (LR 1: no support either way). */
IBEX_API const char *ibex_lr_verbal(double log10_lr);

/* As text, to store with a reference library ("id=...;score=...;a=...;b=...;log10_lo=...;
 * log10_hi=...;n_match=...;n_nonmatch=..."; numbers round-trip exactly). The text is written
 * into buf (cap bytes); returns its length, or 0 when it does not fit. */
IBEX_API size_t ibex_calibration_format(const ibex_calibration *c, char *buf, size_t cap);
/* Back from that text: IBEX_ERR_FORMAT naming the field when one is missing or unreadable,
 * or when the bounds are not lo <= 0 <= hi. */
IBEX_API ibex_status ibex_calibration_parse(const char *text, ibex_calibration *out, ibex_diag *diag);

/* The calibration shipped with IBEX for a kind's default method ("cartridge": the CMC
 * count; "bullet": the bullet score, SAM), or NULL when none is shipped. */
IBEX_API const ibex_calibration *ibex_calibration_shipped(const char *kind);
/* The shipped cartridge calibration when the CMC options score like the method it was fitted
 * on (the defaults' cell grid, rotations, thresholds and cell validity; opts NULL = the
 * defaults) and the target was not pre-registered; else NULL: a count of another
 * configuration means something else. */
struct ibex_cmc_opts;
IBEX_API const ibex_calibration *ibex_calibration_shipped_cmc(const struct ibex_cmc_opts *opts,
                                                              int prealigned);

#ifdef __cplusplus
}
#endif

#endif
