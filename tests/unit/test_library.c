/* Reference library: round trip of rows and surfaces, duplicate refusal, parameters check,
 * in-process rollback, index placeholder, and bad files (newer schema, truncated,
 * corrupted chunk, not HDF5). References: the surfaces written (bit-exact float32). */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "ibex/ibex.h"
#include "ibex/library.h"
#include "h5lib_internal.h"

static char dir[256];

static ibex_surface *make_surface(size_t nx, size_t ny, unsigned seed)
{
    ibex_surface *s = NULL;
    if (ibex_surface_create(nx, ny, 1.5e-6, 2.5e-6, &s) != IBEX_OK) return NULL;
    s->x0 = 1e-3 * seed;
    for (size_t y = 0; y < ny; y++)
        for (size_t x = 0; x < nx; x++) {
            size_t i = y * nx + x;
            /* Analytic heights with a hole: invalid where (x+y+seed) % 7 == 0. */
            if ((x + y + seed) % 7 == 0) continue;
            s->z[i] = (float)(1e-6 * sin(0.1 * (double)x + seed) * cos(0.07 * (double)y));
            s->valid[i] = 1;
        }
    return s;
}

static void fake_hash(unsigned k, char out[65])
{
    for (int i = 0; i < 64; i++) out[i] = "0123456789abcdef"[(k * 7 + (unsigned)i * 13 + (k >> 4)) % 16];
    snprintf(out + 56, 9, "%08x", k);
}

static int same_surface(const ibex_surface *a, const ibex_surface *b)
{
    if (a->nx != b->nx || a->ny != b->ny || a->dx != b->dx || a->dy != b->dy || a->x0 != b->x0) return 0;
    for (size_t i = 0; i < a->nx * a->ny; i++) {
        if (a->valid[i] != b->valid[i]) return 0;
        if (a->valid[i] && a->z[i] != b->z[i]) return 0;
        if (!a->valid[i] && !isnan(b->z[i])) return 0;
    }
    return 1;
}

static void spec_fill(ibex_specimen *sp, unsigned k)
{
    memset(sp, 0, sizeof *sp);
    static char idbuf[64];
    snprintf(idbuf, sizeof idbuf, "spec-%u", k);
    sp->id = idbuf;
    sp->kind = (char *)"cartridge";
    sp->region = (char *)"breech-face";
    sp->source_path = (char *)"/nowhere/x.x3p";
    sp->firearm_id = (char *)"F01";
    fake_hash(k, sp->sha256);
    ibex_meta_set(&sp->meta, "agency", "Test Lab");
    ibex_meta_set(&sp->meta, "calibre", "9mm Luger");
}

