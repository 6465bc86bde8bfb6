/* gemm.c - the only file that talks to CLBlast. Row-major GEMM with element offsets;
 * CLBlast's status codes that are OpenCL codes pass through, its own become CLNAS_E_CLBLAST
 * with the number in the message. A naive double reference lives here too. */
#include <clblast_c.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include "internal.h"

/* CLBlast's first call for a device builds its database entries and program cache, and that
 * initialisation is not safe to run in two threads at once (measured: a SEGV in
 * clblast::Database's copy under ASan when two device-pool workers, src/runtime/pool.c, made
 * their first GEMM together). Every CLBlast call therefore goes through this process-wide lock;
 * the calls only enqueue work, so holding it costs little. */
static pthread_mutex_t clblast_lock = PTHREAD_MUTEX_INITIALIZER;
#define CLBLAST_LOCKED(call) (pthread_mutex_lock(&clblast_lock), locked_result = (call), \
                              pthread_mutex_unlock(&clblast_lock), locked_result)

static clnas_status map_status(clnas_ctx *ctx, CLBlastStatusCode s, const char *what, size_t m,
                               size_t n, size_t k)
{
    if (s == CLBlastSuccess) return CLNAS_OK;
    int code = (int)s;
    if (code < 0 && code > -1000)
        return clnas_set_error(ctx, code, "CLBlast %s (%zux%zux%zu) failed with OpenCL error %s",
                               what, m, n, k, clnas_status_str(code));
    return clnas_set_error(ctx, CLNAS_E_CLBLAST, "CLBlast %s (%zux%zux%zu) failed with CLBlast status %d",
                           what, m, n, k, code);
}

/* CLBlast rejects k == 0 (kInvalidDimension); BLAS defines it as C = beta * C, with beta == 0
 * overwriting C. Done row by row so the padding between rows (ldc > n) is left alone. */
static clnas_status scale_c(clnas_ctx *ctx, int dbl, size_t m, size_t n, double beta, cl_mem C,
                            size_t offC, size_t ldc)
{
    if (beta == 1.0) return CLNAS_OK;
    const size_t es = dbl ? sizeof(double) : sizeof(float);
    const double zd = 0.0;
    const float zf = 0.0f;
    for (size_t i = 0; i < m; i++) {
        const size_t off = offC + i * ldc;
        if (beta == 0.0) {
            CL_CHECK(ctx, clEnqueueFillBuffer(ctx->queue, C, dbl ? (const void *)&zd : (const void *)&zf, es,
                                              off * es, n * es, 0, NULL, NULL));
        } else {
            CLBlastStatusCode locked_result;
            CLBlastStatusCode s = dbl ? CLBLAST_LOCKED(CLBlastDscal(n, beta, C, off, 1, &ctx->queue, NULL))
                                      : CLBLAST_LOCKED(CLBlastSscal(n, (float)beta, C, off, 1, &ctx->queue, NULL));
            if (s != CLBlastSuccess) return map_status(ctx, s, dbl ? "DSCAL (k = 0)" : "SSCAL (k = 0)", m, n, 0);
        }
    }
    return CLNAS_OK;
}

clnas_status clnas_gemm(clnas_ctx *ctx, int transA, int transB, size_t m, size_t n, size_t k,
                        float alpha, cl_mem A, size_t offA, size_t lda, cl_mem B, size_t offB,
                        size_t ldb, float beta, cl_mem C, size_t offC, size_t ldc)
{
    if (m == 0 || n == 0) return CLNAS_OK;
    if (k == 0) return scale_c(ctx, 0, m, n, beta, C, offC, ldc);
    ctx->n_gemms++;
    CLBlastStatusCode locked_result;
    CLBlastStatusCode s = CLBLAST_LOCKED(CLBlastSgemm(CLBlastLayoutRowMajor, transA ? CLBlastTransposeYes : CLBlastTransposeNo,
                                       transB ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, alpha,
                                       A, offA, lda, B, offB, ldb, beta, C, offC, ldc, &ctx->queue, NULL));
    return map_status(ctx, s, "SGEMM", m, n, k);
}

