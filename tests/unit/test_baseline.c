/* Baseline comparators on analytic surfaces: a rotated, shifted copy of a casing-like
 * surface scores near 1 at the right angle, an independent surface scores low; a land
 * scores near 1 against a shifted copy at the right lag, in either orientation. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "baseline_internal.h"
#include "check.h"

static uint64_t st = 88172645463325252ull;
static double urand(void)
{
    st ^= st << 13;
    st ^= st >> 7;
    st ^= st << 17;
    return (double)(st >> 11) / 9007199254740992.0;
}

/* Sum of random plane waves (wavelengths 120-400 um, what a 25 um grid resolves): smooth, isotropic texture that can
 * be evaluated at any point, so a rotated copy is exact, not interpolated. */
typedef struct waves {
    double kx[40], ky[40], ph[40];
} waves;
static void waves_init(waves *w)
{
    for (int i = 0; i < 40; i++) {
        double lam = 120e-6 + urand() * 280e-6, ang = urand() * 6.283185307179586;
        w->kx[i] = 6.283185307179586 / lam * cos(ang);
        w->ky[i] = 6.283185307179586 / lam * sin(ang);
        w->ph[i] = urand() * 6.283185307179586;
    }
}
static double waves_at(const waves *w, double x, double y)
{
    double z = 0;
    for (int i = 0; i < 40; i++) z += sin(w->kx[i] * x + w->ky[i] * y + w->ph[i]);
    return 1e-6 * z;
}

/* A 3 mm disc with a 0.6 mm hole (breech face around a firing pin), texture rotated by
 * theta and moved by (tx, ty). */
static ibex_surface *casing(const waves *w, double theta, double tx, double ty)
{
    ibex_surface *s;
    size_t n = 480;
    double d = 6.25e-6;
    if (ibex_surface_create(n, n, d, d, &s) != IBEX_OK) return NULL;
    double c = cos(theta), sn = sin(theta), half = 0.5 * (double)n * d;
    for (size_t y = 0; y < n; y++)
        for (size_t x = 0; x < n; x++) {
            double px = (double)x * d - half, py = (double)y * d - half;
            double r = hypot(px, py);
            if (r > 1.4e-3 || r < 0.3e-3) continue;
            /* the texture point that lands here after rotating by theta and moving */
            double qx = px - tx, qy = py - ty;
            double ux = c * qx + sn * qy, uy = -sn * qx + c * qy;
            s->z[y * n + x] = (float)waves_at(w, ux, uy);
        }
    ibex_surface_sync_mask(s);
    return s;
}

static void test_ncc(void)
{
    waves w1, w2;
    waves_init(&w1);
    waves_init(&w2);
    ibex_surface *a = casing(&w1, 0, 0, 0), *b = casing(&w1, 33 * 3.14159265358979 / 180, 100e-6, -50e-6),
                 *c = casing(&w2, 0, 0, 0);
    CHECK(a && b && c);
    ibex__ncc_prep *pa = NULL, *pb = NULL, *pc = NULL;
    CHECK(ibex__ncc_prepare(a, &pa, NULL) == IBEX_OK);
    CHECK(ibex__ncc_prepare(b, &pb, NULL) == IBEX_OK);
    CHECK(ibex__ncc_prepare(c, &pc, NULL) == IBEX_OK);
    ibex__ncc_result r;
    CHECK(ibex__ncc_compare(pa, pa, &r, NULL) == IBEX_OK);
    CHECK_NEAR(r.ncc, 1, 1e-3);
    CHECK(r.angle_deg == 0);
    CHECK(ibex__ncc_compare(pa, pb, &r, NULL) == IBEX_OK);
    /* b's texture is a's rotated by +33 degrees: undoing it needs b rotated back, which
     * the grid reaches to within 1 degree. Disc edges are partly off-grid: NCC > 0.9. */
    CHECK_MSG(r.ncc > 0.9, "ncc %g angle %g", r.ncc, r.angle_deg);
    double dang = fmod(r.angle_deg - 33 + 540, 360) - 180;
    double dang2 = fmod(r.angle_deg + 33 + 540, 360) - 180;
    CHECK_MSG(fabs(dang) <= 1.0 || fabs(dang2) <= 1.0, "angle %g", r.angle_deg);
    double rab = r.ncc;
    CHECK(ibex__ncc_compare(pa, pc, &r, NULL) == IBEX_OK);
    CHECK_MSG(r.ncc < 0.5 && r.ncc < rab - 0.3, "independent %g vs mate %g", r.ncc, rab);
    /* The window search (the two-step query's screen): a surface against itself scores 1;
     * the windows 0..60 and -60..0 together hold the mate's angle (either sign convention),
     * so the better of them scores at least the full turn's NCC (its coarse steps are 3
     * degrees, not 6), at the same angle to 1 degree; a
     * window never beats the full turn on the independent texture. */
    double rc = r.ncc;
    CHECK(ibex__ncc_window(pa, pa, -30, 30, &r, NULL) == IBEX_OK);
    CHECK_NEAR(r.ncc, 1, 1e-3);
    double best = -2, at = 0;
    for (int k = 0; k < 2; k++) {
        CHECK(ibex__ncc_window(pa, pb, k ? -60 : 0, k ? 0 : 60, &r, NULL) == IBEX_OK);
        if (r.ncc > best) best = r.ncc, at = r.angle_deg;
    }
    CHECK_MSG(best >= rab - 0.02 && best <= 1 + 1e-6, "window 0..60 / -60..0: best %g, full turn %g", best, rab);
    double d1 = fmod(at - 33 + 540, 360) - 180, d2 = fmod(at + 33 + 540, 360) - 180;
    CHECK_MSG(fabs(d1) <= 1.0 || fabs(d2) <= 1.0, "window angle %g", at);
    CHECK(ibex__ncc_window(pa, pc, -30, 30, &r, NULL) == IBEX_OK);
    CHECK_MSG(r.ncc <= rc + 1e-9, "independent, window %g <= full turn %g", r.ncc, rc);
    CHECK(ibex__ncc_window(pa, pb, 10, 5, &r, NULL) == IBEX_ERR_ARG);
    ibex__ncc_free(pa), ibex__ncc_free(pb), ibex__ncc_free(pc);
    ibex_surface_free(a), ibex_surface_free(b), ibex_surface_free(c);
}

