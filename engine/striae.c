/* Striae of a land signature (peaks and valleys) and consecutive matching striae (CMS,
 * Biasotti 1959; counted on aligned signatures as in Chu et al. 2013 and Hare et al. 2017),
 * plus the NaN-aware Gaussian used by the signature filters. */
#include <math.h>
#include <stdlib.h>

#include "bullet_internal.h"

void ibex__gauss_nan(const float *in, size_t n, double sigma, float *out)
{
    if (!(sigma > 0.3)) {
        for (size_t i = 0; i < n; i++) out[i] = in[i];
        return;
    }
    long r = (long)ceil(3 * sigma);
    if (r > 4096) r = 4096;
    double k[2 * 4096 + 1];
    for (long j = -r; j <= r; j++) k[j + r] = exp(-0.5 * (j * j) / (sigma * sigma));
    for (long i = 0; i < (long)n; i++) {
        double s = 0, w = 0;
        long lo = i - r < 0 ? -i : -r, hi = i + r >= (long)n ? (long)n - 1 - i : r;
        for (long j = lo; j <= hi; j++) {
            float v = in[i + j];
            if (isfinite(v)) {
                s += k[j + r] * v;
                w += k[j + r];
            }
        }
        out[i] = w > 0 ? (float)(s / w) : NAN;
    }
}

/* A stria is a local extremum of the band-passed signature: a peak (valley) is the largest
 * (smallest) valid value within +-4 um and lies above (below) half the signature's RMS, so
 * that noise wiggles around zero do not count. */
ibex_status ibex__striae_find(ibex_land_signature *g)
{
    size_t n = g->n;
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += (double)g->filled[i] * g->filled[i];
    double thr = g->n_valid ? 0.5 * sqrt(ss / g->n_valid) : 0;
    long w = lround(4e-6 / g->spacing);
    if (w < 1) w = 1;
    free(g->striae_pos);
    free(g->striae_type);
    g->n_striae = 0;
    g->striae_pos = malloc((n / 2 + 1) * sizeof *g->striae_pos);
    g->striae_type = malloc((n / 2 + 1) * sizeof *g->striae_type);
    if (!g->striae_pos || !g->striae_type) return IBEX_ERR_NOMEM;
    for (long i = 0; i < (long)n; i++) {
        if (!g->valid[i]) continue;
        float v = g->sig[i];
        int type = v > thr ? 1 : v < -thr ? -1 : 0;
        if (!type) continue;
        int ok = 1;
        for (long j = i - w; j <= i + w && ok; j++) {
            if (j < 0 || j >= (long)n || j == i || !g->valid[j]) continue;
            float u = g->sig[j];
            /* strict on the left, so a flat top yields one stria */
            if (type > 0) ok = j < i ? u < v : u <= v;
            else ok = j < i ? u > v : u >= v;
        }
        if (ok) {
            g->striae_pos[g->n_striae] = (int32_t)i;
            g->striae_type[g->n_striae] = (int8_t)type;
            g->n_striae++;
        }
    }
    return IBEX_OK;
}

/* Two striae match when they are of the same kind and lie within +-6 um once aligned.
 * Greedy in order along the land (both lists ascending). */
void ibex__striae_match(const ibex_land_signature *a, const ibex_land_signature *b, long lag,
                        long lo, long hi, int *matches, int *mismatches, int *cms)
{
    long tol = lround(6e-6 / a->spacing);
    if (tol < 1) tol = 1;
    size_t jb = 0;
    int m = 0, na = 0, nb = 0, run = 0, best = 0;
    for (size_t k = 0; k < b->n_striae; k++) {
        long p = b->striae_pos[k] + lag;
        if (p >= lo && p < hi) nb++;
    }
    long last_used = -1;
    for (size_t k = 0; k < a->n_striae; k++) {
        long p = a->striae_pos[k];
        if (p < lo || p >= hi) continue;
        na++;
        while (jb < b->n_striae && b->striae_pos[jb] + lag < p - tol) jb++;
        int hit = 0;
        for (size_t j = jb; j < b->n_striae && b->striae_pos[j] + lag <= p + tol; j++) {
            if ((long)j <= last_used) continue;
            if (b->striae_type[j] == a->striae_type[k]) {
                hit = 1;
                last_used = (long)j;
                break;
            }
        }
        if (hit) {
            m++;
            run++;
            if (run > best) best = run;
        } else {
            run = 0;
        }
    }
    *matches = m;
    *mismatches = (na - m) + (nb - m);
    *cms = best;
}
