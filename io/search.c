/* The two-stage search of a reference library (include/ibex/search.h, docs/reference/index.md).
 * Stage 1: descriptor of each query with the library's stored options, PCA projection,
 * top-K by cosine over the indexed rows of the same kind (one SGEMV, or SGEMM for a batch
 * of queries). Stage 2: each shortlisted pair is re-scored with the full comparison of
 * 'ibex compare' (cartridges: the same preprocessing, then CMC), the pairs in parallel;
 * the list is ranked by the stage-2 score. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "ibex/bullet.h"
#include "ibex/calibration.h"
#include "ibex/index.h"
#include "ibex/prealign.h"
#include "ibex/search.h"
#include "baseline_internal.h"
#include "ibex_internal.h"
#include "index_model_internal.h"
#include "search_shard_internal.h"

/* The only library preprocessing this stage 2 knows: surfaces stored as read, so each
 * side is prepared exactly as 'ibex compare' prepares a scan file. */
static const char known_params[] = "preprocess=none\n";

/* One candidate while searching: plain data, so that a sharded search can move the
 * records between ranks (the public candidate points into the result). */
typedef struct cand {
    size_t row;
    float stage1;
    int done;
    double score;
    unsigned cmc, cmc_high, cells_a, cells_b;
    double ccf;
    ibex_verdict verdict;
    char err[160];
    long keep;       /* slot in search.kept (keep_comparisons), else -1 */
    double screen;   /* two-step stage 2: the screening NCC, NaN when none */
    int screened_out; /* left out of the exhaustive CMC by the screen */
} cand;

/* A stage-2 comparison kept for the caller (keep_comparisons). */
typedef struct kept_pair {
    ibex_cmc_result *res;
    ibex_surface *tmp;              /* a side prepared again at the common spacing, or NULL */
    const ibex_surface *qa, *cb;    /* the two surfaces compared */
} kept_pair;

struct ibex_search_result {
    ibex_search_info info;
    size_t nq, Kq, N;
    size_t *nc;
    ibex_search_candidate *cands; /* query i: cands[i * Kq + h], h < nc[i] */
    ibex__row_info *ri;
    ibex_calibration cal;
    /* keep_comparisons: the comparisons and the prepared surfaces they point into */
    kept_pair *kept;
    size_t nkept;
    ibex_surface **prep, **qprep;
};

void ibex_search_opts_init(ibex_search_opts *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
}

size_t ibex_search_default_shortlist(size_t n)
{
    size_t pct = (n + 99) / 100;
    return pct > 50 ? pct : 50;
}

const char *ibex_scan_kind(const ibex_surface *s)
{
    const char *k = s->meta.specimen_kind;
    if (k && (!strcmp(k, "cartridge") || !strcmp(k, "bullet"))) return k;
    return s->nx >= 2 * s->ny || s->ny >= 2 * s->nx ? "bullet" : "cartridge";
}

/* The screen as a sort key: NaN (not screened, or failed) last. */
static double screen_key(const cand *c)
{
    return isnan(c->screen) ? -INFINITY : c->screen;
}

/* Exhaustively scored pairs by their score, then the screened-out ones by the screen, then
 * the failed ones; ties by CMC count, stage 1, row. */
static int cand_cmp(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->done != y->done) return y->done - x->done;
    if (x->screened_out != y->screened_out) return x->screened_out ? -1 : 1;
    if (!x->done && screen_key(x) != screen_key(y)) return screen_key(x) > screen_key(y) ? -1 : 1;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    if (x->cmc != y->cmc) return x->cmc > y->cmc ? -1 : 1;
    if (x->stage1 != y->stage1) return x->stage1 > y->stage1 ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

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

/* within: allow[r] = 1 for the rows of the ids the file lists. Refuses an unreadable file,
 * an unknown id and a list naming no id (diag names the file and line). */
static ibex_status read_within(const char *file, ibex_library *lib, size_t N, unsigned char **allow_out,
                               ibex_diag *diag)
{
    FILE *f = fopen(file, "r");
    if (!f) return ibex__fail(diag, IBEX_ERR_IO, file, -1, "cannot read the --within list: %s", strerror(errno));
    unsigned char *allow = calloc(N ? N : 1, 1);
    char *line = NULL;
    size_t cap = 0, lineno = 0, nid = 0;
    ibex_status st = allow ? IBEX_OK : ibex__fail(diag, IBEX_ERR_NOMEM, NULL, -1, "%s", ibex_strerror(IBEX_ERR_NOMEM));
    while (st == IBEX_OK && getline(&line, &cap, f) >= 0) {
        lineno++;
        char *id = line;
        while (*id == ' ' || *id == '\t') id++;
        size_t len = strcspn(id, "\r\n");
        while (len && (id[len - 1] == ' ' || id[len - 1] == '\t')) len--;
        id[len] = 0;
        if (!*id || *id == '#') continue;
        size_t row;
        if (!ibex_library_find_id(lib, id, &row) || row >= N) {
            char where[600];
            snprintf(where, sizeof where, "%s:%zu", file, lineno);
            st = ibex__fail(diag, IBEX_ERR_ARG, where, -1, "no specimen '%s' in the library", id);
            break;
        }
        allow[row] = 1;
        nid++;
    }
    if (st == IBEX_OK && ferror(f)) st = ibex__fail(diag, IBEX_ERR_IO, file, -1, "read error: %s", strerror(errno));
    if (st == IBEX_OK && !nid) st = ibex__fail(diag, IBEX_ERR_ARG, file, -1, "the --within list names no specimen");
    free(line);
    fclose(f);
    if (st != IBEX_OK) {
        free(allow);
        return st;
    }
    *allow_out = allow;
    return IBEX_OK;
}

