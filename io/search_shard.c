/* Sharded search (docs/reference/sharding.md): rank r of K takes the library rows
 * [r N / K, (r + 1) N / K) — a hyperslab of /index — and the ranks meet at three
 * collective steps: the row counts (each rank's place in the whole index), the global
 * shortlist (whose rows are then dealt round-robin for stage 2), and the stage-2 results
 * gathered on rank 0. Every step first agrees on whether some rank failed, so a refused
 * input ends the job on all ranks (never a rank left waiting); only the lowest failing
 * rank reports. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef IBEX_HAVE_MPI
#include <mpi.h>
#include <stdint.h>
#include <time.h>
#endif

#include "ibex_internal.h"
#include "search_shard_internal.h"

void ibex__shard_local(ibex_shard *sh)
{
    memset(sh, 0, sizeof *sh);
    sh->size = 1;
}

int ibex_shard_rank(const ibex_shard *sh) { return sh ? sh->rank : 0; }
int ibex_shard_size(const ibex_shard *sh) { return sh ? sh->size : 1; }

void ibex__shard_rows(ibex_shard *sh, size_t N, size_t *lo, size_t *hi)
{
    sh->N = N;
    *lo = N / (size_t)sh->size * (size_t)sh->rank + N % (size_t)sh->size * (size_t)sh->rank / (size_t)sh->size;
    *hi = N / (size_t)sh->size * (size_t)(sh->rank + 1) +
          N % (size_t)sh->size * (size_t)(sh->rank + 1) / (size_t)sh->size;
}

static int size_cmp(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

int ibex__shard_owns(const ibex_shard *sh, size_t row)
{
    if (!sh->on) return 1;
    const size_t *p = sh->sl_rows ? bsearch(&row, sh->sl_rows, sh->sl_n, sizeof row, size_cmp) : NULL;
    return p && sh->sl_owner[p - sh->sl_rows] == sh->rank;
}

/* The identity of the single process: hit positions -> library rows. */
static void map_hits(ibex_hit *hits, const size_t *nh, size_t nq, size_t k, const size_t *map, size_t first)
{
    for (size_t i = 0; i < nq; i++)
        for (size_t h = 0; h < nh[i]; h++) hits[i * k + h].row = map[hits[i * k + h].row - first];
}

#ifndef IBEX_HAVE_MPI

ibex_status ibex_shard_create(ibex_shard **out, ibex_diag *diag)
{
    (void)out;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, NULL, -1,
                      "this ibex was built without MPI (install Open MPI and rebuild)");
}

int ibex_shard_finish(ibex_shard *sh, int code, int *report)
{
    if (report) *report = code != 0;
    if (sh) {
        free(sh->sl_rows);
        free(sh->sl_owner);
        free(sh);
    }
    return code;
}

ibex_status ibex__shard_counts(ibex_shard *sh, size_t *nix, size_t *pending, size_t *first, ibex_diag *diag)
{
    (void)sh, (void)nix, (void)pending, (void)diag;
    *first = 0;
    return IBEX_OK;
}

ibex_status ibex__shard_shortlist(ibex_shard *sh, ibex_hit *hits, size_t *nh, size_t nq, size_t k,
                                  const size_t *map, size_t first, ibex_diag *diag)
{
    (void)sh, (void)diag;
    map_hits(hits, nh, nq, k, map, first);
    return IBEX_OK;
}

ibex_status ibex__shard_gather(ibex_shard *sh, void *cands, size_t size, size_t row_off, const size_t *nc,
                               size_t nq, size_t k, ibex_diag *diag)
{
    (void)sh, (void)cands, (void)size, (void)row_off, (void)nc, (void)nq, (void)k, (void)diag;
    return IBEX_OK;
}

#else

static const char peer_failed[] = "stopped: another rank of the MPI job failed";

