/* ibex serve: the examiner workbench (include/ibex/workbench.h) in a browser, until SIGINT or
 * SIGTERM. The server is the library's; this prints where to open it and waits. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ibex/workbench.h"

static void help(const ibex_workbench_opts *o)
{
    printf("Usage: ibex serve LIB.h5 [--listen HOST:PORT] [OPTIONS]\n\n"
           "Serve the examiner workbench over the reference library LIB.h5: browse the\n"
           "specimens, search the library with a questioned scan (X3P or PNG; uploaded or a\n"
           "library specimen), follow the search, read the ranked list, compare a candidate\n"
           "(cartridge cases: side by side, split or difference map, shaded under a movable\n"
           "light, with the CMC cells; bullets: the land-score matrix, aligned signatures),\n"
           "record examiners' conclusions with blind verification (the only thing written to\n"
           "LIB.h5) and export the case report (HTML, PDF). docs/reference/workbench.md.\n\n"
           "Prints 'open http://HOST:PORT/?token=TOKEN' once ready: the token (random, new at\n"
           "each start) is needed once per browser, which then holds a session cookie;\n"
           "scripts send 'Authorization: Bearer TOKEN'.\n\n"
           "  --listen HOST:PORT  address (default %s; PORT 0 picks a free one). Another\n"
           "                      address than 127.0.0.1 makes the workbench reachable from\n"
           "                      other machines: the token still guards it, but the traffic\n"
           "                      is plain HTTP\n"
           "  --max-upload MIB    largest questioned scan (default %zu; 413 past it)\n"
           "  --max-shortlist K   largest stage-2 shortlist a search may ask for (default %u;\n"
           "                      stage 2 costs about a second per cartridge pair)\n"
           "  --jobs N            searches running at once (default %u)\n"
           "  --search-threads N  stage-2 threads of a search (default: all cores)\n"
           "  --threads N         HTTP thread pool (default %u)\n"
           "  --tmp DIR           where the private temporary folder is made (default\n"
           "                      $TMPDIR, else /tmp)\n"
           "  --log FILE          request log (default stderr)   --quiet  no request log\n"
           "  --exit-after SEC    stop after SEC seconds (tests)\n"
           "  --prefetch N        the views of the top N (0-3, default 3) candidates of a\n"
           "                      cartridge search are built from stage 2's own comparisons:\n"
           "                      they open at once (0: each view compares when opened)\n"
           "  --accounts FILE     people sign in by name and password (roles examiner,\n"
           "                      verifier, read-only); the token then only reads. Without\n"
           "                      it the token gives examiner sessions and a conclusion\n"
           "                      names its examiner as typed\n\n"
           "Accounts: ibex serve --accounts FILE --add-account NAME [--role ROLE]\n"
           "  reads the password (8 characters at least) from the first line of stdin, adds\n"
           "  NAME to FILE (made with mode 0600) or replaces its password and role, and exits.\n"
           "  ROLE: examiner (default; conclusions and verifications), verifier\n"
           "  (verifications only), read-only.\n",
           o->listen, o->max_upload >> 20, o->max_shortlist, o->max_jobs, o->threads);
}

static int parse_count(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

/* --add-account: the password from stdin's first line, never from the command line (which
 * other users of the machine can read in the process list). */
static int add_account(const char *file, const char *name, const char *role, int operands)
{
    if (!file) return cli_usage_error("--add-account needs --accounts FILE");
    if (operands) return cli_usage_error("--add-account takes no LIB.h5");
    char pw[1100];
    if (!fgets(pw, sizeof pw, stdin)) {
        fprintf(stderr, "ibex serve: no password on stdin (one line)\n");
        return EXIT_REFUSED;
    }
    pw[strcspn(pw, "\r\n")] = 0;
    ibex_diag d;
    ibex_status s = ibex_workbench_account_add(file, name, role, pw, &d);
    memset(pw, 0, sizeof pw);
    if (s) return cli_fail_status(s, &d);
    printf("account %s (%s) written to %s\n", name, role, file);
    return EXIT_OK;
}

int cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, 0, 'l'},        {"max-upload", required_argument, 0, 'u'},
        {"max-shortlist", required_argument, 0, 'M'}, {"jobs", required_argument, 0, 'j'},
        {"search-threads", required_argument, 0, 'S'}, {"threads", required_argument, 0, 't'},
        {"tmp", required_argument, 0, 'T'},           {"log", required_argument, 0, 'g'},
        {"quiet", no_argument, 0, 'q'},               {"exit-after", required_argument, 0, 'x'},
        {"accounts", required_argument, 0, 'A'},      {"add-account", required_argument, 0, 'N'},
        {"role", required_argument, 0, 'R'},          {"prefetch", required_argument, 0, 'P'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *add_name = NULL, *role = NULL;
    ibex_workbench_opts o;
    ibex_workbench_opts_init(&o);
    o.log = stderr;
    const char *log_path = NULL;
    int quiet = 0, c;
    long v, exit_after = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'l': o.listen = optarg; break;
        case 'u': {
            char *end;
            double mb = strtod(optarg, &end);
            if (end == optarg || *end || !(mb > 0) || mb > 65536) return cli_usage_error("--max-upload needs MiB > 0");
            o.max_upload = (size_t)(mb * 1048576.0);
            if (!o.max_upload) o.max_upload = 1;
            break;
        }
        case 'M':
            if (!parse_count(optarg, 1, 10000, &v)) return cli_usage_error("--max-shortlist needs 1..10000");
            o.max_shortlist = (unsigned)v;
            break;
        case 'j':
            if (!parse_count(optarg, 1, 64, &v)) return cli_usage_error("--jobs needs 1..64");
            o.max_jobs = (unsigned)v;
            break;
        case 'S':
            if (!parse_count(optarg, 1, 1024, &v)) return cli_usage_error("--search-threads needs 1..1024");
            o.search_threads = (unsigned)v;
            break;
        case 't':
            if (!parse_count(optarg, 1, 256, &v)) return cli_usage_error("--threads needs 1..256");
            o.threads = (unsigned)v;
            break;
        case 'T': o.temp_dir = optarg; break;
        case 'g': log_path = optarg; break;
        case 'q': quiet = 1; break;
        case 'x':
            if (!parse_count(optarg, 1, 1L << 30, &exit_after)) return cli_usage_error("--exit-after needs seconds >= 1");
            break;
        case 'A': o.accounts_path = optarg; break;
        case 'P':
            if (!parse_count(optarg, 0, 3, &v)) return cli_usage_error("--prefetch needs 0..3");
            o.prefetch = (unsigned)v;
            break;
        case 'N': add_name = optarg; break;
        case 'R': role = optarg; break;
        case 'h':
            help(&o);
            return EXIT_OK;
        default: return cli_usage_error("unknown option");
        }
    }
    if (add_name) return add_account(o.accounts_path, add_name, role ? role : "examiner", argc - optind);
    if (role) return cli_usage_error("--role goes with --add-account");
    if (argc - optind != 1) return cli_usage_error("need exactly one LIB.h5");
    o.lib_path = argv[optind];
    FILE *logf;
    int rc = cli_server_log(log_path, quiet, &o.log, &logf);
    if (rc) return rc;
    sigset_t set;
    cli_block_stop_signals(&set);
    ibex_workbench *w = NULL;
    ibex_diag d;
    ibex_status s = ibex_workbench_create(&o, &w, &d);
    if (s) {
        if (logf) fclose(logf);
        return cli_fail_status(s, &d);
    }
    char host[128];
    snprintf(host, sizeof host, "%s", o.listen);
    char *colon = strrchr(host, ':');
    if (colon) *colon = '\0';
    if (!strcmp(host, "0.0.0.0") || !strcmp(host, "[::]")) snprintf(host, sizeof host, "127.0.0.1");
    unsigned port = ibex_workbench_port(w);
    printf("listening on http://%s:%u\nopen http://%s:%u/?token=%s\n", host, port, host, port, ibex_workbench_token(w));
    fflush(stdout);
    cli_server_wait(&set, exit_after);
    ibex_workbench_free(w);
    if (logf) fclose(logf);
    return EXIT_OK;
}
