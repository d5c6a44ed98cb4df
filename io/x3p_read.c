/* X3P (ISO 25178-72) reader: zip container, main.xml, point data, checksums, units. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zip.h>

#include "extras_internal.h"
#include "ibex/io.h"
#include "ibex_internal.h"
#include "x3p_internal.h"
#include "xmlutil.h"

typedef struct reader {
    zip_t *za;
    const char *name;  /* for messages */
    char prefix[512];  /* folder holding main.xml, "" or "dir/" */
    unsigned flags;
    ibex_diag *diag;
} reader;

typedef struct axis {
    char type;   /* 'I' incremental or 'A' absolute */
    char dtype;  /* 'I' int16, 'L' int32, 'F' float32, 'D' float64, 0 unset */
    double inc, off;
    double to_m; /* factor to metres (CZ only; 1 for files in metres) */
} axis;

static ibex_status fail(reader *r, ibex_status s, const char *fmt, ...) IBEX__PRINTF(3, 4);
static ibex_status fail(reader *r, ibex_status s, const char *fmt, ...)
{
    char msg[480];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ibex__fail(r->diag, s, r->name, -1, "%s", msg);
}

/* Member names inside the archive use '/', relative to main.xml's folder. */
static zip_int64_t locate(reader *r, const char *link)
{
    char full[1024];
    while (link[0] == '.' && link[1] == '/') link += 2;
    snprintf(full, sizeof full, "%s%s", r->prefix, link);
    for (char *p = full; *p; p++)
        if (*p == '\\') *p = '/';
    return zip_name_locate(r->za, full, 0);
}

/* The uncompressed size in the central directory is only a claim, and the buffer is sized
 * from it: a stored member must hold exactly its compressed size, and deflate cannot expand
 * more than 1032:1 (a 258-byte match per ~2 bits), so a larger claim is a lie. The read that
 * follows is capped at the claim in any case. Other methods are left to that cap. */
static ibex_status check_declared(reader *r, const zip_stat_t *st, const char *what)
{
    if (!(st->valid & ZIP_STAT_COMP_SIZE) || !(st->valid & ZIP_STAT_COMP_METHOD)) return IBEX_OK;
    double most = st->comp_method == ZIP_CM_STORE     ? (double)st->comp_size
                  : st->comp_method == ZIP_CM_DEFLATE ? 1032.0 * (double)st->comp_size + 1024
                                                      : INFINITY;
    if ((double)st->size > most)
        return fail(r, IBEX_ERR_FORMAT,
                    "%s claims %llu bytes uncompressed, more than its %llu compressed bytes can "
                    "hold", what, (unsigned long long)st->size, (unsigned long long)st->comp_size);
    return IBEX_OK;
}

/* Read a whole member of at most max bytes; exact_size, when non-zero, must match. */
static ibex_status read_member(reader *r, zip_int64_t idx, const char *what, size_t max,
                               size_t exact_size, unsigned char **out, size_t *out_size)
{
    zip_stat_t st;
    if (zip_stat_index(r->za, (zip_uint64_t)idx, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE))
        return fail(r, IBEX_ERR_FORMAT, "cannot stat %s in the archive", what);
    if (st.size > max)
        return fail(r, IBEX_ERR_LIMIT, "%s is %llu bytes, over the limit of %zu", what,
                    (unsigned long long)st.size, max);
    if (exact_size && st.size != exact_size)
        return fail(r, IBEX_ERR_FORMAT, "%s holds %llu bytes but Record3 declares %zu", what,
                    (unsigned long long)st.size, exact_size);
    ibex_status ls = check_declared(r, &st, what);
    if (ls) return ls;
    size_t n = (size_t)st.size;
    unsigned char *buf = malloc(n + 1);
    if (!buf) return fail(r, IBEX_ERR_NOMEM, "out of memory reading %s", what);
    zip_file_t *zf = zip_fopen_index(r->za, (zip_uint64_t)idx, 0);
    if (!zf) {
        free(buf);
        return fail(r, IBEX_ERR_FORMAT, "cannot open %s: %s", what, zip_strerror(r->za));
    }
    size_t got = 0;
    for (;;) {
        /* Read one byte past the declared size: a member that lies about it fails here. */
        zip_int64_t k = zip_fread(zf, buf + got, n + 1 - got);
        if (k < 0) {
            ibex_status s = fail(r, IBEX_ERR_FORMAT, "%s is damaged: %s", what,
                                 zip_file_strerror(zf));
            zip_fclose(zf);
            free(buf);
            return s;
        }
        if (k == 0) break;
        got += (size_t)k;
        if (got > n) break;
    }
    zip_fclose(zf);
    if (got != n) {
        free(buf);
        return fail(r, IBEX_ERR_FORMAT, "%s is truncated or damaged (%zu of %zu bytes)", what,
                    got, n);
    }
    buf[n] = '\0';
    *out = buf;
    *out_size = n;
    return IBEX_OK;
}

