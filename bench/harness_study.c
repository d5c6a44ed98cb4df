/* Scoring a study: prepare every scan once, then every within-set pair, in parallel. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_internal.h"

void bench_study_free(bench_study *st)
{
    if (!st) return;
    free(st->scan);
    for (size_t i = 0; i < st->n_skipped; i++) free(st->skipped[i]);
    free(st->skipped);
    free(st->score);
    free(st->aux);
    free(st->failed);
    free(st->first_failure);
    memset(st, 0, sizeof *st);
}

static char *dup_text(const char *t)
{
    size_t len = strlen(t) + 1;
    char *d = malloc(len);
    if (d) memcpy(d, t, len);
    return d;
}

ibex_status bench_study_run(bench_study *st, const bench_method *m, const bench_manifest *man,
                            const char *kind, size_t max_scans, bench_progress *pr,
                            ibex_diag *diag)
{
    memset(st, 0, sizeof *st);
    st->method = m;
    snprintf(st->kind, sizeof st->kind, "%s", kind);
    st->scan = malloc((man->n ? man->n : 1) * sizeof *st->scan);
    if (!st->scan) return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    /* Rows of this kind, at most max_scans per set, in manifest order. */
    for (size_t i = 0; i < man->n; i++) {
        if (strcmp(man->scan[i].kind, kind) != 0) continue;
        size_t in_set = 0;
        for (size_t j = 0; j < st->n; j++) in_set += !strcmp(st->scan[j]->set, man->scan[i].set);
        if (max_scans && in_set >= max_scans) continue;
        st->scan[st->n++] = &man->scan[i];
    }
    if (st->n < 2)
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1,
                          "fewer than two %s scans with ground truth in the manifest selection", kind);

    /* Prepare each scan once. */
    size_t n = st->n;
    int prepared = m->prepare || m->prepare_scan;
    void **prep = calloc(n, sizeof *prep);
    ibex_status *pst = calloc(n, sizeof *pst);
    ibex_diag *pdiag = calloc(n, sizeof *pdiag);
    if (!prep || !pst || !pdiag) {
        free(prep), free(pst), free(pdiag);
        return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    }
    double t0 = ibex__now();
    size_t done = 0;
    ibex_status rc = IBEX_OK;
    if (prepared) {
        /* Progress from the first thread only (the callback never runs twice at once); a
         * cancelled run skips the units left. */
        bench_progress_report(pr, "preparing scans", 0, n);
#pragma omp parallel for schedule(dynamic, 1)
        for (size_t i = 0; i < n; i++) {
            ibex_diag_clear(&pdiag[i]);
            if (pr && pr->cancelled) {
                pst[i] = IBEX_ERR_CANCELLED;
                continue;
            }
            pst[i] = m->prepare_scan ? m->prepare_scan(st->scan[i], &prep[i], m->ctx, &pdiag[i])
                                     : m->prepare(st->scan[i]->path, &prep[i], m->ctx, &pdiag[i]);
            size_t now_done;
#pragma omp atomic capture
            now_done = ++done;
            if (omp_get_thread_num() == 0) bench_progress_report(pr, "preparing scans", now_done, n);
        }
        if (!(pr && pr->cancelled)) bench_progress_report(pr, "preparing scans", n, n);
    }
    st->seconds_prepare = ibex__now() - t0;
    if (pr && pr->cancelled) rc = ibex__fail(diag, IBEX_ERR_CANCELLED, "", -1, "cancelled");
    /* A scan the method cannot read (unsupported format) is skipped and reported; any
     * other failure (unreadable, corrupt) stops the run. */
    for (size_t i = 0; i < n && !rc; i++)
        if (prepared && pst[i] != IBEX_OK && pst[i] != IBEX_ERR_UNSUPPORTED) {
            rc = pst[i];
            if (diag) *diag = pdiag[i];
        }
    st->skipped = calloc(n, sizeof *st->skipped);
    if (!st->skipped && !rc) rc = ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    size_t kept = 0;
    for (size_t i = 0; i < n && !rc; i++)
        if (!prepared || pst[i] == IBEX_OK) kept++;
    if (!rc && kept < 2)
        rc = ibex__fail(diag, IBEX_ERR_ARG, "", -1, "fewer than two %s scans left that %s can read", kind, m->name);
    if (rc) {
        for (size_t i = 0; i < n; i++)
            if (pst[i] == IBEX_OK && prep[i] && m->prep_free) m->prep_free(prep[i]);
        free(prep), free(pst), free(pdiag);
        return rc;
    }
    kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (prepared && pst[i] != IBEX_OK) {
            char buf[1200];
            ibex_diag_format(&pdiag[i], pst[i], buf, sizeof buf);
            st->skipped[st->n_skipped] = dup_text(buf);
            if (st->skipped[st->n_skipped]) st->n_skipped++;
            continue;
        }
        st->scan[kept] = st->scan[i];
        prep[kept] = prep[i];
        kept++;
    }
    n = st->n = kept;

    /* Sets included, for the report. */
    for (size_t i = 0; i < n; i++) {
        int seen = 0;
        for (size_t j = 0; j < i; j++) seen |= !strcmp(st->scan[j]->set, st->scan[i]->set);
        if (seen) continue;
        size_t len = strlen(st->sets);
        snprintf(st->sets + len, sizeof st->sets - len, "%s%s", len ? "," : "", st->scan[i]->set);
    }

    /* Pairs within a set. */
    size_t npairs = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) npairs += !strcmp(st->scan[i]->set, st->scan[j]->set);
    size_t *pa = malloc((npairs ? npairs : 1) * sizeof *pa), *pb = malloc((npairs ? npairs : 1) * sizeof *pb);
    st->score = malloc(n * n * sizeof *st->score);
    st->aux = calloc(n * n * 4, sizeof *st->aux);
    st->failed = calloc(n * n, 1);
    if (!pa || !pb || !st->score || !st->aux || !st->failed) {
        rc = ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n * n; i++) st->score[i] = NAN;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (!strcmp(st->scan[i]->set, st->scan[j]->set)) pa[k] = i, pb[k] = j, k++;

    t0 = ibex__now();
    done = 0;
    st->threads = omp_get_max_threads();
    bench_progress_report(pr, "comparing pairs", 0, npairs);
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t p = 0; p < npairs; p++) {
        if (pr && pr->cancelled) continue;
        size_t i = pa[p], j = pb[p];
        bench_pair_result r;
        memset(&r, 0, sizeof r);
        ibex_diag d;
        ibex_diag_clear(&d);
        ibex_status s = prepared
                            ? m->compare_prepared(prep[i], prep[j], &r, m->ctx, &d)
                            : m->compare(st->scan[i]->path, st->scan[j]->path, &r, m->ctx, &d);
        if (s == IBEX_OK && !isfinite(r.score)) {
            s = IBEX_ERR_FORMAT;
            snprintf(d.message, sizeof d.message, "%s returned a non-finite score", m->name);
        }
        if (s == IBEX_OK) {
            st->score[i * n + j] = st->score[j * n + i] = r.score;
            for (int a = 0; a < 4; a++) st->aux[(i * n + j) * 4 + a] = st->aux[(j * n + i) * 4 + a] = r.aux[a];
        } else {
#pragma omp critical(bench_fail)
            {
                st->failed[i * n + j] = st->failed[j * n + i] = 1;
                st->n_failed++;
                if (!st->first_failure) {
                    char buf[1200], line[2400];
                    snprintf(line, sizeof line, "%s vs %s failed: %s (scored as a non-identification)",
                             st->scan[i]->rel, st->scan[j]->rel, ibex_diag_format(&d, s, buf, sizeof buf));
                    st->first_failure = dup_text(line);
                }
            }
        }
        size_t now_done;
#pragma omp atomic capture
        now_done = ++done;
        if (omp_get_thread_num() == 0) bench_progress_report(pr, "comparing pairs", now_done, npairs);
    }
    if (pr && pr->cancelled) {
        rc = ibex__fail(diag, IBEX_ERR_CANCELLED, "", -1, "cancelled");
        goto out;
    }
    bench_progress_report(pr, "comparing pairs", npairs, npairs);
    st->seconds_compare = ibex__now() - t0;

    /* Failed pairs take the worst score any pair reached, so they count as
     * non-identifications instead of vanishing from the statistics. */
    if (st->n_failed) {
        double worst = NAN;
        for (size_t i = 0; i < n * n; i++) {
            if (isnan(st->score[i])) continue;
            if (isnan(worst) || (m->higher_is_match ? st->score[i] < worst : st->score[i] > worst))
                worst = st->score[i];
        }
        if (isnan(worst)) {
            rc = ibex__fail(diag, IBEX_ERR_FORMAT, "", -1, "every %s comparison failed with %s", kind, m->name);
            goto out;
        }
        for (size_t i = 0; i < n * n; i++)
            if (st->failed[i]) st->score[i] = worst;
    }
out:
    free(pa), free(pb);
    for (size_t i = 0; i < n; i++)
        if (prep[i] && m->prep_free) m->prep_free(prep[i]);
    free(prep), free(pst), free(pdiag);
    return rc;
}
