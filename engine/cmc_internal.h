/* Internal pieces of the cartridge engine: kernels, FFT plans, masked NCC, threads. */
#ifndef IBEX_CMC_INTERNAL_H
#define IBEX_CMC_INTERNAL_H

#include <stddef.h>
#include <fftw3.h>
#include "ibex/compare.h"
#include "ibex/fft.h"

/* ---- kernels (dispatch.c, kernels/) ---- */

/* Marks a lag with no score (overlap too small or a flat side); NCC lies in [-1, 1]. */
#define IBEX__NO_SCORE (-2.0f)

typedef struct ibex__kernels {
    const char *name;
    /* The six spectral products of Padfield's masked NCC, scaled by `scale`:
     * t = template spectra {F(f m), F(f^2 m), F(m)}, r = region spectra {F(g), F(g^2), F(m_g)},
     * out = {conj(Tfm) G, conj(Tfm) Mg, conj(Tf2m) Mg, conj(Tm) G, conj(Tm) G2, conj(Tm) Mg}.
     * Complex values interleaved (re, im); nc complex values each. */
    void (*spec6)(const float *t0, const float *t1, const float *t2, const float *r0,
                  const float *r1, const float *r2, size_t nc, float scale, float *o0,
                  float *o1, float *o2, float *o3, float *o4, float *o5);
    /* NCC of len lags from the six correlation maps (same order as spec6's outputs);
     * lags whose rounded overlap is below nmin or whose variance is not above var_floor
     * times the overlap get IBEX__NO_SCORE. */
    void (*ncc_row)(const float *sfg, const float *sf, const float *sff, const float *sg,
                    const float *sgg, const float *sn, size_t len, float nmin, float var_floor,
                    float *out);
    /* The six masked sums of one lag, directly (coarse-to-fine search, cmc_search.c):
     * template rows tf = f m, tm = m (tw x th, stride ts) against target rows g1 = g m,
     * gm = m (stride gs); out = {Sfg, Sf, Sff, Sg, Sgg, Sn} as the six maps of spec6. */
    void (*lag6)(const float *tf, const float *tm, size_t ts, size_t tw, size_t th,
                 const float *g1, const float *gm, size_t gs, double *out);
} ibex__kernels;

const ibex__kernels *ibex__kernels_scalar(void);
const ibex__kernels *ibex__kernels_avx2(void); /* NULL when the CPU lacks AVX2/FMA */
/* Chosen once: AVX2 when available, unless IBEX_SIMD=scalar. */
const ibex__kernels *ibex__kernels_best(void);

/* ---- FFT plans (plan.c): FFTW's planner is not thread-safe, so it runs under one lock ---- */

struct ibex__offt;

typedef struct ibex__fft {
    size_t nx, ny, nc;       /* real size and complex half-spectrum length ny*(nx/2+1) */
    struct ibex__offt *own;  /* IBEX's own FFT (fft_own.h) for this size, else NULL: */
    fftwf_plan fwd3;         /* FFTW r2c of 3 contiguous nx*ny arrays into 3 nc spectra */
    fftwf_plan inv6;         /* FFTW c2r of 6 contiguous spectra into 6 nx*ny arrays */
    size_t scratch;          /* floats of scratch a transform call needs (0 for FFTW) */
} ibex__fft;

typedef struct ibex__fft_cache ibex__fft_cache;
/* mode: an ibex_fft_plans (for FFTW). The own FFT serves every size it can (even sides of
 * 2^a 3^b 5^c) unless IBEX_FFT=fftw; _with takes that choice: own 0 = FFTW always, 1 = own
 * where it can, -1 = from IBEX_FFT. */
ibex__fft_cache *ibex__fft_cache_create(int mode);
ibex__fft_cache *ibex__fft_cache_create_with(int mode, int own);
/* "ibex-avx512", "ibex-avx2", "ibex-scalar" or "fftw": what a size's transforms run. */
const char *ibex__fft_impl(const ibex__fft *f);
void ibex__fft_cache_free(ibex__fft_cache *c);
/* Plans for nx x ny (created on first use, then shared); NULL on failure. */
const ibex__fft *ibex__fft_get(ibex__fft_cache *c, size_t nx, size_t ny);
/* The two transforms of a search, FFTW's layout (interleaved complex half-spectra of
 * ny x (nx/2+1), unnormalised): 3 real arrays -> 3 spectra, 6 spectra -> 6 real arrays
 * (the inverse may overwrite its input). scratch: f->scratch floats of the caller's (NULL
 * when 0). The one place the engine calls a transform. */
void ibex__fft_forward3(const ibex__fft *f, float *real, float *spec, float *scratch);
void ibex__fft_inverse6(const ibex__fft *f, float *spec, float *real, float *scratch);
/* Where wisdom is kept (io/fft_wisdom.c): both hooks run under the planner lock. begin
 * takes the file's cross-process lock and imports it; end writes it when changed (1 ok,
 * 0 when it could not) and releases the lock. */
