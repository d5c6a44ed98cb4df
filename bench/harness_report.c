/* Accuracy report: figures (ibex/stats.h), plots, report.json, report.md, pairs TSV. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench_internal.h"
#include "ibex/stats.h"

#define PLOT_W 800
#define PLOT_H 560

/* ---- per-study figures ---- */

typedef struct figures {
    double *m, *nm;           /* oriented scores: higher = more similar */
    size_t n_m, n_nm;
    double auc, auc_lo, auc_hi;
    ibex_roc *roc;
    double eer, eer_thr;
    double fpr, fnr;
    size_t fp, fn;
    size_t *rank;             /* per scan, 0 = no mate */
    size_t n_queries;
    double top1, top5, top10;
    ibex_slr *slr;
    bench_calib cal;
} figures;

static double sgn(const bench_study *st) { return st->method->higher_is_match ? 1 : -1; }

static void figures_free(figures *f)
{
    free(f->m), free(f->nm), free(f->rank);
    ibex_roc_free(f->roc);
    ibex_slr_free(f->slr);
    bench_calib_free(&f->cal);
}

static int same_key(const bench_study *st, size_t i, size_t j)
{
    return !strcmp(st->scan[i]->key, st->scan[j]->key);
}

static ibex_status compute(const bench_study *st, const bench_report_opts *o, figures *f,
                           ibex_diag *diag)
{
    memset(f, 0, sizeof *f);
    size_t n = st->n;
    f->m = malloc(n * n * sizeof *f->m);
    f->nm = malloc(n * n * sizeof *f->nm);
    f->rank = calloc(n, sizeof *f->rank);
    if (!f->m || !f->nm || !f->rank) return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            double s = st->score[i * n + j];
            if (isnan(s)) continue; /* across sets */
            if (same_key(st, i, j)) f->m[f->n_m++] = sgn(st) * s;
            else f->nm[f->n_nm++] = sgn(st) * s;
        }
    if (!f->n_m || !f->n_nm) {
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1,
                          "%s: the selection has %zu known-match and %zu known-non-match pairs; "
                          "both are needed",
                          st->kind, f->n_m, f->n_nm);
    }
    ibex_diag d;
    ibex_status s;
    ibex_auc_ci_opts co;
    ibex_auc_ci_opts_init(&co);
    co.resamples = o->resamples;
    co.seed = o->seed;
    double thr = sgn(st) * st->method->threshold;
    if ((s = ibex_stats_auc(f->m, f->n_m, f->nm, f->n_nm, &f->auc, &d)) ||
        (s = ibex_stats_auc_ci(f->m, f->n_m, f->nm, f->n_nm, &co, &f->auc_lo, &f->auc_hi, &d)) ||
        (s = ibex_roc_create(f->m, f->n_m, f->nm, f->n_nm, &f->roc, &d)) ||
        (s = ibex_stats_error_rates(f->m, f->n_m, f->nm, f->n_nm, thr, &f->fpr, &f->fnr, &d)) ||
        (s = ibex_slr_create(f->m, f->n_m, f->nm, f->n_nm, &f->slr, &d)))
        return diag ? (*diag = d, s) : s;
    if ((s = bench_calib_compute(st, &f->cal, diag))) return s;
    ibex_roc_get_eer(f->roc, &f->eer, &f->eer_thr);
    f->eer_thr *= sgn(st);
    f->fp = (size_t)llround(f->fpr * (double)f->n_nm);
    f->fn = (size_t)llround(f->fnr * (double)f->n_m);
    /* Ranks within each set: a query searches the other scans of its set. */
    size_t *idx = malloc(n * sizeof *idx), *lab = malloc(n * sizeof *lab), *rk = malloc(n * sizeof *rk);
    double *sub = malloc(n * n * sizeof *sub);
    unsigned char *done = calloc(n, 1);
    if (!idx || !lab || !rk || !sub || !done) {
        free(idx), free(lab), free(rk), free(sub), free(done);
        return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    }
    ibex_status rc = IBEX_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        if (done[i]) continue;
        size_t k = 0;
        for (size_t j = 0; j < n; j++)
            if (!strcmp(st->scan[j]->set, st->scan[i]->set)) idx[k++] = j, done[j] = 1;
        for (size_t a = 0; a < k; a++) {
            lab[a] = a;
            for (size_t b = 0; b < a; b++)
                if (same_key(st, idx[a], idx[b])) {
                    lab[a] = lab[b];
                    break;
                }
            for (size_t b = 0; b < k; b++)
                sub[a * k + b] = a == b ? 0 : sgn(st) * st->score[idx[a] * n + idx[b]];
        }
        if (k < 2) continue;
        if ((s = ibex_stats_mate_ranks(sub, lab, k, rk, &d))) {
            rc = s;
            if (diag) *diag = d;
        }
        for (size_t a = 0; a < k && !rc; a++) f->rank[idx[a]] = rk[a];
    }
    free(idx), free(lab), free(rk), free(sub), free(done);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) f->n_queries += f->rank[i] > 0;
    f->top1 = ibex_stats_top_k(f->rank, n, 1);
    f->top5 = ibex_stats_top_k(f->rank, n, 5);
    f->top10 = ibex_stats_top_k(f->rank, n, 10);
    return IBEX_OK;
}

