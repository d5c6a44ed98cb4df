/* Accuracy and speed benchmarks of the comparison methods: the harness behind `ibex bench`.
 *
 * Accuracy: every within-set pair of the scans a manifest lists (MANIFEST.tsv columns
 * relative_path, kind, set, same_source_key) is scored by a method; the report gives score
 * distributions, ROC and AUC with a bootstrap interval, error rates at the method's
 * threshold, equal-error rate, ranks of the first true mate, score-based and calibrated
 * likelihood ratios, and writes report.json, report.md, pairs_<kind>.tsv and figures.
 * Speed: FFT throughput against FFTW's best plan, comparisons per second, peak memory.
 * Scale: reference libraries of 10^3..10^6 synthetic casings built, indexed and queried by
 * the ibex command (child processes, measured end to end), and stage 1 in process.
 *
 * Options and figures structs start with struct_size, set by their _init function: the
 * library reads (options) or writes (figures) only the bytes a caller was built with, so
 * fields can be appended. Nothing here prints; long runs report through an
 * ibex_progress_fn, which can cancel them. */
#ifndef IBEX_BENCH_H
#define IBEX_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include "ibex/export.h"
#include "ibex/progress.h"
#include "ibex/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- methods ---------------------------------------------------------------------------- */

/* A comparison method the harness can score with. The strings are static. */
typedef struct ibex_bench_method_info {
    const char *name;         /* "cmc", "baseline-ncc", ...: what opts.method takes */
    const char *kind;         /* "cartridge" or "bullet" */
    const char *description;  /* one line: what the score is */
    const char *score_name;   /* axis label, e.g. "CMC count" */
    double threshold;         /* documented decision threshold on the score */
    int higher_is_match;      /* 1: score >= threshold means identification */
} ibex_bench_method_info;

IBEX_API size_t ibex_bench_method_count(void);
/* Method i (0 .. count-1); the first method of a kind is that kind's default. */
IBEX_API ibex_status ibex_bench_method_get(size_t i, ibex_bench_method_info *out);

/* 1 when the library draws the report figures (built with cairo, meson option plots);
 * 0: reports say that their figures were not drawn. */
IBEX_API int ibex_bench_get_plots(void);

/* ---- accuracy ----------------------------------------------------------------------------- */

typedef struct ibex_bench_accuracy_opts {
    size_t struct_size;       /* sizeof the struct, set by ibex_bench_accuracy_opts_init: lets it grow (ABI) */
    const char *manifest;     /* required */
    const char *kind;         /* "cartridge", "bullet", or NULL: each kind in the selection */
    const char *set;          /* only rows of this set; NULL: all (quick: fadul, hamby44-small) */
    const char *method;       /* method name; NULL: each kind's default */
    const char *out_dir;      /* report folder, created if missing (default "bench-report") */
    int quick;                /* CI subset: at most 8 cartridge and 12 bullet scans per set */
    size_t resamples;         /* bootstrap resamples (>= 2); 0: 2000, or 200 when quick */
    uint64_t seed;            /* bootstrap seed (default 1) */
    int threads;              /* OpenMP threads; 0: leave the current setting */
    const char *command;      /* recorded in the report (the command line); NULL: "" */
    ibex_progress_fn progress; /* NULL: none */
    void *progress_user;
} ibex_bench_accuracy_opts;

IBEX_API void ibex_bench_accuracy_opts_init(ibex_bench_accuracy_opts *o);

typedef struct ibex_bench_accuracy ibex_bench_accuracy;

/* Runs the studies (one per kind) and writes the report folder. IBEX_ERR_ARG for bad
 * options (unknown kind or method, a method of another kind), IBEX_ERR_IO for a manifest,
 * scan or report file that cannot be read or written, IBEX_ERR_FORMAT (and the status of
 * the failing reader) for bad input, IBEX_ERR_CANCELLED when the progress callback asked. */
IBEX_API ibex_status ibex_bench_accuracy_run(const ibex_bench_accuracy_opts *o,
                                             ibex_bench_accuracy **out, ibex_diag *diag);
IBEX_API void ibex_bench_accuracy_free(ibex_bench_accuracy *a); /* NULL ok */

/* Number of studies (kinds) in the result. */
IBEX_API size_t ibex_bench_accuracy_get_count(const ibex_bench_accuracy *a);

/* The figures of one study, as report.json gives them. A figure the data cannot give
 * (report.json: null) is NaN. The figures structs are written up to their struct_size:
 * IBEX_ERR_ARG when it is unset. */
