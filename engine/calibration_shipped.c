/* Calibrations shipped with IBEX, one per kind's default method. Each block is printed by
 * bench/fit_calibration from the pairs tables of `ibex bench accuracy` runs and pasted here;
 * docs/reference/calibration.md gives the data and the out-of-sample figures. The id is the version:
 * a new fit gets a new id.
 * cartridge: the CMC count of the default method; fitted on Fadul (NanoFocus, 780 pairs) and
 * the processed Cadre TopMatch casings of shared/ (10 pairs). No bullet calibration is
 * shipped yet: the development sets hold too few bullet pairs. */
#include <string.h>

#include "ibex/calibration.h"
#include "ibex/experimental.h"
#include "ibex/compare.h"

/* CALIBRATION-BEGIN cartridge */
static const ibex_calibration cartridge = {"cartridge-cmc/2026-12-02", "cmc", -4.03162, 0.708103, -1.53, 2.81, 66, 724};
/* CALIBRATION-END */

const ibex_calibration *ibex_calibration_shipped(const char *kind)
{
    if (kind && !strcmp(kind, "cartridge")) return &cartridge;
    return NULL;
}

const ibex_calibration *ibex_calibration_shipped_cmc(const ibex_cmc_opts *o, int prealigned)
{
    ibex_cmc_opts d;
    ibex_cmc_opts_init(&d);
    if (prealigned) return NULL;
    if (o && (o->cells_x != d.cells_x || o->cells_y != d.cells_y || o->theta_min != d.theta_min ||
              o->theta_max != d.theta_max || o->theta_step != d.theta_step ||
              o->region_factor != d.region_factor || o->min_valid_frac != d.min_valid_frac ||
              o->min_overlap_frac != d.min_overlap_frac || o->t_xy_m != d.t_xy_m ||
              o->t_theta != d.t_theta || o->t_ccf != d.t_ccf ||
              (o->experimental && o->experimental->coarse_to_fine)))
        return NULL;
    return &cartridge;
}
