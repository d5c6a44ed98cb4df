/* Examiners' conclusions, recorded in the reference library: an append-only audit trail.
 *
 * The software reports scores and ranks; a conclusion (the AFTE range: identification,
 * inconclusive A/B/C, elimination, unsuitable) is an examiner's, recorded with who, when,
 * both specimens' SHA-256, the method, its parameters and the scores at the time. A second
 * examiner verifies one by recording their own conclusion on the same pair as a
 * verification of it; the rule of blind verification (ibex_conclusion_visible) keeps the
 * first conclusion from them until they have.
 *
 * Records are only ever appended (there is no call that changes or removes one), in a
 * transaction of the library like every other write (a writer killed at any moment leaves
 * the trail as of its last record). Each record is stored as its canonical JSON text and
 * holds the SHA-256 of the record before it; the newest one's is kept beside them, so a
 * record changed, removed or reordered afterwards is detected when the trail is read
 * (IBEX_ERR_INTEGRITY). Format: docs/reference/library-format.md, "/audit". */
#ifndef IBEX_CONCLUSION_H
#define IBEX_CONCLUSION_H

#include "ibex/export.h"

#include <stddef.h>
#include <stdint.h>
#include "ibex/library.h"
#include "ibex/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IBEX_AFTE_N 6
/* The AFTE range of conclusions, i = 0 .. IBEX_AFTE_N-1: "identification", "inconclusive-a",
 * "inconclusive-b", "inconclusive-c", "elimination", "unsuitable"; NULL past the end. */
IBEX_API const char *ibex_afte_name(int i);
/* Its index, or -1 when s is none of them. */
IBEX_API int ibex_afte_index(const char *s);

typedef enum ibex_record_type {
    IBEX_RECORD_CONCLUSION = 1,   /* an examiner's conclusion on a pair */
    IBEX_RECORD_VERIFICATION = 2  /* a second examiner's conclusion on the pair of record
                                     `verifies`: agrees when the two conclusions are equal */
} ibex_record_type;

/* One record. For ibex_conclusion_append the caller fills the first block (the strings stay
 * the caller's); records read from a library own their strings (ibex_conclusion_clear). */
typedef struct ibex_conclusion {
    size_t struct_size;          /* sizeof the struct, set by ibex_conclusion_init (ABI) */
    ibex_record_type type;
    char *examiner;              /* who (an account name; required) */
    char *role;                  /* their role when recording ("examiner", "verifier"), or NULL */
    char *conclusion;            /* one of the AFTE range (required) */
    char *notes;                 /* free text, or NULL */
    char *case_id;               /* the case (number or name), or NULL */
    char questioned_sha256[65];  /* the questioned scan's source SHA-256 (required) */
    char candidate_sha256[65];   /* the candidate's (required) */
    char *questioned_name;       /* what the examiner saw it as (library id or file name) */
    char *candidate_name;
    char *method;                /* the comparison ("cmc", "bullet"), or NULL */
    char *parameters;            /* its parameters as canonical text, or NULL */
    char *scores;                /* the scores shown at the time, a JSON object text, or NULL */
    uint64_t verifies;           /* VERIFICATION: seq of the conclusion it verifies */
    /* Set by append, filled by read: */
    uint64_t seq;                /* 1, 2, ... in the order recorded */
    int64_t time;                /* Unix seconds, UTC */
    char *software;              /* "ibex VERSION" that recorded it */
    char prev_sha256[65];        /* SHA-256 of the record before ("" for the first) */
    char sha256[65];             /* SHA-256 of this record's stored text */
} ibex_conclusion;

IBEX_API void ibex_conclusion_init(ibex_conclusion *c);
IBEX_API void ibex_conclusion_clear(ibex_conclusion *c); /* frees the strings of a read record */

/* Appends one record to lib (opened with IBEX_LIBRARY_WRITE), committed before it returns
 * (or in the open transaction of ibex_library_begin). Refused (IBEX_ERR_ARG) without an
 * examiner, with a conclusion outside the AFTE range, a malformed SHA-256 or over-long text
 * (64 KiB of notes, 4 KiB for each other string); a verification (IBEX_ERR_ARG) of a record
 * that is not a conclusion, of another pair, or by the examiner who recorded it. A trail that
 * fails its checks is never added to (IBEX_ERR_INTEGRITY). *seq (optional) gets the number. */
IBEX_API ibex_status ibex_conclusion_append(ibex_library *lib, const ibex_conclusion *c, uint64_t *seq,
                                            ibex_diag *diag);

/* The number of records (0 for a library without any). */
IBEX_API ibex_status ibex_conclusion_count(ibex_library *lib, uint64_t *n, ibex_diag *diag);

/* Every record, oldest first, after checking the whole chain (IBEX_ERR_INTEGRITY when a
 * record's text, its link to the one before or the newest hash do not hold; nothing is
 * returned then). *out is malloc'd: free with ibex_conclusion_free_all. */
IBEX_API ibex_status ibex_conclusion_read_all(ibex_library *lib, ibex_conclusion **out, size_t *n,
                                              ibex_diag *diag);
IBEX_API void ibex_conclusion_free_all(ibex_conclusion *v, size_t n);

/* Blind verification: may `viewer` see what record all[i] concluded? Yes when it is theirs,
 * when see_all is set (a read-only reviewer, or a report), or when the viewer has recorded a
 * conclusion or verification of their own on the same pair. Otherwise only that a record
 * exists (who and when) may be shown. */
IBEX_API int ibex_conclusion_visible(const ibex_conclusion *all, size_t n, size_t i, const char *viewer,
                                     int see_all);

#ifdef __cplusplus
}
#endif
#endif
