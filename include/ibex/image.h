/* RGB pictures of surfaces for people to look at (writing them is in io.h). */
#ifndef IBEX_IMAGE_H
#define IBEX_IMAGE_H

#include "ibex/export.h"

#include <stddef.h>
#include "ibex/surface.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ibex_image {
    size_t w, h;
    unsigned char *rgb; /* w*h*3, row-major, top row first */
} ibex_image;

IBEX_API ibex_status ibex_image_create(size_t w, size_t h, ibex_image **out); /* black */
IBEX_API void ibex_image_free(ibex_image *im);
IBEX_API void ibex_image_fill(ibex_image *im, unsigned char r, unsigned char g, unsigned char b);
/* Copy src into dst with its top-left corner at (x, y), clipped. */
IBEX_API void ibex_image_paste(ibex_image *dst, const ibex_image *src, long x, long y);
/* One-pixel rectangle outline, clipped. */
IBEX_API void ibex_image_rect(ibex_image *im, long x, long y, long w, long h,
                              unsigned char r, unsigned char g, unsigned char b);
/* The pixels as RGBA, w*h*4 bytes into dst, every pixel with the given alpha (for callers
 * whose toolkit wants four channels). */
IBEX_API void ibex_image_get_rgba(const ibex_image *im, unsigned char alpha, unsigned char *dst);

typedef enum ibex_render_style {
    IBEX_RENDER_COLOUR = 0,  /* height through a perceptual colour map */
    IBEX_RENDER_SHADED = 1,  /* hill-shaded relief, as under a microscope's oblique light */
    IBEX_RENDER_GREY = 2     /* plain grey levels */
} ibex_render_style;

typedef struct ibex_render_opts {
    size_t struct_size; /* sizeof the struct, set by ibex_render_opts_init: lets it grow (ABI) */
    ibex_render_style style;
    size_t max_side;        /* shrink (by whole-pixel averaging) so neither side exceeds this; 0 = native */
    double clip_quantile;   /* colour range from this quantile to 1 - it (default 0.01) */
    unsigned char invalid_rgb[3]; /* colour of invalid points */
} ibex_render_opts;

IBEX_API void ibex_render_opts_init(ibex_render_opts *o);
/* Image row 0 is the surface's row 0 (y = 0 at the top, as X3P origin NW). */
IBEX_API ibex_status ibex_surface_render(const ibex_surface *s, const ibex_render_opts *o, ibex_image **out);

#ifdef __cplusplus
}
#endif
#endif
