/* buffer.c - device buffer helpers. Allocation failures are reported as CLNAS_E_DEVICE_MEM
 * with the size asked for and the device's limits, so a user knows what to shrink.
 *
 * Released buffers go to a small cache and are handed out again to the next request of the same
 * size class on the same context: a study scores thousands of networks, each with its own plan of
 * the same few buffer shapes, and a fresh buffer costs more than its clCreateBuffer (PoCL maps new
 * host pages for it, and every first touch is a page fault: ~30 % of a proxy study's time went to
 * the OS kernel). Sizes are rounded up to classes 1/8 of a power of two apart (at most 12.5 % more),
 * and a request takes the smallest kept buffer that holds it if that is at most 1.5x its size, so
 * that the nearly equal requests of different networks share buffers. The cache never makes an allocation fail: it is
 * emptied and the allocation retried before any out-of-memory error, CLNAS_DEVICE_MEM_LIMIT counts
 * live buffers only, and clnas_ctx_destroy empties the context's entries (clnas_buf_cache_drop).
 * CLNAS_BUF_CACHE=0 turns it off (then every buffer is new, as before). A buffer from the cache
 * holds what its previous user left in it; OpenCL never promised a new one would be zero. */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/fault.h"
#include "internal.h"

/* Device bytes held by clnas's live buffers (all contexts of the process), for CLNAS_DEVICE_MEM_LIMIT. */
static size_t dev_in_use;

#define CACHE_SLOTS 48
static struct cached_buf {
    cl_context context;
    cl_mem mem;
    size_t bytes;
    unsigned long tick; /* when it was released: the oldest goes first */
} cache[CACHE_SLOTS];
static int ncache;
static size_t cache_bytes;
static unsigned long cache_tick;
static size_t cache_cap; /* the budget the last allocation computed (clnas_buf_free has no context) */
static pthread_mutex_t buf_mu = PTHREAD_MUTEX_INITIALIZER; /* dev_in_use and the cache: workers share them */

/* The cache's budget: CLNAS_BUF_CACHE=MiB (0: off); by default a quarter of the device's memory
 * up to 4 GiB on a CPU device (its memory is the host's, and a proxy study's plans of several
 * proxies hold 1.5-2 GiB between them), an eighth up to 1 GiB on others, so that what it keeps back
 * is small next to what a GPU has. */
static size_t cache_budget(const clnas_ctx *ctx)
{
    const char *v = getenv("CLNAS_BUF_CACHE");
    if (v && *v) {
        char *end;
        unsigned long long mib = strtoull(v, &end, 10);
        if (*end == '\0' && mib <= (1ull << 30)) return (size_t)(mib << 20);
        /* anything else is ignored: a cache size is not worth stopping a run for */
    }
    const int cpu = ctx->info.type && strcmp(ctx->info.type, "CPU") == 0;
    uint64_t cap = (uint64_t)(cpu ? 4 : 1) << 30, part = ctx->info.global_mem_bytes / (cpu ? 4 : 8);
    return (size_t)(part < cap ? part : cap);
}

/* The size class of a request: a multiple of 4 KiB up to 64 KiB, then of an eighth of the largest
 * power of two below it. */
static size_t size_class(size_t b)
{
    if (b <= 65536) return (b + 4095) & ~(size_t)4095;
    size_t p = 65536;
    while (p <= b / 2) p <<= 1;
    size_t step = p / 8;
    return b > SIZE_MAX - step ? b : (b + step - 1) / step * step;
}

/* Releases the cache entries of `context` (NULL: all); buf_mu held. */
static void cache_drop_locked(cl_context context)
{
    int k = 0;
    for (int i = 0; i < ncache; i++) {
        if (!context || cache[i].context == context) {
            cache_bytes -= cache[i].bytes;
            clReleaseMemObject(cache[i].mem);
        } else {
            cache[k++] = cache[i];
        }
    }
    ncache = k;
}

void clnas_buf_cache_drop(cl_context context)
{
    pthread_mutex_lock(&buf_mu);
    cache_drop_locked(context);
    pthread_mutex_unlock(&buf_mu);
}

/* The smallest cached buffer on `context` that holds `bytes` and is at most half as large again
 * (plans of different networks ask for nearly the same sizes), the most recently released among
 * equals; NULL if none. *got is its size. */
static cl_mem cache_take(cl_context context, size_t bytes, size_t *got)
{
    int best = -1;
    const size_t most = bytes + bytes / 2;
    pthread_mutex_lock(&buf_mu);
    for (int i = 0; i < ncache; i++) {
        if (cache[i].context != context || cache[i].bytes < bytes || cache[i].bytes > most) continue;
        if (best < 0 || cache[i].bytes < cache[best].bytes ||
            (cache[i].bytes == cache[best].bytes && cache[i].tick > cache[best].tick))
            best = i;
    }
    cl_mem m = NULL;
    if (best >= 0) {
        m = cache[best].mem;
        *got = cache[best].bytes;
        cache_bytes -= *got;
        dev_in_use += *got;
        cache[best] = cache[--ncache];
    }
    pthread_mutex_unlock(&buf_mu);
    return m;
}

size_t clnas_buf_in_use(void)
{
    pthread_mutex_lock(&buf_mu);
    size_t v = dev_in_use;
    pthread_mutex_unlock(&buf_mu);
    return v;
}

/* CLNAS_DEVICE_MEM_LIMIT=BYTES: the device memory clnas may hold (testing and shared devices);
 * 0 when unset. A malformed value counts as no memory at all, so the error names it. */
