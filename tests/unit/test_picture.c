/* Comparison pictures (ibex/picture.h) on hand-made surfaces, results and signatures: sane
 * dimensions; every missing point drawn in exactly the neutral colour, no measured point in
 * it, and that colour unlike the cell colours; the scale bar as long as its label says at the
 * picture's scale (within 1 px) and its label a round length; ink in the title band; a cell's
 * number drawn glyph for glyph where the header says; the options and info structs honour
 * their size field. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "font_internal.h"
#include "ibex/ibex.h"

enum { N = 160, CELLS = 4, CS = N / CELLS };

static unsigned rng = 12345;
static double urand(void)
{
    rng = rng * 1103515245u + 12345u;
    return ((rng >> 8) & 0xFFFF) / 65536.0;
}

/* Rough random surface at 6.25 um with a square hole of missing points in the middle of
 * cell (row 1, col 1), clear of its outline and number. */
static ibex_surface *surface(void)
{
    ibex_surface *s = NULL;
    if (ibex_surface_create(N, N, 6.25e-6, 6.25e-6, &s)) return NULL;
    for (size_t i = 0; i < (size_t)N * N; i++) s->z[i] = (float)(1e-6 * urand());
    for (int y = 55; y < 72; y++)
        for (int x = 55; x < 72; x++) s->z[y * N + x] = NAN;
    ibex_surface_sync_mask(s);
    return s;
}

static int hole(int x, int y)
{
    return x >= 55 && x < 72 && y >= 55 && y < 72;
}

/* A result as a CMC run would give: no rotation or shift; cell k used when k % 4 != 3,
 * congruent when k % 4 == 1, High-CMC only when k % 4 == 2. */
static ibex_cmc_result *result(void)
{
    ibex_cmc_result *r = calloc(1, sizeof *r);
    size_t ng = CELLS * CELLS;
    r->cells = calloc(2 * ng, sizeof *r->cells);
    r->n_cells = 2 * ng;
    r->spacing = 6.25e-6;
    for (size_t k = 0; k < 2 * ng; k++) {
        ibex_cmc_cell *c = &r->cells[k];
        size_t i = k % ng;
        c->direction = k >= ng;
        c->row = (unsigned)(i / CELLS);
        c->col = (unsigned)(i % CELLS);
        c->x = c->col * CS;
        c->y = c->row * CS;
        c->w = c->h = CS;
        c->valid_frac = 1;
        c->used = i % 4 != 3;
        c->cmc = i % 4 == 1;
        c->cmc_high = i % 4 == 1 || i % 4 == 2;
        c->ccf = 0.7;
    }
    for (int d = 0; d < 2; d++) {
        r->dir[d].cells_used = 12;
        r->dir[d].cmc = 4;
        r->dir[d].cmc_high = 8;
    }
    r->cmc = 4;
    r->cmc_high = 8;
    r->verdict = IBEX_VERDICT_ELIMINATION;
    return r;
}

/* IBEX_PICTURE_DUMP=DIR writes the pictures there, for a person to look at. */
static void dump(const ibex_image *im, const char *name)
{
    const char *dir = getenv("IBEX_PICTURE_DUMP");
    if (!dir || !im) return;
    char path[1024];
    ibex_diag d;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (ibex_image_write_png(im, path, &d)) fprintf(stderr, "cannot write %s\n", path);
}

static const unsigned char *px(const ibex_image *im, long x, long y)
{
    return im->rgb + 3 * ((size_t)y * im->w + (size_t)x);
}

static int same(const unsigned char *a, const unsigned char *b)
{
    return !memcmp(a, b, 3);
}

/* The bar as drawn: ink pixels along its middle row from its left end. */
static long bar_run(const ibex_image *im, const ibex_picture_info *in, const unsigned char ink[3])
{
    long n = 0;
    while (in->bar_x + n < (long)im->w && same(px(im, in->bar_x + n, in->bar_y + 1), ink)) n++;
    return n;
}

