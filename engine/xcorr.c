/* Masked normalised cross-correlation by FFT (Padfield, "Masked object registration in
 * the Fourier domain", IEEE TIP 2012): six correlations give, at every lag, the sums over
 * the points valid in both the template and the region, so each lag is normalised over its
 * own overlap. Exact for any mask, unlike zero-filling and normalising by the window. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cmc_internal.h"

ibex_status ibex__xc_work_init(ibex__xc_work *w, const ibex__fft *fft)
{
    memset(w, 0, sizeof *w);
    w->fft = fft;
    size_t nr = fft->nx * fft->ny;
    w->real = ibex__fft_alloc(6 * nr);
    w->spec = ibex__fft_alloc(6 * fft->nc);
    w->prod = ibex__fft_alloc(12 * fft->nc);
    w->ncc = malloc(fft->nx * sizeof *w->ncc);
    w->scratch = fft->scratch ? malloc(fft->scratch * sizeof *w->scratch) : NULL;
    if (!w->real || !w->spec || !w->prod || !w->ncc || (fft->scratch && !w->scratch)) {
        ibex__xc_work_free(w);
        return IBEX_ERR_NOMEM;
    }
    return IBEX_OK;
}

void ibex__xc_work_free(ibex__xc_work *w)
{
    if (!w) return;
    ibex__fft_dealloc(w->real);
    ibex__fft_dealloc(w->spec);
    ibex__fft_dealloc(w->prod);
    free(w->ncc);
    free(w->scratch);
    memset(w, 0, sizeof *w);
}

static double flops_of(const ibex__fft *f, int transforms)
{
    double n = (double)f->nx * (double)f->ny;
    return transforms * 2.5 * n * log2(n);
}

/* Mean and standard deviation of the valid points (std 1 when flat or empty), so the
 * FFT sees values of order 1 and float rounding stays far below the NCC tolerance. */
void ibex__xc_moments(const float *z, const unsigned char *m, size_t s, size_t w, size_t h,
                      double *mean, double *sd, size_t *count)
{
    double sum = 0, sum2 = 0;
    size_t k = 0;
    for (size_t y = 0; y < h; y++)
        for (size_t x = 0; x < w; x++) {
            size_t i = y * s + x;
            if (m ? !m[i] : !isfinite(z[i])) continue;
            sum += z[i];
            k++;
        }
    double mu = k ? sum / (double)k : 0;
    for (size_t y = 0; y < h; y++)
        for (size_t x = 0; x < w; x++) {
            size_t i = y * s + x;
            if (m ? !m[i] : !isfinite(z[i])) continue;
            double d = z[i] - mu;
            sum2 += d * d;
        }
    double v = k > 1 ? sum2 / (double)k : 0;
    *mean = mu;
    *sd = v > 0 ? sqrt(v) : 1;
    *count = k;
}

/* Three zero-padded arrays {v m, v^2 m, m} of the normalised values. */
static size_t fill3(float *dst, size_t nx, size_t ny, const float *z, const unsigned char *m,
                    size_t s, size_t w, size_t h)
{
    double mu, sd;
    size_t k;
    ibex__xc_moments(z, m, s, w, h, &mu, &sd, &k);
    size_t nr = nx * ny;
    float *a = dst, *b = dst + nr, *c = dst + 2 * nr;
    float fmu = (float)mu, inv = (float)(1.0 / sd);
    /* every point written once: the data, zeros for invalid points and the padding */
    for (size_t y = 0; y < h; y++) {
        size_t o = y * nx;
        for (size_t x = 0; x < w; x++) {
            size_t i = y * s + x;
            if (m ? !m[i] : !isfinite(z[i])) {
                a[o + x] = b[o + x] = c[o + x] = 0.0f;
                continue;
            }
            float v = (z[i] - fmu) * inv;
            a[o + x] = v;
            b[o + x] = v * v;
            c[o + x] = 1.0f;
        }
        for (size_t q = 0; q < 3; q++) memset(dst + q * nr + o + w, 0, (nx - w) * sizeof *dst);
    }
    for (size_t q = 0; q < 3; q++) memset(dst + q * nr + h * nx, 0, (ny - h) * nx * sizeof *dst);
    return k;
}

void ibex__xc_prepare(ibex__xc_work *w, const float *t, const unsigned char *tm, size_t ts,
                       size_t tw, size_t th, ibex__xc_template *tpl)
{
    const ibex__fft *f = w->fft;
    tpl->nvalid = fill3(w->real, f->nx, f->ny, t, tm, ts, tw, th);
    tpl->w = tw;
    tpl->h = th;
    ibex__fft_forward3(f, w->real, tpl->spec, w->scratch);
}

