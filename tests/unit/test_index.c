/* Stage-1 index: descriptor invariance on analytic anisotropic surfaces, top-K against a
 * naive full sort (exact arithmetic), thread-count and batch independence, incremental
 * add, PCA eigen-equation, bad input. Seed: IBEX_SEED (default 7), printed on failure. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ibex/ibex.h"
#include "ibex/index.h"

static uint64_t rng_state;
static double urand(void) /* splitmix64 -> [0,1) */
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (z >> 11) * (1.0 / 9007199254740992.0);
}
static double nrand(void)
{
    double u = urand() + 1e-300, v = urand();
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* ---- analytic surfaces -------------------------------------------------------------- */

#define NW 300
typedef struct wave { double fx, fy, a, ph; } wave;

/* NW plane waves around a dominant direction: an anisotropic, striated texture like a
 * breech face, with angular spread sd_deg and wavelengths in [lo, lo + wd] metres.
 * sd_deg < 0 draws the spread (5..30 deg) and the band (lower edge 40..120 um, width
 * 100..300 um) at random, for the PCA training textures. */
static void make_waves_p(wave *w, double sd_deg, double lo, double wd)
{
    if (sd_deg < 0) {
        sd_deg = 5 + 25 * urand();
        lo = 40e-6 + 80e-6 * urand();
        wd = 100e-6 + 200e-6 * urand();
    }
    double th0 = M_PI * urand(), sd = sd_deg * M_PI / 180;
    for (int k = 0; k < NW; k++) {
        double lam = lo + wd * urand();
        double th = th0 + sd * nrand();
        w[k].fx = cos(th) / lam;
        w[k].fy = sin(th) / lam;
        w[k].a = 1e-7 * (0.3 + urand());
        w[k].ph = 2 * M_PI * urand();
    }
}
static void make_waves(wave *w) { make_waves_p(w, -1, 0, 0); }

/* Sample the texture rotated by rot (radians) about its centre, the centre moved by
 * (tx, ty) metres from the grid centre; valid inside an annulus (radii 1.5 mm and
 * 0.35 mm) around that centre. Exact samples, no interpolation: along a row each wave's
 * phase is linear in x, so it is advanced by a complex rotation (double precision). */
static ibex_surface *render(const wave *w, double rot, double tx, double ty)
{
    const size_t n = 400;
    const double h = 8e-6, R = 1.5e-3, r0 = 0.35e-3;
    ibex_surface *s = NULL;
    if (ibex_surface_create(n, n, h, h, &s)) return NULL;
    double c = cos(rot), sn = sin(rot);
    double re[NW], im[NW], cr[NW], ci[NW];
    for (size_t j = 0; j < n; j++) {
        double y = (j - n / 2.0) * h - ty, x0 = (0 - n / 2.0) * h - tx;
        for (int k = 0; k < NW; k++) {
            /* phase(x) = 2 pi (fx u + fy v) + ph with u = c x + s y, v = -s x + c y */
            double gx = 2 * M_PI * (w[k].fx * c - w[k].fy * sn);
            double gy = 2 * M_PI * (w[k].fx * sn + w[k].fy * c);
            double a0 = gx * x0 + gy * y + w[k].ph;
            re[k] = w[k].a * cos(a0);
            im[k] = w[k].a * sin(a0);
            cr[k] = cos(gx * h);
            ci[k] = sin(gx * h);
        }
        for (size_t i = 0; i < n; i++) {
            double x = (i - n / 2.0) * h - tx, rr = hypot(x, y), z = 0;
            int in = rr <= R && rr >= r0;
            for (int k = 0; k < NW; k++) {
                if (in) z += re[k];
                double t = re[k] * cr[k] - im[k] * ci[k];
                im[k] = re[k] * ci[k] + im[k] * cr[k];
                re[k] = t;
            }
            if (!in) continue;
            s->z[j * n + i] = (float)z;
            s->valid[j * n + i] = 1;
        }
    }
    return s;
}

static double cosine(const float *a, const float *b, size_t n)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return ab / sqrt(aa * bb);
}

