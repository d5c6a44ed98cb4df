/* Synthetic bullet land-engraved areas.
 *
 * A barrel has `lands` lands; each land engraves a striation profile across its width
 * (individual striae plus a little shared by all lands of the barrel and by its family of
 * consecutively rifled barrels). A land scan (x across the land, y along the bullet, striae
 * along y as in the Hamby 44 scans) shows: the bullet's curvature, groove shoulders rising
 * at both sides, the land's striae shifted sideways and slightly slanted, transferred
 * unevenly along y, over ammunition-specific striae, roughness, noise and missing data.
 * Each bullet starts its own land numbering at a random barrel land. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibex/synth.h"
#include "ibex_internal.h"
#include "synth_internal.h"

#define TWO_PI 6.283185307179586
#define LENGTH_DEFAULT 0.625e-3 /* 400 rows at 1.5625 um, as the Hamby 44 scans */
#define ROWS_DEFAULT 400
#define MARGIN 0.2e-3           /* scan extends this far beyond each land edge */

struct ibex_synth_barrel {
    ibex_synth_opts o;
    uint64_t seed;
    int lands;
    size_t rows, cols;
    double h;
    double land_w;     /* land width (m) */
    double depth;      /* groove depth: shoulder height (m) */
    double shoulder;   /* shoulder width (m) */
    double radius;     /* bullet radius (m) */
    double rms;        /* rms of the striae (m) */
    size_t np;         /* profile samples */
    double ph, ext;    /* profile spacing; profile covers [-ext, ext] */
    float *prof;       /* lands * np striae profiles, unit rms */
};

int ibex_synth_barrel_get_lands(const ibex_synth_barrel *b) { return b->lands; }

/* Striae profile: fine random texture plus sparse sharp striae, unit rms. */
static int striae(uint64_t key, size_t n, double ph, double h, float *p)
{
    ibex__draw d = ibex__draw_make(ibex__key(key, 1));
    ibex__spectrum sp = {ibex__draw_unif(&d, 3e-6, 15e-6), 0, 0, ibex__draw_unif(&d, 0.3, 0.9),
                         fmax(1.5 * h, 2e-6)};
    if (ibex__field(ibex__key(key, 2), n, 1, ph, &sp, p)) return -1;
    for (size_t i = 0; i < n; i++) p[i] *= 0.6f;
    ibex__add_lines(&d, p, n, ph, ibex__draw_unif(&d, 30e3, 70e3), fmax(1e-6, 0.5 * h),
                    fmax(4e-6, 1.2 * h), 0.3);
    ibex__normalise(p, n);
    return 0;
}

