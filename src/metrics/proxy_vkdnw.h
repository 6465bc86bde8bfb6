/* proxy_vkdnw.h - VKDNW (Tybl & Neumann, CVPR 2025): the entropy of the deciles of the
 * eigenvalues of an empirical Fisher information matrix of a network's weights, as the authors'
 * NB201 code computes it (ondratybl/VKDNW, NB201/ZeroShotProxy/compute_vkdnw_score.py). The
 * README's "Zero-cost proxies" section gives every choice and the evidence for it. */
#ifndef CLNAS_PROXY_VKDNW_H
#define CLNAS_PROXY_VKDNW_H

#include <stddef.h>
#include <stdint.h>
#include "clnas/context.h"
#include "clnas/net.h"
#include "clnas/status.h"

#define PX_VKDNW_TENSORS 128 /* the reference's params_grad_len: parameter tensors entering the Fisher */

typedef struct px_vkdnw_out {
    double entropy; /* -sum t log(t + 1e-10), t = deciles of the spectrum / (their L1 norm + 1e-10) */
    double dim;     /* aleph: the number of parameter tensors of the network (trainable layers) */
    double value;   /* dim + entropy / ln 10: orders networks exactly as the reference's dense rank of
                       (dim, entropy) (entropy <= ln 9 < ln 10), higher is better; NaN if undefined */
    const char *why; /* NULL, or why the value is undefined */
} px_vkdnw_out;

/* Draws VKDNW's own inputs: Kaiming-normal (fan_in) weights with zero biases and BN 1/0 (the
 * reference's init_model), and `batch` images of N(0,1) noise (its trainloader=None path), both
 * keyed on (seed, stream). *params gets nparams floats, *images batch*c*h*w; free() both. */
clnas_status px_vkdnw_inputs(const clnas_net *net, int batch, uint64_t seed, uint64_t stream, float **params,
                             float **images);

/* The reference's float16 label-smoothing constants for `classes` classes: 1 - alpha and alpha / classes,
 * alpha = 0.05 rounded to float16, each operation rounded to float16 as PyTorch does. */
void px_vkdnw_smoothing(int classes, double *one_minus_alpha, double *alpha_over_c);

/* The Fisher matrix's spectrum score from the eigenvalues lam[n] (any order, any sign: the
 * reference takes singular values): entropy of the normalised deciles. Sorts lam (absolute). */
double px_vkdnw_entropy(int n, double *lam);

/* The logits z [batch][K] and the Jacobians J [batch][K][P] (P = min(parameter tensors, 128):
 * d logit_k / d (first element of tensor p)) with BatchNorm in eval mode. Batched (all images
 * through one plan, one backward per class, the first elements' per-image gradients from channel 0
 * of their layers' activations and activation gradients) where every selected tensor is a
 * convolution's, BatchNorm's or linear layer's, else (or per_image) one image at a time with the
 * K classes as seeds (full parameter gradients). */
clnas_status px_vkdnw_jacobian(clnas_ctx *ctx, const clnas_net *net, const float *params, const float *images, int batch,
                               int per_image, float *z, double *J);

/* VKDNW of `net` (an NB201-style classifier with BatchNorm) with weights params on batch images. */
clnas_status px_vkdnw(clnas_ctx *ctx, const clnas_net *net, const float *params, const float *images, int batch,
                      px_vkdnw_out *out);

/* VKDNW_agg, the aggregate behind the paper's headline numbers (NB201/paper_preparation.ipynb,
 * "Ablation: add components", at 2b67433^), over a set of n networks: the columns
 * cols[0..4] = flops, az_expressivity, az_trainability, jacov (VKDNW's: jacov_kaiming), vkdnw
 * (dim + H / ln 10: sorts as the pair (dim, H)); out[i] = sum of log(average rank) of the first
 * four (pandas' rank(), ascending, rank 1 = lowest, no division by n) + log(dense rank) of vkdnw.
 * NaN means an empty cell: in the first three it is AZ-NAS's -inf (ranks lowest), in jacov it is
 * first set to the column's minimum (the notebook's fill; all undefined: every out NaN); a NaN
 * vkdnw makes that row's out NaN (the reference's tuple rank has no order for it). */
clnas_status px_vkdnw_aggregate(int n, const double *const cols[5], double *out);

#endif
