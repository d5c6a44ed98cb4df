/* Reference index: N x d float32 rows, stage-1 scoring with SGEMV (one query) or SGEMM
 * (a batch), top-K by a bounded heap per thread (no full sort).
 *
 * Determinism: rows are scored in fixed blocks of BLOCK rows; each block is one BLAS call
 * made from inside an OpenMP region with the nested thread count set to 1, where OpenBLAS
 * (openmp build) runs serially, so a row's score does not depend on the thread count. The heaps are merged under a total
 * order (score descending, row ascending), so the list does not either.
 * (OpenMP belongs in parallel.c per STYLE.md; this loop is the only one here and can move
 * there when that file lands.) */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ibex/index.h"
#include "ibex_internal.h"

#define BLOCK 4096   /* rows per BLAS call: BLOCK*d*4 bytes = 1 MiB at d = 64 */
#define MIN_BLOCKS 8 /* blocks per thread before a second thread is used */

struct ibex_index {
    size_t d, n, cap;
    float *rows;
};

ibex_status ibex_index_create(size_t d, ibex_index **out)
{
    if (!out || !d || d > IBEX_INDEX_MAX_DIM) return IBEX_ERR_ARG;
    ibex_index *ix = calloc(1, sizeof *ix);
    if (!ix) return IBEX_ERR_NOMEM;
    ix->d = d;
    *out = ix;
    return IBEX_OK;
}

void ibex_index_free(ibex_index *ix)
{
    if (!ix) return;
    free(ix->rows);
    free(ix);
}

ibex_status ibex_index_reserve(ibex_index *ix, size_t n)
{
    size_t bytes;
    if (!ix) return IBEX_ERR_ARG;
    if (n <= ix->cap) return IBEX_OK;
    if (!ibex__mul_ok(n, ix->d * sizeof(float), &bytes) || n > INT32_MAX) return IBEX_ERR_LIMIT;
    /* 64-byte alignment for the BLAS kernels (copy rather than realloc to keep it); large
     * indexes are 2 MiB aligned and asked for transparent huge pages, which cuts TLB
     * misses in the streaming scan. */
    size_t align = bytes >= ((size_t)8 << 20) ? ((size_t)2 << 20) : 64;
    float *r = aligned_alloc(align, (bytes + align - 1) / align * align);
    if (!r) return IBEX_ERR_NOMEM;
#ifdef MADV_HUGEPAGE
    if (align > 64) madvise(r, (bytes + align - 1) / align * align, MADV_HUGEPAGE);
#endif
    if (ix->n) memcpy(r, ix->rows, ix->n * ix->d * sizeof(float));
    free(ix->rows);
    ix->rows = r;
    ix->cap = n;
    return IBEX_OK;
}

ibex_status ibex_index_add(ibex_index *ix, const float *rows, size_t n)
{
    if (!ix || (n && !rows)) return IBEX_ERR_ARG;
    if (!n) return IBEX_OK;
    for (size_t i = 0; i < n * ix->d; i++)
        if (!isfinite(rows[i])) return IBEX_ERR_ARG;
    if (n > SIZE_MAX - ix->n) return IBEX_ERR_LIMIT;
    if (ix->n + n > ix->cap) {
        size_t want = ix->cap ? ix->cap : 1024;
        while (want < ix->n + n) want = want > SIZE_MAX / 2 ? ix->n + n : want * 2;
        ibex_status st = ibex_index_reserve(ix, want);
        if (st) return st;
    }
    memcpy(ix->rows + ix->n * ix->d, rows, n * ix->d * sizeof(float));
    ix->n += n;
    return IBEX_OK;
}

size_t ibex_index_count(const ibex_index *ix) { return ix ? ix->n : 0; }
size_t ibex_index_dim(const ibex_index *ix) { return ix ? ix->d : 0; }
const float *ibex_index_get_rows(const ibex_index *ix) { return ix ? ix->rows : NULL; }
size_t ibex_index_memory(const ibex_index *ix)
{
    return ix ? sizeof *ix + ix->cap * ix->d * sizeof(float) : 0;
}

/* ---- bounded min-heap: root = worst kept hit ---------------------------------------- */

/* a is worse than b: lower score, or equal score and higher row. */
static inline int worse(const ibex_hit *a, const ibex_hit *b)
{
    return a->score < b->score || (a->score == b->score && a->row > b->row);
}

