/* baseline-ccf: averaged land profile and its best lagged correlation
 * (method in baseline_internal.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "baseline_internal.h"
#include "ibex_internal.h"

#define PROFILE_SPACING 2e-6
#define TRIM 0.15
#define FORM_SIGMA 100e-6
#define MIN_OVERLAP 0.5

struct ibex__profile {
    size_t n;
    double *v; /* NaN where invalid */
};

/* Mean over the lines of one axis: along = 1 averages over y (one value per x). */
static double *line_means(const ibex_surface *s, int along_y, size_t *len)
{
    size_t n = along_y ? s->nx : s->ny, m = along_y ? s->ny : s->nx;
    double *p = malloc(n * sizeof *p);
    if (!p) return NULL;
    for (size_t i = 0; i < n; i++) {
        double sum = 0;
        size_t c = 0;
        for (size_t j = 0; j < m; j++) {
            size_t k = along_y ? j * s->nx + i : i * s->nx + j;
            if (s->valid[k]) sum += s->z[k], c++;
        }
        p[i] = 2 * c >= m ? sum / (double)c : NAN;
    }
    *len = n;
    return p;
}

/* Share of the surface's variance that the line means keep: striae run along the axis
 * whose averaging keeps most (form and striae are both constant along the striae). */
static double kept_variance(const ibex_surface *s, const double *p, size_t n, int along_y)
{
    double mean = 0, tot = 0;
    size_t c = 0;
    for (size_t k = 0; k < s->nx * s->ny; k++)
        if (s->valid[k]) mean += s->z[k], c++;
    if (!c) return 0;
    mean /= (double)c;
    for (size_t k = 0; k < s->nx * s->ny; k++)
        if (s->valid[k]) tot += (s->z[k] - mean) * (s->z[k] - mean);
    double kept = 0;
    size_t m = along_y ? s->ny : s->nx;
    for (size_t i = 0; i < n; i++)
        if (!isnan(p[i])) kept += (p[i] - mean) * (p[i] - mean) * (double)m;
    return tot > 0 ? kept / tot : 0;
}

