/* Out-of-sample calibrated LRs for the accuracy report (ibex/calibration.h). Each pair gets
 * the LR of a calibration fitted without any pair that involves either of its sources
 * (leave-sources-out: for casings and bullets the source is the firearm or barrel), and,
 * when the study spans several sets, of one fitted on the other sets only
 * (leave-one-study-out). The fit on every pair is reported as the candidate for a shipped
 * calibration: it is in-sample, and said so. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench_internal.h"

typedef struct pair_row {
    double s;
    int y;
    size_t ka, kb, set;
} pair_row;

static size_t intern(const char **names, size_t *n, const char *s)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp(names[i], s)) return i;
    names[*n] = s;
    return (*n)++;
}

/* Fit on the rows use[] marks; 0 when both classes are present. */
static int fit_subset(const pair_row *r, size_t n, const unsigned char *use, double *s, int *y,
                      ibex_calibration *c)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (use[i]) s[m] = r[i].s, y[m] = r[i].y, m++;
    return ibex_calibration_fit(s, y, m, NULL, NULL, c, NULL) != IBEX_OK;
}

static void scheme_figures(bench_calib_scheme *sc, const pair_row *r, size_t n)
{
    int *y = malloc(n * sizeof *y);
    double *l = malloc(n * sizeof *l);
    size_t m = 0;
    sc->misleading_same = sc->misleading_diff = sc->n_same = sc->n_diff = 0;
    for (size_t i = 0; y && l && i < n; i++) {
        if (isnan(sc->log10_lr[i])) continue;
        l[m] = sc->log10_lr[i];
        y[m] = r[i].y;
        if (r[i].y) sc->n_same++, sc->misleading_same += l[m] < 0;
        else sc->n_diff++, sc->misleading_diff += l[m] > 0;
        m++;
    }
    sc->n_used = m;
    sc->cllr = y && l ? ibex_cllr(l, y, m) : NAN;
    sc->cllr_min = y && l ? ibex_cllr_min(l, y, m) : NAN;
    free(y);
    free(l);
}

ibex_status bench_calib_compute(const bench_study *st, bench_calib *c, ibex_diag *diag)
{
    memset(c, 0, sizeof *c);
    size_t n = st->n, np = 0, nk = 0, ns = 0;
    double sg = st->method->higher_is_match ? 1 : -1;
    pair_row *r = malloc((n * (n - 1) / 2 + 1) * sizeof *r);
    const char **keys = malloc((n + 1) * sizeof *keys), **sets = malloc((n + 1) * sizeof *sets);
    size_t *ki = malloc((n + 1) * sizeof *ki), *si = malloc((n + 1) * sizeof *si);
    if (!r || !keys || !sets || !ki || !si) goto nomem;
    for (size_t i = 0; i < n; i++) {
        ki[i] = intern(keys, &nk, st->scan[i]->key);
        si[i] = intern(sets, &ns, st->scan[i]->set);
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            double s = st->score[i * n + j];
            if (isnan(s)) continue;
            r[np++] = (pair_row){sg * s, ki[i] == ki[j], ki[i], ki[j], si[i]};
        }
    c->n = np;
    c->same = calloc(np + 1, sizeof *c->same);
    c->score = calloc(np + 1, sizeof *c->score);
    c->lso.log10_lr = malloc((np + 1) * sizeof(double));
    c->loso.log10_lr = malloc((np + 1) * sizeof(double));
    double *ws = malloc((np + 1) * sizeof *ws);
    int *wy = malloc((np + 1) * sizeof *wy);
    unsigned char *use = malloc(np + 1);
    /* cache: one fit per unordered pair of sources */
    ibex_calibration *fit = malloc((nk * nk + 1) * sizeof *fit);
    signed char *have = calloc(nk * nk + 1, 1);
    if (!c->same || !c->score || !c->lso.log10_lr || !c->loso.log10_lr || !ws || !wy || !use ||
        !fit || !have) {
        free(ws), free(wy), free(use), free(fit), free(have);
        goto nomem;
    }
    for (size_t i = 0; i < np; i++) c->same[i] = r[i].y, c->score[i] = r[i].s;
    ibex_calibration all;
    memset(&all, 0, sizeof all);
    c->all_ok = ibex_calibration_fit(c->score, c->same, np, NULL, st->method->score_name, &all,
                                     NULL) == IBEX_OK;
    c->all = all;
    for (size_t i = 0; i < np; i++) {
        size_t a = r[i].ka < r[i].kb ? r[i].ka : r[i].kb, b = r[i].ka ^ r[i].kb ^ a;
        size_t k = a * nk + b;
        if (!have[k]) {
            for (size_t q = 0; q < np; q++)
                use[q] = r[q].ka != a && r[q].kb != a && r[q].ka != b && r[q].kb != b;
            have[k] = fit_subset(r, np, use, ws, wy, &fit[k]) ? -1 : 1;
        }
        c->lso.log10_lr[i] = have[k] > 0 ? ibex_calibration_log10_lr(&fit[k], r[i].s) : NAN;
    }
    c->has_loso = ns > 1;
    for (size_t s = 0; s < ns; s++) {
        ibex_calibration cs;
        for (size_t q = 0; q < np; q++) use[q] = r[q].set != s;
        int bad = !c->has_loso || fit_subset(r, np, use, ws, wy, &cs);
        for (size_t i = 0; i < np; i++)
            if (r[i].set == s) c->loso.log10_lr[i] = bad ? NAN : ibex_calibration_log10_lr(&cs, r[i].s);
    }
    scheme_figures(&c->lso, r, np);
    scheme_figures(&c->loso, r, np);
    free(ws), free(wy), free(use), free(fit), free(have);
    free(r), free(keys), free(sets), free(ki), free(si);
    return IBEX_OK;
nomem:
    free(r), free(keys), free(sets), free(ki), free(si);
    bench_calib_free(c);
    return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
}

