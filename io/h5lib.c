/* The HDF5 reference library: schema (docs/reference/library-format.md), open/create, add, read.
 * Writes happen only inside journaled transactions (h5lib_journal.c); readers and the
 * writer's commits exclude each other with OFD byte-range locks on the library file:
 *   byte 0: held exclusively by the one writer for its whole session;
 *   byte 1: shared by readers while open, exclusive by the writer during a commit. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "atomic_file.h"
#include "h5lib_internal.h"
#include "ibex/ibex.h"
#include "ibex_internal.h"

#define FORMAT_NAME "ibex-reference-library"
#define SURF_BUCKET 1000 /* specimens per /surfaces/bNNNNNN group */
#define TABLE_CHUNK 256
#define STRINGS_CHUNK 32768 /* bytes per chunk of /strings */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
void ibex__library_lock(void) { pthread_mutex_lock(&g_lock); }
void ibex__library_unlock(void) { pthread_mutex_unlock(&g_lock); }

/* ---- table columns ---- */

enum { C_STR, C_I64, C_U64, C_F64, C_U8 };
typedef struct column {
    const char *name;
    int type;
} column;

static const column fixed_cols[] = {
    {"id", C_STR},         {"kind", C_STR},      {"region", C_STR},          {"sha256", C_STR},
    {"source_path", C_STR}, {"set", C_STR},      {"firearm_id", C_STR},      {"same_source_key", C_STR},
    {"ingest_time", C_I64}, {"nx", C_U64},       {"ny", C_U64},              {"dx", C_F64},
    {"dy", C_F64},         {"x0", C_F64},        {"y0", C_F64},              {"zkind", C_U8},
    {"n_valid", C_U64},    {"surface", C_STR},     {"surface_index", C_U64},
};
enum {
    K_ID, K_KIND, K_REGION, K_SHA, K_SRC, K_SET, K_FIREARM, K_SSK, K_TIME, K_NX, K_NY, K_DX, K_DY,
    K_X0, K_Y0, K_ZKIND, K_NVALID, K_SURFACE, K_SURFIDX, N_FIXED
};
#define META_PREFIX "meta_"

/* One cell of a row in memory. A string cell is a C string (schemas 1 and 2: HDF5
 * variable-length strings) or a reference into /strings (schema 3). */
typedef union slot {
    char *s;
    struct {
        uint64_t off, len;
    } ref;
    int64_t i;
    uint64_t u;
    double f;
    uint8_t b;
} slot;

static size_t n_cols(void) { return N_FIXED + ibex_meta_count(); }

static void col_name(size_t i, char *buf, size_t size)
{
    if (i < N_FIXED) snprintf(buf, size, "%s", fixed_cols[i].name);
    else snprintf(buf, size, META_PREFIX "%s", ibex_meta_key(i - N_FIXED));
}
static int col_type(size_t i) { return i < N_FIXED ? fixed_cols[i].type : C_STR; }

/* Column number of a string column's name, -1 if IBEX has no such string column. */
static int str_col_index(const char *name)
{
    char b[96];
    for (size_t i = 0; i < n_cols(); i++) {
        col_name(i, b, sizeof b);
        if (col_type(i) == C_STR && !strcmp(b, name)) return (int)i;
    }
    return -1;
}

static hid_t str_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

/* Schema 3 string cell: bytes [offset, offset + length) of /strings (UTF-8, no NUL). */
static hid_t ref_type(void)
{
    hid_t t = H5Tcreate(H5T_COMPOUND, 16);
    H5Tinsert(t, "offset", 0, H5T_STD_U64LE);
    H5Tinsert(t, "length", 8, H5T_STD_U64LE);
    return t;
}

/* Type of a column in the file (file = 1) or in memory (file = 0); strings get strt, which
 * the caller owns. */
static hid_t cell_type(int type, int file, hid_t strt)
{
    switch (type) {
    case C_STR: return strt;
    case C_I64: return file ? H5T_STD_I64LE : H5T_NATIVE_INT64;
    case C_U64: return file ? H5T_STD_U64LE : H5T_NATIVE_UINT64;
    case C_F64: return file ? H5T_IEEE_F64LE : H5T_NATIVE_DOUBLE;
    default: return file ? H5T_STD_U8LE : H5T_NATIVE_UINT8;
    }
}

/* Compound of all columns at slot offsets; file = little-endian standard types. pooled:
 * string columns are /strings references (schema 3), else variable-length strings. */
static hid_t row_type(int file, int pooled)
{
    size_t n = n_cols();
    hid_t t = H5Tcreate(H5T_COMPOUND, n * sizeof(slot));
    hid_t s = pooled ? ref_type() : str_type();
    char name[96];
    for (size_t i = 0; i < n; i++) {
        col_name(i, name, sizeof name);
        H5Tinsert(t, name, i * sizeof(slot), cell_type(col_type(i), file, s));
    }
    if (file) H5Tpack(t);
    H5Tclose(s);
    return t;
}

/* Memory type for reading: only the columns the file has (by name), at slot offsets. */
static hid_t read_type(hid_t ftype, const int *want, int pooled)
{
    size_t n = n_cols();
    hid_t t = H5Tcreate(H5T_COMPOUND, n * sizeof(slot));
    hid_t s = pooled ? ref_type() : str_type();
    char name[96];
    int any = 0;
    for (size_t i = 0; i < n; i++) {
        if (want && !want[i]) continue;
        col_name(i, name, sizeof name);
        if (H5Tget_member_index(ftype, name) < 0) continue;
        H5Tinsert(t, name, i * sizeof(slot), cell_type(col_type(i), 0, s));
        any = 1;
    }
    H5Tclose(s);
    if (!any) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

/* ---- small string -> row map (open addressing) ---- */

typedef struct smap {
    char **keys;
    size_t *rows;
    size_t cap, n;
} smap;

static uint64_t shash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void smap_free(smap *m)
{
    for (size_t i = 0; i < m->cap; i++) free(m->keys[i]);
    free(m->keys);
    free(m->rows);
    memset(m, 0, sizeof *m);
}

static int smap_get(const smap *m, const char *k, size_t *row)
{
    if (!m->cap || !k) return 0;
    for (size_t i = shash(k) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->keys[i]) return 0;
        if (!strcmp(m->keys[i], k)) {
            if (row) *row = m->rows[i];
            return 1;
        }
    }
}

static int smap_put(smap *m, const char *k, size_t row)
{
    if (2 * (m->n + 1) > m->cap) {
        size_t nc = m->cap ? 2 * m->cap : 1024;
        smap nm = {calloc(nc, sizeof(char *)), calloc(nc, sizeof(size_t)), nc, 0};
        if (!nm.keys || !nm.rows) {
            free(nm.keys);
            free(nm.rows);
            return 0;
        }
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i]) {
                size_t j = shash(m->keys[i]) & (nc - 1);
                while (nm.keys[j]) j = (j + 1) & (nc - 1);
                nm.keys[j] = m->keys[i];
                nm.rows[j] = m->rows[i];
                nm.n++;
            }
        free(m->keys);
        free(m->rows);
        *m = nm;
    }
    size_t i = shash(k) & (m->cap - 1);
    while (m->keys[i]) i = (i + 1) & (m->cap - 1);
    if (!(m->keys[i] = ibex__strdup(k))) return 0;
    m->rows[i] = row;
    m->n++;
    return 1;
}

/* ---- the handle ---- */

struct ibex_library {
    char *path;
    unsigned flags;
    int writable;
    int lockfd;
    ibex__jctl ctl;
    hid_t file, table;
    hid_t pool;      /* /strings (schema 3), else -1 */
    int pooled;      /* string cells are /strings references: schema 3 */
    size_t count;
    char *params;
    smap ids, hashes;
    int keys_loaded; /* ids/hashes filled (writers at open; readers on first lookup) */
    int packed;      /* surfaces go to packed stacks (surface_layout "packed") */
    int explicit_txn;
    int data_locked; /* byte 1 held exclusively (writer, during a transaction) */
    ibex_library_preprocess_fn preprocess;
    void *preprocess_user;
};

hid_t ibex__library_file(const ibex_library *lib) { return lib ? lib->file : -1; }

const char *ibex_library_path(const ibex_library *lib) { return lib ? lib->path : NULL; }

/* The innermost HDF5 error description (HDF5's own printing is switched off). */
static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    char *buf = data;
    if (getenv("IBEX_H5_DEBUG")) fprintf(stderr, "h5err %u: %s (%s)\n", n, e->desc ? e->desc : "-", e->func_name);
    if (e->desc) snprintf(buf, 256, "%s", e->desc); /* the last one is the innermost */
    (void)n;
    return 0;
}
static const char *h5msg(char buf[256])
{
    buf[0] = 0;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk_cb, buf);
    H5Eclear2(H5E_DEFAULT);
    if (!buf[0]) snprintf(buf, 256, "HDF5 call failed");
    return buf;
}

const char *ibex__h5_error(char buf[256]) { return h5msg(buf); }

static void h5_init(void)
{
    static int done = 0;
    if (done) return;
    H5open();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    done = 1;
}

static int set_lock(int fd, short type, off_t byte, int wait)
{
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = byte;
    fl.l_len = 1;
    int r;
    do r = fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl);
    while (r != 0 && errno == EINTR);
    return r;
}

/* Failure inside a transaction or a failed write: report the driver's errno if any. */
static ibex_status fail_h5(ibex_library *lib, ibex_diag *diag, ibex_status s, const char *what)
{
    char b[256];
    h5msg(b);
    if (lib->ctl.poisoned && lib->ctl.err)
        return ibex__fail(diag, IBEX_ERR_IO, lib->path, -1, "%s: %s failed: %s", what, lib->ctl.what,
                          strerror(lib->ctl.err));
    return ibex__fail(diag, s, lib->path, -1, "%s: %s", what, b);
}

/* ---- attributes ---- */

static int attr_write_str(hid_t obj, const char *name, const char *v);
static char *attr_read_str(hid_t obj, const char *name);

int ibex__h5_attr_write_str(hid_t obj, const char *name, const char *v) { return attr_write_str(obj, name, v); }
char *ibex__h5_attr_read_str(hid_t obj, const char *name) { return attr_read_str(obj, name); }

static int attr_write_str(hid_t obj, const char *name, const char *v)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(v) + 1);
    H5Tset_strpad(t, H5T_STR_NULLTERM);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t sp = H5Screate(H5S_SCALAR);
    if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    int ok = a >= 0 && H5Awrite(a, t, v) >= 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    return ok;
}

static int attr_write_num(hid_t obj, const char *name, hid_t ftype, hid_t mtype, const void *v)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT);
    int ok = a >= 0 && H5Awrite(a, mtype, v) >= 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    return ok;
}

