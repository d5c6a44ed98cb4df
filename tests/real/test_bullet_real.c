/* Orientation detection on every real land scan in the shared data (MANIFEST kind "bullet",
 * plus the x3ptools sample land). Expected axis per source, from the data README: Hamby 44
 * and its downsampled copy (CSAFE Sensofar) have the land width along x; the NBTRD Hamby 252
 * NanoFocus files along y; the x3ptools sample (Sensofar, 918 x 256 at 2.58 um = 2.37 mm by
 * 0.66 mm, the width of a Hamby land) along x. Also: every real land gives a signature, and
 * extraction keeps the groove positions inside the scan. Skips (77) without the data. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ibex/bullet.h"
#include "ibex/io.h"

static int run_dir(const char *data, const char *sub, ibex_land_axis truth, int *count)
{
    char dir[2048];
    snprintf(dir, sizeof dir, "%s/%s", data, sub);
    DIR *d = opendir(dir);
    if (!d) return -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".x3p")) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        ibex_surface *s = NULL;
        ibex_diag dg;
        if (ibex_surface_read(path, IBEX_READ_NO_VERIFY, &s, &dg)) {
            CHECK_MSG(0, "%s: %s", path, dg.message);
            continue;
        }
        ibex_land_signature *g = NULL;
        ibex_status st = ibex_land_signature_create(s, NULL, &g, &dg);
        CHECK_MSG(st == IBEX_OK, "%s: %s", path, dg.message);
        if (!st) {
            CHECK_MSG(g->axis == truth, "%s: axis %d, expected %d (ratio %.2f)", path, g->axis,
                      truth, g->axis_ratio);
            double width = (truth == IBEX_LAND_AXIS_X ? s->nx * s->dx : s->ny * s->dy);
            CHECK(g->groove_left >= 0 && g->groove_right <= width &&
                  g->groove_right - g->groove_left > 1000e-6);
            (*count)++;
        }
        ibex_land_signature_free(g);
        ibex_surface_free(s);
    }
    closedir(d);
    return 0;
}

int main(void)
{
    const char *data = getenv("IBEX_DATA");
    if (!data || !data[0]) data = getenv("IBEX_DATA_DEFAULT");
    if (!data) return check_skip("no IBEX_DATA / IBEX_DATA_DEFAULT");
    int n = 0;
    if (run_dir(data, "bullet/hamby44", IBEX_LAND_AXIS_X, &n))
        return check_skip("real bullet data not found (bullet/hamby44)");
    CHECK(run_dir(data, "bullet/hamby44_small", IBEX_LAND_AXIS_X, &n) == 0);
    CHECK(run_dir(data, "bullet/hamby252", IBEX_LAND_AXIS_Y, &n) == 0);
    CHECK(run_dir(data, "other", IBEX_LAND_AXIS_X, &n) == 0);
    CHECK(n == 15 + 12 + 10 + 1);
    fprintf(stderr, "%d real lands oriented\n", n);
    return check_exit();
}
