/* ibex bench: accuracy (ROC, AUC, error rates, ranks, likelihood ratios) and speed. The
 * harness is the library's (ibex/bench.h): this parses the options, passes cli_progress as
 * the progress printer, and prints the figures. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h" /* ibex bench scale, still in the command */
#include "cli.h"

static void usage_bench(FILE *f)
{
    fprintf(f, "Usage: ibex bench accuracy [OPTIONS]\n"
               "       ibex bench speed [OPTIONS]\n"
               "       ibex bench scale [OPTIONS]\n\n"
               "accuracy: score every pair of a set of scans with ground truth and report the\n"
               "  score distributions, ROC and AUC (bootstrap interval), error rates at the\n"
               "  method's threshold, equal-error rate, rank of the first true mate (top-1/5/10)\n"
               "  and score-based likelihood ratios. 'ibex bench accuracy --help' for options.\n"
               "speed: FFT throughput against FFTW, 1 vs 2 threads, comparisons per second,\n"
               "  peak memory. 'ibex bench speed --help' for options.\n"
               "scale: reference libraries of 10^3..10^6 synthetic casings: build, index and query\n"
               "  rates, memory, recall. 'ibex bench scale --help' for options.\n");
}

static void usage_accuracy(FILE *f)
{
    fprintf(f,
            "Usage: ibex bench accuracy [--manifest M.tsv] [--kind cartridge|bullet] [--set NAME]\n"
            "                           [--method NAME] [--out DIR] [--quick] [--json]\n\n"
            "Scores all pairs of the scans a manifest lists (columns of MANIFEST.tsv:\n"
            "relative_path, kind, set, same_source_key; paths relative to the manifest's folder\n"
            "or to the working directory). Two scans share a source when their same_source_key\n"
            "is equal; pairs are formed within a set only. Writes report.json, report.md,\n"
            "score histogram, ROC and rank-curve PNGs and a pairs TSV per kind into DIR.\n\n"
            "  --manifest M     manifest (default: $IBEX_DATA/MANIFEST.tsv)\n"
            "  --kind K         cartridge or bullet (default: every kind in the selection)\n"
            "  --set NAME       only rows of this set (e.g. fadul, hamby44, hamby44-small)\n"
            "  --method NAME    comparison method (default: the kind's default); --list-methods\n"
            "  --out DIR        report folder (default: bench-report)\n"
            "  --quick          CI subset: sets fadul and hamby44-small unless --set, at most\n"
            "                   8 cartridge and 12 bullet scans per set, 200 bootstrap resamples\n"
            "  --resamples N    bootstrap resamples (default 2000)\n"
            "  --seed N         bootstrap seed (default 1)\n"
            "  --threads N      OpenMP threads (default: all cores)\n"
            "  --json           print report.json on stdout\n"
            "  --list-methods   list the methods and exit\n");
}

static void list_methods(void)
{
    for (size_t i = 0; i < ibex_bench_method_count(); i++) {
        ibex_bench_method_info m;
        if (ibex_bench_method_get(i, &m)) continue;
        printf("%-14s %-9s threshold %-5g %s\n", m.name, m.kind, m.threshold, m.description);
    }
}

/* The kind a method compares, or NULL for an unknown name. */
static const char *method_kind(const char *name)
{
    for (size_t i = 0; i < ibex_bench_method_count(); i++) {
        ibex_bench_method_info m;
        if (!ibex_bench_method_get(i, &m) && !strcmp(m.name, name)) return m.kind;
    }
    return NULL;
}

static int parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-') return 1;
    *out = (size_t)v;
    return 0;
}

int bench_write_file(const char *path, const char *text)
{
    ibex_diag d;
    ibex_status s = bench_write_text(path, text, &d);
    return s ? cli_fail_status(s, &d) : 0;
}

/* A figure report.json holds as null (the text summary always printed it as 0). */
static double shown(double v) { return isfinite(v) ? v : 0; }

/* The run's notes, then one line per study and where the report is. */
static int accuracy_print(const ibex_bench_accuracy *a, int json, const char *out)
{
    for (size_t k = 0; ibex_bench_accuracy_get_note(a, k); k++) cli_error("%s", ibex_bench_accuracy_get_note(a, k));
    if (json) {
        char *text = NULL;
        if (ibex_bench_accuracy_get_json(a, &text)) return cli_error("out of memory"), EXIT_REFUSED;
        printf("%s\n", text);
        free(text);
        return EXIT_OK;
    }
    for (size_t i = 0; i < ibex_bench_accuracy_get_count(a); i++) {
        ibex_bench_study_figures f;
        ibex_bench_study_figures_init(&f);
        if (ibex_bench_accuracy_get(a, i, &f)) continue;
        printf("%s (%s on %s, %lld pairs): AUC %.3f [%.3f, %.3f], EER %.3f, top-1 %.3f\n", f.kind,
               f.method, f.sets, (long long)f.n_pairs, shown(f.auc), shown(f.auc_lo), shown(f.auc_hi),
               shown(f.eer), shown(f.top1));
    }
    printf("report: %s/report.md\n", out);
    return EXIT_OK;
}

