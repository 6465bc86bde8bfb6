/* test_net.c - NAS-Bench-201 networks: parameter counts against TENAS.md §10.6, initialisation
 * (determinism, pairing across architectures, distributions), the whole network on the device
 * against the host reference, and the host reference against finite differences. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "clnas/nb201.h"
#include "model/graph.h"
#include "util/testutil.h"

static clnas_net *build(const char *arch_s, int C, int N, int classes, int input, int stem, int depth, int inch)
{
    clnas_nb201_config cfg;
    clnas_nb201_config_default(&cfg);
    cfg.C = C; cfg.N = N; cfg.classes = classes; cfg.input_hw = input; cfg.use_stem = stem; cfg.depth = depth;
    cfg.in_channels = inch;
    clnas_nb201_arch a;
    char err[512];
    cr_assert_eq(clnas_nb201_parse(arch_s, &a, err, sizeof err), CLNAS_OK, "%s", err);
    clnas_net *net = NULL;
    cr_assert_eq(clnas_nb201_build(&cfg, &a, &net, err, sizeof err), CLNAS_OK, "%s", err);
    return net;
}

#define CONV3 "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
#define CONV1 "|nor_conv_1x1~0|+|nor_conv_1x1~0|nor_conv_1x1~1|+|nor_conv_1x1~0|nor_conv_1x1~1|nor_conv_1x1~2|"
#define FREE "|skip_connect~0|+|avg_pool_3x3~0|none~1|+|skip_connect~0|avg_pool_3x3~1|none~2|"

Test(net, parameter_counts_match_tenas_table)
{
    struct { const char *arch; int C, N, classes, input, stem, depth, inch; size_t all, jac; } t[] = {
        {CONV3, 16, 5, 10, 32, 1, -1, 0, 1531546, 1527904},
        {CONV3, 16, 5, 100, 32, 1, -1, 0, 1537396, 0},
        {CONV3, 16, 5, 120, 16, 1, -1, 0, 1538696, 0},
        {CONV1, 16, 5, 10, 32, 1, -1, 0, 241306, 237664},
        {FREE, 16, 5, 10, 32, 1, -1, 0, 73306, 73024},
        {"supernet", 3, 1, 10, 32, 1, -1, 0, 14677, 14364},
        {"supernet", 3, 1, 100, 32, 1, -1, 0, 0, 15444},
        {"supernet", 3, 1, 120, 16, 1, -1, 0, 0, 15684},
        {CONV3, 3, 1, 10, 32, 1, -1, 0, 0, 13104},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        clnas_net *n = build(t[i].arch, t[i].C, t[i].N, t[i].classes, t[i].input, t[i].stem, t[i].depth, t[i].inch);
        if (t[i].all) cr_expect_eq(clnas_net_nparams(n), t[i].all, "case %zu: %zu params, want %zu", i, clnas_net_nparams(n), t[i].all);
        if (t[i].jac) cr_expect_eq(clnas_net_njacobian(n), t[i].jac, "case %zu: %zu Jacobian params, want %zu", i, clnas_net_njacobian(n), t[i].jac);
        clnas_net_destroy(n);
    }
    /* the thin linear-region net: 12 conv ops x 9 + lastact 9 = 117 ReLU bits (TENAS.md §2.3) */
    clnas_nb201_config cfg;
    clnas_nb201_config_lr(&cfg, 10);
    clnas_nb201_arch a;
    clnas_nb201_parse("supernet", &a, NULL, 0);
    clnas_net *n = NULL;
    cr_assert_eq(clnas_nb201_build(&cfg, &a, &n, NULL, 0), CLNAS_OK);
    cr_expect_eq(clnas_net_relu_bits(n), 117);
    clnas_net_destroy(n);
}