clnas_status clnas_dgemm(clnas_ctx *ctx, int transA, int transB, size_t m, size_t n, size_t k,
                         double alpha, cl_mem A, size_t offA, size_t lda, cl_mem B, size_t offB,
                         size_t ldb, double beta, cl_mem C, size_t offC, size_t ldc)
{
    if (!ctx->info.fp64)
        return clnas_set_error(ctx, CLNAS_E_UNSUPPORTED, "\"%s\" has no fp64 (cl_khr_fp64): use fp32",
                               ctx->info.name);
    if (m == 0 || n == 0) return CLNAS_OK;
    if (k == 0) return scale_c(ctx, 1, m, n, beta, C, offC, ldc);
    ctx->n_gemms++;
    CLBlastStatusCode locked_result;
    CLBlastStatusCode s = CLBLAST_LOCKED(CLBlastDgemm(CLBlastLayoutRowMajor, transA ? CLBlastTransposeYes : CLBlastTransposeNo,
                                       transB ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, alpha,
                                       A, offA, lda, B, offB, ldb, beta, C, offC, ldc, &ctx->queue, NULL));
    return map_status(ctx, s, "DGEMM", m, n, k);
}

void clnas_gemm_ref(int transA, int transB, size_t m, size_t n, size_t k, double alpha,
                    const double *A, size_t lda, const double *B, size_t ldb, double beta,
                    double *C, size_t ldc)
{
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double acc = 0;
            for (size_t p = 0; p < k; p++) {
                double a = transA ? A[p * lda + i] : A[i * lda + p];
                double b = transB ? B[j * ldb + p] : B[p * ldb + j];
                acc += a * b;
            }
            C[i * ldc + j] = alpha * acc + (beta == 0 ? 0 : beta * C[i * ldc + j]);
        }
}

/* Per-device tuning (tune.c decides what, this file hands it over). CLBlast checks that every
 * parameter of the kernel is named (CLBlastMissingOverrideParameter; extra names are ignored) and
 * that the kernel is in its database (CLBlastDatabaseError otherwise); it does not check the
 * values, which is why tune.c validates them first. */
clnas_status clnas_gemm_override(clnas_ctx *ctx, const char *kernel, size_t n, const char *const *names,
                                 const size_t *values)
{
    /* CLBlast's prototype takes `const char **`; it only reads the strings. */
    CLBlastStatusCode locked_result;
    CLBlastStatusCode s = CLBLAST_LOCKED(CLBlastOverrideParameters(ctx->device, kernel, CLBlastPrecisionSingle, n,
                                                    (const char **)(uintptr_t)names, values));
    if (s == CLBlastSuccess) return CLNAS_OK;
    int code = (int)s;
    if (code < 0 && code > -1000)
        return clnas_set_error(ctx, code, "CLBlast rejected the tuned parameters of kernel %s: OpenCL error %s",
                               kernel, clnas_status_str(code));
    return clnas_set_error(ctx, CLNAS_E_CLBLAST, "CLBlast rejected the tuned parameters of kernel %s: CLBlast status %d%s",
                           kernel, code, code == CLBlastMissingOverrideParameter ? " (a parameter is missing)"
                                         : code == CLBlastDatabaseError ? " (no such kernel in its database)" : "");
}

#define CLNAS_STR_(x) #x
#define CLNAS_STR(x) CLNAS_STR_(x)
const char *clnas_clblast_version(void)
{
#if defined(CLBLAST_VERSION_MAJOR) && defined(CLBLAST_VERSION_MINOR) && defined(CLBLAST_VERSION_PATCH)
    return CLNAS_STR(CLBLAST_VERSION_MAJOR) "." CLNAS_STR(CLBLAST_VERSION_MINOR) "." CLNAS_STR(CLBLAST_VERSION_PATCH);
#else
    return "unknown";
#endif
}