static void test_invariance(void)
{
    ibex_descriptor *dp = NULL;
    ibex_diag dg;
    CHECK(ibex_descriptor_create(NULL, &dp, &dg) == IBEX_OK);
    if (!dp) return;
    size_t p = ibex_descriptor_size(dp);
    enum { NTRAIN = 16 };
    /* rows: 0 original, 1 rot 17, 2 rot 90, 3 translated, 4 rot 17 + translated,
     * 5 another texture, 6.. training textures for the PCA */
    const int nrow = 6 + NTRAIN;
    float *raw = calloc((size_t)nrow * p, sizeof *raw);
    wave w[NW], w2[NW];
    /* The query texture and a different one: narrow spread, fine band vs wide spread,
     * coarse band (both random in their phases and exact directions). */
    make_waves_p(w, 10, 50e-6, 150e-6);
    make_waves_p(w2, 25, 120e-6, 230e-6);
    struct { const wave *w; double rot, tx, ty; } cfg[6] = {
        {w, 0, 0, 0}, {w, 17 * M_PI / 180, 0, 0}, {w, M_PI / 2, 0, 0},
        {w, 0, 123e-6, -77e-6}, {w, 17 * M_PI / 180, -201e-6, 53e-6}, {w2, 0, 0, 0}};
    for (int i = 0; i < nrow; i++) {
        wave wt[NW];
        ibex_surface *s;
        if (i < 6) s = render(cfg[i].w, cfg[i].rot, cfg[i].tx, cfg[i].ty);
        else {
            make_waves(wt);
            s = render(wt, 0, 0, 0);
        }
        CHECK(s != NULL);
        if (!s) continue;
        ibex_status st = ibex_descriptor_run(dp, s, "synthetic", raw + (size_t)i * p, &dg);
        CHECK_MSG(st == IBEX_OK, "%s", dg.message);
        ibex_surface_free(s);
    }
    /* PCA fitted on the training textures only; d = 15 (their rank). */
    ibex_pca *pca = NULL;
    CHECK(ibex_pca_fit(raw + 6 * p, NTRAIN, p, 15, 0, 0, &pca, &dg) == IBEX_OK);
    float y[6][15];
    if (pca) CHECK(ibex_pca_project(pca, raw, 6, &y[0][0]) == IBEX_OK);
    const char *what[5] = {"rotated 17 deg", "rotated 90 deg", "translated", "rotated 17 + translated",
                           "different texture"};
    double craw[5], cpca[5];
    for (int i = 1; i < 6; i++) {
        craw[i - 1] = cosine(raw, raw + (size_t)i * p, p);
        cpca[i - 1] = cosine(y[0], y[i], 15);
        printf("%-24s raw cosine %.4f   PCA cosine %.4f\n", what[i - 1], craw[i - 1], cpca[i - 1]);
    }
    /* Tolerances. Measured over seeds 1..12: transformed copies raw >= 0.974, after PCA
     * >= 0.993; the different texture raw <= 0.63, after PCA <= -0.81. Asserted:
     * transformed copies >= 0.95 raw (the FFT grid is not rotation invariant at 17 deg,
     * only the ring integrals nearly are) and >= 0.98 after PCA; the different texture
     * < 0.8 raw and < 0.5 after PCA. */
    for (int i = 0; i < 4; i++) {
        CHECK_MSG(cpca[i] >= 0.98, "%s: PCA cosine %.4f", what[i], cpca[i]);
        CHECK_MSG(craw[i] >= 0.95, "%s: raw cosine %.4f", what[i], craw[i]);
    }
    CHECK_MSG(craw[4] < 0.8, "different texture: raw cosine %.4f", craw[4]);
    CHECK_MSG(cpca[4] < 0.5, "different texture: PCA cosine %.4f", cpca[4]);
    ibex_pca_free(pca);
    free(raw);
    ibex_descriptor_free(dp);
}

/* ---- index against a naive reference ------------------------------------------------ */

/* Entries k/16 with small integers k: every dot product is exact in float whatever the
 * summation order, so the naive double computation gives bit-identical scores, including
 * exact ties (which the index must break by row). */
static void exact_rows(float *x, size_t n, size_t d)
{
    for (size_t i = 0; i < n * d; i++) x[i] = (float)((int)(urand() * 9) - 4) / 16.0f;
}

typedef struct ref { double s; size_t row; } ref;
static int ref_cmp(const void *a, const void *b)
{
    const ref *x = a, *y = b;
    if (x->s != y->s) return x->s > y->s ? -1 : 1;
    return x->row < y->row ? -1 : (x->row > y->row);
}

