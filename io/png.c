/* Placeholder until the PNG reader/writer lands (png branch). */
#include "ibex/io.h"
#include "ibex_internal.h"

ibex_status ibex_surface_read_png(const char *path, double spacing, ibex_surface **out,
                                  ibex_diag *diag)
{
    (void)spacing;
    (void)out;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, path, -1, "PNG support not built yet");
}

ibex_status ibex_surface_write_png(const ibex_surface *s, const char *path, ibex_diag *diag)
{
    (void)s;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, path, -1, "PNG support not built yet");
}
