/* The experimental coarse-to-fine CMC search (cmc_search.c):
 *  - the lag6 kernels (scalar, AVX2) equal the six masked sums written plainly;
 *  - one search finds the lag and CCF of the exhaustive FFT search when the template is a
 *    patch of the region (a single clear maximum);
 *  - whole comparisons: against itself every cell congruent at (0, 0, 0); every cell's CCF
 *    is at most the exhaustive one (the search evaluates a subset of the lags with the same
 *    formula); 1 and 2 threads identical bit for bit; SIMD and scalar kernels within 1e-5.
 * Surfaces: tests/wave_fixture.h (shared with test_cmc.c). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "wave_fixture.h"
#include "cmc_internal.h"
#include "ibex/experimental.h"
#include "ibex/compare.h"

static void test_lag6(void)
{
    size_t tw = 37, th = 29, gs = 61;
    float *tf = malloc(tw * th * sizeof *tf), *tm = malloc(tw * th * sizeof *tm);
    float *g1 = malloc(gs * th * sizeof *g1), *gm = malloc(gs * th * sizeof *gm);
    for (size_t i = 0; i < tw * th; i++) {
        tm[i] = rnd() < 0.8 ? 1.0f : 0.0f;
        tf[i] = tm[i] * (float)(2 * rnd() - 1);
    }
    for (size_t i = 0; i < gs * th; i++) {
        gm[i] = rnd() < 0.7 ? 1.0f : 0.0f;
        g1[i] = gm[i] * (float)(3 * rnd() - 1);
    }
    /* plainly: the six sums over the points valid in both */
    double want[6] = {0, 0, 0, 0, 0, 0}, mag[6] = {0, 0, 0, 0, 0, 0};
    for (size_t y = 0; y < th; y++)
        for (size_t x = 0; x < tw; x++) {
            size_t i = y * tw + x, j = y * gs + x;
            if (!(tm[i] > 0 && gm[j] > 0)) continue;
            double f = tf[i], g = g1[j];
            double v[6] = {f * g, f, f * f, g, g * g, 1};
            for (int k = 0; k < 6; k++) {
                want[k] += v[k];
                mag[k] += fabs(v[k]);
            }
        }
    const ibex__kernels *ks[2] = {ibex__kernels_scalar(), ibex__kernels_avx2()};
    for (int q = 0; q < 2; q++) {
        if (!ks[q]) continue;
        double got[6];
        ks[q]->lag6(tf, tm, tw, tw, th, g1, gm, gs, got);
        double tol = q ? 1e-6 : 1e-12;
        for (int k = 0; k < 6; k++)
            CHECK_MSG(fabs(got[k] - want[k]) <= tol * mag[k] + 1e-12, "%s sum %d: %.9g vs %.9g",
                      ks[q]->name, k, got[k], want[k]);
    }
    free(tf);
    free(tm);
    free(g1);
    free(gm);
}

/* A 40 x 36 masked template cut from a 120 x 110 target at (70, 45): the search over the
 * region at (20, 15) of size 100 x 90 finds lag (50, 30) with CCF 1, as the FFT search. */
