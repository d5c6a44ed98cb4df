/* Rendering: the colour map's lightness rises monotonically along a height ramp (CIELAB L*
 * computed here from the sRGB output), grey levels and downscaling match a naive reference,
 * hill shading is lit from the upper left, and image paste/rect clip as a per-pixel
 * definition says. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ibex/ibex.h"

/* CIELAB L* of an 8-bit sRGB colour (IEC 61966-2-1, D65). */
static double lightness(const unsigned char *p)
{
    double lin[3];
    for (int c = 0; c < 3; c++) {
        double v = p[c] / 255.0;
        lin[c] = v <= 0.04045 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4);
    }
    double Y = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
    return Y > 216.0 / 24389 ? 116 * cbrt(Y) - 16 : Y * 24389.0 / 27;
}

static ibex_surface *ramp(size_t nx, size_t ny)
{
    ibex_surface *s = NULL;
    if (ibex_surface_create(nx, ny, 1e-6, 1e-6, &s)) return NULL;
    for (size_t y = 0; y < ny; y++)
        for (size_t x = 0; x < nx; x++) s->z[y * nx + x] = (float)(x * 1e-7);
    ibex_surface_sync_mask(s);
    return s;
}

static ibex_image *render(const ibex_surface *s, ibex_render_style style, double clip, size_t max_side)
{
    ibex_render_opts o;
    ibex_render_opts_init(&o);
    o.style = style;
    o.clip_quantile = clip;
    o.max_side = max_side;
    ibex_image *im = NULL;
    ibex_status st = ibex_surface_render(s, &o, &im);
    CHECK_MSG(st == IBEX_OK, "render: %s", ibex_strerror(st));
    return im;
}

static void test_colour_ramp(void)
{
    ibex_surface *s = ramp(256, 3);
    ibex_image *im = s ? render(s, IBEX_RENDER_COLOUR, 0, 0) : NULL;
    if (!im) goto out;
    CHECK(im->w == 256 && im->h == 3);
    double L[256];
    int dips = 0, flat8 = 0;
    for (int x = 0; x < 256; x++) L[x] = lightness(im->rgb + 3 * (size_t)(256 + x)); /* row 1 */
    for (int x = 1; x < 256; x++)
        if (L[x] < L[x - 1] - 0.5) dips++; /* 8-bit rounding moves L* by < 0.5 */
    for (int x = 8; x < 256; x++)
        if (!(L[x] > L[x - 8])) flat8++;
    CHECK_MSG(dips == 0, "%d lightness reversals along the ramp", dips);
    CHECK_MSG(flat8 == 0, "%d places where 8 steps do not raise lightness", flat8);
    CHECK_MSG(L[0] < 20 && L[255] > 85, "lightness %g..%g", L[0], L[255]);
    /* Roughly linear in lightness: the middle sits near the middle. */
    CHECK_NEAR(L[128], (L[0] + L[255]) / 2, 4);
    const unsigned char *lo = im->rgb + 3 * 256, *mid = im->rgb + 3 * (256 + 128),
                        *hi = im->rgb + 3 * (256 + 255);
    CHECK_MSG(lo[2] > lo[0] + 30 && lo[2] > lo[1] + 30, "low end is dark blue: %d,%d,%d", lo[0], lo[1], lo[2]);
    CHECK_MSG(mid[1] > mid[0] + 50 && mid[2] > mid[0] + 50, "middle is teal: %d,%d,%d", mid[0], mid[1], mid[2]);
    CHECK_MSG(hi[0] > hi[2] + 100 && hi[1] > hi[2] + 100, "high end is yellow: %d,%d,%d", hi[0], hi[1], hi[2]);
    /* Every row of a ramp along x is the same. */
    CHECK(memcmp(im->rgb, im->rgb + 3 * 256, 3 * 256) == 0);
out:
    ibex_image_free(im);
    ibex_surface_free(s);
}

/* With clip q the range is the nearest-rank quantiles: the lowest q of the points share the
 * lowest colour and the highest q the highest. */
