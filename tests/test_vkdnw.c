/* test_vkdnw.c - VKDNW's pieces (src/metrics/proxy_vkdnw.c, src/ops/bn_eval.c):
 *   1. eval-mode BatchNorm kernels against their double host reference (awkward shapes, S seeds,
 *      dy_scale, accumulate / overwrite, padded g_ld) and the reference backward against central
 *      finite differences of the reference forward;
 *   2. a plan in eval-BN mode: a sample's gradient does not depend on the rest of the batch, and
 *      the per-sample gradient of a logit matches finite differences of the device forward in a
 *      BN beta, a BN gamma and a conv weight;
 *   3. the spectrum score on hand-computed deciles, the float16 smoothing constants against the
 *      values PyTorch gives, and px_vkdnw's parts on a small batch.
 * The full definition is checked against PyTorch by tools/verify_proxies.py (test_verify_proxies). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clnas/nb201.h"
#include "metrics/proxies.h"
#include "metrics/proxy_vkdnw.h"
#include "model/graph.h"
#include "ops/bn_eval.h"
#include "util/testutil.h"

#define OKC(ctx, call) cr_assert_eq((call), CLNAS_OK, "%s: %s", #call, clnas_ctx_errmsg(ctx))
#define ARCH "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"

static void bn_eval_case(int N, int C, int H, int W, int S, float sc, int acc, uint64_t seed)
{
    clnas_ctx *ctx = tu_ctx();
    clnas_bn_shape s = {N, C, H, W, 1e-5};
    const size_t per = (size_t)N * C * H * W, tot = per * (size_t)S, g_ld = (size_t)2 * C + 3;
    fprintf(stderr, " bn_eval N=%d C=%d H=%d W=%d S=%d scale %g acc %d\n", N, C, H, W, S, sc, acc);
    double *x = tu_dalloc(per), *gam = tu_dalloc(C), *bet = tu_dalloc(C), *st = tu_dalloc(2 * (size_t)C), *y = tu_dalloc(per + 2); /* + 2: uploaded as the padded output buffer */
    tu_fill_rounded(x, per, seed, -2, 2);
    tu_fill_rounded(gam, C, seed + 1, 0.5, 1.5);
    tu_fill_rounded(bet, C, seed + 2, -0.5, 0.5);
    tu_fill_rounded(st, C, seed + 3, -0.3, 0.3);
    tu_fill_rounded(st + C, C, seed + 4, 0.5, 2);
    clnas_bn_eval_fwd_ref(&s, x, gam, bet, st, y);
    cl_mem xb = tu_upload(ctx, x, per), gb = tu_upload(ctx, gam, C), bb = tu_upload(ctx, bet, C);
    cl_mem sb = tu_upload(ctx, st, 2 * (size_t)C), yb = tu_upload(ctx, y, per + 2);
    OKC(ctx, clnas_bn_eval_fwd(ctx, &s, tu_dt(xb, 0), tu_dt(gb, 0), tu_dt(bb, 0), tu_dt(sb, 0), tu_dt(yb, 2)));
    double *got = tu_dalloc(tot);
    tu_read(ctx, yb, 2, per, got);
    tu_expect_close("bn_eval fwd", got, y, per, 1e-6);

    double *dy = tu_dalloc(tot), *dx = tu_dalloc(tot), *dys = tu_dalloc(per), *dg = tu_dalloc((size_t)S * C), *db = tu_dalloc((size_t)S * C);
    tu_fill_rounded(dy, tot, seed + 5, -1, 1);
    if (acc) tu_fill_rounded(dx, tot, seed + 6, -1, 1);
    cl_mem dyb = tu_upload(ctx, dy, tot), dxb = tu_upload(ctx, dx, tot);
    if (!acc) { /* overwrite: dx must not be read, so start it as NaN */
        for (size_t i = 0; i < tot; i++) got[i] = NAN;
        tu_write(ctx, dxb, 0, got, tot);
    }
    for (int k = 0; k < S; k++) {
        for (size_t i = 0; i < per; i++) dys[i] = sc * dy[k * per + i];
        clnas_bn_eval_bwd_ref(&s, x, gam, st, dys, dx + k * per, dg + (size_t)k * C, db + (size_t)k * C);
    }
    double *g0 = tu_dalloc((size_t)S * g_ld + 1);
    cl_mem G = tu_upload(ctx, g0, (size_t)S * g_ld + 1);
    OKC(ctx, clnas_bn_eval_bwd(ctx, &s, S, tu_dt(xb, 0), tu_dt(gb, 0), tu_dt(sb, 0), tu_dt(dyb, 0), sc, tu_dt(dxb, 0), acc,
                               tu_dt(G, 1), tu_dt(G, 1 + (size_t)C), g_ld));
    tu_read(ctx, dxb, 0, tot, got);
    tu_expect_close("bn_eval bwd dx", got, dx, tot, 1e-5);
    double *gh = tu_dalloc((size_t)S * g_ld + 1), *pg = tu_dalloc((size_t)S * C), *pb = tu_dalloc((size_t)S * C);
    tu_read(ctx, G, 0, (size_t)S * g_ld + 1, gh);
    for (int k = 0; k < S; k++)
        for (int c = 0; c < C; c++) {
            pg[(size_t)k * C + c] = gh[1 + k * g_ld + c];
            pb[(size_t)k * C + c] = gh[1 + k * g_ld + C + c];
        }
    tu_expect_close("bn_eval bwd dgamma", pg, dg, (size_t)S * C, 1e-5);
    tu_expect_close("bn_eval bwd dbeta", pb, db, (size_t)S * C, 1e-5);
    cr_expect_eq(gh[0], 0.0, "bn_eval bwd wrote before its gradient rows");
    clnas_buf_free(xb); clnas_buf_free(gb); clnas_buf_free(bb); clnas_buf_free(sb); clnas_buf_free(yb);
    clnas_buf_free(dyb); clnas_buf_free(dxb); clnas_buf_free(G);
    free(x); free(gam); free(bet); free(st); free(y); free(got); free(dy); free(dx); free(dys); free(dg); free(db);
    free(g0); free(gh); free(pg); free(pb);
}

