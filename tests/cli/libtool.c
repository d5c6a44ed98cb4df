/* Helper for the ingest shell tests.
 *   libtool mkscans DIR N SEED SIDE [PREFIX]  write N synthetic X3P scans DIR/PREFIXNNN.x3p
 *   libtool check LIB LOG             verify LIB against ingest's stdout LOG:
 *       every 'stored ROW ID SHA FILE' line is in the library with that id and hash, and
 *       every row of the library is whole: its surface reads back and equals the source
 *       file re-read (bit-exact), its hash equals the source file's SHA-256.
 *   libtool count LIB                 open read-only, print the number of specimens
 *   libtool bump LIB                  set schema_version one above this IBEX's (bad input)
 *   libtool dump LIB                  one line per row: the table fields ingest and
 *       'synth --lib' both fill (not sha256/source_path/time) and an FNV-1a hash of the
 *       surface's heights and mask as read back, to compare two libraries with diff
 * Exit 0 when all holds, 1 otherwise (each problem on stderr). */
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibex/ibex.h"
#include "ibex/library.h"

static int mkscans(const char *dir, int n, unsigned seed, size_t side, const char *prefix)
{
    srand(seed);
    for (int k = 0; k < n; k++) {
        ibex_surface *s = NULL;
        if (ibex_surface_create(side, side, 2e-6, 2e-6, &s) != IBEX_OK) return 1;
        double a = rand() / (double)RAND_MAX, b = rand() / (double)RAND_MAX;
        for (size_t i = 0; i < side * side; i++) {
            size_t x = i % side, y = i / side;
            if ((x * 3 + y * 5 + (size_t)k) % 11 == 0) continue; /* holes */
            s->z[i] = (float)(1e-6 * (sin(a * 0.3 * (double)x) + cos(b * 0.2 * (double)y)) +
                              1e-8 * (rand() / (double)RAND_MAX));
            s->valid[i] = 1;
        }
        char p[1024];
        snprintf(p, sizeof p, "%s/%s%03d.x3p", dir, prefix, k);
        ibex_diag d;
        if (ibex_surface_write_x3p(s, p, 0, &d) != IBEX_OK) {
            fprintf(stderr, "%s: %s\n", p, d.message);
            return 1;
        }
        ibex_surface_free(s);
    }
    return 0;
}

static int same(const ibex_surface *a, const ibex_surface *b)
{
    if (a->nx != b->nx || a->ny != b->ny || a->dx != b->dx || a->dy != b->dy) return 0;
    for (size_t i = 0; i < a->nx * a->ny; i++) {
        if (a->valid[i] != b->valid[i]) return 0;
        if (a->valid[i] && a->z[i] != b->z[i]) return 0;
    }
    return 1;
}

static int check(const char *libpath, const char *logpath)
{
    ibex_library *lib;
    ibex_diag d;
    ibex_status st = ibex_library_open(libpath, NULL, &lib, &d);
    if (st != IBEX_OK) {
        fprintf(stderr, "check: cannot open %s: %s\n", libpath, d.message);
        return 1;
    }
    int bad = 0;
    size_t n = ibex_library_count(lib), reported = 0;
    for (size_t r = 0; r < n; r++) {
        ibex_specimen sp;
        ibex_surface *s = NULL, *src = NULL;
        if (ibex_library_get_info(lib, r, &sp, &d) != IBEX_OK) {
            fprintf(stderr, "check: row %zu: %s\n", r, d.message);
            bad++;
            continue;
        }
        char h[65];
        if (ibex_library_get_surface(lib, r, &s, &d) != IBEX_OK) {
            fprintf(stderr, "check: row %zu surface: %s\n", r, d.message);
            bad++;
        } else if (!sp.source_path || ibex_file_sha256(sp.source_path, h, &d) != IBEX_OK || strcmp(h, sp.sha256)) {
            fprintf(stderr, "check: row %zu: hash does not match %s\n", r, sp.source_path ? sp.source_path : "?");
            bad++;
        } else if (ibex_surface_read(sp.source_path, 0, &src, &d) != IBEX_OK || !same(s, src)) {
            fprintf(stderr, "check: row %zu: stored surface differs from %s\n", r, sp.source_path);
            bad++;
        }
        ibex_surface_free(s);
        ibex_surface_free(src);
        ibex_specimen_clear(&sp);
    }
    FILE *f = logpath ? fopen(logpath, "r") : NULL;
    char line[4096];
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "stored\t", 7) != 0) continue;
        size_t row;
        char id[1024], sha[128];
        if (sscanf(line + 7, "%zu\t%1023[^\t]\t%127[^\t]", &row, id, sha) != 3) {
            fprintf(stderr, "check: bad log line: %s", line);
            bad++;
            continue;
        }
        reported++;
        ibex_specimen sp;
        size_t r2;
        if (row >= n || ibex_library_get_info(lib, row, &sp, &d) != IBEX_OK) {
            fprintf(stderr, "check: reported row %zu (%s) is not in the library (%zu rows)\n", row, id, n);
            bad++;
            continue;
        }
        if (strcmp(sp.id, id) || strcmp(sp.sha256, sha) || !ibex_library_find_hash(lib, sha, &r2) || r2 != row) {
            fprintf(stderr, "check: row %zu is %s/%s, reported %s/%s\n", row, sp.id, sp.sha256, id, sha);
            bad++;
        }
        ibex_specimen_clear(&sp);
    }
    if (f) fclose(f);
    ibex_library_close(lib, NULL);
    printf("check: %zu rows, %zu reported stored, %d problems\n", n, reported, bad);
    return bad ? 1 : 0;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static const char *z0(const char *s) { return s ? s : "-"; }

