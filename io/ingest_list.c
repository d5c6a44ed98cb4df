/* The files an ingest adds: operands expanded into scan files, and manifest rows. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "ibex/ingest.h"
#include "ibex_internal.h"

struct ibex_ingest_list {
    ibex_ingest_item *v;
    size_t n, cap;
};

ibex_status ibex_ingest_list_create(ibex_ingest_list **out)
{
    if (!out) return IBEX_ERR_ARG;
    ibex_ingest_list *l = calloc(1, sizeof *l);
    if (!l) return IBEX_ERR_NOMEM;
    *out = l;
    return IBEX_OK;
}

static void item_clear(ibex_ingest_item *it)
{
    free((char *)it->path);
    free((char *)it->id);
    free((char *)it->kind);
    free((char *)it->set);
    free((char *)it->firearm_id);
    free((char *)it->specimen_id);
    free((char *)it->same_source_key);
}

/* Drops the items from `keep` on: an operand or manifest that fails adds nothing. */
static void truncate_to(ibex_ingest_list *l, size_t keep)
{
    while (l->n > keep) item_clear(&l->v[--l->n]);
}

void ibex_ingest_list_free(ibex_ingest_list *l)
{
    if (!l) return;
    truncate_to(l, 0);
    free(l->v);
    free(l);
}

size_t ibex_ingest_list_count(const ibex_ingest_list *l) { return l ? l->n : 0; }

const ibex_ingest_item *ibex_ingest_list_get(const ibex_ingest_list *l, size_t i)
{
    return l && i < l->n ? &l->v[i] : NULL;
}

/* Takes ownership of the malloc'd strings of *it (freed here on failure). */
static ibex_status push_owned(ibex_ingest_list *l, ibex_ingest_item *it)
{
    if (!it->path || !it->id) {
        item_clear(it);
        return IBEX_ERR_NOMEM;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        ibex_ingest_item *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            item_clear(it);
            return IBEX_ERR_NOMEM;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = *it;
    return IBEX_OK;
}

ibex_status ibex_ingest_list_add(ibex_ingest_list *l, const ibex_ingest_item *it, ibex_diag *diag)
{
    if (!l || !it || !it->path || !it->id)
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "an ingest item needs a path and an id");
    ibex_ingest_item c = {ibex__strdup(it->path),       ibex__strdup(it->id),
                          ibex__strdup(it->kind),       ibex__strdup(it->set),
                          ibex__strdup(it->firearm_id), ibex__strdup(it->specimen_id),
                          ibex__strdup(it->same_source_key)};
    ibex_status st = push_owned(l, &c);
    return st == IBEX_OK ? st : ibex__fail(diag, st, it->path, -1, "out of memory");
}

static int has_scan_ext(const char *p)
{
    size_t n = strlen(p);
    return n > 4 && (!strcasecmp(p + n - 4, ".x3p") || !strcasecmp(p + n - 4, ".png"));
}

static char *strip_ext(const char *p)
{
    char *s = ibex__strdup(p);
    if (!s) return NULL;
    char *dot = strrchr(s, '.'), *slash = strrchr(s, '/');
    if (dot && (!slash || dot > slash)) *dot = 0;
    return s;
}

/* ---- operands ---- */

typedef struct paths {
    char **v;
    size_t n, cap;
} paths;

static int paths_push(paths *p, const char *s)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 64;
        char **v = realloc(p->v, cap * sizeof *v);
        if (!v) return -1;
        p->v = v;
        p->cap = cap;
    }
    if (!(p->v[p->n] = ibex__strdup(s))) return -1;
    p->n++;
    return 0;
}

static void paths_free(paths *p)
{
    for (size_t i = 0; i < p->n; i++) free(p->v[i]);
    free(p->v);
}

static int path_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Depth-limited so a symlink loop ends; a directory that cannot be opened is an error so a
 * half-read tree is never taken for the whole. */
static int walk(paths *p, const char *dir, int depth)
{
    if (depth > 32) return 0;
    DIR *d = opendir(dir);
    if (!d) return -1;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "__MACOSX") == 0) continue;
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        char *f = malloc(len);
        if (!f) {
            rc = -1;
            break;
        }
        snprintf(f, len, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(f, &st) == 0 && S_ISDIR(st.st_mode)) rc = walk(p, f, depth + 1);
        else if (has_scan_ext(e->d_name)) rc = paths_push(p, f);
        free(f);
    }
    closedir(d);
    return rc;
}

ibex_status ibex_ingest_list_add_operand(ibex_ingest_list *l, const char *op, ibex_diag *diag)
{
    if (!l || !op) return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "no list or operand");
    struct stat st;
    if (stat(op, &st) != 0) return ibex__fail(diag, IBEX_ERR_IO, op, -1, "%s", strerror(errno));
    int isdir = S_ISDIR(st.st_mode);
    paths p = {0};
    if (isdir) {
        if (walk(&p, op, 0) != 0) {
            paths_free(&p);
            return ibex__fail(diag, IBEX_ERR_IO, op, -1, "cannot read directory");
        }
        qsort(p.v, p.n, sizeof *p.v, path_cmp);
    } else if (paths_push(&p, op) != 0) {
        return ibex__fail(diag, IBEX_ERR_NOMEM, op, -1, "out of memory");
    }
    size_t plen = strlen(op), keep = l->n;
    while (plen > 1 && op[plen - 1] == '/') plen--;
    ibex_status rc = IBEX_OK;
    for (size_t i = 0; i < p.n && rc == IBEX_OK; i++) {
        /* Id: the path below the operand directory, or the file's base name, without extension. */
        const char *rel = p.v[i];
        if (isdir && !strncmp(rel, op, plen) && rel[plen] == '/') rel += plen + 1;
        else if (!isdir && strrchr(rel, '/')) rel = strrchr(rel, '/') + 1;
        ibex_ingest_item it = {.path = ibex__strdup(p.v[i]), .id = strip_ext(rel)};
        rc = push_owned(l, &it);
    }
    paths_free(&p);
    if (rc != IBEX_OK) {
        truncate_to(l, keep);
        return ibex__fail(diag, rc, op, -1, "out of memory");
    }
    return IBEX_OK;
}

