/* The library browser's data: the specimen table read whole into memory (re-read when the
 * library file changes, e.g. after an ingest), filtered, sorted and paged per request; and a
 * small shaded picture of each specimen (ibex_surface_render), kept by its source hash. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "png_internal.h"
#include "workbench_internal.h"

#define THUMB_SIDE 160
#define PICTURE_SIDE 720 /* the specimen view's picture */
#define PAGE_DEFAULT 50
#define PAGE_MAX 500

ibex_status ibex__wb_library_open(const ibex_workbench *W, ibex_library **lib, ibex_diag *d)
{
    return ibex_library_open(W->lib_path, NULL, lib, d);
}

static void spec_clear(wb_spec *s)
{
    free(s->id);
    free(s->kind);
    free(s->region);
    free(s->set);
    free(s->firearm_id);
    free(s->make);
    free(s->model);
    free(s->calibre);
    free(s->case_number);
    memset(s, 0, sizeof *s);
}

static void catalog_clear(ibex_workbench *W)
{
    for (size_t i = 0; i < W->ncat; i++) spec_clear(&W->cat[i]);
    free(W->cat);
    for (size_t i = 0; i < W->ncat_sets; i++) free(W->cat_sets[i]);
    free(W->cat_sets);
    W->cat = NULL;
    W->cat_sets = NULL;
    W->ncat = W->ncat_sets = 0;
}

void ibex__wb_catalog_free(ibex_workbench *W)
{
    catalog_clear(W);
    for (size_t i = 0; i < W->nthumbs; i++) free(W->thumbs[i].png);
    free(W->thumbs);
    W->thumbs = NULL;
    W->nthumbs = 0;
}

