/* Calibration of the synthetic generator against real scans: known-match
 * (KM) and known-non-match (KNM) score distributions of IBEX's comparators on the real
 * Fadul set and on synthetic sets at several difficulties, side by side (text table, one
 * JSON line per set, a PNG), and whether the default difficulty is at least as hard as
 * Fadul (AUC and d' of the CMC counts no higher than Fadul's).
 *
 * Cartridges: IBEX's CMC (ibex/compare.h, 8 x 8 cells, -30..30 deg by 3, CCF 0.5, 6 deg)
 * after the full-circle pre-registration (ibex/prealign.h), since synthetic casings lie in
 * any orientation; score = CMC count (smaller direction). To run in minutes, both sets are
 * compared at --spacing (default 12.5 um, half of Fadul's 6.25 um resolution): Fadul scans
 * are prepared as 'ibex compare' prepares them, then resampled (bilinear, levelled);
 * synthetic casings are generated on the same 3.125 mm field at that spacing (250 x 250)
 * and prepared by the full pipeline. CMC's 20-point translation threshold (125 um at
 * 6.25 um) is kept at 125 um. --spacing 6.25 runs at full resolution (about 4x slower).
 * Sets: Fadul, all 63 KM pairs and --knm KNM pairs (fixed stride over the 717); synthetic,
 * --firearms x --per-firearm casings (default 10 x 4: 60 KM pairs) and --knm KNM pairs.
 *
 * Bullets (--bullets): IBEX's land score (ibex/bullet.h) on Hamby 44 (barrel 1 and the
 * unknowns) against 3 synthetic barrels x 2 bullets x 6 lands at 100 rows (6.25 um).
 *
 * Usage: bench_synth_calib [--data DIR] [--difficulty D]... [--spacing UM] [--firearms F]
 *          [--per-firearm K] [--knm N] [--png FILE] [--json FILE] [--bullets] [--quick]
 * Output: a table on stdout, one JSON line per set on stderr (and all of them as one JSON
 * document with --json). Exit 0; 2 on a usage error. Without the real data the synthetic
 * sets are still scored. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "bench_internal.h"
#include "ibex/ibex.h"
#include "ibex/stats.h"

#define FIELD 3.125e-3   /* side of the Fadul scans and of the generator's default field */
#define T_XY_M 125e-6    /* CMC's translation threshold: 20 points at 6.25 um */

typedef struct scan {
    ibex_surface *s;   /* prepared */
    char key[64];
} scan;

typedef struct dist {
    char name[64];
    const char *score;
    double *km, *knm;
    int nkm, nknm;
    double seconds;
} dist;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double mean_of(const double *v, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += v[i];
    return n ? s / n : NAN;
}

static double sd_of(const double *v, int n)
{
    double m = mean_of(v, n), s = 0;
    for (int i = 0; i < n; i++) s += (v[i] - m) * (v[i] - m);
    return n > 1 ? sqrt(s / (n - 1)) : NAN;
}

/* v sorted */
static double median_of(const double *v, int n)
{
    return n ? (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2])) : NAN;
}

/* ROC area (Mann-Whitney, ties half) of the harness's statistics (ibex/stats.h). */
static double auc_of(const dist *d)
{
    double a;
    return ibex_stats_auc(d->km, (size_t)d->nkm, d->knm, (size_t)d->nknm, &a, NULL) ? NAN : a;
}

static double share_at_least(const double *v, int n, double t)
{
    int k = 0;
    for (int i = 0; i < n; i++) k += v[i] >= t;
    return n ? (double)k / n : NAN;
}

/* ---- scores ---- */

typedef double (*score_fn)(const void *a, const void *b, void *ctx);

static double cmc_score(const void *a, const void *b, void *ctx)
{
    ibex_cmc_result *r = NULL;
    ibex_diag d;
    if (ibex_cmc_plan_run_prealigned(ctx, a, b, NULL, &r, NULL, &d)) {
        fprintf(stderr, "bench_synth_calib: CMC: %s\n", d.message);
        return 0; /* a refused pair counts as no congruent cell */
    }
    double v = r->cmc;
    ibex_cmc_result_free(r);
    return v;
}

static double land_score(const void *a, const void *b, void *ctx)
{
    (void)ctx;
    ibex_land_result r;
    return a && b && ibex_land_compare(a, b, &r, NULL) == IBEX_OK ? r.score : -1;
}

/* All KM pairs; KNM pairs in a fixed stride over all different-key pairs, at most max_knm.
 * items[i] is what the score function compares (prepared surface or land signature). */
