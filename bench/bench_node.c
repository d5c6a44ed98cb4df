/* Load run against one node over loopback: C concurrent clients for S seconds, each sending
 * signed requests on a kept-alive connection. Prints one JSON line: throughput, p50/p99
 * latency, errors, and the node's peak resident memory (VmHWM of the `ibex node serve`
 * process this program starts and stops). Bounded in count and time; loopback only.
 *
 *   bench_node IBEX [--clients 200] [--seconds 60] [--endpoint query|health|push] [--x3p FILE]
 *              [--lib LIB.h5 [--shortlist K] [--timeout S]]
 *
 * query: POST /v1/query with a signed package. With --lib the node searches that (indexed)
 * library: stage 1, then stage 2 (CMC) on a shortlist of K (0 = stage 1 only) and answers 200;
 * without it the node verifies the package and answers 501 (auth + verification alone).
 * health: GET /v1/health (auth only); push: POST /v1/specimens of the same package (verify +
 * duplicate). A request still in flight when the S seconds end is waited for (up to
 * --timeout, default 600 s) and counted. All clients sign as one peer, so the node runs
 * with the per-peer and per-address caps lifted (its defaults would refuse most of them as
 * one peer's excess): this measures the node, not its per-peer policy.
 *
 * --slow N and --slow-headers M add connections that behave like an unauthenticated client
 * holding the node's memory or connections, from another loopback source address (bound to
 * 127.0.0.2, so a per-address connection limit can tell them from the real clients on
 * 127.0.0.1). A slow-body connection sends a push's request line and authentication headers
 * at once (a known peer's name, a fresh timestamp, a random signature) with Content-Length:
 * 64 MiB, then one body byte every 10 s; a slow-header connection sends the same text one
 * byte every 5 s. Each reconnects 0.1 s after the node closes it. Reported: how many were open
 * (sampled every second: min, median, max), how often the node closed them and what it
 * answered them, next to the real clients' results by status. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "bench_usage.h"
#include "ibex/ibex.h"
#include "ibex/node.h"
#include "ibex/package.h"

#define STATUS_MAX 600 /* HTTP statuses counted 0..599 */

typedef struct client {
    pthread_t t;
    double *lat; /* seconds per request */
    size_t n, cap, errors;
    long first_bad;
    size_t status[STATUS_MAX]; /* answers by HTTP status; [0]: no answer (transport error) */
    CURLcode first_transport;  /* the first transport error, CURLE_OK if none */
} client;

static const char *g_base, *g_method, *g_target, *g_ctype;
static const char *g_body;
static size_t g_body_n;
static long g_expect, g_timeout = 600;
static ibex_node_key *g_key;
static char g_to[IBEX_NODE_NAME_MAX + 1]; /* the node's name, signed for */
static double g_end;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static size_t discard(char *d, size_t s, size_t m, void *u)
{
    (void)d;
    (void)u;
    return s * m;
}

static void *run_client(void *arg)
{
    client *c = arg;
    CURL *h = curl_easy_init();
    char url[256];
    snprintf(url, sizeof url, "%s%s", g_base, g_target);
    while (now_s() < g_end) {
        ibex_node_auth a;
        ibex_diag d;
        ibex_node_auth_sign(g_key, g_to, g_method, g_target, g_body, g_body_n, -1, NULL, &a, &d);
        struct curl_slist *hd = NULL;
        char line[300];
        const char *const hv[][2] = {{IBEX_HDR_NODE, a.node},           {IBEX_HDR_TO, a.to},
                                     {IBEX_HDR_TIMESTAMP, a.timestamp}, {IBEX_HDR_NONCE, a.nonce},
                                     {IBEX_HDR_BODY_SHA256, a.body_sha256}, {IBEX_HDR_SIGNATURE, a.signature}};
        for (size_t i = 0; i < sizeof hv / sizeof hv[0]; i++) {
            snprintf(line, sizeof line, "%s: %s", hv[i][0], hv[i][1]);
            hd = curl_slist_append(hd, line);
        }
        hd = curl_slist_append(hd, "Expect:");
        if (g_ctype) {
            snprintf(line, sizeof line, "Content-Type: %s", g_ctype);
            hd = curl_slist_append(hd, line);
        }
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, g_timeout);
        if (g_body) {
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, g_body);
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)g_body_n);
        }
        double t0 = now_s();
        CURLcode rc = curl_easy_perform(h);
        double dt = now_s() - t0;
        long code = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        curl_slist_free_all(hd);
        c->status[rc != CURLE_OK || code < 0 || code >= STATUS_MAX ? 0 : code]++;
        if (rc != CURLE_OK && c->first_transport == CURLE_OK) c->first_transport = rc;
        if (rc != CURLE_OK || code != g_expect) {
            if (!c->errors) c->first_bad = rc != CURLE_OK ? -(long)rc : code;
            c->errors++;
            if (rc != CURLE_OK) usleep(100000); /* a node that is down is not hammered */
            continue;
        }
        if (c->n == c->cap) {
            c->cap = c->cap ? 2 * c->cap : 1024;
            c->lat = realloc(c->lat, c->cap * sizeof *c->lat);
        }
        c->lat[c->n++] = dt;
    }
    curl_easy_cleanup(h);
    return NULL;
}

