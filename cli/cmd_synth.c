/* ibex synth: seeded synthetic cartridge cases and bullets with ground truth, written as
 * X3P files plus a MANIFEST.tsv in the format of the real data sets, or stored straight
 * into a reference library (--lib). The job runs in the library (ibex_synth_job_run). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "ibex/synth.h"

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

enum { O_FIREARMS = 256, O_PER, O_BARRELS, O_BULLETS, O_LANDS, O_SEED, O_OUT, O_SPACING,
       O_SIZE, O_DIFF, O_FORMAT, O_SET, O_THREADS, O_JSON, O_NOSYNC, O_LIB };

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

/* The summary of a finished job: one line, or JSON with --json. */
static void print_result(const ibex_synth_job *job, const ibex_synth_job_result *res, int json,
                         const char *kind, long size, double spacing)
{
    int bullet = job->bullet;
    const char *libpath = job->library, *out = job->out_dir;
    unsigned long long seed = (unsigned long long)job->seed;
    double diff = job->difficulty;
    double secs = res->seconds;
    if (json) {
        json_t *o = json_object();
        json_object_set_new(o, "kind", json_string(kind));
        json_object_set_new(o, "set", json_string(res->set));
        if (libpath) {
            json_object_set_new(o, "library", json_string(libpath));
            json_object_set_new(o, "stored", json_integer(res->stored));
            json_object_set_new(o, "skipped_existing", json_integer(res->skipped_existing));
            json_object_set_new(o, "library_specimens", json_integer((json_int_t)res->library_specimens));
            json_object_set_new(o, "commits", json_integer(res->commits));
        } else {
            json_object_set_new(o, "out", json_string(out));
            json_object_set_new(o, "manifest", json_string(res->manifest));
        }
        char sbuf[32];
        snprintf(sbuf, sizeof sbuf, "%llu", seed);
        json_object_set_new(o, "seed", seed <= (unsigned long long)INT64_MAX
                                           ? json_integer((json_int_t)seed) : json_string(sbuf));
        json_object_set_new(o, bullet ? "barrels" : "firearms", json_integer(res->sources));
        json_object_set_new(o, bullet ? "bullets_per_barrel" : "per_firearm",
                            json_integer(res->per_source));
        if (bullet) json_object_set_new(o, "lands", json_integer(res->lands));
        json_object_set_new(o, "scans", json_integer(res->scans));
        json_object_set_new(o, "difficulty", json_real(diff));
        json_object_set_new(o, "size", size > 0 ? json_integer(size) : json_null());
        json_object_set_new(o, "spacing_m", spacing > 0 ? json_real(spacing) : json_null());
        json_object_set_new(o, "threads", json_integer(res->threads));
        json_object_set_new(o, "seconds", json_real(secs));
        json_object_set_new(o, "scans_per_second", json_real(secs > 0 ? res->scans / secs : 0));
        char *s = json_dumps(o, JSON_INDENT(2));
        if (s) puts(s);
        free(s);
        json_decref(o);
    } else if (libpath) {
        printf("stored %ld %s scans (%ld %s; %ld already present) in %s (%zu specimens), %.2f s (%.0f scans/s), "
               "%ld commits\n",
               res->stored, bullet ? "land" : "breech-face", res->sources, bullet ? "barrels" : "firearms",
               res->skipped_existing, libpath, res->library_specimens, secs, secs > 0 ? res->scans / secs : 0.0,
               res->commits);
    } else {
        printf("wrote %ld %s scans (%ld %s) to %s, manifest %s, in %.2f s (%.0f scans/s)\n",
               res->scans, bullet ? "land" : "breech-face", res->sources,
               bullet ? "barrels" : "firearms", out, res->manifest, secs, secs > 0 ? res->scans / secs : 0.0);
    }
}

int cmd_synth(int argc, char **argv)
{
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

    ibex_synth_job job;
    ibex_synth_job_init(&job);
    job.bullet = bullet;
    job.seed = seed;
    job.sources = bullet ? barrels : firearms;
    job.per_source = bullet ? bullets : per;
    job.lands = lands > 0 ? (int)lands : 0;
    job.size = (size_t)size;
    job.spacing = spacing;
    job.difficulty = diff;
    job.set = set;
    job.out_dir = out;
    job.library = libpath;
    job.threads = (unsigned)threads;
    job.no_sync = nosync;
    ibex_diag d;
    memset(&d, 0, sizeof d);
    if (ibex_synth_job_check(&job, &d)) return cli_usage_error("%s", d.message);
    ibex_synth_job_result res;
    ibex_synth_job_result_init(&res);
    ibex_status st = ibex_synth_job_run(&job, cli_progress, NULL, &res, &d);
    cli_progress_end();
    if (st) return cli_fail_status(st, &d);
    print_result(&job, &res, json, kind, size, spacing);
    return EXIT_OK;
}
