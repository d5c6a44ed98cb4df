/* A simple stage-1 descriptor for a bullet from the averaged cross-profile of each land.
 * Per land: quadratic detrend (the bullet's curvature), cosine taper, power spectrum over
 * the descriptor's band of wavelengths split into the same log-spaced rings as the breech
 * face. Across lands: the mean log ring energy (block A) and, per ring, the magnitudes of
 * the DFT over the land index (block B), which do not change when the lands are listed
 * starting from another land (a bullet has no first land). Block C stays zero.
 * Deliberately simple: the bullet comparator does the real signature matching. */
#include <complex.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ibex/index.h"
#include "ibex_internal.h"

#define MAX_LANDS 64
#define MAX_PROFILE ((size_t)1 << 22)

/* Least-squares fit of a + b t + c t^2 over the valid points (t in [-1, 1]), subtracted;
 * invalid points become 0. Returns the number of valid points. */
static size_t detrend(const float *z, size_t n, double *out)
{
    double S[5] = {0}, R[3] = {0};
    size_t nv = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(z[i])) continue;
        double t = n > 1 ? 2.0 * i / (n - 1) - 1 : 0, tp = 1;
        for (int k = 0; k < 5; k++) {
            S[k] += tp;
            if (k < 3) R[k] += tp * z[i];
            tp *= t;
        }
        nv++;
    }
    /* Solve the 3x3 normal equations by Cramer's rule (well conditioned on [-1, 1]). */
    double A[3][3] = {{S[0], S[1], S[2]}, {S[1], S[2], S[3]}, {S[2], S[3], S[4]}};
    double det = A[0][0] * (A[1][1] * A[2][2] - A[1][2] * A[2][1]) -
                 A[0][1] * (A[1][0] * A[2][2] - A[1][2] * A[2][0]) +
                 A[0][2] * (A[1][0] * A[2][1] - A[1][1] * A[2][0]);
    double c[3] = {0, 0, 0};
    if (nv >= 3 && fabs(det) > 1e-12 * S[0] * S[0] * S[0]) {
        for (int k = 0; k < 3; k++) {
            double M[3][3];
            memcpy(M, A, sizeof M);
            for (int r = 0; r < 3; r++) M[r][k] = R[r];
            c[k] = (M[0][0] * (M[1][1] * M[2][2] - M[1][2] * M[2][1]) -
                    M[0][1] * (M[1][0] * M[2][2] - M[1][2] * M[2][0]) +
                    M[0][2] * (M[1][0] * M[2][1] - M[1][1] * M[2][0])) / det;
        }
    } else if (nv) {
        c[0] = R[0] / S[0];
    }
    for (size_t i = 0; i < n; i++) {
        double t = n > 1 ? 2.0 * i / (n - 1) - 1 : 0;
        out[i] = isfinite(z[i]) ? z[i] - (c[0] + c[1] * t + c[2] * t * t) : 0.0;
    }
    return nv;
}

