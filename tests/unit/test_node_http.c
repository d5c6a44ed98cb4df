/* The node over loopback: an in-process server on an ephemeral 127.0.0.1 port, requests made
 * with libcurl directly so each can be forged, tampered or replayed on purpose. Every case
 * states the status the protocol (docs/reference/node.md) requires. Bounded: each request has a 10 s
 * timeout and the server is stopped at the end. */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
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
#include "ibex/library.h"
#include "ibex/node.h"

static char base[64];
static int chunked_; /* send the body chunked (no Content-Length) */

typedef struct reply {
    long status;
    char body[1 << 16];
    size_t n;
} reply;

static size_t on_body(char *d, size_t s, size_t m, void *u)
{
    reply *r = u;
    size_t k = s * m, room = sizeof r->body - 1 - r->n;
    memcpy(r->body + r->n, d, k < room ? k : room);
    r->n += k < room ? k : room;
    r->body[r->n] = 0;
    return k;
}

typedef struct src_ {
    const unsigned char *p;
    size_t left;
} src_;

static size_t on_read(char *buf, size_t s, size_t m, void *u)
{
    src_ *q = u;
    size_t k = s * m < q->left ? s * m : q->left;
    if (k > 7000) k = 7000; /* several chunks */
    memcpy(buf, q->p, k);
    q->p += k;
    q->left -= k;
    return k;
}

/* Send method target with body, authenticated by a (NULL: no auth headers). */
static long raw(const char *method, const char *target, const void *body, size_t n,
                const ibex_node_auth *a, reply *r)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    char line[300], url[8192];
    if (a) {
        const char *const hv[][2] = {{IBEX_HDR_NODE, a->node},           {IBEX_HDR_TO, a->to},
                                     {IBEX_HDR_TIMESTAMP, a->timestamp}, {IBEX_HDR_NONCE, a->nonce},
                                     {IBEX_HDR_BODY_SHA256, a->body_sha256}, {IBEX_HDR_SIGNATURE, a->signature}};
        for (size_t i = 0; i < sizeof hv / sizeof hv[0]; i++) {
            snprintf(line, sizeof line, "%s: %s", hv[i][0], hv[i][1]);
            h = curl_slist_append(h, line);
        }
    }
    h = curl_slist_append(h, "Expect:");
    if (chunked_) h = curl_slist_append(h, "Transfer-Encoding: chunked");
    snprintf(url, sizeof url, "%s%s", base, target);
    memset(r, 0, sizeof *r);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, n ? body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
    }
    src_ q = {body, n};
    if (chunked_) { /* a body of unknown length: curl sends it chunked */
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &q);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    else r->status = -1;
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    return r->status;
}

static long signed_req(const ibex_node_key *k, const char *method, const char *target, const void *body,
                       size_t n, reply *r)
{
    ibex_node_auth a;
    ibex_diag d;
    if (ibex_node_auth_sign(k, "node-s", method, target, body, n, -1, NULL, &a, &d) != IBEX_OK) return -2;
    return raw(method, target, body, n, &a, r);
}

/* Send a request written out by hand (curl will not send two Content-Length headers) and
 * read the answer: its status, its body into r. Bounded by a 10 s receive timeout. */
static long by_hand(unsigned port, const char *text, reply *r)
{
    memset(r, 0, sizeof *r);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    long status = -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && send(fd, text, strlen(text), MSG_NOSIGNAL) == (ssize_t)strlen(text)) {
        status = http_answer(fd, r->body, sizeof r->body);
        if (status <= 0) status = -1;
        r->n = strlen(r->body);
    }
    close(fd);
    r->status = status;
    return status;
}

static size_t count_packages(const char *dir)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strlen(e->d_name) > 4 && !strcmp(e->d_name + strlen(e->d_name) - 4, ".x3p")) n++;
    if (d) closedir(d);
    return n;
}

/* A store hook that answers what it is told to, counting its calls. */
typedef struct stub_store {
    ibex_status answer;
    unsigned calls;
} stub_store;

static ibex_status stub_store_fn(void *user, const unsigned char *pkg, size_t n, const char *sha256_hex,
                                 char *note, size_t note_size, ibex_diag *diag)
{
    (void)pkg;
    (void)n;
    (void)sha256_hex;
    stub_store *st = user;
    st->calls++;
    if (st->answer == IBEX_OK) {
        snprintf(note, note_size, "stored");
        return IBEX_OK;
    }
    memset(diag, 0, sizeof *diag);
    snprintf(diag->message, sizeof diag->message, "stub store says %s", ibex_strerror(st->answer));
    return st->answer;
}

