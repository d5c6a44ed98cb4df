/* The candidate view of bullets: the questioned bullet and the candidate's bullet compared as
 * `ibex compare` compares two bullets (ibex_compare_bullets, include/ibex/pair.h): every land
 * pairing, the best cyclic phase, the bullet score. The library holds one land a row; the
 * lands of a bullet are the bullet rows of the same set whose file names differ only in the
 * land number (ibex_land_name_parse). The questioned bullet is the bullet of the library row
 * searched with, or the uploaded land alone (then one land against the candidate's bullet).
 * Kept with the job's pairs (pair.c): the JSON, every land's signature and height map cost
 * one comparison. Scores only: no verdict goes out (docs/reference/workbench.md). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "workbench_internal.h"

#define MAX_LANDS 64 /* land positions a bullet may have (ibex_compare_bullets) */

typedef struct wb_land {
    long long row;              /* library row, -1 for the uploaded scan */
    char *name;                 /* specimen id, or the upload's name */
    int number;                 /* land number from the file name, 0 if none */
    ibex_land_signature *sig;   /* NULL when no signature */
    char problem[400];
    unsigned char *blob;        /* its height map (IBXH) */
    size_t blob_n;
} wb_land;

struct wb_bullet_pair {
    wb_land *lands[2];          /* [0] questioned, [1] candidate */
    size_t n[2];
    ibex_bullet_pair_result *res;
    json_t *json;
};

static void lands_free(wb_land *l, size_t n)
{
    for (size_t i = 0; l && i < n; i++) {
        free(l[i].name);
        ibex_land_signature_free(l[i].sig);
        free(l[i].blob);
    }
    free(l);
}

void ibex__wb_bullet_pair_free(wb_bullet_pair *p)
{
    if (!p) return;
    ibex_bullet_pair_result_free(p->res); /* before the signatures it points to */
    lands_free(p->lands[0], p->n[0]);
    lands_free(p->lands[1], p->n[1]);
    json_decref(p->json);
    free(p);
}

static const char *str_or(const char *s, const char *dflt)
{
    return s && *s ? s : dflt;
}

/* The bullet a row belongs to: its set, its file's folder and the bullet part of its file's
 * name (of its id when the table has no file), as "NAME\x1fSET\x1fFOLDER"; NAME is the folder's
 * own name when the file name is the land alone ("Bullet 1/Land_3.x3p"). */
static void bullet_key(const ibex_specimen *sp, char *key, size_t size, int *number)
{
    const char *src = sp->source_path && *sp->source_path ? sp->source_path : str_or(sp->id, "");
    const char *slash = strrchr(src, '/');
    int dlen = slash ? (int)(slash - src) : 0;
    if (dlen > 1000) dlen = 1000;
    char b[512];
    *number = ibex_land_name_parse(src, b, sizeof b);
    if (!b[0] && dlen) { /* the folder's name */
        const char *d0 = src + dlen;
        while (d0 > src && d0[-1] != '/') d0--;
        snprintf(b, sizeof b, "%.*s", (int)(src + dlen - d0), d0);
    }
    snprintf(key, size, "%s\x1f%s\x1f%.*s", b[0] ? b : "bullet", str_or(sp->set, ""), dlen, src);
}

/* A land's signature and height map from its surface; a failure is kept as the reason. */
static ibex_status land_fill(wb_land *l, const ibex_surface *s, ibex_diag *d)
{
    ibex_diag ld;
    ibex_diag_clear(&ld);
    ibex_status st = ibex_land_signature_create(s, NULL, &l->sig, &ld);
    if (st) {
        snprintf(ld.file, sizeof ld.file, "%s", l->name);
        char buf[1200];
        snprintf(l->problem, sizeof l->problem, "%s", ibex_diag_format(&ld, st, buf, sizeof buf));
        l->sig = NULL;
        if (st == IBEX_ERR_NOMEM) return ibex__fail(d, st, "", -1, "out of memory");
    }
    size_t side = s->nx > s->ny ? s->nx : s->ny, f = (side + WB_VIEW_MAX_SIDE - 1) / WB_VIEW_MAX_SIDE;
    if (f < 1) f = 1;
    l->blob = ibex__wb_heights_blob(s, f, &l->blob_n);
    return l->blob ? IBEX_OK : ibex__fail(d, IBEX_ERR_NOMEM, "", -1, "out of memory");
}

