/* The conclusions trail in the library (include/ibex/conclusion.h): /audit holds
 *   text     uint8, the records' canonical JSON texts one after another
 *   records  uint64 N x 2, where each record's text starts and how long it is
 *   @format "ibex-audit/1", @head_sha256 the newest record's SHA-256.
 * A record's JSON names the SHA-256 of the one before ("prev"), so the texts form a chain that
 * the head closes: reading checks every link, appending reads (and so checks) the trail first. */
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "h5lib_internal.h"
#include "ibex/config.h"
#include "ibex/conclusion.h"
#include "ibex_internal.h"

#define AUDIT "/audit"
#define AUDIT_FORMAT "ibex-audit/1"
#define MAX_NOTES (64u << 10)
#define MAX_TEXT (4u << 10)
#define MAX_SCORES (16u << 10)
#define MAX_RECORD (1u << 20) /* a stored text longer than this is not one IBEX wrote */
#define MAX_RECORDS ((uint64_t)1 << 24)

static void sha_hex(const void *p, size_t n, char hex[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    hex[0] = 0;
    if (EVP_Digest(p, n, md, &len, EVP_sha256(), NULL) != 1 || len != 32) return;
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static int hex64(const char *h)
{
    if (strlen(h) != 64) return 0;
    for (; *h; h++)
        if (!((*h >= '0' && *h <= '9') || (*h >= 'a' && *h <= 'f'))) return 0;
    return 1;
}

/* ---- reading (library lock held) ---- */

static char *dup_str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? strdup(s) : NULL;
}

/* Fills c from a record's JSON; 0 when a required field is missing or has the wrong type. */
static int from_json(json_t *o, ibex_conclusion *c)
{
    ibex_conclusion_init(c);
    const char *type = json_string_value(json_object_get(o, "type"));
    json_t *q = json_object_get(o, "questioned"), *k = json_object_get(o, "candidate");
    const char *qs = json_string_value(json_object_get(q, "sha256"));
    const char *ks = json_string_value(json_object_get(k, "sha256"));
    const char *prev = json_string_value(json_object_get(o, "prev"));
    json_t *seq = json_object_get(o, "seq"), *tm = json_object_get(o, "time");
    if (!type || !qs || !ks || !prev || !json_is_integer(seq) || !json_is_integer(tm) || !hex64(qs) || !hex64(ks) ||
        (*prev && !hex64(prev)))
        return 0;
    c->type = !strcmp(type, "verification") ? IBEX_RECORD_VERIFICATION : IBEX_RECORD_CONCLUSION;
    if (c->type == IBEX_RECORD_CONCLUSION && strcmp(type, "conclusion")) return 0;
    memcpy(c->questioned_sha256, qs, 65);
    memcpy(c->candidate_sha256, ks, 65);
    snprintf(c->prev_sha256, sizeof c->prev_sha256, "%s", prev);
    c->seq = (uint64_t)json_integer_value(seq);
    c->time = (int64_t)json_integer_value(tm);
    c->verifies = (uint64_t)json_integer_value(json_object_get(o, "verifies"));
    c->examiner = dup_str(o, "examiner");
    c->role = dup_str(o, "role");
    c->conclusion = dup_str(o, "conclusion");
    c->notes = dup_str(o, "notes");
    c->case_id = dup_str(o, "case");
    c->questioned_name = dup_str(q, "name");
    c->candidate_name = dup_str(k, "name");
    c->method = dup_str(o, "method");
    c->parameters = dup_str(o, "parameters");
    c->software = dup_str(o, "software");
    json_t *sc = json_object_get(o, "scores");
    if (json_is_object(sc)) c->scores = json_dumps(sc, JSON_COMPACT | JSON_SORT_KEYS);
    return c->examiner && ibex_afte_index(c->conclusion) >= 0;
}

typedef struct trail {
    ibex_conclusion *v;
    size_t n;
    uint64_t text_size;   /* bytes in /audit/text */
    char head[65];        /* SHA-256 of the newest record ("" when none) */
} trail;

static void trail_free(trail *t)
{
    ibex_conclusion_free_all(t->v, t->n);
    memset(t, 0, sizeof *t);
}

static hid_t open_ds(hid_t g, const char *name, int rank, hsize_t *dims)
{
    hid_t d = H5Lexists(g, name, H5P_DEFAULT) > 0 ? H5Dopen2(g, name, H5P_DEFAULT) : -1;
    hid_t sp = d >= 0 ? H5Dget_space(d) : -1;
    int ok = sp >= 0 && H5Sget_simple_extent_ndims(sp) == rank && H5Sget_simple_extent_dims(sp, dims, NULL) == rank;
    if (sp >= 0) H5Sclose(sp);
    if (!ok && d >= 0) {
        H5Dclose(d);
        d = -1;
    }
    return d;
}

/* Reads and checks the whole trail. A library without /audit has an empty one. */
static ibex_status trail_read(hid_t file, const char *path, trail *t, ibex_diag *diag)
{
    memset(t, 0, sizeof *t);
    htri_t e = H5Lexists(file, AUDIT, H5P_DEFAULT);
    if (e <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return IBEX_OK;
    }
    ibex_status st = IBEX_OK;
    char msg[160] = "";
    hid_t g = H5Gopen2(file, AUDIT, H5P_DEFAULT);
    char *fmt = g >= 0 ? ibex__h5_attr_read_str(g, "format") : NULL;
    char *head = g >= 0 ? ibex__h5_attr_read_str(g, "head_sha256") : NULL;
    hsize_t rd[2] = {0, 0}, td[1] = {0};
    hid_t rds = g >= 0 ? open_ds(g, "records", 2, rd) : -1;
    hid_t tds = g >= 0 ? open_ds(g, "text", 1, td) : -1;
    uint64_t *idx = NULL;
    char *buf = NULL;
    if (!fmt || strcmp(fmt, AUDIT_FORMAT) || !head || rds < 0 || tds < 0 || rd[1] != 2) {
        snprintf(msg, sizeof msg, "%s is not an IBEX audit trail (%s)", AUDIT,
                 !fmt ? "no format" : strcmp(fmt, AUDIT_FORMAT) ? "unknown format" : "missing parts");
        st = IBEX_ERR_INTEGRITY;
        goto done;
    }
    if (rd[0] > MAX_RECORDS) {
        snprintf(msg, sizeof msg, "%s holds %llu records (at most %llu)", AUDIT, (unsigned long long)rd[0],
                 (unsigned long long)MAX_RECORDS);
        st = IBEX_ERR_LIMIT;
        goto done;
    }
    t->n = 0;
    t->text_size = td[0];
    if (rd[0]) {
        idx = malloc((size_t)rd[0] * 2 * sizeof *idx);
        t->v = calloc((size_t)rd[0], sizeof *t->v);
        if (!idx || !t->v) {
            st = IBEX_ERR_NOMEM;
            snprintf(msg, sizeof msg, "out of memory");
            goto done;
        }
        if (H5Dread(rds, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, idx) < 0) {
            st = IBEX_ERR_INTEGRITY;
            snprintf(msg, sizeof msg, "cannot read %s/records", AUDIT);
            goto done;
        }
    }
    char prev[65] = "";
    for (uint64_t i = 0; i < rd[0]; i++) {
        uint64_t off = idx[2 * i], len = idx[2 * i + 1];
        if (len == 0 || len > MAX_RECORD || off > td[0] || len > td[0] - off) {
            st = IBEX_ERR_INTEGRITY;
            snprintf(msg, sizeof msg, "record %" PRIu64 " lies outside %s/text", i + 1, AUDIT);
            goto done;
        }
        char *nb = realloc(buf, (size_t)len + 1);
        if (!nb) {
            st = IBEX_ERR_NOMEM;
            snprintf(msg, sizeof msg, "out of memory");
            goto done;
        }
        buf = nb;
        hsize_t o1 = off, c1 = len;
        hid_t fs = H5Dget_space(tds), ms = H5Screate_simple(1, &c1, NULL);
        int ok = fs >= 0 && ms >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, &o1, NULL, &c1, NULL) >= 0 &&
                 H5Dread(tds, H5T_NATIVE_UINT8, ms, fs, H5P_DEFAULT, buf) >= 0;
        if (ms >= 0) H5Sclose(ms);
        if (fs >= 0) H5Sclose(fs);
        buf[len] = 0;
        json_error_t je;
        json_t *o = ok ? json_loadb(buf, (size_t)len, JSON_REJECT_DUPLICATES, &je) : NULL;
        ibex_conclusion *c = &t->v[t->n];
        int good = o && json_is_object(o) && from_json(o, c);
        json_decref(o);
        t->n++; /* c is freed with the rest from here on */
        if (!ok || !good) {
            st = IBEX_ERR_INTEGRITY;
            snprintf(msg, sizeof msg, "record %" PRIu64 " is %s", i + 1, !ok ? "unreadable" : "not a valid record");
            goto done;
        }
        sha_hex(buf, (size_t)len, c->sha256);
        if (c->seq != i + 1 || strcmp(c->prev_sha256, prev)) {
            st = IBEX_ERR_INTEGRITY;
            snprintf(msg, sizeof msg, "record %" PRIu64 " %s", i + 1,
                     c->seq != i + 1 ? "is out of order" : "does not follow the record before (changed or removed)");
            goto done;
        }
        memcpy(prev, c->sha256, 65);
    }
    if (strcmp(prev, head)) {
        st = IBEX_ERR_INTEGRITY;
        snprintf(msg, sizeof msg, "the newest record is not the one the trail's head names (a record was changed or "
                                  "removed)");
        goto done;
    }
    memcpy(t->head, prev, 65);
done:
    H5Eclear2(H5E_DEFAULT);
    free(idx);
    free(buf);
    free(fmt);
    free(head);
    if (rds >= 0) H5Dclose(rds);
    if (tds >= 0) H5Dclose(tds);
    if (g >= 0) H5Gclose(g);
    if (st != IBEX_OK) {
        trail_free(t);
        return ibex__fail(diag, st, path, -1, "conclusions: %s", msg);
    }
    return IBEX_OK;
}

