/* The case report as a PDF (include/ibex/report.h), laid out top to bottom on A4 pages with
 * the small writer of pdf_write.c: headings, wrapped paragraphs, ruled tables whose cells
 * wrap within their column, the pictures decoded from their PNG bytes (libpng's simplified
 * API) and embedded as RGB, and on every page a footer with the page number and whose the
 * scores and the conclusions are. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "ibex/report.h"
#include "ibex_internal.h"
#include "pdf_internal.h"
#include "report_internal.h"

#define LEFT 50.0
#define RIGHT (IBEX_PDF_W - 50.0)
#define WIDTH (RIGHT - LEFT)
#define TOP 50.0
#define BOTTOM (IBEX_PDF_H - 60.0)

static const double GREY[3] = {0.35, 0.35, 0.35}, RULE[3] = {0.6, 0.6, 0.6}, HEAD_BG[3] = {0.92, 0.92, 0.92},
                    BOX_BG[3] = {0.965, 0.965, 0.94}, GREEN[3] = {0.16, 0.6, 0.16}, ORANGE[3] = {0.9, 0.5, 0.0};

typedef struct lay {
    ibex__pdf *p;
    double y;
} lay;

static void new_page(lay *L)
{
    ibex__pdf_page(L->p);
    L->y = TOP;
}

static void ensure(lay *L, double h)
{
    if (L->y + h > BOTTOM) new_page(L);
}

static size_t count_lines(ibex__pdf_font f, double size, const char *s, double width)
{
    size_t n = 0;
    while (s && *s) {
        const char *next;
        ibex__pdf_fit(f, size, s, width, &next);
        n++;
        s = next;
    }
    return n ? n : 1;
}

/* One wrapped line's text (NUL-terminated copy of the first len bytes). */
static void draw_piece(lay *L, ibex__pdf_font f, double size, double x, double y, const char *s, size_t len,
                       const double *rgb)
{
    char tmp[2048];
    if (len >= sizeof tmp) len = sizeof tmp - 1;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    ibex__pdf_text(L->p, f, size, x, y, tmp, rgb);
}

/* A paragraph wrapped to width from x; page breaks between its lines. */
static void para(lay *L, ibex__pdf_font f, double size, double x, double width, const char *s, const double *rgb)
{
    double lh = size * 1.3;
    if (!s || !*s) return;
    while (*s) {
        const char *next;
        size_t len = ibex__pdf_fit(f, size, s, width, &next);
        ensure(L, lh);
        L->y += lh;
        draw_piece(L, f, size, x, L->y - size * 0.28, s, len, rgb);
        s = next;
    }
}

static void heading(lay *L, const char *s)
{
    ensure(L, 60); /* keep a heading with something under it */
    L->y += 14;
    L->y += 15;
    ibex__pdf_text(L->p, PDF_HELV_BOLD, 12.5, LEFT, L->y - 3, s, NULL);
    ibex__pdf_line(L->p, LEFT, L->y + 1, RIGHT, L->y + 1, 0.6, RULE);
    L->y += 5;
}

static void subheading(lay *L, const char *s)
{
    ensure(L, 50);
    L->y += 10;
    para(L, PDF_HELV_BOLD, 10.5, LEFT, WIDTH, s, NULL);
    L->y += 2;
}

static void kv(lay *L, const char *k, const char *v, ibex__pdf_font vf)
{
    const double size = 9.5, lh = size * 1.3, kw = 105;
    const char *s = v && *v ? v : "\xE2\x80\x93";
    ensure(L, lh);
    double y0 = L->y;
    ibex__pdf_text(L->p, PDF_HELV_BOLD, size, LEFT, y0 + lh - size * 0.28, k, NULL);
    para(L, vf, vf == PDF_COURIER ? 8.5 : size, LEFT + kw, WIDTH - kw, s, NULL);
    if (L->y < y0 + lh) L->y = y0 + lh;
}

/* A ruled table: the header row repeated on each page; cells wrap within their column. */
typedef struct table {
    size_t ncols;
    const double *w;          /* column widths (sum <= WIDTH) */
    const char *const *head;
    double size;
} table;

