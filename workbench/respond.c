/* Answers of the workbench: security headers on every one, JSON and bytes, errors with the
 * library's own messages, and the request log. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "http_internal.h"
#include "workbench_internal.h"

/* Scripts, styles and images come from this server only; nothing inline, no framing. The
 * pages need no other origin (labs are offline). */
static const char csp[] = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
                          "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

void ibex__wb_headers(struct MHD_Response *resp, int cacheable)
{
    MHD_add_response_header(resp, "Content-Security-Policy", csp);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
    MHD_add_response_header(resp, "Cross-Origin-Resource-Policy", "same-origin");
    if (!cacheable) MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
}

/* The target without its query string: the access token must never reach a log. */
static size_t path_len(const char *t)
{
    const char *q = strchr(t, '?');
    return q ? (size_t)(q - t) : strlen(t);
}

void ibex__wb_log(ibex_workbench *W, struct MHD_Connection *c, const char *method, const wb_request *r,
                  unsigned status, const char *why)
{
    if (!W->log) return;
    char ip[INET6_ADDRSTRLEN], when[32];
    ibex__http_client_ip(c, ip);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    const char *t = r ? r->target : "?";
    int pl = (int)(path_len(t) > 300 ? 300 : path_len(t));
    pthread_mutex_lock(&W->log_lock);
    fprintf(W->log, "%s %s %u %s %.*s%s bytes=%zu%s%.300s\n", when, ip, status, method, pl, t,
            strchr(t, '?') ? "?..." : "", r ? r->n : (size_t)0, why ? " : " : "", why ? why : "");
    fflush(W->log);
    pthread_mutex_unlock(&W->log_lock);
}

enum MHD_Result ibex__wb_send(ibex_workbench *W, struct MHD_Connection *c, const char *method, wb_request *r,
                              unsigned status, struct MHD_Response *resp, const char *why)
{
    if (!resp) return MHD_NO;
    if (r) r->responded = 1;
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    ibex__wb_log(W, c, method, r, status, why);
    return ret;
}

enum MHD_Result ibex__wb_json(ibex_workbench *W, struct MHD_Connection *c, const char *method, wb_request *r,
                              unsigned status, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_t *err = status >= 400 && j ? json_object_get(j, "error") : NULL;
    char why[320];
    snprintf(why, sizeof why, "%s", err && json_is_string(err) ? json_string_value(err) : "");
    json_decref(j);
    if (!text) return MHD_NO;
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json; charset=utf-8");
    ibex__wb_headers(resp, 0);
    return ibex__wb_send(W, c, method, r, status, resp, why[0] ? why : NULL);
}

enum MHD_Result ibex__wb_error(ibex_workbench *W, struct MHD_Connection *c, const char *method, wb_request *r,
                               unsigned status, const char *fmt, ...)
{
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ibex__wb_json(W, c, method, r, status, json_pack("{s:s, s:i}", "error", msg, "status", (int)status));
}

static unsigned http_status(ibex_status st)
{
    switch (st) {
    case IBEX_OK: return 200;
    case IBEX_ERR_ARG:
    case IBEX_ERR_FORMAT:
    case IBEX_ERR_INTEGRITY: return 400;
    case IBEX_ERR_LIMIT: return 413;
    case IBEX_ERR_UNSUPPORTED: return 415;
    case IBEX_ERR_CANCELLED: return 409;
    case IBEX_ERR_NOMEM: return 503;
    case IBEX_ERR_IO: return 500;
    }
    return 500;
}

enum MHD_Result ibex__wb_fail(ibex_workbench *W, struct MHD_Connection *c, const char *method, wb_request *r,
                              ibex_status st, const ibex_diag *d)
{
    char msg[1100];
    ibex_diag_format(d, st, msg, sizeof msg);
    unsigned hs = http_status(st);
    return ibex__wb_json(W, c, method, r, hs,
                         json_pack("{s:s, s:i, s:s}", "error", msg, "status", (int)hs, "code", ibex_status_name(st)));
}

enum MHD_Result ibex__wb_bytes(ibex_workbench *W, struct MHD_Connection *c, const char *method, wb_request *r,
                               unsigned status, const char *type, void *data, size_t n, int must_free,
                               const char *cache_control, const char *etag)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        n, data, !n ? MHD_RESPMEM_PERSISTENT : must_free ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_MUST_COPY);
    if (!n && must_free) free(data);
    if (!resp) {
        if (must_free && n) free(data);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    ibex__wb_headers(resp, cache_control != NULL);
    if (cache_control) MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, cache_control);
    if (etag) MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
    return ibex__wb_send(W, c, method, r, status, resp, NULL);
}
