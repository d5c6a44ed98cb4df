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

/* Length of the UTF-8 sequence at p (1-4) when it encodes a character XML 1.0 allows
 * (Char production: tab, LF, CR, U+0020-U+D7FF, U+E000-U+FFFD, U+10000-U+10FFFF), else 0.
 * Overlong forms and surrogates are invalid UTF-8 and get 0 too. */
static size_t xml_char(const unsigned char *p, unsigned long *cp)
{
    unsigned long c = p[0];
    size_t n;
    if (c < 0x80) {
        *cp = c;
        return (c >= 0x20 || c == '\t' || c == '\n' || c == '\r') ? 1 : 0;
    }
    if (c >= 0xc2 && c <= 0xdf) n = 2, c &= 0x1f;
    else if (c >= 0xe0 && c <= 0xef) n = 3, c &= 0x0f;
    else if (c >= 0xf0 && c <= 0xf4) n = 4, c &= 0x07;
    else return 0;
    for (size_t k = 1; k < n; k++) {
        if ((p[k] & 0xc0) != 0x80) return 0; /* also stops at the terminating NUL */
        c = (c << 6) | (p[k] & 0x3f);
    }
    *cp = c;
    static const unsigned long least[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < least[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff) || c == 0xfffe || c == 0xffff)
        return 0;
    return n;
}

ibex_status ibex_meta_check(const char *key, const char *value, ibex_diag *diag)
{
    const unsigned char *v = (const unsigned char *)value;
    if (!v) return IBEX_OK;
    for (size_t i = 0; v[i];) {
        unsigned long cp = 0;
        size_t n = xml_char(v + i, &cp);
        if (n) {
            i += n;
        } else if (v[i] < 0x20) {
            return ibex__fail(diag, IBEX_ERR_ARG, "", -1,
                              "metadata '%s': control character 0x%02x at byte %zu cannot be stored "
                              "(XML 1.0 allows only tab, LF and CR)", key ? key : "", v[i], i);
        } else if (cp == 0xfffe || cp == 0xffff) {
            return ibex__fail(diag, IBEX_ERR_ARG, "", -1,
                              "metadata '%s': U+%04lX at byte %zu is not a character XML 1.0 can hold",
                              key ? key : "", cp, i);
        } else {
            return ibex__fail(diag, IBEX_ERR_ARG, "", -1,
                              "metadata '%s': invalid UTF-8 at byte %zu", key ? key : "", i);
        }
    }
    return IBEX_OK;
}

ibex_status ibex_meta_set(ibex_meta *m, const char *key, const char *value)
{
    long i = find(key);
    if (!m || i < 0) return IBEX_ERR_ARG;
    if (ibex_meta_check(key, value, NULL) != IBEX_OK) return IBEX_ERR_ARG;
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
