/* Score-to-LR calibration (equal-prior logistic regression), ELUB bounds, Cllr, Cllr_min by
 * pool-adjacent-violators, ECE, and the ENFSI verbal scale. See include/ibex/calibration.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibex/calibration.h"
#include "ibex_internal.h"

#define LN10 2.302585092994046

/* ln(1 + e^y) without overflow; +inf for +inf, 0 for -inf. */
static double softplus(double y)
{
    if (y == INFINITY) return INFINITY;
    if (y == -INFINITY) return 0;
    return y > 0 ? y + log1p(exp(-y)) : log1p(exp(y));
}

static void copy_name(char *dst, size_t cap, const char *src)
{
    dst[0] = 0;
    if (!src) return;
    strncpy(dst, src, cap - 1);
    dst[cap - 1] = 0;
}

/* Weighted logistic loss of ln-odds a + b z over the data plus the two pseudo-observations. */
typedef struct fit_data {
    const double *z;
    const int *same;
    size_t n;
    double z_hi_match, z_lo_non; /* pseudo-observations: non-match at z_hi_match, match at z_lo_non */
    double w1, w0;               /* weight of one same-source / different-source pair */
} fit_data;

static double loss_grad(const fit_data *f, double a, double b, double g[2], double H[3])
{
    double L = 0;
    g[0] = g[1] = H[0] = H[1] = H[2] = 0;
    for (size_t i = 0; i < f->n + 2; i++) {
        double z, y;
        if (i < f->n) {
            z = f->z[i];
            y = f->same[i] ? 1 : 0;
        } else {
            y = i == f->n ? 0 : 1;
            z = i == f->n ? f->z_hi_match : f->z_lo_non;
        }
        double w = y ? f->w1 : f->w0, t = a + b * z;
        double p = 1 / (1 + exp(-t));
        L += w * (y ? softplus(-t) : softplus(t));
        double r = w * (p - y), v = w * p * (1 - p);
        g[0] += r;
        g[1] += r * z;
        H[0] += v;
        H[1] += v * z;
        H[2] += v * z * z;
    }
    return L;
}

ibex_status ibex_calibration_fit(const double *score, const int *same, size_t n,
                                 const char *id, const char *score_name,
                                 ibex_calibration *out, ibex_diag *diag)
{
    if (!score || !same || !out || n < 2)
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "calibration needs scores and labels");
    size_t nm = 0, nn = 0;
    double mu = 0, hi_m = -INFINITY, lo_n = INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(score[i]))
            return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "score %zu is not finite", i);
        if (same[i]) {
            nm++;
            hi_m = fmax(hi_m, score[i]);
        } else {
            nn++;
            lo_n = fmin(lo_n, score[i]);
        }
        mu += score[i];
    }
    if (!nm || !nn)
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1,
                          "calibration needs same-source and different-source pairs (%zu, %zu)",
                          nm, nn);
    mu /= (double)n;
    double var = 0;
    for (size_t i = 0; i < n; i++) var += (score[i] - mu) * (score[i] - mu);
    double sd = sqrt(var / (double)n);
    if (!(sd > 0)) sd = 1;
    double *z = malloc(n * sizeof *z);
    if (!z) return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    for (size_t i = 0; i < n; i++) z[i] = (score[i] - mu) / sd;
    fit_data f = {z, same, n, (hi_m - mu) / sd, (lo_n - mu) / sd,
                  1.0 / (double)(nm + 1), 1.0 / (double)(nn + 1)};
    /* Newton with step halving: the loss is convex and, with the misleading pair, bounded. */
    double a = 0, b = 0, g[2], H[3];
    double L = loss_grad(&f, a, b, g, H);
    for (int it = 0; it < 200; it++) {
        double det = H[0] * H[2] - H[1] * H[1];
        if (!(fabs(det) > 1e-300)) break;
        double da = (H[2] * g[0] - H[1] * g[1]) / det, db = (H[0] * g[1] - H[1] * g[0]) / det;
        double step = 1, Ln = L, g2[2], H2[3];
        for (int k = 0; k < 40; k++, step *= 0.5) {
            Ln = loss_grad(&f, a - step * da, b - step * db, g2, H2);
            if (Ln <= L) break;
        }
        if (Ln > L) break;
        a -= step * da;
        b -= step * db;
        memcpy(g, g2, sizeof g);
        memcpy(H, H2, sizeof H);
        int done = fabs(L - Ln) < 1e-14 * fmax(1, fabs(L));
        L = Ln;
        if (done) break;
    }
    free(z);
    ibex_calibration c;
    memset(&c, 0, sizeof c);
    copy_name(c.id, sizeof c.id, id);
    copy_name(c.score, sizeof c.score, score_name);
    c.b = b / sd;
    c.a = a - b * mu / sd;
    c.n_match = nm;
    c.n_nonmatch = nn;
    double *l = malloc(n * sizeof *l);
    if (!l) return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    for (size_t i = 0; i < n; i++) l[i] = (c.a + c.b * score[i]) / LN10;
    ibex_elub(l, same, n, &c.log10_lo, &c.log10_hi);
    free(l);
    *out = c;
    return IBEX_OK;
}

