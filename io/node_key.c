/* Node keys: Ed25519 key pairs (libsodium) kept as a 32-byte seed in a private text file. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "exchange_internal.h"
#include "ibex/package.h"
#include "ibex_internal.h"

struct ibex_node_key {
    char name[IBEX_NODE_NAME_MAX + 1];
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    unsigned char sk[crypto_sign_SECRETKEYBYTES];
};

#define KEY_MAGIC "ibex-node-key/1"
#define KEY_FILE_MAX 4096

int ibex__sodium_ready(void)
{
    /* sodium_init is idempotent and thread-safe: 0 first time, 1 after, -1 on failure. */
    return sodium_init() >= 0;
}

int ibex__node_name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > IBEX_NODE_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int ibex__hex_decode(const char *hex, size_t hex_len, unsigned char *out, size_t n)
{
    size_t got = 0;
    if (hex_len != 2 * n) return 0;
    return sodium_hex2bin(out, n, hex, hex_len, NULL, &got, NULL) == 0 && got == n;
}

static ibex_status from_seed(const char *name, const unsigned char seed[32], ibex_node_key **out,
                             ibex_diag *diag, const char *file)
{
    ibex_node_key *k = sodium_malloc(sizeof *k);
    if (!k) return ibex__fail(diag, IBEX_ERR_NOMEM, file, -1, "out of memory for a key");
    memset(k, 0, sizeof *k);
    strcpy(k->name, name);
    crypto_sign_seed_keypair(k->pk, k->sk, seed);
    *out = k;
    return IBEX_OK;
}

ibex_status ibex_node_key_generate(const char *name, ibex_node_key **out, ibex_diag *diag)
{
    if (!out) return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "no output");
    if (!ibex__node_name_ok(name))
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1,
                          "node name '%s' is not 1-64 characters of A-Z a-z 0-9 . _ -",
                          name ? name : "");
    if (!ibex__sodium_ready()) return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, "libsodium failed to initialise");
    unsigned char seed[32];
    randombytes_buf(seed, sizeof seed);
    ibex_status s = from_seed(name, seed, out, diag, "");
    sodium_memzero(seed, sizeof seed);
    return s;
}

void ibex_node_key_free(ibex_node_key *k)
{
    if (k) sodium_free(k); /* zeroes the guarded page */
}

const char *ibex_node_key_name(const ibex_node_key *k) { return k ? k->name : NULL; }

void ibex_node_key_public_hex(const ibex_node_key *k, char hex[65])
{
    sodium_bin2hex(hex, 65, k->pk, sizeof k->pk);
}

void ibex_node_key_sign(const ibex_node_key *k, const void *msg, size_t n, unsigned char sig[64])
{
    crypto_sign_detached(sig, NULL, msg, n, k->sk);
}

const unsigned char *ibex__node_key_public(const ibex_node_key *k) { return k->pk; }

/* Write text to a new file with the given mode, never replacing an existing one:
 * a temporary file is filled and synced, then hard-linked into place (link fails on EEXIST). */
static ibex_status write_new(const char *path, const char *text, mode_t mode, ibex_diag *diag)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path) >= sizeof tmp)
        return ibex__fail(diag, IBEX_ERR_ARG, path, -1, "path too long");
    int fd = mkstemp(tmp); /* created 0600 */
    if (fd < 0)
        return ibex__fail(diag, IBEX_ERR_IO, path, -1, "cannot create a file beside it: %s",
                          strerror(errno));
    size_t n = strlen(text);
    int ok = fchmod(fd, mode) == 0 && write(fd, text, n) == (ssize_t)n && fsync(fd) == 0;
    int e = errno;
    close(fd);
    if (ok && link(tmp, path) != 0) {
        ok = 0;
        e = errno;
    }
    unlink(tmp);
    if (!ok)
        return ibex__fail(diag, IBEX_ERR_IO, path, -1, "cannot write%s: %s",
                          e == EEXIST ? " (it already exists; keys are never overwritten)" : "",
                          strerror(e));
    return IBEX_OK;
}

ibex_status ibex_node_key_write(const ibex_node_key *k, const char *path, ibex_diag *diag)
{
    if (!k || !path) return ibex__fail(diag, IBEX_ERR_ARG, path ? path : "", -1, "no key or path");
    char pub[4200], seedhex[65], pkhex[65];
    if ((size_t)snprintf(pub, sizeof pub, "%s.pub", path) >= 4096)
        return ibex__fail(diag, IBEX_ERR_ARG, path, -1, "path too long");
    char *secret = sodium_malloc(512);
    if (!secret) return ibex__fail(diag, IBEX_ERR_NOMEM, path, -1, "out of memory");
    /* The first 32 bytes of libsodium's secret key are the seed. */
    sodium_bin2hex(seedhex, sizeof seedhex, k->sk, 32);
    snprintf(secret, 512,
             "# IBEX node secret key (Ed25519 seed). Keep it private: mode 0600.\n"
             "%s\nname %s\nseed %s\n",
             KEY_MAGIC, k->name, seedhex);
    sodium_memzero(seedhex, sizeof seedhex);
    ibex_node_key_public_hex(k, pkhex);
    char pubtext[256];
    snprintf(pubtext, sizeof pubtext, "%s %s\n", k->name, pkhex);
    /* The public file first: a failure then leaves no orphan secret. */
    ibex_status s = write_new(pub, pubtext, 0644, diag);
    if (!s) {
        s = write_new(path, secret, 0600, diag);
        if (s) unlink(pub);
    }
    sodium_free(secret);
    return s;
}

