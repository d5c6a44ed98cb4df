/* IBEX's built-in bitmap font (engine/font.c): 5 x 9 glyphs (7 rows above the baseline, 2 of
 * descender) for printable ASCII and the micro sign, so pictures carry text without a font
 * library. Text is UTF-8; characters without a glyph draw as a hollow box. */
#ifndef IBEX_FONT_INTERNAL_H
#define IBEX_FONT_INTERNAL_H

#include "ibex/image.h"

#define IBEX__FONT_W 5     /* glyph width, pixels at scale 1 */
#define IBEX__FONT_H 9     /* glyph height, descender included */
#define IBEX__FONT_ADV 6   /* advance per character */
#define IBEX__FONT_LINE 11 /* line pitch */

/* 1 when pixel (x, y) of the glyph for Unicode code point c is ink (x < 5, y < 9). */
int ibex__font_pixel(unsigned long c, int x, int y);
/* Characters (code points) in UTF-8 text. */
size_t ibex__text_length(const char *s);
/* Width in pixels of UTF-8 text drawn at an integer scale (no trailing space). */
long ibex__text_width(const char *s, int scale);
/* Draw UTF-8 text with its top-left corner at (x, y), clipped to the image; each font pixel
 * becomes a scale x scale square. */
void ibex__text_draw(ibex_image *im, long x, long y, const char *s, int scale,
                     const unsigned char rgb[3]);

#endif
