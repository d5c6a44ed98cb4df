/* PNG in and out (libpng): grey images as surfaces, surfaces as 16-bit grey + alpha,
 * and RGB pictures. libpng reports errors by long-jumping out of its calls, so each
 * libpng sequence runs inside one small guarded function whose only state lives in a
 * context struct owned by its caller (C17 7.13.2.1: locals of the setjmp caller that
 * change afterwards would be indeterminate). */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "atomic_file.h"
#include "ibex/ibex.h"
#include "ibex_internal.h"

/* Text chunk keywords written by ibex_surface_write_png (PNG keywords: 1-79 Latin-1 chars). */
#define KEY_ZKIND "IBEX zkind"
#define KEY_SCALE "IBEX z scale"
#define KEY_OFFSET "IBEX z offset"
#define KEY_DX "IBEX dx"
#define KEY_DY "IBEX dy"
#define KEY_X0 "IBEX x0"
#define KEY_Y0 "IBEX y0"
#define KEY_META "IBEX meta " /* + metadata key, value in iTXt (UTF-8) */

/* Ancillary chunks larger than this are dropped, and at most this many kept: a file
 * cannot make the reader hold more than a few MiB besides the image itself. */
#define CHUNK_MALLOC_MAX ((png_alloc_size_t)8 << 20)
#define CHUNK_CACHE_MAX 1000

/* ---- shared libpng callbacks ---- */

typedef struct pngio {
    char lib_msg[256]; /* libpng's last error message */
    char lib_warn[256]; /* and its last warning (the reason behind "Invalid IHDR data") */
    FILE *f;
    long long pos;     /* bytes read or written so far */
    int eof;           /* the read callback met the end of the file */
    int sys_errno;     /* fread/fwrite failed with this errno */
} pngio;

static void on_error(png_structp png, png_const_charp msg)
{
    pngio *io = png_get_error_ptr(png);
    snprintf(io->lib_msg, sizeof io->lib_msg, "%s", msg ? msg : "unknown libpng error");
    png_longjmp(png, 1);
}

/* Warnings are benign (unknown chunks, odd sRGB profiles) and not shown, but the last one is
 * kept: libpng explains an IHDR it rejects only in a warning. */
static void on_warning(png_structp png, png_const_charp msg)
{
    pngio *io = png_get_error_ptr(png);
    snprintf(io->lib_warn, sizeof io->lib_warn, "%s", msg ? msg : "");
}

static void read_bytes(png_structp png, png_bytep out, size_t n)
{
    pngio *io = png_get_io_ptr(png);
    size_t got = fread(out, 1, n, io->f);
    io->pos += (long long)got;
    if (got != n) {
        if (ferror(io->f)) io->sys_errno = errno ? errno : EIO;
        else io->eof = 1;
        png_error(png, "read past the end of the file");
    }
}

static void write_bytes(png_structp png, png_bytep data, size_t n)
{
    pngio *io = png_get_io_ptr(png);
    if (fwrite(data, 1, n, io->f) != n) {
        io->sys_errno = errno ? errno : EIO;
        png_error(png, "write failed");
    }
    io->pos += (long long)n;
}

static void flush_bytes(png_structp png)
{
    pngio *io = png_get_io_ptr(png);
    if (fflush(io->f) != 0) {
        io->sys_errno = errno ? errno : EIO;
        png_error(png, "write failed");
    }
}

/* ---- reading ---- */

typedef struct reader {
    pngio io;          /* first: libpng's error pointer */
    const char *path;
    double spacing;    /* caller's spacing, or 0 */
    png_structp png;
    png_infop info;
    unsigned char *buf; /* one row, or the whole image when interlaced */
    png_bytep *rows;
    ibex_surface *s;
    ibex_status st;    /* own (non-libpng) failure, with msg */
    char msg[256];
} reader;

static ibex_status own_fail(reader *r, ibex_status st, const char *msg)
{
    r->st = st;
    snprintf(r->msg, sizeof r->msg, "%s", msg);
    return st;
}

/* One transformed row (grey or grey+alpha, 8 or 16 bit) into surface row y as raw counts;
 * counts become heights or intensities once every chunk (text may follow IDAT) is read. */
