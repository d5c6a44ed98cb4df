/* The node's HTTP server (libmicrohttpd, thread pool). Every request is authenticated
 * (node/auth.c, docs/reference/node.md) before its handler runs; handlers use the public API. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libxml/parser.h>
#include <limits.h>
#include <openssl/evp.h>
#include <microhttpd.h>
#include <sodium.h>

#include "ibex/ibex.h"
#include "ibex/node.h"
#include "exchange_internal.h"
#include "ibex_internal.h"
#include "node_internal.h"

#define MAX_TARGET 4096
#define LIST_DEFAULT 100
#define LIST_MAX 1000

struct ibex_node_server {
    struct MHD_Daemon *d;
    ibex_node_key *key;
    ibex_trust *trust;
    ibex__spool *spool;
    ibex__nonce_cache *nonces;
    char *tls_cert, *tls_key; /* PEM text; MHD keeps pointers to it */
    char *lib_path;
    ibex_node_store_fn store;
    ibex_node_query_fn query;
    void *library_user;
    pthread_mutex_t lib_lock; /* held by one store or one query at a time (see local_query) */
    unsigned max_shortlist, fanout, peer_timeout, max_hops;
    char *peer_ca;
    ibex__nonce_cache *query_ids; /* queries seen lately: a forwarding loop ends here */
    size_t max_body, max_memory;
    int max_skew;
    FILE *log;
    pthread_mutex_t log_lock;
    time_t started;
    atomic_size_t mem_in_use;
    atomic_ullong requests, refused_auth, refused_size, refused_busy, accepted, duplicates,
        refused_packages, lib_stored, lib_skipped, lib_refused, queries, queries_seen, forwarded;
};

typedef struct request {
    char target[MAX_TARGET + 1]; /* as sent: path and query */
    int target_too_long;
    int started, too_large, over_memory, responded;
    unsigned char *body;
    size_t n, cap, reserved;
    ibex__sha256_ctx *h; /* body hash, fed as the body arrives */
    const ibex_peer *peer;
    char node[IBEX_NODE_NAME_MAX + 1], ts[24], nonce[33];
    unsigned char sig[64];
} request;

/* ---- memory budget: all request bodies held at once ---- */
static int reserve(ibex_node_server *S, request *r, size_t more)
{
    size_t cur = atomic_load(&S->mem_in_use);
    do {
        if (cur + more > S->max_memory || cur + more < cur) return 0;
    } while (!atomic_compare_exchange_weak(&S->mem_in_use, &cur, cur + more));
    r->reserved += more;
    return 1;
}

static void release(ibex_node_server *S, request *r)
{
    atomic_fetch_sub(&S->mem_in_use, r->reserved);
    r->reserved = 0;
    free(r->body);
    r->body = NULL;
    r->n = r->cap = 0;
}

/* ---- logging ---- */
static void log_request(ibex_node_server *S, struct MHD_Connection *c, const char *method,
                        const request *r, unsigned status, const char *why)
{
    if (!S->log) return;
    char when[32], ip[INET6_ADDRSTRLEN] = "?";
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, ip, sizeof ip);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, ip, sizeof ip);
    }
    pthread_mutex_lock(&S->log_lock);
    fprintf(S->log, "%s %s %u %s %.200s node=%s bytes=%zu%s%s\n", when, ip, status, method,
            r ? r->target : "?", r && r->node[0] ? r->node : "-", r ? r->n : (size_t)0,
            why ? " : " : "", why ? why : "");
    fflush(S->log);
    pthread_mutex_unlock(&S->log_lock);
}

/* ---- responses ---- */
static enum MHD_Result send_json(ibex_node_server *S, struct MHD_Connection *c, const char *method,
                                 request *r, unsigned status, json_t *j, const char *why)
{
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!text) return MHD_NO;
    size_t len = strlen(text);
    r->responded = 1;
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    log_request(S, c, method, r, status, why);
    return ret;
}

static enum MHD_Result send_error(ibex_node_server *S, struct MHD_Connection *c, const char *method,
                                  request *r, unsigned status, const char *fmt, ...)
    IBEX__PRINTF(6, 7);
