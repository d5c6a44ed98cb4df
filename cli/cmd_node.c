/* ibex node: keys, signed exchange packages, the HTTP node and its client. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


#include "cli.h"
#include "ibex/node.h"
#include "ibex/package.h"

static void help_main(FILE *f)
{
    fprintf(f, "Usage: ibex node SUBCOMMAND [OPTIONS] [ARGS]\n\n"
               "Exchange packages (signed X3P files) and network nodes.\n\n"
               "  keygen KEYFILE [--name NAME]          make a node key pair (KEYFILE, KEYFILE.pub)\n"
               "  sign IN.x3p OUT.x3p --key KEY         make a signed exchange package\n"
               "  verify PKG.x3p... --trust PEERS       check signer and integrity\n"
               "  serve --listen HOST:PORT --key KEY --peers PEERS [--spool DIR] [--lib LIB.h5]\n"
               "                                        run a node (HTTP, authenticated)\n"
               "  health|stats --peer URL --key KEY     ask a node how it is\n"
               "  push PKG.x3p... --peer URL --key KEY  send packages to a node\n"
               "  pull --peer URL --key KEY --trust PEERS --out DIR [--lib LIB.h5]\n"
               "                                        replicate a node's packages (resumable)\n"
               "  query SCAN.x3p --peer URL --key KEY [--federate]\n"
               "                                        ranked candidates from a node (and its peers)\n\n"
               "'ibex node SUBCOMMAND --help' describes one. Formats: docs/reference/exchange-format.md,\n"
               "protocol and deployment (TLS): docs/reference/node.md.\n"
               "Exit status: 0 success, 1 refused or failed, 2 usage error.\n");
}

static ibex_node_key *load_key(const char *path, int *rc)
{
    ibex_node_key *k = NULL;
    ibex_diag d;
    ibex_status s = ibex_node_key_read(path, &k, &d);
    if (s) *rc = cli_fail_status(s, &d);
    return k;
}

static ibex_trust *load_trust(const char *path, int *rc)
{
    ibex_trust *t = NULL;
    ibex_diag d;
    ibex_status s = ibex_trust_read(path, &t, &d);
    if (s) *rc = cli_fail_status(s, &d);
    return t;
}

/* ---- keygen ---- */
static int node_keygen(int argc, char **argv)
{
    static const struct option opts[] = {{"name", required_argument, 0, 'n'}, {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *name = NULL;
    int json = 0, c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'n': name = optarg; break;
        case 'j': json = 1; break;
        case 'h':
            printf("Usage: ibex node keygen KEYFILE [--name NAME] [--json]\n\n"
                   "Make an Ed25519 key pair for this node. KEYFILE gets the secret (mode 0600;\n"
                   "never overwritten), KEYFILE.pub the line 'NAME PUBLIC_KEY_HEX' to append to\n"
                   "other nodes' peers.txt (add ' URL' for where this node listens).\n\n"
                   "  --name NAME   node name, 1-64 of A-Z a-z 0-9 . _ - (default: KEYFILE's\n"
                   "                base name without extension)\n"
                   "  --json        print {\"name\", \"public_key\", \"key\", \"public_file\"}\n");
            return EXIT_OK;
        default: return cli_usage_error("unknown option");
        }
    }
    if (argc - optind != 1) return cli_usage_error("need exactly one KEYFILE");
    const char *path = argv[optind];
    char defname[IBEX_NODE_NAME_MAX + 1];
    if (!name) {
        const char *b = strrchr(path, '/');
        b = b ? b + 1 : path;
        snprintf(defname, sizeof defname, "%s", b);
        char *dot = strchr(defname, '.');
        if (dot && dot != defname) *dot = '\0';
        name = defname;
    }
    ibex_node_key *k = NULL;
    ibex_diag d;
    ibex_status s = ibex_node_key_generate(name, &k, &d);
    if (s) return s == IBEX_ERR_ARG ? cli_usage_error("%s (use --name)", d.message) : cli_fail_status(s, &d);
    s = ibex_node_key_write(k, path, &d);
    if (s) {
        ibex_node_key_free(k);
        return cli_fail_status(s, &d);
    }
    char hex[65];
    ibex_node_key_public_hex(k, hex);
    if (json) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s+}", "name", name, "public_key", hex, "key", path,
                              "public_file", path, ".pub");
        json_dumpf(o, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(o);
    } else {
        printf("node %s: secret key %s (mode 0600), public key %s.pub\n%s %s\n", name, path, path, name, hex);
    }
    ibex_node_key_free(k);
    return EXIT_OK;
}

