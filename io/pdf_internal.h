/* A small PDF 1.4 writer (io/pdf_write.c): A4 pages, text in three of the standard Type 1
 * fonts (WinAnsiEncoding, so no font is embedded), lines, rectangles and RGB images
 * (FlateDecode). Coordinates are points from the page's TOP-left corner (y grows downwards);
 * the writer turns them into PDF's bottom-up space. Errors (out of memory) are sticky: the
 * drawing calls return nothing and ibex__pdf_finish reports the first. Not installed. */
#ifndef IBEX_PDF_INTERNAL_H
#define IBEX_PDF_INTERNAL_H

#include <stddef.h>

#include "ibex/status.h"

#define IBEX_PDF_W 595.276 /* A4, points */
#define IBEX_PDF_H 841.890

typedef enum ibex__pdf_font { PDF_HELV = 0, PDF_HELV_BOLD = 1, PDF_COURIER = 2 } ibex__pdf_font;

typedef struct ibex__pdf ibex__pdf;

ibex__pdf *ibex__pdf_new(void); /* NULL when out of memory */
void ibex__pdf_free(ibex__pdf *p);
/* Starts a new page and makes it current; returns its index (0-based), or -1. */
int ibex__pdf_page(ibex__pdf *p);
size_t ibex__pdf_page_count(const ibex__pdf *p);
/* Makes page i current again (to add to it, e.g. footers once the count is known). */
void ibex__pdf_set_page(ibex__pdf *p, size_t i);

/* One line of UTF-8 text with its baseline at (x, y), in colour rgb (0..1; NULL black). */
void ibex__pdf_text(ibex__pdf *p, ibex__pdf_font f, double size, double x, double y, const char *utf8,
                    const double *rgb);
/* Its width in points (approximate widths for Helvetica; Courier 600/1000 em). */
double ibex__pdf_text_width(ibex__pdf_font f, double size, const char *utf8);
/* How many bytes of utf8 (at a character boundary, preferring a space) fit in width; at least
 * one character when there is any. *next: where the following line starts (spaces skipped). */
size_t ibex__pdf_fit(ibex__pdf_font f, double size, const char *utf8, double width, const char **next);

void ibex__pdf_line(ibex__pdf *p, double x0, double y0, double x1, double y1, double width, const double *rgb);
/* A rectangle with top-left (x, y): filled with fill (or not, NULL), outlined with stroke (or
 * not, NULL). */
void ibex__pdf_rect(ibex__pdf *p, double x, double y, double w, double h, const double *fill,
                    const double *stroke, double line_width);

/* Adds an RGB8 image (w x h, rows top first, 3 bytes a pixel; copied and compressed); returns
 * its number for ibex__pdf_draw_image, or -1. */
int ibex__pdf_image(ibex__pdf *p, size_t w, size_t h, const unsigned char *rgb);
void ibex__pdf_draw_image(ibex__pdf *p, int image, double x, double y, double w, double h);

/* The document: *out malloc'd, *n its length. title and producer (UTF-8) go into the Info
 * dictionary; created is Unix seconds UTC. Frees nothing (call ibex__pdf_free). */
ibex_status ibex__pdf_finish(ibex__pdf *p, const char *title, const char *producer, long long created,
                             unsigned char **out, size_t *n, ibex_diag *diag);

/* UTF-8 to WinAnsiEncoding, one byte a character: Latin-1 as is, a few punctuation marks
 * (euro, quotes, dashes, bullet, ellipsis) to their WinAnsi codes, everything else (and
 * control characters, and malformed UTF-8) '?'. out gets at most size-1 bytes and a NUL;
 * returns the length written. */
size_t ibex__pdf_winansi(const char *utf8, char *out, size_t size);

#endif
