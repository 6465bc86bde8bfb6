/* ops.h - the layer operations of clnas, each with three faces:
 *   a host reference in double (the oracle: plain loops, double accumulation),
 *   an OpenCL forward, and an OpenCL backward.
 *
 * Layout and conventions (all ops):
 * - Activations are NCHW float32, contiguous. A device tensor is a clnas_dt: a cl_mem
 *   plus an offset counted in floats (not bytes), so many tensors share one allocation.
 * - Backward runs S "seeds" at once against ONE forward pass: gradient tensors of
 *   activations are [S][N][C][H][W], contiguous, seed stride = N*C*H*W. The forward
 *   activations (x, y, BN statistics) are shared by all seeds.
 * - Parameter gradients of seed s are written at dW.off + s*g_ld (floats); g_ld is the
 *   row stride of the Jacobian G, so one row of G collects one seed's gradients.
 * - bwd_data ACCUMULATES into dx (the caller zeroes it: several consumers of one tensor
 *   add their contributions); parameter gradients are OVERWRITTEN.
 * - Host references process one seed (S = 1); callers loop over seeds.
 * - Nothing here allocates device memory: scratch comes from the caller (ws arguments).
 */
#ifndef CLNAS_OPS_H
#define CLNAS_OPS_H

#include <limits.h>
#include <stddef.h>
#include "internal.h"

typedef struct clnas_dt {
    cl_mem m;
    size_t off; /* in floats */
} clnas_dt;

static inline clnas_dt clnas_dt_at(clnas_dt t, size_t floats) { t.off += floats; return t; }

/* Kernels take offsets and extents as int: 1 when [off, off + extent) stays below INT_MAX. */
static inline int clnas_fits_int(size_t off, size_t extent)
{
    return off <= (size_t)INT_MAX && extent <= (size_t)INT_MAX - off;
}

/* ---------------- convolution (no bias, groups 1, dilation 1) ---------------- */
typedef struct clnas_conv_shape {
    int n, cin, h, w;      /* input */
    int cout, k, stride, pad;
    int hout, wout;        /* derived by clnas_conv_shape_init */
    int ycs;               /* storage channels of y / dy: cout (init), more for a channel slice
                              (see "channel slices" below; then the generic kernels run) */
} clnas_conv_shape;
void clnas_conv_shape_init(clnas_conv_shape *s, int n, int cin, int h, int w, int cout, int k,
                           int stride, int pad);

void clnas_conv_fwd_ref(const clnas_conv_shape *s, const double *x, const double *w, double *y);
void clnas_conv_bwd_data_ref(const clnas_conv_shape *s, const double *w, const double *dy,
                             double *dx /* accumulated */);
void clnas_conv_bwd_weight_ref(const clnas_conv_shape *s, const double *x, const double *dy,
                               double *dw /* overwritten, [cout][cin][k][k] */);

clnas_status clnas_conv_fwd(clnas_ctx *ctx, const clnas_conv_shape *s, clnas_dt x, clnas_dt w,
                            clnas_dt y);
clnas_status clnas_conv_bwd_data(clnas_ctx *ctx, const clnas_conv_shape *s, int S, clnas_dt w,
                                 clnas_dt dy, clnas_dt dx);
/* The same with two options: accumulate == 0 overwrites dx without reading it (no zeroing
 * needed); relu_in.m != NULL says the convolution's input x was relu(relu_in) (relu_in:
 * [N][cin][h][w], shared by the seeds) and makes dx the gradient of relu_in instead, i.e.
 * dx (+)= (relu_in > 0 ? dL/dx : 0), fusing the ReLU backward. */
clnas_status clnas_conv_bwd_data_ex(clnas_ctx *ctx, const clnas_conv_shape *s, int S, clnas_dt w,
                                    clnas_dt dy, clnas_dt dx, int accumulate, clnas_dt relu_in);