/* ---- appending ---- */

static int put_opt(json_t *o, const char *key, const char *v)
{
    return !v || !*v || json_object_set_new(o, key, json_string(v)) == 0;
}

static ibex_status check_text(const char *path, const char *what, const char *v, size_t max, ibex_diag *diag)
{
    if (!v) return IBEX_OK;
    size_t n = strlen(v);
    if (n > max) return ibex__fail(diag, IBEX_ERR_ARG, path, -1, "conclusion: %s is %zu bytes (at most %zu)", what, n, max);
    json_t *s = json_string(v); /* NULL unless valid UTF-8 */
    json_decref(s);
    if (!s) return ibex__fail(diag, IBEX_ERR_ARG, path, -1, "conclusion: %s is not UTF-8 text", what);
    return IBEX_OK;
}

static ibex_status check_input(const char *path, const ibex_conclusion *c, ibex_diag *diag)
{
    if (!c || c->struct_size < sizeof *c)
        return ibex__fail(diag, IBEX_ERR_ARG, path, -1, "conclusion: not initialised (ibex_conclusion_init)");
    if (c->type != IBEX_RECORD_CONCLUSION && c->type != IBEX_RECORD_VERIFICATION)
        return ibex__fail(diag, IBEX_ERR_ARG, path, -1, "conclusion: unknown record type %d", (int)c->type);
    if (!c->examiner || !*c->examiner) return ibex__fail(diag, IBEX_ERR_ARG, path, -1, "conclusion: no examiner");
    if (ibex_afte_index(c->conclusion) < 0)
        return ibex__fail(diag, IBEX_ERR_ARG, path, -1,
                          "conclusion: '%.40s' is not one of identification, inconclusive-a, inconclusive-b, "
                          "inconclusive-c, elimination, unsuitable",
                          c->conclusion ? c->conclusion : "");
    if (!hex64(c->questioned_sha256) || !hex64(c->candidate_sha256))
        return ibex__fail(diag, IBEX_ERR_ARG, path, -1, "conclusion: a specimen's SHA-256 is not 64 hex digits");
    const struct { const char *what, *v; size_t max; } t[] = {
        {"examiner", c->examiner, 200},       {"role", c->role, 64},          {"notes", c->notes, MAX_NOTES},
        {"case", c->case_id, MAX_TEXT},       {"questioned name", c->questioned_name, MAX_TEXT},
        {"candidate name", c->candidate_name, MAX_TEXT}, {"method", c->method, MAX_TEXT},
        {"parameters", c->parameters, MAX_TEXT}, {"scores", c->scores, MAX_SCORES}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        ibex_status st = check_text(path, t[i].what, t[i].v, t[i].max, diag);
        if (st != IBEX_OK) return st;
    }
    if (c->type == IBEX_RECORD_CONCLUSION && c->verifies)
        return ibex__fail(diag, IBEX_ERR_ARG, path, -1, "conclusion: only a verification verifies a record");
    return IBEX_OK;
}

