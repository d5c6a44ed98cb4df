/* Bullet engine on synthetic lands with known answers:
 * - a land with sinusoidal striae (on an arc, with groove shoulders) gives a signature with
 *   the striae's wavelength and positions, whichever axis the land lies along;
 * - a signature against a shifted copy peaks at exactly that lag, and the CCF agrees with a
 *   naive O(N^2) Pearson reference at every lag;
 * - groove shoulders of both kinds on a wavy land (a wall rising above the arc; a roll-off
 *   below the arc before a wall and missing data) are found where they start;
 * - a bullet against its own lands rotated by a phase finds that phase;
 * - bad inputs (profile, all-NaN, too narrow, no agreeing crosscut, image, single land,
 *   no usable land) give errors or inconclusive/unsuitable verdicts, never NaN scores. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ibex/bullet.h"

static uint64_t rng = 12345;
static double urand(void) /* xorshift64*, uniform [0, 1) */
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (double)((rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

#define SP 1.5625e-6
#define LAMBDA 60e-6
#define PHASE 13e-6

/* Height at position x across the width (metres): arc of a 4.5 mm radius bullet, striae
 * of amplitude 0.5 um between the grooves at 250 um and width-250 um, shoulders rising
 * steeply outside them. */
static double land_height(double x, double width)
{
    double xc = width / 2, R = 4.5e-3;
    double z = -(x - xc) * (x - xc) / (2 * R);
    double gl = 250e-6, gr = width - 250e-6;
    if (x < gl) z += (gl - x) * 0.4;
    else if (x > gr) z += (x - gr) * 0.4;
    else z += 0.5e-6 * sin(2 * M_PI * (x - PHASE) / LAMBDA);
    return z;
}

static ibex_surface *synth_land(int width_along_x, size_t nw, size_t nl)
{
    ibex_surface *s;
    size_t nx = width_along_x ? nw : nl, ny = width_along_x ? nl : nw;
    if (ibex_surface_create(nx, ny, SP, SP, &s)) return NULL;
    for (size_t y = 0; y < ny; y++)
        for (size_t x = 0; x < nx; x++) {
            size_t u = width_along_x ? x : y;
            double z = land_height(u * SP, nw * SP) + 0.03e-6 * (urand() - 0.5);
            s->z[y * nx + x] = (float)z;
            s->valid[y * nx + x] = 1;
        }
    return s;
}

static void test_sinusoid(int along_x)
{
    ibex_surface *s = synth_land(along_x, 1400, 160);
    CHECK(s != NULL);
    if (!s) return;
    ibex_land_signature *g = NULL;
    ibex_diag d;
    ibex_status st = ibex_land_signature_create(s, NULL, &g, &d);
    CHECK_MSG(st == IBEX_OK, "%s", d.message);
    if (st) {
        ibex_surface_free(s);
        return;
    }
    CHECK(g->axis == (along_x ? IBEX_LAND_AXIS_X : IBEX_LAND_AXIS_Y));
    /* Grooves at 250 um and width - 250 um (1400 * 1.5625 = 2187.5 um). Shoulder remnants
     * are trimmed in 25 um windows, so the signature may start up to two windows inside:
     * within 50 um, always inside the land. */
    CHECK_NEAR(g->groove_left * 1e6, 250, 50);
    CHECK_NEAR(g->groove_right * 1e6, 1400 * SP * 1e6 - 250, 50);
    CHECK(g->groove_left >= 248e-6 && g->groove_right <= 1400 * SP - 248e-6);
    /* Wavelength: mean spacing of consecutive peaks (striae of type +1). */
    double first = -1, last = -1;
    int peaks = 0;
    double maxdev = 0;
    for (size_t k = 0; k < g->n_striae; k++) {
        if (g->striae_type[k] != 1) continue;
        double x = g->offset + g->striae_pos[k] * g->spacing;
        if (first < 0) first = x;
        last = x;
        peaks++;
        /* sin peaks where (x - PHASE)/LAMBDA = 1/4 mod 1 */
        double ph = fmod((x - PHASE) / LAMBDA - 0.25 + 10.5, 1.0) - 0.5;
        if (fabs(ph * LAMBDA) > maxdev) maxdev = fabs(ph * LAMBDA);
    }
    CHECK(peaks >= 25);
    if (peaks >= 2) CHECK_NEAR((last - first) / (peaks - 1) * 1e6, LAMBDA * 1e6, 0.5);
    /* Positions: every peak within one signature sample (2 um) of a crest of the sinusoid. */
    CHECK_MSG(maxdev <= 2.0e-6, "max peak offset %.2f um", maxdev * 1e6);
    ibex_land_signature_free(g);
    ibex_surface_free(s);
}

/* Both kinds of groove shoulder, at a coarser spacing (1.935 um) on a land that is wavy
 * (+-3 um over 400 um, more than any striae) besides its arc. Left: a wall rising above the
 * arc from 250 um. Right: the land rolls off below the arc from 1585 um (a slope of 0.2,
 * 20 um deep at 1685 um), a wall climbs 40 um to 20 um above the arc, a groove floor of
 * 100 um follows and the data stop. The threshold must follow the waviness (16 SDs of the
 * raw residual, as before, sit above the whole right shoulder and keep the groove in), and a
 * departure below the arc counts as well as one above. Tolerance: left within 60 um inside
 * its wall (trimming of remnants takes up to 50 um); right from 60 um before the roll-off's
 * start to short of its bottom (1685 um): the 50 um smoothing, pulled up by the wall, cuts
 * it part-way down (about 80 um in here), never at the wall or beyond. */
#define SPW 1.935e-6
static void test_grooves_wavy(void)
{
    const size_t nw = 1000, nl = 160;
    const double gl = 250e-6, gr = 1585e-6, w = 100e-6, R = 4.5e-3, xc = nw * SPW / 2;
    ibex_surface *s;
    CHECK(ibex_surface_create(nw, nl, SPW, SPW, &s) == IBEX_OK);
    if (!s) return;
    for (size_t y = 0; y < nl; y++)
        for (size_t u = 0; u < nw; u++) {
            double x = u * SPW, z = -(x - xc) * (x - xc) / (2 * R);
            z += 3e-6 * sin(2 * M_PI * x / 400e-6) + 0.5e-6 * sin(2 * M_PI * (x - PHASE) / LAMBDA);
            z += 0.03e-6 * (urand() - 0.5);
            int ok = 1;
            if (x < gl) z += (gl - x) * 0.4;
            else if (x > gr && x <= gr + w) z -= 0.2 * (x - gr);
            else if (x > gr + w && x <= gr + w + 40e-6) z += -20e-6 + (x - gr - w);
            else if (x > gr + w + 40e-6 && x <= gr + w + 140e-6) z += 20e-6;
            else if (x > gr + w) ok = 0;
            s->z[y * nw + u] = ok ? (float)z : NAN;
            s->valid[y * nw + u] = (uint8_t)ok;
        }
    ibex_land_signature *g = NULL;
    ibex_diag d;
    ibex_status st = ibex_land_signature_create(s, NULL, &g, &d);
    CHECK_MSG(st == IBEX_OK, "%s", d.message);
    if (!st) {
        CHECK_MSG(g->groove_left >= gl - 2e-6 && g->groove_left <= gl + 60e-6, "left %.1f um",
                  g->groove_left * 1e6);
        CHECK_MSG(g->groove_right < gr + w && g->groove_right >= gr - 60e-6, "right %.1f um",
                  g->groove_right * 1e6);
    }
    ibex_land_signature_free(g);
    ibex_surface_free(s);
}

/* Naive reference: Pearson over the overlap of filled signatures at lag L. */
static double naive_ccf(const ibex_land_signature *a, const ibex_land_signature *b, long L)
{
    double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
    long m = 0;
    for (long i = 0; i < (long)a->n; i++) {
        long j = i - L;
        if (j < 0 || j >= (long)b->n) continue;
        double x = a->valid[i] ? a->sig[i] : 0, y = b->valid[j] ? b->sig[j] : 0;
        sa += x;
        sb += y;
        saa += x * x;
        sbb += y * y;
        sab += x * y;
        m++;
    }
    double va = saa - sa * sa / m, vb = sbb - sb * sb / m;
    return (sab - sa * sb / m) / sqrt(va * vb);
}

static void test_shift(void)
{
    size_t n = 1400;
    float *p = malloc(n * sizeof *p);
    /* Random striae: white noise smoothed over ~6 um, on the signature spacing (2 um). */
    double acc = 0;
    for (size_t i = 0; i < n; i++) {
        acc = 0.6 * acc + (urand() - 0.5) * 1e-6;
        p[i] = (float)acc;
    }
    const long shift = 37;
    ibex_land_signature *a = NULL, *b = NULL;
    CHECK(ibex_land_signature_from_profile(p, 1000, 2e-6, NULL, &a, NULL) == IBEX_OK);
    CHECK(ibex_land_signature_from_profile(p + shift, 1000, 2e-6, NULL, &b, NULL) == IBEX_OK);
    if (a && b) {
        ibex_land_result r;
        CHECK(ibex_land_compare(a, b, &r, NULL) == IBEX_OK);
        CHECK_MSG(r.lag == shift, "lag %ld", r.lag);
        CHECK_NEAR(r.lag_m, shift * 2e-6, 1e-12);
        CHECK(r.ccf > 0.99);
        CHECK(r.score > 0.9);
        /* The same pair the other way round: the opposite lag. */
        ibex_land_result q;
        CHECK(ibex_land_compare(b, a, &q, NULL) == IBEX_OK);
        CHECK(q.lag == -shift);
        /* The CCF at the best lag equals the naive reference, and no lag with at least half
         * overlap beats it in the reference either. */
        CHECK_NEAR(r.ccf, naive_ccf(a, b, r.lag), 1e-4);
        double best = -2;
        long bl = 0;
        for (long L = -500; L <= 500; L++) {
            double c = naive_ccf(a, b, L);
            if (c > best) {
                best = c;
                bl = L;
            }
        }
        CHECK(bl == shift);
    }
    ibex_land_signature_free(a);
    ibex_land_signature_free(b);
    free(p);
}

static void test_bullet_phase(void)
{
    enum { NL = 6, N = 1100 };
    ibex_land_signature *A[NL] = {0}, *B[NL] = {0};
    float *p = malloc(N * sizeof *p), *q = malloc(N * sizeof *q);
    const size_t phase = 2;
    for (int k = 0; k < NL; k++) {
        double acc = 0;
        for (int i = 0; i < N; i++) {
            acc = 0.6 * acc + (urand() - 0.5) * 1e-6;
            p[i] = (float)acc;
        }
        /* Second bullet: the same land, shifted by 11 samples, with 20% independent noise. */
        for (int i = 0; i < N; i++) q[i] = p[(i + 11) % N] + (float)((urand() - 0.5) * 0.2e-6);
        CHECK(ibex_land_signature_from_profile(p, N - 100, 2e-6, NULL, &A[k], NULL) == IBEX_OK);
        CHECK(ibex_land_signature_from_profile(q, N - 100, 2e-6, NULL, &B[(k + phase) % NL], NULL) ==
              IBEX_OK);
    }
    const ibex_land_signature *la[NL], *lb[NL];
    for (int k = 0; k < NL; k++) {
        la[k] = A[k];
        lb[k] = B[k];
    }
    ibex_bullet ba = {NL, la}, bb = {NL, lb};
    ibex_bullet_result *r = NULL;
    CHECK(ibex_bullet_compare(&ba, &bb, &r, NULL) == IBEX_OK);
    /* the shipped model given explicitly: the same scores */
    ibex_land_model sh;
    ibex_land_model_shipped(&sh);
    ibex_bullet_result *r2 = NULL;
    CHECK(ibex_bullet_compare_model(&ba, &bb, &sh, &r2, NULL) == IBEX_OK);
    if (r && r2) {
        CHECK(r2->score == r->score && r2->best_phase == r->best_phase);
        for (size_t k = 0; k < (size_t)NL * NL; k++)
            CHECK(!r->compared[k] || r2->pairs[k].score == r->pairs[k].score);
    }
    ibex_bullet_result_free(r2);
    if (r) {
        CHECK(r->best_phase == phase);
        CHECK_MSG(r->verdict == IBEX_BULLET_IDENTIFICATION, "%s", r->reason);
        CHECK(r->n_matching == NL);
        CHECK(isfinite(r->score));
        ibex_bullet_result_free(r);
    }
    /* Missing lands: drop two from each bullet; the phase still holds. */
    la[1] = NULL;
    la[4] = NULL;
    lb[0] = NULL;
    r = NULL;
    CHECK(ibex_bullet_compare(&ba, &bb, &r, NULL) == IBEX_OK);
    if (r) {
        CHECK(r->best_phase == phase);
        CHECK(r->verdict == IBEX_BULLET_IDENTIFICATION);
        ibex_bullet_result_free(r);
    }
    /* A single usable land on one side: inconclusive, with finite scores. */
    const ibex_land_signature *one[1] = {A[0]};
    ibex_bullet b1 = {1, one};
    r = NULL;
    CHECK(ibex_bullet_compare(&b1, &bb, &r, NULL) == IBEX_OK);
    if (r) {
        CHECK(r->verdict == IBEX_BULLET_INCONCLUSIVE);
        CHECK(isfinite(r->score));
        ibex_bullet_result_free(r);
    }
    /* No usable land: unsuitable. */
    const ibex_land_signature *none[3] = {NULL, NULL, NULL};
    ibex_bullet b0 = {3, none};
    r = NULL;
    CHECK(ibex_bullet_compare(&b0, &bb, &r, NULL) == IBEX_OK);
    if (r) {
        CHECK(r->verdict == IBEX_BULLET_UNSUITABLE);
        ibex_bullet_result_free(r);
    }
    ibex_bullet empty = {0, none};
    CHECK(ibex_bullet_compare(&empty, &bb, &r, NULL) == IBEX_ERR_ARG);
    for (int k = 0; k < NL; k++) {
        ibex_land_signature_free(A[k]);
        ibex_land_signature_free(B[k]);
    }
    free(p);
    free(q);
}

static void test_bad(void)
{
    ibex_land_signature *g = NULL;
    ibex_diag d;
    ibex_surface *s;
    /* A profile (PRF): one row. */
    CHECK(ibex_surface_create(1400, 1, SP, SP, &s) == IBEX_OK);
    for (size_t i = 0; i < 1400; i++) {
        s->z[i] = (float)land_height(i * SP, 1400 * SP);
        s->valid[i] = 1;
    }
    CHECK(ibex_land_signature_create(s, NULL, &g, &d) == IBEX_ERR_UNSUPPORTED);
    CHECK(strstr(d.message, "profile") != NULL);
    CHECK(g == NULL);
    ibex_surface_free(s);
    /* All NaN. */
    CHECK(ibex_surface_create(800, 100, SP, SP, &s) == IBEX_OK);
    CHECK(ibex_land_signature_create(s, NULL, &g, &d) == IBEX_ERR_FORMAT);
    ibex_surface_free(s);
    /* Too narrow: 150 um across. */
    s = synth_land(1, 96, 400);
    CHECK(ibex_land_signature_create(s, NULL, &g, &d) == IBEX_ERR_UNSUPPORTED);
    CHECK(strstr(d.message, "narrower") != NULL);
    ibex_surface_free(s);
    /* No usable crosscut: independent noise at every point, rows never agree. */
    CHECK(ibex_surface_create(1400, 160, SP, SP, &s) == IBEX_OK);
    for (size_t i = 0; i < s->nx * s->ny; i++) {
        s->z[i] = (float)((urand() - 0.5) * 1e-6);
        s->valid[i] = 1;
    }
    ibex_status st = ibex_land_signature_create(s, NULL, &g, &d);
    CHECK(st == IBEX_ERR_UNSUPPORTED);
    CHECK(g == NULL);
    ibex_surface_free(s);
    /* Long and narrow (6000 rows along the striae, 400 columns = 625 um): many more
     * half-bands than columns (the lean median once overran a column-sized buffer here).
     * Either outcome is legitimate for such a scan; it must be clean (ASan build). */
    s = synth_land(1, 400, 6000);
    g = NULL;
    st = ibex_land_signature_create(s, NULL, &g, &d);
    CHECK(st == IBEX_OK || st == IBEX_ERR_UNSUPPORTED);
    if (st == IBEX_OK) CHECK(g && g->n > 0 && g->n_valid > 0);
    ibex_land_signature_free(g);
    g = NULL;
    ibex_surface_free(s);
    /* An intensity image is not a topography. */
    s = synth_land(1, 1400, 160);
    s->zkind = IBEX_Z_INTENSITY;
    CHECK(ibex_land_signature_create(s, NULL, &g, &d) == IBEX_ERR_UNSUPPORTED);
    ibex_surface_free(s);
    /* Signatures of different spacings do not compare. */
    float p[600];
    for (int i = 0; i < 600; i++) p[i] = (float)(sin(i * 0.3) * 1e-6);
    ibex_land_opts o1, o2;
    ibex_land_opts_init(&o1);
    ibex_land_opts_init(&o2);
    o2.spacing = 3e-6;
    ibex_land_signature *a = NULL, *b = NULL;
    CHECK(ibex_land_signature_from_profile(p, 600, 2e-6, &o1, &a, NULL) == IBEX_OK);
    CHECK(ibex_land_signature_from_profile(p, 600, 2e-6, &o2, &b, NULL) == IBEX_OK);
    ibex_land_result r;
    if (a && b) CHECK(ibex_land_compare(a, b, &r, &d) == IBEX_ERR_ARG);
    ibex_land_signature_free(a);
    ibex_land_signature_free(b);
    /* A flat (all-zero) profile: finite score, no NaN. */
    float z[600] = {0};
    a = b = NULL;
    if (ibex_land_signature_from_profile(z, 600, 2e-6, NULL, &a, NULL) == IBEX_OK &&
        ibex_land_signature_from_profile(z, 600, 2e-6, NULL, &b, NULL) == IBEX_OK) {
        CHECK(ibex_land_compare(a, b, &r, NULL) == IBEX_OK);
        CHECK(isfinite(r.score) && isfinite(r.ccf));
    }
    ibex_land_signature_free(a);
    ibex_land_signature_free(b);
}


/* ibex_land_model_fit against a known logistic model: pairs drawn with features in the
 * clip range and labels from P = logistic(w . z); without ridge the maximum-likelihood fit
 * recovers w (tolerance 0.15: sampling error of 20,000 pairs, about 4 standard errors). */
static void test_land_model_fit(void)
{
    enum { N = 20000 };
    const double w_true[IBEX_LAND_NFEAT + 1] = {-1.0, 1.5, 0.5, 1.0, -0.8};
    double *f = malloc(N * IBEX_LAND_NFEAT * sizeof *f);
    int *y = malloc(N * sizeof *y);
    for (int i = 0; i < N; i++) {
        double t = w_true[0];
        for (int k = 0; k < IBEX_LAND_NFEAT; k++) {
            /* uniform on [-1.7, 1.7]: unit variance, standardisation is close to identity */
            double z = (urand() * 2 - 1) * sqrt(3.0);
            f[i * IBEX_LAND_NFEAT + k] = 2.0 + 0.5 * z; /* scale and offset for standardise */
            t += w_true[k + 1] * z;
        }
        y[i] = urand() < 1 / (1 + exp(-t));
    }
    ibex_land_model m;
    ibex_diag d;
    CHECK_MSG(ibex_land_model_fit(f, y, N, 0.0, &m, &d) == IBEX_OK, "%s", d.message);
    for (int k = 0; k < IBEX_LAND_NFEAT; k++) {
        CHECK_NEAR(m.mean[k], 2.0, 0.02);
        CHECK_NEAR(m.sdev[k], 0.5, 0.02);
    }
    /* coefficients are per standardised feature: the sample SD differs from 0.5 by a little */
    for (int k = 0; k <= IBEX_LAND_NFEAT; k++) CHECK_NEAR(m.coef[k], w_true[k], 0.15);
    /* apply: the model's own probability of a point */
    double x[IBEX_LAND_NFEAT] = {2.0, 2.0, 2.0, 2.0}, t = m.coef[0];
    for (int k = 0; k < IBEX_LAND_NFEAT; k++) t += m.coef[k + 1] * (2.0 - m.mean[k]) / m.sdev[k];
    CHECK_NEAR(ibex_land_model_apply(&m, x), 1 / (1 + exp(-t)), 1e-12);
    /* the shipped model through the struct is ibex_land_model_score */
    ibex_land_model sh;
    ibex_land_model_shipped(&sh);
    double g[IBEX_LAND_NFEAT] = {0.6, 5, 0.5, 0.9};
    CHECK(ibex_land_model_apply(&sh, g) == ibex_land_model_score(g));
    /* refusals: one class only, a non-finite feature */
    for (int i = 0; i < 10; i++) y[i] = 1;
    CHECK(ibex_land_model_fit(f, y, 10, 1.0, &m, &d) == IBEX_ERR_ARG);
    y[0] = 0;
    f[3] = NAN;
    CHECK(ibex_land_model_fit(f, y, 10, 1.0, &m, &d) == IBEX_ERR_ARG);
    CHECK(ibex_land_model_fit(f, y, 10, -1.0, &m, &d) == IBEX_ERR_ARG);
    free(f);
    free(y);
}

int main(void)
{
    test_land_model_fit();
    test_sinusoid(1);
    test_sinusoid(0);
    test_grooves_wavy();
    test_shift();
    test_bullet_phase();
    test_bad();
    return check_exit();
}
