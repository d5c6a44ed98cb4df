/* ibex/bench.h speed (ibex bench speed): FFT throughput against FFTW's own best plan, thread scaling,
 * comparisons per second, preprocessing per scan, peak memory, and query latency against
 * library size (harness_scale.c). Each figure is the median over repeats with its min and
 * max (timings on a shared machine are noisy: never assert). */
#include <errno.h>
#include <fftw3.h>
#include <jansson.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench_internal.h"

static double median_of(json_t *o) { return json_real_value(json_object_get(o, "median")); }

/* Seconds per r2c + c2r pair on an n x n float grid, `repeats` medians. */
static json_t *fft_rate(size_t n, int threads, unsigned flags, size_t repeats, double *med_gflops)
{
    fftwf_plan_with_nthreads(threads);
    omp_set_num_threads(threads);
    float *r = fftwf_malloc(n * n * sizeof *r);
    fftwf_complex *c = fftwf_malloc(n * (n / 2 + 1) * sizeof *c);
    if (!r || !c) {
        fftwf_free(r), fftwf_free(c);
        return NULL;
    }
    fftwf_plan f = fftwf_plan_dft_r2c_2d((int)n, (int)n, r, c, flags);
    fftwf_plan b = fftwf_plan_dft_c2r_2d((int)n, (int)n, c, r, flags);
    for (size_t i = 0; i < n * n; i++) r[i] = (float)((i * 2654435761u) % 1000) * 1e-3f;
    double *g = malloc(repeats * sizeof *g);
    /* Iterations per repeat: enough for ~40 ms, measured on a warm-up. */
    double t0 = ibex__now();
    fftwf_execute(f), fftwf_execute(b);
    double one = ibex__now() - t0;
    size_t iters = (size_t)fmax(1, fmin(1000, 0.04 / fmax(one, 1e-6)));
    double flops = 2 * 2.5 * (double)(n * n) * log2((double)(n * n)); /* 2 transforms */
    for (size_t k = 0; k < repeats && g; k++) {
        t0 = ibex__now();
        for (size_t i = 0; i < iters; i++) {
            fftwf_execute(f);
            fftwf_execute(b);
        }
        g[k] = flops * (double)iters / (ibex__now() - t0) * 1e-9;
    }
    fftwf_destroy_plan(f), fftwf_destroy_plan(b);
    fftwf_free(r), fftwf_free(c);
    if (!g) return NULL;
    json_t *o = bench_spread(g, repeats, "GFLOP/s (2.5 N log2 N per real transform)");
    *med_gflops = median_of(o);
    free(g);
    return o;
}

/* Comparisons per second and preparation time per scan for a kind's default method on the
 * first scans of a manifest set. */