/* Find main.xml: at the top, or in one subfolder (some tools zip the folder). */
static ibex_status find_main(reader *r, zip_int64_t *idx)
{
    zip_int64_t n = zip_get_num_entries(r->za, 0), best = -1;
    size_t best_len = 0;
    for (zip_int64_t i = 0; i < n; i++) {
        const char *nm = zip_get_name(r->za, (zip_uint64_t)i, 0);
        if (!nm || strncmp(nm, "__MACOSX/", 9) == 0) continue;
        size_t len = strlen(nm);
        if (len < 8 || strcmp(nm + len - 8, "main.xml") != 0) continue;
        if (len > 8 && nm[len - 9] != '/') continue;
        if (best < 0 || len < best_len) {
            best = i;
            best_len = len;
        }
    }
    if (best < 0) return fail(r, IBEX_ERR_FORMAT, "no main.xml in the archive (not an X3P file)");
    const char *nm = zip_get_name(r->za, (zip_uint64_t)best, 0);
    size_t plen = best_len - 8;
    if (plen >= sizeof r->prefix) return fail(r, IBEX_ERR_FORMAT, "main.xml path too long");
    memcpy(r->prefix, nm, plen);
    r->prefix[plen] = '\0';
    *idx = best;
    return IBEX_OK;
}

static int parse_number(const char *t, double *v)
{
    if (!t) return 0;
    char *end;
    *v = strtod(t, &end);
    while (*end && isspace((unsigned char)*end)) end++;
    return end != t && *end == '\0';
}

static ibex_status parse_axis(reader *r, xmlNodePtr axes, const char *name, axis *a)
{
    xmlNodePtr n = ibex__xml_child(axes, name);
    if (!n) return fail(r, IBEX_ERR_FORMAT, "Record1/Axes has no %s", name);
    char *type = ibex__xml_child_text(n, "AxisType");
    char *dtype = ibex__xml_child_text(n, "DataType");
    char *inc = ibex__xml_child_text(n, "Increment");
    char *off = ibex__xml_child_text(n, "Offset");
    ibex_status s = IBEX_OK;
    a->type = type ? type[0] : 'I';
    a->dtype = dtype ? dtype[0] : 0;
    a->inc = 1;
    a->off = 0;
    if (a->type != 'I' && a->type != 'A')
        s = fail(r, IBEX_ERR_FORMAT, "%s/AxisType '%s' is neither I nor A", name, type);
    else if (a->dtype && !strchr("ILFD", a->dtype))
        s = fail(r, IBEX_ERR_FORMAT, "%s/DataType '%s' is not one of I, L, F, D", name, dtype);
    else if (inc && !parse_number(inc, &a->inc))
        s = fail(r, IBEX_ERR_FORMAT, "%s/Increment '%s' is not a number", name, inc);
    else if (off && !parse_number(off, &a->off))
        s = fail(r, IBEX_ERR_FORMAT, "%s/Offset '%s' is not a number", name, off);
    else if (!inc && a->type == 'I')
        s = fail(r, IBEX_ERR_FORMAT, "%s is incremental but has no Increment", name);
    else if (!(a->inc > 0) || !isfinite(a->inc))
        s = fail(r, IBEX_ERR_FORMAT, "%s/Increment must be positive, got %s", name, inc);
    else if (!isfinite(a->off))
        s = fail(r, IBEX_ERR_FORMAT, "%s/Offset is not finite", name);
    free(type);
    free(dtype);
    free(inc);
    free(off);
    return s;
}

