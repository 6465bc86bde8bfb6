/* slice.c - ops over tensors that may be channel slices of a concatenation (ops.h, "channel
 * slices"): FactorizedReduce's shifted input (host reference + OpenCL forward / backward),
 * and the ReLU and a*x + b*y the executor uses when an operand is a slice (cl/slice.cl; the
 * contiguous cases keep eltwise.cl's kernels). */
#include <limits.h>

#include "ops/ops.h"

#define SLICE_LWS 64

void clnas_shift_fwd_ref(int n, int c, int h, int w, const double *x, double *y)
{
    for (size_t p = 0; p < (size_t)n * c; p++)
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++)
                y[(p * h + i) * w + j] = i + 1 < h && j + 1 < w ? x[(p * h + i + 1) * w + j + 1] : 0.0;
}

void clnas_shift_bwd_ref(int n, int c, int h, int w, const double *dy, double *dx)
{
    for (size_t p = 0; p < (size_t)n * c; p++)
        for (int i = 0; i + 1 < h; i++)
            for (int j = 0; j + 1 < w; j++) dx[(p * h + i + 1) * w + j + 1] += dy[(p * h + i) * w + j];
}

/* Shape, storage channels, buffers (x: nbx samples, y: nby) and the int index range. */
static clnas_status check_map(clnas_ctx *ctx, const clnas_map_shape *m, int nbx, int nby, clnas_dt x, clnas_dt y,
                              const char *fn)
{
    if (!m || m->n < 1 || m->c < 1 || m->h < 1 || m->w < 1 || m->xcs < m->c || m->ycs < m->c || nbx < 1 || nby < 1)
        return clnas_set_error(ctx, CLNAS_E_SHAPE,
                               "%s: bad shape n=%d c=%d h=%d w=%d storage channels %d/%d over %d/%d samples "
                               "(need positive sizes, storage channels >= c)",
                               fn, m ? m->n : 0, m ? m->c : 0, m ? m->h : 0, m ? m->w : 0, m ? m->xcs : 0,
                               m ? m->ycs : 0, nbx, nby);
    if (!x.m || !y.m)
        return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "%s: NULL buffer", fn);
    const size_t hw = (size_t)m->h * m->w;
    if (!clnas_fits_int(x.off, (size_t)nbx * m->xcs * hw) || !clnas_fits_int(y.off, (size_t)nby * m->ycs * hw))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "%s: tensors or offsets exceed INT_MAX", fn);
    return CLNAS_OK;
}

static clnas_status launch2(clnas_ctx *ctx, cl_kernel k, const clnas_map_shape *m, int nb)
{
    size_t gws[2] = {(size_t)m->c * m->h * m->w, (size_t)nb}, lws[2] = {SLICE_LWS, 1};
    return clnas_launch(ctx, k, 2, gws, lws);
}

clnas_status clnas_shift_fwd(clnas_ctx *ctx, const clnas_map_shape *m, clnas_dt x, clnas_dt y)
{
    clnas_status st = check_map(ctx, m, m ? m->n : 0, m ? m->n : 0, x, y, "clnas_shift_fwd");
    cl_kernel k;
    if (st == CLNAS_OK) st = clnas_kernel_get(ctx, "slice.cl", "", "shift_fwd", &k);
    if (st == CLNAS_OK)
        st = clnas_kernel_args(ctx, k, "miimiiiii", x.m, (int)x.off, m->xcs, y.m, (int)y.off, m->ycs, m->c, m->h, m->w);
    return st == CLNAS_OK ? launch2(ctx, k, m, m->n) : st;
}

clnas_status clnas_shift_bwd(clnas_ctx *ctx, const clnas_map_shape *m, int S, clnas_dt dy, clnas_dt dx, int accumulate)
{
    const int nb = m && S >= 1 && m->n <= INT_MAX / S ? S * m->n : 0;
    /* dy is read with the output's storage (ycs), dx written with the input's (xcs) */
    clnas_status st = check_map(ctx, m, nb, nb, dx, dy, "clnas_shift_bwd");
    cl_kernel k;
    if (st == CLNAS_OK) st = clnas_kernel_get(ctx, "slice.cl", "", "shift_bwd", &k);
    if (st == CLNAS_OK)
        st = clnas_kernel_args(ctx, k, "miimiiiiii", dy.m, (int)dy.off, m->ycs, dx.m, (int)dx.off, m->xcs, m->c, m->h,
                               m->w, accumulate ? 1 : 0);
    return st == CLNAS_OK ? launch2(ctx, k, m, nb) : st;
}

