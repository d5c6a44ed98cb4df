/* Searches as background jobs: POST /api/jobs starts the two-stage search of a questioned
 * scan (include/ibex/search.h) on a thread of its own, GET /api/jobs/ID reports its progress
 * and, once done, the ranked list; POST /api/jobs/ID/cancel stops it at the next unit (the
 * progress callback returns "cancel"). The list carries scores and counts only: no verdict,
 * no verbal conclusion (docs/reference/workbench.md). */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exchange_internal.h"
#include "workbench_internal.h"

typedef enum job_state { J_QUEUED, J_RUNNING, J_DONE, J_FAILED, J_CANCELLED } job_state;
static const char *const state_names[] = {"queued", "running", "done", "failed", "cancelled"};

struct wb_job {
    char id[WB_JOB_ID + 1];
    ibex_workbench *W;
    unsigned refs;             /* under W->j_lock: the list holds one, the thread one, each handler one */
    int listed;
    atomic_int cancel;
    pthread_mutex_t lock;      /* the fields below, up to pair_lock */
    job_state state;
    char stage[32];
    size_t done, total;
    double eta, t_created, t_started, t_ended;
    time_t created;
    char error[1200], code[32];
    json_t *result;            /* when done: {"info": ..., "candidates": [...]} */
    json_t *partial;           /* while running: the candidates streamed so far */
    size_t scored;             /* of them, scored by stage 2 */
    ibex_library *run_lib;     /* the search's library handle, while it runs */
    size_t *rows;              /* the ranked rows, when done */
    size_t nrows;
    /* set before the thread starts, then read-only */
    char name[WB_NAME_MAX + 1];
    long long query_row;       /* a library specimen as the query, else -1 */
    char query_sha256[65];     /* the questioned scan's source SHA-256 (upload or specimen) */
    char case_id[WB_NAME_MAX + 1]; /* the case it belongs to, as the examiner gave it ("" none) */
    int exclude_same;
    size_t shortlist;
    ibex_surface *query;       /* as read (the candidate view compares it again) */
    pthread_mutex_t pair_lock; /* the candidate view's compared pairs */
    struct wb_pair *pairs[WB_PAIRS_KEPT];
    wb_job *next;              /* the server's list, newest first (W->j_lock) */
};

const ibex_surface *ibex__wb_job_query(const wb_job *j) { return j->query; }
const char *ibex__wb_job_name(const wb_job *j) { return j->name; }
const char *ibex__wb_job_id(const wb_job *j) { return j->id; }
const char *ibex__wb_job_query_sha256(const wb_job *j) { return j->query_sha256; }
long long ibex__wb_job_row(const wb_job *j) { return j->query_row; }

struct wb_pair **ibex__wb_job_pairs(wb_job *j, pthread_mutex_t **lock)
{
    *lock = &j->pair_lock;
    return j->pairs;
}

int ibex__wb_job_record_info(wb_job *j, size_t row, char qsha[65], char *name, size_t name_size, char *case_id,
                             size_t case_size, json_t **candidate, char *kind, size_t kind_size)
{
    int found = 0;
    pthread_mutex_lock(&j->lock);
    json_t *list = json_object_get(j->result, "candidates");
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        if (!found && json_integer_value(json_object_get(e, "row")) == (json_int_t)row) {
            *candidate = json_deep_copy(e);
            found = *candidate != NULL;
        }
    }
    const char *k = json_string_value(json_object_get(json_object_get(j->result, "info"), "kind"));
    snprintf(kind, kind_size, "%s", k ? k : "");
    pthread_mutex_unlock(&j->lock);
    memcpy(qsha, j->query_sha256, 65);
    snprintf(name, name_size, "%s", j->name);
    snprintf(case_id, case_size, "%s", j->case_id);
    return found;
}

int ibex__wb_job_has_candidate(wb_job *j, size_t row, size_t *rank)
{
    int found = 0;
    pthread_mutex_lock(&j->lock);
    for (size_t i = 0; i < j->nrows && !found; i++)
        if (j->rows[i] == row) {
            found = 1;
            *rank = i + 1;
        }
    pthread_mutex_unlock(&j->lock);
    return found;
}

