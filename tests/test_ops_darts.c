/* test_ops_darts.c - the DARTS kinds (depthwise convolution, max pooling, FactorizedReduce's
 * shift, channel concatenation by aliasing) and the ops that read / write concatenation
 * slices (ReLU, a*x + b*y, average pooling, convolution output):
 *   1. OpenCL forward / backward against the double host reference on awkward shapes (odd
 *      H/W, C not a multiple of 4, batch 1 and 3, stride 2 on odd sizes, dilation 2), with S
 *      = 1 and 3 seeds, accumulate on and off, and operands that are channel slices of a
 *      wider storage whose other channels must stay untouched;
 *   2. central finite differences of every backward reference, in double;
 *   3. PyTorch's max-pool tie rule on hand-made windows;
 *   4. a tiny network using every new kind (slices written by sum, conv, dwconv, maxpool and
 *      read by relu, sum, avgpool, maxpool, dwconv, shift): executor vs host reference,
 *      forward and all gradients, fused and unfused schedules; its reference backward vs
 *      finite differences; graph misuse rejected. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clnas/score.h"
#include "model/graph.h"
#include "util/testutil.h"

#define TOL 1e-5       /* device vs reference, relative to the output's scale */
#define FD_TOL 1e-6    /* finite differences vs analytic reference backward */
#define SENTINEL 777.0 /* fills storage channels and gradient rows nothing may write */

#define OKC(ctx, call) cr_assert_eq((call), CLNAS_OK, "%s: %s", #call, clnas_ctx_errmsg(ctx))

/* A storage of nb samples x cs channels x hw, SENTINEL everywhere except channels
 * [c0, c0 + c) of every sample, which hold src ([nb][c][hw]; NULL: SENTINEL too). */
static double *embed(const double *src, size_t nb, int c, size_t hw, int cs, int c0)
{
    double *st = tu_dalloc(nb * cs * hw);
    for (size_t i = 0; i < nb * cs * hw; i++) st[i] = SENTINEL;
    if (src)
        for (size_t b = 0; b < nb; b++)
            memcpy(st + (b * cs + (size_t)c0) * hw, src + b * c * hw, (size_t)c * hw * sizeof(double));
    return st;
}

/* The slice back out of a storage; fails when anything outside it is not SENTINEL. */
static double *extract(const double *st, size_t nb, int c, size_t hw, int cs, int c0, const char *what)
{
    double *out = tu_dalloc(nb * c * hw);
    size_t bad = 0;
    for (size_t b = 0; b < nb; b++)
        for (int ch = 0; ch < cs; ch++) {
            const double *p = st + (b * cs + ch) * hw;
            if (ch >= c0 && ch < c0 + c) memcpy(out + (b * c + (size_t)(ch - c0)) * hw, p, hw * sizeof(double));
            else
                for (size_t e = 0; e < hw; e++) bad += p[e] != SENTINEL;
        }
    cr_expect_eq(bad, 0, "%s: %zu values outside the channel slice were written", what, bad);
    return out;
}

/* A device copy of a slice storage; the tensor starts at float offset c0*hw of the buffer. */
typedef struct dslice {
    cl_mem m;
    size_t nb, hw;
    int c, cs, c0;
} dslice;

static dslice dslice_put(clnas_ctx *ctx, const double *src, size_t nb, int c, size_t hw, int cs, int c0)
{
    dslice d = {NULL, nb, hw, c, cs, c0};
    double *st = embed(src, nb, c, hw, cs, c0);
    d.m = tu_upload(ctx, st, nb * cs * hw);
    free(st);
    return d;
}
static clnas_dt dslice_dt(const dslice *d) { return tu_dt(d->m, (size_t)d->c0 * d->hw); }
/* Reads the slice back (checking the rest of the storage) and frees the buffer. */
static double *dslice_take(clnas_ctx *ctx, dslice *d, const char *what)
{
    const size_t n = d->nb * d->cs * d->hw;
    double *st = tu_dalloc(n);
    tu_read(ctx, d->m, 0, n, st);
    clnas_buf_free(d->m);
    d->m = NULL;
    double *out = extract(st, d->nb, d->c, d->hw, d->cs, d->c0, what);
    free(st);
    return out;
}
static void dslice_free(dslice *d)
{
    clnas_buf_free(d->m);
    d->m = NULL;
}

static void check(const char *what, const double *got, const double *ref, size_t n, double tol)
{
    double e = tu_rel_err(got, ref, n);
    fprintf(stderr, "  %-52s rel err %.3g\n", what, e);
    tu_expect_close(what, got, ref, n, tol);
}

/* Storage layouts the kernel tests cycle through: (extra channels, first channel) of x and y. */
static const int LAYOUT[3][4] = {{0, 0, 0, 0}, {2, 1, 3, 2}, {1, 0, 0, 0}};

/* ======================= depthwise convolution ======================= */

typedef struct { int n, c, h, w, k, stride, dil; } dw_case;
static const dw_case DW_CASES[] = {
    {1, 3, 7, 9, 3, 1, 1},  {3, 5, 8, 7, 5, 2, 1}, {3, 17, 9, 11, 3, 1, 2}, {1, 6, 7, 7, 5, 1, 2},
    {3, 4, 5, 5, 3, 2, 2},  {2, 1, 1, 1, 3, 1, 1}, {1, 2, 3, 3, 5, 2, 2},   {3, 7, 13, 6, 3, 2, 1},
    /* stride 1 over rows of whole float8 vectors: the row kernels (H below the window too) */
    {3, 5, 6, 8, 3, 1, 1},  {2, 3, 4, 16, 5, 1, 2}, {1, 2, 9, 8, 5, 1, 1},  {3, 17, 3, 8, 3, 1, 2},
    {1, 1, 2, 64, 5, 1, 1}, {3, 2, 5, 24, 3, 1, 1},
    /* stride 2 over rows of whole 16-float pairs: the row kernels too (odd H included) */
    {3, 3, 7, 16, 3, 2, 1}, {2, 2, 8, 32, 5, 2, 2}, {1, 5, 5, 16, 5, 2, 1}, {3, 2, 4, 16, 3, 2, 2},
    {1, 3, 3, 64, 5, 2, 1},
    /* an even window pads one short: not the row kernels */
    {2, 3, 5, 8, 4, 1, 1},  {1, 2, 4, 16, 4, 2, 1},
};

static void dw_one(clnas_ctx *ctx, const dw_case *t, int S, int layout, int accumulate)
{
    clnas_dwconv_shape s;
    clnas_dwconv_shape_init(&s, t->n, t->c, t->h, t->w, t->k, t->stride, t->dil);
    cr_assert(s.hout >= 1 && s.wout >= 1);
    s.xcs = t->c + LAYOUT[layout][0];
    s.ycs = t->c + LAYOUT[layout][2];
    const int xc0 = LAYOUT[layout][1], yc0 = LAYOUT[layout][3];
    const size_t hw = (size_t)t->h * t->w, ohw = (size_t)s.hout * s.wout, N = (size_t)t->n;
    const size_t nx = N * t->c * hw, ny = N * t->c * ohw, nw = (size_t)t->c * t->k * t->k, g_ld = nw + 5;
    double *x = tu_dalloc(nx), *w = tu_dalloc(nw), *y = tu_dalloc(ny), *dy = tu_dalloc(S * ny), *dx0 = tu_dalloc(S * nx);
    double *dxr = tu_dalloc(S * nx), *dwr = tu_dalloc(S * g_ld), *tmp = tu_dalloc(nx);
    tu_fill_rounded(x, nx, 1, -1, 1);
    tu_fill_rounded(w, nw, 2, -1, 1);
    tu_fill_rounded(dy, S * ny, 3, -1, 1);
    tu_fill_rounded(dx0, S * nx, 4, -1, 1);
    clnas_dwconv_fwd_ref(&s, x, w, y);
    for (int sd = 0; sd < S; sd++) {
        for (size_t i = 0; i < nx; i++) dxr[sd * nx + i] = accumulate ? dx0[sd * nx + i] : 0.0;
        clnas_dwconv_bwd_data_ref(&s, w, dy + sd * ny, dxr + sd * nx);
        for (size_t i = 0; i < g_ld; i++) dwr[sd * g_ld + i] = SENTINEL;
        clnas_dwconv_bwd_weight_ref(&s, x, dy + sd * ny, dwr + sd * g_ld + 2);
    }
    dslice dX = dslice_put(ctx, x, N, t->c, hw, s.xcs, xc0), dY = dslice_put(ctx, NULL, N, t->c, ohw, s.ycs, yc0);
    dslice dDY = dslice_put(ctx, dy, S * N, t->c, ohw, s.ycs, yc0);
    dslice dDX = dslice_put(ctx, accumulate ? dx0 : NULL, S * N, t->c, hw, s.xcs, xc0);
    cl_mem dW = tu_upload(ctx, w, nw), dG = NULL;
    double *gsent = tu_dalloc(S * g_ld);
    for (size_t i = 0; i < S * g_ld; i++) gsent[i] = SENTINEL;
    dG = tu_upload(ctx, gsent, S * g_ld);
    OKC(ctx, clnas_dwconv_fwd(ctx, &s, dslice_dt(&dX), tu_dt(dW, 0), dslice_dt(&dY)));
    OKC(ctx, clnas_dwconv_bwd_data(ctx, &s, S, tu_dt(dW, 0), dslice_dt(&dDY), dslice_dt(&dDX), accumulate));
    OKC(ctx, clnas_dwconv_bwd_weight(ctx, &s, S, dslice_dt(&dX), dslice_dt(&dDY), tu_dt(dG, 2), g_ld));
    char what[160];
    snprintf(what, sizeof what, "dwconv n%d c%d %dx%d k%d s%d d%d S%d L%d acc%d", t->n, t->c, t->h, t->w, t->k,
             t->stride, t->dil, S, layout, accumulate);
    double *gy = dslice_take(ctx, &dY, what), *gdx = dslice_take(ctx, &dDX, what);
    check(what, gy, y, ny, TOL);
    check("  dx", gdx, dxr, S * nx, TOL);
    tu_read(ctx, dG, 0, S * g_ld, gsent);
    size_t bad = 0;
    for (int sd = 0; sd < S; sd++) { /* the slots, then the row padding untouched */
        check("  dw", gsent + sd * g_ld + 2, dwr + sd * g_ld + 2, nw, TOL);
        for (size_t i = 0; i < g_ld; i++) bad += (i < 2 || i >= nw + 2) && gsent[sd * g_ld + i] != SENTINEL;
    }
    cr_expect_eq(bad, 0, "%s: %zu floats of the gradient rows' padding written", what, bad);
    dslice_free(&dX);
    dslice_free(&dDY);
    clnas_buf_free(dW);
    clnas_buf_free(dG);
    free(x); free(w); free(y); free(dy); free(dx0); free(dxr); free(dwr); free(tmp); free(gy); free(gdx); free(gsent);
}

