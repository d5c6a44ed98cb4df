/* ibex bench scale: the reference library at 10^3 .. 10^6 synthetic casings (the scale
 * and speed targets). Per size: build the library with 'ibex synth --lib', index it with
 * 'ibex index', then query it with 'ibex query' (child processes of this binary, so their
 * wall time, CPU time and peak resident memory are measured by wait4) and time stage 1
 * in-process against the machine's measured streaming-read and SGEMM rooflines.
 * Recall: queries are new casings (shot 5) of library firearms whose 4 casings are in the
 * library; the fraction of those true mates in the stage-1 top 10, top 50 and default
 * shortlist (max(50, 1% of the library), what stage 2 re-scores) is the recall. The
 * stage-1 search is exact (every row scored), so against exhaustive cosine scoring its
 * recall is 1 by construction; exhaustive CMC re-scoring of 10^3..10^6 specimens is not run
 * (seconds per pair). Timings are medians with min and max; never asserted. */
#include <cblas.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <omp.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "cli.h"
#include "query.h"

extern char **environ;

#define SCALE_SEED 1
#define PER_FIREARM 4     /* library casings per firearm; queries are shot 5 */
#define TOPK 50

/* Result of one child run. */
typedef struct child_run {
    int status;       /* exit code, or -1 */
    double wall, cpu; /* seconds */
    long max_rss_kib;
} child_run;

/* Runs this ibex binary with args (NULL-terminated), stdout to out_path (or /dev/null). */
static int run_self(const char *out_path, child_run *cr, char *const *args)
{
    /* /proc/self/exe is this very binary even if its file was replaced meanwhile. */
    char exe[] = "/proc/self/exe", name[] = "ibex";
    char *argv[32];
    size_t n = 0;
    argv[n++] = name;
    for (size_t i = 0; args[i] && n < 31; i++) argv[n++] = args[i];
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    double t0 = cli_now();
    int e = posix_spawn(&pid, exe, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (e) return -1;
    int st = 0;
    struct rusage ru;
    if (wait4(pid, &st, 0, &ru) != pid) return -1;
    cr->wall = cli_now() - t0;
    cr->cpu = (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
              1e-6 * (double)ru.ru_stime.tv_usec;
    cr->max_rss_kib = ru.ru_maxrss;
    cr->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return cr->status == 0 ? 0 : -1;
}

/* JSON objects, one per line, of a query's --json output. */
static json_t *read_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    json_t *arr = json_array();
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *o = json_loads(line, 0, NULL);
        if (o) json_array_append_new(arr, o);
    }
    free(line);
    fclose(f);
    return arr;
}

static long long file_size(const char *p)
{
    struct stat s;
    return stat(p, &s) == 0 ? (long long)s.st_size : -1;
}

/* ---- in-process stage-1 timing against rooflines ---- */

static volatile float sink;

/* Seconds for one streaming pass summing n floats with t threads (the read roofline of
 * a scan over the same rows). */
static double stream_pass(const float *x, size_t n, int t)
{
    double t0 = cli_now();
    float total = 0;
    /* simd: lets the sum be reassociated into vector lanes, so the pass runs at memory
     * speed rather than at one dependent add per cycle. */
#pragma omp parallel for simd reduction(+ : total) num_threads(t) schedule(static)
    for (size_t i = 0; i < n; i++) total += x[i];
    sink = total;
    return cli_now() - t0;
}

/* GFLOP/s of a 1024^3 SGEMM with t threads (best of 3): the compute roofline. */
static double sgemm_peak(int t)
{
    const int n = 1024;
    float *a = malloc((size_t)n * n * sizeof *a), *b = malloc((size_t)n * n * sizeof *b),
          *c = malloc((size_t)n * n * sizeof *c);
    double best = 0;
    if (a && b && c) {
        for (size_t i = 0; i < (size_t)n * n; i++) a[i] = b[i] = (float)(i % 7) * 0.1f;
        omp_set_num_threads(t);
        for (int r = 0; r < 3; r++) {
            double t0 = cli_now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
            double g = 2.0 * n * n * n / (cli_now() - t0) / 1e9;
            if (g > best) best = g;
        }
    }
    free(a), free(b), free(c);
    return best;
}

/* Stage 1 on the library's index rows: one query (SGEMV + top-K) with 1 and 2 threads,
 * a batch of 64 (SGEMM), and the streaming read of the same bytes. */
