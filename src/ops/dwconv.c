/* dwconv.c - depthwise convolution (PyTorch Conv2d(C, C, k, stride, padding=(k-1)*dil/2,
 * dilation=dil, groups=C, bias=False), the first half of DARTS's sep_conv / dil_conv): the
 * double host reference and the OpenCL forward / backward over S seeds (cl/dwconv.cl).
 * Every kernel is a gather (no atomics, fixed summation order). The generic kernels take one
 * output value per work-item; for stride 1 over rows of whole float8 vectors (DARTS's 32, 16
 * and 8 pixel maps) the backward passes take row kernels that work on float8 vectors, which
 * PoCL turns into SIMD (measured ~5x on the 2-core PoCL device for 14 seeds at 32x32); their
 * CPU-shaped variant is built for the row width (cpu_rows below) and also takes the stride-1
 * forward a row per work-item. */
#include <limits.h>
#include <stdio.h>

#include "ops/ops.h"

#define DW_WG_LWS 64 /* work-group size of dwconv_bwd_weight (power of two, upper bound) */
#define DW_MAXW 64   /* widest row of the row kernels (must match cl/dwconv.cl) */
#define DW_ROW_LWS 16
#define DW_TAP_LWS 4 /* work-group size cap of dwconv_bwd_weight_tap_rows (few, long items) */

/* Stride 1 over rows of whole float8 vectors, stride 2 over rows of two (so the output rows
 * are whole vectors), with exact "same" padding 2P = (K-1)*D (an even window pads one short,
 * which the row kernels' bordered rows do not take): the backward takes the row kernels. */
static int use_rows(const clnas_dwconv_shape *s)
{
    return s->w <= DW_MAXW && 2 * s->pad == (s->k - 1) * s->dil &&
           ((s->stride == 1 && s->w % 8 == 0) || (s->stride == 2 && s->w % 16 == 0));
}

/* The CPU-shaped variant (clnas_cpu_shaped) of the row kernels: built for the row width too
 * (-DDW_W), so their loops over a row's vectors unroll and the sums stay in registers (a
 * tap's shifted row is shuffled from the row's vectors instead of read from a bordered
 * private copy), and the weight gradient takes one work-item per (tap row, channel,
 * seed) that sums all rows itself (dwconv_bwd_weight_tap_rows) instead of 64-item work-groups
 * adding K*K sums in a local tree, which PoCL keeps in memory. The GPU-shaped variant keeps
 * the generic-width row kernels and the work-group reduction. */
static int cpu_rows(clnas_ctx *ctx, const clnas_dwconv_shape *s) { return use_rows(s) && clnas_cpu_shaped(ctx); }

/* The program for this shape's kernel size, stride and dilation (build options), and for the
 * CPU-shaped row kernels its width. */
static clnas_status dw_kernel(clnas_ctx *ctx, const clnas_dwconv_shape *s, const char *name, cl_kernel *k)
{
    char defs[80];
    int n = snprintf(defs, sizeof defs, "-DDW_K=%d -DDW_S=%d -DDW_D=%d", s->k, s->stride, s->dil);
    if (cpu_rows(ctx, s)) snprintf(defs + n, sizeof defs - (size_t)n, " -DDW_W=%d", s->w);
    return clnas_kernel_get(ctx, "dwconv.cl", defs, name, k);
}

static int dw_out(int in, int k, int stride, int dil, int pad)
{
    const long span = (long)dil * (k - 1) + 1;
    if (k < 1 || stride < 1 || dil < 1 || pad < 0 || in + 2L * pad < span) return 0;
    return (int)((in + 2L * pad - span) / stride + 1);
}

void clnas_dwconv_shape_init(clnas_dwconv_shape *s, int n, int c, int h, int w, int k, int stride, int dil)
{
    s->n = n;
    s->c = c;
    s->h = h;
    s->w = w;
    s->k = k;
    s->stride = stride;
    s->dil = dil;
    s->pad = k >= 1 && dil >= 1 ? (k - 1) * dil / 2 : 0;
    s->hout = dw_out(h, k, stride, dil, s->pad);
    s->wout = dw_out(w, k, stride, dil, s->pad);
    s->xcs = s->ycs = c;
}

/* Input row / column of output o's tap t, or -1 when it falls in the padding. */
static int src_pos(const clnas_dwconv_shape *s, int o, int t, int size)
{
    const int i = o * s->stride - s->pad + t * s->dil;
    return i >= 0 && i < size ? i : -1;
}

