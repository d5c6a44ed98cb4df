/* Land signatures from 3D scans of land-engraved areas: orientation, crosscut, grooves,
 * curvature removal, band-pass smoothing, resampling to a common spacing.
 * The steps follow the published pipeline of Hare, Hofmann & Carriquiry (2017, Ann. Appl.
 * Stat. 11(4)) in spirit, with choices of our own: a roughness-anisotropy test for the
 * striation direction, a band-agreement criterion for the crosscut, a robust quadratic arc
 * with a residual threshold for the groove shoulders, and Gaussian filters for the loess. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bullet_internal.h"
#include "ibex_internal.h"

void ibex_land_opts_init(ibex_land_opts *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->axis = IBEX_LAND_AXIS_AUTO;
    o->spacing = 2e-6;
    o->band = 20e-6;
    o->sigma_short = 2e-6;
    o->sigma_long = 25e-6;
    o->min_width = 400e-6;
    o->min_stability = 0.3;
}

void ibex_land_signature_free(ibex_land_signature *g)
{
    if (!g) return;
    free(g->sig);
    free(g->valid);
    free(g->striae_pos);
    free(g->striae_type);
    free(g->filled);
    free(g->psum);
    free(g->psum2);
    free(g);
}

/* The scan seen as profiles across the width (u) stacked along the striae (v). */
typedef struct view {
    const float *z;
    size_t nu, nv;
    size_t su, sv; /* strides of u and v in z */
    double du, dv;
} view;

static double median_f(float *v, size_t n)
{
    if (!n) return NAN;
    if (n % 2) return ibex__select_k(v, n, n / 2);
    float a = ibex__select_k(v, n, n / 2 - 1), b = ibex__select_k(v, n, n / 2);
    return 0.5 * ((double)a + b);
}

/* Median absolute second difference at scale h points along one direction, sampled on a
 * sparse lattice. Striae make heights vary across them far more than along them; the
 * second difference ignores a tilt and the arc of the bullet is slow at this scale. */
static double roughness(const ibex_surface *s, int along_x, float *buf, size_t cap)
{
    size_t n = 0;
    size_t h = along_x ? (size_t)lround(6e-6 / s->dx) : (size_t)lround(6e-6 / s->dy);
    if (h < 1) h = 1;
    size_t len = along_x ? s->nx : s->ny;
    size_t other = along_x ? s->ny : s->nx;
    if (len < 2 * h + 1) return NAN;
    size_t total = (len - 2 * h) * other;
    size_t step = total / cap + 1;
    size_t stride = along_x ? 1 : s->nx;
    double hm = h * (along_x ? s->dx : s->dy);
    for (size_t k = 0; k < total && n < cap; k += step) {
        size_t o = k / (len - 2 * h), i = k % (len - 2 * h) + h;
        size_t base = along_x ? o * s->nx + i : i * s->nx + o;
        float a = s->z[base - h * stride], b = s->z[base], c = s->z[base + h * stride];
        if (isfinite(a) && isfinite(b) && isfinite(c))
            buf[n++] = (float)(fabs((double)a - 2.0 * b + c) / (hm * hm));
    }
    return n > 100 ? median_f(buf, n) : NAN;
}

static ibex_status find_axis(const ibex_surface *s, ibex_land_axis *axis, double *ratio)
{
    size_t cap = 40000;
    float *buf = malloc(cap * sizeof *buf);
    if (!buf) return IBEX_ERR_NOMEM;
    double rx = roughness(s, 1, buf, cap), ry = roughness(s, 0, buf, cap);
    free(buf);
    if (!isfinite(rx) || !isfinite(ry) || rx <= 0 || ry <= 0) return IBEX_ERR_UNSUPPORTED;
    *axis = rx >= ry ? IBEX_LAND_AXIS_X : IBEX_LAND_AXIS_Y;
    *ratio = rx >= ry ? rx / ry : ry / rx;
    return IBEX_OK;
}

