/* clnas/net.h - networks, whatever search space they come from: the layer graph, its parameter
 * layout, initialisation, and forward/backward on a device and on the host reference.
 *
 * WHAT A NETWORK IS (the contract every search space's builder fulfils)
 * A clnas_net is a static graph of layers in execution order over tensors, independent of batch
 * size and device; it knows no search space. A builder (NAS-Bench-201's is clnas_nb201_build in
 * nb201.h; the DARTS and As-ViT spaces add their own) turns its own notation into that graph:
 * - tensors are per-sample c x h x w float arrays (NCHW across a batch); tensor 0 is the input;
 *   every layer reads tensors that exist already and writes one new tensor, so the layer order
 *   is a topological order, and the backward runs it in reverse;
 * - layer kinds: convolution (no bias), BatchNorm in train mode (batch statistics, affine),
 *   ReLU, average pooling (count_include_pad = false), weighted sum of tensors (edges and
 *   residuals: out = sum_i coef_i * in_i), global average pooling, linear (optional bias);
 * - one tensor is the output (a classifier's logits): clnas_net_classes values per sample;
 * - every layer has a module path as its name (PyTorch-style, e.g.
 *   "cells.0.edges.1<-0.nor_conv_3x3.conv"); its parameter tensors are NAME.weight and
 *   NAME.bias. The names must be unique: initialisation keys each tensor's values on (seed,
 *   stream, name), so the same module gets the same weights in every network that has it, and
 *   dumps name tensors by them so any PyTorch reader can map them;
 * - parameters live in one flat float vector of clnas_net_nparams() entries: first the P
 *   "Jacobian" parameters (every weight: conv weights, BN gamma, linear weights, in layer
 *   order — what TE-NAS's NTK differentiates), then the biases (BN beta, linear biases).
 * The executor, the host reference, the memory plan, the backward schedule, FLOP counts and
 * the metrics work on any graph that keeps these rules. */
#ifndef CLNAS_NET_H
#define CLNAS_NET_H

#include <stdint.h>
#include <stdio.h>
#include "clnas/context.h"
#include "clnas/status.h"

#ifdef __cplusplus
extern "C" {
#endif
CLNAS_API_BEGIN

typedef struct clnas_net clnas_net;

void clnas_net_destroy(clnas_net *net); /* NULL is a no-op */

size_t clnas_net_nparams(const clnas_net *net);    /* all parameters */
size_t clnas_net_njacobian(const clnas_net *net);  /* P: conv W + BN gamma + linear W */
/* Values per sample of the output tensor (a classifier's classes). */
int clnas_net_classes(const clnas_net *net);
void clnas_net_input_shape(const clnas_net *net, int *c, int *h, int *w);
/* Number of ReLU output values per sample (the linear-region code length in bits). */
size_t clnas_net_relu_bits(const clnas_net *net);

/* Floating-point operations (a multiply-add counts 2) of the convolutions and linear layers:
 * one forward over `batch` samples, and one backward seed (input and weight gradients) over
 * the same batch. Elementwise layers (BN, ReLU, pooling, sums) are not counted. */
void clnas_net_flops(const clnas_net *net, int batch, double *forward, double *backward_per_seed);

/* Prints a model summary: the builder's header lines (space, configuration, architecture),
 * one line per layer with its output shape and parameter count, then totals. */
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

/* Flags of clnas_plan_create. */
#define CLNAS_PLAN_PARAM_GRADS 1u /* also hold S seeds of whole-network parameter gradients on the
                                     device, for clnas_plan_backward_host */

clnas_status clnas_plan_create(clnas_ctx *ctx, const clnas_net *net, int batch, int seeds,
                               unsigned flags, clnas_plan **out);
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
 * [S][batch][c][h][w]. Needs a plan created with CLNAS_PLAN_PARAM_GRADS. */
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

CLNAS_API_END
#ifdef __cplusplus
}
#endif
#endif
