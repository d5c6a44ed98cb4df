/* ibex render: a surface as a picture (colour-mapped heights, shaded relief or grey). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

static void help(void)
{
    printf("Usage: ibex render [OPTIONS] IN OUT.png\n\n"
           "Draw the surface or image IN (.x3p or .png) as an 8-bit RGB PNG for people to\n"
           "look at. Row 0 of the scan is the top row of the picture.\n\n"
           "  --style STYLE   colour  heights through IBEX's perceptual map, dark blue (low)\n"
           "                          to teal to yellow (high); the default\n"
           "                  shaded  relief lit from the upper left, lightly tinted by height:\n"
           "                          shows striations and impressions best\n"
           "                  grey    heights as plain grey levels\n"
           "  --max-side N    shrink by whole-pixel averaging so neither side exceeds N pixels\n"
           "  --no-verify     read an X3P input whose MD5 checksums do not match\n"
           "  -h, --help      this text\n\n"
           "The colour range runs from the 1st to the 99th percentile of the valid heights;\n"
           "missing points are drawn in brick red.\n"
           "The output is written to a temporary file and renamed: never half written.\n"
           "Exit status: 0 written, 1 input refused or write failed, 2 usage error.\n");
}

static int parse_style(const char *t, ibex_render_style *st)
{
    if (!strcmp(t, "colour") || !strcmp(t, "color")) *st = IBEX_RENDER_COLOUR;
    else if (!strcmp(t, "shaded")) *st = IBEX_RENDER_SHADED;
    else if (!strcmp(t, "grey") || !strcmp(t, "gray")) *st = IBEX_RENDER_GREY;
    else return 0;
    return 1;
}

static const char *style_name(ibex_render_style st)
{
    return st == IBEX_RENDER_SHADED ? "shaded" : st == IBEX_RENDER_GREY ? "grey" : "colour";
}

int cmd_render(int argc, char **argv)
{
    static const struct option opts[] = {{"style", required_argument, 0, 's'},
                                         {"max-side", required_argument, 0, 'm'},
                                         {"no-verify", no_argument, 0, 'n'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    ibex_render_opts ro;
    ibex_render_opts_init(&ro);
    unsigned flags = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (!parse_style(optarg, &ro.style))
                return cli_usage_error("--style must be colour, shaded or grey, not '%s'", optarg);
            break;
        case 'm': {
            char *end;
            long long v = strtoll(optarg, &end, 10);
            if (end == optarg || *end || v < 1 || v > (long long)IBEX_MAX_SIDE)
                return cli_usage_error("--max-side needs a whole number from 1 to %zu",
                                       IBEX_MAX_SIDE);
            ro.max_side = (size_t)v;
            break;
        }
        case 'n': flags |= IBEX_READ_NO_VERIFY; break;
        case 'h': help(); return EXIT_OK;
        default: return cli_usage_error("unknown option");
        }
    }
    if (argc - optind != 2) return cli_usage_error("need exactly IN and OUT.png");
    const char *in = argv[optind], *out = argv[optind + 1];
    size_t n = strlen(out);
    if (n < 4 || strcasecmp(out + n - 4, ".png") != 0)
        return cli_usage_error("OUT must end in .png");

    ibex_surface *s;
    ibex_diag d;
    ibex_diag_clear(&d);
    ibex_status st = ibex_surface_read(in, flags, &s, &d);
    if (st) return cli_fail_status(st, &d);
    ibex_image *im = NULL;
    st = ibex_surface_render(s, &ro, &im);
    int rc = EXIT_OK;
    if (st) {
        cli_error("%s: cannot render: %s", in, ibex_strerror(st));
        rc = EXIT_REFUSED;
    } else if ((st = ibex_image_write_png(im, out, &d))) {
        rc = cli_fail_status(st, &d);
    } else {
        printf("%s -> %s (%zux%zu, %s)\n", in, out, im->w, im->h, style_name(ro.style));
    }
    ibex_image_free(im);
    ibex_surface_free(s);
    return rc;
}