/* The label is a round length (1, 2 or 5 times a power of ten) and says bar_m. */
static void check_bar(const ibex_image *im, const ibex_picture_info *in, const unsigned char ink[3],
                      double spacing_um, double scale)
{
    double v = 0;
    char unit[8] = "";
    CHECK_MSG(sscanf(in->bar_label, "%lf %7s", &v, unit) == 2, "label '%s'", in->bar_label);
    double um = !strcmp(unit, "mm") ? v * 1000 : v;
    CHECK_MSG(!strcmp(unit, "mm") || !strcmp(unit, "\xC2\xB5m"), "unit '%s'", unit);
    CHECK_NEAR(um, in->bar_m * 1e6, 1e-9);
    double mant = um / pow(10, floor(log10(um) + 1e-9));
    CHECK_MSG(fabs(mant - 1) < 1e-9 || fabs(mant - 2) < 1e-9 || fabs(mant - 5) < 1e-9,
              "not round: %g um", um);
    CHECK_MSG(fabs((double)in->bar_px - um / spacing_um * scale) <= 1, "bar %ld px for %g um at "
              "%g um x %g", in->bar_px, um, spacing_um, scale);
    CHECK_MSG(bar_run(im, in, ink) == in->bar_px, "drawn %ld px, info %ld", bar_run(im, in, ink),
              in->bar_px);
}

static long title_ink(const ibex_image *im, const ibex_picture_info *in, const unsigned char bg[3])
{
    long n = 0;
    for (long y = in->title_y0; y < in->title_y1; y++)
        for (long x = in->title_x0; x < in->title_x1; x++) n += !same(px(im, x, y), bg);
    return n;
}