/* Working state of one search; freed by search_clear. */
typedef struct search {
    const ibex_search_opts *o;
    ibex_library *lib;
    const char *path;
    const ibex_surface *const *qs;
    const char *const *qpath;
    size_t nq, N, Kq, nix, pending, first, nix_here;
    const char *kind;
    int bullet, kind_known;
    ibex_shard *sh;
    ibex__index_model m;
    ibex_calibration cal;
    int has_cal;
    unsigned char *kcode, *allow;
    size_t *map, *self_row, *nc;
    unsigned char *has_self;
    ibex_index *ix;
    cand *cands;
    ibex__row_info *ri;
    ibex_land_opts lo;
    ibex_land_signature **qsig, **csig;
    ibex_surface **qprep, **prep;
    ibex_cmc_plan *plan;
    size_t exact_top, screened; /* two-step stage 2 */
    double t0, t1, t2, t_open, t_load, t_search, t_screen;
    kept_pair *kept;       /* keep_comparisons: one slot per local cartridge pair */
    size_t nkept;
} search;

static void kept_free(kept_pair *k, size_t n)
{
    for (size_t i = 0; k && i < n; i++) {
        ibex_cmc_result_free(k[i].res);
        ibex_surface_free(k[i].tmp);
    }
    free(k);
}

static void search_clear(search *S)
{
    kept_free(S->kept, S->nkept);
    if (S->prep)
        for (size_t r = 0; r < S->N; r++) ibex_surface_free(S->prep[r]);
    free(S->prep);
    if (S->csig)
        for (size_t r = 0; r < S->N; r++) ibex_land_signature_free(S->csig[r]);
    free(S->csig);
    for (size_t i = 0; S->qsig && i < S->nq; i++) ibex_land_signature_free(S->qsig[i]);
    free(S->qsig);
    for (size_t i = 0; S->qprep && i < S->nq; i++) ibex_surface_free(S->qprep[i]);
    free(S->qprep);
    free(S->self_row);
    free(S->has_self);
    free(S->allow);
    free(S->map);
    free(S->nc);
    free(S->cands);
    ibex_index_free(S->ix);
    ibex_cmc_plan_free(S->plan);
    ibex__im_clear(&S->m);
    ibex__im_free_rows(S->ri, S->N);
    free(S->kcode);
}

static int progress(const search *S, const char *stage, size_t done, size_t total, double eta)
{
    return S->o->progress ? S->o->progress(S->o->progress_user, stage, done, total, eta) : 0;
}

/* One kind per batch (checked before the library is opened). */
static ibex_status batch_kind(const ibex_surface *const *qs, const char *const *names, size_t nq, const char *kind,
                              int *bullet_out, ibex_diag *d)
{
    int bullet = 0;
    for (size_t i = 0; i < nq; i++) {
        int b = !strcmp(kind ? kind : ibex_scan_kind(qs[i]), "bullet");
        if (i && b != bullet)
            return ibex__fail(d, IBEX_ERR_ARG, names && names[i] ? names[i] : "query", -1,
                              "a %s scan, but %s is a %s scan: query cartridge cases and bullet lands separately",
                              b ? "bullet land" : "cartridge", names && names[0] ? names[0] : "query",
                              bullet ? "bullet land" : "cartridge");
        bullet = b;
    }
    *bullet_out = bullet;
    return IBEX_OK;
}

/* The library's preprocessing, calibration and within list. */
static ibex_status check_library(search *S, ibex_diag *d)
{
    int bullet = 0;
    ibex_status st = batch_kind(S->qs, S->qpath, S->nq, S->o->kind, &bullet, d);
    if (st != IBEX_OK) return st;
    S->bullet = bullet;
    S->kind = bullet ? "bullet" : IBEX__IM_KIND_CARTRIDGE;
    S->N = ibex_library_count(S->lib);
    if (!bullet) {
        /* The calibration the library was indexed with, else the one shipped with IBEX. */
        char *ct = NULL;
        S->has_cal = ibex_library_model_get_text(S->lib, IBEX__IM_KIND_CARTRIDGE, "calibration", &ct, NULL) ==
                         IBEX_OK &&
                     ibex_calibration_parse(ct, &S->cal, NULL) == IBEX_OK;
        free(ct);
        const ibex_calibration *sc = ibex_calibration_shipped(IBEX__IM_KIND_CARTRIDGE);
        if (!S->has_cal && sc) S->cal = *sc, S->has_cal = 1;
    }
    if (S->o->within && (st = read_within(S->o->within, S->lib, S->N, &S->allow, d)) != IBEX_OK) return st;
    const char *params = ibex_library_params(S->lib);
    if (!params || strcmp(params, known_params))
        return ibex__fail(d, IBEX_ERR_UNSUPPORTED, S->path, -1,
                          "library built with preprocessing parameters '%s'; this query knows only '%.*s'",
                          params ? params : "(none)", (int)strlen(known_params) - 1, known_params);
    return IBEX_OK;
}

