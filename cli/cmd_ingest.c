/* ibex ingest: add scans to an HDF5 reference library. The pipeline is the library's
 * (ibex/ingest.h); this file parses the options, opens the library and prints each file's
 * outcome as the library reports it (a stored line only after its commit returned). */
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "ibex/ingest.h"

typedef struct args {
    int json, nosync, jobs;
    const char *kind, *manifest, *libpath;
    const char **meta; /* KEY=VALUE operands of --meta */
    size_t n_meta;
    char **files;      /* FILE|DIR operands */
    int n_files;
} args;

/* What the callbacks print with. */
typedef struct out {
    int json, tty;
    int bar_shown; /* a bar is on the terminal: clear it before other output */
    const ibex_ingest_list *list;
} out;

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

/* ---- output ---- */

static void draw_bar(out *o, size_t done, size_t n, const char *what)
{
    int w = 30, k = n ? (int)(w * done / n) : w;
    o->bar_shown = 1;
    fprintf(stderr, "\r[%.*s%*s] %zu/%zu %-40.40s", k, "##############################", w - k, "", done, n,
            what ? what : "");
    fflush(stderr);
}

/* The library calls this before each file: the bar names the file about to be handled. */
static int on_progress(void *user, const char *stage, size_t done, size_t total, double eta)
{
    (void)stage;
    (void)eta;
    out *o = user;
    if (o->tty && done < total) draw_bar(o, done, total, ibex_ingest_list_get(o->list, done)->id);
    return 0;
}

static void emit(out *o, const char *event, const ibex_ingest_event *ev)
{
    const ibex_ingest_item *it = ev->item;
    if (o->bar_shown) {
        fputs("\r\033[K", stderr);
        o->bar_shown = 0;
    }
    if (o->json) {
        json_t *j = json_object();
        json_object_set_new(j, "event", json_string(event));
        if (ev->row != (size_t)-1) json_object_set_new(j, "row", json_integer((json_int_t)ev->row));
        json_object_set_new(j, "id", json_string(it->id));
        json_object_set_new(j, "file", json_string(it->path));
        if (ev->sha256[0]) json_object_set_new(j, "sha256", json_string(ev->sha256));
        if (ev->reason) json_object_set_new(j, "reason", json_string(ev->reason));
        json_dumpf(j, stdout, JSON_COMPACT);
        json_decref(j);
        putchar('\n');
    } else if (ev->reason) {
        printf("%s\t%zu\t%s\t%s\t%s\n", event, ev->row, it->id, it->path, ev->reason);
    } else {
        printf("%s\t%zu\t%s\t%s\t%s\n", event, ev->row, it->id, ev->sha256, it->path);
    }
    fflush(stdout);
}

/* A refused file is named on stderr (and is an event in --json); the run goes on. */
static int on_event(void *user, const ibex_ingest_event *ev)
{
    out *o = user;
    if (ev->outcome == IBEX_INGEST_REFUSED) {
        if (o->tty) fputc('\n', stderr);
        cli_fail_status(ev->status, ev->diag);
        if (o->json) emit(o, "refused", ev);
    } else {
        emit(o, ev->outcome == IBEX_INGEST_STORED ? "stored" : "skipped", ev);
    }
    return 0;
}

static int parse_meta(args *a, char *kv)
{
    char *eq = strchr(kv, '=');
    if (!eq || eq == kv) return cli_usage_error("--meta needs KEY=VALUE, got '%s'", kv);
    *eq = 0;
    int ok = ibex_ingest_meta_key_known(kv);
    if (!ok) cli_error("unknown metadata key '%s' (see 'ibex info --json' for the keys)", kv);
    /* Refused before the library is opened, so a refused run creates nothing. */
    ibex_diag d;
    ibex_status st = ok ? ibex_meta_check(kv, eq + 1, &d) : IBEX_OK;
    *eq = '=';
    if (!ok) return EXIT_USAGE;
    if (st) return cli_fail_status(st, &d);
    a->meta[a->n_meta++] = kv;
    return -1;
}

/* -1 when the command should run, else the exit code. */
static int parse(args *a, int argc, char **argv)
{
    static const struct option opts[] = {{"kind", required_argument, 0, 'k'},   {"meta", required_argument, 0, 'm'},
                                         {"manifest", required_argument, 0, 'M'}, {"jobs", required_argument, 0, 'J'},
                                         {"no-sync", no_argument, 0, 'S'},        {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    int c, rc;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            if (strcmp(optarg, "cartridge") && strcmp(optarg, "bullet"))
                return cli_usage_error("--kind must be cartridge or bullet, not '%s'", optarg);
            a->kind = optarg;
            break;
        case 'm':
            if ((rc = parse_meta(a, optarg)) >= 0) return rc;
            break;
        case 'M': a->manifest = optarg; break;
        case 'J':
            a->jobs = atoi(optarg);
            if (a->jobs < 1 || a->jobs > 256) return cli_usage_error("--jobs must be 1..256");
            break;
        case 'S': a->nosync = 1; break;
        case 'j': a->json = 1; break;
        case 'h': help(); return EXIT_OK;
        default: return cli_usage_error("unknown option");
        }
    }
    if (optind >= argc) return cli_usage_error("no library given");
    a->libpath = argv[optind++];
    if (optind >= argc && !a->manifest) return cli_usage_error("no files given (FILE|DIR... or --manifest)");
    a->files = argv + optind;
    a->n_files = argc - optind;
    return -1;
}

