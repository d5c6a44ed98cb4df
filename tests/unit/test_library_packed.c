/* Packed libraries and batch adds: surfaces of two sizes interleaved in one batch read back
 * bit-exact from their stacks; rows of a batch equal the specimens given; a batch with a
 * duplicate inside (or against the library) adds nothing; column reads equal get_info row
 * by row; a reader finds hashes (maps built on first lookup); the file says schema_version 3
 * and surface_layout packed; a corrupted stack chunk fails that one surface with a Fletcher32
 * error while its neighbours still read. A group-layout library is schema 3 too. Libraries
 * of the old schemas (1: groups, 2: packed; variable-length strings) still read, take adds
 * and index rows, and keep their schema. References: the surfaces and rows written. */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "ibex/ibex.h"
#include "ibex/library.h"
#include "h5lib_internal.h"

static ibex_surface *make_surface(size_t nx, size_t ny, unsigned seed)
{
    ibex_surface *s = NULL;
    if (ibex_surface_create(nx, ny, 2e-6, 3e-6, &s) != IBEX_OK) return NULL;
    s->x0 = 1e-4 * seed;
    s->y0 = -2e-4 * seed;
    for (size_t y = 0; y < ny; y++)
        for (size_t x = 0; x < nx; x++) {
            size_t i = y * nx + x;
            if ((x * 3 + y + seed) % 5 == 0) continue; /* holes */
            s->z[i] = (float)(1e-6 * sin(0.2 * (double)x + seed) + 1e-7 * cos(0.3 * (double)y * seed));
            s->valid[i] = 1;
        }
    return s;
}

static int same_surface(const ibex_surface *a, const ibex_surface *b)
{
    if (a->nx != b->nx || a->ny != b->ny || a->dx != b->dx || a->dy != b->dy || a->x0 != b->x0 || a->y0 != b->y0)
        return 0;
    for (size_t i = 0; i < a->nx * a->ny; i++) {
        if (a->valid[i] != b->valid[i]) return 0;
        if (a->valid[i] && a->z[i] != b->z[i]) return 0;
        if (!a->valid[i] && !isnan(b->z[i])) return 0;
    }
    return 1;
}

enum { N = 9 };
static char ids[N + 2][32], keys[N + 2][32];

static void spec_fill(ibex_specimen *sp, unsigned k)
{
    memset(sp, 0, sizeof *sp);
    snprintf(ids[k], sizeof ids[k], "set:F%02u-%u", k / 3, k % 3);
    snprintf(keys[k], sizeof keys[k], "set:F%02u", k / 3);
    sp->id = ids[k];
    sp->kind = (char *)(k % 4 == 3 ? "bullet" : "cartridge");
    sp->region = (char *)"breech-face";
    sp->set = (char *)"set";
    sp->same_source_key = keys[k];
    for (int i = 0; i < 64; i++) sp->sha256[i] = "0123456789abcdef"[(k * 5 + (unsigned)i * 3) % 16];
    snprintf(sp->sha256 + 56, 9, "%08x", k);
}

/* 1 when the table's id column holds variable-length strings (schemas 1 and 2), 0 when it
 * holds /strings references (schema 3), -1 when neither. */
static int vlen_strings(const char *path)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t ds = H5Dopen2(f, "/specimens", H5P_DEFAULT);
    hid_t t = H5Dget_type(ds);
    int mi = H5Tget_member_index(t, "id");
    hid_t m = mi >= 0 ? H5Tget_member_type(t, (unsigned)mi) : -1;
    int r = m < 0 ? -1 : H5Tget_class(m) == H5T_STRING && H5Tis_variable_str(m) > 0 ? 1
                        : H5Tget_class(m) == H5T_COMPOUND && H5Lexists(f, "/strings", H5P_DEFAULT) > 0 ? 0 : -1;
    if (m >= 0) H5Tclose(m);
    H5Tclose(t);
    H5Dclose(ds);
    H5Fclose(f);
    return r;
}

