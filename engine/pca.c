/* PCA projection of raw descriptors: covariance (or Gram) matrix with SSYRK, leading
 * eigenvectors with LAPACK SSYEVR (OpenBLAS ships LAPACK without LAPACKE here, so the
 * Fortran symbol is called directly), projection with a plain vectorised kernel. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ibex/index.h"
#include "ibex_internal.h"

/* LAPACK (gfortran ABI: hidden string lengths at the end). */
extern void ssyevr_(const char *jobz, const char *range, const char *uplo, const int *n, float *a,
                    const int *lda, const float *vl, const float *vu, const int *il,
                    const int *iu, const float *abstol, int *m, float *w, float *z,
                    const int *ldz, int *isuppz, float *work, const int *lwork, int *iwork,
                    const int *liwork, int *info, size_t, size_t, size_t);

struct ibex_pca {
    size_t p, d;
    float *mean;   /* p */
    float *basis;  /* d x p */
};

static ibex_pca *alloc_pca(size_t p, size_t d)
{
    ibex_pca *a = calloc(1, sizeof *a);
    size_t dp;
    if (!a || !ibex__mul_ok(d, p, &dp)) {
        free(a);
        return NULL;
    }
    a->p = p;
    a->d = d;
    a->mean = calloc(p, sizeof *a->mean);
    a->basis = calloc(dp, sizeof *a->basis);
    if (!a->mean || !a->basis) {
        ibex_pca_free(a);
        return NULL;
    }
    return a;
}

void ibex_pca_free(ibex_pca *a)
{
    if (!a) return;
    free(a->mean);
    free(a->basis);
    free(a);
}

size_t ibex_pca_dim_in(const ibex_pca *a) { return a ? a->p : 0; }
size_t ibex_pca_dim_out(const ibex_pca *a) { return a ? a->d : 0; }
const float *ibex_pca_get_mean(const ibex_pca *a) { return a ? a->mean : NULL; }
const float *ibex_pca_get_basis(const ibex_pca *a) { return a ? a->basis : NULL; }

ibex_status ibex_pca_create(size_t p, size_t d, const float *mean, const float *basis,
                            ibex_pca **out)
{
    if (!out || !mean || !basis || !p || !d || d > p || d > IBEX_INDEX_MAX_DIM) return IBEX_ERR_ARG;
    for (size_t i = 0; i < p; i++)
        if (!isfinite(mean[i])) return IBEX_ERR_ARG;
    for (size_t i = 0; i < d * p; i++)
        if (!isfinite(basis[i])) return IBEX_ERR_ARG;
    ibex_pca *a = alloc_pca(p, d);
    if (!a) return IBEX_ERR_NOMEM;
    memcpy(a->mean, mean, p * sizeof *mean);
    memcpy(a->basis, basis, d * p * sizeof *basis);
    *out = a;
    return IBEX_OK;
}

/* Top k eigenpairs of the symmetric n x n matrix S (row-major upper = column-major lower),
 * eigenvalues descending into w[k], eigenvectors as rows of v[k x n]. 0 on success. */
static int top_eigen(float *S, int n, int k, float *w, float *v)
{
    int il = n - k + 1, iu = n, m = 0, info = 0, lwork = -1, liwork = -1, iw_q = 0;
    float vl = 0, vu = 0, abstol = 0, w_q = 0;
    float *ww = malloc((size_t)n * sizeof *ww);
    float *z = malloc((size_t)n * k * sizeof *z);
    int *isuppz = malloc(2 * (size_t)k * sizeof *isuppz);
    if (!ww || !z || !isuppz) goto fail;
    ssyevr_("V", "I", "L", &n, S, &n, &vl, &vu, &il, &iu, &abstol, &m, ww, z, &n, isuppz, &w_q,
            &lwork, &iw_q, &liwork, &info, 1, 1, 1);
    if (info) goto fail;
    lwork = (int)w_q + 1;
    liwork = iw_q + 1;
    float *work = malloc((size_t)lwork * sizeof *work);
    int *iwork = malloc((size_t)liwork * sizeof *iwork);
    if (!work || !iwork) {
        free(work);
        free(iwork);
        goto fail;
    }
    ssyevr_("V", "I", "L", &n, S, &n, &vl, &vu, &il, &iu, &abstol, &m, ww, z, &n, isuppz, work,
            &lwork, iwork, &liwork, &info, 1, 1, 1);
    free(work);
    free(iwork);
    if (info || m != k) goto fail;
    for (int i = 0; i < k; i++) {
        const float *col = z + (size_t)(k - 1 - i) * n; /* ascending order from LAPACK */
        w[i] = ww[k - 1 - i];
        /* Deterministic sign: the largest-magnitude entry is positive. */
        int jm = 0;
        for (int j = 1; j < n; j++)
            if (fabsf(col[j]) > fabsf(col[jm])) jm = j;
        float sg = col[jm] < 0 ? -1.0f : 1.0f;
        for (int j = 0; j < n; j++) v[(size_t)i * n + j] = sg * col[j];
    }
    free(ww);
    free(z);
    free(isuppz);
    return 0;
fail:
    free(ww);
    free(z);
    free(isuppz);
    return -1;
}