static enum MHD_Result send_error(ibex_node_server *S, struct MHD_Connection *c, const char *method,
                                  request *r, unsigned status, const char *fmt, ...)
{
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (status == 401 || status == 403) atomic_fetch_add(&S->refused_auth, 1);
    if (status == 413) atomic_fetch_add(&S->refused_size, 1);
    if (status == 503) atomic_fetch_add(&S->refused_busy, 1);
    return send_json(S, c, method, r, status, json_pack("{s:s, s:i}", "error", msg, "status", (int)status), msg);
}

/* ---- authentication ---- */
static int lower_hex(const char *s, size_t n)
{
    if (!s || strlen(s) != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

static int parse_u64(const char *s, uint64_t *v)
{
    if (!s || !*s || strlen(s) > 19) return 0;
    uint64_t x = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return 0;
        x = x * 10 + (uint64_t)(*s - '0');
    }
    *v = x;
    return 1;
}

typedef struct length_headers {
    const char *first;
    int differ;
} length_headers;

static enum MHD_Result on_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    length_headers *lh = cls;
    if (!key || strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) != 0) return MHD_YES;
    if (!value) value = "";
    if (!lh->first) lh->first = value;
    else if (strcmp(lh->first, value) != 0) lh->differ = 1;
    return MHD_YES;
}

/* First call: headers only. Refuse early what needs no body to refuse. */
static enum MHD_Result begin(ibex_node_server *S, struct MHD_Connection *c, const char *method, request *r)
{
    atomic_fetch_add(&S->requests, 1);
    if (r->target_too_long) return send_error(S, c, method, r, 414, "request target over %d bytes", MAX_TARGET);
    /* Content-Length headers that disagree leave the body's end unknown, and a proxy in front
     * may have framed it by the other one (request smuggling): RFC 9112 section 6.3 makes the
     * request invalid. libmicrohttpd keeps every header line, so they are all compared here. */
    length_headers lh = {NULL, 0};
    MHD_get_connection_values(c, MHD_HEADER_KIND, on_header, &lh);
    if (lh.differ) return send_error(S, c, method, r, 400, "conflicting Content-Length headers");
    const char *node = MHD_lookup_connection_value(c, MHD_HEADER_KIND, IBEX_HDR_NODE);
    const char *ts = MHD_lookup_connection_value(c, MHD_HEADER_KIND, IBEX_HDR_TIMESTAMP);
    const char *nonce = MHD_lookup_connection_value(c, MHD_HEADER_KIND, IBEX_HDR_NONCE);
    const char *sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND, IBEX_HDR_SIGNATURE);
    if (!node || !ts || !nonce || !sig)
        return send_error(S, c, method, r, 401, "unauthenticated: the %s, %s, %s and %s headers are required",
                          IBEX_HDR_NODE, IBEX_HDR_TIMESTAMP, IBEX_HDR_NONCE, IBEX_HDR_SIGNATURE);
    snprintf(r->node, sizeof r->node, "%s", node);
    r->peer = ibex_trust_find_name(S->trust, node);
    if (!r->peer || strlen(node) > IBEX_NODE_NAME_MAX)
        return send_error(S, c, method, r, 401, "unknown node '%.64s': not in this node's peer list", node);
    uint64_t t;
    if (!parse_u64(ts, &t) || !lower_hex(nonce, 32) || !lower_hex(sig, 128))
        return send_error(S, c, method, r, 401, "malformed authentication headers");
    snprintf(r->ts, sizeof r->ts, "%s", ts);
    memcpy(r->nonce, nonce, 33);
    size_t got = 0;
    sodium_hex2bin(r->sig, 64, sig, 128, NULL, &got, NULL);
    long long skew = (long long)time(NULL) - (long long)t;
    if (skew > S->max_skew || skew < -S->max_skew)
        return send_error(S, c, method, r, 401, "timestamp is %lld s off this node's clock (limit %d s)",
                          skew, S->max_skew);
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    uint64_t len = 0;
    if (cl && !parse_u64(cl, &len)) return send_error(S, c, method, r, 400, "bad Content-Length");
    if (len > S->max_body)
        return send_error(S, c, method, r, 413, "body of %" PRIu64 " bytes is over the limit of %zu",
                          len, S->max_body);
    if (len) {
        if (!reserve(S, r, (size_t)len))
            return send_error(S, c, method, r, 503, "busy: request bodies in progress use the memory budget");
        if (!(r->body = malloc((size_t)len))) return send_error(S, c, method, r, 503, "out of memory");
        r->cap = (size_t)len;
    }
    if (!(r->h = ibex__sha256_begin())) return send_error(S, c, method, r, 503, "out of memory");
    return MHD_YES;
}

