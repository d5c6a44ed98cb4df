/* The replay driver shared by the fuzz targets when they are built without a fuzzing engine:
 * every corpus file (arguments are files or directories of files) goes to
 * LLVMFuzzerTestOneInput, then seeded mutations of it (bit flips, byte runs, truncations).
 * IBEX_FUZZ_SEED and IBEX_FUZZ_MUTATIONS override the seed and the count; the seed is
 * printed so a failure can be replayed. */
#ifndef IBEX_TEST_FUZZ_REPLAY_H
#define IBEX_TEST_FUZZ_REPLAY_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct fuzz_replay_opts {
    int mutations;       /* per corpus file (IBEX_FUZZ_MUTATIONS overrides) */
    size_t hot_prefix;   /* > 0: half the bit flips land in the first hot_prefix bytes (headers) */
    /* Called after each input, the corpus file itself first (may be NULL): orig/n is the
     * corpus file, input/len what was just run. */
    void (*after)(const uint8_t *orig, size_t n, const uint8_t *input, size_t len);
} fuzz_replay_opts;

static uint64_t fuzz_next(uint64_t *x) /* splitmix64 */
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* One corpus file and its mutations; -1 when it cannot be read. */
static long fuzz_replay_file(const char *path, uint64_t x, const fuzz_replay_opts *o, int mutations)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return -1;
    }
    uint8_t *buf = malloc(1 << 20), *mut = malloc(1 << 20);
    size_t n = buf && mut ? fread(buf, 1, 1 << 20, f) : 0;
    fclose(f);
    long runs = 1;
    LLVMFuzzerTestOneInput(buf, n);
    if (o->after) o->after(buf, n, buf, n);
    for (int m = 0; m < mutations && n > 0; m++, runs++) {
        memcpy(mut, buf, n);
        size_t len = n;
        switch (fuzz_next(&x) % 3) {
        case 0: /* flip a few bits */
            for (int k = 0; k < 1 + (int)(fuzz_next(&x) % 4); k++) {
                size_t lim = o->hot_prefix && fuzz_next(&x) % 2 && o->hot_prefix < n ? o->hot_prefix : n;
                mut[fuzz_next(&x) % lim] ^= (uint8_t)(1u << (fuzz_next(&x) % 8));
            }
            break;
        case 1: { /* overwrite a run with one byte value */
            size_t at = fuzz_next(&x) % n, run = 1 + fuzz_next(&x) % 16;
            memset(mut + at, (int)(fuzz_next(&x) & 0xff), at + run <= n ? run : n - at);
            break;
        }
        default: /* truncate */
            len = fuzz_next(&x) % n;
        }
        LLVMFuzzerTestOneInput(mut, len);
        if (o->after) o->after(buf, n, mut, len);
    }
    free(buf);
    free(mut);
    return runs;
}

/* Replays argv[1..]; returns the number of inputs run, or -1 when a file cannot be read. */
static long fuzz_replay(int argc, char **argv, const fuzz_replay_opts *o)
{
    const char *es = getenv("IBEX_FUZZ_SEED"), *em = getenv("IBEX_FUZZ_MUTATIONS");
    uint64_t seed = es ? strtoull(es, NULL, 0) : 20261123;
    int mutations = em ? atoi(em) : o->mutations;
    long runs = 0;
    fprintf(stderr, "seed %llu, %d mutations per file\n", (unsigned long long)seed, mutations);
    for (int a = 1; a < argc; a++) {
        DIR *dir = opendir(argv[a]);
        if (!dir) {
            long r = fuzz_replay_file(argv[a], seed ^ (uint64_t)a, o, mutations);
            if (r < 0) return -1;
            runs += r;
            continue;
        }
        struct dirent *e;
        uint64_t k = 0;
        while ((e = readdir(dir))) {
            if (e->d_name[0] == '.') continue;
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", argv[a], e->d_name);
            long r = fuzz_replay_file(p, seed ^ ((uint64_t)a * 1000 + k++), o, mutations);
            if (r < 0) {
                closedir(dir);
                return -1;
            }
            runs += r;
        }
        closedir(dir);
    }
    return runs;
}

#endif
