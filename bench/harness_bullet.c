/* Bullet-level studies: land rows grouped into bullets, bullets compared over every land
 * pairing with the best cyclic phase (ibex_bullet_compare_model), truth = same barrel
 * (firearm_id). The land-score model is refitted for each study on the land pairs of the
 * other studies that have land-level truth and share no scan with it, so no bullet figure
 * rests on a model fitted on its own pairs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench_internal.h"
#include "ibex/pair.h"

#define NF IBEX_LAND_NFEAT
#define RIDGE 1.0 /* as the shipped model (bench/fit_land_model) */

static char *dup_text(const char *t)
{
    size_t n = strlen(t) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, t, n);
    return d;
}

/* The bullet a land row belongs to: its set folder plus the bullet part of its name. */
static void bullet_of(const bench_scan *s, char *name, size_t size, int *land)
{
    char b[512];
    *land = ibex_land_name_parse(s->rel, b, sizeof b);
    const char *slash = strrchr(s->rel, '/');
    int dir = slash ? (int)(slash - s->rel) : 0;
    snprintf(name, size, "%.*s%s%s", dir, s->rel, dir ? "/" : "", b);
}

ibex_status bench_bullets_group(const bench_manifest *in, bench_manifest *out, ibex_diag *diag)
{
    memset(out, 0, sizeof *out);
    out->scan = calloc(in->n ? in->n : 1, sizeof *out->scan);
    if (!out->scan) return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    for (size_t i = 0; i < in->n; i++) {
        const bench_scan *l = &in->scan[i];
        char name[600];
        int land;
        bullet_of(l, name, sizeof name, &land);
        if (!l->firearm || !l->firearm[0]) {
            bench_manifest_free(out);
            return ibex__fail(diag, IBEX_ERR_FORMAT, "", -1,
                              "%s (set %s) has no firearm_id: bullet studies need the barrel of "
                              "every land", l->rel, l->set);
        }
        bench_scan *g = NULL;
        for (size_t k = 0; k < out->n && !g; k++)
            if (!strcmp(out->scan[k].set, l->set) && !strcmp(out->scan[k].rel, name))
                g = &out->scan[k];
        if (!g) {
            g = &out->scan[out->n++];
            const char *base = strrchr(name, '/');
            g->path = dup_text(l->path);
            g->rel = dup_text(name);
            g->kind = dup_text("bullet");
            g->set = dup_text(l->set);
            g->key = dup_text(l->firearm);
            g->specimen = dup_text(base ? base + 1 : name);
            g->firearm = dup_text(l->firearm);
            g->sha256 = dup_text("");
            g->lands = calloc(in->n, sizeof *g->lands);
            g->land_no = calloc(in->n, sizeof *g->land_no);
            if (!g->path || !g->rel || !g->kind || !g->set || !g->key || !g->specimen ||
                !g->firearm || !g->sha256 || !g->lands || !g->land_no) {
                bench_manifest_free(out);
                return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
            }
        } else if (strcmp(g->firearm, l->firearm)) {
            ibex_status st = ibex__fail(diag, IBEX_ERR_FORMAT, "", -1,
                                        "%s: firearm_id '%s' differs from the other lands of "
                                        "bullet %s ('%s')", l->rel, l->firearm, g->rel, g->firearm);
            bench_manifest_free(out);
            return st;
        }
        g->land_no[g->n_lands] = land;
        g->lands[g->n_lands++] = l;
    }
    return IBEX_OK;
}

/* ---- the models ---- */

typedef struct land_row {
    const bench_scan *s;
    ibex_land_signature *sig;
} land_row;

/* Land-level truth: no two lands of one bullet share a key, and some pair across bullets
 * does (else the keys name barrels, and a land pair's truth is unknown). */
static int land_truth(const bench_manifest *m, const char *set)
{
    int same = 0;
    for (size_t i = 0; i < m->n; i++) {
        if (strcmp(m->scan[i].set, set)) continue;
        char bi[600], bj[600];
        int li, lj;
        bullet_of(&m->scan[i], bi, sizeof bi, &li);
        for (size_t j = i + 1; j < m->n; j++) {
            if (strcmp(m->scan[j].set, set) || strcmp(m->scan[i].key, m->scan[j].key)) continue;
            bullet_of(&m->scan[j], bj, sizeof bj, &lj);
            if (!strcmp(bi, bj)) return 0;
            same = 1;
        }
    }
    return same;
}

/* Do sets a and b of manifest m hold a common source: the same scan (sha256, else path) or
 * the same same_source_key (another copy of one land, e.g. a downsampled one)? */
static int share_scan(const bench_manifest *m, const char *a, const char *b)
{
    for (size_t i = 0; i < m->n; i++) {
        if (strcmp(m->scan[i].set, a)) continue;
        for (size_t j = 0; j < m->n; j++) {
            if (strcmp(m->scan[j].set, b)) continue;
            const bench_scan *x = &m->scan[i], *y = &m->scan[j];
            if (!strcmp(x->key, y->key) ||
                (x->sha256[0] && y->sha256[0] ? !strcmp(x->sha256, y->sha256)
                                              : !strcmp(x->path, y->path)))
                return 1;
        }
    }
    return 0;
}

