/* Synthetic cartridge-case breech faces.
 *
 * A firearm is a height map of its breech face in its own frame ("master"): an anisotropic
 * self-affine rough surface plus tool-mark lines (filing, milling arcs or cross-hatch),
 * a few individual pits and bumps, and subclass marks shared with its manufacturing family.
 * A shot presses the primer against it: the scan shows the master seen through a rotation
 * and translation of the scan frame and a seating offset of the casing, scaled by an
 * uneven, partial transfer field, over the primer's own roughness, with measurement noise
 * and missing regions, inside the aperture and outside the firing-pin hole. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibex/synth.h"
#include "ibex_internal.h"
#include "synth_internal.h"

#define TWO_PI 6.283185307179586
#define FIELD_DEFAULT 3.125e-3   /* 500 points at 6.25 um, as the Fadul scans */
#define SIZE_DEFAULT 500

struct ibex_synth_firearm {
    ibex_synth_opts o;
    uint64_t seed;
    size_t n;          /* output grid side */
    double h;          /* spacing (m) */
    size_t m;          /* master side */
    double half;       /* master coordinate of point 0 is -half (centred) */
    float *master;     /* m*m heights (m), firearm frame */
    double rms;        /* target rms of the breech-face marks (m) */
    double r_out;      /* aperture radius (m) */
    double r_fp;       /* firing-pin hole radius */
    double fp_x, fp_y; /* firing-pin hole centre relative to the aperture centre */
    double rim;        /* height of primer metal flowed back around the pin (m) */
    double seat;       /* sd of the casing's seating offset (m) */
    ibex_synth_pattern pattern;
};

void ibex_synth_opts_init(ibex_synth_opts *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->size = 0;
    o->spacing = 0;
    o->difficulty = 0.5;
    o->family_seed = 0;
    o->lands = 6;
}

uint64_t ibex_synth_seed_derive(uint64_t parent, uint64_t index)
{
    return ibex__key(parent, index + 0x5EED0000ull);
}

static const char *pattern_name(ibex_synth_pattern p)
{
    switch (p) {
    case IBEX_SYNTH_FILING: return "filing";
    case IBEX_SYNTH_MILLING: return "milling";
    case IBEX_SYNTH_CROSSHATCH: return "cross-hatch";
    }
    return "?";
}

ibex_synth_pattern ibex_synth_firearm_get_pattern(const ibex_synth_firearm *f)
{
    return f->pattern;
}

/* One tool-mark profile along u: fine random texture plus sparse deep lines, unit rms. */
static int tool_profile(uint64_t key, size_t n, double h, float *p)
{
    ibex__draw d = ibex__draw_make(ibex__key(key, 1));
    ibex__spectrum sp = {ibex__draw_unif(&d, 8e-6, 30e-6), 0, 0, ibex__draw_unif(&d, 0.3, 0.9),
                         h > 4e-6 ? 2 * h : 8e-6};
    if (ibex__field(ibex__key(key, 2), n, 1, h, &sp, p)) return -1;
    for (size_t i = 0; i < n; i++) p[i] *= 0.5f;
    double density = ibex__draw_unif(&d, 6e3, 25e3); /* lines per metre: 6..25 per mm */
    ibex__add_lines(&d, p, n, h, density, fmax(3e-6, 0.7 * h), fmax(10e-6, 1.5 * h), 0.2);
    ibex__normalise(p, n);
    return 0;
}

static float lerp_profile(const float *p, size_t n, double t)
{
    if (t <= 0) return p[0];
    if (t >= (double)(n - 1)) return p[n - 1];
    size_t i = (size_t)t;
    float f = (float)(t - (double)i);
    return p[i] + f * (p[i + 1] - p[i]);
}

