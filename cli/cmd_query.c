/* ibex query: rank a library's specimens against query scans (the two-stage search of
 * include/ibex/search.h) and print the ranked lists as text, JSON or CSV. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "ibex/search.h"
#include "query_mpi.h"

static void help(void)
{
    printf("Usage: ibex query [OPTIONS] LIB.h5 QUERY...\n\n"
           "Rank the library's specimens against each query scan (X3P or PNG). Stage 1 scores\n"
           "every indexed specimen of the query's kind with the stage-1 descriptor ('ibex index'\n"
           "must have been run) and keeps a shortlist; stage 2 re-scores the shortlist with the\n"
           "full comparison of 'ibex compare' (cartridge cases: preprocessing, then Congruent\n"
           "Matching Cells), in parallel, and ranks by the CMC score. Several query files are\n"
           "scored in one batch.\n\n"
           "  --top N          print the best N candidates per query (default 10; 0 = all)\n"
           "  --shortlist K    stage-1 shortlist size (default max(50, 1%% of the indexed\n"
           "                   specimens), capped at their number)\n"
           "  --stage1-only    skip stage 2: rank by the stage-1 similarity alone\n"
           "  --exact K|all    cartridges: when the shortlist is longer than K, screen it first\n"
           "                   (whole-surface NCC over CMC's rotation window, a few ms a\n"
           "                   pair) and run the exhaustive CMC for the best K only; the rest\n"
           "                   are listed after them by the screen (default %d; all = CMC\n"
           "                   for the whole shortlist)\n"
           "  --prealign       cartridge stage 2: find the rotation over the full circle first\n"
           "                   (as 'ibex compare --prealign'), for casings in any orientation\n"
           "  --exclude-self   leave out a library specimen with the query file's SHA-256\n"
           "  --within FILE    search only the specimens whose ids FILE lists (one per line;\n"
           "                   blank lines and '#' comments skipped): both stages, shortlist\n"
           "                   rule applied to them; an unknown id is refused\n"
           "  --kind cartridge|bullet  query kind (default: from the scan's metadata, else\n"
           "                   an elongated grid means a bullet land)\n"
           "  --threads N      worker threads for stage 2 (default: all)\n"
           "  --mpi            one rank of an MPI job ('mpirun -n K ibex query --mpi ...'):\n"
           "                   each rank scores a 1/K slab of the library's rows, rank 0\n"
           "                   prints the same list as one process (docs/reference/sharding.md)\n"
           "  --json           one JSON object per query (with a \"candidates\" array)\n"
           "  --csv            one CSV row per candidate, with a header\n"
           "  -h, --help       this text\n\n"
           "Columns: rank, specimen id, firearm_id and same_source_key (when the library has\n"
           "them), stage-1 cosine, CMC score (mean over both directions of the summed CCF of\n"
           "congruent cells), CMC count (smaller direction, original rule), log10 LR of the\n"
           "CMC count from the calibration shipped with IBEX (casings, stage 2 without\n"
           "--prealign; docs/reference/calibration.md) and verdict; a screened-out candidate\n"
           "(--exact) shows its screening NCC instead.\n"
           "Bullets: a query is one land scan, compared with the library's land scans: stage 1\n"
           "uses the profile descriptor of the land signature, stage 2 the bullet engine's land\n"
           "comparison; score = calibrated land score, the cmc column holds the CMS count, and\n"
           "the verdict uses its land thresholds (>= %.1f identification, <= %.1f elimination).\n\n"
           "Exit status: 0 done, 1 a query or the library refused (no index, other parameters,\n"
           "wrong kind, unreadable file), 2 usage error.\n",
           IBEX_SEARCH_EXACT_TOP, IBEX_LAND_ID, IBEX_LAND_ELIM);
}

static const char *str_or(const char *s, const char *dflt) { return s && *s ? s : dflt; }

static void csv_field(const char *s)
{
    if (!s) return;
    if (!strpbrk(s, ",\"\n")) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"') putchar('"');
        putchar(*s);
    }
    putchar('"');
}

/* The stage-2 fields of one candidate: the shape of the node's /v1/query answer too. */
static void cand_json(json_t *a, const ibex_search_candidate *cd, int bullet)
{
    if (cd->done) {
        json_object_set_new(a, "score", json_real(cd->score));
        if (bullet) {
            json_object_set_new(a, "cms", json_integer(cd->cmc));
            json_object_set_new(a, "ccf", json_real(cd->ccf));
        } else {
            json_object_set_new(a, "cmc", json_integer(cd->cmc));
            json_object_set_new(a, "cmc_high", json_integer(cd->cmc_high));
        }
        json_object_set_new(a, "verdict", json_string(ibex_verdict_name(cd->verdict)));
    } else {
        json_object_set_new(a, "score", json_null());
        json_object_set_new(a, "cmc", json_null());
        json_object_set_new(a, "verdict", json_null());
        if (cd->error[0]) json_object_set_new(a, "error", json_string(cd->error));
    }
    if (!bullet && !isnan(cd->screen)) {
        json_object_set_new(a, "screen", json_real(cd->screen));
        json_object_set_new(a, "screened_out", json_boolean(cd->screened_out));
    }
}

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

