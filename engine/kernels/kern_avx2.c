/* AVX2 + FMA kernels. The whole file is compiled for AVX2+FMA (the pragma is its compiler
 * flags); dispatch.c calls these only after checking the CPU. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("avx2,fma")
#elif defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#endif
#include <immintrin.h>
#include <math.h>

#include "cmc_internal.h"

/* conj(a) * b for 4 interleaved complex values: re = ar br + ai bi, im = ar bi - ai br. */
static inline __m256 cmulc(__m256 a, __m256 b)
{
    __m256 are = _mm256_moveldup_ps(a);          /* ar ar */
    __m256 aim = _mm256_movehdup_ps(a);          /* ai ai */
    __m256 bsw = _mm256_permute_ps(b, 0xB1);     /* bi br */
    /* are*b = (ar br, ar bi); aim*bsw = (ai bi, ai br); want (ar br + ai bi, ar bi - ai br) */
    __m256 t = _mm256_mul_ps(aim, bsw);
    return _mm256_fmaddsub_ps(are, b, _mm256_xor_ps(t, _mm256_set1_ps(-0.0f)));
}

static void spec6_avx2(const float *t0, const float *t1, const float *t2, const float *r0,
                       const float *r1, const float *r2, size_t nc, float scale, float *o0,
                       float *o1, float *o2, float *o3, float *o4, float *o5)
{
    __m256 s = _mm256_set1_ps(scale);
    size_t n = 2 * nc, j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 a = _mm256_mul_ps(_mm256_loadu_ps(t0 + j), s);
        __m256 b = _mm256_mul_ps(_mm256_loadu_ps(t1 + j), s);
        __m256 c = _mm256_mul_ps(_mm256_loadu_ps(t2 + j), s);
        __m256 g = _mm256_loadu_ps(r0 + j);
        __m256 h = _mm256_loadu_ps(r1 + j);
        __m256 m = _mm256_loadu_ps(r2 + j);
        _mm256_storeu_ps(o0 + j, cmulc(a, g));
        _mm256_storeu_ps(o1 + j, cmulc(a, m));
        _mm256_storeu_ps(o2 + j, cmulc(b, m));
        _mm256_storeu_ps(o3 + j, cmulc(c, g));
        _mm256_storeu_ps(o4 + j, cmulc(c, h));
        _mm256_storeu_ps(o5 + j, cmulc(c, m));
    }
    if (j < n) {
        size_t k = j / 2;
        ibex__kernels_scalar()->spec6(t0 + j, t1 + j, t2 + j, r0 + j, r1 + j, r2 + j, nc - k,
                                      scale, o0 + j, o1 + j, o2 + j, o3 + j, o4 + j, o5 + j);
    }
}

static void ncc_row_avx2(const float *sfg, const float *sf, const float *sff, const float *sg,
                         const float *sgg, const float *sn, size_t len, float nmin,
                         float var_floor, float *out)
{
    const __m256 vnmin = _mm256_set1_ps(nmin), vfl = _mm256_set1_ps(var_floor);
    const __m256 one = _mm256_set1_ps(1.0f), mone = _mm256_set1_ps(-1.0f);
    const __m256 none = _mm256_set1_ps(IBEX__NO_SCORE);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        __m256 n = _mm256_round_ps(_mm256_loadu_ps(sn + i),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m256 f = _mm256_loadu_ps(sf + i), g = _mm256_loadu_ps(sg + i);
        __m256 inv = _mm256_div_ps(one, n);
        __m256 num = _mm256_sub_ps(_mm256_loadu_ps(sfg + i), _mm256_mul_ps(_mm256_mul_ps(f, g), inv));
        __m256 vf = _mm256_sub_ps(_mm256_loadu_ps(sff + i), _mm256_mul_ps(_mm256_mul_ps(f, f), inv));
        __m256 vg = _mm256_sub_ps(_mm256_loadu_ps(sgg + i), _mm256_mul_ps(_mm256_mul_ps(g, g), inv));
        __m256 fl = _mm256_mul_ps(vfl, n);
        __m256 ok = _mm256_and_ps(_mm256_cmp_ps(n, vnmin, _CMP_GE_OQ),
                                  _mm256_and_ps(_mm256_cmp_ps(vf, fl, _CMP_GT_OQ),
                                                _mm256_cmp_ps(vg, fl, _CMP_GT_OQ)));
        __m256 v = _mm256_div_ps(num, _mm256_sqrt_ps(_mm256_mul_ps(vf, vg)));
        v = _mm256_min_ps(_mm256_max_ps(v, mone), one);
        _mm256_storeu_ps(out + i, _mm256_blendv_ps(none, v, ok));
    }
    if (i < len)
        ibex__kernels_scalar()->ncc_row(sfg + i, sf + i, sff + i, sg + i, sgg + i, sn + i,
                                        len - i, nmin, var_floor, out + i);
}