static void job_free(wb_job *j)
{
    for (size_t i = 0; i < WB_PAIRS_KEPT; i++) ibex__wb_pair_free(j->pairs[i]);
    json_decref(j->result);
    json_decref(j->partial);
    free(j->rows);
    ibex_surface_free(j->query);
    pthread_mutex_destroy(&j->lock);
    pthread_mutex_destroy(&j->pair_lock);
    free(j);
}

/* Drops one reference (caller holds W->j_lock); frees the job with the last. */
static void unref_locked(wb_job *j)
{
    if (--j->refs == 0) job_free(j);
}

static void job_put(wb_job *j)
{
    ibex_workbench *W = j->W;
    pthread_mutex_lock(&W->j_lock);
    unref_locked(j);
    pthread_mutex_unlock(&W->j_lock);
}

/* The job with this id, referenced (job_put when done with it); NULL when unknown. */
static wb_job *job_find(ibex_workbench *W, const char *id)
{
    wb_job *found = NULL;
    pthread_mutex_lock(&W->j_lock);
    for (wb_job *j = W->jobs; j && !found; j = j->next)
        if (ibex__wb_equal(j->id, id)) {
            found = j;
            j->refs++;
        }
    pthread_mutex_unlock(&W->j_lock);
    return found;
}

static int job_finished(wb_job *j)
{
    pthread_mutex_lock(&j->lock);
    int f = j->state >= J_DONE;
    pthread_mutex_unlock(&j->lock);
    return f;
}

/* Forgets the oldest finished jobs past WB_MAX_JOBS_KEPT (caller holds W->j_lock). */
static void evict_locked(ibex_workbench *W)
{
    size_t n = 0;
    for (wb_job *j = W->jobs; j; j = j->next) n++;
    while (n > WB_MAX_JOBS_KEPT) {
        wb_job **victim = NULL;
        for (wb_job **p = &W->jobs; *p; p = &(*p)->next)
            if (job_finished(*p)) victim = p; /* the last finished one is the oldest */
        if (!victim) return;
        wb_job *j = *victim;
        *victim = j->next;
        j->listed = 0;
        unref_locked(j);
        n--;
    }
}

/* ---- the search thread ---- */
static int on_progress(void *user, const char *stage, size_t done, size_t total, double eta)
{
    wb_job *j = user;
    pthread_mutex_lock(&j->lock);
    snprintf(j->stage, sizeof j->stage, "%s", stage ? stage : "");
    j->done = done;
    j->total = total;
    j->eta = eta;
    pthread_mutex_unlock(&j->lock);
    return atomic_load(&j->cancel);
}

static json_t *candidate_json(ibex_library *lib, const ibex_search_candidate *c, size_t rank)
{
    ibex_specimen sp;
    memset(&sp, 0, sizeof sp);
    int info = ibex_library_get_info(lib, c->row, &sp, NULL) == IBEX_OK;
    json_t *o = json_pack("{s:I, s:I, s:s?, s:s?, s:s?, s:f, s:b}", "rank", (json_int_t)rank, "row", (json_int_t)c->row,
                          "id", c->id, "kind", c->kind, "firearm_id", c->firearm_id, "stage1", (double)c->stage1,
                          "stage2", c->done);
    if (info) {
        json_object_set_new(o, "set", sp.set && *sp.set ? json_string(sp.set) : json_null());
        json_object_set_new(o, "firearm_make", sp.meta.firearm_make ? json_string(sp.meta.firearm_make) : json_null());
        json_object_set_new(o, "firearm_model", sp.meta.firearm_model ? json_string(sp.meta.firearm_model) : json_null());
        json_object_set_new(o, "calibre", sp.meta.calibre ? json_string(sp.meta.calibre) : json_null());
        json_object_set_new(o, "case_number", sp.meta.case_number ? json_string(sp.meta.case_number) : json_null());
        ibex_specimen_clear(&sp);
    }
    if (c->done) {
        json_object_set_new(o, "score", json_real(c->score));
        json_object_set_new(o, "cmc", json_integer(c->cmc));
        if (c->kind && !strcmp(c->kind, "bullet")) {
            json_object_set_new(o, "ccf", json_real(c->ccf));
        } else {
            json_object_set_new(o, "cmc_high", json_integer(c->cmc_high));
            json_object_set_new(o, "cells_a", json_integer(c->cells_a));
            json_object_set_new(o, "cells_b", json_integer(c->cells_b));
        }
    }
    /* The calibrated likelihood ratio, as a number only: no verbal scale (docs). */
    if (c->done && c->has_lr) json_object_set_new(o, "log10_lr", json_real(c->log10_lr));
    if (c->error[0]) json_object_set_new(o, "error", json_string(c->error));
    if (!isnan(c->screen)) { /* two-step stage 2 (ibex_search_opts.exact_top) */
        json_object_set_new(o, "screen", json_real(c->screen));
        json_object_set_new(o, "screened_out", json_boolean(c->screened_out));
    }
    return o;
}

