/* Federated queries (docs/reference/node.md, "Federation"): a node forwards a query to its peers, one
 * thread per peer with a deadline each, and merges their ranked lists with its own. Loops are
 * cut by the query id (a node answers a query id it has seen with an empty list) and by the
 * hop count the query carries. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ibex_internal.h"
#include "node_internal.h"

typedef struct job {
    ibex__forward *f;
    const ibex_node_key *key;
    const char *body;
    size_t len;
    long timeout_s;
    const char *ca_file;
} job;

static void *forward_one(void *arg)
{
    job *j = arg;
    ibex__forward *f = j->f;
    ibex_node_response r;
    ibex_diag d;
    double t0 = ibex__now();
    ibex_status st = ibex_node_request(f->peer->url, f->peer->name, j->key, "POST", "/v1/query", j->body, j->len,
                                       "application/json", j->timeout_s, j->ca_file, &r, &d);
    f->seconds = ibex__now() - t0;
    if (st) {
        snprintf(f->error, sizeof f->error, "%.290s", d.message);
        return NULL;
    }
    f->status = r.status;
    f->body = (char *)r.body; /* keeps the response's buffer */
    f->size = r.size;
    return NULL;
}

void ibex__forward_all(ibex__forward *f, size_t n, const ibex_node_key *key, const char *body,
                       size_t len, long timeout_s, const char *ca_file)
{
    job *jobs = calloc(n ? n : 1, sizeof *jobs);
    pthread_t *th = calloc(n ? n : 1, sizeof *th);
    unsigned char *started = calloc(n ? n : 1, 1);
    if (!jobs || !th || !started) {
        for (size_t i = 0; i < n; i++) snprintf(f[i].error, sizeof f[i].error, "out of memory");
        n = 0;
    }
    for (size_t i = 0; i < n; i++) {
        jobs[i] = (job){&f[i], key, body, len, timeout_s, ca_file};
        started[i] = pthread_create(&th[i], NULL, forward_one, &jobs[i]) == 0;
        if (!started[i]) forward_one(&jobs[i]); /* no thread to spare: ask in turn */
    }
    for (size_t i = 0; i < n; i++)
        if (started[i]) pthread_join(th[i], NULL);
    free(jobs);
    free(th);
    free(started);
}

void ibex__forward_clear(ibex__forward *f, size_t n)
{
    for (size_t i = 0; f && i < n; i++) {
        free(f[i].body);
        f[i].body = NULL;
    }
}

/* Order of the merged list: scored candidates first, then by score, stage-1 similarity,
 * node and id, so the merge does not depend on the order answers arrived in. */
static int cand_cmp(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    json_t *sx = json_object_get(x, "score"), *sy = json_object_get(y, "score");
    int hx = json_is_number(sx), hy = json_is_number(sy);
    if (hx != hy) return hy - hx;
    double vx = hx ? json_number_value(sx) : 0, vy = hy ? json_number_value(sy) : 0;
    if (vx != vy) return vx > vy ? -1 : 1;
    double ux = json_number_value(json_object_get(x, "stage1")), uy = json_number_value(json_object_get(y, "stage1"));
    if (ux != uy) return ux > uy ? -1 : 1;
    const char *nx = json_string_value(json_object_get(x, "node")), *ny = json_string_value(json_object_get(y, "node"));
    int c = strcmp(nx ? nx : "", ny ? ny : "");
    if (c) return c;
    const char *ix = json_string_value(json_object_get(x, "id")), *iy = json_string_value(json_object_get(y, "id"));
    return strcmp(ix ? ix : "", iy ? iy : "");
}

/* Append the candidates of one answer, each marked with the node it lives on (a peer's own
 * merge already marked those of its peers). */
static void take(json_t *all, json_t *answer, const char *node)
{
    json_t *c = json_object_get(answer, "candidates");
    size_t i;
    json_t *v;
    json_array_foreach(c, i, v) {
        if (!json_is_object(v)) continue;
        json_t *o = json_deep_copy(v);
        if (!o) continue;
        if (!json_is_string(json_object_get(o, "node"))) json_object_set_new(o, "node", json_string(node));
        json_array_append_new(all, o);
    }
}

json_t *ibex__federate_merge(json_t *local, const char *self, const ibex__forward *f, size_t n,
                             size_t top, json_t *nodes)
{
    json_t *all = json_array();
    if (!all) return NULL;
    if (local) take(all, local, self);
    for (size_t i = 0; i < n; i++) {
        json_error_t je;
        json_t *a = f[i].status == 200 && f[i].body ? json_loadb(f[i].body, f[i].size, 0, &je) : NULL;
        json_t *e = json_pack("{s:s, s:i, s:f}", "node", f[i].peer->name, "status", (int)f[i].status,
                              "seconds", f[i].seconds);
        json_t *sub_nodes = a ? json_object_get(a, "nodes") : NULL;
        if (a && json_array_size(sub_nodes)) {
            /* The peer's list says how it and its own peers did; add the round trip to its entry. */
            take(all, a, f[i].peer->name);
            size_t k;
            json_t *sub;
            json_array_foreach(sub_nodes, k, sub) {
                if (!json_is_object(sub)) continue;
                json_t *cp = json_deep_copy(sub);
                const char *nm = json_string_value(json_object_get(cp, "node"));
                if (k == 0 && nm && !strcmp(nm, f[i].peer->name)) json_object_set_new(cp, "seconds", json_real(f[i].seconds));
                json_array_append_new(nodes, cp);
            }
            json_decref(e);
            json_decref(a);
            continue;
        }
        if (a) {
            take(all, a, f[i].peer->name);
            json_object_set_new(e, "candidates", json_integer((json_int_t)json_array_size(json_object_get(a, "candidates"))));
            if (json_is_true(json_object_get(a, "seen"))) json_object_set_new(e, "seen", json_true());
        } else {
            const char *why = f[i].error[0] ? f[i].error : NULL;
            json_t *b = !why && f[i].body ? json_loadb(f[i].body, f[i].size, 0, &je) : NULL;
            const char *berr = json_string_value(json_object_get(b, "error"));
            json_object_set_new(e, "error", json_string(why ? why : berr ? berr : "no usable answer"));
            json_decref(b);
        }
        json_array_append_new(nodes, e);
        json_decref(a);
    }
    size_t m = json_array_size(all);
    json_t **v = malloc((m ? m : 1) * sizeof *v);
    json_t *out = json_array();
    if (!v || !out) {
        free(v);
        json_decref(out);
        json_decref(all);
        return NULL;
    }
    for (size_t i = 0; i < m; i++) v[i] = json_array_get(all, i);
    qsort(v, m, sizeof *v, cand_cmp);
    for (size_t i = 0; i < m && i < top; i++) {
        json_object_set_new(v[i], "rank", json_integer((json_int_t)(i + 1)));
        json_array_append(out, v[i]);
    }
    free(v);
    json_decref(all);
    return out;
}
