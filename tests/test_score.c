/* test_score.c - the TE-NAS recipe end to end: determinism, repeats that keep the weights,
 * dumps that reproduce the same numbers, and the command's error handling. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "clnas/score.h"
#include <jansson.h>
#include "report/dump.h"
#include "report/safetensors.h"
#include "util/testutil.h"

#define ARCH "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"

static void small_opts(clnas_score_opts *o)
{
    clnas_score_opts_default(o);
    o->batch = 8;
    o->repeats = 2;
    o->lr_batch = 100;
    o->lr_batches = 2;
    o->seed = 3;
}

Test(score, same_seed_same_numbers_and_repeats_differ)
{
    clnas_ctx *ctx = tu_ctx();
    clnas_dataset *d = NULL;
    char err[512];
    cr_assert_eq(clnas_dataset_load(CLNAS_DS_CIFAR10, NULL, &d, err, sizeof err), CLNAS_OK, "%s", err);
    clnas_nb201_arch a;
    cr_assert_eq(clnas_nb201_parse(ARCH, &a, err, sizeof err), CLNAS_OK);
    clnas_score_opts o;
    small_opts(&o);
    clnas_score_result r1, r2, r3;
    cr_assert_eq(clnas_score_nb201(ctx, &a, d, &o, &r1), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    cr_assert_eq(clnas_score_nb201(ctx, &a, d, &o, &r2), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(r1.ntk[i].status, CLNAS_KAPPA_OK);
        cr_expect_eq(r1.ntk[i].kappa, r2.ntk[i].kappa, "repeat %d: %.17g vs %.17g", i, r1.ntk[i].kappa, r2.ntk[i].kappa);
        cr_expect_eq(r1.regions[i], r2.regions[i]);
        cr_expect(r1.ntk[i].kappa >= 1);
        cr_expect(r1.regions[i] >= 1 && r1.regions[i] <= 200);
    }
    /* repeats draw new batches and patches */
    cr_expect_neq(r1.ntk[0].kappa, r1.ntk[1].kappa);
    /* the means are exactly these sums (same order of operations) */
    cr_expect_eq(r1.kappa_mean, (r1.ntk[0].kappa + r1.ntk[1].kappa) / 2);
    cr_expect_eq(r1.kappa_geomean, exp((log(r1.ntk[0].kappa) + log(r1.ntk[1].kappa)) / 2));
    cr_expect_eq(r1.regions_mean, ((double)r1.regions[0] + (double)r1.regions[1]) / 2);
    /* a fresh context on the same device (its own program cache, buffers and queue) gives the
       same bits, and so does a separate process (the command prints 17 significant digits) */
    clnas_ctx *c2 = NULL;
    cr_assert_eq(clnas_ctx_create(getenv("CLNAS_TEST_DEVICE"), &c2), CLNAS_OK, "%s", clnas_ctx_errmsg(c2));
    cr_assert_eq(clnas_score_nb201(c2, &a, d, &o, &r2), CLNAS_OK, "%s", clnas_ctx_errmsg(c2));
    clnas_ctx_destroy(c2);
    for (int i = 0; i < 2; i++) {
        cr_expect_eq(r1.ntk[i].kappa, r2.ntk[i].kappa, "fresh context, repeat %d: %.17g vs %.17g", i, r1.ntk[i].kappa,
                     r2.ntk[i].kappa);
        cr_expect_eq(r1.ntk[i].lambda_min, r2.ntk[i].lambda_min);
        cr_expect_eq(r1.regions[i], r2.regions[i]);
    }
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s score --arch '%s' --batch 8 --repeat 2 --lr-batch 100 --lr-batches 2 --seed 3 --json",
             CLNAS_BIN, ARCH);
    cr_assert_eq(tu_run(cmd, &out), 0, "%s", cmd);
    json_error_t je;
    json_t *js = json_loads(out, 0, &je);
    cr_assert_not_null(js, "%s: %s", je.text, out);
    for (int i = 0; i < 2; i++) {
        cr_expect_eq(json_real_value(json_array_get(json_object_get(json_object_get(js, "ntk"), "kappa"), (size_t)i)),
                     r1.ntk[i].kappa, "separate process, repeat %d", i);
        cr_expect_eq((size_t)json_integer_value(json_array_get(json_object_get(json_object_get(js, "lr"), "regions"),
                                                               (size_t)i)), r1.regions[i]);
    }
    json_decref(js);
    free(out);
    /* another seed: other weights and data */
    o.seed = 4;
    cr_assert_eq(clnas_score_nb201(ctx, &a, d, &o, &r3), CLNAS_OK);
    cr_expect_neq(r3.ntk[0].kappa, r1.ntk[0].kappa);
    /* a data set of the wrong kind is refused */
    o.dataset = CLNAS_DS_CIFAR100;
    cr_expect_eq(clnas_score_nb201(ctx, &a, d, &o, &r3), CLNAS_E_INVALID_ARG);
    clnas_dataset_destroy(d);
}

