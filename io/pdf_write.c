/* A small PDF 1.4 writer (see pdf_internal.h). The document is laid out as: the catalog (1),
 * the page tree (2), the three fonts (3, 4, 5), then per image its XObject, per page the page
 * object and its content stream, and the Info dictionary last; a classic cross-reference
 * table gives every object's byte offset. Page content streams are left uncompressed (they
 * are small, and readable when a test looks for text); images are Flate-compressed. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zlib.h>

#include "ibex_internal.h"
#include "pdf_internal.h"

typedef struct buf {
    char *d;
    size_t n, cap;
    int bad; /* out of memory */
} buf;

static void b_add(buf *b, const void *s, size_t n)
{
    if (b->bad) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n + 1) {
            if (cap > SIZE_MAX / 2) {
                b->bad = 1;
                return;
            }
            cap *= 2;
        }
        char *d = realloc(b->d, cap);
        if (!d) {
            b->bad = 1;
            return;
        }
        b->d = d;
        b->cap = cap;
    }
    memcpy(b->d + b->n, s, n);
    b->n += n;
    b->d[b->n] = '\0';
}

static void b_printf(buf *b, const char *fmt, ...) IBEX__PRINTF(2, 3);
static void b_printf(buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0) {
        b->bad = 1;
        return;
    }
    if ((size_t)k < sizeof tmp) {
        b_add(b, tmp, (size_t)k);
        return;
    }
    char *big = malloc((size_t)k + 1);
    if (!big) {
        b->bad = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)k + 1, fmt, ap);
    va_end(ap);
    b_add(b, big, (size_t)k);
    free(big);
}

typedef struct pdf_image {
    size_t w, h;
    unsigned char *z; /* the Flate-compressed pixels */
    size_t zn;
} pdf_image;

struct ibex__pdf {
    buf *pages;
    size_t npages, cap_pages, cur;
    pdf_image *images;
    size_t nimages, cap_images;
    int bad;
};

ibex__pdf *ibex__pdf_new(void)
{
    return calloc(1, sizeof(ibex__pdf));
}

void ibex__pdf_free(ibex__pdf *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->npages; i++) free(p->pages[i].d);
    for (size_t i = 0; i < p->nimages; i++) free(p->images[i].z);
    free(p->pages);
    free(p->images);
    free(p);
}

int ibex__pdf_page(ibex__pdf *p)
{
    if (p->bad) return -1;
    if (p->npages == p->cap_pages) {
        size_t cap = p->cap_pages ? 2 * p->cap_pages : 8;
        buf *v = realloc(p->pages, cap * sizeof *v);
        if (!v) {
            p->bad = 1;
            return -1;
        }
        p->pages = v;
        p->cap_pages = cap;
    }
    memset(&p->pages[p->npages], 0, sizeof p->pages[0]);
    p->cur = p->npages++;
    return (int)p->cur;
}

size_t ibex__pdf_page_count(const ibex__pdf *p)
{
    return p->npages;
}

void ibex__pdf_set_page(ibex__pdf *p, size_t i)
{
    if (i < p->npages) p->cur = i;
}

static buf *cur(ibex__pdf *p)
{
    if (p->bad) return NULL;
    if (!p->npages && ibex__pdf_page(p) < 0) return NULL;
    return &p->pages[p->cur];
}

/* ---- text ---- */

/* One UTF-8 character from *s (advanced past it): its code point, or -1 when malformed
 * (one byte skipped). */
static long utf8_next(const unsigned char **s)
{
    const unsigned char *p = *s;
    unsigned c = p[0];
    long cp;
    int extra;
    if (c < 0x80) {
        *s = p + 1;
        return (long)c;
    } else if (c >= 0xC2 && c <= 0xDF) {
        cp = c & 0x1F;
        extra = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        cp = c & 0x0F;
        extra = 2;
    } else if (c >= 0xF0 && c <= 0xF4) {
        cp = c & 0x07;
        extra = 3;
    } else {
        *s = p + 1;
        return -1;
    }
    for (int i = 1; i <= extra; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            *s = p + 1;
            return -1;
        }
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
        *s = p + 1;
        return -1;
    }
    *s = p + 1 + extra;
    return cp;
}

