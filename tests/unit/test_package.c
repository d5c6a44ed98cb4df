/* Exchange packages: keys, trust list, sign/verify round trip, and every way a package can be
 * damaged or forged. The signature is also checked by an independent route (OpenSSL SHA-256 of
 * the bytes before the archive comment, then libsodium's verify), which pins down what
 * docs/reference/exchange-format.md says is signed. */
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <sodium.h>
#include <zip.h>

#include "check.h"
#include "exchange_fixture.h"

static ibex_status verify_bytes(const unsigned char *d, size_t n, const ibex_trust *t,
                                ibex_package_fault *f, ibex_diag *dg, const ibex_peer **who)
{
    return ibex_package_verify_mem(d, n, "pkg", t, 0, who, f, dg);
}

/* The documented definition, computed without IBEX: message = "ibex-package/1" NUL name NUL
 * SHA-256(bytes before the comment); comment = "ibex-sig/1 NAME PKHEX SIGHEX" at the very end. */
static int independent_verify(const unsigned char *d, size_t n, const unsigned char pk[32])
{
    if (n < 22 + 200) return 0;
    const char *tag = "ibex-sig/1 ";
    const unsigned char *c = NULL;
    for (size_t i = n - 22; i-- > 0 && !c;)
        if (d[i] == 0x50 && d[i + 1] == 0x4b && d[i + 2] == 5 && d[i + 3] == 6 &&
            i + 22 + (d[i + 20] | d[i + 21] << 8) == n)
            c = d + i + 22;
    if (!c || memcmp(c, tag, strlen(tag)) != 0) return 0;
    size_t clen = (size_t)(d + n - c);
    char comment[512];
    if (clen >= sizeof comment) return 0;
    memcpy(comment, c, clen);
    comment[clen] = 0;
    char name[80], pkhex[80], sighex[200];
    if (sscanf(comment, "ibex-sig/1 %79s %79s %199s", name, pkhex, sighex) != 3) return 0;
    unsigned char sig[64], h[32];
    size_t got;
    if (sodium_hex2bin(sig, 64, sighex, strlen(sighex), NULL, &got, NULL) || got != 64) return 0;
    unsigned int hl = 0;
    EVP_Digest(d, (size_t)(c - d), h, &hl, EVP_sha256(), NULL);
    unsigned char msg[200];
    size_t m = 0;
    memcpy(msg, "ibex-package/1", 15); /* with its NUL */
    m = 15;
    memcpy(msg + m, name, strlen(name) + 1);
    m += strlen(name) + 1;
    memcpy(msg + m, h, 32);
    m += 32;
    return crypto_sign_verify_detached(sig, msg, m, pk) == 0;
}

static void check_keys(void)
{
    ibex_node_key *k = make_key("alpha"), *back = NULL;
    char p[512], pub[512], hex[65];
    ibex_diag d;
    scratch_path(p, sizeof p, "alpha.key");
    scratch_path(pub, sizeof pub, "alpha.key.pub");
    struct stat st;
    CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK(ibex_node_key_read(p, &back, &d) == IBEX_OK);
    char h1[65], h2[65];
    ibex_node_key_public_hex(k, h1);
    if (back) {
        ibex_node_key_public_hex(back, h2);
        CHECK(strcmp(h1, h2) == 0 && strcmp(ibex_node_key_name(back), "alpha") == 0);
        /* Same key: same signature bytes (Ed25519 is deterministic). */
        unsigned char s1[64], s2[64];
        ibex_node_key_sign(k, "m", 1, s1);
        ibex_node_key_sign(back, "m", 1, s2);
        CHECK(memcmp(s1, s2, 64) == 0);
    }
    ibex_node_key_free(back);
    /* KEYFILE.pub is a trust-list line. */
    ibex_trust *t = NULL;
    CHECK(ibex_trust_read(pub, &t, &d) == IBEX_OK);
    CHECK(ibex_trust_count(t) == 1 && ibex_trust_find_name(t, "alpha") != NULL);
    ibex_trust_free(t);
    /* Never overwritten; refused when others can read it; garbage refused. */
    CHECK(ibex_node_key_write(k, p, &d) == IBEX_ERR_IO && strstr(d.message, "already exists"));
    CHECK(chmod(p, 0644) == 0);
    back = NULL;
    CHECK(ibex_node_key_read(p, &back, &d) == IBEX_ERR_ARG && strstr(d.message, "readable by others") && !back);
    char junk[512];
    scratch_path(junk, sizeof junk, "junk.key");
    CHECK(spit(junk, "hello\n", 6) && chmod(junk, 0600) == 0);
    CHECK(ibex_node_key_read(junk, &back, &d) == IBEX_ERR_FORMAT && !back);
    CHECK(ibex_node_key_generate("bad name", &back, &d) == IBEX_ERR_ARG && !back);
    ibex_node_key_public_hex(k, hex);
    ibex_node_key_free(k);
}