/* In place: subtract a NaN-aware moving average of half-width w (prefix sums). */
static void highpass_box(float *p, size_t n, size_t w, double *ps, size_t *pc)
{
    ps[0] = 0;
    pc[0] = 0;
    for (size_t i = 0; i < n; i++) {
        int ok = isfinite(p[i]);
        ps[i + 1] = ps[i] + (ok ? p[i] : 0);
        pc[i + 1] = pc[i] + (size_t)ok;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(p[i])) continue;
        size_t lo = i > w ? i - w : 0, hi = i + w + 1 < n ? i + w + 1 : n;
        p[i] = (float)(p[i] - (ps[hi] - ps[lo]) / (double)(pc[hi] - pc[lo]));
    }
}

/* Pearson correlation over points valid in both; coverage = fraction of n valid in both. */
static double corr_nan(const float *a, const float *b, size_t n, double *coverage)
{
    double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i]) || !isfinite(b[i])) continue;
        sa += a[i];
        sb += b[i];
        saa += (double)a[i] * a[i];
        sbb += (double)b[i] * b[i];
        sab += (double)a[i] * b[i];
        m++;
    }
    *coverage = n ? (double)m / n : 0;
    if (m < 10) return NAN;
    double va = saa - sa * sa / m, vb = sbb - sb * sb / m, c = sab - sa * sb / m;
    if (!(va > 0) || !(vb > 0)) return NAN;
    return c / sqrt(va * vb);
}

/* Correlation of a and b shifted by k (a[i] with b[i - k]) over points valid in both. */
static double corr_shift(const float *a, const float *b, size_t n, long k, double *coverage)
{
    size_t lo = k > 0 ? (size_t)k : 0, hi = k < 0 ? n - (size_t)(-k) : n;
    if (hi <= lo) return NAN;
    double r = corr_nan(a + lo, b + lo - k, hi - lo, coverage);
    *coverage *= (double)(hi - lo) / n;
    return r;
}

/* Crosscut: cut the scan into half-bands of band/2 along the striae and high-pass each
 * half-band's mean profile. Neighbouring half-bands are registered by a small shift (the
 * striae may lean against the scan axis) and correlated. The crosscut is the longest
 * consistent run of agreeing neighbours (below), and its profile is the mean of that band
 * with each half-band shifted back onto the best pair. Averaging many agreeing rows keeps
 * the striae and averages out noise; stopping where agreement fails keeps damaged parts
 * out. */
