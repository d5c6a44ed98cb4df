/* ibex compare A B, for cartridge cases: preprocessing, then Congruent Matching Cells in both
 * directions; prints counts, registration, verdict and time (or one JSON object). */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"
#include "ibex/calibration.h"
#include "ibex/compare.h"
#include "ibex/pair.h"
#include "ibex/picture.h"
#include "ibex/prealign.h"

static void help(void)
{
    ibex_cmc_opts o;
    ibex_cmc_opts_init(&o);
    ibex_prealign_opts pa;
    ibex_prealign_opts_init(&pa);
    /* ibex compare --help lands here (no operands: not bullets), so it opens with the rule
     * of cmd_compare.c that picks the kind, and the bullet forms. */
    fputs("Usage: ibex compare [options] A B                 two cartridge cases\n"
           "       ibex compare [--json] [--png OUT] LAND_A LAND_B | LAND BULLET_DIR |\n"
           "                    BULLET_DIR_A BULLET_DIR_B | --lands-a FILE... --lands-b FILE...\n"
           "                                                  bullets\n\n"
           "Which comparison runs: --kind cartridge|bullet decides. Without it the inputs are\n"
           "bullets when an operand is a directory, when --lands-a or --lands-b is given, or\n"
           "when there are more than two operands; else the first readable scan decides: its\n"
           "specimen_kind metadata, or without that field a grid at least twice as long as\n"
           "wide means a bullet land. Anything else is compared as cartridge cases.\n\n"
           "Bullets (ibex compare --kind bullet --help for the method, verdicts and output):\n"
           "  LAND_A LAND_B                   land to land: one land score (0..1)\n"
           "  LAND BULLET_DIR                 one land against every land of a bullet\n"
           "  BULLET_DIR_A BULLET_DIR_B       bullet to bullet, each a directory of land scans\n"
           "  --lands-a FILE... --lands-b FILE...  bullet to bullet from lists of land files\n"
           "  options: --json, --png OUT (aligned signatures), --kind bullet\n\n",
          stdout);
    printf("Cartridge cases: compare two breech faces (X3P topographies, or two 2D PNG images)\n"
           "by Congruent Matching Cells: A's cells are registered in B and B's in A over\n"
           "rotations %g..%g deg by %g, by masked normalised cross-correlation.\n\n"
           "  --json          one JSON object: verdict, cmc, cmc_high, score, lr, registration,\n"
           "                  cells, ... (fields and units: docs/reference/json.md)\n"
           "  --png OUT       picture of both surfaces with the congruent cells outlined\n"
           "  --prealign      first find the rotation over the full circle (whole-surface\n"
           "                  masked NCC, 6 deg steps at 50 um refined by 1 deg at 25 um),\n"
           "                  turn B by it (unless within %g deg), then run CMC around it:\n"
           "                  for casings scanned in any orientation. Caution: counts of\n"
           "                  6-8 can come from lined-up parallel tool marks alone\n"
           "                  (docs/reference/prealign.md, 'Known weakness'): look at --png\n"
           "  --cells N       N x N cell grid (default %u)\n"
           "  --threads N     worker threads (default: all; results do not depend on it)\n"
           "  --no-verify     read X3P files whose MD5 checksums do not match\n"
           "  --kind cartridge|bullet  force the kind (bullets go to the bullet comparison)\n"
           "  -h, --help      this text\n\n"
           "Method (fixed, in physical units at any spacing): both scans compared at 6.25 um,\n"
           "or at the coarser scan's spacing when that is coarser (no scan is upsampled);\n"
           "what a scan needs is read from its content: uncropped scans get the breech-face\n"
           "region, robust plane levelling and a 16-500 um Gaussian band-pass; scans already\n"
           "cropped and band-limited are only levelled. Cells need %.0f%% valid points; a cell\n"
           "is congruent when CCF >= %.2f and its shift and rotation are within %g um and\n"
           "%g deg of the consensus (Song 2018). cmc = original rule (Song 2013), cmc_high =\n"
           "High-CMC (Tong 2015, with cmcR's angle checks), each the smaller of the two\n"
           "directions; High-CMC is reported, not used in the verdict.\n"
           "score: the CCF summed over the congruent cells (original rule), averaged over the\n"
           "two directions: 0 up to the cells per direction, never NaN. A continuous\n"
           "similarity for ranking (ibex query sorts by it); the verdict uses cmc, not score.\n"
           "Verdict: identification when cmc >= %u, elimination when <= %u, else\n"
           "inconclusive; unsuitable when either surface has fewer than %u usable cells.\n"
           "Likelihood ratio: log10 LR of cmc from the calibration shipped with IBEX (default\n"
           "method only), bounded by the empirical bounds its data support (ELUB), with the\n"
           "ENFSI verbal scale (docs/reference/calibration.md).\n\n"
           "Units: the text output gives lengths in micrometres (shifts also in points of the\n"
           "compared grid) and angles in degrees. The JSON names the unit in the field:\n"
           "spacing_um, dx_um (micrometres), dx_points (grid points), theta_deg (degrees),\n"
           "*_ms (milliseconds); per-cell and per-direction dx, dy are grid points and theta\n"
           "degrees. (ibex info --json, by contrast, gives metres: dx_m, z_min, ...)\n\n"
           "Exit status: 0 compared (any verdict), 1 input refused, 2 usage error.\n",
           o.theta_min, o.theta_max, o.theta_step, pa.snap_deg, o.cells_x, 100 * o.min_valid_frac, o.t_ccf,
           o.t_xy_m * 1e6, o.t_theta, o.id_threshold, o.elim_threshold, o.id_threshold);
}

