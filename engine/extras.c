/* Copy and free of the vendor-record container kept from X3P files. */
#include <stdlib.h>
#include <string.h>

#include "extras_internal.h"
#include "ibex_internal.h"

void ibex__extras_free(ibex_x3p_extras *e)
{
    if (!e) return;
    free(e->main_xml);
    for (size_t i = 0; i < e->n_blobs; i++) {
        free(e->blobs[i].name);
        free(e->blobs[i].data);
    }
    free(e->blobs);
    free(e);
}

ibex_x3p_extras *ibex__extras_copy(const ibex_x3p_extras *e)
{
    if (!e) return NULL;
    ibex_x3p_extras *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->geometry_changed = e->geometry_changed;
    if (e->main_xml) {
        if (!(c->main_xml = malloc(e->main_xml_size + 1))) goto fail;
        memcpy(c->main_xml, e->main_xml, e->main_xml_size + 1);
        c->main_xml_size = e->main_xml_size;
    }
    if (e->n_blobs) {
        if (!(c->blobs = calloc(e->n_blobs, sizeof *c->blobs))) goto fail;
        for (size_t i = 0; i < e->n_blobs; i++, c->n_blobs++) {
            ibex__blob *d = &c->blobs[i];
            const ibex__blob *b = &e->blobs[i];
            d->name = ibex__strdup(b->name);
            d->data = malloc(b->size ? b->size : 1);
            if (!d->name || !d->data) {
                c->n_blobs++;
                goto fail;
            }
            memcpy(d->data, b->data, b->size);
            d->size = b->size;
        }
    }
    return c;
fail:
    ibex__extras_free(c);
    return NULL;
}
