/* ibex query: rank a library's specimens against query scans.
 * Stage 1 (docs/index.md): descriptor of each query with the library's stored options,
 * PCA projection, top-K by cosine over the indexed rows of the same kind (one SGEMV, or
 * SGEMM for a batch of queries). Stage 2: each shortlisted pair is re-scored with the
 * full comparison of 'ibex compare' (cartridges: the same preprocessing, then CMC), the
 * pairs in parallel; the list is ranked by the CMC score. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <omp.h>

#include "cli.h"
#include "ibex/compare.h"
#include "ibex/prealign.h"
#include "query.h"
#include "ibex/calibration.h"
#include "query_mpi.h"

/* The only library preprocessing this stage 2 knows: surfaces stored as read, so each
 * side is prepared exactly as 'ibex compare' prepares a scan file. */
/* Prepared scans of different spacings (scans are never upsampled, so a coarser instrument's
 * scan keeps its own): the finer of the pair is prepared again at the coarser spacing, into
 * *tmp, which the caller frees. */
static ibex_status pair_at_one_spacing(ibex_library *lib, size_t row, const ibex_surface *qraw,
                                       const ibex_preprocess_opts *po, ibex_surface **qa,
                                       ibex_surface **cb, ibex_surface **tmp, ibex_diag *dd)
{
    double a = (*qa)->dx, b = (*cb)->dx;
    *tmp = NULL;
    if (fabs(a - b) <= 0.01 * (a > b ? a : b)) return IBEX_OK;
    ibex_preprocess_opts o = *po;
    o.spacing = a > b ? a : b;
    if (a > b) {
        ibex_surface *raw = NULL;
        ibex_status st = ibex_library_get_surface(lib, row, &raw, dd);
        if (st == IBEX_OK) st = ibex_preprocess(raw, &o, tmp, NULL, dd);
        ibex_surface_free(raw);
        if (st == IBEX_OK) *cb = *tmp;
        return st;
    }
    ibex_status st = ibex_preprocess(qraw, &o, tmp, NULL, dd);
    if (st == IBEX_OK) *qa = *tmp;
    return st;
}

static const char known_params[] = "preprocess=none\n";

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
           "                   prints the same list as one process (docs/sharding.md)\n"
           "  --json           one JSON object per query (with a \"candidates\" array)\n"
           "  --csv            one CSV row per candidate, with a header\n"
           "  -h, --help       this text\n\n"
           "Columns: rank, specimen id, firearm_id and same_source_key (when the library has\n"
           "them), stage-1 cosine, CMC score (mean over both directions of the summed CCF of\n"
           "congruent cells), CMC count (smaller direction, original rule), log10 LR of the\n"
           "CMC count from the calibration shipped with IBEX (casings, stage 2 without\n"
           "--prealign; docs/calibration.md) and verdict.\n"
           "Bullets: a query is one land scan, compared with the library's land scans: stage 1\n"
           "uses the profile descriptor of the land signature, stage 2 the bullet engine's land\n"
           "comparison; score = calibrated land score, the cmc column holds the CMS count, and\n"
           "the verdict uses its land thresholds (>= %.1f identification, <= %.1f elimination).\n\n"
           "Exit status: 0 done, 1 a query or the library refused (no index, other parameters,\n"
           "wrong kind, unreadable file), 2 usage error.\n",
           IBEX_LAND_ID, IBEX_LAND_ELIM);
}

typedef query_cand cand;

static int cand_cmp(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->done != y->done) return y->done - x->done;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    if (x->cmc != y->cmc) return x->cmc > y->cmc ? -1 : 1;
    if (x->stage1 != y->stage1) return x->stage1 > y->stage1 ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

static int query_is_bullet(const ibex_surface *s, const char *kind_opt)
{
    return !strcmp(kind_opt ? kind_opt : cli_scan_kind(s), "bullet");
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

void query_cand_json(json_t *a, const query_cand *cd, int bullet)
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
        if (cd->err[0]) json_object_set_new(a, "error", json_string(cd->err));
    }
}

