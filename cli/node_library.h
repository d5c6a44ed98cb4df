/* The node's reference library (ibex node serve --lib, ibex node pull --lib): the server's
 * store and query hooks (include/ibex/node.h), built on the code of ibex import, ibex index
 * and ibex query. */
#ifndef IBEX_CLI_NODE_LIBRARY_H
#define IBEX_CLI_NODE_LIBRARY_H

#include "ibex/ibex.h"
#include "ibex/node.h"

/* cmd_exchange.c: verify one package's bytes (sha256: their hex SHA-256) and store it in the
 * library at libpath, open in *libp (created from the package's parameters when NULL).
 * 0 stored, 1 skipped (already held), -1 refused (message through cli_error). id gets the
 * stored id, SIGNER:SPECIMEN_ID. */
int exchange_import_mem(ibex_library **libp, const char *libpath, const unsigned char *bytes, size_t n,
                        const char *name, const char *sha256, const ibex_trust *trust, char *id, size_t idsize);

/* cmd_index.c: 'ibex index' on path; quiet prints nothing on success. EXIT_OK or EXIT_REFUSED. */
int index_update(const char *path, int refit, int json, int quiet);

/* What a node's answers may say about its specimens (--share): table columns and metadata
 * keys; scores and verdicts always, surfaces never. */
#define NODE_SHARE_DEFAULT "id"

typedef struct node_library {
    const char *lib_path;
    const ibex_trust *trust; /* whose packages are stored */
    const char *share;       /* policy: comma-separated field names */
    long threads;            /* stage-2 threads of a query; 0 = all cores */
} node_library;

/* Checks a --share list (known fields, no surfaces): 1 if valid, else 0 and the reason. */
int node_library_share_ok(const char *list, char *why, size_t why_size);

ibex_status node_library_store(void *user, const unsigned char *pkg, size_t n, const char *sha256_hex,
                               char *note, size_t note_size, ibex_diag *diag);
ibex_status node_library_query(void *user, const unsigned char *pkg, size_t n, unsigned top,
                               unsigned shortlist, char **json_out, ibex_diag *diag);

#endif