static int parse_size(xmlNodePtr dim, const char *name, size_t *v)
{
    char *t = ibex__xml_child_text(dim, name);
    if (!t) return 0;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(t, &end, 10);
    int ok = end != t && *end == '\0' && t[0] != '-' && errno == 0 && x <= SIZE_MAX;
    free(t);
    *v = (size_t)x;
    return ok;
}

static size_t dtype_size(char d)
{
    switch (d) {
    case 'I': return 2;
    case 'L': return 4;
    case 'F': return 4;
    case 'D': return 8;
    default: return 0;
    }
}

/* Little-endian decode, independent of the host's byte order. */
static double decode(const unsigned char *p, char d)
{
    uint64_t u = 0;
    size_t n = dtype_size(d);
    for (size_t i = 0; i < n; i++) u |= (uint64_t)p[i] << (8 * i);
    switch (d) {
    case 'I': return (double)(int16_t)(uint16_t)u;
    case 'L': return (double)(int32_t)(uint32_t)u;
    case 'F': {
        uint32_t w = (uint32_t)u;
        float f;
        memcpy(&f, &w, 4);
        return f;
    }
    default: {
        double x;
        memcpy(&x, &u, 8);
        return x;
    }
    }
}

static ibex_status verify_md5(reader *r, const void *data, size_t n, const char *expected,
                              const char *what)
{
    if (r->flags & IBEX_READ_NO_VERIFY || !expected) return IBEX_OK;
    char hex[33];
    if (!ibex__md5_hex(data, n, hex)) return fail(r, IBEX_ERR_NOMEM, "MD5 unavailable");
    if (strlen(expected) < 32 || strncasecmp(hex, expected, 32) != 0)
        return fail(r, IBEX_ERR_INTEGRITY,
                    "MD5 of %s is %s but the file records %.40s (use --no-verify to read anyway)",
                    what, hex, expected);
    return IBEX_OK;
}

/* With IBEX_READ_FLOAT64: keep the double heights z64 (NaN where z is invalid) as s->z64
 * when rounding them to float lost something; otherwise z says it all and z64 is freed. */
static void keep_z64(ibex_surface *s, double *z64)
{
    if (!z64) return;
    int lossy = 0;
    for (size_t i = 0; i < s->nx * s->ny; i++) {
        if (!s->valid[i]) z64[i] = NAN;
        else if ((double)s->z[i] != z64[i]) lossy = 1;
    }
    if (lossy) s->z64 = z64;
    else free(z64);
}

