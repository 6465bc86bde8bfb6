/* graph.h - the layer graph every network is (the body of clnas_net), the functions a search
 * space's builder emits it with, and the body of clnas_plan. Shared by the builders
 * (src/spaces/), the device executor (plan.c), the host reference (ref.c) and the metrics.
 *
 * Nothing here knows a search space: a builder (spaces/nb201.c, ...) turns its own notation
 * into calls of graph_conv(), graph_bn(), ... and graph_finish(); net.h documents the contract. */
#ifndef CLNAS_GRAPH_H
#define CLNAS_GRAPH_H

#include "clnas/net.h"
#include "internal.h"
#include "ops/ops.h"
#include "ops/vit.h"

/* Layer kinds. A new op is: a kind here, its kernels and reference in src/ops/, one case in
 * the executor (plan.c), the host reference (ref.c) and, if it has parameters, init (net.c). */
typedef enum layer_kind {
    L_CONV, L_BN, L_RELU, L_AVGPOOL, L_SUM, L_GAP, L_LINEAR,
    L_DWCONV,  /* depthwise k x k conv (graph_dwconv) */
    L_MAXPOOL, /* k x k max pool (graph_maxpool) */
    L_SHIFT,   /* FactorizedReduce's shifted input (graph_shift) */
    L_CONCAT,  /* channel concatenation by aliasing (graph_concat); no kernel */
    /* vision-transformer ops (As-ViT, issue 10): token tensors, see "Token layout" below */
    L_LN, L_TLINEAR, L_GELU, L_TANH, L_ATTN, L_UNFOLD, L_TOKPOOL
} layer_kind;
#define L_NKINDS ((int)L_TOKPOOL + 1) /* keep it the last kind + 1 (a define, so -Wswitch still checks every switch) */

/* BatchNorm's epsilon (PyTorch's default, TE-NAS's value): the one place it is written. */
#define CLNAS_BN_EPS 1e-5
/* LayerNorm's epsilon (nn.LayerNorm's default, As-ViT's value). */
#define CLNAS_LN_EPS 1e-5

/* Token layout (the vision-transformer kinds L_LN ... L_TOKPOOL).
 * A token tensor of a batch is [B][N tokens][D] row-major: each token's D features are
 * contiguous (PyTorch's B, L, C). Its tensor_desc has tok = 1, c = D and h x w = the token
 * grid (N = h*w, token t = y*w + x, as flatten(2).transpose(1, 2) of a B,C,H,W map orders
 * them), so tensor_size() and the arena offsets are those of any tensor. A tensor with
 * tok = 0 is NCHW. Elementwise kinds (relu, gelu, tanh, sum) keep the layout of their input;
 * conv, bn, avgpool and gap need NCHW, the token kinds need tokens (L_UNFOLD reads either and
 * writes tokens). At h = w = 1 both layouts are the same [B][D]. */
#define MAX_SUM_IN 64

typedef struct tensor_desc {
    int c, h, w;       /* per sample */
    int tok;           /* 1: token layout [N][h*w][c] (see above); 0: NCHW */
    int aux;           /* 1: state a forward saves for its backward (layer.aux): no gradient slot */
    size_t off;        /* offset (floats, per sample-batch) in the activation arena: off * batch */
    int parent;        /* -1, or the concatenation this tensor is a channel slice of (graph_concat) */
    int c0;            /* first channel of the slice in parent (0 when parent < 0) */
} tensor_desc;