static ibex_status crosscut(const view *w, double band, float *prof, double *centre,
                            double *stability)
{
    size_t hb = (size_t)lround(band / 2 / w->dv);
    if (hb < 3) hb = 3; /* at least 3 rows, so a coarse scan still averages some noise */
    if (w->nv < 2 * hb) hb = w->nv / 2;
    if (hb < 1) return IBEX_ERR_UNSUPPORTED;
    size_t nh = w->nv / hb, nu = w->nu;
    double *sum = calloc(nh * nu, sizeof *sum);
    uint32_t *cnt = calloc(nh * nu, sizeof *cnt);
    float *half = malloc(nh * nu * sizeof *half);
    double *ps = malloc((nu + 1) * sizeof *ps);
    size_t *pc = malloc((nu + 1) * sizeof *pc);
    double *cj = malloc(nh * sizeof *cj), *acc = malloc(nu * sizeof *acc);
    double *covj = malloc(nh * sizeof *covj);
    float *half_scratch = malloc(nh * sizeof *half_scratch);
    long *sj = malloc(nh * sizeof *sj), *off = malloc(nh * sizeof *off);
    uint32_t *an = malloc(nu * sizeof *an);
    ibex_status st = IBEX_OK;
    if (!sum || !cnt || !half || !ps || !pc || !cj || !sj || !off || !acc || !an || !covj || !half_scratch) {
        st = IBEX_ERR_NOMEM;
        goto done;
    }
    /* Walk memory in order whichever way the land lies. */
    if (w->su == 1) {
        for (size_t v = 0; v < nh * hb; v++) {
            double *srow = sum + (v / hb) * nu;
            uint32_t *crow = cnt + (v / hb) * nu;
            const float *zr = w->z + v * w->sv;
            for (size_t u = 0; u < nu; u++)
                if (isfinite(zr[u])) {
                    srow[u] += zr[u];
                    crow[u]++;
                }
        }
    } else {
        for (size_t u = 0; u < nu; u++) {
            const float *zc = w->z + u * w->su;
            for (size_t v = 0; v < nh * hb; v++)
                if (isfinite(zc[v * w->sv])) {
                    sum[(v / hb) * nu + u] += zc[v * w->sv];
                    cnt[(v / hb) * nu + u]++;
                }
        }
    }
    /* A point of a half-band counts when at least half its rows are valid. */
    for (size_t i = 0; i < nh * nu; i++)
        half[i] = cnt[i] * 2 >= hb ? (float)(sum[i] / cnt[i]) : NAN;
    size_t wlen = (size_t)lround(25e-6 / w->du);
    if (wlen < 2) wlen = 2;
    for (size_t j = 0; j < nh; j++) highpass_box(half + j * nu, nu, wlen, ps, pc);
    /* Lean of the striae: up to 20 degrees, first per pair of half-bands, then one lean for
     * the land (median over agreeing pairs) refined by +-1 sample per pair. */
    long smax = lround(0.364 * (double)hb * w->dv / w->du);
    if (smax < 1) smax = 1;
    double best = -INFINITY;
    size_t bj = 0;
    long lean = 0;
    for (int pass = 0; pass < 2; pass++) {
        long k0 = pass ? lean - 1 : -smax, k1 = pass ? lean + 1 : smax;
        best = -INFINITY;
        for (size_t j = 0; j + 1 < nh; j++) {
            double cbest = -INFINITY, covb = 0;
            sj[j] = 0;
            for (long k = k0; k <= k1; k++) {
                double cov, r = corr_shift(half + j * nu, half + (j + 1) * nu, nu, k, &cov);
                if (isfinite(r) && r > cbest) {
                    cbest = r;
                    sj[j] = k;
                    covb = cov;
                }
            }
            cj[j] = cbest;
            covj[j] = covb;
            if (isfinite(cbest) && cbest * covb > best) {
                best = cbest * covb;
                bj = j;
            }
        }
        if (pass == 0) {
            float *ks = half_scratch; /* nh floats */
            size_t m = 0;
            for (size_t j = 0; j + 1 < nh; j++)
                if (cj[j] >= 0.5) ks[m++] = (float)sj[j];
            if (!m) break;
            lean = lround(median_f(ks, m));
        }
    }
    if (!isfinite(best)) {
        st = IBEX_ERR_UNSUPPORTED;
        goto done;
    }
    /* The crosscut is the run of consecutive agreeing pairs (correlation >= AGREE) with the
     * largest sum of agreement x coverage: the longest consistent stretch of the land, which
     * is what repeated scans of the same land share. Without such a run, the best pair. */
    const double tau = 0.5; /* AGREE */
    size_t A = bj, B = bj + 1; /* half-bands A..B inclusive */
    double bestrun = -INFINITY;
    for (size_t j = 0; j + 1 < nh;) {
        if (!(cj[j] >= tau)) {
            j++;
            continue;
        }
        size_t s0 = j;
        double sc = 0;
        while (j + 1 < nh && cj[j] >= tau) {
            sc += cj[j] * covj[j];
            j++;
        }
        if (sc > bestrun) {
            bestrun = sc;
            A = s0;
            B = j;
        }
    }
    if (bj < A || bj >= B) { /* report the best pair inside the chosen run */
        bj = A;
        for (size_t j = A; j < B; j++)
            if (cj[j] > cj[bj]) bj = j;
    }
    /* off[j]: shift of half-band j relative to half-band A (a[i] ~ j[i - off]). */
    off[A] = 0;
    for (size_t j = A + 1; j <= B; j++) off[j] = off[j - 1] + sj[j - 1];
    long o0 = off[bj];
    for (size_t u = 0; u < nu; u++) {
        acc[u] = 0;
        an[u] = 0;
    }
    for (size_t j = A; j <= B; j++) {
        long k = o0 - off[j]; /* half_bj[u] ~ half_j[u + o0 - off[j]] */
        for (size_t u = 0; u < nu; u++) {
            long src = (long)u + k;
            if (src < 0 || src >= (long)nu) continue;
            size_t q = j * nu + (size_t)src;
            acc[u] += sum[q];
            an[u] += cnt[q];
        }
    }
    size_t rows = (B - A + 1) * hb;
    for (size_t u = 0; u < nu; u++) prof[u] = an[u] * 2 >= rows ? (float)(acc[u] / an[u]) : NAN;
    *centre = 0.5 * (double)(A + B + 1) * hb * w->dv;
    *stability = cj[bj];
done:
    free(sum);
    free(cnt);
    free(half);
    free(ps);
    free(pc);
    free(cj);
    free(covj);
    free(half_scratch);
    free(sj);
    free(off);
    free(acc);
    free(an);
    return st;
}

