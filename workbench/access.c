/* Who may use the workbench (docs/reference/workbench.md, "Security"):
 *  - the access token: 256 random bits drawn at start, presented once in the address
 *    (?token=, traded for a session cookie by a redirect that drops it from the address bar),
 *    or on every request as "Authorization: Bearer TOKEN" (scripts; no cookie, no CSRF);
 *  - a session cookie (HttpOnly, SameSite=Strict) names a session held in memory;
 *  - a cookie-authenticated POST must carry the session's CSRF token in X-Ibex-CSRF (the
 *    page reads it from /api/session or from its readable cookie) and, when the browser sends
 *    Origin, come from this server's own origin: another site can make a browser send the
 *    cookie, but it can read neither token;
 *  - bound to a loopback address, the server answers only requests whose Host names that
 *    address, so a hostile page cannot reach it through a rebound DNS name.
 * Cookie names carry the port: browsers share cookies between the ports of one host. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "workbench_internal.h"

#define SESSION_IDLE_S (12 * 3600.0)

void ibex__wb_random_hex(char *out, size_t n)
{
    unsigned char b[64];
    if (n > sizeof b) n = sizeof b;
    randombytes_buf(b, n);
    sodium_bin2hex(out, 2 * n + 1, b, n);
    sodium_memzero(b, sizeof b);
}

int ibex__wb_equal(const char *a, const char *b)
{
    size_t n = strlen(a);
    if (n != strlen(b) || n == 0) return 0;
    return sodium_memcmp(a, b, n) == 0;
}

static void cookie_name(const ibex_workbench *W, const char *what, char *out, size_t size)
{
    snprintf(out, size, "ibex_wb_%s_%u", what, W->port);
}

/* The session named by sid, touched; 0 when unknown or idle too long. Copies its id, CSRF token,
 * user and role into r. */
static int session_find(ibex_workbench *W, const char *sid, wb_request *r)
{
    if (!sid || strlen(sid) != WB_HEX_ID) return 0;
    double now = ibex__now();
    int found = 0;
    pthread_mutex_lock(&W->s_lock);
    for (size_t i = 0; i < W->nsessions; i++) {
        wb_session *s = &W->sessions[i];
        if (now - s->last_used > SESSION_IDLE_S) { /* forgotten */
            sodium_memzero(s, sizeof *s);
            W->sessions[i--] = W->sessions[--W->nsessions];
            continue;
        }
        if (!found && ibex__wb_equal(s->sid, sid)) {
            s->last_used = now;
            memcpy(r->csrf, s->csrf, WB_HEX_ID + 1);
            memcpy(r->sid, s->sid, WB_HEX_ID + 1);
            memcpy(r->user, s->user, sizeof r->user);
            memcpy(r->role, s->role, sizeof r->role);
            found = 1;
        }
    }
    pthread_mutex_unlock(&W->s_lock);
    return found;
}

/* Forgets the session sid (signing out). */
static void session_drop(ibex_workbench *W, const char *sid)
{
    pthread_mutex_lock(&W->s_lock);
    for (size_t i = 0; i < W->nsessions; i++)
        if (ibex__wb_equal(W->sessions[i].sid, sid)) {
            sodium_memzero(&W->sessions[i], sizeof W->sessions[i]);
            W->sessions[i] = W->sessions[--W->nsessions];
            break;
        }
    pthread_mutex_unlock(&W->s_lock);
}

/* The role of a session opened with the access token: with accounts, people sign in as
 * themselves and the token only reads. */
static const char *token_role(const ibex_workbench *W) { return W->naccounts ? "read-only" : "examiner"; }

static void session_new(ibex_workbench *W, wb_session *out, const char *user, const char *role)
{
    memset(out, 0, sizeof *out);
    snprintf(out->user, sizeof out->user, "%s", user);
    snprintf(out->role, sizeof out->role, "%s", role);
    ibex__wb_random_hex(out->sid, WB_HEX_ID / 2);
    ibex__wb_random_hex(out->csrf, WB_HEX_ID / 2);
    out->last_used = ibex__now();
    pthread_mutex_lock(&W->s_lock);
    if (W->nsessions == W->max_sessions) { /* forget the least recently used */
        size_t old = 0;
        for (size_t i = 1; i < W->nsessions; i++)
            if (W->sessions[i].last_used < W->sessions[old].last_used) old = i;
        W->sessions[old] = W->sessions[--W->nsessions];
    }
    W->sessions[W->nsessions++] = *out;
    pthread_mutex_unlock(&W->s_lock);
}

/* Host must name the loopback address the server listens on (with its port). */
static int host_ok(const ibex_workbench *W, const char *host)
{
    if (!W->loopback) return 1;
    if (!host) return 0;
    const char *names[] = {"127.0.0.1", "localhost", "[::1]"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        size_t k = strlen(names[i]);
        char port[16];
        snprintf(port, sizeof port, ":%u", W->port);
        if (strncasecmp(host, names[i], k) == 0 && strcmp(host + k, port) == 0) return 1;
    }
    return 0;
}