/* The stage-1 model of the query's kind, which the library must hold for rows of it. */
static ibex_status check_model(search *S, ibex_diag *d)
{
    ibex_diag dm;
    memset(&dm, 0, sizeof dm);
    ibex_status st;
    size_t have_kind = 0;
    int model_ok = ibex__im_load(S->lib, S->kind, &S->m, &dm) == IBEX_OK;
    /* The index update writes non-zero rows only for kinds that have a model: when the
     * query's kind is the only one, every non-zero index row is of that kind and the table
     * need not be read at all (at 10^6 rows the kind column costs seconds). Otherwise the
     * kind column, in one pass of hyperslab reads. */
    int single = model_ok;
    for (int k = 0; single && k < IBEX__IM_N_KINDS; k++) {
        char *t = NULL;
        if (strcmp(ibex__im_kinds[k], S->kind) &&
            ibex_library_model_get_text(S->lib, ibex__im_kinds[k], "descriptor_opts", &t, NULL) == IBEX_OK)
            single = 0;
        free(t);
    }
    if (single) {
        have_kind = 1; /* checked later: no indexed row means no specimen of the kind */
    } else {
        if ((st = ibex__im_read_kinds(S->lib, S->N, &S->kcode, d)) != IBEX_OK) return st;
        unsigned char want = (unsigned char)(ibex__im_kind_index(S->kind) + 1);
        for (size_t r = 0; r < S->N && !have_kind; r++) have_kind = S->kcode[r] == want;
    }
    if (!have_kind)
        return ibex__fail(d, IBEX_ERR_UNSUPPORTED, S->qpath[0], -1, "a %s scan, but the library %s holds no %s specimens",
                          S->bullet ? "bullet land" : "cartridge", S->path, S->kind);
    if (!model_ok)
        return ibex__fail(d, IBEX_ERR_FORMAT, S->path, -1, "no %s index in this library (%s); run 'ibex index %s' first",
                          S->kind, dm.message, S->path);
    ibex_descriptor_opts o;
    char text[IBEX_DESCRIPTOR_OPTS_TEXT];
    ibex__im_default_opts(S->kind, &o, text, sizeof text);
    if (strcmp(text, S->m.opts_text))
        return ibex__fail(d, IBEX_ERR_FORMAT, S->path, -1,
                          "index built with other descriptor parameters ('%s', this ibex uses '%s'); rebuild it "
                          "with 'ibex index --refit %s'",
                          S->m.opts_text, text, S->path);
    return IBEX_OK;
}

/* In-memory index of this rank's slab: indexed (unit, non-zero) rows of the query's kind. */
static ibex_status load_index(search *S, ibex_diag *d)
{
    size_t n = 0, dim = 0, N = S->N;
    ibex_status st;
    if ((st = ibex_library_index_get_shape(S->lib, &n, &dim, d)) != IBEX_OK) return st;
    if (n > N || (n && dim != ibex_pca_dim_out(S->m.pca)))
        return ibex__fail(d, IBEX_ERR_FORMAT, S->path, -1,
                          "index is %zu x %zu for %zu specimens and a %zu-dimensional model; rebuild it with "
                          "'ibex index --refit %s'",
                          n, dim, N, ibex_pca_dim_out(S->m.pca), S->path);
    dim = ibex_pca_dim_out(S->m.pca);
    S->t_open = ibex__now();
    /* Table details only for the candidates (filled after stage 1). */
    S->ri = calloc(N ? N : 1, sizeof *S->ri);
    size_t row0, row1; /* this rank's rows (all of them in one process), nr of them indexed */
    ibex__shard_rows(S->sh, N, &row0, &row1);
    size_t nr = (row1 < n ? row1 : n) > row0 ? (row1 < n ? row1 : n) - row0 : 0;
    float *rows = malloc((nr * dim + 1) * sizeof *rows);
    S->map = malloc((nr + 1) * sizeof *S->map);
    if (!S->ri || !rows || !S->map) {
        free(rows);
        return ibex__fail(d, IBEX_ERR_NOMEM, NULL, -1, "%s", ibex_strerror(IBEX_ERR_NOMEM));
    }
    if (nr && (st = ibex_library_index_read(S->lib, row0, nr, rows, d)) != IBEX_OK) {
        free(rows);
        return st;
    }
    size_t nix = 0, pending = 0;
    const unsigned char kwant = (unsigned char)(ibex__im_kind_index(S->kind) + 1);
    for (size_t r = row0; r < row1; r++) {
        if ((S->kcode && S->kcode[r] != kwant) || (S->allow && !S->allow[r])) continue;
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
        S->map[nix++] = r;
    }
    /* nix and pending become the totals over the ranks; this rank's rows start at 'first'. */
    S->nix_here = nix;
    if ((st = ibex__shard_counts(S->sh, &nix, &pending, &S->first, d)) != IBEX_OK) {
        free(rows);
        return st;
    }
    S->nix = nix;
    S->pending = pending;
    S->kind_known = S->kcode != NULL;
    if (!nix) {
        free(rows);
        if (S->allow)
            return ibex__fail(d, IBEX_ERR_ARG, S->path, -1,
                              "none of the specimens listed in %s is an indexed %s specimen", S->o->within, S->kind);
        return ibex__fail(d, IBEX_ERR_FORMAT, S->path, -1, "no indexed %s specimens; run 'ibex index %s' first",
                          S->kind, S->path);
    }
    if ((st = ibex_index_create(dim, &S->ix)) == IBEX_OK) st = ibex_index_add(S->ix, rows, S->nix_here);
    free(rows); /* the index holds its own copy */
    if (st != IBEX_OK) return ibex__fail(d, st, NULL, -1, "%s", ibex_strerror(st));
    S->t_load = ibex__now();
    return IBEX_OK;
}

/* Stage 1: descriptors of the queries with the library's options (one batch), the search,
 * and the shortlists of library rows (the query itself left out with exclude_self). */