static void score_set(void *const *items, char (*keys)[64], int n, int max_knm, score_fn score,
                      void *ctx, dist *d)
{
    int total_knm = 0;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) total_knm += strcmp(keys[i], keys[j]) != 0;
    int stride = total_knm > max_knm ? (total_knm + max_knm - 1) / max_knm : 1, t = 0;
    d->km = malloc(sizeof(double) * (size_t)(n * n + 1));
    d->knm = malloc(sizeof(double) * (size_t)(n * n + 1));
    d->nkm = d->nknm = 0;
    double t0 = now();
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            int same = strcmp(keys[i], keys[j]) == 0;
            if (!same && (t++ % stride) != 0) continue;
            double v = score(items[i], items[j], ctx);
            if (same) d->km[d->nkm++] = v;
            else d->knm[d->nknm++] = v;
        }
    d->seconds = now() - t0;
}

/* ---- sets ---- */

/* Scans of one kind and set from the manifest: path column 0, kind 1, set 2, key 12. */
static int load_real(const char *dir, const char *kind, const char *set, ibex_surface ***out,
                     char (**keys)[64])
{
    char path[4096], line[8192];
    snprintf(path, sizeof path, "%s/MANIFEST.tsv", dir);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    ibex_surface **sc = calloc(256, sizeof *sc);
    char(*k)[64] = calloc(256, sizeof *k);
    int n = 0;
    while (fgets(line, sizeof line, f) && n < 256) {
        char *col[14] = {0}, *p = line;
        int c = 0;
        for (; c < 14 && p; c++) {
            col[c] = p;
            p = strchr(p, '\t');
            if (p) *p++ = '\0';
        }
        if (c < 13 || strcmp(col[1], kind) || strcmp(col[2], set)) continue;
        char fp[4200];
        snprintf(fp, sizeof fp, "%s/%.3000s", dir, col[0]);
        ibex_diag d;
        if (ibex_surface_read(fp, 0, &sc[n], &d)) {
            fprintf(stderr, "bench_synth_calib: %s: %s\n", fp, d.message);
            continue;
        }
        snprintf(k[n], sizeof k[n], "%s", col[12]);
        n++;
    }
    fclose(f);
    *out = sc;
    *keys = k;
    return n;
}

/* Fadul scans as 'ibex compare' prepares them, then resampled to the calibration spacing. */
static ibex_surface *prepare_real(const ibex_surface *raw, double spacing)
{
    ibex_preprocess_opts o;
    ibex_preprocess_opts_init(&o);
    ibex_surface *p = NULL, *q = NULL;
    if (ibex_preprocess(raw, &o, &p, NULL, NULL)) return NULL;
    if (fabs(p->dx - spacing) <= 0.02 * spacing) return p;
    o.mode = IBEX_PREPROCESS_LEVEL;
    o.spacing = spacing;
    if (ibex_preprocess(p, &o, &q, NULL, NULL)) q = NULL;
    ibex_surface_free(p);
    return q;
}

/* Synthetic casings on the 3.125 mm field at the calibration spacing, prepared by the full
 * pipeline at that spacing. */
static int make_synth(double difficulty, int firearms, int per, double spacing, uint64_t seed,
                      ibex_surface ***out, char (**keys)[64])
{
    ibex_synth_opts o;
    ibex_synth_opts_init(&o);
    o.difficulty = difficulty;
    o.size = (size_t)lround(FIELD / spacing);
    o.family_seed = ibex_synth_seed_derive(seed, 0xFA);
    ibex_preprocess_opts po;
    ibex_preprocess_opts_init(&po);
    po.spacing = spacing;
    ibex_surface **sc = calloc((size_t)(firearms * per), sizeof *sc);
    char(*k)[64] = calloc((size_t)(firearms * per), sizeof *k);
    int n = 0;
    for (int f = 0; f < firearms; f++) {
        ibex_synth_firearm *fa;
        if (ibex_synth_firearm_create(ibex_synth_seed_derive(seed, (uint64_t)f), &o, &fa, NULL))
            continue;
        for (int j = 0; j < per; j++) {
            ibex_surface *raw = NULL;
            uint64_t ss = ibex_synth_seed_derive(seed + 1, (uint64_t)(f * 1000 + j));
            if (ibex_synth_cartridge_run(fa, ss, &raw, NULL, NULL)) continue;
            int ok = ibex_preprocess(raw, &po, &sc[n], NULL, NULL) == IBEX_OK;
            ibex_surface_free(raw);
            if (!ok) continue;
            snprintf(k[n], sizeof k[n], "F%02d", f + 1);
            n++;
        }
        ibex_synth_firearm_free(fa);
    }
    *out = sc;
    *keys = k;
    return n;
}