typedef struct append_arg {
    const char *path;
    const ibex_conclusion *c;
    json_t *scores;
    uint64_t seq;
} append_arg;

static int write_at(hid_t d, int rank, const hsize_t *newdims, const hsize_t *off, const hsize_t *cnt, hid_t mt,
                    const void *p)
{
    if (H5Dset_extent(d, newdims) < 0) return 0;
    hid_t fs = H5Dget_space(d), ms = H5Screate_simple(rank, cnt, NULL);
    int ok = fs >= 0 && ms >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, off, NULL, cnt, NULL) >= 0 &&
             H5Dwrite(d, mt, ms, fs, H5P_DEFAULT, p) >= 0;
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    return ok;
}

/* Creates /audit (inside the transaction). */
static int make_audit(hid_t file, int legacy)
{
    hid_t g = ibex__library_make_group(file, AUDIT, legacy);
    if (g < 0) return 0;
    hsize_t z1 = 0, max1 = H5S_UNLIMITED, ch1 = 1u << 16;
    hsize_t z2[2] = {0, 2}, max2[2] = {H5S_UNLIMITED, 2}, ch2[2] = {256, 2};
    hid_t s1 = H5Screate_simple(1, &z1, &max1), s2 = H5Screate_simple(2, z2, max2);
    hid_t p1 = ibex__library_dcpl(1, &ch1, 1), p2 = ibex__library_dcpl(2, ch2, 0);
    hid_t d1 = H5Dcreate2(g, "text", H5T_STD_U8LE, s1, H5P_DEFAULT, p1, H5P_DEFAULT);
    hid_t d2 = H5Dcreate2(g, "records", H5T_STD_U64LE, s2, H5P_DEFAULT, p2, H5P_DEFAULT);
    int ok = d1 >= 0 && d2 >= 0 && ibex__h5_attr_write_str(g, "format", AUDIT_FORMAT) && ibex__h5_attr_write_str(g, "head_sha256", "");
    if (d1 >= 0) H5Dclose(d1);
    if (d2 >= 0) H5Dclose(d2);
    H5Pclose(p1);
    H5Pclose(p2);
    H5Sclose(s1);
    H5Sclose(s2);
    H5Gclose(g);
    return ok;
}