static void absorb(ibex_node_server *S, request *r, const char *data, size_t n)
{
    if (r->too_large || r->over_memory) return;
    if (n > S->max_body - r->n) {
        r->too_large = 1;
        release(S, r); /* the rest is discarded as it arrives */
        return;
    }
    if (r->n + n > r->cap) { /* chunked, or more than Content-Length said */
        size_t nc = r->cap ? r->cap : 65536;
        while (nc < r->n + n) nc *= 2;
        if (nc > S->max_body) nc = S->max_body;
        unsigned char *nb = reserve(S, r, nc - r->cap) ? realloc(r->body, nc) : NULL;
        if (!nb) {
            r->over_memory = 1;
            return;
        }
        r->body = nb;
        r->cap = nc;
    }
    memcpy(r->body + r->n, data, n);
    r->n += n;
    ibex__sha256_update(r->h, data, n);
}

/* Last call: the whole body is here; check the signature and the nonce. */
static enum MHD_Result authenticate(ibex_node_server *S, struct MHD_Connection *c, const char *method,
                                    request *r, int *ok)
{
    *ok = 0;
    if (r->too_large) return send_error(S, c, method, r, 413, "body is over the limit of %zu bytes", S->max_body);
    if (r->over_memory) return send_error(S, c, method, r, 503, "busy: memory budget for request bodies is in use");
    unsigned char h[32];
    ibex__sha256_end(r->h, h);
    r->h = NULL;
    char msg[MAX_TARGET + 512];
    size_t mn = ibex_node_auth_message(r->node, method, r->target, r->ts, r->nonce, h, msg, sizeof msg);
    if (!mn || !ibex_peer_verify(r->peer, msg, mn, r->sig))
        return send_error(S, c, method, r, 401,
                          "bad request signature: not signed by node '%s''s key, or method, target or "
                          "body altered", r->node);
    int fresh = ibex__nonce_check(S->nonces, r->node, r->nonce, time(NULL));
    if (fresh == 0) return send_error(S, c, method, r, 401, "replayed request: nonce already used");
    if (fresh < 0) return send_error(S, c, method, r, 503, "busy: replay table full, retry later");
    *ok = 1;
    return MHD_YES;
}

/* ---- handlers ---- */
static enum MHD_Result h_health(ibex_node_server *S, struct MHD_Connection *c, const char *m, request *r)
{
    return send_json(S, c, m, r, 200,
                     json_pack("{s:s, s:s, s:s, s:I}", "status", "ok", "node", ibex_node_key_name(S->key),
                               "version", IBEX_VERSION_STRING, "time", (json_int_t)time(NULL)),
                     NULL);
}

static enum MHD_Result h_stats(ibex_node_server *S, struct MHD_Connection *c, const char *m, request *r)
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
    return send_json(S, c, m, r, 200, j, NULL);
}

/* Verify a package from a request; on failure the response is already queued. */
static enum MHD_Result check_package(ibex_node_server *S, struct MHD_Connection *c, const char *m,
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
    return send_error(S, c, m, r, code, "package refused: %s", msg);
}

/* HTTP status for a refusal by the library code: its input was refused, or it failed. */
static unsigned library_status(ibex_status st)
{
    return st == IBEX_ERR_NOMEM || st == IBEX_ERR_LIMIT ? 503 : st == IBEX_ERR_IO ? 500 : 422;
}

/* Push: verify, then the library (when plugged in; it refuses what it cannot hold, such as
 * other preprocessing parameters, before anything is stored), then the spool. A crash
 * between the two leaves the specimen in the library only; the pusher's retry finds it
 * there (skipped) and spools the package. */
