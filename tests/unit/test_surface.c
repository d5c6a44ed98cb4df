/* Surface basics: allocation limits, mask invariant, crop, resample against an analytic plane,
 * statistics, metadata by key. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "ibex/ibex.h"

int main(void)
{
    ibex_surface *s = NULL, *c = NULL;
    CHECK(ibex_surface_create(0, 5, 1e-6, 1e-6, &s) == IBEX_ERR_ARG);
    CHECK(ibex_surface_create(5, 5, -1e-6, 1e-6, &s) == IBEX_ERR_ARG);
    CHECK(ibex_surface_create(IBEX_MAX_SIDE + 1, 1, 1e-6, 1e-6, &s) == IBEX_ERR_LIMIT);
    CHECK(ibex_surface_create(IBEX_MAX_SIDE, IBEX_MAX_SIDE, 1e-6, 1e-6, &s) == IBEX_ERR_LIMIT);
    CHECK(s == NULL);

    /* A tilted plane z = a*x + b*y (metres), one hole. */
    const double a = 2e-3, b = -1e-3, h = 2e-6;
    CHECK(ibex_surface_create(40, 30, h, h, &s) == IBEX_OK);
    for (size_t y = 0; y < 30; y++)
        for (size_t x = 0; x < 40; x++) s->z[y * 40 + x] = (float)(a * x * h + b * y * h);
    s->z[10 * 40 + 10] = NAN;
    ibex_surface_sync_mask(s);
    CHECK(s->valid[10 * 40 + 10] == 0 && s->valid[0] == 1);

    ibex_surface_stats st;
    ibex_surface_get_stats(s, &st);
    CHECK(st.n_valid == 40 * 30 - 1);
    CHECK_NEAR(st.zmax, a * 39 * h, 1e-12);
    CHECK_NEAR(st.zmin, b * 29 * h, 1e-12);

    CHECK(ibex_surface_crop(s, 35, 0, 10, 5, &c) == IBEX_ERR_ARG);
    CHECK(ibex_surface_crop(s, 5, 6, 10, 5, &c) == IBEX_OK);
    if (c) {
        CHECK(c->nx == 10 && c->ny == 5);
        CHECK(c->z[0] == s->z[6 * 40 + 5]);
        CHECK_NEAR(c->x0, 5 * h, 1e-15);
        CHECK(c->valid[4 * 10 + 5] == 0); /* the hole at (10,10) */
        ibex_surface_free(c);
        c = NULL;
    }

    /* Bilinear resampling reproduces a plane exactly away from the hole. */
    CHECK(ibex_surface_resample(s, 3e-6, 3e-6, &c) == IBEX_OK);
    if (c) {
        CHECK(c->nx == 27 && c->ny == 20);
        double worst = 0;
        for (size_t y = 0; y < c->ny; y++)
            for (size_t x = 0; x < c->nx; x++) {
                size_t i = y * c->nx + x;
                if (!c->valid[i]) continue;
                double e = a * x * 3e-6 + b * y * 3e-6;
                if (fabs(c->z[i] - e) > worst) worst = fabs(c->z[i] - e);
            }
        CHECK_MSG(worst < 1e-12, "worst %g", worst);
        CHECK(c->valid[(size_t)(20e-6 / 3e-6) + c->nx * (size_t)(20e-6 / 3e-6)] == 0);
        ibex_surface_free(c);
    }

    CHECK(ibex_meta_set(&s->meta, "calibre", "9 mm Luger") == IBEX_OK);
    CHECK(ibex_meta_set(&s->meta, "no_such_key", "x") == IBEX_ERR_ARG);
    CHECK(strcmp(ibex_meta_get(&s->meta, "calibre"), "9 mm Luger") == 0);
    CHECK(ibex_surface_copy(s, &c) == IBEX_OK);
    if (c) {
        CHECK(strcmp(c->meta.calibre, "9 mm Luger") == 0 && c->meta.calibre != s->meta.calibre);
        ibex_surface_free(c);
    }
    CHECK(ibex_meta_set(&s->meta, "calibre", "") == IBEX_OK && s->meta.calibre == NULL);

    /* Values XML 1.0 cannot hold are refused, so every stored value can be written as X3P
     * and read back; the old value stays. */
    static const struct {
        const char *v;
        const char *phrase; /* NULL: accepted */
    } vals[] = {
        {"tab\there, LF\nand CR\r", NULL},
        {"\xc3\xa9prouv\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\xab \x7f", NULL},
        {"\xef\xbf\xbd", NULL},                        /* U+FFFD */
        {"x\x1by", "control character 0x1b at byte 1"},
        {"\x01", "control character 0x01 at byte 0"},
        {"ab\xff", "invalid UTF-8 at byte 2"},
        {"\xc3", "invalid UTF-8 at byte 0"},              /* truncated */
        {"\xc0\xaf", "invalid UTF-8 at byte 0"},          /* overlong '/' */
        {"\xe0\x80\xaf", "invalid UTF-8 at byte 0"},      /* overlong '/' */
        {"\xed\xa0\x80", "invalid UTF-8 at byte 0"},      /* surrogate U+D800 */
        {"\xf4\x90\x80\x80", "invalid UTF-8 at byte 0"},  /* beyond U+10FFFF */
        {"a\xef\xbf\xbe", "U+FFFE at byte 1"},
    };
    CHECK(ibex_meta_set(&s->meta, "agency", "Lab A") == IBEX_OK);
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        ibex_diag d;
        ibex_status st = ibex_meta_check("agency", vals[i].v, &d);
        if (!vals[i].phrase) {
            CHECK_MSG(st == IBEX_OK, "value %zu refused: %s", i, d.message);
            continue;
        }
        CHECK_MSG(st == IBEX_ERR_ARG && strstr(d.message, vals[i].phrase) &&
                      strstr(d.message, "'agency'"),
                  "value %zu: status %d, message '%s'", i, st, st ? d.message : "");
        CHECK(ibex_meta_set(&s->meta, "agency", vals[i].v) == IBEX_ERR_ARG);
        CHECK(strcmp(s->meta.agency, "Lab A") == 0);
    }
    CHECK(ibex_meta_check("agency", NULL, NULL) == IBEX_OK);
    CHECK(strcmp(ibex_strerror(IBEX_ERR_INTEGRITY), "integrity check failed") == 0);
    ibex_surface_free(s);
    return check_exit();
}
