/* The workbench server's state and the pieces its files share (not installed).
 * server.c: HTTP plumbing (daemon, request bodies, routing); access.c: token, sessions, CSRF,
 * Host and Origin checks; respond.c: answers and the request log; assets.c: the embedded
 * pages; catalog.c: the specimen list and thumbnails; scan.c: uploaded scans; jobs.c: searches
 * in the background; pair.c: the candidate view (pair_bullet.c: of bullets); report.c: the
 * case report. Handlers use the public API. */
#ifndef IBEX_WORKBENCH_INTERNAL_H
#define IBEX_WORKBENCH_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>
#include <microhttpd.h>

#include "ibex/ibex.h"
#include "ibex/workbench.h"
#include "ibex_internal.h"

#define WB_MAX_TARGET 2048   /* longest request target (path and query) */
#define WB_HEX_ID 64         /* tokens and session ids: 32 random bytes as hex */
#define WB_JOB_ID 32         /* job ids: 16 random bytes as hex */
#define WB_MAX_JOBS_KEPT 16  /* finished searches remembered (the oldest forgotten first) */
#define WB_NAME_MAX 200      /* longest scan name shown */
#define WB_THUMBS_KEPT 1024  /* specimen pictures kept in memory */
#define WB_USER_MAX 64       /* longest account name */
#define WB_ROLE_MAX 16

/* An account of the accounts file (accounts.c). */
typedef struct wb_account {
    char name[WB_USER_MAX + 1];
    char role[WB_ROLE_MAX];  /* examiner, verifier, read-only */
    char hash[128];          /* crypto_pwhash_str */
} wb_account;

typedef struct wb_session {
    char sid[WB_HEX_ID + 1];
    char csrf[WB_HEX_ID + 1];
    double last_used;        /* monotonic seconds */
    char user[WB_USER_MAX + 1]; /* signed in with an account; "" for a token session */
    char role[WB_ROLE_MAX];  /* examiner, verifier or read-only */
} wb_session;

/* One specimen of the catalog (the library's table, read whole). */
typedef struct wb_spec {
    size_t row;
    char *id, *kind, *region, *set, *firearm_id, *make, *model, *calibre, *case_number;
    char sha256[65];
    int64_t ingest_time;
    size_t nx, ny;
    double dx;
} wb_spec;

typedef struct wb_thumb {
    char sha256[65];         /* the specimen's source hash: a thumbnail never goes stale */
    unsigned char *png;
    size_t n;
    unsigned long long used; /* for evicting the least recently used */
} wb_thumb;

typedef struct wb_job wb_job;

struct ibex_workbench {
    struct MHD_Daemon *d;
    char *lib_path;
    char token[WB_HEX_ID + 1];
    char tmpdir[4096];       /* private temporary folder ("" until made) */
    unsigned port;
    int loopback;            /* bound to a loopback address: Host must name it */
    size_t max_upload, max_body_memory;
    atomic_size_t body_mem;  /* request bodies held at once */
    unsigned search_threads, max_jobs, max_shortlist, max_sessions, prefetch;
    FILE *log;
    pthread_mutex_t log_lock;
    /* sessions */
    pthread_mutex_t s_lock;
    wb_session *sessions;
    size_t nsessions;
    /* accounts (none: the token is the only credential, and gives examiner sessions) */
    wb_account *accounts;
    size_t naccounts;
    pthread_mutex_t login_lock; /* one password check at a time */
    /* the catalog, rebuilt when the library file changes */
    pthread_mutex_t cat_lock;
    wb_spec *cat;
    size_t ncat;
    long long cat_mtime_ns, cat_size;
    char **cat_sets;         /* distinct set names, sorted */
    size_t ncat_sets;
    /* thumbnails */
    pthread_mutex_t th_lock;
    wb_thumb *thumbs;
    size_t nthumbs;
    unsigned long long th_clock;
    /* searches */
    pthread_mutex_t j_lock;
    pthread_cond_t j_done;
    wb_job *jobs;            /* newest first */
    unsigned running;
    unsigned background;     /* finished searches still comparing their top candidates */
    pthread_t warm;          /* drawing the first pictures (ibex__wb_thumbs_warm) */
    int warm_started;
    atomic_int stopping;
};