static json_t *cell_json(const ibex_cmc_cell *c)
{
    json_t *o = json_object();
    json_object_set_new(o, "direction", json_string(c->direction ? "B->A" : "A->B"));
    json_object_set_new(o, "row", json_integer(c->row));
    json_object_set_new(o, "col", json_integer(c->col));
    json_object_set_new(o, "valid_fraction", json_real(c->valid_frac));
    json_object_set_new(o, "used", json_boolean(c->used));
    if (c->used) {
        json_object_set_new(o, "ccf", json_real(c->ccf));
        json_object_set_new(o, "theta", json_real(c->theta));
        json_object_set_new(o, "dx", json_real(c->dx));
        json_object_set_new(o, "dy", json_real(c->dy));
    }
    json_object_set_new(o, "cmc", json_boolean(c->cmc));
    json_object_set_new(o, "cmc_high", json_boolean(c->cmc_high));
    if (c->cmc_high) {
        json_object_set_new(o, "high_theta", json_real(c->high_theta));
        json_object_set_new(o, "high_dx", json_real(c->high_dx));
        json_object_set_new(o, "high_dy", json_real(c->high_dy));
        json_object_set_new(o, "high_ccf", json_real(c->high_ccf));
    }
    return o;
}

static json_t *lr_json(const ibex_pair_result *p)
{
    const ibex_calibration *cal = p->calibration;
    if (!cal) return json_null();
    return json_pack("{s:f, s:s, s:s, s:[f,f], s:s}", "log10_lr", p->log10_lr, "verbal",
                     p->lr_verbal, "calibration", cal->id, "log10_bounds", cal->log10_lo,
                     cal->log10_hi, "score", cal->score);
}

static json_t *input_json(const char *path, const ibex_surface *raw, const ibex_surface *s,
                          const ibex_preprocess_info *pi)
{
    json_t *o = json_object();
    json_object_set_new(o, "file", json_string(path));
    json_object_set_new(o, "nx", json_integer((json_int_t)raw->nx));
    json_object_set_new(o, "ny", json_integer((json_int_t)raw->ny));
    json_object_set_new(o, "spacing_um", json_real(raw->dx * 1e6));
    json_object_set_new(o, "prepared_nx", json_integer((json_int_t)s->nx));
    json_object_set_new(o, "prepared_ny", json_integer((json_int_t)s->ny));
    json_object_set_new(o, "prepared_valid_fraction", json_real(pi->valid_fraction));
    json_object_set_new(o, "already_processed", json_boolean(pi->already_processed));
    json_object_set_new(o, "preprocessing", json_string(pi->steps));
    return o;
}

/* --png: the library's picture (ibex/picture.h), titled with the two file names. */
static int draw_png(const char *path, const char *pa, const char *pb, const ibex_surface *a,
                    const ibex_surface *b, const ibex_cmc_result *r)
{
    ibex_picture_opts po;
    ibex_picture_opts_init(&po);
    po.name_a = strrchr(pa, '/') ? strrchr(pa, '/') + 1 : pa;
    po.name_b = strrchr(pb, '/') ? strrchr(pb, '/') + 1 : pb;
    ibex_image *im = NULL;
    ibex_diag d;
    ibex_diag_clear(&d);
    ibex_status st = ibex_picture_cartridge(a, b, r, &po, &im, NULL, &d);
    if (!st) st = ibex_image_write_png(im, path, &d);
    else snprintf(d.file, sizeof d.file, "%s", path);
    ibex_image_free(im);
    return st ? cli_fail_status(st, &d) : EXIT_OK;
}