/* A header value fit to be quoted in a message: printable ASCII, at most 80 bytes. */
static void printable(const char *in, char *out, size_t size)
{
    size_t k = 0;
    for (; in && *in && k + 1 < size && k < 80; in++) out[k++] = isprint((unsigned char)*in) ? *in : '?';
    out[k] = '\0';
}

static const char denied_page[] =
    "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>IBEX workbench</title>"
    "<body><h1>IBEX workbench: access token needed</h1><p>%s</p><p>Open the address that "
    "<code>ibex serve</code> printed when it started (it ends in <code>/?token=...</code>).</p></body></html>";

/* 401/403: JSON for the API, a short page for everything else. */
static enum MHD_Result refuse(ibex_workbench *W, struct MHD_Connection *c, const char *url, const char *method,
                              wb_request *r, unsigned status, const char *msg)
{
    if (strncmp(url, "/api/", 5) == 0) return ibex__wb_error(W, c, method, r, status, "%s", msg);
    char page[sizeof denied_page + 400];
    snprintf(page, sizeof page, denied_page, msg);
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(page), page, MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
    ibex__wb_headers(resp, 0);
    return ibex__wb_send(W, c, method, r, status, resp, msg);
}

static void set_cookies(ibex_workbench *W, struct MHD_Response *resp, const wb_session *s)
{
    char name[64], value[256];
    cookie_name(W, "session", name, sizeof name);
    snprintf(value, sizeof value, "%s=%s; Path=/; HttpOnly; SameSite=Strict", name, s->sid);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, value);
    cookie_name(W, "csrf", name, sizeof name);
    snprintf(value, sizeof value, "%s=%s; Path=/; SameSite=Strict", name, s->csrf);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, value);
}

/* The redirect that trades ?token= for a session: cookies set, the token gone from the
 * address (and so from history and bookmarks). Always to "/": the fragment (#/job/...) the
 * browser keeps by itself. */
static enum MHD_Result grant(ibex_workbench *W, struct MHD_Connection *c, const char *method, wb_request *r)
{
    wb_session s;
    session_new(W, &s, "", token_role(W));
    static const char body[] = "signed in\n";
    struct MHD_Response *resp = MHD_create_response_from_buffer(sizeof body - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    set_cookies(W, resp, &s);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, "/");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    ibex__wb_headers(resp, 0);
    sodium_memzero(&s, sizeof s);
    return ibex__wb_send(W, c, method, r, 303, resp, "session started");
}

/* The request comes from this server's own page: Origin (which browsers send on every POST)
 * names it. 1 when it does. */
static int own_origin(struct MHD_Connection *c, const char *host, int required)
{
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    if (!origin) return !required;
    char own[300];
    snprintf(own, sizeof own, "http://%s", host ? host : "");
    return strcasecmp(origin, own) == 0;
}

int ibex__wb_access(ibex_workbench *W, struct MHD_Connection *c, const char *url, const char *method,
                    wb_request *r, enum MHD_Result *ret)
{
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD"), post = !strcmp(method, "POST");
    char shown[96];
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    if (!host_ok(W, host)) {
        printable(host, shown, sizeof shown);
        char msg[200];
        snprintf(msg, sizeof msg, "Host '%s' is not this workbench's address (127.0.0.1:%u or localhost:%u)", shown,
                 W->port, W->port);
        *ret = refuse(W, c, url, method, r, 403, msg);
        return 0;
    }
    if (!get && !post) {
        *ret = ibex__wb_error(W, c, method, r, 405, "method %.16s is not used here (GET, HEAD, POST)", method);
        return 0;
    }
    /* A script's bearer token. */
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (auth) {
        if (strncasecmp(auth, "Bearer ", 7) != 0 || !ibex__wb_equal(auth + 7, W->token)) {
            *ret = refuse(W, c, url, method, r, 403, "wrong access token (Authorization: Bearer)");
            return 0;
        }
        snprintf(r->role, sizeof r->role, "%s", token_role(W));
        return 1;
    }
    /* Signing in with an account: no session yet, so no CSRF token; the request must come
     * from this server's page (Origin) as JSON (which no other site can send without asking,
     * and this server never grants CORS). */
    if (post && !strcmp(url, "/api/login")) {
        const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
        if (!W->naccounts) {
            *ret = ibex__wb_error(W, c, method, r, 404, "this workbench has no accounts (started without --accounts)");
        } else if (!own_origin(c, host, 1)) {
            *ret = refuse(W, c, url, method, r, 403, "sign-in from another origin (or without Origin) refused");
        } else if (!ct || strncasecmp(ct, "application/json", 16)) {
            *ret = ibex__wb_error(W, c, method, r, 415, "sign in with a JSON body {\"name\", \"password\"}");
        } else {
            r->anonymous = 1;
            return 1;
        }
        return 0;
    }
    /* A browser's session. */
    char name[64];
    cookie_name(W, "session", name, sizeof name);
    const char *sid = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, name);
    const char *token = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token");
    if (sid && !token && session_find(W, sid, r)) {
        r->cookie_auth = 1;
        if (!post) return 1;
        if (!own_origin(c, host, 0)) {
            printable(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin"), shown, sizeof shown);
            char msg[200];
            snprintf(msg, sizeof msg, "request from another origin (%s) refused", shown);
            *ret = refuse(W, c, url, method, r, 403, msg);
            return 0;
        }
        const char *csrf = MHD_lookup_connection_value(c, MHD_HEADER_KIND, IBEX_WORKBENCH_CSRF_HEADER);
        if (!csrf || !ibex__wb_equal(csrf, r->csrf)) {
            *ret = refuse(W, c, url, method, r, 403,
                          csrf ? "wrong CSRF token (header " IBEX_WORKBENCH_CSRF_HEADER ")"
                               : "missing CSRF token (header " IBEX_WORKBENCH_CSRF_HEADER ")");
            return 0;
        }
        return 1;
    }
    if (token) {
        if (!ibex__wb_equal(token, W->token)) {
            *ret = refuse(W, c, url, method, r, 403, "wrong access token");
            return 0;
        }
        if (!get) {
            *ret = refuse(W, c, url, method, r, 403,
                          "the access token goes in the address of a GET only; POST with the session "
                          "cookie and " IBEX_WORKBENCH_CSRF_HEADER ", or with Authorization: Bearer");
            return 0;
        }
        *ret = grant(W, c, method, r);
        return 0;
    }
    /* With accounts, the sign-in page itself and what it asks are open to anyone. */
    if (W->naccounts && get && (strncmp(url, "/api/", 5) || !strcmp(url, "/api/session"))) {
        r->anonymous = 1;
        return 1;
    }
    *ret = refuse(W, c, url, method, r, 401,
                  sid ? "this session is unknown (the workbench restarted, or the session expired)"
                      : "no access token: this workbench answers only its own sessions");
    return 0;
}