static json_t *stage1_inprocess(const char *lib_path, size_t repeats, double gemm1, double gemm2)
{
    ibex_library *lib = NULL;
    ibex_diag d;
    size_t n = 0, dim = 0;
    if (ibex_library_open(lib_path, NULL, &lib, &d) != IBEX_OK) return NULL;
    ibex_status st = ibex_library_index_get_shape(lib, &n, &dim, &d);
    float *rows = st == IBEX_OK && n && dim ? malloc(n * dim * sizeof *rows) : NULL;
    if (rows) st = ibex_library_index_read(lib, 0, n, rows, &d);
    ibex_library_close(lib, NULL);
    ibex_index *ix = NULL;
    if (!rows || st != IBEX_OK || ibex_index_create(dim, &ix) != IBEX_OK || ibex_index_add(ix, rows, n) != IBEX_OK) {
        free(rows);
        ibex_index_free(ix);
        return NULL;
    }
    const size_t nb = 64;
    ibex_hit *hits = malloc(nb * TOPK * sizeof *hits);
    double *t1 = malloc(repeats * sizeof *t1), *t2 = malloc(repeats * sizeof *t2),
           *s1 = malloc(repeats * sizeof *s1), *s2 = malloc(repeats * sizeof *s2), *tb = malloc(repeats * sizeof *tb);
    json_t *o = NULL;
    if (hits && t1 && t2 && s1 && s2 && tb) {
        const float *rr = ibex_index_get_rows(ix);
        size_t nh, k = TOPK < n ? TOPK : n;
        for (size_t r = 0; r < repeats; r++) {
            const float *q = rr + ((r * 7919) % n) * dim; /* a library row as the query */
            omp_set_num_threads(1);
            double a = cli_now();
            ibex_index_query(ix, q, k, hits, &nh);
            t1[r] = cli_now() - a;
            omp_set_num_threads(2);
            a = cli_now();
            ibex_index_query(ix, q, k, hits, &nh);
            t2[r] = cli_now() - a;
            s1[r] = stream_pass(rr, n * dim, 1);
            s2[r] = stream_pass(rr, n * dim, 2);
            omp_set_num_threads(1);
            size_t qb = nb < n ? nb : n;
            a = cli_now();
            ibex_index_query_batch(ix, rr, qb, k, hits, &nh);
            tb[r] = (cli_now() - a) / (double)qb;
        }
        double bytes = (double)n * (double)dim * sizeof(float);
        double flops = 2.0 * (double)n * (double)dim;
        json_t *j1 = bench_spread(t1, repeats, "s"), *j2 = bench_spread(t2, repeats, "s");
        json_t *js1 = bench_spread(s1, repeats, "s"), *js2 = bench_spread(s2, repeats, "s"), *jb = bench_spread(tb, repeats, "s");
        double m1 = json_real_value(json_object_get(j1, "median")), m2 = json_real_value(json_object_get(j2, "median"));
        double ms1 = json_real_value(json_object_get(js1, "median")), ms2 = json_real_value(json_object_get(js2, "median"));
        double mb = json_real_value(json_object_get(jb, "median"));
        /* Which roofline bounds one query: its arithmetic intensity is 2 flops per 4-byte
         * float (0.5 flop/byte), far below SGEMM's ridge point, so the bytes bound it. */
        double bw1 = bytes / m1 / 1e9, bw2 = bytes / m2 / 1e9;
        o = json_pack("{s:I, s:I, s:f, s:I, s:o, s:o, s:o, s:o, s:f, s:f, s:f, s:f, s:s, s:f, s:f, s:f, s:o, s:f, s:f, s:f}",
                      "rows", (json_int_t)n, "dim", (json_int_t)dim, "index_mib", bytes / 1048576.0,
                      "index_memory_bytes", (json_int_t)ibex_index_memory(ix), "query_seconds_1_thread", j1,
                      "query_seconds_2_threads", j2, "stream_read_seconds_1_thread", js1,
                      "stream_read_seconds_2_threads", js2, "query_gb_per_s_1_thread", bw1,
                      "query_gb_per_s_2_threads", bw2, "fraction_of_stream_read_1_thread", ms1 / m1,
                      "fraction_of_stream_read_2_threads", ms2 / m2, "bound",
                      bytes > 32.0 * 1048576 ? "memory bandwidth (index larger than the 32 MiB L3)"
                                             : "cache bandwidth (index fits in L3)",
                      "query_gflops_1_thread", flops / m1 / 1e9, "sgemm_1024_gflops_1_thread", gemm1,
                      "sgemm_1024_gflops_2_threads", gemm2, "batch64_seconds_per_query_1_thread", jb,
                      "batch64_gflops_1_thread", flops / mb / 1e9, "batch64_fraction_of_sgemm_1_thread",
                      flops / mb / 1e9 / gemm1, "scaling_2_over_1_threads", m1 / m2);
    }
    free(hits), free(t1), free(t2), free(s1), free(s2), free(tb);
    ibex_index_free(ix);
    free(rows);
    return o;
}

