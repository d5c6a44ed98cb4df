/* Bad input for the cartridge engine: each case a clear status or a documented
 * "unsuitable", never a crash or a NaN score. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ibex/compare.h"

static ibex_surface *textured(size_t nx, size_t ny, unsigned seed)
{
    ibex_surface *s;
    if (ibex_surface_create(nx, ny, 6.25e-6, 6.25e-6, &s)) return NULL;
    srand(seed);
    for (size_t i = 0; i < nx * ny; i++) {
        s->z[i] = (float)((rand() / (double)RAND_MAX - 0.5) * 1e-6);
        s->valid[i] = 1;
    }
    return s;
}

static void finite_result(const ibex_cmc_result *r)
{
    CHECK(isfinite(r->score) && isfinite(r->full_ccf) && isfinite(r->theta) && isfinite(r->dx) &&
          isfinite(r->dy));
    for (size_t i = 0; i < r->n_cells; i++)
        CHECK(isfinite(r->cells[i].ccf) && isfinite(r->cells[i].valid_frac));
}

int main(void)
{
    ibex_cmc_plan *p;
    ibex_diag d;
    ibex_cmc_result *r = NULL;
    CHECK(ibex_cmc_plan_create(NULL, &p, &d) == IBEX_OK);

    /* entirely NaN: preprocessing leaves it, CMC says unsuitable with a finite score */
    ibex_surface *nan1, *nan2, *pn = NULL;
    CHECK(ibex_surface_create(200, 200, 6.25e-6, 6.25e-6, &nan1) == IBEX_OK);
    CHECK(ibex_preprocess(nan1, NULL, &pn, NULL, &d) == IBEX_OK);
    CHECK(pn && pn->nx == 200);
    nan2 = textured(200, 200, 1);
    CHECK(ibex_cmc_plan_run(p, pn, nan2, &r, &d) == IBEX_OK);
    if (r) {
        CHECK(r->verdict == IBEX_VERDICT_UNSUITABLE && r->cmc == 0 && r->score == 0);
        CHECK(r->dir[0].cells_used == 0);
        finite_result(r);
    }
    ibex_cmc_result_free(r);
    r = NULL;

    /* flat (constant) surface: no lag has variance, so no cell is usable */
    ibex_surface *flat = textured(200, 200, 2);
    for (size_t i = 0; i < 200 * 200; i++) flat->z[i] = 1e-6f;
    CHECK(ibex_cmc_plan_run(p, flat, nan2, &r, &d) == IBEX_OK);
    if (r) {
        CHECK(r->verdict == IBEX_VERDICT_UNSUITABLE);
        finite_result(r);
    }
    ibex_cmc_result_free(r);
    r = NULL;

    /* cells with no valid points (left half missing): those cells unused, rest compared */
    ibex_surface *half = textured(200, 200, 3);
    for (size_t y = 0; y < 200; y++)
        for (size_t x = 0; x < 100; x++) {
            half->z[y * 200 + x] = NAN;
            half->valid[y * 200 + x] = 0;
        }
    CHECK(ibex_cmc_plan_run(p, half, nan2, &r, &d) == IBEX_OK);
    if (r) {
        for (size_t i = 0; i < 64; i++)
            if (r->cells[i].col < 4) CHECK(!r->cells[i].used && r->cells[i].valid_frac == 0);
        CHECK(r->dir[0].cells_used <= 32);
        finite_result(r);
    }
    ibex_cmc_result_free(r);
    r = NULL;

    /* tiny: smaller than one 8-point cell per grid column */
    ibex_surface *tiny = textured(40, 40, 4);
    CHECK(ibex_cmc_plan_run(p, tiny, nan2, &r, &d) == IBEX_ERR_ARG && r == NULL);
    CHECK(strstr(d.message, "too small") != NULL);
    fprintf(stderr, "tiny: %s\n", d.message);

    /* huge: refused from the dimensions alone, before touching data */
    float dummy_z = 0;
    uint8_t dummy_m = 0;
    ibex_surface huge = {0};
    huge.nx = 5000;
    huge.ny = 5000;
    huge.dx = huge.dy = 6.25e-6;
    huge.z = &dummy_z;
    huge.valid = &dummy_m;
    ibex_surface *out = NULL;
    CHECK(ibex_preprocess(&huge, NULL, &out, NULL, &d) == IBEX_ERR_LIMIT && out == NULL);
    fprintf(stderr, "huge preprocess: %s\n", d.message);
    huge.nx = 3000;
    huge.ny = 100;
    CHECK(ibex_cmc_plan_run(p, &huge, nan2, &r, &d) == IBEX_ERR_LIMIT && r == NULL);
    fprintf(stderr, "huge cmc: %s\n", d.message);

    /* different spacings */
    ibex_surface *other = textured(200, 200, 5);
    other->dx = other->dy = 3.125e-6;
    CHECK(ibex_cmc_plan_run(p, other, nan2, &r, &d) == IBEX_ERR_ARG && r == NULL);
    fprintf(stderr, "spacing: %s\n", d.message);

    /* nonsense options */
    ibex_cmc_opts o;
    ibex_cmc_opts_init(&o);
    o.t_ccf = NAN;
    ibex_cmc_plan *q = NULL;
    CHECK(ibex_cmc_plan_create(&o, &q, &d) == IBEX_ERR_ARG && q == NULL);
    ibex_cmc_opts_init(&o);
    o.theta_step = 0;
    CHECK(ibex_cmc_plan_create(&o, &q, &d) == IBEX_ERR_ARG && q == NULL);
    ibex_cmc_opts_init(&o);
    o.cells_x = 0;
    CHECK(ibex_cmc_plan_create(&o, &q, &d) == IBEX_ERR_ARG && q == NULL);

    ibex_surface_free(nan1);
    ibex_surface_free(nan2);
    ibex_surface_free(pn);
    ibex_surface_free(flat);
    ibex_surface_free(half);
    ibex_surface_free(tiny);
    ibex_surface_free(other);
    ibex_cmc_plan_free(p);
    return check_exit();
}
