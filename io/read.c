/* ibex_surface_read: pick the reader by extension, else by the first bytes. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ibex/io.h"
#include "ibex_internal.h"

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

ibex_status ibex_surface_read(const char *path, unsigned flags, ibex_surface **out,
                              ibex_diag *diag)
{
    if (!path || !out) return IBEX_ERR_ARG;
    if (ends_with(path, ".x3p")) return ibex_surface_read_x3p(path, flags, out, diag);
    if (ends_with(path, ".png")) return ibex_surface_read_png(path, 0, out, diag);
    unsigned char magic[8] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return ibex__fail(diag, IBEX_ERR_IO, path, -1, "cannot open");
    size_t n = fread(magic, 1, sizeof magic, f);
    fclose(f);
    if (n >= 4 && memcmp(magic, "PK\3\4", 4) == 0)
        return ibex_surface_read_x3p(path, flags, out, diag);
    if (n >= 8 && memcmp(magic, "\x89PNG\r\n\x1a\n", 8) == 0)
        return ibex_surface_read_png(path, 0, out, diag);
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, path, -1,
                      "unknown format (expected an X3P zip or a PNG image)");
}
