/* Accuracy statistics for comparison scores (see ibex/stats.h for the methods). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ibex/stats.h"
#include "ibex_internal.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static ibex_status check_scores(const double *v, size_t n, const char *what, ibex_diag *d)
{
    if (n == 0) return ibex__fail(d, IBEX_ERR_ARG, "", -1, "no %s scores", what);
    if (!v) return ibex__fail(d, IBEX_ERR_ARG, "", -1, "%s scores missing", what);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return ibex__fail(d, IBEX_ERR_ARG, "", -1, "%s score %zu is not finite", what, i);
    return IBEX_OK;
}

static ibex_status check_pair(const double *m, size_t nm, const double *n, size_t nn,
                              ibex_diag *d)
{
    ibex_status s = check_scores(m, nm, "match", d);
    return s ? s : check_scores(n, nn, "non-match", d);
}

typedef struct tagged {
    double v;
    int is_match;
} tagged;

static int cmp_tagged(const void *a, const void *b)
{
    return cmp_double(&((const tagged *)a)->v, &((const tagged *)b)->v);
}

/* Mann-Whitney U from midranks: sum the ranks of the matches in the pooled sort
 * (tied values share the mean of their ranks, which counts a tie as 1/2). */
static double auc_sorted(tagged *t, size_t nm, size_t nn)
{
    size_t n = nm + nn;
    qsort(t, n, sizeof *t, cmp_tagged);
    double rank_sum = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        size_t k = 0;
        while (j < n && t[j].v == t[i].v) k += (size_t)t[j++].is_match;
        double midrank = 0.5 * ((double)(i + 1) + (double)j);
        rank_sum += midrank * (double)k;
        i = j;
    }
    double u = rank_sum - 0.5 * (double)nm * ((double)nm + 1);
    return u / ((double)nm * (double)nn);
}

ibex_status ibex_stats_auc(const double *match, size_t n_match, const double *nonmatch,
                           size_t n_nonmatch, double *auc, ibex_diag *diag)
{
    ibex_status s = check_pair(match, n_match, nonmatch, n_nonmatch, diag);
    if (s) return s;
    tagged *t = malloc((n_match + n_nonmatch) * sizeof *t);
    if (!t) return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    for (size_t i = 0; i < n_match; i++) t[i] = (tagged){match[i], 1};
    for (size_t i = 0; i < n_nonmatch; i++) t[n_match + i] = (tagged){nonmatch[i], 0};
    *auc = auc_sorted(t, n_match, n_nonmatch);
    free(t);
    return IBEX_OK;
}

void ibex_auc_ci_opts_init(ibex_auc_ci_opts *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->resamples = 2000;
    o->level = 0.95;
    o->seed = 1;
}

/* splitmix64 (Steele, Lea and Flood 2014): small, seedable, good enough for resampling. */
static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n) without modulo bias (rejection). */
static size_t draw(uint64_t *state, size_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t r;
    do r = splitmix64(state);
    while (r >= limit);
    return (size_t)(r % n);
}

/* Type-7 quantile (linear interpolation between order statistics) of a sorted array. */
static double quantile_sorted(const double *v, size_t n, double p)
{
    double h = (double)(n - 1) * p;
    size_t lo = (size_t)floor(h);
    if (lo + 1 >= n) return v[n - 1];
    return v[lo] + (h - (double)lo) * (v[lo + 1] - v[lo]);
}

