/* ibex_compare_cartridges and ibex_compare_bullets (ibex/pair.h) give, bit for bit, what
 * running their steps by hand gives: on synthetic casings (plain and pre-registered CMC,
 * with the shipped calibration's LR) and on synthetic bullets (land positions from land
 * numbers given out of order, from the order given, and one land against a bullet); bad
 * options and inputs are refused, and the input at fault is named "A" or "B". */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "ibex/ibex.h"

#define SIZE 128

static int same(const void *a, const void *b, size_t n)
{
    return memcmp(a, b, n) == 0;
}
#define SAME(x, y) CHECK(same(&(x), &(y), sizeof(x)))

static ibex_surface *casing(uint64_t firearm, uint64_t shot)
{
    ibex_synth_opts o;
    ibex_synth_opts_init(&o);
    o.size = SIZE;
    o.family_seed = 99;
    ibex_surface *s = NULL;
    ibex_diag d;
    CHECK_MSG(ibex_synth_cartridge(firearm, shot, &o, &s, NULL, &d) == IBEX_OK, "%s", d.message);
    return s;
}

static void same_surface(const ibex_surface *a, const ibex_surface *b)
{
    CHECK(a->nx == b->nx && a->ny == b->ny);
    if (a->nx != b->nx || a->ny != b->ny) return;
    size_t n = a->nx * a->ny;
    SAME(a->dx, b->dx);
    SAME(a->dy, b->dy);
    CHECK(same(a->z, b->z, n * sizeof *a->z));
    CHECK(same(a->valid, b->valid, n * sizeof *a->valid));
}

static void same_info(const ibex_preprocess_info *a, const ibex_preprocess_info *b)
{
    CHECK(a->already_processed == b->already_processed && a->cropped == b->cropped &&
          a->band_limited == b->band_limited && a->outliers == b->outliers);
    SAME(a->spacing_out, b->spacing_out);
    SAME(a->plane, b->plane);
    SAME(a->valid_fraction, b->valid_fraction);
    CHECK(!strcmp(a->steps, b->steps));
}

static void same_cmc(const ibex_cmc_result *a, const ibex_cmc_result *b)
{
    for (int k = 0; k < 2; k++) {
        const ibex_cmc_direction *x = &a->dir[k], *y = &b->dir[k];
        CHECK(x->cells_used == y->cells_used && x->cmc == y->cmc && x->cmc_high == y->cmc_high &&
              x->high_pass == y->high_pass);
        SAME(x->theta, y->theta);
        SAME(x->dx, y->dx);
        SAME(x->dy, y->dy);
        SAME(x->high_theta, y->high_theta);
        SAME(x->score, y->score);
    }
    CHECK(a->cmc == b->cmc && a->cmc_high == b->cmc_high && a->verdict == b->verdict);
    SAME(a->score, b->score);
    SAME(a->theta, b->theta);
    SAME(a->dx, b->dx);
    SAME(a->dy, b->dy);
    SAME(a->full_ccf, b->full_ccf);
    SAME(a->spacing, b->spacing);
    CHECK(a->n_cells == b->n_cells);
    for (size_t i = 0; i < a->n_cells && a->n_cells == b->n_cells; i++) {
        const ibex_cmc_cell *x = &a->cells[i], *y = &b->cells[i];
        CHECK(x->direction == y->direction && x->row == y->row && x->col == y->col &&
              x->x == y->x && x->y == y->y && x->w == y->w && x->h == y->h &&
              x->used == y->used && x->cmc == y->cmc && x->cmc_high == y->cmc_high);
        SAME(x->valid_frac, y->valid_frac);
        SAME(x->ccf, y->ccf);
        SAME(x->theta, y->theta);
        SAME(x->dx, y->dx);
        SAME(x->dy, y->dy);
        SAME(x->high_ccf, y->high_ccf);
    }
}

