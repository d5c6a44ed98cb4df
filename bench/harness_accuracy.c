/* ibex/bench.h accuracy: the studies of a manifest selection (one per kind), their report
 * folder, and the figures and notes handed back. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "bench_internal.h"

struct ibex_bench_accuracy {
    bench_manifest man[2];
    bench_manifest bullets[2];  /* per-bullet methods: the land rows grouped into bullets */
    bench_bullet_ctx bctx[2];   /* and their land models */
    bench_method mcopy[2];      /* the method with that context */
    char *how[2];               /* its developed_how with the fits named (owned) */
    bench_study st[2];
    size_t n;
    ibex_bench_study_figures fig[2];
    ibex_bench_calibration_figures cal[2];
    char *json;
    char **notes;          /* skipped scans and first failures, in order (owned) */
    size_t n_notes;
};

void ibex_bench_accuracy_opts_init(ibex_bench_accuracy_opts *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->out_dir = "bench-report";
    o->seed = 1;
}

void ibex_bench_accuracy_free(ibex_bench_accuracy *a)
{
    if (!a) return;
    for (size_t i = 0; i < a->n; i++) bench_study_free(&a->st[i]);
    for (int k = 0; k < 2; k++) {
        bench_manifest_free(&a->bullets[k]);
        bench_manifest_free(&a->man[k]);
        bench_bullet_ctx_free(&a->bctx[k]);
        free(a->how[k]);
    }
    free(a->json);
    for (size_t i = 0; i < a->n_notes; i++) free(a->notes[i]);
    free(a->notes);
    free(a);
}

/* The options as this library knows them: defaults, then the caller's first o->size bytes. */
static ibex_status copy_opts(const ibex_bench_accuracy_opts *o, ibex_bench_accuracy_opts *c,
                             ibex_diag *diag)
{
    ibex_bench_accuracy_opts_init(c);
    if (!o || !ibex__opts_merge(c, sizeof *c, o)) return ibex__opts_refused(diag, "ibex_bench_accuracy_opts");
    if (!c->manifest) return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "no manifest given");
    if (!c->out_dir || !c->out_dir[0]) return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "no report folder given");
    if (c->kind && strcmp(c->kind, "cartridge") && strcmp(c->kind, "bullet"))
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "kind must be cartridge or bullet, not '%s'", c->kind);
    if (c->resamples == 1) return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "resamples must be >= 2");
    if (c->threads < 0 || c->threads > 1024) return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "threads must be in 0..1024");
    if (!c->resamples) c->resamples = c->quick ? 200 : 2000;
    return IBEX_OK;
}

/* One kind's study, or none when the selection holds no scans of that kind (an error when
 * the kind was asked for). */
static ibex_status run_kind(ibex_bench_accuracy *a, const ibex_bench_accuracy_opts *o,
                            const bench_method *forced, int k, bench_progress *pr, ibex_diag *diag)
{
    static const char *kinds[] = {"cartridge", "bullet"};
    static const char *quick_sets[] = {"fadul", "hamby44-small"};
    static const size_t quick_max[] = {8, 12}; /* CMC costs ~1 s a pair: 28 pairs */
    const char *sel = o->set ? o->set : o->quick ? quick_sets[k] : NULL;
    ibex_status s = bench_manifest_read(o->manifest, kinds[k], sel, &a->man[k], diag);
    if (s) return s;
    if (a->man[k].n == 0) {
        if (!o->kind) return IBEX_OK;
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "%s: no %s scans with ground truth%s%s", o->manifest,
                          kinds[k], sel ? " in set " : "", sel ? sel : "");
    }
    const bench_method *m = forced ? forced : bench_method_default(kinds[k]);
    if (!m) return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, "no comparison method for %s scans is built", kinds[k]);
    const bench_manifest *rows = &a->man[k];
    if (m->per_bullet) {
        if ((s = bench_bullets_group(&a->man[k], &a->bullets[k], diag)) ||
            (s = bench_bullet_models(o->manifest, &a->bullets[k], &a->bctx[k], diag)))
            return s;
        size_t len = strlen(m->developed_how) + strlen(a->bctx[k].how) + 8;
        if (!(a->how[k] = malloc(len))) return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
        snprintf(a->how[k], len, "%s (%s)", m->developed_how, a->bctx[k].how);
        a->mcopy[k] = *m;
        a->mcopy[k].ctx = &a->bctx[k];
        a->mcopy[k].developed_how = a->how[k];
        m = &a->mcopy[k];
        rows = &a->bullets[k];
    }
    bench_study *st = &a->st[a->n];
    s = bench_study_run(st, m, rows, kinds[k], o->quick ? quick_max[k] : 0, pr, diag);
    if (s) {
        bench_study_free(st);
        return s;
    }
    a->n++;
    for (size_t i = 0; i <= st->n_skipped; i++) {
        const char *what = i < st->n_skipped ? st->skipped[i] : st->first_failure;
        if (!what) continue;
        char **nn = realloc(a->notes, (a->n_notes + 1) * sizeof *nn);
        size_t len = strlen(what) + 16;
        char *t = nn ? malloc(len) : NULL;
        if (nn) a->notes = nn;
        if (!t) return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
        snprintf(t, len, "%s%s", i < st->n_skipped ? "skipping " : "", what);
        a->notes[a->n_notes++] = t;
    }
    return IBEX_OK;
}

