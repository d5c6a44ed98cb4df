/* IBEX network node: an authenticated HTTP server for exchange packages, and its client.
 * Protocol and deployment: docs/reference/node.md. */
#ifndef IBEX_NODE_H
#define IBEX_NODE_H

#include "ibex/export.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "ibex/package.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Request authentication headers (docs/reference/node.md, "Request authentication"). */
#define IBEX_HDR_NODE "X-Ibex-Node"           /* the sending node's name in the peer list */
#define IBEX_HDR_TO "X-Ibex-To"               /* the receiving node's name: a request signed for
                                                 one node is refused by every other */
#define IBEX_HDR_TIMESTAMP "X-Ibex-Timestamp" /* Unix seconds, decimal */
#define IBEX_HDR_NONCE "X-Ibex-Nonce"         /* 32 lower-case hex digits, never reused */
#define IBEX_HDR_BODY_SHA256 "X-Ibex-Content-Sha256" /* the body's SHA-256, 64 lower-case hex */
#define IBEX_HDR_SIGNATURE "X-Ibex-Signature" /* 128 lower-case hex digits (Ed25519) */
#define IBEX_NODE_MAX_SKEW 300                /* seconds a request timestamp may be off */
#define IBEX_NODE_DEFAULT_MAX_BODY ((size_t)64 << 20)
#define IBEX_NODE_PROTOCOL "ibex-request/2"   /* first line of what a request signature covers */

/* Header values that authenticate one request (ibex_node_auth_sign). */
typedef struct ibex_node_auth {
    char node[IBEX_NODE_NAME_MAX + 1];
    char to[IBEX_NODE_NAME_MAX + 1];
    char timestamp[24];
    char nonce[33];
    char body_sha256[65];
    char signature[129];
} ibex_node_auth;

/* The bytes a request signature covers (docs/reference/node.md):
 * "ibex-request/2\n" NODE "\n" TO "\n" METHOD "\n" TARGET "\n" TIMESTAMP "\n" NONCE "\n"
 * LENGTH "\n" BODYSHA256HEX "\n". TARGET is the request target exactly as sent (path and
 * query), LENGTH the body's length in decimal. Every part is in the headers, so a node checks
 * the signature before it reads (or reserves memory for) the body, then checks the body
 * against the signed length and hash. Returns the length written to out (0 when out_size is
 * too small). */
IBEX_API size_t ibex_node_auth_message(const char *node, const char *to, const char *method,
                                       const char *target, const char *timestamp, const char *nonce,
                                       uint64_t length, const char *body_sha256_hex, char *out,
                                       size_t out_size);
/* Sign a request for the node named `to`. timestamp < 0 uses the current time; nonce NULL
 * draws a random one. */
IBEX_API ibex_status ibex_node_auth_sign(const ibex_node_key *k, const char *to, const char *method,
                                         const char *target, const void *body, size_t n,
                                         long long timestamp, const char *nonce, ibex_node_auth *out,
                                         ibex_diag *diag);

/* ---- the node's reference library, plugged in by the program that runs the server ----
 * ibex_node_library_store and ibex_node_library_query below are these hooks on an HDF5
 * library (ibex_package_import_mem, ibex_library_index_update, ibex_search_run). They run on
 * pool threads; the server never runs a store during a query or another store. Messages go
 * to diag (non-OK) and come back in the HTTP answer. */

/* Store a verified package in the library (the checks of 'ibex import': preprocessing
 * parameters must match, a specimen already held is skipped; nothing half-written), then
 * bring the index up to date so it can be queried. note gets what happened, e.g.
 * "stored lab-a:Fadul 1-1". Non-OK: nothing stored, and the status says whose fault:
 * IBEX_ERR_FORMAT, IBEX_ERR_INTEGRITY or IBEX_ERR_LIMIT refuse the package for its content
 * (a pull records it and goes on); any other status is a failure of the library or of this
 * machine (IBEX_ERR_IO, IBEX_ERR_NOMEM), and a pull stops to try the package again later. */
typedef ibex_status (*ibex_node_store_fn)(void *user, const unsigned char *pkg, size_t n,
                                          const char *sha256_hex, char *note, size_t note_size,
                                          ibex_diag *diag);
/* Rank the library against the scan in a verified package: stage 1 over the index, stage 2
 * on a shortlist of at most `shortlist` (0: stage 1 only, ranked by its similarity). *json_out (malloc'd) is a JSON object
 * {"kind", "indexed", "shortlist", "candidates": [{"rank", "score", "stage1", "verdict", ...
 * and only the metadata fields the node's policy shares}]}, best first, at most top. */
