/* Descriptor options as one canonical line of text (stored with a library, compared on
 * query so that a library and its queries use the same descriptor). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibex/index.h"
#include "ibex_internal.h"

#define VERSION "ibex-descriptor-v1"

/* %.17g round-trips a double exactly. */
void ibex_descriptor_opts_format(const ibex_descriptor_opts *o, char *buf, size_t size)
{
    if (!buf || !size) return;
    if (!o) {
        buf[0] = '\0';
        return;
    }
    snprintf(buf, size,
             VERSION " spacing=%.17g grid=%u lambda_min=%.17g lambda_max=%.17g n_radii=%u"
             " n_harmonics=%u ring_offsets=%u taper=%.17g gamma=%.17g w_radial=%.17g"
             " w_aniso=%.17g w_cross=%.17g",
             o->spacing, o->grid, o->lambda_min, o->lambda_max, o->n_radii, o->n_harmonics,
             o->ring_offsets, o->taper, o->gamma, o->w_radial, o->w_aniso, o->w_cross);
}

ibex_status ibex_descriptor_opts_parse(const char *text, ibex_descriptor_opts *out, ibex_diag *diag)
{
    if (!text || !out) return IBEX_ERR_ARG;
    size_t vl = strlen(VERSION);
    if (strncmp(text, VERSION, vl) || (text[vl] != ' ' && text[vl] != '\0'))
        return ibex__fail(diag, IBEX_ERR_FORMAT, NULL, -1, "descriptor options: not '%s' (got '%.40s')",
                          VERSION, text);
    ibex_descriptor_opts o;
    ibex_descriptor_opts_init(&o);
    const char *s = text + vl;
    while (*s) {
        while (*s == ' ') s++;
        if (!*s) break;
        const char *eq = strchr(s, '='), *end = strchr(s, ' ');
        if (!end) end = s + strlen(s);
        if (!eq || eq > end)
            return ibex__fail(diag, IBEX_ERR_FORMAT, NULL, -1, "descriptor options: '%.*s' is not key=value",
                              (int)(end - s), s);
        size_t kl = (size_t)(eq - s);
        char *e;
        double v = strtod(eq + 1, &e);
        if (e != end)
            return ibex__fail(diag, IBEX_ERR_FORMAT, NULL, -1, "descriptor options: bad number in '%.*s'",
                              (int)(end - s), s);
#define D(name) else if (kl == strlen(#name) && !strncmp(s, #name, kl)) o.name = v;
#define U(name) else if (kl == strlen(#name) && !strncmp(s, #name, kl)) { \
        if (!(v >= 0 && v <= 1e6) || v != (unsigned)v) \
            return ibex__fail(diag, IBEX_ERR_FORMAT, NULL, -1, "descriptor options: bad %s", #name); \
        o.name = (unsigned)v; }
        if (0) {}
        D(spacing) U(grid) D(lambda_min) D(lambda_max) U(n_radii) U(n_harmonics) U(ring_offsets)
        D(taper) D(gamma) D(w_radial) D(w_aniso) D(w_cross)
        else return ibex__fail(diag, IBEX_ERR_FORMAT, NULL, -1, "descriptor options: unknown key '%.*s'",
                               (int)kl, s);
#undef D
#undef U
        s = end;
    }
    *out = o;
    return IBEX_OK;
}