static void sift_down(ibex_hit *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && worse(&h[l], &h[m])) m = l;
        if (r < n && worse(&h[r], &h[m])) m = r;
        if (m == i) return;
        ibex_hit t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void heap_push(ibex_hit *h, size_t *n, size_t k, size_t row, float score)
{
    ibex_hit x = {row, score};
    if (*n < k) {
        size_t i = (*n)++;
        h[i] = x;
        while (i) {
            size_t p = (i - 1) / 2;
            if (!worse(&h[i], &h[p])) break;
            ibex_hit t = h[i];
            h[i] = h[p];
            h[p] = t;
            i = p;
        }
    } else if (worse(&h[0], &x)) {
        h[0] = x;
        sift_down(h, k, 0);
    }
}

/* Scan scores s[0..c) of rows r0.. into the heap; the root test skips most pushes. */
static void heap_scan(ibex_hit *h, size_t *n, size_t k, size_t r0, const float *s, size_t c)
{
    size_t i = 0;
    for (; i < c && *n < k; i++) heap_push(h, n, k, r0 + i, s[i]);
    for (; i < c; i++)
        if (s[i] >= h[0].score) heap_push(h, n, k, r0 + i, s[i]);
}

static int hit_cmp(const void *a, const void *b)
{
    const ibex_hit *x = a, *y = b;
    if (worse(y, x)) return -1;
    if (worse(x, y)) return 1;
    return 0;
}

/* ---- queries ------------------------------------------------------------------------ */

/* Padded copy of global block [r0, r0 + c) for a part that holds only some of its rows:
 * the part's rows at their global places, zero rows elsewhere, so the BLAS call sees the
 * same shape (and scores each row with the same code path) as over the whole index. */
static float *pad_block(const ibex_index *ix, size_t first, size_t r0, size_t c)
{
    size_t d = ix->d, a = r0 > first ? r0 : first, e = r0 + c < first + ix->n ? r0 + c : first + ix->n;
    float *p = aligned_alloc(64, (c * d * sizeof(float) + 63) / 64 * 64);
    if (!p) return NULL;
    memset(p, 0, c * d * sizeof(float));
    memcpy(p + (a - r0) * d, ix->rows + (a - first) * d, (e - a) * d * sizeof(float));
    return p;
}

