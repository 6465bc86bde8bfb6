/* program.c - OpenCL program build and the two-level program cache.
 *
 * In memory: per context, (file, options) -> cl_program and its kernels, built once.
 * On disk: the device binary of each program under $CLNAS_CACHE_DIR/cl (default
 * $XDG_CACHE_HOME/clnas/cl or ~/.cache/clnas/cl; CLNAS_CACHE_DIR=off disables). The file name
 * is a 64-bit hash of format ‖ source ‖ options ‖ device name ‖ driver version ‖ platform
 * version, so a driver upgrade or an edited kernel never loads a stale binary. Each file has
 * a header (magic, key, length, checksum); it is written to a temporary name and renamed, so
 * readers never see a partial file; any problem loading it falls back to compiling. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"

struct clnas_cl_source { const char *name; const char *text; size_t len; };
extern const struct clnas_cl_source clnas_cl_sources[];
extern const int clnas_cl_sources_embedded;

#define CACHE_MAGIC "CLNASPB1"
#define CACHE_FORMAT 1u
#define BUILD_BASE_OPTS "-cl-std=CL1.2 "

/* A whole regular file (NULL for anything else: a FIFO or a device in the cache folder must not
 * block or feed clnas; the open does not wait for a FIFO's writer). */
static char *read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    struct stat sb;
    if (fd < 0) return NULL;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > ((off_t)1 << 30)) {
        close(fd);
        return NULL;
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return NULL;
    }
    char *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 0 && fseek(f, 0, SEEK_SET) == 0) {
            buf = malloc((size_t)n + 1);
            if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n) {
                buf[n] = 0;
                *len = (size_t)n;
            } else {
                free(buf);
                buf = NULL;
            }
        }
    }
    fclose(f);
    return buf;
}

static clnas_status raw_source(clnas_ctx *ctx, const char *file, char **out, size_t *len)
{
    const char *dir = getenv("CLNAS_CL_DIR");
    if ((!dir || !*dir) && !clnas_cl_sources_embedded) dir = CLNAS_SOURCE_CL_DIR;
    if (dir && *dir) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, file);
        *out = read_file(path, len);
        if (!*out)
            return clnas_set_error(ctx, CLNAS_E_IO, "cannot read OpenCL source %s: %s (CLNAS_CL_DIR=%s)",
                                   path, strerror(errno), dir);
        return CLNAS_OK;
    }
    for (const struct clnas_cl_source *s = clnas_cl_sources; s->name; s++) {
        if (strcmp(s->name, file) == 0) {
            *out = malloc(s->len + 1);
            if (!*out) return clnas_set_error(ctx, CLNAS_E_NOMEM, "out of host memory reading OpenCL source %s", file);
            memcpy(*out, s->text, s->len + 1);
            *len = s->len;
            return CLNAS_OK;
        }
    }
    return clnas_set_error(ctx, CLNAS_E_IO, "no embedded OpenCL source named %s", file);
}

clnas_status clnas_cl_source(clnas_ctx *ctx, const char *file, char **out, size_t *len)
{
    char *common = NULL, *body = NULL;
    size_t lc = 0, lb = 0;
    *out = NULL;
    clnas_status st = raw_source(ctx, "common.clh", &common, &lc);
    if (st != CLNAS_OK) return st;
    st = raw_source(ctx, file, &body, &lb);
    if (st != CLNAS_OK) { free(common); return st; }
    char *all = malloc(lc + lb + 2);
    if (!all) {
        free(common);
        free(body);
        return clnas_set_error(ctx, CLNAS_E_NOMEM, "out of host memory reading OpenCL source %s", file);
    }
    memcpy(all, common, lc);
    all[lc] = '\n';
    memcpy(all + lc + 1, body, lb + 1);
    free(common);
    free(body);
    *out = all;
    *len = lc + 1 + lb;
    return CLNAS_OK;
}

