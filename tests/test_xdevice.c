/* test_xdevice.c - the same scores on every OpenCL implementation present.
 *
 * Every device that clnas_devices_list reports scores the same architectures with the same
 * seed (same weights, images and patches: clnas's generator does not depend on the device);
 * κ must agree with the first device's within 1e-4 relative and R exactly, and each device's
 * networks must pass the selftest against the host reference. With one device only (the usual
 * PoCL-only machine) there is nothing to compare and the tests are skipped; tools/test.sh runs
 * this executable a second time with Mesa's rusticl enabled (RUSTICL_ENABLE=llvmpipe), which
 * adds a GPU-like device (32 KiB local memory, 1024 work-items, no fp64) next to PoCL. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "clnas/score.h"
#include "util/testutil.h"

static const char *const ARCHS[] = {
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|nor_conv_1x1~0|+|avg_pool_3x3~0|none~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|",
    "supernet",
};
#define NARCH (sizeof ARCHS / sizeof ARCHS[0])
#define REPEATS 2

static int list_devices(clnas_device_info **d)
{
    int n = 0;
    char err[512];
    cr_assert_eq(clnas_devices_list(d, &n, err, sizeof err), CLNAS_OK, "%s", err);
    return n;
}

static void score_on(int index, const clnas_dataset *data, double kappa[NARCH][REPEATS],
                     double regions[NARCH][REPEATS])
{
    char dev[16];
    snprintf(dev, sizeof dev, "%d", index);
    clnas_ctx *ctx = NULL;
    cr_assert_eq(clnas_ctx_create(dev, &ctx), CLNAS_OK, "device %d: %s", index, ctx ? clnas_ctx_errmsg(ctx) : "");
    for (size_t a = 0; a < NARCH; a++) {
        clnas_nb201_arch arch;
        cr_assert_eq(clnas_nb201_parse(ARCHS[a], &arch, NULL, 0), CLNAS_OK);
        clnas_score_opts o;
        clnas_score_opts_default(&o);
        o.batch = 16;
        o.repeats = REPEATS;
        o.lr_batch = 500;
        o.lr_batches = 2;
        o.seed = 7;
        clnas_score_result r;
        cr_assert_eq(clnas_score_nb201(ctx, &arch, data, &o, &r), CLNAS_OK, "device %d, %s: %s", index, ARCHS[a],
                     clnas_ctx_errmsg(ctx));
        for (int i = 0; i < REPEATS; i++) {
            cr_assert_eq(r.ntk[i].status, CLNAS_KAPPA_OK, "device %d, %s", index, ARCHS[a]);
            kappa[a][i] = r.ntk[i].kappa;
            regions[a][i] = (double)r.regions[i];
        }
    }
    clnas_ctx_destroy(ctx);
}

Test(xdevice, scores_agree_across_implementations)
{
    clnas_device_info *d = NULL;
    int n = list_devices(&d);
    if (n < 2) {
        free(d);
        cr_skip_test("one OpenCL device: nothing to compare (tools/test.sh adds rusticl)");
    }
    clnas_dataset *data = NULL;
    char err[512];
    cr_assert_eq(clnas_dataset_load(CLNAS_DS_CIFAR10, NULL, &data, err, sizeof err), CLNAS_OK, "%s", err);
    double k0[NARCH][REPEATS], r0[NARCH][REPEATS], k1[NARCH][REPEATS], r1[NARCH][REPEATS];
    score_on(d[0].index, data, k0, r0);
    for (int j = 1; j < n; j++) {
        score_on(d[j].index, data, k1, r1);
        for (size_t a = 0; a < NARCH; a++)
            for (int i = 0; i < REPEATS; i++) {
                double rel = fabs(k1[a][i] / k0[a][i] - 1);
                printf("  %-28.28s vs %-28.28s %-12.12s repeat %d: kappa %.9g vs %.9g (rel %.2g), R %g vs %g\n",
                       d[j].name, d[0].name, ARCHS[a], i, k1[a][i], k0[a][i], rel, r1[a][i], r0[a][i]);
                cr_expect(rel <= 1e-4, "%s vs %s, %s repeat %d: kappa %.9g vs %.9g", d[j].name, d[0].name, ARCHS[a],
                          i, k1[a][i], k0[a][i]);
                cr_expect_eq(r1[a][i], r0[a][i], "%s vs %s, %s repeat %d: R", d[j].name, d[0].name, ARCHS[a], i);
            }
    }
    clnas_dataset_destroy(data);
    free(d);
}

/* `clnas selftest` on every device: NB201 networks forward and backward against the host
 * reference (also with a single device: it is the command-level check of that device). */
Test(xdevice, selftest_on_every_device)
{
    clnas_device_info *d = NULL;
    int n = list_devices(&d);
    for (int j = 0; j < n; j++) {
        char cmd[512], *out = NULL;
        snprintf(cmd, sizeof cmd, "%s selftest --device %d 2>&1", CLNAS_BIN, d[j].index);
        int rc = tu_run(cmd, &out);
        cr_expect_eq(rc, 0, "%s on %s failed:\n%s", cmd, d[j].name, out ? out : "");
        cr_expect(out && strstr(out, "all networks agree"), "%s:\n%s", cmd, out ? out : "");
        free(out);
    }
    free(d);
}
