/* The node server's state, shared by node/server*.c (not installed). */
#ifndef IBEX_NODE_SERVER_INTERNAL_H
#define IBEX_NODE_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>

#include "exchange_internal.h"
#include "ibex/node.h"
#include "node_internal.h"

#define MAX_TARGET 4096

struct ibex_node_server {
    struct MHD_Daemon *d;
    ibex_node_key *key;
    ibex_trust *trust;
    size_t npeers;
    ibex__spool *spool;
    ibex__nonce_cache *nonces;
    ibex__conns *conns;
    char *tls_cert, *tls_key; /* PEM text; MHD keeps pointers to it */
    char *lib_path;
    ibex_node_store_fn store;
    ibex_node_query_fn query;
    void *library_user;
    pthread_mutex_t lib_lock; /* held by one store or one query at a time (see local_query) */
    unsigned max_shortlist, fanout, peer_timeout, max_hops, max_queries, max_peer_requests;
    unsigned idle_timeout, header_timeout;
    size_t min_body_rate;
    char *peer_ca;
    ibex__nonce_cache *query_ids; /* queries seen lately: a forwarding loop ends here */
    size_t max_body, max_memory, max_peer_memory;
    int max_skew;
    FILE *log;
    pthread_mutex_t log_lock;
    time_t started;
    atomic_size_t mem_in_use;
    atomic_size_t *peer_mem;    /* per peer (trust list order): body bytes reserved */
    atomic_uint *peer_requests; /* per peer: requests in progress */
    /* queries running off the pool threads; freeing the server waits for them */
    pthread_mutex_t q_lock;
    pthread_cond_t q_done;
    unsigned queries_running;
    atomic_ullong requests, refused_auth, refused_size, refused_busy, accepted, duplicates,
        refused_packages, lib_stored, lib_skipped, lib_refused, queries, queries_seen, forwarded,
        closed_slow, closed_unanswered;
};

typedef struct query_job query_job;

typedef struct request {
    char target[MAX_TARGET + 1]; /* as sent: path and query */
    int target_too_long;
    int started, too_long, responded;
    unsigned char *body;
    size_t n, cap, reserved;
    ibex__sha256_ctx *h; /* body hash, fed as the body arrives */
    const ibex_peer *peer;
    size_t peer_index;
    int counted; /* peer_requests[peer_index] holds this request */
    ibex__request_auth a;
    ibex__conn *conn;
    /* a query answered off the pool thread: set by its worker before it resumes the connection */
    query_job *job;
    int answer_ready;
    unsigned answer_status;
    json_t *answer;
    char answer_why[64];
} request;

/* Frees the body and gives its memory back to the budgets. */
void ibex__srv_release(ibex_node_server *S, request *r);
void ibex__srv_log(ibex_node_server *S, struct MHD_Connection *c, const char *method, const request *r,
                   unsigned status, const char *why);
/* Queue j (consumed) as the JSON answer; why goes to the log. */
enum MHD_Result ibex__srv_json(ibex_node_server *S, struct MHD_Connection *c, const char *method, request *r,
                               unsigned status, json_t *j, const char *why);
enum MHD_Result ibex__srv_error(ibex_node_server *S, struct MHD_Connection *c, const char *method, request *r,
                                unsigned status, const char *fmt, ...) IBEX__PRINTF(6, 7);
/* {"error", "status"} of a refusal, for answers built off the pool thread. */
json_t *ibex__srv_error_json(ibex_node_server *S, unsigned status, const char *msg);
unsigned ibex__srv_library_status(ibex_status st);
/* Verify a package from a request; on failure the response is already queued. */
enum MHD_Result ibex__srv_check_package(ibex_node_server *S, struct MHD_Connection *c, const char *m,
                                        request *r, const unsigned char *d, size_t n,
                                        const ibex_peer **signer, int *ok);
int ibex__lower_hex(const char *s, size_t n);

/* Handlers (node/server_handlers.c, node/server_query.c). */
enum MHD_Result ibex__h_hello(ibex_node_server *S, struct MHD_Connection *c, const char *m, request *r);
enum MHD_Result ibex__h_health(ibex_node_server *S, struct MHD_Connection *c, const char *m, request *r);
enum MHD_Result ibex__h_stats(ibex_node_server *S, struct MHD_Connection *c, const char *m, request *r);
enum MHD_Result ibex__h_push(ibex_node_server *S, struct MHD_Connection *c, const char *m, request *r);
enum MHD_Result ibex__h_list(ibex_node_server *S, struct MHD_Connection *c, const char *m, request *r);
enum MHD_Result ibex__h_get(ibex_node_server *S, struct MHD_Connection *c, const char *m, request *r,
                            const char *seq_s);
/* Verifies the query and hands it to a worker thread, the connection suspended until the
 * worker has its answer (request.answer_ready); the pool thread goes back to other requests. */
enum MHD_Result ibex__h_query(ibex_node_server *S, struct MHD_Connection *c, const char *m, request *r);

#endif