/* Lines of a text file (0 when it is missing). */
static size_t count_lines(const char *path)
{
    size_t n = 0, k;
    char *t = (char *)slurp(path, &k);
    for (size_t i = 0; t && i < k; i++) n += t[i] == '\n';
    free(t);
    return n;
}

static int has_error(const reply *r, const char *part)
{
    json_error_t je;
    json_t *j = json_loads(r->body, 0, &je);
    const char *e = json_string_value(json_object_get(j, "error"));
    int ok = e && strstr(e, part);
    if (!ok) fprintf(stderr, "  reply %ld: %s (wanted '%s')\n", r->status, r->body, part);
    json_decref(j);
    return ok;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    ibex_node_key *srv = make_key("node-s"), *peer = make_key("node-p"), *stranger = make_key("node-x");
    ibex_node_key *listed[] = {srv, peer, NULL};
    char peers[512], key[512], spool[512], logp[512], plain[512], pkg[512], bad_pkg[512], pull_dir[512];
    scratch_path(peers, sizeof peers, "peers.txt");
    scratch_path(key, sizeof key, "node-s.key");
    scratch_path(spool, sizeof spool, "spool");
    scratch_path(logp, sizeof logp, "node.log");
    scratch_path(plain, sizeof plain, "plain.x3p");
    scratch_path(pkg, sizeof pkg, "pkg.x3p");
    scratch_path(bad_pkg, sizeof bad_pkg, "stranger.x3p");
    scratch_path(pull_dir, sizeof pull_dir, "pulled");
    write_peers(peers, listed);
    ibex_diag d;
    ibex_surface *s = analytic_surface(31, 19);
    const char *params[] = {"filter", "test", NULL};
    CHECK(ibex_surface_write_x3p(s, plain, 0, &d) == IBEX_OK);
    CHECK(ibex_package_sign(plain, pkg, params, peer, &d) == IBEX_OK);
    CHECK(ibex_package_sign(plain, bad_pkg, NULL, stranger, &d) == IBEX_OK);
    size_t pn = 0, plain_n = 0;
    unsigned char *pbytes = slurp(pkg, &pn), *plain_bytes = slurp(plain, &plain_n);

    ibex_node_server_opts o;
    ibex_node_server_opts_init(&o);
    o.listen = "127.0.0.1:0"; /* the kernel picks a free loopback port */
    o.key_path = key;
    o.peers_path = peers;
    o.spool_dir = spool;
    o.max_body = 256 * 1024;
    o.max_memory = 1024 * 1024;
    o.threads = 2;
    o.log = fopen(logp, "w");
    ibex_node_server *S = NULL;
    CHECK_MSG(ibex_node_server_create(&o, &S, &d) == IBEX_OK, "%s", d.message);
    if (!S || !pbytes) return check_exit();
    snprintf(base, sizeof base, "http://127.0.0.1:%u", ibex_node_server_port(S));
    CHECK(ibex_node_server_port(S) > 0);
    reply r;

    /* Health with a valid signature. */
    CHECK(signed_req(peer, "GET", "/v1/health", NULL, 0, &r) == 200);
    CHECK(strstr(r.body, "\"node\":\"node-s\"") != NULL);
    /* No headers, an unknown node, a key that is not the named node's. */
    CHECK(raw("GET", "/v1/health", NULL, 0, NULL, &r) == 401 && has_error(&r, "headers are required"));
    CHECK(signed_req(stranger, "GET", "/v1/health", NULL, 0, &r) == 401 && has_error(&r, "unknown node"));
    {
        ibex_node_key *imp = NULL;
        ibex_node_key_generate("node-p", &imp, &d);
        CHECK(signed_req(imp, "GET", "/v1/health", NULL, 0, &r) == 401 && has_error(&r, "bad request signature"));
        ibex_node_key_free(imp);
    }
    /* Tampered body, target and method: signed for one thing, sent another. */
    ibex_node_auth a;
    const char *q1 = "{\"package\":\"AAAA\"}", *q2 = "{\"package\":\"AAAB\"}";
    ibex_node_auth_sign(peer, "node-s", "POST", "/v1/query", q1, strlen(q1), -1, NULL, &a, &d);
    CHECK(raw("POST", "/v1/query", q2, strlen(q2), &a, &r) == 401 && has_error(&r, "body altered"));
    ibex_node_auth_sign(peer, "node-s", "GET", "/v1/health", NULL, 0, -1, NULL, &a, &d);
    CHECK(raw("GET", "/v1/stats", NULL, 0, &a, &r) == 401);
    ibex_node_auth_sign(peer, "node-s", "GET", "/v1/specimens?since=0", NULL, 0, -1, NULL, &a, &d);
    CHECK(raw("GET", "/v1/specimens?since=5", NULL, 0, &a, &r) == 401);
    ibex_node_auth_sign(peer, "node-s", "GET", "/v1/health", NULL, 0, -1, NULL, &a, &d);
    a.signature[0] = a.signature[0] == 'a' ? 'b' : 'a';
    CHECK(raw("GET", "/v1/health", NULL, 0, &a, &r) == 401);
    /* Replay: the same signed request twice. */
    ibex_node_auth_sign(peer, "node-s", "GET", "/v1/health", NULL, 0, -1, NULL, &a, &d);
    CHECK(raw("GET", "/v1/health", NULL, 0, &a, &r) == 200);
    CHECK(raw("GET", "/v1/health", NULL, 0, &a, &r) == 401 && has_error(&r, "replayed"));
    /* Expired and future timestamps (limit 300 s); 290 s old is still fine. */
    long long now = (long long)time(NULL);
    ibex_node_auth_sign(peer, "node-s", "GET", "/v1/health", NULL, 0, now - 400, NULL, &a, &d);
    CHECK(raw("GET", "/v1/health", NULL, 0, &a, &r) == 401 && has_error(&r, "timestamp"));
    ibex_node_auth_sign(peer, "node-s", "GET", "/v1/health", NULL, 0, now + 400, NULL, &a, &d);
    CHECK(raw("GET", "/v1/health", NULL, 0, &a, &r) == 401 && has_error(&r, "timestamp"));
    ibex_node_auth_sign(peer, "node-s", "GET", "/v1/health", NULL, 0, now - 290, NULL, &a, &d);
    CHECK(raw("GET", "/v1/health", NULL, 0, &a, &r) == 200);
    /* Malformed authentication headers. */
    ibex_node_auth_sign(peer, "node-s", "GET", "/v1/health", NULL, 0, -1, NULL, &a, &d);
    strcpy(a.nonce, "not-hex");
    CHECK(raw("GET", "/v1/health", NULL, 0, &a, &r) == 401);

    /* Oversized body (limit 256 KiB here): 413 and nothing stored. */
    size_t big = 300 * 1024;
    unsigned char *blob = calloc(1, big);
    CHECK(signed_req(peer, "POST", "/v1/specimens", blob, big, &r) == 413 && has_error(&r, "over the limit"));
    /* A chunked body has no signed framing: refused (411) before it is read. */
    chunked_ = 1;
    CHECK(signed_req(peer, "POST", "/v1/specimens", blob, big, &r) == 411 && has_error(&r, "Transfer-Encoding"));
    chunked_ = 0;
    free(blob);
    CHECK(count_packages(spool) == 0);
    /* A request target past 4096 bytes. */
    {
        char longt[5000];
        memset(longt, 'a', sizeof longt - 1);
        memcpy(longt, "/v1/health?x=", 13);
        longt[sizeof longt - 1] = 0;
        CHECK_MSG(signed_req(peer, "GET", longt, NULL, 0, &r) == 414, "%ld %s", r.status, r.body);
    }

    /* Two Content-Length headers that disagree (RFC 9112 section 6.3): 400 before the body is
     * read, even for a request that is signed for one of the two lengths. */
    {
        unsigned port = ibex_node_server_port(S);
        ibex_node_auth_sign(peer, "node-s", "POST", "/v1/specimens", "hello", 5, -1, NULL, &a, &d);
        char req[2048];
        snprintf(req, sizeof req,
                 "POST /v1/specimens HTTP/1.1\r\nHost: 127.0.0.1\r\n%s: %s\r\n%s: %s\r\n%s: %s\r\n%s: %s\r\n%s: %s\r\n%s: %s\r\n"
                 "Content-Length: 5\r\nContent-Length: 50\r\n\r\nhello",
                 IBEX_HDR_NODE, a.node, IBEX_HDR_TO, a.to, IBEX_HDR_TIMESTAMP, a.timestamp, IBEX_HDR_NONCE, a.nonce,
                 IBEX_HDR_BODY_SHA256, a.body_sha256, IBEX_HDR_SIGNATURE, a.signature);
        CHECK_MSG(by_hand(port, req, &r) == 400 && has_error(&r, "Content-Length"), "%ld %s", r.status, r.body);
        /* The same with the lengths the other way round, and without authentication. */
        snprintf(req, sizeof req,
                 "POST /v1/specimens HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 50\r\n"
                 "Content-Length: 5\r\n\r\nhello");
        CHECK_MSG(by_hand(port, req, &r) == 400 && has_error(&r, "Content-Length"), "%ld %s", r.status, r.body);
        /* One Content-Length, signed: not refused for its framing (this body is no package). */
        ibex_node_auth_sign(peer, "node-s", "POST", "/v1/specimens", "hello", 5, -1, NULL, &a, &d);
        snprintf(req, sizeof req,
                 "POST /v1/specimens HTTP/1.1\r\nHost: 127.0.0.1\r\n%s: %s\r\n%s: %s\r\n%s: %s\r\n%s: %s\r\n%s: %s\r\n%s: %s\r\n"
                 "Content-Length: 5\r\nConnection: close\r\n\r\nhello",
                 IBEX_HDR_NODE, a.node, IBEX_HDR_TO, a.to, IBEX_HDR_TIMESTAMP, a.timestamp, IBEX_HDR_NONCE, a.nonce,
                 IBEX_HDR_BODY_SHA256, a.body_sha256, IBEX_HDR_SIGNATURE, a.signature);
        CHECK_MSG(by_hand(port, req, &r) == 400 && has_error(&r, "package refused"), "%ld %s", r.status, r.body);
        CHECK(count_packages(spool) == 0);
    }

    /* Malformed JSON and malformed packages: 400. */
    const char *bad_json[] = {"{", "[1,2]", "{\"package\": 5}", "{\"package\": \"!!!\"}", "{\"package\":\"AAAA\",\"top\":0}"};
    for (size_t i = 0; i < sizeof bad_json / sizeof bad_json[0]; i++)
        CHECK_MSG(signed_req(peer, "POST", "/v1/query", bad_json[i], strlen(bad_json[i]), &r) == 400,
                  "query body %s: %ld", bad_json[i], r.status);
    CHECK(signed_req(peer, "POST", "/v1/specimens", "hello", 5, &r) == 400 && has_error(&r, "package refused"));
    CHECK(signed_req(peer, "POST", "/v1/specimens", pbytes, pn / 2, &r) == 400);
    /* Unsigned X3P (422), a stranger's package (403), one flipped byte (422): nothing stored. */
    CHECK(signed_req(peer, "POST", "/v1/specimens", plain_bytes, plain_n, &r) == 422 && has_error(&r, "not signed"));
    {
        size_t bn;
        unsigned char *sb = slurp(bad_pkg, &bn);
        CHECK(sb && signed_req(peer, "POST", "/v1/specimens", sb, bn, &r) == 403 && has_error(&r, "not in the trust list"));
        free(sb);
    }
    pbytes[pn / 2] ^= 0x10;
    CHECK(signed_req(peer, "POST", "/v1/specimens", pbytes, pn, &r) == 422 && has_error(&r, "altered"));
    pbytes[pn / 2] ^= 0x10;
    CHECK(count_packages(spool) == 0);

    /* Push a valid package: stored once; a second push is a duplicate. */
    CHECK(signed_req(peer, "POST", "/v1/specimens", pbytes, pn, &r) == 201);
    CHECK(strstr(r.body, "\"seq\":1") && strstr(r.body, "\"signer\":\"node-p\""));
    CHECK(signed_req(peer, "POST", "/v1/specimens", pbytes, pn, &r) == 200 && strstr(r.body, "\"duplicate\":true"));
    CHECK(count_packages(spool) == 1);
    /* Query: the package verifies, but this node has no library: 501. A query id seen before
     * (a forwarding loop) is answered with an empty list; a malformed one is refused. */
    {
        size_t bl = sodium_base64_encoded_len(pn, sodium_base64_VARIANT_ORIGINAL);
        char *b64 = malloc(bl), *body = malloc(bl + 128);
        if (!b64 || !body) {
            fprintf(stderr, "out of memory\n");
            return 1;
        }
        sodium_bin2base64(b64, bl, pbytes, pn, sodium_base64_VARIANT_ORIGINAL);
        snprintf(body, bl + 128, "{\"package\":\"%s\",\"top\":5}", b64);
        CHECK(signed_req(peer, "POST", "/v1/query", body, strlen(body), &r) == 501 && has_error(&r, "no reference library"));
        snprintf(body, bl + 128, "{\"package\":\"%s\",\"query_id\":\"0123456789abcdef0123456789abcdef\"}", b64);
        CHECK(signed_req(peer, "POST", "/v1/query", body, strlen(body), &r) == 501);
        CHECK(signed_req(peer, "POST", "/v1/query", body, strlen(body), &r) == 200 && strstr(r.body, "\"seen\":true") &&
              strstr(r.body, "\"candidates\":[]"));
        snprintf(body, bl + 128, "{\"package\":\"%s\",\"query_id\":\"0123\"}", b64);
        CHECK(signed_req(peer, "POST", "/v1/query", body, strlen(body), &r) == 400);
        snprintf(body, bl + 128, "{\"package\":\"%s\",\"shortlist\":100000}", b64);
        CHECK(signed_req(peer, "POST", "/v1/query", body, strlen(body), &r) == 400);
        free(b64);
        free(body);
    }
    /* Listing and pull: exactly one package, the same bytes; a second pull fetches nothing. */
    CHECK(signed_req(peer, "GET", "/v1/specimens?since=0", NULL, 0, &r) == 200 && strstr(r.body, "\"next\":1"));
    CHECK(signed_req(peer, "GET", "/v1/specimens?since=1", NULL, 0, &r) == 200 && strstr(r.body, "\"items\":[]"));
    CHECK(signed_req(peer, "GET", "/v1/specimens?since=x", NULL, 0, &r) == 400);
    CHECK(signed_req(peer, "GET", "/v1/specimens/7", NULL, 0, &r) == 404);
    ibex_trust *t = NULL;
    CHECK(ibex_trust_read(peers, &t, &d) == IBEX_OK);
    ibex_node_pull_stats ps;
    CHECK_MSG(ibex_node_pull(base, "node-s", peer, t, pull_dir, NULL, &ps, &d) == IBEX_OK, "%s", d.message);
    CHECK(ps.fetched == 1 && ps.stored == 1 && ps.refused == 0 && ps.cursor == 1);
    CHECK(count_packages(pull_dir) == 1);
    {
        char name[96], path[700];
        unsigned char h[32];
        crypto_hash_sha256(h, pbytes, pn);
        char hex[65];
        sodium_bin2hex(hex, sizeof hex, h, 32);
        snprintf(name, sizeof name, "%020d-%s.x3p", 1, hex);
        snprintf(path, sizeof path, "%s/%s", pull_dir, name);
        size_t gn;
        unsigned char *got = slurp(path, &gn);
        CHECK(got && gn == pn && memcmp(got, pbytes, pn) == 0);
        free(got);
    }
    CHECK(ibex_node_pull(base, "node-s", peer, t, pull_dir, NULL, &ps, &d) == IBEX_OK && ps.fetched == 0 && ps.cursor == 1);
    /* Four more packages (other parameters, other bytes); a pull stopped after two resumes
     * from its cursor and ends with every package stored exactly once. */
    for (int i = 0; i < 4; i++) {
        char val[16], pth[600];
        snprintf(val, sizeof val, "%d", i);
        const char *pp[] = {"run", val, NULL};
        snprintf(pth, sizeof pth, "%s.%d", pkg, i);
        size_t m;
        unsigned char *b = NULL;
        CHECK(ibex_package_sign(plain, pth, pp, peer, &d) == IBEX_OK && (b = slurp(pth, &m)));
        CHECK(b && signed_req(peer, "POST", "/v1/specimens", b, m, &r) == 201);
        free(b);
    }
    ibex_node_pull_opts two;
    ibex_node_pull_opts_init(&two);
    two.max_items = 2;
    CHECK(ibex_node_pull(base, "node-s", peer, t, pull_dir, &two, &ps, &d) == IBEX_OK && ps.stored == 2 && ps.cursor == 3);
    CHECK(count_packages(pull_dir) == 3);
    CHECK(ibex_node_pull(base, "node-s", peer, t, pull_dir, NULL, &ps, &d) == IBEX_OK && ps.stored == 2 && ps.cursor == 5);
    CHECK(count_packages(pull_dir) == 5 && count_packages(spool) == 5);
    {
        /* Same names and bytes on both sides; no temporary files left. */
        DIR *dd = opendir(spool);
        struct dirent *e;
        size_t same = 0, tmps = 0;
        while (dd && (e = readdir(dd))) {
            if (strstr(e->d_name, ".tmp-")) tmps++;
            if (strlen(e->d_name) < 5 || strcmp(e->d_name + strlen(e->d_name) - 4, ".x3p")) continue;
            char a1[700], a2[700];
            snprintf(a1, sizeof a1, "%s/%s", spool, e->d_name);
            snprintf(a2, sizeof a2, "%s/%s", pull_dir, e->d_name);
            size_t n1, n2;
            unsigned char *b1 = slurp(a1, &n1), *b2 = slurp(a2, &n2);
            if (b1 && b2 && n1 == n2 && !memcmp(b1, b2, n1)) same++;
            free(b1);
            free(b2);
        }
        if (dd) closedir(dd);
        dd = opendir(pull_dir);
        while (dd && (e = readdir(dd)))
            if (strstr(e->d_name, ".tmp-")) tmps++;
        if (dd) closedir(dd);
        CHECK(same == 5 && tmps == 0);
    }
    /* Health through the library client, and stats counting what was refused. */
    ibex_node_response resp;
    CHECK(ibex_node_request(base, NULL, peer, "GET", "/v1/stats", NULL, 0, NULL, 10, NULL, &resp, &d) == IBEX_OK);
    CHECK(resp.status == 200);
    {
        json_error_t je;
        json_t *j = json_loads((const char *)resp.body, 0, &je);
        CHECK(json_integer_value(json_object_get(j, "packages_accepted")) == 5);
        CHECK(json_integer_value(json_object_get(j, "packages_duplicate")) == 1);
        CHECK(json_integer_value(json_object_get(j, "spool_packages")) == 5);
        CHECK(json_integer_value(json_object_get(j, "refused_auth")) >= 10);
        CHECK(json_integer_value(json_object_get(j, "refused_size")) == 1);
        CHECK(json_integer_value(json_object_get(j, "body_memory_in_use")) == 0);
        json_decref(j);
    }
    ibex_node_response_clear(&resp);
    CHECK(signed_req(peer, "DELETE", "/v1/health", NULL, 0, &r) == 405);
    CHECK(signed_req(peer, "GET", "/v1/nothing", NULL, 0, &r) == 404);

    ibex_node_server_free(S);
    fclose(o.log);
    /* Refused requests are logged with their reason. */
    size_t ln;
    char *log = (char *)slurp(logp, &ln);
    CHECK(log && strstr(log, " 401 GET /v1/health node=node-x") && strstr(log, "replayed") &&
          strstr(log, " 413 POST /v1/specimens node=node-p"));
    free(log);

    /* A restarted node finds its spool, drops what a crash mid-write left, continues. */
    {
        char stale[700];
        snprintf(stale, sizeof stale, "%s/.tmp-crashed", spool);
        CHECK(spit(stale, "half", 4));
    }
    o.log = NULL;
    S = NULL;
    CHECK(ibex_node_server_create(&o, &S, &d) == IBEX_OK);
    if (S) {
        snprintf(base, sizeof base, "http://127.0.0.1:%u", ibex_node_server_port(S));
        CHECK(signed_req(peer, "GET", "/v1/specimens?since=0", NULL, 0, &r) == 200 && strstr(r.body, "\"seq\":1"));
        CHECK(strstr(r.body, "\"next\":5") != NULL);
        char stale[700];
        snprintf(stale, sizeof stale, "%s/.tmp-crashed", spool);
        CHECK(access(stale, F_OK) != 0);
        /* the sequence continues after 5 */
        size_t m;
        unsigned char *b = slurp(bad_pkg, &m); /* untrusted: refused */
        CHECK(b && signed_req(peer, "POST", "/v1/specimens", b, m, &r) == 403);
        free(b);
        CHECK(signed_req(peer, "POST", "/v1/specimens", plain_bytes, plain_n, &r) == 422);
        {
            char pth[600];
            const char *pp[] = {"run", "after-restart", NULL};
            snprintf(pth, sizeof pth, "%s.r", pkg);
            CHECK(ibex_package_sign(plain, pth, pp, peer, &d) == IBEX_OK && (b = slurp(pth, &m)));
            CHECK(b && signed_req(peer, "POST", "/v1/specimens", b, m, &r) == 201 && strstr(r.body, "\"seq\":6"));
            free(b);
        }
        /* Only one process per spool. */
        ibex_node_server *S2 = NULL;
        CHECK(ibex_node_server_create(&o, &S2, &d) == IBEX_ERR_IO && strstr(d.message, "in use"));
        ibex_node_server_free(S2);
    }
    ibex_node_server_free(S);

    /* A node that trusts a signer the puller does not: its sequence 1 is that signer's
     * package, 2 and 3 are trusted. The pull records 1 as refused, stores 2 and 3 and moves
     * its cursor past all three; the next pull fetches nothing and records nothing again. */
    {
        char peers3[512], spool3[512], dir3[512], dir4[512], log3[700], log4[700];
        scratch_path(peers3, sizeof peers3, "peers-open.txt");
        scratch_path(spool3, sizeof spool3, "spool-open");
        scratch_path(dir3, sizeof dir3, "pulled-open");
        scratch_path(dir4, sizeof dir4, "pulled-stub");
        snprintf(log3, sizeof log3, "%s/%s", dir3, IBEX_NODE_PULL_REFUSED_LOG);
        snprintf(log4, sizeof log4, "%s/%s", dir4, IBEX_NODE_PULL_REFUSED_LOG);
        ibex_node_key *open_list[] = {srv, peer, stranger, NULL};
        write_peers(peers3, open_list);
        ibex_node_server_opts o3 = o;
        o3.peers_path = peers3;
        o3.spool_dir = spool3;
        o3.log = NULL;
        S = NULL;
        CHECK_MSG(ibex_node_server_create(&o3, &S, &d) == IBEX_OK, "%s", d.message);
        if (S) {
            snprintf(base, sizeof base, "http://127.0.0.1:%u", ibex_node_server_port(S));
            size_t m;
            unsigned char *b = slurp(bad_pkg, &m), h[32];
            char hex[65];
            CHECK(b && signed_req(peer, "POST", "/v1/specimens", b, m, &r) == 201 && strstr(r.body, "\"seq\":1"));
            crypto_hash_sha256(h, b, m);
            sodium_bin2hex(hex, sizeof hex, h, 32);
            free(b);
            for (int i = 0; i < 2; i++) {
                char pth[600];
                snprintf(pth, sizeof pth, "%s.%d", pkg, i); /* signed by node-p above */
                CHECK((b = slurp(pth, &m)) && signed_req(peer, "POST", "/v1/specimens", b, m, &r) == 201);
                free(b);
            }
            CHECK_MSG(ibex_node_pull(base, NULL, peer, t, dir3, NULL, &ps, &d) == IBEX_OK, "%s", d.message);
            CHECK_MSG(ps.fetched == 3 && ps.stored == 2 && ps.refused == 1 && ps.cursor == 3,
                      "fetched %zu stored %zu refused %zu cursor %llu", ps.fetched, ps.stored, ps.refused,
                      (unsigned long long)ps.cursor);
            CHECK(count_packages(dir3) == 2);
            size_t ln3;
            char *rl = (char *)slurp(log3, &ln3), want[100];
            snprintf(want, sizeof want, "1\t%s\t", hex);
            CHECK_MSG(rl && count_lines(log3) == 1 && !strncmp(rl, want, strlen(want)) &&
                          strstr(rl, "not in the trust list"),
                      "%s", rl ? rl : "(no refusal log)");
            free(rl);
            CHECK(ibex_node_pull(base, NULL, peer, t, dir3, NULL, &ps, &d) == IBEX_OK && ps.fetched == 0 &&
                  ps.refused == 0 && ps.cursor == 3);
            CHECK(count_lines(log3) == 1 && count_packages(dir3) == 2);

            /* The store hook: a failure of its own (I/O) stops the pull before the package, with
             * the cursor where it was; a refusal of the content is recorded and passed. */
            stub_store stub = {IBEX_ERR_IO, 0};
            ibex_node_pull_opts so;
            ibex_node_pull_opts_init(&so);
            so.store = stub_store_fn;
            so.store_user = &stub;
            CHECK(ibex_node_pull(base, NULL, peer, t, dir4, &so, &ps, &d) == IBEX_ERR_IO && ps.refused == 1 &&
                  ps.stored == 0 && ps.cursor == 1 && stub.calls == 1);
            CHECK(count_lines(log4) == 1 && count_packages(dir4) == 0);
            CHECK(ibex_node_pull(base, NULL, peer, t, dir4, &so, &ps, &d) == IBEX_ERR_IO && ps.cursor == 1);
            stub.answer = IBEX_ERR_FORMAT;
            CHECK(ibex_node_pull(base, NULL, peer, t, dir4, &so, &ps, &d) == IBEX_OK && ps.refused == 2 &&
                  ps.stored == 0 && ps.cursor == 3);
            CHECK(count_lines(log4) == 3 && count_packages(dir4) == 0);

            /* The library hook tells the two apart as well: seqs 2 and 3 carry no
             * library_params, which the import refuses (recorded, no library made); a library
             * file that is not HDF5 is its own failure and stops the pull at seq 2. */
            if (IBEX_HAVE_HDF5) {
                char dir5[512], dir6[512], lib5[512], lib6[512], log5[700];
                scratch_path(dir5, sizeof dir5, "pulled-lib");
                scratch_path(dir6, sizeof dir6, "pulled-badlib");
                scratch_path(lib5, sizeof lib5, "pulled-lib.h5");
                scratch_path(lib6, sizeof lib6, "pulled-badlib.h5");
                snprintf(log5, sizeof log5, "%s/%s", dir5, IBEX_NODE_PULL_REFUSED_LOG);
                ibex_node_library nl;
                ibex_node_library_init(&nl);
                nl.lib_path = lib5;
                nl.trust = t;
                so.store = ibex_node_library_store;
                so.store_user = &nl;
                CHECK_MSG(ibex_node_pull(base, NULL, peer, t, dir5, &so, &ps, &d) == IBEX_OK, "%s", d.message);
                CHECK(ps.refused == 3 && ps.stored == 0 && ps.cursor == 3 && count_lines(log5) == 3);
                CHECK(access(lib5, F_OK) != 0);
                {
                    size_t ln5;
                    char *rl = (char *)slurp(log5, &ln5);
                    CHECK_MSG(rl && strstr(rl, "\n2\t") && strstr(rl, "library refused: ") &&
                                  strstr(rl, "library_params"), "%s", rl ? rl : "(no refusal log)");
                    free(rl);
                }
                CHECK(spit(lib6, "not a library", 13));
                nl.lib_path = lib6;
                CHECK(ibex_node_pull(base, NULL, peer, t, dir6, &so, &ps, &d) == IBEX_ERR_IO && ps.refused == 1 &&
                      ps.cursor == 1 && count_packages(dir6) == 0);
            }
        }
        ibex_node_server_free(S);
    }

    /* A node with a library (what 'ibex node serve --lib' runs). A package without
     * library_params is refused and leaves no library behind; a refused request changes
     * nothing, so a package from 'ibex export' is stored after it. */
    {
        char libp[512], journal[600], spool2[512], src[512], exported[512];
        scratch_path(libp, sizeof libp, "node-lib.h5");
        snprintf(journal, sizeof journal, "%s-journal", libp);
        scratch_path(spool2, sizeof spool2, "spool-lib");
        scratch_path(src, sizeof src, "src-lib.h5");
        scratch_path(exported, sizeof exported, "exported.x3p");
        ibex_library_opts lo;
        ibex_library_opts_init(&lo);
        lo.params = "preprocess=none\nversion=0";
        ibex_library *srcl = NULL;
        ibex_status lst = ibex_library_create(src, &lo, &srcl, &d);
        if (lst == IBEX_ERR_UNSUPPORTED) {
            fprintf(stderr, "  (no HDF5 library support: the --lib cases are skipped)\n");
        } else {
            CHECK_MSG(lst == IBEX_OK, "%s", d.message);
            ibex_specimen sp;
            memset(&sp, 0, sizeof sp);
            sp.id = (char *)"spec-1";
            sp.kind = (char *)"cartridge";
            sp.region = (char *)"breech-face";
            sp.source_path = (char *)"/nowhere/spec-1.x3p";
            memset(sp.sha256, 'a', 64);
            CHECK(srcl && ibex_library_add(srcl, &sp, s, NULL, &d) == IBEX_OK);
            CHECK_MSG(srcl && ibex_package_export(srcl, "spec-1", exported, peer, NULL, &d) == IBEX_OK, "%s", d.message);
            ibex_library_close(srcl, NULL);

            ibex_node_library nl;
            ibex_node_library_init(&nl);
            nl.lib_path = libp;
            nl.trust = t;
            nl.threads = 1;
            ibex_node_server_opts lopt = o;
            lopt.spool_dir = spool2;
            lopt.store = ibex_node_library_store;
            lopt.query = ibex_node_library_query;
            lopt.library_user = &nl;
            S = NULL;
            CHECK_MSG(ibex_node_server_create(&lopt, &S, &d) == IBEX_OK, "%s", d.message);
            if (S) {
                snprintf(base, sizeof base, "http://127.0.0.1:%u", ibex_node_server_port(S));
                CHECK(signed_req(peer, "POST", "/v1/specimens", pbytes, pn, &r) == 422 &&
                      has_error(&r, "library_params"));
                CHECK(access(libp, F_OK) != 0 && access(journal, F_OK) != 0 && count_packages(spool2) == 0);
                size_t en = 0;
                unsigned char *eb = slurp(exported, &en);
                CHECK_MSG(eb && signed_req(peer, "POST", "/v1/specimens", eb, en, &r) == 201 &&
                              strstr(r.body, "stored node-p:spec-1"),
                          "%ld %s", r.status, r.body);
                CHECK(access(libp, F_OK) == 0 && count_packages(spool2) == 1);
                /* The library now exists: the same refusal leaves it as it was. */
                CHECK(signed_req(peer, "POST", "/v1/specimens", pbytes, pn, &r) == 422);
                ibex_library *nlib = NULL;
                CHECK(ibex_library_open(libp, NULL, &nlib, &d) == IBEX_OK && ibex_library_count(nlib) == 1 &&
                      ibex_library_params(nlib) && !strcmp(ibex_library_params(nlib), lo.params));
                ibex_library_close(nlib, NULL);
                CHECK(count_packages(spool2) == 1);
                free(eb);
            }
            ibex_node_server_free(S);
        }
    }

    ibex_trust_free(t);
    free(pbytes);
    free(plain_bytes);
    ibex_surface_free(s);
    ibex_node_key_free(srv);
    ibex_node_key_free(peer);
    ibex_node_key_free(stranger);
    scratch_remove();
    curl_global_cleanup();
    return check_exit();
}
