/* ibex_compare_cartridges: the cartridge-case comparison of `ibex compare A B` as one call,
 * so the command, the Python package and the examples run the same sequence. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ibex/pair.h"
#include "ibex_internal.h"

void ibex_pair_opts_init(ibex_pair_opts *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
}

void ibex_pair_result_free(ibex_pair_result *r)
{
    if (!r) return;
    for (int k = 0; k < 2; k++) {
        ibex_surface_free(r->prepared[k]);
        free(r->info[k]);
    }
    ibex_cmc_result_free(r->cmc);
    free(r->prealign);
    free(r);
}

/* The diag names the input at fault as "A" or "B" whatever the step wrote there, so the
 * caller can put its own name for it. */
static ibex_status blame(ibex_diag *d, ibex_status st, const char *who)
{
    if (d) snprintf(d->file, sizeof d->file, "%s", who);
    return st;
}

static ibex_status prepare_both(const ibex_surface *a, const ibex_surface *b,
                                const ibex_preprocess_opts *po, ibex_pair_result *r, ibex_diag *d)
{
    ibex_preprocess_opts p = *po;
    r->spacing = p.spacing = ibex_preprocess_pair_spacing(a, b, po);
    const ibex_surface *raw[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        r->info[k] = calloc(1, sizeof *r->info[k]);
        if (!r->info[k]) return ibex__fail(d, IBEX_ERR_NOMEM, "", -1, "out of memory");
        ibex_status st = ibex_preprocess(raw[k], &p, &r->prepared[k], r->info[k], d);
        if (st) return blame(d, st, k ? "B" : "A");
    }
    return IBEX_OK;
}

static ibex_status run_cmc(const ibex_cmc_opts *co, int prealign, const ibex_prealign_opts *pa,
                           ibex_pair_result *r, ibex_diag *d)
{
    ibex_cmc_plan *plan = NULL;
    ibex_status st = ibex_cmc_plan_create(co, &plan, d);
    if (st) return st;
    r->simd = ibex_cmc_plan_simd(plan);
    if (prealign) {
        r->prealign = calloc(1, sizeof *r->prealign);
        st = r->prealign ? ibex_cmc_plan_run_prealigned(plan, r->prepared[0], r->prepared[1], pa,
                                                        &r->cmc, r->prealign, d)
                         : ibex__fail(d, IBEX_ERR_NOMEM, "", -1, "out of memory");
    } else {
        st = ibex_cmc_plan_run(plan, r->prepared[0], r->prepared[1], &r->cmc, d);
    }
    ibex_cmc_plan_free(plan);
    return st;
}

ibex_status ibex_compare_cartridges(const ibex_surface *a_raw, const ibex_surface *b_raw,
                                    const ibex_pair_opts *o, ibex_pair_result **out,
                                    ibex_diag *diag)
{
    ibex_pair_opts po;
    ibex_pair_opts_init(&po);
    if (!ibex__opts_merge(&po, sizeof po, o)) return ibex__opts_refused(diag, "ibex_pair_opts");
    ibex_preprocess_opts pp;
    ibex_preprocess_opts_init(&pp);
    if (!ibex__opts_merge(&pp, sizeof pp, po.preprocess))
        return ibex__opts_refused(diag, "ibex_preprocess_opts");
    ibex_cmc_opts co;
    ibex_cmc_opts_init(&co);
    if (!ibex__opts_merge(&co, sizeof co, po.cmc)) return ibex__opts_refused(diag, "ibex_cmc_opts");
    if (!a_raw || !b_raw || !out)
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "missing surface or output");
    if (a_raw->zkind != b_raw->zkind)
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1,
                          "cannot compare a 3D topography with a 2D image");
    ibex_pair_result *r = calloc(1, sizeof *r);
    if (!r) return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    r->log10_lr = NAN;
    double t0 = ibex__now();
    ibex_status st = prepare_both(a_raw, b_raw, &pp, r, diag);
    double t1 = ibex__now();
    if (!st) st = run_cmc(&co, po.prealign != 0, po.prealign_opts, r, diag);
    r->t_preprocess = t1 - t0;
    r->t_compare = ibex__now() - t1;
    if (st) {
        ibex_pair_result_free(r);
        return st;
    }
    /* A count means what the calibration says only for the method it was fitted on. */
    r->calibration = ibex_calibration_shipped_cmc(&co, po.prealign != 0);
    if (r->calibration) {
        r->log10_lr = ibex_calibration_log10_lr(r->calibration, r->cmc->cmc);
        r->lr_verbal = ibex_lr_verbal(r->log10_lr);
    }
    *out = r;
    return IBEX_OK;
}
