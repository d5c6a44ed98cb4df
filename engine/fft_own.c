/* The own FFT's plans: factorisation, twiddles (computed in double, stored as float), the
 * choice of kernel set, and the batch loop. The passes live in kernels/fft_body.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fft_own_internal.h"

static const double two_pi = 6.283185307179586476925287;

const char *ibex__offt_isa(void)
{
    const char *e = getenv("IBEX_SIMD");
    if (e && !strcmp(e, "scalar")) return "scalar";
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (!(e && !strcmp(e, "avx2")) && __builtin_cpu_supports("avx512f")) return "avx512";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "avx2";
#endif
    return "scalar";
}

/* The SIMD passes tile by whole vectors, overlapping the last tile: they need v columns
 * (nx/2 - 1 >= v covers all tiles along x) and v rows of the half spectrum (hy + 1 >= v). */
static int fits(size_t nx, size_t hy, size_t v)
{
    return nx / 2 - 1 >= v && hy + 1 >= v;
}

static const ibex__offt_kern *choose(size_t nx, size_t hy)
{
    const char *isa = ibex__offt_isa();
    if (!strcmp(isa, "avx512") && fits(nx, hy, 16)) return ibex__offt_kern_avx512();
    if (strcmp(isa, "scalar") && fits(nx, hy, 8)) return ibex__offt_kern_avx2();
    return ibex__offt_kern_scalar();
}

/* Radices 2..9 (larger butterflies spill registers), fewest stages (each is a pass of
 * loads and stores over the data, the main cost), then the smallest largest radix, then
 * ascending: measured on 216 = 6 6 6, 200 = 5 5 8, 100 = 4 5 5 (bench_fft, on the AMD EPYC of docs/measurements/cmc-speed.md). */
static const unsigned char radices[] = {2, 3, 4, 5, 6, 8, 9};

/* Best multiset of radices dividing n, each at most rmax: best[] gets nst entries, ascending. */
static void search(size_t n, unsigned rmax, unsigned char *cur, size_t depth, unsigned char *best,
                   size_t *nbest)
{
    if (n == 1) {
        /* cur is non-increasing: cur[0] is its largest radix; best is stored ascending */
        if (depth < *nbest || (depth == *nbest && cur[0] < best[depth - 1])) {
            for (size_t i = 0; i < depth; i++) best[i] = cur[depth - 1 - i];
            *nbest = depth;
        }
        return;
    }
    if (depth + 1 > *nbest) return; /* at least one more stage: cannot beat the best */
    for (size_t i = sizeof radices; i-- > 0;) {
        const unsigned r = radices[i];
        if (r > rmax || n % r) continue;
        cur[depth] = (unsigned char)r;
        search(n / r, r, cur, depth + 1, best, nbest);
    }
}

static int factor(size_t n, ibex__offt_1d *f)
{
    unsigned char cur[IBEX__OFFT_MAXST + 1];
    size_t nbest = IBEX__OFFT_MAXST + 1;
    f->n = n;
    search(n, 9, cur, 0, f->radix, &nbest);
    if (nbest > IBEX__OFFT_MAXST) return -1;
    f->nst = nbest;
    return 0;
}

/* Twiddle floats of a length's stages: sum over stages of 2 (r-1) m. */
static size_t tw_floats(const ibex__offt_1d *f)
{
    size_t len = f->n, t = 0;
    for (size_t i = 0; i < f->nst; i++) {
        len /= f->radix[i];
        t += 2 * (f->radix[i] - 1u) * len;
    }
    return t;
}

/* w_L^(p k) with w_L = e^(-2 pi i/L), the exponent reduced mod L before the sine. */
static void fill_tw(ibex__offt_1d *f, float *tw, size_t at)
{
    size_t len = f->n;
    for (size_t i = 0; i < f->nst; i++) {
        const size_t r = f->radix[i], m = len / r;
        f->tw[i] = at;
        for (size_t p = 0; p < m; p++)
            for (size_t k = 1; k < r; k++) {
                double a = -two_pi * (double)((p * k) % len) / (double)len;
                tw[at++] = (float)cos(a);
                tw[at++] = (float)sin(a);
            }
        len = m;
    }
}

