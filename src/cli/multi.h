/* multi.h - what the commands that spread work over several devices (runtime/pool.h) or MPI
 * ranks (cli/mpi.c) share: opening the pool, Ctrl-C, progress with each device's share. */
#ifndef CLNAS_CLI_MULTI_H
#define CLNAS_CLI_MULTI_H

#include <signal.h>
#include "runtime/pool.h"

/* Opens the pool of --devices (or the one device of --device when devices is NULL); prints the
 * reason and returns NULL on failure. */
clnas_pool *cli_pool_open(const char *cmd, const char *devices, const char *device);
/* A job's note function: prints "clnas CMD: MSG" (ud: the command's name). */
void cli_pool_note(void *ud, const char *msg);

/* Ctrl-C (SIGINT) and SIGTERM while work runs: the first sets cli_stop (no new item starts; what
 * is done is written), a second one ends the process at once. */
extern volatile sig_atomic_t cli_stop;
void cli_stop_install(void);
void cli_stop_restore(void);

/* Progress on a terminal: bar, count, rate, ETA and each device's share. */
typedef struct cli_progress {
    clnas_pool *pool;
    int total, k, show;
    double t0;
    const char *unit;
} cli_progress;
void cli_progress_init(cli_progress *pr, clnas_pool *pool, int total, const char *unit);
void cli_progress_step(cli_progress *pr, int d);
void cli_progress_end(cli_progress *pr);
/* "3 on 0 (name), 2 on 1 (name)" into buf: each device's share of the last run. */
void cli_pool_shares(const clnas_pool *pool, char *buf, size_t len);

#endif
