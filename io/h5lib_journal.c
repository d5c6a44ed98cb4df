/* Rollback journal under HDF5: a POSIX virtual file driver (like HDF5's sec2) that
 * saves the old bytes of the last committed file before overwriting them.
 *
 * Journal file LIB.h5-journal:
 *   header  "IBEXJRN1" | committed size u64 | reserved u64 | check u64   (32 bytes)
 *   entries "JENT" | 0 u32 | addr u64 | len u64 | old bytes[len] | check u64
 * check = FNV-1a 64 over the preceding fields of the record. An entry is written
 * (and with durable sync, synced) before the overwrite it protects, so a torn last
 * entry protects nothing yet and is ignored. Recovery writes entries back newest
 * first (the oldest copy of a byte wins) and truncates to the committed size. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "h5lib_internal.h"
#include "ibex_internal.h"

#define JMAGIC "IBEXJRN1"
#define EMAGIC "JENT"

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}
#define FNV0 1469598103934665603ull

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static int write_all(int fd, const void *buf, size_t n, off_t off)
{
    const char *p = buf;
    while (n) {
        ssize_t w = off >= 0 ? pwrite(fd, p, n, off) : write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
        if (off >= 0) off += w;
    }
    return 0;
}

/* Reads n bytes at off; bytes past the end of the file read as zero. */
static int read_all(int fd, void *buf, size_t n, off_t off)
{
    char *p = buf;
    while (n) {
        ssize_t r = pread(fd, p, n, off);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (r == 0) {
            memset(p, 0, n);
            return 0;
        }
        p += r;
        n -= (size_t)r;
        off += r;
    }
    return 0;
}

int ibex__journal_path(const char *lib, char *out, size_t size)
{
    int n = snprintf(out, size, "%s-journal", lib);
    return n > 0 && (size_t)n < size;
}

static void sync_dir_of(const char *path)
{
    char *tmp = ibex__strdup(path);
    if (!tmp) return;
    int d = open(dirname(tmp), O_RDONLY | O_DIRECTORY);
    free(tmp);
    if (d >= 0) {
        fsync(d);
        close(d);
    }
}

static void fail_ctl(ibex__jctl *c, const char *what, int err)
{
    if (!c->poisoned) {
        c->poisoned = 1;
        c->err = err;
        snprintf(c->what, sizeof c->what, "%s", what);
    }
}

