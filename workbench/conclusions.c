/* Examiners' conclusions in the workbench (include/ibex/conclusion.h holds the trail and its
 * rules; this file is the HTTP side). A conclusion is recorded on a candidate of a search,
 * with the pair's SHA-256s, the method, the library's parameters and the scores the list
 * showed; a verification is a second examiner's conclusion on the same pair that names the
 * record it verifies. What a viewer is shown follows the rule of blind verification: another
 * examiner's conclusion on a pair stays hidden (who and when only) until the viewer has
 * recorded their own on it. Read-only sessions, which cannot record, see everything. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exchange_internal.h"
#include "workbench_internal.h"

#define MAX_BODY (96u << 10)
#define MAX_LISTED 1000

static int is_read_only(const wb_request *r) { return !strcmp(r->role, "read-only"); }
static int may_conclude(const wb_request *r) { return !strcmp(r->role, "examiner"); }
static int may_verify(const wb_request *r) { return !strcmp(r->role, "examiner") || !strcmp(r->role, "verifier"); }

/* Who is asking: the account signed in, else (no accounts) the name the page sends, cleaned
 * to printable text; "" when there is none. */
static void viewer_name(const ibex_workbench *W, const wb_request *r, const char *given, char out[WB_USER_MAX + 1])
{
    out[0] = 0;
    if (W->naccounts || r->user[0]) {
        snprintf(out, WB_USER_MAX + 1, "%s", r->user);
        return;
    }
    size_t k = 0;
    for (const unsigned char *p = (const unsigned char *)(given ? given : ""); *p && k < WB_USER_MAX; p++)
        if (*p >= 0x20 && *p != 0x7f && (k || *p != ' ')) out[k++] = (char)*p;
    while (k && out[k - 1] == ' ') k--;
    out[k] = 0;
}

ibex_status ibex__wb_read_trail(ibex_workbench *W, ibex_conclusion **v, size_t *n, ibex_diag *d)
{
    ibex_library *lib = NULL;
    ibex_status st = ibex__wb_library_open(W, &lib, d);
    if (!st) st = ibex_conclusion_read_all(lib, v, n, d);
    ibex_library_close(lib, NULL);
    return st;
}

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

static json_t *record_json(const ibex_conclusion *v, size_t n, size_t i, const char *viewer, int see_all)
{
    const ibex_conclusion *c = &v[i];
    char when[32];
    struct tm tm;
    time_t t = (time_t)c->time;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    int visible = ibex_conclusion_visible(v, n, i, viewer, see_all);
    json_t *o = json_pack("{s:I, s:s, s:s, s:o, s:s, s:I, s:o, s:{s:s, s:o}, s:{s:s, s:o}, s:b}", "seq",
                          (json_int_t)c->seq, "type", c->type == IBEX_RECORD_VERIFICATION ? "verification" : "conclusion",
                          "examiner", c->examiner, "role", str_or_null(c->role), "time", when, "time_unix",
                          (json_int_t)c->time, "case", str_or_null(c->case_id), "questioned", "sha256",
                          c->questioned_sha256, "name", str_or_null(c->questioned_name), "candidate", "sha256",
                          c->candidate_sha256, "name", str_or_null(c->candidate_name), "visible", visible);
    if (!o) return NULL;
    if (c->type == IBEX_RECORD_VERIFICATION) json_object_set_new(o, "verifies", json_integer((json_int_t)c->verifies));
    if (!visible) return o;
    json_error_t je;
    json_t *scores = c->scores ? json_loads(c->scores, 0, &je) : NULL;
    json_object_set_new(o, "conclusion", json_string(c->conclusion));
    json_object_set_new(o, "notes", str_or_null(c->notes));
    json_object_set_new(o, "scores", scores ? scores : json_null());
    json_object_set_new(o, "method", str_or_null(c->method));
    json_object_set_new(o, "parameters", str_or_null(c->parameters));
    json_object_set_new(o, "software", str_or_null(c->software));
    json_object_set_new(o, "sha256", json_string(c->sha256));
    json_object_set_new(o, "prev_sha256", json_string(c->prev_sha256));
    if (c->type == IBEX_RECORD_VERIFICATION && c->verifies >= 1 && c->verifies <= n &&
        ibex_conclusion_visible(v, n, (size_t)c->verifies - 1, viewer, see_all))
        json_object_set_new(o, "agrees", json_boolean(!strcmp(v[c->verifies - 1].conclusion, c->conclusion)));
    return o;
}

