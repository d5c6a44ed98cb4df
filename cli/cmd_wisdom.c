/* ibex wisdom: make or refresh the file of pinned FFT plans (include/ibex/fft.h). */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

#define DEFAULT_GRID 545 /* a 6.25 um casing scan of the NanoFocus studies (Fadul) */

static void help(void)
{
    printf("Usage: ibex wisdom [--refresh] [--path] [--json] [GRID...]\n\n"
           "The CMC search runs IBEX's own FFT, which needs no planning. Where it runs FFTW\n"
           "instead (IBEX_FFT=fftw, or a transform size the own FFT does not serve), this\n"
           "plans, once per machine, FFTW's transforms (FFTW_PATIENT, seconds per size) and\n"
           "keeps them in the wisdom file, so that every later run uses the same plans: the\n"
           "same numbers and no planning. A comparison plans a size it does not find on\n"
           "first use, so running this is optional.\n\n"
           "GRID: side N or NxM (points) of the surfaces compared; the transform sizes of\n"
           "the default CMC options for that grid are planned (default %d, a casing at\n"
           "6.25 um). A grid already in the file costs nothing.\n\n"
           "  --refresh   forget the stored plans first and plan anew (after an FFTW or\n"
           "              CPU change, or to retime)\n"
           "  --path      print the wisdom file's path and stop\n"
           "  --json      one JSON object on stdout\n"
           "  -h, --help  this text\n\n"
           "The file: $IBEX_FFT_WISDOM, else $XDG_CACHE_HOME/ibex/ or ~/.cache/ibex/\n"
           "fftwf-VERSION-CPU.wisdom. IBEX_FFT_WISDOM=off: no file, ESTIMATE plans.\n"
           "Deleting the file is always safe.\n"
           "Exit status: 0 planned (or present), 1 the file cannot be used, 2 usage error.\n",
           DEFAULT_GRID);
}

static int parse_grid(const char *s, size_t *nx, size_t *ny)
{
    char *e;
    errno = 0;
    unsigned long a = strtoul(s, &e, 10), b = a;
    if (errno || e == s) return -1;
    if (*e == 'x') {
        const char *t = e + 1;
        b = strtoul(t, &e, 10);
        if (errno || e == t) return -1;
    }
    if (*e || a < 16 || b < 16 || a > 65536 || b > 65536) return -1;
    *nx = a;
    *ny = b;
    return 0;
}

int cmd_wisdom(int argc, char **argv)
{
    static const struct option longs[] = {{"refresh", no_argument, 0, 'r'},
                                          {"path", no_argument, 0, 'p'},
                                          {"json", no_argument, 0, 'j'},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
    int refresh = 0, path_only = 0, json = 0, c;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'r': refresh = 1; break;
        case 'p': path_only = 1; break;
        case 'j': json = 1; break;
        case 'h': help(); return EXIT_OK;
        default: return cli_usage_error("unknown option");
        }
    }
    size_t ngrid = argc > optind ? (size_t)(argc - optind) : 1;
    size_t *gx = calloc(ngrid, sizeof *gx), *gy = calloc(ngrid, sizeof *gy);
    if (!gx || !gy) {
        free(gx);
        free(gy);
        cli_error("out of memory");
        return EXIT_REFUSED;
    }
    gx[0] = gy[0] = DEFAULT_GRID;
    for (int i = optind; i < argc; i++)
        if (parse_grid(argv[i], &gx[i - optind], &gy[i - optind])) {
            free(gx);
            free(gy);
            return cli_usage_error("bad grid '%s' (N or NxM, 16..65536)", argv[i]);
        }
    ibex_diag d;
    ibex_diag_clear(&d);
    ibex_status st = ibex_fft_wisdom_file() ? IBEX_OK : ibex_fft_wisdom_open(NULL, &d);
    if (st == IBEX_OK && refresh && !path_only) st = ibex_fft_wisdom_clear(&d);
    json_t *sizes = json_array();
    size_t planned_n = 0;
    double t0 = cli_now();
    for (size_t i = 0; st == IBEX_OK && !path_only && i < ngrid; i++) {
        size_t fx, fy;
        ibex_cmc_fft_size(NULL, gx[i], gy[i], &fx, &fy);
        double t = cli_now();
        int planned = 0;
        if (!json) fprintf(stderr, "%s: grid %zux%zu: transform %zux%zu ...", cli_prog, gx[i], gy[i], fx, fy);
        st = ibex_fft_wisdom_plan(fx, fy, &planned, &d);
        double s = cli_now() - t;
        if (!json) fprintf(stderr, " %s (%.1f s)\n", st ? "failed" : planned ? "planned" : "present", s);
        planned_n += planned > 0;
        json_array_append_new(sizes, json_pack("{s:I,s:I,s:I,s:I,s:b,s:f}", "grid_nx", (json_int_t)gx[i],
                                               "grid_ny", (json_int_t)gy[i], "fft_nx", (json_int_t)fx,
                                               "fft_ny", (json_int_t)fy, "planned", planned > 0,
                                               "seconds", s));
    }
    free(gx);
    free(gy);
    if (st != IBEX_OK) {
        json_decref(sizes);
        return cli_fail_status(st, &d);
    }
    const char *file = ibex_fft_wisdom_file();
    if (json) {
        json_t *o = json_pack("{s:s,s:o,s:I,s:f}", "file", file, "sizes", sizes, "planned",
                              (json_int_t)planned_n, "seconds", cli_now() - t0);
        json_dumpf(o, stdout, JSON_INDENT(2));
        printf("\n");
        json_decref(o);
    } else {
        json_decref(sizes);
        printf("%s\n", file);
    }
    return EXIT_OK;
}
