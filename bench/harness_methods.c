/* The comparison methods the benchmark harness knows. Add a comparator by adding one
 * entry to `methods` below; the first entry of a kind is that kind's default.
 *
 * Wiring a comparator takes three small functions, e.g. for a CMC API of the shape
 * ibex_cmc_prepare(surface, opts, &prep) / ibex_cmc_compare(prep_a, prep_b, &result):
 *
 *   static ibex_status cmc_prepare(const char *path, void **prep, void *ctx, ibex_diag *d)
 *   {   ibex_surface *s; ibex_status st = read_scan(path, &s, d); if (st) return st;
 *       st = ibex_cmc_prepare(s, ctx, (ibex_cmc_prep **)prep, d);
 *       ibex_surface_free(s); if (st) name_file(d, path); return st; }
 *   static void cmc_free(void *p) { ibex_cmc_prep_free(p); }
 *   static ibex_status cmc_compare(const void *a, const void *b, bench_pair_result *out,
 *                                  void *ctx, ibex_diag *d)
 *   {   ibex_cmc_result r; ibex_status st = ibex_cmc_compare(a, b, &r, d);
 *       if (!st) out->score = r.cmc_count, out->aux[0] = r.angle_deg; return st; }
 *
 * and the entry {"cmc", "cartridge", "...", "CMC count", 6, 1, {"angle_deg"},
 * cmc_prepare, cmc_free, cmc_compare, NULL, NULL} placed first. Methods whose API takes
 * two files can fill `compare` instead and leave the prepare trio NULL. */
#include <stdio.h>
#include <string.h>

#include <pthread.h>

#include "baseline_internal.h"
#include "bench_internal.h"
#include "ibex/bullet.h"
#include "ibex/compare.h"
#include "ibex/prealign.h"

/* Read one scan; name the file in the diag when a preprocessing step fails. */
static ibex_status read_scan(const char *path, ibex_surface **s, ibex_diag *diag)
{
    return ibex_surface_read(path, 0, s, diag);
}

static void name_file(ibex_diag *diag, const char *path)
{
    if (diag && !diag->file[0]) snprintf(diag->file, sizeof diag->file, "%s", path);
}

/* ---- cmc (cartridge cases): IBEX's congruent matching cells at the documented defaults ---- */
static ibex_cmc_plan *cmc_plan;
static ibex_status cmc_plan_status = IBEX_OK;
static pthread_once_t cmc_once = PTHREAD_ONCE_INIT;

/* One plan for the whole run: run on a const plan is re-entrant across pair threads. */
static void cmc_plan_init(void)
{
    ibex_cmc_opts o;
    ibex_cmc_opts_init(&o);
    cmc_plan_status = ibex_cmc_plan_create(&o, &cmc_plan, NULL);
}

static ibex_status cmc_prepare(const char *path, void **prep, void *ctx, ibex_diag *diag)
{
    (void)ctx;
    ibex_surface *s = NULL, *p = NULL;
    ibex_status st = read_scan(path, &s, diag);
    if (st) return st;
    ibex_preprocess_opts o;
    ibex_preprocess_opts_init(&o);
    st = ibex_preprocess(s, &o, &p, NULL, diag);
    ibex_surface_free(s);
    if (st) {
        name_file(diag, path);
        return st;
    }
    *prep = p;
    return IBEX_OK;
}
static void cmc_free(void *p) { ibex_surface_free(p); }
/* One CMC pair, plain or after the full-circle pre-registration (cmc-prealign, below);
 * aux[3] is the full-scan CCF, or the pre-registration angle. */
static ibex_status cmc_pair(const void *a, const void *b, int prealign, bench_pair_result *out, ibex_diag *diag)
{
    pthread_once(&cmc_once, cmc_plan_init);
    if (cmc_plan_status) return cmc_plan_status;
    ibex_cmc_result *r = NULL;
    ibex_prealign_result pre;
    ibex_status st = prealign ? ibex_cmc_plan_run_prealigned(cmc_plan, a, b, NULL, &r, &pre, diag)
                              : ibex_cmc_plan_run(cmc_plan, a, b, &r, diag);
    if (st) return st;
    out->score = r->cmc;
    out->aux[0] = r->cmc_high;
    out->aux[1] = r->score;
    out->aux[2] = r->theta;
    out->aux[3] = prealign ? pre.theta_found : r->full_ccf;
    ibex_cmc_result_free(r);
    return IBEX_OK;
}
static ibex_status cmc_compare(const void *a, const void *b, bench_pair_result *out, void *ctx,
                               ibex_diag *diag)
{
    (void)ctx;
    return cmc_pair(a, b, 0, out, diag);
}

