/* bn.c - BatchNorm2d in train mode (batch statistics, biased variance, PyTorch semantics):
 * the double host reference and the OpenCL forward/backward (cl/bn.cl).
 *
 * Forward: one work-group per channel computes mean then variance (two passes), then an
 * elementwise kernel applies the affine normalisation. Backward: one work-group per
 * (seed, channel) reduces sum(dy) and sum(dy*xhat) into ws ([S][2C]) and the parameter
 * gradients, then an elementwise kernel accumulates the full train-mode dx. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>

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

size_t clnas_bn_workspace_floats(const clnas_bn_shape *s, int S)
{
    if (!s || S < 1 || s->c < 1) return 0;
    return (size_t)S * 2 * (size_t)s->c;
}

/* Offsets and extents are passed to kernels as int: everything must stay below INT_MAX. */
static int fits(size_t off, size_t extent) { return off <= (size_t)INT_MAX && extent <= (size_t)INT_MAX - off; }

static clnas_status check_shape(clnas_ctx *ctx, const clnas_bn_shape *s, int S, const char *fn)
{
    if (!s || s->n < 1 || s->c < 1 || s->h < 1 || s->w < 1 || S < 1 || !(s->eps >= 0) ||
        !isfinite(s->eps))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "%s: bad shape n=%d c=%d h=%d w=%d S=%d eps=%g",
                               fn, s ? s->n : 0, s ? s->c : 0, s ? s->h : 0, s ? s->w : 0, S,
                               s ? s->eps : 0.0);
    size_t per = (size_t)s->n * s->c * s->h * s->w;
    if (per / (size_t)s->n / s->c / s->h != (size_t)s->w || !fits(0, per * (size_t)S))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "%s: tensor too large (%d x %d x %d x %d, S=%d)",
                               fn, s->n, s->c, s->h, s->w, S);
    return CLNAS_OK;
}

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

clnas_status clnas_bn_fwd(clnas_ctx *ctx, const clnas_bn_shape *s, clnas_dt x, clnas_dt gamma,
                          clnas_dt beta, clnas_dt y, clnas_dt stats)
{
    clnas_status st = check_shape(ctx, s, 1, "clnas_bn_fwd");
    if (st != CLNAS_OK) return st;
    const size_t C = (size_t)s->c, HW = (size_t)s->h * s->w, total = (size_t)s->n * C * HW;
    if (!fits(x.off, total) || !fits(y.off, total) || !fits(gamma.off, C) || !fits(beta.off, C) ||
        !fits(stats.off, 2 * C))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_bn_fwd: offsets exceed INT_MAX floats");

    cl_kernel k;
    size_t lws;
    st = clnas_kernel_get(ctx, "bn.cl", "", "bn_fwd_stats", &k);
    if (st != CLNAS_OK) return st;
    st = reduce_lws(ctx, k, &lws);
    if (st != CLNAS_OK) return st;
    st = clnas_kernel_args(ctx, k, "mimiiiif", x.m, (int)x.off, stats.m, (int)stats.off, s->n,
                           s->c, (int)HW, (double)(float)s->eps);
    if (st != CLNAS_OK) return st;
    size_t gws = C * lws;
    st = clnas_launch(ctx, k, 1, &gws, &lws);
    if (st != CLNAS_OK) return st;

    st = clnas_kernel_get(ctx, "bn.cl", "", "bn_fwd_apply", &k);
    if (st != CLNAS_OK) return st;
    st = clnas_kernel_args(ctx, k, "mimimimimiiii", x.m, (int)x.off, gamma.m, (int)gamma.off,
                           beta.m, (int)beta.off, stats.m, (int)stats.off, y.m, (int)y.off, s->c,
                           (int)HW, (int)total);
    if (st != CLNAS_OK) return st;
    size_t l2 = 64;
    return clnas_launch(ctx, k, 1, &total, &l2);
}

clnas_status clnas_bn_bwd(clnas_ctx *ctx, const clnas_bn_shape *s, int S, clnas_dt x,
                          clnas_dt gamma, clnas_dt stats, clnas_dt dy, clnas_dt dx,
                          clnas_dt dgamma, clnas_dt dbeta, size_t g_ld, clnas_dt ws)
{
    clnas_status st = check_shape(ctx, s, S, "clnas_bn_bwd");
    if (st != CLNAS_OK) return st;
    const size_t C = (size_t)s->c, HW = (size_t)s->h * s->w, per = (size_t)s->n * C * HW;
    const size_t total = per * (size_t)S;
    if (S > 1 && g_ld < C)
        return clnas_set_error(ctx, CLNAS_E_SHAPE,
                               "clnas_bn_bwd: g_ld=%zu smaller than the %zu parameters of one seed",
                               g_ld, C);
    const size_t gspan = (size_t)(S - 1) * g_ld + C;
    if ((S > 1 && g_ld > (size_t)INT_MAX) || !fits(x.off, per) || !fits(dy.off, total) ||
        !fits(dx.off, total) || !fits(gamma.off, C) || !fits(stats.off, 2 * C) ||
        !fits(ws.off, (size_t)S * 2 * C) || (S > 1 && g_ld > ((size_t)INT_MAX) / (size_t)(S - 1)) ||
        !fits(dgamma.off, gspan) || !fits(dbeta.off, gspan))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_bn_bwd: offsets exceed INT_MAX floats");

    cl_kernel k;
    size_t lws;
    st = clnas_kernel_get(ctx, "bn.cl", "", "bn_bwd_reduce", &k);
    if (st != CLNAS_OK) return st;
    st = reduce_lws(ctx, k, &lws);
    if (st != CLNAS_OK) return st;
    st = clnas_kernel_args(ctx, k, "mimimimimimiiiii", x.m, (int)x.off, stats.m, (int)stats.off,
                           dy.m, (int)dy.off, ws.m, (int)ws.off, dgamma.m, (int)dgamma.off,
                           dbeta.m, (int)dbeta.off, S > 1 ? (int)g_ld : 0, s->n, s->c, (int)HW);
    if (st != CLNAS_OK) return st;
    size_t gws2[2] = {C * lws, (size_t)S}, lws2[2] = {lws, 1};
    st = clnas_launch(ctx, k, 2, gws2, lws2);
    if (st != CLNAS_OK) return st;

    st = clnas_kernel_get(ctx, "bn.cl", "", "bn_bwd_dx", &k);
    if (st != CLNAS_OK) return st;
    st = clnas_kernel_args(ctx, k, "mimimimimimiiiii", x.m, (int)x.off, gamma.m, (int)gamma.off,
                           stats.m, (int)stats.off, dy.m, (int)dy.off, ws.m, (int)ws.off, dx.m,
                           (int)dx.off, s->n, s->c, (int)HW, (int)total);
    if (st != CLNAS_OK) return st;
    size_t l1 = 64;
    return clnas_launch(ctx, k, 1, &total, &l1);
}