static void check_trust(void)
{
    ibex_trust *t = NULL;
    ibex_diag d;
    const char *good = "# peers\n\nlab-a 0101010101010101010101010101010101010101010101010101010101010101 http://a:1\n"
                       "lab_b 0202020202020202020202020202020202020202020202020202020202020202  # no url\r\n";
    CHECK(ibex_trust_read_mem(good, strlen(good), "peers", &t, &d) == IBEX_OK);
    CHECK(ibex_trust_count(t) == 2);
    const ibex_peer *a = ibex_trust_find_name(t, "lab-a"), *b = ibex_trust_find_name(t, "lab_b");
    CHECK(a && a->url && !strcmp(a->url, "http://a:1") && a->public_key[31] == 1);
    CHECK(b && !b->url && b->public_key[0] == 2);
    ibex_trust_free(t);
    const char *bad[] = {
        "x 0101\n",                                                                        /* short key */
        "x 01010101010101010101010101010101010101010101010101010101010101zz\n",            /* not hex */
        "x\n",                                                                             /* no key */
        "x 0101010101010101010101010101010101010101010101010101010101010101 u extra\n",    /* 4 fields */
        "x 0101010101010101010101010101010101010101010101010101010101010101\n"
        "x 0202020202020202020202020202020202020202020202020202020202020202\n",            /* twice */
        "x 0101010101010101010101010101010101010101010101010101010101010101\n"
        "y 0101010101010101010101010101010101010101010101010101010101010101\n",            /* same key */
        "b@d 0101010101010101010101010101010101010101010101010101010101010101\n",          /* name */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        t = NULL;
        CHECK_MSG(ibex_trust_read_mem(bad[i], strlen(bad[i]), "peers", &t, &d) == IBEX_ERR_FORMAT && !t,
                  "bad trust list %zu accepted", i);
        CHECK(strstr(d.message, "line ") != NULL);
    }
}

