/* Accuracy statistics against independent references: naive pair counts, analytic
 * Gaussian results, a sort-based rank reference and numerical integration. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ibex/stats.h"

static uint64_t rng_state;
static double urand(void)
{
    /* xorshift64*: independent of the splitmix64 used inside stats.c */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}
static double nrand(void)
{
    double u = urand(), v = urand();
    if (u < 1e-300) u = 1e-300;
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}
static double Phi(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }

/* O(n*m) pair count, ties 1/2. */
static double naive_auc(const double *m, size_t nm, const double *n, size_t nn)
{
    double c = 0;
    for (size_t i = 0; i < nm; i++)
        for (size_t j = 0; j < nn; j++) c += m[i] > n[j] ? 1 : m[i] == n[j] ? 0.5 : 0;
    return c / ((double)nm * (double)nn);
}

static void test_auc_vs_naive(void)
{
    for (unsigned seed = 1; seed <= 20; seed++) {
        rng_state = 0x9e3779b97f4a7c15ull * seed;
        size_t nm = 1 + (size_t)(urand() * 60), nn = 1 + (size_t)(urand() * 300);
        double *m = malloc(nm * sizeof *m), *n = malloc(nn * sizeof *n);
        /* Every other seed rounds to a coarse grid so there are many ties. */
        double q = seed % 2 ? 0 : 0.25;
        for (size_t i = 0; i < nm; i++) m[i] = nrand() + 0.7, m[i] = q ? round(m[i] / q) * q : m[i];
        for (size_t i = 0; i < nn; i++) n[i] = nrand(), n[i] = q ? round(n[i] / q) * q : n[i];
        double auc = -1;
        CHECK(ibex_stats_auc(m, nm, n, nn, &auc, NULL) == IBEX_OK);
        double ref = naive_auc(m, nm, n, nn);
        CHECK_MSG(fabs(auc - ref) < 1e-12, "seed %u: %.15g vs naive %.15g", seed, auc, ref);
        ibex_roc *roc = NULL;
        CHECK(ibex_roc_create(m, nm, n, nn, &roc, NULL) == IBEX_OK);
        if (roc) {
            CHECK_MSG(fabs(ibex_roc_get_area(roc) - ref) < 1e-12, "seed %u", seed);
            /* Each ROC point agrees with a direct count at its threshold. */
            for (size_t k = 1; k < roc->n; k++) {
                double fpr, fnr;
                CHECK(ibex_stats_error_rates(m, nm, n, nn, roc->pt[k].threshold, &fpr, &fnr,
                                             NULL) == IBEX_OK);
                CHECK_NEAR(fpr, roc->pt[k].fpr, 1e-15);
                CHECK_NEAR(1 - fnr, roc->pt[k].tpr, 1e-15);
            }
            CHECK(roc->pt[0].fpr == 0 && roc->pt[0].tpr == 0);
            CHECK(roc->pt[roc->n - 1].fpr == 1 && roc->pt[roc->n - 1].tpr == 1);
            /* EER lies between the FPR and FNR of the bracketing points. */
            double eer, thr;
            ibex_roc_get_eer(roc, &eer, &thr);
            CHECK(eer >= 0 && eer <= 1 && isfinite(thr));
            ibex_roc_free(roc);
        }
        free(m);
        free(n);
    }
}

static void test_separation(void)
{
    double m[] = {5, 6, 7, 8}, n[] = {1, 2, 3, 4, 4.5};
    double auc, eer, thr, fpr, fnr;
    CHECK(ibex_stats_auc(m, 4, n, 5, &auc, NULL) == IBEX_OK);
    CHECK(auc == 1);
    CHECK(ibex_stats_auc(n, 5, m, 4, &auc, NULL) == IBEX_OK);
    CHECK(auc == 0);
    ibex_roc *roc;
    CHECK(ibex_roc_create(m, 4, n, 5, &roc, NULL) == IBEX_OK);
    ibex_roc_get_eer(roc, &eer, &thr);
    CHECK(eer == 0);
    /* At the EER threshold both error rates are 0. */
    CHECK(ibex_stats_error_rates(m, 4, n, 5, thr, &fpr, &fnr, NULL) == IBEX_OK);
    CHECK(fpr == 0 && fnr == 0);
    ibex_roc_free(roc);

    /* Identical samples: every cross pair is either a tie or has a mirror pair. */
    double a[] = {0.3, 0.1, 0.3, 0.9, 0.5};
    CHECK(ibex_stats_auc(a, 5, a, 5, &auc, NULL) == IBEX_OK);
    CHECK(auc == 0.5);
    CHECK(ibex_roc_create(a, 5, a, 5, &roc, NULL) == IBEX_OK);
    ibex_roc_get_eer(roc, &eer, &thr);
    CHECK_NEAR(eer, 0.5, 1e-12);
    ibex_roc_free(roc);
}

