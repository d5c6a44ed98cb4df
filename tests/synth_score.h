/* Stand-in similarity scores for synthetic-data tests and the calibration bench,
 * written independently of the IBEX comparators:
 *   cartridges: maximum masked normalised cross-correlation over rotations and
 *               translations, on block-averaged copies of at most SYNTH_SCORE_SIDE points;
 *   bullets:    maximum normalised cross-correlation over lags of high-passed column-mean
 *               signatures of two land scans.
 * Hook: SYNTH_SCORE_CARTRIDGE / SYNTH_SCORE_BULLET name the functions the tests
 * call, with the signature  double f(const ibex_surface *a, const ibex_surface *b)
 * (higher = more similar). Bullets use IBEX's land comparator (synth_ibex_land_score);
 * cartridges the stand-in NCC (IBEX's CMC with pre-registration is tested in
 * tests/unit/test_prealign.c and calibrated in bench/bench_synth_calib.c). */
#ifndef IBEX_TEST_SYNTH_SCORE_H
#define IBEX_TEST_SYNTH_SCORE_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ibex/ibex.h"
#include "ibex/bullet.h"

#ifndef SYNTH_SCORE_SIDE
#define SYNTH_SCORE_SIDE 64
#endif

typedef struct score_grid {
    int n;       /* side */
    float *z;    /* NaN = invalid */
} score_grid;

/* Block means (blk x blk) over valid points, centred in an n x n grid; a block is valid
 * when at least half of it is. Square grids keep all data under rotation. */
static inline score_grid score_downsample(const ibex_surface *s, int blk, int n)
{
    score_grid g = {n, malloc(sizeof(float) * (size_t)n * (size_t)n)};
    long ox = ((long)n * blk - (long)s->nx) / 2, oy = ((long)n * blk - (long)s->ny) / 2;
    for (int j = 0; j < n; j++)
        for (int i = 0; i < n; i++) {
            double sum = 0;
            int cnt = 0;
            for (int b = 0; b < blk; b++)
                for (int a = 0; a < blk; a++) {
                    long x = (long)i * blk + a - ox, y = (long)j * blk + b - oy;
                    if (x < 0 || y < 0 || x >= (long)s->nx || y >= (long)s->ny) continue;
                    size_t k = (size_t)y * s->nx + (size_t)x;
                    if (s->valid[k]) {
                        sum += s->z[k];
                        cnt++;
                    }
                }
            g.z[j * n + i] = 2 * cnt >= blk * blk ? (float)(sum / cnt) : NAN;
        }
    return g;
}

/* Remove the least-squares plane over valid points (levelling, as every comparator does). */
static inline void score_level(score_grid *g)
{
    double s[3][4] = {{0}};
    int n = g->n;
    for (int j = 0; j < n; j++)
        for (int i = 0; i < n; i++) {
            float v = g->z[j * n + i];
            if (isnan(v)) continue;
            double b[3] = {1, i, j};
            for (int r = 0; r < 3; r++) {
                for (int c = 0; c < 3; c++) s[r][c] += b[r] * b[c];
                s[r][3] += b[r] * v;
            }
        }
    /* Gauss-Jordan on the 3x3 normal equations */
    for (int c = 0; c < 3; c++) {
        int p = c;
        for (int r = c + 1; r < 3; r++)
            if (fabs(s[r][c]) > fabs(s[p][c])) p = r;
        if (fabs(s[p][c]) < 1e-12) return;
        for (int k = 0; k < 4; k++) {
            double t = s[c][k];
            s[c][k] = s[p][k];
            s[p][k] = t;
        }
        for (int r = 0; r < 3; r++) {
            if (r == c) continue;
            double f = s[r][c] / s[c][c];
            for (int k = 0; k < 4; k++) s[r][k] -= f * s[c][k];
        }
    }
    double c0 = s[0][3] / s[0][0], c1 = s[1][3] / s[1][1], c2 = s[2][3] / s[2][2];
    for (int j = 0; j < n; j++)
        for (int i = 0; i < n; i++) g->z[j * n + i] -= (float)(c0 + c1 * i + c2 * j);
}

