/* The case report of a search: GET /api/jobs/ID/report.html and .../report.pdf build an
 * ibex_report (include/ibex/report.h) from the finished job (the questioned scan, the ranked
 * list, the search's parameters), every candidate pair already compared in the job's pair
 * cache (its picture and cell table, pair.c) and the examiners' recorded conclusions, and
 * answer it as a download. The report says whose each part is: the scores are the
 * software's, the conclusions the examiners', the CMC threshold a reference only. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ibex/report.h"
#include "workbench_internal.h"

/* The records on this job's questioned scan, oldest first, as the requester may see them: a
 * report follows the rule of blind verification like the page (read-only sessions see all),
 * so a verifier cannot read a conclusion in a report before recording their own. */
ibex_status ibex__wb_report_conclusions(ibex_workbench *W, wb_job *j, const char *viewer, int see_all,
                                        ibex_conclusion **v, size_t *n, ibex_diag *d)
{
    *v = NULL;
    *n = 0;
    ibex_conclusion *all = NULL;
    size_t na = 0;
    ibex_status st = ibex__wb_read_trail(W, &all, &na, d);
    if (st) return st;
    const char *qsha = ibex__wb_job_query_sha256(j);
    size_t k = 0;
    for (size_t i = 0; i < na; i++) {
        if (strcmp(all[i].questioned_sha256, qsha)) continue;
        if (!ibex_conclusion_visible(all, na, i, viewer, see_all)) {
            free(all[i].conclusion);
            free(all[i].notes);
            free(all[i].scores);
            all[i].conclusion = strdup("hidden (blind verification: not shown before the reader records their own)");
            all[i].notes = all[i].scores = NULL;
        }
        if (k != i) {
            ibex_conclusion t = all[k];
            all[k] = all[i];
            all[i] = t;
        }
        k++;
    }
    for (size_t i = k; i < na; i++) ibex_conclusion_clear(&all[i]);
    if (!k) {
        free(all);
        all = NULL;
    }
    *v = all;
    *n = k;
    return IBEX_OK;
}

void ibex__wb_report_conclusions_free(ibex_conclusion *v, size_t n) { ibex_conclusion_free_all(v, n); }

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static double jnum(json_t *o, const char *k, double dflt)
{
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

static int jint(json_t *o, const char *k, int dflt)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (int)json_integer_value(v) : dflt;
}

/* The download's file name: "ibex-report-NAME-JOB8.EXT", NAME the scan's name without its
 * extension, letters, digits, '-', '_' and '.' only. */
static void file_name(const char *name, const char *job, int pdf, char *out, size_t size)
{
    char clean[80];
    size_t k = 0;
    const char *dot = strrchr(name ? name : "", '.');
    for (const char *p = name ? name : ""; *p && p != dot && k + 1 < sizeof clean; p++) {
        unsigned char c = (unsigned char)*p;
        clean[k++] = isalnum(c) || c == '-' || c == '_' ? (char)c : '_';
    }
    clean[k] = '\0';
    snprintf(out, size, "ibex-report-%s%s%.8s.%s", clean, k ? "-" : "", job, pdf ? "pdf" : "html");
}

/* The optional ?case= of the request, cleaned; NULL when absent or empty. */
static const char *case_param(struct MHD_Connection *c, char *buf, size_t size)
{
    ibex__wb_clean_text(MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "case"), buf, size);
    return buf[0] ? buf : NULL;
}