static void print_results(const query_result *res, const char *path, char **qpath, size_t nq, long top,
                          int stage1_only, int prealign, int json, int csv)
{
    const size_t Kq = res->Kq, nix = res->nix, pending = res->pending, *nc = res->nc;
    const row_info *ri = res->ri;
    const char *kind = res->kind;
    int bullet = res->bullet;
    double t0 = res->t0, t1 = res->t1, t2 = res->t2;
    /* The shipped calibration is for the CMC count of the default method. */
    const ibex_calibration *cal = bullet || prealign || stage1_only || !res->has_cal ? NULL : &res->cal;
    /* Output */
    if (csv)
        printf("query,rank,row,id,firearm_id,same_source_key,stage1,score,%s,verdict\n",
               bullet ? "cms,ccf" : "cmc,cmc_high");
    for (size_t i = 0; i < nq; i++) {
        const cand *cl = res->cands + i * Kq;
        size_t show = top && (size_t)top < nc[i] ? (size_t)top : nc[i];
        if (json) {
            json_t *o = json_object(), *arr = json_array();
            json_object_set_new(o, "query", json_string(qpath[i]));
            json_object_set_new(o, "library", json_string(path));
            json_object_set_new(o, "kind", json_string(kind));
            json_object_set_new(o, "indexed", json_integer((json_int_t)nix));
            json_object_set_new(o, "not_indexed", json_integer((json_int_t)pending));
            json_object_set_new(o, "shortlist", json_integer((json_int_t)nc[i]));
            json_object_set_new(o, "stage2", json_boolean(!stage1_only));
            json_object_set_new(o, "prealign", json_boolean(prealign && !stage1_only && !bullet));
            json_object_set_new(o, "stage1_seconds", json_real(t1 - t0));
            json_object_set_new(o, "stage2_seconds", json_real(t2 - t1));
            /* The parts: reading queries and opening the library (kind column), loading the
             * index into memory, query descriptors, and the search itself (SGEMV/SGEMM +
             * top-K) for the whole batch. */
            json_t *tm = json_object();
            json_object_set_new(tm, "open", json_real(res->t_open - t0));
            json_object_set_new(tm, "load_index", json_real(res->t_load - res->t_open));
            json_object_set_new(tm, "descriptors", json_real(res->t_search - res->t_load));
            json_object_set_new(tm, "search", json_real(t1 - res->t_search));
            json_object_set_new(tm, "stage2", json_real(t2 - t1));
            json_object_set_new(tm, "queries", json_integer((json_int_t)nq));
            json_object_set_new(o, "timing", tm);
            json_object_set_new(o, "lr_calibration", cal ? json_string(cal->id) : json_null());
            for (size_t h = 0; h < show; h++) {
                const cand *cd = &cl[h];
                json_t *a = json_object();
                json_object_set_new(a, "rank", json_integer((json_int_t)(h + 1)));
                json_object_set_new(a, "row", json_integer((json_int_t)cd->row));
                json_object_set_new(a, "id", json_string(str_or(ri[cd->row].id, "")));
                json_object_set_new(a, "firearm_id", ri[cd->row].firearm_id ? json_string(ri[cd->row].firearm_id) : json_null());
                json_object_set_new(a, "same_source_key",
                                    ri[cd->row].same_source_key ? json_string(ri[cd->row].same_source_key) : json_null());
                json_object_set_new(a, "stage1", json_real(cd->stage1));
                query_cand_json(a, cd, bullet);
                if (cal && cd->done) {
                    double l = ibex_calibration_log10_lr(cal, cd->cmc);
                    json_object_set_new(a, "log10_lr", json_real(l));
                    json_object_set_new(a, "lr_verbal", json_string(ibex_lr_verbal(l)));
                }
                json_array_append_new(arr, a);
            }
            json_object_set_new(o, "candidates", arr);
            json_dumpf(o, stdout, JSON_COMPACT);
            putchar('\n');
            json_decref(o);
        } else if (csv) {
            for (size_t h = 0; h < show; h++) {
                const cand *cd = &cl[h];
                csv_field(qpath[i]);
                printf(",%zu,%zu,", h + 1, cd->row);
                csv_field(ri[cd->row].id);
                putchar(',');
                csv_field(ri[cd->row].firearm_id);
                putchar(',');
                csv_field(ri[cd->row].same_source_key);
                if (cd->done && bullet)
                    printf(",%.4f,%.3f,%u,%.4f,%s\n", cd->stage1, cd->score, cd->cmc, cd->ccf,
                           ibex_verdict_name(cd->verdict));
                else if (cd->done)
                    printf(",%.4f,%.3f,%u,%u,%s\n", cd->stage1, cd->score, cd->cmc, cd->cmc_high,
                           ibex_verdict_name(cd->verdict));
                else
                    printf(",%.4f,,,,\n", cd->stage1);
            }
        } else {
            printf("query %s: %zu indexed %s specimens, shortlist %zu, stage 1 %.2f s, stage 2 %.1f s%s\n",
                   qpath[i], nix, kind, nc[i], t1 - t0, t2 - t1, stage1_only ? " (skipped)" : "");
            printf("%4s  %-24s %-10s %-16s %7s %8s %4s %s %s\n", "rank", "id", "firearm", "source_key", "stage1",
                   "score", bullet ? "cms" : "cmc", cal ? "log10LR" : "", "verdict");
            for (size_t h = 0; h < show; h++) {
                const cand *cd = &cl[h];
                printf("%4zu  %-24s %-10s %-16s %7.3f ", h + 1, str_or(ri[cd->row].id, "?"),
                       str_or(ri[cd->row].firearm_id, "-"), str_or(ri[cd->row].same_source_key, "-"), cd->stage1);
                if (cd->done && cal)
                    printf("%8.2f %4u %7.2f %s\n", cd->score, cd->cmc,
                           ibex_calibration_log10_lr(cal, cd->cmc), ibex_verdict_name(cd->verdict));
                else if (cd->done)
                    printf("%8.2f %4u  %s\n", cd->score, cd->cmc, ibex_verdict_name(cd->verdict));
                else
                    printf("%8s %4s  %s\n", "-", "-", cd->err[0] ? cd->err : "-");
            }
            if (i + 1 < nq) putchar('\n');
        }
    }
}