ibex_status ibex_synth_barrel_create(uint64_t seed, const ibex_synth_opts *o,
                                     ibex_synth_barrel **out, ibex_diag *diag)
{
    ibex_synth_opts def;
    ibex_synth_opts_init(&def);
    if (!ibex__opts_merge(&def, sizeof def, o)) return ibex__opts_refused(diag, "ibex_synth_opts");
    o = &def;
    if (!out) return ibex__fail(diag, IBEX_ERR_ARG, NULL, -1, "no output pointer");
    if (o->lands < 3 || o->lands > 16)
        return ibex__fail(diag, IBEX_ERR_ARG, NULL, -1, "lands %d outside 3..16", o->lands);
    ibex_status bad = ibex__synth_check_opts(o, 1e-4, diag);
    if (bad) return bad;
    ibex_synth_barrel *b = calloc(1, sizeof *b);
    if (!b) return ibex__fail(diag, IBEX_ERR_NOMEM, NULL, -1, "out of memory");
    b->o = *o;
    b->seed = seed;
    b->lands = o->lands;
    b->rows = o->size ? o->size : ROWS_DEFAULT;
    b->h = o->spacing > 0 ? o->spacing : LENGTH_DEFAULT / (double)b->rows;
    ibex__draw d = ibex__draw_make(ibex__key(seed, 0xB1));
    b->land_w = ibex__draw_unif(&d, 1.85e-3, 2.1e-3);
    b->depth = ibex__draw_unif(&d, 60e-6, 110e-6);
    b->shoulder = ibex__draw_unif(&d, 12e-6, 30e-6);
    b->radius = ibex__draw_unif(&d, 4.4e-3, 4.6e-3);
    b->rms = ibex__draw_unif(&d, 0.4e-6, 1.0e-6);
    b->cols = (size_t)ceil((b->land_w + 2 * MARGIN) / b->h);
    if (b->cols > 65536 || b->cols < 8) {
        double hh = b->h;
        size_t cols = b->cols;
        free(b);
        return ibex__fail(diag, IBEX_ERR_LIMIT, NULL, -1, "spacing %g m gives %zu columns", hh,
                          cols);
    }
    b->ph = fmin(0.5 * b->h, 1e-6);
    double len = (double)b->rows * b->h;
    b->ext = 0.5 * b->land_w + MARGIN + 0.1 * b->land_w + 0.02 * len;
    b->np = (size_t)(2 * b->ext / b->ph) + 2;
    size_t np = b->np, L = (size_t)b->lands;
    b->prof = malloc(L * np * sizeof *b->prof);
    float *common = malloc(np * sizeof *common), *fam = malloc(np * sizeof *fam);
    ibex_status st = IBEX_OK;
    if (!b->prof || !common || !fam) st = IBEX_ERR_NOMEM;
    if (!st && (striae(ibex__key(seed, 0xB2), np, b->ph, b->h, common) ||
                striae(ibex__key(o->family_seed, 0xBF), np, b->ph, b->h, fam)))
        st = IBEX_ERR_NOMEM;
    /* Shares: barrel-wide marks (same broach or button) and family subclass marks. */
    double sc = 0.15, sf = 0.1 + 0.3 * o->difficulty;
    double si = sqrt(fmax(0.0, 1 - sc * sc - sf * sf));
    for (size_t l = 0; !st && l < L; l++) {
        float *p = b->prof + l * np;
        if (striae(ibex__key(seed, 0xB300 + l), np, b->ph, b->h, p)) {
            st = IBEX_ERR_NOMEM;
            break;
        }
        for (size_t i = 0; i < np; i++)
            p[i] = (float)(si * p[i] + sc * common[i] + sf * fam[i]);
    }
    free(common);
    free(fam);
    if (st) {
        ibex_synth_barrel_free(b);
        return ibex__fail(diag, st, NULL, -1, "out of memory making a barrel");
    }
    *out = b;
    return IBEX_OK;
}

void ibex_synth_barrel_free(ibex_synth_barrel *b)
{
    if (!b) return;
    free(b->prof);
    free(b);
}

static float lerp(const float *p, size_t n, double t)
{
    if (t <= 0) return p[0];
    if (t >= (double)(n - 1)) return p[n - 1];
    size_t i = (size_t)t;
    float f = (float)(t - (double)i);
    return p[i] + f * (p[i + 1] - p[i]);
}

typedef struct ellipse {
    double x, y, rx, ry;
} ellipse;