/* Digit reversal of in-place DIF: position k m + P of a length n = r m holds frequency
 * k + r f_m(P), f_m that of the remaining radices. */
static unsigned freq_at(const unsigned char *radix, size_t nst, size_t n, size_t pos)
{
    if (!nst) return 0;
    const size_t m = n / radix[0];
    return (unsigned)(pos / m + radix[0] * freq_at(radix + 1, nst - 1, m, pos % m));
}

static void fill_perm(ibex__offt_1d *f)
{
    for (size_t i = 0; i < f->n; i++) f->perm[i] = freq_at(f->radix, f->nst, f->n, i);
}

ibex__offt *ibex__offt_create(size_t nx, size_t ny)
{
    if (nx < 4 || ny < 4 || nx % 2 || ny % 2) return NULL;
    ibex__offt *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->nx = nx;
    p->ny = ny;
    p->hy = ny / 2;
    p->nc = nx / 2 + 1;
    p->w2 = (p->hy + 1 + 15) / 16 * 16; /* whole cache lines per row of T */
    if (factor(nx, &p->fx) || factor(p->hy, &p->fy)) {
        free(p);
        return NULL;
    }
    const size_t tx = tw_floats(&p->fx), ty = tw_floats(&p->fy);
    p->tw = malloc((tx + ty + 4 * (p->hy + 1)) * sizeof(float));
    if (!p->tw) {
        free(p);
        return NULL;
    }
    p->perms = malloc((nx + p->hy) * sizeof(unsigned));
    if (!p->perms) {
        free(p->tw);
        free(p);
        return NULL;
    }
    p->fx.perm = p->perms;
    p->fy.perm = p->perms + nx;
    fill_perm(&p->fx);
    fill_perm(&p->fy);
    fill_tw(&p->fx, p->tw, 0);
    fill_tw(&p->fy, p->tw, tx);
    p->post = p->tw + tx + ty;
    p->pre = p->post + 2 * (p->hy + 1);
    for (size_t k = 0; k <= p->hy; k++) {
        double a = two_pi * (double)k / (double)ny, c = cos(a), s = sin(a);
        p->post[2 * k] = (float)(-0.5 * s); /* -i/2 (c - i s) */
        p->post[2 * k + 1] = (float)(-0.5 * c);
        p->pre[2 * k] = (float)(-s); /* i (c + i s) */
        p->pre[2 * k + 1] = (float)c;
    }
    p->k = choose(nx, p->hy);
    return p;
}

void ibex__offt_free(ibex__offt *p)
{
    if (!p) return;
    free(p->tw);
    free(p->perms);
    free(p);
}

const char *ibex__offt_plan_isa(const ibex__offt *p)
{
    return p->k->name;
}

size_t ibex__offt_scratch_floats(const ibex__offt *p, size_t batch)
{
    (void)batch; /* transforms of a batch reuse the same scratch */
    const size_t n = p->nx > p->hy ? p->nx : p->hy;
    return 2 * p->nx * p->w2 + 3 * 2 * p->k->v * (n + 1) + 16; /* + 16: the kernels align it */
}

void ibex__offt_r2c(const ibex__offt *p, size_t batch, const float *real, float *spec,
                    float *scratch)
{
    const size_t nr = p->nx * p->ny, ns = 2 * p->ny * p->nc;
    for (size_t b = 0; b < batch; b++) p->k->r2c(p, real + b * nr, spec + b * ns, scratch);
}

void ibex__offt_c2r(const ibex__offt *p, size_t batch, float *spec, float *real, float *scratch)
{
    const size_t nr = p->nx * p->ny, ns = 2 * p->ny * p->nc;
    for (size_t b = 0; b < batch; b++) p->k->c2r(p, spec + b * ns, real + b * nr, scratch);
}