static void store_row(ibex_surface *s, size_t y, const unsigned char *row, int channels, int depth)
{
    float *z = s->z + y * s->nx;
    uint8_t *v = s->valid + y * s->nx;
    for (size_t x = 0; x < s->nx; x++) {
        unsigned grey, alpha;
        if (depth == 16) {
            const unsigned char *p = row + x * 2 * (size_t)channels;
            grey = (unsigned)p[0] << 8 | p[1];
            alpha = channels == 2 ? ((unsigned)p[2] << 8 | p[3]) : 1;
        } else {
            const unsigned char *p = row + x * (size_t)channels;
            grey = p[0];
            alpha = channels == 2 ? p[1] : 1;
        }
        if (alpha) {
            z[x] = (float)grey;
            v[x] = 1;
        } else {
            z[x] = NAN;
            v[x] = 0;
        }
    }
}

typedef struct ibex_text {
    int have_scale, have_offset, have_dx, have_dy, have_x0, have_y0, have_kind;
    double scale, offset, dx, dy, x0, y0;
    ibex_zkind kind;
} ibex_text;

static int parse_num(const char *t, double *v)
{
    char *end;
    errno = 0;
    *v = strtod(t, &end);
    return end != t && *end == '\0' && errno == 0 && isfinite(*v);
}

/* The IBEX text chunks (and metadata); own_fail on a malformed value. */
static ibex_status read_text(reader *r, ibex_text *t)
{
    png_textp text;
    int n = 0;
    memset(t, 0, sizeof *t);
    png_get_text(r->png, r->info, &text, &n);
    for (int i = 0; i < n; i++) {
        const char *k = text[i].key, *val = text[i].text ? text[i].text : "";
        double v = 0;
        int *have = NULL;
        double *dst = NULL;
        int positive = 0;
        if (strncmp(k, KEY_META, sizeof KEY_META - 1) == 0) {
            /* Unknown keys come from a newer writer: skip them rather than refuse the image. */
            if (ibex_meta_set(&r->s->meta, k + sizeof KEY_META - 1, val) == IBEX_ERR_NOMEM)
                return own_fail(r, IBEX_ERR_NOMEM, "out of memory");
            continue;
        }
        if (!strcmp(k, KEY_ZKIND)) {
            if (!strcmp(val, "height")) t->kind = IBEX_Z_HEIGHT;
            else if (!strcmp(val, "intensity")) t->kind = IBEX_Z_INTENSITY;
            else {
                snprintf(r->msg, sizeof r->msg, "text chunk '%s' has unknown value '%.40s'", k, val);
                return r->st = IBEX_ERR_FORMAT;
            }
            t->have_kind = 1;
            continue;
        }
        if (!strcmp(k, KEY_SCALE)) have = &t->have_scale, dst = &t->scale;
        else if (!strcmp(k, KEY_OFFSET)) have = &t->have_offset, dst = &t->offset;
        else if (!strcmp(k, KEY_DX)) have = &t->have_dx, dst = &t->dx, positive = 1;
        else if (!strcmp(k, KEY_DY)) have = &t->have_dy, dst = &t->dy, positive = 1;
        else if (!strcmp(k, KEY_X0)) have = &t->have_x0, dst = &t->x0;
        else if (!strcmp(k, KEY_Y0)) have = &t->have_y0, dst = &t->y0;
        else continue;
        if (!parse_num(val, &v) || (positive && !(v > 0)) || (dst == &t->scale && v < 0)) {
            snprintf(r->msg, sizeof r->msg, "text chunk '%s' has a bad value '%.40s'", k, val);
            return r->st = IBEX_ERR_FORMAT;
        }
        *have = 1;
        *dst = v;
    }
    if (t->have_scale != t->have_offset || (t->have_scale && !t->have_kind))
        return own_fail(r, IBEX_ERR_FORMAT,
                        "IBEX text chunks incomplete (need zkind, z scale and z offset together)");
    return IBEX_OK;
}

