/* ibex ingest: add scans to an HDF5 reference library.
 * Worker threads hash, read and preprocess files; the main thread alone talks to HDF5,
 * adding results in input order and committing in small batches. A line is printed
 * (and flushed) for a specimen only after the commit that stored it returned. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "ibex/library.h"

/* Preprocessing parameters the library records. ibex ingest stores surfaces as read;
 * ibex query prepares both sides of a comparison at query time, as ibex compare does.
 * A program with its own preprocessing names its options here and passes its function
 * as opts.preprocess. */
static const char ingest_params[] = "preprocess=none\n";

#define BATCH_MAX 16

typedef struct item {
    char *path;
    char *id;
    char *kind, *set, *firearm_id, *specimen_id, *same_source_key;
    /* filled by a worker */
    int done;
    int dup;          /* content hash already in the library */
    size_t dup_row;
    ibex_status st;
    ibex_diag diag;
    char sha[65];
    ibex_surface *surf;
} item;

typedef struct job {
    item *items;
    size_t n;
    size_t next;      /* next item a worker takes */
    size_t consumed;  /* items the main thread has taken */
    size_t window;    /* how far workers may run ahead of the consumer */
    int stop;
    ibex_library *lib;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} job;

static void help(void)
{
    printf("Usage: ibex ingest [OPTIONS] LIB.h5 FILE|DIR...\n"
           "       ibex ingest [OPTIONS] LIB.h5 --manifest MANIFEST.tsv\n\n"
           "Add scans to a reference library (created when missing). A directory stands for every\n"
           ".x3p/.png below it. Files already in the library (same SHA-256) are skipped. Crash-safe:\n"
           "a line is printed for a specimen only once it is committed, and a killed ingest\n"
           "leaves the library as of its last commit.\n\n"
           "  --kind cartridge|bullet  specimen kind (with --manifest: only rows of that kind);\n"
           "                           default: the scan's metadata, else an elongated grid\n"
           "                           means a bullet land, any other a cartridge case\n"
           "  --meta KEY=VALUE         metadata for every file (repeatable); keys: the OpenFMC /\n"
           "                           ISO 25178-72 fields of 'ibex info' (agency, case_number,\n"
           "                           firearm_make, firearm_model, firearm_serial, calibre,\n"
           "                           specimen_id, region, ...) and set, firearm_id, same_source_key\n"
           "  --manifest FILE          TSV with columns relative_path, kind, set, firearm_id,\n"
           "                           specimen_id, same_source_key (paths relative to its folder)\n"
           "  --jobs N                 reading threads (default: number of CPUs)\n"
           "  --no-sync                skip fsync (still safe if killed, not on power loss)\n"
           "  --json                   JSON lines: one object per specimen, then a summary\n"
           "  -h, --help               this text\n\n"
           "Output: 'stored ROW ID SHA256 FILE' per committed specimen, 'skipped ...' per duplicate,\n"
           "then a summary line. Exit status: 0 all files stored or skipped, 1 some file refused or\n"
           "the library could not be written (each named on stderr), 2 usage error.\n");
}

static void item_free(item *it)
{
    free(it->path);
    free(it->id);
    free(it->kind);
    free(it->set);
    free(it->firearm_id);
    free(it->specimen_id);
    free(it->same_source_key);
    ibex_surface_free(it->surf);
}

static char *xstrdup(const char *s)
{
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) {
        fprintf(stderr, "out of memory\n");
        exit(EXIT_REFUSED);
    }
    return d;
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
        item *it = &j->items[j->next++];
        pthread_mutex_unlock(&j->mu);

        ibex_diag_clear(&it->diag);
        it->st = ibex_file_sha256(it->path, it->sha, &it->diag);
        if (it->st == IBEX_OK) {
            it->dup = ibex_library_find_hash(j->lib, it->sha, &it->dup_row);
        }
        if (it->st == IBEX_OK && !it->dup) {
            ibex_surface *raw = NULL;
            it->st = ibex_surface_read(it->path, 0, &raw, &it->diag);
            if (it->st == IBEX_OK) {
                it->st = ibex_library_prepare(j->lib, raw, &it->surf, &it->diag);
                ibex_surface_free(raw);
            }
        }
        pthread_mutex_lock(&j->mu);
        it->done = 1;
        pthread_cond_broadcast(&j->cv);
        pthread_mutex_unlock(&j->mu);
    }
}

/* ---- operands and manifest ---- */

typedef struct list {
    item *v;
    size_t n, cap;
} list;

