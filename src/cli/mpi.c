/* mpi.c - MPI launch detection, rank queries and the rank-0 work dispenser (cli/mpi.h).
 *
 * Messages (MPI_COMM_WORLD): a worker of rank r > 0 sends TAG_ASK (no data) to rank 0 and receives
 * TAG_ITEM (one int: the item, or -1 for none left). When rank r's pool has finished, r sends
 * TAG_DONE; rank 0 answers requests until every other rank is done, then joins its own pool. MPI
 * is called by the main thread on rank 0 and, one call at a time (under the pool's lock), by the
 * workers of the other ranks: MPI_THREAD_SERIALIZED. */
#define _POSIX_C_SOURCE 200809L
#include "cli/mpi.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli/multi.h"
#ifdef CLNAS_MPI
#include <mpi.h>
#endif

static int g_rank = 0, g_size = 1, g_on = 0;

/* Was this process started by an MPI launcher (mpirun/mpiexec, or srun with PMI/PMIx)? Sets the
 * number of ranks it says (0 when it does not say). */
static int launched(int *n)
{
    const char *v = getenv("OMPI_COMM_WORLD_SIZE");
    if (!v) v = getenv("PMI_SIZE");
    if (!v && getenv("PMIX_RANK")) v = getenv("SLURM_NTASKS");
    *n = v ? atoi(v) : 0;
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

int cli_mpi_rank(void) { return g_rank; }
int cli_mpi_size(void) { return g_size; }

#ifdef CLNAS_MPI
enum { TAG_ASK = 7101, TAG_ITEM = 7102, TAG_DONE = 7103 };

int cli_mpi_init(int *argc, char ***argv)
{
    int n;
    if (!launched(&n)) return 0;
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "clnas: MPI_Init_thread failed\n");
        return 1;
    }
    g_on = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    if (provided < MPI_THREAD_SERIALIZED && g_size > 1) {
        if (g_rank == 0)
            fprintf(stderr, "clnas: this MPI library gives thread level %d, clnas needs MPI_THREAD_SERIALIZED (%d)\n",
                    provided, MPI_THREAD_SERIALIZED);
        MPI_Finalize();
        return 1;
    }
    return 0;
}

int cli_mpi_finalize(int rc)
{
    if (g_on) MPI_Finalize();
    g_on = 0;
    return rc;
}

void cli_mpi_barrier(void)
{
    if (g_on) MPI_Barrier(MPI_COMM_WORLD);
}

double cli_mpi_max(double v)
{
    double m = v;
    if (g_on) MPI_Allreduce(&v, &m, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return m;
}

int cli_mpi_max_int(int v)
{
    int m = v;
    if (g_on) MPI_Allreduce(&v, &m, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return m;
}

void cli_mpi_abort(int rc)
{
    if (g_on) MPI_Abort(MPI_COMM_WORLD, rc);
    exit(rc);
}

/* The dispenser's state (rank 0): the next item, guarded (rank 0's workers and its main thread). */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_next, g_nitems;

static int take_local(void)
{
    pthread_mutex_lock(&g_mu);
    int it = !cli_stop && g_next < g_nitems ? g_next++ : -1;
    pthread_mutex_unlock(&g_mu);
    return it;
}

static int next_rank0(void *ud) { (void)ud; return take_local(); }

/* A worker of rank > 0 asks rank 0 (called under the pool's lock: one MPI call at a time). */
static int next_remote(void *ud)
{
    (void)ud;
    int it = -1;
    if (cli_stop) return -1;
    MPI_Send(&it, 0, MPI_INT, 0, TAG_ASK, MPI_COMM_WORLD);
    MPI_Recv(&it, 1, MPI_INT, 0, TAG_ITEM, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    return it;
}

typedef struct pool_thread {
    clnas_pool *pool;
    clnas_pool_job *job;
    int *stopped, finished;
    char *err;
    size_t errlen;
    clnas_status st;
} pool_thread;

static void *run_thread(void *arg)
{
    pool_thread *t = arg;
    t->st = clnas_pool_run(t->pool, t->job, t->stopped, t->err, t->errlen);
    pthread_mutex_lock(&g_mu);
    t->finished = 1;
    pthread_mutex_unlock(&g_mu);
    return NULL;
}

/* Rank 0's main thread: answers requests until every other rank is done (or its own pool failed). */
static void serve(pool_thread *t)
{
    int done = 0;
    while (done < g_size - 1) {
        int flag = 0;
        MPI_Status s;
        MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &s);
        if (!flag) {
            pthread_mutex_lock(&g_mu);
            int failed = t->finished && t->st != CLNAS_OK;
            pthread_mutex_unlock(&g_mu);
            if (failed) return;
            struct timespec ts = {0, 1000000L};
            nanosleep(&ts, NULL);
            continue;
        }
        int dummy;
        if (s.MPI_TAG == TAG_ASK) {
            MPI_Recv(&dummy, 0, MPI_INT, s.MPI_SOURCE, TAG_ASK, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            int it = take_local();
            MPI_Send(&it, 1, MPI_INT, s.MPI_SOURCE, TAG_ITEM, MPI_COMM_WORLD);
        } else if (s.MPI_TAG == TAG_DONE) {
            MPI_Recv(&dummy, 0, MPI_INT, s.MPI_SOURCE, TAG_DONE, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            done++;
        } else { /* not a message of this exchange: take it off the queue */
            int count = 0;
            MPI_Get_count(&s, MPI_BYTE, &count);
            char *buf = malloc(count > 0 ? (size_t)count : 1);
            MPI_Recv(buf, count, MPI_BYTE, s.MPI_SOURCE, s.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            free(buf);
        }
    }
}

clnas_status cli_mpi_run_pool(clnas_pool *pool, clnas_pool_job *job, int *stopped, char *err, size_t errlen)
{
    if (!g_on || g_size == 1) {
        job->next = NULL;
        return clnas_pool_run(pool, job, stopped, err, errlen);
    }
    job->ordered = 0;
    if (g_rank > 0) {
        job->next = next_remote;
        clnas_status st = clnas_pool_run(pool, job, stopped, err, errlen);
        if (st == CLNAS_OK) MPI_Send(&st, 0, MPI_INT, 0, TAG_DONE, MPI_COMM_WORLD);
        return st;
    }
    g_next = 0;
    g_nitems = job->nitems;
    job->next = next_rank0;
    pool_thread t = {pool, job, stopped, 0, err, errlen, CLNAS_OK};
    pthread_t tid;
    if (pthread_create(&tid, NULL, run_thread, &t) != 0) {
        snprintf(err, errlen, "cannot start a thread");
        return CLNAS_E_NOMEM;
    }
    serve(&t);
    pthread_join(tid, NULL);
    return t.st;
}

#else /* without MPI: one process */

int cli_mpi_init(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    int n;
    if (launched(&n) && n > 1) {
        fprintf(stderr, "clnas: launched as one of %d MPI ranks, but this clnas was built without MPI: rebuild with "
                        "-DCLNAS_MPI=ON (Debian: apt-get install libopenmpi-dev openmpi-bin), or run one process\n", n);
        return 1;
    }
    return 0;
}

int cli_mpi_finalize(int rc) { return rc; }
void cli_mpi_barrier(void) {}
double cli_mpi_max(double v) { return v; }
int cli_mpi_max_int(int v) { return v; }
void cli_mpi_abort(int rc) { exit(rc); }

clnas_status cli_mpi_run_pool(clnas_pool *pool, clnas_pool_job *job, int *stopped, char *err, size_t errlen)
{
    job->next = NULL;
    return clnas_pool_run(pool, job, stopped, err, errlen);
}
#endif
