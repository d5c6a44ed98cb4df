/* X3P reader against hand-built files (every DataType, valid.bin, NaN, subfolder, inline
 * DataList, units), and writer round trips (bit-exact heights, mask, metadata, vendor records;
 * float64 heights kept bit for bit with IBEX_READ_FLOAT64). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "ibex/ibex.h"
#include "meta_equal.h"
#include "x3p_fixture.h"

static char dir[256];

static void path_of(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", dir, name);
}

/* Read a fixture and compare every point with the analytic ramp. */
static void check_fixture(const fixture *f, const char *name, double unit_scale)
{
    char p[512];
    path_of(p, sizeof p, name);
    CHECK(fixture_write(f, p) == 0);
    ibex_surface *s = NULL;
    ibex_diag d;
    ibex_status st = ibex_surface_read_x3p(p, 0, &s, &d);
    CHECK_MSG(st == IBEX_OK, "%s: %s", name, d.message);
    if (st) return;
    CHECK(s->nx == f->nx && s->ny == f->ny);
    CHECK_NEAR(s->dx, f->inc_xy * unit_scale, 1e-18);
    CHECK_NEAR(s->dy, f->inc_xy * unit_scale, 1e-18);
    size_t bad = 0;
    for (size_t i = 0; i < f->nx * f->ny; i++) {
        double e = fixture_expect(f, i) * unit_scale;
        if (isnan(e)) {
            if (s->valid[i] || !isnan(s->z[i])) bad++;
        } else if (!s->valid[i] || fabs(s->z[i] - e) > 1e-6 * fabs(e) + 1e-30) {
            bad++;
        }
    }
    CHECK_MSG(bad == 0, "%s: %zu points differ from the ramp", name, bad);
    CHECK(s->meta.instrument_manufacturer && !strcmp(s->meta.instrument_manufacturer, "Acme"));
    CHECK(s->meta.comment && !strcmp(s->meta.comment, "fixture & test"));
    CHECK(s->meta.probing_id && !strcmp(s->meta.probing_id, "20x"));
    ibex_surface_free(s);
}

/* read -> write -> read must give the same bits, mask and metadata. */
static void check_roundtrip(const char *src, unsigned wflags)
{
    char out[512];
    path_of(out, sizeof out, "roundtrip.x3p");
    ibex_surface *a = NULL, *b = NULL;
    ibex_diag d;
    CHECK(ibex_surface_read_x3p(src, 0, &a, &d) == IBEX_OK);
    if (!a) return;
    CHECK(ibex_meta_set(&a->meta, "agency", "Lab <A> & \"B\"") == IBEX_OK);
    CHECK(ibex_meta_set(&a->meta, "specimen_kind", "cartridge") == IBEX_OK);
    CHECK_MSG(ibex_surface_write_x3p(a, out, wflags, &d) == IBEX_OK, "%s", d.message);
    CHECK_MSG(ibex_surface_read_x3p(out, 0, &b, &d) == IBEX_OK, "%s", d.message);
    if (b) {
        size_t n = a->nx * a->ny;
        CHECK(b->nx == a->nx && b->ny == a->ny && b->dx == a->dx && b->dy == a->dy);
        CHECK(memcmp(a->z, b->z, n * sizeof *a->z) == 0);
        CHECK(memcmp(a->valid, b->valid, n) == 0);
        CHECK(meta_equal(&a->meta, &b->meta));
        /* The unknown XML element and the vendor member must survive. */
        char buf[64 * 1024];
        int err = 0;
        zip_t *za = zip_open(out, ZIP_RDONLY, &err);
        CHECK(za != NULL);
        if (za) {
            CHECK(zip_name_locate(za, "vendor/acme.dat", 0) >= 0);
            zip_file_t *zf = zip_fopen(za, "main.xml", 0);
            zip_int64_t k = zf ? zip_fread(zf, buf, sizeof buf - 1) : -1;
            CHECK(k > 0);
            if (k > 0) {
                buf[k] = '\0';
                CHECK(strstr(buf, "<VendorThing>keep me</VendorThing>") != NULL);
                CHECK(strstr(buf, "urn:example:vendor") != NULL);
                CHECK(strstr(buf, "<Increment>3.125e-006</Increment>") != NULL);
            }
            if (zf) zip_fclose(zf);
            zip_discard(za);
        }
    }
    /* A value XML 1.0 cannot hold, put in the field directly (ibex_meta_set refuses it), is
     * refused by the writer, which leaves the earlier file alone. */
    char *bad = strdup("x\x1by");
    if (a && bad) {
        free(a->meta.agency);
        a->meta.agency = bad;
        bad = NULL;
        CHECK(ibex_surface_write_x3p(a, out, wflags, &d) == IBEX_ERR_ARG);
        CHECK_MSG(strstr(d.message, "'agency'") && strstr(d.message, "control character") &&
                      strstr(d.file, "roundtrip.x3p"),
                  "%s: %s", d.file, d.message);
        ibex_surface *c = NULL;
        CHECK(ibex_surface_read_x3p(out, 0, &c, NULL) == IBEX_OK);
        ibex_surface_free(c);
    }
    free(bad);
    ibex_surface_free(a);
    ibex_surface_free(b);
}

