/* bench/bench.h - what clnas measures about itself on a device: the library side of `clnas bench`
 * (kappa and R stage by stage, per-shape op rates, scaling over batch and network size, SGEMM
 * rates), of `clnas tune` (the search for CLBlast GEMM parameters and for the NTK's seeds in
 * flight, and storing what it found) and of `clnas selftest` (device against host reference). The commands parse options and print; everything they
 * measure comes from here, so they need neither ops, buffers nor GEMM calls of their own.
 *
 * Conventions (clnas/status.h): every fallible function returns clnas_status, with the reason in
 * the context (clnas_ctx_errmsg). Nothing here prints: `clnas tune`'s progress lines go through a
 * callback. Times are seconds, rates GFLOP/s (multiply-add = 2) or GB/s, sizes bytes. Timings are
 * medians over repeats after a warm-up that compiles what the measurement needs.
 *
 * Memory cap for tests: $CLNAS_BENCH_MEM_CAP (bytes), when set, caps the device's largest single
 * allocation and its global memory as the NTK fit checks of the benchmarks see them, so that the
 * paths that refuse too large a request can be exercised on any device. */
#ifndef CLNAS_BENCH_BENCH_H
#define CLNAS_BENCH_BENCH_H

#include <stddef.h>
#include "clnas/context.h"
#include "clnas/data.h"
#include "clnas/status.h"
#include "runtime/tune.h" /* clnas_tuning and the GEMM parameter names, in the tuning results */

/* The single path every benchmark times next to the supernet (TE-NAS's NB201 example cell). */
#define CLNAS_BENCH_SINGLE_PATH \
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
#define CLNAS_BENCH_LR_SAMPLES 3000 /* patches per R, as TE-NAS: 3 batches of 1000 */
#define CLNAS_BENCH_LR_BATCH 1000

/* ------------------------------------------------------------------ one kappa */

/* One timed kappa of one network at one batch: medians over `reps` evaluations. */
typedef struct clnas_bench_kappa {
    int batch, seeds, reps;       /* seeds: backward seeds in flight the NTK ran */
    size_t P, nparams;            /* parameters in the Jacobian, all parameters */
    size_t dev_bytes, g_bytes;    /* device memory the NTK holds; of it, the Jacobian G */
    double fwd, bwd, gram, eig;   /* seconds per stage */
    double total;                 /* seconds of a whole evaluation */
    double gflop, rate;           /* forward + B backward seeds + Gram; gflop / total */
    double rss;                   /* peak resident memory of the process during the timed runs; < 0 unknown */
} clnas_bench_kappa;

/* ------------------------------------------------------------------ the host's BLAS (hostblas.c) */

/* OpenBLAS loaded at run time, for the host CPU's own SGEMM rate. */
typedef struct clnas_bench_hostblas {
    void *lib;                 /* dlopen handle; NULL when OpenBLAS is not available (why says why) */
    void (*sgemm)(int, int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int);
    char name[64];             /* the library file that was loaded */
    char core[64];             /* openblas_get_corename(): the kernel that runs (e.g. SkylakeX) */
    char config[160];          /* openblas_get_config() */
    char coretype_env[64];     /* $OPENBLAS_CORETYPE ("" when unset) */
    int threads;               /* openblas_get_num_threads() */
    char why[256];
} clnas_bench_hostblas;

/* Loads OpenBLAS; 1 on success, else 0 with h->why set. Close with clnas_bench_host_close. */
int clnas_bench_host_open(clnas_bench_hostblas *h);
void clnas_bench_host_close(clnas_bench_hostblas *h);
/* Host SGEMM GFLOP/s (median of reps after a warm-up) of C[m x n] = A[m x k] op(B), op(B) = B^T when
 * transB (the Gram's layout); -1 when h has no library. */
clnas_status clnas_bench_host_sgemm(clnas_ctx *ctx, const clnas_bench_hostblas *h, size_t m, size_t n, size_t k,
                                    int transB, int reps, double *gflops);

