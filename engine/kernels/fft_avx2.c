/* The own FFT with AVX2 + FMA: fft_body.h over 8 lanes. The pragma is the file's compiler
 * flags; fft_own.c calls it only on a CPU with AVX2 and FMA. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("avx2,fma")
#elif defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#endif
#include <immintrin.h>

typedef __m256 vf;
#define V 8
#define LD(p) _mm256_loadu_ps(p)
#define ST(p, v) _mm256_storeu_ps(p, v)
#define BC(x) _mm256_set1_ps(x)
#define FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define FMS(a, b, c) _mm256_fmsub_ps(a, b, c)
#define FNMA(a, b, c) _mm256_fnmadd_ps(a, b, c)

/* 8 x 8 transpose: pairs, quads within 128-bit lanes, then the two lanes. */
static inline void tpose8(vf *r)
{
    vf t[8], s[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int q = 0; q < 2; q++) { /* s[4q + j]: columns j, j+4 of rows 4q .. 4q+3 */
        s[4 * q + 0] = _mm256_shuffle_ps(t[4 * q], t[4 * q + 2], 0x44);
        s[4 * q + 1] = _mm256_shuffle_ps(t[4 * q], t[4 * q + 2], 0xEE);
        s[4 * q + 2] = _mm256_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0x44);
        s[4 * q + 3] = _mm256_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0xEE);
    }
    for (int j = 0; j < 4; j++) {
        r[j] = _mm256_permute2f128_ps(s[j], s[4 + j], 0x20);
        r[j + 4] = _mm256_permute2f128_ps(s[j], s[4 + j], 0x31);
    }
}
#define TPOSE(r) tpose8(r)

/* 4 x 4 complex pairs (64-bit) from r[2k] to o[2k]: pairs, then the 128-bit lanes. */
static inline void tpc4(vf *o, const vf *r)
{
    __m256d t0 = _mm256_unpacklo_pd(_mm256_castps_pd(r[0]), _mm256_castps_pd(r[2]));
    __m256d t1 = _mm256_unpackhi_pd(_mm256_castps_pd(r[0]), _mm256_castps_pd(r[2]));
    __m256d t2 = _mm256_unpacklo_pd(_mm256_castps_pd(r[4]), _mm256_castps_pd(r[6]));
    __m256d t3 = _mm256_unpackhi_pd(_mm256_castps_pd(r[4]), _mm256_castps_pd(r[6]));
    o[0] = _mm256_castpd_ps(_mm256_permute2f128_pd(t0, t2, 0x20));
    o[4] = _mm256_castpd_ps(_mm256_permute2f128_pd(t0, t2, 0x31));
    o[2] = _mm256_castpd_ps(_mm256_permute2f128_pd(t1, t3, 0x20));
    o[6] = _mm256_castpd_ps(_mm256_permute2f128_pd(t1, t3, 0x31));
}
#define TPC(o, r) tpc4(o, r)
#define ILV(a, b, lo, hi)                                                          \
    do {                                                                           \
        vf u_ = _mm256_unpacklo_ps(a, b), v_ = _mm256_unpackhi_ps(a, b);           \
        (lo) = _mm256_permute2f128_ps(u_, v_, 0x20);                               \
        (hi) = _mm256_permute2f128_ps(u_, v_, 0x31);                               \
    } while (0)
#define DILV(lo, hi, a, b)                                                         \
    do {                                                                           \
        vf l_ = (lo), h_ = (hi);                                                   \
        vf u_ = _mm256_permute2f128_ps(l_, h_, 0x20), v_ = _mm256_permute2f128_ps(l_, h_, 0x31); \
        (a) = _mm256_shuffle_ps(u_, v_, 0x88);                                     \
        (b) = _mm256_shuffle_ps(u_, v_, 0xDD);                                     \
    } while (0)
#define KERN_NAME "avx2"
#define KERN_FN ibex__offt_kern_avx2

#include "fft_body.h"

#if defined(__clang__)
#pragma clang attribute pop
#endif