/* One JSON object for query i, with its "candidates" array. */
static void print_json(const ibex_search_result *res, size_t i, const char *path, const char *qpath, size_t show)
{
    const ibex_search_info *in = ibex_search_result_info(res);
    json_t *o = json_object(), *arr = json_array();
    json_object_set_new(o, "query", json_string(qpath));
    json_object_set_new(o, "library", json_string(path));
    json_object_set_new(o, "kind", json_string(in->kind));
    json_object_set_new(o, "indexed", json_integer((json_int_t)in->indexed));
    json_object_set_new(o, "not_indexed", json_integer((json_int_t)in->not_indexed));
    json_object_set_new(o, "shortlist", json_integer((json_int_t)ibex_search_result_count(res, i)));
    json_object_set_new(o, "stage2", json_boolean(in->stage2));
    json_object_set_new(o, "prealign", json_boolean(in->prealign));
    json_object_set_new(o, "stage1_seconds", json_real(in->t_stage1));
    json_object_set_new(o, "stage2_seconds", json_real(in->t_stage2));
    if (in->exact_top == IBEX_SEARCH_EXACT_ALL) json_object_set_new(o, "exact_top", json_string("all"));
    else json_object_set_new(o, "exact_top", json_integer((json_int_t)in->exact_top));
    json_object_set_new(o, "screened", json_integer((json_int_t)in->screened));
    /* The parts: reading queries and opening the library (kind column), loading the
     * index into memory, query descriptors, and the search itself (SGEMV/SGEMM + top-K)
     * for the whole batch. */
    json_t *tm = json_object();
    json_object_set_new(tm, "open", json_real(in->t_open));
    json_object_set_new(tm, "load_index", json_real(in->t_load_index));
    json_object_set_new(tm, "descriptors", json_real(in->t_descriptors));
    json_object_set_new(tm, "search", json_real(in->t_search));
    json_object_set_new(tm, "stage2", json_real(in->t_stage2));
    json_object_set_new(tm, "screen", json_real(in->t_screen));
    json_object_set_new(tm, "queries", json_integer((json_int_t)in->queries));
    json_object_set_new(o, "timing", tm);
    json_object_set_new(o, "lr_calibration", str_or_null(in->lr_calibration));
    for (size_t h = 0; h < show; h++) {
        const ibex_search_candidate *cd = ibex_search_result_get(res, i, h);
        json_t *a = json_object();
        json_object_set_new(a, "rank", json_integer((json_int_t)(h + 1)));
        json_object_set_new(a, "row", json_integer((json_int_t)cd->row));
        json_object_set_new(a, "id", json_string(str_or(cd->id, "")));
        json_object_set_new(a, "firearm_id", str_or_null(cd->firearm_id));
        json_object_set_new(a, "same_source_key", str_or_null(cd->same_source_key));
        json_object_set_new(a, "stage1", json_real(cd->stage1));
        cand_json(a, cd, in->bullet);
        if (cd->has_lr) {
            json_object_set_new(a, "log10_lr", json_real(cd->log10_lr));
            json_object_set_new(a, "lr_verbal", json_string(cd->lr_verbal));
        }
        json_array_append_new(arr, a);
    }
    json_object_set_new(o, "candidates", arr);
    json_dumpf(o, stdout, JSON_COMPACT);
    putchar('\n');
    json_decref(o);
}

