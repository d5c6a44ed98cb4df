/* --help and unknown options for the bench programs, the same way in each: --help (or -h)
 * prints the usage on stdout and exits 0; an option the program does not know prints the
 * usage on stderr and exits 2. */
#ifndef IBEX_BENCH_USAGE_H
#define IBEX_BENCH_USAGE_H

#include <stdio.h>
#include <string.h>

/* options: the known options, comma-separated, a trailing '=' on those taking a value
 * ("--repeats=,--quick"). Arguments not starting with '-' are operands, left alone.
 * Returns -1 to go on, else the exit code. */
static inline int bench_usage_check(int argc, char **argv, const char *usage, const char *options)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 0;
        }
        if (a[0] != '-' || !a[1]) continue;
        size_t n = strlen(a);
        const char *p = options;
        int known = 0, value = 0;
        while (p && *p) {
            const char *e = strchr(p, ',');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            int v = len > 0 && p[len - 1] == '=';
            if (len - (size_t)v == n && !strncmp(p, a, n)) {
                known = 1, value = v;
                break;
            }
            p = e ? e + 1 : NULL;
        }
        if (!known) {
            fprintf(stderr, "%s: unknown option '%s'\n%s", argv[0], a, usage);
            return 2;
        }
        i += value;
    }
    return -1;
}

#endif