/* Streamed results (ibex_search_opts.on_candidate): the list so far, shown while stage 2 runs. */
static void on_candidate(void *user, size_t query, int stage, const ibex_search_candidate *c)
{
    wb_job *j = user;
    (void)query;
    json_t *o = candidate_json(j->run_lib, c, 0);
    if (!o) return;
    pthread_mutex_lock(&j->lock);
    if (!j->partial) j->partial = json_array();
    size_t i;
    json_t *e;
    int replaced = 0;
    if (stage == 2)
        json_array_foreach(j->partial, i, e)
        {
            if (!replaced && json_integer_value(json_object_get(e, "row")) == (json_int_t)c->row) {
                json_array_set(j->partial, i, o);
                replaced = 1;
            }
        }
    if (!replaced) json_array_append(j->partial, o);
    if (stage == 2) j->scored++;
    pthread_mutex_unlock(&j->lock);
    json_decref(o);
}

/* The partial list in the order the final one will have: pairs scored by stage 2 by their
 * score, then the others by their stage-1 similarity; ranks numbered. Caller holds j->lock. */
static int partial_cmp(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    int dx = json_is_true(json_object_get(x, "stage2")), dy = json_is_true(json_object_get(y, "stage2"));
    if (dx != dy) return dy - dx;
    double sx = json_number_value(json_object_get(x, dx ? "score" : "stage1"));
    double sy = json_number_value(json_object_get(y, dy ? "score" : "stage1"));
    return sx < sy ? 1 : sx > sy ? -1 : 0;
}

static json_t *partial_json(wb_job *j)
{
    size_t n = json_array_size(j->partial);
    json_t **v = malloc((n ? n : 1) * sizeof *v);
    if (!v) return NULL;
    for (size_t i = 0; i < n; i++) v[i] = json_array_get(j->partial, i);
    qsort(v, n, sizeof *v, partial_cmp);
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_deep_copy(v[i]);
        json_object_set_new(o, "rank", json_integer((json_int_t)i + 1));
        json_array_append_new(list, o);
    }
    free(v);
    const char *kind = n ? json_string_value(json_object_get(json_array_get(j->partial, 0), "kind")) : NULL;
    return json_pack("{s:{s:s?}, s:o, s:I, s:b}", "info", "kind", kind, "candidates", list, "scored",
                     (json_int_t)j->scored, "provisional", 1);
}

static void finish(wb_job *j, job_state state, json_t *result, size_t *rows, size_t nrows, ibex_status st,
                   const ibex_diag *d)
{
    pthread_mutex_lock(&j->lock);
    j->state = state;
    j->result = result;
    j->rows = rows;
    j->nrows = nrows;
    j->t_ended = ibex__now();
    if (st) {
        ibex_diag_format(d, st, j->error, sizeof j->error);
        snprintf(j->code, sizeof j->code, "%s", ibex_status_name(st));
    }
    pthread_mutex_unlock(&j->lock);
}