int cmd_query(int argc, char **argv)
{
    static const struct option opts[] = {{"top", required_argument, 0, 'n'},
                                         {"shortlist", required_argument, 0, 'k'},
                                         {"stage1-only", no_argument, 0, '1'},
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
    long top = 10, shortlist = 0, threads = 0;
    int json = 0, csv = 0, stage1_only = 0, exclude_self = 0, mpi = 0, prealign = 0, c;
    const char *kind_opt = NULL, *within = NULL;
    char *e;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            top = strtol(optarg, &e, 10);
            if (*e || top < 0 || top > 1000000) return cli_usage_error("--top wants 0..1000000, not '%s'", optarg);
            break;
        case 'k':
            shortlist = strtol(optarg, &e, 10);
            if (*e || shortlist < 1 || shortlist > 1000000)
                return cli_usage_error("--shortlist wants 1..1000000, not '%s'", optarg);
            break;
        case 't':
            threads = strtol(optarg, &e, 10);
            if (*e || threads < 1 || threads > 1024) return cli_usage_error("--threads wants 1..1024, not '%s'", optarg);
            break;
        case 'K':
            if (strcmp(optarg, "cartridge") && strcmp(optarg, "bullet"))
                return cli_usage_error("--kind must be cartridge or bullet, not '%s'", optarg);
            kind_opt = optarg;
            break;
        case '1': stage1_only = 1; break;
        case 'P': prealign = 1; break;
        case 'x': exclude_self = 1; break;
        case 'j': json = 1; break;
        case 'c': csv = 1; break;
        case 'M': mpi = 1; break;
        case 'W': within = optarg; break;
        case 'h': help(); return EXIT_OK;
        default: return cli_usage_error("unknown option");
        }
    }
    if (json && csv) return cli_usage_error("--json and --csv exclude each other");
    if (argc - optind < 2) return cli_usage_error("expected a library and at least one query file");
    const char *path = argv[optind];
    char **qpath = argv + optind + 1;
    size_t nq = (size_t)(argc - optind - 1);
    query_shard sh; /* --mpi: this rank's slab of rows (query_mpi.c) */
    int mrc = qs_begin(&sh, mpi);
    if (mrc != EXIT_OK) return mrc;

    /* Queries first: a bad query file is refused before any work on the library. */
    ibex_surface **qs = calloc(nq, sizeof *qs);
    ibex_diag d;
    memset(&d, 0, sizeof d);
    query_result res;
    memset(&res, 0, sizeof res);
    int rc = qs ? EXIT_OK : cli_fail_status(IBEX_ERR_NOMEM, NULL);
    for (size_t i = 0; rc == EXIT_OK && i < nq; i++) {
        ibex_status st = ibex_surface_read(qpath[i], 0, &qs[i], &d);
        if (st != IBEX_OK) rc = cli_fail_status(st, &d);
    }
    if (rc == EXIT_OK) {
        query_opts qo = {path,         qpath,         qs,          nq,       shortlist, threads,
                         stage1_only,  exclude_self,  json || csv, kind_opt, prealign,  &sh,
                         within};
        rc = query_run(&qo, &res);
    }
    if (rc == EXIT_OK && qs_root(&sh)) print_results(&res, path, qpath, nq, top, stage1_only, prealign, json, csv);
    query_result_clear(&res);
    for (size_t i = 0; qs && i < nq; i++) ibex_surface_free(qs[i]);
    free(qs);
    return qs_end(&sh, rc);
}

void query_result_clear(query_result *res)
{
    free(res->cands);
    free(res->nc);
    im_free_rows(res->ri, res->N);
    memset(res, 0, sizeof *res);
}

