/* The two NBIDE breech-face photographs (8-bit grey 2592x1944, MANIFEST.tsv): grid as the
 * manifest states, spacing from their pHYs chunk, every grey level equal to what libpng's
 * simplified API decodes, and a write/read round trip within 16-bit quantisation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <png.h>

#include "check.h"
#include "ibex/ibex.h"

static void check_one(const char *data, const char *name, const char *tmpdir)
{
    char path[1024], out[1024];
    snprintf(path, sizeof path, "%s/cartridge/nbide_2d/%s", data, name);
    snprintf(out, sizeof out, "%s/%s", tmpdir, name);
    ibex_surface *s = NULL, *r = NULL;
    ibex_diag d;
    ibex_diag_clear(&d);
    ibex_status st = ibex_surface_read_png(path, 0, &s, &d);
    CHECK_MSG(st == IBEX_OK, "%s: %s", path, d.message);
    if (st) return;
    CHECK_MSG(s->nx == 2592 && s->ny == 1944, "%s: grid %zux%zu", name, s->nx, s->ny);
    CHECK(s->zkind == IBEX_Z_INTENSITY);
    /* pHYs: 395256 pixels per metre on both axes (about 2.53 um per pixel). */
    CHECK_NEAR(s->dx, 1.0 / 395256, 0);
    CHECK_NEAR(s->dy, 1.0 / 395256, 0);

    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    unsigned char *ref = NULL;
    if (png_image_begin_read_from_file(&img, path)) {
        img.format = PNG_FORMAT_GRAY;
        ref = malloc(PNG_IMAGE_SIZE(img));
        if (ref && !png_image_finish_read(&img, NULL, ref, 0, NULL)) {
            free(ref);
            ref = NULL;
        }
    }
    png_image_free(&img);
    CHECK_MSG(ref != NULL, "%s: libpng simplified API could not decode it", name);
    size_t n = s->nx * s->ny, bad = 0, invalid = 0;
    for (size_t i = 0; ref && i < n; i++) {
        if (!s->valid[i]) invalid++;
        else if (s->z[i] != (float)(ref[i] / 255.0)) bad++;
    }
    CHECK_MSG(invalid == 0, "%s: %zu invalid points in an image without alpha", name, invalid);
    CHECK_MSG(bad == 0, "%s: %zu grey levels differ from libpng's decoding", name, bad);
    free(ref);

    st = ibex_surface_write_png(s, out, &d);
    CHECK_MSG(st == IBEX_OK, "%s: write: %s", name, d.message);
    if (!st && ibex_surface_read_png(out, 0, &r, &d) == IBEX_OK) {
        ibex_surface_stats a;
        ibex_surface_get_stats(s, &a);
        double tol = (a.zmax - a.zmin) / 65535.0, worst = 0;
        for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)r->z[i] - s->z[i]));
        CHECK_MSG(worst <= tol, "%s: round trip off by %g (tolerance %g)", name, worst, tol);
        CHECK(r->dx == s->dx && r->zkind == IBEX_Z_INTENSITY && r->nx == s->nx);
        CHECK(memcmp(r->valid, s->valid, n) == 0);
    }
    unlink(out);
    ibex_surface_free(r);
    ibex_surface_free(s);
}

int main(void)
{
    const char *data = getenv("IBEX_DATA");
    if (!data || !data[0]) data = getenv("IBEX_DATA_DEFAULT");
    char probe[1024];
    struct stat sb;
    snprintf(probe, sizeof probe, "%s/cartridge/nbide_2d", data ? data : "");
    if (!data || stat(probe, &sb) != 0)
        return check_skip("real data (cartridge/nbide_2d) not found; set IBEX_DATA");
    char tmpdir[] = "/tmp/ibex-test-realpng-XXXXXX";
    if (!mkdtemp(tmpdir)) return 1;
    check_one(data, "NBIDE_R_BF_118.png", tmpdir);
    check_one(data, "NBIDE_R_BF_129.png", tmpdir);
    rmdir(tmpdir);
    return check_exit();
}
