/* Coarse-to-fine registration of a cell (see cmc_internal.h): an exhaustive masked NCC on
 * D x D block means ranks the lags, then full-resolution hill climbs from the best coarse
 * local maxima evaluate the exact masked NCC (Padfield 2012, the same sums as the FFT path,
 * computed directly) lag by lag. The climbs stop at full-resolution local maxima; the
 * answer is the best lag evaluated, ties to the first in row-major order as in xcorr.c.
 * Whether this finds the exhaustive maximum is an empirical property of the data: bench_cmc
 * --verify compares it with the exhaustive search cell by cell and rotation by rotation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cmc_internal.h"

#define MAX_KEEP 32

ibex_status ibex__cf_work_init(ibex__cf_work *w, const ibex__fft *coarse, size_t max_lags,
                               size_t max_row)
{
    memset(w, 0, sizeof *w);
    ibex_status st = ibex__xc_work_init(&w->coarse, coarse);
    if (st) return st;
    w->nlag = max_lags;
    w->nones = max_row;
    w->map = malloc(coarse->nx * coarse->ny * sizeof *w->map);
    w->val = malloc((max_lags + 1) * sizeof *w->val);
    w->stamp = calloc(max_lags + 1, sizeof *w->stamp);
    w->ones = malloc((max_row + 8) * sizeof *w->ones);
    if (!w->map || !w->val || !w->stamp || !w->ones) {
        ibex__cf_work_free(w);
        return IBEX_ERR_NOMEM;
    }
    for (size_t i = 0; i < max_row + 8; i++) w->ones[i] = 1.0f;
    return IBEX_OK;
}

void ibex__cf_work_free(ibex__cf_work *w)
{
    if (!w) return;
    ibex__xc_work_free(&w->coarse);
    free(w->map);
    free(w->val);
    free(w->stamp);
    free(w->ones);
    memset(w, 0, sizeof *w);
}

/* Block means over D x D blocks of z (stride s); a block is valid when at least half of
 * its points are. out is (w / D) x (h / D). */
static void decimate(const float *z, const unsigned char *m, size_t s, size_t w, size_t h,
                     unsigned D, float *out, unsigned char *om)
{
    size_t W = w / D, H = h / D;
    for (size_t J = 0; J < H; J++)
        for (size_t I = 0; I < W; I++) {
            double sum = 0;
            unsigned k = 0;
            for (unsigned b = 0; b < D; b++)
                for (unsigned a = 0; a < D; a++) {
                    size_t i = (J * D + b) * s + I * D + a;
                    if (m[i]) {
                        sum += z[i];
                        k++;
                    }
                }
            int ok = 2 * k >= D * D;
            out[J * W + I] = ok ? (float)(sum / k) : 0.0f;
            om[J * W + I] = (unsigned char)ok;
        }
}

ibex_status ibex__cf_cell_init(ibex__cf_cell *c, ibex__xc_work *cw, unsigned D, const float *z,
                               const unsigned char *m, size_t s, size_t w, size_t h,
                               double min_overlap_frac)
{
    float *spec = c->coarse.spec;
    memset(c, 0, sizeof *c);
    c->coarse.spec = spec;
    c->w = w;
    c->h = h;
    size_t W = w / D, H = h / D;
    c->tf = malloc(w * h * sizeof *c->tf);
    c->tm = malloc(w * h * sizeof *c->tm);
    float *zc = malloc((W * H + 1) * sizeof *zc);
    unsigned char *mc = malloc(W * H + 1);
    if (!c->tf || !c->tm || !zc || !mc) {
        free(zc);
        free(mc);
        ibex__cf_cell_free(c);
        return IBEX_ERR_NOMEM;
    }
    /* the normalisation of fill3 (xcorr.c), so the variance floor means the same */
    double mu, sd;
    ibex__xc_moments(z, m, s, w, h, &mu, &sd, &c->nvalid);
    float fmu = (float)mu, inv = (float)(1.0 / sd);
    for (size_t y = 0; y < h; y++)
        for (size_t x = 0; x < w; x++) {
            size_t i = y * s + x, o = y * w + x;
            c->tf[o] = m[i] ? (z[i] - fmu) * inv : 0.0f;
            c->tm[o] = m[i] ? 1.0f : 0.0f;
        }
    size_t nm = (size_t)ceil(min_overlap_frac * (double)c->nvalid);
    c->nmin = nm < 4 ? 4 : nm;
    decimate(z, m, s, w, h, D, zc, mc);
    ibex__xc_prepare(cw, zc, mc, W, W, H, &c->coarse);
    /* coarse overlaps are counted in blocks; a lenient minimum keeps the lags near the
     * full-resolution limit among the candidates */
    size_t cm = (size_t)floor(0.75 * min_overlap_frac * (double)c->coarse.nvalid);
    c->coarse_nmin = cm < 2 ? 2 : cm;
    free(zc);
    free(mc);
    return IBEX_OK;
}

