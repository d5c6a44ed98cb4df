/* Replay guard and spool naming (node internals): a nonce is accepted once within its
 * lifetime, per node; a full table refuses instead of forgetting; expiry frees slots in
 * time order. Checked against a naive list of (node, nonce, time) kept here. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "node_internal.h"

typedef struct seen {
    char node[8], nonce[40];
    time_t t;
} seen;

int main(void)
{
    const int ttl = 10;
    ibex__nonce_cache *c = ibex__nonce_create(64, ttl);
    CHECK(c != NULL);
    if (!c) return check_exit();
    /* Random stream of (node, nonce, time) with repeats; the reference decides each answer. */
    seen ref[4096];
    size_t nref = 0, mismatches = 0, replays = 0, fulls = 0;
    unsigned s = 12345;
    time_t now = 1000;
    for (int i = 0; i < 4000; i++) {
        s = s * 1103515245u + 12345u;
        if ((s >> 16) % 4 == 0) now++;
        char node[8], nonce[40];
        snprintf(node, sizeof node, "n%u", (s >> 8) % 3);
        snprintf(nonce, sizeof nonce, "%032u", (s >> 4) % 200);
        /* reference: live entries are those inserted within ttl seconds (by insertion time) */
        size_t live = 0;
        int dup = 0;
        for (size_t k = 0; k < nref; k++) {
            if (ref[k].t + ttl < now) continue;
            live++;
            if (!strcmp(ref[k].node, node) && !strcmp(ref[k].nonce, nonce)) dup = 1;
        }
        int want = dup ? 0 : live >= 64 ? -1 : 1;
        int got = ibex__nonce_check(c, node, nonce, now);
        if (got != want) mismatches++;
        if (got == 0) replays++;
        if (got < 0) fulls++;
        if (want == 1 && nref < 4096) {
            ref[nref] = (seen){{0}, {0}, now};
            strcpy(ref[nref].node, node);
            strcpy(ref[nref].nonce, nonce);
            nref++;
        }
    }
    CHECK_MSG(mismatches == 0, "%zu answers differ from the reference", mismatches);
    CHECK(replays > 0 && fulls > 0); /* the stream exercised both refusals */
    fprintf(stderr, "nonce stream: %zu replays, %zu refused as full\n", replays, fulls);
    /* The same nonce from another node is not a replay. */
    CHECK(ibex__nonce_check(c, "zz", "abc", now + 100) == 1);
    CHECK(ibex__nonce_check(c, "zy", "abc", now + 100) == 1);
    CHECK(ibex__nonce_check(c, "zz", "abc", now + 100) == 0);
    CHECK(ibex__nonce_check(c, "zz", "abc", now + 100 + ttl + 1) == 1); /* expired, then fresh */
    ibex__nonce_free(c);

    /* Spool names: round trip, and refusals. */
    unsigned char sha[32], back[32];
    for (int i = 0; i < 32; i++) sha[i] = (unsigned char)(i * 37 + 1);
    char name[96];
    uint64_t seq = 0;
    ibex__spool_name(123456789, sha, name);
    CHECK(strlen(name) == 89 && !strncmp(name, "00000000000123456789-", 21));
    CHECK(ibex__spool_parse_name(name, &seq, back) && seq == 123456789 && !memcmp(back, sha, 32));
    name[30] = 'G';
    CHECK(!ibex__spool_parse_name(name, &seq, back));
    CHECK(!ibex__spool_parse_name("00000000000000000000-aa.x3p", &seq, back));
    ibex__spool_name(0, sha, name); /* seq 0 is never used */
    CHECK(!ibex__spool_parse_name(name, &seq, back));
    return check_exit();
}