/* The pair a conclusion on job j's candidate row is about. */
typedef struct pair_ids {
    char qsha[65], csha[65];
    char qname[WB_NAME_MAX + 1], cname[WB_NAME_MAX + 1], case_id[WB_NAME_MAX + 1], kind[16];
    json_t *cand;            /* the candidate's entry in the ranked list */
} pair_ids;

static enum MHD_Result pair_answer(ibex_workbench *W, struct MHD_Connection *c, const char *method, wb_request *r,
                                   unsigned status, const pair_ids *p, size_t row, const char *viewer)
{
    ibex_diag d;
    ibex_diag_clear(&d);
    ibex_conclusion *v = NULL;
    size_t n = 0;
    ibex_status st = ibex__wb_read_trail(W, &v, &n, &d);
    if (st) return ibex__wb_fail(W, c, method, r, st, &d);
    int see_all = is_read_only(r);
    json_t *recs = json_array(), *open = json_array();
    int mine = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v[i].questioned_sha256, p->qsha) || strcmp(v[i].candidate_sha256, p->csha)) continue;
        json_array_append_new(recs, record_json(v, n, i, viewer, see_all));
        if (viewer[0] && !strcmp(v[i].examiner, viewer)) mine = 1;
    }
    /* Conclusions of others on this pair the viewer has not verified yet. */
    for (size_t i = 0; i < n; i++) {
        if (v[i].type != IBEX_RECORD_CONCLUSION || strcmp(v[i].questioned_sha256, p->qsha) ||
            strcmp(v[i].candidate_sha256, p->csha) || (viewer[0] && !strcmp(v[i].examiner, viewer)))
            continue;
        int done = 0;
        for (size_t k = 0; k < n && !done; k++)
            done = v[k].type == IBEX_RECORD_VERIFICATION && v[k].verifies == v[i].seq && viewer[0] &&
                   !strcmp(v[k].examiner, viewer);
        if (!done) json_array_append_new(open, json_integer((json_int_t)v[i].seq));
    }
    ibex_conclusion_free_all(v, n);
    json_t *afte = json_array();
    for (int i = 0; i < IBEX_AFTE_N; i++) json_array_append_new(afte, json_string(ibex_afte_name(i)));
    json_t *o = json_pack("{s:{s:s, s:s}, s:{s:s, s:s, s:I}, s:o, s:o, s:s, s:b, s:b, s:b, s:b, s:o, s:o, s:o}",
                          "questioned", "sha256", p->qsha, "name", p->qname, "candidate", "sha256", p->csha, "name",
                          p->cname, "row", (json_int_t)row, "case", p->case_id[0] ? json_string(p->case_id) : json_null(),
                          "viewer", viewer[0] ? json_string(viewer) : json_null(), "role", r->role, "accounts",
                          W->naccounts > 0, "can_conclude", may_conclude(r), "can_verify", may_verify(r),
                          "recorded_own", mine, "open_for_verification", open, "afte", afte, "records", recs);
    return ibex__wb_json(W, c, method, r, status, o);
}

