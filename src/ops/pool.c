/* pool.c - average pooling with count_include_pad = false (NB201's avg_pool_3x3, 3x3 s1 p1,
 * and the 2x2 s2 p0 of the residual reduction cell), and global average pooling: the double
 * host references and the OpenCL forward/backward over S seeds (cl/pool.cl). */
#include <limits.h>
#include <stdio.h>

#include "ops/ops.h"

#define ROW_LWS 16     /* row kernels' work-group size, CPU shape */
#define ROW_GPU_LWS 64 /* the same, GPU shape */
#define POOL_MAXW 64 /* widest row of the private row in avgpool3s2_bwd_rows; must match cl/pool.cl */

/* Which row kernel (cl/pool.cl) serves this shape: 3 (3x3 s1 p1), 2 (2x2 s2 p0) or 0 (the
 * generic kernels). Row kernels need W % 8 == 0 (float8 rows). */
static int row_kind(const clnas_pool_shape *s)
{
    if (s->w % 8) return 0;
    if (s->k == 3 && s->stride == 1 && s->pad == 1) return 3; /* channel slices too */
    if (s->k == 2 && s->stride == 2 && s->pad == 0 && s->xcs == s->c && s->ycs == s->c) return 2;
    return 0;
}

/* Work-group shape for a 3-D (w, h, plane) range: whole rows (w), as many rows of one plane
 * as fit in ~1024 items or the kernel's limit on this device (a divisor of h, so no group
 * straddles planes or idles), and then several planes when a plane is small. PoCL runs a
 * group as one vectorised loop, so few, large groups amortise its per-group cost. A row
 * longer than the limit takes the largest power of two that fits (gws is rounded up to it and
 * the kernels guard their bounds). */
static void plane_lws(size_t w, size_t h, size_t planes, size_t limit, size_t lws[3])
{
    const size_t cap = limit < 1024 ? limit : 1024;
    size_t p2 = 1;
    while (p2 * 2 <= cap && p2 * 2 <= 256) p2 *= 2;
    lws[0] = w <= cap ? w : p2;
    size_t lh = 1;
    for (size_t d = 1; d <= h; d++)
        if (h % d == 0 && lws[0] * d <= cap) lh = d;
    lws[1] = lh;
    size_t lp = 1;
    if (lh == h)
        for (size_t d = 1; d <= planes && d <= 64; d++)
            if (planes % d == 0 && lws[0] * lh * d <= 256 && lws[0] * lh * d <= cap) lp = d;
    lws[2] = lp;
}


void clnas_pool_shape_init(clnas_pool_shape *s, int n, int c, int h, int w, int k, int stride,
                           int pad)
{
    s->n = n;
    s->c = c;
    s->h = h;
    s->w = w;
    s->k = k;
    s->stride = stride;
    s->pad = pad;
    s->xcs = s->ycs = c;
    if (k >= 1 && stride >= 1) {
        s->hout = (h + 2 * pad - k) / stride + 1;
        s->wout = (w + 2 * pad - k) / stride + 1;
        if (h + 2 * pad < k) s->hout = 0; /* C division truncates toward zero: keep it invalid */
        if (w + 2 * pad < k) s->wout = 0;
    } else {
        s->hout = s->wout = 0;
    }
}

/* Window of output (oh, ow) clipped to the input: [hs, he) x [ws, we). */
static void window(const clnas_pool_shape *s, int oh, int ow, int *hs, int *he, int *ws, int *we)
{
    int h0 = oh * s->stride - s->pad, w0 = ow * s->stride - s->pad;
    *hs = h0 < 0 ? 0 : h0;
    *he = h0 + s->k < s->h ? h0 + s->k : s->h;
    *ws = w0 < 0 ? 0 : w0;
    *we = w0 + s->k < s->w ? w0 + s->k : s->w;
}