/* ---- per size ---- */

typedef struct scale_ctx {
    const char *dir;
    size_t repeats, n_queries, stage2_pairs;
    char grid[16], tag[24]; /* --size for ibex synth; file-name tag ("" for the default grid) */
    char queries[16][4400]; /* query files: shot 5 of firearms 1..n_queries */
    double gemm1, gemm2;
    int verbose;
} scale_ctx;

/* Makes the query casings (same seed and size as the libraries: firearm i of the query
 * set is firearm i of every library). */
static int make_queries(scale_ctx *c)
{
    char out[4200], nf[16];
    snprintf(out, sizeof out, "%s/queries%s", c->dir, c->tag);
    snprintf(nf, sizeof nf, "%zu", c->n_queries);
    child_run cr;
    char *args[] = {"synth", "cartridge", "--firearms", nf, "--per-firearm", "5", "--size", c->grid, "--seed", "1",
                    "--out", out, "--no-sync", NULL};
    if (run_self(NULL, &cr, args)) return -1;
    for (size_t i = 0; i < c->n_queries; i++)
        snprintf(c->queries[i], sizeof c->queries[i], "%s/F%02zu/F%02zu-5.x3p", out, i + 1, i + 1);
    return 0;
}

/* Library firearm number of a candidate ("F000123" -> 123), 0 when unknown. */
static long firearm_no(json_t *cand)
{
    const char *f = json_string_value(json_object_get(cand, "firearm_id"));
    return f && f[0] == 'F' ? strtol(f + 1, NULL, 10) : 0;
}