static ibex_status signature_of(const char *path, ibex_land_signature **sig, ibex_diag *diag)
{
    ibex_surface *s = NULL;
    ibex_status st = ibex_surface_read(path, IBEX_READ_NO_VERIFY, &s, diag);
    if (st) return st;
    ibex_land_opts o;
    ibex_land_opts_init(&o);
    st = ibex_land_signature_create(s, &o, sig, diag);
    ibex_surface_free(s);
    return st;
}

void bench_bullet_ctx_free(bench_bullet_ctx *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) free(c->set[i]);
    free(c->set);
    free(c->model);
    free(c->fitted);
    free(c->how);
    memset(c, 0, sizeof *c);
}

static int append(char **buf, size_t *len, size_t *cap, const char *t)
{
    size_t k = strlen(t);
    if (*len + k + 1 > *cap) {
        size_t nc = (*cap + k + 1) * 2;
        char *nb = realloc(*buf, nc);
        if (!nb) return -1;
        *buf = nb;
        *cap = nc;
    }
    memcpy(*buf + *len, t, k + 1);
    *len += k;
    return 0;
}

/* Pairs of lands within each training set, each unordered pair of distinct scans once. */
typedef struct train_pair {
    size_t a, b;       /* rows */
    double f[NF];
    int same;
} train_pair;

ibex_status bench_bullet_models(const char *manifest, const bench_manifest *bullets,
                                bench_bullet_ctx *c, ibex_diag *diag)
{
    memset(c, 0, sizeof *c);
    bench_manifest all;
    ibex_status st = bench_manifest_read(manifest, "bullet", NULL, &all, diag);
    if (st) return st;
    /* training sets: land-level truth */
    land_row *row = calloc(all.n ? all.n : 1, sizeof *row);
    train_pair *tp = NULL;
    size_t ntp = 0, cap = 0, ntset = 0;
    const char *tset[64]; /* the training sets, in manifest order */
    char *how = NULL;
    size_t hlen = 0, hcap = 0;
    c->set = calloc(bullets->n ? bullets->n : 1, sizeof *c->set);
    c->model = calloc(bullets->n ? bullets->n : 1, sizeof *c->model);
    c->fitted = calloc(bullets->n ? bullets->n : 1, sizeof *c->fitted);
    if (!row || !c->set || !c->model || !c->fitted) {
        st = ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < all.n; i++) row[i].s = &all.scan[i];
    for (size_t i = 0; i < all.n && !st; i++) {
        int first = 1;
        for (size_t k = 0; k < i; k++) first &= strcmp(all.scan[k].set, all.scan[i].set) != 0;
        if (!first || !land_truth(&all, all.scan[i].set) || ntset == 64) continue;
        const char *set = all.scan[i].set;
        tset[ntset++] = set;
        for (size_t a = 0; a < all.n; a++)
            if (!strcmp(all.scan[a].set, set) && !row[a].sig &&
                signature_of(all.scan[a].path, &row[a].sig, NULL) != IBEX_OK)
                row[a].sig = NULL; /* a land without a usable signature gives no pair */
        for (size_t a = 0; a < all.n && !st; a++)
            for (size_t b = a + 1; b < all.n && !st; b++) {
                if (strcmp(all.scan[a].set, set) || strcmp(all.scan[b].set, set)) continue;
                if (!row[a].sig || !row[b].sig) continue;
                ibex_land_result r;
                if (ibex_land_compare(row[a].sig, row[b].sig, &r, NULL)) continue;
                if (ntp == cap) {
                    cap = cap ? 2 * cap : 256;
                    train_pair *n2 = realloc(tp, cap * sizeof *tp);
                    if (!n2) {
                        st = ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
                        break;
                    }
                    tp = n2;
                }
                tp[ntp].a = a;
                tp[ntp].b = b;
                ibex_land_features(&r, tp[ntp].f);
                tp[ntp].same = !strcmp(all.scan[a].key, all.scan[b].key);
                ntp++;
            }
    }
    if (st) goto out;
    /* one model per set of the study */
    double *f = malloc((ntp ? ntp : 1) * NF * sizeof *f);
    int *y = malloc((ntp ? ntp : 1) * sizeof *y);
    if (!f || !y) {
        free(f), free(y);
        st = ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
        goto out;
    }
    for (size_t g = 0; g < bullets->n && !st; g++) {
        const char *set = bullets->scan[g].set;
        size_t k = 0;
        for (; k < c->n; k++)
            if (!strcmp(c->set[k], set)) break;
        if (k < c->n) continue;
        c->set[c->n] = dup_text(set);
        if (!c->set[c->n]) {
            st = ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
            break;
        }
        /* training sets for this one: the others with land-level truth that hold none of
         * its sources; of two holding the same sources (a copy of a set), the first */
        const char *take[64];
        size_t nt = 0;
        for (size_t t = 0; t < ntset; t++) {
            int ok = strcmp(tset[t], set) && !share_scan(&all, tset[t], set);
            for (size_t u = 0; ok && u < nt; u++) ok = !share_scan(&all, take[u], tset[t]);
            if (ok) take[nt++] = tset[t];
        }
        size_t m = 0, same = 0;
        char used[512] = "";
        for (size_t t = 0; t < nt; t++)
            snprintf(used + strlen(used), sizeof used - strlen(used), "%s%s", t ? ", " : "", take[t]);
        for (size_t p = 0; p < ntp; p++) {
            int in = 0;
            for (size_t t = 0; t < nt && !in; t++) in = !strcmp(all.scan[tp[p].a].set, take[t]);
            if (!in) continue;
            memcpy(f + m * NF, tp[p].f, sizeof tp[p].f);
            y[m] = tp[p].same;
            same += (size_t)y[m];
            m++;
        }
        ibex_diag d;
        c->fitted[c->n] = m && ibex_land_model_fit(f, y, m, RIDGE, &c->model[c->n], &d) == IBEX_OK;
        if (!c->fitted[c->n]) ibex_land_model_shipped(&c->model[c->n]);
        char line[800];
        if (c->fitted[c->n])
            snprintf(line, sizeof line, "%s: land model fitted on %s (%zu land pairs, %zu of the "
                     "same land); ", set, used, m, same);
        else
            snprintf(line, sizeof line, "%s: no other set with land-level truth, the shipped "
                     "model used; ", set);
        if (append(&how, &hlen, &hcap, line))
            st = ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
        c->n++;
    }
    free(f), free(y);
out:
    for (size_t i = 0; row && i < all.n; i++) ibex_land_signature_free(row[i].sig);
    free(row);
    free(tp);
    bench_manifest_free(&all);
    if (st) {
        free(how);
        bench_bullet_ctx_free(c);
        return st;
    }
    if (hlen >= 2) how[hlen - 2] = 0; /* the last "; " */
    c->how = how ? how : dup_text("");
    return IBEX_OK;
}