ibex_status ibex_shard_create(ibex_shard **out, ibex_diag *diag)
{
    ibex_shard *sh = calloc(1, sizeof *sh);
    if (!sh) return ibex__fail(diag, IBEX_ERR_NOMEM, NULL, -1, "out of memory");
    ibex__shard_local(sh);
    int inited = 0, provided;
    MPI_Initialized(&inited);
    if (!inited) {
        /* Only the main thread calls MPI; OpenMP threads work between the steps. */
        MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
        sh->own_mpi = 1;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &sh->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &sh->size);
    sh->on = 1;
    *out = sh;
    return IBEX_OK;
}

/* Waits for a collective without spinning: a rank that finished its share sleeps while
 * the others work (Open MPI busy-polls in blocking calls, which takes a core from the
 * ranks still computing when ranks share a machine). */
static void wait_idle(MPI_Request *req)
{
    int done = 0;
    struct timespec nap = {0, 500000};
    for (;;) {
        MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (done) return;
        nanosleep(&nap, NULL);
    }
}

/* One step's agreement: the largest exit status of the ranks, and who reports it. */
static int agree(ibex_shard *sh, int rc)
{
    int in[2] = {rc, rc ? sh->size - sh->rank : 0}, out[2];
    MPI_Request req;
    MPI_Iallreduce(in, out, 2, MPI_INT, MPI_MAX, MPI_COMM_WORLD, &req);
    wait_idle(&req);
    sh->step++;
    if (out[0]) {
        sh->failed = out[0];
        sh->report = rc && out[1] == sh->size - sh->rank;
    }
    return out[0];
}

