/* Synthetic sets as jobs: every scan of F firearms x K casings (or B barrels x K bullets x L
 * lands) generated on worker threads, then written as X3P files plus a MANIFEST.tsv in the
 * format of the real data sets, or stored straight into a reference library with the rows
 * ingest would make from that manifest. Same seed and options: byte-identical files,
 * whatever the thread count. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ibex/config.h"
#include "ibex/io.h"
#include "ibex/library.h"
#include "ibex/synth.h"
#include "atomic_file.h"
#include "ibex_internal.h"

/* Columns of ../shared/datasets/real/MANIFEST.tsv, in order. */
static const char *const manifest_cols[] = {
    "relative_path", "kind", "set", "firearm_id", "specimen_id", "source_repo", "commit",
    "source_path", "license", "size_bytes", "sha256", "role", "same_source_key", "notes"};

typedef struct job_cfg {
    int bullet;
    int to_lib; /* keep surfaces and rows for the library instead of writing files */
    ibex_synth_opts opts;
    uint64_t seed;
    const char *out, *set;
    long sources, per_source;
    int lands;
    int wsrc, wspec; /* digits of source and specimen numbers */
    unsigned write_flags;
} job_cfg;

/* Result of one source (firearm or barrel): its manifest rows, or the first failure. */
typedef struct src_result {
    char *rows;
    size_t len, cap;
    ibex_surface **surf;  /* --lib: surfaces and their rows, in order */
    ibex_specimen *spec;
    size_t ns, cap_s;
    ibex_status st;
    ibex_diag diag;
} src_result;

static int append(src_result *r, const char *s)
{
    size_t n = strlen(s);
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 4096;
        while (cap < r->len + n + 1) cap *= 2;
        char *p = realloc(r->rows, cap);
        if (!p) return -1;
        r->rows = p;
        r->cap = cap;
    }
    memcpy(r->rows + r->len, s, n + 1);
    r->len += n;
    return 0;
}

/* SHA-256 (hex) and size of a file just written. */
static int file_digest(const char *path, char hex[65], long long *size)
{
    struct stat st;
    if (ibex_file_sha256(path, hex, NULL) != IBEX_OK || stat(path, &st) != 0) return -1;
    *size = (long long)st.st_size;
    return 0;
}

static const char *pattern_word(int p)
{
    return p == IBEX_SYNTH_FILING ? "filing" : p == IBEX_SYNTH_MILLING ? "milling" : "cross-hatch";
}

/* SHA-256 of a surface's canonical bytes: a text header with its size and spacing, then
 * the heights (float32, host order = little-endian here) and the mask. It stands in for the
 * file hash of an ingested scan: equal surfaces, equal hash. */
static int surface_digest(const ibex_surface *s, char hex[65])
{
    char head[160];
    int hn = snprintf(head, sizeof head, "ibex-surface-v1 %zu %zu %.17g %.17g %.17g %.17g %d\n", s->nx, s->ny,
                      s->dx, s->dy, s->x0, s->y0, (int)s->zkind);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char md[32];
    unsigned mdlen = 0;
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) && EVP_DigestUpdate(ctx, head, (size_t)hn) &&
             EVP_DigestUpdate(ctx, s->z, s->nx * s->ny * sizeof *s->z) &&
             EVP_DigestUpdate(ctx, s->valid, s->nx * s->ny) && EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen == 32;
    EVP_MD_CTX_free(ctx);
    if (!ok) return -1;
    for (int i = 0; i < 32; i++) sprintf(hex + 2 * i, "%02x", md[i]);
    return 0;
}

