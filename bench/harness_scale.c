/* ibex/bench.h scale (ibex bench scale): the reference library at 10^3 .. 10^6 synthetic
 * casings (the scale and speed targets). Per size: build the library with 'ibex synth
 * --lib', index it with 'ibex index', then query it with 'ibex query' (child processes of
 * the caller's ibex executable, so their wall time, CPU time and peak resident memory are
 * measured by wait4: the command end to end) and time stage 1 in process against the
 * machine's measured streaming-read and SGEMM rooflines (harness_scale_stage1.c).
 * Recall: queries are new casings (shot 5) of library firearms whose 4 casings are in the
 * library; the fraction of those true mates in the stage-1 top 10, top 50 and default
 * shortlist (max(50, 1% of the library), what stage 2 re-scores) is the recall. The
 * stage-1 search is exact (every row scored), so against exhaustive cosine scoring its
 * recall is 1 by construction; exhaustive CMC re-scoring of 10^3..10^6 specimens is not run
 * (seconds per pair). Timings are medians with min and max; never asserted. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_internal.h"
#include "ibex/search.h"

extern char **environ;

#define SCALE_SEED 1
#define PER_FIREARM 4     /* library casings per firearm; queries are shot 5 */
#define TOPK 50
#define MAX_SIZES 16
#define MAX_QUERIES 16

/* Result of one child run. */
typedef struct child_run {
    int status;       /* exit code, or -1 */
    double wall, cpu; /* seconds */
    long max_rss_kib;
} child_run;

typedef struct scale_ctx {
    const ibex_bench_scale_opts *o;
    const char *dir;
    char grid[16], tag[24]; /* --size for ibex synth; file-name tag ("" for the default grid) */
    char queries[MAX_QUERIES][4400]; /* query files: shot 5 of firearms 1..queries */
    double gemm1, gemm2;
    char **env;             /* the children's environment */
    bench_progress *pr;
    char stage[64];
} scale_ctx;

/* Reports a step; a new stage text starts a new stage. Nonzero: cancelled. */
static int step(scale_ctx *c, const char *what, size_t n, size_t done, size_t total)
{
    char s[64];
    snprintf(s, sizeof s, "%s %zu casings", what, n);
    if (strcmp(s, c->stage)) {
        memcpy(c->stage, s, sizeof s);
        if (c->pr) c->pr->last_stage = NULL; /* the same buffer holds the new text */
    }
    return bench_progress_report(c->pr, c->stage, done, total);
}

/* The caller's environment, with idle OpenMP threads of the children sleeping instead of
 * spinning unless it says otherwise: on a shared machine spinning threads burn the cores
 * the working ones need (3x slower indexing at load 12). */
static char **child_env(void)
{
    size_t n = 0;
    int has = 0;
    for (; environ && environ[n]; n++) has |= !strncmp(environ[n], "OMP_WAIT_POLICY=", 16);
    char **e = malloc((n + 2) * sizeof *e);
    if (!e) return NULL;
    for (size_t i = 0; i < n; i++) e[i] = environ[i];
    static char passive[] = "OMP_WAIT_POLICY=passive";
    if (!has) e[n++] = passive;
    e[n] = NULL;
    return e;
}