void clnas_avgpool_fwd_ref(const clnas_pool_shape *s, const double *x, double *y)
{
    const size_t NC = (size_t)s->n * s->c;
    for (size_t p = 0; p < NC; p++) {
        const double *xp = x + p * s->h * s->w;
        for (int oh = 0; oh < s->hout; oh++)
            for (int ow = 0; ow < s->wout; ow++) {
                int hs, he, ws, we;
                window(s, oh, ow, &hs, &he, &ws, &we);
                double acc = 0;
                for (int h = hs; h < he; h++)
                    for (int w = ws; w < we; w++) acc += xp[h * s->w + w];
                y[(p * s->hout + oh) * s->wout + ow] = acc / ((he - hs) * (we - ws));
            }
    }
}

void clnas_avgpool_bwd_ref(const clnas_pool_shape *s, const double *dy, double *dx)
{
    const size_t NC = (size_t)s->n * s->c;
    for (size_t p = 0; p < NC; p++) {
        double *dxp = dx + p * s->h * s->w;
        for (int oh = 0; oh < s->hout; oh++)
            for (int ow = 0; ow < s->wout; ow++) {
                int hs, he, ws, we;
                window(s, oh, ow, &hs, &he, &ws, &we);
                double g = dy[(p * s->hout + oh) * s->wout + ow] / ((he - hs) * (we - ws));
                for (int h = hs; h < he; h++)
                    for (int w = ws; w < we; w++) dxp[h * s->w + w] += g;
            }
    }
}

static clnas_status check_pool(clnas_ctx *ctx, const clnas_pool_shape *s, int S, const char *fn)
{
    if (!s || s->n < 1 || s->c < 1 || s->h < 1 || s->w < 1 || s->k < 1 || s->stride < 1 ||
        s->pad < 0 || 2 * s->pad > s->k || S < 1 || s->xcs < s->c || s->ycs < s->c)
        return clnas_set_error(ctx, CLNAS_E_SHAPE,
                               "%s: bad pool shape n=%d c=%d h=%d w=%d k=%d stride=%d pad=%d S=%d "
                               "storage channels %d/%d (need positive sizes, 0 <= pad <= k/2, "
                               "storage channels >= c)",
                               fn, s ? s->n : 0, s ? s->c : 0, s ? s->h : 0, s ? s->w : 0,
                               s ? s->k : 0, s ? s->stride : 0, s ? s->pad : 0, S, s ? s->xcs : 0,
                               s ? s->ycs : 0);
    clnas_pool_shape d;
    clnas_pool_shape_init(&d, s->n, s->c, s->h, s->w, s->k, s->stride, s->pad);
    if (d.hout < 1 || d.wout < 1 || d.hout != s->hout || d.wout != s->wout)
        return clnas_set_error(ctx, CLNAS_E_SHAPE,
                               "%s: output %dx%d does not match input %dx%d, k=%d stride=%d pad=%d "
                               "(expected %dx%d; call clnas_pool_shape_init)",
                               fn, s->hout, s->wout, s->h, s->w, s->k, s->stride, s->pad, d.hout, d.wout);
    size_t in = (size_t)s->n * s->xcs * s->h * s->w + (size_t)s->n * s->ycs * s->hout * s->wout;
    if (!clnas_fits_int(0, in) || in > (size_t)INT_MAX / (size_t)S)
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "%s: tensor exceeds INT_MAX elements", fn);
    return CLNAS_OK;
}

