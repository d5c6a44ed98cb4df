/* Ingest: scan files into a reference library, as `ibex ingest` does (docs/reference/
 * library-format.md). A list of files to add is built from operands (a file, or every
 * .x3p/.png below a directory) and manifests (MANIFEST.tsv with the ground-truth columns);
 * the run hashes, reads and prepares the files on worker threads, skips files whose SHA-256
 * the library holds already, and adds the rest in input order, committing in small batches.
 * An event for a stored file is sent only after the commit that stored it returned, so a
 * reader of the events never hears of a row a crash could lose. */
#ifndef IBEX_INGEST_H
#define IBEX_INGEST_H

#include "ibex/export.h"

#include <stddef.h>
#include "ibex/library.h"
#include "ibex/progress.h"
#include "ibex/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The preprocessing parameters an ingest records: surfaces are stored as read, and both
 * sides of a comparison are prepared at query time. Open or create the library with these
 * so libraries made by any front end take scans from the others. */
#define IBEX_INGEST_PARAMS "preprocess=none\n"

/* One file to add, with what a manifest says about it (NULL: not stated). */
typedef struct ibex_ingest_item {
    const char *path;            /* the file to read */
    const char *id;              /* specimen id */
    const char *kind;            /* "cartridge", "bullet" */
    const char *set;
    const char *firearm_id;
    const char *specimen_id;     /* also stored as the specimen_id metadata field */
    const char *same_source_key;
} ibex_ingest_item;

/* An ordered list of files to add (owns copies of its strings). */
typedef struct ibex_ingest_list ibex_ingest_list;

IBEX_API ibex_status ibex_ingest_list_create(ibex_ingest_list **out);
IBEX_API void ibex_ingest_list_free(ibex_ingest_list *l); /* NULL ok */
IBEX_API size_t ibex_ingest_list_count(const ibex_ingest_list *l);
IBEX_API const ibex_ingest_item *ibex_ingest_list_get(const ibex_ingest_list *l, size_t i); /* NULL past the end */
/* Appends a copy of *it (path and id required). */
IBEX_API ibex_status ibex_ingest_list_add(ibex_ingest_list *l, const ibex_ingest_item *it, ibex_diag *diag);
/* Appends an operand: a file (id: its base name without extension), or every .x3p/.png
 * below a directory, sorted, hidden entries and __MACOSX skipped (id: the path below the
 * directory without extension). IBEX_ERR_IO naming the operand when it does not exist or a
 * directory cannot be read; the list is then unchanged. */
IBEX_API ibex_status ibex_ingest_list_add_operand(ibex_ingest_list *l, const char *operand, ibex_diag *diag);
/* Appends the rows of a MANIFEST.tsv that name scans (.x3p/.png; other rows are notes and
 * tables), paths resolved against the manifest's folder. Columns by header name:
 * relative_path (required), kind, set, firearm_id, specimen_id, same_source_key. id:
 * SET:SPECIMEN_ID (specimen ids repeat across sets), SPECIMEN_ID without a set, else the
 * relative path without extension. kind (may be NULL): only rows of that kind.
 * IBEX_ERR_IO when it cannot be read, IBEX_ERR_FORMAT with the line when it is not a
 * manifest; the list is then unchanged. */
IBEX_API ibex_status ibex_ingest_list_read_manifest(ibex_ingest_list *l, const char *path, const char *kind,
                                                    ibex_diag *diag);

/* 1 when KEY may be given in ibex_ingest_opts.meta: a metadata key (ibex_meta_key) or one of
 * the row fields set, firearm_id, same_source_key, id, kind. */
IBEX_API int ibex_ingest_meta_key_known(const char *key);

typedef enum ibex_ingest_outcome {
    IBEX_INGEST_STORED = 0,  /* committed as row `row` */
    IBEX_INGEST_SKIPPED = 1, /* the library holds the same bytes at row `row` */
    IBEX_INGEST_REFUSED = 2  /* not stored: status and diag say why; the run goes on */
} ibex_ingest_outcome;

/* One file's outcome. Pointers are valid during the callback only. */
typedef struct ibex_ingest_event {
    size_t struct_size;
    ibex_ingest_outcome outcome;
    size_t index;                /* the item's position in the list */
    const ibex_ingest_item *item;
    size_t row;                  /* stored / skipped: the row; refused: (size_t)-1 */
    const char *sha256;          /* the file's SHA-256, "" when it could not be hashed */
    const char *reason;          /* skipped: "duplicate of row N"; refused: the diag's message; stored: NULL */
    ibex_status status;          /* refused: the reason's status; else IBEX_OK */
    const ibex_diag *diag;       /* refused: file and problem (the file read, or the item's path
                                    when the library refused the row); else NULL */
} ibex_ingest_event;

/* Receives each outcome as it happens, from the calling thread, in list order for skipped and
 * refused files and in commit order for stored ones. Returning nonzero stops the run as a
 * progress cancel does. */
typedef int (*ibex_ingest_event_fn)(void *user, const ibex_ingest_event *ev);

typedef struct ibex_ingest_opts {
    size_t struct_size;      /* sizeof the struct, set by ibex_ingest_opts_init (ABI) */
    const char *kind;        /* "cartridge" / "bullet" for every file, or NULL: the item's,
                                else the scan's metadata, else from its grid (ibex_scan_kind) */
    const char *const *meta; /* n_meta "KEY=VALUE" strings (ibex_ingest_meta_key_known), applied
                                after the file's metadata and the item's columns, last wins */
    size_t n_meta;
    unsigned threads;        /* reading threads; 0 = online CPUs */
    size_t batch;            /* specimens per commit at most; 0 = 16 (a commit also follows
                                2 s after a batch began, and before waiting on a slow file) */
    unsigned read_flags;     /* ibex_surface_read flags (IBEX_READ_NO_VERIFY) */
    ibex_progress_fn progress; /* stage "ingest": done = files handled, before each file and
                                  once at the end of a run that was not stopped */
    void *progress_user;
    ibex_ingest_event_fn event;
    void *event_user;
} ibex_ingest_opts;

IBEX_API void ibex_ingest_opts_init(ibex_ingest_opts *o);

typedef struct ibex_ingest_result {
    size_t struct_size;      /* set by ibex_ingest_result_init; that many bytes are written */
    size_t files;            /* items in the list */
    size_t stored, skipped, refused;
    size_t not_stored;       /* files - stored - skipped - refused: not reached or rolled back */
    size_t specimens;        /* rows in the library after the run */
    size_t commits;
    int complete;            /* every file was handled and every commit succeeded */
    unsigned threads;
    double seconds;
} ibex_ingest_result;

IBEX_API void ibex_ingest_result_init(ibex_ingest_result *r);

/* Adds the list's files to lib (opened with IBEX_LIBRARY_WRITE). A refused file (unreadable,
 * a duplicate id, a bad row) is reported and the run goes on; the result counts it and the
 * call still returns IBEX_OK. A failed write (the transaction is rolled back: nothing of its
 * batch is stored) or commit stops the run with that status; IBEX_ERR_CANCELLED when the
 * progress or event callback asked to stop (what was added is committed and reported first).
 * res (optional) is written in every case once the options were accepted. */
IBEX_API ibex_status ibex_ingest_run(ibex_library *lib, const ibex_ingest_list *files, const ibex_ingest_opts *o,
                                     ibex_ingest_result *res, ibex_diag *diag);

#ifdef __cplusplus
}
#endif
#endif