Test(score, dump_and_from_reproduce_exactly)
{
    char dir[] = "/tmp/clnas_dumpXXXXXX";
    cr_assert(mkdtemp(dir));
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s score --arch '%s' --batch 8 --repeat 2 --lr-batch 100 --lr-batches 2 --seed 5 --json --dump %s > %s/a.json",
             CLNAS_BIN, ARCH, dir, dir);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    snprintf(cmd, sizeof cmd, "%s score --from %s --json > %s/b.json", CLNAS_BIN, dir, dir);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    /* the run and its recomputation from the dump print the same numbers, bit for bit */
    char pa[600], pb[600];
    snprintf(pa, sizeof pa, "%s/a.json", dir);
    snprintf(pb, sizeof pb, "%s/b.json", dir);
    json_error_t je;
    json_t *ja = json_load_file(pa, 0, &je), *jb = json_load_file(pb, 0, &je);
    cr_assert(ja && jb, "%s", je.text);
    const char *keys[][2] = {{"ntk", "kappa"}, {"ntk", "lambda_min"}, {"ntk", "lambda_max"}, {"lr", "regions"}};
    for (int k = 0; k < 4; k++) {
        const json_t *x = json_object_get(json_object_get(ja, keys[k][0]), keys[k][1]);
        const json_t *y = json_object_get(json_object_get(jb, keys[k][0]), keys[k][1]);
        cr_assert(json_is_array(x) && json_array_size(x) == 2, "%s.%s", keys[k][0], keys[k][1]);
        cr_expect(json_equal(x, y), "%s.%s differs between the run and --from", keys[k][0], keys[k][1]);
    }
    /* the dump's outputs hold exactly what the run reported */
    char po[600], err0[512];
    snprintf(po, sizeof po, "%s/outputs.safetensors", dir);
    st_file *sf = NULL;
    cr_assert_eq(st_open(po, &sf, err0, sizeof err0), CLNAS_OK, "%s", err0);
    const double *dk = st_get(sf, "kappa", NULL, NULL, NULL), *dmin = st_get(sf, "lambda_min", NULL, NULL, NULL);
    const double *dmax = st_get(sf, "lambda_max", NULL, NULL, NULL), *eig = st_get(sf, "eigenvalues", NULL, NULL, NULL);
    const int64_t *dr = st_get(sf, "regions", NULL, NULL, NULL);
    const uint8_t *codes = st_get(sf, "codes", NULL, NULL, NULL);
    cr_assert(dk && dmin && dmax && eig && dr && codes);
    const json_t *ntk = json_object_get(ja, "ntk"), *lr = json_object_get(ja, "lr");
    int bits = (int)json_integer_value(json_object_get(lr, "bits"));
    for (int r = 0; r < 2; r++) {
        cr_expect_eq(dk[r], json_real_value(json_array_get(json_object_get(ntk, "kappa"), (size_t)r)), "kappa %d", r);
        cr_expect_eq(dmin[r], json_real_value(json_array_get(json_object_get(ntk, "lambda_min"), (size_t)r)));
        cr_expect_eq(dmax[r], json_real_value(json_array_get(json_object_get(ntk, "lambda_max"), (size_t)r)));
        cr_expect_eq(dmin[r], eig[r * 8 + 0], "lambda_min is the smallest dumped eigenvalue");
        cr_expect_eq(dmax[r], eig[r * 8 + 7], "lambda_max is the largest dumped eigenvalue");
        cr_expect_eq(dk[r], dmax[r] / dmin[r]);
        cr_expect_eq(dr[r], json_integer_value(json_array_get(json_object_get(lr, "regions"), (size_t)r)));
        /* R is the number of distinct dumped codes */
        size_t distinct = 0;
        cr_assert_eq(clnas_count_distinct_codes(codes + (size_t)r * 200 * (size_t)bits, 200, (size_t)bits, &distinct),
                     CLNAS_OK);
        cr_expect_eq((int64_t)distinct, dr[r], "repeat %d: %zu distinct dumped codes, R %lld", r, distinct, (long long)dr[r]);
    }
    st_close(sf);
    json_decref(ja);
    json_decref(jb);
    /* the dump's outputs hold what the run reported */
    clnas_nb201_arch a;
    clnas_score_opts o;
    clnas_score_inputs in;
    char err[512], space[32], archtext[4096];
    cr_assert_eq(clnas_dump_read_header(dir, space, sizeof space, archtext, sizeof archtext, &o, err, sizeof err), CLNAS_OK,
                 "%s", err);
    cr_expect_str_eq(space, "nb201");
    cr_assert_eq(clnas_nb201_parse(archtext, &a, err, sizeof err), CLNAS_OK, "%s", err);
    clnas_net *nn = NULL, *ln = NULL;
    cr_assert_eq(clnas_nb201_proxies(&a, o.dataset, &nn, &ln, err, sizeof err), CLNAS_OK, "%s", err);
    cr_assert_eq(clnas_dump_load(dir, nn, ln, &o, &in, err, sizeof err), CLNAS_OK, "%s", err);
    cr_expect_eq(o.batch, 8);
    cr_expect_eq(o.seed, 5);
    cr_expect_eq(in.lr_n, 200);
    clnas_score_inputs_free(&in);
    clnas_net_destroy(nn);
    clnas_net_destroy(ln);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

