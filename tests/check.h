/* Minimal assertions for IBEX test programs: print the failing line, count failures.
 * A test program returns check_exit(): 0 when every CHECK held, 1 otherwise,
 * 77 (meson's "skipped") when it called check_skip(). */
#ifndef IBEX_TEST_CHECK_H
#define IBEX_TEST_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int check_failures_ = 0;
static int check_count_ = 0;

#define CHECK(cond)                                                                \
    do {                                                                           \
        check_count_++;                                                            \
        if (!(cond)) {                                                             \
            check_failures_++;                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                          \
    } while (0)

#define CHECK_MSG(cond, ...)                                                       \
    do {                                                                           \
        check_count_++;                                                            \
        if (!(cond)) {                                                             \
            check_failures_++;                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                          \
            fputc('\n', stderr);                                                   \
        }                                                                          \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                      \
    CHECK_MSG(fabs((double)(a) - (double)(b)) <= (tol), "%.9g vs %.9g (tol %g)",   \
              (double)(a), (double)(b), (double)(tol))

static inline int check_exit(void)
{
    fprintf(stderr, "%d checks, %d failed\n", check_count_, check_failures_);
    return check_failures_ ? 1 : 0;
}

static inline int check_skip(const char *why)
{
    fprintf(stderr, "SKIP: %s\n", why);
    return 77;
}

#endif
