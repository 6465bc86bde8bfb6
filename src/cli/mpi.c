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

static int g_rank = 0, g_size = 1;

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
static int g_on = 0; /* MPI was started */
enum { TAG_ASK = 7101, TAG_ITEM = 7102, TAG_DONE = 7103, TAG_SHARE = 7104 };

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

/* Rank 0's own share of the work, on a helper thread while the main thread serves requests. */
typedef struct work_thread {
    clnas_status (*body)(struct work_thread *t);
    clnas_pool *pool;
    clnas_pool_job *job;
    int *stopped;
    char *err;
    size_t errlen;
    int (*fn)(void *ud, int item); /* cli_mpi_for_each */
    void *ud;
    int finished;
    clnas_status st;
} work_thread;

static void *run_thread(void *arg)
{
    work_thread *t = arg;
    clnas_status st = t->body(t);
    pthread_mutex_lock(&g_mu);
    t->st = st;
    t->finished = 1;
    pthread_mutex_unlock(&g_mu);
    return NULL;
}

/* Rank 0's main thread: answers requests until every other rank is done (or its own work failed). */
static void serve(work_thread *t)
{
    int done = 0;
    while (done < g_size - 1) {
        int ask = 0, fin = 0;
        MPI_Status s;
        /* only this exchange's tags: other messages (cli_mpi_share's) wait for their own receive */
        MPI_Iprobe(MPI_ANY_SOURCE, TAG_ASK, MPI_COMM_WORLD, &ask, &s);
        if (!ask) MPI_Iprobe(MPI_ANY_SOURCE, TAG_DONE, MPI_COMM_WORLD, &fin, &s);
        if (!ask && !fin) {
            pthread_mutex_lock(&g_mu);
            int failed = t->finished && t->st != CLNAS_OK;
            pthread_mutex_unlock(&g_mu);
            if (failed) return;
            struct timespec ts = {0, 1000000L};
            nanosleep(&ts, NULL);
            continue;
        }
        int dummy;
        if (ask) {
            MPI_Recv(&dummy, 0, MPI_INT, s.MPI_SOURCE, TAG_ASK, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            int it = take_local();
            MPI_Send(&it, 1, MPI_INT, s.MPI_SOURCE, TAG_ITEM, MPI_COMM_WORLD);
        } else {
            MPI_Recv(&dummy, 0, MPI_INT, s.MPI_SOURCE, TAG_DONE, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            done++;
        }
    }
}

/* Rank 0: its share on a helper thread, requests on this one; the status of its share. */
static clnas_status rank0_run(work_thread *t, int nitems)
{
    g_next = 0;
    g_nitems = nitems;
    pthread_t tid;
    if (pthread_create(&tid, NULL, run_thread, t) != 0) {
        snprintf(t->err, t->errlen, "cannot start a thread");
        return CLNAS_E_NOMEM;
    }
    serve(t);
    pthread_join(tid, NULL);
    return t->st;
}

static clnas_status pool_body(work_thread *t) { return clnas_pool_run(t->pool, t->job, t->stopped, t->err, t->errlen); }

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
    job->next = next_rank0;
    work_thread t = {pool_body, pool, job, stopped, err, errlen, NULL, NULL, 0, CLNAS_OK};
    return rank0_run(&t, job->nitems);
}

/* The items of cli_mpi_for_each, one after the other, as long as fn succeeds. */
static clnas_status each_body(work_thread *t)
{
    for (int it; (it = g_rank == 0 ? take_local() : next_remote(NULL)) >= 0;)
        if (t->fn(t->ud, it) != 0) return CLNAS_E_IO;
    return CLNAS_OK;
}

int cli_mpi_for_each(int nitems, int (*fn)(void *ud, int item), void *ud)
{
    char err[128] = "";
    work_thread t = {each_body, NULL, NULL, NULL, err, sizeof err, fn, ud, 0, CLNAS_OK};
    if (!g_on || g_size == 1) {
        for (int i = 0; i < nitems; i++)
            if (fn(ud, i) != 0) return 1;
        return 0;
    }
    if (g_rank > 0) {
        clnas_status st = each_body(&t);
        if (st == CLNAS_OK) MPI_Send(&st, 0, MPI_INT, 0, TAG_DONE, MPI_COMM_WORLD);
        return st != CLNAS_OK;
    }
    clnas_status st = rank0_run(&t, nitems);
    if (err[0]) fprintf(stderr, "clnas: %s\n", err);
    return st != CLNAS_OK;
}

int cli_mpi_share(void *items, size_t size, int n, const unsigned char *mine)
{
    if (!g_on || g_size == 1) return 0;
    char *base = items;
    int cnt = 0;
    for (int i = 0; i < n; i++) cnt += mine[i] != 0;
    if (g_rank > 0) {
        int *idx = malloc(((size_t)cnt + 1) * sizeof *idx);
        char *buf = malloc(((size_t)cnt + 1) * size);
        if (!idx || !buf) cli_mpi_abort(1);
        for (int i = 0, k = 0; i < n; i++)
            if (mine[i]) {
                idx[k] = i;
                memcpy(buf + (size_t)k++ * size, base + (size_t)i * size, size);
            }
        MPI_Send(&cnt, 1, MPI_INT, 0, TAG_SHARE, MPI_COMM_WORLD);
        MPI_Send(idx, cnt, MPI_INT, 0, TAG_SHARE, MPI_COMM_WORLD);
        MPI_Send(buf, (int)((size_t)cnt * size), MPI_BYTE, 0, TAG_SHARE, MPI_COMM_WORLD);
        free(idx);
        free(buf);
    } else {
        for (int r = 1; r < g_size; r++) { /* in rank order: the same result whatever the timing */
            int c = 0;
            MPI_Recv(&c, 1, MPI_INT, r, TAG_SHARE, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            int *idx = malloc(((size_t)c + 1) * sizeof *idx);
            char *buf = malloc(((size_t)c + 1) * size);
            if (!idx || !buf) cli_mpi_abort(1);
            MPI_Recv(idx, c, MPI_INT, r, TAG_SHARE, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            MPI_Recv(buf, (int)((size_t)c * size), MPI_BYTE, r, TAG_SHARE, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            for (int k = 0; k < c; k++)
                if (idx[k] >= 0 && idx[k] < n) memcpy(base + (size_t)idx[k] * size, buf + (size_t)k * size, size);
            free(idx);
            free(buf);
        }
    }
    MPI_Bcast(items, (int)((size_t)n * size), MPI_BYTE, 0, MPI_COMM_WORLD);
    return 0;
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

int cli_mpi_for_each(int nitems, int (*fn)(void *ud, int item), void *ud)
{
    for (int i = 0; i < nitems; i++)
        if (fn(ud, i) != 0) return 1;
    return 0;
}

int cli_mpi_share(void *items, size_t size, int n, const unsigned char *mine)
{
    (void)items, (void)size, (void)n, (void)mine;
    return 0;
}
#endif
