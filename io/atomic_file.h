/* Write-then-rename, so a reader never sees half a file and a crash leaves none. */
#ifndef IBEX_ATOMIC_FILE_H
#define IBEX_ATOMIC_FILE_H

#include <stddef.h>
#include "ibex/status.h"

/* Create an empty PATH.tmp-XXXXXX beside path; its name goes into tmp. */
ibex_status ibex__atomic_begin(const char *path, char *tmp, size_t tmp_size, ibex_diag *diag);
/* fsync tmp and rename it over path. Removes tmp on failure. */
ibex_status ibex__atomic_commit(const char *tmp, const char *path, ibex_diag *diag);
/* Same; sync = 0 skips the fsync (still never a partial file, but not durable on power
 * loss): for bulk writers such as ibex synth --no-sync. */
ibex_status ibex__atomic_commit_sync(const char *tmp, const char *path, int sync, ibex_diag *diag);
/* The whole of a file in one go: PATH.tmp-XXXXXX written, synced unless sync = 0, renamed. */
ibex_status ibex__atomic_write(const char *path, const void *data, size_t n, int sync, ibex_diag *diag);
/* write(2) until all n bytes are written (EINTR retried): 1, or 0 with errno set. */
int ibex__write_all(int fd, const void *data, size_t n);
/* mkdir -p: a folder and its missing parents; 0, or -1 with errno set. */
int ibex__make_dirs(const char *path);
/* Remove tmp (no-op for ""). */
void ibex__atomic_abort(const char *tmp);

#endif
