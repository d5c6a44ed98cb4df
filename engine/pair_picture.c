/* Pictures of a comparison (include/ibex/picture.h): cartridge cells on the two surfaces, or
 * bullet land signatures side by side, each with a title (names, counts, decision), a legend
 * of its colours and a scale bar. Pure computation; io/png.c writes the result. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "font_internal.h"
#include "ibex/picture.h"
#include "ibex_internal.h"

void ibex_picture_opts_init(ibex_picture_opts *o)
{
    if (!o) return;
    static const ibex_picture_opts def = {
        .struct_size = sizeof(ibex_picture_opts),
        .name_a = NULL,
        .name_b = NULL,
        .direction = 0,
        .max_side = 0,
        .cell_numbers = 1,
        .background = {255, 255, 255},
        .ink = {0, 0, 0},
        /* A mid-light grey: no hue, so it reads as "nothing here" next to the tinted relief
         * and is far from the green / orange / red of the cells. */
        .missing = {190, 190, 190},
        .congruent = {40, 220, 60},
        .high_only = {255, 160, 0},
        .not_congruent = {230, 40, 40},
        .not_used = {70, 90, 150},
        .verdict = 1,
    };
    *o = def;
}

void ibex_picture_info_init(ibex_picture_info *i)
{
    if (!i) return;
    memset(i, 0, sizeof *i);
    i->struct_size = sizeof *i;
}

/* The caller's options over the defaults, as many bytes as the caller's struct has. */
static ibex_status merge_opts(const ibex_picture_opts *o, ibex_picture_opts *m)
{
    ibex_picture_opts_init(m);
    if (!ibex__opts_merge(m, sizeof *m, o)) return IBEX_ERR_ARG;
    if (m->direction > 1) return IBEX_ERR_ARG;
    if (!m->name_a) m->name_a = "A";
    if (!m->name_b) m->name_b = "B";
    return IBEX_OK;
}

static void give_info(ibex_picture_info *dst, ibex_picture_info *src)
{
    if (!dst || dst->struct_size < sizeof dst->struct_size) return;
    src->struct_size = dst->struct_size;
    memcpy(dst, src, dst->struct_size < sizeof *src ? dst->struct_size : sizeof *src);
}

/* ---- drawing helpers ---- */

static void fill(ibex_image *im, long x, long y, long w, long h, const unsigned char c[3])
{
    for (long j = y < 0 ? 0 : y; j < y + h && j < (long)im->h; j++)
        for (long i = x < 0 ? 0 : x; i < x + w && i < (long)im->w; i++)
            memcpy(im->rgb + 3 * ((size_t)j * im->w + (size_t)i), c, 3);
}

static void put(ibex_image *im, long x, long y, const unsigned char c[3])
{
    fill(im, x, y, 1, 1, c);
}

/* Two nested outlines, so a cell stays visible over the relief. */
static void box2(ibex_image *im, long x, long y, long w, long h, const unsigned char c[3])
{
    ibex_image_rect(im, x, y, w, h, c[0], c[1], c[2]);
    ibex_image_rect(im, x + 1, y + 1, w - 2, h - 2, c[0], c[1], c[2]);
}

/* One-pixel outline, 4 on 3 off, for cells that took no part. */
static void dashed(ibex_image *im, long x, long y, long w, long h, const unsigned char c[3])
{
    for (long i = 0; i < w; i++)
        if (i % 7 < 4) {
            put(im, x + i, y, c);
            put(im, x + i, y + h - 1, c);
        }
    for (long j = 0; j < h; j++)
        if (j % 7 < 4) {
            put(im, x, y + j, c);
            put(im, x + w - 1, y + j, c);
        }
}

/* Black or white, whichever reads better on c (Rec. 601 luma). */
static const unsigned char *text_on(const unsigned char c[3])
{
    static const unsigned char black[3] = {0, 0, 0}, white[3] = {255, 255, 255};
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2] < 128 ? white : black;
}

/* Text no wider than max pixels: longer text loses its start, shown as "...", since file
 * names differ at their ends. */
static void text_fit(ibex_image *im, long x, long y, const char *s, int scale, long max,
                     const unsigned char c[3])
{
    if (ibex__text_width(s, scale) <= max) {
        ibex__text_draw(im, x, y, s, scale, c);
        return;
    }
    char buf[600];
    const char *p = s;
    while (*p) {
        p++;
        while ((*p & 0xC0) == 0x80) p++; /* whole UTF-8 characters */
        snprintf(buf, sizeof buf, "...%s", p);
        if (ibex__text_width(buf, scale) <= max) break;
    }
    ibex__text_draw(im, x, y, buf, scale, c);
}