ibex_status ibex__profile_prepare(const ibex_surface *s, ibex__profile **out, ibex_diag *diag)
{
    if (!s || s->nx < 2 || s->ny < 2)
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "surface too small for a profile");
    size_t nx_len, ny_len;
    double *px = line_means(s, 1, &nx_len), *py = line_means(s, 0, &ny_len);
    if (!px || !py) {
        free(px), free(py);
        return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    }
    int along_y = kept_variance(s, px, nx_len, 1) >= kept_variance(s, py, ny_len, 0);
    double *raw = along_y ? px : py;
    size_t n_raw = along_y ? nx_len : ny_len;
    double d = along_y ? s->dx : s->dy;
    free(along_y ? py : px);

    /* Trim the shoulders, then resample to PROFILE_SPACING by linear interpolation. */
    size_t i0 = (size_t)(TRIM * (double)n_raw), i1 = n_raw - i0;
    double len = (double)(i1 - i0 - 1) * d;
    size_t n = (size_t)floor(len / PROFILE_SPACING) + 1;
    if (i1 <= i0 + 2 || n < 16) {
        free(raw);
        return ibex__fail(diag, IBEX_ERR_FORMAT, "", -1, "land too short for a profile");
    }
    double *v = malloc(n * sizeof *v), *lo = malloc(n * sizeof *lo);
    ibex__profile *p = calloc(1, sizeof *p);
    if (!v || !lo || !p) {
        free(raw), free(v), free(lo), free(p);
        return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    }
    for (size_t k = 0; k < n; k++) {
        double x = (double)i0 + (double)k * PROFILE_SPACING / d;
        size_t j = (size_t)x;
        if (j + 1 >= i1) j = i1 - 2;
        double f = x - (double)j;
        v[k] = (1 - f) * raw[j] + f * raw[j + 1]; /* NaN propagates: gaps stay gaps */
    }
    free(raw);
    /* Form, first the bullet's curvature: least-squares quadratic over valid points, so the
     * Gaussian below is not biased by a steep slope near the ends where it is one-sided. */
    double S[5] = {0}, T[3] = {0};
    for (size_t k = 0; k < n; k++) {
        if (isnan(v[k])) continue;
        double t = 2.0 * (double)k / (double)(n - 1) - 1, p = 1;
        for (int e = 0; e < 5; e++, p *= t) {
            S[e] += p;
            if (e < 3) T[e] += p * v[k];
        }
    }
    double M[3][4] = {{S[0], S[1], S[2], T[0]}, {S[1], S[2], S[3], T[1]}, {S[2], S[3], S[4], T[2]}};
    for (int c = 0; c < 3; c++) /* Gauss-Jordan, 3x3 with partial pivoting */ {
        int piv = c;
        for (int r2 = c + 1; r2 < 3; r2++)
            if (fabs(M[r2][c]) > fabs(M[piv][c])) piv = r2;
        for (int e = 0; e < 4; e++) {
            double t = M[c][e];
            M[c][e] = M[piv][e], M[piv][e] = t;
        }
        if (fabs(M[c][c]) < 1e-300) continue;
        for (int r2 = 0; r2 < 3; r2++) {
            if (r2 == c) continue;
            double f = M[r2][c] / M[c][c];
            for (int e = 0; e < 4; e++) M[r2][e] -= f * M[c][e];
        }
    }
    double q[3];
    for (int c = 0; c < 3; c++) q[c] = fabs(M[c][c]) < 1e-300 ? 0 : M[c][3] / M[c][c];
    for (size_t k = 0; k < n; k++) {
        double t = 2.0 * (double)k / (double)(n - 1) - 1;
        v[k] -= q[0] + q[1] * t + q[2] * t * t;
    }
    /* Then what is left of the form: masked Gaussian smooth (sigma FORM_SIGMA), subtracted. */
    double sg = FORM_SIGMA / PROFILE_SPACING;
    long r = (long)ceil(3 * sg);
    for (size_t k = 0; k < n; k++) {
        double sw = 0, sv = 0;
        for (long t = -r; t <= r; t++) {
            long j = (long)k + t;
            if (j < 0 || j >= (long)n || isnan(v[j])) continue;
            double wgt = exp(-0.5 * (double)(t * t) / (sg * sg));
            sw += wgt, sv += wgt * v[j];
        }
        lo[k] = sw > 0 ? sv / sw : NAN;
    }
    size_t nv = 0;
    for (size_t k = 0; k < n; k++) {
        v[k] -= lo[k];
        nv += !isnan(v[k]);
    }
    free(lo);
    if (nv < 16) {
        free(v), free(p);
        return ibex__fail(diag, IBEX_ERR_FORMAT, "", -1, "too few valid profile points");
    }
    p->n = n, p->v = v;
    *out = p;
    return IBEX_OK;
}

void ibex__profile_free(ibex__profile *p)
{
    if (!p) return;
    free(p->v);
    free(p);
}

size_t ibex__profile_length(const ibex__profile *p) { return p->n; }

ibex_status ibex__ccf_compare(const ibex__profile *a, const ibex__profile *b,
                              ibex__ccf_result *res, ibex_diag *diag)
{
    if (!a || !b || !res) return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "missing argument");
    size_t shorter = a->n < b->n ? a->n : b->n;
    double need = MIN_OVERLAP * (double)shorter;
    double best = -2, best_lag = 0, best_ov = 0;
    /* Lag L puts b[j] against a[j + L]. */
    for (long L = -(long)b->n + 1; L < (long)a->n; L++) {
        long j0 = L < 0 ? -L : 0, j1 = (long)b->n;
        if (j1 > (long)a->n - L) j1 = (long)a->n - L;
        if ((double)(j1 - j0) < need) continue;
        double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
        size_t c = 0;
        for (long j = j0; j < j1; j++) {
            double x = a->v[j + L], y = b->v[j];
            if (isnan(x) || isnan(y)) continue;
            sa += x, sb += y, saa += x * x, sbb += y * y, sab += x * y, c++;
        }
        if ((double)c < need) continue;
        double va = saa - sa * sa / (double)c, vb = sbb - sb * sb / (double)c;
        if (!(va > 0 && vb > 0)) continue;
        double r = (sab - sa * sb / (double)c) / sqrt(va * vb);
        if (r > best) best = r, best_lag = (double)L * PROFILE_SPACING, best_ov = (double)c / (double)shorter;
    }
    if (best < -1)
        return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1,
                          "profiles never overlap by %.0f%% of the shorter one",
                          MIN_OVERLAP * 100);
    res->ccf = best > 1 ? 1 : best;
    res->lag = best_lag;
    res->overlap = best_ov;
    return IBEX_OK;
}
