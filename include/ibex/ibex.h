/* IBEX, the Interoperable Ballistic EXchange engine: umbrella header. */
#ifndef IBEX_IBEX_H
#define IBEX_IBEX_H

#include "ibex/config.h"
#include "ibex/status.h"
#include "ibex/progress.h"
#include "ibex/surface.h"
#include "ibex/image.h"
#include "ibex/io.h"
#include "ibex/library.h"
#include "ibex/conclusion.h"
#include "ibex/ingest.h"
#include "ibex/bullet.h"
#include "ibex/package.h"
#include "ibex/node.h"
#include "ibex/workbench.h"
#include "ibex/synth.h"
#include "ibex/index.h"
#include "ibex/search.h"
#include "ibex/compare.h"
#include "ibex/fft.h"
#include "ibex/prealign.h"
#include "ibex/calibration.h"
#include "ibex/picture.h"
#include "ibex/pair.h"
#include "ibex/bench.h"
#include "ibex/conclusion.h"
#include "ibex/report.h"

#endif