/* Add amp * tool marks of the given pattern (drawn from key) into the master. */
static int add_tool_marks(uint64_t key, ibex_synth_pattern pat, size_t m, double h, double half,
                          double amp, float *z)
{
    ibex__draw d = ibex__draw_make(ibex__key(key, 10));
    double ph = h * 0.5, ext = half * 1.5 + 50e-6; /* covers the master's diagonal */
    size_t np = (size_t)(2 * ext / ph) + 2;
    int sets = pat == IBEX_SYNTH_CROSSHATCH ? 2 : 1;
    float *prof = malloc(np * sizeof *prof);
    if (!prof) return -1;
    double a0 = ibex__draw_unif(&d, 0, TWO_PI);
    for (int s = 0; s < sets; s++) {
        if (tool_profile(ibex__key(key, 20 + (uint64_t)s), np, ph, prof)) {
            free(prof);
            return -1;
        }
        double ang = s == 0 ? a0 : a0 + ibex__draw_unif(&d, 0.6, 1.57);
        double ca = cos(ang), sa = sin(ang);
        double wav_a = ibex__draw_unif(&d, 0, 8e-6), wav_l = ibex__draw_unif(&d, 0.8e-3, 3e-3);
        double wav_p = ibex__draw_unif(&d, 0, TWO_PI);
        /* Milling: arcs of a circle whose centre lies 2..6 mm away. */
        double dist = ibex__draw_unif(&d, 2e-3, 6e-3);
        double cx = dist * ca, cy = dist * sa;
        float a = (float)(amp * (s == 0 ? 1.0 : ibex__draw_unif(&d, 0.5, 1.0)) /
                          (sets == 2 ? 1.2 : 1.0));
        /* Filing waviness sin(2 pi v / wav_l + wav_p) along a row advances by a fixed
         * phase step: rotate (c, s) instead of calling sin per point. */
        double step = TWO_PI * (-sa * h) / wav_l, cd = cos(step), sd = sin(step);
        for (size_t j = 0; j < m; j++) {
            double y = (double)j * h - half, x0 = -half;
            double ph0 = TWO_PI * (-sa * x0 + ca * y) / wav_l + wav_p;
            double wc = cos(ph0), ws = sin(ph0);
            float *zr = z + j * m;
            for (size_t i = 0; i < m; i++) {
                double x = (double)i * h - half, u;
                if (pat == IBEX_SYNTH_MILLING) {
                    double ex = x - cx, ey = y - cy;
                    u = sqrt(ex * ex + ey * ey) - dist;
                } else {
                    u = ca * x + sa * y + wav_a * ws;
                    double nc = wc * cd - ws * sd;
                    ws = ws * cd + wc * sd;
                    wc = nc;
                }
                zr[i] += a * lerp_profile(prof, np, (u + ext) / ph);
            }
        }
    }
    free(prof);
    return 0;
}

/* Texture components (rough surface + tool marks) drawn from one key, unit-ish rms. */
static int texture(uint64_t key, ibex_synth_pattern pat, size_t m, double h, double half,
                   float *z, float *tmp)
{
    ibex__draw d = ibex__draw_make(ibex__key(key, 3));
    double corr = ibex__draw_unif(&d, 40e-6, 140e-6), aspect = ibex__draw_unif(&d, 1.0, 2.5);
    ibex__spectrum sp = {corr * aspect, corr, ibex__draw_unif(&d, 0, TWO_PI),
                         ibex__draw_unif(&d, 0.3, 0.9), h > 5e-6 ? 1.6 * h : 8e-6};
    if (ibex__field(ibex__key(key, 4), m, m, h, &sp, tmp)) return -1;
    double tool = ibex__draw_unif(&d, 0.6, 1.4);
    for (size_t i = 0; i < m * m; i++) z[i] = tmp[i];
    if (add_tool_marks(key, pat, m, h, half, tool, z)) return -1;
    ibex__normalise(z, m * m);
    return 0;
}

/* The family texture is the same for every firearm of a set: keep the last one made.
 * (A cache of a pure function: results are the same with or without it.) */
static pthread_mutex_t fam_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    uint64_t seed;
    size_t m;
    double h;
    float *z;
} fam_cache;

static int family_texture(uint64_t seed, size_t m, double h, double half, float *z, float *tmp)
{
    pthread_mutex_lock(&fam_lock);
    int hit = fam_cache.z && fam_cache.seed == seed && fam_cache.m == m && fam_cache.h == h;
    if (hit) memcpy(z, fam_cache.z, m * m * sizeof *z);
    pthread_mutex_unlock(&fam_lock);
    if (hit) return 0;
    uint64_t fk = ibex__key(seed, 0xFA);
    ibex__draw fd = ibex__draw_make(fk);
    ibex_synth_pattern fp = (ibex_synth_pattern)ibex__draw_int(&fd, 3);
    if (texture(fk, fp, m, h, half, z, tmp)) return -1;
    float *copy = malloc(m * m * sizeof *copy);
    if (copy) {
        memcpy(copy, z, m * m * sizeof *copy);
        pthread_mutex_lock(&fam_lock);
        free(fam_cache.z);
        fam_cache.seed = seed;
        fam_cache.m = m;
        fam_cache.h = h;
        fam_cache.z = copy;
        pthread_mutex_unlock(&fam_lock);
    }
    return 0;
}

