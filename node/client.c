/* Node client (libcurl): signed requests, and pull replication into a directory. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>

#include "atomic_file.h"
#include "exchange_internal.h"
#include "ibex/node.h"
#include "ibex_internal.h"
#include "node_internal.h"

#define RESPONSE_MAX (IBEX_PACKAGE_MAX_SIZE + ((size_t)1 << 20))

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_FAILED_INIT;
static void init_curl(void) { curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT); }

typedef struct sink {
    unsigned char *p;
    size_t n, cap;
    int overflow;
    char sha256[65];
} sink;

static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
    sink *s = user;
    size_t n = size * nmemb;
    if (n > RESPONSE_MAX - s->n) {
        s->overflow = 1;
        return 0; /* aborts the transfer */
    }
    if (s->n + n + 1 > s->cap) {
        size_t nc = s->cap ? s->cap : 16384;
        while (nc < s->n + n + 1) nc *= 2;
        unsigned char *np = realloc(s->p, nc);
        if (!np) return 0;
        s->p = np;
        s->cap = nc;
    }
    memcpy(s->p + s->n, data, n);
    s->n += n;
    s->p[s->n] = 0;
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *user)
{
    sink *s = user;
    size_t n = size * nmemb;
    const char *name = "X-Ibex-Sha256:";
    size_t k = strlen(name);
    if (n > k && strncasecmp(data, name, k) == 0) {
        const char *v = data + k;
        while (*v == ' ') v++;
        if ((size_t)(data + n - v) >= 64) {
            memcpy(s->sha256, v, 64);
            s->sha256[64] = '\0';
        }
    }
    return n;
}

void ibex_node_response_clear(ibex_node_response *r)
{
    if (!r) return;
    free(r->body);
    memset(r, 0, sizeof *r);
}

static ibex_status request(const char *base_url, const char *to, const ibex_node_key *key, const char *method,
                           const char *target, const void *body, size_t n, const char *content_type,
                           long timeout_s, const char *ca_file, long max_recv, ibex_node_response *out,
                           ibex_diag *diag)
{
    if (!base_url || (key && !to) || !method || !target || !out || target[0] != '/')
        return ibex__fail(diag, IBEX_ERR_ARG, base_url ? base_url : "", -1, "bad request arguments");
    pthread_once(&curl_once, init_curl);
    if (curl_init_result != CURLE_OK) return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, base_url, -1, "libcurl failed to initialise");
    size_t bl = strlen(base_url);
    while (bl && base_url[bl - 1] == '/') bl--;
    char url[8192];
    if ((size_t)snprintf(url, sizeof url, "%.*s%s", (int)bl, base_url, target) >= sizeof url)
        return ibex__fail(diag, IBEX_ERR_ARG, base_url, -1, "URL too long");
    struct curl_slist *h = NULL;
    char line[300];
    if (key) { /* key NULL: the one unsigned request, GET /v1/hello */
        ibex_node_auth a;
        ibex_status st = ibex_node_auth_sign(key, to, method, target, body, n, -1, NULL, &a, diag);
        if (st) return st;
        const char *const hv[][2] = {{IBEX_HDR_NODE, a.node},           {IBEX_HDR_TO, a.to},
                                     {IBEX_HDR_TIMESTAMP, a.timestamp}, {IBEX_HDR_NONCE, a.nonce},
                                     {IBEX_HDR_BODY_SHA256, a.body_sha256}, {IBEX_HDR_SIGNATURE, a.signature}};
        for (size_t i = 0; i < sizeof hv / sizeof hv[0]; i++) {
            snprintf(line, sizeof line, "%s: %s", hv[i][0], hv[i][1]);
            h = curl_slist_append(h, line);
        }
    }
    CURL *c = curl_easy_init();
    if (!c) {
        curl_slist_free_all(h);
        return ibex__fail(diag, IBEX_ERR_NOMEM, base_url, -1, "cannot start libcurl");
    }
    h = curl_slist_append(h, "Expect:"); /* no 100-continue round trip */
    if (content_type) {
        snprintf(line, sizeof line, "Content-Type: %s", content_type);
        h = curl_slist_append(h, line);
    }
    sink s = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &s);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s > 0 ? timeout_s : 60L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    if (ca_file) curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
    if (max_recv > 0) curl_easy_setopt(c, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)max_recv);
    if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, n ? (const char *)body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
    }
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    if (rc != CURLE_OK) {
        free(s.p);
        return ibex__fail(diag, s.overflow ? IBEX_ERR_LIMIT : IBEX_ERR_IO, url, -1, "%s",
                          s.overflow ? "response is over the size limit" : curl_easy_strerror(rc));
    }
    if (!s.p && !(s.p = calloc(1, 1))) return ibex__fail(diag, IBEX_ERR_NOMEM, url, -1, "out of memory");
    memset(out, 0, sizeof *out);
    out->status = code;
    out->body = s.p;
    out->size = s.n;
    memcpy(out->sha256, s.sha256, sizeof out->sha256);
    return IBEX_OK;
}

