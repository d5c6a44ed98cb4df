/* The benchmark harness inside the library (behind ibex/bench.h): comparison methods,
 * manifests, studies, plots and reports. Failures fill an ibex_diag (ibex__fail); nothing
 * here prints. */
#ifndef IBEX_BENCH_INTERNAL_H
#define IBEX_BENCH_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>
#include "ibex/ibex.h"
#include "ibex/calibration.h"
#include "ibex/bench.h"
#include "ibex/bullet.h"
#include "ibex_internal.h" /* ibex__fail, ibex__now, ibex__opts_merge */
#include "atomic_file.h"   /* ibex__make_dirs */

/* ---- comparison methods ------------------------------------------------------------ */

/* What one comparison gives the harness. */
typedef struct bench_pair_result {
    double score;      /* the method's score; must be finite */
    double aux[4];     /* method-specific numbers, named by bench_method.aux_names */
} bench_pair_result;

/* A comparator the harness can score a set with. Give either prepare + compare_prepared
 * (each scan is read and preprocessed once, then every pair reuses it: the fast way) or
 * compare (two file paths per call). Every call may run on several threads at once.
 *
 * To plug in a comparator, add one entry to the table in bench_methods.c; the first
 * entry of a kind is that kind's default method. */
struct bench_scan;
typedef struct bench_method {
    const char *name;          /* "baseline-ncc"; what --method takes */
    const char *kind;          /* "cartridge" or "bullet" */
    const char *description;   /* one line for the report: what the score is */
    const char *score_name;    /* axis label, e.g. "max NCC" */
    double threshold;          /* documented decision threshold on the score */
    int higher_is_match;       /* 1: score >= threshold means identification */
    const char *aux_names[4];  /* names of the aux values (NULL = unused) */
    ibex_status (*prepare)(const char *path, void **prep, void *ctx, ibex_diag *diag);
    void (*prep_free)(void *prep);
    ibex_status (*compare_prepared)(const void *a, const void *b, bench_pair_result *out,
                                    void *ctx, ibex_diag *diag);
    ibex_status (*compare)(const char *path_a, const char *path_b, bench_pair_result *out,
                           void *ctx, ibex_diag *diag);
    void *ctx;
    /* Sets the method's fitted or tuned parts were developed on (comma-separated, NULL =
     * none): figures on them are in-sample, and the report says so. */
    const char *developed_on;
    const char *developed_how;
    /* Bullet-level methods: the study's scans are bullets (land rows grouped by
     * bench_bullets_group), prepared by prepare_scan instead of prepare. */
    int per_bullet;
    ibex_status (*prepare_scan)(const struct bench_scan *s, void **prep, void *ctx,
                                ibex_diag *diag);
} bench_method;

size_t bench_method_count(void);
const bench_method *bench_method_get(size_t i);
const bench_method *bench_method_find(const char *name);     /* NULL if unknown */
const bench_method *bench_method_default(const char *kind);  /* first of that kind */

/* ---- manifests ------------------------------------------------------------------------ */

typedef struct bench_scan {
    char *path;       /* resolved, openable */
    char *rel;        /* as written in the manifest */
    char *kind, *set, *key, *specimen;
    char *firearm, *sha256;    /* firearm_id and sha256 columns ("" when absent) */
    /* A bullet made of land rows (bench_bullets_group): the rows, not owned, and their land
     * numbers around the bullet (0 when the name gives none). */
    const struct bench_scan **lands;
    int *land_no;
    size_t n_lands;
} bench_scan;

typedef struct bench_manifest {
    bench_scan *scan;
    size_t n;
} bench_manifest;

/* Reads a MANIFEST.tsv-style file (header names the columns; relative_path, kind, set and
 * same_source_key are required). Keeps rows of kind (NULL = any scan kind: cartridge or
 * bullet) and set (NULL = any) that have a same_source_key. Paths resolve against the
 * manifest's folder first, then the working directory. On failure the diag says why. */
ibex_status bench_manifest_read(const char *path, const char *kind, const char *set,
                                bench_manifest *out, ibex_diag *diag);
void bench_manifest_free(bench_manifest *m);

/* ---- bullet-level studies (harness_bullet.c) ------------------------------------------ */

/* The land rows of `lands` grouped into bullets (by set and the bullet part of the file name,
 * ibex_land_name_parse); a bullet's key is its rows' firearm_id (barrel-level truth), so
 * every row needs one. `lands` must outlive `out`. */
ibex_status bench_bullets_group(const bench_manifest *lands, bench_manifest *out, ibex_diag *diag);

/* Land-score models fitted for each set of `bullets`, each on the land pairs of the other
 * bullet sets of the manifest that have land-level truth and share no scan with it. */
