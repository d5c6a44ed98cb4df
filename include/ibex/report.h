/* Case reports: what a search found, the pairs compared and the examiners' recorded
 * conclusions, as one self-contained HTML file or a PDF (A4), written for the case file.
 *
 * The report states what is whose: the scores and ranks are the software's; the conclusions
 * are the examiners' (the audit trail, include/ibex/conclusion.h); the decision threshold
 * (CMC 6 by default) is shown as a reference only, never as a conclusion. The caller fills an
 * ibex_report (every string UTF-8, every pointer the caller's; nothing is read from a library
 * or a file), then asks for either form. Pure computation. See docs/reference/report.md. */
#ifndef IBEX_REPORT_H
#define IBEX_REPORT_H

#include "ibex/export.h"

#include <stddef.h>
#include <stdint.h>
#include "ibex/conclusion.h"
#include "ibex/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Limits of what a report takes (more is IBEX_ERR_ARG, with the count in the message). */
#define IBEX_REPORT_MAX_CANDIDATES 10000
#define IBEX_REPORT_MAX_PAIRS 64
#define IBEX_REPORT_MAX_CELLS 4096          /* per pair */
#define IBEX_REPORT_MAX_CONCLUSIONS 100000
#define IBEX_REPORT_MAX_TEXT (64u << 10)    /* bytes of any one string (parameters, notes) */
#define IBEX_REPORT_MAX_PNG (64u << 20)     /* bytes of one picture */
#define IBEX_REPORT_MAX_PNG_TOTAL (256u << 20) /* bytes of all the pictures */
#define IBEX_REPORT_MAX_PIXELS (40u << 20)  /* pixels of one picture */

/* One candidate of the ranked list. Scores not computed (stage 1 only): cmc = -1. */
typedef struct ibex_report_candidate {
    size_t rank;                 /* 1-based */
    const char *id;              /* specimen id, or NULL */
    const char *firearm;         /* firearm id (and make, model), or NULL */
    const char *set;             /* the library set, or NULL */
    double stage1;               /* stage-1 (index) similarity */
    int cmc, cmc_high;           /* stage 2: congruent matching cells, High-CMC; -1 when not scored */
    double score;                /* stage-2 score (NAN when not scored) */
} ibex_report_candidate;

/* One cell of a compared pair's table (the picture's cell numbers). */
typedef struct ibex_report_cell {
    size_t n;                    /* the cell's number in the picture */
    int row, col;
    int used;                    /* 0: too few valid points (ccf, dx, dy, theta meaningless) */
    double ccf;                  /* its best correlation */
    double dx_um, dy_um;         /* its registration, micrometres */
    double theta_deg;            /* and rotation, degrees */
    int congruent;               /* 0 no, 1 congruent (original rule), 2 by High-CMC only */
    const char *why;             /* the reason, each test with its value and limit, or NULL */
} ibex_report_cell;

/* One pair compared in full: its picture and cell table. */
typedef struct ibex_report_pair {
    size_t rank;                 /* the candidate's rank (0 when not in the list) */
    const char *questioned;      /* names as in the picture's title, or NULL */
    const char *candidate;
    int cmc, cmc_high;
    double score;
    double theta_deg, dx_um, dy_um; /* consensus pose, the candidate onto the questioned scan */
    const unsigned char *png;    /* PNG picture of the registered pair with its cells, or NULL */
    size_t png_n;
    const ibex_report_cell *cells;
    size_t n_cells;
} ibex_report_pair;

typedef struct ibex_report {
    size_t struct_size;          /* sizeof the struct, set by ibex_report_init (ABI) */
    const char *title;           /* NULL: "Case report" */
    const char *case_id;         /* the case number or name, or NULL */
    const char *software;        /* e.g. "ibex 0.1.0"; NULL: this library's version */
    const char *library;         /* the reference library (file name), or NULL */
    const char *parameters;      /* the method and its parameters, free text (lines), or NULL */
    int64_t created;             /* Unix seconds UTC shown as the report's time; 0: now */
    int reference_cmc;           /* the decision threshold shown as a reference; default 6 */
    struct {
        const char *name;        /* file name or library id */
        const char *sha256;      /* of the scan's source bytes, or NULL */
        const char *kind;        /* "cartridge", "bullet", or NULL */
        size_t nx, ny;           /* points */
        double spacing_um;       /* point spacing, micrometres (0: unknown) */
    } questioned;
    const ibex_report_candidate *candidates;
    size_t n_candidates;
    const ibex_report_pair *pairs;
    size_t n_pairs;
    const ibex_conclusion *conclusions; /* the audit trail, oldest first (may be NULL when 0) */
    size_t n_conclusions;
} ibex_report;

IBEX_API void ibex_report_init(ibex_report *r);

/* The report as one self-contained HTML document (UTF-8; inline CSS, pictures as data: URIs,
 * no script, no outside reference; all text escaped). *html is malloc'd and NUL-terminated
 * (free it), *n its length without the NUL. Bad input (NULL pointers, counts over the limits,
 * over-long text, a picture without the PNG signature) is IBEX_ERR_ARG. */
IBEX_API ibex_status ibex_report_html(const ibex_report *r, char **html, size_t *n, ibex_diag *diag);

/* The report as a PDF 1.4 document (A4 pages, the standard Helvetica and Courier fonts in
 * WinAnsiEncoding: characters outside Latin-1 and a few punctuation marks print as '?';
 * pictures decoded and embedded as RGB, FlateDecode). *pdf is malloc'd (free it). Bad input is
 * IBEX_ERR_ARG; a picture that is not a readable PNG is IBEX_ERR_FORMAT. */
IBEX_API ibex_status ibex_report_pdf(const ibex_report *r, unsigned char **pdf, size_t *n, ibex_diag *diag);

#ifdef __cplusplus
}
#endif
#endif
