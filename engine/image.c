/* ibex_image: an RGB raster with fill, clipped paste and rectangle outlines. */
#include <stdlib.h>
#include <string.h>

#include "ibex/image.h"
#include "ibex_internal.h"

ibex_status ibex_image_create(size_t w, size_t h, ibex_image **out)
{
    size_t n;
    if (!out || w == 0 || h == 0) return IBEX_ERR_ARG;
    if (w > IBEX_MAX_SIDE || h > IBEX_MAX_SIDE || !ibex__mul_ok(w, h, &n) || n > IBEX_MAX_POINTS)
        return IBEX_ERR_LIMIT;
    ibex_image *im = malloc(sizeof *im);
    if (!im) return IBEX_ERR_NOMEM;
    if (!(im->rgb = calloc(n, 3))) {
        free(im);
        return IBEX_ERR_NOMEM;
    }
    im->w = w;
    im->h = h;
    *out = im;
    return IBEX_OK;
}

void ibex_image_free(ibex_image *im)
{
    if (!im) return;
    free(im->rgb);
    free(im);
}

void ibex_image_fill(ibex_image *im, unsigned char r, unsigned char g, unsigned char b)
{
    if (!im) return;
    size_t n = im->w * im->h;
    for (size_t i = 0; i < n; i++) {
        im->rgb[3 * i] = r;
        im->rgb[3 * i + 1] = g;
        im->rgb[3 * i + 2] = b;
    }
}

/* [lo, hi) of [pos, pos+len) inside [0, limit), as offsets into the source; empty if lo >= hi. */
static void clip(long pos, size_t len, size_t limit, size_t *lo, size_t *hi)
{
    /* Work in long long so positions far outside the image cannot wrap. */
    long long a = pos, b = (long long)pos + (long long)len;
    if (a < 0) a = 0;
    if (b > (long long)limit) b = (long long)limit;
    if (a >= b) {
        *lo = *hi = 0;
        return;
    }
    *lo = (size_t)(a - pos);
    *hi = (size_t)(b - pos);
}

void ibex_image_paste(ibex_image *dst, const ibex_image *src, long x, long y)
{
    if (!dst || !src) return;
    size_t c0, c1, r0, r1;
    clip(x, src->w, dst->w, &c0, &c1);
    clip(y, src->h, dst->h, &r0, &r1);
    if (c0 >= c1) return;
    for (size_t r = r0; r < r1; r++) {
        size_t dy = (size_t)((long long)y + (long long)r), dx = (size_t)((long long)x + (long long)c0);
        memcpy(dst->rgb + 3 * (dy * dst->w + dx), src->rgb + 3 * (r * src->w + c0), 3 * (c1 - c0));
    }
}

static void put(ibex_image *im, long long x, long long y, const unsigned char c[3])
{
    if (x < 0 || y < 0 || x >= (long long)im->w || y >= (long long)im->h) return;
    memcpy(im->rgb + 3 * ((size_t)y * im->w + (size_t)x), c, 3);
}

void ibex_image_rect(ibex_image *im, long x, long y, long w, long h, unsigned char r,
                     unsigned char g, unsigned char b)
{
    if (!im || w <= 0 || h <= 0) return;
    const unsigned char c[3] = {r, g, b};
    long long x1 = (long long)x + w - 1, y1 = (long long)y + h - 1;
    /* Only the part of each edge inside the image is walked, so huge rectangles stay cheap. */
    long long xa = x < 0 ? 0 : x, xb = x1 >= (long long)im->w ? (long long)im->w - 1 : x1;
    long long ya = y < 0 ? 0 : y, yb = y1 >= (long long)im->h ? (long long)im->h - 1 : y1;
    for (long long i = xa; i <= xb; i++) {
        put(im, i, y, c);
        put(im, i, y1, c);
    }
    for (long long j = ya; j <= yb; j++) {
        put(im, x, j, c);
        put(im, x1, j, c);
    }
}

void ibex_image_get_rgba(const ibex_image *im, unsigned char alpha, unsigned char *dst)
{
    if (!im || !dst) return;
    size_t n = im->w * im->h;
    for (size_t i = 0; i < n; i++) {
        memcpy(dst + 4 * i, im->rgb + 3 * i, 3);
        dst[4 * i + 3] = alpha;
    }
}
