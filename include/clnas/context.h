/* clnas/context.h - OpenCL device discovery and the clnas context.
 *
 * A clnas_ctx owns one OpenCL context + in-order queue on one device, the
 * program cache (in memory and on disk), and the last error message. It is not
 * thread-safe: use one context per thread. */
#ifndef CLNAS_CONTEXT_H
#define CLNAS_CONTEXT_H

#include <stddef.h>
#include <stdint.h>
#include "clnas/status.h"

#ifdef __cplusplus
extern "C" {
#endif
CLNAS_API_BEGIN

typedef struct clnas_ctx clnas_ctx;

/* One OpenCL device as `clnas devices` prints it. `index` is the global index
 * over all platforms (platform order, then device order), which --device N takes. */
typedef struct clnas_device_info {
    int index;
    int platform_index;
    char platform_name[128];
    char platform_version[128];
    char name[256];
    char vendor[128];
    char driver_version[128];
    char device_version[128];
    char opencl_c_version[128];
    const char *type;           /* "GPU", "CPU", "ACCELERATOR" or "OTHER" (static string) */
    unsigned compute_units;
    uint64_t global_mem_bytes;
    uint64_t local_mem_bytes;
    uint64_t max_alloc_bytes;
    size_t max_work_group;
    int fp64;                   /* 1 when cl_khr_fp64 (or double fp config) is present */
} clnas_device_info;

/* Lists every device of every platform. On success *out is a malloc'd array the
 * caller frees with free(); *n may be 0 when no platform is installed (not an error).
 * On failure (the OpenCL loader reports an error, or host memory runs out) *out is NULL,
 * *n is 0 and a one-line reason goes to err (errlen bytes; err may be NULL): no context
 * exists yet to hold it. */
clnas_status clnas_devices_list(clnas_device_info **out, int *n, char *err, size_t errlen);

/* Creates a context.
 * device: NULL or "" -> $CLNAS_DEVICE if set, else the first GPU, else the first device.
 *         "N" (all digits) -> the device with global index N;
 *         anything else -> the first device whose name, vendor or platform name
 *         contains it (case-insensitive).
 * *out is set even on failure (unless host memory runs out) so the caller can read
 * clnas_ctx_errmsg(); destroy it with clnas_ctx_destroy either way. A bad choice
 * produces a message that lists the devices that exist. */
clnas_status clnas_ctx_create(const char *device, clnas_ctx **out);
void clnas_ctx_destroy(clnas_ctx *ctx); /* NULL is a no-op */

/* The message of the last failure in this context ("" if none). Borrowed: valid until the next call. */
const char *clnas_ctx_errmsg(const clnas_ctx *ctx);
/* The chosen device's description. Borrowed from ctx. */
const clnas_device_info *clnas_ctx_device(const clnas_ctx *ctx);

/* Program-cache statistics for this context: programs loaded from the on-disk binary
 * cache, and programs compiled from source. */
void clnas_ctx_cache_stats(const clnas_ctx *ctx, int *disk_hits, int *compiled);

/* Blocks until all work queued on the context has finished. */
clnas_status clnas_ctx_finish(clnas_ctx *ctx);

/* ---- per-device tuning (`clnas tune`) ----
 * clnas_ctx_create hands CLBlast tuned single-precision GEMM parameters for the device and keeps
 * the device's other tuned values (such as the NTK's activation-gradient budget, which decides
 * its backward seeds in flight), from (first that exists) the device's tuning file in
 * <cache>/tune/ written by `clnas tune`, or clnas's shipped defaults for that kind of device;
 * otherwise CLBlast's own database and the built-in defaults stay. CLNAS_TUNE=off applies nothing.
 * CLBlast keeps parameters per device for the whole process: contexts on one device share them. */

/* Where this context's tuning came from: "file", "shipped", "none" (untuned: CLBlast's own
 * parameters) or "off" (CLNAS_TUNE=off). Static string. */
const char *clnas_ctx_tuning_source(const clnas_ctx *ctx);
/* Why the device's tuning file was passed over (corrupt, or written for another driver or
 * CLBlast version), "" when it was not. Borrowed from ctx. Library code never prints: callers
 * decide whether to show it. */
const char *clnas_ctx_tuning_note(const clnas_ctx *ctx);
/* The same source for a device from clnas_devices_list without opening it ("file" only when its
 * tuning file exists and is usable). */
const char *clnas_device_tuning_source(const clnas_device_info *dev);

/* Called at the end of every successful clnas_ctx_create with the new context (NULL: nothing,
 * the default). Set it once, before any context is created. The `clnas` command uses it to print
 * its one-line "not tuned" hint; the library itself never prints. */
typedef void (*clnas_ctx_created_fn)(clnas_ctx *ctx);
void clnas_set_ctx_created_hook(clnas_ctx_created_fn fn);

CLNAS_API_END
#ifdef __cplusplus
}
#endif
#endif