static enum MHD_Result h_push(ibex_node_server *S, struct MHD_Connection *c, const char *m, request *r)
{
    const ibex_peer *signer = NULL;
    int ok;
    enum MHD_Result ret = check_package(S, c, m, r, r->body, r->n, &signer, &ok);
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
            return send_error(S, c, m, r, library_status(ls), "not stored: %s",
                              ibex_diag_format(&diag, ls, buf, sizeof buf));
        }
        atomic_fetch_add(strncmp(note, "skipped", 7) == 0 ? &S->lib_skipped : &S->lib_stored, 1);
    }
    ibex_status st = ibex__spool_put(S->spool, r->body, r->n, &seq, &dup, &diag);
    if (st) return send_error(S, c, m, r, 500, "cannot store: %s", ibex_diag_format(&diag, st, buf, sizeof buf));
    const char *lib = note;
    atomic_fetch_add(dup ? &S->duplicates : &S->accepted, 1);
    return send_json(S, c, m, r, dup ? 200 : 201,
                     json_pack("{s:I, s:s, s:s, s:b, s:s}", "seq", (json_int_t)seq, "sha256", hex,
                               "signer", signer->name, "duplicate", dup, "library", lib),
                     dup ? "duplicate" : "stored");
}

static enum MHD_Result h_list(ibex_node_server *S, struct MHD_Connection *c, const char *m, request *r)
{
    const char *since_s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "since");
    const char *limit_s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
    uint64_t since = 0, limit = LIST_DEFAULT;
    if (since_s && !parse_u64(since_s, &since)) return send_error(S, c, m, r, 400, "since must be a cursor (a whole number)");
    if (limit_s && (!parse_u64(limit_s, &limit) || limit == 0 || limit > LIST_MAX))
        return send_error(S, c, m, r, 400, "limit must be 1..%d", LIST_MAX);
    ibex__spool_entry *e = malloc((size_t)limit * sizeof *e);
    if (!e) return send_error(S, c, m, r, 503, "out of memory");
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
    return send_json(S, c, m, r, 200,
                     json_pack("{s:o, s:I, s:b}", "items", items, "next", (json_int_t)next, "more", more),
                     NULL);
}

static enum MHD_Result h_get(ibex_node_server *S, struct MHD_Connection *c, const char *m, request *r,
                             const char *seq_s)
{
    uint64_t seq;
    if (!parse_u64(seq_s, &seq) || seq == 0) return send_error(S, c, m, r, 400, "bad package number");
    ibex__spool_entry e;
    int fd = -1;
    ibex_diag diag;
    if (ibex__spool_open_fd(S->spool, seq, &fd, &e, &diag))
        return send_error(S, c, m, r, 404, "no package %" PRIu64, seq);
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
    log_request(S, c, m, r, 200, "package sent");
    return ret;
}

/* An optional integer member in [lo, hi]; 0 when present and out of range or not an integer. */
static int opt_int(json_t *j, const char *key, long long lo, long long hi, long long *v)
{
    json_t *x = json_object_get(j, key);
    if (!x) return 1;
    if (!json_is_integer(x) || json_integer_value(x) < lo || json_integer_value(x) > hi) return 0;
    *v = json_integer_value(x);
    return 1;
}

typedef struct fctx {
    ibex_node_server *S;
    ibex__forward *fw;
    size_t nf;
    const char *body;
    long budget;
} fctx;

static void *forward_thread(void *arg)
{
    fctx *f = arg;
    ibex__forward_all(f->fw, f->nf, f->S->key, f->body, strlen(f->body), f->budget, f->S->peer_ca);
    return NULL;
}

/* The local search, under the library lock. *out: its answer, or NULL with msg. */
static ibex_status local_query(ibex_node_server *S, const unsigned char *d, size_t n, unsigned top,
                               unsigned shortlist, json_t **out, char *msg, size_t msg_size)
{
    *out = NULL;
    if (!S->query) {
        snprintf(msg, msg_size, "this node has no reference library to query");
        return IBEX_ERR_UNSUPPORTED;
    }
    ibex_diag diag;
    memset(&diag, 0, sizeof diag);
    char *text = NULL;
    /* Exclusive, like a store: each query opens the library file, and HDF5 shares one open
     * file between the handles of a process (closing one closes the other's objects), so two
     * handles on the library must not overlap. Stage 2 of the query runs in parallel instead
     * (--query-threads). */
    pthread_mutex_lock(&S->lib_lock);
    ibex_status st = S->query(S->library_user, d, n, top, shortlist, &text, &diag);
    pthread_mutex_unlock(&S->lib_lock);
    json_error_t je;
    if (!st && !(*out = text ? json_loads(text, 0, &je) : NULL)) {
        st = IBEX_ERR_FORMAT;
        snprintf(diag.message, sizeof diag.message, "the library query gave no JSON answer");
        memset(diag.file, 0, sizeof diag.file);
    }
    free(text);
    if (st) ibex_diag_format(&diag, st, msg, msg_size);
    return st;
}

