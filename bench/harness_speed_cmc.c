/* The exact CMC search in ibex bench speed: its FFT stage (the batched transforms of one
 * cell search, 3 forward and 6 inverse, at the transform size of the first casing of the
 * manifest) with FFTW under each way of planning and with IBEX's own FFT, and one exact comparison as `ibex compare` runs it
 * (child process: CPU time, wall time, peak memory), against cmcR's CPU time for the same
 * pair. Medians over repeats; never asserted. */
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_internal.h"
#include "cmc_internal.h"

/* cmcR with its defaults on Fadul 1-1 vs 1-2, both directions, as measured on this machine
 * (AMD EPYC, Zen 4, 2 vCPUs): CPU seconds. Not re-run here (R and cmcR are not
 * dependencies). */
#define CMCR_CPU_SECONDS 61.0

extern char **environ;

static const char *stage_names[4] = {"fftw_estimate", "fftw_measure", "fftw_patient_pinned", "ibex"};
static const char *stage_labels[4] = {"FFTW_ESTIMATE", "FFTW_MEASURE (each run)",
                                      "FFTW_PATIENT, pinned by wisdom", "IBEX's own FFT (default)"};
static const int stage_modes[3] = {IBEX_FFT_PLANS_ESTIMATE, IBEX_FFT_PLANS_MEASURE, IBEX_FFT_PLANS_WISDOM};

/* One implementation (own = 1: IBEX's FFT; else FFTW with plan mode): planning time, then
 * microseconds of thread CPU per search (fwd3 + inv6). */
static json_t *fft_stage(size_t n, int mode, int own, size_t repeats, double *med_us)
{
    ibex__fft_cache *c = ibex__fft_cache_create_with(mode, own);
    double t0 = ibex__now();
    const ibex__fft *f = c ? ibex__fft_get(c, n, n) : NULL;
    double plan_s = ibex__now() - t0;
    float *real = f ? ibex__fft_alloc(6 * n * n) : NULL, *spec = f ? ibex__fft_alloc(12 * f->nc) : NULL;
    float *scr = f && f->scratch ? malloc(f->scratch * sizeof *scr) : NULL;
    double *us = malloc(repeats * sizeof *us);
    json_t *o = NULL;
    if (real && spec && us && (!f->scratch || scr)) {
        for (size_t i = 0; i < 6 * n * n; i++) real[i] = (float)((i * 2654435761u) % 1000) * 1e-3f;
        t0 = ibex__thread_cpu();
        ibex__fft_forward3(f, real, spec, scr);
        ibex__fft_inverse6(f, spec, real, scr);
        size_t iters = (size_t)fmax(1, fmin(2000, 0.05 / fmax(ibex__thread_cpu() - t0, 1e-6)));
        for (size_t k = 0; k < repeats; k++) {
            t0 = ibex__thread_cpu();
            for (size_t i = 0; i < iters; i++) {
                ibex__fft_forward3(f, real, spec, scr);
                ibex__fft_inverse6(f, spec, real, scr);
            }
            us[k] = (ibex__thread_cpu() - t0) / (double)iters * 1e6;
        }
        json_t *sp = bench_spread(us, repeats, "us of thread CPU per search (3 r2c + 6 c2r)");
        *med_us = json_real_value(json_object_get(sp, "median"));
        double flops = 9 * 2.5 * (double)(n * n) * log2((double)(n * n));
        o = json_pack("{s:s, s:f, s:o, s:f}", "implementation", ibex__fft_impl(f), "planning_seconds",
                      plan_s, "per_search", sp, "gflops", flops / (*med_us * 1e-6) * 1e-9);
    }
    free(us);
    free(scr);
    ibex__fft_dealloc(real);
    ibex__fft_dealloc(spec);
    ibex__fft_cache_free(c);
    return o;
}

