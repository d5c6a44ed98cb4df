/* Shared pieces of the ibex command: exit codes, messages, subcommand entry points. */
#ifndef IBEX_CLI_H
#define IBEX_CLI_H

#include <signal.h>
#include <stdio.h>
#include "ibex/ibex.h"

/* Exit codes, the same for every subcommand. */
enum { EXIT_OK = 0, EXIT_REFUSED = 1, EXIT_USAGE = 2 };

/* Program name for messages, e.g. "ibex info". Set by main. */
extern const char *cli_prog;

/* "ibex info: FILE: problem" on stderr, one line. Returns EXIT_REFUSED. */
int cli_fail_status(ibex_status s, const ibex_diag *d);
/* "ibex info: message" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Usage error: message plus a hint to --help. Returns EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* $IBEX_DATA, else ../shared/datasets/real beside the source checkout. */
const char *cli_data_dir(void);

/* Monotonic clock in seconds, for the timings the subcommands print. */
double cli_now(void);

/* 1 if stderr is a terminal (progress bars only then). */
int cli_isatty_err(void);

/* The progress printer every subcommand passes to the library (ibex_progress_fn; user
 * unused; never cancels): a bar on a terminal, else a line every 10 s and at the end. */
int cli_progress(void *user, const char *stage, size_t done, size_t total, double eta_seconds);
/* Ends a bar left on the terminal line (before other output). */
void cli_progress_end(void);

/* The kind of a scan without a stated one (ibex_scan_kind, include/ibex/search.h). */
const char *cli_scan_kind(const ibex_surface *s);

/* Standard base64 with padding (RFC 4648 section 4), NUL-terminated, to free(); NULL when
 * out of memory. What the node's JSON requests carry packages in. */
char *cli_base64(const unsigned char *data, size_t n);

/* Subcommands: each parses its own options (getopt_long, options anywhere). */
/* The serving commands: the log (stderr unless quiet or path; *opened is what to fclose),
 * EXIT_OK or EXIT_REFUSED with the error printed; stop signals blocked before the server
 * starts, then waited for (or exit_after seconds when > 0). */
int cli_server_log(const char *path, int quiet, FILE **log, FILE **opened);
void cli_block_stop_signals(sigset_t *set);
void cli_server_wait(sigset_t *set, long exit_after);

int cmd_info(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_render(int argc, char **argv);
int cmd_compare(int argc, char **argv);   /* decides the kind, then one of: */
int compare_cartridge_main(int argc, char **argv);
int compare_bullet_main(int argc, char **argv);
int cmd_ingest(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_node(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_index(int argc, char **argv);
int cmd_query(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_wisdom(int argc, char **argv);



/* Expand operands into scan files: a directory contributes every .x3p and .png below it
 * (sorted, hidden entries and __MACOSX skipped), a file stands for itself.
 * Returns 0 on success; *files is a NULL-terminated array to free with cli_free_list. */
int cli_collect_scans(char *const *operands, int n, char ***files, size_t *count);
void cli_free_list(char **list);
#endif
