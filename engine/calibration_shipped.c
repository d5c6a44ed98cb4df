/* Calibrations shipped with IBEX, one per kind's default method. Each block is printed by
 * bench/fit_calibration from the pairs tables of `ibex bench accuracy` runs and pasted here;
 * docs/calibration.md gives the data and the out-of-sample figures. The id is the version:
 * a new fit gets a new id.
 * cartridge: the CMC count of the default method; fitted on Fadul (NanoFocus, 780 pairs) and
 * the processed Cadre TopMatch casings of shared/ (10 pairs). No bullet calibration is
 * shipped yet: the development sets hold too few bullet pairs. */
#include <string.h>

#include "ibex/calibration.h"

/* CALIBRATION-BEGIN cartridge */
static const ibex_calibration cartridge = {"cartridge-cmc/2026-12-02", "cmc", -4.03162, 0.708103, -1.53, 2.81, 66, 724};
/* CALIBRATION-END */

const ibex_calibration *ibex_calibration_shipped(const char *kind)
{
    if (kind && !strcmp(kind, "cartridge")) return &cartridge;
    return NULL;
}