/* Bits of the float64 heights a file holds, from its data.bin, NaN where invalid. */
static int file_heights_equal(const char *path, const double *want, size_t n)
{
    ibex_surface *s = NULL;
    if (ibex_surface_read_x3p(path, IBEX_READ_FLOAT64, &s, NULL) != IBEX_OK) return 0;
    int ok = s->nx * s->ny == n && s->z64 != NULL;
    for (size_t i = 0; ok && i < n; i++)
        ok = isnan(want[i]) ? !s->valid[i] : s->valid[i] && memcmp(&s->z64[i], &want[i], 8) == 0;
    ibex_surface_free(s);
    return ok;
}

/* A float64 file whose heights float32 cannot hold: IBEX_READ_FLOAT64 keeps them, copy and
 * crop carry them, IBEX_WRITE_FLOAT64 writes them back bit for bit, and a changed z is
 * written as changed (never the stale doubles). */
static void check_float64_lossless(void)
{
    fixture f;
    fixture_init(&f);
    f.nan_every = 4;
    char src[512], out[512];
    path_of(src, sizeof src, "float64.x3p");
    path_of(out, sizeof out, "float64_out.x3p");
    CHECK(fixture_write(&f, src) == 0);
    size_t n = f.nx * f.ny, lossy = 0;
    double want[64];
    for (size_t i = 0; i < n; i++) {
        want[i] = fixture_expect(&f, i);
        if (!isnan(want[i]) && (double)(float)want[i] != want[i]) lossy++;
    }
    CHECK_MSG(lossy > n / 2, "fixture heights must not fit float32 (%zu of %zu do not)", lossy, n);

    ibex_surface *a = NULL, *plain = NULL, *c = NULL, *k = NULL, *r = NULL;
    CHECK(ibex_surface_read_x3p(src, 0, &plain, NULL) == IBEX_OK);
    CHECK(plain && plain->z64 == NULL); /* only on request */
    CHECK(ibex_surface_read_x3p(src, IBEX_READ_FLOAT64, &a, NULL) == IBEX_OK);
    if (!a || !plain) goto done;
    CHECK(a->z64 != NULL);
    CHECK(memcmp(a->z, plain->z, n * sizeof *a->z) == 0); /* z is the same either way */
    CHECK(file_heights_equal(src, want, n));

    CHECK(ibex_surface_write_x3p(a, out, IBEX_WRITE_FLOAT64, NULL) == IBEX_OK);
    CHECK_MSG(file_heights_equal(out, want, n), "float64 read-write is not lossless");

    /* the copy carries z64; a crop carries its rectangle of it */
    CHECK(ibex_surface_copy(a, &c) == IBEX_OK);
    CHECK(c && c->z64 && memcmp(c->z64, a->z64, n * sizeof *c->z64) == 0);
    CHECK(ibex_surface_crop(a, 2, 1, 4, 3, &k) == IBEX_OK);
    if (k) {
        double wk[12];
        for (size_t y = 0; y < 3; y++)
            for (size_t x = 0; x < 4; x++) wk[y * 4 + x] = want[(y + 1) * f.nx + x + 2];
        CHECK(ibex_surface_write_x3p(k, out, IBEX_WRITE_FLOAT64, NULL) == IBEX_OK);
        CHECK_MSG(file_heights_equal(out, wk, 12), "cropped float64 heights differ");
    }
    /* resampling makes new heights: no z64 */
    CHECK(ibex_surface_resample(a, a->dx, a->dy, &r) == IBEX_OK);
    CHECK(r && r->z64 == NULL);

    /* z changed behind z64's back: the writer must write the new z, not the old doubles */
    if (c) {
        size_t j = 1; /* a valid point */
        CHECK(c->valid[j]);
        c->z[j] += 1e-6f;
        ibex_surface *b = NULL;
        CHECK(ibex_surface_write_x3p(c, out, IBEX_WRITE_FLOAT64, NULL) == IBEX_OK);
        CHECK(ibex_surface_read_x3p(out, IBEX_READ_FLOAT64, &b, NULL) == IBEX_OK);
        if (b) {
            CHECK(b->z[j] == c->z[j]);
            CHECK(b->z64 == NULL); /* written from z: float32 holds it exactly */
        }
        ibex_surface_free(b);
        ibex_surface_sync_mask(c); /* the edit is noticed: z64 goes */
        CHECK(c->z64 == NULL);
    }

    /* float32 storage is still float32; a float32 file needs no z64 */
    CHECK(ibex_surface_write_x3p(a, out, 0, NULL) == IBEX_OK);
    ibex_surface *g = NULL;
    CHECK(ibex_surface_read_x3p(out, IBEX_READ_FLOAT64, &g, NULL) == IBEX_OK);
    if (g) {
        CHECK(g->z64 == NULL);
        CHECK(memcmp(g->z, a->z, n * sizeof *g->z) == 0);
    }
    ibex_surface_free(g);

    /* an inline DataList keeps its double heights the same way */
    f.data_list = 1;
    CHECK(fixture_write(&f, src) == 0);
    CHECK_MSG(file_heights_equal(src, want, n), "DataList float64 heights differ");
done:
    ibex_surface_free(a);
    ibex_surface_free(plain);
    ibex_surface_free(c);
    ibex_surface_free(k);
    ibex_surface_free(r);
}

