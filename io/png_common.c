/* libpng error callbacks and the translation of libpng failures into IBEX diagnostics. */
#include <stdio.h>
#include <string.h>

#include "ibex/surface.h"
#include "ibex_internal.h"
#include "png_internal.h"

void ibex__png_on_error(png_structp png, png_const_charp msg)
{
    pngio *io = png_get_error_ptr(png);
    snprintf(io->lib_msg, sizeof io->lib_msg, "%s", msg ? msg : "unknown libpng error");
    png_longjmp(png, 1);
}

/* Warnings are benign (unknown chunks, odd sRGB profiles) and not shown, but the last one is
 * kept: libpng explains an IHDR it rejects only in a warning. */
void ibex__png_on_warning(png_structp png, png_const_charp msg)
{
    pngio *io = png_get_error_ptr(png);
    snprintf(io->lib_warn, sizeof io->lib_warn, "%s", msg ? msg : "");
}

ibex_status ibex__png_fail(const pngio *io, const char *path, ibex_diag *diag, int writing)
{
    const char *m = io->lib_msg;
    /* Through a pointer: gcc 12 with sanitizers wrongly sizes the array member at 0. */
    const char *warn = io->lib_warn;
    if (io->sys_errno)
        return ibex__fail(diag, IBEX_ERR_IO, path, -1, "%s error: %s", writing ? "write" : "read",
                          strerror(io->sys_errno));
    if (io->chunk_too_big == 1)
        return ibex__fail(diag, IBEX_ERR_FORMAT, path, io->pos, "truncated or lying PNG: %s",
                          io->chunk_msg);
    if (io->chunk_too_big == 2)
        return ibex__fail(diag, IBEX_ERR_LIMIT, path, io->pos, "PNG chunk too large: %s",
                          io->chunk_msg);
    if (io->eof)
        return ibex__fail(diag, IBEX_ERR_FORMAT, path, io->pos,
                          "truncated PNG: the file ends before the image does");
    if (strstr(m, "CRC"))
        return ibex__fail(diag, IBEX_ERR_INTEGRITY, path, io->pos,
                          "corrupted PNG: chunk checksum (CRC) mismatch (%s)", m);
    if (strstr(m, "user limit") || strstr(warn, "user limit"))
        return ibex__fail(diag, IBEX_ERR_LIMIT, path, io->pos,
                          "image too large: %s (limit %zu pixels per side)",
                          strstr(m, "user limit") ? m : warn, IBEX_MAX_SIDE);
    if (!strncmp(m, "IDAT:", 5)) /* zlib found the compressed pixels damaged */
        return ibex__fail(diag, IBEX_ERR_FORMAT, path, io->pos,
                          "corrupted PNG: damaged image data (%s)", m);
    if (strstr(m, "memory"))
        return ibex__fail(diag, IBEX_ERR_NOMEM, path, -1, "out of memory (%s)", m);
    return ibex__fail(diag, IBEX_ERR_FORMAT, path, writing ? -1 : io->pos, "%s PNG: %s",
                      writing ? "cannot write" : "corrupted", m);
}
