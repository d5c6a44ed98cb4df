/* The own FFT's passes, written once over a vector type of V independent lanes and compiled
 * per instruction set (fft_scalar.c with V = 1 is the reference). Each lane is a separate
 * 1D transform, so butterflies are plain vector arithmetic with no shuffles and twiddles
 * are broadcasts; the only shuffles are the V x V transposes between the two passes.
 *
 * The includer defines: vf, V, LD, ST (unaligned), BC (broadcast), FMA(a,b,c) = a*b+c,
 * FMS = a*b-c, FNMA = c-a*b, TPOSE(vf r[V]) in place, ILV(a,b,lo,hi) (interleave two
 * vectors into complex pairs), DILV (its inverse), KERN_NAME, KERN_FN; optionally
 * TPC(o, r): transpose of V/2 x V/2 complex pairs from r[2k] to o[2k].
 *
 * Data: a "vector element" is V complex values, re vector at e, im vector at e + io. Work
 * buffers hold elements at stride 2V with io = V. */
#include <stddef.h>
#include <stdint.h>

#include "fft_own_internal.h"

typedef struct cv {
    vf r, i;
} cv;

static inline cv cld(const float *p, ptrdiff_t io)
{
    cv c;
    c.r = LD(p);
    c.i = LD(p + io);
    return c;
}

static inline void cst(float *p, ptrdiff_t io, cv c)
{
    ST(p, c.r);
    ST(p + io, c.i);
}

static inline cv cadd(cv a, cv b)
{
    cv c;
    c.r = a.r + b.r;
    c.i = a.i + b.i;
    return c;
}

static inline cv csub(cv a, cv b)
{
    cv c;
    c.r = a.r - b.r;
    c.i = a.i - b.i;
    return c;
}

/* a * (w[0] + i w[1]) */
static inline cv ctw(cv a, const float *w)
{
    vf wr = BC(w[0]), wi = BC(w[1]);
    cv c;
    c.r = FMS(a.r, wr, a.i * wi);
    c.i = FMA(a.r, wi, a.i * wr);
    return c;
}

/* Forward DFTs of 2..9 points, in place (sign e^(-2 pi i jk/r)). */
static inline void bf2(cv *a)
{
    cv t = a[0];
    a[0] = cadd(t, a[1]);
    a[1] = csub(t, a[1]);
}

static inline void bf3(cv *a)
{
    const vf h = BC(-0.5f), s = BC(0.866025403784438646763723f);
    cv t1 = cadd(a[1], a[2]), t2 = csub(a[1], a[2]), m;
    m.r = FMA(t1.r, h, a[0].r);
    m.i = FMA(t1.i, h, a[0].i);
    a[0] = cadd(a[0], t1);
    a[1].r = FMA(t2.i, s, m.r);
    a[1].i = FNMA(t2.r, s, m.i);
    a[2].r = FNMA(t2.i, s, m.r);
    a[2].i = FMA(t2.r, s, m.i);
}

static inline void bf4(cv *a)
{
    cv t0 = cadd(a[0], a[2]), t1 = csub(a[0], a[2]), t2 = cadd(a[1], a[3]), t3 = csub(a[1], a[3]);
    a[0] = cadd(t0, t2);
    a[2] = csub(t0, t2);
    a[1].r = t1.r + t3.i; /* t1 - i t3 */
    a[1].i = t1.i - t3.r;
    a[3].r = t1.r - t3.i; /* t1 + i t3 */
    a[3].i = t1.i + t3.r;
}