/* Reads a string attribute (fixed or variable length); NULL if absent or not a string. */
static char *attr_read_str(hid_t obj, const char *name)
{
    if (H5Aexists(obj, name) <= 0) return NULL;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return NULL;
    hid_t ft = H5Aget_type(a);
    char *out = NULL;
    if (H5Tget_class(ft) == H5T_STRING) {
        if (H5Tis_variable_str(ft) > 0) {
            char *v = NULL;
            hid_t mt = str_type();
            H5Tset_cset(mt, H5Tget_cset(ft));
            if (H5Aread(a, mt, &v) >= 0 && v) {
                out = ibex__strdup(v);
                H5free_memory(v);
            }
            H5Tclose(mt);
        } else {
            size_t n = H5Tget_size(ft);
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, n + 1);
            H5Tset_strpad(mt, H5T_STR_NULLTERM);
            H5Tset_cset(mt, H5Tget_cset(ft));
            out = calloc(1, n + 1);
            if (out && H5Aread(a, mt, out) < 0) {
                free(out);
                out = NULL;
            }
            H5Tclose(mt);
        }
    }
    H5Tclose(ft);
    H5Aclose(a);
    return out;
}

static int attr_read_u64(hid_t obj, const char *name, uint64_t *v)
{
    if (H5Aexists(obj, name) <= 0) return 0;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return 0;
    hid_t ft = H5Aget_type(a);
    int ok = H5Tget_class(ft) == H5T_INTEGER && H5Aread(a, H5T_NATIVE_UINT64, v) >= 0;
    H5Tclose(ft);
    H5Aclose(a);
    return ok;
}

static void iso_time(time_t t, char *buf, size_t size)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- transactions ---- */

static ibex_status txn_begin(ibex_library *lib, ibex_diag *diag)
{
    if (lib->ctl.in_txn) return IBEX_OK;
    if (set_lock(lib->lockfd, F_WRLCK, 1, 1) != 0)
        return ibex__fail(diag, IBEX_ERR_IO, lib->path, -1, "cannot lock: %s", strerror(errno));
    lib->data_locked = 1;
    /* A journal here is from a writer that died mid-commit (we hold both locks now):
     * undo it before a new journal replaces it. */
    int rec = 0;
    ibex_status st = ibex__journal_recover(lib->path, &rec, diag);
    if (st == IBEX_OK) st = ibex__journal_begin(&lib->ctl, lib->path, lib->lockfd, diag);
    if (st != IBEX_OK) {
        set_lock(lib->lockfd, F_UNLCK, 1, 0);
        lib->data_locked = 0;
    }
    return st;
}

static ibex_status open_h5(ibex_library *lib, const char *expect_params, ibex_diag *diag);

static void close_h5(ibex_library *lib)
{
    if (lib->pool >= 0) H5Dclose(lib->pool);
    if (lib->table >= 0) H5Dclose(lib->table);
    if (lib->file >= 0) H5Fclose(lib->file);
    lib->pool = lib->table = lib->file = -1;
    H5Eclear2(H5E_DEFAULT);
}

/* Throws away the transaction: close HDF5 with writes discarded, undo from the journal,
 * reopen. The library is then exactly as at the last commit. */
static void txn_abort(ibex_library *lib)
{
    ibex_diag d;
    int rec = 0;
    lib->ctl.poisoned = 1;
    close_h5(lib);
    ibex__journal_forget(&lib->ctl);
    ibex__journal_recover(lib->path, &rec, &d);
    lib->ctl.poisoned = 0;
    lib->ctl.err = 0;
    lib->explicit_txn = 0;
    smap_free(&lib->ids);
    smap_free(&lib->hashes);
    /* Reopen inside a fresh transaction (HDF5 may write while opening for writing). */
    if (ibex__journal_begin(&lib->ctl, lib->path, lib->lockfd, &d) == IBEX_OK) {
        if (open_h5(lib, NULL, &d) == IBEX_OK && H5Fflush(lib->file, H5F_SCOPE_GLOBAL) >= 0 &&
            ibex__journal_commit(&lib->ctl, lib->path, lib->lockfd, &d) == IBEX_OK) {
            /* reopened */
        } else {
            lib->ctl.poisoned = 1;
            close_h5(lib);
            ibex__journal_forget(&lib->ctl);
            ibex__journal_recover(lib->path, &rec, &d);
            lib->ctl.poisoned = 0;
        }
    }
    if (lib->data_locked) set_lock(lib->lockfd, F_UNLCK, 1, 0);
    lib->data_locked = 0;
}

static ibex_status txn_commit(ibex_library *lib, ibex_diag *diag)
{
    if (!lib->ctl.in_txn) return IBEX_OK;
    if (H5Fflush(lib->file, H5F_SCOPE_GLOBAL) < 0 || lib->ctl.poisoned) {
        ibex_status st = fail_h5(lib, diag, IBEX_ERR_IO, "commit");
        txn_abort(lib);
        return st;
    }
    ibex_status st = ibex__journal_commit(&lib->ctl, lib->path, lib->lockfd, diag);
    if (st != IBEX_OK) {
        txn_abort(lib);
        return st;
    }
    set_lock(lib->lockfd, F_UNLCK, 1, 0);
    lib->data_locked = 0;
    lib->explicit_txn = 0;
    return IBEX_OK;
}

/* ---- reading rows ---- */

/* HDF5 allocates the variable-length strings of a schema 1 or 2 table while it converts a
 * read, strip by strip of its conversion buffer. When a later strip fails, the strings of
 * the strips before are already in the caller's buffer, and those of the failing strip
 * only in HDF5's: a failed column read of 5000 rows kept about 80 KB. Reads of those
 * tables therefore allocate through this arena, freed whole once the strings are copied
 * out, whether the read succeeded or not. */
typedef struct vlen_arena {
    void **p;
    size_t n, cap;
} vlen_arena;

static void *arena_alloc(size_t size, void *info)
{
    vlen_arena *a = info;
    if (a->n == a->cap) {
        size_t nc = a->cap ? 2 * a->cap : 64;
        void **np = realloc(a->p, nc * sizeof *np);
        if (!np) return NULL;
        a->p = np;
        a->cap = nc;
    }
    void *m = malloc(size ? size : 1);
    if (m) a->p[a->n++] = m;
    return m;
}

static void arena_free(void *mem, void *info)
{
    (void)mem; /* freed with the arena */
    (void)info;
}

static void arena_clear(vlen_arena *a)
{
    for (size_t i = 0; i < a->n; i++) free(a->p[i]);
    free(a->p);
    memset(a, 0, sizeof *a);
}

/* Schema 3 strings are read through a window of /strings: the strings of one row are
 * adjacent and the rows of a batch follow each other, so rows read in order read each
 * chunk of /strings about once. */
#define POOL_WINDOW ((uint64_t)1 << 20)

typedef struct pool_win {
    uint64_t size; /* bytes in /strings */
    uint64_t end;  /* the caller reads nothing past this offset */
    uint64_t base; /* offset of buf[0] */
    size_t n;
    unsigned char *buf;
} pool_win;

/* String [off, off + len) of /strings, malloc'd (NULL for an empty string). */
static ibex_status pool_get(ibex_library *lib, pool_win *w, uint64_t off, uint64_t len, size_t row, size_t col,
                            char **out, ibex_diag *diag)
{
    char name[96], b[256];
    *out = NULL;
    if (!len) return IBEX_OK;
    col_name(col, name, sizeof name);
    if (off > w->size || len > w->size - off)
        return ibex__fail(diag, IBEX_ERR_INTEGRITY, lib->path, -1,
                          "row %zu column %s: string at %llu (%llu bytes) lies past the %llu bytes of /strings", row,
                          name, (unsigned long long)off, (unsigned long long)len, (unsigned long long)w->size);
    if (len >= SIZE_MAX) return ibex__fail(diag, IBEX_ERR_NOMEM, lib->path, -1, "out of memory");
    if (off < w->base || off + len > w->base + w->n) {
        uint64_t want = w->end > off ? w->end - off : len;
        if (want > POOL_WINDOW) want = POOL_WINDOW;
        if (want < len) want = len;
        if (want > w->size - off) want = w->size - off;
        unsigned char *nb = realloc(w->buf, (size_t)want);
        if (!nb) return ibex__fail(diag, IBEX_ERR_NOMEM, lib->path, -1, "out of memory");
        w->buf = nb;
        w->n = 0;
        hsize_t start = off, cnt = want;
        hid_t fs = H5Dget_space(lib->pool), ms = H5Screate_simple(1, &cnt, NULL);
        int ok = fs >= 0 && ms >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &cnt, NULL) >= 0 &&
                 H5Dread(lib->pool, H5T_NATIVE_UINT8, ms, fs, H5P_DEFAULT, w->buf) >= 0;
        if (!ok) h5msg(b);
        if (ms >= 0) H5Sclose(ms);
        if (fs >= 0) H5Sclose(fs);
        if (!ok)
            return ibex__fail(diag, IBEX_ERR_INTEGRITY, lib->path, -1,
                              "cannot read /strings bytes %llu..%llu (row %zu column %s): %s", (unsigned long long)off,
                              (unsigned long long)(off + want), row, name, b);
        w->base = off;
        w->n = (size_t)want;
    }
    const unsigned char *p = w->buf + (off - w->base);
    if (memchr(p, 0, (size_t)len))
        return ibex__fail(diag, IBEX_ERR_INTEGRITY, lib->path, -1, "row %zu column %s: string holds a NUL byte", row,
                          name);
    char *s = malloc((size_t)len + 1);
    if (!s) return ibex__fail(diag, IBEX_ERR_NOMEM, lib->path, -1, "out of memory");
    memcpy(s, p, (size_t)len);
    s[len] = 0;
    *out = s;
    return IBEX_OK;
}

static int wanted(const int *want, size_t c) { return !want || want[c]; }

/* Reads rows [row0, row0 + cnt): the columns of want (all when NULL) that the table has, into
 * buf (cnt * n_cols() slots, zero for a column the table lacks). The string columns come out
 * in strs[i * n_cols() + c], malloc'd, NULL when empty (the caller frees them); their slots
 * are not for use. On failure nothing stays allocated. */