static item *push(list *l)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        item *nv = realloc(l->v, l->cap * sizeof *nv);
        if (!nv) {
            fprintf(stderr, "out of memory\n");
            exit(EXIT_REFUSED);
        }
        l->v = nv;
    }
    item *it = &l->v[l->n++];
    memset(it, 0, sizeof *it);
    return it;
}

static int has_scan_ext(const char *p)
{
    size_t n = strlen(p);
    return n > 4 && (!strcasecmp(p + n - 4, ".x3p") || !strcasecmp(p + n - 4, ".png"));
}

static char *strip_ext(const char *p)
{
    char *s = xstrdup(p);
    char *dot = strrchr(s, '.'), *slash = strrchr(s, '/');
    if (dot && (!slash || dot > slash)) *dot = 0;
    return s;
}

static int add_operand(list *l, char *op)
{
    struct stat st;
    if (stat(op, &st) != 0) {
        cli_error("%s: %s", op, strerror(errno));
        return -1;
    }
    char **files;
    size_t n;
    if (cli_collect_scans(&op, 1, &files, &n) != 0) return -1;
    size_t plen = strlen(op);
    while (plen > 1 && op[plen - 1] == '/') plen--;
    for (size_t i = 0; i < n; i++) {
        item *it = push(l);
        it->path = xstrdup(files[i]);
        /* Id: path below the operand directory, or the file's base name, without extension. */
        const char *rel = files[i];
        if (S_ISDIR(st.st_mode) && !strncmp(rel, op, plen) && rel[plen] == '/') rel += plen + 1;
        else if (!S_ISDIR(st.st_mode) && strrchr(rel, '/')) rel = strrchr(rel, '/') + 1;
        it->id = strip_ext(rel);
    }
    cli_free_list(files);
    return 0;
}

static int read_manifest(list *l, const char *path, const char *want_kind)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        cli_error("%s: %s", path, strerror(errno));
        return -1;
    }
    char *dir = xstrdup(path);
    char *sl = strrchr(dir, '/');
    if (sl) sl[1] = 0;
    else dir[0] = 0;
    enum { REL, KIND, SET, FIREARM, SPEC, SSK, NC };
    static const char *names[NC] = {"relative_path", "kind", "set", "firearm_id", "specimen_id", "same_source_key"};
    int col[NC];
    for (int k = 0; k < NC; k++) col[k] = -1;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    int rc = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        char *fields[64];
        int nf = 0;
        for (char *p = line;;) {
            if (nf < 64) fields[nf++] = p;
            char *t = strchr(p, '\t');
            if (!t) break;
            *t = 0;
            p = t + 1;
        }
        if (lineno == 1) {
            for (int i = 0; i < nf; i++)
                for (int k = 0; k < NC; k++)
                    if (!strcmp(fields[i], names[k])) col[k] = i;
            if (col[REL] < 0) {
                cli_error("%s: line 1: no relative_path column (not a manifest)", path);
                rc = -1;
                break;
            }
            continue;
        }
        if (len == 0) continue;
        if (col[REL] >= nf) {
            cli_error("%s: line %ld: missing relative_path", path, lineno);
            rc = -1;
            break;
        }
        const char *rel = fields[col[REL]];
        if (!has_scan_ext(rel)) continue; /* ground-truth tables and notes */
#define F_(k) (col[k] >= 0 && col[k] < nf && fields[col[k]][0] ? fields[col[k]] : NULL)
        const char *row_kind = F_(KIND);
        if (want_kind && (!row_kind || strcmp(row_kind, want_kind) != 0)) continue;
        item *it = push(l);
        size_t pl = strlen(dir) + strlen(rel) + 1;
        it->path = malloc(pl);
        if (!it->path) exit(EXIT_REFUSED);
        snprintf(it->path, pl, "%s%s", rel[0] == '/' ? "" : dir, rel);
        it->kind = xstrdup(F_(KIND));
        it->set = xstrdup(F_(SET));
        it->firearm_id = xstrdup(F_(FIREARM));
        it->specimen_id = xstrdup(F_(SPEC));
        it->same_source_key = xstrdup(F_(SSK));
        /* Specimen ids repeat across sets (Hamby "Bullet 1 Land 1"): prefix the set. */
        if (it->specimen_id) {
            size_t n = strlen(it->specimen_id) + (it->set ? strlen(it->set) + 1 : 0) + 1;
            it->id = malloc(n);
            if (!it->id) exit(EXIT_REFUSED);
            snprintf(it->id, n, "%s%s%s", it->set ? it->set : "", it->set ? ":" : "", it->specimen_id);
        } else {
            it->id = strip_ext(rel);
        }
#undef F_
    }
    free(line);
    free(dir);
    fclose(f);
    return rc;
}

