/* baseline-ncc: masked areal NCC over a rotation grid (method in baseline_internal.h). */
#include <fftw3.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "baseline_internal.h"
#include "cmc_internal.h"
#include "ibex_internal.h"

#define TARGET_SPACING 25e-6   /* fine level; the coarse level is twice that */
#define HIGHPASS_SIGMA 0.25e-3
/* Shifts must overlap by half the largest overlap any shift reaches at that rotation (so
 * two annular breech faces of different radii still compare) and by at least 10% of the
 * smaller valid area (tiny overlaps give spurious correlations). */
#define OVERLAP_OF_BEST 0.5
#define MIN_OVERLAP 0.1
#define COARSE_STEP 6.0
#define FINE_STEP 1.0

typedef struct level {
    size_t nx, ny;
    double spacing;
    float *z;     /* high-passed, unit RMS, 0 where invalid */
    float *m;     /* 1 valid, 0 invalid */
    size_t n_valid;
} level;

/* Coarse level (50 um) for the full rotation search, fine level (25 um) to refine. */
struct ibex__ncc_prep {
    level lv[2];
};

/* Separable Gaussian blur of v (nx*ny), truncated at 3 sigma, zero outside. */
static void blur(const double *v, double *out, double *tmp, size_t nx, size_t ny, double sigma)
{
    int r = (int)ceil(3 * sigma);
    double *k = malloc((size_t)(2 * r + 1) * sizeof *k);
    for (int i = -r; i <= r; i++) k[i + r] = exp(-0.5 * i * i / (sigma * sigma));
    for (size_t y = 0; y < ny; y++)
        for (size_t x = 0; x < nx; x++) {
            double s = 0;
            for (int i = -r; i <= r; i++) {
                long xx = (long)x + i;
                if (xx >= 0 && xx < (long)nx) s += k[i + r] * v[y * nx + (size_t)xx];
            }
            tmp[y * nx + x] = s;
        }
    for (size_t y = 0; y < ny; y++)
        for (size_t x = 0; x < nx; x++) {
            double s = 0;
            for (int i = -r; i <= r; i++) {
                long yy = (long)y + i;
                if (yy >= 0 && yy < (long)ny) s += k[i + r] * tmp[(size_t)yy * nx + x];
            }
            out[y * nx + x] = s;
        }
    free(k);
}

static void level_free(level *p)
{
    free(p->z);
    free(p->m);
    memset(p, 0, sizeof *p);
}

static ibex_status make_level(const ibex_surface *s, double target, level *p, ibex_diag *diag)
{
    /* Block averaging to ~target; a block is valid when half its points are. */
    size_t f = (size_t)fmax(1, round(target / s->dx));
    size_t nx = (s->nx + f - 1) / f, ny = (s->ny + f - 1) / f, n = nx * ny;
    double *v = calloc(n, sizeof *v), *w = calloc(n, sizeof *w);
    double *lv = malloc(n * sizeof *lv), *lw = malloc(n * sizeof *lw), *tmp = malloc(n * sizeof *tmp);
    p->z = malloc(n * sizeof *p->z);
    p->m = malloc(n * sizeof *p->m);
    if (!v || !w || !lv || !lw || !tmp || !p->z || !p->m) {
        free(v), free(w), free(lv), free(lw), free(tmp);
        level_free(p);
        return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    }
    for (size_t y = 0; y < s->ny; y++)
        for (size_t x = 0; x < s->nx; x++) {
            size_t i = y * s->nx + x, o = (y / f) * nx + x / f;
            if (s->valid[i]) v[o] += s->z[i], w[o] += 1;
        }
    for (size_t o = 0; o < n; o++) {
        size_t bw = f * f; /* edge blocks are smaller, but half of a full block is the rule */
        if (w[o] * 2 >= (double)bw) v[o] /= w[o], w[o] = 1;
        else v[o] = 0, w[o] = 0;
    }
    /* Masked (normalised-convolution) Gaussian low-pass, subtracted: a high-pass that
     * ignores invalid points instead of treating them as zero height. */
    double sigma = HIGHPASS_SIGMA / (s->dx * (double)f);
    blur(v, lv, tmp, nx, ny, sigma);
    blur(w, lw, tmp, nx, ny, sigma);
    double ss = 0;
    size_t nv = 0;
    for (size_t o = 0; o < n; o++) {
        if (w[o] > 0 && lw[o] > 1e-9) {
            v[o] -= lv[o] / lw[o];
            ss += v[o] * v[o];
            nv++;
        } else {
            v[o] = 0, w[o] = 0;
        }
    }
    double rms = nv ? sqrt(ss / (double)nv) : 0;
    if (nv < 16 || !(rms > 0)) {
        free(v), free(w), free(lv), free(lw), free(tmp);
        level_free(p);
        return ibex__fail(diag, IBEX_ERR_FORMAT, "", -1,
                          "too few valid points for an areal comparison (%zu)", nv);
    }
    for (size_t o = 0; o < n; o++) {
        p->z[o] = (float)(v[o] / rms);
        p->m[o] = (float)w[o];
    }
    p->nx = nx, p->ny = ny, p->n_valid = nv, p->spacing = s->dx * (double)f;
    free(v), free(w), free(lv), free(lw), free(tmp);
    return IBEX_OK;
}

