/* Messages, exit codes and data location shared by the subcommands. */
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"

const char *cli_prog = "ibex";

int cli_fail_status(ibex_status s, const ibex_diag *d)
{
    char buf[1200];
    fprintf(stderr, "%s: %s\n", cli_prog, ibex_diag_format(d, s, buf, sizeof buf));
    return EXIT_REFUSED;
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", cli_prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", cli_prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '%s --help'.\n", cli_prog);
    return EXIT_USAGE;
}

const char *cli_data_dir(void)
{
    const char *e = getenv("IBEX_DATA");
    if (e && e[0]) return e;
    return IBEX_SOURCE_ROOT "/../shared/datasets/real";
}

int cli_isatty_err(void) { return isatty(2); }
