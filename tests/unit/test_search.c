/* The two-stage search API (include/ibex/search.h) on a small library of synthetic casings
 * built here: the ranking equals the pipeline done step by step with the public pieces
 * (stage-1 descriptor, PCA, index; stage-2 preprocessing and CMC), progress reaches its
 * total, a cancel from the progress callback returns IBEX_ERR_CANCELLED and leaves the
 * library as it was, and options structs are checked by their size field. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "ibex/ibex.h"

#define N_FIREARMS 4
#define N_SHOTS 3
#define N_ROWS (N_FIREARMS * N_SHOTS)
#define SHORTLIST 5

static ibex_surface *casing(int firearm, int shot)
{
    ibex_synth_opts o;
    ibex_synth_opts_init(&o);
    o.size = 240;
    o.difficulty = 0.2;
    ibex_surface *s = NULL;
    ibex_diag d;
    ibex_status st = ibex_synth_cartridge(1000 + (uint64_t)firearm, 77 + (uint64_t)shot, &o, &s, NULL, &d);
    CHECK_MSG(st == IBEX_OK, "synth: %s", d.message);
    return s;
}

static int build_library(const char *path)
{
    ibex_library_opts lo;
    ibex_library_opts_init(&lo);
    lo.flags = IBEX_LIBRARY_WRITE | IBEX_LIBRARY_NOSYNC;
    lo.params = "preprocess=none\n";
    ibex_library *lib = NULL;
    ibex_diag d;
    if (ibex_library_create(path, &lo, &lib, &d) != IBEX_OK) {
        fprintf(stderr, "create: %s\n", d.message);
        return 0;
    }
    int ok = ibex_library_begin(lib, &d) == IBEX_OK;
    for (int f = 0; ok && f < N_FIREARMS; f++)
        for (int k = 0; ok && k < N_SHOTS; k++) {
            ibex_surface *s = casing(f, k);
            char id[32], fid[16];
            snprintf(id, sizeof id, "F%d-%d", f, k);
            snprintf(fid, sizeof fid, "F%d", f);
            ibex_specimen sp;
            memset(&sp, 0, sizeof sp);
            sp.id = id;
            sp.kind = "cartridge";
            sp.region = "breech-face";
            sp.source_path = id;
            sp.firearm_id = fid;
            for (int i = 0; i < 64; i++) sp.sha256[i] = "0123456789abcdef"[(f * 7 + k * 3 + i) % 16];
            sp.sha256[0] = (char)('a' + f), sp.sha256[1] = (char)('a' + k);
            size_t row;
            ok = s && ibex_library_add(lib, &sp, s, &row, &d) == IBEX_OK;
            if (!ok) fprintf(stderr, "add: %s\n", d.message);
            ibex_surface_free(s);
        }
    if (ok) ok = ibex_library_commit(lib, &d) == IBEX_OK;
    if (ibex_library_close(lib, &d) != IBEX_OK) ok = 0;
    return ok;
}

/* The reference: every step by hand, as the command's pipeline did it. */
typedef struct ref {
    size_t row;
    float stage1;
    int done;
    double score;
    unsigned cmc;
} ref;

