/* Metadata record: a fixed set of named string fields, reachable by key. */
#include <stdlib.h>
#include <string.h>

#include "ibex/surface.h"
#include "ibex_internal.h"

typedef struct field {
    const char *key;
    const char *desc;
    size_t offset;
} field;

static const field fields[] = {
#define IBEX_META_ROW_(name, d) {#name, d, offsetof(ibex_meta, name)},
    IBEX_META_FIELDS(IBEX_META_ROW_)
#undef IBEX_META_ROW_
};
#define N_FIELDS (sizeof fields / sizeof fields[0])

static char **slot(ibex_meta *m, size_t i) { return (char **)((char *)m + fields[i].offset); }

static long find(const char *key)
{
    if (!key) return -1;
    for (size_t i = 0; i < N_FIELDS; i++)
        if (strcmp(fields[i].key, key) == 0) return (long)i;
    return -1;
}

size_t ibex_meta_count(void) { return N_FIELDS; }
const char *ibex_meta_key(size_t i) { return i < N_FIELDS ? fields[i].key : NULL; }
const char *ibex_meta_describe(size_t i) { return i < N_FIELDS ? fields[i].desc : NULL; }

const char *ibex_meta_get(const ibex_meta *m, const char *key)
{
    long i = find(key);
    if (!m || i < 0) return NULL;
    return *slot((ibex_meta *)m, (size_t)i);
}

ibex_status ibex_meta_set(ibex_meta *m, const char *key, const char *value)
{
    long i = find(key);
    if (!m || i < 0) return IBEX_ERR_ARG;
    char *copy = NULL;
    if (value && value[0]) {
        copy = ibex__strdup(value);
        if (!copy) return IBEX_ERR_NOMEM;
    }
    char **p = slot(m, (size_t)i);
    free(*p);
    *p = copy;
    return IBEX_OK;
}

void ibex_meta_clear(ibex_meta *m)
{
    if (!m) return;
    for (size_t i = 0; i < N_FIELDS; i++) {
        free(*slot(m, i));
        *slot(m, i) = NULL;
    }
}

ibex_status ibex_meta_copy(ibex_meta *dst, const ibex_meta *src)
{
    ibex_meta tmp;
    memset(&tmp, 0, sizeof tmp);
    for (size_t i = 0; i < N_FIELDS; i++) {
        const char *v = *slot((ibex_meta *)src, i);
        if (v && !(*slot(&tmp, i) = ibex__strdup(v))) {
            ibex_meta_clear(&tmp);
            return IBEX_ERR_NOMEM;
        }
    }
    ibex_meta_clear(dst);
    *dst = tmp;
    return IBEX_OK;
}
