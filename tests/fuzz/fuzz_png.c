/* Fuzz target for the PNG reader. With libFuzzer (-fsanitize=fuzzer) it is a fuzzer; built
 * plainly it replays a corpus plus seeded mutations of each file (bit flips, byte runs,
 * truncations). The reader takes a path, so each input goes through one temporary file.
 * Passing means: no crash, no sanitizer report, every refusal carries a message naming the
 * file, and every accepted image keeps the surface invariant (valid <=> finite). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>

#include "ibex/ibex.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int problems = 0;
static char tmp_path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!tmp_path[0]) {
        /* tmpfs when there is one: thousands of rewrites of one small file */
        snprintf(tmp_path, sizeof tmp_path, "%s/ibex-fuzz-png-XXXXXX",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        int fd = mkstemp(tmp_path);
        if (fd < 0) abort();
        close(fd);
    }
    FILE *f = fopen(tmp_path, "wb");
    if (!f) abort();
    if (size) fwrite(data, 1, size, f);
    fclose(f);
    ibex_surface *s = NULL;
    ibex_diag d;
    ibex_diag_clear(&d);
    ibex_status st = ibex_surface_read_png(tmp_path, 0, &s, &d);
    if (st == IBEX_OK) {
        for (size_t i = 0; i < s->nx * s->ny; i++)
            if ((s->valid[i] == 1) != (isfinite(s->z[i]) != 0)) {
                problems++;
                break;
            }
        ibex_surface_free(s);
    } else if (d.message[0] == '\0' || strcmp(d.file, tmp_path) != 0) {
        problems++;
    }
    return 0;
}

#ifndef IBEX_LIBFUZZER
static uint64_t next(uint64_t *x) /* splitmix64 */
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void replay(const char *path, uint64_t x, int mutations, long *runs)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        problems++;
        return;
    }
    uint8_t *buf = malloc(1 << 20), *mut = malloc(1 << 20);
    size_t n = buf && mut ? fread(buf, 1, 1 << 20, f) : 0;
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    (*runs)++;
    for (int m = 0; m < mutations && n > 0; m++) {
        memcpy(mut, buf, n);
        size_t len = n;
        switch (next(&x) % 3) {
        case 0: /* flip a few bits (the IHDR and chunk headers are in the first ~40 bytes) */
            for (int k = 0; k < 3; k++) {
                size_t at = next(&x) % 2 ? next(&x) % (n < 48 ? n : 48) : next(&x) % n;
                mut[at] ^= (uint8_t)(1u << (next(&x) % 8));
            }
            break;
        case 1: { /* overwrite a run with one byte value */
            size_t at = next(&x) % n, run = 1 + next(&x) % 8;
            memset(mut + at, (int)(next(&x) & 0xff), at + run <= n ? run : n - at);
            break;
        }
        default: /* truncate */
            len = next(&x) % n;
        }
        LLVMFuzzerTestOneInput(mut, len);
        (*runs)++;
    }
    free(buf);
    free(mut);
}

/* Arguments are files or directories of files. Seed: IBEX_FUZZ_SEED; count: IBEX_FUZZ_MUTATIONS. */
int main(int argc, char **argv)
{
    uint64_t seed = getenv("IBEX_FUZZ_SEED") ? strtoull(getenv("IBEX_FUZZ_SEED"), NULL, 0) : 20261123;
    int mutations = getenv("IBEX_FUZZ_MUTATIONS") ? atoi(getenv("IBEX_FUZZ_MUTATIONS")) : 200;
    long runs = 0;
    fprintf(stderr, "seed %llu, %d mutations per file\n", (unsigned long long)seed, mutations);
    for (int a = 1; a < argc; a++) {
        DIR *dir = opendir(argv[a]);
        if (!dir) {
            replay(argv[a], seed ^ (uint64_t)a, mutations, &runs);
            continue;
        }
        struct dirent *e;
        uint64_t k = 0;
        while ((e = readdir(dir))) {
            if (e->d_name[0] == '.') continue;
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", argv[a], e->d_name);
            replay(p, seed ^ ((uint64_t)a * 1000 + k++), mutations, &runs);
        }
        closedir(dir);
    }
    if (tmp_path[0]) unlink(tmp_path);
    fprintf(stderr, "%ld inputs replayed, %d problems (seed %llu)\n", runs, problems,
            (unsigned long long)seed);
    return (problems || runs == 0) ? 1 : 0;
}
#endif