void clnas_dwconv_fwd_ref(const clnas_dwconv_shape *s, const double *x, const double *w, double *y)
{
    const int K = s->k;
    for (size_t p = 0; p < (size_t)s->n * s->c; p++) {
        const double *xp = x + p * s->h * s->w, *wp = w + (p % (size_t)s->c) * K * K;
        for (int oh = 0; oh < s->hout; oh++)
            for (int ow = 0; ow < s->wout; ow++) {
                double acc = 0;
                for (int kh = 0; kh < K; kh++) {
                    const int ih = src_pos(s, oh, kh, s->h);
                    for (int kw = 0; kw < K && ih >= 0; kw++) {
                        const int iw = src_pos(s, ow, kw, s->w);
                        if (iw >= 0) acc += wp[kh * K + kw] * xp[ih * s->w + iw];
                    }
                }
                y[(p * s->hout + oh) * s->wout + ow] = acc;
            }
    }
}

void clnas_dwconv_bwd_data_ref(const clnas_dwconv_shape *s, const double *w, const double *dy, double *dx)
{
    const int K = s->k;
    for (size_t p = 0; p < (size_t)s->n * s->c; p++) {
        double *dxp = dx + p * s->h * s->w;
        const double *wp = w + (p % (size_t)s->c) * K * K;
        for (int oh = 0; oh < s->hout; oh++)
            for (int ow = 0; ow < s->wout; ow++) {
                const double g = dy[(p * s->hout + oh) * s->wout + ow];
                for (int kh = 0; kh < K; kh++) {
                    const int ih = src_pos(s, oh, kh, s->h);
                    for (int kw = 0; kw < K && ih >= 0; kw++) {
                        const int iw = src_pos(s, ow, kw, s->w);
                        if (iw >= 0) dxp[ih * s->w + iw] += wp[kh * K + kw] * g;
                    }
                }
            }
    }
}

void clnas_dwconv_bwd_weight_ref(const clnas_dwconv_shape *s, const double *x, const double *dy, double *dw)
{
    const int K = s->k;
    for (size_t i = 0; i < (size_t)s->c * K * K; i++) dw[i] = 0;
    for (size_t p = 0; p < (size_t)s->n * s->c; p++) {
        const double *xp = x + p * s->h * s->w;
        double *dwp = dw + (p % (size_t)s->c) * K * K;
        for (int oh = 0; oh < s->hout; oh++)
            for (int ow = 0; ow < s->wout; ow++) {
                const double g = dy[(p * s->hout + oh) * s->wout + ow];
                for (int kh = 0; kh < K; kh++) {
                    const int ih = src_pos(s, oh, kh, s->h);
                    for (int kw = 0; kw < K && ih >= 0; kw++) {
                        const int iw = src_pos(s, ow, kw, s->w);
                        if (iw >= 0) dwp[kh * K + kw] += g * xp[ih * s->w + iw];
                    }
                }
            }
    }
}

/* Shape, storage channels, buffers and the int index range for S seeds. */
static clnas_status check_dw(clnas_ctx *ctx, const clnas_dwconv_shape *s, int S, const char *fn)
{
    if (!s) return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "%s: NULL shape", fn);
    const int pad = s->k >= 1 && s->dil >= 1 ? (s->k - 1) * s->dil / 2 : -1;
    if (s->n < 1 || s->c < 1 || s->h < 1 || s->w < 1 || s->k < 1 || s->k > 11 || s->stride < 1 || s->dil < 1 ||
        s->pad != pad || S < 1 || s->xcs < s->c || s->ycs < s->c || s->hout < 1 || s->wout < 1 ||
        s->hout != dw_out(s->h, s->k, s->stride, s->dil, s->pad) || s->wout != dw_out(s->w, s->k, s->stride, s->dil, s->pad))
        return clnas_set_error(ctx, CLNAS_E_SHAPE,
                               "%s: bad depthwise shape n=%d c=%d h=%d w=%d k=%d stride=%d dil=%d pad=%d -> %dx%d, "
                               "storage channels %d/%d, S=%d (call clnas_dwconv_shape_init; 1 <= k <= 11, storage "
                               "channels >= c, the dilated window must fit the padded input)",
                               fn, s->n, s->c, s->h, s->w, s->k, s->stride, s->dil, s->pad, s->hout, s->wout, s->xcs,
                               s->ycs, S);
    const size_t SN = (size_t)S * s->n;
    if (SN * s->xcs * s->h * s->w > (size_t)INT_MAX || SN * s->ycs * s->hout * s->wout > (size_t)INT_MAX)
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "%s: tensors exceed INT_MAX elements", fn);
    return CLNAS_OK;
}

