/* The node's HTTP server (libmicrohttpd, thread pool). Every request but GET /v1/hello is
 * authenticated from its headers alone (node/request.c, docs/reference/node.md) before the
 * node reserves memory for its body or reads it; the body must then match the signed length
 * and hash. Handlers (node/server_handlers.c, node/server_query.c) use the public API. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <sodium.h>

#include "ibex/ibex.h"
#include "ibex_internal.h"
#include "http_internal.h"
#include "server_internal.h"

#define MAX_HEADERS 128

int ibex__lower_hex(const char *s, size_t n)
{
    if (!s || strlen(s) != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

/* ---- memory budgets: all request bodies held at once, and each peer's ---- */
static int reserve(ibex_node_server *S, request *r, size_t more)
{
    atomic_size_t *pm = &S->peer_mem[r->peer_index];
    size_t cur = atomic_load(pm);
    do {
        if (cur + more > S->max_peer_memory || cur + more < cur) return 0;
    } while (!atomic_compare_exchange_weak(pm, &cur, cur + more));
    cur = atomic_load(&S->mem_in_use);
    do {
        if (cur + more > S->max_memory || cur + more < cur) {
            atomic_fetch_sub(pm, more);
            return 0;
        }
    } while (!atomic_compare_exchange_weak(&S->mem_in_use, &cur, cur + more));
    r->reserved += more;
    return 1;
}

void ibex__srv_release(ibex_node_server *S, request *r)
{
    if (r->reserved) {
        atomic_fetch_sub(&S->mem_in_use, r->reserved);
        atomic_fetch_sub(&S->peer_mem[r->peer_index], r->reserved);
    }
    r->reserved = 0;
    free(r->body);
    r->body = NULL;
    r->n = r->cap = 0;
}

/* ---- logging ---- */
static void log_line(ibex_node_server *S, const char *fmt, ...) IBEX__PRINTF(2, 3);
static void log_line(ibex_node_server *S, const char *fmt, ...)
{
    if (!S->log) return;
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&S->log_lock);
    fprintf(S->log, "%s ", when);
    vfprintf(S->log, fmt, ap);
    fputc('\n', S->log);
    fflush(S->log);
    pthread_mutex_unlock(&S->log_lock);
    va_end(ap);
}

void ibex__srv_log(ibex_node_server *S, struct MHD_Connection *c, const char *method, const request *r,
                   unsigned status, const char *why)
{
    if (!S->log) return;
    char ip[INET6_ADDRSTRLEN];
    ibex__http_client_ip(c, ip);
    log_line(S, "%s %u %s %.200s node=%s bytes=%zu%s%s", ip, status, method, r ? r->target : "?",
             r && r->a.node[0] ? r->a.node : "-", r ? r->n : (size_t)0, why ? " : " : "", why ? why : "");
}

/* ---- responses ---- */
enum MHD_Result ibex__srv_json(ibex_node_server *S, struct MHD_Connection *c, const char *method, request *r,
                               unsigned status, json_t *j, const char *why)
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
    ibex__srv_log(S, c, method, r, status, why);
    return ret;
}

json_t *ibex__srv_error_json(ibex_node_server *S, unsigned status, const char *msg)
{
    if (status == 401 || status == 403) atomic_fetch_add(&S->refused_auth, 1);
    if (status == 413) atomic_fetch_add(&S->refused_size, 1);
    if (status == 503) atomic_fetch_add(&S->refused_busy, 1);
    return json_pack("{s:s, s:i}", "error", msg, "status", (int)status);
}

enum MHD_Result ibex__srv_error(ibex_node_server *S, struct MHD_Connection *c, const char *method, request *r,
                                unsigned status, const char *fmt, ...)
{
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ibex__srv_json(S, c, method, r, status, ibex__srv_error_json(S, status, msg), msg);
}

/* ---- authentication, from the headers ---- */
typedef struct header_list {
    ibex__header h[MAX_HEADERS];
    size_t n;
    int overflow;
} header_list;

