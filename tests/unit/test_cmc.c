/* CMC on analytic surfaces: a surface against itself (CCF 1, every cell congruent), against
 * a rotated and shifted copy of itself evaluated from the same formula (shift recovered
 * exactly, angle within the grid step), 1 vs 2 threads identical, SIMD vs scalar; the High-CMC
 * angle tests (one peak, at the consensus angle, opposite in the two directions) on each. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "wave_fixture.h"
#include "ibex/experimental.h"
#include "ibex/compare.h"

static ibex_cmc_result *run(const ibex_cmc_opts *o, const ibex_surface *a, const ibex_surface *b)
{
    ibex_cmc_plan *p;
    ibex_cmc_result *r = NULL;
    ibex_diag d;
    CHECK(ibex_cmc_plan_create(o, &p, &d) == IBEX_OK);
    ibex_status st = ibex_cmc_plan_run(p, a, b, &r, &d);
    CHECK_MSG(st == IBEX_OK, "%s", d.message);
    ibex_cmc_plan_free(p);
    /* A direction's High-CMC stands only when its peak is at the original rule's consensus
     * angle and the two directions' peaks are opposite; otherwise it counts nothing. */
    for (unsigned d = 0; r && d < 2; d++) {
        const ibex_cmc_direction *x = &r->dir[d], *y = &r->dir[1 - d];
        if (x->high_pass)
            CHECK_MSG(fabs(x->high_theta - x->theta) <= o->t_theta + 1e-9 &&
                          fabs(x->high_theta + y->high_theta) <= o->t_theta + 1e-9,
                      "dir %u: High-CMC peak %g, consensus %g, other direction %g", d,
                      x->high_theta, x->theta, y->high_theta);
        else
            CHECK_MSG(x->cmc_high == 0, "dir %u: High-CMC test failed but counts %u", d,
                      x->cmc_high);
    }
    return r;
}

