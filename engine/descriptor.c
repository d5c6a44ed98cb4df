/* Rotation- and translation-invariant descriptor of a breech face: band-limited power spectrum,
 * angular Fourier series on log-spaced rings, cross-ring products (see ibex/index.h).
 * The idea follows the Fourier-Mellin family (translation removed by |FFT|, rotation by
 * the magnitude of a Fourier series along the angle); the ring products are the
 * "bispectrum-like" invariants that keep the relative phase between rings. */
#include <complex.h>
#include <fftw3.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ibex/index.h"
#include "cmc_internal.h"
#include "ibex_internal.h"

/* glibc's complex.h defines CMPLX for GCC only (it needs __builtin_complex); clang gets the
 * same value through the two-doubles layout C11 6.2.5 gives every complex type. */
#ifndef CMPLX
static inline double complex cmplx_parts(double re, double im)
{
    union {
        double part[2];
        double complex z;
    } u = {{re, im}};
    return u.z;
}
#define CMPLX(x, y) cmplx_parts((x), (y))
#endif

/* One half-plane FFT bin inside the band: where it is, which ring pair it feeds with which
 * weight, and exp(-2 i theta) for the angular harmonics. */
typedef struct bin {
    uint32_t off;     /* index in the r2c output */
    uint16_t ring;    /* lower ring; the upper one is ring + 1 */
    float w;          /* weight of the lower ring (upper gets 1 - w) */
    float c, s;       /* cos, sin of -2 theta */
} bin;

struct ibex_descriptor {
    ibex_descriptor_opts o;
    fftwf_plan plan;
    bin *bins;
    size_t n_bins;
    double *ring_w;   /* total weight per ring, for densities */
    size_t p;         /* raw length */
    size_t n_cross;   /* number of ring pairs */
};

void ibex_descriptor_opts_init(ibex_descriptor_opts *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->spacing = 16e-6;
    o->grid = 256;
    o->lambda_min = 40e-6;
    o->lambda_max = 400e-6;
    o->n_radii = 24;
    o->n_harmonics = 16;
    o->ring_offsets = 0; /* all ring pairs */
    o->taper = 64e-6;
    o->gamma = 2.0;
    o->w_radial = 1.0;
    o->w_aniso = 1.0;
    o->w_cross = 1.0;
}

/* Largest ring offset used in the cross-ring products (0 in the options = all pairs). */
static size_t max_offset(const ibex_descriptor_opts *o)
{
    size_t R = o->n_radii;
    return (o->ring_offsets == 0 || o->ring_offsets >= R) ? R - 1 : o->ring_offsets;
}

void ibex_descriptor_opts_init_bullet(ibex_descriptor_opts *o)
{
    if (!o) return;
    ibex_descriptor_opts_init(o);
    o->spacing = 4e-6;
    o->lambda_min = 10e-6;
    o->lambda_max = 200e-6;
}

static size_t raw_size(const ibex_descriptor_opts *o, size_t *n_cross)
{
    size_t R = o->n_radii, M = o->n_harmonics, nc = 0;
    for (size_t off = 1; off <= max_offset(o); off++) nc += R - off;
    *n_cross = nc;
    return R + R * (M - 1) + 2 * nc * (M - 1);
}