static uint64_t cache_key(clnas_ctx *ctx, const char *src, size_t len, const char *opts)
{
    uint32_t fmt = CACHE_FORMAT;
    uint64_t h = clnas_fnv1a64(CLNAS_FNV_INIT, &fmt, sizeof fmt);
    h = clnas_fnv1a64(h, src, len);
    h = clnas_fnv1a64(h, "\x01", 1);
    h = clnas_fnv1a64(h, opts, strlen(opts));
    h = clnas_fnv1a64(h, "\x01", 1);
    h = clnas_fnv1a64(h, ctx->info.name, strlen(ctx->info.name));
    h = clnas_fnv1a64(h, "\x01", 1);
    h = clnas_fnv1a64(h, ctx->info.driver_version, strlen(ctx->info.driver_version));
    h = clnas_fnv1a64(h, "\x01", 1);
    h = clnas_fnv1a64(h, ctx->info.platform_version, strlen(ctx->info.platform_version));
    return h;
}

static void cache_path(clnas_ctx *ctx, uint64_t key, char *out, size_t n)
{
    snprintf(out, n, "%s/%016llx.bin", ctx->cache_dir, (unsigned long long)key);
}

/* Tries to build from the on-disk binary; returns NULL on any problem. */
static cl_program load_cached(clnas_ctx *ctx, uint64_t key, const char *opts)
{
    if (ctx->cache_off) return NULL;
    char path[1100];
    cache_path(ctx, key, path, sizeof path);
    size_t len = 0;
    unsigned char *buf = (unsigned char *)read_file(path, &len);
    if (!buf) return NULL;
    cl_program prog = NULL;
    const size_t hdr = 8 + 8 + 8 + 8;
    uint64_t k = 0, n = 0, sum = 0;
    if (len >= hdr && memcmp(buf, CACHE_MAGIC, 8) == 0) {
        memcpy(&k, buf + 8, 8);
        memcpy(&n, buf + 16, 8);
        memcpy(&sum, buf + 24, 8);
        if (k == key && n == len - hdr && n > 0 &&
            clnas_fnv1a64(CLNAS_FNV_INIT, buf + hdr, (size_t)n) == sum) {
            const unsigned char *bin = buf + hdr;
            size_t blen = (size_t)n;
            cl_int e = CL_SUCCESS, bstat = CL_SUCCESS;
            prog = clCreateProgramWithBinary(ctx->context, 1, &ctx->device, &blen, &bin, &bstat, &e);
            if (e != CL_SUCCESS || bstat != CL_SUCCESS) {
                if (prog) clReleaseProgram(prog);
                prog = NULL;
            } else if (clBuildProgram(prog, 1, &ctx->device, opts, NULL, NULL) != CL_SUCCESS) {
                clReleaseProgram(prog);
                prog = NULL;
            }
        }
    }
    free(buf);
    if (ctx->cache_debug) fprintf(stderr, "clnas cache %s %s\n", prog ? "HIT" : "CORRUPT/STALE", path);
    return prog;
}

/* The kernel cache cannot be written: said once per process (every later run would compile its
 * kernels again, seconds to minutes instead of milliseconds). */
static void cache_warning(const clnas_ctx *ctx, const char *why)
{
    static int said;
    if (said++) return;
    fprintf(stderr, "clnas: warning: the OpenCL program cache in %s is unusable (%s): every run compiles its kernels "
                    "again, which makes starting up about 100x slower; point CLNAS_CACHE_DIR at a writable folder "
                    "(CLNAS_CACHE_DIR=off silences this)\n", ctx->cache_dir, why);
}

static void store_cached(clnas_ctx *ctx, uint64_t key, cl_program prog)
{
    if (ctx->cache_off) return;
    size_t blen = 0;
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof blen, &blen, NULL) != CL_SUCCESS || !blen)
        return;
    unsigned char *bin = malloc(blen);
    if (!bin) return;
    unsigned char *ptrs[1] = {bin};
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof ptrs, ptrs, NULL) != CL_SUCCESS) {
        free(bin);
        return;
    }
    char why[1400] = "";
    if (clnas_mkdir_p(ctx->cache_dir, why, sizeof why) != CLNAS_OK) { /* no cache entry, said once */
        cache_warning(ctx, why);
        free(bin);
        return;
    }
    char path[1100], tmp[1200];
    cache_path(ctx, key, path, sizeof path);
    /* a name of its own for every writer: contexts on several threads (runtime/pool.h) may store
     * the same program at once */
    static _Atomic unsigned writers;
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%u", path, (long)getpid(), ++writers);
    FILE *f = fopen(tmp, "wb");
    if (f) {
        uint64_t n = blen, sum = clnas_fnv1a64(CLNAS_FNV_INIT, bin, blen);
        int ok = fwrite(CACHE_MAGIC, 1, 8, f) == 8 && fwrite(&key, 8, 1, f) == 1 &&
                 fwrite(&n, 8, 1, f) == 1 && fwrite(&sum, 8, 1, f) == 1 &&
                 fwrite(bin, 1, blen, f) == blen;
        ok = (fclose(f) == 0) && ok;
        if (!ok || rename(tmp, path) != 0) {
            snprintf(why, sizeof why, "cannot write %s: %s", path, strerror(errno ? errno : EIO));
            remove(tmp);
            cache_warning(ctx, why);
        } else if (ctx->cache_debug) {
            fprintf(stderr, "clnas cache STORE %s\n", path);
        }
    } else {
        snprintf(why, sizeof why, "cannot write %s: %s", tmp, strerror(errno));
        cache_warning(ctx, why);
    }
    free(bin);
}