static unsigned char winansi(long cp)
{
    if (cp == '\t') return ' ';
    if (cp >= 0x20 && cp < 0x7F) return (unsigned char)cp;
    if (cp >= 0xA0 && cp <= 0xFF) return (unsigned char)cp; /* Latin-1: WinAnsi is the same there */
    switch (cp) {
    case 0x20AC: return 0x80; /* euro */
    case 0x2026: return 0x85; /* ellipsis */
    case 0x2018: return 0x91;
    case 0x2019: return 0x92;
    case 0x201C: return 0x93;
    case 0x201D: return 0x94;
    case 0x2022: return 0x95; /* bullet */
    case 0x2013: return 0x96; /* en dash */
    case 0x2014: return 0x97; /* em dash */
    case 0x2212: return '-';  /* minus sign */
    case 0x2264: return '?';
    default: return '?';
    }
}

size_t ibex__pdf_winansi(const char *utf8, char *out, size_t size)
{
    if (!size) return 0;
    size_t k = 0;
    const unsigned char *s = (const unsigned char *)(utf8 ? utf8 : "");
    while (*s && k + 1 < size) out[k++] = (char)winansi(utf8_next(&s));
    out[k] = '\0';
    return k;
}

/* Helvetica and Helvetica-Bold advance widths (1/1000 em), characters 32..126; the Latin-1
 * upper half is taken as 556 (the width of most letters there, and of µ). */
static const short helv_w[95] = {
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667, 611, 778,
    722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278,
    278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584};
static const short helvb_w[95] = {
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, 975, 722, 722, 722, 722, 667, 611, 778,
    722, 278, 556, 722, 611, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333,
    278, 333, 584, 556, 333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611,
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584};

static double char_w(ibex__pdf_font f, unsigned char c)
{
    if (f == PDF_COURIER) return 600;
    if (c >= 32 && c <= 126) return f == PDF_HELV_BOLD ? helvb_w[c - 32] : helv_w[c - 32];
    if (c == 0x95) return 350;
    if (c == 0x97) return 1000;
    return 556;
}

double ibex__pdf_text_width(ibex__pdf_font f, double size, const char *utf8)
{
    double w = 0;
    const unsigned char *s = (const unsigned char *)(utf8 ? utf8 : "");
    while (*s) w += char_w(f, winansi(utf8_next(&s)));
    return w * size / 1000.0;
}

size_t ibex__pdf_fit(ibex__pdf_font f, double size, const char *utf8, double width, const char **next)
{
    const unsigned char *s = (const unsigned char *)utf8, *start = s;
    double w = 0;
    size_t last_space = 0, fit = 0;
    while (*s) {
        if (*s == '\n') break;
        const unsigned char *at = s;
        double cw = char_w(f, winansi(utf8_next(&s))) * size / 1000.0;
        if (w + cw > width && fit > 0) {
            s = at;
            break;
        }
        w += cw;
        fit = (size_t)(s - start);
        if (*at == ' ') last_space = (size_t)(at - start);
    }
    size_t cut = fit;
    if (*s && *s != '\n' && *s != ' ' && last_space > 0) cut = last_space; /* break at the last space */
    const char *nx = utf8 + cut;
    while (*nx == ' ') nx++;
    if (*nx == '\n') nx++;
    if (next) *next = nx;
    return cut;
}

static void rgb_op(buf *b, const double *rgb, const char *op)
{
    static const double black[3] = {0, 0, 0};
    if (!rgb) rgb = black;
    b_printf(b, "%.3f %.3f %.3f %s\n", rgb[0], rgb[1], rgb[2], op);
}

void ibex__pdf_text(ibex__pdf *p, ibex__pdf_font f, double size, double x, double y, const char *utf8,
                    const double *rgb)
{
    buf *b = cur(p);
    if (!b || !utf8) return;
    rgb_op(b, rgb, "rg");
    b_printf(b, "BT /F%d %.2f Tf %.2f %.2f Td (", (int)f + 1, size, x, IBEX_PDF_H - y);
    const unsigned char *s = (const unsigned char *)utf8;
    while (*s) {
        long cp = utf8_next(&s);
        if (cp == '\n' || cp == '\r') continue;
        unsigned char c = winansi(cp);
        if (c == '(' || c == ')' || c == '\\') {
            char e[2] = {'\\', (char)c};
            b_add(b, e, 2);
        } else if (c >= 0x80) {
            b_printf(b, "\\%03o", c);
        } else {
            b_add(b, &c, 1);
        }
    }
    b_add(b, ") Tj ET\n", 8);
    if (b->bad) p->bad = 1;
}

