/* Private to the own FFT: the plan (fft_own.c builds it) and the kernel sets that run it
 * (kernels/fft_body.h compiled once per instruction set). */
#ifndef IBEX_FFT_OWN_INTERNAL_H
#define IBEX_FFT_OWN_INTERNAL_H

#include <stddef.h>

#include "fft_own.h"

#define IBEX__OFFT_MAXST 24

/* One complex FFT length as in-place decimation-in-frequency stages, first stage first. */
typedef struct ibex__offt_1d {
    size_t n, nst;
    unsigned char radix[IBEX__OFFT_MAXST];
    size_t tw[IBEX__OFFT_MAXST]; /* float offset of each stage's twiddles in plan->tw */
    unsigned *perm;              /* n: frequency held at each position before the last stage's write */
} ibex__offt_1d;

typedef struct ibex__offt_kern {
    const char *name;
    size_t v; /* lanes: independent transforms per vector */
    void (*r2c)(const ibex__offt *p, const float *real, float *spec, float *scratch);
    void (*c2r)(const ibex__offt *p, const float *spec, float *real, float *scratch);
} ibex__offt_kern;

/* Forward: a real FFT along y (half length hy, V columns per vector, then the split step)
 * into a transposed buffer, then complex FFTs along x (V rows of ky per vector). */
struct ibex__offt {
    size_t nx, ny, hy, nc, w2; /* nc = nx/2+1; w2: row of the transposed buffer (>= hy+1) */
    ibex__offt_1d fx, fy;      /* complex lengths nx (along x) and hy (along y) */
    float *tw;                 /* stage twiddles: per stage, per p, (r-1) pairs w^(p k) */
    unsigned *perms;           /* fx.perm then fy.perm */
    float *post;               /* hy+1 pairs: -i/2 e^(-2 pi i k/ny), the r2c split step */
    float *pre;                /* hy pairs: i e^(+2 pi i k/ny), its inverse */
    const ibex__offt_kern *k;
};

const ibex__offt_kern *ibex__offt_kern_scalar(void);
const ibex__offt_kern *ibex__offt_kern_avx2(void);
const ibex__offt_kern *ibex__offt_kern_avx512(void);

#endif