ibex_status ibex_index_query_part(const ibex_index *ix, const float *q, size_t nq, size_t k, size_t first,
                                  size_t total, ibex_hit *hits, size_t *n_hits)
{
    if (!ix || !n_hits || (nq && (!q || (k && !hits)))) return IBEX_ERR_ARG;
    size_t d = ix->d, N = ix->n;
    if (first > total || N > total - first) return IBEX_ERR_ARG;
    for (size_t i = 0; i < nq * d; i++)
        if (!isfinite(q[i])) return IBEX_ERR_ARG;
    size_t kk = k < N ? k : N;
    if (!nq || !kk) {
        *n_hits = kk;
        return IBEX_OK;
    }
    /* Heaps take threads x nq x kk hits: keep nq x kk under 2^26 (1 GiB per thread). */
    if (nq > (size_t)1 << 20 || kk > (size_t)1 << 24 || nq * kk > (size_t)1 << 26) return IBEX_ERR_LIMIT;
    /* Batch blocks shrink so the nq x rows score tile stays near 256 KiB (in L2 with the
     * block of rows); the block size depends only on nq, never on the thread count. */
    size_t bs = BLOCK;
    if (nq > 1) {
        bs = ((size_t)65536 / nq) / 256 * 256;
        if (bs < 256) bs = 256;
        if (bs > BLOCK) bs = BLOCK;
    }
    /* Blocks are laid out over the global rows [0, total); this part scans blocks b0..b1. */
    size_t b0 = first / bs, b1 = (first + N - 1) / bs, nblk = b1 - b0 + 1;
    /* The first and last blocks may hold rows of other parts: score padded copies. */
    float *pad[2] = {NULL, NULL};
    for (int e = 0; e < 2; e++) {
        size_t b = e ? b1 : b0, r0 = b * bs, c = total - r0 < bs ? total - r0 : bs;
        if ((e && b1 == b0) || (r0 >= first && r0 + c <= first + N)) continue;
        if (!(pad[e] = pad_block(ix, first, r0, c))) {
            free(pad[0]);
            return IBEX_ERR_NOMEM;
        }
    }
    /* Threads only when each gets at least MIN_BLOCKS blocks: below that, waking a second
     * thread costs more than it saves (and on a loaded machine a sleeping thread can
     * cost a whole scheduler slice). */
    int T = omp_get_max_threads();
    if ((size_t)T > nblk / MIN_BLOCKS) T = (int)(nblk / MIN_BLOCKS);
    if (T < 1) T = 1;
    /* Per thread: nq heaps of kk hits, their sizes, and a BLOCK x nq score buffer. */
    ibex_hit *heaps = malloc((size_t)T * nq * kk * sizeof *heaps);
    size_t *hn = calloc((size_t)T * nq, sizeof *hn);
    float *sc = malloc((size_t)T * bs * nq * sizeof *sc);
    /* The whole index's blocks start 64-byte aligned; when this part's do not (first * d
     * not a multiple of 16 floats), each block is scored from an aligned copy, since a
     * kernel may take another path for unaligned rows. */
    int realign = (first * d) % 16 != 0;
    float *cp = realign ? aligned_alloc(64, (size_t)T * bs * d * sizeof(float)) : NULL;
    if (!heaps || !hn || !sc || (realign && !cp)) {
        free(heaps);
        free(hn);
        free(sc);
        free(cp);
        free(pad[0]);
        free(pad[1]);
        return IBEX_ERR_NOMEM;
    }
#pragma omp parallel num_threads(T)
    {
        int t = omp_get_thread_num();
        /* BLAS calls from here run serially even when this team has one thread (an
         * inactive region, where OpenBLAS would otherwise fork its own threads and split
         * the block differently): the ICV is task-local and ends with the region. */
        omp_set_num_threads(1);
        ibex_hit *H = heaps + (size_t)t * nq * kk;
        size_t *Hn = hn + (size_t)t * nq;
        float *S = sc + (size_t)t * bs * nq;
#pragma omp for schedule(static)
        for (size_t b = b0; b <= b1; b++) {
            size_t r0 = b * bs, c = total - r0 < bs ? total - r0 : bs;
            /* Scores kept: the part's rows [a, e) of this block. */
            size_t a = r0 > first ? r0 : first, e = r0 + c < first + N ? r0 + c : first + N;
            const float *A = b == b0 && pad[0] ? pad[0] : b == b1 && pad[1] ? pad[1] : ix->rows + (r0 - first) * d;
            if (cp && A != pad[0] && A != pad[1]) {
                float *C = cp + (size_t)t * bs * d;
                memcpy(C, A, c * d * sizeof *C);
                A = C;
            }
            if (nq == 1) {
                cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)c, (int)d, 1.0f, A, (int)d, q, 1,
                            0.0f, S, 1);
                heap_scan(H, Hn, kk, a, S + (a - r0), e - a);
            } else {
                /* S (nq x c) = Q (nq x d) A^T: each query's scores are contiguous. */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)c, (int)d,
                            1.0f, q, (int)d, A, (int)d, 0.0f, S, (int)c);
                for (size_t j = 0; j < nq; j++)
                    heap_scan(H + j * kk, Hn + j, kk, a, S + j * c + (a - r0), e - a);
            }
        }
    }
    free(pad[0]);
    free(pad[1]);
    free(cp);
    /* Merge the per-thread heaps under the total order. */
    ibex_hit *all = malloc((size_t)T * kk * sizeof *all);
    if (!all) {
        free(heaps);
        free(hn);
        free(sc);
        return IBEX_ERR_NOMEM;
    }
    for (size_t j = 0; j < nq; j++) {
        size_t m = 0;
        for (int t = 0; t < T; t++) {
            memcpy(all + m, heaps + ((size_t)t * nq + j) * kk, hn[(size_t)t * nq + j] * sizeof *all);
            m += hn[(size_t)t * nq + j];
        }
        qsort(all, m, sizeof *all, hit_cmp);
        memcpy(hits + j * k, all, kk * sizeof *all);
    }
    free(all);
    free(heaps);
    free(hn);
    free(sc);
    *n_hits = kk;
    return IBEX_OK;
}

ibex_status ibex_index_query_batch(const ibex_index *ix, const float *q, size_t nq, size_t k,
                                   ibex_hit *hits, size_t *n_hits)
{
    return ibex_index_query_part(ix, q, nq, k, 0, ix ? ix->n : 0, hits, n_hits);
}

ibex_status ibex_index_query(const ibex_index *ix, const float *q, size_t k, ibex_hit *hits,
                             size_t *n_hits)
{
    return ibex_index_query_batch(ix, q, 1, k, hits, n_hits);
}