static ibex_status pair_ids_get(ibex_workbench *W, wb_job *j, size_t row, pair_ids *p, ibex_diag *d)
{
    memset(p, 0, sizeof *p);
    if (!ibex__wb_job_record_info(j, row, p->qsha, p->qname, sizeof p->qname, p->case_id, sizeof p->case_id, &p->cand,
                                  p->kind, sizeof p->kind))
        return ibex__fail(d, IBEX_ERR_ARG, "", -1, "row %zu is not a candidate of this search (or it has not finished)",
                          row);
    ibex_library *lib = NULL;
    ibex_specimen sp;
    memset(&sp, 0, sizeof sp);
    ibex_status st = ibex__wb_library_open(W, &lib, d);
    if (!st) st = ibex_library_get_info(lib, row, &sp, d);
    ibex_library_close(lib, NULL);
    if (!st) {
        memcpy(p->csha, sp.sha256, 65);
        snprintf(p->cname, sizeof p->cname, "%s", sp.id ? sp.id : "");
    }
    ibex_specimen_clear(&sp);
    return st;
}

/* The scores of the ranked list, as recorded with a conclusion. */
static char *scores_text(const pair_ids *p, const char *job_id)
{
    json_t *o = json_object();
    const char *keys[] = {"rank", "stage1", "stage2", "score", "cmc", "cmc_high", "cells_a", "cells_b", "ccf"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        json_t *v = json_object_get(p->cand, keys[i]);
        if (v && !json_is_null(v)) json_object_set(o, keys[i], v);
    }
    json_object_set_new(o, "search", json_string(job_id));
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}

static enum MHD_Result record(ibex_workbench *W, struct MHD_Connection *c, const char *method, wb_request *r,
                              wb_job *j, size_t row, const pair_ids *p)
{
    json_error_t je;
    json_t *b = r->n && r->n <= MAX_BODY ? json_loadb((const char *)r->body, r->n, 0, &je) : NULL;
    if (!json_is_object(b)) {
        json_decref(b);
        return ibex__wb_error(W, c, method, r, 400,
                              "a conclusion is a JSON object {\"type\", \"conclusion\", \"notes\", \"verifies\"} of at "
                              "most %u bytes",
                              MAX_BODY);
    }
    const char *type = json_string_value(json_object_get(b, "type"));
    int verification = type && !strcmp(type, "verification");
    char viewer[WB_USER_MAX + 1];
    viewer_name(W, r, json_string_value(json_object_get(b, "examiner")), viewer);
    enum MHD_Result ret;
    if (type && !verification && strcmp(type, "conclusion")) {
        ret = ibex__wb_error(W, c, method, r, 400, "type is 'conclusion' or 'verification'");
    } else if (verification ? !may_verify(r) : !may_conclude(r)) {
        ret = ibex__wb_error(W, c, method, r, 403, "a %s session may not record a %s", r->role,
                             verification ? "verification" : "conclusion");
    } else if (!viewer[0]) {
        ret = ibex__wb_error(W, c, method, r, 400, "who is recording? give \"examiner\" (your name)");
    } else {
        ibex_conclusion rec;
        ibex_conclusion_init(&rec);
        rec.type = verification ? IBEX_RECORD_VERIFICATION : IBEX_RECORD_CONCLUSION;
        rec.examiner = viewer;
        rec.role = W->naccounts ? r->role : "unauthenticated";
        rec.conclusion = (char *)json_string_value(json_object_get(b, "conclusion"));
        const char *notes = json_string_value(json_object_get(b, "notes"));
        rec.notes = notes && *notes ? (char *)notes : NULL;
        rec.case_id = p->case_id[0] ? (char *)p->case_id : NULL;
        memcpy(rec.questioned_sha256, p->qsha, 65);
        memcpy(rec.candidate_sha256, p->csha, 65);
        rec.questioned_name = (char *)p->qname;
        rec.candidate_name = (char *)p->cname;
        rec.method = !strcmp(p->kind, "bullet") ? "bullet" : "cmc";
        json_t *vf = json_object_get(b, "verifies");
        rec.verifies = verification && json_is_integer(vf) && json_integer_value(vf) > 0 ? (uint64_t)json_integer_value(vf)
                                                                                        : 0;
        char *scores = scores_text(p, ibex__wb_job_id(j));
        rec.scores = scores;
        ibex_diag d;
        ibex_diag_clear(&d);
        ibex_library_opts lo;
        ibex_library_opts_init(&lo);
        lo.flags = IBEX_LIBRARY_WRITE;
        ibex_library *lib = NULL;
        ibex_status st = ibex_library_open(W->lib_path, &lo, &lib, &d);
        char params[4200];
        if (!st) { /* the library's preprocessing parameters, or their hash when long */
            const char *pt = ibex_library_params(lib);
            if (pt && strlen(pt) < 4000) {
                snprintf(params, sizeof params, "%s", pt);
            } else if (pt) {
                unsigned char h[32];
                ibex__sha256(pt, strlen(pt), h);
                int k = snprintf(params, sizeof params, "library parameters sha256=");
                for (int i = 0; i < 32; i++) k += snprintf(params + k, sizeof params - (size_t)k, "%02x", h[i]);
            }
            rec.parameters = pt ? params : NULL;
            st = ibex_conclusion_append(lib, &rec, NULL, &d);
        }
        ibex_status cst = lib ? ibex_library_close(lib, st ? NULL : &d) : IBEX_OK;
        if (!st) st = cst;
        free(scores);
        if (st) {
            ret = ibex__wb_fail(W, c, method, r, st, &d);
        } else {
            ret = pair_answer(W, c, method, r, 201, p, row, viewer);
        }
    }
    json_decref(b);
    return ret;
}