/* ---- sign ---- */
static int node_sign(int argc, char **argv)
{
    static const struct option opts[] = {{"key", required_argument, 0, 'k'}, {"param", required_argument, 0, 'p'},
                                         {"no-params", no_argument, 0, 'N'}, {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *key = NULL;
    const char *kv[130];
    char *owned[64];
    int np = 0, none = 0, c, rc = EXIT_OK;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'k': key = optarg; break;
        case 'N': none = 1; break;
        case 'p': {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg) rc = cli_usage_error("--param needs KEY=VALUE");
            else if (np >= 64) rc = cli_usage_error("at most 64 --param");
            else {
                owned[np] = strdup(optarg);
                if (!owned[np]) return EXIT_REFUSED;
                char *e2 = owned[np] + (eq - optarg);
                *e2 = '\0';
                kv[2 * np] = owned[np];
                kv[2 * np + 1] = e2 + 1;
                np++;
            }
            break;
        }
        case 'h':
            printf("Usage: ibex node sign IN.x3p OUT.x3p --key KEY [--param KEY=VALUE]... [--no-params]\n\n"
                   "Write OUT.x3p: IN (a readable X3P file) signed by this node. OUT stays a\n"
                   "standard X3P file; the Ed25519 signature covers every byte before it (zip\n"
                   "archive comment). An earlier signature is replaced.\n\n"
                   "  --key KEY          this node's secret key (ibex node keygen)\n"
                   "  --param KEY=VALUE  preprocessing parameter, stored in %s\n"
                   "                     (repeatable; replaces the input's parameters)\n"
                   "  --no-params        drop the input's preprocessing parameters\n",
                   IBEX_PACKAGE_PREPROCESS_MEMBER);
            rc = -1;
            break;
        default: rc = cli_usage_error("unknown option"); break;
        }
        if (rc) break;
    }
    if (!rc && argc - optind != 2) rc = cli_usage_error("need IN.x3p and OUT.x3p");
    if (!rc && !key) rc = cli_usage_error("need --key KEY");
    if (!rc && np && none) rc = cli_usage_error("--param and --no-params exclude each other");
    ibex_node_key *k = rc ? NULL : load_key(key, &rc);
    if (!rc) {
        kv[2 * np] = NULL;
        ibex_diag d;
        ibex_status s = ibex_package_sign(argv[optind], argv[optind + 1], np || none ? kv : NULL, k, &d);
        if (s) rc = cli_fail_status(s, &d);
        else printf("%s: signed by %s\n", argv[optind + 1], ibex_node_key_name(k));
    }
    ibex_node_key_free(k);
    for (int i = 0; i < np; i++) free(owned[i]);
    return rc < 0 ? EXIT_OK : rc;
}

/* ---- verify ---- */
static const char *fault_name(ibex_package_fault f)
{
    switch (f) {
    case IBEX_PACKAGE_OK: return "ok";
    case IBEX_PACKAGE_MALFORMED: return "malformed";
    case IBEX_PACKAGE_UNSIGNED: return "unsigned";
    case IBEX_PACKAGE_BAD_SIGNATURE: return "bad-signature";
    case IBEX_PACKAGE_UNTRUSTED: return "untrusted";
    }
    return "?";
}

static int node_verify(int argc, char **argv)
{
    static const struct option opts[] = {{"trust", required_argument, 0, 't'}, {"json", no_argument, 0, 'j'},
                                         {"params", no_argument, 0, 'p'}, {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *trust_path = NULL;
    int json = 0, params = 0, c, rc = EXIT_OK;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 't': trust_path = optarg; break;
        case 'j': json = 1; break;
        case 'p': params = 1; break;
        case 'h':
            printf("Usage: ibex node verify PKG.x3p... --trust PEERS [--json] [--params]\n\n"
                   "Check each package: signed by a node in PEERS (lines 'NAME KEYHEX [URL]'),\n"
                   "not one byte changed since, and a readable X3P surface inside.\n\n"
                   "  --trust PEERS  trust list\n"
                   "  --params       also print the preprocessing parameters\n"
                   "  --json         one JSON array, an object per package\n"
                   "Exit status 1 when any package is refused.\n");
            return EXIT_OK;
        default: return cli_usage_error("unknown option");
        }
    }
    if (optind >= argc) return cli_usage_error("need at least one package");
    if (!trust_path) return cli_usage_error("need --trust PEERS");
    ibex_trust *t = load_trust(trust_path, &rc);
    if (!t) return rc;
    json_t *arr = json_array();
    for (int i = optind; i < argc; i++) {
        const ibex_peer *signer = NULL;
        ibex_package_fault fault;
        ibex_diag d;
        char buf[1200];
        ibex_status s = ibex_package_verify(argv[i], t, IBEX_PACKAGE_CHECK_X3P, &signer, &fault, &d);
        char **kv = NULL;
        if (!s && params) {
            unsigned char *data;
            size_t n;
            if (!ibex_file_read_all(argv[i], IBEX_PACKAGE_MAX_SIZE, &data, &n, &d)) {
                s = ibex_package_read_params(data, n, argv[i], &kv, &d);
                free(data);
            }
        }
        if (s) {
            rc = EXIT_REFUSED;
            if (!json) cli_fail_status(s, &d);
        } else if (!json) {
            printf("%s: signed by %s, intact\n", argv[i], signer->name);
            for (size_t k = 0; kv && kv[k]; k += 2) printf("  %s = %s\n", kv[k], kv[k + 1]);
        }
        if (json) {
            json_t *o = json_pack("{s:s, s:b, s:s}", "file", argv[i], "ok", !s, "fault", fault_name(fault));
            if (!s) json_object_set_new(o, "signer", json_string(signer->name));
            else json_object_set_new(o, "error", json_string(ibex_diag_format(&d, s, buf, sizeof buf)));
            if (kv) {
                json_t *p = json_object();
                for (size_t k = 0; kv[k]; k += 2) json_object_set_new(p, kv[k], json_string(kv[k + 1]));
                json_object_set_new(o, "params", p);
            }
            json_array_append_new(arr, o);
        }
        ibex_package_params_free(kv);
    }
    if (json) {
        json_dumpf(arr, stdout, JSON_INDENT(2));
        putchar('\n');
    }
    json_decref(arr);
    ibex_trust_free(t);
    return rc;
}

