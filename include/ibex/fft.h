/* FFT plans pinned by wisdom.
 *
 * The CMC search runs IBEX's own FFT on the sizes it serves (even sides of 2^a 3^b 5^c) and
 * FFTW on the others, or on all with IBEX_FFT=fftw (docs/reference/fft.md). FFTW's fastest
 * plans are chosen by timing (FFTW_PATIENT), which takes seconds per transform size and can
 * pick a different plan on each run, so results could differ in the last bits between runs. Wisdom is FFTW's record
 * of the plans it chose: IBEX keeps it in one file per machine, plans a size PATIENT the first
 * time it is needed, adds it to the file, and from then on every run on that machine uses the
 * same plans (the same numbers, no planning).
 *
 * The file: $IBEX_FFT_WISDOM when set ("off": no file, plans are FFTW_ESTIMATE), else
 * $XDG_CACHE_HOME/ibex/ (or ~/.cache/ibex/) fftwf-<FFTW version>-<CPU>.wisdom. Written
 * whole through a temporary file and a rename, under a lock file beside it, so processes
 * planning at once never lose each other's plans nor leave half a file. A file that does
 * not parse is set aside (renamed .bad) and planned anew. `ibex wisdom` makes or refreshes
 * it; deleting it is always safe. */
#ifndef IBEX_FFT_H
#define IBEX_FFT_H

#include <stddef.h>
#include "ibex/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How the CMC search gets FFTW's plans where FFTW runs (ibex_cmc_opts.fft_plans). */
typedef enum ibex_fft_plans {
    IBEX_FFT_PLANS_WISDOM = 0,   /* default: PATIENT plans from the wisdom file (a missing
                                    size is planned once and added); with no file open,
                                    FFTW_ESTIMATE */
    IBEX_FFT_PLANS_ESTIMATE = 1, /* FFTW_ESTIMATE: no timing, no file (slower) */
    IBEX_FFT_PLANS_MEASURE = 2   /* FFTW_MEASURE in every process, not stored: plans, and so
                                    the last bits of scores, may differ between runs */
} ibex_fft_plans;

/* Use the wisdom file at path (NULL: the default above) for the rest of the process. Cheap:
 * the file is read when a plan is first needed. Refused (IBEX_ERR_ARG) when
 * $IBEX_FFT_WISDOM is "off" and path is NULL, or when no folder can be named (no HOME). */
IBEX_API ibex_status ibex_fft_wisdom_open(const char *path, ibex_diag *diag);
/* The file in use, or NULL when none is open. */
IBEX_API const char *ibex_fft_wisdom_file(void);
/* The default path into buf (size bytes). */
IBEX_API ibex_status ibex_fft_wisdom_default_path(char *buf, size_t size, ibex_diag *diag);

/* Make sure the file holds the plans the CMC search uses for transforms of nx x ny (a 2D
 * real forward batch of 3 and inverse batch of 6), planning them PATIENT when missing
 * (seconds); *planned = 1 when it had to plan (NULL ok). Needs an open file (IBEX_ERR_ARG
 * otherwise); IBEX_ERR_IO when the file cannot be written. */
IBEX_API ibex_status ibex_fft_wisdom_plan(size_t nx, size_t ny, int *planned, ibex_diag *diag);
/* Forget every stored plan (in this process and in the file): the next plans are made anew. */
IBEX_API ibex_status ibex_fft_wisdom_clear(ibex_diag *diag);
/* The transform size (*fx x *fy) the CMC search with options o uses when the reference
 * surface of a direction is nx x ny points (o NULL: the defaults). */
struct ibex_cmc_opts;
IBEX_API void ibex_cmc_fft_size(const struct ibex_cmc_opts *o, size_t nx, size_t ny, size_t *fx,
                                size_t *fy);

#ifdef __cplusplus
}
#endif
#endif
