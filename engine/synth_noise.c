/* Random fields for the synthetic generator: parameter draws, spectral synthesis (FFTW),
 * Gaussian blur, value noise, sparse line profiles. Pure computation. */
#include <fftw3.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ibex/ibex.h"
#include "synth_internal.h"
#include "cmc_internal.h"

#define TWO_PI 6.283185307179586

double ibex__draw_unif(ibex__draw *d, double lo, double hi)
{
    return lo + (hi - lo) * ibex__rng_unif(d->key, d->n++);
}

double ibex__draw_normal(ibex__draw *d)
{
    double u1 = ibex__rng_unif(d->key, d->n++), u2 = ibex__rng_unif(d->key, d->n++);
    return sqrt(-2.0 * log(1.0 - u1)) * cos(TWO_PI * u2);
}

int ibex__draw_int(ibex__draw *d, int n)
{
    int k = (int)(ibex__rng_unif(d->key, d->n++) * n);
    return k < n ? k : n - 1;
}

int ibex__draw_poisson(ibex__draw *d, double mean)
{
    if (!(mean > 0)) return 0;
    double lim = exp(-mean), p = 1.0;
    int k = -1;
    do {
        k++;
        p *= ibex__rng_unif(d->key, d->n++);
    } while (p > lim && k < 1000);
    return k;
}

size_t ibex__fft_size(size_t n)
{
    for (size_t m = n < 2 ? 2 : n;; m++) {
        size_t r = m;
        while (r % 2 == 0) r /= 2;
        while (r % 3 == 0) r /= 3;
        while (r % 5 == 0) r /= 5;
        if (r == 1) return m;
    }
}

/* ---- FFTW plans: made once per size under a lock (the planner is not thread-safe),
 * single-threaded and FFTW_ESTIMATE so that the plan, and with it every rounding, is the
 * same in every run on one machine. Executed with the new-array interface, which is
 * re-entrant. */
typedef struct plan_entry {
    size_t nx, ny;
    fftwf_plan plan;
} plan_entry;

/* Plans are made and destroyed under the engine's one planner lock (plan.c): FFTW's planner
 * is not thread-safe, wherever it is called from. */
#define MAX_PLANS 32
static plan_entry plans[MAX_PLANS];
static int n_plans;

/* A cached plan, or (cache full) a new one that *owned says the caller must free with
 * drop_plan. */
static fftwf_plan get_plan(size_t nx, size_t ny, int *owned)
{
    fftwf_plan p = NULL;
    *owned = 0;
    ibex__fftw_lock();
    for (int i = 0; i < n_plans; i++)
        if (plans[i].nx == nx && plans[i].ny == ny) {
            p = plans[i].plan;
            break;
        }
    if (!p) {
        size_t nc = ny * (nx / 2 + 1);
        fftwf_complex *in = fftwf_malloc(nc * sizeof *in);
        float *out = fftwf_malloc(nx * ny * sizeof *out);
        if (in && out) {
            /* Another part of IBEX may have asked for threaded plans: force one thread. */
            int saved = fftwf_planner_nthreads();
            if (saved > 1) fftwf_plan_with_nthreads(1);
            if (ny == 1)
                p = fftwf_plan_dft_c2r_1d((int)nx, in, out, FFTW_ESTIMATE | FFTW_DESTROY_INPUT);
            else
                p = fftwf_plan_dft_c2r_2d((int)ny, (int)nx, in, out,
                                          FFTW_ESTIMATE | FFTW_DESTROY_INPUT);
            if (saved > 1) fftwf_plan_with_nthreads(saved);
            if (p && n_plans < MAX_PLANS) {
                plans[n_plans].nx = nx;
                plans[n_plans].ny = ny;
                plans[n_plans].plan = p;
                n_plans++;
            } else if (p) {
                *owned = 1;
            }
        }
        fftwf_free(in);
        fftwf_free(out);
    }
    ibex__fftw_unlock();
    return p;
}

static void drop_plan(fftwf_plan p)
{
    ibex__fftw_lock();
    fftwf_destroy_plan(p);
    ibex__fftw_unlock();
}

