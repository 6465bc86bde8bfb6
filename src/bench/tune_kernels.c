/* tune_kernels.c - `clnas tune`, the kernel variant: where clnas has two shapes of a kernel (BN
 * backward, the specialised convolutions, the pooling row kernels; see clnas_kernel_variant in
 * runtime/tune.h), which runs a kappa faster on this device. Both variants compute the same
 * thing, so the measure is the whole thing they serve: one kappa of the TE-NAS proxy supernet at
 * batch CLNAS_TUNE_BATCH (or the caller's) on the same images, timed under each variant in turn. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench/bench_impl.h"

/* The variants' kappas may differ only by float rounding in a different summation order (the
 * README measured 6e-4 relative for the supernet at batch 72 after such a change); far more is a
 * bug in one of them. */
#define KAPPA_AGREE 5e-3
/* Closer than this and the difference is within what load drift does to a median of a few runs:
 * the default rule's variant is kept. */
#define MARGIN 0.02
/* One variant this many times slower than the other after the first round: no load drift turns
 * that around, and further rounds would only spend the slow variant's time again. */
#define CLEAR_CUT 3.0

static double cpu_now(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) return 0;
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The supernet, its weights, an NTK on ctx and one batch of CIFAR-10 images. */
typedef struct kernel_bench {
    clnas_net *net;
    float *p, *x;
    clnas_ntk *ntk;
} kernel_bench;

static void kb_free(kernel_bench *b)
{
    clnas_ntk_destroy(b->ntk);
    clnas_net_destroy(b->net);
    free(b->p);
    free(b->x);
}

static clnas_status kb_init(clnas_ctx *ctx, kernel_bench *b, int B)
{
    char err[512];
    clnas_dataset *data = NULL;
    if (clnas_dataset_load(CLNAS_DS_CIFAR10, NULL, &data, err, sizeof err) != CLNAS_OK)
        return clnas_set_error(ctx, CLNAS_E_IO, "%s", err);
    clnas_nb201_config cfg;
    clnas_nb201_config_ntk(&cfg, 10, 32);
    clnas_sampler *smp = NULL;
    clnas_status st = bench_build_net(ctx, &cfg, "supernet", &b->net);
    if (st == CLNAS_OK) {
        b->p = malloc(clnas_net_nparams(b->net) * sizeof *b->p);
        b->x = malloc((size_t)B * 3 * 32 * 32 * sizeof *b->x);
        if (!b->p || !b->x || clnas_sampler_create(data, 0, 1, &smp) != CLNAS_OK)
            st = clnas_set_error(ctx, CLNAS_E_NOMEM, "out of host memory");
    }
    if (st == CLNAS_OK) {
        clnas_net_init_params(b->net, 0, 0, CLNAS_INIT_PYTORCH, b->p);
        clnas_sampler_batch(smp, B, 1, b->x, NULL);
        clnas_ntk_config nc = {B, 0, 0};
        st = clnas_ntk_create(ctx, b->net, &nc, &b->ntk);
    }
    if (st == CLNAS_OK) st = clnas_ntk_set_params(b->ntk, b->p);
    clnas_sampler_destroy(smp);
    clnas_dataset_destroy(data);
    return st;
}

/* One kappa under variant v (CLNAS_KERNELS_CPU / _GPU): wall and CPU seconds, and its value. */
static clnas_status one_kappa(clnas_ctx *ctx, kernel_bench *b, int v, double *wall, double *cpu, double *kappa)
{
    clnas_kappa k;
    memset(&k, 0, sizeof k);
    ctx->kernels_forced = v;
    const double t0 = clnas_now(), c0 = cpu_now();
    clnas_status st = clnas_ntk_eval(b->ntk, b->x, &k, NULL, NULL, NULL, NULL, NULL);
    *wall = clnas_now() - t0;
    *cpu = cpu_now() - c0;
    ctx->kernels_forced = 0;
    if (st == CLNAS_OK && k.status != CLNAS_KAPPA_OK)
        st = clnas_set_error(ctx, CLNAS_E_NUMERIC, "the supernet's kappa under the %s kernels is not finite",
                             clnas_kernels_name(v));
    *kappa = k.kappa;
    return st;
}

/* Warm-up (builds) and up to r->kernel_rounds timed kappas per variant, the order alternating by
 * round so that a drifting load favours neither; t[v*rounds + round], c likewise. Sets
 * r->kernel_rounds to the rounds run (fewer after a clear cut). */
