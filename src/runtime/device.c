/* device.c - OpenCL platform/device discovery, device choice, and the context lifecycle. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "internal.h"

static void get_str(cl_device_id d, cl_device_info what, char *buf, size_t len)
{
    buf[0] = 0;
    if (clGetDeviceInfo(d, what, len, buf, NULL) != CL_SUCCESS) buf[0] = 0;
    buf[len - 1] = 0;
}

static void fill_info(cl_platform_id p, int pi, cl_device_id d, int index, clnas_device_info *o)
{
    memset(o, 0, sizeof *o);
    o->index = index;
    o->platform_index = pi;
    clGetPlatformInfo(p, CL_PLATFORM_NAME, sizeof o->platform_name, o->platform_name, NULL);
    clGetPlatformInfo(p, CL_PLATFORM_VERSION, sizeof o->platform_version, o->platform_version, NULL);
    o->platform_name[sizeof o->platform_name - 1] = 0;
    o->platform_version[sizeof o->platform_version - 1] = 0;
    get_str(d, CL_DEVICE_NAME, o->name, sizeof o->name);
    get_str(d, CL_DEVICE_VENDOR, o->vendor, sizeof o->vendor);
    get_str(d, CL_DRIVER_VERSION, o->driver_version, sizeof o->driver_version);
    get_str(d, CL_DEVICE_VERSION, o->device_version, sizeof o->device_version);
    get_str(d, CL_DEVICE_OPENCL_C_VERSION, o->opencl_c_version, sizeof o->opencl_c_version);
    cl_device_type t = 0;
    clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof t, &t, NULL);
    o->type = (t & CL_DEVICE_TYPE_GPU) ? "GPU" : (t & CL_DEVICE_TYPE_CPU) ? "CPU"
            : (t & CL_DEVICE_TYPE_ACCELERATOR) ? "ACCELERATOR" : "OTHER";
    cl_uint cu = 0;
    clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
    o->compute_units = cu;
    cl_ulong v = 0;
    clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof v, &v, NULL);
    o->global_mem_bytes = v;
    v = 0;
    clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_SIZE, sizeof v, &v, NULL);
    o->local_mem_bytes = v;
    v = 0;
    clGetDeviceInfo(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof v, &v, NULL);
    o->max_alloc_bytes = v;
    size_t wg = 0;
    clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
    o->max_work_group = wg;
    cl_device_fp_config fp = 0;
    clGetDeviceInfo(d, CL_DEVICE_DOUBLE_FP_CONFIG, sizeof fp, &fp, NULL);
    char ext[4096];
    get_str(d, CL_DEVICE_EXTENSIONS, ext, sizeof ext);
    o->fp64 = fp != 0 || strstr(ext, "cl_khr_fp64") != NULL;
}

/* Enumerates (platform, device) pairs in a fixed order; calls f for each. */
typedef int (*visit_fn)(void *ud, cl_platform_id p, int pi, cl_device_id d, int index);
static clnas_status visit_devices(visit_fn f, void *ud, int *count)
{
    cl_uint np = 0;
    cl_int e = clGetPlatformIDs(0, NULL, &np);
    *count = 0;
    if (e == -1001 /* CL_PLATFORM_NOT_FOUND_KHR: no ICD installed */ || np == 0) return CLNAS_OK;
    if (e != CL_SUCCESS) return (clnas_status)e;
    cl_platform_id *ps = calloc(np, sizeof *ps);
    if (!ps) return CLNAS_E_NOMEM;
    e = clGetPlatformIDs(np, ps, NULL);
    if (e != CL_SUCCESS) { free(ps); return (clnas_status)e; }
    int index = 0;
    for (cl_uint p = 0; p < np; p++) {
        cl_uint nd = 0;
        if (clGetDeviceIDs(ps[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) != CL_SUCCESS || nd == 0) continue;
        cl_device_id *ds = calloc(nd, sizeof *ds);
        if (!ds) { free(ps); return CLNAS_E_NOMEM; }
        if (clGetDeviceIDs(ps[p], CL_DEVICE_TYPE_ALL, nd, ds, NULL) == CL_SUCCESS) {
            for (cl_uint d = 0; d < nd; d++) {
                if (f && f(ud, ps[p], (int)p, ds[d], index)) { free(ds); free(ps); *count = index + 1; return CLNAS_OK; }
                index++;
            }
        }
        free(ds);
    }
    free(ps);
    *count = index;
    return CLNAS_OK;
}

struct list_ud { clnas_device_info *arr; int cap; };
static int list_visit(void *ud, cl_platform_id p, int pi, cl_device_id d, int index)
{
    struct list_ud *u = ud;
    if (index < u->cap) fill_info(p, pi, d, index, &u->arr[index]);
    return 0;
}

/* The reason for a failed listing, in err. */
static clnas_status list_error(clnas_status st, char *err, size_t errlen)
{
    if (err && errlen) {
        if (st == CLNAS_E_NOMEM) snprintf(err, errlen, "out of host memory listing the OpenCL devices");
        else snprintf(err, errlen, "the OpenCL loader failed to list platforms or devices: %s (%d)", clnas_status_str(st), (int)st);
    }
    return st;
}

clnas_status clnas_devices_list(clnas_device_info **out, int *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    if (err && errlen) err[0] = 0;
    int count = 0;
    clnas_status st = visit_devices(NULL, NULL, &count);
    if (st != CLNAS_OK) return list_error(st, err, errlen);
    if (count == 0) return CLNAS_OK;
    struct list_ud u = {calloc((size_t)count, sizeof(clnas_device_info)), count};
    if (!u.arr) return list_error(CLNAS_E_NOMEM, err, errlen);
    int again = 0;
    st = visit_devices(list_visit, &u, &again);
    if (st != CLNAS_OK) {
        free(u.arr);
        return list_error(st, err, errlen);
    }
    *out = u.arr;
    *n = again < count ? again : count;
    return CLNAS_OK;
}

struct pick_ud { int want; cl_platform_id p; cl_device_id d; };
static int pick_visit(void *ud, cl_platform_id p, int pi, cl_device_id d, int index)
{
    struct pick_ud *u = ud;
    if (index == u->want) { u->p = p; u->d = d; return 1; }
    return 0;
}

static int contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *h = hay; *h; h++)
        if (strncasecmp(h, needle, n) == 0) return 1;
    return 0;
}