static void *run(void *arg)
{
    wb_job *j = arg;
    ibex_workbench *W = j->W;
    pthread_mutex_lock(&j->lock);
    j->state = J_RUNNING;
    j->t_started = ibex__now();
    snprintf(j->stage, sizeof j->stage, "opening the library");
    pthread_mutex_unlock(&j->lock);

    ibex_diag d;
    ibex_diag_clear(&d);
    ibex_library *lib = NULL;
    ibex_search_result *res = NULL;
    json_t *result = NULL;
    size_t *rows = NULL, nrows = 0;
    ibex_status st = ibex__wb_library_open(W, &lib, &d);
    /* The scan itself, when the library holds it, is left out of its own list: by its row's
     * SHA-256 for a picked specimen, by the uploaded bytes' for an upload. */
    char self_sha[65] = "";
    if (!st && j->exclude_same) memcpy(self_sha, j->query_sha256, sizeof self_sha);
    size_t self = 0;
    int has_self = self_sha[0] && ibex_library_find_hash(lib, self_sha, &self);
    if (!st) {
        ibex_search_opts so;
        ibex_search_opts_init(&so);
        so.shortlist = j->shortlist;
        so.threads = W->search_threads;
        so.progress = on_progress;
        so.progress_user = j;
        const char *self_list[1] = {self_sha[0] ? self_sha : NULL};
        so.exclude_self = self_sha[0] != 0;
        so.self_sha256 = self_list;
        so.on_candidate = on_candidate;
        so.keep_comparisons = W->prefetch > 0;
        so.candidate_user = j;
        j->run_lib = lib;
        const ibex_surface *qs[1] = {j->query};
        const char *names[1] = {j->name};
        st = ibex_search_run(lib, qs, names, 1, &so, &res, &d);
    }
    if (!st) {
        const ibex_search_info *in = ibex_search_result_info(res);
        size_t n = ibex_search_result_count(res, 0);
        json_t *list = json_array();
        rows = malloc((n ? n : 1) * sizeof *rows);
        for (size_t h = 0; rows && h < n && nrows < j->shortlist; h++) {
            const ibex_search_candidate *c = ibex_search_result_get(res, 0, h);
            if (has_self && c->row == self) continue; /* left out by the search already; kept as a guard */
            rows[nrows++] = c->row;
            json_array_append_new(list, candidate_json(lib, c, nrows));
        }
        ibex_cmc_opts co;
        ibex_cmc_opts_init(&co);
        json_t *info = json_pack("{s:s, s:I, s:I, s:I, s:b, s:b, s:f, s:f, s:f}", "kind", in->kind, "library_rows",
                                 (json_int_t)in->library_rows, "indexed", (json_int_t)in->indexed, "not_indexed",
                                 (json_int_t)in->not_indexed, "stage2", in->stage2, "left_out_self", has_self,
                                 "t_stage1", in->t_stage1, "t_stage2", in->t_stage2, "t_total", in->t_total);
        if (!in->bullet) json_object_set_new(info, "reference_cmc", json_integer(co.id_threshold));
        result = json_pack("{s:o, s:o}", "info", info, "candidates", list);
        if (!rows) {
            json_decref(result);
            result = NULL;
            st = ibex__fail(&d, IBEX_ERR_NOMEM, "", -1, "out of memory");
        }
    }
    ibex_library_close(lib, NULL);
    /* The candidate views of the top candidates, from stage 2's own comparisons
     * (keep_comparisons): rank 1's before the list is shown, the others just after. */
    const ibex_search_candidate *top[WB_PAIRS_KEPT];
    size_t ntop = 0;
    for (size_t h = 0; !st && res && h < ibex_search_result_count(res, 0) && ntop < W->prefetch; h++) {
        const ibex_search_candidate *c = ibex_search_result_get(res, 0, h);
        if (has_self && c->row == self) continue;
        top[ntop++] = c;
    }
    if (ntop) ibex__wb_pair_adopt(W, j, top[0], 1);
    finish(j, !st ? J_DONE : st == IBEX_ERR_CANCELLED ? J_CANCELLED : J_FAILED, result, rows, nrows, st, &d);

    pthread_mutex_lock(&W->j_lock);
    W->running--; /* the slot is free for the next search */
    W->background++;
    pthread_cond_broadcast(&W->j_done);
    pthread_mutex_unlock(&W->j_lock);
    for (size_t k = 1; k < ntop && !atomic_load(&j->cancel); k++) ibex__wb_pair_adopt(W, j, top[k], k + 1);
    ibex_search_result_free(res);
    pthread_mutex_lock(&W->j_lock);
    W->background--;
    unref_locked(j);
    pthread_cond_broadcast(&W->j_done);
    pthread_mutex_unlock(&W->j_lock);
    return NULL;
}

