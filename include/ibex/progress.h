/* Progress and cancellation of long library calls (search, index, import, benchmarks). */
#ifndef IBEX_PROGRESS_H
#define IBEX_PROGRESS_H

#include <stddef.h>
#include "ibex/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Called from the calling thread or a worker (never two at once) as work completes: `stage`
 * names the step ("stage 1", "stage 2", "preparing scans", ...), `done` of `total` units are
 * finished, `eta_seconds` is the estimated time left (negative when unknown). Returning
 * nonzero cancels: the call stops at the next unit and returns IBEX_ERR_CANCELLED. */
typedef int (*ibex_progress_fn)(void *user, const char *stage, size_t done, size_t total,
                                double eta_seconds);

#ifdef __cplusplus
}
#endif
#endif