static ibex_status stage1(search *S, ibex_diag *d)
{
    const size_t nq = S->nq, nix = S->nix;
    size_t K = S->o->shortlist ? S->o->shortlist : ibex_search_default_shortlist(nix);
    for (size_t i = 0; i < nq && S->o->exclude_self; i++) {
        char sha[65];
        const char *given = S->o->self_sha256 ? S->o->self_sha256[i] : NULL;
        if (given) snprintf(sha, sizeof sha, "%s", given);
        if ((given || (S->qpath[i] && ibex_file_sha256(S->qpath[i], sha, NULL) == IBEX_OK)) &&
            ibex_library_find_hash(S->lib, sha, &S->self_row[i]))
            S->has_self[i] = 1;
    }
    size_t Kq = K + (S->o->exclude_self ? 1 : 0); /* room to drop the query itself */
    if (Kq > nix) Kq = nix;
    S->Kq = Kq;
    ibex_descriptor *dp = NULL;
    float *raw = NULL, *q = NULL;
    ibex_hit *hits = NULL;
    size_t *nh = NULL;
    ibex_status st = ibex_descriptor_create(&S->m.opts, &dp, d);
    if (st != IBEX_OK) return st;
    size_t p = ibex_descriptor_size(dp), dim = ibex_pca_dim_out(S->m.pca);
    if (p != ibex_pca_dim_in(S->m.pca)) {
        st = ibex__fail(d, IBEX_ERR_FORMAT, S->path, -1,
                        "PCA model expects %zu descriptor values, the descriptor gives %zu; rebuild with 'ibex index "
                        "--refit'",
                        ibex_pca_dim_in(S->m.pca), p);
        goto done;
    }
    raw = malloc(nq * p * sizeof *raw);
    q = malloc(nq * dim * sizeof *q);
    hits = malloc(nq * Kq * sizeof *hits);
    nh = calloc(nq, sizeof *nh);
    S->cands = calloc(nq * Kq, sizeof *S->cands);
    S->nc = calloc(nq, sizeof *S->nc);
    if (!raw || !q || !hits || !nh || !S->cands || !S->nc) {
        st = ibex__fail(d, IBEX_ERR_NOMEM, NULL, -1, "%s", ibex_strerror(IBEX_ERR_NOMEM));
        goto done;
    }
    if (progress(S, "stage 1", 0, nq, -1)) {
        st = ibex__fail(d, IBEX_ERR_CANCELLED, NULL, -1, "cancelled");
        goto done;
    }
    for (size_t i = 0; i < nq; i++) {
        const char *name = S->qpath[i];
        if (S->bullet)
            st = ibex__im_land_descriptor(dp, S->qs[i], &S->lo, name, raw + i * p, &S->qsig[i], d);
        else
            st = ibex_descriptor_run(dp, S->qs[i], name, raw + i * p, d);
        if (st != IBEX_OK) {
            if (d && !d->file[0]) snprintf(d->file, sizeof d->file, "%s", name);
            goto done;
        }
        if (progress(S, "stage 1", i + 1, nq, -1)) {
            st = ibex__fail(d, IBEX_ERR_CANCELLED, NULL, -1, "cancelled");
            goto done;
        }
    }
    ibex_pca_project(S->m.pca, raw, nq, q);
    S->t_search = ibex__now();
    {
        /* One SGEMV (SGEMM for a batch); sharded, over this rank's part of the index. */
        size_t nb = 0;
        st = ibex_index_query_part(S->ix, q, nq, Kq, S->first, nix, hits, &nb);
        for (size_t i = 0; i < nq; i++) nh[i] = nb < Kq ? nb : Kq;
    }
    if (st != IBEX_OK) {
        ibex__fail(d, st, NULL, -1, "%s", ibex_strerror(st));
        goto done;
    }
    /* Hits -> library rows; sharded, the ranks' lists merged into the global top Kq. */
    if ((st = ibex__shard_shortlist(S->sh, hits, nh, nq, Kq, S->map, S->first, d)) != IBEX_OK) goto done;
    for (size_t i = 0; i < nq; i++) {
        for (size_t h = 0; h < nh[i] && S->nc[i] < K; h++) {
            size_t r = hits[i * Kq + h].row;
            if (S->has_self[i] && r == S->self_row[i]) continue;
            cand *cd = &S->cands[i * Kq + S->nc[i]++];
            cd->row = r;
            cd->stage1 = hits[i * Kq + h].score;
            cd->keep = -1;
            cd->screen = NAN;
        }
    }
    S->t1 = ibex__now();
    for (size_t i = 0; i < nq && st == IBEX_OK; i++) { /* table details of the shortlisted rows */
        size_t *rl = malloc((S->nc[i] + 1) * sizeof *rl);
        for (size_t h = 0; rl && h < S->nc[i]; h++) rl[h] = S->cands[i * Kq + h].row;
        st = rl ? ibex__im_fill_rows(S->lib, rl, S->nc[i], S->ri, d)
                : ibex__fail(d, IBEX_ERR_NOMEM, NULL, -1, "%s", ibex_strerror(IBEX_ERR_NOMEM));
        free(rl);
    }
done:
    ibex_descriptor_free(dp);
    free(raw);
    free(q);
    free(hits);
    free(nh);
    return st;
}

