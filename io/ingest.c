/* The ingest run: worker threads hash, read and prepare files; the calling thread alone adds
 * to the library (HDF5 is serialised anyway), in list order, committing in small batches.
 * A stored event is sent only after the commit that stored its row returned. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ibex/ingest.h"
#include "ibex/io.h"
#include "ibex/search.h"
#include "ibex_internal.h"

#define BATCH_DEFAULT 16
#define BATCH_SECONDS 2.0 /* a batch older than this is committed: output never lags far */
#define STAGE "ingest"

static const char *const row_keys[] = {"set", "firearm_id", "same_source_key", "id", "kind", NULL};

int ibex_ingest_meta_key_known(const char *k)
{
    if (!k) return 0;
    for (size_t i = 0; i < ibex_meta_count(); i++)
        if (!strcmp(ibex_meta_key(i), k)) return 1;
    for (int i = 0; row_keys[i]; i++)
        if (!strcmp(row_keys[i], k)) return 1;
    return 0;
}

void ibex_ingest_opts_init(ibex_ingest_opts *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
}

void ibex_ingest_result_init(ibex_ingest_result *r)
{
    memset(r, 0, sizeof *r);
    r->struct_size = sizeof *r;
}

/* ---- workers ---- */

typedef struct slot {
    int done;
    int dup; /* content hash already in the library */
    size_t dup_row;
    ibex_status st;
    ibex_diag diag;
    char sha[65];
    ibex_surface *surf;
} slot;

typedef struct job {
    const ibex_ingest_list *files;
    slot *slots;
    size_t n;
    size_t next;     /* next item a worker takes */
    size_t consumed; /* items the consumer has taken */
    size_t window;   /* how far workers may run ahead of the consumer (bounds memory) */
    int stop;
    ibex_library *lib;
    unsigned read_flags;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} job;

static void prepare_one(job *j, const ibex_ingest_item *it, slot *s)
{
    ibex_diag_clear(&s->diag);
    s->st = ibex_file_sha256(it->path, s->sha, &s->diag);
    if (s->st == IBEX_OK) s->dup = ibex_library_find_hash(j->lib, s->sha, &s->dup_row);
    if (s->st != IBEX_OK || s->dup) return;
    ibex_surface *raw = NULL;
    s->st = ibex_surface_read(it->path, j->read_flags, &raw, &s->diag);
    if (s->st == IBEX_OK) {
        s->st = ibex_library_prepare(j->lib, raw, &s->surf, &s->diag);
        ibex_surface_free(raw);
    }
}

static void *worker(void *arg)
{
    job *j = arg;
    for (;;) {
        pthread_mutex_lock(&j->mu);
        while (!j->stop && j->next < j->n && j->next >= j->consumed + j->window) pthread_cond_wait(&j->cv, &j->mu);
        if (j->stop || j->next >= j->n) {
            pthread_mutex_unlock(&j->mu);
            return NULL;
        }
        size_t i = j->next++;
        pthread_mutex_unlock(&j->mu);
        prepare_one(j, ibex_ingest_list_get(j->files, i), &j->slots[i]);
        pthread_mutex_lock(&j->mu);
        j->slots[i].done = 1;
        pthread_cond_broadcast(&j->cv);
        pthread_mutex_unlock(&j->mu);
    }
}

static int slot_ready(job *j, size_t i)
{
    pthread_mutex_lock(&j->mu);
    int ready = j->slots[i].done;
    pthread_mutex_unlock(&j->mu);
    return ready;
}

