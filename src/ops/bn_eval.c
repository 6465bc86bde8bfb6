/* bn_eval.c - eval-mode BatchNorm2d (bn_eval.h): double host reference and OpenCL launches.
 * The forward is elementwise (cl/bn_eval.cl); the backward is cl/bn.cl's bn_bwd with -DBN_EVAL=1,
 * one work-group per (channel, seed) that reduces sum(dy) and sum(dy * xhat) and writes dx in the
 * same launch. */
#include "ops/bn_eval.h"
#include <limits.h>
#include <stdlib.h>

void clnas_bn_eval_fwd_ref(const clnas_bn_shape *s, const double *x, const double *gamma, const double *beta,
                           const double *stats, double *y)
{
    const size_t HW = (size_t)s->h * s->w, C = (size_t)s->c;
    for (size_t n = 0; n < (size_t)s->n; n++)
        for (size_t c = 0; c < C; c++)
            for (size_t i = 0; i < HW; i++) {
                size_t e = (n * C + c) * HW + i;
                y[e] = gamma[c] * (x[e] - stats[c]) * stats[C + c] + beta[c];
            }
}

void clnas_bn_eval_bwd_ref(const clnas_bn_shape *s, const double *x, const double *gamma, const double *stats,
                           const double *dy, double *dx, double *dgamma, double *dbeta)
{
    const size_t HW = (size_t)s->h * s->w, C = (size_t)s->c;
    for (size_t c = 0; c < C; c++) {
        double sdy = 0, sdyx = 0;
        for (size_t n = 0; n < (size_t)s->n; n++)
            for (size_t i = 0; i < HW; i++) {
                size_t e = (n * C + c) * HW + i;
                sdy += dy[e];
                sdyx += dy[e] * (x[e] - stats[c]) * stats[C + c];
                dx[e] += gamma[c] * stats[C + c] * dy[e];
            }
        dgamma[c] = sdyx;
        dbeta[c] = sdy;
    }
}

static clnas_status check(clnas_ctx *ctx, const clnas_bn_shape *s, int S, const char *fn)
{
    if (!s || s->n < 1 || s->c < 1 || s->h < 1 || s->w < 1 || S < 1)
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "%s: bad shape n=%d c=%d h=%d w=%d S=%d", fn, s ? s->n : 0,
                               s ? s->c : 0, s ? s->h : 0, s ? s->w : 0, S);
    size_t per = (size_t)s->n * s->c * s->h * s->w;
    if (per / (size_t)s->n / s->c / s->h != (size_t)s->w || !clnas_fits_int(0, per * (size_t)S))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "%s: tensor too large (%d x %d x %d x %d, S=%d)", fn, s->n, s->c,
                               s->h, s->w, S);
    return CLNAS_OK;
}

clnas_status clnas_bn_eval_fwd(clnas_ctx *ctx, const clnas_bn_shape *s, clnas_dt x, clnas_dt gamma, clnas_dt beta,
                               clnas_dt stats, clnas_dt y)
{
    clnas_status st = check(ctx, s, 1, "clnas_bn_eval_fwd");
    if (st != CLNAS_OK) return st;
    const size_t C = (size_t)s->c, HW = (size_t)s->h * s->w, total = (size_t)s->n * C * HW;
    if (!clnas_fits_int(x.off, total) || !clnas_fits_int(y.off, total) || !clnas_fits_int(gamma.off, C) ||
        !clnas_fits_int(beta.off, C) || !clnas_fits_int(stats.off, 2 * C))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_bn_eval_fwd: offsets exceed INT_MAX floats");
    cl_kernel k;
    if ((st = clnas_kernel_get(ctx, "bn_eval.cl", "", "bn_eval_fwd", &k)) != CLNAS_OK) return st;
    st = clnas_kernel_args(ctx, k, "mimimimimiiii", x.m, (int)x.off, gamma.m, (int)gamma.off, beta.m, (int)beta.off,
                           stats.m, (int)stats.off, y.m, (int)y.off, s->c, (int)HW, (int)total);
    if (st != CLNAS_OK) return st;
    size_t lws;
    if ((st = clnas_lws_capped(ctx, k, 64, &lws)) != CLNAS_OK) return st;
    size_t gws = (total + lws - 1) / lws * lws;
    return clnas_launch(ctx, k, 1, &gws, &lws);
}

/* bn.cl's bn_bwd compiled with -DBN_EVAL=1: the train-mode kernel's reductions (CPU- and
 * GPU-shaped walks, vector loads) without the batch-statistics terms of dx. */
clnas_status clnas_bn_eval_bwd(clnas_ctx *ctx, const clnas_bn_shape *s, int S, clnas_dt x, clnas_dt gamma,
                               clnas_dt stats, clnas_dt dy, float dy_scale, clnas_dt dx, int accumulate,
                               clnas_dt dgamma, clnas_dt dbeta, size_t g_ld)
{
    return clnas_bn_bwd_mode(ctx, s, S, x, gamma, stats, dy, dy_scale, dx, accumulate, dgamma, dbeta, g_ld, 1);
}