static void naive_topk(const float *X, size_t n, size_t d, const float *q, size_t k, ref *out)
{
    ref *all = malloc(n * sizeof *all);
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (size_t j = 0; j < d; j++) s += (double)X[i * d + j] * q[j];
        all[i].s = s;
        all[i].row = i;
    }
    qsort(all, n, sizeof *all, ref_cmp);
    memcpy(out, all, k * sizeof *out);
    free(all);
}

static void test_topk(void)
{
    /* n not a multiple of any block size; nq = 70 makes the batch use 768-row blocks */
    const size_t n = 10007, d = 24, k = 50, nq = 70;
    float *X = malloc(n * d * sizeof *X), *Q = malloc(nq * d * sizeof *Q);
    exact_rows(X, n, d);
    exact_rows(Q, nq, d);
    memcpy(X + 9000 * d, X + 17 * d, d * sizeof *X); /* duplicates: certain ties */
    memcpy(X + 5000 * d, X + 17 * d, d * sizeof *X);
    ibex_index *ix = NULL;
    CHECK(ibex_index_create(d, &ix) == IBEX_OK);
    CHECK(ibex_index_add(ix, X, n) == IBEX_OK);
    CHECK(ibex_index_count(ix) == n);
    ibex_hit *hs = malloc(nq * k * sizeof *hs), *hb = malloc(nq * k * sizeof *hb);
    ref *r = malloc(k * sizeof *r);
    size_t nh = 0, nb = 0;
    CHECK(ibex_index_query_batch(ix, Q, nq, k, hb, &nb) == IBEX_OK && nb == k);
    for (size_t j = 0; j < nq; j++) {
        CHECK(ibex_index_query(ix, Q + j * d, k, hs + j * k, &nh) == IBEX_OK && nh == k);
        naive_topk(X, n, d, Q + j * d, k, r);
        int same = 1, same_b = 1;
        for (size_t i = 0; i < k; i++) {
            same &= hs[j * k + i].row == r[i].row && hs[j * k + i].score == (float)r[i].s;
            same_b &= hb[j * k + i].row == r[i].row && hb[j * k + i].score == (float)r[i].s;
        }
        CHECK_MSG(same, "query %zu: SGEMV top-%zu differs from the naive full sort", j, k);
        CHECK_MSG(same_b, "query %zu: SGEMM batch top-%zu differs from the naive full sort", j, k);
    }
    /* A query equal to the duplicated row: rows 17, 5000, 9000 tie; lowest row first. */
    {
        float q[24];
        memcpy(q, X + 17 * d, sizeof q);
        ibex_hit h3[3];
        CHECK(ibex_index_query(ix, q, 3, h3, &nh) == IBEX_OK);
        naive_topk(X, n, d, q, 3, r);
        CHECK(h3[0].row == r[0].row && h3[1].row == r[1].row && h3[2].row == r[2].row);
        if (h3[0].score == h3[2].score) CHECK(h3[0].row == 17 && h3[1].row == 5000 && h3[2].row == 9000);
    }
    /* k larger than N returns N hits. */
    {
        ibex_index *small = NULL;
        ibex_hit h[8];
        ibex_index_create(d, &small);
        ibex_index_add(small, X, 5);
        CHECK(ibex_index_query(small, Q, 8, h, &nh) == IBEX_OK && nh == 5);
        ibex_index_free(small);
    }
    free(X);
    free(Q);
    free(hs);
    free(hb);
    free(r);
    ibex_index_free(ix);
}

static void unit_rows(float *x, size_t n, size_t d)
{
    for (size_t i = 0; i < n; i++) {
        double ss = 0;
        for (size_t j = 0; j < d; j++) ss += (double)x[i * d + j] * x[i * d + j];
        for (size_t j = 0; j < d; j++) x[i * d + j] = (float)(x[i * d + j] / sqrt(ss));
    }
}

/* Float unit rows (as the index holds): the list is identical for 1 and 2 threads (bit for bit), and the batch agrees
 * with single queries to 1e-5 in score (rounding of SGEMM vs SGEMV). */
/* Field by field: ibex_hit has padding that memcmp would read. */
static int hits_equal(const ibex_hit *a, const ibex_hit *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i].row != b[i].row || a[i].score != b[i].score) return 0;
    return 1;
}

