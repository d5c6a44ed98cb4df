/* The workbench's HTTP server (libmicrohttpd, thread pool): every request passes the access
 * checks (access.c) before anything else; request bodies (questioned scans, raw or
 * multipart/form-data) are capped before a byte is stored; then the routes. A path names an
 * embedded asset or an API answer, never a file. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <sodium.h>

#include "http_internal.h"
#include "workbench_internal.h"

/* Room for the multipart framing around the scan. */
#define FORM_SLACK ((size_t)64 << 10)

/* ---- request bodies ---- */
static int reserve(ibex_workbench *W, wb_request *r, size_t more)
{
    size_t cur = atomic_load(&W->body_mem);
    do {
        if (cur + more > W->max_body_memory || cur + more < cur) return 0;
    } while (!atomic_compare_exchange_weak(&W->body_mem, &cur, cur + more));
    r->reserved += more;
    return 1;
}

static void release(ibex_workbench *W, wb_request *r)
{
    if (r->reserved) atomic_fetch_sub(&W->body_mem, r->reserved);
    r->reserved = 0;
    free(r->body);
    r->body = NULL;
    r->n = r->cap = 0;
}

/* Appends scan bytes within max_upload; past it the request is marked and answered 413. */
static void append(ibex_workbench *W, wb_request *r, const char *data, size_t n)
{
    if (r->too_long) return;
    if (n > W->max_upload - r->n) {
        r->too_long = 1;
        release(W, r);
        return;
    }
    if (r->n + n > r->cap) {
        size_t cap = r->cap ? r->cap : 65536;
        while (cap < r->n + n) cap *= 2;
        if (cap > W->max_upload) cap = W->max_upload;
        unsigned char *b = cap > r->reserved && !reserve(W, r, cap - r->reserved) ? NULL : realloc(r->body, cap);
        if (!b) {
            r->too_long = 2; /* the memory budget, not the cap */
            release(W, r);
            return;
        }
        r->body = b;
        r->cap = cap;
    }
    memcpy(r->body + r->n, data, n);
    r->n += n;
}

static void copy_field(char *dst, size_t size, const char *data, uint64_t off, size_t n)
{
    if (off >= size - 1) return;
    size_t k = n < size - 1 - (size_t)off ? n : size - 1 - (size_t)off;
    memcpy(dst + off, data, k);
    dst[off + k] = '\0';
}

static enum MHD_Result on_form(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
                               const char *content_type, const char *transfer_encoding, const char *data, uint64_t off,
                               size_t size)
{
    (void)kind;
    (void)content_type;
    (void)transfer_encoding;
    wb_request *r = cls;
    ibex_workbench *W = r->W;
    if (!key) return MHD_YES;
    if (!strcmp(key, "scan")) {
        if (filename && !r->filename[0]) ibex__wb_clean_name(filename, r->filename, sizeof r->filename);
        if (size) append(W, r, data, size);
    } else if (!strcmp(key, "shortlist")) {
        copy_field(r->form_shortlist, sizeof r->form_shortlist, data, off, size);
    } else if (!strcmp(key, "exclude_same")) {
        copy_field(r->form_exclude, sizeof r->form_exclude, data, off, size);
    }
    return MHD_YES;
}

/* ---- routes ---- */
/* libmicrohttpd decodes the path, so an escaped NUL would cut it short: such a path names
 * nothing here. */
static int has_nul(const wb_request *r)
{
    for (const char *p = r->target; *p && *p != '?'; p++)
        if (p[0] == '%' && p[1] == '0' && p[2] == '0') return 1;
    return 0;
}

static enum MHD_Result route(ibex_workbench *W, struct MHD_Connection *c, const char *url, const char *method,
                             wb_request *r)
{
    int post = !strcmp(method, "POST");
    if (has_nul(r)) return ibex__wb_error(W, c, method, r, 404, "no such page");
    if (!strcmp(url, "/api/login"))
        return post ? ibex__wb_h_login(W, c, method, r) : ibex__wb_error(W, c, method, r, 405, "use POST");
    if (!strcmp(url, "/api/logout"))
        return post ? ibex__wb_h_logout(W, c, method, r) : ibex__wb_error(W, c, method, r, 405, "use POST");
    if (!strncmp(url, "/api/jobs", 9) && (url[9] == '\0' || url[9] == '/'))
        return ibex__wb_h_job(W, c, method, r, url[9] ? url + 10 : "");
    if (post) return ibex__wb_error(W, c, method, r, strncmp(url, "/api/", 5) ? 405 : 404, "no such action");
    if (!strcmp(url, "/api/session")) return ibex__wb_h_session(W, c, method, r);
    if (!strcmp(url, "/api/conclusions")) return ibex__wb_h_conclusions(W, c, method, r);
    if (!strcmp(url, "/api/specimens")) return ibex__wb_h_specimens(W, c, method, r);
    if (!strncmp(url, "/api/specimens/", 15)) {
        const char *p = url + 15;
        size_t row = 0, k = 0;
        while (p[k] >= '0' && p[k] <= '9' && k < 15) row = row * 10 + (size_t)(p[k++] - '0');
        if (k && !strcmp(p + k, "/thumbnail.png")) return ibex__wb_h_thumbnail(W, c, method, r, row);
        if (k && !strcmp(p + k, "/picture.png")) return ibex__wb_h_picture(W, c, method, r, row);
        if (k && !p[k]) return ibex__wb_h_specimen(W, c, method, r, row);
        return ibex__wb_error(W, c, method, r, 404, "no such specimen page");
    }
    if (!strncmp(url, "/api/", 5)) return ibex__wb_error(W, c, method, r, 404, "no such endpoint");
    return ibex__wb_h_asset(W, c, method, r, url);
}

