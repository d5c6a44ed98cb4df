/* ibex bench: accuracy (ROC, AUC, error rates, ranks, likelihood ratios) and speed. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
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
    for (size_t i = 0; i < bench_method_count(); i++) {
        const bench_method *m = bench_method_get(i);
        printf("%-14s %-9s threshold %-5g %s\n", m->name, m->kind, m->threshold, m->description);
    }
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
    const char *manifest = NULL, *kind = NULL, *set = NULL, *method = NULL, *out = "bench-report";
    int quick = 0, json = 0;
    size_t resamples = 0, seed = 1, threads = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': manifest = optarg; break;
        case 'k': kind = optarg; break;
        case 's': set = optarg; break;
        case 'M': method = optarg; break;
        case 'o': out = optarg; break;
        case 'q': quick = 1; break;
        case 'j': json = 1; break;
        case 'r':
            if (parse_size(optarg, &resamples) || resamples < 2)
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
    if (kind && strcmp(kind, "cartridge") && strcmp(kind, "bullet"))
        return cli_usage_error("--kind must be cartridge or bullet, not '%s'", kind);
    const bench_method *forced = NULL;
    if (method) {
        forced = bench_method_find(method);
        if (!forced) return cli_usage_error("unknown method '%s' (see --list-methods)", method);
        if (kind && strcmp(kind, forced->kind))
            return cli_usage_error("method %s compares %s scans, not %s", method, forced->kind, kind);
        kind = forced->kind;
    }
    if (!resamples) resamples = quick ? 200 : 2000;
    if (threads) omp_set_num_threads((int)threads);
    char defman[4096];
    if (!manifest) {
        snprintf(defman, sizeof defman, "%s/MANIFEST.tsv", cli_data_dir());
        manifest = defman;
    }

    char command[2048] = "ibex bench accuracy";
    for (int i = 1; i < argc; i++) {
        size_t l = strlen(command);
        snprintf(command + l, sizeof command - l, " %s", argv[i]);
    }

    static const char *kinds[] = {"cartridge", "bullet"};
    static const char *quick_sets[] = {"fadul", "hamby44-small"};
    static const size_t quick_max[] = {8, 12}; /* CMC costs ~1 s a pair: 28 pairs */
    bench_manifest man[2] = {{0}};
    bench_study st[2];
    size_t ns = 0;
    int rc = 0;
    for (int k = 0; k < 2 && !rc; k++) {
        if (kind && strcmp(kind, kinds[k])) continue;
        const char *sel = set ? set : quick ? quick_sets[k] : NULL;
        if (bench_manifest_read(manifest, kinds[k], sel, &man[k])) {
            rc = EXIT_REFUSED;
            break;
        }
        if (man[k].n == 0) {
            if (kind) {
                cli_error("%s: no %s scans with ground truth%s%s", manifest, kinds[k],
                          sel ? " in set " : "", sel ? sel : "");
                rc = EXIT_REFUSED;
            }
            continue;
        }
        const bench_method *m = forced ? forced : bench_method_default(kinds[k]);
        if (!m) {
            cli_error("no comparison method for %s scans is built", kinds[k]);
            rc = EXIT_REFUSED;
            break;
        }
        if (bench_study_run(&st[ns], m, &man[k], kinds[k], quick ? quick_max[k] : 0)) {
            bench_study_free(&st[ns]);
            rc = EXIT_REFUSED;
            break;
        }
        ns++;
    }
    if (!rc && ns == 0) {
        cli_error("%s: no cartridge or bullet scans with ground truth%s%s", manifest,
                  set ? " in set " : "", set ? set : "");
        rc = EXIT_REFUSED;
    }
    if (!rc) {
        bench_report_opts ro = {out, manifest, set, quick, resamples, (uint64_t)seed, command};
        char *text = NULL;
        if (bench_report_write(st, ns, &ro, &text)) rc = EXIT_REFUSED;
        else if (json) printf("%s\n", text);
        else {
            json_t *root = text ? json_loads(text, 0, NULL) : NULL;
            json_t *arr = json_object_get(root, "studies"), *s;
            size_t i;
            json_array_foreach(arr, i, s) {
                json_t *ci = json_object_get(s, "auc_ci"), *rk = json_object_get(s, "ranks");
                printf("%s (%s on %s, %lld pairs): AUC %.3f [%.3f, %.3f], EER %.3f, top-1 %.3f\n",
                       json_string_value(json_object_get(s, "kind")),
                       json_string_value(json_object_get(json_object_get(s, "method"), "name")),
                       json_string_value(json_object_get(s, "sets")),
                       (long long)json_integer_value(json_object_get(s, "n_pairs")),
                       json_number_value(json_object_get(s, "auc")),
                       json_number_value(json_object_get(ci, "lo")),
                       json_number_value(json_object_get(ci, "hi")),
                       json_number_value(json_object_get(s, "eer")),
                       json_number_value(json_object_get(rk, "top1")));
            }
            json_decref(root);
            printf("report: %s/report.md\n", out);
        }
        free(text);
    }
    for (size_t i = 0; i < ns; i++) bench_study_free(&st[i]);
    bench_manifest_free(&man[0]);
    bench_manifest_free(&man[1]);
    return rc;
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
    else if (!strcmp(sub, "speed")) rc = bench_speed_main(argc - 1, argv + 1);
    else if (!strcmp(sub, "scale")) rc = bench_scale_main(argc - 1, argv + 1);
    else return cli_usage_error("unknown bench subcommand '%s' (accuracy, speed or scale)", sub);
    bench_plot_cleanup();
    return rc;
}