static void table_row(lay *L, const table *t, const char *const *cells, int header, const double *mark)
{
    const double pad = 2.5, lh = t->size * 1.25;
    ibex__pdf_font f = header ? PDF_HELV_BOLD : PDF_HELV;
    size_t lines = 1;
    for (size_t c = 0; c < t->ncols; c++) {
        size_t k = count_lines(f, t->size, cells[c], t->w[c] - 2 * pad);
        if (k > lines) lines = k;
    }
    double h = (double)lines * lh + 2 * pad;
    if (h > (BOTTOM - TOP) * 0.9) h = (BOTTOM - TOP) * 0.9; /* a giant cell is cut to what a page holds */
    if (L->y + h > BOTTOM) {
        new_page(L);
        if (!header) table_row(L, t, t->head, 1, NULL);
    }
    double x = LEFT, y0 = L->y;
    for (size_t c = 0; c < t->ncols; c++) {
        ibex__pdf_rect(L->p, x, y0, t->w[c], h, header ? HEAD_BG : NULL, RULE, 0.4);
        const char *s = cells[c] ? cells[c] : "";
        double y = y0 + pad;
        while (*s && y + lh <= y0 + h + 0.01) {
            const char *next;
            size_t len = ibex__pdf_fit(f, t->size, s, t->w[c] - 2 * pad, &next);
            y += lh;
            draw_piece(L, f, t->size, x + pad, y - t->size * 0.25, s, len, NULL);
            s = next;
        }
        x += t->w[c];
    }
    if (mark) ibex__pdf_rect(L->p, LEFT, y0, 2.5, h, mark, NULL, 0);
    L->y = y0 + h;
}

static void fnum(char *out, size_t size, double v, int prec)
{
    if (!isfinite(v)) snprintf(out, size, "\xE2\x80\x93");
    else snprintf(out, size, "%.*f", prec, v);
}

/* ---- pictures ---- */
static ibex_status decode_png(const unsigned char *d, size_t n, unsigned char **rgb, size_t *w, size_t *h,
                              ibex_diag *diag, size_t which)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&im, d, n))
        return ibex__fail(diag, IBEX_ERR_FORMAT, "", -1, "pair %zu: the picture is not a readable PNG (%s)", which,
                          im.message);
    if (!im.width || !im.height || (size_t)im.width * im.height > IBEX_REPORT_MAX_PIXELS) {
        png_image_free(&im);
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "pair %zu: the picture is %u x %u pixels; at most %u pixels",
                          which, im.width, im.height, (unsigned)IBEX_REPORT_MAX_PIXELS);
    }
    im.format = PNG_FORMAT_RGB;
    png_color white = {255, 255, 255};
    size_t bytes = PNG_IMAGE_SIZE(im);
    unsigned char *buf = malloc(bytes);
    if (!buf) {
        png_image_free(&im);
        return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    }
    if (!png_image_finish_read(&im, &white, buf, 0, NULL)) {
        free(buf);
        png_image_free(&im);
        return ibex__fail(diag, IBEX_ERR_FORMAT, "", -1, "pair %zu: the picture is damaged (%s)", which, im.message);
    }
    *rgb = buf;
    *w = im.width;
    *h = im.height;
    png_image_free(&im);
    return IBEX_OK;
}

