/* Compare two cartridge-case scans with libibex, as `ibex compare A B` does: read both X3P
 * files, preprocess them at their common spacing, run the Congruent Matching Cells method and
 * print the counts and the verdict.
 *
 *   cc compare_pair.c $(pkg-config --cflags --libs ibex) -o compare_pair
 *   ./compare_pair Fadul_1-1.x3p Fadul_1-2.x3p
 */
#include <stdio.h>
#include "ibex/ibex.h"

static int fail(ibex_status st, const ibex_diag *d)
{
    char msg[1200];
    fprintf(stderr, "compare_pair: %s\n", ibex_diag_format(d, st, msg, sizeof msg));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: compare_pair A.x3p B.x3p\n");
        return 2;
    }
    ibex_diag d;
    ibex_surface *raw[2] = {NULL, NULL}, *prep[2] = {NULL, NULL};
    ibex_cmc_plan *plan = NULL;
    ibex_cmc_result *res = NULL;
    ibex_status st = IBEX_OK;
    int rc = 1;

    for (int i = 0; i < 2 && !st; i++) st = ibex_surface_read(argv[1 + i], 0, &raw[i], &d);
    if (st) goto done;

    ibex_preprocess_opts po;
    ibex_preprocess_opts_init(&po);
    po.spacing = ibex_preprocess_pair_spacing(raw[0], raw[1], &po);
    for (int i = 0; i < 2 && !st; i++) st = ibex_preprocess(raw[i], &po, &prep[i], NULL, &d);
    if (st) goto done;

    ibex_cmc_opts co;
    ibex_cmc_opts_init(&co);
    if ((st = ibex_cmc_plan_create(&co, &plan, &d))) goto done;
    if ((st = ibex_cmc_plan_run(plan, prep[0], prep[1], &res, &d))) goto done;

    printf("cmc %u (A in B %u, B in A %u)  high_cmc %u  cells %u/%u  verdict %s\n", res->cmc,
           res->dir[0].cmc, res->dir[1].cmc, res->cmc_high, res->dir[0].cells_used,
           res->dir[1].cells_used, ibex_verdict_name(res->verdict));
    rc = 0;
done:
    if (st) rc = fail(st, &d);
    ibex_cmc_result_free(res);
    ibex_cmc_plan_free(plan);
    for (int i = 0; i < 2; i++) {
        ibex_surface_free(raw[i]);
        ibex_surface_free(prep[i]);
    }
    return rc;
}
