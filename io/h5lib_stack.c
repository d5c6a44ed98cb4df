/* Packed surface stacks (library schema 2, docs/reference/library-format.md): every surface of one
 * size in a library created with IBEX_LIBRARY_PACKED lives in one 3-D pair of datasets,
 *   /surfaces/p<ny>x<nx>/height  float32 [M][ny][nx]
 *   /surfaces/p<ny>x<nx>/mask    uint8   [M][ny][nx]
 * chunked one surface per chunk (shuffle, deflate, Fletcher32). A group and two datasets
 * per specimen cost about 8 KB of HDF5 metadata each (object headers, group B-trees, one
 * chunk B-tree per dataset), more than a small surface itself; a stack costs tens of bytes
 * of chunk index per surface and one object for all of them. The caller holds the
 * library lock (HDF5 is not thread-safe). */
#include <stdio.h>
#include <string.h>

#include "h5lib_internal.h"

void ibex__stack_path(size_t nx, size_t ny, char *out, size_t size)
{
    snprintf(out, size, "/surfaces/p%zux%zu", ny, nx);
}

static hid_t make_stack(hid_t g, const char *name, hid_t ftype, size_t nx, size_t ny)
{
    hsize_t dims[3] = {0, ny, nx}, maxd[3] = {H5S_UNLIMITED, ny, nx}, ch[3] = {1, ny, nx};
    hid_t sp = H5Screate_simple(3, dims, maxd);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 3, ch);
    H5Pset_shuffle(dcpl);
    H5Pset_deflate(dcpl, 4);
    H5Pset_fletcher32(dcpl);
    hid_t d = H5Dcreate2(g, name, ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    H5Sclose(sp);
    return d;
}

/* Opens (or creates) the stack group of size nx x ny. */
static hid_t stack_group(hid_t file, size_t nx, size_t ny, const char *path)
{
    if (H5Lexists(file, path, H5P_DEFAULT) > 0) return H5Gopen2(file, path, H5P_DEFAULT);
    hid_t g = H5Gcreate2(file, path, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return -1;
    hid_t dz = make_stack(g, "height", H5T_IEEE_F32LE, nx, ny);
    hid_t dm = dz >= 0 ? make_stack(g, "mask", H5T_STD_U8LE, nx, ny) : -1;
    int ok = dz >= 0 && dm >= 0;
    if (dz >= 0) H5Dclose(dz);
    if (dm >= 0) H5Dclose(dm);
    if (!ok) {
        H5Gclose(g);
        return -1;
    }
    return g;
}

/* Grows one stack dataset by n and writes plane k from src[k]. */
static int append_planes(hid_t g, const char *name, hid_t mtype, size_t nx, size_t ny, size_t n,
                         const void *const *src, uint64_t *first)
{
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    if (d < 0) return 0;
    hid_t fs = H5Dget_space(d);
    hsize_t dims[3] = {0, 0, 0};
    int ok = H5Sget_simple_extent_ndims(fs) == 3 && H5Sget_simple_extent_dims(fs, dims, NULL) >= 0 &&
             dims[1] == ny && dims[2] == nx;
    H5Sclose(fs);
    hsize_t m0 = dims[0], nd[3] = {m0 + n, ny, nx};
    ok = ok && H5Dset_extent(d, nd) >= 0;
    hsize_t cnt[3] = {1, ny, nx};
    hid_t ms = H5Screate_simple(3, cnt, NULL);
    fs = H5Dget_space(d);
    for (size_t k = 0; ok && k < n; k++) {
        hsize_t start[3] = {m0 + k, 0, 0};
        ok = H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, cnt, NULL) >= 0 &&
             H5Dwrite(d, mtype, ms, fs, H5P_DEFAULT, src[k]) >= 0;
    }
    H5Sclose(fs);
    H5Sclose(ms);
    H5Dclose(d);
    if (ok) *first = m0;
    return ok;
}

int ibex__stack_append(hid_t file, size_t nx, size_t ny, size_t n, const float *const *z,
                       const uint8_t *const *valid, uint64_t *first)
{
    char path[96];
    ibex__stack_path(nx, ny, path, sizeof path);
    hid_t g = stack_group(file, nx, ny, path);
    if (g < 0) return 0;
    uint64_t fz = 0, fm = 0;
    int ok = append_planes(g, "height", H5T_NATIVE_FLOAT, nx, ny, n, (const void *const *)z, &fz) &&
             append_planes(g, "mask", H5T_NATIVE_UINT8, nx, ny, n, (const void *const *)valid, &fm) && fz == fm;
    H5Gclose(g);
    if (ok) *first = fz;
    return ok;
}

/* 1: read; 0: not a stack (no 3-D height); -1: a stack, but the read failed (err says why). */
int ibex__stack_read(hid_t file, const char *gpath, uint64_t index, size_t nx, size_t ny, float *z,
                     uint8_t *valid, char *err, size_t errsize)
{
    char dpath[160];
    snprintf(dpath, sizeof dpath, "%s/height", gpath);
    if (H5Lexists(file, gpath, H5P_DEFAULT) <= 0 || H5Lexists(file, dpath, H5P_DEFAULT) <= 0) return 0;
    const char *names[2] = {"height", "mask"};
    for (int k = 0; k < 2; k++) {
        snprintf(dpath, sizeof dpath, "%s/%s", gpath, names[k]);
        hid_t d = H5Dopen2(file, dpath, H5P_DEFAULT);
        if (d < 0) {
            snprintf(err, errsize, "missing %s", dpath);
            return k == 0 ? 0 : -1;
        }
        hid_t fs = H5Dget_space(d);
        hsize_t dims[3] = {0, 0, 0};
        int rank = H5Sget_simple_extent_ndims(fs);
        if (rank != 3) {
            H5Sclose(fs);
            H5Dclose(d);
            if (k == 0) return 0;
            snprintf(err, errsize, "%s is not a stack", dpath);
            return -1;
        }
        H5Sget_simple_extent_dims(fs, dims, NULL);
        int ok = 1;
        if (dims[1] != ny || dims[2] != nx || index >= dims[0]) {
            snprintf(err, errsize, "%s is %llu x %llu x %llu, no surface %llu of %zu x %zu", dpath,
                     (unsigned long long)dims[0], (unsigned long long)dims[1], (unsigned long long)dims[2],
                     (unsigned long long)index, ny, nx);
            ok = 0;
        } else {
            hsize_t start[3] = {index, 0, 0}, cnt[3] = {1, ny, nx};
            hid_t ms = H5Screate_simple(3, cnt, NULL);
            H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, cnt, NULL);
            if (H5Dread(d, k == 0 ? H5T_NATIVE_FLOAT : H5T_NATIVE_UINT8, ms, fs, H5P_DEFAULT,
                        k == 0 ? (void *)z : (void *)valid) < 0) {
                char b[256];
                ibex__h5_error(b);
                snprintf(err, errsize, "corrupted data in %s[%llu]: %s", dpath, (unsigned long long)index, b);
                ok = 0;
            }
            H5Sclose(ms);
        }
        H5Sclose(fs);
        H5Dclose(d);
        if (!ok) return -1;
    }
    return 1;
}
