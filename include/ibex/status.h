/* Status codes and diagnostics shared by every IBEX call that can fail. */
#ifndef IBEX_STATUS_H
#define IBEX_STATUS_H

#include "ibex/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Numbers are part of the ABI: never renumber, only append. */
typedef enum ibex_status {
    IBEX_OK = 0,
    IBEX_ERR_NOMEM = 1,
    IBEX_ERR_ARG = 2,
    IBEX_ERR_IO = 3,
    IBEX_ERR_FORMAT = 4,
    IBEX_ERR_LIMIT = 5,
    IBEX_ERR_INTEGRITY = 6,
    IBEX_ERR_UNSUPPORTED = 7,
    IBEX_ERR_CANCELLED = 8     /* a progress callback asked to stop */
} ibex_status;

IBEX_API const char *ibex_strerror(ibex_status s);
/* The enumerator's name, "IBEX_ERR_FORMAT" (for bindings that raise it as an error name). */
IBEX_API const char *ibex_status_name(ibex_status s);

/* Where a failure happened and why, for a one-line message to a person.
 * Every field is filled by the failing call; the status is the contract. */
typedef struct ibex_diag {
    char file[512];      /* file (or "<memory>") the problem is in, "" if none */
    long long offset;    /* byte offset in that file or member, -1 if unknown */
    char message[512];   /* what is wrong, without the file name */
} ibex_diag;

IBEX_API void ibex_diag_clear(ibex_diag *d);

/* "FILE: MESSAGE" (or just MESSAGE, or ibex_strerror(s) when the diag is empty). */
IBEX_API const char *ibex_diag_format(const ibex_diag *d, ibex_status s, char *buf, unsigned long size);

#ifdef __cplusplus
}
#endif
#endif
