/* POST /v1/query: {"package": BASE64, "top", "shortlist", "federate", "hops", "query_id",
 * "deadline_s"} (docs/reference/node.md). The request is checked on the pool thread (JSON,
 * package signature, query id); the search of the local library and the forwarding to peers
 * then run on a worker thread of their own while the connection is suspended, so a slow
 * search or a hung peer never holds a pool thread: health checks and pushes go on. At most
 * max_queries run at once (503 past that). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "ibex/ibex.h"
#include "ibex_internal.h"
#include "server_internal.h"

struct query_job {
    ibex_node_server *S;
    struct MHD_Connection *c;
    request *r;
    unsigned char *pkg; /* the decoded package */
    size_t n;
    long long top, shortlist, hops;
    int federate;
    char id[33], caller[IBEX_NODE_NAME_MAX + 1];
    json_t *pkg_b64; /* the "package" member, forwarded as it came */
    long budget;     /* seconds for the forwarded queries */
};

/* An optional integer member in [lo, hi]; 0 when present and out of range or not an integer. */
static int opt_int(json_t *j, const char *key, long long lo, long long hi, long long *v)
{
    json_t *x = json_object_get(j, key);
    if (!x) return 1;
    if (!json_is_integer(x) || json_integer_value(x) < lo || json_integer_value(x) > hi) return 0;
    *v = json_integer_value(x);
    return 1;
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

/* Forward (threads) and search here meanwhile, then merge: the answer and its status. */
static json_t *run_query(query_job *q, unsigned *status, const char **why)
{
    ibex_node_server *S = q->S;
    const char *self = ibex_node_key_name(S->key);
    /* Peers to ask: those with a URL, not this node, not the caller; at most fanout. */
    ibex__forward *fw = NULL;
    size_t nf = 0;
    char *fbody = NULL;
    if (q->federate && q->hops > 0 && q->budget > 2) {
        size_t np = ibex_trust_count(S->trust);
        fw = calloc(np ? np : 1, sizeof *fw);
        for (size_t i = 0; fw && i < np && nf < S->fanout; i++) {
            const ibex_peer *p = ibex_trust_get(S->trust, i);
            if (!p->url || !strcmp(p->name, self) || !strcmp(p->name, q->caller)) continue;
            fw[nf++].peer = p;
        }
        json_t *fj = json_pack("{s:O, s:I, s:I, s:b, s:I, s:s, s:I}", "package", q->pkg_b64, "top",
                               (json_int_t)q->top, "shortlist", (json_int_t)q->shortlist, "federate", 1, "hops",
                               (json_int_t)(q->hops - 1), "query_id", q->id, "deadline_s",
                               (json_int_t)(q->budget - 2));
        fbody = fj ? json_dumps(fj, JSON_COMPACT) : NULL;
        json_decref(fj);
        if (!fbody) nf = 0;
    }
    fctx fc = {S, fw, nf, fbody, q->budget};
    pthread_t fth;
    int fstarted = 0;
    if (nf) {
        fstarted = pthread_create(&fth, NULL, forward_thread, &fc) == 0;
        if (fstarted) atomic_fetch_add(&S->forwarded, nf);
    }
    char lmsg[1100] = "";
    json_t *local = NULL;
    ibex_status lst = local_query(S, q->pkg, q->n, (unsigned)q->top, (unsigned)q->shortlist, &local, lmsg, sizeof lmsg);
    if (nf && !fstarted) {
        forward_thread(&fc);
        atomic_fetch_add(&S->forwarded, nf);
    }
    if (fstarted) pthread_join(fth, NULL);
    free(fbody);
    if (!q->federate && lst) {
        free(fw);
        *status = lst == IBEX_ERR_UNSUPPORTED ? 501 : ibex__srv_library_status(lst);
        *why = "query refused";
        char msg[1200];
        snprintf(msg, sizeof msg, "query: %s", lmsg);
        return ibex__srv_error_json(S, *status, msg);
    }
    json_t *nodes = json_array();
    json_t *le = json_pack("{s:s, s:i}", "node", self, "status", lst ? (int)ibex__srv_library_status(lst) : 200);
    if (lst) json_object_set_new(le, "error", json_string(lmsg));
    else
        json_object_set_new(le, "candidates",
                            json_integer((json_int_t)json_array_size(json_object_get(local, "candidates"))));
    json_array_append_new(nodes, le);
    json_t *merged = ibex__federate_merge(local, self, fw, nf, (size_t)q->top, nodes);
    ibex__forward_clear(fw, nf);
    free(fw);
    if (!merged) {
        json_decref(local);
        json_decref(nodes);
        *status = 503;
        *why = "out of memory";
        return ibex__srv_error_json(S, 503, "out of memory");
    }
    json_t *out = json_pack("{s:s, s:s, s:I, s:o, s:o}", "node", self, "query_id", q->id, "hops",
                            (json_int_t)q->hops, "candidates", merged, "nodes", nodes);
    json_t *kind = json_object_get(local, "kind");
    if (kind) json_object_set(out, "kind", kind);
    json_decref(local);
    *status = 200;
    *why = q->federate ? "federated query" : "query";
    return out;
}

static void *query_worker(void *arg)
{
    query_job *q = arg;
    ibex_node_server *S = q->S;
    unsigned status = 500;
    const char *why = "query";
    json_t *answer = run_query(q, &status, &why);
    request *r = q->r;
    r->answer = answer;
    r->answer_status = status;
    snprintf(r->answer_why, sizeof r->answer_why, "%s", why);
    r->answer_ready = 1;
    r->job = NULL;
    struct MHD_Connection *c = q->c;
    free(q->pkg);
    json_decref(q->pkg_b64);
    free(q);
    /* r belongs to the connection again from here on: not touched after the resume. */
    MHD_resume_connection(c);
    pthread_mutex_lock(&S->q_lock);
    S->queries_running--;
    pthread_cond_broadcast(&S->q_done);
    pthread_mutex_unlock(&S->q_lock);
    return NULL;
}

enum MHD_Result ibex__h_query(ibex_node_server *S, struct MHD_Connection *c, const char *m, request *r)
{
    json_error_t je;
    json_t *j = json_loadb((const char *)r->body, r->n, JSON_REJECT_DUPLICATES, &je);
    if (!j) return ibex__srv_error(S, c, m, r, 400, "body is not JSON: %s (line %d)", je.text, je.line);
    json_t *pkg = json_object_get(j, "package"), *fed = json_object_get(j, "federate"),
           *qid = json_object_get(j, "query_id");
    long long top = 10, shortlist = S->max_shortlist < 5 ? S->max_shortlist : 5, hops = 1, deadline = S->peer_timeout;
    if (!json_is_object(j) || !json_is_string(pkg) || !opt_int(j, "top", 1, 1000, &top) ||
        !opt_int(j, "shortlist", 0, S->max_shortlist, &shortlist) || !opt_int(j, "hops", 0, S->max_hops, &hops) ||
        !opt_int(j, "deadline_s", 1, 3600, &deadline) || (fed && !json_is_boolean(fed)) ||
        (qid && !ibex__lower_hex(json_string_value(qid), 32))) {
        json_decref(j);
        return ibex__srv_error(S, c, m, r, 400,
                               "body must be {\"package\": BASE64_OF_A_SIGNED_PACKAGE} with optional \"top\": 1..1000, "
                               "\"shortlist\": 0..%u, \"federate\": bool, \"hops\": 0..%u, \"query_id\": 32 hex "
                               "digits, \"deadline_s\": 1..3600",
                               S->max_shortlist, S->max_hops);
    }
    query_job *q = calloc(1, sizeof *q);
    if (!q) {
        json_decref(j);
        return ibex__srv_error(S, c, m, r, 503, "out of memory");
    }
    q->S = S;
    q->c = c;
    q->r = r;
    q->top = top;
    q->shortlist = shortlist;
    q->hops = hops;
    q->federate = json_is_true(fed);
    snprintf(q->caller, sizeof q->caller, "%s", r->a.node);
    if (qid) {
        memcpy(q->id, json_string_value(qid), 33);
    } else {
        unsigned char rnd[16];
        randombytes_buf(rnd, sizeof rnd);
        sodium_bin2hex(q->id, sizeof q->id, rnd, sizeof rnd);
    }
    const char *b64 = json_string_value(pkg);
    size_t b64n = json_string_length(pkg);
    /* Standard base64 with padding, no line breaks (RFC 4648 section 4). OpenSSL's decoder:
     * libsodium's constant-time one took a sixth of the server's time on 1 MB packages. */
    q->pkg = b64n % 4 == 0 ? malloc(b64n / 4 * 3 + 1) : NULL;
    int len = q->pkg && b64n <= INT_MAX ? EVP_DecodeBlock(q->pkg, (const unsigned char *)b64, (int)b64n) : -1;
    if (len >= 0) {
        size_t pad = (b64n >= 1 && b64[b64n - 1] == '=') + (b64n >= 2 && b64[b64n - 2] == '=');
        q->n = (size_t)len - pad;
    }
    q->pkg_b64 = json_incref(pkg);
    json_decref(j);
    enum MHD_Result ret;
    const ibex_peer *signer;
    int ok = 0;
    if (len < 0 || b64n == 0) ret = ibex__srv_error(S, c, m, r, 400, "package is not valid base64");
    else ret = ibex__srv_check_package(S, c, m, r, q->pkg, q->n, &signer, &ok);
    if (ok) {
        atomic_fetch_add(&S->queries, 1);
        /* A query id seen before means a forwarding loop (or a retry): nothing new to add. */
        int fresh = ibex__nonce_check(S->query_ids, 0, "query", q->id, time(NULL));
        ok = 0;
        if (fresh == IBEX__NONCE_REPLAY) {
            atomic_fetch_add(&S->queries_seen, 1);
            ret = ibex__srv_json(S, c, m, r, 200,
                                 json_pack("{s:s, s:s, s:b, s:[], s:[]}", "node", ibex_node_key_name(S->key),
                                           "query_id", q->id, "seen", 1, "candidates", "nodes"),
                                 "query seen before");
        } else if (fresh != IBEX__NONCE_FRESH) {
            ret = ibex__srv_error(S, c, m, r, 503, "busy: too many queries in flight");
        } else {
            pthread_mutex_lock(&S->q_lock);
            ok = S->queries_running < S->max_queries;
            if (ok) S->queries_running++;
            pthread_mutex_unlock(&S->q_lock);
            if (!ok) ret = ibex__srv_error(S, c, m, r, 503, "busy: %u queries in progress", S->max_queries);
        }
    }
    if (!ok) {
        free(q->pkg);
        json_decref(q->pkg_b64);
        free(q);
        return ret;
    }
    q->budget = deadline < (long long)S->peer_timeout ? (long)deadline : (long)S->peer_timeout;
    r->job = q;
    /* No deadline while suspended: the worker's own deadlines bound it. */
    ibex__conns_deadline(S->conns, r->conn, 0, NULL);
    MHD_suspend_connection(c);
    pthread_t th;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    int started = pthread_create(&th, &at, query_worker, q) == 0;
    pthread_attr_destroy(&at);
    if (!started) query_worker(q); /* no thread to spare: answer from here */
    return MHD_YES;
}