Test(darts_ops, dwconv_device_matches_reference)
{
    clnas_ctx *ctx = tu_ctx();
    for (size_t i = 0; i < sizeof DW_CASES / sizeof DW_CASES[0]; i++)
        dw_one(ctx, &DW_CASES[i], i % 2 ? 3 : 1, (int)(i % 3), (int)(i % 2));
    dw_one(ctx, &DW_CASES[2], 3, 1, 0);
    dw_one(ctx, &DW_CASES[1], 1, 0, 1);
    /* DARTS's sizes (batch 14, 32x32 with C = 1; 16x16 with C = 2): the weight gradient sums
     * 14*32*32 products per weight, which the CPU-shaped kernel adds in one work-item */
    const dw_case darts[] = {{14, 1, 32, 32, 5, 1, 1}, {14, 2, 16, 16, 5, 1, 2}, {14, 2, 32, 32, 3, 2, 1}};
    for (int i = 0; i < 3; i++) dw_one(ctx, &darts[i], 3 - i, i, i % 2);
}

/* f(in) for finite differences: in = [x | w] of a dwconv, out = y */
typedef struct { clnas_dwconv_shape s; size_t nx; } dw_ud;
static void dw_fn(void *ud, const double *in, double *out)
{
    dw_ud *u = ud;
    clnas_dwconv_fwd_ref(&u->s, in, in + u->nx, out);
}

Test(darts_ops, dwconv_reference_backward_matches_finite_differences)
{
    for (size_t i = 0; i < sizeof DW_CASES / sizeof DW_CASES[0]; i++) {
        const dw_case *t = &DW_CASES[i];
        dw_ud u;
        clnas_dwconv_shape_init(&u.s, t->n, t->c, t->h, t->w, t->k, t->stride, t->dil);
        const size_t nx = (size_t)t->n * t->c * t->h * t->w, nw = (size_t)t->c * t->k * t->k;
        const size_t ny = (size_t)t->n * t->c * u.s.hout * u.s.wout;
        u.nx = nx;
        double *in = tu_dalloc(nx + nw), *wt = tu_dalloc(ny), *g = tu_dalloc(nx + nw);
        tu_fill(in, nx + nw, 10 + i, -1, 1);
        tu_fill(wt, ny, 20 + i, -1, 1);
        clnas_dwconv_bwd_data_ref(&u.s, in + nx, wt, g);
        clnas_dwconv_bwd_weight_ref(&u.s, in, wt, g + nx);
        double e = tu_gradcheck(dw_fn, &u, in, nx + nw, ny, wt, g, 1e-6, 300);
        cr_expect(e < FD_TOL, "dwconv case %zu: reference backward vs finite differences %g", i, e);
        free(in); free(wt); free(g);
    }
}

/* ======================= max pooling ======================= */

typedef struct { int n, c, h, w, k, stride, pad; } pool_case;
static const pool_case MP_CASES[] = {
    {1, 3, 7, 9, 3, 1, 1}, {3, 5, 8, 7, 3, 2, 1}, {3, 17, 9, 11, 3, 2, 1}, {2, 4, 1, 1, 3, 1, 1},
    {3, 2, 6, 5, 2, 2, 0}, {1, 6, 5, 5, 3, 2, 1}, {2, 3, 4, 7, 3, 1, 0},
    /* rows wider than the backward's row kernel take the per-pixel gather */
    {1, 2, 3, 70, 3, 2, 1}, {2, 1, 4, 67, 3, 1, 1},
    /* 3x3 stride 1 pad 1 over rows of whole float8 vectors: the CPU-shaped vector kernels */
    {3, 2, 5, 8, 3, 1, 1}, {2, 3, 4, 16, 3, 1, 1}, {1, 2, 3, 64, 3, 1, 1}, {2, 1, 1, 24, 3, 1, 1},
};

/* ties: values on a coarse grid, so windows often hold several equal maxima */
static void mp_one(clnas_ctx *ctx, const pool_case *t, int S, int layout, int accumulate, int ties)
{
    clnas_pool_shape s;
    clnas_pool_shape_init(&s, t->n, t->c, t->h, t->w, t->k, t->stride, t->pad);
    s.xcs = t->c + LAYOUT[layout][0];
    s.ycs = t->c + LAYOUT[layout][2];
    const int xc0 = LAYOUT[layout][1], yc0 = LAYOUT[layout][3];
    const size_t hw = (size_t)t->h * t->w, ohw = (size_t)s.hout * s.wout, N = (size_t)t->n;
    const size_t nx = N * t->c * hw, ny = N * t->c * ohw;
    double *x = tu_dalloc(nx), *y = tu_dalloc(ny), *dy = tu_dalloc(S * ny), *dx0 = tu_dalloc(S * nx), *dxr = tu_dalloc(S * nx);
    tu_fill_rounded(x, nx, 31, -1, 1);
    if (ties)
        for (size_t i = 0; i < nx; i++) x[i] = floor(x[i] * 2.0); /* -2 .. 1 */
    tu_fill_rounded(dy, S * ny, 32, -1, 1);
    tu_fill_rounded(dx0, S * nx, 33, -1, 1);
    clnas_maxpool_fwd_ref(&s, x, y);
    for (int sd = 0; sd < S; sd++) {
        for (size_t i = 0; i < nx; i++) dxr[sd * nx + i] = accumulate ? dx0[sd * nx + i] : 0.0;
        clnas_maxpool_bwd_ref(&s, x, dy + sd * ny, dxr + sd * nx);
    }
    dslice dX = dslice_put(ctx, x, N, t->c, hw, s.xcs, xc0), dY = dslice_put(ctx, NULL, N, t->c, ohw, s.ycs, yc0);
    dslice dDY = dslice_put(ctx, dy, S * N, t->c, ohw, s.ycs, yc0);
    dslice dDX = dslice_put(ctx, accumulate ? dx0 : NULL, S * N, t->c, hw, s.xcs, xc0);
    OKC(ctx, clnas_maxpool_fwd(ctx, &s, dslice_dt(&dX), dslice_dt(&dY)));
    double *wsz = tu_dalloc(clnas_maxpool_workspace_floats(&s) + 3);
    cl_mem WS = tu_upload(ctx, wsz, clnas_maxpool_workspace_floats(&s) + 3);
    OKC(ctx, clnas_maxpool_bwd(ctx, &s, S, dslice_dt(&dX), dslice_dt(&dDY), dslice_dt(&dDX), accumulate, tu_dt(WS, 3)));
    clnas_buf_free(WS);
    free(wsz);
    char what[160];
    snprintf(what, sizeof what, "maxpool n%d c%d %dx%d k%d s%d p%d S%d L%d acc%d ties%d", t->n, t->c, t->h, t->w,
             t->k, t->stride, t->pad, S, layout, accumulate, ties);
    double *gy = dslice_take(ctx, &dY, what), *gdx = dslice_take(ctx, &dDX, what);
    check(what, gy, y, ny, 0.0); /* a max is exact */
    check("  dx", gdx, dxr, S * nx, TOL);
    dslice_free(&dX);
    dslice_free(&dDY);
    free(x); free(y); free(dy); free(dx0); free(dxr); free(gy); free(gdx);
}

Test(darts_ops, maxpool_device_matches_reference)
{
    clnas_ctx *ctx = tu_ctx();
    for (size_t i = 0; i < sizeof MP_CASES / sizeof MP_CASES[0]; i++) {
        mp_one(ctx, &MP_CASES[i], i % 2 ? 3 : 1, (int)(i % 3), (int)(i % 2), 0);
        mp_one(ctx, &MP_CASES[i], i % 2 ? 1 : 3, (int)((i + 1) % 3), (int)((i + 1) % 2), 1);
    }
    const pool_case darts = {14, 1, 32, 32, 3, 1, 1}; /* DARTS's normal-cell max pool at batch 14 */
    mp_one(ctx, &darts, 3, 1, 1, 0);
    mp_one(ctx, &darts, 2, 2, 0, 1);
}

/* PyTorch's rule on hand-made windows: the first maximum in row-major order takes the
 * gradient; a NaN takes over (the last NaN of the window wins); padding never wins */
Test(darts_ops, maxpool_ties_go_to_the_first_maximum)
{
    clnas_ctx *ctx = tu_ctx();
    clnas_pool_shape s;
    clnas_pool_shape_init(&s, 1, 1, 3, 3, 3, 2, 1); /* 2x2 outputs of overlapping 3x3 windows */
    const double x[9] = {5, 1, 5, /**/ 0, 5, 2, /**/ -1, -1, -7};
    double y[4], dy[4] = {1, 10, 100, 1000}, dx[9] = {0};
    clnas_maxpool_fwd_ref(&s, x, y);
    clnas_maxpool_bwd_ref(&s, x, dy, dx);
    /* windows: (0,0) covers rows 0-1 cols 0-1 -> first 5 at (0,0); (0,1) rows 0-1 cols 1-2 ->
       first 5 at (0,2); (1,0) rows 1-2 cols 0-1 -> 5 at (1,1); (1,1) rows 1-2 cols 1-2 -> (1,1) */
    const double want[9] = {1, 0, 10, 0, 1100, 0, 0, 0, 0};
    for (int i = 0; i < 9; i++) cr_expect_eq(dx[i], want[i], "reference dx[%d] = %g, want %g", i, dx[i], want[i]);
    cl_mem X = tu_upload(ctx, x, 9), DY = tu_upload(ctx, dy, 4), DX = tu_upload(ctx, dx, 9), WS = tu_upload(ctx, dy, 4);
    OKC(ctx, clnas_maxpool_bwd(ctx, &s, 1, tu_dt(X, 0), tu_dt(DY, 0), tu_dt(DX, 0), 0, tu_dt(WS, 0)));
    double got[9];
    tu_read(ctx, DX, 0, 9, got);
    for (int i = 0; i < 9; i++) cr_expect_eq(got[i], want[i], "device dx[%d] = %g, want %g", i, got[i], want[i]);
    /* NaN: the later NaN of window (0,0) wins there, and y is NaN */
    const double xn[9] = {NAN, 1, 0, 0, NAN, 0, 0, 0, 0};
    double yn[4], dxn[9] = {0};
    clnas_maxpool_fwd_ref(&s, xn, yn);
    clnas_maxpool_bwd_ref(&s, xn, dy, dxn);
    cr_expect(isnan(yn[0]), "max of a window with a NaN is NaN");
    cr_expect(dxn[0] == 0 && dxn[4] == 1111, "gradient to the last NaN: dx[0] %g dx[4] %g", dxn[0], dxn[4]);
    tu_write(ctx, X, 0, xn, 9);
    OKC(ctx, clnas_maxpool_bwd(ctx, &s, 1, tu_dt(X, 0), tu_dt(DY, 0), tu_dt(DX, 0), 0, tu_dt(WS, 0)));
    tu_read(ctx, DX, 0, 9, got);
    cr_expect(got[0] == 0 && got[4] == 1111, "device: gradient to the last NaN: dx[0] %g dx[4] %g", got[0], got[4]);
    clnas_buf_free(X);
    clnas_buf_free(DY);
    clnas_buf_free(DX);
    clnas_buf_free(WS);
    /* the same rules through the stride-1 kernels over whole float8 rows (3x16, pad 1): ties on
       a coarse grid, NaNs inside the row, at its ends and two in one window, -inf */
    clnas_pool_shape_init(&s, 1, 1, 3, 16, 3, 1, 1);
    double x1[48], dy1[48], ref[48] = {0}, dev[48];
    for (int i = 0; i < 48; i++) {
        x1[i] = (double)((i * 7) % 5);
        dy1[i] = (double)(1 << (i % 20));
    }
    x1[0] = x1[20] = x1[22] = x1[47] = NAN;
    x1[9] = -INFINITY;
    clnas_maxpool_bwd_ref(&s, x1, dy1, ref);
    X = tu_upload(ctx, x1, 48), DY = tu_upload(ctx, dy1, 48), DX = tu_upload(ctx, ref, 48), WS = tu_upload(ctx, dy1, 48);
    OKC(ctx, clnas_maxpool_bwd(ctx, &s, 1, tu_dt(X, 0), tu_dt(DY, 0), tu_dt(DX, 0), 0, tu_dt(WS, 0)));
    tu_read(ctx, DX, 0, 48, dev);
    for (int i = 0; i < 48; i++) cr_expect_eq(dev[i], ref[i], "3x16: device dx[%d] = %g, want %g", i, dev[i], ref[i]);
    clnas_buf_free(X);
    clnas_buf_free(DY);
    clnas_buf_free(DX);
    clnas_buf_free(WS);
}