typedef struct ibex__wisdom_store {
    void (*begin)(void);
    int (*end)(int changed);
} ibex__wisdom_store;
void ibex__fft_wisdom_store(const ibex__wisdom_store *s); /* NULL: none */
/* Drop the wisdom held in memory (the file keeps it): lets a benchmark time FFTW_MEASURE
 * planning itself rather than a plan taken from stronger wisdom. */
void ibex__fft_forget_wisdom(void);
/* Smallest even size >= n of the form 2^a 3^b 5^c (sizes FFTW is fast at). */
size_t ibex__fft_good_size(size_t n);
/* The planner lock, for other files that make their own (ESTIMATE) plans. */
void ibex__fftw_lock(void);
void ibex__fftw_unlock(void);
/* fftwf_malloc'd floats under the planner lock's rules (FFTW's allocator is thread-safe). */
float *ibex__fft_alloc(size_t nfloats);
void ibex__fft_dealloc(void *p);

/* ---- masked NCC via FFT (xcorr.c) ---- */

/* Per-thread scratch for one FFT size. */
typedef struct ibex__xc_work {
    const ibex__fft *fft;
    float *real;   /* 6 * nx*ny: inputs (first 3) and correlation maps */
    float *spec;   /* 3 * 2*nc: region spectra */
    float *prod;   /* 6 * 2*nc: spectral products (own allocation keeps FFTW's alignment) */
    float *ncc;    /* one row of lags */
    float *scratch; /* fft->scratch floats for the transforms */
} ibex__xc_work;

ibex_status ibex__xc_work_init(ibex__xc_work *w, const ibex__fft *fft);
void ibex__xc_work_free(ibex__xc_work *w);

/* Template spectra of a cell: 3 * 2*nc floats, filled by ibex__xc_prepare. */
typedef struct ibex__xc_template {
    float *spec;
    size_t w, h;      /* template size */
    size_t nvalid;
} ibex__xc_template;

/* Mean and standard deviation of the valid points of a w x h block (stride s; m NULL: use
 * isfinite); sd is 1 when flat or empty. Both masked NCC paths normalise by these. */
void ibex__xc_moments(const float *z, const unsigned char *m, size_t s, size_t w, size_t h,
                      double *mean, double *sd, size_t *count);

/* t: w x h heights (row stride ts) with mask tm (NULL: use isfinite). Spectra written
 * to tpl->spec (caller allocated with ibex__fft_alloc, 6*nc floats). Uses w->real as scratch. */
void ibex__xc_prepare(ibex__xc_work *w, const float *t, const unsigned char *tm, size_t ts,
                       size_t tw, size_t th, ibex__xc_template *tpl);

typedef struct ibex__xc_peak {
    float ccf;        /* IBEX__NO_SCORE when no lag qualified */
    long u, v;        /* lag: template origin at (u, v) in the region */
    size_t overlap;
} ibex__xc_peak;

/* Masked NCC of the template against region r (rw x rh, stride rs, mask rm) over lags
 * u in [0, rw - tw], v in [0, rh - th] (template entirely inside the region); the best lag
 * (first maximum in row-major order). Region must fit the FFT size. map (optional) gets the
 * NCC of every lag, (rw-tw+1) x (rh-th+1), row-major. seconds[0] += FFT time,
 * seconds[1] += the rest; flops += FFT flops. */
ibex__xc_peak ibex__xc_run(ibex__xc_work *w, const ibex__kernels *k, const ibex__xc_template *tpl,
                           const float *r, const unsigned char *rm, size_t rs, size_t rw,
                           size_t rh, size_t nmin, float *map, double *seconds, double *flops);

/* ---- coarse-to-fine search (cmc_search.c) ----
 * The exhaustive path above evaluates every lag of a cell by FFT. The coarse-to-fine path
 * evaluates the masked NCC of every lag on D x D block means (the same FFT code at 1/D^2 of
 * the points), takes the best local maxima there, and climbs from each at full resolution
 * with the masked NCC computed directly (lag6 kernel), same formula, same rounding of the
 * overlap count, same variance floor, same first-maximum rule. */

/* A reference cell ready for the search. */
typedef struct ibex__cf_cell {
    float *tf, *tm;                /* w x h: normalised heights times mask (as fill3), mask */
    size_t w, h, nvalid, nmin;     /* nmin: minimum overlap of the full-resolution lags */
    ibex__xc_template coarse;      /* coarse template (spectra in coarse.spec) */
    size_t coarse_nmin;
} ibex__cf_cell;

/* One rotated target, for every cell of one rotation. */
typedef struct ibex__cf_target {
    size_t nx, ny;
    float *g1, *gm;                /* heights (scaled, 0 where invalid) and mask as 0/1 */
    unsigned D;                    /* coarse factor */
    size_t cpad, cnx, cny;         /* coarse block I covers target x in D (I - cpad) + [0, D) */
    float *cz;                     /* coarse block means */
    unsigned char *cm;             /* coarse block valid: at least half its points valid */
} ibex__cf_target;

