/* Land-to-land comparison (aligned CCF, striae, distance, calibrated score) and
 * bullet-to-bullet comparison over all land pairings with the best cyclic phase chosen by
 * the sequence average maximum (SAM, Sensofar/CSAFE usage in Hare et al. 2017 and
 * Vanderplas et al. 2020). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bullet_internal.h"
#include "cmc_internal.h"
#include "ibex_internal.h"

const char *ibex_bullet_verdict_name(ibex_bullet_verdict v)
{
    switch (v) {
    case IBEX_BULLET_IDENTIFICATION: return "identification";
    case IBEX_BULLET_INCONCLUSIVE: return "inconclusive";
    case IBEX_BULLET_ELIMINATION: return "elimination";
    case IBEX_BULLET_UNSUITABLE: return "unsuitable";
    }
    return "inconclusive";
}

ibex_status ibex_land_compare(const ibex_land_signature *a, const ibex_land_signature *b,
                              ibex_land_result *res, ibex_diag *diag)
{
    if (!a || !b || !res || a->n < 2 || b->n < 2)
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "bad arguments for a land comparison");
    if (fabs(a->spacing - b->spacing) > 1e-9 * a->spacing)
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1,
                          "signatures have different spacings (%.4g um, %.4g um)",
                          a->spacing * 1e6, b->spacing * 1e6);
    ibex_land_result r;
    memset(&r, 0, sizeof r);
    size_t shorter = a->n < b->n ? a->n : b->n;
    ibex__ccf_best(a, b, shorter / 2, &r.ccf, &r.lag);
    long lo = r.lag > 0 ? r.lag : 0;
    long hi = (long)a->n < (long)b->n + r.lag ? (long)a->n : (long)b->n + r.lag;
    r.lag_m = r.lag * a->spacing;
    r.overlap = (double)(hi - lo) / (double)shorter;
    r.overlap_m = (hi - lo) * a->spacing;
    double ss = 0, sa = 0, sb = 0;
    size_t m = 0;
    for (long i = lo; i < hi; i++) {
        if (!a->valid[i] || !b->valid[i - r.lag]) continue;
        double x = a->sig[i], y = b->sig[i - r.lag], d = x - y;
        ss += d * d;
        sa += x * x;
        sb += y * y;
        m++;
    }
    r.distance = m ? sqrt(ss / m) : 0.0;
    /* Relative to the signatures' own RMS: striae amplitude differs between instruments,
     * ammunition and filters, the shape of the difference does not. */
    r.distance_rel = sa + sb > 0 ? sqrt(2 * ss / (sa + sb)) : 0.0;
    ibex__striae_match(a, b, r.lag, lo, hi, &r.matches, &r.mismatches, &r.cms);
    double mm = r.overlap_m * 1e3;
    r.matches_per_mm = mm > 0 ? r.matches / mm : 0;
    r.mismatches_per_mm = mm > 0 ? r.mismatches / mm : 0;
    /* Striae density per mm depends on the lateral resolution and noise of the scan; the
     * share of striae that find a partner does not. */
    r.match_share = r.matches + r.mismatches > 0
                        ? 2.0 * r.matches / (2.0 * r.matches + r.mismatches)
                        : 0.0;
    double f[IBEX_LAND_NFEAT];
    ibex_land_features(&r, f);
    r.score = ibex_land_model_score(f);
    *res = r;
    return IBEX_OK;
}

void ibex_bullet_result_free(ibex_bullet_result *r)
{
    if (!r) return;
    free(r->pairs);
    free(r->compared);
    free(r->sam);
    free(r->phase_pairs);
    free(r);
}

static size_t usable(const ibex_bullet *b)
{
    size_t k = 0;
    for (size_t i = 0; i < b->n_lands; i++) k += b->lands[i] != NULL;
    return k;
}

typedef struct pairing_ctx {
    const ibex_bullet *a, *b;
    size_t nb;
    ibex_bullet_result *r;
} pairing_ctx;

/* Land i of A against land j of B, k = i * nb + j. */
static void compare_pairing(size_t k, unsigned thread, void *vctx)
{
    (void)thread;
    const pairing_ctx *c = vctx;
    const ibex_land_signature *la = c->a->lands[k / c->nb], *lb = c->b->lands[k % c->nb];
    if (!la || !lb) return;
    if (ibex_land_compare(la, lb, &c->r->pairs[k], NULL) == IBEX_OK) c->r->compared[k] = 1;
}

ibex_status ibex_bullet_compare(const ibex_bullet *a, const ibex_bullet *b,
                                ibex_bullet_result **out, ibex_diag *diag)
{
    return ibex_bullet_compare_model(a, b, NULL, out, diag);
}