/* ---- serve ---- */
static int parse_size_mb(const char *s, size_t *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v > 0) || v > 4096) return 0;
    *out = (size_t)(v * 1048576.0);
    return *out > 0;
}

static void serve_help(const ibex_node_server_opts *o)
{
    printf("Usage: ibex node serve --listen HOST:PORT --key KEY --peers PEERS\n"
           "                       [--spool DIR] [--lib LIB.h5] [OPTIONS]\n\n"
           "Serve this node over HTTP/1.1 until SIGINT or SIGTERM. Every request but GET\n"
           "/v1/hello must be signed for this node by a node in PEERS (docs/reference/node.md).\n"
           "Endpoints: GET /v1/hello (name and public key, unsigned), GET /v1/health, GET\n"
           "/v1/stats, POST /v1/specimens (push a signed package), GET\n"
           "/v1/specimens?since=CURSOR (pull), GET /v1/specimens/SEQ, POST /v1/query.\n\n"
           "  --listen HOST:PORT  address (127.0.0.1:PORT, [::1]:PORT; PORT 0 picks one)\n"
           "  --key KEY           this node's secret key\n"
           "  --peers PEERS       trust list: who may call, whose packages are accepted\n"
           "  --spool DIR         accepted packages (default LIB.h5.spool with --lib)\n"
           "  --lib LIB.h5        reference library: pushed packages are stored in it (as\n"
           "                      'ibex import', then indexed) and POST /v1/query searches it\n"
           "  --share FIELDS      what answers say about a specimen, comma-separated: id,\n"
           "                      kind, region, set, firearm_id, same_source_key, sha256 or\n"
           "                      metadata keys (default '%s'; '' = scores and verdicts only;\n"
           "                      surfaces are never sent in answers)\n"
           "  --max-shortlist K   largest stage-2 shortlist a query may ask for (default %u;\n"
           "                      stage 2 costs about a second per cartridge pair)\n"
           "  --query-threads N   stage-2 threads of a query (default: all cores); queries\n"
           "                      run one at a time against the library\n"
           "  --fanout N          peers a federated query goes to, at most (default %u)\n"
           "  --peer-timeout SEC  deadline of a forwarded query (default %u)\n"
           "  --max-hops N        forwarding depth a query may ask for (default %u)\n"
           "  --peer-ca PEM       CA bundle for https peers\n"
           "  --idle-timeout SEC  close a connection idle this long (default %u)\n"
           "  --header-timeout SEC  a request's headers must be complete this long after\n"
           "                      its connection opened (default %u); a body must then come\n"
           "                      at 16 KiB/s or more, else the connection is closed\n"
           "  --max-per-address N connections from one IP address (default %u; 0: no limit)\n"
           "  --max-queries N     queries in progress at once (default %u; 503 past it)\n"
           "  --tls-cert PEM --tls-key PEM   serve HTTPS\n"
           "  --max-body MIB      largest request body (default %zu; 413 past it)\n"
           "  --max-memory MIB    request bodies held at once (default %zu; 503 past it)\n"
           "  --max-peer-memory MIB  of which one peer's (default a quarter)\n"
           "  --max-peer-requests N  requests of one peer in progress (default %u)\n"
           "  --threads N         thread pool (default %u)\n"
           "  --nonces N          replay table size (default %zu, 24 bytes each, kept in\n"
           "                      SPOOL/.nonces across restarts); each of the P peers may\n"
           "                      make N/P/601 requests per second, then gets 503\n"
           "  --log FILE          request log (default stderr)   --quiet  no request log\n"
           "  --exit-after SEC    stop after SEC seconds (tests)\n\n"
           "Prints 'listening on http(s)://HOST:PORT' once ready.\n",
           IBEX_NODE_SHARE_DEFAULT, o->max_shortlist, o->fanout, o->peer_timeout_s, o->max_hops, o->timeout_s,
           o->header_timeout_s, o->max_per_address, o->max_queries, o->max_body >> 20, o->max_memory >> 20,
           o->max_peer_requests, o->threads, o->nonce_capacity);
}

/* What 'ibex node serve' was asked for. */
typedef struct serve_args {
    ibex_node_server_opts o;
    ibex_node_library nl;
    const char *log_path, *share;
    long exit_after;
    int quiet;
    char spool_buf[4200];
} serve_args;