/* ---- manifest ---- */

enum { C_REL, C_KIND, C_SET, C_FIREARM, C_SPEC, C_SSK, NCOL };
static const char *const col_names[NCOL] = {"relative_path", "kind",        "set",
                                            "firearm_id",    "specimen_id", "same_source_key"};
#define MAX_FIELDS 64

static int split_tabs(char *line, char **fields)
{
    int nf = 0;
    for (char *p = line;;) {
        if (nf < MAX_FIELDS) fields[nf++] = p;
        char *t = strchr(p, '\t');
        if (!t) break;
        *t = 0;
        p = t + 1;
    }
    return nf;
}

/* One data row as an item (dir: the manifest's folder, with its slash). */
static ibex_status row_item(ibex_ingest_list *l, const char *dir, char **fields, int nf, const int *col)
{
    const char *v[NCOL];
    for (int k = 0; k < NCOL; k++) v[k] = col[k] >= 0 && col[k] < nf && fields[col[k]][0] ? fields[col[k]] : NULL;
    const char *rel = fields[col[C_REL]];
    size_t pl = strlen(dir) + strlen(rel) + 1;
    char *path = malloc(pl);
    if (path) snprintf(path, pl, "%s%s", rel[0] == '/' ? "" : dir, rel);
    char *id;
    if (v[C_SPEC]) {
        /* Specimen ids repeat across sets (Hamby "Bullet 1 Land 1"): prefix the set. */
        const char *set = v[C_SET];
        size_t n = strlen(v[C_SPEC]) + (set ? strlen(set) + 1 : 0) + 1;
        if ((id = malloc(n))) snprintf(id, n, "%s%s%s", set ? set : "", set ? ":" : "", v[C_SPEC]);
    } else {
        id = strip_ext(rel);
    }
    ibex_ingest_item it = {path,
                           id,
                           ibex__strdup(v[C_KIND]),
                           ibex__strdup(v[C_SET]),
                           ibex__strdup(v[C_FIREARM]),
                           ibex__strdup(v[C_SPEC]),
                           ibex__strdup(v[C_SSK])};
    return push_owned(l, &it);
}

static ibex_status read_rows(ibex_ingest_list *l, FILE *f, const char *path, const char *dir, const char *want_kind,
                             ibex_diag *diag)
{
    int col[NCOL];
    for (int k = 0; k < NCOL; k++) col[k] = -1;
    char *line = NULL, *fields[MAX_FIELDS];
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    ibex_status rc = IBEX_OK;
    while (rc == IBEX_OK && (len = getline(&line, &cap, f)) > 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        int nf = split_tabs(line, fields);
        if (lineno == 1) {
            for (int i = 0; i < nf; i++)
                for (int k = 0; k < NCOL; k++)
                    if (!strcmp(fields[i], col_names[k])) col[k] = i;
            if (col[C_REL] < 0)
                rc = ibex__fail(diag, IBEX_ERR_FORMAT, path, -1, "line 1: no relative_path column (not a manifest)");
            continue;
        }
        if (len == 0) continue;
        if (col[C_REL] >= nf) {
            rc = ibex__fail(diag, IBEX_ERR_FORMAT, path, -1, "line %ld: missing relative_path", lineno);
            break;
        }
        if (!has_scan_ext(fields[col[C_REL]])) continue; /* ground-truth tables and notes */
        const char *kind = col[C_KIND] >= 0 && col[C_KIND] < nf ? fields[col[C_KIND]] : "";
        if (want_kind && strcmp(kind, want_kind) != 0) continue;
        if (row_item(l, dir, fields, nf, col) != IBEX_OK)
            rc = ibex__fail(diag, IBEX_ERR_NOMEM, path, -1, "line %ld: out of memory", lineno);
    }
    free(line);
    return rc;
}

ibex_status ibex_ingest_list_read_manifest(ibex_ingest_list *l, const char *path, const char *kind, ibex_diag *diag)
{
    if (!l || !path) return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "no list or manifest");
    FILE *f = fopen(path, "r");
    if (!f) return ibex__fail(diag, IBEX_ERR_IO, path, -1, "%s", strerror(errno));
    char *dir = ibex__strdup(path);
    if (!dir) {
        fclose(f);
        return ibex__fail(diag, IBEX_ERR_NOMEM, path, -1, "out of memory");
    }
    char *sl = strrchr(dir, '/');
    if (sl) sl[1] = 0;
    else dir[0] = 0;
    size_t keep = l->n;
    ibex_status rc = read_rows(l, f, path, dir, kind, diag);
    if (rc != IBEX_OK) truncate_to(l, keep);
    free(dir);
    fclose(f);
    return rc;
}
