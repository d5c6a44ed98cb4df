/* Expanding directory operands into sorted lists of scan files. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

static int is_scan(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && (strcasecmp(name + n - 4, ".x3p") == 0 || strcasecmp(name + n - 4, ".png") == 0);
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk(list *l, const char *dir, int depth)
{
    if (depth > 32) return 0;
    DIR *d = opendir(dir);
    if (!d) return -1;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "__MACOSX") == 0) continue;
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        char *p = malloc(len);
        if (!p) {
            rc = -1;
            break;
        }
        snprintf(p, len, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
            rc = walk(l, p, depth + 1);
        else if (is_scan(e->d_name))
            rc = push(l, p);
        free(p);
    }
    closedir(d);
    return rc;
}

int cli_collect_scans(char *const *operands, int n, char ***files, size_t *count)
{
    list l = {0};
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (stat(operands[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            size_t first = l.n;
            if (walk(&l, operands[i], 0) != 0) {
                cli_error("%s: cannot read directory", operands[i]);
                cli_free_list(l.v);
                return -1;
            }
            qsort(l.v + first, l.n - first, sizeof *l.v, cmp);
        } else if (push(&l, operands[i]) != 0) {
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
