/* Write-then-rename, so a reader never sees half a file and a crash leaves none. */
#ifndef IBEX_ATOMIC_FILE_H
#define IBEX_ATOMIC_FILE_H

#include <stddef.h>
#include "ibex/status.h"

/* Create an empty PATH.tmp-XXXXXX beside path; its name goes into tmp. */
ibex_status ibex__atomic_begin(const char *path, char *tmp, size_t tmp_size, ibex_diag *diag);
/* fsync tmp and rename it over path. Removes tmp on failure. */
ibex_status ibex__atomic_commit(const char *tmp, const char *path, ibex_diag *diag);
/* Remove tmp (no-op for ""). */
void ibex__atomic_abort(const char *tmp);

#endif