void ibex__pdf_line(ibex__pdf *p, double x0, double y0, double x1, double y1, double width, const double *rgb)
{
    buf *b = cur(p);
    if (!b) return;
    rgb_op(b, rgb, "RG");
    b_printf(b, "%.2f w %.2f %.2f m %.2f %.2f l S\n", width, x0, IBEX_PDF_H - y0, x1, IBEX_PDF_H - y1);
    if (b->bad) p->bad = 1;
}

void ibex__pdf_rect(ibex__pdf *p, double x, double y, double w, double h, const double *fill,
                    const double *stroke, double line_width)
{
    buf *b = cur(p);
    if (!b || (!fill && !stroke)) return;
    if (fill) rgb_op(b, fill, "rg");
    if (stroke) {
        rgb_op(b, stroke, "RG");
        b_printf(b, "%.2f w\n", line_width);
    }
    b_printf(b, "%.2f %.2f %.2f %.2f re %s\n", x, IBEX_PDF_H - y - h, w, h, fill && stroke ? "B" : fill ? "f" : "S");
    if (b->bad) p->bad = 1;
}

int ibex__pdf_image(ibex__pdf *p, size_t w, size_t h, const unsigned char *rgb)
{
    if (p->bad || !rgb || !w || !h) return -1;
    size_t n;
    if (!ibex__mul_ok(w, h, &n) || !ibex__mul_ok(n, 3, &n) || n > (size_t)1 << 30) return -1;
    if (p->nimages == p->cap_images) {
        size_t cap = p->cap_images ? 2 * p->cap_images : 4;
        pdf_image *v = realloc(p->images, cap * sizeof *v);
        if (!v) {
            p->bad = 1;
            return -1;
        }
        p->images = v;
        p->cap_images = cap;
    }
    uLongf zn = compressBound((uLong)n);
    unsigned char *z = malloc(zn);
    if (!z || compress2(z, &zn, rgb, (uLong)n, 6) != Z_OK) {
        free(z);
        p->bad = 1;
        return -1;
    }
    pdf_image *im = &p->images[p->nimages];
    im->w = w;
    im->h = h;
    im->z = z;
    im->zn = zn;
    return (int)p->nimages++;
}

void ibex__pdf_draw_image(ibex__pdf *p, int image, double x, double y, double w, double h)
{
    buf *b = cur(p);
    if (!b || image < 0 || (size_t)image >= p->nimages) return;
    b_printf(b, "q %.2f 0 0 %.2f %.2f %.2f cm /Im%d Do Q\n", w, h, x, IBEX_PDF_H - y - h, image + 1);
    if (b->bad) p->bad = 1;
}

/* ---- the file ---- */

/* A PDF text string of UTF-8 text (WinAnsi, close enough to PDFDocEncoding for Latin-1). */
static void pdf_string(buf *b, const char *utf8)
{
    b_add(b, "(", 1);
    const unsigned char *s = (const unsigned char *)(utf8 ? utf8 : "");
    while (*s) {
        unsigned char c = winansi(utf8_next(&s));
        if (c == '(' || c == ')' || c == '\\') {
            char e[2] = {'\\', (char)c};
            b_add(b, e, 2);
        } else if (c >= 0x80 || c < 0x20) {
            b_printf(b, "\\%03o", c);
        } else {
            b_add(b, &c, 1);
        }
    }
    b_add(b, ")", 1);
}

