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

/* A server thread running a subcommand's code keeps its messages for the answer. */
static _Thread_local char *cap_buf;
static _Thread_local size_t cap_size;

void cli_capture(char *buf, size_t size)
{
    cap_buf = size ? buf : NULL;
    cap_size = size;
    if (cap_buf) cap_buf[0] = '\0';
}

/* 1 when the message went to the capture buffer (the first one is kept: the cause). */
static int captured(const char *fmt, va_list ap)
{
    if (!cap_buf) return 0;
    if (!cap_buf[0]) vsnprintf(cap_buf, cap_size, fmt, ap);
    return 1;
}

static int capture_text(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int capture_text(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = captured(fmt, ap);
    va_end(ap);
    return r;
}

int cli_fail_status(ibex_status s, const ibex_diag *d)
{
    char buf[1200];
    const char *msg = ibex_diag_format(d, s, buf, sizeof buf);
    if (!capture_text("%s", msg)) fprintf(stderr, "%s: %s\n", cli_prog, msg);
    return EXIT_REFUSED;
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int done = captured(fmt, ap);
    va_end(ap);
    if (done) return;
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

const char *cli_scan_kind(const ibex_surface *s)
{
    const char *k = s->meta.specimen_kind;
    if (k && (!strcmp(k, "cartridge") || !strcmp(k, "bullet"))) return k;
    return s->nx >= 2 * s->ny || s->ny >= 2 * s->nx ? "bullet" : "cartridge";
}

int cli_make_dirs(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
    return 0;
}
