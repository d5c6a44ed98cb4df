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

#include "ibex/ibex.h"
#include "fuzz_check.h"

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
                FUZZ_VIOLATION(problems, "an accepted PNG whose valid mask is not its finite heights");
                break;
            }
        ibex_surface_free(s);
    } else if (d.message[0] == '\0' || strcmp(d.file, tmp_path) != 0) {
        FUZZ_VIOLATION(problems, "a refused PNG without a message naming the file");
    }
    return 0;
}

#ifndef IBEX_LIBFUZZER
#include "replay.h"

int main(int argc, char **argv)
{
    /* The IHDR and chunk headers sit in the first ~48 bytes: aim half the flips there. */
    fuzz_replay_opts o = {200, 48, NULL};
    long runs = fuzz_replay(argc, argv, &o);
    if (tmp_path[0]) unlink(tmp_path);
    fprintf(stderr, "%ld inputs replayed, %d problems\n", runs, problems);
    return (problems || runs <= 0) ? 1 : 0;
}
#endif
