/* The conclusions trail (include/ibex/conclusion.h): records round trip, refusals, the rules
 * of verification and of blind verification, the chain (each record's SHA-256 recomputed here
 * from the stored bytes read with plain HDF5, OpenSSL as the reference), tampering detected
 * (a record rewritten, the newest removed), and crash safety: a writer killed inside a
 * transaction adds nothing; one killed at random moments while appending leaves a whole
 * chain holding every record it reported as committed. */
#include <hdf5.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "ibex/ibex.h"
#include "h5lib_internal.h"

#define QA "1111111111111111111111111111111111111111111111111111111111111111"
#define CB "2222222222222222222222222222222222222222222222222222222222222222"
#define CC "3333333333333333333333333333333333333333333333333333333333333333"

static ibex_library *open_w(const char *path)
{
    ibex_library_opts o;
    ibex_library_opts_init(&o);
    o.flags = IBEX_LIBRARY_WRITE | IBEX_LIBRARY_NOSYNC;
    ibex_library *lib = NULL;
    return ibex_library_open(path, &o, &lib, NULL) == IBEX_OK ? lib : NULL;
}

static void fill(ibex_conclusion *c, const char *who, const char *concl, const char *q, const char *k)
{
    ibex_conclusion_init(c);
    c->examiner = (char *)who;
    c->conclusion = (char *)concl;
    snprintf(c->questioned_sha256, 65, "%s", q);
    snprintf(c->candidate_sha256, 65, "%s", k);
}

/* The stored text of record i (0-based), read with plain HDF5; malloc'd. */
static char *raw_record(const char *path, size_t i, size_t *len)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t r = H5Dopen2(f, "/audit/records", H5P_DEFAULT), t = H5Dopen2(f, "/audit/text", H5P_DEFAULT);
    hsize_t d[2];
    hid_t sp = H5Dget_space(r);
    H5Sget_simple_extent_dims(sp, d, NULL);
    H5Sclose(sp);
    uint64_t *idx = calloc(d[0] * 2 + 2, sizeof *idx);
    H5Dread(r, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, idx);
    sp = H5Dget_space(t);
    hsize_t tn;
    H5Sget_simple_extent_dims(sp, &tn, NULL);
    H5Sclose(sp);
    unsigned char *all = malloc(tn + 1);
    H5Dread(t, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, all);
    char *out = NULL;
    if (i < d[0]) {
        *len = idx[2 * i + 1];
        out = malloc(*len + 1);
        memcpy(out, all + idx[2 * i], *len);
        out[*len] = 0;
    }
    free(all);
    free(idx);
    H5Dclose(r);
    H5Dclose(t);
    H5Fclose(f);
    return out;
}

static void sha_hex(const void *p, size_t n, char hex[65])
{
    unsigned char md[32];
    unsigned len = 0;
    EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++) sprintf(hex + 2 * i, "%02x", md[i]);
}

/* Rewrites byte `at` of /audit/text with plain HDF5 (checksums recomputed, as a forger would). */
static void forge_text(const char *path, hsize_t at, unsigned char v)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t t = H5Dopen2(f, "/audit/text", H5P_DEFAULT);
    hid_t fs = H5Dget_space(t);
    hsize_t one = 1;
    hid_t ms = H5Screate_simple(1, &one, NULL);
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, &at, NULL, &one, NULL);
    H5Dwrite(t, H5T_NATIVE_UINT8, ms, fs, H5P_DEFAULT, &v);
    H5Sclose(ms);
    H5Sclose(fs);
    H5Dclose(t);
    H5Fclose(f);
}

static void drop_last(const char *path)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t r = H5Dopen2(f, "/audit/records", H5P_DEFAULT);
    hsize_t d[2];
    hid_t sp = H5Dget_space(r);
    H5Sget_simple_extent_dims(sp, d, NULL);
    H5Sclose(sp);
    d[0]--;
    H5Dset_extent(r, d);
    H5Dclose(r);
    H5Fclose(f);
}

static size_t count(const char *path)
{
    ibex_library *lib = open_w(path);
    uint64_t n = 0;
    if (lib) ibex_conclusion_count(lib, &n, NULL);
    ibex_library_close(lib, NULL);
    return (size_t)n;
}

