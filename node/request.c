/* The authentication headers of a request, parsed and checked for form before anything else
 * happens to it (node/server.c; fuzzed by tests/fuzz/fuzz_request.c). Pure: no I/O. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "exchange_internal.h"
#include "node_internal.h"

static int lower_hex(const char *s, size_t n)
{
    if (!s || strlen(s) != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

int ibex__parse_u64(const char *s, uint64_t *v)
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

static unsigned refuse(char *why, size_t size, unsigned status, const char *msg)
{
    snprintf(why, size, "%s", msg);
    return status;
}

unsigned ibex__request_parse(const ibex__header *h, size_t n, ibex__request_auth *out, char *why,
                             size_t why_size)
{
    static const char *const names[] = {IBEX_HDR_NODE, IBEX_HDR_TO, IBEX_HDR_TIMESTAMP, IBEX_HDR_NONCE,
                                        IBEX_HDR_BODY_SHA256, IBEX_HDR_SIGNATURE};
    const char *v[6] = {0}, *length = NULL;
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        const char *key = h[i].key ? h[i].key : "", *val = h[i].value ? h[i].value : "";
        /* Disagreeing Content-Length headers leave the body's end unknown, and a proxy in
         * front may have framed it by the other one (request smuggling): RFC 9112 section 6.3
         * makes the request invalid. Chunked bodies are refused for the same reason: the
         * signed length is the only framing a node accepts. */
        if (strcasecmp(key, "Content-Length") == 0) {
            if (length && strcmp(length, val) != 0)
                return refuse(why, why_size, 400, "conflicting Content-Length headers");
            length = val;
            continue;
        }
        if (strcasecmp(key, "Transfer-Encoding") == 0)
            return refuse(why, why_size, 411, "Transfer-Encoding is not accepted: send the body with Content-Length");
        for (int k = 0; k < 6; k++)
            if (strcasecmp(key, names[k]) == 0) {
                if (v[k]) return refuse(why, why_size, 400, "an authentication header appears twice");
                v[k] = val;
            }
    }
    if (length) {
        if (!ibex__parse_u64(length, &out->length)) return refuse(why, why_size, 400, "bad Content-Length");
        out->has_length = 1;
    }
    for (int k = 0; k < 6; k++)
        if (!v[k]) {
            snprintf(why, why_size, "unauthenticated: the %s, %s, %s, %s, %s and %s headers are required",
                     names[0], names[1], names[2], names[3], names[4], names[5]);
            return 401;
        }
    if (!ibex__node_name_ok(v[0])) return refuse(why, why_size, 401, "malformed authentication headers: node name");
    if (!ibex__node_name_ok(v[1]))
        return refuse(why, why_size, 401, "malformed authentication headers: receiving node name");
    if (!ibex__parse_u64(v[2], &out->timestamp) || !lower_hex(v[3], 32) || !lower_hex(v[4], 64) ||
        !lower_hex(v[5], 128))
        return refuse(why, why_size, 401, "malformed authentication headers");
    snprintf(out->node, sizeof out->node, "%s", v[0]);
    snprintf(out->to, sizeof out->to, "%s", v[1]);
    snprintf(out->ts, sizeof out->ts, "%s", v[2]);
    memcpy(out->nonce, v[3], 33);
    memcpy(out->body_hex, v[4], 65);
    size_t got = 0;
    sodium_hex2bin(out->sig, sizeof out->sig, v[5], 128, NULL, &got, NULL);
    sodium_hex2bin(out->body_sha256, sizeof out->body_sha256, v[4], 64, NULL, &got, NULL);
    return 0;
}