/* EXIT_OK to serve, -1 after --help, else the exit status of a usage error. */
static int serve_parse(int argc, char **argv, serve_args *a)
{
    static const struct option opts[] = {
        {"listen", required_argument, 0, 'l'}, {"key", required_argument, 0, 'k'},
        {"peers", required_argument, 0, 'p'},  {"spool", required_argument, 0, 's'},
        {"lib", required_argument, 0, 'L'},    {"tls-cert", required_argument, 0, 'C'},
        {"tls-key", required_argument, 0, 'K'}, {"max-body", required_argument, 0, 'b'},
        {"max-memory", required_argument, 0, 'm'}, {"threads", required_argument, 0, 't'},
        {"log", required_argument, 0, 'g'},    {"quiet", no_argument, 0, 'q'},
        {"exit-after", required_argument, 0, 'x'}, {"nonces", required_argument, 0, 'N'},
        {"share", required_argument, 0, 'S'},  {"max-shortlist", required_argument, 0, 'M'},
        {"fanout", required_argument, 0, 'F'}, {"peer-timeout", required_argument, 0, 'T'},
        {"max-hops", required_argument, 0, 'H'}, {"query-threads", required_argument, 0, 'Q'},
        {"peer-ca", required_argument, 0, 'c'}, {"idle-timeout", required_argument, 0, 'I'},
        {"header-timeout", required_argument, 0, 'W'}, {"max-per-address", required_argument, 0, 'A'},
        {"max-queries", required_argument, 0, 'U'}, {"max-peer-requests", required_argument, 0, 'R'},
        {"max-peer-memory", required_argument, 0, 'Y'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    ibex_node_server_opts_init(&a->o);
    a->o.listen = NULL;
    a->log_path = NULL;
    a->exit_after = 0;
    a->quiet = 0;
    ibex_node_library_init(&a->nl);
    a->share = IBEX_NODE_SHARE_DEFAULT;
    ibex_node_server_opts *o = &a->o;
    long num;
    int c;
    char why[300];
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'S':
            if (!ibex_node_share_check(optarg, why, sizeof why)) return cli_usage_error("--share: %s", why);
            a->share = optarg;
            break;
        case 'M':
        case 'F':
        case 'T':
        case 'H':
        case 'Q':
        case 'I':
        case 'W':
        case 'A':
        case 'U':
        case 'R': {
            char *end;
            long lo = c == 'H' || c == 'F' || c == 'A' ? 0 : 1,
                 hi = c == 'T' || c == 'I' || c == 'W' ? 3600 : c == 'H' ? 8 : c == 'M' || c == 'A' || c == 'U' || c == 'R' ? 1000 : 256;
            num = strtol(optarg, &end, 10);
            if (*end || num < lo || num > hi) return cli_usage_error("%s needs %ld..%ld", argv[optind - 1], lo, hi);
            if (c == 'M') o->max_shortlist = (unsigned)num;
            if (c == 'F') o->fanout = (unsigned)num;
            if (c == 'T') o->peer_timeout_s = (unsigned)num;
            if (c == 'H') o->max_hops = (unsigned)num;
            if (c == 'Q') a->nl.threads = (unsigned)num;
            if (c == 'I') o->timeout_s = (unsigned)num;
            if (c == 'W') o->header_timeout_s = (unsigned)num;
            if (c == 'A') o->max_per_address = (unsigned)num;
            if (c == 'U') o->max_queries = (unsigned)num;
            if (c == 'R') o->max_peer_requests = (unsigned)num;
            break;
        }
        case 'c': o->peer_ca = optarg; break;
        case 'l': o->listen = optarg; break;
        case 'k': o->key_path = optarg; break;
        case 'p': o->peers_path = optarg; break;
        case 's': o->spool_dir = optarg; break;
        case 'L': o->lib_path = optarg; break;
        case 'C': o->tls_cert = optarg; break;
        case 'K': o->tls_key = optarg; break;
        case 'b':
            if (!parse_size_mb(optarg, &o->max_body)) return cli_usage_error("--max-body needs MiB > 0");
            break;
        case 'm':
            if (!parse_size_mb(optarg, &o->max_memory)) return cli_usage_error("--max-memory needs MiB > 0");
            break;
        case 'Y':
            if (!parse_size_mb(optarg, &o->max_peer_memory)) return cli_usage_error("--max-peer-memory needs MiB > 0");
            break;
        case 't': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 256) return cli_usage_error("--threads needs 1..256");
            o->threads = (unsigned)v;
            break;
        }
        case 'g': a->log_path = optarg; break;
        case 'q': a->quiet = 1; break;
        case 'N': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1024 || v > (1L << 24)) return cli_usage_error("--nonces needs 1024..16777216");
            o->nonce_capacity = (size_t)v;
            break;
        }
        case 'x': {
            char *end;
            a->exit_after = strtol(optarg, &end, 10);
            if (*end || a->exit_after < 1) return cli_usage_error("--exit-after needs seconds >= 1");
            break;
        }
        case 'h':
            serve_help(o);
            return -1;
        default: return cli_usage_error("unknown option");
        }
    }
    if (optind < argc) return cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (!o->listen || !o->key_path || !o->peers_path) return cli_usage_error("need --listen, --key and --peers");
    if (!o->spool_dir) {
        if (!o->lib_path) return cli_usage_error("need --spool DIR (or --lib LIB.h5)");
        snprintf(a->spool_buf, sizeof a->spool_buf, "%s.spool", o->lib_path);
        o->spool_dir = a->spool_buf;
    }
    if (o->max_memory < o->max_body) o->max_memory = o->max_body;
    return EXIT_OK;
}