/* Runs the ibex program with args (NULL-terminated), stdout to out_path (or /dev/null). */
static int run_child(const scale_ctx *c, const char *out_path, child_run *cr, char *const *args)
{
    char name[] = "ibex";
    char *argv[32];
    size_t n = 0;
    argv[n++] = name;
    for (size_t i = 0; args[i] && n < 31; i++) argv[n++] = args[i];
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    double t0 = ibex__now();
    int e = posix_spawn(&pid, c->o->program, &fa, NULL, argv, c->env);
    posix_spawn_file_actions_destroy(&fa);
    if (e) return -1;
    int st = 0;
    struct rusage ru;
    if (wait4(pid, &st, 0, &ru) != pid) return -1;
    cr->wall = ibex__now() - t0;
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

/* Makes the query casings (same seed and size as the libraries: firearm i of the query
 * set is firearm i of every library). */
static int make_queries(scale_ctx *c)
{
    char out[4200], nf[16];
    snprintf(out, sizeof out, "%s/queries%s", c->dir, c->tag);
    snprintf(nf, sizeof nf, "%zu", c->o->queries);
    child_run cr;
    char *args[] = {"synth", "cartridge", "--firearms", nf, "--per-firearm", "5", "--size", c->grid, "--seed", "1",
                    "--out", out, "--no-sync", NULL};
    if (run_child(c, NULL, &cr, args)) return -1;
    for (size_t i = 0; i < c->o->queries; i++)
        snprintf(c->queries[i], sizeof c->queries[i], "%s/F%02zu/F%02zu-5.x3p", out, i + 1, i + 1);
    return 0;
}

/* Library firearm number of a candidate ("F000123" -> 123), 0 when unknown. */
static long firearm_no(json_t *cand)
{
    const char *f = json_string_value(json_object_get(cand, "firearm_id"));
    return f && f[0] == 'F' ? strtol(f + 1, NULL, 10) : 0;
}

/* Builds and indexes a library of n casings, or reuses a complete one from an earlier run
 * (its build figures are in the side file). *out: those figures. */
static ibex_status build_library(scale_ctx *c, size_t n, const char *lib, const char *side, json_t **out,
                                 ibex_diag *diag)
{
    json_t *build = json_load_file(side, 0, NULL);
    if (build && file_size(lib) > 0) {
        json_object_set_new(build, "reused", json_true());
        *out = build;
        return IBEX_OK;
    }
    json_decref(build);
    unlink(lib);
    char nf[32];
    snprintf(nf, sizeof nf, "%zu", n / PER_FIREARM);
    child_run b, ix;
    if (step(c, "building", n, 0, 1)) return ibex__fail(diag, IBEX_ERR_CANCELLED, "", -1, "cancelled");
    char *a1[] = {"synth", "cartridge", "--firearms", nf, "--per-firearm", "4", "--size", c->grid, "--seed", "1",
                  "--lib", (char *)lib, "--no-sync", NULL};
    if (run_child(c, NULL, &b, a1)) return ibex__fail(diag, IBEX_ERR_IO, lib, -1, "building the library failed");
    step(c, "building", n, 1, 1);
    if (step(c, "indexing", n, 0, 1)) return ibex__fail(diag, IBEX_ERR_CANCELLED, "", -1, "cancelled");
    char *a2[] = {"index", (char *)lib, NULL};
    if (run_child(c, NULL, &ix, a2)) return ibex__fail(diag, IBEX_ERR_IO, lib, -1, "indexing failed");
    step(c, "indexing", n, 1, 1);
    build = json_pack("{s:f, s:f, s:f, s:f, s:I, s:f, s:f, s:f, s:I}", "build_seconds", b.wall,
                      "build_cpu_seconds", b.cpu, "ingest_per_second", (double)n / b.wall,
                      "ingest_per_cpu_second", (double)n / b.cpu, "build_peak_rss_kib", (json_int_t)b.max_rss_kib,
                      "index_seconds", ix.wall, "index_cpu_seconds", ix.cpu, "index_per_second",
                      (double)n / ix.wall, "index_peak_rss_kib", (json_int_t)ix.max_rss_kib);
    json_object_set_new(build, "load_average_after", json_real(bench_load_average()));
    json_dump_file(build, side, JSON_INDENT(2));
    *out = build;
    return IBEX_OK;
}

/* ibex query, one query file, stage 1 only, repeated: latency after open, peak RSS, into o. */
static ibex_status query_latency(scale_ctx *c, size_t n, const char *lib, const char *outp, json_t *o,
                                 ibex_diag *diag)
{
    size_t reps = c->o->repeats;
    double *after = malloc(reps * sizeof *after), *openv = malloc(reps * sizeof *openv),
           *search = malloc(reps * sizeof *search), *total = malloc(reps * sizeof *total),
           *cpu = malloc(reps * sizeof *cpu);
    long rss = 0;
    int ok = after && openv && search && total && cpu, cancelled = 0;
    for (size_t r = 0; ok && r < reps; r++) {
        if ((cancelled = step(c, "querying", n, r, reps))) break;
        child_run q;
        char *a[] = {"query", "--json", "--stage1-only", "--top", "50", "--shortlist", "50", (char *)lib,
                     c->queries[r % c->o->queries], NULL};
        json_t *lines = NULL;
        ok = !run_child(c, outp, &q, a) && (lines = read_lines(outp)) && json_array_size(lines) == 1;
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
    if (ok && !cancelled) {
        step(c, "querying", n, reps, reps);
        json_object_set_new(o, "query_open_and_load_seconds", bench_spread(openv, reps, "s"));
        json_object_set_new(o, "query_after_open_seconds", bench_spread(after, reps, "s"));
        json_object_set_new(o, "query_search_seconds", bench_spread(search, reps, "s"));
        json_object_set_new(o, "query_process_seconds", bench_spread(total, reps, "s"));
        /* On a shared machine wall time mostly waits for a core: CPU time is the work. */
        json_object_set_new(o, "query_process_cpu_seconds", bench_spread(cpu, reps, "s"));
        json_object_set_new(o, "query_peak_rss_kib", json_integer(rss));
    }
    free(after), free(openv), free(search), free(total), free(cpu);
    if (cancelled) return ibex__fail(diag, IBEX_ERR_CANCELLED, "", -1, "cancelled");
    if (!ok) return ibex__fail(diag, IBEX_ERR_IO, lib, -1, "ibex query failed (output in %s)", outp);
    return IBEX_OK;
}

/* Recall: all queries in one batch (SGEMM); true mates in the top 10, the top 50 and the
 * default shortlist of ibex query, max(50, 1% of the library), which stage 2 re-scores.
 * Left out of o when the batch fails. */
static void recall(scale_ctx *c, size_t n, const char *lib, const char *outp, json_t *o)
{
    child_run q;
    size_t k = ibex_search_default_shortlist(n), nq = c->o->queries;
    char ks[32];
    snprintf(ks, sizeof ks, "%zu", k);
    char *a[24] = {"query", "--json", "--stage1-only", "--top", ks, "--shortlist", ks, (char *)lib};
    size_t na = 8;
    for (size_t i = 0; i < nq && na < 23; i++) a[na++] = c->queries[i];
    a[na] = NULL;
    json_t *lines = NULL;
    size_t mates = 0, in10 = 0, in50 = 0, ink = 0;
    if (!run_child(c, outp, &q, a) && (lines = read_lines(outp)) && json_array_size(lines) == nq) {
        for (size_t i = 0; i < nq; i++) {
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
        json_t *rc = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:f}", "queries", (json_int_t)nq,
                               "true_mates", (json_int_t)mates, "in_top_10", (json_int_t)in10, "in_top_50",
                               (json_int_t)in50, "shortlist", (json_int_t)k, "in_shortlist", (json_int_t)ink,
                               "recall_at_10", (double)in10 / (double)mates, "recall_at_50",
                               (double)in50 / (double)mates, "recall_at_shortlist", (double)ink / (double)mates);
        json_object_set_new(rc, "batch_query_seconds", json_real(q.wall));
        json_object_set_new(o, "recall", rc);
    }
    json_decref(lines);
}

/* Stage 2 on a short list: CMC per pair (the cost does not depend on N). Left out of o
 * when the run fails. */
static void stage2(scale_ctx *c, const char *lib, const char *outp, json_t *o)
{
    size_t np = c->o->stage2_pairs;
    child_run q;
    char k[32];
    snprintf(k, sizeof k, "%zu", np);
    char *a[] = {"query", "--json", "--top", "50", "--shortlist", k, (char *)lib, c->queries[0], NULL};
    json_t *lines = NULL;
    if (!run_child(c, outp, &q, a) && (lines = read_lines(outp)) && json_array_size(lines) == 1) {
        json_t *tm = json_object_get(json_array_get(lines, 0), "timing");
        double s2 = json_real_value(json_object_get(tm, "stage2"));
        double per = s2 / (double)np;
        double after = json_real_value(json_object_get(tm, "descriptors")) + json_real_value(json_object_get(tm, "search"));
        json_object_set_new(o, "stage2", json_pack("{s:I, s:f, s:f, s:f, s:I, s:s}", "pairs", (json_int_t)np,
                                                    "seconds", s2, "seconds_per_pair_wall", per,
                                                    "projected_top50_after_open_seconds", after + TOPK * per,
                                                    "peak_rss_kib", (json_int_t)q.max_rss_kib, "what",
                                                    "ibex_preprocess of both sides + CMC per shortlisted pair, "
                                                    "pairs in parallel on all threads"));
    }
    json_decref(lines);
}

/* All figures of one size into *out. */
static ibex_status one_size(scale_ctx *c, size_t n, json_t **out, ibex_diag *diag)
{
    char lib[4200], side[4200], outp[4200];
    snprintf(lib, sizeof lib, "%s/scale-%zu%s.h5", c->dir, n, c->tag);
    snprintf(side, sizeof side, "%s/scale-%zu%s.json", c->dir, n, c->tag);
    snprintf(outp, sizeof outp, "%s/query-%zu.out", c->dir, n);
    json_t *build = NULL;
    ibex_status rc = build_library(c, n, lib, side, &build, diag);
    if (rc) return rc;
    json_t *o = json_pack("{s:I, s:o}", "casings", (json_int_t)n, "build", build);
    json_object_set_new(o, "library_bytes", json_integer(file_size(lib)));
    json_object_set_new(o, "library_bytes_per_casing", json_real((double)file_size(lib) / (double)n));
    if ((rc = query_latency(c, n, lib, outp, o, diag))) {
        json_decref(o);
        return rc;
    }
    recall(c, n, lib, outp, o);
    if (c->o->stage2_pairs) stage2(c, lib, outp, o);
    unlink(outp);
    json_t *s1 = bench_scale_stage1(lib, c->o->repeats, c->gemm1, c->gemm2);
    if (s1) json_object_set_new(o, "stage1", s1);
    *out = o;
    return IBEX_OK;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

ibex_status bench_scale_resolve(ibex_bench_scale_opts *o, size_t sizes[16], ibex_diag *diag)
{
    if (!o->program || !o->program[0]) return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "no ibex program to run");
    if (!o->sizes) {
        static const size_t full[4] = {1000, 10000, 100000, 1000000}, q[2] = {1000, 4000};
        o->n_sizes = o->quick ? 2 : 4;
        memcpy(sizes, o->quick ? q : full, o->n_sizes * sizeof *sizes);
    } else {
        if (!o->n_sizes || o->n_sizes > MAX_SIZES)
            return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "1..%d library sizes, not %zu", MAX_SIZES, o->n_sizes);
        for (size_t i = 0; i < o->n_sizes; i++) {
            if (o->sizes[i] < 64 || o->sizes[i] > 10000000)
                return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "library sizes are 64..1e7 casings, not %zu", o->sizes[i]);
            sizes[i] = o->sizes[i] / PER_FIREARM * PER_FIREARM;
        }
    }
    o->sizes = sizes;
    if (!o->grid) o->grid = BENCH_SCALE_GRID;
    if (!o->repeats) o->repeats = o->quick ? 3 : 7;
    if (!o->queries) o->queries = o->quick ? 4 : 8;
    if (o->stage2_pairs == IBEX_BENCH_DEFAULT) o->stage2_pairs = o->quick ? 0 : 4;
    if (o->grid < 32 || o->grid > 1024 || o->repeats > 1000 || o->queries > MAX_QUERIES || o->stage2_pairs > 1000)
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1,
                          "grid must be in 32..1024, repeats in 1..1000, queries in 1..16, stage-2 pairs in 0..1000");
    for (size_t i = 0; i < o->n_sizes; i++)
        if (sizes[i] / PER_FIREARM < o->queries)
            return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "bench scale: %zu casings are fewer than the %zu query firearms need",
                              sizes[i], o->queries);
    return IBEX_OK;
}