/* Least-squares quadratic over points [lo, hi) with weights 0/1 in keep (NULL = all valid). */
static int fit_quad(const float *p, size_t lo, size_t hi, const uint8_t *keep, double c[3])
{
    double m = 0.5 * (lo + hi), h = 0.5 * (hi - lo) + 1;
    double S[5] = {0}, T[3] = {0};
    for (size_t i = lo; i < hi; i++) {
        if (!isfinite(p[i]) || (keep && !keep[i])) continue;
        double x = (i - m) / h, x2 = x * x;
        S[0] += 1;
        S[1] += x;
        S[2] += x2;
        S[3] += x2 * x;
        S[4] += x2 * x2;
        T[0] += p[i];
        T[1] += x * p[i];
        T[2] += x2 * p[i];
    }
    if (S[0] < 10) return 0;
    /* Solve the 3x3 normal equations by Cramer's rule (well conditioned on [-1, 1]). */
    double A[3][3] = {{S[0], S[1], S[2]}, {S[1], S[2], S[3]}, {S[2], S[3], S[4]}};
    double det = A[0][0] * (A[1][1] * A[2][2] - A[1][2] * A[2][1]) -
                 A[0][1] * (A[1][0] * A[2][2] - A[1][2] * A[2][0]) +
                 A[0][2] * (A[1][0] * A[2][1] - A[1][1] * A[2][0]);
    if (!(fabs(det) > 1e-12)) return 0;
    double r[3];
    for (int k = 0; k < 3; k++) {
        double B[3][3];
        memcpy(B, A, sizeof B);
        for (int i = 0; i < 3; i++) B[i][k] = T[i];
        r[k] = (B[0][0] * (B[1][1] * B[2][2] - B[1][2] * B[2][1]) -
                B[0][1] * (B[1][0] * B[2][2] - B[1][2] * B[2][0]) +
                B[0][2] * (B[1][0] * B[2][1] - B[1][1] * B[2][0])) / det;
    }
    /* Back to the index variable: value(i) = r0 + r1 x + r2 x^2 with x = (i - m)/h. */
    c[0] = r[0];
    c[1] = r[1];
    c[2] = r[2];
    return 1;
}

static inline double quad_at(const double c[3], size_t lo, size_t hi, size_t i)
{
    double m = 0.5 * (lo + hi), h = 0.5 * (hi - lo) + 1, x = (i - m) / h;
    return c[0] + c[1] * x + c[2] * x * x;
}

/* Robust arc over [lo, hi): refit twice without points beyond 3 MADs. Residuals into r. */
static int arc_residual(const float *p, size_t n, size_t lo, size_t hi, float *r, uint8_t *keep,
                        float *tmp, double *mad_out)
{
    double c[3];
    memset(keep, 1, n);
    double mad = NAN;
    for (int it = 0; it < 3; it++) {
        if (!fit_quad(p, lo, hi, keep, c)) return 0;
        size_t m = 0;
        for (size_t i = lo; i < hi; i++)
            if (isfinite(p[i])) tmp[m++] = (float)fabs(p[i] - quad_at(c, lo, hi, i));
        mad = median_f(tmp, m);
        for (size_t i = lo; i < hi; i++)
            keep[i] = isfinite(p[i]) && fabs(p[i] - quad_at(c, lo, hi, i)) <= 3 * 1.4826 * mad;
    }
    for (size_t i = 0; i < n; i++) r[i] = isfinite(p[i]) ? (float)(p[i] - quad_at(c, lo, hi, i)) : NAN;
    *mad_out = mad;
    return 1;
}