void ibex__cf_cell_free(ibex__cf_cell *c)
{
    if (!c) return;
    free(c->tf);
    free(c->tm);
    c->tf = c->tm = NULL;
}

ibex_status ibex__cf_target_alloc(ibex__cf_target *t, size_t nx, size_t ny, unsigned D,
                                  size_t cpad)
{
    memset(t, 0, sizeof *t);
    t->nx = nx;
    t->ny = ny;
    t->D = D;
    t->cpad = cpad;
    t->cnx = (nx + D - 1) / D + 2 * cpad;
    t->cny = (ny + D - 1) / D + 2 * cpad;
    t->g1 = malloc(nx * ny * sizeof *t->g1);
    t->gm = malloc(nx * ny * sizeof *t->gm);
    t->cz = malloc(t->cnx * t->cny * sizeof *t->cz);
    t->cm = malloc(t->cnx * t->cny);
    if (!t->g1 || !t->gm || !t->cz || !t->cm) {
        ibex__cf_target_free(t);
        return IBEX_ERR_NOMEM;
    }
    return IBEX_OK;
}

void ibex__cf_target_free(ibex__cf_target *t)
{
    if (!t) return;
    free(t->g1);
    free(t->gm);
    free(t->cz);
    free(t->cm);
    memset(t, 0, sizeof *t);
}

void ibex__cf_target_fill(ibex__cf_target *t, const float *rot, const unsigned char *rotm,
                          float shift, float scale)
{
    size_t nx = t->nx, ny = t->ny, cnx = t->cnx, D = t->D;
    for (size_t i = 0; i < nx * ny; i++) {
        t->g1[i] = rotm[i] ? (rot[i] - shift) * scale : 0.0f;
        t->gm[i] = rotm[i] ? 1.0f : 0.0f;
    }
    /* coarse block sums (cz) and counts (cm, D*D <= 255 points) */
    memset(t->cz, 0, cnx * t->cny * sizeof *t->cz);
    memset(t->cm, 0, cnx * t->cny);
    for (size_t y = 0; y < ny; y++) {
        size_t J = y / D + t->cpad;
        float *cz = t->cz + J * cnx + t->cpad;
        unsigned char *cm = t->cm + J * cnx + t->cpad;
        const float *g = t->g1 + y * nx;
        const unsigned char *m = rotm + y * nx;
        for (size_t x = 0; x < nx; x++) {
            cz[x / D] += g[x];
            cm[x / D] += m[x];
        }
    }
    for (size_t i = 0; i < cnx * t->cny; i++) {
        unsigned k = t->cm[i];
        int ok = 2 * k >= D * D;
        t->cz[i] = ok ? t->cz[i] / (float)k : 0.0f;
        t->cm[i] = (unsigned char)ok;
    }
}

/* Clips the rectangle [x0, x0 + w) x [y0, y0 + h) of target coordinates to the target;
 * returns 0 when nothing is left, else the offsets (a, b) into the rectangle and its size. */
static int clip(const ibex__cf_target *t, long x0, long y0, size_t w, size_t h, size_t *a,
                size_t *b, size_t *cw, size_t *ch)
{
    long xa = x0 < 0 ? -x0 : 0, ya = y0 < 0 ? -y0 : 0;
    long xb = x0 + (long)w > (long)t->nx ? (long)t->nx - x0 : (long)w;
    long yb = y0 + (long)h > (long)t->ny ? (long)t->ny - y0 : (long)h;
    if (xa >= xb || ya >= yb) return 0;
    *a = (size_t)xa;
    *b = (size_t)ya;
    *cw = (size_t)(xb - xa);
    *ch = (size_t)(yb - ya);
    return 1;
}

