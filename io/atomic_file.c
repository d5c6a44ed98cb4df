/* Write-then-rename helpers. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "ibex_internal.h"

ibex_status ibex__atomic_begin(const char *path, char *tmp, size_t tmp_size, ibex_diag *diag)
{
    if ((size_t)snprintf(tmp, tmp_size, "%s.tmp-XXXXXX", path) >= tmp_size) {
        tmp[0] = '\0';
        return ibex__fail(diag, IBEX_ERR_ARG, path, -1, "path too long");
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        tmp[0] = '\0';
        return ibex__fail(diag, IBEX_ERR_IO, path, -1, "cannot create a file beside it: %s",
                          strerror(e));
    }
    /* mkstemp makes 0600; give the file the mode a plain create would have. */
    mode_t mask = umask(0);
    umask(mask);
    (void)fchmod(fd, 0666 & ~mask); /* on failure 0600 stays: safe, only less convenient */
    close(fd);
    return IBEX_OK;
}

ibex_status ibex__atomic_commit(const char *tmp, const char *path, ibex_diag *diag)
{
    int fd = open(tmp, O_RDONLY);
    int synced = fd >= 0 && fsync(fd) == 0;
    int e = errno;
    if (fd >= 0) close(fd);
    if (!synced || rename(tmp, path) != 0) {
        if (synced) e = errno;
        unlink(tmp);
        return ibex__fail(diag, IBEX_ERR_IO, path, -1, "cannot write: %s", strerror(e));
    }
    return IBEX_OK;
}

void ibex__atomic_abort(const char *tmp)
{
    if (tmp && tmp[0]) unlink(tmp);
}
