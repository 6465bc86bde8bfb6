/* clnas/search_darts.h - TE-NAS's pruning search on the DARTS space (../shared/docs/TENAS.md
 * §5.2-5.4), on TE-NAS's DARTS proxies (clnas_darts_proxies).
 *
 * OP ROUNDS (prune_func_rank): start from the supernet without `none` (7 ops on each of the
 * 2 x 14 edges). Each round scores every active op of every edge (of both cell types) that
 * still has more than one op by the relative changes of kappa and R when that op alone is
 * removed (dK, dR: 3 repeats, each rounded to 3 decimals, then averaged), ranks all of the
 * round's candidates together exactly as the NB201 search does (clnas_search_rank), and removes
 * the k lowest rank sums on every edge, k = min(prune_number, ops left on the normal cell's
 * edge 0 - 1): 3 per round on CIFAR-10 (7 -> 4 -> 1, 196 + 112 candidates), 2 on ImageNet
 * (7 -> 5 -> 3 -> 1, 196 + 140 + 84).
 * EDGE PRUNING (prune_func_rank_group): then, per cell type and per node with more than 2
 * incoming edges (nodes 1, 2, 3: 3, 4 and 5 edges), every edge is a candidate (removing its last
 * op removes the edge: it contributes nothing); the node's candidates are ranked the same way
 * and all but the 2 with the largest rank sums are removed; 24 candidates in all.
 * TE-NAS's quirk, the default: the NTK's current network is built once, at the state the edge
 * phase starts from, and is not rebuilt after a node's edges are pruned, so later nodes compare
 * their candidates with a current network that still holds edges already removed (the
 * linear-region current network does follow the state). opts.edge_ntk_refresh = 1 rebuilds it
 * after every node instead (same weights), the corrected behaviour.
 * WEIGHTS AND DATA as in the NB201 search (clnas/search.h): one NTK weight stream per op round
 * (all of the round's NTK evaluations share the current network's weights) and one for the whole
 * edge phase (the original builds its current network once there); fresh thin-net weights per
 * candidate; a fresh NTK batch per evaluation pair; the patches continue across the search.
 * An undefined kappa (NaN, inf, lambda_min <= 0) counts as 1e5, as the original counts NaN, and
 * is counted in the result; an undefined R (NaN/inf pre-activations) counts as 0 regions (an
 * undefined R_cur divides by 1); the ranking never sees a non-finite value.
 *
 * Candidates (clnas_candidate of clnas/search.h) carry edge = cell * 14 + edge (cell 0 normal,
 * 1 reduction; edge in TE-NAS's row order) and op (clnas_darts_op). Rounds are numbered over the
 * whole search: the op rounds 1..R, then one per pruned node (R+1 .. R+6: normal nodes 1-3,
 * reduction nodes 1-3). */
#ifndef CLNAS_SEARCH_DARTS_H
#define CLNAS_SEARCH_DARTS_H

#include "clnas/darts.h"
#include "clnas/search.h"

#ifdef __cplusplus
extern "C" {
#endif
CLNAS_API_BEGIN

typedef struct clnas_darts_search_opts clnas_darts_search_opts;

/* Reports as the search goes (for a trace); every function may be NULL; pointers are borrowed
 * for the call. phase is "ops" or "edges". */
typedef struct clnas_darts_search_sink {
    void *ud;
    void (*begin)(void *ud, const clnas_darts_search_opts *o);
    void (*candidate)(void *ud, int round, const char *phase, const clnas_candidate *c, int repeats);
    void (*round)(void *ud, int round, const char *phase, const clnas_darts_alpha *before, const clnas_darts_alpha *after,
                  const clnas_candidate *c, int n);
} clnas_darts_search_sink;

struct clnas_darts_search_opts {
    clnas_score_opts score;     /* dataset, batch (14 CIFAR-10, 24 ImageNet), repeats, lr sizes, seed, init */
    int prune_number;           /* ops removed per edge per op round: 3 CIFAR-10, 2 ImageNet */
    int edge_ntk_refresh;       /* 0: TE-NAS's quirk (see above); 1: rebuild after each node */
    int quiet;                  /* no progress on stderr */
    const char *progress_label; /* prefix of the progress line, may be NULL */
    const clnas_darts_search_sink *trace; /* borrowed, may be NULL */
    /* NULL: TE-NAS's start (the supernet without `none`). Otherwise the state to start from (a
     * departure from TE-NAS, for shortened searches and tests; it must pass
     * clnas_darts_alpha_check; borrowed). */
    const clnas_darts_alpha *start;
    /* Resume: finished candidates of an interrupted run of the same search (same seed and
     * settings) with their rounds; their data draws are replayed, nothing is recomputed. */
    const clnas_candidate *resume;
    const int *resume_round;
    int nresume;
};

/* CIFAR-10 defaults: TE-NAS's batch 14, prune number 3, 3 repeats, 3 x 1000 patches. */
void clnas_darts_search_opts_default(clnas_darts_search_opts *o);
/* TE-NAS's settings for a data set: batch 24 and prune number 2 for ImageNet, else 14 and 3. */
void clnas_darts_search_opts_for(clnas_darts_search_opts *o, clnas_dataset_kind k);

typedef struct clnas_darts_search_result {
    clnas_darts_alpha alpha;        /* the final state: 2 edges of one op into every node */
    clnas_darts_genotype genotype;  /* derived from it as TE-NAS does */
    int op_rounds, rounds;          /* op rounds; all rounds (op rounds + pruned nodes) */
    int candidates;                 /* evaluated (or taken over from the resume list) */
    int op_candidates, edge_candidates;
    int kappa_undefined;            /* kappa values counted as 1e5 */
    int regions_undefined;          /* R values that were undefined (NaN/inf pre-activations),
                                       counted as 0 regions, the worst */
    long kappa_evals, regions_evals; /* computed by this call */
    double kappa_gflop;
    /* The candidates taken over from opts.resume and their recorded cost (cost_* summed;
     * prior_wall_s NaN when some were not recorded: traces of older clnas). Every candidate's
     * own cost is in its clnas_candidate (reported to the sink), as the NB201 search does. */
    int prior_candidates;
    double prior_wall_s, prior_kappa_gflop;
    long prior_kappa_evals, prior_regions_evals;
    double wall_s, ops_s, edges_s;  /* the whole search, the op rounds, the edge pruning */
} clnas_darts_search_result;

/* Runs one search on a loaded training set; the proxies' classifier has the data set's class
 * count. Errors through ctx (with the round and candidate). */
clnas_status clnas_search_darts(clnas_ctx *ctx, const clnas_dataset *data, const clnas_darts_search_opts *opts,
                                clnas_darts_search_result *res);

CLNAS_API_END
#ifdef __cplusplus
}
#endif
#endif
