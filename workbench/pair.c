/* The candidate view of a search (cartridge cases): the questioned scan and one candidate
 * compared as 'ibex compare' compares them (ibex_compare_cartridges, include/ibex/pair.h), the
 * candidate turned and shifted onto the questioned scan by the consensus registration of A's
 * cells (ibex_cmc_align), both as height maps for the browser to shade, and the per-cell table
 * with the reason each cell is congruent or not. Kept per job (WB_PAIRS_KEPT pairs), so the
 * JSON and the two height maps cost one comparison. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "png_internal.h"
#include "workbench_internal.h"

#define VIEW_MAX_SIDE WB_VIEW_MAX_SIDE
#define PICTURE_MAX_SIDE 640
#define HEIGHTS_HEADER 24

struct wb_pair {
    size_t row;
    unsigned long long used;
    json_t *json;
    unsigned char *blob[2];  /* heights: [0] questioned, [1] candidate registered onto it */
    size_t blob_n[2];
    wb_bullet_pair *bullet;  /* bullets: everything their view shows (pair_bullet.c) */
    unsigned char *png;      /* the picture of the registered pair (ibex/picture.h), for the report */
    size_t png_n;
};

static atomic_ullong pair_clock; /* recency of the kept pairs, across jobs */

void ibex__wb_pair_free(wb_pair *p)
{
    if (!p) return;
    json_decref(p->json);
    free(p->blob[0]);
    free(p->blob[1]);
    ibex__wb_bullet_pair_free(p->bullet);
    free(p->png);
    free(p);
}

static void put_u32(unsigned char *b, uint32_t v)
{
    for (int i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i));
}

static void put_f32(unsigned char *b, float f)
{
    uint32_t v;
    memcpy(&v, &f, sizeof v);
    put_u32(b, v);
}

/* The height map for the browser: "IBXH", version 1, width, height (uint32), micrometres per
 * pixel, shrink factor (float32), then width x height float32 heights in micrometres about
 * their mean, NaN where nothing was measured; all little-endian. Each pixel is the mean of the
 * valid points of an f x f block. */
unsigned char *ibex__wb_heights_blob(const ibex_surface *s, size_t f, size_t *len)
{
    size_t w = (s->nx + f - 1) / f, h = (s->ny + f - 1) / f;
    double *acc = calloc(w * h, sizeof *acc);
    unsigned *cnt = calloc(w * h, sizeof *cnt);
    unsigned char *b = malloc(HEIGHTS_HEADER + 4 * w * h);
    if (!acc || !cnt || !b) {
        free(acc);
        free(cnt);
        free(b);
        return NULL;
    }
    double sum = 0;
    size_t nv = 0;
    for (size_t y = 0; y < s->ny; y++)
        for (size_t x = 0; x < s->nx; x++) {
            size_t i = y * s->nx + x;
            if (!s->valid[i]) continue;
            size_t k = (y / f) * w + x / f;
            acc[k] += s->z[i];
            cnt[k]++;
            sum += s->z[i];
            nv++;
        }
    double mean = nv ? sum / (double)nv : 0;
    memcpy(b, "IBXH", 4);
    put_u32(b + 4, 1);
    put_u32(b + 8, (uint32_t)w);
    put_u32(b + 12, (uint32_t)h);
    put_f32(b + 16, (float)(s->dx * 1e6 * (double)f));
    put_f32(b + 20, (float)f);
    for (size_t k = 0; k < w * h; k++)
        put_f32(b + HEIGHTS_HEADER + 4 * k, cnt[k] ? (float)((acc[k] / cnt[k] - mean) * 1e6) : NAN);
    free(acc);
    free(cnt);
    *len = HEIGHTS_HEADER + 4 * w * h;
    return b;
}

/* Why a cell of direction `dir` is congruent under the original rule (Song 2013), or not:
 * each test with its value and limit. */