static void print_csv(const ibex_search_result *res, size_t i, const char *qpath, size_t show)
{
    int bullet = ibex_search_result_info(res)->bullet;
    for (size_t h = 0; h < show; h++) {
        const ibex_search_candidate *cd = ibex_search_result_get(res, i, h);
        csv_field(qpath);
        printf(",%zu,%zu,", h + 1, cd->row);
        csv_field(cd->id);
        putchar(',');
        csv_field(cd->firearm_id);
        putchar(',');
        csv_field(cd->same_source_key);
        if (cd->done && bullet)
            printf(",%.4f,%.3f,%u,%.4f,%s\n", cd->stage1, cd->score, cd->cmc, cd->ccf, ibex_verdict_name(cd->verdict));
        else if (cd->done)
            printf(",%.4f,%.3f,%u,%u,%s\n", cd->stage1, cd->score, cd->cmc, cd->cmc_high,
                   ibex_verdict_name(cd->verdict));
        else
            printf(",%.4f,,,,\n", cd->stage1);
    }
}

static void print_text(const ibex_search_result *res, size_t i, const char *qpath, size_t show)
{
    const ibex_search_info *in = ibex_search_result_info(res);
    int lr = in->lr_calibration != NULL;
    printf("query %s: %zu indexed %s specimens, shortlist %zu, stage 1 %.2f s, stage 2 %.1f s%s\n", qpath,
           in->indexed, in->kind, ibex_search_result_count(res, i), in->t_stage1, in->t_stage2,
           in->stage2 ? "" : " (skipped)");
    if (in->screened)
        printf("stage 2 in two steps: %zu pairs screened (whole-surface NCC, %.1f s), CMC for the best "
               "%zu of each list; the rest ranked by the screen\n",
               in->screened, in->t_screen, in->exact_top);
    printf("%4s  %-24s %-10s %-16s %7s %8s %4s %s %s\n", "rank", "id", "firearm", "source_key", "stage1", "score",
           in->bullet ? "cms" : "cmc", lr ? "log10LR" : "", "verdict");
    for (size_t h = 0; h < show; h++) {
        const ibex_search_candidate *cd = ibex_search_result_get(res, i, h);
        printf("%4zu  %-24s %-10s %-16s %7.3f ", h + 1, str_or(cd->id, "?"), str_or(cd->firearm_id, "-"),
               str_or(cd->same_source_key, "-"), cd->stage1);
        if (cd->done && cd->has_lr)
            printf("%8.2f %4u %7.2f %s\n", cd->score, cd->cmc, cd->log10_lr, ibex_verdict_name(cd->verdict));
        else if (cd->done)
            printf("%8.2f %4u  %s\n", cd->score, cd->cmc, ibex_verdict_name(cd->verdict));
        else if (cd->screened_out)
            printf("%8s %4s  screened out (NCC %.3f)\n", "-", "-", cd->screen);
        else
            printf("%8s %4s  %s\n", "-", "-", cd->error[0] ? cd->error : "-");
    }
}

static void print_results(const ibex_search_result *res, const char *path, char **qpath, size_t nq, long top,
                          int json, int csv)
{
    if (csv)
        printf("query,rank,row,id,firearm_id,same_source_key,stage1,score,%s,verdict\n",
               ibex_search_result_info(res)->bullet ? "cms,ccf" : "cmc,cmc_high");
    for (size_t i = 0; i < nq; i++) {
        size_t nc = ibex_search_result_count(res, i), show = top && (size_t)top < nc ? (size_t)top : nc;
        if (json) {
            print_json(res, i, path, qpath[i], show);
        } else if (csv) {
            print_csv(res, i, qpath[i], show);
        } else {
            print_text(res, i, qpath[i], show);
            if (i + 1 < nq) putchar('\n');
        }
    }
}

/* Reads the queries (a bad file is refused before any work on the library), searches and
 * prints (rank 0 of an MPI job only). */