static void add_bump(float *z, size_t m, double h, double half, double x0, double y0, double r,
                     double amp)
{
    long c0 = (long)floor((x0 - 3 * r + half) / h), c1 = (long)ceil((x0 + 3 * r + half) / h);
    long r0 = (long)floor((y0 - 3 * r + half) / h), r1 = (long)ceil((y0 + 3 * r + half) / h);
    if (c0 < 0) c0 = 0;
    if (r0 < 0) r0 = 0;
    if (c1 > (long)m - 1) c1 = (long)m - 1;
    if (r1 > (long)m - 1) r1 = (long)m - 1;
    for (long j = r0; j <= r1; j++)
        for (long i = c0; i <= c1; i++) {
            double dx = (double)i * h - half - x0, dy = (double)j * h - half - y0;
            z[j * (long)m + i] += (float)(amp * exp(-0.5 * (dx * dx + dy * dy) / (r * r)));
        }
}

ibex_status ibex__synth_check_opts(const ibex_synth_opts *o, double max_spacing, ibex_diag *diag)
{
    if (!(o->difficulty >= 0 && o->difficulty <= 1))
        return ibex__fail(diag, IBEX_ERR_ARG, NULL, -1, "difficulty %g outside 0..1",
                          o->difficulty);
    if (o->spacing < 0 || !isfinite(o->spacing) || (o->spacing > 0 && o->spacing < 1e-8) ||
        o->spacing > max_spacing)
        return ibex__fail(diag, IBEX_ERR_ARG, NULL, -1, "spacing %g m outside 1e-8..%g",
                          o->spacing, max_spacing);
    if (o->size && (o->size < 16 || o->size > 8192))
        return ibex__fail(diag, IBEX_ERR_ARG, NULL, -1, "size %zu outside 16..8192", o->size);
    return IBEX_OK;
}

static void grid_of(const ibex_synth_opts *o, size_t *n, double *h)
{
    *n = o->size ? o->size : SIZE_DEFAULT;
    *h = o->spacing > 0 ? o->spacing : FIELD_DEFAULT / (double)*n;
}

ibex_status ibex_synth_firearm_create(uint64_t seed, const ibex_synth_opts *o,
                                      ibex_synth_firearm **out, ibex_diag *diag)
{
    ibex_synth_opts def;
    ibex_synth_opts_init(&def);
    if (!ibex__opts_merge(&def, sizeof def, o)) return ibex__opts_refused(diag, "ibex_synth_opts");
    o = &def;
    if (!out) return ibex__fail(diag, IBEX_ERR_ARG, NULL, -1, "no output pointer");
    ibex_status bad = ibex__synth_check_opts(o, 1e-3, diag);
    if (bad) return bad;
    ibex_synth_firearm *f = calloc(1, sizeof *f);
    if (!f) return ibex__fail(diag, IBEX_ERR_NOMEM, NULL, -1, "out of memory");
    f->o = *o;
    f->seed = seed;
    grid_of(o, &f->n, &f->h);
    double field = (double)f->n * f->h, dif = o->difficulty;
    ibex__draw d = ibex__draw_make(ibex__key(seed, 0xF1));
    f->pattern = (ibex_synth_pattern)ibex__draw_int(&d, 3);
    f->rms = ibex__draw_unif(&d, 0.6e-6, 1.4e-6);
    f->r_out = field * ibex__draw_unif(&d, 0.40, 0.46);
    f->r_fp = f->r_out * ibex__draw_unif(&d, 0.45, 0.70);
    double off = f->r_out * ibex__draw_unif(&d, 0.0, 0.12), oa = ibex__draw_unif(&d, 0, TWO_PI);
    f->fp_x = off * cos(oa);
    f->fp_y = off * sin(oa);
    f->rim = f->rms * ibex__draw_unif(&d, 0.5, 2.0);
    f->seat = 0.01 * field;
    double need = f->r_out * 1.06 + 4 * f->seat + 3 * f->h;
    f->m = ibex__fft_size(2 * (size_t)ceil(need / f->h) + 4);
    f->half = 0.5 * (double)(f->m - 1) * f->h;
    size_t mm = f->m * f->m;
    f->master = malloc(mm * sizeof *f->master);
    float *fam = malloc(mm * sizeof *fam), *tmp = malloc(mm * sizeof *tmp);
    ibex_status st = IBEX_OK;
    if (!f->master || !fam || !tmp) st = IBEX_ERR_NOMEM;
    /* Individual marks, then subclass marks of the family (same process, same tool). */
    if (!st && texture(ibex__key(seed, 0xF2), f->pattern, f->m, f->h, f->half, f->master, tmp))
        st = IBEX_ERR_NOMEM;
    if (!st && family_texture(o->family_seed, f->m, f->h, f->half, fam, tmp)) st = IBEX_ERR_NOMEM;
    if (!st) {
        /* Subclass share grows with difficulty (consecutively made slides, Fadul 2011). */
        double s = fmin(0.85, (0.1 + 0.35 * dif) * ibex__draw_unif(&d, 0.6, 1.4));
        double a = sqrt(1 - s * s);
        for (size_t i = 0; i < mm; i++)
            f->master[i] = (float)(f->rms * (a * f->master[i] + s * fam[i]));
        /* Individual pits and bumps: strongly identifying, rare. */
        int nb = 2 + ibex__draw_poisson(&d, 6.0);
        for (int b = 0; b < nb; b++) {
            double rr = f->r_out * sqrt(ibex__draw_unif(&d, 0, 1)), ra = ibex__draw_unif(&d, 0, TWO_PI);
            double r = ibex__draw_unif(&d, 10e-6, 40e-6), amp = ibex__draw_unif(&d, -2.5, 1.5) * f->rms;
            add_bump(f->master, f->m, f->h, f->half, rr * cos(ra), rr * sin(ra), fmax(r, f->h), amp);
        }
    }
    free(fam);
    free(tmp);
    if (st) {
        size_t m = f->m;
        ibex_synth_firearm_free(f);
        return ibex__fail(diag, st, NULL, -1, "out of memory making a %zux%zu firearm", m, m);
    }
    *out = f;
    return IBEX_OK;
}

