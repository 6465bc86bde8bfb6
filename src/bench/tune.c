/* tune.c - `clnas tune` in the library: opens the device untuned, derives the GEMM shapes from
 * the networks, runs the GEMM search (tune_gemm.c), the kernel-variant timing (tune_kernels.c)
 * and the seeds-in-flight search (tune_seeds.c), and stores the result in the device's tuning file through the runtime
 * (runtime/tune.h), which applies it whenever a later context opens the device. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench/bench_impl.h"

void bench_log(const clnas_tune_opts *o, const char *fmt, ...)
{
    if (!o || !o->log) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    o->log(o->log_ud, line);
}

void clnas_tune_opts_default(clnas_tune_opts *o)
{
    memset(o, 0, sizeof *o);
    o->budget_s = -1;
}

clnas_status clnas_tune_ctx_create(const char *device, clnas_ctx **out)
{
    /* CLNAS_TUNE=off while the context opens: nothing is applied. CLBlast's overrides are per
     * process, so this concerns only the caller's process. */
    const char *old = getenv("CLNAS_TUNE");
    char *saved = old ? strdup(old) : NULL;
    setenv("CLNAS_TUNE", "off", 1);
    clnas_status st = clnas_ctx_create(device, out);
    if (saved) {
        setenv("CLNAS_TUNE", saved, 1);
        free(saved);
    } else {
        unsetenv("CLNAS_TUNE");
    }
    return st;
}

/* The three GEMM shapes (from the networks themselves, so they follow the model) and the
 * switch-over sizes. */
static clnas_status tune_shapes(clnas_ctx *ctx, clnas_tune_result *r, tune_sizes *z)
{
    static const char *const arch[2] = {"supernet", CLNAS_BENCH_SINGLE_PATH};
    static const char *const what[2] = {"supernet", "single path"};
    size_t P[2] = {0, 0};
    for (int i = 0; i < 2; i++) {
        clnas_nb201_config cfg;
        clnas_net *net = NULL;
        clnas_nb201_config_ntk(&cfg, 10, 32);
        if (bench_build_net(ctx, &cfg, arch[i], &net) != CLNAS_OK)
            return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "cannot build the %s network", what[i]);
        P[i] = clnas_net_njacobian(net);
        clnas_net_destroy(net);
    }
    const size_t B = CLNAS_TUNE_BATCH;
    clnas_tune_shape sh[3] = {{"square 1024x1024x1024", "square_1024", 1024, 1024, 1024, 0, 0, 0},
                              {"", "gram_supernet", B, B, P[0], 1, 0, 0},
                              {"", "gram_single_path", B, B, P[1], 1, 0, 0}};
    for (int i = 0; i < 2; i++) snprintf(sh[1 + i].name, sizeof sh[1 + i].name, "Gram %zux%zux%zu (%s)", B, B, P[i], what[i]);
    memcpy(r->shapes, sh, sizeof sh);
    /* Switch-over sizes (XGEMM_MIN_INDIRECT_SIZE; m*n*k below its cube runs direct). Gram direct:
     * a round size above it with room to spare, so that big GEMMs stay indirect (CLBlast's own
     * rule). Gram indirect: somewhat below it, so that small GEMMs keep the direct kernel's lower
     * overhead. Each is also what the candidate builds of its kernel use, so the final choice
     * reuses a build that was already measured. */
    const double gram_max = fmax((double)B * B * (double)P[0], (double)B * B * (double)P[1]);
    const double gram_min = fmin((double)B * B * (double)P[0], (double)B * B * (double)P[1]);
    z->t_direct = 64;
    while ((double)z->t_direct * z->t_direct * z->t_direct <= 1.2 * gram_max) z->t_direct += 64;
    z->t_indirect = (size_t)(0.8 * cbrt(gram_min)) / 32 * 32;
    if (z->t_direct > 1024 || z->t_indirect < 32)
        return clnas_set_error(ctx, CLNAS_E_UNSUPPORTED, "the Gram shapes (%.0f multiply-adds) do not fit between small "
                               "GEMMs and the 1024^3 reference; not supported", gram_max);
    return CLNAS_OK;
}

/* --kernels-only: the GEMM part (and per-device values) of what the device has now, applied so
 * that the kernels are timed with the GEMM they will run with. */
static clnas_status keep_gemm(clnas_ctx *ctx, const clnas_tuning *base, clnas_tune_result *r)
{
    memset(&r->best, 0, sizeof r->best);
    if (base) r->best = *base;
    r->tuned = r->best.gemm;
    return clnas_tune_apply(ctx, &r->best);
}

