/* Stage-1 scale benchmark: synthetic unit descriptors (random directions plus planted
 * near-duplicates) at N = 10^3 .. 10^6, d = 64 by default. Prints one JSON line per
 * measurement: index memory, build time, single-query time (median, min, max over
 * repeats), the share of it spent in top-K selection, SGEMM batch throughput, achieved
 * bandwidth / GFLOP/s, resident memory; then the descriptor and projection time per scan.
 *
 *   bench_index [--max N] [--dim d] [--reps R] [--batch B] [--top K] [--smoke]
 *               [--synth F] [--shots S] [--difficulty x] [--family] [--whiten]
 *
 * --synth F: stage-1 recall on F synthetic firearms x S casings each (ibex/synth.h generator):
 * every casing queries the library of all casings (PCA fitted on the library, the query
 * itself excluded from its list); recall of its S-1 mates within the top 10, 50 and 1%.
 * --family puts all firearms in one family (shared subclass marks: the hard case);
 * --whiten fits a whitened basis (IBEX_PCA_WHITEN).
 *
 * Timings are never asserted (the machine is shared and noisy). */
#include <cblas.h>
#include <getopt.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "ibex/ibex.h"
#include "ibex/index.h"
#include "ibex/synth.h"

static uint64_t rs = 12345;
static double urand(void)
{
    uint64_t z = (rs += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (z >> 11) * (1.0 / 9007199254740992.0) + 1e-300;
}
static double nrand(void) { return sqrt(-2 * log(urand())) * cos(2 * M_PI * urand()); }

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static double rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0; /* kB on Linux */
}

static void unit(float *x, size_t d)
{
    double ss = 0;
    for (size_t j = 0; j < d; j++) ss += (double)x[j] * x[j];
    for (size_t j = 0; j < d; j++) x[j] = (float)(x[j] / sqrt(ss));
}

static int dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static ibex_surface *texture(size_t n, double h)
{
    ibex_surface *s = NULL;
    if (ibex_surface_create(n, n, h, h, &s)) return NULL;
    double fx[30], fy[30], ph[30];
    for (int k = 0; k < 30; k++) {
        double lam = 50e-6 + 300e-6 * urand(), th = M_PI * urand();
        fx[k] = cos(th) / lam;
        fy[k] = sin(th) / lam;
        ph[k] = 2 * M_PI * urand();
    }
    for (size_t j = 0; j < n; j++)
        for (size_t i = 0; i < n; i++) {
            double x = (i - n / 2.0) * h, y = (j - n / 2.0) * h, r = hypot(x, y);
            if (r > 0.45 * n * h || r < 0.1 * n * h) continue;
            double z = 0;
            for (int k = 0; k < 30; k++) z += 1e-6 * cos(2 * M_PI * (fx[k] * x + fy[k] * y) + ph[k]);
            s->z[j * n + i] = (float)z;
            s->valid[j * n + i] = 1;
        }
    return s;
}

static int synth_recall(size_t F, size_t S, double difficulty, int family, size_t d, unsigned pflags)
{
    if (S < 2 || F * S < 3 || F * S > 100000) return 2;
    size_t n = F * S;
    ibex_descriptor *dp = NULL;
    ibex_descriptor_create(NULL, &dp, NULL);
    size_t p = ibex_descriptor_size(dp);
    float *raw = malloc(n * p * sizeof *raw), *y = malloc(n * d * sizeof *y);
    ibex_synth_opts so;
    ibex_synth_opts_init(&so);
    so.difficulty = difficulty;
    double tgen = 0, tdesc = 0;
    int bad = 0;
    for (size_t f = 0; f < F; f++) {
        if (!family) so.family_seed = 1000 + f;
        ibex_synth_firearm *fa = NULL;
        double a = now();
        if (ibex_synth_firearm_create(77 + f, &so, &fa, NULL)) return 1;
        tgen += now() - a;
        for (size_t k = 0; k < S; k++) {
            ibex_surface *s = NULL;
            a = now();
            if (ibex_synth_cartridge_run(fa, 5000 + k, &s, NULL, NULL)) return 1;
            double b = now();
            tgen += b - a;
            if (ibex_descriptor_run(dp, s, "synth", raw + (f * S + k) * p, NULL)) {
                bad++;
                memset(raw + (f * S + k) * p, 0, p * sizeof *raw);
            }
            tdesc += now() - b;
            ibex_surface_free(s);
        }
        ibex_synth_firearm_free(fa);
    }
    ibex_pca *pca = NULL;
    double a = now();
    if (ibex_pca_fit(raw, n, p, d < n - 1 ? d : n - 1, IBEX_PCA_FIT_MAX, pflags, &pca, NULL)) return 1;
    double tfit = now() - a;
    size_t dd = ibex_pca_dim_out(pca);
    ibex_pca_project(pca, raw, n, y);
    ibex_index *ix = NULL;
    ibex_index_create(dd, &ix);
    ibex_index_add(ix, y, n);
    size_t k1 = n / 100 > 50 ? n / 100 : 50, kmax = k1 + 1;
    if (kmax > n) kmax = n;
    ibex_hit *h = malloc(kmax * sizeof *h);
    size_t pairs = 0, r10 = 0, r50 = 0, r1p = 0, nh;
    for (size_t q = 0; q < n; q++) {
        ibex_index_query(ix, y + q * dd, kmax, h, &nh);
        size_t rank = 0;
        for (size_t i = 0; i < nh; i++) {
            if (h[i].row == q) continue; /* the query itself */
            rank++;
            if (h[i].row / S == q / S) {
                r10 += rank <= 10;
                r50 += rank <= 50;
                r1p += rank <= k1;
            }
        }
        pairs += S - 1;
    }
    printf("{\"bench\":\"index_synth_recall\",\"firearms\":%zu,\"shots\":%zu,\"difficulty\":%.2f,"
           "\"one_family\":%s,\"dim\":%zu,\"refused\":%d,\"recall_top10\":%.4f,\"recall_top50\":%.4f,"
           "\"shortlist\":%zu,\"recall_shortlist\":%.4f,\"synth_ms_per_scan\":%.1f,"
           "\"descriptor_ms_per_scan\":%.2f,\"pca_fit_s\":%.2f}\n",
           F, S, difficulty, family ? "true" : "false", dd, bad, (double)r10 / pairs, (double)r50 / pairs,
           k1, (double)r1p / pairs, tgen / n * 1e3, tdesc / n * 1e3, tfit);
    free(h);
    free(raw);
    free(y);
    ibex_index_free(ix);
    ibex_pca_free(pca);
    ibex_descriptor_free(dp);
    return 0;
}