static inline void bf5(cv *a)
{
    const vf c1 = BC(0.309016994374947424102293f), c2 = BC(-0.809016994374947424102293f);
    const vf s1 = BC(0.951056516295153572116439f), s2 = BC(0.587785252292473129168706f);
    cv t1 = cadd(a[1], a[4]), t2 = cadd(a[2], a[3]), t3 = csub(a[1], a[4]), t4 = csub(a[2], a[3]);
    cv m1, m2, n1, n2;
    m1.r = FMA(c2, t2.r, FMA(c1, t1.r, a[0].r));
    m1.i = FMA(c2, t2.i, FMA(c1, t1.i, a[0].i));
    m2.r = FMA(c1, t2.r, FMA(c2, t1.r, a[0].r));
    m2.i = FMA(c1, t2.i, FMA(c2, t1.i, a[0].i));
    n1.r = FMA(s2, t4.r, s1 * t3.r);
    n1.i = FMA(s2, t4.i, s1 * t3.i);
    n2.r = FNMA(s1, t4.r, s2 * t3.r);
    n2.i = FNMA(s1, t4.i, s2 * t3.i);
    a[0] = cadd(a[0], cadd(t1, t2));
    a[1].r = m1.r + n1.i; /* m1 - i n1 */
    a[1].i = m1.i - n1.r;
    a[4].r = m1.r - n1.i; /* m1 + i n1 */
    a[4].i = m1.i + n1.r;
    a[2].r = m2.r + n2.i;
    a[2].i = m2.i - n2.r;
    a[3].r = m2.r - n2.i;
    a[3].i = m2.i + n2.r;
}

/* a * (cr + i ci), a constant */
static inline cv cmulk(cv a, float cr, float ci)
{
    return ctw(a, (const float[2]){cr, ci});
}

/* 6 = 2 x 3 points: DFT3 of the even and the odd samples, joined by w6^k. */
static inline void bf6(cv *a)
{
    cv e[3] = {a[0], a[2], a[4]}, o[3] = {a[1], a[3], a[5]};
    bf3(e);
    bf3(o);
    o[1] = cmulk(o[1], 0.5f, -0.866025403784438646763723f);
    o[2] = cmulk(o[2], -0.5f, -0.866025403784438646763723f);
    for (int k = 0; k < 3; k++) {
        a[k] = cadd(e[k], o[k]);
        a[k + 3] = csub(e[k], o[k]);
    }
}

/* 8 = 2 x 4 points: DFT4 of the even and the odd samples, joined by w8^k. */
static inline void bf8(cv *a)
{
    const vf h = BC(0.707106781186547524400844f);
    cv e[4] = {a[0], a[2], a[4], a[6]}, o[4] = {a[1], a[3], a[5], a[7]}, t;
    bf4(e);
    bf4(o);
    t.r = (o[1].r + o[1].i) * h; /* (1 - i)/sqrt 2 */
    t.i = (o[1].i - o[1].r) * h;
    o[1] = t;
    t.r = o[2].i; /* -i */
    t.i = -o[2].r;
    o[2] = t;
    t.r = (o[3].i - o[3].r) * h; /* -(1 + i)/sqrt 2 */
    t.i = -(o[3].r + o[3].i) * h;
    o[3] = t;
    for (int k = 0; k < 4; k++) {
        a[k] = cadd(e[k], o[k]);
        a[k + 4] = csub(e[k], o[k]);
    }
}

/* 9 = 3 x 3 points: DFT3 of each residue class mod 3, twiddles w9^(j k), DFT3 across. */
static inline void bf9(cv *a)
{
    cv d[3][3];
    for (int j = 0; j < 3; j++) {
        d[j][0] = a[j];
        d[j][1] = a[j + 3];
        d[j][2] = a[j + 6];
        bf3(d[j]);
    }
    d[1][1] = cmulk(d[1][1], 0.766044443118978035202393f, -0.642787609686539326322643f);
    d[1][2] = cmulk(d[1][2], 0.173648177666930348851717f, -0.984807753012208059366743f);
    d[2][1] = cmulk(d[2][1], 0.173648177666930348851717f, -0.984807753012208059366743f);
    d[2][2] = cmulk(d[2][2], -0.939692620785908384054109f, -0.342020143325668733044099f);
    for (int k = 0; k < 3; k++) {
        cv c[3] = {d[0][k], d[1][k], d[2][k]};
        bf3(c);
        a[k] = c[0];
        a[k + 3] = c[1];
        a[k + 6] = c[2];
    }
}