static int read_one(const char *path, unsigned flags, ibex_surface **out)
{
    ibex_diag d;
    ibex_status st = ibex_surface_read(path, flags, out, &d);
    if (st) return cli_fail_status(st, &d);
    const ibex_surface *s = *out;
    const char *k = s->meta.specimen_kind;
    if (k && !strcmp(k, "bullet")) {
        cli_error("%s: is a bullet scan (specimen kind \"bullet\"); cannot compare it with a "
                  "cartridge case", path);
        ibex_surface_free(*out);
        *out = NULL;
        return EXIT_REFUSED;
    }
    /* A breech face is roughly round; a land scan is a long strip. */
    if (s->nx >= 3 * s->ny || s->ny >= 3 * s->nx) {
        cli_error("%s: %zu x %zu points looks like a bullet land scan, not a breech face; "
                  "use --kind bullet", path, s->nx, s->ny);
        ibex_surface_free(*out);
        *out = NULL;
        return EXIT_REFUSED;
    }
    return EXIT_OK;
}

/* What the command line asked for. */
typedef struct args {
    int json, prealign;
    unsigned flags;
    const char *png, *pa, *pb;
    ibex_cmc_opts co;
} args;

static json_t *directions_json(const ibex_cmc_result *r)
{
    json_t *dirs = json_array();
    for (int k = 0; k < 2; k++) {
        const ibex_cmc_direction *dd = &r->dir[k];
        json_t *x = json_object();
        json_object_set_new(x, "direction", json_string(k ? "B->A" : "A->B"));
        json_object_set_new(x, "cells_used", json_integer(dd->cells_used));
        json_object_set_new(x, "cmc", json_integer(dd->cmc));
        json_object_set_new(x, "cmc_high", json_integer(dd->cmc_high));
        json_object_set_new(x, "high_cmc_theta_test_passed", json_boolean(dd->high_pass));
        json_object_set_new(x, "theta", json_real(dd->theta));
        json_object_set_new(x, "dx", json_real(dd->dx));
        json_object_set_new(x, "dy", json_real(dd->dy));
        json_object_set_new(x, "high_theta", json_real(dd->high_theta));
        json_array_append_new(dirs, x);
    }
    return dirs;
}

static json_t *registration_json(const ibex_cmc_result *r)
{
    double um = r->spacing * 1e6;
    json_t *reg = json_object();
    json_object_set_new(reg, "theta_deg", json_real(r->theta));
    json_object_set_new(reg, "dx_points", json_real(r->dx));
    json_object_set_new(reg, "dy_points", json_real(r->dy));
    json_object_set_new(reg, "dx_um", json_real(r->dx * um));
    json_object_set_new(reg, "dy_um", json_real(r->dy * um));
    json_object_set_new(reg, "full_ccf", json_real(r->full_ccf));
    return reg;
}

static json_t *prealign_json(const ibex_prealign_result *pre)
{
    json_t *x = json_object();
    json_object_set_new(x, "found", json_boolean(pre->found));
    json_object_set_new(x, "theta_found_deg", json_real(pre->theta_found));
    json_object_set_new(x, "theta_applied_deg", json_real(pre->theta));
    json_object_set_new(x, "ncc", json_real(pre->ncc));
    json_object_set_new(x, "overlap", json_real(pre->overlap));
    json_object_set_new(x, "ms", json_real(1e3 * pre->seconds));
    return x;
}

static json_t *config_json(const args *g, const char *simd)
{
    const ibex_cmc_opts *co = &g->co;
    json_t *cfg = json_object();
    json_object_set_new(cfg, "cells", json_integer(co->cells_x));
    json_object_set_new(cfg, "prealign", json_boolean(g->prealign));
    json_object_set_new(cfg, "theta_min", json_real(co->theta_min));
    json_object_set_new(cfg, "theta_max", json_real(co->theta_max));
    json_object_set_new(cfg, "theta_step", json_real(co->theta_step));
    json_object_set_new(cfg, "region_factor", json_real(co->region_factor));
    json_object_set_new(cfg, "t_xy_um", json_real(co->t_xy_m * 1e6));
    json_object_set_new(cfg, "t_theta", json_real(co->t_theta));
    json_object_set_new(cfg, "t_ccf", json_real(co->t_ccf));
    json_object_set_new(cfg, "min_valid_fraction", json_real(co->min_valid_frac));
    json_object_set_new(cfg, "id_threshold", json_integer(co->id_threshold));
    json_object_set_new(cfg, "simd", json_string(simd));
    return cfg;
}