/* ---- plots ---- */

static void minmax(const double *v, size_t n, double *lo, double *hi)
{
    for (size_t i = 0; i < n; i++) *lo = fmin(*lo, v[i]), *hi = fmax(*hi, v[i]);
}

static int plot_scores(const bench_study *st, const figures *f, const char *path)
{
    /* Histograms in the method's own score units, as densities (the two classes differ
     * in size by an order of magnitude), with the KDEs the likelihood ratios use. */
    double lo = INFINITY, hi = -INFINITY;
    minmax(f->m, f->n_m, &lo, &hi);
    minmax(f->nm, f->n_nm, &lo, &hi);
    if (st->method->higher_is_match) {
    } else {
        double t = lo;
        lo = -hi, hi = -t;
    }
    double pad = 0.05 * (hi - lo > 0 ? hi - lo : 1);
    lo -= pad, hi += pad;
    enum { NB = 30 };
    double edges[NB + 1], hm[NB] = {0}, hn[NB] = {0};
    for (int b = 0; b <= NB; b++) edges[b] = lo + (hi - lo) * b / NB;
    double bw = (hi - lo) / NB;
    for (size_t i = 0; i < f->n_m; i++) {
        int b = (int)((sgn(st) * f->m[i] - lo) / bw);
        hm[b < 0 ? 0 : b >= NB ? NB - 1 : b] += 1 / ((double)f->n_m * bw);
    }
    for (size_t i = 0; i < f->n_nm; i++) {
        int b = (int)((sgn(st) * f->nm[i] - lo) / bw);
        hn[b < 0 ? 0 : b >= NB ? NB - 1 : b] += 1 / ((double)f->n_nm * bw);
    }
    enum { NK = 300 };
    double kx[NK], km[NK], kn[NK], ymax = 0;
    ibex_kde *dm = NULL, *dn = NULL;
    double hmatch, hnon;
    ibex_slr_get_bandwidths(f->slr, &hmatch, &hnon);
    ibex_kde_create(f->m, f->n_m, hmatch, &dm, NULL);
    ibex_kde_create(f->nm, f->n_nm, hnon, &dn, NULL);
    for (int i = 0; i < NK; i++) {
        kx[i] = lo + (hi - lo) * i / (NK - 1);
        km[i] = dm ? ibex_kde_density(dm, sgn(st) * kx[i]) : 0;
        kn[i] = dn ? ibex_kde_density(dn, sgn(st) * kx[i]) : 0;
        ymax = fmax(ymax, fmax(km[i], kn[i]));
    }
    ibex_kde_free(dm), ibex_kde_free(dn);
    for (int b = 0; b < NB; b++) ymax = fmax(ymax, fmax(hm[b], hn[b]));
    char title[256], xl[128], lm[96], ln[96], lt[96];
    snprintf(title, sizeof title, "%s on %s: score distributions", st->method->name, st->sets);
    snprintf(xl, sizeof xl, "%s", st->method->score_name);
    snprintf(lm, sizeof lm, "known matches (n = %zu)", f->n_m);
    snprintf(ln, sizeof ln, "known non-matches (n = %zu)", f->n_nm);
    snprintf(lt, sizeof lt, "threshold %.3g", st->method->threshold);
    /* headroom above the tallest bar for the legend */
    bench_plot *p = bench_plot_create(PLOT_W, PLOT_H, title, xl, "density", lo, hi, 0, 1.45 * ymax);
    if (!p) return 1;
    bench_plot_bars(p, edges, hn, NB, 0, ln);
    bench_plot_bars(p, edges, hm, NB, 1, lm);
    bench_plot_line(p, kx, kn, NK, 0, 2, 0, "non-match KDE (Silverman)");
    bench_plot_line(p, kx, km, NK, 1, 2, 0, "match KDE (Silverman)");
    bench_plot_vline(p, st->method->threshold, 7, lt);
    bench_plot_legend(p, st->method->higher_is_match ? 1 : 0);
    return bench_plot_write(p, path);
}