ibex_status ibex__journal_begin(ibex__jctl *c, const char *lib, int data_fd, ibex_diag *diag)
{
    char jp[4200];
    struct stat st;
    if (!ibex__journal_path(lib, jp, sizeof jp)) return ibex__fail(diag, IBEX_ERR_ARG, lib, -1, "path too long");
    if (fstat(data_fd, &st) != 0)
        return ibex__fail(diag, IBEX_ERR_IO, lib, -1, "cannot stat: %s", strerror(errno));
    int fd = open(jp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return ibex__fail(diag, IBEX_ERR_IO, jp, -1, "cannot create journal: %s", strerror(errno));
    unsigned char h[32];
    memcpy(h, JMAGIC, 8);
    put64(h + 8, (uint64_t)st.st_size);
    put64(h + 16, 0);
    put64(h + 24, fnv(FNV0, h, 24));
    if (write_all(fd, h, sizeof h, -1) != 0 || (c->durable && fdatasync(fd) != 0)) {
        int e = errno;
        close(fd);
        unlink(jp);
        return ibex__fail(diag, IBEX_ERR_IO, jp, -1, "cannot write journal: %s", strerror(e));
    }
    if (c->durable) sync_dir_of(jp);
    c->jfd = fd;
    c->committed = (uint64_t)st.st_size;
    c->in_txn = 1;
    c->journal_unsynced = 0;
    return IBEX_OK;
}

ibex_status ibex__journal_commit(ibex__jctl *c, const char *lib, int data_fd, ibex_diag *diag)
{
    char jp[4200];
    ibex__journal_path(lib, jp, sizeof jp);
    if (c->poisoned)
        return ibex__fail(diag, IBEX_ERR_IO, lib, -1, "%s failed: %s", c->what, strerror(c->err));
    if (c->durable && fdatasync(data_fd) != 0)
        return ibex__fail(diag, IBEX_ERR_IO, lib, -1, "cannot sync: %s", strerror(errno));
    /* The commit point: once the journal is gone, the new state is the library. */
    if (unlink(jp) != 0)
        return ibex__fail(diag, IBEX_ERR_IO, jp, -1, "cannot remove journal: %s", strerror(errno));
    if (c->durable) sync_dir_of(lib);
    close(c->jfd);
    c->jfd = -1;
    c->in_txn = 0;
    return IBEX_OK;
}

void ibex__journal_forget(ibex__jctl *c)
{
    if (c->jfd >= 0) close(c->jfd);
    c->jfd = -1;
    c->in_txn = 0;
}

typedef struct jentry {
    uint64_t addr, len;
    off_t data_off; /* where the old bytes are in the journal */
} jentry;

ibex_status ibex__journal_recover(const char *lib, int *recovered, ibex_diag *diag)
{
    char jp[4200];
    *recovered = 0;
    if (!ibex__journal_path(lib, jp, sizeof jp)) return ibex__fail(diag, IBEX_ERR_ARG, lib, -1, "path too long");
    int jfd = open(jp, O_RDONLY | O_CLOEXEC);
    if (jfd < 0) {
        if (errno == ENOENT) return IBEX_OK;
        return ibex__fail(diag, IBEX_ERR_IO, jp, -1, "cannot open journal: %s", strerror(errno));
    }
    struct stat jst;
    fstat(jfd, &jst);
    unsigned char h[32];
    ssize_t r = pread(jfd, h, sizeof h, 0);
    if (r != (ssize_t)sizeof h || memcmp(h, JMAGIC, 8) != 0 || get64(h + 24) != fnv(FNV0, h, 24)) {
        /* The header is written before any data write: a torn one protected nothing. */
        close(jfd);
        if (unlink(jp) != 0)
            return ibex__fail(diag, IBEX_ERR_IO, jp, -1, "cannot remove journal: %s", strerror(errno));
        *recovered = 1;
        return IBEX_OK;
    }
    uint64_t committed = get64(h + 8);
    jentry *ents = NULL;
    size_t n = 0, cap = 0;
    off_t off = 32;
    unsigned char eh[24];
    unsigned char *buf = NULL;
    size_t bufcap = 0;
    ibex_status st = IBEX_OK;
    for (;;) {
        if (pread(jfd, eh, sizeof eh, off) != (ssize_t)sizeof eh || memcmp(eh, EMAGIC, 4) != 0) break;
        uint64_t addr = get64(eh + 8), len = get64(eh + 16);
        if (len > (uint64_t)jst.st_size || (uint64_t)off + 32 + len > (uint64_t)jst.st_size) break;
        if (len + 8 > bufcap) {
            unsigned char *nb = realloc(buf, len + 8);
            if (!nb) {
                st = ibex__fail(diag, IBEX_ERR_NOMEM, jp, off, "out of memory");
                goto out;
            }
            buf = nb;
            bufcap = len + 8;
        }
        if (pread(jfd, buf, len + 8, off + 24) != (ssize_t)(len + 8)) break;
        uint64_t chk = fnv(fnv(FNV0, eh, 24), buf, len);
        if (chk != get64(buf + len)) break;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            jentry *ne = realloc(ents, cap * sizeof *ents);
            if (!ne) {
                st = ibex__fail(diag, IBEX_ERR_NOMEM, jp, off, "out of memory");
                goto out;
            }
            ents = ne;
        }
        ents[n].addr = addr;
        ents[n].len = len;
        ents[n].data_off = off + 24;
        n++;
        off += 32 + (off_t)len;
    }
    int dfd = open(lib, O_RDWR | O_CLOEXEC);
    if (dfd < 0) {
        st = ibex__fail(diag, IBEX_ERR_IO, lib, -1,
                        "an interrupted ingest left a journal; recovering needs write access: %s",
                        strerror(errno));
        goto out;
    }
    for (size_t i = n; i-- > 0;) {
        if (ents[i].len > bufcap) continue; /* cannot happen: buf grew to the largest */
        if (read_all(jfd, buf, ents[i].len, ents[i].data_off) != 0 ||
            write_all(dfd, buf, ents[i].len, (off_t)ents[i].addr) != 0) {
            st = ibex__fail(diag, IBEX_ERR_IO, lib, (long long)ents[i].addr, "recovery write failed: %s",
                            strerror(errno));
            close(dfd);
            goto out;
        }
    }
    if (ftruncate(dfd, (off_t)committed) != 0 || fdatasync(dfd) != 0) {
        st = ibex__fail(diag, IBEX_ERR_IO, lib, -1, "recovery truncate failed: %s", strerror(errno));
        close(dfd);
        goto out;
    }
    close(dfd);
    if (unlink(jp) != 0) {
        st = ibex__fail(diag, IBEX_ERR_IO, jp, -1, "cannot remove journal: %s", strerror(errno));
        goto out;
    }
    sync_dir_of(lib);
    *recovered = 1;
out:
    free(ents);
    free(buf);
    close(jfd);
    return st;
}

