/* Congruent Matching Cells: cell grid on the reference, registration of every cell in the
 * rotated target by masked NCC (xcorr.c), and the two decision rules:
 *  - original CMC (Song 2013, as in cmcR): per cell the rotation and lag of the highest CCF;
 *    congruent when CCF >= t_ccf and dx, dy, theta lie within t_xy, t_theta of the medians
 *    over cells;
 *  - High-CMC (Tong et al. 2015, as in cmcR): per rotation, cells whose dx, dy lie within
 *    t_xy of that rotation's medians with CCF >= t_ccf are candidates; rotations whose
 *    candidate count is within tau of the top count form the mode, which must span at most
 *    t_theta; the High-CMCs are the cells that are candidates at a mode rotation (0 when the
 *    mode is wider). */
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "ibex/experimental.h"
#include "cmc_internal.h"
#include "ibex_internal.h"

/* Memory for the template spectra of one batch of cells (see run_direction). */
#define IBEX__TEMPLATE_BUDGET ((size_t)24 << 20)

struct ibex_cmc_plan {
    ibex_cmc_opts o;            /* o.experimental points to x */
    ibex_cmc_experimental x;
    ibex__fft_cache *cache;
    const ibex__kernels *k;
    size_t ntheta;
    double *theta;
};

const char *ibex_verdict_name(ibex_verdict v)
{
    switch (v) {
    case IBEX_VERDICT_IDENTIFICATION: return "identification";
    case IBEX_VERDICT_INCONCLUSIVE: return "inconclusive";
    case IBEX_VERDICT_ELIMINATION: return "elimination";
    case IBEX_VERDICT_UNSUITABLE: return "unsuitable";
    }
    return "unknown";
}

void ibex_cmc_opts_init(ibex_cmc_opts *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->cells_x = o->cells_y = 8;
    o->theta_min = -30;
    o->theta_max = 30;
    o->theta_step = 3;
    o->region_factor = 3;
    o->min_valid_frac = 0.15;
    o->min_overlap_frac = 0.5;
    o->t_xy_m = 125e-6;
    o->t_theta = 6;
    o->t_ccf = 0.5;
    o->tau = 1;
    o->id_threshold = 6;
    o->elim_threshold = 2;
}

void ibex_cmc_experimental_init(ibex_cmc_experimental *x)
{
    memset(x, 0, sizeof *x);
    x->struct_size = sizeof *x;
}

ibex_status ibex_cmc_plan_create(const ibex_cmc_opts *o, ibex_cmc_plan **out, ibex_diag *diag)
{
    ibex_cmc_opts d;
    if (!out) return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "no output pointer");
    ibex_cmc_opts_init(&d);
    if (!ibex__opts_merge(&d, sizeof d, o)) return ibex__opts_refused(diag, "ibex_cmc_opts");
    o = &d;
    if (o->cells_x < 1 || o->cells_y < 1 || o->cells_x > 64 || o->cells_y > 64)
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "cell grid must be 1..64 per side");
    if (!(o->theta_step > 0) || !isfinite(o->theta_min) || !isfinite(o->theta_max) ||
        o->theta_max < o->theta_min || o->theta_max - o->theta_min > 360 ||
        (o->theta_max - o->theta_min) / o->theta_step > 3600)
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "bad rotation grid");
    if (!(o->region_factor >= 1 && o->region_factor <= 8))
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "region factor must be 1..8");
    if (!(o->min_valid_frac >= 0 && o->min_valid_frac <= 1) ||
        !(o->min_overlap_frac >= 0 && o->min_overlap_frac <= 1))
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "fractions must be in [0, 1]");
    if (!(o->t_xy_m >= 0) || !(o->t_theta >= 0) || !isfinite(o->t_ccf) || !isfinite(o->t_xy_m) ||
        !isfinite(o->t_theta))
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "bad congruence thresholds");
    if (o->fft_plans < IBEX_FFT_PLANS_WISDOM || o->fft_plans > IBEX_FFT_PLANS_MEASURE)
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "unknown fft_plans");
    ibex_cmc_plan *p = calloc(1, sizeof *p);
    if (!p) return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    p->o = *o;
    ibex_cmc_experimental_init(&p->x);
    if (!ibex__opts_merge(&p->x, sizeof p->x, o->experimental)) {
        ibex_cmc_plan_free(p);
        return ibex__opts_refused(diag, "ibex_cmc_experimental");
    }
    p->o.experimental = &p->x;
    p->ntheta = (size_t)floor((o->theta_max - o->theta_min) / o->theta_step + 1e-9) + 1;
    p->theta = malloc(p->ntheta * sizeof *p->theta);
    p->cache = ibex__fft_cache_create(o->fft_plans);
    if (!p->theta || !p->cache) {
        ibex_cmc_plan_free(p);
        return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    }
    for (size_t j = 0; j < p->ntheta; j++) {
        double t = o->theta_min + (double)j * o->theta_step;
        p->theta[j] = fabs(t) < 1e-9 ? 0 : t;
    }
    p->k = p->x.force_scalar ? ibex__kernels_scalar() : ibex__kernels_best();
    *out = p;
    return IBEX_OK;
}