enum MHD_Result ibex__wb_h_pair_conclusions(ibex_workbench *W, struct MHD_Connection *c, const char *method,
                                            wb_request *r, wb_job *j, size_t row)
{
    ibex_diag d;
    ibex_diag_clear(&d);
    pair_ids p;
    ibex_status st = pair_ids_get(W, j, row, &p, &d);
    enum MHD_Result ret;
    if (st) {
        ret = st == IBEX_ERR_ARG ? ibex__wb_error(W, c, method, r, 404, "%s", d.message)
                                 : ibex__wb_fail(W, c, method, r, st, &d);
    } else if (!strcmp(method, "POST")) {
        ret = record(W, c, method, r, j, row, &p);
    } else {
        char viewer[WB_USER_MAX + 1];
        viewer_name(W, r, MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "examiner"), viewer);
        ret = pair_answer(W, c, method, r, 200, &p, row, viewer);
    }
    json_decref(p.cand);
    return ret;
}

enum MHD_Result ibex__wb_h_conclusions(ibex_workbench *W, struct MHD_Connection *c, const char *method,
                                       wb_request *r)
{
    const char *sha = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "sha256");
    const char *case_id = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "case");
    char viewer[WB_USER_MAX + 1];
    viewer_name(W, r, MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "examiner"), viewer);
    ibex_diag d;
    ibex_diag_clear(&d);
    ibex_conclusion *v = NULL;
    size_t n = 0;
    ibex_status st = ibex__wb_read_trail(W, &v, &n, &d);
    if (st) return ibex__wb_fail(W, c, method, r, st, &d);
    json_t *recs = json_array();
    size_t matched = 0;
    for (size_t k = n; k-- > 0;) { /* newest first */
        const ibex_conclusion *x = &v[k];
        if (sha && *sha && strcmp(x->questioned_sha256, sha) && strcmp(x->candidate_sha256, sha)) continue;
        if (case_id && *case_id && (!x->case_id || strcmp(x->case_id, case_id))) continue;
        if (++matched <= MAX_LISTED) json_array_append_new(recs, record_json(v, n, k, viewer, is_read_only(r)));
    }
    ibex_conclusion_free_all(v, n);
    json_t *o = json_pack("{s:I, s:I, s:I, s:o, s:o}", "total", (json_int_t)n, "matched", (json_int_t)matched, "listed",
                          (json_int_t)(matched < MAX_LISTED ? matched : MAX_LISTED), "viewer",
                          viewer[0] ? json_string(viewer) : json_null(), "records", recs);
    return ibex__wb_json(W, c, method, r, 200, o);
}
