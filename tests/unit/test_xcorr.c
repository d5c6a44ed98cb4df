/* Masked NCC by FFT against a direct O(N^2) masked NCC written out plainly here, on random
 * masked surfaces; SIMD kernels against the scalar reference. Seed from argv[1] or fixed. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cmc_internal.h"

static uint64_t rng_state;
static double rnd(void) /* xorshift64*, uniform in [0, 1) */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static void random_surface(float *z, unsigned char *m, size_t n, double invalid)
{
    for (size_t i = 0; i < n; i++) {
        z[i] = (float)(rnd() * 2 - 1 + 5.0); /* offset: the NCC must not depend on it */
        m[i] = rnd() >= invalid;
        if (!m[i]) z[i] = NAN;
    }
}

/* The definition: Pearson correlation over the points valid in both, template at (u, v). */
static double naive_ncc(const float *t, const unsigned char *tm, size_t tw, size_t th,
                        const float *r, const unsigned char *rm, size_t rw, size_t u, size_t v,
                        size_t *n_out)
{
    double n = 0, sf = 0, sg = 0;
    for (size_t y = 0; y < th; y++)
        for (size_t x = 0; x < tw; x++) {
            size_t i = y * tw + x, j = (y + v) * rw + x + u;
            if (tm[i] && rm[j]) {
                n++;
                sf += t[i];
                sg += r[j];
            }
        }
    *n_out = (size_t)n;
    if (n < 1) return NAN;
    double mf = sf / n, mg = sg / n, cfg = 0, cff = 0, cgg = 0;
    for (size_t y = 0; y < th; y++)
        for (size_t x = 0; x < tw; x++) {
            size_t i = y * tw + x, j = (y + v) * rw + x + u;
            if (tm[i] && rm[j]) {
                double a = t[i] - mf, b = r[j] - mg;
                cfg += a * b;
                cff += a * a;
                cgg += b * b;
            }
        }
    return cfg / sqrt(cff * cgg);
}

static void run_case(const ibex__kernels *k, size_t tw, size_t th, size_t rw, size_t rh,
                     double inval_t, double inval_r, int plant)
{
    size_t nt = tw * th, nr = rw * rh;
    float *t = malloc(nt * sizeof *t), *r = malloc(nr * sizeof *r);
    unsigned char *tm = malloc(nt), *rm = malloc(nr);
    random_surface(t, tm, nt, inval_t);
    random_surface(r, rm, nr, inval_r);
    size_t pu = (size_t)(rnd() * (double)(rw - tw + 1)), pv = (size_t)(rnd() * (double)(rh - th + 1));
    if (plant) /* the template, scaled and offset, hidden at (pu, pv) */
        for (size_t y = 0; y < th; y++)
            for (size_t x = 0; x < tw; x++) {
                size_t j = (y + pv) * rw + x + pu;
                if (rm[j] && tm[y * tw + x]) r[j] = 3 * t[y * tw + x] - 7;
            }
    ibex__fft_cache *cache = ibex__fft_cache_create(0);
    const ibex__fft *f = ibex__fft_get(cache, ibex__fft_good_size(rw), ibex__fft_good_size(rh));
    CHECK(f != NULL);
    ibex__xc_work w;
    CHECK(ibex__xc_work_init(&w, f) == IBEX_OK);
    ibex__xc_template tpl = {ibex__fft_alloc(6 * f->nc), 0, 0, 0};
    ibex__xc_prepare(&w, t, tm, tw, tw, th, &tpl);
    size_t nu = rw - tw + 1, nv = rh - th + 1, nmin = tpl.nvalid / 2;
    float *map = malloc(nu * nv * sizeof *map);
    ibex__xc_peak pk = ibex__xc_run(&w, k, &tpl, r, rm, rw, rw, rh, nmin, map, NULL, NULL);
    /* every lag for small cases, else 300 random lags */
    size_t trials = nu * nv <= 2000 ? nu * nv : 300, compared = 0;
    double worst = 0;
    for (size_t q = 0; q < trials; q++) {
        size_t u, v;
        if (trials == nu * nv) {
            u = q % nu;
            v = q / nu;
        } else {
            u = (size_t)(rnd() * (double)nu);
            v = (size_t)(rnd() * (double)nv);
        }
        size_t n;
        double ref = naive_ncc(t, tm, tw, th, r, rm, rw, u, v, &n);
        float got = map[v * nu + u];
        if (n < (nmin < 4 ? 4 : nmin)) {
            CHECK_MSG(got == IBEX__NO_SCORE, "lag (%zu,%zu) overlap %zu < %zu scored %g", u, v, n,
                      nmin, got);
            continue;
        }
        compared++;
        double e = fabs(ref - got);
        if (e > worst) worst = e;
        CHECK_MSG(e <= 1e-4, "%s %zux%zu in %zux%zu lag (%zu,%zu): fft %.7f naive %.7f", k->name,
                  tw, th, rw, rh, u, v, got, ref);
    }
    CHECK(compared > 0);
    fprintf(stderr, "%s template %zux%zu region %zux%zu fft %zux%zu: %zu lags, max |err| %.2e\n",
            k->name, tw, th, rw, rh, f->nx, f->ny, compared, worst);
    if (plant) {
        CHECK_MSG(pk.u == (long)pu && pk.v == (long)pv, "peak (%ld,%ld) planted (%zu,%zu)", pk.u,
                  pk.v, pu, pv);
        CHECK_NEAR(pk.ccf, 1.0, 1e-4);
    }
    free(map);
    ibex__fft_dealloc(tpl.spec);
    ibex__xc_work_free(&w);
    ibex__fft_cache_free(cache);
    free(t);
    free(r);
    free(tm);
    free(rm);
}