/* Waits for item i and lets the workers move the window on. */
static void slot_take(job *j, size_t i)
{
    pthread_mutex_lock(&j->mu);
    while (!j->slots[i].done) pthread_cond_wait(&j->cv, &j->mu);
    j->consumed = i + 1;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

/* ---- the consumer ---- */

typedef struct run {
    ibex_library *lib;
    const ibex_ingest_opts *o;
    job *j;
    size_t *rows, *idx, n, batch; /* the open batch: rows added, their items */
    double t0;                    /* when the open batch began */
    ibex_ingest_result r;
    int stop_asked;               /* a callback returned nonzero */
} run;

static void send(run *u, ibex_ingest_outcome what, size_t i, size_t row, const char *reason, ibex_status st,
                 const ibex_diag *d)
{
    if (!u->o->event) return;
    ibex_ingest_event ev = {sizeof ev, what, i, ibex_ingest_list_get(u->j->files, i), row, u->j->slots[i].sha,
                            reason,    st,   d};
    if (u->o->event(u->o->event_user, &ev)) u->stop_asked = 1;
}

/* Commits the open transaction, then (only then) reports its specimens as stored. */
static ibex_status batch_commit(run *u, ibex_diag *diag)
{
    if (!u->n) return IBEX_OK;
    size_t n = u->n;
    u->n = 0;
    ibex_status st = ibex_library_commit(u->lib, diag);
    if (st != IBEX_OK) return st;
    u->r.commits++;
    u->r.stored += n;
    for (size_t k = 0; k < n; k++) send(u, IBEX_INGEST_STORED, u->idx[k], u->rows[k], NULL, IBEX_OK, NULL);
    return IBEX_OK;
}

/* The row: file metadata, then the item's columns, then opts meta (last wins). Strings are
 * borrowed from the item and the options; only sp->meta is owned. */
static ibex_status build_spec(ibex_specimen *sp, const ibex_ingest_item *it, const slot *s, const ibex_ingest_opts *o)
{
    memset(sp, 0, sizeof *sp);
    if (ibex_meta_copy(&sp->meta, &s->surf->meta) != IBEX_OK) return IBEX_ERR_NOMEM;
    sp->id = (char *)it->id;
    sp->source_path = (char *)it->path;
    memcpy(sp->sha256, s->sha, sizeof sp->sha256);
    sp->set = (char *)it->set;
    sp->firearm_id = (char *)it->firearm_id;
    sp->same_source_key = (char *)it->same_source_key;
    const char *kind = o->kind ? o->kind : it->kind ? it->kind : sp->meta.specimen_kind;
    ibex_status st = IBEX_OK;
    if (it->specimen_id) st = ibex_meta_set(&sp->meta, "specimen_id", it->specimen_id);
    for (size_t i = 0; st == IBEX_OK && i < o->n_meta; i++) {
        const char *kv = o->meta[i], *v = strchr(kv, '=') + 1;
        size_t kl = (size_t)(v - 1 - kv);
        char key[64];
        snprintf(key, sizeof key, "%.*s", (int)kl, kv);
        if (!strcmp(key, "set")) sp->set = (char *)v;
        else if (!strcmp(key, "firearm_id")) sp->firearm_id = (char *)v;
        else if (!strcmp(key, "same_source_key")) sp->same_source_key = (char *)v;
        else if (!strcmp(key, "id")) sp->id = (char *)v;
        else if (!strcmp(key, "kind")) kind = v;
        else st = ibex_meta_set(&sp->meta, key, v);
    }
    if (st == IBEX_OK) st = ibex_meta_set(&sp->meta, "specimen_kind", kind ? kind : ibex_scan_kind(s->surf));
    /* The row points at the metadata's new copy: kind may have been the old one, which the
     * set just freed. */
    sp->kind = sp->meta.specimen_kind ? sp->meta.specimen_kind : (char *)"";
    const char *region = sp->meta.region;
    if (!region) region = !strcmp(sp->kind, "cartridge") ? "breech-face" : !strcmp(sp->kind, "bullet") ? "land" : "";
    sp->region = (char *)region;
    if (st != IBEX_OK) ibex_meta_clear(&sp->meta);
    return st;
}

/* Adds item i (read and not a duplicate). IBEX_OK also when the library refused the row
 * before writing anything (reported, the run goes on); any other status stops the run. */
static ibex_status add_one(run *u, size_t i, ibex_diag *diag)
{
    const ibex_ingest_item *it = ibex_ingest_list_get(u->j->files, i);
    slot *s = &u->j->slots[i];
    ibex_status st;
    if (!u->n) {
        if ((st = ibex_library_begin(u->lib, diag)) != IBEX_OK) return st;
        u->t0 = ibex__now();
    }
    ibex_specimen sp;
    if ((st = build_spec(&sp, it, s, u->o)) != IBEX_OK) return ibex__fail(diag, st, "", -1, "out of memory");
    size_t row = 0;
    ibex_diag d;
    ibex_diag_clear(&d);
    st = ibex_library_add(u->lib, &sp, s->surf, &row, &d);
    ibex_meta_clear(&sp.meta);
    ibex_surface_free(s->surf);
    s->surf = NULL;
    if (st == IBEX_ERR_INTEGRITY || st == IBEX_ERR_ARG) {
        /* Refused before anything was written (duplicate id, bad row): the file is named,
         * not the library the message came from. */
        ibex_diag rd;
        ibex__fail(&rd, st, it->path, -1, "%s", d.message);
        u->r.refused++;
        send(u, IBEX_INGEST_REFUSED, i, (size_t)-1, rd.message, st, &rd);
        return IBEX_OK;
    }
    if (st != IBEX_OK) {
        /* The transaction was rolled back: none of this batch is stored. */
        u->n = 0;
        if (diag) *diag = d;
        return st;
    }
    u->rows[u->n] = row;
    u->idx[u->n++] = i;
    if (u->n == u->batch || ibex__now() - u->t0 >= BATCH_SECONDS) return batch_commit(u, diag);
    return IBEX_OK;
}

static ibex_status handle_one(run *u, size_t i, ibex_diag *diag)
{
    slot *s = &u->j->slots[i];
    if (s->st != IBEX_OK) {
        u->r.refused++;
        send(u, IBEX_INGEST_REFUSED, i, (size_t)-1, s->diag.message, s->st, &s->diag);
        return IBEX_OK;
    }
    size_t dup_row = s->dup_row;
    /* The second look finds a file whose bytes an earlier item of this run added. */
    if (s->dup || ibex_library_find_hash(u->lib, s->sha, &dup_row)) {
        char why[64];
        snprintf(why, sizeof why, "duplicate of row %zu", dup_row);
        u->r.skipped++;
        send(u, IBEX_INGEST_SKIPPED, i, dup_row, why, IBEX_OK, NULL);
        return IBEX_OK;
    }
    return add_one(u, i, diag);
}

static ibex_status consume(run *u, ibex_diag *diag)
{
    const ibex_ingest_opts *o = u->o;
    size_t n = u->j->n;
    ibex_status st = IBEX_OK;
    for (size_t i = 0; i < n && st == IBEX_OK; i++) {
        /* Commit what we have before waiting, so output never lags behind the work. */
        if (!slot_ready(u->j, i) && (st = batch_commit(u, diag)) != IBEX_OK) break;
        slot_take(u->j, i);
        if (u->stop_asked || (o->progress && o->progress(o->progress_user, STAGE, i, n, -1.0))) {
            st = IBEX_ERR_CANCELLED;
            break;
        }
        st = handle_one(u, i, diag);
    }
    if (st == IBEX_OK && u->stop_asked) st = IBEX_ERR_CANCELLED;
    if (st == IBEX_OK || st == IBEX_ERR_CANCELLED) {
        /* A stop keeps and reports what was added before it. */
        ibex_status cs = batch_commit(u, diag);
        if (cs != IBEX_OK) return cs;
    }
    if (st == IBEX_ERR_CANCELLED) return ibex__fail(diag, st, "", -1, "ingest cancelled");
    if (st == IBEX_OK && o->progress) o->progress(o->progress_user, STAGE, n, n, 0.0);
    return st;
}

/* ---- the call ---- */

static ibex_status check_opts(const ibex_ingest_opts *o, ibex_diag *diag)
{
    if (o->kind && strcmp(o->kind, "cartridge") && strcmp(o->kind, "bullet"))
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "kind must be cartridge or bullet, not '%s'", o->kind);
    if (o->n_meta && !o->meta) return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "n_meta without meta");
    for (size_t i = 0; i < o->n_meta; i++) {
        const char *kv = o->meta[i], *eq = kv ? strchr(kv, '=') : NULL;
        if (!eq || eq == kv) return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "meta needs KEY=VALUE, got '%s'", kv ? kv : "");
        char key[64];
        snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
        if ((size_t)(eq - kv) >= sizeof key || !ibex_ingest_meta_key_known(key))
            return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "unknown metadata key '%.*s'", (int)(eq - kv), kv);
        /* Checked before the run: every row would otherwise fail, or export would. */
        ibex_status st = ibex_meta_check(key, eq + 1, diag);
        if (st) return st;
    }
    return IBEX_OK;
}