/* ---- scale bar ---- */

/* The longest length 1, 2 or 5 x 10^k micrometres that fits in max_px pixels (at least 1 um),
 * with its label. */
static double round_length(double px_per_m, long max_px, char *label, size_t size)
{
    double best = 1e-6;
    for (int e = 0; e <= 5; e++)
        for (int m = 0; m < 3; m++) {
            static const double mant[3] = {1, 2, 5};
            double len = mant[m] * pow(10, e) * 1e-6;
            if (len * px_per_m <= (double)max_px) best = len;
        }
    double um = best * 1e6;
    if (um >= 1000) snprintf(label, size, "%g mm", um / 1000);
    else snprintf(label, size, "%g \xC2\xB5m", um);
    return best;
}

static long bar_height(void)
{
    return IBEX__FONT_H + 2;
}

/* Scale bar with its top-left at (x, y): a 3-row bar of bar_px pixels between two end ticks,
 * its label to the right. Returns the total width. */
static long scale_bar(ibex_image *im, long x, long y, double px_per_m, long max_px,
                      const unsigned char ink[3], ibex_picture_info *info)
{
    char label[24];
    double len = round_length(px_per_m, max_px, label, sizeof label);
    long px = lround(len * px_per_m);
    if (px < 1) px = 1;
    long by = y + 4;
    if (im) {
        fill(im, x, by, px, 3, ink);
        fill(im, x, y, 1, 11, ink);
        fill(im, x + px - 1, y, 1, 11, ink);
        ibex__text_draw(im, x + px + 6, y + 1, label, 1, ink);
    }
    if (info) {
        info->px_per_m = px_per_m;
        info->bar_m = len;
        info->bar_x = x;
        info->bar_y = by;
        info->bar_px = px;
        snprintf(info->bar_label, sizeof info->bar_label, "%s", label);
    }
    return px + 6 + ibex__text_width(label, 1);
}

/* ---- legend ---- */

static void steel(double v, unsigned char c[3]);

typedef enum swatch { SW_FILL, SW_DASHED, SW_STEEL, SW_SEAM, SW_SCORE } swatch;

typedef struct legend_item {
    swatch kind;
    const unsigned char *c;
    const char *text;
} legend_item;

enum { SW_W = 16, SW_H = 11 };

static long legend_width(const legend_item *it)
{
    return SW_W + 5 + ibex__text_width(it->text, 1);
}

static void score_colour(double s, unsigned char c[3])
{
    s = s < 0 ? 0 : s > 1 ? 1 : s;
    c[0] = (unsigned char)lround(255 * (1 - s));
    c[1] = (unsigned char)lround(200 * s);
    c[2] = 40;
}

static void legend_draw(ibex_image *im, long x, long y, const legend_item *it,
                        const ibex_picture_opts *o)
{
    switch (it->kind) {
    case SW_FILL:
        fill(im, x, y, SW_W, SW_H, it->c);
        ibex_image_rect(im, x, y, SW_W, SW_H, o->ink[0], o->ink[1], o->ink[2]);
        break;
    case SW_DASHED: dashed(im, x, y, SW_W, SW_H, it->c); break;
    case SW_STEEL:
        for (long i = 0; i < SW_W; i++) {
            unsigned char c[3];
            steel(2.0 * (double)i / (SW_W - 1) - 1, c);
            fill(im, x + i, y, 1, SW_H, c);
        }
        break;
    case SW_SEAM: {
        static const unsigned char grey[3] = {128, 128, 128};
        fill(im, x, y, SW_W, SW_H, grey);
        fill(im, x, y + SW_H / 2, SW_W, 1, it->c);
        break;
    }
    case SW_SCORE:
        for (long i = 0; i < SW_W; i++) {
            unsigned char c[3];
            score_colour((double)i / (SW_W - 1), c);
            fill(im, x + i, y, 1, SW_H, c);
        }
        break;
    }
    ibex__text_draw(im, x + SW_W + 5, y + 1, it->text, 1, o->ink);
}

/* ---- cartridge ---- */