/* `count` products C_i = A_i op(B_i) (alpha 1, beta 0) of one shape, the i-th at element offsets
 * offA[i], offB[i], offC[i] of the three buffers: one CLBlast batched GEMM, parallel across the
 * products (used for the column chunks of a long Gram matrix, see ntk.c). */
clnas_status clnas_gemm_batched(clnas_ctx *ctx, int dbl, int transA, int transB, size_t m, size_t n, size_t k,
                                cl_mem A, const size_t *offA, size_t lda, cl_mem B, const size_t *offB, size_t ldb,
                                cl_mem C, const size_t *offC, size_t ldc, size_t count)
{
    if (dbl && !ctx->info.fp64)
        return clnas_set_error(ctx, CLNAS_E_UNSUPPORTED, "\"%s\" has no fp64 (cl_khr_fp64): use fp32", ctx->info.name);
    if (count == 0 || m == 0 || n == 0) return CLNAS_OK;
    if (k == 0) {
        for (size_t i = 0; i < count; i++) {
            clnas_status st = scale_c(ctx, dbl, m, n, 0.0, C, offC[i], ldc);
            if (st != CLNAS_OK) return st;
        }
        return CLNAS_OK;
    }
    enum { MAXB = 64 };
    if (count > MAXB)
        return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "batched GEMM: %zu products, at most %d per call", count, MAXB);
    float af[MAXB], bf[MAXB];
    double ad[MAXB], bd[MAXB];
    for (size_t i = 0; i < count; i++) { af[i] = 1.0f; bf[i] = 0.0f; ad[i] = 1.0; bd[i] = 0.0; }
    const CLBlastTranspose ta = transA ? CLBlastTransposeYes : CLBlastTransposeNo;
    const CLBlastTranspose tb = transB ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastStatusCode locked_result;
    CLBlastStatusCode s = CLBLAST_LOCKED(dbl ? CLBlastDgemmBatched(CLBlastLayoutRowMajor, ta, tb, m, n, k, ad, A, offA, lda, B, offB,
                                                    ldb, bd, C, offC, ldc, count, &ctx->queue, NULL)
                              : CLBlastSgemmBatched(CLBlastLayoutRowMajor, ta, tb, m, n, k, af, A, offA, lda, B, offB,
                                                    ldb, bf, C, offC, ldc, count, &ctx->queue, NULL));
    return map_status(ctx, s, dbl ? "DGEMM (batched)" : "SGEMM (batched)", m, n, k);
}

/* `count` products C_i = alpha op(A_i) op(B_i) + beta C_i of one shape, the i-th at offA +
 * i*strideA (B, C likewise; offsets in elements): one CLBlast strided-batched GEMM in fp32
 * (the window attention's per-(sample, window, head) products). */
clnas_status clnas_gemm_strided(clnas_ctx *ctx, int transA, int transB, size_t m, size_t n, size_t k, float alpha,
                                cl_mem A, size_t offA, size_t lda, size_t strideA, cl_mem B, size_t offB, size_t ldb,
                                size_t strideB, float beta, cl_mem C, size_t offC, size_t ldc, size_t strideC,
                                size_t count)
{
    if (count == 0 || m == 0 || n == 0) return CLNAS_OK;
    if (k == 0) {
        for (size_t i = 0; i < count; i++) {
            clnas_status st = scale_c(ctx, 0, m, n, beta, C, offC + i * strideC, ldc);
            if (st != CLNAS_OK) return st;
        }
        return CLNAS_OK;
    }
    CLBlastStatusCode locked_result;
    CLBlastStatusCode s = CLBLAST_LOCKED(CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, transA ? CLBlastTransposeYes : CLBlastTransposeNo,
                                                     transB ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, alpha, A,
                                                     offA, lda, strideA, B, offB, ldb, strideB, beta, C, offC, ldc, strideC,
                                                     count, &ctx->queue, NULL));
    return map_status(ctx, s, "SGEMM (strided batched)", m, n, k);
}