static int node_serve(int argc, char **argv)
{
    serve_args a;
    int rc = serve_parse(argc, argv, &a);
    if (rc) return rc < 0 ? EXIT_OK : rc;
    ibex_node_server_opts o = a.o;
    ibex_node_library *nlp = &a.nl;
    ibex_trust *trust = NULL;
    if (o.lib_path) {
        int trc = EXIT_OK;
        if (!(trust = load_trust(o.peers_path, &trc))) return trc;
        nlp->lib_path = o.lib_path;
        nlp->trust = trust;
        nlp->share = a.share;
        o.store = ibex_node_library_store;
        o.query = ibex_node_library_query;
        o.library_user = nlp;
    }
    FILE *logf;
    int lrc = cli_server_log(a.log_path, a.quiet, &o.log, &logf);
    if (lrc) {
        ibex_trust_free(trust);
        return lrc;
    }
    sigset_t set;
    cli_block_stop_signals(&set);
    ibex_node_server *srv = NULL;
    ibex_diag d;
    ibex_status s = ibex_node_server_create(&o, &srv, &d);
    if (s) {
        if (logf) fclose(logf);
        ibex_trust_free(trust);
        return cli_fail_status(s, &d);
    }
    char host[128];
    snprintf(host, sizeof host, "%s", o.listen);
    char *colon = strrchr(host, ':');
    if (colon) *colon = '\0';
    printf("listening on %s://%s:%u\n", o.tls_cert ? "https" : "http", host, ibex_node_server_port(srv));
    fflush(stdout);
    cli_server_wait(&set, a.exit_after);
    ibex_node_server_free(srv);
    ibex_trust_free(trust);
    if (logf) fclose(logf);
    return EXIT_OK;
}

/* ---- client subcommands ---- */
typedef struct client_args {
    const char *peer, *to, *key, *trust, *out, *ca, *lib;
    int json, federate;
    long top, max, shortlist, hops, deadline, rate;
} client_args;

static int client_opts(int argc, char **argv, client_args *a, const char *usage, const char *extra)
{
    static const struct option opts[] = {
        {"peer", required_argument, 0, 'P'}, {"key", required_argument, 0, 'k'},
        {"trust", required_argument, 0, 't'}, {"out", required_argument, 0, 'o'},
        {"ca", required_argument, 0, 'c'},   {"json", no_argument, 0, 'j'},
        {"top", required_argument, 0, 'T'},  {"max", required_argument, 0, 'm'},
        {"lib", required_argument, 0, 'L'},  {"limit-rate", required_argument, 0, 'r'},
        {"federate", no_argument, 0, 'f'},   {"shortlist", required_argument, 0, 's'},
        {"hops", required_argument, 0, 'H'}, {"deadline", required_argument, 0, 'd'},
        {"to", required_argument, 0, 'n'},   {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    int c;
    memset(a, 0, sizeof *a);
    a->top = 10;
    a->hops = 1;
    a->shortlist = -1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'P': a->peer = optarg; break;
        case 'n': a->to = optarg; break;
        case 'k': a->key = optarg; break;
        case 't': a->trust = optarg; break;
        case 'o': a->out = optarg; break;
        case 'c': a->ca = optarg; break;
        case 'j': a->json = 1; break;
        case 'T':
            a->top = strtol(optarg, &end, 10);
            if (*end || a->top < 1 || a->top > 1000) return cli_usage_error("--top needs 1..1000");
            break;
        case 'm':
            a->max = strtol(optarg, &end, 10);
            if (*end || a->max < 1) return cli_usage_error("--max needs a count >= 1");
            break;
        case 'L': a->lib = optarg; break;
        case 'f': a->federate = 1; break;
        case 'r':
            a->rate = strtol(optarg, &end, 10);
            if (*end || a->rate < 1 || a->rate > 1000000) return cli_usage_error("--limit-rate needs 1..1000000 KiB/s");
            break;
        case 's':
            a->shortlist = strtol(optarg, &end, 10);
            if (*end || a->shortlist < 0 || a->shortlist > 1000) return cli_usage_error("--shortlist needs 0..1000");
            break;
        case 'H':
            a->hops = strtol(optarg, &end, 10);
            if (*end || a->hops < 0 || a->hops > 8) return cli_usage_error("--hops needs 0..8");
            break;
        case 'd':
            a->deadline = strtol(optarg, &end, 10);
            if (*end || a->deadline < 1 || a->deadline > 3600) return cli_usage_error("--deadline needs 1..3600 s");
            break;
        case 'h':
            printf("Usage: %s\n\n%s"
                   "  --peer URL   the node, e.g. http://127.0.0.1:8470 (https with TLS)\n"
                   "  --to NAME    its node name: requests are signed for it (default: the\n"
                   "               node's answer to GET /v1/hello, or its entry in --trust)\n"
                   "  --key KEY    this node's secret key: every request is signed with it\n"
                   "  --ca PEM     CA bundle for https (default: the system's)\n"
                   "  --json       machine-readable output\n", usage, extra);
            return -1;
        default: return cli_usage_error("unknown option");
        }
    }
    if (!a->peer || !a->key) return cli_usage_error("need --peer URL and --key KEY");
    return 0;
}

