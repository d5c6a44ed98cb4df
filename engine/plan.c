/* FFT plans for the cell correlations: made once per size, shared by all threads.
 * FFTW's planner (and plan destruction) is not thread-safe: every call goes under one lock. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include "cmc_internal.h"

static pthread_mutex_t planner_lock = PTHREAD_MUTEX_INITIALIZER;

#define CACHE_MAX 64 /* distinct sizes kept; plans are never evicted while a run may use them */

struct ibex__fft_cache {
    pthread_mutex_t lock;
    int measure;
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

ibex__fft_cache *ibex__fft_cache_create(int measure)
{
    ibex__fft_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    pthread_mutex_init(&c->lock, NULL);
    c->measure = measure;
    return c;
}

static void destroy(ibex__fft *f)
{
    if (!f) return;
    pthread_mutex_lock(&planner_lock);
    if (f->fwd3) fftwf_destroy_plan(f->fwd3);
    if (f->inv6) fftwf_destroy_plan(f->inv6);
    pthread_mutex_unlock(&planner_lock);
    free(f);
}

void ibex__fft_cache_free(ibex__fft_cache *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) destroy(c->e[i]);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static ibex__fft *make(size_t nx, size_t ny, int measure)
{
    ibex__fft *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->nx = nx;
    f->ny = ny;
    f->nc = ny * (nx / 2 + 1);
    size_t nr = nx * ny;
    /* Planning arrays: separate from any data (MEASURE overwrites them). */
    float *r = ibex__fft_alloc(6 * nr), *s = ibex__fft_alloc(12 * f->nc);
    if (!r || !s) {
        ibex__fft_dealloc(r);
        ibex__fft_dealloc(s);
        free(f);
        return NULL;
    }
    int dims[2] = {(int)ny, (int)nx};
    unsigned flags = measure ? FFTW_MEASURE : FFTW_ESTIMATE;
    pthread_mutex_lock(&planner_lock);
    f->fwd3 = fftwf_plan_many_dft_r2c(2, dims, 3, r, NULL, 1, (int)nr, (fftwf_complex *)s, NULL,
                                      1, (int)f->nc, flags);
    f->inv6 = fftwf_plan_many_dft_c2r(2, dims, 6, (fftwf_complex *)s, NULL, 1, (int)f->nc, r,
                                      NULL, 1, (int)nr, flags);
    pthread_mutex_unlock(&planner_lock);
    ibex__fft_dealloc(r);
    ibex__fft_dealloc(s);
    if (!f->fwd3 || !f->inv6) {
        destroy(f);
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
        f = make(nx, ny, c->measure);
        if (f) c->e[c->n++] = f;
    }
    pthread_mutex_unlock(&c->lock);
    return f;
}

void ibex__fft_forward3(const ibex__fft *f, float *real, float *spec)
{
    fftwf_execute_dft_r2c(f->fwd3, real, (fftwf_complex *)spec);
}

void ibex__fft_inverse6(const ibex__fft *f, float *spec, float *real)
{
    fftwf_execute_dft_c2r(f->inv6, (fftwf_complex *)spec, real);
}

void ibex__fftw_lock(void)
{
    pthread_mutex_lock(&planner_lock);
}

void ibex__fftw_unlock(void)
{
    pthread_mutex_unlock(&planner_lock);
}