/* The caller's view of one candidate: table info, scores and, with a calibration, the LR. */
static void public_candidate(const search *S, const cand *c, const ibex_calibration *cal, ibex_search_candidate *p)
{
    const ibex__row_info *ri = &S->ri[c->row];
    memset(p, 0, sizeof *p);
    p->row = c->row;
    p->id = ri->id;
    p->kind = ri->kind;
    p->firearm_id = ri->firearm_id;
    p->same_source_key = ri->same_source_key;
    p->stage1 = c->stage1;
    p->done = c->done;
    p->score = c->score;
    p->cmc = c->cmc;
    p->cmc_high = c->cmc_high;
    p->cells_a = c->cells_a;
    p->cells_b = c->cells_b;
    p->ccf = c->ccf;
    p->verdict = c->verdict;
    p->screen = c->screen;
    p->screened_out = c->screened_out;
    memcpy(p->error, c->err, sizeof p->error);
    if (cal && c->done) {
        p->has_lr = 1;
        p->log10_lr = ibex_calibration_log10_lr(cal, c->cmc);
        p->lr_verbal = ibex_lr_verbal(p->log10_lr);
    }
    if (S->kept && c->keep >= 0 && (size_t)c->keep < S->nkept && S->kept[c->keep].res) {
        p->comparison = S->kept[c->keep].res;
        p->prepared_query = S->kept[c->keep].qa;
        p->prepared_candidate = S->kept[c->keep].cb;
    }
}

/* The calibration stage 2's LR comes from, or NULL when none applies. */
static const ibex_calibration *stage2_calibration(const search *S)
{
    return S->bullet || S->o->prealign || S->o->stage1_only || !S->has_cal ? NULL : &S->cal;
}

/* One stage-2 pair: candidate cd of query i. */
static void score_pair(search *S, size_t i, cand *cd, const ibex_preprocess_opts *po, char (*perr)[200])
{
    ibex_diag dd;
    memset(&dd, 0, sizeof dd);
    if (S->bullet && !S->csig[cd->row]) {
        snprintf(cd->err, sizeof cd->err, "%.150s", perr && perr[cd->row][0] ? perr[cd->row] : "no signature");
    } else if (S->bullet) {
        ibex_land_result lr;
        if (ibex_land_compare(S->qsig[i], S->csig[cd->row], &lr, &dd) == IBEX_OK) {
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
    } else if (!S->prep[cd->row]) {
        snprintf(cd->err, sizeof cd->err, "%.150s", perr && perr[cd->row][0] ? perr[cd->row] : "not prepared");
    } else {
        ibex_cmc_result *res = NULL;
        ibex_surface *qa = S->qprep[i], *cb = S->prep[cd->row], *tmp = NULL;
        ibex_status s3 = pair_at_one_spacing(S->lib, cd->row, S->qs[i], po, &qa, &cb, &tmp, &dd);
        if (s3 == IBEX_OK)
            s3 = S->o->prealign ? ibex_cmc_plan_run_prealigned(S->plan, qa, cb, NULL, &res, NULL, &dd)
                                : ibex_cmc_plan_run(S->plan, qa, cb, &res, &dd);
        if (s3 == IBEX_OK) {
            cd->done = 1;
            cd->score = res->score;
            cd->cmc = res->cmc;
            cd->cmc_high = res->cmc_high;
            cd->cells_a = res->dir[0].cells_used;
            cd->cells_b = res->dir[1].cells_used;
            cd->verdict = res->verdict;
        }
        if (s3 == IBEX_OK && S->kept && cd->keep >= 0) { /* handed to the result */
            kept_pair *kp = &S->kept[cd->keep];
            kp->res = res;
            kp->tmp = tmp;
            kp->qa = qa;
            kp->cb = cb;
        } else {
            ibex_surface_free(tmp);
            ibex_cmc_result_free(res);
        }
        if (s3 != IBEX_OK) snprintf(cd->err, sizeof cd->err, "%.150s", dd.message);
    }
}

/* Two-step stage 2 on list i: cartridges whose shortlist is longer than exact_top. */
static int two_step(const search *S, size_t i)
{
    return !S->bullet && S->exact_top != IBEX_SEARCH_EXACT_ALL && S->nc[i] > S->exact_top;
}

/* A candidate's place in the screen's order: screen, then stage 1, descending; then row. */
typedef struct screen_rank {
    double screen;
    float stage1;
    size_t row, h;
} screen_rank;

static int screen_rank_cmp(const void *a, const void *b)
{
    const screen_rank *x = a, *y = b;
    if (x->screen != y->screen) return x->screen > y->screen ? -1 : 1;
    if (x->stage1 != y->stage1) return x->stage1 > y->stage1 ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

/* The screen: the whole-surface NCC of every pair of the two-step lists (every rank screens
 * every pair, so all ranks pick the same exact_top without a further exchange), then all
 * but the best exact_top of each list marked screened_out. */
static ibex_status screen(search *S, const ibex_cmc_opts *co, int nthreads, ibex_diag *d)
{
    const size_t nq = S->nq, Kq = S->Kq, N = S->N;
    ibex__ncc_prep **cn = calloc(N ? N : 1, sizeof *cn), **qn = calloc(nq, sizeof *qn);
    size_t *rows = malloc((N + 1) * sizeof *rows), nr = 0;
    screen_rank *order = malloc((Kq + 1) * sizeof *order);
    unsigned char *need = calloc(N ? N : 1, 1);
    ibex_status st = IBEX_OK;
    if (!cn || !qn || !rows || !order || !need) {
        st = ibex__fail(d, IBEX_ERR_NOMEM, NULL, -1, "%s", ibex_strerror(IBEX_ERR_NOMEM));
        goto done;
    }
    size_t npairs = 0;
    for (size_t i = 0; i < nq; i++)
        for (size_t h = 0; two_step(S, i) && h < S->nc[i]; h++, npairs++) {
            size_t r = S->cands[i * Kq + h].row;
            if (!need[r]) {
                need[r] = 1;
                rows[nr++] = r;
            }
        }
    double t0 = ibex__now();
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads)
    for (size_t u = 0; u < nr + nq; u++) { /* the screen's own preparation of each side */
        const ibex_surface *s = u < nq ? (two_step(S, u) ? S->qprep[u] : NULL) : S->prep[rows[u - nq]];
        if (s) ibex__ncc_prepare(s, u < nq ? &qn[u] : &cn[rows[u - nq]], NULL);
    }
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads)
    for (size_t k = 0; k < nq * Kq; k++) {
        size_t i = k / Kq, h = k % Kq;
        if (!two_step(S, i) || h >= S->nc[i]) continue;
        cand *cd = &S->cands[k];
        ibex__ncc_result nr_;
        ibex_diag dd;
        memset(&dd, 0, sizeof dd);
        ibex_status s2 = !qn[i] || !cn[cd->row] ? IBEX_ERR_FORMAT
                         : S->o->prealign ? ibex__ncc_compare(qn[i], cn[cd->row], &nr_, &dd)
                                          : ibex__ncc_window(qn[i], cn[cd->row], co->theta_min, co->theta_max, &nr_, &dd);
        cd->screen = s2 == IBEX_OK ? nr_.ncc : NAN;
    }
    /* the best exact_top of each list by (screen, stage 1, row) go on to CMC */
    for (size_t i = 0; i < nq; i++) {
        if (!two_step(S, i)) continue;
        cand *L = S->cands + i * Kq;
        for (size_t h = 0; h < S->nc[i]; h++) order[h] = (screen_rank){screen_key(&L[h]), L[h].stage1, L[h].row, h};
        qsort(order, S->nc[i], sizeof *order, screen_rank_cmp);
        for (size_t h = S->exact_top; h < S->nc[i]; h++) L[order[h].h].screened_out = 1;
    }
    S->screened = npairs;
    S->t_screen = ibex__now() - t0;
done:
    for (size_t r = 0; cn && r < N; r++) ibex__ncc_free(cn[r]);
    for (size_t i = 0; qn && i < nq; i++) ibex__ncc_free(qn[i]);
    free(cn), free(qn), free(rows), free(order), free(need);
    return st;
}