enum MHD_Result ibex__wb_h_session(ibex_workbench *W, struct MHD_Connection *c, const char *method,
                                   wb_request *r)
{
    const char *base = strrchr(W->lib_path, '/');
    base = base ? base + 1 : W->lib_path;
    ibex_cmc_opts co;
    ibex_cmc_opts_init(&co);
    json_t *j = json_pack("{s:s?, s:s, s:s, s:s, s:I, s:I, s:i, s:s, s:b, s:b, s:s?, s:s?}", "csrf",
                          r->cookie_auth ? r->csrf : NULL, "csrf_header", IBEX_WORKBENCH_CSRF_HEADER, "library", base,
                          "version", IBEX_VERSION_STRING, "max_upload", (json_int_t)W->max_upload, "max_shortlist",
                          (json_int_t)W->max_shortlist, "reference_cmc", (int)co.id_threshold, "reference_note",
                          "decision threshold of the original CMC rule (Song 2013), a reference mark only", "accounts",
                          W->naccounts > 0, "signed_in", !r->anonymous, "user", r->anonymous || !r->user[0] ? NULL : r->user,
                          "role", r->anonymous ? NULL : r->role);
    return ibex__wb_json(W, c, method, r, 200, j);
}

enum MHD_Result ibex__wb_h_login(ibex_workbench *W, struct MHD_Connection *c, const char *method, wb_request *r)
{
    json_error_t je;
    json_t *b = r->n && r->n <= 8192 ? json_loadb((const char *)r->body, r->n, 0, &je) : NULL;
    const char *name = json_string_value(json_object_get(b, "name"));
    const char *pw = json_string_value(json_object_get(b, "password"));
    if (!name || !pw) {
        json_decref(b);
        return ibex__wb_error(W, c, method, r, 400, "sign in with a JSON body {\"name\", \"password\"}");
    }
    wb_account who;
    int ok = ibex__wb_login_check(W, name, pw, &who);
    json_decref(b); /* the password is in the request body, freed with it */
    if (!ok) return ibex__wb_error(W, c, method, r, 401, "wrong name or password");
    wb_session s;
    session_new(W, &s, who.name, who.role);
    sodium_memzero(&who, sizeof who);
    json_t *j = json_pack("{s:s, s:s, s:s}", "user", s.user, "role", s.role, "csrf", s.csrf);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    struct MHD_Response *resp =
        text ? MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE) : NULL;
    if (!resp) {
        free(text);
        sodium_memzero(&s, sizeof s);
        return MHD_NO;
    }
    set_cookies(W, resp, &s);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    ibex__wb_headers(resp, 0);
    char why[120];
    snprintf(why, sizeof why, "signed in as %s (%s)", s.user, s.role);
    sodium_memzero(&s, sizeof s);
    return ibex__wb_send(W, c, method, r, 200, resp, why);
}

enum MHD_Result ibex__wb_h_logout(ibex_workbench *W, struct MHD_Connection *c, const char *method, wb_request *r)
{
    if (r->cookie_auth) session_drop(W, r->sid);
    struct MHD_Response *resp = MHD_create_response_from_buffer(2, (void *)"{}", MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    char name[64], value[160];
    cookie_name(W, "session", name, sizeof name);
    snprintf(value, sizeof value, "%s=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0", name);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, value);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    ibex__wb_headers(resp, 0);
    return ibex__wb_send(W, c, method, r, 200, resp, "signed out");
}
