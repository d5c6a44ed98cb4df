/* The own FFT (engine/fft_own.h) against a naive O(N^2) double-precision 2D DFT on small
 * sizes, against FFTW's r2c/c2r (ESTIMATE plans) on the CMC sizes with batches of 3 and 6,
 * and r2c then c2r giving nx*ny times the input. Tolerance: max abs error <= 1e-5 times the
 * reference's max magnitude. The sizes cover every radix (54 and 162 bring in 9) and both
 * tile paths (small sides fall back to narrower kernels). Sizes odd, below 4 or with a
 * factor 7 give no plan. Threads sharing a plan agree with one. Run with IBEX_SIMD unset,
 * =avx2 and =scalar (tests/unit/meson.build) to cover every kernel set.
 * Seed from argv[1] or fixed; printed on failure. */
#include <fftw3.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fft_own.h"

#define TOL 1e-5
static const double two_pi = 6.283185307179586476925287;

static uint64_t seed = 0x9e3779b97f4a7c15ULL, rng_state;
static double rnd(void) /* xorshift64*, uniform in [0, 1) */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static void fill(float *x, size_t n, double offset)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)(rnd() * 2 - 1 + offset);
}

/* max |a - b| / max |b| */
static double rel_err(const float *a, const float *b, size_t n)
{
    double e = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        e = fmax(e, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    return m > 0 ? e / m : e;
}

/* The definition: X[ky][kx] = sum x[y][x] e^(-2 pi i (kx x/nx + ky y/ny)), kx <= nx/2. */
static void naive_r2c(const float *in, size_t nx, size_t ny, float *spec)
{
    const size_t nc = nx / 2 + 1;
    for (size_t ky = 0; ky < ny; ky++)
        for (size_t kx = 0; kx < nc; kx++) {
            double re = 0, im = 0;
            for (size_t y = 0; y < ny; y++)
                for (size_t x = 0; x < nx; x++) {
                    double a = -two_pi * ((double)((kx * x) % nx) / nx + (double)((ky * y) % ny) / ny);
                    re += in[y * nx + x] * cos(a);
                    im += in[y * nx + x] * sin(a);
                }
            spec[2 * (ky * nc + kx)] = (float)re;
            spec[2 * (ky * nc + kx) + 1] = (float)im;
        }
}

/* x[y][x] = sum over the full spectrum X e^(+...), X[ky][kx > nx/2] = conj X[-ky][nx-kx]. */
static void naive_c2r(const float *spec, size_t nx, size_t ny, float *out)
{
    const size_t nc = nx / 2 + 1;
    for (size_t y = 0; y < ny; y++)
        for (size_t x = 0; x < nx; x++) {
            double s = 0;
            for (size_t ky = 0; ky < ny; ky++)
                for (size_t kx = 0; kx < nx; kx++) {
                    double re, im;
                    if (kx < nc) {
                        re = spec[2 * (ky * nc + kx)];
                        im = spec[2 * (ky * nc + kx) + 1];
                    } else {
                        size_t my = (ny - ky) % ny, mx = nx - kx;
                        re = spec[2 * (my * nc + mx)];
                        im = -spec[2 * (my * nc + mx) + 1];
                    }
                    double a = two_pi * ((double)((kx * x) % nx) / nx + (double)((ky * y) % ny) / ny);
                    s += re * cos(a) - im * sin(a);
                }
            out[y * nx + x] = (float)s;
        }
}

/* Scratch one float off a 64-byte boundary: the kernels must not assume alignment. */
static float *scratch_for(const ibex__offt *p, size_t batch, float **base)
{
    *base = malloc((ibex__offt_scratch_floats(p, batch) + 17) * sizeof(float));
    return *base + 1;
}

static void test_naive(size_t nx, size_t ny)
{
    const size_t nr = nx * ny, ns = 2 * ny * (nx / 2 + 1);
    ibex__offt *p = ibex__offt_create(nx, ny);
    CHECK_MSG(p != NULL, "%zux%zu", nx, ny);
    if (!p) return;
    float *in = malloc(nr * sizeof(float)), *spec = malloc(ns * sizeof(float));
    float *ref = malloc(ns * sizeof(float)), *out = malloc(nr * sizeof(float));
    float *oref = malloc(nr * sizeof(float)), *base, *scr = scratch_for(p, 1, &base);
    fill(in, nr, 0.3);
    naive_r2c(in, nx, ny, ref);
    ibex__offt_r2c(p, 1, in, spec, scr);
    double e = rel_err(spec, ref, ns);
    CHECK_MSG(e <= TOL, "r2c %zux%zu (%s) vs naive: rel err %.3g, seed %llu", nx, ny,
              ibex__offt_plan_isa(p), e, (unsigned long long)seed);
    naive_c2r(ref, nx, ny, oref);
    memcpy(spec, ref, ns * sizeof(float));
    ibex__offt_c2r(p, 1, spec, out, scr);
    e = rel_err(out, oref, nr);
    CHECK_MSG(e <= TOL, "c2r %zux%zu (%s) vs naive: rel err %.3g, seed %llu", nx, ny,
              ibex__offt_plan_isa(p), e, (unsigned long long)seed);
    CHECK_MSG(!memcmp(spec, ref, ns * sizeof(float)), "c2r %zux%zu changed its input", nx, ny);
    free(in), free(spec), free(ref), free(out), free(oref), free(base);
    ibex__offt_free(p);
}

/* Batches of 3 r2c and 6 c2r against FFTW's, then the round trip. */
static void test_fftw(size_t nx, size_t ny)
{
    const size_t nr = nx * ny, nc = nx / 2 + 1, ns = 2 * ny * nc;
    ibex__offt *p = ibex__offt_create(nx, ny);
    CHECK_MSG(p != NULL, "%zux%zu", nx, ny);
    if (!p) return;
    float *in = fftwf_malloc(6 * nr * sizeof(float)), *spec = fftwf_malloc(6 * ns * sizeof(float));
    float *ref = fftwf_malloc(6 * ns * sizeof(float)), *out = fftwf_malloc(6 * nr * sizeof(float));
    float *oref = fftwf_malloc(6 * nr * sizeof(float)), *base, *scr = scratch_for(p, 6, &base);
    const int dims[2] = {(int)ny, (int)nx};
    fftwf_plan f3 = fftwf_plan_many_dft_r2c(2, dims, 3, in, NULL, 1, (int)nr, (fftwf_complex *)ref,
                                            NULL, 1, (int)(ny * nc), FFTW_ESTIMATE);
    fftwf_plan f6 = fftwf_plan_many_dft_r2c(2, dims, 6, in, NULL, 1, (int)nr, (fftwf_complex *)ref,
                                            NULL, 1, (int)(ny * nc), FFTW_ESTIMATE);
    fftwf_plan i6 = fftwf_plan_many_dft_c2r(2, dims, 6, (fftwf_complex *)spec, NULL, 1,
                                            (int)(ny * nc), oref, NULL, 1, (int)nr, FFTW_ESTIMATE);
    /* arrays of different means, as the CMC's cells are */
    for (size_t b = 0; b < 6; b++) fill(in + b * nr, nr, 0.5 * (double)b);

    fftwf_execute(f3);
    ibex__offt_r2c(p, 3, in, spec, scr);
    for (size_t b = 0; b < 3; b++) {
        double e = rel_err(spec + b * ns, ref + b * ns, ns);
        CHECK_MSG(e <= TOL, "r2c %zux%zu (%s) [%zu] vs FFTW: rel err %.3g, seed %llu", nx, ny,
                  ibex__offt_plan_isa(p), b, e, (unsigned long long)seed);
    }
    /* c2r of 6 FFTW spectra (Hermitian as FFTW leaves them); FFTW's c2r destroys its input */
    fftwf_execute(f6);
    memcpy(spec, ref, 6 * ns * sizeof(float));
    fftwf_execute(i6);
    ibex__offt_c2r(p, 6, ref, out, scr);
    for (size_t b = 0; b < 6; b++) {
        double e = rel_err(out + b * nr, oref + b * nr, nr);
        CHECK_MSG(e <= TOL, "c2r %zux%zu (%s) [%zu] vs FFTW: rel err %.3g, seed %llu", nx, ny,
                  ibex__offt_plan_isa(p), b, e, (unsigned long long)seed);
    }
    /* round trip: nx ny times the input */
    ibex__offt_r2c(p, 6, in, spec, scr);
    ibex__offt_c2r(p, 6, spec, out, scr);
    for (size_t i = 0; i < 6 * nr; i++) oref[i] = (float)((double)in[i] * (double)nr);
    double e = rel_err(out, oref, 6 * nr);
    CHECK_MSG(e <= TOL, "round trip %zux%zu (%s): rel err %.3g, seed %llu", nx, ny,
              ibex__offt_plan_isa(p), e, (unsigned long long)seed);
    fftwf_destroy_plan(f3), fftwf_destroy_plan(f6), fftwf_destroy_plan(i6);
    fftwf_free(in), fftwf_free(spec), fftwf_free(ref), fftwf_free(out), fftwf_free(oref);
    free(base);
    ibex__offt_free(p);
}

/* Re-entrancy: threads sharing one plan, each with its own scratch, give the results of
 * one thread. */
typedef struct job {
    const ibex__offt *p;
    const float *in;
    float *spec, *out, *scr;
    int rounds;
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    for (int r = 0; r < j->rounds; r++) {
        ibex__offt_r2c(j->p, 3, j->in, j->spec, j->scr);
        ibex__offt_c2r(j->p, 3, j->spec, j->out, j->scr);
    }
    return NULL;
}

static void test_threads(size_t nx, size_t ny)
{
    enum { NT = 4 };
    const size_t nr = nx * ny, ns = 2 * ny * (nx / 2 + 1);
    ibex__offt *p = ibex__offt_create(nx, ny);
    if (!p) return;
    float *in = malloc(3 * nr * sizeof(float)), *ref_s = malloc(3 * ns * sizeof(float));
    float *ref_o = malloc(3 * nr * sizeof(float)), *base[NT + 1];
    fill(in, 3 * nr, 0.1);
    job one = {p, in, ref_s, ref_o, scratch_for(p, 3, &base[NT]), 1};
    run_job(&one);
    job js[NT];
    pthread_t th[NT];
    for (int t = 0; t < NT; t++) {
        js[t] = (job){p, in, malloc(3 * ns * sizeof(float)), malloc(3 * nr * sizeof(float)),
                      scratch_for(p, 3, &base[t]), 20};
        CHECK(pthread_create(&th[t], NULL, run_job, &js[t]) == 0);
    }
    for (int t = 0; t < NT; t++) {
        pthread_join(th[t], NULL);
        CHECK_MSG(!memcmp(js[t].spec, ref_s, 3 * ns * sizeof(float)) &&
                      !memcmp(js[t].out, ref_o, 3 * nr * sizeof(float)),
                  "thread %d of %d differs (%zux%zu)", t, NT, nx, ny);
        free(js[t].spec), free(js[t].out), free(base[t]);
    }
    free(in), free(ref_s), free(ref_o), free(base[NT]);
    ibex__offt_free(p);
}

int main(int argc, char **argv)
{
    if (argc > 1) seed = strtoull(argv[1], NULL, 0);
    rng_state = seed ? seed : 1;
    const char *e = getenv("IBEX_SIMD");
    fprintf(stderr, "IBEX_SIMD=%s: kernels %s\n", e ? e : "", ibex__offt_isa());
    if (e && !strcmp(e, "scalar")) CHECK(!strcmp(ibex__offt_isa(), "scalar"));

    static const size_t bad[][2] = {{7, 8}, {8, 7}, {2, 8}, {8, 2}, {14, 16}, {16, 14},
                                    {0, 16}, {9, 12}, {22, 20}, {42, 42}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ibex__offt *p = ibex__offt_create(bad[i][0], bad[i][1]);
        CHECK_MSG(p == NULL, "%zux%zu gave a plan", bad[i][0], bad[i][1]);
        ibex__offt_free(p);
    }

    static const size_t small[][2] = {{4, 4}, {4, 6}, {6, 4}, {10, 12}, {30, 20}, {36, 48},
                                      {48, 36}, {40, 50}, {8, 16}, {54, 18}};
    for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) test_naive(small[i][0], small[i][1]);

    static const size_t big[][2] = {{200, 200}, {216, 216}, {240, 216}, {216, 240}, {120, 120},
                                    {36, 48}, {64, 30}, {162, 108}};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) test_fftw(big[i][0], big[i][1]);
    test_threads(216, 216);
    return check_exit();
}