static int copy_file(const char *a, const char *b, long keep)
{
    FILE *f = fopen(a, "rb"), *g = fopen(b, "wb");
    if (!f || !g) return 0;
    long n = 0;
    int c;
    while ((c = fgetc(f)) != EOF && (keep < 0 || n < keep)) {
        fputc(c, g);
        n++;
    }
    fclose(f);
    fclose(g);
    return 1;
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/ibex_test_library_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    char path[512], p2[512];
    snprintf(path, sizeof path, "%s/lib.h5", dir);
    ibex_library_opts o;
    ibex_library_opts_init(&o);
    o.flags = IBEX_LIBRARY_NOSYNC;
    o.params = "preprocess=none\nversion=0";
    ibex_library *lib = NULL;
    ibex_diag d;
    CHECK(ibex_library_create(path, &o, &lib, &d) == IBEX_OK);
    CHECK(ibex_library_create(path, &o, &lib, &d) != IBEX_OK || (lib = lib, 0)); /* exists */
    CHECK(ibex_library_count(lib) == 0);

    enum { N = 5 };
    ibex_surface *surf[N];
    for (unsigned k = 0; k < N; k++) {
        surf[k] = make_surface(300 + 11 * k, 280 - 9 * k, k);
        ibex_specimen sp;
        spec_fill(&sp, k);
        size_t row = 99;
        CHECK(ibex_library_add(lib, &sp, surf[k], &row, &d) == IBEX_OK);
        CHECK(row == k);
        ibex_meta_clear(&sp.meta);
    }
    /* Duplicates: same id, then same hash under another id. */
    {
        ibex_specimen sp;
        spec_fill(&sp, 2);
        CHECK(ibex_library_add(lib, &sp, surf[0], NULL, &d) == IBEX_ERR_INTEGRITY);
        CHECK(strstr(d.message, "duplicate id") != NULL);
        sp.id = (char *)"other";
        CHECK(ibex_library_add(lib, &sp, surf[0], NULL, &d) == IBEX_ERR_INTEGRITY);
        ibex_meta_clear(&sp.meta);
        CHECK(ibex_library_count(lib) == N);
    }
    /* Batch of two in one transaction. */
    CHECK(ibex_library_begin(lib, &d) == IBEX_OK);
    for (unsigned k = 10; k < 12; k++) {
        ibex_specimen sp;
        spec_fill(&sp, k);
        CHECK(ibex_library_add(lib, &sp, surf[0], NULL, &d) == IBEX_OK);
        ibex_meta_clear(&sp.meta);
    }
    CHECK(ibex_library_commit(lib, &d) == IBEX_OK);
    /* Index placeholder. */
    size_t in = 9, id = 9;
    CHECK(ibex_library_index_get_shape(lib, &in, &id, &d) == IBEX_OK && in == 0 && id == 0);
    float desc[3 * 4];
    for (int i = 0; i < 12; i++) desc[i] = (float)i * 0.5f;
    CHECK(ibex_library_index_write(lib, 0, 3, 4, desc, &d) == IBEX_OK);
    CHECK(ibex_library_index_write(lib, 5, 1, 4, desc, &d) != IBEX_OK); /* gap */
    CHECK(ibex_library_close(lib, &d) == IBEX_OK);
    char jp[600];
    snprintf(jp, sizeof jp, "%s-journal", path);
    CHECK(access(jp, F_OK) != 0);

    /* Reopen read-only: everything back, bit-exact. */
    ibex_library_opts_init(&o);
    CHECK(ibex_library_open(path, &o, &lib, &d) == IBEX_OK);
    CHECK(ibex_library_count(lib) == N + 2);
    CHECK(strcmp(ibex_library_params(lib), "preprocess=none\nversion=0") == 0);
    for (unsigned k = 0; k < N; k++) {
        ibex_surface *s = NULL;
        CHECK(ibex_library_get_surface(lib, k, &s, &d) == IBEX_OK);
        CHECK_MSG(s && same_surface(s, surf[k]), "surface %u differs", k);
        CHECK(s && s->meta.agency && !strcmp(s->meta.agency, "Test Lab"));
        ibex_surface_free(s);
        ibex_specimen sp;
        CHECK(ibex_library_get_info(lib, k, &sp, &d) == IBEX_OK);
        char h[65];
        fake_hash(k, h);
        CHECK(!strcmp(sp.sha256, h));
        CHECK(sp.nx == surf[k]->nx && sp.ny == surf[k]->ny);
        CHECK(sp.firearm_id && !strcmp(sp.firearm_id, "F01") && sp.set == NULL);
        CHECK(sp.meta.calibre && !strcmp(sp.meta.calibre, "9mm Luger"));
        CHECK(sp.ingest_time > 1700000000);
        size_t row = 99;
        CHECK(ibex_library_find_hash(lib, h, &row) == 1 && row == k);
        CHECK(ibex_library_find_id(lib, sp.id, &row) == 1 && row == k);
        ibex_specimen_clear(&sp);
    }
    float back[12];
    CHECK(ibex_library_index_read(lib, 0, 3, back, &d) == IBEX_OK && memcmp(back, desc, sizeof back) == 0);
    CHECK(ibex_library_find_hash(lib, "00", NULL) == 0);
    CHECK(ibex_library_get_info(lib, 100, &(ibex_specimen){0}, &d) == IBEX_ERR_ARG);
    ibex_library_close(lib, NULL);

    /* Other preprocessing parameters: refused. */
    o.params = "preprocess=gauss\nversion=1";
    CHECK(ibex_library_open(path, &o, &lib, &d) == IBEX_ERR_INTEGRITY);
    CHECK(strstr(d.message, "other preprocessing parameters") != NULL);
    o.params = NULL;

    /* Truncated copy. */
    struct stat st;
    stat(path, &st);
    snprintf(p2, sizeof p2, "%s/trunc.h5", dir);
    copy_file(path, p2, st.st_size / 2);
    CHECK(ibex_library_open(p2, &o, &lib, &d) == IBEX_ERR_FORMAT);
    fprintf(stderr, "truncated: %s\n", d.message);
    CHECK(strstr(d.message, "truncated") != NULL);

    /* Not HDF5, and empty. */
    snprintf(p2, sizeof p2, "%s/text.h5", dir);
    FILE *f = fopen(p2, "w");
    fputs("hello, not a library\n", f);
    fclose(f);
    CHECK(ibex_library_open(p2, &o, &lib, &d) == IBEX_ERR_FORMAT && strstr(d.message, "not an HDF5 file"));

    /* HDF5, but not a library. */
    snprintf(p2, sizeof p2, "%s/plain.h5", dir);
    hid_t pf = H5Fcreate(p2, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(pf);
    CHECK(ibex_library_open(p2, &o, &lib, &d) == IBEX_ERR_FORMAT && strstr(d.message, "not an IBEX reference library"));

    /* One writer at a time (OFD locks conflict even within one process); readers may join. */
    {
        ibex_library *w1 = NULL, *w2 = NULL, *r1 = NULL;
        ibex_library_opts wo;
        ibex_library_opts_init(&wo);
        wo.flags = IBEX_LIBRARY_WRITE | IBEX_LIBRARY_NOSYNC;
        CHECK(ibex_library_open(path, &wo, &w1, &d) == IBEX_OK);
        CHECK(ibex_library_open(path, &wo, &w2, &d) == IBEX_ERR_LIMIT && strstr(d.message, "another process is writing"));
        CHECK(ibex_library_open(path, NULL, &r1, &d) == IBEX_OK && ibex_library_count(r1) == N + 2);
        ibex_library_close(r1, NULL);
        ibex_library_close(w1, NULL);
    }

    /* Newer schema version (edited with plain HDF5). */
    snprintf(p2, sizeof p2, "%s/newer.h5", dir);
    copy_file(path, p2, -1);
    hid_t hf = H5Fopen(p2, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t a = H5Aopen(hf, "schema_version", H5P_DEFAULT);
    unsigned v = IBEX_LIBRARY_SCHEMA_VERSION + 1;
    H5Awrite(a, H5T_NATIVE_UINT, &v);
    H5Aclose(a);
    H5Fclose(hf);
    CHECK(ibex_library_open(p2, &o, &lib, &d) == IBEX_ERR_UNSUPPORTED);
    CHECK(strstr(d.message, "newer") != NULL);
    o.flags = IBEX_LIBRARY_WRITE;
    CHECK(ibex_library_open(p2, &o, &lib, &d) == IBEX_ERR_UNSUPPORTED);
    o.flags = 0;

    /* Corrupted chunk: flip bytes inside row 1's height data; Fletcher32 catches it. */
    snprintf(p2, sizeof p2, "%s/corrupt.h5", dir);
    copy_file(path, p2, -1);
    hf = H5Fopen(p2, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t ds = H5Dopen2(hf, "/surfaces/b000000/s000000001/height", H5P_DEFAULT);
    haddr_t off = H5Dget_offset(ds); /* HADDR_UNDEF for chunked: use the chunk query */
    hsize_t coff[2] = {0, 0};
    unsigned fm;
    haddr_t caddr;
    hsize_t csize;
    CHECK(H5Dget_chunk_info_by_coord(ds, coff, &fm, &caddr, &csize) >= 0);
    (void)off;
    H5Dclose(ds);
    H5Fclose(hf);
    f = fopen(p2, "r+b");
    fseek(f, (long)(caddr + csize / 2), SEEK_SET);
    for (int i = 0; i < 16; i++) fputc(0x5a, f);
    fclose(f);
    CHECK(ibex_library_open(p2, &o, &lib, &d) == IBEX_OK);
    ibex_surface *s = NULL;
    CHECK(ibex_library_get_surface(lib, 1, &s, &d) == IBEX_ERR_INTEGRITY);
    fprintf(stderr, "corrupt: %s\n", d.message);
    CHECK(ibex_library_get_surface(lib, 0, &s, &d) == IBEX_OK);
    ibex_surface_free(s);
    ibex_library_close(lib, NULL);

    /* A journal left by a "killed" writer is rolled back on open: simulate by writing
     * a journal that restores an older copy's bytes. Build it with the real mechanism:
     * begin a transaction, add, then abandon the process state via fork + _exit. */
    pid_t pid = fork();
    if (pid == 0) {
        ibex_library *w = NULL;
        ibex_library_opts wo;
        ibex_library_opts_init(&wo);
        wo.flags = IBEX_LIBRARY_WRITE | IBEX_LIBRARY_NOSYNC;
        if (ibex_library_open(path, &wo, &w, NULL) != IBEX_OK) _exit(3);
        ibex_library_begin(w, NULL);
        for (unsigned k = 20; k < 23; k++) {
            ibex_specimen sp;
            spec_fill(&sp, k);
            if (ibex_library_add(w, &sp, surf[1], NULL, NULL) != IBEX_OK) _exit(4);
        }
        H5Fflush(ibex__library_file(w), H5F_SCOPE_GLOBAL);
        _exit(0); /* no commit: as if killed */
    }
    int wst = 0;
    waitpid(pid, &wst, 0);
    CHECK(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);
    CHECK(access(jp, F_OK) == 0);
    CHECK(ibex_library_open(path, &o, &lib, &d) == IBEX_OK);
    CHECK(access(jp, F_OK) != 0);
    CHECK_MSG(ibex_library_count(lib) == N + 2, "count %zu after rollback", ibex_library_count(lib));
    for (unsigned k = 0; k < N; k++) {
        s = NULL;
        CHECK(ibex_library_get_surface(lib, k, &s, &d) == IBEX_OK && same_surface(s, surf[k]));
        ibex_surface_free(s);
    }
    ibex_library_close(lib, NULL);

    /* Same again, but the next opener is a writer: it must roll back, not overwrite,
     * the dead writer's journal. */
    pid = fork();
    if (pid == 0) {
        ibex_library *w = NULL;
        ibex_library_opts wo;
        ibex_library_opts_init(&wo);
        wo.flags = IBEX_LIBRARY_WRITE | IBEX_LIBRARY_NOSYNC;
        if (ibex_library_open(path, &wo, &w, NULL) != IBEX_OK) _exit(3);
        ibex_library_begin(w, NULL);
        for (unsigned k = 30; k < 33; k++) {
            ibex_specimen sp;
            spec_fill(&sp, k);
            if (ibex_library_add(w, &sp, surf[2], NULL, NULL) != IBEX_OK) _exit(4);
        }
        H5Fflush(ibex__library_file(w), H5F_SCOPE_GLOBAL);
        _exit(0);
    }
    waitpid(pid, &wst, 0);
    CHECK(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);
    CHECK(access(jp, F_OK) == 0);
    {
        ibex_library *w = NULL;
        ibex_library_opts wo;
        ibex_library_opts_init(&wo);
        wo.flags = IBEX_LIBRARY_WRITE | IBEX_LIBRARY_NOSYNC;
        CHECK(ibex_library_open(path, &wo, &w, &d) == IBEX_OK);
        CHECK_MSG(ibex_library_count(w) == N + 2, "writer sees %zu after rollback", ibex_library_count(w));
        ibex_specimen sp;
        spec_fill(&sp, 40);
        CHECK(ibex_library_add(w, &sp, surf[3], NULL, &d) == IBEX_OK);
        ibex_meta_clear(&sp.meta);
        CHECK(ibex_library_close(w, &d) == IBEX_OK);
    }
    CHECK(ibex_library_open(path, &o, &lib, &d) == IBEX_OK);
    CHECK(ibex_library_count(lib) == N + 3);
    for (unsigned k = 0; k < N; k++) {
        s = NULL;
        CHECK(ibex_library_get_surface(lib, k, &s, &d) == IBEX_OK && same_surface(s, surf[k]));
        ibex_surface_free(s);
    }
    s = NULL;
    CHECK(ibex_library_get_surface(lib, N + 2, &s, &d) == IBEX_OK && same_surface(s, surf[3]));
    ibex_surface_free(s);
    ibex_library_close(lib, NULL);

    for (unsigned k = 0; k < N; k++) ibex_surface_free(surf[k]);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (check_failures_ == 0 && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_exit();
}