ibex__xc_peak ibex__xc_run(ibex__xc_work *w, const ibex__kernels *k, const ibex__xc_template *tpl,
                           const float *r, const unsigned char *rm, size_t rs, size_t rw,
                           size_t rh, size_t nmin, float *map, double *seconds, double *flops)
{
    const ibex__fft *f = w->fft;
    size_t nr = f->nx * f->ny, nc = f->nc;
    ibex__xc_peak best = {IBEX__NO_SCORE, 0, 0, 0};
    double t0 = ibex__now();
    fill3(w->real, f->nx, f->ny, r, rm, rs, rw, rh);
    double t1 = ibex__now();
    ibex__fft_forward3(f, w->real, w->spec, w->scratch);
    double t2 = ibex__now();
    const float *T = tpl->spec, *R = w->spec;
    float *P = w->prod;
    k->spec6(T, T + 2 * nc, T + 4 * nc, R, R + 2 * nc, R + 4 * nc, nc, 1.0f / (float)nr, P,
             P + 2 * nc, P + 4 * nc, P + 6 * nc, P + 8 * nc, P + 10 * nc);
    double t3 = ibex__now();
    ibex__fft_inverse6(f, P, w->real, w->scratch);
    double t4 = ibex__now();
    const float *m = w->real;
    size_t nu = rw - tpl->w + 1, nv = rh - tpl->h + 1;
    float nm = (float)(nmin ? nmin : 1);
    for (size_t v = 0; v < nv; v++) {
        size_t o = v * f->nx;
        k->ncc_row(m + o, m + nr + o, m + 2 * nr + o, m + 3 * nr + o, m + 4 * nr + o,
                   m + 5 * nr + o, nu, nm, 1e-4f, w->ncc);
        if (map) memcpy(map + v * nu, w->ncc, nu * sizeof *map);
        for (size_t u = 0; u < nu; u++)
            if (w->ncc[u] > best.ccf) {
                best.ccf = w->ncc[u];
                best.u = (long)u;
                best.v = (long)v;
            }
    }
    if (best.ccf > IBEX__NO_SCORE)
        best.overlap = (size_t)lrintf(m[5 * nr + (size_t)best.v * f->nx + (size_t)best.u]);
    double t5 = ibex__now();
    if (seconds) {
        seconds[0] += (t2 - t1) + (t4 - t3);
        seconds[1] += (t1 - t0) + (t3 - t2) + (t5 - t4);
    }
    if (flops) *flops += flops_of(f, 9);
    return best;
}

static int sample(const float *z, const unsigned char *m, size_t nx, size_t ny, double sx,
                  double sy, double *out)
{
    if (!(sx >= 0) || !(sy >= 0) || sx > (double)(nx - 1) || sy > (double)(ny - 1)) return 0;
    size_t x0 = (size_t)sx, y0 = (size_t)sy;
    if (x0 >= nx - 1) x0 = nx > 1 ? nx - 2 : 0;
    if (y0 >= ny - 1) y0 = ny > 1 ? ny - 2 : 0;
    size_t x1 = nx > 1 ? x0 + 1 : 0, y1 = ny > 1 ? y0 + 1 : 0;
    double tx = sx - (double)x0, ty = sy - (double)y0;
    size_t i00 = y0 * nx + x0, i01 = y0 * nx + x1, i10 = y1 * nx + x0, i11 = y1 * nx + x1;
    if (!(m[i00] && m[i01] && m[i10] && m[i11])) return 0;
    *out = (1 - ty) * ((1 - tx) * z[i00] + tx * z[i01]) + ty * ((1 - tx) * z[i10] + tx * z[i11]);
    return 1;
}

void ibex__rotate(const float *in, const unsigned char *inm, size_t nx, size_t ny,
                  double theta_deg, float *out, unsigned char *outm)
{
    double th = theta_deg * M_PI / 180.0, c = cos(th), s = sin(th);
    double cx = ((double)nx - 1) / 2, cy = ((double)ny - 1) / 2;
    if (theta_deg == 0) {
        memcpy(out, in, nx * ny * sizeof *out);
        memcpy(outm, inm, nx * ny);
        return;
    }
    for (size_t y = 0; y < ny; y++) {
        double uy = (double)y - cy;
        for (size_t x = 0; x < nx; x++) {
            double ux = (double)x - cx, v;
            /* source = centre + R(-theta) (q - centre) */
            double sx = cx + c * ux + s * uy, sy = cy - s * ux + c * uy;
            size_t i = y * nx + x;
            if (sample(in, inm, nx, ny, sx, sy, &v)) {
                out[i] = (float)v;
                outm[i] = 1;
            } else {
                out[i] = NAN;
                outm[i] = 0;
            }
        }
    }
}

double ibex__ncc_at_pose(const float *a, const unsigned char *am, size_t anx, size_t any,
                         const float *b, const unsigned char *bm, size_t bnx, size_t bny,
                         double theta_deg, double dx, double dy)
{
    double th = theta_deg * M_PI / 180.0, c = cos(th), s = sin(th);
    double bcx = ((double)bnx - 1) / 2, bcy = ((double)bny - 1) / 2;
    double ox = floor(((double)bnx - (double)anx) / 2), oy = floor(((double)bny - (double)any) / 2);
    double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
    size_t n = 0;
    for (size_t y = 0; y < any; y++)
        for (size_t x = 0; x < anx; x++) {
            size_t i = y * anx + x;
            if (!am[i]) continue;
            double ux = (double)x + ox + dx - bcx, uy = (double)y + oy + dy - bcy, v;
            if (!sample(b, bm, bnx, bny, bcx + c * ux + s * uy, bcy - s * ux + c * uy, &v))
                continue;
            double u = a[i];
            sa += u;
            sb += v;
            saa += u * u;
            sbb += v * v;
            sab += u * v;
            n++;
        }
    if (n < 16) return 0;
    double dn = (double)n;
    double va = saa - sa * sa / dn, vb = sbb - sb * sb / dn;
    if (!(va > 0) || !(vb > 0)) return 0;
    double r = (sab - sa * sb / dn) / sqrt(va * vb);
    return r > 1 ? 1 : r < -1 ? -1 : r;
}
