/* cmd_bench.c - `clnas bench`: times one kappa (proxy supernet and a single path) and one R,
 * stage by stage, as medians over repeats, and reports the achieved FLOP rate next to the
 * device's CLBlast SGEMM rate measured in the same run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "clnas/score.h"
#include "internal.h"

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* SGEMM rate: median of `reps` runs of an m x n x k product (after one warm-up that compiles). */
static int sgemm_rate(clnas_ctx *ctx, size_t m, size_t n, size_t k, int reps, double *gflops)
{
    cl_mem a = NULL, b = NULL, c = NULL;
    int ok = clnas_buf_alloc(ctx, m * k * 4, &a) == CLNAS_OK && clnas_buf_alloc(ctx, k * n * 4, &b) == CLNAS_OK &&
             clnas_buf_alloc(ctx, m * n * 4, &c) == CLNAS_OK && clnas_buf_zero(ctx, a, 0, m * k * 4) == CLNAS_OK &&
             clnas_buf_zero(ctx, b, 0, k * n * 4) == CLNAS_OK;
    double *t = calloc((size_t)reps, sizeof *t);
    ok = ok && t;
    for (int r = -1; ok && r < reps; r++) {
        double t0 = clnas_now();
        ok = clnas_gemm(ctx, 0, 0, m, n, k, 1.0f, a, 0, k, b, 0, n, 0.0f, c, 0, n) == CLNAS_OK && clnas_ctx_finish(ctx) == CLNAS_OK;
        if (r >= 0) t[r] = clnas_now() - t0;
    }
    if (ok) *gflops = 2.0 * m * n * k / median(t, reps) / 1e9;
    free(t);
    clnas_buf_free(a);
    clnas_buf_free(b);
    clnas_buf_free(c);
    return ok;
}

typedef struct kappa_bench {
    const char *what, *arch;
    double fwd, bwd, gram, eig, total, gflop, rate;
    size_t P;
    int seeds;
} kappa_bench;

static int bench_kappa(clnas_ctx *ctx, const clnas_dataset *data, kappa_bench *kb, int B, int reps, int seeds)
{
    clnas_nb201_arch arch;
    clnas_nb201_parse(kb->arch, &arch, NULL, 0);
    clnas_nb201_config cfg;
    clnas_nb201_config_ntk(&cfg, 10, 32);
    clnas_net *net = NULL;
    if (clnas_net_nb201(&cfg, &arch, &net, NULL, 0) != CLNAS_OK) return 0;
    size_t np = clnas_net_nparams(net);
    float *p = malloc(np * sizeof *p), *x = malloc((size_t)B * 3 * 32 * 32 * sizeof *x);
    double *tf = calloc((size_t)reps, sizeof(double)), *tb = calloc((size_t)reps, sizeof(double));
    double *tg = calloc((size_t)reps, sizeof(double)), *te = calloc((size_t)reps, sizeof(double)), *tt = calloc((size_t)reps, sizeof(double));
    clnas_sampler *s = NULL;
    clnas_ntk_config nc = {B, seeds, 0};
    clnas_ntk *ntk = NULL;
    int ok = p && x && tf && tb && tg && te && tt;
    if (!ok) clnas_set_error(ctx, CLNAS_E_NOMEM, "out of host memory");
    if (ok) clnas_net_init_params(net, 0, 0, CLNAS_INIT_PYTORCH, p);
    ok = ok && clnas_sampler_create(data, 0, 1, &s) == CLNAS_OK && clnas_ntk_create(ctx, net, &nc, &ntk) == CLNAS_OK &&
         clnas_ntk_set_params(ntk, p) == CLNAS_OK;
    for (int r = -1; ok && r < reps; r++) { /* r = -1: warm-up (compiles, first touches) */
        clnas_sampler_batch(s, B, 1, x, NULL);
        clnas_kappa k;
        clnas_ntk_times t;
        double t0 = clnas_now();
        ok = clnas_ntk_eval(ntk, x, &k, NULL, NULL, NULL, NULL, &t) == CLNAS_OK;
        if (r >= 0) { tf[r] = t.forward; tb[r] = t.backward; tg[r] = t.gram; te[r] = t.eig; tt[r] = clnas_now() - t0; }
    }
    if (ok) {
        double f, b;
        clnas_net_flops(net, B, &f, &b);
        kb->P = clnas_net_njacobian(net);
        kb->gflop = (f + B * b + 2.0 * B * B * (double)kb->P) / 1e9;
        kb->fwd = median(tf, reps); kb->bwd = median(tb, reps); kb->gram = median(tg, reps); kb->eig = median(te, reps);
        kb->total = median(tt, reps);
        kb->rate = kb->gflop / kb->total;
        kb->seeds = clnas_ntk_seeds(ntk);
    }
    free(tf); free(tb); free(tg); free(te); free(tt);
    clnas_ntk_destroy(ntk);
    clnas_sampler_destroy(s);
    clnas_net_destroy(net);
    free(p);
    free(x);
    return ok;
}

