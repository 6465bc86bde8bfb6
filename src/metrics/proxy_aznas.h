/* proxy_aznas.h - AZ-NAS (Lee & Ham, CVPR 2024) on one network: the three per-architecture
 * components expressivity, progressivity and trainability (the fourth, complexity, is the flops
 * proxy), and the rank aggregation over a set of architectures. Follows
 * cvlab-yonsei/AZ-NAS, NB201/ZeroShotProxy/compute_az_nas_score.py and tss_general.ipynb:
 *
 * - network: the NB201 classifier with its BatchNorm in train mode, initialised Kaiming-normal
 *   fan-in (N(0, 2/fan_in) conv/linear weights, zero biases, BN 1/0: init_model's default),
 *   fed B (--batch, default 64 = the reference's loader batch) N(0,1) random images (AZ-NAS
 *   scores from random inputs, not data);
 * - features: F_0 = the stem's output (after its BN), F_i = the output of cell i-1 (every cell,
 *   the two residual reduction blocks included), 3N+3 maps in all;
 * - expressivity of F (B x c x h x w): the c x c covariance of the B*h*w centred feature vectors
 *   (divided by B*h*w), eigenvalues s, p = s / sum(s), e = -sum p log(p + 1e-8);
 *   expressivity = sum_i e_i, progressivity = min_i (e_i - e_{i-1});
 * - trainability: for every cell, g_out a random +-1 (Rademacher) tensor shaped like its output,
 *   g_in = (d F_i / d F_{i-1})^T g_out (a backward through that cell alone, BN statistics
 *   included); a reduction's g_in is pixel-unshuffled to the output's grid; M = g_in^T g_out /
 *   (B*h*w) over positions; score -s_max - 1/(s_max + 1e-6) + 2 with s_max M's largest singular
 *   value, or -inf when g_in == g_out exactly (an identity cell); trainability = mean of scores.
 * - a NaN component becomes -inf (as the reference does).
 * Random draws are clnas's own (the reference uses torch's RNG, which we cannot reproduce): the
 * input is clnas_ctr_normal(input key, element), the probe of feature i is
 * sign bit of clnas_mix64(clnas_key_combine(probe key, i) + element) (1 -> -1, 0 -> +1), elements
 * in [B][c][h][w] order; the keys derive from the study seed and are dumped with the weights so
 * tools/verify_proxies.py redraws the same probes. */
#ifndef CLNAS_PROXY_AZNAS_H
#define CLNAS_PROXY_AZNAS_H

#include <stddef.h>
#include <stdint.h>
#include "clnas/context.h"
#include "clnas/net.h"
#include "clnas/status.h"
#include "report/safetensors.h"

/* AZ-NAS's own inputs (part of px_inputs). */
typedef struct az_inputs {
    float *params;      /* nparams, Kaiming-normal fan-in */
    float *input;       /* [B][c][hw][hw] N(0, 1) */
    uint64_t probe_key; /* key of the Rademacher probes */
} az_inputs;

/* Draws them for `net` (seed and stream as the other proxies' weights). CLNAS_E_NOMEM. */
clnas_status az_inputs_make(const clnas_net *net, int batch, uint64_t seed, uint64_t stream, az_inputs *az);
void az_inputs_free(az_inputs *az);
/* Adds them to a dump: "az_input" [B][c][hw][hw], every parameter tensor as "az_w.<name>", and
 * the probe key as metadata "az_probe_key" (decimal). */
clnas_status az_dump(st_writer *w, const clnas_net *net, int batch, const az_inputs *az);

enum { AZ_EXPRESSIVITY, AZ_PROGRESSIVITY, AZ_TRAINABILITY, AZ_NCOMP };

/* The three components of `net` (an NB201-style network whose stem layers are named "stem.*"
 * and cells "cells.<i>.*"), on the device ctx, or on the double host reference when ctx is NULL.
 * Undefined components are -inf with a reason in why[k] (static string), else why[k] = NULL. */
clnas_status az_eval(clnas_ctx *ctx, const clnas_net *net, int batch, const az_inputs *az, double out[AZ_NCOMP],
                     const char *why[AZ_NCOMP], char *err, size_t errlen);

/* The Rademacher probe: +1 or -1 for element j of feature i. */
float az_probe(uint64_t probe_key, int feature, uint64_t j);

/* The aggregation over n architectures: out[a] = sum over the four components of
 * log(rank_a / n), rank = average rank ascending (scipy.stats.rankdata); a NaN or -inf value
 * ranks lowest (ties averaged). cols[4][n]: complexity (flops), expressivity, progressivity,
 * trainability. CLNAS_E_NOMEM. */
clnas_status az_aggregate(int n, const double *const cols[4], double *out);

/* Host helpers (exposed for the tests): expressivity e of one feature map, [B][c][hw] (hw =
 * h*w), NaN when undefined; and the largest singular value of M = g_in'^T g_out / (B*ho*wo)
 * with g_in pixel-unshuffled by r = hi/ho (1: same grid). */
double az_entropy(const double *f, int B, int c, int hw);
double az_smax(const double *gin, int ci, int hi, int wi, const double *gout, int B, int co, int ho, int wo);

#endif