static size_t xspan(const clnas_dwconv_shape *s, size_t nb) { return nb * s->xcs * s->h * s->w; }
static size_t yspan(const clnas_dwconv_shape *s, size_t nb) { return nb * s->ycs * s->hout * s->wout; }

static clnas_status check_buf(clnas_ctx *ctx, const char *fn, const char *what, clnas_dt t, size_t extent)
{
    if (!t.m) return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "%s: %s buffer is NULL", fn, what);
    if (!clnas_fits_int(t.off, extent))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "%s: %s offset %zu + %zu floats exceeds INT_MAX", fn, what, t.off,
                               extent);
    return CLNAS_OK;
}

clnas_status clnas_dwconv_fwd(clnas_ctx *ctx, const clnas_dwconv_shape *s, clnas_dt x, clnas_dt w, clnas_dt y)
{
    static const char fn[] = "clnas_dwconv_fwd";
    clnas_status st = check_dw(ctx, s, 1, fn);
    if (st == CLNAS_OK) st = check_buf(ctx, fn, "x", x, xspan(s, (size_t)s->n));
    if (st == CLNAS_OK) st = check_buf(ctx, fn, "w", w, (size_t)s->c * s->k * s->k);
    if (st == CLNAS_OK) st = check_buf(ctx, fn, "y", y, yspan(s, (size_t)s->n));
    if (st != CLNAS_OK) return st;
    cl_kernel k;
    const int NC = s->n * s->c;
    if (s->stride == 1 && s->pad <= 8 && cpu_rows(ctx, s)) {
        /* the CPU-shaped row kernel (stride 1, so Hout = H and Wout = W: use_rows) */
        if ((st = dw_kernel(ctx, s, "dwconv_fwd_rows", &k)) != CLNAS_OK) return st;
        st = clnas_kernel_args(ctx, k, "mimimiiiiii", x.m, (int)x.off, w.m, (int)w.off, y.m, (int)y.off, NC * s->h,
                               s->c, s->xcs, s->ycs, s->h);
        size_t g = (size_t)NC * s->h, l = DW_ROW_LWS;
        return st == CLNAS_OK ? clnas_launch(ctx, k, 1, &g, &l) : st;
    }
    if ((st = dw_kernel(ctx, s, "dwconv_fwd", &k)) != CLNAS_OK) return st;
    st = clnas_kernel_args(ctx, k, "mimimiiiiiiiii", x.m, (int)x.off, w.m, (int)w.off, y.m, (int)y.off, NC, s->c,
                           s->xcs, s->ycs, s->h, s->w, s->hout, s->wout);
    if (st != CLNAS_OK) return st;
    size_t gws[3] = {(size_t)s->wout, (size_t)s->hout, (size_t)NC};
    return clnas_launch(ctx, k, 3, gws, NULL);
}

clnas_status clnas_dwconv_bwd_data(clnas_ctx *ctx, const clnas_dwconv_shape *s, int S, clnas_dt w, clnas_dt dy,
                                   clnas_dt dx, int accumulate)
{
    static const char fn[] = "clnas_dwconv_bwd_data";
    clnas_status st = check_dw(ctx, s, S, fn);
    const size_t SN = (size_t)S * (s ? (size_t)s->n : 0);
    if (st == CLNAS_OK) st = check_buf(ctx, fn, "w", w, (size_t)s->c * s->k * s->k);
    if (st == CLNAS_OK) st = check_buf(ctx, fn, "dy", dy, yspan(s, SN));
    if (st == CLNAS_OK) st = check_buf(ctx, fn, "dx", dx, xspan(s, SN));
    if (st != CLNAS_OK) return st;
    cl_kernel k;
    const int rows = use_rows(s);
    if ((st = dw_kernel(ctx, s, rows ? "dwconv_bwd_data_rows" : "dwconv_bwd_data", &k)) != CLNAS_OK) return st;
    const int SNC = (int)SN * s->c;
    if (rows) {
        st = clnas_kernel_args(ctx, k, "mimimiiiiiiiiii", w.m, (int)w.off, dy.m, (int)dy.off, dx.m, (int)dx.off,
                               SNC * s->h, s->c, s->xcs, s->ycs, s->h, s->w, s->hout, s->wout, accumulate ? 1 : 0);
        size_t g = (size_t)SNC * s->h, l = DW_ROW_LWS;
        return st == CLNAS_OK ? clnas_launch(ctx, k, 1, &g, &l) : st;
    }
    st = clnas_kernel_args(ctx, k, "mimimiiiiiiiiii", w.m, (int)w.off, dy.m, (int)dy.off, dx.m, (int)dx.off, SNC,
                           s->c, s->xcs, s->ycs, s->h, s->w, s->hout, s->wout, accumulate ? 1 : 0);
    if (st != CLNAS_OK) return st;
    size_t gws[3] = {(size_t)s->w, (size_t)s->h, (size_t)SNC};
    return clnas_launch(ctx, k, 3, gws, NULL);
}