/* ------------------------------------------------------------------ launches (launch.c) */

/* Commands a context has enqueued since it was created: kernels launched by clnas (every op's
 * kernels), GEMM calls into CLBlast (each runs 1 to 4 kernels of its own: only the calls are
 * counted), buffer fills and copies, blocking reads and writes. */
typedef struct clnas_bench_launches {
    unsigned long kernels, gemms, fills, transfers;
} clnas_bench_launches;
void clnas_bench_launch_counts(const clnas_ctx *ctx, clnas_bench_launches *out);
/* out = b - a (the commands of the work between two counts). */
void clnas_bench_launches_diff(const clnas_bench_launches *a, const clnas_bench_launches *b, clnas_bench_launches *out);
/* The cost of one launch apart from its work, on ctx's queue (seconds per launch, medians of reps
 * streams after a warm-up stream):
 *   stream_s: a kernel with one work-item that writes one float, launched n times in a row and
 *             then waited for once (the executor's pattern: it enqueues a network's kernels and
 *             waits at the end), the stream's time / n;
 *   sync_s:   the same kernel launched and waited for alone (median of n);
 *   gemm_s:   a CLBlast SGEMM call of 8 x 8 x 8, n in a row then one wait, the time / n (the
 *             fixed cost of a GEMM call: its host side and its kernels).
 * The measurement's own commands are not counted (clnas_bench_launch_counts). */
typedef struct clnas_bench_launch_cost {
    double stream_s, sync_s, gemm_s;
} clnas_bench_launch_cost;
clnas_status clnas_bench_launch_cost_run(clnas_ctx *ctx, int n, int reps, clnas_bench_launch_cost *out);

/* ------------------------------------------------------------------ `clnas bench` (default) */

typedef struct clnas_bench_overview {
    int batch, reps;
    double sgemm_1024, sgemm_gram;    /* CLBlast SGEMM GFLOP/s: 1024^3, and batch x batch x P (supernet) */
    clnas_bench_hostblas host;        /* OpenBLAS on the host (host.lib is closed again: only the strings stay) */
    int have_host;
    double host_1024, host_gram;      /* OpenBLAS SGEMM GFLOP/s on the same shapes; -1 without OpenBLAS */
    const char *what[2], *arch[2];    /* proxy supernet, single path (static strings) */
    clnas_bench_kappa kappa[2];
    double lr_s;                      /* one R of the linear-region proxy supernet */
    size_t regions;
} clnas_bench_overview;

/* Times, in this order: the SGEMM rate at 1024^3, a kappa of the NTK proxy supernet at `batch`,
 * the SGEMM rate on its Gram shape, a kappa of CLNAS_BENCH_SINGLE_PATH, an R of the linear-region
 * proxy supernet (CLNAS_BENCH_LR_SAMPLES patches). seeds: seeds in flight, 0 = the NTK's choice
 * lowered to what fits the device. data: borrowed, the images and patches. */
clnas_status clnas_bench_overview_run(clnas_ctx *ctx, const clnas_dataset *data, int batch, int seeds, int reps,
                                      clnas_bench_overview *out);

/* ------------------------------------------------------------------ --shapes: per-op rates */

typedef enum clnas_bench_op {
    CLNAS_BENCH_CONV,
    CLNAS_BENCH_BN,
    CLNAS_BENCH_RELU,
    CLNAS_BENCH_AVGPOOL,
    CLNAS_BENCH_SUM,
    CLNAS_BENCH_DWCONV,  /* DARTS: depthwise convolution (its backward: data + weight) */
    CLNAS_BENCH_MAXPOOL, /* DARTS: max pooling */
    CLNAS_BENCH_SHIFT    /* DARTS: FactorizedReduce's shifted input */
} clnas_bench_op;

#define CLNAS_BENCH_MAX_ROWS 256