/* First call of a POST: the body's size is checked against the cap before any is stored. */
static enum MHD_Result begin_body(ibex_workbench *W, struct MHD_Connection *c, const char *method, wb_request *r)
{
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    int form = ct && !strncasecmp(ct, "multipart/form-data", 19);
    size_t cap = W->max_upload + (form ? FORM_SLACK : 0);
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno || *end || n > cap)
            return ibex__wb_error(W, c, method, r, 413, "upload of %s bytes is over the limit of %zu bytes", cl,
                                  W->max_upload);
    }
    if (form) {
        r->pp = MHD_create_post_processor(c, 64 * 1024, on_form, r);
        if (!r->pp) return ibex__wb_error(W, c, method, r, 400, "cannot read this form (multipart/form-data without a boundary?)");
    }
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)version;
    ibex_workbench *W = cls;
    wb_request *r = *con_cls;
    if (!r) return MHD_NO; /* the URI callback could not allocate: drop the connection */
    if (!r->started) {
        r->started = 1;
        if (r->target_too_long) return ibex__wb_error(W, c, method, r, 414, "request target over %d bytes", WB_MAX_TARGET);
        enum MHD_Result ret;
        if (!ibex__wb_access(W, c, url, method, r, &ret)) return ret;
        if (!strcmp(method, "POST")) return begin_body(W, c, method, r);
        return route(W, c, url, method, r);
    }
    if (r->responded) { /* answered before the body: discard what still arrives */
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        if (r->pp) {
            if (MHD_post_process(r->pp, upload_data, *upload_size) != MHD_YES && !r->too_long) r->too_long = 3;
        } else {
            append(W, r, upload_data, *upload_size);
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->too_long == 1)
        return ibex__wb_error(W, c, method, r, 413, "upload is over the limit of %zu bytes", W->max_upload);
    if (r->too_long == 2) return ibex__wb_error(W, c, method, r, 503, "busy: uploads in progress use the memory budget");
    if (r->too_long == 3) return ibex__wb_error(W, c, method, r, 400, "malformed multipart/form-data body");
    enum MHD_Result ret = route(W, c, url, method, r);
    release(W, r);
    return ret;
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)c;
    wb_request *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->W = cls;
    size_t n = strlen(uri);
    if (n > WB_MAX_TARGET) r->target_too_long = 1;
    else memcpy(r->target, uri, n + 1);
    return r;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    ibex_workbench *W = cls;
    wb_request *r = *con_cls;
    if (!r) return;
    if (!r->responded && r->started)
        ibex__wb_log(W, c, "-", r, 0,
                     toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? "idle timeout" : "closed before an answer");
    if (r->pp) MHD_destroy_post_processor(r->pp);
    release(W, r);
    free(r);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fm, va_list ap)
{
    ibex_workbench *W = cls;
    ibex__http_mhd_log(W->log, &W->log_lock, fm, ap);
}