ibex_status ibex_bullet_compare_model(const ibex_bullet *a, const ibex_bullet *b,
                                      const ibex_land_model *model, ibex_bullet_result **out,
                                      ibex_diag *diag)
{
    if (!a || !b || !out || !a->n_lands || !b->n_lands || !a->lands || !b->lands)
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "a bullet needs at least one land position");
    double sp = NAN;
    for (int k = 0; k < 2; k++) {
        const ibex_bullet *x = k ? b : a;
        for (size_t i = 0; i < x->n_lands; i++) {
            if (!x->lands[i]) continue;
            if (isnan(sp)) sp = x->lands[i]->spacing;
            else if (fabs(x->lands[i]->spacing - sp) > 1e-9 * sp)
                return ibex__fail(diag, IBEX_ERR_ARG, "", -1,
                                  "land signatures of different spacings");
        }
    }
    size_t na = a->n_lands, nb = b->n_lands, n = na > nb ? na : nb;
    ibex_bullet_result *r = calloc(1, sizeof *r);
    if (!r) return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    r->na = na;
    r->nb = nb;
    r->n_phases = n;
    r->pairs = calloc(na * nb, sizeof *r->pairs);
    r->compared = calloc(na * nb, 1);
    r->sam = calloc(n, sizeof *r->sam);
    r->phase_pairs = calloc(n, sizeof *r->phase_pairs);
    if (!r->pairs || !r->compared || !r->sam || !r->phase_pairs) {
        ibex_bullet_result_free(r);
        return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    }
    /* Every pairing; each writes its own slot, so results do not depend on the thread count. */
    pairing_ctx pc = {a, b, nb, r};
    ibex__parallel_for(na * nb, 0, compare_pairing, &pc);
    for (size_t i = 0; i < na * nb; i++) {
        if (!r->compared[i]) {
            r->pairs[i].score = NAN;
        } else if (model) {
            double f[IBEX_LAND_NFEAT];
            ibex_land_features(&r->pairs[i], f);
            r->pairs[i].score = ibex_land_model_apply(model, f);
        }
    }
    double best = -INFINITY, second = -INFINITY;
    r->best_phase = 0;
    for (size_t ph = 0; ph < n; ph++) {
        double s = 0;
        size_t c = 0;
        for (size_t i = 0; i < na; i++) {
            size_t j = (i + ph) % n;
            if (j >= nb || !r->compared[i * nb + j]) continue;
            s += r->pairs[i * nb + j].score;
            c++;
        }
        r->sam[ph] = c ? s / c : NAN;
        r->phase_pairs[ph] = c;
        if (!c) continue;
        if (r->sam[ph] > best) {
            second = best;
            best = r->sam[ph];
            r->best_phase = ph;
        } else if (r->sam[ph] > second) {
            second = r->sam[ph];
        }
    }
    r->score = isfinite(best) ? best : NAN;
    r->runner_up = isfinite(second) ? second : NAN;
    r->n_compared = r->phase_pairs[r->best_phase];
    r->n_matching = 0;
    size_t any_match = 0;
    for (size_t i = 0; i < na; i++) {
        size_t j = (i + r->best_phase) % n;
        if (j < nb && r->compared[i * nb + j] && r->pairs[i * nb + j].score >= IBEX_LAND_MATCH)
            r->n_matching++;
    }
    for (size_t i = 0; i < na * nb; i++)
        if (r->compared[i] && r->pairs[i].score >= IBEX_LAND_MATCH) any_match++;
    size_t ua = usable(a), ub = usable(b);
    double margin = isfinite(r->runner_up) ? r->score - r->runner_up : r->score;
    if (!ua || !ub) {
        r->verdict = IBEX_BULLET_UNSUITABLE;
        snprintf(r->reason, sizeof r->reason, "bullet %s has no usable land", ua ? "B" : "A");
    } else if (ua < 2 || ub < 2) {
        r->verdict = IBEX_BULLET_INCONCLUSIVE;
        snprintf(r->reason, sizeof r->reason,
                 "a bullet has a single usable land: no phase can be established");
    } else if (r->n_matching >= 2 && r->score >= 0.5 && margin >= 0.25) {
        r->verdict = IBEX_BULLET_IDENTIFICATION;
        snprintf(r->reason, sizeof r->reason,
                 "%zu of %zu lands match at phase %zu (SAM %.2f, next phase %.2f)",
                 r->n_matching, r->n_compared, r->best_phase, r->score, r->runner_up);
    } else if (any_match == 0) {
        r->verdict = IBEX_BULLET_ELIMINATION;
        snprintf(r->reason, sizeof r->reason,
                 "no land pair in any phase reaches a land score of %.1f", IBEX_LAND_MATCH);
    } else {
        r->verdict = IBEX_BULLET_INCONCLUSIVE;
        snprintf(r->reason, sizeof r->reason,
                 "%zu of %zu lands match at the best phase %zu (SAM %.2f, next %.2f)",
                 r->n_matching, r->n_compared, r->best_phase, r->score, r->runner_up);
    }
    *out = r;
    return IBEX_OK;
}
