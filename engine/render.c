/* Pictures of surfaces for people: a perceptual colour map, hill-shaded relief, grey levels.
 * Pure computation; io/png.c writes the result. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ibex/image.h"
#include "ibex_internal.h"

void ibex_render_opts_init(ibex_render_opts *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->style = IBEX_RENDER_COLOUR;
    o->max_side = 0;
    o->clip_quantile = 0.01;
    /* Muted brick red: outside the blue-teal-yellow map and the grey/shaded range. */
    o->invalid_rgb[0] = 150;
    o->invalid_rgb[1] = 60;
    o->invalid_rgb[2] = 60;
}

/* ---- colour map ----
 * IBEX's own map: CIELAB lightness rises linearly from 12 to 91 (so equal height steps
 * look like equal steps, and the map reads correctly in grey), while hue runs dark blue ->
 * blue -> teal -> green -> yellow through five (a*, b*) control points joined by a
 * Catmull-Rom spline. Every point of the curve lies inside the sRGB gamut. */
#define MAP_N 256
static const double MAP_L0 = 12.0, MAP_L1 = 91.0;
static const double MAP_AB[5][2] = {{22, -38}, {12, -42}, {-26, -12}, {-38, 36}, {-10, 76}};

static double catmull_rom(double p0, double p1, double p2, double p3, double u)
{
    return 0.5 * (2 * p1 + (p2 - p0) * u + (2 * p0 - 5 * p1 + 4 * p2 - p3) * u * u +
                  (3 * p1 - p0 - 3 * p2 + p3) * u * u * u);
}

static double lab_finv(double f)
{
    const double d = 6.0 / 29.0;
    return f > d ? f * f * f : 3 * d * d * (f - 4.0 / 29.0);
}

static unsigned char srgb_encode(double c)
{
    c = c <= 0.0031308 ? 12.92 * c : 1.055 * pow(c, 1 / 2.4) - 0.055;
    c = floor(c * 255 + 0.5);
    return (unsigned char)(c < 0 ? 0 : c > 255 ? 255 : c);
}

/* CIELAB (D65 white) to 8-bit sRGB (IEC 61966-2-1 matrix). */
static void lab_to_srgb(double L, double a, double b, unsigned char rgb[3])
{
    double fy = (L + 16) / 116, fx = fy + a / 500, fz = fy - b / 200;
    double X = 0.95047 * lab_finv(fx), Y = lab_finv(fy), Z = 1.08883 * lab_finv(fz);
    rgb[0] = srgb_encode(3.2406 * X - 1.5372 * Y - 0.4986 * Z);
    rgb[1] = srgb_encode(-0.9689 * X + 1.8758 * Y + 0.0415 * Z);
    rgb[2] = srgb_encode(0.0557 * X - 0.2040 * Y + 1.0570 * Z);
}

static void build_map(unsigned char map[MAP_N][3])
{
    for (int i = 0; i < MAP_N; i++) {
        double t = (double)i / (MAP_N - 1), seg = t * 4;
        int k = seg >= 4 ? 3 : (int)seg;
        double u = seg - k;
        const double *p0 = MAP_AB[k > 0 ? k - 1 : 0], *p1 = MAP_AB[k], *p2 = MAP_AB[k + 1],
                     *p3 = MAP_AB[k + 2 <= 4 ? k + 2 : 4];
        double a = catmull_rom(p0[0], p1[0], p2[0], p3[0], u);
        double b = catmull_rom(p0[1], p1[1], p2[1], p3[1], u);
        lab_to_srgb(MAP_L0 + (MAP_L1 - MAP_L0) * t, a, b, map[i]);
    }
}

/* ---- robust range ---- */

/* Values at quantiles q and 1-q (nearest rank, index round(q*(n-1))) of the valid points. */
static ibex_status robust_range(const float *val, const uint8_t *ok, size_t n, double q, double *lo,
                                double *hi)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) m += ok[i];
    *lo = *hi = 0;
    if (m == 0) return IBEX_OK;
    float *tmp = malloc(m * sizeof *tmp);
    if (!tmp) return IBEX_ERR_NOMEM;
    for (size_t i = 0, j = 0; i < n; i++)
        if (ok[i]) tmp[j++] = val[i];
    size_t klo = (size_t)floor(q * (double)(m - 1) + 0.5);
    size_t khi = (size_t)floor((1 - q) * (double)(m - 1) + 0.5);
    *lo = ibex__select_k(tmp, m, klo);
    *hi = ibex__select_k(tmp, m, khi);
    free(tmp);
    return IBEX_OK;
}