ibex_status ibex__shard_counts(ibex_shard *sh, size_t *nix, size_t *pending, size_t *first, ibex_diag *diag)
{
    if (!sh->on) {
        *first = 0;
        return IBEX_OK;
    }
    if (agree(sh, 0)) return ibex__fail(diag, IBEX_ERR_CANCELLED, NULL, -1, peer_failed);
    unsigned long long mine[2] = {*nix, *pending}, all[2], below = 0;
    MPI_Allreduce(mine, all, 2, MPI_UNSIGNED_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
    MPI_Exscan(mine, &below, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
    *first = sh->rank ? (size_t)below : 0; /* Exscan leaves rank 0's output undefined */
    *nix = (size_t)all[0];
    *pending = (size_t)all[1];
    return IBEX_OK;
}

/* Stage-2 work: the distinct shortlisted rows, in order of first appearance in the merged
 * lists, dealt round-robin to the ranks. Dealing the shortlist rather than keeping each
 * row on its hyperslab's rank balances the comparisons, which dominate the query time:
 * a query's best candidates cluster in the library (a firearm's casings are usually
 * ingested together), so they would mostly fall on one rank. */
typedef struct first_seen {
    size_t row, pos;
} first_seen;

static int by_row(const void *a, const void *b)
{
    const first_seen *x = a, *y = b;
    if (x->row != y->row) return x->row < y->row ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static int by_pos(const void *a, const void *b)
{
    const first_seen *x = a, *y = b;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static ibex_status assign(ibex_shard *sh, const ibex_hit *hits, const size_t *nh, size_t nq, size_t k,
                          size_t total, ibex_diag *diag)
{
    first_seen *f = malloc((total + 1) * sizeof *f);
    size_t *rows = malloc((total + 1) * sizeof *rows);
    int *owner = malloc((total + 1) * sizeof *owner);
    if (!f || !rows || !owner) {
        free(f);
        free(rows);
        free(owner);
        return ibex__fail(diag, IBEX_ERR_NOMEM, NULL, -1, "out of memory for the stage-2 assignment");
    }
    size_t n = 0, u = 0;
    for (size_t i = 0; i < nq; i++)
        for (size_t h = 0; h < nh[i]; h++, n++) f[n] = (first_seen){hits[i * k + h].row, n};
    qsort(f, n, sizeof *f, by_row);
    for (size_t j = 0; j < n; j++)
        if (!u || f[j].row != f[u - 1].row) f[u++] = f[j];
    qsort(f, u, sizeof *f, by_pos);
    for (size_t j = 0; j < u; j++) f[j].pos = j % (size_t)sh->size; /* pos now = owner */
    qsort(f, u, sizeof *f, by_row);
    for (size_t j = 0; j < u; j++) {
        rows[j] = f[j].row;
        owner[j] = (int)f[j].pos;
    }
    free(f);
    sh->sl_rows = rows;
    sh->sl_owner = owner;
    sh->sl_n = u;
    return IBEX_OK;
}

typedef struct wire_hit {
    float score;
    uint32_t pad;
    uint64_t pos; /* whole-index position: the tie-break, as in ibex_index_query */
    uint64_t row; /* library row */
} wire_hit;

static int wire_cmp(const void *a, const void *b)
{
    const wire_hit *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

ibex_status ibex__shard_shortlist(ibex_shard *sh, ibex_hit *hits, size_t *nh, size_t nq, size_t k,
                                  const size_t *map, size_t first, ibex_diag *diag)
{
    if (!sh->on) {
        map_hits(hits, nh, nq, k, map, first);
        return IBEX_OK;
    }
    size_t K = (size_t)sh->size, per = nq * k;
    wire_hit *mine = calloc(per ? per : 1, sizeof *mine), *all = malloc(K * (per ? per : 1) * sizeof *all);
    uint64_t *cnt = calloc(nq ? nq : 1, sizeof *cnt), *cnts = malloc(K * (nq ? nq : 1) * sizeof *cnts);
    wire_hit *m = malloc(K * (k ? k : 1) * sizeof *m);
    int nomem = !mine || !all || !cnt || !cnts || !m || per * sizeof *mine > (size_t)INT32_MAX;
    ibex_status rc = IBEX_OK;
    if (agree(sh, nomem ? 1 : 0))
        rc = nomem ? ibex__fail(diag, IBEX_ERR_NOMEM, NULL, -1, "out of memory for the shortlist merge (%zu hits)",
                                K * per)
                   : ibex__fail(diag, IBEX_ERR_CANCELLED, NULL, -1, peer_failed);
    if (rc) goto done;
    for (size_t i = 0; i < nq; i++) {
        cnt[i] = nh[i];
        for (size_t h = 0; h < nh[i]; h++) {
            const ibex_hit *x = &hits[i * k + h];
            mine[i * k + h] = (wire_hit){x->score, 0, x->row, map[x->row - first]};
        }
    }
    MPI_Allgather(cnt, (int)nq, MPI_UINT64_T, cnts, (int)nq, MPI_UINT64_T, MPI_COMM_WORLD);
    MPI_Allgather(mine, (int)(per * sizeof *mine), MPI_BYTE, all, (int)(per * sizeof *mine), MPI_BYTE,
                  MPI_COMM_WORLD);
    /* Each rank's list is its top k: the global top k is among their union. */
    size_t total = 0;
    for (size_t i = 0; i < nq; i++) {
        size_t nm = 0;
        for (size_t r = 0; r < K; r++)
            for (size_t h = 0; h < cnts[r * nq + i] && h < k; h++) m[nm++] = all[r * per + i * k + h];
        qsort(m, nm, sizeof *m, wire_cmp);
        nh[i] = nm < k ? nm : k;
        for (size_t h = 0; h < nh[i]; h++) hits[i * k + h] = (ibex_hit){(size_t)m[h].row, m[h].score};
        total += nh[i];
    }
    rc = assign(sh, hits, nh, nq, k, total, diag);
done:
    free(mine);
    free(all);
    free(cnt);
    free(cnts);
    free(m);
    return rc;
}

ibex_status ibex__shard_gather(ibex_shard *sh, void *cands, size_t size, size_t row_off, const size_t *nc,
                               size_t nq, size_t k, ibex_diag *diag)
{
    if (!sh->on) return IBEX_OK;
    if (agree(sh, 0)) return ibex__fail(diag, IBEX_ERR_CANCELLED, NULL, -1, peer_failed);
    ibex_status rc = IBEX_OK;
    unsigned char *base = cands;
    size_t item = sizeof(uint64_t) + size, n = 0;
    int K = sh->size;
    /* Records rank 0 does not own: their slot number, then the record. */
    if (sh->rank)
        for (size_t i = 0; i < nq; i++)
            for (size_t h = 0; h < nc[i]; h++) {
                size_t row;
                memcpy(&row, base + (i * k + h) * size + row_off, sizeof row);
                n += ibex__shard_owns(sh, row);
            }
    unsigned char *out = malloc(n * item + 1);
    int bytes = out && n * item <= (size_t)INT32_MAX ? (int)(n * item) : -1;
    int *counts = sh->rank ? NULL : calloc((size_t)K, sizeof *counts);
    int *displs = sh->rank ? NULL : calloc((size_t)K, sizeof *displs);
    MPI_Gather(&bytes, 1, MPI_INT, counts, 1, MPI_INT, 0, MPI_COMM_WORLD);
    size_t total = 0;
    int bad = bytes < 0;
    if (!sh->rank) {
        if (!counts || !displs) bad = 1;
        for (int r = 0; !bad && r < K; r++) {
            if (counts[r] < 0 || total + (size_t)counts[r] > (size_t)INT32_MAX) bad = 1;
            else displs[r] = (int)total, total += (size_t)counts[r];
        }
    }
    /* Everyone learns whether the gather can go ahead. */
    MPI_Bcast(&bad, 1, MPI_INT, 0, MPI_COMM_WORLD);
    unsigned char *in = NULL;
    if (!bad && !sh->rank && !(in = malloc(total + 1))) bad = 1;
    MPI_Bcast(&bad, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (bad) {
        rc = ibex__fail(diag, sh->rank ? IBEX_ERR_CANCELLED : IBEX_ERR_NOMEM, NULL, -1,
                        sh->rank ? peer_failed : "out of memory gathering the stage-2 results");
        goto done;
    }
    size_t j = 0;
    for (size_t i = 0; sh->rank && i < nq; i++)
        for (size_t h = 0; h < nc[i]; h++) {
            size_t row, slot = i * k + h;
            memcpy(&row, base + slot * size + row_off, sizeof row);
            if (!ibex__shard_owns(sh, row)) continue;
            uint64_t s = slot;
            memcpy(out + j * item, &s, sizeof s);
            memcpy(out + j * item + sizeof s, base + slot * size, size);
            j++;
        }
    MPI_Gatherv(out, bytes, MPI_BYTE, in, counts, displs, MPI_BYTE, 0, MPI_COMM_WORLD);
    for (size_t o = 0; !sh->rank && o + item <= total; o += item) {
        uint64_t s;
        memcpy(&s, in + o, sizeof s);
        if (s < nq * k) memcpy(base + s * size, in + o + sizeof s, size);
    }
done:
    free(out);
    free(in);
    free(counts);
    free(displs);
    return rc;
}

int ibex_shard_finish(ibex_shard *sh, int code, int *report)
{
    if (!sh || !sh->on) {
        if (report) *report = code != 0;
        if (sh) {
            free(sh->sl_rows);
            free(sh->sl_owner);
            free(sh);
        }
        return code;
    }
    /* A rank that stops early still takes part in the agreements the others wait in. */
    while (!sh->failed && sh->step < IBEX__SHARD_STEPS) {
        if (!code) code = 1; /* stopped before a step without saying why: refuse */
        agree(sh, code);
    }
    if (sh->failed > code) code = sh->failed;
    if (report) *report = sh->report;
    free(sh->sl_rows);
    free(sh->sl_owner);
    if (sh->own_mpi) MPI_Finalize();
    free(sh);
    return code;
}

#endif
