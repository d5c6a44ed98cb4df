/* Replay guard and spool naming (node internals): a nonce is accepted once within its
 * lifetime, per node; a class (peer) that holds its share refuses instead of forgetting,
 * while the other classes go on; expiry frees slots in time order; the journal brings every
 * live nonce back after a restart. Checked against a naive list of (node, nonce, time). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "node_internal.h"

typedef struct seen {
    char node[8], nonce[40];
    time_t t;
} seen;

int main(void)
{
    const int ttl = 10;
    const size_t quota = 64 / 3; /* three classes share 64 slots */
    ibex__nonce_cache *c = ibex__nonce_create(64, ttl, 3);
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
        size_t live = 0, cls = (s >> 8) % 3;
        int dup = 0;
        for (size_t k = 0; k < nref; k++) {
            if (ref[k].t + ttl < now || strcmp(ref[k].node, node) != 0) continue;
            live++;
            if (!strcmp(ref[k].nonce, nonce)) dup = 1;
        }
        int want = dup ? 0 : live >= quota ? -1 : 1;
        int got = ibex__nonce_check(c, cls, node, nonce, now);
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
    CHECK(ibex__nonce_check(c, 0, "zz", "abc", now + 100) == 1);
    CHECK(ibex__nonce_check(c, 1, "zy", "abc", now + 100) == 1);
    CHECK(ibex__nonce_check(c, 0, "zz", "abc", now + 100) == 0);
    CHECK(ibex__nonce_check(c, 0, "zz", "abc", now + 100 + ttl + 1) == 1); /* expired, then fresh */
    /* One class full does not refuse another. */
    now += 1000;
    for (size_t i = 0; i < quota; i++) {
        char nonce[40];
        snprintf(nonce, sizeof nonce, "busy%zu", i);
        CHECK(ibex__nonce_check(c, 2, "n2", nonce, now) == 1);
    }
    CHECK(ibex__nonce_check(c, 2, "n2", "one-more", now) == IBEX__NONCE_FULL);
    CHECK(ibex__nonce_check(c, 0, "n0", "other-peer", now) == IBEX__NONCE_FRESH);
    ibex__nonce_free(c);

    /* Journal: what was accepted before a restart is still a replay after it, until it expires;
     * a torn last record is ignored; the file is compacted as it grows. */
    char dir[] = "/tmp/ibex-nonce-XXXXXX", path[64];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/.nonces", dir);
    ibex_diag d;
    time_t t = 50000;
    c = ibex__nonce_create(16, ttl, 2);
    CHECK(c && ibex__nonce_journal(c, path, t, &d) == IBEX_OK);
    for (int i = 0; i < 40; i++) { /* 40 > 2 x 16 records: compaction runs */
        char nonce[40];
        snprintf(nonce, sizeof nonce, "j%d", i);
        CHECK(ibex__nonce_check(c, (size_t)(i % 2), "p", nonce, t + 3 * i) == IBEX__NONCE_FRESH);
    }
    ibex__nonce_free(c);
    FILE *f = fopen(path, "ab");
    CHECK(f && fwrite("torn", 1, 4, f) == 4);
    if (f) fclose(f);
    c = ibex__nonce_create(16, ttl, 2);
    CHECK(c && ibex__nonce_journal(c, path, t + 118, &d) == IBEX_OK);
    /* j36 (taken at t + 108) .. j39 (t + 117) are live at t + 118: replays; j0 expired. */
    CHECK(ibex__nonce_check(c, 0, "p", "j36", t + 118) == IBEX__NONCE_REPLAY);
    CHECK(ibex__nonce_check(c, 1, "p", "j39", t + 118) == IBEX__NONCE_REPLAY);
    CHECK(ibex__nonce_check(c, 0, "p", "j0", t + 118) == IBEX__NONCE_FRESH);
    CHECK(ibex__nonce_check(c, 0, "p", "j35", t + 118) == IBEX__NONCE_FRESH); /* t + 105: expired */
    ibex__nonce_free(c);
    unlink(path);
    rmdir(dir);

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