void bench_calib_free(bench_calib *c)
{
    free(c->same);
    free(c->score);
    free(c->lso.log10_lr);
    free(c->loso.log10_lr);
    memset(c, 0, sizeof *c);
}

static json_t *jnum_(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *scheme_json(const bench_calib_scheme *s, const char *what)
{
    return json_pack("{s:s, s:I, s:o, s:o, s:o, s:I, s:I, s:I, s:I}", "scheme", what, "pairs",
                     (json_int_t)s->n_used, "cllr", jnum_(s->cllr), "cllr_min", jnum_(s->cllr_min),
                     "calibration_loss", jnum_(s->cllr - s->cllr_min), "same_source",
                     (json_int_t)s->n_same, "same_source_lr_below_1", (json_int_t)s->misleading_same,
                     "different_source", (json_int_t)s->n_diff, "different_source_lr_above_1",
                     (json_int_t)s->misleading_diff);
}

json_t *bench_calib_json(const bench_calib *c)
{
    json_t *j = json_object();
    json_object_set_new(j, "method", json_string(
        "logistic regression of the score with both classes weighted equally and one misleading "
        "pseudo-pair per class; log10 LR bounded by ELUB (Vergeer et al. 2016); Cllr "
        "(Brummer and du Preez 2006), Cllr_min after PAV"));
    json_object_set_new(j, "leave_sources_out",
                        scheme_json(&c->lso, "each pair's LR from a fit without any pair of "
                                             "either of its sources (out-of-sample)"));
    json_object_set_new(j, "leave_one_study_out",
                        c->has_loso ? scheme_json(&c->loso, "each pair's LR from a fit on the "
                                                            "other sets only (out-of-study)")
                                    : json_null());
    if (c->all_ok)
        json_object_set_new(j, "calibration_fit",
                            json_pack("{s:s, s:f, s:f, s:f, s:f, s:I, s:I, s:s}", "score",
                                      c->all.score, "a", c->all.a, "b", c->all.b, "log10_lo",
                                      c->all.log10_lo, "log10_hi", c->all.log10_hi, "n_match",
                                      (json_int_t)c->all.n_match, "n_nonmatch",
                                      (json_int_t)c->all.n_nonmatch, "note",
                                      "fitted on every pair of this study: in-sample, the "
                                      "candidate for a shipped calibration"));
    return j;
}

void bench_calib_md(FILE *f, const bench_calib *c, const char *ece, const char *tippett)
{
    const bench_calib_scheme *s[2] = {&c->lso, &c->loso};
    const char *name[2] = {"leave sources out", "leave one study out"};
    fprintf(f, "Calibrated likelihood ratios (out-of-sample; docs/reference/calibration.md):\n\n");
    fprintf(f, "| scheme | pairs | Cllr | Cllr_min | calibration loss | same-source LR < 1 | "
               "different-source LR > 1 |\n|---|---|---|---|---|---|---|\n");
    for (int k = 0; k < 2; k++) {
        if (k == 1 && !c->has_loso) continue;
        if (!s[k]->n_used || !isfinite(s[k]->cllr)) {
            fprintf(f, "| %s | %zu | n/a: too few sources to leave some out | | | | |\n", name[k],
                    s[k]->n_used);
            continue;
        }
        fprintf(f, "| %s | %zu | %.3f | %.3f | %.3f | %zu of %zu | %zu of %zu |\n", name[k],
                s[k]->n_used, s[k]->cllr, s[k]->cllr_min, s[k]->cllr - s[k]->cllr_min,
                s[k]->misleading_same, s[k]->n_same, s[k]->misleading_diff, s[k]->n_diff);
    }
    if (c->all_ok)
        fprintf(f, "\nFit on every pair (in-sample; candidate for a shipped calibration): ln LR = "
                   "%.4g + %.4g score, log10 LR within [%.2f, %.2f] (ELUB).\n",
                c->all.a, c->all.b, c->all.log10_lo, c->all.log10_hi);
    if (ece) fprintf(f, "\n![ECE plot](%s)\n\n![Tippett plot](%s)\n\n", ece, tippett);
    else fprintf(f, "\n%s: ECE and Tippett plots.\n\n", NOT_DRAWN);
}

int bench_calib_plots(const bench_study *st, const bench_calib *c, const char *ece_path,
                      const char *tippett_path)
{
    size_t n = c->n, m = 0;
    double *l = malloc((n + 1) * sizeof *l);
    int *y = malloc((n + 1) * sizeof *y);
    enum { NP = 121 };
    double px[NP], pe[NP], pn[NP];
    if (!l || !y) return free(l), free(y), 1;
    for (size_t i = 0; i < n; i++)
        if (!isnan(c->lso.log10_lr[i])) l[m] = c->lso.log10_lr[i], y[m] = c->same[i], m++;
    double ymax = 0;
    for (int k = 0; k < NP; k++) {
        px[k] = -3 + 6.0 * k / (NP - 1);
        pe[k] = ibex_ece(l, y, m, px[k]);
        double o = pow(10, px[k]), p1 = o / (1 + o);
        pn[k] = -(p1 * log2(p1) + (1 - p1) * log2(1 - p1)); /* LR = 1 always */
        if (isfinite(pe[k]) && pe[k] > ymax) ymax = pe[k];
        if (pn[k] > ymax) ymax = pn[k];
    }
    char title[256], lab[128];
    const char *none = m ? "" : " (no out-of-sample LR: too few sources)";
    snprintf(title, sizeof title, "%s on %s: empirical cross-entropy%s", st->method->name,
             st->sets, none);
    bench_plot *p = bench_plot_create(PLOT_W_CAL, PLOT_H_CAL, title, "prior log10 odds",
                                      "empirical cross-entropy (bits)", -3, 3, 0, ymax * 1.05 + 1e-9);
    if (!p) return free(l), free(y), 1;
    snprintf(lab, sizeof lab, "leave-sources-out LRs, Cllr %.3f (Cllr_min %.3f)", c->lso.cllr,
             c->lso.cllr_min);
    bench_plot_line(p, px, pe, NP, 0, 2.5, 0, lab);
    bench_plot_line(p, px, pn, NP, 7, 1, 1, "neutral (LR = 1)");
    bench_plot_vline(p, 0, 3, NULL);
    bench_plot_legend(p, 1);
    int rc = bench_plot_write(p, ece_path);
    /* Tippett: share of LRs >= x, per class. */
    double lo = 0, hi = 0;
    for (size_t i = 0; i < m; i++) lo = fmin(lo, l[i]), hi = fmax(hi, l[i]);
    lo -= 0.5, hi += 0.5;
    double tx[NP], ts[NP], td[NP];
    for (int k = 0; k < NP; k++) {
        tx[k] = lo + (hi - lo) * k / (NP - 1);
        size_t a = 0, b = 0, na = 0, nb = 0;
        for (size_t i = 0; i < m; i++) {
            if (y[i]) na++, a += l[i] >= tx[k];
            else nb++, b += l[i] >= tx[k];
        }
        ts[k] = na ? (double)a / na : NAN;
        td[k] = nb ? (double)b / nb : NAN;
    }
    snprintf(title, sizeof title, "%s on %s: Tippett plot (leave sources out)%s",
             st->method->name, st->sets, none);
    p = bench_plot_create(PLOT_W_CAL, PLOT_H_CAL, title, "log10 LR",
                          "proportion of pairs with log10 LR >= x", lo, hi, 0, 1.0001);
    if (!p) return free(l), free(y), 1;
    bench_plot_steps(p, tx, ts, NP, 0, "same source");
    bench_plot_steps(p, tx, td, NP, 1, "different sources");
    bench_plot_vline(p, 0, 7, NULL);
    bench_plot_legend(p, 1);
    rc |= bench_plot_write(p, tippett_path);
    free(l);
    free(y);
    return rc;
}
