/* Two-stage search of a reference library (docs/reference/index.md).
 * Stage 1: the descriptor of each query with the library's stored options, PCA projection,
 * top-K by cosine over the indexed rows of the query's kind (one SGEMV, or SGEMM for a batch
 * of queries). Stage 2: each shortlisted pair is re-scored with the full comparison
 * (cartridge cases: the preprocessing of 'ibex compare', then Congruent Matching Cells;
 * bullet lands: the bullet engine's land comparison), the pairs in parallel; each list is
 * ranked by the stage-2 score.
 *
 * The library must have been indexed (ibex_library_index_update). Nothing is printed:
 * refusals come back as a status and a diag naming the file; progress and cancellation go
 * through an ibex_progress_fn.
 *
 * Sharding (docs/reference/sharding.md): with an ibex_shard from ibex_shard_create (built with MPI),
 * each rank of an MPI job scores a slab of the library's rows; rank 0 ends with the same
 * ranked lists as one process. */
#ifndef IBEX_SEARCH_H
#define IBEX_SEARCH_H

#include "ibex/export.h"

#include <stddef.h>
#include "ibex/status.h"
#include "ibex/progress.h"
#include "ibex/surface.h"
#include "ibex/library.h"
#include "ibex/compare.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ibex_search_candidate; /* below */

/* One rank of an MPI job (opaque). */
typedef struct ibex_shard ibex_shard;

/* Options. `struct_size` comes first and is set by ibex_search_opts_init to sizeof the
 * struct: the library copies only the fields a caller's struct has (an older caller gets the
 * defaults of newer fields) and refuses struct_size < sizeof(size_t) with IBEX_ERR_ARG. */
typedef struct ibex_search_opts {
    size_t struct_size;
    size_t shortlist;       /* stage-1 shortlist; 0 = ibex_search_default_shortlist(indexed) */
    unsigned threads;       /* stage-2 worker threads; 0 = all */
    int stage1_only;        /* skip stage 2: rank by the stage-1 similarity alone */
    int exclude_self;       /* leave out a specimen whose SHA-256 is that of the file `names[i]` */
    const char *kind;       /* "cartridge", "bullet", or NULL: from each scan (ibex_scan_kind) */
    int prealign;           /* cartridge stage 2 with the full-circle pre-registration */
    const char *within;     /* file of specimen ids, one a line ('#' comments): search only
                               those; an unknown id is refused. NULL = every specimen */
    ibex_progress_fn progress; /* "stage 1" (query descriptors), "stage 2" (pairs); NULL: none */
    void *progress_user;
    ibex_shard *shard;      /* this process is one rank of an MPI job; NULL: one process */
    /* With exclude_self: the SHA-256 (64 hex digits) of each query's own specimen, for a query
     * that is not read from a file (an upload, a scan picked from the library); entries may be
     * NULL (then names[i]'s file is hashed). NULL: every query's from its file. */
    const char *const *self_sha256;
    /* Results as they come (a viewer that shows the list before stage 2 ends): with stage 1,
     * once the shortlists are known, every shortlisted candidate of every query (stage 2 not
     * run: done 0); with stage 2, each candidate as soon as its pair is scored (LR included
     * when a calibration applies). Calls are serialised (never two at once) and come from the
     * search's threads; c and its strings are valid during the call only. NULL: none. */
    void (*on_candidate)(void *user, size_t query, int stage, const struct ibex_search_candidate *c);
    void *candidate_user;
    /* Keep each cartridge pair's stage-2 comparison in the result (ibex_search_candidate
     * .comparison and the two prepared surfaces), for a viewer that shows a candidate's cells without
     * comparing it again. Costs the prepared surfaces of the shortlist in memory. Ignored by
     * a sharded search. */
    int keep_comparisons;
    /* Cartridges: stage 2 in two steps when a shortlist is longer than this: a screening
     * score for every shortlisted pair (the masked NCC of the whole surfaces over CMC's
     * rotation window, a few ms a pair; a full turn with prealign), then the exhaustive CMC
     * for the best exact_top by that score only; the others are listed after them, ranked
     * by the screen (screened_out). 0 = IBEX_SEARCH_EXACT_TOP; IBEX_SEARCH_EXACT_ALL = CMC
     * for every shortlisted pair (one step). Bullets: every pair, always (land scores cost
     * microseconds). */
    size_t exact_top;
} ibex_search_opts;

#define IBEX_SEARCH_EXACT_TOP 10
#define IBEX_SEARCH_EXACT_ALL ((size_t)-1)

IBEX_API void ibex_search_opts_init(ibex_search_opts *o);

/* The default stage-1 shortlist for n indexed specimens: max(50, 1% of n rounded up). */
IBEX_API size_t ibex_search_default_shortlist(size_t n);

/* The kind of a scan without a stated one: its metadata's specimen_kind when that is
 * "cartridge" or "bullet", else "bullet" for an elongated grid (one side at least twice
 * the other, as land scans are) and "cartridge" otherwise. */
IBEX_API const char *ibex_scan_kind(const ibex_surface *s);