/* Print a node's JSON answer; 0 for 2xx, else a one-line error. */
static int report(const char *what, const ibex_node_response *r, int json)
{
    json_error_t je;
    json_t *j = json_loadb((const char *)r->body, r->size, 0, &je);
    int ok = r->status >= 200 && r->status < 300;
    if (json) {
        json_t *o = json_pack("{s:s, s:i, s:o}", "request", what, "status", (int)r->status, "body",
                              j ? json_incref(j) : json_string((const char *)r->body));
        json_dumpf(o, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(o);
    } else if (ok) {
        char *t = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
        printf("%s: %ld\n%s\n", what, r->status, t ? t : (const char *)r->body);
        free(t);
    } else {
        const char *e = json_string_value(json_object_get(j, "error"));
        cli_error("%s: node answered %ld: %s", what, r->status, e ? e : (const char *)r->body);
    }
    json_decref(j);
    return ok ? EXIT_OK : EXIT_REFUSED;
}

/* The receiving node's name, for signing: --to, else its entry in the trust list with that
 * URL, else its own answer to GET /v1/hello (asked once per command). */
static ibex_status receiver_name(const client_args *a, const ibex_trust *t, char name[IBEX_NODE_NAME_MAX + 1],
                                 ibex_diag *d)
{
    if (a->to) {
        snprintf(name, IBEX_NODE_NAME_MAX + 1, "%s", a->to);
        return IBEX_OK;
    }
    size_t ul = strlen(a->peer);
    while (ul && a->peer[ul - 1] == '/') ul--;
    for (size_t i = 0; t && i < ibex_trust_count(t); i++) {
        const ibex_peer *p = ibex_trust_get(t, i);
        size_t pl = p->url ? strlen(p->url) : 0;
        while (pl && p->url[pl - 1] == '/') pl--;
        if (pl && pl == ul && strncmp(p->url, a->peer, ul) == 0) {
            snprintf(name, IBEX_NODE_NAME_MAX + 1, "%s", p->name);
            return IBEX_OK;
        }
    }
    return ibex_node_hello(a->peer, 30, a->ca, name, d);
}

static int node_simple_get(int argc, char **argv, const char *target)
{
    client_args a;
    char usage[128];
    snprintf(usage, sizeof usage, "ibex node %s --peer URL --key KEY [--json]", argv[0]);
    int rc = client_opts(argc, argv, &a, usage, "Ask a node how it is (signed GET /v1/health or /v1/stats).\n\n");
    if (rc) return rc < 0 ? EXIT_OK : rc;
    if (optind < argc) return cli_usage_error("unexpected argument '%s'", argv[optind]);
    ibex_node_key *k = load_key(a.key, &rc);
    if (!k) return rc;
    ibex_node_response r;
    ibex_diag d;
    ibex_status s = ibex_node_request(a.peer, a.to, k, "GET", target, NULL, 0, NULL, 30, a.ca, &r, &d);
    ibex_node_key_free(k);
    if (s) return cli_fail_status(s, &d);
    rc = report(target, &r, a.json);
    ibex_node_response_clear(&r);
    return rc;
}

static int node_push(int argc, char **argv)
{
    client_args a;
    int rc = client_opts(argc, argv, &a, "ibex node push PKG.x3p... --peer URL --key KEY [--json]",
                         "Send signed packages to a node (POST /v1/specimens). The node verifies each\n"
                         "before storing it; a package it already holds is not stored twice.\n\n");
    if (rc) return rc < 0 ? EXIT_OK : rc;
    if (optind >= argc) return cli_usage_error("need at least one package");
    ibex_node_key *k = load_key(a.key, &rc);
    if (!k) return rc;
    char to[IBEX_NODE_NAME_MAX + 1];
    ibex_diag dn;
    ibex_status sn = receiver_name(&a, NULL, to, &dn);
    if (sn) {
        ibex_node_key_free(k);
        return cli_fail_status(sn, &dn);
    }
    for (int i = optind; i < argc; i++) {
        unsigned char *data;
        size_t n;
        ibex_diag d;
        ibex_node_response r;
        ibex_status s = ibex_file_read_all(argv[i], IBEX_PACKAGE_MAX_SIZE, &data, &n, &d);
        if (!s) {
            s = ibex_node_request(a.peer, to, k, "POST", "/v1/specimens", data, n, "application/octet-stream",
                                  120, a.ca, &r, &d);
            free(data);
        }
        if (s) {
            rc = cli_fail_status(s, &d);
            continue;
        }
        if (report(argv[i], &r, a.json)) rc = EXIT_REFUSED;
        ibex_node_response_clear(&r);
    }
    ibex_node_key_free(k);
    return rc;
}

static int node_pull(int argc, char **argv)
{
    client_args a;
    int rc = client_opts(argc, argv, &a,
                         "ibex node pull --peer URL --key KEY --trust PEERS --out DIR [--lib LIB.h5]\n"
                         "                     [--max N] [--limit-rate KIB] [--json]",
                         "Copy the node's packages into DIR (SEQ-SHA256.x3p), each verified against\n"
                         "PEERS before it is stored. DIR/.cursor remembers where to resume: a pull\n"
                         "killed at any point resumes there and stores nothing twice. A package\n"
                         "refused for what it is (signer not in PEERS, altered, malformed, or not\n"
                         "taken by LIB) is passed over and recorded, one line each (SEQ, SHA256,\n"
                         "time, reason), in DIR/" IBEX_NODE_PULL_REFUSED_LOG "; a failure of this side or the\n"
                         "network stops the pull before the package, to try it again next time.\n"
                         "Exit status: 0 every package stored, 1 any refused in this run (the others\n"
                         "are stored) or a failure.\n\n"
                         "  --trust PEERS     whose packages to accept\n"
                         "  --out DIR         destination (created if missing)\n"
                         "  --lib LIB.h5      also store each package in this library, as 'ibex import'\n"
                         "                    (duplicates skipped), and index it\n"
                         "  --max N           stop after N packages\n"
                         "  --limit-rate KIB  download at most KIB KiB/s\n");
    if (rc) return rc < 0 ? EXIT_OK : rc;
    if (optind < argc) return cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (!a.trust || !a.out) return cli_usage_error("need --trust PEERS and --out DIR");
    ibex_node_key *k = load_key(a.key, &rc);
    ibex_trust *t = k ? load_trust(a.trust, &rc) : NULL;
    if (t) {
        ibex_node_pull_stats st;
        ibex_diag d;
        ibex_node_library nl;
        ibex_node_library_init(&nl);
        nl.lib_path = a.lib;
        nl.trust = t;
        nl.share = NULL;
        ibex_node_pull_opts po;
        ibex_node_pull_opts_init(&po);
        po.max_items = (size_t)a.max;
        po.ca_file = a.ca;
        po.max_recv_bytes_s = a.rate * 1024;
        po.store = a.lib ? ibex_node_library_store : NULL;
        po.store_user = &nl;
        char to[IBEX_NODE_NAME_MAX + 1];
        ibex_status s = receiver_name(&a, t, to, &d);
        memset(&st, 0, sizeof st);
        if (!s) s = ibex_node_pull(a.peer, to, k, t, a.out, &po, &st, &d);
        char log[4200];
        snprintf(log, sizeof log, "%s/%s", a.out, IBEX_NODE_PULL_REFUSED_LOG);
        if (a.json) {
            /* ok: the pull ran to the end (refusals included); refused_log only when some were */
            json_t *o = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I}", "ok", !s, "fetched", (json_int_t)st.fetched,
                                  "stored", (json_int_t)st.stored, "refused", (json_int_t)st.refused,
                                  "cursor", (json_int_t)st.cursor, "library_stored", (json_int_t)st.library_stored,
                                  "library_skipped", (json_int_t)st.library_skipped);
            if (st.refused) json_object_set_new(o, "refused_log", json_string(log));
            json_dumpf(o, stdout, JSON_INDENT(2));
            putchar('\n');
            json_decref(o);
        } else {
            printf("pulled %zu, stored %zu, refused %zu; cursor %" PRIu64 "\n", st.fetched, st.stored,
                   st.refused, st.cursor);
            if (a.lib) printf("library %s: %zu stored, %zu skipped\n", a.lib, st.library_stored, st.library_skipped);
        }
        if (st.refused) {
            cli_error("%zu package%s refused and passed over, recorded in %s", st.refused, st.refused == 1 ? "" : "s",
                      log);
            rc = EXIT_REFUSED;
        }
        if (s) rc = cli_fail_status(s, &d);
    }
    ibex_trust_free(t);
    ibex_node_key_free(k);
    return rc;
}