Test(vkdnw, bn_eval_kernels_match_the_reference)
{
    bn_eval_case(3, 5, 7, 3, 2, 0.375f, 1, 11);
    bn_eval_case(1, 16, 32, 32, 10, 1.0f, 0, 12);
    bn_eval_case(1, 1, 1, 1, 1, 1.0f, 1, 13);
    bn_eval_case(2, 64, 8, 8, 3, 0.5f, 0, 14);
}

/* Finite differences of the reference forward in x, gamma and beta for L = sum w * y. */
typedef struct fd_ud {
    clnas_bn_shape s;
    double *x, *gam, *bet, *st;
    int which; /* 0: x, 1: gamma, 2: beta */
} fd_ud;

static void fd_fwd(void *ud, const double *in, double *out)
{
    fd_ud *u = ud;
    size_t n = u->which ? (size_t)u->s.c : (size_t)u->s.n * u->s.c * u->s.h * u->s.w;
    double *keep = u->which == 0 ? u->x : u->which == 1 ? u->gam : u->bet;
    double *tmp = tu_dalloc(n);
    memcpy(tmp, keep, n * sizeof(double));
    memcpy(keep, in, n * sizeof(double));
    clnas_bn_eval_fwd_ref(&u->s, u->x, u->gam, u->bet, u->st, out);
    memcpy(keep, tmp, n * sizeof(double));
    free(tmp);
}

