/* X3P (ISO 25178-72) writer. Edits the original main.xml in place when there is one, so
 * vendor records and elements IBEX does not know survive a read-modify-write. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zip.h>

#include "atomic_file.h"
#include "extras_internal.h"
#include "ibex/io.h"
#include "ibex_internal.h"
#include "x3p_internal.h"
#include "xmlutil.h"

/* Schema order of each record's children (ISO 5436-2 XML schema). */
static const char *const root_order[] = {"Record1", "Record2", "Record3", "Record4",
                                         "VendorSpecificID", NULL};
static const char *const rec1_order[] = {"Revision", "FeatureType", "Axes", NULL};
static const char *const axes_order[] = {"CX", "CY", "CZ", NULL};
static const char *const axis_order[] = {"AxisType", "DataType", "Increment", "Offset", NULL};
static const char *const rec2_order[] = {"Date", "Creator", "Instrument", "CalibrationDate",
                                         "ProbingSystem", "Comment", NULL};
static const char *const instr_order[] = {"Manufacturer", "Model", "Serial", "Version", NULL};
static const char *const probe_order[] = {"Type", "Identification", NULL};
static const char *const rec3_order[] = {"MatrixDimension", "DataLink", NULL};
static const char *const dim_order[] = {"SizeX", "SizeY", "SizeZ", NULL};
static const char *const link_order[] = {"PointDataLink", "MD5ChecksumPointData", NULL};

/* Fixed timestamp for zip members: the same surface always gives the same bytes. */
#define MEMBER_MTIME ((time_t)946684800) /* 2000-01-01T00:00:00Z */

static void set_axis(xmlNodePtr axes, const char *name, char type, const char *dtype, double inc,
                     double off)
{
    char buf[64], t[2] = {type, 0};
    xmlNodePtr a = ibex__xml_ensure_child(axes, name, axes_order);
    ibex__xml_set_child_text(a, "AxisType", t, axis_order);
    ibex__xml_set_child_text(a, "DataType", dtype, axis_order);
    ibex__format_double(inc, buf, sizeof buf);
    ibex__xml_set_child_text(a, "Increment", buf, axis_order);
    ibex__format_double(off, buf, sizeof buf);
    ibex__xml_set_child_text(a, "Offset", buf, axis_order);
    ibex__xml_sort_children(a, axis_order);
}

/* Set child text from metadata, or remove the child when the field is unset and optional. */
static void meta_child(xmlNodePtr parent, const char *elem, const char *value, const char *fallback,
                       const char *const *order)
{
    if (value || fallback)
        ibex__xml_set_child_text(parent, elem, value ? value : fallback, order);
    else
        ibex__xml_remove_children(parent, elem);
}

static void write_record2(xmlNodePtr root, const ibex_meta *m)
{
    int any = 0;
    for (size_t i = 0; i < ibex_meta_count(); i++)
        if (ibex__meta_in_record2(ibex_meta_key(i)) && ibex_meta_get(m, ibex_meta_key(i))) any = 1;
    if (!any) {
        ibex__xml_remove_children(root, "Record2");
        return;
    }
    /* Date, Instrument, CalibrationDate and ProbingSystem are required by the schema:
     * unknown values are written as such rather than invented. */
    xmlNodePtr r2 = ibex__xml_ensure_child(root, "Record2", root_order);
    meta_child(r2, "Date", m->date, "1970-01-01T00:00:00", rec2_order);
    meta_child(r2, "Creator", m->creator, NULL, rec2_order);
    xmlNodePtr in = ibex__xml_ensure_child(r2, "Instrument", rec2_order);
    meta_child(in, "Manufacturer", m->instrument_manufacturer, "", instr_order);
    meta_child(in, "Model", m->instrument_model, "", instr_order);
    meta_child(in, "Serial", m->instrument_serial, "", instr_order);
    meta_child(in, "Version", m->instrument_version, "", instr_order);
    meta_child(r2, "CalibrationDate", m->calibration_date, m->date ? m->date : "1970-01-01T00:00:00",
               rec2_order);
    xmlNodePtr ps = ibex__xml_ensure_child(r2, "ProbingSystem", rec2_order);
    meta_child(ps, "Type", m->probing_type, "Software", probe_order);
    meta_child(ps, "Identification", m->probing_id, "", probe_order);
    meta_child(r2, "Comment", m->comment, NULL, rec2_order);
    /* Some writers put Record2 fields in another order; the schema fixes one. */
    ibex__xml_sort_children(r2, rec2_order);
    ibex__xml_sort_children(in, instr_order);
    ibex__xml_sort_children(ps, probe_order);
}