static void test_threads_batch(void)
{
    const size_t n = 20011, d = 64, k = 50, nq = 5;
    float *X = malloc(n * d * sizeof *X), *Q = malloc(nq * d * sizeof *Q);
    for (size_t i = 0; i < n * d; i++) X[i] = (float)nrand();
    for (size_t i = 0; i < nq * d; i++) Q[i] = (float)nrand();
    unit_rows(X, n, d);
    unit_rows(Q, nq, d);
    ibex_index *ix = NULL;
    ibex_index_create(d, &ix);
    ibex_index_add(ix, X, n);
    ibex_hit *h1 = malloc(nq * k * sizeof *h1), *h2 = malloc(nq * k * sizeof *h2),
             *hb = malloc(nq * k * sizeof *hb);
    size_t nh;
    int T = omp_get_max_threads();
    omp_set_num_threads(1);
    for (size_t j = 0; j < nq; j++) ibex_index_query(ix, Q + j * d, k, h1 + j * k, &nh);
    omp_set_num_threads(2);
    for (size_t j = 0; j < nq; j++) ibex_index_query(ix, Q + j * d, k, h2 + j * k, &nh);
    omp_set_num_threads(T);
    CHECK_MSG(hits_equal(h1, h2, nq * k), "1 vs 2 threads differ");
    CHECK(ibex_index_query_batch(ix, Q, nq, k, hb, &nh) == IBEX_OK);
    double maxd = 0;
    int rows_same = 1;
    for (size_t i = 0; i < nq * k; i++) {
        double df = fabs((double)hb[i].score - h1[i].score);
        if (df > maxd) maxd = df;
        rows_same &= hb[i].row == h1[i].row;
    }
    CHECK_MSG(maxd <= 1e-5, "batch vs single score difference %g", maxd);
    if (!rows_same) {
        /* Allowed only where neighbours are within rounding of each other. */
        for (size_t i = 0; i < nq * k; i++)
            if (hb[i].row != h1[i].row) {
                double gap = fabs((double)h1[i].score - (i % k + 1 < k ? h1[i + 1].score : h1[i].score));
                double gap2 = i % k ? fabs((double)h1[i].score - h1[i - 1].score) : 1;
                CHECK_MSG(gap <= 2e-5 || gap2 <= 2e-5, "batch row differs at %zu without a near tie", i);
            }
    }
    free(X);
    free(Q);
    free(h1);
    free(h2);
    free(hb);
    ibex_index_free(ix);
}

/* Incremental: project and add in pieces with a fixed basis == all at once. */
static void test_incremental(void)
{
    const size_t n = 300, p = 90, d = 16;
    float *x = malloc(n * p * sizeof *x);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < p; j++) /* a few strong directions plus noise */
            x[i * p + j] = (float)(nrand() * 0.1 + (j % 7 == 0 ? 3 * sin(i * 0.37 + j) : 0));
    ibex_pca *pca = NULL;
    ibex_diag dg;
    CHECK(ibex_pca_fit(x, 200, p, d, 0, 0, &pca, &dg) == IBEX_OK); /* basis from the first 200 */
    if (!pca) return;
    float *ya = malloc(n * d * sizeof *ya), *yb = malloc(n * d * sizeof *yb);
    ibex_pca_project(pca, x, n, ya);
    ibex_index *a = NULL, *b = NULL;
    ibex_index_create(d, &a);
    ibex_index_create(d, &b);
    ibex_index_add(a, ya, n);
    size_t cuts[] = {0, 1, 38, 200, 201, n};
    for (size_t c = 0; c + 1 < sizeof cuts / sizeof *cuts; c++) {
        size_t m = cuts[c + 1] - cuts[c];
        ibex_pca_project(pca, x + cuts[c] * p, m, yb + cuts[c] * d);
        CHECK(ibex_index_add(b, yb + cuts[c] * d, m) == IBEX_OK);
    }
    CHECK(ibex_index_count(a) == n && ibex_index_count(b) == n);
    CHECK_MSG(memcmp(ibex_index_get_rows(a), ibex_index_get_rows(b), n * d * sizeof(float)) == 0,
              "incremental rows differ from one-shot rows");
    double nrm = 0;
    for (size_t j = 0; j < d; j++) nrm += (double)ya[j] * ya[j];
    CHECK_NEAR(nrm, 1.0, 1e-5);
    ibex_hit ha[10], hb[10];
    size_t na, nb;
    ibex_index_query(a, ya + 250 * d, 10, ha, &na);
    ibex_index_query(b, ya + 250 * d, 10, hb, &nb);
    CHECK(na == nb && hits_equal(ha, hb, na));
    CHECK(ha[0].row == 250);
    /* A basis read back from its stored arrays projects identically. */
    ibex_pca *c2 = NULL;
    CHECK(ibex_pca_create(p, d, ibex_pca_get_mean(pca), ibex_pca_get_basis(pca), &c2) == IBEX_OK);
    if (c2) {
        ibex_pca_project(c2, x, n, yb);
        CHECK(memcmp(ya, yb, n * d * sizeof *ya) == 0);
    }
    ibex_pca_free(c2);
    ibex_pca_free(pca);
    ibex_index_free(a);
    ibex_index_free(b);
    free(x);
    free(ya);
    free(yb);
}