static int chain_ok(const char *path, size_t *n)
{
    ibex_library *lib = open_w(path);
    ibex_conclusion *v = NULL;
    *n = 0;
    ibex_status st = lib ? ibex_conclusion_read_all(lib, &v, n, NULL) : IBEX_ERR_IO;
    ibex_conclusion_free_all(v, *n);
    ibex_library_close(lib, NULL);
    return st == IBEX_OK;
}

int main(void)
{
    char dir[] = "/tmp/ibex_concl_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char path[300];
    snprintf(path, sizeof path, "%s/lib.h5", dir);
    ibex_library_opts o;
    ibex_library_opts_init(&o);
    o.flags = IBEX_LIBRARY_WRITE | IBEX_LIBRARY_NOSYNC;
    o.params = "preprocess=none\n";
    ibex_library *lib = NULL;
    ibex_diag d;
    CHECK(ibex_library_create(path, &o, &lib, &d) == IBEX_OK);
    if (!lib) return check_exit();

    /* the AFTE range */
    CHECK(ibex_afte_index("inconclusive-b") == 2 && ibex_afte_index("Identification") == -1);
    CHECK(!strcmp(ibex_afte_name(5), "unsuitable") && ibex_afte_name(6) == NULL && ibex_afte_name(-1) == NULL);

    /* an empty trail */
    uint64_t n64 = 9;
    CHECK(ibex_conclusion_count(lib, &n64, &d) == IBEX_OK && n64 == 0);
    ibex_conclusion *v = NULL;
    size_t n = 9;
    CHECK(ibex_conclusion_read_all(lib, &v, &n, &d) == IBEX_OK && n == 0);
    ibex_conclusion_free_all(v, n);

    /* a conclusion */
    ibex_conclusion c;
    fill(&c, "alice", "identification", QA, CB);
    c.role = "examiner";
    c.notes = "breech-face marks agree in the lower half; <b>µm</b> & \"quotes\"\nsecond line";
    c.case_id = "2026-117";
    c.questioned_name = "Fadul 1-1.x3p";
    c.candidate_name = "F-1-2";
    c.method = "cmc";
    c.parameters = "cell=8x8 ccf_min=0.5";
    c.scores = "{\"cmc\": 17, \"score\": 9.25}";
    uint64_t seq = 0;
    CHECK(ibex_conclusion_append(lib, &c, &seq, &d) == IBEX_OK && seq == 1);
    time_t now = time(NULL);

    /* refusals: nothing is added by any of them */
    ibex_conclusion bad;
    fill(&bad, "", "identification", QA, CB);
    CHECK(ibex_conclusion_append(lib, &bad, NULL, &d) == IBEX_ERR_ARG);
    fill(&bad, "bob", "probable", QA, CB);
    CHECK(ibex_conclusion_append(lib, &bad, NULL, &d) == IBEX_ERR_ARG && strstr(d.message, "probable"));
    fill(&bad, "bob", "elimination", "abc", CB);
    CHECK(ibex_conclusion_append(lib, &bad, NULL, &d) == IBEX_ERR_ARG);
    fill(&bad, "bob", "elimination", QA, CB);
    bad.scores = "[1, 2]";
    CHECK(ibex_conclusion_append(lib, &bad, NULL, &d) == IBEX_ERR_ARG && strstr(d.message, "scores"));
    bad.scores = NULL;
    bad.notes = "\xff\xfe not UTF-8";
    CHECK(ibex_conclusion_append(lib, &bad, NULL, &d) == IBEX_ERR_ARG && strstr(d.message, "UTF-8"));
    char *big = malloc((64u << 10) + 2);
    memset(big, 'x', (64u << 10) + 1);
    big[(64u << 10) + 1] = 0;
    bad.notes = big;
    CHECK(ibex_conclusion_append(lib, &bad, NULL, &d) == IBEX_ERR_ARG && strstr(d.message, "notes"));
    free(big);
    bad.notes = NULL;
    bad.verifies = 1; /* a conclusion does not verify */
    CHECK(ibex_conclusion_append(lib, &bad, NULL, &d) == IBEX_ERR_ARG);
    CHECK(ibex_conclusion_append(lib, NULL, NULL, &d) == IBEX_ERR_ARG);

    /* verifications */
    ibex_conclusion ver;
    fill(&ver, "alice", "identification", QA, CB);
    ver.type = IBEX_RECORD_VERIFICATION;
    ver.verifies = 1;
    CHECK(ibex_conclusion_append(lib, &ver, NULL, &d) == IBEX_ERR_ARG && strstr(d.message, "own"));
    ver.examiner = "bob";
    ver.verifies = 7;
    CHECK(ibex_conclusion_append(lib, &ver, NULL, &d) == IBEX_ERR_ARG && strstr(d.message, "no such"));
    ver.verifies = 1;
    snprintf(ver.candidate_sha256, 65, "%s", CC);
    CHECK(ibex_conclusion_append(lib, &ver, NULL, &d) == IBEX_ERR_ARG && strstr(d.message, "another pair"));
    CHECK(ibex_conclusion_count(lib, &n64, &d) == IBEX_OK && n64 == 1);

    /* blind: bob may not see alice's conclusion before recording his own */
    CHECK(ibex_conclusion_read_all(lib, &v, &n, &d) == IBEX_OK && n == 1);
    CHECK(!ibex_conclusion_visible(v, n, 0, "bob", 0));
    CHECK(ibex_conclusion_visible(v, n, 0, "alice", 0));
    CHECK(ibex_conclusion_visible(v, n, 0, "bob", 1));
    CHECK(!ibex_conclusion_visible(v, n, 0, NULL, 0) && !ibex_conclusion_visible(v, n, 1, "alice", 0));
    ibex_conclusion_free_all(v, n);

    snprintf(ver.candidate_sha256, 65, "%s", CB);
    ver.conclusion = "inconclusive-a";
    ver.role = "verifier";
    CHECK(ibex_conclusion_append(lib, &ver, &seq, &d) == IBEX_OK && seq == 2);
    ver.examiner = "carol";
    ver.verifies = 2; /* a verification is not verified */
    CHECK(ibex_conclusion_append(lib, &ver, NULL, &d) == IBEX_ERR_ARG && strstr(d.message, "verification"));
    /* another pair, by carol */
    ibex_conclusion other;
    fill(&other, "carol", "elimination", QA, CC);
    CHECK(ibex_conclusion_append(lib, &other, &seq, &d) == IBEX_OK && seq == 3);

    CHECK(ibex_conclusion_read_all(lib, &v, &n, &d) == IBEX_OK && n == 3);
    if (n == 3) {
        CHECK(v[0].seq == 1 && v[1].seq == 2 && v[2].seq == 3);
        CHECK(v[0].type == IBEX_RECORD_CONCLUSION && v[1].type == IBEX_RECORD_VERIFICATION && v[1].verifies == 1);
        CHECK(!strcmp(v[0].examiner, "alice") && !strcmp(v[0].role, "examiner"));
        CHECK(!strcmp(v[0].notes, c.notes) && !strcmp(v[0].case_id, "2026-117"));
        CHECK(!strcmp(v[0].questioned_name, "Fadul 1-1.x3p") && !strcmp(v[0].candidate_name, "F-1-2"));
        CHECK(!strcmp(v[0].questioned_sha256, QA) && !strcmp(v[0].candidate_sha256, CB));
        CHECK(!strcmp(v[0].method, "cmc") && !strcmp(v[0].parameters, "cell=8x8 ccf_min=0.5"));
        CHECK(v[0].scores && !strcmp(v[0].scores, "{\"cmc\":17,\"score\":9.25}"));
        CHECK(v[0].time >= now - 5 && v[0].time <= now + 5);
        CHECK(v[0].software && !strncmp(v[0].software, "ibex ", 5));
        CHECK(!strcmp(v[1].conclusion, "inconclusive-a") && v[2].notes == NULL);
        /* the chain, against the stored bytes */
        CHECK(v[0].prev_sha256[0] == 0);
        for (size_t i = 0; i < 3; i++) {
            size_t len = 0;
            char *text = raw_record(path, i, &len);
            char hex[65] = "";
            if (text) sha_hex(text, len, hex);
            CHECK_MSG(text && !strcmp(hex, v[i].sha256), "record %zu", i + 1);
            if (i) CHECK(!strcmp(v[i].prev_sha256, v[i - 1].sha256));
            if (i == 0) CHECK(text && strstr(text, "\"examiner\":\"alice\"") && strstr(text, "\\u00B5m"));
            free(text);
        }
        /* blind, now that bob has recorded his: he sees alice's; carol sees only hers */
        CHECK(ibex_conclusion_visible(v, n, 0, "bob", 0) && ibex_conclusion_visible(v, n, 1, "alice", 0));
        CHECK(!ibex_conclusion_visible(v, n, 0, "carol", 0) && ibex_conclusion_visible(v, n, 2, "carol", 0));
    }
    ibex_conclusion_free_all(v, n);
    CHECK(ibex_library_close(lib, &d) == IBEX_OK);

    /* a legacy (schema 1) library takes a trail too */
    {
        char lp[320];
        snprintf(lp, sizeof lp, "%s/legacy.h5", dir);
        ibex_library *l1 = NULL;
        CHECK(ibex__library_create_format(lp, &o, 1, &l1, &d) == IBEX_OK);
        CHECK(l1 && ibex_conclusion_append(l1, &other, &seq, &d) == IBEX_OK && seq == 1);
        ibex_library_close(l1, NULL);
        size_t ln = 0;
        CHECK(chain_ok(lp, &ln) && ln == 1);
    }

    /* a writer killed inside a transaction adds nothing */
    pid_t pid = fork();
    if (pid == 0) {
        ibex_library *w = open_w(path);
        if (!w || ibex_library_begin(w, NULL) != IBEX_OK) _exit(3);
        if (ibex_conclusion_append(w, &other, NULL, NULL) != IBEX_OK) _exit(4);
        kill(getpid(), SIGKILL);
        _exit(5);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status));
    CHECK(count(path) == 3);

    /* a writer appending again and again, killed at random moments: the chain always holds
     * and keeps every record the writer reported (its seq written to a pipe after commit) */
    srand(12345);
    for (int round = 0; round < 6; round++) {
        int fd[2];
        if (pipe(fd)) break;
        pid = fork();
        if (pid == 0) {
            close(fd[0]);
            ibex_library *w = open_w(path);
            if (!w) _exit(3);
            for (;;) {
                uint64_t s = 0;
                if (ibex_conclusion_append(w, &other, &s, NULL) != IBEX_OK) _exit(4);
                if (write(fd[1], &s, sizeof s) != (ssize_t)sizeof s) _exit(5);
            }
        }
        close(fd[1]);
        usleep(20000 + (useconds_t)(rand() % 200000));
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        uint64_t s = 0, last = 0;
        while (read(fd[0], &s, sizeof s) == (ssize_t)sizeof s) last = s;
        close(fd[0]);
        size_t got = 0;
        int ok = chain_ok(path, &got);
        CHECK_MSG(ok && got >= last, "round %d: chain %s, %zu records, writer reported %llu", round,
                  ok ? "whole" : "broken", got, (unsigned long long)last);
    }

    /* tampering: a record rewritten (here in record 1, which later records chain to) */
    size_t before = 0;
    CHECK(chain_ok(path, &before) && before > 3);
    size_t len = 0;
    char *t0 = raw_record(path, 0, &len);
    char *at = t0 ? strstr(t0, "identification") : NULL;
    if (at) forge_text(path, (hsize_t)(at - t0), 'I');
    free(t0);
    lib = open_w(path);
    CHECK(lib != NULL);
    if (lib) {
        CHECK(ibex_conclusion_read_all(lib, &v, &n, &d) == IBEX_ERR_INTEGRITY);
        CHECK(strstr(d.message, "record 1") != NULL);
        CHECK(ibex_conclusion_append(lib, &other, NULL, &d) == IBEX_ERR_INTEGRITY);
        ibex_library_close(lib, NULL);
    }

    /* the newest record removed: the head no longer matches */
    char path2[320];
    snprintf(path2, sizeof path2, "%s/lib2.h5", dir);
    ibex_library *l2 = NULL;
    CHECK(ibex_library_create(path2, &o, &l2, &d) == IBEX_OK);
    if (l2) {
        ibex_conclusion_append(l2, &c, NULL, &d);
        ibex_conclusion_append(l2, &other, NULL, &d);
        ibex_library_close(l2, NULL);
        drop_last(path2);
        l2 = open_w(path2);
        CHECK(l2 && ibex_conclusion_read_all(l2, &v, &n, &d) == IBEX_ERR_INTEGRITY && strstr(d.message, "head"));
        ibex_library_close(l2, NULL);
    }

    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_exit();
}