/* v in [lo, hi] to 0..1, clamped; 0.5 for a flat range. */
static double unit(double v, double lo, double hi)
{
    if (!(hi > lo)) return 0.5;
    double t = (v - lo) / (hi - lo);
    return t < 0 ? 0 : t > 1 ? 1 : t;
}

/* ---- downscaling ---- */

typedef struct grid {
    size_t nx, ny;
    double dx, dy;
    float *z;       /* owned when own */
    uint8_t *valid;
    int own;
} grid;

/* Mean of the valid points of each f x f block; a block is valid when at least half of its
 * points are, so the outline of the valid area neither grows nor shrinks on average. */
static ibex_status downscale(const ibex_surface *s, size_t f, grid *g)
{
    g->nx = (s->nx + f - 1) / f;
    g->ny = (s->ny + f - 1) / f;
    g->dx = s->dx * (double)f;
    g->dy = s->dy * (double)f;
    g->own = 1;
    size_t n = g->nx * g->ny;
    g->z = malloc(n * sizeof *g->z);
    g->valid = malloc(n);
    if (!g->z || !g->valid) return IBEX_ERR_NOMEM;
    for (size_t by = 0; by < g->ny; by++)
        for (size_t bx = 0; bx < g->nx; bx++) {
            size_t y0 = by * f, x0 = bx * f;
            size_t y1 = y0 + f < s->ny ? y0 + f : s->ny, x1 = x0 + f < s->nx ? x0 + f : s->nx;
            double sum = 0;
            size_t cnt = 0;
            for (size_t y = y0; y < y1; y++)
                for (size_t x = x0; x < x1; x++) {
                    size_t i = y * s->nx + x;
                    if (s->valid[i]) {
                        sum += s->z[i];
                        cnt++;
                    }
                }
            size_t area = (y1 - y0) * (x1 - x0), o = by * g->nx + bx;
            int ok = cnt > 0 && 2 * cnt >= area;
            g->valid[o] = (uint8_t)ok;
            g->z[o] = ok ? (float)(sum / (double)cnt) : NAN;
        }
    return IBEX_OK;
}

/* ---- hill shading ---- */

/* dz per metre along one axis at point i from central differences, one-sided next to an edge
 * or an invalid neighbour, 0 with neither neighbour. */
static double slope(const grid *g, size_t i, int has_prev, int has_next, size_t step, double h)
{
    int p = has_prev && g->valid[i - step], n = has_next && g->valid[i + step];
    if (p && n) return (g->z[i + step] - g->z[i - step]) / (2 * h);
    if (n) return (g->z[i + step] - g->z[i]) / h;
    if (p) return (g->z[i] - g->z[i - step]) / h;
    return 0;
}

/* Lambertian shade of each valid point under a light from the upper left (azimuth 315 deg,
 * image y pointing down) at 45 deg elevation, as in cartographic hill shading (Horn 1981).
 * Toolmark relief is a few micrometres over millimetres, so slopes are first exaggerated:
 * the median slope becomes 1/4 (about 14 deg), which keeps fine marks visible on any scan
 * without throwing the steeper half into black shadow. */
