/* MD5 through OpenSSL's EVP interface (X3P checksums; not for security). */
#include <stdio.h>

#include <openssl/evp.h>

#include "x3p_internal.h"

int ibex__md5_hex(const void *data, size_t size, char hex[33])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!EVP_Digest(data, size, md, &len, EVP_md5(), NULL) || len != 16) return 0;
    for (unsigned i = 0; i < 16; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return 1;
}
