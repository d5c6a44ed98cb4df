/* Accounts of the workbench (docs/reference/workbench.md, "Accounts"): a text file of
 *   NAME:ROLE:HASH
 * lines (# comments, blank lines ignored), HASH a libsodium crypto_pwhash_str string (Argon2id),
 * ROLE examiner, verifier or read-only. With accounts, a browser signs in by name and password
 * (POST /api/login, a session for that person and role); the access token then gives read-only
 * sessions. Password checks run one at a time, and a failed one answers after a second: a
 * guesser gets about one try a second however many connections it opens. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "atomic_file.h"
#include "workbench_internal.h"

#define MAX_ACCOUNTS 1000
#define MAX_LINE 512

static const char *const roles[] = {"examiner", "verifier", "read-only"};

int ibex__wb_role_valid(const char *role)
{
    for (size_t i = 0; role && i < sizeof roles / sizeof *roles; i++)
        if (!strcmp(role, roles[i])) return 1;
    return 0;
}

int ibex__wb_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > WB_USER_MAX) return 0;
    for (; *name; name++)
        if (!isalnum((unsigned char)*name) && !strchr("._-@", *name)) return 0;
    return 1;
}

/* Parses one line into a; 1 ok, 0 blank/comment, -1 malformed (why says what). */
static int parse_line(char *line, wb_account *a, const char **why)
{
    line[strcspn(line, "\r\n")] = 0;
    char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    if (!*p || *p == '#') return 0;
    char *c1 = strchr(p, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2) {
        *why = "not NAME:ROLE:HASH";
        return -1;
    }
    *c1 = *c2 = 0;
    if (!ibex__wb_name_valid(p)) {
        *why = "the name is not 1-64 letters, digits or . _ - @";
        return -1;
    }
    if (!ibex__wb_role_valid(c1 + 1)) {
        *why = "the role is not examiner, verifier or read-only";
        return -1;
    }
    if (strlen(c2 + 1) >= sizeof a->hash || strncmp(c2 + 1, "$argon2", 7)) {
        *why = "the hash is not a crypto_pwhash_str (Argon2) string";
        return -1;
    }
    snprintf(a->name, sizeof a->name, "%s", p);
    snprintf(a->role, sizeof a->role, "%s", c1 + 1);
    snprintf(a->hash, sizeof a->hash, "%s", c2 + 1);
    return 1;
}

ibex_status ibex__wb_accounts_load(const char *path, wb_account **out, size_t *n, ibex_diag *d)
{
    *out = NULL;
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f) return ibex__fail(d, IBEX_ERR_IO, path, -1, "cannot open the accounts file: %s", strerror(errno));
    wb_account *v = calloc(MAX_ACCOUNTS, sizeof *v);
    if (!v) {
        fclose(f);
        return ibex__fail(d, IBEX_ERR_NOMEM, path, -1, "out of memory");
    }
    char line[MAX_LINE + 2];
    size_t k = 0, lineno = 0;
    ibex_status st = IBEX_OK;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            st = ibex__fail(d, IBEX_ERR_FORMAT, path, -1, "line %zu: longer than %d bytes", lineno, MAX_LINE);
            break;
        }
        const char *why = "";
        int r = parse_line(line, &v[k], &why);
        if (r < 0) {
            st = ibex__fail(d, IBEX_ERR_FORMAT, path, -1, "line %zu: %s", lineno, why);
            break;
        }
        if (!r) continue;
        for (size_t i = 0; i < k && st == IBEX_OK; i++)
            if (!strcmp(v[i].name, v[k].name))
                st = ibex__fail(d, IBEX_ERR_FORMAT, path, -1, "line %zu: '%s' is listed twice", lineno, v[k].name);
        if (st) break;
        if (++k == MAX_ACCOUNTS) {
            st = ibex__fail(d, IBEX_ERR_LIMIT, path, -1, "more than %d accounts", MAX_ACCOUNTS - 1);
            break;
        }
    }
    if (st == IBEX_OK && ferror(f)) st = ibex__fail(d, IBEX_ERR_IO, path, -1, "cannot read the accounts file");
    fclose(f);
    if (st == IBEX_OK && k == 0) st = ibex__fail(d, IBEX_ERR_FORMAT, path, -1, "no accounts in the file");
    if (st) {
        sodium_memzero(v, MAX_ACCOUNTS * sizeof *v);
        free(v);
        return st;
    }
    *out = v;
    *n = k;
    return IBEX_OK;
}