/* The steps of `ibex compare A B`, by hand, against the one call. */
static void cartridge_pair(uint64_t fa, uint64_t sa, uint64_t fb, uint64_t sb, int prealign)
{
    ibex_surface *ra = casing(fa, sa), *rb = casing(fb, sb);
    if (!ra || !rb) return;
    ibex_preprocess_opts po;
    ibex_preprocess_opts_init(&po);
    po.spacing = 0; /* the generator's spacing: small grids keep the test fast */
    ibex_cmc_opts co;
    ibex_cmc_opts_init(&co);
    co.threads = 1;
    ibex_pair_opts o;
    ibex_pair_opts_init(&o);
    o.preprocess = &po;
    o.cmc = &co;
    o.prealign = prealign;
    ibex_pair_result *p = NULL;
    ibex_diag d;
    CHECK_MSG(ibex_compare_cartridges(ra, rb, &o, &p, &d) == IBEX_OK, "%s", d.message);

    ibex_preprocess_opts hp = po;
    hp.spacing = ibex_preprocess_pair_spacing(ra, rb, &po);
    ibex_surface *a = NULL, *b = NULL;
    ibex_preprocess_info ia, ib;
    CHECK(ibex_preprocess(ra, &hp, &a, &ia, &d) == IBEX_OK);
    CHECK(ibex_preprocess(rb, &hp, &b, &ib, &d) == IBEX_OK);
    ibex_cmc_plan *plan = NULL;
    CHECK(ibex_cmc_plan_create(&co, &plan, &d) == IBEX_OK);
    ibex_cmc_result *r = NULL;
    ibex_prealign_result pre;
    CHECK((prealign ? ibex_cmc_plan_run_prealigned(plan, a, b, NULL, &r, &pre, &d)
                    : ibex_cmc_plan_run(plan, a, b, &r, &d)) == IBEX_OK);
    if (p && a && b && r) {
        SAME(p->spacing, hp.spacing);
        same_surface(p->prepared[0], a);
        same_surface(p->prepared[1], b);
        same_info(p->info[0], &ia);
        same_info(p->info[1], &ib);
        same_cmc(p->cmc, r);
        CHECK(!strcmp(p->simd, ibex_cmc_plan_simd(plan)));
        CHECK((p->prealign != NULL) == (prealign != 0));
        if (p->prealign) {
            CHECK(p->prealign->found == pre.found);
            SAME(p->prealign->theta_found, pre.theta_found);
            SAME(p->prealign->theta, pre.theta);
            SAME(p->prealign->ncc, pre.ncc);
            SAME(p->prealign->overlap, pre.overlap);
        }
        const ibex_calibration *cal = ibex_calibration_shipped_cmc(&co, prealign);
        CHECK(p->calibration == cal);
        CHECK(prealign ? cal == NULL : cal != NULL); /* the defaults are the fitted method */
        if (cal) {
            double l = ibex_calibration_log10_lr(cal, r->cmc);
            SAME(p->log10_lr, l);
            CHECK(!strcmp(p->lr_verbal, ibex_lr_verbal(l)));
        } else {
            CHECK(isnan(p->log10_lr) && p->lr_verbal == NULL);
        }
        CHECK(p->t_preprocess >= 0 && p->t_compare >= 0);
    }
    ibex_cmc_result_free(r);
    ibex_cmc_plan_free(plan);
    ibex_surface_free(a);
    ibex_surface_free(b);
    ibex_pair_result_free(p);
    ibex_surface_free(ra);
    ibex_surface_free(rb);
}

static void cartridge_refusals(void)
{
    ibex_surface *ra = casing(1, 1), *rb = casing(1, 2);
    if (!ra || !rb) return;
    ibex_pair_result *p = NULL;
    ibex_diag d;
    ibex_pair_opts o;
    memset(&o, 0, sizeof o); /* never set up by ibex_pair_opts_init */
    CHECK(ibex_compare_cartridges(ra, rb, &o, &p, &d) == IBEX_ERR_ARG && !p);
    ibex_pair_opts_init(&o);
    ibex_cmc_opts co;
    memset(&co, 0, sizeof co);
    o.cmc = &co;
    CHECK(ibex_compare_cartridges(ra, rb, &o, &p, &d) == IBEX_ERR_ARG && !p);
    CHECK(ibex_compare_cartridges(ra, NULL, NULL, &p, &d) == IBEX_ERR_ARG && !p);
    rb->zkind = !ra->zkind;
    CHECK(ibex_compare_cartridges(ra, rb, NULL, &p, &d) == IBEX_ERR_ARG && !p);
    rb->zkind = ra->zkind;
    /* b's spacing is unusable: a is prepared, then b is refused and named */
    rb->dx = rb->dy = -1;
    CHECK(ibex_compare_cartridges(ra, rb, NULL, &p, &d) == IBEX_ERR_ARG && !p);
    CHECK_MSG(!strcmp(d.file, "B"), "file '%s'", d.file);
    ibex_pair_result_free(NULL);
    ibex_surface_free(ra);
    ibex_surface_free(rb);
}

/* ---- bullets ---------------------------------------------------------------------- */

#define LANDS 6