static json_t *compare_rate(const char *manifest, const char *kind, const char *set,
                            size_t nscans, size_t repeats, ibex_diag *diag)
{
    bench_manifest man;
    const bench_method *m = bench_method_default(kind);
    if (!m || !m->prepare) return json_pack("{s:s}", "skipped", "no method with a prepare step");
    if (access(manifest, R_OK) != 0) return json_pack("{s:s}", "skipped", "no manifest");
    if (bench_manifest_read(manifest, kind, set, &man, diag)) return NULL;
    if (man.n < 2) {
        bench_manifest_free(&man);
        return json_pack("{s:s}", "skipped", "fewer than two scans");
    }
    size_t n = man.n < nscans ? man.n : nscans;
    void **prep = calloc(n, sizeof *prep);
    double *tp = malloc(repeats * sizeof *tp), *r1 = malloc(repeats * sizeof *r1),
           *r2 = malloc(repeats * sizeof *r2);
    json_t *out = NULL;
    int ok = prep && tp && r1 && r2;
    if (!ok) ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    for (size_t k = 0; k < repeats && ok; k++) {
        double t0 = ibex__now();
        for (size_t i = 0; i < n && ok; i++) {
            if (prep[i]) m->prep_free(prep[i]), prep[i] = NULL;
            ibex_diag d;
            ibex_diag_clear(&d);
            ibex_status s = m->prepare(man.scan[i].path, &prep[i], m->ctx, &d);
            if (s) ok = 0, *diag = d;
        }
        tp[k] = (ibex__now() - t0) / (double)n;
    }
    size_t npairs = n * (n - 1) / 2;
    /* Each repeat runs all pairs `rounds` times: enough work (>= ~50 ms, timed on a warm-up
     * round) that the parallel region's start-up does not dominate fast comparators. */
    size_t rounds = 1;
    for (int th = 1; th <= 2 && ok; th++) {
        omp_set_num_threads(th);
        for (size_t k = 0; k <= repeats && ok; k++) { /* k == 0: warm-up */
            double t0 = ibex__now();
            size_t total = npairs * rounds;
#pragma omp parallel for schedule(dynamic, 1)
            for (size_t p = 0; p < total; p++) {
                size_t i = 0, q = p % npairs;
                while (q >= n - 1 - i) q -= n - 1 - i, i++;
                size_t j = i + 1 + q;
                bench_pair_result r;
                /* a failed pair still took its time: counted the same */
                (void)m->compare_prepared(prep[i], prep[j], &r, m->ctx, NULL);
            }
            double dt = ibex__now() - t0;
            if (k == 0) {
                if (th == 1) rounds = (size_t)fmax(1, fmin(1e6, ceil(0.05 / fmax(dt, 1e-9))));
                continue;
            }
            (th == 1 ? r1 : r2)[k - 1] = (double)total / dt;
        }
    }
    if (ok) {
        json_t *c1 = bench_spread(r1, repeats, "comparisons/s"), *c2 = bench_spread(r2, repeats, "comparisons/s");
        out = json_pack("{s:s, s:s, s:I, s:I, s:o, s:o, s:o, s:f}", "method", m->name, "set",
                        man.scan[0].set, "scans", (json_int_t)n, "pair_rounds_per_repeat",
                        (json_int_t)rounds,
                        "prepare_seconds_per_scan", bench_spread(tp, repeats, "s"),
                        "comparisons_per_second_1_thread", c1, "comparisons_per_second_2_threads", c2,
                        "scaling_2_over_1", median_of(c2) / median_of(c1));
    }
    for (size_t i = 0; i < n && prep; i++)
        if (prep[i]) m->prep_free(prep[i]);
    free(prep), free(tp), free(r1), free(r2);
    bench_manifest_free(&man);
    return out;
}

struct ibex_bench_speed {
    ibex_bench_speed_figures fig;
    char *json;
};

void ibex_bench_speed_opts_init(ibex_bench_speed_opts *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
}

void ibex_bench_speed_figures_init(ibex_bench_speed_figures *f)
{
    if (!f) return;
    memset(f, 0, sizeof *f);
    f->struct_size = sizeof *f;
}

void ibex_bench_speed_free(ibex_bench_speed *s)
{
    if (!s) return;
    free(s->json);
    free(s);
}

/* The FFT sweep: sizes 64, 128, ... below the grid, then the grid itself (the headline
 * figures); per size, ESTIMATE and MEASURE plans on 1 and 2 threads. */
typedef struct fft_sweep {
    size_t sizes[16], n_sizes;
    double med[16][4], lo[16][4], hi[16][4];
    json_t *fft; /* the headline size, with the smaller ones under smaller_sizes */
} fft_sweep;

static ibex_status run_fft(fft_sweep *w, size_t size, size_t repeats, bench_progress *pr, ibex_diag *diag)
{
    static const char *keys[4] = {"estimate_plan_1_thread", "estimate_plan_2_threads",
                                  "fftw_measure_plan_1_thread", "fftw_measure_plan_2_threads"};
    w->n_sizes = 0;
    for (size_t s = 64; s < size && w->n_sizes < 15; s *= 2) w->sizes[w->n_sizes++] = s;
    w->sizes[w->n_sizes++] = size;
    json_t *sweep = json_array();
    w->fft = NULL;
    bench_progress_report(pr, "timing FFTs", 0, 4 * w->n_sizes);
    for (size_t i = 0; i < w->n_sizes; i++) {
        json_t *pt = json_object();
        json_object_set_new(pt, "size", json_integer((json_int_t)w->sizes[i]));
        for (int c = 0; c < 4; c++) {
            json_t *a = fft_rate(w->sizes[i], 1 + c % 2, c < 2 ? FFTW_ESTIMATE : FFTW_MEASURE, repeats,
                                 &w->med[i][c]);
            if (!a) {
                json_decref(pt), json_decref(sweep);
                return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory for a %zu x %zu FFT", w->sizes[i],
                                  w->sizes[i]);
            }
            w->lo[i][c] = json_real_value(json_object_get(a, "min"));
            w->hi[i][c] = json_real_value(json_object_get(a, "max"));
            json_object_set_new(pt, keys[c], a);
            if (bench_progress_report(pr, "timing FFTs", 4 * i + (size_t)c + 1, 4 * w->n_sizes)) {
                json_decref(pt), json_decref(sweep);
                return ibex__fail(diag, IBEX_ERR_CANCELLED, "", -1, "cancelled");
            }
        }
        if (i + 1 < w->n_sizes) json_array_append_new(sweep, pt);
        else w->fft = pt;
    }
    double *last = w->med[w->n_sizes - 1];
    json_object_set_new(w->fft, "estimate_over_measure_1_thread", json_real(last[0] / last[2]));
    json_object_set_new(w->fft, "scaling_2_over_1_threads_measure", json_real(last[3] / last[2]));
    json_object_set_new(w->fft, "smaller_sizes", sweep);
    return IBEX_OK;
}