static void print_json(const args *g, const ibex_surface *ra, const ibex_surface *rb,
                       const ibex_pair_result *p)
{
    const ibex_cmc_result *r = p->cmc;
    json_t *o = json_object(), *cells = json_array();
    json_object_set_new(o, "kind", json_string("cartridge"));
    json_object_set_new(o, "a", input_json(g->pa, ra, p->prepared[0], p->info[0]));
    json_object_set_new(o, "b", input_json(g->pb, rb, p->prepared[1], p->info[1]));
    json_object_set_new(o, "verdict", json_string(ibex_verdict_name(r->verdict)));
    json_object_set_new(o, "cmc", json_integer(r->cmc));
    json_object_set_new(o, "cmc_high", json_integer(r->cmc_high));
    json_object_set_new(o, "score", json_real(r->score));
    json_object_set_new(o, "lr", lr_json(p));
    json_object_set_new(o, "directions", directions_json(r));
    json_object_set_new(o, "registration", registration_json(r));
    if (p->prealign) json_object_set_new(o, "prealign", prealign_json(p->prealign));
    json_object_set_new(o, "spacing_um", json_real(r->spacing * 1e6));
    for (size_t i = 0; i < r->n_cells; i++) json_array_append_new(cells, cell_json(&r->cells[i]));
    json_object_set_new(o, "cells", cells);
    json_object_set_new(o, "config", config_json(g, p->simd));
    json_t *tm = json_object();
    json_object_set_new(tm, "preprocess_ms", json_real(1e3 * p->t_preprocess));
    json_object_set_new(tm, "compare_ms", json_real(1e3 * p->t_compare));
    json_object_set_new(o, "time", tm);
    char *txt = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
    if (txt) puts(txt);
    free(txt);
    json_decref(o);
}

static void print_lr(const ibex_pair_result *p)
{
    const ibex_calibration *cal = p->calibration;
    if (cal) {
        double l = p->log10_lr;
        printf("likelihood ratio:        log10 LR %.2f (LR %.3g%s): %s\n"
               "                         (calibration %s, bounded to [%.2f, %.2f] by what "
               "its data support)\n", l, pow(10, l),
               l >= cal->log10_hi || l <= cal->log10_lo ? ", at its bound" : "",
               p->lr_verbal, cal->id, cal->log10_lo, cal->log10_hi);
    } else {
        ibex_cmc_opts def;
        ibex_cmc_opts_init(&def);
        printf("likelihood ratio:        none (the shipped calibration is for the default "
               "method: %ux%u cells, no --prealign)\n", def.cells_x, def.cells_y);
    }
}

static void print_text(const args *g, const ibex_surface *ra, const ibex_surface *rb,
                       const ibex_pair_result *p)
{
    const ibex_cmc_result *r = p->cmc;
    const ibex_surface *a = p->prepared[0], *b = p->prepared[1];
    const ibex_prealign_result *pre = p->prealign;
    double um = r->spacing * 1e6;
    printf("A: %s  %zux%zu -> %zux%zu at %.3g um, %.1f%% valid%s\n", g->pa, ra->nx, ra->ny, a->nx,
           a->ny, um, 100 * p->info[0]->valid_fraction,
           p->info[0]->already_processed ? " (already processed)" : "");
    printf("B: %s  %zux%zu -> %zux%zu at %.3g um, %.1f%% valid%s\n", g->pb, rb->nx, rb->ny, b->nx,
           b->ny, um, 100 * p->info[1]->valid_fraction,
           p->info[1]->already_processed ? " (already processed)" : "");
    printf("cells used:              A->B %u  B->A %u  (of %u)\n", r->dir[0].cells_used,
           r->dir[1].cells_used, g->co.cells_x * g->co.cells_y);
    printf("CMC (original, Song):    A->B %u  B->A %u  => %u\n", r->dir[0].cmc, r->dir[1].cmc, r->cmc);
    printf("High-CMC (Tong):         A->B %u%s  B->A %u%s  => %u\n", r->dir[0].cmc_high,
           r->dir[0].high_pass ? "" : " (theta test failed)", r->dir[1].cmc_high,
           r->dir[1].high_pass ? "" : " (theta test failed)", r->cmc_high);
    if (pre && !pre->found)
        printf("prealign:                no rotation found (too few valid points or no "
               "overlap); B compared untouched\n");
    else if (pre)
        printf("prealign:                found %g deg (whole-surface NCC %.3f), B turned by "
               "%g deg before CMC, %.0f ms\n", pre->theta_found, pre->ncc, pre->theta,
               1e3 * pre->seconds);
    printf("registration (B on A):   theta %g deg, dx %g (%.0f um), dy %g (%.0f um), "
           "full-scan CCF %.3f\n", r->theta, r->dx, r->dx * um, r->dy, r->dy * um, r->full_ccf);
    printf("score:                   %.3f\n", r->score);
    printf("verdict:                 %s  (identification at CMC >= %u)\n",
           ibex_verdict_name(r->verdict), g->co.id_threshold);
    print_lr(p);
    printf("time:                    preprocess %.0f ms, compare %.0f ms (%s)\n",
           1e3 * p->t_preprocess, 1e3 * p->t_compare, p->simd);
}

