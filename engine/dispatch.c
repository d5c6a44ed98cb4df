/* CPU detection: picks the kernel set once. IBEX_SIMD=scalar forces the reference. */
#include <stdlib.h>
#include <string.h>

#include "cmc_internal.h"

const ibex__kernels *ibex__kernels_avx2_table(void); /* kernels/kern_avx2.c */

const ibex__kernels *ibex__kernels_avx2(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return ibex__kernels_avx2_table();
#endif
    return NULL;
}

static const ibex__kernels *chosen;

static const ibex__kernels *choose(void)
{
    const char *e = getenv("IBEX_SIMD");
    if (e && !strcmp(e, "scalar")) return ibex__kernels_scalar();
    const ibex__kernels *k = ibex__kernels_avx2();
    return k ? k : ibex__kernels_scalar();
}

const ibex__kernels *ibex__kernels_best(void)
{
    /* Racing first calls compute the same pointer, so a plain atomic store suffices. */
    const ibex__kernels *k = __atomic_load_n(&chosen, __ATOMIC_ACQUIRE);
    if (!k) {
        k = choose();
        __atomic_store_n(&chosen, k, __ATOMIC_RELEASE);
    }
    return k;
}