static ibex_status read_small(const char *path, size_t max, char **out, size_t *n, int private_file,
                              ibex_diag *diag)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ibex__fail(diag, IBEX_ERR_IO, path, -1, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ibex__fail(diag, IBEX_ERR_IO, path, -1, "not a regular file");
    }
    if (private_file && (st.st_mode & 077)) {
        close(fd);
        return ibex__fail(diag, IBEX_ERR_ARG, path, -1,
                          "secret key is readable by others (mode %03o): chmod 600 it",
                          (unsigned)(st.st_mode & 0777));
    }
    if ((size_t)st.st_size > max) {
        close(fd);
        return ibex__fail(diag, IBEX_ERR_LIMIT, path, -1, "file is %lld bytes, over the limit of %zu",
                          (long long)st.st_size, max);
    }
    char *buf = private_file ? sodium_malloc(max + 1) : malloc(max + 1);
    if (!buf) {
        close(fd);
        return ibex__fail(diag, IBEX_ERR_NOMEM, path, -1, "out of memory");
    }
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fd, buf + got, max + 1 - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            if (private_file) sodium_free(buf); else free(buf);
            return ibex__fail(diag, IBEX_ERR_IO, path, -1, "cannot read: %s", strerror(e));
        }
        if (r == 0) break;
        got += (size_t)r;
        if (got > max) break;
    }
    close(fd);
    if (got > max) {
        if (private_file) sodium_free(buf); else free(buf);
        return ibex__fail(diag, IBEX_ERR_LIMIT, path, -1, "file grew past the limit of %zu bytes", max);
    }
    buf[got] = '\0';
    *out = buf;
    *n = got;
    return IBEX_OK;
}

ibex_status ibex__read_text_file(const char *path, size_t max, char **out, size_t *n, ibex_diag *diag)
{
    return read_small(path, max, out, n, 0, diag);
}

ibex_status ibex_node_key_read(const char *path, ibex_node_key **out, ibex_diag *diag)
{
    if (!path || !out) return ibex__fail(diag, IBEX_ERR_ARG, path ? path : "", -1, "no path");
    if (!ibex__sodium_ready()) return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, path, -1, "libsodium failed to initialise");
    char *text = NULL;
    size_t n = 0;
    ibex_status s = read_small(path, KEY_FILE_MAX, &text, &n, 1, diag);
    if (s) return s;
    char name[IBEX_NODE_NAME_MAX + 1] = "";
    unsigned char seed[32];
    int have_magic = 0, have_name = 0, have_seed = 0, lineno = 0;
    s = IBEX_OK;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line && !s;
         line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        size_t len = strlen(line);
        while (len && (line[len - 1] == '\r' || line[len - 1] == ' ')) line[--len] = '\0';
        if (len == 0 || line[0] == '#') continue;
        if (!have_magic) {
            if (strcmp(line, KEY_MAGIC) != 0)
                s = ibex__fail(diag, IBEX_ERR_FORMAT, path, -1,
                               "not an IBEX node key file (first line should be '%s')", KEY_MAGIC);
            have_magic = 1;
        } else if (strncmp(line, "name ", 5) == 0) {
            if (!ibex__node_name_ok(line + 5))
                s = ibex__fail(diag, IBEX_ERR_FORMAT, path, -1, "line %d: bad node name", lineno);
            else {
                strcpy(name, line + 5);
                have_name = 1;
            }
        } else if (strncmp(line, "seed ", 5) == 0) {
            if (!ibex__hex_decode(line + 5, len - 5, seed, 32))
                s = ibex__fail(diag, IBEX_ERR_FORMAT, path, -1, "line %d: seed is not 64 hex digits", lineno);
            else
                have_seed = 1;
        } else {
            s = ibex__fail(diag, IBEX_ERR_FORMAT, path, -1, "line %d: unknown entry", lineno);
        }
    }
    sodium_free(text);
    if (!s && (!have_magic || !have_name || !have_seed))
        s = ibex__fail(diag, IBEX_ERR_FORMAT, path, -1, "key file lacks %s",
                       !have_magic ? "the header line" : !have_name ? "the name line" : "the seed line");
    if (!s) s = from_seed(name, seed, out, diag, path);
    sodium_memzero(seed, sizeof seed);
    return s;
}
