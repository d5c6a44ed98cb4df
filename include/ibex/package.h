/* Exchange packages: one specimen as a standard X3P file, signed by the node that made it.
 * The format, what is signed and the key files are described in docs/reference/exchange-format.md. */
#ifndef IBEX_PACKAGE_H
#define IBEX_PACKAGE_H

#include "ibex/export.h"

#include <stddef.h>
#include "ibex/status.h"
#include "ibex/surface.h"
#include "ibex/library.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Zip member holding the preprocessing parameters (a flat JSON object of strings). */
#define IBEX_PACKAGE_PREPROCESS_MEMBER "vendor/ibex-preprocess.json"
/* The signature lives in the zip archive comment and starts with this tag. */
#define IBEX_PACKAGE_SIG_TAG "ibex-sig/1"
/* Node names: 1..64 of [A-Za-z0-9._-]. */
#define IBEX_NODE_NAME_MAX 64
/* Largest package accepted by the verifier (the whole X3P file). */
#define IBEX_PACKAGE_MAX_SIZE ((size_t)256 << 20)

/* ---- node keys (Ed25519, libsodium) ---- */
typedef struct ibex_node_key ibex_node_key;

/* A new random key pair for the node called name. */
IBEX_API ibex_status ibex_node_key_generate(const char *name, ibex_node_key **out, ibex_diag *diag);
/* Writes the secret key to path (mode 0600, refuses to overwrite an existing file) and the
 * public key to path.pub as one trust-list line "NAME HEX". */
IBEX_API ibex_status ibex_node_key_write(const ibex_node_key *k, const char *path, ibex_diag *diag);
/* Reads a secret key file; refuses one that group or others can read. */
IBEX_API ibex_status ibex_node_key_read(const char *path, ibex_node_key **out, ibex_diag *diag);
IBEX_API void ibex_node_key_free(ibex_node_key *k); /* wipes the secret; NULL ok */
IBEX_API const char *ibex_node_key_name(const ibex_node_key *k);
IBEX_API void ibex_node_key_public_hex(const ibex_node_key *k, char hex[65]);
/* Ed25519 detached signature of msg into sig[64]. */
IBEX_API void ibex_node_key_sign(const ibex_node_key *k, const void *msg, size_t n, unsigned char sig[64]);

/* ---- trust list (peers.txt): "NAME PUBLIC_KEY_HEX [URL]" per line, '#' comments ---- */
typedef struct ibex_trust ibex_trust;

typedef struct ibex_peer {
    const char *name;
    unsigned char public_key[32];
    const char *url; /* NULL when the line has none */
} ibex_peer;

IBEX_API ibex_status ibex_trust_read(const char *path, ibex_trust **out, ibex_diag *diag);
/* Same from text in memory; name is used in messages. */
IBEX_API ibex_status ibex_trust_read_mem(const char *text, size_t n, const char *name, ibex_trust **out,
                                         ibex_diag *diag);
IBEX_API void ibex_trust_free(ibex_trust *t);
IBEX_API size_t ibex_trust_count(const ibex_trust *t);
IBEX_API const ibex_peer *ibex_trust_get(const ibex_trust *t, size_t i);              /* NULL past end */
IBEX_API const ibex_peer *ibex_trust_find_name(const ibex_trust *t, const char *name); /* NULL if none */
IBEX_API const ibex_peer *ibex_trust_find_key(const ibex_trust *t, const unsigned char pk[32]);
/* 1 when sig is a valid Ed25519 signature of msg by the peer's key. */
IBEX_API int ibex_peer_verify(const ibex_peer *p, const void *msg, size_t n, const unsigned char sig[64]);

/* ---- packages ---- */

/* Why a package was refused (ibex_package_verify's fault argument). */
typedef enum ibex_package_fault {
    IBEX_PACKAGE_OK = 0,
    IBEX_PACKAGE_MALFORMED = 1,     /* not a zip, truncated, not a readable X3P (IBEX_ERR_FORMAT) */
    IBEX_PACKAGE_UNSIGNED = 2,      /* no IBEX signature in the archive comment (IBEX_ERR_INTEGRITY) */
    IBEX_PACKAGE_BAD_SIGNATURE = 3, /* bytes altered after signing, or signed with a key that
                                       is not the named node's key (IBEX_ERR_INTEGRITY) */
    IBEX_PACKAGE_UNTRUSTED = 4      /* signer not in the trust list (IBEX_ERR_INTEGRITY) */
} ibex_package_fault;

