/* The embedded pages: only the exact paths of the table in assets_data.c (generated from
 * workbench/assets/ at build time) are served, so no request path can name a file. */
#include <string.h>

#include "workbench_internal.h"

enum MHD_Result ibex__wb_h_asset(ibex_workbench *W, struct MHD_Connection *c, const char *method, wb_request *r,
                                 const char *url)
{
    const ibex__wb_asset *a = NULL;
    for (size_t i = 0; i < ibex__wb_n_assets; i++)
        if (strcmp(ibex__wb_assets[i].path, url) == 0) a = &ibex__wb_assets[i];
    if (!a) return ibex__wb_error(W, c, method, r, 404, "no such page");
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return ibex__wb_error(W, c, method, r, 405, "use GET");
    const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    if (inm && strcmp(inm, a->etag) == 0) {
        struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        if (!resp) return MHD_NO;
        ibex__wb_headers(resp, 1);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, a->etag);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        return ibex__wb_send(W, c, method, r, 304, resp, NULL);
    }
    /* Served from the table itself: the bytes live as long as the library. */
    struct MHD_Response *resp = MHD_create_response_from_buffer(a->size, (void *)a->data, MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, a->type);
    ibex__wb_headers(resp, 1);
    /* Revalidated on every load: a rebuilt IBEX never shows a page of the old one. */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, a->etag);
    return ibex__wb_send(W, c, method, r, 200, resp, NULL);
}
