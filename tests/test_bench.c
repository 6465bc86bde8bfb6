/* test_bench.c - `clnas bench --shapes` and `--scaling` run end to end (one repeat, the small
 * configurations only: these check that the modes work and report sane numbers, not how fast
 * anything is), and clnas_ntk_device_bytes counts at least the Jacobian. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "clnas/score.h"
#include "model/graph.h"
#include "util/testutil.h"

#ifndef CLNAS_BIN
#error "CMake defines CLNAS_BIN as the path of the clnas executable"
#endif

static int run(const char *args, char **out)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", CLNAS_BIN, args);
    return tu_run(cmd, out);
}

/* ---- a small JSON syntax check (RFC 8259 grammar; values are not interpreted) ---- */
static void skip_ws(const char **s) { while (**s == ' ' || **s == '\n' || **s == '\r' || **s == '\t') (*s)++; }
static int j_value(const char **s, int depth);
static int j_string(const char **s)
{
    if (**s != '"') return 0;
    for ((*s)++; **s != '"'; (*s)++) {
        if (!**s || (unsigned char)**s < 0x20) return 0;
        if (**s == '\\') {
            (*s)++;
            if (!**s || !strchr("\"\\/bfnrtu", **s)) return 0;
        }
    }
    (*s)++;
    return 1;
}
static int j_value(const char **s, int depth)
{
    if (depth > 32) return 0;
    skip_ws(s);
    if (**s == '{' || **s == '[') {
        const char close = **s == '{' ? '}' : ']';
        const int object = **s == '{';
        (*s)++;
        skip_ws(s);
        if (**s == close) { (*s)++; return 1; }
        for (;;) {
            skip_ws(s);
            if (object) {
                if (!j_string(s)) return 0;
                skip_ws(s);
                if (*(*s)++ != ':') return 0;
            }
            if (!j_value(s, depth + 1)) return 0;
            skip_ws(s);
            if (**s == ',') { (*s)++; continue; }
            if (**s == close) { (*s)++; return 1; }
            return 0;
        }
    }
    if (**s == '"') return j_string(s);
    if (!strncmp(*s, "true", 4)) { *s += 4; return 1; }
    if (!strncmp(*s, "false", 5)) { *s += 5; return 1; }
    if (!strncmp(*s, "null", 4)) { *s += 4; return 1; }
    char *end;
    strtod(*s, &end);
    if (end == *s) return 0;
    *s = end;
    return 1;
}
/* 1 when text is exactly one JSON object (surrounding blanks allowed). */
static int json_object(const char *text)
{
    skip_ws(&text);
    if (*text != '{' || !j_value(&text, 0)) return 0;
    skip_ws(&text);
    return *text == 0;
}

/* The numbers that follow every occurrence of "key": in text (null counts as NaN), at most max. */
static int values(const char *text, const char *key, double *out, int max)
{
    char pat[96];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    int n = 0;
    for (const char *p = strstr(text, pat); p && n < max; p = strstr(p + 1, pat)) {
        const char *v = p + strlen(pat);
        out[n++] = strncmp(v, "null", 4) ? strtod(v, NULL) : NAN;
    }
    return n;
}
static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

/* Distinct (cin, cout, h, w, k, stride, pad) among the convolutions of the network cfg builds. */
static int distinct_convs(const clnas_nb201_config *cfg)
{
    clnas_nb201_arch arch;
    clnas_net *net = NULL;
    cr_assert_eq(clnas_nb201_parse("supernet", &arch, NULL, 0), CLNAS_OK);
    cr_assert_eq(clnas_nb201_build(cfg, &arch, &net, NULL, 0), CLNAS_OK);
    int keys[256][7], n = 0;
    for (int i = 0; i < net->nlayers; i++) {
        const layer *l = &net->layers[i];
        if (l->kind != L_CONV) continue;
        const tensor_desc *t = &net->tensors[l->in];
        const int key[7] = {t->c, l->cout, t->h, t->w, l->k, l->stride, l->pad};
        int found = 0;
        for (int j = 0; j < n && !found; j++) found = !memcmp(keys[j], key, sizeof key);
        if (!found && n < 256) memcpy(keys[n++], key, sizeof key);
    }
    clnas_net_destroy(net);
    return n;
}