/* Basis rows are orthonormal eigenvectors of the sample covariance, eigenvalues descending:
 * checked in double against the naive covariance, for the covariance path (n >= p) and
 * the Gram path (n < p). */
static void test_pca(size_t n, size_t p, size_t d)
{
    float *x = malloc(n * p * sizeof *x);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < p; j++) x[i * p + j] = (float)(nrand() * (1.0 + 4.0 / (1 + j)));
    ibex_pca *pca = NULL;
    ibex_diag dg;
    CHECK(ibex_pca_fit(x, n, p, d, 0, 0, &pca, &dg) == IBEX_OK);
    if (!pca) return;
    const float *mu = ibex_pca_get_mean(pca), *B = ibex_pca_get_basis(pca);
    double *C = calloc(p * p, sizeof *C), *Cv = malloc(p * sizeof *Cv), prev = INFINITY;
    for (size_t i = 0; i < n; i++)
        for (size_t a = 0; a < p; a++)
            for (size_t b = 0; b < p; b++) C[a * p + b] += ((double)x[i * p + a] - mu[a]) * ((double)x[i * p + b] - mu[b]);
    double worst_orth = 0, worst_res = 0;
    int desc = 1;
    for (size_t u = 0; u < d; u++) {
        for (size_t v = 0; v <= u; v++) {
            double s = 0;
            for (size_t j = 0; j < p; j++) s += (double)B[u * p + j] * B[v * p + j];
            double e = fabs(s - (u == v));
            if (e > worst_orth) worst_orth = e;
        }
        double lam = 0, res = 0;
        for (size_t a = 0; a < p; a++) {
            Cv[a] = 0;
            for (size_t b = 0; b < p; b++) Cv[a] += C[a * p + b] * B[u * p + b];
            lam += Cv[a] * B[u * p + a];
        }
        for (size_t a = 0; a < p; a++) res += (Cv[a] - lam * B[u * p + a]) * (Cv[a] - lam * B[u * p + a]);
        res = sqrt(res) / lam;
        if (res > worst_res) worst_res = res;
        desc &= lam <= prev * (1 + 1e-4);
        prev = lam;
    }
    printf("PCA n=%zu p=%zu d=%zu: orthonormality error %.2g, eigen residual %.2g\n", n, p, d,
           worst_orth, worst_res);
    CHECK_MSG(worst_orth < 1e-4, "n=%zu p=%zu: basis not orthonormal (%g)", n, p, worst_orth);
    CHECK_MSG(worst_res < 1e-3, "n=%zu p=%zu: not eigenvectors (relative residual %g)", n, p, worst_res);
    CHECK(desc);
    free(C);
    free(Cv);
    free(x);
    ibex_pca_free(pca);
}

/* Bullet descriptor from land profiles: invariant to which land is listed first; a
 * re-measurement (noise, another curvature and offset, a shift of a few points) stays
 * closer than another bullet. */
#define NL 6
#define NP 1200
static void land_signature(double *sig, size_t n)
{
    double f[12], ph[12], a[12];
    for (int k = 0; k < 12; k++) {
        f[k] = 1.0 / (50e-6 + 250e-6 * urand());
        ph[k] = 2 * M_PI * urand();
        a[k] = 1e-6 * (0.2 + urand());
    }
    for (size_t i = 0; i < n; i++) {
        double x = i * 1.5625e-6, z = 0;
        for (int k = 0; k < 12; k++) z += a[k] * cos(2 * M_PI * f[k] * x + ph[k]);
        sig[i] = z;
    }
}

