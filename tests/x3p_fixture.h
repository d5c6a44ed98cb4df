/* Hand-built X3P files for tests, written with libzip directly (not with IBEX's writer),
 * so the reader is checked against an independent producer. Every knob can be set
 * to a lie to make a bad file. */
#ifndef IBEX_TEST_X3P_FIXTURE_H
#define IBEX_TEST_X3P_FIXTURE_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <zip.h>

typedef struct fixture {
    size_t nx, ny;            /* grid written into data.bin */
    size_t decl_nx, decl_ny;  /* grid declared in main.xml (0: same as nx, ny) */
    char dtype;               /* 'I', 'L', 'F', 'D' */
    double inc_xy;            /* CX/CY increment as written */
    const char *inc_text;     /* overrides inc_xy's text when set */
    double inc_z;             /* CZ increment */
    const char *feature;      /* "SUR" default */
    const char *prefix;       /* folder inside the zip, "" default */
    int valid_bin;            /* write valid.bin (every 3rd point invalid) */
    int nan_every;            /* for F/D: every k-th point NaN (0 none) */
    int all_nan;
    int bad_data_md5, bad_xml_md5, bad_valid_md5;
    int omit_main;            /* no main.xml */
    const char *xml_override; /* main.xml text instead of the generated one */
    const char *record2;      /* extra XML inside <Record2> (default: a full Record2) */
    int data_list;            /* inline DataList instead of data.bin */
} fixture;

static inline void fixture_init(fixture *f)
{
    memset(f, 0, sizeof *f);
    f->nx = 7;
    f->ny = 5;
    f->dtype = 'D';
    f->inc_xy = 3.125e-6;
    f->inc_z = 1;
    f->feature = "SUR";
    f->prefix = "";
}

/* Value stored at point i (before Z increment): a ramp with a known analytic form. */
static inline double fixture_raw(size_t i, char dtype)
{
    double x = (double)(i % 97) - 40.0;
    return (dtype == 'I' || dtype == 'L') ? x * 3 : x * 1.25e-7;
}

static inline int fixture_valid(const fixture *f, size_t i)
{
    if (f->all_nan) return 0;
    if (f->valid_bin && i % 3 == 2) return 0;
    if (f->nan_every && i % (size_t)f->nan_every == 0) return 0;
    return 1;
}

