/* FFT plans for the cell correlations: made once per size, shared by all threads.
 * FFTW's planner (and plan destruction) is not thread-safe: every call goes under one lock.
 * A size IBEX's own FFT serves (fft_own.h) runs on it and needs no plan; FFTW's plans are
 * by default FFTW_PATIENT ones pinned by wisdom (ibex/fft.h), whose file io/fft_wisdom.c
 * reads and writes through the store hooks, since the engine never opens files. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cmc_internal.h"
#include "fft_own.h"
#include "ibex_internal.h"

static pthread_mutex_t planner_lock = PTHREAD_MUTEX_INITIALIZER;

#define CACHE_MAX 64 /* distinct sizes kept; plans are never evicted while a run may use them */

static const ibex__wisdom_store *store; /* set by io/fft_wisdom.c; NULL: no file */

struct ibex__fft_cache {
    pthread_mutex_t lock;
    int mode; /* ibex_fft_plans */
    int own;  /* the own FFT where it can */
    size_t n;
    ibex__fft *e[CACHE_MAX];
};

/* Smallest even size >= n of the form 2^a 3^b 5^c: measured on this machine (FFTW 3.3.10,
 * float, batched 2D r2c/c2r), factors 7 and odd sizes ran 1.5-3x slower per point. */
size_t ibex__fft_good_size(size_t n)
{
    for (size_t m = n < 2 ? 2 : n;; m++) {
        if (m % 2) continue;
        size_t r = m;
        while (r % 2 == 0) r /= 2;
        while (r % 3 == 0) r /= 3;
        while (r % 5 == 0) r /= 5;
        if (r == 1) return m;
    }
}

float *ibex__fft_alloc(size_t nfloats)
{
    return fftwf_malloc(nfloats * sizeof(float));
}

void ibex__fft_dealloc(void *p)
{
    fftwf_free(p);
}

ibex__fft_cache *ibex__fft_cache_create_with(int mode, int own)
{
    ibex__fft_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    pthread_mutex_init(&c->lock, NULL);
    c->mode = mode;
    if (own < 0) {
        const char *e = getenv("IBEX_FFT");
        own = !(e && !strcmp(e, "fftw"));
    }
    c->own = own;
    return c;
}

ibex__fft_cache *ibex__fft_cache_create(int mode)
{
    return ibex__fft_cache_create_with(mode, -1);
}

const char *ibex__fft_impl(const ibex__fft *f)
{
    if (!f->own) return "fftw";
    const char *isa = ibex__offt_plan_isa(f->own);
    return !strcmp(isa, "avx512") ? "ibex-avx512" : !strcmp(isa, "avx2") ? "ibex-avx2" : "ibex-scalar";
}

static void destroy(ibex__fft *f)
{
    if (!f) return;
    pthread_mutex_lock(&planner_lock);
    if (f->fwd3) fftwf_destroy_plan(f->fwd3);
    if (f->inv6) fftwf_destroy_plan(f->inv6);
    pthread_mutex_unlock(&planner_lock);
    ibex__offt_free(f->own);
    free(f);
}

void ibex__fft_cache_free(ibex__fft_cache *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) destroy(c->e[i]);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* Both plans of f with these flags; 0 (and none) when either cannot be made. */
static int plan_both(ibex__fft *f, float *r, float *s, unsigned flags)
{
    int dims[2] = {(int)f->ny, (int)f->nx};
    int nr = (int)(f->nx * f->ny), nc = (int)f->nc;
    f->fwd3 = fftwf_plan_many_dft_r2c(2, dims, 3, r, NULL, 1, nr, (fftwf_complex *)s, NULL, 1,
                                      nc, flags);
    f->inv6 = fftwf_plan_many_dft_c2r(2, dims, 6, (fftwf_complex *)s, NULL, 1, nc, r, NULL, 1,
                                      nr, flags);
    if (f->fwd3 && f->inv6) return 1;
    if (f->fwd3) fftwf_destroy_plan(f->fwd3);
    if (f->inv6) fftwf_destroy_plan(f->inv6);
    f->fwd3 = f->inv6 = NULL;
    return 0;
}

/* Pinned plans: from wisdom when it has them; else, under the store's cross-process lock,
 * from the file (another process may just have planned this size), else planned PATIENT
 * and added to the file. *planned = 1 when it planned; -1 when the file was not written. */