static void test_clip(void)
{
    ibex_surface *s = ramp(101, 1);
    ibex_image *im = s ? render(s, IBEX_RENDER_GREY, 0.05, 0) : NULL;
    if (im) {
        for (int x = 0; x <= 5; x++) CHECK(im->rgb[3 * x] == 0);
        CHECK(im->rgb[3 * 6] > 0);
        for (int x = 95; x <= 100; x++) CHECK(im->rgb[3 * x] == 255);
        CHECK(im->rgb[3 * 94] < 255);
    }
    ibex_image_free(im);
    ibex_surface_free(s);
}

static void test_grey_and_invalid(void)
{
    ibex_surface *s = NULL;
    if (ibex_surface_create(17, 11, 2e-6, 2e-6, &s)) return;
    srand(7);
    for (size_t i = 0; i < 17 * 11; i++)
        s->z[i] = (i % 13 == 5) ? NAN : (float)((rand() % 100000) * 1e-11);
    ibex_surface_sync_mask(s);
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < 17 * 11; i++)
        if (s->valid[i]) lo = fmin(lo, s->z[i]), hi = fmax(hi, s->z[i]);
    ibex_render_opts o;
    ibex_render_opts_init(&o);
    o.style = IBEX_RENDER_GREY;
    o.clip_quantile = 0;
    o.invalid_rgb[0] = 1, o.invalid_rgb[1] = 2, o.invalid_rgb[2] = 3;
    ibex_image *im = NULL;
    CHECK(ibex_surface_render(s, &o, &im) == IBEX_OK);
    int bad = 0;
    for (size_t i = 0; im && i < 17 * 11; i++) {
        const unsigned char *p = im->rgb + 3 * i;
        if (!s->valid[i]) {
            if (p[0] != 1 || p[1] != 2 || p[2] != 3) bad++;
            continue;
        }
        unsigned char g = (unsigned char)floor(((double)s->z[i] - lo) / (hi - lo) * 255 + 0.5);
        if (p[0] != g || p[1] != g || p[2] != g) bad++;
    }
    CHECK_MSG(bad == 0, "%d grey pixels differ from the reference", bad);
    ibex_image_free(im);

    /* Flat and all-invalid surfaces render without dividing by zero. */
    for (size_t i = 0; i < 17 * 11; i++) s->z[i] = 1e-6f;
    ibex_surface_sync_mask(s);
    im = render(s, IBEX_RENDER_SHADED, 0.01, 0);
    if (im)
        for (size_t i = 1; i < 17 * 11; i++) CHECK(memcmp(im->rgb, im->rgb + 3 * i, 3) == 0);
    ibex_image_free(im);
    for (size_t i = 0; i < 17 * 11; i++) s->z[i] = NAN;
    ibex_surface_sync_mask(s);
    ibex_render_opts_init(&o);
    im = NULL;
    CHECK(ibex_surface_render(s, &o, &im) == IBEX_OK);
    if (im) CHECK(memcmp(im->rgb + 3 * 50, o.invalid_rgb, 3) == 0);
    ibex_image_free(im);
    o.clip_quantile = 0.5;
    im = NULL;
    CHECK(ibex_surface_render(s, &o, &im) == IBEX_ERR_ARG && im == NULL);
    CHECK(ibex_surface_render(NULL, NULL, &im) == IBEX_ERR_ARG);
    ibex_surface_free(s);
}

