/* ibex info: what is in a scan file (grid, spacing, valid area, heights, metadata). */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

static void help(void)
{
    printf("Usage: ibex info [--json] [--no-verify] FILE|DIR...\n\n"
           "Describe X3P surfaces and PNG images: kind, grid, spacing, valid fraction,\n"
           "height range and metadata. A directory stands for every .x3p/.png below it.\n\n"
           "  --json        one JSON array, an object per file: spacing and heights in\n"
           "                metres (dx_m, z_min, ...; fields: docs/reference/json.md)\n"
           "  --no-verify   read X3P files whose MD5 checksums do not match\n"
           "  -h, --help    this text\n\n"
           "The table gives spacing and height range in micrometres (grey levels 0..1 for\n"
           "2D images).\n"
           "Exit status: 0 all files read, 1 some file refused (each named on stderr),\n"
           "2 usage error.\n");
}

static const char *kind_of(const ibex_surface *s)
{
    return s->zkind == IBEX_Z_INTENSITY ? "2D image" : "3D surface";
}

static json_t *to_json(const char *path, const ibex_surface *s, const ibex_surface_stats *st)
{
    json_t *o = json_object(), *meta = json_object();
    json_object_set_new(o, "file", json_string(path));
    json_object_set_new(o, "kind", json_string(kind_of(s)));
    json_object_set_new(o, "nx", json_integer((json_int_t)s->nx));
    json_object_set_new(o, "ny", json_integer((json_int_t)s->ny));
    json_object_set_new(o, "dx_m", json_real(s->dx));
    json_object_set_new(o, "dy_m", json_real(s->dy));
    json_object_set_new(o, "valid_fraction", json_real(st->valid_fraction));
    json_object_set_new(o, "z_unit", json_string(s->zkind == IBEX_Z_INTENSITY ? "grey (0..1)" : "m"));
    json_object_set_new(o, "z_min", json_real(st->zmin));
    json_object_set_new(o, "z_max", json_real(st->zmax));
    json_object_set_new(o, "z_rms", json_real(st->zrms));
    json_object_set_new(o, "units_note", s->units_note[0] ? json_string(s->units_note) : json_null());
    for (size_t i = 0; i < ibex_meta_count(); i++) {
        const char *k = ibex_meta_key(i), *v = ibex_meta_get(&s->meta, k);
        if (v) json_object_set_new(meta, k, json_string(v));
    }
    json_object_set_new(o, "metadata", meta);
    return o;
}

static void print_row(const char *path, int width, const ibex_surface *s,
                      const ibex_surface_stats *st)
{
    char grid[32], spacing[48], range[48], who[96];
    snprintf(grid, sizeof grid, "%zux%zu", s->nx, s->ny);
    if (s->dx == s->dy)
        snprintf(spacing, sizeof spacing, "%.4g um", s->dx * 1e6);
    else
        snprintf(spacing, sizeof spacing, "%.4gx%.4g um", s->dx * 1e6, s->dy * 1e6);
    if (s->zkind == IBEX_Z_INTENSITY)
        snprintf(range, sizeof range, "%.3f..%.3f grey", st->zmin, st->zmax);
    else
        snprintf(range, sizeof range, "%.3g..%.3g um", st->zmin * 1e6, st->zmax * 1e6);
    const char *mk = s->meta.instrument_manufacturer, *md = s->meta.instrument_model;
    snprintf(who, sizeof who, "%s%s%s", mk ? mk : "", mk && md ? " " : "", md ? md : "");
    printf("%-*s  %-10s  %-10s  %-11s  %5.1f%%  %-22s  %s", width, path, kind_of(s), grid, spacing,
           100 * st->valid_fraction, range, who[0] ? who : "-");
    if (s->units_note[0]) printf("  [%s]", s->units_note);
    putchar('\n');
}

int cmd_info(int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, 0, 'j'},
                                         {"no-verify", no_argument, 0, 'n'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int json = 0, c;
    unsigned flags = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 'n': flags |= IBEX_READ_NO_VERIFY; break;
        case 'h': help(); return EXIT_OK;
        default: return cli_usage_error("unknown option");
        }
    }
    if (optind >= argc) return cli_usage_error("no file given");
    char **files;
    size_t n;
    if (cli_collect_scans(argv + optind, argc - optind, &files, &n) != 0) return EXIT_REFUSED;
    if (n == 0) {
        cli_error("no .x3p or .png files found");
        cli_free_list(files);
        return EXIT_REFUSED;
    }
    int width = 4, failed = 0;
    for (size_t i = 0; i < n; i++)
        if ((int)strlen(files[i]) > width) width = (int)strlen(files[i]);
    json_t *arr = json ? json_array() : NULL;
    if (!json)
        printf("%-*s  %-10s  %-10s  %-11s  %6s  %-22s  %s\n", width, "file", "kind", "grid",
               "spacing", "valid", "height range", "instrument");
    for (size_t i = 0; i < n; i++) {
        ibex_surface *s;
        ibex_diag d;
        ibex_status st = ibex_surface_read(files[i], flags, &s, &d);
        if (st) {
            cli_fail_status(st, &d);
            failed++;
            continue;
        }
        ibex_surface_stats ss;
        ibex_surface_get_stats(s, &ss);
        if (json)
            json_array_append_new(arr, to_json(files[i], s, &ss));
        else
            print_row(files[i], width, s, &ss);
        ibex_surface_free(s);
    }
    if (json) {
        json_dumpf(arr, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
        putchar('\n');
        json_decref(arr);
    } else {
        printf("%zu file(s), %d refused\n", n, failed);
    }
    cli_free_list(files);
    return failed ? EXIT_REFUSED : EXIT_OK;
}