/* NULL for an empty value, else a copy. */
static char *dup_or_null(const char *s)
{
    return s && *s ? ibex__strdup(s) : NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads every row (caller holds cat_lock). On failure the old catalog stays. */
static ibex_status catalog_read(ibex_workbench *W, ibex_diag *d)
{
    ibex_library *lib = NULL;
    ibex_status st = ibex__wb_library_open(W, &lib, d);
    if (st) return st;
    size_t n = ibex_library_count(lib);
    wb_spec *v = calloc(n ? n : 1, sizeof *v);
    char **sets = calloc(n ? n : 1, sizeof *sets);
    size_t nsets = 0, i = 0;
    if (!v || !sets) st = ibex__fail(d, IBEX_ERR_NOMEM, W->lib_path, -1, "out of memory");
    for (; !st && i < n; i++) {
        ibex_specimen sp;
        memset(&sp, 0, sizeof sp);
        if ((st = ibex_library_get_info(lib, i, &sp, d))) break;
        wb_spec *s = &v[i];
        s->row = i;
        s->id = dup_or_null(sp.id);
        s->kind = dup_or_null(sp.kind);
        s->region = dup_or_null(sp.region ? sp.region : sp.meta.region);
        s->set = dup_or_null(sp.set);
        s->firearm_id = dup_or_null(sp.firearm_id);
        s->make = dup_or_null(sp.meta.firearm_make);
        s->model = dup_or_null(sp.meta.firearm_model);
        s->calibre = dup_or_null(sp.meta.calibre);
        s->case_number = dup_or_null(sp.meta.case_number);
        memcpy(s->sha256, sp.sha256, sizeof s->sha256);
        s->ingest_time = sp.ingest_time;
        s->nx = sp.nx;
        s->ny = sp.ny;
        s->dx = sp.dx;
        if (s->set) {
            int seen = 0;
            for (size_t k = 0; k < nsets && !seen; k++) seen = !strcmp(sets[k], s->set);
            if (!seen && !(sets[nsets++] = ibex__strdup(s->set)))
                st = ibex__fail(d, IBEX_ERR_NOMEM, W->lib_path, -1, "out of memory");
        }
        ibex_specimen_clear(&sp);
    }
    ibex_library_close(lib, NULL);
    if (st) {
        for (size_t k = 0; v && k < n; k++) spec_clear(&v[k]);
        for (size_t k = 0; k < nsets; k++) free(sets[k]);
        free(v);
        free(sets);
        return st;
    }
    qsort(sets, nsets, sizeof *sets, cmp_str);
    catalog_clear(W);
    W->cat = v;
    W->ncat = n;
    W->cat_sets = sets;
    W->ncat_sets = nsets;
    return IBEX_OK;
}

/* Brings the catalog up to date with the file (caller holds cat_lock). */
static ibex_status catalog_refresh(ibex_workbench *W, ibex_diag *d)
{
    struct stat sb;
    if (stat(W->lib_path, &sb) != 0) return ibex__fail(d, IBEX_ERR_IO, W->lib_path, -1, "the library is gone");
    long long mt = (long long)sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec, size = (long long)sb.st_size;
    if (W->cat && mt == W->cat_mtime_ns && size == W->cat_size) return IBEX_OK;
    ibex_status st = catalog_read(W, d);
    if (!st) {
        W->cat_mtime_ns = mt;
        W->cat_size = size;
    }
    return st;
}

/* ---- GET /api/specimens ---- */
typedef enum sort_key { BY_ROW, BY_ID, BY_KIND, BY_SET, BY_FIREARM, BY_TIME } sort_key;

static int cmp_opt(const char *a, const char *b)
{
    if (!a || !b) return a ? -1 : b ? 1 : 0; /* absent values last */
    return strcasecmp(a, b);
}

static int cmp_spec(const void *pa, const void *pb, void *user)
{
    const wb_spec *a = *(wb_spec *const *)pa, *b = *(wb_spec *const *)pb;
    const int *how = user; /* [key, descending] */
    int c = 0;
    switch ((sort_key)how[0]) {
    case BY_ROW: break;
    case BY_ID: c = cmp_opt(a->id, b->id); break;
    case BY_KIND: c = cmp_opt(a->kind, b->kind); break;
    case BY_SET: c = cmp_opt(a->set, b->set); break;
    case BY_FIREARM: c = cmp_opt(a->firearm_id, b->firearm_id); break;
    case BY_TIME: c = a->ingest_time < b->ingest_time ? -1 : a->ingest_time > b->ingest_time; break;
    }
    if (how[1]) c = -c;
    if (!c) c = a->row < b->row ? -1 : a->row > b->row; /* stable pages */
    return c;
}

static int contains(const char *hay, const char *needle)
{
    return hay && strcasestr(hay, needle) != NULL;
}

static int text_match(const wb_spec *s, const char *q)
{
    return contains(s->id, q) || contains(s->set, q) || contains(s->firearm_id, q) || contains(s->make, q) ||
           contains(s->model, q) || contains(s->calibre, q) || contains(s->case_number, q) || contains(s->region, q);
}

static json_t *spec_json(const wb_spec *s)
{
    char when[32] = "";
    if (s->ingest_time > 0) {
        time_t t = (time_t)s->ingest_time;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    return json_pack("{s:I, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:I, s:I, s:I, s:f}",
                     "row", (json_int_t)s->row, "id", s->id, "kind", s->kind, "region", s->region, "set", s->set,
                     "firearm_id", s->firearm_id, "firearm_make", s->make, "firearm_model", s->model, "calibre",
                     s->calibre, "case_number", s->case_number, "ingest_time", when[0] ? when : NULL, "ingest_unix",
                     (json_int_t)s->ingest_time, "nx", (json_int_t)s->nx, "ny", (json_int_t)s->ny, "spacing_um",
                     s->dx * 1e6);
}

static int arg_size(struct MHD_Connection *c, const char *key, size_t def, size_t max, size_t *out)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
    if (!v || !*v) {
        *out = def;
        return 1;
    }
    char *end;
    unsigned long long x = strtoull(v, &end, 10);
    if (*end || !isdigit((unsigned char)v[0]) || x > max) return 0;
    *out = (size_t)x;
    return 1;
}

enum MHD_Result ibex__wb_h_specimens(ibex_workbench *W, struct MHD_Connection *c, const char *method,
                                     wb_request *r)
{
    size_t offset, limit;
    if (!arg_size(c, "offset", 0, (size_t)1 << 40, &offset) || !arg_size(c, "limit", PAGE_DEFAULT, PAGE_MAX, &limit))
        return ibex__wb_error(W, c, method, r, 400, "offset and limit are counts (limit at most %d)", PAGE_MAX);
    const char *kind = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "kind");
    const char *set = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "set");
    const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "q");
    const char *sort = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "sort");
    const char *order = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "order");
    static const char *const sort_names[] = {"row", "id", "kind", "set", "firearm", "ingest_time"};
    int how[2] = {BY_ROW, 0};
    if (sort && *sort) {
        how[0] = -1;
        for (int k = 0; k < 6; k++)
            if (!strcmp(sort, sort_names[k])) how[0] = k;
        if (how[0] < 0)
            return ibex__wb_error(W, c, method, r, 400, "sort is one of row, id, kind, set, firearm, ingest_time");
    }
    if (order && *order && strcmp(order, "asc") && strcmp(order, "desc"))
        return ibex__wb_error(W, c, method, r, 400, "order is asc or desc");
    how[1] = order && !strcmp(order, "desc");
    if (kind && !*kind) kind = NULL;
    if (set && !*set) set = NULL;
    if (q && !*q) q = NULL;

    ibex_diag d;
    pthread_mutex_lock(&W->cat_lock);
    ibex_status st = catalog_refresh(W, &d);
    if (st) {
        pthread_mutex_unlock(&W->cat_lock);
        return ibex__wb_fail(W, c, method, r, st, &d);
    }
    const wb_spec **m = malloc((W->ncat ? W->ncat : 1) * sizeof *m);
    json_t *list = json_array(), *sets = json_array(), *kinds = json_array();
    size_t nm = 0;
    if (m) {
        for (size_t i = 0; i < W->ncat; i++) {
            const wb_spec *s = &W->cat[i];
            if (kind && (!s->kind || strcmp(s->kind, kind))) continue;
            if (set && (!s->set || strcmp(s->set, set))) continue;
            if (q && !text_match(s, q)) continue;
            m[nm++] = s;
        }
        qsort_r(m, nm, sizeof *m, cmp_spec, how);
        for (size_t i = offset; i < nm && i < offset + limit; i++) json_array_append_new(list, spec_json(m[i]));
    }
    for (size_t i = 0; i < W->ncat_sets; i++) json_array_append_new(sets, json_string(W->cat_sets[i]));
    int has_kind[2] = {0, 0};
    for (size_t i = 0; i < W->ncat; i++)
        if (W->cat[i].kind) {
            if (!strcmp(W->cat[i].kind, "cartridge")) has_kind[0] = 1;
            else if (!strcmp(W->cat[i].kind, "bullet")) has_kind[1] = 1;
        }
    if (has_kind[0]) json_array_append_new(kinds, json_string("cartridge"));
    if (has_kind[1]) json_array_append_new(kinds, json_string("bullet"));
    size_t total = W->ncat;
    pthread_mutex_unlock(&W->cat_lock);
    if (!m) {
        json_decref(list);
        json_decref(sets);
        json_decref(kinds);
        return ibex__wb_error(W, c, method, r, 503, "out of memory");
    }
    free(m);
    return ibex__wb_json(W, c, method, r, 200,
                         json_pack("{s:I, s:I, s:I, s:I, s:o, s:o, s:o}", "total", (json_int_t)total, "matched",
                                   (json_int_t)nm, "offset", (json_int_t)offset, "limit", (json_int_t)limit, "sets",
                                   sets, "kinds", kinds, "specimens", list));
}

