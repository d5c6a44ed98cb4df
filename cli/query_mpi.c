/* ibex query --mpi: messages of one rank (query_mpi.h). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "query_mpi.h"

int query_rank_begin(query_rank *qr, int mpi)
{
    memset(qr, 0, sizeof *qr);
    qr->saved_err = -1;
    if (!mpi) return EXIT_OK;
    ibex_diag d;
    memset(&d, 0, sizeof d);
    if (ibex_shard_create(&qr->shard, &d) != IBEX_OK) return cli_usage_error("--mpi: %s", d.message);
    if (ibex_shard_rank(qr->shard) > 0) {
        fflush(stderr);
        qr->err = tmpfile();
        qr->saved_err = qr->err ? dup(2) : -1;
        if (qr->saved_err >= 0) {
            dup2(fileno(qr->err), 2);
        } else if (qr->err) {
            fclose(qr->err);
            qr->err = NULL;
        }
    }
    return EXIT_OK;
}

int query_rank_root(const query_rank *qr) { return ibex_shard_rank(qr->shard) == 0; }

int query_rank_end(query_rank *qr, int rc)
{
    if (!qr->shard) return rc;
    int rank = ibex_shard_rank(qr->shard), report = 0;
    rc = ibex_shard_finish(qr->shard, rc, &report);
    qr->shard = NULL;
    if (rank > 0 && qr->saved_err >= 0) {
        fflush(stderr);
        dup2(qr->saved_err, 2);
        close(qr->saved_err);
        if (report && qr->err) {
            char line[1024];
            rewind(qr->err);
            while (fgets(line, sizeof line, qr->err)) fprintf(stderr, "[rank %d] %s", rank, line);
        }
    }
    if (qr->err) fclose(qr->err);
    return rc;
}