static int run_status(const char *args, char *out, size_t outlen)
{
    char cmd[2048], *buf = NULL;
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", CLNAS_BIN, args);
    int st = tu_run(cmd, &buf);
    snprintf(out, outlen, "%s", buf);
    free(buf);
    return st;
}

Test(score, command_errors_are_clear)
{
    char out[8192];
    cr_expect_eq(run_status("score --arch '|nor_conv_3x3~0|+|bad~0|none~1|+|none~0|none~1|none~2|'", out, sizeof out), 2);
    cr_expect(strstr(out, "position 19") != NULL, "%s", out);
    cr_expect_eq(run_status("score --arch supernet --dataset cifar100", out, sizeof out), 1);
    cr_expect(strstr(out, "--data") != NULL, "%s", out);
    cr_expect_eq(run_status("score --arch supernet --data /nonexistent/file.bin", out, sizeof out), 1);
    cr_expect(strstr(out, "/nonexistent/file.bin") != NULL, "%s", out);
    cr_expect_eq(run_status("score --arch supernet --batch 1", out, sizeof out), 2);
    cr_expect_eq(run_status("score --arch supernet --device no-such-device-xyz --batch 4 --repeat 1 --lr-batch 10 --lr-batches 1", out, sizeof out), 1);
    cr_expect(strstr(out, "no OpenCL device matches") != NULL, "%s", out);
    cr_expect_eq(run_status("score --from /nonexistent-dump", out, sizeof out), 1);
    cr_expect(strstr(out, "/nonexistent-dump") != NULL, "%s", out);
    cr_expect_eq(run_status("score --help", out, sizeof out), 0);
    cr_expect(strstr(out, "--dump") != NULL);
}