/* FFT throughput against size: IBEX's plans next to FFTW's best, 1 and 2 threads. */
static int plot_fft(const fft_sweep *w, const char *cpu, const char *path)
{
    double xs[16], ymax = 0, ys[16], l[16], h[16];
    size_t n = w->n_sizes;
    for (size_t i = 0; i < n; i++) {
        xs[i] = (double)w->sizes[i];
        for (int c = 0; c < 4; c++) ymax = fmax(ymax, w->hi[i][c]);
    }
    char title[384];
    snprintf(title, sizeof title, "FFT throughput, 2D float r2c + c2r (%s)", cpu);
    bench_plot *fig = bench_plot_create_ex(800, 560, title, "grid side n (n x n)", "GFLOP/s",
                                           xs[0] / 1.5, xs[n - 1] * 1.5, 0, 1.35 * ymax, BENCH_PLOT_LOGX);
    static const char *lab[4] = {"FFTW_ESTIMATE (baselines), 1 thread", "FFTW_ESTIMATE (baselines), 2 threads",
                                 "FFTW_MEASURE, 1 thread", "FFTW_MEASURE, 2 threads"};
    static const int col[4] = {0, 5, 1, 3};
    for (int c = 0; c < 4 && fig; c++) {
        for (size_t i = 0; i < n; i++) ys[i] = w->med[i][c], l[i] = w->lo[i][c], h[i] = w->hi[i][c];
        bench_plot_line(fig, xs, ys, n, col[c], 2, c < 2, lab[c]);
        bench_plot_errorbars(fig, xs, l, h, n, col[c]);
        bench_plot_points(fig, xs, ys, n, col[c], NULL);
    }
    if (fig) bench_plot_legend(fig, 1);
    return !fig || bench_plot_write(fig, path);
}

static void spread_md(FILE *f, json_t *a, double scale)
{
    fprintf(f, "%.1f [%.1f, %.1f]", scale * median_of(a), scale * json_real_value(json_object_get(a, "min")),
            scale * json_real_value(json_object_get(a, "max")));
}