/* A query answer as a table: rank, node, id, score, CMC, verdict; then each node's status. */
static int print_query(const ibex_node_response *r)
{
    if (r->status != 200) return report("/v1/query", r, 0);
    json_error_t je;
    json_t *j = json_loadb((const char *)r->body, r->size, 0, &je);
    if (!j) return report("/v1/query", r, 0);
    const char *kind = json_string_value(json_object_get(j, "kind"));
    int bullet = kind && !strcmp(kind, "bullet");
    printf("query %s at %s\n", json_string_value(json_object_get(j, "query_id")),
           json_string_value(json_object_get(j, "node")));
    printf("%4s  %-12s %-28s %8s %7s %4s  %s\n", "rank", "node", "id", "score", "stage1", bullet ? "cms" : "cmc",
           "verdict");
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(j, "candidates"), i, c) {
        const char *id = json_string_value(json_object_get(c, "id"));
        json_t *sc = json_object_get(c, "score"), *cm = json_object_get(c, bullet ? "cms" : "cmc");
        const char *v = json_string_value(json_object_get(c, "verdict"));
        printf("%4lld  %-12s %-28s ", (long long)json_integer_value(json_object_get(c, "rank")),
               json_string_value(json_object_get(c, "node")), id ? id : "-");
        if (json_is_number(sc)) printf("%8.2f ", json_number_value(sc));
        else printf("%8s ", "-");
        printf("%7.3f %4lld  %s\n", json_number_value(json_object_get(c, "stage1")),
               (long long)json_integer_value(cm),
               v ? v : json_is_string(json_object_get(c, "error")) ? json_string_value(json_object_get(c, "error")) : "-");
    }
    json_array_foreach(json_object_get(j, "nodes"), i, c) {
        const char *e = json_string_value(json_object_get(c, "error"));
        printf("node %s: %lld, %lld candidates%s%s\n", json_string_value(json_object_get(c, "node")),
               (long long)json_integer_value(json_object_get(c, "status")),
               (long long)json_integer_value(json_object_get(c, "candidates")), e ? ": " : "", e ? e : "");
    }
    json_decref(j);
    return EXIT_OK;
}