static ibex_land_signature *land(uint64_t bullet, int l)
{
    ibex_synth_opts o;
    ibex_synth_opts_init(&o);
    o.size = 100;
    ibex_surface *s = NULL;
    ibex_land_signature *g = NULL;
    ibex_diag d;
    CHECK(ibex_synth_land(11, bullet, l, &o, &s, NULL, &d) == IBEX_OK);
    if (s) CHECK_MSG(ibex_land_signature_create(s, NULL, &g, &d) == IBEX_OK, "%s", d.message);
    ibex_surface_free(s);
    return g;
}

static void same_bullet(const ibex_bullet_result *x, const ibex_bullet_result *y)
{
    CHECK(x->na == y->na && x->nb == y->nb && x->n_phases == y->n_phases);
    if (x->na != y->na || x->nb != y->nb || x->n_phases != y->n_phases) return;
    size_t n = x->na * x->nb;
    CHECK(same(x->compared, y->compared, n));
    for (size_t k = 0; k < n; k++) {
        SAME(x->pairs[k].score, y->pairs[k].score);
        SAME(x->pairs[k].ccf, y->pairs[k].ccf);
        CHECK(x->pairs[k].lag == y->pairs[k].lag && x->pairs[k].cms == y->pairs[k].cms);
    }
    CHECK(same(x->sam, y->sam, x->n_phases * sizeof *x->sam));
    CHECK(x->best_phase == y->best_phase && x->n_compared == y->n_compared &&
          x->n_matching == y->n_matching && x->verdict == y->verdict);
    SAME(x->score, y->score);
    CHECK(!strcmp(x->reason, y->reason));
}

static void bullets(void)
{
    ibex_land_signature *a[LANDS], *b[LANDS];
    for (int l = 0; l < LANDS; l++) {
        a[l] = land(1, l);
        b[l] = land(2, l);
    }
    /* Given in reverse order with their numbers: placed by number. Land 3 of b missing. */
    ibex_pair_land pa[LANDS], pb[LANDS - 1];
    for (int i = 0; i < LANDS; i++) pa[i] = (ibex_pair_land){a[LANDS - 1 - i], LANDS - i, NULL};
    for (int i = 0, k = 0; i < LANDS; i++)
        if (i != 2) pb[k++] = (ibex_pair_land){b[i], i + 1, NULL};
    ibex_bullet_pair_result *p = NULL;
    ibex_diag d;
    CHECK_MSG(ibex_compare_bullets(pa, LANDS, pb, LANDS - 1, &p, &d) == IBEX_OK, "%s", d.message);
    const ibex_land_signature *ha[LANDS], *hb[LANDS] = {b[0], b[1], NULL, b[3], b[4], b[5]};
    for (int i = 0; i < LANDS; i++) ha[i] = a[i];
    ibex_bullet ba = {LANDS, ha}, bb = {LANDS, hb};
    ibex_bullet_result *r = NULL;
    CHECK(ibex_bullet_compare(&ba, &bb, &r, &d) == IBEX_OK);
    if (p && r) {
        CHECK(p->mode == IBEX_BULLET_PAIR_BULLETS);
        CHECK(p->bullet[0].n_lands == LANDS && p->bullet[1].n_lands == LANDS);
        for (int i = 0; i < LANDS; i++) {
            CHECK(p->bullet[0].lands[i] == a[i] && p->bullet[1].lands[i] == hb[i]);
            CHECK(p->input[0][i] == LANDS - 1 - i);
        }
        CHECK(p->input[1][2] == -1 && p->input[1][3] == 2);
        same_bullet(p->bullets, r);
        CHECK(p->verdict == r->verdict && !strcmp(p->reason, r->reason));
    }
    ibex_bullet_pair_result_free(p);
    ibex_bullet_result_free(r);

    /* Numbers that repeat: the order given. */
    ibex_pair_land qa[3] = {{a[4], 2, NULL}, {a[0], 2, NULL}, {a[1], 0, NULL}};
    ibex_pair_land qb[3] = {{b[4], 0, NULL}, {b[0], 0, NULL}, {b[1], 0, NULL}};
    CHECK(ibex_compare_bullets(qa, 3, qb, 3, &p, &d) == IBEX_OK);
    const ibex_land_signature *oa[3] = {a[4], a[0], a[1]}, *ob[3] = {b[4], b[0], b[1]};
    ibex_bullet bo = {3, oa}, bp = {3, ob};
    CHECK(ibex_bullet_compare(&bo, &bp, &r, &d) == IBEX_OK);
    if (p && r) same_bullet(p->bullets, r);
    ibex_bullet_pair_result_free(p);
    ibex_bullet_result_free(r);

    /* One land against a bullet: the best land pair decides, named in the reason. */
    ibex_pair_land one = {b[0], 1, "B-L1"};
    for (int i = 0; i < LANDS; i++) pa[i].name = i == 0 ? "A-L6" : NULL;
    CHECK(ibex_compare_bullets(&one, 1, pa, LANDS, &p, &d) == IBEX_OK);
    const ibex_land_signature *h1[1] = {b[0]};
    ibex_bullet b1 = {1, h1};
    CHECK(ibex_bullet_compare(&b1, &ba, &r, &d) == IBEX_OK);
    if (p && r) {
        CHECK(p->mode == IBEX_BULLET_PAIR_LAND_TO_BULLET);
        CHECK(p->bullet[0].n_lands == 1 && p->bullet[1].n_lands == LANDS);
        same_bullet(p->bullets, r);
        double best = -1;
        size_t bj = 0;
        for (size_t j = 0; j < LANDS; j++)
            if (r->compared[j] && r->pairs[j].score > best) best = r->pairs[bj = j].score;
        SAME(p->best_land_score, best);
        CHECK(p->best_i == 0 && p->best_j == bj);
        CHECK(p->verdict == ibex_land_verdict(best));
        char want[200];
        snprintf(want, sizeof want, "best land pair B-L1 ~ %s, land score %.3f",
                 bj == LANDS - 1 ? "A-L6" : "?", best);
        CHECK_MSG(!strcmp(p->reason, want), "'%s' vs '%s'", p->reason, want);
    }
    ibex_bullet_pair_result_free(p);
    ibex_bullet_result_free(r);

    /* No usable land pair: unsuitable. */
    ibex_pair_land none = {NULL, 1, NULL};
    CHECK(ibex_compare_bullets(&none, 1, pa, LANDS, &p, &d) == IBEX_OK);
    if (p) CHECK(p->verdict == IBEX_BULLET_UNSUITABLE && p->best_land_score < 0 &&
                 !strcmp(p->reason, "no usable land pair"));
    ibex_bullet_pair_result_free(p);
    p = NULL;
    CHECK(ibex_compare_bullets(pa, 0, pb, 1, &p, &d) == IBEX_ERR_ARG && !p);
    CHECK(ibex_land_verdict(IBEX_LAND_ID) == IBEX_BULLET_IDENTIFICATION);
    CHECK(ibex_land_verdict(IBEX_LAND_ELIM) == IBEX_BULLET_ELIMINATION);
    CHECK(ibex_land_verdict(0.5) == IBEX_BULLET_INCONCLUSIVE);
    for (int l = 0; l < LANDS; l++) {
        ibex_land_signature_free(a[l]);
        ibex_land_signature_free(b[l]);
    }
}