clnas_status clnas_avgpool_fwd(clnas_ctx *ctx, const clnas_pool_shape *s, clnas_dt x, clnas_dt y)
{
    clnas_status st = check_pool(ctx, s, 1, "clnas_avgpool_fwd");
    if (st != CLNAS_OK) return st;
    const size_t NC = (size_t)s->n * s->c;
    if (!clnas_fits_int(x.off, (size_t)s->n * s->xcs * s->h * s->w) ||
        !clnas_fits_int(y.off, (size_t)s->n * s->ycs * s->hout * s->wout))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_avgpool_fwd: offsets exceed INT_MAX");
    cl_kernel k;
    const int rk = row_kind(s);
    if (rk) {
        size_t rows = NC * (size_t)s->hout, lws;
        st = clnas_kernel_get(ctx, "pool.cl", "", rk == 3 ? "avgpool3_fwd_rows" : "avgpool2_fwd_rows", &k);
        if (st == CLNAS_OK) st = clnas_lws_capped(ctx, k, clnas_cpu_shaped(ctx) ? ROW_LWS : ROW_GPU_LWS, &lws);
        if (st != CLNAS_OK) return st;
        st = rk == 3 ? clnas_kernel_args(ctx, k, "mimiiiiiii", x.m, (int)x.off, y.m, (int)y.off,
                                         (int)rows, s->h, s->w, s->c, s->xcs, s->ycs)
                     : clnas_kernel_args(ctx, k, "mimiiiii", x.m, (int)x.off, y.m, (int)y.off,
                                         (int)rows, s->h, s->w, s->hout);
        if (st != CLNAS_OK) return st;
        return clnas_launch(ctx, k, 1, &rows, &lws);
    }
    char defs[64];
    snprintf(defs, sizeof defs, "-DPOOL_K=%d -DPOOL_S=%d -DPOOL_P=%d", s->k, s->stride, s->pad);
    st = clnas_kernel_get(ctx, "pool.cl", defs, "avgpool_fwd", &k);
    if (st != CLNAS_OK) return st;
    st = clnas_kernel_args(ctx, k, "mimiiiiiiiiiiii", x.m, (int)x.off, y.m, (int)y.off, (int)NC, s->h,
                           s->w, s->k, s->stride, s->pad, s->hout, s->wout, s->c, s->xcs, s->ycs);
    if (st != CLNAS_OK) return st;
    size_t gws[3] = {(size_t)s->wout, (size_t)s->hout, NC}, lws[3], limit;
    if ((st = clnas_kernel_wg_limit(ctx, k, &limit)) != CLNAS_OK) return st;
    plane_lws(gws[0], gws[1], gws[2], limit, lws);
    return clnas_launch(ctx, k, 3, gws, lws);
}

clnas_status clnas_avgpool_bwd(clnas_ctx *ctx, const clnas_pool_shape *s, int S, clnas_dt dy,
                               clnas_dt dx)
{
    return clnas_avgpool_bwd_ex(ctx, s, S, dy, 1.0f, dx, 1);
}

clnas_status clnas_avgpool_bwd_ex(clnas_ctx *ctx, const clnas_pool_shape *s, int S, clnas_dt dy,
                                  float dy_scale, clnas_dt dx, int accumulate)
{
    return clnas_avgpool_bwd_skip(ctx, s, S, dy, dy_scale, 0.0f, dx, accumulate);
}

/* The 3x3 s1 p1 backward on float8 rows: on CPUs one work item per (8-column block, plane)
 * walking the rows (avgpool3_bwd_cols), elsewhere one per row (avgpool3_bwd_rows). */
static clnas_status avgpool3_bwd(clnas_ctx *ctx, const clnas_pool_shape *s, size_t SNC, clnas_dt dy,
                                 float dy_scale, float skip, clnas_dt dx, int accumulate)
{
    const int cols = clnas_cpu_shaped(ctx);
    size_t items = SNC * (size_t)(cols ? s->w / 8 : s->h), lws;
    cl_kernel k;
    clnas_status st = clnas_kernel_get(ctx, "pool.cl", "", cols ? "avgpool3_bwd_cols" : "avgpool3_bwd_rows", &k);
    if (st == CLNAS_OK) st = clnas_lws_capped(ctx, k, cols ? ROW_LWS : ROW_GPU_LWS, &lws);
    if (st == CLNAS_OK)
        st = clnas_kernel_args(ctx, k, "mimiiiiffiiii", dy.m, (int)dy.off, dx.m, (int)dx.off, (int)items, s->h, s->w,
                               (double)dy_scale, (double)skip, accumulate ? 1 : 0, s->c, s->xcs, s->ycs);
    return st == CLNAS_OK ? clnas_launch(ctx, k, 1, &items, &lws) : st;
}