/* Groove shoulders. The arc residual, smoothed over 50 um (sigma) so that striae and the waviness
 * of the land average out, stays near zero on the land and departs from it at a groove: up the
 * groove wall, or first down where the land rolls off below the arc before the wall. From the
 * middle of the land outward, the land ends where the smoothed residual departs, of either sign,
 * by more than 4 robust SDs of its own values on the fitted part (noise differs by instrument
 * and land), and at least 8 um (a physical floor, so that a smooth land's tiny SD does not cut
 * it at the first tool mark); or where the data stop. The boundary is then walked back to where
 * the departure starts (below 3/4 of the threshold): the threshold is crossed part-way up the
 * shoulder. Three rounds, the arc refitted between the grooves of the previous round, so that
 * a wide land's arc is not decided by its middle half only. */
#define GROOVE_SMOOTH 50e-6 /* sigma of the residual smoothing (m) */
#define GROOVE_SDS 4.0      /* departure threshold in robust SDs of the smoothed residual */
#define GROOVE_FLOOR 8e-6   /* ... and at least this (m) */
#define GROOVE_BACK 0.75    /* the departure starts where it falls below this share of it */
static ibex_status grooves(const float *p, size_t n, double du, size_t *gl, size_t *gr,
                           float *r)
{
    uint8_t *keep = malloc(n);
    float *tmp = malloc(n * sizeof *tmp), *s = malloc(n * sizeof *s);
    ibex_status st = IBEX_OK;
    if (!keep || !tmp || !s) {
        st = IBEX_ERR_NOMEM;
        goto done;
    }
    size_t first = 0, last = n;
    while (first < n && !isfinite(p[first])) first++;
    while (last > first && !isfinite(p[last - 1])) last--;
    if (last - first < 20) {
        st = IBEX_ERR_UNSUPPORTED;
        goto done;
    }
    size_t lo = first + (last - first) / 4, hi = last - (last - first) / 4;
    size_t gap_max = (size_t)lround(40e-6 / du) + 1;
    for (int round = 0; round < 3; round++) {
        double mad;
        if (!arc_residual(p, n, lo, hi, r, keep, tmp, &mad)) {
            st = IBEX_ERR_UNSUPPORTED;
            goto done;
        }
        ibex__gauss_nan(r, n, GROOVE_SMOOTH / du, s);
        /* Robust SD of the smoothed residual where the arc was fitted. */
        size_t m = 0;
        for (size_t i = lo; i < hi; i++)
            if (isfinite(p[i])) tmp[m++] = s[i];
        double med = median_f(tmp, m);
        m = 0;
        for (size_t i = lo; i < hi; i++)
            if (isfinite(p[i])) tmp[m++] = (float)fabs(s[i] - med);
        double thr = fmax(GROOVE_SDS * 1.4826 * median_f(tmp, m), GROOVE_FLOOR);
        size_t mid = (lo + hi) / 2, L = mid, R = mid;
        for (int side = 0; side < 2; side++) {
            size_t i = mid, gap = 0, edge = mid;
            int hit = 0;
            for (;;) {
                if (side == 0 ? i <= first : i + 1 >= last) break;
                i = side == 0 ? i - 1 : i + 1;
                if (!isfinite(p[i])) {
                    if (++gap > gap_max) break;
                    continue;
                }
                gap = 0;
                if (fabs(s[i]) > thr) {
                    hit = 1;
                    break;
                }
                edge = i;
            }
            if (hit) {
                /* Back to where the departure (of the sign it crossed with) starts. */
                double sg = s[i] > 0 ? 1 : -1;
                while (i != mid && (!isfinite(p[i]) || sg * s[i] > GROOVE_BACK * thr))
                    i = side == 0 ? i + 1 : i - 1;
                edge = i;
            }
            if (side == 0) L = edge;
            else R = edge;
        }
        lo = L;
        hi = R + 1;
        if (hi <= lo + 10) break;
    }
    if (hi <= lo + 10) {
        st = IBEX_ERR_UNSUPPORTED;
        goto done;
    }
    /* r: the residual of the arc fitted between the final grooves. */
    double mad;
    if (!arc_residual(p, n, lo, hi, r, keep, tmp, &mad)) {
        st = IBEX_ERR_UNSUPPORTED;
        goto done;
    }
    *gl = lo;
    *gr = hi - 1;
done:
    free(keep);
    free(tmp);
    free(s);
    return st;
}