typedef struct bench_bullet_ctx {
    size_t n;
    char **set;                 /* n set names */
    ibex_land_model *model;     /* n models */
    int *fitted;                /* 0: no training data left; the shipped model is used */
    char *how;                  /* what was fitted on what, for the report (owned) */
} bench_bullet_ctx;
ibex_status bench_bullet_models(const char *manifest, const bench_manifest *bullets,
                                bench_bullet_ctx *ctx, ibex_diag *diag);
void bench_bullet_ctx_free(bench_bullet_ctx *ctx);
/* The "bullet" method's callbacks (ctx: a bench_bullet_ctx). */
ibex_status bench_bullet_prepare(const bench_scan *s, void **prep, void *ctx, ibex_diag *diag);
void bench_bullet_free(void *prep);
ibex_status bench_bullet_compare(const void *a, const void *b, bench_pair_result *out, void *ctx,
                                 ibex_diag *diag);

/* ---- plots (cairo) -------------------------------------------------------------------- */

typedef struct bench_plot bench_plot;
/* A w x h figure with a title, axis labels and axes over the given data ranges
 * (ticks at "nice" numbers: Heckbert 1990). */
bench_plot *bench_plot_create(int w, int h, const char *title, const char *xlabel,
                              const char *ylabel, double xmin, double xmax, double ymin,
                              double ymax);
/* Same, with log10 axes (ranges in data units, > 0; ticks at powers of ten). */
#define BENCH_PLOT_LOGX 0x1u
#define BENCH_PLOT_LOGY 0x2u
bench_plot *bench_plot_create_ex(int w, int h, const char *title, const char *xlabel,
                                 const char *ylabel, double xmin, double xmax, double ymin,
                                 double ymax, unsigned flags);
/* Median with a min-max error bar per point (e.g. latency against library size). */
void bench_plot_errorbars(bench_plot *p, const double *x, const double *lo, const double *hi,
                          size_t n, int colour);
/* Colours are from a colour-blind-safe palette (Okabe and Ito 2008), by index. */
void bench_plot_line(bench_plot *p, const double *x, const double *y, size_t n, int colour,
                     double width, int dashed, const char *label);
void bench_plot_steps(bench_plot *p, const double *x, const double *y, size_t n, int colour,
                      const char *label);
void bench_plot_bars(bench_plot *p, const double *edges, const double *h, size_t nbins,
                     int colour, const char *label);
void bench_plot_points(bench_plot *p, const double *x, const double *y, size_t n, int colour,
                       const char *label);
void bench_plot_vline(bench_plot *p, double x, int colour, const char *label);
/* Legend in a corner: 0 top-left, 1 top-right, 2 bottom-right, 3 bottom-left. */
void bench_plot_legend(bench_plot *p, int corner);
int bench_plot_write(bench_plot *p, const char *path); /* 0 ok; frees p either way */
/* At exit, after the last plot. */
void bench_plot_cleanup(void);
/* 1 when built with cairo (meson option plots); otherwise bench_plot_create returns NULL and
 * the reports say that their figures were not drawn. */
int bench_plots_built(void);
/* What a report says in place of its figures then. */
#define NOT_DRAWN "figures not drawn (this IBEX was built without cairo: meson option plots disabled)"

/* ---- progress and failures ---------------------------------------------------------- */

/* The caller's progress callback (may be NULL) and whether it asked to stop. */
typedef struct bench_progress {
    ibex_progress_fn fn;
    void *user;
    double t0;          /* ibex__now() (monotonic seconds) when the stage started */
    volatile int cancelled;
    const char *last_stage; /* the last report, not repeated */
    size_t last_done;
} bench_progress;
/* Reports done of total for stage (a new stage restarts the clock at done == 0); returns
 * nonzero once the callback has asked to stop. */
int bench_progress_report(bench_progress *p, const char *stage, size_t done, size_t total);

/* ---- accuracy studies ------------------------------------------------------------------ */

/* One method scored on the scans of one kind: every pair within a set (keys are
 * comparable only within one set), each unordered pair once. */
typedef struct bench_study {
    const bench_method *method;
    char kind[16];
    char sets[128];          /* the sets included, comma-separated */
    bench_scan **scan;       /* scans kept (not owned) */
    size_t n;
    char **skipped;          /* "path: reason" for scans the method cannot read (owned) */
    size_t n_skipped;
    double *score;           /* n*n, symmetric, NaN on the diagonal and across sets */
    double *aux;             /* n*n*4 */
    unsigned char *failed;   /* n*n: the pair's comparison failed (scored as the worst) */
    size_t n_failed;
    char *first_failure;     /* "a vs b failed: why" for the first failed pair (owned) */
    double seconds_prepare, seconds_compare;
    int threads;
} bench_study;

/* Prepare the scans and score all pairs (OpenMP across pairs; progress through pr).
 * scans: the manifest's rows of this kind, at most max_scans per set (0 = all). */