enum { CM = 10, CGAP = 16, LINE = IBEX__FONT_LINE, LINE2 = 2 * IBEX__FONT_LINE };

static const char *arrow(unsigned dir)
{
    return dir ? "B->A" : "A->B";
}

ibex_status ibex_picture_cartridge(const ibex_surface *a, const ibex_surface *b,
                                   const ibex_cmc_result *r, const ibex_picture_opts *opts,
                                   ibex_image **out, ibex_picture_info *info, ibex_diag *diag)
{
    ibex_picture_opts o;
    if (!a || !b || !r || !out || !r->cells || r->n_cells < 2 || r->n_cells % 2 ||
        !(a->dx > 0) || a->nx == 0 || a->ny == 0 || merge_opts(opts, &o))
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "bad picture arguments");
    const unsigned k = o.direction;
    const ibex_surface *ref = k ? b : a, *tgt = k ? a : b;
    const ibex_cmc_direction *dd = &r->dir[k];
    ibex_surface *al = NULL;
    ibex_image *ia = NULL, *ib = NULL, *im = NULL;
    ibex_status st = ibex_cmc_align(ref, tgt, dd->theta, dd->dx, dd->dy, &al, diag);
    if (st) return st;
    ibex_render_opts ro;
    ibex_render_opts_init(&ro);
    ro.style = IBEX_RENDER_SHADED;
    ro.max_side = o.max_side;
    memcpy(ro.invalid_rgb, o.missing, 3);
    if ((st = ibex_surface_render(ref, &ro, &ia)) || (st = ibex_surface_render(al, &ro, &ib))) {
        ibex__fail(diag, st, "", -1, "cannot render the surfaces");
        goto done;
    }
    /* the render's shrink factor, as ibex_surface_render picks it */
    size_t side = ref->nx > ref->ny ? ref->nx : ref->ny, f = 1;
    if (o.max_side > 0 && side > o.max_side) f = (side + o.max_side - 1) / o.max_side;
    const double s = 1.0 / (double)f, um = ref->dx * 1e6;

    /* text */
    size_t ng = r->n_cells / 2;
    char l1[1100], l2[200], l3[300], l4[300], cap0[300], cap1[300];
    snprintf(l1, sizeof l1, "A: %s   B: %s", o.name_a, o.name_b);
    if (o.verdict) snprintf(l2, sizeof l2, "verdict: %s   CMC %u", ibex_verdict_name(r->verdict), r->cmc);
    else snprintf(l2, sizeof l2, "CMC %u   High-CMC %u", r->cmc, r->cmc_high);
    snprintf(l3, sizeof l3, "CMC (Song): A->B %u, B->A %u, the smaller %u   "
             "High-CMC (Tong): A->B %u, B->A %u, the smaller %u", r->dir[0].cmc, r->dir[1].cmc,
             r->cmc, r->dir[0].cmc_high, r->dir[1].cmc_high, r->cmc_high);
    snprintf(l4, sizeof l4, "cells used: A->B %u, B->A %u of %zu   %s on %s: %g deg, "
             "dx %.0f \xC2\xB5m, dy %.0f \xC2\xB5m   score %.2f", r->dir[0].cells_used,
             r->dir[1].cells_used, ng, k ? "A" : "B", k ? "B" : "A", dd->theta, dd->dx * um,
             dd->dy * um, r->score);
    snprintf(cap0, sizeof cap0, "%s with its cells, numbered as in the %s cell table",
             k ? "B" : "A", arrow(k));
    snprintf(cap1, sizeof cap1, "%s turned %g deg and shifted onto %s, with %s's cells where found",
             k ? "A" : "B", dd->theta, k ? "B" : "A", k ? "B" : "A");
    legend_item leg[] = {{SW_FILL, o.congruent, "congruent"},
                         {SW_FILL, o.high_only, "congruent by High-CMC only"},
                         {SW_FILL, o.not_congruent, "used, not congruent"},
                         {SW_DASHED, o.not_used, "not used (too few valid points, or no lag)"},
                         {SW_FILL, o.missing, "missing data"}};
    const size_t nleg = sizeof leg / sizeof *leg;

    long pw = (long)ia->w, ph = (long)ia->h;
    long W = 2 * CM + 2 * pw + CGAP, tw = ibex__text_width(l1, 2);
    long t2 = ibex__text_width(l2, 2), t3 = ibex__text_width(l3, 1), t4 = ibex__text_width(l4, 1);
    if (t2 > tw) tw = t2;
    if (t3 > tw) tw = t3;
    if (t4 > tw) tw = t4;
    if (tw > 4000) tw = 4000;
    if (2 * CM + tw > W) W = 2 * CM + tw;
    /* legend rows: items flow left to right */
    long lx = CM, lrows = 1;
    for (size_t i = 0; i < nleg; i++) {
        long w = legend_width(&leg[i]);
        if (lx > CM && lx + w > W - CM) {
            lx = CM;
            lrows++;
        }
        lx += w + 18;
    }
    long y_title = CM, y_cap = y_title + 2 * LINE2 + 2 * LINE + 8, y_pan = y_cap + LINE + 3;
    long y_leg = y_pan + ph + 10, y_bar = y_leg + lrows * (SW_H + 6) + 4;
    long H = y_bar + bar_height() + CM;
    if ((st = ibex_image_create((size_t)W, (size_t)H, &im))) {
        ibex__fail(diag, st, "", -1, "cannot allocate a %ld x %ld picture", W, H);
        goto done;
    }
    ibex_image_fill(im, o.background[0], o.background[1], o.background[2]);
    ibex_picture_info inf;
    ibex_picture_info_init(&inf);

    text_fit(im, CM, y_title, l1, 2, W - 2 * CM, o.ink);
    text_fit(im, CM, y_title + LINE2, l2, 2, W - 2 * CM, o.ink);
    text_fit(im, CM, y_title + 2 * LINE2, l3, 1, W - 2 * CM, o.ink);
    text_fit(im, CM, y_title + 2 * LINE2 + LINE, l4, 1, W - 2 * CM, o.ink);
    inf.title_x0 = CM;
    inf.title_x1 = W - CM;
    inf.title_y0 = y_title;
    inf.title_y1 = y_title + 2 * LINE2 + 2 * LINE;

    long x0 = CM, x1 = CM + pw + CGAP;
    /* narrow panels get the short captions */
    if (ibex__text_width(cap0, 1) > pw + CGAP - 4 || ibex__text_width(cap1, 1) > W - CM - x1) {
        snprintf(cap0, sizeof cap0, "%s, cells as in %s", k ? "B" : "A", arrow(k));
        snprintf(cap1, sizeof cap1, "%s turned onto %s", k ? "A" : "B", k ? "B" : "A");
    }
    text_fit(im, x0, y_cap, cap0, 1, pw + CGAP - 4, o.ink);
    text_fit(im, x1, y_cap, cap1, 1, W - CM - x1, o.ink);
    inf.origin_x[0] = x0;
    inf.origin_x[1] = x1;
    inf.origin_y[0] = inf.origin_y[1] = y_pan;

    /* Cells are drawn on the two renders before they are pasted, so a cell registered partly
     * outside the other surface is clipped to its panel. Not used first, then by outcome, so
     * congruent outlines end on top; numbers last. */
    const ibex_cmc_cell *cells = r->cells + (size_t)k * ng;
    for (int pass = 0; pass < 5; pass++)
        for (size_t i = 0; i < ng; i++) {
            const ibex_cmc_cell *c = &cells[i];
            int cls = !c->used ? 0 : c->cmc ? 3 : c->cmc_high ? 2 : 1;
            const unsigned char *col = cls == 0 ? o.not_used : cls == 1 ? o.not_congruent
                                       : cls == 2 ? o.high_only : o.congruent;
            long cx = lround((double)c->x * s), cy = lround((double)c->y * s);
            long cw = lround((double)c->w * s), ch = lround((double)c->h * s);
            double px = (double)c->x + c->dx - dd->dx, py = (double)c->y + c->dy - dd->dy;
            long bx = lround(px * s), by = lround(py * s);
            /* the right panel shows cells found at the consensus rotation, and congruent ones */
            int right = c->used && (c->theta == dd->theta || c->cmc);
            if (pass < 4 && cls != pass) continue;
            if (pass == 0) {
                dashed(ia, cx, cy, cw, ch, col);
                inf.rows++;
            } else if (pass < 4) {
                box2(ia, cx, cy, cw, ch, col);
                if (right) box2(ib, bx, by, cw, ch, col);
                inf.rows++;
            } else if (o.cell_numbers) {
                char num[24];
                snprintf(num, sizeof num, "%zu", i);
                long tw1 = ibex__text_width(num, 1);
                const long in = IBEX_PICTURE_LABEL_INSET;
                if (tw1 + 2 * in > cw || IBEX__FONT_H + 2 * in > ch) continue;
                fill(ia, cx + in - 1, cy + in - 1, tw1 + 2, IBEX__FONT_H + 2, col);
                ibex__text_draw(ia, cx + in, cy + in, num, 1, text_on(col));
                if (right) {
                    /* a cell found partly outside the panel keeps its number inside it */
                    long lx = bx + in, ly = by + in, lw = tw1 + in, lh = IBEX__FONT_H + in;
                    lx = lx < in ? in : lx > pw - lw ? pw - lw : lx;
                    ly = ly < in ? in : ly > ph - lh ? ph - lh : ly;
                    fill(ib, lx - 1, ly - 1, tw1 + 2, IBEX__FONT_H + 2, col);
                    ibex__text_draw(ib, lx, ly, num, 1, text_on(col));
                }
            }
        }
    ibex_image_paste(im, ia, x0, y_pan);
    ibex_image_paste(im, ib, x1, y_pan);

    lx = CM;
    long ly = y_leg;
    for (size_t i = 0; i < nleg; i++) {
        long w = legend_width(&leg[i]);
        if (lx > CM && lx + w > W - CM) {
            lx = CM;
            ly += SW_H + 6;
        }
        legend_draw(im, lx, ly, &leg[i], &o);
        lx += w + 18;
    }
    long maxbar = pw / 3 > 20 ? pw / 3 : 20;
    scale_bar(im, CM, y_bar, 1.0 / (ref->dx * (double)f), maxbar, o.ink, &inf);
    give_info(info, &inf);
    *out = im;
    im = NULL;
