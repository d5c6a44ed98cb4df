/* The node's library hooks (include/ibex/node.h): a pushed or pulled package is imported
 * (ibex_package_import_mem) and indexed (ibex_library_index_update); a query package is
 * searched (ibex_search_run_path). What an answer says about a specimen is limited to the
 * fields of the node's sharing policy. Each refusal comes back as one message, the first
 * failure's, as the HTTP answer. */
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "ibex/io.h"
#include "ibex/library.h"
#include "ibex/node.h"
#include "ibex/package.h"
#include "ibex/search.h"
#include "ibex_internal.h"

/* Table columns an answer may carry; the metadata keys (ibex_meta_key) come on top. Never
 * source_path (a local file name) nor anything of the surface. */
static const char *const table_fields[] = {"id", "kind", "region", "set", "firearm_id", "same_source_key",
                                           "sha256", NULL};

void ibex_node_library_init(ibex_node_library *nl)
{
    memset(nl, 0, sizeof *nl);
    nl->struct_size = sizeof *nl;
    nl->share = IBEX_NODE_SHARE_DEFAULT;
}

static int known_field(const char *f, size_t n)
{
    for (size_t i = 0; table_fields[i]; i++)
        if (strlen(table_fields[i]) == n && !strncmp(table_fields[i], f, n)) return 1;
    for (size_t i = 0; ibex_meta_key(i); i++)
        if (strlen(ibex_meta_key(i)) == n && !strncmp(ibex_meta_key(i), f, n)) return 1;
    return 0;
}

int ibex_node_share_check(const char *list, char *why, size_t why_size)
{
    if (!list || !*list) return 1; /* share nothing but scores and verdicts */
    for (const char *p = list;;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (!known_field(p, n)) {
            if (why && why_size)
                snprintf(why, why_size,
                         "'%.*s' is not a field a node can share (table: id, kind, region, set, firearm_id, "
                         "same_source_key, sha256; or a metadata key of 'ibex info')",
                         (int)(n > 64 ? 64 : n), p);
            return 0;
        }
        if (!e) return 1;
        p = e + 1;
    }
}

/* The hooks' user pointer, with the defaults of fields an older caller's struct lacks. */
static ibex_status get_library(const void *user, ibex_node_library *nl, ibex_diag *diag)
{
    ibex_node_library_init(nl);
    if (!user) return ibex__fail(diag, IBEX_ERR_ARG, NULL, -1, "no node library");
    ibex_status st = ibex__opts_merge(nl, sizeof *nl, user) ? IBEX_OK : ibex__opts_refused(diag, "ibex_node_library");
    if (st == IBEX_OK && !nl->lib_path) st = ibex__fail(diag, IBEX_ERR_ARG, NULL, -1, "no library path");
    return st;
}

/* Keeps the first failure's message (the cause), formatted as one line. */
static void note_failure(char *msg, size_t size, ibex_status st, const ibex_diag *d)
{
    char buf[1200];
    if (!msg[0]) snprintf(msg, size, "%s", ibex_diag_format(d, st, buf, sizeof buf));
}

static void fail_with(ibex_diag *diag, const char *msg)
{
    if (!diag) return;
    memset(diag, 0, sizeof *diag);
    snprintf(diag->message, sizeof diag->message, "%.500s", msg[0] ? msg : "refused (no message)");
}

/* After a failed import, is the package at fault or the library? The package's own checks
 * again (those of ibex_package_import_mem that need no library; its parameters against an
 * existing library's): their status refuses the content. IBEX_OK: the package is fine, so
 * the library (or this machine) failed. */
static ibex_status content_status(const unsigned char *pkg, size_t n, const ibex_trust *trust,
                                  const ibex_library *lib)
{
    ibex_diag d;
    char **kv = NULL;
    ibex_status st = ibex_package_verify_mem(pkg, n, "package", trust, IBEX_PACKAGE_CHECK_X3P, NULL, NULL, &d);
    if (!st) st = ibex_package_read_params(pkg, n, "package", &kv, &d);
    if (!st) {
        const char *got = NULL, *want = lib ? ibex_library_params(lib) : NULL;
        for (size_t i = 0; kv[i] && kv[i + 1]; i += 2)
            if (!strcmp(kv[i], "library_params")) got = kv[i + 1];
        if (!got || (lib && (!want || strcmp(got, want) != 0))) st = IBEX_ERR_FORMAT;
    }
    ibex_package_params_free(kv);
    return st;
}