/* Counts to values, and the grid spacing: caller's, else IBEX text, else pHYs, else 1 um. */
static ibex_status finish(reader *r, unsigned maxcount)
{
    ibex_text t;
    ibex_status st = read_text(r, &t);
    if (st) return st;
    ibex_surface *s = r->s;
    size_t n = s->nx * s->ny;
    s->zkind = t.have_scale ? t.kind : IBEX_Z_INTENSITY;
    for (size_t i = 0; i < n; i++) {
        if (!s->valid[i]) continue;
        double c = s->z[i];
        s->z[i] = (float)(t.have_scale ? t.offset + t.scale * c : c / maxcount);
    }

    double dx = 1e-6, dy = 1e-6;
    png_uint_32 px, py;
    int unit;
    if (png_get_pHYs(r->png, r->info, &px, &py, &unit) && unit == PNG_RESOLUTION_METER && px > 0 &&
        py > 0) {
        dx = 1.0 / px;
        dy = 1.0 / py;
    }
    if (t.have_dx) dx = t.dx;
    if (t.have_dy) dy = t.dy;
    if (r->spacing > 0) dx = dy = r->spacing;
    s->dx = dx;
    s->dy = dy;
    if (t.have_x0) s->x0 = t.x0;
    if (t.have_y0) s->y0 = t.y0;
    return IBEX_OK;
}

