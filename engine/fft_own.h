/* IBEX's own batched 2D real FFT for the CMC transform sizes (sides even, 2^a 3^b 5^c, >= 4).
 * Layout and scale as FFTW's r2c/c2r: real arrays row-major (x fastest, nx*ny floats each),
 * half-spectra ny*(nx/2+1) interleaved complex, unnormalised both ways. The plan is immutable
 * after create and the caller passes scratch, so any number of threads may run one plan. */
#ifndef IBEX_FFT_OWN_H
#define IBEX_FFT_OWN_H

#include <stddef.h>

typedef struct ibex__offt ibex__offt;

/* NULL if a side is odd, below 4, has a prime factor other than 2, 3, 5, or memory is short. */
ibex__offt *ibex__offt_create(size_t nx, size_t ny);
void ibex__offt_free(ibex__offt *p); /* NULL ok */

/* batch contiguous real arrays into batch contiguous half-spectra. */
void ibex__offt_r2c(const ibex__offt *p, size_t batch, const float *real, float *spec,
                    float *scratch);
/* batch half-spectra (Hermitian) into batch real arrays; spec is left intact. */
void ibex__offt_c2r(const ibex__offt *p, size_t batch, float *spec, float *real, float *scratch);
/* floats of scratch one call needs (any alignment; transforms of a batch run in turn).
 * Arrays on 64-byte boundaries (ibex__fft_alloc) run fastest. */
size_t ibex__offt_scratch_floats(const ibex__offt *p, size_t batch);

/* Best kernel set of this CPU: "avx512", "avx2" or "scalar". IBEX_SIMD=scalar forces the
 * reference, IBEX_SIMD=avx2 caps it at AVX2. */
const char *ibex__offt_isa(void);
/* The kernel set a plan runs: narrower than ibex__offt_isa() when a side is shorter than
 * about two vectors (the SIMD passes tile by whole vectors). */
const char *ibex__offt_plan_isa(const ibex__offt *p);

#endif