Test(vkdnw, bn_eval_reference_backward_matches_finite_differences)
{
    fd_ud u = {{2, 3, 4, 5, 1e-5}, NULL, NULL, NULL, NULL, 0};
    const size_t per = 2 * 3 * 4 * 5;
    u.x = tu_dalloc(per); u.gam = tu_dalloc(3); u.bet = tu_dalloc(3); u.st = tu_dalloc(6);
    tu_fill(u.x, per, 1, -2, 2);
    tu_fill(u.gam, 3, 2, 0.5, 1.5);
    tu_fill(u.bet, 3, 3, -1, 1);
    tu_fill(u.st, 3, 4, -0.5, 0.5);
    tu_fill(u.st + 3, 3, 5, 0.5, 2);
    double *w = tu_dalloc(per), *dx = tu_dalloc(per), dg[3], db[3];
    tu_fill(w, per, 6, -1, 1);
    clnas_bn_eval_bwd_ref(&u.s, u.x, u.gam, u.st, w, dx, dg, db);
    double *in = tu_dalloc(per);
    memcpy(in, u.x, per * sizeof(double));
    cr_expect_lt(tu_gradcheck(fd_fwd, &u, in, per, per, w, dx, 1e-6, 0), 1e-6, "dx");
    u.which = 1;
    memcpy(in, u.gam, 3 * sizeof(double));
    cr_expect_lt(tu_gradcheck(fd_fwd, &u, in, 3, per, w, dg, 1e-6, 0), 1e-6, "dgamma");
    u.which = 2;
    memcpy(in, u.bet, 3 * sizeof(double));
    cr_expect_lt(tu_gradcheck(fd_fwd, &u, in, 3, per, w, db, 1e-6, 0), 1e-6, "dbeta");
    free(u.x); free(u.gam); free(u.bet); free(u.st); free(w); free(dx); free(in);
}

static clnas_net *full_net(void)
{
    clnas_nb201_config c;
    clnas_nb201_arch a;
    clnas_net *n = NULL;
    char err[256];
    clnas_nb201_config_default(&c);
    cr_assert_eq(clnas_nb201_parse(ARCH, &a, err, sizeof err), CLNAS_OK, "%s", err);
    cr_assert_eq(clnas_nb201_build(&c, &a, &n, err, sizeof err), CLNAS_OK, "%s", err);
    return n;
}

/* Gradient (all nparams) of logit `cls` of sample `which` of a batch of `batch` images, eval-mode BN. */
static void eval_grad(clnas_ctx *ctx, const clnas_net *net, const float *params, const float *images, int batch,
                      int which, int cls, float *g)
{
    const int K = clnas_net_classes(net);
    clnas_plan *p = NULL;
    OKC(ctx, clnas_plan_create(ctx, net, batch, 1, CLNAS_PLAN_PARAM_GRADS, &p));
    OKC(ctx, clnas_plan_set_params(p, params));
    OKC(ctx, clnas_plan_bn_eval(p, 1));
    OKC(ctx, clnas_plan_forward(p, images));
    float *dl = calloc((size_t)batch * K, sizeof(float));
    dl[which * K + cls] = 1.0f;
    OKC(ctx, clnas_plan_backward_host(p, 1, dl, g, NULL));
    free(dl);
    clnas_plan_destroy(p);
}

/* Logit `cls` of one image with params, every ReLU frozen at its pattern under base (eval-mode BN):
 * the logit is then affine in any single parameter, so a difference quotient is exact up to rounding. */
static double eval_logit(clnas_ctx *ctx, const clnas_net *net, const float *base, const float *params,
                         const float *image, int cls)
{
    const int K = clnas_net_classes(net);
    clnas_plan *p = NULL;
    float z[128];
    cr_assert_leq(K, 128);
    OKC(ctx, clnas_plan_create(ctx, net, 1, 1, 0, &p));
    OKC(ctx, clnas_plan_set_params(p, base));
    OKC(ctx, clnas_plan_bn_eval(p, 1));
    OKC(ctx, clnas_plan_forward(p, image));
    OKC(ctx, clnas_plan_freeze(p, 1));
    OKC(ctx, clnas_plan_set_params(p, params));
    OKC(ctx, clnas_plan_forward(p, image));
    OKC(ctx, clnas_plan_read_logits(p, z));
    clnas_plan_destroy(p);
    return z[cls];
}