ibex_status ibex_stats_auc_ci(const double *match, size_t n_match, const double *nonmatch,
                              size_t n_nonmatch, const ibex_auc_ci_opts *o, double *lo,
                              double *hi, ibex_diag *diag)
{
    ibex_auc_ci_opts def;
    ibex_auc_ci_opts_init(&def);
    if (!ibex__opts_merge(&def, sizeof def, o)) return ibex__opts_refused(diag, "ibex_auc_ci_opts");
    o = &def;
    if (o->resamples < 2 || !(o->level > 0 && o->level < 1))
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1,
                          "bootstrap needs >= 2 resamples and a level in (0,1)");
    ibex_status s = check_pair(match, n_match, nonmatch, n_nonmatch, diag);
    if (s) return s;
    tagged *t = malloc((n_match + n_nonmatch) * sizeof *t);
    double *aucs = malloc(o->resamples * sizeof *aucs);
    if (!t || !aucs) {
        free(t);
        free(aucs);
        return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    }
    uint64_t state = o->seed;
    for (size_t r = 0; r < o->resamples; r++) {
        for (size_t i = 0; i < n_match; i++) t[i] = (tagged){match[draw(&state, n_match)], 1};
        for (size_t i = 0; i < n_nonmatch; i++)
            t[n_match + i] = (tagged){nonmatch[draw(&state, n_nonmatch)], 0};
        aucs[r] = auc_sorted(t, n_match, n_nonmatch);
    }
    qsort(aucs, o->resamples, sizeof *aucs, cmp_double);
    *lo = quantile_sorted(aucs, o->resamples, 0.5 * (1 - o->level));
    *hi = quantile_sorted(aucs, o->resamples, 0.5 * (1 + o->level));
    free(t);
    free(aucs);
    return IBEX_OK;
}

static int cmp_tagged_desc(const void *a, const void *b) { return cmp_tagged(b, a); }

ibex_status ibex_roc_create(const double *match, size_t n_match, const double *nonmatch,
                            size_t n_nonmatch, ibex_roc **out, ibex_diag *diag)
{
    ibex_status s = check_pair(match, n_match, nonmatch, n_nonmatch, diag);
    if (s) return s;
    size_t n = n_match + n_nonmatch;
    tagged *t = malloc(n * sizeof *t);
    ibex_roc *r = calloc(1, sizeof *r);
    ibex_roc_point *pt = malloc((n + 1) * sizeof *pt);
    if (!t || !r || !pt) {
        free(t);
        free(r);
        free(pt);
        return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    }
    for (size_t i = 0; i < n_match; i++) t[i] = (tagged){match[i], 1};
    for (size_t i = 0; i < n_nonmatch; i++) t[n_match + i] = (tagged){nonmatch[i], 0};
    qsort(t, n, sizeof *t, cmp_tagged_desc);
    size_t k = 0, tp = 0, fp = 0;
    pt[k++] = (ibex_roc_point){0, 0, INFINITY};
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && t[j].v == t[i].v) {
            if (t[j].is_match) tp++;
            else fp++;
            j++;
        }
        pt[k++] = (ibex_roc_point){(double)fp / (double)n_nonmatch,
                                   (double)tp / (double)n_match, t[i].v};
        i = j;
    }
    free(t);
    r->n = k;
    r->pt = pt;
    *out = r;
    return IBEX_OK;
}

void ibex_roc_free(ibex_roc *r)
{
    if (!r) return;
    free(r->pt);
    free(r);
}

double ibex_roc_get_area(const ibex_roc *r)
{
    double a = 0;
    for (size_t i = 1; i < r->n; i++)
        a += (r->pt[i].fpr - r->pt[i - 1].fpr) * 0.5 * (r->pt[i].tpr + r->pt[i - 1].tpr);
    return a;
}

void ibex_roc_get_eer(const ibex_roc *r, double *eer, double *threshold)
{
    /* g = FPR - FNR rises from -1 at (0,0) to +1 at (1,1) along the polyline. */
    for (size_t i = 1; i < r->n; i++) {
        const ibex_roc_point *p = &r->pt[i - 1], *q = &r->pt[i];
        double gp = p->fpr - (1 - p->tpr), gq = q->fpr - (1 - q->tpr);
        if (gq < 0) continue;
        double a = gq == gp ? 0 : -gp / (gq - gp);
        double tp = isfinite(p->threshold) ? p->threshold : q->threshold;
        if (eer) *eer = p->fpr + a * (q->fpr - p->fpr);
        if (threshold) *threshold = tp + a * (q->threshold - tp);
        return;
    }
    if (eer) *eer = NAN; /* unreachable for a ROC made by ibex_roc_create */
    if (threshold) *threshold = NAN;
}

