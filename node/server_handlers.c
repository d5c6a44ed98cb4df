/* The node's request handlers other than queries: hello, health, stats, push, list, get
 * (docs/reference/node.md, "Endpoints"). They run on pool threads after authentication. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "ibex/ibex.h"
#include "ibex_internal.h"
#include "server_internal.h"

#define LIST_DEFAULT 100
#define LIST_MAX 1000

/* GET /v1/hello, not signed: what a client needs to sign for this node. */
enum MHD_Result ibex__h_hello(ibex_node_server *S, struct MHD_Connection *c, const char *m, request *r)
{
    char pk[65];
    ibex_node_key_public_hex(S->key, pk);
    return ibex__srv_json(S, c, m, r, 200,
                          json_pack("{s:s, s:s, s:s, s:s}", "node", ibex_node_key_name(S->key), "public_key", pk,
                                    "protocol", IBEX_NODE_PROTOCOL, "version", IBEX_VERSION_STRING),
                          NULL);
}

enum MHD_Result ibex__h_health(ibex_node_server *S, struct MHD_Connection *c, const char *m, request *r)
{
    return ibex__srv_json(S, c, m, r, 200,
                     json_pack("{s:s, s:s, s:s, s:I}", "status", "ok", "node", ibex_node_key_name(S->key),
                               "version", IBEX_VERSION_STRING, "time", (json_int_t)time(NULL)),
                     NULL);
}

enum MHD_Result ibex__h_stats(ibex_node_server *S, struct MHD_Connection *c, const char *m, request *r)
{
    size_t count;
    uint64_t bytes, last;
    ibex__spool_totals(S->spool, &count, &bytes, &last);
    json_t *j = json_pack(
        "{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:I, s:I, s:I, s:I, s:I, "
        "s:I}",
        "node", ibex_node_key_name(S->key), "uptime_s", (json_int_t)(time(NULL) - S->started),
        "requests", (json_int_t)atomic_load(&S->requests),
        "refused_auth", (json_int_t)atomic_load(&S->refused_auth),
        "refused_size", (json_int_t)atomic_load(&S->refused_size),
        "refused_busy", (json_int_t)atomic_load(&S->refused_busy),
        "packages_accepted", (json_int_t)atomic_load(&S->accepted),
        "packages_duplicate", (json_int_t)atomic_load(&S->duplicates),
        "packages_refused", (json_int_t)atomic_load(&S->refused_packages),
        "spool_packages", (json_int_t)count, "spool_bytes", (json_int_t)bytes,
        "spool_last_seq", (json_int_t)last, "nonces_live", (json_int_t)ibex__nonce_count(S->nonces),
        "body_memory_in_use", (json_int_t)atomic_load(&S->mem_in_use),
        "body_memory_limit", (json_int_t)S->max_memory, "library", S->lib_path != NULL,
        "library_stored", (json_int_t)atomic_load(&S->lib_stored),
        "library_skipped", (json_int_t)atomic_load(&S->lib_skipped),
        "library_refused", (json_int_t)atomic_load(&S->lib_refused),
        "queries", (json_int_t)atomic_load(&S->queries), "queries_seen", (json_int_t)atomic_load(&S->queries_seen),
        "queries_forwarded", (json_int_t)atomic_load(&S->forwarded));
    pthread_mutex_lock(&S->q_lock);
    json_int_t running = (json_int_t)S->queries_running;
    pthread_mutex_unlock(&S->q_lock);
    if (j)
        json_object_update_new(j, json_pack("{s:I, s:I, s:I, s:I}", "queries_running", running, "connections",
                                            (json_int_t)ibex__conns_count(S->conns), "closed_slow",
                                            (json_int_t)atomic_load(&S->closed_slow), "closed_unanswered",
                                            (json_int_t)atomic_load(&S->closed_unanswered)));
    return ibex__srv_json(S, c, m, r, 200, j, NULL);
}

/* Verify a package from a request; on failure the response is already queued. */
enum MHD_Result ibex__srv_check_package(ibex_node_server *S, struct MHD_Connection *c, const char *m,
                                     request *r, const unsigned char *d, size_t n,
                                     const ibex_peer **signer, int *ok)
{
    ibex_diag diag;
    ibex_package_fault fault;
    char buf[1100];
    *ok = 0;
    ibex_status st = ibex_package_verify_mem(d, n, "package", S->trust, IBEX_PACKAGE_CHECK_X3P,
                                             signer, &fault, &diag);
    if (!st) {
        *ok = 1;
        return MHD_YES;
    }
    atomic_fetch_add(&S->refused_packages, 1);
    const char *msg = ibex_diag_format(&diag, st, buf, sizeof buf);
    unsigned code = fault == IBEX_PACKAGE_UNTRUSTED ? 403
                    : fault == IBEX_PACKAGE_MALFORMED ? 400 : 422;
    return ibex__srv_error(S, c, m, r, code, "package refused: %s", msg);
}

/* HTTP status for a refusal by the library code: its input was refused, or it failed. */
unsigned ibex__srv_library_status(ibex_status st)
{
    return st == IBEX_ERR_NOMEM || st == IBEX_ERR_LIMIT ? 503 : st == IBEX_ERR_IO ? 500 : 422;
}