/* The lands of the bullet of library row `row` (every row with its key, in library order). */
static ibex_status bullet_lands(ibex_library *lib, size_t row, wb_land **out, size_t *n, char *bname, size_t bsize,
                                ibex_diag *d)
{
    ibex_specimen sp;
    memset(&sp, 0, sizeof sp);
    ibex_status st = ibex_library_get_info(lib, row, &sp, d);
    if (st) return st;
    char key[1700], k2[1700];
    int num;
    bullet_key(&sp, key, sizeof key, &num);
    snprintf(bname, bsize, "%.*s", (int)(strchr(key, '\x1f') - key), key);
    ibex_specimen_clear(&sp);
    size_t total = ibex_library_count(lib), cap = 8, k = 0;
    wb_land *l = calloc(cap, sizeof *l);
    if (!l) return ibex__fail(d, IBEX_ERR_NOMEM, "", -1, "out of memory");
    for (size_t i = 0; i < total && !st; i++) {
        memset(&sp, 0, sizeof sp);
        if ((st = ibex_library_get_info(lib, i, &sp, d))) break;
        int mine = sp.kind && !strcmp(sp.kind, "bullet");
        if (mine) {
            bullet_key(&sp, k2, sizeof k2, &num);
            mine = !strcmp(key, k2);
        }
        if (mine && k == MAX_LANDS) {
            st = ibex__fail(d, IBEX_ERR_LIMIT, "", -1, "more than %d library rows belong to bullet '%s'", MAX_LANDS,
                            bname);
        } else if (mine) {
            if (k == cap) {
                wb_land *nl = realloc(l, 2 * cap * sizeof *l);
                if (!nl) {
                    st = ibex__fail(d, IBEX_ERR_NOMEM, "", -1, "out of memory");
                    ibex_specimen_clear(&sp);
                    break;
                }
                memset(nl + cap, 0, cap * sizeof *l);
                l = nl;
                cap *= 2;
            }
            l[k].row = (long long)i;
            l[k].number = num;
            l[k].name = strdup(str_or(sp.id, "land"));
            if (!l[k++].name) st = ibex__fail(d, IBEX_ERR_NOMEM, "", -1, "out of memory");
        }
        ibex_specimen_clear(&sp);
    }
    for (size_t i = 0; i < k && !st; i++) {
        ibex_surface *s = NULL;
        if (!(st = ibex_library_get_surface(lib, (size_t)l[i].row, &s, d))) st = land_fill(&l[i], s, d);
        ibex_surface_free(s);
    }
    if (st) {
        lands_free(l, k);
        return st;
    }
    *out = l;
    *n = k;
    return IBEX_OK;
}

static json_t *land_json(const wb_land *l, size_t position)
{
    json_t *o = json_pack("{s:I, s:s, s:i, s:b}", "position", (json_int_t)position, "id", l->name, "number", l->number,
                          "usable", l->sig != NULL);
    json_object_set_new(o, "row", l->row >= 0 ? json_integer(l->row) : json_null());
    if (!l->sig) {
        json_object_set_new(o, "problem", json_string(l->problem));
    } else {
        const ibex_land_signature *g = l->sig;
        json_object_set_new(o, "signature", json_pack("{s:I, s:f, s:f, s:s, s:f, s:f, s:f, s:f, s:I}", "n",
                                                      (json_int_t)g->n, "spacing_um", g->spacing * 1e6, "length_um",
                                                      g->n * g->spacing * 1e6, "striae_along",
                                                      g->axis == IBEX_LAND_AXIS_X ? "y" : "x", "crosscut_um",
                                                      g->crosscut * 1e6, "stability", g->stability, "groove_left_um",
                                                      g->groove_left * 1e6, "groove_right_um", g->groove_right * 1e6,
                                                      "striae", (json_int_t)g->n_striae));
    }
    if (l->blob && l->blob_n >= 24) {
        uint32_t w, h;
        float um, f;
        memcpy(&w, l->blob + 8, 4); /* the blob is little-endian, as this host */
        memcpy(&h, l->blob + 12, 4);
        memcpy(&um, l->blob + 16, 4);
        memcpy(&f, l->blob + 20, 4);
        json_object_set_new(o, "heights", json_pack("{s:I, s:I, s:f, s:f}", "width", (json_int_t)w, "height",
                                                    (json_int_t)h, "um_per_px", (double)um, "factor", (double)f));
    }
    return o;
}