Test(net, bad_configurations_are_errors)
{
    clnas_nb201_config cfg;
    clnas_nb201_config_default(&cfg);
    clnas_nb201_arch a;
    clnas_nb201_parse("supernet", &a, NULL, 0);
    clnas_net *n = NULL;
    char err[512];
    cfg.input_hw = 30; /* 30 -> 15 -> odd at the second reduction */
    cr_expect_eq(clnas_nb201_build(&cfg, &a, &n, err, sizeof err), CLNAS_E_INVALID_ARG);
    cr_expect(strstr(err, "even") != NULL, "%s", err);
    cr_expect_null(n);
    clnas_nb201_config_default(&cfg);
    cfg.C = 0;
    cr_expect_eq(clnas_nb201_build(&cfg, &a, &n, err, sizeof err), CLNAS_E_INVALID_ARG);
    clnas_nb201_config_default(&cfg);
    cfg.use_stem = 0;
    cfg.in_channels = 3; /* 3 input channels into a C=16 cell */
    cr_expect_eq(clnas_nb201_build(&cfg, &a, &n, err, sizeof err), CLNAS_E_INVALID_ARG);
    cr_expect(strstr(err, "stem") != NULL, "%s", err);
}

static const float *find_tensor(const clnas_net *n, const float *p, const char *name, size_t *count)
{
    for (int i = 0; i < clnas_net_nparam_tensors(n); i++) {
        const char *nm;
        size_t off, cnt;
        int shape[4];
        clnas_net_param_tensor(n, i, &nm, &off, &cnt, shape);
        if (strcmp(nm, name) == 0) { *count = cnt; return p + off; }
    }
    return NULL;
}

Test(net, init_is_deterministic_and_paired_across_architectures)
{
    clnas_net *a = build("supernet", 3, 1, 10, 32, 1, -1, 0);
    clnas_net *b = build("|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|", 3, 1, 10, 32, 1, -1, 0);
    float *pa = malloc(clnas_net_nparams(a) * sizeof(float)), *pa2 = malloc(clnas_net_nparams(a) * sizeof(float));
    float *pb = malloc(clnas_net_nparams(b) * sizeof(float)), *pc = malloc(clnas_net_nparams(a) * sizeof(float));
    clnas_net_init_params(a, 5, 1, CLNAS_INIT_PYTORCH, pa);
    clnas_net_init_params(a, 5, 1, CLNAS_INIT_PYTORCH, pa2);
    clnas_net_init_params(b, 5, 1, CLNAS_INIT_PYTORCH, pb);
    clnas_net_init_params(a, 5, 2, CLNAS_INIT_PYTORCH, pc);
    cr_assert_eq(memcmp(pa, pa2, clnas_net_nparams(a) * sizeof(float)), 0, "same seed and stream must reproduce");
    /* every tensor of b exists in a (b is a sub-network of the supernet) with the same values */
    int shared = 0;
    for (int i = 0; i < clnas_net_nparam_tensors(b); i++) {
        const char *nm;
        size_t off, cnt, cnt2;
        int shape[4];
        clnas_net_param_tensor(b, i, &nm, &off, &cnt, shape);
        char name[128];
        strcpy(name, nm);
        const float *va = find_tensor(a, pa, name, &cnt2);
        cr_assert_not_null(va, "%s missing from the supernet", name);
        cr_assert_eq(cnt, cnt2);
        cr_assert_eq(memcmp(va, pb + off, cnt * sizeof(float)), 0, "%s differs between architectures", name);
        shared++;
    }
    cr_assert_gt(shared, 20);
    size_t cnt = 0;
    const float *w1 = find_tensor(a, pa, "stem.conv.weight", &cnt), *w2 = find_tensor(a, pc, "stem.conv.weight", &cnt);
    cr_assert_neq(memcmp(w1, w2, cnt * sizeof(float)), 0, "another stream must give other weights");
    /* PyTorch default: conv weight ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)); BN gamma 1, beta 0 */
    const float *w = find_tensor(a, pa, "cells.4.edges.3<-2.nor_conv_3x3.conv.weight", &cnt);
    cr_assert_eq(cnt, 12 * 12 * 9);
    double bound = 1.0 / sqrt(12.0 * 9.0), m = 0, v = 0;
    for (size_t i = 0; i < cnt; i++) {
        cr_assert(fabs(w[i]) <= bound);
        m += w[i];
        v += (double)w[i] * w[i];
    }
    m /= (double)cnt;
    v = v / (double)cnt;
    cr_expect(fabs(m) < 0.1 * bound, "mean %g", m);
    cr_expect(fabs(v / (bound * bound / 3.0) - 1.0) < 0.1, "variance ratio %g", v / (bound * bound / 3.0));
    const float *g = find_tensor(a, pa, "lastact.bn.weight", &cnt), *be = find_tensor(a, pa, "lastact.bn.bias", &cnt);
    for (size_t i = 0; i < cnt; i++) { cr_assert_eq(g[i], 1.0f); cr_assert_eq(be[i], 0.0f); }
    /* Kaiming normal fan_out: std sqrt(2 / (cout k k)) */
    clnas_net_init_params(a, 5, 1, CLNAS_INIT_KAIMING_FAN_OUT, pc);
    w = find_tensor(a, pc, "cells.4.edges.3<-2.nor_conv_3x3.conv.weight", &cnt);
    v = 0;
    for (size_t i = 0; i < cnt; i++) v += (double)w[i] * w[i];
    cr_expect(fabs(v / (double)cnt / (2.0 / 108.0) - 1.0) < 0.15, "kaiming variance ratio %g", v / (double)cnt / (2.0 / 108.0));
    free(pa); free(pa2); free(pb); free(pc);
    clnas_net_destroy(a);
    clnas_net_destroy(b);
}