/* Two unit Gaussians d apart: AUC = Phi(d / sqrt 2), EER = Phi(-d/2). */
static void test_gaussian(void)
{
    rng_state = 12345;
    size_t n = 20000;
    double *m = malloc(n * sizeof *m), *nm = malloc(n * sizeof *nm);
    for (double d = 0; d <= 2.01; d += 1.0) {
        for (size_t i = 0; i < n; i++) m[i] = nrand() + d, nm[i] = nrand();
        double auc, eer, thr;
        ibex_roc *roc;
        CHECK(ibex_stats_auc(m, n, nm, n, &auc, NULL) == IBEX_OK);
        /* SE of the AUC here is < 0.003 (Hanley and McNeil 1982): 4 SE. */
        CHECK_NEAR(auc, Phi(d / sqrt(2.0)), 0.012);
        CHECK(ibex_roc_create(m, n, nm, n, &roc, NULL) == IBEX_OK);
        ibex_roc_get_eer(roc, &eer, &thr);
        CHECK_NEAR(eer, Phi(-d / 2), 0.012);
        CHECK_NEAR(thr, d / 2, 0.05);
        ibex_roc_free(roc);
    }
    free(m);
    free(nm);
}

static void test_bootstrap(void)
{
    rng_state = 777;
    size_t nm = 60, nn = 700;
    double *m = malloc(nm * sizeof *m), *n = malloc(nn * sizeof *n);
    for (size_t i = 0; i < nm; i++) m[i] = nrand() + 1.2;
    for (size_t i = 0; i < nn; i++) n[i] = nrand();
    ibex_auc_ci_opts o;
    ibex_auc_ci_opts_init(&o);
    CHECK(o.resamples == 2000 && o.level == 0.95);
    double auc, lo, hi, lo2, hi2, lo3, hi3;
    CHECK(ibex_stats_auc(m, nm, n, nn, &auc, NULL) == IBEX_OK);
    CHECK(ibex_stats_auc_ci(m, nm, n, nn, &o, &lo, &hi, NULL) == IBEX_OK);
    CHECK_MSG(lo < auc && auc < hi, "%g not in [%g, %g]", auc, lo, hi);
    CHECK(ibex_stats_auc_ci(m, nm, n, nn, &o, &lo2, &hi2, NULL) == IBEX_OK);
    CHECK(lo == lo2 && hi == hi2);
    o.seed = 2;
    CHECK(ibex_stats_auc_ci(m, nm, n, nn, &o, &lo3, &hi3, NULL) == IBEX_OK);
    CHECK(lo3 != lo || hi3 != hi);
    /* Width against the Hanley-McNeil standard error: 2 * 1.96 * SE, within 30%. */
    double q1 = auc / (2 - auc), q2 = 2 * auc * auc / (1 + auc);
    double se = sqrt((auc * (1 - auc) + (double)(nm - 1) * (q1 - auc * auc) +
                      (double)(nn - 1) * (q2 - auc * auc)) / ((double)nm * (double)nn));
    CHECK_MSG(fabs((hi - lo) / (2 * 1.96 * se) - 1) < 0.3, "width %g, HM %g", hi - lo,
              2 * 1.96 * se);
    free(m);
    free(n);
}