static void test_cartridge(void)
{
    ibex_surface *a = surface(), *b = surface();
    ibex_cmc_result *r = result();
    ibex_picture_opts o;
    ibex_picture_opts_init(&o);
    CHECK(o.struct_size == sizeof o);
    o.name_a = "left.x3p";
    o.name_b = "right.x3p";
    ibex_picture_info in;
    ibex_picture_info_init(&in);
    ibex_image *im = NULL;
    ibex_diag d;
    ibex_status st = ibex_picture_cartridge(a, b, r, &o, &im, &in, &d);
    CHECK_MSG(st == IBEX_OK, "%s", ibex_strerror(st));
    if (st) goto out;
    CHECK_MSG(im->w >= 2 * N + 16 && im->w < 4 * N + 2000 && im->h > N + 40 && im->h < N + 400,
              "%zu x %zu", im->w, im->h);
    /* colours */
    CHECK(!same(o.missing, o.congruent) && !same(o.missing, o.not_congruent) &&
          !same(o.missing, o.high_only) && !same(o.missing, o.not_used));
    /* missing points exactly neutral, in both panels; no other point of the hole's cell is */
    long wrong = 0, stray = 0;
    for (int p = 0; p < 2; p++)
        for (int y = 44; y < 78; y++)
            for (int x = 44; x < 78; x++) {
                int m = same(px(im, in.origin_x[p] + x, in.origin_y[p] + y), o.missing);
                if (hole(x, y)) wrong += !m;
                else stray += m;
            }
    CHECK_MSG(wrong == 0, "%ld missing points not in the neutral colour", wrong);
    CHECK_MSG(stray == 0, "%ld measured points in the neutral colour", stray);
    /* scale bar at 1 px per point */
    CHECK_NEAR(in.px_per_m, 1 / 6.25e-6, 1e-6);
    check_bar(im, &in, o.ink, 6.25, 1.0);
    /* title */
    CHECK(in.title_y1 > in.title_y0 && in.title_y1 <= in.origin_y[0]);
    CHECK_MSG(title_ink(im, &in, o.background) > 500, "title ink %ld", title_ink(im, &in, o.background));
    /* cell 5 (row 1, col 1; congruent): "5" in black on green at the documented place */
    {
        long gx = in.origin_x[0] + CS + IBEX_PICTURE_LABEL_INSET;
        long gy = in.origin_y[0] + CS + IBEX_PICTURE_LABEL_INSET;
        static const unsigned char black[3] = {0, 0, 0};
        long bad = 0;
        for (int y = 0; y < IBEX__FONT_H; y++)
            for (int x = 0; x < IBEX__FONT_W; x++)
                bad += !same(px(im, gx + x, gy + y), ibex__font_pixel('5', x, y) ? black : o.congruent);
        CHECK_MSG(bad == 0, "cell 5's number: %ld pixels off", bad);
        /* and the right panel (no shift) shows it too */
        gx = in.origin_x[1] + CS + IBEX_PICTURE_LABEL_INSET;
        bad = 0;
        for (int y = 0; y < IBEX__FONT_H; y++)
            for (int x = 0; x < IBEX__FONT_W; x++)
                bad += !same(px(im, gx + x, gy + y), ibex__font_pixel('5', x, y) ? black : o.congruent);
        CHECK_MSG(bad == 0, "cell 5's number, right panel: %ld pixels off", bad);
    }
    CHECK(in.rows == CELLS * CELLS);
    dump(im, "synth_cartridge.png");
    ibex_image_free(im);
    im = NULL;

    /* shrunk by 2: the bar follows the picture's scale */
    o.max_side = N / 2;
    ibex_picture_info_init(&in);
    st = ibex_picture_cartridge(a, b, r, &o, &im, &in, &d);
    CHECK(st == IBEX_OK);
    if (!st) {
        CHECK_NEAR(in.px_per_m, 0.5 / 6.25e-6, 1e-6);
        check_bar(im, &in, o.ink, 6.25, 0.5);
        ibex_image_free(im);
        im = NULL;
    }

    /* verdict = 0 (case reports): the title's second line without the verdict; the rest of
     * the picture (below the title band) unchanged */
    {
        ibex_picture_opts ov;
        ibex_picture_opts_init(&ov);
        CHECK(ov.verdict == 1);
        ibex_image *with = NULL, *without = NULL;
        ibex_picture_info iw, io;
        ibex_picture_info_init(&iw);
        ibex_picture_info_init(&io);
        CHECK(ibex_picture_cartridge(a, b, r, &ov, &with, &iw, &d) == IBEX_OK);
        ov.verdict = 0;
        CHECK(ibex_picture_cartridge(a, b, r, &ov, &without, &io, &d) == IBEX_OK);
        if (with && without) {
            CHECK(with->h == without->h && iw.title_y1 == io.title_y1);
            int title_differs = 0;
            if (with->w == without->w) {
                title_differs = memcmp(with->rgb, without->rgb, (size_t)iw.title_y1 * with->w * 3) != 0;
                CHECK(!memcmp(with->rgb + (size_t)iw.title_y1 * with->w * 3, without->rgb + (size_t)iw.title_y1 * with->w * 3,
                              (with->h - (size_t)iw.title_y1) * with->w * 3));
            } else {
                title_differs = 1;
            }
            CHECK(title_differs);
        }
        ibex_image_free(with);
        ibex_image_free(without);
    }

    /* ABI: a caller whose struct ends after size gets the defaults; an info that ends after
     * bar_m gets nothing beyond it */
    {
        ibex_picture_opts small;
        memset(&small, 0xAB, sizeof small);
        small.struct_size = sizeof small.struct_size;
        struct {
            ibex_picture_info head;
        } big;
        memset(&big, 0x5A, sizeof big);
        big.head.struct_size = offsetof(ibex_picture_info, bar_x);
        st = ibex_picture_cartridge(a, b, r, &small, &im, &big.head, &d);
        CHECK(st == IBEX_OK);
        CHECK(big.head.struct_size == offsetof(ibex_picture_info, bar_x));
        CHECK_NEAR(big.head.px_per_m, 1 / 6.25e-6, 1e-6);
        unsigned char *rest = (unsigned char *)&big.head + offsetof(ibex_picture_info, bar_x);
        int untouched = 1;
        for (size_t i = 0; i < sizeof big.head - offsetof(ibex_picture_info, bar_x); i++)
            untouched &= rest[i] == 0x5A;
        CHECK(untouched);
        ibex_image_free(im);
        im = NULL;
        o.direction = 2;
        CHECK(ibex_picture_cartridge(a, b, r, &o, &im, NULL, &d) == IBEX_ERR_ARG && !im);
        o.direction = 1;
        o.max_side = 0;
        CHECK(ibex_picture_cartridge(a, b, r, &o, &im, NULL, &d) == IBEX_OK && im);
        ibex_image_free(im);
        im = NULL;
    }
    /* RGBA copy */
    {
        st = ibex_picture_cartridge(a, b, r, NULL, &im, NULL, &d);
        CHECK(st == IBEX_OK);
        unsigned char *q = im ? malloc(im->w * im->h * 4) : NULL;
        if (q) {
            ibex_image_get_rgba(im, 200, q);
            size_t i = im->w * im->h / 2;
            CHECK(!memcmp(q + 4 * i, im->rgb + 3 * i, 3) && q[4 * i + 3] == 200);
        }
        free(q);
    }
out:
    ibex_image_free(im);
    ibex_surface_free(a);
    ibex_surface_free(b);
    free(r->cells);
    free(r);
}