static long long mem_limit(char *why, size_t len)
{
    long v = 0;
    int r = clnas_env_long("CLNAS_DEVICE_MEM_LIMIT", 1, LONG_MAX, &v, why, len);
    return r < 0 ? -1 : r == 0 ? 0 : (long long)v;
}

static int is_oom(cl_int e)
{
    return e == CL_MEM_OBJECT_ALLOCATION_FAILURE || e == CL_OUT_OF_RESOURCES || e == CL_INVALID_BUFFER_SIZE;
}

clnas_status clnas_buf_alloc(clnas_ctx *ctx, size_t bytes, cl_mem *out)
{
    *out = NULL;
    if (bytes == 0) bytes = 4;
    char why[256] = "";
    long long limit = mem_limit(why, sizeof why);
    if (limit < 0) return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "%s", why);
    size_t held = clnas_buf_in_use();
    if (limit > 0 && (bytes > (size_t)limit || held > (size_t)limit - bytes))
        return clnas_set_error(ctx, CLNAS_E_DEVICE_MEM,
                               "a %.1f MiB buffer does not fit: %.1f MiB of the %.1f MiB that CLNAS_DEVICE_MEM_LIMIT "
                               "allows are in use", (double)bytes / 1048576.0, (double)held / 1048576.0,
                               (double)limit / 1048576.0);
    if ((uint64_t)bytes > ctx->info.max_alloc_bytes && ctx->info.max_alloc_bytes > 0)
        return clnas_set_error(ctx, CLNAS_E_DEVICE_MEM,
                               "a %.1f MiB buffer exceeds the largest single allocation of \"%s\" "
                               "(%.1f MiB): use a smaller batch or fewer seeds in flight",
                               (double)bytes / 1048576.0, ctx->info.name,
                               (double)ctx->info.max_alloc_bytes / 1048576.0);
    if (clnas_fault_alloc()) /* the CLNAS_FAIL_ALLOC testing hook: as if the device were full */
        return clnas_set_error(ctx, CLNAS_E_DEVICE_MEM, "allocating %.1f MiB on \"%s\" failed (CLNAS_FAIL_ALLOC)",
                               (double)bytes / 1048576.0, ctx->info.name);
    size_t budget = cache_budget(ctx);
    pthread_mutex_lock(&buf_mu);
    cache_cap = budget;
    pthread_mutex_unlock(&buf_mu);
    /* the size class (the exact size with the cache off, or where rounding would pass a limit
     * that the exact size is within) */
    size_t cls = budget > 0 ? size_class(bytes) : bytes;
    if ((ctx->info.max_alloc_bytes > 0 && (uint64_t)cls > ctx->info.max_alloc_bytes) ||
        (limit > 0 && (cls > (size_t)limit || held > (size_t)limit - cls)))
        cls = bytes;
    size_t got = 0;
    if (budget > 0 && (*out = cache_take(ctx->context, cls, &got)) != NULL) {
        if (limit > 0 && clnas_buf_in_use() > (size_t)limit) { /* the larger buffer passes the limit: a new one */
            clnas_buf_free(*out);
            *out = NULL;
        } else {
            return CLNAS_OK;
        }
    }
    cl_int e = CL_SUCCESS;
    *out = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, cls, NULL, &e);
    if (is_oom(e)) { /* what the cache keeps back may be what is missing: give it back and try again */
        clnas_buf_cache_drop(NULL);
        *out = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, cls, NULL, &e);
    }
    if (e != CL_SUCCESS) {
        *out = NULL;
        return clnas_set_error(ctx, is_oom(e) ? CLNAS_E_DEVICE_MEM : (clnas_status)e,
                               "allocating %.1f MiB on \"%s\" failed (%s; device memory %.1f MiB): "
                               "use a smaller batch or fewer seeds in flight",
                               (double)bytes / 1048576.0, ctx->info.name, clnas_status_str(e),
                               (double)ctx->info.global_mem_bytes / 1048576.0);
    }
    pthread_mutex_lock(&buf_mu);
    dev_in_use += cls;
    pthread_mutex_unlock(&buf_mu);
    return CLNAS_OK;
}

void clnas_buf_free(cl_mem m)
{
    if (!m) return;
    size_t bytes = 0;
    cl_context context = NULL;
    if (clGetMemObjectInfo(m, CL_MEM_SIZE, sizeof bytes, &bytes, NULL) != CL_SUCCESS ||
        clGetMemObjectInfo(m, CL_MEM_CONTEXT, sizeof context, &context, NULL) != CL_SUCCESS) {
        clReleaseMemObject(m);
        return;
    }
    pthread_mutex_lock(&buf_mu);
    size_t budget = cache_cap;
    dev_in_use -= bytes <= dev_in_use ? bytes : dev_in_use;
    if (bytes <= budget) {
        while (ncache > 0 && (ncache == CACHE_SLOTS || cache_bytes + bytes > budget)) {
            int old = 0; /* the oldest entry makes room */
            for (int i = 1; i < ncache; i++)
                if (cache[i].tick < cache[old].tick) old = i;
            cache_bytes -= cache[old].bytes;
            clReleaseMemObject(cache[old].mem);
            cache[old] = cache[--ncache];
        }
        cache[ncache++] = (struct cached_buf){context, m, bytes, ++cache_tick};
        cache_bytes += bytes;
        m = NULL;
    }
    pthread_mutex_unlock(&buf_mu);
    if (m) clReleaseMemObject(m);
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
