/* buffer.c - device buffer helpers. Allocation failures are reported as CLNAS_E_DEVICE_MEM
 * with the size asked for and the device's limits, so a user knows what to shrink. */
#include <limits.h>
#include <stdio.h>
#include "core/fault.h"
#include "internal.h"

/* Device bytes held by clnas's buffers (all contexts of the process), for CLNAS_DEVICE_MEM_LIMIT. */
static size_t dev_in_use;

/* CLNAS_DEVICE_MEM_LIMIT=BYTES: the device memory clnas may hold (testing and shared devices);
 * 0 when unset. A malformed value counts as no memory at all, so the error names it. */
static long long mem_limit(char *why, size_t len)
{
    long v = 0;
    int r = clnas_env_long("CLNAS_DEVICE_MEM_LIMIT", 1, LONG_MAX, &v, why, len);
    return r < 0 ? -1 : r == 0 ? 0 : (long long)v;
}

size_t clnas_buf_in_use(void) { return dev_in_use; }

clnas_status clnas_buf_alloc(clnas_ctx *ctx, size_t bytes, cl_mem *out)
{
    *out = NULL;
    if (bytes == 0) bytes = 4;
    char why[256] = "";
    long long limit = mem_limit(why, sizeof why);
    if (limit < 0) return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "%s", why);
    if (limit > 0 && (bytes > (size_t)limit || dev_in_use > (size_t)limit - bytes))
        return clnas_set_error(ctx, CLNAS_E_DEVICE_MEM,
                               "a %.1f MiB buffer does not fit: %.1f MiB of the %.1f MiB that CLNAS_DEVICE_MEM_LIMIT "
                               "allows are in use", (double)bytes / 1048576.0, (double)dev_in_use / 1048576.0,
                               (double)limit / 1048576.0);
    if ((uint64_t)bytes > ctx->info.max_alloc_bytes && ctx->info.max_alloc_bytes > 0)
        return clnas_set_error(ctx, CLNAS_E_DEVICE_MEM,
                               "a %.1f MiB buffer exceeds the largest single allocation of \"%s\" "
                               "(%.1f MiB): use a smaller batch or fewer seeds in flight",
                               (double)bytes / 1048576.0, ctx->info.name,
                               (double)ctx->info.max_alloc_bytes / 1048576.0);
    cl_int e = CL_SUCCESS;
    if (clnas_fault_alloc()) /* the CLNAS_FAIL_ALLOC testing hook: as if the device were full */
        return clnas_set_error(ctx, CLNAS_E_DEVICE_MEM, "allocating %.1f MiB on \"%s\" failed (CLNAS_FAIL_ALLOC)",
                               (double)bytes / 1048576.0, ctx->info.name);
    *out = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, bytes, NULL, &e);
    if (e != CL_SUCCESS) {
        *out = NULL;
        return clnas_set_error(ctx, e == CL_MEM_OBJECT_ALLOCATION_FAILURE || e == CL_OUT_OF_RESOURCES ||
                                            e == CL_INVALID_BUFFER_SIZE
                                        ? CLNAS_E_DEVICE_MEM : (clnas_status)e,
                               "allocating %.1f MiB on \"%s\" failed (%s; device memory %.1f MiB): "
                               "use a smaller batch or fewer seeds in flight",
                               (double)bytes / 1048576.0, ctx->info.name, clnas_status_str(e),
                               (double)ctx->info.global_mem_bytes / 1048576.0);
    }
    dev_in_use += bytes;
    return CLNAS_OK;
}

void clnas_buf_free(cl_mem m)
{
    if (!m) return;
    size_t bytes = 0;
    if (clGetMemObjectInfo(m, CL_MEM_SIZE, sizeof bytes, &bytes, NULL) == CL_SUCCESS)
        dev_in_use -= bytes <= dev_in_use ? bytes : dev_in_use;
    clReleaseMemObject(m);
}

clnas_status clnas_buf_write(clnas_ctx *ctx, cl_mem m, size_t off, size_t bytes, const void *src)
{
    if (!bytes) return CLNAS_OK;
    CL_CHECK(ctx, clEnqueueWriteBuffer(ctx->queue, m, CL_TRUE, off, bytes, src, 0, NULL, NULL));
    ctx->n_transfers++;
    return CLNAS_OK;
}

clnas_status clnas_buf_read(clnas_ctx *ctx, cl_mem m, size_t off, size_t bytes, void *dst)
{
    if (!bytes) return CLNAS_OK;
    CL_CHECK(ctx, clEnqueueReadBuffer(ctx->queue, m, CL_TRUE, off, bytes, dst, 0, NULL, NULL));
    ctx->n_transfers++;
    return CLNAS_OK;
}

clnas_status clnas_buf_zero(clnas_ctx *ctx, cl_mem m, size_t off, size_t bytes)
{
    if (!bytes) return CLNAS_OK;
    const float zero = 0.0f;
    if (off % sizeof(float) || bytes % sizeof(float))
        return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "clnas_buf_zero: offset/size not float-aligned");
    CL_CHECK(ctx, clEnqueueFillBuffer(ctx->queue, m, &zero, sizeof zero, off, bytes, 0, NULL, NULL));
    ctx->n_fills++;
    return CLNAS_OK;
}
