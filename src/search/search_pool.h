/* search/search_pool.h - a TE-NAS search with each round's candidates spread over a device pool
 * (runtime/pool.h; `clnas search --devices`). Internal: the pool is not part of the public API.
 *
 * Every candidate is scored entirely on one device from exactly the data it would have drawn in
 * the one-device order: the round's draws are made up front, in candidate order, from the search's
 * two samplers (in the original mode a round holds all its candidates' batches and patch sets at
 * once: candidates x repeats x batch images). Candidates are committed (counters, trace, progress)
 * in candidate order, and weights are keyed by (seed, round, candidate) as before, so identical
 * devices give the one-device search's trace and found cell byte for byte. A device that fails is
 * dropped and its candidate scored on another one. */
#ifndef CLNAS_SEARCH_POOL_H
#define CLNAS_SEARCH_POOL_H
#include "clnas/search.h"
#include "runtime/pool.h"

typedef struct clnas_search_notes {
    void (*note)(void *ud, const char *msg); /* a device was dropped (msg says which and why) */
    void *ud;
    /* Optional, to spread the candidates over several processes (MPI; the search itself knows no
     * MPI): run(ud, ...) runs a round's pool job with items handed out across the processes
     * (committing, unordered, the items computed here); share(ud, items, size, n, mine) then makes
     * the round's n results whole on every process (item i from the process where mine[i] is set).
     * Every process runs the same search: it draws the same data and ranks the same results, so
     * all of them prune the same ops. Both NULL: one process. */
    clnas_status (*run)(void *ud, clnas_pool *pool, clnas_pool_job *job, char *err, size_t errlen);
    int (*share)(void *ud, void *items, size_t size, int n, const unsigned char *mine);
} clnas_search_notes;

/* clnas_search_nb201 on the pool's devices (one device: exactly clnas_search_nb201 on it). Errors
 * are reported through the pool's first context (clnas_pool_ctx(pool, 0)). notes may be NULL. */
clnas_status clnas_search_nb201_pool(clnas_pool *pool, const clnas_search_notes *notes, const clnas_dataset *data,
                                     const clnas_search_opts *o, clnas_search_result *res);
#endif