static json_t *pair_json(const ibex_land_result *r)
{
    return json_pack("{s:f, s:f, s:I, s:f, s:f, s:f, s:f, s:i, s:i, s:i, s:f, s:f}", "score", r->score, "ccf", r->ccf,
                     "lag", (json_int_t)r->lag, "lag_um", r->lag_m * 1e6, "overlap", r->overlap, "distance_um",
                     r->distance * 1e6, "distance_rel", r->distance_rel, "cms", r->cms, "matches", r->matches,
                     "mismatches", r->mismatches, "matches_per_mm", r->matches_per_mm, "match_share", r->match_share);
}

static json_t *num_or_null(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

/* The land at position p of side k (the result's placement), or NULL. */
static const wb_land *at(const wb_bullet_pair *P, int k, size_t p)
{
    const ibex_bullet_pair_result *r = P->res;
    if (p >= r->bullet[k].n_lands || r->input[k][p] < 0) return NULL;
    return &P->lands[k][r->input[k][p]];
}

static int in_best(const ibex_bullet_pair_result *p, size_t i, size_t j)
{
    const ibex_bullet_result *r = p->bullets;
    if (p->mode == IBEX_BULLET_PAIR_LAND_TO_BULLET) return p->best_land_score >= 0 && i == p->best_i && j == p->best_j;
    size_t n = r->nb;
    return n && r->n_compared && j == (i + r->best_phase) % n;
}

static json_t *side_json(const wb_bullet_pair *P, int k, const char *bname)
{
    const ibex_bullet_pair_result *r = P->res;
    json_t *a = json_array();
    for (size_t p = 0; p < r->bullet[k].n_lands; p++) {
        const wb_land *l = at(P, k, p);
        json_array_append_new(a, l ? land_json(l, p) : json_null());
    }
    return json_pack("{s:s, s:I, s:I, s:o}", "bullet", bname, "positions", (json_int_t)r->bullet[k].n_lands,
                     "scans", (json_int_t)P->n[k], "lands", a);
}

ibex_status ibex__wb_bullet_compare(ibex_workbench *W, wb_job *j, size_t row, size_t rank, wb_bullet_pair **out,
                                    ibex_diag *d)
{
    double t0 = ibex__now();
    wb_bullet_pair *P = calloc(1, sizeof *P);
    if (!P) return ibex__fail(d, IBEX_ERR_NOMEM, "", -1, "out of memory");
    ibex_library *lib = NULL;
    ibex_specimen sp;
    memset(&sp, 0, sizeof sp);
    char qname[512] = "", cname[512] = "";
    ibex_pair_land *pl[2] = {NULL, NULL};
    long long qrow = ibex__wb_job_row(j);
    ibex_status st = ibex__wb_library_open(W, &lib, d);
    if (!st) st = ibex_library_get_info(lib, row, &sp, d);
    if (!st) st = bullet_lands(lib, row, &P->lands[1], &P->n[1], cname, sizeof cname, d);
    if (!st && qrow >= 0) {
        st = bullet_lands(lib, (size_t)qrow, &P->lands[0], &P->n[0], qname, sizeof qname, d);
    } else if (!st) { /* an upload: that land alone */
        P->lands[0] = calloc(1, sizeof *P->lands[0]);
        if (!P->lands[0]) {
            st = ibex__fail(d, IBEX_ERR_NOMEM, "", -1, "out of memory");
        } else {
            P->n[0] = 1;
            wb_land *l = P->lands[0];
            l->row = -1;
            l->number = ibex_land_name_parse(ibex__wb_job_name(j), qname, sizeof qname);
            if (!qname[0]) snprintf(qname, sizeof qname, "uploaded land");
            l->name = strdup(ibex__wb_job_name(j));
            st = l->name ? land_fill(l, ibex__wb_job_query(j), d) : ibex__fail(d, IBEX_ERR_NOMEM, "", -1, "out of memory");
        }
    }
    ibex_library_close(lib, NULL);
    double t_sig = ibex__now() - t0;
    if (st) goto fail;
    if (!P->n[0] || !P->n[1]) {
        st = ibex__fail(d, IBEX_ERR_ARG, "", -1, "no land of the %s bullet in the library", P->n[1] ? "questioned" : "candidate");
        goto fail;
    }
    for (int k = 0; k < 2; k++) {
        pl[k] = calloc(P->n[k], sizeof *pl[k]);
        if (!pl[k]) {
            st = ibex__fail(d, IBEX_ERR_NOMEM, "", -1, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < P->n[k]; i++) {
            pl[k][i].sig = P->lands[k][i].sig;
            /* one land against one land: one position each, whatever their numbers */
            pl[k][i].number = P->n[0] == 1 && P->n[1] == 1 ? 0 : P->lands[k][i].number;
            pl[k][i].name = P->lands[k][i].name;
        }
    }
    double t1 = ibex__now();
    if ((st = ibex_compare_bullets(pl[0], P->n[0], pl[1], P->n[1], &P->res, d))) goto fail;
    double t_cmp = ibex__now() - t1;
    const ibex_bullet_pair_result *pr = P->res;
    const ibex_bullet_result *br = pr->bullets;
    size_t nA = pr->bullet[0].n_lands, nB = pr->bullet[1].n_lands;
    json_t *m = json_array(), *phases = json_array();
    for (size_t i = 0; i < nA; i++) {
        json_t *rowj = json_array();
        for (size_t jj = 0; jj < nB; jj++) {
            size_t k = i * nB + jj;
            json_t *c = json_null();
            if (br->compared[k]) {
                c = pair_json(&br->pairs[k]);
                json_object_set_new(c, "best", json_boolean(in_best(pr, i, jj)));
            }
            json_array_append_new(rowj, c);
        }
        json_array_append_new(m, rowj);
    }
    /* one land against one land: no phase to find, the land score alone */
    int bullets = pr->mode == IBEX_BULLET_PAIR_BULLETS && !(P->n[0] == 1 && P->n[1] == 1);
    if (bullets)
        for (size_t k = 0; k < br->n_phases; k++)
            json_array_append_new(phases, json_pack("{s:I, s:o, s:I}", "phase", (json_int_t)k, "sam",
                                                    num_or_null(br->sam[k]), "pairs", (json_int_t)br->phase_pairs[k]));
    int same = qrow >= 0 && !strcmp(qname, cname) && P->n[0] == P->n[1];
    for (size_t i = 0; same && i < P->n[0]; i++) same = P->lands[0][i].row == P->lands[1][i].row;
    json_t *best = pr->best_land_score >= 0
                       ? json_pack("{s:I, s:I, s:f}", "a", (json_int_t)pr->best_i, "b", (json_int_t)pr->best_j, "score",
                                   pr->best_land_score)
                       : json_null();
    P->json = json_pack(
        "{s:s, s:s, s:I, s:I, s:s, s:{s:s, s:s, s:s?}, s:{s:s?, s:I, s:s?, s:s?, s:s?, s:s?, s:s?}, s:b,"
        " s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:I, s:f, s:o, s:{s:f, s:f, s:f}}",
        "kind", "bullet", "job", ibex__wb_job_id(j), "row", (json_int_t)row, "rank", (json_int_t)rank, "mode",
        pr->mode == IBEX_BULLET_PAIR_LAND_TO_BULLET ? "land-to-bullet" : bullets ? "bullet" : "land",
        "questioned", "name", ibex__wb_job_name(j), "source", qrow >= 0 ? "library" : "upload", "bullet", qname,
        "candidate", "id", sp.id, "row", (json_int_t)row, "bullet", cname, "set", sp.set, "firearm_id", sp.firearm_id,
        "firearm_make", sp.meta.firearm_make, "firearm_model", sp.meta.firearm_model,
        "same_bullet", same,
        "a", side_json(P, 0, qname), "b", side_json(P, 1, cname), "matrix", m, "phases", phases,
        "best_phase", bullets && br->n_compared ? json_integer((json_int_t)br->best_phase) : json_null(),
        "bullet_score", bullets ? num_or_null(br->score) : json_null(),
        "runner_up", bullets ? num_or_null(br->runner_up) : json_null(),
        "lands_compared", (json_int_t)br->n_compared, "lands_high", (json_int_t)br->n_matching,
        "land_reference", IBEX_LAND_MATCH, "best_land", best,
        "seconds", "signatures", t_sig, "compare", t_cmp, "total", ibex__now() - t0);
    if (!P->json) {
        st = ibex__fail(d, IBEX_ERR_NOMEM, "", -1, "out of memory");
        goto fail;
    }
    free(pl[0]);
    free(pl[1]);
    ibex_specimen_clear(&sp);
    *out = P;
    return IBEX_OK;
fail:
    free(pl[0]);
    free(pl[1]);
    ibex_specimen_clear(&sp);
    ibex__wb_bullet_pair_free(P);
    return st;
}

/* A non-negative decimal query argument below max; 0 when absent or malformed. */
static int arg_index(struct MHD_Connection *c, const char *key, size_t max, size_t *out)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
    if (!v || !*v || strlen(v) > 6) return 0;
    size_t x = 0;
    for (const char *s = v; *s; s++) {
        if (*s < '0' || *s > '9') return 0;
        x = x * 10 + (size_t)(*s - '0');
    }
    if (x >= max) return 0;
    *out = x;
    return 1;
}

static json_t *trace_json(const wb_land *l, size_t position)
{
    const ibex_land_signature *g = l->sig;
    json_t *v = json_array();
    for (size_t i = 0; i < g->n; i++)
        json_array_append_new(v, g->valid[i] && isfinite(g->sig[i]) ? json_real(round(g->sig[i] * 1e9) / 1e3)
                                                                     : json_null());
    return json_pack("{s:I, s:s, s:I, s:f, s:f, s:o}", "position", (json_int_t)position, "id", l->name, "n",
                     (json_int_t)g->n, "spacing_um", g->spacing * 1e6, "offset_um", g->offset * 1e6, "values_um", v);
}

enum MHD_Result ibex__wb_bullet_answer(ibex_workbench *W, struct MHD_Connection *c, const char *method,
                                       wb_request *r, const wb_bullet_pair *p, const char *what,
                                       pthread_mutex_t *lock)
{
    const ibex_bullet_pair_result *pr = p->res;
    size_t nA = pr->bullet[0].n_lands, nB = pr->bullet[1].n_lands;
    if (!*what) {
        json_t *o = json_deep_copy(p->json);
        pthread_mutex_unlock(lock);
        return o ? ibex__wb_json(W, c, method, r, 200, o) : ibex__wb_error(W, c, method, r, 503, "out of memory");
    }
    if (!strcmp(what, "/heights")) {
        const char *sd = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "side");
        int k = sd && !strcmp(sd, "c");
        size_t land;
        if (!arg_index(c, "land", k ? nB : nA, &land)) {
            pthread_mutex_unlock(lock);
            return ibex__wb_error(W, c, method, r, 400, "land is a land position of %s, 0..%zu",
                                  k ? "the candidate" : "the questioned bullet", (k ? nB : nA) - 1);
        }
        const wb_land *l = at(p, k, land);
        if (!l || !l->blob) {
            pthread_mutex_unlock(lock);
            return ibex__wb_error(W, c, method, r, 404, "no land scan at position %zu of %s", land,
                                  k ? "the candidate" : "the questioned bullet");
        }
        unsigned char *copy = malloc(l->blob_n);
        size_t n = l->blob_n;
        if (copy) memcpy(copy, l->blob, n);
        pthread_mutex_unlock(lock);
        return copy ? ibex__wb_bytes(W, c, method, r, 200, "application/octet-stream", copy, n, 1, NULL, NULL)
                    : ibex__wb_error(W, c, method, r, 503, "out of memory");
    }
    /* /signatures?a=I&b=J */
    size_t a, b;
    if (!arg_index(c, "a", nA, &a) || !arg_index(c, "b", nB, &b)) {
        pthread_mutex_unlock(lock);
        return ibex__wb_error(W, c, method, r, 400, "a is a land position of the questioned bullet (0..%zu), b of the "
                              "candidate (0..%zu)", nA - 1, nB - 1);
    }
    const wb_land *la = at(p, 0, a), *lb = at(p, 1, b);
    if (!la || !lb || !la->sig || !lb->sig || !pr->bullets->compared[a * nB + b]) {
        const wb_land *bad = !la || !la->sig ? la : lb;
        pthread_mutex_unlock(lock);
        if (!bad) return ibex__wb_error(W, c, method, r, 404, "no land scan at position %zu of %s", !la ? a : b,
                                        !la ? "the questioned bullet" : "the candidate");
        if (!bad->sig) return ibex__wb_error(W, c, method, r, 404, "%s", bad->problem);
        return ibex__wb_error(W, c, method, r, 404, "lands %zu and %zu were not compared", a, b);
    }
    const ibex_land_result *lr = &pr->bullets->pairs[a * nB + b];
    json_t *o = pair_json(lr);
    json_object_set_new(o, "best", json_boolean(in_best(pr, a, b)));
    json_object_set_new(o, "a", trace_json(la, a));
    json_object_set_new(o, "b", trace_json(lb, b));
    pthread_mutex_unlock(lock);
    return o ? ibex__wb_json(W, c, method, r, 200, o) : ibex__wb_error(W, c, method, r, 503, "out of memory");
}
