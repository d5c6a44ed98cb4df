/* Stage-1 search: a compact rotation- and translation-invariant descriptor per specimen,
 * a PCA projection to d dimensions, and an index that scores a query against all N
 * specimens with one matrix-vector product (OpenBLAS SGEMV; SGEMM for query batches).
 *
 * Pipeline for a breech face (ibex_descriptor_run, then ibex_pca_project):
 *   1. area-average the valid points onto a fixed working grid (default 256 x 256 at
 *      16 um = 4.096 mm, centred on the centroid of the valid points); remove the mean,
 *      divide by the RMS, taper the mask edges with a cosine ramp (default 64 um);
 *   2. power spectrum |FFT|^2 (gamma = 2): translation invariant; the energy of a peak is
 *      conserved when rotation moves it between bins, the sum of magnitudes is not;
 *   3. over the band of wavelengths [lambda_min, lambda_max] (default 40..400 um, the
 *      band-pass of the NIST CMC papers, i.e. spatial frequencies 2.5..25 /mm, the scale
 *      of breech-face toolmarks), split the half plane into n_radii log-spaced rings
 *      (triangular weights) and take the angular Fourier series of the power along each
 *      ring, F_r(m), m = 0..M-1 (harmonics of period pi, since the power is
 *      centro-symmetric); a rotation by a multiplies
 *      F_r(m) by exp(-2 i m a), so |F_r(m)| and the cross-ring products
 *      F_r(m) conj(F_s(m)) (every pair of rings r < s by default) are rotation invariant
 *      while keeping the relative orientation of structures at different scales;
 *   4. raw vector = [log ring energies | |F_r(m)|/F_r(0) | normalised cross-ring products],
 *      each block L2-normalised and weighted;
 *   5. PCA to d dimensions (fitted on the library), then L2-normalised so that the cosine
 *      similarity of two specimens is the dot product of their rows.
 *
 * Bullets: ibex_descriptor_run_profiles takes the signature (or averaged cross-profile) of
 * each land and returns a descriptor of the same length (log power spectra of the profiles
 * in the same rings, averaged over lands, plus |DFT over the land index| per ring, which
 * does not depend on which land is listed first; use ibex_descriptor_opts_init_bullet). It is deliberately simple; the bullet comparator does
 * the real signature matching in stage 2.
 *
 * Layout, refit policy, proposed library datasets and measured figures: docs/reference/index.md.
 *
 * Index: rows of d floats (unit vectors), row i = the i-th specimen added. Queries return
 * the top K rows by dot product, ties broken by lower row number, identical for any thread
 * count (each fixed block of rows is scored by the same serial BLAS call wherever it runs). */
#ifndef IBEX_INDEX_H
#define IBEX_INDEX_H

#include "ibex/export.h"

#include <stddef.h>
#include <stdint.h>
#include "ibex/status.h"
#include "ibex/surface.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- descriptor ------------------------------------------------------------------- */

typedef struct ibex_descriptor_opts {
    size_t struct_size; /* sizeof the struct, set by ibex_descriptor_opts_init: lets it grow (ABI) */
    double spacing;          /* working grid spacing, metres (16e-6) */
    unsigned grid;           /* working grid side, points, power of two (256) */
    double lambda_min;       /* shortest wavelength kept, metres (40e-6) */
    double lambda_max;       /* longest wavelength kept, metres (400e-6) */
    unsigned n_radii;        /* log-spaced rings over the band (24) */
    unsigned n_harmonics;    /* angular harmonics m = 0..n_harmonics-1 (16) */
    unsigned ring_offsets;   /* cross-ring products with rings r+1..r+ring_offsets; 0 = every
                              * pair of rings (default: 24 rings -> 276 pairs) */
    double taper;            /* cosine ramp at mask edges, metres (64e-6) */
    double gamma;            /* spectrum exponent |F|^gamma (2.0: power) */
    double w_radial, w_aniso, w_cross; /* block weights (1, 1, 1) */
} ibex_descriptor_opts;

IBEX_API void ibex_descriptor_opts_init(ibex_descriptor_opts *o);
/* Defaults for bullets (ibex_descriptor_run_profiles on land signatures): band 10..200 um,
 * the scale of striae (spacing 4 um; the grid options are unused for profiles). */
IBEX_API void ibex_descriptor_opts_init_bullet(ibex_descriptor_opts *o);

/* Canonical text of the options ("ibex-descriptor-v1 spacing=1.6e-05 grid=256 ..."), for a
 * library attribute: two libraries (or a library and a query) are compatible when the
 * strings are equal. Needs at most IBEX_DESCRIPTOR_OPTS_TEXT bytes. Parsing refuses an
 * unknown version or key with IBEX_ERR_FORMAT; *o is written only on success. */
#define IBEX_DESCRIPTOR_OPTS_TEXT 512
IBEX_API void ibex_descriptor_opts_format(const ibex_descriptor_opts *o, char *buf, size_t size);
IBEX_API ibex_status ibex_descriptor_opts_parse(const char *text, ibex_descriptor_opts *o, ibex_diag *diag);

/* Holds the FFT plan and the ring tables; ibex_descriptor_run on a const plan is
 * re-entrant (each call allocates its own work arrays). */
typedef struct ibex_descriptor ibex_descriptor;

IBEX_API ibex_status ibex_descriptor_create(const ibex_descriptor_opts *o, ibex_descriptor **out,
                                            ibex_diag *diag);
IBEX_API void ibex_descriptor_free(ibex_descriptor *p);
/* Length of the raw descriptor (the input dimension of the PCA). */
IBEX_API size_t ibex_descriptor_size(const ibex_descriptor *p);
IBEX_API void ibex_descriptor_get_opts(const ibex_descriptor *p, ibex_descriptor_opts *o);