static void speed_md(FILE *f, json_t *root, const char *section_md, const double load[2])
{
    static const char *kinds[] = {"cartridge", "bullet"};
    json_t *mach = json_object_get(root, "machine"), *fft = json_object_get(root, "fft");
    json_t *cmp = json_object_get(root, "comparisons");
    size_t size = (size_t)json_integer_value(json_object_get(json_object_get(root, "configuration"), "size"));
    fprintf(f, "# IBEX speed report\n\nibex %s, git %s, %s, %d cores, load average %.1f "
               "after the FFT runs and %.1f at the end (on a busy machine, threads wait for "
               "cores: compare with an idle run). Median [min, max] of %zu repeats.\n\n",
            IBEX_VERSION_STRING, json_string_value(json_object_get(root, "git_revision")),
            json_string_value(json_object_get(mach, "cpu_model")),
            (int)json_integer_value(json_object_get(mach, "cores")),
            load[0], load[1],
            (size_t)json_integer_value(json_object_get(json_object_get(root, "configuration"), "repeats")));
    fprintf(f, "| figure | 1 thread | 2 threads |\n|---|---|---|\n");
    const char *rows[][3] = {{"FFTW_MEASURE plan (GFLOP/s)", "fftw_measure_plan_1_thread", "fftw_measure_plan_2_threads"},
                             {"FFTW_ESTIMATE plan as the baseline comparators use (GFLOP/s)", "estimate_plan_1_thread", "estimate_plan_2_threads"}};
    for (int i = 0; i < 2; i++) {
        fprintf(f, "| FFT %zu², %s | ", size, rows[i][0]);
        spread_md(f, json_object_get(fft, rows[i][1]), 1);
        fprintf(f, " | ");
        spread_md(f, json_object_get(fft, rows[i][2]), 1);
        fprintf(f, " |\n");
    }
    for (int k = 0; k < 2; k++) {
        json_t *r = json_object_get(cmp, kinds[k]);
        json_t *a = json_object_get(r, "comparisons_per_second_1_thread");
        json_t *b = json_object_get(r, "comparisons_per_second_2_threads");
        json_t *pp = json_object_get(r, "prepare_seconds_per_scan");
        if (!a || !b || !pp) {
            fprintf(f, "| %s comparisons/s | skipped | skipped |\n", kinds[k]);
            continue;
        }
        const char *mn = json_string_value(json_object_get(r, "method"));
        fprintf(f, "| %s comparisons/s (%s) | ", kinds[k], mn);
        spread_md(f, a, 1);
        fprintf(f, " | ");
        spread_md(f, b, 1);
        fprintf(f, " |\n| %s preparation per scan (%s, ms) | ", kinds[k], mn);
        spread_md(f, pp, 1e3);
        fprintf(f, " | |\n");
    }
    fprintf(f, "| peak memory (MiB) | %.1f | |\n\n",
            (double)json_integer_value(json_object_get(root, "peak_memory_kib")) / 1024);
    if (bench_plots_built()) fprintf(f, "![FFT throughput against size](fft_vs_size.png)\n\n");
    else fprintf(f, "%s: FFT throughput against size.\n\n", NOT_DRAWN);
    fprintf(f, "FLOPs counted as 2.5 N log2 N per real 2D transform of N points.\n\n");
    json_t *cmc = json_object_get(root, "exact_cmc");
    if (cmc) bench_speed_cmc_md(f, cmc);
    if (section_md) fputs(section_md, f);
}

/* speed.json, fft_vs_size.png and speed.md into out_dir (already created). */
static ibex_status write_speed(const char *out, const char *text, json_t *root, const fft_sweep *w,
                               const char *cpu, const char *section_md, const double load[2],
                               ibex_diag *diag)
{
    size_t pl = strlen(out) + 32;
    char *p = malloc(pl), *md = NULL;
    if (!p) return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    snprintf(p, pl, "%s/speed.json", out);
    ibex_status rc = bench_write_text(p, text, diag);
    snprintf(p, pl, "%s/fft_vs_size.png", out);
    if (!rc && bench_plots_built() && plot_fft(w, cpu, p))
        rc = ibex__fail(diag, IBEX_ERR_IO, "", -1, "%s: cannot draw the plot", p);
    size_t ml = 0;
    FILE *f = rc ? NULL : open_memstream(&md, &ml);
    if (!rc && !f) rc = ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    if (f) {
        speed_md(f, root, section_md, load);
        fclose(f);
        snprintf(p, pl, "%s/speed.md", out);
        rc = bench_write_text(p, md, diag);
    }
    free(md);
    free(p);
    return rc;
}

static void kind_figures(ibex_bench_speed_kind *k, json_t *r)
{
    json_t *a = json_object_get(r, "comparisons_per_second_1_thread");
    json_t *b = json_object_get(r, "comparisons_per_second_2_threads");
    json_t *pp = json_object_get(r, "prepare_seconds_per_scan");
    memset(k, 0, sizeof *k);
    k->measured = a && b && pp;
    k->method = json_string_value(json_object_get(r, "method"));
    if (k->method) {
        const bench_method *m = bench_method_find(k->method);
        k->method = m ? m->name : NULL; /* static, outlives the JSON */
    }
    k->per_second_1_thread = a ? median_of(a) : NAN;
    k->per_second_2_threads = b ? median_of(b) : NAN;
    k->prepare_seconds_per_scan = pp ? median_of(pp) : NAN;
}

