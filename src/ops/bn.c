/* bn.c - BatchNorm2d in train mode (batch statistics, biased variance, PyTorch semantics):
 * the double host reference and the OpenCL forward/backward (cl/bn.cl).
 *
 * One launch per call. Forward: one work-group per channel computes mean then variance
 * (two passes) and applies the affine normalisation. Backward: one work-group per
 * (seed, channel) reduces sum(dy) and sum(dy*xhat), writes the parameter gradients and
 * accumulates the full train-mode dx over the same channel (still in cache). The loads are
 * float8/float4 vectors when H*W allows (-DBN_VW). The ws scratch is no longer needed; the
 * workspace size stays as documented so callers need not change. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>

#include "ops/ops.h"

#define BN_MAX_WG 256 /* must match cl/bn.cl */

/* ---------------- host reference ---------------- */

void clnas_bn_fwd_ref(const clnas_bn_shape *s, const double *x, const double *gamma,
                      const double *beta, double *y, double *mean, double *invstd)
{
    const size_t HW = (size_t)s->h * s->w, C = (size_t)s->c, N = (size_t)s->n;
    const double M = (double)(N * HW);
    for (size_t c = 0; c < C; c++) {
        double sum = 0;
        for (size_t n = 0; n < N; n++)
            for (size_t i = 0; i < HW; i++) sum += x[(n * C + c) * HW + i];
        const double mu = sum / M;
        double sq = 0;
        for (size_t n = 0; n < N; n++)
            for (size_t i = 0; i < HW; i++) {
                double d = x[(n * C + c) * HW + i] - mu;
                sq += d * d;
            }
        const double is = 1.0 / sqrt(sq / M + s->eps);
        mean[c] = mu;
        invstd[c] = is;
        for (size_t n = 0; n < N; n++)
            for (size_t i = 0; i < HW; i++) {
                size_t e = (n * C + c) * HW + i;
                y[e] = gamma[c] * (x[e] - mu) * is + beta[c];
            }
    }
}

void clnas_bn_bwd_ref(const clnas_bn_shape *s, const double *x, const double *gamma,
                      const double *mean, const double *invstd, const double *dy, double *dx,
                      double *dgamma, double *dbeta)
{
    const size_t HW = (size_t)s->h * s->w, C = (size_t)s->c, N = (size_t)s->n;
    const double M = (double)(N * HW);
    for (size_t c = 0; c < C; c++) {
        double sdy = 0, sdyx = 0;
        for (size_t n = 0; n < N; n++)
            for (size_t i = 0; i < HW; i++) {
                size_t e = (n * C + c) * HW + i;
                sdy += dy[e];
                sdyx += dy[e] * (x[e] - mean[c]) * invstd[c];
            }
        dbeta[c] = sdy;
        dgamma[c] = sdyx;
        const double k = gamma[c] * invstd[c] / M;
        for (size_t n = 0; n < N; n++)
            for (size_t i = 0; i < HW; i++) {
                size_t e = (n * C + c) * HW + i;
                double xh = (x[e] - mean[c]) * invstd[c];
                dx[e] += k * (M * dy[e] - sdy - xh * sdyx);
            }
    }
}

/* ---------------- OpenCL ---------------- */


static clnas_status check_shape(clnas_ctx *ctx, const clnas_bn_shape *s, int S, const char *fn)
{
    if (!s || s->n < 1 || s->c < 1 || s->h < 1 || s->w < 1 || S < 1 || !(s->eps >= 0) ||
        !isfinite(s->eps))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "%s: bad shape n=%d c=%d h=%d w=%d S=%d eps=%g",
                               fn, s ? s->n : 0, s ? s->c : 0, s ? s->h : 0, s ? s->w : 0, S,
                               s ? s->eps : 0.0);
    size_t per = (size_t)s->n * s->c * s->h * s->w;
    if (per / (size_t)s->n / s->c / s->h != (size_t)s->w || !clnas_fits_int(0, per * (size_t)S))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "%s: tensor too large (%d x %d x %d x %d, S=%d)",
                               fn, s->n, s->c, s->h, s->w, S);
    return CLNAS_OK;
}