/* Bullets: barrels x bullets x 6 land signatures at 100 rows (6.25 um), keyed by land class. */
static int make_synth_lands(double difficulty, int barrels, int bullets, uint64_t seed,
                            ibex_land_signature ***out, char (**keys)[64])
{
    ibex_synth_opts o;
    ibex_synth_opts_init(&o);
    o.difficulty = difficulty;
    o.size = 100;
    o.family_seed = ibex_synth_seed_derive(seed, 0xFB);
    ibex_land_opts lo;
    ibex_land_opts_init(&lo);
    ibex_land_signature **sg = calloc((size_t)(barrels * bullets * 6), sizeof *sg);
    char(*k)[64] = calloc((size_t)(barrels * bullets * 6), sizeof *k);
    int n = 0;
    for (int b = 0; b < barrels; b++) {
        ibex_synth_barrel *br;
        if (ibex_synth_barrel_create(ibex_synth_seed_derive(seed, (uint64_t)b), &o, &br, NULL)) continue;
        for (int u = 0; u < bullets; u++)
            for (int l = 0; l < 6; l++) {
                ibex_synth_truth t;
                ibex_surface *s = NULL;
                if (ibex_synth_land_run(br, (uint64_t)u, l, &s, &t, NULL)) continue;
                if (ibex_land_signature_create(s, &lo, &sg[n], NULL)) sg[n] = NULL;
                ibex_surface_free(s);
                snprintf(k[n], sizeof k[n], "B%02d-L%d", b + 1, t.land_class + 1);
                n++;
            }
        ibex_synth_barrel_free(br);
    }
    *out = sg;
    *keys = k;
    return n;
}

/* ---- output ---- */

typedef struct summary {
    double km_min, km_med, km_max, km_mean, km_sd, knm_min, knm_med, knm_max, knm_mean, knm_sd;
    double dprime, auc, auc_lo, auc_hi, tpr, fpr; /* tpr / fpr: shares at or above the
                                                     threshold; AUC with a 95% bootstrap CI */
} summary;

static summary summarise(dist *d, double threshold)
{
    summary s;
    s.auc = auc_of(d);
    ibex_auc_ci_opts co;
    ibex_auc_ci_opts_init(&co);
    if (ibex_stats_auc_ci(d->km, (size_t)d->nkm, d->knm, (size_t)d->nknm, &co, &s.auc_lo,
                          &s.auc_hi, NULL))
        s.auc_lo = s.auc_hi = NAN;
    qsort(d->km, (size_t)d->nkm, sizeof(double), cmp_d);
    qsort(d->knm, (size_t)d->nknm, sizeof(double), cmp_d);
    s.km_min = d->nkm ? d->km[0] : NAN;
    s.km_max = d->nkm ? d->km[d->nkm - 1] : NAN;
    s.knm_min = d->nknm ? d->knm[0] : NAN;
    s.knm_max = d->nknm ? d->knm[d->nknm - 1] : NAN;
    s.km_med = median_of(d->km, d->nkm);
    s.knm_med = median_of(d->knm, d->nknm);
    s.km_mean = mean_of(d->km, d->nkm);
    s.km_sd = sd_of(d->km, d->nkm);
    s.knm_mean = mean_of(d->knm, d->nknm);
    s.knm_sd = sd_of(d->knm, d->nknm);
    s.dprime = (s.km_mean - s.knm_mean) / sqrt(0.5 * (s.km_sd * s.km_sd + s.knm_sd * s.knm_sd));
    s.tpr = share_at_least(d->km, d->nkm, threshold);
    s.fpr = share_at_least(d->knm, d->nknm, threshold);
    return s;
}