/* One HTTP request. */
typedef struct wb_request {
    ibex_workbench *W;
    char target[WB_MAX_TARGET + 1]; /* as sent: path and query */
    int target_too_long;
    int started, responded, too_long;
    int cookie_auth;         /* authenticated by the session cookie: CSRF rules apply */
    char csrf[WB_HEX_ID + 1]; /* that session's CSRF token */
    char sid[WB_HEX_ID + 1];  /* that session's id */
    char user[WB_USER_MAX + 1]; /* who: the account signed in, "" for the token */
    char role[WB_ROLE_MAX];   /* what they may do: examiner, verifier, read-only */
    int anonymous;           /* no credential: only the sign-in page, /api/session and /api/login */
    unsigned char *body;
    size_t n, cap, reserved;
    struct MHD_PostProcessor *pp; /* multipart/form-data */
    int part_is_file;        /* the part being received is the scan */
    char filename[WB_NAME_MAX + 1];
    char form_shortlist[16], form_exclude[8];
} wb_request;

/* ---- respond.c ---- */
/* Every answer: the security headers (CSP, nosniff, no framing, no referrer); API answers
 * are never cached. */
void ibex__wb_headers(struct MHD_Response *resp, int cacheable);
enum MHD_Result ibex__wb_send(ibex_workbench *W, struct MHD_Connection *c, const char *method, wb_request *r,
                              unsigned status, struct MHD_Response *resp, const char *why);
/* JSON answer (steals j). */
enum MHD_Result ibex__wb_json(ibex_workbench *W, struct MHD_Connection *c, const char *method, wb_request *r,
                              unsigned status, json_t *j);
/* {"error": MESSAGE, "status": HTTP status, "code": NAME (optional)} */
enum MHD_Result ibex__wb_error(ibex_workbench *W, struct MHD_Connection *c, const char *method, wb_request *r,
                               unsigned status, const char *fmt, ...) IBEX__PRINTF(6, 7);
/* The error of a failed library call: the diag's one-line message, an HTTP status for the
 * ibex_status (bad input 400, over a limit 413, unsupported 415, cancelled 409, else 500). */
enum MHD_Result ibex__wb_fail(ibex_workbench *W, struct MHD_Connection *c, const char *method, wb_request *r,
                              ibex_status st, const ibex_diag *d);
/* Bytes answer; the data is copied unless must_free (then taken). */
enum MHD_Result ibex__wb_bytes(ibex_workbench *W, struct MHD_Connection *c, const char *method, wb_request *r,
                               unsigned status, const char *type, void *data, size_t n, int must_free,
                               const char *cache_control, const char *etag);
void ibex__wb_log(ibex_workbench *W, struct MHD_Connection *c, const char *method, const wb_request *r,
                  unsigned status, const char *why);

/* ---- access.c ---- */
/* n random bytes as 2n lower-case hex digits + NUL. */
void ibex__wb_random_hex(char *out, size_t n);
/* The first call of a request: checks Host (loopback binds), the credential (session cookie,
 * ?token= or a bearer token), the method and, for state-changing requests authenticated by
 * cookie, Origin and the CSRF header. Returns 1 to go on; 0 when it answered (refused, or the
 * redirect that trades ?token= for a cookie), with *ret what to return to libmicrohttpd. */
int ibex__wb_access(ibex_workbench *W, struct MHD_Connection *c, const char *url, const char *method,
                    wb_request *r, enum MHD_Result *ret);
/* GET /api/session: the CSRF token of the caller's session, the library, the limits. */
enum MHD_Result ibex__wb_h_session(ibex_workbench *W, struct MHD_Connection *c, const char *method,
                                   wb_request *r);
/* POST /api/login ({"name", "password"}: a session for that account) and POST /api/logout. */
enum MHD_Result ibex__wb_h_login(ibex_workbench *W, struct MHD_Connection *c, const char *method, wb_request *r);
enum MHD_Result ibex__wb_h_logout(ibex_workbench *W, struct MHD_Connection *c, const char *method, wb_request *r);
/* Constant-time comparison of two NUL-terminated strings (1 when equal). */
int ibex__wb_equal(const char *a, const char *b);

/* ---- accounts.c ---- */
int ibex__wb_role_valid(const char *role);
int ibex__wb_name_valid(const char *name);
/* Reads the accounts file (errors name the file and line). */
ibex_status ibex__wb_accounts_load(const char *path, wb_account **out, size_t *n, ibex_diag *d);
/* 1 and *who when name and password match an account (one check at a time; a failure takes
 * a second). */
int ibex__wb_login_check(ibex_workbench *W, const char *name, const char *password, wb_account *who);

