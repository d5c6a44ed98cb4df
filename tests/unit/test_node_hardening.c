/* The node against a replaying, hoarding or stalling caller, over loopback with in-process
 * servers (docs/reference/node.md, "Threat model"):
 *   - a request signed for one node is refused by another that lists the same peer;
 *   - a replayed request is refused after the node restarts, as before;
 *   - one peer that fills its share of the replay table does not lock the others out;
 *   - a stranger's headers with a random signature and a huge Content-Length get 401 at once
 *     and reserve nothing; a signed body that trickles is cut off; one peer cannot hold more
 *     than its share of body memory; connections that never finish their headers (from one
 *     address, past its connection cap) are closed while health checks from elsewhere answer;
 *   - a handler slower than those deadlines (a slow library store) is not cut off;
 *   - a hung peer does not stall the node: federated queries wait off the pool threads (one
 *     here) and are answered at their deadline, health answers meanwhile.
 * Bounded: every socket has a receive timeout, every wait a deadline; about 20 s in all. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>

#include "check.h"
#include "exchange_fixture.h"
#include "ibex/node.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* A TCP connection to 127.0.0.1:port from source address src (NULL: any), receive timeout rcv_s. */
static int dial(unsigned port, const char *src, double rcv_s)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct timeval tv = {(time_t)rcv_s, (suseconds_t)((rcv_s - (time_t)rcv_s) * 1e6)};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (src) {
        struct sockaddr_in b = {.sin_family = AF_INET};
        inet_pton(AF_INET, src, &b.sin_addr);
        if (bind(fd, (struct sockaddr *)&b, sizeof b) != 0) {
            close(fd);
            return -1;
        }
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_text(int fd, const void *p, size_t n) { return send(fd, p, n, MSG_NOSIGNAL) == (ssize_t)n; }

/* The header block of a request signed as a (no blank line at its end). */
static void auth_headers(char *out, size_t size, const char *method, const char *target, const ibex_node_auth *a,
                         size_t length)
{
    snprintf(out, size,
             "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s: %s\r\n%s: %s\r\n%s: %s\r\n%s: %s\r\n%s: %s\r\n%s: %s\r\n"
             "Content-Length: %zu\r\n",
             method, target, IBEX_HDR_NODE, a->node, IBEX_HDR_TO, a->to, IBEX_HDR_TIMESTAMP, a->timestamp,
             IBEX_HDR_NONCE, a->nonce, IBEX_HDR_BODY_SHA256, a->body_sha256, IBEX_HDR_SIGNATURE, a->signature,
             length);
}

/* One whole request (signed as a, with body) on a fresh connection: the answer's status. */
static long replay(unsigned port, const char *method, const char *target, const ibex_node_auth *a, const void *body,
                   size_t n, char *reply, size_t reply_size)
{
    char head[2048];
    auth_headers(head, sizeof head, method, target, a, n);
    strcat(head, "Connection: close\r\n\r\n");
    int fd = dial(port, NULL, 10);
    long st = -1;
    if (fd >= 0 && send_text(fd, head, strlen(head))) {
        /* A refusal from the headers comes at once, and the node then closes: read it before
         * sending a body into a closed connection. */
        struct pollfd pf = {fd, POLLIN, 0};
        if (n && poll(&pf, 1, 300) == 0) send_text(fd, body, n);
        st = http_answer(fd, reply, reply_size);
    }
    if (fd >= 0) close(fd);
    return st;
}

static long health(unsigned port, const char *to, const ibex_node_key *k, double *seconds)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", port);
    ibex_node_response r;
    ibex_diag d;
    double t0 = now_s();
    long st = -1;
    if (ibex_node_request(url, to, k, "GET", "/v1/health", NULL, 0, NULL, 10, NULL, &r, &d) == IBEX_OK) st = r.status;
    if (seconds) *seconds = now_s() - t0;
    ibex_node_response_clear(&r);
    return st;
}

static json_t *stats(unsigned port, const char *to, const ibex_node_key *k)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", port);
    ibex_node_response r;
    ibex_diag d;
    json_t *j = NULL;
    if (ibex_node_request(url, to, k, "GET", "/v1/stats", NULL, 0, NULL, 10, NULL, &r, &d) == IBEX_OK) {
        json_error_t je;
        j = json_loadb((const char *)r.body, r.size, 0, &je);
    }
    ibex_node_response_clear(&r);
    return j;
}