ibex_status ibex__ncc_prepare(const ibex_surface *s, ibex__ncc_prep **out, ibex_diag *diag)
{
    if (!s || s->nx == 0 || s->ny == 0 || !(s->dx > 0) || !(s->dy > 0))
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "empty surface");
    ibex__ncc_prep *p = calloc(1, sizeof *p);
    if (!p) return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    ibex_status st = make_level(s, 2 * TARGET_SPACING, &p->lv[0], diag);
    if (!st) st = make_level(s, TARGET_SPACING, &p->lv[1], diag);
    if (st) {
        ibex__ncc_free(p);
        return st;
    }
    *out = p;
    return IBEX_OK;
}

void ibex__ncc_free(ibex__ncc_prep *p)
{
    if (!p) return;
    level_free(&p->lv[0]);
    level_free(&p->lv[1]);
    free(p);
}

/* ---- FFT plans: FFTW's planner is not thread-safe, so plans are made under the engine's
 * one planner lock (plan.c) and cached by size; executing a plan on new arrays
 * (fftwf_execute_dft_*) is thread-safe. ---- */
typedef struct plan_pair {
    size_t nx, ny;
    fftwf_plan fwd, inv;
} plan_pair;
static plan_pair plans[16];
static size_t n_plans;

/* ESTIMATE plans for nx x ny into pp; 0 on success. Call under the planner lock. */
static int make_plans(size_t nx, size_t ny, plan_pair *pp)
{
    size_t nc = ny * (nx / 2 + 1);
    float *r = fftwf_malloc(nx * ny * sizeof *r);
    fftwf_complex *c = fftwf_malloc(nc * sizeof *c);
    int ok = 0;
    if (r && c) {
        pp->fwd = fftwf_plan_dft_r2c_2d((int)ny, (int)nx, r, c, FFTW_ESTIMATE);
        pp->inv = fftwf_plan_dft_c2r_2d((int)ny, (int)nx, c, r, FFTW_ESTIMATE);
        ok = pp->fwd && pp->inv;
        if (!ok) {
            if (pp->fwd) fftwf_destroy_plan(pp->fwd);
            if (pp->inv) fftwf_destroy_plan(pp->inv);
        }
        pp->nx = nx, pp->ny = ny;
    }
    fftwf_free(r);
    fftwf_free(c);
    return ok ? 0 : -1;
}

/* Cached plans for nx x ny; once the cache is full (many scan sizes in one process), plans
 * made into *tmp for this call only, which the caller frees with drop_plans. */