static int has_vendor_fields(const ibex_meta *m)
{
    for (size_t i = 0; i < ibex_meta_count(); i++)
        if (!ibex__meta_in_record2(ibex_meta_key(i)) && ibex_meta_get(m, ibex_meta_key(i)))
            return 1;
    return 0;
}

/* <IbexMeta version="1"><field name="agency">...</field>...</IbexMeta> */
static xmlChar *vendor_xml(const ibex_meta *m, int *len)
{
    xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
    xmlNodePtr root = xmlNewNode(NULL, (const xmlChar *)"IbexMeta");
    xmlDocSetRootElement(doc, root);
    xmlNewProp(root, (const xmlChar *)"version", (const xmlChar *)"1");
    for (size_t i = 0; i < ibex_meta_count(); i++) {
        const char *k = ibex_meta_key(i), *v = ibex_meta_get(m, k);
        if (ibex__meta_in_record2(k) || !v) continue;
        xmlNodePtr f = xmlNewTextChild(root, NULL, (const xmlChar *)"field", NULL);
        xmlNewProp(f, (const xmlChar *)"name", (const xmlChar *)k);
        xmlNodeAddContent(f, (const xmlChar *)v); /* escapes as it stores */
    }
    xmlChar *out = NULL;
    xmlDocDumpFormatMemoryEnc(doc, &out, len, "UTF-8", 1);
    xmlFreeDoc(doc);
    return out;
}

/* The root as the schema wants it: p:ISO5436_2 in the X3P namespace. */
static void normalise_root(xmlNodePtr root)
{
    xmlNsPtr ns = xmlSearchNsByHref(root->doc, root, (const xmlChar *)X3P_NAMESPACE);
    if (!ns) ns = xmlNewNs(root, (const xmlChar *)X3P_NAMESPACE, (const xmlChar *)"p");
    xmlNodeSetName(root, (const xmlChar *)"ISO5436_2");
    xmlSetNs(root, ns);
    const char *xsi_href = "http://www.w3.org/2001/XMLSchema-instance";
    xmlNsPtr xsi = xmlSearchNsByHref(root->doc, root, (const xmlChar *)xsi_href);
    if (!xsi) xsi = xmlNewNs(root, (const xmlChar *)xsi_href, (const xmlChar *)"xsi");
    xmlSetNsProp(root, xsi, (const xmlChar *)"schemaLocation", (const xmlChar *)X3P_SCHEMA_LOCATION);
}

static xmlDocPtr start_doc(const ibex_surface *s)
{
    xmlDocPtr doc = NULL;
    if (s->extras && s->extras->main_xml) {
        const char *why;
        if (ibex__xml_parse_safe(s->extras->main_xml, s->extras->main_xml_size, "main.xml", &doc,
                                 &why) == IBEX_OK &&
            !xmlDocGetRootElement(doc)) {
            xmlFreeDoc(doc);
            doc = NULL;
        }
    }
    if (!doc) {
        doc = xmlNewDoc((const xmlChar *)"1.0");
        xmlDocSetRootElement(doc, xmlNewNode(NULL, (const xmlChar *)"ISO5436_2"));
    }
    normalise_root(xmlDocGetRootElement(doc));
    return doc;
}