/* POST /v1/query: {"package": BASE64, "top", "shortlist", "federate", "hops", "query_id",
 * "deadline_s"} (docs/reference/node.md). The package is verified like a push; then the local library is
 * searched and, with "federate", the query goes on to the peers with URLs (at most fanout,
 * not the caller, hops - 1 left) and the ranked lists are merged. */
static enum MHD_Result h_query(ibex_node_server *S, struct MHD_Connection *c, const char *m, request *r)
{
    json_error_t je;
    json_t *j = json_loadb((const char *)r->body, r->n, JSON_REJECT_DUPLICATES, &je);
    if (!j) return send_error(S, c, m, r, 400, "body is not JSON: %s (line %d)", je.text, je.line);
    json_t *pkg = json_object_get(j, "package"), *fed = json_object_get(j, "federate"),
           *qid = json_object_get(j, "query_id");
    long long top = 10, shortlist = S->max_shortlist < 5 ? S->max_shortlist : 5, hops = 1, deadline = S->peer_timeout;
    if (!json_is_object(j) || !json_is_string(pkg) || !opt_int(j, "top", 1, 1000, &top) ||
        !opt_int(j, "shortlist", 0, S->max_shortlist, &shortlist) || !opt_int(j, "hops", 0, S->max_hops, &hops) ||
        !opt_int(j, "deadline_s", 1, 3600, &deadline) || (fed && !json_is_boolean(fed)) ||
        (qid && !lower_hex(json_string_value(qid), 32))) {
        json_decref(j);
        return send_error(S, c, m, r, 400,
                          "body must be {\"package\": BASE64_OF_A_SIGNED_PACKAGE} with optional \"top\": 1..1000, "
                          "\"shortlist\": 0..%u, \"federate\": bool, \"hops\": 0..%u, \"query_id\": 32 hex digits, "
                          "\"deadline_s\": 1..3600",
                          S->max_shortlist, S->max_hops);
    }
    int federate = json_is_true(fed);
    char id[33];
    if (qid) {
        memcpy(id, json_string_value(qid), 33);
    } else {
        unsigned char rnd[16];
        randombytes_buf(rnd, sizeof rnd);
        sodium_bin2hex(id, sizeof id, rnd, sizeof rnd);
    }
    const char *b64 = json_string_value(pkg);
    size_t b64n = json_string_length(pkg), n = 0;
    /* Standard base64 with padding, no line breaks (RFC 4648 section 4). OpenSSL's decoder:
     * libsodium's constant-time one took a sixth of the server's time on 1 MB packages. */
    unsigned char *d = b64n % 4 == 0 ? malloc(b64n / 4 * 3 + 1) : NULL;
    int len = d && b64n <= INT_MAX ? EVP_DecodeBlock(d, (const unsigned char *)b64, (int)b64n) : -1;
    if (len >= 0) {
        size_t pad = (b64n >= 1 && b64[b64n - 1] == '=') + (b64n >= 2 && b64[b64n - 2] == '=');
        n = (size_t)len - pad;
    }
    if (len < 0 || b64n == 0) {
        json_decref(j);
        free(d);
        return send_error(S, c, m, r, 400, "package is not valid base64");
    }
    const ibex_peer *signer;
    int ok;
    enum MHD_Result ret = check_package(S, c, m, r, d, n, &signer, &ok);
    if (!ok) {
        json_decref(j);
        free(d);
        return ret;
    }
    atomic_fetch_add(&S->queries, 1);
    const char *self = ibex_node_key_name(S->key);
    /* A query id seen before means a forwarding loop (or a retry): nothing new to add. */
    int fresh = ibex__nonce_check(S->query_ids, "query", id, time(NULL));
    if (fresh <= 0) {
        json_decref(j);
        free(d);
        if (fresh < 0) return send_error(S, c, m, r, 503, "busy: too many queries in flight");
        atomic_fetch_add(&S->queries_seen, 1);
        return send_json(S, c, m, r, 200,
                         json_pack("{s:s, s:s, s:b, s:[], s:[]}", "node", self, "query_id", id, "seen", 1,
                                   "candidates", "nodes"),
                         "query seen before");
    }
    /* Peers to ask: those with a URL, not this node, not the caller; at most fanout. */
    ibex__forward *fw = NULL;
    size_t nf = 0;
    char *fbody = NULL;
    long budget = deadline < (long long)S->peer_timeout ? (long)deadline : (long)S->peer_timeout;
    if (federate && hops > 0 && budget > 2) {
        size_t np = ibex_trust_count(S->trust);
        fw = calloc(np ? np : 1, sizeof *fw);
        for (size_t i = 0; fw && i < np && nf < S->fanout; i++) {
            const ibex_peer *p = ibex_trust_get(S->trust, i);
            if (!p->url || !strcmp(p->name, self) || !strcmp(p->name, r->node)) continue;
            fw[nf++].peer = p;
        }
        json_t *fj = json_pack("{s:O, s:I, s:I, s:b, s:I, s:s, s:I}", "package", pkg, "top", (json_int_t)top,
                               "shortlist", (json_int_t)shortlist, "federate", 1, "hops", (json_int_t)(hops - 1),
                               "query_id", id, "deadline_s", (json_int_t)(budget - 2));
        fbody = fj ? json_dumps(fj, JSON_COMPACT) : NULL;
        json_decref(fj);
        if (!fbody) nf = 0;
    }
    json_decref(j);
    /* Forward first (threads), search here meanwhile, then merge. */
    fctx fc = {S, fw, nf, fbody, budget};
    pthread_t fth;
    int fstarted = 0;
    if (nf) {
        fstarted = pthread_create(&fth, NULL, forward_thread, &fc) == 0;
        if (fstarted) atomic_fetch_add(&S->forwarded, nf);
    }
    char lmsg[1100] = "";
    json_t *local = NULL;
    ibex_status lst = local_query(S, d, n, (unsigned)top, (unsigned)shortlist, &local, lmsg, sizeof lmsg);
    free(d);
    if (nf && !fstarted) {
        forward_thread(&fc);
        atomic_fetch_add(&S->forwarded, nf);
    }
    if (fstarted) pthread_join(fth, NULL);
    free(fbody);
    if (!federate && lst) {
        free(fw);
        return send_error(S, c, m, r, lst == IBEX_ERR_UNSUPPORTED ? 501 : library_status(lst), "query: %s", lmsg);
    }
    json_t *nodes = json_array();
    json_t *le = json_pack("{s:s, s:i}", "node", self, "status", lst ? (int)library_status(lst) : 200);
    if (lst) json_object_set_new(le, "error", json_string(lmsg));
    else json_object_set_new(le, "candidates", json_integer((json_int_t)json_array_size(json_object_get(local, "candidates"))));
    json_array_append_new(nodes, le);
    json_t *merged = ibex__federate_merge(local, self, fw, nf, (size_t)top, nodes);
    ibex__forward_clear(fw, nf);
    free(fw);
    if (!merged) {
        json_decref(local);
        json_decref(nodes);
        return send_error(S, c, m, r, 503, "out of memory");
    }
    json_t *out = json_pack("{s:s, s:s, s:I, s:o, s:o}", "node", self, "query_id", id, "hops", (json_int_t)hops,
                            "candidates", merged, "nodes", nodes);
    json_t *kind = json_object_get(local, "kind");
    if (kind) json_object_set(out, "kind", kind);
    json_decref(local);
    return send_json(S, c, m, r, 200, out, federate ? "federated query" : "query");
}

