/* internal.h - what every part of libclnas shares but users never see:
 * the context body, the error macros, kernel lookup and launch, device buffers,
 * the CLBlast wrapper and small utilities. Nothing NAS-specific lives here.
 * Commands (src/cli/) are not meant to include it: they use the public headers and
 * the narrow internal ones made for them (src/bench/bench.h, runtime/tune.h). */
#ifndef CLNAS_INTERNAL_H
#define CLNAS_INTERNAL_H

#define CL_USE_DEPRECATED_OPENCL_1_2_APIS
#include <CL/cl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "clnas/context.h"
#include "clnas/status.h"
#include "runtime/tune.h" /* clnas_tuning: what a context applied */

#define CLNAS_ERRMSG_LEN 4096

/* printf-style argument checking where the compiler has it. */
#if defined(__GNUC__)
#define CLNAS_PRINTF(fmt, first) __attribute__((format(printf, fmt, first)))
#else
#define CLNAS_PRINTF(fmt, first)
#endif

struct clnas_kernel_entry {
    char name[64];
    cl_kernel kernel;
};

struct clnas_prog_entry {
    char file[64];
    char *options;               /* owned */
    cl_program program;
    struct clnas_kernel_entry *kernels; /* owned array */
    int nkernels, capkernels;
};

struct clnas_ctx {
    cl_platform_id platform;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;
    clnas_device_info info;
    char err[CLNAS_ERRMSG_LEN];
    struct clnas_prog_entry *progs; /* owned array */
    int nprogs, capprogs;
    int disk_hits, compiled;
    int cache_off;
    int cache_debug;
    char cache_dir[1024];       /* the program cache: clnas_cache_dir("cl") */
    /* ---- per-device tuning (src/runtime/tune.c, runtime/tune.h): set once by clnas_ctx_create ---- */
    clnas_tuning tune;          /* what was applied: GEMM parameters and per-device values (all zero when nothing was) */
    const char *tune_source;    /* "file", "shipped", "none" or "off" (static string) */
    char tune_note[512];        /* why a tuning file was passed over, "" if it was not */
    /* ---- commands enqueued on queue, counted for `clnas bench --space darts`'s launch share ----
     * kernels launched through clnas_launch; calls into CLBlast's GEMM (each 1 to 4 kernels of its
     * own, not counted one by one); fills and copies; blocking reads and writes */
    unsigned long n_kernels, n_gemms, n_fills, n_transfers;
    int kernels_forced;         /* CLNAS_KERNELS_CPU/_GPU while `clnas tune` times that variant; else 0 */
    unsigned vec_float;         /* CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT (0 if the query failed) */
};