static long long stat_of(unsigned port, const char *to, const ibex_node_key *k, const char *name)
{
    json_t *j = stats(port, to, k);
    long long v = j ? json_integer_value(json_object_get(j, name)) : -1;
    json_decref(j);
    return v;
}

/* A library that takes longer to store than a request's header time. */
static ibex_status slow_store(void *user, const unsigned char *pkg, size_t n, const char *sha, char *note,
                              size_t note_size, ibex_diag *diag)
{
    (void)user, (void)pkg, (void)n, (void)diag;
    sleep(3);
    snprintf(note, note_size, "stored slowly %.8s", sha);
    return IBEX_OK;
}

typedef struct fq {
    unsigned port;
    const ibex_node_key *k;
    const char *body;
    long status;
    double seconds;
    char hung_error[200];
} fq;

static void *federated_query(void *arg)
{
    fq *q = arg;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", q->port);
    ibex_node_response r;
    ibex_diag d;
    double t0 = now_s();
    q->status = -1;
    if (ibex_node_request(url, "node-a", q->k, "POST", "/v1/query", q->body, strlen(q->body), "application/json", 30,
                          NULL, &r, &d) == IBEX_OK) {
        q->status = r.status;
        json_error_t je;
        json_t *j = json_loadb((const char *)r.body, r.size, 0, &je);
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(j, "nodes"), i, e) {
            const char *name = json_string_value(json_object_get(e, "node"));
            const char *err = json_string_value(json_object_get(e, "error"));
            if (name && !strcmp(name, "node-h") && err) snprintf(q->hung_error, sizeof q->hung_error, "%s", err);
        }
        json_decref(j);
    }
    q->seconds = now_s() - t0;
    ibex_node_response_clear(&r);
    return NULL;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    ibex_node_key *ka = make_key("node-a"), *kb = make_key("node-b"), *kp = make_key("node-p"),
                  *kq = make_key("node-q"), *kh = make_key("node-h"), *kr = make_key("node-r");
    ibex_diag d;
    /* A hung peer: a listening socket whose connections are queued and never answered. */
    int hung = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in ha = {.sin_family = AF_INET};
    ha.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t hl = sizeof ha;
    CHECK(hung >= 0 && bind(hung, (struct sockaddr *)&ha, sizeof ha) == 0 && listen(hung, 64) == 0 &&
          getsockname(hung, (struct sockaddr *)&ha, &hl) == 0);
    char peers_a[512], peers_b[512], spool_a[512], spool_b[512], logp[512], plain[512], pkg[512];
    scratch_path(peers_a, sizeof peers_a, "peers-a.txt");
    scratch_path(peers_b, sizeof peers_b, "peers-b.txt");
    scratch_path(spool_a, sizeof spool_a, "spool-a");
    scratch_path(spool_b, sizeof spool_b, "spool-b");
    scratch_path(logp, sizeof logp, "node-a.log");
    scratch_path(plain, sizeof plain, "plain.x3p");
    scratch_path(pkg, sizeof pkg, "pkg.x3p");
    {
        FILE *f = fopen(peers_a, "w");
        ibex_node_key *ks[] = {ka, kb, kp, kq, kh, kr};
        for (int i = 0; f && i < 6; i++) {
            char hex[65];
            ibex_node_key_public_hex(ks[i], hex);
            if (ks[i] == kh) fprintf(f, "%s %s http://127.0.0.1:%u\n", ibex_node_key_name(ks[i]), hex, ntohs(ha.sin_port));
            else fprintf(f, "%s %s\n", ibex_node_key_name(ks[i]), hex);
        }
        if (f) fclose(f);
        ibex_node_key *lb[] = {ka, kb, kp, NULL};
        write_peers(peers_b, lb);
    }
    ibex_surface *s = analytic_surface(31, 19);
    CHECK(ibex_surface_write_x3p(s, plain, 0, &d) == IBEX_OK && ibex_package_sign(plain, pkg, NULL, kp, &d) == IBEX_OK);
    size_t pn = 0;
    unsigned char *pb = slurp(pkg, &pn);

    ibex_node_server_opts oa;
    ibex_node_server_opts_init(&oa);
    char keya[512], keyb[512];
    scratch_path(keya, sizeof keya, "node-a.key");
    scratch_path(keyb, sizeof keyb, "node-b.key");
    oa.listen = "127.0.0.1:0";
    oa.key_path = keya;
    oa.peers_path = peers_a;
    oa.spool_dir = spool_a;
    oa.max_body = (size_t)2 << 20;
    oa.max_memory = (size_t)8 << 20;
    oa.max_peer_memory = (size_t)2 << 20;
    oa.threads = 1;
    oa.header_timeout_s = 2;
    oa.min_body_rate = 256 * 1024;
    oa.nonce_capacity = 1200; /* six peers: 200 each */
    oa.peer_timeout_s = 4;
    oa.timeout_s = 3; /* shorter than a query's deadline: a waiting query is not idle */
    oa.log = fopen(logp, "w");
    ibex_node_server_opts ob = oa;
    ob.key_path = keyb;
    ob.peers_path = peers_b;
    ob.spool_dir = spool_b;
    ob.log = NULL;
    ob.store = slow_store;
    ibex_node_server *A = NULL, *B = NULL;
    CHECK_MSG(ibex_node_server_create(&oa, &A, &d) == IBEX_OK, "%s", d.message);
    CHECK_MSG(ibex_node_server_create(&ob, &B, &d) == IBEX_OK, "%s", d.message);
    if (!A || !B || !pb) return check_exit();
    unsigned pa = ibex_node_server_port(A), pbp = ibex_node_server_port(B);
    char reply[4096];

    /* 1. Signed for A, replayed to B (which lists the same peer): refused; A takes it. */
    ibex_node_auth au;
    CHECK(ibex_node_auth_sign(kp, "node-a", "POST", "/v1/specimens", pb, pn, -1, NULL, &au, &d) == IBEX_OK);
    CHECK_MSG(replay(pbp, "POST", "/v1/specimens", &au, pb, pn, reply, sizeof reply) == 401 &&
                  strstr(reply, "signed for node 'node-a'"),
              "%s", reply);
    CHECK(stat_of(pbp, "node-b", kp, "spool_packages") == 0);
    CHECK_MSG(replay(pa, "POST", "/v1/specimens", &au, pb, pn, reply, sizeof reply) == 201, "%s", reply);

    /* 2. The same bytes again: a replay, before and after a restart of A. */
    CHECK(replay(pa, "POST", "/v1/specimens", &au, pb, pn, reply, sizeof reply) == 401 && strstr(reply, "replayed"));
    ibex_node_auth ah;
    CHECK(ibex_node_auth_sign(kp, "node-a", "GET", "/v1/health", NULL, 0, -1, NULL, &ah, &d) == IBEX_OK);
    CHECK(replay(pa, "GET", "/v1/health", &ah, NULL, 0, reply, sizeof reply) == 200);
    ibex_node_server_free(A);
    A = NULL;
    CHECK_MSG(ibex_node_server_create(&oa, &A, &d) == IBEX_OK, "%s", d.message);
    if (!A) return check_exit();
    pa = ibex_node_server_port(A);
    CHECK_MSG(replay(pa, "GET", "/v1/health", &ah, NULL, 0, reply, sizeof reply) == 401 && strstr(reply, "replayed"),
              "after a restart: %s", reply);
    CHECK(replay(pa, "POST", "/v1/specimens", &au, pb, pn, reply, sizeof reply) == 401 && strstr(reply, "replayed"));

    /* 3. Peer r fills its share of the replay table (200); p and q are still served. */
    int accepted = 0;
    long last = 0;
    for (int i = 0; i < 260 && (last = health(pa, "node-a", kr, NULL)) == 200; i++) accepted++;
    CHECK_MSG(last == 503 && accepted == 200, "r: %d accepted, then %ld", accepted, last);
    CHECK(health(pa, "node-a", kq, NULL) == 200 && health(pa, "node-a", kp, NULL) == 200);

    /* 4a. Strangers' headers: a listed name, a random signature, 2 MiB declared, one byte sent.
     * Eight of them at once get 401 without a byte of body memory reserved; a real push goes on. */
    {
        int fds[8];
        double t0 = now_s();
        for (int i = 0; i < 8; i++) {
            ibex_node_auth fake;
            CHECK(ibex_node_auth_sign(kq, "node-a", "POST", "/v1/specimens", "x", 1, -1, NULL, &fake, &d) == IBEX_OK);
            memcpy(fake.node, "node-p", 7); /* p's name, q's signature: not p's */
            char head[2048];
            auth_headers(head, sizeof head, "POST", "/v1/specimens", &fake, (size_t)2 << 20);
            strcat(head, "\r\nx");
            fds[i] = dial(pa, "127.0.0.2", 5);
            CHECK(fds[i] >= 0 && send_text(fds[i], head, strlen(head)));
        }
        for (int i = 0; i < 8; i++) {
            long st = fds[i] >= 0 ? http_answer(fds[i], reply, sizeof reply) : -1;
            CHECK_MSG(st == 401 && strstr(reply, "bad request signature"), "stranger %d: %ld %s", i, st, reply);
            if (fds[i] >= 0) close(fds[i]);
        }
        CHECK(now_s() - t0 < 3);
        CHECK(stat_of(pa, "node-a", kq, "body_memory_in_use") == 0);
        ibex_node_auth pq;
        const char *params[] = {"run", "4a", NULL};
        char pkg2[600];
        snprintf(pkg2, sizeof pkg2, "%s.4a", pkg);
        size_t n2 = 0;
        unsigned char *b2 = NULL;
        CHECK(ibex_package_sign(plain, pkg2, params, kq, &d) == IBEX_OK && (b2 = slurp(pkg2, &n2)));
        CHECK(b2 && ibex_node_auth_sign(kq, "node-a", "POST", "/v1/specimens", b2, n2, -1, NULL, &pq, &d) == IBEX_OK);
        CHECK_MSG(b2 && replay(pa, "POST", "/v1/specimens", &pq, b2, n2, reply, sizeof reply) == 201, "%s", reply);
        free(b2);
    }

    /* 4b. One peer's share of body memory (2 MiB here): q holds a signed 2 MiB body open and
     * its next request with a body is refused. */
    {
        static unsigned char big[(size_t)2 << 20];
        ibex_node_auth h1, h2;
        CHECK(ibex_node_auth_sign(kq, "node-a", "POST", "/v1/specimens", big, sizeof big, -1, NULL, &h1, &d) == IBEX_OK);
        CHECK(ibex_node_auth_sign(kq, "node-a", "POST", "/v1/specimens", big, 1 << 20, -1, NULL, &h2, &d) == IBEX_OK);
        char head[2048];
        auth_headers(head, sizeof head, "POST", "/v1/specimens", &h1, sizeof big);
        strcat(head, "\r\n");
        int slow = dial(pa, NULL, 10);
        CHECK(slow >= 0 && send_text(slow, head, strlen(head)) && send_text(slow, big, 1000));
        usleep(200000);
        CHECK(stat_of(pa, "node-a", kp, "body_memory_in_use") == (long long)sizeof big);
        CHECK_MSG(replay(pa, "POST", "/v1/specimens", &h2, big, 1 << 20, reply, sizeof reply) == 503 &&
                      strstr(reply, "memory budget"),
                  "%s", reply);
        /* 4c. ... and it trickles: at 256 KiB/s after 2 s of grace it had 10 s; one byte a
         * second gets the connection closed then, and the memory comes back. */
        double t0 = now_s();
        long st = -1;
        while (now_s() - t0 < 14) {
            if (!send_text(slow, big, 1)) break;
            struct timeval tv = {1, 0};
            setsockopt(slow, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            st = http_answer(slow, reply, sizeof reply);
            if (st != -1) break;
        }
        double held = now_s() - t0;
        CHECK_MSG(st == 0 && held > 8 && held < 13.5, "trickling body: %ld after %.1f s", st, held);
        if (slow >= 0) close(slow);
        usleep(200000);
        CHECK(stat_of(pa, "node-a", kp, "body_memory_in_use") == 0);
        CHECK(stat_of(pa, "node-a", kp, "closed_slow") >= 1);
    }

    /* 4d. 100 connections from one address that never finish their headers: past 64 they are
     * refused, the rest are closed 2 s after they opened; health from another address answers
     * all the while. */
    {
        int fds[100], opened = 0;
        for (int i = 0; i < 100; i++) {
            fds[i] = dial(pa, "127.0.0.3", 0.2);
            if (fds[i] >= 0 && send_text(fds[i], "GET /v1/health HTTP/1.1\r\nHost:", 31)) opened++;
        }
        double worst = 0, t;
        for (int i = 0; i < 5; i++) {
            CHECK(health(pa, "node-a", kq, &t) == 200);
            if (t > worst) worst = t;
            usleep(300000);
        }
        CHECK_MSG(worst < 1.0, "health took %.2f s with slow connections open", worst);
        usleep(1500000);
        int closed = 0;
        for (int i = 0; i < 100; i++) {
            if (fds[i] < 0) continue;
            char c;
            ssize_t k = recv(fds[i], &c, 1, 0);
            if (k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) closed++;
            close(fds[i]);
        }
        CHECK_MSG(closed == 100, "%d of 100 slow-header connections closed (%d opened)", closed, opened);
    }

    /* 4e. A handler slower than the header time (a 3 s store, header time 2 s) is not cut
     * off: the deadlines bound what the client sends, not the node's own work. */
    {
        ibex_node_auth sb;
        CHECK(ibex_node_auth_sign(kp, "node-b", "POST", "/v1/specimens", pb, pn, -1, NULL, &sb, &d) == IBEX_OK);
        double t0 = now_s();
        long st = replay(pbp, "POST", "/v1/specimens", &sb, pb, pn, reply, sizeof reply);
        CHECK_MSG(st == 201 && strstr(reply, "stored slowly") && now_s() - t0 > 2.5, "slow store: %ld after %.1f s: %s",
                  st, now_s() - t0, reply);
    }

    /* 9. A hung peer, one pool thread, four federated queries at once: each answered at its
     * deadline (4 s, past the 3 s idle timeout) with the peer's failure, and health answers
     * meanwhile. */
    {
        size_t bl = sodium_base64_encoded_len(pn, sodium_base64_VARIANT_ORIGINAL);
        char *b64 = malloc(bl), *body = malloc(bl + 128);
        CHECK(b64 && body);
        sodium_bin2base64(b64, bl, pb, pn, sodium_base64_VARIANT_ORIGINAL);
        snprintf(body, bl + 128, "{\"package\":\"%s\",\"federate\":true,\"deadline_s\":4}", b64);
        fq q[4];
        pthread_t th[4];
        for (int i = 0; i < 4; i++) {
            q[i] = (fq){pa, kp, body, 0, 0, ""};
            CHECK(pthread_create(&th[i], NULL, federated_query, &q[i]) == 0);
        }
        usleep(500000);
        double t, worst = 0;
        for (int i = 0; i < 4; i++) {
            CHECK(health(pa, "node-a", kq, &t) == 200);
            if (t > worst) worst = t;
            usleep(250000);
        }
        CHECK_MSG(worst < 1.0, "health took %.2f s while queries wait for a hung peer", worst);
        for (int i = 0; i < 4; i++) {
            pthread_join(th[i], NULL);
            CHECK_MSG(q[i].status == 200 && q[i].seconds > 3 && q[i].seconds < 8 && q[i].hung_error[0],
                      "query %d: %ld after %.1f s, hung peer: '%s'", i, q[i].status, q[i].seconds, q[i].hung_error);
        }
        free(b64);
        free(body);
    }

    ibex_node_server_free(A);
    ibex_node_server_free(B);
    fclose(oa.log);
    size_t ln;
    char *log = (char *)slurp(logp, &ln);
    CHECK(log && strstr(log, "closed the connection: headers not complete") &&
          strstr(log, "closed the connection: body arrived slower"));
    if (check_failures_ && log) fprintf(stderr, "node-a's log:\n%s", log);
    free(log);
    close(hung);
    free(pb);
    ibex_surface_free(s);
    ibex_node_key_free(ka);
    ibex_node_key_free(kb);
    ibex_node_key_free(kp);
    ibex_node_key_free(kq);
    ibex_node_key_free(kh);
    ibex_node_key_free(kr);
    curl_global_cleanup();
    scratch_remove();
    return check_exit();
}