void ibex_cmc_plan_free(ibex_cmc_plan *p)
{
    if (!p) return;
    ibex__fft_cache_free(p->cache);
    free(p->theta);
    free(p);
}

const ibex_cmc_opts *ibex_cmc_plan_opts(const ibex_cmc_plan *p)
{
    return &p->o;
}

const char *ibex_cmc_plan_simd(const ibex_cmc_plan *p)
{
    return p->k->name;
}

void ibex_cmc_result_free(ibex_cmc_result *r)
{
    if (!r) return;
    free(r->cells);
    free(r);
}

/* ---- one direction ---- */

typedef struct cell_res {
    float ccf;
    int dx, dy;
} cell_res;

typedef struct thread_ws {
    ibex__xc_work xc;
    float *rot;
    unsigned char *rotm;
    float *reg;
    unsigned char *regm;
    ibex__cf_work cf;          /* coarse-to-fine search */
    ibex__cf_target tg;
    ibex__xc_template spare;   /* a cell's full spectra when the search falls back */
    double sec[4]; /* rotate, fft, other, full-resolution climbs */
    double flops;
    size_t searches, fallbacks, mismatches;
} thread_ws;

typedef struct dir_ctx {
    const ibex_cmc_plan *p;
    const ibex_surface *ref, *tgt;
    size_t ncell, *cell_idx;        /* used cells: index into the grid */
    size_t lo, hi;                  /* the batch of used cells in flight: [lo, hi) */
    size_t cw, ch, gx0, gy0, lx, ly, rw, rh;
    long ox, oy;
    ibex__xc_template *tpl;         /* per cell of the batch (slot i - lo) */
    size_t *nmin;
    cell_res *res;                  /* [used cell][theta] */
    thread_ws *ws;
    int fast, verify;               /* coarse-to-fine search; also run the FFT path */
    unsigned D, keep;
    ibex__cf_cell *cf;              /* per used cell (fast) */
    float shift, scale;             /* target normalisation for the direct sums */
} dir_ctx;

static void cell_rect(const dir_ctx *c, size_t g, size_t *x, size_t *y)
{
    size_t row = g / c->p->o.cells_x, col = g % c->p->o.cells_x;
    *x = c->gx0 + col * c->cw;
    *y = c->gy0 + row * c->ch;
}

static void do_template(size_t slot, unsigned t, void *vctx)
{
    dir_ctx *c = vctx;
    thread_ws *w = &c->ws[t];
    size_t x, y, i = c->lo + slot;
    cell_rect(c, c->cell_idx[i], &x, &y);
    double t0 = ibex__now();
    const ibex_surface *s = c->ref;
    ibex__xc_prepare(&w->xc, s->z + y * s->nx + x, s->valid + y * s->nx + x, s->nx, c->cw,
                      c->ch, &c->tpl[slot]);
    double n = (double)w->xc.fft->nx * (double)w->xc.fft->ny;
    w->flops += 3 * 2.5 * n * log2(n);
    w->sec[1] += ibex__now() - t0;
    size_t nm = (size_t)ceil(c->p->o.min_overlap_frac * (double)c->tpl[slot].nvalid);
    c->nmin[i] = nm < 4 ? 4 : nm;
}

static void do_cf_cell(size_t i, unsigned t, void *vctx)
{
    dir_ctx *c = vctx;
    size_t x, y;
    cell_rect(c, c->cell_idx[i], &x, &y);
    const ibex_surface *s = c->ref;
    /* allocation failure leaves tf NULL: run_direction reports it */
    if (ibex__cf_cell_init(&c->cf[i], &c->ws[t].cf.coarse, c->D, s->z + y * s->nx + x,
                           s->valid + y * s->nx + x, s->nx, c->cw, c->ch,
                           c->p->o.min_overlap_frac) == IBEX_OK)
        c->nmin[i] = c->cf[i].nmin;
}

/* Region of the rotated target for used cell i (invalid outside the target) into w->reg;
 * returns its valid count. */
