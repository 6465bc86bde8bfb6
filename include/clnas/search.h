/* clnas/search.h - TE-NAS's pruning search on NAS-Bench-201 (../shared/docs/TENAS.md §5).
 *
 * Start from the supernet with `none` removed (four ops on every edge). Each round scores every
 * remaining (edge, op) by the relative change of kappa and of R when that op alone is removed:
 *   dK = mean over repeats of round((kappa_cur - kappa_cand) / kappa_cur, 3)   (higher: prune first)
 *   dR = mean over repeats of round((R_cur - R_cand) / R_cur, 3)               (lower: prune first)
 * dense-ranks both (sort keys rounded to 3 significant figures, ties by exact equality), sums the
 * ranks, and removes on every edge the op with the lowest sum; it stops at one op per edge.
 * Weights: one NTK weight stream per round (all candidates and repeats of a round share the
 * current network's weights); one linear-region stream per candidate (shared by its current and
 * candidate nets and its repeats). Data: every NTK evaluation pair sees a fresh batch; the
 * patches continue across the whole search. An undefined kappa counts as 1e5 (as the original
 * maps NaN), and is reported.
 *
 * Shared batches (opts.shared_batches = 1; `clnas search --shared-batches`) is an optional mode
 * that DEPARTS from the original procedure to roughly halve the work. Per round, K = repeats:
 * - the round draws K NTK batches once (the next K batches of the same sampler), and every
 *   candidate's repeat r uses batch r; kappa_cur on batch r is computed once per round and
 *   shared by all candidates (the original draws a fresh batch for every candidate and repeat
 *   and recomputes kappa_cur with it);
 * - the round draws K sets of lr_batch x lr_batches patches once, and every candidate's
 *   repeat r uses set r (the original's patches continue from candidate to candidate);
 * - the thin linear-region nets get ONE set of weights per round (a round stream instead of
 *   a candidate stream), shared by the current net and every candidate of the round, so that
 *   R_cur on set r is computed once per round and each R_cand is compared with an R_cur of the
 *   same weights on the same patches (the original draws fresh thin-net weights per candidate,
 *   shared by that candidate's two nets only).
 * Everything else (NTK weights per round, rounding, ranking, pruning) is unchanged. Kappa
 * evaluations per round drop from 2*K*n to K*(n+1) for n candidates, and likewise R counts
 * (NB201 defaults: 324 -> 171 of each over a search). The mode is written into the trace, and
 * a search refuses to resume candidates that were computed in the other mode. */
#ifndef CLNAS_SEARCH_H
#define CLNAS_SEARCH_H

#include <stdint.h>
#include "clnas/score.h"

