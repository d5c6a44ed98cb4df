/* Fit the shipped score calibration (engine/calibration_shipped.c) from the pairs tables of
 * `ibex bench accuracy` runs (pairs_<kind>.tsv: columns same_source and score), one table
 * per study: pools every pair of every table (ibex_calibration_fit), prints the block to
 * paste, and the out-of-study figures: each table scored by a calibration fitted on the
 * others (Cllr, Cllr_min, misleading LRs). JSON lines on stdout.
 * Usage: fit_calibration ID TABLE.tsv [TABLE.tsv ...] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_usage.h"
#include "ibex/calibration.h"

typedef struct table {
    const char *path;
    double *s;
    int *y;
    size_t n;
} table;

/* Columns found by name in the header line. 0 on success. */
static int load(const char *path, table *t)
{
    FILE *f = fopen(path, "r");
    if (!f) return fprintf(stderr, "fit_calibration: %s: cannot open\n", path), 1;
    char line[8192];
    int cs = -1, cy = -1;
    size_t cap = 1024;
    t->path = path;
    t->n = 0;
    t->s = malloc(cap * sizeof *t->s);
    t->y = malloc(cap * sizeof *t->y);
    if (!t->s || !t->y || !fgets(line, sizeof line, f)) return fclose(f), 1;
    int c = 0;
    for (char *p = strtok(line, "\t\n"); p; p = strtok(NULL, "\t\n"), c++) {
        if (!strcmp(p, "score")) cs = c;
        if (!strcmp(p, "same_source")) cy = c;
    }
    if (cs < 0 || cy < 0) {
        fprintf(stderr, "fit_calibration: %s: no score / same_source column\n", path);
        return fclose(f), 1;
    }
    while (fgets(line, sizeof line, f)) {
        double s = NAN;
        int y = -1;
        c = 0;
        for (char *p = strtok(line, "\t\n"); p; p = strtok(NULL, "\t\n"), c++) {
            if (c == cs) s = strtod(p, NULL);
            if (c == cy) y = atoi(p);
        }
        if (!isfinite(s) || y < 0) continue;
        if (t->n == cap) {
            cap *= 2;
            t->s = realloc(t->s, cap * sizeof *t->s);
            t->y = realloc(t->y, cap * sizeof *t->y);
            if (!t->s || !t->y) return fclose(f), 1;
        }
        t->s[t->n] = s;
        t->y[t->n++] = y;
    }
    fclose(f);
    return 0;
}

static const char usage_text[] =
    "Usage: fit_calibration ID TABLE.tsv [TABLE.tsv ...]\n\n"
    "Fits the shipped score calibration from the pairs tables of `ibex bench accuracy` runs\n"
    "(pairs_<kind>.tsv, columns same_source and score), one table per study: pools every pair,\n"
    "prints the block to paste into engine/calibration_shipped.c (named ID), and the\n"
    "out-of-study figures: each table scored by a fit on the others (Cllr, Cllr_min,\n"
    "misleading LRs). JSON lines on stdout.\n\n"
    "  --help   this text\n";

int main(int argc, char **argv)
{
    int u = bench_usage_check(argc, argv, usage_text, "");
    if (u >= 0) return u;
    if (argc < 3) {
        fputs(usage_text, stderr);
        return 2;
    }
    int k = argc - 2;
    table *t = calloc((size_t)k, sizeof *t);
    size_t total = 0;
    for (int i = 0; i < k; i++) {
        if (load(argv[i + 2], &t[i])) return 1;
        total += t[i].n;
    }
    double *s = malloc((total + 1) * sizeof *s), *l = malloc((total + 1) * sizeof *l);
    int *y = malloc((total + 1) * sizeof *y);
    ibex_calibration c;
    ibex_diag d;
    for (int out = -1; out < k; out++) { /* -1: every table; else leave table `out` out */
        size_t n = 0;
        for (int i = 0; i < k; i++)
            for (size_t j = 0; i != out && j < t[i].n; j++) s[n] = t[i].s[j], y[n++] = t[i].y[j];
        if (ibex_calibration_fit(s, y, n, argv[1], "cmc", &c, &d)) {
            fprintf(stderr, "fit_calibration: %s\n", d.message);
            if (out < 0) return 1;
            continue;
        }
        if (out < 0) {
            printf("{\"fit\":\"all\",\"pairs\":%zu,\"a\":%.6g,\"b\":%.6g,\"log10_lo\":%.2f,"
                   "\"log10_hi\":%.2f,\"score_at_lr_1\":%.3f}\n", n, c.a, c.b, c.log10_lo,
                   c.log10_hi, -c.a / c.b);
            printf("/* CALIBRATION-BEGIN cartridge */\nstatic const ibex_calibration cartridge = "
                   "{\"%s\", \"%s\", %.6g, %.6g, %.2f, %.2f, %zu, %zu};\n/* CALIBRATION-END */\n",
                   c.id, c.score, c.a, c.b, c.log10_lo, c.log10_hi, c.n_match, c.n_nonmatch);
            continue;
        }
        size_t ms = 0, md = 0, ns = 0, nd = 0;
        for (size_t j = 0; j < t[out].n; j++) {
            l[j] = ibex_calibration_log10_lr(&c, t[out].s[j]);
            if (t[out].y[j]) ns++, ms += l[j] < 0;
            else nd++, md += l[j] > 0;
        }
        printf("{\"out_of_study\":\"%s\",\"pairs\":%zu,\"fit_on_pairs\":%zu,\"cllr\":%.4f,"
               "\"cllr_min\":%.4f,\"same_source_lr_below_1\":\"%zu of %zu\","
               "\"different_source_lr_above_1\":\"%zu of %zu\"}\n", t[out].path, t[out].n, n,
               ibex_cllr(l, t[out].y, t[out].n), ibex_cllr_min(l, t[out].y, t[out].n), ms, ns,
               md, nd);
    }
    return 0;
}