ibex_status ibex_bench_accuracy_run(const ibex_bench_accuracy_opts *opts, ibex_bench_accuracy **out,
                                    ibex_diag *diag)
{
    ibex_bench_accuracy_opts o;
    ibex_status s = copy_opts(opts, &o, diag);
    if (s) return s;
    if (!out) return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "no result pointer");
    const bench_method *forced = NULL;
    if (o.method) {
        forced = bench_method_find(o.method);
        if (!forced) return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "unknown method '%s'", o.method);
        if (o.kind && strcmp(o.kind, forced->kind))
            return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "method %s compares %s scans, not %s", o.method,
                              forced->kind, o.kind);
        o.kind = forced->kind;
    }
    if (o.threads) omp_set_num_threads(o.threads);
    ibex_bench_accuracy *a = calloc(1, sizeof *a);
    if (!a) return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    bench_progress pr = {o.progress, o.progress_user, 0, 0, NULL, 0};
    static const char *kinds[] = {"cartridge", "bullet"};
    for (int k = 0; k < 2 && !s; k++)
        if (!o.kind || !strcmp(o.kind, kinds[k])) s = run_kind(a, &o, forced, k, &pr, diag);
    if (!s && a->n == 0)
        s = ibex__fail(diag, IBEX_ERR_ARG, "", -1, "%s: no cartridge or bullet scans with ground truth%s%s",
                       o.manifest, o.set ? " in set " : "", o.set ? o.set : "");
    if (!s) {
        bench_report_opts ro = {o.out_dir, o.manifest, o.set, o.quick, o.resamples, o.seed, o.command};
        s = bench_report_write(a->st, a->n, &ro, &a->json, a->fig, a->cal, diag);
    }
    if (s) {
        ibex_bench_accuracy_free(a);
        return s;
    }
    *out = a;
    return IBEX_OK;
}

size_t ibex_bench_accuracy_get_count(const ibex_bench_accuracy *a) { return a ? a->n : 0; }

/* Copies the first out->struct_size bytes of a figures struct (callers built against a
 * shorter struct get the fields they know). */
static ibex_status copy_out(void *out, const void *in, size_t have)
{
    size_t want = 0;
    if (out) memcpy(&want, out, sizeof want);
    if (want < sizeof want) return IBEX_ERR_ARG;
    memcpy(out, in, want < have ? want : have);
    memcpy(out, &want, sizeof want);
    return IBEX_OK;
}

void ibex_bench_study_figures_init(ibex_bench_study_figures *f)
{
    if (!f) return;
    memset(f, 0, sizeof *f);
    f->struct_size = sizeof *f;
}

void ibex_bench_calibration_figures_init(ibex_bench_calibration_figures *f)
{
    if (!f) return;
    memset(f, 0, sizeof *f);
    f->struct_size = sizeof *f;
}

ibex_status ibex_bench_accuracy_get(const ibex_bench_accuracy *a, size_t i, ibex_bench_study_figures *out)
{
    if (!a || i >= a->n) return IBEX_ERR_ARG;
    return copy_out(out, &a->fig[i], sizeof a->fig[i]);
}

ibex_status ibex_bench_accuracy_get_calibration(const ibex_bench_accuracy *a, size_t i,
                                                ibex_bench_calibration_figures *out)
{
    if (!a || i >= a->n) return IBEX_ERR_ARG;
    return copy_out(out, &a->cal[i], sizeof a->cal[i]);
}

const char *ibex_bench_accuracy_get_note(const ibex_bench_accuracy *a, size_t k)
{
    return a && k < a->n_notes ? a->notes[k] : NULL;
}

ibex_status ibex_bench_accuracy_get_json(const ibex_bench_accuracy *a, char **json)
{
    if (!a || !json || !a->json) return IBEX_ERR_ARG;
    size_t n = strlen(a->json) + 1;
    char *c = malloc(n);
    if (!c) return IBEX_ERR_NOMEM;
    memcpy(c, a->json, n);
    *json = c;
    return IBEX_OK;
}