ibex_status ibex_node_hello(const char *base_url, long timeout_s, const char *ca_file, char *name, ibex_diag *diag)
{
    if (!name) return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "missing argument to hello");
    ibex_node_response r;
    ibex_status st = request(base_url, NULL, NULL, "GET", "/v1/hello", NULL, 0, NULL, timeout_s, ca_file, 0, &r, diag);
    if (st) return st;
    json_error_t je;
    json_t *j = r.status == 200 ? json_loadb((const char *)r.body, r.size, 0, &je) : NULL;
    const char *nm = json_string_value(json_object_get(j, "node"));
    if (!nm || !ibex__node_name_ok(nm))
        st = ibex__fail(diag, IBEX_ERR_FORMAT, base_url, -1, "GET /v1/hello answered %ld without a node name: %.200s",
                        r.status, (const char *)r.body);
    else snprintf(name, IBEX_NODE_NAME_MAX + 1, "%s", nm);
    json_decref(j);
    ibex_node_response_clear(&r);
    return st;
}

/* to, or the node's own answer to hello when NULL, into name. */
static ibex_status resolve_to(const char *base_url, const char *to, const char *ca_file, char *name, ibex_diag *diag)
{
    if (to) {
        if (!ibex__node_name_ok(to)) return ibex__fail(diag, IBEX_ERR_ARG, base_url, -1, "'%.80s' is not a node name", to);
        snprintf(name, IBEX_NODE_NAME_MAX + 1, "%s", to);
        return IBEX_OK;
    }
    return ibex_node_hello(base_url, 30, ca_file, name, diag);
}

ibex_status ibex_node_request(const char *base_url, const char *to, const ibex_node_key *key, const char *method,
                              const char *target, const void *body, size_t n, const char *content_type,
                              long timeout_s, const char *ca_file, ibex_node_response *out, ibex_diag *diag)
{
    if (!key) return ibex__fail(diag, IBEX_ERR_ARG, base_url ? base_url : "", -1, "a request needs a key to sign it");
    char name[IBEX_NODE_NAME_MAX + 1];
    ibex_status st = resolve_to(base_url, to, ca_file, name, diag);
    if (st) return st;
    return request(base_url, name, key, method, target, body, n, content_type, timeout_s, ca_file, 0, out, diag);
}

/* ---- pull replication ---- */

static ibex_status write_file_atomic(const char *dir, const char *name, const void *d, size_t n,
                                     ibex_diag *diag)
{
    char tmp[4200], final[4200];
    snprintf(tmp, sizeof tmp, "%s/.tmp-XXXXXX", dir);
    snprintf(final, sizeof final, "%s/%s", dir, name);
    int fd = mkstemp(tmp);
    if (fd < 0) return ibex__fail(diag, IBEX_ERR_IO, dir, -1, "cannot create a file: %s", strerror(errno));
    int ok = ibex__write_all(fd, d, n) && fsync(fd) == 0;
    int e = errno;
    close(fd);
    if (ok && rename(tmp, final) != 0) {
        ok = 0;
        e = errno;
    }
    if (!ok) {
        unlink(tmp);
        return ibex__fail(diag, IBEX_ERR_IO, final, -1, "cannot write: %s", strerror(e));
    }
    return IBEX_OK;
}

static uint64_t read_cursor(const char *dir)
{
    char path[4200], buf[32] = "";
    snprintf(path, sizeof path, "%s/.cursor", dir);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t k = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[k] = '\0';
    return strtoull(buf, NULL, 10);
}

/* Statuses that refuse a package for what it is (not signed by a trusted peer, altered,
 * malformed, too large, or content the library will not take): recorded and passed over.
 * Anything else (I/O, memory, the network, a library that cannot be written) is this side's
 * failure: the pull stops before the package, so the next one tries it again. */