/* ---- handlers ---- */
static json_t *job_json(wb_job *j)
{
    pthread_mutex_lock(&j->lock);
    double now = ibex__now();
    double elapsed = j->state == J_QUEUED ? 0 : (j->state >= J_DONE ? j->t_ended : now) - j->t_started;
    char when[32];
    struct tm tm;
    gmtime_r(&j->created, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    const ibex_surface *q = j->query;
    json_t *query = json_pack("{s:s, s:s, s:s, s:I, s:I, s:f}", "name", j->name, "source",
                              j->query_row >= 0 ? "library" : "upload", "kind", ibex_scan_kind(q), "nx",
                              (json_int_t)q->nx, "ny", (json_int_t)q->ny, "spacing_um", q->dx * 1e6);
    if (j->query_row >= 0) json_object_set_new(query, "row", json_integer(j->query_row));
    else json_object_set_new(query, "sha256", json_string(j->query_sha256));
    json_object_set_new(query, "source_sha256", json_string(j->query_sha256));
    if (j->case_id[0]) json_object_set_new(query, "case", json_string(j->case_id));
    json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:f, s:f, s:s, s:o, s:I, s:b}", "id", j->id, "state",
                          state_names[j->state], "stage", j->stage, "done", (json_int_t)j->done, "total",
                          (json_int_t)j->total, "eta_s", j->eta, "elapsed_s", elapsed, "created", when, "query", query,
                          "shortlist", (json_int_t)j->shortlist, "exclude_same", j->exclude_same);
    if (j->error[0]) {
        json_object_set_new(o, "error", json_string(j->error));
        json_object_set_new(o, "code", json_string(j->code));
    }
    if (j->result) json_object_set(o, "result", j->result);
    else if (j->partial && j->state == J_RUNNING) json_object_set_new(o, "partial", partial_json(j));
    pthread_mutex_unlock(&j->lock);
    return o;
}

json_t *ibex__wb_job_json(wb_job *j)
{
    return job_json(j);
}

static int parse_count(const char *v, size_t max, size_t *out)
{
    if (!v || !isdigit((unsigned char)v[0])) return 0;
    char *end;
    unsigned long long x = strtoull(v, &end, 10);
    if (*end || x > max) return 0;
    *out = (size_t)x;
    return 1;
}

static int parse_flag(const char *v, int def)
{
    if (!v || !*v) return def;
    return !(strcmp(v, "0") == 0 || strcasecmp(v, "false") == 0 || strcasecmp(v, "no") == 0 ||
             strcasecmp(v, "off") == 0);
}