static clnas_status time_variants(clnas_ctx *ctx, const clnas_tune_opts *o, kernel_bench *b, double *t, double *c,
                                  clnas_tune_result *r)
{
    const int rounds = r->kernel_rounds;
    static const int V[2] = {CLNAS_KERNELS_CPU, CLNAS_KERNELS_GPU};
    double w, u;
    clnas_status st = CLNAS_OK;
    for (int i = 0; i < 2 && st == CLNAS_OK; i++) st = one_kappa(ctx, b, V[i], &w, &u, &r->kernel_kappa[i]);
    for (int k = 0; k < rounds && st == CLNAS_OK; k++) {
        for (int ii = 0; ii < 2 && st == CLNAS_OK; ii++) {
            const int i = k % 2 ? 1 - ii : ii;
            st = one_kappa(ctx, b, V[i], &t[i * rounds + k], &c[i * rounds + k], &w);
        }
        if (st != CLNAS_OK) break;
        bench_log(o, "  round %d/%d: cpu-shaped %.3f s (CPU %.3f s), gpu-shaped %.3f s (CPU %.3f s)", k + 1, rounds,
                  t[k], c[k], t[rounds + k], c[rounds + k]);
        if (k == 0 && rounds > 1 && (t[0] > CLEAR_CUT * t[rounds] || t[rounds] > CLEAR_CUT * t[0])) {
            bench_log(o, "  one variant takes more than %.0fx the other's time: no more rounds", CLEAR_CUT);
            /* the medians below read t[v*rounds + 0 .. kept): move the gpu row next to the cpu one */
            t[1] = t[rounds];
            c[1] = c[rounds];
            r->kernel_rounds = 1;
            break;
        }
    }
    return st;
}

clnas_status tune_kernel_search(clnas_ctx *ctx, const clnas_tune_opts *o, clnas_tune_result *r)
{
    const clnas_device_info *d = clnas_ctx_device(ctx);
    r->kernel_rule = strcmp(d->type, "CPU") == 0 ? CLNAS_KERNELS_CPU : CLNAS_KERNELS_GPU;
    r->kernel_rounds = o->reps > 0 ? o->reps : o->quick ? 2 : 4;
    r->kernel_batch = o->kernel_batch > 0 ? o->kernel_batch : CLNAS_TUNE_BATCH;
    kernel_bench b;
    memset(&b, 0, sizeof b);
    const int cap = r->kernel_rounds;
    double *t = calloc((size_t)cap * 4, sizeof *t);
    clnas_status st = t ? kb_init(ctx, &b, r->kernel_batch) : clnas_set_error(ctx, CLNAS_E_NOMEM, "out of host memory");
    if (st == CLNAS_OK) {
        r->kernel_seeds = clnas_ntk_seeds(b.ntk);
        bench_log(o, "  kernel variants: one supernet kappa at batch %d (S = %d) under each, a warm-up and %d round%s",
                  r->kernel_batch, r->kernel_seeds, cap, cap > 1 ? "s" : "");
        st = time_variants(ctx, o, &b, t, t + 2 * cap, r);
    }
    kb_free(&b);
    if (st != CLNAS_OK) {
        free(t);
        char why[CLNAS_ERRMSG_LEN];
        snprintf(why, sizeof why, "%s", clnas_ctx_errmsg(ctx));
        return clnas_set_error(ctx, st, "timing the kernel variants failed: %.3900s", why);
    }
    for (int i = 0; i < 2; i++) {
        r->kernel_s[i] = clnas_median(t + i * r->kernel_rounds, r->kernel_rounds);
        r->kernel_cpu_s[i] = clnas_median(t + 2 * cap + i * r->kernel_rounds, r->kernel_rounds);
    }
    free(t);
    const double k0 = r->kernel_kappa[0], k1 = r->kernel_kappa[1];
    if (!(fabs(k0 - k1) <= KAPPA_AGREE * fmax(fabs(k0), fabs(k1))))
        return clnas_set_error(ctx, CLNAS_E_NUMERIC, "the kernel variants disagree on the supernet's kappa: cpu-shaped %.9g, "
                               "gpu-shaped %.9g (relative %.2g > %.0e): a bug in one of them on \"%s\"; please report it",
                               k0, k1, fabs(k0 - k1) / fmax(fabs(k0), fabs(k1)), KAPPA_AGREE, d->name);
    const int faster = r->kernel_s[0] <= r->kernel_s[1] ? CLNAS_KERNELS_CPU : CLNAS_KERNELS_GPU;
    const double lo = fmin(r->kernel_s[0], r->kernel_s[1]), hi = fmax(r->kernel_s[0], r->kernel_s[1]);
    r->best.kernels = hi < lo * (1 + MARGIN) ? r->kernel_rule : faster;
    r->kernels_done = 1;
    return CLNAS_OK;
}