static const plan_pair *get_plans(size_t nx, size_t ny, plan_pair *tmp)
{
    const plan_pair *found = NULL;
    ibex__fftw_lock();
    for (size_t i = 0; i < n_plans && !found; i++)
        if (plans[i].nx == nx && plans[i].ny == ny) found = &plans[i];
    if (!found && n_plans < sizeof plans / sizeof plans[0]) {
        if (make_plans(nx, ny, &plans[n_plans]) == 0) found = &plans[n_plans++];
    } else if (!found && make_plans(nx, ny, tmp) == 0) {
        found = tmp;
    }
    ibex__fftw_unlock();
    return found;
}

static void drop_plans(const plan_pair *pp, plan_pair *tmp)
{
    if (pp != tmp) return; /* cached: kept for the process */
    ibex__fftw_lock();
    fftwf_destroy_plan(tmp->fwd);
    fftwf_destroy_plan(tmp->inv);
    ibex__fftw_unlock();
}

typedef struct work {
    size_t L, Ly, nc;      /* padded real size L x Ly, complex count */
    const plan_pair *pp;
    float *r;              /* real scratch */
    fftwf_complex *FA, *FA2, *FMa, *FB, *FB2, *FMb, *prod;
    float *c_ab, *c_amb, *c_mab, *c_a2mb, *c_mab2, *c_mamb;
    float *bz, *bm;        /* rotated b, D x D */
    size_t D;
} work;

static void fwd(work *w, const float *src, size_t nx, size_t ny, fftwf_complex *dst)
{
    memset(w->r, 0, w->L * w->Ly * sizeof *w->r);
    for (size_t y = 0; y < ny; y++) memcpy(w->r + y * w->L, src + y * nx, nx * sizeof *src);
    fftwf_execute_dft_r2c(w->pp->fwd, w->r, dst);
}

/* out[s] = sum_x f(x + s) g(x), circular over L x Ly. */
static void xcorr(work *w, fftwf_complex *F, fftwf_complex *G, float *out)
{
    for (size_t i = 0; i < w->nc; i++) {
        float fr = F[i][0], fi = F[i][1], gr = G[i][0], gi = G[i][1];
        w->prod[i][0] = fr * gr + fi * gi;
        w->prod[i][1] = fi * gr - fr * gi;
    }
    fftwf_execute_dft_c2r(w->pp->inv, w->prod, out);
}

/* Bilinear rotation of b by theta about its centre into the D x D canvas; a point is
 * valid when its four source neighbours are. */
static void rotate(const level *b, double theta, float *z, float *m, size_t D)
{
    double c = cos(theta), s = sin(theta);
    double cx = 0.5 * (double)(b->nx - 1), cy = 0.5 * (double)(b->ny - 1);
    /* Canvas centre a whole number of points from b's origin: theta = 0 copies exactly. */
    double ux = cx + (double)((D - b->nx) / 2), uy = cy + (double)((D - b->ny) / 2);
    for (size_t v = 0; v < D; v++)
        for (size_t u = 0; u < D; u++) {
            double du = (double)u - ux, dv = (double)v - uy;
            double x = cx + c * du + s * dv, y = cy - s * du + c * dv;
            size_t o = v * D + u;
            z[o] = 0, m[o] = 0;
            if (x < 0 || y < 0 || x > (double)(b->nx - 1) || y > (double)(b->ny - 1)) continue;
            size_t x0 = (size_t)x, y0 = (size_t)y;
            size_t x1 = x0 + 1 < b->nx ? x0 + 1 : x0, y1 = y0 + 1 < b->ny ? y0 + 1 : y0;
            size_t i00 = y0 * b->nx + x0, i10 = y0 * b->nx + x1, i01 = y1 * b->nx + x0,
                   i11 = y1 * b->nx + x1;
            if (!(b->m[i00] > 0 && b->m[i10] > 0 && b->m[i01] > 0 && b->m[i11] > 0)) continue;
            double fx = x - (double)x0, fy = y - (double)y0;
            z[o] = (float)((1 - fy) * ((1 - fx) * b->z[i00] + fx * b->z[i10]) +
                           fy * ((1 - fx) * b->z[i01] + fx * b->z[i11]));
            m[o] = 1;
        }
}