static double hsum(__m256 v)
{
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    __m256d d = _mm256_add_pd(_mm256_cvtps_pd(lo), _mm256_cvtps_pd(hi));
    __m128d e = _mm_add_pd(_mm256_castpd256_pd128(d), _mm256_extractf128_pd(d, 1));
    return _mm_cvtsd_f64(_mm_add_sd(e, _mm_unpackhi_pd(e, e)));
}

/* Float lanes within a row band, double across bands: each lane sums at most 8 rows of
 * one column run, so float rounding stays near 1e-7 relative. */
static void lag6_avx2(const float *tf, const float *tm, size_t ts, size_t tw, size_t th,
                      const float *g1, const float *gm, size_t gs, double *out)
{
    static const int lanes[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    size_t full = tw & ~(size_t)7, rest = tw - full;
    __m256i tail = _mm256_loadu_si256((const __m256i *)(lanes + 8 - rest));
    double acc[6] = {0, 0, 0, 0, 0, 0};
    for (size_t y0 = 0; y0 < th; y0 += 8) {
        size_t y1 = y0 + 8 < th ? y0 + 8 : th;
        __m256 a = _mm256_setzero_ps(), b = a, c = a, d = a, e = a, n = a;
        for (size_t y = y0; y < y1; y++) {
            const float *f = tf + y * ts, *m = tm + y * ts, *g = g1 + y * gs, *h = gm + y * gs;
            for (size_t x = 0; x <= tw; x += 8) {
                __m256 fv, mv, gv, hv;
                if (x < full) {
                    fv = _mm256_loadu_ps(f + x);
                    mv = _mm256_loadu_ps(m + x);
                    gv = _mm256_loadu_ps(g + x);
                    hv = _mm256_loadu_ps(h + x);
                } else if (rest) {
                    fv = _mm256_maskload_ps(f + x, tail);
                    mv = _mm256_maskload_ps(m + x, tail);
                    gv = _mm256_maskload_ps(g + x, tail);
                    hv = _mm256_maskload_ps(h + x, tail);
                } else {
                    break;
                }
                __m256 fh = _mm256_mul_ps(fv, hv), mg = _mm256_mul_ps(mv, gv);
                a = _mm256_fmadd_ps(fv, gv, a);
                b = _mm256_add_ps(fh, b);
                c = _mm256_fmadd_ps(fh, fv, c);
                d = _mm256_add_ps(mg, d);
                e = _mm256_fmadd_ps(mg, gv, e);
                n = _mm256_fmadd_ps(mv, hv, n);
            }
        }
        acc[0] += hsum(a);
        acc[1] += hsum(b);
        acc[2] += hsum(c);
        acc[3] += hsum(d);
        acc[4] += hsum(e);
        acc[5] += hsum(n);
    }
    for (int i = 0; i < 6; i++) out[i] = acc[i];
}

static const ibex__kernels avx2 = {"avx2", spec6_avx2, ncc_row_avx2, lag6_avx2};

const ibex__kernels *ibex__kernels_avx2_table(void);
const ibex__kernels *ibex__kernels_avx2_table(void)
{
    return &avx2;
}
#if defined(__clang__)
#pragma clang attribute pop
#endif