ibex_status ibex_synth_land_run(const ibex_synth_barrel *b, uint64_t bullet_seed, int land,
                                ibex_surface **out, ibex_synth_truth *truth, ibex_diag *diag)
{
    if (!b || !out) return ibex__fail(diag, IBEX_ERR_ARG, NULL, -1, "no barrel or output");
    if (land < 0 || land >= b->lands)
        return ibex__fail(diag, IBEX_ERR_ARG, NULL, -1, "land %d outside 0..%d", land,
                          b->lands - 1);
    size_t nx = b->cols, ny = b->rows, nn = nx * ny, np = b->np;
    double h = b->h, dif = b->o.difficulty, W = b->land_w, len = (double)ny * h;
    uint64_t bk = ibex__key(ibex__key(b->seed, 0xB0), bullet_seed);
    ibex__draw bd = ibex__draw_make(ibex__key(bk, 1));
    int offset = ibex__draw_int(&bd, b->lands);
    int cls = (land + offset) % b->lands;
    uint64_t key = ibex__key(bk, 100 + (uint64_t)land);
    ibex__draw d = ibex__draw_make(ibex__key(key, 1));

    double sx = 0.015 * W * ibex__draw_normal(&d);
    double phi = 0.003 * ibex__draw_normal(&d), tphi = tan(phi);
    double alpha = fmin(1.0, fmax(0.15, 0.95 - 0.5 * dif + 0.05 * ibex__draw_normal(&d)));
    double avar = 0.1 + 0.3 * dif, apitch = ibex__draw_unif(&d, 0.2, 0.5) * (double)ny;
    /* Striae often start part-way along the land (the heel of the bullet takes no marks
     * until it is seated): full transfer only past an onset row, fading in over a band. */
    double onset = -1e30, onset_w = 1;
    if (ibex__draw_unif(&d, 0, 1) < 0.3 + 0.4 * dif) {
        onset = ibex__draw_unif(&d, -0.5, 0.1) * len;
        onset_w = ibex__draw_unif(&d, 0.05, 0.25) * len;
    }
    double onset_floor = ibex__draw_unif(&d, 0.1, 0.4);
    /* Transfer also varies across the land, in streaks along the striae. */
    double xvar = 0.1 + 0.3 * dif, xpitch = ibex__draw_unif(&d, 0.03, 0.1) * (double)nx;
    double ammo = b->rms * (0.15 + 0.6 * dif);
    double rough = b->rms * (0.05 + 0.2 * dif), noise = b->rms * (0.02 + 0.08 * dif);
    double slope_x = 0.02 * ibex__draw_normal(&d), slope_y = 0.01 * ibex__draw_normal(&d);
    double depth = b->depth * ibex__draw_unif(&d, 0.9, 1.1);
    double eL = ibex__draw_unif(&d, 60e-6, 180e-6), eR = ibex__draw_unif(&d, 60e-6, 180e-6);
    ellipse holes[24];
    int nh = 0;
    if (ibex__draw_unif(&d, 0, 1) < 0.2 + 0.4 * dif) { /* break-off at a corner */
        double side = ibex__draw_unif(&d, 0, 1) < 0.5 ? -1 : 1;
        double end = ibex__draw_unif(&d, 0, 1) < 0.5 ? -0.5 : 0.5;
        holes[nh++] = (ellipse){side * 0.5 * W * ibex__draw_unif(&d, 0.5, 1.0), end * len,
                                W * ibex__draw_unif(&d, 0.1, 0.3), len * ibex__draw_unif(&d, 0.1, 0.4)};
    }
    int nb = ibex__draw_poisson(&d, 0.3 + 2.0 * dif);
    for (int i = 0; i < nb && nh < 24; i++)
        holes[nh++] = (ellipse){ibex__draw_unif(&d, -0.5, 0.5) * W, ibex__draw_unif(&d, -0.5, 0.5) * len,
                                ibex__draw_unif(&d, 20e-6, 80e-6), ibex__draw_unif(&d, 20e-6, 80e-6)};
    double dropout = 0.001 + 0.005 * dif;

    ibex_surface *s;
    ibex_status st = ibex_surface_create(nx, ny, h, h, &s);
    if (st) return ibex__fail(diag, st, NULL, -1, "cannot make a %zux%zu surface", nx, ny);
    float *am = malloc(np * sizeof *am), *ro = malloc(nn * sizeof *ro), *av = calloc(nn, sizeof *av);
    if (!am || !ro || !av) goto nomem;
    if (striae(ibex__key(key, 2), np, b->ph, h, am)) goto nomem;
    if (ibex__value_noise(ibex__key(key, 3), nx, ny, 1e30, apitch, (float)avar, av) ||
        ibex__value_noise(ibex__key(key, 7), nx, ny, xpitch, 0.6 * (double)ny, (float)xvar, av))
        goto nomem;
    for (size_t i = 0; i < nn; i++) ro[i] = ibex__rng_gauss_fast(ibex__key(key, 4), i);
    if (ibex__blur(ro, nx, ny, 2e-6 / h)) goto nomem;
    ibex__normalise(ro, nn);

    const float *lp = b->prof + (size_t)cls * np;
    double cx = 0.5 * (double)(nx - 1), cy = 0.5 * (double)(ny - 1);
    uint64_t nkey = ibex__key(key, 5), dkey = ibex__key(key, 6);
    size_t roi = 0, missing = 0;
    for (size_t j = 0; j < ny; j++) {
        double y = ((double)j - cy) * h;
        double on = (y - onset) / onset_w;
        on = on <= 0 ? 0 : on >= 1 ? 1 : on * on * (3 - 2 * on);
        double ay = alpha * (onset_floor + (1 - onset_floor) * on);
        for (size_t i = 0; i < nx; i++) {
            size_t idx = j * nx + i;
            double a = fmax(0.0, ay * (1 + av[idx]));
            double x = ((double)i - cx) * h - sx; /* across the land, from its centre */
            if (x < -0.5 * W - eL || x > 0.5 * W + eR) continue;
            double e = (fabs(x) - 0.5 * W) / b->shoulder;
            double lg = 1.0 / (1.0 + exp(-e)); /* 0 on the land, 1 on the groove side */
            int on_land = fabs(x) <= 0.5 * W;
            if (on_land) roi++;
            int gone = ibex__rng_unif(dkey, idx) < dropout;
            /* the scanner loses the steep flank of the shoulder */
            double slope = depth / b->shoulder * lg * (1 - lg);
            if (slope > 0.8 && ibex__rng_unif(dkey, idx + nn) < 0.6) gone = 1;
            for (int k = 0; k < nh && !gone; k++) {
                double u = (x - holes[k].x) / holes[k].rx, v = (y - holes[k].y) / holes[k].ry;
                gone = u * u + v * v < 1;
            }
            if (gone) {
                if (on_land) missing++;
                continue;
            }
            double u = x + y * tphi;
            double t = (u + b->ext) / b->ph;
            double z = -x * x / (2 * b->radius) + depth * lg + slope_x * x + slope_y * y +
                       (1 - lg) * (a * b->rms * lerp(lp, np, t) + ammo * lerp(am, np, t)) +
                       rough * ro[idx] + noise * ibex__rng_gauss_fast(nkey, idx);
            s->z[idx] = (float)z;
            s->valid[idx] = 1;
        }
    }
    free(am);
    free(ro);
    free(av);
    am = ro = av = NULL;
    char comment[512];
    snprintf(comment, sizeof comment,
             "synthetic land; barrel seed 0x%016llx, bullet seed 0x%016llx, land %d = barrel land "
             "%d, difficulty %.3g, shift %.2f um, slant %.4f deg, transfer %.3f",
             (unsigned long long)b->seed, (unsigned long long)bullet_seed, land + 1, cls + 1, dif,
             sx * 1e6, phi * 360 / TWO_PI, alpha);
    if (ibex__synth_meta(s, "bullet", "land", comment)) goto nomem;
    if (truth) {
        truth->rotation = phi;
        truth->shift_x = sx;
        truth->shift_y = 0;
        truth->transfer = alpha;
        truth->missing_fraction = roi ? (double)missing / (double)roi : 1.0;
        truth->pattern = -1;
        truth->land_class = cls;
        truth->land_offset = offset;
    }
    *out = s;
    return IBEX_OK;
nomem:
    free(am);
    free(ro);
    free(av);
    ibex_surface_free(s);
    return ibex__fail(diag, IBEX_ERR_NOMEM, NULL, -1, "out of memory");
}

ibex_status ibex_synth_land(uint64_t barrel_seed, uint64_t bullet_seed, int land,
                            const ibex_synth_opts *o, ibex_surface **out,
                            ibex_synth_truth *truth, ibex_diag *diag)
{
    ibex_synth_barrel *b;
    ibex_status st = ibex_synth_barrel_create(barrel_seed, o, &b, diag);
    if (st) return st;
    st = ibex_synth_land_run(b, bullet_seed, land, out, truth, diag);
    ibex_synth_barrel_free(b);
    return st;
}