/* Heights from bindata (or an inline DataList) into s->z, and validity from NaN / valid.bin. */
static ibex_status read_points(reader *r, xmlNodePtr rec3, const axis *cz, ibex_surface *s)
{
    size_t n = s->nx * s->ny, tsz = dtype_size(cz->dtype), bytes;
    xmlNodePtr link = ibex__xml_child(rec3, "DataLink");
    xmlNodePtr list = ibex__xml_child(rec3, "DataList");
    ibex_status st = IBEX_OK;
    double *z64 = NULL;
    int want64 = (r->flags & IBEX_READ_FLOAT64) != 0;
    if (!link && list) {
        size_t i = 0;
        if (want64 && !(z64 = malloc(n * sizeof *z64)))
            return fail(r, IBEX_ERR_NOMEM, "out of memory for %zu float64 heights", n);
        for (xmlNodePtr d = list->children; d; d = d->next) {
            if (d->type != XML_ELEMENT_NODE || strcmp((const char *)d->name, "Datum")) continue;
            if (i >= n) {
                free(z64);
                return fail(r, IBEX_ERR_FORMAT, "DataList holds more than %zu points", n);
            }
            xmlChar *t = xmlNodeGetContent(d);
            double v;
            if (t && parse_number((const char *)t, &v) && isfinite(v)) {
                double m = (cz->off + v * cz->inc) * cz->to_m;
                s->z[i] = (float)m;
                if (z64) z64[i] = m;
            }
            xmlFree(t);
            i++;
        }
        if (i != n) {
            free(z64);
            return fail(r, IBEX_ERR_FORMAT, "DataList holds %zu points, Record3 declares %zu", i, n);
        }
        ibex_surface_sync_mask(s);
        keep_z64(s, z64);
        return IBEX_OK;
    }
    if (!link) return fail(r, IBEX_ERR_FORMAT, "Record3 has neither DataLink nor DataList");
    if (!tsz) return fail(r, IBEX_ERR_FORMAT, "CZ has no DataType");
    if (!ibex__mul_ok(n, tsz, &bytes)) return fail(r, IBEX_ERR_LIMIT, "point data too large");
    if (want64 && !(z64 = malloc(n * sizeof *z64)))
        return fail(r, IBEX_ERR_NOMEM, "out of memory for %zu float64 heights", n);
    char *plink = ibex__xml_child_text(link, "PointDataLink");
    char *pmd5 = ibex__xml_child_text(link, "MD5ChecksumPointData");
    char *vlink = ibex__xml_child_text(link, "ValidPointsLink");
    char *vmd5 = ibex__xml_child_text(link, "MD5ChecksumValidPoints");
    unsigned char *data = NULL, *vb = NULL;
    size_t dn = 0, vn = 0;
    zip_int64_t di = plink ? locate(r, plink) : -1;
    if (!plink) st = fail(r, IBEX_ERR_FORMAT, "DataLink has no PointDataLink");
    else if (di < 0) st = fail(r, IBEX_ERR_FORMAT, "point data member '%s' is missing", plink);
    else if (!(st = read_member(r, di, plink, bytes, bytes, &data, &dn)))
        st = verify_md5(r, data, dn, pmd5, plink);
    if (!st && vlink) {
        zip_int64_t vi = locate(r, vlink);
        size_t need = (n + 7) / 8;
        if (vi < 0) st = fail(r, IBEX_ERR_FORMAT, "valid-points member '%s' is missing", vlink);
        else if (!(st = read_member(r, vi, vlink, need + 16, 0, &vb, &vn))) {
            if (vn < need)
                st = fail(r, IBEX_ERR_FORMAT, "%s holds %zu bytes, %zu points need %zu", vlink,
                          vn, n, need);
            else
                st = verify_md5(r, vb, vn, vmd5, vlink);
        }
    }
    if (!st) {
        for (size_t i = 0; i < n; i++) {
            double v = (cz->off + decode(data + i * tsz, cz->dtype) * cz->inc) * cz->to_m;
            int ok = isfinite(v) && (!vb || (vb[i >> 3] >> (i & 7) & 1));
            s->z[i] = ok ? (float)v : NAN;
            if (z64) z64[i] = v;
        }
        ibex_surface_sync_mask(s); /* a double beyond float range becomes invalid, not inf */
        keep_z64(s, z64);
        z64 = NULL;
    }
    free(z64);
    free(plink);
    free(pmd5);
    free(vlink);
    free(vmd5);
    free(data);
    free(vb);
    return st;
}

/* Before the surface is allocated: the point data must be able to hold the n points that
 * MatrixDimension declares, or a few hundred bytes of XML could claim 10^8 of them. An inline
 * DataList must have n Datum elements; a point data member must declare n values' bytes, and
 * that claim must be one its compressed bytes can back. Other problems (a missing member, no
 * DataType) are left for read_points to report. */
static ibex_status check_point_source(reader *r, xmlNodePtr rec3, const axis *cz, size_t n)
{
    xmlNodePtr link = ibex__xml_child(rec3, "DataLink");
    xmlNodePtr list = ibex__xml_child(rec3, "DataList");
    if (!link && list) {
        size_t i = 0;
        for (xmlNodePtr d = list->children; d && i <= n; d = d->next)
            if (d->type == XML_ELEMENT_NODE && !strcmp((const char *)d->name, "Datum")) i++;
        if (i > n) return fail(r, IBEX_ERR_FORMAT, "DataList holds more than %zu points", n);
        if (i != n)
            return fail(r, IBEX_ERR_FORMAT, "DataList holds %zu points, Record3 declares %zu", i, n);
        return IBEX_OK;
    }
    size_t tsz = dtype_size(cz->dtype);
    char *plink = link ? ibex__xml_child_text(link, "PointDataLink") : NULL;
    zip_int64_t di = plink && tsz ? locate(r, plink) : -1;
    ibex_status s = IBEX_OK;
    zip_stat_t st;
    if (di >= 0 && zip_stat_index(r->za, (zip_uint64_t)di, 0, &st) == 0 &&
        (st.valid & ZIP_STAT_SIZE)) {
        if (st.size / tsz != n || st.size % tsz)
            s = fail(r, IBEX_ERR_FORMAT, "%s holds %llu bytes but Record3 declares %zu", plink,
                     (unsigned long long)st.size, n * tsz);
        else
            s = check_declared(r, &st, plink);
    }
    free(plink);
    return s;
}

