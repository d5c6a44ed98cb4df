/* Analytic test surfaces for the CMC tests: a band-limited random texture and an
 * annulus-masked casing-like surface evaluated from it at any rotation and shift, so a
 * "rotated copy" is exact rather than resampled. */
#ifndef IBEX_TEST_WAVE_FIXTURE_H
#define IBEX_TEST_WAVE_FIXTURE_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "ibex/surface.h"

#define NW 48
static double wa[NW], wu[NW], wv[NW], wp[NW];

static uint64_t rs = 88172645463325252ULL;
static double rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (double)(rs >> 11) / 9007199254740992.0;
}

/* Band-limited random texture, wavelengths 2.5..6 points: fine enough that a cell rotated by
 * one or two grid steps no longer correlates (as breech-face marks after a 16 um short
 * cut-off at 6.25 um), coarse enough for bilinear rotation. */
static void make_waves(void)
{
    for (int k = 0; k < NW; k++) {
        double lam = 2.5 + 3.5 * rnd(), ang = 2 * M_PI * rnd();
        wu[k] = cos(ang) / lam;
        wv[k] = sin(ang) / lam;
        wa[k] = 0.5 + rnd();
        wp[k] = 2 * M_PI * rnd();
    }
}

static double f(double x, double y)
{
    double s = 0;
    for (int k = 0; k < NW; k++) s += wa[k] * sin(2 * M_PI * (wu[k] * x + wv[k] * y) + wp[k]);
    return s * 1e-6;
}

/* Annulus mask (breech face around a firing-pin hole) in the surface's own frame. */
static int inside(double x, double y, double c)
{
    double r = hypot(x - c, y - c);
    return r > 0.18 * 2 * c && r < 0.98 * c;
}

/* B(q) = f(R(phi)(q - c) + c + t), mask moved the same way. */
static ibex_surface *make(size_t n, double phi_deg, double tx, double ty)
{
    ibex_surface *s;
    if (ibex_surface_create(n, n, 6.25e-6, 6.25e-6, &s)) return NULL;
    double c = ((double)n - 1) / 2, ph = phi_deg * M_PI / 180, co = cos(ph), si = sin(ph);
    for (size_t y = 0; y < n; y++)
        for (size_t x = 0; x < n; x++) {
            double ux = (double)x - c, uy = (double)y - c;
            double px = co * ux - si * uy + c + tx, py = si * ux + co * uy + c + ty;
            size_t i = y * n + x;
            if (inside(px, py, c)) {
                s->z[i] = (float)f(px, py);
                s->valid[i] = 1;
            }
        }
    return s;
}

#endif