static void measure(double sig[NL][NP + 16], float prof[NL][NP], int shift, double noise)
{
    for (int l = 0; l < NL; l++) {
        double curv = 20e-6 * (0.5 + urand());
        for (int i = 0; i < NP; i++) {
            double t = 2.0 * i / (NP - 1) - 1;
            prof[l][i] = (float)(sig[l][i + shift] + curv * t * t + noise * 1e-6 * nrand());
        }
        prof[l][37] = NAN; /* a missing point */
    }
}

static void test_bullet(void)
{
    static double sa[NL][NP + 16], sb[NL][NP + 16];
    static float pa[NL][NP], pa2[NL][NP], pb[NL][NP];
    for (int l = 0; l < NL; l++) {
        land_signature(sa[l], NP + 16);
        land_signature(sb[l], NP + 16);
    }
    measure(sa, pa, 0, 0.1);
    measure(sa, pa2, 7, 0.1);
    measure(sb, pb, 0, 0.1);
    ibex_descriptor *dp = NULL;
    ibex_diag dg;
    ibex_descriptor_create(NULL, &dp, &dg);
    size_t p = ibex_descriptor_size(dp);
    float *r = calloc(4 * p, sizeof *r);
    const float *la[NL], *lr[NL], *la2[NL], *lb[NL];
    size_t np[NL];
    for (int l = 0; l < NL; l++) {
        la[l] = pa[l];
        lr[l] = pa[(l + 2) % NL]; /* same bullet, listed from its third land */
        la2[l] = pa2[l];
        lb[l] = pb[l];
        np[l] = NP;
    }
    CHECK(ibex_descriptor_run_profiles(dp, la, np, NL, 1.5625e-6, "a", r, &dg) == IBEX_OK);
    CHECK(ibex_descriptor_run_profiles(dp, lr, np, NL, 1.5625e-6, "a rotated", r + p, &dg) == IBEX_OK);
    CHECK(ibex_descriptor_run_profiles(dp, la2, np, NL, 1.5625e-6, "a again", r + 2 * p, &dg) == IBEX_OK);
    CHECK(ibex_descriptor_run_profiles(dp, lb, np, NL, 1.5625e-6, "b", r + 3 * p, &dg) == IBEX_OK);
    double c_rot = cosine(r, r + p, p), c_again = cosine(r, r + 2 * p, p), c_other = cosine(r, r + 3 * p, p);
    printf("bullet: land order %.6f, re-measured %.4f, other bullet %.4f\n", c_rot, c_again, c_other);
    /* Land order changes only the summation order: equal to float rounding. */
    CHECK_NEAR(c_rot, 1.0, 1e-5);
    CHECK_MSG(c_again > c_other + 0.05, "re-measured %.4f vs other %.4f", c_again, c_other);
    const float *one[1] = {pa[0]};
    size_t short_n[1] = {40};
    CHECK(ibex_descriptor_run_profiles(dp, one, short_n, 1, 1.5625e-6, "short", r, &dg) != IBEX_OK);
    free(r);
    ibex_descriptor_free(dp);
}

/* Options text: format -> parse -> format is the identity; bad texts are refused. */
static void test_opts_text(void)
{
    ibex_descriptor_opts a, b;
    ibex_descriptor_opts_init(&a);
    a.lambda_max = 0.1 + 0.2; /* not exactly representable in short decimal */
    a.n_radii = 17;
    char t1[IBEX_DESCRIPTOR_OPTS_TEXT], t2[IBEX_DESCRIPTOR_OPTS_TEXT];
    ibex_descriptor_opts_format(&a, t1, sizeof t1);
    ibex_diag dg;
    CHECK(ibex_descriptor_opts_parse(t1, &b, &dg) == IBEX_OK);
    ibex_descriptor_opts_format(&b, t2, sizeof t2);
    CHECK(strcmp(t1, t2) == 0);
    CHECK(b.lambda_max == a.lambda_max && b.n_radii == 17 && b.spacing == a.spacing);
    memset(&b, 0x5a, sizeof b);
    ibex_descriptor_opts c = b;
    CHECK(ibex_descriptor_opts_parse("ibex-descriptor-v2 grid=256", &b, &dg) == IBEX_ERR_FORMAT);
    CHECK(ibex_descriptor_opts_parse("ibex-descriptor-v1 grid=25x6", &b, &dg) == IBEX_ERR_FORMAT);
    CHECK(ibex_descriptor_opts_parse("ibex-descriptor-v1 colour=3", &b, &dg) == IBEX_ERR_FORMAT);
    CHECK(ibex_descriptor_opts_parse("ibex-descriptor-v1 grid=-1", &b, &dg) == IBEX_ERR_FORMAT);
    CHECK(memcmp(&b, &c, sizeof b) == 0); /* untouched on failure */
}