clnas_status clnas_avgpool_bwd_skip(clnas_ctx *ctx, const clnas_pool_shape *s, int S, clnas_dt dy,
                                    float dy_scale, float skip_scale, clnas_dt dx, int accumulate)
{
    clnas_status st = check_pool(ctx, s, S, "clnas_avgpool_bwd");
    if (st != CLNAS_OK) return st;
    const size_t SNC = (size_t)S * s->n * s->c;
    const size_t SN = (size_t)S * s->n;
    if (!clnas_fits_int(dx.off, SN * s->xcs * s->h * s->w) || !clnas_fits_int(dy.off, SN * s->ycs * s->hout * s->wout))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_avgpool_bwd: offsets exceed INT_MAX");
    if (skip_scale != 0.0f && (s->hout != s->h || s->wout != s->w))
        return clnas_set_error(ctx, CLNAS_E_SHAPE,
                               "clnas_avgpool_bwd_skip: a fused identity needs the output size of the input "
                               "(%dx%d), not %dx%d (k=%d stride=%d pad=%d)",
                               s->h, s->w, s->hout, s->wout, s->k, s->stride, s->pad);
    cl_kernel k;
    const int rk = row_kind(s);
    if (rk == 3) return avgpool3_bwd(ctx, s, SNC, dy, dy_scale, skip_scale, dx, accumulate);
    if (rk == 2) {
        size_t rows = SNC * (size_t)s->h, lws;
        st = clnas_kernel_get(ctx, "pool.cl", "", "avgpool2_bwd_rows", &k);
        if (st == CLNAS_OK) st = clnas_lws_capped(ctx, k, clnas_cpu_shaped(ctx) ? ROW_LWS : ROW_GPU_LWS, &lws);
        if (st == CLNAS_OK)
            st = clnas_kernel_args(ctx, k, "mimiiiiifi", dy.m, (int)dy.off, dx.m, (int)dx.off, (int)rows, s->h, s->w,
                                   s->hout, (double)dy_scale, accumulate ? 1 : 0);
        return st == CLNAS_OK ? clnas_launch(ctx, k, 1, &rows, &lws) : st;
    }
    if (s->k == 3 && s->stride == 2 && s->pad == 1 && s->w % 8 == 0 && s->w <= POOL_MAXW) {
        /* DARTS's reduction-cell window: float8 rows (cl/pool.cl, avgpool3s2_bwd_rows) */
        size_t rows = SNC * (size_t)s->h, lws;
        st = clnas_kernel_get(ctx, "pool.cl", "", "avgpool3s2_bwd_rows", &k);
        if (st == CLNAS_OK) st = clnas_lws_capped(ctx, k, clnas_cpu_shaped(ctx) ? ROW_LWS : ROW_GPU_LWS, &lws);
        if (st == CLNAS_OK)
            st = clnas_kernel_args(ctx, k, "mimiiiiiifiiii", dy.m, (int)dy.off, dx.m, (int)dx.off, (int)rows, s->h, s->w,
                                   s->hout, s->wout, (double)dy_scale, accumulate ? 1 : 0, s->c, s->xcs, s->ycs);
        return st == CLNAS_OK ? clnas_launch(ctx, k, 1, &rows, &lws) : st;
    }
    char defs[64];
    snprintf(defs, sizeof defs, "-DPOOL_K=%d -DPOOL_S=%d -DPOOL_P=%d", s->k, s->stride, s->pad);
    st = clnas_kernel_get(ctx, "pool.cl", defs, "avgpool_bwd", &k);
    if (st != CLNAS_OK) return st;
    st = clnas_kernel_args(ctx, k, "mimiiiiiiiiiffiiii", dy.m, (int)dy.off, dx.m, (int)dx.off, (int)SNC,
                           s->h, s->w, s->k, s->stride, s->pad, s->hout, s->wout, (double)dy_scale,
                           (double)skip_scale, accumulate ? 1 : 0, s->c, s->xcs, s->ycs);
    if (st != CLNAS_OK) return st;
    size_t gws[3] = {(size_t)s->w, (size_t)s->h, SNC}, lws[3], limit;
    if ((st = clnas_kernel_wg_limit(ctx, k, &limit)) != CLNAS_OK) return st;
    plane_lws(gws[0], gws[1], gws[2], limit, lws);
    return clnas_launch(ctx, k, 3, gws, lws);
}

