/* Fuzz target for the X3P reader. With libFuzzer (-fsanitize=fuzzer) it is a fuzzer; built
 * plainly it replays a corpus, plus seeded mutations of each file (bit flips, byte runs,
 * truncations), so every CI run exercises the reader's error paths. Passing means: no crash,
 * no sanitizer report, and every refusal carries a message. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibex/ibex.h"
#include "fuzz_check.h"

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
        FUZZ_VIOLATION(missing_messages, "a refused X3P file without a message");
    }
    return 0;
}

#ifndef IBEX_LIBFUZZER
#include "replay.h"

int main(int argc, char **argv)
{
    fuzz_replay_opts o = {200, 0, NULL};
    long runs = fuzz_replay(argc, argv, &o);
    fprintf(stderr, "%ld inputs replayed, %d refusals without a message\n", runs, missing_messages);
    return (missing_messages || runs <= 0) ? 1 : 0;
}
#endif
