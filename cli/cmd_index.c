/* ibex index: bring a library's stage-1 index up to date (ibex_library_index_update,
 * include/ibex/library.h; docs/reference/index.md) and print the summary. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

static void help(void)
{
    printf("Usage: ibex index [--refit] [--json] LIB.h5\n\n"
           "Compute the stage-1 descriptors of the library's specimens that have none yet and\n"
           "store them in /index/descriptors (one unit row of %d floats per specimen), with the\n"
           "PCA model per kind under /index/<kind>. The basis is fitted the first time, refitted\n"
           "when a kind has doubled since the last fit (while that fit used fewer than %d\n"
           "specimens), or with --refit; otherwise only new specimens are projected and earlier\n"
           "rows stay bit-identical. Run it after every 'ibex ingest', before 'ibex query'.\n\n"
           "Cartridge cases get the breech-face descriptor of docs/reference/index.md; bullet specimens\n"
           "(one land scan each) the profile descriptor of their land signature. Specimens of\n"
           "another kind, or that the descriptor refuses, keep a zero row (not searched).\n\n"
           "  --refit     refit the PCA basis of every kind and rewrite all rows\n"
           "  --json      one JSON object with the summary on stdout\n"
           "  -h, --help  this text\n\n"
           "Exit status: 0 done, 1 library refused or not writable, 2 usage error.\n",
           IBEX_INDEX_DIM, IBEX_PCA_FIT_MAX);
}

static void print_summary(const char *path, const ibex_index_update_result *r, double secs, int json)
{
    if (json) {
        json_t *o = json_object();
        json_object_set_new(o, "library", json_string(path));
        json_object_set_new(o, "specimens", json_integer((json_int_t)r->specimens));
        json_object_set_new(o, "new_rows", json_integer((json_int_t)r->new_rows));
        json_object_set_new(o, "indexed", json_integer((json_int_t)r->indexed));
        json_object_set_new(o, "refused", json_integer((json_int_t)r->refused));
        json_object_set_new(o, "other_rows_zero", json_integer((json_int_t)r->other_rows));
        json_object_set_new(o, "refit", json_boolean(r->refit));
        json_t *k = json_object();
        for (int kk = 0; kk < IBEX_INDEX_N_KINDS; kk++) {
            json_t *e = json_object();
            json_object_set_new(e, "indexed", json_integer((json_int_t)r->kind_indexed[kk]));
            json_object_set_new(e, "pca_fit_count", json_integer((json_int_t)r->kind_fit_count[kk]));
            json_object_set_new(k, ibex_index_kind_name(kk), e);
        }
        json_object_set_new(o, "kinds", k);
        json_object_set_new(o, "pca_fit_count", json_integer((json_int_t)r->kind_fit_count[0]));
        json_object_set_new(o, "dim", json_integer((json_int_t)r->dim));
        json_object_set_new(o, "seconds", json_real(secs));
        json_dumpf(o, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(o);
        return;
    }
    printf("indexed %zu rows (%zu cartridge, %zu bullet; %zu new rows, %zu specimens in all), %zu refused, "
           "%.2f s%s\n",
           r->indexed, r->kind_indexed[0], r->kind_indexed[1], r->new_rows, r->specimens, r->refused, secs,
           r->basis_pending ? " (a kind with fewer than 2 specimens has no basis yet)" : "");
    for (int kk = 0; kk < IBEX_INDEX_N_KINDS; kk++)
        if (r->refit && r->kind_fit_count[kk] && r->kind_indexed[kk])
            printf("%s basis: fitted on %zu specimens, d = %zu\n", ibex_index_kind_name(kk), r->kind_fit_count[kk],
                   r->dim);
}

int cmd_index(int argc, char **argv)
{
    static const struct option opts[] = {{"refit", no_argument, 0, 'r'},
                                         {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    ibex_index_update_opts uo;
    ibex_index_update_opts_init(&uo);
    int json = 0, c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'r': uo.refit = 1; break;
        case 'j': json = 1; break;
        case 'h': help(); return EXIT_OK;
        default: return cli_usage_error("unknown option");
        }
    }
    if (argc - optind != 1) return cli_usage_error("expected one library file");
    const char *path = argv[optind];
    double t0 = cli_now();
    ibex_diag d;
    memset(&d, 0, sizeof d);
    ibex_library_opts lo;
    ibex_library_opts_init(&lo);
    lo.flags = IBEX_LIBRARY_WRITE;
    ibex_library *lib = NULL;
    ibex_status st = ibex_library_open(path, &lo, &lib, &d);
    if (st != IBEX_OK) return cli_fail_status(st, &d);
    if (cli_isatty_err() && !json) uo.progress = cli_progress;
    ibex_index_update_result r;
    ibex_index_update_result_init(&r);
    st = ibex_library_index_update(lib, &uo, &r, &d);
    cli_progress_end();
    int rc = EXIT_OK;
    if (st == IBEX_OK) {
        for (size_t i = 0; i < r.n_refusals; i++)
            fprintf(stderr, "%s: warning: specimen %zu (%s) not indexed: %s\n", cli_prog, r.refusals[i].row,
                    r.refusals[i].id[0] ? r.refusals[i].id : "?", r.refusals[i].message);
        print_summary(path, &r, cli_now() - t0, json);
    } else {
        rc = cli_fail_status(st, &d);
    }
    ibex_index_update_result_clear(&r);
    ibex_diag dc;
    if (ibex_library_close(lib, &dc) != IBEX_OK && rc == EXIT_OK) rc = cli_fail_status(IBEX_ERR_IO, &dc);
    return rc;
}