static json_t *summary_json(const dist *d, const summary *s, double spacing)
{
    json_t *o = json_object();
    json_object_set_new(o, "bench", json_string("synth_calib"));
    json_object_set_new(o, "set", json_string(d->name));
    json_object_set_new(o, "score", json_string(d->score));
    if (spacing > 0) json_object_set_new(o, "spacing_um", json_real(spacing * 1e6));
    json_object_set_new(o, "n_km", json_integer(d->nkm));
    json_object_set_new(o, "n_knm", json_integer(d->nknm));
    const double v[] = {s->km_min, s->km_med, s->km_max, s->km_mean, s->km_sd, s->knm_min,
                        s->knm_med, s->knm_max, s->knm_mean, s->knm_sd, s->dprime, s->auc,
                        s->auc_lo, s->auc_hi, s->tpr, s->fpr, d->seconds};
    const char *k[] = {"km_min", "km_median", "km_max", "km_mean", "km_sd", "knm_min",
                       "knm_median", "knm_max", "knm_mean", "knm_sd", "d_prime", "auc",
                       "auc_ci95_lo", "auc_ci95_hi", "km_at_or_above_threshold",
                       "knm_at_or_above_threshold", "seconds"};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        json_object_set_new(o, k[i], isfinite(v[i]) ? json_real(v[i]) : json_null());
    return o;
}

/* Share of pairs with a count >= x (x in (c - 1, c] has the share at c), as steps. */
static void survival(const double *v, int n, double xmax, double *x, double *y, size_t *np)
{
    size_t k = 0;
    x[k] = 0, y[k++] = 1;
    for (int c = 1; c <= (int)xmax; c++) {
        double s = share_at_least(v, n, c);
        x[k] = c - 1, y[k++] = s;
        x[k] = c, y[k++] = s;
    }
    *np = k;
}

static int write_png(const char *path, const dist *d, int nd, double spacing)
{
    double xmax = 10;
    for (int i = 0; i < nd; i++) {
        if (d[i].nkm) xmax = fmax(xmax, d[i].km[d[i].nkm - 1] + 2);
        if (d[i].nknm) xmax = fmax(xmax, d[i].knm[d[i].nknm - 1] + 2);
    }
    char title[160];
    snprintf(title, sizeof title, "CMC after pre-registration at %.3g um: Fadul vs synthetic "
             "(solid KM, dashed KNM)", spacing * 1e6);
    bench_plot *p = bench_plot_create(1000, 620, title, "CMC count c",
                                      "share of pairs with CMC >= c", 0, xmax, 0, 1.02);
    if (!p) return -1;
    size_t cap = 2 * ((size_t)xmax + 2), np;
    double *x = malloc(cap * sizeof *x), *y = malloc(cap * sizeof *y);
    for (int i = 0; i < nd; i++) {
        char lab[96];
        snprintf(lab, sizeof lab, "%.60s (AUC %.3f)", d[i].name, auc_of(&d[i]));
        survival(d[i].km, d[i].nkm, xmax, x, y, &np);
        bench_plot_line(p, x, y, np, i, 2.5, 0, lab);
        survival(d[i].knm, d[i].nknm, xmax, x, y, &np);
        bench_plot_line(p, x, y, np, i, 2.0, 1, NULL);
    }
    free(x);
    free(y);
    bench_plot_vline(p, 6, 7, "identification at 6");
    bench_plot_legend(p, 1);
    int rc = bench_plot_write(p, path);
    bench_plot_cleanup();
    return rc;
}

static void print_row(const dist *d, const summary *s, const char *fmt_v)
{
    char km[64], knm[64];
    char f3[64];
    snprintf(f3, sizeof f3, "%s..%s (%s)", fmt_v, fmt_v, fmt_v);
    snprintf(km, sizeof km, f3, s->km_min, s->km_max, s->km_med);
    snprintf(knm, sizeof knm, f3, s->knm_min, s->knm_max, s->knm_med);
    printf("%-24s %4d %4d  %-19s %6.2f  %-19s %6.2f  %6.2f %6.3f  %5.2f %5.2f %6.0f\n", d->name,
           d->nkm, d->nknm, km, s->km_mean, knm, s->knm_mean, s->dprime, s->auc, s->tpr, s->fpr,
           d->seconds);
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: bench_synth_calib [--data DIR] [--difficulty D]... [--spacing UM] [--firearms F]\n"
               "         [--per-firearm K] [--knm N] [--png FILE] [--json FILE] [--bullets] [--quick]\n\n"
               "Calibration of the synthetic generator against real scans: known-match and known-\n"
               "non-match score distributions of the CMC count (and, with --bullets, of the land\n"
               "score) on the real Fadul set and on synthetic sets at several difficulties; whether\n"
               "the default difficulty is at least as hard as Fadul (AUC and d'). A table on stdout,\n"
               "one JSON line per set on stderr.\n\n"
               "  --data DIR         the real scans (default $IBEX_DATA, $IBEX_DATA_DEFAULT)\n"
               "  --difficulty D     a synthetic difficulty (repeatable; default: the generator's,\n"
               "                     0.25 and 0.75)\n"
               "  --spacing UM       comparison spacing, 3..50 um (default 12.5)\n"
               "  --firearms F       synthetic firearms, 2..100 (default 10)\n"
               "  --per-firearm K    casings per firearm, 2..50 (default 4)\n"
               "  --knm N            known-non-match pairs per set (default 60)\n"
               "  --png FILE         the distributions as a figure\n"
               "  --json FILE        every set as one JSON document\n"
               "  --bullets          also Hamby 44 lands against synthetic barrels\n"
               "  --quick            3 firearms x 2 casings, 6 KNM pairs (a smoke test)\n"
               "  --help             this text\n");
}

