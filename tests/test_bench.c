/* test_bench.c - `clnas bench` (default, --shapes and --scaling) run end to end (one repeat, the
 * small configurations only: these check that the modes work and report sane numbers in valid
 * JSON, not how fast anything is); the memory fit checks refuse, before running anything, what
 * a device cannot hold (forced on any device with CLNAS_BENCH_MEM_CAP); clnas_ntk_device_bytes
 * counts at least the Jacobian. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bench/bench.h"
#include "clnas/score.h"
#include "model/graph.h"
#include "util/testutil.h"

#ifndef CLNAS_BIN
#error "CMake defines CLNAS_BIN as the path of the clnas executable"
#endif

/* Runs `env clnas args`; stdout (and stderr when merge) into *out; the exit status. */
static int run_env(const char *env, const char *args, int merge, char **out)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s '%s' %s %s", env ? env : "", CLNAS_BIN, args, merge ? "2>&1" : "2>/dev/null");
    return tu_run(cmd, out);
}
static int run(const char *args, char **out) { return run_env(NULL, args, 1, out); }

/* Parses out as one JSON object (duplicate keys rejected), failing the test with jansson's message. */
static json_t *parse_object(const char *out)
{
    json_error_t e;
    json_t *j = json_loads(out, JSON_REJECT_DUPLICATES, &e);
    cr_assert_not_null(j, "not JSON (%s at line %d, column %d):\n%s", e.text, e.line, e.column, out);
    cr_assert(json_is_object(j), "not one JSON object:\n%s", out);
    return j;
}

/* obj[key] as a number; NaN when missing, null or not a number. */
static double num(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}
static int positive(const json_t *obj, const char *key) { return isfinite(num(obj, key)) && num(obj, key) > 0; }

/* The top-level fields every bench --json has, for the device tests run on. */
static void expect_device_fields(const json_t *j, int reps)
{
    clnas_ctx *ctx = tu_ctx();
    const clnas_device_info *d = clnas_ctx_device(ctx);
    cr_expect_str_eq(json_string_value(json_object_get(j, "device")), d->name);
    cr_expect_str_eq(json_string_value(json_object_get(j, "device_type")), d->type);
    cr_expect_eq(json_integer_value(json_object_get(j, "device_index")), d->index);
    cr_expect_eq(json_integer_value(json_object_get(j, "repeats")), reps);
    /* which kernel variant ran and why: what the runtime says for this device and environment */
    const char *src = NULL;
    const int v = clnas_kernel_variant(ctx, &src);
    const json_t *k = json_object_get(j, "kernels");
    cr_expect_str_eq(json_string_value(json_object_get(k, "variant")), clnas_kernels_name(v));
    cr_expect_str_eq(json_string_value(json_object_get(k, "source")), src);
}

/* A network's activations per sample and parameters. */
static void net_sizes(const clnas_nb201_config *cfg, const char *archstr, double *act, double *np)
{
    clnas_nb201_arch arch;
    clnas_net *net = NULL;
    cr_assert_eq(clnas_nb201_parse(archstr, &arch, NULL, 0), CLNAS_OK);
    cr_assert_eq(clnas_nb201_build(cfg, &arch, &net, NULL, 0), CLNAS_OK);
    *act = (double)net->act_per_sample;
    *np = (double)clnas_net_nparams(net);
    clnas_net_destroy(net);
}

