/* ibex synth: seeded synthetic cartridge cases and bullets with ground truth, written as
 * X3P files plus a MANIFEST.tsv in the format of the real data sets, or stored straight
 * into a reference library (--lib) with the rows ingest would make from that manifest. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "atomic_file.h"
#include "cli.h"
#include "ibex/synth.h"

/* Columns of ../shared/datasets/real/MANIFEST.tsv, in order. */
static const char *const manifest_cols[] = {
    "relative_path", "kind", "set", "firearm_id", "specimen_id", "source_repo", "commit",
    "source_path", "license", "size_bytes", "sha256", "role", "same_source_key", "notes"};

static void help(void)
{
    printf(
        "Usage: ibex synth cartridge --out DIR|--lib LIB.h5 [--firearms F] [--per-firearm K]\n"
        "                            [OPTIONS]\n"
        "       ibex synth bullet --out DIR|--lib LIB.h5 [--barrels B] [--bullets-per-barrel K]\n"
        "                         [--lands L] [OPTIONS]\n\n"
        "Generate seeded synthetic toolmark scans with known ground truth: breech faces of\n"
        "cartridge cases fired in F firearms (K each), or the L land scans of K bullets fired\n"
        "in each of B barrels. Writes one X3P file per scan under DIR and DIR/MANIFEST.tsv with\n"
        "the columns of the real data sets' manifest (same_source_key = firearm for\n"
        "cartridges, barrel land for bullets). The same seed and options give byte-identical\n"
        "files, whatever the thread count.\n\n"
        "  --out DIR               output directory (made if missing)\n"
        "  --lib LIB.h5            instead of files: store the scans straight into a reference\n"
        "                          library (created when missing, packed layout), with the rows\n"
        "                          'ibex ingest --manifest' would make (id SET:SPECIMEN, set,\n"
        "                          firearm_id, same_source_key, metadata); sha256 = SHA-256 of\n"
        "                          the surface's bytes (docs/reference/library-format.md). Journaled\n"
        "                          commits every few thousand scans: a killed run keeps every\n"
        "                          committed scan, and a rerun skips the ids already stored\n"
        "  --seed S                set seed, decimal or 0x hex (default 1)\n"
        "  --firearms F            cartridge: firearms (default 10)\n"
        "  --per-firearm K         cartridge: casings per firearm (default 4)\n"
        "  --barrels B             bullet: barrels (default 10)\n"
        "  --bullets-per-barrel K  bullet: bullets per barrel (default 2)\n"
        "  --lands L               bullet: lands per barrel, 3..16 (default 6)\n"
        "  --size N                cartridge: N x N points (default 500); bullet: N points\n"
        "                          along the land (default 400)\n"
        "  --spacing M             metres per point (default: a 3.125 mm cartridge field or a\n"
        "                          0.625 mm land length divided by N: 6.25e-6 / 1.5625e-6)\n"
        "  --difficulty D          0 (easy) .. 1 (hard), default 0.5\n"
        "  --set NAME              set name in the manifest and keys (default synth-sSEED)\n"
        "  --format x3p            output format (only x3p)\n"
        "  --threads N             worker threads (default: online CPUs)\n"
        "  --no-sync               skip fsync per file (never partial files, but not durable\n"
        "                          on power loss): much faster for large sets\n"
        "  --json                  print a JSON summary on stdout\n"
        "  -h, --help              this text\n\n"
        "Exit status: 0 written, 1 generation or writing failed, 2 usage error.\n");
}

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