/* A striation-like profile at 2 um with missing samples 300..339. */
static ibex_land_signature *signature(size_t n, double phase)
{
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++)
        p[i] = (float)(1e-6 * (sin(0.11 * ((double)i + phase)) + 0.6 * sin(0.037 * ((double)i + phase))) +
                       2e-8 * urand());
    for (size_t i = 300; i < 340 && i < n; i++) p[i] = NAN;
    ibex_land_signature *g = NULL;
    ibex_diag d;
    ibex_status st = ibex_land_signature_from_profile(p, n, 2e-6, NULL, &g, &d);
    CHECK_MSG(st == IBEX_OK, "signature: %s", ibex_strerror(st));
    free(p);
    return g;
}

static void check_strip(const ibex_image *im, const ibex_land_signature *g, long x0, long y0,
                        const unsigned char missing[3])
{
    long wrong = 0, stray = 0, nmiss = 0;
    for (size_t i = 0; i < g->n; i++)
        for (long y = 0; y < 28; y++) {
            int m = same(px(im, x0 + (long)i, y0 + y), missing);
            if (!g->valid[i]) {
                wrong += !m;
                nmiss++;
            } else {
                stray += m;
            }
        }
    CHECK_MSG(nmiss > 0, "the signature has no missing samples to check");
    CHECK_MSG(wrong == 0, "%ld missing samples not in the neutral colour", wrong);
    CHECK_MSG(stray == 0, "%ld measured samples in the neutral colour", stray);
}

