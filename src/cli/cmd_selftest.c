/* cmd_selftest.c - `clnas selftest`: runs NAS-Bench-201 networks forward and backward (S seeds
 * at once, the NTK's one-hot logit-sum seeds) on the chosen device and compares logits and
 * every parameter gradient with the double-precision host reference. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "clnas/nb201.h"
#include "core/rng.h"
#include "internal.h"

static double rel_err(const float *got, const double *ref, size_t n)
{
    double scale = 1e-30, worst = 0;
    for (size_t i = 0; i < n; i++) if (fabs(ref[i]) > scale) scale = fabs(ref[i]);
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) return INFINITY;
        double e = fabs((double)got[i] - ref[i]);
        if (e > worst) worst = e;
    }
    return worst / scale;
}

typedef struct case_def {
    const char *what;
    const char *arch;
    int C, N, input, stem, depth, in_ch, batch, seeds;
} case_def;

/* Returns 0 pass, 1 fail, -1 error (message printed). */
static int run_case(clnas_ctx *ctx, const case_def *c, double tol, double *ef, double *eb, double *secs)
{
    clnas_nb201_config cfg;
    clnas_nb201_config_default(&cfg);
    cfg.C = c->C; cfg.N = c->N; cfg.input_hw = c->input; cfg.use_stem = c->stem; cfg.depth = c->depth;
    cfg.in_channels = c->in_ch;
    clnas_nb201_arch arch;
    char err[512];
    clnas_net *net = NULL;
    clnas_plan *plan = NULL;
    float *x = NULL, *params = NULL, *logits = NULL, *dl = NULL, *pg = NULL;
    double *xd = NULL, *pd = NULL, *ld = NULL, *dld = NULL, *pgd = NULL;
    int rc = -1;
    if (clnas_nb201_parse(c->arch, &arch, err, sizeof err) != CLNAS_OK ||
        clnas_nb201_build(&cfg, &arch, &net, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "selftest: %s\n", err);
        return -1;
    }
    int ic, ih, iw;
    clnas_net_input_shape(net, &ic, &ih, &iw);
    const int B = c->batch, S = c->seeds, K = clnas_net_classes(net);
    size_t nx = (size_t)B * ic * ih * iw, np = clnas_net_nparams(net), nl = (size_t)B * K;
    x = malloc(nx * sizeof *x); xd = malloc(nx * sizeof *xd);
    params = malloc(np * sizeof *params); pd = malloc(np * sizeof *pd);
    logits = malloc(nl * sizeof *logits); ld = malloc(nl * sizeof *ld);
    dl = calloc((size_t)S * nl, sizeof *dl); dld = calloc(nl, sizeof *dld);
    pg = malloc((size_t)S * np * sizeof *pg); pgd = malloc(np * sizeof *pgd);
    if (!x || !xd || !params || !pd || !logits || !ld || !dl || !dld || !pg || !pgd) { fprintf(stderr, "selftest: out of memory\n"); goto done; }
    clnas_pcg32 r;
    clnas_pcg32_seed(&r, 42, 1);
    for (size_t i = 0; i < nx; i++) { x[i] = (float)clnas_pcg32_uniform(&r, -2, 2); xd[i] = x[i]; }
    clnas_net_init_params(net, 7, 0, CLNAS_INIT_PYTORCH, params);
    for (size_t i = 0; i < np; i++) pd[i] = params[i];
    double t0 = clnas_now();
    if (clnas_plan_create(ctx, net, B, S, CLNAS_PLAN_PARAM_GRADS, &plan) != CLNAS_OK || clnas_plan_set_params(plan, params) != CLNAS_OK ||
        clnas_plan_forward(plan, x) != CLNAS_OK || clnas_plan_read_logits(plan, logits) != CLNAS_OK) {
        fprintf(stderr, "selftest: %s\n", clnas_ctx_errmsg(ctx));
        goto done;
    }
    /* the NTK seeds: d(sum of logits of sample s)/d(everything) */
    for (int s = 0; s < S; s++)
        for (int k = 0; k < K; k++) dl[(size_t)s * nl + (size_t)(s % B) * K + k] = 1.0f;
    if (clnas_plan_backward_host(plan, S, dl, pg, NULL) != CLNAS_OK) {
        fprintf(stderr, "selftest: %s\n", clnas_ctx_errmsg(ctx));
        goto done;
    }
    *secs = clnas_now() - t0;
    if (clnas_ref_forward(net, B, pd, xd, ld) != CLNAS_OK) { fprintf(stderr, "selftest: reference failed\n"); goto done; }
    *ef = rel_err(logits, ld, nl);
    *eb = 0;
    for (int s = 0; s < S; s++) {
        memset(dld, 0, nl * sizeof *dld);
        for (int k = 0; k < K; k++) dld[(size_t)(s % B) * K + k] = 1.0;
        if (clnas_ref_backward(net, B, pd, xd, dld, pgd, NULL) != CLNAS_OK) { fprintf(stderr, "selftest: reference failed\n"); goto done; }
        double e = rel_err(pg + (size_t)s * np, pgd, np);
        if (e > *eb) *eb = e;
    }
    rc = (*ef <= tol && *eb <= tol) ? 0 : 1;
done:
    clnas_plan_destroy(plan);
    clnas_net_destroy(net);
    free(x); free(xd); free(params); free(pd); free(logits); free(ld); free(dl); free(dld); free(pg); free(pgd);
    return rc;
}