/* ---- setup ---- */
/* Removes the private temporary folder and anything a failed request left in it. */
static void remove_tmpdir(const char *dir)
{
    if (!dir[0]) return;
    DIR *dp = opendir(dir);
    if (dp) {
        struct dirent *e;
        char path[4400];
        while ((e = readdir(dp))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(dp);
    }
    rmdir(dir);
}

void ibex_workbench_free(ibex_workbench *W)
{
    if (!W) return;
    atomic_store(&W->stopping, 1);
    if (W->warm_started) pthread_join(W->warm, NULL);
    if (W->d) MHD_stop_daemon(W->d); /* waits for the handlers in progress */
    ibex__wb_jobs_stop(W);
    ibex__wb_catalog_free(W);
    sodium_memzero(W->token, sizeof W->token);
    if (W->sessions) sodium_memzero(W->sessions, W->max_sessions * sizeof *W->sessions);
    free(W->sessions);
    remove_tmpdir(W->tmpdir);
    free(W->lib_path);
    pthread_mutex_destroy(&W->log_lock);
    pthread_mutex_destroy(&W->s_lock);
    pthread_mutex_destroy(&W->cat_lock);
    pthread_mutex_destroy(&W->th_lock);
    pthread_mutex_destroy(&W->j_lock);
    pthread_cond_destroy(&W->j_done);
    free(W->thumbs);
    if (W->accounts) sodium_memzero(W->accounts, W->naccounts * sizeof *W->accounts);
    free(W->accounts);
    pthread_mutex_destroy(&W->login_lock);
    free(W);
}

ibex_status ibex_workbench_create(const ibex_workbench_opts *o, ibex_workbench **out, ibex_diag *diag)
{
    ibex_workbench_opts oo;
    ibex_workbench_opts_init(&oo);
    if (o && !ibex__opts_merge(&oo, sizeof oo, o)) return ibex__opts_refused(diag, "ibex_workbench_opts");
    if (!o || !out || !oo.lib_path || !oo.listen)
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "the workbench needs a library and an address");
    o = &oo;
    if (!o->threads || !o->max_jobs || !o->max_shortlist || !o->max_sessions || !o->max_upload ||
        o->max_upload > ((size_t)1 << 40))
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "workbench limits must be positive");
    struct sockaddr_storage ss;
    int v6 = 0, loopback = 0;
    if (!ibex__http_parse_listen(o->listen, &ss, &v6, &loopback))
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "listen address '%s' is not HOST:PORT (IPv4, localhost or [IPv6])",
                          o->listen);
    if (sodium_init() < 0) return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, "libsodium failed to initialise");
    /* A library that does not open is refused now, not at the first page. */
    ibex_library *lib = NULL;
    ibex_status st = ibex_library_open(o->lib_path, NULL, &lib, diag);
    if (st) return st;
    ibex_library_close(lib, NULL);

    ibex_workbench *W = calloc(1, sizeof *W);
    if (!W) return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    pthread_mutex_init(&W->log_lock, NULL);
    pthread_mutex_init(&W->s_lock, NULL);
    pthread_mutex_init(&W->cat_lock, NULL);
    pthread_mutex_init(&W->th_lock, NULL);
    pthread_mutex_init(&W->j_lock, NULL);
    pthread_mutex_init(&W->login_lock, NULL);
    pthread_cond_init(&W->j_done, NULL);
    atomic_init(&W->body_mem, 0);
    atomic_init(&W->stopping, 0);
    W->log = o->log;
    W->loopback = loopback;
    W->max_upload = o->max_upload;
    W->max_body_memory = 2 * o->max_upload + FORM_SLACK;
    W->search_threads = o->search_threads;
    W->max_jobs = o->max_jobs;
    W->max_shortlist = o->max_shortlist;
    W->max_sessions = o->max_sessions;
    W->prefetch = o->prefetch < WB_PAIRS_KEPT ? o->prefetch : WB_PAIRS_KEPT - 1;
    W->sessions = calloc(o->max_sessions, sizeof *W->sessions);
    W->thumbs = calloc(WB_THUMBS_KEPT, sizeof *W->thumbs);
    if (!W->sessions || !W->thumbs || !(W->lib_path = ibex__strdup(o->lib_path))) {
        st = ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
        goto fail;
    }
    if (o->accounts_path && (st = ibex__wb_accounts_load(o->accounts_path, &W->accounts, &W->naccounts, diag)))
        goto fail;
    ibex__wb_random_hex(W->token, WB_HEX_ID / 2);
    const char *base = o->temp_dir ? o->temp_dir : getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    snprintf(W->tmpdir, sizeof W->tmpdir, "%s/ibex-serve-XXXXXX", base);
    if (!mkdtemp(W->tmpdir)) { /* mode 0700 */
        st = ibex__fail(diag, IBEX_ERR_IO, base, -1, "cannot make a private temporary folder: %s", strerror(errno));
        W->tmpdir[0] = '\0';
        goto fail;
    }
    /* Uploads are read (libxml2) on pool threads: libxml2 wants its one-time setup first. */
    xmlInitParser();
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    W->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, W, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, W,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
                            (unsigned)o->threads, MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                            (size_t)(128 * 1024), MHD_OPTION_URI_LOG_CALLBACK, on_uri, W, MHD_OPTION_NOTIFY_COMPLETED,
                            on_completed, W, MHD_OPTION_END);
    if (!W->d) {
        st = ibex__fail(diag, IBEX_ERR_IO, "", -1, "cannot listen on %s (address in use, or not this machine's?)",
                        o->listen);
        goto fail;
    }
    W->warm_started = pthread_create(&W->warm, NULL, ibex__wb_thumbs_warm, W) == 0;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(W->d, MHD_DAEMON_INFO_BIND_PORT);
    W->port = di ? di->port : 0;
    *out = W;
    return IBEX_OK;
fail:
    ibex_workbench_free(W);
    return st;
}

unsigned ibex_workbench_port(const ibex_workbench *W)
{
    return W ? W->port : 0;
}

const char *ibex_workbench_token(const ibex_workbench *W)
{
    return W ? W->token : NULL;
}
