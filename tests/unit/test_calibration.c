/* Calibrated LRs against analytic references: Cllr of the neutral system is 1 and of a
 * perfect one 0; Cllr_min of a hand-worked PAV case; the logistic calibration of two unit
 * Gaussians 2 apart recovers ln LR = 2 s; ELUB bounds of a separated set equal the
 * closed-form limits the misleading pair imposes; the shipped calibration is monotone and
 * bounded; the ENFSI words. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ibex/calibration.h"
#include "ibex/compare.h"

/* Deterministic standard normal draws (Box-Muller on a 64-bit LCG). */
static uint64_t rng = 12345;
static double unif(void)
{
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return ((rng >> 11) + 0.5) / 9007199254740992.0;
}
static double gauss(void) { return sqrt(-2 * log(unif())) * cos(2 * M_PI * unif()); }

int main(void)
{
    /* neutral and perfect systems */
    double l[4] = {0, 0, 0, 0};
    int y[4] = {1, 1, 0, 0};
    CHECK_NEAR(ibex_cllr(l, y, 4), 1.0, 1e-12);
    double p[4] = {INFINITY, INFINITY, -INFINITY, -INFINITY};
    CHECK_NEAR(ibex_cllr(p, y, 4), 0.0, 1e-12);
    CHECK_NEAR(ibex_cllr_min(p, y, 4), 0.0, 1e-12);

    /* PAV by hand: LRs 0 (non), 1 (same), 1.5 (non), 2 (same) pool the middle two to 1/2:
     * optimal LRs 0, 1, 1, inf, so Cllr_min = 0.5 (1/2 + 1/2) = 0.5. */
    double h[4] = {0, 1, 1.5, 2};
    int hy[4] = {0, 1, 0, 1};
    CHECK_NEAR(ibex_cllr_min(h, hy, 4), 0.5, 1e-12);
    CHECK(ibex_cllr_min(h, hy, 4) <= ibex_cllr(h, hy, 4));

    /* Gaussians N(+1, 1) and N(-1, 1): ln LR(s) = 2 s exactly. */
    size_t n = 40000;
    double *s = malloc(n * sizeof *s);
    int *lab = malloc(n * sizeof *lab);
    for (size_t i = 0; i < n; i++) {
        lab[i] = i % 4 == 0; /* 1 in 4 same-source: the fit must not depend on class sizes */
        s[i] = (lab[i] ? 1 : -1) + gauss();
    }
    ibex_calibration c;
    ibex_diag d;
    CHECK(ibex_calibration_fit(s, lab, n, "test", "s", &c, &d) == IBEX_OK);
    fprintf(stderr, "gauss fit: ln LR = %.4f + %.4f s, log10 bounds [%.2f, %.2f]\n", c.a, c.b,
            c.log10_lo, c.log10_hi);
    CHECK_NEAR(c.b, 2.0, 0.05);
    CHECK_NEAR(c.a, 0.0, 0.05);
    CHECK(c.n_match == n / 4 && c.n_nonmatch == n - n / 4);
    CHECK(!strcmp(c.id, "test") && !strcmp(c.score, "s"));
    double *ll = malloc(n * sizeof *ll);
    for (size_t i = 0; i < n; i++) ll[i] = ibex_calibration_log10_lr(&c, s[i]);
    double cl = ibex_cllr(ll, lab, n), cm = ibex_cllr_min(ll, lab, n);
    fprintf(stderr, "gauss: Cllr %.4f, Cllr_min %.4f\n", cl, cm);
    CHECK(cm <= cl && cl - cm < 0.01); /* well calibrated: little calibration loss */
    CHECK(cl < 0.7);
    CHECK(ibex_calibration_log10_lr(&c, 1e9) == c.log10_hi);
    CHECK(ibex_calibration_log10_lr(&c, -1e9) == c.log10_lo);
    CHECK(isnan(ibex_calibration_log10_lr(&c, NAN)));

    /* ELUB of a separated set, 63 same / 717 different (Fadul's sizes), |log10 LR| = 10:
     * upper: 1/64 + 10^t / 718 < 1 -> t < log10(718 * 63 / 64) = 2.849; lower:
     * 1/718 + 10^-t / 64 < 1 -> t > -log10(64 * 717 / 718) = -1.806 (0.01 grid). */
    size_t m = 780;
    double *e = malloc(m * sizeof *e);
    int *ey = malloc(m * sizeof *ey);
    for (size_t i = 0; i < m; i++) {
        ey[i] = i < 63;
        e[i] = ey[i] ? 10 : -10;
    }
    double lo, hi;
    ibex_elub(e, ey, m, &lo, &hi);
    fprintf(stderr, "elub separated: [%.2f, %.2f]\n", lo, hi);
    CHECK_NEAR(hi, 2.84, 0.005 + 1e-9);
    CHECK_NEAR(lo, -1.80, 0.005 + 1e-9);
    /* uninformative LRs support nothing */
    for (size_t i = 0; i < m; i++) e[i] = 0;
    ibex_elub(e, ey, m, &lo, &hi);
    CHECK(lo == 0 && hi == 0);

    /* bad input */
    CHECK(ibex_calibration_fit(s, lab, 1, NULL, NULL, &c, &d) == IBEX_ERR_ARG);
    int none[4] = {0, 0, 0, 0};
    CHECK(ibex_calibration_fit(h, none, 4, NULL, NULL, &c, &d) == IBEX_ERR_ARG);
    double bad[4] = {0, NAN, 1, 2};
    CHECK(ibex_calibration_fit(bad, hy, 4, NULL, NULL, &c, &d) == IBEX_ERR_ARG);

    /* ENFSI words */
    CHECK(!strcmp(ibex_lr_verbal(0.1), "no support either way"));
    CHECK(!strcmp(ibex_lr_verbal(2.5), "moderately strong support for same source"));
    CHECK(!strcmp(ibex_lr_verbal(-1.5), "moderate support for different sources"));
    CHECK(!strcmp(ibex_lr_verbal(7), "extremely strong support for same source"));

    /* shipped cartridge calibration: increasing in the CMC count, inside its bounds */
    const ibex_calibration *sc = ibex_calibration_shipped("cartridge");
    CHECK(sc != NULL);
    if (sc) {
        CHECK(sc->b > 0 && sc->log10_lo < 0 && sc->log10_hi > 0);
        double prev = -INFINITY;
        for (int k = 0; k <= 40; k++) {
            double v = ibex_calibration_log10_lr(sc, k);
            CHECK(v >= prev && v >= sc->log10_lo && v <= sc->log10_hi);
            prev = v;
        }
    }
    CHECK(ibex_calibration_shipped("no such kind") == NULL);
    /* it applies to the default CMC method only */
    ibex_cmc_opts co;
    ibex_cmc_opts_init(&co);
    CHECK(ibex_calibration_shipped_cmc(NULL, 0) == sc && ibex_calibration_shipped_cmc(&co, 0) == sc);
    co.threads = 1; /* results do not depend on it */
    CHECK(ibex_calibration_shipped_cmc(&co, 0) == sc);
    CHECK(ibex_calibration_shipped_cmc(&co, 1) == NULL);
    co.cells_x = co.cells_y = 6;
    CHECK(ibex_calibration_shipped_cmc(&co, 0) == NULL);

    /* text round trip (as stored with a library) and refused texts */
    char txt[512];
    CHECK(ibex_calibration_format(&c, txt, sizeof txt) > 0);
    ibex_calibration back;
    CHECK(ibex_calibration_parse(txt, &back, &d) == IBEX_OK);
    CHECK(!strcmp(back.id, c.id) && !strcmp(back.score, c.score) && back.a == c.a &&
          back.b == c.b && back.log10_lo == c.log10_lo && back.log10_hi == c.log10_hi &&
          back.n_match == c.n_match && back.n_nonmatch == c.n_nonmatch);
    CHECK(ibex_calibration_format(&c, txt, 10) == 0);
    const char *bad_txt[] = {"", "id=x;score=cmc;a=1;b=1;log10_lo=-1;log10_hi=1;n_match=3",
                             "id=x;score=cmc;a=1;b=nan;log10_lo=-1;log10_hi=1;n_match=3;n_nonmatch=4",
                             "id=x;score=cmc;a=1;b=2;log10_lo=1;log10_hi=2;n_match=3;n_nonmatch=4",
                             "id=x;score=cmc;a=1x;b=2;log10_lo=-1;log10_hi=2;n_match=3;n_nonmatch=4",
                             "id=x;score=cmc;a=1;b=2;log10_lo=-1;log10_hi=2;n_match=-3;n_nonmatch=4"};
    for (size_t k = 0; k < sizeof bad_txt / sizeof *bad_txt; k++)
        CHECK_MSG(ibex_calibration_parse(bad_txt[k], &back, &d) == IBEX_ERR_FORMAT, "%s", bad_txt[k]);
    free(s);
    free(lab);
    free(ll);
    free(e);
    free(ey);
    return check_exit();
}
