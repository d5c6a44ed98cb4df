/* Vendor records carried from an X3P read to the next write (read-modify-write). */
#ifndef IBEX_EXTRAS_INTERNAL_H
#define IBEX_EXTRAS_INTERNAL_H

#include <stddef.h>
#include "ibex/surface.h"

typedef struct ibex__blob {
    char *name;           /* zip member path relative to main.xml's folder */
    unsigned char *data;
    size_t size;
} ibex__blob;

struct ibex_x3p_extras {
    char *main_xml;       /* the original main.xml text: unknown elements are kept from it */
    size_t main_xml_size;
    ibex__blob *blobs;    /* other zip members (vendor files, mask.png) */
    size_t n_blobs;
    int geometry_changed; /* set when the grid changed: grid-bound members are dropped */
};

ibex_x3p_extras *ibex__extras_copy(const ibex_x3p_extras *e); /* NULL on failure or NULL in */
void ibex__extras_free(ibex_x3p_extras *e);

#endif