static void fill_doc(xmlDocPtr doc, const ibex_surface *s, const char *dtype, const char *data_md5,
                     int vendor)
{
    xmlNodePtr root = xmlDocGetRootElement(doc);
    char buf[64];
    xmlNodePtr r1 = ibex__xml_ensure_child(root, "Record1", root_order);
    if (!ibex__xml_child(r1, "Revision"))
        ibex__xml_set_child_text(r1, "Revision", "ISO5436 - 2000", rec1_order);
    ibex__xml_set_child_text(r1, "FeatureType", "SUR", rec1_order);
    xmlNodePtr axes = ibex__xml_ensure_child(r1, "Axes", rec1_order);
    set_axis(axes, "CX", 'I', "D", s->dx, s->x0);
    set_axis(axes, "CY", 'I', "D", s->dy, s->y0);
    set_axis(axes, "CZ", 'A', dtype, 1.0, 0.0);

    write_record2(root, &s->meta);

    xmlNodePtr r3 = ibex__xml_ensure_child(root, "Record3", root_order);
    ibex__xml_remove_children(r3, "MatrixDimension");
    ibex__xml_remove_children(r3, "ListDimension");
    ibex__xml_remove_children(r3, "DataLink");
    ibex__xml_remove_children(r3, "DataList");
    xmlNodePtr dim = ibex__xml_ensure_child(r3, "MatrixDimension", rec3_order);
    snprintf(buf, sizeof buf, "%zu", s->nx);
    ibex__xml_set_child_text(dim, "SizeX", buf, dim_order);
    snprintf(buf, sizeof buf, "%zu", s->ny);
    ibex__xml_set_child_text(dim, "SizeY", buf, dim_order);
    ibex__xml_set_child_text(dim, "SizeZ", "1", dim_order);
    xmlNodePtr link = ibex__xml_ensure_child(r3, "DataLink", rec3_order);
    ibex__xml_set_child_text(link, "PointDataLink", "bindata/data.bin", link_order);
    ibex__xml_set_child_text(link, "MD5ChecksumPointData", data_md5, link_order);

    ibex__xml_sort_children(r1, rec1_order);
    ibex__xml_sort_children(axes, axes_order);
    ibex__xml_sort_children(r3, rec3_order);
    xmlNodePtr r4 = ibex__xml_ensure_child(root, "Record4", root_order);
    ibex__xml_set_child_text(r4, "ChecksumFile", "md5checksum.hex", NULL);

    int have_vendor = 0;
    for (xmlNodePtr c = root->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || strcmp((const char *)c->name, "VendorSpecificID")) continue;
        xmlChar *t = xmlNodeGetContent(c);
        if (t && strcmp((const char *)t, IBEX_VENDOR_ID) == 0) {
            have_vendor = 1;
            if (!vendor) { /* no fields left: drop our record */
                xmlFree(t);
                xmlUnlinkNode(c);
                xmlFreeNode(c);
                break;
            }
        }
        xmlFree(t);
    }
    if (vendor && !have_vendor)
        xmlNewTextChild(root, NULL, (const xmlChar *)"VendorSpecificID", (const xmlChar *)IBEX_VENDOR_ID);
    ibex__xml_sort_children(root, root_order);
}

/* Little-endian float32 or float64, NaN where invalid. float64 takes the double heights
 * the surface was read with (z64) while z still matches them, so a read-write is lossless. */
static unsigned char *encode_points(const ibex_surface *s, int f64, size_t *size)
{
    size_t n = s->nx * s->ny, w = f64 ? 8 : 4;
    unsigned char *b = malloc(n > 0 ? n * w : 1);
    if (!b) return NULL;
    const double *z64 = f64 && ibex__surface_z64_current(s) ? s->z64 : NULL;
    for (size_t i = 0; i < n; i++) {
        uint64_t u;
        if (f64) {
            double v = !s->valid[i] ? NAN : z64 ? z64[i] : (double)s->z[i];
            memcpy(&u, &v, 8);
        } else {
            float v = s->valid[i] ? s->z[i] : NAN;
            uint32_t u32;
            memcpy(&u32, &v, 4);
            u = u32;
        }
        for (size_t k = 0; k < w; k++) b[i * w + k] = (unsigned char)(u >> (8 * k));
    }
    *size = n * w;
    return b;
}

static int add_member(zip_t *za, const char *name, const void *data, size_t size)
{
    zip_source_t *src = zip_source_buffer(za, data, size, 0);
    if (!src) return 0;
    zip_int64_t idx = zip_file_add(za, name, src, ZIP_FL_OVERWRITE | ZIP_FL_ENC_UTF_8);
    if (idx < 0) {
        zip_source_free(src);
        return 0;
    }
    /* Level 1: height noise barely compresses further, and level 6 costs 5x the time. */
    return zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_DEFLATE, 1) == 0 &&
           zip_file_set_mtime(za, (zip_uint64_t)idx, MEMBER_MTIME, 0) == 0;
}

/* The bytes of a closed in-memory archive. */
static int archive_bytes(zip_source_t *src, unsigned char **out, size_t *n)
{
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_source_stat(src, &st) != 0 || !(st.valid & ZIP_STAT_SIZE) || zip_source_open(src) != 0)
        return 0;
    unsigned char *b = malloc(st.size ? (size_t)st.size : 1);
    zip_int64_t got = b ? zip_source_read(src, b, st.size) : -1;
    zip_source_close(src);
    if (got < 0 || (zip_uint64_t)got != st.size) {
        free(b);
        return 0;
    }
    *out = b;
    *n = (size_t)st.size;
    return 1;
}