/* ---- assets.c and the generated assets_data.c ---- */
typedef struct ibex__wb_asset {
    const char *path;        /* "/app.js"; "/" is index.html */
    const char *type;        /* Content-Type */
    const unsigned char *data;
    size_t size;
    const char *etag;        /* quoted, from the content's SHA-256 */
} ibex__wb_asset;
extern const ibex__wb_asset ibex__wb_assets[];
extern const size_t ibex__wb_n_assets;
/* GET of an embedded asset by its exact path; anything else is 404. */
enum MHD_Result ibex__wb_h_asset(ibex_workbench *W, struct MHD_Connection *c, const char *method, wb_request *r,
                                 const char *url);

/* ---- catalog.c ---- */
/* GET /api/specimens?offset=&limit=&kind=&set=&q=&sort=&order= */
enum MHD_Result ibex__wb_h_specimens(ibex_workbench *W, struct MHD_Connection *c, const char *method,
                                     wb_request *r);
/* GET /api/specimens/ROW/thumbnail.png */
enum MHD_Result ibex__wb_h_thumbnail(ibex_workbench *W, struct MHD_Connection *c, const char *method,
                                     wb_request *r, size_t row);
/* GET /api/specimens/ROW (its list entry and SHA-256) and .../picture.png (720 pixels). */
enum MHD_Result ibex__wb_h_specimen(ibex_workbench *W, struct MHD_Connection *c, const char *method, wb_request *r,
                                    size_t row);
enum MHD_Result ibex__wb_h_picture(ibex_workbench *W, struct MHD_Connection *c, const char *method, wb_request *r,
                                   size_t row);
void ibex__wb_catalog_free(ibex_workbench *W);
/* Thread body: the pictures of the first WB_THUMBS_WARM specimens drawn at start. */
void *ibex__wb_thumbs_warm(void *W);
#define WB_THUMBS_WARM 100
/* Opens the library read-only (the workbench never writes it). */
ibex_status ibex__wb_library_open(const ibex_workbench *W, ibex_library **lib, ibex_diag *d);

/* ---- scan.c ---- */
/* A questioned scan from uploaded bytes: X3P by its zip signature (read from memory), PNG by
 * its signature (through a file in the private temporary folder, removed at once). name (the
 * upload's file name) is what messages name. */
ibex_status ibex__wb_read_scan(ibex_workbench *W, const unsigned char *data, size_t n, const char *name,
                               ibex_surface **out, ibex_diag *d);
/* The base name of a client-given file name, control characters dropped, at most
 * WB_NAME_MAX bytes; "upload" when nothing is left. */
/* Client-given text fit to show and record: control characters dropped, at most WB_NAME_MAX
 * bytes, never cut inside a UTF-8 sequence. */
void ibex__wb_clean_text(const char *in, char *out, size_t size);
void ibex__wb_clean_name(const char *in, char *out, size_t size);

/* ---- jobs.c ---- */
/* POST /api/jobs: a search of an uploaded scan (raw body or multipart field "scan"), or of
 * library specimen ?row=N. */
enum MHD_Result ibex__wb_h_job_create(ibex_workbench *W, struct MHD_Connection *c, const char *method,
                                      wb_request *r);
/* GET /api/jobs/ID and below, POST /api/jobs/ID/cancel. rest: what follows "/api/jobs/". */
enum MHD_Result ibex__wb_h_job(ibex_workbench *W, struct MHD_Connection *c, const char *method, wb_request *r,
                               const char *rest);
/* Cancels every search and waits for them, then frees every job. */
void ibex__wb_jobs_stop(ibex_workbench *W);

/* A job as the candidate view needs it (jobs.c keeps it alive while referenced). */
const ibex_surface *ibex__wb_job_query(const wb_job *j);
const char *ibex__wb_job_name(const wb_job *j);
const char *ibex__wb_job_id(const wb_job *j);
const char *ibex__wb_job_query_sha256(const wb_job *j); /* the questioned scan's source SHA-256 */
/* The library row searched with, or -1 for an uploaded scan. */
long long ibex__wb_job_row(const wb_job *j);
/* 1 when row is in the job's finished ranked list (*rank: 1-based). */
int ibex__wb_job_has_candidate(wb_job *j, size_t row, size_t *rank);
/* The job's cache of compared pairs (pair.c owns what it holds). */
struct wb_pair **ibex__wb_job_pairs(wb_job *j, pthread_mutex_t **lock);
/* The job as GET /api/jobs/ID answers it (a new reference): state, query, result. */
json_t *ibex__wb_job_json(wb_job *j);

/* What a conclusion records of a job: the questioned scan's SHA-256, name and case, and a copy
 * of the candidate's entry in the ranked list (json_decref it); 0 when row is not listed. */
