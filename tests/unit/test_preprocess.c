/* Preprocessing: the band-pass transmits what the ISO 16610-61 Gaussian predicts (50% at
 * each cut-off), also with holes (normalised convolution); the robust plane is found despite
 * spikes, which are removed; processed scans are recognised; spacing is made common. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cmc_internal.h"
#include "ibex/compare.h"

#define ALPHA 0.46971863934982566 /* sqrt(ln 2 / pi) */

/* Transmission of a sine of wavelength lam by the band-pass (lam_s, lam_l). */
static double expected(double lam, double ls, double ll)
{
    double a = ALPHA * ls / lam, b = ALPHA * ll / lam;
    return exp(-M_PI * a * a) - exp(-M_PI * b * b);
}

static double measured(double lam, double holes)
{
    size_t nx = 1500, ny = 8;
    double dx = 2e-6;
    float *z = malloc(nx * ny * sizeof *z), *out = malloc(nx * ny * sizeof *out);
    unsigned char *m = malloc(nx * ny);
    srand(7);
    for (size_t y = 0; y < ny; y++)
        for (size_t x = 0; x < nx; x++) {
            size_t i = y * nx + x;
            z[i] = (float)(1e-6 * sin(2 * M_PI * (double)x * dx / lam));
            m[i] = rand() / (double)RAND_MAX >= holes;
        }
    CHECK(ibex__bandpass(z, m, nx, ny, dx, dx, 16e-6, 500e-6, out) == IBEX_OK);
    /* project the central millimetre (away from the edges) on sin and cos */
    double ss = 0, sc = 0, s2 = 0, c2 = 0;
    for (size_t y = 0; y < ny; y++)
        for (size_t x = 250; x < 1250; x++) {
            size_t i = y * nx + x;
            if (!m[i]) {
                CHECK(isnan(out[i]));
                continue;
            }
            double ph = 2 * M_PI * (double)x * dx / lam, sn = sin(ph), cs = cos(ph);
            ss += out[i] * sn;
            sc += out[i] * cs;
            s2 += sn * sn;
            c2 += cs * cs;
        }
    free(z);
    free(out);
    free(m);
    return hypot(ss / s2, sc / c2) / 1e-6;
}

static ibex_surface *plane_scan(size_t n, double dx, int cropped)
{
    ibex_surface *s;
    if (ibex_surface_create(n, n, dx, dx, &s)) return NULL;
    srand(3);
    double c = ((double)n - 1) / 2;
    for (size_t y = 0; y < n; y++)
        for (size_t x = 0; x < n; x++) {
            size_t i = y * n + x;
            if (cropped && hypot((double)x - c, (double)y - c) > 0.45 * (double)n) continue;
            /* plane 2e-3 in x, -1e-3 in y (m/m), texture 0.1 um, a few 50 um spikes */
            double v = 2e-3 * (double)x * dx - 1e-3 * (double)y * dx + 1e-7 * sin(0.9 * (double)x) * cos(0.7 * (double)y);
            if (rand() % 997 == 0) v += 5e-5;
            s->z[i] = (float)v;
            s->valid[i] = 1;
        }
    return s;
}

/* A breech face already cropped to a disc: band-limited texture (wavelengths ~50-150 um)
 * plus, when bowl > 0, a bowl of that depth (form, far beyond the 500 um cut-off). */
static ibex_surface *disc_scan(size_t n, double dx, double bowl)
{
    ibex_surface *s = NULL;
    CHECK(ibex_surface_create(n, n, dx, dx, &s) == IBEX_OK);
    double c = ((double)n - 1) / 2, R = 0.45 * (double)n;
    for (size_t y = 0; y < n; y++)
        for (size_t x = 0; x < n; x++) {
            size_t i = y * n + x;
            double r = hypot((double)x - c, (double)y - c);
            if (r > R) continue;
            double u = (double)x * dx, v = (double)y * dx;
            double t = 1e-6 * (sin(2 * M_PI * u / 80e-6) * cos(2 * M_PI * v / 110e-6) +
                               0.5 * sin(2 * M_PI * (u + v) / 150e-6));
            s->z[i] = (float)(t + bowl * (r / R) * (r / R));
            s->valid[i] = 1;
        }
    return s;
}

/* A raw-like scan (n x n at dx, every point valid): a flat textured primer face to radius
 * re about (cx, cy) (points), rounded into a 150 um deep gap down to re + 300 um, the
 * casing head 30 um above the face beyond re + 600 um, a 80 um deep firing-pin pit of
 * radius rp with a 40 um wall, and a 20 um tilt across the scan. */