/* Candidate slot k (query k / Kq) gets the exhaustive comparison on this rank. */
static int exact_here(const search *S, size_t k)
{
    return k % S->Kq < S->nc[k / S->Kq] && !S->cands[k].screened_out && ibex__shard_owns(S->sh, S->cands[k].row);
}

/* Stage 2: prepare each shortlisted specimen (of this rank, and every one a screen needs)
 * once, screen the two-step lists, then every remaining pair of this rank in parallel. A
 * specimen that cannot be prepared fails its pairs, not the search. */
static ibex_status stage2(search *S, ibex_diag *d)
{
    const size_t nq = S->nq, Kq = S->Kq, N = S->N;
    ibex_preprocess_opts po;
    ibex_preprocess_opts_init(&po);
    ibex_cmc_opts co;
    ibex_cmc_opts_init(&co);
    co.threads = 1; /* parallel over pairs instead */
    S->exact_top = S->o->exact_top ? S->o->exact_top : IBEX_SEARCH_EXACT_TOP;
    ibex_status st = ibex_cmc_plan_create(&co, &S->plan, d);
    if (st != IBEX_OK) return st;
    S->prep = calloc(N ? N : 1, sizeof *S->prep);
    S->csig = calloc(N ? N : 1, sizeof *S->csig);
    unsigned char *need = calloc(N ? N : 1, 1);
    size_t *ulist = malloc((N + 1) * sizeof *ulist), nu = 0;
    char(*perr)[200] = calloc(N ? N : 1, sizeof *perr);
    if (!S->prep || !S->csig || !need || !ulist) {
        st = ibex__fail(d, IBEX_ERR_NOMEM, NULL, -1, "%s", ibex_strerror(IBEX_ERR_NOMEM));
        goto done;
    }
    int any_screen = 0;
    for (size_t i = 0; i < nq; i++) {
        any_screen |= two_step(S, i);
        for (size_t h = 0; h < S->nc[i]; h++) {
            size_t r = S->cands[i * Kq + h].row;
            if ((two_step(S, i) || ibex__shard_owns(S->sh, r)) && !need[r]) {
                need[r] = 1; /* a flag, not a count: a count of unsigned char wraps at 256 queries */
                ulist[nu++] = r;
            }
        }
    }
    int nthreads = S->o->threads ? (int)S->o->threads : omp_get_max_threads();
    int qfail = 0;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads)
    for (size_t u = 0; u < nu + nq; u++) {
        ibex_diag dd;
        memset(&dd, 0, sizeof dd);
        if (u < nq) {
            ibex_status sq = S->bullet ? IBEX_OK : ibex_preprocess(S->qs[u], &po, &S->qprep[u], NULL, &dd);
            if (sq != IBEX_OK) {
#pragma omp critical(search_msg)
                if (!qfail) { /* the first failing query is the one reported */
                    qfail = 1;
                    ibex__fail(d, sq, S->qpath[u], -1, "preprocessing failed: %s", dd.message);
                }
            }
            continue;
        }
        size_t r = ulist[u - nq];
        ibex_surface *s = NULL;
        ibex_status s2 = ibex_library_get_surface(S->lib, r, &s, &dd);
        if (s2 == IBEX_OK && !S->bullet) s2 = ibex_preprocess(s, &po, &S->prep[r], NULL, &dd);
        if (s2 == IBEX_OK && S->bullet) s2 = ibex_land_signature_create(s, &S->lo, &S->csig[r], &dd);
        ibex_surface_free(s);
        if (s2 != IBEX_OK && perr) snprintf(perr[r], sizeof perr[r], "%.190s", dd.message);
    }
    if (qfail) {
        st = IBEX_ERR_FORMAT;
        goto done;
    }
    if (any_screen) {
        if (progress(S, "screen", 0, 1, -1)) {
            st = ibex__fail(d, IBEX_ERR_CANCELLED, NULL, -1, "cancelled");
            goto done;
        }
        if ((st = screen(S, &co, nthreads, d)) != IBEX_OK) goto done;
        progress(S, "screen", 1, 1, 0);
    }
    size_t npairs = 0, ndone = 0;
    for (size_t k = 0; k < nq * Kq; k++) npairs += exact_here(S, k);
    if (S->o->keep_comparisons && !S->bullet && !S->o->prealign && !S->sh->on && npairs) {
        S->kept = calloc(npairs, sizeof *S->kept);
        for (size_t k = 0; S->kept && k < nq * Kq; k++)
            if (exact_here(S, k)) S->cands[k].keep = (long)S->nkept++;
    }
    int cancelled = progress(S, "stage 2", 0, npairs, -1) != 0;
    double t_stage2 = ibex__now();
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads)
    for (size_t k = 0; k < nq * Kq; k++) {
        size_t i = k / Kq;
        if (!exact_here(S, k)) continue; /* another rank's, or screened out */
        int stop;
#pragma omp atomic read
        stop = cancelled;
        if (stop) continue;
        score_pair(S, i, &S->cands[k], &po, perr);
        if (S->o->progress || S->o->on_candidate) {
#pragma omp critical(search_msg)
            {
                if (S->o->on_candidate) {
                    ibex_search_candidate pc;
                    public_candidate(S, &S->cands[k], stage2_calibration(S), &pc);
                    S->o->on_candidate(S->o->candidate_user, i, 2, &pc);
                }
                ndone++;
                /* remaining time from the mean pair time so far (pairs cost about the same) */
                double el = ibex__now() - t_stage2, left = el / (double)ndone * (double)(npairs - ndone);
                if (!cancelled && progress(S, "stage 2", ndone, npairs, left)) {
#pragma omp atomic write
                    cancelled = 1;
                }
            }
        }
    }
    if (cancelled) st = ibex__fail(d, IBEX_ERR_CANCELLED, NULL, -1, "cancelled");
