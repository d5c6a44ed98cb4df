/* Fuzz target for the exchange-package parsers: the signature record and verifier, the
 * preprocessing member and the trust-list parser, all fed the same bytes. Built plainly it
 * replays corpus/package plus seeded mutations (bit flips, byte runs, truncations). Passing
 * means: no crash, no sanitizer report, every refusal carries a message, and no mutation
 * that changed the bytes of corpus/package/signed.x3p was ever accepted as signed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibex/ibex.h"
#include "ibex/package.h"
#include "fuzz_check.h"

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
    else if (!d.message[0]) FUZZ_VIOLATION(missing_messages, "a refused package without a message");
    char **kv = NULL;
    ibex_diag_clear(&d);
    if (ibex_package_read_params(data, size, "fuzz.x3p", &kv, &d) == IBEX_OK) ibex_package_params_free(kv);
    else if (!d.message[0]) FUZZ_VIOLATION(missing_messages, "refused parameters without a message");
    ibex_trust *t = NULL;
    ibex_diag_clear(&d);
    if (ibex_trust_read_mem((const char *)data, size, "fuzz.txt", &t, &d) == IBEX_OK) ibex_trust_free(t);
    else if (!d.message[0]) FUZZ_VIOLATION(missing_messages, "a refused trust list without a message");
    return 0;
}

#ifndef IBEX_LIBFUZZER
#include "replay.h"

static long altered_accepted = 0;
static int accepted_before = 0;

/* A mutation that changed the bytes must never verify. */
static void after(const uint8_t *orig, size_t n, const uint8_t *input, size_t len)
{
    if (accepted > accepted_before && (len != n || memcmp(input, orig, n) != 0)) altered_accepted++;
    accepted_before = accepted;
}

int main(int argc, char **argv)
{
    fuzz_replay_opts o = {500, 0, after};
    long runs = fuzz_replay(argc, argv, &o);
    ibex_trust_free(trust);
    fprintf(stderr, "%ld inputs, %d accepted as signed, %ld altered packages accepted, %d refusals without a message\n",
            runs, accepted, altered_accepted, missing_messages);
    return (missing_messages || altered_accepted || runs <= 0 || accepted == 0) ? 1 : 0;
}
#endif
