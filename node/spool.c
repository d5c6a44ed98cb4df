/* Spool of accepted packages: one file per package, named by sequence number and SHA-256.
 * Files appear only by rename after fsync, so a crash never leaves a partial package under a
 * final name; the sequence number is the replication cursor (GET /v1/specimens?since=). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "exchange_internal.h"
#include "ibex/package.h"
#include "ibex_internal.h"
#include "atomic_file.h"
#include "node_internal.h"

struct ibex__spool {
    pthread_mutex_t lock;
    char *dir;
    int dir_fd, lock_fd;
    ibex__spool_entry *e;
    size_t n, cap;
    uint64_t bytes;
};

void ibex__spool_name(uint64_t seq, const unsigned char sha256[32], char name[96])
{
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, sha256, 32);
    snprintf(name, 96, "%020llu-%s.x3p", (unsigned long long)seq, hex);
}

int ibex__spool_parse_name(const char *name, uint64_t *seq, unsigned char sha256[32])
{
    /* 20 digits, '-', 64 lower-case hex digits, ".x3p" */
    if (strlen(name) != 20 + 1 + 64 + 4 || name[20] != '-' || strcmp(name + 85, ".x3p") != 0) return 0;
    uint64_t v = 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9') return 0;
        if (v > (UINT64_MAX - 9) / 10) return 0;
        v = v * 10 + (uint64_t)(name[i] - '0');
    }
    for (int i = 21; i < 85; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f'))) return 0;
    size_t got = 0;
    if (v == 0 || sodium_hex2bin(sha256, 32, name + 21, 64, NULL, &got, NULL) != 0 || got != 32) return 0;
    *seq = v;
    return 1;
}

int ibex__spool_parse_name_parts(uint64_t seq, const char *hex, unsigned char sha256[32])
{
    char name[96];
    if (!hex || strlen(hex) != 64) return 0;
    snprintf(name, sizeof name, "%020llu-%s.x3p", (unsigned long long)seq, hex);
    uint64_t back;
    return ibex__spool_parse_name(name, &back, sha256) && back == seq;
}

static int by_seq(const void *a, const void *b)
{
    uint64_t x = ((const ibex__spool_entry *)a)->seq, y = ((const ibex__spool_entry *)b)->seq;
    return x < y ? -1 : x > y;
}

static int push(ibex__spool *s, const ibex__spool_entry *e)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? 2 * s->cap : 64;
        ibex__spool_entry *ne = realloc(s->e, nc * sizeof *ne);
        if (!ne) return 0;
        s->e = ne;
        s->cap = nc;
    }
    s->e[s->n++] = *e;
    s->bytes += e->size;
    return 1;
}

void ibex__spool_free(ibex__spool *s)
{
    if (!s) return;
    if (s->dir_fd >= 0) close(s->dir_fd);
    if (s->lock_fd >= 0) close(s->lock_fd); /* releases the flock */
    pthread_mutex_destroy(&s->lock);
    free(s->e);
    free(s->dir);
    free(s);
}

ibex_status ibex__spool_open(const char *dir, ibex__spool **out, ibex_diag *diag)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return ibex__fail(diag, IBEX_ERR_IO, dir, -1, "cannot create the spool directory: %s", strerror(errno));
    ibex__spool *s = calloc(1, sizeof *s);
    if (!s) return ibex__fail(diag, IBEX_ERR_NOMEM, dir, -1, "out of memory");
    s->dir_fd = s->lock_fd = -1;
    pthread_mutex_init(&s->lock, NULL);
    ibex_status st = IBEX_OK;
    DIR *d = NULL;
    if (!(s->dir = ibex__strdup(dir))) {
        st = ibex__fail(diag, IBEX_ERR_NOMEM, dir, -1, "out of memory");
        goto done;
    }
    s->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dir_fd < 0) {
        st = ibex__fail(diag, IBEX_ERR_IO, dir, -1, "cannot open the spool directory: %s", strerror(errno));
        goto done;
    }
    /* One node process per spool: a second would race on sequence numbers. */
    s->lock_fd = openat(s->dir_fd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lock_fd < 0 || flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        st = ibex__fail(diag, IBEX_ERR_IO, dir, -1, "spool is in use by another node process (%s)",
                        strerror(errno));
        goto done;
    }
    d = fdopendir(dup(s->dir_fd));
    if (!d) {
        st = ibex__fail(diag, IBEX_ERR_IO, dir, -1, "cannot list the spool: %s", strerror(errno));
        goto done;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        ibex__spool_entry e;
        struct stat fs;
        if (strncmp(de->d_name, ".tmp-", 5) == 0) { /* left by a crash mid-write */
            unlinkat(s->dir_fd, de->d_name, 0);
            continue;
        }
        if (!ibex__spool_parse_name(de->d_name, &e.seq, e.sha256)) continue;
        if (fstatat(s->dir_fd, de->d_name, &fs, 0) != 0 || !S_ISREG(fs.st_mode)) continue;
        e.size = (uint64_t)fs.st_size;
        if (!push(s, &e)) {
            st = ibex__fail(diag, IBEX_ERR_NOMEM, dir, -1, "out of memory");
            goto done;
        }
    }
    if (s->n > 1) qsort(s->e, s->n, sizeof *s->e, by_seq);
    for (size_t i = 1; i < s->n; i++)
        if (s->e[i].seq == s->e[i - 1].seq) {
            st = ibex__fail(diag, IBEX_ERR_FORMAT, dir, -1, "two spool files share sequence number %llu",
                            (unsigned long long)s->e[i].seq);
            goto done;
        }