done:
    ibex_surface_free(al);
    ibex_image_free(ia);
    ibex_image_free(ib);
    ibex_image_free(im);
    return st;
}

/* ---- bullets ---- */

/* Vertical geometry of the strips: unchanged from the first bullet picture so its height
 * stays 12 + 67 n - 10 for n pairs. */
enum { STRIP = 28, RGAP = 10, BAR = 14, BM = 6, ROW = 2 * STRIP + 1 + RGAP };

typedef struct pair_row {
    const ibex_land_signature *a, *b;
    const ibex_land_result *r;
    char label[3][48];
} pair_row;

/* Signature value v in [-1, 1] (clamped) to a blue-grey ramp, dark valleys to light peaks:
 * tinted so that no value is the neutral grey of missing data. */
static void steel(double v, unsigned char c[3])
{
    double t = (v > 1 ? 1 : v < -1 ? -1 : v) * 0.5 + 0.5;
    c[0] = (unsigned char)lround(10 + 225 * t);
    c[1] = (unsigned char)lround(20 + 225 * t);
    c[2] = (unsigned char)lround(45 + 210 * t);
}

static void strip(ibex_image *im, const ibex_land_signature *g, long x0, long y0,
                  const unsigned char missing[3])
{
    double ss = 0;
    size_t m = 0;
    for (size_t i = 0; i < g->n; i++)
        if (g->valid[i]) {
            ss += (double)g->sig[i] * g->sig[i];
            m++;
        }
    double scale = m ? 2.5 * sqrt(ss / (double)m) : 1;
    for (size_t i = 0; i < g->n; i++) {
        unsigned char c[3];
        if (!g->valid[i]) memcpy(c, missing, 3);
        else steel(g->sig[i] / scale, c);
        fill(im, x0 + (long)i, y0, 1, STRIP, c);
    }
}