int main(void)
{
    make_waves();
    size_t n = 256;
    ibex_cmc_opts o;
    ibex_cmc_opts_init(&o);
    ibex_surface *a = make(n, 0, 0, 0);
    CHECK(a != NULL);

    /* itself */
    ibex_cmc_result *r = run(&o, a, a);
    unsigned used = 0;
    for (size_t i = 0; r && i < r->n_cells; i++) {
        const ibex_cmc_cell *c = &r->cells[i];
        if (!c->used) continue;
        used++;
        CHECK_MSG(c->ccf >= 0.9999 && c->theta == 0 && c->dx == 0 && c->dy == 0 && c->cmc && c->cmc_high,
                  "cell %u,%u dir %u: ccf %.6f theta %g dx %g dy %g cmc %d high %d", c->row, c->col,
                  c->direction, c->ccf, c->theta, c->dx, c->dy, c->cmc, c->cmc_high);
    }
    CHECK(r && used == r->dir[0].cells_used + r->dir[1].cells_used && used >= 40);
    CHECK(r && r->cmc == r->dir[0].cells_used && r->cmc_high == r->dir[0].cells_used);
    CHECK(r && r->verdict == IBEX_VERDICT_IDENTIFICATION);
    CHECK(r && fabs(r->full_ccf - 1) < 1e-6);
    CHECK(r && fabs(r->score - 0.5 * used) < 1e-3 * used);
    fprintf(stderr, "self: %u cells used, cmc %u high %u score %.3f\n", used, r ? r->cmc : 0,
            r ? r->cmc_high : 0, r ? r->score : 0);
    ibex_cmc_result_free(r);

    /* rotated (on the grid) and shifted copy: theta exact, shift exact */
    ibex_surface *b = make(n, 9, 5, -3);
    r = run(&o, a, b);
    if (r) {
        fprintf(stderr, "rot 9 shift (5,-3): A->B theta %g dx %g dy %g cmc %u/%u high %u/%u; "
                        "B->A theta %g\n", r->dir[0].theta, r->dir[0].dx, r->dir[0].dy,
                r->dir[0].cmc, r->dir[0].cells_used, r->dir[0].cmc_high, r->dir[1].cmc_high,
                r->dir[1].theta);
        CHECK_NEAR(r->dir[0].theta, 9, 1e-9);
        CHECK_NEAR(r->dir[0].dx, -5, 1e-9);
        CHECK_NEAR(r->dir[0].dy, 3, 1e-9);
        CHECK_NEAR(r->dir[1].theta, -9, 1e-9);
        CHECK(r->dir[0].cmc >= r->dir[0].cells_used * 3 / 4);
        CHECK(r->cmc_high >= 6 && r->verdict == IBEX_VERDICT_IDENTIFICATION);
        CHECK(r->full_ccf > 0.9);
    }
    ibex_cmc_result_free(r);
    ibex_surface_free(b);

    /* off-grid angle: within half a grid step; shift within 2 points */
    b = make(n, -13.5, -4, 6);
    r = run(&o, a, b);
    if (r) {
        fprintf(stderr, "rot -13.5 shift (-4,6): theta %g dx %g dy %g high %u\n", r->dir[0].theta,
                r->dir[0].dx, r->dir[0].dy, r->cmc_high);
        CHECK(fabs(r->dir[0].theta + 13.5) <= o.theta_step / 2 + 1e-9);
        CHECK(fabs(r->dir[0].dx - 4) <= 2 && fabs(r->dir[0].dy + 6) <= 2);
        CHECK(r->verdict == IBEX_VERDICT_IDENTIFICATION);
    }
    ibex_cmc_result_free(r);

    /* 1 vs 2 threads: identical, bit for bit; SIMD vs scalar within 1e-5 */
    ibex_cmc_opts o1 = o, o2 = o, os = o, ob = o;
    ob.template_budget = 1; /* one cell per batch: same results */
    ibex_cmc_result *rb = run(&ob, a, b);
    o1.threads = 1;
    o2.threads = 2;
    ibex_cmc_experimental scalar;
    ibex_cmc_experimental_init(&scalar);
    scalar.force_scalar = 1;
    os.experimental = &scalar;
    os.threads = 1;
    ibex_cmc_result *r1 = run(&o1, a, b), *r2 = run(&o2, a, b), *rsc = run(&os, a, b);
    if (r1 && r2 && rsc) {
        CHECK(r1->cmc == r2->cmc && r1->cmc_high == r2->cmc_high && r1->score == r2->score);
        int same = 1;
        double worst = 0;
        for (size_t i = 0; i < r1->n_cells; i++) {
            const ibex_cmc_cell *x = &r1->cells[i], *y = &r2->cells[i], *z = &rsc->cells[i];
            same &= x->ccf == y->ccf && x->dx == y->dx && x->dy == y->dy && x->theta == y->theta &&
                    x->cmc == y->cmc && x->cmc_high == y->cmc_high;
            if (x->used && fabs(x->ccf - z->ccf) > worst) worst = fabs(x->ccf - z->ccf);
            CHECK(x->used == z->used && x->cmc == z->cmc && x->cmc_high == z->cmc_high);
        }
        CHECK_MSG(same, "1 and 2 threads differ");
        int sameb = rb != NULL;
        for (size_t i = 0; rb && i < r1->n_cells; i++)
            sameb &= r1->cells[i].ccf == rb->cells[i].ccf && r1->cells[i].dx == rb->cells[i].dx &&
                     r1->cells[i].dy == rb->cells[i].dy && r1->cells[i].theta == rb->cells[i].theta;
        CHECK_MSG(sameb, "batched cells differ");
        CHECK_MSG(worst <= 1e-5, "SIMD vs scalar CCF differ by %g", worst);
        CHECK(r1->cmc == rsc->cmc && r1->cmc_high == rsc->cmc_high);
        fprintf(stderr, "threads identical: %d; simd vs scalar max |dccf| %.2e\n", same, worst);
    }
    ibex_cmc_result_free(r1);
    ibex_cmc_result_free(r2);
    ibex_cmc_result_free(rsc);
    ibex_cmc_result_free(rb);
    ibex_surface_free(b);

    /* an unrelated texture: no identification */
    make_waves();
    b = make(n, 0, 0, 0);
    r = run(&o, a, b);
    if (r) {
        fprintf(stderr, "unrelated: cmc %u high %u verdict %s\n", r->cmc, r->cmc_high,
                ibex_verdict_name(r->verdict));
        CHECK(r->verdict != IBEX_VERDICT_IDENTIFICATION);
        CHECK_MSG(r->cmc_high < 6, "unrelated textures: High-CMC %u", r->cmc_high);
    }
    ibex_cmc_result_free(r);
    ibex_surface_free(b);
    ibex_surface_free(a);
    return check_exit();
}