static ibex_surface *raw_scan(size_t n, double dx, double cx, double cy, double re, double rp)
{
    ibex_surface *s = NULL;
    CHECK(ibex_surface_create(n, n, dx, dx, &s) == IBEX_OK);
    for (size_t y = 0; y < n; y++)
        for (size_t x = 0; x < n; x++) {
            size_t i = y * n + x;
            double u = (double)x * dx, v = (double)y * dx, r = hypot((double)x - cx, (double)y - cy) * dx;
            double z = 1e-6 * (sin(2 * M_PI * u / 80e-6) * cos(2 * M_PI * v / 110e-6) +
                               0.5 * sin(2 * M_PI * (u + v) / 150e-6));
            if (r < rp) z -= 80e-6;
            else if (r < rp + 40e-6) z -= 80e-6 * (1 - (r - rp) / 40e-6);
            double g = (r - re) / 300e-6;
            if (r > re && r <= re + 300e-6) z -= 150e-6 * g * g;
            else if (r > re + 300e-6 && r <= re + 400e-6) z -= 150e-6;
            else if (r > re + 400e-6 && r <= re + 600e-6) z += -150e-6 + 180e-6 * (r - re - 400e-6) / 200e-6;
            else if (r > re + 600e-6) z += 30e-6;
            s->z[i] = (float)(z + 20e-6 * (double)x / (double)n);
            s->valid[i] = 1;
        }
    return s;
}