static ibex_status lands_picture(const pair_row *rows, size_t n, const char *const *title,
                                 size_t ntitle, const ibex_picture_opts *o, ibex_image **out,
                                 ibex_picture_info *info, ibex_diag *diag)
{
    static const unsigned char seam[3] = {230, 60, 40};
    double spacing = 0;
    long lo = 0, hi = 1;
    for (size_t k = 0; k < n; k++) {
        long l = rows[k].r->lag;
        if (l < lo) lo = l;
        if ((long)rows[k].a->n > hi) hi = (long)rows[k].a->n;
        if ((long)rows[k].b->n + l > hi) hi = (long)rows[k].b->n + l;
        if (!(rows[k].a->spacing > 0)) return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "bad signature spacing");
        spacing = rows[k].a->spacing;
    }
    legend_item leg[] = {{SW_STEEL, NULL, "signature: valley dark, peak light"},
                         {SW_FILL, o->missing, "missing data"},
                         {SW_SEAM, seam, "seam: land A above, B below"},
                         {SW_SCORE, NULL, "land score bar: 0 red .. 1 green"}};
    const size_t nleg = sizeof leg / sizeof *leg;
    /* text column: title lines (line 2, the verdict, at scale 2), legend, scale bar */
    long tcw = 0;
    for (size_t i = 0; i < ntitle; i++) {
        long w = ibex__text_width(title[i], i == 2 ? 2 : 1);
        if (w > tcw) tcw = w;
    }
    for (size_t i = 0; i < nleg; i++)
        if (legend_width(&leg[i]) > tcw) tcw = legend_width(&leg[i]);
    const long maxbar = 160;
    long sbw = spacing > 0 ? scale_bar(NULL, 0, 0, 1 / spacing, maxbar, o->ink, NULL) : 0;
    if (sbw > tcw) tcw = sbw;
    if (tcw > 420) tcw = 420; /* long names lose their start */
    long lw = 0;
    for (size_t k = 0; k < n; k++)
        for (int j = 0; j < 3; j++)
            if (ibex__text_width(rows[k].label[j], 1) > lw) lw = ibex__text_width(rows[k].label[j], 1);
    long xl = BM + tcw + 3 * BM, xbar = xl + lw + BM, xs = xbar + BAR + BM;
    long W = xs + (hi - lo) + BM;
    long hs = n ? (long)n * (2 * STRIP + 1) + ((long)n - 1) * RGAP + 2 * BM : 2 * BM + 1;
    long y_leg = BM + (long)(ntitle + 1) * LINE + 6 + 4, y_bar = y_leg + (long)nleg * (SW_H + 4) + 6;
    long ht = y_bar + bar_height() + BM, H = hs > ht ? hs : ht;
    ibex_image *im = NULL;
    ibex_status st = ibex_image_create((size_t)W, (size_t)H, &im);
    if (st) return ibex__fail(diag, st, "", -1, "cannot allocate a %ld x %ld picture", W, H);
    ibex_image_fill(im, o->background[0], o->background[1], o->background[2]);
    ibex_picture_info inf;
    ibex_picture_info_init(&inf);

    long y = BM;
    for (size_t i = 0; i < ntitle; i++) {
        int sc = i == 2 ? 2 : 1;
        text_fit(im, BM, y, title[i], sc, tcw, o->ink);
        y += sc * LINE + (i == 2 ? 4 : 0);
    }
    inf.title_x0 = BM;
    inf.title_x1 = BM + tcw;
    inf.title_y0 = BM;
    inf.title_y1 = y;
    for (size_t i = 0; i < nleg; i++) legend_draw(im, BM, y_leg + (long)i * (SW_H + 4), &leg[i], o);
    if (spacing > 0) scale_bar(im, BM, y_bar, 1 / spacing, maxbar, o->ink, &inf);

    for (size_t k = 0; k < n; k++) {
        const pair_row *p = &rows[k];
        long y0 = BM + (long)k * ROW, x0 = xs - lo; /* x of land A's sample 0 */
        unsigned char c[3];
        score_colour(p->r->score, c);
        fill(im, xbar, y0, BAR, 2 * STRIP + 1, c);
        for (int j = 0; j < 3; j++)
            ibex__text_draw(im, xl, y0 + 3 + j * (LINE + 7), p->label[j], 1, o->ink);
        strip(im, p->a, x0, y0, o->missing);
        fill(im, xs, y0 + STRIP, (hi - lo), 1, seam);
        strip(im, p->b, x0 + p->r->lag, y0 + STRIP + 1, o->missing);
        if (k == 0) {
            inf.origin_x[0] = x0;
            inf.origin_y[0] = y0;
            inf.origin_x[1] = x0 + p->r->lag;
            inf.origin_y[1] = y0 + STRIP + 1;
        }
    }
    inf.row_pitch = ROW;
    inf.rows = n;
    give_info(info, &inf);
    *out = im;
    return IBEX_OK;
}