static enum MHD_Result on_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    header_list *l = cls;
    if (l->n == MAX_HEADERS) {
        l->overflow = 1;
        return MHD_NO;
    }
    l->h[l->n++] = (ibex__header){key, value};
    return MHD_YES;
}

static size_t peer_index(const ibex_node_server *S, const ibex_peer *p)
{
    for (size_t i = 0; i < S->npeers; i++)
        if (ibex_trust_get(S->trust, i) == p) return i;
    return 0;
}

/* First call: headers only. Everything that can be refused without the body is refused
 * here, the signature included, before a byte of body memory is reserved. */
static enum MHD_Result begin(ibex_node_server *S, struct MHD_Connection *c, const char *url, const char *method,
                             request *r)
{
    atomic_fetch_add(&S->requests, 1);
    /* The headers are in: what follows is bounded by the body's deadline (below), then by the
     * handler's own work and libmicrohttpd's idle timeout while the answer goes out (a slow
     * store or a rate-limited download must not be cut off). */
    ibex__conns_deadline(S->conns, r->conn, 0, NULL);
    if (r->target_too_long) return ibex__srv_error(S, c, method, r, 414, "request target over %d bytes", MAX_TARGET);
    if (strcmp(url, "/v1/hello") == 0)
        return strcmp(method, "GET") == 0 ? ibex__h_hello(S, c, method, r)
                                          : ibex__srv_error(S, c, method, r, 405, "use GET");
    header_list hl;
    hl.n = 0;
    hl.overflow = 0;
    MHD_get_connection_values(c, MHD_HEADER_KIND, on_header, &hl);
    if (hl.overflow) return ibex__srv_error(S, c, method, r, 431, "more than %d header lines", MAX_HEADERS);
    char why[300];
    unsigned bad = ibex__request_parse(hl.h, hl.n, &r->a, why, sizeof why);
    if (bad) return ibex__srv_error(S, c, method, r, bad, "%s", why);
    const char *self = ibex_node_key_name(S->key);
    r->peer = ibex_trust_find_name(S->trust, r->a.node);
    if (!r->peer)
        return ibex__srv_error(S, c, method, r, 401, "unknown node '%.64s': not in this node's peer list", r->a.node);
    r->peer_index = peer_index(S, r->peer);
    if (strcmp(r->a.to, self) != 0)
        return ibex__srv_error(S, c, method, r, 401, "request signed for node '%s'; this is '%s'", r->a.to, self);
    long long skew = (long long)time(NULL) - (long long)r->a.timestamp;
    if (r->a.timestamp > (uint64_t)LLONG_MAX || skew > S->max_skew || skew < -S->max_skew)
        return ibex__srv_error(S, c, method, r, 401, "timestamp is %lld s off this node's clock (limit %d s)", skew,
                               S->max_skew);
    char msg[MAX_TARGET + 512];
    size_t mn = ibex_node_auth_message(r->a.node, r->a.to, method, r->target, r->a.ts, r->a.nonce, r->a.length,
                                       r->a.body_hex, msg, sizeof msg);
    if (!mn || !ibex_peer_verify(r->peer, msg, mn, r->a.sig))
        return ibex__srv_error(S, c, method, r, 401,
                               "bad request signature: not signed by node '%s''s key, or method, target, "
                               "length or body hash altered",
                               r->a.node);
    if (r->a.length > S->max_body)
        return ibex__srv_error(S, c, method, r, 413, "body of %" PRIu64 " bytes is over the limit of %zu",
                               r->a.length, S->max_body);
    if (atomic_fetch_add(&S->peer_requests[r->peer_index], 1) >= S->max_peer_requests) {
        atomic_fetch_sub(&S->peer_requests[r->peer_index], 1);
        return ibex__srv_error(S, c, method, r, 503, "busy: node '%s' has %u requests in progress", r->a.node,
                               S->max_peer_requests);
    }
    r->counted = 1;
    switch (ibex__nonce_check(S->nonces, r->peer_index, r->a.node, r->a.nonce, time(NULL))) {
    case IBEX__NONCE_FRESH: break;
    case IBEX__NONCE_REPLAY: return ibex__srv_error(S, c, method, r, 401, "replayed request: nonce already used");
    case IBEX__NONCE_FULL:
        return ibex__srv_error(S, c, method, r, 503, "busy: node '%s' holds its share of the replay table, retry later",
                               r->a.node);
    default: return ibex__srv_error(S, c, method, r, 503, "cannot record the request's nonce (disk full?)");
    }
    if (r->a.length) {
        if (!reserve(S, r, (size_t)r->a.length))
            return ibex__srv_error(S, c, method, r, 503, "busy: request bodies in progress use the memory budget");
        if (!(r->body = malloc((size_t)r->a.length))) return ibex__srv_error(S, c, method, r, 503, "out of memory");
        r->cap = (size_t)r->a.length;
        /* The body, however slowly it comes, must come at min_body_rate after a grace time. */
        ibex__conns_deadline(S->conns, r->conn,
                             ibex__now() + S->header_timeout + (double)r->a.length / (double)S->min_body_rate,
                             "body arrived slower than the minimum rate");
    }
    if (!(r->h = ibex__sha256_begin())) return ibex__srv_error(S, c, method, r, 503, "out of memory");
    return MHD_YES;
}