clnas_status clnas_relu_sl_fwd(clnas_ctx *ctx, const clnas_map_shape *m, clnas_dt x, clnas_dt y)
{
    clnas_status st = check_map(ctx, m, m ? m->n : 0, m ? m->n : 0, x, y, "clnas_relu_sl_fwd");
    cl_kernel k;
    if (st == CLNAS_OK) st = clnas_kernel_get(ctx, "slice.cl", "", "relu_sl_fwd", &k);
    if (st == CLNAS_OK)
        st = clnas_kernel_args(ctx, k, "miimiiii", x.m, (int)x.off, m->xcs, y.m, (int)y.off, m->ycs, m->c, m->h * m->w);
    return st == CLNAS_OK ? launch2(ctx, k, m, m->n) : st;
}

clnas_status clnas_relu_sl_fwd_frozen(clnas_ctx *ctx, const clnas_map_shape *m, clnas_dt xref, clnas_dt x, clnas_dt y)
{
    clnas_status st = check_map(ctx, m, m ? m->n : 0, m ? m->n : 0, x, y, "clnas_relu_sl_fwd_frozen");
    if (st == CLNAS_OK) st = check_map(ctx, m, m->n, m->n, xref, y, "clnas_relu_sl_fwd_frozen (reference input)");
    cl_kernel k;
    if (st == CLNAS_OK) st = clnas_kernel_get(ctx, "slice.cl", "", "relu_sl_fwd_frozen", &k);
    if (st == CLNAS_OK)
        st = clnas_kernel_args(ctx, k, "mimiimiiii", xref.m, (int)xref.off, x.m, (int)x.off, m->xcs, y.m, (int)y.off,
                               m->ycs, m->c, m->h * m->w);
    return st == CLNAS_OK ? launch2(ctx, k, m, m->n) : st;
}

clnas_status clnas_relu_sl_bwd(clnas_ctx *ctx, const clnas_map_shape *m, int S, clnas_dt x, clnas_dt dy, clnas_dt dx,
                               int accumulate)
{
    const int nb = m && S >= 1 && m->n <= INT_MAX / S ? S * m->n : 0;
    clnas_status st = check_map(ctx, m, nb, nb, dx, dy, "clnas_relu_sl_bwd");
    if (st == CLNAS_OK) st = check_map(ctx, m, m->n, nb, x, dy, "clnas_relu_sl_bwd");
    cl_kernel k;
    if (st == CLNAS_OK) st = clnas_kernel_get(ctx, "slice.cl", "", "relu_sl_bwd", &k);
    if (st == CLNAS_OK)
        st = clnas_kernel_args(ctx, k, "miimiimiiiii", x.m, (int)x.off, m->xcs, dy.m, (int)dy.off, m->ycs, dx.m,
                               (int)dx.off, m->c, m->h * m->w, m->n, accumulate ? 1 : 0);
    return st == CLNAS_OK ? launch2(ctx, k, m, nb) : st;
}

clnas_status clnas_axpby_sl(clnas_ctx *ctx, const clnas_map_shape *m, int nb, float a, clnas_dt x, float b, clnas_dt y)
{
    clnas_map_shape mx = m ? *m : clnas_map_shape_make(0, 0, 0, 0, 0, 0);
    if (a == 0.0f) { /* x is not read: check y twice */
        x = y;
        mx.xcs = mx.ycs;
    }
    clnas_status st = check_map(ctx, m ? &mx : NULL, nb, nb, x, y, "clnas_axpby_sl");
    cl_kernel k;
    if (st == CLNAS_OK) st = clnas_kernel_get(ctx, "slice.cl", "", "axpby_sl", &k);
    if (st == CLNAS_OK)
        st = clnas_kernel_args(ctx, k, "fmiifmiiii", (double)a, x.m, (int)x.off, mx.xcs, (double)b, y.m,
                               (int)y.off, m->ycs, m->c, m->h * m->w);
    return st == CLNAS_OK ? launch2(ctx, k, m, nb) : st;
}
