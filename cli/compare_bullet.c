/* ibex compare on bullets: land to land, land to bullet, or bullet to bullet.
 * A bullet is a directory of land scans or a list (--lands-a FILE... --lands-b FILE...);
 * land positions come from "Land_N" / "LandN" in the file names, else from name order. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ibex/bullet.h"
#include "ibex/image.h"
#include "ibex/io.h"
#include "ibex/pair.h"
#include "ibex/picture.h"
#include "cli.h"

static const char usage[] =
    "Usage: ibex compare [--kind bullet] [--json] LAND_A LAND_B\n"
    "       ibex compare [--json] BULLET_DIR_A BULLET_DIR_B\n"
    "       ibex compare [--json] --lands-a FILE... --lands-b FILE...\n"
    "       ibex compare [--json] LAND BULLET_DIR   (one land against every land of a bullet)\n"
    "\n"
    "Compares bullet land-engraved areas (X3P scans). Each land becomes a striation signature\n"
    "(striation direction, stable crosscut, grooves and curvature found from the data); pairs\n"
    "are aligned by cross-correlation and scored by a calibrated logistic model (0..1).\n"
    "Bullets: every land pairing, the best cyclic phase by sequence average maximum (SAM).\n"
    "\n"
    "Verdicts (AFTE words): bullets: identification when >= 2 lands match (score >= 0.5) at\n"
    "the best phase with SAM >= 0.5 and >= 0.25 above any other phase; elimination when no\n"
    "land pair reaches 0.5; unsuitable when a bullet has no usable land; else inconclusive\n"
    "(also when a bullet has a single usable land). Land to land or land to bullet (best\n"
    "land): identification >= 0.9, elimination <= 0.1, else inconclusive; unsuitable when a\n"
    "land gives no signature.\n"
    "\n"
    "Which comparison runs (ibex compare decides): --kind; else bullets when an operand is a\n"
    "directory, --lands-a/--lands-b is given or there are more than two operands; else the\n"
    "first readable scan's specimen_kind metadata, or without it a grid at least twice as\n"
    "long as wide. Two square-ish land scans without metadata need --kind bullet.\n"
    "Land positions come from \"Land_N\" / \"LandN\" in the file names, else name order; a land\n"
    "that cannot be read or gives no signature is reported on stderr and counted missing.\n"
    "\n"
    "Options:\n"
    "  --lands-a FILE...  lands of bullet A (until the next option)\n"
    "  --lands-b FILE...  lands of bullet B\n"
    "  --kind bullet      force bullet comparison (decided by ibex compare)\n"
    "  --json             machine-readable result with a \"verdict\" key\n"
    "  --png OUT          picture of the aligned signatures of the best phase, one pair\n"
    "                     per row: land A above land B as grey strips (striae continue\n"
    "                     across the red line when they match), score bar on the left\n"
    "  -h, --help         this help\n"
    "\n"
    "Output: land to land prints CCF, lag, overlap, distance, striae counts, the land score\n"
    "and the verdict; bullets print the land-score matrix, SAM per phase, best phase, bullet\n"
    "score (SAM at the best phase) and verdict. Scores: land score = P(same land) from the\n"
    "logistic model, 0..1; bullet score = mean land score at the best phase, 0..1. Lengths\n"
    "are micrometres, in the text and in the JSON (lag_um, distance_um, crosscut_um, ...;\n"
    "fields: docs/reference/json.md). Method: docs/reference/bullet.md.\n"
    "Exit status: 0 compared (any verdict), 1 input refused (in land to land, also a land\n"
    "that gives no signature: verdict unsuitable), 2 usage error.\n";

typedef struct land_in {
    char *path;
    int number;                 /* from the name, 0 if none */
    ibex_land_signature *sig;   /* NULL when unusable */
    char problem[600];
} land_in;