static clnas_status build_program(clnas_ctx *ctx, const char *file, const char *defines, cl_program *out)
{
    char *src = NULL;
    size_t len = 0;
    *out = NULL;
    clnas_status st = clnas_cl_source(ctx, file, &src, &len);
    if (st != CLNAS_OK) return st;
    size_t olen = strlen(BUILD_BASE_OPTS) + strlen(defines) + 1;
    char *opts = malloc(olen);
    if (!opts) {
        free(src);
        return clnas_set_error(ctx, CLNAS_E_NOMEM, "out of host memory building cl/%s", file);
    }
    snprintf(opts, olen, "%s%s", BUILD_BASE_OPTS, defines);
    uint64_t key = cache_key(ctx, src, len, opts);
    cl_program prog = load_cached(ctx, key, opts);
    if (prog) {
        ctx->disk_hits++;
    } else {
        cl_int e = CL_SUCCESS;
        const char *s = src;
        prog = clCreateProgramWithSource(ctx->context, 1, &s, &len, &e);
        if (e != CL_SUCCESS) {
            free(src); free(opts);
            return clnas_set_error(ctx, e, "clCreateProgramWithSource(%s) failed: %s", file, clnas_status_str(e));
        }
        e = clBuildProgram(prog, 1, &ctx->device, opts, NULL, NULL);
        if (e != CL_SUCCESS) {
            size_t loglen = 0;
            clGetProgramBuildInfo(prog, ctx->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &loglen);
            char *log = malloc(loglen + 1);
            if (log) {
                log[0] = 0;
                clGetProgramBuildInfo(prog, ctx->device, CL_PROGRAM_BUILD_LOG, loglen, log, NULL);
                log[loglen] = 0;
            }
            clnas_set_error(ctx, CLNAS_E_BUILD, "building cl/%s with options \"%s\" on \"%s\" failed "
                            "(%s). Build log:\n%.2000s", file, opts, ctx->info.name, clnas_status_str(e),
                            log ? log : "(unavailable)");
            free(log);
            clReleaseProgram(prog);
            free(src); free(opts);
            return CLNAS_E_BUILD;
        }
        ctx->compiled++;
        store_cached(ctx, key, prog);
    }
    free(src);
    free(opts);
    *out = prog;
    return CLNAS_OK;
}

/* $CLNAS_CL_LOG: appends "file<TAB>defines" for every program a context loads, so that
 * tools/cl_offline_check.sh can compile exactly the option sets clnas uses. Best effort. */
static void log_program(const char *file, const char *defines)
{
    const char *path = getenv("CLNAS_CL_LOG");
    if (!path || !*path) return;
    FILE *f = fopen(path, "a");
    if (!f) return;
    fprintf(f, "%s\t%s\n", file, defines);
    fclose(f);
}