/* Best masked NCC over all translations for one rotation (Padfield 2012): the six
 * correlations give, per shift, the overlap count and the sums needed for the means
 * and variances of both surfaces over that overlap only. */
static double ncc_at(work *w, const level *a, const level *b, double theta,
                     size_t min_overlap_a, long *sx, long *sy, double *overlap)
{
    size_t D = w->D;
    rotate(b, theta, w->bz, w->bm, D);
    size_t nb = 0;
    for (size_t i = 0; i < D * D; i++) {
        nb += w->bm[i] > 0;
        w->bz[i] = w->bm[i] > 0 ? w->bz[i] : 0;
    }
    fwd(w, w->bz, D, D, w->FB);
    for (size_t i = 0; i < D * D; i++) w->c_ab[i] = w->bz[i] * w->bz[i]; /* scratch: b^2 */
    fwd(w, w->c_ab, D, D, w->FB2);
    fwd(w, w->bm, D, D, w->FMb);
    xcorr(w, w->FA, w->FB, w->c_ab);
    xcorr(w, w->FA, w->FMb, w->c_amb);
    xcorr(w, w->FMa, w->FB, w->c_mab);
    xcorr(w, w->FA2, w->FMb, w->c_a2mb);
    xcorr(w, w->FMa, w->FB2, w->c_mab2);
    xcorr(w, w->FMa, w->FMb, w->c_mamb);
    double norm = 1.0 / (double)(w->L * w->Ly); /* FFTW's inverse is unnormalised */
    size_t smaller = nb < a->n_valid ? nb : a->n_valid;
    double nmax = 0;
    for (size_t i = 0; i < w->L * w->Ly; i++) nmax = fmax(nmax, w->c_mamb[i] * norm);
    double need = fmax(fmax((double)min_overlap_a, MIN_OVERLAP * (double)smaller),
                       OVERLAP_OF_BEST * nmax);
    double best = -2;
    for (size_t i = 0; i < w->L * w->Ly; i++) {
        double N = w->c_mamb[i] * norm;
        if (N < need) continue;
        double sa = w->c_amb[i] * norm, sb = w->c_mab[i] * norm;
        double va = w->c_a2mb[i] * norm - sa * sa / N, vb = w->c_mab2[i] * norm - sb * sb / N;
        /* Float sums: variances below 1e-3 of the overlap count are round-off. */
        if (va < 1e-3 * N || vb < 1e-3 * N) continue;
        double r = (w->c_ab[i] * norm - sa * sb / N) / sqrt(va * vb);
        if (r > best) {
            best = r;
            long ix = (long)(i % w->L), iy = (long)(i / w->L);
            *sx = ix > (long)w->L / 2 ? ix - (long)w->L : ix;
            *sy = iy > (long)w->Ly / 2 ? iy - (long)w->Ly : iy;
            *overlap = N / (double)smaller;
        }
    }
    return best > 1 ? 1 : best;
}

static void work_free(work *w)
{
    fftwf_free(w->r);
    fftwf_complex *cs[] = {w->FA, w->FA2, w->FMa, w->FB, w->FB2, w->FMb, w->prod};
    for (size_t i = 0; i < 7; i++) fftwf_free(cs[i]);
    float *fs[] = {w->c_ab, w->c_amb, w->c_mab, w->c_a2mb, w->c_mab2, w->c_mamb};
    for (size_t i = 0; i < 6; i++) fftwf_free(fs[i]);
    free(w->bz);
    free(w->bm);
}

/* Best NCC of b rotated by each of the angles (degrees) against a, at one level; per_angle
 * (optional) gets each angle's best NCC. */
