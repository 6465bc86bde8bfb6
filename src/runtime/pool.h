/* runtime/pool.h - several OpenCL devices in one process: a pool of contexts (one context and
 * in-order queue per device) and a work queue of independent items run over them.
 *
 * Scheduling is dynamic: every device has one worker thread, and a worker that finishes an item
 * takes the next one, so devices of different speed are all kept busy. Each item is computed
 * entirely on one device. Results do not depend on which device computed what: the caller's work
 * function must compute item i from i alone (clnas's weights and data are keyed by seeds, never by
 * the device or the order), and the pool commits items in item order (ordered mode), so outputs
 * are written in a fixed order.
 *
 * A device whose item fails with a device error (an OpenCL error, a build failure, CLBlast,
 * device memory, a lost device) is dropped with a message and its item is retried on another
 * device; the run stops with an error when no device is left. Any other error (bad input, host
 * memory) stops the run. A stop flag (set by a signal handler) makes the workers take no new
 * item: those in flight finish and are committed, and the run returns CLNAS_OK with *stopped set.
 *
 * Internal to the `clnas` command and the benchmarks; not part of the public API. */
#ifndef CLNAS_RUNTIME_POOL_H
#define CLNAS_RUNTIME_POOL_H

#include <signal.h>
#include <stddef.h>
#include "clnas/context.h"
#include "clnas/status.h"

typedef struct clnas_pool clnas_pool;

/* Opens the devices of spec:
 *   "all"         every device of every platform;
 *   "local-rank"  one device chosen by the node-local rank of an MPI/Slurm launch
 *                 (OMPI_COMM_WORLD_LOCAL_RANK, SLURM_LOCALID, MPI_LOCALRANKID, PMI_LOCAL_RANK;
 *                 0 without any): among the GPUs if there are any, else among all devices,
 *                 the one at local rank modulo their count;
 *   "A,B,..."     a comma-separated list; each element is a device index (`clnas devices`) or
 *                 a name part, which selects every device whose name, vendor or platform name
 *                 contains it (case-insensitive). A device given twice is opened once.
 * NULL or "" opens one device the way --device does (dev: its spec, may be NULL).
 * On failure *out is NULL and a reason is in err. */
clnas_status clnas_pool_create(const char *spec, const char *dev, clnas_pool **out, char *err, size_t errlen);
void clnas_pool_destroy(clnas_pool *p); /* NULL is a no-op */
int clnas_pool_size(const clnas_pool *p);              /* devices opened */
int clnas_pool_alive(const clnas_pool *p);             /* devices not dropped */
clnas_ctx *clnas_pool_ctx(clnas_pool *p, int d);       /* d < clnas_pool_size */
int clnas_pool_done(const clnas_pool *p, int d);       /* items device d computed in the last run */
/* The device's index in `clnas devices` and a short label "N (name)" for messages. */
const char *clnas_pool_label(const clnas_pool *p, int d);

typedef struct clnas_pool_job {
    int nitems;
    /* Computes item `item` on device d (ctx); CLNAS_OK or a status with the message in ctx.
     * Runs on the device's worker thread, concurrently with the other devices' items. */
    clnas_status (*work)(void *ud, clnas_ctx *ctx, int d, int item);
    /* Called under the pool's lock once per computed item: in item order when `ordered`, else
     * as items finish. A non-zero return (e.g. a write error, message already printed) stops
     * the run with CLNAS_E_IO. */
    int (*commit)(void *ud, int item, int d);
    /* Optional: where the items come from (called under the pool's lock): the next item
     * index, or -1 when there is none. NULL: 0 .. nitems-1 in order. Only with ordered == 0. */
    int (*next)(void *ud);
    /* Optional: told (under the lock) that a device was dropped; msg says which and why. */
    void (*note)(void *ud, const char *msg);
    void *ud;
    int ordered;
    volatile sig_atomic_t *stop; /* optional: non-zero -> no new item starts */
} clnas_pool_job;

/* Runs the job. CLNAS_OK when every item was committed or the stop flag ended it early
 * (*stopped = 1; stopped may be NULL); otherwise the failing status with the reason in err.
 * Dropped devices are reported through job->note as they happen (the library never prints). */
clnas_status clnas_pool_run(clnas_pool *p, const clnas_pool_job *job, int *stopped, char *err, size_t errlen);

/* The first device not dropped, -1 when every one was. */
int clnas_pool_first_alive(const clnas_pool *p);

/* Lets only device d take part in the following runs (the others sit idle); -1: every device. */
void clnas_pool_only(clnas_pool *p, int d);

/* The item whose error ended the last run, -1 when none did. */
int clnas_pool_failed_item(const clnas_pool *p);

/* 1 when st means the device failed (retry the item elsewhere), 0 when the item itself did. */
int clnas_pool_device_error(clnas_status st);

/* The node-local rank from the launcher's environment, or -1 when none is set. */
int clnas_local_rank(void);

#endif