static enum MHD_Result route(ibex_node_server *S, struct MHD_Connection *c, const char *url,
                             const char *m, request *r)
{
    int get = strcmp(m, "GET") == 0, post = strcmp(m, "POST") == 0;
    if (strcmp(url, "/v1/health") == 0) return get ? h_health(S, c, m, r) : send_error(S, c, m, r, 405, "use GET");
    if (strcmp(url, "/v1/stats") == 0) return get ? h_stats(S, c, m, r) : send_error(S, c, m, r, 405, "use GET");
    if (strcmp(url, "/v1/specimens") == 0) {
        if (post) return h_push(S, c, m, r);
        if (get) return h_list(S, c, m, r);
        return send_error(S, c, m, r, 405, "use GET or POST");
    }
    if (strncmp(url, "/v1/specimens/", 14) == 0)
        return get ? h_get(S, c, m, r, url + 14) : send_error(S, c, m, r, 405, "use GET");
    if (strcmp(url, "/v1/query") == 0) return post ? h_query(S, c, m, r) : send_error(S, c, m, r, 405, "use POST");
    return send_error(S, c, m, r, 404, "no such endpoint");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    ibex_node_server *S = cls;
    request *r = *con_cls;
    if (!r) return MHD_NO; /* the URI callback could not allocate: drop the connection */
    if (!r->started) {
        r->started = 1;
        return begin(S, c, method, r);
    }
    if (r->responded) { /* refused before the body: discard what still arrives */
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        absorb(S, r, upload_data, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    int ok;
    enum MHD_Result ret = authenticate(S, c, method, r, &ok);
    if (!ok) return ret;
    ret = route(S, c, url, method, r);
    release(S, r);
    return ret;
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls;
    (void)c;
    request *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    size_t n = strlen(uri);
    if (n > MAX_TARGET) r->target_too_long = 1;
    else memcpy(r->target, uri, n + 1);
    return r;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)c;
    (void)toe;
    request *r = *con_cls;
    if (!r) return;
    release(cls, r);
    ibex__sha256_free(r->h);
    free(r);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fm, va_list ap)
{
    ibex_node_server *S = cls;
    if (!S->log) return;
    pthread_mutex_lock(&S->log_lock);
    fputs("libmicrohttpd: ", S->log);
    vfprintf(S->log, fm, ap);
    fflush(S->log);
    pthread_mutex_unlock(&S->log_lock);
}

/* ---- setup ---- */
void ibex_node_server_opts_init(ibex_node_server_opts *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->listen = "127.0.0.1:8470";
    o->max_body = IBEX_NODE_DEFAULT_MAX_BODY;
    o->max_memory = (size_t)512 << 20;
    o->threads = 4;
    o->max_connections = 256;
    o->timeout_s = 30;
    o->max_skew_s = IBEX_NODE_MAX_SKEW;
    o->nonce_capacity = (size_t)1 << 20;
    o->log = stderr;
    o->max_shortlist = 10;
    o->fanout = 8;
    o->peer_timeout_s = 60;
    o->max_hops = 2;
}

static int parse_listen(const char *s, struct sockaddr_storage *ss, int *v6)
{
    char host[128];
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof host) return 0;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    uint64_t port;
    if (!parse_u64(colon + 1, &port) || port > 65535) return 0;
    memset(ss, 0, sizeof *ss);
    if (host[0] == '[') {
        size_t hl = strlen(host);
        if (hl < 3 || host[hl - 1] != ']') return 0;
        host[hl - 1] = '\0';
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        *v6 = 1;
        return inet_pton(AF_INET6, host + 1, &a->sin6_addr) == 1;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    *v6 = 0;
    if (strcmp(host, "localhost") == 0) strcpy(host, "127.0.0.1");
    return inet_pton(AF_INET, host, &a->sin_addr) == 1;
}

void ibex_node_server_free(ibex_node_server *S)
{
    if (!S) return;
    if (S->d) MHD_stop_daemon(S->d);
    ibex_node_key_free(S->key);
    ibex_trust_free(S->trust);
    ibex__spool_free(S->spool);
    ibex__nonce_free(S->nonces);
    ibex__nonce_free(S->query_ids);
    pthread_mutex_destroy(&S->lib_lock);
    free(S->peer_ca);
    free(S->tls_cert);
    if (S->tls_key) {
        sodium_memzero(S->tls_key, strlen(S->tls_key));
        free(S->tls_key);
    }
    free(S->lib_path);
    pthread_mutex_destroy(&S->log_lock);
    free(S);
}

ibex_status ibex_node_server_create(const ibex_node_server_opts *o, ibex_node_server **out,
                                    ibex_diag *diag)
{
    ibex_node_server_opts oo;
    ibex_node_server_opts_init(&oo);
    if (o && !ibex__opts_merge(&oo, sizeof oo, o)) return ibex__opts_refused(diag, "ibex_node_server_opts");
    o = o ? &oo : NULL;
    if (!o || !out || !o->key_path || !o->peers_path || !o->spool_dir || !o->listen)
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "the server needs a key, a peer list, a spool and an address");
    if (o->threads == 0 || o->max_connections == 0 || o->max_body == 0 || o->max_memory < o->max_body ||
        o->max_skew_s <= 0 || o->nonce_capacity == 0)
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "server limits must be positive (and memory >= body limit)");
    if (!o->tls_cert != !o->tls_key)
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "TLS needs both a certificate and a key");
    struct sockaddr_storage ss;
    int v6 = 0;
    if (!parse_listen(o->listen, &ss, &v6))
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "listen address '%s' is not HOST:PORT (IPv4, localhost or [IPv6])", o->listen);
    if (sodium_init() < 0) return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, "libsodium failed to initialise");
    ibex_node_server *S = calloc(1, sizeof *S);
    if (!S) return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    pthread_mutex_init(&S->log_lock, NULL);
    S->max_body = o->max_body;
    S->max_memory = o->max_memory;
    S->store = o->store;
    S->query = o->query;
    S->library_user = o->library_user;
    S->max_shortlist = o->max_shortlist ? o->max_shortlist : 1;
    S->fanout = o->fanout;
    S->peer_timeout = o->peer_timeout_s ? o->peer_timeout_s : 1;
    S->max_hops = o->max_hops;
    pthread_mutex_init(&S->lib_lock, NULL);
    S->max_skew = o->max_skew_s;
    S->log = o->log;
    S->started = time(NULL);
    ibex_status st;
    size_t tn;
    if ((st = ibex_node_key_read(o->key_path, &S->key, diag)) || (st = ibex_trust_read(o->peers_path, &S->trust, diag)) ||
        (st = ibex__spool_open(o->spool_dir, &S->spool, diag)))
        goto fail;
    if (o->lib_path && !(S->lib_path = ibex__strdup(o->lib_path))) {
        st = ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
        goto fail;
    }
    /* A nonce must outlive every timestamp that would still be accepted with it. */
    if (o->peer_ca && !(S->peer_ca = ibex__strdup(o->peer_ca))) {
        st = ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
        goto fail;
    }
    /* Query ids are remembered for longer than any forwarded query may take. */
    if (!(S->query_ids = ibex__nonce_create(65536, 2 * (int)S->peer_timeout + 60)) ||
        !(S->nonces = ibex__nonce_create(o->nonce_capacity, 2 * o->max_skew_s + 1))) {
        st = ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "cannot allocate the replay table");
        goto fail;
    }
    /* Handlers read X3P (libxml2) on pool threads: libxml2 wants its one-time setup done
     * before threads use it. */
    xmlInitParser();
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    if (o->tls_cert) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            st = ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, "this libmicrohttpd has no TLS: use a reverse proxy");
            goto fail;
        }
        if ((st = ibex__read_text_file(o->tls_cert, 1 << 20, &S->tls_cert, &tn, diag)) ||
            (st = ibex__read_text_file(o->tls_key, 1 << 20, &S->tls_key, &tn, diag)))
            goto fail;
        flags |= MHD_USE_TLS;
    }
    S->d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, S, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, S,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)o->threads, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)o->max_connections, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024), MHD_OPTION_URI_LOG_CALLBACK, on_uri,
        S, MHD_OPTION_NOTIFY_COMPLETED, on_completed, S,
        o->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, S->tls_cert,
        MHD_OPTION_HTTPS_MEM_KEY, S->tls_key, MHD_OPTION_END);
    if (!S->d) {
        st = ibex__fail(diag, IBEX_ERR_IO, "", -1, "cannot listen on %s (address in use, or not this machine's?)", o->listen);
        goto fail;
    }
    *out = S;
    return IBEX_OK;
fail:
    ibex_node_server_free(S);
    return st;
}

unsigned ibex_node_server_port(const ibex_node_server *S)
{
    const union MHD_DaemonInfo *i = S && S->d ? MHD_get_daemon_info(S->d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    return i ? i->port : 0;
}