/* Land: striae along one axis (profile f across the width), plus noise; transpose puts the
 * striae along the other axis. */
static ibex_surface *land(const double *f, size_t nf, size_t off, size_t width, size_t len,
                          int transpose, double noise)
{
    ibex_surface *s;
    double d = 1.5625e-6;
    size_t nx = transpose ? len : width, ny = transpose ? width : len;
    if (ibex_surface_create(nx, ny, d, d, &s) != IBEX_OK) return NULL;
    for (size_t y = 0; y < ny; y++)
        for (size_t x = 0; x < nx; x++) {
            size_t i = (transpose ? y : x) + off;
            double curv = 2e-5 * pow(((double)(transpose ? y : x) - (double)width / 2) / (double)width, 2);
            s->z[y * nx + x] = (float)(i < nf ? f[i] + curv + noise * (urand() - 0.5) : NAN);
        }
    ibex_surface_sync_mask(s);
    return s;
}

static void test_ccf(void)
{
    size_t nf = 2000;
    double *f = malloc(nf * sizeof *f), *g = malloc(nf * sizeof *g);
    /* Striae: smoothed random walk increments, wavelengths of a few to tens of um. */
    double acc = 0;
    for (size_t i = 0; i < nf; i++) f[i] = 1e-6 * (urand() - 0.5);
    for (size_t i = 0; i < nf; i++) acc = 0.7 * acc + f[i], g[i] = acc;
    ibex_surface *a = land(g, nf, 0, 1400, 200, 0, 2e-7);
    ibex_surface *b = land(g, nf, 160, 1400, 200, 1, 2e-7); /* shifted 250 um, transposed */
    for (size_t i = 0; i < nf; i++) f[i] = 1e-6 * (urand() - 0.5);
    acc = 0;
    for (size_t i = 0; i < nf; i++) acc = 0.7 * acc + f[i], g[i] = acc;
    ibex_surface *c = land(g, nf, 0, 1400, 200, 0, 2e-7);
    ibex__profile *pa = NULL, *pb = NULL, *pc = NULL;
    CHECK(ibex__profile_prepare(a, &pa, NULL) == IBEX_OK);
    CHECK(ibex__profile_prepare(b, &pb, NULL) == IBEX_OK);
    CHECK(ibex__profile_prepare(c, &pc, NULL) == IBEX_OK);
    ibex__ccf_result r;
    CHECK(ibex__ccf_compare(pa, pb, &r, NULL) == IBEX_OK);
    CHECK_MSG(r.ccf > 0.9, "ccf %g", r.ccf);
    /* b[j] is a[j + 160 points]: lag +250 um (b's point j lies against a's j + lag). */
    CHECK_MSG(fabs(r.lag - 160 * 1.5625e-6) <= 2.5e-6, "lag %g", r.lag);
    double rab = r.ccf;
    CHECK(ibex__ccf_compare(pa, pc, &r, NULL) == IBEX_OK);
    CHECK_MSG(r.ccf < rab - 0.3, "independent %g vs mate %g", r.ccf, rab);
    ibex__profile_free(pa), ibex__profile_free(pb), ibex__profile_free(pc);
    ibex_surface_free(a), ibex_surface_free(b), ibex_surface_free(c);
    free(f), free(g);
}

int main(void)
{
    test_ncc();
    test_ccf();
    return check_exit();
}