/* Frequency (cycles per metre) of FFT bin i of n at spacing h. */
static double freq(size_t i, size_t n, double h)
{
    long k = (long)i <= (long)n / 2 ? (long)i : (long)i - (long)n;
    return (double)k / ((double)n * h);
}

int ibex__field(uint64_t key, size_t nx, size_t ny, double h, const ibex__spectrum *sp,
                float *out)
{
    size_t nxc = nx / 2 + 1, nc = ny * nxc;
    int owned;
    fftwf_plan plan = get_plan(nx, ny, &owned);
    fftwf_complex *c = fftwf_malloc(nc * sizeof *c);
    float *r = fftwf_malloc(nx * ny * sizeof *r);
    if (!plan || !c || !r) {
        if (plan && owned) drop_plan(plan);
        fftwf_free(c);
        fftwf_free(r);
        return -1;
    }
    double ca = cos(sp->angle), sa = sin(sp->angle), ex = -(1.0 + sp->hurst);
    for (size_t j = 0; j < ny; j++) {
        double fy = ny > 1 ? freq(j, ny, h) : 0.0;
        for (size_t i = 0; i < nxc; i++) {
            double fx = freq(i, nx, h);
            double ku = TWO_PI * (ca * fx + sa * fy), kv = TWO_PI * (-sa * fx + ca * fy);
            double q = 1.0 + ku * ku * sp->corr_u * sp->corr_u;
            if (ny > 1) q += kv * kv * sp->corr_v * sp->corr_v;
            /* single precision: the spectrum's shape needs no more, and powf is cheaper */
            double p = powf((float)q, (float)ex);
            if (sp->cut > 0) {
                double f2 = (fx * fx + fy * fy) * sp->cut * sp->cut;
                p *= f2 < 80 ? expf((float)-f2) : 0.0f;
            }
            double a = sqrt(p);
            size_t idx = j * nxc + i;
            if (idx == 0) a = 0; /* zero mean */
            c[idx][0] = (float)(a * ibex__rng_gauss_fast(key, 2 * idx));
            c[idx][1] = (float)(a * ibex__rng_gauss_fast(key, 2 * idx + 1));
        }
    }
    fftwf_execute_dft_c2r(plan, c, r);
    if (owned) drop_plan(plan);
    memcpy(out, r, nx * ny * sizeof *out);
    fftwf_free(c);
    fftwf_free(r);
    ibex__normalise(out, nx * ny);
    return 0;
}

void ibex__normalise(float *a, size_t n)
{
    double s = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) s += a[i];
    double m = n ? s / (double)n : 0;
    for (size_t i = 0; i < n; i++) s2 += ((double)a[i] - m) * ((double)a[i] - m);
    double rms = n ? sqrt(s2 / (double)n) : 0;
    float fm = (float)m, f = rms > 0 ? (float)(1.0 / rms) : 0.0f;
    for (size_t i = 0; i < n; i++) a[i] = (a[i] - fm) * f;
}

/* One pass of a symmetric FIR kernel w[0..rad] along n samples of stride st (edges replicated). */
static void conv_line(const float *src, float *dst, size_t n, size_t st, const float *w, int rad)
{
    for (size_t i = 0; i < n; i++) {
        float acc = w[0] * src[i * st];
        for (int k = 1; k <= rad; k++) {
            size_t lo = i >= (size_t)k ? i - (size_t)k : 0;
            size_t hi = i + (size_t)k < n ? i + (size_t)k : n - 1;
            acc += w[k] * (src[lo * st] + src[hi * st]);
        }
        dst[i] = acc;
    }
}

int ibex__blur(float *a, size_t nx, size_t ny, double sigma)
{
    if (!(sigma >= 0.3)) return 0;
    int rad = (int)ceil(3.0 * sigma);
    float w[64];
    if (rad > 63) rad = 63;
    double sum = 0;
    for (int k = 0; k <= rad; k++) sum += (k ? 2.0 : 1.0) * exp(-0.5 * k * k / (sigma * sigma));
    for (int k = 0; k <= rad; k++) w[k] = (float)(exp(-0.5 * k * k / (sigma * sigma)) / sum);
    size_t nmax = nx > ny ? nx : ny;
    float *line = malloc(nmax * sizeof *line), *col = malloc(nmax * sizeof *col);
    if (!line || !col) {
        free(line);
        free(col);
        return -1;
    }
    for (size_t y = 0; y < ny; y++) {
        conv_line(a + y * nx, line, nx, 1, w, rad);
        memcpy(a + y * nx, line, nx * sizeof *line);
    }
    if (ny > 1)
        for (size_t x = 0; x < nx; x++) {
            for (size_t y = 0; y < ny; y++) col[y] = a[y * nx + x];
            conv_line(col, line, ny, 1, w, rad);
            for (size_t y = 0; y < ny; y++) a[y * nx + x] = line[y];
        }
    free(line);
    free(col);
    return 0;
}

