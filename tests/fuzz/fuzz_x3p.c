/* Fuzz target for the X3P reader. With libFuzzer (-fsanitize=fuzzer) it is a fuzzer; built
 * plainly it replays a corpus, plus seeded mutations of each file (bit flips, byte runs,
 * truncations), so every CI run exercises the reader's error paths. Passing means: no crash,
 * no sanitizer report, and every refusal carries a message. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibex/ibex.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int missing_messages = 0;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ibex_surface *s = NULL;
    ibex_diag d;
    ibex_diag_clear(&d);
    ibex_status st = ibex_surface_read_x3p_mem(data, size, "fuzz.x3p", 0, &s, &d);
    if (st == IBEX_OK) {
        ibex_surface_stats ss;
        ibex_surface_get_stats(s, &ss); /* touch every point */
        ibex_surface_free(s);
    } else if (d.message[0] == '\0') {
        missing_messages++;
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

/* Arguments may be files or directories of files. */
static int replay(const char *path, int a, uint64_t seed, int mutations, long *runs);

int main(int argc, char **argv)
{
    uint64_t seed = getenv("IBEX_FUZZ_SEED") ? strtoull(getenv("IBEX_FUZZ_SEED"), NULL, 0) : 20261123;
    int mutations = getenv("IBEX_FUZZ_MUTATIONS") ? atoi(getenv("IBEX_FUZZ_MUTATIONS")) : 200;
    long runs = 0;
    fprintf(stderr, "seed %llu, %d mutations per file\n", (unsigned long long)seed, mutations);
    for (int a = 1; a < argc; a++) {
        DIR *dir = opendir(argv[a]);
        if (!dir) {
            if (replay(argv[a], a, seed, mutations, &runs)) return 1;
            continue;
        }
        struct dirent *e;
        int k = 0;
        while ((e = readdir(dir))) {
            if (e->d_name[0] == '.') continue;
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", argv[a], e->d_name);
            if (replay(p, a * 1000 + k++, seed, mutations, &runs)) return 1;
        }
        closedir(dir);
    }
    fprintf(stderr, "%ld inputs replayed, %d refusals without a message\n", runs, missing_messages);
    return (missing_messages || runs == 0) ? 1 : 0;
}

static int replay(const char *path, int a, uint64_t seed, int mutations, long *runs)
{
    {
        FILE *f = fopen(path, "rb");
        if (!f) {
            fprintf(stderr, "cannot open %s\n", path);
            return 1;
        }
        uint8_t *buf = malloc(1 << 20), *mut = malloc(1 << 20);
        size_t n = fread(buf, 1, 1 << 20, f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, n);
        (*runs)++;
        uint64_t x = seed ^ (uint64_t)a;
        for (int m = 0; m < mutations && n > 0; m++) {
            memcpy(mut, buf, n);
            size_t len = n;
            switch (next(&x) % 3) {
            case 0: /* flip a few bits */
                for (int k = 0; k < 4; k++) mut[next(&x) % n] ^= (uint8_t)(1u << (next(&x) % 8));
                break;
            case 1: { /* overwrite a run with one byte value */
                size_t at = next(&x) % n, run = 1 + next(&x) % 16;
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
    return 0;
}
#endif