/* b rotated by angle about the grid centre, bilinear over valid neighbours only. */
static inline void score_rotate(const score_grid *b, double angle, float *out)
{
    int n = b->n;
    double c = 0.5 * (n - 1), ca = cos(angle), sa = sin(angle);
    for (int j = 0; j < n; j++)
        for (int i = 0; i < n; i++) {
            double x = ca * (i - c) - sa * (j - c) + c, y = sa * (i - c) + ca * (j - c) + c;
            int x0 = (int)floor(x), y0 = (int)floor(y);
            float v = NAN;
            if (x0 >= 0 && y0 >= 0 && x0 + 1 < n && y0 + 1 < n) {
                double fx = x - x0, fy = y - y0;
                const float *p = b->z + y0 * n + x0;
                v = (float)((1 - fy) * ((1 - fx) * p[0] + fx * p[1]) +
                            fy * ((1 - fx) * p[n] + fx * p[n + 1]));
            }
            out[j * n + i] = v;
        }
}

/* Masked NCC of a and r shifted by (dx, dy); -2 when the overlap is under min_n points. */
static inline double score_ncc_at(const float *a, const float *r, int n, int dx, int dy, int min_n)
{
    double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
    int cnt = 0;
    for (int j = 0; j < n; j++) {
        int jj = j + dy;
        if (jj < 0 || jj >= n) continue;
        for (int i = 0; i < n; i++) {
            int ii = i + dx;
            if (ii < 0 || ii >= n) continue;
            float x = a[j * n + i], y = r[jj * n + ii];
            if (isnan(x) || isnan(y)) continue;
            sa += x;
            sb += y;
            saa += (double)x * x;
            sbb += (double)y * y;
            sab += (double)x * y;
            cnt++;
        }
    }
    if (cnt < min_n) return -2;
    double va = saa - sa * sa / cnt, vb = sbb - sb * sb / cnt;
    if (!(va > 0 && vb > 0)) return -2;
    return (sab - sa * sb / cnt) / sqrt(va * vb);
}

/* Rotation (full circle) and translation (+-max_shift of the side) search, coarse then fine. */
static inline double synth_ncc_cartridge(const ibex_surface *sa, const ibex_surface *sb)
{
    size_t big = sa->nx;
    if (sa->ny > big) big = sa->ny;
    if (sb->nx > big) big = sb->nx;
    if (sb->ny > big) big = sb->ny;
    int blk = (int)((big + SYNTH_SCORE_SIDE - 1) / SYNTH_SCORE_SIDE);
    int side = (int)((big + (size_t)blk - 1) / (size_t)blk);
    score_grid a = score_downsample(sa, blk, side), b = score_downsample(sb, blk, side);
    double best = -2;
    score_level(&a);
    score_level(&b);
    int n = a.n, na = 0, nb = 0, S = n / 8 + 1;
    for (int i = 0; i < n * n; i++) {
        na += !isnan(a.z[i]);
        nb += !isnan(b.z[i]);
    }
    int min_n = (na < nb ? na : nb) / 3;
    float *r = malloc(sizeof(float) * (size_t)n * (size_t)n);
    double best_ang = 0;
    int bdx = 0, bdy = 0;
    const double step = 6.0 * M_PI / 180;
    for (int k = 0; k < 60; k++) {
        score_rotate(&b, k * step, r);
        for (int dy = -S; dy <= S; dy += 2)
            for (int dx = -S; dx <= S; dx += 2) {
                double v = score_ncc_at(a.z, r, n, dx, dy, min_n);
                if (v > best) {
                    best = v;
                    best_ang = k * step;
                    bdx = dx;
                    bdy = dy;
                }
            }
    }
    /* refine: +-4 degrees by 1, +-2 points by 1 */
    double a0 = best_ang;
    int x0 = bdx, y0 = bdy;
    for (int k = -4; k <= 4; k++) {
        score_rotate(&b, a0 + k * M_PI / 180, r);
        for (int dy = y0 - 2; dy <= y0 + 2; dy++)
            for (int dx = x0 - 2; dx <= x0 + 2; dx++) {
                double v = score_ncc_at(a.z, r, n, dx, dy, min_n);
                if (v > best) best = v;
            }
    }
    free(r);
    free(a.z);
    free(b.z);
    return best;
}