typedef struct layer {
    layer_kind kind;
    int in, out;                 /* tensor ids (SUM: ins[]) */
    int nin;
    int ins[MAX_SUM_IN];
    float coef[MAX_SUM_IN];
    int k, stride, pad, cout;    /* conv / pool / linear */
    int dil;                     /* dwconv dilation */
    size_t w_off, w_len;         /* weight: conv W, BN gamma, linear W (offsets into params) */
    size_t b_off, b_len;         /* bias: BN beta, linear bias (0 length if none) */
    int w_shape[4];
    size_t stats_off;            /* BN: offset of [mean|invstd] in the stats arena */
    int aux;                     /* LN, ATTN: tensor id of the state the forward saves for the backward (0: none) */
    int heads, wh, ww;           /* ATTN: heads and the window (wh x ww tokens, dividing the grid) */
    int pad_hi;                  /* UNFOLD: zero padding after (bottom/right); `pad` is before (top/left) */
    int init;                    /* a layer_init rule (0: the network's clnas_init) */
    char name[128];              /* module path, e.g. "cells.0.edges.1<-0.nor_conv_3x3.conv" */
    char desc[192];              /* human description for the summary */
} layer;

struct clnas_net {
    char title[1024];            /* the summary's header lines, written by the builder */
    int ntensors, captensors;
    tensor_desc *tensors;        /* tensor 0 is the input; `output` is what the network returns */
    int nlayers, caplayers;
    layer *layers;
    size_t act_per_sample;       /* sum of c*h*w over tensors */
    size_t grad_per_sample;      /* the same over the tensors with a gradient (not aux): graph_finish lays
                                    those out first, the aux tensors after them */
    size_t nparams, njac;        /* all params; Jacobian params (weights) come first */
    size_t nstats;               /* floats of BN statistics */
    size_t relu_bits;            /* ReLU outputs per sample */
    int output;                  /* tensor id of the output (the logits of a classifier) */
    int nptensors;               /* parameter tensors = layers with w_len, plus those with b_len */
    int finished;                /* graph_finish() succeeded: the graph is immutable */
    int failed;                  /* a builder call failed (message in err) */
    char err[256];
};

/* ---- building (src/model/graph.c) ----
 * graph_new makes a network holding only its input tensor (id 0, c x h x w per sample). Each
 * layer call appends one layer in execution order and returns its output tensor's id, or -1
 * after a failure (out of memory, a tensor id out of range, an output size below 1): the
 * network remembers the first failure and graph_finish reports it, so a builder can chain calls
 * and check once. `name` is the module path (parameter names are name + ".weight"/".bias";
 * the weight generator keys on them); printf-style. */
clnas_net *graph_new(int c, int h, int w); /* NULL when out of memory */
int graph_conv(clnas_net *n, int x, int cout, int k, int stride, int pad, const char *name, ...) CLNAS_PRINTF(7, 8);
int graph_bn(clnas_net *n, int x, const char *name, ...) CLNAS_PRINTF(3, 4);
int graph_relu(clnas_net *n, int x, const char *name, ...) CLNAS_PRINTF(3, 4);
int graph_avgpool(clnas_net *n, int x, int k, int stride, int pad, const char *name, ...) CLNAS_PRINTF(6, 7);
/* out = sum_i coef[i] * ins[i]; all inputs c x h x w; n == 0 gives a zero tensor of that shape. */
int graph_sum(clnas_net *n, int nin, const int *ins, const float *coef, int c, int h, int w, const char *name, ...) CLNAS_PRINTF(8, 9);
int graph_gap(clnas_net *n, int x, const char *name, ...) CLNAS_PRINTF(3, 4);
/* y = x W^T (+ b); x is c x 1 x 1 (or any c x h x w, read as c*h*w features). */
int graph_linear(clnas_net *n, int x, int cout, int bias, const char *name, ...) CLNAS_PRINTF(5, 6);
/* ---- the DARTS kinds ----
 * Depthwise convolution (PyTorch Conv2d with groups = C, no bias): y[c] = w[c] (*) x[c],
 * k x k taps `dil` pixels apart, zero padding (k-1)*dil/2 (the "same" padding DARTS uses), so
 * the output is ceil(H/stride) x ceil(W/stride) for odd k. Weights [C][1][k][k]. */