/* ws: at least clnas_conv_workspace_floats(s, S) floats of scratch (partial sums). */
clnas_status clnas_conv_bwd_weight(clnas_ctx *ctx, const clnas_conv_shape *s, int S, clnas_dt x,
                                   clnas_dt dy, clnas_dt dw, size_t g_ld, clnas_dt ws);
size_t clnas_conv_workspace_floats(const clnas_conv_shape *s, int S);

/* ---------------- BatchNorm2d, train mode (batch statistics, biased variance) ---------------- */
typedef struct clnas_bn_shape {
    int n, c, h, w;
    double eps; /* 1e-5 in NB201 */
} clnas_bn_shape;

/* mean[c], invstd[c] = 1/sqrt(var_biased + eps) are outputs kept for the backward. */
void clnas_bn_fwd_ref(const clnas_bn_shape *s, const double *x, const double *gamma,
                      const double *beta, double *y, double *mean, double *invstd);
void clnas_bn_bwd_ref(const clnas_bn_shape *s, const double *x, const double *gamma,
                      const double *mean, const double *invstd, const double *dy,
                      double *dx /* accumulated */, double *dgamma, double *dbeta /* overwritten */);

/* stats: 2*C floats, [0,C) = mean, [C,2C) = invstd; written by fwd, read by bwd. */
clnas_status clnas_bn_fwd(clnas_ctx *ctx, const clnas_bn_shape *s, clnas_dt x, clnas_dt gamma,
                          clnas_dt beta, clnas_dt y, clnas_dt stats);
clnas_status clnas_bn_bwd(clnas_ctx *ctx, const clnas_bn_shape *s, int S, clnas_dt x,
                          clnas_dt gamma, clnas_dt stats, clnas_dt dy, clnas_dt dx,
                          clnas_dt dgamma, clnas_dt dbeta, size_t g_ld);
/* The same with the output gradient read as dy_scale * dy, and dx accumulated (accumulate != 0)
 * or overwritten without being read (accumulate == 0). The plan uses it to read an edge-sum
 * gradient in place of a scaled copy, and to skip zeroing a gradient this op writes first. */
clnas_status clnas_bn_bwd_ex(clnas_ctx *ctx, const clnas_bn_shape *s, int S, clnas_dt x,
                             clnas_dt gamma, clnas_dt stats, clnas_dt dy, float dy_scale,
                             clnas_dt dx, int accumulate, clnas_dt dgamma, clnas_dt dbeta,
                             size_t g_ld);
/* The same in train mode (eval = 0) or in eval mode (eval != 0: the statistics are constants, dx =
 * gamma * invstd * dy_scale * dy; clnas_bn_eval_bwd). */
clnas_status clnas_bn_bwd_mode(clnas_ctx *ctx, const clnas_bn_shape *s, int S, clnas_dt x,
                               clnas_dt gamma, clnas_dt stats, clnas_dt dy, float dy_scale,
                               clnas_dt dx, int accumulate, clnas_dt dgamma, clnas_dt dbeta,
                               size_t g_ld, int eval);

/* ---------------- ReLU ---------------- */
void clnas_relu_fwd_ref(size_t count, const double *x, double *y);
void clnas_relu_bwd_ref(size_t count, const double *x, const double *dy, double *dx /* acc */);
clnas_status clnas_relu_fwd(clnas_ctx *ctx, size_t count, clnas_dt x, clnas_dt y);
/* count = elements of one seed (N*C*H*W); x is the forward input (shared by seeds). */
clnas_status clnas_relu_bwd(clnas_ctx *ctx, size_t count, int S, clnas_dt x, clnas_dt dy,
                            clnas_dt dx);
/* accumulate == 0: dx = the gradient (dx not read) instead of dx += it. */
clnas_status clnas_relu_bwd_ex(clnas_ctx *ctx, size_t count, int S, clnas_dt x, clnas_dt dy,
                               clnas_dt dx, int accumulate);