size_t query_default_shortlist(size_t n)
{
    size_t pct = (n + 99) / 100;
    return pct > 50 ? pct : 50;
}

/* --within FILE: allow[r] = 1 for the rows of the ids FILE lists. EXIT_REFUSED (after a
 * message naming the file and line) for an unreadable file, an unknown id or no id. */
static int read_within(const char *file, ibex_library *lib, size_t N, unsigned char **allow_out)
{
    FILE *f = fopen(file, "r");
    if (!f) {
        cli_error("%s: cannot read the --within list: %s", file, strerror(errno));
        return EXIT_REFUSED;
    }
    unsigned char *allow = calloc(N ? N : 1, 1);
    char *line = NULL;
    size_t cap = 0, lineno = 0, nid = 0;
    int rc = allow ? EXIT_OK : cli_fail_status(IBEX_ERR_NOMEM, NULL);
    while (rc == EXIT_OK && getline(&line, &cap, f) >= 0) {
        lineno++;
        char *id = line;
        while (*id == ' ' || *id == '\t') id++;
        size_t len = strcspn(id, "\r\n");
        while (len && (id[len - 1] == ' ' || id[len - 1] == '\t')) len--;
        id[len] = 0;
        if (!*id || *id == '#') continue;
        size_t row;
        if (!ibex_library_find_id(lib, id, &row) || row >= N) {
            cli_error("%s:%zu: no specimen '%s' in the library", file, lineno, id);
            rc = EXIT_REFUSED;
            break;
        }
        allow[row] = 1;
        nid++;
    }
    if (rc == EXIT_OK && ferror(f)) {
        cli_error("%s: read error: %s", file, strerror(errno));
        rc = EXIT_REFUSED;
    }
    if (rc == EXIT_OK && !nid) {
        cli_error("%s: the --within list names no specimen", file);
        rc = EXIT_REFUSED;
    }
    free(line);
    fclose(f);
    if (rc != EXIT_OK) {
        free(allow);
        allow = NULL;
    }
    *allow_out = allow;
    return rc;
}

