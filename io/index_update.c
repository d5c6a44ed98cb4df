/* The stage-1 index of a library (include/ibex/library.h, docs/reference/index.md, "Wiring").
 * Incremental: rows past the stored /index/descriptors count are computed and appended,
 * projected with the stored PCA basis, so earlier rows are never rewritten. The basis of a
 * kind is (re)fitted the first time, when that kind has doubled since the last fit while
 * the fit used fewer than IBEX_PCA_FIT_MAX specimens, or on refit; a refit rewrites every
 * row of that kind. Everything is written at the end in one transaction (models first,
 * then the rows), so a cancelled or refused update leaves the library as it was. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibex/bullet.h"
#include "ibex/calibration.h"
#include "ibex/index.h"
#include "ibex/library.h"
#include "ibex_internal.h"
#include "index_model_internal.h"

const char *ibex_index_kind_name(int k) { return k >= 0 && k < IBEX__IM_N_KINDS ? ibex__im_kinds[k] : NULL; }

void ibex_index_update_opts_init(ibex_index_update_opts *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
}

void ibex_index_update_result_init(ibex_index_update_result *r)
{
    memset(r, 0, sizeof *r);
    r->struct_size = sizeof *r;
}

void ibex_index_update_result_clear(ibex_index_update_result *r)
{
    if (!r) return;
    size_t size = r->struct_size;
    free(r->refusals);
    memset(r, 0, size < sizeof *r ? size : sizeof *r);
    r->struct_size = size;
}

/* Working state of one update. */
typedef struct upd {
    ibex_library *lib;
    const char *path;
    const ibex_index_update_opts *o;
    ibex_index_update_result res;
    size_t N;
    ibex__row_info *ri;
    int cancelled;
    /* per kind: the basis fitted now (written at the end) and its options text */
    ibex_pca *fitted[IBEX__IM_N_KINDS];
    size_t fit_n[IBEX__IM_N_KINDS];
    char opts_text[IBEX__IM_N_KINDS][IBEX_DESCRIPTOR_OPTS_TEXT];
} upd;

static void refusal(upd *U, size_t row, const char *msg)
{
    ibex_index_update_result *r = &U->res;
    ibex_index_refusal *t = realloc(r->refusals, (r->n_refusals + 1) * sizeof *t);
    if (!t) return; /* the count in `refused` stays right; only the detail is lost */
    r->refusals = t;
    ibex_index_refusal *x = &t[r->n_refusals++];
    x->row = row;
    snprintf(x->id, sizeof x->id, "%s", U->ri[row].id ? U->ri[row].id : "");
    snprintf(x->message, sizeof x->message, "%s", msg);
}

/* Raw descriptors of rows[0..n) into raw (n x p); ok[i] = 0 when a specimen is refused.
 * Returns 0, or 1 when the progress callback asked to stop. */
static int compute_raw(upd *U, const ibex_descriptor *dp, int bullet, const size_t *rows, size_t n, size_t p,
                       float *raw, unsigned char *ok)
{
    ibex_land_opts lo;
    ibex_land_opts_init(&lo);
    size_t done = 0;
    int stop = 0;
    double t0 = ibex__now();
    const ibex_index_update_opts *o = U->o;
    if (o->progress && o->progress(o->progress_user, "descriptors", 0, n, -1)) return 1;
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t i = 0; i < n; i++) {
        int halt;
#pragma omp atomic read
        halt = stop;
        if (halt) continue;
        ibex_diag d;
        memset(&d, 0, sizeof d);
        ibex_surface *s = NULL;
        const char *name = U->ri[rows[i]].id;
        ibex_status st = ibex_library_get_surface(U->lib, rows[i], &s, &d);
        if (st == IBEX_OK && !bullet) st = ibex_descriptor_run(dp, s, name, raw + i * p, &d);
        if (st == IBEX_OK && bullet) st = ibex__im_land_descriptor(dp, s, &lo, name, raw + i * p, NULL, &d);
        ibex_surface_free(s);
        ok[i] = st == IBEX_OK;
#pragma omp critical(index_msg)
        {
            if (st != IBEX_OK) refusal(U, rows[i], d.message);
            done++;
            if (o->progress && !stop) {
                double el = ibex__now() - t0;
                if (o->progress(o->progress_user, "descriptors", done, n, el / (double)done * (double)(n - done))) {
#pragma omp atomic write
                    stop = 1;
                }
            }
        }
    }
    return stop;
}

