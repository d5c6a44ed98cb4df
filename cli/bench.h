/* What `ibex bench scale` (cli/bench_scale.c) shares with the harness in the library: it
 * runs the query pipeline, which lives in the command, so it stays here and uses the
 * harness's private header (plots, timing spreads, machine description) until it moves
 * into bench/ beside the rest. */
#ifndef IBEX_CLI_BENCH_H
#define IBEX_CLI_BENCH_H

#include <stdio.h>
#include <jansson.h>
#include "bench_internal.h"

/* bench_write_text, with its failure printed as one line (bench_scale.c's convention). */
int bench_write_file(const char *path, const char *text);

/* ---- library scale (bench_scale.c) ---------------------------------------------------- */

/* Builds (or reuses, in dir) libraries of the given sizes, indexes and queries them; *out
 * gets the figures. Prints one line and returns nonzero on failure. */
#define BENCH_SCALE_GRID 64 /* default casing grid side: 64 x 64 points */
int bench_scale_collect(const size_t *sizes, size_t n_sizes, size_t grid, const char *dir, size_t repeats,
                        size_t n_queries, size_t stage2_pairs, int verbose, json_t **out);
int bench_scale_plot(json_t *scale, const char *png);       /* latency against size; 0 ok */
void bench_scale_markdown(json_t *scale, FILE *f);         /* the table */
void bench_scale_remove_dir(const char *dir);              /* a mkdtemp folder of ours */
int bench_scale_main(int argc, char **argv);               /* ibex bench scale */

#endif