int graph_dwconv(clnas_net *n, int x, int k, int stride, int dil, const char *name, ...) CLNAS_PRINTF(6, 7);
/* Max pooling (PyTorch MaxPool2d, padding never wins: out-of-range taps are -inf); the
 * backward sends each output's gradient to the first maximum of its window in row-major scan
 * order, as PyTorch does. DARTS: k 3, pad 1, stride 1 or 2. */
int graph_maxpool(clnas_net *n, int x, int k, int stride, int pad, const char *name, ...) CLNAS_PRINTF(6, 7);
/* FactorizedReduce's shifted input: y[c][h][w] = x[c][h+1][w+1], 0 where h+1 = H or w+1 = W
 * (PyTorch's F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))); same shape as x. */
int graph_shift(clnas_net *n, int x, const char *name, ...) CLNAS_PRINTF(3, 4);
/* Channel concatenation without copies: returns a tensor of sum(c_j) channels whose input j
 * occupies channels [c0_j, c0_j + c_j), c0_j = c_0 + ... + c_{j-1} (torch.cat(ins, dim=1)).
 * The inputs become views (tensor_desc.parent/c0): on the device their producer writes, and
 * their consumers read, straight into that slice of the concatenation's storage, so the
 * L_CONCAT layer itself runs nothing in either direction (the slices' gradients are the
 * concatenation's gradient). Rules, checked here and by graph_finish:
 * - every input is the output of a layer (not the network input), is not yet in another
 *   concatenation, appears once, and has the concatenation's H x W;
 * - a view may be produced only by a kind that can write a slice (graph_kind_writes_views)
 *   and consumed only by kinds that can read one (graph_kind_reads_views); today: written by
 *   sum, conv, dwconv, avgpool, maxpool, shift, relu; read by sum, relu, avgpool, maxpool,
 *   dwconv, shift (not by conv, batchnorm, global pool, linear: give those the whole
 *   concatenation, or put a ReLU / sum in between);
 * - the network output is not a view.
 * Builder use (a DARTS cell): nodes[i] = graph_sum(...); ... out = graph_concat(n, 4,
 * nodes + 2, "cells.%d", i); later layers read `out` like any tensor. */
int graph_concat(clnas_net *n, int nin, const int *ins, const char *name, ...) CLNAS_PRINTF(4, 5);
/* Can a layer of this kind write its output into / read its input from a concatenation's
 * channel slice? */
int graph_kind_writes_views(layer_kind k);
int graph_kind_reads_views(layer_kind k);
/* Name of a layer kind ("conv", "dwconv", ...). */
const char *graph_kind_name(layer_kind k);
/* Storage of tensor t: the tensor whose arena region holds it (t itself, or its
 * concatenation), and the channel count of that storage (the stride between samples is
 * storage_c * h * w floats). */
static inline int tensor_storage(const clnas_net *n, int t) { return n->tensors[t].parent >= 0 ? n->tensors[t].parent : t; }

/* ---- vision-transformer layers (tokens in and out unless said otherwise) ----
 * LayerNorm over each token's c features, eps CLNAS_LN_EPS, affine: weight = gamma (c, in
 * the Jacobian), bias = beta (c). The forward saves each token's mean and 1/sqrt(var + eps)
 * (biased variance) in an aux tensor (2 floats per token) for the backward. */
int graph_layernorm(clnas_net *n, int x, const char *name, ...) CLNAS_PRINTF(3, 4);
/* nn.Linear applied to every token: y[t] = W x[t] (+ b), W is cout x c (weight [cout][c]),
 * bias cout when `bias`. c x h x w tokens -> cout x h x w tokens. */