static int accuracy_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"manifest", required_argument, 0, 'm'}, {"kind", required_argument, 0, 'k'},
        {"set", required_argument, 0, 's'},      {"method", required_argument, 0, 'M'},
        {"out", required_argument, 0, 'o'},      {"quick", no_argument, 0, 'q'},
        {"json", no_argument, 0, 'j'},           {"resamples", required_argument, 0, 'r'},
        {"seed", required_argument, 0, 'S'},     {"threads", required_argument, 0, 't'},
        {"list-methods", no_argument, 0, 'L'},   {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    ibex_bench_accuracy_opts o;
    ibex_bench_accuracy_opts_init(&o);
    int json = 0, c;
    size_t seed = 1, threads = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': o.manifest = optarg; break;
        case 'k': o.kind = optarg; break;
        case 's': o.set = optarg; break;
        case 'M': o.method = optarg; break;
        case 'o': o.out_dir = optarg; break;
        case 'q': o.quick = 1; break;
        case 'j': json = 1; break;
        case 'r':
            if (parse_size(optarg, &o.resamples) || o.resamples < 2)
                return cli_usage_error("--resamples needs an integer >= 2, not '%s'", optarg);
            break;
        case 'S':
            if (parse_size(optarg, &seed)) return cli_usage_error("--seed needs an integer, not '%s'", optarg);
            break;
        case 't':
            if (parse_size(optarg, &threads) || threads < 1 || threads > 1024)
                return cli_usage_error("--threads needs an integer in 1..1024, not '%s'", optarg);
            break;
        case 'L': list_methods(); return EXIT_OK;
        case 'h': usage_accuracy(stdout); return EXIT_OK;
        default: return cli_usage_error("unknown option");
        }
    }
    if (optind < argc) return cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (o.kind && strcmp(o.kind, "cartridge") && strcmp(o.kind, "bullet"))
        return cli_usage_error("--kind must be cartridge or bullet, not '%s'", o.kind);
    if (o.method) {
        const char *mk = method_kind(o.method);
        if (!mk) return cli_usage_error("unknown method '%s' (see --list-methods)", o.method);
        if (o.kind && strcmp(o.kind, mk))
            return cli_usage_error("method %s compares %s scans, not %s", o.method, mk, o.kind);
    }
    o.seed = (uint64_t)seed;
    o.threads = (int)threads;
    char defman[4096];
    if (!o.manifest) {
        snprintf(defman, sizeof defman, "%s/MANIFEST.tsv", cli_data_dir());
        o.manifest = defman;
    }
    char command[2048] = "ibex bench accuracy";
    for (int i = 1; i < argc; i++) {
        size_t l = strlen(command);
        snprintf(command + l, sizeof command - l, " %s", argv[i]);
    }
    o.command = command;
    o.progress = cli_progress;

    ibex_bench_accuracy *a = NULL;
    ibex_diag d;
    ibex_diag_clear(&d);
    ibex_status s = ibex_bench_accuracy_run(&o, &a, &d);
    cli_progress_end();
    if (s) return cli_fail_status(s, &d);
    int rc = accuracy_print(a, json, o.out_dir);
    ibex_bench_accuracy_free(a);
    return rc;
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

/* The speed report's query-latency section (ibex_bench_section_fn): measured here because
 * the query pipeline is the command's. */
typedef struct scale_section {
    const char *dir;      /* --scale-dir, or NULL: a temporary folder */
    int quick;
    size_t repeats;
    int failed;           /* its failure is printed already */
} scale_section;

