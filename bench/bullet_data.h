/* Loading the real bullet sets with their ground truth, shared by bench_bullet and
 * fit_land_model (header-only, bench use). Labels come from MANIFEST.tsv's same_source_key. */
#ifndef IBEX_BENCH_BULLET_DATA_H
#define IBEX_BENCH_BULLET_DATA_H

#include <ctype.h>
#include <math.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ibex/ibex.h"
#include "ibex/bullet.h"

typedef struct bland {
    char name[128];   /* file name */
    char key[96];     /* same_source_key ("" if unknown) */
    char bullet[16];  /* "1", "2", "E", ... from the file name */
    int land;         /* land number from the file name (1-based), 0 if none */
    ibex_land_signature *sig;
    double extract_ms;     /* median wall time */
    double extract_cpu_ms; /* median CPU time of the extracting thread */
    int axis_truth;   /* IBEX_LAND_AXIS_X / _Y expected for this set */
} bland;

static inline double bd_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static inline double bd_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* "Bullet_1", "Bullet1", "Bullet_E" -> "1"/"E"; "Land_3"/"Land3" -> 3. */
static inline void bd_parse_name(const char *name, char *bullet, size_t bsz, int *land)
{
    const char *p = strstr(name, "Bullet");
    bullet[0] = 0;
    if (p) {
        p += 6;
        if (*p == '_') p++;
        size_t k = 0;
        while (isalnum((unsigned char)p[k]) && k + 1 < bsz) {
            bullet[k] = p[k];
            k++;
        }
        bullet[k] = 0;
    }
    *land = 0;
    const char *q = strstr(name, "Land");
    if (q) {
        q += 4;
        if (*q == '_') q++;
        *land = atoi(q);
    }
    /* "HFSCP-BA-B30-L1" -> bullet "BA-B30" (between the first '-' and the last "-L<n>"), land 1. */
    const char *dash = strchr(name, '-'), *l = NULL;
    for (const char *t = name; !q && (t = strstr(t, "-L")); t++)
        if (isdigit((unsigned char)t[2])) l = t;
    if (!p && !q && dash && l && l > dash) {
        size_t k = (size_t)(l - dash - 1);
        if (k + 1 > bsz) k = bsz - 1;
        memcpy(bullet, dash + 1, k);
        bullet[k] = 0;
        *land = atoi(l + 2);
    }
}

/* same_source_key of data-relative path rel, from MANIFEST.tsv. */
static inline void bd_key(const char *data, const char *rel, char *key, size_t ksz)
{
    char path[1024], line[4096];
    key[0] = 0;
    snprintf(path, sizeof path, "%s/MANIFEST.tsv", data);
    FILE *f = fopen(path, "r");
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        char *cols[14];
        int nc = 0;
        char *s = line;
        while (nc < 14) {
            cols[nc++] = s;
            char *t = strchr(s, '\t');
            if (!t) break;
            *t = 0;
            s = t + 1;
        }
        if (nc >= 13 && !strcmp(cols[0], rel)) {
            snprintf(key, ksz, "%s", cols[12]);
            break;
        }
    }
    fclose(f);
}

static int bd_cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Load every .x3p of data/sub, extracting signatures. Returns count; *out malloc'ed. */
static int bd_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* repeats: extraction is timed this many times (median kept in extract_ms). */
static inline int bd_load(const char *data, const char *sub, int axis_truth,
                          const ibex_land_opts *o, int repeats, bland **out)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", data, sub);
    DIR *d = opendir(dir);
    if (!d) return -1;
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        size_t l = strlen(e->d_name);
        if (l > 4 && !strcmp(e->d_name + l - 4, ".x3p")) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, bd_cmp_name);
    bland *v = calloc((size_t)n + 1, sizeof *v);
    int m = 0;
    for (int i = 0; i < n; i++) {
        char path[2048], rel[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        snprintf(rel, sizeof rel, "%s/%s", sub, names[i]);
        ibex_surface *s = NULL;
        ibex_diag dg;
        if (ibex_surface_read(path, IBEX_READ_NO_VERIFY, &s, &dg)) {
            fprintf(stderr, "%s: %s\n", path, dg.message);
            free(names[i]);
            continue;
        }
        bland *b = &v[m];
        snprintf(b->name, sizeof b->name, "%s", names[i]);
        bd_key(data, rel, b->key, sizeof b->key);
        bd_parse_name(names[i], b->bullet, sizeof b->bullet, &b->land);
        b->axis_truth = axis_truth;
        double ts[64], tc[64];
        if (repeats < 1) repeats = 1;
        if (repeats > 64) repeats = 64;
        b->sig = NULL;
        for (int r = 0; r < repeats; r++) {
            ibex_land_signature_free(b->sig);
            b->sig = NULL;
            double t0 = bd_now(), c0 = bd_cpu_now();
            if (ibex_land_signature_create(s, o, &b->sig, &dg)) {
                if (r == 0) fprintf(stderr, "%s: %s\n", path, dg.message);
                b->sig = NULL;
            }
            ts[r] = (bd_now() - t0) * 1e3;
            tc[r] = (bd_cpu_now() - c0) * 1e3;
        }
        qsort(tc, (size_t)repeats, sizeof *tc, bd_cmp_double);
        b->extract_cpu_ms = tc[repeats / 2];
        qsort(ts, (size_t)repeats, sizeof *ts, bd_cmp_double);
        b->extract_ms = ts[repeats / 2];
        ibex_surface_free(s);
        free(names[i]);
        m++;
    }
    *out = v;
    return m;
}

/* Rank-based AUC (ties count half). */
static inline double bd_auc(const double *score, const int *label, int n)
{
    double num = 0, den = 0;
    for (int i = 0; i < n; i++) {
        if (!label[i]) continue;
        for (int j = 0; j < n; j++) {
            if (label[j]) continue;
            num += score[i] > score[j] ? 1 : score[i] == score[j] ? 0.5 : 0;
            den += 1;
        }
    }
    return den > 0 ? num / den : NAN;
}

#endif
