/* The public functions of the exchange and network node in a libibex built without them
 * (-Dnode=disabled: no libsodium, libmicrohttpd or libcurl): the same ABI, and every call
 * that can fail says so (IBEX_ERR_UNSUPPORTED, out-parameters untouched). Frees and option
 * initialisers do what they would on nothing. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "ibex/node.h"
#include "ibex/package.h"
#include "ibex_internal.h"

#define UNAVAILABLE "this libibex was built without the exchange and network node"

size_t ibex_node_auth_message(const char *node, const char *to, const char *method,
                              const char *target, const char *timestamp, const char *nonce,
                              uint64_t length, const char *body_sha256_hex, char *out, size_t out_size)
{
    (void)node; (void)to; (void)method; (void)target; (void)timestamp; (void)nonce; (void)length;
    (void)body_sha256_hex; (void)out; (void)out_size;
    return 0;
}

ibex_status ibex_node_auth_sign(const ibex_node_key *k, const char *to, const char *method,
                                const char *target, const void *body, size_t n, long long timestamp,
                                const char *nonce, ibex_node_auth *out, ibex_diag *diag)
{
    (void)k; (void)to; (void)method; (void)target; (void)body; (void)n; (void)timestamp; (void)nonce;
    (void)out;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

void ibex_node_library_init(ibex_node_library *nl)
{
    memset(nl, 0, sizeof *nl);
    nl->struct_size = sizeof *nl;
}

ibex_status ibex_node_library_query(void *user, const unsigned char *pkg, size_t n, unsigned top,
                                    unsigned shortlist, char **json_out, ibex_diag *diag)
{
    (void)user; (void)pkg; (void)n; (void)top; (void)shortlist; (void)json_out;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

ibex_status ibex_node_library_store(void *user, const unsigned char *pkg, size_t n,
                                    const char *sha256_hex, char *note, size_t note_size,
                                    ibex_diag *diag)
{
    (void)user; (void)pkg; (void)n; (void)sha256_hex; (void)note; (void)note_size;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

ibex_status ibex_node_pull(const char *base_url, const char *to, const ibex_node_key *key,
                           const ibex_trust *trust, const char *out_dir, const ibex_node_pull_opts *o,
                           ibex_node_pull_stats *stats, ibex_diag *diag)
{
    (void)base_url; (void)to; (void)key; (void)trust; (void)out_dir; (void)o; (void)stats;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

ibex_status ibex_node_request(const char *base_url, const char *to, const ibex_node_key *key,
                              const char *method, const char *target, const void *body, size_t n,
                              const char *content_type, long timeout_s, const char *ca_file,
                              ibex_node_response *out, ibex_diag *diag)
{
    (void)base_url; (void)to; (void)key; (void)method; (void)target; (void)body; (void)n;
    (void)content_type; (void)timeout_s; (void)ca_file; (void)out;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

ibex_status ibex_node_hello(const char *base_url, long timeout_s, const char *ca_file, char *name,
                            ibex_diag *diag)
{
    (void)base_url; (void)timeout_s; (void)ca_file; (void)name;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

void ibex_node_response_clear(ibex_node_response *r)
{
    if (r) memset(r, 0, sizeof *r);
}

ibex_status ibex_node_server_create(const ibex_node_server_opts *o, ibex_node_server **out,
                                    ibex_diag *diag)
{
    (void)o; (void)out;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

void ibex_node_server_free(ibex_node_server *s)
{
    (void)s;
}

void ibex_node_server_opts_init(ibex_node_server_opts *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
}

void ibex_node_pull_opts_init(ibex_node_pull_opts *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
}

unsigned ibex_node_server_port(const ibex_node_server *s)
{
    (void)s;
    return 0;
}

int ibex_node_share_check(const char *list, char *why, size_t why_size)
{
    (void)list;
    if (why && why_size) snprintf(why, why_size, "%s", UNAVAILABLE);
    return 0;
}

ibex_status ibex_file_read_all(const char *path, size_t max, unsigned char **out, size_t *size,
                               ibex_diag *diag)
{
    (void)path; (void)max; (void)out; (void)size;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

void ibex_node_key_free(ibex_node_key *k)
{
    (void)k;
}

ibex_status ibex_node_key_generate(const char *name, ibex_node_key **out, ibex_diag *diag)
{
    (void)name; (void)out;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

const char *ibex_node_key_name(const ibex_node_key *k)
{
    (void)k;
    return NULL;
}

void ibex_node_key_public_hex(const ibex_node_key *k, char hex[65])
{
    (void)k; (void)hex;
}

ibex_status ibex_node_key_read(const char *path, ibex_node_key **out, ibex_diag *diag)
{
    (void)path; (void)out;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

void ibex_node_key_sign(const ibex_node_key *k, const void *msg, size_t n, unsigned char sig[64])
{
    (void)k; (void)msg; (void)n; (void)sig;
}

ibex_status ibex_node_key_write(const ibex_node_key *k, const char *path, ibex_diag *diag)
{
    (void)k; (void)path;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

ibex_status ibex_package_export(ibex_library *lib, const char *id, const char *out_path,
                                const ibex_node_key *key, char source_sha256[65], ibex_diag *diag)
{
    (void)lib; (void)id; (void)out_path; (void)key; (void)source_sha256;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

ibex_status ibex_package_import(ibex_library **lib, const char *lib_path, const char *path,
                                const ibex_trust *trust, ibex_import_outcome *outcome, char *id,
                                size_t id_size, ibex_diag *diag)
{
    (void)lib; (void)lib_path; (void)path; (void)trust; (void)outcome; (void)id; (void)id_size;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

ibex_status ibex_package_import_mem(ibex_library **lib, const char *lib_path, const void *bytes,
                                    size_t n, const char *name, const char *sha256_hex,
                                    const ibex_trust *trust, ibex_import_outcome *outcome,
                                    char *id, size_t id_size, ibex_diag *diag)
{
    (void)lib; (void)lib_path; (void)bytes; (void)n; (void)name; (void)sha256_hex;
    (void)trust; (void)outcome; (void)id; (void)id_size;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

void ibex_package_params_free(char **params)
{
    (void)params;
}

ibex_status ibex_package_read_params(const void *data, size_t size, const char *name, char ***out,
                                     ibex_diag *diag)
{
    (void)data; (void)size; (void)name; (void)out;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

ibex_status ibex_package_sign(const char *in_path, const char *out_path, const char *const *params,
                              const ibex_node_key *key, ibex_diag *diag)
{
    (void)in_path; (void)out_path; (void)params; (void)key;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

ibex_status ibex_package_verify(const char *path, const ibex_trust *trust, unsigned flags,
                                const ibex_peer **signer, ibex_package_fault *fault,
                                ibex_diag *diag)
{
    (void)path; (void)trust; (void)flags; (void)signer; (void)fault;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

ibex_status ibex_package_verify_mem(const void *data, size_t size, const char *name,
                                    const ibex_trust *trust, unsigned flags,
                                    const ibex_peer **signer, ibex_package_fault *fault,
                                    ibex_diag *diag)
{
    (void)data; (void)size; (void)name; (void)trust; (void)flags; (void)signer; (void)fault;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

ibex_status ibex_package_write(const ibex_surface *s, const char *out_path,
                               const char *const *params, const ibex_node_key *key, ibex_diag *diag)
{
    (void)s; (void)out_path; (void)params; (void)key;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

int ibex_peer_verify(const ibex_peer *p, const void *msg, size_t n, const unsigned char sig[64])
{
    (void)p; (void)msg; (void)n; (void)sig;
    return 0;
}

size_t ibex_trust_count(const ibex_trust *t)
{
    (void)t;
    return 0;
}

const ibex_peer *ibex_trust_find_key(const ibex_trust *t, const unsigned char pk[32])
{
    (void)t; (void)pk;
    return NULL;
}

const ibex_peer *ibex_trust_find_name(const ibex_trust *t, const char *name)
{
    (void)t; (void)name;
    return NULL;
}

void ibex_trust_free(ibex_trust *t)
{
    (void)t;
}

const ibex_peer *ibex_trust_get(const ibex_trust *t, size_t i)
{
    (void)t; (void)i;
    return NULL;
}

ibex_status ibex_trust_read(const char *path, ibex_trust **out, ibex_diag *diag)
{
    (void)path; (void)out;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

ibex_status ibex_trust_read_mem(const char *text, size_t n, const char *name, ibex_trust **out,
                                ibex_diag *diag)
{
    (void)text; (void)n; (void)name; (void)out;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, UNAVAILABLE);
}