/* ---- GET /api/specimens/ROW/thumbnail.png ---- */
static int thumb_get(ibex_workbench *W, const char *sha, unsigned char **png, size_t *n)
{
    int found = 0;
    pthread_mutex_lock(&W->th_lock);
    for (size_t i = 0; i < W->nthumbs && !found; i++)
        if (!strcmp(W->thumbs[i].sha256, sha)) {
            W->thumbs[i].used = ++W->th_clock;
            if ((*png = malloc(W->thumbs[i].n))) {
                memcpy(*png, W->thumbs[i].png, W->thumbs[i].n);
                *n = W->thumbs[i].n;
                found = 1;
            }
        }
    pthread_mutex_unlock(&W->th_lock);
    return found;
}

static void thumb_put(ibex_workbench *W, const char *sha, const unsigned char *png, size_t n)
{
    unsigned char *copy = malloc(n);
    if (!copy) return;
    memcpy(copy, png, n);
    pthread_mutex_lock(&W->th_lock);
    for (size_t i = 0; i < W->nthumbs; i++)
        if (!strcmp(W->thumbs[i].sha256, sha)) { /* another request made it meanwhile */
            pthread_mutex_unlock(&W->th_lock);
            free(copy);
            return;
        }
    size_t k = W->nthumbs;
    if (k == WB_THUMBS_KEPT) {
        k = 0;
        for (size_t i = 1; i < W->nthumbs; i++)
            if (W->thumbs[i].used < W->thumbs[k].used) k = i;
        free(W->thumbs[k].png);
    } else {
        W->nthumbs++;
    }
    wb_thumb *t = &W->thumbs[k];
    memcpy(t->sha256, sha, sizeof t->sha256);
    t->png = copy;
    t->n = n;
    t->used = ++W->th_clock;
    pthread_mutex_unlock(&W->th_lock);
}