double ibex_calibration_log10_lr(const ibex_calibration *c, double score)
{
    if (!c || isnan(score)) return NAN;
    double l = (c->a + c->b * score) / LN10;
    return l < c->log10_lo ? c->log10_lo : l > c->log10_hi ? c->log10_hi : l;
}

/* Normalised Bayes error at the decision threshold t (log10): the expected error of
 * deciding "same source" when LR >= 10^t at the prior where that is the Bayes decision,
 * over that of the neutral system; one misleading observation of each class added. */
static double nbe(const double *l, const int *same, size_t n, size_t nm, size_t nn, double t)
{
    size_t miss = 1, fa = 1; /* the misleading pair: a match at LR 0, a non-match at LR inf */
    for (size_t i = 0; i < n; i++) {
        if (same[i]) miss += t > 0 ? l[i] < t : l[i] <= t;
        else fa += t > 0 ? l[i] >= t : l[i] > t;
    }
    double fnr = (double)miss / (double)(nm + 1), fpr = (double)fa / (double)(nn + 1);
    return t > 0 ? fnr + pow(10, t) * fpr : fpr + fnr * pow(10, -t);
}

void ibex_elub(const double *log10_lr, const int *same, size_t n, double *log10_lo,
               double *log10_hi)
{
    size_t nm = 0, nn = 0;
    double span = 0;
    for (size_t i = 0; i < n; i++) {
        if (same[i]) nm++;
        else nn++;
        if (isfinite(log10_lr[i])) span = fmax(span, fabs(log10_lr[i]));
    }
    *log10_lo = *log10_hi = 0;
    /* The bound can never pass log10(n + 1) of the other class: scan to there in 0.01. */
    double top = fmin(span, log10((double)(nn + 1))) + 0.01;
    double bot = fmin(span, log10((double)(nm + 1))) + 0.01;
    for (double t = 0.01; t <= top; t += 0.01) {
        if (nbe(log10_lr, same, n, nm, nn, t) >= 1) break;
        *log10_hi = t;
    }
    for (double t = -0.01; t >= -bot; t -= 0.01) {
        if (nbe(log10_lr, same, n, nm, nn, t) >= 1) break;
        *log10_lo = t;
    }
}

double ibex_ece(const double *log10_lr, const int *same, size_t n, double prior_log10_odds)
{
    double s1 = 0, s0 = 0;
    size_t nm = 0, nn = 0;
    for (size_t i = 0; i < n; i++) {
        double y = (log10_lr[i] + prior_log10_odds) * LN10; /* ln posterior odds */
        if (same[i]) {
            s1 += softplus(-y);
            nm++;
        } else {
            s0 += softplus(y);
            nn++;
        }
    }
    if (!nm || !nn) return NAN;
    double o = pow(10, prior_log10_odds), p1 = o / (1 + o);
    return (p1 * s1 / (double)nm + (1 - p1) * s0 / (double)nn) / log(2);
}

double ibex_cllr(const double *log10_lr, const int *same, size_t n)
{
    return ibex_ece(log10_lr, same, n, 0); /* ECE at even prior odds is Cllr */
}

typedef struct ranked {
    double l;
    int y;
} ranked;

static int cmp_ranked(const void *a, const void *b)
{
    double x = ((const ranked *)a)->l, y = ((const ranked *)b)->l;
    return (x > y) - (x < y);
}

double ibex_cllr_min(const double *log10_lr, const int *same, size_t n)
{
    ranked *r = malloc((n + 1) * sizeof *r);
    double *pos = malloc((n + 1) * sizeof *pos), *cnt = malloc((n + 1) * sizeof *cnt);
    double *opt = malloc((n + 1) * sizeof *opt);
    int *lab = malloc((n + 1) * sizeof *lab);
    double out = NAN;
    if (!r || !pos || !cnt || !opt || !lab) goto done;
    size_t nm = 0;
    for (size_t i = 0; i < n; i++) {
        r[i].l = log10_lr[i];
        r[i].y = same[i] != 0;
        nm += r[i].y;
    }
    if (!nm || nm == n) goto done;
    qsort(r, n, sizeof *r, cmp_ranked);
    /* Blocks of tied LRs first (a score cannot be split), then pool adjacent violators. */
    size_t nb = 0;
    for (size_t i = 0; i < n; i++) {
        if (nb && r[i].l == r[i - 1].l) {
            pos[nb - 1] += r[i].y;
            cnt[nb - 1] += 1;
        } else {
            pos[nb] = r[i].y;
            cnt[nb] = 1;
            nb++;
        }
        size_t k = nb;
        while (k >= 2 && pos[k - 2] / cnt[k - 2] >= pos[k - 1] / cnt[k - 1]) {
            pos[k - 2] += pos[k - 1];
            cnt[k - 2] += cnt[k - 1];
            k--;
        }
        nb = k;
    }
    /* Posterior of each pooled block at the data's own prior, back to an LR. */
    double prior = log10((double)nm / (double)(n - nm));
    size_t i = 0;
    for (size_t b = 0; b < nb; b++) {
        double p = pos[b] / cnt[b];
        double l = p <= 0 ? -INFINITY : p >= 1 ? INFINITY : log10(p / (1 - p)) - prior;
        for (size_t k = 0; k < (size_t)cnt[b]; k++, i++) {
            opt[i] = l;
            lab[i] = r[i].y;
        }
    }
    out = ibex_cllr(opt, lab, n);
done:
    free(r);
    free(pos);
    free(cnt);
    free(opt);
    free(lab);
    return out;
}

