/* test_proxies.c - the zero-cost proxies (metrics/proxies.c): the metric list parser; the device
 * values of grad_norm, snip, jacob_cov, zico and naswot against the same definitions computed from
 * the double host reference on a small NB201 network; the frozen-ReLU plan mode (grasp's
 * Hessian-vector difference) against finite differences; and clnas rank / stats --metric end to
 * end (resume included); synflow's float32 device path against its float64 host path on full-size
 * networks; AZ-NAS's host math (entropy, top singular value, rank aggregation), its components on
 * the device against the host reference, and its rank aggregate with resume. The PyTorch check of
 * every proxy is test_verify_proxies.c. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "clnas/bench201.h"
#include "clnas/score.h"
#include "metrics/proxies.h"
#include "model/graph.h"
#include "spaces/nb201_internal.h"
#include "util/testutil.h"

#define ARCH "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"

Test(proxies, parse_metric_lists)
{
    unsigned m;
    int t;
    char err[256];
    cr_assert_eq(px_parse("snip,synflow", &m, &t, err, sizeof err), 0);
    cr_expect_eq(m, (1u << PX_SNIP) | (1u << PX_SYNFLOW));
    cr_expect_eq(t, 0);
    cr_assert_eq(px_parse("ntk,lr,naswot", &m, &t, err, sizeof err), 0);
    cr_expect_eq(m, 1u << PX_NASWOT);
    cr_expect_eq(t, CLNAS_METRIC_NTK | CLNAS_METRIC_LR);
    cr_assert_eq(px_parse("all", &m, &t, err, sizeof err), 0);
    cr_expect_eq(m, (1u << PX_N) - 1);
    cr_expect_eq(px_parse("snip,bogus", &m, &t, err, sizeof err), -1);
    cr_expect(strstr(err, "\"bogus\"") != NULL, "message names the word: %s", err);
    cr_expect_eq(px_parse(",", &m, &t, err, sizeof err), -1);
    for (int i = 0; i < PX_N; i++) cr_expect(px_name(i) && px_help(i));
    cr_expect_null(px_name(PX_N));
}

/* A small NB201 network (C=4, N=1, 8x8 inputs) and B random images with labels. */
static clnas_net *small_net(void)
{
    clnas_nb201_config c;
    clnas_nb201_config_default(&c);
    c.C = 4;
    c.N = 1;
    c.input_hw = 8;
    clnas_nb201_arch a;
    char err[256];
    cr_assert_eq(clnas_nb201_parse(ARCH, &a, err, sizeof err), CLNAS_OK);
    clnas_net *n = NULL;
    cr_assert_eq(clnas_nb201_build(&c, &a, &n, err, sizeof err), CLNAS_OK, "%s", err);
    return n;
}

static void small_inputs(const clnas_net *n, int B, px_inputs *in)
{
    memset(in, 0, sizeof *in);
    in->batch = B;
    in->c = 3;
    in->hw = 8;
    in->classes = 10;
    in->nparams = clnas_net_nparams(n);
    in->params = malloc(in->nparams * sizeof(float));
    in->images = malloc(2 * (size_t)B * 3 * 64 * sizeof(float));
    in->labels = malloc(2 * (size_t)B * sizeof(int));
    clnas_net_init_params(n, 7, 0, CLNAS_INIT_PYTORCH, in->params);
    double *d = malloc(2 * (size_t)B * 192 * sizeof(double));
    tu_fill(d, 2 * (size_t)B * 192, 11, -2, 2);
    for (size_t i = 0; i < 2 * (size_t)B * 192; i++) in->images[i] = (float)d[i];
    for (int i = 0; i < 2 * B; i++) in->labels[i] = (i * 7) % 10;
    free(d);
}

/* Host-reference parameter gradient of the mean cross-entropy of batch b. */
static void ref_ce_grad(const clnas_net *n, const px_inputs *in, int b, double *g)
{
    int B = in->batch, K = in->classes;
    size_t np = in->nparams, nx = (size_t)B * 192;
    double *p = malloc(np * sizeof(double)), *x = malloc(nx * sizeof(double));
    double *z = malloc((size_t)B * K * sizeof(double)), *dz = malloc((size_t)B * K * sizeof(double));
    for (size_t i = 0; i < np; i++) p[i] = in->params[i];
    for (size_t i = 0; i < nx; i++) x[i] = in->images[(size_t)b * nx + i];
    cr_assert_eq(clnas_ref_forward(n, B, p, x, z), CLNAS_OK);
    for (int i = 0; i < B; i++) {
        double m = z[i * K], s = 0;
        for (int k = 1; k < K; k++) m = fmax(m, z[i * K + k]);
        for (int k = 0; k < K; k++) s += exp(z[i * K + k] - m);
        for (int k = 0; k < K; k++) dz[i * K + k] = (exp(z[i * K + k] - m) / s - (k == in->labels[b * B + i])) / B;
    }
    cr_assert_eq(clnas_ref_backward(n, B, p, x, dz, g, NULL), CLNAS_OK);
    free(p); free(x); free(z); free(dz);
}