static json_t *one_size(scale_ctx *c, size_t n)
{
    char lib[4200], side[4200], outp[4200], nf[32];
    snprintf(lib, sizeof lib, "%s/scale-%zu%s.h5", c->dir, n, c->tag);
    snprintf(side, sizeof side, "%s/scale-%zu%s.json", c->dir, n, c->tag);
    snprintf(outp, sizeof outp, "%s/query-%zu.out", c->dir, n);
    snprintf(nf, sizeof nf, "%zu", n / PER_FIREARM);
    /* Build and index, or reuse a complete library from an earlier run (its build figures
     * are in the side file). */
    json_t *build = json_load_file(side, 0, NULL);
    if (!build || file_size(lib) <= 0) {
        json_decref(build);
        unlink(lib);
        child_run b, ix;
        if (c->verbose) fprintf(stderr, "%s: bench scale: building %zu casings\n", cli_prog, n);
        char *a1[] = {"synth", "cartridge", "--firearms", nf, "--per-firearm", "4", "--size", c->grid, "--seed", "1",
                      "--lib", lib, "--no-sync", NULL};
        if (run_self(NULL, &b, a1)) {
            cli_error("%s: building the library failed", lib);
            return NULL;
        }
        if (c->verbose) fprintf(stderr, "%s: bench scale: indexing %zu casings\n", cli_prog, n);
        char *a2[] = {"index", lib, NULL};
        if (run_self(NULL, &ix, a2)) {
            cli_error("%s: indexing failed", lib);
            return NULL;
        }
        build = json_pack("{s:f, s:f, s:f, s:f, s:I, s:f, s:f, s:f, s:I}", "build_seconds", b.wall,
                          "build_cpu_seconds", b.cpu, "ingest_per_second", (double)n / b.wall,
                          "ingest_per_cpu_second", (double)n / b.cpu, "build_peak_rss_kib", (json_int_t)b.max_rss_kib,
                          "index_seconds", ix.wall, "index_cpu_seconds", ix.cpu, "index_per_second",
                          (double)n / ix.wall, "index_peak_rss_kib", (json_int_t)ix.max_rss_kib);
        json_object_set_new(build, "load_average_after", json_real(bench_load_average()));
        json_dump_file(build, side, JSON_INDENT(2));
    } else {
        json_object_set_new(build, "reused", json_true());
    }
    json_t *o = json_pack("{s:I, s:o}", "casings", (json_int_t)n, "build", build);
    json_object_set_new(o, "library_bytes", json_integer(file_size(lib)));
    json_object_set_new(o, "library_bytes_per_casing", json_real((double)file_size(lib) / (double)n));

    /* ibex query, one query file, stage 1 only, repeated: latency after open, peak RSS. */
    double *after = malloc(c->repeats * sizeof *after), *openv = malloc(c->repeats * sizeof *openv),
           *search = malloc(c->repeats * sizeof *search), *total = malloc(c->repeats * sizeof *total),
           *cpu = malloc(c->repeats * sizeof *cpu);
    long rss = 0;
    int ok = after && openv && search && total && cpu;
    for (size_t r = 0; ok && r < c->repeats; r++) {
        child_run q;
        char *a[] = {"query", "--json", "--stage1-only", "--top", "50", "--shortlist", "50", lib,
                     c->queries[r % c->n_queries], NULL};
        json_t *lines = NULL;
        ok = !run_self(outp, &q, a) && (lines = read_lines(outp)) && json_array_size(lines) == 1;
        json_t *tm = ok ? json_object_get(json_array_get(lines, 0), "timing") : NULL;
        ok = ok && tm;
        if (ok) {
            double op = json_real_value(json_object_get(tm, "open")), ld = json_real_value(json_object_get(tm, "load_index"));
            double de = json_real_value(json_object_get(tm, "descriptors")), se = json_real_value(json_object_get(tm, "search"));
            openv[r] = op + ld;
            after[r] = de + se;
            search[r] = se;
            total[r] = q.wall;
            cpu[r] = q.cpu;
            if (q.max_rss_kib > rss) rss = q.max_rss_kib;
        }
        json_decref(lines);
    }
    if (ok) {
        json_object_set_new(o, "query_open_and_load_seconds", bench_spread(openv, c->repeats, "s"));
        json_object_set_new(o, "query_after_open_seconds", bench_spread(after, c->repeats, "s"));
        json_object_set_new(o, "query_search_seconds", bench_spread(search, c->repeats, "s"));
        json_object_set_new(o, "query_process_seconds", bench_spread(total, c->repeats, "s"));
        /* On a shared machine wall time mostly waits for a core: CPU time is the work. */
        json_object_set_new(o, "query_process_cpu_seconds", bench_spread(cpu, c->repeats, "s"));
        json_object_set_new(o, "query_peak_rss_kib", json_integer(rss));
    }
    free(after), free(openv), free(search), free(total), free(cpu);
    if (!ok) {
        cli_error("%s: ibex query failed (output in %s)", lib, outp);
        json_decref(o);
        return NULL;
    }

    /* Recall: all queries in one batch (SGEMM); true mates in the top 10, the top 50 and the
     * default shortlist of ibex query, max(50, 1% of the library), which stage 2 re-scores. */
    {
        child_run q;
        size_t k = query_default_shortlist(n);
        char ks[32];
        snprintf(ks, sizeof ks, "%zu", k);
        char *a[24] = {"query", "--json", "--stage1-only", "--top", ks, "--shortlist", ks, lib};
        size_t na = 8;
        for (size_t i = 0; i < c->n_queries && na < 23; i++) a[na++] = c->queries[i];
        a[na] = NULL;
        json_t *lines = NULL;
        size_t mates = 0, in10 = 0, in50 = 0, ink = 0;
        if (!run_self(outp, &q, a) && (lines = read_lines(outp)) && json_array_size(lines) == c->n_queries) {
            for (size_t i = 0; i < c->n_queries; i++) {
                json_t *cands = json_object_get(json_array_get(lines, i), "candidates");
                long want = (long)i + 1;
                mates += PER_FIREARM;
                for (size_t h = 0; h < json_array_size(cands); h++)
                    if (firearm_no(json_array_get(cands, h)) == want) {
                        ink++;
                        in50 += h < TOPK;
                        in10 += h < 10;
                    }
            }
            json_t *rc = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:f}", "queries", (json_int_t)c->n_queries,
                                   "true_mates", (json_int_t)mates, "in_top_10", (json_int_t)in10, "in_top_50",
                                   (json_int_t)in50, "shortlist", (json_int_t)k, "in_shortlist", (json_int_t)ink,
                                   "recall_at_10", (double)in10 / (double)mates, "recall_at_50",
                                   (double)in50 / (double)mates, "recall_at_shortlist", (double)ink / (double)mates);
            json_object_set_new(rc, "batch_query_seconds", json_real(q.wall));
            json_object_set_new(o, "recall", rc);
        }
        json_decref(lines);
    }

    /* Stage 2 on a short list: CMC per pair (the cost does not depend on N). */
    if (c->stage2_pairs) {
        child_run q;
        char k[32];
        snprintf(k, sizeof k, "%zu", c->stage2_pairs);
        char *a[] = {"query", "--json", "--top", "50", "--shortlist", k, lib, c->queries[0], NULL};
        json_t *lines = NULL;
        if (!run_self(outp, &q, a) && (lines = read_lines(outp)) && json_array_size(lines) == 1) {
            json_t *tm = json_object_get(json_array_get(lines, 0), "timing");
            double s2 = json_real_value(json_object_get(tm, "stage2"));
            double per = s2 / (double)c->stage2_pairs;
            double after = json_real_value(json_object_get(tm, "descriptors")) +
                           json_real_value(json_object_get(tm, "search"));
            json_object_set_new(o, "stage2", json_pack("{s:I, s:f, s:f, s:f, s:I, s:s}", "pairs",
                                                        (json_int_t)c->stage2_pairs, "seconds", s2,
                                                        "seconds_per_pair_wall", per,
                                                        "projected_top50_after_open_seconds", after + TOPK * per,
                                                        "peak_rss_kib", (json_int_t)q.max_rss_kib, "what",
                                                        "ibex_preprocess of both sides + CMC per shortlisted pair, "
                                                        "pairs in parallel on all threads"));
        }
        json_decref(lines);
    }
    unlink(outp);

    json_t *s1 = stage1_inprocess(lib, c->repeats, c->gemm1, c->gemm2);
    if (s1) json_object_set_new(o, "stage1", s1);
    return o;
}