done:
    if (d) closedir(d);
    if (st) {
        ibex__spool_free(s);
        return st;
    }
    *out = s;
    return IBEX_OK;
}

ibex_status ibex__spool_put(ibex__spool *s, const void *data, size_t n, uint64_t *seq, int *dup,
                            ibex_diag *diag)
{
    ibex__spool_entry e;
    ibex__sha256(data, n, e.sha256);
    e.size = n;
    /* One writer at a time: sequence numbers are handed out in commit order, so a puller
     * that has seen SEQ has seen everything before it. */
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->n; i++)
        if (memcmp(s->e[i].sha256, e.sha256, 32) == 0) {
            *seq = s->e[i].seq;
            *dup = 1;
            pthread_mutex_unlock(&s->lock);
            return IBEX_OK;
        }
    e.seq = s->n ? s->e[s->n - 1].seq + 1 : 1;
    char tmp[4200], final[4200], name[96];
    ibex__spool_name(e.seq, e.sha256, name);
    snprintf(tmp, sizeof tmp, "%s/.tmp-XXXXXX", s->dir);
    snprintf(final, sizeof final, "%s/%s", s->dir, name);
    ibex_status st = IBEX_OK;
    int fd = mkstemp(tmp);
    if (fd < 0) {
        st = ibex__fail(diag, IBEX_ERR_IO, s->dir, -1, "cannot create a spool file: %s", strerror(errno));
    } else {
        int ok = ibex__write_all(fd, data, n) && fsync(fd) == 0;
        int err = errno;
        close(fd);
        if (ok && rename(tmp, final) != 0) {
            ok = 0;
            err = errno;
        }
        if (!ok) {
            unlink(tmp);
            st = ibex__fail(diag, IBEX_ERR_IO, final, -1, "cannot store the package: %s", strerror(err));
        } else {
            (void)fsync(s->dir_fd); /* make the rename durable */
            if (!push(s, &e)) {
                unlink(final);
                st = ibex__fail(diag, IBEX_ERR_NOMEM, s->dir, -1, "out of memory");
            }
        }
    }
    pthread_mutex_unlock(&s->lock);
    if (!st) {
        *seq = e.seq;
        *dup = 0;
    }
    return st;
}

/* First index with seq > since (entries are sorted). */
static size_t first_after(const ibex__spool *s, uint64_t since)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->e[mid].seq <= since) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

size_t ibex__spool_list(ibex__spool *s, uint64_t since, ibex__spool_entry *out, size_t max, int *more)
{
    pthread_mutex_lock(&s->lock);
    size_t i = first_after(s, since), k = 0;
    for (; i < s->n && k < max; i++) out[k++] = s->e[i];
    *more = i < s->n;
    pthread_mutex_unlock(&s->lock);
    return k;
}

ibex_status ibex__spool_open_fd(ibex__spool *s, uint64_t seq, int *fd, ibex__spool_entry *e,
                                ibex_diag *diag)
{
    pthread_mutex_lock(&s->lock);
    size_t i = seq > 0 ? first_after(s, seq - 1) : s->n;
    int found = i < s->n && s->e[i].seq == seq;
    ibex__spool_entry ent;
    if (found) ent = s->e[i];
    pthread_mutex_unlock(&s->lock);
    if (!found) return ibex__fail(diag, IBEX_ERR_ARG, s->dir, -1, "no package %llu", (unsigned long long)seq);
    char name[96];
    ibex__spool_name(ent.seq, ent.sha256, name);
    int f = openat(s->dir_fd, name, O_RDONLY | O_CLOEXEC);
    struct stat fs;
    if (f < 0 || fstat(f, &fs) != 0 || (uint64_t)fs.st_size != ent.size) {
        if (f >= 0) close(f);
        return ibex__fail(diag, IBEX_ERR_IO, s->dir, -1, "spool file %s is missing or changed", name);
    }
    *fd = f;
    *e = ent;
    return IBEX_OK;
}

void ibex__spool_totals(ibex__spool *s, size_t *count, uint64_t *bytes, uint64_t *last_seq)
{
    pthread_mutex_lock(&s->lock);
    *count = s->n;
    *bytes = s->bytes;
    *last_seq = s->n ? s->e[s->n - 1].seq : 0;
    pthread_mutex_unlock(&s->lock);
}