static ibex_status do_read(reader *r)
{
    png_structp png = r->png;
    png_set_user_limits(png, IBEX_MAX_SIDE, IBEX_MAX_SIDE);
    png_set_chunk_malloc_max(png, CHUNK_MALLOC_MAX);
    png_set_chunk_cache_max(png, CHUNK_CACHE_MAX);
    png_set_sig_bytes(png, 8);
    png_read_info(png, r->info);

    png_uint_32 w, h;
    int depth, ctype, interlace;
    png_get_IHDR(png, r->info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
    size_t npts;
    if (w > IBEX_MAX_SIDE || h > IBEX_MAX_SIDE || !ibex__mul_ok(w, h, &npts) ||
        npts > IBEX_MAX_POINTS) {
        snprintf(r->msg, sizeof r->msg,
                 "image too large: header claims %lux%lu pixels (limit %zu per side, %zu in all)",
                 (unsigned long)w, (unsigned long)h, IBEX_MAX_SIDE, IBEX_MAX_POINTS);
        return r->st = IBEX_ERR_LIMIT;
    }
    /* Everything to 8- or 16-bit grey, with alpha when the file has any transparency. */
    if (ctype == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, r->info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    if (ctype & PNG_COLOR_MASK_COLOR) /* luminance with libpng's default Rec. 709 weights */
        png_set_rgb_to_gray_fixed(png, 1, -1, -1);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, r->info);
    int channels = png_get_channels(png, r->info);
    int odepth = png_get_bit_depth(png, r->info);
    size_t rowbytes = png_get_rowbytes(png, r->info);
    if ((channels != 1 && channels != 2) || (odepth != 8 && odepth != 16))
        return own_fail(r, IBEX_ERR_UNSUPPORTED, "cannot convert this PNG colour type to grey");

    /* Provisional spacing: finish() sets the real one once trailing chunks are read. */
    ibex_status st = ibex_surface_create(w, h, 1e-6, 1e-6, &r->s);
    if (st) return own_fail(r, st, st == IBEX_ERR_NOMEM ? "out of memory" : "image too large");
    size_t nbuf = passes > 1 ? h : 1, bytes;
    if (!ibex__mul_ok(rowbytes, nbuf, &bytes) || !(r->buf = malloc(bytes)) ||
        !(r->rows = malloc(nbuf * sizeof *r->rows)))
        return own_fail(r, IBEX_ERR_NOMEM, "out of memory");
    for (size_t y = 0; y < nbuf; y++) r->rows[y] = r->buf + y * rowbytes;
    if (passes > 1) { /* Adam7 needs every row present while the passes fill them in */
        png_read_image(png, r->rows);
        for (size_t y = 0; y < h; y++) store_row(r->s, y, r->rows[y], channels, odepth);
    } else {
        for (size_t y = 0; y < h; y++) {
            png_read_row(png, r->rows[0], NULL);
            store_row(r->s, y, r->rows[0], channels, odepth);
        }
    }
    png_read_end(png, r->info);
    return finish(r, odepth == 16 ? 65535u : 255u);
}

/* 1 when libpng long-jumped out (message in r->io.lib_msg). */
static int guarded_read(reader *r)
{
    if (setjmp(png_jmpbuf(r->png))) return 1;
    r->st = do_read(r);
    return 0;
}

static ibex_status lib_failure(const pngio *io, const char *path, ibex_diag *diag, int writing)
{
    const char *m = io->lib_msg;
    if (io->sys_errno)
        return ibex__fail(diag, IBEX_ERR_IO, path, -1, "%s error: %s", writing ? "write" : "read",
                          strerror(io->sys_errno));
    if (io->eof)
        return ibex__fail(diag, IBEX_ERR_FORMAT, path, io->pos,
                          "truncated PNG: the file ends before the image does");
    if (strstr(m, "CRC"))
        return ibex__fail(diag, IBEX_ERR_INTEGRITY, path, io->pos,
                          "corrupted PNG: chunk checksum (CRC) mismatch (%s)", m);
    if (strstr(m, "user limit") || strstr(io->lib_warn, "user limit"))
        return ibex__fail(diag, IBEX_ERR_LIMIT, path, io->pos,
                          "image too large: %s (limit %zu pixels per side)",
                          strstr(m, "user limit") ? m : io->lib_warn, IBEX_MAX_SIDE);
    if (!strncmp(m, "IDAT:", 5)) /* zlib found the compressed pixels damaged */
        return ibex__fail(diag, IBEX_ERR_FORMAT, path, io->pos,
                          "corrupted PNG: damaged image data (%s)", m);
    if (strstr(m, "memory"))
        return ibex__fail(diag, IBEX_ERR_NOMEM, path, -1, "out of memory (%s)", m);
    return ibex__fail(diag, IBEX_ERR_FORMAT, path, writing ? -1 : io->pos, "%s PNG: %s",
                      writing ? "cannot write" : "corrupted", m);
}

ibex_status ibex_surface_read_png(const char *path, double spacing, ibex_surface **out,
                                  ibex_diag *diag)
{
    if (!path || !out || !(spacing >= 0) || !isfinite(spacing))
        return ibex__fail(diag, IBEX_ERR_ARG, path, -1, "invalid argument");
    reader r;
    memset(&r, 0, sizeof r);
    r.path = path;
    r.spacing = spacing;
    if (!(r.io.f = fopen(path, "rb")))
        return ibex__fail(diag, IBEX_ERR_IO, path, -1, "cannot open: %s", strerror(errno));
    unsigned char sig[8];
    size_t got = fread(sig, 1, sizeof sig, r.io.f);
    ibex_status st = IBEX_OK;
    if (got == 0)
        st = ibex__fail(diag, IBEX_ERR_FORMAT, path, -1, "empty file (0 bytes), not a PNG");
    else if (png_sig_cmp(sig, 0, got) != 0)
        st = ibex__fail(diag, IBEX_ERR_FORMAT, path, 0, "not a PNG (bad signature)");
    else if (got < sizeof sig)
        st = ibex__fail(diag, IBEX_ERR_FORMAT, path, (long long)got,
                        "truncated PNG: the file ends inside the signature");
    if (st) {
        fclose(r.io.f);
        return st;
    }
    r.io.pos = 8;
    r.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &r.io, on_error, on_warning);
    if (r.png) r.info = png_create_info_struct(r.png);
    if (!r.png || !r.info) {
        st = ibex__fail(diag, IBEX_ERR_NOMEM, path, -1, "out of memory");
    } else {
        png_set_read_fn(r.png, &r.io, read_bytes);
        if (guarded_read(&r))
            st = lib_failure(&r.io, path, diag, 0);
        else if (r.st)
            st = ibex__fail(diag, r.st, path, -1, "%s", r.msg);
    }
    png_destroy_read_struct(r.png ? &r.png : NULL, r.info ? &r.info : NULL, NULL);
    free(r.rows);
    free(r.buf);
    fclose(r.io.f);
    if (st) {
        ibex_surface_free(r.s);
        return st;
    }
    *out = r.s;
    return IBEX_OK;
}