int bench_scale_collect(const size_t *sizes, size_t n_sizes, size_t grid, const char *dir, size_t repeats,
                        size_t n_queries, size_t stage2_pairs, int verbose, json_t **out)
{
    scale_ctx c;
    memset(&c, 0, sizeof c);
    c.dir = dir;
    snprintf(c.grid, sizeof c.grid, "%zu", grid);
    if (grid != BENCH_SCALE_GRID) snprintf(c.tag, sizeof c.tag, "-g%zu", grid);
    c.repeats = repeats ? repeats : 5;
    c.n_queries = n_queries ? (n_queries > 16 ? 16 : n_queries) : 8;
    c.stage2_pairs = stage2_pairs;
    c.verbose = verbose;
    if (cli_make_dirs(dir) != 0) {
        cli_error("%s: cannot create: %s", dir, strerror(errno));
        return -1;
    }
    /* Idle OpenMP threads sleep instead of spinning: on a shared machine spinning threads
     * burn the cores the working ones need (3x slower indexing at load 12). */
    setenv("OMP_WAIT_POLICY", "passive", 0);
    for (size_t i = 0; i < n_sizes; i++)
        if (sizes[i] / PER_FIREARM < c.n_queries) {
            cli_error("bench scale: %zu casings are fewer than the %zu query firearms need", sizes[i], c.n_queries);
            return -1;
        }
    if (make_queries(&c)) {
        cli_error("%s: cannot make the query casings", dir);
        return -1;
    }
    c.gemm1 = sgemm_peak(1);
    c.gemm2 = sgemm_peak(2);
    json_t *arr = json_array();
    for (size_t i = 0; i < n_sizes; i++) {
        json_t *r = one_size(&c, sizes[i]);
        if (!r) {
            json_decref(arr);
            return -1;
        }
        json_array_append_new(arr, r);
    }
    char what[200];
    snprintf(what, sizeof what, "synthetic casings (ibex synth, %zu x %zu points, difficulty 0.5), 4 per firearm; "
             "queries are shot 5 of the first firearms", grid, grid);
    *out = json_pack("{s:s, s:i, s:I, s:i, s:i, s:f, s:f, s:o}", "what", what,
                     "seed", SCALE_SEED, "grid", (json_int_t)grid, "top_k", TOPK, "cores",
                     (int)sysconf(_SC_NPROCESSORS_ONLN), "sgemm_1024_gflops_1_thread", c.gemm1,
                     "sgemm_1024_gflops_2_threads", c.gemm2, "sizes", arr);
    return 0;
}

/* ---- report: plot, table, command ---- */

static double med(json_t *o, const char *k)
{
    return json_real_value(json_object_get(json_object_get(o, k), "median"));
}
static double lo_(json_t *o, const char *k) { return json_real_value(json_object_get(json_object_get(o, k), "min")); }
static double hi_(json_t *o, const char *k) { return json_real_value(json_object_get(json_object_get(o, k), "max")); }