static ibex_status append_step(hid_t file, int legacy, void *argp, ibex_diag *diag)
{
    append_arg *a = argp;
    const ibex_conclusion *c = a->c;
    trail t;
    ibex_status st = trail_read(file, a->path, &t, diag);
    if (st != IBEX_OK) return st;
    if (c->type == IBEX_RECORD_VERIFICATION) {
        const ibex_conclusion *v = c->verifies >= 1 && c->verifies <= t.n ? &t.v[c->verifies - 1] : NULL;
        const char *why = !v                                         ? "there is no such record"
                          : v->type != IBEX_RECORD_CONCLUSION          ? "it is a verification, not a conclusion"
                          : strcmp(v->questioned_sha256, c->questioned_sha256) ||
                                    strcmp(v->candidate_sha256, c->candidate_sha256)
                              ? "it concerns another pair"
                          : !strcmp(v->examiner, c->examiner) ? "an examiner cannot verify their own conclusion"
                                                              : NULL;
        if (why) {
            trail_free(&t);
            return ibex__fail(diag, IBEX_ERR_ARG, a->path, -1, "verification of record %" PRIu64 ": %s", c->verifies,
                              why);
        }
    }
    uint64_t seq = t.n + 1;
    json_t *o = json_object(), *q = json_object(), *k = json_object();
    json_object_set_new(q, "sha256", json_string(c->questioned_sha256));
    put_opt(q, "name", c->questioned_name);
    json_object_set_new(k, "sha256", json_string(c->candidate_sha256));
    put_opt(k, "name", c->candidate_name);
    json_object_set_new(o, "questioned", q);
    json_object_set_new(o, "candidate", k);
    json_object_set_new(o, "type", json_string(c->type == IBEX_RECORD_VERIFICATION ? "verification" : "conclusion"));
    json_object_set_new(o, "seq", json_integer((json_int_t)seq));
    json_object_set_new(o, "time", json_integer((json_int_t)time(NULL)));
    json_object_set_new(o, "prev", json_string(t.head));
    json_object_set_new(o, "software", json_string("ibex " IBEX_VERSION_STRING));
    json_object_set_new(o, "examiner", json_string(c->examiner));
    json_object_set_new(o, "conclusion", json_string(c->conclusion));
    put_opt(o, "role", c->role);
    put_opt(o, "notes", c->notes);
    put_opt(o, "case", c->case_id);
    put_opt(o, "method", c->method);
    put_opt(o, "parameters", c->parameters);
    if (a->scores) json_object_set(o, "scores", a->scores);
    if (c->type == IBEX_RECORD_VERIFICATION) json_object_set_new(o, "verifies", json_integer((json_int_t)c->verifies));
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    json_decref(o);
    uint64_t text_size = t.text_size;
    trail_free(&t);
    if (!text) return ibex__fail(diag, IBEX_ERR_NOMEM, a->path, -1, "out of memory");
    size_t len = strlen(text);
    char hex[65];
    sha_hex(text, len, hex);

    int ok = 1;
    if (H5Lexists(file, AUDIT, H5P_DEFAULT) <= 0) ok = make_audit(file, legacy);
    hid_t g = ok ? H5Gopen2(file, AUDIT, H5P_DEFAULT) : -1;
    hid_t td = g >= 0 ? H5Dopen2(g, "text", H5P_DEFAULT) : -1;
    hid_t rd = g >= 0 ? H5Dopen2(g, "records", H5P_DEFAULT) : -1;
    hsize_t tn = text_size + len, to = text_size, tc = len;
    hsize_t rn[2] = {seq, 2}, ro[2] = {seq - 1, 0}, rc[2] = {1, 2};
    uint64_t entry[2] = {text_size, len};
    ok = ok && td >= 0 && rd >= 0 && write_at(td, 1, &tn, &to, &tc, H5T_NATIVE_UINT8, text) &&
         write_at(rd, 2, rn, ro, rc, H5T_NATIVE_UINT64, entry) && ibex__h5_attr_write_str(g, "head_sha256", hex);
    if (td >= 0) H5Dclose(td);
    if (rd >= 0) H5Dclose(rd);
    if (g >= 0) H5Gclose(g);
    free(text);
    if (!ok) {
        char b[256];
        return ibex__fail(diag, IBEX_ERR_IO, a->path, -1, "conclusions: cannot append: %s", ibex__h5_error(b));
    }
    a->seq = seq;
    return IBEX_OK;
}