ibex_status ibex_descriptor_create(const ibex_descriptor_opts *opts, ibex_descriptor **out,
                                   ibex_diag *diag)
{
    ibex_descriptor_opts o;
    if (!out) return IBEX_ERR_ARG;
    ibex_descriptor_opts_init(&o);
    if (!ibex__opts_merge(&o, sizeof o, opts)) return ibex__opts_refused(diag, "ibex_descriptor_opts");
    unsigned n = o.grid;
    if (n < 32 || n > 4096 || (n & (n - 1)))
        return ibex__fail(diag, IBEX_ERR_ARG, NULL, -1, "descriptor grid %u: need a power of two in 32..4096", n);
    if (!(o.spacing > 0) || !(o.lambda_min > 0) || !(o.lambda_max > o.lambda_min) ||
        !(o.lambda_min >= 2 * o.spacing) || o.n_radii < 2 || o.n_radii > 1024 ||
        o.n_harmonics < 2 || o.n_harmonics > 256 || !(o.taper >= 0) || !(o.gamma > 0) ||
        !(o.w_radial >= 0) || !(o.w_aniso >= 0) || !(o.w_cross >= 0))
        return ibex__fail(diag, IBEX_ERR_ARG, NULL, -1,
                          "descriptor options out of range (band %g..%g m at spacing %g m)",
                          o.lambda_min, o.lambda_max, o.spacing);
    double rho_min = n * o.spacing / o.lambda_max, rho_max = n * o.spacing / o.lambda_min;
    if (rho_min < 1.0)
        return ibex__fail(diag, IBEX_ERR_ARG, NULL, -1,
                          "lambda_max %g m exceeds the working field %g m", o.lambda_max, n * o.spacing);

    ibex_descriptor *p = calloc(1, sizeof *p);
    if (!p) return IBEX_ERR_NOMEM;
    p->o = o;
    p->p = raw_size(&o, &p->n_cross);
    size_t nh = n / 2 + 1;
    p->bins = malloc((size_t)n * nh * sizeof *p->bins);
    p->ring_w = calloc(o.n_radii, sizeof *p->ring_w);
    if (!p->bins || !p->ring_w) {
        ibex_descriptor_free(p);
        return IBEX_ERR_NOMEM;
    }
    double lr = log(rho_max / rho_min);
    for (unsigned y = 0; y < n; y++) {
        int ky = y < n / 2 ? (int)y : (int)y - (int)n;
        for (unsigned x = 0; x < nh; x++) {
            /* Column 0 and the Nyquist column hold both k and -k: keep one of each pair. */
            if ((x == 0 || x == n / 2) && ky < 0) continue;
            double rho = hypot((double)x, (double)ky);
            if (rho < rho_min || rho > rho_max) continue;
            double t = log(rho / rho_min) / lr * (o.n_radii - 1);
            unsigned r = (unsigned)t;
            if (r >= o.n_radii - 1) r = o.n_radii - 2;
            double f = t - r;
            double th = atan2((double)ky, (double)x);
            bin *b = &p->bins[p->n_bins++];
            b->off = (uint32_t)(y * nh + x);
            b->ring = (uint16_t)r;
            b->w = (float)(1.0 - f);
            b->c = (float)cos(-2 * th);
            b->s = (float)sin(-2 * th);
            p->ring_w[r] += 1.0 - f;
            p->ring_w[r + 1] += f;
        }
    }
    for (unsigned r = 0; r < o.n_radii; r++)
        if (!(p->ring_w[r] > 0.5)) {
            ibex_descriptor_free(p);
            return ibex__fail(diag, IBEX_ERR_ARG, NULL, -1,
                              "descriptor ring %u holds no FFT bin: fewer rings or a larger grid", r);
        }
    float *in = fftwf_malloc(sizeof(float) * n * n);
    fftwf_complex *outc = fftwf_malloc(sizeof(fftwf_complex) * n * nh);
    if (!in || !outc) {
        fftwf_free(in);
        fftwf_free(outc);
        ibex_descriptor_free(p);
        return IBEX_ERR_NOMEM;
    }
    ibex__fftw_lock();
    p->plan = fftwf_plan_dft_r2c_2d((int)n, (int)n, in, outc, FFTW_ESTIMATE);
    ibex__fftw_unlock();
    fftwf_free(in);
    fftwf_free(outc);
    if (!p->plan) {
        ibex_descriptor_free(p);
        return ibex__fail(diag, IBEX_ERR_NOMEM, NULL, -1, "FFTW could not plan a %ux%u transform", n, n);
    }
    *out = p;
    return IBEX_OK;
}

void ibex_descriptor_free(ibex_descriptor *p)
{
    if (!p) return;
    if (p->plan) {
        ibex__fftw_lock();
        fftwf_destroy_plan(p->plan);
        ibex__fftw_unlock();
    }
    free(p->bins);
    free(p->ring_w);
    free(p);
}

size_t ibex_descriptor_size(const ibex_descriptor *p) { return p ? p->p : 0; }

void ibex_descriptor_get_opts(const ibex_descriptor *p, ibex_descriptor_opts *o)
{
    if (p && o) *o = p->o;
}

/* Area average of the valid points onto the n x n working grid at spacing h, centred on
 * the centroid of the valid points. Box averaging (not point sampling) is the
 * anti-alias filter for the downsampling. Returns the number of valid cells. */