/* Push: verify, then the library (when plugged in; it refuses what it cannot hold, such as
 * other preprocessing parameters, before anything is stored), then the spool. A crash
 * between the two leaves the specimen in the library only; the pusher's retry finds it
 * there (skipped) and spools the package. */
enum MHD_Result ibex__h_push(ibex_node_server *S, struct MHD_Connection *c, const char *m, request *r)
{
    const ibex_peer *signer = NULL;
    int ok;
    enum MHD_Result ret = ibex__srv_check_package(S, c, m, r, r->body, r->n, &signer, &ok);
    if (!ok) return ret;
    uint64_t seq;
    int dup;
    ibex_diag diag;
    char buf[1100];
    unsigned char h[32];
    char hex[65];
    ibex__sha256(r->body, r->n, h);
    sodium_bin2hex(hex, sizeof hex, h, 32);
    char note[400] = "no library configured (spool only)";
    if (S->store) {
        memset(&diag, 0, sizeof diag);
        pthread_mutex_lock(&S->lib_lock);
        ibex_status ls = S->store(S->library_user, r->body, r->n, hex, note, sizeof note, &diag);
        pthread_mutex_unlock(&S->lib_lock);
        if (ls) {
            atomic_fetch_add(&S->lib_refused, 1);
            return ibex__srv_error(S, c, m, r, ibex__srv_library_status(ls), "not stored: %s",
                              ibex_diag_format(&diag, ls, buf, sizeof buf));
        }
        atomic_fetch_add(strncmp(note, "skipped", 7) == 0 ? &S->lib_skipped : &S->lib_stored, 1);
    }
    ibex_status st = ibex__spool_put(S->spool, r->body, r->n, &seq, &dup, &diag);
    if (st) return ibex__srv_error(S, c, m, r, 500, "cannot store: %s", ibex_diag_format(&diag, st, buf, sizeof buf));
    const char *lib = note;
    atomic_fetch_add(dup ? &S->duplicates : &S->accepted, 1);
    return ibex__srv_json(S, c, m, r, dup ? 200 : 201,
                     json_pack("{s:I, s:s, s:s, s:b, s:s}", "seq", (json_int_t)seq, "sha256", hex,
                               "signer", signer->name, "duplicate", dup, "library", lib),
                     dup ? "duplicate" : "stored");
}

enum MHD_Result ibex__h_list(ibex_node_server *S, struct MHD_Connection *c, const char *m, request *r)
{
    const char *since_s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "since");
    const char *limit_s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
    uint64_t since = 0, limit = LIST_DEFAULT;
    if (since_s && !ibex__parse_u64(since_s, &since)) return ibex__srv_error(S, c, m, r, 400, "since must be a cursor (a whole number)");
    if (limit_s && (!ibex__parse_u64(limit_s, &limit) || limit == 0 || limit > LIST_MAX))
        return ibex__srv_error(S, c, m, r, 400, "limit must be 1..%d", LIST_MAX);
    ibex__spool_entry *e = malloc((size_t)limit * sizeof *e);
    if (!e) return ibex__srv_error(S, c, m, r, 503, "out of memory");
    int more = 0;
    size_t k = ibex__spool_list(S->spool, since, e, (size_t)limit, &more);
    json_t *items = json_array();
    for (size_t i = 0; i < k; i++) {
        char hex[65];
        sodium_bin2hex(hex, sizeof hex, e[i].sha256, 32);
        json_array_append_new(items, json_pack("{s:I, s:s, s:I}", "seq", (json_int_t)e[i].seq, "sha256",
                                               hex, "size", (json_int_t)e[i].size));
    }
    uint64_t next = k ? e[k - 1].seq : since;
    free(e);
    return ibex__srv_json(S, c, m, r, 200,
                     json_pack("{s:o, s:I, s:b}", "items", items, "next", (json_int_t)next, "more", more),
                     NULL);
}

enum MHD_Result ibex__h_get(ibex_node_server *S, struct MHD_Connection *c, const char *m, request *r,
                             const char *seq_s)
{
    uint64_t seq;
    if (!ibex__parse_u64(seq_s, &seq) || seq == 0) return ibex__srv_error(S, c, m, r, 400, "bad package number");
    ibex__spool_entry e;
    int fd = -1;
    ibex_diag diag;
    if (ibex__spool_open_fd(S->spool, seq, &fd, &e, &diag))
        return ibex__srv_error(S, c, m, r, 404, "no package %" PRIu64, seq);
    /* Streamed from the file: serving a package costs no body memory. */
    struct MHD_Response *resp = MHD_create_response_from_fd64(e.size, fd);
    if (!resp) {
        close(fd);
        return MHD_NO;
    }
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, e.sha256, 32);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
    MHD_add_response_header(resp, "X-Ibex-Sha256", hex);
    enum MHD_Result ret = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    r->responded = 1;
    ibex__srv_log(S, c, m, r, 200, "package sent");
    return ret;
}