static void check_packages(void)
{
    ibex_node_key *a = make_key("lab-a"), *b = make_key("lab-b"), *c = make_key("lab-c");
    /* An impostor: a different key that claims lab-a's name. */
    ibex_node_key *fake = NULL;
    ibex_diag d;
    CHECK(ibex_node_key_generate("lab-a", &fake, &d) == IBEX_OK);
    char peers[512], plain[512], pkg[512], pkg2[512], tmp[512];
    scratch_path(peers, sizeof peers, "peers.txt");
    ibex_node_key *listed[] = {a, b, NULL};
    write_peers(peers, listed);
    ibex_trust *t = NULL;
    CHECK(ibex_trust_read(peers, &t, &d) == IBEX_OK);
    if (!t) return;

    ibex_surface *s = analytic_surface(23, 17);
    scratch_path(plain, sizeof plain, "plain.x3p");
    scratch_path(pkg, sizeof pkg, "pkg.x3p");
    CHECK(ibex_surface_write_x3p(s, plain, 0, &d) == IBEX_OK);
    const char *params[] = {"filter", "gaussian band-pass", "lambda_long_um", "250", "unicode", "µm ✓", NULL};
    CHECK_MSG(ibex_package_sign(plain, pkg, params, a, &d) == IBEX_OK, "%s", d.message);

    /* Round trip: verified, signer named, surface and metadata intact, parameters back. */
    const ibex_peer *who = NULL;
    ibex_package_fault f = IBEX_PACKAGE_MALFORMED;
    CHECK(ibex_package_verify(pkg, t, IBEX_PACKAGE_CHECK_X3P, &who, &f, &d) == IBEX_OK);
    CHECK(f == IBEX_PACKAGE_OK && who && !strcmp(who->name, "lab-a"));
    size_t n = 0;
    unsigned char *bytes = slurp(pkg, &n);
    CHECK(bytes != NULL);
    if (!bytes) return;
    CHECK(independent_verify(bytes, n, ibex_trust_find_name(t, "lab-a")->public_key));
    ibex_surface *back = NULL;
    CHECK(ibex_surface_read_x3p_mem(bytes, n, "pkg", 0, &back, &d) == IBEX_OK);
    if (back) {
        CHECK(back->nx == s->nx && back->ny == s->ny && back->dx == s->dx);
        CHECK(memcmp(back->valid, s->valid, s->nx * s->ny) == 0);
        size_t diff = 0;
        for (size_t i = 0; i < s->nx * s->ny; i++)
            if (s->valid[i] && back->z[i] != s->z[i]) diff++;
        CHECK(diff == 0);
        CHECK(back->meta.agency && !strcmp(back->meta.agency, "Test Lab"));
    }
    ibex_surface_free(back);
    char **kv = NULL;
    CHECK(ibex_package_read_params(bytes, n, "pkg", &kv, &d) == IBEX_OK);
    if (kv) {
        /* Stored sorted by key. */
        CHECK(kv[0] && !strcmp(kv[0], "filter") && !strcmp(kv[1], "gaussian band-pass"));
        CHECK(kv[2] && !strcmp(kv[2], "lambda_long_um") && !strcmp(kv[3], "250"));
        CHECK(kv[4] && !strcmp(kv[4], "unicode") && !strcmp(kv[5], "µm ✓") && !kv[6]);
    }
    ibex_package_params_free(kv);
    /* Any zip reader sees a standard X3P with our vendor member. */
    int zerr = 0;
    zip_t *za = zip_open(pkg, ZIP_RDONLY | ZIP_CHECKCONS, &zerr);
    CHECK(za && zip_name_locate(za, "main.xml", 0) >= 0 && zip_name_locate(za, "bindata/data.bin", 0) >= 0 &&
          zip_name_locate(za, IBEX_PACKAGE_PREPROCESS_MEMBER, 0) >= 0);
    if (za) zip_discard(za);

    /* Every single-byte change anywhere in the file is refused (three flips per byte). */
    size_t accepted = 0, by_fault[5] = {0};
    const unsigned char flips[] = {0x01, 0x20, 0x80};
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < sizeof flips; k++) {
            bytes[i] ^= flips[k];
            ibex_status st = verify_bytes(bytes, n, t, &f, &d, NULL);
            if (st == IBEX_OK) accepted++;
            else by_fault[f]++;
            bytes[i] ^= flips[k];
        }
    CHECK_MSG(accepted == 0, "%zu of %zu single-byte changes accepted", accepted, 3 * n);
    CHECK(by_fault[IBEX_PACKAGE_BAD_SIGNATURE] > 3 * n / 2); /* most bytes are signed bytes */
    fprintf(stderr, "flips: %zu bytes x 3: bad-signature %zu, malformed %zu, unsigned %zu, untrusted %zu\n", n,
            by_fault[3], by_fault[1], by_fault[2], by_fault[4]);
    /* A flip inside a member's data gives the integrity status and says so. */
    bytes[n / 3] ^= 1;
    CHECK(verify_bytes(bytes, n, t, &f, &d, NULL) == IBEX_ERR_INTEGRITY && f == IBEX_PACKAGE_BAD_SIGNATURE);
    CHECK(strstr(d.message, "altered after signing") != NULL);
    bytes[n / 3] ^= 1;
    CHECK(verify_bytes(bytes, n, t, &f, &d, NULL) == IBEX_OK);

    /* Truncated at any of a spread of lengths, or with a byte appended: malformed. */
    size_t cuts[] = {0, 1, 21, 100, n / 2, n - 200, n - 23, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        CHECK_MSG(verify_bytes(bytes, cuts[i], t, &f, &d, NULL) == IBEX_ERR_FORMAT && f == IBEX_PACKAGE_MALFORMED,
                  "truncated to %zu bytes: %s", cuts[i], d.message);
    }
    CHECK(strstr(d.message, "truncated") != NULL);
    unsigned char *longer = malloc(n + 1);
    memcpy(longer, bytes, n);
    longer[n] = '\n';
    CHECK(verify_bytes(longer, n + 1, t, &f, &d, NULL) == IBEX_ERR_FORMAT && f == IBEX_PACKAGE_MALFORMED);
    free(longer);

    /* Missing signature: the plain X3P. */
    CHECK(ibex_package_verify(plain, t, 0, NULL, &f, &d) == IBEX_ERR_INTEGRITY && f == IBEX_PACKAGE_UNSIGNED);
    CHECK(strstr(d.message, "not signed") != NULL);

    /* Untrusted signer. */
    scratch_path(pkg2, sizeof pkg2, "pkg-c.x3p");
    CHECK(ibex_package_sign(plain, pkg2, NULL, c, &d) == IBEX_OK);
    CHECK(ibex_package_verify(pkg2, t, 0, NULL, &f, &d) == IBEX_ERR_INTEGRITY && f == IBEX_PACKAGE_UNTRUSTED);
    CHECK(strstr(d.message, "'lab-c' is not in the trust list") != NULL);

    /* Wrong key: signed by an impostor under lab-a's name. */
    CHECK(ibex_package_sign(plain, pkg2, NULL, fake, &d) == IBEX_OK);
    CHECK(ibex_package_verify(pkg2, t, 0, NULL, &f, &d) == IBEX_ERR_INTEGRITY && f == IBEX_PACKAGE_BAD_SIGNATURE);
    CHECK(strstr(d.message, "wrong key") != NULL);

    /* A forged comment: lab-a's name and public key over another key's signature. */
    {
        size_t m = 0;
        unsigned char *forged = slurp(pkg2, &m);
        char ahex[65];
        ibex_node_key_public_hex(a, ahex);
        /* comment = "ibex-sig/1 lab-a " + 64 hex + " " + 128 hex at the end */
        if (forged && m > 200) {
            memcpy(forged + m - 128 - 1 - 64, ahex, 64);
            CHECK(verify_bytes(forged, m, t, &f, &d, NULL) == IBEX_ERR_INTEGRITY && f == IBEX_PACKAGE_BAD_SIGNATURE);
        }
        free(forged);
    }

    /* Re-signing replaces the signature; parameters kept when params is NULL, dropped when empty. */
    CHECK(ibex_package_sign(pkg, pkg2, NULL, b, &d) == IBEX_OK);
    CHECK(ibex_package_verify(pkg2, t, IBEX_PACKAGE_CHECK_X3P, &who, &f, &d) == IBEX_OK && !strcmp(who->name, "lab-b"));
    {
        size_t m;
        unsigned char *p2 = slurp(pkg2, &m);
        kv = NULL;
        CHECK(p2 && ibex_package_read_params(p2, m, "pkg2", &kv, &d) == IBEX_OK && kv && kv[0] && !strcmp(kv[1], "gaussian band-pass"));
        ibex_package_params_free(kv);
        free(p2);
    }
    const char *none[] = {NULL};
    CHECK(ibex_package_sign(pkg, pkg2, none, b, &d) == IBEX_OK);
    {
        size_t m;
        unsigned char *p2 = slurp(pkg2, &m);
        kv = NULL;
        CHECK(p2 && ibex_package_read_params(p2, m, "pkg2", &kv, &d) == IBEX_OK && kv && !kv[0]);
        ibex_package_params_free(kv);
        free(p2);
    }

    /* ibex_package_write signs in one step; signing is deterministic for the same input. */
    scratch_path(tmp, sizeof tmp, "direct.x3p");
    CHECK(ibex_package_write(s, tmp, params, a, &d) == IBEX_OK);
    CHECK(ibex_package_verify(tmp, t, IBEX_PACKAGE_CHECK_X3P, NULL, &f, &d) == IBEX_OK);
    CHECK(ibex_package_sign(plain, pkg2, params, a, &d) == IBEX_OK);
    {
        size_t m;
        unsigned char *p2 = slurp(pkg2, &m);
        CHECK(p2 && m == n && memcmp(p2, bytes, n) == 0);
        free(p2);
    }

    /* Not an X3P: nothing is signed. */
    scratch_path(tmp, sizeof tmp, "not.x3p");
    CHECK(spit(tmp, "PK\x03\x04 garbage", 12));
    CHECK(ibex_package_sign(tmp, pkg2, NULL, a, &d) != IBEX_OK);

    free(bytes);
    ibex_surface_free(s);
    ibex_trust_free(t);
    ibex_node_key_free(a);
    ibex_node_key_free(b);
    ibex_node_key_free(c);
    ibex_node_key_free(fake);
}

int main(void)
{
    check_keys();
    check_trust();
    check_packages();
    scratch_remove();
    return check_exit();
}
