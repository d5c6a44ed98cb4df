/* ibex query --mpi: the hooks that let cmd_query.c run as one rank of an MPI job
 * (docs/sharding.md). Without --mpi every hook is the identity of the single process: one
 * "rank" owning all rows. Each rank reads a hyperslab of the library's rows, scores its
 * part of the stage-1 index, the ranks agree on the global shortlist and deal its rows
 * round-robin, each re-scores its share with stage 2, and rank 0 gathers and prints. */
#ifndef IBEX_CLI_QUERY_MPI_H
#define IBEX_CLI_QUERY_MPI_H

#include <stdio.h>

#include "ibex/ibex.h"

typedef struct query_shard {
    int on;           /* --mpi given */
    int rank, size;
    size_t N;         /* library rows, set by qs_rows */
    int step;         /* collective steps passed (qs_counts, qs_shortlist, qs_gather) */
    int failed;       /* a step found some rank failed: the job's exit status */
    int report;       /* this rank's captured messages explain the failure */
    int saved_err;    /* ranks > 0: the real stderr while messages are captured */
    FILE *err;        /* ranks > 0: captured messages */
    size_t *sl_rows;  /* distinct shortlisted rows, ascending, and the rank that */
    int *sl_owner;    /* runs their stage 2 (set by qs_shortlist) */
    size_t sl_n;
} query_shard;

/* Starts MPI when mpi is set (MPI_Init only then). Returns EXIT_OK, or EXIT_USAGE when this
 * ibex was built without MPI. Every return after it must go through qs_end. */
int qs_begin(query_shard *sh, int mpi);
/* This rank's hyperslab [*lo, *hi) of the N library rows: [r N / K, (r + 1) N / K). */
void qs_rows(query_shard *sh, size_t N, size_t *lo, size_t *hi);
/* 1 when this rank runs stage 2 for shortlisted library row `row` (always without --mpi). */
int qs_owns(const query_shard *sh, size_t row);
int qs_root(const query_shard *sh);
/* Step 1: *nix and *pending (this rank's indexed and not-indexed rows) become the totals;
 * *first = indexed rows on lower ranks (this rank's place in the whole index). Returns
 * EXIT_OK, or the exit status when some rank failed before it. */
int qs_counts(query_shard *sh, size_t *nix, size_t *pending, size_t *first);
/* Step 2: hits[i * k ..] (nh[i] of them, rows = whole-index positions from
 * ibex_index_query_part) become the global top-k lists of library rows, merged over the
 * ranks under (score descending, row ascending), and deals the distinct rows round-robin
 * for stage 2 (qs_owns). map: this rank's index position - first -> library row. */
int qs_shortlist(query_shard *sh, ibex_hit *hits, size_t *nh, size_t nq, size_t k, const size_t *map,
                 size_t first);
/* Step 3: rank 0 receives the stage-2 results of the candidates other ranks own. cands:
 * nq * k records of `size` bytes, query i's nc[i] first; the library row is a size_t at
 * byte offset row_off. */
int qs_gather(query_shard *sh, void *cands, size_t size, size_t row_off, const size_t *nc, size_t nq,
              size_t k);
/* Agrees on the outcome with the other ranks (the steps not passed yet), reports the
 * lowest failing rank's messages, stops MPI; returns the job's exit status. */
int qs_end(query_shard *sh, int rc);

#endif
