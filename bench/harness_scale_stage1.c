/* ibex/bench.h scale, stage 1 in process: the search (SGEMV + top-K) on an indexed
 * library's rows with 1 and 2 threads and as a batch (SGEMM), set against the rooflines
 * that bound it: one streaming read of the same rows and a 1024^3 SGEMM. */
#include <cblas.h>
#include <jansson.h>
#include <omp.h>
#include <stdlib.h>

#include "bench_internal.h"

#define TOPK 50

static volatile float sink;

/* Seconds for one streaming pass summing n floats with t threads (the read roofline of
 * a scan over the same rows). */
static double stream_pass(const float *x, size_t n, int t)
{
    double t0 = ibex__now();
    float total = 0;
    /* simd: lets the sum be reassociated into vector lanes, so the pass runs at memory
     * speed rather than at one dependent add per cycle. */
#pragma omp parallel for simd reduction(+ : total) num_threads(t) schedule(static)
    for (size_t i = 0; i < n; i++) total += x[i];
    sink = total;
    return ibex__now() - t0;
}

double bench_sgemm_peak(int t)
{
    const int n = 1024;
    float *a = malloc((size_t)n * n * sizeof *a), *b = malloc((size_t)n * n * sizeof *b),
          *c = malloc((size_t)n * n * sizeof *c);
    double best = 0;
    if (a && b && c) {
        for (size_t i = 0; i < (size_t)n * n; i++) a[i] = b[i] = (float)(i % 7) * 0.1f;
        omp_set_num_threads(t);
        for (int r = 0; r < 3; r++) {
            double t0 = ibex__now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
            double g = 2.0 * n * n * n / (ibex__now() - t0) / 1e9;
            if (g > best) best = g;
        }
    }
    free(a), free(b), free(c);
    return best;
}

/* Stage 1 on the library's index rows: one query (SGEMV + top-K) with 1 and 2 threads,
 * a batch of 64 (SGEMM), and the streaming read of the same bytes. */
json_t *bench_scale_stage1(const char *lib_path, size_t repeats, double gemm1, double gemm2)
{
    ibex_library *lib = NULL;
    ibex_diag d;
    size_t n = 0, dim = 0;
    if (ibex_library_open(lib_path, NULL, &lib, &d) != IBEX_OK) return NULL;
    ibex_status st = ibex_library_index_get_shape(lib, &n, &dim, &d);
    float *rows = st == IBEX_OK && n && dim ? malloc(n * dim * sizeof *rows) : NULL;
    if (rows) st = ibex_library_index_read(lib, 0, n, rows, &d);
    ibex_library_close(lib, NULL);
    ibex_index *ix = NULL;
    if (!rows || st != IBEX_OK || ibex_index_create(dim, &ix) != IBEX_OK || ibex_index_add(ix, rows, n) != IBEX_OK) {
        free(rows);
        ibex_index_free(ix);
        return NULL;
    }
    const size_t nb = 64;
    ibex_hit *hits = malloc(nb * TOPK * sizeof *hits);
    double *t1 = malloc(repeats * sizeof *t1), *t2 = malloc(repeats * sizeof *t2),
           *s1 = malloc(repeats * sizeof *s1), *s2 = malloc(repeats * sizeof *s2), *tb = malloc(repeats * sizeof *tb);
    json_t *o = NULL;
    if (hits && t1 && t2 && s1 && s2 && tb) {
        const float *rr = ibex_index_get_rows(ix);
        size_t nh, k = TOPK < n ? TOPK : n;
        for (size_t r = 0; r < repeats; r++) {
            const float *q = rr + ((r * 7919) % n) * dim; /* a library row as the query */
            omp_set_num_threads(1);
            double a = ibex__now();
            ibex_index_query(ix, q, k, hits, &nh);
            t1[r] = ibex__now() - a;
            omp_set_num_threads(2);
            a = ibex__now();
            ibex_index_query(ix, q, k, hits, &nh);
            t2[r] = ibex__now() - a;
            s1[r] = stream_pass(rr, n * dim, 1);
            s2[r] = stream_pass(rr, n * dim, 2);
            omp_set_num_threads(1);
            size_t qb = nb < n ? nb : n;
            a = ibex__now();
            ibex_index_query_batch(ix, rr, qb, k, hits, &nh);
            tb[r] = (ibex__now() - a) / (double)qb;
        }
        double bytes = (double)n * (double)dim * sizeof(float);
        double flops = 2.0 * (double)n * (double)dim;
        json_t *j1 = bench_spread(t1, repeats, "s"), *j2 = bench_spread(t2, repeats, "s");
        json_t *js1 = bench_spread(s1, repeats, "s"), *js2 = bench_spread(s2, repeats, "s"), *jb = bench_spread(tb, repeats, "s");
        double m1 = json_real_value(json_object_get(j1, "median")), m2 = json_real_value(json_object_get(j2, "median"));
        double ms1 = json_real_value(json_object_get(js1, "median")), ms2 = json_real_value(json_object_get(js2, "median"));
        double mb = json_real_value(json_object_get(jb, "median"));
        /* Which roofline bounds one query: its arithmetic intensity is 2 flops per 4-byte
         * float (0.5 flop/byte), far below SGEMM's ridge point, so the bytes bound it. */
        double bw1 = bytes / m1 / 1e9, bw2 = bytes / m2 / 1e9;
        o = json_pack("{s:I, s:I, s:f, s:I, s:o, s:o, s:o, s:o, s:f, s:f, s:f, s:f, s:s, s:f, s:f, s:f, s:o, s:f, s:f, s:f}",
                      "rows", (json_int_t)n, "dim", (json_int_t)dim, "index_mib", bytes / 1048576.0,
                      "index_memory_bytes", (json_int_t)ibex_index_memory(ix), "query_seconds_1_thread", j1,
                      "query_seconds_2_threads", j2, "stream_read_seconds_1_thread", js1,
                      "stream_read_seconds_2_threads", js2, "query_gb_per_s_1_thread", bw1,
                      "query_gb_per_s_2_threads", bw2, "fraction_of_stream_read_1_thread", ms1 / m1,
                      "fraction_of_stream_read_2_threads", ms2 / m2, "bound",
                      bytes > 32.0 * 1048576 ? "memory bandwidth (index larger than the 32 MiB L3)"
                                             : "cache bandwidth (index fits in L3)",
                      "query_gflops_1_thread", flops / m1 / 1e9, "sgemm_1024_gflops_1_thread", gemm1,
                      "sgemm_1024_gflops_2_threads", gemm2, "batch64_seconds_per_query_1_thread", jb,
                      "batch64_gflops_1_thread", flops / mb / 1e9, "batch64_fraction_of_sgemm_1_thread",
                      flops / mb / 1e9 / gemm1, "scaling_2_over_1_threads", m1 / m2);
    }
    free(hits), free(t1), free(t2), free(s1), free(s2), free(tb);
    ibex_index_free(ix);
    free(rows);
    return o;
}