static void test_one_search(void)
{
    const size_t nx = 120, ny = 110, w = 40, h = 36, rw = 100, rh = 90;
    const long rx = 20, ry = 15, px = 70, py = 45;
    float *z = malloc(nx * ny * sizeof *z);
    unsigned char *m = malloc(nx * ny);
    for (size_t y = 0; y < ny; y++)
        for (size_t x = 0; x < nx; x++) {
            z[y * nx + x] = (float)f((double)x, (double)y);
            m[y * nx + x] = hypot((double)x - 60, (double)y - 55) < 52;
        }
    float *t = malloc(w * h * sizeof *t);
    unsigned char *tm = malloc(w * h);
    for (size_t y = 0; y < h; y++)
        for (size_t x = 0; x < w; x++) {
            size_t i = (size_t)(py + (long)y) * nx + (size_t)(px + (long)x);
            t[y * w + x] = z[i];
            tm[y * w + x] = m[i] && (x + y) % 7 != 3; /* extra holes in the template */
        }
    const unsigned D = 2;
    ibex__fft_cache *cache = ibex__fft_cache_create(0);
    const ibex__fft *f = ibex__fft_get(cache, ibex__fft_good_size(rw), ibex__fft_good_size(rh));
    const ibex__fft *fc = ibex__fft_get(cache, ibex__fft_good_size((rw + 2 * D - 2) / D),
                                        ibex__fft_good_size((rh + 2 * D - 2) / D));
    CHECK(f && fc);
    if (!f || !fc) return;
    ibex__cf_work cw;
    ibex__cf_target tg;
    ibex__cf_cell cell;
    memset(&cell, 0, sizeof cell);
    CHECK(ibex__cf_work_init(&cw, fc, (rw - w + 1) * (rh - h + 1), rw) == IBEX_OK);
    CHECK(ibex__cf_target_alloc(&tg, nx, ny, D, 4) == IBEX_OK);
    cell.coarse.spec = ibex__fft_alloc(6 * fc->nc);
    CHECK(ibex__cf_cell_init(&cell, &cw.coarse, D, t, tm, w, w, h, 0.5) == IBEX_OK);
    ibex__cf_target_fill(&tg, z, m, 0.0f, 1e6f);
    double mu, sd;
    size_t nv = ibex__cf_region_count(&cw, ibex__kernels_best(), &tg, rx, ry, rw, rh, &mu, &sd);
    /* the FFT search over the same region */
    float *r = malloc(rw * rh * sizeof *r);
    unsigned char *rm = malloc(rw * rh);
    size_t nv2 = 0;
    for (size_t y = 0; y < rh; y++)
        for (size_t x = 0; x < rw; x++) {
            size_t i = (size_t)(ry + (long)y) * nx + (size_t)(rx + (long)x);
            r[y * rw + x] = z[i];
            rm[y * rw + x] = m[i];
            nv2 += m[i];
        }
    CHECK(nv == nv2);
    ibex__xc_work xw;
    CHECK(ibex__xc_work_init(&xw, f) == IBEX_OK);
    ibex__xc_template tpl = {ibex__fft_alloc(6 * f->nc), 0, 0, 0};
    ibex__xc_prepare(&xw, t, tm, w, w, h, &tpl);
    ibex__xc_peak e = ibex__xc_run(&xw, ibex__kernels_best(), &tpl, r, rm, rw, rw, rh, cell.nmin,
                                   NULL, NULL, NULL);
    int fb = -1;
    ibex__xc_peak p = ibex__cf_search(&cw, ibex__kernels_best(), &cell, &tg, rx, ry, rw, rh, sd,
                                      4, NULL, NULL, &fb);
    fprintf(stderr, "one search: fft (%ld, %ld) %.6f, coarse-to-fine (%ld, %ld) %.6f, %llu lags, "
                    "fallback %d\n", e.u, e.v, e.ccf, p.u, p.v, p.ccf, cw.evals, fb);
    CHECK(e.u == px - rx && e.v == py - ry && e.ccf > 0.9999f);
    CHECK(fb == 0 && p.u == e.u && p.v == e.v && fabsf(p.ccf - e.ccf) <= 1e-5f);
    CHECK(cw.evals < (rw - w + 1) * (rh - h + 1) / 10);
    ibex__fft_dealloc(tpl.spec);
    ibex__xc_work_free(&xw);
    ibex__cf_cell_free(&cell);
    ibex__fft_dealloc(cell.coarse.spec);
    ibex__cf_target_free(&tg);
    ibex__cf_work_free(&cw);
    ibex__fft_cache_free(cache);
    free(r);
    free(rm);
    free(t);
    free(tm);
    free(z);
    free(m);
}

static ibex_cmc_result *run(const ibex_cmc_opts *o, const ibex_surface *a, const ibex_surface *b)
{
    ibex_cmc_plan *p;
    ibex_cmc_result *r = NULL;
    ibex_diag d;
    CHECK(ibex_cmc_plan_create(o, &p, &d) == IBEX_OK);
    CHECK_MSG(ibex_cmc_plan_run(p, a, b, &r, &d) == IBEX_OK, "%s", d.message);
    ibex_cmc_plan_free(p);
    return r;
}