/* Column-mean signature of a land scan (striae run along y), high-passed by subtracting a
 * Gaussian-smoothed copy (sigma 60 um: removes curvature and shoulders' slow rise), with
 * the outer 15 % on each side dropped (groove shoulders). */
static inline int score_signature(const ibex_surface *s, double **out)
{
    size_t nx = s->nx;
    double *m = malloc(sizeof(double) * nx), *sm = malloc(sizeof(double) * nx);
    for (size_t i = 0; i < nx; i++) {
        double sum = 0;
        size_t c = 0;
        for (size_t j = 0; j < s->ny; j++)
            if (s->valid[j * nx + i]) {
                sum += s->z[j * nx + i];
                c++;
            }
        m[i] = c * 2 >= s->ny ? sum / (double)c : NAN;
    }
    double sig = 60e-6 / s->dx;
    int rad = (int)ceil(3 * sig);
    for (size_t i = 0; i < nx; i++) {
        double w = 0, v = 0;
        for (int k = -rad; k <= rad; k++) {
            long t = (long)i + k;
            if (t < 0 || t >= (long)nx || isnan(m[t])) continue;
            double g = exp(-0.5 * k * k / (sig * sig));
            w += g;
            v += g * m[t];
        }
        sm[i] = w > 0 ? v / w : NAN;
    }
    size_t lo = nx * 15 / 100, hi = nx - lo, n = hi - lo;
    double *o = malloc(sizeof(double) * n);
    for (size_t i = 0; i < n; i++) o[i] = m[lo + i] - sm[lo + i];
    free(m);
    free(sm);
    *out = o;
    return (int)n;
}

/* Maximum NCC over lags up to a quarter of the signature, overlap at least half. */
static inline double synth_ncc_bullet(const ibex_surface *sa, const ibex_surface *sb)
{
    double *a, *b;
    int na = score_signature(sa, &a), nb = score_signature(sb, &b);
    int n = na < nb ? na : nb, L = n / 4;
    double best = -2;
    for (int lag = -L; lag <= L; lag++) {
        double s1 = 0, s2 = 0, s11 = 0, s22 = 0, s12 = 0;
        int c = 0;
        for (int i = 0; i < na; i++) {
            int j = i + lag;
            if (j < 0 || j >= nb || isnan(a[i]) || isnan(b[j])) continue;
            s1 += a[i];
            s2 += b[j];
            s11 += a[i] * a[i];
            s22 += b[j] * b[j];
            s12 += a[i] * b[j];
            c++;
        }
        if (c < n / 2) continue;
        double v1 = s11 - s1 * s1 / c, v2 = s22 - s2 * s2 / c;
        if (!(v1 > 0 && v2 > 0)) continue;
        double v = (s12 - s1 * s2 / c) / sqrt(v1 * v2);
        if (v > best) best = v;
    }
    free(a);
    free(b);
    return best;
}

/* IBEX's land comparator (include/ibex/bullet.h): calibrated land score P(same land) of
 * the two scans' signatures; -1 when either scan gives no signature. */
static inline double synth_ibex_land_score(const ibex_surface *sa, const ibex_surface *sb)
{
    ibex_land_opts o;
    ibex_land_opts_init(&o);
    ibex_land_signature *a = NULL, *b = NULL;
    ibex_land_result r;
    double v = -1;
    if (ibex_land_signature_create(sa, &o, &a, NULL) == IBEX_OK &&
        ibex_land_signature_create(sb, &o, &b, NULL) == IBEX_OK &&
        ibex_land_compare(a, b, &r, NULL) == IBEX_OK)
        v = r.score;
    ibex_land_signature_free(a);
    ibex_land_signature_free(b);
    return v;
}

#ifndef SYNTH_SCORE_CARTRIDGE
#define SYNTH_SCORE_CARTRIDGE synth_ncc_cartridge
#endif
#ifndef SYNTH_SCORE_BULLET
#define SYNTH_SCORE_BULLET synth_ibex_land_score
#endif

#endif