/* Per-thread scratch of the search. */
typedef struct ibex__cf_work {
    ibex__xc_work coarse;          /* coarse FFT scratch */
    float *map;                    /* coarse NCC of every coarse lag */
    float *val;                    /* full-resolution NCC of the lags evaluated, by lag */
    unsigned *stamp;               /* val[i] belongs to the current search iff stamp[i] == gen */
    unsigned gen;
    float *ones;                   /* a row of ones (region moments through lag6) */
    size_t nlag, nones;
    unsigned long long evals;      /* lags evaluated directly */
} ibex__cf_work;

ibex_status ibex__cf_work_init(ibex__cf_work *w, const ibex__fft *coarse, size_t max_lags,
                               size_t max_row);
void ibex__cf_work_free(ibex__cf_work *w);

/* Fills c (arrays malloc'd here, coarse.spec by the caller: 6 nc floats of the coarse FFT)
 * from the w x h cell at z (stride s, mask m); cw is scratch of the coarse size. */
ibex_status ibex__cf_cell_init(ibex__cf_cell *c, ibex__xc_work *cw, unsigned D, const float *z,
                               const unsigned char *m, size_t s, size_t w, size_t h,
                               double min_overlap_frac);
void ibex__cf_cell_free(ibex__cf_cell *c);

/* Target arrays of the rotated heights rot/rotm (nx x ny): g1 = (rot - shift) * scale on
 * valid points (the NCC does not change; the float sums stay well conditioned). */
ibex_status ibex__cf_target_alloc(ibex__cf_target *t, size_t nx, size_t ny, unsigned D,
                                  size_t cpad);
void ibex__cf_target_fill(ibex__cf_target *t, const float *rot, const unsigned char *rotm,
                          float shift, float scale);
void ibex__cf_target_free(ibex__cf_target *t);

/* Valid points of the region rw x rh at (rx, ry) of the target (outside: invalid), with
 * the mean and standard deviation fill3 would normalise it by (sd 1 when flat). */
size_t ibex__cf_region_count(ibex__cf_work *w, const ibex__kernels *k, const ibex__cf_target *t,
                             long rx, long ry, size_t rw, size_t rh, double *mean, double *sd);
/* Best lag of cell c in that region, meant to equal ibex__xc_run's answer: the `keep` best
 * coarse local maxima are climbed at full resolution. seconds[0] += coarse FFT time,
 * seconds[1] += other coarse work, seconds[2] += full-resolution climbs. *fallback = 1 (and
 * no score) when the coarse level cannot rank the lags: the caller runs the FFT path. */
ibex__xc_peak ibex__cf_search(ibex__cf_work *w, const ibex__kernels *k, const ibex__cf_cell *c,
                              const ibex__cf_target *t, long rx, long ry, size_t rw, size_t rh,
                              double region_sd, unsigned keep, double *seconds, double *flops,
                              int *fallback);

/* Direct masked NCC for the full-scan score: masked NCC of a and b
 * at one pose (b sampled at a's points rotated by theta about b's centre and shifted). */
double ibex__ncc_at_pose(const float *a, const unsigned char *am, size_t anx, size_t any,
                         const float *b, const unsigned char *bm, size_t bnx, size_t bny,
                         double theta_deg, double dx, double dy);

/* ---- Gaussian regression band-pass (filter.c) ---- */

/* ISO 16610-61 Gaussian weighting: 50% transmission at the cut-off wavelength, i.e. a
 * Gaussian of standard deviation lambda * sqrt(ln 2 / pi) / sqrt(2 pi) = 0.1874 lambda.
 * NaN-aware by normalised convolution: low(z) = G*(z m) / G*(m), so missing points neither
 * count as zeros nor spread. out = low_short(z) - low_long(z) on the points of m (a
 * cut-off <= 0 skips that side). z and out may be the same array. */
ibex_status ibex__bandpass(const float *z, const unsigned char *m, size_t nx, size_t ny,
                           double dx, double dy, double lambda_short, double lambda_long,
                           float *out);

/* ---- rotation (xcorr.c, exported for tests) ---- */

/* out (same size as in) = in rotated by theta degrees about its centre, bilinear; a point
 * is valid when its four neighbours are. */
void ibex__rotate(const float *in, const unsigned char *inm, size_t nx, size_t ny,
                  double theta_deg, float *out, unsigned char *outm);

/* ---- threads (parallel.c, the only file that uses OpenMP) ---- */

/* Calls fn(i, thread, ctx) for i in [0, n) on up to `threads` threads (0 = default);
 * *nthreads_out (if not NULL) is set to the team size before any call. */
typedef void (*ibex__par_fn)(size_t i, unsigned thread, void *ctx);
void ibex__parallel_for(size_t n, unsigned threads, ibex__par_fn fn, void *ctx);
unsigned ibex__parallel_threads(unsigned threads);

double ibex__now(void); /* monotonic seconds */

#endif
