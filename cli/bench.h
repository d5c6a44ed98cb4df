/* The harness header moved to bench/bench_internal.h. */
#include "bench_internal.h"