/* One distinct op shape of a network, how often one pass runs it, and its timings. */
typedef struct clnas_bench_row {
    clnas_bench_op kind;
    const char *op;                     /* "conv", "bn", "relu", "avgpool", "sum" */
    int c, cout, h, w, k, stride, pad;  /* c: input channels (sum: output channels); cout, k, stride, pad per kind */
    int calls;                          /* conv: layers (= forward = backward-weight calls per pass);
                                           others: calls per backward pass */
    int dx_calls;                       /* conv: layers whose backward computes the input gradient */
    double t[2][3];                     /* median s per call, [S seeds | the last pass's rem seeds]
                                           [forward, backward-data, backward-weight]; non-conv: [.][0]
                                           is the backward; < 0: not measured */
    double flop;                        /* conv: FLOP of one call over the batch for one seed */
    double bytes;                       /* non-conv: the least bytes one backward call with S seeds moves */
    double per_s;                       /* seconds the row accounts for in one kappa (LR rows: one R) */
    double share;                       /* conv rows: per_s over the convolutions' total of a kappa (of an R) */
    int dil;                            /* dwconv: dilation */
} clnas_bench_row;

typedef struct clnas_bench_shapes {
    int batch, seeds;                   /* the NTK's batch and seeds in flight S */
    int full, rem;                      /* a kappa's backward passes: `full` of S seeds, one of rem (if > 0) */
    clnas_bench_kappa kappa;            /* a measured supernet kappa, for reference */
    double lr_s;                        /* a measured R */
    size_t regions;
    clnas_bench_row conv[CLNAS_BENCH_MAX_ROWS], other[CLNAS_BENCH_MAX_ROWS], lr[CLNAS_BENCH_MAX_ROWS];
    int nconv, nother, nlr;             /* NTK proxy convolutions, its non-conv backward ops, LR proxy convolutions */
    double conv_s, other_s, lr_conv_s;  /* sums of per_s: per kappa (conv, other), per R (lr) */
} clnas_bench_shapes;

/* Every distinct convolution shape of the NTK proxy supernet (at `batch`, the seeds in flight of
 * a measured kappa) and of the linear-region proxy (batch CLNAS_BENCH_LR_BATCH, forward only),
 * read off the networks and timed through the op functions the executor calls; then the
 * non-convolution backward ops. *out is malloc'd; the caller frees it with free(). */
clnas_status clnas_bench_shapes_run(clnas_ctx *ctx, const clnas_dataset *data, int batch, int seeds, int reps,
                                    clnas_bench_shapes **out);
/* The same for TE-NAS's DARTS proxies (the supernet of 7 ops, C=1, the data set's classes,
 * 32x32): its 1x1 convolutions as conv rows, and among the backward ops also the depthwise
 * convolutions (backward-data + backward-weight as one call), max pooling and FactorizedReduce's
 * shift. Concatenations have no kernel (their producers write into slices): not listed. The
 * linear-region rows are the thin net's convolutions only. */
clnas_status clnas_bench_shapes_darts_run(clnas_ctx *ctx, const clnas_dataset *data, int batch, int seeds, int reps,
                                          clnas_bench_shapes **out);

/* ------------------------------------------------------------------ --scaling */

#define CLNAS_BENCH_MAX_SCALE_ROWS 8

typedef struct clnas_bench_scale_row {
    const char *net;                 /* which network (static string; equal pointers: same network) */
    clnas_bench_kappa k;
    double time_ratio, memory_ratio; /* total time and device bytes over the previous row of the same
                                        network; < 0 for a network's first row */
} clnas_bench_scale_row;

typedef struct clnas_bench_scaling_opts {
    int reps;       /* repeats of the proxy rows (the full network runs once per batch) */
    int seeds;      /* seeds in flight; 0 = the NTK's choice lowered to what fits */
    int max_batch;  /* batches above it are skipped */
    int full;       /* 1: the full NB201 network too */
} clnas_bench_scaling_opts;