/* ---------------- ReLU sign bits (linear-region codes) ----------------
 * For `batch` samples of `count` values each (x: a ReLU's input, [batch][count]): bit b of word
 * w of sample s, out[s*out_ld + w] (w < ceil(count/32)), is x[s][32w + b] > 0; the bits past
 * count are 0. *flag (a device int; host reference: an int) becomes 1 when any x is NaN or
 * infinite and is otherwise left as it was. out is counted in 32-bit words (a clnas_dt's offset
 * unit is 4 bytes, so word buffers share the convention). */
void clnas_relu_sign_pack_ref(size_t count, int batch, const double *x, uint32_t *out, size_t out_ld, int *flag);
clnas_status clnas_relu_sign_pack(clnas_ctx *ctx, size_t count, int batch, clnas_dt x, clnas_dt out,
                                  size_t out_ld, clnas_dt flag);
/* The same with the samples of x x_ld >= count floats apart (a channel slice of a concatenation). */
clnas_status clnas_relu_sign_pack_ld(clnas_ctx *ctx, size_t count, int batch, clnas_dt x, size_t x_ld, clnas_dt out,
                                     size_t out_ld, clnas_dt flag);

/* ---------------- average pooling, count_include_pad = false ---------------- */
typedef struct clnas_pool_shape {
    int n, c, h, w, k, stride, pad;
    int hout, wout; /* derived */
    int xcs, ycs;   /* channels of the storage x / y (and dx / dy) live in: c, set by
                       clnas_pool_shape_init, unless the tensor is a channel slice (below) */
} clnas_pool_shape;
void clnas_pool_shape_init(clnas_pool_shape *s, int n, int c, int h, int w, int k, int stride,
                           int pad);
void clnas_avgpool_fwd_ref(const clnas_pool_shape *s, const double *x, double *y);
void clnas_avgpool_bwd_ref(const clnas_pool_shape *s, const double *dy, double *dx /* acc */);
clnas_status clnas_avgpool_fwd(clnas_ctx *ctx, const clnas_pool_shape *s, clnas_dt x, clnas_dt y);
clnas_status clnas_avgpool_bwd(clnas_ctx *ctx, const clnas_pool_shape *s, int S, clnas_dt dy,
                               clnas_dt dx);
/* dx (+)= the adjoint applied to dy_scale * dy; accumulate == 0 overwrites dx without reading it. */
clnas_status clnas_avgpool_bwd_ex(clnas_ctx *ctx, const clnas_pool_shape *s, int S, clnas_dt dy,
                                  float dy_scale, clnas_dt dx, int accumulate);
/* The same, plus skip_scale * dy added to dx in the same pass: the gradient of an identity edge
 * from the pool's input into the sum the pool feeds (NB201's skip_connect next to avg_pool_3x3).
 * Needs hout == h and wout == w when skip_scale != 0 (CLNAS_E_SHAPE otherwise). */
clnas_status clnas_avgpool_bwd_skip(clnas_ctx *ctx, const clnas_pool_shape *s, int S, clnas_dt dy,
                                    float dy_scale, float skip_scale, clnas_dt dx, int accumulate);

/* Max pooling (PyTorch MaxPool2d; out-of-range taps never win). The backward gives each
 * output's gradient to the first maximum of its window in row-major scan order (PyTorch's
 * argmax; a NaN counts as a maximum, and a later NaN replaces an earlier one, as in PyTorch),
 * found again from x (no index tensor is stored). dx is [S][N][C][H][W] like dy. */
void clnas_maxpool_fwd_ref(const clnas_pool_shape *s, const double *x, double *y);
void clnas_maxpool_bwd_ref(const clnas_pool_shape *s, const double *x, const double *dy, double *dx /* acc */);
/* idx[n][c][oh][ow] = the winner (h*W + w in its plane) of every window, by that rule (-1: no tap). */
void clnas_maxpool_argmax_ref(const clnas_pool_shape *s, const double *x, int *idx);
clnas_status clnas_maxpool_fwd(clnas_ctx *ctx, const clnas_pool_shape *s, clnas_dt x, clnas_dt y);
/* The max pool frozen at a reference input xref (x's layout): y = x at the winner of the same
 * window of xref (at x = xref the plain forward; elsewhere a gather, linear in x, whose gradient
 * is clnas_maxpool_bwd given xref). grasp's Hessian-vector product (clnas_plan_freeze). */
