/* clnas/score.h - the TE-NAS scores: NTK condition number kappa (trainability, lower is
 * better) and the number of linear regions R (expressivity, higher is better), as
 * ../shared/docs/TENAS.md §1, §2 define them.
 *
 * Three levels:
 * - clnas_ntk / clnas_lr: one evaluation on a given network, weights and inputs;
 * - clnas_score_inputs_make + clnas_score_run: TE-NAS's recipe (init, data, repeats) on the two
 *   proxies of an architecture, whatever space built them (clnas_nb201_proxies for NB201);
 * - clnas_score_nb201: the recipe for one NB201 architecture, what `clnas score` prints. */
#ifndef CLNAS_SCORE_H
#define CLNAS_SCORE_H

#include <stddef.h>
#include <stdint.h>
#include "clnas/context.h"
#include "clnas/data.h"
#include "clnas/nb201.h"
#include "clnas/net.h"
#include "clnas/status.h"

#ifdef __cplusplus
extern "C" {
#endif
CLNAS_API_BEGIN

/* ---------------- spectrum (host, double, LAPACK) ---------------- */
typedef enum clnas_kappa_status {
    CLNAS_KAPPA_OK = 0,          /* kappa = lambda_max / lambda_min, finite and >= 1 */
    CLNAS_KAPPA_NAN = 1,         /* Theta or its spectrum holds NaN/inf (e.g. a degenerate network) */
    CLNAS_KAPPA_NONPOSITIVE = 2  /* lambda_min <= 0: Theta is singular to working precision */
} clnas_kappa_status;

typedef struct clnas_kappa {
    double kappa;        /* lambda_max / lambda_min when status is OK; NaN or +inf otherwise */
    double lambda_min, lambda_max;
    clnas_kappa_status status;
} clnas_kappa;

/* Eigenvalues (ascending) of the symmetric n x n matrix A (row-major; only the lower
 * triangle is read; A is overwritten) with LAPACKE_dsyevd. CLNAS_E_LAPACK when LAPACK fails
 * (its info value and what it means in err), CLNAS_E_NUMERIC (w untouched) when A holds
 * NaN/inf, CLNAS_E_INVALID_ARG for n < 1. err may be NULL. */
clnas_status clnas_sym_eigvals(int n, double *A, double *w, char *err, size_t errlen);
/* kappa from ascending eigenvalues, with the NaN / lambda_min <= 0 policy above. */
clnas_kappa clnas_kappa_from_eigs(int n, const double *w);
/* "ok", "NaN in the NTK", "lambda_min <= 0 (singular NTK)". */
const char *clnas_kappa_status_str(clnas_kappa_status s);

/* ---------------- NTK of one network on one batch ---------------- */
typedef struct clnas_ntk clnas_ntk;

typedef struct clnas_ntk_config {
    int batch;           /* B, 72 in TE-NAS NB201 */
    int seeds;           /* backward seeds in flight; 0 = chosen to fit CLNAS_SEEDS or a memory budget */
    int fp64_gram;       /* 1: Theta = G G^T in double (on the device with cl_khr_fp64, else on the host) */
} clnas_ntk_config;

/* net is borrowed and must outlive the object. */
clnas_status clnas_ntk_create(clnas_ctx *ctx, const clnas_net *net, const clnas_ntk_config *cfg,
                              clnas_ntk **out);
void clnas_ntk_destroy(clnas_ntk *ntk);
int clnas_ntk_seeds(const clnas_ntk *ntk);
/* Device bytes the object holds: its plan (clnas_plan_device_bytes) plus the Jacobian G
 * (batch x nparams floats) and Theta (and G in double for the fp64 Gram). CLBlast's temporary
 * buffers during the Gram product are not counted. */
size_t clnas_ntk_device_bytes(const clnas_ntk *ntk);
clnas_status clnas_ntk_set_params(clnas_ntk *ntk, const float *params);

/* Stage times of the last evaluation, seconds. */
typedef struct clnas_ntk_times { double forward, backward, gram, eig; } clnas_ntk_times;

/* kappa of the network on images [B][c][h][w]: forward (train-mode BN), B per-sample
 * gradients of the logit sums w.r.t. every conv weight, BN gamma and linear weight
 * (through the whole-batch graph), Theta = G G^T, eigenvalues in double.
 * Optional outputs (NULL to skip): theta[B*B] (double), eigs[B] ascending, gnorm[B] (row
 * norms of G), G[B*P] (the Jacobian, float), times. A NaN/singular Theta is not an error:
 * it is reported in out->status. */
clnas_status clnas_ntk_eval(clnas_ntk *ntk, const float *images, clnas_kappa *out, double *theta,
                            double *eigs, double *gnorm, float *G, clnas_ntk_times *times);

/* ---------------- linear regions of one network on a set of inputs ---------------- */
typedef struct clnas_lr clnas_lr;
/* batch: samples per forward (BN statistics are per batch; 1000 in TE-NAS). */
clnas_status clnas_lr_create(clnas_ctx *ctx, const clnas_net *net, int batch, clnas_lr **out);
void clnas_lr_destroy(clnas_lr *lr);
clnas_status clnas_lr_set_params(clnas_lr *lr, const float *params);
/* Runs n inputs (a multiple of the batch) through the network in batches, takes the sign bit
 * of every ReLU output (1 where > 0) in layer order, and counts distinct codes exactly.
 * nonfinite (optional): 1 when a ReLU's input held NaN or an infinity somewhere (R is then
 * undefined: NaN has no sign), else 0. codes (optional): n * clnas_net_relu_bits(net) bytes of
 * 0/1. */
clnas_status clnas_lr_count(clnas_lr *lr, const float *inputs, int n, size_t *regions, int *nonfinite,
                            uint8_t *codes);
/* The packed codes of one batch (the lr's batch of inputs) without unpacking: batch rows of
 * clnas_lr_words(lr) 32-bit words, one word-aligned segment per ReLU layer in layer order, bit j%32
 * of the segment's word j/32 = (input j of that ReLU > 0); the bits past a layer's end are 0, so two
 * rows agree in (relu_bits - popcount(row_a ^ row_b)) positions. nonfinite as in clnas_lr_count. */
size_t clnas_lr_words(const clnas_lr *lr);
clnas_status clnas_lr_codes(clnas_lr *lr, const float *inputs, uint32_t *rows, int *nonfinite);
/* Exact number of distinct rows among n rows of `bits` 0/1 bytes (host; the reference).
 * CLNAS_E_NOMEM when scratch memory runs out. */
clnas_status clnas_count_distinct_codes(const uint8_t *codes, int n, size_t bits, size_t *distinct);

/* ---------------- TE-NAS's recipe for one NB201 architecture ---------------- */
#define CLNAS_MAX_REPEATS 64

typedef struct clnas_score_opts {
    clnas_dataset_kind dataset; /* sets classes, image size and normalisation */
    int metrics;                /* CLNAS_METRIC_NTK | CLNAS_METRIC_LR */
    int batch;                  /* NTK batch, 72 */
    int repeats;                /* 3 */
    int lr_batch;               /* 1000 */
    int lr_batches;             /* batches per R, 3 */
    uint64_t seed;              /* weights and data */
    uint64_t stream;            /* weight stream (0 for a standalone score) */
    int seeds;                  /* NTK seeds in flight, 0 = auto */
    int fp64_gram;
    clnas_init init;
} clnas_score_opts;
#define CLNAS_METRIC_NTK 1
#define CLNAS_METRIC_LR 2

void clnas_score_opts_default(clnas_score_opts *o);

typedef struct clnas_score_result {
    int repeats;
    clnas_kappa ntk[CLNAS_MAX_REPEATS];
    double kappa_mean;          /* arithmetic mean over repeats (NaN if any repeat is undefined) */
    double kappa_geomean;       /* geometric mean (NaN if any repeat is undefined) */
    size_t regions[CLNAS_MAX_REPEATS];
    int regions_nonfinite[CLNAS_MAX_REPEATS]; /* 1: a NaN/inf reached the ReLUs (see clnas_lr_count) */
    double regions_mean;        /* NaN (undefined) when a repeat's regions_nonfinite is set */
    size_t ntk_params, ntk_jacobian, lr_params, lr_bits;
    int ntk_seeds;
    double t_setup, t_data, t_forward, t_backward, t_gram, t_eig, t_lr, t_total;
} clnas_score_result;

/* Everything a score is computed from, so that a score can be dumped and recomputed
 * exactly (clnas score --dump / --from). Arrays are malloc'd; free with clnas_score_inputs_free. */
typedef struct clnas_score_inputs {
    int repeats, batch, channels, hw, lr_n; /* lr_n = lr_batch * lr_batches patches per repeat */
    float *ntk_params; size_t ntk_nparams;  /* NTK proxy weights (clnas_net_param_tensor layout) */
    float *lr_params; size_t lr_nparams;    /* linear-region proxy weights */
    float *images;                          /* [repeats][batch][channels][hw][hw], normalised */
    float *patches;                         /* [repeats][lr_n][1][3][3], normalised */
} clnas_score_inputs;

/* Intermediate results kept for dumps (each NULL to skip). */
typedef struct clnas_score_outputs {
    double *theta;  /* [repeats][batch][batch] */
    double *eigs;   /* [repeats][batch], ascending */
    double *gnorm;  /* [repeats][batch], row norms of G */
    uint8_t *codes; /* [repeats][lr_n][lr_bits] */
} clnas_score_outputs;

/* Draws the weights (seed, stream) of the two proxies and the data (seed) for opts; the data
 * set is only read. ntk_net and lr_net are a space's proxies of one architecture (borrowed), e.g.
 * from clnas_nb201_proxies with opts->dataset. Errors: CLNAS_E_INVALID_ARG (options out of
 * range, a data set or input size that does not match), CLNAS_E_NOMEM; message in err. */
clnas_status clnas_score_inputs_make(const clnas_net *ntk_net, const clnas_net *lr_net,
                                     const clnas_dataset *data, const clnas_score_opts *opts,
                                     clnas_score_inputs *in, char *err, size_t errlen);
void clnas_score_inputs_free(clnas_score_inputs *in);
/* Computes the scores of the two proxies (borrowed) from given inputs; out may be NULL.
 * Errors are reported through ctx. */
clnas_status clnas_score_run(clnas_ctx *ctx, const clnas_net *ntk_net, const clnas_net *lr_net,
                             const clnas_score_opts *opts, const clnas_score_inputs *in,
                             clnas_score_result *res, clnas_score_outputs *out);

/* Scores one NB201 architecture on a loaded training set (clnas_nb201_proxies + inputs_make
 * + run). */
clnas_status clnas_score_nb201(clnas_ctx *ctx, const clnas_nb201_arch *arch, const clnas_dataset *data,
                               const clnas_score_opts *opts, clnas_score_result *res);

CLNAS_API_END
#ifdef __cplusplus
}
#endif
#endif