ibex_status ibex_conclusion_append(ibex_library *lib, const ibex_conclusion *c, uint64_t *seq, ibex_diag *diag)
{
    if (!lib) return ibex__fail(diag, IBEX_ERR_ARG, NULL, -1, "conclusion: no library");
    const char *path = ibex_library_path(lib);
    ibex_status st = check_input(path, c, diag);
    if (st != IBEX_OK) return st;
    append_arg a = {path, c, NULL, 0};
    if (c->scores && *c->scores) {
        json_error_t je;
        a.scores = json_loads(c->scores, JSON_REJECT_DUPLICATES, &je);
        if (!json_is_object(a.scores)) {
            json_decref(a.scores);
            return ibex__fail(diag, IBEX_ERR_ARG, path, -1, "conclusion: scores are not a JSON object");
        }
    }
    st = ibex__library_write_step(lib, append_step, &a, "conclusion", diag);
    json_decref(a.scores);
    if (st == IBEX_OK && seq) *seq = a.seq;
    return st;
}

ibex_status ibex_conclusion_read_all(ibex_library *lib, ibex_conclusion **out, size_t *n, ibex_diag *diag)
{
    if (!lib || !out || !n) return ibex__fail(diag, IBEX_ERR_ARG, NULL, -1, "conclusions: bad arguments");
    ibex__library_lock();
    trail t;
    ibex_status st = trail_read(ibex__library_file(lib), ibex_library_path(lib), &t, diag);
    ibex__library_unlock();
    if (st != IBEX_OK) return st;
    *out = t.v;
    *n = t.n;
    return IBEX_OK;
}

ibex_status ibex_conclusion_count(ibex_library *lib, uint64_t *n, ibex_diag *diag)
{
    if (!lib || !n) return ibex__fail(diag, IBEX_ERR_ARG, NULL, -1, "conclusions: bad arguments");
    ibex__library_lock();
    hid_t file = ibex__library_file(lib);
    uint64_t count = 0;
    if (H5Lexists(file, AUDIT "/records", H5P_DEFAULT) > 0) {
        hsize_t d[2] = {0, 0};
        hid_t ds = open_ds(file, AUDIT "/records", 2, d);
        if (ds >= 0) {
            count = d[0];
            H5Dclose(ds);
        }
    }
    H5Eclear2(H5E_DEFAULT);
    ibex__library_unlock();
    *n = count;
    return IBEX_OK;
}