/* Decimation in frequency, in place (Gentleman-Sande), so one work buffer of n elements
 * stays in L1 across the stages; the last stage writes each output straight to its
 * frequency in dst (perm: the mixed-radix digit reversal), so dst is in natural order.
 * A stage of radix r on blocks of L = r m elements: for each block and p < m,
 *   x[p + k m] <- w_L^(p k) sum_j x[p + j m] e^(-2 pi i jk/r). */
static inline __attribute__((always_inline)) void bfly(const int r, const float *xp,
                                                       ptrdiff_t xj, ptrdiff_t xio, float *yp,
                                                       ptrdiff_t yk, ptrdiff_t yio,
                                                       const float *w)
{
    cv a[9];
    for (int j = 0; j < r; j++) a[j] = cld(xp + j * xj, xio);
    switch (r) {
    case 2: bf2(a); break;
    case 3: bf3(a); break;
    case 4: bf4(a); break;
    case 5: bf5(a); break;
    case 6: bf6(a); break;
    case 8: bf8(a); break;
    default: bf9(a); break;
    }
    cst(yp, yio, a[0]);
    if (!w)
        for (int k = 1; k < r; k++) cst(yp + k * yk, yio, a[k]);
    else
        for (int k = 1; k < r; k++) cst(yp + k * yk, yio, ctw(a[k], w + 2 * (k - 1)));
}

/* One stage over nb blocks of L = r m; x and y may be the same buffer (in place). */
static inline __attribute__((always_inline)) void stage(const int r, const float *x,
                                                        ptrdiff_t xes, ptrdiff_t xio, float *y,
                                                        ptrdiff_t yes, ptrdiff_t yio,
                                                        ptrdiff_t m, ptrdiff_t nb,
                                                        const float *tw)
{
    /* p outer: a p's twiddles serve all blocks */
    const ptrdiff_t L = r * m;
    for (ptrdiff_t b = 0; b < nb; b++)
        bfly(r, x + b * L * xes, m * xes, xio, y + b * L * yes, m * yes, yio, NULL);
    for (ptrdiff_t p = 1; p < m; p++)
        for (ptrdiff_t b = 0; b < nb; b++)
            bfly(r, x + (b * L + p) * xes, m * xes, xio, y + (b * L + p) * yes, m * yes, yio,
                 tw + 2 * (r - 1) * p);
}

/* The last stage (m = 1): nb butterflies on r adjacent elements, outputs to dst[perm]. */
static inline __attribute__((always_inline)) void stage_last(const int r, const float *x,
                                                             ptrdiff_t xes, ptrdiff_t xio,
                                                             float *y, ptrdiff_t yes,
                                                             ptrdiff_t yio, ptrdiff_t nb,
                                                             const unsigned *perm)
{
    for (ptrdiff_t b = 0; b < nb; b++) {
        cv a[9];
        for (int j = 0; j < r; j++) a[j] = cld(x + (b * r + j) * xes, xio);
        switch (r) {
        case 2: bf2(a); break;
        case 3: bf3(a); break;
        case 4: bf4(a); break;
        case 5: bf5(a); break;
        case 6: bf6(a); break;
        case 8: bf8(a); break;
        default: bf9(a); break;
        }
        for (int k = 0; k < r; k++) cst(y + (ptrdiff_t)perm[b * r + k] * yes, yio, a[k]);
    }
}

/* Stages within the work buffer (element stride 2V, im at +V) get the offsets as
 * constants, which frees the registers the addresses need. */