static ibex_status search(const level *a, const level *b, const double *angles, size_t n_angles,
                          double *best, double *best_angle, long *bsx, long *bsy, double *bov,
                          double *per_angle, ibex_diag *diag)
{
    work w;
    memset(&w, 0, sizeof w);
    w.D = (size_t)ceil(hypot((double)b->nx, (double)b->ny)) + 1;
    w.L = ibex__fft_good_size(a->nx + w.D - 1);
    w.Ly = ibex__fft_good_size(a->ny + w.D - 1);
    w.nc = w.Ly * (w.L / 2 + 1);
    plan_pair tmp;
    memset(&tmp, 0, sizeof tmp);
    w.pp = get_plans(w.L, w.Ly, &tmp);
    if (!w.pp) return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "no FFT plan");
    size_t nr = w.L * w.Ly;
    w.r = fftwf_malloc(nr * sizeof *w.r);
    fftwf_complex **cs[] = {&w.FA, &w.FA2, &w.FMa, &w.FB, &w.FB2, &w.FMb, &w.prod};
    int ok = w.r != NULL;
    for (size_t i = 0; i < 7; i++) ok &= (*cs[i] = fftwf_malloc(w.nc * sizeof **cs[i])) != NULL;
    float **fs[] = {&w.c_ab, &w.c_amb, &w.c_mab, &w.c_a2mb, &w.c_mab2, &w.c_mamb};
    for (size_t i = 0; i < 6; i++) ok &= (*fs[i] = fftwf_malloc(nr * sizeof **fs[i])) != NULL;
    w.bz = malloc(w.D * w.D * sizeof *w.bz);
    w.bm = malloc(w.D * w.D * sizeof *w.bm);
    size_t na = a->nx * a->ny;
    float *a2 = malloc(na * sizeof *a2);
    if (!ok || !w.bz || !w.bm || !a2) {
        free(a2);
        work_free(&w);
        drop_plans(w.pp, &tmp);
        return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    }
    for (size_t i = 0; i < na; i++) a2[i] = a->z[i] * a->z[i];
    fwd(&w, a->z, a->nx, a->ny, w.FA);
    fwd(&w, a2, a->nx, a->ny, w.FA2);
    fwd(&w, a->m, a->nx, a->ny, w.FMa);
    free(a2);
    const double deg = 3.14159265358979323846 / 180;
    *best = -2;
    for (size_t k = 0; k < n_angles; k++) {
        long sx = 0, sy = 0;
        double ov = 0;
        double r = ncc_at(&w, a, b, angles[k] * deg, 0, &sx, &sy, &ov);
        if (per_angle) per_angle[k] = r;
        if (r > *best) *best = r, *best_angle = angles[k], *bsx = sx, *bsy = sy, *bov = ov;
    }
    work_free(&w);
    drop_plans(w.pp, &tmp);
    return IBEX_OK;
}

static ibex_status same_spacing(const level *a, const level *b, ibex_diag *diag)
{
    if (fabs(a->spacing - b->spacing) <= 0.05 * a->spacing) return IBEX_OK;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, "spacings differ after downsampling (%.3g vs %.3g um)",
                      a->spacing * 1e6, b->spacing * 1e6);
}

static ibex_status never_overlap(ibex_diag *diag)
{
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, "surfaces never overlap by %.0f%% of the smaller valid area",
                      MIN_OVERLAP * 100);
}

/* Refine a coarse angle at the fine level, in FINE_STEP steps over +-COARSE_STEP/2. */
static ibex_status refine(const level *a, const level *b, double centre, ibex__ncc_result *res,
                          ibex_diag *diag)
{
    double angles[16], best, best_angle = centre, ov = 0;
    long sx = 0, sy = 0;
    size_t n = 0;
    for (double t = centre - COARSE_STEP / 2 + FINE_STEP; t < centre + COARSE_STEP / 2 - 1e-9;
         t += FINE_STEP)
        angles[n++] = t;
    ibex_status st = search(a, b, angles, n, &best, &best_angle, &sx, &sy, &ov, NULL, diag);
    if (st) return st;
    if (best < -1) return never_overlap(diag);
    res->ncc = best;
    res->angle_deg = fmod(best_angle + 360, 360);
    /* Shift of the rotated-b canvas origin onto a's grid, in metres. */
    res->shift_x = (double)sx * a->spacing;
    res->shift_y = (double)sy * a->spacing;
    res->overlap = ov;
    return IBEX_OK;
}