Test(bench, shapes_json_lists_every_conv_shape_with_positive_rates, .timeout = 300)
{
    char *out = NULL;
    int rc = run("bench --shapes --repeat 1 --json", &out);
    cr_assert_eq(rc, 0, "clnas bench --shapes exited %d:\n%s", rc, out);
    cr_assert(json_object(out), "not one JSON object:\n%s", out);
    clnas_nb201_config cfg;
    clnas_nb201_config_ntk(&cfg, 10, 32);
    const int n_ntk = distinct_convs(&cfg);
    clnas_nb201_config_lr(&cfg, 10);
    const int n_lr = distinct_convs(&cfg);
    cr_expect_gt(n_ntk, 5, "the proxy supernet should have several conv shapes");
    cr_expect_eq(count(out, "\"net\": \"ntk\""), n_ntk, "%d NTK conv rows expected:\n%s", n_ntk, out);
    cr_expect_eq(count(out, "\"net\": \"lr\""), n_lr, "%d LR conv rows expected:\n%s", n_lr, out);

    double v[512];
    const char *positive[] = {"fwd_s", "fwd_gflops", "flop_fwd", "share", "kappa_s", "lr_s"};
    for (size_t k = 0; k < sizeof positive / sizeof *positive; k++) {
        int n = values(out, positive[k], v, 512);
        cr_expect_gt(n, 0, "no \"%s\" in:\n%s", positive[k], out);
        for (int i = 0; i < n; i++)
            cr_expect(isfinite(v[i]) && v[i] > 0, "\"%s\" #%d = %g", positive[k], i, v[i]);
    }
    /* backward rates exist for the NTK rows (LR rows are forward only: null there) */
    const char *bwd[] = {"bwd_data_gflops", "bwd_weight_gflops", "per_kappa_s"};
    for (size_t k = 0; k < sizeof bwd / sizeof *bwd; k++) {
        int n = values(out, bwd[k], v, 512), good = 0;
        for (int i = 0; i < n; i++) good += isfinite(v[i]) && v[i] > 0;
        cr_expect_geq(good, n_ntk, "\"%s\": %d positive values, %d expected", bwd[k], good, n_ntk);
    }
    /* shares of the kappa's conv time add up to 1 (and those of R to 1 again) */
    int n = values(out, "share", v, 512);
    double sum = 0;
    for (int i = 0; i < n; i++) sum += v[i];
    cr_expect(fabs(sum - 2.0) < 0.01, "shares add up to %g, expected 2 (kappa + R)", sum);
    /* seeds in flight: what the NTK picks, within [1, batch] */
    cr_expect_eq(values(out, "seeds_in_flight", v, 1), 1);
    cr_expect(v[0] >= 1 && v[0] <= 72, "seeds_in_flight = %g", v[0]);
    /* the non-conv backward ops: BN, ReLU, edge sums and pooling, with a positive bandwidth */
    const char *ops[] = {"\"op\": \"bn\"", "\"op\": \"relu\"", "\"op\": \"sum\"", "\"op\": \"avgpool\""};
    for (int i = 0; i < 4; i++) cr_expect_gt(count(out, ops[i]), 0, "no %s row", ops[i]);
    n = values(out, "gbps", v, 512);
    cr_expect_gt(n, 3);
    for (int i = 0; i < n; i++) cr_expect(isfinite(v[i]) && v[i] > 0, "gbps #%d = %g", i, v[i]);
    free(out);
}

Test(bench, scaling_small_run, .timeout = 300)
{
    char *out = NULL;
    int rc = run("bench --scaling --no-full --scaling-max-batch 16 --repeat 1 --json", &out);
    cr_assert_eq(rc, 0, "clnas bench --scaling exited %d:\n%s", rc, out);
    cr_assert(json_object(out), "not one JSON object:\n%s", out);
    cr_expect_eq(count(out, "\"network\": "), 1, "exactly the proxy at batch 16 expected:\n%s", out);
    cr_expect_eq(count(out, "C=16"), 0, "--no-full still ran the full network:\n%s", out);
    double v[4];
    cr_expect_eq(values(out, "batch", v, 4), 1);
    cr_expect_eq(v[0], 16);
    const char *positive[] = {"total_s", "backward_s", "gflop", "gflops", "device_bytes", "jacobian_bytes",
                              "seeds_in_flight"};
    for (size_t k = 0; k < sizeof positive / sizeof *positive; k++) {
        cr_expect_eq(values(out, positive[k], v, 4), 1, "\"%s\" missing:\n%s", positive[k], out);
        cr_expect(isfinite(v[0]) && v[0] > 0, "\"%s\" = %g", positive[k], v[0]);
    }
    double dev, jac;
    values(out, "device_bytes", &dev, 1);
    values(out, "jacobian_bytes", &jac, 1);
    cr_expect_geq(dev, jac, "device bytes %g < Jacobian bytes %g", dev, jac);
    free(out);

    /* the text table has the row and its columns */
    rc = run("bench --scaling --no-full --scaling-max-batch 16 --repeat 1", &out);
    cr_assert_eq(rc, 0, "%s", out);
    cr_expect(strstr(out, "NTK proxy supernet") && strstr(out, "GFLOP/s") && strstr(out, "dev MiB"), "%s", out);
    free(out);
}

