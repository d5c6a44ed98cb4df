/* The node's library hooks: a pushed or pulled package goes through 'ibex import' and
 * 'ibex index'; a query package through the search of 'ibex query' (query_run). What an
 * answer says about a specimen is limited to the fields of the node's sharing policy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "node_library.h"
#include "query.h"

/* Table columns an answer may carry; the metadata keys (ibex_meta_key) come on top. Never
 * source_path (a local file name) nor anything of the surface. */
static const char *const table_fields[] = {"id", "kind", "region", "set", "firearm_id", "same_source_key",
                                           "sha256", NULL};

static int known_field(const char *f, size_t n)
{
    for (size_t i = 0; table_fields[i]; i++)
        if (strlen(table_fields[i]) == n && !strncmp(table_fields[i], f, n)) return 1;
    for (size_t i = 0; ibex_meta_key(i); i++)
        if (strlen(ibex_meta_key(i)) == n && !strncmp(ibex_meta_key(i), f, n)) return 1;
    return 0;
}

int node_library_share_ok(const char *list, char *why, size_t why_size)
{
    if (!*list) return 1; /* share nothing but scores and verdicts */
    for (const char *p = list;;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (!known_field(p, n)) {
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

static void fail_with(ibex_diag *diag, const char *msg)
{
    if (!diag) return;
    memset(diag, 0, sizeof *diag);
    snprintf(diag->message, sizeof diag->message, "%.500s", msg[0] ? msg : "refused (no message)");
}

ibex_status node_library_store(void *user, const unsigned char *pkg, size_t n, const char *sha256_hex,
                               char *note, size_t note_size, ibex_diag *diag)
{
    const node_library *nl = user;
    char msg[600], id[256] = "";
    cli_capture(msg, sizeof msg);
    ibex_library *lib = NULL;
    int r = -1;
    if (access(nl->lib_path, F_OK) == 0) {
        ibex_library_opts o;
        ibex_library_opts_init(&o);
        o.flags = IBEX_LIBRARY_WRITE;
        ibex_diag d;
        ibex_status st = ibex_library_open(nl->lib_path, &o, &lib, &d);
        if (st) cli_fail_status(st, &d);
    }
    if (lib || access(nl->lib_path, F_OK) != 0)
        r = exchange_import_mem(&lib, nl->lib_path, pkg, n, "package", sha256_hex, nl->trust, id, sizeof id);
    if (lib) {
        ibex_diag d;
        ibex_status st = ibex_library_close(lib, &d);
        if (st && r == 0) {
            cli_fail_status(st, &d);
            r = -1;
        }
    }
    /* Stored: index it now, so the next query sees it (incremental; docs/index.md). */
    int indexed = r == 0 ? index_update(nl->lib_path, 0, 0, 1) == EXIT_OK : 1;
    cli_capture(NULL, 0);
    if (r < 0) {
        fail_with(diag, msg);
        return IBEX_ERR_FORMAT;
    }
    if (r == 1) snprintf(note, note_size, "skipped: %s already held", id);
    else if (indexed) snprintf(note, note_size, "stored %s", id);
    else snprintf(note, note_size, "stored %s (not indexed yet: %.200s)", id, msg);
    return IBEX_OK;
}

/* The package's preprocessing must be the library's (what 'ibex import' demands). */
static int params_match(const unsigned char *pkg, size_t n, const char *lib_path)
{
    char **kv = NULL;
    ibex_diag d;
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
            if (!ok) cli_error("package: preprocessing parameters differ from the library's");
            ibex_library_close(lib, NULL);
        } else {
            cli_fail_status(IBEX_ERR_IO, &d);
        }
    }
    ibex_package_params_free(kv);
    return ok;
}

/* One shared field of row `row` into candidate a (absent values are left out). */
static void share_field(json_t *a, const char *f, const row_info *ri, const ibex_specimen *sp)
{
    const char *v = NULL;
    if (!strcmp(f, "id")) v = ri->id;
    else if (!strcmp(f, "kind")) v = ri->kind;
    else if (!strcmp(f, "firearm_id")) v = ri->firearm_id;
    else if (!strcmp(f, "same_source_key")) v = ri->same_source_key;
    else if (sp && !strcmp(f, "region")) v = sp->region;
    else if (sp && !strcmp(f, "set")) v = sp->set;
    else if (sp && !strcmp(f, "sha256")) v = sp->sha256;
    else if (sp) v = ibex_meta_get(&sp->meta, f);
    if (v && *v) json_object_set_new(a, f, json_string(v));
}

static json_t *answer(const query_result *res, const char *share, unsigned top, const char *lib_path)
{
    json_t *o = json_object(), *arr = json_array();
    size_t show = res->nc[0] < top ? res->nc[0] : top;
    /* Fields beyond the row info need each candidate's table row. */
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
        const query_cand *cd = &res->cands[h];
        json_t *a = json_object();
        json_object_set_new(a, "rank", json_integer((json_int_t)(h + 1)));
        ibex_specimen sp;
        memset(&sp, 0, sizeof sp);
        int have = lib && ibex_library_get_info(lib, cd->row, &sp, NULL) == IBEX_OK;
        for (size_t i = 0; i < nf; i++) share_field(a, list[i], &res->ri[cd->row], have ? &sp : NULL);
        ibex_specimen_clear(&sp);
        json_object_set_new(a, "stage1", json_real(cd->stage1));
        query_cand_json(a, cd, res->bullet);
        json_array_append_new(arr, a);
    }
    if (lib) ibex_library_close(lib, NULL);
    free(fields);
    json_object_set_new(o, "kind", json_string(res->kind));
    json_object_set_new(o, "indexed", json_integer((json_int_t)res->nix));
    json_object_set_new(o, "shortlist", json_integer((json_int_t)res->nc[0]));
    json_object_set_new(o, "seconds", json_real(res->t2 - res->t0));
    json_object_set_new(o, "candidates", arr);
    return o;
}

ibex_status node_library_query(void *user, const unsigned char *pkg, size_t n, unsigned top,
                               unsigned shortlist, char **json_out, ibex_diag *diag)
{
    const node_library *nl = user;
    char msg[600];
    cli_capture(msg, sizeof msg);
    ibex_surface *s = NULL;
    ibex_diag d;
    ibex_status st = ibex_surface_read_x3p_mem(pkg, n, "package", 0, &s, &d);
    query_result res;
    memset(&res, 0, sizeof res);
    int rc = EXIT_REFUSED;
    if (st) {
        cli_fail_status(st, &d);
    } else if (access(nl->lib_path, F_OK) != 0) {
        cli_error("this node's library is empty (nothing stored yet)");
    } else if (params_match(pkg, n, nl->lib_path)) {
        char *names[1] = {"package"};
        /* shortlist 0: stage 1 alone, the best `top` by similarity */
        query_opts qo = {nl->lib_path, names, &s, 1, shortlist ? (long)shortlist : (long)top, nl->threads,
                         shortlist == 0, 0, 1, NULL, 0, NULL, NULL};
        rc = query_run(&qo, &res);
    }
    cli_capture(NULL, 0);
    ibex_surface_free(s);
    if (rc != EXIT_OK) {
        fail_with(diag, msg);
        return IBEX_ERR_FORMAT;
    }
    json_t *o = answer(&res, nl->share, top, nl->lib_path);
    query_result_clear(&res);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text) {
        fail_with(diag, "out of memory");
        return IBEX_ERR_NOMEM;
    }
    *json_out = text;
    return IBEX_OK;
}
