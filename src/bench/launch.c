/* launch.c - what one kernel launch costs on a device apart from its work (bench.h): the
 * commands a piece of work enqueues, counted by the runtime, and the time of a stream of
 * launches of a trivial kernel (and of tiny GEMMs) on the same queue. */
#include <stdlib.h>
#include "bench/bench_impl.h"
#include "core/util.h"

void clnas_bench_launch_counts(const clnas_ctx *ctx, clnas_bench_launches *out)
{
    out->kernels = ctx->n_kernels;
    out->gemms = ctx->n_gemms;
    out->fills = ctx->n_fills;
    out->transfers = ctx->n_transfers;
}

void clnas_bench_launches_diff(const clnas_bench_launches *a, const clnas_bench_launches *b, clnas_bench_launches *out)
{
    out->kernels = b->kernels - a->kernels;
    out->gemms = b->gemms - a->gemms;
    out->fills = b->fills - a->fills;
    out->transfers = b->transfers - a->transfers;
}

typedef struct launch_args {
    cl_kernel k;
    cl_mem a, b, c; /* a: the kernel's output; a, b, c: the GEMM's operands (8 x 8) */
} launch_args;

/* n launches (gemm = 0: the one-work-item kernel; 1: an 8^3 SGEMM) then one finish; seconds. */
static clnas_status stream(clnas_ctx *ctx, const launch_args *la, int gemm, int n, double *secs)
{
    const size_t one = 1;
    clnas_status st = CLNAS_OK;
    double t0 = clnas_now();
    for (int i = 0; i < n && st == CLNAS_OK; i++)
        st = gemm ? clnas_gemm(ctx, 0, 0, 8, 8, 8, 1.0f, la->a, 0, 8, la->b, 0, 8, 0.0f, la->c, 0, 8)
                  : clnas_launch(ctx, la->k, 1, &one, NULL);
    if (st == CLNAS_OK) st = clnas_ctx_finish(ctx);
    *secs = clnas_now() - t0;
    return st;
}

/* Median over reps streams of n (after a warm-up stream) of the time per launch. */
static clnas_status per_launch(clnas_ctx *ctx, const launch_args *la, int gemm, int n, int reps, double *t, double *out)
{
    clnas_status st = stream(ctx, la, gemm, n, &t[0]);
    for (int r = 0; r < reps && st == CLNAS_OK; r++) {
        st = stream(ctx, la, gemm, n, &t[r]);
        t[r] /= n;
    }
    if (st == CLNAS_OK) *out = clnas_median(t, reps);
    return st;
}

clnas_status clnas_bench_launch_cost_run(clnas_ctx *ctx, int n, int reps, clnas_bench_launch_cost *out)
{
    if (n < 1 || reps < 1) return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "launch cost: n and reps must be >= 1");
    clnas_bench_launches before;
    clnas_bench_launch_counts(ctx, &before);
    launch_args la = {NULL, NULL, NULL, NULL};
    double *t = malloc((size_t)(reps > n ? reps : n) * sizeof *t);
    if (!t) return clnas_set_error(ctx, CLNAS_E_NOMEM, "launch cost: out of host memory");
    clnas_status st = clnas_kernel_get(ctx, "selftest.cl", "", "selftest_fill", &la.k);
    if (st == CLNAS_OK) st = clnas_buf_alloc(ctx, 64 * sizeof(float), &la.a);
    if (st == CLNAS_OK) st = clnas_buf_alloc(ctx, 64 * sizeof(float), &la.b);
    if (st == CLNAS_OK) st = clnas_buf_alloc(ctx, 64 * sizeof(float), &la.c);
    if (st == CLNAS_OK) st = clnas_buf_zero(ctx, la.a, 0, 64 * sizeof(float));
    if (st == CLNAS_OK) st = clnas_buf_zero(ctx, la.b, 0, 64 * sizeof(float));
    if (st == CLNAS_OK) st = clnas_kernel_args(ctx, la.k, "miif", la.c, 0, 1, 1.0f);
    if (st == CLNAS_OK) st = per_launch(ctx, &la, 0, n, reps, t, &out->stream_s);
    if (st == CLNAS_OK) st = per_launch(ctx, &la, 1, n, reps, t, &out->gemm_s);
    const size_t one = 1;
    for (int i = 0; i < n && st == CLNAS_OK; i++) { /* one launch, one wait */
        double t0 = clnas_now();
        st = clnas_launch(ctx, la.k, 1, &one, NULL);
        if (st == CLNAS_OK) st = clnas_ctx_finish(ctx);
        t[i] = clnas_now() - t0;
    }
    if (st == CLNAS_OK) out->sync_s = clnas_median(t, n);
    ctx->n_kernels = before.kernels; /* the measurement's own commands are not the work's */
    ctx->n_gemms = before.gemms;
    ctx->n_fills = before.fills;
    clnas_buf_free(la.a);
    clnas_buf_free(la.b);
    clnas_buf_free(la.c);
    free(t);
    return st;
}