clnas_status clnas_kernel_get(clnas_ctx *ctx, const char *file, const char *defines,
                              const char *name, cl_kernel *out)
{
    if (!defines) defines = "";
    struct clnas_prog_entry *pe = NULL;
    for (int i = 0; i < ctx->nprogs; i++)
        if (strcmp(ctx->progs[i].file, file) == 0 && strcmp(ctx->progs[i].options, defines) == 0) {
            pe = &ctx->progs[i];
            break;
        }
    if (!pe) {
        if (strlen(file) >= sizeof pe->file)
            return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "kernel file name too long: %s", file);
        if (ctx->nprogs == ctx->capprogs) {
            int cap = ctx->capprogs ? 2 * ctx->capprogs : 16;
            void *p = realloc(ctx->progs, (size_t)cap * sizeof *ctx->progs);
            if (!p) return clnas_set_error(ctx, CLNAS_E_NOMEM, "out of host memory loading kernels of cl/%s", file);
            ctx->progs = p;
            ctx->capprogs = cap;
        }
        cl_program prog = NULL;
        clnas_status st = build_program(ctx, file, defines, &prog);
        if (st != CLNAS_OK) return st;
        log_program(file, defines);
        pe = &ctx->progs[ctx->nprogs];
        memset(pe, 0, sizeof *pe);
        snprintf(pe->file, sizeof pe->file, "%s", file);
        pe->options = malloc(strlen(defines) + 1);
        if (!pe->options) {
            clReleaseProgram(prog);
            return clnas_set_error(ctx, CLNAS_E_NOMEM, "out of host memory loading cl/%s", file);
        }
        strcpy(pe->options, defines);
        pe->program = prog;
        ctx->nprogs++;
    }
    for (int i = 0; i < pe->nkernels; i++)
        if (strcmp(pe->kernels[i].name, name) == 0) {
            *out = pe->kernels[i].kernel;
            return CLNAS_OK;
        }
    if (strlen(name) >= sizeof pe->kernels[0].name)
        return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "kernel name too long: %s", name);
    if (pe->nkernels == pe->capkernels) {
        int cap = pe->capkernels ? 2 * pe->capkernels : 8;
        void *p = realloc(pe->kernels, (size_t)cap * sizeof *pe->kernels);
        if (!p) return clnas_set_error(ctx, CLNAS_E_NOMEM, "out of host memory loading kernels of cl/%s", file);
        pe->kernels = p;
        pe->capkernels = cap;
    }
    cl_int e = CL_SUCCESS;
    cl_kernel k = clCreateKernel(pe->program, name, &e);
    if (e != CL_SUCCESS)
        return clnas_set_error(ctx, e, "kernel %s not found in cl/%s (%s)", name, file, clnas_status_str(e));
    snprintf(pe->kernels[pe->nkernels].name, sizeof pe->kernels[0].name, "%s", name);
    pe->kernels[pe->nkernels].kernel = k;
    pe->nkernels++;
    *out = k;
    return CLNAS_OK;
}

void clnas_programs_release(clnas_ctx *ctx)
{
    for (int i = 0; i < ctx->nprogs; i++) {
        for (int j = 0; j < ctx->progs[i].nkernels; j++) clReleaseKernel(ctx->progs[i].kernels[j].kernel);
        free(ctx->progs[i].kernels);
        free(ctx->progs[i].options);
        clReleaseProgram(ctx->progs[i].program);
    }
    free(ctx->progs);
    ctx->progs = NULL;
    ctx->nprogs = ctx->capprogs = 0;
}

clnas_status clnas_kernel_args(clnas_ctx *ctx, cl_kernel k, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cl_int e = CL_SUCCESS;
    cl_uint i = 0;
    for (const char *f = fmt; *f && e == CL_SUCCESS; f++, i++) {
        switch (*f) {
        case 'm': { cl_mem m = va_arg(ap, cl_mem); e = clSetKernelArg(k, i, sizeof m, &m); break; }
        case 'i': { cl_int v = va_arg(ap, int); e = clSetKernelArg(k, i, sizeof v, &v); break; }
        case 'u': { cl_uint v = va_arg(ap, unsigned); e = clSetKernelArg(k, i, sizeof v, &v); break; }
        case 'f': { cl_float v = (cl_float)va_arg(ap, double); e = clSetKernelArg(k, i, sizeof v, &v); break; }
        case 'd': { cl_double v = va_arg(ap, double); e = clSetKernelArg(k, i, sizeof v, &v); break; }
        case 'l': { size_t b = va_arg(ap, size_t); e = clSetKernelArg(k, i, b, NULL); break; }
        default:
            va_end(ap);
            return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "clnas_kernel_args: bad format char '%c'", *f);
        }
    }
    va_end(ap);
    if (e != CL_SUCCESS) {
        char kname[128] = "?";
        clGetKernelInfo(k, CL_KERNEL_FUNCTION_NAME, sizeof kname, kname, NULL);
        kname[sizeof kname - 1] = 0;
        return clnas_set_error(ctx, e, "setting argument %u of kernel %s failed: %s", i - 1, kname,
                               clnas_status_str(e));
    }
    return CLNAS_OK;
}