static void test_bullet(void)
{
    ibex_land_signature *a1 = signature(1000, 0), *b1 = signature(980, 7), *a2 = signature(900, 50),
                        *b2 = signature(950, 55);
    if (!a1 || !b1 || !a2 || !b2) goto out;
    ibex_picture_opts o;
    ibex_picture_opts_init(&o);
    o.name_a = "Bullet_1-Land_3.x3p";
    ibex_land_result lr;
    ibex_diag d;
    CHECK(ibex_land_compare(a1, b1, &lr, &d) == IBEX_OK);
    ibex_picture_info in;
    ibex_picture_info_init(&in);
    ibex_image *im = NULL;
    ibex_status st = ibex_picture_land(a1, b1, &lr, &o, &im, &in, &d);
    CHECK_MSG(st == IBEX_OK, "%s", ibex_strerror(st));
    if (!st) {
        CHECK_MSG(im->w >= a1->n && im->w < a1->n + 800 && im->h >= 69 && im->h < 400, "%zu x %zu",
                  im->w, im->h);
        check_strip(im, a1, in.origin_x[0], in.origin_y[0], o.missing);
        check_strip(im, b1, in.origin_x[1], in.origin_y[1], o.missing);
        CHECK_NEAR(in.px_per_m, 1 / a1->spacing, 1e-6);
        check_bar(im, &in, o.ink, a1->spacing * 1e6, 1.0);
        CHECK_MSG(title_ink(im, &in, o.background) > 300, "title ink %ld", title_ink(im, &in, o.background));
        CHECK(in.rows == 1);
        dump(im, "synth_land.png");
    }
    ibex_image_free(im);
    im = NULL;

    /* two bullets of two lands, best phase 1: rows A1 ~ B2 and A2 ~ B1 */
    const ibex_land_signature *la[2] = {a1, a2}, *lb[2] = {b2, b1};
    ibex_bullet ba = {2, la}, bb = {2, lb};
    ibex_bullet_result *br = NULL;
    st = ibex_bullet_compare(&ba, &bb, &br, &d);
    CHECK(st == IBEX_OK);
    if (st) goto out;
    ibex_picture_info_init(&in);
    st = ibex_picture_bullet(&ba, &bb, br, &o, &im, &in, &d);
    CHECK_MSG(st == IBEX_OK, "%s", ibex_strerror(st));
    if (!st) {
        size_t n = 0;
        for (size_t i = 0; i < 2; i++) n += br->compared[i * 2 + (i + br->best_phase) % 2];
        CHECK(in.rows == n && n == 2);
        CHECK(im->h >= 12 + 67 * n - 10 && in.row_pitch == 67);
        const ibex_land_signature *first = la[0], *firstb = lb[br->best_phase % 2];
        check_strip(im, first, in.origin_x[0], in.origin_y[0], o.missing);
        check_strip(im, firstb, in.origin_x[1], in.origin_y[1], o.missing);
        check_bar(im, &in, o.ink, a1->spacing * 1e6, 1.0);
        CHECK(title_ink(im, &in, o.background) > 300);
        dump(im, "synth_bullet.png");
    }
    ibex_image_free(im);
    ibex_bullet_result_free(br);
out:
    ibex_land_signature_free(a1);
    ibex_land_signature_free(b1);
    ibex_land_signature_free(a2);
    ibex_land_signature_free(b2);
}

/* Every glyph of printable ASCII has ink except the space, and no two are the same. */
static void test_font(void)
{
    int empty = 0, dup = 0;
    for (unsigned c = 33; c < 127; c++) {
        int ink = 0;
        for (int y = 0; y < IBEX__FONT_H; y++)
            for (int x = 0; x < IBEX__FONT_W; x++) ink += ibex__font_pixel(c, x, y);
        empty += ink == 0;
        for (unsigned e = 33; e < c; e++) {
            int diff = 0;
            for (int y = 0; y < IBEX__FONT_H; y++)
                for (int x = 0; x < IBEX__FONT_W; x++)
                    diff |= ibex__font_pixel(c, x, y) != ibex__font_pixel(e, x, y);
            dup += !diff;
        }
    }
    CHECK(empty == 0 && dup == 0);
    CHECK(ibex__text_length("5 \xC2\xB5m") == 4);
    CHECK(ibex__text_width("500", 2) == 2 * (3 * IBEX__FONT_ADV - 1));
    /* the micro sign has a glyph of its own, with a descender */
    int desc = 0, differs = 0;
    for (int x = 0; x < IBEX__FONT_W; x++) desc += ibex__font_pixel(0xB5, x, 7);
    for (int y = 0; y < IBEX__FONT_H; y++)
        for (int x = 0; x < IBEX__FONT_W; x++) differs |= ibex__font_pixel(0xB5, x, y) != ibex__font_pixel('u', x, y);
    CHECK(desc > 0 && differs);
}

int main(void)
{
    test_font();
    test_cartridge();
    test_bullet();
    return check_exit();
}
