/* Messages, exit codes and data location shared by the subcommands. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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

double cli_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

const char *cli_scan_kind(const ibex_surface *s) { return ibex_scan_kind(s); }

char *cli_base64(const unsigned char *data, size_t n)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out) return NULL;
    /* Each 3 bytes become 4 characters of 6 bits; a short last group is padded with '='. */
    for (size_t i = 0; i < n; i += 3) {
        unsigned long v = (unsigned long)data[i] << 16;
        if (i + 1 < n) v |= (unsigned long)data[i + 1] << 8;
        if (i + 2 < n) v |= data[i + 2];
        *o++ = abc[v >> 18 & 63];
        *o++ = abc[v >> 12 & 63];
        *o++ = i + 1 < n ? abc[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? abc[v & 63] : '=';
    }
    *o = 0;
    return out;
}
