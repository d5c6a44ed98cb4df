/* The examiner workbench: a web application that libibex serves itself (libmicrohttpd) over
 * one reference library. Its pages, scripts and styles are compiled into the library, so it
 * needs no data directory and fetches nothing from the internet. What it shows and its
 * security model: docs/reference/workbench.md.
 *
 * Access: the server binds 127.0.0.1 by default and answers only requests that carry its
 * access token: once in the address (?token=..., exchanged for a session cookie), or as
 * "Authorization: Bearer TOKEN" for scripts. A request with a session cookie that changes
 * state (POST) must also carry the session's CSRF token in the X-Ibex-CSRF header. Request
 * paths name embedded assets and API answers only, never files.
 *
 * Built with the node feature (libmicrohttpd, libsodium); without it every call that can fail
 * returns IBEX_ERR_UNSUPPORTED. */
#ifndef IBEX_WORKBENCH_H
#define IBEX_WORKBENCH_H

#include "ibex/export.h"

#include <stddef.h>
#include <stdio.h>
#include "ibex/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Header a cookie-authenticated state-changing request carries its CSRF token in. */
#define IBEX_WORKBENCH_CSRF_HEADER "X-Ibex-CSRF"
#define IBEX_WORKBENCH_DEFAULT_MAX_UPLOAD ((size_t)128 << 20)

typedef struct ibex_workbench ibex_workbench;

typedef struct ibex_workbench_opts {
    size_t struct_size;       /* sizeof the struct, set by ibex_workbench_opts_init (ABI) */
    const char *lib_path;     /* the reference library, opened read-only (required) */
    const char *listen;       /* "127.0.0.1:PORT" (default 127.0.0.1:8080), "[::1]:PORT",
                                 "0.0.0.0:PORT"; PORT 0 picks a free one */
    size_t max_upload;        /* largest questioned scan accepted, bytes (413 past it; default
                                 IBEX_WORKBENCH_DEFAULT_MAX_UPLOAD) */
    unsigned threads;         /* HTTP thread pool (default 4) */
    unsigned search_threads;  /* stage-2 threads of one search and of a candidate view's
                                 comparison; 0 (default) = all cores */
    unsigned max_jobs;        /* searches running at once (default 2; 503 past it) */
    unsigned max_shortlist;   /* largest stage-2 shortlist a search may ask for (default 100) */
    unsigned max_sessions;    /* browser sessions held at once (default 64; the least recently
                                 used one is forgotten past it) */
    const char *temp_dir;     /* where the server's private temporary folder is made (mode
                                 0700, removed by ibex_workbench_free); NULL: $TMPDIR, else /tmp */
    FILE *log;                /* one line per request; NULL (default) for none */
    const char *accounts_path; /* accounts file (ibex_workbench_account_add): people sign in by
                                 name and password, with a role; the access token then gives
                                 read-only sessions. NULL (default): the token gives examiner
                                 sessions, and a conclusion names its examiner as typed */
    unsigned prefetch;        /* top candidates of a cartridge search whose views are built from
                                 stage 2's own comparisons, so they open at once (default 3;
                                 0 none; at most 3, the pairs kept per search less one) */
} ibex_workbench_opts;

IBEX_API void ibex_workbench_opts_init(ibex_workbench_opts *o);

/* Adds an account to the accounts file at path (made when absent, mode 0600), or replaces the
 * password and role of the account of that name. name: 1-64 letters, digits or . _ - @; role:
 * "examiner" (records conclusions and verifications), "verifier" (verifications only) or
 * "read-only"; password: 8-1024 bytes, stored as a libsodium crypto_pwhash_str (Argon2id) hash.
 * The file is rewritten whole and renamed into place. */
IBEX_API ibex_status ibex_workbench_account_add(const char *path, const char *name, const char *role,
                                                const char *password, ibex_diag *diag);

/* Opens the library (read-only, checking that it is one), draws a random access token, makes
 * the private temporary folder, binds and starts serving on a thread pool. */
IBEX_API ibex_status ibex_workbench_create(const ibex_workbench_opts *o, ibex_workbench **out,
                                           ibex_diag *diag);
IBEX_API unsigned ibex_workbench_port(const ibex_workbench *w);       /* the bound port */
/* The access token: 64 lower-case hex digits (256 random bits), valid until the server is
 * freed. Open http://HOST:PORT/?token=TOKEN once; the browser then holds a session cookie. */
IBEX_API const char *ibex_workbench_token(const ibex_workbench *w);
/* Stops serving: cancels running searches and waits for them, forgets every session, removes
 * the temporary folder. NULL ok. */
IBEX_API void ibex_workbench_free(ibex_workbench *w);

#ifdef __cplusplus
}
#endif
#endif