ibex_status ibex__pdf_finish(ibex__pdf *p, const char *title, const char *producer, long long created,
                             unsigned char **out, size_t *n, ibex_diag *diag)
{
    if (!p || !out || !n) return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "invalid argument");
    if (!p->npages && ibex__pdf_page(p) < 0) p->bad = 1;
    for (size_t i = 0; i < p->npages; i++)
        if (p->pages[i].bad) p->bad = 1;
    if (p->bad) return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory writing the PDF");
    /* object numbers */
    const size_t o_img = 6, o_page = o_img + p->nimages; /* page i: o_page + 2i, its content + 1 */
    const size_t o_info = o_page + 2 * p->npages, nobj = o_info + 1;
    size_t *off = calloc(nobj, sizeof *off);
    buf b = {0};
    if (!off) return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory writing the PDF");
    b_add(&b, "%PDF-1.4\n%\xE2\xE3\xCF\xD3\n", 15);

    off[1] = b.n;
    b_printf(&b, "1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n");
    off[2] = b.n;
    b_printf(&b, "2 0 obj\n<< /Type /Pages /Count %zu /Kids [", p->npages);
    for (size_t i = 0; i < p->npages; i++) b_printf(&b, "%s%zu 0 R", i ? " " : "", o_page + 2 * i);
    b_printf(&b, "] >>\nendobj\n");
    static const char *const fonts[3] = {"Helvetica", "Helvetica-Bold", "Courier"};
    for (int f = 0; f < 3; f++) {
        off[3 + f] = b.n;
        b_printf(&b, "%d 0 obj\n<< /Type /Font /Subtype /Type1 /BaseFont /%s /Encoding /WinAnsiEncoding >>\nendobj\n",
                 3 + f, fonts[f]);
    }
    for (size_t i = 0; i < p->nimages; i++) {
        const pdf_image *im = &p->images[i];
        off[o_img + i] = b.n;
        b_printf(&b,
                 "%zu 0 obj\n<< /Type /XObject /Subtype /Image /Width %zu /Height %zu /ColorSpace /DeviceRGB "
                 "/BitsPerComponent 8 /Filter /FlateDecode /Length %zu >>\nstream\n",
                 o_img + i, im->w, im->h, im->zn);
        b_add(&b, im->z, im->zn);
        b_printf(&b, "\nendstream\nendobj\n");
    }
    for (size_t i = 0; i < p->npages; i++) {
        size_t o = o_page + 2 * i;
        off[o] = b.n;
        b_printf(&b, "%zu 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.3f %.3f] /Contents %zu 0 R "
                     "/Resources << /Font << /F1 3 0 R /F2 4 0 R /F3 5 0 R >>",
                 o, IBEX_PDF_W, IBEX_PDF_H, o + 1);
        if (p->nimages) {
            b_printf(&b, " /XObject <<");
            for (size_t k = 0; k < p->nimages; k++) b_printf(&b, " /Im%zu %zu 0 R", k + 1, o_img + k);
            b_printf(&b, " >>");
        }
        b_printf(&b, " /ProcSet [/PDF /Text /ImageC] >> >>\nendobj\n");
        off[o + 1] = b.n;
        const buf *c = &p->pages[i];
        b_printf(&b, "%zu 0 obj\n<< /Length %zu >>\nstream\n", o + 1, c->n);
        if (c->n) b_add(&b, c->d, c->n);
        b_printf(&b, "\nendstream\nendobj\n");
    }
    off[o_info] = b.n;
    char when[40] = "";
    time_t t = (time_t)created;
    struct tm tm;
    if (gmtime_r(&t, &tm)) strftime(when, sizeof when, "D:%Y%m%d%H%M%SZ", &tm);
    b_printf(&b, "%zu 0 obj\n<< /Title ", o_info);
    pdf_string(&b, title);
    b_printf(&b, " /Producer ");
    pdf_string(&b, producer);
    b_printf(&b, " /Creator ");
    pdf_string(&b, producer);
    if (when[0]) b_printf(&b, " /CreationDate (%s)", when);
    b_printf(&b, " >>\nendobj\n");
    size_t xref = b.n;
    b_printf(&b, "xref\n0 %zu\n0000000000 65535 f \n", nobj);
    for (size_t i = 1; i < nobj; i++) b_printf(&b, "%010zu 00000 n \n", off[i]);
    b_printf(&b, "trailer\n<< /Size %zu /Root 1 0 R /Info %zu 0 R >>\nstartxref\n%zu\n%%%%EOF\n", nobj, o_info, xref);
    free(off);
    if (b.bad) {
        free(b.d);
        return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory writing the PDF");
    }
    *out = (unsigned char *)b.d;
    *n = b.n;
    return IBEX_OK;
}