done:
    free(need);
    free(ulist);
    free(perr);
    return st;
}

/* The ranked lists, with table info and the calibrated LR, handed to the caller. */
static ibex_status make_result(search *S, ibex_search_result **out, ibex_diag *d)
{
    ibex_search_result *r = calloc(1, sizeof *r);
    ibex_search_candidate *pc = calloc(S->nq * S->Kq + 1, sizeof *pc);
    if (!r || !pc) {
        free(r);
        free(pc);
        return ibex__fail(d, IBEX_ERR_NOMEM, NULL, -1, "%s", ibex_strerror(IBEX_ERR_NOMEM));
    }
    const int stage1_only = S->o->stage1_only;
    r->cal = S->cal;
    /* The shipped calibration is for the CMC count of the default method. */
    const ibex_calibration *cal = S->bullet || S->o->prealign || stage1_only || !S->has_cal ? NULL : &r->cal;
    for (size_t i = 0; i < S->nq && !stage1_only; i++)
        qsort(S->cands + i * S->Kq, S->nc[i], sizeof *S->cands, cand_cmp);
    for (size_t i = 0; i < S->nq; i++)
        for (size_t h = 0; h < S->nc[i]; h++) {
            public_candidate(S, &S->cands[i * S->Kq + h], cal, &pc[i * S->Kq + h]);
        }
    ibex_search_info *in = &r->info;
    in->kind = S->kind;
    in->bullet = S->bullet;
    in->library_rows = S->N;
    in->indexed = S->nix;
    in->not_indexed = S->pending;
    in->kind_known = S->kind_known;
    in->stage2 = !stage1_only;
    in->prealign = S->o->prealign && !stage1_only && !S->bullet;
    in->lr_calibration = cal ? r->cal.id : NULL;
    in->queries = S->nq;
    in->t_open = S->t_open - S->t0;
    in->t_load_index = S->t_load - S->t_open;
    in->t_descriptors = S->t_search - S->t_load;
    in->t_search = S->t1 - S->t_search;
    in->t_stage1 = S->t1 - S->t0;
    in->t_stage2 = S->t2 - S->t1;
    in->t_total = S->t2 - S->t0;
    in->exact_top = S->bullet || stage1_only ? IBEX_SEARCH_EXACT_ALL : S->exact_top;
    in->screened = S->screened;
    in->t_screen = S->t_screen;
    r->nq = S->nq;
    r->Kq = S->Kq;
    r->N = S->N;
    r->nc = S->nc;
    r->cands = pc;
    r->ri = S->ri;
    S->nc = NULL;
    S->ri = NULL; /* handed over */
    if (S->kept) { /* the kept comparisons and the surfaces they point into */
        r->kept = S->kept;
        r->nkept = S->nkept;
        r->prep = S->prep;
        r->qprep = S->qprep;
        S->kept = NULL;
        S->nkept = 0;
        S->prep = NULL;
        S->qprep = NULL;
    }
    *out = r;
    return IBEX_OK;
}