clnas_status clnas_kernel_wg_limit(clnas_ctx *ctx, cl_kernel k, size_t *out)
{
    size_t kwg = 0;
    CL_CHECK(ctx, clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kwg, &kwg, NULL));
    if (!kwg || (ctx->info.max_work_group && ctx->info.max_work_group < kwg)) kwg = ctx->info.max_work_group;
    *out = kwg ? kwg : 1;
    return CLNAS_OK;
}

const char *clnas_kernels_name(int kernels)
{
    return kernels == CLNAS_KERNELS_CPU ? "cpu-shaped" : kernels == CLNAS_KERNELS_GPU ? "gpu-shaped" : "default rule";
}

int clnas_kernel_variant(const clnas_ctx *ctx, const char **source)
{
    const char *src = "measuring";
    int v = ctx->kernels_forced;
    const char *e = getenv("CLNAS_KERNEL_VARIANT");
    if (v == CLNAS_KERNELS_CPU || v == CLNAS_KERNELS_GPU) {
        /* `clnas tune` timing one variant */
    } else if (e && (strcmp(e, "cpu") == 0 || strcmp(e, "gpu") == 0)) {
        v = e[0] == 'c' ? CLNAS_KERNELS_CPU : CLNAS_KERNELS_GPU;
        src = "env";
    } else if (ctx->tune.kernels == CLNAS_KERNELS_CPU || ctx->tune.kernels == CLNAS_KERNELS_GPU) {
        v = ctx->tune.kernels;
        src = "tuned";
    } else {
        v = strcmp(ctx->info.type, "CPU") == 0 ? CLNAS_KERNELS_CPU : CLNAS_KERNELS_GPU;
        src = e && *e ? "default rule (CLNAS_KERNEL_VARIANT ignored)" : "default rule";
    }
    if (source) *source = src;
    return v;
}

int clnas_cpu_shaped(const clnas_ctx *ctx) { return clnas_kernel_variant(ctx, NULL) == CLNAS_KERNELS_CPU; }

int clnas_conv_vector_width(const clnas_ctx *ctx, const char **source)
{
    const char *e = getenv("CLNAS_CONV_VW");
    if (e && (strcmp(e, "8") == 0 || strcmp(e, "16") == 0)) {
        if (source) *source = "env";
        return atoi(e);
    }
    if (source) *source = "device";
    return clnas_cpu_shaped(ctx) && ctx->vec_float >= 16 ? 16 : 8;
}

clnas_status clnas_lws_capped(clnas_ctx *ctx, cl_kernel k, size_t want, size_t *out)
{
    size_t lim = 0;
    clnas_status st = clnas_kernel_wg_limit(ctx, k, &lim);
    if (st != CLNAS_OK) return st;
    if (want < lim) lim = want;
    size_t l = 1;
    while (l * 2 <= lim) l *= 2;
    *out = l;
    return CLNAS_OK;
}

clnas_status clnas_launch(clnas_ctx *ctx, cl_kernel k, cl_uint dims, const size_t *gws, const size_t *lws)
{
    size_t g[3] = {1, 1, 1};
    for (cl_uint d = 0; d < dims; d++) {
        g[d] = gws[d] ? gws[d] : 1;
        if (lws) g[d] = clnas_round_up(g[d], lws[d]);
    }
    cl_int e = clEnqueueNDRangeKernel(ctx->queue, k, dims, NULL, g, lws, 0, NULL, NULL);
    if (e != CL_SUCCESS) {
        char kname[128] = "?";
        clGetKernelInfo(k, CL_KERNEL_FUNCTION_NAME, sizeof kname, kname, NULL);
        kname[sizeof kname - 1] = 0;
        return clnas_set_error(ctx, e, "launching kernel %s (global %zu x %zu x %zu) on \"%s\" failed: %s",
                               kname, g[0], g[1], g[2], ctx->info.name, clnas_status_str(e));
    }
    ctx->n_kernels++;
    return CLNAS_OK;
}
