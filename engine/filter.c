/* Gaussian regression band-pass by FFT, NaN-aware (normalised convolution, Knutsson and
 * Westin 1993). The Gaussian is applied as its exact transfer function on a grid padded by
 * 3 sigma of the long cut-off, so the periodic FFT does not wrap one edge onto the other. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cmc_internal.h"

#define SIGMA_PER_LAMBDA 0.18739 /* sqrt(ln 2 / pi) / sqrt(2 pi) */

/* spec *= exp(-2 pi^2 (sx^2 fx^2 + sy^2 fy^2)), f in cycles per point. */
static void gauss(fftwf_complex *dst, fftwf_complex *src, size_t Nx, size_t Ny, double sx,
                  double sy, float *ex)
{
    size_t hx = Nx / 2 + 1;
    for (size_t kx = 0; kx < hx; kx++) { /* separable: one exp per column, not per point */
        double fx = (double)kx / (double)Nx;
        ex[kx] = (float)exp(-2 * M_PI * M_PI * sx * sx * fx * fx);
    }
    for (size_t ky = 0; ky < Ny; ky++) {
        double fy = (double)(ky <= Ny / 2 ? ky : Ny - ky) / (double)Ny;
        float ey = (float)exp(-2 * M_PI * M_PI * sy * sy * fy * fy);
        fftwf_complex *d = dst + ky * hx, *q = src + ky * hx;
        for (size_t kx = 0; kx < hx; kx++) {
            float g = ey * ex[kx];
            d[kx][0] = q[kx][0] * g;
            d[kx][1] = q[kx][1] * g;
        }
    }
}

ibex_status ibex__bandpass(const float *z, const unsigned char *m, size_t nx, size_t ny,
                           double dx, double dy, double lambda_short, double lambda_long,
                           float *out)
{
    int do_s = lambda_short > 0, do_l = lambda_long > 0;
    size_t n = nx * ny;
    if (!do_s && !do_l) {
        if (out != z) memcpy(out, z, n * sizeof *out);
        return IBEX_OK;
    }
    double lmax = do_l ? lambda_long : lambda_short;
    size_t padx = (size_t)ceil(3 * SIGMA_PER_LAMBDA * lmax / dx) + 1;
    size_t pady = (size_t)ceil(3 * SIGMA_PER_LAMBDA * lmax / dy) + 1;
    if (padx > nx) padx = nx;
    if (pady > ny) pady = ny;
    size_t Nx = ibex__fft_good_size(nx + padx), Ny = ibex__fft_good_size(ny + pady);
    size_t nr = Nx * Ny, nc = Ny * (Nx / 2 + 1);
    float *r = ibex__fft_alloc(2 * nr);
    fftwf_complex *A = (fftwf_complex *)ibex__fft_alloc(2 * nc), *B = (fftwf_complex *)ibex__fft_alloc(2 * nc);
    fftwf_complex *C = (fftwf_complex *)ibex__fft_alloc(2 * nc);
    float *ex = malloc((Nx / 2 + 1) * sizeof *ex);
    if (!r || !A || !B || !C || !ex) {
        free(ex);
        ibex__fft_dealloc(r);
        ibex__fft_dealloc(A);
        ibex__fft_dealloc(B);
        ibex__fft_dealloc(C);
        return IBEX_ERR_NOMEM;
    }
    float *num = r, *den = r + nr;
    ibex__fftw_lock();
    fftwf_plan fw = fftwf_plan_dft_r2c_2d((int)Ny, (int)Nx, num, A, FFTW_ESTIMATE);
    fftwf_plan bw = fftwf_plan_dft_c2r_2d((int)Ny, (int)Nx, C, num, FFTW_ESTIMATE);
    ibex__fftw_unlock();
    ibex_status st = IBEX_OK;
    if (!fw || !bw) st = IBEX_ERR_NOMEM;
    if (!st) {
        /* mean-removed heights keep the float sums well conditioned */
        double mu = 0;
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (m[i]) {
                mu += z[i];
                k++;
            }
        mu = k ? mu / (double)k : 0;
        memset(num, 0, nr * sizeof *num);
        memset(den, 0, nr * sizeof *den);
        for (size_t y = 0; y < ny; y++)
            for (size_t x = 0; x < nx; x++)
                if (m[y * nx + x]) {
                    num[y * Nx + x] = (float)(z[y * nx + x] - mu);
                    den[y * Nx + x] = 1;
                }
        fftwf_execute_dft_r2c(fw, num, A);
        fftwf_execute_dft_r2c(fw, den, B);
        /* band = low_s - low_l; each low = IFFT(A G) / IFFT(B G) (the 1/N scale cancels) */
        for (int pass = 0; pass < 2; pass++) {
            int use = pass == 0 ? do_s : do_l;
            double lam = pass == 0 ? lambda_short : lambda_long;
            float sign = pass == 0 ? 1.0f : -1.0f;
            if (!use) {
                if (pass == 0)
                    for (size_t i = 0; i < n; i++) out[i] = m[i] ? (float)(z[i] - mu) : NAN;
                continue;
            }
            double sx = SIGMA_PER_LAMBDA * lam / dx, sy = SIGMA_PER_LAMBDA * lam / dy;
            gauss(C, A, Nx, Ny, sx, sy, ex);
            fftwf_execute_dft_c2r(bw, C, num);
            gauss(C, B, Nx, Ny, sx, sy, ex);
            fftwf_execute_dft_c2r(bw, C, den);
            for (size_t y = 0; y < ny; y++)
                for (size_t x = 0; x < nx; x++) {
                    size_t i = y * nx + x, j = y * Nx + x;
                    if (!m[i]) {
                        out[i] = NAN;
                        continue;
                    }
                    float d = den[j], v = d > 1e-6f * (float)nr ? num[j] / d : 0;
                    out[i] = pass == 0 ? v : out[i] + sign * v;
                }
        }
    }
    ibex__fftw_lock();
    if (fw) fftwf_destroy_plan(fw);
    if (bw) fftwf_destroy_plan(bw);
    ibex__fftw_unlock();
    ibex__fft_dealloc(r);
    ibex__fft_dealloc(A);
    ibex__fft_dealloc(B);
    ibex__fft_dealloc(C);
    free(ex);
    return st;
}