static ibex_status run(ibex_library *lib, const char *path, double t0, const ibex_surface *const *queries,
                       const char *const *names, size_t nq, const ibex_search_opts *opts, ibex_search_result **out,
                       ibex_diag *d)
{
    search S;
    memset(&S, 0, sizeof S);
    ibex_shard local;
    S.o = opts;
    S.lib = lib;
    S.path = path ? path : "";
    S.qs = queries;
    S.nq = nq;
    S.t0 = t0;
    if (opts->shard) {
        S.sh = opts->shard;
    } else {
        ibex__shard_local(&local);
        S.sh = &local;
    }
    ibex_land_opts_init(&S.lo);
    const char **qn = calloc(nq ? nq : 1, sizeof *qn);
    S.qprep = calloc(nq ? nq : 1, sizeof *S.qprep);
    S.self_row = calloc(nq ? nq : 1, sizeof *S.self_row);
    S.has_self = calloc(nq ? nq : 1, 1);
    S.qsig = calloc(nq ? nq : 1, sizeof *S.qsig);
    ibex_status st = IBEX_OK;
    if (!qn || !S.qprep || !S.self_row || !S.has_self || !S.qsig)
        st = ibex__fail(d, IBEX_ERR_NOMEM, NULL, -1, "%s", ibex_strerror(IBEX_ERR_NOMEM));
    for (size_t i = 0; st == IBEX_OK && i < nq; i++) qn[i] = names && names[i] ? names[i] : "query";
    S.qpath = qn;
    if (st == IBEX_OK) st = check_library(&S, d);
    if (st == IBEX_OK) st = check_model(&S, d);
    if (st == IBEX_OK) st = load_index(&S, d);
    if (st == IBEX_OK) st = stage1(&S, d);
    for (size_t i = 0; st == IBEX_OK && opts->on_candidate && i < nq; i++)
        for (size_t h = 0; h < S.nc[i]; h++) {
            ibex_search_candidate pc;
            public_candidate(&S, &S.cands[i * S.Kq + h], NULL, &pc);
            opts->on_candidate(opts->candidate_user, i, 1, &pc);
        }
    if (st == IBEX_OK && !opts->stage1_only) st = stage2(&S, d);
    /* Sharded: rank 0 collects the other ranks' stage-2 results. */
    if (st == IBEX_OK) st = ibex__shard_gather(S.sh, S.cands, sizeof *S.cands, offsetof(cand, row), S.nc, nq, S.Kq, d);
    S.t2 = ibex__now();
    if (st == IBEX_OK) st = make_result(&S, out, d);
    search_clear(&S);
    free(qn);
    return st;
}

static ibex_status check_args(const ibex_surface *const *queries, size_t nq, const ibex_search_opts *in,
                              ibex_search_opts *o, ibex_search_result **out, ibex_diag *diag)
{
    ibex_search_opts_init(o);
    ibex_status st = ibex__opts_merge(o, sizeof *o, in) ? IBEX_OK : ibex__opts_refused(diag, "ibex_search_opts");
    if (st != IBEX_OK) return st;
    if (!out || !nq || !queries) return ibex__fail(diag, IBEX_ERR_ARG, NULL, -1, "no query scans");
    for (size_t i = 0; i < nq; i++)
        if (!queries[i]) return ibex__fail(diag, IBEX_ERR_ARG, NULL, -1, "query %zu is NULL", i);
    if (o->kind && strcmp(o->kind, "cartridge") && strcmp(o->kind, "bullet"))
        return ibex__fail(diag, IBEX_ERR_ARG, NULL, -1, "kind must be cartridge or bullet, not '%s'", o->kind);
    return IBEX_OK;
}

ibex_status ibex_search_run(ibex_library *lib, const ibex_surface *const *queries, const char *const *names,
                            size_t nq, const ibex_search_opts *opts, ibex_search_result **out, ibex_diag *diag)
{
    double t0 = ibex__now();
    ibex_search_opts o;
    ibex_status st = check_args(queries, nq, opts, &o, out, diag);
    if (st != IBEX_OK) return st;
    if (!lib) return ibex__fail(diag, IBEX_ERR_ARG, NULL, -1, "no library");
    return run(lib, ibex_library_path(lib), t0, queries, names, nq, &o, out, diag);
}

ibex_status ibex_search_run_path(const char *lib_path, const ibex_surface *const *queries, const char *const *names,
                                 size_t nq, const ibex_search_opts *opts, ibex_search_result **out,
                                 ibex_diag *diag)
{
    double t0 = ibex__now();
    ibex_search_opts o;
    ibex_status st = check_args(queries, nq, opts, &o, out, diag);
    if (st != IBEX_OK) return st;
    int bullet;
    if ((st = batch_kind(queries, names, nq, o.kind, &bullet, diag)) != IBEX_OK) return st;
    ibex_library *lib = NULL;
    if ((st = ibex_library_open(lib_path, NULL, &lib, diag)) != IBEX_OK) return st;
    st = run(lib, lib_path, t0, queries, names, nq, &o, out, diag);
    ibex_library_close(lib, NULL);
    return st;
}

const ibex_search_info *ibex_search_result_info(const ibex_search_result *r) { return &r->info; }

size_t ibex_search_result_count(const ibex_search_result *r, size_t i) { return i < r->nq ? r->nc[i] : 0; }

const ibex_search_candidate *ibex_search_result_get(const ibex_search_result *r, size_t i, size_t h)
{
    return i < r->nq && h < r->nc[i] ? &r->cands[i * r->Kq + h] : NULL;
}

void ibex_search_result_free(ibex_search_result *r)
{
    if (!r) return;
    free(r->nc);
    free(r->cands);
    ibex__im_free_rows(r->ri, r->N);
    kept_free(r->kept, r->nkept);
    for (size_t i = 0; r->prep && i < r->N; i++) ibex_surface_free(r->prep[i]);
    free(r->prep);
    for (size_t i = 0; r->qprep && i < r->nq; i++) ibex_surface_free(r->qprep[i]);
    free(r->qprep);
    free(r);
}