typedef struct ibex_bench_study_figures {
    size_t struct_size;       /* set by ibex_bench_study_figures_init; that many bytes are written */
    const char *kind, *method, *sets; /* valid while the result lives */
    size_t n_scans, n_skipped, n_pairs, n_match, n_nonmatch, n_failed;
    double auc, auc_lo, auc_hi;       /* Mann-Whitney AUC, 95% percentile bootstrap */
    double eer, eer_threshold;        /* equal-error rate and the score it is reached at */
    double threshold;                 /* the method's decision threshold */
    double false_positive_rate, false_negative_rate;
    size_t false_positives, false_negatives;
    size_t queries_with_mate;
    double top1, top5, top10;         /* share of queries with a true mate in the top k */
    double log10_lr_at_threshold, cllr_leave_one_out; /* score-based LR (KDE) */
    double bandwidth_match, bandwidth_nonmatch;
    double seconds_prepare, seconds_compare, pairs_per_second;
    int threads;
} ibex_bench_study_figures;

IBEX_API void ibex_bench_study_figures_init(ibex_bench_study_figures *f);
IBEX_API ibex_status ibex_bench_accuracy_get(const ibex_bench_accuracy *a, size_t i,
                                             ibex_bench_study_figures *out);

/* Calibrated likelihood ratios of one study (logistic calibration, ibex/calibration.h),
 * out-of-sample: each pair's LR from a fit without any pair of its sources, and, when the
 * study spans several sets, from a fit on the other sets only. */
typedef struct ibex_bench_lr_scheme {
    size_t pairs;                      /* pairs that got an LR */
    double cllr, cllr_min;             /* NaN when no pair got one */
    size_t same_source, same_source_lr_below_1;
    size_t different_source, different_source_lr_above_1;
} ibex_bench_lr_scheme;

typedef struct ibex_bench_calibration_figures {
    size_t struct_size;                /* set by ibex_bench_calibration_figures_init */
    ibex_bench_lr_scheme leave_sources_out;
    int has_leave_one_study_out;
    ibex_bench_lr_scheme leave_one_study_out;
    int fit_ok;                        /* the fit on every pair (in-sample) succeeded */
    double fit_a, fit_b;               /* ln LR = a + b * score */
    double fit_log10_lo, fit_log10_hi; /* ELUB bounds of log10 LR */
    size_t fit_n_match, fit_n_nonmatch;
} ibex_bench_calibration_figures;

IBEX_API void ibex_bench_calibration_figures_init(ibex_bench_calibration_figures *f);
IBEX_API ibex_status ibex_bench_accuracy_get_calibration(const ibex_bench_accuracy *a, size_t i,
                                                         ibex_bench_calibration_figures *out);

/* Notes the run left for a person, in order (scans skipped as unreadable by the method,
 * the first failed comparison of a study); NULL past the last. */
IBEX_API const char *ibex_bench_accuracy_get_note(const ibex_bench_accuracy *a, size_t k);

/* The report (what report.json holds, without its final newline) as a string to free(). */
IBEX_API ibex_status ibex_bench_accuracy_get_json(const ibex_bench_accuracy *a, char **json);

/* ---- speed ---------------------------------------------------------------------------------- */

typedef struct ibex_bench_speed_opts {
    size_t struct_size;       /* sizeof the struct, set by ibex_bench_speed_opts_init: lets it grow (ABI) */
    size_t grid;              /* FFT grid side N (8..8192); 0: 512, or 256 when quick */
    size_t repeats;           /* repeats per figure (1..1000); 0: 7, or 3 when quick */
    const char *manifest;     /* scans for comparisons/s (fadul, hamby44-small); missing: skipped */
    const char *out_dir;      /* speed.json, speed.md, fft_vs_size.png; NULL: no files */
    int quick;                /* fewer scans and repeats (3 casings, 4 lands) */
    /* Query latency against library size (speed.json's query_latency_vs_library_size,
     * latency_vs_size.png, a section of speed.md): the scale run below with the speed
     * run's quick and repeats. program: the ibex executable it runs; NULL: not measured. */
    const char *program;
    const char *scale_dir;    /* keep those libraries there and reuse them; NULL: a temporary folder */
    ibex_progress_fn progress; /* NULL: none */
    void *progress_user;
} ibex_bench_speed_opts;

IBEX_API void ibex_bench_speed_opts_init(ibex_bench_speed_opts *o);

typedef struct ibex_bench_speed ibex_bench_speed;

IBEX_API ibex_status ibex_bench_speed_run(const ibex_bench_speed_opts *o, ibex_bench_speed **out,
                                          ibex_diag *diag);
IBEX_API void ibex_bench_speed_free(ibex_bench_speed *s); /* NULL ok */

/* Comparisons per second of a kind's default method (medians over the repeats). */
typedef struct ibex_bench_speed_kind {
    int measured;             /* 0: skipped (no manifest or scans) */
    const char *method;       /* valid while the result lives */
    double per_second_1_thread, per_second_2_threads, prepare_seconds_per_scan;
} ibex_bench_speed_kind;

typedef struct ibex_bench_speed_figures {
    size_t struct_size;       /* set by ibex_bench_speed_figures_init; that many bytes are written */
    size_t grid, repeats;
    /* GFLOP/s (2.5 N log2 N per real transform) of r2c + c2r at grid x grid, medians */
    double fft_measure_1_thread, fft_measure_2_threads;
    double fft_estimate_1_thread, fft_estimate_2_threads;
    ibex_bench_speed_kind cartridge, bullet;
    double peak_memory_kib;   /* getrusage before the query-latency runs */
} ibex_bench_speed_figures;

