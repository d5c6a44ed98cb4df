/* Federation and the library hooks of the node, over loopback with in-process servers whose
 * query hooks return fixed ranked lists (docs/reference/node.md, "Federation"). The merged answer is
 * checked against an independent reference: every node's list concatenated, sorted by score
 * and cut to top. Also: hops 0 and non-federated queries stay local, a full mesh with two
 * hops answers each candidate once (query ids stop the loop), a dead peer and a peer past its
 * deadline are reported without failing the query, fanout bounds the peers asked, and a push
 * the store hook refuses is neither stored nor spooled. Bounded: deadlines of a few seconds. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>

#include "check.h"
#include "exchange_fixture.h"
#include "ibex/node.h"

#define NN 3
static const char *names[NN] = {"node-a", "node-b", "node-c"};
/* Each node's own candidates (id, score), best first as a library query returns them. */
static const struct {
    const char *id;
    double score;
} lists[NN][3] = {{{"a1", 9.0}, {"a2", 3.0}, {NULL, 0}},
                  {{"b1", 7.0}, {"b2", 5.0}, {"b3", 1.0}},
                  {{"c1", 8.0}, {NULL, 0}, {NULL, 0}}};

typedef struct fake {
    int node;
    int sleep_s; /* a slow library */
    int stores, refuse_store;
} fake;

static ibex_status fake_query(void *user, const unsigned char *pkg, size_t n, unsigned top, unsigned shortlist,
                              char **json_out, ibex_diag *diag)
{
    (void)pkg, (void)n, (void)shortlist, (void)diag;
    fake *f = user;
    if (f->sleep_s) sleep((unsigned)f->sleep_s);
    json_t *arr = json_array();
    for (unsigned i = 0; i < 3 && i < top && lists[f->node][i].id; i++)
        json_array_append_new(arr, json_pack("{s:i, s:s, s:f, s:f, s:s}", "rank", i + 1, "id", lists[f->node][i].id,
                                             "score", lists[f->node][i].score, "stage1", 0.5, "verdict",
                                             "inconclusive"));
    json_t *o = json_pack("{s:s, s:o}", "kind", "cartridge", "candidates", arr);
    *json_out = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return IBEX_OK;
}

static ibex_status fake_store(void *user, const unsigned char *pkg, size_t n, const char *sha, char *note,
                              size_t note_size, ibex_diag *diag)
{
    (void)pkg, (void)n;
    fake *f = user;
    if (f->refuse_store) {
        memset(diag, 0, sizeof *diag);
        snprintf(diag->message, sizeof diag->message, "preprocessing parameters differ");
        return IBEX_ERR_FORMAT;
    }
    f->stores++;
    snprintf(note, note_size, "stored test:%.8s", sha);
    return IBEX_OK;
}

static unsigned free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    unsigned p = 0;
    if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(s, (struct sockaddr *)&a, &l) == 0)
        p = ntohs(a.sin_port);
    if (s >= 0) close(s);
    return p;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static char *b64_package;

/* POST /v1/query to node i with extra JSON members; the parsed answer (NULL on failure). */
static json_t *query(unsigned port, const ibex_node_key *k, const char *extra, long *status)
{
    char url[64], *body = malloc(strlen(b64_package) + 256);
    if (!body) return NULL;
    snprintf(url, sizeof url, "http://127.0.0.1:%u", port);
    sprintf(body, "{\"package\":\"%s\"%s%s}", b64_package, extra[0] ? "," : "", extra);
    ibex_node_response r;
    ibex_diag d;
    json_t *j = NULL;
    *status = -1;
    if (ibex_node_request(url, NULL, k, "POST", "/v1/query", body, strlen(body), "application/json", 30, NULL, &r, &d) ==
        IBEX_OK) {
        json_error_t je;
        *status = r.status;
        j = json_loadb((const char *)r.body, r.size, 0, &je);
        ibex_node_response_clear(&r);
    }
    free(body);
    return j;
}

/* Reference merge: every (node, id, score) of the given nodes, by score, first top. */
typedef struct ref {
    const char *node, *id;
    double score;
} ref;

static int ref_cmp(const void *a, const void *b)
{
    const ref *x = a, *y = b;
    return x->score > y->score ? -1 : x->score < y->score;
}

