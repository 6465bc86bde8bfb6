/* vit.h - the vision-transformer ops (As-ViT, issue 10), with the conventions of ops.h
 * (double host reference, OpenCL forward, S-seed OpenCL backward; offsets in floats;
 * activations shared by the seeds, activation gradients [S][...]; parameter gradients of seed
 * s at off + s*g_ld, overwritten). Token tensors are [rows][d] with rows = batch * tokens
 * (graph.h, "Token layout").
 *
 * accumulate: the device backwards add into dx when it is nonzero and overwrite dx without
 * reading it when it is 0 (the executor's first-contribution schedule); the references always
 * add. A dx whose clnas_dt has m == NULL is not computed (a layer reading the network input).
 * Kernels: cl/vit.cl; GEMMs through CLBlast (runtime/gemm.c). */
#ifndef CLNAS_OPS_VIT_H
#define CLNAS_OPS_VIT_H

#include "ops/ops.h"

/* ---------------- LayerNorm over the last dimension ----------------
 * y[r][j] = gamma[j] (x[r][j] - mean_r) invstd_r + beta[j], invstd_r = 1/sqrt(var_r + eps),
 * var the biased variance over the d features of row r. stats = [rows][2] (mean, invstd),
 * written by the forward and read by the backward. */
void clnas_ln_fwd_ref(int rows, int d, double eps, const double *x, const double *gamma,
                      const double *beta, double *y, double *stats);
void clnas_ln_bwd_ref(int rows, int d, const double *x, const double *gamma, const double *stats,
                      const double *dy, double *dx /* acc */, double *dgamma, double *dbeta);
clnas_status clnas_ln_fwd(clnas_ctx *ctx, int rows, int d, double eps, clnas_dt x, clnas_dt gamma,
                          clnas_dt beta, clnas_dt y, clnas_dt stats);
clnas_status clnas_ln_bwd(clnas_ctx *ctx, int rows, int d, int S, clnas_dt x, clnas_dt gamma,
                          clnas_dt stats, clnas_dt dy, clnas_dt dx, int accumulate, clnas_dt dgamma,
                          clnas_dt dbeta, size_t g_ld);

/* ---------------- token linear: y[r][o] = sum_i x[r][i] W[o][i] (+ b[o]) ----------------
 * b (reference: NULL; device: m == NULL) means no bias; then db is not written either. */
void clnas_tlinear_fwd_ref(int rows, int in, int out, const double *x, const double *W,
                           const double *b, double *y);
void clnas_tlinear_bwd_ref(int rows, int in, int out, const double *x, const double *W,
                           const double *dy, double *dx /* acc, NULL: skip */, double *dW,
                           double *db /* NULL: no bias */);
clnas_status clnas_tlinear_fwd(clnas_ctx *ctx, int rows, int in, int out, clnas_dt x, clnas_dt W,
                               clnas_dt b, clnas_dt y);
clnas_status clnas_tlinear_bwd(clnas_ctx *ctx, int rows, int in, int out, int S, clnas_dt x,
                               clnas_dt W, clnas_dt dy, clnas_dt dx, int accumulate, clnas_dt dW,
                               clnas_dt db, size_t g_ld);

/* ---------------- elementwise activations ----------------
 * GELU: x/2 (1 + erf(x/sqrt 2)) (exact form); TANH: tanh x. The backward uses the forward
 * input x (shared by the seeds). */
typedef enum clnas_act { CLNAS_ACT_GELU = 0, CLNAS_ACT_TANH = 1 } clnas_act;
void clnas_act_fwd_ref(clnas_act a, size_t count, const double *x, double *y);
void clnas_act_bwd_ref(clnas_act a, size_t count, const double *x, const double *dy, double *dx /* acc */);
clnas_status clnas_act_fwd(clnas_ctx *ctx, clnas_act a, size_t count, clnas_dt x, clnas_dt y);
clnas_status clnas_act_bwd(clnas_ctx *ctx, clnas_act a, size_t count, int S, clnas_dt x, clnas_dt dy,
                           clnas_dt dx, int accumulate);

/* ---------------- window multi-head self-attention core (graph.h, graph_attention) ----------
 * qkv: [n][h*w][3c] tokens, y: [n][h*w][c], probs: [n][nwin][heads][wn][wn] (wn = wh*ww,
 * window-major; the softmax rows, saved by the forward). */
typedef struct clnas_attn_shape {
    int n, h, w, c, heads, wh, ww;
    int hd, wn, nwin;  /* derived: head dim c/heads, tokens per window, windows per sample */
    double scale;      /* hd^-0.5 */
} clnas_attn_shape;
/* Fills the derived fields; returns 0 when the shape is invalid (sizes < 1, heads not
 * dividing c, the window not dividing the grid). */