/* Raw descriptor of a breech-face surface into raw[ibex_descriptor_size(p)].
 * Refuses (IBEX_ERR_UNSUPPORTED) a surface with fewer than 1000 valid working-grid points
 * or with no height variation. name is used in messages (NULL ok). */
IBEX_API ibex_status ibex_descriptor_run(const ibex_descriptor *p, const ibex_surface *s,
                                         const char *name, float *raw, ibex_diag *diag);

/* Raw descriptor of a bullet from n_lands cross-profiles (heights in metres, NaN = missing,
 * n_points[i] points each at spacing dx metres), same length as the breech-face one. */
IBEX_API ibex_status ibex_descriptor_run_profiles(const ibex_descriptor *p, const float *const *profiles,
                                                  const size_t *n_points, size_t n_lands, double dx,
                                                  const char *name, float *raw, ibex_diag *diag);

/* ---- PCA projection ----------------------------------------------------------------- */

/* y = normalise(B (x - mean)): B is d x p (row i = i-th component, optionally whitened). */
typedef struct ibex_pca ibex_pca;

#define IBEX_PCA_WHITEN 0x1u /* scale component i by 1/sqrt(lambda_i + eps) */
/* Recommended max_fit for a library: the fit then uses the Gram path (2048 x 2048) and
 * takes about a second, whatever N. */
#define IBEX_PCA_FIT_MAX 2048
/* Recommended dimension of the index rows. */
#define IBEX_INDEX_DIM 64

/* Fit on n raw rows of length p (row-major). Uses the p x p covariance (SSYRK + SSYEVR)
 * when n >= p, else the n x n Gram matrix. d <= p; when d >= n the components past the
 * rank of the data are left zero (those coordinates are then always 0). At most max_fit
 * rows are used (an even stride over the rows, deterministic); 0 = all. */
IBEX_API ibex_status ibex_pca_fit(const float *x, size_t n, size_t p, size_t d, size_t max_fit,
                                  unsigned flags, ibex_pca **out, ibex_diag *diag);
/* From stored mean[p] and basis[d*p] (as read back from a library). */
IBEX_API ibex_status ibex_pca_create(size_t p, size_t d, const float *mean, const float *basis,
                                     ibex_pca **out);
IBEX_API void ibex_pca_free(ibex_pca *pca);
IBEX_API size_t ibex_pca_dim_in(const ibex_pca *pca);
IBEX_API size_t ibex_pca_dim_out(const ibex_pca *pca);
IBEX_API const float *ibex_pca_get_mean(const ibex_pca *pca);   /* p floats */
IBEX_API const float *ibex_pca_get_basis(const ibex_pca *pca);  /* d x p floats, row-major */
/* n raw rows -> n unit rows of length d (a zero projection gives a zero row). */
IBEX_API ibex_status ibex_pca_project(const ibex_pca *pca, const float *x, size_t n, float *y);

/* ---- index -------------------------------------------------------------------------- */

typedef struct ibex_index ibex_index;

typedef struct ibex_hit {
    size_t row;    /* row number in the index (order of ibex_index_add) */
    float score;   /* dot product = cosine similarity for unit rows */
} ibex_hit;

#define IBEX_INDEX_MAX_DIM 4096

IBEX_API ibex_status ibex_index_create(size_t d, ibex_index **out);
IBEX_API void ibex_index_free(ibex_index *ix);
/* Room for n rows in total, so adding them does not reallocate. */
IBEX_API ibex_status ibex_index_reserve(ibex_index *ix, size_t n);
/* Append n rows of d floats. Refuses non-finite values (IBEX_ERR_ARG), leaving the index
 * unchanged. Rows are stored as given (ibex_pca_project output is already unit length). */
IBEX_API ibex_status ibex_index_add(ibex_index *ix, const float *rows, size_t n);
IBEX_API size_t ibex_index_count(const ibex_index *ix);
IBEX_API size_t ibex_index_dim(const ibex_index *ix);
IBEX_API const float *ibex_index_get_rows(const ibex_index *ix); /* count x dim, row-major */
IBEX_API size_t ibex_index_memory(const ibex_index *ix);         /* bytes held */

/* Top k rows for query q[d] by dot product, best first (score descending, then row
 * ascending); *n_hits = min(k, count). hits has room for k. */
IBEX_API ibex_status ibex_index_query(const ibex_index *ix, const float *q, size_t k, ibex_hit *hits,
                                      size_t *n_hits);
/* nq queries (row-major nq x d) scored with SGEMM; hits[i*k ..] holds query i's list. */
IBEX_API ibex_status ibex_index_query_batch(const ibex_index *ix, const float *q, size_t nq, size_t k,
                                            ibex_hit *hits, size_t *n_hits);
/* One part of an index split across processes (docs/reference/sharding.md): ix holds the rows
 * [first, first + count) of a whole index of `total` rows, and each row is scored with the
 * same BLAS call shape as ibex_index_query_batch over the whole would use, so the scores
 * are bitwise the same (a row's float sum depends on its place in the block). Hit rows are
 * global (first + local row); merging the parts' lists under (score descending, row
 * ascending) gives the whole index's list. Refuses first + count > total (IBEX_ERR_ARG). */
IBEX_API ibex_status ibex_index_query_part(const ibex_index *ix, const float *q, size_t nq, size_t k, size_t first,
                                           size_t total, ibex_hit *hits, size_t *n_hits);

#ifdef __cplusplus
}
#endif
#endif
