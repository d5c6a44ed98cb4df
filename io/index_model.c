/* The per-kind stage-1 model of a library: load, defaults, table info. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index_model_internal.h"

const char *const ibex__im_kinds[IBEX__IM_N_KINDS] = {"cartridge", "bullet"};

int ibex__im_kind_index(const char *kind)
{
    for (int i = 0; i < IBEX__IM_N_KINDS; i++)
        if (kind && !strcmp(kind, ibex__im_kinds[i])) return i;
    return -1;
}

ibex_status ibex__im_land_descriptor(const ibex_descriptor *dp, const ibex_surface *s, const ibex_land_opts *lo,
                               const char *name, float *raw, ibex_land_signature **sig_out, ibex_diag *diag)
{
    ibex_land_signature *sg = NULL;
    ibex_status st = ibex_land_signature_create(s, lo, &sg, diag);
    if (st != IBEX_OK) return st;
    const float *pr[1] = {sg->sig};
    size_t np[1] = {sg->n};
    st = ibex_descriptor_run_profiles(dp, pr, np, 1, sg->spacing, name, raw, diag);
    if (st == IBEX_OK && sig_out)
        *sig_out = sg;
    else
        ibex_land_signature_free(sg);
    return st;
}

void ibex__im_default_opts(const char *kind, ibex_descriptor_opts *o, char *text, size_t size)
{
    if (kind && !strcmp(kind, "bullet"))
        ibex_descriptor_opts_init_bullet(o);
    else
        ibex_descriptor_opts_init(o);
    ibex_descriptor_opts_format(o, text, size);
}

ibex_status ibex__im_load(ibex_library *lib, const char *kind, ibex__index_model *m, ibex_diag *diag)
{
    memset(m, 0, sizeof *m);
    char *text = NULL, *cnt = NULL;
    float *mean = NULL, *basis = NULL;
    size_t mr = 0, mc = 0, br = 0, bc = 0;
    ibex_status st = ibex_library_model_get_text(lib, kind, "descriptor_opts", &text, diag);
    if (st == IBEX_OK) st = ibex_descriptor_opts_parse(text, &m->opts, diag);
    if (st == IBEX_OK) st = ibex_library_model_get_matrix(lib, kind, "pca_mean", &mr, &mc, &mean, diag);
    if (st == IBEX_OK) st = ibex_library_model_get_matrix(lib, kind, "pca_basis", &br, &bc, &basis, diag);
    if (st == IBEX_OK && (mr != 1 || bc != mc || br == 0 || br > IBEX_INDEX_MAX_DIM)) {
        if (diag) {
            memset(diag, 0, sizeof *diag);
            snprintf(diag->message, sizeof diag->message, "PCA model of %s has inconsistent shapes", kind);
        }
        st = IBEX_ERR_FORMAT;
    }
    if (st == IBEX_OK) st = ibex_pca_create(mc, br, mean, basis, &m->pca);
    if (st == IBEX_OK) {
        snprintf(m->opts_text, sizeof m->opts_text, "%s", text);
        if (ibex_library_model_get_text(lib, kind, "pca_fit_count", &cnt, NULL) == IBEX_OK)
            m->fit_count = (size_t)strtoull(cnt, NULL, 10);
    }
    free(text);
    free(cnt);
    free(mean);
    free(basis);
    return st;
}

void ibex__im_clear(ibex__index_model *m)
{
    ibex_pca_free(m->pca);
    memset(m, 0, sizeof *m);
}

static char *dup0(const char *s) { return s ? strdup(s) : NULL; }

/* Columns by hyperslab reads (one pass per column, not one HDF5 read per row). */
ibex_status ibex__im_read_rows(ibex_library *lib, size_t n, ibex__row_info **out, ibex_diag *diag)
{
    ibex__row_info *r = calloc(n ? n : 1, sizeof *r);
    char **col = malloc((n ? n : 1) * sizeof *col);
    ibex_status st = r && col ? IBEX_OK : IBEX_ERR_NOMEM;
    static const char *const names[4] = {"id", "kind", "firearm_id", "same_source_key"};
    for (int c = 0; c < 4 && st == IBEX_OK; c++) {
        st = ibex_library_column_read(lib, names[c], 0, n, col, diag);
        for (size_t i = 0; st == IBEX_OK && i < n; i++) {
            char **dst = c == 0 ? &r[i].id : c == 1 ? &r[i].kind : c == 2 ? &r[i].firearm_id : &r[i].same_source_key;
            *dst = col[i];
            if (c == 1 && !*dst && !(*dst = strdup(""))) st = IBEX_ERR_NOMEM;
        }
    }
    free(col);
    if (st != IBEX_OK) {
        ibex__im_free_rows(r, n);
        return st;
    }
    *out = r;
    return IBEX_OK;
}

ibex_status ibex__im_read_kinds(ibex_library *lib, size_t n, unsigned char **out, ibex_diag *diag)
{
    unsigned char *k = malloc(n ? n : 1);
    char **col = malloc((n ? n : 1) * sizeof *col);
    ibex_status st = k && col ? IBEX_OK : IBEX_ERR_NOMEM;
    if (st == IBEX_OK) st = ibex_library_column_read(lib, "kind", 0, n, col, diag);
    for (size_t i = 0; st == IBEX_OK && i < n; i++) {
        k[i] = (unsigned char)(col[i] ? ibex__im_kind_index(col[i]) + 1 : 0);
        free(col[i]);
    }
    free(col);
    if (st != IBEX_OK) {
        free(k);
        return st;
    }
    *out = k;
    return IBEX_OK;
}

ibex_status ibex__im_fill_rows(ibex_library *lib, const size_t *rows, size_t n, ibex__row_info *r, ibex_diag *diag)
{
    for (size_t i = 0; i < n; i++) {
        ibex__row_info *x = &r[rows[i]];
        if (x->kind) continue; /* filled already */
        ibex_specimen sp;
        memset(&sp, 0, sizeof sp);
        ibex_status st = ibex_library_get_info(lib, rows[i], &sp, diag);
        if (st != IBEX_OK) return st;
        x->id = dup0(sp.id);
        x->kind = dup0(sp.kind ? sp.kind : "");
        x->firearm_id = dup0(sp.firearm_id);
        x->same_source_key = dup0(sp.same_source_key);
        ibex_specimen_clear(&sp);
    }
    return IBEX_OK;
}

void ibex__im_free_rows(ibex__row_info *r, size_t n)
{
    if (!r) return;
    for (size_t i = 0; i < n; i++) {
        free(r[i].id);
        free(r[i].kind);
        free(r[i].firearm_id);
        free(r[i].same_source_key);
    }
    free(r);
}