int main(int argc, char **argv)
{
    const char *data = getenv("IBEX_DATA"), *png = NULL, *jpath = NULL;
    double diffs[8], spacing = 12.5e-6;
    int nd = 0, max_knm = 60, quick = 0, bullets = 0, firearms = 10, per = 4;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--data") && v) data = argv[++i];
        else if (!strcmp(a, "--difficulty") && v && nd < 8) diffs[nd++] = atof(argv[++i]);
        else if (!strcmp(a, "--spacing") && v) spacing = atof(argv[++i]) * 1e-6;
        else if (!strcmp(a, "--firearms") && v) firearms = atoi(argv[++i]);
        else if (!strcmp(a, "--per-firearm") && v) per = atoi(argv[++i]);
        else if (!strcmp(a, "--knm") && v) max_knm = atoi(argv[++i]);
        else if (!strcmp(a, "--png") && v) png = argv[++i];
        else if (!strcmp(a, "--json") && v) jpath = argv[++i];
        else if (!strcmp(a, "--quick")) quick = 1;
        else if (!strcmp(a, "--bullets")) bullets = 1;
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!(spacing >= 3e-6 && spacing <= 50e-6) || firearms < 2 || firearms > 100 || per < 2 ||
        per > 50 || max_knm < 1) {
        usage(stderr);
        return 2;
    }
    if (!data) data = getenv("IBEX_DATA_DEFAULT");
    ibex_synth_opts so;
    ibex_synth_opts_init(&so);
    double def = so.difficulty;
    if (nd == 0) {
        diffs[nd++] = def;
        if (!quick) {
            diffs[nd++] = 0.25;
            diffs[nd++] = 0.75;
        }
    }
    if (quick) {
        firearms = 3, per = 2, max_knm = 6;
        spacing = fmax(spacing, 25e-6);
    }
    ibex_cmc_opts co;
    ibex_cmc_opts_init(&co);
    co.t_xy_m = T_XY_M;
    ibex_cmc_plan *plan;
    if (ibex_cmc_plan_create(&co, &plan, NULL)) return 1;
    dist d[16];
    summary sm[16];
    int n = 0;
    /* Fadul */
    ibex_surface **real = NULL;
    char(*rk)[64] = NULL;
    int nreal = data && !quick ? load_real(data, "cartridge", "fadul", &real, &rk) : -1;
    if (nreal > 0) {
        for (int i = 0; i < nreal; i++) {
            ibex_surface *p = prepare_real(real[i], spacing);
            ibex_surface_free(real[i]);
            real[i] = p;
        }
        snprintf(d[n].name, sizeof d[n].name, "fadul (real)");
        d[n].score = "CMC count after prealign";
        score_set((void *const *)real, rk, nreal, max_knm, cmc_score, plan, &d[n]);
        n++;
        for (int i = 0; i < nreal; i++) ibex_surface_free(real[i]);
    } else if (!quick) {
        fprintf(stderr, "bench_synth_calib: no Fadul data (%s); synthetic only\n",
                data ? data : "IBEX_DATA_DEFAULT unset");
    }
    free(real);
    free(rk);
    int ncart = 0;
    for (int k = 0; k < nd; k++) {
        ibex_surface **sc;
        char(*sk)[64];
        int ns = make_synth(diffs[k], firearms, per, spacing, 20261123, &sc, &sk);
        snprintf(d[n].name, sizeof d[n].name, "synth d=%.2f%s", diffs[k],
                 diffs[k] == def ? " (default)" : "");
        d[n].score = "CMC count after prealign";
        score_set((void *const *)sc, sk, ns, max_knm, cmc_score, plan, &d[n]);
        n++;
        for (int i = 0; i < ns; i++) ibex_surface_free(sc[i]);
        free(sc);
        free(sk);
    }
    ncart = n;
    ibex_cmc_plan_free(plan);
    /* Bullets: KNM pairs include different lands of one barrel, as in Hamby 44. */
    if (bullets) {
        ibex_surface **hb = NULL;
        char(*hk)[64] = NULL;
        int nh = data ? load_real(data, "bullet", "hamby44", &hb, &hk) : -1;
        if (nh > 0) {
            ibex_land_opts lo;
            ibex_land_opts_init(&lo);
            ibex_land_signature **sg = calloc((size_t)nh, sizeof *sg);
            for (int i = 0; i < nh; i++) {
                if (ibex_land_signature_create(hb[i], &lo, &sg[i], NULL)) sg[i] = NULL;
                ibex_surface_free(hb[i]);
            }
            snprintf(d[n].name, sizeof d[n].name, "hamby44 (real)");
            d[n].score = "land score";
            score_set((void *const *)sg, hk, nh, 100000, land_score, NULL, &d[n]);
            n++;
            for (int i = 0; i < nh; i++) ibex_land_signature_free(sg[i]);
            free(sg);
        }
        free(hb);
        free(hk);
        ibex_land_signature **sl;
        char(*lk)[64];
        int nl = make_synth_lands(def, 3, 2, 20261123, &sl, &lk);
        snprintf(d[n].name, sizeof d[n].name, "synth lands d=%.2f", def);
        d[n].score = "land score";
        score_set((void *const *)sl, lk, nl, 100000, land_score, NULL, &d[n]);
        n++;
        for (int i = 0; i < nl; i++) ibex_land_signature_free(sl[i]);
        free(sl);
        free(lk);
    }
    printf("cartridges: CMC count after full-circle pre-registration, at %.3g um (t_xy %.3g "
           "points = 125 um); tpr/fpr: share at CMC >= %u\n",
           spacing * 1e6, co.t_xy_m / spacing, co.id_threshold);
    printf("%-24s %4s %4s  %-19s %6s  %-19s %6s  %6s %6s  %5s %5s %6s\n", "set", "KM", "KNM",
           "KM min..max (med)", "mean", "KNM min..max (med)", "mean", "d'", "AUC", "tpr", "fpr",
           "sec");
    json_t *all = json_array();
    for (int i = 0; i < n; i++) {
        int cart = i < ncart;
        if (i == ncart)
            printf("bullets: land score P(same land); tpr/fpr: share at >= %.1f\n", IBEX_LAND_MATCH);
        sm[i] = summarise(&d[i], cart ? co.id_threshold : IBEX_LAND_MATCH);
        print_row(&d[i], &sm[i], cart ? "%.0f" : "%.2f");
        json_t *o = summary_json(&d[i], &sm[i], cart ? spacing : 0);
        char *line = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(5));
        if (line) fprintf(stderr, "%s\n", line);
        free(line);
        json_array_append_new(all, o);
    }
    /* The default difficulty against Fadul: no easier when neither AUC nor d' is higher. */
    int ifad = -1, idef = -1;
    for (int i = 0; i < ncart; i++) {
        if (!strcmp(d[i].name, "fadul (real)")) ifad = i;
        if (strstr(d[i].name, "(default)")) idef = i;
    }
    json_t *doc = json_object();
    json_object_set_new(doc, "sets", all);
    if (ifad >= 0 && idef >= 0) {
        int harder = sm[idef].auc <= sm[ifad].auc && sm[idef].dprime <= sm[ifad].dprime;
        printf("default difficulty %.2f vs Fadul: AUC %.3f vs %.3f, d' %.2f vs %.2f: %s\n", def,
               sm[idef].auc, sm[ifad].auc, sm[idef].dprime, sm[ifad].dprime,
               harder ? "at least as hard as Fadul" : "EASIER than Fadul");
        json_object_set_new(doc, "default_at_least_as_hard_as_fadul", json_boolean(harder));
    }
    if (jpath) {
        if (json_dump_file(doc, jpath, JSON_INDENT(2) | JSON_REAL_PRECISION(5)))
            fprintf(stderr, "bench_synth_calib: cannot write %s\n", jpath);
    }
    json_decref(doc);
    if (png && ncart > 0) {
        if (write_png(png, d, ncart, spacing))
            fprintf(stderr, "bench_synth_calib: cannot write %s\n", png);
        else
            printf("%s: share of pairs at or above each CMC count, per set (solid KM, dashed "
                   "KNM)\n", png);
    }
    for (int i = 0; i < n; i++) {
        free(d[i].km);
        free(d[i].knm);
    }
    return 0;
}
