/* ibex_index_query_part (MPI sharding, docs/reference/sharding.md): an index split into parts at
 * arbitrary rows, each part queried alone and the lists merged, must give the whole
 * index's list with bitwise equal scores. A part scored as an index of its own would not
 * (a row's BLAS sum depends on its place in the block), so this is the property the
 * sharded 'ibex query --mpi' relies on for answers identical to the single process. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ibex/ibex.h"

static uint64_t rng = 0x9e3779b97f4a7c15u;
static double urand(void)
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return (double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0;
}

static void unit_rows(float *x, size_t n, size_t d)
{
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (size_t j = 0; j < d; j++) {
            x[i * d + j] = (float)(urand() - 0.5);
            s += (double)x[i * d + j] * x[i * d + j];
        }
        for (size_t j = 0; j < d; j++) x[i * d + j] = (float)(x[i * d + j] / sqrt(s));
    }
}

static int hit_order(const void *a, const void *b)
{
    const ibex_hit *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

/* Whole index of n rows vs. the parts cut at cuts[0..nc) (ascending, inside [0, n]). */
static void check_split(const float *X, size_t n, size_t d, const float *Q, size_t nq, size_t k,
                        const size_t *cuts, size_t nc, const char *what)
{
    ibex_index *whole = NULL;
    size_t nw = 0, kk = k < n ? k : n;
    ibex_hit *hw = malloc(nq * k * sizeof *hw), *hp = malloc(nq * k * sizeof *hp);
    ibex_hit *all = malloc(nq * (nc + 1) * k * sizeof *all);
    size_t *na = calloc(nq, sizeof *na);
    CHECK(hw && hp && all && na);
    if (!hw || !hp || !all || !na) goto done;
    CHECK(ibex_index_create(d, &whole) == IBEX_OK && ibex_index_add(whole, X, n) == IBEX_OK);
    CHECK(ibex_index_query_batch(whole, Q, nq, k, hw, &nw) == IBEX_OK && nw == kk);
    for (size_t p = 0; p <= nc; p++) {
        size_t a = p ? cuts[p - 1] : 0, b = p < nc ? cuts[p] : n, np = 0;
        ibex_index *part = NULL;
        CHECK(ibex_index_create(d, &part) == IBEX_OK && ibex_index_add(part, X + a * d, b - a) == IBEX_OK);
        CHECK(ibex_index_query_part(part, Q, nq, k, a, n, hp, &np) == IBEX_OK);
        CHECK(np == (k < b - a ? k : b - a));
        for (size_t j = 0; j < nq; j++)
            for (size_t h = 0; h < np; h++) {
                CHECK(hp[j * k + h].row >= a && hp[j * k + h].row < b);
                all[j * (nc + 1) * k + na[j]++] = hp[j * k + h];
            }
        ibex_index_free(part);
    }
    size_t bad = 0;
    for (size_t j = 0; j < nq; j++) {
        ibex_hit *m = all + j * (nc + 1) * k;
        qsort(m, na[j], sizeof *m, hit_order);
        CHECK(na[j] >= kk);
        for (size_t h = 0; h < kk && h < na[j]; h++)
            if (m[h].row != hw[j * k + h].row || memcmp(&m[h].score, &hw[j * k + h].score, sizeof(float))) bad++;
    }
    CHECK_MSG(bad == 0, "%s: %zu of %zu merged hits differ from the whole index", what, bad, nq * kk);
done:
    ibex_index_free(whole);
    free(hw);
    free(hp);
    free(all);
    free(na);
}

int main(void)
{
    const size_t n = 9500;
    const size_t dims[2] = {64, 20}; /* 20: parts whose blocks are not 64-byte aligned */
    for (int t = 0; t < 2; t++) {
        size_t d = dims[t];
        float *X = malloc(n * d * sizeof *X), *Q = malloc(3 * d * sizeof *Q);
        if (!X || !Q) return 1;
        unit_rows(X, n, d);
        unit_rows(Q, 3, d);
        /* Cuts: inside blocks, on a block edge (4096; 256 for the batch), an empty part
         * (two equal cuts) and a one-row part. */
        const size_t cuts[] = {1, 1000, 1000, 1001, 4096, 4097, 7777};
        char what[64];
        for (size_t nq = 1; nq <= 3; nq += 2) {
            /* k = n: every row's score is compared, not only the top ones. */
            snprintf(what, sizeof what, "d=%zu nq=%zu all rows", d, nq);
            check_split(X, n, d, Q, nq, n, cuts, 7, what);
            snprintf(what, sizeof what, "d=%zu nq=%zu top 50", d, nq);
            check_split(X, n, d, Q, nq, 50, cuts, 7, what);
            const size_t halves[] = {n / 2};
            snprintf(what, sizeof what, "d=%zu nq=%zu two halves", d, nq);
            check_split(X, n, d, Q, nq, 50, halves, 1, what);
        }
        free(X);
        free(Q);
    }
    /* A part that does not fit inside the whole is refused. */
    ibex_index *ix = NULL;
    float row[4] = {1, 0, 0, 0}, q[4] = {1, 0, 0, 0};
    ibex_hit h[2];
    size_t nh = 7;
    CHECK(ibex_index_create(4, &ix) == IBEX_OK && ibex_index_add(ix, row, 1) == IBEX_OK);
    CHECK(ibex_index_query_part(ix, q, 1, 2, 5, 5, h, &nh) == IBEX_ERR_ARG && nh == 7);
    CHECK(ibex_index_query_part(ix, q, 1, 2, 4, 5, h, &nh) == IBEX_OK && nh == 1 && h[0].row == 4);
    ibex_index_free(ix);
    return check_exit();
}