#define FULL_ARCH "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"

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
    int rc = run_env(NULL, "bench --shapes --repeat 1 --json", 0, &out);
    cr_assert_eq(rc, 0, "clnas bench --shapes exited %d:\n%s", rc, out);
    json_t *j = parse_object(out);
    expect_device_fields(j, 1);
    const json_t *sh = json_object_get(j, "shapes");
    cr_assert(json_is_object(sh), "no \"shapes\" object:\n%s", out);
    cr_expect_null(json_object_get(j, "scaling"), "--shapes alone has no scaling rows");
    clnas_nb201_config cfg;
    clnas_nb201_config_ntk(&cfg, 10, 32);
    const int n_ntk = distinct_convs(&cfg);
    clnas_nb201_config_lr(&cfg, 10);
    const int n_lr = distinct_convs(&cfg);
    cr_expect_gt(n_ntk, 5, "the proxy supernet should have several conv shapes");
    /* seeds in flight: what the NTK picks, within [1, batch]; the passes of a kappa follow */
    const int S = (int)json_integer_value(json_object_get(sh, "seeds_in_flight"));
    cr_expect(S >= 1 && S <= 72, "seeds_in_flight = %d", S);
    cr_expect_eq(json_integer_value(json_object_get(sh, "backward_passes")), (72 + S - 1) / S);
    cr_expect_eq(json_integer_value(json_object_get(sh, "batch")), 72);
    const char *top[] = {"kappa_s", "kappa_backward_s", "kappa_conv_s", "lr_s", "lr_conv_s"};
    for (size_t k = 0; k < sizeof top / sizeof *top; k++) cr_expect(positive(sh, top[k]), "shapes.%s = %g", top[k], num(sh, top[k]));

    const json_t *conv = json_object_get(sh, "conv");
    int nn = 0, nl = 0;
    double share[2] = {0, 0};
    size_t i;
    json_t *r;
    json_array_foreach(conv, i, r) {
        const int lr = !strcmp(json_string_value(json_object_get(r, "net")), "lr");
        nn += !lr;
        nl += lr;
        const char *pos[] = {"fwd_s", "fwd_gflops", "flop_fwd", "share"};
        for (size_t k = 0; k < 4; k++) cr_expect(positive(r, pos[k]), "conv row %zu: %s = %g", i, pos[k], num(r, pos[k]));
        share[lr] += num(r, "share");
        /* backward rates for the NTK rows; the LR rows are forward only: null there */
        const char *bwd[] = {"bwd_data_gflops", "bwd_weight_gflops", "bwd_weight_s", "per_kappa_s", "seeds"};
        for (size_t k = 0; k < 5; k++) {
            if (lr) cr_expect(json_is_null(json_object_get(r, bwd[k])) || !json_object_get(r, bwd[k]), "LR row %zu: %s", i, bwd[k]);
            else cr_expect(positive(r, bwd[k]), "NTK row %zu: %s = %g", i, bwd[k], num(r, bwd[k]));
        }
        if (lr) cr_expect(positive(r, "per_r_s"), "LR row %zu: per_r_s", i);
        else cr_expect_eq(json_integer_value(json_object_get(r, "seeds")), S);
    }
    cr_expect_eq(nn, n_ntk, "%d NTK conv rows expected, %d listed", n_ntk, nn);
    cr_expect_eq(nl, n_lr, "%d LR conv rows expected, %d listed", n_lr, nl);
    /* shares of the kappa's conv time add up to 1, and those of R to 1 */
    cr_expect(fabs(share[0] - 1.0) < 0.01 && fabs(share[1] - 1.0) < 0.01, "shares add up to %g and %g", share[0], share[1]);
    /* the non-conv backward ops: BN, ReLU, edge sums and pooling, with a positive bandwidth */
    const json_t *ops = json_object_get(sh, "backward_ops");
    int seen[4] = {0, 0, 0, 0};
    const char *kinds[] = {"bn", "relu", "sum", "avgpool"};
    json_array_foreach(ops, i, r) {
        for (int k = 0; k < 4; k++) seen[k] += !strcmp(json_string_value(json_object_get(r, "op")), kinds[k]);
        cr_expect(positive(r, "gbps") && positive(r, "bytes") && positive(r, "s"), "backward op %zu", i);
    }
    for (int k = 0; k < 4; k++) cr_expect_gt(seen[k], 0, "no %s row", kinds[k]);
    json_decref(j);
    free(out);
}

Test(bench, default_mode_json, .timeout = 300)
{
    char *out = NULL;
    int rc = run_env(NULL, "bench --batch 8 --repeat 1 --json", 0, &out);
    cr_assert_eq(rc, 0, "clnas bench exited %d:\n%s", rc, out);
    json_t *j = parse_object(out);
    expect_device_fields(j, 1);
    cr_expect_eq(json_integer_value(json_object_get(j, "batch")), 8);
    cr_expect(positive(j, "sgemm_gflops_1024") && positive(j, "sgemm_gflops_gram"), "%s", out);
    const json_t *k = json_object_get(j, "kappa");
    cr_assert_eq(json_array_size(k), 2, "%s", out);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(k, 0), "arch")), "supernet");
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(k, 0), "jacobian_params")), 14364);
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(k, 1), "jacobian_params")), 11382);
    for (size_t i = 0; i < 2; i++) {
        const json_t *e = json_array_get(k, i);
        const char *pos[] = {"gflop", "total_s", "backward_s", "gflops"};
        for (size_t q = 0; q < 4; q++) cr_expect(positive(e, pos[q]), "kappa %zu: %s = %g", i, pos[q], num(e, pos[q]));
        const json_int_t s = json_integer_value(json_object_get(e, "seeds_in_flight"));
        cr_expect(s >= 1 && s <= 8, "kappa %zu: seeds_in_flight %lld", i, (long long)s);
    }
    const json_t *lr = json_object_get(j, "lr");
    cr_expect_eq(json_integer_value(json_object_get(lr, "samples")), 3000);
    cr_expect(positive(lr, "seconds") && json_integer_value(json_object_get(lr, "regions")) > 1, "%s", out);
    json_decref(j);
    free(out);
}