/* ---------------- global average pool ---------------- */

void clnas_gap_fwd_ref(int n, int c, int hw, const double *x, double *y)
{
    const size_t NC = (size_t)n * c;
    for (size_t p = 0; p < NC; p++) {
        double acc = 0;
        for (int i = 0; i < hw; i++) acc += x[p * hw + i];
        y[p] = acc / hw;
    }
}

void clnas_gap_bwd_ref(int n, int c, int hw, const double *dy, double *dx)
{
    const size_t NC = (size_t)n * c;
    for (size_t p = 0; p < NC; p++)
        for (int i = 0; i < hw; i++) dx[p * hw + i] += dy[p] / hw;
}

static clnas_status check_gap(clnas_ctx *ctx, int n, int c, int hw, int S, const char *fn)
{
    if (n < 1 || c < 1 || hw < 1 || S < 1)
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "%s: bad shape n=%d c=%d hw=%d S=%d", fn, n, c, hw, S);
    if ((size_t)n * c * hw > (size_t)INT_MAX / (size_t)S)
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "%s: tensor exceeds INT_MAX elements", fn);
    return CLNAS_OK;
}

clnas_status clnas_gap_fwd(clnas_ctx *ctx, int n, int c, int hw, clnas_dt x, clnas_dt y)
{
    clnas_status st = check_gap(ctx, n, c, hw, 1, "clnas_gap_fwd");
    if (st != CLNAS_OK) return st;
    size_t NC = (size_t)n * c;
    if (!clnas_fits_int(x.off, NC * hw) || !clnas_fits_int(y.off, NC))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_gap_fwd: offsets exceed INT_MAX");
    cl_kernel k;
    st = clnas_kernel_get(ctx, "pool.cl", "", "gap_fwd", &k);
    if (st != CLNAS_OK) return st;
    st = clnas_kernel_args(ctx, k, "mimiii", x.m, (int)x.off, y.m, (int)y.off, (int)NC, hw);
    if (st != CLNAS_OK) return st;
    size_t lws;
    if ((st = clnas_lws_capped(ctx, k, 64, &lws)) != CLNAS_OK) return st;
    return clnas_launch(ctx, k, 1, &NC, &lws);
}

clnas_status clnas_gap_bwd(clnas_ctx *ctx, int n, int c, int hw, int S, clnas_dt dy, clnas_dt dx)
{
    clnas_status st = check_gap(ctx, n, c, hw, S, "clnas_gap_bwd");
    if (st != CLNAS_OK) return st;
    size_t SNC = (size_t)S * n * c, total = SNC * hw;
    if (!clnas_fits_int(dx.off, total) || !clnas_fits_int(dy.off, SNC))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_gap_bwd: offsets exceed INT_MAX");
    cl_kernel k;
    st = clnas_kernel_get(ctx, "pool.cl", "", "gap_bwd", &k);
    if (st != CLNAS_OK) return st;
    st = clnas_kernel_args(ctx, k, "mimiii", dy.m, (int)dy.off, dx.m, (int)dx.off, hw, (int)total);
    if (st != CLNAS_OK) return st;
    size_t lws;
    if ((st = clnas_lws_capped(ctx, k, 64, &lws)) != CLNAS_OK) return st;
    return clnas_launch(ctx, k, 1, &total, &lws);
}