typedef struct { clnas_pool_shape s; } mp_ud;
static void mp_fn(void *ud, const double *in, double *out) { clnas_maxpool_fwd_ref(&((mp_ud *)ud)->s, in, out); }

Test(darts_ops, maxpool_reference_backward_matches_finite_differences)
{
    for (size_t i = 0; i < sizeof MP_CASES / sizeof MP_CASES[0]; i++) {
        const pool_case *t = &MP_CASES[i];
        mp_ud u;
        clnas_pool_shape_init(&u.s, t->n, t->c, t->h, t->w, t->k, t->stride, t->pad);
        const size_t nx = (size_t)t->n * t->c * t->h * t->w, ny = (size_t)t->n * t->c * u.s.hout * u.s.wout;
        double *x = tu_dalloc(nx), *wt = tu_dalloc(ny), *g = tu_dalloc(nx);
        /* distinct values at least 1e-3 apart (a random permutation of a grid): no window has
           two maxima within the step, so the max is differentiable everywhere we probe */
        for (size_t j = 0; j < nx; j++) x[j] = (double)((j * 7919) % nx) * 1e-3 - 0.3;
        tu_fill(wt, ny, 40 + i, -1, 1);
        clnas_maxpool_bwd_ref(&u.s, x, wt, g);
        double e = tu_gradcheck(mp_fn, &u, x, nx, ny, wt, g, 1e-6, 300);
        cr_expect(e < FD_TOL, "maxpool case %zu: reference backward vs finite differences %g", i, e);
        free(x); free(wt); free(g);
    }
}

/* The frozen max pool (grasp, clnas_plan_freeze): y = x at the winners of a reference input xr.
 * xr random; x = xr moved by up to +-0.4, so many windows' maximum moves elsewhere. Checks: the
 * device against the reference (exact: a gather); at x = xr the plain forward; where x's own winner
 * differs from xr's the output keeps xr's tap (y = x there, not the new maximum); the backward
 * given xr (the frozen forward's gradient) against the reference. */
static void mp_frozen_one(clnas_ctx *ctx, const pool_case *t, int S, int layout, int accumulate, int ties)
{
    clnas_pool_shape s;
    clnas_pool_shape_init(&s, t->n, t->c, t->h, t->w, t->k, t->stride, t->pad);
    s.xcs = t->c + LAYOUT[layout][0];
    s.ycs = t->c + LAYOUT[layout][2];
    const int xc0 = LAYOUT[layout][1], yc0 = LAYOUT[layout][3];
    const size_t hw = (size_t)t->h * t->w, ohw = (size_t)s.hout * s.wout, N = (size_t)t->n;
    const size_t nx = N * t->c * hw, ny = N * t->c * ohw;
    double *xr = tu_dalloc(nx), *x = tu_dalloc(nx), *y = tu_dalloc(ny), *y0 = tu_dalloc(ny), *ymax = tu_dalloc(ny);
    double *dy = tu_dalloc(S * ny), *dx0 = tu_dalloc(S * nx), *dxr = tu_dalloc(S * nx);
    int *ir = malloc(ny * sizeof *ir), *ix = malloc(ny * sizeof *ix);
    tu_fill_rounded(xr, nx, 71, -1, 1);
    if (ties)
        for (size_t i = 0; i < nx; i++) xr[i] = floor(xr[i] * 2.0); /* -2 .. 1 */
    tu_fill_rounded(x, nx, 72, -0.4, 0.4);
    for (size_t i = 0; i < nx; i++) x[i] = (double)(float)(x[i] + xr[i]); /* what the device holds */
    tu_fill_rounded(dy, S * ny, 73, -1, 1);
    tu_fill_rounded(dx0, S * nx, 74, -1, 1);
    clnas_maxpool_fwd_frozen_ref(&s, xr, x, y);
    clnas_maxpool_fwd_ref(&s, xr, y0);
    clnas_maxpool_fwd_ref(&s, x, ymax);
    clnas_maxpool_argmax_ref(&s, xr, ir);
    clnas_maxpool_argmax_ref(&s, x, ix);
    size_t moved = 0;
    for (size_t q = 0; q < ny; q++) {
        const size_t plane = q / ohw * hw;
        cr_assert(ir[q] >= 0 && (size_t)ir[q] < hw, "window %zu has no winner", q);
        cr_expect_eq(y[q], x[plane + (size_t)ir[q]], "reference: window %zu does not take x at xr's winner", q);
        if (ix[q] != ir[q] && x[plane + (size_t)ix[q]] > x[plane + (size_t)ir[q]]) {
            moved++;
            cr_expect_lt(y[q], ymax[q], "window %zu: the frozen pool took the new maximum", q);
        }
    }
    for (int sd = 0; sd < S; sd++) {
        for (size_t i = 0; i < nx; i++) dxr[sd * nx + i] = accumulate ? dx0[sd * nx + i] : 0.0;
        clnas_maxpool_bwd_ref(&s, xr, dy + sd * ny, dxr + sd * nx);
    }
    dslice dXR = dslice_put(ctx, xr, N, t->c, hw, s.xcs, xc0), dX = dslice_put(ctx, x, N, t->c, hw, s.xcs, xc0);
    dslice dY = dslice_put(ctx, NULL, N, t->c, ohw, s.ycs, yc0), dY0 = dslice_put(ctx, NULL, N, t->c, ohw, s.ycs, yc0);
    dslice dDY = dslice_put(ctx, dy, S * N, t->c, ohw, s.ycs, yc0);
    dslice dDX = dslice_put(ctx, accumulate ? dx0 : NULL, S * N, t->c, hw, s.xcs, xc0);
    OKC(ctx, clnas_maxpool_fwd_frozen(ctx, &s, dslice_dt(&dXR), dslice_dt(&dX), dslice_dt(&dY)));
    OKC(ctx, clnas_maxpool_fwd_frozen(ctx, &s, dslice_dt(&dXR), dslice_dt(&dXR), dslice_dt(&dY0)));
    double *wsz = tu_dalloc(clnas_maxpool_workspace_floats(&s) + 5);
    cl_mem WS = tu_upload(ctx, wsz, clnas_maxpool_workspace_floats(&s) + 5);
    OKC(ctx, clnas_maxpool_bwd(ctx, &s, S, dslice_dt(&dXR), dslice_dt(&dDY), dslice_dt(&dDX), accumulate, tu_dt(WS, 5)));
    clnas_buf_free(WS);
    free(wsz);
    char what[160];
    snprintf(what, sizeof what, "frozen maxpool n%d c%d %dx%d k%d s%d p%d S%d L%d acc%d ties%d (%zu of %zu moved)",
             t->n, t->c, t->h, t->w, t->k, t->stride, t->pad, S, layout, accumulate, ties, moved, ny);
    double *gy = dslice_take(ctx, &dY, what), *gy0 = dslice_take(ctx, &dY0, what), *gdx = dslice_take(ctx, &dDX, what);
    check(what, gy, y, ny, 0.0);
    check("  at the reference input = plain forward", gy0, y0, ny, 0.0);
    check("  dx given the reference input", gdx, dxr, S * nx, TOL);
    if (ny >= 20) cr_expect_gt(moved, 0, "%s: no window's maximum moved, the test tests nothing", what);
    dslice_free(&dXR);
    dslice_free(&dX);
    dslice_free(&dDY);
    free(xr); free(x); free(y); free(y0); free(ymax); free(dy); free(dx0); free(dxr); free(ir); free(ix);
    free(gy); free(gy0); free(gdx);
}

Test(darts_ops, frozen_maxpool_device_matches_reference)
{
    clnas_ctx *ctx = tu_ctx();
    for (size_t i = 0; i < sizeof MP_CASES / sizeof MP_CASES[0]; i++) {
        mp_frozen_one(ctx, &MP_CASES[i], i % 2 ? 1 : 3, (int)((i + 2) % 3), (int)((i + 1) % 2), 0);
        mp_frozen_one(ctx, &MP_CASES[i], i % 2 ? 3 : 1, (int)(i % 3), (int)(i % 2), 1);
    }
    const pool_case darts = {14, 1, 32, 32, 3, 1, 1};
    mp_frozen_one(ctx, &darts, 2, 1, 0, 0);
}

/* The frozen pool is linear in x: its reference backward (the plain one given xr) against
 * central differences at an x whose own winners differ from xr's. */
typedef struct { clnas_pool_shape s; const double *xr; } mpf_ud;
static void mpf_fn(void *ud, const double *in, double *out)
{
    const mpf_ud *u = ud;
    clnas_maxpool_fwd_frozen_ref(&u->s, u->xr, in, out);
}

Test(darts_ops, frozen_maxpool_reference_backward_matches_finite_differences)
{
    for (size_t i = 0; i < sizeof MP_CASES / sizeof MP_CASES[0]; i++) {
        const pool_case *t = &MP_CASES[i];
        mpf_ud u;
        clnas_pool_shape_init(&u.s, t->n, t->c, t->h, t->w, t->k, t->stride, t->pad);
        const size_t nx = (size_t)t->n * t->c * t->h * t->w, ny = (size_t)t->n * t->c * u.s.hout * u.s.wout;
        double *xr = tu_dalloc(nx), *x = tu_dalloc(nx), *wt = tu_dalloc(ny), *g = tu_dalloc(nx);
        tu_fill(xr, nx, 80 + i, -1, 1);
        tu_fill(x, nx, 90 + i, -1, 1); /* unrelated to xr: most winners differ */
        tu_fill(wt, ny, 100 + i, -1, 1);
        u.xr = xr;
        clnas_maxpool_bwd_ref(&u.s, xr, wt, g);
        double e = tu_gradcheck(mpf_fn, &u, x, nx, ny, wt, g, 1e-3, 300);
        cr_expect(e < FD_TOL, "frozen maxpool case %zu: reference backward vs finite differences %g", i, e);
        free(xr); free(x); free(wt); free(g);
    }
}

