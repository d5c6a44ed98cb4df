/* Write-then-rename helpers. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "ibex_internal.h"

/* The process umask, read once: umask() can only be read by setting it, which races with
 * other threads doing the same (ibex synth writes from several). */
static mode_t process_umask;
static pthread_once_t umask_once = PTHREAD_ONCE_INIT;

static void read_umask(void)
{
    process_umask = umask(0);
    umask(process_umask);
}

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
    pthread_once(&umask_once, read_umask);
    (void)fchmod(fd, 0666 & ~process_umask); /* on failure 0600 stays: safe, only less convenient */
    close(fd);
    return IBEX_OK;
}

ibex_status ibex__atomic_commit(const char *tmp, const char *path, ibex_diag *diag)
{
    return ibex__atomic_commit_sync(tmp, path, 1, diag);
}

ibex_status ibex__atomic_commit_sync(const char *tmp, const char *path, int sync, ibex_diag *diag)
{
    int fd = sync ? open(tmp, O_RDONLY) : 0;
    int synced = !sync || (fd >= 0 && fsync(fd) == 0);
    int e = errno;
    if (sync && fd >= 0) close(fd);
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

ibex_status ibex__atomic_write(const char *path, const void *data, size_t n, int sync, ibex_diag *diag)
{
    char tmp[4096];
    ibex_status st = ibex__atomic_begin(path, tmp, sizeof tmp, diag);
    if (st) return st;
    int fd = open(tmp, O_WRONLY | O_CLOEXEC);
    errno = 0;
    int written = fd >= 0 && ibex__write_all(fd, data, n);
    int e = errno;
    int closed = fd >= 0 && close(fd) == 0;
    if (!closed && written) e = errno;
    if (!written || !closed) {
        unlink(tmp);
        return ibex__fail(diag, IBEX_ERR_IO, path, -1, "cannot write: %s", strerror(e ? e : EIO));
    }
    return ibex__atomic_commit_sync(tmp, path, sync, diag);
}

int ibex__write_all(int fd, const void *data, size_t n)
{
    const unsigned char *p = data;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = EIO;
            return 0;
        }
        p += w;
        n -= (size_t)w;
    }
    return 1;
}

int ibex__make_dirs(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
    return 0;
}