static int ref_cmp(const void *a, const void *b)
{
    const ref *x = a, *y = b;
    if (x->done != y->done) return y->done - x->done;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    if (x->cmc != y->cmc) return x->cmc > y->cmc ? -1 : 1;
    if (x->stage1 != y->stage1) return x->stage1 > y->stage1 ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

static size_t reference(const char *path, const ibex_surface *q, ref *out)
{
    ibex_library *lib = NULL;
    ibex_diag d;
    if (ibex_library_open(path, NULL, &lib, &d) != IBEX_OK) return 0;
    char *text = NULL;
    float *mean = NULL, *basis = NULL;
    size_t mr, mc, br, bc, n = 0, dim = 0;
    ibex_descriptor_opts dopt;
    ibex_descriptor *dp = NULL;
    ibex_pca *pca = NULL;
    ibex_index *ix = NULL;
    size_t nh = 0;
    int ok = ibex_library_model_get_text(lib, "cartridge", "descriptor_opts", &text, &d) == IBEX_OK &&
             ibex_descriptor_opts_parse(text, &dopt, &d) == IBEX_OK &&
             ibex_library_model_get_matrix(lib, "cartridge", "pca_mean", &mr, &mc, &mean, &d) == IBEX_OK &&
             ibex_library_model_get_matrix(lib, "cartridge", "pca_basis", &br, &bc, &basis, &d) == IBEX_OK &&
             ibex_pca_create(mc, br, mean, basis, &pca) == IBEX_OK &&
             ibex_descriptor_create(&dopt, &dp, &d) == IBEX_OK &&
             ibex_library_index_get_shape(lib, &n, &dim, &d) == IBEX_OK && n == N_ROWS;
    float *rows = ok ? malloc(n * dim * sizeof *rows) : NULL;
    float *raw = ok ? malloc(ibex_descriptor_size(dp) * sizeof *raw) : NULL, qv[IBEX_INDEX_DIM];
    ibex_hit hits[SHORTLIST];
    ok = ok && rows && raw && ibex_library_index_read(lib, 0, n, rows, &d) == IBEX_OK &&
         ibex_index_create(dim, &ix) == IBEX_OK && ibex_index_add(ix, rows, n) == IBEX_OK &&
         ibex_descriptor_run(dp, q, "query", raw, &d) == IBEX_OK && ibex_pca_project(pca, raw, 1, qv) == IBEX_OK &&
         ibex_index_query_part(ix, qv, 1, SHORTLIST, 0, n, hits, &nh) == IBEX_OK;
    CHECK_MSG(ok, "reference stage 1: %s", d.message);
    ibex_preprocess_opts po;
    ibex_preprocess_opts_init(&po);
    ibex_cmc_opts co;
    ibex_cmc_opts_init(&co);
    co.threads = 1;
    ibex_cmc_plan *plan = NULL;
    ibex_surface *qp = NULL;
    ok = ok && ibex_cmc_plan_create(&co, &plan, &d) == IBEX_OK && ibex_preprocess(q, &po, &qp, NULL, &d) == IBEX_OK;
    for (size_t h = 0; ok && h < nh; h++) {
        out[h] = (ref){hits[h].row, hits[h].score, 0, 0, 0};
        ibex_surface *s = NULL, *sp = NULL;
        ibex_cmc_result *r = NULL;
        if (ibex_library_get_surface(lib, hits[h].row, &s, &d) == IBEX_OK &&
            ibex_preprocess(s, &po, &sp, NULL, &d) == IBEX_OK && ibex_cmc_plan_run(plan, qp, sp, &r, &d) == IBEX_OK) {
            out[h].done = 1;
            out[h].score = r->score;
            out[h].cmc = r->cmc;
        }
        ibex_cmc_result_free(r);
        ibex_surface_free(s);
        ibex_surface_free(sp);
    }
    qsort(out, nh, sizeof *out, ref_cmp);
    ibex_surface_free(qp);
    ibex_cmc_plan_free(plan);
    ibex_index_free(ix);
    free(rows);
    free(raw);
    ibex_descriptor_free(dp);
    ibex_pca_free(pca);
    free(text);
    free(mean);
    free(basis);
    ibex_library_close(lib, NULL);
    return ok ? nh : 0;
}

typedef struct seen {
    size_t calls, last_done[2], last_total[2];
    int stop_after; /* stage-2 units after which to cancel; -1 never */
    int bad_order;
} seen;

static int on_progress(void *user, const char *stage, size_t done, size_t total, double eta)
{
    (void)eta;
    seen *s = user;
    int k = !strcmp(stage, "stage 2") ? 1 : !strcmp(stage, "stage 1") ? 0 : -1;
    s->calls++;
    if (k < 0) return 0;
    if (done > total || (s->last_total[k] == total && done < s->last_done[k])) s->bad_order = 1;
    s->last_done[k] = done;
    s->last_total[k] = total;
    return k == 1 && s->stop_after >= 0 && done >= (size_t)s->stop_after;
}

/* Streamed candidates: what came with stage 1, and the stage-2 scores as they came. */
typedef struct streamed {
    size_t n1, n2, rows1[64], rows2[64];
    double score2[64];
    unsigned cmc2[64];
    int order_bad, done_bad;
} streamed;

static void on_candidate(void *user, size_t query, int stage, const ibex_search_candidate *c)
{
    streamed *s = user;
    if (query != 0) s->order_bad = 1;
    if (stage == 1) {
        if (s->n2 || c->done) s->order_bad = 1; /* all of stage 1 first, unscored */
        if (s->n1 < 64) s->rows1[s->n1++] = c->row;
    } else {
        if (!c->done) s->done_bad = 1;
        if (s->n2 < 64) {
            s->rows2[s->n2] = c->row;
            s->score2[s->n2] = c->score;
            s->cmc2[s->n2++] = c->cmc;
        }
    }
}

static int cancel_update(void *user, const char *stage, size_t done, size_t total, double eta)
{
    (void)user, (void)stage, (void)total, (void)eta;
    return done >= 2;
}

int main(void)
{
    char dir[] = "/tmp/ibex_test_search_XXXXXX", path[256];
    if (!mkdtemp(dir)) return 1;
    snprintf(path, sizeof path, "%s/lib.h5", dir);
    ibex_diag d;
    memset(&d, 0, sizeof d);
    CHECK(build_library(path));

    /* An index update cancelled from its progress callback writes nothing. */
    char h0[65], h1[65];
    ibex_index_update_opts uo;
    ibex_index_update_opts_init(&uo);
    uo.progress = cancel_update;
    CHECK(ibex_file_sha256(path, h0, NULL) == IBEX_OK);
    CHECK(ibex_library_index_update_path(path, &uo, NULL, &d) == IBEX_ERR_CANCELLED);
    ibex_library *lib = NULL;
    size_t n = 1, dim = 1;
    CHECK(ibex_library_open(path, NULL, &lib, &d) == IBEX_OK);
    CHECK(lib && ibex_library_index_get_shape(lib, &n, &dim, &d) == IBEX_OK && n == 0);
    ibex_library_close(lib, NULL);

    ibex_index_update_opts_init(&uo);
    ibex_index_update_result ur;
    ibex_index_update_result_init(&ur);
    CHECK_MSG(ibex_library_index_update_path(path, &uo, &ur, &d) == IBEX_OK, "%s", d.message);
    CHECK(ur.indexed == N_ROWS && ur.kind_indexed[0] == N_ROWS && ur.refit && ur.kind_fit_count[0] == N_ROWS);
    ibex_index_update_result_clear(&ur);

    /* A new shot of firearm 1: not in the library. */
    ibex_surface *q = casing(1, 9);
    const ibex_surface *qs[1] = {q};
    const char *names[1] = {"query"};
    ref want[SHORTLIST];
    size_t nwant = reference(path, q, want);
    CHECK(nwant == SHORTLIST);

    ibex_search_opts so;
    ibex_search_opts_init(&so);
    so.shortlist = SHORTLIST;
    so.threads = 2;
    seen sn = {0, {0, 0}, {0, 0}, -1, 0};
    so.progress = on_progress;
    so.progress_user = &sn;
    ibex_search_result *res = NULL;
    CHECK_MSG(ibex_search_run_path(path, qs, names, 1, &so, &res, &d) == IBEX_OK, "%s", d.message);
    if (res) {
        const ibex_search_info *in = ibex_search_result_info(res);
        CHECK(!strcmp(in->kind, "cartridge") && !in->bullet && in->indexed == N_ROWS && in->not_indexed == 0);
        CHECK(in->stage2 && in->lr_calibration && in->queries == 1);
        CHECK(ibex_search_result_count(res, 0) == nwant);
        for (size_t h = 0; h < nwant && h < ibex_search_result_count(res, 0); h++) {
            const ibex_search_candidate *c = ibex_search_result_get(res, 0, h);
            CHECK_MSG(c->row == want[h].row && c->stage1 == want[h].stage1 && c->done == want[h].done &&
                          c->score == want[h].score && c->cmc == want[h].cmc,
                      "rank %zu: row %zu vs %zu, score %g vs %g", h + 1, c->row, want[h].row, c->score,
                      want[h].score);
            CHECK(c->id && c->firearm_id && c->has_lr && c->lr_verbal);
        }
        const ibex_search_candidate *best = ibex_search_result_get(res, 0, 0);
        CHECK(best && best->firearm_id && !strcmp(best->firearm_id, "F1"));
        CHECK(ibex_search_result_get(res, 0, nwant) == NULL && ibex_search_result_get(res, 1, 0) == NULL);
    }
    CHECK(!sn.bad_order);
    CHECK(sn.last_total[0] == 1 && sn.last_done[0] == 1);
    CHECK(sn.last_total[1] == SHORTLIST && sn.last_done[1] == SHORTLIST);
    ibex_search_result_free(res);

    /* The same through an open handle, one thread: the same list. */
    CHECK(ibex_library_open(path, NULL, &lib, &d) == IBEX_OK);
    so.progress = NULL;
    so.threads = 1;
    res = NULL;
    CHECK_MSG(ibex_search_run(lib, qs, names, 1, &so, &res, &d) == IBEX_OK, "%s", d.message);
    for (size_t h = 0; res && h < nwant; h++) CHECK(ibex_search_result_get(res, 0, h)->row == want[h].row);
    ibex_search_result_free(res);
    ibex_library_close(lib, NULL);

    /* Streamed results: every shortlisted candidate with stage 1, then each once with its
     * stage-2 score, the same scores as the final ranked list. */
    {
        streamed sm;
        memset(&sm, 0, sizeof sm);
        so.on_candidate = on_candidate;
        so.candidate_user = &sm;
        so.threads = 2;
        res = NULL;
        CHECK(ibex_search_run_path(path, qs, names, 1, &so, &res, &d) == IBEX_OK);
        size_t n = res ? ibex_search_result_count(res, 0) : 0;
        CHECK_MSG(sm.n1 == n && sm.n2 == n && !sm.order_bad && !sm.done_bad, "stage 1 %zu, stage 2 %zu of %zu",
                  sm.n1, sm.n2, n);
        for (size_t h = 0; h < n; h++) {
            const ibex_search_candidate *c = ibex_search_result_get(res, 0, h);
            int in1 = 0, in2 = 0;
            for (size_t k = 0; k < sm.n1; k++) in1 += sm.rows1[k] == c->row;
            for (size_t k = 0; k < sm.n2; k++)
                if (sm.rows2[k] == c->row) {
                    in2++;
                    CHECK(sm.score2[k] == c->score && sm.cmc2[k] == c->cmc);
                }
            CHECK_MSG(in1 == 1 && in2 == 1, "row %zu streamed %d and %d times", c->row, in1, in2);
        }
        ibex_search_result_free(res);
        so.on_candidate = NULL;
        so.candidate_user = NULL;
    }

    /* Kept comparisons: each scored pair's cells and prepared surfaces, the same as comparing
     * the pair again with ibex_compare_cartridges (the candidate view's reference). */
    {
        so.keep_comparisons = 1;
        res = NULL;
        CHECK(ibex_search_run_path(path, qs, names, 1, &so, &res, &d) == IBEX_OK);
        ibex_library *kl = NULL;
        CHECK(ibex_library_open(path, NULL, &kl, &d) == IBEX_OK);
        size_t n = res ? ibex_search_result_count(res, 0) : 0;
        for (size_t h = 0; kl && h < n && h < 3; h++) {
            const ibex_search_candidate *c = ibex_search_result_get(res, 0, h);
            CHECK_MSG(c->done && c->comparison && c->prepared_query && c->prepared_candidate, "rank %zu", h + 1);
            if (!c->comparison) continue;
            CHECK(c->comparison->cmc == c->cmc && c->comparison->score == c->score);
            ibex_surface *cs = NULL;
            ibex_pair_result *pr = NULL;
            CHECK(ibex_library_get_surface(kl, c->row, &cs, &d) == IBEX_OK);
            CHECK_MSG(cs && ibex_compare_cartridges(qs[0], cs, NULL, &pr, &d) == IBEX_OK, "%s", d.message);
            if (pr) {
                CHECK_MSG(pr->cmc->cmc == c->comparison->cmc && pr->cmc->cmc_high == c->comparison->cmc_high &&
                              fabs(pr->cmc->score - c->comparison->score) < 1e-9 &&
                              pr->cmc->n_cells == c->comparison->n_cells,
                          "rank %zu: compare %u/%g, kept %u/%g", h + 1, pr->cmc->cmc, pr->cmc->score,
                          c->comparison->cmc, c->comparison->score);
                CHECK(pr->prepared[0]->nx == c->prepared_query->nx && pr->prepared[1]->ny == c->prepared_candidate->ny);
            }
            ibex_pair_result_free(pr);
            ibex_surface_free(cs);
        }
        ibex_library_close(kl, NULL);
        ibex_search_result_free(res);
        so.keep_comparisons = 0;
    }

    /* Cancel after two pairs: IBEX_ERR_CANCELLED, no result, the library as it was. */
    CHECK(ibex_file_sha256(path, h0, NULL) == IBEX_OK);
    seen sc = {0, {0, 0}, {0, 0}, 2, 0};
    so.progress = on_progress;
    so.progress_user = &sc;
    so.threads = 2;
    res = NULL;
    CHECK(ibex_search_run_path(path, qs, names, 1, &so, &res, &d) == IBEX_ERR_CANCELLED);
    CHECK(res == NULL);
    CHECK(sc.last_done[1] >= 2 && sc.last_done[1] < SHORTLIST);
    CHECK(ibex_file_sha256(path, h1, NULL) == IBEX_OK && !strcmp(h0, h1));

    /* Stage 1 alone: ranked by the stage-1 similarity, no stage-2 fields, no LR. */
    ibex_search_opts_init(&so);
    so.shortlist = SHORTLIST;
    so.stage1_only = 1;
    res = NULL;
    CHECK(ibex_search_run_path(path, qs, names, 1, &so, &res, &d) == IBEX_OK);
    for (size_t h = 0; res && h + 1 < ibex_search_result_count(res, 0); h++) {
        const ibex_search_candidate *a = ibex_search_result_get(res, 0, h), *b = ibex_search_result_get(res, 0, h + 1);
        CHECK(a->stage1 >= b->stage1 && !a->done && !a->has_lr);
    }
    CHECK(res && ibex_search_result_info(res)->lr_calibration == NULL && !ibex_search_result_info(res)->stage2);
    /* exclude_self by a given SHA-256 (a query with no file): the specimen with that hash is
     * left out, and the list is still full. */
    size_t top_row = res && ibex_search_result_count(res, 0) ? ibex_search_result_get(res, 0, 0)->row : 0;
    ibex_search_result_free(res);
    {
        ibex_specimen sp;
        memset(&sp, 0, sizeof sp);
        CHECK(ibex_library_open(path, NULL, &lib, &d) == IBEX_OK && ibex_library_get_info(lib, top_row, &sp, &d) == IBEX_OK);
        ibex_library_close(lib, NULL);
        const char *self[1] = {sp.sha256};
        so.exclude_self = 1;
        so.self_sha256 = self;
        res = NULL;
        CHECK(ibex_search_run_path(path, qs, names, 1, &so, &res, &d) == IBEX_OK);
        CHECK(res && ibex_search_result_count(res, 0) == SHORTLIST);
        for (size_t h = 0; res && h < ibex_search_result_count(res, 0); h++)
            CHECK_MSG(ibex_search_result_get(res, 0, h)->row != top_row, "row %zu (the given SHA-256) at rank %zu",
                      top_row, h + 1);
        ibex_search_result_free(res);
        ibex_specimen_clear(&sp);
        so.exclude_self = 0;
        so.self_sha256 = NULL;
    }

    /* Options: a size below the size field is refused; an older, shorter struct gets the
     * defaults of the fields it lacks (here: everything past the shortlist). */
    ibex_search_opts_init(&so);
    so.struct_size = 0;
    res = NULL;
    CHECK(ibex_search_run_path(path, qs, names, 1, &so, &res, &d) == IBEX_ERR_ARG && res == NULL);
    ibex_search_opts_init(&so);
    so.shortlist = 3;
    so.stage1_only = 1; /* past the copied bytes: ignored */
    so.struct_size = offsetof(ibex_search_opts, threads);
    CHECK(ibex_search_run_path(path, qs, names, 1, &so, &res, &d) == IBEX_OK);
    CHECK(res && ibex_search_result_count(res, 0) == 3 && ibex_search_result_info(res)->stage2);
    ibex_search_result_free(res);
    ibex_index_update_opts_init(&uo);
    uo.struct_size = 3;
    CHECK(ibex_library_index_update_path(path, &uo, NULL, &d) == IBEX_ERR_ARG);

    /* Refusals name the file: a bullet query against a library of casings. */
    ibex_search_opts_init(&so);
    so.kind = "bullet";
    res = NULL;
    CHECK(ibex_search_run_path(path, qs, names, 1, &so, &res, &d) != IBEX_OK && res == NULL);
    CHECK(!strcmp(d.file, "query") && strstr(d.message, "holds no bullet specimens"));

    ibex_surface_free(q);
    unlink(path);
    rmdir(dir);
    return check_exit();
}
