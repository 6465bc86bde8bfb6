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
#include "report/dump.h"
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
    cr_expect(fabs(r1.kappa_mean - 0.5 * (r1.ntk[0].kappa + r1.ntk[1].kappa)) <= 1e-12 * r1.kappa_mean);
    cr_expect(fabs(r1.kappa_geomean - sqrt(r1.ntk[0].kappa * r1.ntk[1].kappa)) <= 1e-9 * r1.kappa_geomean);
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
    /* the kappa and regions arrays must be identical between the run and its recomputation */
    char pa[600], pb[600], la[8192], lb[8192];
    snprintf(pa, sizeof pa, "%s/a.json", dir);
    snprintf(pb, sizeof pb, "%s/b.json", dir);
    FILE *fa = fopen(pa, "r"), *fb = fopen(pb, "r");
    cr_assert(fa && fb);
    cr_assert(fgets(la, sizeof la, fa) && fgets(lb, sizeof lb, fb));
    fclose(fa);
    fclose(fb);
    const char *keys[] = {"\"kappa\": [", "\"regions\": [", "\"lambda_min\": ["};
    for (int k = 0; k < 3; k++) {
        char *x = strstr(la, keys[k]), *y = strstr(lb, keys[k]);
        cr_assert(x && y, "%s missing", keys[k]);
        size_t n = (size_t)(strchr(x, ']') - x);
        cr_expect(strncmp(x, y, n) == 0, "%s differs:\n%.*s\n%.*s", keys[k], (int)n, x, (int)n, y);
    }
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