void ibex_synth_firearm_free(ibex_synth_firearm *f)
{
    if (!f) return;
    free(f->master);
    free(f);
}

/* Bilinear sample of the master at firearm-frame position (x, y); 0 outside. */
static float sample(const ibex_synth_firearm *f, double x, double y)
{
    double tx = (x + f->half) / f->h, ty = (y + f->half) / f->h;
    if (!(tx >= 0 && ty >= 0 && tx < (double)(f->m - 1) && ty < (double)(f->m - 1))) return 0;
    size_t i = (size_t)tx, j = (size_t)ty;
    float fx = (float)(tx - (double)i), fy = (float)(ty - (double)j);
    const float *r0 = f->master + j * f->m + i, *r1 = r0 + f->m;
    float a = r0[0] + fx * (r0[1] - r0[0]), b = r1[0] + fx * (r1[1] - r1[0]);
    return a + fy * (b - a);
}

typedef struct blob {
    double x, y, c, s, ra, rb; /* centre, orientation, semi-axes (casing frame) */
} blob;

ibex_status ibex_synth_cartridge_run(const ibex_synth_firearm *f, uint64_t shot_seed,
                                     ibex_surface **out, ibex_synth_truth *truth,
                                     ibex_diag *diag)
{
    if (!f || !out) return ibex__fail(diag, IBEX_ERR_ARG, NULL, -1, "no firearm or output");
    size_t n = f->n, nn = n * n;
    double h = f->h, field = (double)n * h, dif = f->o.difficulty;
    uint64_t key = ibex__key(ibex__key(f->seed, 0x5407), shot_seed);
    ibex__draw d = ibex__draw_make(ibex__key(key, 1));

    /* Pose: scan frame rotated by theta and shifted by t; casing seated off by (sx, sy). */
    double theta = ibex__draw_unif(&d, 0, TWO_PI);
    double tr = 0.04 * field * sqrt(ibex__draw_unif(&d, 0, 1)), ta = ibex__draw_unif(&d, 0, TWO_PI);
    double tx = tr * cos(ta), ty = tr * sin(ta);
    double sx = f->seat * ibex__draw_normal(&d), sy = f->seat * ibex__draw_normal(&d);
    /* Transfer: mean, a tilt across the face (uneven firing-pin blow), smooth patches. */
    double tmean = 0.95 - 0.55 * dif + 0.08 * ibex__draw_normal(&d);
    /* Now and then a poor impression (low chamber pressure, hard primer): the low tail
     * of known-match scores on real sets. */
    if (ibex__draw_unif(&d, 0, 1) < 0.02 + 0.06 * dif) tmean *= ibex__draw_unif(&d, 0.3, 0.6);
    tmean = fmin(1.0, fmax(0.1, tmean));
    double tg = ibex__draw_unif(&d, 0, 0.2 + 0.5 * dif), tga = ibex__draw_unif(&d, 0, TWO_PI);
    double tvar = 0.08 + 0.35 * dif;
    double tpitch = ibex__draw_unif(&d, 0.12, 0.3) * (double)n;
    /* Primer's own roughness, noise, residual tilt of the levelled scan. */
    double prim = f->rms * (0.15 + 0.75 * dif) * ibex__draw_unif(&d, 0.7, 1.4);
    double prim_corr = ibex__draw_unif(&d, 12e-6, 35e-6);
    double noise = f->rms * (0.02 + 0.06 * dif);
    double tilt = f->rms * ibex__draw_unif(&d, 0, 0.3) / field, tia = ibex__draw_unif(&d, 0, TWO_PI);
    double rim = f->rim * ibex__draw_unif(&d, 0.7, 1.3), rim_w = ibex__draw_unif(&d, 15e-6, 40e-6);
    /* Primer cup form left after levelling: a dome or dish about the aperture centre, the
     * same kind of shape on every casing of every firearm (raises non-match scores). */
    double dish = f->rms * ibex__draw_unif(&d, -0.8, 0.8) / (f->r_out * f->r_out);
    /* Aperture edge of this primer: a circle with small low-order wobble. */
    double wob[3][2];
    for (int k = 0; k < 3; k++) {
        double a = ibex__draw_unif(&d, 0, 0.012), p = ibex__draw_unif(&d, 0, TWO_PI);
        wob[k][0] = a * cos(p);
        wob[k][1] = a * sin(p);
    }
    double fpx = f->fp_x - sx + 0.004 * field * ibex__draw_normal(&d);
    double fpy = f->fp_y - sy + 0.004 * field * ibex__draw_normal(&d);
    double rfp = f->r_fp * ibex__draw_unif(&d, 0.97, 1.03);
    /* Missing regions (no contact, debris, scanner drop-outs), in the casing frame. */
    blob blobs[32];
    int nbl = ibex__draw_poisson(&d, 0.4 + 3.0 * dif);
    if (nbl > 32) nbl = 32;
    for (int b = 0; b < nbl; b++) {
        double rr = f->r_out * sqrt(ibex__draw_unif(&d, 0, 1)), ra = ibex__draw_unif(&d, 0, TWO_PI);
        double o = ibex__draw_unif(&d, 0, TWO_PI);
        blobs[b] = (blob){rr * cos(ra), rr * sin(ra), cos(o), sin(o),
                          field * ibex__draw_unif(&d, 0.03, 0.12), field * ibex__draw_unif(&d, 0.02, 0.07)};
    }
    double dropout = 0.002 + 0.01 * dif;

    ibex_surface *s;
    ibex_status st = ibex_surface_create(n, n, h, h, &s);
    if (st) return ibex__fail(diag, st, NULL, -1, "cannot make a %zux%zu surface", n, n);
    float *tf = calloc(nn, sizeof *tf), *pr = malloc(nn * sizeof *pr);
    if (!tf || !pr) goto nomem;
    if (ibex__value_noise(ibex__key(key, 2), n, n, tpitch, tpitch, (float)tvar, tf)) goto nomem;
    uint64_t pkey = ibex__key(key, 3);
    for (size_t i = 0; i < nn; i++) pr[i] = ibex__rng_gauss_fast(pkey, i);
    double sig = prim_corr / h;
    if (ibex__blur(pr, n, n, sig)) goto nomem;
    ibex__normalise(pr, nn);
    float prs = (float)prim;

    double ct = cos(theta), stt = sin(theta), c0 = 0.5 * (double)(n - 1);
    double cg = cos(tga), sg = sin(tga), ci = cos(tia), si = sin(tia);
    uint64_t nkey = ibex__key(key, 4), dkey = ibex__key(key, 5);
    size_t roi = 0, missing = 0;
    double rmax2 = f->r_out * 1.04 * f->r_out * 1.04; /* wobble stays under 3.6 % */
    for (size_t j = 0; j < n; j++) {
        double qy = ((double)j - c0) * h - ty;
        for (size_t i = 0; i < n; i++) {
            size_t idx = j * n + i;
            double qx = ((double)i - c0) * h - tx;
            /* casing frame */
            double px = ct * qx - stt * qy, py = stt * qx + ct * qy;
            double r2 = px * px + py * py;
            if (r2 > rmax2) continue;
            double r = sqrt(r2);
            double c1 = r > 0 ? px / r : 1, s1 = r > 0 ? py / r : 0;
            double c2 = c1 * c1 - s1 * s1, s2 = 2 * c1 * s1;
            double c3 = c2 * c1 - s2 * s1, s3 = s2 * c1 + c2 * s1;
            double c4 = c2 * c2 - s2 * s2, s4 = 2 * c2 * s2;
            double edge = f->r_out * (1 + wob[0][0] * c2 + wob[0][1] * s2 + wob[1][0] * c3 +
                                      wob[1][1] * s3 + wob[2][0] * c4 + wob[2][1] * s4);
            if (r > edge) continue;
            double fdx = px - fpx, fdy = py - fpy, fr = sqrt(fdx * fdx + fdy * fdy);
            if (fr < rfp) continue;
            roi++;
            int gone = ibex__rng_unif(dkey, idx) < dropout;
            for (int b = 0; b < nbl && !gone; b++) {
                double ex = px - blobs[b].x, ey = py - blobs[b].y;
                double u = (blobs[b].c * ex + blobs[b].s * ey) / blobs[b].ra;
                double v = (-blobs[b].s * ex + blobs[b].c * ey) / blobs[b].rb;
                gone = u * u + v * v < 1;
            }
            if (gone) {
                missing++;
                continue;
            }
            double t = tmean * (1 + tg * (cg * px + sg * py) / f->r_out) + tf[idx];
            t = fmin(1.0, fmax(0.0, t));
            /* Partial contact: the primer, pressed into the breech face, takes its shape
             * only where the face reaches it; elsewhere its own surface stays. The local
             * transfer t sets the contact level (t = 0.5: about half the area touches). A
             * polynomial smooth minimum (width k) rounds the contact edges. */
            double fz = sample(f, px + sx, py + sy), pz = f->rms * 3.0 * (t - 0.5) + prs * pr[idx];
            double k = 0.3 * f->rms, hm = fmin(1.0, fmax(0.0, 0.5 + 0.5 * (pz - fz) / k));
            double z = pz + hm * (fz - pz) - k * hm * (1 - hm) +
                       noise * ibex__rng_gauss_fast(nkey, idx) +
                       tilt * (ci * qx + si * qy) + dish * r2;
            double e = (fr - rfp) / rim_w;
            if (e < 4) z += rim * exp(-e * e);
            s->z[idx] = (float)z;
            s->valid[idx] = 1;
        }
    }
    free(tf);
    free(pr);
    tf = pr = NULL;
    char comment[512];
    snprintf(comment, sizeof comment,
             "synthetic breech face; firearm seed 0x%016llx, shot seed 0x%016llx, pattern %s, "
             "difficulty %.3g, rotation %.4f deg, shift (%.2f, %.2f) um, transfer %.3f",
             (unsigned long long)f->seed, (unsigned long long)shot_seed,
             pattern_name(f->pattern), dif, theta * 360 / TWO_PI, tx * 1e6, ty * 1e6, tmean);
    if (ibex__synth_meta(s, "cartridge", "breech-face", comment)) goto nomem;
    if (truth) {
        truth->rotation = theta;
        truth->shift_x = tx;
        truth->shift_y = ty;
        truth->transfer = tmean;
        truth->missing_fraction = roi ? (double)missing / (double)roi : 1.0;
        truth->pattern = (int)f->pattern;
        truth->land_class = -1;
        truth->land_offset = -1;
    }
    *out = s;
    return IBEX_OK;
nomem:
    free(tf);
    free(pr);
    ibex_surface_free(s);
    return ibex__fail(diag, IBEX_ERR_NOMEM, NULL, -1, "out of memory");
}

ibex_status ibex_synth_cartridge(uint64_t firearm_seed, uint64_t shot_seed,
                                 const ibex_synth_opts *o, ibex_surface **out,
                                 ibex_synth_truth *truth, ibex_diag *diag)
{
    ibex_synth_firearm *f;
    ibex_status st = ibex_synth_firearm_create(firearm_seed, o, &f, diag);
    if (st) return st;
    st = ibex_synth_cartridge_run(f, shot_seed, out, truth, diag);
    ibex_synth_firearm_free(f);
    return st;
}