static ibex_status read_rows(ibex_library *lib, size_t row0, size_t cnt, const int *want, slot *buf, char **strs,
                             ibex_diag *diag)
{
    size_t nc = n_cols();
    char b[256];
    memset(buf, 0, cnt * nc * sizeof *buf);
    memset(strs, 0, cnt * nc * sizeof *strs);
    if (!cnt) return IBEX_OK;
    hid_t ft = H5Dget_type(lib->table);
    hid_t mt = ft >= 0 ? read_type(ft, want, lib->pooled) : -1;
    if (ft >= 0) H5Tclose(ft);
    if (mt < 0) return ibex__fail(diag, IBEX_ERR_FORMAT, lib->path, -1, "/specimens has none of the columns asked for");
    vlen_arena arena;
    memset(&arena, 0, sizeof arena);
    hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
    hsize_t start = row0, count = cnt;
    hid_t fs = H5Dget_space(lib->table), ms = H5Screate_simple(1, &count, NULL);
    ibex_status st = IBEX_OK;
    /* HDF5's type conversion buffers default to 1 MiB, allocated and cleared on every read:
     * most of the time of a one-row read. These rows need no more than their own size. */
    size_t tconv = cnt * nc * sizeof(slot);
    if (tconv > ((size_t)1 << 20)) tconv = (size_t)1 << 20;
    if (tconv < nc * sizeof(slot)) tconv = nc * sizeof(slot);
    if (dxpl < 0 || fs < 0 || ms < 0 || H5Pset_vlen_mem_manager(dxpl, arena_alloc, &arena, arena_free, NULL) < 0 ||
        H5Pset_buffer(dxpl, tconv, NULL, NULL) < 0 ||
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL) < 0 ||
        H5Dread(lib->table, mt, ms, fs, dxpl, buf) < 0) {
        if (cnt == 1)
            st = ibex__fail(diag, IBEX_ERR_INTEGRITY, lib->path, -1, "cannot read /specimens row %zu: %s", row0,
                            h5msg(b));
        else
            st = ibex__fail(diag, IBEX_ERR_INTEGRITY, lib->path, -1, "cannot read /specimens rows %zu..%zu: %s", row0,
                            row0 + cnt - 1, h5msg(b));
    }
    if (st == IBEX_OK && !lib->pooled) {
        for (size_t i = 0; i < cnt && st == IBEX_OK; i++)
            for (size_t c = 0; c < nc && st == IBEX_OK; c++) {
                const char *v = col_type(c) == C_STR && wanted(want, c) ? buf[i * nc + c].s : NULL;
                if (v && v[0] && !(strs[i * nc + c] = ibex__strdup(v)))
                    st = ibex__fail(diag, IBEX_ERR_NOMEM, lib->path, -1, "out of memory");
            }
    } else if (st == IBEX_OK) {
        pool_win w;
        memset(&w, 0, sizeof w);
        hsize_t psize = 0;
        hid_t ps = H5Dget_space(lib->pool);
        if (ps < 0 || H5Sget_simple_extent_ndims(ps) != 1 || H5Sget_simple_extent_dims(ps, &psize, NULL) < 0)
            st = ibex__fail(diag, IBEX_ERR_FORMAT, lib->path, -1, "/strings is not a 1-D byte array");
        if (ps >= 0) H5Sclose(ps);
        w.size = psize;
        for (size_t i = 0; i < cnt * nc; i++)
            if (col_type(i % nc) == C_STR && wanted(want, i % nc) && buf[i].ref.len &&
                buf[i].ref.off <= psize && buf[i].ref.len <= psize - buf[i].ref.off &&
                buf[i].ref.off + buf[i].ref.len > w.end)
                w.end = buf[i].ref.off + buf[i].ref.len;
        for (size_t i = 0; i < cnt * nc && st == IBEX_OK; i++)
            if (col_type(i % nc) == C_STR && wanted(want, i % nc))
                st = pool_get(lib, &w, buf[i].ref.off, buf[i].ref.len, row0 + i / nc, i % nc, &strs[i], diag);
        free(w.buf);
    }
    arena_clear(&arena);
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    if (dxpl >= 0) H5Pclose(dxpl);
    H5Tclose(mt);
    if (st != IBEX_OK)
        for (size_t i = 0; i < cnt * nc; i++) {
            free(strs[i]);
            strs[i] = NULL;
        }
    return st;
}

static void free_strs(char **strs, size_t n)
{
    for (size_t i = 0; i < n; i++) free(strs[i]);
}

/* ---- open ---- */

static ibex_status load_keys(ibex_library *lib, ibex_diag *diag)
{
    size_t nc = n_cols();
    const size_t block = 4096;
    int *want = calloc(nc, sizeof *want);
    slot *buf = calloc(block * nc, sizeof *buf);
    char **strs = calloc(block * nc, sizeof *strs);
    ibex_status st = IBEX_OK;
    if (!want || !buf || !strs) st = ibex__fail(diag, IBEX_ERR_NOMEM, lib->path, -1, "out of memory");
    else want[K_ID] = want[K_SHA] = 1;
    for (size_t r0 = 0; st == IBEX_OK && r0 < lib->count; r0 += block) {
        size_t cnt = lib->count - r0 < block ? lib->count - r0 : block;
        st = read_rows(lib, r0, cnt, want, buf, strs, diag);
        for (size_t i = 0; i < cnt && st == IBEX_OK; i++) {
            const char *id = strs[i * nc + K_ID], *sha = strs[i * nc + K_SHA];
            if ((id && !smap_put(&lib->ids, id, r0 + i)) || (sha && !smap_put(&lib->hashes, sha, r0 + i)))
                st = ibex__fail(diag, IBEX_ERR_NOMEM, lib->path, -1, "out of memory");
        }
        if (strs) free_strs(strs, cnt * nc);
    }
    free(strs);
    free(buf);
    free(want);
    return st;
}

static ibex_status open_h5(ibex_library *lib, const char *expect_params, ibex_diag *diag)
{
    char b[256];
    lib->ctl.mode = lib->writable ? IBEX__J_JOURNAL : IBEX__J_READONLY;
    hid_t fapl = ibex__jvfd_fapl(&lib->ctl);
    if (fapl < 0) return ibex__fail(diag, IBEX_ERR_IO, lib->path, -1, "HDF5 setup failed: %s", h5msg(b));
    lib->file = H5Fopen(lib->path, lib->writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, fapl);
    if (lib->file < 0) h5msg(b);
    H5Pclose(fapl);
    if (lib->file < 0) {
        if (strstr(b, "truncated"))
            return ibex__fail(diag, IBEX_ERR_FORMAT, lib->path, -1, "library file is truncated (%s)", b);
        return ibex__fail(diag, IBEX_ERR_FORMAT, lib->path, -1, "cannot open as HDF5: %s", b);
    }
    char *fmt = attr_read_str(lib->file, "ibex_format");
    uint64_t ver = 0;
    int have_ver = attr_read_u64(lib->file, "schema_version", &ver);
    ibex_status st = IBEX_OK;
    if (!fmt || strcmp(fmt, FORMAT_NAME) != 0 || !have_ver) {
        st = ibex__fail(diag, IBEX_ERR_FORMAT, lib->path, -1,
                        "an HDF5 file but not an IBEX reference library (no ibex_format/schema_version)");
    } else if (ver > IBEX_LIBRARY_SCHEMA_VERSION) {
        st = ibex__fail(diag, IBEX_ERR_UNSUPPORTED, lib->path, -1,
                        "library schema version %llu is newer than this IBEX supports (%d); "
                        "use a newer IBEX",
                        (unsigned long long)ver, IBEX_LIBRARY_SCHEMA_VERSION);
    } else if (ver < 1) {
        st = ibex__fail(diag, IBEX_ERR_FORMAT, lib->path, -1, "bad schema_version %llu", (unsigned long long)ver);
    }
    free(fmt);
    if (st != IBEX_OK) return st;
    lib->table = H5Dopen2(lib->file, "/specimens", H5P_DEFAULT);
    if (lib->table < 0)
        return ibex__fail(diag, IBEX_ERR_FORMAT, lib->path, -1, "missing /specimens table: %s", h5msg(b));
    hid_t sp = H5Dget_space(lib->table), ft;
    hsize_t dims[1] = {0};
    if (H5Sget_simple_extent_ndims(sp) != 1 || H5Sget_simple_extent_dims(sp, dims, NULL) < 0) {
        H5Sclose(sp);
        return ibex__fail(diag, IBEX_ERR_FORMAT, lib->path, -1, "/specimens is not a 1-D table");
    }
    H5Sclose(sp);
    lib->count = (size_t)dims[0];
    /* Schema 3 keeps the strings in /strings; its table cells must be references. */
    lib->pooled = ver >= 3;
    ft = H5Dget_type(lib->table);
    int mi = ft >= 0 ? H5Tget_member_index(ft, "id") : -1;
    hid_t ct = mi >= 0 ? H5Tget_member_type(ft, (unsigned)mi) : -1;
    H5T_class_t want_class = lib->pooled ? H5T_COMPOUND : H5T_STRING;
    int cell_ok = ct >= 0 && H5Tget_class(ct) == want_class;
    if (ct >= 0) H5Tclose(ct);
    if (ft >= 0) H5Tclose(ft);
    if (!cell_ok)
        return ibex__fail(diag, IBEX_ERR_FORMAT, lib->path, -1, "/specimens column id is not %s (schema version %llu)",
                          lib->pooled ? "an /strings reference" : "a variable-length string", (unsigned long long)ver);
    if (lib->pooled && (lib->pool = H5Dopen2(lib->file, "/strings", H5P_DEFAULT)) < 0)
        return ibex__fail(diag, IBEX_ERR_FORMAT, lib->path, -1, "missing /strings: %s", h5msg(b));
    /* What a writer adds to a schema 3 library keeps to its checked structures
     * (docs/reference/library-format.md); older libraries keep the formats they were made with. */
    if (lib->writable && H5Fset_libver_bounds(lib->file, lib->pooled ? H5F_LIBVER_V110 : H5F_LIBVER_EARLIEST,
                                              lib->pooled ? H5F_LIBVER_V110 : H5F_LIBVER_V18) < 0)
        return ibex__fail(diag, IBEX_ERR_IO, lib->path, -1, "HDF5 setup failed: %s", h5msg(b));
    free(lib->params);
    lib->params = NULL;
    if (H5Lexists(lib->file, "/params", H5P_DEFAULT) > 0) {
        hid_t g = H5Gopen2(lib->file, "/params", H5P_DEFAULT);
        if (g >= 0) {
            lib->params = attr_read_str(g, "text");
            H5Gclose(g);
        }
    }
    if (!lib->params && !(lib->params = ibex__strdup("")))
        return ibex__fail(diag, IBEX_ERR_NOMEM, lib->path, -1, "out of memory");
    if (expect_params && strcmp(expect_params, lib->params) != 0)
        return ibex__fail(diag, IBEX_ERR_INTEGRITY, lib->path, -1,
                          "library was built with other preprocessing parameters (stored: \"%.150s\", "
                          "asked: \"%.150s\")",
                          lib->params, expect_params);
    char *layout = attr_read_str(lib->file, "surface_layout");
    lib->packed = layout && !strcmp(layout, "packed");
    free(layout);
    /* The id and hash maps cost a pass over two columns (seconds at 10^6 specimens): a
     * writer needs them for every add, a reader only for a lookup, so it builds them then. */
    lib->keys_loaded = 0;
    if (!lib->writable) return IBEX_OK;
    ibex_status st2 = load_keys(lib, diag);
    lib->keys_loaded = st2 == IBEX_OK;
    return st2;
}

