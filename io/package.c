/* Exchange packages: an X3P file whose zip archive comment carries an Ed25519 signature
 * over every byte before it (docs/reference/exchange-format.md, "What is signed"). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>
#include <zip.h>

#include "atomic_file.h"
#include "exchange_internal.h"
#include "ibex/io.h"
#include "ibex/package.h"
#include "ibex_internal.h"

#define EOCD_SIZE 22           /* end-of-central-directory record without its comment */
#define EOCD_MAGIC 0x06054b50u
#define SIG_HEX 128
#define PK_HEX 64
#define PARAMS_MAX ((size_t)1 << 20)
#define MEMBER_MTIME ((time_t)946684800) /* fixed, as in the X3P writer */
/* Domain separation: these bytes start every signed message, so a package signature can
 * never be replayed as a request signature (node/auth.c uses another prefix). */
static const char sig_domain[] = "ibex-package/1";

ibex_status ibex_file_read_all(const char *path, size_t max, unsigned char **out, size_t *size,
                               ibex_diag *diag)
{
    if (!path || !out || !size) return ibex__fail(diag, IBEX_ERR_ARG, path ? path : "", -1, "no path");
    FILE *f = fopen(path, "rb");
    if (!f) return ibex__fail(diag, IBEX_ERR_IO, path, -1, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return ibex__fail(diag, IBEX_ERR_IO, path, -1, "not a regular file");
    }
    if ((unsigned long long)st.st_size > max) {
        fclose(f);
        return ibex__fail(diag, IBEX_ERR_LIMIT, path, -1, "file is %lld bytes, over the limit of %zu",
                          (long long)st.st_size, max);
    }
    size_t n = (size_t)st.st_size;
    unsigned char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return ibex__fail(diag, IBEX_ERR_NOMEM, path, -1, "out of memory for %zu bytes", n);
    }
    size_t got = fread(buf, 1, n + 1, f);
    int err = ferror(f);
    fclose(f);
    if (err || got != n) {
        free(buf);
        return ibex__fail(diag, IBEX_ERR_IO, path, -1, "cannot read (file changed while read?)");
    }
    buf[n] = 0;
    *out = buf;
    *size = n;
    return IBEX_OK;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The archive comment: the end-of-central-directory record whose comment runs exactly to
 * the end of the file. 0 when there is none (truncated, appended to, not a zip). */
static int find_comment(const unsigned char *d, size_t n, size_t *comment_len)
{
    if (n < EOCD_SIZE) return 0;
    size_t lowest = n - EOCD_SIZE > 0xffff ? n - EOCD_SIZE - 0xffff : 0;
    for (size_t off = n - EOCD_SIZE + 1; off-- > lowest;) {
        if (le32(d + off) != EOCD_MAGIC) continue;
        size_t clen = (size_t)d[off + 20] | (size_t)d[off + 21] << 8;
        if (off + EOCD_SIZE + clen == n) {
            *comment_len = clen;
            return 1;
        }
    }
    return 0;
}

/* The message an Ed25519 signature covers: domain, NUL, signer name, NUL, SHA-256 of the
 * signed region (every byte of the file before the archive comment). */
static size_t signed_message(const char *name, const unsigned char *region, size_t n,
                             unsigned char *msg)
{
    size_t dl = sizeof sig_domain, nl = strlen(name) + 1; /* both with their NUL */
    memcpy(msg, sig_domain, dl);
    memcpy(msg + dl, name, nl);
    ibex__sha256(region, n, msg + dl + nl);
    return dl + nl + 32;
}
#define MSG_MAX (sizeof sig_domain + IBEX_NODE_NAME_MAX + 1 + 32)

/* "ibex-sig/1 NAME PKHEX SIGHEX", all hex lower case: the only accepted spelling, so no
 * byte of the comment can change without the check failing. */
static size_t comment_len_for(const char *name)
{
    return strlen(IBEX_PACKAGE_SIG_TAG) + 1 + strlen(name) + 1 + PK_HEX + 1 + SIG_HEX;
}