int bench_scale_plot(json_t *scale, const char *png)
{
    json_t *sz = json_object_get(scale, "sizes");
    size_t n = json_array_size(sz);
    if (!n || n > 16) return -1;
    double x[16], y[3][16], l[3][16], h[3][16], ymin = 1e9, ymax = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(sz, i), *s1 = json_object_get(r, "stage1");
        x[i] = (double)json_integer_value(json_object_get(r, "casings"));
        /* ms: stage-1 search with 1 and 2 threads (in-process), ibex query after open */
        y[0][i] = 1e3 * med(s1, "query_seconds_1_thread");
        l[0][i] = 1e3 * lo_(s1, "query_seconds_1_thread");
        h[0][i] = 1e3 * hi_(s1, "query_seconds_1_thread");
        y[1][i] = 1e3 * med(s1, "query_seconds_2_threads");
        l[1][i] = 1e3 * lo_(s1, "query_seconds_2_threads");
        h[1][i] = 1e3 * hi_(s1, "query_seconds_2_threads");
        y[2][i] = 1e3 * med(r, "query_after_open_seconds");
        l[2][i] = 1e3 * lo_(r, "query_after_open_seconds");
        h[2][i] = 1e3 * hi_(r, "query_after_open_seconds");
        for (int c = 0; c < 3; c++) {
            if (l[c][i] > 0 && l[c][i] < ymin) ymin = l[c][i];
            if (h[c][i] > ymax) ymax = h[c][i];
        }
    }
    if (!(ymax > 0) || !(ymin < ymax)) ymin = ymax > 0 ? ymax / 10 : 1e-3, ymax = ymax > 0 ? ymax : 1;
    bench_plot *fig = bench_plot_create_ex(800, 560, "Query latency against library size (synthetic casings)",
                                          "casings in the library", "milliseconds", x[0] / 2, x[n - 1] * 2, ymin / 2,
                                          ymax * 40, BENCH_PLOT_LOGX | BENCH_PLOT_LOGY); /* room for the legend */
    static const char *lab[3] = {"stage-1 search (SGEMV + top-50), 1 thread", "stage-1 search, 2 threads",
                                 "ibex query after open (descriptor + search)"};
    static const int col[3] = {0, 1, 3};
    for (int c = 0; c < 3 && fig; c++) {
        bench_plot_line(fig, x, y[c], n, col[c], 2, c == 1, lab[c]);
        bench_plot_errorbars(fig, x, l[c], h[c], n, col[c]);
        bench_plot_points(fig, x, y[c], n, col[c], NULL);
    }
    if (fig) bench_plot_legend(fig, 0);
    return fig ? bench_plot_write(fig, png) : -1;
}

