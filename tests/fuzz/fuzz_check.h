/* A property a fuzz target checks on every input (every refusal carries a message, ...).
 * Under libFuzzer (IBEX_LIBFUZZER) a violation is reported and aborts, so the engine keeps
 * the input as a crash file; in the replay build it is counted and main() fails on a count. */
#ifndef IBEX_TEST_FUZZ_CHECK_H
#define IBEX_TEST_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#ifdef IBEX_LIBFUZZER
#define FUZZ_VIOLATION(counter, what) ((void)(counter), fprintf(stderr, "fuzz property violated: %s\n", what), abort())
#else
#define FUZZ_VIOLATION(counter, what) ((void)(what), (counter)++)
#endif

#endif