static int dump(const char *path)
{
    ibex_library *lib;
    ibex_diag d;
    if (ibex_library_open(path, NULL, &lib, &d) != IBEX_OK) {
        fprintf(stderr, "dump: %s: %s\n", path, d.message);
        return 1;
    }
    int rc = 0;
    for (size_t r = 0; r < ibex_library_count(lib) && !rc; r++) {
        ibex_specimen sp;
        ibex_surface *s = NULL;
        memset(&sp, 0, sizeof sp);
        if (ibex_library_get_info(lib, r, &sp, &d) != IBEX_OK || ibex_library_get_surface(lib, r, &s, &d) != IBEX_OK) {
            fprintf(stderr, "dump: %s row %zu: %s\n", path, r, d.message);
            rc = 1;
            ibex_specimen_clear(&sp);
            break;
        }
        uint64_t h = 1469598103934665603ull;
        for (size_t i = 0; i < s->nx * s->ny; i++) {
            float z = s->valid[i] ? s->z[i] : 0.0f;
            h = fnv(h, &z, sizeof z);
            h = fnv(h, &s->valid[i], 1);
        }
        printf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%zu\t%zu\t%.9g\t%.9g\t%.9g\t%.9g\t%zu\t%016llx\n",
               z0(sp.id), z0(sp.kind), z0(sp.region), z0(sp.set), z0(sp.firearm_id), z0(sp.same_source_key),
               z0(sp.meta.specimen_id), z0(sp.meta.firearm_serial), z0(sp.meta.case_number), z0(sp.meta.specimen_kind),
               sp.nx, sp.ny, sp.dx, sp.dy, s->x0, s->y0, sp.n_valid, (unsigned long long)h);
        ibex_specimen_clear(&sp);
        ibex_surface_free(s);
    }
    ibex_library_close(lib, NULL);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "dump")) return dump(argv[2]);
    if (argc >= 6 && !strcmp(argv[1], "mkscans")) return mkscans(argv[2], atoi(argv[3]), (unsigned)atoi(argv[4]), (size_t)atoi(argv[5]), argc > 6 ? argv[6] : "scan_");
    if (argc >= 3 && !strcmp(argv[1], "check")) return check(argv[2], argc > 3 ? argv[3] : NULL);
    if (argc >= 3 && !strcmp(argv[1], "count")) {
        ibex_library *lib;
        ibex_diag d;
        if (ibex_library_open(argv[2], NULL, &lib, &d) != IBEX_OK) {
            fprintf(stderr, "count: %s: %s\n", argv[2], d.message);
            return 1;
        }
        printf("%zu\n", ibex_library_count(lib));
        ibex_library_close(lib, NULL);
        return 0;
    }
    if (argc >= 3 && !strcmp(argv[1], "bump")) {
        hid_t f = H5Fopen(argv[2], H5F_ACC_RDWR, H5P_DEFAULT);
        hid_t a = f >= 0 ? H5Aopen(f, "schema_version", H5P_DEFAULT) : -1;
        unsigned v = IBEX_LIBRARY_SCHEMA_VERSION + 1;
        int ok = a >= 0 && H5Awrite(a, H5T_NATIVE_UINT, &v) >= 0;
        if (a >= 0) H5Aclose(a);
        if (f >= 0) H5Fclose(f);
        return ok ? 0 : 1;
    }
    fprintf(stderr, "usage: libtool mkscans DIR N SEED SIDE [PREFIX] | check LIB [LOG] | count LIB | bump LIB | dump LIB\n");
    return 2;
}