int graph_tlinear(clnas_net *n, int x, int cout, int bias, const char *name, ...) CLNAS_PRINTF(5, 6);
/* GELU, exact erf form (nn.GELU's default): y = x/2 (1 + erf(x/sqrt 2)); any layout. */
int graph_gelu(clnas_net *n, int x, const char *name, ...) CLNAS_PRINTF(3, 4);
/* tanh (As-ViT's head); any layout. */
int graph_tanh(clnas_net *n, int x, const char *name, ...) CLNAS_PRINTF(3, 4);
/* Window multi-head self-attention core, As-ViT/Swin's WindowAttention between its qkv and
 * proj Linears (no shift, no mask, no position bias):
 *   in: the qkv Linear's output, 3C x h x w tokens, features of a token ordered
 *       [3 (q,k,v)][heads][C/heads] (PyTorch's reshape(B_, N, 3, heads, hd));
 *   the grid is cut into (h/wh) x (w/ww) windows of wh x ww tokens (row-major windows,
 *   tokens row-major inside: window_partition), and in each window and head
 *       out = softmax((q * hd^-0.5) k^T) v      (softmax over the keys, hd = C/heads);
 *   out: C x h x w tokens, features [heads][hd] (transpose(1, 2).reshape, window_reverse).
 * Global attention is wh = h, ww = w. wh, ww must divide h, w and heads must divide C. The
 * forward saves the probabilities (heads * wh * ww per token) in an aux tensor. No params. */
int graph_attention(clnas_net *n, int qkv, int heads, int wh, int ww, const char *name, ...) CLNAS_PRINTF(6, 7);
/* nn.Unfold after nn.ZeroPad2d: zero-pads `pad` before (top, left) and `pad_hi` after
 * (bottom, right) on both axes, then takes every k x k patch at stride `stride`; output token
 * (oy, ox) has the c*k*k features [channel][ki][kj] (Unfold's order, = a conv weight's
 * [cout][cin][k][k] flattening). x: NCHW or tokens, c x h x w -> c*k*k x ho x wo tokens,
 * ho = (h + pad + pad_hi - k)/stride + 1. As-ViT's PatchMerging is unfold(k, 2, (k-2)/2,
 * (k-1)/2) -> layernorm -> tlinear(no bias). */
int graph_unfold(clnas_net *n, int x, int k, int stride, int pad, int pad_hi, const char *name, ...) CLNAS_PRINTF(7, 8);
/* As-ViT's patch embedding, nn.Conv2d(c, cout, k, stride, bias) after ZeroPad2d(pad before,
 * pad_hi after): emitted as graph_unfold (name.unfold) + graph_tlinear with bias, the weight
 * shaped cout x c x k x k (the conv's, same values and order) and PyTorch's default conv init
 * (U(+-1/sqrt(c k k)) for weight and bias). x NCHW (the image) -> cout x ho x wo tokens. */
int graph_patch_embed(clnas_net *n, int x, int cout, int k, int stride, int pad, int pad_hi, const char *name, ...) CLNAS_PRINTF(8, 9);
/* Mean over the h*w tokens: c x h x w tokens -> c x 1 x 1 (AdaptiveAvgPool1d(1) of x^T). */
int graph_tokpool(clnas_net *n, int x, const char *name, ...) CLNAS_PRINTF(3, 4);

/* Per-layer initialisation rules (layer.init), overriding the network's clnas_init:
 * LAYER_INIT_TRUNC02 is timm's trunc_normal_(std=.02) (a, b = -2, 2: absolute bounds, 100
 * std away, so in effect N(0, 0.02^2); drawn as such, clamped to [-2, 2]) with a zero bias
 * (As-ViT's _init_weights for every nn.Linear); LAYER_INIT_TORCH is PyTorch's default
 * U(+-1/sqrt(fan_in)) for weight and bias whatever the network's init. LayerNorm is
 * always gamma 1, beta 0. */
typedef enum layer_init { LAYER_INIT_NET = 0, LAYER_INIT_TRUNC02 = 1, LAYER_INIT_TORCH = 2 } layer_init;
/* Sets the init rule of the last layer added. */
void graph_init_rule(clnas_net *n, layer_init rule);

