/* Reading and writing surfaces: X3P (ISO 25178-72) and PNG. */
#ifndef IBEX_IO_H
#define IBEX_IO_H

#include "ibex/export.h"

#include <stddef.h>
#include "ibex/surface.h"
#include "ibex/image.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Read flags */
#define IBEX_READ_NO_VERIFY 0x1u   /* skip MD5 checks (data.bin, valid.bin, main.xml) */
/* Also keep the heights in double precision (ibex_surface.z64) when float32 cannot hold
 * them exactly (float64 or scaled integer data), so IBEX_WRITE_FLOAT64 writes them back
 * unchanged. Off by default: it costs 8 more bytes per point. */
#define IBEX_READ_FLOAT64 0x2u

/* Write flags */
/* Store Z as D (float64) instead of F (float32): the surface's z64 when it is present and
 * current (read with IBEX_READ_FLOAT64, z unchanged since), else z widened. */
#define IBEX_WRITE_FLOAT64 0x1u
#define IBEX_WRITE_NO_SYNC 0x2u    /* skip fsync: never a partial file, not durable on power loss */

/* Largest main.xml accepted, and largest zip member read. */
#define IBEX_X3P_MAX_XML ((size_t)16 << 20)
/* Members besides main.xml, the point data, the valid-points mask, the checksum file and
 * IBEX's vendor record are kept whole so that rewriting a file preserves them (masks, vendor
 * data). Their number and their total declared uncompressed size are checked against these
 * before any is inflated; an archive over either is refused with IBEX_ERR_LIMIT. Real scans
 * carry a few, of a few KiB each (a mask.png, a .DS_Store). */
#define IBEX_X3P_MAX_EXTRAS 256
#define IBEX_X3P_MAX_EXTRAS_SIZE ((size_t)64 << 20)

IBEX_API ibex_status ibex_surface_read_x3p(const char *path, unsigned flags, ibex_surface **out,
                                           ibex_diag *diag);
/* Same, from bytes in memory; name is used in messages. */
IBEX_API ibex_status ibex_surface_read_x3p_mem(const void *data, size_t size, const char *name,
                                               unsigned flags, ibex_surface **out, ibex_diag *diag);
/* Writes to PATH.tmp-XXXXXX and renames: never leaves a partial file at path. */
IBEX_API ibex_status ibex_surface_write_x3p(const ibex_surface *s, const char *path, unsigned flags,
                                            ibex_diag *diag);

/* PNG grey images (8/16 bit; colour is converted to luminance; alpha 0 = invalid).
 * spacing: metres per pixel, or 0 to take it from the file (pHYs / IBEX text
 * chunks) and else 1e-6. Heights come back as intensity 0..1 unless the PNG
 * was written by ibex_surface_write_png, whose text chunks restore metres. */
IBEX_API ibex_status ibex_surface_read_png(const char *path, double spacing, ibex_surface **out,
                                           ibex_diag *diag);
/* 16-bit grey + alpha (mask), heights scaled to the full range; the scale,
 * offset and spacing go in text chunks so reading restores them (to 16-bit precision). */
IBEX_API ibex_status ibex_surface_write_png(const ibex_surface *s, const char *path, ibex_diag *diag);

/* By extension (.x3p, .png), else by magic bytes. */
IBEX_API ibex_status ibex_surface_read(const char *path, unsigned flags, ibex_surface **out,
                                       ibex_diag *diag);

IBEX_API ibex_status ibex_image_write_png(const ibex_image *im, const char *path, ibex_diag *diag);

#ifdef __cplusplus
}
#endif
#endif