/* The manifest's rows, then each operand's files; NULL (the problem printed) on failure. */
static ibex_ingest_list *make_list(const args *a)
{
    ibex_ingest_list *l = NULL;
    ibex_diag d;
    ibex_status st = ibex_ingest_list_create(&l);
    if (st == IBEX_OK && a->manifest) st = ibex_ingest_list_read_manifest(l, a->manifest, a->kind, &d);
    for (int i = 0; st == IBEX_OK && i < a->n_files; i++) st = ibex_ingest_list_add_operand(l, a->files[i], &d);
    if (st == IBEX_OK) return l;
    if (l) cli_fail_status(st, &d);
    else cli_error("out of memory");
    ibex_ingest_list_free(l);
    return NULL;
}

static ibex_library *open_library(const args *a)
{
    ibex_library_opts o;
    ibex_library_opts_init(&o);
    o.flags = IBEX_LIBRARY_WRITE | (a->nosync ? IBEX_LIBRARY_NOSYNC : 0);
    o.params = IBEX_INGEST_PARAMS;
    ibex_library *lib = NULL;
    ibex_diag d;
    ibex_status st;
    if (access(a->libpath, F_OK) != 0) st = ibex_library_create(a->libpath, &o, &lib, &d);
    else st = ibex_library_open(a->libpath, &o, &lib, &d);
    if (st == IBEX_OK) return lib;
    cli_fail_status(st, &d);
    return NULL;
}

static void summary(const args *a, const ibex_ingest_result *r, int fatal)
{
    if (a->json) {
        json_t *o = json_object();
        json_object_set_new(o, "event", json_string("summary"));
        json_object_set_new(o, "library", json_string(a->libpath));
        json_object_set_new(o, "stored", json_integer((json_int_t)r->stored));
        json_object_set_new(o, "skipped", json_integer((json_int_t)r->skipped));
        json_object_set_new(o, "failed", json_integer((json_int_t)r->refused));
        json_object_set_new(o, "not_stored", json_integer((json_int_t)r->not_stored));
        json_object_set_new(o, "specimens", json_integer((json_int_t)r->specimens));
        json_object_set_new(o, "complete", json_boolean(!fatal));
        json_dumpf(o, stdout, JSON_COMPACT);
        json_decref(o);
        putchar('\n');
    } else {
        printf("%s: stored %zu, skipped %zu duplicate(s), refused %zu%s; library has %zu specimens\n", a->libpath,
               r->stored, r->skipped, r->refused,
               fatal ? ", stopped early (nothing after the last 'stored' line was kept)" : "", r->specimens);
    }
}

/* Runs the ingest of l into the open lib and closes it; the exit code. */
static int ingest(const args *a, const ibex_ingest_list *l, ibex_library *lib)
{
    out o = {.json = a->json, .tty = cli_isatty_err() && !a->json, .list = l};
    ibex_ingest_opts io;
    ibex_ingest_opts_init(&io);
    io.kind = a->kind;
    io.meta = a->meta;
    io.n_meta = a->n_meta;
    io.threads = (unsigned)a->jobs;
    io.progress = on_progress;
    io.progress_user = &o;
    io.event = on_event;
    io.event_user = &o;
    ibex_ingest_result r;
    ibex_ingest_result_init(&r);
    ibex_diag d;
    ibex_status st = ibex_ingest_run(lib, l, &io, &r, &d);
    int fatal = st != IBEX_OK;
    if (fatal) {
        if (o.tty) fputc('\n', stderr);
        cli_fail_status(st, &d);
    }
    if (o.tty) {
        draw_bar(&o, r.files, r.files, "done");
        fputc('\n', stderr);
    }
    if ((st = ibex_library_close(lib, &d)) != IBEX_OK) {
        cli_fail_status(st, &d);
        fatal = 1;
    }
    summary(a, &r, fatal);
    return (r.refused || fatal) ? EXIT_REFUSED : EXIT_OK;
}

int cmd_ingest(int argc, char **argv)
{
    args a = {0};
    a.meta = calloc((size_t)argc + 1, sizeof *a.meta);
    if (!a.meta) return EXIT_REFUSED;
    int rc = parse(&a, argc, argv);
    if (rc >= 0) {
        free(a.meta);
        return rc;
    }
    ibex_ingest_list *l = make_list(&a);
    rc = EXIT_REFUSED;
    if (l) {
        /* A full disk must come back as EFBIG/ENOSPC from write(), not kill us (ulimit -f). */
        signal(SIGXFSZ, SIG_IGN);
        ibex_library *lib = open_library(&a);
        if (lib) rc = ingest(&a, l, lib);
    }
    ibex_ingest_list_free(l);
    free(a.meta);
    return rc;
}