static int bench_lr(clnas_ctx *ctx, const clnas_dataset *data, int reps, double *t_med, size_t *R)
{
    clnas_nb201_arch arch;
    clnas_nb201_parse("supernet", &arch, NULL, 0);
    clnas_nb201_config cfg;
    clnas_nb201_config_lr(&cfg, 10);
    clnas_net *net = NULL;
    if (clnas_net_nb201(&cfg, &arch, &net, NULL, 0) != CLNAS_OK) return 0;
    size_t np = clnas_net_nparams(net);
    float *p = malloc(np * sizeof *p), *x = malloc(3000 * 9 * sizeof *x);
    double *t = calloc((size_t)reps, sizeof *t);
    clnas_sampler *s = NULL;
    clnas_lr *lr = NULL;
    int ok = p && x && t;
    if (!ok) clnas_set_error(ctx, CLNAS_E_NOMEM, "out of host memory");
    if (ok) clnas_net_init_params(net, 0, 1, CLNAS_INIT_PYTORCH, p);
    ok = ok && clnas_sampler_create(data, 0, 2, &s) == CLNAS_OK && clnas_lr_create(ctx, net, 1000, &lr) == CLNAS_OK &&
         clnas_lr_set_params(lr, p) == CLNAS_OK;
    for (int r = -1; ok && r < reps; r++) {
        clnas_sampler_patches(s, 3000, x);
        double t0 = clnas_now();
        ok = clnas_lr_count(lr, x, 3000, R, NULL) == CLNAS_OK;
        if (r >= 0) t[r] = clnas_now() - t0;
    }
    if (ok) *t_med = median(t, reps);
    free(t);
    clnas_lr_destroy(lr);
    clnas_sampler_destroy(s);
    clnas_net_destroy(net);
    free(p);
    free(x);
    return ok;
}