void bench_scale_markdown(json_t *scale, FILE *f)
{
    json_t *sz = json_object_get(scale, "sizes");
    fprintf(f, "| casings | build /s (wall) | index /s (wall) | library on disk | index rows in memory | "
               "stage 1, 1 thread | 2 threads | of stream read (1 thread) | batch-64 SGEMM of peak | "
               "query after open | open + load | query process CPU | query peak RSS | mates in top 10 / 50 / shortlist (size) | stage 2 per pair |\n"
               "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < json_array_size(sz); i++) {
        json_t *r = json_array_get(sz, i), *b = json_object_get(r, "build"), *s1 = json_object_get(r, "stage1");
        json_t *rc = json_object_get(r, "recall"), *s2 = json_object_get(r, "stage2");
        char per_pair[32];
        snprintf(per_pair, sizeof per_pair, "%.2f s", json_real_value(json_object_get(s2, "seconds_per_pair_wall")));
        fprintf(f, "| %lld | %.0f | %.0f | %.1f MiB (%.1f KiB/casing) | %.1f MiB | %.3f ms [%.3f, %.3f] | %.3f ms | "
                   "%.2f | %.2f | %.1f ms [%.1f, %.1f] | %.2f s | %.2f s | %.0f MiB | %.2f / %.2f / %.2f (%lld) | %s |\n",
                (long long)json_integer_value(json_object_get(r, "casings")),
                json_real_value(json_object_get(b, "ingest_per_second")),
                json_real_value(json_object_get(b, "index_per_second")),
                (double)json_integer_value(json_object_get(r, "library_bytes")) / 1048576.0,
                json_real_value(json_object_get(r, "library_bytes_per_casing")) / 1024.0,
                (double)json_integer_value(json_object_get(s1, "index_memory_bytes")) / 1048576.0,
                1e3 * med(s1, "query_seconds_1_thread"), 1e3 * lo_(s1, "query_seconds_1_thread"),
                1e3 * hi_(s1, "query_seconds_1_thread"), 1e3 * med(s1, "query_seconds_2_threads"),
                json_real_value(json_object_get(s1, "fraction_of_stream_read_1_thread")),
                json_real_value(json_object_get(s1, "batch64_fraction_of_sgemm_1_thread")),
                1e3 * med(r, "query_after_open_seconds"), 1e3 * lo_(r, "query_after_open_seconds"),
                1e3 * hi_(r, "query_after_open_seconds"), med(r, "query_open_and_load_seconds"),
                med(r, "query_process_cpu_seconds"),
                (double)json_integer_value(json_object_get(r, "query_peak_rss_kib")) / 1024.0,
                json_real_value(json_object_get(rc, "recall_at_10")), json_real_value(json_object_get(rc, "recall_at_50")),
                json_real_value(json_object_get(rc, "recall_at_shortlist")),
                (long long)json_integer_value(json_object_get(rc, "shortlist")), s2 ? per_pair : "not run");
    }
    /* After the table: a paragraph inside it would split it. */
    int any = 0;
    for (size_t i = 0; i < json_array_size(sz); i++) {
        json_t *r = json_array_get(sz, i), *s2 = json_object_get(r, "stage2");
        if (!s2) continue;
        long long np = (long long)json_integer_value(json_object_get(s2, "pairs"));
        fprintf(f, "%s%lld casings %.1f s (%lld pair%s timed in %.1f s)", any++ ? "; " : "\nTop 50 with stage 2 "
                "(CMC of 50 shortlisted pairs on all threads, projected from the timed pairs), after open: ",
                (long long)json_integer_value(json_object_get(r, "casings")),
                json_real_value(json_object_get(s2, "projected_top50_after_open_seconds")), np, np == 1 ? "" : "s",
                json_real_value(json_object_get(s2, "seconds")));
    }
    if (any) fprintf(f, ".\n");
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

/* Removes a scratch folder this process made with mkdtemp (and only that). */
void bench_scale_remove_dir(const char *dir)
{
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

int bench_scale_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"sizes", required_argument, 0, 's'},  {"dir", required_argument, 0, 'd'},
        {"repeats", required_argument, 0, 'r'}, {"queries", required_argument, 0, 'q'},
        {"stage2-pairs", required_argument, 0, 'p'}, {"out", required_argument, 0, 'o'},
        {"quick", no_argument, 0, 'Q'},         {"json", no_argument, 0, 'j'},
        {"grid", required_argument, 0, 'g'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    size_t sizes[16], n_sizes = 0, repeats = 0, queries = 0, pairs = (size_t)-1, grid = BENCH_SCALE_GRID;
    const char *dir = NULL, *out = NULL;
    int quick = 0, json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *e;
        switch (c) {
        case 's': {
            n_sizes = 0;
            for (char *p = optarg; *p && n_sizes < 16;) {
                errno = 0;
                double v = strtod(p, &e);
                if (errno || e == p || !(v >= 64 && v <= 1e7) || (*e && *e != ','))
                    return cli_usage_error("--sizes: a comma-separated list of 64..1e7, not '%s'", optarg);
                sizes[n_sizes++] = (size_t)v / PER_FIREARM * PER_FIREARM;
                p = *e ? e + 1 : e;
            }
            break;
        }
        case 'r':
        case 'q':
        case 'p':
        case 'g': {
            errno = 0;
            long v = strtol(optarg, &e, 10);
            long lo = c == 'p' ? 0 : c == 'g' ? 32 : 1, hi = c == 'q' ? 16 : c == 'g' ? 1024 : 1000;
            if (errno || *e || v < lo || v > hi) return cli_usage_error("bad value '%s' (%ld..%ld)", optarg, lo, hi);
            if (c == 'r') repeats = (size_t)v;
            else if (c == 'q') queries = (size_t)v;
            else if (c == 'g') grid = (size_t)v;
            else pairs = (size_t)v;
            break;
        }
        case 'd': dir = optarg; break;
        case 'o': out = optarg; break;
        case 'Q': quick = 1; break;
        case 'j': json = 1; break;
        case 'h':
            printf("Usage: ibex bench scale [--sizes N,N,...] [--grid G] [--dir DIR] [--repeats R]\n"
                   "                        [--queries Q] [--stage2-pairs P] [--out DIR] [--quick] [--json]\n\n"
                   "Builds libraries of synthetic casings ('ibex synth --lib', G x G points, 4 per\n"
                   "firearm), indexes them and queries them. Per size: build and index rate, size on\n"
                   "disk and in memory, stage-1 time (1 and 2 threads) against the streaming-read and\n"
                   "SGEMM rooflines, ibex query latency after open, peak resident memory, recall of\n"
                   "the true mates in the stage-1 top 10, top 50 and default shortlist (max(50, 1%%)),\n"
                   "and stage 2 per pair. Timings: median, min, max of R.\n\n"
                   "  --sizes LIST     default 1000,10000,100000,1000000; --quick: 1000,4000\n"
                   "  --grid G         casing grid side, 32..1024 (default 64: about 49 um per point\n"
                   "                   over the 3.125 mm field; 256 gives 12 um, where CMC with\n"
                   "                   --prealign tells synthetic mates apart (docs/reference/synth.md), at\n"
                   "                   16x the disk and indexing time)\n"
                   "  --dir DIR        keep the libraries there and reuse them on the next run\n"
                   "                   (default: a temporary folder, removed at the end)\n"
                   "  --repeats R      default 7 (--quick 3)\n"
                   "  --queries Q      query casings for recall, 1..16 (default 8, --quick 4)\n"
                   "  --stage2-pairs P CMC pairs timed for stage 2 (default 4, --quick 0)\n"
                   "  --out DIR        write scale.json, scale.md and scale.png\n"
                   "  --json           print the JSON\n");
            return EXIT_OK;
        default: return cli_usage_error("unknown option");
        }
    }
    if (optind < argc) return cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (!n_sizes) {
        static const size_t full[4] = {1000, 10000, 100000, 1000000}, q[2] = {1000, 4000};
        n_sizes = quick ? 2 : 4;
        memcpy(sizes, quick ? q : full, n_sizes * sizeof *sizes);
    }
    if (!repeats) repeats = quick ? 3 : 7;
    if (!queries) queries = quick ? 4 : 8;
    if (pairs == (size_t)-1) pairs = quick ? 0 : 4;
    char tmpd[4200] = "";
    if (!dir) {
        const char *t = getenv("TMPDIR");
        snprintf(tmpd, sizeof tmpd, "%s/ibex-scale-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(tmpd)) {
            cli_error("%s: cannot create a scratch folder: %s", tmpd, strerror(errno));
            return EXIT_REFUSED;
        }
        dir = tmpd;
    }
    json_t *res = NULL;
    int rc = bench_scale_collect(sizes, n_sizes, grid, dir, repeats, queries, pairs, !json, &res) ? EXIT_REFUSED : EXIT_OK;
    if (tmpd[0]) bench_scale_remove_dir(tmpd);
    if (rc) return rc;
    char rev[96];
    bench_git_revision(rev, sizeof rev);
    json_object_set_new(res, "git_revision", json_string(rev));
    json_object_set_new(res, "load_average_1min_at_end", json_real(bench_load_average()));
    if (out) {
        if (cli_make_dirs(out) != 0) {
            cli_error("%s: cannot create the report folder: %s", out, strerror(errno));
            json_decref(res);
            return EXIT_REFUSED;
        }
        char p[4200];
        snprintf(p, sizeof p, "%s/scale.json", out);
        char *text = json_dumps(res, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (!text || bench_write_file(p, text)) rc = EXIT_REFUSED;
        free(text);
        snprintf(p, sizeof p, "%s/scale.png", out);
        if (!rc && ibex_bench_get_plots() && bench_scale_plot(res, p)) { /* only with plots */
            cli_error("%s: cannot draw the plot", p);
            rc = EXIT_REFUSED;
        }
        char *md = NULL;
        size_t ml = 0;
        FILE *f = open_memstream(&md, &ml);
        if (f) {
            fprintf(f, "# IBEX library scale\n\nibex %s, git %s. Synthetic casings, %zu x %zu points; "
                       "medians [min, max] over repeats.\n\n", IBEX_VERSION_STRING, rev, grid, grid);
            bench_scale_markdown(res, f);
            fprintf(f, "\n![query latency against library size](scale.png)\n");
            fclose(f);
            snprintf(p, sizeof p, "%s/scale.md", out);
            if (!rc && bench_write_file(p, md)) rc = EXIT_REFUSED;
        }
        free(md);
    }
    if (json) {
        char *text = json_dumps(res, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (text) puts(text);
        free(text);
    } else {
        bench_scale_markdown(res, stdout);
    }
    json_decref(res);
    return rc;
}