int main(int argc, char **argv)
{
    size_t maxn = 1000000, d = 64, reps = 21, nb = 64, K = 50;
    int smoke = 0, family = 0, whiten = 0;
    size_t synth_f = 0, shots = 3;
    double difficulty = 0.5;
    static const struct option lo[] = {{"max", 1, 0, 'n'}, {"dim", 1, 0, 'd'}, {"reps", 1, 0, 'r'},
                                       {"batch", 1, 0, 'b'}, {"top", 1, 0, 'k'}, {"smoke", 0, 0, 's'},
                                       {"synth", 1, 0, 'f'}, {"shots", 1, 0, 'S'}, {"difficulty", 1, 0, 'D'},
                                       {"family", 0, 0, 'F'}, {"whiten", 0, 0, 'W'},
                                       {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    for (int c; (c = getopt_long(argc, argv, "h", lo, NULL)) != -1;) {
        switch (c) {
        case 'n': maxn = strtoull(optarg, NULL, 10); break;
        case 'd': d = strtoull(optarg, NULL, 10); break;
        case 'r': reps = strtoull(optarg, NULL, 10); break;
        case 'b': nb = strtoull(optarg, NULL, 10); break;
        case 'k': K = strtoull(optarg, NULL, 10); break;
        case 's': smoke = 1; break;
        case 'f': synth_f = strtoull(optarg, NULL, 10); break;
        case 'S': shots = strtoull(optarg, NULL, 10); break;
        case 'D': difficulty = atof(optarg); break;
        case 'F': family = 1; break;
        case 'W': whiten = 1; break;
        default:
            fputs("Usage: bench_index [--max N] [--dim d] [--reps R] [--batch B] [--top K] [--smoke]\n"
                  "                   [--synth F] [--shots S] [--difficulty x] [--family] [--whiten]\n\n"
                  "Stage-1 index scale on synthetic unit descriptors (random directions plus planted\n"
                  "near-duplicates) at N = 10^3 .. --max: index memory, build time, single-query time\n"
                  "(median, min, max), top-K selection share, SGEMM batch throughput, resident memory;\n"
                  "then descriptor and projection time per scan. One JSON line per measurement.\n\n"
                  "  --max N          largest library (default 10^6)\n"
                  "  --dim d          descriptor dimension (default 64)\n"
                  "  --reps R         query repeats (default 21)\n"
                  "  --batch B        queries per SGEMM batch (default 64)\n"
                  "  --top K          shortlist length (default 50)\n"
                  "  --smoke          at most 10^4, one repeat: a smoke test\n"
                  "  --synth F        stage-1 recall on F synthetic firearms instead (--shots S casings\n"
                  "                   each, --difficulty x, --family: one shared family, --whiten)\n"
                  "  --help           this text\n", c == 'h' ? stdout : stderr);
            return c == 'h' ? 0 : 2;
        }
    }
    if (smoke) {
        maxn = maxn < 10000 ? maxn : 10000;
        reps = 1;
        nb = 4;
    }
    if (!d || d > IBEX_INDEX_MAX_DIM || !reps || !nb || !K || !maxn) return 2;
    if (synth_f) return synth_recall(synth_f, shots, difficulty, family, d, whiten ? IBEX_PCA_WHITEN : 0);
    int T = omp_get_max_threads();
    printf("{\"bench\":\"index_env\",\"threads\":%d,\"dim\":%zu,\"top\":%zu,\"batch\":%zu,\"reps\":%zu}\n",
           T, d, K, nb, reps);
    float *q = malloc(nb * d * sizeof *q), *row = malloc(1024 * d * sizeof *row);
    float *sc = malloc(4096 * sizeof *sc);
    ibex_hit *hits = malloc(nb * K * sizeof *hits);
    double *t = malloc((reps > 16 ? reps : 16) * sizeof *t);
    for (size_t N = 1000; N <= maxn; N *= 10) {
        ibex_index *ix = NULL;
        ibex_index_create(d, &ix);
        /* Rows: random unit vectors; every 1000th row i also gets a planted near-duplicate
         * (unit(x_i + 0.05 noise)) at row i + 1; the batch queries are such planted pairs. */
        double t0 = now(), tgen = 0;
        ibex_index_reserve(ix, N);
        for (size_t i0 = 0; i0 < N; i0 += 1024) {
            size_t c = N - i0 < 1024 ? N - i0 : 1024;
            double g0 = now();
            for (size_t i = 0; i < c; i++) {
                float *x = row + i * d;
                if ((i0 + i) % 1000 == 1 && i > 0) {
                    for (size_t j = 0; j < d; j++) x[j] = x[j - d] + (float)(0.05 * nrand() / sqrt((double)d));
                } else {
                    for (size_t j = 0; j < d; j++) x[j] = (float)nrand();
                }
                unit(x, d);
            }
            tgen += now() - g0;
            ibex_index_add(ix, row, c);
        }
        double tbuild = now() - t0 - tgen;
        const float *X = ibex_index_get_rows(ix);
        size_t nq = nb < N / 1000 ? nb : N / 1000;
        if (!nq) nq = 1;
        for (size_t j = 0; j < nq; j++) { /* query = the source of planted pair j, perturbed */
            for (size_t e = 0; e < d; e++) q[j * d + e] = X[j * 1000 * d + e] + (float)(0.02 * nrand() / sqrt((double)d));
            unit(q + j * d, d);
        }
        for (size_t j = nq; j < nb; j++) memcpy(q + j * d, q, d * sizeof *q);
        size_t nh;
        /* single query: full stage 1 (SGEMV + top-K) */
        ibex_index_query(ix, q, K, hits, &nh); /* warm-up */
        for (size_t r = 0; r < reps; r++) {
            double a = now();
            ibex_index_query(ix, q + (r % nq) * d, K, hits, &nh);
            t[r] = now() - a;
        }
        int found = hits[0].row == ((reps - 1) % nq) * 1000 && hits[1].row == ((reps - 1) % nq) * 1000 + 1;
        qsort(t, reps, sizeof *t, dcmp);
        double med = t[reps / 2], tmin = t[0], tmax = t[reps - 1];
        /* the same blocked SGEMV without selection, to separate the selection cost */
        double *t2 = malloc(reps * sizeof *t2);
        for (size_t r = 0; r < reps; r++) {
            double a = now();
            /* the thread policy of index.c: a thread per 8 blocks of 4096 rows at most */
            int Tq = T < (int)((N + 4095) / 4096 / 8) ? T : (int)((N + 4095) / 4096 / 8);
            if (Tq < 1) Tq = 1;
#pragma omp parallel for schedule(static) num_threads(Tq)
            for (size_t b = 0; b < (N + 4095) / 4096; b++) {
                size_t r0 = b * 4096, c = N - r0 < 4096 ? N - r0 : 4096;
                float s[4096];
                omp_set_num_threads(1);
                cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)c, (int)d, 1.0f, X + r0 * d, (int)d, q, 1, 0.0f, s, 1);
                if (s[0] == 12345.0f) sc[0] = s[0]; /* keep the result alive */
            }
            t2[r] = now() - a;
        }
        qsort(t2, reps, sizeof *t2, dcmp);
        double gemv = t2[reps / 2];
        free(t2);
        /* The roofline of this operation measured now, on this data: one streaming read of
         * the rows (a vectorised sum, same threads), the least any stage 1 must do. */
        int Tq = T < (int)((N + 4095) / 4096 / 8) ? T : (int)((N + 4095) / 4096 / 8);
        if (Tq < 1) Tq = 1;
        for (size_t r = 0; r < reps; r++) {
            double a = now(), tot = 0;
#pragma omp parallel for schedule(static) num_threads(Tq) reduction(+ : tot)
            for (size_t b = 0; b < (N + 4095) / 4096; b++) {
                size_t r0 = b * 4096, c = N - r0 < 4096 ? N - r0 : 4096;
                const float *restrict x = X + r0 * d;
                float acc = 0;
#pragma omp simd reduction(+ : acc)
                for (size_t i = 0; i < c * d; i++) acc += x[i];
                tot += acc;
            }
            t[r] = now() - a;
            if (tot == 12345.0) printf(" ");
        }
        qsort(t, reps, sizeof *t, dcmp);
        double tread = t[reps / 2];
        double bytes = (double)N * d * 4, flops = 2.0 * N * d;
        printf("{\"bench\":\"index_query\",\"n\":%zu,\"dim\":%zu,\"index_mib\":%.1f,\"build_s\":%.4f,"
               "\"query_ms_median\":%.3f,\"query_ms_min\":%.3f,\"query_ms_max\":%.3f,"
               "\"sgemv_ms_median\":%.3f,\"select_ms\":%.3f,\"gb_per_s\":%.2f,\"gflop_per_s\":%.2f,"
               "\"read_gb_per_s\":%.2f,\"fraction_of_read\":%.2f,\"planted_top2\":%s,\"rss_mib\":%.0f}\n",
               N, d, ibex_index_memory(ix) / 1048576.0, tbuild, med * 1e3, tmin * 1e3, tmax * 1e3,
               gemv * 1e3, (med - gemv) * 1e3, bytes / med / 1e9, flops / med / 1e9,
               bytes / tread / 1e9, tread / med, found ? "true" : "false", rss_mib());
        /* batch: nb queries with SGEMM */
        ibex_index_query_batch(ix, q, nb, K, hits, &nh);
        size_t rb = reps < 5 ? reps : 5;
        for (size_t r = 0; r < rb; r++) {
            double a = now();
            ibex_index_query_batch(ix, q, nb, K, hits, &nh);
            t[r] = now() - a;
        }
        qsort(t, rb, sizeof *t, dcmp);
        med = t[rb / 2];
        int bfound = 1;
        for (size_t j = 0; j < nq; j++) bfound &= hits[j * K].row == j * 1000;
        printf("{\"bench\":\"index_batch\",\"n\":%zu,\"dim\":%zu,\"batch\":%zu,\"batch_ms_median\":%.3f,"
               "\"per_query_ms\":%.4f,\"queries_per_s\":%.1f,\"gflop_per_s\":%.2f,\"planted_top1\":%s,"
               "\"rss_mib\":%.0f}\n",
               N, d, nb, med * 1e3, med * 1e3 / nb, nb / med, 2.0 * N * d * nb / med / 1e9,
               bfound ? "true" : "false", rss_mib());
        fflush(stdout);
        ibex_index_free(ix);
    }
    /* descriptor and projection per scan (synthetic 560 x 560 scan at 6.25 um) */
    ibex_descriptor *dp = NULL;
    ibex_descriptor_create(NULL, &dp, NULL);
    size_t p = ibex_descriptor_size(dp);
    ibex_surface *s = texture(560, 6.25e-6);
    float *raw = malloc(16 * p * sizeof *raw), *y = malloc(16 * d * sizeof *y);
    size_t rd = smoke ? 1 : 15;
    for (size_t r = 0; r < rd; r++) {
        double a = now();
        ibex_descriptor_run(dp, s, "bench", raw + (r % 16) * p, NULL);
        t[r] = now() - a;
    }
    qsort(t, rd, sizeof *t, dcmp);
    double tdesc = t[rd / 2];
    for (size_t i = 1; i < 16; i++)
        for (size_t j = 0; j < p; j++) raw[i * p + j] = raw[j] + (float)(0.1 * nrand());
    ibex_pca *pca = NULL;
    double a = now();
    size_t dfit = d < 15 ? d : 15;
    ibex_pca_fit(raw, 16, p, dfit, 0, 0, &pca, NULL);
    double tfit = now() - a;
    a = now();
    for (int r = 0; r < 100; r++) ibex_pca_project(pca, raw, 1, y);
    double tproj = (now() - a) / 100;
    printf("{\"bench\":\"descriptor\",\"grid\":\"560x560 at 6.25 um\",\"raw_dim\":%zu,\"descriptor_ms_median\":%.3f,"
           "\"project_us\":%.1f,\"pca_fit_16_ms\":%.2f,\"threads\":%d}\n",
           p, tdesc * 1e3, tproj * 1e6, tfit * 1e3, T);
    ibex_pca_free(pca);
    ibex_surface_free(s);
    ibex_descriptor_free(dp);
    free(raw);
    free(y);
    free(q);
    free(row);
    free(sc);
    free(hits);
    free(t);
    return 0;
}
