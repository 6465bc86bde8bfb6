/* maxpool.c - max pooling (PyTorch MaxPool2d, DARTS's max_pool_3x3): the double host reference
 * and the OpenCL forward / backward over S seeds (cl/maxpool.cl). The backward recomputes
 * each window's winner from the forward input instead of keeping an index tensor: the plan
 * then needs no per-layer scratch, and both passes use one argmax rule (window_argmax). */
#include <limits.h>
#include <math.h>

#include "ops/ops.h"

/* Index (h*W + w) of the winner of window (oh, ow) in plane xp: the first maximum in
 * row-major order, a NaN always taking over (PyTorch's rule); -1 if the window is empty. */
static int window_argmax_ref(const clnas_pool_shape *s, const double *xp, int oh, int ow)
{
    const int h0 = oh * s->stride - s->pad, w0 = ow * s->stride - s->pad;
    int am = -1;
    double m = -INFINITY;
    for (int h = h0; h < h0 + s->k; h++) {
        if (h < 0 || h >= s->h) continue;
        for (int w = w0; w < w0 + s->k; w++) {
            if (w < 0 || w >= s->w) continue;
            const double v = xp[h * s->w + w];
            if (am < 0 || v > m || isnan(v)) {
                m = v;
                am = h * s->w + w;
            }
        }
    }
    return am;
}

void clnas_maxpool_fwd_ref(const clnas_pool_shape *s, const double *x, double *y)
{
    const size_t NC = (size_t)s->n * s->c, hw = (size_t)s->h * s->w;
    for (size_t p = 0; p < NC; p++)
        for (int oh = 0; oh < s->hout; oh++)
            for (int ow = 0; ow < s->wout; ow++) {
                const int am = window_argmax_ref(s, x + p * hw, oh, ow);
                y[(p * s->hout + oh) * s->wout + ow] = am >= 0 ? x[p * hw + (size_t)am] : -INFINITY;
            }
}

void clnas_maxpool_bwd_ref(const clnas_pool_shape *s, const double *x, const double *dy, double *dx)
{
    const size_t NC = (size_t)s->n * s->c, hw = (size_t)s->h * s->w;
    for (size_t p = 0; p < NC; p++)
        for (int oh = 0; oh < s->hout; oh++)
            for (int ow = 0; ow < s->wout; ow++) {
                const int am = window_argmax_ref(s, x + p * hw, oh, ow);
                if (am >= 0) dx[p * hw + (size_t)am] += dy[(p * s->hout + oh) * s->wout + ow];
            }
}

/* Shape, storage channels and the int index range of S seeds. */
static clnas_status check_maxpool(clnas_ctx *ctx, const clnas_pool_shape *s, int S, const char *fn)
{
    if (!s || s->n < 1 || s->c < 1 || s->h < 1 || s->w < 1 || s->k < 1 || s->stride < 1 || s->pad < 0 ||
        2 * s->pad > s->k || S < 1 || s->xcs < s->c || s->ycs < s->c)
        return clnas_set_error(ctx, CLNAS_E_SHAPE,
                               "%s: bad pool shape n=%d c=%d h=%d w=%d k=%d stride=%d pad=%d S=%d storage "
                               "channels %d/%d (need positive sizes, 0 <= pad <= k/2, storage channels >= c)",
                               fn, s ? s->n : 0, s ? s->c : 0, s ? s->h : 0, s ? s->w : 0, s ? s->k : 0,
                               s ? s->stride : 0, s ? s->pad : 0, S, s ? s->xcs : 0, s ? s->ycs : 0);
    clnas_pool_shape d;
    clnas_pool_shape_init(&d, s->n, s->c, s->h, s->w, s->k, s->stride, s->pad);
    if (d.hout < 1 || d.wout < 1 || d.hout != s->hout || d.wout != s->wout)
        return clnas_set_error(ctx, CLNAS_E_SHAPE,
                               "%s: output %dx%d does not match input %dx%d, k=%d stride=%d pad=%d (expected %dx%d; "
                               "call clnas_pool_shape_init)",
                               fn, s->hout, s->wout, s->h, s->w, s->k, s->stride, s->pad, d.hout, d.wout);
    const size_t SN = (size_t)S * s->n;
    if (SN * s->xcs * s->h * s->w > (size_t)INT_MAX || SN * s->ycs * s->hout * s->wout > (size_t)INT_MAX)
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "%s: tensors exceed INT_MAX elements", fn);
    return CLNAS_OK;
}

clnas_status clnas_maxpool_fwd(clnas_ctx *ctx, const clnas_pool_shape *s, clnas_dt x, clnas_dt y)
{
    clnas_status st = check_maxpool(ctx, s, 1, "clnas_maxpool_fwd");
    if (st != CLNAS_OK) return st;
    if (!x.m || !y.m) return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "clnas_maxpool_fwd: NULL buffer");
    if (!clnas_fits_int(x.off, (size_t)s->n * s->xcs * s->h * s->w) ||
        !clnas_fits_int(y.off, (size_t)s->n * s->ycs * s->hout * s->wout))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_maxpool_fwd: offsets exceed INT_MAX");
    cl_kernel k;
    if ((st = clnas_kernel_get(ctx, "maxpool.cl", "", "maxpool_fwd", &k)) != CLNAS_OK) return st;
    const int NC = s->n * s->c;
    st = clnas_kernel_args(ctx, k, "mimiiiiiiiiiiii", x.m, (int)x.off, y.m, (int)y.off, NC, s->c, s->xcs, s->ycs,
                           s->h, s->w, s->k, s->stride, s->pad, s->hout, s->wout);
    if (st != CLNAS_OK) return st;
    size_t gws[3] = {(size_t)s->wout, (size_t)s->hout, (size_t)NC};
    return clnas_launch(ctx, k, 3, gws, NULL);
}

clnas_status clnas_maxpool_bwd(clnas_ctx *ctx, const clnas_pool_shape *s, int S, clnas_dt x, clnas_dt dy,
                               clnas_dt dx, int accumulate)
{
    clnas_status st = check_maxpool(ctx, s, S, "clnas_maxpool_bwd");
    if (st != CLNAS_OK) return st;
    if (!x.m || !dy.m || !dx.m) return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "clnas_maxpool_bwd: NULL buffer");
    const size_t SN = (size_t)S * s->n;
    if (!clnas_fits_int(x.off, (size_t)s->n * s->xcs * s->h * s->w) ||
        !clnas_fits_int(dx.off, SN * s->xcs * s->h * s->w) || !clnas_fits_int(dy.off, SN * s->ycs * s->hout * s->wout))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_maxpool_bwd: offsets exceed INT_MAX");
    cl_kernel k;
    if ((st = clnas_kernel_get(ctx, "maxpool.cl", "", "maxpool_bwd", &k)) != CLNAS_OK) return st;
    const int SNC = (int)SN * s->c;
    st = clnas_kernel_args(ctx, k, "mimimiiiiiiiiiiiiii", x.m, (int)x.off, dy.m, (int)dy.off, dx.m, (int)dx.off, SNC,
                           s->n, s->c, s->xcs, s->ycs, s->h, s->w, s->k, s->stride, s->pad, s->hout, s->wout,
                           accumulate ? 1 : 0);
    if (st != CLNAS_OK) return st;
    size_t gws[3] = {(size_t)s->w, (size_t)s->h, (size_t)SNC};
    return clnas_launch(ctx, k, 3, gws, NULL);
}
