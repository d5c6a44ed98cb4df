/* The reference library: one HDF5 file of specimens (table row + surface) and their index.
 * Schema: docs/reference/library-format.md. Crash-safe: a writer killed at any moment leaves the
 * library as of its last commit (rollback journal, undone on the next open).
 * One writer and any number of readers may use a library at once (they wait for each
 * other's commits). HDF5 is not thread-safe: IBEX serialises every library call. */
#ifndef IBEX_LIBRARY_H
#define IBEX_LIBRARY_H

#include "ibex/export.h"

#include <stddef.h>
#include <stdint.h>
#include "ibex/progress.h"
#include "ibex/surface.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The newest schema this IBEX reads; it refuses files with a larger schema_version. It
 * creates version 3 (every structure checksummed: a corrupted library is refused, never
 * read as other data) and still reads and adds to versions 1 and 2. */
#define IBEX_LIBRARY_SCHEMA_VERSION 3

typedef struct ibex_library ibex_library;

/* Open flags */
#define IBEX_LIBRARY_WRITE 0x1u   /* open for adding (one writer at a time) */
#define IBEX_LIBRARY_NOSYNC 0x2u  /* no fsync: still safe against a killed process,
                                     not against power loss */
#define IBEX_LIBRARY_PACKED 0x4u  /* create only: surfaces of one size share one stacked
                                     dataset (layout "packed"; for large libraries of small
                                     scans) */

/* The preprocessing hook: turns a surface as read into the surface stored. */
typedef ibex_status (*ibex_library_preprocess_fn)(const ibex_surface *in, ibex_surface **out,
                                                  void *user, ibex_diag *diag);

typedef struct ibex_library_opts {
    size_t struct_size; /* sizeof the struct, set by ibex_library_opts_init: lets it grow (ABI) */
    unsigned flags;
    /* Preprocessing parameters, canonical "key=value" lines. Stored by create; on open,
     * when not NULL, must equal the stored text or the open is refused. */
    const char *params;
    ibex_library_preprocess_fn preprocess; /* NULL: store surfaces as read */
    void *preprocess_user;
} ibex_library_opts;

IBEX_API void ibex_library_opts_init(ibex_library_opts *o);

/* One specimen's table row. Strings are owned (ibex_specimen_clear frees them). */
typedef struct ibex_specimen {
    char *id;              /* unique within the library */
    char *kind;            /* "cartridge" or "bullet" */
    char *region;          /* "breech-face", "land", ... */
    char *source_path;     /* file the scan was read from */
    char *set;             /* study / set name (manifest), or NULL */
    char *firearm_id;      /* ground-truth firearm (manifest), or NULL */
    char *same_source_key; /* equal keys = same source (manifest), or NULL */
    char sha256[65];       /* SHA-256 of the source file, lower-case hex */
    int64_t ingest_time;   /* Unix seconds (UTC), set by ibex_library_add when 0 */
    ibex_meta meta;        /* OpenFMC-style case fields + ISO 25178-72 record fields */
    /* Filled by get_info (ignored by add, which takes them from the surface): */
    size_t nx, ny;
    double dx, dy;
    size_t n_valid;
} ibex_specimen;

IBEX_API void ibex_specimen_clear(ibex_specimen *s);

/* Creates a new library (refuses an existing path) and opens it for writing. */
IBEX_API ibex_status ibex_library_create(const char *path, const ibex_library_opts *o, ibex_library **out,
                                         ibex_diag *diag);
/* Opens an existing library (for writing with IBEX_LIBRARY_WRITE). Rolls back an
 * interrupted ingest first. Refuses non-libraries, truncated files, newer schemas and
 * (when o->params is set) other preprocessing parameters. o may be NULL. */
IBEX_API ibex_status ibex_library_open(const char *path, const ibex_library_opts *o, ibex_library **out,
                                       ibex_diag *diag);
/* Commits any open transaction and closes. NULL ok. */
IBEX_API ibex_status ibex_library_close(ibex_library *lib, ibex_diag *diag);

