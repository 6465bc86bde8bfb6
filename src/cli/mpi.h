/* mpi.h - MPI across processes and machines (optional: built with -DCLNAS_MPI=ON, the default
 * when CMake finds MPI).
 *
 * MPI starts only when the process was launched by mpirun/mpiexec or srun (the launcher's
 * environment: OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_RANK); a plain `clnas` call stays a plain
 * process, and then every function here behaves as for one rank (rank 0 of 1).
 *
 * Work distribution (cli_mpi_run_pool): rank 0 hands out work. Every rank runs its own device
 * pool; when one of its workers needs an item it asks rank 0 (a request and a reply, a few bytes),
 * and rank 0 answers with the next undone item. Rank 0 computes too: its pool runs on worker
 * threads while its main thread answers the requests. This is dynamic scheduling across ranks:
 * fast ranks take more items, and nothing depends on guessing the split in advance. The cost is
 * one round trip per item, negligible next to an item (seconds of scoring). */
#ifndef CLNAS_CLI_MPI_H
#define CLNAS_CLI_MPI_H

#include "runtime/pool.h"

/* Starts MPI when launched by mpirun/srun; 0 on success, else the exit status (message printed:
 * e.g. launched as one of several ranks by a clnas built without MPI). */
int cli_mpi_init(int *argc, char ***argv);
/* Ends MPI (no-op when it was not started); rc: the command's exit status. Returns rc. */
int cli_mpi_finalize(int rc);
int cli_mpi_rank(void);        /* 0 without MPI */
int cli_mpi_size(void);        /* 1 without MPI */
void cli_mpi_barrier(void);
double cli_mpi_max(double v);  /* the maximum over the ranks */
int cli_mpi_max_int(int v);
/* Ends every rank of the job at once (one rank's failure ends the job). */
void cli_mpi_abort(int rc);

/* Runs job over this rank's pool with items handed out by rank 0 (see above); job->next and
 * job->ordered are set here (items come in any order; commit writes to this rank's own file).
 * Without MPI or with one rank it is clnas_pool_run with items in order. */
clnas_status cli_mpi_run_pool(clnas_pool *pool, clnas_pool_job *job, int *stopped, char *err, size_t errlen);

/* Runs fn(ud, item) in this thread for the items 0..nitems-1 this rank is handed (dynamically,
 * by rank 0, as above); without MPI, for every item in order. A non-zero return from fn stops this
 * rank's share. 0 when every call of this rank succeeded. */
int cli_mpi_for_each(int nitems, int (*fn)(void *ud, int item), void *ud);

/* Makes items[0..n) (each `size` bytes) whole on every rank: item i comes from the rank where
 * mine[i] is set (plain bytes: the ranks run the same build on the same kind of host). Collective.
 * Without MPI, nothing to do. 0 on success. */
int cli_mpi_share(void *items, size_t size, int n, const unsigned char *mine);

#endif
