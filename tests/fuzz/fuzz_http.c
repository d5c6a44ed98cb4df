/* Fuzz the node's request handling over loopback: an in-process node on 127.0.0.1:0 gets
 * (1) byte-level mutations of whole raw HTTP requests (request line, headers, body), sent
 * over a plain socket, and (2) correctly signed requests whose bodies are mutated packages
 * and JSON, so they pass authentication and reach the handlers. Passing means: no crash or
 * sanitizer report, every answer is an HTTP status line (or a closed connection), and at the
 * end the node is healthy with no request-body memory still reserved and nothing stored that
 * was not a valid package. Bounded: a fixed number of requests, each with a 5 s timeout. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "check.h"
#include "exchange_fixture.h"
#include "ibex/node.h"

static unsigned port;

static uint64_t next(uint64_t *x) /* splitmix64 */
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void mutate(unsigned char *b, size_t *n, uint64_t *x)
{
    if (*n == 0) return;
    switch (next(x) % 4) {
    case 0:
        for (int k = 0; k < 1 + (int)(next(x) % 4); k++) b[next(x) % *n] ^= (unsigned char)(1u << (next(x) % 8));
        break;
    case 1: {
        size_t at = next(x) % *n, run = 1 + next(x) % 16;
        memset(b + at, (int)(next(x) & 0xff), at + run <= *n ? run : *n - at);
        break;
    }
    case 2:
        *n = next(x) % *n;
        break;
    default: /* a byte that matters to HTTP */
        b[next(x) % *n] = "\r\n: \0%?=&"[next(x) % 10];
    }
}

/* Send raw bytes, read the answer; 1 when it is an HTTP status line or the node closed. */
static int send_raw(const unsigned char *req, size_t n)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {4, 0}; /* the node closes idle connections after 1 s */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return 0;
    }
    size_t off = 0;
    while (off < n) {
        ssize_t w = send(fd, req + off, n - off, MSG_NOSIGNAL);
        if (w <= 0) break;
        off += (size_t)w;
    }
    shutdown(fd, SHUT_WR); /* a request that claims more body than it has ends here */
    char buf[64] = "";
    ssize_t r = recv(fd, buf, sizeof buf - 1, 0);
    close(fd);
    if (r <= 0) return r == 0; /* closed without an answer: fine; timeout: not */
    buf[r] = 0;
    return strncmp(buf, "HTTP/1.", 7) == 0;
}

static size_t build_request(unsigned char *out, size_t cap, const ibex_node_key *k, const char *method,
                            const char *target, const void *body, size_t n)
{
    ibex_node_auth a;
    ibex_diag d;
    ibex_node_auth_sign(k, "node-s", method, target, body, n, -1, NULL, &a, &d);
    int h = snprintf((char *)out, cap,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s: %s\r\n%s: %s\r\n%s: %s\r\n%s: %s\r\n%s: %s\r\n"
                     "%s: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                     method, target, IBEX_HDR_NODE, a.node, IBEX_HDR_TO, a.to, IBEX_HDR_TIMESTAMP, a.timestamp,
                     IBEX_HDR_NONCE, a.nonce, IBEX_HDR_BODY_SHA256, a.body_sha256, IBEX_HDR_SIGNATURE, a.signature, n);
    if (h < 0 || (size_t)h + n > cap) return 0;
    if (n) memcpy(out + h, body, n);
    return (size_t)h + n;
}

