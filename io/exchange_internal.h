/* Pieces shared by the exchange files (keys, trust list, packages). */
#ifndef IBEX_EXCHANGE_INTERNAL_H
#define IBEX_EXCHANGE_INTERNAL_H

#include <stddef.h>
#include "ibex/package.h"

int ibex__sodium_ready(void);                       /* 1 when libsodium is usable */
int ibex__node_name_ok(const char *s);              /* 1..64 of [A-Za-z0-9._-] */
/* Exactly 2n hex digits into out[n]; 1 on success. */
int ibex__hex_decode(const char *hex, size_t hex_len, unsigned char *out, size_t n);
const unsigned char *ibex__node_key_public(const ibex_node_key *k);
/* A text file of at most max bytes, NUL-terminated; free() it. */
ibex_status ibex__read_text_file(const char *path, size_t max, char **out, size_t *n, ibex_diag *diag);

/* SHA-256 by OpenSSL (SHA-NI/AVX2 where the CPU has them: ~5x libsodium's portable code).
 * The incremental form hashes a request body as it arrives. */
void ibex__sha256(const void *data, size_t n, unsigned char out[32]);
typedef struct ibex__sha256_ctx ibex__sha256_ctx;
ibex__sha256_ctx *ibex__sha256_begin(void);            /* NULL when out of memory */
void ibex__sha256_update(ibex__sha256_ctx *c, const void *data, size_t n);
void ibex__sha256_end(ibex__sha256_ctx *c, unsigned char out[32]); /* also frees c */
void ibex__sha256_free(ibex__sha256_ctx *c);           /* NULL ok */

#endif
