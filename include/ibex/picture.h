/* Pictures of a comparison that explain themselves: the two items, what was compared, the
 * counts and the decision in a title; a legend of every colour; a scale bar in micrometres;
 * cartridge cells numbered as in the result's cell table. Pure computation: the picture is
 * returned as an RGB ibex_image (write it with ibex_image_write_png, io.h). Text is drawn with
 * IBEX's built-in bitmap font, so no font library is needed. See docs/reference/picture.md. */
#ifndef IBEX_PICTURE_H
#define IBEX_PICTURE_H

#include "ibex/export.h"

#include <stddef.h>
#include "ibex/bullet.h"
#include "ibex/compare.h"
#include "ibex/image.h"
#include "ibex/status.h"
#include "ibex/surface.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Options, set up by ibex_picture_opts_init. */
typedef struct ibex_picture_opts {
    size_t struct_size; /* sizeof the struct, set by ibex_picture_opts_init: lets it grow (ABI) */
    const char *name_a, *name_b;      /* the two items as shown in the title (UTF-8); NULL: "A", "B" */
    unsigned direction;               /* cartridge: 0 (default) A's cells, A left and B turned onto
                                         A right; 1 B's cells, B left and A turned onto B right */
    size_t max_side;                  /* cartridge: shrink each surface (whole-pixel averaging) so
                                         no side exceeds this many pixels; 0 (default) native */
    int cell_numbers;                 /* cartridge: draw each cell's number; default 1 */
    unsigned char background[3];      /* default white */
    unsigned char ink[3];             /* text and scale bar; default black */
    unsigned char missing[3];         /* missing data (invalid points); default neutral grey
                                         (190, 190, 190), unlike every cell colour */
    unsigned char congruent[3];       /* congruent cell (original rule); default green */
    unsigned char high_only[3];       /* congruent by High-CMC only; default orange */
    unsigned char not_congruent[3];   /* compared (used) but not congruent; default red */
    unsigned char not_used[3];        /* too few valid points or no lag; default slate, dashed */
    int verdict;                      /* cartridge: 1 (default) the title's second line names the
                                         software's verdict; 0 it gives the counts only ("CMC 25
                                         High-CMC 26"), for case reports, where conclusions are
                                         the examiners' (ibex/report.h) */
} ibex_picture_opts;

IBEX_API void ibex_picture_opts_init(ibex_picture_opts *o);

/* Where things are in a picture, for callers that annotate it further and for tests.
 * ibex_picture_info_init sets struct_size; the library writes only that many bytes. */
typedef struct ibex_picture_info {
    size_t struct_size;
    double px_per_m;        /* picture pixels per metre of surface (or of signature length) */
    double bar_m;           /* length of the scale bar, metres: 1, 2 or 5 times a power of ten */
    long bar_x, bar_y;      /* left end of the bar and its top row; the bar is 3 rows thick */
    long bar_px;            /* its length in pixels: lround(bar_m * px_per_m) */
    char bar_label[24];     /* its label, UTF-8, e.g. "500 µm" */
    long title_y0, title_y1; /* rows [y0, y1) of the title lines (cartridge: the top band;
                                bullet: the text column's title) */
    long title_x0, title_x1; /* columns [x0, x1) of the title */
    /* Picture pixel of point (0, 0): cartridge [0] the left surface, [1] the right one (the
     * other surface turned onto it); bullet: sample 0 of the first row's land A [0] and land
     * B [1] (rows follow every row_pitch pixels, land B shifted by its lag). */
    long origin_x[2], origin_y[2];
    long row_pitch;         /* bullet: pixels from one pair's row to the next; cartridge: 0 */
    size_t rows;            /* bullet: pairs drawn; cartridge: cells drawn on the left surface */
} ibex_picture_info;

IBEX_API void ibex_picture_info_init(ibex_picture_info *i);

/* Geometry of a cartridge cell's number: the number (index of the cell within its direction
 * in ibex_cmc_result.cells, i.e. row * cells_x + col: cells[k] for direction 0, cells[n/2 + k]
 * for direction 1) is drawn at scale 1 with its top-left glyph pixel IBEX_PICTURE_LABEL_INSET
 * pixels right of and below the cell's top-left corner, on a box of the cell's colour. */
#define IBEX_PICTURE_LABEL_INSET 3

/* Cartridge cases: a and b are the surfaces the CMC run compared (prepared, same spacing), r
 * its result. Left: the reference surface of o->direction with all its cells outlined and
 * numbered (colour by outcome; cells not used dashed); right: the other surface turned and
 * shifted onto it by that direction's consensus registration, with the reference's cells drawn
 * where they registered (congruent cells, and cells found at the consensus rotation).
 * Title: names, verdict, CMC and High-CMC per direction, cells used. Footer: legend and scale
 * bar. info may be NULL. */
IBEX_API ibex_status ibex_picture_cartridge(const ibex_surface *a, const ibex_surface *b,
                                            const ibex_cmc_result *r, const ibex_picture_opts *o,
                                            ibex_image **out, ibex_picture_info *info,
                                            ibex_diag *diag);

/* Bullets, one land pair: the two aligned signatures as grey strips, A above B (striae
 * continue across the seam when they match), the land score as a bar, and on the left a text
 * column: names, verdict (land-score thresholds IBEX_LAND_ID / IBEX_LAND_ELIM), CCF, CMS,
 * striae matched, legend and scale bar. Strips: 28 px each, 1 px seam, 1 px per sample. */
IBEX_API ibex_status ibex_picture_land(const ibex_land_signature *a, const ibex_land_signature *b,
                                       const ibex_land_result *r, const ibex_picture_opts *o,
                                       ibex_image **out, ibex_picture_info *info, ibex_diag *diag);

/* Bullets: one row per compared land pair of the best phase (land i of a with land
 * (i + best_phase) mod n_phases of b), labelled with the land positions, score and CMS; the
 * text column gives the bullet verdict, SAM and lands matching. The rows are
 * 6 + k * 67 pixels from the top (k from 0), the picture at least 12 + 67 n - 10 tall. */
IBEX_API ibex_status ibex_picture_bullet(const ibex_bullet *a, const ibex_bullet *b,
                                         const ibex_bullet_result *r, const ibex_picture_opts *o,
                                         ibex_image **out, ibex_picture_info *info,
                                         ibex_diag *diag);

#ifdef __cplusplus
}
#endif
#endif