int clnas_cmd_selftest(int argc, char **argv)
{
    const char *device = NULL, *v;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: clnas selftest [--device D]\n\n"
                   "Runs NAS-Bench-201 networks (the TE-NAS NTK and linear-region proxies, supernet and single\n"
                   "path) forward and backward on the device, several seeds at once, and compares the logits and\n"
                   "every parameter gradient with the double-precision host reference. Exit status 0 when all\n"
                   "agree within 1e-4 relative to each result's scale.\n");
            return 0;
        } else if ((v = clnas_cli_opt(argc, argv, &i, "--device"))) device = v;
        else { fprintf(stderr, "clnas selftest: unknown option \"%s\"\n", argv[i]); return 2; }
    }
    clnas_ctx *ctx = NULL;
    if (clnas_ctx_create(device, &ctx) != CLNAS_OK) {
        fprintf(stderr, "clnas selftest: %s\n", clnas_ctx_errmsg(ctx));
        clnas_ctx_destroy(ctx);
        return 1;
    }
    const clnas_device_info *d = clnas_ctx_device(ctx);
    printf("device %d: %s (%s, %s)\n", d->index, d->name, d->type, d->platform_name);
    static const case_def cases[] = {
        {"NTK proxy supernet (C=3 N=1, 32x32)", "supernet", 3, 1, 32, 1, -1, 0, 4, 3},
        {"NTK proxy single path", "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|none~2|", 3, 1, 32, 1, -1, 0, 3, 2},
        {"LR proxy supernet (C=1, 3x3, no stem)", "supernet", 1, 1, 3, 0, 1, 1, 64, 2},
        {"C=8 N=2 mixed supernet, 16x16", "|skip_connect,nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3,none~1|+|skip_connect~0|nor_conv_3x3,nor_conv_1x1~1|avg_pool_3x3~2|", 8, 2, 16, 1, -1, 0, 2, 2},
    };
    const double tol = 1e-4;
    int failed = 0;
    printf("%-44s %6s %6s %12s %12s %8s  %s\n", "network", "batch", "seeds", "fwd rel err", "bwd rel err", "time", "result");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double ef = 0, eb = 0, secs = 0;
        int rc = run_case(ctx, &cases[i], tol, &ef, &eb, &secs);
        if (rc < 0) { failed++; continue; }
        printf("%-44s %6d %6d %12.2e %12.2e %7.2fs  %s\n", cases[i].what, cases[i].batch, cases[i].seeds, ef, eb, secs,
               rc == 0 ? "ok" : "FAIL");
        if (rc) failed++;
    }
    printf("selftest: %s (tolerance %.0e relative to each result's scale)\n", failed ? "FAILED" : "all networks agree with the host reference", tol);
    clnas_ctx_destroy(ctx);
    return failed ? 1 : 0;
}