/* ---- output ---- */

static int progress_shown; /* a bar is on the terminal: clear it before other output */

static void progress(size_t done, size_t n, const char *what)
{
    int w = 30, k = n ? (int)(w * done / n) : w;
    progress_shown = 1;
    fprintf(stderr, "\r[%.*s%*s] %zu/%zu %-40.40s", k, "##############################", w - k, "", done, n,
            what ? what : "");
    fflush(stderr);
}

static void emit(int json, const char *event, size_t row, const item *it, const char *why)
{
    if (progress_shown) {
        fputs("\r\033[K", stderr);
        progress_shown = 0;
    }
    if (json) {
        json_t *o = json_object();
        json_object_set_new(o, "event", json_string(event));
        if (row != (size_t)-1) json_object_set_new(o, "row", json_integer((json_int_t)row));
        json_object_set_new(o, "id", json_string(it->id));
        json_object_set_new(o, "file", json_string(it->path));
        if (it->sha[0]) json_object_set_new(o, "sha256", json_string(it->sha));
        if (why) json_object_set_new(o, "reason", json_string(why));
        json_dumpf(o, stdout, JSON_COMPACT);
        json_decref(o);
        putchar('\n');
    } else if (why) {
        printf("%s\t%zu\t%s\t%s\t%s\n", event, row, it->id, it->path, why);
    } else {
        printf("%s\t%zu\t%s\t%s\t%s\n", event, row, it->id, it->sha, it->path);
    }
    fflush(stdout);
}

static const char *extra_keys[] = {"set", "firearm_id", "same_source_key", "id", "kind", NULL};

static int meta_key_ok(const char *k)
{
    for (size_t i = 0; i < ibex_meta_count(); i++)
        if (!strcmp(ibex_meta_key(i), k)) return 1;
    for (int i = 0; extra_keys[i]; i++)
        if (!strcmp(extra_keys[i], k)) return 1;
    return 0;
}

/* Builds the row: file metadata, then manifest columns, then --meta (last wins). */
static int build_spec(ibex_specimen *sp, item *it, const char *kind_opt, char **meta, int n_meta)
{
    memset(sp, 0, sizeof sp[0]);
    if (ibex_meta_copy(&sp->meta, &it->surf->meta) != IBEX_OK) return -1;
    sp->id = it->id;
    sp->source_path = it->path;
    memcpy(sp->sha256, it->sha, sizeof sp->sha256);
    sp->set = it->set;
    sp->firearm_id = it->firearm_id;
    sp->same_source_key = it->same_source_key;
    const char *kind = kind_opt ? kind_opt : it->kind ? it->kind : sp->meta.specimen_kind;
    if (it->specimen_id) ibex_meta_set(&sp->meta, "specimen_id", it->specimen_id);
    for (int i = 0; i < n_meta; i++) {
        char *eq = strchr(meta[i], '=');
        *eq = 0;
        const char *k = meta[i], *v = eq + 1;
        if (!strcmp(k, "set")) sp->set = (char *)v;
        else if (!strcmp(k, "firearm_id")) sp->firearm_id = (char *)v;
        else if (!strcmp(k, "same_source_key")) sp->same_source_key = (char *)v;
        else if (!strcmp(k, "id")) sp->id = (char *)v;
        else if (!strcmp(k, "kind")) kind = v;
        else ibex_meta_set(&sp->meta, k, v);
        *eq = '=';
    }
    sp->kind = (char *)(kind ? kind : cli_scan_kind(it->surf));
    ibex_meta_set(&sp->meta, "specimen_kind", sp->kind);
    const char *region = sp->meta.region;
    if (!region) region = !strcmp(sp->kind, "cartridge") ? "breech-face" : !strcmp(sp->kind, "bullet") ? "land" : "";
    sp->region = (char *)region;
    return 0;
}

typedef struct batch {
    ibex_library *lib;
    item *items;
    int json;
    size_t rows[BATCH_MAX], idx[BATCH_MAX], n, stored;
    time_t t0;
} batch;

/* Commits the open transaction, then (only then) reports its specimens as stored. */
static int batch_commit(batch *b, int tty)
{
    ibex_diag d;
    ibex_status st = ibex_library_commit(b->lib, &d);
    if (st != IBEX_OK) {
        if (tty) fputc('\n', stderr);
        cli_fail_status(st, &d);
        b->n = 0;
        return -1;
    }
    for (size_t k = 0; k < b->n; k++) emit(b->json, "stored", b->rows[k], &b->items[b->idx[k]], NULL);
    b->stored += b->n;
    b->n = 0;
    return 0;
}