static void candidates(lay *L, const ibex_report *r)
{
    heading(L, "Ranked candidates");
    if (!r->n_candidates) {
        para(L, PDF_HELV, 9.5, LEFT, WIDTH, "No candidates.", GREY);
        return;
    }
    char intro[200];
    snprintf(intro, sizeof intro, "The software's ranking, best first. CMC: congruent matching cells; the reference "
                                  "line is CMC %d.", r->reference_cmc);
    para(L, PDF_HELV, 9, LEFT, WIDTH, intro, GREY);
    L->y += 4;
    static const double w[8] = {34, 110, 110, 70, 45, 35, 45, 46};
    static const char *const head[8] = {"Rank", "Specimen", "Firearm", "Set", "Stage 1", "CMC", "High-CMC", "Score"};
    table t = {8, w, head, 8};
    table_row(L, &t, head, 1, NULL);
    for (size_t i = 0; i < r->n_candidates; i++) {
        const ibex_report_candidate *c = &r->candidates[i];
        char rank[24], s1[32], cmc[16], hi[16], sc[32];
        snprintf(rank, sizeof rank, "%zu", c->rank);
        fnum(s1, sizeof s1, c->stage1, 3);
        if (c->cmc >= 0) {
            snprintf(cmc, sizeof cmc, "%d", c->cmc);
            snprintf(hi, sizeof hi, "%d", c->cmc_high);
            fnum(sc, sizeof sc, c->score, 3);
        } else {
            snprintf(cmc, sizeof cmc, "\xE2\x80\x93");
            snprintf(hi, sizeof hi, "\xE2\x80\x93");
            snprintf(sc, sizeof sc, "\xE2\x80\x93");
        }
        const char *cells[8] = {rank, ibex__report_str(c->id), ibex__report_str(c->firearm), ibex__report_str(c->set),
                                s1, cmc, hi, sc};
        table_row(L, &t, cells, 0, NULL);
    }
}

static ibex_status pair(lay *L, const ibex_report *r, size_t i, ibex_diag *diag)
{
    const ibex_report_pair *p = &r->pairs[i];
    char title[600], line[600], sc[32], th[32], dx[32], dy[32];
    snprintf(title, sizeof title, "Pair %zu: %.250s and %.250s", i + 1,
             p->questioned && *p->questioned ? p->questioned : ibex__report_str(r->questioned.name),
             p->candidate && *p->candidate ? p->candidate : "candidate");
    if (p->rank) snprintf(title + strlen(title), sizeof title - strlen(title), " (rank %zu)", p->rank);
    /* the picture first: its size keeps the pair's heading on the page the picture starts */
    unsigned char *rgb = NULL;
    size_t w = 0, h = 0;
    double dw = 0, dh = 0;
    if (p->png && p->png_n) {
        ibex_status st = decode_png(p->png, p->png_n, &rgb, &w, &h, diag, i + 1);
        if (st) return st;
        /* at most the text width (1.5 pixels a point), at most 60% of a page */
        dw = (double)w / 1.5;
        dh = (double)h / 1.5;
        double s = fmin(1.0, fmin(WIDTH / dw, (BOTTOM - TOP) * 0.6 / dh));
        dw *= s;
        dh *= s;
    }
    ensure(L, 60 + dh);
    subheading(L, title);
    fnum(sc, sizeof sc, p->score, 3);
    fnum(th, sizeof th, p->theta_deg, 1);
    fnum(dx, sizeof dx, p->dx_um, 0);
    fnum(dy, sizeof dy, p->dy_um, 0);
    snprintf(line, sizeof line,
             "CMC %d, High-CMC %d, score %s; consensus pose of the candidate onto the questioned scan: rotation %s\xC2\xB0, "
             "shift %s, %s \xC2\xB5m.", p->cmc, p->cmc_high, sc, th, dx, dy);
    para(L, PDF_HELV, 9.5, LEFT, WIDTH, line, NULL);
    if (rgb) {
        int im = ibex__pdf_image(L->p, w, h, rgb);
        free(rgb);
        if (im < 0) return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory embedding a picture");
        ensure(L, dh + 8);
        L->y += 4;
        ibex__pdf_draw_image(L->p, im, LEFT, L->y, dw, dh);
        ibex__pdf_rect(L->p, LEFT, L->y, dw, dh, NULL, RULE, 0.4);
        L->y += dh + 4;
    } else {
        para(L, PDF_HELV, 9, LEFT, WIDTH, "No picture of this pair.", GREY);
    }
    if (!p->n_cells) {
        para(L, PDF_HELV, 9, LEFT, WIDTH, "No cell table.", GREY);
        return IBEX_OK;
    }
    L->y += 4;
    static const double cw[9] = {26, 24, 24, 32, 34, 34, 28, 64, 229};
    /* the Greek theta has no WinAnsi code */
    static const char *const head_pdf[9] = {"Cell", "Row", "Col", "CCF", "dx \xC2\xB5m", "dy \xC2\xB5m", "rot. \xC2\xB0",
                                            "Outcome", "Why"};
    table t = {9, cw, head_pdf, 7.5};
    table_row(L, &t, head_pdf, 1, NULL);
    for (size_t k = 0; k < p->n_cells; k++) {
        const ibex_report_cell *c = &p->cells[k];
        char n[24], row[16], col[16], ccf[32], cdx[32], cdy[32], cth[32];
        snprintf(n, sizeof n, "%zu", c->n);
        snprintf(row, sizeof row, "%d", c->row);
        snprintf(col, sizeof col, "%d", c->col);
        fnum(ccf, sizeof ccf, c->used ? c->ccf : NAN, 3);
        fnum(cdx, sizeof cdx, c->used ? c->dx_um : NAN, 0);
        fnum(cdy, sizeof cdy, c->used ? c->dy_um : NAN, 0);
        fnum(cth, sizeof cth, c->used ? c->theta_deg : NAN, 1);
        const char *cells[9] = {n, row, col, ccf, cdx, cdy, cth, ibex__report_cell_state(c), ibex__report_str(c->why)};
        const double *mark = c->used && c->congruent == 1 ? GREEN : c->used && c->congruent == 2 ? ORANGE : NULL;
        table_row(L, &t, cells, 0, mark);
    }
    return IBEX_OK;
}

