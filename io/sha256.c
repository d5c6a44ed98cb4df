/* SHA-256 through OpenSSL's EVP interface (hardware-accelerated where available). */
#include <openssl/evp.h>

#include "exchange_internal.h"

void ibex__sha256(const void *data, size_t n, unsigned char out[32])
{
    unsigned int len = 0;
    EVP_Digest(data, n, out, &len, EVP_sha256(), NULL);
}

ibex__sha256_ctx *ibex__sha256_begin(void)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(c);
        c = NULL;
    }
    return (ibex__sha256_ctx *)c;
}

void ibex__sha256_update(ibex__sha256_ctx *c, const void *data, size_t n)
{
    EVP_DigestUpdate((EVP_MD_CTX *)c, data, n);
}

void ibex__sha256_end(ibex__sha256_ctx *c, unsigned char out[32])
{
    unsigned int len = 0;
    EVP_DigestFinal_ex((EVP_MD_CTX *)c, out, &len);
    EVP_MD_CTX_free((EVP_MD_CTX *)c);
}

void ibex__sha256_free(ibex__sha256_ctx *c)
{
    EVP_MD_CTX_free((EVP_MD_CTX *)c);
}
