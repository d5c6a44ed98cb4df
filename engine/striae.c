/* Striae of a land signature (peaks and valleys) and consecutive matching striae (CMS,
 * Biasotti 1959; counted on aligned signatures as in Chu et al. 2013 and Hare et al. 2017),
 * plus the NaN-aware Gaussian used by the signature filters. */
#include <math.h>
#include <stdint.h>
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

/* Two striae match when they are of the same kind and lie within +-6 um once aligned;
 * greedy in order along the land (both lists ascending). CMS is counted on the merged
 * sequence of both signatures' striae in the overlap: a matched pair is one event, an
 * unmatched stria of either signature breaks the run, so the count does not depend on
 * which land is a and which is b. */
void ibex__striae_match(const ibex_land_signature *a, const ibex_land_signature *b, long lag,
                        long lo, long hi, int *matches, int *mismatches, int *cms)
{
    long tol = lround(6e-6 / a->spacing);
    if (tol < 1) tol = 1;
    uint8_t stackbuf[4096], *used = b->n_striae <= sizeof stackbuf ? stackbuf : malloc(b->n_striae);
    int32_t sbuf2[4096], *partner = a->n_striae <= 4096 ? sbuf2 : malloc(a->n_striae * sizeof *partner);
    if (!used || !partner) {
        if (used != stackbuf) free(used);
        if (partner != sbuf2) free(partner);
        *matches = *mismatches = *cms = 0;
        return;
    }
    for (size_t j = 0; j < b->n_striae; j++) used[j] = 0;
    size_t jb = 0;
    int m = 0, na = 0, nb = 0;
    for (size_t k = 0; k < a->n_striae; k++) {
        long p = a->striae_pos[k];
        partner[k] = -1;
        if (p < lo || p >= hi) continue;
        na++;
        while (jb < b->n_striae && b->striae_pos[jb] + lag < p - tol) jb++;
        for (size_t j = jb; j < b->n_striae && b->striae_pos[j] + lag <= p + tol; j++) {
            if (used[j] || b->striae_type[j] != a->striae_type[k]) continue;
            used[j] = 1;
            partner[k] = (int32_t)j;
            m++;
            break;
        }
    }
    for (size_t j = 0; j < b->n_striae; j++) {
        long p = b->striae_pos[j] + lag;
        if (p >= lo && p < hi) nb++;
    }
    /* Merge walk: a's striae (matched or not) and b's unmatched striae, by position. */
    int run = 0, best = 0;
    size_t ia = 0, ib = 0;
    for (;;) {
        while (ia < a->n_striae && (a->striae_pos[ia] < lo || a->striae_pos[ia] >= hi)) ia++;
        while (ib < b->n_striae && (used[ib] || b->striae_pos[ib] + lag < lo ||
                                    b->striae_pos[ib] + lag >= hi))
            ib++;
        if (ia >= a->n_striae && ib >= b->n_striae) break;
        int take_a = ib >= b->n_striae ||
                     (ia < a->n_striae && a->striae_pos[ia] <= b->striae_pos[ib] + lag);
        if (take_a && partner[ia] >= 0) {
            run++;
            if (run > best) best = run;
        } else {
            run = 0;
        }
        if (take_a) ia++;
        else ib++;
    }
    if (used != stackbuf) free(used);
    if (partner != sbuf2) free(partner);
    *matches = m;
    *mismatches = (na - m) + (nb - m);
    *cms = best;
}