/* Groups adds into one commit (cheaper than one commit per add). Without begin, each
 * add commits by itself. After a failed add the transaction is rolled back whole. */
IBEX_API ibex_status ibex_library_begin(ibex_library *lib, ibex_diag *diag);
IBEX_API ibex_status ibex_library_commit(ibex_library *lib, ibex_diag *diag);

/* Runs the preprocess hook (or copies); safe to call from several threads at once. */
IBEX_API ibex_status ibex_library_prepare(const ibex_library *lib, const ibex_surface *in, ibex_surface **out,
                                          ibex_diag *diag);

/* Appends one specimen. Refuses a duplicate id or sha256 (IBEX_ERR_INTEGRITY), an
 * empty id or a bad hash (IBEX_ERR_ARG). *row (optional) gets its row number. */
IBEX_API ibex_status ibex_library_add(ibex_library *lib, const ibex_specimen *spec, const ibex_surface *s,
                                      size_t *row, ibex_diag *diag);

/* Appends n specimens (specs[i] with surface s[i]) in one write; the checks of
 * ibex_library_add apply to each, and to duplicates within the batch. All or none are
 * added. *row0 (optional) gets the row of the first. */
IBEX_API ibex_status ibex_library_add_batch(ibex_library *lib, const ibex_specimen *specs, const ibex_surface *const *s,
                                            size_t n, size_t *row0, ibex_diag *diag);

IBEX_API size_t ibex_library_count(const ibex_library *lib);
/* The path the library was opened or created with. */
IBEX_API const char *ibex_library_path(const ibex_library *lib);
IBEX_API const char *ibex_library_params(const ibex_library *lib); /* stored parameters text */
IBEX_API ibex_status ibex_library_get_info(ibex_library *lib, size_t row, ibex_specimen *out, ibex_diag *diag);
IBEX_API ibex_status ibex_library_get_surface(ibex_library *lib, size_t row, ibex_surface **out, ibex_diag *diag);
/* One string column of rows [row0, row0+n), read by hyperslabs of the column alone:
 * out[i] is malloc'd (free each), NULL when empty. IBEX_ERR_FORMAT when the table has no
 * such string column; on failure out holds nothing. */
IBEX_API ibex_status ibex_library_column_read(ibex_library *lib, const char *column, size_t row0, size_t n, char **out,
                                              ibex_diag *diag);
/* 1 and *row when found, else 0 (a reader builds the maps on its first lookup). */
IBEX_API int ibex_library_find_hash(const ibex_library *lib, const char *sha256_hex, size_t *row);
IBEX_API int ibex_library_find_id(const ibex_library *lib, const char *id, size_t *row);

/* SHA-256 of a file's bytes as 64 lower-case hex digits (OpenSSL EVP). */
IBEX_API ibex_status ibex_file_sha256(const char *path, char hex[65], ibex_diag *diag);

/* Index placeholder /index/descriptors (N x d float32, filled by the indexer). */
IBEX_API ibex_status ibex_library_index_get_shape(ibex_library *lib, size_t *n, size_t *d, ibex_diag *diag);
/* Writes rows [row0, row0+n) of width d (grows the matrix; d must match unless it is 0). */
IBEX_API ibex_status ibex_library_index_write(ibex_library *lib, size_t row0, size_t n, size_t d,
                                              const float *x, ibex_diag *diag);
IBEX_API ibex_status ibex_library_index_read(ibex_library *lib, size_t row0, size_t n, float *x, ibex_diag *diag);

/* Per-kind index model under /index/<kind> (kind, name: letters, digits, '_', '-'):
 * named float32 matrices (rows x cols, e.g. pca_mean 1 x p, pca_basis d x p) and text
 * attributes (descriptor_opts, pca_fit_count). A put replaces; it joins the open
 * transaction (ibex_library_begin) or commits by itself, like ibex_library_index_write.
 * A get of something absent gives IBEX_ERR_FORMAT; *x / *text are malloc'd (free). */
IBEX_API ibex_status ibex_library_model_put_matrix(ibex_library *lib, const char *kind, const char *name, size_t rows,
                                                   size_t cols, const float *x, ibex_diag *diag);