/* The sizes, one after the other, into *out (the scratch folder is the caller's). */
static ibex_status measure_in(scale_ctx *c, json_t **out, ibex_diag *diag)
{
    const ibex_bench_scale_opts *o = c->o;
    if (ibex__make_dirs(c->dir) != 0)
        return ibex__fail(diag, IBEX_ERR_IO, c->dir, -1, "cannot create: %s", strerror(errno));
    if (make_queries(c)) return ibex__fail(diag, IBEX_ERR_IO, c->dir, -1, "cannot make the query casings");
    c->gemm1 = bench_sgemm_peak(1);
    c->gemm2 = bench_sgemm_peak(2);
    json_t *arr = json_array();
    for (size_t i = 0; i < o->n_sizes; i++) {
        json_t *r = NULL;
        ibex_status rc = one_size(c, o->sizes[i], &r, diag);
        if (rc) {
            json_decref(arr);
            return rc;
        }
        json_array_append_new(arr, r);
    }
    char what[200];
    snprintf(what, sizeof what, "synthetic casings (ibex synth, %zu x %zu points, difficulty 0.5), 4 per firearm; "
             "queries are shot 5 of the first firearms", o->grid, o->grid);
    *out = json_pack("{s:s, s:i, s:I, s:i, s:i, s:f, s:f, s:o}", "what", what, "seed", SCALE_SEED, "grid",
                     (json_int_t)o->grid, "top_k", TOPK, "cores", (int)sysconf(_SC_NPROCESSORS_ONLN),
                     "sgemm_1024_gflops_1_thread", c->gemm1, "sgemm_1024_gflops_2_threads", c->gemm2, "sizes", arr);
    return *out ? IBEX_OK : ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
}