/* One kappa of the NTK proxy supernet at batch 16, 32, 72 and 128, and (opts->full) of the full
 * NB201 evaluation network (C=16, N=5, every edge nor_conv_3x3) at 16 and 64. Every row is checked
 * against the device's memory before any runs: CLNAS_E_DEVICE_MEM names the sizes and the row. */
clnas_status clnas_bench_scaling_run(clnas_ctx *ctx, const clnas_dataset *data, const clnas_bench_scaling_opts *opts,
                                     clnas_bench_scale_row rows[CLNAS_BENCH_MAX_SCALE_ROWS], int *nrows);

/* ------------------------------------------------------------------ `clnas selftest` */

/* One NB201 network of the self-check: configuration, batch and seeds run at once. */
typedef struct clnas_selftest_case {
    const char *what, *arch;
    int C, N, input, stem, depth, in_ch, batch, seeds;
} clnas_selftest_case;

/* Runs the case's network (random inputs, TE-NAS's init) forward and backward on the device with
 * the NTK's logit-sum seeds, and on the double-precision host reference: *ef and *eb are the
 * largest deviations of the logits and of any seed's parameter gradients, relative to the
 * reference's scale; *secs the device's time. The caller compares them with its tolerance. */
clnas_status clnas_selftest_run(clnas_ctx *ctx, const clnas_selftest_case *c, double *ef, double *eb, double *secs);

/* ------------------------------------------------------------------ `clnas tune` */

#define CLNAS_TUNE_BATCH 72        /* TE-NAS's NTK batch on NAS-Bench-201: the Gram shapes' m and n */
#define CLNAS_TUNE_MAX_COUNTS 16   /* seed counts one sweep times */
#define CLNAS_TUNE_MAX_CANDS 16    /* GEMM candidates one search builds */
#define CLNAS_TUNE_BUDGET_FULL_S 240.0
#define CLNAS_TUNE_BUDGET_QUICK_S 60.0

/* Receives one progress line (no newline). */
typedef void (*clnas_bench_log_fn)(void *ud, const char *line);

typedef struct clnas_tune_opts {
    int quick;                                /* fewer candidates, seed counts and repeats */
    int reps;                                 /* timed runs per GEMM measurement; 0: 5 (quick: 3) */
    double budget_s;                          /* no new GEMM build starts after it; < 0: the default */
    int no_seeds;                             /* no seed sweep: the per-device values of the current tuning are kept */
    int no_kernels;                           /* no kernel-variant timing: the current tuning's choice is kept */
    int kernels_only;                         /* only the kernel variants: GEMM and per-device values are kept */
    int kernel_batch;                         /* batch of the kappas the variants are timed on; 0: CLNAS_TUNE_BATCH */
    int seed_counts[CLNAS_TUNE_MAX_COUNTS];   /* seed counts to time, ascending, in [1, CLNAS_TUNE_BATCH] */
    int nseed_counts;                         /* 0: 1,2,3,4,6,8,12 (GPUs also 24,36,72; quick 2,4,8) */
    clnas_bench_log_fn log;                   /* progress (NULL: none) */
    void *log_ud;
} clnas_tune_opts;

void clnas_tune_opts_default(clnas_tune_opts *o);

/* One GEMM shape of the search and its rate with CLBlast's parameters and with the result. */
typedef struct clnas_tune_shape {
    char name[64];           /* for people: "Gram 72x72x14364 (supernet)" */
    const char *key;         /* for files: "square_1024", "gram_supernet", "gram_single_path" */
    size_t m, n, k;
    int trans_b;
    double before, after;    /* GFLOP/s */
} clnas_tune_shape;

/* One build: a full parameter set and what it measured. kind 'x': an Xgemm candidate (all three
 * shapes through Xgemm); 'd': an XgemmDirect candidate (the Gram shapes through it). */
