/* Cross-correlation of 1D land signatures: Pearson correlation over the overlap at every lag
 * with enough overlap, by direct dot products (signatures are ~1000 samples, so this beats an
 * FFT once the normalisation per lag is needed) and prefix sums for the means and variances. */
#include <math.h>

#include "bullet_internal.h"

/* The hot loop. Built for AVX-512, AVX2 and baseline; the loader picks one at start-up
 * (GCC function multi-versioning), so the binary stays portable. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static double dot(const float *restrict x, const float *restrict y, size_t n)
{
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (size_t i = 0; i < n; i++) s += x[i] * y[i];
    return s;
}

/* Overlap of a[i] with b[i - lag]: i in [lo, hi). */
static inline void overlap(size_t na, size_t nb, long lag, long *lo, long *hi)
{
    *lo = lag > 0 ? lag : 0;
    *hi = (long)na < (long)nb + lag ? (long)na : (long)nb + lag;
}

static inline double pearson(const ibex_land_signature *a, const ibex_land_signature *b,
                             long lag, long lo, long hi, double sab)
{
    double m = (double)(hi - lo);
    double sa = a->psum[hi] - a->psum[lo], saa = a->psum2[hi] - a->psum2[lo];
    double sb = b->psum[hi - lag] - b->psum[lo - lag];
    double sbb = b->psum2[hi - lag] - b->psum2[lo - lag];
    double va = saa - sa * sa / m, vb = sbb - sb * sb / m;
    if (!(va > 0) || !(vb > 0)) return NAN;
    return (sab - sa * sb / m) / sqrt(va * vb);
}

double ibex__ccf_at(const ibex_land_signature *a, const ibex_land_signature *b, long lag)
{
    long lo, hi;
    overlap(a->n, b->n, lag, &lo, &hi);
    if (hi - lo < 2) return NAN;
    return pearson(a, b, lag, lo, hi, dot(a->filled + lo, b->filled + lo - lag, (size_t)(hi - lo)));
}

/* Four neighbouring lags at once over their common overlap [lo, hi): a[i] * b[i - L - k].
 * Four independent sums keep the FMA units busy (one sum is bound by FMA latency). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void dot4(const float *restrict a, const float *restrict b, long lo, long hi, long L,
                 double out[4])
{
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    const float *b0 = b - L, *b1 = b - L - 1, *b2 = b - L - 2, *b3 = b - L - 3;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
    for (long i = lo; i < hi; i++) {
        float x = a[i];
        s0 += x * b0[i];
        s1 += x * b1[i];
        s2 += x * b2[i];
        s3 += x * b3[i];
    }
    out[0] = s0;
    out[1] = s1;
    out[2] = s2;
    out[3] = s3;
}

void ibex__ccf_best(const ibex_land_signature *a, const ibex_land_signature *b,
                    size_t min_overlap, double *ccf, long *lag)
{
    double best = -INFINITY;
    long bl = 0;
    if (min_overlap < 2) min_overlap = 2;
    long lmin = (long)min_overlap - (long)b->n, lmax = (long)a->n - (long)min_overlap;
    const float *fa = a->filled, *fb = b->filled;
    for (long L = lmin; L <= lmax; L += 4) {
        double s[4];
        long clo = L + 3 > 0 ? L + 3 : 0;
        long chi = (long)a->n < (long)b->n + L ? (long)a->n : (long)b->n + L;
        if (chi > clo) dot4(fa, fb, clo, chi, L, s);
        else s[0] = s[1] = s[2] = s[3] = 0;
        for (int k = 0; k < 4 && L + k <= lmax; k++) {
            long Lk = L + k, lo, hi;
            overlap(a->n, b->n, Lk, &lo, &hi);
            if (hi - lo < (long)min_overlap) continue;
            double sab = s[k];
            if (chi > clo) {
                /* edge terms outside the common range (at most 3 on each side) */
                for (long i = lo; i < clo; i++) sab += (double)fa[i] * fb[i - Lk];
                for (long i = chi; i < hi; i++) sab += (double)fa[i] * fb[i - Lk];
            } else {
                sab = dot(fa + lo, fb + lo - Lk, (size_t)(hi - lo));
            }
            double r = pearson(a, b, Lk, lo, hi, sab);
            if (r > best) {
                best = r;
                bl = Lk;
            }
        }
    }
    *ccf = isfinite(best) ? best : 0.0;
    *lag = bl;
}
