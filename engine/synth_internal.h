/* Building blocks of the synthetic surface generator: a counter-based random
 * number generator and random fields. Everything here is a pure function of its key and
 * arguments, so results never depend on call order or thread count. */
#ifndef IBEX_SYNTH_INTERNAL_H
#define IBEX_SYNTH_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ibex/surface.h"

#define IBEX__GOLDEN 0x9E3779B97F4A7C15ull

/* splitmix64 finaliser (Steele, Lea, Flood 2014): a bijective 64-bit mixer. */
static inline uint64_t ibex__mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Counter-based generator: value number ctr of the stream named by key. Keys are mixed
 * first so that streams sit at unrelated points of the Weyl sequence. */
static inline uint64_t ibex__rng_u64(uint64_t key, uint64_t ctr)
{
    return ibex__mix64(ibex__mix64(key) + IBEX__GOLDEN * (ctr + 1));
}

/* Sub-stream key for a named part (tag) of the object named by key. */
static inline uint64_t ibex__key(uint64_t key, uint64_t tag)
{
    return ibex__mix64(key ^ ibex__mix64(tag * IBEX__GOLDEN + 0x632BE59BD9B4E019ull));
}

/* Uniform in [0, 1) with 53 random bits. */
static inline double ibex__rng_unif(uint64_t key, uint64_t ctr)
{
    return (double)(ibex__rng_u64(key, ctr) >> 11) * 0x1.0p-53;
}

/* Approximately standard normal from one 64-bit draw: the sum of four 16-bit uniforms
 * (Irwin-Hall, n = 4) rescaled to unit variance. Tails stop at +-3.46 sigma, which is
 * harmless for texture and noise and several times cheaper than Box-Muller. */
static inline float ibex__rng_gauss_fast(uint64_t key, uint64_t ctr)
{
    uint64_t r = ibex__rng_u64(key, ctr);
    unsigned s = (unsigned)(r & 0xFFFF) + (unsigned)((r >> 16) & 0xFFFF) +
                 (unsigned)((r >> 32) & 0xFFFF) + (unsigned)(r >> 48);
    /* mean 4 * 32767.5, variance 4 * (65536^2 - 1) / 12 */
    return (float)(((double)s - 131070.0) * (1.0 / 37837.0));
}

/* A sequential reader of one stream, for drawing the parameters of a source or shot. */
typedef struct ibex__draw {
    uint64_t key;
    uint64_t n;
} ibex__draw;

static inline ibex__draw ibex__draw_make(uint64_t key) { ibex__draw d = {key, 0}; return d; }
double ibex__draw_unif(ibex__draw *d, double lo, double hi);
double ibex__draw_normal(ibex__draw *d);          /* exact, Box-Muller */
int ibex__draw_int(ibex__draw *d, int n);          /* 0 .. n-1 */
int ibex__draw_poisson(ibex__draw *d, double mean); /* Knuth's product method; mean < 30 */

/* Spectral shape of a Gaussian random field (Persson et al. 2005 style self-affine
 * roll-off): P(k) = (1 + (k_u l_u)^2 + (k_v l_v)^2)^-(1+hurst) * exp(-(k cut / 2pi)^2),
 * with (u, v) the axes rotated by angle. l_v is ignored for 1D fields. */
typedef struct ibex__spectrum {
    double corr_u, corr_v; /* correlation lengths (m) */
    double angle;          /* radians */
    double hurst;          /* 0..1 */
    double cut;            /* wavelength (m) below which the spectrum is damped; 0 none */
} ibex__spectrum;

/* out[ny][nx] (ny = 1 for a profile): periodic Gaussian random field with the given
 * spectrum at spacing h, zero mean and unit rms, by inverse real FFT (FFTW, estimate
 * plans cached per size). Returns 0 on success, -1 out of memory. */
int ibex__field(uint64_t key, size_t nx, size_t ny, double h, const ibex__spectrum *sp,
                float *out);

/* In-place separable Gaussian blur with standard deviation sigma points (edges
 * replicated). sigma < 0.3 leaves a unchanged. Returns 0, or -1 out of memory. */
int ibex__blur(float *a, size_t nx, size_t ny, double sigma);

/* Smooth (C1) value noise on an nx by ny grid: random normal values on a lattice of
 * pitch (pitch_x, pitch_y) points, blended with cubic Hermite weights. Adds amp * noise
 * into out. Returns 0, or -1 out of memory. */
int ibex__value_noise(uint64_t key, size_t nx, size_t ny, double pitch_x, double pitch_y,
                      float amp, float *out);

/* Zero mean and unit rms over the n values (sums in double, in index order). */
void ibex__normalise(float *a, size_t n);

/* Sparse striae or tool-mark lines added into a profile p[n] at spacing h: Poisson
 * positions with `density` lines per metre, exponential depths, Gaussian cross-sections
 * of width drawn in [wmin, wmax] (m); a share `up` of them are ridges. */
void ibex__add_lines(ibex__draw *d, float *p, size_t n, double h, double density, double wmin,
                     double wmax, double up);

/* Size >= n with only factors 2, 3, 5 (fast FFT sizes). */
size_t ibex__fft_size(size_t n);

/* Common metadata of synthetic scans. */
/* The option checks both generators share (difficulty, spacing up to max_spacing, size);
 * IBEX_OK or IBEX_ERR_ARG with the reason in diag. */
ibex_status ibex__synth_check_opts(const ibex_synth_opts *o, double max_spacing, ibex_diag *diag);

int ibex__synth_meta(ibex_surface *s, const char *kind, const char *region,
                     const char *comment);

#endif
