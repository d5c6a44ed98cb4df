/* Test fixtures: PNG files written with libpng directly (independent of io/png.c), and
 * byte-level edits of PNG chunks with zlib's CRC-32 for lying or corrupted files. */
#ifndef IBEX_TEST_PNG_FIXTURE_H
#define IBEX_TEST_PNG_FIXTURE_H

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

typedef struct png_fixture {
    unsigned w, h;
    int depth, ctype;            /* PNG_COLOR_TYPE_* */
    const unsigned char *pixels; /* rows packed as PNG stores them (16-bit big-endian) */
    unsigned ppm;                /* pHYs pixels per metre, 0 = no pHYs */
    const png_color *palette;
    int npalette;
    const unsigned char *trns;   /* palette alpha, or NULL */
    int ntrns;
    const png_text *text;
    int ntext;
    int interlace;               /* PNG_INTERLACE_ADAM7 or NONE */
} png_fixture;

static inline size_t png_fixture_rowbytes(const png_fixture *f)
{
    int ch = f->ctype == PNG_COLOR_TYPE_GRAY || f->ctype == PNG_COLOR_TYPE_PALETTE ? 1
             : f->ctype == PNG_COLOR_TYPE_GRAY_ALPHA                           ? 2
             : f->ctype == PNG_COLOR_TYPE_RGB                                  ? 3
                                                                               : 4;
    return ((size_t)f->w * (size_t)ch * (size_t)f->depth + 7) / 8;
}

/* 0 on success. */
static inline int png_fixture_write(const png_fixture *f, const char *path)
{
    FILE *volatile fp = fopen(path, "wb");
    if (!fp) return -1;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(png ? &png : NULL, info ? &info : NULL);
        fclose(fp);
        return -1;
    }
    png_init_io(png, fp);
    png_set_IHDR(png, info, f->w, f->h, f->depth, f->ctype, f->interlace, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (f->ppm) png_set_pHYs(png, info, f->ppm, f->ppm, PNG_RESOLUTION_METER);
    if (f->palette) png_set_PLTE(png, info, f->palette, f->npalette);
    if (f->trns) png_set_tRNS(png, info, f->trns, f->ntrns, NULL);
    if (f->text) png_set_text(png, info, f->text, f->ntext);
    png_write_info(png, info);
    size_t rb = png_fixture_rowbytes(f);
    int passes = png_set_interlace_handling(png);
    for (int p = 0; p < passes; p++)
        for (unsigned y = 0; y < f->h; y++) png_write_row(png, f->pixels + y * rb);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return fclose(fp) == 0 ? 0 : -1;
}

typedef struct png_bytes {
    unsigned char *b;
    size_t n;
} png_bytes;

static inline int png_bytes_load(const char *path, png_bytes *pb)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return -1;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    pb->b = malloc(n > 0 ? (size_t)n : 1);
    pb->n = pb->b ? fread(pb->b, 1, (size_t)n, fp) : 0;
    fclose(fp);
    return pb->b && pb->n == (size_t)n ? 0 : -1;
}

static inline int png_bytes_save(const png_bytes *pb, size_t n, const char *path)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) return -1;
    size_t w = fwrite(pb->b, 1, n, fp);
    return (fclose(fp) == 0 && w == n) ? 0 : -1;
}

static inline unsigned long be32(const unsigned char *p)
{
    return (unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 | (unsigned long)p[2] << 8 | p[3];
}

static inline void put_be32(unsigned char *p, unsigned long v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Offset of the first chunk of this type (its length field), or 0 if absent. */
static inline size_t png_bytes_find(const png_bytes *pb, const char *type)
{
    size_t i = 8;
    while (i + 12 <= pb->n) {
        unsigned long len = be32(pb->b + i);
        if (memcmp(pb->b + i + 4, type, 4) == 0) return i;
        i += 12 + len;
    }
    return 0;
}

/* Recompute the CRC of the chunk at offset i (after editing its data). */
static inline void png_bytes_fix_crc(png_bytes *pb, size_t i)
{
    unsigned long len = be32(pb->b + i);
    uLong c = crc32(0L, pb->b + i + 4, (uInt)(4 + len));
    put_be32(pb->b + i + 8 + len, c);
}

/* A copy of pb with a chunk inserted at offset at (a chunk boundary): its length field says
 * claimed, its data is the data_n bytes given, and its CRC covers those. The caller frees. */
static inline png_bytes png_bytes_insert_chunk(const png_bytes *pb, size_t at, const char *type,
                                               unsigned long claimed, const void *data,
                                               size_t data_n)
{
    png_bytes out = {malloc(pb->n + 12 + data_n), pb->n + 12 + data_n};
    if (!out.b) return (png_bytes){0, 0};
    unsigned char *c = out.b + at;
    memcpy(out.b, pb->b, at);
    put_be32(c, claimed);
    memcpy(c + 4, type, 4);
    memcpy(c + 8, data, data_n);
    put_be32(c + 8 + data_n, crc32(crc32(0L, c + 4, 4), c + 8, (uInt)data_n));
    memcpy(c + 12 + data_n, pb->b + at, pb->n - at);
    return out;
}

#endif