int clnas_cmd_bench(int argc, char **argv)
{
    const char *device = NULL, *v;
    long reps = 5, B = 72, seeds = 0;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: clnas bench [--device D] [--repeat N] [--batch B] [--seeds S] [--json]\n\n"
                   "Times, as medians over N repeats (default 5) after one warm-up run:\n"
                   "  the device's CLBlast SGEMM rate (1024^3, and the Gram shape B x B x P),\n"
                   "  one kappa of the TE-NAS NTK proxy supernet (all four non-none ops on every edge) at batch B,\n"
                   "  one kappa of the single path |nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|,\n"
                   "  one R of the linear-region proxy supernet (3000 patches),\n"
                   "stage by stage, with the FLOPs of each kappa (convolutions, linear layers and the Gram matrix;\n"
                   "multiply-add = 2) and the achieved rate as a fraction of the SGEMM rate.\n");
            return 0;
        } else if ((v = clnas_cli_opt(argc, argv, &i, "--device"))) device = v;
        else if ((v = clnas_cli_opt(argc, argv, &i, "--repeat"))) { if (!clnas_cli_int("--repeat", v, 1, 1000, &reps)) return 2; }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--batch"))) { if (!clnas_cli_int("--batch", v, 2, 10000, &B)) return 2; }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--seeds"))) { if (!clnas_cli_int("--seeds", v, 1, 10000, &seeds)) return 2; }
        else if (!strcmp(argv[i], "--json")) json = 1;
        else { fprintf(stderr, "clnas bench: unknown option \"%s\"\n", argv[i]); return 2; }
    }
    clnas_ctx *ctx = NULL;
    char err[1024];
    clnas_dataset *data = NULL;
    if (clnas_dataset_load(CLNAS_DS_CIFAR10, NULL, &data, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas bench: %s\n", err);
        return 1;
    }
    if (clnas_ctx_create(device, &ctx) != CLNAS_OK) {
        fprintf(stderr, "clnas bench: %s\n", clnas_ctx_errmsg(ctx));
        clnas_ctx_destroy(ctx);
        clnas_dataset_destroy(data);
        return 1;
    }
    const clnas_device_info *d = clnas_ctx_device(ctx);
    int rc = 0;
    double g1024 = 0, ggram = 0;
    kappa_bench kb[2] = {
        {"kappa, proxy supernet", "supernet", 0, 0, 0, 0, 0, 0, 0, 0, 0},
        {"kappa, single path", "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|", 0, 0, 0, 0, 0, 0, 0, 0, 0},
    };
    double tlr = 0;
    size_t R = 0;
    if (!sgemm_rate(ctx, 1024, 1024, 1024, (int)reps, &g1024) || !bench_kappa(ctx, data, &kb[0], (int)B, (int)reps, (int)seeds) ||
        !sgemm_rate(ctx, (size_t)B, (size_t)B, kb[0].P, (int)reps, &ggram) ||
        !bench_kappa(ctx, data, &kb[1], (int)B, (int)reps, (int)seeds) || !bench_lr(ctx, data, (int)reps, &tlr, &R)) {
        fprintf(stderr, "clnas bench: %s\n", clnas_ctx_errmsg(ctx));
        rc = 1;
    } else if (json) {
        char dn[512];
        size_t o = 0;
        for (const char *c = d->name; *c && o + 2 < sizeof dn; c++) {
            if (*c == '"' || *c == '\\') dn[o++] = '\\';
            dn[o++] = (unsigned char)*c < 0x20 ? ' ' : *c;
        }
        dn[o] = 0;
        printf("{\"device\": \"%s\", \"device_type\": \"%s\", \"device_index\": %d, \"repeats\": %ld, \"batch\": %ld, \"sgemm_gflops_1024\": %.3f, \"sgemm_gflops_gram\": %.3f, \"kappa\": [",
               dn, d->type, d->index, reps, B, g1024, ggram);
        for (int i = 0; i < 2; i++)
            printf("%s{\"what\": \"%s\", \"arch\": \"%s\", \"jacobian_params\": %zu, \"seeds_in_flight\": %d, \"gflop\": %.3f, "
                   "\"forward_s\": %.6f, \"backward_s\": %.6f, \"gram_s\": %.6f, \"eig_s\": %.6f, \"total_s\": %.6f, \"gflops\": %.3f}",
                   i ? ", " : "", kb[i].what, kb[i].arch, kb[i].P, kb[i].seeds, kb[i].gflop, kb[i].fwd, kb[i].bwd, kb[i].gram,
                   kb[i].eig, kb[i].total, kb[i].rate);
        printf("], \"lr\": {\"samples\": 3000, \"seconds\": %.6f, \"regions\": %zu}}\n", tlr, R);
    } else {
        printf("device %d: %s (%s, %u compute units), medians of %ld repeats\n\n", d->index, d->name, d->type,
               d->compute_units, reps);
        printf("CLBlast SGEMM 1024x1024x1024: %.1f GFLOP/s;  Gram shape %ldx%ldx%zu: %.1f GFLOP/s\n\n", g1024, B, B,
               kb[0].P, ggram);
        printf("%-24s %8s %6s %9s %9s %9s %9s %9s %10s %8s %14s\n", "stage", "P", "seeds", "forward", "backward", "gram",
               "eigen", "total", "GFLOP", "GFLOP/s", "of SGEMM rate");
        for (int i = 0; i < 2; i++)
            printf("%-24s %8zu %6d %8.3fs %8.3fs %8.3fs %8.4fs %8.3fs %10.2f %8.2f %13.1f%%\n", kb[i].what, kb[i].P, kb[i].seeds,
                   kb[i].fwd, kb[i].bwd, kb[i].gram, kb[i].eig, kb[i].total, kb[i].gflop, kb[i].rate, 100 * kb[i].rate / g1024);
        printf("%-24s %8s %6s %9s %9s %9s %9s %8.3fs  (3000 patches, R = %zu)\n", "R, LR proxy supernet", "-", "-", "-", "-",
               "-", "-", tlr, R);
        printf("\nFLOP floor at the SGEMM rate: supernet kappa %.3f s, single-path kappa %.3f s (aim: within 2x)\n",
               kb[0].gflop / g1024, kb[1].gflop / g1024);
    }
    clnas_ctx_destroy(ctx);
    clnas_dataset_destroy(data);
    return rc;
}