static inline void fixture_md5(const void *d, size_t n, char hex[33])
{
    unsigned char md[16];
    unsigned int len = 0;
    EVP_Digest(d, n, md, &len, EVP_md5(), NULL);
    for (int i = 0; i < 16; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static inline size_t fixture_tsize(char d)
{
    return d == 'I' ? 2 : (d == 'L' || d == 'F') ? 4 : 8;
}

static inline int fixture_add(zip_t *za, const char *prefix, const char *name, const void *data,
                              size_t n)
{
    char full[512];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    void *copy = malloc(n ? n : 1);
    memcpy(copy, data, n);
    zip_source_t *src = zip_source_buffer(za, copy, n, 1);
    return zip_file_add(za, full, src, ZIP_FL_OVERWRITE) >= 0;
}

/* Write the fixture to path; returns 0 on success. */
static inline int fixture_write(const fixture *f, const char *path)
{
    size_t n = f->nx * f->ny, ts = fixture_tsize(f->dtype);
    unsigned char *data = calloc(n ? n * ts : 1, 1);
    unsigned char *vb = calloc((n + 7) / 8 + 1, 1);
    char *list = malloc(n * 40 + 64);
    char *xml = malloc(n * 40 + 8192);
    if (!data || !vb || !list || !xml) {
        free(data);
        free(vb);
        free(list);
        free(xml);
        return -1;
    }
    size_t lp = 0;
    lp += (size_t)sprintf(list + lp, "<DataList>");
    for (size_t i = 0; i < n; i++) {
        double raw = fixture_raw(i, f->dtype);
        int ok = fixture_valid(f, i);
        uint64_t u = 0;
        if (f->dtype == 'I') u = (uint16_t)(int16_t)raw;
        else if (f->dtype == 'L') u = (uint32_t)(int32_t)raw;
        else if (f->dtype == 'F') {
            float v = (ok || f->valid_bin) ? (float)raw : NAN;
            uint32_t w;
            memcpy(&w, &v, 4);
            u = w;
        } else {
            double v = (ok || f->valid_bin) ? raw : NAN;
            memcpy(&u, &v, 8);
        }
        for (size_t k = 0; k < ts; k++) data[i * ts + k] = (unsigned char)(u >> (8 * k));
        if (ok) vb[i / 8] |= (unsigned char)(1u << (i % 8));
        if (ok) lp += (size_t)sprintf(list + lp, "<Datum>%.17g</Datum>", raw);
        else lp += (size_t)sprintf(list + lp, "<Datum/>");
    }
    lp += (size_t)sprintf(list + lp, "</DataList>");
    char dmd5[33], vmd5[33], inc[64], incz[64];
    fixture_md5(data, n * ts, dmd5);
    fixture_md5(vb, (n + 7) / 8, vmd5);
    if (f->bad_data_md5) dmd5[0] = dmd5[0] == '0' ? '1' : '0';
    if (f->bad_valid_md5) vmd5[0] = vmd5[0] == '0' ? '1' : '0';
    if (f->inc_text) snprintf(inc, sizeof inc, "%s", f->inc_text);
    else snprintf(inc, sizeof inc, "%.17g", f->inc_xy);
    snprintf(incz, sizeof incz, "%.17g", f->inc_z);
    size_t dnx = f->decl_nx ? f->decl_nx : f->nx, dny = f->decl_ny ? f->decl_ny : f->ny;
    char validlink[256] = "";
    if (f->valid_bin)
        snprintf(validlink, sizeof validlink,
                 "<ValidPointsLink>bindata/valid.bin</ValidPointsLink>"
                 "<MD5ChecksumValidPoints>%s</MD5ChecksumValidPoints>", vmd5);
    const char *r2 = f->record2 ? f->record2
                                : "<Date>2024-01-02T03:04:05</Date><Creator>IBEX tests</Creator>"
                                  "<Instrument><Manufacturer>Acme</Manufacturer><Model>M1</Model>"
                                  "<Serial>42</Serial><Version>1.0</Version></Instrument>"
                                  "<CalibrationDate>2024-01-01T00:00:00</CalibrationDate>"
                                  "<ProbingSystem><Type>NonContacting</Type><Identification>20x"
                                  "</Identification></ProbingSystem><Comment>fixture &amp; test</Comment>";
    int k = sprintf(xml,
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                    "<p:ISO5436_2 xmlns:p=\"http://www.opengps.eu/2008/ISO5436_2\">"
                    "<Record1><Revision>ISO5436 - 2000</Revision><FeatureType>%s</FeatureType><Axes>"
                    "<CX><AxisType>I</AxisType><DataType>D</DataType><Increment>%s</Increment><Offset>0</Offset></CX>"
                    "<CY><AxisType>I</AxisType><DataType>D</DataType><Increment>%s</Increment><Offset>0</Offset></CY>"
                    "<CZ><AxisType>A</AxisType><DataType>%c</DataType><Increment>%s</Increment><Offset>0</Offset></CZ>"
                    "</Axes></Record1><Record2>%s</Record2><Record3><MatrixDimension><SizeX>%zu</SizeX>"
                    "<SizeY>%zu</SizeY><SizeZ>1</SizeZ></MatrixDimension>",
                    f->feature, inc, inc, f->dtype, incz, r2, dnx, dny);
    if (f->data_list)
        k += sprintf(xml + k, "%s", list);
    else
        k += sprintf(xml + k,
                     "<DataLink><PointDataLink>bindata/data.bin</PointDataLink>"
                     "<MD5ChecksumPointData>%s</MD5ChecksumPointData>%s</DataLink>",
                     dmd5, validlink);
    k += sprintf(xml + k, "<VendorThing>keep me</VendorThing></Record3><Record4><ChecksumFile>"
                          "md5checksum.hex</ChecksumFile></Record4>"
                          "<VendorSpecificID>urn:example:vendor</VendorSpecificID></p:ISO5436_2>\n");
    const char *x = f->xml_override ? f->xml_override : xml;
    char xmd5[64];
    fixture_md5(x, strlen(x), xmd5);
    if (f->bad_xml_md5) xmd5[0] = xmd5[0] == '0' ? '1' : '0';
    strcat(xmd5, " *main.xml\n");
    int err = 0, ok = 1;
    remove(path);
    zip_t *za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &err);
    if (!za) ok = 0;
    if (ok && !f->omit_main) ok = fixture_add(za, f->prefix, "main.xml", x, strlen(x));
    if (ok && !f->data_list) ok = fixture_add(za, f->prefix, "bindata/data.bin", data, n * ts);
    if (ok && f->valid_bin) ok = fixture_add(za, f->prefix, "bindata/valid.bin", vb, (n + 7) / 8);
    if (ok) ok = fixture_add(za, f->prefix, "md5checksum.hex", xmd5, strlen(xmd5));
    if (ok) ok = fixture_add(za, f->prefix, "vendor/acme.dat", "opaque vendor bytes", 19);
    if (za && zip_close(za) != 0) ok = 0;
    free(data);
    free(vb);
    free(list);
    free(xml);
    return ok ? 0 : -1;
}

/* Rewrite the uncompressed size that the local header and the central directory record
 * for member name (no zip64, no data descriptor: as libzip writes small archives), so the
 * archive lies about it. 0 on success. */
static inline int fixture_patch_size(const char *path, const char *name, uint32_t size)
{
    FILE *fp = fopen(path, "r+b");
    if (!fp) return -1;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    unsigned char *b = n > 0 ? malloc((size_t)n) : NULL;
    fseek(fp, 0, SEEK_SET);
    if (!b || fread(b, 1, (size_t)n, fp) != (size_t)n) {
        free(b);
        fclose(fp);
        return -1;
    }
    size_t nl = strlen(name);
    int patched = 0;
    for (long i = 0; i + 46 <= n; i++) {
        int local = memcmp(b + i, "PK\3\4", 4) == 0, central = memcmp(b + i, "PK\1\2", 4) == 0;
        if (!local && !central) continue;
        size_t lenat = local ? 26 : 28, nameat = local ? 30 : 46, sizeat = local ? 22 : 24;
        size_t len = (size_t)b[i + lenat] | (size_t)b[i + lenat + 1] << 8;
        if (len != nl || (size_t)(n - i) < nameat + nl || memcmp(b + i + nameat, name, nl)) continue;
        for (int k = 0; k < 4; k++) b[i + sizeat + k] = (unsigned char)(size >> (8 * k));
        patched++;
    }
    int ok = patched == 2 && fseek(fp, 0, SEEK_SET) == 0 && fwrite(b, 1, (size_t)n, fp) == (size_t)n;
    free(b);
    return fclose(fp) == 0 && ok ? 0 : -1;
}

/* Expected height (metres) at point i, NaN when invalid. */
static inline double fixture_expect(const fixture *f, size_t i)
{
    if (!fixture_valid(f, i)) return NAN;
    return fixture_raw(i, f->dtype) * f->inc_z;
}

#endif
