/* The wisdom file that pins the FFT plans (ibex/fft.h): where it lives, reading it under a
 * cross-process lock, writing it whole. The planning itself is in engine/plan.c. */
#include <errno.h>
#include <fcntl.h>
#include <fftw3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "cmc_internal.h"
#include "ibex_internal.h"

#define WISDOM_MAX (64u << 20) /* a real file is a few KiB: anything larger is not wisdom */

static char path_in_use[4096];
static int lock_fd = -1;

/* FNV-1a of the CPU's model name: wisdom timed on one CPU is no good on another. */
static unsigned long cpu_tag(void)
{
    unsigned long h = 1469598103934665603ul;
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "model name", 10)) {
            for (const char *p = line; *p && *p != '\n'; p++) h = (h ^ (unsigned char)*p) * 1099511628211ul;
            break;
        }
    if (f) fclose(f);
    return h & 0xffffffffu;
}

ibex_status ibex_fft_wisdom_default_path(char *buf, size_t size, ibex_diag *diag)
{
    const char *env = getenv("IBEX_FFT_WISDOM");
    if (env && *env && strcmp(env, "off") != 0) {
        if (strlen(env) >= size) return ibex__fail(diag, IBEX_ERR_LIMIT, env, -1, "path too long");
        strcpy(buf, env);
        return IBEX_OK;
    }
    if (env && !strcmp(env, "off"))
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "IBEX_FFT_WISDOM=off: no wisdom file");
    char dir[4096];
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (xdg && *xdg == '/')
        snprintf(dir, sizeof dir, "%s/ibex", xdg);
    else if (home && *home)
        snprintf(dir, sizeof dir, "%s/.cache/ibex", home);
    else
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "no HOME or XDG_CACHE_HOME for the wisdom file");
    char version[64];
    size_t k = 0;
    for (const char *p = fftwf_version; *p && k + 1 < sizeof version; p++)
        version[k++] = (*p >= '0' && *p <= '9') || *p == '.' || ((*p | 32) >= 'a' && (*p | 32) <= 'z')
                           ? *p
                           : '-';
    version[k] = 0;
    int n = snprintf(buf, size, "%s/fftwf-%s-%08lx.wisdom", dir, version, cpu_tag());
    if (n < 0 || (size_t)n >= size) return ibex__fail(diag, IBEX_ERR_LIMIT, dir, -1, "path too long");
    return IBEX_OK;
}

/* The whole file as a string (NULL: none, empty or too large). */
static char *read_text(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    struct stat st;
    char *t = NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
        (unsigned long long)st.st_size < WISDOM_MAX && (t = malloc((size_t)st.st_size + 1))) {
        ssize_t got = read(fd, t, (size_t)st.st_size);
        if (got != st.st_size) {
            free(t);
            t = NULL;
        } else {
            t[got] = 0;
        }
    }
    close(fd);
    return t;
}

static void store_begin(void)
{
    char lock[sizeof path_in_use + 8], dir[sizeof path_in_use];
    snprintf(dir, sizeof dir, "%s", path_in_use);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        ibex__make_dirs(dir);
    }
    snprintf(lock, sizeof lock, "%s.lock", path_in_use);
    lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd >= 0)
        while (flock(lock_fd, LOCK_EX) != 0 && errno == EINTR) {
        }
    char *t = read_text(path_in_use);
    /* A file that is not wisdom is kept aside for a look, and planned anew. */
    if (t && !fftwf_import_wisdom_from_string(t)) {
        char bad[sizeof path_in_use + 8];
        snprintf(bad, sizeof bad, "%s.bad", path_in_use);
        rename(path_in_use, bad);
    }
    free(t);
}

static int store_end(int changed)
{
    int ok = 1;
    if (changed) {
        char *t = fftwf_export_wisdom_to_string();
        ok = t && ibex__atomic_write(path_in_use, t, strlen(t), 1, NULL) == IBEX_OK;
        free(t);
    }
    if (lock_fd >= 0) {
        flock(lock_fd, LOCK_UN);
        close(lock_fd);
        lock_fd = -1;
    }
    return ok;
}

static const ibex__wisdom_store file_store = {store_begin, store_end};

ibex_status ibex_fft_wisdom_open(const char *path, ibex_diag *diag)
{
    char p[sizeof path_in_use];
    if (path) {
        if (!*path || strlen(path) >= sizeof p)
            return ibex__fail(diag, IBEX_ERR_ARG, path, -1, "bad wisdom file path");
        strcpy(p, path);
    } else {
        ibex_status st = ibex_fft_wisdom_default_path(p, sizeof p, diag);
        if (st != IBEX_OK) return st;
    }
    ibex__fftw_lock();
    strcpy(path_in_use, p);
    ibex__fftw_unlock();
    ibex__fft_wisdom_store(&file_store);
    return IBEX_OK;
}

const char *ibex_fft_wisdom_file(void)
{
    return path_in_use[0] ? path_in_use : NULL;
}

ibex_status ibex_fft_wisdom_clear(ibex_diag *diag)
{
    if (!path_in_use[0]) return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "no wisdom file is open");
    ibex__fftw_lock();
    store_begin();
    fftwf_forget_wisdom();
    int ok = store_end(1);
    ibex__fftw_unlock();
    return ok ? IBEX_OK : ibex__fail(diag, IBEX_ERR_IO, path_in_use, -1, "cannot write the wisdom file");
}