/* ---- the driver ---- */

typedef struct jfile {
    H5FD_t pub; /* must be first */
    int fd;
    haddr_t eoa, eof;
    dev_t dev;
    ino_t ino;
    ibex__jctl *ctl;
} jfile;

typedef struct jinfo {
    ibex__jctl *ctl;
} jinfo;

#define MAXADDR (((haddr_t)1 << 62) - 1)

static H5FD_t *j_open(const char *name, unsigned flags, hid_t fapl, haddr_t maxaddr)
{
    (void)maxaddr;
    const jinfo *info = H5Pget_driver_info(fapl);
    if (!info || !info->ctl) return NULL;
    int o = (flags & H5F_ACC_RDWR) ? O_RDWR : O_RDONLY;
    if (flags & H5F_ACC_TRUNC) o |= O_TRUNC;
    if (flags & H5F_ACC_CREAT) o |= O_CREAT;
    if (flags & H5F_ACC_EXCL) o |= O_EXCL;
    int fd = open(name, o | O_CLOEXEC, 0644);
    if (fd < 0) {
        info->ctl->err = errno;
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return NULL;
    }
    jfile *f = calloc(1, sizeof *f);
    if (!f) {
        close(fd);
        return NULL;
    }
    f->fd = fd;
    f->eof = (haddr_t)st.st_size;
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    f->ctl = info->ctl;
    return &f->pub;
}

static herr_t j_close(H5FD_t *file)
{
    jfile *f = (jfile *)file;
    int r = close(f->fd);
    free(f);
    return r == 0 ? 0 : -1;
}

static int j_cmp(const H5FD_t *a, const H5FD_t *b)
{
    const jfile *x = (const jfile *)a, *y = (const jfile *)b;
    if (x->dev != y->dev) return x->dev < y->dev ? -1 : 1;
    if (x->ino != y->ino) return x->ino < y->ino ? -1 : 1;
    return 0;
}

static herr_t j_query(const H5FD_t *f, unsigned long *flags)
{
    (void)f;
    *flags = H5FD_FEAT_AGGREGATE_METADATA | H5FD_FEAT_ACCUMULATE_METADATA | H5FD_FEAT_DATA_SIEVE |
             H5FD_FEAT_AGGREGATE_SMALLDATA | H5FD_FEAT_DEFAULT_VFD_COMPATIBLE;
    return 0;
}

static haddr_t j_get_eoa(const H5FD_t *file, H5FD_mem_t t)
{
    (void)t;
    return ((const jfile *)file)->eoa;
}

static herr_t j_set_eoa(H5FD_t *file, H5FD_mem_t t, haddr_t a)
{
    (void)t;
    ((jfile *)file)->eoa = a;
    return 0;
}

static haddr_t j_get_eof(const H5FD_t *file, H5FD_mem_t t)
{
    (void)t;
    return ((const jfile *)file)->eof;
}

static herr_t j_get_handle(H5FD_t *file, hid_t fapl, void **h)
{
    (void)fapl;
    *h = &((jfile *)file)->fd;
    return 0;
}

static herr_t j_read(H5FD_t *file, H5FD_mem_t t, hid_t dxpl, haddr_t addr, size_t size, void *buf)
{
    (void)t;
    (void)dxpl;
    jfile *f = (jfile *)file;
    if (addr > MAXADDR || size > MAXADDR - addr) return -1;
    return read_all(f->fd, buf, size, (off_t)addr) == 0 ? 0 : -1;
}

/* Save the committed bytes in [addr, addr+size) that are about to change. */
static int journal_old(jfile *f, haddr_t addr, size_t size)
{
    ibex__jctl *c = f->ctl;
    if (addr >= c->committed) return 0;
    uint64_t len = c->committed - addr;
    if (len > size) len = size;
    unsigned char *rec = malloc(24 + len + 8);
    if (!rec) {
        fail_ctl(c, "journal", ENOMEM);
        return -1;
    }
    memcpy(rec, EMAGIC, 4);
    memset(rec + 4, 0, 4);
    put64(rec + 8, addr);
    put64(rec + 16, len);
    if (read_all(f->fd, rec + 24, len, (off_t)addr) != 0) {
        fail_ctl(c, "journal read", errno);
        free(rec);
        return -1;
    }
    put64(rec + 24 + len, fnv(FNV0, rec, 24 + len));
    int r = write_all(c->jfd, rec, 24 + len + 8, -1);
    int e = errno;
    free(rec);
    if (r != 0) {
        fail_ctl(c, "journal write", e);
        return -1;
    }
    c->journal_unsynced = 1;
    return 0;
}

