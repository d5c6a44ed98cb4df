/* The public functions of the HDF5 reference library in a libibex built without it
 * (-Dhdf5=disabled): the same ABI, and every call that can fail says so
 * (IBEX_ERR_UNSUPPORTED, out-parameters untouched). Frees and option initialisers do what
 * they would on nothing. */
#include <stddef.h>
#include "ibex/library.h"
#include "ibex/conclusion.h"
#include "ibex_internal.h"

#define UNAVAILABLE "this libibex was built without the HDF5 reference library"

ibex_status ibex_library_add(ibex_library *lib, const ibex_specimen *spec, const ibex_surface *s,
                             size_t *row, ibex_diag *diag)
{
    (void)lib; (void)spec; (void)s; (void)row;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

ibex_status ibex_library_add_batch(ibex_library *lib, const ibex_specimen *specs,
                                   const ibex_surface *const *s, size_t n, size_t *row0,
                                   ibex_diag *diag)
{
    (void)lib; (void)specs; (void)s; (void)n; (void)row0;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

ibex_status ibex_library_begin(ibex_library *lib, ibex_diag *diag)
{
    (void)lib;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

ibex_status ibex_library_close(ibex_library *lib, ibex_diag *diag)
{
    (void)lib;
    (void)diag;
    return IBEX_OK; /* no library can be open */
}

ibex_status ibex_library_column_read(ibex_library *lib, const char *column, size_t row0, size_t n,
                                     char **out, ibex_diag *diag)
{
    (void)lib; (void)column; (void)row0; (void)n; (void)out;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

ibex_status ibex_library_commit(ibex_library *lib, ibex_diag *diag)
{
    (void)lib;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

size_t ibex_library_count(const ibex_library *lib)
{
    (void)lib;
    return 0;
}

ibex_status ibex_library_create(const char *path, const ibex_library_opts *o, ibex_library **out,
                                ibex_diag *diag)
{
    (void)path; (void)o; (void)out;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

int ibex_library_find_hash(const ibex_library *lib, const char *sha256_hex, size_t *row)
{
    (void)lib; (void)sha256_hex; (void)row;
    return 0;
}

int ibex_library_find_id(const ibex_library *lib, const char *id, size_t *row)
{
    (void)lib; (void)id; (void)row;
    return 0;
}

ibex_status ibex_library_get_info(ibex_library *lib, size_t row, ibex_specimen *out,
                                  ibex_diag *diag)
{
    (void)lib; (void)row; (void)out;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

ibex_status ibex_library_get_surface(ibex_library *lib, size_t row, ibex_surface **out,
                                     ibex_diag *diag)
{
    (void)lib; (void)row; (void)out;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

ibex_status ibex_library_index_get_shape(ibex_library *lib, size_t *n, size_t *d, ibex_diag *diag)
{
    (void)lib; (void)n; (void)d;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

ibex_status ibex_library_index_read(ibex_library *lib, size_t row0, size_t n, float *x,
                                    ibex_diag *diag)
{
    (void)lib; (void)row0; (void)n; (void)x;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

ibex_status ibex_library_index_write(ibex_library *lib, size_t row0, size_t n, size_t d,
                                     const float *x, ibex_diag *diag)
{
    (void)lib; (void)row0; (void)n; (void)d; (void)x;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

ibex_status ibex_library_model_get_matrix(ibex_library *lib, const char *kind, const char *name,
                                          size_t *rows, size_t *cols, float **x, ibex_diag *diag)
{
    (void)lib; (void)kind; (void)name; (void)rows; (void)cols; (void)x;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

ibex_status ibex_library_model_get_text(ibex_library *lib, const char *kind, const char *name,
                                        char **text, ibex_diag *diag)
{
    (void)lib; (void)kind; (void)name; (void)text;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

ibex_status ibex_library_model_put_matrix(ibex_library *lib, const char *kind, const char *name,
                                          size_t rows, size_t cols, const float *x, ibex_diag *diag)
{
    (void)lib; (void)kind; (void)name; (void)rows; (void)cols; (void)x;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

ibex_status ibex_library_model_put_text(ibex_library *lib, const char *kind, const char *name,
                                        const char *text, ibex_diag *diag)
{
    (void)lib; (void)kind; (void)name; (void)text;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

ibex_status ibex_library_open(const char *path, const ibex_library_opts *o, ibex_library **out,
                              ibex_diag *diag)
{
    (void)path; (void)o; (void)out;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

const char *ibex_library_params(const ibex_library *lib)
{
    (void)lib;
    return NULL;
}

ibex_status ibex_library_prepare(const ibex_library *lib, const ibex_surface *in,
                                 ibex_surface **out, ibex_diag *diag)
{
    (void)lib; (void)in; (void)out;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}


const char *ibex_library_path(const ibex_library *lib)
{
    (void)lib;
    return NULL;
}

ibex_status ibex_conclusion_append(ibex_library *lib, const ibex_conclusion *c, uint64_t *seq, ibex_diag *diag)
{
    (void)lib; (void)c; (void)seq;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

ibex_status ibex_conclusion_count(ibex_library *lib, uint64_t *n, ibex_diag *diag)
{
    (void)lib; (void)n;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

ibex_status ibex_conclusion_read_all(ibex_library *lib, ibex_conclusion **out, size_t *n, ibex_diag *diag)
{
    (void)lib; (void)out; (void)n;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}
