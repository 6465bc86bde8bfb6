/* graph.h - the body of clnas_net and clnas_plan, shared by the builder (net.c), the device
 * executor (plan.c), the host reference (ref.c) and the metrics. */
#ifndef CLNAS_GRAPH_H
#define CLNAS_GRAPH_H

#include "clnas/net.h"
#include "internal.h"
#include "ops/ops.h"

typedef enum layer_kind {
    L_CONV, L_BN, L_RELU, L_AVGPOOL, L_SUM, L_GAP, L_LINEAR
} layer_kind;

#define MAX_SUM_IN 16

typedef struct tensor_desc {
    int c, h, w;       /* per sample */
    size_t off;        /* offset (floats, per sample-batch) in the activation arena: off * batch */
} tensor_desc;

typedef struct layer {
    layer_kind kind;
    int in, out;                 /* tensor ids (SUM: ins[]) */
    int nin;
    int ins[MAX_SUM_IN];
    float coef[MAX_SUM_IN];
    int k, stride, pad, cout;    /* conv / pool / linear */
    size_t w_off, w_len;         /* weight: conv W, BN gamma, linear W (offsets into params) */
    size_t b_off, b_len;         /* bias: BN beta, linear bias (0 length if none) */
    int w_shape[4];
    size_t stats_off;            /* BN: offset of [mean|invstd] in the stats arena */
    char name[96];               /* module path, e.g. "cells.0.edges.1<-0.nor_conv_3x3.conv" */
    char desc[192];              /* human description for the summary */
} layer;

struct clnas_net {
    clnas_nb201_config cfg;
    clnas_nb201_arch arch;
    int ntensors, captensors;
    tensor_desc *tensors;        /* tensor 0 is the input; the last layer's out is the logits */
    int nlayers, caplayers;
    layer *layers;
    size_t act_per_sample;       /* sum of c*h*w over tensors */
    size_t nparams, njac;        /* all params; Jacobian params (weights) come first */
    size_t nstats;               /* floats of BN statistics */
    size_t relu_bits;            /* ReLU outputs per sample */
    int logits;                  /* tensor id of the logits */
    int nptensors;               /* parameter tensors = layers with w_len, plus those with b_len */
};

static inline size_t tensor_size(const tensor_desc *t) { return (size_t)t->c * t->h * t->w; }

struct clnas_plan {
    clnas_ctx *ctx;              /* borrowed */
    const clnas_net *net;        /* borrowed: must outlive the plan */
    int batch, seeds;
    cl_mem params;               /* nparams */
    cl_mem act;                  /* act_per_sample * batch */
    cl_mem grad;                 /* act_per_sample * batch * seeds */
    cl_mem stats;                /* nstats */
    cl_mem ws;                   /* workspace */
    size_t ws_floats;
    cl_mem pgrad;                /* seeds * nparams, used by clnas_plan_backward_host */
    cl_mem io;                   /* staging for dlogits: seeds * batch * classes */
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
    unsigned *over;              /* per layer: contributions that overwrite (see above) */
    int *zero_at;                /* per layer: index into zero_list of the first tensor to zero before its backward */
    int *zero_list;              /* tensors whose gradient must be zeroed at that layer */
    int profile;                 /* $CLNAS_PROFILE: finish after each op and add up times */
    double prof[2][8];           /* [fwd/bwd][layer_kind] seconds */
    long prof_n[2][8];
};

/* Device backward of S <= plan->seeds seeds. Before calling, put the output gradients
 * (seed-major [S][batch][classes]) at clnas_plan_dlogits (e.g. with clnas_seed_rows); every other
 * activation gradient is zeroed by the backward itself, each tensor right before its first
 * contribution (so the zeroed lines are still in cache when they are accumulated into). Writes all nparams parameter gradients of seed s at g.off + s*g_ld
 * (g_ld >= nparams; the Jacobian is the first njac columns) and leaves the activation
 * gradients in plan->grad. The input gradient is computed only when need_input_grad. */
clnas_status clnas_plan_backward(clnas_plan *plan, int S, clnas_dt g, size_t g_ld, int need_input_grad);
clnas_dt clnas_plan_dlogits(const clnas_plan *plan);
/* Offset (floats) of tensor t's activation / seed-0 gradient in plan->act / plan->grad. */
static inline size_t plan_act_off(const clnas_plan *p, int t) { return p->net->tensors[t].off * (size_t)p->batch; }
static inline size_t plan_grad_off(const clnas_plan *p, int t) { return p->net->tensors[t].off * (size_t)p->batch * (size_t)p->seeds; }

/* Host reference forward that keeps every activation: acts[act_per_sample * batch], tensor t at
 * tensors[t].off * batch (the same layout as the device arena). */
clnas_status clnas_ref_forward_acts(const clnas_net *net, int batch, const double *params, const double *input,
                                    double *acts);
#endif
