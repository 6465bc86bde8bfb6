/* clnas/asvit_search.h - As-ViT's topology search and scaling (TENAS.md §8.5-8.6), the logic
 * without the scoring: the REINFORCE policy over the 12 categorical choices, its reward (the
 * normalised changes of kappa and L) and baseline, and the grow step's candidates, limits and
 * rank-sum selection. The drivers (clnas search / grow --space asvit) score with asvit_score.h. */
#ifndef CLNAS_ASVIT_SEARCH_H
#define CLNAS_ASVIT_SEARCH_H

#include <stdint.h>
#include "clnas/asvit.h"
#include "clnas/status.h"

#ifdef __cplusplus
extern "C" {
#endif
CLNAS_API_BEGIN

#define CLNAS_ASVIT_MAXV 5        /* most values of one choice */
#define CLNAS_ASVIT_WINDOW 20     /* the reward's normalisation window (te_buffer_size) */

typedef struct clnas_asvit_policy {
    double logits[CLNAS_ASVIT_NCHOICES][CLNAS_ASVIT_MAXV];
    double m[CLNAS_ASVIT_NCHOICES][CLNAS_ASVIT_MAXV], v[CLNAS_ASVIT_NCHOICES][CLNAS_ASVIT_MAXV]; /* Adam */
    int t;                        /* Adam steps taken */
    double lr, beta1, beta2, eps; /* 0.08, 0.9, 0.999, 1e-8 (torch.optim.Adam defaults but lr) */
    double ema_momentum, ema_num, ema_den; /* the baseline: 0.9, bias-corrected */
    double hist_k[CLNAS_ASVIT_WINDOW], hist_l[CLNAS_ASVIT_WINDOW]; /* last values (ring) */
    int nhist;                    /* values pushed so far */
    uint64_t seed, draws;         /* sampling: uniform draw `draws` of key(seed) */
} clnas_asvit_policy;

/* Logits 1e-3 N(0, 1) from the seed; Adam lr 0.08; EMA momentum 0.9. */
void clnas_asvit_policy_init(clnas_asvit_policy *p, uint64_t seed);
/* Probabilities of choice i (count(i) values). */
void clnas_asvit_policy_probs(const clnas_asvit_policy *p, int i, double *prob);
/* Sum of the 12 entropies (nats). */
double clnas_asvit_policy_entropy(const clnas_asvit_policy *p);
/* Draws one value index per choice; returns log pi(a). */
double clnas_asvit_policy_sample(clnas_asvit_policy *p, int a[CLNAS_ASVIT_NCHOICES]);
/* The most likely value per choice (first on ties, as argmax). */
void clnas_asvit_policy_argmax(const clnas_asvit_policy *p, int a[CLNAS_ASVIT_NCHOICES]);

/* One step after the sampled a was scored: pushes kappa and L, reward r = -c(kappa) + c(L)
 * with c_t = (v_t - v_{t-1}) / (max - min of the last 20 values + 1e-6) (0 at the first step),
 * baseline b = the EMA updated with r, then one Adam step on -log pi(a) (r - b).
 * reward / baseline may be NULL. */
void clnas_asvit_policy_update(clnas_asvit_policy *p, const int a[CLNAS_ASVIT_NCHOICES], double kappa, double L,
                               double *reward, double *baseline);

/* ---- scaling (grow.py) ---- */
#define CLNAS_ASVIT_MAX_CANDIDATES 16

typedef struct clnas_asvit_candidate {
    int depth[CLNAS_ASVIT_STAGES];
    int dim;
} clnas_asvit_candidate;

/* The grow step's candidates from (depth, dim): for every stage s (in order) depth[s] + 1,
 * crossed with every width round(dim (1 + r)), r in 0.05, 0.10, 0.15, 0.20 (a width equal to
 * the previous one is skipped; Python's round: halves to even). Returns how many (<= 16). */
int clnas_asvit_grow_candidates(const int depth[CLNAS_ASVIT_STAGES], int dim, clnas_asvit_candidate *out);
/* Selection among n scored candidates (kappa: lower is better, L: higher is better): dense
 * ranks per metric (exact ties share a rank), summed; the smallest sum wins (a stable sort, so
 * the first listed among equals). When the two best sums tie, the metric with the larger
 * (max - min) / max decides by the argmin of its values over those two (argmin even for L, as
 * the original). Returns the winner's index. */
int clnas_asvit_grow_select(int n, const double *kappa, const double *L);

CLNAS_API_END
#ifdef __cplusplus
}
#endif
#endif