static int plan_pinned(ibex__fft *f, float *r, float *s, int *planned)
{
    const unsigned pinned = FFTW_PATIENT | FFTW_WISDOM_ONLY;
    if (plan_both(f, r, s, pinned)) return 1;
    if (!store) return plan_both(f, r, s, FFTW_ESTIMATE);
    store->begin();
    int ok = plan_both(f, r, s, pinned), changed = 0;
    if (!ok) ok = changed = plan_both(f, r, s, FFTW_PATIENT);
    int written = store->end(changed);
    if (planned) *planned = changed ? (written ? 1 : -1) : 0;
    return ok;
}

static ibex__fft *make(size_t nx, size_t ny, int mode, int own, int *planned)
{
    ibex__fft *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->nx = nx;
    f->ny = ny;
    f->nc = ny * (nx / 2 + 1);
    /* The own FFT needs no planning: a size it serves gets no FFTW plans at all. */
    if (own && (f->own = ibex__offt_create(nx, ny))) {
        size_t a = ibex__offt_scratch_floats(f->own, 3), b = ibex__offt_scratch_floats(f->own, 6);
        f->scratch = a > b ? a : b;
        return f;
    }
    size_t nr = nx * ny;
    /* Planning arrays: separate from any data (timed planning overwrites them). */
    float *r = ibex__fft_alloc(6 * nr), *s = ibex__fft_alloc(12 * f->nc);
    if (!r || !s) {
        ibex__fft_dealloc(r);
        ibex__fft_dealloc(s);
        free(f);
        return NULL;
    }
    pthread_mutex_lock(&planner_lock);
    int ok = mode == IBEX_FFT_PLANS_ESTIMATE ? plan_both(f, r, s, FFTW_ESTIMATE)
             : mode == IBEX_FFT_PLANS_MEASURE ? plan_both(f, r, s, FFTW_MEASURE)
                                              : plan_pinned(f, r, s, planned);
    pthread_mutex_unlock(&planner_lock);
    ibex__fft_dealloc(r);
    ibex__fft_dealloc(s);
    if (!ok) {
        free(f);
        return NULL;
    }
    return f;
}

const ibex__fft *ibex__fft_get(ibex__fft_cache *c, size_t nx, size_t ny)
{
    ibex__fft *f = NULL;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n; i++)
        if (c->e[i]->nx == nx && c->e[i]->ny == ny) f = c->e[i];
    if (!f) {
        if (c->n == CACHE_MAX) {
            pthread_mutex_unlock(&c->lock);
            return NULL;
        }
        f = make(nx, ny, c->mode, c->own, NULL);
        if (f) c->e[c->n++] = f;
    }
    pthread_mutex_unlock(&c->lock);
    return f;
}

void ibex__fft_forward3(const ibex__fft *f, float *real, float *spec, float *scratch)
{
    if (f->own) ibex__offt_r2c(f->own, 3, real, spec, scratch);
    else fftwf_execute_dft_r2c(f->fwd3, real, (fftwf_complex *)spec);
}

void ibex__fft_inverse6(const ibex__fft *f, float *spec, float *real, float *scratch)
{
    if (f->own) ibex__offt_c2r(f->own, 6, spec, real, scratch);
    else fftwf_execute_dft_c2r(f->inv6, (fftwf_complex *)spec, real);
}

void ibex__fftw_lock(void)
{
    pthread_mutex_lock(&planner_lock);
}

void ibex__fftw_unlock(void)
{
    pthread_mutex_unlock(&planner_lock);
}

void ibex__fft_wisdom_store(const ibex__wisdom_store *s)
{
    pthread_mutex_lock(&planner_lock);
    store = s;
    pthread_mutex_unlock(&planner_lock);
}

ibex_status ibex_fft_wisdom_plan(size_t nx, size_t ny, int *planned, ibex_diag *diag)
{
    if (nx < 2 || ny < 2 || nx > 1u << 14 || ny > 1u << 14 || (nx & 1))
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "transform size must be even, 2..16384");
    pthread_mutex_lock(&planner_lock);
    int open = store != NULL;
    pthread_mutex_unlock(&planner_lock);
    if (!open) return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "no wisdom file is open");
    int did = 0;
    ibex__fft *f = make(nx, ny, IBEX_FFT_PLANS_WISDOM, 0, &did);
    if (!f) return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "cannot make FFT plans");
    destroy(f);
    if (did < 0) return ibex__fail(diag, IBEX_ERR_IO, "", -1, "cannot write the wisdom file");
    if (planned) *planned = did;
    return IBEX_OK;
}

void ibex__fft_forget_wisdom(void)
{
    pthread_mutex_lock(&planner_lock);
    fftwf_forget_wisdom();
    pthread_mutex_unlock(&planner_lock);
}