Test(vkdnw, eval_bn_plan_gives_per_sample_gradients, .timeout = 600)
{
    clnas_ctx *ctx = tu_ctx();
    clnas_net *net = full_net();
    float *params, *images;
    cr_assert_eq(px_vkdnw_inputs(net, 3, 5, 0, &params, &images), CLNAS_OK);
    const size_t P = clnas_net_nparams(net), img = 3 * 32 * 32;
    float *g3 = malloc(P * sizeof(float)), *g1 = malloc(P * sizeof(float));
    eval_grad(ctx, net, params, images, 3, 1, 4, g3);
    eval_grad(ctx, net, params, images + img, 1, 0, 4, g1);
    double *a = tu_dalloc(P), *b = tu_dalloc(P);
    for (size_t i = 0; i < P; i++) { a[i] = g3[i]; b[i] = g1[i]; }
    tu_expect_close("sample 1's gradient in a batch of 3 vs alone", a, b, P, 1e-5);
    /* finite differences of the device forward with the ReLUs frozen at the unperturbed pattern
       (the gradient's own linearisation): stem BN beta[0], lastact BN gamma[0], a conv weight */
    float *base = malloc(P * sizeof(float));
    memcpy(base, params, P * sizeof(float));
    const char *want[3] = {"stem.bn.bias", "lastact.bn.weight", "cells.0.edges.1<-0.nor_conv_3x3.conv.weight"};
    for (int t = 0; t < clnas_net_nparam_tensors(net); t++) {
        const char *nm;
        size_t off, cnt;
        int sh[4];
        clnas_net_param_tensor(net, t, &nm, &off, &cnt, sh);
        for (int k = 0; k < 3; k++) {
            if (strcmp(nm, want[k])) continue;
            const float keep = params[off], h = 0.25f;
            params[off] = keep + h;
            double zp = eval_logit(ctx, net, base, params, images + img, 4);
            params[off] = keep - h;
            double zm = eval_logit(ctx, net, base, params, images + img, 4);
            params[off] = keep;
            double fd = (zp - zm) / (2.0 * h), g = g1[off];
            fprintf(stderr, "  %-45s grad %.6g  fd %.6g  (logit %.3g)\n", nm, g, fd, zp);
            cr_expect_leq(fabs(fd - g), 1e-4 * fmax(fabs(g), 1e-2), "%s: gradient %g, finite difference %g", nm, g, fd);
        }
    }
    free(g3); free(g1); free(a); free(b); free(params); free(images); free(base);
    clnas_net_destroy(net);
}

/* The batched Jacobian (all images in one plan, one backward per class, the first elements'
 * per-image gradients from channel 0 of activations and activation gradients) against the
 * per-image one (batch 1, the classes as seeds, full parameter gradients): every entry of z and J
 * for 3 images (odd batch: chunk 3) of the full network, whose selected tensors are 3x3 and 1x1
 * convolutions (padded and not), BatchNorm weights and biases. */
Test(vkdnw, batched_jacobian_matches_per_image, .timeout = 600)
{
    clnas_ctx *ctx = tu_ctx();
    clnas_net *net = full_net();
    float *params, *images;
    const int B = 3, K = 10, nt = clnas_net_nparam_tensors(net), P = nt < PX_VKDNW_TENSORS ? nt : PX_VKDNW_TENSORS;
    cr_assert_eq(px_vkdnw_inputs(net, B, 7, 0, &params, &images), CLNAS_OK);
    float *z1 = malloc((size_t)B * K * sizeof(float)), *z2 = malloc((size_t)B * K * sizeof(float));
    double *J1 = tu_dalloc((size_t)B * K * P), *J2 = tu_dalloc((size_t)B * K * P);
    OKC(ctx, px_vkdnw_jacobian(ctx, net, params, images, B, 0, z1, J1));
    OKC(ctx, px_vkdnw_jacobian(ctx, net, params, images, B, 1, z2, J2));
    double zz1[30], zz2[30], mx = 0;
    for (int i = 0; i < B * K; i++) { zz1[i] = z1[i]; zz2[i] = z2[i]; }
    tu_expect_close("logits", zz1, zz2, (size_t)B * K, 1e-5);
    for (size_t i = 0; i < (size_t)B * K * P; i++) mx = fmax(mx, fabs(J2[i]));
    cr_assert(mx > 0, "all-zero Jacobian");
    int bad = 0;
    for (size_t i = 0; i < (size_t)B * K * P && bad < 5; i++)
        if (fabs(J1[i] - J2[i]) > 1e-4 * fmax(fabs(J2[i]), 1e-3 * mx)) {
            cr_expect_fail("J[%zu] (image %zu, class %zu, tensor %zu): batched %.8g, per image %.8g", i, i / (K * P),
                           (i / P) % K, i % P, J1[i], J2[i]);
            bad++;
        }
    free(z1); free(z2); free(J1); free(J2); free(params); free(images);
    clnas_net_destroy(net);
}