static const char *const record2_keys[][2] = {
    {"Date", "date"}, {"Creator", "creator"}, {"CalibrationDate", "calibration_date"},
    {"Comment", "comment"},
};
static const char *const instrument_keys[][2] = {
    {"Manufacturer", "instrument_manufacturer"}, {"Model", "instrument_model"},
    {"Serial", "instrument_serial"}, {"Version", "instrument_version"},
};
static const char *const probing_keys[][2] = {
    {"Type", "probing_type"}, {"Identification", "probing_id"},
};

int ibex__meta_in_record2(const char *key)
{
    return strcmp(key, "date") == 0 || strcmp(key, "creator") == 0 ||
           strcmp(key, "calibration_date") == 0 || strcmp(key, "comment") == 0 ||
           strncmp(key, "instrument_", 11) == 0 || strncmp(key, "probing_", 8) == 0;
}

static ibex_status set_from(ibex_meta *m, xmlNodePtr parent, const char *const (*keys)[2],
                            size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *t = ibex__xml_child_text(parent, keys[i][0]);
        ibex_status s = ibex_meta_set(m, keys[i][1], t);
        free(t);
        if (s) return s;
    }
    return IBEX_OK;
}

static ibex_status read_record2(xmlNodePtr rec2, ibex_meta *m)
{
    if (!rec2) return IBEX_OK;
    ibex_status s = set_from(m, rec2, record2_keys, 4);
    if (!s) s = set_from(m, ibex__xml_child(rec2, "Instrument"), instrument_keys, 4);
    if (!s) s = set_from(m, ibex__xml_child(rec2, "ProbingSystem"), probing_keys, 2);
    return s;
}

/* IBEX's vendor member: <IbexMeta><field name="agency">...</field>...</IbexMeta>. */
static ibex_status read_vendor(reader *r, ibex_meta *m)
{
    zip_int64_t idx = locate(r, IBEX_VENDOR_MEMBER);
    if (idx < 0) return IBEX_OK;
    unsigned char *buf;
    size_t n;
    ibex_status s = read_member(r, idx, IBEX_VENDOR_MEMBER, 1 << 20, 0, &buf, &n);
    if (s) return s;
    const char *why = NULL;
    xmlDocPtr doc = NULL;
    s = ibex__xml_parse_safe((const char *)buf, n, IBEX_VENDOR_MEMBER, &doc, &why);
    free(buf);
    if (s) return fail(r, s, "%s", why);
    xmlNodePtr root = xmlDocGetRootElement(doc);
    for (xmlNodePtr c = root ? root->children : NULL; c && !s; c = c->next) {
        if (c->type != XML_ELEMENT_NODE) continue;
        xmlChar *key = xmlGetProp(c, (const xmlChar *)"name");
        xmlChar *val = xmlNodeGetContent(c);
        if (key && !ibex__meta_in_record2((const char *)key))
            ibex_meta_set(m, (const char *)key, (const char *)val); /* unknown keys: ignored */
        xmlFree(key);
        xmlFree(val);
    }
    xmlFreeDoc(doc);
    return s;
}

/* Member i's name relative to main.xml's folder when it is one keep_extras keeps, else NULL. */
static const char *extra_name(reader *r, zip_int64_t i, const char *const *skip)
{
    size_t plen = strlen(r->prefix);
    const char *nm = zip_get_name(r->za, (zip_uint64_t)i, 0);
    if (!nm || strncmp(nm, r->prefix, plen) != 0) return NULL;
    const char *rel = nm + plen;
    size_t len = strlen(rel);
    if (len == 0 || rel[len - 1] == '/' || strstr(rel, ".DS_Store")) return NULL;
    for (int k = 0; skip[k]; k++)
        if (strcmp(rel, skip[k]) == 0) return NULL;
    return rel;
}