#define STAGE_FN(R)                                                                          \
    static void stage##R(const float *x, ptrdiff_t xes, ptrdiff_t xio, float *y, ptrdiff_t yes, \
                         ptrdiff_t yio, ptrdiff_t m, ptrdiff_t nb, const float *tw)          \
    {                                                                                        \
        if (xes == 2 * V && xio == V && yes == 2 * V && yio == V)                            \
            stage(R, x, 2 * V, V, y, 2 * V, V, m, nb, tw);                                   \
        else                                                                                 \
            stage(R, x, xes, xio, y, yes, yio, m, nb, tw);                                   \
    }                                                                                        \
    static void last##R(const float *x, ptrdiff_t xes, ptrdiff_t xio, float *y, ptrdiff_t yes, \
                        ptrdiff_t yio, ptrdiff_t nb, const unsigned *perm)                   \
    {                                                                                        \
        if (xes == 2 * V && xio == V && yes == 2 * V && yio == V)                            \
            stage_last(R, x, 2 * V, V, y, 2 * V, V, nb, perm);                               \
        else                                                                                 \
            stage_last(R, x, xes, xio, y, yes, yio, nb, perm);                               \
    }
STAGE_FN(2)
STAGE_FN(3)
STAGE_FN(4)
STAGE_FN(5)
STAGE_FN(6)
STAGE_FN(8)
STAGE_FN(9)

/* Complex FFT of V lanes from src to dst (element strides and im offsets of each), in the
 * work buffer b0. The inverse swaps re and im on both ends, since
 * IDFT(x) = swap(DFT(swap(x))): one set of forward stages serves both directions. */
static void fft1(const ibex__offt *pl, const ibex__offt_1d *f, int inv, const float *src,
                 ptrdiff_t ses, ptrdiff_t sio, float *dst, ptrdiff_t des, ptrdiff_t dio,
                 float *b0)
{
    if (inv) {
        src += sio;
        sio = -sio;
        dst += dio;
        dio = -dio;
    }
    const float *x = src;
    ptrdiff_t xes = ses, xio = sio, len = (ptrdiff_t)f->n;
    for (size_t i = 0; i + 1 < f->nst; i++) {
        const int r = f->radix[i];
        const ptrdiff_t m = len / r, nb = (ptrdiff_t)f->n / len;
        const float *tw = pl->tw + f->tw[i];
        switch (r) {
        case 2: stage2(x, xes, xio, b0, 2 * V, V, m, nb, tw); break;
        case 3: stage3(x, xes, xio, b0, 2 * V, V, m, nb, tw); break;
        case 4: stage4(x, xes, xio, b0, 2 * V, V, m, nb, tw); break;
        case 5: stage5(x, xes, xio, b0, 2 * V, V, m, nb, tw); break;
        case 6: stage6(x, xes, xio, b0, 2 * V, V, m, nb, tw); break;
        case 8: stage8(x, xes, xio, b0, 2 * V, V, m, nb, tw); break;
        default: stage9(x, xes, xio, b0, 2 * V, V, m, nb, tw); break;
        }
        x = b0;
        xes = 2 * V;
        xio = V;
        len = m;
    }
    const ptrdiff_t nb = (ptrdiff_t)f->n / len;
    switch (f->radix[f->nst - 1]) {
    case 2: last2(x, xes, xio, dst, des, dio, nb, f->perm); break;
    case 3: last3(x, xes, xio, dst, des, dio, nb, f->perm); break;
    case 4: last4(x, xes, xio, dst, des, dio, nb, f->perm); break;
    case 5: last5(x, xes, xio, dst, des, dio, nb, f->perm); break;
    case 6: last6(x, xes, xio, dst, des, dio, nb, f->perm); break;
    case 8: last8(x, xes, xio, dst, des, dio, nb, f->perm); break;
    default: last9(x, xes, xio, dst, des, dio, nb, f->perm); break;
    }
}

/* V x V floats: dst[j ds + i] = src[i ss + j]. */
static inline void tile_t(const float *src, ptrdiff_t ss, float *dst, ptrdiff_t ds)
{
    vf r[V];
    for (int i = 0; i < V; i++) r[i] = LD(src + i * ss);
    TPOSE(r);
    for (int j = 0; j < V; j++) ST(dst + j * ds, r[j]);
}

#ifdef TPC
/* Complex pairs, V x V: q[2i + h] holds V/2 pairs (lanes h V/2 ..), and becomes q[2l + g]
 * holding pairs g V/2 .. of lane l; four (V/2)^2 transposes of 64-bit pairs (TPC). */