static void absorb(request *r, const char *data, size_t n)
{
    if (r->too_long) return;
    if (n > r->cap - r->n) { /* more than the signed length (Content-Length frames the body) */
        r->too_long = 1;
        return;
    }
    memcpy(r->body + r->n, data, n);
    r->n += n;
    ibex__sha256_update(r->h, data, n);
}

/* Last call: the whole body is here; it must be what was signed. */
static enum MHD_Result check_body(ibex_node_server *S, struct MHD_Connection *c, const char *method, request *r,
                                  int *ok)
{
    *ok = 0;
    unsigned char h[32];
    ibex__sha256_end(r->h, h);
    r->h = NULL;
    if (r->too_long || r->n != r->a.length)
        return ibex__srv_error(S, c, method, r, 400, "body is not the %" PRIu64 " bytes that were signed", r->a.length);
    if (sodium_memcmp(h, r->a.body_sha256, 32) != 0)
        return ibex__srv_error(S, c, method, r, 401, "body altered: its SHA-256 is not the one that was signed");
    *ok = 1;
    return MHD_YES;
}

static enum MHD_Result route(ibex_node_server *S, struct MHD_Connection *c, const char *url,
                             const char *m, request *r)
{
    int get = strcmp(m, "GET") == 0, post = strcmp(m, "POST") == 0;
    if (strcmp(url, "/v1/health") == 0) return get ? ibex__h_health(S, c, m, r) : ibex__srv_error(S, c, m, r, 405, "use GET");
    if (strcmp(url, "/v1/stats") == 0) return get ? ibex__h_stats(S, c, m, r) : ibex__srv_error(S, c, m, r, 405, "use GET");
    if (strcmp(url, "/v1/specimens") == 0) {
        if (post) return ibex__h_push(S, c, m, r);
        if (get) return ibex__h_list(S, c, m, r);
        return ibex__srv_error(S, c, m, r, 405, "use GET or POST");
    }
    if (strncmp(url, "/v1/specimens/", 14) == 0)
        return get ? ibex__h_get(S, c, m, r, url + 14) : ibex__srv_error(S, c, m, r, 405, "use GET");
    if (strcmp(url, "/v1/query") == 0) return post ? ibex__h_query(S, c, m, r) : ibex__srv_error(S, c, m, r, 405, "use POST");
    return ibex__srv_error(S, c, m, r, 404, "no such endpoint");
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
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        r->conn = ci ? ci->socket_context : NULL;
        return begin(S, c, url, method, r);
    }
    if (r->responded) { /* refused before the body: discard what still arrives */
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        absorb(r, upload_data, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->answer_ready) { /* a suspended query's worker is done */
        json_t *a = r->answer;
        r->answer = NULL;
        return ibex__srv_json(S, c, method, r, r->answer_status, a, r->answer_why);
    }
    ibex__conns_deadline(S->conns, r->conn, 0, NULL); /* the body is in */
    int ok;
    enum MHD_Result ret = check_body(S, c, method, r, &ok);
    if (!ok) return ret;
    ret = route(S, c, url, method, r);
    ibex__srv_release(S, r);
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

static const char *termination_name(enum MHD_RequestTerminationCode toe)
{
    switch (toe) {
    case MHD_REQUEST_TERMINATED_COMPLETED_OK: return "completed";
    case MHD_REQUEST_TERMINATED_WITH_ERROR: return "error";
    case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED: return "idle timeout";
    case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN: return "node shutting down";
    case MHD_REQUEST_TERMINATED_READ_ERROR: return "read error or closed by the client";
    case MHD_REQUEST_TERMINATED_CLIENT_ABORT: return "client closed the connection";
    default: return "closed";
    }
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    ibex_node_server *S = cls;
    request *r = *con_cls;
    if (!r) return;
    /* Every request ends with an answer or with a log line saying why it has none. */
    if (!r->responded && r->started) {
        atomic_fetch_add(&S->closed_unanswered, 1);
        ibex__srv_log(S, c, "-", r, 0, termination_name(toe));
    }
    if (r->counted) atomic_fetch_sub(&S->peer_requests[r->peer_index], 1);
    ibex__srv_release(S, r);
    ibex__sha256_free(r->h);
    json_decref(r->answer);
    /* The next request on this connection gets the idle time, then its own header time. */
    if (r->conn)
        ibex__conns_deadline(S->conns, r->conn, ibex__now() + S->idle_timeout + S->header_timeout,
                             "next request's headers not complete in time");
    free(r);
    *con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    ibex_node_server *S = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fi = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        char ip[INET6_ADDRSTRLEN];
        ibex__http_client_ip(c, ip);
        *socket_context = fi ? ibex__conns_add(S->conns, fi->connect_fd, ip, ibex__now() + S->header_timeout,
                                               "headers not complete in time")
                             : NULL;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        ibex__conns_remove(S->conns, *socket_context);
        *socket_context = NULL;
    }
}