const char *ibex_lr_verbal(double log10_lr)
{
    if (isnan(log10_lr)) return "no LR";
    double a = fabs(log10_lr);
    if (a < log10(2)) return "no support either way";
    int same = log10_lr > 0;
    if (a < 1) return same ? "weak support for same source" : "weak support for different sources";
    if (a < 2)
        return same ? "moderate support for same source"
                    : "moderate support for different sources";
    if (a < 3)
        return same ? "moderately strong support for same source"
                    : "moderately strong support for different sources";
    if (a < 4)
        return same ? "strong support for same source" : "strong support for different sources";
    if (a < 6)
        return same ? "very strong support for same source"
                    : "very strong support for different sources";
    return same ? "extremely strong support for same source"
                : "extremely strong support for different sources";
}

size_t ibex_calibration_format(const ibex_calibration *c, char *buf, size_t cap)
{
    if (!c || !buf || !cap) return 0;
    int n = snprintf(buf, cap,
                     "id=%s;score=%s;a=%.17g;b=%.17g;log10_lo=%.17g;log10_hi=%.17g;n_match=%zu;"
                     "n_nonmatch=%zu",
                     c->id, c->score, c->a, c->b, c->log10_lo, c->log10_hi, c->n_match,
                     c->n_nonmatch);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* The value of key in "k=v;k=v" text into v (cap bytes); 0 when absent or too long. */
static int field(const char *text, const char *key, char *v, size_t cap)
{
    size_t kl = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, ';') ? strchr(p, ';') + 1 : NULL) {
        if (strncmp(p, key, kl) || p[kl] != '=') continue;
        const char *e = strchr(p + kl + 1, ';');
        size_t l = e ? (size_t)(e - (p + kl + 1)) : strlen(p + kl + 1);
        if (l >= cap) return 0;
        memcpy(v, p + kl + 1, l);
        v[l] = 0;
        return 1;
    }
    return 0;
}

ibex_status ibex_calibration_parse(const char *text, ibex_calibration *out, ibex_diag *diag)
{
    if (!text || !out) return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "no calibration text");
    ibex_calibration c;
    memset(&c, 0, sizeof c);
    char v[128];
    if (!field(text, "id", c.id, sizeof c.id) || !c.id[0])
        return ibex__fail(diag, IBEX_ERR_FORMAT, "", -1, "calibration: no id");
    if (!field(text, "score", c.score, sizeof c.score))
        return ibex__fail(diag, IBEX_ERR_FORMAT, "", -1, "calibration %s: no score", c.id);
    const char *num[4] = {"a", "b", "log10_lo", "log10_hi"};
    double *dst[4] = {&c.a, &c.b, &c.log10_lo, &c.log10_hi};
    for (int k = 0; k < 4; k++) {
        char *e;
        if (!field(text, num[k], v, sizeof v) || !(*dst[k] = strtod(v, &e), e != v && !*e) ||
            !isfinite(*dst[k]))
            return ibex__fail(diag, IBEX_ERR_FORMAT, "", -1, "calibration %s: field %s missing or "
                              "not a finite number", c.id, num[k]);
    }
    const char *cnt[2] = {"n_match", "n_nonmatch"};
    size_t *cd[2] = {&c.n_match, &c.n_nonmatch};
    for (int k = 0; k < 2; k++) {
        char *e;
        if (!field(text, cnt[k], v, sizeof v) || v[0] == '-' ||
            !(*cd[k] = (size_t)strtoull(v, &e, 10), e != v && !*e))
            return ibex__fail(diag, IBEX_ERR_FORMAT, "", -1, "calibration %s: field %s missing or "
                              "not a count", c.id, cnt[k]);
    }
    if (!(c.log10_lo <= 0 && c.log10_hi >= 0))
        return ibex__fail(diag, IBEX_ERR_FORMAT, "", -1,
                          "calibration %s: bounds [%g, %g] do not contain 0", c.id, c.log10_lo,
                          c.log10_hi);
    *out = c;
    return IBEX_OK;
}
