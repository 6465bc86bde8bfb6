/* clnas/net.h - networks: NAS-Bench-201 builder, parameter layout, initialisation, and
 * forward/backward on a device and on the host reference.
 *
 * A clnas_net is a static graph of layers (conv, BN, ReLU, pooling, edge sums, global
 * average pool, linear) in execution order, independent of batch size and device.
 * Parameters live in one flat float vector of clnas_net_nparams() entries: first the P
 * "Jacobian" parameters (every conv weight, BN gamma and linear weight — what TE-NAS's NTK
 * differentiates), then the biases (BN beta, linear bias). */
#ifndef CLNAS_NET_H
#define CLNAS_NET_H

#include <stdint.h>
#include <stdio.h>
#include "clnas/context.h"
#include "clnas/nb201.h"
#include "clnas/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct clnas_net clnas_net;

/* NAS-Bench-201 macro skeleton (TinyNetwork / TinyNetworkDarts):
 *   [stem: conv3x3 in->C, BN] -> N cells @C -> ResBlock C->2C /2 -> N cells @2C
 *   -> ResBlock 2C->4C /2 -> N cells @4C -> BN -> ReLU -> global avg pool -> Linear(+bias).
 * depth > 0 keeps only the first `depth` entries of the 3N+2 cells/blocks (TE-NAS's thin
 * linear-region net is C=1, N=1, depth=1, no stem); the head then sits on the last kept one. */
typedef struct clnas_nb201_config {
    int C;           /* channels of the first stage (16 in NB201; 3 for TE-NAS's NTK proxy) */
    int N;           /* cells per stage (5 in NB201; 1 for the proxies) */
    int classes;     /* 10, 100 or 120 */
    int input_hw;    /* input height = width (32 for CIFAR, 16 for ImageNet16-120) */
    int in_channels; /* input channels; 0 = derived: min(3, C) with a stem, C without */
    int use_stem;    /* 1: stem conv + BN; 0: the input goes straight into the first cell */
    int depth;       /* -1: all 3N+2 cells/blocks; otherwise how many to keep */
} clnas_nb201_config;

/* C=16, N=5, 10 classes, 32x32, stem, full depth: the NB201 evaluation network. */
void clnas_nb201_config_default(clnas_nb201_config *cfg);
/* TE-NAS NTK proxy: C=3, N=1, stem, full depth. */
void clnas_nb201_config_ntk(clnas_nb201_config *cfg, int classes, int input_hw);
/* TE-NAS linear-region proxy: C=1, N=1, no stem, depth 1, 1 input channel, 3x3 input. */
void clnas_nb201_config_lr(clnas_nb201_config *cfg, int classes);

/* Builds the network. On failure returns CLNAS_E_INVALID_ARG with a message in err. The
 * caller destroys *out with clnas_net_destroy. */
clnas_status clnas_net_nb201(const clnas_nb201_config *cfg, const clnas_nb201_arch *arch,
                             clnas_net **out, char *err, size_t errlen);
void clnas_net_destroy(clnas_net *net); /* NULL is a no-op */

size_t clnas_net_nparams(const clnas_net *net);    /* all parameters */
size_t clnas_net_njacobian(const clnas_net *net);  /* P: conv W + BN gamma + linear W */
int clnas_net_classes(const clnas_net *net);
void clnas_net_input_shape(const clnas_net *net, int *c, int *h, int *w);
/* Number of ReLU output values per sample (the linear-region code length in bits). */
size_t clnas_net_relu_bits(const clnas_net *net);

/* Floating-point operations (a multiply-add counts 2) of the convolutions and linear layers:
 * one forward over `batch` samples, and one backward seed (input and weight gradients) over
 * the same batch. Elementwise layers (BN, ReLU, pooling, sums) are not counted. */
void clnas_net_flops(const clnas_net *net, int batch, double *forward, double *backward_per_seed);

/* Prints a model summary: one line per layer with its output shape and parameter count,
 * then totals. */
void clnas_net_print_summary(const clnas_net *net, FILE *f);

/* Parameter tensors (for dumps and tests): count, and the i-th tensor's name (PyTorch-like,
 * e.g. "cells.0.edges.2<-1.nor_conv_3x3.conv.weight"), offset into the parameter vector,
 * element count and shape (up to 4 dims; unused dims are 0). *name points to a per-thread buffer
 * that the next call overwrites: copy it if you keep it. */
int clnas_net_nparam_tensors(const clnas_net *net);
void clnas_net_param_tensor(const clnas_net *net, int i, const char **name, size_t *offset,
                            size_t *count, int shape[4]);

typedef enum clnas_init {
    CLNAS_INIT_PYTORCH = 0,       /* U(+-1/sqrt(fan_in)) weights and linear bias; BN 1/0 (TE-NAS's effective init) */
    CLNAS_INIT_KAIMING_FAN_IN = 1,  /* N(0, 2/fan_in), biases 0, BN 1/0 */
    CLNAS_INIT_KAIMING_FAN_OUT = 2  /* N(0, 2/fan_out), biases 0, BN 1/0 */
} clnas_init;

/* Fills params[nparams] deterministically. Each parameter tensor's values depend only on
 * (seed, stream, the tensor's name and its position in the tensor): the same op on the same
 * edge, the stem, the reduction blocks and the classifier get the same weights in every
 * architecture built with the same config, seed and stream. */
void clnas_net_init_params(const clnas_net *net, uint64_t seed, uint64_t stream, clnas_init init,
                           float *params);

/* ---- running a network ----
 * A plan holds the device memory for one network, batch size and number of seeds in flight
 * (activations, activation gradients for S seeds, BN statistics, workspace), allocated once.
 * clnas_plan_forward / backward allocate nothing. */
typedef struct clnas_plan clnas_plan;

clnas_status clnas_plan_create(clnas_ctx *ctx, const clnas_net *net, int batch, int seeds,
                               clnas_plan **out);
void clnas_plan_destroy(clnas_plan *plan);
/* Device bytes held by the plan. */
size_t clnas_plan_device_bytes(const clnas_plan *plan);
/* Uploads the parameter vector (nparams floats). */
clnas_status clnas_plan_set_params(clnas_plan *plan, const float *params);
/* Uploads a batch [batch][c][h][w] and runs the forward pass (BN in train mode). */
clnas_status clnas_plan_forward(clnas_plan *plan, const float *input);
/* Reads the logits [batch][classes] of the last forward. */
clnas_status clnas_plan_read_logits(clnas_plan *plan, float *logits);
/* Backward of S <= seeds output gradients dlogits [S][batch][classes] (host) through the
 * last forward; writes each seed's parameter gradients (nparams floats) into
 * pgrad[s * nparams ...] (host) and, if dinput is not NULL, the input gradients
 * [S][batch][c][h][w]. */
clnas_status clnas_plan_backward_host(clnas_plan *plan, int S, const float *dlogits, float *pgrad,
                                      float *dinput);

/* ---- host reference (double, plain loops), the oracle for the device path ---- */
/* Forward: logits [batch][classes]. */
clnas_status clnas_ref_forward(const clnas_net *net, int batch, const double *params,
                               const double *input, double *logits);
/* Forward + backward of one output gradient dlogits [batch][classes]: parameter gradients
 * pgrad[nparams] and (if not NULL) the input gradient. */
clnas_status clnas_ref_backward(const clnas_net *net, int batch, const double *params,
                                const double *input, const double *dlogits, double *pgrad,
                                double *dinput);

#ifdef __cplusplus
}
#endif
#endif