/* Comparisons/s of each kind's default method (json object by kind). */
static ibex_status run_comparisons(const ibex_bench_speed_opts *o, size_t repeats, json_t *cmp,
                                   bench_progress *pr, ibex_diag *diag)
{
    const char *kinds[] = {"cartridge", "bullet"}, *sets[] = {"fadul", "hamby44-small"};
    const char *manifest = o->manifest ? o->manifest : "";
    for (int k = 0; k < 2; k++) {
        if (bench_progress_report(pr, "timing comparisons", (size_t)k, 2))
            return ibex__fail(diag, IBEX_ERR_CANCELLED, "", -1, "cancelled");
        /* --quick stays under a minute: a CMC comparison takes ~2 s, so 3 casings (3 pairs,
         * enough for 2 threads) and 2 repeats. */
        size_t nscans = o->quick ? (k == 0 ? 3 : 4) : 6, reps = o->quick && k == 0 && repeats > 2 ? 2 : repeats;
        ibex_diag d;
        ibex_diag_clear(&d);
        json_t *r = compare_rate(manifest, kinds[k], sets[k], nscans, reps, &d);
        if (!r) {
            if (diag) *diag = d;
            return IBEX_ERR_IO;
        }
        json_object_set_new(cmp, kinds[k], r);
    }
    bench_progress_report(pr, "timing comparisons", 2, 2);
    return IBEX_OK;
}

/* Query latency against library size: the scale run with the speed run's quick and
 * repeats, its figure (latency_vs_size.png) and its section of speed.md. */
static ibex_status latency_section(const ibex_bench_speed_opts *so, size_t repeats, bench_progress *pr,
                                   json_t **json, char **md, ibex_diag *diag)
{
    ibex_bench_scale_opts o;
    ibex_bench_scale_opts_init(&o);
    o.program = so->program;
    o.dir = so->scale_dir;
    o.quick = so->quick;
    o.repeats = repeats;
    size_t sizes[16];
    json_t *scale = NULL;
    ibex_status rc = bench_scale_resolve(&o, sizes, diag);
    if (!rc) rc = bench_scale_measure(&o, pr, &scale, diag);
    if (rc) return rc;
    if (so->out_dir && bench_plots_built()) {
        size_t pl = strlen(so->out_dir) + 24;
        char *p = malloc(pl);
        if (p) snprintf(p, pl, "%s/latency_vs_size.png", so->out_dir);
        if (!p || bench_scale_plot(scale, p)) rc = ibex__fail(diag, IBEX_ERR_IO, p ? p : "", -1, "cannot draw the plot");
        free(p);
    }
    size_t ml = 0;
    FILE *f = rc ? NULL : open_memstream(md, &ml);
    if (!rc && !f) rc = ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    if (f) {
        fprintf(f, "## Query latency against library size\n\n");
        bench_scale_markdown(scale, f);
        if (bench_plots_built()) fprintf(f, "\n![query latency against library size](latency_vs_size.png)\n");
        else fprintf(f, "\nQuery latency against library size: figure not drawn (built without cairo).\n");
        fclose(f);
    }
    if (rc) json_decref(scale);
    else *json = scale;
    return rc;
}

