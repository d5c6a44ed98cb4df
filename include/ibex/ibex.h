/* IBEX, the Interoperable Ballistic EXchange engine: umbrella header. */
#ifndef IBEX_IBEX_H
#define IBEX_IBEX_H

#include "ibex/status.h"
#include "ibex/surface.h"
#include "ibex/image.h"
#include "ibex/io.h"
#include "ibex/library.h"

#define IBEX_VERSION_STRING "0.1.0"

#endif