ibex_status ibex_surface_write_x3p(const ibex_surface *s, const char *path, unsigned flags,
                                   ibex_diag *diag)
{
    if (!s || !path || !s->z || !s->valid || s->nx == 0 || s->ny == 0 || !(s->dx > 0) ||
        !(s->dy > 0))
        return ibex__fail(diag, IBEX_ERR_ARG, path, -1, "invalid surface");
    /* ibex_meta_set refuses such values; a field assigned directly could still hold one,
     * and the file written would not read back. */
    for (size_t i = 0; i < ibex_meta_count(); i++) {
        const char *k = ibex_meta_key(i);
        ibex_status vs = ibex_meta_check(k, ibex_meta_get(&s->meta, k), diag);
        if (vs) {
            if (diag) snprintf(diag->file, sizeof diag->file, "%s", path);
            return vs;
        }
    }
    ibex__xml_ready();
    int f64 = (flags & IBEX_WRITE_FLOAT64) != 0;
    ibex_status st = IBEX_OK;
    size_t dn = 0;
    int xml_n = 0, vendor_n = 0;
    xmlChar *xml = NULL, *vendor = NULL;
    zip_t *za = NULL;
    zip_source_t *src = NULL;
    zip_error_t ze;
    zip_error_init(&ze);
    unsigned char *zbytes = NULL;
    size_t zn = 0;
    char data_md5[33], xml_md5[33], md5file[64];
    unsigned char *data = encode_points(s, f64, &dn);
    if (!data || !ibex__md5_hex(data, dn, data_md5)) {
        st = ibex__fail(diag, IBEX_ERR_NOMEM, path, -1, "out of memory encoding points");
        goto done;
    }
    int want_vendor = has_vendor_fields(&s->meta);
    xmlDocPtr doc = start_doc(s);
    fill_doc(doc, s, f64 ? "D" : "F", data_md5, want_vendor);
    xmlDocDumpFormatMemoryEnc(doc, &xml, &xml_n, "UTF-8", 1);
    xmlFreeDoc(doc);
    if (want_vendor) vendor = vendor_xml(&s->meta, &vendor_n);
    if (!xml || (want_vendor && !vendor) || !ibex__md5_hex(xml, (size_t)xml_n, xml_md5)) {
        st = ibex__fail(diag, IBEX_ERR_NOMEM, path, -1, "out of memory building main.xml");
        goto done;
    }
    snprintf(md5file, sizeof md5file, "%s *main.xml\n", xml_md5);

    /* The archive is built in memory and written in one go: libzip never opens files of its
     * own (its file source failed once, unexplained, under parallel ibex synth writers). */
    src = zip_source_buffer_create(NULL, 0, 0, &ze);
    za = src ? zip_open_from_source(src, ZIP_TRUNCATE, &ze) : NULL;
    if (za) zip_source_keep(src); /* the archive's close frees its reference; ours stays */
    int ok = za && add_member(za, "main.xml", xml, (size_t)xml_n) &&
             add_member(za, "bindata/data.bin", data, dn) &&
             add_member(za, "md5checksum.hex", md5file, strlen(md5file)) &&
             (!vendor || add_member(za, IBEX_VENDOR_MEMBER, vendor, (size_t)vendor_n));
    const ibex_x3p_extras *e = s->extras;
    for (size_t i = 0; ok && e && i < e->n_blobs; i++) {
        if (e->geometry_changed && strncmp(e->blobs[i].name, "bindata/", 8) == 0) continue;
        ok = add_member(za, e->blobs[i].name, e->blobs[i].data, e->blobs[i].size);
    }
    if (!ok || zip_close(za) != 0) {
        st = ibex__fail(diag, IBEX_ERR_IO, path, -1, "cannot build the archive: %s",
                        za ? zip_strerror(za) : zip_error_strerror(&ze));
        if (za) zip_discard(za);
        goto done;
    }
    if (!archive_bytes(src, &zbytes, &zn)) {
        st = ibex__fail(diag, IBEX_ERR_NOMEM, path, -1, "out of memory reading the archive back");
        goto done;
    }
    st = ibex__atomic_write(path, zbytes, zn, (flags & IBEX_WRITE_NO_SYNC) == 0, diag);
done:
    zip_error_fini(&ze);
    if (src) zip_source_free(src);
    free(zbytes);
    free(data);
    xmlFree(xml);
    xmlFree(vendor);
    return st;
}