/* ======================= shift, ReLU / axpby / avgpool / conv over slices ======================= */

typedef struct { int n, c, h, w; } map_case;
static const map_case MAP_CASES[] = {{1, 3, 7, 9}, {3, 5, 8, 7}, {3, 17, 9, 11}, {2, 1, 1, 1}, {1, 6, 1, 5}};

static void shift_one(clnas_ctx *ctx, const map_case *t, int S, int layout, int accumulate)
{
    clnas_map_shape m = clnas_map_shape_make(t->n, t->c, t->h, t->w, t->c + LAYOUT[layout][0], t->c + LAYOUT[layout][2]);
    const int xc0 = LAYOUT[layout][1], yc0 = LAYOUT[layout][3];
    const size_t hw = (size_t)t->h * t->w, N = (size_t)t->n, nx = N * t->c * hw;
    double *x = tu_dalloc(nx), *y = tu_dalloc(nx), *dy = tu_dalloc(S * nx), *dx0 = tu_dalloc(S * nx), *dxr = tu_dalloc(S * nx);
    tu_fill_rounded(x, nx, 51, -1, 1);
    tu_fill_rounded(dy, S * nx, 52, -1, 1);
    tu_fill_rounded(dx0, S * nx, 53, -1, 1);
    clnas_shift_fwd_ref(t->n, t->c, t->h, t->w, x, y);
    for (int sd = 0; sd < S; sd++) {
        for (size_t i = 0; i < nx; i++) dxr[sd * nx + i] = accumulate ? dx0[sd * nx + i] : 0.0;
        clnas_shift_bwd_ref(t->n, t->c, t->h, t->w, dy + sd * nx, dxr + sd * nx);
    }
    dslice dX = dslice_put(ctx, x, N, t->c, hw, m.xcs, xc0), dY = dslice_put(ctx, NULL, N, t->c, hw, m.ycs, yc0);
    dslice dDY = dslice_put(ctx, dy, S * N, t->c, hw, m.ycs, yc0);
    dslice dDX = dslice_put(ctx, accumulate ? dx0 : NULL, S * N, t->c, hw, m.xcs, xc0);
    OKC(ctx, clnas_shift_fwd(ctx, &m, dslice_dt(&dX), dslice_dt(&dY)));
    OKC(ctx, clnas_shift_bwd(ctx, &m, S, dslice_dt(&dDY), dslice_dt(&dDX), accumulate));
    char what[128];
    snprintf(what, sizeof what, "shift n%d c%d %dx%d S%d L%d acc%d", t->n, t->c, t->h, t->w, S, layout, accumulate);
    double *gy = dslice_take(ctx, &dY, what), *gdx = dslice_take(ctx, &dDX, what);
    check(what, gy, y, nx, 0.0);
    check("  dx", gdx, dxr, S * nx, TOL);
    dslice_free(&dX);
    dslice_free(&dDY);
    free(x); free(y); free(dy); free(dx0); free(dxr); free(gy); free(gdx);
}

/* relu and y = a x + b y over slices, against plain loops */
static void relu_axpby_one(clnas_ctx *ctx, const map_case *t, int S, int layout, int accumulate)
{
    clnas_map_shape m = clnas_map_shape_make(t->n, t->c, t->h, t->w, t->c + LAYOUT[layout][0], t->c + LAYOUT[layout][2]);
    const int xc0 = LAYOUT[layout][1], yc0 = LAYOUT[layout][3];
    const size_t hw = (size_t)t->h * t->w, N = (size_t)t->n, nx = N * t->c * hw;
    double *x = tu_dalloc(nx), *y = tu_dalloc(nx), *dy = tu_dalloc(S * nx), *dx0 = tu_dalloc(S * nx), *dxr = tu_dalloc(S * nx);
    double *z = tu_dalloc(S * nx), *zr = tu_dalloc(S * nx);
    tu_fill_rounded(x, nx, 61, -1, 1);
    tu_fill_rounded(dy, S * nx, 62, -1, 1);
    tu_fill_rounded(dx0, S * nx, 63, -1, 1);
    clnas_relu_fwd_ref(nx, x, y);
    for (int sd = 0; sd < S; sd++) {
        for (size_t i = 0; i < nx; i++) dxr[sd * nx + i] = accumulate ? dx0[sd * nx + i] : 0.0;
        clnas_relu_bwd_ref(nx, x, dy + sd * nx, dxr + sd * nx);
    }
    for (size_t i = 0; i < S * nx; i++) zr[i] = 0.75 * dy[i] + (accumulate ? -1.5 * dx0[i] : 0.0);
    dslice dX = dslice_put(ctx, x, N, t->c, hw, m.xcs, xc0), dY = dslice_put(ctx, NULL, N, t->c, hw, m.ycs, yc0);
    dslice dDY = dslice_put(ctx, dy, S * N, t->c, hw, m.ycs, yc0);
    dslice dDX = dslice_put(ctx, accumulate ? dx0 : NULL, S * N, t->c, hw, m.xcs, xc0);
    dslice dZ = dslice_put(ctx, accumulate ? dx0 : NULL, S * N, t->c, hw, m.xcs, xc0);
    OKC(ctx, clnas_relu_sl_fwd(ctx, &m, dslice_dt(&dX), dslice_dt(&dY)));
    OKC(ctx, clnas_relu_sl_bwd(ctx, &m, S, dslice_dt(&dX), dslice_dt(&dDY), dslice_dt(&dDX), accumulate));
    /* frozen at x (grasp): at x itself the plain forward; at x2 = x moved by up to +-0.5 (so signs
       flip) x2 where x > 0, 0 elsewhere (relu_bwd's gate) */
    double *x2 = tu_dalloc(nx), *yf = tu_dalloc(nx);
    tu_fill_rounded(x2, nx, 64, -0.5, 0.5);
    size_t flips = 0;
    for (size_t i = 0; i < nx; i++) {
        x2[i] = (double)(float)(x2[i] + x[i]);
        flips += (x2[i] > 0) != (x[i] > 0);
    }
    clnas_relu_bwd_ref(nx, x, x2, yf);
    dslice dX2 = dslice_put(ctx, x2, N, t->c, hw, m.xcs, xc0), dYF = dslice_put(ctx, NULL, N, t->c, hw, m.ycs, yc0);
    dslice dY0 = dslice_put(ctx, NULL, N, t->c, hw, m.ycs, yc0);
    OKC(ctx, clnas_relu_sl_fwd_frozen(ctx, &m, dslice_dt(&dX), dslice_dt(&dX2), dslice_dt(&dYF)));
    OKC(ctx, clnas_relu_sl_fwd_frozen(ctx, &m, dslice_dt(&dX), dslice_dt(&dX), dslice_dt(&dY0)));
    /* z (x's layout) = 0.75 dy (y's layout) + b z: y -> x direction, as a sum's backward */
    clnas_map_shape mz = clnas_map_shape_make(t->n, t->c, t->h, t->w, m.ycs, m.xcs);
    OKC(ctx, clnas_axpby_sl(ctx, &mz, S * t->n, 0.75f, dslice_dt(&dDY), accumulate ? -1.5f : 0.0f, dslice_dt(&dZ)));
    char what[128];
    snprintf(what, sizeof what, "relu/axpby slices n%d c%d %dx%d S%d L%d acc%d", t->n, t->c, t->h, t->w, S, layout,
             accumulate);
    double *gy = dslice_take(ctx, &dY, what), *gdx = dslice_take(ctx, &dDX, what), *gz = dslice_take(ctx, &dZ, what);
    check(what, gy, y, nx, 0.0);
    double *gyf = dslice_take(ctx, &dYF, what), *gy0 = dslice_take(ctx, &dY0, what);
    check("  frozen relu", gyf, yf, nx, 0.0);
    check("  frozen relu at its reference = relu", gy0, y, nx, 0.0);
    if (nx >= 20) cr_expect_gt(flips, 0, "%s: no ReLU input changed sign, the frozen check tests nothing", what);
    dslice_free(&dX2);
    free(x2); free(yf); free(gyf); free(gy0);
    check("  relu dx", gdx, dxr, S * nx, TOL);
    check("  axpby", gz, zr, S * nx, TOL);
    /* a = b = 0 zeroes the slice without reading anything */
    dslice d0 = dslice_put(ctx, dy, S * N, t->c, hw, mz.ycs, xc0);
    OKC(ctx, clnas_axpby_sl(ctx, &mz, S * t->n, 0.0f, dslice_dt(&d0), 0.0f, dslice_dt(&d0)));
    double *g0 = dslice_take(ctx, &d0, "axpby zero");
    for (size_t i = 0; i < S * nx; i++) z[i] = 0.0;
    check("  axpby a = b = 0", g0, z, S * nx, 0.0);
    dslice_free(&dX);
    dslice_free(&dDY);
    free(x); free(y); free(dy); free(dx0); free(dxr); free(z); free(zr); free(gy); free(gdx); free(gz); free(g0);
}

Test(darts_ops, shift_relu_axpby_device_match_reference)
{
    clnas_ctx *ctx = tu_ctx();
    for (size_t i = 0; i < sizeof MAP_CASES / sizeof MAP_CASES[0]; i++)
        for (int v = 0; v < 2; v++) {
            shift_one(ctx, &MAP_CASES[i], v ? 3 : 1, (int)((i + v) % 3), v);
            relu_axpby_one(ctx, &MAP_CASES[i], v ? 1 : 3, (int)((i + 2 * v) % 3), 1 - v);
        }
}

typedef struct { int n, c, h, w; } shift_ud;
static void shift_fn(void *ud, const double *in, double *out)
{
    shift_ud *u = ud;
    clnas_shift_fwd_ref(u->n, u->c, u->h, u->w, in, out);
}

Test(darts_ops, shift_reference_backward_matches_finite_differences)
{
    for (size_t i = 0; i < sizeof MAP_CASES / sizeof MAP_CASES[0]; i++) {
        const map_case *t = &MAP_CASES[i];
        shift_ud u = {t->n, t->c, t->h, t->w};
        const size_t nx = (size_t)t->n * t->c * t->h * t->w;
        double *x = tu_dalloc(nx), *wt = tu_dalloc(nx), *g = tu_dalloc(nx);
        tu_fill(x, nx, 70 + i, -1, 1);
        tu_fill(wt, nx, 80 + i, -1, 1);
        clnas_shift_bwd_ref(t->n, t->c, t->h, t->w, wt, g);
        double e = tu_gradcheck(shift_fn, &u, x, nx, nx, wt, g, 1e-6, 300);
        cr_expect(e < FD_TOL, "shift case %zu: reference backward vs finite differences %g", i, e);
        free(x); free(wt); free(g);
    }
}