/* Keep what the writer does not regenerate, so read-modify-write preserves it. */
static ibex_status keep_extras(reader *r, const char *xml, size_t xml_n, const char *const *skip,
                               ibex_surface *s)
{
    ibex_x3p_extras *e = calloc(1, sizeof *e);
    if (!e || !(e->main_xml = malloc(xml_n + 1))) {
        free(e);
        return fail(r, IBEX_ERR_NOMEM, "out of memory");
    }
    memcpy(e->main_xml, xml, xml_n + 1);
    e->main_xml_size = xml_n;
    s->extras = e;
    zip_int64_t n = zip_get_num_entries(r->za, 0);
    /* Every kept member at once is the cost, so count and sum them before inflating any. */
    size_t count = 0;
    unsigned long long total = 0;
    for (zip_int64_t i = 0; i < n; i++) {
        zip_stat_t zs;
        if (!extra_name(r, i, skip)) continue;
        if (zip_stat_index(r->za, (zip_uint64_t)i, 0, &zs) != 0 || !(zs.valid & ZIP_STAT_SIZE))
            return fail(r, IBEX_ERR_FORMAT, "cannot stat member %lld in the archive", (long long)i);
        count++;
        total += zs.size < IBEX_X3P_MAX_EXTRAS_SIZE ? zs.size : IBEX_X3P_MAX_EXTRAS_SIZE + 1ull;
    }
    if (count > IBEX_X3P_MAX_EXTRAS || total > IBEX_X3P_MAX_EXTRAS_SIZE)
        return fail(r, IBEX_ERR_LIMIT,
                    "%zu extra members declaring %s%llu bytes uncompressed, over the limit of %d "
                    "members and %zu bytes",
                    count, total > IBEX_X3P_MAX_EXTRAS_SIZE ? "over " : "",
                    total > IBEX_X3P_MAX_EXTRAS_SIZE ? (unsigned long long)IBEX_X3P_MAX_EXTRAS_SIZE
                                                     : total,
                    IBEX_X3P_MAX_EXTRAS, IBEX_X3P_MAX_EXTRAS_SIZE);
    for (zip_int64_t i = 0; i < n; i++) {
        const char *rel = extra_name(r, i, skip);
        if (!rel) continue;
        unsigned char *buf;
        size_t bn;
        ibex_status st = read_member(r, i, rel, IBEX_X3P_MAX_EXTRAS_SIZE, 0, &buf, &bn);
        if (st) return st;
        ibex__blob *nb = realloc(e->blobs, (e->n_blobs + 1) * sizeof *nb);
        char *name = ibex__strdup(rel);
        if (!nb || !name) {
            if (nb) e->blobs = nb;
            free(buf);
            free(name);
            return fail(r, IBEX_ERR_NOMEM, "out of memory");
        }
        e->blobs = nb;
        e->blobs[e->n_blobs++] = (ibex__blob){name, buf, bn};
    }
    return IBEX_OK;
}

/* Files in the wild store micrometres (or millimetres) where the standard says metres.
 * Toolmark scans have lateral spacing between ~0.1 um and ~100 um, so the increment's
 * magnitude tells the unit: <= 2e-4 metres, <= 0.2 millimetres, <= 200 micrometres.
 * The factor is found before the points are read so that each height is scaled once, in
 * double precision, before it is rounded to float. */
static ibex_status unit_factor(reader *r, double dx, double dy, double *f, const char **unit)
{
    double d = dx > dy ? dx : dy;
    *f = 1;
    *unit = NULL;
    if (d <= 2e-4) return IBEX_OK;
    if (d <= 0.2) {
        *f = 1e-3;
        *unit = "millimetres";
    } else if (d <= 200) {
        *f = 1e-6;
        *unit = "micrometres";
    } else {
        return fail(r, IBEX_ERR_FORMAT, "increment %g is implausible for a toolmark scan in any unit", d);
    }
    return IBEX_OK;
}