/* Starts the job's thread and lists it; answers 202 with its state. Takes q. */
static enum MHD_Result start(ibex_workbench *W, struct MHD_Connection *c, const char *method, wb_request *r,
                             ibex_surface *q, const char *name, long long row, const char *qsha,
                             size_t shortlist, int exclude)
{
    wb_job *j = calloc(1, sizeof *j);
    if (!j) {
        ibex_surface_free(q);
        return ibex__wb_error(W, c, method, r, 503, "out of memory");
    }
    ibex__wb_random_hex(j->id, WB_JOB_ID / 2);
    j->W = W;
    j->query = q;
    j->query_row = row;
    snprintf(j->name, sizeof j->name, "%s", name);
    snprintf(j->query_sha256, sizeof j->query_sha256, "%s", qsha ? qsha : "");
    const char *case_arg = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "case");
    ibex__wb_clean_text(case_arg, j->case_id, sizeof j->case_id); /* shown and recorded */
    j->shortlist = shortlist;
    j->exclude_same = exclude;
    j->eta = -1;
    j->created = time(NULL);
    j->t_created = ibex__now();
    snprintf(j->stage, sizeof j->stage, "queued");
    pthread_mutex_init(&j->lock, NULL);
    pthread_mutex_init(&j->pair_lock, NULL);
    atomic_init(&j->cancel, 0);

    pthread_mutex_lock(&W->j_lock);
    if (W->running >= W->max_jobs) {
        pthread_mutex_unlock(&W->j_lock);
        job_free(j);
        return ibex__wb_error(W, c, method, r, 503, "busy: %u searches are running; wait for one or cancel it",
                              W->max_jobs);
    }
    j->refs = 2; /* the list and the thread */
    j->listed = 1;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    if (pthread_create(&t, &at, run, j) != 0) {
        pthread_attr_destroy(&at);
        pthread_mutex_unlock(&W->j_lock);
        job_free(j);
        return ibex__wb_error(W, c, method, r, 503, "cannot start a search thread");
    }
    pthread_attr_destroy(&at);
    W->running++;
    j->next = W->jobs;
    W->jobs = j;
    j->refs++; /* this handler, for the answer */
    evict_locked(W);
    pthread_mutex_unlock(&W->j_lock);
    json_t *o = job_json(j);
    job_put(j);
    return ibex__wb_json(W, c, method, r, 202, o);
}

enum MHD_Result ibex__wb_h_job_create(ibex_workbench *W, struct MHD_Connection *c, const char *method,
                                      wb_request *r)
{
    const char *row_s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "row");
    const char *sl = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "shortlist");
    const char *ex = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "exclude_same");
    if (!sl && r->form_shortlist[0]) sl = r->form_shortlist;
    if (!ex && r->form_exclude[0]) ex = r->form_exclude;
    size_t shortlist = 10;
    if (sl && *sl && (!parse_count(sl, W->max_shortlist, &shortlist) || shortlist == 0))
        return ibex__wb_error(W, c, method, r, 400, "shortlist is 1..%u (stage 2 costs about a second a pair)",
                              W->max_shortlist);
    int exclude = parse_flag(ex, 1);
    ibex_diag d;
    ibex_diag_clear(&d);
    ibex_surface *q = NULL;
    ibex_status st;
    if (row_s) { /* a specimen of the library as the questioned scan */
        size_t row;
        if (!parse_count(row_s, (size_t)1 << 40, &row)) return ibex__wb_error(W, c, method, r, 400, "row is a row number");
        if (r->n) return ibex__wb_error(W, c, method, r, 400, "a search of library row %zu takes no upload", row);
        ibex_library *lib = NULL;
        ibex_specimen sp;
        memset(&sp, 0, sizeof sp);
        if ((st = ibex__wb_library_open(W, &lib, &d)) == IBEX_OK) {
            if (row >= ibex_library_count(lib)) {
                ibex_library_close(lib, NULL);
                return ibex__wb_error(W, c, method, r, 404, "no specimen at row %zu", row);
            }
            if (!(st = ibex_library_get_info(lib, row, &sp, &d))) st = ibex_library_get_surface(lib, row, &q, &d);
            ibex_library_close(lib, NULL);
        }
        if (st) {
            ibex_specimen_clear(&sp);
            return ibex__wb_fail(W, c, method, r, st, &d);
        }
        char name[WB_NAME_MAX + 1], qsha[65];
        snprintf(name, sizeof name, "%s", sp.id ? sp.id : "specimen");
        memcpy(qsha, sp.sha256, 65);
        ibex_specimen_clear(&sp);
        return start(W, c, method, r, q, name, (long long)row, qsha, shortlist, exclude);
    }
    char name[WB_NAME_MAX + 1];
    const char *given = r->filename[0] ? r->filename : MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "name");
    ibex__wb_clean_name(given, name, sizeof name);
    if (r->pp && !r->n)
        return ibex__wb_error(W, c, method, r, 400, "the form has no scan: send the file in the field 'scan'");
    if ((st = ibex__wb_read_scan(W, r->body, r->n, name, &q, &d))) return ibex__wb_fail(W, c, method, r, st, &d);
    unsigned char h[32];
    char sha[65];
    ibex__sha256(r->body, r->n, h);
    for (int i = 0; i < 32; i++) snprintf(sha + 2 * i, 3, "%02x", h[i]);
    return start(W, c, method, r, q, name, -1, sha, shortlist, exclude);
}

