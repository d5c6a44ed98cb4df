/* Field-by-field equality of two metadata records, for round-trip tests. */
#ifndef IBEX_TEST_META_EQUAL_H
#define IBEX_TEST_META_EQUAL_H

#include <string.h>
#include "ibex/surface.h"

static inline int meta_equal(const ibex_meta *a, const ibex_meta *b)
{
    for (size_t i = 0; i < ibex_meta_count(); i++) {
        const char *x = ibex_meta_get(a, ibex_meta_key(i)), *y = ibex_meta_get(b, ibex_meta_key(i));
        if ((x == NULL) != (y == NULL) || (x && strcmp(x, y))) return 0;
    }
    return 1;
}

#endif
