/* clnas/asvit_score.h - As-ViT's two training-free numbers (TENAS.md §8.3-8.4) for one topology:
 *   kappa  condition number of the NTK of the feature network (output: the mean of the last
 *          stage's tokens, no final LN, no head) on one fixed batch of B = 16 images; the
 *          per-sample scalar is the sum of the output features; the Jacobian covers every
 *          weight (linear weights, LayerNorm gamma, the patch conv); Theta = G G^T; mean over
 *          R = 5 re-initialised copies;
 *   L      length distortion: per copy, a random circle x(t) = cos t u + sin t v through input
 *          space (u, v orthonormal), 10 points t_k = 2 pi k / 9, LayerNorms replaced by identity,
 *          L = sum_k || dy/dt (t_k) ||_2; mean over the copies.
 * Each copy has its own Linear weights (truncated normal, std 0.02); the patch conv keeps one
 * draw across the copies (the original deep-copies one network whose conv _init_weights never
 * touches) and kappa and L of a copy use the same weights (the original re-initialises in
 * switch_norm('ln') before kappa, and switch_norm('id') keeps those weights for L). */
#ifndef CLNAS_ASVIT_SCORE_H
#define CLNAS_ASVIT_SCORE_H

#include <stdint.h>
#include "clnas/asvit.h"
#include "clnas/context.h"
#include "clnas/data.h"
#include "clnas/score.h"

#ifdef __cplusplus
extern "C" {
#endif
CLNAS_API_BEGIN

#define CLNAS_ASVIT_METRIC_NTK 1
#define CLNAS_ASVIT_METRIC_LD 2

typedef struct clnas_asvit_score_opts {
    int metrics;      /* CLNAS_ASVIT_METRIC_NTK | CLNAS_ASVIT_METRIC_LD */
    int batch;        /* 16 */
    int repeats;      /* 5 */
    int points;       /* 10 points on the circle */
    int augment;      /* 1: random-resized crop + flip (default); 0: resize the whole image */
    uint64_t seed;    /* weights, images, circles */
    uint64_t stream;  /* weight stream base: copy r uses stream + r */
    int seeds;        /* backward seeds in flight (0: auto) */
    int fp64_gram;
    int host;         /* 1: compute everything with the double-precision host reference (small nets) */
    int ld_reverse;   /* L by one reverse pass per output feature (the original's algorithm) instead
                         of one forward-mode JVP per point (default); the same numbers, far slower */
} clnas_asvit_score_opts;
void clnas_asvit_score_opts_default(clnas_asvit_score_opts *o);

/* Everything the numbers are computed from (dumps, tests). Arrays malloc'd. */
typedef struct clnas_asvit_inputs {
    int repeats, batch, hw, points;
    size_t nparams;       /* of the LayerNorm feature network */
    float *params;        /* [repeats][nparams] (the identity-LN network's are the same tensors by name) */
    float *images;        /* [batch][3][hw][hw], ImageNet-normalised */
    float *circle;        /* [repeats][2][3*hw*hw]: u then v, orthonormal */
} clnas_asvit_inputs;
void clnas_asvit_inputs_free(clnas_asvit_inputs *in);

typedef struct clnas_asvit_score_result {
    int repeats;
    clnas_kappa ntk[CLNAS_MAX_REPEATS];
    double kappa_orig[CLNAS_MAX_REPEATS]; /* what enters the original's mean: lambda_max/lambda_min, -1 for NaN */
    double kappa_mean;                    /* the original's: mean of kappa_orig (-1 entries included) */
    double kappa_mean_clean;              /* mean over the copies with a defined kappa (NaN if none) */
    int kappa_defined;                    /* copies with a defined kappa */
    double ld[CLNAS_MAX_REPEATS];
    double ld_mean;
    size_t params, jacobian;              /* of the feature network */
    double t_ntk, t_ld, t_total;
} clnas_asvit_score_result;

/* Draws weights (seed, stream), the image batch (seed) and the circles (seed). data: the
 * images (any kind; resized to the network's input). */
clnas_status clnas_asvit_inputs_make(const clnas_net *feat_ln, const clnas_dataset *data,
                                     const clnas_asvit_score_opts *o, clnas_asvit_inputs *in,
                                     char *err, size_t errlen);
/* kappa and L from given inputs. feat_ln / feat_id: the feature network with / without
 * LayerNorms (clnas_asvit_config head = 0, norm = 1 / 0). ctx may be NULL with o->host. */
clnas_status clnas_asvit_score_run(clnas_ctx *ctx, const clnas_net *feat_ln, const clnas_net *feat_id,
                                   const clnas_asvit_score_opts *o, const clnas_asvit_inputs *in,
                                   clnas_asvit_score_result *res, char *err, size_t errlen);
/* The feature networks of a topology (both, or one with the other pointer NULL). */
clnas_status clnas_asvit_feature_nets(const clnas_asvit_topo *t, const clnas_asvit_config *cfg,
                                      clnas_net **feat_ln, clnas_net **feat_id, char *err, size_t errlen);

CLNAS_API_END
#ifdef __cplusplus
}
#endif
#endif