static int plot_roc(const bench_study *st, const figures *f, const char *path)
{
    size_t n = f->roc->n;
    double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    if (!x || !y) return free(x), free(y), 1;
    for (size_t i = 0; i < n; i++) x[i] = f->roc->pt[i].fpr, y[i] = f->roc->pt[i].tpr;
    char title[256], la[96], le[96];
    snprintf(title, sizeof title, "%s on %s: ROC", st->method->name, st->sets);
    snprintf(la, sizeof la, "ROC, AUC = %.3f [%.3f, %.3f]", f->auc, f->auc_lo, f->auc_hi);
    snprintf(le, sizeof le, "EER = %.3f", f->eer);
    bench_plot *p = bench_plot_create(PLOT_W, PLOT_H, title, "false positive rate",
                                      "true positive rate", -0.01, 1.01, -0.01, 1.01);
    if (!p) return free(x), free(y), 1;
    double cx[2] = {0, 1}, cy[2] = {0, 1}, ex[2] = {0, 1}, ey[2] = {1, 0};
    bench_plot_line(p, cx, cy, 2, 7, 1, 1, "chance");
    bench_plot_line(p, ex, ey, 2, 3, 1, 1, "FPR = FNR");
    bench_plot_line(p, x, y, n, 0, 2.5, 0, la);
    double px1 = f->eer, py1 = 1 - f->eer;
    bench_plot_points(p, &px1, &py1, 1, 1, le);
    double tx = f->fpr, ty = 1 - f->fnr;
    char lt[96];
    snprintf(lt, sizeof lt, "at threshold %.3g", st->method->threshold);
    bench_plot_points(p, &tx, &ty, 1, 2, lt);
    bench_plot_legend(p, 2);
    free(x), free(y);
    return bench_plot_write(p, path);
}

static int plot_rank(const bench_study *st, const figures *f, const char *path)
{
    size_t kmax = 10;
    for (size_t i = 0; i < st->n; i++) kmax = f->rank[i] > kmax ? f->rank[i] : kmax;
    double *x = malloc(kmax * sizeof *x), *y = malloc(kmax * sizeof *y);
    if (!x || !y) return free(x), free(y), 1;
    for (size_t k = 1; k <= kmax; k++) x[k - 1] = (double)k, y[k - 1] = ibex_stats_top_k(f->rank, st->n, k);
    char title[256], l[96];
    snprintf(title, sizeof title, "%s on %s: rank of the first true mate", st->method->name, st->sets);
    snprintf(l, sizeof l, "%zu queries with a mate; top-1 %.2f", f->n_queries, f->top1);
    bench_plot *p = bench_plot_create(PLOT_W, PLOT_H, title, "rank k",
                                      "fraction of queries with a mate in the top k", 0.5,
                                      (double)kmax + 0.5, 0, 1.0001);
    if (!p) return free(x), free(y), 1;
    bench_plot_steps(p, x, y, kmax, 0, l);
    bench_plot_points(p, x, y, kmax, 0, NULL);
    bench_plot_legend(p, 2);
    free(x), free(y);
    return bench_plot_write(p, path);
}

/* ---- JSON and Markdown ---- */

static json_t *jnum(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static json_t *summary(const double *v, size_t n, double s)
{
    double *c = malloc(n * sizeof *c);
    if (!c) return json_null();
    double mean = 0, ss = 0;
    for (size_t i = 0; i < n; i++) c[i] = s * v[i], mean += c[i] / (double)n;
    for (size_t i = 0; i < n; i++) ss += (c[i] - mean) * (c[i] - mean);
    qsort(c, n, sizeof *c, cmp_dbl);
    json_t *o = json_pack("{s:I, s:o, s:o, s:o, s:o, s:o}", "n", (json_int_t)n, "mean", jnum(mean),
                          "sd", jnum(n > 1 ? sqrt(ss / (double)(n - 1)) : NAN), "min", jnum(c[0]),
                          "median", jnum(n % 2 ? c[n / 2] : 0.5 * (c[n / 2 - 1] + c[n / 2])),
                          "max", jnum(c[n - 1]));
    free(c);
    return o;
}

static void study_files(const bench_study *st, char names[6][64])
{
    snprintf(names[0], 64, "scores_%s.png", st->kind);
    snprintf(names[1], 64, "roc_%s.png", st->kind);
    snprintf(names[2], 64, "rank_%s.png", st->kind);
    snprintf(names[3], 64, "pairs_%s.tsv", st->kind);
    snprintf(names[4], 64, "ece_%s.png", st->kind);
    snprintf(names[5], 64, "tippett_%s.png", st->kind);
}

static ibex_status write_pairs(const bench_study *st, const figures *f, const char *path,
                               ibex_diag *diag)
{
    size_t n = st->n, cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (!buf) return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    const bench_method *m = st->method;
    len += (size_t)snprintf(buf, cap, "a\tb\tset\tsame_source\tscore\tlog10_lr\tfailed");
    for (int a = 0; a < 4; a++)
        if (m->aux_names[a]) len += (size_t)snprintf(buf + len, cap - len, "\t%s", m->aux_names[a]);
    buf[len++] = '\n';
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            double s = st->score[i * n + j];
            if (isnan(s)) continue;
            if (cap - len < 2048) {
                char *nb = realloc(buf, cap *= 2);
                if (!nb) return free(buf), ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
                buf = nb;
            }
            len += (size_t)snprintf(buf + len, cap - len, "%s\t%s\t%s\t%d\t%.6g\t%.4f\t%d",
                                    st->scan[i]->rel, st->scan[j]->rel, st->scan[i]->set,
                                    same_key(st, i, j), s, ibex_slr_log10(f->slr, sgn(st) * s),
                                    st->failed[i * n + j]);
            for (int a = 0; a < 4; a++)
                if (m->aux_names[a])
                    len += (size_t)snprintf(buf + len, cap - len, "\t%.6g", st->aux[(i * n + j) * 4 + a]);
            buf[len++] = '\n';
        }
    buf[len] = 0;
    ibex_status rc = bench_write_text(path, buf, diag);
    free(buf);
    return rc;
}