static size_t extract_region(const dir_ctx *c, thread_ws *w, long rx, long ry)
{
    const ibex_surface *g = c->tgt;
    size_t nvalid = 0;
    /* columns of the region inside the target: [ua, ub) */
    long ua = rx < 0 ? -rx : 0, ub = rx + (long)c->rw > (long)g->nx ? (long)g->nx - rx : (long)c->rw;
    if (ub < ua) ub = ua;
    for (size_t v = 0; v < c->rh; v++) {
        long sy = ry + (long)v;
        float *dz = w->reg + v * c->rw;
        unsigned char *dm = w->regm + v * c->rw;
        if (sy < 0 || sy >= (long)g->ny || ub == ua) {
            memset(dm, 0, c->rw);
            continue;
        }
        size_t k = (size_t)sy * g->nx + (size_t)(rx + ua), n = (size_t)(ub - ua);
        memset(dz, 0, (size_t)ua * sizeof *dz);
        memset(dm, 0, (size_t)ua);
        memcpy(dz + ua, w->rot + k, n * sizeof *dz);
        memcpy(dm + ua, w->rotm + k, n);
        memset(dz + ub, 0, (c->rw - (size_t)ub) * sizeof *dz);
        memset(dm + ub, 0, c->rw - (size_t)ub);
        for (size_t u = 0; u < n; u++) nvalid += dm[ua + u];
    }
    return nvalid;
}

