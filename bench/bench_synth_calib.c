/* Calibration of the synthetic cartridge generator against the real Fadul set (issue 6,
 * item 5): known-match (KM) and known-non-match (KNM) score distributions on Fadul and on
 * synthetic sets of the same shape (10 firearms x 4 casings, full size, downsampled by the
 * scorer exactly as the real scans are), printed side by side, with a PNG of histograms.
 *
 * Scores come from SYNTH_SCORE_CARTRIDGE in tests/synth_score.h: a stand-in rotation- and
 * translation-searched normalised cross-correlation until IBEX's CMC comparator is on main;
 * point that macro at the comparator to calibrate against the real thing.
 *
 * With --bullets, also Hamby 44 land scans against synthetic lands (column-signature NCC).
 * Usage: bench_synth_calib [--data DIR] [--difficulty D]... [--knm N] [--png FILE] [--bullets]
 *                          [--quick]
 * Output: a table on stdout and one JSON line per set. Exit 0; 77 when the data are absent
 * and no synthetic-only run was asked for. */
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibex/ibex.h"
#include "ibex/synth.h"
#include "synth_score.h"

typedef struct scan {
    ibex_surface *s;
    char key[64];
} scan;

typedef struct dist {
    char name[64];
    double *km, *knm;
    int nkm, nknm;
} dist;

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

/* Share of (KM, KNM) pairs ordered correctly, ties count half: the ROC area. */
static double auc_of(const dist *d)
{
    double w = 0;
    for (int i = 0; i < d->nkm; i++)
        for (int j = 0; j < d->nknm; j++)
            w += d->km[i] > d->knm[j] ? 1.0 : d->km[i] == d->knm[j] ? 0.5 : 0.0;
    return d->nkm && d->nknm ? w / ((double)d->nkm * d->nknm) : NAN;
}

/* All KM pairs; KNM pairs in a fixed stride over all different-key pairs, at most max_knm. */
typedef double (*score_fn)(const ibex_surface *, const ibex_surface *);

static void score_set(const scan *sc, int n, int max_knm, score_fn score, dist *d)
{
    int total_knm = 0;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) total_knm += strcmp(sc[i].key, sc[j].key) != 0;
    int stride = total_knm > max_knm ? (total_knm + max_knm - 1) / max_knm : 1, t = 0;
    d->km = malloc(sizeof(double) * (size_t)(n * n));
    d->knm = malloc(sizeof(double) * (size_t)(n * n));
    d->nkm = d->nknm = 0;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            int same = strcmp(sc[i].key, sc[j].key) == 0;
            if (!same && (t++ % stride) != 0) continue;
            double v = score(sc[i].s, sc[j].s);
            if (same) d->km[d->nkm++] = v;
            else d->knm[d->nknm++] = v;
        }
}

static int load_real(const char *dir, const char *kind, const char *set, scan **out)
{
    char path[4096], line[8192];
    snprintf(path, sizeof path, "%s/MANIFEST.tsv", dir);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    scan *sc = calloc(256, sizeof *sc);
    int n = 0;
    while (fgets(line, sizeof line, f) && n < 256) {
        char *col[14] = {0}, *p = line;
        int k = 0;
        for (; k < 14 && p; k++) {
            col[k] = p;
            p = strchr(p, '\t');
            if (p) *p++ = '\0';
        }
        if (k < 13 || strcmp(col[1], kind) || strcmp(col[2], set)) continue;
        char fp[4200];
        snprintf(fp, sizeof fp, "%s/%.3000s", dir, col[0]);
        ibex_diag d;
        if (ibex_surface_read(fp, 0, &sc[n].s, &d)) {
            fprintf(stderr, "bench_synth_calib: %s: %s\n", fp, d.message);
            continue;
        }
        snprintf(sc[n].key, sizeof sc[n].key, "%s", col[12]);
        n++;
    }
    fclose(f);
    *out = sc;
    return n;
}

/* Bullets: barrels x bullets x lands land scans at 100 rows (6.25 um), keyed by land class. */
static int make_synth_lands(double difficulty, int barrels, int bullets, uint64_t seed, scan **out)
{
    ibex_synth_opts o;
    ibex_synth_opts_init(&o);
    o.difficulty = difficulty;
    o.size = 100;
    o.family_seed = ibex_synth_seed_derive(seed, 0xFB);
    scan *sc = calloc((size_t)(barrels * bullets * 6), sizeof *sc);
    int n = 0;
    for (int b = 0; b < barrels; b++) {
        ibex_synth_barrel *br;
        if (ibex_synth_barrel_create(ibex_synth_seed_derive(seed, (uint64_t)b), &o, &br, NULL)) continue;
        for (int u = 0; u < bullets; u++)
            for (int l = 0; l < 6; l++) {
                ibex_synth_truth t;
                if (ibex_synth_land_run(br, (uint64_t)u, l, &sc[n].s, &t, NULL)) continue;
                snprintf(sc[n].key, sizeof sc[n].key, "B%02d-L%d", b + 1, t.land_class + 1);
                n++;
            }
        ibex_synth_barrel_free(br);
    }
    *out = sc;
    return n;
}