typedef struct clnas_tune_cand {
    int kind;
    clnas_tuning t;
    const char *from;        /* "grid", "current tuning file", "shipped default" */
    double sq, gram[2];      /* GFLOP/s; 0 = not measured */
    double build_s;
    char why[160];           /* why it was not measured or failed; "" if it was */
} clnas_tune_cand;

/* One network of the seed sweep. */
typedef struct clnas_tune_seed_net {
    const char *what, *arch;
    double per_seed;                      /* bytes of activation gradients one seed needs */
    double t[CLNAS_TUNE_MAX_COUNTS];      /* median kappa seconds per tested count */
    int best;                             /* index of the fastest count */
    int budget_seeds;                     /* seeds the chosen budget gives it */
} clnas_tune_seed_net;

typedef struct clnas_tune_result {
    int quick, reps, rounds;              /* rounds: Gram turns per comparison */
    clnas_tune_shape shapes[3];           /* square, Gram supernet, Gram single path */
    clnas_tune_cand cands[CLNAS_TUNE_MAX_CANDS];
    int ncands;
    int win;                              /* the Gram's winner in cands; -1 when none worked */
    const char *gram_kernel;              /* "Xgemm", "XgemmDirect" or "unchanged" */
    clnas_tuning best;                    /* what is stored: best.gemm = tuned */
    int tuned;                            /* the Gram GEMMs gained >= 5 %: gemm=tuned */
    double gram_gain;                     /* geometric mean of the Grams' after / before */
    int seeds_done;                       /* 0: --no-seeds */
    int counts[CLNAS_TUNE_MAX_COUNTS], ncounts, seed_rounds;
    clnas_tune_seed_net nets[2];          /* proxy supernet, single path */
    double budget_bytes;                  /* the NTK activation-gradient budget stored */
    int gemm_done;                        /* 0: --kernels-only (the GEMM part of the current tuning is kept) */
    int kernels_done;                     /* the kernel variants were timed (0: --no-kernels) */
    int kernel_rounds, kernel_seeds;      /* timed kappas per variant; the NTK's seeds in flight */
    int kernel_batch;                     /* the kappas' batch */
    double kernel_s[2], kernel_cpu_s[2];  /* [cpu-shaped, gpu-shaped]: median seconds of one supernet kappa at
                                             kernel_batch, wall and this process's CPU time */
    double kernel_kappa[2];               /* the kappa each variant gave (the same images) */
    int kernel_rule;                      /* the default rule's variant for this device (CLNAS_KERNELS_*) */
    double seed_worst;                    /* the budget's largest time over a net's best */
    int stored;                           /* clnas_tune_store wrote path */
    char path[1200];                      /* the device's tuning file ("" when there is no cache directory) */
    double seconds;                       /* wall time of the whole tuning, set by clnas_tune_store */
    double t_start;                       /* internal */
} clnas_tune_result;

/* Opens a context on `device` (as clnas_ctx_create) with no tuning applied, so that the search's
 * baseline is CLBlast's own parameters. *out is set even on failure, as clnas_ctx_create does. */
clnas_status clnas_tune_ctx_create(const char *device, clnas_ctx **out);
/* Searches the GEMM parameters, the kernel variant (cpu- or gpu-shaped, whichever runs a proxy
 * supernet kappa faster) and the seeds in flight for ctx's device (opts leave parts out);
 * the GEMM parameters of the best candidate stay applied to CLBlast afterwards (the caller's
 * process only). r is filled (its path too); nothing is written. */
clnas_status clnas_tune_run(clnas_ctx *ctx, const clnas_tune_opts *opts, clnas_tune_result *r);
/* Writes r->best with r's measurements (measured.* lines) to the device's tuning file (r->path)
 * and sets r->stored and r->seconds. CLNAS_E_UNSUPPORTED when there is no cache directory
 * (CLNAS_CACHE_DIR=off, no HOME), CLNAS_E_IO when it cannot be written; the reason in ctx. */
clnas_status clnas_tune_store(clnas_ctx *ctx, clnas_tune_result *r);

#endif