static inline void tpose_pairs(vf *q)
{
    vf o[2 * V];
    for (int g = 0; g < 2; g++)
        for (int h = 0; h < 2; h++) TPC(o + 2 * (h * V / 2) + g, q + 2 * (g * V / 2) + h);
    for (int i = 0; i < 2 * V; i++) q[i] = o[i];
}

/* V elements (at src + i ses) to V rows of interleaved complex from column c0:
 * rows[l][c0 + i] = element i, lane l, its imaginary part times sg. NULL rows are skipped.
 * Interleaving first and then moving whole pairs takes fewer shuffles than transposing
 * re and im apart. */
static inline void tile_out(const float *src, ptrdiff_t ses, float *const *rows, ptrdiff_t c0,
                            float sg)
{
    vf q[2 * V];
    const vf g = BC(sg);
    for (int i = 0; i < V; i++) ILV(LD(src + i * ses), LD(src + i * ses + V) * g, q[2 * i], q[2 * i + 1]);
    tpose_pairs(q);
    for (int l = 0; l < V; l++)
        if (rows[l]) {
            ST(rows[l] + 2 * c0, q[2 * l]);
            ST(rows[l] + 2 * c0 + V, q[2 * l + 1]);
        }
}

/* The inverse of tile_out: V rows of complex from column c0 to V elements at dst + i des. */
static inline void tile_in(const float *const *rows, ptrdiff_t c0, float *dst, ptrdiff_t des,
                           float sg)
{
    vf q[2 * V];
    const vf g = BC(sg);
    for (int l = 0; l < V; l++) {
        q[2 * l] = LD(rows[l] + 2 * c0);
        q[2 * l + 1] = LD(rows[l] + 2 * c0 + V);
    }
    tpose_pairs(q);
    for (int i = 0; i < V; i++) {
        vf re, im;
        DILV(q[2 * i], q[2 * i + 1], re, im);
        ST(dst + i * des, re);
        ST(dst + i * des + V, im * g);
    }
}
#else
/* V elements (at src + i ses) to V rows of interleaved complex from column c0:
 * rows[l][c0 + i] = element i, lane l, its imaginary part times sg. NULL rows are skipped. */
static inline void tile_out(const float *src, ptrdiff_t ses, float *const *rows, ptrdiff_t c0,
                            float sg)
{
    vf re[V], im[V];
    const vf g = BC(sg);
    for (int i = 0; i < V; i++) {
        re[i] = LD(src + i * ses);
        im[i] = LD(src + i * ses + V) * g;
    }
    TPOSE(re);
    TPOSE(im);
    for (int l = 0; l < V; l++)
        if (rows[l]) {
            vf lo, hi;
            ILV(re[l], im[l], lo, hi);
            ST(rows[l] + 2 * c0, lo);
            ST(rows[l] + 2 * c0 + V, hi);
        }
}

/* The inverse of tile_out: V rows of complex from column c0 to V elements at dst + i des. */
static inline void tile_in(const float *const *rows, ptrdiff_t c0, float *dst, ptrdiff_t des,
                           float sg)
{
    vf re[V], im[V];
    const vf g = BC(sg);
    for (int l = 0; l < V; l++) DILV(LD(rows[l] + 2 * c0), LD(rows[l] + 2 * c0 + V), re[l], im[l]);
    TPOSE(re);
    TPOSE(im);
    for (int i = 0; i < V; i++) {
        ST(dst + i * des, re[i]);
        ST(dst + i * des + V, im[i] * g);
    }
}

#endif

/* Start of the tile of V covering [b, b + V) clipped into [lo, hi): the last tile overlaps
 * the one before it. Lanes are independent, so an overlap recomputes identical values. */
static inline ptrdiff_t tile0(ptrdiff_t b, ptrdiff_t hi)
{
    return b + V <= hi ? b : hi - V;
}

/* r2c split step on V frequencies from k0, into T transposed: Z (hy + 1 elements,
 * Z[hy] = Z[0]) of the packed sequence z_m = x_2m + i x_2m+1 gives
 * Y_k = (Z_k + conj Z_(hy-k))/2 + t_k (Z_k - conj Z_(hy-k)). Fused with the transpose so Y
 * never goes through memory. */