static size_t to_grid(const ibex_surface *s, unsigned n, double h, float *g, uint8_t *m)
{
    size_t N = (size_t)n * n;
    double cx = 0, cy = 0;
    size_t cnt = 0;
    for (size_t j = 0; j < s->ny; j++)
        for (size_t i = 0; i < s->nx; i++)
            if (s->valid[j * s->nx + i] && isfinite(s->z[j * s->nx + i])) {
                cx += (double)i;
                cy += (double)j;
                cnt++;
            }
    if (!cnt) return 0;
    cx /= cnt;
    cy /= cnt;
    double *sum = calloc(N, sizeof *sum);
    uint32_t *c = calloc(N, sizeof *c);
    if (!sum || !c) {
        free(sum);
        free(c);
        return (size_t)-1;
    }
    double sx = s->dx / h, sy = s->dy / h;
    for (size_t j = 0; j < s->ny; j++) {
        double v = (j - cy) * sy + n / 2.0;
        if (v < 0 || v >= n) continue;
        size_t gy = (size_t)v;
        for (size_t i = 0; i < s->nx; i++) {
            size_t k = j * s->nx + i;
            if (!s->valid[k] || !isfinite(s->z[k])) continue;
            double u = (i - cx) * sx + n / 2.0;
            if (u < 0 || u >= n) continue;
            size_t q = gy * n + (size_t)u;
            sum[q] += s->z[k];
            c[q]++;
        }
    }
    /* A cell is valid when at least half the points it should hold are valid. */
    double expect = (1.0 / sx) * (1.0 / sy);
    double need = expect * 0.5 < 1.0 ? 1.0 : expect * 0.5;
    size_t nv = 0;
    for (size_t q = 0; q < N; q++) {
        if (c[q] >= need) {
            g[q] = (float)(sum[q] / c[q]);
            m[q] = 1;
            nv++;
        } else {
            g[q] = 0;
            m[q] = 0;
        }
    }
    free(sum);
    free(c);
    return nv;
}

/* Chamfer (3-4) distance to the nearest invalid cell, in cells; outside the grid counts
 * as invalid. Borgefors 1986, two passes. */
static void distance(const uint8_t *m, unsigned n, float *d)
{
    const float big = 1e9f, a = 1.0f, b = 1.41421356f;
    for (unsigned y = 0; y < n; y++)
        for (unsigned x = 0; x < n; x++) {
            size_t q = (size_t)y * n + x;
            if (!m[q]) { d[q] = 0; continue; }
            float v = big;
            float up = y ? d[q - n] : 0, left = x ? d[q - 1] : 0;
            float ul = (x && y) ? d[q - n - 1] : 0, ur = (y && x + 1 < n) ? d[q - n + 1] : 0;
            if (up + a < v) v = up + a;
            if (left + a < v) v = left + a;
            if (ul + b < v) v = ul + b;
            if (ur + b < v) v = ur + b;
            d[q] = v;
        }
    for (unsigned y = n; y-- > 0;)
        for (unsigned x = n; x-- > 0;) {
            size_t q = (size_t)y * n + x;
            if (!m[q]) continue;
            float v = d[q];
            float dn = y + 1 < n ? d[q + n] : 0, rt = x + 1 < n ? d[q + 1] : 0;
            float dr = (y + 1 < n && x + 1 < n) ? d[q + n + 1] : 0;
            float dl = (y + 1 < n && x) ? d[q + n - 1] : 0;
            if (dn + a < v) v = dn + a;
            if (rt + a < v) v = rt + a;
            if (dr + b < v) v = dr + b;
            if (dl + b < v) v = dl + b;
            d[q] = v;
        }
}

/* L2-normalise x[0..n) and scale by w; a zero block stays zero. */
static void block_norm(float *x, size_t n, double w)
{
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
    double f = ss > 0 ? w / sqrt(ss) : 0;
    for (size_t i = 0; i < n; i++) x[i] = (float)(x[i] * f);
}

/* From the ring harmonics F[r*M + m] (complex), fill the raw vector. */
static void assemble(const ibex_descriptor *p, const double complex *F, float *raw)
{
    const ibex_descriptor_opts *o = &p->o;
    size_t R = o->n_radii, M = o->n_harmonics;
    float *A = raw, *B = raw + R, *C = raw + R + R * (M - 1);
    double mean = 0;
    for (size_t r = 0; r < R; r++) {
        double e = creal(F[r * M]) / p->ring_w[r];
        A[r] = (float)log(e > 1e-30 ? e : 1e-30);
        mean += A[r];
    }
    mean /= R;
    for (size_t r = 0; r < R; r++) A[r] = (float)(A[r] - mean);
    for (size_t r = 0; r < R; r++) {
        double f0 = creal(F[r * M]);
        for (size_t m = 1; m < M; m++)
            B[r * (M - 1) + m - 1] = f0 > 0 ? (float)(cabs(F[r * M + m]) / f0) : 0.0f;
    }
    size_t k = 0;
    for (size_t off = 1; off <= max_offset(o); off++)
        for (size_t r = 0; r + off < R; r++) {
            double f0 = creal(F[r * M]) * creal(F[(r + off) * M]);
            for (size_t m = 1; m < M; m++) {
                double complex P = F[r * M + m] * conj(F[(r + off) * M + m]);
                double a = cabs(P);
                /* sqrt of the magnitude keeps the scale of block B; the phase is the
                 * relative orientation of ring r and ring r+off at harmonic m. */
                double mag = (f0 > 0 && a > 0) ? sqrt(a / f0) : 0;
                C[k++] = (float)(a > 0 ? mag * creal(P) / a : 0);
                C[k++] = (float)(a > 0 ? mag * cimag(P) / a : 0);
            }
        }
    block_norm(A, R, o->w_radial);
    block_norm(B, R * (M - 1), o->w_aniso);
    block_norm(C, 2 * p->n_cross * (M - 1), o->w_cross);
}