/* Replaces the summary description of the last layer added (printf-style). */
void graph_describe(clnas_net *n, const char *fmt, ...) CLNAS_PRINTF(2, 3);
/* Appends a line to the summary's header. */
void graph_title(clnas_net *n, const char *fmt, ...) CLNAS_PRINTF(2, 3);
/* Marks `output` as the network's output, lays out the parameters (every weight, in layer
 * order, then every bias) and the BN statistics, and freezes the graph. CLNAS_E_NOMEM or
 * CLNAS_E_INVALID_ARG (with the message in err) after a failed builder call. */
clnas_status graph_finish(clnas_net *n, int output, char *err, size_t errlen);

static inline size_t tensor_size(const tensor_desc *t) { return (size_t)t->c * t->h * t->w; }

struct clnas_plan {
    clnas_ctx *ctx;              /* borrowed */
    const clnas_net *net;        /* borrowed: must outlive the plan */
    int batch, seeds;
    cl_mem params;               /* nparams */
    cl_mem act;                  /* act_per_sample * batch */
    cl_mem grad;                 /* grad_per_sample * batch * seeds */
    cl_mem stats;                /* nstats */
    cl_mem ws;                   /* workspace */
    size_t ws_floats;
    cl_mem pgrad;                /* seeds * nparams, only with CLNAS_PLAN_PARAM_GRADS (clnas_plan_backward_host) */
    unsigned flags;
    size_t bytes;
    /* Backward schedule, fixed at plan creation (see plan_schedule in plan.c):
       a tensor whose only consumer is an edge sum gets no gradient tensor of its own: its
       producer reads the root gradient (alias_root) scaled by alias_scale; a ReLU whose only
       consumer is a convolution is folded into that convolution's backward (fuse_relu: the
       ReLU's layer index, its own backward skipped); the first contribution to a gradient
       overwrites it (over: bit 0 for a layer's input, bit j for input j of a sum) so that
       only gradients read before anything is written, or first written by an op that can
       only accumulate, are zeroed. */
    int *alias_root;             /* per tensor: root tensor of the gradient (itself if not aliased) */
    float *alias_scale;          /* per tensor: d tensor = alias_scale * d root */
    int *fuse_relu;              /* per layer: the ReLU folded into this conv's backward, or -1 */
    unsigned char *skip_bwd;     /* per layer: backward done elsewhere (a folded ReLU) */
    uint64_t *over;              /* per layer: contributions that overwrite (see above; bit j: input j of a sum, < MAX_SUM_IN = 64) */
    int *zero_at;                /* per layer: index into zero_list of the first tensor to zero before its backward */
    int *zero_list;              /* tensors whose gradient must be zeroed at that layer */
    float *pool_skip;            /* per layer: for a stride-1 avgpool, the scale of an identity edge from its input
                                    into the same sum, fused into its backward (0: none) */
    uint64_t *skip_fused;        /* per layer: for a sum, the inputs (bit j) whose identity edge a pool adds */
    cl_mem ref_act;              /* frozen (clnas_plan_freeze): the activations of the reference forward; every
                                    ReLU then passes x where its reference input was > 0, every max pool takes
                                    x at its reference input's winner */
    int frozen;
    int skip_conv_wgrad;         /* set by a caller that wants only activation gradients (AZ-NAS's cell
                                    vector-Jacobian products): the backward leaves conv weight gradients unwritten */
    int bn_eval;                 /* clnas_plan_bn_eval: BatchNorm with the fixed statistics in `stats` (eval mode) */
    int profile;                 /* $CLNAS_PROFILE: finish after each op and add up times */
    double prof[2][L_NKINDS];    /* [fwd/bwd][layer_kind] seconds */
    long prof_n[2][L_NKINDS];
    double *prof_layer;          /* $CLNAS_PROFILE=2: [2][nlayers] seconds per layer (fwd, bwd) */
};