static inline void post_tile(const float *z, ptrdiff_t hy, ptrdiff_t k0, const float *t,
                             float *dre, float *dim, ptrdiff_t ds)
{
    const vf half = BC(0.5f);
    vf re[V], im[V];
    for (int i = 0; i < V; i++) {
        const ptrdiff_t k = k0 + i;
        cv a = cld(z + k * 2 * V, V), b = cld(z + (hy - k) * 2 * V, V);
        vf er = a.r + b.r, ei = a.i - b.i, fr = a.r - b.r, fi = a.i + b.i;
        vf tr = BC(t[2 * k]), ti = BC(t[2 * k + 1]);
        re[i] = FMA(er, half, FMS(tr, fr, ti * fi));
        im[i] = FMA(ei, half, FMA(tr, fi, ti * fr));
    }
    TPOSE(re);
    TPOSE(im);
    for (int j = 0; j < V; j++) {
        ST(dre + j * ds, re[j]);
        ST(dim + j * ds, im[j]);
    }
}

/* c2r's packing: Z'_k = (Y_k + conj Y_(hy-k)) + u_k (Y_k - conj Y_(hy-k)), k < hy; the
 * unnormalised inverse of Z' is then x_2m + i x_2m+1 with FFTW's scale. */
static void pre(const float *yv, float *z, ptrdiff_t hy, const float *u)
{
    for (ptrdiff_t k = 0; k < hy; k++) {
        cv a = cld(yv + k * 2 * V, V), b = cld(yv + (hy - k) * 2 * V, V), o;
        vf er = a.r + b.r, ei = a.i - b.i, fr = a.r - b.r, fi = a.i + b.i;
        vf ur = BC(u[2 * k]), ui = BC(u[2 * k + 1]);
        o.r = er + FMS(ur, fr, ui * fi);
        o.i = ei + FMA(ur, fi, ui * fr);
        cst(z + k * 2 * V, V, o);
    }
}

/* Work buffers on cache lines whatever the caller's scratch (ibex__offt_scratch_floats
 * leaves 16 floats for this): split vector loads cost a third more. */
static inline float *align64(float *p)
{
    return (float *)(((uintptr_t)p + 63) & ~(uintptr_t)63);
}

/* Scratch: the transposed buffer T[x] = (re[w2], im[w2]) over ky, then three work blocks. */
static void r2c1(const ibex__offt *p, const float *in, float *spec, float *scr)
{
    const ptrdiff_t nx = (ptrdiff_t)p->nx, ny = (ptrdiff_t)p->ny, hy = (ptrdiff_t)p->hy;
    const ptrdiff_t nc = (ptrdiff_t)p->nc, w2 = (ptrdiff_t)p->w2;
    const ptrdiff_t blk = 2 * V * ((nx > hy ? nx : hy) + 1);
    float *T = align64(scr), *A = T + 2 * nx * w2, *B = A + blk, *C = B + blk;

    /* Pass 1: real FFT along y of V columns: rows 2m and 2m+1 are the re and im parts of
     * element m, so the packing costs nothing. Then to T, transposed. */
    for (ptrdiff_t xb = 0; xb < nx; xb += V) {
        const ptrdiff_t x0 = tile0(xb, nx);
        fft1(p, &p->fy, 0, in + x0, 2 * nx, nx, C, 2 * V, V, A);
        for (int h = 0; h < 2 * V; h++) C[hy * 2 * V + h] = C[h];
        for (ptrdiff_t kb = 0; kb < hy + 1; kb += V) {
            const ptrdiff_t k0 = tile0(kb, hy + 1);
            post_tile(C, hy, k0, p->post, T + x0 * 2 * w2 + k0, T + x0 * 2 * w2 + w2 + k0, 2 * w2);
        }
    }
    /* Pass 2: complex FFT along x of V rows ky <= hy; rows ny - ky are their mirror
     * X[ny-ky][kx] = conj X[ky][nx-kx] (real input). */
    for (ptrdiff_t kb = 0; kb < hy + 1; kb += V) {
        const ptrdiff_t k0 = tile0(kb, hy + 1);
        float *rows[V], *mr[V];
        fft1(p, &p->fx, 0, T + k0, 2 * w2, w2, C, 2 * V, V, A);
        for (int h = 0; h < 2 * V; h++) C[nx * 2 * V + h] = C[h];
        for (int l = 0; l < V; l++) {
            const ptrdiff_t ky = k0 + l;
            rows[l] = spec + ky * 2 * nc;
            mr[l] = ky >= 1 && ky < hy ? spec + (ny - ky) * 2 * nc : NULL;
        }
        for (ptrdiff_t cb = 0; cb < nc; cb += V) {
            const ptrdiff_t c0 = tile0(cb, nc);
            tile_out(C + c0 * 2 * V, 2 * V, rows, c0, 1.0f);
            tile_out(C + (nx - c0) * 2 * V, -2 * V, mr, c0, -1.0f);
        }
    }
}

