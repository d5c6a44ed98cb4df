/* Exchange packages in and out of a reference library (include/ibex/package.h): a package
 * is verified before anything of it is stored, and stored in one commit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibex/io.h"
#include "ibex/library.h"
#include "ibex/package.h"
#include "exchange_internal.h"
#include "ibex_internal.h"

/* The value for key in a NULL-terminated key/value array, or NULL. */
static const char *param(char **kv, const char *key)
{
    for (size_t i = 0; kv && kv[i] && kv[i + 1]; i += 2)
        if (strcmp(kv[i], key) == 0) return kv[i + 1];
    return NULL;
}

ibex_status ibex_package_import_mem(ibex_library **libp, const char *lib_path, const void *bytes, size_t n,
                                    const char *name, const char *sha256_hex, const ibex_trust *trust,
                                    ibex_import_outcome *outcome, char *id, size_t id_size, ibex_diag *d)
{
    if (!libp || !bytes || !trust || !id || !id_size || (!*libp && !lib_path))
        return ibex__fail(d, IBEX_ERR_ARG, NULL, -1, "ibex_package_import_mem: missing argument");
    if (!name) name = "package";
    const ibex_peer *signer = NULL;
    ibex_surface *s = NULL;
    char **params = NULL;
    ibex_specimen sp;
    memset(&sp, 0, sizeof sp);
    int created = 0;
    ibex_status st = ibex_package_verify_mem(bytes, n, name, trust, IBEX_PACKAGE_CHECK_X3P, &signer, NULL, d);
    if (!st) st = ibex_package_read_params(bytes, n, name, &params, d);
    if (!st) st = ibex_surface_read_x3p_mem(bytes, n, name, 0, &s, d);
    if (st) goto done;
    const char *got = param(params, "library_params");
    /* Every check that needs no library comes before one is created, so a refused package
     * leaves no file behind: a library made with empty parameters would refuse every later
     * package that carries them. */
    if (!got) {
        st = ibex__fail(d, IBEX_ERR_FORMAT, name, -1,
                        "the package carries no library_params (preprocessing parameters; 'ibex export' "
                        "writes them)");
        goto done;
    }
    if (!*libp) { /* a new library takes the first verified package's parameters */
        ibex_library_opts o;
        ibex_library_opts_init(&o);
        o.flags = IBEX_LIBRARY_WRITE;
        o.params = got;
        if ((st = ibex_library_create(lib_path, &o, libp, d))) goto done;
        created = 1;
    }
    ibex_library *lib = *libp;
    const char *want = ibex_library_params(lib);
    if (!got || !want || strcmp(got, want) != 0) {
        st = ibex__fail(d, IBEX_ERR_FORMAT, name, -1, "preprocessing parameters differ from the library's (%s vs %s)",
                        got ? got : "none", want ? want : "none");
        goto done;
    }
    if (sha256_hex) {
        snprintf(sp.sha256, sizeof sp.sha256, "%s", sha256_hex);
    } else {
        unsigned char h[32];
        ibex__sha256(bytes, n, h);
        for (int i = 0; i < 32; i++) snprintf(sp.sha256 + 2 * i, 3, "%02x", h[i]);
    }
    snprintf(id, id_size, "%s:%s", signer->name, s->meta.specimen_id ? s->meta.specimen_id : sp.sha256);
    size_t row;
    if (ibex_library_find_hash(lib, sp.sha256, &row) || ibex_library_find_id(lib, id, &row)) {
        if (outcome) *outcome = IBEX_IMPORT_SKIPPED;
        goto done;
    }
    sp.id = id;
    sp.kind = s->meta.specimen_kind ? s->meta.specimen_kind : (char *)"cartridge";
    sp.region = s->meta.region ? s->meta.region : (char *)"unknown";
    sp.source_path = (char *)name;
    if ((st = ibex_meta_copy(&sp.meta, &s->meta)) || (st = ibex_library_begin(lib, d)) ||
        (st = ibex_library_add(lib, &sp, s, &row, d)) || (st = ibex_library_commit(lib, d)))
        goto done;
    if (outcome) *outcome = IBEX_IMPORT_STORED;
done:
    if (st && created) { /* nothing of this package was stored: nor is the library it made */
        ibex_library_close(*libp, NULL);
        *libp = NULL;
        remove(lib_path);
    }
    ibex_meta_clear(&sp.meta);
    ibex_package_params_free(params);
    ibex_surface_free(s);
    return st;
}

ibex_status ibex_package_import(ibex_library **lib, const char *lib_path, const char *path, const ibex_trust *trust,
                                ibex_import_outcome *outcome, char *id, size_t id_size, ibex_diag *d)
{
    unsigned char *bytes = NULL;
    size_t n = 0;
    char sha[65];
    ibex_status st = ibex_file_read_all(path, IBEX_PACKAGE_MAX_SIZE, &bytes, &n, d);
    if (!st) st = ibex_file_sha256(path, sha, d);
    if (!st) st = ibex_package_import_mem(lib, lib_path, bytes, n, path, sha, trust, outcome, id, id_size, d);
    free(bytes);
    return st;
}

ibex_status ibex_package_export(ibex_library *lib, const char *id, const char *out_path, const ibex_node_key *key,
                                char source_sha256[65], ibex_diag *d)
{
    if (!lib || !id || !out_path || !key)
        return ibex__fail(d, IBEX_ERR_ARG, NULL, -1, "ibex_package_export: missing argument");
    ibex_surface *s = NULL;
    ibex_specimen sp;
    memset(&sp, 0, sizeof sp);
    size_t row;
    ibex_status st;
    if (!ibex_library_find_id(lib, id, &row))
        return ibex__fail(d, IBEX_ERR_ARG, ibex_library_path(lib), -1, "no specimen with id '%s'", id);
    if ((st = ibex_library_get_info(lib, row, &sp, d)) || (st = ibex_library_get_surface(lib, row, &s, d)) ||
        (st = ibex_meta_copy(&s->meta, &sp.meta)))
        goto done;
    /* The table row's identity travels in the package's own metadata. */
    ibex_meta_set(&s->meta, "specimen_id", sp.id);
    ibex_meta_set(&s->meta, "specimen_kind", sp.kind);
    ibex_meta_set(&s->meta, "region", sp.region);
    const char *params[] = {"library_params", ibex_library_params(lib), "source_sha256", sp.sha256, NULL};
    if ((st = ibex_package_write(s, out_path, params, key, d))) goto done;
    if (source_sha256) memcpy(source_sha256, sp.sha256, 65);
done:
    ibex_specimen_clear(&sp);
    ibex_surface_free(s);
    return st;
}