static int sig_ok(const ibex_land_signature *g)
{
    return g && g->sig && g->valid && g->n > 0;
}

ibex_status ibex_picture_land(const ibex_land_signature *a, const ibex_land_signature *b,
                              const ibex_land_result *r, const ibex_picture_opts *opts,
                              ibex_image **out, ibex_picture_info *info, ibex_diag *diag)
{
    ibex_picture_opts o;
    if (!sig_ok(a) || !sig_ok(b) || !r || !out || merge_opts(opts, &o))
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "bad picture arguments");
    ibex_bullet_verdict v = r->score >= IBEX_LAND_ID     ? IBEX_BULLET_IDENTIFICATION
                            : r->score <= IBEX_LAND_ELIM ? IBEX_BULLET_ELIMINATION
                                                         : IBEX_BULLET_INCONCLUSIVE;
    char t[6][640];
    snprintf(t[0], sizeof t[0], "A: %s", o.name_a);
    snprintf(t[1], sizeof t[1], "B: %s", o.name_b);
    snprintf(t[2], sizeof t[2], "%s", ibex_bullet_verdict_name(v));
    snprintf(t[3], sizeof t[3], "land score %.3f (identification >= %g)", r->score, IBEX_LAND_ID);
    snprintf(t[4], sizeof t[4], "CCF %.3f at lag %.0f \xC2\xB5m, overlap %.0f%%", r->ccf,
             r->lag_m * 1e6, 100 * r->overlap);
    snprintf(t[5], sizeof t[5], "striae: %d match, %d not; CMS %d", r->matches, r->mismatches,
             r->cms);
    const char *tp[6] = {t[0], t[1], t[2], t[3], t[4], t[5]};
    pair_row row = {a, b, r, {"A ~ B", "", ""}};
    snprintf(row.label[1], sizeof row.label[1], "%.3f", r->score);
    snprintf(row.label[2], sizeof row.label[2], "CMS %d", r->cms);
    return lands_picture(&row, 1, tp, 6, &o, out, info, diag);
}