/* The study's sets that the method was developed on (comma-separated into buf). */
static void in_sample_sets(const bench_study *st, char *buf, size_t cap)
{
    buf[0] = 0;
    const char *dev = st->method->developed_on;
    if (!dev) return;
    char sets[sizeof st->sets];
    snprintf(sets, sizeof sets, "%s", st->sets);
    for (char *save = NULL, *t = strtok_r(sets, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        size_t l = strlen(t);
        const char *p = dev;
        int hit = 0;
        while ((p = strstr(p, t))) {
            if ((p == dev || p[-1] == ',') && (p[l] == 0 || p[l] == ',')) hit = 1;
            p += l;
        }
        if (hit) snprintf(buf + strlen(buf), cap - strlen(buf), "%s%s", buf[0] ? "," : "", t);
    }
}

static json_t *study_json(const bench_study *st, const figures *f, const bench_report_opts *o,
                          char names[6][64])
{
    const bench_method *m = st->method;
    json_t *j = json_object();
    json_object_set_new(j, "kind", json_string(st->kind));
    json_object_set_new(j, "sets", json_string(st->sets));
    json_object_set_new(j, "method", json_pack("{s:s, s:s, s:s, s:b, s:f}", "name", m->name,
                                               "description", m->description, "score", m->score_name,
                                               "higher_is_match", m->higher_is_match,
                                               "threshold", m->threshold));
    json_t *scans = json_array();
    for (size_t i = 0; i < st->n; i++)
        json_array_append_new(scans, json_pack("{s:s, s:s, s:s, s:o}", "path", st->scan[i]->rel,
                                               "set", st->scan[i]->set, "key", st->scan[i]->key,
                                               "rank_of_first_mate", /* null: no mate in its set */
                                               f->rank[i] ? json_integer((json_int_t)f->rank[i]) : json_null()));
    json_object_set_new(j, "n_scans", json_integer((json_int_t)st->n));
    json_t *sk = json_array();
    for (size_t i = 0; i < st->n_skipped; i++) json_array_append_new(sk, json_string(st->skipped[i]));
    json_object_set_new(j, "scans_skipped", sk);
    json_object_set_new(j, "n_pairs", json_integer((json_int_t)(f->n_m + f->n_nm)));
    json_object_set_new(j, "n_match", json_integer((json_int_t)f->n_m));
    json_object_set_new(j, "n_nonmatch", json_integer((json_int_t)f->n_nm));
    json_object_set_new(j, "n_failed", json_integer((json_int_t)st->n_failed));
    json_object_set_new(j, "match_scores", summary(f->m, f->n_m, sgn(st)));
    json_object_set_new(j, "nonmatch_scores", summary(f->nm, f->n_nm, sgn(st)));
    json_object_set_new(j, "auc", jnum(f->auc));
    json_object_set_new(j, "auc_ci", json_pack("{s:o, s:o, s:f, s:I, s:I, s:s}", "lo", jnum(f->auc_lo),
                                               "hi", jnum(f->auc_hi), "level", 0.95,
                                               "resamples", (json_int_t)o->resamples,
                                               "seed", (json_int_t)o->seed,
                                               "method", "percentile bootstrap, matches and non-matches resampled separately"));
    json_object_set_new(j, "error_rates", json_pack("{s:f, s:o, s:o, s:I, s:I, s:s}", "threshold",
                                                    m->threshold, "false_positive_rate", jnum(f->fpr),
                                                    "false_negative_rate", jnum(f->fnr),
                                                    "false_positives", (json_int_t)f->fp,
                                                    "false_negatives", (json_int_t)f->fn,
                                                    "rule", m->higher_is_match ? "identification when score >= threshold"
                                                                               : "identification when score <= threshold"));
    json_object_set_new(j, "eer", jnum(f->eer));
    json_object_set_new(j, "eer_detail", json_pack("{s:o, s:s}", "threshold", jnum(f->eer_thr), "method",
                                                   "linear interpolation on the empirical ROC between the two points where FPR - FNR changes sign"));
    json_object_set_new(j, "ranks", json_pack("{s:I, s:o, s:o, s:o, s:s}", "queries_with_mate",
                                              (json_int_t)f->n_queries, "top1", jnum(f->top1),
                                              "top5", jnum(f->top5), "top10", jnum(f->top10),
                                              "method", "each scan queries the other scans of its set; rank of the best-scoring true mate, ties counted against the query"));
    double hm, hn;
    ibex_slr_get_bandwidths(f->slr, &hm, &hn);
    json_t *table = json_array();
    double lo = INFINITY, hi = -INFINITY;
    minmax(f->m, f->n_m, &lo, &hi);
    minmax(f->nm, f->n_nm, &lo, &hi);
    for (int i = 0; i <= 10; i++) {
        double s = lo + (hi - lo) * i / 10;
        json_array_append_new(table, json_pack("{s:o, s:o}", "score", jnum(sgn(st) * s), "log10_lr",
                                               jnum(ibex_slr_log10(f->slr, s))));
    }
    json_object_set_new(j, "slr", json_pack("{s:s, s:o, s:o, s:o, s:o, s:o}", "method",
                                            "Gaussian KDE of match and non-match scores, Silverman bandwidth (floor 1% of the score range), densities floored at phi(4)/(n h)",
                                            "bandwidth_match", jnum(hm), "bandwidth_nonmatch", jnum(hn),
                                            "cllr_leave_one_out", jnum(ibex_slr_get_cllr(f->slr)),
                                            "log10_lr_at_threshold", jnum(ibex_slr_log10(f->slr, sgn(st) * m->threshold)),
                                            "log10_lr_table", table));
    json_object_set_new(j, "calibrated_lr", bench_calib_json(&f->cal));
    char ins[256];
    in_sample_sets(st, ins, sizeof ins);
    json_object_set_new(j, "in_sample", ins[0] ? json_pack("{s:s, s:s}", "sets", ins, "why",
                                                           m->developed_how)
                                               : json_null());
    json_object_set_new(j, "timing", json_pack("{s:f, s:f, s:o, s:i}", "prepare_seconds",
                                               st->seconds_prepare, "compare_seconds", st->seconds_compare,
                                               "pairs_per_second",
                                               jnum((double)(f->n_m + f->n_nm) / st->seconds_compare),
                                               "threads", st->threads));
    if (bench_plots_built())
        json_object_set_new(j, "files", json_pack("{s:s, s:s, s:s, s:s}", "score_histogram", names[0],
                                                  "roc", names[1], "rank_curve", names[2], "pairs", names[3]));
    else
        json_object_set_new(j, "files", json_pack("{s:s, s:s}", "pairs", names[3], "figures_not_drawn",
                                                  NOT_DRAWN));
    json_object_set_new(j, "scans", scans);
    return j;
}

static void md_study(FILE *f, const bench_study *st, const figures *g, char names[6][64])
{
    const bench_method *m = st->method;
    double hm, hn;
    ibex_slr_get_bandwidths(g->slr, &hm, &hn);
    fprintf(f, "## %s: %s on %s\n\n", st->kind, m->name, st->sets);
    fprintf(f, "%s.\n\n", m->description);
    char ins[256];
    in_sample_sets(st, ins, sizeof ins);
    if (ins[0])
        fprintf(f, "**In-sample** on %s: %s. Figures on other studies are out-of-sample.\n\n",
                ins, m->developed_how);
    else
        fprintf(f, "Out-of-sample: the method was not developed on %s.\n\n", st->sets);
    fprintf(f, "| figure | value |\n|---|---|\n");
    fprintf(f, "| scans / pairs (match + non-match) | %zu / %zu (%zu + %zu) |\n", st->n, g->n_m + g->n_nm, g->n_m, g->n_nm);
    if (st->n_failed) fprintf(f, "| failed comparisons (scored as the worst score) | %zu |\n", st->n_failed);
    fprintf(f, "| AUC [95%% bootstrap CI] | %.3f [%.3f, %.3f] |\n", g->auc, g->auc_lo, g->auc_hi);
    fprintf(f, "| equal-error rate (at score %.3g) | %.3f |\n", g->eer_thr, g->eer);
    fprintf(f, "| false positive rate at threshold %.3g | %.3f (%zu of %zu) |\n", m->threshold, g->fpr, g->fp, g->n_nm);
    fprintf(f, "| false negative rate at threshold %.3g | %.3f (%zu of %zu) |\n", m->threshold, g->fnr, g->fn, g->n_m);
    fprintf(f, "| top-1 / top-5 / top-10 (%zu queries with a mate) | %.3f / %.3f / %.3f |\n", g->n_queries, g->top1, g->top5, g->top10);
    fprintf(f, "| log10 LR at threshold | %.2f |\n", ibex_slr_log10(g->slr, sgn(st) * m->threshold));
    fprintf(f, "| Cllr (leave-one-out) | %.3f |\n", ibex_slr_get_cllr(g->slr));
    fprintf(f, "| KDE bandwidths (match, non-match) | %.4g, %.4g |\n", hm, hn);
    fprintf(f, "| time: prepare / compare (%d threads) | %.1f s / %.1f s (%.1f pairs/s) |\n\n",
            st->threads, st->seconds_prepare, st->seconds_compare,
            (double)(g->n_m + g->n_nm) / st->seconds_compare);
    if (st->n_skipped) {
        fprintf(f, "Skipped (format not readable by this method):\n\n");
        for (size_t i = 0; i < st->n_skipped; i++) fprintf(f, "- %s\n", st->skipped[i]);
        fprintf(f, "\n");
    }
    if (bench_plots_built())
        fprintf(f, "![Score distributions](%s)\n\n![ROC curve](%s)\n\n![Rank curve](%s)\n\n", names[0], names[1], names[2]);
    else
        fprintf(f, "%s: score distributions, ROC and rank curve.\n\n", NOT_DRAWN);
    fprintf(f, "Every pair with its score and log10 LR: [%s](%s).\n\n", names[3], names[3]);
    bench_calib_md(f, &g->cal, bench_plots_built() ? names[4] : NULL, names[5]);
}

/* Plots, pairs table and calibration plots of study i into out_dir. */
static ibex_status write_study_files(const bench_study *st, const figures *fig, char names[6][64],
                                     const char *out_dir, ibex_diag *diag)
{
    size_t plen = strlen(out_dir) + 80;
    char *path = malloc(plen), *p2 = malloc(plen);
    ibex_status rc = path && p2 ? IBEX_OK : ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    study_files(st, names);
    int (*plots[3])(const bench_study *, const figures *, const char *) = {plot_scores, plot_roc, plot_rank};
    for (int k = 0; k < 3 && !rc && bench_plots_built(); k++) {
        snprintf(path, plen, "%s/%s", out_dir, names[k]);
        if (plots[k](st, fig, path)) rc = ibex__fail(diag, IBEX_ERR_IO, "", -1, "%s: cannot draw the plot", path);
    }
    if (!rc) {
        snprintf(path, plen, "%s/%s", out_dir, names[3]);
        rc = write_pairs(st, fig, path, diag);
    }
    if (!rc && bench_plots_built()) {
        snprintf(path, plen, "%s/%s", out_dir, names[4]);
        snprintf(p2, plen, "%s/%s", out_dir, names[5]);
        if (bench_calib_plots(st, &fig->cal, path, p2))
            rc = ibex__fail(diag, IBEX_ERR_IO, "", -1, "%s: cannot draw the calibration plots", path);
    }
    free(path), free(p2);
    return rc;
}

/* What the report's header records about the run. */
typedef struct run_info {
    char cpu[256], rev[96], when[64];
    struct utsname un;
} run_info;

static void run_info_get(run_info *ri)
{
    bench_cpu_model(ri->cpu, sizeof ri->cpu);
    bench_git_revision(ri->rev, sizeof ri->rev);
    time_t t = time(NULL);
    strftime(ri->when, sizeof ri->when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    if (uname(&ri->un) != 0)
        snprintf(ri->un.sysname, sizeof ri->un.sysname, "unknown"), ri->un.release[0] = ri->un.machine[0] = 0;
}

static char *report_json(const bench_study *st, size_t n_studies, const figures *fig,
                         char (*names)[6][64], const bench_report_opts *o, const run_info *ri)
{
    json_t *root = json_object();
    json_object_set_new(root, "report", json_string("ibex bench accuracy"));
    json_object_set_new(root, "ibex_version", json_string(IBEX_VERSION_STRING));
    json_object_set_new(root, "git_revision", json_string(ri->rev));
    json_object_set_new(root, "generated_utc", json_string(ri->when));
    json_object_set_new(root, "command", json_string(o->command ? o->command : ""));
    json_object_set_new(root, "machine", json_pack("{s:s, s:i, s:i, s:s, s:s, s:o}", "cpu_model", ri->cpu,
                                                   "cores", (int)sysconf(_SC_NPROCESSORS_ONLN),
                                                   "threads", n_studies ? st[0].threads : 1,
                                                   "os", ri->un.sysname, "arch", ri->un.machine,
                                                   "load_average_1min_at_end", jnum(bench_load_average())));
    json_t *methods = json_object();
    for (size_t i = 0; i < n_studies; i++) json_object_set_new(methods, st[i].kind, json_string(st[i].method->name));
    json_object_set_new(root, "configuration", json_pack("{s:s, s:o, s:b, s:o, s:{s:I, s:f, s:I}}",
                                                         "manifest", o->manifest, "set", o->set ? json_string(o->set) : json_null(),
                                                         "quick", o->quick, "methods", methods,
                                                         "bootstrap", "resamples", (json_int_t)o->resamples,
                                                         "level", 0.95, "seed", (json_int_t)o->seed));
    /* The first study's AUC at the top, for a quick look; all figures per study. */
    json_object_set_new(root, "auc", jnum(n_studies ? fig[0].auc : NAN));
    json_t *arr = json_array();
    for (size_t i = 0; i < n_studies; i++) json_array_append_new(arr, study_json(&st[i], &fig[i], o, names[i]));
    json_object_set_new(root, "studies", arr);
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    return text;
}

static void report_md(FILE *f, const bench_study *st, size_t n_studies, const figures *fig,
                      char (*names)[6][64], const bench_report_opts *o, const run_info *ri)
{
    fprintf(f, "# IBEX accuracy report\n\n");
    fprintf(f, "Generated %s by `%s` (ibex %s, git %s) on %s, %ld cores, load average "
               "%.1f at the end (timings scale with it).\n\n", ri->when,
            o->command ? o->command : "ibex bench accuracy", IBEX_VERSION_STRING, ri->rev, ri->cpu,
            sysconf(_SC_NPROCESSORS_ONLN), bench_load_average());
    fprintf(f, "Manifest `%s`%s%s%s. Truth: two scans share a source when their "
               "`same_source_key` is equal; pairs are formed within a set only.\n\n",
            o->manifest, o->set ? ", set " : "", o->set ? o->set : "",
            o->quick ? ", quick subset (at most 8 cartridge and 12 bullet scans per set)" : "");
    for (size_t i = 0; i < n_studies; i++) md_study(f, &st[i], &fig[i], names[i]);
    fprintf(f, "## Methods of the statistics\n\n"
               "- AUC: Mann-Whitney form, the probability that a known-match pair outscores a "
               "known-non-match pair, ties counted 1/2. Interval: percentile bootstrap, %zu "
               "resamples (seed %llu), matches and non-matches resampled separately.\n"
               "- Error rates at the method's documented threshold; equal-error rate by linear "
               "interpolation on the empirical ROC where FPR - FNR changes sign.\n"
               "- Ranks: each scan queries the other scans of its set; rank of its best-scoring "
               "true mate, ties counted against it. Pairs are scored once (symmetric).\n"
               "- Likelihood ratios: Gaussian kernel densities of the match and non-match "
               "scores, Silverman's bandwidth (floor 1%% of the score range), each density "
               "floored at phi(4)/(n h) so log10 LR stays finite; Cllr with each score left "
               "out of its own density. These are resubstitution figures on a development set, "
               "not a validated calibration.\n"
               "- Failed comparisons (if any) take the worst score of the study.\n",
            o->resamples, (unsigned long long)o->seed);
}

/* The public figures of a study (report.json's null is NaN here). */
static void public_figures(const bench_study *st, const figures *g, ibex_bench_study_figures *out,
                           ibex_bench_calibration_figures *cal)
{
    ibex_bench_study_figures f;
    memset(&f, 0, sizeof f);
    f.struct_size = sizeof f;
    f.kind = st->kind, f.method = st->method->name, f.sets = st->sets;
    f.n_scans = st->n, f.n_skipped = st->n_skipped, f.n_failed = st->n_failed;
    f.n_pairs = g->n_m + g->n_nm, f.n_match = g->n_m, f.n_nonmatch = g->n_nm;
    f.auc = g->auc, f.auc_lo = g->auc_lo, f.auc_hi = g->auc_hi;
    f.eer = g->eer, f.eer_threshold = g->eer_thr, f.threshold = st->method->threshold;
    f.false_positive_rate = g->fpr, f.false_negative_rate = g->fnr;
    f.false_positives = g->fp, f.false_negatives = g->fn;
    f.queries_with_mate = g->n_queries, f.top1 = g->top1, f.top5 = g->top5, f.top10 = g->top10;
    f.log10_lr_at_threshold = ibex_slr_log10(g->slr, sgn(st) * st->method->threshold);
    f.cllr_leave_one_out = ibex_slr_get_cllr(g->slr);
    ibex_slr_get_bandwidths(g->slr, &f.bandwidth_match, &f.bandwidth_nonmatch);
    f.seconds_prepare = st->seconds_prepare, f.seconds_compare = st->seconds_compare;
    f.pairs_per_second = (double)(g->n_m + g->n_nm) / st->seconds_compare;
    f.threads = st->threads;
    *out = f;

    ibex_bench_calibration_figures c;
    memset(&c, 0, sizeof c);
    c.struct_size = sizeof c;
    const bench_calib_scheme *sc[2] = {&g->cal.lso, &g->cal.loso};
    ibex_bench_lr_scheme *to[2] = {&c.leave_sources_out, &c.leave_one_study_out};
    for (int k = 0; k < 2; k++)
        *to[k] = (ibex_bench_lr_scheme){sc[k]->n_used, sc[k]->cllr, sc[k]->cllr_min, sc[k]->n_same,
                                        sc[k]->misleading_same, sc[k]->n_diff, sc[k]->misleading_diff};
    c.has_leave_one_study_out = g->cal.has_loso;
    c.fit_ok = g->cal.all_ok;
    if (c.fit_ok) {
        c.fit_a = g->cal.all.a, c.fit_b = g->cal.all.b;
        c.fit_log10_lo = g->cal.all.log10_lo, c.fit_log10_hi = g->cal.all.log10_hi;
        c.fit_n_match = g->cal.all.n_match, c.fit_n_nonmatch = g->cal.all.n_nonmatch;
    }
    *cal = c;
}

ibex_status bench_report_write(const bench_study *st, size_t n_studies, const bench_report_opts *o,
                               char **json_out, ibex_bench_study_figures *pub,
                               ibex_bench_calibration_figures *cal, ibex_diag *diag)
{
    if (ibex__make_dirs(o->out_dir) != 0)
        return ibex__fail(diag, IBEX_ERR_IO, "", -1, "%s: cannot create the report folder: %s", o->out_dir,
                          strerror(errno));
    figures *fig = calloc(n_studies ? n_studies : 1, sizeof *fig);
    char (*names)[6][64] = calloc(n_studies ? n_studies : 1, sizeof *names);
    size_t plen = strlen(o->out_dir) + 80;
    char *path = malloc(plen);
    ibex_status rc = fig && names && path ? IBEX_OK : ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    for (size_t i = 0; i < n_studies && !rc; i++) rc = compute(&st[i], o, &fig[i], diag);
    for (size_t i = 0; i < n_studies && !rc; i++) rc = write_study_files(&st[i], &fig[i], names[i], o->out_dir, diag);
    run_info ri;
    run_info_get(&ri);
    if (!rc) {
        char *text = report_json(st, n_studies, fig, names, o, &ri);
        if (!text) rc = ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
        snprintf(path, plen, "%s/report.json", o->out_dir);
        if (!rc) {
            size_t tl = strlen(text);
            char *t2 = malloc(tl + 2);
            if (t2) {
                memcpy(t2, text, tl), t2[tl] = '\n', t2[tl + 1] = 0;
                rc = bench_write_text(path, t2, diag);
                free(t2);
            } else rc = ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
        }
        if (!rc && json_out) *json_out = text;
        else free(text);
    }
    if (!rc) {
        char *md = NULL;
        size_t mdlen = 0;
        FILE *f = open_memstream(&md, &mdlen);
        if (!f) rc = ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
        else {
            report_md(f, st, n_studies, fig, names, o, &ri);
            if (fclose(f) != 0) rc = ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
            snprintf(path, plen, "%s/report.md", o->out_dir);
            if (!rc) rc = bench_write_text(path, md, diag);
            free(md);
        }
    }
    for (size_t i = 0; i < n_studies && !rc && pub && cal; i++) public_figures(&st[i], &fig[i], &pub[i], &cal[i]);
    for (size_t i = 0; i < n_studies && fig; i++) figures_free(&fig[i]);
    free(fig), free(names), free(path);
    return rc;
}
