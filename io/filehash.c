/* SHA-256 of a file's bytes (OpenSSL EVP): the content hash that identifies a scan. */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "ibex/library.h"
#include "ibex_internal.h"

ibex_status ibex_file_sha256(const char *path, char hex[65], ibex_diag *diag)
{
    if (!path || !hex) return IBEX_ERR_ARG;
    FILE *f = fopen(path, "rb");
    if (!f) return ibex__fail(diag, IBEX_ERR_IO, path, -1, "cannot open: %s", strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        fclose(f);
        return ibex__fail(diag, IBEX_ERR_NOMEM, path, -1, "cannot start SHA-256");
    }
    unsigned char buf[1 << 16];
    size_t n;
    int ok = 1;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        if (EVP_DigestUpdate(ctx, buf, n) != 1) ok = 0;
    int rerr = ferror(f);
    fclose(f);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    if (!ok || rerr || EVP_DigestFinal_ex(ctx, md, &len) != 1 || len != 32) {
        EVP_MD_CTX_free(ctx);
        return ibex__fail(diag, IBEX_ERR_IO, path, -1, "read error while hashing");
    }
    EVP_MD_CTX_free(ctx);
    for (unsigned i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return IBEX_OK;
}