/* Linear interpolation of p (spacing du) at spacing ds from position a to b (indices
 * in p's units); NaN where a neighbour is missing. */
static size_t resample(const float *p, size_t n, double du, double ds, double a, double b,
                       float *out, size_t cap)
{
    size_t m = 0;
    for (double x = a; x <= b && m < cap; x = a + (m) * ds / du) {
        size_t i = (size_t)floor(x);
        double t = x - i;
        float v;
        if (i + 1 >= n) v = (i < n && t == 0) ? p[i] : NAN;
        else v = (float)((1 - t) * p[i] + t * p[i + 1]);
        out[m++] = v;
    }
    return m;
}

ibex_status ibex__signature_finish(ibex_land_signature *g)
{
    size_t n = g->n;
    g->valid = malloc(n);
    g->filled = malloc(n * sizeof *g->filled);
    g->psum = malloc((n + 1) * sizeof *g->psum);
    g->psum2 = malloc((n + 1) * sizeof *g->psum2);
    if (!g->valid || !g->filled || !g->psum || !g->psum2) return IBEX_ERR_NOMEM;
    g->n_valid = 0;
    g->psum[0] = g->psum2[0] = 0;
    for (size_t i = 0; i < n; i++) {
        g->valid[i] = isfinite(g->sig[i]) ? 1 : 0;
        g->n_valid += g->valid[i];
        /* The signature is zero-mean band-passed: a gap filled with 0 adds no striae. */
        g->filled[i] = g->valid[i] ? g->sig[i] : 0.0f;
        g->psum[i + 1] = g->psum[i] + g->filled[i];
        g->psum2[i + 1] = g->psum2[i] + (double)g->filled[i] * g->filled[i];
    }
    return ibex__striae_find(g);
}

/* Band-pass a profile given at the signature spacing: Gaussian sigma_short minus Gaussian
 * sigma_long (both NaN-aware), keeping validity of the input, trimmed to valid ends. */
static ibex_status bandpass(ibex_land_signature *g, const float *prof, size_t n,
                            const ibex_land_opts *o, int smooth_short)
{
    float *lo = malloc(n * sizeof *lo), *hi = malloc(n * sizeof *hi);
    if (!lo || !hi) {
        free(lo);
        free(hi);
        return IBEX_ERR_NOMEM;
    }
    ibex__gauss_nan(prof, n, smooth_short ? o->sigma_short / o->spacing : 0, hi);
    ibex__gauss_nan(prof, n, o->sigma_long / o->spacing, lo);
    size_t first = 0, last = n;
    while (first < n && !isfinite(prof[first])) first++;
    while (last > first && !isfinite(prof[last - 1])) last--;
    size_t m = last - first;
    if (m < 10) {
        free(lo);
        free(hi);
        return IBEX_ERR_UNSUPPORTED;
    }
    g->sig = malloc(m * sizeof *g->sig);
    if (!g->sig) {
        free(lo);
        free(hi);
        return IBEX_ERR_NOMEM;
    }
    for (size_t i = 0; i < m; i++) {
        size_t k = first + i;
        g->sig[i] = isfinite(prof[k]) ? hi[k] - lo[k] : NAN;
    }
    g->n = m;
    g->spacing = o->spacing;
    g->offset += first * o->spacing;
    free(lo);
    free(hi);
    return ibex__signature_finish(g);
}

/* Shoulder remnants at the ends of the land stand far above the striae: band-pass a copy,
 * measure the RMS in 25 um windows and cut each end back to the first window whose RMS is
 * below three times the median window RMS. Cut points become NaN. */
