/* Fuzz target for the exchange-package parsers: the signature record and verifier, the
 * preprocessing member and the trust-list parser, all fed the same bytes. Built plainly it
 * replays corpus/package plus seeded mutations (bit flips, byte runs, truncations). Passing
 * means: no crash, no sanitizer report, every refusal carries a message, and no mutation
 * that changed the bytes of corpus/package/signed.x3p was ever accepted as signed. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibex/ibex.h"
#include "ibex/package.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The key that signed corpus/package/signed.x3p (its secret is not kept). */
static const char trust_text[] =
    "fuzz 40b5e3d6db7fab712c7b01d5e35214859f8072c7243a71ff53e661f4ff867a4e\n";
static ibex_trust *trust;
static int missing_messages = 0, accepted = 0;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ibex_diag d;
    ibex_diag_clear(&d);
    if (!trust && ibex_trust_read_mem(trust_text, strlen(trust_text), "trust", &trust, &d)) abort();
    ibex_package_fault f;
    ibex_status st = ibex_package_verify_mem(data, size, "fuzz.x3p", trust, IBEX_PACKAGE_CHECK_X3P, NULL, &f, &d);
    if (st == IBEX_OK) accepted++;
    else if (!d.message[0]) missing_messages++;
    char **kv = NULL;
    ibex_diag_clear(&d);
    if (ibex_package_read_params(data, size, "fuzz.x3p", &kv, &d) == IBEX_OK) ibex_package_params_free(kv);
    else if (!d.message[0]) missing_messages++;
    ibex_trust *t = NULL;
    ibex_diag_clear(&d);
    if (ibex_trust_read_mem((const char *)data, size, "fuzz.txt", &t, &d) == IBEX_OK) ibex_trust_free(t);
    else if (!d.message[0]) missing_messages++;
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

int main(int argc, char **argv)
{
    uint64_t seed = getenv("IBEX_FUZZ_SEED") ? strtoull(getenv("IBEX_FUZZ_SEED"), NULL, 0) : 20261123;
    int mutations = getenv("IBEX_FUZZ_MUTATIONS") ? atoi(getenv("IBEX_FUZZ_MUTATIONS")) : 500;
    long runs = 0, altered_accepted = 0;
    fprintf(stderr, "seed %llu, %d mutations per file\n", (unsigned long long)seed, mutations);
    for (int a = 1; a < argc; a++) {
        DIR *dir = opendir(argv[a]);
        struct dirent *e;
        int k = 0;
        while (dir && (e = readdir(dir))) {
            if (e->d_name[0] == '.') continue;
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", argv[a], e->d_name);
            FILE *f = fopen(p, "rb");
            if (!f) return 1;
            uint8_t *buf = malloc(1 << 20), *mut = malloc(1 << 20);
            size_t n = fread(buf, 1, 1 << 20, f);
            fclose(f);
            LLVMFuzzerTestOneInput(buf, n);
            runs++;
            uint64_t x = seed ^ (uint64_t)(a * 1000 + k++);
            for (int m = 0; m < mutations && n > 0; m++) {
                memcpy(mut, buf, n);
                size_t len = n;
                switch (next(&x) % 3) {
                case 0:
                    for (int j = 0; j < 1 + (int)(next(&x) % 4); j++) mut[next(&x) % n] ^= (uint8_t)(1u << (next(&x) % 8));
                    break;
                case 1: {
                    size_t at = next(&x) % n, run = 1 + next(&x) % 16;
                    memset(mut + at, (int)(next(&x) & 0xff), at + run <= n ? run : n - at);
                    break;
                }
                default:
                    len = next(&x) % n;
                }
                int before = accepted;
                LLVMFuzzerTestOneInput(mut, len);
                runs++;
                if (accepted > before && (len != n || memcmp(mut, buf, n) != 0)) altered_accepted++;
            }
            free(buf);
            free(mut);
        }
        if (dir) closedir(dir);
    }
    ibex_trust_free(trust);
    fprintf(stderr, "%ld inputs, %d accepted as signed, %ld altered packages accepted, %d refusals without a message\n",
            runs, accepted, altered_accepted, missing_messages);
    return (missing_messages || altered_accepted || runs == 0 || accepted == 0) ? 1 : 0;
}
#endif