/* average pooling reading and writing slices: generic kernels, and the 3x3 s1 row kernels
 * (W a multiple of 8) */
static void ap_one(clnas_ctx *ctx, const pool_case *t, int S, int layout, int acc)
{
    clnas_pool_shape s;
    clnas_pool_shape_init(&s, t->n, t->c, t->h, t->w, t->k, t->stride, t->pad);
    s.xcs = t->c + LAYOUT[layout][0];
    s.ycs = t->c + LAYOUT[layout][2];
    const size_t hw = (size_t)t->h * t->w, ohw = (size_t)s.hout * s.wout, N = (size_t)t->n;
    const size_t nx = N * t->c * hw, ny = N * t->c * ohw;
    double *x = tu_dalloc(nx), *y = tu_dalloc(ny), *dy = tu_dalloc(S * ny), *dx0 = tu_dalloc(S * nx), *dxr = tu_dalloc(S * nx);
    double *dys = tu_dalloc(ny);
    tu_fill_rounded(x, nx, 91, -1, 1);
    tu_fill_rounded(dy, S * ny, 92, -1, 1);
    tu_fill_rounded(dx0, S * nx, 93, -1, 1);
    clnas_avgpool_fwd_ref(&s, x, y);
    for (int sd = 0; sd < S; sd++) {
        for (size_t j = 0; j < nx; j++) dxr[sd * nx + j] = acc ? dx0[sd * nx + j] : 0.0;
        for (size_t j = 0; j < ny; j++) dys[j] = 0.5 * dy[sd * ny + j];
        clnas_avgpool_bwd_ref(&s, dys, dxr + sd * nx);
    }
    dslice dX = dslice_put(ctx, x, N, t->c, hw, s.xcs, LAYOUT[layout][1]);
    dslice dY = dslice_put(ctx, NULL, N, t->c, ohw, s.ycs, LAYOUT[layout][3]);
    dslice dDY = dslice_put(ctx, dy, S * N, t->c, ohw, s.ycs, LAYOUT[layout][3]);
    dslice dDX = dslice_put(ctx, acc ? dx0 : NULL, S * N, t->c, hw, s.xcs, LAYOUT[layout][1]);
    OKC(ctx, clnas_avgpool_fwd(ctx, &s, dslice_dt(&dX), dslice_dt(&dY)));
    OKC(ctx, clnas_avgpool_bwd_ex(ctx, &s, S, dslice_dt(&dDY), 0.5f, dslice_dt(&dDX), acc));
    char what[128];
    snprintf(what, sizeof what, "avgpool n%d c%d %dx%d k%d s%d p%d S%d L%d acc%d", t->n, t->c, t->h, t->w, t->k,
             t->stride, t->pad, S, layout, acc);
    double *gy = dslice_take(ctx, &dY, what), *gdx = dslice_take(ctx, &dDX, what);
    check(what, gy, y, ny, TOL);
    check("  dx", gdx, dxr, S * nx, TOL);
    dslice_free(&dX);
    dslice_free(&dDY);
    free(x); free(y); free(dy); free(dx0); free(dxr); free(dys); free(gy); free(gdx);
}

Test(darts_ops, avgpool_over_slices_matches_reference)
{
    clnas_ctx *ctx = tu_ctx();
    for (size_t i = 0; i < sizeof MP_CASES / sizeof MP_CASES[0]; i++)
        ap_one(ctx, &MP_CASES[i], i % 2 ? 3 : 1, 1 + (int)(i % 2), (int)(i % 2));
    static const pool_case ROWS[] = {{3, 5, 6, 8, 3, 1, 1}, {1, 3, 5, 16, 3, 1, 1}, /* 3x3 s1 rows */
                                     {3, 5, 6, 8, 3, 2, 1}, {1, 3, 7, 16, 3, 2, 1},  /* 3x3 s2 rows (odd H) */
                                     {2, 2, 9, 64, 3, 2, 1}};
    for (int i = 0; i < 5; i++)
        for (int layout = 0; layout < 3; layout++) ap_one(ctx, &ROWS[i], 1 + 2 * (layout % 2), layout, i % 2);
}

/* convolution writing an output slice (FactorizedReduce's halves), reading its gradient there */
Test(darts_ops, conv_output_slice_matches_reference)
{
    clnas_ctx *ctx = tu_ctx();
    static const int CASES[][8] = {/* n cin h w cout k stride pad */
                                   {3, 5, 7, 9, 3, 1, 2, 0}, {1, 4, 8, 8, 5, 1, 2, 0}, {3, 3, 5, 6, 2, 3, 1, 1}};
    for (int i = 0; i < 3; i++) {
        const int *c = CASES[i], S = i == 1 ? 1 : 3;
        clnas_conv_shape s;
        clnas_conv_shape_init(&s, c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]);
        s.ycs = c[4] + 3;
        const int yc0 = 2;
        const size_t hw = (size_t)c[2] * c[3], ohw = (size_t)s.hout * s.wout, N = (size_t)c[0];
        const size_t nx = N * c[1] * hw, ny = N * c[4] * ohw, nw = (size_t)c[4] * c[1] * c[5] * c[5];
        double *x = tu_dalloc(nx), *w = tu_dalloc(nw), *y = tu_dalloc(ny), *dy = tu_dalloc(S * ny), *dxr = tu_dalloc(S * nx);
        double *dwr = tu_dalloc(S * nw), *gdx = tu_dalloc(S * nx), *gdw = tu_dalloc(S * nw);
        tu_fill_rounded(x, nx, 101, -1, 1);
        tu_fill_rounded(w, nw, 102, -1, 1);
        tu_fill_rounded(dy, S * ny, 103, -1, 1);
        clnas_conv_fwd_ref(&s, x, w, y);
        for (int sd = 0; sd < S; sd++) {
            clnas_conv_bwd_data_ref(&s, w, dy + sd * ny, dxr + sd * nx);
            clnas_conv_bwd_weight_ref(&s, x, dy + sd * ny, dwr + sd * nw);
        }
        cl_mem X = tu_upload(ctx, x, nx), W = tu_upload(ctx, w, nw), DX = tu_upload(ctx, gdx, S * nx);
        cl_mem DW = tu_upload(ctx, gdw, S * nw);
        const size_t wsn = clnas_conv_workspace_floats(&s, S);
        double *wz = tu_dalloc(wsn + 1);
        cl_mem WS = tu_upload(ctx, wz, wsn + 1);
        dslice dY = dslice_put(ctx, NULL, N, c[4], ohw, s.ycs, yc0), dDY = dslice_put(ctx, dy, S * N, c[4], ohw, s.ycs, yc0);
        OKC(ctx, clnas_conv_fwd(ctx, &s, tu_dt(X, 0), tu_dt(W, 0), dslice_dt(&dY)));
        OKC(ctx, clnas_conv_bwd_data(ctx, &s, S, tu_dt(W, 0), dslice_dt(&dDY), tu_dt(DX, 0)));
        OKC(ctx, clnas_conv_bwd_weight(ctx, &s, S, tu_dt(X, 0), dslice_dt(&dDY), tu_dt(DW, 0), nw, tu_dt(WS, 0)));
        double *gy = dslice_take(ctx, &dY, "conv output slice");
        tu_read(ctx, DX, 0, S * nx, gdx);
        tu_read(ctx, DW, 0, S * nw, gdw);
        check("conv into an output slice", gy, y, ny, TOL);
        check("  dx from a sliced dy", gdx, dxr, S * nx, TOL);
        check("  dw from a sliced dy", gdw, dwr, S * nw, TOL);
        dslice_free(&dDY);
        clnas_buf_free(X); clnas_buf_free(W); clnas_buf_free(DX); clnas_buf_free(DW); clnas_buf_free(WS);
        free(x); free(w); free(y); free(dy); free(dxr); free(dwr); free(gdx); free(gdw); free(gy); free(wz);
    }
}

/* ======================= a tiny network with every new kind ======================= */

/* 3x7x7 input; a cell whose four nodes are slices of one concatenation (written by sum,
 * sum, dwconv, maxpool; read by relu, maxpool, avgpool, sum, dwconv, shift); a
 * FactorizedReduce (ReLU, 1x1 stride-2 convs writing the two halves of a concatenation, one
 * on the shifted input, BN); a side path through a shifted slice; pooling and a classifier. */
static clnas_net *tiny_net(void)
{
    clnas_net *n = graph_new(3, 7, 7);
    cr_assert_not_null(n);
    int s = graph_conv(n, 0, 4, 3, 1, 1, "stem.conv");
    s = graph_bn(n, s, "stem.bn");
    const float one = 1.0f;
    int n0 = graph_sum(n, 1, &s, &one, 4, 7, 7, "cell.n0");
    int r = graph_relu(n, n0, "cell.e1.relu");
    int d = graph_dwconv(n, r, 3, 1, 1, "cell.e1.dw");
    d = graph_conv(n, d, 4, 1, 1, 0, "cell.e1.pw");
    d = graph_bn(n, d, "cell.e1.bn");
    int mp = graph_maxpool(n, n0, 3, 1, 1, "cell.e2.max");
    int ap = graph_avgpool(n, n0, 3, 1, 1, "cell.e3.avg");
    /* an edge sum feeding the node sum only: its gradient aliases the node's slice */
    const int ine[2] = {d, mp};
    const float ce[2] = {0.5f, 0.7f};
    int e12 = graph_sum(n, 2, ine, ce, 4, 7, 7, "cell.e12");
    const int in1[3] = {e12, ap, n0};
    const float c1[3] = {0.9f, -0.3f, 1.1f};
    int n1 = graph_sum(n, 3, in1, c1, 4, 7, 7, "cell.n1");
    int n2 = graph_dwconv(n, n1, 5, 1, 2, "cell.n2.dil");
    int n3 = graph_maxpool(n, n1, 3, 1, 1, "cell.n3.max");
    const int cat_in[4] = {n0, n1, n2, n3};
    int cat = graph_concat(n, 4, cat_in, "cell.concat");
    int q = graph_relu(n, cat, "fr.relu");
    int a = graph_conv(n, q, 4, 1, 2, 0, "fr.conv_1");
    int sh = graph_shift(n, q, "fr.shift");
    int b = graph_conv(n, sh, 4, 1, 2, 0, "fr.conv_2");
    const int fr_in[2] = {a, b};
    int fr = graph_concat(n, 2, fr_in, "fr.concat");
    fr = graph_bn(n, fr, "fr.bn");
    int e = graph_shift(n, n3, "side.shift");
    e = graph_relu(n, e, "side.relu");
    e = graph_conv(n, e, 8, 1, 2, 0, "side.conv");
    int m2 = graph_maxpool(n, fr, 3, 2, 1, "tail.max"); /* stride 2 on 4x4 */
    e = graph_maxpool(n, e, 3, 2, 1, "side.max");
    const int sum_in[2] = {m2, e};
    const float sc[2] = {1.0f, 0.5f};
    int t = graph_sum(n, 2, sum_in, sc, 8, 2, 2, "tail.sum");
    t = graph_gap(n, t, "tail.gap");
    t = graph_linear(n, t, 5, 1, "classifier");
    char err[256];
    cr_assert_eq(graph_finish(n, t, err, sizeof err), CLNAS_OK, "%s", err);
    return n;
}