static void do_theta(size_t j, unsigned t, void *vctx)
{
    dir_ctx *c = vctx;
    thread_ws *w = &c->ws[t];
    const ibex_surface *g = c->tgt;
    double t0 = ibex__now();
    ibex__rotate(g->z, g->valid, g->nx, g->ny, c->p->theta[j], w->rot, w->rotm);
    if (c->fast) ibex__cf_target_fill(&w->tg, w->rot, w->rotm, c->shift, c->scale);
    w->sec[0] += ibex__now() - t0;
    for (size_t i = c->lo; i < c->hi; i++) {
        size_t x, y;
        cell_rect(c, c->cell_idx[i], &x, &y);
        long rx = (long)x + c->ox - (long)c->lx, ry = (long)y + c->oy - (long)c->ly;
        cell_res *r = &c->res[i * c->p->ntheta + j];
        double t1 = ibex__now();
        ibex__xc_peak pk = {IBEX__NO_SCORE, 0, 0, 0};
        if (c->fast) {
            double mu, sd;
            size_t nvalid = ibex__cf_region_count(&w->cf, c->p->k, &w->tg, rx, ry, c->rw, c->rh,
                                                  &mu, &sd);
            w->sec[2] += ibex__now() - t1;
            if (nvalid >= c->nmin[i]) {
                int fb;
                w->searches++;
                pk = ibex__cf_search(&w->cf, c->p->k, &c->cf[i], &w->tg, rx, ry, c->rw, c->rh, sd,
                                     c->keep, &w->sec[1], &w->flops, &fb);
                if (fb) { /* the FFT path, with this cell's spectra made here */
                    w->fallbacks++;
                    extract_region(c, w, rx, ry);
                    const ibex_surface *s = c->ref;
                    ibex__xc_prepare(&w->xc, s->z + y * s->nx + x, s->valid + y * s->nx + x,
                                     s->nx, c->cw, c->ch, &w->spare);
                    pk = ibex__xc_run(&w->xc, c->p->k, &w->spare, w->reg, w->regm, c->rw, c->rw,
                                      c->rh, c->nmin[i], NULL, &w->sec[1], &w->flops);
                }
                if (c->verify) {
                    extract_region(c, w, rx, ry);
                    ibex__xc_peak e = ibex__xc_run(&w->xc, c->p->k, &c->tpl[i - c->lo], w->reg,
                                                   w->regm, c->rw, c->rw, c->rh, c->nmin[i], NULL,
                                                   NULL, NULL);
                    if (e.u != pk.u || e.v != pk.v || fabsf(e.ccf - pk.ccf) > 1e-4f)
                        w->mismatches++;
                }
            }
        } else {
            size_t nvalid = extract_region(c, w, rx, ry);
            w->sec[2] += ibex__now() - t1;
            /* below the minimum overlap no lag can qualify: no FFTs */
            if (nvalid >= c->nmin[i])
                pk = ibex__xc_run(&w->xc, c->p->k, &c->tpl[i - c->lo], w->reg, w->regm, c->rw,
                                  c->rw, c->rh, c->nmin[i], NULL, &w->sec[1], &w->flops);
        }
        r->ccf = pk.ccf;
        r->dx = pk.ccf > IBEX__NO_SCORE ? (int)(pk.u - (long)c->lx) : 0;
        r->dy = pk.ccf > IBEX__NO_SCORE ? (int)(pk.v - (long)c->ly) : 0;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median as R computes it: mean of the two middle values for an even count. */
static double median(double *v, size_t n)
{
    if (!n) return 0;
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static ibex_status decide(const dir_ctx *c, ibex_cmc_direction *d, ibex_cmc_cell *cells)
{
    const ibex_cmc_opts *o = &c->p->o;
    size_t nt = c->p->ntheta, n = c->ncell;
    const double *th = c->p->theta;
    const double t_xy = o->t_xy_m / c->ref->dx; /* the physical threshold in points */
    double *buf = malloc((3 * n + 1) * sizeof *buf);
    size_t *best = malloc((n + 1) * sizeof *best);
    unsigned char *cand = calloc(n * nt + 1, 1);
    unsigned *count = calloc(nt, sizeof *count);
    if (!buf || !best || !cand || !count) {
        free(buf);
        free(best);
        free(cand);
        free(count);
        return IBEX_ERR_NOMEM;
    }
    memset(d, 0, sizeof *d);
    /* original rule */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        size_t b = nt;
        for (size_t j = 0; j < nt; j++) {
            float v = c->res[i * nt + j].ccf;
            if (v > IBEX__NO_SCORE && (b == nt || v > c->res[i * nt + b].ccf)) b = j;
        }
        best[i] = b;
        if (b < nt) m++;
    }
    d->cells_used = (unsigned)m;
    double *mx = buf, *my = buf + n, *mt = buf + 2 * n;
    size_t q = 0;
    for (size_t i = 0; i < n; i++)
        if (best[i] < nt) {
            const cell_res *r = &c->res[i * nt + best[i]];
            mx[q] = r->dx;
            my[q] = r->dy;
            mt[q] = th[best[i]];
            q++;
        }
    d->dx = median(mx, q);
    d->dy = median(my, q);
    d->theta = median(mt, q);
    for (size_t i = 0; i < n; i++) {
        ibex_cmc_cell *cell = &cells[c->cell_idx[i]];
        if (best[i] >= nt) continue;
        const cell_res *r = &c->res[i * nt + best[i]];
        cell->used = 1;
        cell->ccf = r->ccf;
        cell->theta = th[best[i]];
        cell->dx = r->dx;
        cell->dy = r->dy;
        cell->cmc = fabs(r->dx - d->dx) <= t_xy && fabs(r->dy - d->dy) <= t_xy &&
                    fabs(th[best[i]] - d->theta) <= o->t_theta + 1e-9 && r->ccf >= o->t_ccf;
        d->cmc += (unsigned)cell->cmc;
        if (cell->cmc) d->score += r->ccf;
    }
    /* High-CMC */
    unsigned top = 0;
    for (size_t j = 0; j < nt; j++) {
        q = 0;
        for (size_t i = 0; i < n; i++) {
            const cell_res *r = &c->res[i * nt + j];
            if (r->ccf <= IBEX__NO_SCORE) continue;
            mx[q] = r->dx;
            my[q] = r->dy;
            q++;
        }
        double ax = median(mx, q), ay = median(my, q);
        for (size_t i = 0; i < n; i++) {
            const cell_res *r = &c->res[i * nt + j];
            if (r->ccf <= IBEX__NO_SCORE) continue;
            if (fabs(r->dx - ax) <= t_xy && fabs(r->dy - ay) <= t_xy && r->ccf >= o->t_ccf) {
                cand[i * nt + j] = 1;
                count[j]++;
            }
        }
        if (count[j] > top) top = count[j];
    }
    if (top > 0) {
        unsigned lim = top > o->tau ? top - o->tau : 1;
        double lo = INFINITY, hi = -INFINITY, sum = 0;
        size_t k = 0;
        for (size_t j = 0; j < nt; j++)
            if (count[j] >= lim) {
                lo = fmin(lo, th[j]);
                hi = fmax(hi, th[j]);
                sum += th[j];
                k++;
            }
        d->high_theta = sum / (double)k;
        /* Tong 2015: the high-count angles must form one peak. As cmcR does, the peak must
         * also sit at the original rule's consensus angle: without that, non-matches pass
         * with a peak near 0 deg, where many cells of two unrelated surfaces sharing form
         * and orientation correlate at the same shift. */
        d->high_pass = hi - lo <= o->t_theta + 1e-9 &&
                       fabs(d->high_theta - d->theta) <= o->t_theta + 1e-9;
        if (d->high_pass) {
            for (size_t i = 0; i < n; i++) {
                size_t b = nt;
                for (size_t j = 0; j < nt; j++)
                    if (count[j] >= lim && cand[i * nt + j] &&
                        (b == nt || c->res[i * nt + j].ccf > c->res[i * nt + b].ccf))
                        b = j;
                if (b == nt) continue;
                ibex_cmc_cell *cell = &cells[c->cell_idx[i]];
                const cell_res *r = &c->res[i * nt + b];
                cell->cmc_high = 1;
                cell->high_theta = th[b];
                cell->high_dx = r->dx;
                cell->high_dy = r->dy;
                cell->high_ccf = r->ccf;
                d->cmc_high++;
            }
        }
    }
    free(buf);
    free(best);
    free(cand);
    free(count);
    return IBEX_OK;
}

static size_t w_coarse_bytes(const ibex__cf_target *t)
{
    return t->cnx * t->cny * (sizeof(float) + 1);
}

static void ws_free(thread_ws *ws, unsigned nt)
{
    if (!ws) return;
    for (unsigned t = 0; t < nt; t++) {
        ibex__xc_work_free(&ws[t].xc);
        free(ws[t].rot);
        free(ws[t].rotm);
        free(ws[t].reg);
        free(ws[t].regm);
        ibex__cf_work_free(&ws[t].cf);
        ibex__cf_target_free(&ws[t].tg);
        ibex__fft_dealloc(ws[t].spare.spec);
    }
    free(ws);
}

/* Cell and search-region sides for a reference of n points along one axis. */
static void cell_geometry(size_t n, unsigned cells, double region_factor, size_t *cell,
                          size_t *half_lag, size_t *region)
{
    *cell = n / cells;
    *half_lag = (size_t)floor((region_factor - 1) * (double)*cell / 2);
    *region = *cell + 2 * *half_lag;
}

void ibex_cmc_fft_size(const ibex_cmc_opts *o, size_t nx, size_t ny, size_t *fx, size_t *fy)
{
    ibex_cmc_opts d;
    if (!o) {
        ibex_cmc_opts_init(&d);
        o = &d;
    }
    size_t c, l, rw = 0, rh = 0;
    if (o->cells_x) cell_geometry(nx, o->cells_x, o->region_factor, &c, &l, &rw);
    if (o->cells_y) cell_geometry(ny, o->cells_y, o->region_factor, &c, &l, &rh);
    *fx = ibex__fft_good_size(rw);
    *fy = ibex__fft_good_size(rh);
}

static ibex_status run_direction(const ibex_cmc_plan *p, const ibex_surface *ref,
                                 const ibex_surface *tgt, unsigned dir, ibex_cmc_result *res,
                                 ibex_diag *diag)
{
    const ibex_cmc_opts *o = &p->o;
    dir_ctx c;
    memset(&c, 0, sizeof c);
    c.p = p;
    c.ref = ref;
    c.tgt = tgt;
    cell_geometry(ref->nx, o->cells_x, o->region_factor, &c.cw, &c.lx, &c.rw);
    cell_geometry(ref->ny, o->cells_y, o->region_factor, &c.ch, &c.ly, &c.rh);
    c.gx0 = (ref->nx - c.cw * o->cells_x) / 2;
    c.gy0 = (ref->ny - c.ch * o->cells_y) / 2;
    c.ox = (long)floor(((double)tgt->nx - (double)ref->nx) / 2);
    c.oy = (long)floor(((double)tgt->ny - (double)ref->ny) / 2);
    size_t ng = (size_t)o->cells_x * o->cells_y;
    ibex_cmc_cell *cells = res->cells + dir * ng;
    size_t *idx = malloc(ng * sizeof *idx);
    if (!idx) return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    for (size_t g = 0; g < ng; g++) {
        size_t x, y, k = 0;
        c.cell_idx = idx; /* cell_rect needs only p and the grid */
        cell_rect(&c, g, &x, &y);
        for (size_t v = 0; v < c.ch; v++)
            for (size_t u = 0; u < c.cw; u++) k += ref->valid[(y + v) * ref->nx + x + u];
        ibex_cmc_cell *cell = &cells[g];
        memset(cell, 0, sizeof *cell);
        cell->direction = dir;
        cell->row = (unsigned)(g / o->cells_x);
        cell->col = (unsigned)(g % o->cells_x);
        cell->x = x;
        cell->y = y;
        cell->w = c.cw;
        cell->h = c.ch;
        cell->valid_frac = (double)k / (double)(c.cw * c.ch);
        if (cell->valid_frac >= o->min_valid_frac && k >= 4) idx[c.ncell++] = g;
    }
    const ibex__fft *fft = ibex__fft_get(p->cache, ibex__fft_good_size(c.rw),
                                         ibex__fft_good_size(c.rh));
    if (!fft) {
        free(idx);
        return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "cannot make FFT plans");
    }
    /* coarse-to-fine when asked for and the cells can be decimated (at least 4 coarse
     * points per side) */
    const ibex_cmc_experimental *x = &p->x;
    c.D = x->coarse_factor ? x->coarse_factor : 2;
    c.keep = x->coarse_keep ? x->coarse_keep : 4;
    c.fast = x->coarse_to_fine && c.D >= 2 && c.D <= 15 && c.cw / c.D >= 4 && c.ch / c.D >= 4;
    c.verify = c.fast && x->verify_search;
    const ibex__fft *cfft = NULL;
    if (c.fast) {
        cfft = ibex__fft_get(p->cache, ibex__fft_good_size((c.rw + 2 * c.D - 2) / c.D),
                             ibex__fft_good_size((c.rh + 2 * c.D - 2) / c.D));
        if (!cfft) {
            free(idx);
            return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "cannot make FFT plans");
        }
        /* the direct sums see heights of order one */
        double mu, sd;
        size_t k;
        ibex__xc_moments(tgt->z, tgt->valid, tgt->nx, tgt->nx, tgt->ny, &mu, &sd, &k);
        c.shift = (float)mu;
        c.scale = (float)(1.0 / sd);
    }
    res->fft_nx = fft->nx;
    res->fft_ny = fft->ny;
    unsigned nt = ibex__parallel_threads(o->threads);
    size_t nth = p->ntheta, tn = tgt->nx * tgt->ny, rn = c.rw * c.rh;
    size_t nlag = (c.rw - c.cw + 1) * (c.rh - c.ch + 1);
    /* coarse padding (blocks) so every cell's coarse region lies inside the coarse target */
    long ext = (long)(c.lx > c.ly ? c.lx : c.ly) + labs(c.ox) + labs(c.oy) +
               (long)(ref->nx > tgt->nx ? ref->nx - tgt->nx : 0) +
               (long)(ref->ny > tgt->ny ? ref->ny - tgt->ny : 0);
    size_t cpad = (size_t)ext / c.D + 2;
    c.ws = calloc(nt, sizeof *c.ws);
    /* Template spectra are held for a batch of cells within a fixed budget, so memory stays
     * bounded for large grids; the target is rotated once per batch. Results do not depend
     * on the batching: every (cell, rotation) is computed the same way. The coarse-to-fine
     * search needs no full spectra (unless verifying): one batch. */
    int spectra = !c.fast || c.verify;
    size_t per = 6 * fft->nc * sizeof(float);
    size_t batch = (o->template_budget ? o->template_budget : IBEX__TEMPLATE_BUDGET) / per;
    if (batch < 1) batch = 1;
    if (batch > c.ncell || !spectra) batch = c.ncell;
    c.tpl = calloc(batch + 1, sizeof *c.tpl);
    c.nmin = calloc(c.ncell + 1, sizeof *c.nmin);
    c.res = calloc(c.ncell * nth + 1, sizeof *c.res);
    c.cf = c.fast ? calloc(c.ncell + 1, sizeof *c.cf) : NULL;
    ibex_status st = IBEX_OK;
    if (!c.ws || !c.tpl || !c.nmin || !c.res || (c.fast && !c.cf)) st = IBEX_ERR_NOMEM;
    for (unsigned t = 0; !st && t < nt; t++) {
        thread_ws *w = &c.ws[t];
        if ((st = ibex__xc_work_init(&w->xc, fft))) break;
        w->rot = malloc(tn * sizeof *w->rot);
        w->rotm = malloc(tn);
        w->reg = malloc(rn * sizeof *w->reg);
        w->regm = malloc(rn);
        if (!w->rot || !w->rotm || !w->reg || !w->regm) st = IBEX_ERR_NOMEM;
        if (!st && c.fast) {
            size_t row = c.rw > c.cw ? c.rw : c.cw;
            if ((st = ibex__cf_work_init(&w->cf, cfft, nlag, row))) break;
            if ((st = ibex__cf_target_alloc(&w->tg, tgt->nx, tgt->ny, c.D, cpad))) break;
            if (!(w->spare.spec = ibex__fft_alloc(6 * fft->nc))) st = IBEX_ERR_NOMEM;
        }
    }
    for (size_t i = 0; !st && spectra && i < batch; i++)
        if (!(c.tpl[i].spec = ibex__fft_alloc(6 * fft->nc))) st = IBEX_ERR_NOMEM;
    for (size_t i = 0; !st && c.fast && i < c.ncell; i++)
        if (!(c.cf[i].coarse.spec = ibex__fft_alloc(6 * cfft->nc))) st = IBEX_ERR_NOMEM;
    if (!st && c.fast) {
        ibex__parallel_for(c.ncell, o->threads, do_cf_cell, &c);
        for (size_t i = 0; i < c.ncell; i++)
            if (!c.cf[i].tf) st = IBEX_ERR_NOMEM;
    }
    size_t bytes = nt * (6 * fft->nx * fft->ny + 18 * fft->nc) * sizeof(float) +
                   nt * (tn + rn) * (sizeof(float) + 1) + (spectra ? batch * per : 0) +
                   c.ncell * nth * sizeof *c.res;
    if (c.fast && c.ws)
        bytes += nt * ((6 * cfft->nx * cfft->ny + 18 * cfft->nc + cfft->nx * cfft->ny) *
                           sizeof(float) + nlag * (sizeof(float) + sizeof(unsigned)) +
                       2 * tn * sizeof(float) + w_coarse_bytes(&c.ws[0].tg) + per) +
                 c.ncell * (2 * c.cw * c.ch * sizeof(float) + 6 * cfft->nc * sizeof(float));
    if (bytes > res->bytes_peak) res->bytes_peak = bytes;
    for (c.lo = 0; !st && c.lo < c.ncell; c.lo = c.hi) {
        c.hi = c.lo + batch < c.ncell ? c.lo + batch : c.ncell;
        if (spectra) ibex__parallel_for(c.hi - c.lo, o->threads, do_template, &c);
        ibex__parallel_for(nth, o->threads, do_theta, &c);
    }
    if (!st) {
        double t0 = ibex__now();
        st = decide(&c, &res->dir[dir], cells);
        res->t_decision += ibex__now() - t0;
    }
    for (unsigned t = 0; c.ws && t < nt; t++) {
        res->t_rotate += c.ws[t].sec[0];
        res->t_fft += c.ws[t].sec[1];
        res->t_ncc += c.ws[t].sec[2];
        res->t_fine += c.ws[t].sec[3];
        res->fft_flops += c.ws[t].flops;
        res->lags_direct += c.ws[t].cf.evals;
        res->searches += c.ws[t].searches;
        res->fallbacks += c.ws[t].fallbacks;
        res->search_mismatches += c.ws[t].mismatches;
    }
    ws_free(c.ws, nt);
    for (size_t i = 0; c.tpl && i < batch; i++) ibex__fft_dealloc(c.tpl[i].spec);
    free(c.tpl);
    for (size_t i = 0; c.cf && i < c.ncell; i++) {
        ibex__cf_cell_free(&c.cf[i]);
        ibex__fft_dealloc(c.cf[i].coarse.spec);
    }
    free(c.cf);
    free(c.nmin);
    free(c.res);
    free(idx);
    if (st) return ibex__fail(diag, st, "", -1, "out of memory");
    return IBEX_OK;
}