static int make_synth(double difficulty, int firearms, int per, uint64_t seed, scan **out)
{
    ibex_synth_opts o;
    ibex_synth_opts_init(&o);
    o.difficulty = difficulty;
    o.family_seed = ibex_synth_seed_derive(seed, 0xFA);
    scan *sc = calloc((size_t)(firearms * per), sizeof *sc);
    int n = 0;
    for (int f = 0; f < firearms; f++) {
        ibex_synth_firearm *fa;
        if (ibex_synth_firearm_create(ibex_synth_seed_derive(seed, (uint64_t)f), &o, &fa, NULL))
            continue;
        for (int k = 0; k < per; k++) {
            if (ibex_synth_cartridge_run(fa, ibex_synth_seed_derive(seed + 1, (uint64_t)(f * 1000 + k)),
                                         &sc[n].s, NULL, NULL))
                continue;
            snprintf(sc[n].key, sizeof sc[n].key, "F%02d", f + 1);
            n++;
        }
        ibex_synth_firearm_free(fa);
    }
    *out = sc;
    return n;
}

/* Histograms: one panel per set, KM in orange and KNM in blue, scores -0.2..1. */
static int write_png(const char *path, const dist *d, int nd)
{
    const int pw = 300, ph = 160, bins = 48, W = pw * nd, H = ph;
    unsigned char *img = malloc((size_t)W * H * 3);
    memset(img, 255, (size_t)W * H * 3);
    for (int p = 0; p < nd; p++) {
        int hk[48] = {0}, hn[48] = {0}, mk = 1;
        for (int s = 0; s < 2; s++) {
            const double *v = s ? d[p].knm : d[p].km;
            int n = s ? d[p].nknm : d[p].nkm, *h = s ? hn : hk;
            for (int i = 0; i < n; i++) {
                int b = (int)floor((v[i] + 0.2) / 1.2 * bins);
                b = b < 0 ? 0 : b >= bins ? bins - 1 : b;
                h[b]++;
            }
        }
        /* each distribution scaled to its own peak so both are visible */
        int pk = 1, pn = 1;
        for (int b = 0; b < bins; b++) {
            if (hk[b] > pk) pk = hk[b];
            if (hn[b] > pn) pn = hn[b];
        }
        (void)mk;
        for (int b = 0; b < bins; b++)
            for (int s = 0; s < 2; s++) {
                int hgt = (int)((ph - 20) * (double)(s ? hn[b] : hk[b]) / (s ? pn : pk));
                int x0 = p * pw + 6 + b * (pw - 12) / bins, x1 = p * pw + 6 + (b + 1) * (pw - 12) / bins;
                for (int y = ph - 10 - hgt; y < ph - 10; y++)
                    for (int x = x0 + (s ? 1 : 0); x < x1 - (s ? 0 : 1); x += 2) {
                        unsigned char *px = img + ((size_t)y * W + x) * 3;
                        px[0] = s ? 40 : 230;
                        px[1] = s ? 90 : 120;
                        px[2] = s ? 200 : 20;
                    }
            }
        for (int y = 0; y < ph; y++) { /* panel separator */
            unsigned char *px = img + ((size_t)y * W + p * pw) * 3;
            px[0] = px[1] = px[2] = 0;
        }
        for (int x = p * pw; x < (p + 1) * pw; x++) { /* axis */
            unsigned char *px = img + ((size_t)(ph - 10) * W + x) * 3;
            px[0] = px[1] = px[2] = 0;
        }
        for (int t = 0; t <= 12; t++) { /* ticks every 0.1 from -0.2; long at 0, 0.5, 1 */
            int x = p * pw + 6 + (int)((double)t / 12 * (pw - 12));
            int len = (t == 2 || t == 7 || t == 12) ? 9 : 4;
            for (int y = ph - 10; y < ph - 10 + len && y < ph; y++) {
                unsigned char *px = img + ((size_t)y * W + x) * 3;
                px[0] = px[1] = px[2] = 0;
            }
        }
    }
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = (png_uint_32)W;
    im.height = (png_uint_32)H;
    im.format = PNG_FORMAT_RGB;
    int ok = png_image_write_to_file(&im, path, 0, img, W * 3, NULL);
    free(img);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *data = getenv("IBEX_DATA_DEFAULT"), *png = NULL;
    double diffs[8];
    int nd = 0, max_knm = 150, quick = 0, bullets = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--data") && i + 1 < argc) data = argv[++i];
        else if (!strcmp(argv[i], "--difficulty") && i + 1 < argc && nd < 8) diffs[nd++] = atof(argv[++i]);
        else if (!strcmp(argv[i], "--knm") && i + 1 < argc) max_knm = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--png") && i + 1 < argc) png = argv[++i];
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--bullets")) bullets = 1;
        else {
            fprintf(stderr, "usage: bench_synth_calib [--data DIR] [--difficulty D]... [--knm N] "
                            "[--png FILE] [--bullets] [--quick]\n");
            return 2;
        }
    }
    if (!data) data = getenv("IBEX_DATA");
    if (nd == 0) {
        diffs[nd++] = 0.5;
        if (!quick) {
            diffs[nd++] = 0.25;
            diffs[nd++] = 0.75;
        }
    }
    if (quick) max_knm = 12;
    dist d[16];
    int n = 0;
    scan *real = NULL;
    int nreal = data && !quick ? load_real(data, "cartridge", "fadul", &real) : -1;
    if (nreal > 0) {
        snprintf(d[n].name, sizeof d[n].name, "fadul (real)");
        score_set(real, nreal, max_knm, SYNTH_SCORE_CARTRIDGE, &d[n]);
        n++;
        for (int i = 0; i < nreal; i++) ibex_surface_free(real[i].s);
    } else if (!quick) {
        fprintf(stderr, "bench_synth_calib: no Fadul data (%s); synthetic only\n",
                data ? data : "IBEX_DATA_DEFAULT unset");
    }
    free(real);
    for (int k = 0; k < nd; k++) {
        scan *sc;
        int ns = make_synth(diffs[k], quick ? 3 : 10, quick ? 2 : 4, 20261123, &sc);
        snprintf(d[n].name, sizeof d[n].name, "synth d=%.2f", diffs[k]);
        score_set(sc, ns, max_knm, SYNTH_SCORE_CARTRIDGE, &d[n]);
        n++;
        for (int i = 0; i < ns; i++) ibex_surface_free(sc[i].s);
        free(sc);
    }
    /* Bullets: Hamby 44 (barrel 1 and the unknowns) against synthetic lands, default
     * difficulty; KNM pairs include different lands of one barrel, as in Hamby 44. */
    if (bullets && n < 14) {
        scan *hb = NULL;
        int nh = data ? load_real(data, "bullet", "hamby44", &hb) : -1;
        if (nh > 0) {
            snprintf(d[n].name, sizeof d[n].name, "hamby44 (real)");
            score_set(hb, nh, 100000, SYNTH_SCORE_BULLET, &d[n]);
            n++;
            for (int i = 0; i < nh; i++) ibex_surface_free(hb[i].s);
        }
        free(hb);
        scan *sl;
        int nl = make_synth_lands(0.5, 3, 2, 20261123, &sl);
        snprintf(d[n].name, sizeof d[n].name, "synth lands d=0.50");
        score_set(sl, nl, 100000, SYNTH_SCORE_BULLET, &d[n]);
        n++;
        for (int i = 0; i < nl; i++) ibex_surface_free(sl[i].s);
        free(sl);
    }
    printf("%-18s %5s %5s  %-21s  %-21s  %6s %6s\n", "set", "n_km", "n_knm", "KM mean (sd)",
           "KNM mean (sd)", "d'", "AUC");
    for (int i = 0; i < n; i++) {
        double mk = mean_of(d[i].km, d[i].nkm), sk = sd_of(d[i].km, d[i].nkm);
        double mn = mean_of(d[i].knm, d[i].nknm), sn = sd_of(d[i].knm, d[i].nknm);
        double dp = (mk - mn) / sqrt(0.5 * (sk * sk + sn * sn)), auc = auc_of(&d[i]);
        qsort(d[i].km, (size_t)d[i].nkm, sizeof(double), cmp_d);
        qsort(d[i].knm, (size_t)d[i].nknm, sizeof(double), cmp_d);
        printf("%-18s %5d %5d  %6.3f (%5.3f)        %6.3f (%5.3f)        %6.2f %6.3f\n", d[i].name,
               d[i].nkm, d[i].nknm, mk, sk, mn, sn, dp, auc);
        fprintf(stderr, "{\"bench\":\"synth_calib\",\"set\":\"%s\",\"score\":\"stand-in NCC\","
                        "\"n_km\":%d,\"n_knm\":%d,\"km_mean\":%.4f,\"km_sd\":%.4f,\"knm_mean\":%.4f,"
                        "\"knm_sd\":%.4f,\"d_prime\":%.3f,\"auc\":%.4f}\n",
                d[i].name, d[i].nkm, d[i].nknm, mk, sk, mn, sn, dp, auc);
    }
    if (png) {
        if (write_png(png, d, n)) fprintf(stderr, "bench_synth_calib: cannot write %s\n", png);
        else {
            printf("%s: histograms of scores -0.2..1 (long ticks at 0, 0.5, 1), KM orange, KNM "
                   "blue, each scaled to its peak; panels left to right:", png);
            for (int i = 0; i < n; i++) printf("%s %s", i ? "," : "", d[i].name);
            printf("\n");
        }
    }
    for (int i = 0; i < n; i++) {
        free(d[i].km);
        free(d[i].knm);
    }
    return 0;
}