/* SHA-256 (hex) and size of a file. */
static int file_digest(const char *path, char hex[65], long long *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    unsigned char buf[65536], md[32];
    unsigned mdlen = 0;
    long long total = 0;
    size_t n;
    while (ok && (n = fread(buf, 1, sizeof buf, f)) > 0) {
        ok = EVP_DigestUpdate(ctx, buf, n);
        total += (long long)n;
    }
    ok = ok && !ferror(f) && EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen == 32;
    EVP_MD_CTX_free(ctx);
    fclose(f);
    if (!ok) return -1;
    for (int i = 0; i < 32; i++) sprintf(hex + 2 * i, "%02x", md[i]);
    *size = total;
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

static ibex_status run_firearm(const job_cfg *c, long fi, src_result *r)
{
    uint64_t root = ibex_synth_seed_derive(c->seed, 1);
    uint64_t fseed = ibex_synth_seed_derive(root, (uint64_t)fi);
    ibex_synth_firearm *f;
    ibex_status st = ibex_synth_firearm_create(fseed, &c->opts, &f, &r->diag);
    if (st) return st;
    char id[32], dir[64];
    snprintf(id, sizeof id, "F%0*ld", c->wsrc, fi + 1);
    snprintf(dir, sizeof dir, "%s", id);
    char dpath[4096];
    snprintf(dpath, sizeof dpath, "%s/%s", c->out, dir);
    if (!c->to_lib && cli_make_dirs(dpath)) {
        ibex_synth_firearm_free(f);
        snprintf(r->diag.file, sizeof r->diag.file, "%.500s", dpath);
        snprintf(r->diag.message, sizeof r->diag.message, "cannot make directory: %s",
                 strerror(errno));
        return IBEX_ERR_IO;
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
        st = emit(c, r, s, dir, file, id, spec, id, recipe, notes);
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
    char id[32], dpath[4096];
    snprintf(id, sizeof id, "B%0*ld", c->wsrc, bi + 1);
    snprintf(dpath, sizeof dpath, "%s/%s", c->out, id);
    if (!c->to_lib && cli_make_dirs(dpath)) {
        ibex_synth_barrel_free(b);
        snprintf(r->diag.file, sizeof r->diag.file, "%.500s", dpath);
        snprintf(r->diag.message, sizeof r->diag.message, "cannot make directory: %s",
                 strerror(errno));
        return IBEX_ERR_IO;
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

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *e;
    errno = 0;
    long v = strtol(s, &e, 10);
    if (errno || e == s || *e || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double *out)
{
    char *e;
    errno = 0;
    double v = strtod(s, &e);
    if (errno || e == s || *e || !isfinite(v)) return -1;
    *out = v;
    return 0;
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
    ls->t_commit = cli_now();
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
    if (ls->pending >= COMMIT_SCANS || cli_now() - ls->t_commit >= COMMIT_SECONDS) {
        if ((ls->st = ibex_library_commit(ls->lib, d)) != IBEX_OK) {
            ls->pending = 0;
            return -1;
        }
        ls->stored += ls->pending;
        ls->pending = 0;
        ls->commits++;
        ls->t_commit = cli_now();
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

enum { O_FIREARMS = 256, O_PER, O_BARRELS, O_BULLETS, O_LANDS, O_SEED, O_OUT, O_SPACING,
       O_SIZE, O_DIFF, O_FORMAT, O_SET, O_THREADS, O_JSON, O_NOSYNC, O_LIB };

int cmd_synth(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"firearms", required_argument, 0, O_FIREARMS},
        {"per-firearm", required_argument, 0, O_PER},
        {"barrels", required_argument, 0, O_BARRELS},
        {"bullets-per-barrel", required_argument, 0, O_BULLETS},
        {"lands", required_argument, 0, O_LANDS},
        {"seed", required_argument, 0, O_SEED},
        {"out", required_argument, 0, O_OUT},
        {"spacing", required_argument, 0, O_SPACING},
        {"size", required_argument, 0, O_SIZE},
        {"difficulty", required_argument, 0, O_DIFF},
        {"format", required_argument, 0, O_FORMAT},
        {"set", required_argument, 0, O_SET},
        {"threads", required_argument, 0, O_THREADS},
        {"json", no_argument, 0, O_JSON},
        {"no-sync", no_argument, 0, O_NOSYNC},
        {"lib", required_argument, 0, O_LIB},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    long firearms = -1, per = -1, barrels = -1, bullets = -1, lands = -1, size = 0, threads = 0;
    double spacing = 0, diff = 0.5;
    unsigned long long seed = 1;
    const char *out = NULL, *set = NULL, *libpath = NULL;
    int json = 0, nosync = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
        const char *a = optarg;
        switch (c) {
        case 'h': help(); return EXIT_OK;
        case O_FIREARMS:
            if (parse_long(a, 1, 100000000, &firearms)) return cli_usage_error("bad --firearms '%s'", a);
            break;
        case O_PER:
            if (parse_long(a, 1, 100000, &per)) return cli_usage_error("bad --per-firearm '%s'", a);
            break;
        case O_BARRELS:
            if (parse_long(a, 1, 100000000, &barrels)) return cli_usage_error("bad --barrels '%s'", a);
            break;
        case O_BULLETS:
            if (parse_long(a, 1, 100000, &bullets))
                return cli_usage_error("bad --bullets-per-barrel '%s'", a);
            break;
        case O_LANDS:
            if (parse_long(a, 3, 16, &lands)) return cli_usage_error("--lands must be 3..16, not '%s'", a);
            break;
        case O_SEED: {
            char *e;
            errno = 0;
            int hex = a[0] == '0' && (a[1] == 'x' || a[1] == 'X');
            seed = strtoull(a, &e, hex ? 16 : 10); /* decimal, or 0x hex (never octal) */
            if (errno || e == a || *e || a[0] == '-') return cli_usage_error("bad --seed '%s'", a);
            break;
        }
        case O_OUT: out = a; break;
        case O_SPACING:
            if (parse_double(a, &spacing) || !(spacing >= 1e-8 && spacing <= 1e-4))
                return cli_usage_error("--spacing must be metres in 1e-8..1e-4, not '%s'", a);
            break;
        case O_SIZE:
            if (parse_long(a, 16, 8192, &size)) return cli_usage_error("--size must be 16..8192, not '%s'", a);
            break;
        case O_DIFF:
            if (parse_double(a, &diff) || diff < 0 || diff > 1)
                return cli_usage_error("--difficulty must be 0..1, not '%s'", a);
            break;
        case O_FORMAT:
            if (strcmp(a, "x3p") != 0) return cli_usage_error("--format: only x3p is supported, not '%s'", a);
            break;
        case O_SET:
            if (!a[0] || strpbrk(a, "\t\n\r:/")) return cli_usage_error("bad --set '%s' (no tab, ':' or '/')", a);
            set = a;
            break;
        case O_THREADS:
            if (parse_long(a, 1, 256, &threads)) return cli_usage_error("--threads must be 1..256, not '%s'", a);
            break;
        case O_JSON: json = 1; break;
        case O_NOSYNC: nosync = 1; break;
        case O_LIB: libpath = a; break;
        default: return cli_usage_error("unknown option");
        }
    }
    if (optind >= argc) return cli_usage_error("say 'cartridge' or 'bullet'");
    if (optind + 1 < argc) return cli_usage_error("unexpected argument '%s'", argv[optind + 1]);
    const char *kind = argv[optind];
    int bullet;
    if (!strcmp(kind, "cartridge")) bullet = 0;
    else if (!strcmp(kind, "bullet")) bullet = 1;
    else return cli_usage_error("unknown kind '%s' (cartridge or bullet)", kind);
    if (!bullet && (barrels >= 0 || bullets >= 0 || lands >= 0))
        return cli_usage_error("--barrels, --bullets-per-barrel and --lands are for bullets");
    if (bullet && (firearms >= 0 || per >= 0))
        return cli_usage_error("--firearms and --per-firearm are for cartridges");
    if (out && libpath) return cli_usage_error("--out and --lib exclude each other");
    if (!out && !libpath) return cli_usage_error("--out DIR or --lib LIB.h5 is required");

    job_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.bullet = bullet;
    ibex_synth_opts_init(&cfg.opts);
    cfg.opts.size = (size_t)size;
    cfg.opts.spacing = spacing;
    cfg.opts.difficulty = diff;
    cfg.opts.family_seed = ibex_synth_seed_derive(seed, 0xFA);
    cfg.opts.lands = lands > 0 ? (int)lands : 6;
    cfg.seed = seed;
    cfg.out = out ? out : "";
    cfg.to_lib = libpath != NULL;
    cfg.write_flags = nosync ? IBEX_WRITE_NO_SYNC : 0;
    char setbuf[64];
    if (!set) {
        snprintf(setbuf, sizeof setbuf, "synth-s%llu", seed);
        set = setbuf;
    }
    cfg.set = set;
    cfg.sources = bullet ? (barrels > 0 ? barrels : 10) : (firearms > 0 ? firearms : 10);
    cfg.per_source = bullet ? (bullets > 0 ? bullets : 2) : (per > 0 ? per : 4);
    cfg.lands = bullet ? cfg.opts.lands : 1;
    cfg.wsrc = digits(cfg.sources) < 2 ? 2 : digits(cfg.sources);
    cfg.wspec = digits(cfg.per_source) < 2 ? 2 : digits(cfg.per_source);
    if (!bullet && cfg.wspec == 2 && cfg.per_source < 10) cfg.wspec = 1;

    /* Check the options once before making anything. */
    {
        ibex_diag d;
        ibex_status st;
        if (bullet) {
            ibex_synth_barrel *b;
            st = ibex_synth_barrel_create(0, &cfg.opts, &b, &d);
            ibex_synth_barrel_free(st ? NULL : b);
        } else {
            ibex_synth_firearm *f;
            st = ibex_synth_firearm_create(0, &cfg.opts, &f, &d);
            ibex_synth_firearm_free(st ? NULL : f);
        }
        if (st) return cli_usage_error("%s", d.message);
    }
    ibex_diag d;
    memset(&d, 0, sizeof d);
    ibex_status st = IBEX_OK;
    char mpath[4096] = "", tmp[4200] = "";
    FILE *mf = NULL;
    lib_sink ls;
    memset(&ls, 0, sizeof ls);
    if (libpath) {
        if ((st = lib_sink_open(&ls, libpath, nosync, &d))) return cli_fail_status(st, &d);
    } else {
        if (cli_make_dirs(out)) {
            cli_error("%s: cannot make directory: %s", out, strerror(errno));
            return EXIT_REFUSED;
        }
        snprintf(mpath, sizeof mpath, "%s/MANIFEST.tsv", out);
        st = ibex__atomic_begin(mpath, tmp, sizeof tmp, &d);
        if (st) return cli_fail_status(st, &d);
        mf = fopen(tmp, "w");
        if (!mf) {
            ibex__atomic_abort(tmp);
            cli_error("%s: cannot write: %s", tmp, strerror(errno));
            return EXIT_REFUSED;
        }
        for (size_t i = 0; i < sizeof manifest_cols / sizeof *manifest_cols; i++)
            fprintf(mf, "%s%s", i ? "\t" : "", manifest_cols[i]);
        fputc('\n', mf);
    }

    if (threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (n > 64 ? 64 : n) : 1;
    }
    long per_batch = threads * 16, total = cfg.sources * cfg.per_source * cfg.lands, done = 0;
    /* Library: about 2,048 scans per batch, so each write and commit is worth its cost. */
    if (libpath) {
        long want = 2048 / (cfg.per_source * cfg.lands);
        if (want > per_batch) per_batch = want;
    }
    int tty = cli_isatty_err(), rc = EXIT_OK;
    double t0 = cli_now(), last = t0;
    src_result *resbuf = calloc(2 * (size_t)per_batch, sizeof *resbuf);
    pthread_t *tid = calloc((size_t)threads, sizeof *tid);
    if (!resbuf || !tid) {
        cli_error("out of memory");
        rc = EXIT_REFUSED;
    }
    put_job pj;
    memset(&pj, 0, sizeof pj);
    pthread_t put_tid;
    int put_running = 0;
    long nbatch = 0;
    for (long first = 0; rc == EXIT_OK && first < cfg.sources; first += per_batch, nbatch++) {
        src_result *res = resbuf + (nbatch % 2) * per_batch;
        batch b = {&cfg, first, cfg.sources - first < per_batch ? cfg.sources - first : per_batch,
                   res, 0, PTHREAD_MUTEX_INITIALIZER};
        long nt = threads < b.count ? threads : b.count, started = 0;
        for (long t = 1; t < nt; t++)
            if (pthread_create(&tid[t], NULL, worker, &b) == 0) started = t;
            else break;
        worker(&b);
        for (long t = 1; t <= started; t++) pthread_join(tid[t], NULL);
        if (put_running) { /* the previous batch's write */
            pthread_join(put_tid, NULL);
            put_running = 0;
            for (long i = 0; i < pj.n; i++) src_result_clear(&pj.res[i]);
            if (pj.rc) rc = cli_fail_status(ls.st, &pj.d);
        }
        for (long i = 0; i < b.count; i++)
            if (rc == EXIT_OK && res[i].st) rc = cli_fail_status(res[i].st, &res[i].diag);
        if (rc == EXIT_OK && libpath) {
            pj.ls = &ls;
            pj.res = res;
            pj.n = b.count;
            memset(&pj.d, 0, sizeof pj.d);
            if (pthread_create(&put_tid, NULL, put_thread, &pj) == 0) {
                put_running = 1;
            } else {
                put_thread(&pj);
                for (long i = 0; i < pj.n; i++) src_result_clear(&pj.res[i]);
                if (pj.rc) rc = cli_fail_status(ls.st, &pj.d);
            }
        } else {
            for (long i = 0; i < b.count; i++) {
                if (rc == EXIT_OK && mf && res[i].len && fwrite(res[i].rows, 1, res[i].len, mf) != res[i].len) {
                    cli_error("%s: write failed", tmp);
                    rc = EXIT_REFUSED;
                }
                src_result_clear(&res[i]);
            }
        }
        done += b.count * cfg.per_source * cfg.lands;
        double t = cli_now();
        if (tty && (t - last > 0.2 || done == total)) {
            fprintf(stderr, "\r%s: %ld/%ld scans", cli_prog, done, total);
            last = t;
        }
    }
    if (put_running) {
        pthread_join(put_tid, NULL);
        for (long i = 0; i < pj.n; i++) src_result_clear(&pj.res[i]);
        if (pj.rc && rc == EXIT_OK) rc = cli_fail_status(ls.st, &pj.d);
    }
    for (long i = 0; resbuf && i < 2 * per_batch; i++) src_result_clear(&resbuf[i]);
    if (tty && total > 0) fputc('\n', stderr);
    free(resbuf);
    free(tid);
    if (libpath) {
        /* Whatever was committed stays, even after a failure (every row is whole). */
        if (lib_sink_close(&ls, &d) && rc == EXIT_OK) rc = cli_fail_status(ls.st, &d);
        if (rc != EXIT_OK) return rc;
    } else {
        if (fclose(mf) != 0 && rc == EXIT_OK) {
            cli_error("%s: write failed", tmp);
            rc = EXIT_REFUSED;
        }
        if (rc != EXIT_OK) {
            ibex__atomic_abort(tmp);
            return rc;
        }
        if ((st = ibex__atomic_commit_sync(tmp, mpath, !nosync, &d))) return cli_fail_status(st, &d);
    }
    double secs = cli_now() - t0;
    if (json) {
        json_t *o = json_object();
        json_object_set_new(o, "kind", json_string(kind));
        json_object_set_new(o, "set", json_string(set));
        if (libpath) {
            json_object_set_new(o, "library", json_string(libpath));
            json_object_set_new(o, "stored", json_integer(ls.stored));
            json_object_set_new(o, "skipped_existing", json_integer(ls.skipped));
            json_object_set_new(o, "library_specimens", json_integer((json_int_t)ls.count));
            json_object_set_new(o, "commits", json_integer(ls.commits));
        } else {
            json_object_set_new(o, "out", json_string(out));
            json_object_set_new(o, "manifest", json_string(mpath));
        }
        char sbuf[32];
        snprintf(sbuf, sizeof sbuf, "%llu", seed);
        json_object_set_new(o, "seed", seed <= (unsigned long long)INT64_MAX
                                           ? json_integer((json_int_t)seed) : json_string(sbuf));
        json_object_set_new(o, bullet ? "barrels" : "firearms", json_integer(cfg.sources));
        json_object_set_new(o, bullet ? "bullets_per_barrel" : "per_firearm",
                            json_integer(cfg.per_source));
        if (bullet) json_object_set_new(o, "lands", json_integer(cfg.lands));
        json_object_set_new(o, "scans", json_integer(total));
        json_object_set_new(o, "difficulty", json_real(diff));
        json_object_set_new(o, "size", size > 0 ? json_integer(size) : json_null());
        json_object_set_new(o, "spacing_m", spacing > 0 ? json_real(spacing) : json_null());
        json_object_set_new(o, "threads", json_integer(threads));
        json_object_set_new(o, "seconds", json_real(secs));
        json_object_set_new(o, "scans_per_second", json_real(secs > 0 ? total / secs : 0));
        char *s = json_dumps(o, JSON_INDENT(2));
        if (s) puts(s);
        free(s);
        json_decref(o);
    } else if (libpath) {
        printf("stored %ld %s scans (%ld %s; %ld already present) in %s (%zu specimens), %.2f s (%.0f scans/s), "
               "%ld commits\n",
               ls.stored, bullet ? "land" : "breech-face", cfg.sources, bullet ? "barrels" : "firearms", ls.skipped,
               libpath, ls.count, secs, secs > 0 ? total / secs : 0.0, ls.commits);
    } else {
        printf("wrote %ld %s scans (%ld %s) to %s, manifest %s, in %.2f s (%.0f scans/s)\n",
               total, bullet ? "land" : "breech-face", cfg.sources,
               bullet ? "barrels" : "firearms", out, mpath, secs, secs > 0 ? total / secs : 0.0);
    }
    return EXIT_OK;
}