int main(void)
{
    const double lams[] = {16e-6, 50e-6, 100e-6, 200e-6, 500e-6, 1000e-6};
    for (size_t k = 0; k < sizeof lams / sizeof *lams; k++) {
        double e = expected(lams[k], 16e-6, 500e-6), g = measured(lams[k], 0), h = measured(lams[k], 0.1);
        fprintf(stderr, "lambda %4.0f um: expected %.3f, measured %.3f, with 10%% holes %.3f\n",
                lams[k] * 1e6, e, g, h);
        CHECK_NEAR(g, e, 0.03);
        CHECK_NEAR(h, e, 0.03);
    }

    /* robust plane and spikes, full pipeline without the band-pass */
    ibex_preprocess_opts o;
    ibex_preprocess_opts_init(&o);
    o.mode = IBEX_PREPROCESS_FULL;
    o.lambda_short = o.lambda_long = 0;
    o.crop_exterior = o.remove_firing_pin = 0;
    ibex_surface *s = plane_scan(300, 6.25e-6, 0), *p = NULL;
    ibex_preprocess_info info;
    ibex_diag d;
    CHECK(ibex_preprocess(s, &o, &p, &info, &d) == IBEX_OK);
    fprintf(stderr, "plane %.4g %.4g, %zu outliers: %s\n", info.plane[1], info.plane[2],
            info.outliers, info.steps);
    CHECK_NEAR(info.plane[1], 2e-3, 2e-5);
    CHECK_NEAR(info.plane[2], -1e-3, 2e-5);
    CHECK(info.outliers >= 60 && info.outliers <= 120); /* ~90 spikes planted */
    ibex_surface_stats st;
    if (p) {
        ibex_surface_get_stats(p, &st);
        CHECK(st.zmax < 1e-6 && st.zmin > -1e-6); /* spikes and tilt gone, texture left */
        CHECK(st.zrms > 2e-8);
    }
    ibex_surface_free(p);
    ibex_surface_free(s);

    /* processed (cropped, at 6.25 um) versus raw (valid border) */
    ibex_preprocess_opts_init(&o);
    s = plane_scan(200, 6.25e-6, 1);
    CHECK(ibex_preprocess(s, &o, &p, &info, &d) == IBEX_OK && info.already_processed == 1);
    ibex_surface_free(p);
    ibex_surface_free(s);
    s = plane_scan(200, 6.25e-6, 0);
    CHECK(ibex_preprocess(s, &o, &p, &info, &d) == IBEX_OK && info.already_processed == 0);
    ibex_surface_free(p);
    ibex_surface_free(s);

    /* a 3.125 um raw scan comes out at 6.25 um */
    s = plane_scan(400, 3.125e-6, 0);
    CHECK(ibex_preprocess(s, &o, &p, &info, &d) == IBEX_OK);
    CHECK(p && fabs(p->dx - 6.25e-6) < 1e-12 && fabs(info.spacing_out - 6.25e-6) < 1e-12);
    CHECK(p && p->nx <= 201 && p->nx >= 150);
    fprintf(stderr, "raw 3.125 um: %s\n", info.steps);
    ibex_surface_free(p);
    ibex_surface_free(s);

    /* what a scan needs comes from its content, not its spacing: a cropped band-limited
     * disc at 7.4 um is only levelled and keeps its spacing (never upsampled to 6.25) */
    ibex_preprocess_opts_init(&o);
    s = disc_scan(300, 7.4e-6, 0);
    CHECK(ibex_preprocess(s, &o, &p, &info, &d) == IBEX_OK);
    fprintf(stderr, "cropped band-limited 7.4 um: %s\n", info.steps);
    CHECK(info.cropped == 1 && info.band_limited == 1 && info.already_processed == 1);
    CHECK(info.long_wave_fraction < 0.2);
    CHECK(p && fabs(p->dx - 7.4e-6) < 1e-12 && strstr(info.steps, "band-pass") == NULL);
    ibex_surface_free(p);
    ibex_surface_free(s);
    /* the same disc with a 30 um bowl left in it: cropped but not filtered, so band-passed */
    s = disc_scan(300, 7.4e-6, 30e-6);
    CHECK(ibex_preprocess(s, &o, &p, &info, &d) == IBEX_OK);
    fprintf(stderr, "cropped with form: %s\n", info.steps);
    CHECK(info.cropped == 1 && info.band_limited == 0 && info.already_processed == 0);
    CHECK(info.long_wave_fraction > 0.8);
    CHECK(strstr(info.steps, "band-pass") != NULL && strstr(info.steps, "exterior") == NULL);
    ibex_surface_free(p);
    ibex_surface_free(s);

    /* a raw scan: primer edge and firing-pin pit found about the primer's centre */
    {
        ibex_preprocess_opts ro;
        ibex_preprocess_opts_init(&ro);
        ro.mode = IBEX_PREPROCESS_FULL;
        ro.lambda_short = ro.lambda_long = 0;
        double rdx = 7.4e-6, rcx = 330, rcy = 310, re = 1.6e-3, rp = 0.5e-3;
        ibex_surface *rs = raw_scan(640, rdx, rcx, rcy, re, rp), *rpp = NULL;
        CHECK(ibex_preprocess(rs, &ro, &rpp, &info, &d) == IBEX_OK);
        fprintf(stderr, "raw: %s\n", info.steps);
        fprintf(stderr, "raw: centre (%.0f, %.0f) um, exterior r %.0f um, firing pin r %.0f um\n",
                info.centre_x * 1e6, info.centre_y * 1e6, info.r_outer * 1e6, info.r_firing_pin * 1e6);
        CHECK(info.cropped == 0);
        CHECK_NEAR(info.centre_x, rcx * rdx, 30e-6);
        CHECK_NEAR(info.centre_y, rcy * rdx, 30e-6);
        /* edge: where the rounded edge leaves the face by 10 um (+77 um), less the 40 um margin */
        CHECK_NEAR(info.r_outer, re + 37e-6, 60e-6);
        /* firing pin: the pit's wall (0.5-0.54 mm) plus the 40 um margin */
        CHECK_NEAR(info.r_firing_pin, rp + 70e-6, 60e-6);
        /* kept: the annulus between them, about pi (1.64^2 - 0.57^2) mm^2 */
        double kept = info.valid_fraction * (double)rpp->nx * (double)rpp->ny * rpp->dx * rpp->dy;
        double ring = M_PI * ((re + 37e-6) * (re + 37e-6) - (rp + 70e-6) * (rp + 70e-6));
        fprintf(stderr, "raw: kept %.3f mm^2, annulus %.3f mm^2\n", kept * 1e6, ring * 1e6);
        CHECK_NEAR(kept / ring, 1, 0.1);
        ibex_surface_free(rpp);
        ibex_surface_free(rs);
    }

    /* one spacing for a pair: the coarser of the target and the scans; within 1 % = target */
    ibex_surface *f = disc_scan(40, 3.125e-6, 0), *g = disc_scan(40, 7.4e-6, 0),
                 *h = disc_scan(40, 6.2e-6, 0);
    CHECK_NEAR(ibex_preprocess_pair_spacing(f, f, &o), 6.25e-6, 1e-15);
    CHECK_NEAR(ibex_preprocess_pair_spacing(f, g, &o), 7.4e-6, 1e-15);
    CHECK_NEAR(ibex_preprocess_pair_spacing(g, h, NULL), 7.4e-6, 1e-15);
    CHECK_NEAR(ibex_preprocess_pair_spacing(h, f, &o), 6.25e-6, 1e-15);
    ibex_surface_free(f);
    ibex_surface_free(g);
    ibex_surface_free(h);
    return check_exit();
}
