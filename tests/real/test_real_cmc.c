/* CMC on real scans (suite real): Fadul 1-1 vs 1-2 (same slide) is an identification with
 * counts near cmcR's published 18 / 17 at 20 px / 6 deg / 0.5, and Fadul 1-1 vs 10-1
 * (different slides) is not. Skips (77) without the data directory. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "check.h"
#include "ibex/compare.h"
#include "ibex/io.h"

static ibex_surface *load(const char *dir, const char *name)
{
    char p[2048];
    snprintf(p, sizeof p, "%s/cartridge/fadul/%s", dir, name);
    ibex_surface *raw = NULL, *s = NULL;
    ibex_diag d;
    if (ibex_surface_read(p, 0, &raw, &d)) {
        fprintf(stderr, "%s: %s\n", p, d.message);
        return NULL;
    }
    ibex_preprocess_info info;
    CHECK(ibex_preprocess(raw, NULL, &s, &info, &d) == IBEX_OK);
    CHECK_MSG(info.already_processed, "%s: the Fadul scans are processed already", name);
    ibex_surface_free(raw);
    return s;
}

int main(void)
{
    const char *dir = getenv("IBEX_DATA");
    if (!dir) dir = getenv("IBEX_DATA_DEFAULT");
    struct stat st;
    char probe[2048];
    snprintf(probe, sizeof probe, "%s/cartridge/fadul/Fadul_1-1.x3p", dir ? dir : "");
    if (!dir || stat(probe, &st) != 0) return check_skip("Fadul scans not found (set IBEX_DATA)");
    ibex_surface *a = load(dir, "Fadul_1-1.x3p"), *b = load(dir, "Fadul_1-2.x3p"),
                 *c = load(dir, "Fadul_10-1.x3p");
    CHECK(a && b && c);
    if (!a || !b || !c) return check_exit();
    ibex_cmc_plan *p;
    CHECK(ibex_cmc_plan_create(NULL, &p, NULL) == IBEX_OK);
    ibex_cmc_result *r = NULL;
    CHECK(ibex_cmc_plan_run(p, a, b, &r, NULL) == IBEX_OK);
    if (r) {
        fprintf(stderr, "1-1 vs 1-2: cmc %u/%u high %u/%u theta %g dx %g dy %g %s\n",
                r->dir[0].cmc, r->dir[1].cmc, r->dir[0].cmc_high, r->dir[1].cmc_high, r->theta,
                r->dx, r->dy, ibex_verdict_name(r->verdict));
        CHECK(r->verdict == IBEX_VERDICT_IDENTIFICATION);
        /* cmcR: 18 and 17 CMCs; IBEX's masked NCC finds a few more congruent cells */
        CHECK(r->dir[0].cmc >= 12 && r->dir[0].cmc <= 30 && r->dir[1].cmc >= 12 && r->dir[1].cmc <= 30);
    }
    ibex_cmc_result_free(r);
    r = NULL;
    CHECK(ibex_cmc_plan_run(p, a, c, &r, NULL) == IBEX_OK);
    if (r) {
        fprintf(stderr, "1-1 vs 10-1: cmc %u/%u high %u/%u %s\n", r->dir[0].cmc, r->dir[1].cmc,
                r->dir[0].cmc_high, r->dir[1].cmc_high, ibex_verdict_name(r->verdict));
        CHECK(r->verdict != IBEX_VERDICT_IDENTIFICATION && r->cmc < 6);
    }
    ibex_cmc_result_free(r);
    ibex_cmc_plan_free(p);
    ibex_surface_free(a);
    ibex_surface_free(b);
    ibex_surface_free(c);
    return check_exit();
}