ibex_status ibex_stats_error_rates(const double *match, size_t n_match, const double *nonmatch,
                                   size_t n_nonmatch, double threshold, double *fpr,
                                   double *fnr, ibex_diag *diag)
{
    ibex_status s = check_pair(match, n_match, nonmatch, n_nonmatch, diag);
    if (s) return s;
    if (isnan(threshold)) return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "threshold is NaN");
    size_t fp = 0, fn = 0;
    for (size_t i = 0; i < n_nonmatch; i++) fp += nonmatch[i] >= threshold;
    for (size_t i = 0; i < n_match; i++) fn += match[i] < threshold;
    *fpr = (double)fp / (double)n_nonmatch;
    *fnr = (double)fn / (double)n_match;
    return IBEX_OK;
}

ibex_status ibex_stats_mate_ranks(const double *scores, const size_t *label, size_t n,
                                  size_t *rank, ibex_diag *diag)
{
    if (!scores || !label || !rank || n == 0)
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "empty score matrix");
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            if (i != j && !isfinite(scores[i * n + j]))
                return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "score (%zu,%zu) is not finite",
                                  i, j);
    for (size_t i = 0; i < n; i++) {
        const double *row = scores + i * n;
        double best = -INFINITY;
        int has_mate = 0;
        for (size_t j = 0; j < n; j++)
            if (j != i && label[j] == label[i] && (!has_mate || row[j] > best)) {
                best = row[j];
                has_mate = 1;
            }
        size_t r = 0;
        if (has_mate) {
            r = 1;
            for (size_t j = 0; j < n; j++)
                if (j != i && label[j] != label[i] && row[j] >= best) r++;
        }
        rank[i] = r;
    }
    return IBEX_OK;
}

double ibex_stats_top_k(const size_t *rank, size_t n, size_t k)
{
    size_t with_mate = 0, hit = 0;
    for (size_t i = 0; i < n; i++) {
        if (rank[i] == 0) continue;
        with_mate++;
        hit += rank[i] <= k;
    }
    return with_mate ? (double)hit / (double)with_mate : NAN;
}

/* ---- kernel density and likelihood ratios ---- */

struct ibex_kde {
    size_t n;
    double h;
    double *x; /* sorted */
};

#define INV_SQRT_2PI 0.398942280401432677939946059934

ibex_status ibex_kde_create(const double *x, size_t n, double h_floor, ibex_kde **out,
                            ibex_diag *diag)
{
    ibex_status s = check_scores(x, n, "density", diag);
    if (s) return s;
    if (!(h_floor >= 0) || !isfinite(h_floor))
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "bandwidth floor must be >= 0");
    ibex_kde *k = calloc(1, sizeof *k);
    double *v = malloc(n * sizeof *v);
    if (!k || !v) {
        free(k);
        free(v);
        return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    }
    memcpy(v, x, n * sizeof *v);
    qsort(v, n, sizeof *v, cmp_double);
    double mean = 0;
    for (size_t i = 0; i < n; i++) mean += v[i];
    mean /= (double)n;
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += (v[i] - mean) * (v[i] - mean);
    double sd = n > 1 ? sqrt(ss / (double)(n - 1)) : 0;
    double iqr = quantile_sorted(v, n, 0.75) - quantile_sorted(v, n, 0.25);
    double spread = iqr > 0 ? fmin(sd, iqr / 1.34) : sd;
    double h = 0.9 * spread * pow((double)n, -0.2);
    if (!(h >= h_floor)) h = h_floor;
    if (!(h > 0)) h = 1e-12; /* all equal and no floor: still a proper density */
    k->n = n;
    k->h = h;
    k->x = v;
    *out = k;
    return IBEX_OK;
}

void ibex_kde_free(ibex_kde *k)
{
    if (!k) return;
    free(k->x);
    free(k);
}

double ibex_kde_get_bandwidth(const ibex_kde *k) { return k->h; }