static ibex_status check_surface(const ibex_cmc_opts *o, const ibex_surface *s, const char *name,
                                 ibex_diag *diag)
{
    if (!s || !s->z || !s->valid) return ibex__fail(diag, IBEX_ERR_ARG, name, -1, "no surface");
    if (s->nx > IBEX_CMC_MAX_SIDE || s->ny > IBEX_CMC_MAX_SIDE)
        return ibex__fail(diag, IBEX_ERR_LIMIT, name, -1,
                          "surface %zu x %zu points is larger than %d per side; resample it first",
                          s->nx, s->ny, IBEX_CMC_MAX_SIDE);
    if (s->nx / o->cells_x < IBEX_CMC_MIN_CELL || s->ny / o->cells_y < IBEX_CMC_MIN_CELL)
        return ibex__fail(diag, IBEX_ERR_ARG, name, -1,
                          "surface %zu x %zu points is too small for a %u x %u cell grid "
                          "(cells need at least %d points per side)",
                          s->nx, s->ny, o->cells_x, o->cells_y, IBEX_CMC_MIN_CELL);
    return IBEX_OK;
}

/* A direction whose High-CMC test fails counts no High-CMC cell. */
static void high_cmc_fail(ibex_cmc_direction *d, ibex_cmc_cell *cells, size_t n)
{
    d->high_pass = 0;
    d->cmc_high = 0;
    for (size_t i = 0; i < n; i++) cells[i].cmc_high = 0;
}