static ibex_status parse_doc(reader *r, const char *xml, size_t xml_n, ibex_surface **out)
{
    const char *why = NULL;
    xmlDocPtr doc = NULL;
    ibex_status st = ibex__xml_parse_safe(xml, xml_n, "main.xml", &doc, &why);
    if (st) return fail(r, st, "%s", why);
    ibex_surface *s = NULL;
    char *ftype = NULL, *pname = NULL, *vname = NULL;
    xmlNodePtr root = xmlDocGetRootElement(doc);
    xmlNodePtr rec1 = ibex__xml_child(root, "Record1"), rec3 = ibex__xml_child(root, "Record3");
    xmlNodePtr axes = ibex__xml_child(rec1, "Axes");
    xmlNodePtr dim = ibex__xml_child(rec3, "MatrixDimension");
    axis cx, cy, cz;
    size_t nx = 0, ny = 0, nz = 1, n;
    /* x3ptools writes a bare <ISO5436> root; accept it as the same record structure. */
    if (!root || (strcmp((const char *)root->name, "ISO5436_2") != 0 &&
                  strcmp((const char *)root->name, "ISO5436") != 0)) {
        st = fail(r, IBEX_ERR_FORMAT, "main.xml root is not ISO5436_2");
        goto done;
    }
    if (!rec1 || !rec3 || !axes) {
        st = fail(r, IBEX_ERR_FORMAT, "main.xml lacks %s", !rec1 ? "Record1" : !rec3 ? "Record3" : "Record1/Axes");
        goto done;
    }
    ftype = ibex__xml_child_text(rec1, "FeatureType");
    if (!ftype || strcmp(ftype, "SUR") != 0) {
        st = fail(r, IBEX_ERR_UNSUPPORTED, "FeatureType %s is not supported: IBEX reads areal surfaces (SUR)%s",
                  ftype ? ftype : "(missing)",
                  ftype && !strcmp(ftype, "PRF") ? ", not single profiles (PRF)" : "");
        goto done;
    }
    if ((st = parse_axis(r, axes, "CX", &cx)) || (st = parse_axis(r, axes, "CY", &cy)) ||
        (st = parse_axis(r, axes, "CZ", &cz)))
        goto done;
    if (cx.type != 'I' || cy.type != 'I') {
        st = fail(r, IBEX_ERR_UNSUPPORTED, "absolute X/Y axes (point lists) are not supported");
        goto done;
    }
    if (!dim) {
        st = fail(r, IBEX_ERR_UNSUPPORTED, ibex__xml_child(rec3, "ListDimension")
                                               ? "ListDimension (point lists) is not supported"
                                               : "Record3 has no MatrixDimension");
        goto done;
    }
    if (!parse_size(dim, "SizeX", &nx) || !parse_size(dim, "SizeY", &ny) ||
        (ibex__xml_child(dim, "SizeZ") && !parse_size(dim, "SizeZ", &nz))) {
        st = fail(r, IBEX_ERR_FORMAT, "MatrixDimension sizes are missing or not whole numbers");
        goto done;
    }
    if (nx == 0 || ny == 0 || nz != 1) {
        st = fail(r, nz > 1 ? IBEX_ERR_UNSUPPORTED : IBEX_ERR_FORMAT,
                  "MatrixDimension %zu x %zu x %zu: need SizeX, SizeY >= 1 and SizeZ = 1", nx, ny, nz);
        goto done;
    }
    if (nx > IBEX_MAX_SIDE || ny > IBEX_MAX_SIDE || !ibex__mul_ok(nx, ny, &n) || n > IBEX_MAX_POINTS) {
        st = fail(r, IBEX_ERR_LIMIT, "grid %zu x %zu exceeds the limit of %zu points (%zu per side)",
                  nx, ny, IBEX_MAX_POINTS, IBEX_MAX_SIDE);
        goto done;
    }
    const char *unit;
    if ((st = unit_factor(r, cx.inc, cy.inc, &cz.to_m, &unit))) goto done;
    if ((st = check_point_source(r, rec3, &cz, n))) goto done;
    if ((st = ibex_surface_create(nx, ny, cx.inc * cz.to_m, cy.inc * cz.to_m, &s))) {
        fail(r, st, "cannot allocate a %zu x %zu surface", nx, ny);
        goto done;
    }
    s->x0 = cx.off * cz.to_m;
    s->y0 = cy.off * cz.to_m;
    if (unit)
        snprintf(s->units_note, sizeof s->units_note,
                 "file stores %s (increment %g), normalised to metres", unit,
                 cx.inc > cy.inc ? cx.inc : cy.inc);
    if ((st = read_points(r, rec3, &cz, s))) goto done;
    if ((st = read_record2(ibex__xml_child(root, "Record2"), &s->meta)) || (st = read_vendor(r, &s->meta)))
        goto done;
    {
        xmlNodePtr link = ibex__xml_child(rec3, "DataLink");
        pname = ibex__xml_child_text(link, "PointDataLink");
        vname = ibex__xml_child_text(link, "ValidPointsLink");
        char *ck = ibex__xml_child_text(ibex__xml_child(root, "Record4"), "ChecksumFile");
        const char *skip[] = {"main.xml", pname ? pname : "", vname ? vname : "",
                              ck ? ck : "md5checksum.hex", IBEX_VENDOR_MEMBER, NULL};
        st = keep_extras(r, xml, xml_n, skip, s);
        free(ck);
        if (st) goto done;
    }
    {
        ibex_surface_stats ss;
        ibex_surface_get_stats(s, &ss);
        if (ss.n_valid == 0) {
            st = fail(r, IBEX_ERR_FORMAT, "no valid points: every height is NaN or masked out");
            goto done;
        }
    }
done:
    free(ftype);
    free(pname);
    free(vname);
    xmlFreeDoc(doc);
    if (st) {
        ibex_surface_free(s);
        return st;
    }
    *out = s;
    return IBEX_OK;
}