IBEX_API void ibex_bench_speed_figures_init(ibex_bench_speed_figures *f);
IBEX_API ibex_status ibex_bench_speed_get(const ibex_bench_speed *s, ibex_bench_speed_figures *out);
/* What speed.json holds, without its final newline, as a string to free(). */
IBEX_API ibex_status ibex_bench_speed_get_json(const ibex_bench_speed *s, char **json);

/* ---- scale ---------------------------------------------------------------------------------- */

/* Per size: the library is built with `ibex synth cartridge --lib` (4 casings per firearm)
 * and indexed with `ibex index`, then queried with `ibex query` (child processes of
 * program, so their wall time, CPU time and peak resident memory are measured); stage 1
 * is also timed in this process against the machine's streaming-read and SGEMM rooflines.
 * Recall: queries are new casings (shot 5) of library firearms. Timings are medians with
 * min and max over the repeats. */
typedef struct ibex_bench_scale_opts {
    size_t struct_size;       /* sizeof the struct, set by ibex_bench_scale_opts_init: lets it grow (ABI) */
    const char *program;      /* the ibex executable to run (required), e.g. "/proc/self/exe" */
    const size_t *sizes;      /* casings per library, each 64..1e7, rounded down to a multiple
                               * of 4; NULL: 10^3, 10^4, 10^5, 10^6 (quick: 1000, 4000) */
    size_t n_sizes;           /* 1..16 with sizes */
    size_t grid;              /* casing grid side, 32..1024; 0: 64 */
    const char *dir;          /* keep the libraries there and reuse them; NULL: a temporary
                               * folder under $TMPDIR, removed at the end */
    size_t repeats;           /* 1..1000; 0: 7, or 3 when quick */
    size_t queries;           /* query casings for recall, 1..16; 0: 8, or 4 when quick */
    size_t stage2_pairs;      /* CMC pairs timed for stage 2, 0..1000; IBEX_BENCH_DEFAULT
                               * (what _init sets): 4, or 0 when quick */
    int quick;
    const char *out_dir;      /* scale.json, scale.md and (with plots) scale.png; NULL: no files */
    ibex_progress_fn progress; /* NULL: none */
    void *progress_user;
} ibex_bench_scale_opts;

/* "Not set" for a count whose 0 is meaningful. */
#define IBEX_BENCH_DEFAULT ((size_t)-1)

IBEX_API void ibex_bench_scale_opts_init(ibex_bench_scale_opts *o);

typedef struct ibex_bench_scale ibex_bench_scale;

/* IBEX_ERR_ARG for bad options (a size below what the queries need included), IBEX_ERR_IO
 * when a child run fails or a file cannot be written (the diag names the library),
 * IBEX_ERR_CANCELLED when the progress callback asked. */
IBEX_API ibex_status ibex_bench_scale_run(const ibex_bench_scale_opts *o, ibex_bench_scale **out,
                                          ibex_diag *diag);
IBEX_API void ibex_bench_scale_free(ibex_bench_scale *s); /* NULL ok */

/* The figures of one library size; NaN (or 0 for counts) where the run has none. */
typedef struct ibex_bench_scale_figures {
    size_t struct_size;       /* set by ibex_bench_scale_figures_init; that many bytes are written */
    size_t casings;
    int reused;               /* the library came from an earlier run in dir */
    double build_per_second, index_per_second; /* casings per wall second */
    uint64_t library_bytes, index_memory_bytes;
    double stage1_seconds_1_thread, stage1_seconds_2_threads; /* in process, medians */
    double query_after_open_seconds;                          /* ibex query, median */
    double query_peak_rss_kib;
    size_t true_mates, in_top_10, in_top_50, shortlist, in_shortlist;
    double stage2_seconds_per_pair; /* NaN: stage 2 not run */
} ibex_bench_scale_figures;

IBEX_API void ibex_bench_scale_figures_init(ibex_bench_scale_figures *f);
IBEX_API size_t ibex_bench_scale_get_count(const ibex_bench_scale *s); /* sizes measured */
IBEX_API ibex_status ibex_bench_scale_get(const ibex_bench_scale *s, size_t i,
                                          ibex_bench_scale_figures *out);
/* What scale.json holds, without its final newline, as a string to free(). */
IBEX_API ibex_status ibex_bench_scale_get_json(const ibex_bench_scale *s, char **json);
/* The table of scale.md (Markdown), as a string to free(). */
IBEX_API ibex_status ibex_bench_scale_get_markdown(const ibex_bench_scale *s, char **markdown);

/* Releases the drawing libraries' caches (cairo, fontconfig) so that leak checkers see a
 * clean exit: once, after the last run. Nothing without plots. */
IBEX_API void ibex_bench_plots_free(void);

#ifdef __cplusplus
}
#endif
#endif