/* Block means of valid points (a block needs half its points valid), against a naive loop. */
static void test_downscale(void)
{
    const size_t nx = 53, ny = 31, f = 6; /* max_side 9 -> factor ceil(53/9) = 6 -> 9 x 6 */
    ibex_surface *s = NULL;
    if (ibex_surface_create(nx, ny, 1e-6, 2e-6, &s)) return;
    for (size_t y = 0; y < ny; y++)
        for (size_t x = 0; x < nx; x++) {
            int hole = (x < 12 && y < 6 && (x + y) % 4 != 0) || (x >= 24 && x < 30 && y >= 12 && y < 18 && x % 3 == 0);
            s->z[y * nx + x] = hole ? NAN : (float)((double)(x * x % 17) * 1e-7 + (double)y * 3e-8);
        }
    ibex_surface_sync_mask(s);
    ibex_image *im = render(s, IBEX_RENDER_GREY, 0, 9);
    if (!im) goto out;
    size_t bw = (nx + f - 1) / f, bh = (ny + f - 1) / f;
    CHECK(im->w == bw && im->h == bh);
    double mean[9 * 6];
    int ok[9 * 6];
    double lo = INFINITY, hi = -INFINITY;
    for (size_t by = 0; by < bh; by++)
        for (size_t bx = 0; bx < bw; bx++) {
            double sum = 0;
            size_t cnt = 0, area = 0;
            for (size_t y = by * f; y < by * f + f && y < ny; y++)
                for (size_t x = bx * f; x < bx * f + f && x < nx; x++) {
                    area++;
                    if (s->valid[y * nx + x]) sum += s->z[y * nx + x], cnt++;
                }
            size_t o = by * bw + bx;
            ok[o] = cnt > 0 && 2 * cnt >= area;
            mean[o] = ok[o] ? (double)(float)(sum / (double)cnt) : 0;
            if (ok[o]) lo = fmin(lo, mean[o]), hi = fmax(hi, mean[o]);
        }
    ibex_render_opts def;
    ibex_render_opts_init(&def);
    int bad = 0, n_invalid = 0;
    for (size_t o = 0; o < bw * bh; o++) {
        const unsigned char *p = im->rgb + 3 * o;
        if (!ok[o]) {
            n_invalid++;
            if (memcmp(p, def.invalid_rgb, 3) != 0) bad++;
            continue;
        }
        unsigned char g = (unsigned char)floor((mean[o] - lo) / (hi - lo) * 255 + 0.5);
        if (p[0] != g) bad++;
    }
    CHECK_MSG(bad == 0, "%d downscaled pixels differ from the block means", bad);
    CHECK(n_invalid == 2); /* blocks (0,0), (1,0) are 3/4 holes; block (4,2) only 1/3 */
out:
    ibex_image_free(im);
    ibex_surface_free(s);
}

/* Mean luminance of the pixels in [x0,x1) x [y0,y1). */
static double region(const ibex_image *im, size_t x0, size_t x1, size_t y0, size_t y1)
{
    double sum = 0;
    for (size_t y = y0; y < y1; y++)
        for (size_t x = x0; x < x1; x++) sum += lightness(im->rgb + 3 * (y * im->w + x));
    return sum / (double)((x1 - x0) * (y1 - y0));
}

/* A pyramid: its upper-left face looks at the light, its lower-right face away, and the other
 * two faces are lit alike. Image row 0 is the top. */
static void test_shading(void)
{
    const size_t n = 64;
    ibex_surface *s = NULL;
    if (ibex_surface_create(n, n, 1e-6, 1e-6, &s)) return;
    for (size_t y = 0; y < n; y++)
        for (size_t x = 0; x < n; x++) {
            double ax = fabs((double)x - 31.5), ay = fabs((double)y - 31.5);
            /* a little texture so the slope distribution is not degenerate */
            s->z[y * n + x] = (float)(-(ax > ay ? ax : ay) * 2e-7 + ((x * 7 + y * 3) % 5) * 1e-9);
        }
    ibex_surface_sync_mask(s);
    ibex_image *im = render(s, IBEX_RENDER_SHADED, 0.01, 0);
    if (im) {
        /* face interiors: the triangle of each side, sampled away from the diagonals */
        double top = region(im, 24, 40, 2, 10), left = region(im, 2, 10, 24, 40);
        double bottom = region(im, 24, 40, 54, 62), right = region(im, 54, 62, 24, 40);
        CHECK_MSG(top > bottom + 20 && left > right + 20, "top %g left %g bottom %g right %g", top,
                  left, bottom, right);
        CHECK_NEAR(top, left, 3);
        CHECK_NEAR(bottom, right, 3);
    }
    ibex_image_free(im);
    ibex_surface_free(s);
}

static void fill_pattern(ibex_image *im, int seed)
{
    for (size_t i = 0; i < im->w * im->h * 3; i++) im->rgb[i] = (unsigned char)(i * 31 + (size_t)seed * 7);
}