ibex_status ibex_bench_speed_run(const ibex_bench_speed_opts *opts, ibex_bench_speed **out, ibex_diag *diag)
{
    ibex_bench_speed_opts o;
    ibex_bench_speed_opts_init(&o);
    if (!opts || !ibex__opts_merge(&o, sizeof o, opts)) return ibex__opts_refused(diag, "ibex_bench_speed_opts");
    if (!out) return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "no result pointer");
    if ((o.grid && (o.grid < 8 || o.grid > 8192)) || o.repeats > 1000)
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "grid must be in 8..8192 and repeats in 1..1000");
    size_t size = o.grid ? o.grid : o.quick ? 256 : 512, repeats = o.repeats ? o.repeats : o.quick ? 3 : 7;
    int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (!fftwf_init_threads()) return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, "FFTW threads could not start");
    bench_progress pr = {o.progress, o.progress_user, 0, 0, NULL, 0};
    /* The exact-CMC section first: its child's peak memory is read while this process is
     * small (harness_speed_cmc.c). Each comparison takes about a second: at most 3 (1 with
     * --quick). */
    size_t creps = o.quick ? 1 : repeats < 3 ? repeats : 3;
    ibex_diag cd;
    ibex_diag_clear(&cd);
    json_t *cmc = bench_speed_cmc(o.manifest, o.program, creps, &cd);
    if (!cmc) return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "%s", cd.message);
    fft_sweep w;
    ibex_status rc = run_fft(&w, size, repeats, &pr, diag);
    if (rc) {
        json_decref(cmc);
        return rc;
    }
    double load_fft = bench_load_average();
    omp_set_num_threads(cores);
    fftwf_plan_with_nthreads(1);
    json_t *cmp = json_object();
    rc = run_comparisons(&o, repeats, cmp, &pr, diag);
    omp_set_num_threads(cores);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru); /* before the section: what it starts reports its own */
    if (!rc && o.out_dir && ibex__make_dirs(o.out_dir) != 0)
        rc = ibex__fail(diag, IBEX_ERR_IO, "", -1, "%s: cannot create the report folder: %s", o.out_dir, strerror(errno));
    char *sec_md = NULL;
    json_t *sec = NULL;
    if (!rc && o.program && IBEX_HAVE_HDF5) {
        rc = latency_section(&o, repeats, &pr, &sec, &sec_md, diag);
        omp_set_num_threads(cores);
    } else if (!rc && o.program) { /* the latency runs build and search libraries */
        sec_md = ibex__strdup("## Query latency against library size\n\nNot measured: this "
                              "build has no HDF5 reference library.\n");
    }
    if (rc) {
        json_decref(w.fft), json_decref(cmp), json_decref(sec), json_decref(cmc), free(sec_md);
        return rc;
    }
    char cpu[256], rev[96];
    bench_cpu_model(cpu, sizeof cpu);
    bench_git_revision(rev, sizeof rev);
    double load_end = bench_load_average();
    json_t *root = json_pack("{s:s, s:s, s:s, s:{s:s, s:i, s:f, s:f}, s:{s:I, s:I}, s:o, s:o, s:I}",
                             "report", "ibex bench speed", "ibex_version", IBEX_VERSION_STRING,
                             "git_revision", rev, "machine", "cpu_model", cpu, "cores", cores,
                             "load_average_1min_after_fft", isfinite(load_fft) ? load_fft : -1.0,
                             "load_average_1min_at_end", isfinite(load_end) ? load_end : -1.0,
                             "configuration", "size", (json_int_t)size, "repeats", (json_int_t)repeats,
                             "fft", w.fft, "comparisons", cmp, "peak_memory_kib", (json_int_t)ru.ru_maxrss);
    json_object_set_new(root, "exact_cmc", cmc);
    if (sec) json_object_set_new(root, "query_latency_vs_library_size", sec);
    ibex_bench_speed *s = calloc(1, sizeof *s);
    char *text = root ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    rc = s && text ? IBEX_OK : ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    double load[2] = {load_fft, load_end};
    if (!rc && o.out_dir) rc = write_speed(o.out_dir, text, root, &w, cpu, sec_md, load, diag);
    if (!rc) {
        double *last = w.med[w.n_sizes - 1];
        s->fig = (ibex_bench_speed_figures){sizeof s->fig, size, repeats, last[2], last[3], last[0], last[1],
                                            {0}, {0}, (double)ru.ru_maxrss};
        kind_figures(&s->fig.cartridge, json_object_get(cmp, "cartridge"));
        kind_figures(&s->fig.bullet, json_object_get(cmp, "bullet"));
        s->json = text;
        text = NULL;
        *out = s;
        s = NULL;
    }
    free(text), free(sec_md);
    ibex_bench_speed_free(s);
    json_decref(root);
    return rc;
}

ibex_status ibex_bench_speed_get(const ibex_bench_speed *s, ibex_bench_speed_figures *out)
{
    if (!s || !out || out->struct_size < sizeof out->struct_size) return IBEX_ERR_ARG;
    size_t want = out->struct_size;
    memcpy(out, &s->fig, want < sizeof s->fig ? want : sizeof s->fig);
    out->struct_size = want;
    return IBEX_OK;
}

ibex_status ibex_bench_speed_get_json(const ibex_bench_speed *s, char **json)
{
    if (!s || !json) return IBEX_ERR_ARG;
    size_t n = strlen(s->json) + 1;
    char *c = malloc(n);
    if (!c) return IBEX_ERR_NOMEM;
    memcpy(c, s->json, n);
    *json = c;
    return IBEX_OK;
}