size_t ibex__cf_region_count(ibex__cf_work *w, const ibex__kernels *k, const ibex__cf_target *t,
                             long rx, long ry, size_t rw, size_t rh, double *mean, double *sd)
{
    size_t a, b, cw, ch;
    *mean = 0;
    *sd = 1;
    if (!clip(t, rx, ry, rw, rh, &a, &b, &cw, &ch)) return 0;
    /* lag6 against a row of ones (stride 0): out[0] = sum g, out[2] = sum g^2, out[5] = n */
    double s[6];
    size_t o = (size_t)(ry + (long)b) * t->nx + (size_t)(rx + (long)a);
    k->lag6(t->g1 + o, t->gm + o, t->nx, cw, ch, w->ones, w->ones, 0, s);
    size_t n = (size_t)llround(s[5]);
    if (!n) return 0;
    double mu = s[0] / (double)n, v = n > 1 ? s[2] / (double)n - mu * mu : 0;
    *mean = mu;
    *sd = v > 0 ? sqrt(v) : 1;
    return n;
}

typedef struct search {
    ibex__cf_work *w;
    const ibex__kernels *k;
    const ibex__cf_cell *c;
    const ibex__cf_target *t;
    long rx, ry;
    size_t nu, nv;
    double inv_var; /* 1 / region variance, for the variance floor in fill3's units */
    ibex__xc_peak best;
} search;

/* Masked NCC at lag (u, v), as ncc_row of the kernels computes it from the six maps. */
static float ncc_at(search *s, size_t u, size_t v)
{
    size_t li = v * s->nu + u;
    ibex__cf_work *w = s->w;
    if (w->stamp[li] == w->gen) return w->val[li];
    const ibex__cf_cell *c = s->c;
    const ibex__cf_target *t = s->t;
    long x0 = s->rx + (long)u, y0 = s->ry + (long)v;
    size_t a, b, cw, ch;
    float r = IBEX__NO_SCORE;
    double n = 0;
    if (clip(t, x0, y0, c->w, c->h, &a, &b, &cw, &ch)) {
        double S[6];
        size_t to = b * c->w + a, go = (size_t)(y0 + (long)b) * t->nx + (size_t)(x0 + (long)a);
        s->k->lag6(c->tf + to, c->tm + to, c->w, cw, ch, t->g1 + go, t->gm + go, t->nx, S);
        w->evals++;
        n = rint(S[5]);
        if (n >= (double)c->nmin) {
            double inv = 1.0 / n;
            double num = S[0] - S[1] * S[3] * inv;
            double vf = S[2] - S[1] * S[1] * inv;
            double vg = S[4] - S[3] * S[3] * inv;
            if (vf > 1e-4 * n && vg * s->inv_var > 1e-4 * n) {
                double q = num / sqrt(vf * vg);
                r = (float)(q > 1 ? 1 : q < -1 ? -1 : q);
            }
        }
    }
    w->stamp[li] = w->gen;
    w->val[li] = r;
    ibex__xc_peak *p = &s->best;
    if (r > p->ccf || (r == p->ccf && r > IBEX__NO_SCORE &&
                       ((long)v < p->v || ((long)v == p->v && (long)u < p->u)))) {
        p->ccf = r;
        p->u = (long)u;
        p->v = (long)v;
        p->overlap = (size_t)n;
    }
    return r;
}

/* From the best lag within r of (u, v), steepest ascent over the 8 neighbours until no
 * neighbour is higher. */
static void climb(search *s, long u0, long v0, long r)
{
    long u = -1, v = -1;
    float cur = IBEX__NO_SCORE - 1;
    for (long y = v0 - r; y <= v0 + r; y++)
        for (long x = u0 - r; x <= u0 + r; x++) {
            if (x < 0 || y < 0 || x >= (long)s->nu || y >= (long)s->nv) continue;
            float q = ncc_at(s, (size_t)x, (size_t)y);
            if (q > cur) {
                cur = q;
                u = x;
                v = y;
            }
        }
    if (u < 0 || cur <= IBEX__NO_SCORE) return;
    for (;;) {
        long bu = u, bv = v;
        float bval = cur;
        for (long dv = -1; dv <= 1; dv++)
            for (long du = -1; du <= 1; du++) {
                long x = u + du, y = v + dv;
                if ((!du && !dv) || x < 0 || y < 0 || x >= (long)s->nu || y >= (long)s->nv)
                    continue;
                float q = ncc_at(s, (size_t)x, (size_t)y);
                if (q > bval) {
                    bval = q;
                    bu = x;
                    bv = y;
                }
            }
        if (bu == u && bv == v) return;
        u = bu;
        v = bv;
        cur = bval;
    }
}

