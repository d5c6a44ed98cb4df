/* Manifest of scans with ground truth (the columns of datasets/real/MANIFEST.tsv). */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_internal.h"

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* Split a line at tabs in place; returns the number of fields (at most max). */
static size_t split_tabs(char *line, char **f, size_t max)
{
    size_t n = 0;
    char *p = line;
    while (n < max) {
        f[n++] = p;
        char *t = strchr(p, '\t');
        if (!t) break;
        *t = 0;
        p = t + 1;
    }
    return n;
}

static void free_scan(bench_scan *s)
{
    free(s->path), free(s->rel), free(s->kind), free(s->set), free(s->key), free(s->specimen);
    free(s->firearm), free(s->sha256);
    free(s->lands), free(s->land_no);
}

void bench_manifest_free(bench_manifest *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->n; i++) free_scan(&m->scan[i]);
    free(m->scan);
    m->scan = NULL;
    m->n = 0;
}

/* Manifest folder first, then the working directory. */
static char *resolve(const char *dir, const char *rel)
{
    if (rel[0] == '/') return dup_str(rel);
    size_t n = strlen(dir) + strlen(rel) + 2;
    char *p = malloc(n);
    if (!p) return NULL;
    snprintf(p, n, "%s/%s", dir, rel);
    if (access(p, R_OK) == 0 || access(rel, R_OK) != 0) return p;
    free(p);
    return dup_str(rel);
}

ibex_status bench_manifest_read(const char *path, const char *kind, const char *set,
                                bench_manifest *out, ibex_diag *diag)
{
    FILE *f = fopen(path, "r");
    if (!f) return ibex__fail(diag, IBEX_ERR_IO, "", -1, "%s: cannot open manifest: %s", path, strerror(errno));
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");

    enum { C_PATH, C_KIND, C_SET, C_KEY, C_SPEC, C_FIREARM, C_SHA, N_COLS };
    static const char *names[N_COLS] = {"relative_path", "kind", "set", "same_source_key",
                                        "specimen_id", "firearm_id", "sha256"};
    long col[N_COLS] = {-1, -1, -1, -1, -1, -1, -1};
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t len;
    bench_manifest m = {0};
    size_t room = 0;
    ibex_status rc = IBEX_OK;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (len == 0 || line[0] == '#') continue;
        char *fld[64];
        size_t nf = split_tabs(line, fld, 64);
        if (col[C_PATH] < 0) { /* header */
            for (size_t i = 0; i < nf; i++)
                for (int c = 0; c < N_COLS; c++)
                    if (!strcmp(fld[i], names[c])) col[c] = (long)i;
            for (int c = 0; c < C_SPEC; c++)
                if (col[c] < 0) {
                    rc = ibex__fail(diag, IBEX_ERR_FORMAT, "", -1, "%s: line %zu: header has no '%s' column",
                                    path, lineno, names[c]);
                    goto done;
                }
            continue;
        }
        const char *v[N_COLS];
        for (int c = 0; c < N_COLS; c++) v[c] = col[c] >= 0 && (size_t)col[c] < nf ? fld[col[c]] : "";
        if (!v[C_PATH][0]) {
            rc = ibex__fail(diag, IBEX_ERR_FORMAT, "", -1, "%s: line %zu: empty relative_path", path, lineno);
            goto done;
        }
        if (kind ? strcmp(v[C_KIND], kind) != 0
                 : strcmp(v[C_KIND], "cartridge") && strcmp(v[C_KIND], "bullet"))
            continue;
        if (set && strcmp(v[C_SET], set) != 0) continue;
        if (!v[C_KEY][0]) continue; /* no ground truth: not scoreable */
        if (m.n == room) {
            room = room ? 2 * room : 64;
            bench_scan *ns = realloc(m.scan, room * sizeof *ns);
            if (!ns) {
                rc = ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
                goto done;
            }
            m.scan = ns;
        }
        bench_scan *s = &m.scan[m.n];
        s->path = resolve(dir, v[C_PATH]);
        s->rel = dup_str(v[C_PATH]);
        s->kind = dup_str(v[C_KIND]);
        s->set = dup_str(v[C_SET]);
        s->key = dup_str(v[C_KEY]);
        s->specimen = dup_str(v[C_SPEC][0] ? v[C_SPEC] : v[C_PATH]);
        s->firearm = dup_str(v[C_FIREARM]);
        s->sha256 = dup_str(v[C_SHA]);
        s->lands = NULL;
        s->land_no = NULL;
        s->n_lands = 0;
        m.n++;
        if (!s->path || !s->rel || !s->kind || !s->set || !s->key || !s->specimen || !s->firearm ||
            !s->sha256) {
            rc = ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
            goto done;
        }
        if (access(s->path, R_OK) != 0) {
            rc = ibex__fail(diag, IBEX_ERR_IO, "", -1, "%s: line %zu: cannot read %s: %s", path, lineno, s->path,
                            strerror(errno));
            goto done;
        }
    }
    if (col[C_PATH] < 0) {
        rc = ibex__fail(diag, IBEX_ERR_FORMAT, "", -1, "%s: empty manifest (no header line)", path);
    }
done:
    free(line);
    fclose(f);
    if (rc) bench_manifest_free(&m);
    else *out = m;
    return rc;
}