/* Records a formatted message in ctx->err (if ctx is not NULL) and returns status. */
clnas_status clnas_set_error(clnas_ctx *ctx, int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Appends to the current message (used to add context on the way up). */
void clnas_append_error(clnas_ctx *ctx, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Checks an OpenCL call; on failure records "file:line: call: CL_NAME" and returns it. */
#define CL_CHECK(ctx, call)                                                                    \
    do {                                                                                       \
        cl_int e_ = (call);                                                                    \
        if (e_ != CL_SUCCESS)                                                                  \
            return clnas_set_error((ctx), e_, "%s:%d: %s failed: %s", __FILE__, __LINE__, #call, \
                                   clnas_status_str(e_));                                      \
    } while (0)

/* For functions with a `fail:` cleanup label and a local `clnas_status st`. */
#define CLNAS_TRY(expr)                                                                        \
    do {                                                                                       \
        st = (expr);                                                                           \
        if (st != CLNAS_OK) goto fail;                                                         \
    } while (0)
#define CL_TRY(ctx, call)                                                                      \
    do {                                                                                       \
        cl_int e_ = (call);                                                                    \
        if (e_ != CL_SUCCESS) {                                                                \
            st = clnas_set_error((ctx), e_, "%s:%d: %s failed: %s", __FILE__, __LINE__, #call, \
                                 clnas_status_str(e_));                                        \
            goto fail;                                                                         \
        }                                                                                      \
    } while (0)

/* ---- programs and kernels (src/runtime/program.c) ----
 * Returns the kernel `name` from cl/<file> built with `defines` (e.g. "-DK=3 -DSTRIDE=1").
 * The kernel is owned by ctx and cached (in memory per context, and the program binary on
 * disk); do not release it. cl/common.clh is prepended to every source. */
clnas_status clnas_kernel_get(clnas_ctx *ctx, const char *file, const char *defines,
                              const char *name, cl_kernel *out);

/* Sets kernel arguments from a format string, one char per argument:
 *   'm' cl_mem, 'i' int, 'u' unsigned, 'f' float (passed as double), 'd' double,
 *   'l' local memory of the given size_t byte count. */
clnas_status clnas_kernel_args(clnas_ctx *ctx, cl_kernel k, const char *fmt, ...);

/* Enqueues k over a 1-, 2- or 3-D range. gws is rounded up to a multiple of lws when lws
 * is given (kernels must guard their bounds); lws may be NULL. */
clnas_status clnas_launch(clnas_ctx *ctx, cl_kernel k, cl_uint dims, const size_t *gws,
                          const size_t *lws);

/* The most work-items one group of k may have on this device: min(CL_DEVICE_MAX_WORK_GROUP_SIZE,
 * CL_KERNEL_WORK_GROUP_SIZE). Launch-geometry pickers cap their local sizes with it. */
clnas_status clnas_kernel_wg_limit(clnas_ctx *ctx, cl_kernel k, size_t *out);
/* The largest power of two <= min(want, clnas_kernel_wg_limit): a 1-D local size for kernels
 * that guard their bounds and need no particular group size. */
clnas_status clnas_lws_capped(clnas_ctx *ctx, cl_kernel k, size_t want, size_t *out);

/* 1 when kernels should take their CPU-shaped variant (each work item streams through a
 * contiguous run; few, small groups), 0 for the GPU-shaped one (neighbouring items read
 * neighbouring addresses). The choice: clnas_kernel_variant (runtime/tune.h): $CLNAS_KERNEL_VARIANT,
 * else the device's tuning (`clnas tune` measures both), else CPU devices get the CPU shape. */
int clnas_cpu_shaped(const clnas_ctx *ctx);

/* Reads the source text of cl/<file> (embedded, or from $CLNAS_CL_DIR). *out is malloc'd. */
clnas_status clnas_cl_source(clnas_ctx *ctx, const char *file, char **out, size_t *len);

/* ---- device buffers (src/runtime/buffer.c) ---- */
clnas_status clnas_buf_alloc(clnas_ctx *ctx, size_t bytes, cl_mem *out);
void clnas_buf_free(cl_mem m); /* NULL is a no-op; the buffer may be kept for reuse (buffer.c) */
/* Releases the kept buffers of `context` (NULL: of every context); clnas_ctx_destroy calls it. */
void clnas_buf_cache_drop(cl_context context);
/* Device bytes the buffers of clnas_buf_alloc hold now (what CLNAS_DEVICE_MEM_LIMIT counts). */
size_t clnas_buf_in_use(void);
clnas_status clnas_buf_write(clnas_ctx *ctx, cl_mem m, size_t off_bytes, size_t bytes, const void *src);
clnas_status clnas_buf_read(clnas_ctx *ctx, cl_mem m, size_t off_bytes, size_t bytes, void *dst);
clnas_status clnas_buf_zero(clnas_ctx *ctx, cl_mem m, size_t off_bytes, size_t bytes);

/* ---- GEMM through CLBlast (src/runtime/gemm.c), row-major, offsets in elements ----
 * C[m x n] = alpha * op(A) * op(B) + beta * C, op(X) = X or X^T as transX says. */
clnas_status clnas_gemm(clnas_ctx *ctx, int transA, int transB, size_t m, size_t n, size_t k,
                        float alpha, cl_mem A, size_t offA, size_t lda, cl_mem B, size_t offB,
                        size_t ldb, float beta, cl_mem C, size_t offC, size_t ldc);
/* The same in double; CLNAS_E_UNSUPPORTED when the device has no fp64. */
clnas_status clnas_dgemm(clnas_ctx *ctx, int transA, int transB, size_t m, size_t n, size_t k,
                         double alpha, cl_mem A, size_t offA, size_t lda, cl_mem B, size_t offB,
                         size_t ldb, double beta, cl_mem C, size_t offC, size_t ldc);
/* Host reference: same contract on host arrays, double accumulation. */
/* count (<= 64) products C_i = A_i op(B_i) of one shape at element offsets offA/offB/offC[i]; fp64
 * when dbl. One batched call, parallel across the products. */
clnas_status clnas_gemm_batched(clnas_ctx *ctx, int dbl, int transA, int transB, size_t m, size_t n, size_t k,
                                cl_mem A, const size_t *offA, size_t lda, cl_mem B, const size_t *offB, size_t ldb,
                                cl_mem C, const size_t *offC, size_t ldc, size_t count);
/* count products C_i = alpha op(A_i) op(B_i) + beta C_i, operand i at off + i*stride (elements),
 * fp32: one strided-batched call, no limit on count. */
clnas_status clnas_gemm_strided(clnas_ctx *ctx, int transA, int transB, size_t m, size_t n, size_t k, float alpha,
                                cl_mem A, size_t offA, size_t lda, size_t strideA, cl_mem B, size_t offB, size_t ldb,
                                size_t strideB, float beta, cl_mem C, size_t offC, size_t ldc, size_t strideC,
                                size_t count);
void clnas_gemm_ref(int transA, int transB, size_t m, size_t n, size_t k, double alpha,
                    const double *A, size_t lda, const double *B, size_t ldb, double beta,
                    double *C, size_t ldc);

/* ---- per-device tuning: see runtime/tune.h (what is stored and applied) ---- */
/* CLBlastOverrideParameters for single precision (gemm.c stays the only file that calls CLBlast). */
clnas_status clnas_gemm_override(clnas_ctx *ctx, const char *kernel, size_t n, const char *const *names,
                                 const size_t *values);

/* ---- small shared utilities (src/core/util.c, csv.c; the clock, hashing and CSV splitting are
 * in core/util.h so that commands can use them without this header) ---- */
#include "core/util.h"
/* Median of v[0..n) (n >= 1); sorts v in place. For timing repeats. */
double clnas_median(double *v, int n);
/* The directory `sub` of clnas's cache: $CLNAS_CACHE_DIR/sub, else $XDG_CACHE_HOME/clnas/sub, else
 * ~/.cache/clnas/sub (the one rule for the program cache, "cl", and the tuning files, "tune").
 * CLNAS_E_UNSUPPORTED when there is none (CLNAS_CACHE_DIR=off, or none of the three variables
 * set), CLNAS_E_INVALID_ARG when the path does not fit len; the reason in err (may be NULL). */
clnas_status clnas_cache_dir(const char *sub, char *out, size_t len, char *err, size_t errlen);
/* Creates directory `path` and its missing parents (mode 0755); an existing directory is fine.
 * CLNAS_E_IO (or CLNAS_E_INVALID_ARG for an empty or over-long path) with the reason in err. */
clnas_status clnas_mkdir_p(const char *path, char *err, size_t errlen);

#endif
