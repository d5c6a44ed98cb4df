/* Cartridge-case CMC benchmark on the Fadul set: all pairs of the casings listed in
 * MANIFEST.tsv (set "fadul"), truth from same_source_key. Prints JSON lines:
 *   {"bench":"cmc_pair",...}   one per pair with --pairs
 *   {"bench":"cmc_preprocess",...}, {"bench":"cmc_fftw",...}, {"bench":"cmc_summary",...}
 * Usage: bench_cmc DATA_DIR [--limit N] [--threads T] [--pairs] [--check-threads]
 *        [--scalar] [--measure|--estimate] [--region F] [--spacing UM] [--only A,B] [--from I] [--to J]
 *        [--exhaustive] [--coarse-to-fine] [--verify] [--factor D] [--keep K]
 *        bench_cmc --raw N   preprocessing time of a raw synthetic N x N casing scan
 * Pairs run in a fixed order: the known matches, then the non-matches shuffled (fixed seed).
 * --from/--to run indices [I, J) of that order, --part K/M every M-th pair from K (to split
 * the 780 pairs over processes; merge the cmc_pair lines with bench/cmc_merge.py).
 * --check-threads reruns every pair on 1 thread and reports any difference in counts.
 * --exhaustive (the default): the plain FFT search of every lag, the method. --coarse-to-fine:
 * the experimental search of ibex_cmc_opts (--factor, --keep tune it). --verify runs every
 * pair both ways and prints a cmc_verify line per pair (counts equal? cells and (cell,
 * rotation) searches differing). */
#include <fftw3.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench_usage.h"
#include "ibex/compare.h"
#include "ibex/experimental.h"
#include "ibex/fft.h"
#include "ibex/io.h"
#include "ibex/synth.h"

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct scan {
    char path[1024], name[128], key[64];
    ibex_surface *s;
} scan;

static int load_manifest(const char *dir, scan **out, size_t *n)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/MANIFEST.tsv", dir);
    FILE *f = fopen(p, "r");
    if (!f) return -1;
    char line[8192];
    size_t cap = 64, k = 0;
    scan *v = calloc(cap, sizeof *v);
    while (fgets(line, sizeof line, f)) {
        char *col[16] = {0};
        int c = 0;
        for (char *s = line, *t; c < 16 && (t = strsep(&s, "\t\n")); ) col[c++] = t;
        if (c < 13 || strcmp(col[2], "fadul") != 0) continue;
        if (k == cap) v = realloc(v, (cap *= 2) * sizeof *v);
        memset(&v[k], 0, sizeof v[k]);
        snprintf(v[k].path, sizeof v[k].path, "%s/%s", dir, col[0]);
        snprintf(v[k].name, sizeof v[k].name, "%s", col[4]);
        snprintf(v[k].key, sizeof v[k].key, "%s", col[12]);
        k++;
    }
    fclose(f);
    *out = v;
    *n = k;
    return 0;
}

/* AUC by the Mann-Whitney statistic (ties count one half). */
static double auc(const double *x, const int *truth, size_t n)
{
    double s = 0, np = 0, nn = 0;
    for (size_t i = 0; i < n; i++) {
        if (!truth[i]) continue;
        np++;
        for (size_t j = 0; j < n; j++) {
            if (truth[j]) continue;
            s += x[i] > x[j] ? 1 : x[i] == x[j] ? 0.5 : 0;
        }
    }
    for (size_t j = 0; j < n; j++) nn += !truth[j];
    return np && nn ? s / (np * nn) : NAN;
}

/* A JSON number, or null when undefined (no pairs of one kind). */
static const char *num(double v, char *buf)
{
    if (isnan(v)) return "null";
    snprintf(buf, 32, "%.4f", v);
    return buf;
}

static void histogram(const char *name, const double *x, const int *truth, size_t n, int want)
{
    int h[65] = {0};
    for (size_t i = 0; i < n; i++)
        if (truth[i] == want) {
            int b = (int)x[i];
            h[b < 0 ? 0 : b > 64 ? 64 : b]++;
        }
    printf("\"%s\":{", name);
    int first = 1;
    for (int b = 0; b <= 64; b++)
        if (h[b]) {
            printf("%s\"%d\":%d", first ? "" : ",", b, h[b]);
            first = 0;
        }
    printf("}");
}

