/* Shared by the PNG reader and writer (io/png_read.c, io/png_write.c). libpng reports errors
 * by long-jumping out of its calls, so each libpng sequence runs inside one small guarded
 * function whose only state lives in a context struct owned by its caller (C17 7.13.2.1:
 * locals of the setjmp caller that change afterwards would be indeterminate). */
#ifndef IBEX_PNG_INTERNAL_H
#define IBEX_PNG_INTERNAL_H

#include <stdio.h>

#include <png.h>

#include "ibex/status.h"

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

/* libpng 1.6 allocates a text, profile or other ancillary chunk's whole declared length
 * before reading it, whatever png_set_chunk_malloc_max says, so the reader checks each
 * chunk header first: a chunk must fit in what is left of the file, and when the file size
 * is unknown (a pipe) a chunk other than IDAT (which libpng streams) may not exceed this. */
#define IBEX_PNG_CHUNK_MAX ((png_uint_32)CHUNK_MALLOC_MAX)

/* libpng's error pointer (first member of the reader's and writer's contexts) and I/O state. */
typedef struct pngio {
    char lib_msg[256]; /* libpng's last error message */
    char lib_warn[256]; /* and its last warning (the reason behind "Invalid IHDR data") */
    FILE *f;
    long long pos;     /* bytes read or written so far */
    int eof;           /* the read callback met the end of the file */
    int sys_errno;     /* fread/fwrite failed with this errno */
    /* Reading only: chunk headers seen as the bytes go by (see png_read.c, read_bytes). */
    long long file_size;  /* bytes, or -1 when unknown (a pipe) */
    long long next_chunk; /* file offset of the next chunk's length field */
    unsigned char hdr[8]; /* that chunk's length and type, as far as read */
    int hdr_have;         /* bytes of hdr read so far */
    int chunk_too_big;    /* 1: a chunk longer than the file; 2: over IBEX_PNG_CHUNK_MAX */
    char chunk_msg[160];  /* which chunk, and what it claimed */
} pngio;

/* Error callback: keeps libpng's message in the pngio and long-jumps back. */
void ibex__png_on_error(png_structp png, png_const_charp msg);
/* Warning callback: keeps the last warning, shows nothing. */
void ibex__png_on_warning(png_structp png, png_const_charp msg);
/* The diag and status for a libpng failure: truncation, CRC, limits, damaged data, I/O. */
ibex_status ibex__png_fail(const pngio *io, const char *path, ibex_diag *diag, int writing);

/* A picture as an RGB8 PNG in memory (what ibex_image_write_png writes): *out is malloc'd
 * (free it), *n its length. For servers answering with pictures (workbench/). */
struct ibex_image;
ibex_status ibex__image_png_mem(const struct ibex_image *im, unsigned char **out, size_t *n, ibex_diag *diag);

#endif
