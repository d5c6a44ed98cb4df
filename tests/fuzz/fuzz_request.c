/* Fuzz target for the node's request-header parser (node/request.c), the code every request
 * from anyone reaches before a signature is checked. The input is a header block ("Key:
 * value" lines); it is split the way libmicrohttpd hands headers over and parsed. With
 * libFuzzer it is a fuzzer; built plainly it replays its corpus plus seeded mutations.
 * Passing means: no crash or sanitizer report; every refusal is a 400, 401 or 411 with a
 * reason; every acceptance holds well-formed values whose signed message can be built; and
 * the headers of a real signed request parse back to exactly what was signed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "ibex/node.h"
#include "node_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int problems = 0;

static int well_formed(const ibex__request_auth *a)
{
    char msg[4096];
    return a->node[0] && a->to[0] && strlen(a->nonce) == 32 && strlen(a->body_hex) == 64 &&
           ibex_node_auth_message(a->node, a->to, "POST", "/v1/specimens", a->ts, a->nonce, a->length, a->body_hex,
                                  msg, sizeof msg) > 0;
}

/* Split text into header lines (CRLF or LF), each at its first ':', leading blanks of the
 * value dropped; parse. Returns the status. */
static unsigned parse_block(char *text, size_t n, ibex__request_auth *a, char *why, size_t why_size)
{
    ibex__header h[160];
    size_t nh = 0;
    char *p = text, *end = text + n;
    while (p < end && nh < sizeof h / sizeof h[0]) {
        char *eol = memchr(p, '\n', (size_t)(end - p));
        char *next = eol ? eol + 1 : end;
        if (!eol) eol = end;
        if (eol > p && eol[-1] == '\r') eol--;
        *eol = '\0';
        char *colon = strchr(p, ':');
        if (colon) {
            *colon = '\0';
            char *v = colon + 1;
            while (*v == ' ' || *v == '\t') v++;
            h[nh++] = (ibex__header){p, v};
        }
        p = next;
    }
    return ibex__request_parse(h, nh, a, why, why_size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536) return 0; /* libmicrohttpd caps a connection's headers at 64 KiB here */
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0'; /* a NUL inside ends that line early, as a C string would */
    ibex__request_auth a;
    char why[300] = "";
    unsigned st = parse_block(text, size, &a, why, sizeof why);
    if (st == 0 && !well_formed(&a)) FUZZ_VIOLATION(problems, "accepted headers with malformed values");
    if (st != 0 && ((st != 400 && st != 401 && st != 411) || !why[0]))
        FUZZ_VIOLATION(problems, "a refusal with another status or no reason");
    free(text);
    return 0;
}

#ifndef IBEX_LIBFUZZER
#include "replay.h"

/* The headers a client sends for a signed request parse back to what it signed. */
static int round_trip(void)
{
    ibex_node_key *k = NULL;
    ibex_diag d;
    if (ibex_node_key_generate("node-p", &k, &d) != IBEX_OK) return 0;
    ibex_node_auth s;
    int ok = ibex_node_auth_sign(k, "node-s", "POST", "/v1/specimens", "hello", 5, -1, NULL, &s, &d) == IBEX_OK;
    char text[1024];
    snprintf(text, sizeof text, "Host: x\r\n%s: %s\r\n%s: %s\r\n%s: %s\r\n%s: %s\r\n%s: %s\r\n%s: %s\r\nContent-Length: 5\r\n",
             IBEX_HDR_NODE, s.node, IBEX_HDR_TO, s.to, IBEX_HDR_TIMESTAMP, s.timestamp, IBEX_HDR_NONCE, s.nonce,
             IBEX_HDR_BODY_SHA256, s.body_sha256, IBEX_HDR_SIGNATURE, s.signature);
    ibex__request_auth a;
    char why[300];
    ok = ok && parse_block(text, strlen(text), &a, why, sizeof why) == 0 && !strcmp(a.node, "node-p") &&
         !strcmp(a.to, "node-s") && !strcmp(a.ts, s.timestamp) && !strcmp(a.nonce, s.nonce) &&
         !strcmp(a.body_hex, s.body_sha256) && a.length == 5 && a.has_length;
    /* ... and the signature over the parsed values verifies with the key. */
    char msg[1024], pk[65];
    size_t mn = ok ? ibex_node_auth_message(a.node, a.to, "POST", "/v1/specimens", a.ts, a.nonce, a.length,
                                            a.body_hex, msg, sizeof msg)
                   : 0;
    ibex_node_key_public_hex(k, pk);
    char line[200];
    snprintf(line, sizeof line, "node-p %s\n", pk);
    ibex_trust *t = NULL;
    ok = ok && mn && ibex_trust_read_mem(line, strlen(line), "peers", &t, &d) == IBEX_OK &&
         ibex_peer_verify(ibex_trust_get(t, 0), msg, mn, a.sig);
    ibex_trust_free(t);
    ibex_node_key_free(k);
    return ok;
}

int main(int argc, char **argv)
{
    int rt = round_trip();
    fuzz_replay_opts o = {2000, 0, NULL};
    long runs = fuzz_replay(argc, argv, &o);
    fprintf(stderr, "%ld inputs replayed, %d problems, round trip %s\n", runs, problems, rt ? "ok" : "FAILED");
    return (problems || runs <= 0 || !rt) ? 1 : 0;
}
#endif