static void c2r1(const ibex__offt *p, const float *spec, float *out, float *scr)
{
    const ptrdiff_t nx = (ptrdiff_t)p->nx, ny = (ptrdiff_t)p->ny, hy = (ptrdiff_t)p->hy;
    const ptrdiff_t nc = (ptrdiff_t)p->nc, w2 = (ptrdiff_t)p->w2, hx = nx / 2;
    const ptrdiff_t blk = 2 * V * ((nx > hy ? nx : hy) + 1);
    float *T = align64(scr), *A = T + 2 * nx * w2, *B = A + blk, *C = B + blk;

    /* Pass 2 inverse: rows ky <= hy over all kx (kx > nx/2 from the mirror rows), inverse
     * complex FFT along x into T. */
    for (ptrdiff_t kb = 0; kb < hy + 1; kb += V) {
        const ptrdiff_t k0 = tile0(kb, hy + 1);
        const float *rows[V], *mr[V];
        for (int l = 0; l < V; l++) {
            const ptrdiff_t ky = k0 + l;
            rows[l] = spec + ky * 2 * nc;
            mr[l] = spec + ((ny - ky) % ny) * 2 * nc;
        }
        for (ptrdiff_t cb = 0; cb < nc; cb += V) {
            const ptrdiff_t c0 = tile0(cb, nc);
            tile_in(rows, c0, C + c0 * 2 * V, 2 * V, 1.0f);
        }
        for (ptrdiff_t cb = 1; cb < hx; cb += V) { /* columns 1 .. nx/2-1 -> kx = nx - c */
            const ptrdiff_t c0 = cb + V <= hx ? cb : hx - V;
            tile_in(mr, c0, C + (nx - c0) * 2 * V, -2 * V, -1.0f);
        }
        fft1(p, &p->fx, 1, C, 2 * V, V, T + k0, 2 * w2, w2, A);
    }
    /* Pass 1 inverse: per V columns, T transposed back, packed, inverse FFT along y whose
     * element m is rows 2m (re) and 2m+1 (im) of the output. */
    for (ptrdiff_t xb = 0; xb < nx; xb += V) {
        const ptrdiff_t x0 = tile0(xb, nx);
        for (ptrdiff_t kb = 0; kb < hy + 1; kb += V) {
            const ptrdiff_t k0 = tile0(kb, hy + 1);
            tile_t(T + x0 * 2 * w2 + k0, 2 * w2, C + k0 * 2 * V, 2 * V);
            tile_t(T + x0 * 2 * w2 + w2 + k0, 2 * w2, C + k0 * 2 * V + V, 2 * V);
        }
        pre(C, A, hy, p->pre);
        fft1(p, &p->fy, 1, A, 2 * V, V, out + x0, 2 * nx, nx, B);
    }
}

static const ibex__offt_kern kern = {KERN_NAME, V, r2c1, c2r1};

const ibex__offt_kern *KERN_FN(void)
{
    return &kern;
}