Test(bench, scaling_small_run, .timeout = 300)
{
    /* a memory cap that leaves room for exactly 3 seeds of the proxy at batch 16 (ntk_check_fit:
       90 % of the memory for G, the activations and the seeds' gradients): the NTK's own choice
       is lowered to it */
    clnas_nb201_config cfg;
    clnas_nb201_config_ntk(&cfg, 10, 32);
    double act_ps, np;
    net_sizes(&cfg, "supernet", &act_ps, &np);
    const double act = act_ps * 16 * 4, G = 16 * np * 4, cap = (G + 4.5 * act) / 0.9;
    char env[128], *out = NULL;
    snprintf(env, sizeof env, "CLNAS_BENCH_MEM_CAP=%.0f", cap);
    int rc = run_env(env, "bench --scaling --no-full --scaling-max-batch 16 --repeat 1 --json", 0, &out);
    cr_assert_eq(rc, 0, "clnas bench --scaling exited %d:\n%s", rc, out);
    json_t *j = parse_object(out);
    expect_device_fields(j, 1);
    const json_t *rows = json_object_get(j, "scaling");
    cr_assert_eq(json_array_size(rows), 1, "exactly the proxy at batch 16 expected:\n%s", out);
    const json_t *r = json_array_get(rows, 0);
    cr_expect(strstr(json_string_value(json_object_get(r, "network")), "NTK proxy"), "--no-full still ran the full network:\n%s", out);
    cr_expect_eq(json_integer_value(json_object_get(r, "batch")), 16);
    cr_expect_eq(json_integer_value(json_object_get(r, "seeds_in_flight")), 3, "the cap should give 3 seeds:\n%s", out);
    cr_expect_eq(json_integer_value(json_object_get(r, "jacobian_params")), 14364);
    const char *pos[] = {"total_s", "backward_s", "gflop", "gflops", "device_bytes", "jacobian_bytes"};
    for (size_t k = 0; k < sizeof pos / sizeof *pos; k++) cr_expect(positive(r, pos[k]), "\"%s\" = %g", pos[k], num(r, pos[k]));
    cr_expect_geq(num(r, "device_bytes"), num(r, "jacobian_bytes"));
    cr_expect(json_is_null(json_object_get(r, "time_ratio")) && json_is_null(json_object_get(r, "memory_ratio")),
              "the first row of a network has no ratios:\n%s", out);
    json_decref(j);
    free(out);

    /* the text table has the row and its columns; the old spelling --seeds N still sets the seeds */
    rc = run("bench --scaling --no-full --scaling-max-batch 16 --repeat 1 --seeds 2", &out);
    cr_assert_eq(rc, 0, "%s", out);
    cr_expect(strstr(out, "NTK proxy supernet") && strstr(out, "GFLOP/s") && strstr(out, "dev MiB"), "%s", out);
    cr_expect(strstr(out, "warning") && strstr(out, "--seeds-in-flight"), "no deprecation warning:\n%s", out);
    free(out);
}

Test(bench, bad_options_are_usage_errors)
{
    char *out = NULL;
    cr_expect_eq(run("bench --scaling --scaling-max-batch 1", &out), 2, "%s", out);
    free(out);
    cr_expect_eq(run("bench --shapes --repeat 0", &out), 2, "%s", out);
    free(out);
    cr_expect_eq(run("bench --repeat 1001", &out), 2, "%s", out);
    cr_expect(strstr(out, "[1, 1000]"), "%s", out);
    free(out);
    cr_expect_eq(run("bench --batch 10001", &out), 2, "%s", out);
    free(out);
    cr_expect_eq(run("bench --seeds 0-4", &out), 2, "a seed range is not a count of seeds in flight:\n%s", out);
    free(out);
    cr_expect_eq(run("bench --shape", &out), 2, "no abbreviations:\n%s", out);
    free(out);
    cr_expect_eq(run("bench --help", &out), 0, "%s", out);
    const char *opts[] = {"--shapes", "--scaling", "--no-full", "--scaling-max-batch", "--seeds-in-flight", "--repeat",
                          "--batch", "--device", "--json"};
    for (size_t i = 0; i < sizeof opts / sizeof *opts; i++) cr_expect(strstr(out, opts[i]), "help lacks %s:\n%s", opts[i], out);
    free(out);
}