static void cell_why(const ibex_cmc_cell *cl, const ibex_cmc_direction *dd, const ibex_cmc_opts *o, double sp,
                     char *out, size_t size)
{
    if (!cl->used) {
        if (cl->valid_frac < o->min_valid_frac)
            snprintf(out, size, "not used: %.0f%% of the cell measured, %.0f%% needed", 100 * cl->valid_frac,
                     100 * o->min_valid_frac);
        else
            snprintf(out, size, "not used: no registration overlapped enough valid points");
        return;
    }
    const double t_xy = o->t_xy_m / sp, um = sp * 1e6;
    double ddx = cl->dx - dd->dx, ddy = cl->dy - dd->dy, dth = cl->theta - dd->theta;
    int ok_ccf = cl->ccf >= o->t_ccf, ok_th = fabs(dth) <= o->t_theta + 1e-9;
    int ok_x = fabs(ddx) <= t_xy, ok_y = fabs(ddy) <= t_xy;
    if (cl->cmc) {
        snprintf(out, size, "congruent: CCF %.2f >= %.2f; rotation %+g deg from the consensus (limit %g); shift %.0f, %.0f um "
                 "from the consensus (limit %.0f)", cl->ccf, o->t_ccf, dth, o->t_theta, ddx * um, ddy * um, o->t_xy_m * 1e6);
        return;
    }
    size_t k = (size_t)snprintf(out, size, "not congruent:");
    const char *sep = " ";
    if (!ok_ccf && k < size) {
        k += (size_t)snprintf(out + k, size - k, "%sCCF %.2f < %.2f", sep, cl->ccf, o->t_ccf);
        sep = "; ";
    }
    if (!ok_th && k < size) {
        k += (size_t)snprintf(out + k, size - k, "%srotation %+g deg from the consensus (limit %g)", sep, dth, o->t_theta);
        sep = "; ";
    }
    if (!ok_x && k < size) {
        k += (size_t)snprintf(out + k, size - k, "%sx shift %.0f um from the consensus (limit %.0f)", sep, ddx * um,
                              o->t_xy_m * 1e6);
        sep = "; ";
    }
    if (!ok_y && k < size)
        k += (size_t)snprintf(out + k, size - k, "%sy shift %.0f um from the consensus (limit %.0f)", sep, ddy * um,
                              o->t_xy_m * 1e6);
    if (cl->cmc_high && k < size) snprintf(out + k, size - k, " (congruent by High-CMC, Tong 2015)");
}

static json_t *direction_json(const ibex_cmc_direction *d, double sp)
{
    return json_pack("{s:i, s:i, s:i, s:b, s:f, s:f, s:f, s:f}", "cells_used", (int)d->cells_used, "cmc", (int)d->cmc,
                     "cmc_high", (int)d->cmc_high, "high_pass", d->high_pass, "theta_deg", d->theta, "dx_um",
                     d->dx * sp * 1e6, "dy_um", d->dy * sp * 1e6, "score", d->score);
}

static const char *str_or(const char *s, const char *dflt)
{
    return s && *s ? s : dflt;
}

/* Compares the job's scan with library row `row`; fills p (json and both height maps). */
/* The candidate view of a compared cartridge pair: A and B as compared (prepared, at one
 * spacing), their comparison; B is registered onto A by A's consensus pose. */
