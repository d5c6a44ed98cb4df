/* PNG in: 1-16 bit grey, grey + alpha, palette and colour (as luminance) to a surface; the
 * IBEX text chunks written by png_write.c restore heights in metres, spacing and origin. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ibex/io.h"
#include "ibex_internal.h"
#include "png_internal.h"

/* Picks each chunk header out of the bytes just read (out, n of them, ending at io->pos) and
 * checks its length before libpng sees it: libpng reads a chunk's 8-byte header, then
 * allocates for the length it declares, so a lie must be caught here. */
static void check_chunks(png_structp png, pngio *io, const unsigned char *out, size_t n)
{
    long long start = io->pos - (long long)n;
    while (io->next_chunk < io->pos) {
        long long k = io->next_chunk + io->hdr_have; /* next header byte wanted */
        while (io->hdr_have < 8 && k < io->pos) io->hdr[io->hdr_have++] = out[k++ - start];
        if (io->hdr_have < 8) return;
        const unsigned char *h = io->hdr;
        unsigned long len = (unsigned long)h[0] << 24 | (unsigned long)h[1] << 16 |
                            (unsigned long)h[2] << 8 | h[3];
        char type[5];
        for (int i = 0; i < 4; i++) type[i] = isprint(h[4 + i]) ? (char)h[4 + i] : '?';
        type[4] = '\0';
        long long left = io->file_size - (io->next_chunk + 8); /* data and CRC */
        if (io->file_size >= 0 && (long long)len + 4 > left) {
            io->chunk_too_big = 1;
            snprintf(io->chunk_msg, sizeof io->chunk_msg,
                     "chunk %s at byte %lld claims %lu bytes, but the file ends %lld bytes later",
                     type, io->next_chunk, len, left < 0 ? 0 : left);
            png_error(png, io->chunk_msg);
        }
        if (io->file_size < 0 && len > IBEX_PNG_CHUNK_MAX && memcmp(h + 4, "IDAT", 4) != 0) {
            io->chunk_too_big = 2;
            snprintf(io->chunk_msg, sizeof io->chunk_msg,
                     "chunk %s at byte %lld claims %lu bytes, over the limit of %lu", type,
                     io->next_chunk, len, (unsigned long)IBEX_PNG_CHUNK_MAX);
            png_error(png, io->chunk_msg);
        }
        io->next_chunk += 12 + (long long)len;
        io->hdr_have = 0;
    }
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
    check_chunks(png, io, out, n);
}

typedef struct reader {
    pngio io;          /* first: libpng's error pointer */
    const char *path;
    double spacing;    /* caller's spacing, or 0 */
    long long file_size; /* bytes, or -1 when unknown (a pipe) */
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
    /* Deflate cannot compress better than 1032:1 (a 258-byte match per ~2 bits), so a header
     * claiming more raw pixel bytes than that times the file size is lying: refuse it before
     * allocating the surface it asks for. */
    int chans = png_get_channels(png, r->info);
    double raw = (double)w * (double)h * chans * depth / 8.0; /* lower bound, interlaced too */
    if (r->file_size > 0 && raw > 1040.0 * (double)r->file_size + 4096) {
        snprintf(r->msg, sizeof r->msg,
                 "lying header: it claims %lux%lu pixels (%.3g bytes uncompressed), more than "
                 "the %lld-byte file can hold",
                 (unsigned long)w, (unsigned long)h, raw, r->file_size);
        return r->st = IBEX_ERR_FORMAT;
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
    struct stat sb;
    r.file_size = (fstat(fileno(r.io.f), &sb) == 0 && S_ISREG(sb.st_mode)) ? (long long)sb.st_size : -1;
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
    r.io.next_chunk = 8;
    r.io.file_size = r.file_size;
    r.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &r.io, ibex__png_on_error, ibex__png_on_warning);
    if (r.png) r.info = png_create_info_struct(r.png);
    if (!r.png || !r.info) {
        st = ibex__fail(diag, IBEX_ERR_NOMEM, path, -1, "out of memory");
    } else {
        png_set_read_fn(r.png, &r.io, read_bytes);
        if (guarded_read(&r))
            st = ibex__png_fail(&r.io, path, diag, 0);
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