/* FFTW's own speed for the transform shape the CMC stage used (3 r2c + 6 c2r batches). */
static double fftw_gflops(size_t nx, size_t ny, double *us_per)
{
    size_t nr = nx * ny, nc = ny * (nx / 2 + 1);
    float *r = fftwf_malloc(6 * nr * sizeof(float));
    fftwf_complex *c = fftwf_malloc(6 * nc * sizeof(fftwf_complex));
    int dims[2] = {(int)ny, (int)nx};
    fftwf_plan f = fftwf_plan_many_dft_r2c(2, dims, 3, r, NULL, 1, (int)nr, c, NULL, 1, (int)nc, FFTW_MEASURE);
    fftwf_plan b = fftwf_plan_many_dft_c2r(2, dims, 6, c, NULL, 1, (int)nc, r, NULL, 1, (int)nr, FFTW_MEASURE);
    for (size_t i = 0; i < 6 * nr; i++) r[i] = (float)(i % 13);
    fftwf_execute(f);
    int it = 0;
    double t0 = now(), t;
    do {
        fftwf_execute(f);
        memset(c, 0, 6 * nc * sizeof *c);
        fftwf_execute(b);
        it++;
    } while ((t = now() - t0) < 0.5);
    double per = t / (it * 9.0), n = (double)nr;
    *us_per = per * 1e6;
    fftwf_destroy_plan(f);
    fftwf_destroy_plan(b);
    fftwf_free(r);
    fftwf_free(c);
    return 2.5 * n * log2(n) / per * 1e-9;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Preprocessing of a raw scan: a synthetic casing of n x n points (the default 3.125 mm
 * field, so 2.6 um spacing at n = 1200) through the full pipeline (levelling, outliers,
 * breech-face region, resampling to 6.25 um, band-pass); median wall and CPU time of reps. */
static int bench_raw(size_t n, int reps)
{
    ibex_synth_opts so;
    ibex_synth_opts_init(&so);
    so.size = n;
    ibex_surface *raw;
    ibex_diag d;
    if (ibex_synth_cartridge(11, 1, &so, &raw, NULL, &d)) {
        fprintf(stderr, "bench_cmc: synth: %s\n", d.message);
        return 1;
    }
    ibex_preprocess_opts po;
    ibex_preprocess_opts_init(&po);
    po.mode = IBEX_PREPROCESS_FULL;
    double w[64], c[64];
    if (reps > 64) reps = 64;
    size_t onx = 0, ony = 0;
    for (int r = 0; r < reps; r++) {
        ibex_surface *out;
        double t0 = now(), c0 = cpu_now();
        if (ibex_preprocess(raw, &po, &out, NULL, &d)) {
            fprintf(stderr, "bench_cmc: preprocess: %s\n", d.message);
            return 1;
        }
        w[r] = now() - t0;
        c[r] = cpu_now() - c0;
        onx = out->nx;
        ony = out->ny;
        ibex_surface_free(out);
    }
    qsort(w, (size_t)reps, sizeof *w, cmp_dbl);
    qsort(c, (size_t)reps, sizeof *c, cmp_dbl);
    printf("{\"bench\":\"cmc_preprocess_raw\",\"nx\":%zu,\"ny\":%zu,\"spacing_um\":%.3f,"
           "\"out_nx\":%zu,\"out_ny\":%zu,\"reps\":%d,\"ms_median\":%.2f,\"ms_min\":%.2f,"
           "\"cpu_ms_median\":%.2f}\n",
           raw->nx, raw->ny, raw->dx * 1e6, onx, ony, reps, 1e3 * w[reps / 2], 1e3 * w[0],
           1e3 * c[reps / 2]);
    ibex_surface_free(raw);
    return 0;
}

static const char usage_text[] =
    "Usage: bench_cmc DATA_DIR [--limit N] [--threads T] [--pairs] [--check-threads]\n"
    "         [--scalar] [--measure|--estimate] [--region F] [--spacing UM] [--only A,B] [--from I] [--to J]\n"
    "         [--part K/M] [--exhaustive] [--coarse-to-fine] [--verify] [--factor D] [--keep K]\n"
    "       bench_cmc --raw N\n\n"
    "Cartridge-case CMC on the Fadul casings of DATA_DIR/MANIFEST.tsv: every pair, truth from\n"
    "same_source_key. JSON lines: cmc_pair (with --pairs), cmc_preprocess, cmc_fftw, cmc_summary\n"
    "(preprocessing time, pairs per second, AUC of the counts); 77 without data.\n\n"
    "  --limit N          the first N casings only\n"
    "  --threads T        threads of the CMC plan\n"
    "  --pairs            one cmc_pair line per pair\n"
    "  --check-threads    rerun every pair on 1 thread and report differing counts\n"
    "  --scalar           force the scalar kernels\n"
    "  --measure          FFTW_MEASURE plans in this process (default: PATIENT plans pinned\n"
    "                     by the wisdom file, ibex wisdom)\n"
    "  --estimate         FFTW_ESTIMATE plans (the plans before pinning)\n"
    "  --region F         registration region factor of the CMC options\n"
    "  --spacing UM       preprocessing spacing in micrometres\n"
    "  --only A,B         one pair, by casing index\n"
    "  --from I, --to J   pairs [I, J) of the fixed order (matches first, then shuffled non-matches)\n"
    "  --part K/M         every M-th pair from K (merge with bench/cmc_merge.py)\n"
    "  --exhaustive       plain FFT search of every lag (the default)\n"
    "  --coarse-to-fine   the experimental coarse-to-fine search (--factor D, --keep K tune it)\n"
    "  --verify           every pair both ways; a cmc_verify line per pair\n"
    "  --raw N            preprocessing time of a raw synthetic N x N casing scan\n"
    "  --help             this text\n";

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"limit", required_argument, 0, 'l'}, {"threads", required_argument, 0, 't'},
        {"pairs", no_argument, 0, 'p'}, {"check-threads", no_argument, 0, 'c'},
        {"scalar", no_argument, 0, 's'}, {"measure", no_argument, 0, 'm'},
        {"estimate", no_argument, 0, 'e'},
        {"region", required_argument, 0, 'r'}, {"spacing", required_argument, 0, 'S'},
        {"only", required_argument, 0, 'o'}, {"from", required_argument, 0, 'F'},
        {"to", required_argument, 0, 'T'}, {"part", required_argument, 0, 'P'},
        {"exhaustive", no_argument, 0, 'E'}, {"coarse-to-fine", no_argument, 0, 'C'}, {"verify", no_argument, 0, 'V'},
        {"raw", required_argument, 0, 'R'}, {"factor", required_argument, 0, 'D'}, {"keep", required_argument, 0, 'K'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    size_t limit = 0, from = 0, to = (size_t)-1, part_k = 0, part_m = 1;
    int pairs = 0, check = 0, verify = 0, opt;
    const char *only = NULL;
    ibex_cmc_opts co;
    ibex_cmc_opts_init(&co);
    ibex_cmc_experimental cx; /* --scalar, --coarse-to-fine and its knobs */
    ibex_cmc_experimental_init(&cx);
    co.experimental = &cx;
    ibex_preprocess_opts po;
    ibex_preprocess_opts_init(&po);
    while ((opt = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (opt) {
        case 'l': limit = strtoul(optarg, NULL, 10); break;
        case 't': co.threads = (unsigned)atoi(optarg); break;
        case 'p': pairs = 1; break;
        case 'c': check = 1; break;
        case 's': cx.force_scalar = 1; break;
        case 'm': co.fft_plans = IBEX_FFT_PLANS_MEASURE; break;
        case 'e': co.fft_plans = IBEX_FFT_PLANS_ESTIMATE; break;
        case 'r': co.region_factor = atof(optarg); break;
        case 'S': po.spacing = atof(optarg) * 1e-6; break;
        case 'o': only = optarg; break;
        case 'E': cx.coarse_to_fine = 0; break;
        case 'C': cx.coarse_to_fine = 1; break;
        case 'V': verify = cx.coarse_to_fine = 1; break;
        case 'R': return bench_raw(strtoul(optarg, NULL, 10), 15);
        case 'D': cx.coarse_factor = (unsigned)atoi(optarg); break;
        case 'K': cx.coarse_keep = (unsigned)atoi(optarg); break;
        case 'F': from = strtoul(optarg, NULL, 10); break;
        case 'T': to = strtoul(optarg, NULL, 10); break;
        case 'P':
            if (sscanf(optarg, "%zu/%zu", &part_k, &part_m) != 2 || part_m == 0 || part_k >= part_m) {
                fprintf(stderr, "bench_cmc: --part wants K/M with K < M\n");
                return 2;
            }
            break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: fputs(usage_text, stderr); return 2;
        }
    }
    ibex_fft_wisdom_open(NULL, NULL); /* pinned plans, as the ibex command uses */
    if (optind >= argc) {
        fputs(usage_text, stderr);
        return 2;
    }
    scan *sc;
    size_t ns;
    if (load_manifest(argv[optind], &sc, &ns) || ns == 0) {
        fprintf(stderr, "bench_cmc: no Fadul scans under %s\n", argv[optind]);
        return 77;
    }
    double tpre = 0, tpre_max = 0;
    for (size_t i = 0; i < ns; i++) {
        ibex_surface *raw;
        ibex_diag d;
        if (ibex_surface_read(sc[i].path, 0, &raw, &d)) {
            char b[1200];
            fprintf(stderr, "bench_cmc: %s\n", ibex_diag_format(&d, IBEX_ERR_IO, b, sizeof b));
            return 1;
        }
        ibex_preprocess_info info;
        double t0 = now();
        if (ibex_preprocess(raw, &po, &sc[i].s, &info, &d)) return 1;
        double t = now() - t0;
        tpre += t;
        if (t > tpre_max) tpre_max = t;
        printf("{\"bench\":\"cmc_preprocess\",\"scan\":\"%s\",\"nx\":%zu,\"ny\":%zu,\"out_nx\":%zu,"
               "\"out_ny\":%zu,\"processed\":%d,\"valid\":%.3f,\"ms\":%.2f}\n",
               sc[i].name, raw->nx, raw->ny, sc[i].s->nx, sc[i].s->ny, info.already_processed,
               info.valid_fraction, t * 1e3);
        ibex_surface_free(raw);
    }
    ibex_cmc_plan *plan;
    if (ibex_cmc_plan_create(&co, &plan, NULL)) return 1;
    ibex_cmc_opts c1 = co;
    c1.threads = 1;
    ibex_cmc_plan *plan1 = NULL;
    if (check && ibex_cmc_plan_create(&c1, &plan1, NULL)) return 1;
    /* --verify: the same pair by the exhaustive search, compared count by count and cell by
     * cell; the fast plan also counts (cell, rotation) searches whose best lag differs */
    ibex_cmc_opts ce = co;
    ibex_cmc_experimental cxe = cx;
    cxe.coarse_to_fine = 0;
    ce.experimental = &cxe;
    ibex_cmc_plan *plane = NULL;
    if (verify) {
        cx.verify_search = 1;
        ibex_cmc_plan_free(plan);
        if (ibex_cmc_plan_create(&co, &plan, NULL) || ibex_cmc_plan_create(&ce, &plane, NULL))
            return 1;
    }
    size_t vdiff = 0, vcell = 0, vsearch = 0, nsearch = 0, nfall = 0;
    unsigned long long nlags = 0;
    double t_fine = 0;
    size_t np = ns * (ns - 1) / 2;
    double *cmc = calloc(np, sizeof *cmc), *high = calloc(np, sizeof *high),
           *score = calloc(np, sizeof *score);
    int *truth = calloc(np, sizeof *truth);
    size_t k = 0, mism = 0, fftnx = 0, fftny = 0, bytes = 0;
    /* Pair order: known matches first, then the non-matches in a fixed shuffled order, so a
     * run cut short (or split with --part) still covers every match and an unbiased sample of
     * non-matches. */
    size_t *ord = malloc(np * 2 * sizeof *ord), no = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < ns; i++)
            for (size_t j = i + 1; j < ns; j++)
                if ((strcmp(sc[i].key, sc[j].key) == 0) == (pass == 0)) {
                    ord[2 * no] = i;
                    ord[2 * no + 1] = j;
                    no++;
                }
    size_t nmatch = 0;
    for (size_t q = 0; q < no; q++) nmatch += !strcmp(sc[ord[2 * q]].key, sc[ord[2 * q + 1]].key);
    uint64_t rs = 0x9E3779B97F4A7C15ULL;
    for (size_t q = no - 1; q > nmatch; q--) { /* Fisher-Yates over the non-matches */
        rs ^= rs << 13;
        rs ^= rs >> 7;
        rs ^= rs << 17;
        size_t t = nmatch + (size_t)(rs % (uint64_t)(q - nmatch + 1));
        size_t a0 = ord[2 * q], a1 = ord[2 * q + 1];
        ord[2 * q] = ord[2 * t];
        ord[2 * q + 1] = ord[2 * t + 1];
        ord[2 * t] = a0;
        ord[2 * t + 1] = a1;
    }
    double t_cpu = 0, t_all = 0, t_rot = 0, t_fft = 0, t_ncc = 0, t_dec = 0, flops = 0;
    for (size_t q = 0; q < no; q++) {
        {
            size_t i = ord[2 * q], j = ord[2 * q + 1];
            if (limit && k >= limit) goto done;
            if (q < from || q >= to || q % part_m != part_k) continue;
            if (only) {
                char want[300];
                snprintf(want, sizeof want, "%s,%s", sc[i].name, sc[j].name);
                if (strcmp(want, only)) continue;
            }
            ibex_cmc_result *r;
            ibex_diag d;
            double t0 = now(), c0 = cpu_now();
            if (ibex_cmc_plan_run(plan, sc[i].s, sc[j].s, &r, &d)) {
                fprintf(stderr, "bench_cmc: %s vs %s: %s\n", sc[i].name, sc[j].name, d.message);
                return 1;
            }
            t_all += now() - t0;
            double cpu = cpu_now() - c0;
            t_cpu += cpu;
            t_rot += r->t_rotate;
            t_fft += r->t_fft;
            t_ncc += r->t_ncc;
            t_dec += r->t_decision;
            flops += r->fft_flops;
            fftnx = r->fft_nx;
            fftny = r->fft_ny;
            if (r->bytes_peak > bytes) bytes = r->bytes_peak;
            cmc[k] = r->cmc;
            high[k] = r->cmc_high;
            score[k] = r->score;
            truth[k] = strcmp(sc[i].key, sc[j].key) == 0;
            if (pairs)
                printf("{\"bench\":\"cmc_pair\",\"a\":\"%s\",\"b\":\"%s\",\"match\":%d,\"cmc\":[%u,%u],"
                       "\"cmc_high\":[%u,%u],\"score\":%.7f,\"theta\":%.1f,\"dx\":%.1f,\"dy\":%.1f,"
                       "\"full_ccf\":%.3f,\"verdict\":\"%s\",\"ms\":%.1f,\"cpu_ms\":%.1f}\n",
                       sc[i].name, sc[j].name, truth[k], r->dir[0].cmc, r->dir[1].cmc,
                       r->dir[0].cmc_high, r->dir[1].cmc_high, r->score, r->theta, r->dx, r->dy,
                       r->full_ccf, ibex_verdict_name(r->verdict), r->t_total * 1e3, cpu * 1e3);
            nsearch += r->searches;
            nfall += r->fallbacks;
            nlags += r->lags_direct;
            t_fine += r->t_fine;
            vsearch += r->search_mismatches;
            if (verify) {
                ibex_cmc_result *re;
                if (ibex_cmc_plan_run(plane, sc[i].s, sc[j].s, &re, &d)) return 1;
                int same = re->dir[0].cmc == r->dir[0].cmc && re->dir[1].cmc == r->dir[1].cmc &&
                           re->dir[0].cmc_high == r->dir[0].cmc_high &&
                           re->dir[1].cmc_high == r->dir[1].cmc_high;
                size_t cd = 0;
                for (size_t e = 0; e < r->n_cells; e++)
                    cd += re->cells[e].cmc != r->cells[e].cmc ||
                          re->cells[e].cmc_high != r->cells[e].cmc_high ||
                          re->cells[e].dx != r->cells[e].dx || re->cells[e].dy != r->cells[e].dy ||
                          re->cells[e].theta != r->cells[e].theta;
                vdiff += !same;
                vcell += cd;
                printf("{\"bench\":\"cmc_verify\",\"a\":\"%s\",\"b\":\"%s\",\"same_counts\":%d,"
                       "\"exhaustive_cmc\":[%u,%u],\"exhaustive_cmc_high\":[%u,%u],"
                       "\"cells_differing\":%zu,\"searches\":%zu,\"searches_differing\":%zu}\n",
                       sc[i].name, sc[j].name, same, re->dir[0].cmc, re->dir[1].cmc,
                       re->dir[0].cmc_high, re->dir[1].cmc_high, cd, r->searches,
                       r->search_mismatches);
                ibex_cmc_result_free(re);
            }
            if (check) {
                ibex_cmc_result *r1;
                if (ibex_cmc_plan_run(plan1, sc[i].s, sc[j].s, &r1, &d)) return 1;
                int same = r1->dir[0].cmc == r->dir[0].cmc && r1->dir[1].cmc == r->dir[1].cmc &&
                           r1->dir[0].cmc_high == r->dir[0].cmc_high &&
                           r1->dir[1].cmc_high == r->dir[1].cmc_high;
                for (size_t e = 0; e < r->n_cells; e++)
                    same &= r->cells[e].ccf == r1->cells[e].ccf && r->cells[e].dx == r1->cells[e].dx &&
                            r->cells[e].dy == r1->cells[e].dy;
                if (!same) {
                    mism++;
                    printf("{\"bench\":\"cmc_thread_mismatch\",\"a\":\"%s\",\"b\":\"%s\"}\n",
                           sc[i].name, sc[j].name);
                }
                ibex_cmc_result_free(r1);
            }
            ibex_cmc_result_free(r);
            k++;
            fflush(stdout);
        }
    }
done:;
    double us = 0;
    double gf = fftnx ? fftw_gflops(fftnx, fftny, &us) : 0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    char b1[32], b2[32], b3[32];
    size_t nm = 0, nn = 0, fp = 0, fn = 0, fph = 0, fnh = 0;
    for (size_t q = 0; q < k; q++) {
        if (truth[q]) nm++; else nn++;
        if (truth[q] && cmc[q] < co.id_threshold) fn++;
        if (!truth[q] && cmc[q] >= co.id_threshold) fp++;
        if (truth[q] && high[q] < co.id_threshold) fnh++;
        if (!truth[q] && high[q] >= co.id_threshold) fph++;
    }
    printf("{\"bench\":\"cmc_summary\",\"pairs\":%zu,\"matches\":%zu,\"nonmatches\":%zu,"
           "\"simd\":\"%s\",\"threads\":%u,\"auc_cmc\":%s,\"auc_cmc_high\":%s,\"auc_score\":%s,"
           "\"errors_cmc\":{\"fp\":%zu,\"fn\":%zu},\"errors_cmc_high\":{\"fp\":%zu,\"fn\":%zu},",
           k, nm, nn, ibex_cmc_plan_simd(plan), co.threads, num(auc(cmc, truth, k), b1),
           num(auc(high, truth, k), b2), num(auc(score, truth, k), b3), fp, fn, fph, fnh);
    histogram("cmc_matches", cmc, truth, k, 1);
    printf(",");
    histogram("cmc_nonmatches", cmc, truth, k, 0);
    printf(",");
    histogram("cmc_high_matches", high, truth, k, 1);
    printf(",");
    histogram("cmc_high_nonmatches", high, truth, k, 0);
    printf(",\"cpu_s_per_comparison\":%.3f,\"comparisons_per_s\":%.3f,\"ms_per_comparison\":%.1f,\"preprocess_ms_mean\":%.2f,"
           "\"preprocess_ms_max\":%.2f,\"stage_thread_s\":{\"rotate\":%.3f,\"fft\":%.3f,\"ncc_and_regions\":%.3f,"
           "\"decision\":%.4f},\"fft_size\":[%zu,%zu],\"fft_gflops\":%.2f,\"fftw_own_gflops\":%.2f,"
           "\"fftw_us_per_transform\":%.2f,\"comparison_bytes\":%zu,\"peak_rss_mib\":%.1f,"
           "\"thread_mismatches\":%zu,\"search\":\"%s\",\"searches\":%zu,\"fallbacks\":%zu,"
           "\"lags_direct_per_search\":%.1f,\"fine_thread_s\":%.3f,\"verify_pairs_differing\":%zu,"
           "\"verify_cells_differing\":%zu,\"verify_searches_differing\":%zu}\n",
           k ? t_cpu / k : 0, k ? k / t_all : 0, k ? 1e3 * t_all / k : 0, 1e3 * tpre / ns, 1e3 * tpre_max, t_rot, t_fft,
           t_ncc, t_dec, fftnx, fftny, t_fft > 0 ? flops / t_fft * 1e-9 : 0, gf, us, bytes,
           ru.ru_maxrss / 1024.0, mism, cx.coarse_to_fine ? "coarse-to-fine" : "exhaustive", nsearch,
           nfall, nsearch ? (double)nlags / (double)nsearch : 0.0, t_fine, vdiff, vcell, vsearch);
    ibex_cmc_plan_free(plan);
    ibex_cmc_plan_free(plan1);
    ibex_cmc_plan_free(plane);
    for (size_t i = 0; i < ns; i++) ibex_surface_free(sc[i].s);
    free(sc);
    free(cmc);
    free(high);
    free(score);
    free(truth);
    free(ord);
    return 0;
}