static ibex_status thumb_make(ibex_workbench *W, size_t row, unsigned char **png, size_t *n, ibex_diag *d);

/* The shaded picture of a specimen, at most side pixels a side. */
static ibex_status picture_make(ibex_workbench *W, size_t row, size_t side, unsigned char **png, size_t *n,
                                ibex_diag *d)
{
    ibex_library *lib = NULL;
    ibex_surface *s = NULL;
    ibex_image *im = NULL;
    ibex_status st = ibex__wb_library_open(W, &lib, d);
    if (!st) st = ibex_library_get_surface(lib, row, &s, d);
    ibex_library_close(lib, NULL);
    if (st) return st;
    ibex_render_opts ro;
    ibex_render_opts_init(&ro);
    ro.style = IBEX_RENDER_SHADED;
    ro.max_side = side;
    /* not measured: the page's neutral grey, not an alarming colour */
    ro.invalid_rgb[0] = 228;
    ro.invalid_rgb[1] = 230;
    ro.invalid_rgb[2] = 233;
    if ((st = ibex_surface_render(s, &ro, &im))) st = ibex__fail(d, st, "", -1, "cannot draw specimen row %zu", row);
    else st = ibex__image_png_mem(im, png, n, d);
    ibex_image_free(im);
    ibex_surface_free(s);
    return st;
}

static ibex_status thumb_make(ibex_workbench *W, size_t row, unsigned char **png, size_t *n, ibex_diag *d)
{
    return picture_make(W, row, THUMB_SIDE, png, n, d);
}

/* The catalog entry of row (a copy of its JSON and SHA-256); 0 when there is none. */
static int spec_get(ibex_workbench *W, size_t row, json_t **o, char sha[65], ibex_status *st, ibex_diag *d)
{
    pthread_mutex_lock(&W->cat_lock);
    *st = catalog_refresh(W, d);
    int have = !*st && row < W->ncat;
    if (have) {
        if (o) *o = spec_json(&W->cat[row]);
        memcpy(sha, W->cat[row].sha256, 65);
    }
    pthread_mutex_unlock(&W->cat_lock);
    return have;
}