static int refused_for_content(ibex_status st)
{
    return st == IBEX_ERR_FORMAT || st == IBEX_ERR_INTEGRITY || st == IBEX_ERR_LIMIT;
}

/* One line of out_dir/refused.tsv: SEQ, SHA256, UTC time, reason (tabs and line breaks in it
 * become spaces). Appended and fsynced before the cursor moves past the package, so a crash
 * in between refuses it again at worst (a second line for the same SEQ). */
static ibex_status record_refusal(const char *dir, uint64_t seq, const char *sha_hex, const char *reason,
                                  ibex_diag *diag)
{
    char path[4200], when[32], line[1400];
    snprintf(path, sizeof path, "%s/%s", dir, IBEX_NODE_PULL_REFUSED_LOG);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    int head = snprintf(line, sizeof line, "%" PRIu64 "\t%s\t%s\t", seq, sha_hex, when);
    if (head < 0 || (size_t)head >= sizeof line) head = 0;
    size_t n = (size_t)head;
    /* the reason is the fourth field: kept on its one line */
    for (const char *c = reason; *c && n < sizeof line - 1; c++)
        line[n++] = *c == '\t' || *c == '\n' || *c == '\r' ? ' ' : *c;
    line[n++] = '\n';
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return ibex__fail(diag, IBEX_ERR_IO, path, -1, "cannot open: %s", strerror(errno));
    ssize_t w;
    do w = write(fd, line, n);
    while (w < 0 && errno == EINTR);
    int ok = w == (ssize_t)n && fsync(fd) == 0;
    int e = errno;
    close(fd);
    if (!ok)
        return ibex__fail(diag, IBEX_ERR_IO, path, -1, "cannot append: %s",
                          w >= 0 && w != (ssize_t)n ? "short write" : strerror(e));
    return IBEX_OK;
}

/* One package: fetch, check against the listing, verify, library (o->store), then the file.
 * The file is written last, so a package found by name was handed to the library too. A
 * package refused for its content is recorded (IBEX_OK, stats->refused); any other failure
 * is returned, nothing recorded. */
static ibex_status pull_one(const char *base_url, const char *to, const ibex_node_key *key, const ibex_trust *trust,
                            const char *dir, uint64_t seq, const char *sha_hex, const ibex_node_pull_opts *o,
                            ibex_node_pull_stats *stats, ibex_diag *diag)
{
    unsigned char sha[32];
    char name[96], target[64], path[4200];
    if (!ibex__spool_parse_name_parts(seq, sha_hex, sha))
        return ibex__fail(diag, IBEX_ERR_FORMAT, base_url, -1, "listing entry %" PRIu64 " has a bad sha256", seq);
    ibex__spool_name(seq, sha, name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat fs;
    if (stat(path, &fs) == 0) return IBEX_OK; /* stored before the cursor was saved: once only */
    snprintf(target, sizeof target, "/v1/specimens/%" PRIu64, seq);
    ibex_node_response r;
    /* A rate cap slows the body: allow for it in the deadline. */
    long timeout = 120 + (o->max_recv_bytes_s > 0 ? (long)(IBEX_PACKAGE_MAX_SIZE / (size_t)o->max_recv_bytes_s) : 0);
    ibex_status st = request(base_url, to, key, "GET", target, NULL, 0, NULL, timeout, o->ca_file,
                             o->max_recv_bytes_s, &r, diag);
    if (st) return st;
    stats->fetched++;
    if (r.status != 200) {
        st = ibex__fail(diag, IBEX_ERR_IO, base_url, -1, "GET %s answered %ld: %.300s", target, r.status,
                        (const char *)r.body);
        ibex_node_response_clear(&r);
        return st;
    }
    unsigned char h[32];
    ibex__sha256(r.body, r.size, h);
    /* Other bytes than listed: the node or the wire is at fault, not the package; stop. */
    if (memcmp(h, sha, 32) != 0) {
        ibex_node_response_clear(&r);
        return ibex__fail(diag, IBEX_ERR_INTEGRITY, target, -1, "package bytes do not match the listed SHA-256");
    }
    ibex_package_fault fault;
    ibex_diag why;
    memset(&why, 0, sizeof why);
    const char *stage = "";
    st = ibex_package_verify_mem(r.body, r.size, target, trust, IBEX_PACKAGE_CHECK_X3P, NULL, &fault, &why);
    if (!st && o->store) {
        char note[300] = "";
        stage = "library refused: ";
        if (!(st = o->store(o->store_user, r.body, r.size, sha_hex, note, sizeof note, &why))) {
            if (strncmp(note, "skipped", 7) == 0) stats->library_skipped++;
            else stats->library_stored++;
        }
    }
    if (!st) {
        if (!(st = write_file_atomic(dir, name, r.body, r.size, diag))) stats->stored++;
    } else if (refused_for_content(st)) {
        char buf[1100], reason[1200];
        snprintf(reason, sizeof reason, "%s%s", stage, ibex_diag_format(&why, st, buf, sizeof buf));
        if (!(st = record_refusal(dir, seq, sha_hex, reason, diag))) stats->refused++;
    } else if (diag) {
        *diag = why;
    }
    ibex_node_response_clear(&r);
    return st;
}

/* Temporary files a killed pull left behind (write_file_atomic renames only complete
 * packages into place): removed before a pull resumes. One pull per mirror folder at a time. */
static void drop_leftovers(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, ".tmp-", 5) != 0) continue;
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        unlink(path);
    }
    closedir(d);
}