ibex__xc_peak ibex__cf_search(ibex__cf_work *w, const ibex__kernels *k, const ibex__cf_cell *c,
                              const ibex__cf_target *t, long rx, long ry, size_t rw, size_t rh,
                              double region_sd, unsigned keep, double *seconds, double *flops,
                              int *fallback)
{
    ibex__xc_peak none = {IBEX__NO_SCORE, 0, 0, 0};
    *fallback = 1;
    size_t D = t->D, TW = c->coarse.w, TH = c->coarse.h;
    if (c->coarse.nvalid < 4 || rw < c->w || rh < c->h) return none;
    /* coarse region: the blocks covering the region */
    long px = rx + (long)(D * t->cpad), py = ry + (long)(D * t->cpad);
    if (px < 0 || py < 0) return none;
    size_t RX = (size_t)px / D, RY = (size_t)py / D, ox = (size_t)px % D, oy = (size_t)py % D;
    size_t RW = (ox + rw + D - 1) / D, RH = (oy + rh + D - 1) / D;
    if (RX + RW > t->cnx || RY + RH > t->cny || RW < TW || RH < TH ||
        RW > w->coarse.fft->nx || RH > w->coarse.fft->ny)
        return none;
    ibex__xc_run(&w->coarse, k, &c->coarse, t->cz + RY * t->cnx + RX, t->cm + RY * t->cnx + RX,
                 t->cnx, RW, RH, c->coarse_nmin, w->map, seconds, flops);
    double t0 = ibex__now();
    /* the `keep` best coarse local maxima (plateaus: the first point of each) */
    size_t NU = RW - TW + 1, NV = RH - TH + 1;
    float cv[MAX_KEEP];
    long cu[MAX_KEEP], cvv[MAX_KEEP];
    unsigned nc = 0;
    if (keep > MAX_KEEP) keep = MAX_KEEP;
    for (size_t V = 0; V < NV; V++)
        for (size_t U = 0; U < NU; U++) {
            float q = w->map[V * NU + U];
            if (q <= IBEX__NO_SCORE || (nc == keep && q <= cv[nc - 1])) continue;
            int peak = 1;
            for (long dv = -1; dv <= 1 && peak; dv++)
                for (long du = -1; du <= 1; du++) {
                    long x = (long)U + du, y = (long)V + dv;
                    if ((!du && !dv) || x < 0 || y < 0 || x >= (long)NU || y >= (long)NV) continue;
                    float r = w->map[(size_t)y * NU + (size_t)x];
                    int earlier = dv < 0 || (dv == 0 && du < 0);
                    if (earlier ? r >= q : r > q) {
                        peak = 0;
                        break;
                    }
                }
            if (!peak) continue;
            unsigned j = nc < keep ? nc++ : keep - 1;
            while (j > 0 && cv[j - 1] < q) {
                cv[j] = cv[j - 1];
                cu[j] = cu[j - 1];
                cvv[j] = cvv[j - 1];
                j--;
            }
            cv[j] = q;
            cu[j] = (long)U;
            cvv[j] = (long)V;
        }
    if (!nc) {
        if (seconds) seconds[1] += ibex__now() - t0;
        return none;
    }
    double t1 = ibex__now();
    if (seconds) seconds[1] += t1 - t0;
    search s = {w, k, c, t, rx, ry, rw - c->w + 1, rh - c->h + 1,
                1.0 / (region_sd * region_sd), none};
    if (++w->gen == 0) { /* wrapped: forget every stamp */
        memset(w->stamp, 0, (w->nlag + 1) * sizeof *w->stamp);
        w->gen = 1;
    }
    /* coarse lag U places template block i on the block holding target point
     * rx - ox + D (U + i): the full-resolution lag D U - ox */
    for (unsigned i = 0; i < nc; i++)
        climb(&s, (long)D * cu[i] - (long)ox, (long)D * cvv[i] - (long)oy, (long)D - 1);
    if (seconds) seconds[2] += ibex__now() - t1;
    if (s.best.ccf <= IBEX__NO_SCORE) return none;
    *fallback = 0;
    return s.best;
}