/* The scan signed with this node's key, in memory (a package is re-signed: the asking node
 * vouches for the query; its preprocessing parameters are kept). */
static ibex_status signed_scan(const char *path, const ibex_node_key *k, unsigned char **data, size_t *n,
                               ibex_diag *d)
{
    char tmp[] = "/tmp/ibex-query-XXXXXX";
    int fd = mkstemp(tmp);
    if (fd < 0) {
        memset(d, 0, sizeof *d);
        snprintf(d->message, sizeof d->message, "cannot make a temporary file: %s", strerror(errno));
        return IBEX_ERR_IO;
    }
    close(fd);
    ibex_status s = ibex_package_sign(path, tmp, NULL, k, d);
    if (!s) s = ibex_file_read_all(tmp, IBEX_PACKAGE_MAX_SIZE, data, n, d);
    unlink(tmp);
    return s;
}

static int node_query(int argc, char **argv)
{
    client_args a;
    int rc = client_opts(argc, argv, &a,
                         "ibex node query SCAN.x3p --peer URL --key KEY [--federate] [--top N]\n"
                         "                      [--shortlist K] [--hops H] [--deadline SEC] [--json]",
                         "Ask a node for the candidates of its library that best match the scan\n"
                         "(POST /v1/query; the scan travels as a package signed with KEY). Each\n"
                         "candidate has its rank, score, stage-1 similarity, CMC counts, verdict, the\n"
                         "node it lives on and what that node's policy shares (its id by default).\n\n"
                         "  --federate       the node also asks its peers and merges their lists\n"
                         "  --top N          candidates wanted (default 10)\n"
                         "  --shortlist K    stage-2 shortlist per node (default 5, at most the node's\n"
                         "                   --max-shortlist; 0 = stage 1 only, no scores or verdicts)\n"
                         "  --hops H         forwarding depth with --federate (default 1)\n"
                         "  --deadline SEC   how long a node waits for its peers (default: its own)\n");
    if (rc) return rc < 0 ? EXIT_OK : rc;
    if (argc - optind != 1) return cli_usage_error("need exactly one scan");
    ibex_node_key *k = load_key(a.key, &rc);
    if (!k) return rc;
    unsigned char *data = NULL;
    size_t n;
    ibex_diag d;
    ibex_status s = signed_scan(argv[optind], k, &data, &n, &d);
    if (s) {
        ibex_node_key_free(k);
        return cli_fail_status(s, &d);
    }
    char *b64 = cli_base64(data, n);
    if (!b64) {
        free(data);
        ibex_node_key_free(k);
        return cli_fail_status(IBEX_ERR_NOMEM, NULL);
    }
    free(data);
    json_t *o = json_pack("{s:s, s:i, s:b}", "package", b64, "top", (int)a.top, "federate", a.federate);
    free(b64);
    if (a.shortlist >= 0) json_object_set_new(o, "shortlist", json_integer(a.shortlist));
    if (a.federate) json_object_set_new(o, "hops", json_integer(a.hops));
    if (a.deadline) json_object_set_new(o, "deadline_s", json_integer(a.deadline));
    char *body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    ibex_node_response r;
    /* The node's own deadline for its peers, plus its local search. */
    long timeout = (a.deadline ? a.deadline : 3600) + 600;
    s = ibex_node_request(a.peer, a.to, k, "POST", "/v1/query", body, strlen(body), "application/json", timeout, a.ca,
                          &r, &d);
    free(body);
    ibex_node_key_free(k);
    if (s) return cli_fail_status(s, &d);
    rc = a.json ? report("/v1/query", &r, 1) : print_query(&r);
    ibex_node_response_clear(&r);
    return rc;
}

int cmd_node(int argc, char **argv)
{
    if (argc < 2) {
        help_main(stderr);
        return EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        help_main(stdout);
        return EXIT_OK;
    }
    static const struct {
        const char *name;
        int (*run)(int, char **);
    } subs[] = {{"keygen", node_keygen}, {"sign", node_sign},   {"verify", node_verify},
                {"serve", node_serve},   {"push", node_push},   {"pull", node_pull},
                {"query", node_query},   {"health", NULL},      {"stats", NULL}};
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        if (strcmp(subs[i].name, sub) != 0) continue;
        static char prog[64];
        snprintf(prog, sizeof prog, "ibex node %s", sub);
        cli_prog = prog;
        optind = 1;
        if (!subs[i].run)
            return node_simple_get(argc - 1, argv + 1, !strcmp(sub, "health") ? "/v1/health" : "/v1/stats");
        return subs[i].run(argc - 1, argv + 1);
    }
    cli_error("unknown subcommand '%s'", sub);
    help_main(stderr);
    return EXIT_USAGE;
}