static void test_compare(void)
{
    const size_t n = 256;
    ibex_surface *a = make(n, 0, 0, 0), *b = make(n, 6, 4, -3);
    CHECK(a && b);
    if (!a || !b) return;
    ibex_cmc_opts oe, of;
    ibex_cmc_opts_init(&oe);
    of = oe;
    ibex_cmc_experimental fast, fast_scalar;
    ibex_cmc_experimental_init(&fast);
    fast.coarse_to_fine = 1;
    fast_scalar = fast;
    fast_scalar.force_scalar = 1;
    of.experimental = &fast;
    of.threads = 1;

    ibex_cmc_result *r = run(&of, a, a);
    for (size_t i = 0; r && i < r->n_cells; i++) {
        const ibex_cmc_cell *c = &r->cells[i];
        if (c->used)
            CHECK_MSG(c->ccf >= 0.9999 && c->theta == 0 && c->dx == 0 && c->dy == 0 && c->cmc,
                      "self, cell %u,%u: ccf %.6f theta %g dx %g dy %g", c->row, c->col, c->ccf,
                      c->theta, c->dx, c->dy);
    }
    CHECK(r && r->searches > 0 && r->cmc == r->dir[0].cells_used);
    ibex_cmc_result_free(r);

    ibex_cmc_result *re = run(&oe, a, b), *rf = run(&of, a, b);
    of.threads = 2;
    ibex_cmc_result *r2 = run(&of, a, b);
    ibex_cmc_opts os = of;
    os.experimental = &fast_scalar;
    ibex_cmc_result *rs2 = run(&os, a, b);
    if (rf && rs2) { /* SIMD (float lanes) and scalar (double) direct sums agree */
        double worst = 0;
        for (size_t i = 0; i < rf->n_cells; i++)
            if (rf->cells[i].used && fabs(rf->cells[i].ccf - rs2->cells[i].ccf) > worst)
                worst = fabs(rf->cells[i].ccf - rs2->cells[i].ccf);
        CHECK_MSG(worst <= 1e-5, "SIMD vs scalar CCF differ by %g", worst);
        CHECK(rf->cmc == rs2->cmc && rf->cmc_high == rs2->cmc_high);
        fprintf(stderr, "coarse-to-fine simd vs scalar max |dccf| %.2e\n", worst);
    }
    ibex_cmc_result_free(rs2);
    if (re && rf && r2) {
        double worst = 0;
        int same = 1;
        for (size_t i = 0; i < re->n_cells; i++) {
            const ibex_cmc_cell *x = &re->cells[i], *y = &rf->cells[i], *z = &r2->cells[i];
            CHECK(x->used == y->used);
            if (x->used) CHECK_MSG(y->ccf <= x->ccf + 1e-5, "cell %zu: %.6f > %.6f", i, y->ccf, x->ccf);
            if (x->used && x->ccf - y->ccf > worst) worst = x->ccf - y->ccf;
            same &= y->ccf == z->ccf && y->dx == z->dx && y->dy == z->dy && y->theta == z->theta &&
                    y->cmc == z->cmc && y->cmc_high == z->cmc_high;
        }
        CHECK_MSG(same, "1 and 2 threads differ");
        CHECK(rf->verdict == IBEX_VERDICT_IDENTIFICATION);
        CHECK_NEAR(rf->dir[0].theta, 6, 1e-9);
        CHECK_NEAR(rf->dir[0].dx, -4, 1e-9);
        CHECK_NEAR(rf->dir[0].dy, 3, 1e-9);
        fprintf(stderr, "rot 6 shift (4,-3): exhaustive cmc %u/%u high %u/%u, coarse-to-fine "
                        "cmc %u/%u high %u/%u, %zu searches, %.1f lags each, largest CCF shortfall "
                        "%.4f\n", re->dir[0].cmc, re->dir[1].cmc, re->dir[0].cmc_high,
                re->dir[1].cmc_high, rf->dir[0].cmc, rf->dir[1].cmc, rf->dir[0].cmc_high,
                rf->dir[1].cmc_high, rf->searches, (double)rf->lags_direct / (double)rf->searches,
                worst);
    }
    ibex_cmc_result_free(re);
    ibex_cmc_result_free(rf);
    ibex_cmc_result_free(r2);
    ibex_surface_free(a);
    ibex_surface_free(b);
}

int main(void)
{
    make_waves();
    test_lag6();
    test_one_search();
    test_compare();
    return check_exit();
}