/* Readers: fill the id/hash maps on the first lookup (under the library lock). */
static int ensure_keys(const ibex_library *clib)
{
    ibex_library *lib = (ibex_library *)clib; /* the maps are a cache of the table */
    if (lib->keys_loaded) return 1;
    if (lib->file < 0 || lib->table < 0) return 0;
    smap_free(&lib->ids);
    smap_free(&lib->hashes);
    lib->keys_loaded = load_keys(lib, NULL) == IBEX_OK;
    return lib->keys_loaded;
}

static ibex_status library_open(const char *path, const ibex_library_opts *o, ibex_library **out,
                                ibex_diag *diag)
{
    if (!path || !out) return ibex__fail(diag, IBEX_ERR_ARG, path ? path : "", -1, "no path");
    h5_init();
    ibex_library_opts defo;
    ibex_library_opts_init(&defo);
    if (!ibex__opts_merge(&defo, sizeof defo, o)) return ibex__opts_refused(diag, "ibex_library_opts");
    o = &defo;
    int writable = (o->flags & IBEX_LIBRARY_WRITE) != 0;
    int fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) return ibex__fail(diag, IBEX_ERR_IO, path, -1, "cannot open: %s", strerror(errno));
    struct stat stt;
    if (fstat(fd, &stt) != 0 || !S_ISREG(stt.st_mode)) {
        close(fd);
        return ibex__fail(diag, IBEX_ERR_IO, path, -1, "not a regular file");
    }
    ibex_library *lib = calloc(1, sizeof *lib);
    if (!lib || !(lib->path = ibex__strdup(path))) {
        free(lib);
        close(fd);
        return ibex__fail(diag, IBEX_ERR_NOMEM, path, -1, "out of memory");
    }
    lib->flags = o->flags;
    lib->writable = writable;
    lib->lockfd = fd;
    lib->file = lib->table = lib->pool = -1;
    lib->ctl.jfd = -1;
    lib->ctl.durable = !(o->flags & IBEX_LIBRARY_NOSYNC);
    lib->preprocess = o->preprocess;
    lib->preprocess_user = o->preprocess_user;
    ibex_status st = IBEX_OK;
    char jp[4200];
    ibex__journal_path(path, jp, sizeof jp);
    if (writable) {
        if (set_lock(fd, F_WRLCK, 0, 0) != 0) {
            st = ibex__fail(diag, IBEX_ERR_LIMIT, path, -1,
                            "another process is writing to this library (one writer at a time)");
            goto fail;
        }
        if ((st = txn_begin(lib, diag)) != IBEX_OK) goto fail; /* rolls back a dead writer's journal */
    } else {
        if (set_lock(fd, F_RDLCK, 1, 1) != 0) {
            st = ibex__fail(diag, IBEX_ERR_IO, path, -1, "cannot lock: %s", strerror(errno));
            goto fail;
        }
        if (access(jp, F_OK) == 0) {
            /* A writer died mid-commit (a live one would hold byte 1): undo it, which
             * needs write access and the exclusive lock for a moment. */
            int wfd = open(path, O_RDWR | O_CLOEXEC);
            if (wfd < 0) {
                st = ibex__fail(diag, IBEX_ERR_IO, path, -1,
                                "an interrupted ingest must be rolled back first; open the library "
                                "once with write access");
                goto fail;
            }
            set_lock(fd, F_UNLCK, 1, 0);
            close(fd);
            lib->lockfd = fd = wfd;
            set_lock(fd, F_WRLCK, 1, 1);
            int rec;
            st = ibex__journal_recover(path, &rec, diag);
            set_lock(fd, F_RDLCK, 1, 1); /* downgrade */
            if (st != IBEX_OK) goto fail;
        }
    }
    st = open_h5(lib, o->params, diag);
    if (st != IBEX_OK) goto fail;
    if (writable) {
        if (H5Fflush(lib->file, H5F_SCOPE_GLOBAL) < 0) {
            st = fail_h5(lib, diag, IBEX_ERR_IO, "open");
            goto fail;
        }
        if ((st = txn_commit(lib, diag)) != IBEX_OK) goto fail;
    }
    *out = lib;
    return IBEX_OK;
fail:
    lib->ctl.poisoned = 1;
    close_h5(lib);
    if (lib->ctl.in_txn) {
        int rec;
        ibex_diag d2;
        ibex__journal_forget(&lib->ctl);
        ibex__journal_recover(path, &rec, &d2);
    }
    smap_free(&lib->ids);
    smap_free(&lib->hashes);
    free(lib->params);
    free(lib->path);
    close(lib->lockfd);
    free(lib);
    return st;
}

ibex_status ibex_library_open(const char *path, const ibex_library_opts *o, ibex_library **out,
                              ibex_diag *diag)
{
    /* Classify files that are not HDF5 at all before HDF5 sees them. */
    if (path) {
        char jp[4200];
        FILE *f = fopen(path, "rb");
        if (f) {
            unsigned char sig[8] = {0};
            size_t n = fread(sig, 1, 8, f);
            fclose(f);
            ibex__journal_path(path, jp, sizeof jp);
            if ((n < 8 || memcmp(sig, "\x89HDF\r\n\x1a\n", 8) != 0) && access(jp, F_OK) != 0)
                return ibex__fail(diag, IBEX_ERR_FORMAT, path, 0,
                                  n == 0 ? "empty file, not an IBEX library" : "not an HDF5 file");
        }
    }
    ibex__library_lock();
    ibex_status st = library_open(path, o, out, diag);
    ibex__library_unlock();
    return st;
}

/* ---- create ---- */

static hid_t create_dcpl(int rank, const hsize_t *chunk, int compress)
{
    hid_t p = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(p, rank, chunk);
    if (compress) {
        H5Pset_shuffle(p);
        H5Pset_deflate(p, 4);
    }
    H5Pset_fletcher32(p);
    return p;
}

/* Schema 3 keeps attributes in the (checksummed) object header, not in dense attribute
 * storage, as long as each fits in one (64 KiB): dense storage keeps values over 4 KiB in
 * fractal-heap "huge objects", which have no checksum. */
static hid_t make_group(hid_t loc, const char *name, int legacy)
{
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    if (gcpl >= 0 && !legacy) H5Pset_attr_phase_change(gcpl, 65535, 0);
    hid_t g = gcpl >= 0 ? H5Gcreate2(loc, name, H5P_DEFAULT, gcpl, H5P_DEFAULT) : -1;
    if (gcpl >= 0) H5Pclose(gcpl);
    return g;
}

static int write_params(hid_t file, const char *params, int legacy)
{
    hid_t g = make_group(file, "/params", legacy);
    if (g < 0) return 0;
    int ok = attr_write_str(g, "text", params);
    /* Also one attribute per key=value line, for people reading with h5dump. */
    char *copy = ibex__strdup(params);
    for (char *save = NULL, *line = copy ? strtok_r(copy, "\n", &save) : NULL; ok && line;
         line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        if (!eq || eq == line) continue;
        *eq = 0;
        if (strcmp(line, "text") != 0) ok = attr_write_str(g, line, eq + 1);
    }
    free(copy);
    H5Gclose(g);
    return ok;
}

/* legacy: schema 1 (2 when packed) as IBEX wrote it before schema 3, for tests of reading
 * and writing old libraries. */