IBEX_API ibex_status ibex_library_model_get_matrix(ibex_library *lib, const char *kind, const char *name, size_t *rows,
                                                   size_t *cols, float **x, ibex_diag *diag);
IBEX_API ibex_status ibex_library_model_put_text(ibex_library *lib, const char *kind, const char *name, const char *text,
                                                 ibex_diag *diag);
IBEX_API ibex_status ibex_library_model_get_text(ibex_library *lib, const char *kind, const char *name, char **text,
                                                 ibex_diag *diag);

/* ---- index update (what 'ibex index' does; docs/reference/index.md) ----
 * Stage-1 descriptors of the specimens that have none yet, appended to /index/descriptors
 * and projected with the stored PCA basis of their kind, so earlier rows are never
 * rewritten. A kind's basis is (re)fitted the first time, when the kind has doubled since
 * the last fit while that fit used fewer than IBEX_PCA_FIT_MAX specimens, or on refit; a
 * fit rewrites every row of the kind. Model and rows are committed in one transaction;
 * a cancelled or failed update writes nothing. Specimens of another kind, or that the
 * descriptor refuses, keep a zero row (never searched). */

#define IBEX_INDEX_N_KINDS 2 /* kinds with a stage-1 model: 0 cartridge, 1 bullet */
IBEX_API const char *ibex_index_kind_name(int k); /* "cartridge", "bullet"; NULL past the end */

typedef struct ibex_index_update_opts {
    size_t struct_size;   /* sizeof the struct, set by ibex_index_update_opts_init (ABI) */
    int refit;            /* refit every kind's basis and rewrite all rows */
    ibex_progress_fn progress; /* stage "descriptors": done/total per batch of specimens */
    void *progress_user;
} ibex_index_update_opts;

IBEX_API void ibex_index_update_opts_init(ibex_index_update_opts *o);

/* A specimen the descriptor refused (it keeps a zero row). */
typedef struct ibex_index_refusal {
    size_t row;
    char id[256];         /* "" when the table has none */
    char message[512];
} ibex_index_refusal;

typedef struct ibex_index_update_result {
    size_t struct_size;   /* sizeof the struct, set by ibex_index_update_result_init (ABI) */
    ibex_index_refusal *refusals; /* n_refusals of them, in the order found (malloc'd) */
    size_t n_refusals;
    size_t specimens;     /* rows in the library */
    size_t new_rows;      /* rows without an index row before the update */
    size_t indexed;       /* rows described and projected now */
    size_t refused;       /* rows the descriptor refused (zero rows) */
    size_t other_rows;    /* new rows of another kind (zero rows) */
    int refit;            /* some basis was fitted */
    int basis_pending;    /* a kind with fewer than 2 specimens has no basis yet */
    size_t kind_indexed[IBEX_INDEX_N_KINDS];
    size_t kind_fit_count[IBEX_INDEX_N_KINDS]; /* specimens its basis was fitted on */
    int kind_fitted[IBEX_INDEX_N_KINDS];       /* fitted by this update */
    size_t dim;           /* index row width (IBEX_INDEX_DIM) */
    double seconds;
} ibex_index_update_result;

IBEX_API void ibex_index_update_result_init(ibex_index_update_result *r);
IBEX_API void ibex_index_update_result_clear(ibex_index_update_result *r); /* frees refusals */

/* Updates the index of lib (opened with IBEX_LIBRARY_WRITE). o NULL: defaults. res
 * (optional, from ibex_index_update_result_init) gets the summary. IBEX_ERR_CANCELLED
 * when the progress callback asked to stop. */
IBEX_API ibex_status ibex_library_index_update(ibex_library *lib, const ibex_index_update_opts *o,
                                               ibex_index_update_result *res, ibex_diag *diag);
/* The same on the library at path, opened for writing and closed. */
IBEX_API ibex_status ibex_library_index_update_path(const char *path, const ibex_index_update_opts *o,
                                                    ibex_index_update_result *res, ibex_diag *diag);

#ifdef __cplusplus
}
#endif
#endif