ibex_status ibex_cmc_plan_run(const ibex_cmc_plan *p, const ibex_surface *a,
                              const ibex_surface *b, ibex_cmc_result **out, ibex_diag *diag)
{
    if (!p || !out) return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "no plan or output");
    const ibex_cmc_opts *o = &p->o;
    ibex_status st;
    if ((st = check_surface(o, a, "A", diag)) || (st = check_surface(o, b, "B", diag))) return st;
    if (fabs(a->dx - b->dx) > 0.01 * a->dx || fabs(a->dy - b->dy) > 0.01 * a->dy ||
        fabs(a->dx - a->dy) > 0.01 * a->dx)
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1,
                          "spacings differ (%.4g and %.4g um); preprocess both to one spacing",
                          a->dx * 1e6, b->dx * 1e6);
    ibex_cmc_result *r = calloc(1, sizeof *r);
    if (!r) return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    size_t ng = (size_t)o->cells_x * o->cells_y;
    r->n_cells = 2 * ng;
    r->cells = calloc(r->n_cells, sizeof *r->cells);
    if (!r->cells) {
        ibex_cmc_result_free(r);
        return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    }
    double t0 = ibex__now();
    for (unsigned d = 0; d < 2; d++) {
        if ((st = run_direction(p, d ? b : a, d ? a : b, d, r, diag))) {
            ibex_cmc_result_free(r);
            return st;
        }
    }
    /* The two directions' High-CMC angles must be opposite (B turned by t onto A is A turned
     * by -t onto B); when they are not, neither direction's High-CMC stands. */
    if (r->dir[0].high_pass && r->dir[1].high_pass &&
        fabs(r->dir[0].high_theta + r->dir[1].high_theta) > o->t_theta + 1e-9)
        for (unsigned d = 0; d < 2; d++) high_cmc_fail(&r->dir[d], r->cells + d * ng, ng);
    r->spacing = a->dx;
    r->cmc = r->dir[0].cmc < r->dir[1].cmc ? r->dir[0].cmc : r->dir[1].cmc;
    r->cmc_high = r->dir[0].cmc_high < r->dir[1].cmc_high ? r->dir[0].cmc_high : r->dir[1].cmc_high;
    r->score = 0.5 * (r->dir[0].score + r->dir[1].score);
    if (!isfinite(r->score)) r->score = 0;
    r->theta = r->dir[0].theta;
    r->dx = r->dir[0].dx;
    r->dy = r->dir[0].dy;
    r->full_ccf = r->dir[0].cells_used
                      ? ibex__ncc_at_pose(a->z, a->valid, a->nx, a->ny, b->z, b->valid, b->nx,
                                          b->ny, r->theta, r->dx, r->dy)
                      : 0;
    if (!isfinite(r->full_ccf)) r->full_ccf = 0;
    if (r->dir[0].cells_used < o->id_threshold || r->dir[1].cells_used < o->id_threshold)
        r->verdict = IBEX_VERDICT_UNSUITABLE;
    else if (r->cmc >= o->id_threshold)
        r->verdict = IBEX_VERDICT_IDENTIFICATION;
    else if (r->cmc <= o->elim_threshold)
        r->verdict = IBEX_VERDICT_ELIMINATION;
    else
        r->verdict = IBEX_VERDICT_INCONCLUSIVE;
    r->t_total = ibex__now() - t0;
    *out = r;
    return IBEX_OK;
}

