/* ibex bench speed: FFT throughput against FFTW's own best plan, thread scaling,
 * comparisons per second, preprocessing per scan, peak memory. Each figure is the median
 * over repeats with its min and max (timings on a shared machine are noisy: never assert). */
#include <errno.h>
#include <fftw3.h>
#include <getopt.h>
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
#include "cli.h"

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* {median, min, max, repeats} of v (sorted in place). */
json_t *bench_spread(double *v, size_t n, const char *unit)
{
    qsort(v, n, sizeof *v, cmp_d);
    double med = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    return json_pack("{s:f, s:f, s:f, s:I, s:s}", "median", med, "min", v[0], "max", v[n - 1],
                     "repeats", (json_int_t)n, "unit", unit);
}

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
    double t0 = cli_now();
    fftwf_execute(f), fftwf_execute(b);
    double one = cli_now() - t0;
    size_t iters = (size_t)fmax(1, fmin(1000, 0.04 / fmax(one, 1e-6)));
    double flops = 2 * 2.5 * (double)(n * n) * log2((double)(n * n)); /* 2 transforms */
    for (size_t k = 0; k < repeats && g; k++) {
        t0 = cli_now();
        for (size_t i = 0; i < iters; i++) {
            fftwf_execute(f);
            fftwf_execute(b);
        }
        g[k] = flops * (double)iters / (cli_now() - t0) * 1e-9;
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
                            size_t nscans, size_t repeats)
{
    bench_manifest man;
    const bench_method *m = bench_method_default(kind);
    if (!m || !m->prepare) return json_pack("{s:s}", "skipped", "no method with a prepare step");
    if (access(manifest, R_OK) != 0) return json_pack("{s:s}", "skipped", "no manifest");
    if (bench_manifest_read(manifest, kind, set, &man)) return NULL;
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
    for (size_t k = 0; k < repeats && ok; k++) {
        double t0 = cli_now();
        for (size_t i = 0; i < n && ok; i++) {
            if (prep[i]) m->prep_free(prep[i]), prep[i] = NULL;
            ibex_diag d;
            ibex_diag_clear(&d);
            ibex_status s = m->prepare(man.scan[i].path, &prep[i], m->ctx, &d);
            if (s) ok = 0, cli_fail_status(s, &d);
        }
        tp[k] = (cli_now() - t0) / (double)n;
    }
    size_t npairs = n * (n - 1) / 2;
    /* Each repeat runs all pairs `rounds` times: enough work (>= ~50 ms, timed on a warm-up
     * round) that the parallel region's start-up does not dominate fast comparators. */
    size_t rounds = 1;
    for (int th = 1; th <= 2 && ok; th++) {
        omp_set_num_threads(th);
        for (size_t k = 0; k <= repeats && ok; k++) { /* k == 0: warm-up */
            double t0 = cli_now();
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
            double dt = cli_now() - t0;
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

static void usage_speed(FILE *f)
{
    fprintf(f, "Usage: ibex bench speed [--size N] [--repeats R] [--manifest M.tsv] [--out DIR]\n"
               "                        [--scale-dir DIR] [--quick] [--json]\n\n"
               "Measures, each as median, min and max over R repeats:\n"
               "  FFT: 2D float r2c + c2r of N x N (default 512) with the FFTW_ESTIMATE plans the baseline\n"
               "       comparators use, against FFTW's own FFTW_MEASURE plan; 1 and 2 threads\n"
               "  comparisons/s (1 and 2 threads) and preparation per scan of each kind's default\n"
               "       method on the first scans of fadul and hamby44-small (if the data is there)\n"
               "  peak memory (getrusage)\n"
               "  query latency against library size: libraries of 10^3, 10^4, 10^5, 10^6 synthetic\n"
               "       casings (--quick: 10^3, 4 x 10^3) built with 'ibex synth --lib' and indexed; stage 1\n"
               "       with 1 and 2 threads, ibex query after open (details: 'ibex bench scale')\n"
               "  --scale-dir DIR keeps those libraries and reuses them (default: built in a\n"
               "       temporary folder and removed).\n"
               "  --out DIR writes speed.json and speed.md; --json prints the JSON.\n"
               "  --quick: N = 256, R = 3; 3 casings (R = 2) and 4 lands.\n");
}

int bench_speed_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"size", required_argument, 0, 'n'}, {"repeats", required_argument, 0, 'r'},
        {"manifest", required_argument, 0, 'm'}, {"out", required_argument, 0, 'o'},
        {"quick", no_argument, 0, 'q'}, {"json", no_argument, 0, 'j'},
        {"scale-dir", required_argument, 0, 'S'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    size_t size = 0, repeats = 0;
    const char *manifest = NULL, *out = NULL, *scale_dir = NULL;
    int quick = 0, json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'n':
        case 'r': {
            errno = 0;
            unsigned long v = strtoul(optarg, &end, 10);
            if (errno || *end || end == optarg || optarg[0] == '-' || v < 1 ||
                (c == 'n' && (v < 8 || v > 8192)) || (c == 'r' && v > 1000))
                return cli_usage_error("--%s: bad value '%s'", c == 'n' ? "size" : "repeats", optarg);
            if (c == 'n') size = v;
            else repeats = v;
            break;
        }
        case 'm': manifest = optarg; break;
        case 'o': out = optarg; break;
        case 'q': quick = 1; break;
        case 'S': scale_dir = optarg; break;
        case 'j': json = 1; break;
        case 'h': usage_speed(stdout); return EXIT_OK;
        default: return cli_usage_error("unknown option");
        }
    }
    if (optind < argc) return cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (!size) size = quick ? 256 : 512;
    if (!repeats) repeats = quick ? 3 : 7;
    char defman[4096];
    if (!manifest) {
        snprintf(defman, sizeof defman, "%s/MANIFEST.tsv", cli_data_dir());
        manifest = defman;
    }
    int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (!fftwf_init_threads()) {
        cli_error("FFTW threads could not start");
        return EXIT_REFUSED;
    }
    /* Sizes 64, 128, ... below --size, then --size itself (the headline figures). */
    size_t sizes[16], n_sizes = 0;
    for (size_t s = 64; s < size && n_sizes < 15; s *= 2) sizes[n_sizes++] = s;
    sizes[n_sizes++] = size;
    static const char *keys[4] = {"estimate_plan_1_thread", "estimate_plan_2_threads",
                                  "fftw_measure_plan_1_thread", "fftw_measure_plan_2_threads"};
    double med[16][4], lo[16][4], hi[16][4];
    json_t *sweep = json_array(), *fft = NULL;
    for (size_t i = 0; i < n_sizes; i++) {
        json_t *pt = json_object();
        json_object_set_new(pt, "size", json_integer((json_int_t)sizes[i]));
        for (int c = 0; c < 4; c++) {
            json_t *a = fft_rate(sizes[i], 1 + c % 2, c < 2 ? FFTW_ESTIMATE : FFTW_MEASURE, repeats,
                                 &med[i][c]);
            if (!a) {
                json_decref(pt), json_decref(sweep);
                cli_error("out of memory for a %zu x %zu FFT", sizes[i], sizes[i]);
                return EXIT_REFUSED;
            }
            lo[i][c] = json_real_value(json_object_get(a, "min"));
            hi[i][c] = json_real_value(json_object_get(a, "max"));
            json_object_set_new(pt, keys[c], a);
        }
        if (i + 1 < n_sizes) json_array_append_new(sweep, pt);
        else fft = pt;
    }
    double load_fft = bench_load_average();
    double *last = med[n_sizes - 1];
    double est[3] = {0, last[0], last[1]}, meas[3] = {0, last[2], last[3]};
    json_object_set_new(fft, "estimate_over_measure_1_thread", json_real(est[1] / meas[1]));
    json_object_set_new(fft, "scaling_2_over_1_threads_measure", json_real(meas[2] / meas[1]));
    json_object_set_new(fft, "smaller_sizes", sweep);
    omp_set_num_threads(cores);
    fftwf_plan_with_nthreads(1);

    json_t *cmp = json_object();
    const char *kinds[] = {"cartridge", "bullet"}, *sets[] = {"fadul", "hamby44-small"};
    for (int k = 0; k < 2; k++) {
        /* --quick stays under a minute: a CMC comparison takes ~2 s, so 3 casings (3 pairs,
         * enough for 2 threads) and 2 repeats. */
        size_t nscans = quick ? (k == 0 ? 3 : 4) : 6, reps = quick && k == 0 && repeats > 2 ? 2 : repeats;
        json_t *r = compare_rate(manifest, kinds[k], sets[k], nscans, reps);
        if (!r) {
            json_decref(fft), json_decref(cmp);
            return EXIT_REFUSED;
        }
        json_object_set_new(cmp, kinds[k], r);
    }
    omp_set_num_threads(cores);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru); /* before the library runs: their children report their own */

    /* Query latency against library size (bench_scale.c). */
    json_t *scale = NULL;
    {
        static const size_t full[4] = {1000, 10000, 100000, 1000000}, q[2] = {1000, 4000};
        char tmpd[4200] = "";
        const char *dir = scale_dir;
        if (!dir) {
            const char *t = getenv("TMPDIR");
            snprintf(tmpd, sizeof tmpd, "%s/ibex-scale-XXXXXX", t && *t ? t : "/tmp");
            dir = mkdtemp(tmpd);
        }
        int bad = !dir || bench_scale_collect(quick ? q : full, quick ? 2 : 4, BENCH_SCALE_GRID, dir, repeats, quick ? 4 : 8,
                                              quick ? 0 : 4, 0, &scale);
        if (tmpd[0] && dir) bench_scale_remove_dir(tmpd);
        if (bad) {
            json_decref(fft), json_decref(cmp);
            return EXIT_REFUSED;
        }
        omp_set_num_threads(cores);
    }
    char cpu[256], rev[96];
    bench_cpu_model(cpu, sizeof cpu);
    bench_git_revision(rev, sizeof rev);
    double load_end = bench_load_average();
    json_t *root = json_pack("{s:s, s:s, s:s, s:{s:s, s:i, s:f, s:f}, s:{s:I, s:I}, s:o, s:o, s:I, s:o}",
                             "report", "ibex bench speed", "ibex_version", IBEX_VERSION_STRING,
                             "git_revision", rev, "machine", "cpu_model", cpu, "cores", cores,
                             "load_average_1min_after_fft", isfinite(load_fft) ? load_fft : -1.0,
                             "load_average_1min_at_end", isfinite(load_end) ? load_end : -1.0,
                             "configuration", "size", (json_int_t)size, "repeats", (json_int_t)repeats,
                             "fft", fft, "comparisons", cmp, "peak_memory_kib", (json_int_t)ru.ru_maxrss,
                             "query_latency_vs_library_size", scale);
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    int rc = text ? EXIT_OK : EXIT_REFUSED;
    if (text && out) {
        if (cli_make_dirs(out) != 0) {
            cli_error("%s: cannot create the report folder: %s", out, strerror(errno));
            rc = EXIT_REFUSED;
        }
        size_t pl = strlen(out) + 32;
        char *p = malloc(pl);
        if (!rc && p) {
            snprintf(p, pl, "%s/speed.json", out);
            rc = bench_write_file(p, text) ? EXIT_REFUSED : EXIT_OK;
        }
        if (!rc && p) {
            /* FFT throughput against size: IBEX's plans next to FFTW's best, 1 and 2 threads. */
            double xs[16], ymax = 0, ys[16], l[16], h[16];
            for (size_t i = 0; i < n_sizes; i++) {
                xs[i] = (double)sizes[i];
                for (int c = 0; c < 4; c++) ymax = fmax(ymax, hi[i][c]);
            }
            char title[384];
            snprintf(title, sizeof title, "FFT throughput, 2D float r2c + c2r (%s)", cpu);
            bench_plot *fig = bench_plot_create_ex(800, 560, title, "grid side n (n x n)", "GFLOP/s",
                                                  xs[0] / 1.5, xs[n_sizes - 1] * 1.5, 0,
                                                  1.35 * ymax, BENCH_PLOT_LOGX);
            static const char *lab[4] = {"FFTW_ESTIMATE (baselines), 1 thread", "FFTW_ESTIMATE (baselines), 2 threads",
                                         "FFTW_MEASURE, 1 thread", "FFTW_MEASURE, 2 threads"};
            static const int col[4] = {0, 5, 1, 3};
            for (int c = 0; c < 4 && fig; c++) {
                for (size_t i = 0; i < n_sizes; i++) ys[i] = med[i][c], l[i] = lo[i][c], h[i] = hi[i][c];
                bench_plot_line(fig, xs, ys, n_sizes, col[c], 2, c < 2, lab[c]);
                bench_plot_errorbars(fig, xs, l, h, n_sizes, col[c]);
                bench_plot_points(fig, xs, ys, n_sizes, col[c], NULL);
            }
            if (fig) bench_plot_legend(fig, 1);
            snprintf(p, pl, "%s/fft_vs_size.png", out);
            if (!fig || bench_plot_write(fig, p)) {
                cli_error("%s: cannot draw the plot", p);
                rc = EXIT_REFUSED;
            }
            snprintf(p, pl, "%s/latency_vs_size.png", out);
            if (!rc && bench_scale_plot(scale, p)) {
                cli_error("%s: cannot draw the plot", p);
                rc = EXIT_REFUSED;
            }
        }
        char *md = NULL;
        size_t ml = 0;
        FILE *f = open_memstream(&md, &ml);
        if (!rc && p && f) {
            fprintf(f, "# IBEX speed report\n\nibex %s, git %s, %s, %d cores, load average %.1f "
                       "after the FFT runs and %.1f at the end (on a busy machine, threads wait for "
                       "cores: compare with an idle run). Median [min, max] of %zu repeats.\n\n",
                    IBEX_VERSION_STRING, rev, cpu, cores, load_fft, load_end, repeats);
            fprintf(f, "| figure | 1 thread | 2 threads |\n|---|---|---|\n");
            const char *rows[][3] = {{"FFT %zu², FFTW_MEASURE plan (GFLOP/s)", "fftw_measure_plan_1_thread", "fftw_measure_plan_2_threads"},
                                     {"FFT %zu², FFTW_ESTIMATE plan as the baseline comparators use (GFLOP/s)", "estimate_plan_1_thread", "estimate_plan_2_threads"}};
            for (int i = 0; i < 2; i++) {
                json_t *a = json_object_get(fft, rows[i][1]), *b = json_object_get(fft, rows[i][2]);
                fprintf(f, "| ");
                fprintf(f, rows[i][0], size);
                fprintf(f, " | %.1f [%.1f, %.1f] | %.1f [%.1f, %.1f] |\n", median_of(a),
                        json_real_value(json_object_get(a, "min")), json_real_value(json_object_get(a, "max")),
                        median_of(b), json_real_value(json_object_get(b, "min")), json_real_value(json_object_get(b, "max")));
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
                fprintf(f, "| %s comparisons/s (%s) | %.1f [%.1f, %.1f] | %.1f [%.1f, %.1f] |\n", kinds[k], mn,
                        median_of(a), json_real_value(json_object_get(a, "min")), json_real_value(json_object_get(a, "max")),
                        median_of(b), json_real_value(json_object_get(b, "min")), json_real_value(json_object_get(b, "max")));
                fprintf(f, "| %s preparation per scan (%s, ms) | %.1f [%.1f, %.1f] | |\n", kinds[k], mn,
                        1e3 * median_of(pp), 1e3 * json_real_value(json_object_get(pp, "min")),
                        1e3 * json_real_value(json_object_get(pp, "max")));
            }
            fprintf(f, "| peak memory (MiB) | %.1f | |\n\n![FFT throughput against size](fft_vs_size.png)\n\n"
                       "FLOPs counted as 2.5 N log2 N per real 2D transform of N points.\n\n"
                       "## Query latency against library size\n\n",
                    (double)ru.ru_maxrss / 1024);
            bench_scale_markdown(scale, f);
            fprintf(f, "\n![query latency against library size](latency_vs_size.png)\n");
            fclose(f);
            snprintf(p, pl, "%s/speed.md", out);
            rc = bench_write_file(p, md) ? EXIT_REFUSED : EXIT_OK;
        } else if (f) fclose(f);
        free(md);
        free(p);
    }
    if (text && rc == EXIT_OK) {
        if (json) printf("%s\n", text);
        else {
            printf("FFT %zu^2 GFLOP/s (median): FFTW_MEASURE %.1f (1 thread), %.1f (2 threads); "
                   "ESTIMATE plan %.1f / %.1f\n", size, meas[1], meas[2], est[1], est[2]);
            for (int k = 0; k < 2; k++) {
                json_t *r = json_object_get(cmp, kinds[k]);
                json_t *a = json_object_get(r, "comparisons_per_second_1_thread");
                json_t *b = json_object_get(r, "comparisons_per_second_2_threads");
                if (a && b)
                    printf("%s comparisons/s (%s): %.1f (1 thread), %.1f (2 threads)\n", kinds[k],
                           json_string_value(json_object_get(r, "method")), median_of(a), median_of(b));
                else printf("%s comparisons/s: skipped\n", kinds[k]);
            }
            printf("peak memory: %.1f MiB\n", (double)ru.ru_maxrss / 1024);
        }
    }
    free(text);
    json_decref(root);
    return rc;
}
