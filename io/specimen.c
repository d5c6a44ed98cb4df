/* Library records that exist without the HDF5 store: options defaults and specimen rows. */
#include <stdlib.h>
#include <string.h>

#include "ibex/library.h"

void ibex_library_opts_init(ibex_library_opts *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
}

void ibex_specimen_clear(ibex_specimen *s)
{
    if (!s) return;
    free(s->id);
    free(s->kind);
    free(s->region);
    free(s->source_path);
    free(s->set);
    free(s->firearm_id);
    free(s->same_source_key);
    ibex_meta_clear(&s->meta);
    memset(s, 0, sizeof *s);
}
