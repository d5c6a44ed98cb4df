/* Full-circle pre-registration for CMC (method in include/ibex/prealign.h). The rotation
 * search is the masked areal NCC of baseline_ncc.c; this file turns the target by what it
 * finds and maps CMC's registration back to the original target. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "baseline_internal.h"
#include "cmc_internal.h"
#include "ibex/prealign.h"
#include "ibex_internal.h"

/* The coarse level (50 um) ranks rotations poorly: on Fadul known matches its best angle
 * was sometimes the 180-degree twin of a line pattern, while the true angle, among its next
 * peaks, scored far higher once refined at 25 um (e.g. Fadul 10-1 / E: 0.21 at 187 deg
 * against 0.64 at 4 deg). So the best coarse angles at least 30 deg apart are all refined
 * and the best refined one wins. */
#define PREALIGN_CANDIDATES 4
#define PREALIGN_SEPARATION 30.0

void ibex_prealign_opts_init(ibex_prealign_opts *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->snap_deg = 15;
}

/* Degrees into (-180, 180]. */
static double wrap(double t)
{
    t = fmod(t, 360);
    if (t > 180) t -= 360;
    if (t <= -180) t += 360;
    return t;
}

ibex_status ibex_prealign_run(const ibex_surface *a, const ibex_surface *b,
                              const ibex_prealign_opts *o, ibex_prealign_result *out,
                              ibex_diag *diag)
{
    ibex_prealign_opts d;
    ibex_prealign_opts_init(&d);
    if (!ibex__opts_merge(&d, sizeof d, o)) return ibex__opts_refused(diag, "ibex_prealign_opts");
    o = &d;
    if (!a || !b || !out || !a->z || !a->valid || !b->z || !b->valid)
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "missing surface or output");
    if (!isfinite(o->snap_deg)) return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "bad snap angle");
    if (fabs(a->dx - b->dx) > 0.01 * a->dx || fabs(a->dy - b->dy) > 0.01 * a->dy)
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1,
                          "spacings differ (%.4g and %.4g um); preprocess both to one spacing",
                          a->dx * 1e6, b->dx * 1e6);
    double t0 = ibex__now();
    ibex__ncc_prep *pa = NULL, *pb = NULL;
    ibex__ncc_result c[PREALIGN_CANDIDATES];
    size_t nc = 0;
    ibex_status st = ibex__ncc_prepare(a, &pa, diag);
    if (st) {
        if (diag) snprintf(diag->file, sizeof diag->file, "A");
        return st;
    }
    if ((st = ibex__ncc_prepare(b, &pb, diag))) {
        if (diag) snprintf(diag->file, sizeof diag->file, "B");
        ibex__ncc_free(pa);
        return st;
    }
    st = ibex__ncc_candidates(pa, pb, PREALIGN_CANDIDATES, PREALIGN_SEPARATION, c, &nc, diag);
    ibex__ncc_free(pa);
    ibex__ncc_free(pb);
    if (st) return st;
    /* the candidate with the best NCC at the fine level; the first on ties */
    ibex__ncc_result r = c[0];
    for (size_t i = 1; i < nc; i++)
        if (c[i].ncc > r.ncc) r = c[i];
    ibex_prealign_result res;
    res.found = 1;
    res.theta_found = wrap(r.angle_deg);
    res.theta = fabs(res.theta_found) <= o->snap_deg ? 0 : res.theta_found;
    res.ncc = r.ncc;
    res.overlap = r.overlap;
    res.seconds = ibex__now() - t0;
    *out = res;
    return IBEX_OK;
}

ibex_status ibex_cmc_plan_run_prealigned(const ibex_cmc_plan *p, const ibex_surface *a,
                                         const ibex_surface *b, const ibex_prealign_opts *o,
                                         ibex_cmc_result **out, ibex_prealign_result *pre,
                                         ibex_diag *diag)
{
    if (!p || !out) return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "no plan or output");
    ibex_prealign_result pr;
    ibex_status st = ibex_prealign_run(a, b, o, &pr, diag);
    if (st == IBEX_ERR_FORMAT || st == IBEX_ERR_UNSUPPORTED)
        memset(&pr, 0, sizeof pr); /* nothing to search on: CMC judges the surfaces as they are */
    else if (st)
        return st;
    if (pr.theta == 0) {
        st = ibex_cmc_plan_run(p, a, b, out, diag);
        if (!st && pre) *pre = pr;
        return st;
    }
    /* b turned about its centre by theta0 on its own grid, exactly as CMC turns targets,
     * so CMC's rotation about the same centre composes by adding angles; shifts and the
     * grid size are unchanged. */
    ibex_surface *bt = NULL;
    if ((st = ibex_surface_create(b->nx, b->ny, b->dx, b->dy, &bt)))
        return ibex__fail(diag, st, "", -1, "cannot allocate the turned surface");
    bt->zkind = b->zkind;
    ibex__rotate(b->z, b->valid, b->nx, b->ny, pr.theta, bt->z, bt->valid);
    ibex_cmc_result *r = NULL;
    st = ibex_cmc_plan_run(p, a, bt, &r, diag);
    ibex_surface_free(bt);
    if (st) return st;
    double t = pr.theta;
    r->theta = wrap(r->theta + t);
    r->dir[0].theta = wrap(r->dir[0].theta + t);
    r->dir[0].high_theta = wrap(r->dir[0].high_theta + t);
    r->dir[1].theta = wrap(r->dir[1].theta - t);
    r->dir[1].high_theta = wrap(r->dir[1].high_theta - t);
    for (size_t i = 0; i < r->n_cells; i++) {
        ibex_cmc_cell *c = &r->cells[i];
        double s = c->direction ? -t : t;
        if (c->used) c->theta = wrap(c->theta + s);
        if (c->cmc_high) c->high_theta = wrap(c->high_theta + s);
    }
    *out = r;
    if (pre) *pre = pr;
    return IBEX_OK;
}