ibex_status ibex_node_library_store(void *user, const unsigned char *pkg, size_t n, const char *sha256_hex,
                                    char *note, size_t note_size, ibex_diag *diag)
{
    ibex_node_library nl;
    ibex_status st = get_library(user, &nl, diag);
    if (st != IBEX_OK) return st;
    char msg[600] = "", id[256] = "";
    ibex_library *lib = NULL;
    ibex_diag d;
    memset(&d, 0, sizeof d);
    int r = -1; /* 0 stored, 1 skipped, -1 not stored */
    /* Why not: the package's content (its status), or the library failed (IBEX_ERR_IO, or
     * IBEX_ERR_NOMEM), whatever status the library code gave (a damaged library file says
     * IBEX_ERR_FORMAT too, but no package is at fault for that). */
    ibex_status why = IBEX_ERR_IO;
    if (access(nl.lib_path, F_OK) == 0) {
        ibex_library_opts o;
        ibex_library_opts_init(&o);
        o.flags = IBEX_LIBRARY_WRITE;
        if ((st = ibex_library_open(nl.lib_path, &o, &lib, &d))) {
            note_failure(msg, sizeof msg, st, &d);
            if (st == IBEX_ERR_NOMEM) why = st;
        }
    }
    if (lib || access(nl.lib_path, F_OK) != 0) {
        ibex_import_outcome out = IBEX_IMPORT_STORED;
        st = ibex_package_import_mem(&lib, nl.lib_path, pkg, n, "package", sha256_hex, nl.trust, &out, id, sizeof id,
                                     &d);
        if (st) {
            note_failure(msg, sizeof msg, st, &d);
            ibex_status cs = content_status(pkg, n, nl.trust, lib);
            why = cs == IBEX_ERR_FORMAT || cs == IBEX_ERR_INTEGRITY || cs == IBEX_ERR_LIMIT ? cs
                  : st == IBEX_ERR_NOMEM || cs == IBEX_ERR_NOMEM                           ? IBEX_ERR_NOMEM
                                                                                           : IBEX_ERR_IO;
        } else {
            r = out == IBEX_IMPORT_SKIPPED ? 1 : 0;
        }
    }
    if (lib) {
        st = ibex_library_close(lib, &d);
        if (st && r == 0) {
            note_failure(msg, sizeof msg, st, &d);
            r = -1;
            why = st == IBEX_ERR_NOMEM ? st : IBEX_ERR_IO;
        }
    }
    /* Stored: index it now, so the next query sees it (incremental; docs/reference/index.md). */
    int indexed = 1;
    if (r == 0 && (st = ibex_library_index_update_path(nl.lib_path, NULL, NULL, &d)) != IBEX_OK) {
        note_failure(msg, sizeof msg, st, &d);
        indexed = 0;
    }
    if (r < 0) {
        fail_with(diag, msg);
        return why;
    }
    if (r == 1) snprintf(note, note_size, "skipped: %s already held", id);
    else if (indexed) snprintf(note, note_size, "stored %s", id);
    else snprintf(note, note_size, "stored %s (not indexed yet: %.200s)", id, msg);
    return IBEX_OK;
}

/* The package's preprocessing must be the library's (what 'ibex import' demands). */
static int params_match(const unsigned char *pkg, size_t n, const char *lib_path, char *msg, size_t msize)
{
    char **kv = NULL;
    ibex_diag d;
    memset(&d, 0, sizeof d);
    if (ibex_package_read_params(pkg, n, "package", &kv, &d)) return 0;
    const char *got = NULL;
    for (size_t i = 0; kv[i] && kv[i + 1]; i += 2)
        if (!strcmp(kv[i], "library_params")) got = kv[i + 1];
    int ok = 1;
    if (got) { /* a scan signed without library parameters is taken as read */
        ibex_library *lib = NULL;
        ok = 0;
        if (ibex_library_open(lib_path, NULL, &lib, &d) == IBEX_OK) {
            const char *want = ibex_library_params(lib);
            ok = want && !strcmp(want, got);
            if (!ok && !msg[0]) snprintf(msg, msize, "package: preprocessing parameters differ from the library's");
            ibex_library_close(lib, NULL);
        } else {
            note_failure(msg, msize, IBEX_ERR_IO, &d);
        }
    }
    ibex_package_params_free(kv);
    return ok;
}

/* One shared field of a candidate into a (absent values are left out). */
static void share_field(json_t *a, const char *f, const ibex_search_candidate *cd, const ibex_specimen *sp)
{
    const char *v = NULL;
    if (!strcmp(f, "id")) v = cd->id;
    else if (!strcmp(f, "kind")) v = cd->kind;
    else if (!strcmp(f, "firearm_id")) v = cd->firearm_id;
    else if (!strcmp(f, "same_source_key")) v = cd->same_source_key;
    else if (sp && !strcmp(f, "region")) v = sp->region;
    else if (sp && !strcmp(f, "set")) v = sp->set;
    else if (sp && !strcmp(f, "sha256")) v = sp->sha256;
    else if (sp) v = ibex_meta_get(&sp->meta, f);
    if (v && *v) json_object_set_new(a, f, json_string(v));
}