typedef struct bullet_in {
    const char *label;          /* directory or "list" */
    land_in *lands;
    size_t n;
} bullet_in;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int land_number(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *q = NULL, *p = base;
    while ((p = strstr(p, "Land")) != NULL) q = p++;
    if (!q) return 0;
    q += 4;
    while (*q == '_' || *q == '-' || *q == ' ') q++;
    return isdigit((unsigned char)*q) ? atoi(q) : 0;
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Land files of a directory: *.x3p and *.png, sorted by name. */
static int list_dir(const char *dir, char ***out, size_t *n)
{
    DIR *d = opendir(dir);
    if (!d) {
        cli_error("%s: %s", dir, strerror(errno));
        return -1;
    }
    size_t cap = 16, k = 0;
    char **v = malloc(cap * sizeof *v);
    struct dirent *e;
    while (v && (e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 5 || (strcasecmp(e->d_name + l - 4, ".x3p") && strcasecmp(e->d_name + l - 4, ".png")))
            continue;
        if (k == cap) {
            char **nv = realloc(v, (cap *= 2) * sizeof *v);
            if (!nv) break;
            v = nv;
        }
        size_t sz = strlen(dir) + l + 2;
        v[k] = malloc(sz);
        if (v[k]) snprintf(v[k++], sz, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    if (!v) return -1;
    qsort(v, k, sizeof *v, cmp_str);
    *out = v;
    *n = k;
    return 0;
}

/* Read and extract; failures are kept as unusable lands with the reason. */
static void load_land(land_in *l, const char *path)
{
    l->path = strdup(path);
    l->number = land_number(path);
    l->sig = NULL;
    l->problem[0] = 0;
    ibex_surface *s = NULL;
    ibex_diag d;
    ibex_diag_clear(&d);
    ibex_status st = ibex_surface_read(path, 0, &s, &d);
    if (st == IBEX_OK) {
        ibex_diag_clear(&d);
        st = ibex_land_signature_create(s, NULL, &l->sig, &d);
        snprintf(d.file, sizeof d.file, "%s", path);
    }
    if (st) {
        char buf[1200];
        snprintf(l->problem, sizeof l->problem, "%s", ibex_diag_format(&d, st, buf, sizeof buf));
        l->sig = NULL;
    }
    ibex_surface_free(s);
}

static void free_bullet(bullet_in *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->lands[i].path);
        ibex_land_signature_free(b->lands[i].sig);
    }
    free(b->lands);
}

static int load_bullet(bullet_in *b, const char *label, char **paths, size_t n)
{
    b->label = label;
    b->n = n;
    b->lands = calloc(n ? n : 1, sizeof *b->lands);
    if (!b->lands) return -1;
    for (size_t i = 0; i < n; i++) {
        load_land(&b->lands[i], paths[i]);
        if (!b->lands[i].sig) fprintf(stderr, "%s: warning: land unusable: %s\n", cli_prog,
                                      b->lands[i].problem);
    }
    return 0;
}

static const char *base(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static json_t *land_json(const ibex_land_result *r)
{
    return json_pack("{s:f,s:f,s:f,s:f,s:f,s:i,s:i,s:i,s:f,s:f,s:f,s:f}", "ccf", r->ccf,
                     "lag_um", r->lag_m * 1e6, "overlap", r->overlap, "distance_um",
                     r->distance * 1e6, "distance_rel", r->distance_rel, "cms", r->cms,
                     "matches", r->matches, "mismatches", r->mismatches, "matches_per_mm",
                     r->matches_per_mm, "mismatches_per_mm", r->mismatches_per_mm,
                     "match_share", r->match_share, "score", r->score);
}

static json_t *sig_json(const land_in *l)
{
    if (!l->sig) return json_pack("{s:s,s:b,s:s}", "file", l->path, "usable", 0, "problem", l->problem);
    const ibex_land_signature *g = l->sig;
    return json_pack("{s:s,s:b,s:s,s:f,s:f,s:f,s:f,s:f,s:i}", "file", l->path, "usable", 1,
                     "striae_along", g->axis == IBEX_LAND_AXIS_X ? "y" : "x", "crosscut_um",
                     g->crosscut * 1e6, "crosscut_stability", g->stability, "groove_left_um",
                     g->groove_left * 1e6, "groove_right_um", g->groove_right * 1e6,
                     "signature_um", g->n * g->spacing * 1e6, "striae", (int)g->n_striae);
}

static int emit_json(json_t *o)
{
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(o);
    if (!s) return EXIT_REFUSED;
    puts(s);
    free(s);
    return EXIT_OK;
}

/* --png: the library's pictures (ibex/picture.h): one land pair, or the pairs of the best
 * phase, titled with the given names. */
static int write_png(const char *path, const char *na, const char *nb,
                     const ibex_land_signature *a, const ibex_land_signature *b,
                     const ibex_land_result *lr, const ibex_bullet *ba, const ibex_bullet *bb,
                     const ibex_bullet_result *br)
{
    ibex_picture_opts po;
    ibex_picture_opts_init(&po);
    po.name_a = na;
    po.name_b = nb;
    ibex_image *im = NULL;
    ibex_diag d;
    ibex_diag_clear(&d);
    ibex_status st = lr ? ibex_picture_land(a, b, lr, &po, &im, NULL, &d)
                        : ibex_picture_bullet(ba, bb, br, &po, &im, NULL, &d);
    if (!st) st = ibex_image_write_png(im, path, &d);
    ibex_image_free(im);
    return st ? cli_fail_status(st, &d) : EXIT_OK;
}

/* One land against one land. */
static int land_to_land(const char *pa, const char *pb, int js, const char *png)
{
    land_in a, b;
    load_land(&a, pa);
    load_land(&b, pb);
    int rc = EXIT_OK;
    if (!a.sig || !b.sig) {
        const land_in *bad = !a.sig ? &a : &b;
        if (js) {
            rc = emit_json(json_pack("{s:s,s:s,s:s,s:s}", "kind", "bullet", "mode", "land",
                                     "verdict", "unsuitable", "reason", bad->problem));
        } else {
            printf("verdict: unsuitable (%s)\n", bad->problem);
        }
        cli_error("%s", bad->problem);
        rc = EXIT_REFUSED;
        goto out;
    }
    ibex_land_result r;
    ibex_diag d;
    ibex_status st = ibex_land_compare(a.sig, b.sig, &r, &d);
    if (st) {
        rc = cli_fail_status(st, &d);
        goto out;
    }
    ibex_bullet_verdict v = ibex_land_verdict(r.score);
    if (png && (rc = write_png(png, base(pa), base(pb), a.sig, b.sig, &r, NULL, NULL, NULL)))
        goto out;
    if (js) {
        json_t *o = json_pack("{s:s,s:s,s:o,s:o,s:o,s:f,s:s}", "kind", "bullet", "mode", "land",
                              "a", sig_json(&a), "b", sig_json(&b), "result", land_json(&r),
                              "score", r.score, "verdict", ibex_bullet_verdict_name(v));
        rc = emit_json(o);
    } else {
        printf("land A: %s\nland B: %s\n", pa, pb);
        printf("ccf %.3f at lag %.1f um, overlap %.0f%%, distance %.3f um (%.2f of the RMS)\n",
               r.ccf, r.lag_m * 1e6, r.overlap * 100, r.distance * 1e6, r.distance_rel);
        printf("striae: %d matching, %d not (share matched %.2f), longest consecutive run (CMS) "
               "%d; %.1f/mm matching\n", r.matches, r.mismatches, r.match_share, r.cms,
               r.matches_per_mm);
        printf("land score: %.3f\nverdict: %s\n", r.score, ibex_bullet_verdict_name(v));
    }
out:
    free(a.path);
    free(b.path);
    ibex_land_signature_free(a.sig);
    ibex_land_signature_free(b.sig);
    return rc;
}

/* The lands of a bullet as the library takes them (ibex/pair.h), named by file. */
static ibex_pair_land *pair_lands(const bullet_in *b)
{
    ibex_pair_land *l = calloc(b->n, sizeof *l);
    for (size_t i = 0; l && i < b->n; i++) {
        l[i].sig = b->lands[i].sig;
        l[i].number = b->lands[i].number;
        l[i].name = base(b->lands[i].path);
    }
    return l;
}

static json_t *bullet_json(const bullet_in *A, const bullet_in *B, const ibex_bullet_pair_result *p)
{
    const ibex_bullet_result *r = p->bullets;
    size_t nA = p->bullet[0].n_lands, nB = p->bullet[1].n_lands;
    json_t *o = json_object(), *m = json_array(), *ph = json_array(), *ja = json_array(),
           *jb = json_array();
    for (size_t i = 0; i < A->n; i++) json_array_append_new(ja, sig_json(&A->lands[i]));
    for (size_t i = 0; i < B->n; i++) json_array_append_new(jb, sig_json(&B->lands[i]));
    for (size_t i = 0; i < nA; i++) {
        json_t *row = json_array();
        for (size_t j = 0; j < nB; j++)
            json_array_append_new(row, r->compared[i * nB + j]
                                           ? json_real(r->pairs[i * nB + j].score)
                                           : json_null());
        json_array_append_new(m, row);
    }
    for (size_t k = 0; k < r->n_phases; k++)
        json_array_append_new(ph, isfinite(r->sam[k]) ? json_real(r->sam[k]) : json_null());
    json_object_set_new(o, "kind", json_string("bullet"));
    json_object_set_new(o, "mode", json_string(p->mode == IBEX_BULLET_PAIR_LAND_TO_BULLET
                                                   ? "land-to-bullet" : "bullet"));
    json_object_set_new(o, "a", json_pack("{s:s,s:i,s:o}", "source", A->label, "positions",
                                          (int)nA, "lands", ja));
    json_object_set_new(o, "b", json_pack("{s:s,s:i,s:o}", "source", B->label, "positions",
                                          (int)nB, "lands", jb));
    json_object_set_new(o, "matrix", m);
    json_object_set_new(o, "phase_sam", ph);
    json_object_set_new(o, "best_phase", json_integer((json_int_t)r->best_phase));
    json_object_set_new(o, "bullet_score", isfinite(r->score) ? json_real(r->score) : json_null());
    json_object_set_new(o, "lands_matching", json_integer((json_int_t)r->n_matching));
    json_object_set_new(o, "lands_compared", json_integer((json_int_t)r->n_compared));
    json_object_set_new(o, "verdict", json_string(ibex_bullet_verdict_name(p->verdict)));
    json_object_set_new(o, "reason", json_string(p->reason));
    return o;
}

static void bullet_text(const bullet_in *A, const bullet_in *B, const ibex_bullet_pair_result *p)
{
    const ibex_bullet_result *r = p->bullets;
    size_t nA = p->bullet[0].n_lands, nB = p->bullet[1].n_lands;
    printf("bullet A: %s (%zu land file(s))\nbullet B: %s (%zu land file(s))\n", A->label,
           A->n, B->label, B->n);
    printf("land scores (rows: lands of A, columns: lands of B; - = missing/unusable)\n      ");
    for (size_t j = 0; j < nB; j++) printf("  B%-4zu", j + 1);
    printf("\n");
    for (size_t i = 0; i < nA; i++) {
        printf("  A%-3zu", i + 1);
        for (size_t j = 0; j < nB; j++) {
            size_t k = i * nB + j;
            if (!r->compared[k]) printf("  %-5s", "-");
            else printf("  %.3f", r->pairs[k].score);
        }
        printf("\n");
    }
    if (p->mode == IBEX_BULLET_PAIR_BULLETS) {
        printf("phase SAM:");
        for (size_t k = 0; k < r->n_phases; k++) {
            if (isfinite(r->sam[k])) printf(" %zu:%.3f", k, r->sam[k]);
            else printf(" %zu:-", k);
        }
        printf("\nbest phase: %zu (land i of A ~ land i+%zu of B), %zu of %zu lands match\n",
               r->best_phase, r->best_phase, r->n_matching, r->n_compared);
        printf("bullet score (SAM): %.3f\n", r->score);
    } else {
        printf("best land score: %.3f\n", p->best_land_score);
    }
    printf("verdict: %s (%s)\n", ibex_bullet_verdict_name(p->verdict), p->reason);
}

/* --png: the best phase, or (one land against a bullet) the best land pair. */
static int bullet_png(const char *png, const bullet_in *A, const bullet_in *B,
                      const ibex_bullet_pair_result *p)
{
    if (p->mode == IBEX_BULLET_PAIR_LAND_TO_BULLET && p->best_land_score >= 0) {
        size_t i = p->best_i, j = p->best_j, nB = p->bullet[1].n_lands;
        const land_in *la = &A->lands[p->input[0][i]], *lb = &B->lands[p->input[1][j]];
        return write_png(png, base(la->path), base(lb->path), p->bullet[0].lands[i],
                         p->bullet[1].lands[j], &p->bullets->pairs[i * nB + j], NULL, NULL, NULL);
    }
    return write_png(png, base(A->label), base(B->label), NULL, NULL, NULL, &p->bullet[0],
                     &p->bullet[1], p->bullets);
}

/* Two bullets, or one land against a bullet: the library's comparison (ibex/pair.h). */
static int bullet_to_bullet(const bullet_in *A, const bullet_in *B, int js, const char *png)
{
    ibex_pair_land *la = pair_lands(A), *lb = pair_lands(B);
    ibex_bullet_pair_result *p = NULL;
    int rc = EXIT_OK;
    if (!la || !lb) {
        cli_error("out of memory");
        rc = EXIT_REFUSED;
        goto out;
    }
    ibex_diag d;
    ibex_status st = ibex_compare_bullets(la, A->n, lb, B->n, &p, &d);
    if (st) {
        rc = cli_fail_status(st, &d);
        goto out;
    }
    if (png && (rc = bullet_png(png, A, B, p))) goto out;
    if (js) {
        rc = emit_json(bullet_json(A, B, p));
    } else {
        bullet_text(A, B, p);
    }
out:
    ibex_bullet_pair_result_free(p);
    free(la);
    free(lb);
    return rc;
}

int compare_bullet_main(int argc, char **argv)
{
    int js = 0;
    char **ops = calloc((size_t)argc + 1, sizeof *ops), **la = calloc((size_t)argc + 1, sizeof *la),
         **lb = calloc((size_t)argc + 1, sizeof *lb);
    size_t nops = 0, nla = 0, nlb = 0;
    int list = 0, seen_a = 0, seen_b = 0, rc = EXIT_OK;
    const char *png = NULL;
    if (!ops || !la || !lb) {
        cli_error("out of memory");
        rc = EXIT_REFUSED;
        goto done;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            goto done;
        } else if (!strcmp(a, "--json")) {
            js = 1;
        } else if (!strcmp(a, "--kind") || !strcmp(a, "--png")) {
            if (i + 1 >= argc) {
                rc = cli_usage_error("%s needs a value", a);
                goto done;
            }
            if (!strcmp(a, "--png")) {
                png = argv[++i];
                continue;
            }
            if (strcmp(argv[i + 1], "bullet")) {
                rc = cli_usage_error("--kind %s: expected bullet here", argv[i + 1]);
                goto done;
            }
            i++;
        } else if (!strncmp(a, "--kind=", 7)) {
            continue;
        } else if (!strncmp(a, "--png=", 6)) {
            png = a + 6;
        } else if (!strcmp(a, "--lands-a")) {
            list = 1;
            seen_a = 1;
        } else if (!strcmp(a, "--lands-b")) {
            list = 2;
            seen_b = 1;
        } else if (a[0] == '-' && a[1]) {
            rc = cli_usage_error("unknown option %s", a);
            goto done;
        } else if (list == 1) {
            la[nla++] = argv[i];
        } else if (list == 2) {
            lb[nlb++] = argv[i];
        } else {
            ops[nops++] = argv[i];
        }
    }
    bullet_in A = {0}, B = {0};
    if (seen_a || seen_b) {
        if (!seen_a || !seen_b || nops) {
            rc = cli_usage_error("give both --lands-a FILE... and --lands-b FILE..., and no other operand");
            goto done;
        }
        if (!nla || !nlb) {
            cli_error("a bullet needs at least one land file (bullet %s has none)", nla ? "B" : "A");
            rc = EXIT_REFUSED;
            goto done;
        }
        load_bullet(&A, "list A", la, nla);
        load_bullet(&B, "list B", lb, nlb);
    } else {
        if (nops != 2) {
            rc = cli_usage_error("compare two bullets (two directories, or --lands-a FILE... "
                                 "--lands-b FILE...) or two land files; got %zu operand(s)", nops);
            goto done;
        }
        int da = is_dir(ops[0]), db = is_dir(ops[1]);
        if (!da && !db) {
            rc = land_to_land(ops[0], ops[1], js, png);
            goto done;
        }
        char **pa = NULL, **pb = NULL;
        size_t npa = 0, npb = 0;
        if (da && list_dir(ops[0], &pa, &npa)) { rc = EXIT_REFUSED; goto done; }
        if (db && list_dir(ops[1], &pb, &npb)) {
            for (size_t i = 0; i < npa; i++) free(pa[i]);
            free(pa);
            rc = EXIT_REFUSED;
            goto done;
        }
        if ((da && !npa) || (db && !npb)) {
            cli_error("%s: no land scans (.x3p) in the directory", da && !npa ? ops[0] : ops[1]);
            rc = EXIT_REFUSED;
        } else {
            load_bullet(&A, ops[0], da ? pa : &ops[0], da ? npa : 1);
            load_bullet(&B, ops[1], db ? pb : &ops[1], db ? npb : 1);
        }
        for (size_t i = 0; i < npa; i++) free(pa[i]);
        for (size_t i = 0; i < npb; i++) free(pb[i]);
        free(pa);
        free(pb);
        if (rc) goto done;
    }
    {
        if (A.n == 1 && B.n == 1) {
            free_bullet(&A);
            free_bullet(&B);
            rc = land_to_land(seen_a ? la[0] : ops[0], seen_b ? lb[0] : ops[1], js, png);
            goto done;
        }
        rc = bullet_to_bullet(&A, &B, js, png);
        free_bullet(&A);
        free_bullet(&B);
    }
done:
    free(ops);
    free(la);
    free(lb);
    return rc;
}