static int scale_section_run(void *user, const char *out_dir, char **json, char **md)
{
    scale_section *sec = user;
    static const size_t full[4] = {1000, 10000, 100000, 1000000}, q[2] = {1000, 4000};
    char tmpd[4200] = "";
    const char *dir = sec->dir;
    if (!dir) {
        const char *t = getenv("TMPDIR");
        snprintf(tmpd, sizeof tmpd, "%s/ibex-scale-XXXXXX", t && *t ? t : "/tmp");
        dir = mkdtemp(tmpd);
    }
    json_t *scale = NULL;
    int bad = !dir || bench_scale_collect(sec->quick ? q : full, sec->quick ? 2 : 4, BENCH_SCALE_GRID, dir,
                                          sec->repeats, sec->quick ? 4 : 8, sec->quick ? 0 : 4, 0, &scale);
    if (tmpd[0] && dir) bench_scale_remove_dir(tmpd);
    char p[4200];
    snprintf(p, sizeof p, "%s/latency_vs_size.png", out_dir ? out_dir : ".");
    if (!bad && out_dir && ibex_bench_get_plots() && bench_scale_plot(scale, p)) {
        cli_error("%s: cannot draw the plot", p);
        bad = 1;
    }
    size_t ml = 0;
    FILE *f = bad ? NULL : open_memstream(md, &ml);
    if (f) {
        fprintf(f, "## Query latency against library size\n\n");
        bench_scale_markdown(scale, f);
        if (ibex_bench_get_plots()) fprintf(f, "\n![query latency against library size](latency_vs_size.png)\n");
        else fprintf(f, "\nQuery latency against library size: figure not drawn (built without cairo).\n");
        fclose(f);
        *json = json_dumps(scale, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    }
    json_decref(scale);
    sec->failed = bad;
    return bad || !f || !*json;
}
static void speed_print(const ibex_bench_speed *sp, int json)
{
    if (json) {
        char *text = NULL;
        if (!ibex_bench_speed_get_json(sp, &text)) printf("%s\n", text);
        free(text);
        return;
    }
    ibex_bench_speed_figures f;
    ibex_bench_speed_figures_init(&f);
    if (ibex_bench_speed_get(sp, &f)) return;
    printf("FFT %zu^2 GFLOP/s (median): FFTW_MEASURE %.1f (1 thread), %.1f (2 threads); "
           "ESTIMATE plan %.1f / %.1f\n", f.grid, f.fft_measure_1_thread, f.fft_measure_2_threads,
           f.fft_estimate_1_thread, f.fft_estimate_2_threads);
    const char *kinds[] = {"cartridge", "bullet"};
    const ibex_bench_speed_kind *k[2] = {&f.cartridge, &f.bullet};
    for (int i = 0; i < 2; i++) {
        if (k[i]->measured)
            printf("%s comparisons/s (%s): %.1f (1 thread), %.1f (2 threads)\n", kinds[i], k[i]->method,
                   k[i]->per_second_1_thread, k[i]->per_second_2_threads);
        else printf("%s comparisons/s: skipped\n", kinds[i]);
    }
    printf("peak memory: %.1f MiB\n", f.peak_memory_kib / 1024);
}

static int speed_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"size", required_argument, 0, 'n'}, {"repeats", required_argument, 0, 'r'},
        {"manifest", required_argument, 0, 'm'}, {"out", required_argument, 0, 'o'},
        {"quick", no_argument, 0, 'q'}, {"json", no_argument, 0, 'j'},
        {"scale-dir", required_argument, 0, 'S'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    ibex_bench_speed_opts o;
    ibex_bench_speed_opts_init(&o);
    scale_section sec = {NULL, 0, 0, 0};
    int json = 0, c;
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
            if (c == 'n') o.grid = v;
            else o.repeats = v;
            break;
        }
        case 'm': o.manifest = optarg; break;
        case 'o': o.out_dir = optarg; break;
        case 'q': o.quick = 1; break;
        case 'S': sec.dir = optarg; break;
        case 'j': json = 1; break;
        case 'h': usage_speed(stdout); return EXIT_OK;
        default: return cli_usage_error("unknown option");
        }
    }
    if (optind < argc) return cli_usage_error("unexpected argument '%s'", argv[optind]);
    char defman[4096];
    if (!o.manifest) {
        snprintf(defman, sizeof defman, "%s/MANIFEST.tsv", cli_data_dir());
        o.manifest = defman;
    }
    sec.quick = o.quick;
    sec.repeats = o.repeats ? o.repeats : o.quick ? 3 : 7;
    o.section_key = "query_latency_vs_library_size";
    o.section = scale_section_run;
    o.section_user = &sec;
    o.progress = cli_progress;
    ibex_bench_speed *sp = NULL;
    ibex_diag d;
    ibex_diag_clear(&d);
    ibex_status s = ibex_bench_speed_run(&o, &sp, &d);
    cli_progress_end();
    if (s) return sec.failed ? EXIT_REFUSED : cli_fail_status(s, &d);
    speed_print(sp, json);
    ibex_bench_speed_free(sp);
    return EXIT_OK;
}
int cmd_bench(int argc, char **argv)
{
    if (argc < 2) {
        usage_bench(stderr);
        return EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h")) {
        usage_bench(stdout);
        return EXIT_OK;
    }
    int rc;
    if (!strcmp(sub, "accuracy")) rc = accuracy_main(argc - 1, argv + 1);
    else if (!strcmp(sub, "speed")) rc = speed_main(argc - 1, argv + 1);
    else if (!strcmp(sub, "scale")) rc = bench_scale_main(argc - 1, argv + 1);
    else return cli_usage_error("unknown bench subcommand '%s' (accuracy, speed or scale)", sub);
    bench_plot_cleanup();
    return rc;
}
