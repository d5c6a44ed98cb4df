/* The ranked search of 'ibex query' as a function: cmd_query.c prints its result, the node
 * (cli/node_library.c) answers POST /v1/query with it. */
#ifndef IBEX_CLI_QUERY_H
#define IBEX_CLI_QUERY_H

#include <jansson.h>
#include "ibex/calibration.h"

#include "index_model.h"

typedef struct query_cand {
    size_t row;     /* library row */
    float stage1;
    int done;       /* stage 2 ran */
    double score;
    unsigned cmc, cmc_high, cells_a, cells_b; /* bullets: cmc = CMS count */
    double ccf;                               /* bullets: land CCF */
    ibex_verdict verdict;
    char err[160];  /* stage 2 failure, else empty */
} query_cand;

typedef struct query_opts {
    const char *lib_path;
    char **names;        /* one name per query (its file), for messages and --exclude-self */
    ibex_surface **qs;   /* the query surfaces as read (borrowed) */
    size_t nq;
    long shortlist;      /* stage-1 shortlist; 0 = max(50, 1% of the indexed specimens) */
    long threads;        /* stage-2 threads; 0 = all */
    int stage1_only, exclude_self;
    int quiet;           /* no progress or warnings on stderr */
    const char *kind_opt; /* "cartridge", "bullet" or NULL (from the scans) */
    int prealign;        /* cartridge stage 2 with the full-circle pre-registration */
    struct query_shard *shard; /* --mpi (query_mpi.h); NULL: one process owning every row */
    const char *within;  /* file of specimen ids, one per line: search only those; NULL = all */
} query_opts;

typedef struct query_result {
    query_cand *cands;   /* query i: cands[i * Kq + h], h < nc[i], ranked best first */
    size_t *nc, Kq;
    size_t N, nix, pending; /* library rows, indexed rows of the kind, rows not indexed yet */
    row_info *ri;        /* table info of the N rows */
    const char *kind;
    int bullet;
    double t0, t1, t2;   /* start, end of stage 1, end of stage 2 (monotonic seconds) */
    double t_open, t_load, t_search; /* library open, index loaded, search started */
    ibex_calibration cal;  /* LR calibration: the library's (stored by ibex index), else shipped */
    int has_cal;
} query_result;

/* The default stage-1 shortlist for n indexed specimens: max(50, 1% of n rounded up). */
size_t query_default_shortlist(size_t n);
/* Runs both stages. EXIT_OK with *res filled, or EXIT_REFUSED after a cli_error message
 * (no index, other parameters, wrong kind, ...). */
int query_run(const query_opts *o, query_result *res);
void query_result_clear(query_result *res);
/* The stage-2 fields of one candidate (score, cmc or cms, verdict, error) into a JSON
 * object: one shape for 'ibex query --json' and the node's /v1/query answer. */
void query_cand_json(json_t *a, const query_cand *cd, int bullet);

#endif