static int parse_count(const char *opt, const char *v, long max, unsigned *out)
{
    char *e;
    long n = strtol(v, &e, 10);
    if (*e || n < 1 || n > max) return cli_usage_error("%s wants 1..%ld, not '%s'", opt, max, v);
    *out = (unsigned)n;
    return EXIT_OK;
}

/* -1: go on; else the exit status (help, usage error). */
static int parse(int argc, char **argv, args *g)
{
    static const struct option lo[] = {{"json", no_argument, 0, 'j'},
                                       {"png", required_argument, 0, 'p'},
                                       {"cells", required_argument, 0, 'c'},
                                       {"prealign", no_argument, 0, 'P'},
                                       {"threads", required_argument, 0, 't'},
                                       {"no-verify", no_argument, 0, 'n'},
                                       {"kind", required_argument, 0, 'k'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
    int c, rc;
    memset(g, 0, sizeof *g);
    ibex_cmc_opts_init(&g->co);
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'j': g->json = 1; break;
        case 'p': g->png = optarg; break;
        case 'P': g->prealign = 1; break;
        case 'c':
            if ((rc = parse_count("--cells", optarg, 64, &g->co.cells_x))) return rc;
            g->co.cells_y = g->co.cells_x;
            break;
        case 't':
            if ((rc = parse_count("--threads", optarg, 1024, &g->co.threads))) return rc;
            break;
        case 'n': g->flags |= IBEX_READ_NO_VERIFY; break;
        case 'k':
            if (strcmp(optarg, "cartridge") && strcmp(optarg, "bullet"))
                return cli_usage_error("--kind is cartridge or bullet, not '%s'", optarg);
            break;
        case 'h': help(); return EXIT_OK;
        default: return cli_usage_error("unknown option");
        }
    }
    if (argc - optind != 2) return cli_usage_error("compare wants two files (A B)");
    g->pa = argv[optind];
    g->pb = argv[optind + 1];
    return -1;
}

/* Read both scans and run the library's comparison (ibex/pair.h); the engine names the
 * surface at fault "A" or "B", replaced here by its file. */
static int run(const args *g, ibex_surface **ra, ibex_surface **rb, ibex_pair_result **p)
{
    int rc = read_one(g->pa, g->flags, ra);
    if (rc || (rc = read_one(g->pb, g->flags, rb))) return rc;
    if ((*ra)->zkind != (*rb)->zkind) {
        cli_error("%s and %s: cannot compare a 3D topography with a 2D image", g->pa, g->pb);
        return EXIT_REFUSED;
    }
    ibex_pair_opts o;
    ibex_pair_opts_init(&o);
    o.cmc = &g->co;
    o.prealign = g->prealign;
    ibex_diag d;
    ibex_status st = ibex_compare_cartridges(*ra, *rb, &o, p, &d);
    if (!st) return EXIT_OK;
    if (!strcmp(d.file, "A")) snprintf(d.file, sizeof d.file, "%s", g->pa);
    else if (!strcmp(d.file, "B")) snprintf(d.file, sizeof d.file, "%s", g->pb);
    return cli_fail_status(st, &d);
}

int compare_cartridge_main(int argc, char **argv)
{
    args g;
    int rc = parse(argc, argv, &g);
    if (rc >= 0) return rc;
    ibex_surface *ra = NULL, *rb = NULL;
    ibex_pair_result *p = NULL;
    if (!(rc = run(&g, &ra, &rb, &p))) {
        if (g.json) print_json(&g, ra, rb, p);
        else print_text(&g, ra, rb, p);
        if (g.png) {
            rc = draw_png(g.png, g.pa, g.pb, p->prepared[0], p->prepared[1], p->cmc);
            if (!rc && !g.json)
                printf("picture:                 %s (A left; B turned onto A right; green "
                       "congruent,\n                         orange High-CMC only, red not "
                       "congruent)\n", g.png);
        }
    }
    ibex_pair_result_free(p);
    ibex_surface_free(ra);
    ibex_surface_free(rb);
    return rc;
}