static void tiny_device_vs_reference(int B, int S)
{
    clnas_ctx *ctx = tu_ctx();
    clnas_net *net = tiny_net();
    int c, h, w;
    clnas_net_input_shape(net, &c, &h, &w);
    const size_t nx = (size_t)B * c * h * w, np = clnas_net_nparams(net), nl = (size_t)B * 5;
    float *x = malloc(nx * sizeof *x), *p = malloc(np * sizeof *p), *lg = malloc(nl * sizeof *lg);
    float *dl = malloc(S * nl * sizeof *dl), *pg = malloc(S * np * sizeof *pg), *dx = malloc(S * nx * sizeof *dx);
    double *xd = tu_dalloc(nx), *pd = tu_dalloc(np), *lgd = tu_dalloc(nl), *dlall = tu_dalloc(S * nl), *pgd = tu_dalloc(np);
    double *dxd = tu_dalloc(nx), *tmp = tu_dalloc(np + nx + nl);
    tu_fill_rounded(xd, nx, 111, -2, 2);
    for (size_t i = 0; i < nx; i++) x[i] = (float)xd[i];
    clnas_net_init_params(net, 3, 0, CLNAS_INIT_PYTORCH, p);
    for (size_t i = 0; i < np; i++) pd[i] = p[i];
    tu_fill_rounded(dlall, S * nl, 112, -1, 1);
    for (size_t i = 0; i < S * nl; i++) dl[i] = (float)dlall[i];
    clnas_plan *plan = NULL;
    OKC(ctx, clnas_plan_create(ctx, net, B, S, CLNAS_PLAN_PARAM_GRADS, &plan));
    OKC(ctx, clnas_plan_set_params(plan, p));
    OKC(ctx, clnas_plan_forward(plan, x));
    OKC(ctx, clnas_plan_read_logits(plan, lg));
    OKC(ctx, clnas_plan_backward_host(plan, S, dl, pg, dx));
    cr_assert_eq(clnas_ref_forward(net, B, pd, xd, lgd), CLNAS_OK);
    for (size_t i = 0; i < nl; i++) tmp[i] = lg[i];
    check("tiny net logits", tmp, lgd, nl, 1e-5);
    for (int s = 0; s < S; s++) {
        cr_assert_eq(clnas_ref_backward(net, B, pd, xd, dlall + s * nl, pgd, dxd), CLNAS_OK);
        for (size_t i = 0; i < np; i++) tmp[i] = pg[s * np + i];
        check("  parameter gradients", tmp, pgd, np, 1e-4);
        for (size_t i = 0; i < nx; i++) tmp[i] = dx[s * nx + i];
        check("  input gradient", tmp, dxd, nx, 1e-4);
    }
    clnas_plan_destroy(plan);
    clnas_net_destroy(net);
    free(x); free(p); free(lg); free(dl); free(pg); free(dx);
    free(xd); free(pd); free(lgd); free(dlall); free(pgd); free(dxd); free(tmp);
}

Test(darts_ops, tiny_network_on_device_matches_host_reference)
{
    tiny_device_vs_reference(1, 1);
    tiny_device_vs_reference(3, 3);
    setenv("CLNAS_FUSE", "0", 1);
    tiny_device_vs_reference(3, 2);
    unsetenv("CLNAS_FUSE");
}

typedef struct { const clnas_net *net; int B; double *params; double *x; int wrt_input; } net_ud;
static void net_fn(void *ud, const double *in, double *out)
{
    net_ud *u = ud;
    if (u->wrt_input) clnas_ref_forward(u->net, u->B, u->params, in, out);
    else clnas_ref_forward(u->net, u->B, in, u->x, out);
}

Test(darts_ops, tiny_network_reference_backward_matches_finite_differences)
{
    clnas_net *net = tiny_net();
    const int B = 2;
    int c, h, w;
    clnas_net_input_shape(net, &c, &h, &w);
    const size_t nx = (size_t)B * c * h * w, np = clnas_net_nparams(net), nl = (size_t)B * 5;
    double *x = tu_dalloc(nx), *p = tu_dalloc(np), *wt = tu_dalloc(nl), *pg = tu_dalloc(np), *dx = tu_dalloc(nx);
    float *pf = malloc(np * sizeof *pf);
    clnas_net_init_params(net, 9, 0, CLNAS_INIT_PYTORCH, pf);
    for (size_t i = 0; i < np; i++) p[i] = pf[i];
    tu_fill(x, nx, 121, -1, 1);
    tu_fill(wt, nl, 122, -1, 1);
    cr_assert_eq(clnas_ref_backward(net, B, p, x, wt, pg, dx), CLNAS_OK);
    net_ud u = {net, B, p, x, 0};
    /* ReLU kinks and max-pool switches are measure-zero: a few probes may straddle one, so
       the bound is looser than for the single ops, and h is small */
    double e = tu_gradcheck(net_fn, &u, p, np, nl, wt, pg, 1e-7, 300);
    cr_expect(e < 1e-4, "tiny net: parameter gradient vs finite differences %g", e);
    u.wrt_input = 1;
    e = tu_gradcheck(net_fn, &u, x, nx, nl, wt, dx, 1e-7, 150);
    cr_expect(e < 1e-4, "tiny net: input gradient vs finite differences %g", e);
    fprintf(stderr, "  tiny net finite differences ok (%zu parameters)\n", np);
    free(x); free(p); free(wt); free(pg); free(dx); free(pf);
    clnas_net_destroy(net);
}

/* Tensor t of the plan's activations (buffer m: act or the frozen reference ref_act) as [B][c][h][w]
 * doubles; a slice's samples are further apart. */
static double *plan_tensor(clnas_ctx *ctx, const clnas_plan *p, cl_mem m, int t)
{
    const tensor_desc *d = &p->net->tensors[t];
    const size_t hw = (size_t)d->h * d->w, sz = (size_t)d->c * hw;
    double *out = tu_dalloc((size_t)p->batch * sz);
    for (int b = 0; b < p->batch; b++)
        tu_read(ctx, m, plan_act_off(p, t) + (size_t)b * plan_stride_c(p->net, t) * hw, sz, out + (size_t)b * sz);
    return out;
}

/* clnas_plan_freeze on the tiny network (slice ReLUs, max pools reading and writing slices):
 * frozen, the forward at the freezing point is the plain one; at parameters moved far enough that
 * ReLU signs and max-pool winners change, every max pool's output is its input gathered at its
 * reference input's winners and every ReLU's passes x where its reference input was > 0 (read
 * from the plan, layer by layer), and the backward is that frozen forward's gradient (central
 * differences of c . logits along a random direction). */
static void tiny_frozen(void)
{
    clnas_ctx *ctx = tu_ctx();
    clnas_net *net = tiny_net();
    const int B = 3, K = 5;
    int c, h, w;
    clnas_net_input_shape(net, &c, &h, &w);
    const size_t nx = (size_t)B * c * h * w, np = clnas_net_nparams(net), nl = (size_t)B * K;
    float *x = malloc(nx * sizeof *x), *p0 = malloc(np * sizeof *p0), *p1 = malloc(np * sizeof *p1);
    float *pw = malloc(np * sizeof *pw), *g = malloc(np * sizeof *g), *z0 = malloc(nl * sizeof *z0), *z1 = malloc(nl * sizeof *z1);
    float *cf = malloc(nl * sizeof *cf);
    double *xd = tu_dalloc(nx), *v = tu_dalloc(np), *mv = tu_dalloc(np);
    tu_fill_rounded(xd, nx, 131, -2, 2);
    for (size_t i = 0; i < nx; i++) x[i] = (float)xd[i];
    clnas_net_init_params(net, 5, 0, CLNAS_INIT_PYTORCH, p0);
    tu_fill(mv, np, 132, -0.6, 0.6);
    for (size_t i = 0; i < np; i++) p1[i] = (float)(p0[i] * (1.0 + mv[i]) + 0.05 * mv[i]);
    for (size_t i = 0; i < nl; i++) cf[i] = (float)(0.1 * ((i * 37) % 11) - 0.5);
    clnas_plan *plan = NULL;
    OKC(ctx, clnas_plan_create(ctx, net, B, 1, CLNAS_PLAN_PARAM_GRADS, &plan));
    OKC(ctx, clnas_plan_set_params(plan, p0));
    OKC(ctx, clnas_plan_forward(plan, x));
    OKC(ctx, clnas_plan_read_logits(plan, z0));
    OKC(ctx, clnas_plan_freeze(plan, 1));
    OKC(ctx, clnas_plan_forward(plan, x));
    OKC(ctx, clnas_plan_read_logits(plan, z1));
    for (size_t i = 0; i < nl; i++) cr_expect_eq(z0[i], z1[i], "frozen forward at the freezing point differs at %zu", i);
    OKC(ctx, clnas_plan_set_params(plan, p1));
    OKC(ctx, clnas_plan_forward(plan, x));
    size_t moved = 0, flipped = 0;
    for (int i = 0; i < net->nlayers; i++) {
        const layer *l = &net->layers[i];
        if (l->kind != L_MAXPOOL && l->kind != L_RELU) continue;
        const tensor_desc *ti = &net->tensors[l->in];
        double *xi = plan_tensor(ctx, plan, plan->act, l->in), *xr = plan_tensor(ctx, plan, plan->ref_act, l->in);
        double *y = plan_tensor(ctx, plan, plan->act, l->out);
        const size_t n = (size_t)B * tensor_size(&net->tensors[l->out]);
        double *want = tu_dalloc(n);
        if (l->kind == L_MAXPOOL) {
            clnas_pool_shape s;
            clnas_pool_shape_init(&s, B, ti->c, ti->h, ti->w, l->k, l->stride, l->pad);
            clnas_maxpool_fwd_frozen_ref(&s, xr, xi, want);
            int *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
            clnas_maxpool_argmax_ref(&s, xr, a);
            clnas_maxpool_argmax_ref(&s, xi, b);
            for (size_t q = 0; q < n; q++) moved += a[q] != b[q];
            free(a); free(b);
        } else {
            clnas_relu_bwd_ref(n, xr, xi, want);
            for (size_t q = 0; q < n; q++) flipped += (xr[q] > 0) != (xi[q] > 0);
        }
        char what[192];
        snprintf(what, sizeof what, "frozen %s at moved parameters", l->name);
        check(what, y, want, n, 0.0);
        free(xi); free(xr); free(y); free(want);
    }
    fprintf(stderr, "  frozen tiny net: %zu max-pool windows and %zu ReLU units changed at the moved parameters\n", moved,
            flipped);
    cr_expect_gt(moved, 0, "no max-pool winner changed: the test tests nothing");
    cr_expect_gt(flipped, 0, "no ReLU sign changed: the test tests nothing");
    OKC(ctx, clnas_plan_backward_host(plan, 1, cf, g, NULL));
    tu_fill(v, np, 133, -1, 1);
    double gv = 0, f[2];
    for (size_t j = 0; j < np; j++) gv += g[j] * v[j];
    const double hs = 2e-4;
    for (int sg = 0; sg < 2; sg++) {
        for (size_t j = 0; j < np; j++) pw[j] = (float)(p1[j] + (sg ? -hs : hs) * v[j]);
        OKC(ctx, clnas_plan_set_params(plan, pw));
        OKC(ctx, clnas_plan_forward(plan, x));
        OKC(ctx, clnas_plan_read_logits(plan, z1));
        f[sg] = 0;
        for (size_t i = 0; i < nl; i++) f[sg] += (double)cf[i] * z1[i];
    }
    const double fd = (f[0] - f[1]) / (2 * hs);
    fprintf(stderr, "  frozen tiny net: finite difference %.8g, gradient . v %.8g\n", fd, gv);
    cr_expect(fabs(fd - gv) <= 2e-3 * fmax(fabs(gv), 1e-3), "frozen: finite difference %.8g, gradient . v %.8g", fd, gv);
    /* thawed, the moved parameters' own pattern applies again */
    OKC(ctx, clnas_plan_freeze(plan, 0));
    OKC(ctx, clnas_plan_set_params(plan, p1));
    OKC(ctx, clnas_plan_forward(plan, x));
    OKC(ctx, clnas_plan_read_logits(plan, z1));
    OKC(ctx, clnas_plan_freeze(plan, 1)); /* frozen at p1 now: the same logits */
    OKC(ctx, clnas_plan_forward(plan, x));
    OKC(ctx, clnas_plan_read_logits(plan, z0));
    for (size_t i = 0; i < nl; i++) cr_expect_eq(z0[i], z1[i], "refrozen at the moved parameters: logit %zu differs", i);
    clnas_plan_destroy(plan);
    clnas_net_destroy(net);
    free(x); free(p0); free(p1); free(pw); free(g); free(z0); free(z1); free(cf); free(xd); free(v); free(mv);
}