static enum MHD_Result list_jobs(ibex_workbench *W, struct MHD_Connection *c, const char *method, wb_request *r)
{
    json_t *a = json_array();
    pthread_mutex_lock(&W->j_lock);
    for (wb_job *j = W->jobs; j; j = j->next) {
        json_t *o = job_json(j);
        json_object_del(o, "result");
        json_array_append_new(a, o);
    }
    pthread_mutex_unlock(&W->j_lock);
    return ibex__wb_json(W, c, method, r, 200, json_pack("{s:o}", "jobs", a));
}

enum MHD_Result ibex__wb_h_job(ibex_workbench *W, struct MHD_Connection *c, const char *method, wb_request *r,
                               const char *rest)
{
    if (!*rest) {
        if (!strcmp(method, "POST")) return ibex__wb_h_job_create(W, c, method, r);
        return list_jobs(W, c, method, r);
    }
    char id[WB_JOB_ID + 1];
    size_t k = 0;
    while (k < WB_JOB_ID && isxdigit((unsigned char)rest[k])) k++;
    if (k != WB_JOB_ID || (rest[k] && rest[k] != '/')) return ibex__wb_error(W, c, method, r, 404, "no such search");
    memcpy(id, rest, k);
    id[k] = '\0';
    const char *tail = rest + k;
    wb_job *j = job_find(W, id);
    if (!j) return ibex__wb_error(W, c, method, r, 404, "no such search (finished searches are kept %d at most)",
                                  WB_MAX_JOBS_KEPT);
    enum MHD_Result ret;
    int post = !strcmp(method, "POST");
    if (!*tail || !strcmp(tail, "/")) {
        ret = post ? ibex__wb_error(W, c, method, r, 405, "use GET") : ibex__wb_json(W, c, method, r, 200, job_json(j));
    } else if (!strcmp(tail, "/cancel")) {
        if (!post) {
            ret = ibex__wb_error(W, c, method, r, 405, "use POST");
        } else {
            atomic_store(&j->cancel, 1);
            ret = ibex__wb_json(W, c, method, r, 202, job_json(j));
        }
    } else if (!strcmp(tail, "/report.html") || !strcmp(tail, "/report.pdf")) {
        ret = post ? ibex__wb_error(W, c, method, r, 405, "use GET")
                   : ibex__wb_h_report(W, c, method, r, j, !strcmp(tail, "/report.pdf"));
    } else if (!strncmp(tail, "/candidates/", 12)) {
        const char *p = tail + 12;
        size_t row = 0, digits = 0;
        while (isdigit((unsigned char)p[digits]) && digits < 15) row = row * 10 + (size_t)(p[digits++] - '0');
        if (!digits || (p[digits] && p[digits] != '/')) ret = ibex__wb_error(W, c, method, r, 404, "no such candidate");
        else if (!strcmp(p + digits, "/conclusions")) ret = ibex__wb_h_pair_conclusions(W, c, method, r, j, row);
        else if (post) ret = ibex__wb_error(W, c, method, r, 405, "use GET");
        else ret = ibex__wb_h_pair(W, c, method, r, j, row, p + digits);
    } else {
        ret = ibex__wb_error(W, c, method, r, 404, "no such page of a search");
    }
    job_put(j);
    return ret;
}

void ibex__wb_jobs_stop(ibex_workbench *W)
{
    pthread_mutex_lock(&W->j_lock);
    for (wb_job *j = W->jobs; j; j = j->next) atomic_store(&j->cancel, 1);
    while (W->running || W->background) pthread_cond_wait(&W->j_done, &W->j_lock);
    while (W->jobs) {
        wb_job *j = W->jobs;
        W->jobs = j->next;
        j->listed = 0;
        unref_locked(j);
    }
    pthread_mutex_unlock(&W->j_lock);
}