static void list_into_error(clnas_ctx *ctx, const clnas_device_info *devs, int n)
{
    if (n == 0) {
        clnas_append_error(ctx, " No OpenCL device is installed: install a driver (for the CPU: "
                                "apt-get install pocl-opencl-icd) and check with `clinfo -l`.");
        return;
    }
    clnas_append_error(ctx, " Devices that exist:");
    for (int i = 0; i < n; i++)
        clnas_append_error(ctx, "\n  %d: %s [%s] (%s)", devs[i].index, devs[i].name, devs[i].type,
                           devs[i].platform_name);
}

static clnas_status choose(clnas_ctx *ctx, const char *spec, int *chosen)
{
    clnas_device_info *devs = NULL;
    int n = 0;
    char why[256];
    clnas_status st = clnas_devices_list(&devs, &n, why, sizeof why);
    if (st != CLNAS_OK) return clnas_set_error(ctx, st, "%s", why);
    *chosen = -1;
    if (!spec || !*spec) {
        for (int i = 0; i < n && *chosen < 0; i++)
            if (strcmp(devs[i].type, "GPU") == 0) *chosen = i;
        if (*chosen < 0 && n > 0) *chosen = 0;
        if (*chosen < 0) {
            clnas_set_error(ctx, CLNAS_E_NO_DEVICE, "no OpenCL device found.");
            list_into_error(ctx, devs, n);
        }
    } else {
        int digits = 1;
        for (const char *c = spec; *c; c++)
            if (!isdigit((unsigned char)*c)) digits = 0;
        if (digits) {
            long v = strtol(spec, NULL, 10);
            if (v >= 0 && v < n) *chosen = (int)v;
        } else {
            for (int i = 0; i < n && *chosen < 0; i++)
                if (contains_ci(devs[i].name, spec) || contains_ci(devs[i].vendor, spec) ||
                    contains_ci(devs[i].platform_name, spec))
                    *chosen = i;
        }
        if (*chosen < 0) {
            clnas_set_error(ctx, CLNAS_E_NO_DEVICE, "no OpenCL device matches \"%s\" (give an index "
                            "from `clnas devices` or part of a device name).", spec);
            list_into_error(ctx, devs, n);
        }
    }
    if (*chosen >= 0) ctx->info = devs[*chosen];
    free(devs);
    return *chosen >= 0 ? CLNAS_OK : CLNAS_E_NO_DEVICE;
}