static void test_paste_rect(void)
{
    ibex_image *dst = NULL, *src = NULL, *ref = NULL;
    CHECK(ibex_image_create(23, 17, &dst) == IBEX_OK);
    CHECK(ibex_image_create(9, 6, &src) == IBEX_OK);
    CHECK(ibex_image_create(23, 17, &ref) == IBEX_OK);
    if (!dst || !src || !ref) goto out;
    CHECK(dst->rgb[0] == 0 && dst->rgb[3 * 23 * 17 - 1] == 0); /* created black */
    ibex_image_fill(dst, 4, 5, 6);
    CHECK(dst->rgb[3 * 100] == 4 && dst->rgb[3 * 100 + 1] == 5 && dst->rgb[3 * 100 + 2] == 6);
    fill_pattern(src, 1);
    const long pos[][2] = {{0, 0}, {3, 4}, {-4, -2}, {20, 14}, {-9, 0}, {23, 0}, {5, -6},
                           {-100000, 3}, {LONG_MAX / 2, 1}, {LONG_MIN / 2, LONG_MIN / 2}, {14, 11}};
    int bad = 0;
    for (size_t k = 0; k < sizeof pos / sizeof pos[0]; k++) {
        long px = pos[k][0], py = pos[k][1];
        fill_pattern(dst, 2);
        memcpy(ref->rgb, dst->rgb, 23 * 17 * 3);
        for (long y = 0; y < 17; y++)
            for (long x = 0; x < 23; x++) {
                long long sx = (long long)x - px, sy = (long long)y - py;
                if (sx >= 0 && sy >= 0 && sx < 9 && sy < 6)
                    memcpy(ref->rgb + 3 * (y * 23 + x), src->rgb + 3 * (sy * 9 + sx), 3);
            }
        ibex_image_paste(dst, src, px, py);
        if (memcmp(dst->rgb, ref->rgb, 23 * 17 * 3) != 0) bad++, fprintf(stderr, "paste at %ld,%ld\n", px, py);
    }
    CHECK_MSG(bad == 0, "%d paste positions differ from the definition", bad);

    const long rects[][4] = {{2, 3, 5, 4}, {0, 0, 23, 17}, {-3, -3, 10, 10}, {20, 15, 10, 10},
                             {5, 5, 1, 1}, {5, 5, 0, 3}, {5, 5, 3, -1}, {-50, 4, 200, 3},
                             {30, 2, 4, 4}, {-1000000000L, -1000000000L, 2000000010L, 2000000010L}};
    bad = 0;
    for (size_t k = 0; k < sizeof rects / sizeof rects[0]; k++) {
        long rx = rects[k][0], ry = rects[k][1], rw = rects[k][2], rh = rects[k][3];
        fill_pattern(dst, 3);
        memcpy(ref->rgb, dst->rgb, 23 * 17 * 3);
        for (long long y = 0; y < 17; y++)
            for (long long x = 0; x < 23; x++) {
                long long x1 = (long long)rx + rw - 1, y1 = (long long)ry + rh - 1;
                int in_x = x >= rx && x <= x1, in_y = y >= ry && y <= y1;
                int edge = rw > 0 && rh > 0 && ((in_y && (x == rx || x == x1)) || (in_x && (y == ry || y == y1)));
                if (edge) {
                    unsigned char *p = ref->rgb + 3 * (y * 23 + x);
                    p[0] = 200, p[1] = 10, p[2] = 20;
                }
            }
        ibex_image_rect(dst, rx, ry, rw, rh, 200, 10, 20);
        if (memcmp(dst->rgb, ref->rgb, 23 * 17 * 3) != 0) bad++, fprintf(stderr, "rect %zu\n", k);
    }
    CHECK_MSG(bad == 0, "%d rectangles differ from the definition", bad);
out:
    ibex_image_free(dst);
    ibex_image_free(src);
    ibex_image_free(ref);
    ibex_image *im = NULL;
    CHECK(ibex_image_create(0, 5, &im) == IBEX_ERR_ARG && im == NULL);
    CHECK(ibex_image_create((size_t)1 << 20, 4, &im) == IBEX_ERR_LIMIT && im == NULL);
    CHECK(ibex_image_create((size_t)1 << 17, (size_t)1 << 17, &im) == IBEX_ERR_LIMIT && im == NULL);
}

int main(void)
{
    test_colour_ramp();
    test_clip();
    test_grey_and_invalid();
    test_downscale();
    test_shading();
    test_paste_rect();
    return check_exit();
}
