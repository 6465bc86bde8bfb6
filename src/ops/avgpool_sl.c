/* avgpool_sl.c - average pooling (count_include_pad = false) over channel slices and DARTS's
 * 3x3 windows (cl/avgpool_sl.cl): the forward and backward the executor runs when a pooling
 * layer reads or writes a concatenation's slice, or pools 3x3 at stride 2. The host
 * reference is pool.c's (slices are a layout, not a different function). */
#include <limits.h>
#include <stdio.h>

#include "ops/ops.h"

#define AP_MAXW 64 /* must match cl/avgpool_sl.cl */
#define AP_ROW_LWS 16

static clnas_status ap_kernel(clnas_ctx *ctx, const clnas_pool_shape *s, const char *name, cl_kernel *k)
{
    char defs[64];
    snprintf(defs, sizeof defs, "-DAP_K=%d -DAP_S=%d -DAP_P=%d", s->k, s->stride, s->pad);
    return clnas_kernel_get(ctx, "avgpool_sl.cl", defs, name, k);
}

static clnas_status check_ap(clnas_ctx *ctx, const clnas_pool_shape *s, int S, clnas_dt in, clnas_dt out,
                             const char *fn)
{
    clnas_pool_shape d;
    if (!s || S < 1) return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "%s: NULL shape or S < 1", fn);
    clnas_pool_shape_init(&d, s->n, s->c, s->h, s->w, s->k, s->stride, s->pad);
    if (s->n < 1 || s->c < 1 || s->h < 1 || s->w < 1 || s->k < 1 || s->stride < 1 || s->pad < 0 || 2 * s->pad > s->k ||
        s->xcs < s->c || s->ycs < s->c || d.hout < 1 || d.wout < 1 || d.hout != s->hout || d.wout != s->wout)
        return clnas_set_error(ctx, CLNAS_E_SHAPE,
                               "%s: bad pool shape n=%d c=%d %dx%d k=%d stride=%d pad=%d -> %dx%d, storage channels "
                               "%d/%d (call clnas_pool_shape_init; 0 <= pad <= k/2, storage channels >= c)",
                               fn, s->n, s->c, s->h, s->w, s->k, s->stride, s->pad, s->hout, s->wout, s->xcs, s->ycs);
    if (!in.m || !out.m) return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "%s: NULL buffer", fn);
    const size_t SN = (size_t)S * s->n;
    if (!clnas_fits_int(in.off, SN * s->xcs * s->h * s->w) || !clnas_fits_int(out.off, SN * s->ycs * s->hout * s->wout))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "%s: tensors or offsets exceed INT_MAX", fn);
    return CLNAS_OK;
}

clnas_status clnas_avgpool_sl_fwd(clnas_ctx *ctx, const clnas_pool_shape *s, clnas_dt x, clnas_dt y)
{
    clnas_status st = check_ap(ctx, s, 1, x, y, "clnas_avgpool_sl_fwd");
    cl_kernel k;
    if (st == CLNAS_OK) st = ap_kernel(ctx, s, "avgpool_sl_fwd", &k);
    if (st != CLNAS_OK) return st;
    const int NC = s->n * s->c;
    st = clnas_kernel_args(ctx, k, "mimiiiiiiiii", x.m, (int)x.off, y.m, (int)y.off, NC, s->c, s->xcs, s->ycs, s->h,
                           s->w, s->hout, s->wout);
    size_t gws[3] = {(size_t)s->wout, (size_t)s->hout, (size_t)NC};
    return st == CLNAS_OK ? clnas_launch(ctx, k, 3, gws, NULL) : st;
}

clnas_status clnas_avgpool_sl_bwd(clnas_ctx *ctx, const clnas_pool_shape *s, int S, clnas_dt dy, float dy_scale,
                                  clnas_dt dx, int accumulate)
{
    /* dx is the "input" side (xcs), dy the "output" side (ycs) */
    clnas_status st = check_ap(ctx, s, S, dx, dy, "clnas_avgpool_sl_bwd");
    if (st != CLNAS_OK) return st;
    const int SNC = S * s->n * s->c;
    const int rows = s->k == 3 && s->pad == 1 && s->stride <= 2 && s->w % 8 == 0 && s->w <= AP_MAXW;
    cl_kernel k;
    if ((st = ap_kernel(ctx, s, rows ? "avgpool3_sl_bwd_rows" : "avgpool_sl_bwd", &k)) != CLNAS_OK) return st;
    if (rows) {
        st = clnas_kernel_args(ctx, k, "mimiiiiiiiiifi", dy.m, (int)dy.off, dx.m, (int)dx.off, SNC * s->h, s->c, s->xcs,
                               s->ycs, s->h, s->w, s->hout, s->wout, (double)dy_scale, accumulate ? 1 : 0);
        size_t g = (size_t)SNC * s->h, l = AP_ROW_LWS;
        return st == CLNAS_OK ? clnas_launch(ctx, k, 1, &g, &l) : st;
    }
    st = clnas_kernel_args(ctx, k, "mimiiiiiiiiifi", dy.m, (int)dy.off, dx.m, (int)dx.off, SNC, s->c, s->xcs, s->ycs,
                           s->h, s->w, s->hout, s->wout, (double)dy_scale, accumulate ? 1 : 0);
    size_t gws[3] = {(size_t)s->w, (size_t)s->h, (size_t)SNC};
    return st == CLNAS_OK ? clnas_launch(ctx, k, 3, gws, NULL) : st;
}
