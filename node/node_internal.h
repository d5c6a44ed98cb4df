/* Pieces of the node shared across node/ files (not installed). */
#ifndef IBEX_NODE_INTERNAL_H
#define IBEX_NODE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "ibex/node.h"

/* Replay guard: remembers (node, nonce) pairs for ttl seconds in a fixed-size table, in
 * classes (one per peer) that each hold at most capacity / classes of them. */
typedef struct ibex__nonce_cache ibex__nonce_cache;
ibex__nonce_cache *ibex__nonce_create(size_t capacity, int ttl_s, size_t classes);
void ibex__nonce_free(ibex__nonce_cache *c);
/* Keep the table in a journal file too, so that a restart forgets no live nonce: loads the
 * live entries of path (when it exists), rewrites it with only those, then appends each new
 * nonce before ibex__nonce_check says it is fresh. */
ibex_status ibex__nonce_journal(ibex__nonce_cache *c, const char *path, time_t now, ibex_diag *diag);
enum { IBEX__NONCE_FRESH = 1, IBEX__NONCE_REPLAY = 0, IBEX__NONCE_FULL = -1, IBEX__NONCE_IO = -2 };
/* FRESH: now remembered; REPLAY: seen before; FULL: the class holds its share of live nonces;
 * IO: the journal could not be written (nothing remembered). */
int ibex__nonce_check(ibex__nonce_cache *c, size_t cls, const char *node, const char *nonce, time_t now);
size_t ibex__nonce_count(ibex__nonce_cache *c);

/* ---- connection deadlines (node/watchdog.c) ---- */
typedef struct ibex__conns ibex__conns;
typedef struct ibex__conn ibex__conn;
/* Called (from the watchdog's thread) for each connection it closes, with its why. */
typedef void (*ibex__conn_kill_fn)(void *user, const char *ip, const char *why);
ibex__conns *ibex__conns_create(ibex__conn_kill_fn on_kill, void *user); /* starts the thread */
void ibex__conns_stop(ibex__conns *w);                                   /* joins it */
void ibex__conns_free(ibex__conns *w);
/* deadline: ibex__now() seconds by which the connection must have done what why says; 0: none. */
ibex__conn *ibex__conns_add(ibex__conns *w, int fd, const char *ip, double deadline, const char *why);
void ibex__conns_remove(ibex__conns *w, ibex__conn *c); /* before the socket is closed */
void ibex__conns_deadline(ibex__conns *w, ibex__conn *c, double deadline, const char *why);
size_t ibex__conns_count(ibex__conns *w);

/* ---- request headers (node/request.c) ---- */
typedef struct ibex__header {
    const char *key, *value;
} ibex__header;

/* What the authentication headers of one request claim. */
typedef struct ibex__request_auth {
    char node[IBEX_NODE_NAME_MAX + 1], to[IBEX_NODE_NAME_MAX + 1];
    char ts[24], nonce[33], body_hex[65];
    uint64_t timestamp, length; /* length: Content-Length, 0 when absent */
    int has_length;
    unsigned char sig[64], body_sha256[32];
} ibex__request_auth;

/* Checks the form of a request's headers (every header line, in order): 0 when they are
 * well formed and *out holds them, else the HTTP status to refuse with and why. Whether the
 * signature is right is the caller's to check. */
unsigned ibex__request_parse(const ibex__header *h, size_t n, ibex__request_auth *out, char *why,
                             size_t why_size);
int ibex__parse_u64(const char *s, uint64_t *v); /* decimal digits only, at most 19 */

/* Spool: accepted packages as DIR/SEQ-SHA256.x3p, SEQ counting up from 1. */
typedef struct ibex__spool ibex__spool;
typedef struct ibex__spool_entry {
    uint64_t seq;
    unsigned char sha256[32];
    uint64_t size;
} ibex__spool_entry;

ibex_status ibex__spool_open(const char *dir, ibex__spool **out, ibex_diag *diag);
void ibex__spool_free(ibex__spool *s);
/* Store a package unless one with the same SHA-256 is there (*dup = 1, *seq = its seq). */
ibex_status ibex__spool_put(ibex__spool *s, const void *data, size_t n, uint64_t *seq, int *dup,
                            ibex_diag *diag);
/* Up to max entries with seq > since, in order; returns how many; *more = 1 if others follow. */
size_t ibex__spool_list(ibex__spool *s, uint64_t since, ibex__spool_entry *out, size_t max, int *more);
/* Open the file of package seq for reading (the caller closes *fd). */
ibex_status ibex__spool_open_fd(ibex__spool *s, uint64_t seq, int *fd, ibex__spool_entry *e,
                                ibex_diag *diag);
void ibex__spool_totals(ibex__spool *s, size_t *count, uint64_t *bytes, uint64_t *last_seq);

/* File name of a spool entry: "%020llu-%64hex.x3p" into name[96]. */
void ibex__spool_name(uint64_t seq, const unsigned char sha256[32], char name[96]);
/* 64 lower-case hex digits into sha256 (seq must be > 0); 1 on success. */
int ibex__spool_parse_name_parts(uint64_t seq, const char *hex, unsigned char sha256[32]);
/* Parses such a name; 1 on success. */
int ibex__spool_parse_name(const char *name, uint64_t *seq, unsigned char sha256[32]);

/* Federation (node/federate.c). One forwarded query: the peer, then its answer. */
typedef struct ibex__forward {
    const ibex_peer *peer; /* has a URL */
    long status;           /* HTTP status; 0 when no answer came */
    char error[300];       /* transport failure (timeout, refused connection) */
    double seconds;
    char *body;            /* the answer (JSON text), malloc'd */
    size_t size;
} ibex__forward;

/* POSTs body to /v1/query of each f[i].peer at once (a thread each), timeout_s each, signed
 * for each peer by its name. */
void ibex__forward_all(ibex__forward *f, size_t n, const ibex_node_key *key, const char *body,
                       size_t len, long timeout_s, const char *ca_file);
void ibex__forward_clear(ibex__forward *f, size_t n);

/* json_t from jansson; declared here without including it. */
struct json_t;
/* Merged, re-ranked candidate list (at most top) of the local answer (NULL when none) and
 * the peers' answers, each candidate marked with its "node"; one entry per peer (status,
 * count, seconds or error) is appended to the array nodes. NULL when out of memory. */
struct json_t *ibex__federate_merge(struct json_t *local, const char *self, const ibex__forward *f,
                                    size_t n, size_t top, struct json_t *nodes);

#endif