static void init_cache_dir(clnas_ctx *ctx)
{
    ctx->cache_debug = getenv("CLNAS_CL_CACHE_DEBUG") && atoi(getenv("CLNAS_CL_CACHE_DEBUG")) > 0;
    /* no cache directory (or one whose path does not fit) only means: compile every time */
    ctx->cache_off = clnas_cache_dir("cl", ctx->cache_dir, sizeof ctx->cache_dir, NULL, 0) != CLNAS_OK;
}

/* Set once by the application before contexts exist (the `clnas` command's tuning hint). */
static clnas_ctx_created_fn created_hook;
void clnas_set_ctx_created_hook(clnas_ctx_created_fn fn) { created_hook = fn; }

clnas_status clnas_ctx_create(const char *device, clnas_ctx **out)
{
    *out = NULL;
    clnas_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return CLNAS_E_NOMEM;
    *out = ctx;
    init_cache_dir(ctx);
    const char *spec = device;
    if (!spec || !*spec) spec = getenv("CLNAS_DEVICE");
    int chosen = -1;
    clnas_status st = choose(ctx, spec, &chosen);
    if (st != CLNAS_OK) {
        if (spec && spec != device) /* say where a stale choice came from */
            clnas_append_error(ctx, "\n(\"%s\" is the value of the environment variable CLNAS_DEVICE.)", spec);
        return st;
    }
    struct pick_ud u = {chosen, NULL, NULL};
    int count = 0;
    st = visit_devices(pick_visit, &u, &count);
    if (st != CLNAS_OK || !u.d)
        return clnas_set_error(ctx, CLNAS_E_NO_DEVICE, "device %d disappeared while opening it", chosen);
    ctx->platform = u.p;
    ctx->device = u.d;
    cl_uint vw = 0; /* a hint for kernel shapes only: a failed query means "no preference" */
    if (clGetDeviceInfo(u.d, CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT, sizeof vw, &vw, NULL) != CL_SUCCESS) vw = 0;
    ctx->vec_float = vw;
    cl_int e = CL_SUCCESS;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)u.p, 0};
    ctx->context = clCreateContext(props, 1, &u.d, NULL, NULL, &e);
    if (e != CL_SUCCESS)
        return clnas_set_error(ctx, e, "clCreateContext on \"%s\" failed: %s", ctx->info.name,
                               clnas_status_str(e));
    ctx->queue = clCreateCommandQueue(ctx->context, u.d, 0, &e);
    if (e != CL_SUCCESS)
        return clnas_set_error(ctx, e, "clCreateCommandQueue on \"%s\" failed: %s", ctx->info.name,
                               clnas_status_str(e));
    /* GEMM tuning goes in before anything can run a GEMM: CLBlast reads its parameters when it
     * first builds the GEMM program for a device (tune.c) */
    clnas_tune_ctx_init(ctx);
    if (created_hook) created_hook(ctx);
    return CLNAS_OK;
}

void clnas_programs_release(clnas_ctx *ctx); /* program.c */

void clnas_ctx_destroy(clnas_ctx *ctx)
{
    if (!ctx) return;
    if (ctx->queue) clFinish(ctx->queue);
    clnas_programs_release(ctx);
    if (ctx->context) clnas_buf_cache_drop(ctx->context);
    if (ctx->queue) clReleaseCommandQueue(ctx->queue);
    if (ctx->context) clReleaseContext(ctx->context);
    free(ctx);
}

const char *clnas_ctx_errmsg(const clnas_ctx *ctx) { return ctx ? ctx->err : "out of host memory"; }
const clnas_device_info *clnas_ctx_device(const clnas_ctx *ctx) { return &ctx->info; }

const char *clnas_ctx_tuning_source(const clnas_ctx *ctx) { return ctx->tune_source ? ctx->tune_source : "none"; }
const char *clnas_ctx_tuning_note(const clnas_ctx *ctx) { return ctx->tune_note; }

void clnas_ctx_cache_stats(const clnas_ctx *ctx, int *disk_hits, int *compiled)
{
    if (disk_hits) *disk_hits = ctx->disk_hits;
    if (compiled) *compiled = ctx->compiled;
}

clnas_status clnas_ctx_finish(clnas_ctx *ctx)
{
    CL_CHECK(ctx, clFinish(ctx->queue));
    return CLNAS_OK;
}