static void trim_edges(float *p, size_t n, double ds, double sigma_long)
{
    float *a = malloc(n * sizeof *a);
    size_t win = (size_t)lround(25e-6 / ds);
    if (win < 4) win = 4;
    size_t nw = n / win;
    float *rms = malloc((nw + 1) * sizeof *rms), *tmp = malloc((nw + 1) * sizeof *tmp);
    if (!a || !rms || !tmp || nw < 4) goto done;
    ibex__gauss_nan(p, n, sigma_long / ds, a);
    for (size_t k = 0; k < nw; k++) {
        double ss = 0;
        size_t c = 0;
        for (size_t i = k * win; i < (k + 1) * win; i++)
            if (isfinite(p[i]) && isfinite(a[i])) {
                double d = (double)p[i] - a[i];
                ss += d * d;
                c++;
            }
        rms[k] = c * 2 >= win ? (float)sqrt(ss / c) : NAN;
    }
    size_t m = 0;
    for (size_t k = 0; k < nw; k++)
        if (isfinite(rms[k])) tmp[m++] = rms[k];
    double med = median_f(tmp, m);
    if (!isfinite(med)) goto done;
    size_t L = 0, R = nw;
    while (L < nw && !(rms[L] <= 3 * med)) L++;
    while (R > L && !(rms[R - 1] <= 3 * med)) R--;
    for (size_t i = 0; i < L * win && i < n; i++) p[i] = NAN;
    for (size_t i = R * win; i < n; i++) p[i] = NAN;
done:
    free(a);
    free(rms);
    free(tmp);
}

static int opts_ok(const ibex_land_opts *o)
{
    return o->spacing > 0 && o->spacing < 1e-3 && o->band > 0 && o->sigma_short >= 0 &&
           o->sigma_long > o->sigma_short && o->min_width > 0 && isfinite(o->min_stability);
}

ibex_status ibex_land_signature_from_profile(const float *profile, size_t n, double spacing,
                                             const ibex_land_opts *o,
                                             ibex_land_signature **out, ibex_diag *diag)
{
    ibex_land_opts def;
    ibex_land_opts_init(&def);
    if (!ibex__opts_merge(&def, sizeof def, o)) return ibex__opts_refused(diag, "ibex_land_opts");
    o = &def;
    if (!profile || !out || n < 2 || !(spacing > 0) || !opts_ok(o))
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "bad arguments for a land signature");
    size_t cap = (size_t)((n - 1) * spacing / o->spacing) + 2;
    float *rs = malloc(cap * sizeof *rs);
    ibex_land_signature *g = calloc(1, sizeof *g);
    if (!rs || !g) {
        free(rs);
        free(g);
        return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    }
    size_t m = resample(profile, n, spacing, o->spacing, 0, (double)(n - 1), rs, cap);
    g->axis = IBEX_LAND_AXIS_AUTO;
    g->axis_ratio = NAN;
    g->crosscut = NAN;
    g->stability = NAN;
    g->groove_left = 0;
    g->groove_right = (n - 1) * spacing;
    ibex_status st = bandpass(g, rs, m, o, spacing < o->spacing);
    free(rs);
    if (st) {
        ibex_land_signature_free(g);
        return ibex__fail(diag, st, "", -1, "profile has too few valid points for a signature");
    }
    *out = g;
    return IBEX_OK;
}