/* The fit checks refuse, before any kappa runs, what the device's memory cannot hold. A memory
 * cap (CLNAS_BENCH_MEM_CAP) makes every device "small", so each refusal is exercised everywhere. */
static void expect_refusal(double cap, const char *args, const char *const *want, int nwant)
{
    char env[128], *out = NULL;
    snprintf(env, sizeof env, "CLNAS_BENCH_MEM_CAP=%.0f", cap);
    const double t0 = clnas_now();
    int rc = run_env(env, args, 1, &out);
    cr_expect_eq(rc, 1, "%s: exit %d:\n%s", args, rc, out);
    for (int i = 0; i < nwant; i++) cr_expect(strstr(out, want[i]), "%s: no \"%s\" in:\n%s", args, want[i], out);
    cr_expect_lt(clnas_now() - t0, 60.0, "the check should come before any kappa runs");
    free(out);
}

Test(bench, scaling_refuses_what_cannot_fit_before_running_anything, .timeout = 300)
{
    clnas_nb201_config pcfg, fcfg;
    clnas_nb201_config_ntk(&pcfg, 10, 32);
    clnas_nb201_config_default(&fcfg);
    double pact, pnp, fact, fnp;
    net_sizes(&pcfg, "supernet", &pact, &pnp);
    net_sizes(&fcfg, FULL_ARCH, &fact, &fnp);
    cr_expect_eq(fnp, 1531546);
    /* at batch 16: the proxy's whole NTK with 16 seeds, the full network's pieces */
    const double p_need = 16 * pnp * 4 + 17 * pact * 16 * 4;
    const double f_G = 16 * fnp * 4, f_act = fact * 16 * 4;
    cr_assert_lt(2 * p_need, 16 * f_act, "the proxy should be much smaller than the full network");
    /* 1. 16 seeds of the full network's activation gradients exceed one allocation */
    const char *one[] = {"largest single allocation", "use a smaller batch or fewer seeds", "NB201 C=16 N=5", "batch 16"};
    expect_refusal(2 * p_need > f_G ? 2 * p_need : f_G, "bench --scaling --scaling-max-batch 16 --seeds-in-flight 16 --repeat 1",
                   one, 4);
    /* 2. the Jacobian G of the full network alone exceeds one allocation */
    if (p_need < 0.5 * f_G) {
        const char *jac[] = {"the Jacobian G", "largest single allocation", "use a smaller batch", "NB201 C=16 N=5"};
        expect_refusal(0.9 * f_G, "bench --scaling --scaling-max-batch 16 --repeat 1", jac, 4);
    }
    /* 3. every buffer fits one allocation, but not all of them the global memory (one seed) */
    const char *glob[] = {"global memory", "Jacobian G", "NB201 C=16 N=5", "batch 16"};
    const double cap3 = (f_G > f_act ? f_G : f_act) * 1.01;
    cr_assert_lt(cap3, f_G + 2 * f_act);
    expect_refusal(cap3, "bench --scaling --scaling-max-batch 16 --seeds-in-flight 1 --repeat 1", glob, 4);
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

/* The default mode names the device and puts OpenBLAS's host SGEMM rate next to CLBlast's: the
 * same shapes, both rates positive, the ratios computed from them. A PyTorch side that cannot run
 * (--torch with a script that does not exist) is reported with its reason, not a number. */
Test(bench, default_json_has_openblas_ratio_and_torch_reason, .timeout = 300)
{
    char *out = NULL;
    int rc = run_env(NULL, "bench --batch 8 --repeat 1 --json --torch --torch-script /nonexistent/bench_torch.py", 0,
                     &out);
    cr_assert_eq(rc, 0, "%s", out);
    json_t *j = parse_object(out);
    expect_device_fields(j, 1);
    const json_t *h = json_object_get(j, "host_blas");
    cr_assert(json_is_object(h), "no host_blas:\n%s", out);
    clnas_bench_hostblas hb;
    const int have = clnas_bench_host_open(&hb);
    clnas_bench_host_close(&hb);
    if (have) {
        cr_expect(positive(h, "sgemm_gflops_1024") && positive(h, "sgemm_gflops_gram"), "%s", out);
        cr_expect(json_is_string(json_object_get(h, "core")), "%s", out);
        const double r = num(j, "clblast_over_openblas_1024");
        cr_expect(fabs(r - num(j, "sgemm_gflops_1024") / num(h, "sgemm_gflops_1024")) <= 1e-12 * r, "%s", out);
        const json_t *k0 = json_array_get(json_object_get(j, "kappa"), 0);
        cr_expect(positive(k0, "of_openblas_sgemm_1024"), "%s", out);
    } else {
        cr_expect(json_is_null(json_object_get(h, "library")) && json_is_string(json_object_get(h, "reason")), "%s", out);
        cr_expect(json_is_null(json_object_get(j, "clblast_over_openblas_1024")), "%s", out);
    }
    const json_t *t = json_object_get(j, "torch");
    cr_expect(json_is_null(json_object_get(t, "result")) && strstr(json_string_value(json_object_get(t, "reason")),
                                                                   "/nonexistent/bench_torch.py"), "%s", out);
    json_decref(j);
    free(out);
}

/* --rounds R alternates clnas and the PyTorch side R times: R ratio triples and, per row, their
 * median. The PyTorch side here is a stand-in (a shell script printing fixed times through
 * $CLNAS_PYTHON), so only clnas's times vary. --rounds without --torch is refused. */
Test(bench, torch_rounds_give_per_round_ratios_and_medians, .timeout = 300)
{
    char script[] = "/tmp/clnas_fake_torch_XXXXXX";
    const int fd = mkstemp(script);
    cr_assert(fd >= 0);
    FILE *f = fdopen(fd, "w");
    cr_assert_not_null(f);
    fprintf(f, "cat <<'EOF'\n{\"torch\": {\"version\": \"fake\", \"device_name\": \"none\", \"threads\": 1},\n"
               " \"comparison\": [{\"torch_s\": 1.0}, {\"torch_s\": 2.0}, {\"torch_s\": 0.5}]}\nEOF\n");
    fclose(f);
    char args[512], *out = NULL;
    snprintf(args, sizeof args, "bench --batch 8 --repeat 1 --json --torch --rounds 3 --torch-script %s", script);
    int rc = run_env("CLNAS_PYTHON=/bin/sh", args, 0, &out);
    unlink(script);
    cr_assert_eq(rc, 0, "%s", out);
    json_t *j = parse_object(out);
    const json_t *r = json_object_get(j, "torch_rounds");
    cr_assert(json_is_object(r), "no torch_rounds:\n%s", out);
    cr_expect_eq(json_integer_value(json_object_get(r, "rounds")), 3);
    const json_t *ratios = json_object_get(r, "ratios"), *med = json_object_get(r, "median");
    cr_assert(json_array_size(ratios) == 3 && json_array_size(med) == 3, "%s", out);
    for (size_t i = 0; i < 3; i++) {
        double v[3];
        for (size_t k = 0; k < 3; k++) {
            v[k] = json_number_value(json_array_get(json_array_get(ratios, k), i));
            cr_expect(v[k] > 0 && isfinite(v[k]), "round %zu row %zu: %g", k, i, v[k]);
        }
        /* the median of three: the one that is neither strictly the smallest nor the largest */
        const double m = json_number_value(json_array_get(med, i));
        int below = 0, above = 0, equal = 0;
        for (size_t k = 0; k < 3; k++) below += v[k] < m, above += v[k] > m, equal += v[k] == m;
        cr_expect(equal >= 1 && below <= 1 && above <= 1, "row %zu: median %g, rounds %g %g %g", i, m, v[0], v[1], v[2]);
    }
    json_decref(j);
    free(out);
    rc = run("bench --rounds 2", &out);
    cr_expect_eq(rc, 2, "%s", out);
    cr_expect(strstr(out, "--rounds goes with --torch") != NULL, "%s", out);
    free(out);
}

/* The host SGEMM measurement itself: a product whose FLOP count is known runs and gives a rate. */
Test(bench, host_sgemm_rate)
{
    clnas_bench_hostblas hb;
    if (!clnas_bench_host_open(&hb)) cr_assert_fail("no OpenBLAS: %s (install libopenblas0-pthread: tools/deps.sh does)", hb.why);
    double g = -1;
    cr_expect_eq(clnas_bench_host_sgemm(tu_ctx(), &hb, 64, 48, 300, 1, 3, &g), CLNAS_OK);
    cr_expect(g > 0 && isfinite(g), "rate %g", g);
    cr_expect(hb.core[0] && hb.threads >= 1, "core \"%s\", %d threads", hb.core, hb.threads);
    clnas_bench_host_close(&hb);
}
