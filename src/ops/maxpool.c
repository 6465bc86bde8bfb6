/* maxpool.c - max pooling (PyTorch MaxPool2d, DARTS's max_pool_3x3): the double host reference
 * and the OpenCL forward / backward over S seeds (cl/maxpool.cl). The backward recomputes
 * each window's winner from the forward input (once, into the caller's scratch, shared by the
 * S seeds) instead of keeping an index tensor from the forward: the plan then needs no
 * per-layer memory, and both passes use one argmax rule (window_argmax). The frozen forward
 * (grasp, clnas_plan_freeze) takes each window's winner from a reference input the same way, and
 * the backward given that reference input keeps its winners. */
#include <limits.h>
#include <math.h>
#include <stdio.h>

#include "ops/ops.h"

#define MAXPOOL_MAXW 64 /* widest row of maxpool_bwd_rows (must match cl/maxpool.cl) */
#define MAXPOOL_ROW_LWS 16

/* The CPU-shaped variant (clnas_cpu_shaped) of the backward of the 3x3 stride-1 pad-1 window
 * over rows of whole float8 vectors (DARTS's max_pool_3x3 in its normal cells): the argmax and
 * the gather take a row per work-item as float8 vectors (maxpool_argmax_vec, maxpool_bwd_vec,
 * built for the row width), which PoCL runs as SIMD. */
static int use_vec(clnas_ctx *ctx, const clnas_pool_shape *s)
{
    return s->k == 3 && s->stride == 1 && s->pad == 1 && s->w % 8 == 0 && s->w <= MAXPOOL_MAXW &&
           clnas_cpu_shaped(ctx);
}

/* The program for this window (build options, cl/maxpool.cl), and for the vector kernels the width. */
static clnas_status mp_kernel(clnas_ctx *ctx, const clnas_pool_shape *s, const char *name, cl_kernel *k)
{
    char defs[80];
    const int n = snprintf(defs, sizeof defs, "-DMP_K=%d -DMP_S=%d -DMP_P=%d", s->k, s->stride, s->pad);
    if (use_vec(ctx, s)) snprintf(defs + n, sizeof defs - (size_t)n, " -DMP_W=%d", s->w);
    return clnas_kernel_get(ctx, "maxpool.cl", defs, name, k);
}

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

void clnas_maxpool_argmax_ref(const clnas_pool_shape *s, const double *x, int *idx)
{
    const size_t NC = (size_t)s->n * s->c, hw = (size_t)s->h * s->w;
    for (size_t p = 0; p < NC; p++)
        for (int oh = 0; oh < s->hout; oh++)
            for (int ow = 0; ow < s->wout; ow++) idx[(p * s->hout + oh) * s->wout + ow] = window_argmax_ref(s, x + p * hw, oh, ow);
}

void clnas_maxpool_fwd_frozen_ref(const clnas_pool_shape *s, const double *xref, const double *x, double *y)
{
    const size_t NC = (size_t)s->n * s->c, hw = (size_t)s->h * s->w;
    for (size_t p = 0; p < NC; p++)
        for (int oh = 0; oh < s->hout; oh++)
            for (int ow = 0; ow < s->wout; ow++) {
                const int am = window_argmax_ref(s, xref + p * hw, oh, ow);
                y[(p * s->hout + oh) * s->wout + ow] = am >= 0 ? x[p * hw + (size_t)am] : -INFINITY;
            }
}

/* The plain forward is the frozen one whose reference input is its own. */
void clnas_maxpool_fwd_ref(const clnas_pool_shape *s, const double *x, double *y) { clnas_maxpool_fwd_frozen_ref(s, x, x, y); }

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
    if ((st = mp_kernel(ctx, s, "maxpool_fwd", &k)) != CLNAS_OK) return st;
    const int NC = s->n * s->c;
    st = clnas_kernel_args(ctx, k, "mimiiiiiiiii", x.m, (int)x.off, y.m, (int)y.off, NC, s->c, s->xcs, s->ycs,
                           s->h, s->w, s->hout, s->wout);
    if (st != CLNAS_OK) return st;
    size_t gws[3] = {(size_t)s->wout, (size_t)s->hout, (size_t)NC};
    return clnas_launch(ctx, k, 3, gws, NULL);
}

clnas_status clnas_maxpool_fwd_frozen(clnas_ctx *ctx, const clnas_pool_shape *s, clnas_dt xref, clnas_dt x,
                                      clnas_dt y)
{
    clnas_status st = check_maxpool(ctx, s, 1, "clnas_maxpool_fwd_frozen");
    if (st != CLNAS_OK) return st;
    if (!xref.m || !x.m || !y.m) return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "clnas_maxpool_fwd_frozen: NULL buffer");
    const size_t nx = (size_t)s->n * s->xcs * s->h * s->w;
    if (!clnas_fits_int(xref.off, nx) || !clnas_fits_int(x.off, nx) ||
        !clnas_fits_int(y.off, (size_t)s->n * s->ycs * s->hout * s->wout))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_maxpool_fwd_frozen: offsets exceed INT_MAX");
    cl_kernel k;
    if ((st = mp_kernel(ctx, s, "maxpool_fwd_frozen", &k)) != CLNAS_OK) return st;
    const int NC = s->n * s->c;
    st = clnas_kernel_args(ctx, k, "mimimiiiiiiiii", xref.m, (int)xref.off, x.m, (int)x.off, y.m, (int)y.off, NC, s->c,
                           s->xcs, s->ycs, s->h, s->w, s->hout, s->wout);
    if (st != CLNAS_OK) return st;
    size_t gws[3] = {(size_t)s->wout, (size_t)s->hout, (size_t)NC};
    return clnas_launch(ctx, k, 3, gws, NULL);
}