#define BN_CPU_WG 16 /* work-group size on CPU devices (power of two) */

/* Largest power of two <= min(BN_MAX_WG, device and kernel limits). */
static clnas_status reduce_lws(clnas_ctx *ctx, cl_kernel k, size_t *lws)
{
    size_t kmax = 0;
    CL_CHECK(ctx, clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kmax,
                                           &kmax, NULL));
    size_t cap = BN_MAX_WG;
    if (ctx->info.max_work_group && ctx->info.max_work_group < cap) cap = ctx->info.max_work_group;
    if (kmax && kmax < cap) cap = kmax;
    size_t l = 1;
    while (l * 2 <= cap) l *= 2;
    *lws = l;
    return CLNAS_OK;
}

/* CPU-shaped kernels walk a channel in contiguous runs per work item (cl/bn.cl, BN_CONTIG). */
static int bn_contig(const clnas_ctx *ctx) { return clnas_cpu_shaped(ctx); }

/* The program's options: the vector width of the loads, the largest of 8, 4, 1 dividing HW
 * (one sample's channel is then whole vectors; -DBN_VW), and how work items walk a channel
 * (-DBN_CONTIG, cl/bn.cl): contiguous runs per item on CPU devices, interleaved (coalesced) on
 * the others. Each combination is its own program. */
static const char *bn_defines(const clnas_ctx *ctx, size_t HW)
{
    const int contig = bn_contig(ctx);
    if (HW % 8 == 0) return contig ? "-DBN_VW=8 -DBN_CONTIG=1" : "-DBN_VW=8";
    if (HW % 4 == 0) return contig ? "-DBN_VW=4 -DBN_CONTIG=1" : "-DBN_VW=4";
    return contig ? "-DBN_VW=1 -DBN_CONTIG=1" : "-DBN_VW=1";
}

/* Work-group size: enough items for every one to sum several vectors, at most BN_MAX_WG. */
static clnas_status group_size(clnas_ctx *ctx, cl_kernel k, size_t M, size_t HW, size_t *lws)
{
    clnas_status st = reduce_lws(ctx, k, lws);
    if (st != CLNAS_OK) return st;
    size_t vw = HW % 8 == 0 ? 8 : HW % 4 == 0 ? 4 : 1;
    size_t vecs = M / vw; /* vectors per channel */
    while (*lws > 16 && *lws * 4 > vecs) *lws /= 2;
    /* CPU (contiguous runs): PoCL runs a group's items one after another on one core, so a few
     * long runs beat many short ones (measured at N=72, S=4: 16 items 0.63 ms, 256 items 1.2 ms
     * for 3x32x32); the tree and the barriers also get cheaper. */
    if (bn_contig(ctx) && *lws > BN_CPU_WG) *lws = BN_CPU_WG;
    return CLNAS_OK;
}

clnas_status clnas_bn_fwd(clnas_ctx *ctx, const clnas_bn_shape *s, clnas_dt x, clnas_dt gamma,
                          clnas_dt beta, clnas_dt y, clnas_dt stats)
{
    clnas_status st = check_shape(ctx, s, 1, "clnas_bn_fwd");
    if (st != CLNAS_OK) return st;
    const size_t C = (size_t)s->c, HW = (size_t)s->h * s->w, total = (size_t)s->n * C * HW;
    if (!clnas_fits_int(x.off, total) || !clnas_fits_int(y.off, total) || !clnas_fits_int(gamma.off, C) || !clnas_fits_int(beta.off, C) ||
        !clnas_fits_int(stats.off, 2 * C))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_bn_fwd: offsets exceed INT_MAX floats");

    cl_kernel k;
    size_t lws;
    st = clnas_kernel_get(ctx, "bn.cl", bn_defines(ctx, HW), "bn_fwd", &k);
    if (st != CLNAS_OK) return st;
    st = group_size(ctx, k, (size_t)s->n * HW, HW, &lws);
    if (st != CLNAS_OK) return st;
    st = clnas_kernel_args(ctx, k, "mimimimimiiiif", x.m, (int)x.off, gamma.m, (int)gamma.off,
                           beta.m, (int)beta.off, stats.m, (int)stats.off, y.m, (int)y.off, s->n,
                           s->c, (int)HW, (double)(float)s->eps);
    if (st != CLNAS_OK) return st;
    size_t gws = C * lws;
    return clnas_launch(ctx, k, 1, &gws, &lws);
}

