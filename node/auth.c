/* Request signatures: what a request signature covers, and making one (docs/reference/node.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "exchange_internal.h"
#include "ibex/node.h"
#include "ibex_internal.h"

/* IBEX_NODE_PROTOCOL is distinct from the package domain ("ibex-package/1"): one kind of
 * signature can never pass for the other. */

size_t ibex_node_auth_message(const char *node, const char *to, const char *method,
                              const char *target, const char *timestamp, const char *nonce,
                              uint64_t length, const char *body_sha256_hex, char *out, size_t out_size)
{
    int n = snprintf(out, out_size, "%s\n%s\n%s\n%s\n%s\n%s\n%s\n%llu\n%s\n", IBEX_NODE_PROTOCOL, node, to,
                     method, target, timestamp, nonce, (unsigned long long)length, body_sha256_hex);
    return n < 0 || (size_t)n >= out_size ? 0 : (size_t)n;
}

ibex_status ibex_node_auth_sign(const ibex_node_key *k, const char *to, const char *method,
                                const char *target, const void *body, size_t n, long long timestamp,
                                const char *nonce, ibex_node_auth *out, ibex_diag *diag)
{
    if (!k || !to || !method || !target || !out || (n && !body))
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "missing argument to sign a request");
    if (!ibex__node_name_ok(to))
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "'%.80s' is not a node name", to);
    if (sodium_init() < 0) return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, "libsodium failed to initialise");
    ibex_node_auth a;
    memset(&a, 0, sizeof a);
    snprintf(a.node, sizeof a.node, "%s", ibex_node_key_name(k));
    snprintf(a.to, sizeof a.to, "%s", to);
    snprintf(a.timestamp, sizeof a.timestamp, "%lld", timestamp < 0 ? (long long)time(NULL) : timestamp);
    if (nonce) {
        if (strlen(nonce) != 32) return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "nonce must be 32 hex digits");
        memcpy(a.nonce, nonce, 33);
    } else {
        unsigned char r[16];
        randombytes_buf(r, sizeof r);
        sodium_bin2hex(a.nonce, sizeof a.nonce, r, sizeof r);
    }
    unsigned char h[32], sig[64];
    ibex__sha256(body ? body : (const void *)"", n, h);
    sodium_bin2hex(a.body_sha256, sizeof a.body_sha256, h, sizeof h);
    size_t tl = strlen(target) + strlen(method) + 512;
    char stackbuf[2048], *msg = tl <= sizeof stackbuf ? stackbuf : malloc(tl);
    if (!msg) return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    size_t mn = ibex_node_auth_message(a.node, a.to, method, target, a.timestamp, a.nonce, (uint64_t)n,
                                       a.body_sha256, msg, tl);
    ibex_node_key_sign(k, msg, mn, sig);
    if (msg != stackbuf) free(msg);
    sodium_bin2hex(a.signature, sizeof a.signature, sig, sizeof sig);
    *out = a;
    return IBEX_OK;
}