enum MHD_Result ibex__wb_h_specimen(ibex_workbench *W, struct MHD_Connection *c, const char *method, wb_request *r,
                                    size_t row)
{
    ibex_diag d;
    ibex_status st;
    json_t *o = NULL;
    char sha[65];
    if (!spec_get(W, row, &o, sha, &st, &d))
        return st ? ibex__wb_fail(W, c, method, r, st, &d) : ibex__wb_error(W, c, method, r, 404, "no specimen at row %zu", row);
    json_object_set_new(o, "sha256", json_string(sha));
    return ibex__wb_json(W, c, method, r, 200, o);
}

enum MHD_Result ibex__wb_h_picture(ibex_workbench *W, struct MHD_Connection *c, const char *method, wb_request *r,
                                   size_t row)
{
    ibex_diag d;
    ibex_status st;
    char sha[65], etag[40];
    if (!spec_get(W, row, NULL, sha, &st, &d))
        return st ? ibex__wb_fail(W, c, method, r, st, &d) : ibex__wb_error(W, c, method, r, 404, "no specimen at row %zu", row);
    snprintf(etag, sizeof etag, "\"p%.31s\"", sha);
    const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    if (inm && !strcmp(inm, etag)) return ibex__wb_bytes(W, c, method, r, 304, "image/png", NULL, 0, 0, "private, max-age=86400", etag);
    unsigned char *png = NULL;
    size_t n = 0;
    if ((st = picture_make(W, row, PICTURE_SIDE, &png, &n, &d))) return ibex__wb_fail(W, c, method, r, st, &d);
    return ibex__wb_bytes(W, c, method, r, 200, "image/png", png, n, 1, "private, max-age=86400", etag);
}

enum MHD_Result ibex__wb_h_thumbnail(ibex_workbench *W, struct MHD_Connection *c, const char *method,
                                     wb_request *r, size_t row)
{
    ibex_diag d;
    ibex_status st;
    char sha[65];
    if (!spec_get(W, row, NULL, sha, &st, &d))
        return st ? ibex__wb_fail(W, c, method, r, st, &d) : ibex__wb_error(W, c, method, r, 404, "no specimen at row %zu", row);
    char etag[40];
    snprintf(etag, sizeof etag, "\"%.32s\"", sha);
    const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    if (inm && !strcmp(inm, etag)) return ibex__wb_bytes(W, c, method, r, 304, "image/png", NULL, 0, 0, "private, max-age=86400", etag);
    unsigned char *png = NULL;
    size_t n = 0;
    if (!thumb_get(W, sha, &png, &n)) {
        if ((st = thumb_make(W, row, &png, &n, &d))) return ibex__wb_fail(W, c, method, r, st, &d);
        thumb_put(W, sha, png, n);
    }
    return ibex__wb_bytes(W, c, method, r, 200, "image/png", png, n, 1, "private, max-age=86400", etag);
}

/* Draws the pictures of the first WB_THUMBS_WARM specimens in the background at start, so the
 * first page of the library list is not waiting for them. Stops when W->stopping is set. */
void *ibex__wb_thumbs_warm(void *arg)
{
    ibex_workbench *W = arg;
    ibex_diag d;
    size_t n = 0;
    char (*sha)[65] = NULL;
    pthread_mutex_lock(&W->cat_lock);
    if (catalog_refresh(W, &d) == IBEX_OK) {
        n = W->ncat < WB_THUMBS_WARM ? W->ncat : WB_THUMBS_WARM;
        sha = malloc((n ? n : 1) * sizeof *sha);
        for (size_t i = 0; sha && i < n; i++) memcpy(sha[i], W->cat[i].sha256, 65);
    }
    pthread_mutex_unlock(&W->cat_lock);
    for (size_t i = 0; sha && i < n && !atomic_load(&W->stopping); i++) {
        unsigned char *png = NULL;
        size_t len = 0;
        if (thumb_get(W, sha[i], &png, &len)) {
            free(png);
            continue;
        }
        if (thumb_make(W, i, &png, &len, &d) == IBEX_OK) thumb_put(W, sha[i], png, len);
        free(png);
    }
    free(sha);
    return NULL;
}
