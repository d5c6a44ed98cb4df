/* Compare two cartridge-case scans with libibex, as `ibex compare A B` does: read both X3P
 * files and hand them to ibex_compare_cartridges (ibex/pair.h), which preprocesses them at
 * their common spacing and runs the Congruent Matching Cells method; print the counts, the
 * verdict and the likelihood ratio.
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
    ibex_surface *raw[2] = {NULL, NULL};
    ibex_pair_result *res = NULL;
    ibex_status st = IBEX_OK;
    int rc = 1;

    for (int i = 0; i < 2 && !st; i++) st = ibex_surface_read(argv[1 + i], 0, &raw[i], &d);
    if (st) goto done;

    /* The defaults are the method `ibex compare` runs; NULL options would do as well. */
    ibex_pair_opts o;
    ibex_pair_opts_init(&o);
    if ((st = ibex_compare_cartridges(raw[0], raw[1], &o, &res, &d))) goto done;

    const ibex_cmc_result *r = res->cmc;
    printf("cmc %u (A in B %u, B in A %u)  high_cmc %u  cells %u/%u  verdict %s\n", r->cmc,
           r->dir[0].cmc, r->dir[1].cmc, r->cmc_high, r->dir[0].cells_used,
           r->dir[1].cells_used, ibex_verdict_name(r->verdict));
    if (res->calibration)
        printf("log10 LR %.2f: %s (calibration %s)\n", res->log10_lr, res->lr_verbal,
               res->calibration->id);
    rc = 0;
done:
    if (st) rc = fail(st, &d);
    ibex_pair_result_free(res);
    for (int i = 0; i < 2; i++) ibex_surface_free(raw[i]);
    return rc;
}