typedef ibex_status (*ibex_node_query_fn)(void *user, const unsigned char *pkg, size_t n,
                                          unsigned top, unsigned shortlist, char **json_out,
                                          ibex_diag *diag);

/* The library behind the hooks (their user pointer). What an answer says about a
 * specimen is limited to the fields of the sharing policy: table columns (id, kind,
 * region, set, firearm_id, same_source_key, sha256) and metadata keys (ibex_meta_key);
 * scores and verdicts always, surfaces and file names never. */
#define IBEX_NODE_SHARE_DEFAULT "id"

typedef struct ibex_node_library {
    size_t struct_size;      /* sizeof the struct, set by ibex_node_library_init (ABI) */
    const char *lib_path;    /* created by the first stored package when missing */
    const ibex_trust *trust; /* whose packages are stored */
    const char *share;       /* policy: comma-separated field names; NULL or "": none */
    unsigned threads;        /* stage-2 threads of a query; 0 = all cores */
} ibex_node_library;

IBEX_API void ibex_node_library_init(ibex_node_library *nl);
/* Checks a sharing policy (known fields only): 1 if valid, else 0 and the reason in why. */
IBEX_API int ibex_node_share_check(const char *list, char *why, size_t why_size);
/* ibex_node_store_fn on user = const ibex_node_library *: the checks of 'ibex import',
 * then the index brought up to date (a failed index update still stores: the note says
 * it is not indexed yet). A package the import refuses (other preprocessing parameters, no
 * library_params, not verified) gets its content's status; a library that cannot be opened,
 * written or closed gets IBEX_ERR_IO (IBEX_ERR_NOMEM when memory ran out). */
IBEX_API ibex_status ibex_node_library_store(void *user, const unsigned char *pkg, size_t n,
                                             const char *sha256_hex, char *note, size_t note_size,
                                             ibex_diag *diag);
/* ibex_node_query_fn on user = const ibex_node_library *. */
IBEX_API ibex_status ibex_node_library_query(void *user, const unsigned char *pkg, size_t n, unsigned top,
                                             unsigned shortlist, char **json_out, ibex_diag *diag);

/* ---- server ---- */
typedef struct ibex_node_server ibex_node_server;

typedef struct ibex_node_server_opts {
    size_t struct_size;      /* sizeof the struct, set by ibex_node_server_opts_init (ABI) */
    const char *listen;      /* "127.0.0.1:PORT", "[::1]:PORT"; PORT 0 picks a free one */
    const char *key_path;    /* this node's secret key */
    const char *peers_path;  /* trust list: who may call, whose packages are accepted */
    const char *spool_dir;   /* accepted packages (created if missing) */
    const char *lib_path;    /* HDF5 reference library, NULL for none (shown in stats) */
    ibex_node_store_fn store; /* library ingest behind POST /v1/specimens; NULL: spool only */
    ibex_node_query_fn query; /* POST /v1/query against this node's library; NULL: none */
    void *library_user;      /* passed to store and query */
    unsigned max_shortlist;  /* largest stage-2 shortlist a query may ask for (default 10) */
    unsigned fanout;         /* peers a federated query is forwarded to, at most (default 8) */
    unsigned peer_timeout_s; /* deadline of a forwarded query (default 20 s) */
    unsigned max_hops;       /* forwarding depth a query may ask for (default 2) */
    const char *peer_ca;     /* PEM CA bundle for https peers (NULL: system default) */
    const char *tls_cert;    /* PEM certificate and key for HTTPS, both or neither */
    const char *tls_key;
    size_t max_body;         /* largest request body (413 past it) */
    size_t max_memory;       /* all request bodies held at once (503 past it) */
    size_t max_peer_memory;  /* request bodies of one peer held at once (default max_memory / 4,
                                at least max_body; 503 past it) */
    unsigned max_peer_requests; /* requests of one peer in progress at once (default 32) */
    unsigned threads;        /* thread-pool size */
    unsigned max_connections;
    unsigned max_per_address; /* connections from one IP address (default 64; 0: no limit) */
    unsigned timeout_s;      /* idle connection timeout */
    unsigned header_timeout_s; /* a request's headers must be complete this long after its
                                  connection opened or its previous request ended (default 10) */
    size_t min_body_rate;    /* bytes/s a body must arrive at after the first header_timeout_s
                                (default 16 KiB/s): slower senders are disconnected */
    unsigned max_queries;    /* queries in progress at once (default 16; 503 past it); they run
                                off the pool threads, which stay free for other requests */
    int max_skew_s;          /* request timestamp tolerance */
    size_t nonce_capacity;   /* nonces remembered for 2 x skew + 1 s (24 bytes each, in memory
                                and in SPOOL/.nonces so a restart forgets none); each peer may hold
                                capacity / peers of them, past that its requests get 503 */
    FILE *log;               /* one line per request; NULL for none */
} ibex_node_server_opts;

