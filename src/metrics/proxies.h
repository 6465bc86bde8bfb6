/* proxies.h - the zero-cost proxies of the literature on one network (inside the library; the
 * CLI and tests use it): parameter and FLOP counts, grad_norm, snip, grasp, fisher, jacob_cov,
 * synflow (as SamsungLabs/zero-cost-nas computes them), naswot (NASWOT's Hamming-kernel
 * log-determinant) and zico (ZiCo), each from the same graph executor and kernels as the
 * TE-NAS scores. The README's "Zero-cost proxies" section gives every definition.
 *
 * Every proxy is oriented so that higher is better (as its reference reports it). */
#ifndef CLNAS_PROXIES_H
#define CLNAS_PROXIES_H

#include <stddef.h>
#include <stdint.h>
#include "clnas/context.h"
#include "clnas/data.h"
#include "clnas/net.h"
#include "clnas/status.h"
#include "metrics/proxy_aznas.h"

typedef enum px_id {
    PX_PARAMS, PX_FLOPS, PX_GRAD_NORM, PX_SNIP, PX_GRASP, PX_FISHER, PX_JACOB_COV, PX_SYNFLOW, PX_NASWOT, PX_ZICO,
    PX_AZ_EXPRESSIVITY, PX_AZ_PROGRESSIVITY, PX_AZ_TRAINABILITY, /* AZ-NAS's components (proxy_aznas.h) */
    PX_VKDNW, /* proxy_vkdnw.h */
    PX_JACOV_KAIMING, /* jacob_cov on its own Kaiming-normal weights: VKDNW's jacov (last, so older studies keep their column order) */
    PX_N
} px_id;

/* "params", "flops", "grad_norm", ...; NULL out of range. */
const char *px_name(int id);
/* A one-line definition (for --help). */
const char *px_help(int id);
/* Parses a comma list of proxy names ("all" = every proxy; "az_nas" = flops and the three AZ-NAS
 * components, whose rank aggregation a study computes over its rows). Names of the TE-NAS scores ("ntk",
 * "lr") are accepted and reported in *tenas (CLNAS_METRIC_NTK | CLNAS_METRIC_LR bits); the
 * proxies go to *mask (bit i = px_id i). Returns 0, or -1 with a message naming the unknown word. */
int px_parse(const char *list, unsigned *mask, int *tenas, char *err, size_t errlen);

/* What the proxies are computed from. */
typedef struct px_inputs {
    int batch;          /* B: 64 (zero-cost-nas's batch) */
    int c, hw, classes;
    float *params;      /* nparams of the network with BatchNorm, drawn by clnas_net_init_params */
    size_t nparams;
    float *images;      /* [2][B][c][hw][hw]: batch 0 for every proxy, batch 1 also for zico */
    int *labels;        /* [2][B] */
    az_inputs az;       /* AZ-NAS's own weights, random input and probe key (proxy_aznas.h) */
    float *vk_params;   /* vkdnw's own weights (Kaiming fan_in) and N(0,1) images [B][c][hw][hw] (proxy_vkdnw.h) */
    float *vk_images;
    uint64_t seed, stream; /* the draws' keys: jacov_kaiming draws its weights from them when asked for */
} px_inputs;

void px_inputs_free(px_inputs *in);

/* jacov_kaiming's own weights for net (nparams floats into params): Kaiming normal fan_in, ReLU
 * gain, for every conv and linear weight, zero biases, BN gamma 1 beta 0 (VKDNW's init_model),
 * keyed on the inputs' seed and stream; drawn on demand (px_eval, the dump), not with the inputs. */
void px_jacov_kaiming_params(const clnas_net *net, const px_inputs *in, float *params);

/* Draws the weights (seed, stream, init) and two augmented training batches (seed) with labels. */
clnas_status px_inputs_make(const clnas_net *net, const clnas_dataset *data, int batch, uint64_t seed,
                            uint64_t stream, clnas_init init, px_inputs *in, char *err, size_t errlen);

typedef struct px_result {
    double value[PX_N];        /* NaN when undefined or not computed */
    const char *why[PX_N];     /* NULL, or why the value is undefined (static string) */
    double seconds[PX_N];      /* time of each proxy's own work (the shared first gradient counts for grad_norm) */
    double vkdnw_entropy, vkdnw_dim; /* vkdnw's two parts (its value is dim + entropy / ln 10) */
} px_result;

/* synflow's arithmetic: float64 on the host reference, or float32 on the device with every tensor
 * scaled by a power of two (same value; see proxies.c). */
enum { PX_SYNFLOW_F64 = 1, PX_SYNFLOW_F32 = 2 };

/* Options of px_eval. */
typedef struct px_opts {
    int synflow_mode;   /* 0: CLNAS_SYNFLOW=f32|f64 if set, else PX_SYNFLOW_F32 where every layer kind of
                           the network has a scaling rule and PX_SYNFLOW_F64 elsewhere */
    double grasp_eps;   /* relative step e of grasp's central difference, W (1 +- e) (see proxies.c); 0 = default 1e-3 */
} px_opts;

/* Computes the proxies in mask on `net` (an NB201-style classifier with BatchNorm; nobn: the same
 * network without BatchNorm, for synflow; may be NULL when synflow is not asked for). */
clnas_status px_eval(clnas_ctx *ctx, const clnas_net *net, const clnas_net *nobn, const px_inputs *in,
                     unsigned mask, const px_opts *opts, px_result *r);

/* px_eval for timing: repeat < 1 is px_eval; otherwise one untimed warm-up evaluation (kernel
 * compiles, first-use allocations), then `repeat` evaluations on the same inputs; r holds the values
 * of the last and, per proxy, the median of their seconds. */
clnas_status px_eval_repeat(clnas_ctx *ctx, const clnas_net *net, const clnas_net *nobn, const px_inputs *in,
                            unsigned mask, const px_opts *opts, int repeat, px_result *r);

#endif