size_t clnas_maxpool_workspace_floats(const clnas_pool_shape *s)
{
    return (size_t)s->n * s->c * s->hout * s->wout;
}

clnas_status clnas_maxpool_bwd(clnas_ctx *ctx, const clnas_pool_shape *s, int S, clnas_dt x, clnas_dt dy,
                               clnas_dt dx, int accumulate, clnas_dt ws)
{
    clnas_status st = check_maxpool(ctx, s, S, "clnas_maxpool_bwd");
    if (st != CLNAS_OK) return st;
    if (!x.m || !dy.m || !dx.m || !ws.m)
        return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "clnas_maxpool_bwd: NULL buffer");
    const size_t SN = (size_t)S * s->n;
    if (!clnas_fits_int(x.off, (size_t)s->n * s->xcs * s->h * s->w) ||
        !clnas_fits_int(dx.off, SN * s->xcs * s->h * s->w) || !clnas_fits_int(dy.off, SN * s->ycs * s->hout * s->wout) ||
        !clnas_fits_int(ws.off, clnas_maxpool_workspace_floats(s)))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_maxpool_bwd: offsets exceed INT_MAX");
    cl_kernel k;
    const int NC = s->n * s->c, SNC = (int)SN * s->c;
    if (use_vec(ctx, s)) {
        if ((st = mp_kernel(ctx, s, "maxpool_argmax_vec", &k)) != CLNAS_OK) return st;
        st = clnas_kernel_args(ctx, k, "mimiiiii", x.m, (int)x.off, ws.m, (int)ws.off, NC * s->h, s->c, s->xcs, s->h);
        size_t g = (size_t)NC * s->h, l = MAXPOOL_ROW_LWS;
        if (st == CLNAS_OK) st = clnas_launch(ctx, k, 1, &g, &l);
        if (st == CLNAS_OK) st = mp_kernel(ctx, s, "maxpool_bwd_vec", &k);
        if (st == CLNAS_OK)
            st = clnas_kernel_args(ctx, k, "mimimiiiiiiii", ws.m, (int)ws.off, dy.m, (int)dy.off, dx.m, (int)dx.off,
                                   SNC * s->h, s->n, s->c, s->xcs, s->ycs, s->h, accumulate ? 1 : 0);
        g = (size_t)SNC * s->h;
        return st == CLNAS_OK ? clnas_launch(ctx, k, 1, &g, &l) : st;
    }
    if ((st = mp_kernel(ctx, s, "maxpool_argmax", &k)) != CLNAS_OK) return st;
    st = clnas_kernel_args(ctx, k, "mimiiiiiiii", x.m, (int)x.off, ws.m, (int)ws.off, NC, s->c, s->xcs, s->h, s->w,
                           s->hout, s->wout);
    size_t ga[3] = {(size_t)s->wout, (size_t)s->hout, (size_t)NC};
    if (st == CLNAS_OK) st = clnas_launch(ctx, k, 3, ga, NULL);
    const int rows = s->w <= MAXPOOL_MAXW;
    if (st == CLNAS_OK) st = mp_kernel(ctx, s, rows ? "maxpool_bwd_rows" : "maxpool_bwd", &k);
    if (st != CLNAS_OK) return st;
    if (rows) {
        st = clnas_kernel_args(ctx, k, "mimimiiiiiiiiiii", ws.m, (int)ws.off, dy.m, (int)dy.off, dx.m, (int)dx.off,
                               SNC * s->h, s->n, s->c, s->xcs, s->ycs, s->h, s->w, s->hout, s->wout, accumulate ? 1 : 0);
        size_t g = (size_t)SNC * s->h, l = MAXPOOL_ROW_LWS;
        return st == CLNAS_OK ? clnas_launch(ctx, k, 1, &g, &l) : st;
    }
    st = clnas_kernel_args(ctx, k, "mimimiiiiiiiiiii", ws.m, (int)ws.off, dy.m, (int)dy.off, dx.m, (int)dx.off, SNC,
                           s->n, s->c, s->xcs, s->ycs, s->h, s->w, s->hout, s->wout, accumulate ? 1 : 0);
    if (st != CLNAS_OK) return st;
    size_t gws[3] = {(size_t)s->w, (size_t)s->h, (size_t)SNC};
    return clnas_launch(ctx, k, 3, gws, NULL);
}