int ibex__wb_job_record_info(wb_job *j, size_t row, char qsha[65], char *name, size_t name_size, char *case_id,
                             size_t case_size, json_t **candidate, char *kind, size_t kind_size);

/* ---- conclusions.c ---- */
/* The library's whole trail of conclusions, checked (ibex_conclusion_read_all). */
ibex_status ibex__wb_read_trail(ibex_workbench *W, ibex_conclusion **v, size_t *n, ibex_diag *d);
/* GET and POST /api/jobs/ID/candidates/ROW/conclusions: the pair's records as this viewer may
 * see them (blind verification), and recording one. */
enum MHD_Result ibex__wb_h_pair_conclusions(ibex_workbench *W, struct MHD_Connection *c, const char *method,
                                            wb_request *r, wb_job *j, size_t row);
/* GET /api/conclusions?sha256=&case=: the trail, as this viewer may see it. */
enum MHD_Result ibex__wb_h_conclusions(ibex_workbench *W, struct MHD_Connection *c, const char *method,
                                       wb_request *r);

/* ---- pair.c ---- */
typedef struct wb_pair wb_pair;
/* GET /api/jobs/ID/candidates/ROW and .../heights?side=q|c */
enum MHD_Result ibex__wb_h_pair(ibex_workbench *W, struct MHD_Connection *c, const char *method, wb_request *r,
                                wb_job *j, size_t row, const char *what);
void ibex__wb_pair_free(wb_pair *p);
/* The candidate view of a pair the search's stage 2 compared (ibex_search_opts.keep_comparisons),
 * built from that comparison into the job's cache, so it opens without comparing again;
 * nothing when c kept none (the view then compares on demand). */
void ibex__wb_pair_adopt(ibex_workbench *W, wb_job *j, const ibex_search_candidate *c, size_t rank);
#define WB_PAIRS_KEPT 4      /* compared pairs remembered per job */
#define WB_VIEW_MAX_SIDE 512 /* height maps sent to the browser: at most this many pixels a side */
/* The IBXH height map of s (docs/reference/workbench.md), f x f block means; NULL out of memory. */
unsigned char *ibex__wb_heights_blob(const ibex_surface *s, size_t f, size_t *len);

/* ---- pair_bullet.c: the candidate view of bullets ---- */
typedef struct wb_bullet_pair wb_bullet_pair;
/* The job's questioned bullet (the lands of its library row's bullet, or the uploaded land)
 * against the bullet of library row `row` (ibex_compare_bullets). */
ibex_status ibex__wb_bullet_compare(ibex_workbench *W, wb_job *j, size_t row, size_t rank, wb_bullet_pair **out,
                                    ibex_diag *d);
/* The answer for what ("", "/heights", "/signatures"); called with lock held, unlocks it. */
enum MHD_Result ibex__wb_bullet_answer(ibex_workbench *W, struct MHD_Connection *c, const char *method,
                                       wb_request *r, const wb_bullet_pair *p, const char *what,
                                       pthread_mutex_t *lock);
void ibex__wb_bullet_pair_free(wb_bullet_pair *p);

/* A copy of one compared pair for the case report: its candidate-view JSON and the PNG
 * picture of the registered pair with its cells (NULL when it could not be drawn). */
typedef struct wb_pair_snap {
    size_t row;
    json_t *json;
    unsigned char *png;
    size_t png_n;
} wb_pair_snap;
/* Copies of the pairs in the job's cache (at most WB_PAIRS_KEPT), by rank; returns how many. */
size_t ibex__wb_pair_snapshot(wb_job *j, wb_pair_snap *out);
void ibex__wb_pair_snap_clear(wb_pair_snap *s, size_t n);

/* ---- report.c ---- */
/* GET /api/jobs/ID/report.html and .../report.pdf: the case report of a finished search
 * (include/ibex/report.h), as a download. */
enum MHD_Result ibex__wb_h_report(ibex_workbench *W, struct MHD_Connection *c, const char *method, wb_request *r,
                                  wb_job *j, int pdf);
/* The examiners' conclusions the report of job j lists (the audit trail), oldest first;
 * *v malloc'd (ibex__wb_report_conclusions_free). */
ibex_status ibex__wb_report_conclusions(ibex_workbench *W, wb_job *j, const char *viewer, int see_all,
                                        ibex_conclusion **v, size_t *n, ibex_diag *d);
void ibex__wb_report_conclusions_free(ibex_conclusion *v, size_t n);

#endif