enum MHD_Result ibex__wb_h_report(ibex_workbench *W, struct MHD_Connection *c, const char *method, wb_request *r,
                                  wb_job *j, int pdf)
{
    json_t *job = ibex__wb_job_json(j);
    if (!job) return ibex__wb_error(W, c, method, r, 503, "out of memory");
    const char *state = jstr(job, "state");
    json_t *result = json_object_get(job, "result");
    if (!state || strcmp(state, "done") || !json_is_object(result)) {
        char was[32];
        snprintf(was, sizeof was, "%s", state ? state : "?");
        json_decref(job);
        return ibex__wb_error(W, c, method, r, 409, "the search is %s, not done: a report needs its ranked list", was);
    }
    json_t *query = json_object_get(job, "query"), *info = json_object_get(result, "info");
    json_t *list = json_object_get(result, "candidates");
    ibex_diag d;
    ibex_diag_clear(&d);
    ibex_status st = IBEX_OK;
    wb_pair_snap snaps[WB_PAIRS_KEPT];
    size_t nsnap = ibex__wb_pair_snapshot(j, snaps);
    ibex_conclusion *concl = NULL;
    size_t nconcl = 0;
    size_t ncand = json_array_size(list);
    ibex_report_candidate *cands = calloc(ncand ? ncand : 1, sizeof *cands);
    char (*firearms)[160] = calloc(ncand ? ncand : 1, sizeof *firearms);
    ibex_report_pair pairs[WB_PAIRS_KEPT];
    ibex_report_cell *cells[WB_PAIRS_KEPT] = {0};
    memset(pairs, 0, sizeof pairs);
    char *params = NULL, *doc = NULL;
    size_t doc_n = 0;
    char qsha[65] = "";
    /* Without accounts the page sends the name its examiner typed (blind verification). */
    const char *viewer_arg = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "examiner");
    if (!viewer_arg) viewer_arg = "";
    if (!cands || !firearms) {
        st = ibex__fail(&d, IBEX_ERR_NOMEM, "", -1, "out of memory");
        goto done;
    }
    /* the questioned scan's SHA-256: of the upload, or the library specimen's own */
    snprintf(qsha, sizeof qsha, "%s", ibex__wb_job_query_sha256(j));
    if ((st = ibex__wb_report_conclusions(W, j, W->naccounts ? r->user : viewer_arg, !strcmp(r->role, "read-only"),
                                          &concl, &nconcl, &d))) goto done;

    for (size_t i = 0; i < ncand; i++) {
        json_t *o = json_array_get(list, i);
        ibex_report_candidate *k = &cands[i];
        k->rank = (size_t)jint(o, "rank", (int)i + 1);
        k->id = jstr(o, "id");
        k->set = jstr(o, "set");
        const char *fid = jstr(o, "firearm_id"), *make = jstr(o, "firearm_make"), *model = jstr(o, "firearm_model");
        if (make || model)
            snprintf(firearms[i], sizeof firearms[i], "%.60s (%.40s%s%.40s)", fid ? fid : "?", make ? make : "",
                     make && model ? " " : "", model ? model : "");
        else
            snprintf(firearms[i], sizeof firearms[i], "%.150s", fid ? fid : "");
        k->firearm = firearms[i];
        k->stage1 = jnum(o, "stage1", NAN);
        int scored = json_is_true(json_object_get(o, "stage2")) && json_is_integer(json_object_get(o, "cmc"));
        k->cmc = scored ? jint(o, "cmc", -1) : -1;
        k->cmc_high = scored ? jint(o, "cmc_high", 0) : -1;
        k->score = scored ? jnum(o, "score", NAN) : NAN;
    }
    int ref = info ? jint(info, "reference_cmc", 6) : 6;
    for (size_t i = 0; i < nsnap; i++) {
        json_t *pj = snaps[i].json, *cm = json_object_get(pj, "cmc"), *pose = json_object_get(pj, "pose");
        json_t *cj = json_object_get(pj, "cells");
        ibex_report_pair *p = &pairs[i];
        p->rank = (size_t)jint(pj, "rank", 0);
        p->questioned = jstr(json_object_get(pj, "questioned"), "name");
        p->candidate = jstr(json_object_get(pj, "candidate"), "id");
        p->cmc = jint(cm, "cmc", 0);
        p->cmc_high = jint(cm, "cmc_high", 0);
        p->score = jnum(cm, "score", NAN);
        p->theta_deg = jnum(pose, "theta_deg", NAN);
        p->dx_um = jnum(pose, "dx_um", NAN);
        p->dy_um = jnum(pose, "dy_um", NAN);
        p->png = snaps[i].png;
        p->png_n = snaps[i].png_n;
        size_t nc = json_array_size(cj);
        if (nc > IBEX_REPORT_MAX_CELLS) nc = IBEX_REPORT_MAX_CELLS;
        if (nc && !(cells[i] = calloc(nc, sizeof *cells[i]))) {
            st = ibex__fail(&d, IBEX_ERR_NOMEM, "", -1, "out of memory");
            goto done;
        }
        for (size_t k = 0; k < nc; k++) {
            json_t *o = json_array_get(cj, k);
            ibex_report_cell *cl = &cells[i][k];
            cl->n = (size_t)jint(o, "n", (int)k);
            cl->row = jint(o, "row", 0);
            cl->col = jint(o, "col", 0);
            cl->used = json_is_true(json_object_get(o, "used"));
            cl->ccf = jnum(o, "ccf", NAN);
            cl->dx_um = jnum(o, "dx_um", NAN);
            cl->dy_um = jnum(o, "dy_um", NAN);
            cl->theta_deg = jnum(o, "theta_deg", NAN);
            cl->congruent = json_is_true(json_object_get(o, "congruent"))        ? 1
                            : json_is_true(json_object_get(o, "congruent_high")) ? 2
                                                                                 : 0;
            cl->why = jstr(o, "why");
        }
        p->cells = cells[i];
        p->n_cells = nc;
    }

    /* the method and its parameters, as the search and the candidate view ran */
    {
        ibex_cmc_opts co;
        ibex_cmc_opts_init(&co);
        char *t = NULL;
        size_t tn = 0;
        FILE *f = open_memstream(&t, &tn);
        if (!f) {
            st = ibex__fail(&d, IBEX_ERR_NOMEM, "", -1, "out of memory");
            goto done;
        }
        fprintf(f, "Search: two-stage (stage 1 index similarity over %lld indexed of %lld library specimens; stage 2 CMC "
                   "on the shortlist of %lld).\n",
                (long long)jint(info, "indexed", 0), (long long)jint(info, "library_rows", 0),
                (long long)jint(job, "shortlist", 0));
        fprintf(f, "The questioned scan itself left out of its list: %s.\n",
                json_is_true(json_object_get(info, "left_out_self")) ? "yes" : "no (not in the library, or not asked)");
        fprintf(f, "CMC (Song 2013, with High-CMC, Tong 2015): %u x %u cells; a cell is used with %.0f%% of it measured; "
                   "congruent when CCF >= %.2f, rotation within %g\xC2\xB0 and shift within %g \xC2\xB5m of the consensus.\n",
                co.cells_x, co.cells_y, 100 * co.min_valid_frac, co.t_ccf, co.t_theta, co.t_xy_m * 1e6);
        fprintf(f, "Reference line (not a conclusion): CMC %d.\n", ref);
        fprintf(f, "Search time: %.1f s (stage 1 %.1f s, stage 2 %.1f s).", jnum(info, "t_total", 0),
                jnum(info, "t_stage1", 0), jnum(info, "t_stage2", 0));
        if (fclose(f) != 0 || !t) {
            free(t);
            st = ibex__fail(&d, IBEX_ERR_NOMEM, "", -1, "out of memory");
            goto done;
        }
        params = t;
    }

    {
        ibex_report rep;
        ibex_report_init(&rep);
        char case_buf[256];
        rep.title = "IBEX case report";
        rep.case_id = case_param(c, case_buf, sizeof case_buf);
        if (!rep.case_id) rep.case_id = jstr(query, "case"); /* the case the search was started with */
        rep.software = "ibex " IBEX_VERSION_STRING;
        const char *base = strrchr(W->lib_path, '/');
        rep.library = base ? base + 1 : W->lib_path;
        rep.parameters = params;
        rep.reference_cmc = ref;
        rep.questioned.name = jstr(query, "name");
        rep.questioned.sha256 = qsha[0] ? qsha : NULL;
        rep.questioned.kind = jstr(query, "kind");
        rep.questioned.nx = (size_t)jint(query, "nx", 0);
        rep.questioned.ny = (size_t)jint(query, "ny", 0);
        rep.questioned.spacing_um = jnum(query, "spacing_um", 0);
        rep.candidates = cands;
        rep.n_candidates = ncand;
        rep.pairs = pairs;
        rep.n_pairs = nsnap;
        rep.conclusions = concl;
        rep.n_conclusions = nconcl;
        st = pdf ? ibex_report_pdf(&rep, (unsigned char **)&doc, &doc_n, &d) : ibex_report_html(&rep, &doc, &doc_n, &d);
    }

