/* ibex query --mpi: this process as one rank of an MPI job (the sharded search is the
 * library's: ibex_shard_create, include/ibex/search.h). Ranks > 0 keep their messages
 * until the end, and only the lowest failing rank's are shown, so a refused query file or
 * library is reported once, not once per rank. Without --mpi: a single process. */
#ifndef IBEX_CLI_QUERY_MPI_H
#define IBEX_CLI_QUERY_MPI_H

#include <stdio.h>

#include "ibex/search.h"

typedef struct query_rank {
    ibex_shard *shard; /* NULL without --mpi */
    int saved_err;     /* ranks > 0: the real stderr while messages are kept */
    FILE *err;         /* ranks > 0: the kept messages */
} query_rank;

/* Joins the job when mpi is set. EXIT_OK, or EXIT_USAGE when this ibex was built without
 * MPI. Every return after it must go through query_rank_end. */
int query_rank_begin(query_rank *qr, int mpi);
/* 1 on rank 0 (or without --mpi): the rank that prints the results. */
int query_rank_root(const query_rank *qr);
/* Agrees on the outcome with the other ranks, shows this rank's kept messages when they
 * explain the failure, leaves the job; returns the job's exit status. */
int query_rank_end(query_rank *qr, int rc);

#endif
