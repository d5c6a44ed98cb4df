/* The collective steps of a sharded search (search_shard.c; docs/reference/sharding.md). Without a
 * shard (or built without MPI) every step is the identity of one process owning all rows.
 * Each rank reads a hyperslab of the library's rows, scores its part of the stage-1 index,
 * the ranks agree on the global shortlist and deal its rows round-robin, each re-scores
 * its share with stage 2, and rank 0 gathers the results. */
#ifndef IBEX_SEARCH_SHARD_INTERNAL_H
#define IBEX_SEARCH_SHARD_INTERNAL_H

#include "ibex/index.h"
#include "ibex/search.h"

#define IBEX__SHARD_STEPS 3

struct ibex_shard {
    int on;           /* part of an MPI job (else: the single process) */
    int rank, size;
    int own_mpi;      /* ibex_shard_create initialised MPI: finish finalises it */
    size_t N;         /* library rows, set by ibex__shard_rows */
    int step;         /* collective steps passed (counts, shortlist, gather) */
    int failed;       /* a step found some rank failed: the job's exit status */
    int report;       /* this rank's message explains the failure */
    size_t *sl_rows;  /* distinct shortlisted rows, ascending, and the rank that */
    int *sl_owner;    /* runs their stage 2 (set by ibex__shard_shortlist) */
    size_t sl_n;
};

/* The single process: one "rank" owning every row. */
void ibex__shard_local(ibex_shard *sh);
/* This rank's hyperslab [*lo, *hi) of the N library rows: [r N / K, (r + 1) N / K). */
void ibex__shard_rows(ibex_shard *sh, size_t N, size_t *lo, size_t *hi);
/* 1 when this rank runs stage 2 for shortlisted library row `row` (always in one process). */
int ibex__shard_owns(const ibex_shard *sh, size_t row);
/* The steps return IBEX_ERR_CANCELLED when another rank failed before them (that rank
 * reports), or their own failure (out of memory). */
/* Step 1: *nix and *pending (this rank's indexed and not-indexed rows) become the totals;
 * *first = indexed rows on lower ranks (this rank's place in the whole index). */
ibex_status ibex__shard_counts(ibex_shard *sh, size_t *nix, size_t *pending, size_t *first, ibex_diag *diag);
/* Step 2: hits[i * k ..] (nh[i] of them, rows = whole-index positions from
 * ibex_index_query_part) become the global top-k lists of library rows, merged over the
 * ranks under (score descending, row ascending), and the distinct rows are dealt
 * round-robin for stage 2 (ibex__shard_owns). map: this rank's index position - first ->
 * library row. */
ibex_status ibex__shard_shortlist(ibex_shard *sh, ibex_hit *hits, size_t *nh, size_t nq, size_t k,
                                  const size_t *map, size_t first, ibex_diag *diag);
/* Step 3: rank 0 receives the stage-2 results of the candidates other ranks own. cands:
 * nq * k records of `size` bytes, query i's nc[i] first; the library row is a size_t at
 * byte offset row_off. */
ibex_status ibex__shard_gather(ibex_shard *sh, void *cands, size_t size, size_t row_off, const size_t *nc,
                               size_t nq, size_t k, ibex_diag *diag);

#endif