static ibex_status build_view(ibex_workbench *W, wb_job *j, size_t row, size_t rank, const ibex_specimen *sp,
                              const ibex_surface *A, const ibex_surface *B, const ibex_cmc_result *cm, double spacing,
                              double t_pre, double t_cmp, double t0, wb_pair *p, ibex_diag *d)
{
    (void)W;
    ibex_cmc_opts co;
    ibex_cmc_opts_init(&co);
    const ibex_cmc_direction *dd = &cm->dir[0];
    ibex_surface *aligned = NULL;
    ibex_status st = ibex_cmc_align(A, B, dd->theta, dd->dx, dd->dy, &aligned, d);
    if (st) return st;
    size_t side = A->nx > A->ny ? A->nx : A->ny, f = (side + VIEW_MAX_SIDE - 1) / VIEW_MAX_SIDE;
    if (f < 1) f = 1;
    p->blob[0] = ibex__wb_heights_blob(A, f, &p->blob_n[0]);
    p->blob[1] = ibex__wb_heights_blob(aligned, f, &p->blob_n[1]);
    ibex_surface_free(aligned);
    if (!p->blob[0] || !p->blob[1]) return ibex__fail(d, IBEX_ERR_NOMEM, "", -1, "out of memory");
    /* The picture the case report shows (as ibex compare --png draws it); a pair whose
     * picture cannot be drawn is still shown, and reported without one. */
    {
        ibex_picture_opts pic;
        ibex_picture_opts_init(&pic);
        pic.name_a = ibex__wb_job_name(j);
        pic.name_b = str_or(sp->id, "candidate");
        pic.max_side = PICTURE_MAX_SIDE;
        pic.verdict = 0; /* the workbench shows no verdict: the conclusions are the examiner's */
        ibex_image *im = NULL;
        if (ibex_picture_cartridge(A, B, cm, &pic, &im, NULL, NULL) == IBEX_OK &&
            ibex__image_png_mem(im, &p->png, &p->png_n, NULL) != IBEX_OK) {
            p->png = NULL;
            p->png_n = 0;
        }
        ibex_image_free(im);
    }
    const double s = spacing;
    size_t ng = cm->n_cells / 2;
    json_t *cells = json_array();
    for (size_t i = 0; i < ng; i++) {
        const ibex_cmc_cell *cl = &cm->cells[i];
        char why[400];
        cell_why(cl, dd, &co, s, why, sizeof why);
        json_t *o = json_pack("{s:I, s:i, s:i, s:I, s:I, s:I, s:I, s:f, s:b, s:b, s:b, s:s}", "n", (json_int_t)i, "row",
                              (int)cl->row, "col", (int)cl->col, "x", (json_int_t)cl->x, "y", (json_int_t)cl->y, "w",
                              (json_int_t)cl->w, "h", (json_int_t)cl->h, "valid_frac", cl->valid_frac, "used", cl->used,
                              "congruent", cl->cmc, "congruent_high", cl->cmc_high, "why", why);
        if (cl->used) {
            json_object_set_new(o, "ccf", json_real(cl->ccf));
            json_object_set_new(o, "theta_deg", json_real(cl->theta));
            json_object_set_new(o, "dx_um", json_real(cl->dx * s * 1e6));
            json_object_set_new(o, "dy_um", json_real(cl->dy * s * 1e6));
            json_object_set_new(o, "ddx_um", json_real((cl->dx - dd->dx) * s * 1e6));
            json_object_set_new(o, "ddy_um", json_real((cl->dy - dd->dy) * s * 1e6));
            /* Where the cell registered in the candidate, in the questioned grid: shown for the
             * cells found at the consensus rotation and the congruent ones (as ibex compare --png). */
            if (cl->theta == dd->theta || cl->cmc)
                json_object_set_new(o, "found", json_pack("{s:f, s:f}", "x", (double)cl->x + cl->dx - dd->dx, "y",
                                                          (double)cl->y + cl->dy - dd->dy));
        }
        json_array_append_new(cells, o);
    }
    p->json = json_pack(
        "{s:s, s:I, s:I, s:{s:s}, s:{s:s?, s:s?, s:s?, s:s?, s:s?, s:s?}, s:f,"
        " s:{s:i, s:i, s:f, s:f, s:o, s:o},"
        " s:{s:f, s:f, s:f, s:f, s:f, s:f},"
        " s:{s:f, s:f, s:f, s:i, s:f, s:i},"
        " s:{s:I, s:I, s:I, s:I, s:I, s:f},"
        " s:o, s:{s:f, s:f, s:f}}",
        "job", ibex__wb_job_id(j), "row", (json_int_t)row, "rank", (json_int_t)rank, "questioned", "name",
        ibex__wb_job_name(j), "candidate", "id", sp->id, "set", sp->set, "firearm_id", sp->firearm_id, "firearm_make",
        sp->meta.firearm_make, "firearm_model", sp->meta.firearm_model, "calibre", sp->meta.calibre, "spacing_um", s * 1e6,
        "cmc", "cmc", (int)cm->cmc, "cmc_high", (int)cm->cmc_high, "score", cm->score, "full_ccf", cm->full_ccf,
        "a_in_b", direction_json(&cm->dir[0], s), "b_in_a", direction_json(&cm->dir[1], s),
        "pose", "theta_deg", dd->theta, "dx_um", dd->dx * s * 1e6, "dy_um", dd->dy * s * 1e6, "dx_px", dd->dx, "dy_px",
        dd->dy, "full_ccf", cm->full_ccf,
        "thresholds", "ccf", co.t_ccf, "theta_deg", co.t_theta, "xy_um", co.t_xy_m * 1e6, "reference_cmc",
        (int)co.id_threshold, "min_valid_frac", co.min_valid_frac, "cells_x", (int)co.cells_x,
        "view", "nx", (json_int_t)A->nx, "ny", (json_int_t)A->ny, "factor", (json_int_t)f, "width",
        (json_int_t)((A->nx + f - 1) / f), "height", (json_int_t)((A->ny + f - 1) / f), "um_per_px", s * 1e6 * (double)f,
        "cells", cells, "seconds", "preprocess", t_pre, "compare", t_cmp, "total", ibex__now() - t0);
    return p->json ? IBEX_OK : ibex__fail(d, IBEX_ERR_NOMEM, "", -1, "out of memory");
}