ibex_status ibex_descriptor_run(const ibex_descriptor *p, const ibex_surface *s0,
                                const char *name, float *raw, ibex_diag *diag)
{
    if (!p || !s0 || !raw || !s0->z || !s0->valid) return IBEX_ERR_ARG;
    const ibex_descriptor_opts *o = &p->o;
    if (!(s0->dx > 0) || !(s0->dy > 0) || !isfinite(s0->dx) || !isfinite(s0->dy) || !s0->nx || !s0->ny)
        return ibex__fail(diag, IBEX_ERR_ARG, name, -1, "surface spacing %g x %g m is not usable", s0->dx,
                          s0->dy);
    unsigned n = o->grid;
    size_t N = (size_t)n * n, nh = n / 2 + 1;
    ibex_status st = IBEX_OK;
    ibex_surface *rs = NULL;
    const ibex_surface *s = s0;
    /* A grid coarser than the working spacing is interpolated up first, so every working
     * cell receives points. */
    if (s0->dx > o->spacing * 1.0001 || s0->dy > o->spacing * 1.0001) {
        if ((st = ibex_surface_resample(s0, o->spacing, o->spacing, &rs)))
            return ibex__fail(diag, st, name, -1, "cannot resample to the descriptor grid");
        s = rs;
    }
    float *g = fftwf_malloc(sizeof(float) * N);
    fftwf_complex *F = fftwf_malloc(sizeof(fftwf_complex) * n * nh);
    uint8_t *m = malloc(N);
    float *d = malloc(N * sizeof *d);
    double complex *H = calloc((size_t)o->n_radii * o->n_harmonics, sizeof *H);
    if (!g || !F || !m || !d || !H) {
        st = IBEX_ERR_NOMEM;
        goto done;
    }
    size_t nv = to_grid(s, n, o->spacing, g, m);
    if (nv == (size_t)-1) {
        st = IBEX_ERR_NOMEM;
        goto done;
    }
    if (nv < 1000) {
        st = ibex__fail(diag, IBEX_ERR_UNSUPPORTED, name, -1,
                        "only %zu valid points on the %gum descriptor grid (need 1000)", nv,
                        o->spacing * 1e6);
        goto done;
    }
    double mean = 0, ss = 0;
    for (size_t q = 0; q < N; q++)
        if (m[q]) mean += g[q];
    mean /= nv;
    for (size_t q = 0; q < N; q++)
        if (m[q]) ss += (g[q] - mean) * (g[q] - mean);
    double rms = sqrt(ss / nv);
    if (!(rms > 0) || !isfinite(rms)) {
        st = ibex__fail(diag, IBEX_ERR_UNSUPPORTED, name, -1, "surface has no height variation");
        goto done;
    }
    /* Unit RMS, spikes clipped at 5 RMS, cosine taper at the mask edges so the outline of
     * the mask does not dominate the spectrum. */
    distance(m, n, d);
    double T = o->taper / o->spacing;
    for (size_t q = 0; q < N; q++) {
        if (!m[q]) { g[q] = 0; continue; }
        double v = (g[q] - mean) / rms;
        if (v > 5) v = 5;
        if (v < -5) v = -5;
        double w = 1.0;
        if (T > 0 && d[q] < T) w = 0.5 - 0.5 * cos(M_PI * d[q] / T);
        g[q] = (float)(v * w);
    }
    fftwf_execute_dft_r2c(p->plan, g, F);
    size_t M = o->n_harmonics;
    for (size_t i = 0; i < p->n_bins; i++) {
        const bin *b = &p->bins[i];
        double re = crealf(F[b->off]), im = cimagf(F[b->off]);
        double v = re * re + im * im;
        v = o->gamma == 1.0 ? sqrt(v) : pow(v, 0.5 * o->gamma);
        double complex e = CMPLX(b->c, b->s), z = 1.0;
        double complex *h0 = H + (size_t)b->ring * M, *h1 = h0 + M;
        double a0 = v * b->w, a1 = v - a0;
        for (size_t k = 0; k < M; k++) {
            h0[k] += a0 * z;
            h1[k] += a1 * z;
            z *= e;
        }
    }
    assemble(p, H, raw);
done:
    fftwf_free(g);
    fftwf_free(F);
    free(m);
    free(d);
    free(H);
    ibex_surface_free(rs);
    if (st == IBEX_ERR_NOMEM) ibex__fail(diag, st, name, -1, "out of memory in the descriptor");
    return st;
}