/* One kind: fit its basis when due, describe and project its rows to do into rows. */
static ibex_status update_kind(upd *U, int kk, float *rows, size_t *todo, size_t n0, size_t *w0, ibex_diag *d)
{
    const char *kind = ibex__im_kinds[kk];
    const int bullet = !strcmp(kind, "bullet");
    const size_t N = U->N, D = IBEX_INDEX_DIM;
    ibex_index_update_result *R = &U->res;
    ibex_descriptor_opts dopt;
    ibex__im_default_opts(kind, &dopt, U->opts_text[kk], sizeof U->opts_text[kk]);
    size_t nk = 0;
    for (size_t r = 0; r < N; r++) nk += !strcmp(U->ri[r].kind, kind);
    if (!nk) return IBEX_OK;
    ibex__index_model m;
    ibex_diag dm;
    memset(&dm, 0, sizeof dm);
    int have = ibex__im_load(U->lib, kind, &m, &dm) == IBEX_OK;
    ibex_descriptor *dp = NULL;
    float *raw = NULL;
    unsigned char *ok = NULL;
    size_t *sel = NULL;
    ibex_status st = IBEX_OK;
    if (have && strcmp(m.opts_text, U->opts_text[kk]) && !U->o->refit) {
        st = ibex__fail(d, IBEX_ERR_FORMAT, U->path, -1,
                        "%s index was built with other descriptor parameters (%s); rebuild with 'ibex index --refit'",
                        kind, m.opts_text);
        goto done;
    }
    int need_fit = nk >= 2 && (!have || U->o->refit || (m.fit_count < IBEX_PCA_FIT_MAX && nk >= 2 * m.fit_count));
    size_t nt = 0;
    for (size_t r = 0; r < N; r++)
        if (!strcmp(U->ri[r].kind, kind) && (need_fit || r >= n0)) todo[nt++] = r;
    if (!need_fit && !have) {
        nt = 0; /* one specimen: nothing to fit a basis on yet */
        R->basis_pending = 1;
    }
    if (!nt) goto done; /* nothing of the kind to do: its fit count is not reported */
    if ((st = ibex_descriptor_create(&dopt, &dp, d)) != IBEX_OK) goto done;
    size_t p = ibex_descriptor_size(dp);
    /* Raw descriptors are p = 8,664 floats (35 KB) a row: never hold them for all rows
     * (35 GB at 10^6). The basis is fitted on at most IBEX_PCA_FIT_MAX rows at an even
     * stride over the rows to index; then rows are described and projected in chunks. */
    const size_t CH = 4096;
    size_t nfit = need_fit ? (nt < IBEX_PCA_FIT_MAX ? nt : IBEX_PCA_FIT_MAX) : 0;
    size_t cap = nfit > CH ? nfit : CH;
    raw = malloc((cap < nt ? cap : nt) * p * sizeof *raw);
    ok = calloc(cap < nt ? cap : nt, 1);
    sel = malloc((cap + 1) * sizeof *sel);
    if (!raw || !ok || !sel) {
        st = ibex__fail(d, IBEX_ERR_NOMEM, NULL, -1, "%s", ibex_strerror(IBEX_ERR_NOMEM));
        goto done;
    }
    const ibex_pca *use = m.pca;
    int reuse = 0; /* the fit rows are all the rows, all described: project them as they are */
    if (nfit) {
        for (size_t i = 0; i < nfit; i++) sel[i] = todo[i * nt / nfit];
        if (compute_raw(U, dp, bullet, sel, nfit, p, raw, ok)) goto cancelled;
        size_t g = 0;
        for (size_t i = 0; i < nfit; i++) {
            if (!ok[i]) continue;
            if (g != i) memmove(raw + g * p, raw + i * p, p * sizeof *raw);
            g++;
        }
        if (g >= 2) {
            if ((st = ibex_pca_fit(raw, g, p, D, IBEX_PCA_FIT_MAX, 0, &U->fitted[kk], d)) != IBEX_OK) goto done;
            use = U->fitted[kk];
            U->fit_n[kk] = g;
            *w0 = 0; /* every row of the kind changes: rewrite the matrix */
        }
        reuse = nfit == nt && g == nfit;
    }
    if (use && (ibex_pca_dim_in(use) != p || ibex_pca_dim_out(use) != D)) {
        st = ibex__fail(d, IBEX_ERR_FORMAT, U->path, -1,
                        "stored %s PCA model is %zu -> %zu, expected %zu -> %zu; rebuild with 'ibex index --refit'",
                        kind, ibex_pca_dim_in(use), ibex_pca_dim_out(use), p, D);
        goto done;
    }
    for (size_t c0 = 0; use && c0 < nt; c0 += CH) {
        size_t cn = nt - c0 < CH ? nt - c0 : CH;
        if (!reuse) {
            memset(ok, 0, cn);
            if (compute_raw(U, dp, bullet, todo + c0, cn, p, raw, ok)) goto cancelled;
        }
        for (size_t i = 0; i < cn; i++) {
            float *dst = rows + todo[c0 + i] * D;
            if (!ok[i]) { /* refused: a zero row, which queries skip */
                R->refused++;
                memset(dst, 0, D * sizeof *dst);
                continue;
            }
            ibex_pca_project(use, raw + i * p, 1, dst);
            R->kind_indexed[kk]++;
            R->indexed++;
        }
    }
    if (U->fitted[kk]) {
        R->kind_fit_count[kk] = U->fit_n[kk];
        R->kind_fitted[kk] = 1;
    } else if (have) {
        R->kind_fit_count[kk] = m.fit_count;
    }
    goto done;
cancelled:
    U->cancelled = 1;
    st = ibex__fail(d, IBEX_ERR_CANCELLED, NULL, -1, "cancelled");
done:
    free(sel);
    free(raw);
    free(ok);
    ibex_descriptor_free(dp);
    ibex__im_clear(&m);
    return st;
}