int ibex__value_noise(uint64_t key, size_t nx, size_t ny, double pitch_x, double pitch_y,
                      float amp, float *out)
{
    if (!(pitch_x > 0) || !(pitch_y > 0)) return 0;
    size_t lx = (size_t)((double)nx / pitch_x) + 3, ly = (size_t)((double)ny / pitch_y) + 3;
    float *lat = malloc(lx * ly * sizeof *lat);
    float *wx = malloc(nx * sizeof *wx);
    size_t *ix = malloc(nx * sizeof *ix);
    if (!lat || !wx || !ix) {
        free(lat);
        free(wx);
        free(ix);
        return -1;
    }
    for (size_t i = 0; i < lx * ly; i++) lat[i] = ibex__rng_gauss_fast(key, i);
    for (size_t x = 0; x < nx; x++) {
        double t = (double)x / pitch_x;
        ix[x] = (size_t)t;
        double f = t - (double)ix[x];
        wx[x] = (float)(f * f * (3 - 2 * f));
    }
    for (size_t y = 0; y < ny; y++) {
        double t = (double)y / pitch_y;
        size_t iy = (size_t)t;
        double f = t - (double)iy;
        float wy = (float)(f * f * (3 - 2 * f));
        const float *r0 = lat + iy * lx, *r1 = r0 + lx;
        float *o = out + y * nx;
        for (size_t x = 0; x < nx; x++) {
            size_t i = ix[x];
            float a0 = r0[i] + wx[x] * (r0[i + 1] - r0[i]);
            float a1 = r1[i] + wx[x] * (r1[i + 1] - r1[i]);
            o[x] += amp * (a0 + wy * (a1 - a0));
        }
    }
    free(lat);
    free(wx);
    free(ix);
    return 0;
}

void ibex__add_lines(ibex__draw *d, float *p, size_t n, double h, double density, double wmin,
                     double wmax, double up)
{
    double len = (double)n * h;
    int count = (int)floor(density * len + 0.5);
    for (int l = 0; l < count; l++) {
        double pos = ibex__draw_unif(d, 0, len) / h;
        double w = ibex__draw_unif(d, wmin, wmax) / h;
        double depth = -log(1.0 - ibex__draw_unif(d, 0, 1)); /* exponential, mean 1 */
        double sgn = ibex__draw_unif(d, 0, 1) < up ? 1.0 : -1.0;
        long lo = (long)floor(pos - 3 * w), hi = (long)ceil(pos + 3 * w);
        if (lo < 0) lo = 0;
        if (hi > (long)n - 1) hi = (long)n - 1;
        for (long i = lo; i <= hi; i++) {
            double t = ((double)i - pos) / w;
            p[i] += (float)(sgn * depth * exp(-0.5 * t * t));
        }
    }
}

int ibex__synth_meta(ibex_surface *s, const char *kind, const char *region, const char *comment)
{
    if (ibex_meta_set(&s->meta, "creator", "ibex synth " IBEX_VERSION_STRING) ||
        ibex_meta_set(&s->meta, "instrument_manufacturer", "IBEX") ||
        ibex_meta_set(&s->meta, "instrument_model", "synthetic") ||
        ibex_meta_set(&s->meta, "probing_type", "NonContacting") ||
        ibex_meta_set(&s->meta, "specimen_kind", kind) ||
        ibex_meta_set(&s->meta, "region", region) ||
        ibex_meta_set(&s->meta, "firearm_make", "synthetic") ||
        ibex_meta_set(&s->meta, "comment", comment))
        return -1;
    return 0;
}