static char *dup_s(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

/* --lib: keep the surface and the row ingest would make from its manifest line. Takes s. */
static ibex_status keep(const job_cfg *c, src_result *r, ibex_surface *s, const char *src_id,
                        const char *spec_id, const char *key, const char *recipe)
{
    if (r->ns == r->cap_s) {
        size_t cap = r->cap_s ? 2 * r->cap_s : 16;
        ibex_surface **ns = realloc(r->surf, cap * sizeof *ns);
        if (ns) r->surf = ns;
        ibex_specimen *np = ns ? realloc(r->spec, cap * sizeof *np) : NULL;
        if (!np) return IBEX_ERR_NOMEM;
        r->spec = np;
        r->cap_s = cap;
    }
    ibex_specimen *sp = &r->spec[r->ns];
    memset(sp, 0, sizeof *sp);
    char id[160], ssk[160];
    snprintf(id, sizeof id, "%s:%s", c->set, spec_id);
    snprintf(ssk, sizeof ssk, "%s:%s", c->set, key);
    const char *kind = c->bullet ? "bullet" : "cartridge";
    ibex_status st = IBEX_ERR_NOMEM;
    if (!surface_digest(s, sp->sha256) && (sp->id = dup_s(id)) && (sp->kind = dup_s(kind)) &&
        (sp->region = dup_s(c->bullet ? "land" : "breech-face")) && (sp->source_path = dup_s(recipe)) &&
        (sp->set = dup_s(c->set)) && (sp->firearm_id = dup_s(src_id)) && (sp->same_source_key = dup_s(ssk)) &&
        ibex_meta_copy(&sp->meta, &s->meta) == IBEX_OK && ibex_meta_set(&sp->meta, "specimen_kind", kind) == IBEX_OK)
        st = IBEX_OK;
    if (st) {
        ibex_specimen_clear(sp);
        return st;
    }
    r->surf[r->ns++] = s;
    return IBEX_OK;
}

/* Write one surface, then its manifest row (or keep both for the library). Takes s. */
static ibex_status emit(const job_cfg *c, src_result *r, ibex_surface *s, const char *dir,
                        const char *file, const char *src_id, const char *spec_id,
                        const char *key, const char *recipe, const char *notes)
{
    char rel[512], path[4096], row[4096], hex[65];
    long long size;
    snprintf(rel, sizeof rel, "%s/%s", dir, file);
    snprintf(path, sizeof path, "%s/%s", c->out, rel);
    if (ibex_meta_set(&s->meta, "firearm_serial", src_id) ||
        ibex_meta_set(&s->meta, "specimen_id", spec_id) ||
        ibex_meta_set(&s->meta, "case_number", c->set)) {
        ibex_surface_free(s);
        return IBEX_ERR_NOMEM;
    }
    if (c->to_lib) {
        ibex_status st = keep(c, r, s, src_id, spec_id, key, recipe);
        if (st) ibex_surface_free(s);
        return st;
    }
    ibex_status st0 = ibex_surface_write_x3p(s, path, c->write_flags, &r->diag);
    ibex_surface_free(s);
    if (st0) return st0;
    if (file_digest(path, hex, &size)) {
        snprintf(r->diag.file, sizeof r->diag.file, "%.500s", path);
        snprintf(r->diag.message, sizeof r->diag.message, "cannot read back for SHA-256");
        return IBEX_ERR_IO;
    }
    snprintf(row, sizeof row,
             "%s\t%s\t%s\t%s\t%s\tibex-synth\tibex %s\t%s\tCC0-1.0 (synthetic)\t%lld\t%s\tsynth\t"
             "%s:%s\t%s\n",
             rel, c->bullet ? "bullet" : "cartridge", c->set, src_id, spec_id,
             IBEX_VERSION_STRING, recipe, size, hex, c->set, key, notes);
    return append(r, row) ? IBEX_ERR_NOMEM : IBEX_OK;
}

/* The folder of one source (firearm or barrel) under the output directory; nothing when the
 * scans go to a library. */
static ibex_status source_dir(const job_cfg *c, const char *id, src_result *r)
{
    char dpath[4096];
    snprintf(dpath, sizeof dpath, "%s/%s", c->out, id);
    if (c->to_lib || !ibex__make_dirs(dpath)) return IBEX_OK;
    snprintf(r->diag.file, sizeof r->diag.file, "%.500s", dpath);
    snprintf(r->diag.message, sizeof r->diag.message, "cannot make directory: %s", strerror(errno));
    return IBEX_ERR_IO;
}

static ibex_status run_firearm(const job_cfg *c, long fi, src_result *r)
{
    uint64_t root = ibex_synth_seed_derive(c->seed, 1);
    uint64_t fseed = ibex_synth_seed_derive(root, (uint64_t)fi);
    ibex_synth_firearm *f;
    ibex_status st = ibex_synth_firearm_create(fseed, &c->opts, &f, &r->diag);
    if (st) return st;
    char id[32];
    snprintf(id, sizeof id, "F%0*ld", c->wsrc, fi + 1);
    if ((st = source_dir(c, id, r))) {
        ibex_synth_firearm_free(f);
        return st;
    }
    for (long k = 0; k < c->per_source && !st; k++) {
        uint64_t sseed = ibex_synth_seed_derive(ibex_synth_seed_derive(fseed, 2), (uint64_t)k);
        ibex_surface *s;
        ibex_synth_truth t;
        if ((st = ibex_synth_cartridge_run(f, sseed, &s, &t, &r->diag))) break;
        char spec[64], file[96], recipe[128], notes[512];
        snprintf(spec, sizeof spec, "%s-%0*ld", id, c->wspec, k + 1);
        snprintf(file, sizeof file, "%s.x3p", spec);
        snprintf(recipe, sizeof recipe, "synth cartridge seed=%llu firearm=%ld shot=%ld",
                 (unsigned long long)c->seed, fi + 1, k + 1);
        snprintf(notes, sizeof notes,
                 "synthetic breech face; pattern %s; difficulty %g; rotation %.3f deg; shift "
                 "(%.2f, %.2f) um; transfer %.3f; missing %.3f; firearm seed 0x%016llx; shot "
                 "seed 0x%016llx",
                 pattern_word(t.pattern), c->opts.difficulty, t.rotation * 180 / M_PI,
                 t.shift_x * 1e6, t.shift_y * 1e6, t.transfer, t.missing_fraction,
                 (unsigned long long)fseed, (unsigned long long)sseed);
        st = emit(c, r, s, id, file, id, spec, id, recipe, notes);
    }
    ibex_synth_firearm_free(f);
    return st;
}

static ibex_status run_barrel(const job_cfg *c, long bi, src_result *r)
{
    uint64_t root = ibex_synth_seed_derive(c->seed, 2);
    uint64_t bseed = ibex_synth_seed_derive(root, (uint64_t)bi);
    ibex_synth_barrel *b;
    ibex_status st = ibex_synth_barrel_create(bseed, &c->opts, &b, &r->diag);
    if (st) return st;
    char id[32];
    snprintf(id, sizeof id, "B%0*ld", c->wsrc, bi + 1);
    if ((st = source_dir(c, id, r))) {
        ibex_synth_barrel_free(b);
        return st;
    }
    for (long k = 0; k < c->per_source && !st; k++) {
        uint64_t useed = ibex_synth_seed_derive(ibex_synth_seed_derive(bseed, 2), (uint64_t)k);
        for (int l = 0; l < c->lands && !st; l++) {
            ibex_surface *s;
            ibex_synth_truth t;
            if ((st = ibex_synth_land_run(b, useed, l, &s, &t, &r->diag))) break;
            char spec[96], file[96], key[48], recipe[160], notes[512];
            snprintf(spec, sizeof spec, "%s Bullet %0*ld Land %d", id, c->wspec, k + 1, l + 1);
            snprintf(file, sizeof file, "%s-Bullet_%0*ld-Land_%d.x3p", id, c->wspec, k + 1, l + 1);
            snprintf(key, sizeof key, "%s-L%d", id, t.land_class + 1);
            snprintf(recipe, sizeof recipe, "synth bullet seed=%llu barrel=%ld bullet=%ld land=%d",
                     (unsigned long long)c->seed, bi + 1, k + 1, l + 1);
            snprintf(notes, sizeof notes,
                     "synthetic land; barrel land %d (bullet numbering offset %d); difficulty %g; "
                     "shift %.2f um; slant %.4f deg; transfer %.3f; missing %.3f; barrel seed "
                     "0x%016llx; bullet seed 0x%016llx",
                     t.land_class + 1, t.land_offset, c->opts.difficulty, t.shift_x * 1e6,
                     t.rotation * 180 / M_PI, t.transfer, t.missing_fraction,
                     (unsigned long long)bseed, (unsigned long long)useed);
            st = emit(c, r, s, id, file, id, spec, key, recipe, notes);
        }
    }
    ibex_synth_barrel_free(b);
    return st;
}

/* A batch of sources shared by the worker threads; each takes the next index. */
typedef struct batch {
    const job_cfg *cfg;
    long first, count;
    src_result *res;
    long next;
    pthread_mutex_t lock;
} batch;

static void *worker(void *arg)
{
    batch *b = arg;
    for (;;) {
        pthread_mutex_lock(&b->lock);
        long i = b->next++;
        pthread_mutex_unlock(&b->lock);
        if (i >= b->count) break;
        src_result *r = &b->res[i];
        ibex_diag_clear(&r->diag);
        r->st = b->cfg->bullet ? run_barrel(b->cfg, b->first + i, r)
                               : run_firearm(b->cfg, b->first + i, r);
    }
    return NULL;
}

static int digits(long n)
{
    int d = 1;
    while (n >= 10) {
        n /= 10;
        d++;
    }
    return d;
}

static void src_result_clear(src_result *r)
{
    free(r->rows);
    for (size_t k = 0; k < r->ns; k++) {
        ibex_surface_free(r->surf[k]);
        ibex_specimen_clear(&r->spec[k]);
    }
    free(r->surf);
    free(r->spec);
    memset(r, 0, sizeof *r);
}

/* --lib: the library and its transaction. Commits every COMMIT_SCANS stored scans or
 * COMMIT_SECONDS, as ingest does, so a killed run loses at most that much. */
#define COMMIT_SCANS 2048
#define COMMIT_SECONDS 2.0
typedef struct lib_sink {
    ibex_library *lib;
    const char *path;
    ibex_status st;
    long stored, skipped, commits, pending;
    size_t count;
    double t_commit;
    ibex_specimen *sp;
    const ibex_surface **sf;
    size_t cap;
} lib_sink;

static const char synth_lib_params[] = "preprocess=none\n"; /* as ibex ingest: surfaces as generated */

static ibex_status lib_sink_open(lib_sink *ls, const char *path, int nosync, ibex_diag *d)
{
    ibex_library_opts o;
    ibex_library_opts_init(&o);
    o.params = synth_lib_params;
    o.flags = IBEX_LIBRARY_WRITE | IBEX_LIBRARY_PACKED | (nosync ? IBEX_LIBRARY_NOSYNC : 0);
    ls->path = path;
    signal(SIGXFSZ, SIG_IGN); /* a file-size limit is a write error (EFBIG), rolled back, not death */
    ibex_status st = access(path, F_OK) != 0 ? ibex_library_create(path, &o, &ls->lib, d)
                                             : ibex_library_open(path, &o, &ls->lib, d);
    if (st == IBEX_OK && (st = ibex_library_begin(ls->lib, d)) != IBEX_OK) {
        ibex_library_close(ls->lib, NULL);
        ls->lib = NULL;
    }
    ls->t_commit = ibex__now();
    ls->count = ls->lib ? ibex_library_count(ls->lib) : 0;
    return ls->st = st;
}

/* Adds the scans of n sources (in source order), skipping ids already stored. 0 ok. */
static int lib_sink_put(lib_sink *ls, src_result *res, long n, ibex_diag *d)
{
    size_t total = 0;
    for (long i = 0; i < n; i++) total += res[i].ns;
    if (total > ls->cap) {
        ibex_specimen *sp = realloc(ls->sp, total * sizeof *sp);
        if (sp) ls->sp = sp;
        const ibex_surface **sf = sp ? realloc(ls->sf, total * sizeof *sf) : NULL;
        if (!sf) {
            snprintf(d->file, sizeof d->file, "%.500s", ls->path);
            snprintf(d->message, sizeof d->message, "out of memory");
            ls->st = IBEX_ERR_NOMEM;
            return -1;
        }
        ls->sf = sf;
        ls->cap = total;
    }
    size_t m = 0;
    for (long i = 0; i < n; i++)
        for (size_t k = 0; k < res[i].ns; k++) {
            size_t row;
            if (ibex_library_find_id(ls->lib, res[i].spec[k].id, &row)) {
                ls->skipped++;
                continue;
            }
            ls->sp[m] = res[i].spec[k]; /* shallow: res keeps ownership */
            ls->sf[m++] = res[i].surf[k];
        }
    if (m && (ls->st = ibex_library_add_batch(ls->lib, ls->sp, ls->sf, m, NULL, d)) != IBEX_OK) {
        ls->pending = 0; /* the failed batch rolled the whole transaction back */
        return -1;
    }
    ls->pending += (long)m;
    ls->count = ibex_library_count(ls->lib);
    if (ls->pending >= COMMIT_SCANS || ibex__now() - ls->t_commit >= COMMIT_SECONDS) {
        if ((ls->st = ibex_library_commit(ls->lib, d)) != IBEX_OK) {
            ls->pending = 0;
            return -1;
        }
        ls->stored += ls->pending;
        ls->pending = 0;
        ls->commits++;
        ls->t_commit = ibex__now();
        if ((ls->st = ibex_library_begin(ls->lib, d)) != IBEX_OK) return -1;
    }
    return 0;
}

/* The library writer runs beside the generator: batch k is stored while k+1 is made. */
typedef struct put_job {
    lib_sink *ls;
    src_result *res;
    long n;
    ibex_diag d;
    int rc;
} put_job;

static void *put_thread(void *arg)
{
    put_job *j = arg;
    j->rc = lib_sink_put(j->ls, j->res, j->n, &j->d);
    return NULL;
}

/* Commits what is pending and closes. 0 ok. */
static int lib_sink_close(lib_sink *ls, ibex_diag *d)
{
    int rc = 0;
    if (ls->lib) {
        if (ls->pending) {
            if ((ls->st = ibex_library_commit(ls->lib, d)) == IBEX_OK) {
                ls->stored += ls->pending;
                ls->commits++;
            } else {
                rc = -1;
            }
            ls->pending = 0;
        }
        ls->count = ibex_library_count(ls->lib);
        ibex_status st = ibex_library_close(ls->lib, rc ? NULL : d);
        if (st != IBEX_OK && !rc) {
            ls->st = st;
            rc = -1;
        }
        ls->lib = NULL;
    }
    free(ls->sp);
    free(ls->sf);
    return rc;
}


void ibex_synth_job_init(ibex_synth_job *j)
{
    memset(j, 0, sizeof *j);
    j->struct_size = sizeof *j;
    j->seed = 1;
    j->difficulty = 0.5;
}

void ibex_synth_job_result_init(ibex_synth_job_result *r)
{
    memset(r, 0, sizeof *r);
    r->struct_size = sizeof *r;
}

/* The job's configuration with every default filled in. */
static ibex_status configure(const ibex_synth_job *j, job_cfg *cfg, char *setbuf, size_t setsize,
                             ibex_diag *d)
{
    memset(cfg, 0, sizeof *cfg);
    if ((j->out_dir && *j->out_dir) == (j->library && *j->library))
        return ibex__fail(d, IBEX_ERR_ARG, "", -1, "say either an output directory or a library");
    if (j->lands && (j->lands < 3 || j->lands > 16))
        return ibex__fail(d, IBEX_ERR_ARG, "", -1, "lands must be 3..16, not %d", j->lands);
    if (j->sources < 0 || j->per_source < 0 || !(j->difficulty >= 0 && j->difficulty <= 1))
        return ibex__fail(d, IBEX_ERR_ARG, "", -1, "negative counts or difficulty outside 0..1");
    if (j->set && (!j->set[0] || strpbrk(j->set, "\t\n\r:/")))
        return ibex__fail(d, IBEX_ERR_ARG, "", -1, "bad set name '%.100s' (no tab, ':' or '/')", j->set);
    int bullet = j->bullet != 0;
    cfg->bullet = bullet;
    ibex_synth_opts_init(&cfg->opts);
    cfg->opts.size = j->size;
    cfg->opts.spacing = j->spacing;
    cfg->opts.difficulty = j->difficulty;
    cfg->opts.family_seed = ibex_synth_seed_derive(j->seed, 0xFA);
    cfg->opts.lands = j->lands > 0 ? j->lands : 6;
    cfg->seed = j->seed;
    cfg->out = j->out_dir ? j->out_dir : "";
    cfg->to_lib = j->library != NULL;
    cfg->write_flags = j->no_sync ? IBEX_WRITE_NO_SYNC : 0;
    if (j->set) snprintf(setbuf, setsize, "%s", j->set);
    else snprintf(setbuf, setsize, "synth-s%llu", (unsigned long long)j->seed);
    cfg->set = setbuf;
    cfg->sources = j->sources > 0 ? j->sources : 10;
    cfg->per_source = j->per_source > 0 ? j->per_source : bullet ? 2 : 4;
    cfg->lands = bullet ? cfg->opts.lands : 1;
    cfg->wsrc = digits(cfg->sources) < 2 ? 2 : digits(cfg->sources);
    cfg->wspec = digits(cfg->per_source) < 2 ? 2 : digits(cfg->per_source);
    if (!bullet && cfg->wspec == 2 && cfg->per_source < 10) cfg->wspec = 1;
    /* the generator's own checks, once, before anything is made */
    ibex_status st;
    if (bullet) {
        ibex_synth_barrel *b;
        st = ibex_synth_barrel_create(0, &cfg->opts, &b, d);
        ibex_synth_barrel_free(st ? NULL : b);
    } else {
        ibex_synth_firearm *f;
        st = ibex_synth_firearm_create(0, &cfg->opts, &f, d);
        ibex_synth_firearm_free(st ? NULL : f);
    }
    return st;
}

ibex_status ibex_synth_job_check(const ibex_synth_job *job, ibex_diag *diag)
{
    ibex_synth_job j;
    ibex_synth_job_init(&j);
    if (!job || !ibex__opts_merge(&j, sizeof j, job)) return ibex__opts_refused(diag, "ibex_synth_job");
    job_cfg cfg;
    char set[64];
    return configure(&j, &cfg, set, sizeof set, diag);
}

/* Where the scans go: the manifest being written, or the library sink. */
typedef struct sink {
    lib_sink ls;
    char mpath[4096], tmp[4200];
    FILE *mf;
} sink;

static ibex_status sink_open(sink *k, const ibex_synth_job *j, ibex_diag *d)
{
    if (j->library) return lib_sink_open(&k->ls, j->library, j->no_sync, d);
    if (ibex__make_dirs(j->out_dir))
        return ibex__fail(d, IBEX_ERR_IO, j->out_dir, -1, "cannot make directory: %s", strerror(errno));
    snprintf(k->mpath, sizeof k->mpath, "%s/MANIFEST.tsv", j->out_dir);
    ibex_status st = ibex__atomic_begin(k->mpath, k->tmp, sizeof k->tmp, d);
    if (st) return st;
    if (!(k->mf = fopen(k->tmp, "w"))) {
        ibex__atomic_abort(k->tmp);
        return ibex__fail(d, IBEX_ERR_IO, k->tmp, -1, "cannot write: %s", strerror(errno));
    }
    for (size_t i = 0; i < sizeof manifest_cols / sizeof *manifest_cols; i++)
        fprintf(k->mf, "%s%s", i ? "\t" : "", manifest_cols[i]);
    fputc('\n', k->mf);
    return IBEX_OK;
}

/* Writes one batch's manifest rows (files already written) and frees the batch. */
static ibex_status sink_rows(sink *k, src_result *res, long n, ibex_status st, ibex_diag *d)
{
    for (long i = 0; i < n; i++) {
        if (!st && k->mf && res[i].len && fwrite(res[i].rows, 1, res[i].len, k->mf) != res[i].len)
            st = ibex__fail(d, IBEX_ERR_IO, k->tmp, -1, "write failed");
        src_result_clear(&res[i]);
    }
    return st;
}

/* Closes the sink: the manifest is renamed into place only when everything was written;
 * a library keeps whatever was committed, even after a failure (every row is whole). */
static ibex_status sink_close(sink *k, const ibex_synth_job *j, ibex_status st, ibex_diag *d)
{
    if (j->library) {
        if (lib_sink_close(&k->ls, st ? NULL : d) && !st) st = k->ls.st;
        return st;
    }
    if (k->mf && fclose(k->mf) != 0 && !st) st = ibex__fail(d, IBEX_ERR_IO, k->tmp, -1, "write failed");
    k->mf = NULL;
    if (st) {
        ibex__atomic_abort(k->tmp);
        return st;
    }
    return ibex__atomic_commit_sync(k->tmp, k->mpath, !j->no_sync, d);
}

/* The first failure of a generated batch, if any. */
static ibex_status batch_status(const src_result *res, long n, ibex_diag *d)
{
    for (long i = 0; i < n; i++)
        if (res[i].st) {
            if (d) *d = res[i].diag;
            return res[i].st;
        }
    return IBEX_OK;
}

/* Waits for the library writer of the previous batch and frees that batch. */
static ibex_status join_put(put_job *pj, pthread_t tid, int *running, ibex_status st, ibex_diag *d)
{
    if (!*running) return st;
    pthread_join(tid, NULL);
    *running = 0;
    for (long i = 0; i < pj->n; i++) src_result_clear(&pj->res[i]);
    if (pj->rc && !st) {
        if (d) *d = pj->d;
        st = pj->ls->st ? pj->ls->st : IBEX_ERR_IO;
    }
    return st;
}

ibex_status ibex_synth_job_run(const ibex_synth_job *job, ibex_progress_fn progress, void *user,
                               ibex_synth_job_result *out, ibex_diag *diag)
{
    ibex_synth_job j;
    ibex_synth_job_init(&j);
    if (!job || !ibex__opts_merge(&j, sizeof j, job)) return ibex__opts_refused(diag, "ibex_synth_job");
    job_cfg cfg;
    char set[64];
    ibex_status st = configure(&j, &cfg, set, sizeof set, diag);
    if (st) return st;
    long threads = j.threads;
    if (threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (n > 64 ? 64 : n) : 1;
    }
    long per_batch = threads * 16, total = cfg.sources * cfg.per_source * cfg.lands, done = 0;
    /* Library: about 2,048 scans per batch, so each write and commit is worth its cost. */
    if (j.library) {
        long want = 2048 / (cfg.per_source * cfg.lands);
        if (want > per_batch) per_batch = want;
    }
    sink k;
    memset(&k, 0, sizeof k);
    if ((st = sink_open(&k, &j, diag))) return st;
    double t0 = ibex__now(), eta_t0 = t0;
    src_result *resbuf = calloc(2 * (size_t)per_batch, sizeof *resbuf);
    pthread_t *tid = calloc((size_t)threads, sizeof *tid);
    if (!resbuf || !tid) st = ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    put_job pj;
    memset(&pj, 0, sizeof pj);
    pthread_t put_tid;
    int put_running = 0;
    if (!st && progress && progress(user, "scans", 0, (size_t)total, -1))
        st = ibex__fail(diag, IBEX_ERR_CANCELLED, "", -1, "cancelled");
    long nbatch = 0;
    for (long first = 0; !st && first < cfg.sources; first += per_batch, nbatch++) {
        src_result *res = resbuf + (nbatch % 2) * per_batch;
        batch b = {&cfg, first, cfg.sources - first < per_batch ? cfg.sources - first : per_batch,
                   res, 0, PTHREAD_MUTEX_INITIALIZER};
        long nt = threads < b.count ? threads : b.count, started = 0;
        for (long t = 1; t < nt; t++)
            if (pthread_create(&tid[t], NULL, worker, &b) == 0) started = t;
            else break;
        worker(&b);
        for (long t = 1; t <= started; t++) pthread_join(tid[t], NULL);
        st = join_put(&pj, put_tid, &put_running, st, diag); /* the previous batch's write */
        if (!st) st = batch_status(res, b.count, diag);
        if (!st && j.library) {
            pj.ls = &k.ls;
            pj.res = res;
            pj.n = b.count;
            memset(&pj.d, 0, sizeof pj.d);
            if (pthread_create(&put_tid, NULL, put_thread, &pj) == 0) {
                put_running = 1;
            } else {
                put_thread(&pj);
                put_running = 1;
                st = join_put(&pj, put_tid, &put_running, st, diag);
            }
        } else {
            st = sink_rows(&k, res, b.count, st, diag);
        }
        done += b.count * cfg.per_source * cfg.lands;
        double el = ibex__now() - eta_t0;
        if (!st && progress && progress(user, "scans", (size_t)done, (size_t)total,
                                        done ? el / (double)done * (double)(total - done) : -1))
            st = ibex__fail(diag, IBEX_ERR_CANCELLED, "", -1, "cancelled after %ld of %ld scans", done, total);
    }
    st = join_put(&pj, put_tid, &put_running, st, diag);
    for (long i = 0; resbuf && i < 2 * per_batch; i++) src_result_clear(&resbuf[i]);
    free(resbuf);
    free(tid);
    st = sink_close(&k, &j, st, diag);
    if (st) return st;
    if (out && out->struct_size >= sizeof out->struct_size) {
        ibex_synth_job_result r;
        ibex_synth_job_result_init(&r);
        r.scans = total;
        r.sources = cfg.sources;
        r.per_source = cfg.per_source;
        r.lands = cfg.lands;
        snprintf(r.set, sizeof r.set, "%s", set);
        snprintf(r.manifest, sizeof r.manifest, "%s", k.mpath);
        r.stored = k.ls.stored;
        r.skipped_existing = k.ls.skipped;
        r.commits = k.ls.commits;
        r.library_specimens = k.ls.count;
        r.threads = (unsigned)threads;
        r.seconds = ibex__now() - t0;
        size_t n = out->struct_size < sizeof r ? out->struct_size : sizeof r;
        r.struct_size = out->struct_size;
        memcpy(out, &r, n);
    }
    return IBEX_OK;
}