void clnas_maxpool_fwd_frozen_ref(const clnas_pool_shape *s, const double *xref, const double *x, double *y);
clnas_status clnas_maxpool_fwd_frozen(clnas_ctx *ctx, const clnas_pool_shape *s, clnas_dt xref, clnas_dt x,
                                      clnas_dt y);
/* accumulate == 0 overwrites dx without reading it. ws: clnas_maxpool_workspace_floats(s)
 * floats of scratch (the windows' winners, as ints). */
clnas_status clnas_maxpool_bwd(clnas_ctx *ctx, const clnas_pool_shape *s, int S, clnas_dt x, clnas_dt dy,
                               clnas_dt dx, int accumulate, clnas_dt ws);
size_t clnas_maxpool_workspace_floats(const clnas_pool_shape *s);

/* ---------------- channel slices ----------------
 * A tensor of c channels may live inside a storage of cs >= c channels (a concatenation's
 * slice, graph_concat): element (n, ch, h, w) is at off + ((n*cs + ch)*H + h)*W + w, with off
 * the slice's first element; gradients likewise with n running over S*N (seed-major). The
 * shapes below carry xcs / ycs for that (their init sets them to c); the host references
 * always take contiguous tensors (cs = c). The pooling kernels (avg and max) and the ops
 * below accept slices; convolution accepts an output slice (clnas_conv_shape.ycs). */

/* ---------------- depthwise convolution (groups = C, no bias, dilation, zero padding) ---------------- */
typedef struct clnas_dwconv_shape {
    int n, c, h, w, k, stride, dil, pad;
    int hout, wout; /* derived: (h + 2 pad - dil (k-1) - 1) / stride + 1 */
    int xcs, ycs;   /* storage channels of x / y (c unless a slice) */
} clnas_dwconv_shape;
/* pad = (k-1)*dil/2, DARTS's "same" padding. */
void clnas_dwconv_shape_init(clnas_dwconv_shape *s, int n, int c, int h, int w, int k, int stride, int dil);
void clnas_dwconv_fwd_ref(const clnas_dwconv_shape *s, const double *x, const double *w, double *y);
void clnas_dwconv_bwd_data_ref(const clnas_dwconv_shape *s, const double *w, const double *dy, double *dx /* acc */);
void clnas_dwconv_bwd_weight_ref(const clnas_dwconv_shape *s, const double *x, const double *dy,
                                 double *dw /* overwritten, [c][k][k] */);
clnas_status clnas_dwconv_fwd(clnas_ctx *ctx, const clnas_dwconv_shape *s, clnas_dt x, clnas_dt w, clnas_dt y);
/* dx (+)= over S seeds; accumulate == 0 overwrites dx without reading it. */
clnas_status clnas_dwconv_bwd_data(clnas_ctx *ctx, const clnas_dwconv_shape *s, int S, clnas_dt w, clnas_dt dy,
                                   clnas_dt dx, int accumulate);
/* dw of seed s at dw.off + s*g_ld (g_ld >= c*k*k), overwritten. */
clnas_status clnas_dwconv_bwd_weight(clnas_ctx *ctx, const clnas_dwconv_shape *s, int S, clnas_dt x, clnas_dt dy,
                                     clnas_dt dw, size_t g_ld);

/* ---------------- elementwise maps over (possibly sliced) tensors ---------------- */
typedef struct clnas_map_shape {
    int n, c, h, w; /* one seed's samples */
    int xcs, ycs;   /* storage channels of x / y */
} clnas_map_shape;
static inline clnas_map_shape clnas_map_shape_make(int n, int c, int h, int w, int xcs, int ycs)
{
    clnas_map_shape m = {n, c, h, w, xcs, ycs};
    return m;
}
/* FactorizedReduce's shifted input: y[n][ch][i][j] = x[n][ch][i+1][j+1], 0 in the last row and
 * column (F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))). Backward: dx[i][j] (+)= dy[i-1][j-1]. */