Test(darts_ops, frozen_tiny_network_is_smooth_and_keeps_its_choices)
{
    tiny_frozen();
    setenv("CLNAS_FUSE", "0", 1);
    tiny_frozen();
    unsetenv("CLNAS_FUSE");
}

Test(darts_ops, parameter_and_flop_counts)
{
    clnas_net *net = tiny_net();
    /* stem 4*3*9 + BN 8; e1 dw 4*9 + pw 16 + BN 8; n2 dw 4*25; FR 2 x 4*16 + BN 16; side 8*4;
       classifier 8*5 + 5 */
    const size_t want = 108 + 8 + 36 + 16 + 8 + 100 + 128 + 16 + 32 + 45;
    cr_expect_eq(clnas_net_nparams(net), want, "parameters %zu, want %zu", clnas_net_nparams(net), want);
    double f, b;
    clnas_net_flops(net, 1, &f, &b);
    /* MACs: stem 4*49*27, dw 4*49*9, pw 4*49*4, dil 4*49*25, FR 2*(4*16*16), side 8*16*4, linear 40 */
    const double macs = 4 * 49 * 27 + 4 * 49 * 9 + 4 * 49 * 4 + 4 * 49 * 25 + 2 * (4 * 16 * 16) + 8 * 16 * 4 + 40;
    cr_expect_eq(f, 2 * macs, "forward FLOPs %g, want %g", f, 2 * macs);
    clnas_net_destroy(net);
}

Test(darts_ops, misuse_of_slices_is_rejected)
{
    char err[256];
    /* batchnorm cannot read a slice */
    clnas_net *n = graph_new(2, 5, 5);
    const float one = 1.0f;
    int a = graph_conv(n, 0, 2, 1, 1, 0, "a");
    int s = graph_sum(n, 1, &a, &one, 2, 5, 5, "s");
    int t = graph_relu(n, a, "t");
    const int in[2] = {s, t};
    int cat = graph_concat(n, 2, in, "cat");
    graph_bn(n, s, "bn_on_slice");
    cr_assert_neq(graph_finish(n, cat, err, sizeof err), CLNAS_OK);
    cr_expect(strstr(err, "bn_on_slice") && strstr(err, "slice"), "message: %s", err);
    clnas_net_destroy(n);
    /* a tensor in two concatenations, the network input, mismatched sizes */
    n = graph_new(2, 5, 5);
    a = graph_conv(n, 0, 2, 1, 1, 0, "a");
    int b = graph_conv(n, 0, 2, 3, 2, 1, "b"); /* 3x3 */
    const int one_in[1] = {a};
    graph_concat(n, 1, one_in, "c1");
    cr_expect_eq(graph_concat(n, 1, one_in, "c2"), -1);
    cr_assert_neq(graph_finish(n, a, err, sizeof err), CLNAS_OK);
    cr_expect(strstr(err, "already in concatenation"), "message: %s", err);
    clnas_net_destroy(n);
    n = graph_new(2, 5, 5);
    a = graph_conv(n, 0, 2, 1, 1, 0, "a");
    b = graph_conv(n, 0, 2, 3, 2, 1, "b");
    const int ab[2] = {a, b};
    cr_expect_eq(graph_concat(n, 2, ab, "c"), -1);
    cr_expect_neq(graph_finish(n, a, err, sizeof err), CLNAS_OK);
    cr_expect(strstr(err, "input 1 is 3x3"), "message: %s", err);
    clnas_net_destroy(n);
    n = graph_new(2, 5, 5);
    const int zero[1] = {0};
    cr_expect_eq(graph_concat(n, 1, zero, "c"), -1);
    clnas_net_destroy(n);
    /* even kernels and bad dilations are refused by the builder */
    n = graph_new(2, 5, 5);
    cr_expect_eq(graph_dwconv(n, 0, 4, 1, 1, "dw"), -1);
    clnas_net_destroy(n);
    /* the device refuses a sliced shape it cannot hold */
    clnas_ctx *ctx = tu_ctx();
    clnas_dwconv_shape ds;
    clnas_dwconv_shape_init(&ds, 1, 4, 5, 5, 3, 1, 1);
    ds.xcs = 3;
    double z[100] = {0};
    cl_mem m = tu_upload(ctx, z, 100);
    cr_expect_eq(clnas_dwconv_fwd(ctx, &ds, tu_dt(m, 0), tu_dt(m, 0), tu_dt(m, 0)), CLNAS_E_SHAPE);
    cr_expect(strstr(clnas_ctx_errmsg(ctx), "storage channels"), "message: %s", clnas_ctx_errmsg(ctx));
    /* a NULL shape is an error naming it, not a crash */
    cr_expect_eq(clnas_dwconv_fwd(ctx, NULL, tu_dt(m, 0), tu_dt(m, 0), tu_dt(m, 0)), CLNAS_E_INVALID_ARG);
    cr_expect_eq(clnas_dwconv_bwd_data(ctx, NULL, 1, tu_dt(m, 0), tu_dt(m, 0), tu_dt(m, 0), 0), CLNAS_E_INVALID_ARG);
    cr_expect(strstr(clnas_ctx_errmsg(ctx), "NULL shape"), "message: %s", clnas_ctx_errmsg(ctx));
    cr_expect_eq(clnas_dwconv_bwd_weight(ctx, NULL, 1, tu_dt(m, 0), tu_dt(m, 0), tu_dt(m, 0), 9), CLNAS_E_INVALID_ARG);
    clnas_buf_free(m);
}

/* linear-region codes read ReLU inputs that are concatenation slices (samples further apart):
 * the device's sign bits equal the host reference's ReLU outputs > 0 */
Test(darts_ops, region_codes_read_sliced_relu_inputs)
{
    clnas_ctx *ctx = tu_ctx();
    clnas_net *net = tiny_net();
    const int batch = 3, n = 6;
    const size_t bits = clnas_net_relu_bits(net), np = clnas_net_nparams(net), nx1 = 3 * 7 * 7;
    float *pf = malloc(np * sizeof *pf), *xf = malloc(n * nx1 * sizeof *xf);
    double *p = tu_dalloc(np), *x = tu_dalloc(n * nx1), *acts = tu_dalloc(net->act_per_sample * (size_t)batch);
    uint8_t *dev = malloc(n * bits), *ref = malloc(n * bits);
    cr_assert(pf && xf && dev && ref);
    clnas_net_init_params(net, 5, 1, CLNAS_INIT_PYTORCH, pf);
    for (size_t i = 0; i < np; i++) p[i] = pf[i];
    tu_fill_rounded(x, n * nx1, 131, -2, 2);
    for (size_t i = 0; i < n * nx1; i++) xf[i] = (float)x[i];
    clnas_lr *lr = NULL;
    OKC(ctx, clnas_lr_create(ctx, net, batch, &lr));
    OKC(ctx, clnas_lr_set_params(lr, pf));
    size_t R = 0;
    int nonfinite = -1;
    OKC(ctx, clnas_lr_count(lr, xf, n, &R, &nonfinite, dev));
    cr_expect_eq(nonfinite, 0);
    int sliced = 0;
    for (int b = 0; b < n / batch; b++) {
        cr_assert_eq(clnas_ref_forward_acts(net, batch, p, x + (size_t)b * batch * nx1, acts), CLNAS_OK);
        size_t pos = 0;
        for (int i = 0; i < net->nlayers; i++) {
            const layer *l = &net->layers[i];
            if (l->kind != L_RELU) continue;
            sliced += b == 0 && net->tensors[l->in].parent >= 0;
            const size_t sz = tensor_size(&net->tensors[l->out]);
            for (int s = 0; s < batch; s++)
                for (size_t j = 0; j < sz; j++)
                    ref[((size_t)b * batch + s) * bits + pos + j] = acts[net->tensors[l->out].off * batch + s * sz + j] > 0;
            pos += sz;
        }
    }
    cr_expect_gt(sliced, 0, "the test network has no ReLU reading a slice");
    size_t bad = 0;
    for (size_t i = 0; i < n * bits; i++) bad += dev[i] != ref[i];
    cr_expect_eq(bad, 0, "%zu of %zu code bits differ between device and host reference", bad, n * bits);
    clnas_lr_destroy(lr);
    clnas_net_destroy(net);
    free(pf); free(xf); free(p); free(x); free(acts); free(dev); free(ref);
}

/* ======================= a DARTS-like supernet: two cells, every op on every edge ======================= */

static int relu_conv_bn(clnas_net *n, int x, int cout, const char *pre)
{
    x = graph_relu(n, x, "%s.relu", pre);
    x = graph_conv(n, x, cout, 1, 1, 0, "%s.conv", pre);
    return graph_bn(n, x, "%s.bn", pre);
}

