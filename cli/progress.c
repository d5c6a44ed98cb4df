/* The command's one progress printer (an ibex_progress_fn): a bar redrawn in place on a
 * terminal; when stderr is a file or a pipe (a logged run), one plain line every 10 seconds
 * and at the end, so long jobs are never silent. */
#include <stdio.h>
#include <string.h>
#include "cli.h"

#define LOG_PERIOD_S 10.0

static int shown;       /* a bar is on the terminal line */
static double last_log; /* cli_now() of the last logged line */
static char last_stage[64]; /* its stage */

int cli_progress(void *user, const char *stage, size_t done, size_t total, double eta)
{
    (void)user;
    char left[48] = "";
    if (eta >= 0 && done < total) snprintf(left, sizeof left, ", about %.0f s left", eta);
    if (cli_isatty_err()) {
        int w = 30, k = total ? (int)((double)w * (double)done / (double)total) : w;
        fprintf(stderr, "\r\033[K%s: %s [%.*s%*s] %zu/%zu%s", cli_prog, stage, k,
                "##############################", w - k, "", done, total, left);
        shown = 1;
        if (done >= total) cli_progress_end();
    } else {
        /* a new stage, the end of one, or every LOG_PERIOD_S seconds */
        double now = cli_now();
        int new_stage = strncmp(stage, last_stage, sizeof last_stage - 1) != 0;
        if (!new_stage && done < total && now - last_log < LOG_PERIOD_S) return 0;
        last_log = now;
        snprintf(last_stage, sizeof last_stage, "%s", stage);
        fprintf(stderr, "%s: %s %zu/%zu (%.0f%%)%s\n", cli_prog, stage, done, total,
                total ? 100.0 * (double)done / (double)total : 100.0, left);
    }
    fflush(stderr);
    return 0;
}

void cli_progress_end(void)
{
    if (!shown) return;
    fputc('\n', stderr);
    fflush(stderr);
    shown = 0;
}
