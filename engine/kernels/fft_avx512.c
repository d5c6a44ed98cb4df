/* The own FFT with AVX-512F: fft_body.h over 16 lanes. The pragma is the file's compiler
 * flags; fft_own.c calls it only on a CPU with AVX-512F. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("avx512f")
#elif defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f"))), apply_to = function)
#endif
#include <immintrin.h>

typedef __m512 vf;
#define V 16
#define LD(p) _mm512_loadu_ps(p)
#define ST(p, v) _mm512_storeu_ps(p, v)
#define BC(x) _mm512_set1_ps(x)
#define FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define FMS(a, b, c) _mm512_fmsub_ps(a, b, c)
#define FNMA(a, b, c) _mm512_fnmadd_ps(a, b, c)

/* 16 x 16 transpose: pairs and quads within 128-bit lanes, then lanes in two steps. */
static inline void tpose16(vf *r)
{
    vf t[16], s[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int q = 0; q < 4; q++) { /* s[4q + j]: columns j, j+4, j+8, j+12 of rows 4q .. 4q+3 */
        s[4 * q + 0] = _mm512_shuffle_ps(t[4 * q], t[4 * q + 2], 0x44);
        s[4 * q + 1] = _mm512_shuffle_ps(t[4 * q], t[4 * q + 2], 0xEE);
        s[4 * q + 2] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0x44);
        s[4 * q + 3] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0xEE);
    }
    for (int j = 0; j < 4; j++) {
        vf u0 = _mm512_shuffle_f32x4(s[j], s[4 + j], 0x88);
        vf u1 = _mm512_shuffle_f32x4(s[j], s[4 + j], 0xDD);
        vf u2 = _mm512_shuffle_f32x4(s[8 + j], s[12 + j], 0x88);
        vf u3 = _mm512_shuffle_f32x4(s[8 + j], s[12 + j], 0xDD);
        r[j] = _mm512_shuffle_f32x4(u0, u2, 0x88);
        r[j + 8] = _mm512_shuffle_f32x4(u0, u2, 0xDD);
        r[j + 4] = _mm512_shuffle_f32x4(u1, u3, 0x88);
        r[j + 12] = _mm512_shuffle_f32x4(u1, u3, 0xDD);
    }
}
#define TPOSE(r) tpose16(r)

/* 8 x 8 complex pairs (64-bit) from r[2k] to o[2k]: pairs, then 128-bit lanes twice. */
static inline void tpc8(vf *o, const vf *r)
{
    __m512d t[8], u[8];
    for (int k = 0; k < 4; k++) {
        t[2 * k] = _mm512_unpacklo_pd(_mm512_castps_pd(r[4 * k]), _mm512_castps_pd(r[4 * k + 2]));
        t[2 * k + 1] = _mm512_unpackhi_pd(_mm512_castps_pd(r[4 * k]), _mm512_castps_pd(r[4 * k + 2]));
    }
    for (int q = 0; q < 2; q++) {
        u[4 * q + 0] = _mm512_shuffle_f64x2(t[4 * q], t[4 * q + 2], 0x88);
        u[4 * q + 1] = _mm512_shuffle_f64x2(t[4 * q + 1], t[4 * q + 3], 0x88);
        u[4 * q + 2] = _mm512_shuffle_f64x2(t[4 * q], t[4 * q + 2], 0xDD);
        u[4 * q + 3] = _mm512_shuffle_f64x2(t[4 * q + 1], t[4 * q + 3], 0xDD);
    }
    for (int j = 0; j < 4; j++) {
        o[2 * j] = _mm512_castpd_ps(_mm512_shuffle_f64x2(u[j], u[4 + j], 0x88));
        o[2 * (j + 4)] = _mm512_castpd_ps(_mm512_shuffle_f64x2(u[j], u[4 + j], 0xDD));
    }
}
#define TPC(o, r) tpc8(o, r)
#define ILV(a, b, lo, hi)                                                                     \
    do {                                                                                      \
        (lo) = _mm512_permutex2var_ps(a, _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, \
                                                           5, 21, 6, 22, 7, 23), b);          \
        (hi) = _mm512_permutex2var_ps(a, _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12,  \
                                                           28, 13, 29, 14, 30, 15, 31), b);   \
    } while (0)
#define DILV(lo, hi, a, b)                                                                    \
    do {                                                                                      \
        vf l_ = (lo), h_ = (hi);                                                              \
        (a) = _mm512_permutex2var_ps(l_, _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, \
                                                            20, 22, 24, 26, 28, 30), h_);     \
        (b) = _mm512_permutex2var_ps(l_, _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, \
                                                            21, 23, 25, 27, 29, 31), h_);     \
    } while (0)
#define KERN_NAME "avx512"
#define KERN_FN ibex__offt_kern_avx512

#include "fft_body.h"

#if defined(__clang__)
#pragma clang attribute pop
#endif