ibex_status ibex_pca_fit(const float *x, size_t n, size_t p, size_t d, size_t max_fit,
                         unsigned flags, ibex_pca **out, ibex_diag *diag)
{
    if (!x || !out || n < 2 || !p || !d || d > p || d > IBEX_INDEX_MAX_DIM || p > 65536)
        return ibex__fail(diag, IBEX_ERR_ARG, NULL, -1,
                          "PCA needs at least 2 rows and 1 <= d <= p (n=%zu p=%zu d=%zu)", n, p, d);
    size_t m = (max_fit && n > max_fit) ? max_fit : n;
    if (m > (size_t)1 << 30) return IBEX_ERR_LIMIT;
    ibex_pca *a = alloc_pca(p, d);
    float *xc = malloc(m * p * sizeof *xc);
    double *mu = calloc(p, sizeof *mu);
    if (!a || !xc || !mu) {
        ibex_pca_free(a);
        free(xc);
        free(mu);
        return IBEX_ERR_NOMEM;
    }
    for (size_t i = 0; i < m; i++) {
        const float *row = x + (i * n / m) * p; /* even stride, deterministic */
        for (size_t j = 0; j < p; j++) {
            if (!isfinite(row[j])) {
                ibex_pca_free(a);
                free(xc);
                free(mu);
                return ibex__fail(diag, IBEX_ERR_ARG, NULL, -1, "PCA input row %zu is not finite", i * n / m);
            }
            xc[i * p + j] = row[j];
            mu[j] += row[j];
        }
    }
    for (size_t j = 0; j < p; j++) a->mean[j] = (float)(mu[j] / m);
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < p; j++) xc[i * p + j] -= a->mean[j];
    free(mu);

    int gram = m < p;
    size_t q = gram ? m : p;          /* side of the eigenproblem */
    size_t k = d < q ? d : q;         /* eigenpairs asked for */
    float *S = malloc(q * q * sizeof *S);
    float *w = malloc(k * sizeof *w);
    float *v = malloc(k * q * sizeof *v);
    ibex_status st = IBEX_OK;
    if (!S || !w || !v) {
        st = IBEX_ERR_NOMEM;
        goto done;
    }
    if (gram) /* S = Xc Xc^T (m x m) */
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)m, (int)p, 1.0f, xc, (int)p,
                    0.0f, S, (int)m);
    else      /* S = Xc^T Xc (p x p) */
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)p, (int)m, 1.0f, xc, (int)p,
                    0.0f, S, (int)p);
    if (top_eigen(S, (int)q, (int)k, w, v)) {
        st = ibex__fail(diag, IBEX_ERR_UNSUPPORTED, NULL, -1, "PCA eigen-decomposition failed");
        goto done;
    }
    /* Components past the rank of the data (tiny eigenvalues) stay zero. */
    float tiny = w[0] > 0 ? w[0] * 1e-6f : 0;
    for (size_t i = 0; i < k; i++) {
        if (!(w[i] > tiny)) break;
        float *b = a->basis + i * p;
        if (gram) { /* v_i = Xc^T u_i / sqrt(lambda_i) */
            cblas_sgemv(CblasRowMajor, CblasTrans, (int)m, (int)p, 1.0f / sqrtf(w[i]), xc,
                        (int)p, v + i * q, 1, 0.0f, b, 1);
        } else {
            memcpy(b, v + i * q, p * sizeof *b);
        }
        if (flags & IBEX_PCA_WHITEN) {
            /* Regularised whitening (eps = 1% of the top variance) so noise directions
             * are not blown up. */
            float s = 1.0f / sqrtf((w[i] + 0.01f * w[0]) / (float)(m - 1));
            for (size_t j = 0; j < p; j++) b[j] *= s;
        }
    }
done:
    free(S);
    free(w);
    free(v);
    free(xc);
    if (st) {
        ibex_pca_free(a);
        return st;
    }
    *out = a;
    return IBEX_OK;
}

/* Row by row with a plain vectorised kernel rather than BLAS: a specimen then gets the
 * same bits whether it is projected alone (incremental ingest) or in a batch (rebuild),
 * and a d x p product this small never pays for BLAS threads (which, on a loaded machine,
 * cost milliseconds per call in waits). */
static float dot(const float *restrict a, const float *restrict b, size_t n)
{
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (size_t j = 0; j < n; j++) s += a[j] * b[j];
    return s;
}

ibex_status ibex_pca_project(const ibex_pca *a, const float *x, size_t n, float *y)
{
    if (!a || (n && (!x || !y))) return IBEX_ERR_ARG;
    size_t p = a->p, d = a->d;
    float *xc = malloc(p * sizeof *xc);
    if (!xc) return IBEX_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        float *r = y + i * d;
        for (size_t j = 0; j < p; j++) xc[j] = x[i * p + j] - a->mean[j];
        for (size_t k = 0; k < d; k++) r[k] = dot(a->basis + k * p, xc, p);
        double ss = 0;
        for (size_t j = 0; j < d; j++) ss += (double)r[j] * r[j];
        float f = ss > 0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
        for (size_t j = 0; j < d; j++) r[j] *= f;
    }
    free(xc);
    return IBEX_OK;
}
