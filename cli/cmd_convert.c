/* ibex convert: X3P <-> PNG, with crop, resample and metadata edits on the way. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

static void help(void)
{
    printf("Usage: ibex convert [OPTIONS] IN OUT\n\n"
           "Read IN (.x3p or .png) and write OUT; the format follows OUT's extension.\n"
           "Vendor records and unknown XML elements of an X3P input are kept.\n\n"
           "  --crop X,Y,W,H     keep the W x H points starting at column X, row Y\n"
           "  --resample UM      resample to UM micrometres per point (bilinear, valid points only)\n"
           "  --spacing UM       spacing of a PNG input in micrometres (default: from the file)\n"
           "  --meta KEY=VALUE   set a metadata field (repeatable; empty VALUE clears it);\n"
           "                     --meta help lists the keys\n"
           "  --kind KIND        shorthand for --meta specimen_kind=KIND (cartridge|bullet)\n"
           "  --float64          store X3P heights as float64 (default float32); a float64\n"
           "                     input's heights are written back bit for bit unless\n"
           "                     --resample changed them (--crop keeps them)\n"
           "  --no-verify        read an X3P input whose MD5 checksums do not match\n"
           "  -h, --help         this text\n\n"
           "The output is written to a temporary file and renamed: never half written.\n"
           "Exit status: 0 written, 1 input refused or write failed, 2 usage error.\n");
}

static void list_keys(void)
{
    printf("Metadata keys:\n");
    for (size_t i = 0; i < ibex_meta_count(); i++)
        printf("  %-24s %s\n", ibex_meta_key(i), ibex_meta_describe(i));
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

static int parse_um(const char *t, double *v)
{
    char *end;
    *v = strtod(t, &end);
    return end != t && *end == '\0' && *v > 0 && isfinite(*v);
}

/* Replace *s by the result of an operation that made a new surface. */
static void take(ibex_surface **s, ibex_surface *n)
{
    ibex_surface_free(*s);
    *s = n;
}

int cmd_convert(int argc, char **argv)
{
    static const struct option opts[] = {
        {"crop", required_argument, 0, 'c'},     {"resample", required_argument, 0, 'r'},
        {"spacing", required_argument, 0, 's'},  {"meta", required_argument, 0, 'm'},
        {"kind", required_argument, 0, 'k'},     {"float64", no_argument, 0, 'd'},
        {"no-verify", no_argument, 0, 'n'},      {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *crop = NULL;
    double resample = 0, spacing = 0;
    unsigned rflags = 0, wflags = 0;
    char *metas[64];
    int nmeta = 0, c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': crop = optarg; break;
        case 'r':
            if (!parse_um(optarg, &resample)) return cli_usage_error("--resample needs a positive number of micrometres");
            break;
        case 's':
            if (!parse_um(optarg, &spacing)) return cli_usage_error("--spacing needs a positive number of micrometres");
            break;
        case 'k':
        case 'm': {
            if (c == 'm' && strcmp(optarg, "help") == 0) {
                list_keys();
                return EXIT_OK;
            }
            if (nmeta == 64) return cli_usage_error("too many --meta options");
            static char kindbuf[64];
            if (c == 'k') {
                snprintf(kindbuf, sizeof kindbuf, "specimen_kind=%s", optarg);
                metas[nmeta++] = kindbuf;
            } else {
                metas[nmeta++] = optarg;
            }
            break;
        }
        case 'd':
            wflags |= IBEX_WRITE_FLOAT64;
            rflags |= IBEX_READ_FLOAT64; /* keep the input's double heights to write them */
            break;
        case 'n': rflags |= IBEX_READ_NO_VERIFY; break;
        case 'h': help(); return EXIT_OK;
        default: return cli_usage_error("unknown option");
        }
    }
    if (argc - optind != 2) return cli_usage_error("need exactly IN and OUT");
    const char *in = argv[optind], *out = argv[optind + 1];
    int to_png = ends_with(out, ".png");
    if (!to_png && !ends_with(out, ".x3p")) return cli_usage_error("OUT must end in .x3p or .png");
    size_t cx = 0, cy = 0, cw = 0, ch = 0;
    if (crop && sscanf(crop, "%zu,%zu,%zu,%zu", &cx, &cy, &cw, &ch) != 4)
        return cli_usage_error("--crop needs X,Y,W,H");
    for (int i = 0; i < nmeta; i++) {
        char *eq = strchr(metas[i], '=');
        if (!eq) return cli_usage_error("--meta needs KEY=VALUE, got '%s'", metas[i]);
        /* Refused before anything is read or written: the output could not be read back. */
        ibex_diag d;
        *eq = '\0';
        ibex_status st = ibex_meta_check(metas[i], eq + 1, &d);
        *eq = '=';
        if (st) return cli_fail_status(st, &d);
    }

    ibex_surface *s;
    ibex_diag d;
    ibex_status st = ends_with(in, ".png") ? ibex_surface_read_png(in, spacing * 1e-6, &s, &d)
                                           : ibex_surface_read(in, rflags, &s, &d);
    if (st) return cli_fail_status(st, &d);
    int rc = EXIT_OK;
    for (int i = 0; i < nmeta && rc == EXIT_OK; i++) {
        char *eq = strchr(metas[i], '=');
        *eq = '\0';
        if (ibex_meta_set(&s->meta, metas[i], eq + 1) != IBEX_OK)
            rc = cli_usage_error("unknown metadata key '%s' (--meta help lists them)", metas[i]);
        *eq = '=';
    }
    if (rc == EXIT_OK && crop) {
        ibex_surface *n;
        if (ibex_surface_crop(s, cx, cy, cw, ch, &n) != IBEX_OK) {
            cli_error("%s: crop %zu,%zu,%zu,%zu does not fit the %zux%zu grid", in, cx, cy, cw, ch,
                      s->nx, s->ny);
            rc = EXIT_REFUSED;
        } else {
            take(&s, n);
        }
    }
    if (rc == EXIT_OK && resample > 0) {
        ibex_surface *n;
        if ((st = ibex_surface_resample(s, resample * 1e-6, resample * 1e-6, &n)) != IBEX_OK) {
            cli_error("%s: cannot resample to %g um: %s", in, resample, ibex_strerror(st));
            rc = EXIT_REFUSED;
        } else {
            take(&s, n);
        }
    }
    if (rc == EXIT_OK) {
        st = to_png ? ibex_surface_write_png(s, out, &d) : ibex_surface_write_x3p(s, out, wflags, &d);
        if (st) rc = cli_fail_status(st, &d);
        else
            printf("%s -> %s (%zux%zu, %.4g um)\n", in, out, s->nx, s->ny, s->dx * 1e6);
    }
    ibex_surface_free(s);
    return rc;
}