ibex_status ibex__ncc_candidates(const ibex__ncc_prep *pa, const ibex__ncc_prep *pb, size_t k,
                                 double min_sep, ibex__ncc_result *res, size_t *n_out,
                                 ibex_diag *diag)
{
    if (!pa || !pb || !res || !n_out || k == 0)
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "missing argument");
    const level *a = &pa->lv[1], *b = &pb->lv[1];
    ibex_status st0 = same_spacing(a, b, diag);
    if (st0) return st0;
    /* Full turn on the coarse level, then the fine level around the chosen angles. */
    double angles[64], per[64], best, best_angle = 0, ov = 0;
    long sx = 0, sy = 0;
    size_t n = 0;
    for (double t = 0; t < 360 - 1e-9 && n < 64; t += COARSE_STEP) angles[n++] = t;
    ibex_status st = search(&pa->lv[0], &pb->lv[0], angles, n, &best, &best_angle, &sx, &sy, &ov,
                            per, diag);
    if (st) return st;
    if (best < -1) return never_overlap(diag); /* no rotation gave enough overlap */
    /* Greedy: the best coarse angle, then the best one at least min_sep (circularly) from
     * every angle taken, and so on; ties go to the smaller angle, as in search. */
    size_t taken[64], nt = 0;
    while (nt < k) {
        size_t pick = n;
        for (size_t i = 0; i < n; i++) {
            if (per[i] < -1) continue;
            int ok = 1;
            for (size_t j = 0; j < nt && ok; j++) {
                double dd = fabs(angles[i] - angles[taken[j]]);
                ok = fmin(dd, 360 - dd) >= min_sep - 1e-9;
            }
            if (ok && (pick == n || per[i] > per[pick])) pick = i;
        }
        if (pick == n) break;
        taken[nt++] = pick;
    }
    for (size_t j = 0; j < nt; j++)
        if ((st = refine(a, b, angles[taken[j]], &res[j], diag))) return st;
    *n_out = nt;
    return IBEX_OK;
}

ibex_status ibex__ncc_compare(const ibex__ncc_prep *pa, const ibex__ncc_prep *pb,
                              ibex__ncc_result *res, ibex_diag *diag)
{
    if (!res) return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "missing argument");
    size_t n = 0;
    return ibex__ncc_candidates(pa, pb, 1, 360, res, &n, diag);
}

ibex_status ibex__ncc_window(const ibex__ncc_prep *pa, const ibex__ncc_prep *pb, double theta_min,
                             double theta_max, ibex__ncc_result *res, ibex_diag *diag)
{
    if (!pa || !pb || !res || !(theta_min <= theta_max) || theta_max - theta_min > 360)
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "bad rotation window");
    ibex_status st = same_spacing(&pa->lv[1], &pb->lv[1], diag);
    if (st) return st;
    double angles[128], best, best_angle = 0, ov = 0;
    long sx = 0, sy = 0;
    size_t n = 0;
    for (double t = theta_min; t <= theta_max + 1e-9 && n < 128; t += 3) angles[n++] = t;
    st = search(&pa->lv[0], &pb->lv[0], angles, n, &best, &best_angle, &sx, &sy, &ov, NULL, diag);
    if (st) return st;
    if (best < -1) return never_overlap(diag);
    return refine(&pa->lv[1], &pb->lv[1], best_angle, res, diag); /* within 2 degrees, 1-degree steps */
}