void ibex_node_pull_opts_init(ibex_node_pull_opts *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
}

ibex_status ibex_node_pull(const char *base_url, const char *to, const ibex_node_key *key, const ibex_trust *trust,
                           const char *out_dir, const ibex_node_pull_opts *o, ibex_node_pull_stats *stats,
                           ibex_diag *diag)
{
    ibex_node_pull_opts oo;
    ibex_node_pull_opts_init(&oo);
    if (!ibex__opts_merge(&oo, sizeof oo, o)) return ibex__opts_refused(diag, "ibex_node_pull_opts");
    o = &oo;
    size_t max_items = o->max_items;
    if (!base_url || !key || !trust || !out_dir || !stats)
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "missing argument to pull");
    if (mkdir(out_dir, 0700) != 0 && errno != EEXIST)
        return ibex__fail(diag, IBEX_ERR_IO, out_dir, -1, "cannot create: %s", strerror(errno));
    memset(stats, 0, sizeof *stats);
    char name[IBEX_NODE_NAME_MAX + 1];
    ibex_status rs = resolve_to(base_url, to, o->ca_file, name, diag);
    if (rs) return rs;
    drop_leftovers(out_dir);
    uint64_t cursor = read_cursor(out_dir);
    stats->cursor = cursor;
    size_t done = 0;
    for (;;) {
        char target[96];
        size_t want = 100;
        if (max_items && max_items - done < want) want = max_items - done;
        if (want == 0) break;
        snprintf(target, sizeof target, "/v1/specimens?since=%" PRIu64 "&limit=%zu", cursor, want);
        ibex_node_response r;
        ibex_status st = request(base_url, name, key, "GET", target, NULL, 0, NULL, 60, o->ca_file, 0, &r, diag);
        if (st) return st;
        json_error_t je;
        json_t *j = r.status == 200 ? json_loadb((const char *)r.body, r.size, 0, &je) : NULL;
        json_t *items = json_object_get(j, "items");
        if (!json_is_array(items)) {
            st = ibex__fail(diag, IBEX_ERR_IO, base_url, -1, "listing answered %ld: %.300s", r.status,
                            (const char *)r.body);
            json_decref(j);
            ibex_node_response_clear(&r);
            return st;
        }
        ibex_node_response_clear(&r);
        size_t i;
        json_t *it;
        json_array_foreach(items, i, it) {
            json_t *js = json_object_get(it, "seq"), *jh = json_object_get(it, "sha256");
            if (!json_is_integer(js) || !json_is_string(jh) || json_integer_value(js) <= (json_int_t)cursor) {
                st = ibex__fail(diag, IBEX_ERR_FORMAT, base_url, -1, "listing entry %zu is malformed or out of order", i);
                break;
            }
            uint64_t seq = (uint64_t)json_integer_value(js);
            if ((st = pull_one(base_url, name, key, trust, out_dir, seq, json_string_value(jh), o, stats, diag)))
                break;
            /* Save the cursor after each package: a pull killed here resumes after it. */
            char num[32];
            snprintf(num, sizeof num, "%" PRIu64 "\n", seq);
            if ((st = write_file_atomic(out_dir, ".cursor", num, strlen(num), diag))) break;
            cursor = stats->cursor = seq;
            done++;
        }
        int more = json_is_true(json_object_get(j, "more"));
        size_t got = json_array_size(items);
        json_decref(j);
        if (st) return st;
        if (!more || got == 0) break;
    }
    return IBEX_OK;
}