ibex_status ibex_picture_bullet(const ibex_bullet *a, const ibex_bullet *b,
                                const ibex_bullet_result *r, const ibex_picture_opts *opts,
                                ibex_image **out, ibex_picture_info *info, ibex_diag *diag)
{
    ibex_picture_opts o;
    if (!a || !b || !r || !out || r->na != a->n_lands || r->nb != b->n_lands ||
        (r->na && (!a->lands || !r->pairs || !r->compared)) || merge_opts(opts, &o))
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "bad picture arguments");
    pair_row *rows = calloc(r->na + 1, sizeof *rows);
    if (!rows) return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < r->na && r->n_phases; i++) {
        size_t j = (i + r->best_phase) % r->n_phases, q = i * r->nb + j;
        if (j >= r->nb || !r->compared[q] || !sig_ok(a->lands[i]) || !sig_ok(b->lands[j])) continue;
        pair_row *p = &rows[n++];
        p->a = a->lands[i];
        p->b = b->lands[j];
        p->r = &r->pairs[q];
        snprintf(p->label[0], sizeof p->label[0], "A%zu ~ B%zu", i + 1, j + 1);
        snprintf(p->label[1], sizeof p->label[1], "%.3f", p->r->score);
        snprintf(p->label[2], sizeof p->label[2], "CMS %d", p->r->cms);
    }
    char t[6][640];
    snprintf(t[0], sizeof t[0], "A: %s", o.name_a);
    snprintf(t[1], sizeof t[1], "B: %s", o.name_b);
    snprintf(t[2], sizeof t[2], "%s", ibex_bullet_verdict_name(r->verdict));
    if (isfinite(r->score))
        snprintf(t[3], sizeof t[3], "SAM %.3f at phase %zu (others <= %.3f)", r->score,
                 r->best_phase, isfinite(r->runner_up) ? r->runner_up : 0.0);
    else
        snprintf(t[3], sizeof t[3], "no phase with a compared pair");
    snprintf(t[4], sizeof t[4], "%zu of %zu land pairs match (score >= %g)", r->n_matching,
             r->n_compared, IBEX_LAND_MATCH);
    snprintf(t[5], sizeof t[5], "rows: land i of A ~ land i+%zu of B", r->best_phase);
    const char *tp[6] = {t[0], t[1], t[2], t[3], t[4], t[5]};
    ibex_status st = lands_picture(rows, n, tp, 6, &o, out, info, diag);
    free(rows);
    return st;
}