/* ReLU -> depthwise k x k (stride, dilation) -> pointwise 1x1 -> BN */
static int sep_block(clnas_net *n, int x, int C, int k, int stride, int dil, const char *pre, int part)
{
    x = graph_relu(n, x, "%s.op.%d", pre, 4 * part);
    x = graph_dwconv(n, x, k, stride, dil, "%s.op.%d", pre, 4 * part + 1);
    x = graph_conv(n, x, C, 1, 1, 0, "%s.op.%d", pre, 4 * part + 2);
    return graph_bn(n, x, "%s.op.%d", pre, 4 * part + 3);
}

static int factorized_reduce(clnas_net *n, int x, int C, const char *pre)
{
    x = graph_relu(n, x, "%s.relu", pre);
    int a = graph_conv(n, x, C / 2, 1, 2, 0, "%s.conv_1", pre);
    int sh = graph_shift(n, x, "%s.shift", pre);
    int b = graph_conv(n, sh, C / 2, 1, 2, 0, "%s.conv_2", pre);
    const int ab[2] = {a, b};
    int cat = graph_concat(n, 2, ab, "%s.cat", pre);
    return graph_bn(n, cat, "%s.bn", pre);
}

/* One cell of 4 nodes, every one of the 7 non-zero ops on each of its 14 edges, weighted by
 * fixed pseudo-random coefficients (TE-NAS's MixedOp: an edge sum per edge, a node sum). */
static int darts_cell(clnas_net *n, int s0, int s1, int C, int reduction, int ci)
{
    const tensor_desc *t1 = &n->tensors[s1];
    const int H = reduction ? (t1->h + 1) / 2 : t1->h, W = reduction ? (t1->w + 1) / 2 : t1->w;
    int states[6] = {relu_conv_bn(n, s0, C, "pre0"), relu_conv_bn(n, s1, C, "pre1")};
    int e = 0;
    for (int i = 0; i < 4; i++) {
        int edges[5];
        float ones[5];
        for (int j = 0; j < i + 2; j++, e++) {
            const int st = reduction && j < 2 ? 2 : 1, x = states[j];
            char pre[64];
            snprintf(pre, sizeof pre, "cells.%d.edges.%d<-%d", ci, i + 2, j);
            int ops[7];
            int k = 0;
            ops[k++] = st == 1 ? x : factorized_reduce(n, x, C, pre);
            for (int kk = 3; kk <= 5; kk += 2) {
                int y = sep_block(n, x, C, kk, st, 1, pre, 0);
                ops[k++] = sep_block(n, y, C, kk, 1, 1, pre, 1);
                ops[k++] = sep_block(n, x, C, kk, st, 2, pre, 2);
            }
            ops[k++] = graph_avgpool(n, x, 3, st, 1, "%s.avg", pre);
            ops[k++] = graph_maxpool(n, x, 3, st, 1, "%s.max", pre);
            float w[7];
            for (int q = 0; q < 7; q++) w[q] = 0.05f + 0.1f * (float)((e * 7 + q) % 11);
            edges[j] = graph_sum(n, 7, ops, w, C, H, W, "%s.mixed", pre);
            ones[j] = 1.0f;
        }
        states[i + 2] = graph_sum(n, i + 2, edges, ones, C, H, W, "cells.%d.node%d", ci, i);
    }
    return graph_concat(n, 4, states + 2, "cells.%d.concat", ci);
}

static clnas_net *darts_like(int hw)
{
    clnas_net *n = graph_new(3, hw, hw);
    int s = graph_conv(n, 0, 6, 3, 1, 1, "stem.0");
    s = graph_bn(n, s, "stem.1");
    int c1 = darts_cell(n, s, s, 2, 0, 0);
    int c2 = darts_cell(n, s, c1, 4, 1, 1);
    int t = graph_gap(n, c2, "gap");
    t = graph_linear(n, t, 5, 1, "classifier");
    char err[256];
    cr_assert_eq(graph_finish(n, t, err, sizeof err), CLNAS_OK, "%s", err);
    return n;
}

static void darts_like_vs_reference(int hw, int B, int S)
{
    clnas_ctx *ctx = tu_ctx();
    clnas_net *net = darts_like(hw);
    const size_t nx = (size_t)B * 3 * hw * hw, np = clnas_net_nparams(net), nl = (size_t)B * 5;
    float *x = malloc(nx * sizeof *x), *p = malloc(np * sizeof *p), *lg = malloc(nl * sizeof *lg);
    float *dl = malloc(S * nl * sizeof *dl), *pg = malloc(S * np * sizeof *pg), *dx = malloc(S * nx * sizeof *dx);
    double *xd = tu_dalloc(nx), *pd = tu_dalloc(np), *lgd = tu_dalloc(nl), *dlall = tu_dalloc(S * nl), *pgd = tu_dalloc(np);
    double *dxd = tu_dalloc(nx), *tmp = tu_dalloc(np + nx + nl);
    tu_fill_rounded(xd, nx, 141, -2, 2);
    for (size_t i = 0; i < nx; i++) x[i] = (float)xd[i];
    clnas_net_init_params(net, 4, 0, CLNAS_INIT_PYTORCH, p);
    for (size_t i = 0; i < np; i++) pd[i] = p[i];
    tu_fill_rounded(dlall, S * nl, 142, -1, 1);
    for (size_t i = 0; i < S * nl; i++) dl[i] = (float)dlall[i];
    clnas_plan *plan = NULL;
    OKC(ctx, clnas_plan_create(ctx, net, B, S, CLNAS_PLAN_PARAM_GRADS, &plan));
    OKC(ctx, clnas_plan_set_params(plan, p));
    double t0 = clnas_now();
    OKC(ctx, clnas_plan_forward(plan, x));
    OKC(ctx, clnas_plan_read_logits(plan, lg));
    OKC(ctx, clnas_plan_backward_host(plan, S, dl, pg, dx));
    fprintf(stderr, "  DARTS-like supernet %dx%d: %d layers, %zu parameters, device fwd+bwd %.3f s\n", hw, hw,
            net->nlayers, np, clnas_now() - t0);
    cr_assert_eq(clnas_ref_forward(net, B, pd, xd, lgd), CLNAS_OK);
    for (size_t i = 0; i < nl; i++) tmp[i] = lg[i];
    check("DARTS-like logits", tmp, lgd, nl, 1e-5);
    for (int s = 0; s < S; s++) {
        cr_assert_eq(clnas_ref_backward(net, B, pd, xd, dlall + s * nl, pgd, dxd), CLNAS_OK);
        for (size_t i = 0; i < np; i++) tmp[i] = pg[s * np + i];
        check("  parameter gradients", tmp, pgd, np, 1e-4);
        for (size_t i = 0; i < nx; i++) tmp[i] = dx[s * nx + i];
        check("  input gradient", tmp, dxd, nx, 1e-4);
    }
    clnas_plan_destroy(plan);
    clnas_net_destroy(net);
    free(x); free(p); free(lg); free(dl); free(pg); free(dx);
    free(xd); free(pd); free(lgd); free(dlall); free(pgd); free(dxd); free(tmp);
}

/* a normal and a reduction cell on an odd 9x9 input (stride 2 to 5x5), batch 2, 2 seeds */
Test(darts_ops, darts_like_supernet_on_device_matches_host_reference)
{
    darts_like_vs_reference(9, 2, 2);
    setenv("CLNAS_FUSE", "0", 1);
    darts_like_vs_reference(9, 2, 2);
    unsetenv("CLNAS_FUSE");
}

/* A node sum with more than 32 inputs (DARTS's last node: 5 edges x 7 ops = 35) whose inputs'
 * gradients the sum writes first: every input keeps its own overwrite-or-add decision (a 32-bit
 * mask would wrap input 34 onto input 2) */
Test(darts_ops, wide_sums_keep_every_input_gradient)
{
    clnas_net *n = graph_new(2, 5, 5);
    int a = graph_conv(n, 0, 3, 3, 1, 1, "a");
    int ins[40];
    float coef[40];
    for (int j = 0; j < 40; j++) {
        /* maxpool outputs: their gradients are not aliased into the sum, the sum writes them */
        ins[j] = j % 3 == 2 ? graph_dwconv(n, a, 3, 1, 1, "d%d", j) : graph_maxpool(n, a, 3, 1, 1, "m%d", j);
        coef[j] = 0.1f + 0.05f * (float)j;
    }
    int s = graph_sum(n, 40, ins, coef, 3, 5, 5, "wide");
    /* input 34 also feeds a later layer, which writes its gradient first: the wide sum must add
       to it while it overwrites input 2's */
    const int late[2] = {s, ins[34]};
    const float lc[2] = {1.0f, -0.7f};
    s = graph_sum(n, 2, late, lc, 3, 5, 5, "late");
    int b = graph_relu(n, s, "r");
    b = graph_gap(n, b, "gap");
    b = graph_linear(n, b, 4, 1, "fc");
    char err[256];
    cr_assert_eq(graph_finish(n, b, err, sizeof err), CLNAS_OK, "%s", err);
    clnas_ctx *ctx = tu_ctx();
    const int B = 2, S = 2;
    const size_t nx = (size_t)B * 50, np = clnas_net_nparams(n), nl = (size_t)B * 4;
    float *x = malloc(nx * sizeof *x), *p = malloc(np * sizeof *p), *dl = malloc(S * nl * sizeof *dl);
    float *pg = malloc(S * np * sizeof *pg), *dx = malloc(S * nx * sizeof *dx);
    double *xd = tu_dalloc(nx), *pd = tu_dalloc(np), *dld = tu_dalloc(S * nl), *pgd = tu_dalloc(np), *dxd = tu_dalloc(nx), *tmp = tu_dalloc(np);
    tu_fill_rounded(xd, nx, 151, -2, 2);
    for (size_t i = 0; i < nx; i++) x[i] = (float)xd[i];
    clnas_net_init_params(n, 6, 0, CLNAS_INIT_PYTORCH, p);
    for (size_t i = 0; i < np; i++) pd[i] = p[i];
    tu_fill_rounded(dld, S * nl, 152, -1, 1);
    for (size_t i = 0; i < S * nl; i++) dl[i] = (float)dld[i];
    clnas_plan *plan = NULL;
    OKC(ctx, clnas_plan_create(ctx, n, B, S, CLNAS_PLAN_PARAM_GRADS, &plan));
    OKC(ctx, clnas_plan_set_params(plan, p));
    OKC(ctx, clnas_plan_forward(plan, x));
    OKC(ctx, clnas_plan_backward_host(plan, S, dl, pg, dx));
    for (int sd = 0; sd < S; sd++) {
        cr_assert_eq(clnas_ref_backward(n, B, pd, xd, dld + sd * nl, pgd, dxd), CLNAS_OK);
        for (size_t i = 0; i < np; i++) tmp[i] = pg[sd * np + i];
        check("wide sum: parameter gradients", tmp, pgd, np, 1e-4);
    }
    clnas_plan_destroy(plan);
    clnas_net_destroy(n);
    free(x); free(p); free(dl); free(pg); free(dx); free(xd); free(pd); free(dld); free(pgd); free(dxd); free(tmp);
}