/* Device backward of S <= plan->seeds seeds. Before calling, put the output gradients
 * (seed-major [S][batch][outputs]) at clnas_plan_dlogits (e.g. with clnas_seed_rows); every other
 * activation gradient is zeroed by the backward itself, each tensor right before its first
 * contribution (so the zeroed lines are still in cache when they are accumulated into). Writes all nparams parameter gradients of seed s at g.off + s*g_ld
 * (g_ld >= nparams; the Jacobian is the first njac columns) and leaves the activation
 * gradients in plan->grad. The input gradient is computed only when need_input_grad. */
clnas_status clnas_plan_backward(clnas_plan *plan, int S, clnas_dt g, size_t g_ld, int need_input_grad);
clnas_dt clnas_plan_dlogits(const clnas_plan *plan);
/* Offset (floats) of tensor t's activation / seed-0 gradient in plan->act / plan->grad. */
/* A view (graph_concat) lives in its concatenation's region, c0 channels in; its samples
 * (and seeds) are then storage_c * h * w floats apart instead of c * h * w (plan_stride_c). */
static inline size_t plan_act_off(const clnas_plan *p, int t)
{
    const tensor_desc *d = &p->net->tensors[t];
    return p->net->tensors[tensor_storage(p->net, t)].off * (size_t)p->batch + (size_t)d->c0 * d->h * d->w;
}
static inline size_t plan_grad_off(const clnas_plan *p, int t)
{
    const tensor_desc *d = &p->net->tensors[t];
    return p->net->tensors[tensor_storage(p->net, t)].off * (size_t)p->batch * (size_t)p->seeds +
           (size_t)d->c0 * d->h * d->w;
}
/* Channels of tensor t's storage (its own c, or its concatenation's). */
static inline int plan_stride_c(const clnas_net *n, int t) { return n->tensors[tensor_storage(n, t)].c; }

/* Forward-mode derivative (JVP) of the whole network along one input direction (src/model/jvp.c):
 * after clnas_plan_forward(p, x), out_tangent [batch][outputs] = J(x) tangent, tangent
 * [batch][input] (host floats). The tangents live in the gradient arena (seed 0's slots), so a
 * backward's activation gradients are overwritten. CLNAS_E_UNSUPPORTED for a network with
 * train-mode BatchNorm. */
clnas_status clnas_plan_jvp(clnas_plan *p, const float *tangent, float *out_tangent);
/* The same in double on the host reference, forward included: out (may be NULL) gets the
 * outputs at input, out_tangent their tangent. */
clnas_status clnas_ref_jvp(const clnas_net *net, int batch, const double *params, const double *input,
                           const double *tangent, double *out, double *out_tangent);

/* Freezes every ReLU's on/off pattern and every max pool's choices (each window's winner) at those
 * of the last forward (on = 1; the activations are copied once), or thaws them (on = 0). While
 * frozen, forward and backward treat each ReLU as the fixed mask of that forward and each max pool
 * as the fixed gather of its winners, so the network is smooth in its parameters: a difference
 * of two gradients then converges to the Hessian-vector product autograd computes (grasp). */
clnas_status clnas_plan_freeze(clnas_plan *plan, int on);

/* Switches every BatchNorm to eval mode with a fresh layer's running statistics (on = 1: mean 0,
 * variance 1, so y = gamma * x / sqrt(1 + eps) + beta and every sample is normalised on its
 * own; PyTorch's model.eval() on an untrained network), or back to train mode (on = 0). While on,
 * forward and backward use ops/bn_eval.h; the batch statistics are not computed. */
clnas_status clnas_plan_bn_eval(clnas_plan *plan, int on);

/* Host reference forward that keeps every activation: acts[act_per_sample * batch], tensor t at
 * tensors[t].off * batch (the same layout as the device arena, except that the reference keeps
 * a concatenation's slices in their own regions too, where the device writes them into the
 * concatenation's region only). */
clnas_status clnas_ref_forward_acts(const clnas_net *net, int batch, const double *params, const double *input,
                                    double *acts);
#endif