int cmd_ingest(int argc, char **argv)
{
    static const struct option opts[] = {{"kind", required_argument, 0, 'k'},   {"meta", required_argument, 0, 'm'},
                                         {"manifest", required_argument, 0, 'M'}, {"jobs", required_argument, 0, 'J'},
                                         {"no-sync", no_argument, 0, 'S'},        {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    int json = 0, nosync = 0, c, jobs = 0;
    const char *kind = NULL, *manifest = NULL;
    char **meta = calloc((size_t)argc + 1, sizeof *meta);
    int n_meta = 0;
    if (!meta) return EXIT_REFUSED;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            if (strcmp(optarg, "cartridge") && strcmp(optarg, "bullet")) {
                free(meta);
                return cli_usage_error("--kind must be cartridge or bullet, not '%s'", optarg);
            }
            kind = optarg;
            break;
        case 'm': {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg) {
                free(meta);
                return cli_usage_error("--meta needs KEY=VALUE, got '%s'", optarg);
            }
            *eq = 0;
            int ok = meta_key_ok(optarg);
            if (!ok) cli_error("unknown metadata key '%s' (see 'ibex info --json' for the keys)", optarg);
            *eq = '=';
            if (!ok) {
                free(meta);
                return EXIT_USAGE;
            }
            meta[n_meta++] = optarg;
            break;
        }
        case 'M': manifest = optarg; break;
        case 'J':
            jobs = atoi(optarg);
            if (jobs < 1 || jobs > 256) {
                free(meta);
                return cli_usage_error("--jobs must be 1..256");
            }
            break;
        case 'S': nosync = 1; break;
        case 'j': json = 1; break;
        case 'h': help(); free(meta); return EXIT_OK;
        default: free(meta); return cli_usage_error("unknown option");
        }
    }
    if (optind >= argc) {
        free(meta);
        return cli_usage_error("no library given");
    }
    const char *libpath = argv[optind++];
    if (optind >= argc && !manifest) {
        free(meta);
        return cli_usage_error("no files given (FILE|DIR... or --manifest)");
    }
    list l = {0};
    int rc = 0;
    if (manifest && read_manifest(&l, manifest, kind) != 0) rc = -1;
    for (int i = optind; rc == 0 && i < argc; i++)
        if (add_operand(&l, argv[i]) != 0) rc = -1;
    if (rc != 0) {
        for (size_t i = 0; i < l.n; i++) item_free(&l.v[i]);
        free(l.v);
        free(meta);
        return EXIT_REFUSED;
    }

    /* A full disk must come back as EFBIG/ENOSPC from write(), not kill us (ulimit -f). */
    signal(SIGXFSZ, SIG_IGN);

    ibex_library_opts o;
    ibex_library_opts_init(&o);
    o.flags = IBEX_LIBRARY_WRITE | (nosync ? IBEX_LIBRARY_NOSYNC : 0);
    o.params = ingest_params;
    ibex_library *lib = NULL;
    ibex_diag d;
    ibex_status st;
    if (access(libpath, F_OK) != 0) st = ibex_library_create(libpath, &o, &lib, &d);
    else st = ibex_library_open(libpath, &o, &lib, &d);
    if (st != IBEX_OK) {
        cli_fail_status(st, &d);
        for (size_t i = 0; i < l.n; i++) item_free(&l.v[i]);
        free(l.v);
        free(meta);
        return EXIT_REFUSED;
    }

    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    size_t nthreads = jobs ? (size_t)jobs : ncpu > 0 ? (size_t)ncpu : 1;
    if (nthreads > l.n) nthreads = l.n ? l.n : 1;
    job j = {.items = l.v, .n = l.n, .window = 2 * nthreads + BATCH_MAX, .lib = lib};
    pthread_mutex_init(&j.mu, NULL);
    pthread_cond_init(&j.cv, NULL);
    pthread_t *th = calloc(nthreads, sizeof *th);
    size_t started = 0;
    for (size_t t = 0; th && t < nthreads; t++)
        if (pthread_create(&th[t], NULL, worker, &j) == 0) started++;
    if (!started) {
        /* No threads: run the worker loop here. */
        j.window = (size_t)-1 / 2;
        worker(&j);
    }

    int tty = cli_isatty_err() && !json;
    batch bt = {.lib = lib, .items = l.v, .json = json};
    size_t skipped = 0, failed = 0;
    int fatal = 0;
    for (size_t i = 0; i < l.n && !fatal; i++) {
        item *it = &l.v[i];
        pthread_mutex_lock(&j.mu);
        int ready = it->done;
        pthread_mutex_unlock(&j.mu);
        /* Commit what we have before waiting, so output never lags behind the work. */
        if (!ready && bt.n && batch_commit(&bt, tty) != 0) {
            fatal = 1;
            break;
        }
        pthread_mutex_lock(&j.mu);
        while (!it->done) pthread_cond_wait(&j.cv, &j.mu);
        j.consumed = i + 1;
        pthread_cond_broadcast(&j.cv);
        pthread_mutex_unlock(&j.mu);
        if (tty) progress(i, l.n, it->id);
        if (it->st != IBEX_OK) {
            if (tty) fputc('\n', stderr);
            cli_fail_status(it->st, &it->diag);
            if (json) emit(json, "refused", (size_t)-1, it, it->diag.message);
            failed++;
            continue;
        }
        size_t dup_row = it->dup_row;
        if (it->dup || ibex_library_find_hash(lib, it->sha, &dup_row)) {
            char why[64];
            snprintf(why, sizeof why, "duplicate of row %zu", dup_row);
            emit(json, "skipped", dup_row, it, why);
            skipped++;
            continue;
        }
        if (!bt.n) {
            if ((st = ibex_library_begin(lib, &d)) != IBEX_OK) {
                cli_fail_status(st, &d);
                fatal = 1;
                break;
            }
            bt.t0 = time(NULL);
        }
        ibex_specimen sp;
        size_t row;
        if (build_spec(&sp, it, kind, meta, n_meta) != 0) {
            cli_error("out of memory");
            fatal = 1;
            break;
        }
        st = ibex_library_add(lib, &sp, it->surf, &row, &d);
        ibex_meta_clear(&sp.meta);
        ibex_surface_free(it->surf);
        it->surf = NULL;
        if (st == IBEX_ERR_INTEGRITY || st == IBEX_ERR_ARG) {
            /* Refused before anything was written (duplicate id, bad row): go on. */
            if (tty) fputc('\n', stderr);
            cli_error("%s: %s", it->path, d.message);
            if (json) emit(json, "refused", (size_t)-1, it, d.message);
            failed++;
            continue;
        }
        if (st != IBEX_OK) {
            /* The transaction was rolled back: none of this batch is stored. */
            if (tty) fputc('\n', stderr);
            cli_fail_status(st, &d);
            bt.n = 0;
            fatal = 1;
            break;
        }
        bt.rows[bt.n] = row;
        bt.idx[bt.n++] = i;
        if ((bt.n == BATCH_MAX || time(NULL) - bt.t0 >= 2) && batch_commit(&bt, tty) != 0) fatal = 1;
    }
    if (!fatal && bt.n && batch_commit(&bt, tty) != 0) fatal = 1;
    size_t stored = bt.stored;
    if (tty) {
        progress(l.n, l.n, "done");
        fputc('\n', stderr);
    }
    pthread_mutex_lock(&j.mu);
    j.stop = 1;
    pthread_cond_broadcast(&j.cv);
    pthread_mutex_unlock(&j.mu);
    for (size_t t = 0; t < started; t++) pthread_join(th[t], NULL);
    size_t total = ibex_library_count(lib);
    if ((st = ibex_library_close(lib, &d)) != IBEX_OK) {
        cli_fail_status(st, &d);
        fatal = 1;
    }
    size_t not_done = l.n - stored - skipped - failed;
    if (json) {
        json_t *o = json_object();
        json_object_set_new(o, "event", json_string("summary"));
        json_object_set_new(o, "library", json_string(libpath));
        json_object_set_new(o, "stored", json_integer((json_int_t)stored));
        json_object_set_new(o, "skipped", json_integer((json_int_t)skipped));
        json_object_set_new(o, "failed", json_integer((json_int_t)failed));
        json_object_set_new(o, "not_stored", json_integer((json_int_t)not_done));
        json_object_set_new(o, "specimens", json_integer((json_int_t)total));
        json_object_set_new(o, "complete", json_boolean(!fatal));
        json_dumpf(o, stdout, JSON_COMPACT);
        json_decref(o);
        putchar('\n');
    } else {
        printf("%s: stored %zu, skipped %zu duplicate(s), refused %zu%s; library has %zu specimens\n", libpath, stored,
               skipped, failed, fatal ? ", stopped early (nothing after the last 'stored' line was kept)" : "",
               total);
    }
    for (size_t i = 0; i < l.n; i++) item_free(&l.v[i]);
    free(l.v);
    free(th);
    free(meta);
    pthread_mutex_destroy(&j.mu);
    pthread_cond_destroy(&j.cv);
    return (failed || fatal) ? EXIT_REFUSED : EXIT_OK;
}
