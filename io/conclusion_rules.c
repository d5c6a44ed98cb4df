/* What does not need the library file: the AFTE range, records' init and clear, and the rule
 * of blind verification (include/ibex/conclusion.h). */
#include <stdlib.h>
#include <string.h>

#include "ibex/conclusion.h"

static const char *const afte[IBEX_AFTE_N] = {"identification", "inconclusive-a", "inconclusive-b",
                                              "inconclusive-c", "elimination",    "unsuitable"};

const char *ibex_afte_name(int i) { return i >= 0 && i < IBEX_AFTE_N ? afte[i] : NULL; }

int ibex_afte_index(const char *s)
{
    for (int i = 0; s && i < IBEX_AFTE_N; i++)
        if (!strcmp(s, afte[i])) return i;
    return -1;
}

void ibex_conclusion_init(ibex_conclusion *c)
{
    if (!c) return;
    memset(c, 0, sizeof *c);
    c->struct_size = sizeof *c;
    c->type = IBEX_RECORD_CONCLUSION;
}

void ibex_conclusion_clear(ibex_conclusion *c)
{
    if (!c) return;
    char **s[] = {&c->examiner, &c->role,   &c->conclusion, &c->notes,  &c->case_id, &c->questioned_name,
                  &c->candidate_name, &c->method, &c->parameters, &c->scores, &c->software};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        free(*s[i]);
        *s[i] = NULL;
    }
}

void ibex_conclusion_free_all(ibex_conclusion *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) ibex_conclusion_clear(&v[i]);
    free(v);
}

static int same_pair(const ibex_conclusion *a, const ibex_conclusion *b)
{
    return !strcmp(a->questioned_sha256, b->questioned_sha256) && !strcmp(a->candidate_sha256, b->candidate_sha256);
}

int ibex_conclusion_visible(const ibex_conclusion *all, size_t n, size_t i, const char *viewer, int see_all)
{
    if (!all || i >= n) return 0;
    if (see_all) return 1;
    if (!viewer || !*viewer || !all[i].examiner) return 0;
    if (!strcmp(all[i].examiner, viewer)) return 1;
    for (size_t k = 0; k < n; k++)
        if (all[k].examiner && !strcmp(all[k].examiner, viewer) && same_pair(&all[k], &all[i])) return 1;
    return 0;
}
