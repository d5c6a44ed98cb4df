/* Questioned scans as uploaded: the library's own readers, so an upload is checked exactly as
 * a file given to 'ibex query' is, and its refusal says what the reader said. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "workbench_internal.h"

void ibex__wb_clean_text(const char *in, char *out, size_t size)
{
    size_t k = 0;
    for (const char *b = in ? in : ""; *b && k + 1 < size && k < WB_NAME_MAX; b++)
        if ((unsigned char)*b >= 0x20 && *b != 0x7f) out[k++] = *b;
    /* never end inside a UTF-8 sequence */
    while (k > 0 && ((unsigned char)out[k - 1] & 0xc0) == 0x80) k--;
    if (k > 0 && ((unsigned char)out[k - 1] & 0xc0) == 0xc0) k--;
    out[k] = '\0';
}

void ibex__wb_clean_name(const char *in, char *out, size_t size)
{
    const char *b = in ? in : "";
    for (const char *p = b; *p; p++)
        if (*p == '/' || *p == '\\') b = p + 1;
    ibex__wb_clean_text(b, out, size);
    if (!out[0]) snprintf(out, size, "upload");
}

static ibex_status read_png(ibex_workbench *W, const unsigned char *data, size_t n, const char *name,
                            ibex_surface **out, ibex_diag *d)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/upload-XXXXXX.png", W->tmpdir);
    int fd = mkstemps(path, 4);
    if (fd < 0) return ibex__fail(d, IBEX_ERR_IO, name, -1, "cannot hold the upload: %s", strerror(errno));
    size_t done = 0;
    while (done < n) {
        ssize_t k = write(fd, data + done, n - done);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            int e = errno;
            close(fd);
            unlink(path);
            return ibex__fail(d, IBEX_ERR_IO, name, -1, "cannot hold the upload: %s", strerror(e));
        }
        done += (size_t)k;
    }
    close(fd);
    ibex_status st = ibex_surface_read_png(path, 0, out, d);
    unlink(path);
    if (st && d) snprintf(d->file, sizeof d->file, "%s", name); /* never the private path */
    return st;
}

ibex_status ibex__wb_read_scan(ibex_workbench *W, const unsigned char *data, size_t n, const char *name,
                               ibex_surface **out, ibex_diag *d)
{
    if (n == 0) return ibex__fail(d, IBEX_ERR_FORMAT, name, -1, "empty upload (0 bytes): choose an X3P or PNG scan");
    if (n >= 4 && memcmp(data, "PK\3\4", 4) == 0) return ibex_surface_read_x3p_mem(data, n, name, 0, out, d);
    if (n >= 8 && memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0) return read_png(W, data, n, name, out, d);
    if (n >= 2 && memcmp(data, "PK", 2) == 0)
        return ibex__fail(d, IBEX_ERR_FORMAT, name, 0, "not an X3P file: a zip archive must begin with a local file header");
    return ibex__fail(d, IBEX_ERR_FORMAT, name, 0,
                      "not an X3P file (a zip archive) or a PNG image: unknown first bytes");
}