static unsigned read_version(const char *path, char *layout, size_t n)
{
    unsigned v = 0;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t a = H5Aopen(f, "schema_version", H5P_DEFAULT);
    H5Aread(a, H5T_NATIVE_UINT, &v);
    H5Aclose(a);
    layout[0] = 0;
    if (H5Aexists(f, "surface_layout") > 0) {
        a = H5Aopen(f, "surface_layout", H5P_DEFAULT);
        hid_t t = H5Aget_type(a); /* fixed-length string */
        size_t sz = H5Tget_size(t);
        char *s = calloc(sz + 1, 1);
        if (s && !H5Tis_variable_str(t) && H5Aread(a, t, s) >= 0) snprintf(layout, n, "%s", s);
        free(s);
        H5Tclose(t);
        H5Aclose(a);
    }
    H5Fclose(f);
    return v;
}

int main(void)
{
    char dir[64] = "/tmp/ibex_test_packed_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char path[256], p2[256], cmd[600];
    snprintf(path, sizeof path, "%s/packed.h5", dir);
    ibex_library_opts o;
    ibex_library_opts_init(&o);
    o.flags = IBEX_LIBRARY_NOSYNC | IBEX_LIBRARY_PACKED;
    ibex_library *lib = NULL;
    ibex_diag d;
    CHECK(ibex_library_create(path, &o, &lib, &d) == IBEX_OK);

    /* Two sizes interleaved: runs of one size go to one stack each. */
    ibex_surface *surf[N];
    ibex_specimen sp[N];
    for (unsigned k = 0; k < N; k++) {
        surf[k] = k % 3 == 2 ? make_surface(40, 24, k) : make_surface(32, 32, k);
        spec_fill(&sp[k], k);
    }
    size_t row0 = 99;
    CHECK(ibex_library_add_batch(lib, sp, (const ibex_surface *const *)surf, 5, &row0, &d) == IBEX_OK);
    CHECK(row0 == 0);
    CHECK(ibex_library_add_batch(lib, sp + 5, (const ibex_surface *const *)surf + 5, N - 5, &row0, &d) == IBEX_OK);
    CHECK(row0 == 5 && ibex_library_count(lib) == N);

    /* A duplicate inside the batch, then one against the library: nothing added. */
    {
        ibex_specimen b[2];
        spec_fill(&b[0], N);
        spec_fill(&b[1], N + 1);
        b[1].id = b[0].id;
        const ibex_surface *bs[2] = {surf[0], surf[1]};
        CHECK(ibex_library_add_batch(lib, b, bs, 2, NULL, &d) == IBEX_ERR_INTEGRITY);
        CHECK(strstr(d.message, "duplicate id") != NULL);
        spec_fill(&b[1], N + 1);
        memcpy(b[1].sha256, sp[4].sha256, sizeof b[1].sha256);
        CHECK(ibex_library_add_batch(lib, b, bs, 2, NULL, &d) == IBEX_ERR_INTEGRITY);
        CHECK(ibex_library_count(lib) == N);
    }
    CHECK(ibex_library_close(lib, &d) == IBEX_OK);

    char layout[32];
    CHECK(read_version(path, layout, sizeof layout) == 3);
    CHECK(!strcmp(layout, "packed"));
    CHECK(vlen_strings(path) == 0);

    /* Read back as a reader. */
    CHECK(ibex_library_open(path, NULL, &lib, &d) == IBEX_OK);
    CHECK(ibex_library_count(lib) == N);
    char *col[N];
    CHECK(ibex_library_column_read(lib, "kind", 0, N, col, &d) == IBEX_OK);
    char *ssk[N];
    CHECK(ibex_library_column_read(lib, "same_source_key", 0, N, ssk, &d) == IBEX_OK);
    char *skip[2];
    CHECK(ibex_library_column_read(lib, "nx", 0, 2, skip, &d) == IBEX_ERR_FORMAT);     /* not a string */
    CHECK(ibex_library_column_read(lib, "nothing", 0, 2, skip, &d) == IBEX_ERR_FORMAT);
    CHECK(ibex_library_column_read(lib, "id", 5, N, skip, &d) == IBEX_ERR_ARG);         /* past the end */
    char *mid[3];
    CHECK(ibex_library_column_read(lib, "id", 3, 3, mid, &d) == IBEX_OK);
    for (unsigned k = 0; k < N; k++) {
        ibex_specimen info;
        memset(&info, 0, sizeof info);
        CHECK(ibex_library_get_info(lib, k, &info, &d) == IBEX_OK);
        CHECK(info.id && !strcmp(info.id, sp[k].id));
        CHECK(col[k] && info.kind && !strcmp(col[k], info.kind) && !strcmp(col[k], sp[k].kind));
        CHECK(ssk[k] && !strcmp(ssk[k], sp[k].same_source_key));
        CHECK(!strcmp(info.sha256, sp[k].sha256));
        if (k >= 3 && k < 6) CHECK(mid[k - 3] && !strcmp(mid[k - 3], sp[k].id));
        ibex_specimen_clear(&info);
        ibex_surface *s = NULL;
        CHECK(ibex_library_get_surface(lib, k, &s, &d) == IBEX_OK);
        CHECK_MSG(s && same_surface(surf[k], s), "row %u", k);
        ibex_surface_free(s);
        free(col[k]);
        free(ssk[k]);
        size_t r = 99;
        CHECK(ibex_library_find_hash(lib, sp[k].sha256, &r) && r == k);
        CHECK(ibex_library_find_id(lib, sp[k].id, &r) && r == k);
    }
    for (int i = 0; i < 3; i++) free(mid[i]);
    CHECK(!ibex_library_find_id(lib, "set:nope", NULL));
    CHECK(ibex_library_close(lib, &d) == IBEX_OK);

    /* Corrupt one chunk of the 32 x 32 height stack: that surface fails, others read. */
    {
        snprintf(p2, sizeof p2, "%s/corrupt.h5", dir);
        snprintf(cmd, sizeof cmd, "cp %s %s", path, p2);
        CHECK(system(cmd) == 0);
        hid_t f = H5Fopen(p2, H5F_ACC_RDONLY, H5P_DEFAULT);
        hid_t ds = H5Dopen2(f, "/surfaces/p32x32/height", H5P_DEFAULT);
        hsize_t off[3] = {1, 0, 0};
        haddr_t addr = 0;
        hsize_t size = 0;
        unsigned mask = 0;
        /* Chunk 1 of the stack (row 1): find it by its offset. */
        hid_t sp3 = H5Dget_space(ds);
        hsize_t nchunks = 0;
        H5Dget_num_chunks(ds, sp3, &nchunks);
        for (hsize_t i = 0; i < nchunks; i++) {
            hsize_t o3[3];
            haddr_t a;
            hsize_t sz;
            if (H5Dget_chunk_info(ds, sp3, i, o3, &mask, &a, &sz) >= 0 && o3[0] == off[0]) addr = a, size = sz;
        }
        H5Sclose(sp3);
        H5Dclose(ds);
        H5Fclose(f);
        CHECK(addr > 0 && size > 16);
        FILE *fp = fopen(p2, "r+b");
        if (fp && addr) {
            fseek(fp, (long)(addr + size / 2), SEEK_SET);
            int c = fgetc(fp);
            fseek(fp, (long)(addr + size / 2), SEEK_SET);
            fputc(c ^ 0x5a, fp);
        }
        if (fp) fclose(fp);
        CHECK(ibex_library_open(p2, NULL, &lib, &d) == IBEX_OK);
        ibex_surface *s = NULL;
        CHECK(ibex_library_get_surface(lib, 1, &s, &d) == IBEX_ERR_INTEGRITY);
        fprintf(stderr, "corrupt stack chunk: %s\n", d.message);
        CHECK(strstr(d.message, "corrupted data") != NULL);
        CHECK(ibex_library_get_surface(lib, 0, &s, &d) == IBEX_OK && same_surface(surf[0], s));
        ibex_surface_free(s);
        CHECK(ibex_library_get_surface(lib, 3, &s, &d) == IBEX_OK && same_surface(surf[3], s));
        ibex_surface_free(s);
        ibex_library_close(lib, NULL);
    }

    /* Group layout (no PACKED flag): schema 3 as well, batch adds work. */
    snprintf(p2, sizeof p2, "%s/groups.h5", dir);
    o.flags = IBEX_LIBRARY_NOSYNC;
    CHECK(ibex_library_create(p2, &o, &lib, &d) == IBEX_OK);
    CHECK(ibex_library_add_batch(lib, sp, (const ibex_surface *const *)surf, N, NULL, &d) == IBEX_OK);
    ibex_surface *s = NULL;
    CHECK(ibex_library_get_surface(lib, 7, &s, &d) == IBEX_OK && same_surface(surf[7], s));
    ibex_surface_free(s);
    CHECK(ibex_library_close(lib, &d) == IBEX_OK);
    CHECK(read_version(p2, layout, sizeof layout) == 3);
    CHECK(!strcmp(layout, "groups"));

    /* Old schemas: written as IBEX wrote them before schema 3, then read, added to and
     * indexed by this one; they keep their schema and their variable-length strings. */
    for (int packed = 0; packed < 2; packed++) {
        snprintf(p2, sizeof p2, "%s/old%d.h5", dir, packed);
        o.flags = IBEX_LIBRARY_NOSYNC | (packed ? IBEX_LIBRARY_PACKED : 0);
        CHECK(ibex__library_create_format(p2, &o, 1, &lib, &d) == IBEX_OK);
        CHECK(ibex_library_add_batch(lib, sp, (const ibex_surface *const *)surf, N - 1, NULL, &d) == IBEX_OK);
        CHECK(ibex_library_close(lib, &d) == IBEX_OK);
        CHECK(read_version(p2, layout, sizeof layout) == (unsigned)(packed ? 2 : 1));
        CHECK(vlen_strings(p2) == 1);
        o.flags = IBEX_LIBRARY_NOSYNC | IBEX_LIBRARY_WRITE;
        CHECK(ibex_library_open(p2, &o, &lib, &d) == IBEX_OK && ibex_library_count(lib) == N - 1);
        CHECK(ibex_library_add(lib, &sp[N - 1], surf[N - 1], NULL, &d) == IBEX_OK);
        float desc[N * 4];
        for (int i = 0; i < N * 4; i++) desc[i] = (float)i;
        CHECK(ibex_library_index_write(lib, 0, N, 4, desc, &d) == IBEX_OK);
        CHECK(ibex_library_close(lib, &d) == IBEX_OK);
        CHECK(read_version(p2, layout, sizeof layout) == (unsigned)(packed ? 2 : 1));
        CHECK(!strcmp(layout, packed ? "packed" : "groups"));
        CHECK(vlen_strings(p2) == 1);
        CHECK(ibex_library_open(p2, NULL, &lib, &d) == IBEX_OK && ibex_library_count(lib) == N);
        char *kinds[N];
        CHECK(ibex_library_column_read(lib, "kind", 0, N, kinds, &d) == IBEX_OK);
        for (unsigned k = 0; k < N; k++) {
            ibex_specimen info;
            memset(&info, 0, sizeof info);
            CHECK(ibex_library_get_info(lib, k, &info, &d) == IBEX_OK);
            CHECK(info.id && !strcmp(info.id, sp[k].id) && !strcmp(info.sha256, sp[k].sha256));
            CHECK(info.same_source_key && !strcmp(info.same_source_key, sp[k].same_source_key));
            CHECK(kinds[k] && !strcmp(kinds[k], sp[k].kind));
            free(kinds[k]);
            ibex_specimen_clear(&info);
            ibex_surface *s2 = NULL;
            CHECK(ibex_library_get_surface(lib, k, &s2, &d) == IBEX_OK);
            CHECK_MSG(s2 && same_surface(surf[k], s2), "old schema, packed %d, row %u", packed, k);
            ibex_surface_free(s2);
            size_t r = 99;
            CHECK(ibex_library_find_id(lib, sp[k].id, &r) && r == k);
        }
        float back[N * 4];
        CHECK(ibex_library_index_read(lib, 0, N, back, &d) == IBEX_OK && !memcmp(back, desc, sizeof back));
        CHECK(ibex_library_close(lib, &d) == IBEX_OK);
    }

    for (unsigned k = 0; k < N; k++) ibex_surface_free(surf[k]);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_exit();
}