/* ibex compare --json A B as a child: 0 and its CPU, wall and peak memory, or -1. */
static int run_compare(const char *program, const char *a, const char *b, double *cpu, double *wall,
                       long *rss_kib)
{
    char *argv[] = {(char *)"ibex", (char *)"compare", (char *)"--json", (char *)"--kind",
                    (char *)"cartridge", (char *)a, (char *)b, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    double t0 = ibex__now();
    int e = posix_spawn(&pid, program, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (e) return -1;
    int st = 0;
    struct rusage ru;
    if (wait4(pid, &st, 0, &ru) != pid) return -1;
    *wall = ibex__now() - t0;
    *cpu = (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
           1e-6 * (double)ru.ru_stime.tv_usec;
    *rss_kib = ru.ru_maxrss;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static json_t *exact_comparison(const bench_manifest *man, const char *program, size_t repeats)
{
    if (!program) return json_pack("{s:s}", "skipped", "no ibex program to run");
    double *cpu = malloc(repeats * sizeof *cpu), *wall = malloc(repeats * sizeof *wall);
    double *rss = malloc(repeats * sizeof *rss);
    int ok = cpu && wall && rss;
    for (size_t k = 0; k < repeats && ok; k++) {
        long kib = 0;
        ok = run_compare(program, man->scan[0].path, man->scan[1].path, &cpu[k], &wall[k], &kib) == 0;
        rss[k] = (double)kib / 1024;
    }
    json_t *o = NULL;
    if (ok) {
        json_t *c = bench_spread(cpu, repeats, "s CPU (user + system)");
        double med = json_real_value(json_object_get(c, "median"));
        o = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:f, s:f}", "pair_a", man->scan[0].specimen, "pair_b",
                      man->scan[1].specimen, "command", "ibex compare --json (read, preprocess, CMC both ways)",
                      "cpu_seconds", c, "wall_seconds", bench_spread(wall, repeats, "s"), "peak_memory_mib",
                      bench_spread(rss, repeats, "MiB"), "cmcR_cpu_seconds", CMCR_CPU_SECONDS,
                      "cpu_ratio_cmcR_over_ibex", CMCR_CPU_SECONDS / med);
    } else {
        o = json_pack("{s:s}", "skipped", "ibex compare failed on the first two casings");
    }
    free(cpu), free(wall), free(rss);
    return o;
}

json_t *bench_speed_cmc(const char *manifest, const char *program, size_t repeats, ibex_diag *diag)
{
    bench_manifest man;
    size_t n = 216; /* Fadul's: 545-point scans, 68-point cells, 204-point regions */
    int have = manifest && access(manifest, R_OK) == 0 &&
               bench_manifest_read(manifest, "cartridge", "fadul", &man, diag) == IBEX_OK;
    if (have && man.n < 2) {
        bench_manifest_free(&man);
        have = 0;
    }
    /* The child first: on Linux a spawned child's peak memory (ru_maxrss) starts from its
     * parent's peak at exec, so it is measured while this process is still small. */
    json_t *cmp = have ? exact_comparison(&man, program, repeats)
                       : json_pack("{s:s}", "skipped", "no Fadul casings in the manifest");
    if (have) {
        ibex_surface *s = NULL, *p = NULL;
        ibex_preprocess_opts po;
        ibex_preprocess_opts_init(&po);
        if (ibex_surface_read(man.scan[0].path, 0, &s, NULL) == IBEX_OK &&
            ibex_preprocess(s, &po, &p, NULL, NULL) == IBEX_OK) {
            size_t fy;
            ibex_cmc_fft_size(NULL, p->nx, p->ny, &n, &fy);
        }
        ibex_surface_free(s);
        ibex_surface_free(p);
    }
    json_t *fft = json_pack("{s:I, s:s}", "size", (json_int_t)n, "wisdom_file",
                            ibex_fft_wisdom_file() ? ibex_fft_wisdom_file() : "(none: pinned = ESTIMATE)");
    double med[4] = {0};
    /* pinned first, on an empty memory (its plans then come from the file alone), and the
     * ESTIMATE and MEASURE rows each on forgotten wisdom: FFTW serves a weaker request
     * from stronger wisdom in memory */
    static const int order[4] = {2, 0, 1, 3};
    ibex__fft_forget_wisdom();
    for (int o = 0; o < 4; o++) {
        int m = order[o];
        if (m < 2) ibex__fft_forget_wisdom();
        json_t *a = fft_stage(n, m < 3 ? stage_modes[m] : IBEX_FFT_PLANS_WISDOM, m == 3, repeats, &med[m]);
        if (!a) {
            json_decref(fft);
            if (have) bench_manifest_free(&man);
            json_decref(cmp);
            ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory for the FFT stage");
            return NULL;
        }
        json_object_set_new(fft, stage_names[m], a);
    }
    double best = fmin(med[1], med[2]); /* FFTW's best plan: MEASURE or PATIENT */
    json_object_set_new(fft, "estimate_over_pinned", json_real(med[0] / med[2]));
    json_object_set_new(fft, "fftw_best_over_ibex", json_real(best / med[3]));
    if (have) bench_manifest_free(&man);
    return json_pack("{s:o, s:o}", "fft_stage", fft, "comparison", cmp);
}

static void spread(FILE *f, json_t *a, double scale)
{
    fprintf(f, "%.2f [%.2f, %.2f]", scale * json_real_value(json_object_get(a, "median")),
            scale * json_real_value(json_object_get(a, "min")), scale * json_real_value(json_object_get(a, "max")));
}

void bench_speed_cmc_md(FILE *f, json_t *cmc)
{
    json_t *fft = json_object_get(cmc, "fft_stage"), *cmp = json_object_get(cmc, "comparison");
    size_t n = (size_t)json_integer_value(json_object_get(fft, "size"));
    fprintf(f, "## Exact CMC\n\nFFT stage of one cell search: 3 r2c + 6 c2r of %zu², thread CPU "
               "per search, median [min, max]; wisdom file %s.\n\n| transforms | us per search | GFLOP/s | planning (s) |\n"
               "|---|---|---|---|\n", n, json_string_value(json_object_get(fft, "wisdom_file")));
    for (int m = 0; m < 4; m++) {
        json_t *a = json_object_get(fft, stage_names[m]);
        fprintf(f, "| %s (%s) | ", stage_labels[m], json_string_value(json_object_get(a, "implementation")));
        spread(f, json_object_get(a, "per_search"), 1);
        fprintf(f, " | %.1f | %.2f |\n", json_real_value(json_object_get(a, "gflops")),
                json_real_value(json_object_get(a, "planning_seconds")));
    }
    fprintf(f, "\nFFTW's best plan over IBEX's FFT: %.2fx.\n",
            json_real_value(json_object_get(fft, "fftw_best_over_ibex")));
    if (json_object_get(cmp, "skipped")) {
        fprintf(f, "\nExact comparison: skipped (%s).\n\n", json_string_value(json_object_get(cmp, "skipped")));
        return;
    }
    fprintf(f, "\nOne exact comparison, %s vs %s (%s): CPU ", json_string_value(json_object_get(cmp, "pair_a")),
            json_string_value(json_object_get(cmp, "pair_b")), json_string_value(json_object_get(cmp, "command")));
    spread(f, json_object_get(cmp, "cpu_seconds"), 1);
    fprintf(f, " s, wall ");
    spread(f, json_object_get(cmp, "wall_seconds"), 1);
    fprintf(f, " s, peak memory ");
    spread(f, json_object_get(cmp, "peak_memory_mib"), 1);
    fprintf(f, " MiB; cmcR takes %.0f s CPU for this pair: %.1fx in CPU time.\n\n",
            json_real_value(json_object_get(cmp, "cmcR_cpu_seconds")),
            json_real_value(json_object_get(cmp, "cpu_ratio_cmcR_over_ibex")));
}