/* Preprocessing parameters: NULL-terminated array of alternating keys and values,
 * {"key1", "value1", "key2", "value2", NULL}. */

/* Sign the X3P file in_path into out_path (write-then-rename). in_path must be a readable
 * X3P file. params NULL keeps the input's preprocessing member (if any); non-NULL replaces it
 * (an empty array removes it). Any earlier signature is replaced. */
IBEX_API ibex_status ibex_package_sign(const char *in_path, const char *out_path,
                                       const char *const *params, const ibex_node_key *key,
                                       ibex_diag *diag);
/* Write s as X3P and sign it, in one step. */
IBEX_API ibex_status ibex_package_write(const ibex_surface *s, const char *out_path,
                                        const char *const *params, const ibex_node_key *key,
                                        ibex_diag *diag);

/* Verify flags */
#define IBEX_PACKAGE_CHECK_X3P 0x1u /* also read the X3P inside (refuse unreadable surfaces) */

/* Check the signature of the package bytes: the signer must be in trust and the signature
 * must cover every byte. On success *signer (if not NULL) points into trust.
 * fault, when not NULL, is always written (IBEX_PACKAGE_OK on success): it says why. */
IBEX_API ibex_status ibex_package_verify_mem(const void *data, size_t size, const char *name,
                                             const ibex_trust *trust, unsigned flags,
                                             const ibex_peer **signer, ibex_package_fault *fault,
                                             ibex_diag *diag);
IBEX_API ibex_status ibex_package_verify(const char *path, const ibex_trust *trust, unsigned flags,
                                         const ibex_peer **signer, ibex_package_fault *fault,
                                         ibex_diag *diag);

/* Preprocessing parameters of a package (unverified: verify first). *out is a
 * NULL-terminated key/value array (empty when the member is absent); free with
 * ibex_package_params_free. */
IBEX_API ibex_status ibex_package_read_params(const void *data, size_t size, const char *name,
                                              char ***out, ibex_diag *diag);
IBEX_API void ibex_package_params_free(char **params);

/* Read a whole file (at most max bytes) into memory; free() the result. */
IBEX_API ibex_status ibex_file_read_all(const char *path, size_t max, unsigned char **out, size_t *size,
                                        ibex_diag *diag);

/* ---- packages in and out of a reference library (what 'ibex import' and 'ibex export' do) ---- */

typedef enum ibex_import_outcome {
    IBEX_IMPORT_STORED = 0,  /* verified and stored */
    IBEX_IMPORT_SKIPPED = 1  /* its bytes (or its id) are already in the library */
} ibex_import_outcome;

/* Verifies the package bytes against trust (signer listed, signature over every byte, a
 * readable X3P inside) and only then stores the specimen in *lib, as SIGNER:SPECIMEN_ID
 * (ids from different labs never collide), in one commit. When *lib is NULL the library is
 * created at lib_path with the first package's preprocessing parameters (and *lib set);
 * otherwise they must equal the library's. A package without library_params is refused
 * before any library is created, and a library created by a refused call is removed again. sha256_hex: the bytes' SHA-256 (NULL: computed).
 * name is used in messages. id (id_size bytes) gets the stored id. Non-OK: refused, nothing
 * stored. */
IBEX_API ibex_status ibex_package_import_mem(ibex_library **lib, const char *lib_path, const void *bytes, size_t n,
                                             const char *name, const char *sha256_hex, const ibex_trust *trust,
                                             ibex_import_outcome *outcome, char *id, size_t id_size,
                                             ibex_diag *diag);
/* The same for the package file at path. */
IBEX_API ibex_status ibex_package_import(ibex_library **lib, const char *lib_path, const char *path,
                                         const ibex_trust *trust, ibex_import_outcome *outcome, char *id,
                                         size_t id_size, ibex_diag *diag);
/* Writes specimen id of lib as a package signed with key (its stored surface and metadata,
 * the library's preprocessing parameters and the source file's SHA-256, which
 * source_sha256 gets when not NULL). Refuses an unknown id (IBEX_ERR_ARG). */
IBEX_API ibex_status ibex_package_export(ibex_library *lib, const char *id, const char *out_path,
                                         const ibex_node_key *key, char source_sha256[65], ibex_diag *diag);

#ifdef __cplusplus
}
#endif
#endif