clnas_status clnas_bn_bwd(clnas_ctx *ctx, const clnas_bn_shape *s, int S, clnas_dt x,
                          clnas_dt gamma, clnas_dt stats, clnas_dt dy, clnas_dt dx,
                          clnas_dt dgamma, clnas_dt dbeta, size_t g_ld)
{
    return clnas_bn_bwd_ex(ctx, s, S, x, gamma, stats, dy, 1.0f, dx, 1, dgamma, dbeta, g_ld);
}

clnas_status clnas_bn_bwd_ex(clnas_ctx *ctx, const clnas_bn_shape *s, int S, clnas_dt x,
                             clnas_dt gamma, clnas_dt stats, clnas_dt dy, float dy_scale,
                             clnas_dt dx, int accumulate, clnas_dt dgamma, clnas_dt dbeta,
                             size_t g_ld)
{
    return clnas_bn_bwd_mode(ctx, s, S, x, gamma, stats, dy, dy_scale, dx, accumulate, dgamma, dbeta, g_ld, 0);
}

clnas_status clnas_bn_bwd_mode(clnas_ctx *ctx, const clnas_bn_shape *s, int S, clnas_dt x,
                               clnas_dt gamma, clnas_dt stats, clnas_dt dy, float dy_scale,
                               clnas_dt dx, int accumulate, clnas_dt dgamma, clnas_dt dbeta,
                               size_t g_ld, int eval)
{
    clnas_status st = check_shape(ctx, s, S, eval ? "clnas_bn_eval_bwd" : "clnas_bn_bwd");
    if (st != CLNAS_OK) return st;
    const size_t C = (size_t)s->c, HW = (size_t)s->h * s->w, per = (size_t)s->n * C * HW;
    const size_t total = per * (size_t)S;
    if (S > 1 && g_ld < C)
        return clnas_set_error(ctx, CLNAS_E_SHAPE,
                               "clnas_bn_bwd: g_ld=%zu smaller than the %zu parameters of one seed",
                               g_ld, C);
    const size_t gspan = (size_t)(S - 1) * g_ld + C;
    if ((S > 1 && g_ld > (size_t)INT_MAX) || !clnas_fits_int(x.off, per) || !clnas_fits_int(dy.off, total) ||
        !clnas_fits_int(dx.off, total) || !clnas_fits_int(gamma.off, C) || !clnas_fits_int(stats.off, 2 * C) ||
        (S > 1 && g_ld > ((size_t)INT_MAX) / (size_t)(S - 1)) ||
        !clnas_fits_int(dgamma.off, gspan) || !clnas_fits_int(dbeta.off, gspan))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_bn_bwd: offsets exceed INT_MAX floats");

    cl_kernel k;
    size_t lws;
    char defs[96];
    snprintf(defs, sizeof defs, "%s%s", bn_defines(ctx, HW), eval ? " -DBN_EVAL=1" : "");
    st = clnas_kernel_get(ctx, "bn.cl", defs, "bn_bwd", &k);
    if (st != CLNAS_OK) return st;
    st = group_size(ctx, k, (size_t)s->n * HW, HW, &lws);
    if (st != CLNAS_OK) return st;
    st = clnas_kernel_args(ctx, k, "mimimimimimimiiiiifi", x.m, (int)x.off, gamma.m, (int)gamma.off,
                           stats.m, (int)stats.off, dy.m, (int)dy.off, dx.m, (int)dx.off,
                           dgamma.m, (int)dgamma.off, dbeta.m, (int)dbeta.off,
                           S > 1 ? (int)g_ld : 0, s->n, s->c, (int)HW, (double)dy_scale,
                           accumulate ? 1 : 0);
    if (st != CLNAS_OK) return st;
    size_t gws2[2] = {C * lws, (size_t)S}, lws2[2] = {lws, 1};
    return clnas_launch(ctx, k, 2, gws2, lws2);
}