/* One ranked candidate. Strings point into the result (NULL when the table has none). */
typedef struct ibex_search_candidate {
    size_t row;              /* library row */
    const char *id, *kind, *firearm_id, *same_source_key;
    float stage1;            /* stage-1 cosine */
    int done;                /* stage 2 ran (else error says why, or stage 2 was skipped) */
    double score;            /* cartridges: CMC score; bullets: calibrated land score */
    unsigned cmc, cmc_high;  /* cartridges: CMC counts; bullets: cmc = CMS count */
    unsigned cells_a, cells_b; /* cartridges: cells used in each direction */
    double ccf;              /* bullets: land CCF */
    ibex_verdict verdict;
    int has_lr;              /* a calibration applies (cartridges, stage 2 without prealign) */
    double log10_lr;         /* calibrated log10 likelihood ratio of the CMC count */
    const char *lr_verbal;   /* its verbal scale (ibex_lr_verbal) */
    char error[160];         /* stage-2 failure of this pair, else empty */
    /* With keep_comparisons, a cartridge pair that stage 2 scored: its comparison (cells and
     * registration, as ibex_compare_cartridges gives them) and the two surfaces as compared
     * (prepared, at the pair's common spacing); valid until the result is freed. Else NULL. */
    const ibex_cmc_result *comparison;
    const ibex_surface *prepared_query, *prepared_candidate;
    /* Two-step stage 2 (exact_top): the screening score (whole-surface NCC in [-1, 1]; NaN
     * when the list was not screened or the pair could not be), and screened_out = 1 for a
     * candidate the screen left out of the exhaustive CMC (done 0, no score). */
    double screen;
    int screened_out;
} ibex_search_candidate;

/* What a search did, for the whole batch. */
typedef struct ibex_search_info {
    const char *kind;        /* "cartridge" or "bullet" */
    int bullet;
    size_t library_rows;     /* specimens in the library */
    size_t indexed;          /* indexed specimens of the kind searched (after `within`) */
    size_t not_indexed;      /* specimens (of the kind, when kind_known) without an index row */
    int kind_known;          /* the kind column was read: not_indexed counts the kind alone */
    int stage2;              /* stage 2 ran */
    int prealign;            /* stage 2 used the pre-registration */
    const char *lr_calibration; /* id of the calibration of log10_lr, NULL when none applies */
    size_t queries;
    /* Seconds: opening the library and its checks, loading the index, the query
     * descriptors, the stage-1 search itself; stage 1 in all (from the call), stage 2. */
    double t_open, t_load_index, t_descriptors, t_search, t_stage1, t_stage2, t_total;
    size_t exact_top;        /* the two-step K (cartridges; IBEX_SEARCH_EXACT_ALL: one step) */
    size_t screened;         /* pairs screened (0: no list was longer than exact_top) */
    double t_screen;         /* seconds of the screening step, within t_stage2 */
} ibex_search_info;

typedef struct ibex_search_result ibex_search_result;

/* Runs both stages for nq query surfaces (names[i]: their files, for messages and
 * exclude_self; NULL: "query"). On success *out holds one ranked list per query. A refused
 * search (no index, other parameters, a kind the library does not hold, an unreadable
 * within list, ...) returns non-OK with diag naming the file; IBEX_ERR_CANCELLED when the
 * progress callback asked to stop, or (sharded) when another rank failed. The library is
 * only read. */
IBEX_API ibex_status ibex_search_run(ibex_library *lib, const ibex_surface *const *queries,
                                     const char *const *names, size_t nq, const ibex_search_opts *o,
                                     ibex_search_result **out, ibex_diag *diag);
/* The same on the library at path (opened read-only for the call; t_open includes it). */
IBEX_API ibex_status ibex_search_run_path(const char *lib_path, const ibex_surface *const *queries,
                                          const char *const *names, size_t nq, const ibex_search_opts *o,
                                          ibex_search_result **out, ibex_diag *diag);

IBEX_API const ibex_search_info *ibex_search_result_info(const ibex_search_result *r);
/* Candidates of query i (its shortlist size), and the one at rank h (0 = best). */
IBEX_API size_t ibex_search_result_count(const ibex_search_result *r, size_t i);
IBEX_API const ibex_search_candidate *ibex_search_result_get(const ibex_search_result *r, size_t i, size_t h);
IBEX_API void ibex_search_result_free(ibex_search_result *r); /* NULL ok */

/* ---- MPI sharding ---- */

/* Joins an MPI job (initialising MPI when the caller has not): the search then scores this
 * rank's slab of rows and the ranks meet at three collective steps. IBEX_ERR_UNSUPPORTED
 * when this IBEX was built without MPI. */
IBEX_API ibex_status ibex_shard_create(ibex_shard **out, ibex_diag *diag);
IBEX_API int ibex_shard_rank(const ibex_shard *sh);
IBEX_API int ibex_shard_size(const ibex_shard *sh);
/* Agrees on the job's outcome with the other ranks: code is this rank's (0 = success, else
 * an exit status); returns the largest over the ranks. *report (optional) = 1 when this
 * rank is the lowest failing one, whose message explains the failure. Finalises MPI when
 * ibex_shard_create initialised it, and frees sh. A rank that stops early still takes
 * part in the steps the others wait in, so no rank is left waiting. */
IBEX_API int ibex_shard_finish(ibex_shard *sh, int code, int *report);

#ifdef __cplusplus
}
#endif
#endif
