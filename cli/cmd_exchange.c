/* ibex export / ibex import: one library specimen as a signed exchange package, and back. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"

static void export_help(void)
{
    printf("Usage: ibex export LIB.h5 ID OUT.x3p --key NODE.key [--json]\n\n"
           "Write specimen ID of the library as an exchange package: a standard X3P file\n"
           "with the stored surface, its metadata and the library's preprocessing parameters,\n"
           "signed with the node's Ed25519 key (docs/reference/exchange-format.md). The file is written\n"
           "to a temporary name and renamed.\n\n"
           "  --key FILE   the node's secret key (ibex node keygen)\n"
           "  --json       print a JSON object instead of a line\n"
           "  -h, --help   this text\n\n"
           "Exit status: 0 written, 1 refused (unknown id, unreadable library or key), 2 usage.\n");
}

static void import_help(void)
{
    printf("Usage: ibex import LIB.h5 PKG.x3p... --trust PEERS.txt [--json]\n\n"
           "Verify each exchange package (the signer must be in PEERS.txt and the signature\n"
           "must cover every byte) and only then store it in the library, creating the\n"
           "library when missing. A package whose preprocessing parameters differ from the\n"
           "library's is refused; one whose bytes are already stored is skipped. The stored\n"
           "id is SIGNER:SPECIMEN_ID, so ids from different labs never collide.\n\n"
           "  --trust FILE  peer list: one 'NAME PUBLIC_KEY_HEX [URL]' per line\n"
           "  --json        one JSON object per package\n"
           "  -h, --help    this text\n\n"
           "Exit status: 0 all stored or skipped, 1 some package refused, 2 usage error.\n");
}

int cmd_export(int argc, char **argv)
{
    static const struct option opts[] = {{"key", required_argument, 0, 'k'},
                                         {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *keypath = NULL;
    int json = 0, c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'k': keypath = optarg; break;
        case 'j': json = 1; break;
        case 'h': export_help(); return EXIT_OK;
        default: return cli_usage_error("unknown option");
        }
    }
    if (argc - optind != 3) return cli_usage_error("need LIB.h5 ID OUT.x3p");
    if (!keypath) return cli_usage_error("--key is required");
    const char *libpath = argv[optind], *id = argv[optind + 1], *out = argv[optind + 2];
    ibex_diag d;
    memset(&d, 0, sizeof d);
    ibex_node_key *key = NULL;
    ibex_library *lib = NULL;
    char sha[65] = "";
    ibex_status st = ibex_node_key_read(keypath, &key, &d);
    if (!st) st = ibex_library_open(libpath, NULL, &lib, &d);
    if (!st) st = ibex_package_export(lib, id, out, key, sha, &d);
    int rc = st ? cli_fail_status(st, &d) : EXIT_OK;
    if (!st && json) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "id", id, "package", out, "signer", ibex_node_key_name(key),
                              "source_sha256", sha);
        json_dumpf(o, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(o);
    } else if (!st) {
        printf("exported %s -> %s (signed by %s)\n", id, out, ibex_node_key_name(key));
    }
    if (lib) ibex_library_close(lib, NULL);
    ibex_node_key_free(key);
    return rc;
}

int cmd_import(int argc, char **argv)
{
    static const struct option opts[] = {{"trust", required_argument, 0, 't'},
                                         {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *trustpath = NULL;
    int json = 0, c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 't': trustpath = optarg; break;
        case 'j': json = 1; break;
        case 'h': import_help(); return EXIT_OK;
        default: return cli_usage_error("unknown option");
        }
    }
    if (argc - optind < 2) return cli_usage_error("need LIB.h5 and at least one package");
    if (!trustpath) return cli_usage_error("--trust is required");
    const char *libpath = argv[optind];
    ibex_diag d;
    ibex_trust *trust = NULL;
    ibex_library *lib = NULL;
    ibex_status st = ibex_trust_read(trustpath, &trust, &d);
    if (st) return cli_fail_status(st, &d);
    if (access(libpath, F_OK) == 0) {
        ibex_library_opts o;
        ibex_library_opts_init(&o);
        o.flags = IBEX_LIBRARY_WRITE;
        if ((st = ibex_library_open(libpath, &o, &lib, &d))) {
            ibex_trust_free(trust);
            return cli_fail_status(st, &d);
        }
    }
    int refused = 0;
    for (int i = optind + 1; i < argc; i++) {
        char id[256] = "";
        ibex_import_outcome out = IBEX_IMPORT_STORED;
        st = ibex_package_import(&lib, libpath, argv[i], trust, &out, id, sizeof id, &d);
        if (st) cli_fail_status(st, &d);
        int r = st ? -1 : out == IBEX_IMPORT_SKIPPED ? 1 : 0;
        const char *what = r == 0 ? "stored" : r == 1 ? "skipped" : "refused";
        refused += r < 0;
        if (json) {
            json_t *j = json_pack("{s:s, s:s, s:s}", "package", argv[i], "result", what, "id", id);
            json_dumpf(j, stdout, JSON_COMPACT);
            putchar('\n');
            json_decref(j);
        } else if (r >= 0) {
            printf("%s %s %s\n", what, id, argv[i]);
        }
    }
    st = lib ? ibex_library_close(lib, &d) : IBEX_OK;
    ibex_trust_free(trust);
    if (st) return cli_fail_status(st, &d);
    return refused ? EXIT_REFUSED : EXIT_OK;
}