/* ---- slow clients (--slow, --slow-headers) ---- */

enum { SLOW_BODY, SLOW_HEADERS, SLOW_KINDS };
static const char *const slow_name[SLOW_KINDS] = {"slow_body", "slow_headers"};
static const double slow_interval[SLOW_KINDS] = {10.0, 5.0}; /* seconds between bytes */
#define SLOW_LENGTH "67108864"                               /* 64 MiB, the default body limit */
#define SLOW_SOURCE "127.0.0.2"

typedef struct slow_stats {
    atomic_int open;                         /* connected, not yet seen closed */
    atomic_ulong connects, connect_failed, closed_by_node, bytes;
    atomic_ulong answers[STATUS_MAX];        /* statuses the node answered them with */
} slow_stats;

static slow_stats g_slow[SLOW_KINDS];
static unsigned g_port;
static atomic_int g_stop; /* set when the real clients are done */

/* What a slow connection sends: a push's request line and authentication headers (the known
 * peer's name, the node's name, a fresh timestamp and nonce, a random body hash and signature)
 * announcing a 64 MiB body: well formed, so only the signature check can refuse it. */
static size_t slow_request(char *buf, size_t size)
{
    unsigned char rnd[16 + 32 + 64];
    char nonce[33], hash[65], sig[129];
    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2hex(nonce, sizeof nonce, rnd, 16);
    sodium_bin2hex(hash, sizeof hash, rnd + 16, 32);
    sodium_bin2hex(sig, sizeof sig, rnd + 48, 64);
    int n = snprintf(buf, size,
                     "POST /v1/specimens HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n%s: %s\r\n%s: %s\r\n%s: %lld\r\n%s: %s\r\n"
                     "%s: %s\r\n%s: %s\r\nContent-Type: application/octet-stream\r\nContent-Length: " SLOW_LENGTH
                     "\r\n\r\n",
                     g_port, IBEX_HDR_NODE, ibex_node_key_name(g_key), IBEX_HDR_TO, g_to, IBEX_HDR_TIMESTAMP,
                     (long long)time(NULL), IBEX_HDR_NONCE, nonce, IBEX_HDR_BODY_SHA256, hash, IBEX_HDR_SIGNATURE, sig);
    return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

/* A loopback connection from SLOW_SOURCE to the node; -1 when it cannot be made. */
static int slow_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    inet_pton(AF_INET, SLOW_SOURCE, &a.sin_addr);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    a.sin_port = htons((uint16_t)g_port);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One slow connection after another until g_stop: each sends a byte every interval and
 * watches for the node's answer or close. */
static void *run_slow(void *arg)
{
    int kind = *(const int *)arg;
    slow_stats *st = &g_slow[kind];
    char req[1024], in[4096];
    while (!atomic_load(&g_stop)) {
        int fd = slow_connect();
        if (fd < 0) {
            atomic_fetch_add(&st->connect_failed, 1);
            usleep(1000000);
            continue;
        }
        atomic_fetch_add(&st->connects, 1);
        atomic_fetch_add(&st->open, 1);
        size_t len = slow_request(req, sizeof req), sent = 0;
        int answered = 0, closed = 0;
        if (kind == SLOW_BODY) { /* the headers at once */
            ssize_t w = send(fd, req, len, MSG_NOSIGNAL);
            if (w > 0) sent = (size_t)w;
            closed = w != (ssize_t)len;
        }
        double next = kind == SLOW_BODY ? now_s() + slow_interval[kind] : now_s();
        while (!closed && !atomic_load(&g_stop)) {
            double wait = next - now_s();
            if (wait > 0.25) wait = 0.25; /* stay responsive to g_stop */
            struct pollfd pf = {fd, POLLIN, 0};
            int pr = poll(&pf, 1, wait > 0 ? (int)(wait * 1e3) + 1 : 0);
            if (pr > 0) {
                ssize_t r = recv(fd, in, sizeof in - 1, 0);
                if (r <= 0) {
                    closed = 1;
                    break;
                }
                in[r] = '\0';
                unsigned code = 0;
                if (!answered && sscanf(in, "HTTP/1.%*c %u", &code) == 1) {
                    answered = 1;
                    atomic_fetch_add(&st->answers[code < STATUS_MAX ? code : 0], 1);
                }
                continue;
            }
            if (now_s() < next) continue;
            /* the next header byte, then body bytes (never the whole announced body) */
            char b = sent < len ? req[sent] : 'x';
            if (send(fd, &b, 1, MSG_NOSIGNAL) != 1) {
                closed = 1;
                break;
            }
            sent++;
            atomic_fetch_add(&st->bytes, 1);
            next += slow_interval[kind];
        }
        if (closed) atomic_fetch_add(&st->closed_by_node, 1);
        atomic_fetch_sub(&st->open, 1);
        close(fd);
        if (closed) usleep(100000); /* reconnect at once, but without spinning on a refusal */
    }
    return NULL;
}

/* Open slow connections of each kind, once a second until the run's end. */
typedef struct slow_samples {
    pthread_t t;
    int *v[SLOW_KINDS];
    size_t n, cap;
} slow_samples;

static void *run_sampler(void *arg)
{
    slow_samples *ss = arg;
    for (double next = now_s(); now_s() < g_end && !atomic_load(&g_stop); next += 1.0) {
        if (ss->n < ss->cap)
            for (int k = 0; k < SLOW_KINDS; k++) ss->v[k][ss->n] = atomic_load(&g_slow[k].open);
        ss->n++;
        double w = next + 1.0 - now_s();
        if (w > 0) usleep((useconds_t)(w * 1e6));
    }
    if (ss->n > ss->cap) ss->n = ss->cap;
    return NULL;
}

static int cmp_i(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return x < y ? -1 : x > y;
}

/* ,"slow_body":{...}: configured count, open min/median/max over the samples, connects,
 * failed connects, closes by the node, bytes sent, and the node's answers by status. */
static void print_slow(int kind, int count, int *v, size_t n)
{
    slow_stats *st = &g_slow[kind];
    qsort(v, n, sizeof *v, cmp_i);
    printf(",\"%s\":{\"connections\":%d,\"open_min\":%d,\"open_median\":%d,\"open_max\":%d,\"samples\":%zu,"
           "\"connects\":%lu,\"connect_failed\":%lu,\"closed_by_node\":%lu,\"bytes_sent\":%lu,\"answers\":{",
           slow_name[kind], count, n ? v[0] : 0, n ? v[n / 2] : 0, n ? v[n - 1] : 0, n,
           atomic_load(&st->connects), atomic_load(&st->connect_failed), atomic_load(&st->closed_by_node),
           atomic_load(&st->bytes));
    for (int c = 0, first = 1; c < STATUS_MAX; c++) {
        unsigned long k = atomic_load(&st->answers[c]);
        if (!k) continue;
        printf("%s\"%d\":%lu", first ? "" : ",", c, k);
        first = 0;
    }
    printf("}}");
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static long vm_hwm_kib(pid_t pid)
{
    char p[64], line[256];
    snprintf(p, sizeof p, "/proc/%d/status", (int)pid);
    FILE *f = fopen(p, "r");
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld", &v) == 1) break;
    if (f) fclose(f);
    return v;
}

static const char usage_text[] =
    "Usage: bench_node IBEX [--clients N] [--seconds S] [--endpoint query|health|push] [--x3p FILE]\n"
    "                  [--lib LIB.h5 [--shortlist K]] [--timeout S] [--slow N] [--slow-headers M]\n\n"
    "Load run against one node over loopback: the `ibex node serve` started from IBEX, N\n"
    "concurrent clients sending signed requests on kept-alive connections for S seconds. One\n"
    "JSON line: throughput, p50/p99 latency, errors and answers by status, the node's peak\n"
    "resident memory, and how the slow connections fared (open over time, closed by the node).\n\n"
    "  --clients N      concurrent clients, 1..1000 (default 200)\n"
    "  --seconds S      duration, 1..600 (default 60)\n"
    "  --endpoint E     query (POST /v1/query, default), health (GET /v1/health) or push\n"
    "                   (POST /v1/specimens)\n"
    "  --x3p FILE       the scan sent (default: a 512 x 512 analytic surface)\n"
    "  --lib LIB.h5     the node searches this indexed library (else it answers 501)\n"
    "  --shortlist K    stage-2 shortlist with --lib, 0..10 (default 1)\n"
    "  --timeout S      wait for requests in flight at the end, 1..3600 s (default 600)\n"
    "  --slow N         N extra connections from " SLOW_SOURCE " that announce a 64 MiB push\n"
    "                   with a random signature and send one body byte every 10 s, 0..1000\n"
    "  --slow-headers M M extra connections from " SLOW_SOURCE " that send the same header\n"
    "                   lines one byte every 5 s, 0..1000; both kinds reconnect when closed\n"
    "  --help           this text\n";

int main(int argc, char **argv)
{
    int u = bench_usage_check(argc, argv, usage_text,
                              "--clients=,--seconds=,--endpoint=,--x3p=,--lib=,--shortlist=,--timeout=,--slow=,"
                              "--slow-headers=");
    if (u >= 0) return u;
    if (argc < 2 || argv[1][0] == '-') {
        fputs(usage_text, stderr);
        return 2;
    }
    const char *ibex = argv[1], *endpoint = "query", *x3p = NULL, *lib = NULL;
    int clients = 200, seconds = 60, shortlist = 1, slow_n[SLOW_KINDS] = {0, 0};
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--clients")) clients = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds")) seconds = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--endpoint")) endpoint = argv[i + 1];
        else if (!strcmp(argv[i], "--x3p")) x3p = argv[i + 1];
        else if (!strcmp(argv[i], "--lib")) lib = argv[i + 1];
        else if (!strcmp(argv[i], "--shortlist")) shortlist = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--timeout")) g_timeout = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--slow")) slow_n[SLOW_BODY] = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--slow-headers")) slow_n[SLOW_HEADERS] = atoi(argv[i + 1]);
    }
    if (clients < 1 || clients > 1000 || seconds < 1 || seconds > 600 || shortlist < 0 || shortlist > 10 ||
        g_timeout < 1 || g_timeout > 3600 || slow_n[SLOW_BODY] < 0 || slow_n[SLOW_BODY] > 1000 ||
        slow_n[SLOW_HEADERS] < 0 || slow_n[SLOW_HEADERS] > 1000) {
        fprintf(stderr, "bench_node: clients 1..1000, seconds 1..600, shortlist 0..10, timeout 1..3600, "
                        "slow and slow-headers 0..1000\n");
        return 2;
    }
    char dir[] = "/tmp/ibex-bench-node-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char keyp[256], peers[256], spool[256], plain[256], pkg[256];
    snprintf(keyp, sizeof keyp, "%s/node.key", dir);
    snprintf(peers, sizeof peers, "%s/node.key.pub", dir);
    snprintf(spool, sizeof spool, "%s/spool", dir);
    snprintf(plain, sizeof plain, "%s/plain.x3p", dir);
    snprintf(pkg, sizeof pkg, "%s/pkg.x3p", dir);
    ibex_diag d;
    if (ibex_node_key_generate("bench", &g_key, &d) || ibex_node_key_write(g_key, keyp, &d)) {
        fprintf(stderr, "bench_node: %s\n", d.message);
        return 1;
    }
    /* The package: a given scan, or a 512 x 512 analytic surface (~1 MB). */
    if (!x3p) {
        ibex_surface *s = NULL;
        ibex_surface_create(512, 512, 3e-6, 3e-6, &s);
        for (size_t i = 0; i < 512 * 512; i++) s->z[i] = (float)(1e-6 * sin(i * 0.001) + 1e-7 * (double)(i % 97));
        ibex_surface_sync_mask(s);
        ibex_surface_write_x3p(s, plain, 0, &d);
        ibex_surface_free(s);
        x3p = plain;
    }
    if (ibex_package_sign(x3p, pkg, NULL, g_key, &d)) {
        fprintf(stderr, "bench_node: %s: %s\n", d.file, d.message);
        return 1;
    }
    unsigned char *bytes;
    size_t n;
    ibex_file_read_all(pkg, (size_t)1 << 28, &bytes, &n, &d);
    char *body = NULL;
    if (!strcmp(endpoint, "query")) {
        size_t bl = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL);
        char *b64 = malloc(bl);
        sodium_bin2base64(b64, bl, bytes, n, sodium_base64_VARIANT_ORIGINAL);
        body = malloc(bl + 64);
        snprintf(body, bl + 64, "{\"package\":\"%s\",\"top\":10,\"shortlist\":%d}", b64, shortlist);
        free(b64);
        g_method = "POST", g_target = "/v1/query", g_body = body, g_body_n = strlen(body);
        g_ctype = "application/json", g_expect = lib ? 200 : 501;
    } else if (!strcmp(endpoint, "push")) {
        g_method = "POST", g_target = "/v1/specimens", g_body = (const char *)bytes, g_body_n = n;
        g_ctype = "application/octet-stream", g_expect = 200; /* the first push is 201, see below */
    } else {
        g_method = "GET", g_target = "/v1/health", g_expect = 200;
    }

    /* Start the node as its own process so its memory is measured alone. */
    int pfd[2];
    if (pipe(pfd)) return 1;
    char exit_after[32];
    snprintf(exit_after, sizeof exit_after, "%ld", seconds + g_timeout + 60);
    char idle[32]; /* connections wait behind long queries: as long as a client does */
    snprintf(idle, sizeof idle, "%ld", g_timeout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        if (lib)
            execl(ibex, ibex, "node", "serve", "--listen", "127.0.0.1:0", "--key", keyp, "--peers", peers,
                  "--spool", spool, "--quiet", "--threads", "4", "--max-per-address", "0",
                  "--max-peer-requests", "1000", "--max-peer-memory", "512",
                  "--max-queries", "1000", "--exit-after", exit_after, "--lib", lib,
                  "--max-shortlist", "10", "--idle-timeout", idle, (char *)NULL);
        else
            execl(ibex, ibex, "node", "serve", "--listen", "127.0.0.1:0", "--key", keyp, "--peers", peers,
                  "--spool", spool, "--quiet", "--threads", "4", "--max-per-address", "0",
                  "--max-peer-requests", "1000", "--max-peer-memory", "512",
                  "--max-queries", "1000", "--exit-after", exit_after, (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    FILE *out = fdopen(pfd[0], "r");
    char line[256] = "", base[128] = "";
    if (!out || !fgets(line, sizeof line, out) || sscanf(line, "listening on %127s", base) != 1) {
        fprintf(stderr, "bench_node: the node did not start: %s\n", line);
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        return 1;
    }
    g_base = base;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (ibex_node_hello(base, 10, NULL, g_to, &d) != IBEX_OK) {
        fprintf(stderr, "bench_node: %s\n", d.message);
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        return 1;
    }
    if (!strcmp(endpoint, "push")) { /* store it once, so every timed push is a duplicate */
        ibex_node_response r;
        ibex_node_request(base, g_to, g_key, "POST", "/v1/specimens", bytes, n, NULL, 30, NULL, &r, &d);
        ibex_node_response_clear(&r);
    }
    long rss_idle = vm_hwm_kib(pid);
    /* The slow connections first, so the real clients meet them (up to 5 s to connect). */
    sscanf(base, "http://127.0.0.1:%u", &g_port);
    int nslow = slow_n[SLOW_BODY] + slow_n[SLOW_HEADERS], slow_started = 0;
    pthread_t *slow_t = calloc((size_t)(nslow ? nslow : 1), sizeof *slow_t);
    static int kinds[SLOW_KINDS] = {SLOW_BODY, SLOW_HEADERS};
    if (nslow) {
        int probe = slow_connect();
        if (probe < 0) {
            fprintf(stderr, "bench_node: cannot connect from %s to the node: %s\n", SLOW_SOURCE, strerror(errno));
            kill(pid, SIGTERM);
            waitpid(pid, NULL, 0);
            return 1;
        }
        close(probe);
    }
    for (int k = 0; k < SLOW_KINDS; k++)
        for (int i = 0; i < slow_n[k] && slow_t; i++)
            if (pthread_create(&slow_t[slow_started], NULL, run_slow, (void *)&kinds[k]) == 0) slow_started++;
    for (double until = now_s() + 5; nslow && now_s() < until;) {
        if (atomic_load(&g_slow[SLOW_BODY].open) + atomic_load(&g_slow[SLOW_HEADERS].open) >= nslow) break;
        usleep(10000);
    }
    client *cs = calloc((size_t)clients, sizeof *cs);
    double t0 = now_s();
    g_end = t0 + seconds;
    slow_samples ss = {.cap = (size_t)seconds + 2};
    for (int k = 0; k < SLOW_KINDS; k++) ss.v[k] = calloc(ss.cap, sizeof(int));
    int sampling = ss.v[0] && ss.v[1] && pthread_create(&ss.t, NULL, run_sampler, &ss) == 0;
    int started = 0;
    for (int i = 0; i < clients; i++, started++)
        if (pthread_create(&cs[i].t, NULL, run_client, &cs[i]) != 0) break;
    for (int i = 0; i < started; i++) pthread_join(cs[i].t, NULL);
    double wall = now_s() - t0;
    long rss_peak = vm_hwm_kib(pid);
    atomic_store(&g_stop, 1);
    if (sampling) pthread_join(ss.t, NULL);
    for (int i = 0; i < slow_started; i++) pthread_join(slow_t[i], NULL);
    free(slow_t);
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);

    size_t total = 0, errors = 0;
    long first_bad = 0;
    for (int i = 0; i < started; i++) {
        total += cs[i].n;
        errors += cs[i].errors;
        if (cs[i].errors && !first_bad) first_bad = cs[i].first_bad;
    }
    double *all = malloc((total ? total : 1) * sizeof *all);
    size_t k = 0;
    for (int i = 0; i < started; i++) {
        memcpy(all + k, cs[i].lat, cs[i].n * sizeof *all);
        k += cs[i].n;
        free(cs[i].lat);
    }
    qsort(all, total, sizeof *all, cmp_d);
    double p50 = total ? all[total / 2] : 0, p99 = total ? all[(size_t)(total * 0.99)] : 0;
    printf("{\"bench\":\"node\",\"endpoint\":\"%s\",\"clients\":%d,\"clients_started\":%d,\"seconds\":%.1f,"
           "\"package_bytes\":%zu,\"requests_ok\":%zu,\"errors\":%zu,\"first_error\":%ld,"
           "\"shortlist\":%d,\"library\":%s,\"throughput_rps\":%.2f,\"p50_ms\":%.2f,\"p99_ms\":%.2f,\"node_rss_idle_kib\":%ld,"
           "\"node_rss_peak_kib\":%ld,\"node_exit\":%d",
           endpoint, clients, started, wall, n, total, errors, first_bad, shortlist, lib ? "true" : "false", total / wall, p50 * 1e3, p99 * 1e3,
           rss_idle, rss_peak, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    /* the real clients' answers by status ("0": no answer) */
    printf(",\"statuses\":{");
    for (int c = 0, first = 1; c < STATUS_MAX; c++) {
        size_t k = 0;
        for (int i = 0; i < started; i++) k += cs[i].status[c];
        if (!k) continue;
        printf("%s\"%d\":%zu", first ? "" : ",", c, k);
        first = 0;
    }
    CURLcode ft = CURLE_OK;
    for (int i = 0; i < started && ft == CURLE_OK; i++) ft = cs[i].first_transport;
    printf("},\"first_transport_error\":\"%s\",\"slow_source\":\"" SLOW_SOURCE "\"",
           ft == CURLE_OK ? "" : curl_easy_strerror(ft));
    for (int k = 0; k < SLOW_KINDS; k++) {
        print_slow(k, slow_n[k], ss.v[k] ? ss.v[k] : (int[1]){0}, ss.v[k] ? ss.n : 0);
        free(ss.v[k]);
    }
    printf("}\n");
    free(all);
    free(cs);
    free(body);
    free(bytes);
    ibex_node_key_free(g_key);
    curl_global_cleanup();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "bench_node: could not remove %s\n", dir);
    return errors ? 1 : 0;
}
