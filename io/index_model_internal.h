/* Shared by the index update (index_update.c) and the search (search.c): the per-kind
 * stage-1 model kept in a library (descriptor options, PCA mean and basis; docs/reference/index.md,
 * docs/reference/library-format.md). */
#ifndef IBEX_INDEX_MODEL_INTERNAL_H
#define IBEX_INDEX_MODEL_INTERNAL_H

#include "ibex/ibex.h"

/* Kinds that the index update builds a model for. */
#define IBEX__IM_KIND_CARTRIDGE "cartridge"
#define IBEX__IM_N_KINDS 2
extern const char *const ibex__im_kinds[IBEX__IM_N_KINDS]; /* "cartridge", "bullet" */
int ibex__im_kind_index(const char *kind);           /* -1 for another kind */

/* Raw descriptor of a bullet land scan: its signature (bullet engine), then the profile
 * descriptor of that one land. *sig_out (optional) keeps the signature. */
ibex_status ibex__im_land_descriptor(const ibex_descriptor *dp, const ibex_surface *s, const ibex_land_opts *lo,
                               const char *name, float *raw, ibex_land_signature **sig_out, ibex_diag *diag);

typedef struct ibex__index_model {
    char opts_text[IBEX_DESCRIPTOR_OPTS_TEXT];
    ibex_descriptor_opts opts;
    ibex_pca *pca;
    size_t fit_count;
} ibex__index_model;

/* Canonical options text for a kind's defaults. */
void ibex__im_default_opts(const char *kind, ibex_descriptor_opts *o, char *text, size_t size);
/* Loads the model of kind. Returns IBEX_OK, or IBEX_ERR_FORMAT when the library has none
 * (diag says which part is missing). */
ibex_status ibex__im_load(ibex_library *lib, const char *kind, ibex__index_model *m, ibex_diag *diag);
void ibex__im_clear(ibex__index_model *m);

/* Per-row table info kept by both pipelines. */
typedef struct ibex__row_info {
    char *id, *kind, *firearm_id, *same_source_key;
} ibex__row_info;
/* Reads kind/id/firearm/same_source_key of rows [0, n) (column reads). */
ibex_status ibex__im_read_rows(ibex_library *lib, size_t n, ibex__row_info **out, ibex_diag *diag);
/* Kind codes of rows [0, n): 0 = another kind, else 1 + ibex__im_kind_index (one column read). */
ibex_status ibex__im_read_kinds(ibex_library *lib, size_t n, unsigned char **out, ibex_diag *diag);
/* Fills r[rows[i]] for the listed rows only (r zeroed, n_rows entries); skips filled ones. */
ibex_status ibex__im_fill_rows(ibex_library *lib, const size_t *rows, size_t n, ibex__row_info *r, ibex_diag *diag);
void ibex__im_free_rows(ibex__row_info *r, size_t n);

#endif