static void trail(lay *L, const ibex_report *r)
{
    heading(L, "Examiners' conclusions (audit trail)");
    if (!r->n_conclusions) {
        para(L, PDF_HELV, 9.5, LEFT, WIDTH, "No conclusion has been recorded for this case.", GREY);
        return;
    }
    para(L, PDF_HELV, 9, LEFT, WIDTH,
         "Every record as stored, oldest first. Each record holds the SHA-256 of the one before it, so a record "
         "changed or removed afterwards is detected.", GREY);
    L->y += 4;
    static const double w[8] = {22, 74, 66, 50, 54, 66, 36, 127};
    static const char *const head[8] = {"Seq", "Time (UTC)", "Examiner", "Role", "Type", "Conclusion", "Verifies",
                                        "Notes"};
    table t = {8, w, head, 7.5};
    static const double w2[2] = {26, 469};
    static const char *const head2[2] = {"", ""};
    table t2 = {2, w2, head2, 7};
    table_row(L, &t, head, 1, NULL);
    for (size_t i = 0; i < r->n_conclusions; i++) {
        const ibex_conclusion *c = &r->conclusions[i];
        char seq[24], when[40], ver[24];
        snprintf(seq, sizeof seq, "%llu", (unsigned long long)c->seq);
        ibex__report_time(c->time, when, sizeof when);
        if (strlen(when) > 4) when[strlen(when) - 4] = '\0'; /* " UTC" is in the header */
        if (c->type == IBEX_RECORD_VERIFICATION) snprintf(ver, sizeof ver, "%llu", (unsigned long long)c->verifies);
        else snprintf(ver, sizeof ver, "\xE2\x80\x93");
        const char *cells[8] = {seq, when, ibex__report_str(c->examiner), ibex__report_str(c->role),
                                ibex__report_type_name((int)c->type), ibex__report_str(c->conclusion), ver,
                                ibex__report_str(c->notes)};
        table_row(L, &t, cells, 0, NULL);
        char hashes[700];
        snprintf(hashes, sizeof hashes, "questioned %.200s %s\ncandidate %.200s %s\nrecord %s",
                 ibex__report_str(c->questioned_name), c->questioned_sha256, ibex__report_str(c->candidate_name),
                 c->candidate_sha256, c->sha256);
        const char *cells2[2] = {"", hashes};
        table_row(L, &t2, cells2, 0, NULL);
    }
}