static void check_units(void)
{
    /* A file in micrometres (increment 7.38, heights in um) comes back in metres. */
    fixture f;
    fixture_init(&f);
    f.inc_xy = 7.38;
    f.inc_z = 1;
    char p[512];
    path_of(p, sizeof p, "micrometres.x3p");
    CHECK(fixture_write(&f, p) == 0);
    ibex_surface *s = NULL;
    ibex_diag d;
    CHECK(ibex_surface_read_x3p(p, 0, &s, &d) == IBEX_OK);
    if (!s) return;
    CHECK_NEAR(s->dx, 7.38e-6, 1e-15);
    CHECK(strstr(s->units_note, "micrometres") != NULL);
    CHECK_NEAR(s->z[1], fixture_raw(1, 'D') * 1e-6, 1e-18);
    ibex_surface_free(s);
}

static void check_format_double(void)
{
    /* NBTRD style exponents, exact round trip. */
    const double v[] = {1.5625e-6, 6.25e-6, 7.38e-6, 2.58e-6, 1.0 / 3.0, 1e-300, 12345.678};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        ibex_surface *s = NULL, *b = NULL;
        char p[512];
        path_of(p, sizeof p, "spacing.x3p");
        CHECK(ibex_surface_create(3, 2, v[i] < 1e-3 && v[i] > 1e-12 ? v[i] : 1e-6, 1e-6, &s) == IBEX_OK);
        s->z[0] = 1e-6f;
        s->valid[0] = 1;
        s->x0 = v[i] * 1e-3;
        CHECK(ibex_surface_write_x3p(s, p, 0, NULL) == IBEX_OK);
        CHECK(ibex_surface_read_x3p(p, 0, &b, NULL) == IBEX_OK);
        if (b) {
            CHECK(b->dx == s->dx);
            CHECK(b->x0 == s->x0);
        }
        ibex_surface_free(s);
        ibex_surface_free(b);
    }
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/ibex-test-x3p-XXXXXX");
    if (!mkdtemp(dir)) return 1;

    static const char types[] = {'D', 'F', 'I', 'L'};
    for (int t = 0; t < 4; t++) {
        fixture f;
        fixture_init(&f);
        f.dtype = types[t];
        f.inc_z = (types[t] == 'I' || types[t] == 'L') ? 2.5e-9 : 1;
        f.valid_bin = (types[t] == 'I' || types[t] == 'L');
        f.nan_every = f.valid_bin ? 0 : 4;
        char name[32];
        snprintf(name, sizeof name, "type_%c.x3p", types[t]);
        check_fixture(&f, name, 1);
    }
    fixture f;
    fixture_init(&f);
    f.prefix = "scan-folder/";
    check_fixture(&f, "subfolder.x3p", 1);
    fixture_init(&f);
    f.data_list = 1;
    f.nan_every = 5;
    check_fixture(&f, "datalist.x3p", 1);
    fixture_init(&f);
    f.valid_bin = 1;
    f.dtype = 'F';
    check_fixture(&f, "float_validbin.x3p", 1);
    check_units();

    char src[512];
    fixture_init(&f);
    f.nan_every = 3;
    path_of(src, sizeof src, "source.x3p");
    CHECK(fixture_write(&f, src) == 0);
    check_roundtrip(src, 0);
    check_roundtrip(src, IBEX_WRITE_FLOAT64);
    check_float64_lossless();
    check_format_double();

    /* The writer leaves no temporary files behind. */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls %s | grep -q tmp-", dir);
    CHECK(system(cmd) != 0);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_exit();
}
