/* Fitting a land-score model (include/ibex/bullet.h): standardise on the training pairs,
 * then L2-regularised logistic regression by Newton's method. The shipped model in
 * land_model.c was made by this code through bench/fit_land_model. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ibex/bullet.h"
#include "ibex_internal.h"

#define NF IBEX_LAND_NFEAT

static double clip3(double z) { return z > 3 ? 3 : z < -3 ? -3 : z; }

static void standardise(const double *f, size_t n, ibex_land_model *m)
{
    for (int k = 0; k < NF; k++) {
        double s = 0, s2 = 0;
        for (size_t i = 0; i < n; i++) {
            s += f[i * NF + k];
            s2 += f[i * NF + k] * f[i * NF + k];
        }
        m->mean[k] = s / (double)n;
        m->sdev[k] = sqrt(fmax(s2 / (double)n - m->mean[k] * m->mean[k], 1e-12));
    }
}

/* Solves A d = b in place (Gauss-Jordan with partial pivoting); zero where singular. */
static void solve(double A[NF + 1][NF + 2], double d[NF + 1])
{
    for (int c = 0; c <= NF; c++) {
        int piv = c;
        for (int r = c + 1; r <= NF; r++)
            if (fabs(A[r][c]) > fabs(A[piv][c])) piv = r;
        for (int b = 0; b <= NF + 1; b++) {
            double t = A[c][b];
            A[c][b] = A[piv][b];
            A[piv][b] = t;
        }
        for (int r = 0; r <= NF; r++) {
            if (r == c || A[c][c] == 0) continue;
            double q = A[r][c] / A[c][c];
            for (int b = c; b <= NF + 1; b++) A[r][b] -= q * A[c][b];
        }
    }
    for (int k = 0; k <= NF; k++) d[k] = A[k][k] != 0 ? A[k][NF + 1] / A[k][k] : 0;
}

ibex_status ibex_land_model_fit(const double *f, const int *same, size_t n, double ridge,
                                ibex_land_model *out, ibex_diag *diag)
{
    if (!f || !same || !out || !(ridge >= 0) || !isfinite(ridge))
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "bad arguments for a land-model fit");
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        pos += same[i] != 0;
        for (int k = 0; k < NF; k++)
            if (!isfinite(f[i * NF + k]))
                return ibex__fail(diag, IBEX_ERR_ARG, "", -1,
                                  "land pair %zu has a non-finite feature", i);
    }
    if (pos == 0 || pos == n)
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1,
                          "a land-model fit needs pairs of the same land and of different "
                          "lands (%zu of %zu pairs are the same land)", pos, n);
    ibex_land_model m;
    standardise(f, n, &m);
    double *w = m.coef;
    for (int k = 0; k <= NF; k++) w[k] = 0;
    for (int it = 0; it < 50; it++) {
        double g[NF + 1] = {0}, H[NF + 1][NF + 1] = {{0}};
        for (size_t i = 0; i < n; i++) {
            double x[NF + 1];
            x[0] = 1;
            for (int k = 0; k < NF; k++) x[k + 1] = clip3((f[i * NF + k] - m.mean[k]) / m.sdev[k]);
            double t = 0;
            for (int k = 0; k <= NF; k++) t += w[k] * x[k];
            double pr = 1 / (1 + exp(-t)), r = pr - (same[i] != 0), v = pr * (1 - pr);
            for (int a = 0; a <= NF; a++) {
                g[a] += r * x[a];
                for (int b = 0; b <= NF; b++) H[a][b] += v * x[a] * x[b];
            }
        }
        for (int k = 1; k <= NF; k++) {
            g[k] += ridge * w[k];
            H[k][k] += ridge;
        }
        H[0][0] += 1e-9;
        double A[NF + 1][NF + 2], d[NF + 1], step = 0;
        for (int a = 0; a <= NF; a++) {
            for (int b = 0; b <= NF; b++) A[a][b] = H[a][b];
            A[a][NF + 1] = g[a];
        }
        solve(A, d);
        for (int k = 0; k <= NF; k++) {
            w[k] -= d[k];
            step += fabs(d[k]);
        }
        if (step < 1e-10) break;
    }
    for (int k = 0; k <= NF; k++)
        if (!isfinite(w[k]))
            return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "the land-model fit did not converge");
    *out = m;
    return IBEX_OK;
}
