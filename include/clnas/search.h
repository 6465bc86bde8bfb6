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
 * maps NaN), and is reported. */
#ifndef CLNAS_SEARCH_H
#define CLNAS_SEARCH_H

#include <stdint.h>
#include <stdio.h>
#include "clnas/score.h"

#ifdef __cplusplus
extern "C" {
#endif

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
    double kappa_cur[CLNAS_MAX_REPEATS], kappa_cand[CLNAS_MAX_REPEATS];
    size_t r_cur[CLNAS_MAX_REPEATS], r_cand[CLNAS_MAX_REPEATS];
} clnas_candidate;

/* The ranking step alone (on dk/dr already filled): sets rank_k, rank_r, order and pruned
 * (the first `k_prune` candidates of each edge in rank-sum order). n candidates. */
void clnas_search_rank(clnas_candidate *c, int n, int k_prune);

typedef struct clnas_search_opts {
    clnas_score_opts score;  /* dataset, batch, repeats, lr sizes, seed, init, seeds in flight */
    int prune_number;        /* ops removed per edge per round (1 for NB201) */
    int quiet;               /* no progress on stderr */
    const char *progress_label; /* prefix for progress lines (e.g. "seed 3"), may be NULL */
    FILE *trace;             /* if not NULL: one JSON object per finished candidate and per round (JSON lines) */
    /* Resume: candidate results of an interrupted run of the same search (same seed and settings),
     * e.g. read back from its trace with clnas_search_load_trace. Their data draws are replayed
     * (so later candidates see the same batches and patches) but nothing is recomputed. */
    const clnas_candidate *resume;
    const int *resume_round;  /* round of each resume entry */
    int nresume;
} clnas_search_opts;

void clnas_search_opts_default(clnas_search_opts *o);

typedef struct clnas_search_result {
    clnas_nb201_arch arch;   /* the found single-path architecture */
    int rounds;
    int candidates;          /* evaluated */
    int kappa_undefined;     /* repeats with an undefined kappa, counted as 1e5 */
    double wall_s;
} clnas_search_result;

/* Reads the candidate lines of a trace written by a search (JSON lines, as above). Allocates
 * *cands and *rounds (free both with free()); a malformed or partial line ends the list
 * (an interrupted write). Returns CLNAS_E_IO if the file cannot be read. */
clnas_status clnas_search_load_trace(const char *path, clnas_candidate **cands, int **rounds, int *n);

/* Runs one search on a loaded training set. */
clnas_status clnas_search_nb201(clnas_ctx *ctx, const clnas_dataset *data, const clnas_search_opts *opts,
                                clnas_search_result *res);

#ifdef __cplusplus
}
#endif
#endif