/* Reference rank: walk candidates in descending score, non-mates before mates on ties. */
static size_t naive_rank(const double *s, const size_t *lab, size_t n, size_t i)
{
    size_t *idx = malloc(n * sizeof *idx), k = 0;
    for (size_t j = 0; j < n; j++)
        if (j != i) idx[k++] = j;
    for (size_t a = 0; a < k; a++) /* selection sort: small n */
        for (size_t b = a + 1; b < k; b++) {
            double sa = s[i * n + idx[a]], sb = s[i * n + idx[b]];
            int ma = lab[idx[a]] == lab[i], mb = lab[idx[b]] == lab[i];
            if (sb > sa || (sb == sa && ma && !mb)) {
                size_t t = idx[a];
                idx[a] = idx[b];
                idx[b] = t;
            }
        }
    size_t r = 0;
    for (size_t a = 0; a < k; a++)
        if (lab[idx[a]] == lab[i]) {
            r = a + 1;
            break;
        }
    free(idx);
    return r;
}

static void test_ranks(void)
{
    rng_state = 99;
    size_t n = 40;
    double *s = malloc(n * n * sizeof *s);
    size_t lab[40], rank[40];
    for (size_t i = 0; i < n; i++) lab[i] = (size_t)(urand() * 12);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            s[i * n + j] = round(4 * (nrand() + (lab[i] == lab[j] ? 1.0 : 0))) / 4;
    CHECK(ibex_stats_mate_ranks(s, lab, n, rank, NULL) == IBEX_OK);
    size_t with = 0, top1 = 0, top5 = 0;
    for (size_t i = 0; i < n; i++) {
        size_t r = naive_rank(s, lab, n, i);
        CHECK_MSG(rank[i] == r, "query %zu: %zu vs %zu", i, rank[i], r);
        if (r) with++, top1 += r == 1, top5 += r <= 5;
    }
    CHECK_NEAR(ibex_stats_top_k(rank, n, 1), (double)top1 / (double)with, 1e-15);
    CHECK_NEAR(ibex_stats_top_k(rank, n, 5), (double)top5 / (double)with, 1e-15);
    /* No query with a mate: NaN rate. */
    size_t zero[3] = {0, 0, 0};
    CHECK(isnan(ibex_stats_top_k(zero, 3, 1)));
    s[1] = NAN;
    CHECK(ibex_stats_mate_ranks(s, lab, n, rank, NULL) == IBEX_ERR_ARG);
    free(s);
}

static void test_kde(void)
{
    rng_state = 4242;
    size_t n = 500;
    double *x = malloc(n * sizeof *x), *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) x[i] = i % 3 ? nrand() : 4 + 0.5 * nrand();
    ibex_kde *k;
    CHECK(ibex_kde_create(x, n, 0, &k, NULL) == IBEX_OK);
    /* Silverman's rule computed here independently (type-7 quartiles). */
    memcpy(v, x, n * sizeof *v);
    for (size_t a = 1; a < n; a++) /* insertion sort */
        for (size_t b = a; b > 0 && v[b - 1] > v[b]; b--) {
            double t = v[b];
            v[b] = v[b - 1];
            v[b - 1] = t;
        }
    double mean = 0, ss = 0;
    for (size_t i = 0; i < n; i++) mean += x[i] / (double)n;
    for (size_t i = 0; i < n; i++) ss += (x[i] - mean) * (x[i] - mean);
    double sd = sqrt(ss / (double)(n - 1));
    double h1 = (double)(n - 1) * 0.25, h3 = (double)(n - 1) * 0.75;
    double q1 = v[(size_t)h1] + (h1 - floor(h1)) * (v[(size_t)h1 + 1] - v[(size_t)h1]);
    double q3 = v[(size_t)h3] + (h3 - floor(h3)) * (v[(size_t)h3 + 1] - v[(size_t)h3]);
    double h = 0.9 * fmin(sd, (q3 - q1) / 1.34) * pow((double)n, -0.2);
    CHECK_NEAR(ibex_kde_get_bandwidth(k), h, 1e-12);
    /* Integrates to 1 (trapezoid, step h/20, over the sample +- 12 h). */
    double a = v[0] - 12 * h, b = v[n - 1] + 12 * h, step = h / 20, integral = 0;
    for (double t = a; t < b; t += step)
        integral += 0.5 * step * (ibex_kde_density(k, t) + ibex_kde_density(k, t + step));
    CHECK_NEAR(integral, 1, 1e-6);
    ibex_kde_free(k);
    /* A bandwidth floor wins over a smaller rule-of-thumb value. */
    CHECK(ibex_kde_create(x, n, 3.0, &k, NULL) == IBEX_OK);
    CHECK(ibex_kde_get_bandwidth(k) == 3.0);
    ibex_kde_free(k);
    /* One-point sample with no floor is still a (narrow) density, not NaN. */
    CHECK(ibex_kde_create(x, 1, 0, &k, NULL) == IBEX_OK);
    CHECK(isfinite(ibex_kde_density(k, x[0])) && ibex_kde_density(k, x[0]) > 0);
    ibex_kde_free(k);
    free(x);
    free(v);
}

