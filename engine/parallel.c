/* The only file that talks to OpenMP. Work items write to their own slots, and callers
 * reduce in index order afterwards, so results never depend on the thread count. */
#include <omp.h>
#include <time.h>

#include "cmc_internal.h"

unsigned ibex__parallel_threads(unsigned threads)
{
    return threads ? threads : (unsigned)omp_get_max_threads();
}

void ibex__parallel_for(size_t n, unsigned threads, ibex__par_fn fn, void *ctx)
{
    unsigned nt = ibex__parallel_threads(threads);
    if (nt > n) nt = (unsigned)(n ? n : 1);
    if (nt <= 1) {
        for (size_t i = 0; i < n; i++) fn(i, 0, ctx);
        return;
    }
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (size_t i = 0; i < n; i++) fn(i, (unsigned)omp_get_thread_num(), ctx);
}

double ibex__now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

double ibex__thread_cpu(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
