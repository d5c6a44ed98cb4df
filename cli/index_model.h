/* Shared by ibex index and ibex query: the per-kind stage-1 model kept in a library
 * (descriptor options, PCA mean and basis; docs/index.md, docs/library-format.md). */
#ifndef IBEX_CLI_INDEX_MODEL_H
#define IBEX_CLI_INDEX_MODEL_H

#include "ibex/ibex.h"

/* Kinds that ibex index builds a model for. */
#define IM_KIND_CARTRIDGE "cartridge"
#define IM_N_KINDS 2
extern const char *const im_kinds[IM_N_KINDS]; /* "cartridge", "bullet" */
int im_kind_index(const char *kind);           /* -1 for another kind */

/* Raw descriptor of a bullet land scan: its signature (bullet engine), then the profile
 * descriptor of that one land. *sig_out (optional) keeps the signature. */
ibex_status im_land_descriptor(const ibex_descriptor *dp, const ibex_surface *s, const ibex_land_opts *lo,
                               const char *name, float *raw, ibex_land_signature **sig_out, ibex_diag *diag);

typedef struct index_model {
    char opts_text[IBEX_DESCRIPTOR_OPTS_TEXT];
    ibex_descriptor_opts opts;
    ibex_pca *pca;
    size_t fit_count;
} index_model;

/* Canonical options text for a kind's defaults. */
void im_default_opts(const char *kind, ibex_descriptor_opts *o, char *text, size_t size);
/* Loads the model of kind. Returns IBEX_OK, or IBEX_ERR_FORMAT when the library has none
 * (diag says which part is missing). */
ibex_status im_load(ibex_library *lib, const char *kind, index_model *m, ibex_diag *diag);
void im_clear(index_model *m);

/* Per-row table info kept by both commands. */
typedef struct row_info {
    char *id, *kind, *firearm_id, *same_source_key;
} row_info;
/* Reads kind/id/firearm/same_source_key of rows [0, n) (column reads). */
ibex_status im_read_rows(ibex_library *lib, size_t n, row_info **out, ibex_diag *diag);
/* Kind codes of rows [0, n): 0 = another kind, else 1 + im_kind_index (one column read). */
ibex_status im_read_kinds(ibex_library *lib, size_t n, unsigned char **out, ibex_diag *diag);
/* Fills r[rows[i]] for the listed rows only (r zeroed, n_rows entries); skips filled ones. */
ibex_status im_fill_rows(ibex_library *lib, const size_t *rows, size_t n, row_info *r, ibex_diag *diag);
void im_free_rows(row_info *r, size_t n);

#endif