/* whole network on the device vs the host reference: logits, every parameter gradient of S
 * seeds, and the input gradient */
static void device_vs_reference(const char *arch, int C, int N, int input, int stem, int depth, int inch, int B, int S)
{
    clnas_ctx *ctx = tu_ctx();
    clnas_net *net = build(arch, C, N, 10, input, stem, depth, inch);
    int c, h, w;
    clnas_net_input_shape(net, &c, &h, &w);
    size_t nx = (size_t)B * c * h * w, np = clnas_net_nparams(net), nl = (size_t)B * 10;
    float *x = malloc(nx * sizeof *x), *p = malloc(np * sizeof *p), *lg = malloc(nl * sizeof *lg);
    float *dl = malloc((size_t)S * nl * sizeof *dl), *pg = malloc((size_t)S * np * sizeof *pg), *dx = malloc((size_t)S * nx * sizeof *dx);
    double *xd = malloc(nx * sizeof *xd), *pd = malloc(np * sizeof *pd), *lgd = malloc(nl * sizeof *lgd);
    double *dld = malloc(nl * sizeof *dld), *pgd = malloc(np * sizeof *pgd), *dxd = malloc(nx * sizeof *dxd), *tmp = malloc((np + nx + nl) * sizeof *tmp);
    tu_fill(xd, nx, 11, -2, 2);
    tu_round_to_float(xd, nx);
    for (size_t i = 0; i < nx; i++) x[i] = (float)xd[i];
    clnas_net_init_params(net, 3, 0, CLNAS_INIT_PYTORCH, p);
    for (size_t i = 0; i < np; i++) pd[i] = p[i];
    /* arbitrary output gradients (not just one-hot rows) */
    double *dlall = malloc((size_t)S * nl * sizeof *dlall);
    tu_fill(dlall, (size_t)S * nl, 12, -1, 1);
    tu_round_to_float(dlall, (size_t)S * nl);
    for (size_t i = 0; i < (size_t)S * nl; i++) dl[i] = (float)dlall[i];
    clnas_plan *plan = NULL;
    cr_assert_eq(clnas_plan_create(ctx, net, B, S, CLNAS_PLAN_PARAM_GRADS, &plan), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    cr_assert_eq(clnas_plan_set_params(plan, p), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    cr_assert_eq(clnas_plan_forward(plan, x), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    cr_assert_eq(clnas_plan_read_logits(plan, lg), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    cr_assert_eq(clnas_plan_backward_host(plan, S, dl, pg, dx), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    cr_assert_eq(clnas_ref_forward(net, B, pd, xd, lgd), CLNAS_OK);
    for (size_t i = 0; i < nl; i++) tmp[i] = lg[i];
    tu_expect_close("logits", tmp, lgd, nl, 1e-5);
    for (int s = 0; s < S; s++) {
        memcpy(dld, dlall + (size_t)s * nl, nl * sizeof *dld);
        cr_assert_eq(clnas_ref_backward(net, B, pd, xd, dld, pgd, dxd), CLNAS_OK);
        for (size_t i = 0; i < np; i++) tmp[i] = pg[(size_t)s * np + i];
        /* whole-network gradients pass through ~10 layers incl. train-mode BN: allow 1e-4 */
        tu_expect_close("parameter gradients", tmp, pgd, np, 1e-4);
        for (size_t i = 0; i < nx; i++) tmp[i] = dx[(size_t)s * nx + i];
        tu_expect_close("input gradient", tmp, dxd, nx, 1e-4);
    }
    clnas_plan_destroy(plan);
    clnas_net_destroy(net);
    free(x); free(p); free(lg); free(dl); free(pg); free(dx); free(xd); free(pd); free(lgd); free(dld); free(pgd); free(dxd); free(tmp); free(dlall);
}

Test(net, whole_networks_on_device_match_host_reference)
{
    device_vs_reference("supernet", 3, 1, 12, 1, -1, 0, 3, 3);
    device_vs_reference("|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|nor_conv_1x1~0|none~1|nor_conv_3x3~2|", 2, 2, 8, 1, -1, 0, 2, 2);
    device_vs_reference("supernet", 1, 1, 3, 0, 1, 1, 50, 1);
    device_vs_reference("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", 3, 1, 8, 1, -1, 0, 2, 2);
}

/* 32x32 input: widths 32, 16, 8 take the shape-specialised convolution kernels (stride 1 and
 * the stride-2 reductions), with the ReLU folded into their backward-data pass */
Test(net, full_size_proxy_on_device_matches_host_reference)
{
    device_vs_reference("supernet", 3, 1, 32, 1, -1, 0, 2, 2);
}

/* CLNAS_FUSE=0: the plain schedule (every gradient materialised, zeroed and accumulated, no
 * aliases, no folded ReLUs) must agree too: it is the cross-check of the fused one */
Test(net, unfused_schedule_matches_host_reference)
{
    setenv("CLNAS_FUSE", "0", 1);
    device_vs_reference("supernet", 3, 1, 12, 1, -1, 0, 3, 3);
    device_vs_reference("supernet", 3, 1, 32, 1, -1, 0, 2, 2);
    device_vs_reference("|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|nor_conv_1x1~0|none~1|nor_conv_3x3~2|", 2, 2, 8, 1, -1, 0, 2, 2);
    unsetenv("CLNAS_FUSE");
}

/* The schedule folds every skip_connect beside an avg_pool_3x3 into the pool's backward (18
 * edges of the NTK supernet: 3 cells x 6 edges), each with the identity's scale 1/4 (four ops
 * per edge), and the sums leave those inputs out; CLNAS_FUSE=0 folds none. The numbers of the
 * fused schedule are checked against the host reference above. */
Test(net, skip_beside_pool_is_fused_into_the_pool_backward)
{
    clnas_ctx *ctx = tu_ctx();
    clnas_net *net = build("supernet", 3, 1, 10, 32, 1, -1, 0);
    for (int fuse = 1; fuse >= 0; fuse--) {
        if (!fuse) setenv("CLNAS_FUSE", "0", 1);
        clnas_plan *plan = NULL;
        cr_assert_eq(clnas_plan_create(ctx, net, 2, 2, 0, &plan), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
        int pools = 0, bits = 0;
        for (int i = 0; i < net->nlayers; i++) {
            if (plan->pool_skip[i] != 0.0f) {
                cr_expect_eq(net->layers[i].kind, L_AVGPOOL);
                cr_expect_float_eq(plan->pool_skip[i], 0.25f, 1e-7f, "layer %s", net->layers[i].name);
                pools++;
            }
            for (int j = 0; j < 64; j++) bits += (int)((plan->skip_fused[i] >> j) & 1u);
        }
        cr_expect_eq(pools, fuse ? 18 : 0, "fuse=%d: %d pools carry an identity", fuse, pools);
        cr_expect_eq(bits, pools, "fuse=%d: %d sum inputs left out for %d pools", fuse, bits, pools);
        clnas_plan_destroy(plan);
    }
    unsetenv("CLNAS_FUSE");
    clnas_net_destroy(net);
}

/* host reference vs central finite differences: L = sum_k w_k logits_k */
typedef struct { const clnas_net *net; int B; double *params; double *x; int wrt_input; } fd_ud;
static void fd_fn(void *ud, const double *in, double *out)
{
    fd_ud *u = ud;
    if (u->wrt_input) clnas_ref_forward(u->net, u->B, u->params, in, out);
    else clnas_ref_forward(u->net, u->B, in, u->x, out);
}

/* Smallest |input| over every ReLU of the reference forward: finite differences are only
 * meaningful away from the kinks (ggml's grad check skips such points the same way). */
static double relu_margin(const clnas_net *net, int B, const double *p, const double *x)
{
    double *acts = malloc(net->act_per_sample * (size_t)B * sizeof *acts), m = INFINITY;
    cr_assert_eq(clnas_ref_forward_acts(net, B, p, x, acts), CLNAS_OK);
    for (int i = 0; i < net->nlayers; i++) {
        const layer *l = &net->layers[i];
        if (l->kind != L_RELU) continue;
        const double *a = acts + net->tensors[l->in].off * (size_t)B;
        for (size_t j = 0; j < tensor_size(&net->tensors[l->in]) * (size_t)B; j++)
            if (fabs(a[j]) < m) m = fabs(a[j]);
    }
    free(acts);
    return m;
}

Test(net, host_reference_backward_matches_finite_differences)
{
    const char *archs[] = {"supernet", "|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|nor_conv_1x1~0|none~1|nor_conv_3x3~2|"};
    for (int t = 0; t < 2; t++) {
        clnas_net *net = build(archs[t], 2, 1, 5, 8, 1, -1, 0);
        const int B = 3, K = 5;
        int c, h, w;
        clnas_net_input_shape(net, &c, &h, &w);
        size_t nx = (size_t)B * c * h * w, np = clnas_net_nparams(net), nl = (size_t)B * K;
        double *x = malloc(nx * sizeof *x), *p = malloc(np * sizeof *p), *wt = malloc(nl * sizeof *wt);
        double *pg = malloc(np * sizeof *pg), *dx = malloc(nx * sizeof *dx);
        float *pf = malloc(np * sizeof *pf);
        tu_fill(wt, nl, 22, -1, 1);
        clnas_net_init_params(net, 9, 0, CLNAS_INIT_PYTORCH, pf);
        for (size_t i = 0; i < np; i++) p[i] = pf[i];
        /* draw inputs until no ReLU input lies within 2e-5 of its kink (h = 1e-6) */
        uint64_t seed = 21;
        do tu_fill(x, nx, seed++, -1, 1);
        while (relu_margin(net, B, p, x) < 2e-5 && seed < 200);
        cr_assert_lt(seed, 200, "no input batch away from the ReLU kinks found");
        cr_assert_eq(clnas_ref_backward(net, B, p, x, wt, pg, dx), CLNAS_OK);
        fd_ud u = {net, B, p, x, 0};
        double e = tu_gradcheck(fd_fn, &u, p, np, nl, wt, pg, 1e-6, 400);
        cr_expect(e < 1e-5, "%s: parameter gradient vs finite differences: %g", archs[t], e);
        u.wrt_input = 1;
        e = tu_gradcheck(fd_fn, &u, x, nx, nl, wt, dx, 1e-6, 200);
        cr_expect(e < 1e-5, "%s: input gradient vs finite differences: %g", archs[t], e);
        free(x); free(p); free(wt); free(pg); free(dx); free(pf);
        clnas_net_destroy(net);
    }
}