/* ---- the method ---- */

typedef struct bullet_prep {
    ibex_bullet b;
    ibex_land_signature **sig;   /* b.n_lands slots, NULL where a land is missing or unusable */
    const ibex_land_model *model;
} bullet_prep;

void bench_bullet_free(void *p)
{
    bullet_prep *b = p;
    if (!b) return;
    for (size_t i = 0; i < b->b.n_lands; i++) ibex_land_signature_free(b->sig[i]);
    free(b->sig);
    free(b);
}

ibex_status bench_bullet_prepare(const bench_scan *s, void **prep, void *vctx, ibex_diag *diag)
{
    const bench_bullet_ctx *c = vctx;
    if (!s->n_lands) return ibex__fail(diag, IBEX_ERR_ARG, s->rel, -1, "a bullet with no land");
    /* positions around the bullet from the land numbers; lands without one go after */
    size_t n = 0;
    int numbered = 1;
    for (size_t i = 0; i < s->n_lands; i++) {
        if (s->land_no[i] <= 0) numbered = 0;
        else if ((size_t)s->land_no[i] > n) n = (size_t)s->land_no[i];
    }
    int by_number = numbered && n <= 64;
    if (!by_number) n = s->n_lands;
    bullet_prep *b = calloc(1, sizeof *b);
    if (b) b->sig = calloc(n, sizeof *b->sig);
    if (!b || !b->sig) {
        free(b);
        return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    }
    b->b.n_lands = n;
    b->b.lands = (const ibex_land_signature *const *)b->sig;
    for (size_t i = 0; i < s->n_lands; i++) {
        size_t pos = by_number ? (size_t)s->land_no[i] - 1 : i;
        if (pos >= n || b->sig[pos]) continue; /* a repeated land number: the first kept */
        ibex_diag d;
        ibex_status st = signature_of(s->lands[i]->path, &b->sig[pos], &d);
        if (st == IBEX_ERR_UNSUPPORTED) continue; /* an unusable land is a missing one */
        if (st) {
            bench_bullet_free(b);
            if (diag) *diag = d;
            return st;
        }
    }
    b->model = NULL;
    for (size_t k = 0; c && k < c->n; k++)
        if (!strcmp(c->set[k], s->set)) b->model = &c->model[k];
    *prep = b;
    return IBEX_OK;
}

ibex_status bench_bullet_compare(const void *va, const void *vb, bench_pair_result *out,
                                 void *ctx, ibex_diag *diag)
{
    (void)ctx;
    const bullet_prep *a = va, *b = vb;
    ibex_bullet_result *r = NULL;
    ibex_status st = ibex_bullet_compare_model(&a->b, &b->b, a->model, &r, diag);
    if (st) return st;
    out->score = isfinite(r->score) ? r->score : 0;
    out->aux[0] = (double)r->best_phase;
    out->aux[1] = (double)r->n_matching;
    out->aux[2] = isfinite(r->runner_up) ? r->runner_up : 0;
    out->aux[3] = (double)r->verdict;
    ibex_bullet_result_free(r);
    return IBEX_OK;
}