ibex_status bench_study_run(bench_study *st, const bench_method *m, const bench_manifest *man,
                            const char *kind, size_t max_scans, bench_progress *pr,
                            ibex_diag *diag);
void bench_study_free(bench_study *st);

typedef struct bench_report_opts {
    const char *out_dir;
    const char *manifest;
    const char *set;         /* as given, or NULL */
    int quick;
    size_t resamples;
    uint64_t seed;
    const char *command;     /* the command line, for the record */
} bench_report_opts;

/* ---- calibrated likelihood ratios (bench_calib.c) ---------------------------------------- */

typedef struct bench_calib_scheme {
    double *log10_lr;         /* per pair (order of bench_calib.score), NaN when not fitted */
    size_t n_used, n_same, n_diff, misleading_same, misleading_diff;
    double cllr, cllr_min;
} bench_calib_scheme;
typedef struct bench_calib {
    size_t n;                 /* pairs */
    double *score;            /* oriented scores, higher = more similar */
    int *same;
    bench_calib_scheme lso;   /* leave the pair's sources out */
    bench_calib_scheme loso;  /* leave the pair's study (set) out; has_loso = several sets */
    int has_loso;
    ibex_calibration all;     /* fit on every pair (in-sample) */
    int all_ok;
} bench_calib;
#define PLOT_W_CAL 800
#define PLOT_H_CAL 560
ibex_status bench_calib_compute(const bench_study *st, bench_calib *c, ibex_diag *diag);
void bench_calib_free(bench_calib *c);
json_t *bench_calib_json(const bench_calib *c);
void bench_calib_md(FILE *f, const bench_calib *c, const char *ece_png, const char *tippett_png);
int bench_calib_plots(const bench_study *st, const bench_calib *c, const char *ece_path,
                      const char *tippett_path);

/* Figures, plots, report.json, report.md and pairs_<kind>.tsv into opts->out_dir.
 * *json_out (if not NULL) receives the report as a JSON string to free(); fig (if not NULL,
 * n_studies entries) the figures of each study, as ibex/bench.h gives them. */
ibex_status bench_report_write(const bench_study *st, size_t n_studies, const bench_report_opts *o,
                               char **json_out, ibex_bench_study_figures *fig,
                               ibex_bench_calibration_figures *cal, ibex_diag *diag);

/* Machine and build description shared by the reports. */
void bench_cpu_model(char *buf, size_t n);
void bench_git_revision(char *buf, size_t n);
/* 1-minute load average from /proc/loadavg (NaN if unknown): a busy machine slows timings. */
double bench_load_average(void);
/* Write through a temporary file and rename (never leave a half report). */
ibex_status bench_write_text(const char *path, const char *text, ibex_diag *diag);

/* {median, min, max, repeats, unit} of v[n] (sorted in place): how every timing is reported. */
json_t *bench_spread(double *v, size_t n, const char *unit);

/* ---- exact CMC speed (harness_speed_cmc.c) ------------------------------------------------- */

/* The CMC FFT stage under each way of planning, and one `ibex compare` of the first two
 * Fadul casings of the manifest run as a child of program (NULL: not run); NULL on failure. */
json_t *bench_speed_cmc(const char *manifest, const char *program, size_t repeats, ibex_diag *diag);
void bench_speed_cmc_md(FILE *f, json_t *cmc); /* its section of speed.md */

/* ---- library scale (harness_scale*.c) ---------------------------------------------------- */

#define BENCH_SCALE_GRID 64 /* default casing grid side: 64 x 64 points */
/* Fills in o's defaults (sizes into sizes[16] when o->sizes is NULL) and checks o;
 * IBEX_ERR_ARG with the reason. */
ibex_status bench_scale_resolve(ibex_bench_scale_opts *o, size_t sizes[16], ibex_diag *diag);
/* Builds (or reuses, in o->dir) the libraries, indexes and queries them (o resolved); *out
 * gets the figures (scale.json without the run's git revision and final load). */
ibex_status bench_scale_measure(const ibex_bench_scale_opts *o, bench_progress *pr, json_t **out,
                                ibex_diag *diag);
/* Stage 1 in process on an indexed library's rows (harness_scale_stage1.c); NULL on failure. */
json_t *bench_scale_stage1(const char *lib_path, size_t repeats, double gemm1, double gemm2);
/* GFLOP/s of a 1024^3 SGEMM with t threads (best of 3): the compute roofline. */
double bench_sgemm_peak(int t);
/* Latency against size (harness_scale_report.c); 0 ok. */
int bench_scale_plot(json_t *scale, const char *png);
void bench_scale_markdown(json_t *scale, FILE *f); /* the table, then the stage-2 line */
/* scale.json (text), scale.png (with plots) and scale.md into out_dir, created if missing. */
ibex_status bench_scale_write(json_t *scale, const char *text, const char *out_dir, const char *rev,
                              ibex_diag *diag);

#endif