static int run_query(const char *path, char **qpath, size_t nq, ibex_search_opts *so, long top, int json, int csv,
                     int root)
{
    ibex_surface **qs = calloc(nq, sizeof *qs);
    ibex_diag d;
    memset(&d, 0, sizeof d);
    int rc = qs ? EXIT_OK : cli_fail_status(IBEX_ERR_NOMEM, NULL);
    for (size_t i = 0; rc == EXIT_OK && i < nq; i++) {
        ibex_status st = ibex_surface_read(qpath[i], 0, &qs[i], &d);
        if (st != IBEX_OK) rc = cli_fail_status(st, &d);
    }
    ibex_search_result *res = NULL;
    if (rc == EXIT_OK) {
        int quiet = json || csv;
        if (cli_isatty_err() && !quiet) so->progress = cli_progress;
        ibex_status st = ibex_search_run_path(path, (const ibex_surface *const *)qs, (const char *const *)qpath, nq,
                                              so, &res, &d);
        cli_progress_end();
        /* sharded: a rank stopped by another's failure stays silent (that rank reports) */
        if (st != IBEX_OK) rc = so->shard && st == IBEX_ERR_CANCELLED ? EXIT_REFUSED : cli_fail_status(st, &d);
    }
    if (res) {
        const ibex_search_info *in = ibex_search_result_info(res);
        if (in->not_indexed && !json && !csv)
            fprintf(stderr, "%s: warning: %zu %s%sspecimens are not indexed (run 'ibex index %s')\n", cli_prog,
                    in->not_indexed, in->kind_known ? in->kind : "", in->kind_known ? " " : "", path);
        if (root) print_results(res, path, qpath, nq, top, json, csv);
    }
    ibex_search_result_free(res);
    for (size_t i = 0; qs && i < nq; i++) ibex_surface_free(qs[i]);
    free(qs);
    return rc;
}

int cmd_query(int argc, char **argv)
{
    static const struct option opts[] = {{"top", required_argument, 0, 'n'},
                                         {"shortlist", required_argument, 0, 'k'},
                                         {"stage1-only", no_argument, 0, '1'},
                                         {"exact", required_argument, 0, 'E'},
                                         {"prealign", no_argument, 0, 'P'},
                                         {"exclude-self", no_argument, 0, 'x'},
                                         {"kind", required_argument, 0, 'K'},
                                         {"threads", required_argument, 0, 't'},
                                         {"json", no_argument, 0, 'j'},
                                         {"csv", no_argument, 0, 'c'},
                                         {"mpi", no_argument, 0, 'M'},
                                         {"within", required_argument, 0, 'W'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    long top = 10;
    ibex_search_opts so;
    ibex_search_opts_init(&so);
    int json = 0, csv = 0, mpi = 0, c;
    long num;
    char *e;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            top = strtol(optarg, &e, 10);
            if (*e || top < 0 || top > 1000000) return cli_usage_error("--top wants 0..1000000, not '%s'", optarg);
            break;
        case 'k':
            num = strtol(optarg, &e, 10);
            if (*e || num < 1 || num > 1000000) return cli_usage_error("--shortlist wants 1..1000000, not '%s'", optarg);
            so.shortlist = (size_t)num;
            break;
        case 't':
            num = strtol(optarg, &e, 10);
            if (*e || num < 1 || num > 1024) return cli_usage_error("--threads wants 1..1024, not '%s'", optarg);
            so.threads = (unsigned)num;
            break;
        case 'K':
            if (strcmp(optarg, "cartridge") && strcmp(optarg, "bullet"))
                return cli_usage_error("--kind must be cartridge or bullet, not '%s'", optarg);
            so.kind = optarg;
            break;
        case '1': so.stage1_only = 1; break;
        case 'E':
            if (!strcmp(optarg, "all")) {
                so.exact_top = IBEX_SEARCH_EXACT_ALL;
            } else {
                char *e;
                long num = strtol(optarg, &e, 10);
                if (*e || num < 1 || num > 1000000) return cli_usage_error("--exact wants 1..1000000 or all, not '%s'", optarg);
                so.exact_top = (size_t)num;
            }
            break;
        case 'P': so.prealign = 1; break;
        case 'x': so.exclude_self = 1; break;
        case 'j': json = 1; break;
        case 'c': csv = 1; break;
        case 'M': mpi = 1; break;
        case 'W': so.within = optarg; break;
        case 'h': help(); return EXIT_OK;
        default: return cli_usage_error("unknown option");
        }
    }
    if (json && csv) return cli_usage_error("--json and --csv exclude each other");
    if (argc - optind < 2) return cli_usage_error("expected a library and at least one query file");
    const char *path = argv[optind];
    char **qpath = argv + optind + 1;
    size_t nq = (size_t)(argc - optind - 1);
    query_rank qr; /* --mpi: one rank of the job (query_mpi.c) */
    int rc = query_rank_begin(&qr, mpi);
    if (rc != EXIT_OK) return rc;
    so.shard = qr.shard;
    rc = run_query(path, qpath, nq, &so, top, json, csv, query_rank_root(&qr));
    return query_rank_end(&qr, rc);
}
