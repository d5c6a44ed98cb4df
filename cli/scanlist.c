/* Expanding operands into lists of scan files. A directory is expanded by the library
 * (ibex_ingest_list_add_operand), so ibex info and ibex ingest see the same files. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

typedef struct list {
    char **v;
    size_t n, cap;
} list;

static int push(list *l, const char *s)
{
    if (l->n + 2 > l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v) return -1;
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(s))) return -1;
    l->v[++l->n] = NULL;
    return 0;
}

static int push_dir(list *l, const char *dir)
{
    ibex_ingest_list *files = NULL;
    ibex_diag d;
    if (ibex_ingest_list_create(&files) != IBEX_OK) return -1;
    int rc = 0;
    if (ibex_ingest_list_add_operand(files, dir, &d) != IBEX_OK) {
        cli_error("%s: cannot read directory", dir);
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < ibex_ingest_list_count(files); i++)
        rc = push(l, ibex_ingest_list_get(files, i)->path);
    ibex_ingest_list_free(files);
    return rc;
}

int cli_collect_scans(char *const *operands, int n, char ***files, size_t *count)
{
    list l = {0};
    for (int i = 0; i < n; i++) {
        struct stat st;
        int isdir = stat(operands[i], &st) == 0 && S_ISDIR(st.st_mode);
        if ((isdir ? push_dir(&l, operands[i]) : push(&l, operands[i])) != 0) {
            cli_free_list(l.v);
            return -1;
        }
    }
    if (!l.v && push(&l, "") == 0) { /* empty list: keep the NULL terminator */
        free(l.v[0]);
        l.v[0] = NULL;
        l.n = 0;
    }
    *files = l.v;
    *count = l.n;
    return 0;
}

void cli_free_list(char **v)
{
    if (!v) return;
    for (char **p = v; *p; p++) free(*p);
    free(v);
}