Test(bench, bad_scaling_options_are_usage_errors)
{
    char *out = NULL;
    cr_expect_eq(run("bench --scaling --scaling-max-batch 1", &out), 2, "%s", out);
    free(out);
    cr_expect_eq(run("bench --shapes --repeat 0", &out), 2, "%s", out);
    free(out);
    cr_expect_eq(run("bench --help", &out), 0, "%s", out);
    cr_expect(strstr(out, "--shapes") && strstr(out, "--scaling") && strstr(out, "--no-full"), "%s", out);
    free(out);
}

Test(bench, scaling_refuses_what_cannot_fit_before_running_anything, .timeout = 120)
{
    /* 64 seeds of activation gradients of the full NB201 network at batch 64 are ~48 GiB in one
       buffer: more than any device's largest allocation today (on small devices a proxy row
       is refused first). Checked here first, so the test never starts the minutes-long run on
       a device that could hold it. */
    clnas_ctx *ctx = tu_ctx();
    const clnas_device_info *d = clnas_ctx_device(ctx);
    clnas_nb201_config cfg;
    clnas_nb201_config_default(&cfg);
    clnas_nb201_arch arch;
    clnas_net *net = NULL;
    cr_assert_eq(clnas_nb201_parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
                                   &arch, NULL, 0), CLNAS_OK);
    cr_assert_eq(clnas_nb201_build(&cfg, &arch, &net, NULL, 0), CLNAS_OK);
    cr_expect_eq(clnas_net_nparams(net), 1531546);
    cr_expect_eq(clnas_net_njacobian(net), 1527904);
    const double arena = (double)net->act_per_sample * 64 * 64 * sizeof(float);
    clnas_net_destroy(net);
    if (d->max_alloc_bytes == 0 || arena <= (double)d->max_alloc_bytes) {
        cr_log_warn("device allows %.0f MiB in one buffer: skipped", (double)d->max_alloc_bytes / 1048576.0);
        return;
    }
    char args[256], *out = NULL;
    snprintf(args, sizeof args, "bench --device %d --scaling --seeds 64 --repeat 1", d->index);
    const double t0 = clnas_now();
    int rc = run(args, &out);
    cr_expect_eq(rc, 1, "exit %d:\n%s", rc, out);
    cr_expect(strstr(out, "MiB") && strstr(out, "largest single allocation") && strstr(out, "use a smaller batch"), "%s", out);
    cr_expect_lt(clnas_now() - t0, 30.0, "the check should come before any kappa runs");
    free(out);
}

Test(bench, ntk_device_bytes_counts_the_jacobian)
{
    clnas_ctx *ctx = tu_ctx();
    clnas_nb201_config cfg;
    clnas_nb201_config_ntk(&cfg, 10, 32);
    clnas_nb201_arch arch;
    clnas_net *net = NULL;
    cr_assert_eq(clnas_nb201_parse("|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|",
                                   &arch, NULL, 0), CLNAS_OK);
    cr_assert_eq(clnas_nb201_build(&cfg, &arch, &net, NULL, 0), CLNAS_OK);
    const size_t B = 8, P = clnas_net_njacobian(net), np = clnas_net_nparams(net);
    clnas_ntk_config nc = {(int)B, 0, 0};
    clnas_ntk *ntk = NULL;
    cr_assert_eq(clnas_ntk_create(ctx, net, &nc, &ntk), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    const size_t bytes = clnas_ntk_device_bytes(ntk);
    cr_expect_geq(bytes, B * P * sizeof(float), "%zu bytes < B*P*4 = %zu", bytes, B * P * sizeof(float));
    /* G holds all parameters' gradients (P Jacobian columns + the biases), and Theta, and the plan's
       activations and gradients come on top */
    cr_expect_gt(bytes, B * np * sizeof(float) + B * B * sizeof(float));
    clnas_ntk_destroy(ntk);
    if (clnas_ctx_device(ctx)->fp64) {
        /* the fp64 Gram keeps a double copy of the Jacobian as well */
        nc.fp64_gram = 1;
        cr_assert_eq(clnas_ntk_create(ctx, net, &nc, &ntk), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
        cr_expect_geq(clnas_ntk_device_bytes(ntk), bytes + B * P * sizeof(double));
        clnas_ntk_destroy(ntk);
    }
    clnas_net_destroy(net);
}