/* The two kernel sets on identical random spectra and correlation maps. */
static void simd_vs_scalar(void)
{
    const ibex__kernels *s = ibex__kernels_scalar(), *v = ibex__kernels_avx2();
    if (!v) {
        fprintf(stderr, "no AVX2 on this CPU: SIMD comparison skipped\n");
        return;
    }
    size_t nc = 1001; /* odd: exercises the scalar tail */
    float *in[6], *o1[6], *o2[6];
    for (int i = 0; i < 6; i++) {
        in[i] = malloc(2 * nc * sizeof(float));
        o1[i] = malloc(2 * nc * sizeof(float));
        o2[i] = malloc(2 * nc * sizeof(float));
        for (size_t j = 0; j < 2 * nc; j++) in[i][j] = (float)(rnd() * 200 - 100);
    }
    s->spec6(in[0], in[1], in[2], in[3], in[4], in[5], nc, 0.25f, o1[0], o1[1], o1[2], o1[3], o1[4], o1[5]);
    v->spec6(in[0], in[1], in[2], in[3], in[4], in[5], nc, 0.25f, o2[0], o2[1], o2[2], o2[3], o2[4], o2[5]);
    /* Float rounding scales with the operands: compare each product's difference with
     * |template value| * |region value| * scale (FMA and plain multiply round differently). */
    static const int ta[6] = {0, 0, 1, 2, 2, 2}, ra[6] = {3, 5, 5, 3, 4, 5};
    double worst = 0;
    for (int i = 0; i < 6; i++)
        for (size_t j = 0; j < nc; j++) {
            double mt = hypot(in[ta[i]][2 * j], in[ta[i]][2 * j + 1]);
            double mr = hypot(in[ra[i]][2 * j], in[ra[i]][2 * j + 1]);
            double mag = 0.25 * mt * mr + 1e-30;
            for (int c = 0; c < 2; c++) {
                double e = fabs(o1[i][2 * j + c] - o2[i][2 * j + c]) / mag;
                if (e > worst) worst = e;
            }
        }
    CHECK_MSG(worst <= 1e-5, "spec6 relative difference %g", worst);
    /* NCC rows from consistent sums of random data */
    size_t len = 203;
    float *sum[6], *r1 = malloc(len * sizeof *r1), *r2 = malloc(len * sizeof *r2);
    for (int i = 0; i < 6; i++) sum[i] = malloc(len * sizeof(float));
    for (size_t j = 0; j < len; j++) {
        size_t n = 5 + (size_t)(rnd() * 300);
        double a = 0, b = 0, aa = 0, bb = 0, ab = 0;
        for (size_t q = 0; q < n; q++) {
            double x = rnd(), y = 0.5 * x + rnd();
            a += x; b += y; aa += x * x; bb += y * y; ab += x * y;
        }
        sum[0][j] = (float)ab; sum[1][j] = (float)a; sum[2][j] = (float)aa;
        sum[3][j] = (float)b; sum[4][j] = (float)bb; sum[5][j] = (float)n + 0.2f;
    }
    s->ncc_row(sum[0], sum[1], sum[2], sum[3], sum[4], sum[5], len, 8, 1e-4f, r1);
    v->ncc_row(sum[0], sum[1], sum[2], sum[3], sum[4], sum[5], len, 8, 1e-4f, r2);
    worst = 0;
    for (size_t j = 0; j < len; j++) {
        CHECK((r1[j] == IBEX__NO_SCORE) == (r2[j] == IBEX__NO_SCORE));
        if (fabs(r1[j] - r2[j]) > worst) worst = fabs(r1[j] - r2[j]);
        CHECK(isfinite(r1[j]) && isfinite(r2[j]));
    }
    CHECK_MSG(worst <= 1e-5, "ncc_row difference %g", worst);
    fprintf(stderr, "simd vs scalar: ncc max |diff| %.2e\n", worst);
    for (int i = 0; i < 6; i++) {
        free(in[i]); free(o1[i]); free(o2[i]); free(sum[i]);
    }
    free(r1);
    free(r2);
}

int main(int argc, char **argv)
{
    unsigned long seed = argc > 1 ? strtoul(argv[1], NULL, 10) : 20261123UL;
    rng_state = seed * 0x9E3779B97F4A7C15ULL + 1;
    fprintf(stderr, "seed %lu\n", seed);
    const ibex__kernels *ks[2] = {ibex__kernels_scalar(), ibex__kernels_avx2()};
    for (int i = 0; i < 2; i++) {
        if (!ks[i]) continue;
        run_case(ks[i], 7, 5, 21, 15, 0.2, 0.3, 0);
        run_case(ks[i], 16, 16, 48, 48, 0.3, 0.4, 1);
        run_case(ks[i], 23, 19, 69, 57, 0.5, 0.2, 1);
        run_case(ks[i], 64, 64, 192, 192, 0.4, 0.5, 1);
    }
    simd_vs_scalar();
    if (check_failures_) fprintf(stderr, "failed with seed %lu\n", seed);
    return check_exit();
}