static ibex_status compare(ibex_workbench *W, wb_job *j, size_t row, size_t rank, wb_pair *p, ibex_diag *d)
{
    double t0 = ibex__now();
    const ibex_surface *q = ibex__wb_job_query(j);
    ibex_library *lib = NULL;
    ibex_surface *cand = NULL, *aligned = NULL;
    ibex_pair_result *pr = NULL;
    ibex_specimen sp;
    memset(&sp, 0, sizeof sp);
    ibex_status st = ibex__wb_library_open(W, &lib, d);
    if (!st && !(st = ibex_library_get_info(lib, row, &sp, d))) st = ibex_library_get_surface(lib, row, &cand, d);
    ibex_library_close(lib, NULL);
    if (st) goto done;
    const char *ck = sp.kind && (!strcmp(sp.kind, "cartridge") || !strcmp(sp.kind, "bullet")) ? sp.kind : ibex_scan_kind(cand);
    if (strcmp(ibex_scan_kind(q), ck)) {
        st = ibex__fail(d, IBEX_ERR_UNSUPPORTED, "", -1, "the questioned scan is a %s scan and %s a %s scan",
                        ibex_scan_kind(q), str_or(sp.id, "the candidate"), ck);
        goto done;
    }
    if (!strcmp(ck, "bullet")) {
        st = ibex__wb_bullet_compare(W, j, row, rank, &p->bullet, d);
        goto done;
    }
    ibex_cmc_opts co;
    ibex_cmc_opts_init(&co);
    co.threads = W->search_threads;
    ibex_pair_opts po;
    ibex_pair_opts_init(&po);
    po.cmc = &co;
    if ((st = ibex_compare_cartridges(q, cand, &po, &pr, d))) {
        /* the pair API names the side at fault "A" or "B" */
        if (d && !strcmp(d->file, "A")) snprintf(d->file, sizeof d->file, "%s", ibex__wb_job_name(j));
        else if (d && !strcmp(d->file, "B")) snprintf(d->file, sizeof d->file, "%s", str_or(sp.id, "candidate"));
        goto done;
    }
    st = build_view(W, j, row, rank, &sp, pr->prepared[0], pr->prepared[1], pr->cmc, pr->spacing, pr->t_preprocess,
                    pr->t_compare, t0, p, d);
done:
    ibex_specimen_clear(&sp);
    ibex_surface_free(aligned);
    ibex_surface_free(cand);
    ibex_pair_result_free(pr);
    return st;
}

/* The job's cached pair of row (lock held), or NULL. */
static wb_pair *cache_find(wb_pair **pairs, size_t row)
{
    for (size_t i = 0; i < WB_PAIRS_KEPT; i++)
        if (pairs[i] && pairs[i]->row == row) return pairs[i];
    return NULL;
}

/* Into the job's cache (lock held), in place of the least recently used pair. */
static void cache_put(wb_pair **pairs, wb_pair *p, size_t row)
{
    p->row = row;
    p->used = atomic_fetch_add(&pair_clock, 1) + 1;
    size_t k = 0;
    for (size_t i = 0; i < WB_PAIRS_KEPT; i++) {
        if (!pairs[i]) {
            k = i;
            break;
        }
        if (pairs[i]->used < pairs[k]->used) k = i;
    }
    ibex__wb_pair_free(pairs[k]);
    pairs[k] = p;
}

/* The job's pair for row, compared on first use (one comparison at a time per job). */
static ibex_status pair_get(ibex_workbench *W, wb_job *j, size_t row, size_t rank, wb_pair **out, ibex_diag *d)
{
    pthread_mutex_t *lock;
    wb_pair **pairs = ibex__wb_job_pairs(j, &lock);
    pthread_mutex_lock(lock);
    wb_pair *hit = cache_find(pairs, row);
    if (hit) {
        hit->used = atomic_fetch_add(&pair_clock, 1) + 1;
        *out = hit;
        return IBEX_OK; /* the caller unlocks */
    }
    wb_pair *p = calloc(1, sizeof *p);
    ibex_status st = p ? compare(W, j, row, rank, p, d) : ibex__fail(d, IBEX_ERR_NOMEM, "", -1, "out of memory");
    if (st) {
        ibex__wb_pair_free(p);
        pthread_mutex_unlock(lock);
        return st;
    }
    cache_put(pairs, p, row);
    *out = p;
    return IBEX_OK;
}