int clnas_attn_shape_init(clnas_attn_shape *s, int n, int h, int w, int c, int heads, int wh, int ww);
size_t clnas_attn_probs_floats(const clnas_attn_shape *s); /* per batch: n * h*w * heads * wn */
void clnas_attn_fwd_ref(const clnas_attn_shape *s, const double *qkv, double *y, double *probs);
void clnas_attn_bwd_ref(const clnas_attn_shape *s, const double *qkv, const double *probs,
                        const double *dy, double *dqkv /* acc */);
/* ws: clnas_attn_workspace_floats(s, S) floats of scratch. */
size_t clnas_attn_workspace_floats(const clnas_attn_shape *s, int S);
clnas_status clnas_attn_fwd(clnas_ctx *ctx, const clnas_attn_shape *s, clnas_dt qkv, clnas_dt y,
                            clnas_dt probs, clnas_dt ws);
clnas_status clnas_attn_bwd(clnas_ctx *ctx, const clnas_attn_shape *s, int S, clnas_dt qkv,
                            clnas_dt probs, clnas_dt dy, clnas_dt dqkv, int accumulate, clnas_dt ws);

/* ---------------- unfold (ZeroPad2d + nn.Unfold) into tokens (graph.h, graph_unfold) ------ */
typedef struct clnas_unfold_shape {
    int n, c, h, w, k, stride, pad, pad_hi;
    int tok_in;       /* input layout: 1 tokens [n][h*w][c], 0 NCHW */
    int hout, wout;   /* derived */
} clnas_unfold_shape;
/* Fills hout/wout; returns 0 when the shape is invalid. */
int clnas_unfold_shape_init(clnas_unfold_shape *s, int n, int c, int h, int w, int k, int stride,
                            int pad, int pad_hi, int tok_in);
void clnas_unfold_fwd_ref(const clnas_unfold_shape *s, const double *x, double *y);
void clnas_unfold_bwd_ref(const clnas_unfold_shape *s, const double *dy, double *dx /* acc */);
clnas_status clnas_unfold_fwd(clnas_ctx *ctx, const clnas_unfold_shape *s, clnas_dt x, clnas_dt y);
clnas_status clnas_unfold_bwd(clnas_ctx *ctx, const clnas_unfold_shape *s, int S, clnas_dt dy,
                              clnas_dt dx, int accumulate);

/* ---------------- token mean-pool: y[b][j] = mean_t x[b][t][j] ---------------- */
void clnas_tokpool_fwd_ref(int n, int t, int d, const double *x, double *y);
void clnas_tokpool_bwd_ref(int n, int t, int d, const double *dy, double *dx /* acc */);
clnas_status clnas_tokpool_fwd(clnas_ctx *ctx, int n, int t, int d, clnas_dt x, clnas_dt y);
clnas_status clnas_tokpool_bwd(clnas_ctx *ctx, int n, int t, int d, int S, clnas_dt dy, clnas_dt dx,
                               int accumulate);

/* ---------------- forward-mode derivatives (JVP: tangent propagation) ----------------
 * For a forward input x (and the state its forward saved) and a tangent dx of x, the tangent
 * of the output dy = J(x) dx, J the op's Jacobian w.r.t. its input (parameters fixed). One
 * tangent (no seeds). The ops that are linear in x need no function of their own (their
 * forward without bias maps the tangent); GELU/tanh's tangent is their backward with
 * dy := dx (a diagonal Jacobian). */
/* LayerNorm: dy = gamma invstd (dx - mean(dx) - xhat mean(xhat dx)) per row. */
void clnas_ln_jvp_ref(int rows, int d, const double *x, const double *gamma, const double *stats,
                      const double *dx, double *dy);
clnas_status clnas_ln_jvp(clnas_ctx *ctx, int rows, int d, clnas_dt x, clnas_dt gamma, clnas_dt stats,
                          clnas_dt dx, clnas_dt dy);
/* Attention: with S = scale q k^T and P = softmax(S), dS = scale (dq k^T + q dk^T),
 * dP = P (dS - rowsum(P dS)), dy = dP v + P dv. ws: clnas_attn_workspace_floats(s, 1). */
void clnas_attn_jvp_ref(const clnas_attn_shape *s, const double *qkv, const double *probs,
                        const double *dqkv, double *dy);
clnas_status clnas_attn_jvp(clnas_ctx *ctx, const clnas_attn_shape *s, clnas_dt qkv, clnas_dt probs,
                            clnas_dt dqkv, clnas_dt dy, clnas_dt ws);

#endif
