/* clnas/stats.h - rank statistics for judging training-free scores against ground truth:
 * Kendall's tau-b, Spearman's rho, average ranks, and TE-NAS's combined rank score.
 *
 * Undefined values: a NaN in either input (e.g. an undefined NTK condition number) removes
 * that pair from a correlation; the functions report how many pairs were used and how many
 * were excluded, so a caller can print both and never hide them. Infinities are ordered
 * values, not undefined. A correlation that is undefined (fewer than 2 pairs, or one side
 * constant) is returned as NaN with CLNAS_OK: that is a property of the data, not an error.
 *
 * Conventions match scipy.stats.kendalltau (variant 'b') and scipy.stats.spearmanr. */
#ifndef CLNAS_STATS_H
#define CLNAS_STATS_H

#include <stddef.h>
#include "clnas/status.h"

#ifdef __cplusplus
extern "C" {
#endif
CLNAS_API_BEGIN

/* A correlation and the data it was computed from. */
typedef struct clnas_corr {
    double tau;       /* Kendall tau-b, in [-1, 1]; NaN when undefined */
    double rho;       /* Spearman rho (Pearson correlation of average ranks); NaN when undefined */
    int n_used;       /* pairs with both values defined */
    int n_excluded;   /* pairs left out because x or y is NaN */
} clnas_corr;

/* Average ranks, 1-based, ascending: the smallest value gets rank 1 and a group of t tied
 * values that would occupy ranks r..r+t-1 all get r + (t-1)/2. NaN entries get rank NaN and
 * do not take part (the others are ranked among themselves). x and ranks are borrowed,
 * n entries each; they may not alias. Returns CLNAS_E_NOMEM if scratch memory runs out,
 * CLNAS_E_INVALID_ARG for n < 0. O(n log n). */
clnas_status clnas_rank_average(const double *x, int n, double *ranks);

/* Kendall's tau-b of the pairs (x[i], y[i]) with neither NaN, exact, in O(n log n) (Knight
 * 1966: sort by (x, y), count y-inversions with a merge sort, correct for ties in x, in y and
 * in both):  tau_b = (n_c - n_d) / sqrt((n0 - n1)(n0 - n2)),  n0 = m(m-1)/2 over the m used
 * pairs, n1 / n2 = pairs tied in x / in y. *tau is NaN when the denominator is 0.
 * n_used / n_excluded may be NULL. */
clnas_status clnas_kendall_tau_b(const double *x, const double *y, int n, double *tau,
                                 int *n_used, int *n_excluded);

/* Spearman's rho of the pairs with neither NaN: Pearson's correlation of their average ranks
 * (ties handled exactly, not by the 1 - 6 sum d^2 shortcut). NaN when a side is constant. */
clnas_status clnas_spearman_rho(const double *x, const double *y, int n, double *rho,
                                int *n_used, int *n_excluded);

/* Both of the above into *out. */
clnas_status clnas_correlate(const double *x, const double *y, int n, clnas_corr *out);

/* The TE-NAS combined score of a study of n architectures (TE-NAS ranks by both proxies and
 * adds the ranks):  combined[i] = rank of kappa[i] ascending + rank of R[i] descending,
 * average ranks for ties, over the architectures whose kappa and R are both defined.
 * LOWER IS BETTER (small kappa, large R). An architecture with NaN kappa or NaN R gets NaN,
 * and the others are ranked without it. To correlate with accuracy, use -combined.
 * kappa, R and combined are borrowed arrays of n entries. */
clnas_status clnas_tenas_combined(const double *kappa, const double *R, int n, double *combined);

CLNAS_API_END
#ifdef __cplusplus
}
#endif
#endif
