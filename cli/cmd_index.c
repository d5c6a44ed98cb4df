/* ibex index: stage-1 descriptors of a library's specimens (docs/index.md, "Wiring").
 * Incremental: rows past the stored /index/descriptors count are computed and appended,
 * projected with the stored PCA basis, so earlier rows are never rewritten. The basis of a
 * kind is (re)fitted the first time, when that kind has doubled since the last fit while
 * the fit used fewer than IBEX_PCA_FIT_MAX specimens, or on --refit; a refit rewrites
 * every row of that kind. Model and rows are committed in one transaction. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"
#include "ibex/calibration.h"
#include "index_model.h"
#include "node_library.h"

static void help(void)
{
    printf("Usage: ibex index [--refit] [--json] LIB.h5\n\n"
           "Compute the stage-1 descriptors of the library's specimens that have none yet and\n"
           "store them in /index/descriptors (one unit row of %d floats per specimen), with the\n"
           "PCA model per kind under /index/<kind>. The basis is fitted the first time, refitted\n"
           "when a kind has doubled since the last fit (while that fit used fewer than %d\n"
           "specimens), or with --refit; otherwise only new specimens are projected and earlier\n"
           "rows stay bit-identical. Run it after every 'ibex ingest', before 'ibex query'.\n\n"
           "Cartridge cases get the breech-face descriptor of docs/index.md; bullet specimens\n"
           "(one land scan each) the profile descriptor of their land signature. Specimens of\n"
           "another kind, or that the descriptor refuses, keep a zero row (not searched).\n\n"
           "  --refit     refit the PCA basis of every kind and rewrite all rows\n"
           "  --json      one JSON object with the summary on stdout\n"
           "  -h, --help  this text\n\n"
           "Exit status: 0 done, 1 library refused or not writable, 2 usage error.\n",
           IBEX_INDEX_DIM, IBEX_PCA_FIT_MAX);
}

/* Raw descriptors of rows[0..n) into raw (n x p); ok[i] = 0 when a specimen is refused. */
static void compute_raw(ibex_library *lib, const ibex_descriptor *dp, int bullet, const size_t *rows, size_t n,
                        size_t p, float *raw, unsigned char *ok, const row_info *ri, int progress)
{
    ibex_land_opts lo;
    ibex_land_opts_init(&lo);
    size_t done = 0;
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t i = 0; i < n; i++) {
        ibex_diag d;
        memset(&d, 0, sizeof d);
        ibex_surface *s = NULL;
        ibex_status st = ibex_library_get_surface(lib, rows[i], &s, &d);
        if (st == IBEX_OK && !bullet) st = ibex_descriptor_run(dp, s, ri[rows[i]].id, raw + i * p, &d);
        if (st == IBEX_OK && bullet) st = im_land_descriptor(dp, s, &lo, ri[rows[i]].id, raw + i * p, NULL, &d);
        ibex_surface_free(s);
        ok[i] = st == IBEX_OK;
        if (st != IBEX_OK) {
#pragma omp critical(index_msg)
            fprintf(stderr, "%s: warning: specimen %zu (%s) not indexed: %s\n", cli_prog, rows[i],
                    ri[rows[i]].id ? ri[rows[i]].id : "?", d.message);
        }
        if (progress) {
#pragma omp critical(index_msg)
            {
                done++;
                fprintf(stderr, "\r%s: descriptors %zu/%zu", cli_prog, done, n);
                if (done == n) fputc('\n', stderr);
            }
        }
    }
}

int cmd_index(int argc, char **argv)
{
    static const struct option opts[] = {{"refit", no_argument, 0, 'r'},
                                         {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int refit = 0, json = 0, c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'r': refit = 1; break;
        case 'j': json = 1; break;
        case 'h': help(); return EXIT_OK;
        default: return cli_usage_error("unknown option");
        }
    }
    if (argc - optind != 1) return cli_usage_error("expected one library file");
    return index_update(argv[optind], refit, json, 0);
}