ibex_status bench_scale_measure(const ibex_bench_scale_opts *o, bench_progress *pr, json_t **out, ibex_diag *diag)
{
    scale_ctx *c = calloc(1, sizeof *c);
    char tmpd[4200] = "";
    if (!c || !(c->env = child_env())) {
        free(c);
        return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    }
    c->o = o;
    c->pr = pr;
    c->dir = o->dir;
    snprintf(c->grid, sizeof c->grid, "%zu", o->grid);
    if (o->grid != BENCH_SCALE_GRID) snprintf(c->tag, sizeof c->tag, "-g%zu", o->grid);
    ibex_status rc = IBEX_OK;
    if (!c->dir) {
        const char *t = getenv("TMPDIR");
        snprintf(tmpd, sizeof tmpd, "%s/ibex-scale-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(tmpd))
            rc = ibex__fail(diag, IBEX_ERR_IO, tmpd, -1, "cannot create a scratch folder: %s", strerror(errno));
        c->dir = tmpd;
    }
    if (!rc) rc = measure_in(c, out, diag);
    /* Only a folder this call made with mkdtemp is removed. */
    if (tmpd[0] && !o->dir) nftw(tmpd, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(c->env);
    free(c);
    return rc;
}

/* ---- the public API ---- */

struct ibex_bench_scale {
    json_t *root;
    char *json;
};

void ibex_bench_scale_opts_init(ibex_bench_scale_opts *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->stage2_pairs = IBEX_BENCH_DEFAULT;
}

void ibex_bench_scale_figures_init(ibex_bench_scale_figures *f)
{
    if (!f) return;
    memset(f, 0, sizeof *f);
    f->struct_size = sizeof *f;
}

void ibex_bench_scale_free(ibex_bench_scale *s)
{
    if (!s) return;
    json_decref(s->root);
    free(s->json);
    free(s);
}

ibex_status ibex_bench_scale_run(const ibex_bench_scale_opts *opts, ibex_bench_scale **out, ibex_diag *diag)
{
    ibex_bench_scale_opts o;
    ibex_bench_scale_opts_init(&o);
    if (!opts || !ibex__opts_merge(&o, sizeof o, opts)) return ibex__opts_refused(diag, "ibex_bench_scale_opts");
    if (!out) return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "no result pointer");
    size_t sizes[MAX_SIZES];
    ibex_status rc = bench_scale_resolve(&o, sizes, diag);
    if (rc) return rc;
    bench_progress pr = {o.progress, o.progress_user, 0, 0, NULL, 0};
    json_t *res = NULL;
    if ((rc = bench_scale_measure(&o, &pr, &res, diag))) return rc;
    char rev[96];
    bench_git_revision(rev, sizeof rev);
    json_object_set_new(res, "git_revision", json_string(rev));
    json_object_set_new(res, "load_average_1min_at_end", json_real(bench_load_average()));
    ibex_bench_scale *s = calloc(1, sizeof *s);
    char *text = json_dumps(res, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    rc = s && text ? IBEX_OK : ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    if (!rc && o.out_dir) rc = bench_scale_write(res, text, o.out_dir, rev, diag);
    if (rc) {
        free(s), free(text), json_decref(res);
        return rc;
    }
    s->root = res;
    s->json = text;
    *out = s;
    return IBEX_OK;
}

size_t ibex_bench_scale_get_count(const ibex_bench_scale *s)
{
    return s ? json_array_size(json_object_get(s->root, "sizes")) : 0;
}

/* A number of the figures' JSON (integer or real); NaN when absent. */
static double num(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}
static double median(json_t *o, const char *k) { return num(json_object_get(o, k), "median"); }
static size_t count(json_t *o, const char *k) { return (size_t)json_integer_value(json_object_get(o, k)); }

ibex_status ibex_bench_scale_get(const ibex_bench_scale *s, size_t i, ibex_bench_scale_figures *out)
{
    if (!s || !out || out->struct_size < sizeof out->struct_size || i >= ibex_bench_scale_get_count(s))
        return IBEX_ERR_ARG;
    json_t *r = json_array_get(json_object_get(s->root, "sizes"), i);
    json_t *b = json_object_get(r, "build"), *s1 = json_object_get(r, "stage1");
    json_t *rc = json_object_get(r, "recall"), *s2 = json_object_get(r, "stage2");
    ibex_bench_scale_figures f;
    ibex_bench_scale_figures_init(&f);
    f.casings = count(r, "casings");
    f.reused = json_is_true(json_object_get(b, "reused"));
    f.build_per_second = num(b, "ingest_per_second");
    f.index_per_second = num(b, "index_per_second");
    f.library_bytes = (uint64_t)json_integer_value(json_object_get(r, "library_bytes"));
    f.index_memory_bytes = (uint64_t)json_integer_value(json_object_get(s1, "index_memory_bytes"));
    f.stage1_seconds_1_thread = median(s1, "query_seconds_1_thread");
    f.stage1_seconds_2_threads = median(s1, "query_seconds_2_threads");
    f.query_after_open_seconds = median(r, "query_after_open_seconds");
    f.query_peak_rss_kib = num(r, "query_peak_rss_kib");
    f.true_mates = count(rc, "true_mates");
    f.in_top_10 = count(rc, "in_top_10");
    f.in_top_50 = count(rc, "in_top_50");
    f.shortlist = count(rc, "shortlist");
    f.in_shortlist = count(rc, "in_shortlist");
    f.stage2_seconds_per_pair = num(s2, "seconds_per_pair_wall");
    size_t want = out->struct_size;
    memcpy(out, &f, want < sizeof f ? want : sizeof f);
    out->struct_size = want;
    return IBEX_OK;
}

ibex_status ibex_bench_scale_get_json(const ibex_bench_scale *s, char **json)
{
    if (!s || !json) return IBEX_ERR_ARG;
    char *c = ibex__strdup(s->json);
    if (!c) return IBEX_ERR_NOMEM;
    *json = c;
    return IBEX_OK;
}

ibex_status ibex_bench_scale_get_markdown(const ibex_bench_scale *s, char **markdown)
{
    if (!s || !markdown) return IBEX_ERR_ARG;
    char *md = NULL;
    size_t ml = 0;
    FILE *f = open_memstream(&md, &ml);
    if (!f) return IBEX_ERR_NOMEM;
    bench_scale_markdown(s->root, f);
    if (fclose(f) || !md) {
        free(md);
        return IBEX_ERR_NOMEM;
    }
    *markdown = md;
    return IBEX_OK;
}
