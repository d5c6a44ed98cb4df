/* ibex bench: accuracy (ROC, AUC, error rates, ranks, likelihood ratios), speed and library
 * scale. The harness is the library's (ibex/bench.h): this parses the options, passes
 * cli_progress as the progress printer, and prints the figures. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ibex/bench.h"

/* The program the scale runs start as child processes: this very binary, even if its file
 * was replaced meanwhile. */
#define SELF "/proc/self/exe"

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
        case 'S': o.scale_dir = optarg; break;
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
    o.program = SELF; /* query latency against library size runs this command */
    o.progress = cli_progress;
    ibex_bench_speed *sp = NULL;
    ibex_diag d;
    ibex_diag_clear(&d);
    ibex_status s = ibex_bench_speed_run(&o, &sp, &d);
    cli_progress_end();
    if (s) return cli_fail_status(s, &d);
    speed_print(sp, json);
    ibex_bench_speed_free(sp);
    return EXIT_OK;
}
static void usage_scale(FILE *f)
{
    fprintf(f, "Usage: ibex bench scale [--sizes N,N,...] [--grid G] [--dir DIR] [--repeats R]\n"
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
}

/* --sizes: a comma-separated list of 64..1e7 (1e6 allowed); 0, or nonzero when malformed. */
static int parse_sizes(const char *arg, size_t sizes[16], size_t *n)
{
    char *e;
    *n = 0;
    for (const char *p = arg; *p && *n < 16;) {
        errno = 0;
        double v = strtod(p, &e);
        if (errno || e == p || !(v >= 64 && v <= 1e7) || (*e && *e != ',')) return 1;
        sizes[(*n)++] = (size_t)v;
        p = *e ? e + 1 : e;
    }
    return 0;
}

/* --repeats, --queries, --stage2-pairs, --grid: an integer in their range. */
static int parse_count(int c, const char *arg, ibex_bench_scale_opts *o)
{
    char *e;
    errno = 0;
    long v = strtol(arg, &e, 10);
    long lo = c == 'p' ? 0 : c == 'g' ? 32 : 1, hi = c == 'q' ? 16 : c == 'g' ? 1024 : 1000;
    if (errno || *e || v < lo || v > hi) return cli_usage_error("bad value '%s' (%ld..%ld)", arg, lo, hi);
    if (c == 'r') o->repeats = (size_t)v;
    else if (c == 'q') o->queries = (size_t)v;
    else if (c == 'g') o->grid = (size_t)v;
    else o->stage2_pairs = (size_t)v;
    return EXIT_OK;
}

static int scale_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"sizes", required_argument, 0, 's'},  {"dir", required_argument, 0, 'd'},
        {"repeats", required_argument, 0, 'r'}, {"queries", required_argument, 0, 'q'},
        {"stage2-pairs", required_argument, 0, 'p'}, {"out", required_argument, 0, 'o'},
        {"quick", no_argument, 0, 'Q'},         {"json", no_argument, 0, 'j'},
        {"grid", required_argument, 0, 'g'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    ibex_bench_scale_opts o;
    ibex_bench_scale_opts_init(&o);
    size_t sizes[16];
    int json = 0, c, rc;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (parse_sizes(optarg, sizes, &o.n_sizes))
                return cli_usage_error("--sizes: a comma-separated list of 64..1e7, not '%s'", optarg);
            o.sizes = sizes;
            break;
        case 'r':
        case 'q':
        case 'p':
        case 'g':
            if ((rc = parse_count(c, optarg, &o))) return rc;
            break;
        case 'd': o.dir = optarg; break;
        case 'o': o.out_dir = optarg; break;
        case 'Q': o.quick = 1; break;
        case 'j': json = 1; break;
        case 'h': usage_scale(stdout); return EXIT_OK;
        default: return cli_usage_error("unknown option");
        }
    }
    if (optind < argc) return cli_usage_error("unexpected argument '%s'", argv[optind]);
    o.program = SELF;
    if (!json) o.progress = cli_progress; /* with --json, stderr stays as quiet as stdout is plain */
    ibex_bench_scale *r = NULL;
    ibex_diag d;
    ibex_diag_clear(&d);
    ibex_status s = ibex_bench_scale_run(&o, &r, &d);
    cli_progress_end();
    if (s) return cli_fail_status(s, &d);
    char *text = NULL;
    s = json ? ibex_bench_scale_get_json(r, &text) : ibex_bench_scale_get_markdown(r, &text);
    if (!s) fputs(text, stdout), fputs(json ? "\n" : "", stdout);
    free(text);
    ibex_bench_scale_free(r);
    return s ? cli_fail_status(s, NULL) : EXIT_OK;
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
    else if (!strcmp(sub, "scale")) rc = scale_main(argc - 1, argv + 1);
    else return cli_usage_error("unknown bench subcommand '%s' (accuracy, speed or scale)", sub);
    ibex_bench_plots_free();
    return rc;
}
