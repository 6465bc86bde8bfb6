/* bench/bench_impl.h - what the files of src/bench/ share among themselves (library-internal:
 * the commands see bench.h only). */
#ifndef CLNAS_BENCH_IMPL_H
#define CLNAS_BENCH_IMPL_H

#include "bench/bench.h"
#include "clnas/nb201.h"
#include "clnas/score.h"
#include "internal.h"

/* Parses and builds an NB201 network; a failure's reason goes to ctx (CLNAS_E_INVALID_ARG). */
clnas_status bench_build_net(clnas_ctx *ctx, const clnas_nb201_config *cfg, const char *archstr, clnas_net **net);
/* Times one kappa of the NTK proxy (C=3, N=1, 32x32, 10 classes) of archstr with TE-NAS's init:
 * one warm-up evaluation, then the medians of reps (seeds: as clnas_bench_overview_run). */
clnas_status bench_kappa(clnas_ctx *ctx, const clnas_dataset *data, const char *archstr, int B, int reps, int seeds,
                         clnas_bench_kappa *kr);
/* bench_kappa and bench_lr on a given network (weights: TE-NAS's init, seed 0, streams 0 / 1). */
clnas_status bench_kappa_of(clnas_ctx *ctx, const clnas_dataset *data, const clnas_net *net, int B, int reps, int seeds,
                            clnas_bench_kappa *kr);
clnas_status bench_lr_of(clnas_ctx *ctx, const clnas_dataset *data, const clnas_net *net, int reps, double *t_med, size_t *R);
/* Times one R of the linear-region proxy supernet (median of reps after a warm-up). */
clnas_status bench_lr(clnas_ctx *ctx, const clnas_dataset *data, int reps, double *t_med, size_t *R);
/* The SGEMM rate of an m x n x k product: median of reps after a warm-up that compiles. */
clnas_status bench_sgemm_rate(clnas_ctx *ctx, size_t m, size_t n, size_t k, int reps, double *gflops);
/* A progress line through opts->log (nothing when it is NULL). */
void bench_log(const clnas_tune_opts *o, const char *fmt, ...) CLNAS_PRINTF(2, 3);

/* ---- `clnas tune` (tune.c drives, tune_gemm.c and tune_seeds.c measure) ---- */
typedef struct tune_sizes {
    const clnas_tuning *current, *shipped; /* GEMM sets tried first (NULL: none) */
    size_t t_direct, t_indirect;           /* XGEMM_MIN_INDIRECT_SIZE that sends the Grams direct / indirect */
} tune_sizes;
/* The GEMM search on r->shapes (r->reps, r->rounds set): fills r->cands, r->win, r->best (GEMM
 * part), r->tuned, r->gram_gain, the shapes' before/after. */
clnas_status tune_gemm_search(clnas_ctx *ctx, const clnas_tune_opts *o, const tune_sizes *z, clnas_tune_result *r);
/* The seeds-in-flight sweep and the budget it gives, stored in r->best's per-device values over
 * those of `keep` (the current tuning's, NULL: none); with o->no_seeds, keep's values alone. */
clnas_status tune_seed_search(clnas_ctx *ctx, const clnas_tune_opts *o, const clnas_tuning *keep, clnas_tune_result *r);

/* Times one proxy-supernet kappa at batch o->kernel_batch (0: CLNAS_TUNE_BATCH) under each kernel
 * variant (a warm-up each, then rounds alternating the order, stopping after the first when one
 * variant takes more than 3x the other's time; medians) and sets r->best.kernels to the faster one
 * (the default rule's when they are within 2 %), and r->kernel_*. Fails when the two variants'
 * kappas differ by more than float rounding can explain. */
clnas_status tune_kernel_search(clnas_ctx *ctx, const clnas_tune_opts *o, clnas_tune_result *r);

#endif