static void on_killed(void *user, const char *ip, const char *why)
{
    ibex_node_server *S = user;
    atomic_fetch_add(&S->closed_slow, 1);
    log_line(S, "%s closed the connection: %s", ip, why);
}

static void on_mhd_log(void *cls, const char *fm, va_list ap)
{
    ibex_node_server *S = cls;
    ibex__http_mhd_log(S->log, &S->log_lock, fm, ap);
}

/* ---- setup ---- */
void ibex_node_server_opts_init(ibex_node_server_opts *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->listen = "127.0.0.1:8470";
    o->max_body = IBEX_NODE_DEFAULT_MAX_BODY;
    o->max_memory = (size_t)512 << 20;
    o->max_peer_requests = 32;
    o->threads = 4;
    o->max_connections = 256;
    o->max_per_address = 64;
    o->timeout_s = 30;
    o->header_timeout_s = 10;
    o->min_body_rate = 16384;
    o->max_queries = 16;
    o->max_skew_s = IBEX_NODE_MAX_SKEW;
    o->nonce_capacity = (size_t)1 << 20;
    o->log = stderr;
    o->max_shortlist = 10;
    o->fanout = 8;
    o->peer_timeout_s = 20;
    o->max_hops = 2;
}

void ibex_node_server_free(ibex_node_server *S)
{
    if (!S) return;
    /* Suspended queries first: their workers hold requests that stopping the daemon frees. */
    pthread_mutex_lock(&S->q_lock);
    while (S->queries_running) pthread_cond_wait(&S->q_done, &S->q_lock);
    pthread_mutex_unlock(&S->q_lock);
    ibex__conns_stop(S->conns);
    if (S->d) MHD_stop_daemon(S->d);
    ibex__conns_free(S->conns);
    free(S->peer_mem);
    free(S->peer_requests);
    pthread_cond_destroy(&S->q_done);
    pthread_mutex_destroy(&S->q_lock);
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
        o->max_skew_s <= 0 || o->nonce_capacity == 0 || o->header_timeout_s == 0 || o->min_body_rate == 0 ||
        o->max_queries == 0 || o->max_peer_requests == 0 || (o->max_peer_memory && o->max_peer_memory < o->max_body))
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1,
                          "server limits must be positive (and memory, a peer's memory >= body limit)");
    if (!o->tls_cert != !o->tls_key)
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "TLS needs both a certificate and a key");
    struct sockaddr_storage ss;
    int v6 = 0;
    if (!ibex__http_parse_listen(o->listen, &ss, &v6, NULL))
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "listen address '%s' is not HOST:PORT (IPv4, localhost or [IPv6])", o->listen);
    if (sodium_init() < 0) return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, "libsodium failed to initialise");
    ibex_node_server *S = calloc(1, sizeof *S);
    if (!S) return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    pthread_mutex_init(&S->log_lock, NULL);
    pthread_mutex_init(&S->q_lock, NULL);
    pthread_cond_init(&S->q_done, NULL);
    S->max_body = o->max_body;
    S->max_memory = o->max_memory;
    S->max_peer_memory = o->max_peer_memory ? o->max_peer_memory
                         : o->max_memory / 4 > o->max_body ? o->max_memory / 4 : o->max_body;
    S->max_peer_requests = o->max_peer_requests;
    S->max_queries = o->max_queries;
    S->idle_timeout = o->timeout_s;
    S->header_timeout = o->header_timeout_s;
    S->min_body_rate = o->min_body_rate;
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
    if (o->peer_ca && !(S->peer_ca = ibex__strdup(o->peer_ca))) {
        st = ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
        goto fail;
    }
    /* Query ids are remembered for longer than any forwarded query may take. */
    S->npeers = ibex_trust_count(S->trust);
    S->peer_mem = calloc(S->npeers ? S->npeers : 1, sizeof *S->peer_mem);
    S->peer_requests = calloc(S->npeers ? S->npeers : 1, sizeof *S->peer_requests);
    /* A nonce must outlive every timestamp that would still be accepted with it; each peer
     * gets its share of the table. */
    if (!S->peer_mem || !S->peer_requests || !(S->query_ids = ibex__nonce_create(65536, 2 * (int)S->peer_timeout + 60, 1)) ||
        !(S->nonces = ibex__nonce_create(o->nonce_capacity, 2 * o->max_skew_s + 1, S->npeers ? S->npeers : 1))) {
        st = ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "cannot allocate the replay table");
        goto fail;
    }
    char jpath[4200];
    snprintf(jpath, sizeof jpath, "%s/.nonces", o->spool_dir);
    if ((st = ibex__nonce_journal(S->nonces, jpath, time(NULL), diag))) goto fail;
    if (!(S->conns = ibex__conns_create(on_killed, S))) {
        st = ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "cannot start the connection watchdog");
        goto fail;
    }
    /* Handlers read X3P (libxml2) on pool threads: libxml2 wants its one-time setup done
     * before threads use it. */
    xmlInitParser();
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME | (v6 ? MHD_USE_IPv6 : 0);
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
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)o->max_per_address,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024), MHD_OPTION_URI_LOG_CALLBACK, on_uri,
        S, MHD_OPTION_NOTIFY_COMPLETED, on_completed, S, MHD_OPTION_NOTIFY_CONNECTION, on_connection, S,
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