/* The stage-2 fields of a candidate: the shape of 'ibex query --json' (docs/reference/node.md). */
static void cand_json(json_t *a, const ibex_search_candidate *cd, int bullet)
{
    if (cd->done) {
        json_object_set_new(a, "score", json_real(cd->score));
        if (bullet) {
            json_object_set_new(a, "cms", json_integer(cd->cmc));
            json_object_set_new(a, "ccf", json_real(cd->ccf));
        } else {
            json_object_set_new(a, "cmc", json_integer(cd->cmc));
            json_object_set_new(a, "cmc_high", json_integer(cd->cmc_high));
        }
        json_object_set_new(a, "verdict", json_string(ibex_verdict_name(cd->verdict)));
    } else {
        json_object_set_new(a, "score", json_null());
        json_object_set_new(a, "cmc", json_null());
        json_object_set_new(a, "verdict", json_null());
        if (cd->error[0]) json_object_set_new(a, "error", json_string(cd->error));
    }
    if (!bullet && !isnan(cd->screen)) { /* two-step stage 2, as 'ibex query --json' */
        json_object_set_new(a, "screen", json_real(cd->screen));
        json_object_set_new(a, "screened_out", json_boolean(cd->screened_out));
    }
}

static json_t *answer(const ibex_search_result *res, const char *share, unsigned top, const char *lib_path)
{
    const ibex_search_info *in = ibex_search_result_info(res);
    json_t *o = json_object(), *arr = json_array();
    size_t nc = ibex_search_result_count(res, 0), show = nc < top ? nc : top;
    /* Fields beyond the candidate's table info need its table row. */
    int need_info = 0;
    char *fields = strdup(share ? share : "");
    size_t nf = 0;
    char *list[64];
    for (char *save = NULL, *t = fields ? strtok_r(fields, ",", &save) : NULL; t && nf < 64;
         t = strtok_r(NULL, ",", &save)) {
        list[nf++] = t;
        need_info |= strcmp(t, "id") && strcmp(t, "kind") && strcmp(t, "firearm_id") && strcmp(t, "same_source_key");
    }
    ibex_library *lib = NULL;
    if (need_info && show && ibex_library_open(lib_path, NULL, &lib, NULL) != IBEX_OK) lib = NULL;
    for (size_t h = 0; h < show; h++) {
        const ibex_search_candidate *cd = ibex_search_result_get(res, 0, h);
        json_t *a = json_object();
        json_object_set_new(a, "rank", json_integer((json_int_t)(h + 1)));
        ibex_specimen sp;
        memset(&sp, 0, sizeof sp);
        int have = lib && ibex_library_get_info(lib, cd->row, &sp, NULL) == IBEX_OK;
        for (size_t i = 0; i < nf; i++) share_field(a, list[i], cd, have ? &sp : NULL);
        ibex_specimen_clear(&sp);
        json_object_set_new(a, "stage1", json_real(cd->stage1));
        cand_json(a, cd, in->bullet);
        json_array_append_new(arr, a);
    }
    if (lib) ibex_library_close(lib, NULL);
    free(fields);
    json_object_set_new(o, "kind", json_string(in->kind));
    json_object_set_new(o, "indexed", json_integer((json_int_t)in->indexed));
    json_object_set_new(o, "shortlist", json_integer((json_int_t)nc));
    json_object_set_new(o, "seconds", json_real(in->t_total));
    json_object_set_new(o, "candidates", arr);
    return o;
}

ibex_status ibex_node_library_query(void *user, const unsigned char *pkg, size_t n, unsigned top, unsigned shortlist,
                                    char **json_out, ibex_diag *diag)
{
    ibex_node_library nl;
    ibex_status st = get_library(user, &nl, diag);
    if (st != IBEX_OK) return st;
    char msg[600] = "";
    ibex_surface *s = NULL;
    ibex_diag d;
    memset(&d, 0, sizeof d);
    ibex_search_result *res = NULL;
    st = ibex_surface_read_x3p_mem(pkg, n, "package", 0, &s, &d);
    if (st) {
        note_failure(msg, sizeof msg, st, &d);
    } else if (access(nl.lib_path, F_OK) != 0) {
        snprintf(msg, sizeof msg, "this node's library is empty (nothing stored yet)");
    } else if (params_match(pkg, n, nl.lib_path, msg, sizeof msg)) {
        const char *names[1] = {"package"};
        const ibex_surface *qs[1] = {s};
        ibex_search_opts so;
        ibex_search_opts_init(&so);
        /* shortlist 0: stage 1 alone, the best `top` by similarity */
        so.shortlist = shortlist ? shortlist : top;
        so.stage1_only = shortlist == 0;
        so.threads = nl.threads;
        if ((st = ibex_search_run_path(nl.lib_path, qs, names, 1, &so, &res, &d)) != IBEX_OK)
            note_failure(msg, sizeof msg, st, &d);
    }
    ibex_surface_free(s);
    if (!res) {
        fail_with(diag, msg);
        return IBEX_ERR_FORMAT;
    }
    json_t *o = answer(res, nl.share, top, nl.lib_path);
    ibex_search_result_free(res);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text) {
        fail_with(diag, "out of memory");
        return IBEX_ERR_NOMEM;
    }
    *json_out = text;
    return IBEX_OK;
}
