/* gemm.c - the only file that talks to CLBlast. Row-major GEMM with element offsets;
 * CLBlast's status codes that are OpenCL codes pass through, its own become CLNAS_E_CLBLAST
 * with the number in the message. A naive double reference lives here too. */
#include <clblast_c.h>
#include <stdio.h>
#include "internal.h"

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
            CLBlastStatusCode s = dbl ? CLBlastDscal(n, beta, C, off, 1, &ctx->queue, NULL)
                                      : CLBlastSscal(n, (float)beta, C, off, 1, &ctx->queue, NULL);
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
    CLBlastStatusCode s = CLBlastSgemm(CLBlastLayoutRowMajor, transA ? CLBlastTransposeYes : CLBlastTransposeNo,
                                       transB ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, alpha,
                                       A, offA, lda, B, offB, ldb, beta, C, offC, ldc, &ctx->queue, NULL);
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
    CLBlastStatusCode s = CLBlastDgemm(CLBlastLayoutRowMajor, transA ? CLBlastTransposeYes : CLBlastTransposeNo,
                                       transB ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, alpha,
                                       A, offA, lda, B, offB, ldb, beta, C, offC, ldc, &ctx->queue, NULL);
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