static ibex_status hillshade(const grid *g, float *shade)
{
    size_t n = g->nx * g->ny;
    float *gx = malloc(n * sizeof *gx), *gy = malloc(n * sizeof *gy), *mag = malloc(n * sizeof *mag);
    ibex_status st = IBEX_OK;
    if (!gx || !gy || !mag) {
        st = IBEX_ERR_NOMEM;
        goto done;
    }
    for (size_t y = 0; y < g->ny; y++)
        for (size_t x = 0; x < g->nx; x++) {
            size_t i = y * g->nx + x;
            if (!g->valid[i]) {
                gx[i] = gy[i] = mag[i] = 0;
                continue;
            }
            gx[i] = (float)slope(g, i, x > 0, x + 1 < g->nx, 1, g->dx);
            gy[i] = (float)slope(g, i, y > 0, y + 1 < g->ny, g->nx, g->dy);
            mag[i] = hypotf(gx[i], gy[i]);
        }
    double med, med_hi;
    if ((st = robust_range(mag, g->valid, n, 0.5, &med, &med_hi))) goto done;
    double k = med > 0 ? 0.25 / med : 1.0;
    const double el = 45 * M_PI / 180, lx = -cos(el) * M_SQRT1_2, ly = -cos(el) * M_SQRT1_2,
                 lz = sin(el);
    for (size_t i = 0; i < n; i++) {
        if (!g->valid[i]) {
            shade[i] = NAN;
            continue;
        }
        /* normal of z = f(x, y): (-k fx, -k fy, 1) / norm */
        double nx = -k * gx[i], ny = -k * gy[i], nz = 1, nn = sqrt(nx * nx + ny * ny + 1);
        double d = (nx * lx + ny * ly + nz * lz) / nn;
        shade[i] = (float)(d > 0 ? d : 0);
    }
done:
    free(gx);
    free(gy);
    free(mag);
    return st;
}

/* ---- render ---- */

ibex_status ibex_surface_render(const ibex_surface *s, const ibex_render_opts *o, ibex_image **out)
{
    ibex_render_opts def;
    ibex_render_opts_init(&def);
    if (!ibex__opts_merge(&def, sizeof def, o)) return IBEX_ERR_ARG; /* struct_size not set */
    o = &def;
    if (!s || !out || !s->z || !s->valid || s->nx == 0 || s->ny == 0 || !(o->clip_quantile >= 0) ||
        !(o->clip_quantile < 0.5) ||
        (o->style != IBEX_RENDER_COLOUR && o->style != IBEX_RENDER_SHADED &&
         o->style != IBEX_RENDER_GREY))
        return IBEX_ERR_ARG;
    size_t side = s->nx > s->ny ? s->nx : s->ny, f = 1;
    if (o->max_side > 0 && side > o->max_side) f = (side + o->max_side - 1) / o->max_side;

    grid g = {s->nx, s->ny, s->dx, s->dy, s->z, s->valid, 0};
    float *shade = NULL;
    ibex_image *im = NULL;
    ibex_status st = IBEX_OK;
    if (f > 1 && (st = downscale(s, f, &g))) goto done;
    size_t n = g.nx * g.ny;
    if ((st = ibex_image_create(g.nx, g.ny, &im))) goto done;

    double zlo, zhi, slo = 0, shi = 0;
    if ((st = robust_range(g.z, g.valid, n, o->clip_quantile, &zlo, &zhi))) goto done;
    if (o->style == IBEX_RENDER_SHADED) {
        if (!(shade = malloc(n * sizeof *shade))) {
            st = IBEX_ERR_NOMEM;
            goto done;
        }
        if ((st = hillshade(&g, shade))) goto done;
        if ((st = robust_range(shade, g.valid, n, o->clip_quantile, &slo, &shi))) goto done;
    }
    unsigned char map[MAP_N][3];
    build_map(map);
    /* Shaded: the relief carries the picture; the height colour only tints it (30 %). */
    const double tint = 0.3;
    for (size_t i = 0; i < n; i++) {
        unsigned char *px = im->rgb + 3 * i;
        if (!g.valid[i]) {
            memcpy(px, o->invalid_rgb, 3);
            continue;
        }
        double t = unit(g.z[i], zlo, zhi);
        int k = (int)floor(t * (MAP_N - 1) + 0.5);
        switch (o->style) {
        case IBEX_RENDER_COLOUR: memcpy(px, map[k], 3); break;
        case IBEX_RENDER_GREY: px[0] = px[1] = px[2] = (unsigned char)floor(t * 255 + 0.5); break;
        case IBEX_RENDER_SHADED: {
            double l = unit(shade[i], slo, shi);
            for (int c = 0; c < 3; c++) {
                double v = 255 * l * ((1 - tint) + tint * map[k][c] / 255.0);
                px[c] = (unsigned char)floor(v + 0.5);
            }
            break;
        }
        }
    }
done:
    if (g.own) {
        free(g.z);
        free(g.valid);
    }
    free(shade);
    if (st) {
        ibex_image_free(im);
        return st;
    }
    *out = im;
    return IBEX_OK;
}
