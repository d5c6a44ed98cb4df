/* ibex export / ibex import: one library specimen as a signed exchange package, and back. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "node_library.h"

static void export_help(void)
{
    printf("Usage: ibex export LIB.h5 ID OUT.x3p --key NODE.key [--json]\n\n"
           "Write specimen ID of the library as an exchange package: a standard X3P file\n"
           "with the stored surface, its metadata and the library's preprocessing parameters,\n"
           "signed with the node's Ed25519 key (docs/exchange-format.md). The file is written\n"
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
    ibex_node_key *key = NULL;
    ibex_library *lib = NULL;
    ibex_surface *s = NULL;
    ibex_specimen sp;
    memset(&sp, 0, sizeof sp);
    size_t row;
    int rc = EXIT_REFUSED;
    ibex_status st = ibex_node_key_read(keypath, &key, &d);
    if (!st) st = ibex_library_open(libpath, NULL, &lib, &d);
    if (st) {
        cli_fail_status(st, &d);
        goto done;
    }
    if (!ibex_library_find_id(lib, id, &row)) {
        cli_error("%s: no specimen with id '%s'", libpath, id);
        goto done;
    }
    if ((st = ibex_library_get_info(lib, row, &sp, &d)) ||
        (st = ibex_library_get_surface(lib, row, &s, &d)) ||
        (st = ibex_meta_copy(&s->meta, &sp.meta))) {
        cli_fail_status(st, &d);
        goto done;
    }
    /* The table row's identity travels in the package's own metadata. */
    ibex_meta_set(&s->meta, "specimen_id", sp.id);
    ibex_meta_set(&s->meta, "specimen_kind", sp.kind);
    ibex_meta_set(&s->meta, "region", sp.region);
    const char *params[] = {"library_params", ibex_library_params(lib),
                            "source_sha256", sp.sha256, NULL};
    if ((st = ibex_package_write(s, out, params, key, &d))) {
        cli_fail_status(st, &d);
        goto done;
    }
    if (json) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "id", sp.id, "package", out, "signer",
                              ibex_node_key_name(key), "source_sha256", sp.sha256);
        json_dumpf(o, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(o);
    } else {
        printf("exported %s -> %s (signed by %s)\n", sp.id, out, ibex_node_key_name(key));
    }
    rc = EXIT_OK;
done:
    ibex_specimen_clear(&sp);
    ibex_surface_free(s);
    if (lib) ibex_library_close(lib, NULL);
    ibex_node_key_free(key);
    return rc;
}

/* The value for key in a NULL-terminated key/value array, or NULL. */
static const char *param(char **kv, const char *key)
{
    for (size_t i = 0; kv && kv[i] && kv[i + 1]; i += 2)
        if (strcmp(kv[i], key) == 0) return kv[i + 1];
    return NULL;
}

/* Read one package file and store it (exchange_import_mem). */
static int import_one(ibex_library **libp, const char *libpath, const char *path,
                      const ibex_trust *trust, char *id, size_t idsize)
{
    ibex_diag d;
    unsigned char *bytes = NULL;
    size_t n = 0;
    char sha[65];
    ibex_status st = ibex_file_read_all(path, IBEX_PACKAGE_MAX_SIZE, &bytes, &n, &d);
    if (!st) st = ibex_file_sha256(path, sha, &d);
    int result = st ? -1 : exchange_import_mem(libp, libpath, bytes, n, path, sha, trust, id, idsize);
    if (st) cli_fail_status(st, &d);
    free(bytes);
    return result;
}

int exchange_import_mem(ibex_library **libp, const char *libpath, const unsigned char *bytes, size_t n,
                        const char *path, const char *sha256, const ibex_trust *trust, char *id, size_t idsize)
{
    ibex_diag d;
    const ibex_peer *signer = NULL;
    ibex_surface *s = NULL;
    char **params = NULL;
    ibex_specimen sp;
    memset(&sp, 0, sizeof sp);
    int result = -1;
    ibex_status st = ibex_package_verify_mem(bytes, n, path, trust, IBEX_PACKAGE_CHECK_X3P, &signer, NULL, &d);
    if (!st) st = ibex_package_read_params(bytes, n, path, &params, &d);
    if (!st) st = ibex_surface_read_x3p_mem(bytes, n, path, 0, &s, &d);
    if (st) {
        cli_fail_status(st, &d);
        goto done;
    }
    const char *got = param(params, "library_params");
    if (!*libp) { /* a new library takes the first verified package's parameters */
        ibex_library_opts o;
        ibex_library_opts_init(&o);
        o.flags = IBEX_LIBRARY_WRITE;
        o.params = got;
        if ((st = ibex_library_create(libpath, &o, libp, &d))) {
            cli_fail_status(st, &d);
            goto done;
        }
    }
    ibex_library *lib = *libp;
    const char *want = ibex_library_params(lib);
    if (!got || !want || strcmp(got, want) != 0) {
        cli_error("%s: preprocessing parameters differ from the library's (%s vs %s)", path,
                  got ? got : "none", want ? want : "none");
        goto done;
    }
    snprintf(sp.sha256, sizeof sp.sha256, "%s", sha256);
    snprintf(id, idsize, "%s:%s", signer->name,
             s->meta.specimen_id ? s->meta.specimen_id : sp.sha256);
    size_t row;
    if (ibex_library_find_hash(lib, sp.sha256, &row) || ibex_library_find_id(lib, id, &row)) {
        result = 1;
        goto done;
    }
    sp.id = id;
    sp.kind = s->meta.specimen_kind ? s->meta.specimen_kind : (char *)"cartridge";
    sp.region = s->meta.region ? s->meta.region : (char *)"unknown";
    sp.source_path = (char *)path;
    if ((st = ibex_meta_copy(&sp.meta, &s->meta)) || (st = ibex_library_begin(lib, &d)) ||
        (st = ibex_library_add(lib, &sp, s, &row, &d)) || (st = ibex_library_commit(lib, &d))) {
        cli_fail_status(st, &d);
        goto done;
    }
    result = 0;
done:
    ibex_meta_clear(&sp.meta);
    ibex_package_params_free(params);
    ibex_surface_free(s);
    return result;
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
        int r = import_one(&lib, libpath, argv[i], trust, id, sizeof id);
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