/* ---- writing ---- */

typedef struct writer {
    pngio io;          /* first: libpng's error pointer */
    png_structp png;
    png_infop info;
    unsigned char *row;
    png_bytep *rows;
    const ibex_surface *s; /* one of s, im */
    const ibex_image *im;
} writer;

/* Pixels per metre for pHYs, 0 when it does not fit the field. */
static png_uint_32 ppm(double spacing)
{
    double v = floor(1.0 / spacing + 0.5);
    return (v >= 1 && v <= 2147483647.0) ? (png_uint_32)v : 0;
}

static void write_surface_body(writer *w)
{
    const ibex_surface *s = w->s;
    png_structp png = w->png;
    size_t n = s->nx * s->ny;
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (s->valid[i]) {
            if (s->z[i] < lo) lo = s->z[i];
            if (s->z[i] > hi) hi = s->z[i];
        }
    if (!(lo <= hi)) lo = hi = 0; /* no valid point */
    /* Full 16-bit range: value = offset + scale * count, count in 0..65535. */
    double scale = hi > lo ? (hi - lo) / 65535.0 : 0, offset = lo;

    png_set_IHDR(png, w->info, (png_uint_32)s->nx, (png_uint_32)s->ny, 16,
                 PNG_COLOR_TYPE_GRAY_ALPHA, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_uint_32 px = ppm(s->dx), py = ppm(s->dy);
    if (px && py) png_set_pHYs(png, w->info, px, py, PNG_RESOLUTION_METER);

    char num[8][40];
    png_text text[8 + 32];
    int nt = 0;
    const char *keys[7] = {KEY_ZKIND, KEY_SCALE, KEY_OFFSET, KEY_DX, KEY_DY, KEY_X0, KEY_Y0};
    double vals[7] = {0, scale, offset, s->dx, s->dy, s->x0, s->y0};
    snprintf(num[0], sizeof num[0], "%s", s->zkind == IBEX_Z_INTENSITY ? "intensity" : "height");
    for (int i = 1; i < 7; i++) snprintf(num[i], sizeof num[i], "%.17g", vals[i]);
    memset(text, 0, sizeof text);
    for (int i = 0; i < 7; i++) {
        text[nt].compression = PNG_TEXT_COMPRESSION_NONE;
        text[nt].key = (char *)keys[i];
        text[nt].text = num[i];
        nt++;
    }
    text[nt].compression = PNG_TEXT_COMPRESSION_NONE;
    text[nt].key = (char *)"Software";
    text[nt].text = (char *)"IBEX " IBEX_VERSION_STRING;
    nt++;
    /* Metadata may be any UTF-8: iTXt, which tEXt (Latin-1) cannot hold. */
    char mkeys[32][80];
    for (size_t i = 0; i < ibex_meta_count() && nt < (int)(sizeof text / sizeof text[0]); i++) {
        const char *k = ibex_meta_key(i), *v = ibex_meta_get(&s->meta, k);
        if (!v) continue;
        snprintf(mkeys[nt - 8], sizeof mkeys[0], "%s%s", KEY_META, k);
        text[nt].compression = PNG_ITXT_COMPRESSION_NONE;
        text[nt].key = mkeys[nt - 8];
        text[nt].text = (char *)v;
        text[nt].lang = (char *)"";
        text[nt].lang_key = (char *)"";
        nt++;
    }
    png_set_text(png, w->info, text, nt);
    png_write_info(png, w->info);

    w->row = malloc(s->nx * 4); /* nx <= IBEX_MAX_SIDE: no overflow */
    if (!w->row) png_error(png, "out of memory");
    for (size_t y = 0; y < s->ny; y++) {
        const float *z = s->z + y * s->nx;
        const uint8_t *v = s->valid + y * s->nx;
        unsigned char *p = w->row;
        for (size_t x = 0; x < s->nx; x++, p += 4) {
            unsigned c = 0, a = 0;
            if (v[x]) {
                a = 65535;
                if (scale > 0) {
                    double t = floor(((double)z[x] - offset) / scale + 0.5);
                    c = t < 0 ? 0 : t > 65535 ? 65535 : (unsigned)t;
                }
            }
            p[0] = (unsigned char)(c >> 8);
            p[1] = (unsigned char)c;
            p[2] = (unsigned char)(a >> 8);
            p[3] = (unsigned char)a;
        }
        png_write_row(png, w->row);
    }
    png_write_end(png, w->info);
}

static void write_image_body(writer *w)
{
    const ibex_image *im = w->im;
    png_set_IHDR(w->png, w->info, (png_uint_32)im->w, (png_uint_32)im->h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    /* The colour maps are designed in sRGB. */
    png_set_sRGB_gAMA_and_cHRM(w->png, w->info, PNG_sRGB_INTENT_PERCEPTUAL);
    png_text t;
    memset(&t, 0, sizeof t);
    t.compression = PNG_TEXT_COMPRESSION_NONE;
    t.key = (char *)"Software";
    t.text = (char *)"IBEX " IBEX_VERSION_STRING;
    png_set_text(w->png, w->info, &t, 1);
    png_write_info(w->png, w->info);
    for (size_t y = 0; y < im->h; y++) png_write_row(w->png, im->rgb + y * im->w * 3);
    png_write_end(w->png, w->info);
}

static int guarded_write(writer *w)
{
    if (setjmp(png_jmpbuf(w->png))) return 1;
    if (w->s) write_surface_body(w);
    else write_image_body(w);
    return 0;
}

/* PATH.tmp-XXXXXX, written then renamed; removed on any failure. */
static ibex_status write_atomic(writer *w, const char *path, ibex_diag *diag)
{
    char tmp[4200];
    ibex_status st = ibex__atomic_begin(path, tmp, sizeof tmp, diag);
    if (st) return st;
    if (!(w->io.f = fopen(tmp, "wb"))) {
        st = ibex__fail(diag, IBEX_ERR_IO, path, -1, "cannot write: %s", strerror(errno));
        ibex__atomic_abort(tmp);
        return st;
    }
    w->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &w->io, on_error, on_warning);
    if (w->png) w->info = png_create_info_struct(w->png);
    if (!w->png || !w->info) {
        st = ibex__fail(diag, IBEX_ERR_NOMEM, path, -1, "out of memory");
    } else {
        png_set_write_fn(w->png, &w->io, write_bytes, flush_bytes);
        if (guarded_write(w)) st = lib_failure(&w->io, path, diag, 1);
    }
    png_destroy_write_struct(w->png ? &w->png : NULL, w->info ? &w->info : NULL);
    free(w->row);
    if (fclose(w->io.f) != 0 && !st)
        st = ibex__fail(diag, IBEX_ERR_IO, path, -1, "cannot write: %s", strerror(errno));
    if (st) {
        ibex__atomic_abort(tmp);
        return st;
    }
    return ibex__atomic_commit(tmp, path, diag);
}

ibex_status ibex_surface_write_png(const ibex_surface *s, const char *path, ibex_diag *diag)
{
    if (!s || !path || !s->z || !s->valid || s->nx == 0 || s->ny == 0)
        return ibex__fail(diag, IBEX_ERR_ARG, path, -1, "invalid argument");
    if (s->nx > IBEX_MAX_SIDE || s->ny > IBEX_MAX_SIDE)
        return ibex__fail(diag, IBEX_ERR_LIMIT, path, -1, "surface too large for PNG");
    writer w;
    memset(&w, 0, sizeof w);
    w.s = s;
    return write_atomic(&w, path, diag);
}

ibex_status ibex_image_write_png(const ibex_image *im, const char *path, ibex_diag *diag)
{
    if (!im || !path || !im->rgb || im->w == 0 || im->h == 0)
        return ibex__fail(diag, IBEX_ERR_ARG, path, -1, "invalid argument");
    if (im->w > PNG_UINT_31_MAX / 3 || im->h > PNG_UINT_31_MAX)
        return ibex__fail(diag, IBEX_ERR_LIMIT, path, -1, "image too large for PNG");
    writer w;
    memset(&w, 0, sizeof w);
    w.im = im;
    return write_atomic(&w, path, diag);
}
