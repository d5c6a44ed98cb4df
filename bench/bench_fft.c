/* FFT benchmark: IBEX's own 2D real FFT (engine/fft_own.h) against FFTW's ESTIMATE, MEASURE
 * and PATIENT plans on the two transforms of a CMC search: r2c of a batch of 3 arrays and
 * c2r of a batch of 6 spectra. Prints one JSON line per size and method:
 *   {"bench":"fft","nx":216,"ny":216,"method":"own","isa":"avx512","r2c3_us":..,
 *    "c2r6_us":..,"r2c_gflops":..,"c2r_gflops":..,"plan_s":..}
 * Times are thread CPU time (another process may share the cores), the median (and the
 * minimum, less disturbed by a neighbour on the core) over repeats of one call each;
 * GFLOP/s counts 2.5 N log2 N per real transform of N points.
 * Usage: bench_fft [--repeats R] [--no-patient] [NX[xNY] ...]   (default 216x216) */
#include <fftw3.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fft_own.h"
#include "ibex_internal.h"

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef struct bufs {
    size_t nx, ny, nr, ns;
    float *real, *spec, *spec0, *out;
} bufs;

typedef struct method {
    const char *name;
    int fftw;       /* 0: the own FFT */
    unsigned flags; /* FFTW planner flags (FFTW_MEASURE is 0) */
    ibex__offt *own;
    float *scratch;
    fftwf_plan f3, i6;
} method;

static void run_r2c(method *m, bufs *b)
{
    if (m->own)
        ibex__offt_r2c(m->own, 3, b->real, b->spec, m->scratch);
    else
        fftwf_execute_dft_r2c(m->f3, b->real, (fftwf_complex *)b->spec);
}

static void run_c2r(method *m, bufs *b)
{
    if (m->own)
        ibex__offt_c2r(m->own, 6, b->spec, b->out, m->scratch);
    else
        fftwf_execute_dft_c2r(m->i6, (fftwf_complex *)b->spec, b->out);
}

static int setup(method *m, bufs *b)
{
    if (!m->fftw) {
        m->own = ibex__offt_create(b->nx, b->ny);
        if (!m->own) return -1;
        m->scratch = fftwf_malloc(ibex__offt_scratch_floats(m->own, 6) * sizeof(float));
        return m->scratch ? 0 : -1;
    }
    const int dims[2] = {(int)b->ny, (int)b->nx}, nc = (int)(b->nx / 2 + 1);
    m->f3 = fftwf_plan_many_dft_r2c(2, dims, 3, b->real, NULL, 1, (int)b->nr,
                                    (fftwf_complex *)b->spec, NULL, 1, (int)b->ny * nc, m->flags);
    m->i6 = fftwf_plan_many_dft_c2r(2, dims, 6, (fftwf_complex *)b->spec, NULL, 1, (int)b->ny * nc,
                                    b->out, NULL, 1, (int)b->nr, m->flags);
    return m->f3 && m->i6 ? 0 : -1;
}

static void teardown(method *m)
{
    ibex__offt_free(m->own);
    fftwf_free(m->scratch);
    if (m->f3) fftwf_destroy_plan(m->f3);
    if (m->i6) fftwf_destroy_plan(m->i6);
}

/* One size, one method: warm up, then per repeat restore the inputs (untimed: FFTW's c2r
 * destroys its input) and time one call. */