ibex_status ibex_cmc_align(const ibex_surface *ref, const ibex_surface *tgt, double theta,
                           double dx, double dy, ibex_surface **out, ibex_diag *diag)
{
    if (!ref || !tgt || !out || !isfinite(theta) || !isfinite(dx) || !isfinite(dy))
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "bad alignment arguments");
    ibex_surface *o;
    ibex_status st = ibex_surface_create(ref->nx, ref->ny, ref->dx, ref->dy, &o);
    if (st) return ibex__fail(diag, st, "", -1, "cannot allocate the aligned surface");
    o->zkind = tgt->zkind;
    size_t tn = tgt->nx * tgt->ny;
    float *rz = malloc(tn * sizeof *rz);
    unsigned char *rm = malloc(tn);
    if (!rz || !rm) {
        free(rz);
        free(rm);
        ibex_surface_free(o);
        return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    }
    ibex__rotate(tgt->z, tgt->valid, tgt->nx, tgt->ny, theta, rz, rm);
    /* the reference point p sits at p + offset + (dx, dy) in the rotated target */
    long ox = (long)floor(((double)tgt->nx - (double)ref->nx) / 2) + lround(dx);
    long oy = (long)floor(((double)tgt->ny - (double)ref->ny) / 2) + lround(dy);
    for (size_t y = 0; y < ref->ny; y++)
        for (size_t x = 0; x < ref->nx; x++) {
            long sx = (long)x + ox, sy = (long)y + oy;
            if (sx < 0 || sy < 0 || sx >= (long)tgt->nx || sy >= (long)tgt->ny) continue;
            size_t k = (size_t)sy * tgt->nx + (size_t)sx;
            if (!rm[k]) continue;
            o->z[y * ref->nx + x] = rz[k];
            o->valid[y * ref->nx + x] = 1;
        }
    free(rz);
    free(rm);
    *out = o;
    return IBEX_OK;
}