ibex_status ibex_land_signature_create(const ibex_surface *s, const ibex_land_opts *o,
                                       ibex_land_signature **out, ibex_diag *diag)
{
    ibex_land_opts def;
    ibex_land_opts_init(&def);
    if (!ibex__opts_merge(&def, sizeof def, o)) return ibex__opts_refused(diag, "ibex_land_opts");
    o = &def;
    if (!s || !out || !opts_ok(o))
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "bad arguments for a land signature");
    if (s->zkind != IBEX_Z_HEIGHT)
        return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1,
                          "a land signature needs heights (3D topography), not an image");
    if (s->nx < 8 || s->ny < 8)
        return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1,
                          "grid %zux%zu is a profile, not a land surface (need >= 8 rows and "
                          "columns)", s->nx, s->ny);
    size_t nvalid = 0;
    for (size_t i = 0; i < s->nx * s->ny; i++) nvalid += isfinite(s->z[i]) != 0;
    if (nvalid == 0)
        return ibex__fail(diag, IBEX_ERR_FORMAT, "", -1, "no valid point in the land scan");

    ibex_land_axis axis = o->axis;
    double ratio = NAN;
    if (axis == IBEX_LAND_AXIS_AUTO) {
        ibex_status st = find_axis(s, &axis, &ratio);
        if (st == IBEX_ERR_NOMEM) return ibex__fail(diag, st, "", -1, "out of memory");
        if (st)
            return ibex__fail(diag, st, "", -1,
                              "too few valid points to find the striation direction");
    }
    view w;
    w.z = s->z;
    if (axis == IBEX_LAND_AXIS_X) {
        w.nu = s->nx; w.nv = s->ny; w.su = 1; w.sv = s->nx; w.du = s->dx; w.dv = s->dy;
    } else {
        w.nu = s->ny; w.nv = s->nx; w.su = s->nx; w.sv = 1; w.du = s->dy; w.dv = s->dx;
    }
    if (w.nu * w.du < o->min_width)
        return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1,
                          "scan is %.0f um wide across the striae, narrower than a land "
                          "(%.0f um)", w.nu * w.du * 1e6, o->min_width * 1e6);

    ibex_status st = IBEX_OK;
    ibex_land_signature *g = calloc(1, sizeof *g);
    float *prof = malloc(w.nu * sizeof *prof), *r = malloc(w.nu * sizeof *r);
    float *sm = malloc(w.nu * sizeof *sm), *rs = NULL;
    if (!g || !prof || !r || !sm) {
        st = ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
        goto fail;
    }
    g->axis = axis;
    g->axis_ratio = ratio;
    st = crosscut(&w, o->band, prof, &g->crosscut, &g->stability);
    if (st == IBEX_ERR_NOMEM) {
        st = ibex__fail(diag, st, "", -1, "out of memory");
        goto fail;
    }
    if (st || !(g->stability >= o->min_stability)) {
        st = ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1,
                        "no usable crosscut: neighbouring profiles do not agree "
                        "(best correlation %.2f, need %.2f)",
                        isfinite(g->stability) ? g->stability : 0.0, o->min_stability);
        goto fail;
    }
    size_t gl, gr;
    st = grooves(prof, w.nu, w.du, &gl, &gr, r);
    if (st) {
        st = ibex__fail(diag, st, "", -1,
                        st == IBEX_ERR_NOMEM ? "out of memory"
                                             : "could not fit the land arc to find the grooves");
        goto fail;
    }
    g->groove_left = gl * w.du;
    g->groove_right = gr * w.du;
    if ((gr - gl) * w.du < o->min_width) {
        st = ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1,
                        "land between the grooves is %.0f um wide, narrower than %.0f um",
                        (gr - gl) * w.du * 1e6, o->min_width * 1e6);
        goto fail;
    }
    /* r holds the profile minus the robust arc fitted between the grooves (curvature gone).
     * Smooth noise at the native spacing before resampling when the scan is finer. */
    for (size_t i = 0; i < w.nu; i++)
        if (i < gl || i > gr) r[i] = NAN;
    if (w.du < o->spacing) ibex__gauss_nan(r, w.nu, o->sigma_short / w.du, sm);
    else memcpy(sm, r, w.nu * sizeof *sm);
    for (size_t i = 0; i < w.nu; i++)
        if (!isfinite(r[i])) sm[i] = NAN;
    size_t cap = (size_t)((gr - gl) * w.du / o->spacing) + 2;
    rs = malloc(cap * sizeof *rs);
    if (!rs) {
        st = ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
        goto fail;
    }
    size_t m = resample(sm, w.nu, w.du, o->spacing, (double)gl, (double)gr, rs, cap);
    g->offset = g->groove_left;
    trim_edges(rs, m, o->spacing, o->sigma_long);
    st = bandpass(g, rs, m, o, w.du >= o->spacing);
    if (!st) g->groove_right = g->offset + (g->n - 1) * g->spacing;
    if (!st) g->groove_left = g->offset;
    if (st) {
        st = ibex__fail(diag, st, "", -1,
                        st == IBEX_ERR_NOMEM ? "out of memory" : "too few valid points on the land");
        goto fail;
    }
    free(prof);
    free(r);
    free(sm);
    free(rs);
    *out = g;
    return IBEX_OK;
fail:
    ibex_land_signature_free(g);
    free(prof);
    free(r);
    free(sm);
    free(rs);
    return st;
}