static void bench(method *m, bufs *b, int repeats)
{
    double t0 = ibex__now();
    if (setup(m, b)) {
        printf("{\"bench\":\"fft\",\"nx\":%zu,\"ny\":%zu,\"method\":\"%s\",\"error\":\"no plan\"}\n",
               b->nx, b->ny, m->name);
        teardown(m);
        return;
    }
    double plan_s = ibex__now() - t0;
    double *tr = malloc((size_t)repeats * sizeof *tr), *ti = malloc((size_t)repeats * sizeof *ti);
    for (int i = 0; i < 3; i++) run_r2c(m, b); /* warm-up: caches, page faults */
    for (int i = 0; i < repeats; i++) {
        double a = ibex__thread_cpu();
        run_r2c(m, b);
        tr[i] = ibex__thread_cpu() - a;
    }
    for (int i = -3; i < repeats; i++) {
        memcpy(b->spec, b->spec0, 6 * b->ns * sizeof(float));
        double a = ibex__thread_cpu();
        run_c2r(m, b);
        if (i >= 0) ti[i] = ibex__thread_cpu() - a;
    }
    double r = median(tr, repeats), c = median(ti, repeats), rmin = tr[0], cmin = ti[0];
    double n = (double)b->nr, fl = 2.5 * n * log2(n);
    printf("{\"bench\":\"fft\",\"nx\":%zu,\"ny\":%zu,\"method\":\"%s\",\"isa\":\"%s\","
           "\"r2c3_us\":%.2f,\"c2r6_us\":%.2f,\"r2c_gflops\":%.2f,\"c2r_gflops\":%.2f,"
           "\"r2c3_min_us\":%.2f,\"c2r6_min_us\":%.2f,\"repeats\":%d,\"plan_s\":%.3f}\n",
           b->nx, b->ny, m->name, m->own ? ibex__offt_plan_isa(m->own) : "fftw", 1e6 * r, 1e6 * c,
           3 * fl / r * 1e-9, 6 * fl / c * 1e-9, 1e6 * rmin, 1e6 * cmin, repeats, plan_s);
    fflush(stdout);
    free(tr);
    free(ti);
    teardown(m);
}

static void bench_size(size_t nx, size_t ny, int repeats, int patient)
{
    bufs b = {nx, ny, nx * ny, 2 * ny * (nx / 2 + 1), NULL, NULL, NULL, NULL};
    b.real = fftwf_malloc(6 * b.nr * sizeof(float));
    b.out = fftwf_malloc(6 * b.nr * sizeof(float));
    b.spec = fftwf_malloc(6 * b.ns * sizeof(float));
    b.spec0 = fftwf_malloc(6 * b.ns * sizeof(float));
    srand(1);
    for (size_t i = 0; i < 6 * b.nr; i++) b.real[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    /* the c2r input: spectra of real data, Hermitian as the search's are */
    fftwf_plan p6 = fftwf_plan_many_dft_r2c(2, (int[]){(int)ny, (int)nx}, 6, b.real, NULL, 1,
                                            (int)b.nr, (fftwf_complex *)b.spec0, NULL, 1,
                                            (int)(ny * (nx / 2 + 1)), FFTW_ESTIMATE);
    fftwf_execute(p6);
    fftwf_destroy_plan(p6);
    method ms[] = {{"own", 0, 0, NULL, NULL, NULL, NULL},
                   {"fftw_estimate", 1, FFTW_ESTIMATE, NULL, NULL, NULL, NULL},
                   {"fftw_measure", 1, FFTW_MEASURE, NULL, NULL, NULL, NULL},
                   {"fftw_patient", 1, FFTW_PATIENT, NULL, NULL, NULL, NULL}};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        if (ms[i].flags == FFTW_PATIENT && !patient) continue;
        /* MEASURE and PATIENT planning scribble on the arrays: refill them after */
        bench(&ms[i], &b, repeats);
        srand(1);
        for (size_t j = 0; j < 6 * b.nr; j++) b.real[j] = (float)rand() / (float)RAND_MAX - 0.5f;
    }
    fftwf_free(b.real);
    fftwf_free(b.out);
    fftwf_free(b.spec);
    fftwf_free(b.spec0);
}

int main(int argc, char **argv)
{
    int repeats = 51, patient = 1, sizes = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--repeats") && i + 1 < argc) {
            repeats = atoi(argv[++i]);
            if (repeats < 1) repeats = 1;
        } else if (!strcmp(argv[i], "--no-patient")) {
            patient = 0;
        } else {
            char *end;
            size_t nx = strtoul(argv[i], &end, 10), ny = nx;
            if (*end == 'x') ny = strtoul(end + 1, &end, 10);
            if (*end || !nx || !ny) {
                fprintf(stderr, "usage: bench_fft [--repeats R] [--no-patient] [NX[xNY] ...]\n");
                return 2;
            }
            bench_size(nx, ny, repeats, patient);
            sizes++;
        }
    }
    if (!sizes) bench_size(216, 216, repeats, patient);
    return 0;
}