static unsigned thread_count(unsigned want, size_t n)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    size_t t = want ? want : ncpu > 0 ? (size_t)ncpu : 1;
    if (t > n) t = n ? n : 1;
    return (unsigned)t;
}

static void result_out(ibex_ingest_result *res, const ibex_ingest_result *r)
{
    if (!res || res->struct_size < sizeof res->struct_size) return;
    size_t size = res->struct_size < sizeof *r ? res->struct_size : sizeof *r;
    memcpy(res, r, size);
    res->struct_size = size;
}

/* Runs the workers and the consumer; the caller owns u->j's slots. */
static ibex_status run_threads(run *u, unsigned nthreads, ibex_diag *diag)
{
    job *j = u->j;
    pthread_t *th = calloc(nthreads, sizeof *th);
    size_t started = 0;
    for (size_t t = 0; th && t < nthreads; t++)
        if (pthread_create(&th[t], NULL, worker, j) == 0) started++;
    if (!started) {
        /* No threads: prepare everything here first. */
        j->window = (size_t)-1 / 2;
        worker(j);
    }
    u->r.threads = started ? (unsigned)started : 1;
    ibex_status st = consume(u, diag);
    pthread_mutex_lock(&j->mu);
    j->stop = 1;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    for (size_t t = 0; t < started; t++) pthread_join(th[t], NULL);
    free(th);
    return st;
}