/* The fitted models (with the LR calibration the library is indexed with, which the search
 * uses) and the changed rows, in one transaction. */
static ibex_status write_all(upd *U, const float *rows, size_t w0, ibex_diag *d)
{
    const size_t N = U->N, D = IBEX_INDEX_DIM;
    int did_fit = 0;
    ibex_status st;
    for (int kk = 0; kk < IBEX__IM_N_KINDS; kk++) {
        const ibex_pca *f = U->fitted[kk];
        if (!f) continue;
        const char *kind = ibex__im_kinds[kk];
        size_t p = ibex_pca_dim_in(f);
        if (!did_fit && (st = ibex_library_begin(U->lib, d)) != IBEX_OK) return st;
        did_fit = 1;
        char cnt[32];
        snprintf(cnt, sizeof cnt, "%zu", U->fit_n[kk]);
        if ((st = ibex_library_model_put_text(U->lib, kind, "descriptor_opts", U->opts_text[kk], d)) ||
            (st = ibex_library_model_put_text(U->lib, kind, "pca_fit_count", cnt, d)) ||
            (st = ibex_library_model_put_text(U->lib, kind, "pca_flags", "0", d)) ||
            (st = ibex_library_model_put_matrix(U->lib, kind, "pca_mean", 1, p, ibex_pca_get_mean(f), d)) ||
            (st = ibex_library_model_put_matrix(U->lib, kind, "pca_basis", D, p, ibex_pca_get_basis(f), d)))
            return st;
        const ibex_calibration *cal = ibex_calibration_shipped(kind);
        char ctext[512];
        if (cal && ibex_calibration_format(cal, ctext, sizeof ctext) &&
            (st = ibex_library_model_put_text(U->lib, kind, "calibration", ctext, d)))
            return st;
    }
    if (w0 < N || did_fit) {
        if (!did_fit && (st = ibex_library_begin(U->lib, d)) != IBEX_OK) return st;
        if (w0 < N && (st = ibex_library_index_write(U->lib, w0, N - w0, D, rows + w0 * D, d)) != IBEX_OK) return st;
        if ((st = ibex_library_commit(U->lib, d)) != IBEX_OK) return st;
    }
    U->res.refit = did_fit;
    return IBEX_OK;
}

