/* bn_eval.h - BatchNorm2d in eval mode (given running statistics) on the device, with its double
 * host reference (src/ops/bn_eval.c, cl/bn_eval.cl). The plan runs it instead of the train-mode
 * BatchNorm of ops.h while clnas_plan_bn_eval is on (VKDNW's per-sample Fisher, proxy_vkdnw.c).
 * Shapes as clnas_bn_shape (eps unused: invstd comes with the statistics). */
#ifndef CLNAS_BN_EVAL_H
#define CLNAS_BN_EVAL_H

#include "ops/ops.h"

/* y = gamma[c] * (x - mean[c]) * invstd[c] + beta[c]; stats = [mean(C) | invstd(C)]. */
void clnas_bn_eval_fwd_ref(const clnas_bn_shape *s, const double *x, const double *gamma, const double *beta,
                           const double *stats, double *y);
/* dx += gamma * invstd * dy; dgamma = sum dy * xhat, dbeta = sum dy per channel (overwritten). */
void clnas_bn_eval_bwd_ref(const clnas_bn_shape *s, const double *x, const double *gamma, const double *stats,
                           const double *dy, double *dx, double *dgamma, double *dbeta);

clnas_status clnas_bn_eval_fwd(clnas_ctx *ctx, const clnas_bn_shape *s, clnas_dt x, clnas_dt gamma, clnas_dt beta,
                               clnas_dt stats, clnas_dt y);
/* As clnas_bn_bwd_ex: S seeds of dy [S][N][C][HW] read as dy_scale * dy; dx accumulated
 * (accumulate != 0) or overwritten; seed s's parameter gradients at dgamma/dbeta + s * g_ld. */
clnas_status clnas_bn_eval_bwd(clnas_ctx *ctx, const clnas_bn_shape *s, int S, clnas_dt x, clnas_dt gamma,
                               clnas_dt stats, clnas_dt dy, float dy_scale, clnas_dt dx, int accumulate,
                               clnas_dt dgamma, clnas_dt dbeta, size_t g_ld);

#endif