void ibex__wb_pair_adopt(ibex_workbench *W, wb_job *j, const ibex_search_candidate *c, size_t rank)
{
    if (!c->comparison || !c->prepared_query || !c->prepared_candidate) return;
    double t0 = ibex__now();
    pthread_mutex_t *lock;
    wb_pair **pairs = ibex__wb_job_pairs(j, &lock);
    pthread_mutex_lock(lock);
    if (cache_find(pairs, c->row)) {
        pthread_mutex_unlock(lock);
        return;
    }
    ibex_library *lib = NULL;
    ibex_specimen sp;
    memset(&sp, 0, sizeof sp);
    ibex_diag d;
    ibex_diag_clear(&d);
    wb_pair *p = calloc(1, sizeof *p);
    ibex_status st = p ? ibex__wb_library_open(W, &lib, &d) : IBEX_ERR_NOMEM;
    if (!st) st = ibex_library_get_info(lib, c->row, &sp, &d);
    ibex_library_close(lib, NULL);
    if (!st)
        st = build_view(W, j, c->row, rank, &sp, c->prepared_query, c->prepared_candidate, c->comparison,
                        c->prepared_query->dx, 0, 0, t0, p, &d);
    ibex_specimen_clear(&sp);
    if (st) ibex__wb_pair_free(p); /* the view then compares it when asked */
    else cache_put(pairs, p, c->row);
    pthread_mutex_unlock(lock);
}

enum MHD_Result ibex__wb_h_pair(ibex_workbench *W, struct MHD_Connection *c, const char *method, wb_request *r,
                                wb_job *j, size_t row, const char *what)
{
    int heights = !strcmp(what, "/heights"), sigs = !strcmp(what, "/signatures");
    if (*what && !heights && !sigs) return ibex__wb_error(W, c, method, r, 404, "no such page of a candidate");
    int side = 0;
    if (heights) {
        const char *sd = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "side");
        if (!sd || (strcmp(sd, "q") && strcmp(sd, "c")))
            return ibex__wb_error(W, c, method, r, 400, "side is q (questioned) or c (candidate, registered)");
        side = !strcmp(sd, "c");
    }
    size_t rank;
    if (!ibex__wb_job_has_candidate(j, row, &rank))
        return ibex__wb_error(W, c, method, r, 404, "row %zu is not in this search's ranked list (or it has not finished)", row);
    ibex_diag d;
    ibex_diag_clear(&d);
    wb_pair *p;
    ibex_status st = pair_get(W, j, row, rank, &p, &d);
    if (st) return ibex__wb_fail(W, c, method, r, st, &d);
    pthread_mutex_t *lock;
    ibex__wb_job_pairs(j, &lock);
    enum MHD_Result ret;
    if (p->bullet) return ibex__wb_bullet_answer(W, c, method, r, p->bullet, what, lock);
    if (sigs) {
        pthread_mutex_unlock(lock);
        ret = ibex__wb_error(W, c, method, r, 404, "signatures are for bullets; this candidate is a cartridge case");
    } else if (heights) {
        unsigned char *copy = malloc(p->blob_n[side]);
        if (copy) memcpy(copy, p->blob[side], p->blob_n[side]);
        size_t n = p->blob_n[side];
        pthread_mutex_unlock(lock);
        ret = copy ? ibex__wb_bytes(W, c, method, r, 200, "application/octet-stream", copy, n, 1, NULL, NULL)
                   : ibex__wb_error(W, c, method, r, 503, "out of memory");
    } else {
        json_t *o = json_deep_copy(p->json);
        pthread_mutex_unlock(lock);
        ret = o ? ibex__wb_json(W, c, method, r, 200, o) : ibex__wb_error(W, c, method, r, 503, "out of memory");
    }
    return ret;
}

static int snap_by_rank(const void *a, const void *b)
{
    const wb_pair_snap *x = a, *y = b;
    json_int_t rx = json_integer_value(json_object_get(x->json, "rank"));
    json_int_t ry = json_integer_value(json_object_get(y->json, "rank"));
    return (rx > ry) - (rx < ry);
}

size_t ibex__wb_pair_snapshot(wb_job *j, wb_pair_snap *out)
{
    pthread_mutex_t *lock;
    wb_pair **pairs = ibex__wb_job_pairs(j, &lock);
    size_t n = 0;
    pthread_mutex_lock(lock);
    for (size_t i = 0; i < WB_PAIRS_KEPT; i++) {
        if (!pairs[i] || !pairs[i]->json) continue;
        wb_pair_snap *s = &out[n];
        memset(s, 0, sizeof *s);
        s->row = pairs[i]->row;
        s->json = json_deep_copy(pairs[i]->json);
        if (!s->json) continue;
        if (pairs[i]->png && (s->png = malloc(pairs[i]->png_n))) {
            memcpy(s->png, pairs[i]->png, pairs[i]->png_n);
            s->png_n = pairs[i]->png_n;
        }
        n++;
    }
    pthread_mutex_unlock(lock);
    qsort(out, n, sizeof *out, snap_by_rank);
    return n;
}

void ibex__wb_pair_snap_clear(wb_pair_snap *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_decref(s[i].json);
        free(s[i].png);
        memset(&s[i], 0, sizeof s[i]);
    }
}