static int matches_reference(json_t *ans, const int *use, size_t top)
{
    ref all[16];
    size_t n = 0;
    for (int i = 0; i < NN; i++)
        for (int h = 0; use[i] && h < 3 && lists[i][h].id; h++) all[n++] = (ref){names[i], lists[i][h].id, lists[i][h].score};
    qsort(all, n, sizeof *all, ref_cmp);
    if (n > top) n = top;
    json_t *c = json_object_get(ans, "candidates");
    if (json_array_size(c) != n) {
        fprintf(stderr, "  %zu candidates, reference %zu\n", json_array_size(c), n);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(c, i);
        const char *node = json_string_value(json_object_get(x, "node")), *id = json_string_value(json_object_get(x, "id"));
        if (!node || !id || strcmp(node, all[i].node) || strcmp(id, all[i].id) ||
            json_integer_value(json_object_get(x, "rank")) != (json_int_t)(i + 1) ||
            json_number_value(json_object_get(x, "score")) != all[i].score) {
            fprintf(stderr, "  rank %zu: %s@%s, reference %s@%s\n", i + 1, id, node, all[i].id, all[i].node);
            return 0;
        }
    }
    return 1;
}

static const char *node_error(json_t *ans, const char *node)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(ans, "nodes"), i, e) {
        const char *nm = json_string_value(json_object_get(e, "node"));
        if (nm && !strcmp(nm, node)) return json_is_string(json_object_get(e, "error")) ? json_string_value(json_object_get(e, "error")) : "";
    }
    return NULL;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    ibex_node_key *keys[NN], *client = make_key("client"), *dead = make_key("node-dead");
    unsigned ports[NN + 1];
    for (int i = 0; i < NN; i++) keys[i] = make_key(names[i]);
    for (int i = 0; i <= NN; i++) ports[i] = free_port();
    char peers[512], plain[512], pkg[512];
    scratch_path(peers, sizeof peers, "peers.txt");
    scratch_path(plain, sizeof plain, "plain.x3p");
    scratch_path(pkg, sizeof pkg, "pkg.x3p");
    FILE *f = fopen(peers, "w");
    for (int i = 0; i < NN; i++) {
        char hex[65];
        ibex_node_key_public_hex(keys[i], hex);
        fprintf(f, "%s %s http://127.0.0.1:%u\n", names[i], hex, ports[i]);
    }
    char hex[65];
    ibex_node_key_public_hex(client, hex);
    fprintf(f, "client %s\n", hex);
    ibex_node_key_public_hex(dead, hex); /* listed with a URL where nothing listens */
    fprintf(f, "node-dead %s http://127.0.0.1:%u\n", hex, ports[NN]);
    fclose(f);
    ibex_diag d;
    ibex_surface *s = analytic_surface(31, 19);
    CHECK(ibex_surface_write_x3p(s, plain, 0, &d) == IBEX_OK);
    CHECK(ibex_package_sign(plain, pkg, NULL, client, &d) == IBEX_OK);
    size_t pn = 0;
    unsigned char *pb = slurp(pkg, &pn);
    size_t bl = sodium_base64_encoded_len(pn, sodium_base64_VARIANT_ORIGINAL);
    b64_package = malloc(bl);
    sodium_bin2base64(b64_package, bl, pb, pn, sodium_base64_VARIANT_ORIGINAL);

    fake fk[NN] = {{0, 0, 0, 0}, {1, 0, 0, 0}, {2, 0, 0, 0}};
    ibex_node_server *S[NN] = {0};
    for (int i = 0; i < NN; i++) {
        char listen[64], key[512], spool[512], kf[64], sf[64];
        snprintf(listen, sizeof listen, "127.0.0.1:%u", ports[i]);
        snprintf(kf, sizeof kf, "%s.key", names[i]);
        snprintf(sf, sizeof sf, "spool-%s", names[i]);
        scratch_path(key, sizeof key, kf);
        scratch_path(spool, sizeof spool, sf);
        ibex_node_server_opts o;
        ibex_node_server_opts_init(&o);
        o.listen = listen;
        o.key_path = key;
        o.peers_path = peers;
        o.spool_dir = spool;
        o.threads = 4;
        o.log = NULL;
        o.store = fake_store;
        o.query = fake_query;
        o.library_user = &fk[i];
        o.peer_timeout_s = 20;
        CHECK_MSG(ibex_node_server_create(&o, &S[i], &d) == IBEX_OK, "%s: %s", names[i], d.message);
        if (!S[i]) return check_exit();
    }
    long st;
    int all3[NN] = {1, 1, 1}, only_c[NN] = {0, 0, 1};

    /* Local only: not federated, or no hops left. */
    json_t *j = query(ports[2], client, "\"top\":10", &st);
    CHECK(st == 200 && matches_reference(j, only_c, 10));
    json_decref(j);
    j = query(ports[2], client, "\"top\":10,\"federate\":true,\"hops\":0", &st);
    CHECK(st == 200 && matches_reference(j, only_c, 10));
    json_decref(j);

    /* Federated at C, one hop: A's, B's and C's lists merged, top 4; the dead peer reported. */
    j = query(ports[2], client, "\"top\":4,\"federate\":true", &st);
    CHECK(st == 200 && matches_reference(j, all3, 4));
    const char *e = node_error(j, "node-dead");
    CHECK_MSG(e && *e, "dead peer not reported: %s", e ? e : "(absent)");
    CHECK(node_error(j, "node-a") && !*node_error(j, "node-a"));
    json_decref(j);

    /* Full mesh, two hops: every candidate once, whichever path reached it first. */
    j = query(ports[0], client, "\"top\":10,\"federate\":true,\"hops\":2", &st);
    CHECK(st == 200 && matches_reference(j, all3, 10));
    json_decref(j);
    ibex_node_response r;
    char url[64];
    int seen_total = 0;
    for (int i = 0; i < NN; i++) {
        snprintf(url, sizeof url, "http://127.0.0.1:%u", ports[i]);
        if (ibex_node_request(url, NULL, client, "GET", "/v1/stats", NULL, 0, NULL, 10, NULL, &r, &d) == IBEX_OK) {
            json_error_t je;
            json_t *x = json_loadb((const char *)r.body, r.size, 0, &je);
            seen_total += (int)json_integer_value(json_object_get(x, "queries_seen"));
            json_decref(x);
            ibex_node_response_clear(&r);
        }
    }
    CHECK_MSG(seen_total >= 1, "the two-hop mesh query came back to no node (%d)", seen_total);

    /* A slow peer past the deadline: reported as failed, the others still merged, in time. */
    fk[1].sleep_s = 6;
    double t0 = now_s();
    j = query(ports[2], client, "\"top\":10,\"federate\":true,\"deadline_s\":3", &st);
    double dt = now_s() - t0;
    int a_c[NN] = {1, 0, 1};
    CHECK(st == 200 && matches_reference(j, a_c, 10));
    e = node_error(j, "node-b");
    CHECK_MSG(e && *e, "slow peer not reported as failed");
    CHECK_MSG(dt < 5.5, "the deadline did not bound the query: %.1f s", dt);
    json_decref(j);
    sleep(4); /* let B's slow search finish before it is stopped */
    fk[1].sleep_s = 0;

    /* Pushes go through the store hook; a refusal stores nothing. */
    snprintf(url, sizeof url, "http://127.0.0.1:%u", ports[0]);
    CHECK(ibex_node_request(url, NULL, client, "POST", "/v1/specimens", pb, pn, NULL, 10, NULL, &r, &d) == IBEX_OK &&
          r.status == 201 && strstr((const char *)r.body, "\"library\":\"stored test:") && fk[0].stores == 1);
    ibex_node_response_clear(&r);
    fk[1].refuse_store = 1;
    snprintf(url, sizeof url, "http://127.0.0.1:%u", ports[1]);
    CHECK(ibex_node_request(url, NULL, client, "POST", "/v1/specimens", pb, pn, NULL, 10, NULL, &r, &d) == IBEX_OK &&
          r.status == 422 && strstr((const char *)r.body, "parameters differ"));
    ibex_node_response_clear(&r);
    CHECK(ibex_node_request(url, NULL, client, "GET", "/v1/specimens?since=0", NULL, 0, NULL, 10, NULL, &r, &d) == IBEX_OK &&
          strstr((const char *)r.body, "\"items\":[]"));
    ibex_node_response_clear(&r);

    for (int i = 0; i < NN; i++) {
        ibex_node_server_free(S[i]);
        ibex_node_key_free(keys[i]);
    }
    ibex_node_key_free(client);
    ibex_node_key_free(dead);
    ibex_surface_free(s);
    free(pb);
    free(b64_package);
    scratch_remove();
    curl_global_cleanup();
    return check_exit();
}