static int build_schema(hid_t file, const char *params, int packed, int legacy)
{
    uint32_t ver = legacy ? (packed ? 2 : 1) : 3;
    char now[32];
    iso_time(time(NULL), now, sizeof now);
    int ok = attr_write_str(file, "ibex_format", FORMAT_NAME) &&
             attr_write_num(file, "schema_version", H5T_STD_U32LE, H5T_NATIVE_UINT32, &ver) &&
             attr_write_str(file, "ibex_version", IBEX_VERSION_STRING) && attr_write_str(file, "created", now) &&
             attr_write_str(file, "surface_layout", packed ? "packed" : "groups") &&
             write_params(file, params, legacy);
    if (!ok) return 0;
    hsize_t zero = 0, unlim = H5S_UNLIMITED, chunk = TABLE_CHUNK;
    hid_t sp = H5Screate_simple(1, &zero, &unlim);
    hid_t dcpl = create_dcpl(1, &chunk, 1);
    hid_t ft = row_type(1, !legacy);
    hid_t d = H5Dcreate2(file, "/specimens", ft, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    ok = d >= 0 && attr_write_str(d, "description", "one row per specimen; row r's surface is at the path in column 'surface'");
    if (d >= 0) H5Dclose(d);
    H5Tclose(ft);
    H5Pclose(dcpl);
    if (ok && !legacy) {
        hsize_t pchunk = STRINGS_CHUNK;
        dcpl = create_dcpl(1, &pchunk, 0);
        H5Pset_deflate(dcpl, 4);
        d = H5Dcreate2(file, "/strings", H5T_STD_U8LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        ok = d >= 0 && attr_write_str(d, "description",
                                      "UTF-8 bytes of the table's strings; a string cell (offset, length) is "
                                      "bytes [offset, offset + length)");
        if (d >= 0) H5Dclose(d);
        H5Pclose(dcpl);
    }
    H5Sclose(sp);
    if (!ok) return 0;
    hid_t g = H5Gcreate2(file, "/surfaces", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return 0;
    H5Gclose(g);
    g = make_group(file, "/index", legacy);
    if (g < 0) return 0;
    ok = attr_write_str(g, "description", "descriptors: N x d float32, row r = specimen row r (filled by ibex index)");
    hsize_t dims[2] = {0, 0}, maxd[2] = {H5S_UNLIMITED, H5S_UNLIMITED}, ch[2] = {1024, 64};
    sp = H5Screate_simple(2, dims, maxd);
    if (legacy) {
        dcpl = H5Pcreate(H5P_DATASET_CREATE);
        H5Pset_chunk(dcpl, 2, ch);
    } else {
        dcpl = create_dcpl(2, ch, 0);
    }
    d = H5Dcreate2(g, "descriptors", H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    ok = ok && d >= 0;
    if (d >= 0) H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
    H5Gclose(g);
    return ok;
}

ibex_status ibex__library_create_format(const char *path, const ibex_library_opts *o, int legacy,
                                       ibex_library **out, ibex_diag *diag)
{
    if (!path || !out) return ibex__fail(diag, IBEX_ERR_ARG, path ? path : "", -1, "no path");
    ibex_library_opts wo;
    ibex_library_opts_init(&wo);
    if (!ibex__opts_merge(&wo, sizeof wo, o)) return ibex__opts_refused(diag, "ibex_library_opts");
    o = &wo;
    if (access(path, F_OK) == 0) return ibex__fail(diag, IBEX_ERR_IO, path, -1, "already exists");
    char tmp[4200];
    ibex_status st0 = ibex__atomic_begin(path, tmp, sizeof tmp, diag);
    if (st0) return st0;
    ibex__library_lock();
    h5_init();
    ibex__jctl ctl;
    memset(&ctl, 0, sizeof ctl);
    ctl.mode = IBEX__J_SCRATCH;
    ctl.jfd = -1;
    hid_t fapl = ibex__jvfd_fapl(&ctl);
    /* Schema 3: the 1.8 superblock (version 2) and object headers (version 2), both
     * checksummed, then the 1.10 chunk indexes (extensible and fixed arrays, version-2
     * B-trees; checksummed, where the 1.8 version-1 B-tree is not) for every dataset. Not
     * the 1.10 superblock (version 3): it records "open for writing" in the file, so a
     * killed writer would leave a library that nothing opens until h5clear. */
    if (fapl >= 0 && H5Pset_libver_bounds(fapl, legacy ? H5F_LIBVER_EARLIEST : H5F_LIBVER_V18,
                                          legacy ? H5F_LIBVER_V18 : H5F_LIBVER_V110) < 0) {
        H5Pclose(fapl);
        fapl = -1;
    }
    hid_t f = fapl >= 0 ? H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl) : -1;
    if (fapl >= 0) H5Pclose(fapl);
    char b[256];
    int ok = f >= 0 && (legacy || H5Fset_libver_bounds(f, H5F_LIBVER_V110, H5F_LIBVER_V110) >= 0) &&
             build_schema(f, o->params ? o->params : "", (o->flags & IBEX_LIBRARY_PACKED) != 0, legacy);
    if (!ok) h5msg(b);
    if (f >= 0 && H5Fclose(f) < 0 && ok) {
        ok = 0;
        h5msg(b);
    }
    ibex__library_unlock();
    if (!ok || ctl.poisoned) {
        unlink(tmp);
        if (ctl.poisoned) return ibex__fail(diag, IBEX_ERR_IO, path, -1, "%s failed: %s", ctl.what, strerror(ctl.err));
        return ibex__fail(diag, IBEX_ERR_IO, path, -1, "cannot create library: %s", b);
    }
    int fd = open(tmp, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    /* link() never replaces: a library created meanwhile by someone else wins. */
    if (link(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return ibex__fail(diag, IBEX_ERR_IO, path, -1, e == EEXIST ? "already exists" : "cannot create: %s",
                          strerror(e));
    }
    unlink(tmp);
    wo.flags |= IBEX_LIBRARY_WRITE;
    return ibex_library_open(path, &wo, out, diag);
}

ibex_status ibex_library_create(const char *path, const ibex_library_opts *o, ibex_library **out,
                                ibex_diag *diag)
{
    return ibex__library_create_format(path, o, 0, out, diag);
}

ibex_status ibex_library_close(ibex_library *lib, ibex_diag *diag)
{
    if (!lib) return IBEX_OK;
    ibex__library_lock();
    ibex_status st = IBEX_OK;
    if (lib->writable) {
        /* Closing writes (superblock, free space): do it inside a transaction too. */
        st = txn_begin(lib, diag);
        if (st == IBEX_OK) {
            close_h5(lib);
            if (lib->ctl.poisoned) {
                st = ibex__fail(diag, IBEX_ERR_IO, lib->path, -1, "%s failed: %s", lib->ctl.what,
                                strerror(lib->ctl.err));
                int rec;
                ibex_diag d2;
                ibex__journal_forget(&lib->ctl);
                ibex__journal_recover(lib->path, &rec, &d2);
            } else {
                st = ibex__journal_commit(&lib->ctl, lib->path, lib->lockfd, diag);
                if (st != IBEX_OK) {
                    int rec;
                    ibex_diag d2;
                    ibex__journal_forget(&lib->ctl);
                    ibex__journal_recover(lib->path, &rec, &d2);
                }
            }
        } else {
            lib->ctl.poisoned = 1;
            close_h5(lib);
        }
    } else {
        close_h5(lib);
    }
    ibex__library_unlock();
    smap_free(&lib->ids);
    smap_free(&lib->hashes);
    free(lib->params);
    free(lib->path);
    close(lib->lockfd); /* releases the locks */
    free(lib);
    return st;
}

ibex_status ibex_library_begin(ibex_library *lib, ibex_diag *diag)
{
    if (!lib || !lib->writable) return ibex__fail(diag, IBEX_ERR_ARG, lib ? lib->path : "", -1, "library not open for writing");
    ibex__library_lock();
    ibex_status st = txn_begin(lib, diag);
    if (st == IBEX_OK) lib->explicit_txn = 1;
    ibex__library_unlock();
    return st;
}

ibex_status ibex_library_commit(ibex_library *lib, ibex_diag *diag)
{
    if (!lib || !lib->writable) return ibex__fail(diag, IBEX_ERR_ARG, lib ? lib->path : "", -1, "library not open for writing");
    ibex__library_lock();
    ibex_status st = txn_commit(lib, diag);
    ibex__library_unlock();
    return st;
}

ibex_status ibex_library_prepare(const ibex_library *lib, const ibex_surface *in, ibex_surface **out,
                                 ibex_diag *diag)
{
    if (!lib || !in || !out) return IBEX_ERR_ARG;
    if (lib->preprocess) return lib->preprocess(in, out, lib->preprocess_user, diag);
    return ibex_surface_copy(in, out);
}

/* ---- add ---- */

static int valid_hex64(const char *h)
{
    for (int i = 0; i < 64; i++)
        if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f'))) return 0;
    return h[64] == 0;
}

static hid_t ensure_group(hid_t file, const char *path)
{
    if (H5Lexists(file, path, H5P_DEFAULT) > 0) return H5Gopen2(file, path, H5P_DEFAULT);
    return H5Gcreate2(file, path, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
}

static int write_surface(hid_t g, const ibex_surface *s, const char *id)
{
    hsize_t dims[2] = {s->ny, s->nx};
    hsize_t ch[2] = {s->ny < 256 ? s->ny : 256, s->nx < 256 ? s->nx : 256};
    hid_t sp = H5Screate_simple(2, dims, NULL);
    hid_t dcpl = create_dcpl(2, ch, 1);
    hid_t dz = H5Dcreate2(g, "height", H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    int ok = dz >= 0 && H5Dwrite(dz, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, s->z) >= 0 &&
             attr_write_str(dz, "units", s->zkind == IBEX_Z_HEIGHT ? "m" : "1");
    if (dz >= 0) H5Dclose(dz);
    hid_t dm = ok ? H5Dcreate2(g, "mask", H5T_STD_U8LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT) : -1;
    ok = ok && dm >= 0 && H5Dwrite(dm, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, s->valid) >= 0;
    if (dm >= 0) H5Dclose(dm);
    H5Pclose(dcpl);
    H5Sclose(sp);
    uint8_t zk = (uint8_t)s->zkind;
    ok = ok && attr_write_num(g, "dx", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &s->dx) &&
         attr_write_num(g, "dy", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &s->dy) &&
         attr_write_num(g, "x0", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &s->x0) &&
         attr_write_num(g, "y0", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &s->y0) &&
         attr_write_num(g, "zkind", H5T_STD_U8LE, H5T_NATIVE_UINT8, &zk) && attr_write_str(g, "id", id);
    return ok;
}

/* Checks one specimen against the library and the earlier ones of its batch. */
static ibex_status check_spec(ibex_library *lib, const ibex_specimen *sp, const ibex_surface *s, smap *bid,
                              smap *bhash, ibex_diag *diag)
{
    if (!sp || !sp->id || !sp->id[0]) return ibex__fail(diag, IBEX_ERR_ARG, lib->path, -1, "specimen has no id");
    if (!valid_hex64(sp->sha256))
        return ibex__fail(diag, IBEX_ERR_ARG, lib->path, -1, "specimen %s: sha256 must be 64 lower-case hex digits", sp->id);
    if (!s || !s->z || !s->valid || !s->nx || !s->ny)
        return ibex__fail(diag, IBEX_ERR_ARG, lib->path, -1, "specimen %s: empty surface", sp->id);
    size_t dup;
    if (smap_get(&lib->ids, sp->id, &dup) || smap_get(bid, sp->id, &dup))
        return ibex__fail(diag, IBEX_ERR_INTEGRITY, lib->path, -1, "duplicate id '%s' (already row %zu)", sp->id, dup);
    if (smap_get(&lib->hashes, sp->sha256, &dup) || smap_get(bhash, sp->sha256, &dup))
        return ibex__fail(diag, IBEX_ERR_INTEGRITY, lib->path, -1, "duplicate scan of '%s' (same sha256 as row %zu)",
                          sp->id, dup);
    size_t row = lib->count + bid->n;
    if (!smap_put(bid, sp->id, row) || !smap_put(bhash, sp->sha256, row))
        return ibex__fail(diag, IBEX_ERR_NOMEM, lib->path, -1, "out of memory");
    return IBEX_OK;
}

/* Surfaces of rows [row0, row0+n): packed stacks (runs of one size) or one group each. */
static int write_surfaces(ibex_library *lib, const ibex_specimen *sp, const ibex_surface *const *s, size_t n,
                          size_t row0, char (*gpath)[96], uint64_t *sidx)
{
    if (lib->packed) {
        const float **z = malloc((n ? n : 1) * sizeof *z);
        const uint8_t **v = malloc((n ? n : 1) * sizeof *v);
        int ok = z && v;
        for (size_t i = 0; ok && i < n;) {
            size_t j = i;
            while (j < n && s[j]->nx == s[i]->nx && s[j]->ny == s[i]->ny) {
                z[j - i] = s[j]->z;
                v[j - i] = s[j]->valid;
                j++;
            }
            uint64_t first = 0;
            ok = ibex__stack_append(lib->file, s[i]->nx, s[i]->ny, j - i, z, v, &first);
            for (size_t k = i; ok && k < j; k++) {
                ibex__stack_path(s[i]->nx, s[i]->ny, gpath[k], sizeof gpath[k]);
                sidx[k] = first + (k - i);
            }
            i = j;
        }
        free(z);
        free(v);
        return ok;
    }
    for (size_t i = 0; i < n; i++) {
        size_t row = row0 + i;
        char bucket[64];
        snprintf(bucket, sizeof bucket, "/surfaces/b%06zu", row / SURF_BUCKET);
        snprintf(gpath[i], sizeof gpath[i], "%s/s%09zu", bucket, row);
        sidx[i] = 0;
        hid_t bg = ensure_group(lib->file, bucket);
        hid_t g = bg >= 0 ? H5Gcreate2(bg, gpath[i] + strlen(bucket) + 1, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
        int ok = g >= 0 && write_surface(g, s[i], sp[i].id);
        if (g >= 0) H5Gclose(g);
        if (bg >= 0) H5Gclose(bg);
        if (!ok) return 0;
    }
    return 1;
}

/* Appends n bytes to /strings (one extent change, one write); *off gets where they start. */
static int pool_append(ibex_library *lib, const char *bytes, size_t n, uint64_t *off)
{
    hid_t fs = H5Dget_space(lib->pool);
    hsize_t size = 0;
    int ok = fs >= 0 && H5Sget_simple_extent_dims(fs, &size, NULL) == 1;
    if (fs >= 0) H5Sclose(fs);
    *off = size;
    if (!ok || !n) return ok;
    hsize_t newsize = size + n, cnt = n;
    ok = H5Dset_extent(lib->pool, &newsize) >= 0;
    fs = ok ? H5Dget_space(lib->pool) : -1;
    hid_t ms = ok ? H5Screate_simple(1, &cnt, NULL) : -1;
    ok = ok && fs >= 0 && ms >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, &size, NULL, &cnt, NULL) >= 0 &&
         H5Dwrite(lib->pool, H5T_NATIVE_UINT8, ms, fs, H5P_DEFAULT, bytes) >= 0;
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    return ok;
}

/* Schema 3: the strings of the rows go to /strings, row after row, and their cells become
 * references (0, 0 for an empty string). strs[i] is the string of cell i, NULL = empty. */
static int pool_strings(ibex_library *lib, slot *r, const char *const *strs, size_t ncells)
{
    size_t nc = n_cols(), total = 0;
    for (size_t i = 0; i < ncells; i++)
        if (col_type(i % nc) == C_STR && strs[i]) total += strlen(strs[i]);
    char *bytes = malloc(total ? total : 1);
    if (!bytes) return 0;
    uint64_t base = 0;
    size_t at = 0;
    for (size_t i = 0; i < ncells; i++) {
        size_t len = col_type(i % nc) == C_STR && strs[i] ? strlen(strs[i]) : 0;
        if (len) memcpy(bytes + at, strs[i], len);
        at += len;
    }
    int ok = pool_append(lib, bytes, total, &base);
    free(bytes);
    at = 0;
    for (size_t i = 0; ok && i < ncells; i++) {
        if (col_type(i % nc) != C_STR) continue;
        size_t len = strs[i] ? strlen(strs[i]) : 0;
        r[i].ref.off = len ? base + at : 0;
        r[i].ref.len = len;
        at += len;
    }
    return ok;
}

/* The table rows of a batch, in one extent change and one write. */
static int write_rows(ibex_library *lib, const ibex_specimen *sp, const ibex_surface *const *s, size_t n,
                      size_t row0, char (*gpath)[96], const uint64_t *sidx)
{
    size_t nc = n_cols();
    slot *r = calloc(n * nc, sizeof *r);
    const char **strs = calloc(n * nc, sizeof *strs);
    if (!r || !strs) {
        free(r);
        free(strs);
        return 0;
    }
    int64_t now = (int64_t)time(NULL);
    for (size_t i = 0; i < n; i++) {
        slot *x = r + i * nc;
        const char **v = strs + i * nc;
        const ibex_specimen *p = &sp[i];
        ibex_surface_stats stt;
        ibex_surface_get_stats(s[i], &stt);
        v[K_ID] = p->id;
        v[K_KIND] = p->kind;
        v[K_REGION] = p->region;
        v[K_SHA] = p->sha256;
        v[K_SRC] = p->source_path;
        v[K_SET] = p->set;
        v[K_FIREARM] = p->firearm_id;
        v[K_SSK] = p->same_source_key;
        v[K_SURFACE] = gpath[i];
        for (size_t k = 0; k < ibex_meta_count(); k++) v[N_FIXED + k] = ibex_meta_get(&p->meta, ibex_meta_key(k));
        x[K_TIME].i = p->ingest_time ? p->ingest_time : now;
        x[K_NX].u = s[i]->nx;
        x[K_NY].u = s[i]->ny;
        x[K_DX].f = s[i]->dx;
        x[K_DY].f = s[i]->dy;
        x[K_X0].f = s[i]->x0;
        x[K_Y0].f = s[i]->y0;
        x[K_ZKIND].b = (uint8_t)s[i]->zkind;
        x[K_NVALID].u = stt.n_valid;
        x[K_SURFIDX].u = sidx[i];
    }
    int ok = 1;
    if (lib->pooled) {
        ok = pool_strings(lib, r, strs, n * nc);
    } else {
        static char empty[] = "";
        for (size_t i = 0; i < n * nc; i++)
            if (col_type(i % nc) == C_STR) r[i].s = strs[i] ? (char *)strs[i] : empty;
    }
    /* Memory type of the columns this file has (an older table may lack new ones). */
    hid_t ft = H5Dget_type(lib->table);
    hid_t mt = read_type(ft, NULL, lib->pooled);
    H5Tclose(ft);
    hsize_t newsize = row0 + n, start = row0, cnt = n;
    ok = ok && mt >= 0 && H5Dset_extent(lib->table, &newsize) >= 0;
    if (ok) {
        hid_t fs = H5Dget_space(lib->table);
        hid_t ms = H5Screate_simple(1, &cnt, NULL);
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &cnt, NULL);
        ok = H5Dwrite(lib->table, mt, ms, fs, H5P_DEFAULT, r) >= 0;
        H5Sclose(ms);
        H5Sclose(fs);
    }
    if (mt >= 0) H5Tclose(mt);
    free(strs);
    free(r);
    return ok;
}

static ibex_status add_batch_locked(ibex_library *lib, const ibex_specimen *sp, const ibex_surface *const *s,
                                    size_t n, size_t *row_out, ibex_diag *diag)
{
    if (!lib->writable) return ibex__fail(diag, IBEX_ERR_ARG, lib->path, -1, "library not open for writing");
    if (!n) return IBEX_OK;
    if (!sp || !s) return ibex__fail(diag, IBEX_ERR_ARG, lib->path, -1, "no specimens");
    smap bid, bhash;
    memset(&bid, 0, sizeof bid);
    memset(&bhash, 0, sizeof bhash);
    ibex_status st = IBEX_OK;
    for (size_t i = 0; i < n && st == IBEX_OK; i++) st = check_spec(lib, &sp[i], s[i], &bid, &bhash, diag);
    smap_free(&bid);
    smap_free(&bhash);
    if (st != IBEX_OK) return st;
    if (lib->ctl.poisoned) txn_abort(lib);
    if (lib->file < 0) return ibex__fail(diag, IBEX_ERR_IO, lib->path, -1, "library could not be reopened after a failure");
    int auto_txn = !lib->ctl.in_txn;
    if ((st = txn_begin(lib, diag)) != IBEX_OK) return st;
    size_t row0 = lib->count;
    char(*gpath)[96] = calloc(n, sizeof *gpath);
    uint64_t *sidx = calloc(n, sizeof *sidx);
    if (!gpath || !sidx) {
        free(gpath);
        free(sidx);
        txn_abort(lib);
        return ibex__fail(diag, IBEX_ERR_NOMEM, lib->path, -1, "out of memory");
    }
    int ok = write_surfaces(lib, sp, s, n, row0, gpath, sidx) && write_rows(lib, sp, s, n, row0, gpath, sidx);
    free(gpath);
    free(sidx);
    if (!ok || lib->ctl.poisoned) {
        st = fail_h5(lib, diag, IBEX_ERR_IO, n == 1 ? sp[0].id : "batch");
        txn_abort(lib);
        return st;
    }
    for (size_t i = 0; i < n; i++)
        if (!smap_put(&lib->ids, sp[i].id, row0 + i) || !smap_put(&lib->hashes, sp[i].sha256, row0 + i)) {
            txn_abort(lib);
            return ibex__fail(diag, IBEX_ERR_NOMEM, lib->path, -1, "out of memory");
        }
    lib->count = row0 + n;
    if (auto_txn && (st = txn_commit(lib, diag)) != IBEX_OK) return st;
    if (row_out) *row_out = row0;
    return IBEX_OK;
}

ibex_status ibex_library_add(ibex_library *lib, const ibex_specimen *spec, const ibex_surface *s, size_t *row,
                             ibex_diag *diag)
{
    if (!lib) return IBEX_ERR_ARG;
    ibex__library_lock();
    ibex_status st = add_batch_locked(lib, spec, &s, 1, row, diag);
    ibex__library_unlock();
    return st;
}

ibex_status ibex_library_add_batch(ibex_library *lib, const ibex_specimen *specs, const ibex_surface *const *s,
                                   size_t n, size_t *row0, ibex_diag *diag)
{
    if (!lib) return IBEX_ERR_ARG;
    ibex__library_lock();
    ibex_status st = add_batch_locked(lib, specs, s, n, row0, diag);
    ibex__library_unlock();
    return st;
}

/* ---- read ---- */

size_t ibex_library_count(const ibex_library *lib) { return lib ? lib->count : 0; }
const char *ibex_library_params(const ibex_library *lib) { return lib ? lib->params : NULL; }

/* Locked: ingest workers look up hashes while the main thread adds. */
int ibex_library_find_hash(const ibex_library *lib, const char *sha256_hex, size_t *row)
{
    if (!lib || !sha256_hex) return 0;
    ibex__library_lock();
    int r = ensure_keys(lib) && smap_get(&lib->hashes, sha256_hex, row);
    ibex__library_unlock();
    return r;
}

int ibex_library_find_id(const ibex_library *lib, const char *id, size_t *row)
{
    if (!lib || !id) return 0;
    ibex__library_lock();
    int r = ensure_keys(lib) && smap_get(&lib->ids, id, row);
    ibex__library_unlock();
    return r;
}

/* One whole row: its slots and its strings (n_cols() of each, calloc'd; free both, and
 * each string, also on failure: read_rows then leaves the strings NULL). */
static ibex_status read_row(ibex_library *lib, size_t row, slot **r, char ***strs, ibex_diag *diag)
{
    size_t nc = n_cols();
    *r = calloc(nc, sizeof **r);
    *strs = calloc(nc, sizeof **strs);
    if (!*r || !*strs) return ibex__fail(diag, IBEX_ERR_NOMEM, lib->path, -1, "out of memory");
    if (row >= lib->count)
        return ibex__fail(diag, IBEX_ERR_ARG, lib->path, -1, "row %zu out of range (%zu specimens)", row, lib->count);
    return read_rows(lib, row, 1, NULL, *r, *strs, diag);
}

static void free_row(slot *r, char **strs)
{
    if (strs) free_strs(strs, n_cols());
    free(strs);
    free(r);
}

/* Moves a string out of strs (NULL stays NULL). */
static char *take(char **strs, size_t c)
{
    char *v = strs[c];
    strs[c] = NULL;
    return v;
}

ibex_status ibex_library_get_info(ibex_library *lib, size_t row, ibex_specimen *out, ibex_diag *diag)
{
    if (!lib || !out) return IBEX_ERR_ARG;
    slot *r = NULL;
    char **v = NULL;
    ibex__library_lock();
    ibex_status st = read_row(lib, row, &r, &v, diag);
    if (st == IBEX_OK) {
        ibex_specimen sp;
        memset(&sp, 0, sizeof sp);
        sp.id = take(v, K_ID);
        sp.kind = take(v, K_KIND);
        sp.region = take(v, K_REGION);
        sp.source_path = take(v, K_SRC);
        sp.set = take(v, K_SET);
        sp.firearm_id = take(v, K_FIREARM);
        sp.same_source_key = take(v, K_SSK);
        if (v[K_SHA]) snprintf(sp.sha256, sizeof sp.sha256, "%s", v[K_SHA]);
        sp.ingest_time = r[K_TIME].i;
        sp.nx = (size_t)r[K_NX].u;
        sp.ny = (size_t)r[K_NY].u;
        sp.dx = r[K_DX].f;
        sp.dy = r[K_DY].f;
        sp.n_valid = (size_t)r[K_NVALID].u;
        int okm = 1;
        for (size_t k = 0; k < ibex_meta_count(); k++)
            if (v[N_FIXED + k] && ibex_meta_set(&sp.meta, ibex_meta_key(k), v[N_FIXED + k]) != IBEX_OK) okm = 0;
        if (!okm || !sp.id) {
            ibex_specimen_clear(&sp);
            st = okm ? ibex__fail(diag, IBEX_ERR_FORMAT, lib->path, -1, "row %zu has no id", row)
                     : ibex__fail(diag, IBEX_ERR_FORMAT, lib->path, -1, "row %zu: a metadata field cannot be kept", row);
        } else {
            *out = sp;
        }
    }
    ibex__library_unlock();
    free_row(r, v);
    return st;
}

ibex_status ibex_library_get_surface(ibex_library *lib, size_t row, ibex_surface **out, ibex_diag *diag)
{
    if (!lib || !out) return IBEX_ERR_ARG;
    slot *r = NULL;
    char **v = NULL;
    ibex__library_lock();
    char b[256], gpath[128] = "";
    ibex_surface *s = NULL;
    ibex_status st = read_row(lib, row, &r, &v, diag);
    if (st != IBEX_OK) goto out;
    size_t nx = (size_t)r[K_NX].u, ny = (size_t)r[K_NY].u;
    if (v[K_SURFACE]) snprintf(gpath, sizeof gpath, "%s", v[K_SURFACE]);
    double x0 = r[K_X0].f, y0 = r[K_Y0].f;
    int zk = r[K_ZKIND].b;
    uint64_t sidx = r[K_SURFIDX].u;
    st = ibex_surface_create(nx, ny, r[K_DX].f, r[K_DY].f, &s);
    if (st == IBEX_OK)
        for (size_t k = 0; k < ibex_meta_count(); k++)
            if (v[N_FIXED + k]) ibex_meta_set(&s->meta, ibex_meta_key(k), v[N_FIXED + k]);
    if (st != IBEX_OK) {
        st = ibex__fail(diag, st, lib->path, -1, "row %zu: bad surface size %zu x %zu", row, nx, ny);
        goto out;
    }
    s->x0 = x0;
    s->y0 = y0;
    s->zkind = zk == 1 ? IBEX_Z_INTENSITY : IBEX_Z_HEIGHT;
    char dpath[160];
    const char *names[2] = {"height", "mask"};
    char serr[200];
    int stacked = ibex__stack_read(lib->file, gpath, sidx, nx, ny, s->z, s->valid, serr, sizeof serr);
    if (stacked < 0) st = ibex__fail(diag, IBEX_ERR_INTEGRITY, lib->path, -1, "row %zu: %s", row, serr);
    for (int k = 0; k < 2 && st == IBEX_OK && !stacked; k++) {
        snprintf(dpath, sizeof dpath, "%s/%s", gpath, names[k]);
        hid_t d = H5Dopen2(lib->file, dpath, H5P_DEFAULT);
        if (d < 0) {
            st = ibex__fail(diag, IBEX_ERR_FORMAT, lib->path, -1, "row %zu: missing %s: %s", row, dpath, h5msg(b));
            break;
        }
        hid_t sp = H5Dget_space(d);
        hsize_t dims[2] = {0, 0};
        if (H5Sget_simple_extent_ndims(sp) != 2 || H5Sget_simple_extent_dims(sp, dims, NULL) < 0 || dims[0] != ny ||
            dims[1] != nx) {
            st = ibex__fail(diag, IBEX_ERR_FORMAT, lib->path, -1, "row %zu: %s is not %zu x %zu", row, dpath, ny, nx);
        } else if (H5Dread(d, k == 0 ? H5T_NATIVE_FLOAT : H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                           k == 0 ? (void *)s->z : (void *)s->valid) < 0) {
            st = ibex__fail(diag, IBEX_ERR_INTEGRITY, lib->path, -1, "row %zu: corrupted data in %s: %s", row, dpath,
                            h5msg(b));
        }
        H5Sclose(sp);
        H5Dclose(d);
    }
    if (st == IBEX_OK) {
        /* Keep the invariant valid <=> finite even if the file was edited by hand. */
        for (size_t i = 0; i < nx * ny; i++)
            if (!s->valid[i] || !isfinite(s->z[i])) {
                s->valid[i] = 0;
                s->z[i] = NAN;
            }
        *out = s;
    } else {
        ibex_surface_free(s);
    }
out:
    ibex__library_unlock();
    free_row(r, v);
    return st;
}

ibex_status ibex_library_column_read(ibex_library *lib, const char *column, size_t row0, size_t n, char **out,
                                     ibex_diag *diag)
{
    if (!lib || !column || (!out && n)) return IBEX_ERR_ARG;
    if (row0 > lib->count || n > lib->count - row0)
        return ibex__fail(diag, IBEX_ERR_ARG, lib->path, -1, "rows %zu..%zu past the %zu specimens", row0, row0 + n,
                          lib->count);
    int c = str_col_index(column);
    ibex__library_lock();
    hid_t ft = H5Dget_type(lib->table);
    int in_file = c >= 0 && ft >= 0 && H5Tget_member_index(ft, column) >= 0;
    if (ft >= 0) H5Tclose(ft);
    size_t nc = n_cols();
    /* 4096 rows per read: HDF5 converts just this column of each chunk. */
    const size_t block = 4096;
    int *want = in_file ? calloc(nc, sizeof *want) : NULL;
    slot *buf = in_file ? calloc(block * nc, sizeof *buf) : NULL;
    char **strs = in_file ? calloc(block * nc, sizeof *strs) : NULL;
    ibex_status st = IBEX_OK;
    size_t done = 0;
    if (!in_file)
        st = ibex__fail(diag, IBEX_ERR_FORMAT, lib->path, -1, "/specimens has no string column '%s'", column);
    else if (!want || !buf || !strs)
        st = ibex__fail(diag, IBEX_ERR_NOMEM, lib->path, -1, "out of memory");
    else
        want[c] = 1;
    for (size_t r0 = 0; st == IBEX_OK && r0 < n; r0 += block) {
        size_t cnt = n - r0 < block ? n - r0 : block;
        if ((st = read_rows(lib, row0 + r0, cnt, want, buf, strs, diag)) != IBEX_OK) break;
        for (size_t i = 0; i < cnt; i++) out[r0 + i] = take(strs, i * nc + (size_t)c);
        done = r0 + cnt;
    }
    free(strs);
    free(buf);
    free(want);
    ibex__library_unlock();
    if (st != IBEX_OK)
        for (size_t i = 0; i < done; i++) {
            free(out[i]);
            out[i] = NULL;
        }
    return st;
}

/* ---- index placeholder ---- */

static hid_t open_desc(ibex_library *lib, hsize_t dims[2])
{
    hid_t d = H5Dopen2(lib->file, "/index/descriptors", H5P_DEFAULT);
    if (d < 0) return -1;
    hid_t sp = H5Dget_space(d);
    if (H5Sget_simple_extent_ndims(sp) != 2 || H5Sget_simple_extent_dims(sp, dims, NULL) < 0) {
        H5Sclose(sp);
        H5Dclose(d);
        return -1;
    }
    H5Sclose(sp);
    return d;
}

ibex_status ibex_library_index_get_shape(ibex_library *lib, size_t *n, size_t *d, ibex_diag *diag)
{
    if (!lib || !n || !d) return IBEX_ERR_ARG;
    ibex__library_lock();
    hsize_t dims[2];
    hid_t ds = open_desc(lib, dims);
    ibex_status st = IBEX_OK;
    if (ds < 0) {
        char b[256];
        st = ibex__fail(diag, IBEX_ERR_FORMAT, lib->path, -1, "missing /index/descriptors: %s", h5msg(b));
    } else {
        *n = (size_t)dims[0];
        *d = (size_t)dims[1];
        H5Dclose(ds);
    }
    ibex__library_unlock();
    return st;
}

ibex_status ibex_library_index_write(ibex_library *lib, size_t row0, size_t n, size_t d, const float *x,
                                     ibex_diag *diag)
{
    if (!lib || (!x && n) || !d) return IBEX_ERR_ARG;
    if (!lib->writable) return ibex__fail(diag, IBEX_ERR_ARG, lib->path, -1, "library not open for writing");
    ibex__library_lock();
    hsize_t dims[2];
    ibex_status st = IBEX_OK;
    char b[256];
    int auto_txn = !lib->ctl.in_txn;
    hid_t ds = open_desc(lib, dims);
    if (ds < 0) {
        st = ibex__fail(diag, IBEX_ERR_FORMAT, lib->path, -1, "missing /index/descriptors: %s", h5msg(b));
    } else if (dims[1] != 0 && dims[1] != d) {
        st = ibex__fail(diag, IBEX_ERR_ARG, lib->path, -1, "descriptor width %zu differs from stored %llu", d,
                        (unsigned long long)dims[1]);
    } else if (row0 > dims[0] || row0 + n > lib->count) {
        st = ibex__fail(diag, IBEX_ERR_ARG, lib->path, -1, "descriptor rows %zu..%zu leave a gap or pass the %zu specimens",
                        row0, row0 + n, lib->count);
    } else if ((st = txn_begin(lib, diag)) == IBEX_OK) {
        hsize_t nd[2] = {row0 + n > dims[0] ? row0 + n : dims[0], d};
        hsize_t start[2] = {row0, 0}, cnt[2] = {n, d};
        int ok = H5Dset_extent(ds, nd) >= 0;
        if (ok && n) {
            hid_t fs = H5Dget_space(ds), ms = H5Screate_simple(2, cnt, NULL);
            H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, cnt, NULL);
            ok = H5Dwrite(ds, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, x) >= 0;
            H5Sclose(ms);
            H5Sclose(fs);
        }
        H5Dclose(ds);
        ds = -1;
        if (!ok || lib->ctl.poisoned) {
            st = fail_h5(lib, diag, IBEX_ERR_IO, "index write");
            txn_abort(lib);
        } else if (auto_txn) {
            st = txn_commit(lib, diag);
        }
    }
    if (ds >= 0) H5Dclose(ds);
    ibex__library_unlock();
    return st;
}

ibex_status ibex_library_index_read(ibex_library *lib, size_t row0, size_t n, float *x, ibex_diag *diag)
{
    if (!lib || (!x && n)) return IBEX_ERR_ARG;
    ibex__library_lock();
    hsize_t dims[2];
    ibex_status st = IBEX_OK;
    char b[256];
    hid_t ds = open_desc(lib, dims);
    if (ds < 0) {
        st = ibex__fail(diag, IBEX_ERR_FORMAT, lib->path, -1, "missing /index/descriptors: %s", h5msg(b));
    } else if (row0 + n > dims[0]) {
        st = ibex__fail(diag, IBEX_ERR_ARG, lib->path, -1, "descriptor rows %zu..%zu past the %llu stored", row0,
                        row0 + n, (unsigned long long)dims[0]);
    } else if (n && dims[1]) {
        hsize_t start[2] = {row0, 0}, cnt[2] = {n, dims[1]};
        hid_t fs = H5Dget_space(ds), ms = H5Screate_simple(2, cnt, NULL);
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, cnt, NULL);
        if (H5Dread(ds, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, x) < 0)
            st = ibex__fail(diag, IBEX_ERR_INTEGRITY, lib->path, -1, "cannot read /index/descriptors: %s", h5msg(b));
        H5Sclose(ms);
        H5Sclose(fs);
    }
    if (ds >= 0) H5Dclose(ds);
    ibex__library_unlock();
    return st;
}

/* ---- per-kind index model: /index/<kind>/{matrices, text attributes} ---- */

/* kind and name become HDF5 link names: plain words only. */
static int plain_name(const char *s)
{
    if (!s || !*s || strlen(s) > 64) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
              *s == '-'))
            return 0;
    return 1;
}

/* Opens /index/<kind>, creating it when create is set (inside a transaction). */
static hid_t kind_group(ibex_library *lib, const char *kind, int create)
{
    char p[96];
    snprintf(p, sizeof p, "/index/%s", kind);
    htri_t e = H5Lexists(lib->file, p, H5P_DEFAULT);
    if (e > 0) return H5Gopen2(lib->file, p, H5P_DEFAULT);
    if (!create) return -1;
    return make_group(lib->file, p, !lib->pooled);
}

/* Runs one write step inside the caller's transaction or its own (as index_write). */
typedef int (*kind_write_fn)(hid_t g, const void *arg);

static ibex_status kind_write(ibex_library *lib, const char *kind, kind_write_fn fn, const void *arg,
                              const char *what, ibex_diag *diag)
{
    if (!lib || !plain_name(kind)) return ibex__fail(diag, IBEX_ERR_ARG, lib ? lib->path : NULL, -1, "bad index kind");
    if (!lib->writable) return ibex__fail(diag, IBEX_ERR_ARG, lib->path, -1, "library not open for writing");
    ibex__library_lock();
    int auto_txn = !lib->ctl.in_txn;
    ibex_status st = txn_begin(lib, diag);
    if (st == IBEX_OK) {
        hid_t g = kind_group(lib, kind, 1);
        int ok = g >= 0 && fn(g, arg);
        if (g >= 0) H5Gclose(g);
        if (!ok || lib->ctl.poisoned) {
            st = fail_h5(lib, diag, IBEX_ERR_IO, what);
            txn_abort(lib);
        } else if (auto_txn) {
            st = txn_commit(lib, diag);
        }
    }
    ibex__library_unlock();
    return st;
}

/* A write step of code outside this file (h5lib_internal.h): fn runs on the open file inside
 * the caller's transaction or its own, committed after it unless it fails. */
ibex_status ibex__library_write_step(ibex_library *lib, ibex__write_step_fn fn, void *arg, const char *what,
                                     ibex_diag *diag)
{
    if (!lib) return ibex__fail(diag, IBEX_ERR_ARG, NULL, -1, "no library");
    if (!lib->writable) return ibex__fail(diag, IBEX_ERR_ARG, lib->path, -1, "library not open for writing");
    ibex__library_lock();
    int auto_txn = !lib->ctl.in_txn;
    ibex_status st = txn_begin(lib, diag);
    if (st == IBEX_OK) {
        st = fn(lib->file, !lib->pooled, arg, diag);
        if (st == IBEX_OK && lib->ctl.poisoned) st = fail_h5(lib, diag, IBEX_ERR_IO, what);
        if (st != IBEX_OK) txn_abort(lib);
        else if (auto_txn) st = txn_commit(lib, diag);
    }
    ibex__library_unlock();
    return st;
}

hid_t ibex__library_make_group(hid_t loc, const char *name, int legacy) { return make_group(loc, name, legacy); }
hid_t ibex__library_dcpl(int rank, const hsize_t *chunk, int compress) { return create_dcpl(rank, chunk, compress); }

typedef struct mat_arg {
    const char *name;
    size_t rows, cols;
    const float *x;
} mat_arg;

static int mat_write(hid_t g, const void *argp)
{
    const mat_arg *a = argp;
    if (H5Lexists(g, a->name, H5P_DEFAULT) > 0 && H5Ldelete(g, a->name, H5P_DEFAULT) < 0) return 0;
    hsize_t dims[2] = {a->rows, a->cols};
    hsize_t ch[2] = {a->rows < 64 ? (a->rows ? a->rows : 1) : 64, a->cols ? a->cols : 1};
    if (ch[0] * ch[1] > (1u << 20)) ch[0] = (1u << 20) / ch[1] ? (1u << 20) / ch[1] : 1;
    hid_t sp = H5Screate_simple(2, dims, NULL);
    hid_t dcpl = create_dcpl(2, ch, 1);
    hid_t d = H5Dcreate2(g, a->name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    int ok = d >= 0 && (!a->rows || !a->cols || H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, a->x) >= 0);
    if (d >= 0) H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
    return ok;
}

ibex_status ibex_library_model_put_matrix(ibex_library *lib, const char *kind, const char *name, size_t rows,
                                          size_t cols, const float *x, ibex_diag *diag)
{
    if (!plain_name(name) || (!x && rows && cols))
        return ibex__fail(diag, IBEX_ERR_ARG, lib ? lib->path : NULL, -1, "bad matrix name or data");
    mat_arg a = {name, rows, cols, x};
    return kind_write(lib, kind, mat_write, &a, "index model write", diag);
}

ibex_status ibex_library_model_get_matrix(ibex_library *lib, const char *kind, const char *name, size_t *rows,
                                          size_t *cols, float **x, ibex_diag *diag)
{
    if (!lib || !plain_name(kind) || !plain_name(name) || !rows || !cols || !x) return IBEX_ERR_ARG;
    ibex__library_lock();
    ibex_status st = IBEX_OK;
    char b[256];
    hid_t g = kind_group(lib, kind, 0);
    hid_t d = g >= 0 && H5Lexists(g, name, H5P_DEFAULT) > 0 ? H5Dopen2(g, name, H5P_DEFAULT) : -1;
    if (d < 0) {
        H5Eclear2(H5E_DEFAULT);
        st = ibex__fail(diag, IBEX_ERR_FORMAT, lib->path, -1, "no /index/%s/%s", kind, name);
    } else {
        hsize_t dims[2];
        hid_t sp = H5Dget_space(d);
        if (H5Sget_simple_extent_ndims(sp) != 2 || H5Sget_simple_extent_dims(sp, dims, NULL) < 0 ||
            dims[0] * dims[1] > ((hsize_t)1 << 30)) {
            st = ibex__fail(diag, IBEX_ERR_FORMAT, lib->path, -1, "/index/%s/%s is not a matrix", kind, name);
        } else {
            float *m = malloc((size_t)(dims[0] * dims[1]) * sizeof *m + 1);
            if (!m) {
                st = ibex__fail(diag, IBEX_ERR_NOMEM, lib->path, -1, "out of memory");
            } else if (dims[0] && dims[1] && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, m) < 0) {
                free(m);
                st = ibex__fail(diag, IBEX_ERR_INTEGRITY, lib->path, -1, "cannot read /index/%s/%s: %s", kind, name,
                                h5msg(b));
            } else {
                *rows = (size_t)dims[0];
                *cols = (size_t)dims[1];
                *x = m;
            }
        }
        H5Sclose(sp);
        H5Dclose(d);
    }
    if (g >= 0) H5Gclose(g);
    ibex__library_unlock();
    return st;
}

typedef struct text_arg {
    const char *name, *text;
} text_arg;

static int text_write(hid_t g, const void *argp)
{
    const text_arg *a = argp;
    return attr_write_str(g, a->name, a->text);
}

ibex_status ibex_library_model_put_text(ibex_library *lib, const char *kind, const char *name, const char *text,
                                        ibex_diag *diag)
{
    if (!plain_name(name) || !text) return ibex__fail(diag, IBEX_ERR_ARG, lib ? lib->path : NULL, -1, "bad attribute");
    text_arg a = {name, text};
    return kind_write(lib, kind, text_write, &a, "index model write", diag);
}

ibex_status ibex_library_model_get_text(ibex_library *lib, const char *kind, const char *name, char **text,
                                        ibex_diag *diag)
{
    if (!lib || !plain_name(kind) || !plain_name(name) || !text) return IBEX_ERR_ARG;
    ibex__library_lock();
    hid_t g = kind_group(lib, kind, 0);
    char *v = g >= 0 ? attr_read_str(g, name) : NULL;
    if (g >= 0) H5Gclose(g);
    H5Eclear2(H5E_DEFAULT);
    ibex__library_unlock();
    if (!v) return ibex__fail(diag, IBEX_ERR_FORMAT, lib->path, -1, "no attribute /index/%s@%s", kind, name);
    *text = v;
    return IBEX_OK;
}