static herr_t j_write(H5FD_t *file, H5FD_mem_t t, hid_t dxpl, haddr_t addr, size_t size, const void *buf)
{
    (void)t;
    (void)dxpl;
    jfile *f = (jfile *)file;
    ibex__jctl *c = f->ctl;
    if (c->poisoned) return 0; /* discarded: the transaction will be rolled back */
    if (addr > MAXADDR || size > MAXADDR - addr) return -1;
    if (c->mode == IBEX__J_READONLY) {
        fail_ctl(c, "write to a read-only library", EROFS);
        return -1;
    }
    if (c->mode == IBEX__J_JOURNAL) {
        if (!c->in_txn) {
            fail_ctl(c, "write outside a transaction", EINVAL);
            return -1;
        }
        if (journal_old(f, addr, size) != 0) return -1;
        if (addr < c->committed && c->durable && c->journal_unsynced) {
            if (fdatasync(c->jfd) != 0) {
                fail_ctl(c, "journal sync", errno);
                return -1;
            }
            c->journal_unsynced = 0;
        }
    }
    if (write_all(f->fd, buf, size, (off_t)addr) != 0) {
        fail_ctl(c, "write", errno);
        return -1;
    }
    if (addr + size > f->eof) f->eof = addr + size;
    return 0;
}

static herr_t j_truncate(H5FD_t *file, hid_t dxpl, hbool_t closing)
{
    (void)dxpl;
    (void)closing;
    jfile *f = (jfile *)file;
    ibex__jctl *c = f->ctl;
    if (f->eoa == f->eof || c->poisoned) return 0;
    if (c->mode == IBEX__J_READONLY) return 0;
    if (c->mode == IBEX__J_JOURNAL) {
        if (!c->in_txn) {
            fail_ctl(c, "truncate outside a transaction", EINVAL);
            return -1;
        }
        if (f->eoa < f->eof && f->eoa < c->committed) {
            if (journal_old(f, f->eoa, (size_t)(c->committed - f->eoa)) != 0) return -1;
            if (c->durable && fdatasync(c->jfd) != 0) {
                fail_ctl(c, "journal sync", errno);
                return -1;
            }
        }
    }
    if (ftruncate(f->fd, (off_t)f->eoa) != 0) {
        fail_ctl(c, "truncate", errno);
        return -1;
    }
    f->eof = f->eoa;
    return 0;
}

static herr_t j_lock(H5FD_t *f, hbool_t rw)
{
    (void)f;
    (void)rw;
    return 0; /* the library takes its own locks (h5lib.c) */
}
static herr_t j_unlock(H5FD_t *f)
{
    (void)f;
    return 0;
}

static const H5FD_class_t jclass = {
    "ibex_journal",
    MAXADDR,
    H5F_CLOSE_WEAK,
    NULL,
    NULL,
    NULL,
    NULL,
    sizeof(jinfo),
    NULL,
    NULL,
    NULL,
    0,
    NULL,
    NULL,
    j_open,
    j_close,
    j_cmp,
    j_query,
    NULL,
    NULL,
    NULL,
    j_get_eoa,
    j_set_eoa,
    j_get_eof,
    j_get_handle,
    j_read,
    j_write,
    NULL,
    j_truncate,
    j_lock,
    j_unlock,
    H5FD_FLMAP_DICHOTOMY,
};

static hid_t driver_id = -1;

hid_t ibex__jvfd_id(void)
{
    if (driver_id < 0 || H5Iis_valid(driver_id) <= 0) driver_id = H5FDregister(&jclass);
    return driver_id;
}

hid_t ibex__jvfd_fapl(ibex__jctl *ctl)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return -1;
    jinfo info = {ctl};
    hid_t id = ibex__jvfd_id();
    /* High bound 1.10: a schema 3 library holds 1.10 chunk indexes, and HDF5 opens a file
     * for writing only up to its high bound. h5lib.c narrows the bounds per library once it
     * knows the schema (what it adds to an older library stays in the 1.8 formats). */
    if (id < 0 || H5Pset_driver(fapl, id, &info) < 0 ||
        H5Pset_libver_bounds(fapl, H5F_LIBVER_EARLIEST, H5F_LIBVER_V110) < 0 ||
        H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0) {
        H5Pclose(fapl);
        return -1;
    }
    return fapl;
}