Test(vkdnw, spectrum_score_of_known_deciles)
{
    /* 0..10 (shuffled, some negative: singular values are |eigenvalues|): the deciles are 1..9 */
    double lam[11] = {7, -3, 10, 0, 5, -1, 9, 2, -8, 6, 4};
    double h = 0;
    for (int k = 1; k <= 9; k++) h -= k / (45.0 + 1e-10) * log(k / (45.0 + 1e-10) + 1e-10);
    cr_expect_float_eq(px_vkdnw_entropy(11, lam), h, 1e-12);
    /* a flat spectrum: nine equal deciles, entropy ln 9 (the largest) */
    double flat[5] = {2, 2, 2, 2, 2};
    cr_expect_float_eq(px_vkdnw_entropy(5, flat), log(9.0), 1e-9);
    /* interpolation between neighbours: n = 3 -> positions 0.2 ... 1.8 */
    double three[3] = {0, 1, 3};
    double q[9], s = 0, e = 0;
    for (int k = 0; k < 9; k++) {
        double pos = 0.2 * (k + 1);
        q[k] = pos <= 1 ? pos : 1 + 2 * (pos - 1);
        s += q[k];
    }
    for (int k = 0; k < 9; k++) e -= q[k] / (s + 1e-10) * log(q[k] / (s + 1e-10) + 1e-10);
    cr_expect_float_eq(px_vkdnw_entropy(3, three), e, 1e-9);
}

Test(vkdnw, float16_smoothing_constants_are_pytorchs)
{
    /* torch.tensor(0.05, dtype=torch.float16): 1 - a = 0.9501953125, a / 10 = 0.00499725341796875,
       a / 100 = 0.000499725341796875 (measured with PyTorch 1.13) */
    double a1, a2;
    px_vkdnw_smoothing(10, &a1, &a2);
    cr_expect_eq(a1, 0.9501953125);
    cr_expect_eq(a2, 0.00499725341796875);
    px_vkdnw_smoothing(100, &a1, &a2);
    cr_expect_eq(a2, 0.000499725341796875);
}

Test(vkdnw, score_parts_and_parser, .timeout = 600)
{
    unsigned mask;
    int tenas;
    char err[256];
    cr_assert_eq(px_parse("vkdnw", &mask, &tenas, err, sizeof err), 0, "%s", err);
    cr_expect_eq(mask, 1u << PX_VKDNW);
    clnas_ctx *ctx = tu_ctx();
    clnas_net *net = full_net();
    float *params, *images;
    cr_assert_eq(px_vkdnw_inputs(net, 4, 1, 0, &params, &images), CLNAS_OK);
    px_vkdnw_out o;
    OKC(ctx, px_vkdnw(ctx, net, params, images, 4, &o));
    fprintf(stderr, "  vkdnw %.10g = aleph %g + H %.10g / ln 10\n", o.value, o.dim, o.entropy);
    cr_expect_eq(o.dim, (double)clnas_net_nparam_tensors(net));
    cr_expect(o.entropy > 0 && o.entropy <= log(9.0) + 1e-12, "entropy %g", o.entropy);
    cr_expect_float_eq(o.value, o.dim + o.entropy / log(10.0), 1e-12);
    cr_expect_null(o.why);
    free(params); free(images);
    clnas_net_destroy(net);
}