/* ---- cmc-prealign: the same CMC after a full-circle pre-registration (ibex/prealign.h),
 * for casings scanned in any orientation; shares cmc's plan and preparation ---- */
static ibex_status cmcp_compare(const void *a, const void *b, bench_pair_result *out, void *ctx,
                                ibex_diag *diag)
{
    (void)ctx;
    return cmc_pair(a, b, 1, out, diag);
}

/* ---- baseline-ncc (cartridge cases) ---- */
static ibex_status ncc_prepare(const char *path, void **prep, void *ctx, ibex_diag *diag)
{
    (void)ctx;
    ibex_surface *s = NULL;
    ibex_status st = read_scan(path, &s, diag);
    if (st) return st;
    ibex__ncc_prep *p = NULL;
    st = ibex__ncc_prepare(s, &p, diag);
    ibex_surface_free(s);
    if (st) {
        name_file(diag, path);
        return st;
    }
    *prep = p;
    return IBEX_OK;
}
static void ncc_free(void *p) { ibex__ncc_free(p); }
static ibex_status ncc_compare(const void *a, const void *b, bench_pair_result *out, void *ctx,
                               ibex_diag *diag)
{
    (void)ctx;
    ibex__ncc_result r;
    ibex_status st = ibex__ncc_compare(a, b, &r, diag);
    if (st) return st;
    out->score = r.ncc;
    out->aux[0] = r.angle_deg;
    out->aux[1] = r.shift_x * 1e6;
    out->aux[2] = r.shift_y * 1e6;
    out->aux[3] = r.overlap;
    return IBEX_OK;
}

/* ---- baseline-ccf (bullet lands) ---- */
static ibex_status ccf_prepare(const char *path, void **prep, void *ctx, ibex_diag *diag)
{
    (void)ctx;
    ibex_surface *s = NULL;
    ibex_status st = read_scan(path, &s, diag);
    if (st) return st;
    ibex__profile *p = NULL;
    st = ibex__profile_prepare(s, &p, diag);
    ibex_surface_free(s);
    if (st) {
        name_file(diag, path);
        return st;
    }
    *prep = p;
    return IBEX_OK;
}
static void ccf_free(void *p) { ibex__profile_free(p); }
static ibex_status ccf_compare(const void *a, const void *b, bench_pair_result *out, void *ctx,
                               ibex_diag *diag)
{
    (void)ctx;
    ibex__ccf_result r;
    ibex_status st = ibex__ccf_compare(a, b, &r, diag);
    if (st) return st;
    out->score = r.ccf;
    out->aux[0] = r.lag * 1e6;
    out->aux[1] = r.overlap;
    return IBEX_OK;
}

/* ---- bullet lands: the bullet engine's land signatures and calibrated land score ---- */
static ibex_status land_prepare(const char *path, void **prep, void *ctx, ibex_diag *diag)
{
    (void)ctx;
    ibex_surface *s = NULL;
    ibex_status st = read_scan(path, &s, diag);
    if (st) return st;
    ibex_land_opts o;
    ibex_land_opts_init(&o);
    ibex_land_signature *sig = NULL;
    st = ibex_land_signature_create(s, &o, &sig, diag);
    ibex_surface_free(s);
    if (st) {
        name_file(diag, path);
        return st;
    }
    *prep = sig;
    return IBEX_OK;
}
static void land_free(void *p) { ibex_land_signature_free(p); }
static ibex_status land_compare(const void *a, const void *b, bench_pair_result *out, void *ctx,
                                ibex_diag *diag)
{
    (void)ctx;
    ibex_land_result r;
    ibex_status st = ibex_land_compare(a, b, &r, diag);
    if (st) return st;
    out->score = r.score;
    out->aux[0] = r.ccf;
    out->aux[1] = r.cms;
    out->aux[2] = r.lag_m * 1e6;
    out->aux[3] = r.overlap;
    return IBEX_OK;
}

/* Thresholds of the baselines: fixed by hand before any benchmark run, from what the
 * correlation of unrelated smooth textures rarely reaches; the reports give the whole
 * ROC, so the threshold only fixes the error-rate line. */