/* md5checksum.hex holds "<hex>" or "<hex> *main.xml". */
static ibex_status check_main_md5(reader *r, const char *xml, size_t xml_n)
{
    if (r->flags & IBEX_READ_NO_VERIFY) return IBEX_OK;
    zip_int64_t idx = locate(r, "md5checksum.hex");
    if (idx < 0) return IBEX_OK; /* Record4 names it, but many writers omit it: nothing to check */
    unsigned char *buf;
    size_t n;
    ibex_status s = read_member(r, idx, "md5checksum.hex", 4096, 0, &buf, &n);
    if (s) return s;
    s = verify_md5(r, xml, xml_n, (const char *)buf, "main.xml (md5checksum.hex)");
    free(buf);
    return s;
}

static ibex_status read_archive(reader *r, ibex_surface **out)
{
    zip_int64_t mi = -1;
    ibex_status s = find_main(r, &mi);
    if (s) return s;
    unsigned char *xml;
    size_t xml_n;
    if ((s = read_member(r, mi, "main.xml", IBEX_X3P_MAX_XML, 0, &xml, &xml_n))) return s;
    s = check_main_md5(r, (const char *)xml, xml_n);
    if (!s) s = parse_doc(r, (const char *)xml, xml_n, out);
    free(xml);
    return s;
}

static ibex_status zip_error_status(reader *r, int code)
{
    zip_error_t ze;
    zip_error_init_with_code(&ze, code);
    ibex_status s;
    if (code == ZIP_ER_OPEN || code == ZIP_ER_READ || code == ZIP_ER_NOENT)
        s = fail(r, IBEX_ERR_IO, "cannot read: %s", zip_error_strerror(&ze));
    else
        s = fail(r, IBEX_ERR_FORMAT, "not a valid zip archive (truncated or not X3P): %s",
                 zip_error_strerror(&ze));
    zip_error_fini(&ze);
    return s;
}

ibex_status ibex_surface_read_x3p(const char *path, unsigned flags, ibex_surface **out,
                                  ibex_diag *diag)
{
    reader r = {.name = path, .flags = flags, .diag = diag};
    if (!path || !out) return IBEX_ERR_ARG;
    int err = 0;
    r.za = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &err);
    if (!r.za) return zip_error_status(&r, err);
    ibex_status s = read_archive(&r, out);
    zip_discard(r.za);
    return s;
}

ibex_status ibex_surface_read_x3p_mem(const void *data, size_t size, const char *name,
                                      unsigned flags, ibex_surface **out, ibex_diag *diag)
{
    reader r = {.name = name ? name : "<memory>", .flags = flags, .diag = diag};
    if (!data || !out) return IBEX_ERR_ARG;
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(data, size, 0, &ze);
    if (!src) {
        zip_error_fini(&ze);
        return fail(&r, IBEX_ERR_NOMEM, "out of memory");
    }
    r.za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
    if (!r.za) {
        int code = zip_error_code_zip(&ze);
        zip_source_free(src);
        zip_error_fini(&ze);
        return zip_error_status(&r, code);
    }
    zip_error_fini(&ze);
    ibex_status s = read_archive(&r, out);
    zip_discard(r.za);
    return s;
}