double ibex_kde_density(const ibex_kde *k, double x)
{
    /* Kernels beyond 40 bandwidths add less than 1e-300: skip them via the sorted sample. */
    double sum = 0, reach = 40 * k->h;
    for (size_t i = 0; i < k->n; i++) {
        double u = (x - k->x[i]) / k->h;
        if (k->x[i] < x - reach) continue;
        if (k->x[i] > x + reach) break;
        sum += exp(-0.5 * u * u);
    }
    return sum * INV_SQRT_2PI / ((double)k->n * k->h);
}

struct ibex_slr {
    ibex_kde *m, *nm;
    double floor_m, floor_nm;
    double cllr;
};

static double floor_of(const ibex_kde *k)
{
    return INV_SQRT_2PI * exp(-8.0) / ((double)k->n * k->h); /* phi(4) / (n h) */
}

static double lr_from(const ibex_slr *s, double fm, double fn)
{
    return fmax(fm, s->floor_m) / fmax(fn, s->floor_nm);
}

/* Density at a training point with that point's own kernel removed. */
static double loo_density(const ibex_kde *k, double x)
{
    if (k->n < 2) return 0;
    /* n h f(x) is the sum of phi(u) over all points; the point itself adds phi(0). */
    double others = ibex_kde_density(k, x) * (double)k->n * k->h - INV_SQRT_2PI;
    return fmax(others, 0) / ((double)(k->n - 1) * k->h);
}

ibex_status ibex_slr_create(const double *match, size_t n_match, const double *nonmatch,
                            size_t n_nonmatch, ibex_slr **out, ibex_diag *diag)
{
    ibex_status st = check_pair(match, n_match, nonmatch, n_nonmatch, diag);
    if (st) return st;
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n_match; i++) lo = fmin(lo, match[i]), hi = fmax(hi, match[i]);
    for (size_t i = 0; i < n_nonmatch; i++)
        lo = fmin(lo, nonmatch[i]), hi = fmax(hi, nonmatch[i]);
    double h_floor = 0.01 * (hi - lo);
    if (!(h_floor > 0)) h_floor = 1e-6 * fmax(1.0, fabs(hi));
    ibex_slr *s = calloc(1, sizeof *s);
    if (!s) return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    if ((st = ibex_kde_create(match, n_match, h_floor, &s->m, diag)) ||
        (st = ibex_kde_create(nonmatch, n_nonmatch, h_floor, &s->nm, diag))) {
        ibex_slr_free(s);
        return st;
    }
    s->floor_m = floor_of(s->m);
    s->floor_nm = floor_of(s->nm);
    /* Leave-one-out Cllr: each score leaves its own density, the other density is whole. */
    double cm = 0, cn = 0;
    for (size_t i = 0; i < n_match; i++) {
        double lr = lr_from(s, loo_density(s->m, match[i]), ibex_kde_density(s->nm, match[i]));
        cm += log2(1 + 1 / lr);
    }
    for (size_t i = 0; i < n_nonmatch; i++) {
        double lr =
            lr_from(s, ibex_kde_density(s->m, nonmatch[i]), loo_density(s->nm, nonmatch[i]));
        cn += log2(1 + lr);
    }
    s->cllr = 0.5 * (cm / (double)n_match + cn / (double)n_nonmatch);
    *out = s;
    return IBEX_OK;
}

void ibex_slr_free(ibex_slr *s)
{
    if (!s) return;
    ibex_kde_free(s->m);
    ibex_kde_free(s->nm);
    free(s);
}

double ibex_slr_log10(const ibex_slr *s, double score)
{
    if (isnan(score)) return NAN;
    return log10(lr_from(s, ibex_kde_density(s->m, score), ibex_kde_density(s->nm, score)));
}

void ibex_slr_get_bandwidths(const ibex_slr *s, double *h_match, double *h_nonmatch)
{
    if (h_match) *h_match = s->m->h;
    if (h_nonmatch) *h_nonmatch = s->nm->h;
}

double ibex_slr_get_cllr(const ibex_slr *s) { return s->cllr; }