static void test_bad(void)
{
    ibex_index *ix = NULL;
    float row[4] = {1, 0, 0, 0}, bad[8] = {1, 0, 0, 0, NAN, 0, 0, 0};
    ibex_hit h[2];
    size_t nh = 99;
    CHECK(ibex_index_create(0, &ix) == IBEX_ERR_ARG);
    CHECK(ibex_index_create(4, &ix) == IBEX_OK);
    CHECK(ibex_index_add(ix, row, 1) == IBEX_OK);
    CHECK(ibex_index_add(ix, bad, 2) == IBEX_ERR_ARG);
    CHECK(ibex_index_count(ix) == 1);
    CHECK(ibex_index_query(ix, bad + 4, 2, h, &nh) == IBEX_ERR_ARG && nh == 99);
    ibex_index_free(ix);

    ibex_descriptor *dp = NULL;
    ibex_diag dg;
    ibex_descriptor_create(NULL, &dp, &dg);
    float *raw = malloc(ibex_descriptor_size(dp) * sizeof *raw);
    ibex_surface *s = NULL;
    ibex_surface_create(300, 300, 6.25e-6, 6.25e-6, &s);
    for (size_t i = 0; i < 300 * 300; i++) {
        s->z[i] = 1e-6f;
        s->valid[i] = 1;
    }
    CHECK(ibex_descriptor_run(dp, s, "flat", raw, &dg) == IBEX_ERR_UNSUPPORTED);
    printf("flat surface: %s\n", dg.message);
    for (size_t i = 0; i < 300 * 300; i++)
        if (i % 300 > 20 || i / 300 > 20) {
            s->z[i] = NAN;
            s->valid[i] = 0;
        } else s->z[i] = (float)(i % 7) * 1e-6f;
    CHECK(ibex_descriptor_run(dp, s, "tiny", raw, &dg) == IBEX_ERR_UNSUPPORTED);
    printf("tiny surface: %s\n", dg.message);
    /* A NaN height marked valid (a broken invariant) is treated as invalid: no NaN out. */
    {
        ibex_surface *t = NULL;
        ibex_surface_create(200, 200, 6.25e-6, 6.25e-6, &t);
        for (size_t i = 0; i < 200 * 200; i++) {
            t->z[i] = (float)(1e-6 * sin(i * 0.37) + 1e-6 * cos((i / 200) * 0.21));
            t->valid[i] = 1;
        }
        t->z[777] = NAN;
        CHECK(ibex_descriptor_run(dp, t, "nan", raw, &dg) == IBEX_OK);
        int finite = 1;
        for (size_t i = 0; i < ibex_descriptor_size(dp); i++) finite &= isfinite(raw[i]) != 0;
        CHECK(finite);
        t->dx = NAN;
        CHECK(ibex_descriptor_run(dp, t, "nan spacing", raw, &dg) == IBEX_ERR_ARG);
        ibex_surface_free(t);
    }
    ibex_descriptor_opts o;
    ibex_descriptor_opts_init(&o);
    o.grid = 100;
    ibex_descriptor *d2 = NULL;
    CHECK(ibex_descriptor_create(&o, &d2, &dg) == IBEX_ERR_ARG && d2 == NULL);
    ibex_surface_free(s);
    free(raw);
    ibex_descriptor_free(dp);
}

int main(void)
{
    unsigned long seed = getenv("IBEX_SEED") ? strtoul(getenv("IBEX_SEED"), NULL, 10) : 7;
    rng_state = seed;
    test_invariance();
    test_topk();
    test_threads_batch();
    test_incremental();
    test_pca(200, 40, 8);
    test_pca(30, 120, 10);
    test_bullet();
    test_opts_text();
    test_bad();
    if (check_failures_) fprintf(stderr, "seed %lu (IBEX_SEED)\n", seed);
    return check_exit();
}
