/* Accuracy statistics for comparison scores: ROC and AUC with a bootstrap interval,
 * error rates, equal-error rate, rank of the first true mate, and score-based
 * likelihood ratios from kernel density estimates.
 *
 * Convention: a higher score means "more likely the same source". Callers whose
 * score runs the other way negate it first. Scores must be finite (IBEX_ERR_ARG). */
#ifndef IBEX_STATS_H
#define IBEX_STATS_H

#include "ibex/export.h"

#include <stddef.h>
#include <stdint.h>
#include "ibex/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Area under the ROC curve in its Mann-Whitney form: the probability that a random
 * match score exceeds a random non-match score, ties counted 1/2. O((m+n) log(m+n)). */
IBEX_API ibex_status ibex_stats_auc(const double *match, size_t n_match, const double *nonmatch,
                                    size_t n_nonmatch, double *auc, ibex_diag *diag);

/* Percentile bootstrap interval for the AUC (Efron and Tibshirani 1993, ch. 13), resampling
 * matches and non-matches separately (stratified, so every resample keeps both sizes). */
typedef struct ibex_auc_ci_opts {
    size_t struct_size; /* sizeof the struct, set by ibex_auc_ci_opts_init: lets it grow (ABI) */
    size_t resamples;  /* default 2000 */
    double level;      /* default 0.95 */
    uint64_t seed;     /* default 1; the same seed gives the same interval */
} ibex_auc_ci_opts;
IBEX_API void ibex_auc_ci_opts_init(ibex_auc_ci_opts *o);
IBEX_API ibex_status ibex_stats_auc_ci(const double *match, size_t n_match, const double *nonmatch,
                                       size_t n_nonmatch, const ibex_auc_ci_opts *o, double *lo,
                                       double *hi, ibex_diag *diag);

/* Empirical ROC: one point per distinct score t (decision "match" when score >= t),
 * from (0,0) (threshold +inf) to (1,1), false positive rate ascending. */
typedef struct ibex_roc_point {
    double fpr, tpr, threshold;
} ibex_roc_point;
typedef struct ibex_roc {
    size_t n;
    ibex_roc_point *pt;
} ibex_roc;
IBEX_API ibex_status ibex_roc_create(const double *match, size_t n_match, const double *nonmatch,
                                     size_t n_nonmatch, ibex_roc **out, ibex_diag *diag);
IBEX_API void ibex_roc_free(ibex_roc *r);
/* Trapezoid area under the empirical ROC (equals ibex_stats_auc). */
IBEX_API double ibex_roc_get_area(const ibex_roc *r);
/* Equal-error rate: where FPR = FNR (= 1 - TPR) on the ROC polyline, found by linear
 * interpolation between the two consecutive points where FPR - FNR changes sign. The
 * threshold is interpolated the same way between those points' thresholds (the +inf of
 * the first point is replaced by the next point's threshold). */
IBEX_API void ibex_roc_get_eer(const ibex_roc *r, double *eer, double *threshold);

/* Error rates at a threshold, "match" declared when score >= threshold:
 * false positive = non-matches declared matches / non-matches,
 * false negative = matches declared non-matches / matches. */
IBEX_API ibex_status ibex_stats_error_rates(const double *match, size_t n_match, const double *nonmatch,
                                            size_t n_nonmatch, double threshold, double *fpr,
                                            double *fnr, ibex_diag *diag);

/* Rank of the first true mate for each query of an all-against-all search.
 * scores[i*n + j] is the score of query i against candidate j (j != i; the diagonal is
 * ignored); label[i] names the source. rank[i] = 1 + the number of non-mates scoring
 * at least as high as the best mate (ties go against the query), or 0 when query i has
 * no mate among the others. */
IBEX_API ibex_status ibex_stats_mate_ranks(const double *scores, const size_t *label, size_t n,
                                           size_t *rank, ibex_diag *diag);
/* Fraction of queries with a mate whose rank is 1..k; NaN when no query has a mate. */
IBEX_API double ibex_stats_top_k(const size_t *rank, size_t n, size_t k);

/* Gaussian kernel density estimate. Bandwidth by Silverman's rule of thumb
 * (Silverman 1986, eq. 3.31): h = 0.9 * min(sd, IQR/1.34) * n^(-1/5) (sd alone when the
 * IQR is 0), raised to h_floor when smaller. */
typedef struct ibex_kde ibex_kde;
IBEX_API ibex_status ibex_kde_create(const double *x, size_t n, double h_floor, ibex_kde **out,
                                     ibex_diag *diag);
IBEX_API void ibex_kde_free(ibex_kde *k);
IBEX_API double ibex_kde_get_bandwidth(const ibex_kde *k);
IBEX_API double ibex_kde_density(const ibex_kde *k, double x);

/* Score-based likelihood ratio LR(s) = f_match(s) / f_nonmatch(s), both densities by
 * ibex_kde with h_floor = 1% of the pooled score range (a degenerate sample would
 * otherwise give a zero bandwidth). Each density is floored at phi(4) / (n h), the density
 * one observation gives at 4 bandwidths, divided by n: so LRs stay finite and
 * |log10 LR| stays within what the sample sizes can support. */
typedef struct ibex_slr ibex_slr;
IBEX_API ibex_status ibex_slr_create(const double *match, size_t n_match, const double *nonmatch,
                                     size_t n_nonmatch, ibex_slr **out, ibex_diag *diag);
IBEX_API void ibex_slr_free(ibex_slr *s);
IBEX_API double ibex_slr_log10(const ibex_slr *s, double score);
IBEX_API void ibex_slr_get_bandwidths(const ibex_slr *s, double *h_match, double *h_nonmatch);
/* Log-likelihood-ratio cost (Brummer and du Preez 2006) of the training scores, each
 * scored leave-one-out (its own kernel removed from its density) so it is not judged by
 * itself: Cllr = 0.5 * (mean log2(1 + 1/LR) over matches + mean log2(1 + LR) over
 * non-matches). 0 is perfect, 1 is an uninformative system. */
IBEX_API double ibex_slr_get_cllr(const ibex_slr *s);

#ifdef __cplusplus
}
#endif
#endif