done:;
    char fname[160];
    file_name(jstr(query, "name"), ibex__wb_job_id(j), pdf, fname, sizeof fname);
    json_decref(job);
    ibex__wb_pair_snap_clear(snaps, nsnap);
    for (size_t i = 0; i < WB_PAIRS_KEPT; i++) free(cells[i]);
    ibex__wb_report_conclusions_free(concl, nconcl);
    free(cands);
    free(firearms);
    free(params);
    if (st) {
        free(doc);
        return ibex__wb_fail(W, c, method, r, st, &d);
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(doc_n, doc, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(doc);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, pdf ? "application/pdf" : "text/html; charset=utf-8");
    char disp[220];
    snprintf(disp, sizeof disp, "attachment; filename=\"%s\"", fname);
    MHD_add_response_header(resp, "Content-Disposition", disp);
    ibex__wb_headers(resp, 0);
    if (!pdf) {
        /* the report's own styles are inline; it has no script and loads nothing */
        MHD_del_response_header(resp, "Content-Security-Policy", MHD_get_response_header(resp, "Content-Security-Policy"));
        MHD_add_response_header(resp, "Content-Security-Policy",
                                "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
                                "form-action 'none'; frame-ancestors 'none'");
    }
    return ibex__wb_send(W, c, method, r, 200, resp, NULL);
}