void clnas_shift_fwd_ref(int n, int c, int h, int w, const double *x, double *y);
void clnas_shift_bwd_ref(int n, int c, int h, int w, const double *dy, double *dx /* acc */);
clnas_status clnas_shift_fwd(clnas_ctx *ctx, const clnas_map_shape *m, clnas_dt x, clnas_dt y);
clnas_status clnas_shift_bwd(clnas_ctx *ctx, const clnas_map_shape *m, int S, clnas_dt dy, clnas_dt dx, int accumulate);
/* ReLU over slices: y = max(x, 0); backward dx (+)= x > 0 ? dy : 0 (x shared by the S seeds). */
clnas_status clnas_relu_sl_fwd(clnas_ctx *ctx, const clnas_map_shape *m, clnas_dt x, clnas_dt y);
clnas_status clnas_relu_sl_bwd(clnas_ctx *ctx, const clnas_map_shape *m, int S, clnas_dt x, clnas_dt dy,
                               clnas_dt dx, int accumulate);
/* The ReLU frozen at a reference input xref (x's layout and offsets' meaning): y = xref > 0 ? x : 0
 * (clnas_relu_bwd_ref's gate; at x = xref it is clnas_relu_sl_fwd). Its backward is
 * clnas_relu_sl_bwd given xref. */
clnas_status clnas_relu_sl_fwd_frozen(clnas_ctx *ctx, const clnas_map_shape *m, clnas_dt xref, clnas_dt x, clnas_dt y);
/* y = a*x + b*y over `nb` samples (S*N for gradients) of a slice; b == 0: y not read; a == 0:
 * x not read (so a == b == 0 zeroes y). */
clnas_status clnas_axpby_sl(clnas_ctx *ctx, const clnas_map_shape *m, int nb, float a, clnas_dt x, float b, clnas_dt y);

/* ---------------- global average pool: [N][C][H][W] -> [N][C] ---------------- */
void clnas_gap_fwd_ref(int n, int c, int hw, const double *x, double *y);
void clnas_gap_bwd_ref(int n, int c, int hw, const double *dy, double *dx /* acc */);
clnas_status clnas_gap_fwd(clnas_ctx *ctx, int n, int c, int hw, clnas_dt x, clnas_dt y);
clnas_status clnas_gap_bwd(clnas_ctx *ctx, int n, int c, int hw, int S, clnas_dt dy, clnas_dt dx);

/* ---------------- linear: y[n][o] = sum_i x[n][i] W[o][i] + b[o] ---------------- */
void clnas_linear_fwd_ref(int n, int in, int out, const double *x, const double *W,
                          const double *b, double *y);
void clnas_linear_bwd_ref(int n, int in, int out, const double *x, const double *W,
                          const double *dy, double *dx /* acc */, double *dW, double *db);
clnas_status clnas_linear_fwd(clnas_ctx *ctx, int n, int in, int out, clnas_dt x, clnas_dt W,
                              clnas_dt b, clnas_dt y);
clnas_status clnas_linear_bwd(clnas_ctx *ctx, int n, int in, int out, int S, clnas_dt x,
                              clnas_dt W, clnas_dt dy, clnas_dt dx, clnas_dt dW, clnas_dt db,
                              size_t g_ld);

/* ---------------- y = a*x + b*y over `count` floats (edge sums, both directions) ---------------- */
clnas_status clnas_axpby(clnas_ctx *ctx, size_t count, float a, clnas_dt x, float b, clnas_dt y);

/* ---------------- one-hot seed rows for the NTK backward ----------------
 * dlogits[s][n][k] = (n == row0 + s) ? 1 : 0 for s in [0,S): the gradient of the sum of the
 * logits of sample row0+s. */
clnas_status clnas_seed_rows(clnas_ctx *ctx, int S, int n, int k, int row0, clnas_dt dlogits);

#endif