clnas_status clnas_tune_run(clnas_ctx *ctx, const clnas_tune_opts *o, clnas_tune_result *r)
{
    memset(r, 0, sizeof *r);
    r->t_start = clnas_now();
    r->win = -1;
    r->gram_kernel = "unchanged";
    r->quick = o->quick;
    r->reps = o->reps > 0 ? o->reps : o->quick ? 3 : 5;
    r->rounds = o->quick ? 3 : 5;
    const clnas_device_info *d = clnas_ctx_device(ctx);
    /* what this device has now: tried as candidates, and its per-device values kept */
    clnas_tuning current, shipped;
    int have_file = 0;
    const int have_path = clnas_tune_path(d, r->path, sizeof r->path, NULL, 0) == CLNAS_OK;
    if (have_path && clnas_tune_read(r->path, d, &current, &have_file, NULL, 0) != CLNAS_OK) have_file = 0;
    const int have_shipped = clnas_tune_shipped(d, &shipped);
    const clnas_tuning *base = have_file ? &current : have_shipped ? &shipped : NULL;
    tune_sizes z = {have_file && current.gemm ? &current : NULL, have_shipped && shipped.gemm ? &shipped : NULL, 0, 0};
    clnas_status st = CLNAS_OK;
    if (o->kernels_only) {
        st = keep_gemm(ctx, base, r);
    } else {
        st = tune_shapes(ctx, r, &z);
        if (st == CLNAS_OK) st = tune_gemm_search(ctx, o, &z, r);
        r->gemm_done = st == CLNAS_OK;
    }
    /* the kernel variant, then the seeds in flight timed with it */
    if (st == CLNAS_OK && !o->no_kernels) st = tune_kernel_search(ctx, o, r);
    else r->best.kernels = base ? base->kernels : CLNAS_KERNELS_RULE;
    ctx->tune.kernels = r->best.kernels;
    if (st == CLNAS_OK && !o->kernels_only) st = tune_seed_search(ctx, o, base, r);
    return st;
}

/* The measured.* lines of the file: information for people, ignored when reading. */
static void measured_lines(const clnas_tune_result *r, char *extra, size_t len)
{
    size_t o = 0;
    time_t now = time(NULL);
    struct tm tmv;
    char date[32] = "";
    if (gmtime_r(&now, &tmv)) strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    o += (size_t)snprintf(extra + o, len - o, "measured.date=%s\nmeasured.mode=%s\nmeasured.repeats=%d\n", date,
                          r->quick ? "quick" : "full", r->reps);
    for (int i = 0; r->kernels_done && i < 2 && o < len; i++) {
        const char *k = i ? "gpu" : "cpu";
        o += (size_t)snprintf(extra + o, len - o, "measured.kernels.%s.seconds=%.4f\nmeasured.kernels.%s.cpu_seconds=%.4f\n",
                              k, r->kernel_s[i], k, r->kernel_cpu_s[i]);
    }
    for (int s = 0; r->gemm_done && s < 3 && o < len; s++)
        o += (size_t)snprintf(extra + o, len - o, "measured.gflops.%s.clblast=%.2f\nmeasured.gflops.%s.tuned=%.2f\n",
                              r->shapes[s].key, r->shapes[s].before, r->shapes[s].key, r->shapes[s].after);
    for (int i = 0; r->seeds_done && i < 2 && o < len; i++) {
        const char *k = i ? "single_path" : "supernet";
        o += (size_t)snprintf(extra + o, len - o, "measured.seeds.%s.best=%d\nmeasured.seeds.%s.seconds=%.3f\n", k,
                              r->counts[r->nets[i].best], k, r->nets[i].t[r->nets[i].best]);
    }
}

clnas_status clnas_tune_store(clnas_ctx *ctx, clnas_tune_result *r)
{
    char extra[2048], why[512];
    r->stored = 0;
    clnas_status st = clnas_tune_path(clnas_ctx_device(ctx), r->path, sizeof r->path, why, sizeof why);
    if (st != CLNAS_OK) st = clnas_set_error(ctx, st, "%s: the result is not stored", why);
    if (st == CLNAS_OK) {
        measured_lines(r, extra, sizeof extra);
        st = clnas_tune_write(ctx, r->path, clnas_ctx_device(ctx), &r->best, extra);
    }
    r->stored = st == CLNAS_OK;
    r->seconds = clnas_now() - r->t_start;
    return st;
}