int query_run(const query_opts *o, query_result *res)
{
    const char *path = o->lib_path, *kind_opt = o->kind_opt, *kind = IM_KIND_CARTRIDGE;
    char **qpath = o->names;
    ibex_surface **qs = o->qs;
    size_t nq = o->nq;
    long shortlist = o->shortlist, threads = o->threads;
    int stage1_only = o->stage1_only, exclude_self = o->exclude_self, bullet = 0;
    query_shard local, *sh = o->shard;
    if (!sh) { /* one process owning every row */
        qs_begin(&local, 0);
        sh = &local;
    }
    ibex_diag d;
    memset(&d, 0, sizeof d);
    ibex_status st;
    int rc = EXIT_OK;
    ibex_library *lib = NULL;
    ibex_surface **qprep = calloc(nq, sizeof *qprep);
    size_t *self_row = calloc(nq, sizeof *self_row);
    unsigned char *has_self = calloc(nq, 1);
    row_info *ri = NULL;
    unsigned char *kcode = NULL; /* per row: 0 another kind, 1 + im_kind_index */
    unsigned char *allow = NULL; /* --within: per row 1 = searched */
    size_t N = 0, n = 0, dim = 0, nix = 0, K = 0;
    float *rows = NULL, *raw = NULL, *q = NULL;
    size_t *map = NULL;
    ibex_index *ix = NULL;
    ibex_hit *hits = NULL;
    size_t *nh = NULL;
    cand *cands = NULL;
    ibex_descriptor *dp = NULL;
    ibex_cmc_plan *plan = NULL;
    ibex_surface **prep = NULL;
    index_model m;
    memset(&m, 0, sizeof m);
    ibex_land_opts lo;
    ibex_land_opts_init(&lo);
    ibex_land_signature **qsig = calloc(nq, sizeof *qsig), **csig = NULL;
    double t0 = cli_now(), t1 = 0, t2 = 0, t_open = 0, t_load = 0, t_search = 0;
    if (!qprep || !self_row || !has_self || !qsig) {
        st = IBEX_ERR_NOMEM;
        goto fail;
    }

    /* One kind per batch. */
    for (size_t i = 0; i < nq; i++) {
        int b = query_is_bullet(qs[i], kind_opt);
        if (i && b != bullet) {
            cli_error("%s: a %s scan, but %s is a %s scan: query cartridge cases and bullet lands separately",
                      qpath[i], b ? "bullet land" : "cartridge", qpath[0], bullet ? "bullet land" : "cartridge");
            rc = EXIT_REFUSED;
            goto out;
        }
        bullet = b;
    }
    kind = bullet ? "bullet" : IM_KIND_CARTRIDGE;

    if ((st = ibex_library_open(path, NULL, &lib, &d)) != IBEX_OK) goto fail;
    N = ibex_library_count(lib);
    ibex_calibration qcal;
    int qhas = 0;
    memset(&qcal, 0, sizeof qcal);
    if (!bullet) {
        /* The calibration the library was indexed with, else the one shipped with IBEX. */
        char *ct = NULL;
        qhas = ibex_library_model_get_text(lib, IM_KIND_CARTRIDGE, "calibration", &ct, NULL) ==
                   IBEX_OK &&
               ibex_calibration_parse(ct, &qcal, NULL) == IBEX_OK;
        free(ct);
        const ibex_calibration *sc = ibex_calibration_shipped(IM_KIND_CARTRIDGE);
        if (!qhas && sc) qcal = *sc, qhas = 1;
    }
    if (o->within && (rc = read_within(o->within, lib, N, &allow)) != EXIT_OK) goto out;
    const char *params = ibex_library_params(lib);
    if (!params || strcmp(params, known_params)) {
        cli_error("%s: library built with preprocessing parameters '%s'; this query knows only '%.*s'", path,
                  params ? params : "(none)", (int)strlen(known_params) - 1, known_params);
        rc = EXIT_REFUSED;
        goto out;
    }
    {
        ibex_diag dm;
        memset(&dm, 0, sizeof dm);
        size_t have_kind = 0;
        int model_ok = im_load(lib, kind, &m, &dm) == IBEX_OK;
        /* ibex index writes non-zero rows only for kinds that have a model: when the query's
         * kind is the only one, every non-zero index row is of that kind and the table need
         * not be read at all (at 10^6 rows the kind column costs seconds). Otherwise the
         * kind column, in one pass of hyperslab reads. */
        int single = model_ok;
        for (int k = 0; single && k < IM_N_KINDS; k++) {
            char *t = NULL;
            if (strcmp(im_kinds[k], kind) && ibex_library_model_get_text(lib, im_kinds[k], "descriptor_opts", &t, NULL) == IBEX_OK)
                single = 0;
            free(t);
        }
        if (single) {
            have_kind = 1; /* checked below: no indexed row means no specimen of the kind */
        } else {
            if ((st = im_read_kinds(lib, N, &kcode, &d)) != IBEX_OK) goto fail;
            unsigned char want = (unsigned char)(im_kind_index(kind) + 1);
            for (size_t r = 0; r < N && !have_kind; r++) have_kind = kcode[r] == want;
        }
        if (!have_kind) {
            cli_error("%s: a %s scan, but the library %s holds no %s specimens", qpath[0],
                      bullet ? "bullet land" : "cartridge", path, kind);
            rc = EXIT_REFUSED;
            goto out;
        }
        if (!model_ok) {
            cli_error("%s: no %s index in this library (%s); run 'ibex index %s' first", path, kind, dm.message,
                      path);
            rc = EXIT_REFUSED;
            goto out;
        }
    }
    {
        ibex_descriptor_opts o;
        char text[IBEX_DESCRIPTOR_OPTS_TEXT];
        im_default_opts(kind, &o, text, sizeof text);
        if (strcmp(text, m.opts_text)) {
            cli_error("%s: index built with other descriptor parameters ('%s', this ibex uses '%s'); rebuild it "
                      "with 'ibex index --refit %s'",
                      path, m.opts_text, text, path);
            rc = EXIT_REFUSED;
            goto out;
        }
    }
    if ((st = ibex_library_index_get_shape(lib, &n, &dim, &d)) != IBEX_OK) goto fail;
    if (n > N || (n && dim != ibex_pca_dim_out(m.pca))) {
        cli_error("%s: index is %zu x %zu for %zu specimens and a %zu-dimensional model; rebuild it with "
                  "'ibex index --refit %s'",
                  path, n, dim, N, ibex_pca_dim_out(m.pca), path);
        rc = EXIT_REFUSED;
        goto out;
    }
    dim = ibex_pca_dim_out(m.pca);
    t_open = cli_now();
    /* Table details only for the candidates (filled after stage 1). */
    ri = calloc(N ? N : 1, sizeof *ri);
    size_t row0, row1; /* this rank's rows (all of them without --mpi), nr of them indexed */
    qs_rows(sh, N, &row0, &row1);
    size_t nr = (row1 < n ? row1 : n) > row0 ? (row1 < n ? row1 : n) - row0 : 0;
    rows = malloc((nr * dim + 1) * sizeof *rows);
    map = malloc((nr + 1) * sizeof *map);
    if (!ri || !rows || !map) {
        st = IBEX_ERR_NOMEM;
        goto fail;
    }
    if (nr && (st = ibex_library_index_read(lib, row0, nr, rows, &d)) != IBEX_OK) goto fail;
    /* In-memory index: indexed (unit, non-zero) rows of the query's kind. */
    size_t pending = 0;
    const unsigned char kwant = (unsigned char)(im_kind_index(kind) + 1);
    for (size_t r = row0; r < row1; r++) {
        if ((kcode && kcode[r] != kwant) || (allow && !allow[r])) continue;
        if (r >= n) {
            pending++;
            continue;
        }
        double s2 = 0;
        const float *v = rows + (r - row0) * dim;
        for (size_t j = 0; j < dim; j++) s2 += (double)v[j] * v[j];
        if (!(s2 > 0.25) || !isfinite(s2)) {
            pending++;
            continue;
        }
        if (nix != r - row0) memmove(rows + nix * dim, v, dim * sizeof *rows);
        map[nix++] = r;
    }
    /* nix and pending become the totals over the ranks; this rank's rows start at 'first'. */
    size_t nix_here = nix, first = 0;
    if ((rc = qs_counts(sh, &nix, &pending, &first)) != EXIT_OK) goto out;
    if (!nix && allow) {
        cli_error("%s: none of the specimens listed in %s is an indexed %s specimen", path, o->within, kind);
        rc = EXIT_REFUSED;
        goto out;
    }
    if (!nix) {
        cli_error("%s: no indexed %s specimens; run 'ibex index %s' first", path, kind, path);
        rc = EXIT_REFUSED;
        goto out;
    }
    if (pending && !o->quiet)
        fprintf(stderr, "%s: warning: %zu %s%sspecimens are not indexed (run 'ibex index %s')\n", cli_prog,
                pending, kcode ? kind : "", kcode ? " " : "", path);
    if ((st = ibex_index_create(dim, &ix)) != IBEX_OK || (st = ibex_index_add(ix, rows, nix_here)) != IBEX_OK)
        goto fail;
    free(rows); /* the index holds its own copy */
    rows = NULL;
    t_load = cli_now();

    K = shortlist ? (size_t)shortlist : query_default_shortlist(nix);
    for (size_t i = 0; i < nq; i++) {
        char sha[65];
        if (exclude_self && ibex_file_sha256(qpath[i], sha, NULL) == IBEX_OK &&
            ibex_library_find_hash(lib, sha, &self_row[i]))
            has_self[i] = 1;
    }
    size_t Kq = K + (exclude_self ? 1 : 0); /* room to drop the query itself */
    if (Kq > nix) Kq = nix;

    /* Stage 1: descriptors of the queries with the library's options, one batch. */
    if ((st = ibex_descriptor_create(&m.opts, &dp, &d)) != IBEX_OK) goto fail;
    size_t p = ibex_descriptor_size(dp);
    if (p != ibex_pca_dim_in(m.pca)) {
        cli_error("%s: PCA model expects %zu descriptor values, the descriptor gives %zu; rebuild with 'ibex index "
                  "--refit'",
                  path, ibex_pca_dim_in(m.pca), p);
        rc = EXIT_REFUSED;
        goto out;
    }
    raw = malloc(nq * p * sizeof *raw);
    q = malloc(nq * dim * sizeof *q);
    hits = malloc(nq * Kq * sizeof *hits);
    nh = calloc(nq, sizeof *nh);
    cands = calloc(nq * Kq, sizeof *cands);
    if (!raw || !q || !hits || !nh || !cands) {
        st = IBEX_ERR_NOMEM;
        goto fail;
    }
    for (size_t i = 0; i < nq; i++) {
        if (bullet)
            st = im_land_descriptor(dp, qs[i], &lo, qpath[i], raw + i * p, &qsig[i], &d);
        else
            st = ibex_descriptor_run(dp, qs[i], qpath[i], raw + i * p, &d);
        if (st != IBEX_OK) {
            if (!d.file[0]) snprintf(d.file, sizeof d.file, "%s", qpath[i]);
            goto fail;
        }
    }
    ibex_pca_project(m.pca, raw, nq, q);
    t_search = cli_now();
    {
        /* One SGEMV (SGEMM for a batch); with --mpi over this rank's part of the index. */
        size_t nb = 0;
        st = ibex_index_query_part(ix, q, nq, Kq, first, nix, hits, &nb);
        for (size_t i = 0; i < nq; i++) nh[i] = nb < Kq ? nb : Kq;
    }
    if (st != IBEX_OK) goto fail;
    /* Hits -> library rows; with --mpi, the ranks' lists merged into the global top Kq. */
    if ((rc = qs_shortlist(sh, hits, nh, nq, Kq, map, first)) != EXIT_OK) goto out;
    size_t *nc = calloc(nq, sizeof *nc);
    if (!nc) {
        st = IBEX_ERR_NOMEM;
        goto fail;
    }
    for (size_t i = 0; i < nq; i++) {
        for (size_t h = 0; h < nh[i] && nc[i] < K; h++) {
            size_t r = hits[i * Kq + h].row;
            if (has_self[i] && r == self_row[i]) continue;
            cand *cd = &cands[i * Kq + nc[i]++];
            cd->row = r;
            cd->stage1 = hits[i * Kq + h].score;
        }
    }
    t1 = cli_now();
    for (size_t i = 0; i < nq; i++) { /* table details of the shortlisted rows */
        size_t *rl = malloc((nc[i] + 1) * sizeof *rl);
        for (size_t h = 0; rl && h < nc[i]; h++) rl[h] = cands[i * Kq + h].row;
        st = rl ? im_fill_rows(lib, rl, nc[i], ri, &d) : IBEX_ERR_NOMEM;
        free(rl);
        if (st != IBEX_OK) {
            free(nc);
            goto fail;
        }
    }

    /* Stage 2: prepare each shortlisted specimen once, then every pair in parallel. */
    if (!stage1_only) {
        ibex_preprocess_opts po;
        ibex_preprocess_opts_init(&po);
        ibex_cmc_opts co;
        ibex_cmc_opts_init(&co);
        co.threads = 1; /* parallel over pairs instead */
        if ((st = ibex_cmc_plan_create(&co, &plan, &d)) != IBEX_OK) {
            free(nc);
            goto fail;
        }
        prep = calloc(N ? N : 1, sizeof *prep);
        csig = calloc(N ? N : 1, sizeof *csig);
        unsigned char *need = calloc(N ? N : 1, 1);
        size_t *ulist = malloc((N + 1) * sizeof *ulist), nu = 0;
        if (!prep || !csig || !need || !ulist) {
            free(need);
            free(ulist);
            free(nc);
            st = IBEX_ERR_NOMEM;
            goto fail;
        }
        for (size_t i = 0; i < nq; i++)
            for (size_t h = 0; h < nc[i]; h++)
                if (qs_owns(sh, cands[i * Kq + h].row) && !need[cands[i * Kq + h].row]++)
                    ulist[nu++] = cands[i * Kq + h].row;
        int nthreads = threads ? (int)threads : omp_get_max_threads();
        char (*perr)[200] = calloc(N ? N : 1, sizeof *perr);
        int qfail = 0;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads)
        for (size_t u = 0; u < nu + nq; u++) {
            ibex_diag dd;
            memset(&dd, 0, sizeof dd);
            if (u < nq) {
                if (!bullet && ibex_preprocess(qs[u], &po, &qprep[u], NULL, &dd) != IBEX_OK) {
#pragma omp critical(query_msg)
                    {
                        cli_error("%s: preprocessing failed: %s", qpath[u], dd.message);
                        qfail = 1;
                    }
                }
                continue;
            }
            size_t r = ulist[u - nq];
            ibex_surface *s = NULL;
            ibex_status s2 = ibex_library_get_surface(lib, r, &s, &dd);
            if (s2 == IBEX_OK && !bullet) s2 = ibex_preprocess(s, &po, &prep[r], NULL, &dd);
            if (s2 == IBEX_OK && bullet) s2 = ibex_land_signature_create(s, &lo, &csig[r], &dd);
            ibex_surface_free(s);
            if (s2 != IBEX_OK && perr) snprintf(perr[r], sizeof perr[r], "%.190s", dd.message);
        }
        if (qfail) {
            free(need);
            free(ulist);
            free(nc);
            free(perr);
            rc = EXIT_REFUSED;
            goto out;
        }
        size_t npairs = 0;
        for (size_t i = 0; i < nq; i++)
            for (size_t h = 0; h < nc[i]; h++) npairs += qs_owns(sh, cands[i * Kq + h].row);
        size_t done = 0;
        int progress = cli_isatty_err() && !o->quiet;
        double t_stage2 = cli_now();
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads)
        for (size_t k = 0; k < nq * Kq; k++) {
            size_t i = k / Kq, h = k % Kq;
            if (h >= nc[i] || !qs_owns(sh, cands[k].row)) continue; /* --mpi: another rank's */
            cand *cd = &cands[k];
            if (bullet && !csig[cd->row]) {
                snprintf(cd->err, sizeof cd->err, "%.150s", perr && perr[cd->row][0] ? perr[cd->row] : "no signature");
            } else if (bullet) {
                ibex_diag dd;
                memset(&dd, 0, sizeof dd);
                ibex_land_result lr;
                if (ibex_land_compare(qsig[i], csig[cd->row], &lr, &dd) == IBEX_OK) {
                    cd->done = 1;
                    cd->score = isfinite(lr.score) ? lr.score : 0;
                    cd->cmc = lr.cms > 0 ? (unsigned)lr.cms : 0;
                    cd->ccf = lr.ccf;
                    cd->verdict = cd->score >= IBEX_LAND_ID     ? IBEX_VERDICT_IDENTIFICATION
                                  : cd->score <= IBEX_LAND_ELIM ? IBEX_VERDICT_ELIMINATION
                                                                : IBEX_VERDICT_INCONCLUSIVE;
                } else {
                    snprintf(cd->err, sizeof cd->err, "%.150s", dd.message);
                }
            } else if (!bullet && !prep[cd->row]) {
                snprintf(cd->err, sizeof cd->err, "%.150s", perr && perr[cd->row][0] ? perr[cd->row] : "not prepared");
            } else if (!bullet) {
                ibex_diag dd;
                memset(&dd, 0, sizeof dd);
                ibex_cmc_result *res = NULL;
                ibex_surface *qa = qprep[i], *cb = prep[cd->row], *tmp = NULL;
                ibex_status s3 = pair_at_one_spacing(lib, cd->row, qs[i], &po, &qa, &cb, &tmp, &dd);
                if (s3 == IBEX_OK)
                    s3 = o->prealign ? ibex_cmc_plan_run_prealigned(plan, qa, cb, NULL, &res, NULL, &dd)
                                     : ibex_cmc_plan_run(plan, qa, cb, &res, &dd);
                ibex_surface_free(tmp);
                if (s3 == IBEX_OK) {
                    cd->done = 1;
                    cd->score = res->score;
                    cd->cmc = res->cmc;
                    cd->cmc_high = res->cmc_high;
                    cd->cells_a = res->dir[0].cells_used;
                    cd->cells_b = res->dir[1].cells_used;
                    cd->verdict = res->verdict;
                    ibex_cmc_result_free(res);
                } else {
                    snprintf(cd->err, sizeof cd->err, "%.150s", dd.message);
                }
            }
            if (progress) {
#pragma omp critical(query_msg)
                {
                    done++;
                    /* remaining time from the mean pair time so far (pairs cost about the same) */
                    double el = cli_now() - t_stage2, left = done ? el / (double)done * (double)(npairs - done) : 0;
                    fprintf(stderr, "\r%s: stage 2 %zu/%zu pairs, %.0f s, about %.0f s left   ", cli_prog, done,
                            npairs, el, left);
                    if (done == npairs) fputc('\n', stderr);
                }
            }
        }
        free(need);
        free(ulist);
        free(perr);
    }
    /* --mpi: rank 0 collects the other ranks' stage-2 results; the others are done. */
    if ((rc = qs_gather(sh, cands, sizeof *cands, offsetof(cand, row), nc, nq, Kq)) != EXIT_OK) {
        free(nc);
        goto out;
    }
    t2 = cli_now();

    for (size_t i = 0; i < nq && !stage1_only; i++) qsort(cands + i * Kq, nc[i], sizeof *cands, cand_cmp);
    *res = (query_result){cands, nc, Kq, N, nix, pending, ri, kind, bullet, t0, t1, t2, t_open, t_load, t_search,
                          qcal, qhas};
    cands = NULL;
    nc = NULL;
    ri = NULL; /* handed over; N stays for the cleanup of prep and csig below */
    goto out;
fail:
    rc = cli_fail_status(st, &d);
out:
    if (prep)
        for (size_t r = 0; r < N; r++) ibex_surface_free(prep[r]);
    free(prep);
    if (csig)
        for (size_t r = 0; r < N; r++) ibex_land_signature_free(csig[r]);
    free(csig);
    for (size_t i = 0; qsig && i < nq; i++) ibex_land_signature_free(qsig[i]);
    free(qsig);
    for (size_t i = 0; qprep && i < nq; i++) ibex_surface_free(qprep[i]);
    free(qprep);
    free(self_row);
    free(has_self);
    free(allow);
    free(rows);
    free(raw);
    free(q);
    free(map);
    free(hits);
    free(nh);
    free(cands);
    ibex_index_free(ix);
    ibex_descriptor_free(dp);
    ibex_cmc_plan_free(plan);
    im_clear(&m);
    im_free_rows(ri, N);
    free(kcode);
    if (lib) ibex_library_close(lib, NULL);
    return rc;
}