#ifdef __cplusplus
extern "C" {
#endif
CLNAS_API_BEGIN

/* Python's round(x, ndigits) on a double: correctly rounded, ties to even on the exact value. */
double clnas_py_round(double x, int ndigits);
/* TE-NAS's round_to(x, precision): x rounded to `precision` significant figures. */
double clnas_round_sig(double x, int precision);

/* One candidate of a round. */
typedef struct clnas_candidate {
    int edge, op;
    double dk, dr;        /* mean relative changes */
    int rank_k, rank_r;   /* dense ranks (0 = prune first) */
    int order;            /* position after the final stable sort by rank sum */
    int pruned;           /* 1 if removed this round */
    int kappa_undefined;  /* repeats where kappa_cur or kappa_cand was undefined (counted as 1e5) */
    int regions_undefined; /* R values that were undefined (NaN/inf pre-activations), counted as
                              0 regions, the worst R (r_cur / r_cand hold 0 for them) */
    double kappa_cur[CLNAS_MAX_REPEATS], kappa_cand[CLNAS_MAX_REPEATS];
    size_t r_cur[CLNAS_MAX_REPEATS], r_cand[CLNAS_MAX_REPEATS];
    /* What computing it cost: seconds since the previous candidate finished (the first one
     * includes the search's setup), and the kappa / R evaluations and kappa GFLOP done for it
     * (in the shared mode the round's current-network scores go to the candidate that needed
     * them). A candidate taken over from opts.resume keeps the cost recorded with it; NaN
     * seconds: unknown (a trace of an older clnas). */
    double cost_s, cost_gflop;
    long cost_kappa_evals, cost_regions_evals;
} clnas_candidate;

/* The ranking step alone (on dk/dr already filled): sets rank_k, rank_r, order and pruned
 * (the first `k_prune` candidates of each edge in rank-sum order). n candidates; `edge` is
 * any non-negative edge index (NB201: 0..5). CLNAS_E_NOMEM when scratch memory runs out
 * (nothing is then marked pruned). */
clnas_status clnas_search_rank(clnas_candidate *c, int n, int k_prune);

typedef struct clnas_search_opts clnas_search_opts;

/* What a search reports as it goes, for a trace (src/report/trace.h writes one as JSON lines;
 * the search itself knows no file format). Every function may be NULL; `ud` is passed back
 * unchanged. The pointers are borrowed for the call only. A sink cannot stop the search: it
 * keeps its own errors.
 *   begin      once, before the first round: the search's settings (above all the mode)
 *   candidate  each candidate as it is finished, also one taken over from opts.resume (its
 *              kappa_cur/kappa_cand/r_cur/r_cand hold `repeats` values)
 *   round      each round after ranking: the architecture before and after pruning and the
 *              round's n candidates with their ranks, order and pruned flags */
typedef struct clnas_search_sink {
    void *ud;
    void (*begin)(void *ud, const clnas_search_opts *o);
    void (*candidate)(void *ud, int round, const clnas_candidate *c, int repeats);
    void (*round)(void *ud, int round, const clnas_nb201_arch *before, const clnas_nb201_arch *after,
                  const clnas_candidate *c, int n);
} clnas_search_sink;

struct clnas_search_opts {
    clnas_score_opts score;  /* dataset, batch, repeats, lr sizes, seed, init, seeds in flight */
    int prune_number;        /* ops removed per edge per round (1 for NB201) */
    int quiet;               /* no progress on stderr */
    const char *progress_label; /* prefix for progress lines (e.g. "seed 3"), may be NULL */
    const clnas_search_sink *trace; /* if not NULL: told of every finished candidate and round
                                       (borrowed: must outlive the search) */
    /* Resume: candidate results of an interrupted run of the same search (same seed and settings),
     * e.g. read back from its trace (clnas search does it with src/report/trace.h). Their data
     * draws are replayed (so later candidates see the same batches and patches) but nothing is
     * recomputed. */
    const clnas_candidate *resume;
    const int *resume_round;  /* round of each resume entry */
    int nresume;
    /* 1: the shared-batches mode described at the top (a departure from TE-NAS); 0 (default):
     * the original procedure. */
    int shared_batches;
    /* The mode the resume entries were computed in (a trace records it in its first line). The
     * search refuses (CLNAS_E_INVALID_ARG) to resume entries of the other mode:
     * their values and data draws would not match what this search computes. */
    int resume_shared_batches;
};

void clnas_search_opts_default(clnas_search_opts *o);

typedef struct clnas_search_result {
    clnas_nb201_arch arch;   /* the found single-path architecture */
    int rounds;
    int candidates;          /* evaluated */
    int regions_undefined;   /* R values that were undefined (counted as 0 regions) */
    int kappa_undefined;     /* kappa values used that were undefined (counted as 1e5); with
                                shared batches an undefined shared kappa_cur counts once per
                                candidate that uses it */
    /* NTK condition numbers and region counts this call computed (candidates taken over from
     * opts.resume are not recomputed and do not count): 2*K per candidate in the original mode,
     * K per candidate plus K per round with shared batches. */
    long kappa_evals, regions_evals;
    double kappa_gflop;      /* work of those kappa evaluations, counted from the network shapes:
                                forward + B backward seeds (convolutions, linear layers) + Gram */
    double wall_s;
    /* The recorded cost of the candidates taken over from opts.resume (their cost_* summed; 0
     * without a resume; prior_wall_s NaN when some were not recorded): a resumed search's whole
     * cost is these plus the fields above. */
    double prior_wall_s, prior_kappa_gflop;
    long prior_kappa_evals, prior_regions_evals;
} clnas_search_result;

/* One repeat's term of dR: round((R_cur - R_cand) / R_cur, 3), where an undefined R is 0 (the
 * worst); an undefined R_cur (0) divides by 1, so every candidate that has regions improves on it
 * (dR < 0, pruned first) and a candidate whose R is undefined too gets 0. An undefined R_cand
 * gives 1, the highest: the op whose removal leaves a degenerate network is kept. */
double clnas_search_region_change(size_t r_cur, size_t r_cand);

/* "shared" or "per-candidate", as the trace and the result files spell the mode. */
const char *clnas_search_batches_name(int shared_batches);

/* Runs one search on a loaded training set. */
clnas_status clnas_search_nb201(clnas_ctx *ctx, const clnas_dataset *data, const clnas_search_opts *opts,
                                clnas_search_result *res);

CLNAS_API_END
#ifdef __cplusplus
}
#endif
#endif