IBEX_API void ibex_node_server_opts_init(ibex_node_server_opts *o);
/* Reads the key, trust list and spool, binds and starts serving on a thread pool. */
IBEX_API ibex_status ibex_node_server_create(const ibex_node_server_opts *o, ibex_node_server **out,
                                             ibex_diag *diag);
IBEX_API unsigned ibex_node_server_port(const ibex_node_server *s); /* the bound port */
IBEX_API void ibex_node_server_free(ibex_node_server *s);          /* stops serving; NULL ok */

/* ---- client (libcurl) ---- */
typedef struct ibex_node_response {
    long status;            /* HTTP status */
    unsigned char *body;    /* NUL-terminated */
    size_t size;
    char sha256[65];        /* X-Ibex-Sha256 header of the response, "" if none */
} ibex_node_response;

/* One signed request to base_url (e.g. "http://127.0.0.1:8080") + target ("/v1/health"),
 * signed for the node named `to`; to NULL asks the node its name first (ibex_node_hello).
 * IBEX_OK whenever an HTTP answer came back, whatever its status. ca_file: PEM CA bundle for
 * https (NULL: system default). */
IBEX_API ibex_status ibex_node_request(const char *base_url, const char *to, const ibex_node_key *key,
                                       const char *method, const char *target, const void *body, size_t n,
                                       const char *content_type, long timeout_s, const char *ca_file,
                                       ibex_node_response *out, ibex_diag *diag);
/* GET /v1/hello, the one request that is not signed: the node's name (into name[IBEX_NODE_NAME_MAX
 * + 1]). A man in the middle can lie about it; what a lie can achieve is in the threat model
 * (docs/reference/node.md): pass the name from the trust list where it is known. */
IBEX_API ibex_status ibex_node_hello(const char *base_url, long timeout_s, const char *ca_file, char *name,
                                     ibex_diag *diag);
IBEX_API void ibex_node_response_clear(ibex_node_response *r);

typedef struct ibex_node_pull_stats {
    size_t fetched, stored, refused;
    size_t library_stored, library_skipped; /* what store reported (0 without store) */
    uint64_t cursor; /* where the next pull starts */
} ibex_node_pull_stats;

typedef struct ibex_node_pull_opts {
    size_t struct_size;      /* sizeof the struct, set by ibex_node_pull_opts_init (ABI) */
    size_t max_items;        /* stop after this many packages; 0: no limit */
    const char *ca_file;     /* PEM CA bundle for https (NULL: system default) */
    long max_recv_bytes_s;   /* download rate cap in bytes/s; 0: none */
    ibex_node_store_fn store; /* also store each package in a library; NULL: directory only */
    void *store_user;
} ibex_node_pull_opts;

IBEX_API void ibex_node_pull_opts_init(ibex_node_pull_opts *o); /* no limits, directory only */

/* The refusal log of a pull, in its output directory (docs/reference/node.md). */
#define IBEX_NODE_PULL_REFUSED_LOG "refused.tsv"

/* Pull replication: fetch every package after the cursor saved in out_dir/.cursor,
 * verify each against trust, hand it to o->store (when set; its note starting "skipped"
 * counts as library_skipped), store it as out_dir/SEQ-SHA256.x3p (write-then-rename) and
 * advance the cursor after each one, so an interrupted pull resumes where it stopped and
 * stores nothing twice. o NULL: defaults. Requests are signed for the node named `to`
 * (NULL: asked once with ibex_node_hello).
 * A package refused for its content (verification fails: untrusted signer, bad signature,
 * malformed; or o->store refuses it with IBEX_ERR_FORMAT, IBEX_ERR_INTEGRITY or
 * IBEX_ERR_LIMIT) is not stored: one line "SEQ\tSHA256\tTIME\tREASON" is appended to
 * out_dir/IBEX_NODE_PULL_REFUSED_LOG (fsynced before the cursor moves past it), it counts in
 * stats->refused, and the pull goes on; IBEX_OK then means every other package was stored.
 * Any other failure (network, an HTTP error, bytes that differ from the listing, I/O,
 * memory, the store's own failure) stops the pull before that package, cursor unmoved, and
 * is returned; stats still say what was done until then. */
IBEX_API ibex_status ibex_node_pull(const char *base_url, const char *to, const ibex_node_key *key,
                                    const ibex_trust *trust, const char *out_dir, const ibex_node_pull_opts *o,
                                    ibex_node_pull_stats *stats, ibex_diag *diag);

#ifdef __cplusplus
}
#endif
#endif