static void format_comment(char *out, const char *name, const unsigned char pk[32],
                           const unsigned char sig[64])
{
    char pkhex[PK_HEX + 1], sighex[SIG_HEX + 1];
    sodium_bin2hex(pkhex, sizeof pkhex, pk, 32);
    if (sig)
        sodium_bin2hex(sighex, sizeof sighex, sig, 64);
    else {
        memset(sighex, '0', SIG_HEX);
        sighex[SIG_HEX] = '\0';
    }
    sprintf(out, "%s %s %s %s", IBEX_PACKAGE_SIG_TAG, name, pkhex, sighex);
}

static int lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

static ibex_status refuse(ibex_package_fault *fault, ibex_package_fault f, ibex_diag *diag,
                          const char *name, ibex_status s, const char *msg, const char *arg)
{
    if (fault) *fault = f;
    return ibex__fail(diag, s, name, -1, msg, arg ? arg : "");
}

ibex_status ibex_package_verify_mem(const void *data, size_t size, const char *name,
                                    const ibex_trust *trust, unsigned flags,
                                    const ibex_peer **signer, ibex_package_fault *fault,
                                    ibex_diag *diag)
{
    const unsigned char *d = data;
    if (!name) name = "<memory>";
    if (fault) *fault = IBEX_PACKAGE_MALFORMED;
    if (!d || !trust) return ibex__fail(diag, IBEX_ERR_ARG, name, -1, "no package or trust list");
    if (!ibex__sodium_ready()) return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, name, -1, "libsodium failed to initialise");
    if (size > IBEX_PACKAGE_MAX_SIZE)
        return refuse(fault, IBEX_PACKAGE_MALFORMED, diag, name, IBEX_ERR_LIMIT,
                      "package is over the size limit%s", NULL);
    size_t clen = 0;
    if (!find_comment(d, size, &clen))
        return refuse(fault, IBEX_PACKAGE_MALFORMED, diag, name, IBEX_ERR_FORMAT,
                      "no zip end record at the end of the file: truncated, extended, or not a "
                      "zip archive%s", NULL);
    const char *c = (const char *)d + size - clen;
    size_t tl = strlen(IBEX_PACKAGE_SIG_TAG);
    if (clen < tl + 1 || memcmp(c, IBEX_PACKAGE_SIG_TAG, tl) != 0 || c[tl] != ' ')
        return refuse(fault, IBEX_PACKAGE_UNSIGNED, diag, name, IBEX_ERR_INTEGRITY,
                      "not signed: the archive comment holds no IBEX signature%s", NULL);
    /* Parse "NAME PKHEX SIGHEX" from the end: the hex parts have fixed lengths. */
    size_t rest = clen - tl - 1;
    const char *r = c + tl + 1;
    if (rest < 1 + 1 + PK_HEX + 1 + SIG_HEX || rest - (PK_HEX + SIG_HEX + 2) > IBEX_NODE_NAME_MAX)
        return refuse(fault, IBEX_PACKAGE_MALFORMED, diag, name, IBEX_ERR_FORMAT,
                      "signature record in the archive comment has the wrong length%s", NULL);
    size_t nl = rest - (PK_HEX + SIG_HEX + 2);
    char sname[IBEX_NODE_NAME_MAX + 1];
    memcpy(sname, r, nl);
    sname[nl] = '\0';
    const char *pkhex = r + nl + 1, *sighex = pkhex + PK_HEX + 1;
    unsigned char pk[32], sig[64];
    if (r[nl] != ' ' || pkhex[PK_HEX] != ' ' || !ibex__node_name_ok(sname) ||
        !lower_hex(pkhex, PK_HEX) || !lower_hex(sighex, SIG_HEX) ||
        !ibex__hex_decode(pkhex, PK_HEX, pk, 32) || !ibex__hex_decode(sighex, SIG_HEX, sig, 64))
        return refuse(fault, IBEX_PACKAGE_MALFORMED, diag, name, IBEX_ERR_FORMAT,
                      "signature record in the archive comment is malformed%s", NULL);
    const ibex_peer *p = ibex_trust_find_key(trust, pk);
    if (!p) {
        if (ibex_trust_find_name(trust, sname))
            return refuse(fault, IBEX_PACKAGE_BAD_SIGNATURE, diag, name, IBEX_ERR_INTEGRITY,
                          "signed by a key that is not node '%s''s key in the trust list "
                          "(wrong key)", sname);
        return refuse(fault, IBEX_PACKAGE_UNTRUSTED, diag, name, IBEX_ERR_INTEGRITY,
                      "signer '%s' is not in the trust list", sname);
    }
    unsigned char msg[MSG_MAX];
    size_t mn = signed_message(sname, d, size - clen, msg);
    if (!ibex_peer_verify(p, msg, mn, sig))
        return refuse(fault, IBEX_PACKAGE_BAD_SIGNATURE, diag, name, IBEX_ERR_INTEGRITY,
                      "signature of '%s' does not match the bytes: the package was altered "
                      "after signing", p->name);
    if (flags & IBEX_PACKAGE_CHECK_X3P) {
        ibex_surface *s = NULL;
        ibex_status st = ibex_surface_read_x3p_mem(d, size, name, 0, &s, diag);
        if (st) {
            if (fault) *fault = IBEX_PACKAGE_MALFORMED;
            return st;
        }
        ibex_surface_free(s);
    }
    if (fault) *fault = IBEX_PACKAGE_OK;
    if (signer) *signer = p;
    return IBEX_OK;
}

