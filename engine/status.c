/* ibex_strerror and diagnostics. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibex/status.h"
#include "ibex_internal.h"

const char *ibex_strerror(ibex_status s)
{
    /* No default: the compiler flags any status left out. */
    switch (s) {
    case IBEX_OK: return "success";
    case IBEX_ERR_NOMEM: return "out of memory";
    case IBEX_ERR_ARG: return "invalid argument";
    case IBEX_ERR_IO: return "input/output error";
    case IBEX_ERR_FORMAT: return "malformed input";
    case IBEX_ERR_LIMIT: return "input exceeds a documented limit";
    case IBEX_ERR_INTEGRITY: return "integrity check failed";
    case IBEX_ERR_UNSUPPORTED: return "unsupported input";
    case IBEX_ERR_CANCELLED: return "cancelled";
    }
    return "unknown status";
}

const char *ibex_status_name(ibex_status s)
{
    switch (s) {
    case IBEX_OK: return "IBEX_OK";
    case IBEX_ERR_NOMEM: return "IBEX_ERR_NOMEM";
    case IBEX_ERR_ARG: return "IBEX_ERR_ARG";
    case IBEX_ERR_IO: return "IBEX_ERR_IO";
    case IBEX_ERR_FORMAT: return "IBEX_ERR_FORMAT";
    case IBEX_ERR_LIMIT: return "IBEX_ERR_LIMIT";
    case IBEX_ERR_INTEGRITY: return "IBEX_ERR_INTEGRITY";
    case IBEX_ERR_UNSUPPORTED: return "IBEX_ERR_UNSUPPORTED";
    case IBEX_ERR_CANCELLED: return "IBEX_ERR_CANCELLED";
    }
    return "IBEX_ERR_UNKNOWN";
}

void ibex_diag_clear(ibex_diag *d)
{
    if (!d) return;
    d->file[0] = '\0';
    d->offset = -1;
    d->message[0] = '\0';
}

ibex_status ibex__fail(ibex_diag *d, ibex_status s, const char *file, long long offset,
                       const char *fmt, ...)
{
    if (!d) return s;
    snprintf(d->file, sizeof d->file, "%s", file ? file : "");
    d->offset = offset;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->message, sizeof d->message, fmt, ap);
    va_end(ap);
    return s;
}

const char *ibex_diag_format(const ibex_diag *d, ibex_status s, char *buf, unsigned long size)
{
    const char *msg = (d && d->message[0]) ? d->message : ibex_strerror(s);
    if (d && d->file[0] && d->offset >= 0)
        snprintf(buf, size, "%s: %s (at byte %lld)", d->file, msg, d->offset);
    else if (d && d->file[0])
        snprintf(buf, size, "%s: %s", d->file, msg);
    else
        snprintf(buf, size, "%s", msg);
    return buf;
}

char *ibex__strdup(const char *s)
{
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *c = malloc(n);
    if (c) memcpy(c, s, n);
    return c;
}

ibex_status ibex__opts_copy(void *dst, size_t dst_size, const void *src, const char *what, ibex_diag *diag)
{
    if (!src) return IBEX_OK;
    size_t n;
    memcpy(&n, src, sizeof n);
    if (n < sizeof n)
        return ibex__fail(diag, IBEX_ERR_ARG, NULL, -1, "%s: size %zu is not that of an options struct (call its _init)",
                          what, n);
    memcpy(dst, src, n < dst_size ? n : dst_size);
    memcpy(dst, &dst_size, sizeof dst_size);
    return IBEX_OK;
}