/* ibex_land_name_parse: the land number and the bullet of a land scan's name. */
static void land_names(void)
{
    static const struct { const char *name, *bullet; int land; } t[] = {
        {"data/Barrel_1-Bullet_1-Land_3.x3p", "Barrel_1-Bullet_1", 3},
        {"Barrel_1-Bullet_2-Land_5.X3P", "Barrel_1-Bullet_2", 5},
        {"hamby44:Bullet 1 Land 6", "hamby44:Bullet 1", 6},
        {"Hamby252_Barrel1_Bullet1_Land12.x3p", "Hamby252_Barrel1_Bullet1", 12},
        {"HFSCP-BA-B30-L4.x3p", "HFSCP-BA-B30", 4},
        {"Br1-B2-L6", "Br1-B2", 6},
        {"B01-Bullet_01-Land2_scan.x3p", "B01-Bullet_01_scan", 2},
        {"Land_2-Bullet_X.x3p", "Bullet_X", 2},
        {"casing.x3p", "casing", 0},
        {"Landmark.x3p", "Landmark", 0},
        {"", "", 0},
    };
    char b[64];
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int n = ibex_land_name_parse(t[i].name, b, sizeof b);
        CHECK_MSG(n == t[i].land && !strcmp(b, t[i].bullet), "%s: land %d, bullet '%s'", t[i].name, n, b);
    }
    CHECK(ibex_land_name_parse(NULL, NULL, 0) == 0);
    char small[4];
    CHECK(ibex_land_name_parse("Barrel_1-Bullet_1-Land_3", small, sizeof small) == 3 && !strcmp(small, "Bar"));
}

int main(void)
{
    land_names();
    cartridge_pair(1, 1, 1, 2, 0); /* same firearm */
    cartridge_pair(1, 1, 2, 1, 0); /* different firearms */
    cartridge_pair(1, 1, 1, 3, 1); /* pre-registered */
    cartridge_refusals();
    bullets();
    return check_exit();
}