ibex_status ibex_package_verify(const char *path, const ibex_trust *trust, unsigned flags,
                                const ibex_peer **signer, ibex_package_fault *fault,
                                ibex_diag *diag)
{
    unsigned char *d;
    size_t n;
    if (fault) *fault = IBEX_PACKAGE_MALFORMED;
    ibex_status s = ibex_file_read_all(path, IBEX_PACKAGE_MAX_SIZE, &d, &n, diag);
    if (s) return s;
    s = ibex_package_verify_mem(d, n, path, trust, flags, signer, fault, diag);
    free(d);
    return s;
}

/* {"key": "value", ...} with sorted keys: the same parameters always give the same bytes. */
static char *params_json(const char *const *params, const char *path, ibex_status *st,
                         ibex_diag *diag)
{
    json_t *o = json_object();
    *st = IBEX_OK;
    for (size_t i = 0; o && params[i]; i += 2) {
        if (!params[i + 1] || !params[i][0]) {
            *st = ibex__fail(diag, IBEX_ERR_ARG, path, -1, "preprocessing parameter %zu has %s",
                             i / 2 + 1, params[i + 1] ? "an empty key" : "no value");
            json_decref(o);
            return NULL;
        }
        json_t *v = json_string(params[i + 1]);
        if (!v || json_object_set_new(o, params[i], v) != 0) {
            *st = ibex__fail(diag, IBEX_ERR_ARG, path, -1,
                             "preprocessing parameter '%s' is not valid UTF-8", params[i]);
            json_decref(o);
            return NULL;
        }
    }
    char *text = o ? json_dumps(o, JSON_INDENT(1) | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    if (!text) *st = ibex__fail(diag, IBEX_ERR_NOMEM, path, -1, "out of memory");
    return text;
}

static int write_all(int fd, const void *p, size_t n, off_t off)
{
    const unsigned char *b = p;
    while (n) {
        ssize_t w = pwrite(fd, b, n, off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return 0;
        b += w;
        n -= (size_t)w;
        off += w;
    }
    return 1;
}

/* Change the members of the archive at tmp and put a placeholder signature comment. */
static ibex_status edit_archive(const char *tmp, const char *out_path, const char *json,
                                int drop_params, const char *placeholder, ibex_diag *diag)
{
    int err = 0;
    zip_t *za = zip_open(tmp, 0, &err);
    if (!za) return ibex__fail(diag, IBEX_ERR_IO, out_path, -1, "cannot reopen the archive");
    int ok = 1;
    zip_int64_t idx = zip_name_locate(za, IBEX_PACKAGE_PREPROCESS_MEMBER, 0);
    if (drop_params && idx >= 0) ok = zip_delete(za, (zip_uint64_t)idx) == 0;
    if (ok && json) {
        zip_source_t *src = zip_source_buffer(za, json, strlen(json), 0);
        zip_int64_t ni = src ? zip_file_add(za, IBEX_PACKAGE_PREPROCESS_MEMBER, src,
                                            ZIP_FL_OVERWRITE | ZIP_FL_ENC_UTF_8)
                             : -1;
        if (ni < 0) zip_source_free(src);
        ok = ni >= 0 && zip_set_file_compression(za, (zip_uint64_t)ni, ZIP_CM_DEFLATE, 1) == 0 &&
             zip_file_set_mtime(za, (zip_uint64_t)ni, MEMBER_MTIME, 0) == 0;
    }
    if (ok) ok = zip_set_archive_comment(za, placeholder, (zip_uint16_t)strlen(placeholder)) == 0;
    if (!ok || zip_close(za) != 0) {
        ibex_status s = ibex__fail(diag, IBEX_ERR_IO, out_path, -1, "cannot write the archive: %s",
                                   zip_strerror(za));
        zip_discard(za);
        return s;
    }
    return IBEX_OK;
}

ibex_status ibex_package_sign(const char *in_path, const char *out_path,
                              const char *const *params, const ibex_node_key *key,
                              ibex_diag *diag)
{
    if (!in_path || !out_path || !key)
        return ibex__fail(diag, IBEX_ERR_ARG, out_path ? out_path : "", -1, "missing argument");
    if (!ibex__sodium_ready()) return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, out_path, -1, "libsodium failed to initialise");
    unsigned char *in = NULL, *pkg = NULL;
    size_t n = 0, pn = 0;
    char *json = NULL, tmp[4096] = "";
    ibex_surface *s = NULL;
    int fd = -1;
    /* Only a readable X3P file is worth a signature. */
    ibex_status st = ibex_file_read_all(in_path, IBEX_PACKAGE_MAX_SIZE, &in, &n, diag);
    if (!st) st = ibex_surface_read_x3p_mem(in, n, in_path, 0, &s, diag);
    ibex_surface_free(s);
    if (!st && params) json = params[0] ? params_json(params, out_path, &st, diag) : NULL;
    if (st) goto done;
    const char *name = ibex_node_key_name(key);
    size_t clen = comment_len_for(name);
    char comment[256];
    format_comment(comment, name, ibex__node_key_public(key), NULL);
    if ((st = ibex__atomic_begin(out_path, tmp, sizeof tmp, diag))) goto done;
    fd = open(tmp, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || !write_all(fd, in, n, 0) || close(fd) != 0) {
        st = ibex__fail(diag, IBEX_ERR_IO, out_path, -1, "cannot write: %s", strerror(errno));
        fd = -1;
        goto done;
    }
    fd = -1;
    if ((st = edit_archive(tmp, out_path, json, params != NULL, comment, diag))) goto done;
    if ((st = ibex_file_read_all(tmp, IBEX_PACKAGE_MAX_SIZE, &pkg, &pn, diag))) goto done;
    size_t found = 0;
    if (!find_comment(pkg, pn, &found) || found != clen || memcmp(pkg + pn - clen, comment, clen)) {
        st = ibex__fail(diag, IBEX_ERR_IO, out_path, -1, "the archive comment did not land at the end");
        goto done;
    }
    unsigned char msg[MSG_MAX], sig[64];
    size_t mn = signed_message(name, pkg, pn - clen, msg);
    ibex_node_key_sign(key, msg, mn, sig);
    format_comment(comment, name, ibex__node_key_public(key), sig);
    fd = open(tmp, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || !write_all(fd, comment, clen, (off_t)(pn - clen)) || close(fd) != 0) {
        st = ibex__fail(diag, IBEX_ERR_IO, out_path, -1, "cannot write the signature: %s",
                        strerror(errno));
        fd = -1;
        goto done;
    }
    fd = -1;
    st = ibex__atomic_commit(tmp, out_path, diag);
    tmp[0] = '\0'; /* commit removes it on failure */
done:
    if (fd >= 0) close(fd);
    if (st) ibex__atomic_abort(tmp);
    free(in);
    free(pkg);
    free(json);
    return st;
}

ibex_status ibex_package_write(const ibex_surface *s, const char *out_path,
                               const char *const *params, const ibex_node_key *key,
                               ibex_diag *diag)
{
    if (!s || !out_path || !key) return ibex__fail(diag, IBEX_ERR_ARG, out_path ? out_path : "", -1, "missing argument");
    char plain[4096];
    if ((size_t)snprintf(plain, sizeof plain, "%s.unsigned-XXXXXX", out_path) >= sizeof plain)
        return ibex__fail(diag, IBEX_ERR_ARG, out_path, -1, "path too long");
    int fd = mkstemp(plain);
    if (fd < 0) return ibex__fail(diag, IBEX_ERR_IO, out_path, -1, "cannot create a file beside it: %s", strerror(errno));
    close(fd);
    ibex_status st = ibex_surface_write_x3p(s, plain, 0, diag);
    if (!st) st = ibex_package_sign(plain, out_path, params, key, diag);
    unlink(plain);
    return st;
}

ibex_status ibex_package_read_params(const void *data, size_t size, const char *name,
                                     char ***out, ibex_diag *diag)
{
    if (!name) name = "<memory>";
    if (!data || !out) return ibex__fail(diag, IBEX_ERR_ARG, name, -1, "no package");
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(data, size, 0, &ze);
    zip_t *za = src ? zip_open_from_source(src, ZIP_RDONLY, &ze) : NULL;
    zip_error_fini(&ze);
    if (!za) {
        zip_source_free(src);
        return ibex__fail(diag, IBEX_ERR_FORMAT, name, -1, "not a readable zip archive");
    }
    ibex_status st = IBEX_OK;
    char *text = NULL;
    char **kv = NULL;
    json_t *o = NULL;
    zip_stat_t zs;
    zip_int64_t idx = zip_name_locate(za, IBEX_PACKAGE_PREPROCESS_MEMBER, 0);
    if (idx >= 0) {
        zip_file_t *zf = NULL;
        if (zip_stat_index(za, (zip_uint64_t)idx, 0, &zs) != 0 || !(zs.valid & ZIP_STAT_SIZE) ||
            zs.size > PARAMS_MAX || !(text = malloc((size_t)zs.size + 1)) ||
            !(zf = zip_fopen_index(za, (zip_uint64_t)idx, 0)) ||
            zip_fread(zf, text, zs.size) != (zip_int64_t)zs.size) {
            st = ibex__fail(diag, IBEX_ERR_FORMAT, name, -1, "%s is unreadable or over %zu bytes",
                            IBEX_PACKAGE_PREPROCESS_MEMBER, PARAMS_MAX);
        }
        if (zf) zip_fclose(zf);
        if (!st) {
            json_error_t je;
            o = json_loadb(text, (size_t)zs.size, JSON_REJECT_DUPLICATES, &je);
            if (!json_is_object(o))
                st = ibex__fail(diag, IBEX_ERR_FORMAT, name, -1, "%s is not a JSON object: %s",
                                IBEX_PACKAGE_PREPROCESS_MEMBER, o ? "another JSON type" : je.text);
        }
    }
    size_t n = o ? json_object_size(o) : 0, i = 0;
    if (!st && !(kv = calloc(2 * n + 1, sizeof *kv))) st = ibex__fail(diag, IBEX_ERR_NOMEM, name, -1, "out of memory");
    const char *k;
    json_t *v;
    if (!st && o) {
        json_object_foreach(o, k, v) {
            if (!json_is_string(v)) {
                st = ibex__fail(diag, IBEX_ERR_FORMAT, name, -1, "%s: value of '%s' is not a string",
                                IBEX_PACKAGE_PREPROCESS_MEMBER, k);
                break;
            }
            kv[i] = ibex__strdup(k);
            kv[i + 1] = ibex__strdup(json_string_value(v));
            i += 2;
            if (!kv[i - 2] || !kv[i - 1]) {
                st = ibex__fail(diag, IBEX_ERR_NOMEM, name, -1, "out of memory");
                break;
            }
        }
    }
    json_decref(o);
    free(text);
    zip_discard(za);
    if (st) {
        for (size_t j = 0; kv && j < 2 * n; j++) free(kv[j]);
        free(kv);
        return st;
    }
    *out = kv;
    return IBEX_OK;
}

void ibex_package_params_free(char **params)
{
    if (!params) return;
    for (size_t i = 0; params[i]; i++) free(params[i]);
    free(params);
}
