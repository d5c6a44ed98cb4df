/* Reference kernels: plain C, the definition the SIMD variants must agree with. */
#include <math.h>

#include "cmc_internal.h"

static void spec6_scalar(const float *t0, const float *t1, const float *t2, const float *r0,
                         const float *r1, const float *r2, size_t nc, float scale, float *o0,
                         float *o1, float *o2, float *o3, float *o4, float *o5)
{
    for (size_t i = 0; i < nc; i++) {
        size_t j = 2 * i;
        /* conj(a) * b = (ar br + ai bi) + i (ar bi - ai br) */
        float ar = t0[j] * scale, ai = t0[j + 1] * scale;
        float br = t1[j] * scale, bi = t1[j + 1] * scale;
        float cr = t2[j] * scale, ci = t2[j + 1] * scale;
        float gr = r0[j], gi = r0[j + 1];
        float hr = r1[j], hi = r1[j + 1];
        float mr = r2[j], mi = r2[j + 1];
        o0[j] = ar * gr + ai * gi; o0[j + 1] = ar * gi - ai * gr;
        o1[j] = ar * mr + ai * mi; o1[j + 1] = ar * mi - ai * mr;
        o2[j] = br * mr + bi * mi; o2[j + 1] = br * mi - bi * mr;
        o3[j] = cr * gr + ci * gi; o3[j + 1] = cr * gi - ci * gr;
        o4[j] = cr * hr + ci * hi; o4[j + 1] = cr * hi - ci * hr;
        o5[j] = cr * mr + ci * mi; o5[j + 1] = cr * mi - ci * mr;
    }
}

/* Padfield (2012): over the overlap of n points,
 * ncc = (Sfg - Sf Sg / n) / sqrt((Sff - Sf^2 / n) (Sgg - Sg^2 / n)). */
static void ncc_row_scalar(const float *sfg, const float *sf, const float *sff, const float *sg,
                           const float *sgg, const float *sn, size_t len, float nmin,
                           float var_floor, float *out)
{
    for (size_t i = 0; i < len; i++) {
        float n = rintf(sn[i]);
        float v = IBEX__NO_SCORE;
        if (n >= nmin) {
            float inv = 1.0f / n;
            float num = sfg[i] - sf[i] * sg[i] * inv;
            float vf = sff[i] - sf[i] * sf[i] * inv;
            float vg = sgg[i] - sg[i] * sg[i] * inv;
            if (vf > var_floor * n && vg > var_floor * n) {
                v = num / sqrtf(vf * vg);
                if (v > 1.0f) v = 1.0f;
                if (v < -1.0f) v = -1.0f;
            }
        }
        out[i] = v;
    }
}

/* Sums in double: the reference the SIMD variant (float lanes) must agree with. */
static void lag6_scalar(const float *tf, const float *tm, size_t ts, size_t tw, size_t th,
                        const float *g1, const float *gm, size_t gs, double *out)
{
    double a = 0, b = 0, c = 0, d = 0, e = 0, n = 0;
    for (size_t y = 0; y < th; y++) {
        const float *f = tf + y * ts, *m = tm + y * ts, *g = g1 + y * gs, *h = gm + y * gs;
        for (size_t x = 0; x < tw; x++) {
            double fv = f[x], mv = m[x], gv = g[x], hv = h[x];
            a += fv * gv;
            b += fv * hv;
            c += fv * fv * hv;
            d += mv * gv;
            e += mv * gv * gv;
            n += mv * hv;
        }
    }
    out[0] = a;
    out[1] = b;
    out[2] = c;
    out[3] = d;
    out[4] = e;
    out[5] = n;
}

static const ibex__kernels scalar = {"scalar", spec6_scalar, ncc_row_scalar, lag6_scalar};

const ibex__kernels *ibex__kernels_scalar(void)
{
    return &scalar;
}
