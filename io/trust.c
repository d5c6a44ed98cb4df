/* Trust list (peers.txt): the nodes whose signatures this node accepts. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "exchange_internal.h"
#include "ibex/package.h"
#include "ibex_internal.h"

#define TRUST_FILE_MAX ((size_t)1 << 20)
#define TRUST_MAX_PEERS 4096

struct ibex_trust {
    ibex_peer *peers;
    size_t n;
};

void ibex_trust_free(ibex_trust *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->n; i++) {
        free((char *)t->peers[i].name);
        free((char *)t->peers[i].url);
    }
    free(t->peers);
    free(t);
}

size_t ibex_trust_count(const ibex_trust *t) { return t ? t->n : 0; }

const ibex_peer *ibex_trust_get(const ibex_trust *t, size_t i)
{
    return t && i < t->n ? &t->peers[i] : NULL;
}

const ibex_peer *ibex_trust_find_name(const ibex_trust *t, const char *name)
{
    for (size_t i = 0; t && name && i < t->n; i++)
        if (strcmp(t->peers[i].name, name) == 0) return &t->peers[i];
    return NULL;
}

const ibex_peer *ibex_trust_find_key(const ibex_trust *t, const unsigned char pk[32])
{
    for (size_t i = 0; t && pk && i < t->n; i++)
        if (sodium_memcmp(t->peers[i].public_key, pk, 32) == 0) return &t->peers[i];
    return NULL;
}

int ibex_peer_verify(const ibex_peer *p, const void *msg, size_t n, const unsigned char sig[64])
{
    if (!p || !sig || !ibex__sodium_ready()) return 0;
    return crypto_sign_verify_detached(sig, msg, n, p->public_key) == 0;
}

/* Split off the next whitespace-separated field of *s. */
static char *field(char **s)
{
    char *p = *s;
    while (*p == ' ' || *p == '\t') p++;
    if (!*p) return NULL;
    char *start = p;
    while (*p && *p != ' ' && *p != '\t') p++;
    if (*p) *p++ = '\0';
    *s = p;
    return start;
}

static ibex_status parse(char *text, const char *name, ibex_trust *t, ibex_diag *diag)
{
    int lineno = 0;
    char *save = NULL;
    for (char *line = text; line; line = save) {
        char *nl = strchr(line, '\n');
        save = nl ? nl + 1 : NULL;
        if (nl) *nl = '\0';
        lineno++;
        size_t len = strlen(line);
        if (len && line[len - 1] == '\r') line[--len] = '\0';
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        char *rest = line;
        char *nm = field(&rest), *hex = field(&rest), *url = field(&rest), *extra = field(&rest);
        if (!nm) continue;
        if (!hex || extra)
            return ibex__fail(diag, IBEX_ERR_FORMAT, name, -1,
                              "line %d: expected 'NAME PUBLIC_KEY_HEX [URL]'", lineno);
        if (!ibex__node_name_ok(nm))
            return ibex__fail(diag, IBEX_ERR_FORMAT, name, -1,
                              "line %d: node name '%.80s' is not 1-64 of A-Z a-z 0-9 . _ -", lineno, nm);
        unsigned char pk[32];
        if (!ibex__hex_decode(hex, strlen(hex), pk, 32))
            return ibex__fail(diag, IBEX_ERR_FORMAT, name, -1,
                              "line %d: public key of '%s' is not 64 hex digits", lineno, nm);
        if (ibex_trust_find_name(t, nm))
            return ibex__fail(diag, IBEX_ERR_FORMAT, name, -1, "line %d: node '%s' is listed twice", lineno, nm);
        const ibex_peer *same = ibex_trust_find_key(t, pk);
        if (same)
            return ibex__fail(diag, IBEX_ERR_FORMAT, name, -1,
                              "line %d: '%s' has the same public key as '%s'", lineno, nm, same->name);
        if (t->n >= TRUST_MAX_PEERS)
            return ibex__fail(diag, IBEX_ERR_LIMIT, name, -1, "more than %d peers", TRUST_MAX_PEERS);
        ibex_peer *np = realloc(t->peers, (t->n + 1) * sizeof *np);
        if (!np) return ibex__fail(diag, IBEX_ERR_NOMEM, name, -1, "out of memory");
        t->peers = np;
        ibex_peer *p = &t->peers[t->n];
        memset(p, 0, sizeof *p);
        p->name = ibex__strdup(nm);
        p->url = url ? ibex__strdup(url) : NULL;
        memcpy(p->public_key, pk, 32);
        t->n++;
        if (!p->name || (url && !p->url)) return ibex__fail(diag, IBEX_ERR_NOMEM, name, -1, "out of memory");
    }
    return IBEX_OK;
}

ibex_status ibex_trust_read_mem(const char *text, size_t n, const char *name, ibex_trust **out,
                                ibex_diag *diag)
{
    if (!name) name = "<memory>";
    if (!text || !out) return ibex__fail(diag, IBEX_ERR_ARG, name, -1, "no text");
    if (n > TRUST_FILE_MAX)
        return ibex__fail(diag, IBEX_ERR_LIMIT, name, -1, "trust list over %zu bytes", TRUST_FILE_MAX);
    if (memchr(text, '\0', n)) return ibex__fail(diag, IBEX_ERR_FORMAT, name, -1, "trust list holds a NUL byte");
    char *copy = malloc(n + 1);
    ibex_trust *t = calloc(1, sizeof *t);
    if (!copy || !t) {
        free(copy);
        free(t);
        return ibex__fail(diag, IBEX_ERR_NOMEM, name, -1, "out of memory");
    }
    memcpy(copy, text, n);
    copy[n] = '\0';
    ibex_status s = parse(copy, name, t, diag);
    free(copy);
    if (s) {
        ibex_trust_free(t);
        return s;
    }
    *out = t;
    return IBEX_OK;
}

ibex_status ibex_trust_read(const char *path, ibex_trust **out, ibex_diag *diag)
{
    char *text;
    size_t n;
    if (!path) return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "no path");
    ibex_status s = ibex__read_text_file(path, TRUST_FILE_MAX, &text, &n, diag);
    if (s) return s;
    s = ibex_trust_read_mem(text, n, path, out, diag);
    free(text);
    return s;
}