ibex_status ibex_workbench_account_add(const char *path, const char *name, const char *role, const char *password,
                                       ibex_diag *diag)
{
    if (!path || !password) return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "account: no file or password");
    if (!ibex__wb_name_valid(name))
        return ibex__fail(diag, IBEX_ERR_ARG, path, -1, "account name '%.80s' is not 1-%d letters, digits or . _ - @",
                          name ? name : "", WB_USER_MAX);
    if (!ibex__wb_role_valid(role))
        return ibex__fail(diag, IBEX_ERR_ARG, path, -1, "role '%.40s' is not examiner, verifier or read-only",
                          role ? role : "");
    size_t pn = strlen(password);
    if (pn < 8 || pn > 1024)
        return ibex__fail(diag, IBEX_ERR_ARG, path, -1, "a password has 8 to 1024 characters");
    if (sodium_init() < 0) return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, "libsodium failed to initialise");
    char hash[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str(hash, password, pn, crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE))
        return ibex__fail(diag, IBEX_ERR_NOMEM, path, -1, "cannot hash the password (out of memory)");
    /* The file as it is, this name's line replaced (or added); written whole and renamed. */
    size_t cap = 4096, n = 0;
    char *text = malloc(cap);
    if (!text) return ibex__fail(diag, IBEX_ERR_NOMEM, path, -1, "out of memory");
    text[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f && errno != ENOENT) {
        free(text);
        return ibex__fail(diag, IBEX_ERR_IO, path, -1, "cannot open: %s", strerror(errno));
    }
    char line[MAX_LINE + 2];
    size_t lineno = 0;
    while (f && fgets(line, sizeof line, f)) {
        lineno++;
        char copy[MAX_LINE + 2];
        snprintf(copy, sizeof copy, "%s", line);
        wb_account a;
        const char *why = "";
        int r = parse_line(copy, &a, &why);
        if (r < 0) {
            fclose(f);
            free(text);
            return ibex__fail(diag, IBEX_ERR_FORMAT, path, -1, "line %zu: %s (the file is left as it is)", lineno, why);
        }
        if (r > 0 && !strcmp(a.name, name)) continue;
        size_t k = strlen(line);
        if (n + k + 2 > cap) {
            char *t = realloc(text, cap = 2 * (n + k + 2));
            if (!t) {
                fclose(f);
                free(text);
                return ibex__fail(diag, IBEX_ERR_NOMEM, path, -1, "out of memory");
            }
            text = t;
        }
        memcpy(text + n, line, k);
        n += k;
        if (line[k - 1] != '\n') text[n++] = '\n';
        text[n] = 0;
    }
    if (f) fclose(f);
    char add[MAX_LINE];
    int k = snprintf(add, sizeof add, "%s:%s:%s\n", name, role, hash);
    char *t = realloc(text, n + (size_t)k + 1);
    if (!t) {
        free(text);
        return ibex__fail(diag, IBEX_ERR_NOMEM, path, -1, "out of memory");
    }
    text = t;
    memcpy(text + n, add, (size_t)k + 1);
    n += (size_t)k;
    /* Written beside, readable by the owner only, then renamed over the file. */
    char tmp[4200];
    ibex_status st = ibex__atomic_begin(path, tmp, sizeof tmp, diag);
    if (st) {
        free(text);
        return st;
    }
    int fd = open(tmp, O_WRONLY | O_TRUNC);
    int ok = fd >= 0 && fchmod(fd, 0600) == 0 && ibex__write_all(fd, text, n);
    if (fd >= 0 && close(fd) != 0) ok = 0;
    free(text);
    if (!ok) {
        int e = errno;
        ibex__atomic_abort(tmp);
        return ibex__fail(diag, IBEX_ERR_IO, path, -1, "cannot write: %s", strerror(e));
    }
    return ibex__atomic_commit(tmp, path, diag);
}

int ibex__wb_login_check(ibex_workbench *W, const char *name, const char *password, wb_account *who)
{
    /* A stand-in hash, so an unknown name costs what a wrong password costs. */
    static char dummy[crypto_pwhash_STRBYTES];
    pthread_mutex_lock(&W->login_lock);
    if (!dummy[0] && crypto_pwhash_str(dummy, "not a password", 14, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                       crypto_pwhash_MEMLIMIT_INTERACTIVE))
        dummy[0] = 0;
    const wb_account *a = NULL;
    for (size_t i = 0; name && i < W->naccounts && !a; i++)
        if (!strcmp(W->accounts[i].name, name)) a = &W->accounts[i];
    size_t pn = password ? strlen(password) : 0;
    int ok = a && pn <= 1024 && crypto_pwhash_str_verify(a->hash, password, pn) == 0;
    if (!a && dummy[0] && password && crypto_pwhash_str_verify(dummy, password, pn) == 0) ok = 0; /* same cost */
    if (!ok) sleep(1);
    pthread_mutex_unlock(&W->login_lock);
    if (ok) *who = *a;
    return ok;
}