static void test_slr(void)
{
    rng_state = 31337;
    size_t nm = 300, nn = 3000;
    double *m = malloc(nm * sizeof *m), *n = malloc(nn * sizeof *n);
    for (size_t i = 0; i < nm; i++) m[i] = 3 + nrand();
    for (size_t i = 0; i < nn; i++) n[i] = nrand();
    ibex_slr *s;
    CHECK(ibex_slr_create(m, nm, n, nn, &s, NULL) == IBEX_OK);
    /* Equal-variance Gaussians 3 apart: log10 LR(x) = (3x - 4.5) / ln 10. Check in the bulk
     * of both samples, where the estimates are good to a few tenths. */
    for (double x = 0.5; x <= 2.51; x += 0.5)
        CHECK_MSG(fabs(ibex_slr_log10(s, x) - (3 * x - 4.5) / log(10.0)) < 0.35, "x=%g: %g", x,
                  ibex_slr_log10(s, x));
    /* Far outside both samples the LR stays finite and bounded by the floors. */
    double big = ibex_slr_log10(s, 1e6), small = ibex_slr_log10(s, -1e6);
    CHECK(isfinite(big) && isfinite(small));
    double hm, hn;
    ibex_slr_get_bandwidths(s, &hm, &hn);
    double bound = log10((double)(nm > nn ? nm : nn) * fmax(hm, hn) / fmin(hm, hn)) + 1;
    CHECK_MSG(fabs(big) <= bound && fabs(small) <= bound, "%g %g > %g", big, small, bound);
    double cllr = ibex_slr_get_cllr(s);
    /* Separated by 3 sd: Cllr of the true LR is about 0.2; an estimate should be close. */
    CHECK_MSG(cllr > 0.05 && cllr < 0.35, "cllr %g", cllr);
    ibex_slr_free(s);
    /* Same distribution: uninformative, Cllr near 1 (LOO penalises over-fitting). */
    for (size_t i = 0; i < nm; i++) m[i] = nrand();
    CHECK(ibex_slr_create(m, nm, n, nn, &s, NULL) == IBEX_OK);
    cllr = ibex_slr_get_cllr(s);
    CHECK_MSG(cllr > 0.9 && cllr < 1.2, "cllr %g", cllr);
    CHECK(fabs(ibex_slr_log10(s, 0)) < 0.2);
    ibex_slr_free(s);
    free(m);
    free(n);
}

static void test_bad_input(void)
{
    double a[] = {1, NAN}, b[] = {0};
    double auc = 42;
    ibex_diag d;
    CHECK(ibex_stats_auc(a, 2, b, 1, &auc, &d) == IBEX_ERR_ARG);
    CHECK(auc == 42);
    CHECK(ibex_stats_auc(a, 0, b, 1, &auc, &d) == IBEX_ERR_ARG);
    CHECK(strstr(d.message, "no match") != NULL);
    ibex_slr *s = NULL;
    CHECK(ibex_slr_create(b, 1, a, 2, &s, NULL) == IBEX_ERR_ARG && s == NULL);
}

int main(void)
{
    test_auc_vs_naive();
    test_separation();
    test_gaussian();
    test_bootstrap();
    test_ranks();
    test_kde();
    test_slr();
    test_bad_input();
    return check_exit();
}