ibex_status ibex_ingest_run(ibex_library *lib, const ibex_ingest_list *files, const ibex_ingest_opts *opts,
                            ibex_ingest_result *res, ibex_diag *diag)
{
    ibex_ingest_opts o;
    ibex_ingest_opts_init(&o);
    if (!ibex__opts_merge(&o, sizeof o, opts)) return ibex__opts_refused(diag, "ibex_ingest_opts");
    if (!lib || !files) return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "no library or file list");
    ibex_status st = check_opts(&o, diag);
    if (st != IBEX_OK) return st;
    double t0 = ibex__now();
    size_t n = ibex_ingest_list_count(files);
    unsigned nthreads = thread_count(o.threads, n);
    run u = {.lib = lib, .o = &o, .batch = o.batch ? o.batch : BATCH_DEFAULT};
    ibex_ingest_result_init(&u.r);
    u.r.files = n;
    job j = {.files = files, .n = n, .window = 2 * (size_t)nthreads + u.batch, .lib = lib, .read_flags = o.read_flags};
    j.slots = calloc(n ? n : 1, sizeof *j.slots);
    u.rows = calloc(u.batch, sizeof *u.rows);
    u.idx = calloc(u.batch, sizeof *u.idx);
    u.j = &j;
    if (!j.slots || !u.rows || !u.idx) {
        st = ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    } else {
        pthread_mutex_init(&j.mu, NULL);
        pthread_cond_init(&j.cv, NULL);
        st = run_threads(&u, nthreads, diag);
        pthread_mutex_destroy(&j.mu);
        pthread_cond_destroy(&j.cv);
    }
    for (size_t i = 0; j.slots && i < n; i++) ibex_surface_free(j.slots[i].surf);
    free(j.slots);
    free(u.rows);
    free(u.idx);
    u.r.not_stored = n - u.r.stored - u.r.skipped - u.r.refused;
    u.r.specimens = ibex_library_count(lib);
    u.r.complete = st == IBEX_OK;
    u.r.seconds = ibex__now() - t0;
    result_out(res, &u.r);
    return st;
}