clnas_status clnas_dwconv_bwd_weight(clnas_ctx *ctx, const clnas_dwconv_shape *s, int S, clnas_dt x, clnas_dt dy,
                                     clnas_dt dw, size_t g_ld)
{
    static const char fn[] = "clnas_dwconv_bwd_weight";
    clnas_status st = check_dw(ctx, s, S, fn);
    if (st != CLNAS_OK) return st;
    const size_t W = (size_t)s->c * s->k * s->k;
    if (g_ld < W || g_ld > (size_t)INT_MAX || (size_t)(S - 1) > (size_t)INT_MAX / g_ld)
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "%s: gradient row stride %zu (need %zu <= g_ld, S*g_ld < INT_MAX)",
                               fn, g_ld, W);
    if (st == CLNAS_OK) st = check_buf(ctx, fn, "x", x, xspan(s, (size_t)s->n));
    if (st == CLNAS_OK) st = check_buf(ctx, fn, "dy", dy, yspan(s, (size_t)S * s->n));
    if (st == CLNAS_OK) st = check_buf(ctx, fn, "dw", dw, (size_t)(S - 1) * g_ld + W);
    cl_kernel k;
    if (st == CLNAS_OK && cpu_rows(ctx, s)) {
        const int items = S * s->c * s->k;
        if ((st = dw_kernel(ctx, s, "dwconv_bwd_weight_tap_rows", &k)) != CLNAS_OK) return st;
        st = clnas_kernel_args(ctx, k, "mimimiiiiiiiii", x.m, (int)x.off, dy.m, (int)dy.off, dw.m, (int)dw.off,
                               (int)g_ld, s->n, s->c, s->xcs, s->ycs, s->h, s->hout, items);
        size_t g = (size_t)items, l;
        if (st == CLNAS_OK) st = clnas_lws_capped(ctx, k, DW_TAP_LWS, &l);
        return st == CLNAS_OK ? clnas_launch(ctx, k, 1, &g, &l) : st;
    }
    const int rows = use_rows(s);
    if (st == CLNAS_OK) st = dw_kernel(ctx, s, rows ? "dwconv_bwd_weight_rows" : "dwconv_bwd_weight", &k);
    if (st != CLNAS_OK) return st;
    /* the largest power of two <= DW_WG_LWS the device allows for this kernel and its local memory */
    size_t kwg = 0, L = 1;
    CL_CHECK(ctx, clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kwg, &kwg, NULL));
    if (ctx->info.max_work_group && ctx->info.max_work_group < kwg) kwg = ctx->info.max_work_group;
    const size_t kk = (size_t)s->k * s->k;
    while (L * 2 <= DW_WG_LWS && L * 2 <= kwg &&
           (!ctx->info.local_mem_bytes || L * 2 * kk * sizeof(float) <= ctx->info.local_mem_bytes))
        L *= 2;
    /* the row and generic kernels take the same arguments */
    st = clnas_kernel_args(ctx, k, "mimimiiiiiiiiiil", x.m, (int)x.off, dy.m, (int)dy.off, dw.m, (int)dw.off,
                           (int)g_ld, s->n, s->c, s->xcs, s->ycs, s->h, s->w, s->hout, s->wout, L * kk * sizeof(float));
    if (st != CLNAS_OK) return st;
    size_t gws[3] = {L, (size_t)s->c, (size_t)S}, lws[3] = {L, 1, 1};
    return clnas_launch(ctx, k, 3, gws, lws);
}