static void expect_rel(const char *what, double got, double want, double tol)
{
    double rel = fabs(got - want) / fmax(fabs(want), 1e-30);
    cr_expect(rel <= tol, "%s: device %.10g, host reference %.10g (relative %.2e > %.0e)", what, got, want, rel, tol);
}

static int is_w(const layer *l) { return (l->kind == L_CONV || l->kind == L_LINEAR) && l->w_len; }

Test(proxies, device_values_match_the_host_reference)
{
    clnas_ctx *ctx = tu_ctx();
    clnas_net *n = small_net();
    const int B = 8;
    px_inputs in;
    small_inputs(n, B, &in);
    px_result r;
    unsigned mask = (1u << PX_GRAD_NORM) | (1u << PX_SNIP) | (1u << PX_JACOB_COV) | (1u << PX_ZICO) | (1u << PX_NASWOT) |
                    (1u << PX_PARAMS) | (1u << PX_GRASP) | (1u << PX_FISHER);
    cr_assert_eq(px_eval(ctx, n, NULL, &in, mask, NULL, &r), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    size_t np = in.nparams;
    double *g0 = malloc(np * sizeof(double)), *g1 = malloc(np * sizeof(double));
    ref_ce_grad(n, &in, 0, g0);
    ref_ce_grad(n, &in, 1, g1);
    double gn = 0, sn = 0, zc = 0;
    for (int i = 0; i < n->nlayers; i++) {
        const layer *l = &n->layers[i];
        if (!is_w(l)) continue;
        double s2 = 0, zs = 0;
        for (size_t j = l->w_off; j < l->w_off + l->w_len; j++) {
            s2 += g0[j] * g0[j];
            sn += fabs(in.params[j] * g0[j]);
            if (g1[j] != 0) zs += 0.5 * (fabs(g0[j]) + fabs(g0[j] + g1[j])) / (0.5 * fabs(g1[j]));
        }
        gn += sqrt(s2);
        if (zs != 0) zc += log(zs);
    }
    expect_rel("grad_norm", r.value[PX_GRAD_NORM], gn, 1e-4);
    expect_rel("snip", r.value[PX_SNIP], sn, 1e-4);
    expect_rel("zico", r.value[PX_ZICO], zc, 1e-3);
    cr_expect_eq(r.value[PX_PARAMS], (double)np);
    cr_expect(isfinite(r.value[PX_GRASP]) && isfinite(r.value[PX_FISHER]) && r.value[PX_FISHER] > 0);
    /* jacob_cov: rows of d(sum logits)/dx from the reference, their correlations, the spectrum */
    size_t D = 192;
    double *p = malloc(np * sizeof(double)), *x = malloc((size_t)B * D * sizeof(double)), *dl = malloc((size_t)B * 10 * sizeof(double));
    double *dx = malloc((size_t)B * D * sizeof(double)), *C = malloc((size_t)B * B * sizeof(double)), v[8];
    for (size_t i = 0; i < np; i++) p[i] = in.params[i];
    for (size_t i = 0; i < (size_t)B * D; i++) x[i] = in.images[i];
    for (int i = 0; i < B * 10; i++) dl[i] = 1;
    cr_assert_eq(clnas_ref_backward(n, B, p, x, dl, g1, dx), CLNAS_OK);
    for (int i = 0; i < B; i++) {
        double m = 0, ss = 0;
        for (size_t q = 0; q < D; q++) m += dx[i * D + q] / D;
        for (size_t q = 0; q < D; q++) { dx[i * D + q] -= m; ss += dx[i * D + q] * dx[i * D + q]; }
        for (size_t q = 0; q < D; q++) dx[i * D + q] /= sqrt(ss);
    }
    for (int i = 0; i < B; i++)
        for (int j = 0; j < B; j++) {
            double s = 0;
            for (size_t q = 0; q < D; q++) s += dx[i * D + q] * dx[j * D + q];
            C[i * B + j] = s;
        }
    cr_assert_eq(clnas_sym_eigvals(B, C, v, NULL, 0), CLNAS_OK);
    double jc = 0;
    for (int i = 0; i < B; i++) jc -= log(v[i] + 1e-5) + 1 / (v[i] + 1e-5);
    expect_rel("jacob_cov", r.value[PX_JACOB_COV], jc, 1e-3);
    /* naswot: codes (ReLU input > 0) from the reference's activations */
    double *acts = malloc(n->act_per_sample * B * sizeof(double));
    cr_assert_eq(clnas_ref_forward_acts(n, B, p, x, acts), CLNAS_OK);
    double K[64] = {0};
    for (int li = 0; li < n->nlayers; li++) {
        const layer *l = &n->layers[li];
        if (l->kind != L_RELU) continue;
        size_t sz = tensor_size(&n->tensors[l->in]);
        const double *a = acts + n->tensors[l->in].off * B;
        for (int i = 0; i < B; i++)
            for (int j = 0; j < B; j++)
                for (size_t q = 0; q < sz; q++) K[i * B + j] += (a[i * sz + q] > 0) == (a[j * sz + q] > 0);
    }
    cr_assert_eq(clnas_sym_eigvals(B, K, v, NULL, 0), CLNAS_OK);
    double ld = 0;
    for (int i = 0; i < B; i++) ld += log(fabs(v[i]));
    expect_rel("naswot", r.value[PX_NASWOT], ld, 1e-6);
    free(acts); free(p); free(x); free(dl); free(dx); free(C); free(g0); free(g1);
    px_inputs_free(&in);
    clnas_net_destroy(n);
}

/* jacov_kaiming is jacob_cov on weights of its own drawn as VKDNW's init_model: every conv and
 * linear weight N(0, 2 / fan_in), biases 0, BN gamma 1 beta 0; a draw apart from the inputs' weights.
 * Its value equals jacob_cov's on the inputs with those weights, with or without the proxies that
 * share batch 0's forward in the same evaluation. */
Test(proxies, jacov_kaiming_is_jacob_cov_on_kaiming_normal_weights)
{
    clnas_ctx *ctx = tu_ctx();
    clnas_net *n = small_net();
    const int B = 8;
    px_inputs in;
    small_inputs(n, B, &in);
    in.seed = 3;
    float *w = malloc(in.nparams * sizeof *w);
    px_jacov_kaiming_params(n, &in, w);
    double s1 = 0, s2 = 0;
    size_t cnt = 0, same = 0;
    for (int i = 0; i < n->nlayers; i++) {
        const layer *l = &n->layers[i];
        if (l->kind == L_BN) {
            for (size_t j = 0; j < l->w_len; j++) cr_expect_eq(w[l->w_off + j], 1.0f);
            for (size_t j = 0; j < l->b_len; j++) cr_expect_eq(w[l->b_off + j], 0.0f);
            continue;
        }
        if (!is_w(l)) continue;
        double fan_in = (double)l->w_len / l->w_shape[0];
        for (size_t j = l->w_off; j < l->w_off + l->w_len; j++) {
            double z = w[j] / sqrt(2 / fan_in);
            s1 += z;
            s2 += z * z;
            cnt++;
            same += w[j] == in.params[j];
        }
        for (size_t j = 0; j < l->b_len; j++) cr_expect_eq(w[l->b_off + j], 0.0f, "%s bias", l->name);
    }
    double mean = s1 / cnt, var = s2 / cnt - mean * mean;
    cr_expect(cnt > 2000 && fabs(mean) < 0.1 && fabs(var - 1) < 0.1, "standardised weights: n %zu mean %g var %g", cnt, mean, var);
    cr_expect_eq(same, 0, "%zu weights equal the inputs' own", same);
    px_result r, rj, rb;
    cr_assert_eq(px_eval(ctx, n, NULL, &in, 1u << PX_JACOV_KAIMING, NULL, &r), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    cr_assert_eq(px_eval(ctx, n, NULL, &in, 1u << PX_JACOV_KAIMING | 1u << PX_JACOB_COV | 1u << PX_GRASP, NULL, &rb),
                 CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    float *own = in.params;
    in.params = w;
    cr_assert_eq(px_eval(ctx, n, NULL, &in, 1u << PX_JACOB_COV, NULL, &rj), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    in.params = own;
    cr_expect(isfinite(r.value[PX_JACOV_KAIMING]), "%s", r.why[PX_JACOV_KAIMING] ? r.why[PX_JACOV_KAIMING] : "");
    expect_rel("jacov_kaiming = jacob_cov on its weights", r.value[PX_JACOV_KAIMING], rj.value[PX_JACOB_COV], 1e-9);
    expect_rel("jacov_kaiming after jacob_cov and grasp", rb.value[PX_JACOV_KAIMING], r.value[PX_JACOV_KAIMING], 1e-9);
    cr_expect(rb.value[PX_JACOB_COV] != rb.value[PX_JACOV_KAIMING], "two draws, two values: %.10g", rb.value[PX_JACOB_COV]);
    free(w);
    px_inputs_free(&in);
    clnas_net_destroy(n);
}

/* jacob_cov and grasp reuse the forward of the batch-0 gradient when it was computed (a backward
 * leaves the activations as they are); alone they run their own: the values must not differ. */
Test(proxies, shared_forward_gives_the_values_of_each_proxy_alone)
{
    clnas_ctx *ctx = tu_ctx();
    clnas_net *n = small_net();
    px_inputs in;
    small_inputs(n, 8, &in);
    const int ids[] = {PX_GRAD_NORM, PX_FISHER, PX_JACOB_COV, PX_GRASP, PX_ZICO, PX_NASWOT};
    unsigned all = 0;
    for (size_t k = 0; k < sizeof ids / sizeof ids[0]; k++) all |= 1u << ids[k];
    px_result both, one;
    cr_assert_eq(px_eval(ctx, n, NULL, &in, all, NULL, &both), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    for (size_t k = 0; k < sizeof ids / sizeof ids[0]; k++) {
        cr_assert_eq(px_eval(ctx, n, NULL, &in, 1u << ids[k], NULL, &one), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
        cr_expect(isfinite(one.value[ids[k]]), "%s alone: %g", px_name(ids[k]), one.value[ids[k]]);
        expect_rel(px_name(ids[k]), both.value[ids[k]], one.value[ids[k]], 1e-6);
    }
    px_inputs_free(&in);
    clnas_net_destroy(n);
}

/* With the ReLUs frozen, the forward is smooth in the parameters and the backward is its exact
 * gradient: a central difference of f = sum_k c_k logits along v matches g . v; at the freezing
 * point the frozen forward equals the plain one. */
Test(proxies, frozen_relu_gradient_matches_finite_differences)
{
    clnas_ctx *ctx = tu_ctx();
    clnas_net *n = small_net();
    const int B = 4, K = 10;
    px_inputs in;
    small_inputs(n, B, &in);
    size_t np = in.nparams;
    clnas_plan *p = NULL;
    cr_assert_eq(clnas_plan_create(ctx, n, B, 1, CLNAS_PLAN_PARAM_GRADS, &p), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    float *w = malloc(np * sizeof(float)), *g = malloc(np * sizeof(float)), c[40], z0[40], z1[40];
    double *v = malloc(np * sizeof(double));
    tu_fill(v, np, 3, -1, 1);
    for (int i = 0; i < B * K; i++) c[i] = (float)(0.1 * ((i * 37) % 11) - 0.5);
    cr_assert_eq(clnas_plan_set_params(p, in.params), CLNAS_OK);
    cr_assert_eq(clnas_plan_forward(p, in.images), CLNAS_OK);
    cr_assert_eq(clnas_plan_read_logits(p, z0), CLNAS_OK);
    cr_assert_eq(clnas_plan_freeze(p, 1), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    cr_assert_eq(clnas_plan_forward(p, in.images), CLNAS_OK);
    cr_assert_eq(clnas_plan_read_logits(p, z1), CLNAS_OK);
    for (int i = 0; i < B * K; i++) cr_expect_eq(z0[i], z1[i], "frozen forward at the freezing point differs at %d", i);
    cr_assert_eq(clnas_plan_backward_host(p, 1, c, g, NULL), CLNAS_OK);
    double gv = 0;
    for (size_t j = 0; j < np; j++) gv += g[j] * v[j];
    const double h = 2e-4; /* O(h^2) error: 2.4% at 3e-3, 0.3% at 1e-3 */
    double f[2];
    for (int s = 0; s < 2; s++) {
        for (size_t j = 0; j < np; j++) w[j] = (float)(in.params[j] + (s ? -h : h) * v[j]);
        cr_assert_eq(clnas_plan_set_params(p, w), CLNAS_OK);
        cr_assert_eq(clnas_plan_forward(p, in.images), CLNAS_OK);
        cr_assert_eq(clnas_plan_read_logits(p, z1), CLNAS_OK);
        f[s] = 0;
        for (int i = 0; i < B * K; i++) f[s] += (double)c[i] * z1[i];
    }
    double fd = (f[0] - f[1]) / (2 * h);
    cr_expect(fabs(fd - gv) <= 2e-3 * fmax(fabs(gv), 1e-3), "frozen: finite difference %.8g, gradient . v %.8g", fd, gv);
    cr_assert_eq(clnas_plan_freeze(p, 0), CLNAS_OK);
    free(w); free(g); free(v);
    clnas_plan_destroy(p);
    px_inputs_free(&in);
    clnas_net_destroy(n);
}

Test(proxies, rank_and_stats_end_to_end_with_resume)
{
    char dir[512], path[600], csv[600], cmd[2048], *out = NULL;
    tu_mkdtemp(dir, sizeof dir, "clnas_px");
    snprintf(path, sizeof path, "%s/archs.txt", dir);
    snprintf(csv, sizeof csv, "%s/px.csv", dir);
    tu_write_file(path, "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|\n"
                        "# a comment\n|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|none~0|none~1|nor_conv_1x1~2|\n"
                        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|\n");
    snprintf(cmd, sizeof cmd, "'%s' rank --metric params,flops,snip,naswot,jacob_cov,synflow --archs '%s' --batch 4 --out '%s' 2>&1",
             CLNAS_BIN, path, csv);
    int rc = tu_run(cmd, &out);
    cr_assert_eq(rc, 0, "%s\n%s", cmd, out);
    cr_expect(strstr(out, "snip") && strstr(out, "naswot") && strstr(out, "ensemble"), "%s", out);
    cr_expect(strstr(out, "3 architectures; Kendall") != NULL, "%s", out);
    free(out);
    rc = tu_run(cmd, &out); /* resume: nothing left to score */
    cr_assert_eq(rc, 0, "%s", out);
    cr_expect(strstr(out, "3 already in") && strstr(out, "0 to score"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' stats '%s' 2>&1", CLNAS_BIN, csv);
    rc = tu_run(cmd, &out);
    cr_expect_eq(rc, 0, "%s", out);
    cr_expect(strstr(out, "jacob_cov") != NULL, "%s", out);
    free(out);
    /* the all-none cell: its output does not depend on the input, so snip is 0 but defined, and
       the row records why jacob_cov is undefined */
    FILE *f = fopen(csv, "r");
    char buf[8192] = "";
    size_t nr = fread(buf, 1, sizeof buf - 1, f);
    buf[nr] = 0;
    fclose(f);
    cr_expect(strstr(buf, "jacob_cov: ") != NULL, "the status column names the undefined proxy:\n%s", buf);
    snprintf(cmd, sizeof cmd, "'%s' rank --metric snip,bogus --archs '%s' --out '%s' 2>&1", CLNAS_BIN, path, csv);
    rc = tu_run(cmd, &out);
    cr_expect_eq(rc, 2, "%s", out);
    cr_expect(strstr(out, "bogus") != NULL, "%s", out);
    free(out);
    tu_rmrf(dir);
}

/* ---------------------------------------------------------------- AZ-NAS */
Test(proxies, az_nas_expands_to_flops_and_its_components)
{
    unsigned m;
    int t;
    char err[256];
    cr_assert_eq(px_parse("az_nas", &m, &t, err, sizeof err), 0, "%s", err);
    cr_expect_eq(m, (1u << PX_FLOPS) | (1u << PX_AZ_EXPRESSIVITY) | (1u << PX_AZ_PROGRESSIVITY) | (1u << PX_AZ_TRAINABILITY));
    cr_expect_str_eq(px_name(PX_AZ_TRAINABILITY), "az_trainability");
}

/* Two channels of orthogonal +-1 patterns: covariance I, p = (1/2, 1/2), entropy log 2; unequal
 * variances 1 and 4: p = (1/5, 4/5); a constant map has no spectrum to normalise: NaN. */
Test(proxies, az_entropy_of_known_covariances)
{
    const int B = 2, c = 2, hw = 4;
    double f[16], g[16], z[16];
    for (int b = 0; b < B; b++)
        for (int p = 0; p < hw; p++) {
            int i = b * hw + p; /* position i of 8: channel 0 = (-1)^i, channel 1 = (-1)^(i/2) */
            f[(b * c + 0) * hw + p] = (i % 2) ? -1 : 1;
            f[(b * c + 1) * hw + p] = ((i / 2) % 2) ? -1 : 1;
            g[(b * c + 0) * hw + p] = f[(b * c + 0) * hw + p] + 3;
            g[(b * c + 1) * hw + p] = 2 * f[(b * c + 1) * hw + p];
            z[(b * c + 0) * hw + p] = z[(b * c + 1) * hw + p] = 0.5;
        }
    cr_expect(fabs(az_entropy(f, B, c, hw) - (-2 * 0.5 * log(0.5 + 1e-8))) < 1e-12, "%.15g", az_entropy(f, B, c, hw));
    double want = -0.2 * log(0.2 + 1e-8) - 0.8 * log(0.8 + 1e-8);
    cr_expect(fabs(az_entropy(g, B, c, hw) - want) < 1e-12, "%.15g vs %.15g", az_entropy(g, B, c, hw), want);
    cr_expect(isnan(az_entropy(z, B, c, hw)));
}

/* The largest singular value of M = g_in'^T g_out / n against power iteration on a matrix built
 * independently, its rows in another order (channel-minor instead of PixelUnshuffle's
 * channel-major; singular values do not depend on row order), for r = 2 and r = 1. */
static double naive_smax(const double *gin, int ci, int hi, int wi, const double *gout, int B, int co, int ho, int wo)
{
    int r = hi / ho, R = ci * r * r;
    double *M = calloc((size_t)R * co, sizeof *M), v[64], u[64];
    for (int b = 0; b < B; b++)
        for (int c = 0; c < ci; c++)
            for (int y = 0; y < hi; y++)
                for (int x = 0; x < wi; x++) {
                    int row = ((y % r) * r + x % r) * ci + c;
                    for (int o = 0; o < co; o++)
                        M[row * co + o] += gin[((b * ci + c) * hi + y) * wi + x] * gout[((b * co + o) * ho + y / r) * wo + x / r];
                }
    for (int q = 0; q < R * co; q++) M[q] /= (double)B * ho * wo;
    for (int o = 0; o < co; o++) v[o] = 1 + 0.1 * o;
    double s = 0;
    for (int it = 0; it < 2000; it++) {
        for (int a = 0; a < R; a++) { u[a] = 0; for (int o = 0; o < co; o++) u[a] += M[a * co + o] * v[o]; }
        double n2 = 0;
        for (int o = 0; o < co; o++) { v[o] = 0; for (int a = 0; a < R; a++) v[o] += M[a * co + o] * u[a]; n2 += v[o] * v[o]; }
        s = sqrt(sqrt(n2)); /* ||M^T M v|| for unit v -> s_max^2 */
        for (int o = 0; o < co; o++) v[o] /= sqrt(n2);
    }
    free(M);
    return s;
}

Test(proxies, az_smax_matches_power_iteration)
{
    const int B = 3, ci = 3, co = 5;
    double gin[3 * 3 * 6 * 6], gout[3 * 5 * 6 * 6];
    tu_fill(gin, sizeof gin / sizeof *gin, 5, -1, 1);
    tu_fill(gout, sizeof gout / sizeof *gout, 6, -1, 1);
    double a = az_smax(gin, ci, 6, 6, gout, B, co, 3, 3), b = naive_smax(gin, ci, 6, 6, gout, B, co, 3, 3);
    cr_expect(fabs(a - b) < 1e-9 * b, "r = 2: %.15g vs %.15g", a, b);
    a = az_smax(gin, ci, 6, 6, gout, B, ci, 6, 6); /* same grid, co = ci = 3 (gout's first 3 channels per sample) */
    b = naive_smax(gin, ci, 6, 6, gout, B, ci, 6, 6);
    cr_expect(fabs(a - b) < 1e-9 * b, "r = 1: %.15g vs %.15g", a, b);
}

/* scipy.stats.rankdata's average ranks, log(rank / n) summed; NaN (an empty cell) ranks lowest. */
Test(proxies, az_aggregate_sums_log_ranks)
{
    const double fl[3] = {1, 2, 3}, ex[3] = {5, 5, 1}, pr[3] = {NAN, 0, 1}, tr[3] = {-INFINITY, 2, 1};
    const double *cols[4] = {fl, ex, pr, tr};
    double out[3];
    cr_assert_eq(az_aggregate(3, cols, out), CLNAS_OK);
    double want[3] = {log(1 / 3.) + log(2.5 / 3) + log(1 / 3.) + log(1 / 3.), log(2 / 3.) + log(2.5 / 3) + log(2 / 3.) + 0,
                      0 + log(1 / 3.) + 0 + log(2 / 3.)};
    for (int i = 0; i < 3; i++) cr_expect(fabs(out[i] - want[i]) < 1e-12, "row %d: %.15g vs %.15g", i, out[i], want[i]);
}

/* The three components on the device against the same computation on the double host
 * reference (every cell's forward and vector-Jacobian product through clnas_ref_*). */
static void az_device_vs_host(const char *arch, int expect_identity)
{
    clnas_ctx *ctx = tu_ctx();
    clnas_nb201_config c;
    clnas_nb201_config_default(&c);
    c.C = 4;
    c.N = 2;
    c.input_hw = 8;
    clnas_nb201_arch a;
    char err[512];
    cr_assert_eq(clnas_nb201_parse(arch, &a, err, sizeof err), CLNAS_OK);
    clnas_net *n = NULL;
    cr_assert_eq(clnas_nb201_build(&c, &a, &n, err, sizeof err), CLNAS_OK, "%s", err);
    const int B = 8;
    az_inputs az;
    cr_assert_eq(az_inputs_make(n, B, 5, 0, &az), CLNAS_OK);
    double dv[AZ_NCOMP], hv[AZ_NCOMP];
    const char *dw[AZ_NCOMP], *hw[AZ_NCOMP];
    cr_assert_eq(az_eval(ctx, n, B, &az, dv, dw, err, sizeof err), CLNAS_OK, "%s", err);
    cr_assert_eq(az_eval(NULL, n, B, &az, hv, hw, err, sizeof err), CLNAS_OK, "%s", err);
    static const char *const names[AZ_NCOMP] = {"expressivity", "progressivity", "trainability"};
    for (int k = 0; k < AZ_NCOMP; k++) {
        if (isinf(hv[k])) { cr_expect(dv[k] == hv[k] && dw[k] && hw[k], "%s: device %g, host %g", names[k], dv[k], hv[k]); continue; }
        expect_rel(names[k], dv[k], hv[k], 1e-4);
    }
    cr_expect_eq(isinf(hv[AZ_TRAINABILITY]) != 0, expect_identity, "trainability %g", hv[AZ_TRAINABILITY]);
    az_inputs_free(&az);
    clnas_net_destroy(n);
}

Test(proxies, az_nas_device_matches_the_host_reference)
{
    az_device_vs_host(ARCH, 0);
    az_device_vs_host("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|skip_connect~0|none~1|none~2|", 1);
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    char *b = calloc(1, 1 << 16);
    size_t n = fread(b, 1, (1 << 16) - 1, f);
    b[n] = 0;
    fclose(f);
    return b;
}

/* The az_nas value of the row of arch in a sidecar (NAN when absent). */
static double side_value(const char *text, const char *arch)
{
    const char *q = strstr(text, arch);
    return q ? strtod(q + strlen(arch) + 2, NULL) : NAN; /* past the closing quote and the comma */
}

/* rank --metric az_nas: the four columns, the aggregate over the rows present in
 * OUT.az_nas.csv, recomputed over all rows when a resumed run adds one. */
Test(proxies, az_nas_rank_aggregates_over_the_rows_present)
{
    char dir[512], path[600], csv[600], side[700], cmd[2048], *out = NULL;
    tu_mkdtemp(dir, sizeof dir, "clnas_az");
    snprintf(path, sizeof path, "%s/archs.txt", dir);
    snprintf(csv, sizeof csv, "%s/az.csv", dir);
    snprintf(side, sizeof side, "%s.az_nas.csv", csv);
    const char *a1 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|\n",
               *a2 = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|none~0|none~1|nor_conv_1x1~2|\n",
               *a3 = "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|\n";
    char both[1024];
    snprintf(both, sizeof both, "%s%s", a1, a2);
    tu_write_file(path, both);
    snprintf(cmd, sizeof cmd, "'%s' rank --metric az_nas --archs '%s' --batch 4 --out '%s' 2>&1", CLNAS_BIN, path, csv);
    int rc = tu_run(cmd, &out);
    cr_assert_eq(rc, 0, "%s\n%s", cmd, out);
    cr_expect(strstr(out, "az_trainability") && strstr(out, "  az_nas ") && strstr(out, "over 2 rows"), "%s", out);
    free(out);
    char *s = read_all(side);
    cr_assert(s, "no %s", side);
    int lines = 0;
    for (char *q = s; *q; q++) lines += *q == '\n';
    cr_expect_eq(lines, 3, "%s", s);
    free(s);
    char all[2048];
    snprintf(all, sizeof all, "%s%s", both, a3);
    tu_write_file(path, all);
    rc = tu_run(cmd, &out); /* resume: one more row, the aggregate over all three */
    cr_assert_eq(rc, 0, "%s", out);
    cr_expect(strstr(out, "2 already in") && strstr(out, "1 to score") && strstr(out, "over 3 rows"), "%s", out);
    free(out);
    s = read_all(side);
    cr_assert(s);
    lines = 0;
    for (char *q = s; *q; q++) lines += *q == '\n';
    cr_expect_eq(lines, 4, "%s", s);
    /* the identity-cell architecture has trainability -inf and the fewest flops: rank 1 of 3 in both */
    double v1 = side_value(s, "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"),
           v2 = side_value(s, "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|none~0|none~1|nor_conv_1x1~2|"),
           v3 = side_value(s, "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|");
    cr_expect(v3 <= 2 * log(1 / 3.) + 1e-9 && v1 <= 0 && v2 <= 0 && isfinite(v1) && isfinite(v2), "%g %g %g\n%s", v1, v2, v3, s);
    free(s);
    tu_rmrf(dir);
}

Test(proxies, sampling_search_keeps_the_best)
{
    char cmd[1024], *out = NULL;
    /* by params alone the best of a sample is its largest network: the search must print that one */
    snprintf(cmd, sizeof cmd, "'%s' search --strategy sample --metric params --sample 4 --seeds 3-4 --batch 4 2>&1", CLNAS_BIN);
    int rc = tu_run(cmd, &out);
    cr_assert_eq(rc, 0, "%s\n%s", cmd, out);
    cr_expect(strstr(out, "seed 3: |") && strstr(out, "seed 4: |") && strstr(out, "mean +- std (n = 2"), "%s", out);
    clnas_nb201_table *t = NULL;
    char err[512];
    cr_assert_eq(clnas_nb201_table_load(NULL, &t, err, sizeof err), CLNAS_OK, "%s", err);
    int idx[4];
    cr_assert_eq(clnas_nb201_table_sample(t, 4, 3, idx), CLNAS_OK);
    size_t most = 0;
    const char *want = NULL;
    for (int i = 0; i < 4; i++) {
        const char *as = clnas_nb201_table_row(t, idx[i])->arch;
        clnas_nb201_arch a;
        clnas_nb201_config c;
        clnas_nb201_config_default(&c);
        clnas_net *n = NULL;
        cr_assert_eq(clnas_nb201_parse(as, &a, NULL, 0), CLNAS_OK);
        cr_assert_eq(clnas_nb201_build(&c, &a, &n, err, sizeof err), CLNAS_OK);
        if (clnas_net_nparams(n) > most) { most = clnas_net_nparams(n); want = as; }
        clnas_net_destroy(n);
    }
    char line[700];
    snprintf(line, sizeof line, "seed 3: %s ", want);
    cr_expect(strstr(out, line) != NULL, "expected the largest of the sample, %s:\n%s", want, out);
    free(out);
    /* two members that rank alike (flops and params grow together here): the rank sum keeps the same one */
    snprintf(cmd, sizeof cmd, "'%s' search --strategy sample --metric flops,params --sample 4 --seeds 3-3 --batch 4 2>&1", CLNAS_BIN);
    rc = tu_run(cmd, &out);
    cr_assert_eq(rc, 0, "%s\n%s", cmd, out);
    cr_expect(strstr(out, line) != NULL, "rank sum of flops and params: expected %s:\n%s", want, out);
    free(out);
    /* az_nas is one member next to others (its aggregate), as in the stats ensemble */
    snprintf(cmd, sizeof cmd, "'%s' search --strategy sample --metric synflow,az_nas --sample 3 --seeds 1-1 --batch 4 2>&1", CLNAS_BIN);
    rc = tu_run(cmd, &out);
    cr_expect_eq(rc, 0, "%s\n%s", cmd, out);
    cr_expect(strstr(out, "seed 1: |") != NULL, "%s", out);
    clnas_nb201_table_destroy(t);
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' search --strategy evolution --metric params 2>&1", CLNAS_BIN);
    rc = tu_run(cmd, &out);
    cr_expect_eq(rc, 2, "%s", out);
    cr_expect(strstr(out, "only \"sample\"") != NULL, "%s", out);
    free(out);
}

/* synflow in float32 on the device (per-tensor power-of-two scales) against the float64 host
 * reference on full-size NB201 networks (C=16, N=5), whose synflow overflows float32 unscaled. */
static double synflow_of(clnas_ctx *ctx, const char *arch, int mode)
{
    clnas_nb201_config c;
    clnas_nb201_config_default(&c);
    clnas_nb201_arch a;
    char err[256];
    cr_assert_eq(clnas_nb201_parse(arch, &a, err, sizeof err), CLNAS_OK);
    clnas_net *n = NULL, *nobn = NULL;
    cr_assert_eq(clnas_nb201_build(&c, &a, &n, err, sizeof err), CLNAS_OK, "%s", err);
    cr_assert_eq(nb201_build_nobn(&c, &a, &nobn, err, sizeof err), CLNAS_OK, "%s", err);
    px_inputs in = {.batch = 2, .c = 3, .hw = 32, .classes = 10, .nparams = clnas_net_nparams(n)};
    in.params = malloc(in.nparams * sizeof(float));
    in.images = calloc(4 * 3 * 32 * 32, sizeof(float));
    in.labels = calloc(4, sizeof(int));
    clnas_net_init_params(n, 3, 0, CLNAS_INIT_PYTORCH, in.params);
    px_opts o = {.synflow_mode = mode};
    px_result r;
    cr_assert_eq(px_eval(ctx, n, nobn, &in, 1u << PX_SYNFLOW, &o, &r), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    px_inputs_free(&in);
    clnas_net_destroy(n);
    clnas_net_destroy(nobn);
    return r.value[PX_SYNFLOW];
}

Test(proxies, synflow_float32_scaled_matches_float64)
{
    clnas_ctx *ctx = tu_ctx();
    const char *archs[] = {"|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
                           "|avg_pool_3x3~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|",
                           "|skip_connect~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|"};
    for (int i = 0; i < 3; i++) {
        double d = synflow_of(ctx, archs[i], PX_SYNFLOW_F64), f = synflow_of(ctx, archs[i], PX_SYNFLOW_F32);
        cr_expect(d > 0 && isfinite(d), "%s: float64 synflow %g", archs[i], d);
        /* measured 2e-8..5e-8: float32 rounding only, the scales are exact powers of two */
        cr_expect(fabs(f - d) <= 1e-5 * d, "%s: float32 %.10g, float64 %.10g (relative %.2e)", archs[i], f, d, fabs(f - d) / d);
        if (i == 0) cr_expect(d > 1e39, "the all-3x3 network's synflow (%g) should exceed float32's range", d);
    }
}

/* grasp's central difference along the weights is insensitive to its step: the loss is nearly
 * quadratic along W (the difference along g moved by tens of per cent between 1e-5 and 1e-3). */
Test(proxies, grasp_step_insensitive)
{
    clnas_ctx *ctx = tu_ctx();
    clnas_net *n = small_net();
    px_inputs in;
    small_inputs(n, 8, &in);
    const double eps[3] = {3e-4, 1e-3, 3e-3};
    double v[3];
    for (int i = 0; i < 3; i++) {
        px_opts o = {.grasp_eps = eps[i]};
        px_result r;
        cr_assert_eq(px_eval(ctx, n, NULL, &in, 1u << PX_GRASP, &o, &r), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
        v[i] = r.value[PX_GRASP];
        cr_log_info("grasp at eps %g: %.10g", eps[i], v[i]);
    }
    for (int i = 0; i < 3; i += 2)
        cr_expect(fabs(v[i] - v[1]) <= 1e-3 * fabs(v[1]), "grasp at eps %g: %.10g, at 1e-3: %.10g", eps[i], v[i], v[1]);
    px_inputs_free(&in);
    clnas_net_destroy(n);
}