ibex_status ibex_report_pdf(const ibex_report *rin, unsigned char **pdf, size_t *n, ibex_diag *diag)
{
    if (!pdf || !n) return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "no place for the PDF (NULL)");
    *pdf = NULL;
    *n = 0;
    ibex_report r;
    ibex_status st = ibex__report_check(rin, &r, diag);
    if (st) return st;
    ibex__pdf *p = ibex__pdf_new();
    if (!p) return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    lay L = {p, TOP};
    new_page(&L);
    char when[40], note[300];
    ibex__report_time(r.created, when, sizeof when);
    ibex__report_threshold_note(&r, note, sizeof note);

    para(&L, PDF_HELV_BOLD, 17, LEFT, WIDTH, r.title, NULL);
    L.y += 6;
    kv(&L, "Case", r.case_id, PDF_HELV);
    kv(&L, "Report made", when, PDF_HELV);
    kv(&L, "Software", r.software, PDF_HELV);
    kv(&L, "Reference library", r.library, PDF_HELV);
    /* the statements, in a box */
    {
        const double size = 9.5, lh = size * 1.3, pad = 6;
        size_t lines = count_lines(PDF_HELV, size, note, WIDTH - 2 * pad);
        for (size_t i = 0; i < 2; i++) lines += count_lines(PDF_HELV, size, ibex__report_notice[i], WIDTH - 2 * pad);
        double h = (double)lines * lh + 2 * pad;
        L.y += 10;
        ensure(&L, h);
        ibex__pdf_rect(p, LEFT, L.y, WIDTH, h, BOX_BG, GREY, 1.2);
        L.y += pad;
        for (size_t i = 0; i < 2; i++) para(&L, PDF_HELV, size, LEFT + pad, WIDTH - 2 * pad, ibex__report_notice[i], NULL);
        para(&L, PDF_HELV, size, LEFT + pad, WIDTH - 2 * pad, note, NULL);
        L.y += pad;
    }
    heading(&L, "Questioned scan");
    kv(&L, "Name", r.questioned.name, PDF_HELV);
    kv(&L, "SHA-256", r.questioned.sha256, PDF_COURIER);
    kv(&L, "Kind", r.questioned.kind, PDF_HELV);
    char size[160];
    ibex__report_size_text(&r, size, sizeof size);
    kv(&L, "Size", size, PDF_HELV);
    if (r.parameters && *r.parameters) {
        heading(&L, "Method and parameters");
        para(&L, PDF_COURIER, 8.5, LEFT, WIDTH, r.parameters, NULL);
    }
    candidates(&L, &r);
    heading(&L, "Compared pairs");
    if (!r.n_pairs) para(&L, PDF_HELV, 9.5, LEFT, WIDTH, "No pair was compared in full for this report.", GREY);
    for (size_t i = 0; i < r.n_pairs && !st; i++) st = pair(&L, &r, i, diag);
    if (!st) {
        trail(&L, &r);
        size_t np = ibex__pdf_page_count(p);
        for (size_t i = 0; i < np; i++) {
            char foot[600];
            ibex__pdf_set_page(p, i);
            ibex__pdf_line(p, LEFT, BOTTOM + 14, RIGHT, BOTTOM + 14, 0.4, RULE);
            snprintf(foot, sizeof foot, "%.200s%s%.200s", r.title, r.case_id && *r.case_id ? " \xE2\x80\x93 " : "",
                     r.case_id && *r.case_id ? r.case_id : "");
            const char *next;
            size_t len = ibex__pdf_fit(PDF_HELV, 7.5, foot, WIDTH - 80, &next);
            draw_piece(&L, PDF_HELV, 7.5, LEFT, BOTTOM + 25, foot, len, GREY);
            char pg[64];
            snprintf(pg, sizeof pg, "page %zu of %zu", i + 1, np);
            ibex__pdf_text(p, PDF_HELV, 7.5, RIGHT - ibex__pdf_text_width(PDF_HELV, 7.5, pg), BOTTOM + 25, pg, GREY);
            ibex__pdf_text(p, PDF_HELV, 7, LEFT, BOTTOM + 35,
                           "Scores are the software's; conclusions are the examiners'; the CMC threshold is a reference only.",
                           GREY);
        }
        st = ibex__pdf_finish(p, r.title, r.software, (long long)r.created, pdf, n, diag);
    }
    ibex__pdf_free(p);
    return st;
}