ibex_status ibex_descriptor_run_profiles(const ibex_descriptor *p, const float *const *profiles,
                                         const size_t *n_points, size_t n_lands, double dx,
                                         const char *name, float *raw, ibex_diag *diag)
{
    if (!p || !profiles || !n_points || !raw) return IBEX_ERR_ARG;
    if (n_lands < 1 || n_lands > MAX_LANDS)
        return ibex__fail(diag, IBEX_ERR_ARG, name, -1, "%zu lands (need 1..%d)", n_lands, MAX_LANDS);
    if (!(dx > 0) || !isfinite(dx))
        return ibex__fail(diag, IBEX_ERR_ARG, name, -1, "profile spacing %g m is not positive", dx);
    ibex_descriptor_opts o;
    ibex_descriptor_get_opts(p, &o);
    size_t R = o.n_radii, M = o.n_harmonics, P = ibex_descriptor_size(p);
    double *E = calloc(n_lands * R, sizeof *E), *wsum = calloc(n_lands * R, sizeof *wsum);
    double *buf = NULL;
    ibex_status st = IBEX_OK;
    if (!E || !wsum) {
        st = IBEX_ERR_NOMEM;
        goto done;
    }
    for (size_t l = 0; l < n_lands; l++) {
        size_t n = n_points[l];
        if (!profiles[l] || n < 16 || n > MAX_PROFILE) {
            st = ibex__fail(diag, IBEX_ERR_ARG, name, -1, "land %zu: %zu profile points (need 16..%zu)",
                            l + 1, n, MAX_PROFILE);
            goto done;
        }
        double *nb = realloc(buf, n * sizeof *buf);
        if (!nb) {
            st = IBEX_ERR_NOMEM;
            goto done;
        }
        buf = nb;
        size_t nv = detrend(profiles[l], n, buf);
        if (nv < n / 2 || nv < 16) {
            st = ibex__fail(diag, IBEX_ERR_UNSUPPORTED, name, -1, "land %zu: only %zu of %zu profile points valid",
                            l + 1, nv, n);
            goto done;
        }
        /* Taper 10% at each end against spectral leakage from the profile's edges. */
        size_t tw = n / 10 ? n / 10 : 1;
        for (size_t i = 0; i < tw; i++) {
            double w = 0.5 - 0.5 * cos(M_PI * (i + 0.5) / tw);
            buf[i] *= w;
            buf[n - 1 - i] *= w;
        }
        /* Power at the DFT frequencies k / (L dx) of a 2x zero-padded transform, summed
         * into log-spaced rings with triangular weights, as for the breech face. */
        double L = 2.0 * n * dx, fmin = 1.0 / o.lambda_max, fmax = 1.0 / o.lambda_min;
        double lr = log(fmax / fmin);
        size_t k0 = (size_t)ceil(fmin * L), k1 = (size_t)floor(fmax * L);
        if (fmax > 0.5 / dx) k1 = (size_t)floor(0.5 / dx * L);
        for (size_t k = k0 ? k0 : 1; k <= k1; k++) {
            double f = k / L;
            double complex step = cexp(-2 * M_PI * I * f * dx), e = 1, acc = 0;
            for (size_t i = 0; i < n; i++) {
                acc += buf[i] * e;
                e *= step;
                if ((i & 255) == 255) e /= cabs(e); /* keep the rotation on the unit circle */
            }
            double pw = creal(acc) * creal(acc) + cimag(acc) * cimag(acc);
            double t = log(f / fmin) / lr * (R - 1);
            size_t r = (size_t)t;
            if (r >= R - 1) r = R - 2;
            double w = 1.0 - (t - r);
            E[l * R + r] += w * pw;
            E[l * R + r + 1] += (1 - w) * pw;
            wsum[l * R + r] += w;
            wsum[l * R + r + 1] += 1 - w;
        }
    }
    for (size_t i = 0; i < n_lands * R; i++)
        if (!(wsum[i] > 0)) {
            st = ibex__fail(diag, IBEX_ERR_UNSUPPORTED, name, -1,
                            "land %zu: profile too short for the descriptor band (ring %zu empty)",
                            i / R + 1, i % R);
            goto done;
        }
    memset(raw, 0, P * sizeof *raw);
    float *A = raw, *B = raw + R;
    double mean = 0, ssa = 0, ssb = 0;
    for (size_t l = 0; l < n_lands; l++)
        for (size_t r = 0; r < R; r++) {
            double e = E[l * R + r] / wsum[l * R + r];
            E[l * R + r] = log(e > 1e-300 ? e : 1e-300);
        }
    for (size_t r = 0; r < R; r++) {
        double a = 0;
        for (size_t l = 0; l < n_lands; l++) a += E[l * R + r];
        A[r] = (float)(a / n_lands);
        mean += A[r] / R;
    }
    for (size_t r = 0; r < R; r++) {
        A[r] = (float)(A[r] - mean);
        ssa += (double)A[r] * A[r];
    }
    /* |DFT over lands| per ring, harmonics 1..min(M-1, n_lands/2). */
    size_t H = n_lands / 2 < M - 1 ? n_lands / 2 : M - 1;
    for (size_t r = 0; r < R; r++)
        for (size_t m = 1; m <= H; m++) {
            double complex acc = 0;
            for (size_t l = 0; l < n_lands; l++)
                acc += E[l * R + r] * cexp(-2 * M_PI * I * (double)(m * l) / n_lands);
            B[r * (M - 1) + m - 1] = (float)(cabs(acc) / n_lands);
            ssb += cabs(acc) * cabs(acc) / ((double)n_lands * n_lands);
        }
    double fa = ssa > 0 ? o.w_radial / sqrt(ssa) : 0, fb = ssb > 0 ? o.w_aniso / sqrt(ssb) : 0;
    for (size_t r = 0; r < R; r++) A[r] = (float)(A[r] * fa);
    for (size_t i = 0; i < R * (M - 1); i++) B[i] = (float)(B[i] * fb);
done:
    free(E);
    free(wsum);
    free(buf);
    if (st == IBEX_ERR_NOMEM) ibex__fail(diag, st, name, -1, "out of memory in the bullet descriptor");
    return st;
}
