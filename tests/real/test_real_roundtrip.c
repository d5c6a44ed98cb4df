/* Every real X3P scan: read -> write -> read gives identical heights (bit for bit), mask,
 * grid, spacing and metadata, in float32 and float64 storage; read with IBEX_READ_FLOAT64
 * and written as float64, the file's double heights come back bit for bit too. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "ibex/ibex.h"
#include "meta_equal.h"

static char out[300];
static int files = 0;

static void roundtrip(const char *path, unsigned wflags)
{
    ibex_surface *a = NULL, *b = NULL;
    ibex_diag d;
    unsigned rflags = (wflags & IBEX_WRITE_FLOAT64) ? IBEX_READ_FLOAT64 : 0;
    ibex_status st = ibex_surface_read_x3p(path, rflags, &a, &d);
    CHECK_MSG(st == IBEX_OK, "%s: %s", path, d.message);
    if (st) return;
    st = ibex_surface_write_x3p(a, out, wflags, &d);
    CHECK_MSG(st == IBEX_OK, "%s: write: %s", path, d.message);
    if (!st) st = ibex_surface_read_x3p(out, rflags, &b, &d);
    CHECK_MSG(st == IBEX_OK, "%s: reread: %s", path, d.message);
    if (b) {
        size_t n = a->nx * a->ny;
        CHECK_MSG(a->nx == b->nx && a->ny == b->ny, "%s: grid", path);
        CHECK_MSG(a->dx == b->dx && a->dy == b->dy && a->x0 == b->x0 && a->y0 == b->y0,
                  "%s: spacing/origin", path);
        if (a->nx == b->nx && a->ny == b->ny) {
            CHECK_MSG(memcmp(a->z, b->z, n * sizeof *a->z) == 0, "%s: heights differ", path);
            CHECK_MSG(memcmp(a->valid, b->valid, n) == 0, "%s: mask differs", path);
            CHECK_MSG(!a->z64 == !b->z64, "%s: double heights kept on one side only", path);
            size_t diff = 0;
            for (size_t i = 0; a->z64 && b->z64 && i < n; i++)
                diff += a->valid[i] && memcmp(&a->z64[i], &b->z64[i], 8) != 0;
            CHECK_MSG(diff == 0, "%s: %zu float64 heights differ", path, diff);
        }
        CHECK_MSG(meta_equal(&a->meta, &b->meta), "%s: metadata differs", path);
    }
    ibex_surface_free(a);
    ibex_surface_free(b);
}

static int visit(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    size_t n = strlen(path);
    if (type == FTW_F && n > 4 && strcmp(path + n - 4, ".x3p") == 0) {
        roundtrip(path, 0);
        roundtrip(path, IBEX_WRITE_FLOAT64);
        files++;
    }
    return 0;
}

int main(void)
{
    const char *data = getenv("IBEX_DATA") ? getenv("IBEX_DATA") : getenv("IBEX_DATA_DEFAULT");
    struct stat st;
    if (!data || stat(data, &st) != 0) return check_skip("real data directory not found (set IBEX_DATA)");
    snprintf(out, sizeof out, "/tmp/ibex-roundtrip-%d.x3p", (int)getpid());
    nftw(data, visit, 16, FTW_PHYS);
    unlink(out);
    fprintf(stderr, "%d real X3P files round-tripped\n", files);
    CHECK(files >= 70); /* the shared set holds 78 X3P scans */
    return check_exit();
}