static const bench_method methods[] = {
    {"cmc", "cartridge",
     "congruent matching cells (Song 2013) of the cartridge engine (ibex/compare.h): 8x8 "
     "cells, -30..30 deg by 3, thresholds 20 px / 6 deg / CCF 0.5, both directions, count = "
     "the smaller direction",
     "CMC count", 6, 1, {"cmc_high", "cmc_score", "theta_deg", "full_ccf"},
     cmc_prepare, cmc_free, cmc_compare, NULL, NULL, "fadul",
     "preprocessing and cell settings were developed and checked on Fadul (thresholds from "
     "Song 2018)", 0, NULL},
    {"cmc-prealign", "cartridge",
     "the cmc method after a full-circle pre-registration (ibex/prealign.h: whole-surface "
     "masked NCC over a full turn, 6 deg at 50 um then 1 deg at 25 um; the target turned by "
     "it unless within 15 deg), for casings scanned in any orientation",
     "CMC count", 6, 1, {"cmc_high", "cmc_score", "theta_deg", "prealign_deg"},
     cmc_prepare, cmc_free, cmcp_compare, NULL, NULL, "fadul",
     "preprocessing and cell settings were developed and checked on Fadul", 0, NULL},
    {"baseline-ncc", "cartridge",
     "BASELINE: max masked areal NCC over translations and rotations (full turn in 6 deg "
     "steps at 50 um, refined in 1 deg steps at 25 um) of block-averaged, 0.25 mm Gaussian "
     "high-passed surfaces",
     "baseline max NCC", 0.40, 1, {"angle_deg", "shift_x_um", "shift_y_um", "overlap"},
     ncc_prepare, ncc_free, ncc_compare, NULL, NULL, NULL, NULL, 0, NULL},
    {"bullet-land", "bullet",
     "land-to-land score of the bullet engine (ibex/bullet.h): P(same land) from a logistic "
     "model on CCF, consecutive matching striae, share of striae matched and relative "
     "distance of aligned crosscut signatures",
     "land score P(same land)", IBEX_LAND_MATCH, 1, {"ccf", "cms", "lag_um", "overlap"},
     land_prepare, land_free, land_compare, NULL, NULL, "hamby44,hamby252,hamby44-small",
     "the land-score model was fitted on every land pair of Hamby 44 and Hamby 252 "
     "(bench/fit_land_model; Hamby 44 small holds the same scans) and the signature "
     "settings chosen on them", 0, NULL},
    {"bullet", "bullet",
     "bullet-to-bullet score of the bullet engine (ibex/bullet.h): lands grouped into bullets "
     "by file name, every land pairing scored, SAM (mean land score) at the best cyclic phase; "
     "same source = same barrel (firearm_id)",
     "bullet score (SAM at the best phase)", 0.5, 1,
     {"best_phase", "matching_lands", "runner_up_sam", "verdict_code"},
     NULL, bench_bullet_free, bench_bullet_compare, NULL, NULL, "hamby44,hamby252,hamby44-small",
     "signature and groove settings were chosen on Hamby 44 and Hamby 252; the land-score "
     "model is refitted for each study on the land pairs of the other studies with land-level "
     "truth, never on the study scored", 1, bench_bullet_prepare},
    {"baseline-ccf", "bullet",
     "BASELINE: max Pearson correlation over lags of land profiles averaged along the "
     "striae (2 um grid, 15% trimmed each side, form removed by a quadratic fit and a "
     "100 um Gaussian high-pass)",
     "baseline max CCF", 0.60, 1, {"lag_um", "overlap", NULL, NULL},
     ccf_prepare, ccf_free, ccf_compare, NULL, NULL, NULL, NULL, 0, NULL},
};

size_t bench_method_count(void) { return sizeof methods / sizeof methods[0]; }

const bench_method *bench_method_get(size_t i)
{
    return i < bench_method_count() ? &methods[i] : NULL;
}

const bench_method *bench_method_find(const char *name)
{
    for (size_t i = 0; i < bench_method_count(); i++)
        if (!strcmp(methods[i].name, name)) return &methods[i];
    return NULL;
}

const bench_method *bench_method_default(const char *kind)
{
    for (size_t i = 0; i < bench_method_count(); i++)
        if (!strcmp(methods[i].kind, kind)) return &methods[i];
    return NULL;
}

size_t ibex_bench_method_count(void) { return bench_method_count(); }

ibex_status ibex_bench_method_get(size_t i, ibex_bench_method_info *out)
{
    const bench_method *m = bench_method_get(i);
    if (!m || !out) return IBEX_ERR_ARG;
    *out = (ibex_bench_method_info){m->name, m->kind, m->description, m->score_name, m->threshold,
                                    m->higher_is_match};
    return IBEX_OK;
}