int index_update(const char *path, int refit, int json, int quiet)
{
    double t0 = cli_now();

    ibex_diag d;
    memset(&d, 0, sizeof d);
    ibex_library_opts lo;
    ibex_library_opts_init(&lo);
    lo.flags = IBEX_LIBRARY_WRITE;
    ibex_library *lib = NULL;
    ibex_status st = ibex_library_open(path, &lo, &lib, &d);
    if (st != IBEX_OK) return cli_fail_status(st, &d);

    int rc = EXIT_OK;
    size_t N = ibex_library_count(lib), n0 = 0, d0 = 0;
    const size_t D = IBEX_INDEX_DIM;
    row_info *ri = NULL;
    float *rows = NULL, *raw = NULL;
    size_t *todo = NULL;
    unsigned char *ok = NULL;
    ibex_descriptor *dp = NULL;
    ibex_pca *fitted = NULL;
    index_model m;
    memset(&m, 0, sizeof m);
    int progress = cli_isatty_err() && !json && !quiet;
    size_t n_new = 0, n_done = 0, n_refused = 0, n_other = 0, w0 = 0;
    size_t kind_done[IM_N_KINDS] = {0}, kind_fit[IM_N_KINDS] = {0};
    int did_fit = 0, pending_kinds = 0;
    char opts_text[IBEX_DESCRIPTOR_OPTS_TEXT];
    ibex_descriptor_opts dopt;

    if ((st = ibex_library_index_get_shape(lib, &n0, &d0, &d)) != IBEX_OK) goto fail;
    if ((d0 && d0 != D) || n0 > N) {
        cli_error("%s: stored index is %zu x %zu for %zu specimens; cannot extend it (expected width %zu)", path, n0,
                  d0, N, D);
        rc = EXIT_REFUSED;
        goto out;
    }
    if ((st = im_read_rows(lib, N, &ri, &d)) != IBEX_OK) goto fail;
    rows = calloc(N * D + 1, sizeof *rows);
    todo = malloc((N + 1) * sizeof *todo);
    if (!rows || !todo) {
        st = IBEX_ERR_NOMEM;
        goto fail;
    }
    if (n0 && (st = ibex_library_index_read(lib, 0, n0, rows, &d)) != IBEX_OK) goto fail;
    n_new = N - n0;
    w0 = n0;
    for (size_t r = n0; r < N; r++) n_other += im_kind_index(ri[r].kind) < 0;

    /* Per kind: cartridge cases get the breech-face descriptor, bullet lands the profile
     * descriptor of their signature (docs/index.md). Rows of a kind are rewritten only when
     * its basis is (re)fitted. */
    for (int kk = 0; kk < IM_N_KINDS; kk++) {
        const char *kind = im_kinds[kk];
        int bullet = !strcmp(kind, "bullet");
        im_default_opts(kind, &dopt, opts_text, sizeof opts_text);
        size_t nk = 0;
        for (size_t r = 0; r < N; r++) nk += !strcmp(ri[r].kind, kind);
        if (!nk) continue;
        im_clear(&m);
        ibex_descriptor_free(dp);
        dp = NULL;
        ibex_pca_free(fitted);
        fitted = NULL;
        ibex_diag dm;
        memset(&dm, 0, sizeof dm);
        int have = im_load(lib, kind, &m, &dm) == IBEX_OK;
        if (have && strcmp(m.opts_text, opts_text) && !refit) {
            cli_error("%s: %s index was built with other descriptor parameters (%s); rebuild with 'ibex index "
                      "--refit'",
                      path, kind, m.opts_text);
            rc = EXIT_REFUSED;
            goto out;
        }
        int need_fit = nk >= 2 && (!have || refit || (m.fit_count < IBEX_PCA_FIT_MAX && nk >= 2 * m.fit_count));
        size_t nt = 0;
        for (size_t r = 0; r < N; r++)
            if (!strcmp(ri[r].kind, kind) && (need_fit || r >= n0)) todo[nt++] = r;
        if (!need_fit && !have) {
            nt = 0; /* one specimen: nothing to fit a basis on yet */
            pending_kinds++;
        }
        if (!nt) continue;
        if ((st = ibex_descriptor_create(&dopt, &dp, &d)) != IBEX_OK) goto fail;
        size_t p = ibex_descriptor_size(dp);
        /* Raw descriptors are p = 8,664 floats (35 KB) a row: never hold them for all rows
         * (35 GB at 10^6). The basis is fitted on at most IBEX_PCA_FIT_MAX rows at an even
         * stride over the rows to index; then rows are described and projected in chunks. */
        const size_t CH = 4096;
        size_t nfit = need_fit ? (nt < IBEX_PCA_FIT_MAX ? nt : IBEX_PCA_FIT_MAX) : 0;
        size_t cap = nfit > CH ? nfit : CH;
        free(raw);
        free(ok);
        raw = malloc((cap < nt ? cap : nt) * p * sizeof *raw);
        ok = calloc(cap < nt ? cap : nt, 1);
        size_t *sel = malloc((cap + 1) * sizeof *sel);
        if (!raw || !ok || !sel) {
            free(sel);
            st = IBEX_ERR_NOMEM;
            goto fail;
        }
        const ibex_pca *use = m.pca;
        size_t fit_n = 0;
        int reuse = 0; /* the fit rows are all the rows, all described: project them as they are */
        if (nfit) {
            for (size_t i = 0; i < nfit; i++) sel[i] = todo[i * nt / nfit];
            compute_raw(lib, dp, bullet, sel, nfit, p, raw, ok, ri, progress);
            size_t g = 0;
            for (size_t i = 0; i < nfit; i++) {
                if (!ok[i]) continue;
                if (g != i) memmove(raw + g * p, raw + i * p, p * sizeof *raw);
                g++;
            }
            if (g >= 2) {
                if ((st = ibex_pca_fit(raw, g, p, D, IBEX_PCA_FIT_MAX, 0, &fitted, &d)) != IBEX_OK) {
                    free(sel);
                    goto fail;
                }
                use = fitted;
                fit_n = g;
                w0 = 0; /* every row of the kind changes: rewrite the matrix */
            }
            reuse = nfit == nt && g == nfit;
        }
        if (use && (ibex_pca_dim_in(use) != p || ibex_pca_dim_out(use) != D)) {
            cli_error("%s: stored %s PCA model is %zu -> %zu, expected %zu -> %zu; rebuild with 'ibex index "
                      "--refit'",
                      path, kind, ibex_pca_dim_in(use), ibex_pca_dim_out(use), p, D);
            free(sel);
            rc = EXIT_REFUSED;
            goto out;
        }
        for (size_t c0 = 0; use && c0 < nt; c0 += CH) {
            size_t cn = nt - c0 < CH ? nt - c0 : CH;
            if (!reuse) {
                memset(ok, 0, cn);
                compute_raw(lib, dp, bullet, todo + c0, cn, p, raw, ok, ri, progress);
            }
            for (size_t i = 0; i < cn; i++) {
                float *dst = rows + todo[c0 + i] * D;
                if (!ok[i]) { /* refused: a zero row, which queries skip */
                    n_refused++;
                    memset(dst, 0, D * sizeof *dst);
                    continue;
                }
                ibex_pca_project(use, raw + i * p, 1, dst);
                kind_done[kk]++;
                n_done++;
            }
        }
        free(sel);
        if (fitted) {
            /* Stage the model; it is written in the same transaction as the rows. */
            if (!did_fit && (st = ibex_library_begin(lib, &d)) != IBEX_OK) goto fail;
            did_fit = 1;
            kind_fit[kk] = fit_n;
            char cnt[32];
            snprintf(cnt, sizeof cnt, "%zu", fit_n);
            if ((st = ibex_library_model_put_text(lib, kind, "descriptor_opts", opts_text, &d)) ||
                (st = ibex_library_model_put_text(lib, kind, "pca_fit_count", cnt, &d)) ||
                (st = ibex_library_model_put_text(lib, kind, "pca_flags", "0", &d)) ||
                (st = ibex_library_model_put_matrix(lib, kind, "pca_mean", 1, p, ibex_pca_get_mean(fitted), &d)) ||
                (st = ibex_library_model_put_matrix(lib, kind, "pca_basis", D, p, ibex_pca_get_basis(fitted), &d)))
                goto fail;
            /* The library keeps the LR calibration it was indexed with (ibex query uses it). */
            const ibex_calibration *cal = ibex_calibration_shipped(kind);
            char ctext[512];
            if (cal && ibex_calibration_format(cal, ctext, sizeof ctext) &&
                (st = ibex_library_model_put_text(lib, kind, "calibration", ctext, &d)))
                goto fail;
        } else if (have) {
            kind_fit[kk] = m.fit_count;
        }
    }

    if (w0 < N || did_fit) {
        if (!did_fit && (st = ibex_library_begin(lib, &d)) != IBEX_OK) goto fail;
        if (w0 < N && (st = ibex_library_index_write(lib, w0, N - w0, D, rows + w0 * D, &d)) != IBEX_OK) goto fail;
        if ((st = ibex_library_commit(lib, &d)) != IBEX_OK) goto fail;
    }

    if (!quiet) {
        double secs = cli_now() - t0;
        if (json) {
            json_t *o = json_object();
            json_object_set_new(o, "library", json_string(path));
            json_object_set_new(o, "specimens", json_integer((json_int_t)N));
            json_object_set_new(o, "new_rows", json_integer((json_int_t)n_new));
            json_object_set_new(o, "indexed", json_integer((json_int_t)n_done));
            json_object_set_new(o, "refused", json_integer((json_int_t)n_refused));
            json_object_set_new(o, "other_rows_zero", json_integer((json_int_t)n_other));
            json_object_set_new(o, "refit", json_boolean(did_fit));
            json_t *k = json_object();
            for (int kk = 0; kk < IM_N_KINDS; kk++) {
                json_t *e = json_object();
                json_object_set_new(e, "indexed", json_integer((json_int_t)kind_done[kk]));
                json_object_set_new(e, "pca_fit_count", json_integer((json_int_t)kind_fit[kk]));
                json_object_set_new(k, im_kinds[kk], e);
            }
            json_object_set_new(o, "kinds", k);
            json_object_set_new(o, "pca_fit_count", json_integer((json_int_t)kind_fit[0]));
            json_object_set_new(o, "dim", json_integer((json_int_t)D));
            json_object_set_new(o, "seconds", json_real(secs));
            json_dumpf(o, stdout, JSON_COMPACT);
            putchar('\n');
            json_decref(o);
        } else {
            printf("indexed %zu rows (%zu cartridge, %zu bullet; %zu new rows, %zu specimens in all), %zu refused, "
                   "%.2f s%s\n",
                   n_done, kind_done[0], kind_done[1], n_new, N, n_refused, secs,
                   pending_kinds ? " (a kind with fewer than 2 specimens has no basis yet)" : "");
            for (int kk = 0; kk < IM_N_KINDS; kk++)
                if (did_fit && kind_fit[kk] && kind_done[kk])
                    printf("%s basis: fitted on %zu specimens, d = %zu\n", im_kinds[kk], kind_fit[kk], D);
        }
    }
    goto out;
fail:
    rc = cli_fail_status(st, &d);
out:
    free(rows);
    free(raw);
    free(todo);
    free(ok);
    ibex_pca_free(fitted);
    ibex_descriptor_free(dp);
    im_clear(&m);
    im_free_rows(ri, N);
    ibex_diag dc;
    if (ibex_library_close(lib, &dc) != IBEX_OK && rc == EXIT_OK) rc = cli_fail_status(IBEX_ERR_IO, &dc);
    return rc;
}