ibex_status ibex_library_index_update(ibex_library *lib, const ibex_index_update_opts *opts,
                                      ibex_index_update_result *res, ibex_diag *d)
{
    double t0 = ibex__now();
    ibex_index_update_opts o;
    ibex_index_update_opts_init(&o);
    ibex_status st = ibex__opts_merge(&o, sizeof o, opts) ? IBEX_OK : ibex__opts_refused(d, "ibex_index_update_opts");
    if (st != IBEX_OK) return st;
    if (res && res->struct_size < sizeof(size_t))
        return ibex__fail(d, IBEX_ERR_ARG, NULL, -1, "ibex_index_update_result: call its _init first");
    if (!lib) return ibex__fail(d, IBEX_ERR_ARG, NULL, -1, "no library");
    upd U;
    memset(&U, 0, sizeof U);
    U.lib = lib;
    U.path = ibex_library_path(lib);
    U.o = &o;
    ibex_index_update_result_init(&U.res);
    const size_t N = ibex_library_count(lib), D = IBEX_INDEX_DIM;
    size_t n0 = 0, d0 = 0, w0 = 0;
    float *rows = NULL;
    size_t *todo = NULL;
    U.N = N;
    U.res.specimens = N;
    U.res.dim = D;
    if ((st = ibex_library_index_get_shape(lib, &n0, &d0, d)) != IBEX_OK) goto out;
    if ((d0 && d0 != D) || n0 > N) {
        st = ibex__fail(d, IBEX_ERR_FORMAT, U.path, -1,
                        "stored index is %zu x %zu for %zu specimens; cannot extend it (expected width %zu)", n0, d0,
                        N, D);
        goto out;
    }
    if ((st = ibex__im_read_rows(lib, N, &U.ri, d)) != IBEX_OK) goto out;
    rows = calloc(N * D + 1, sizeof *rows);
    todo = malloc((N + 1) * sizeof *todo);
    if (!rows || !todo) {
        st = ibex__fail(d, IBEX_ERR_NOMEM, NULL, -1, "%s", ibex_strerror(IBEX_ERR_NOMEM));
        goto out;
    }
    if (n0 && (st = ibex_library_index_read(lib, 0, n0, rows, d)) != IBEX_OK) goto out;
    U.res.new_rows = N - n0;
    w0 = n0;
    for (size_t r = n0; r < N; r++) U.res.other_rows += ibex__im_kind_index(U.ri[r].kind) < 0;
    /* Per kind: cartridge cases get the breech-face descriptor, bullet lands the profile
     * descriptor of their signature (docs/reference/index.md). Rows of a kind are rewritten only when
     * its basis is (re)fitted. */
    for (int kk = 0; kk < IBEX__IM_N_KINDS && st == IBEX_OK; kk++) st = update_kind(&U, kk, rows, todo, n0, &w0, d);
    if (st == IBEX_OK) st = write_all(&U, rows, w0, d);
    U.res.seconds = ibex__now() - t0;
    if (st == IBEX_OK && res) {
        size_t size = res->struct_size;
        memcpy(res, &U.res, size < sizeof U.res ? size : sizeof U.res);
        res->struct_size = size;
        if (size < offsetof(ibex_index_update_result, n_refusals) + sizeof(size_t)) free(U.res.refusals);
        U.res.refusals = NULL;
    }
out:
    free(U.res.refusals);
    free(rows);
    free(todo);
    for (int kk = 0; kk < IBEX__IM_N_KINDS; kk++) ibex_pca_free(U.fitted[kk]);
    ibex__im_free_rows(U.ri, N);
    return st;
}

ibex_status ibex_library_index_update_path(const char *path, const ibex_index_update_opts *o,
                                           ibex_index_update_result *res, ibex_diag *d)
{
    ibex_library_opts lo;
    ibex_library_opts_init(&lo);
    lo.flags = IBEX_LIBRARY_WRITE;
    ibex_library *lib = NULL;
    ibex_status st = ibex_library_open(path, &lo, &lib, d);
    if (st != IBEX_OK) return st;
    st = ibex_library_index_update(lib, o, res, d);
    ibex_diag dc;
    memset(&dc, 0, sizeof dc);
    if (ibex_library_close(lib, &dc) != IBEX_OK && st == IBEX_OK) {
        if (d) *d = dc;
        st = IBEX_ERR_IO;
        if (res) ibex_index_update_result_clear(res);
    }
    return st;
}
