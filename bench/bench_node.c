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
 * --timeout, default 600 s) and counted. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "bench_usage.h"
#include "ibex/ibex.h"
#include "ibex/node.h"
#include "ibex/package.h"

typedef struct client {
    pthread_t t;
    double *lat; /* seconds per request */
    size_t n, cap, errors;
    long first_bad;
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
    "                  [--lib LIB.h5 [--shortlist K]] [--timeout S]\n\n"
    "Load run against one node over loopback: the `ibex node serve` started from IBEX, N\n"
    "concurrent clients sending signed requests on kept-alive connections for S seconds. One\n"
    "JSON line: throughput, p50/p99 latency, errors, the node's peak resident memory.\n\n"
    "  --clients N      concurrent clients, 1..1000 (default 200)\n"
    "  --seconds S      duration, 1..600 (default 60)\n"
    "  --endpoint E     query (POST /v1/query, default), health (GET /v1/health) or push\n"
    "                   (POST /v1/specimens)\n"
    "  --x3p FILE       the scan sent (default: a 512 x 512 analytic surface)\n"
    "  --lib LIB.h5     the node searches this indexed library (else it answers 501)\n"
    "  --shortlist K    stage-2 shortlist with --lib, 0..10 (default 1)\n"
    "  --timeout S      wait for requests in flight at the end, 1..3600 s (default 600)\n"
    "  --help           this text\n";

int main(int argc, char **argv)
{
    int u = bench_usage_check(argc, argv, usage_text,
                              "--clients=,--seconds=,--endpoint=,--x3p=,--lib=,--shortlist=,--timeout=");
    if (u >= 0) return u;
    if (argc < 2 || argv[1][0] == '-') {
        fputs(usage_text, stderr);
        return 2;
    }
    const char *ibex = argv[1], *endpoint = "query", *x3p = NULL, *lib = NULL;
    int clients = 200, seconds = 60, shortlist = 1;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--clients")) clients = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds")) seconds = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--endpoint")) endpoint = argv[i + 1];
        else if (!strcmp(argv[i], "--x3p")) x3p = argv[i + 1];
        else if (!strcmp(argv[i], "--lib")) lib = argv[i + 1];
        else if (!strcmp(argv[i], "--shortlist")) shortlist = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--timeout")) g_timeout = atol(argv[i + 1]);
    }
    if (clients < 1 || clients > 1000 || seconds < 1 || seconds > 600 || shortlist < 0 || shortlist > 10 ||
        g_timeout < 1 || g_timeout > 3600) {
        fprintf(stderr, "bench_node: clients 1..1000, seconds 1..600, shortlist 0..10, timeout 1..3600\n");
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
                  "--spool", spool, "--quiet", "--threads", "4", "--max-per-address", "0", "--exit-after", exit_after, "--lib", lib,
                  "--max-shortlist", "10", "--idle-timeout", idle, (char *)NULL);
        else
            execl(ibex, ibex, "node", "serve", "--listen", "127.0.0.1:0", "--key", keyp, "--peers", peers,
                  "--spool", spool, "--quiet", "--threads", "4", "--max-per-address", "0", "--exit-after", exit_after, (char *)NULL);
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
    client *cs = calloc((size_t)clients, sizeof *cs);
    double t0 = now_s();
    g_end = t0 + seconds;
    int started = 0;
    for (int i = 0; i < clients; i++, started++)
        if (pthread_create(&cs[i].t, NULL, run_client, &cs[i]) != 0) break;
    for (int i = 0; i < started; i++) pthread_join(cs[i].t, NULL);
    double wall = now_s() - t0;
    long rss_peak = vm_hwm_kib(pid);
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
           "\"node_rss_peak_kib\":%ld,\"node_exit\":%d}\n",
           endpoint, clients, started, wall, n, total, errors, first_bad, shortlist, lib ? "true" : "false", total / wall, p50 * 1e3, p99 * 1e3,
           rss_idle, rss_peak, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
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