int main(void)
{
    uint64_t seed = getenv("IBEX_FUZZ_SEED") ? strtoull(getenv("IBEX_FUZZ_SEED"), NULL, 0) : 20261123;
    int rounds = getenv("IBEX_FUZZ_MUTATIONS") ? atoi(getenv("IBEX_FUZZ_MUTATIONS")) : 150;
    fprintf(stderr, "seed %llu, %d rounds\n", (unsigned long long)seed, rounds);
    ibex_node_key *srv = make_key("node-s"), *peer = make_key("node-p");
    ibex_node_key *listed[] = {srv, peer, NULL};
    char peers[512], key[512], spool[512], plain[512], pkg[512];
    scratch_path(peers, sizeof peers, "peers.txt");
    scratch_path(key, sizeof key, "node-s.key");
    scratch_path(spool, sizeof spool, "spool");
    scratch_path(plain, sizeof plain, "plain.x3p");
    scratch_path(pkg, sizeof pkg, "pkg.x3p");
    write_peers(peers, listed);
    ibex_diag d;
    ibex_surface *s = analytic_surface(9, 7);
    CHECK(ibex_surface_write_x3p(s, plain, 0, &d) == IBEX_OK && ibex_package_sign(plain, pkg, NULL, peer, &d) == IBEX_OK);
    size_t pn = 0;
    unsigned char *pb = slurp(pkg, &pn);
    ibex_node_server_opts o;
    ibex_node_server_opts_init(&o);
    o.listen = "127.0.0.1:0";
    o.key_path = key;
    o.peers_path = peers;
    o.spool_dir = spool;
    o.max_body = 64 * 1024;
    o.max_memory = 512 * 1024;
    o.threads = 2;
    o.timeout_s = 1;
    o.log = NULL;
    ibex_node_server *S = NULL;
    CHECK_MSG(ibex_node_server_create(&o, &S, &d) == IBEX_OK, "%s", d.message);
    if (!S || !pb) return check_exit();
    port = ibex_node_server_port(S);
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%u", port);

    static unsigned char req[256 * 1024], mut[256 * 1024];
    const char *targets[] = {"/v1/health", "/v1/stats", "/v1/specimens?since=0&limit=5", "/v1/specimens/1",
                             "/v1/specimens", "/v1/query"};
    size_t bad_answers = 0, sent = 0;
    uint64_t x = seed;
    /* (1) raw mutations of signed requests: most die at authentication, some in HTTP parsing */
    for (int i = 0; i < rounds; i++) {
        const char *t = targets[next(&x) % 6];
        int post = !strcmp(t, "/v1/specimens") || !strcmp(t, "/v1/query");
        size_t n = build_request(req, sizeof req, peer, post ? "POST" : "GET", t, post ? pb : NULL, post ? pn : 0);
        memcpy(mut, req, n);
        mutate(mut, &n, &x);
        if (!send_raw(mut, n)) bad_answers++;
        sent++;
    }
    /* (2) valid signatures over mutated bodies: the handlers see damaged packages and JSON */
    for (int i = 0; i < rounds; i++) {
        size_t n = pn;
        memcpy(mut, pb, pn);
        mutate(mut, &n, &x);
        int query = next(&x) % 2;
        const unsigned char *body = mut;
        char *json = NULL;
        if (query) {
            size_t bl = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL);
            char *b64 = malloc(bl);
            sodium_bin2base64(b64, bl, mut, n, sodium_base64_VARIANT_ORIGINAL);
            json = malloc(bl + 64);
            snprintf(json, bl + 64, "{\"package\":\"%s\",\"top\":3}", b64);
            free(b64);
            n = strlen(json);
            memcpy(mut, json, n); /* and damage the JSON too, sometimes */
            if (next(&x) % 2) mutate(mut, &n, &x);
            body = mut;
        }
        size_t rn = build_request(req, sizeof req, peer, "POST", query ? "/v1/query" : "/v1/specimens", body, n);
        if (!send_raw(req, rn)) bad_answers++;
        sent++;
        free(json);
    }
    CHECK_MSG(bad_answers == 0, "%zu of %zu requests got neither an HTTP answer nor a clean close", bad_answers, sent);
    /* The node is healthy, holds no body memory, and stored at most the one valid package. */
    ibex_node_response r;
    CHECK(ibex_node_request(base, "node-s", peer, "GET", "/v1/stats", NULL, 0, NULL, 10, NULL, &r, &d) == IBEX_OK && r.status == 200);
    json_error_t je;
    json_t *j = json_loads((const char *)r.body, 0, &je);
    CHECK(json_integer_value(json_object_get(j, "body_memory_in_use")) == 0);
    CHECK(json_integer_value(json_object_get(j, "spool_packages")) <= 1);
    fprintf(stderr, "%zu requests; node stats: %s\n", sent, (const char *)r.body);
    json_decref(j);
    ibex_node_response_clear(&r);
    /* Whatever was stored is the valid package itself (a mutation that left it intact). */
    CHECK(ibex_node_request(base, "node-s", peer, "GET", "/v1/specimens?since=0", NULL, 0, NULL, 10, NULL, &r, &d) == IBEX_OK);
    j = json_loads((const char *)r.body, 0, &je);
    unsigned char h[32];
    char hex[65];
    crypto_hash_sha256(h, pb, pn);
    sodium_bin2hex(hex, sizeof hex, h, 32);
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(j, "items"), i, it)
        CHECK(!strcmp(json_string_value(json_object_get(it, "sha256")), hex));
    json_decref(j);
    ibex_node_response_clear(&r);
    ibex_node_server_free(S);
    free(pb);
    ibex_surface_free(s);
    ibex_node_key_free(srv);
    ibex_node_key_free(peer);
    scratch_remove();
    return check_exit();
}
