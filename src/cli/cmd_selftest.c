/* cmd_selftest.c - `clnas selftest`: runs NAS-Bench-201 networks forward and backward (S seeds
 * at once, the NTK's one-hot logit-sum seeds) on the chosen device and compares logits and
 * every parameter gradient with the double-precision host reference. The runs are the library's
 * (clnas_selftest_run, src/bench/selftest.c); this file parses the options and prints. */
#include <stdio.h>
#include "bench/bench.h"
#include "cli/cli.h"

static const char USAGE[] =
"usage: clnas selftest [--device D]\n"
"\n"
"Runs NAS-Bench-201 networks (the TE-NAS NTK and linear-region proxies, supernet and single\n"
"path) forward and backward on the device, several seeds at once, and compares the logits and\n"
"every parameter gradient with the double-precision host reference. Exit status 0 when all\n"
"agree within 1e-4 relative to each result's scale.\n";

int clnas_cmd_selftest(int argc, char **argv)
{
    const char *device = NULL;
    cli c;
    cli_init(&c, "selftest", USAGE, NULL);
    cli_add(&c, "device", &device);
    const int pr = cli_parse(&c, argc, argv, NULL, NULL);
    if (pr != CLI_OK) return pr == CLI_HELP ? 0 : 2;
    clnas_ctx *ctx = NULL;
    if (clnas_ctx_create(device, &ctx) != CLNAS_OK) {
        fprintf(stderr, "clnas selftest: %s\n", clnas_ctx_errmsg(ctx));
        clnas_ctx_destroy(ctx);
        return 1;
    }
    const clnas_device_info *d = clnas_ctx_device(ctx);
    printf("device %d: %s (%s, %s)\n", d->index, d->name, d->type, d->platform_name);
    static const clnas_selftest_case cases[] = {
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
        if (clnas_selftest_run(ctx, &cases[i], &ef, &eb, &secs) != CLNAS_OK) {
            fprintf(stderr, "selftest: %s\n", clnas_ctx_errmsg(ctx));
            failed++;
            continue;
        }
        const int rc = !(ef <= tol && eb <= tol);
        printf("%-44s %6d %6d %12.2e %12.2e %7.2fs  %s\n", cases[i].what, cases[i].batch, cases[i].seeds, ef, eb, secs,
               rc == 0 ? "ok" : "FAIL");
        if (rc) failed++;
    }
    printf("selftest: %s (tolerance %.0e relative to each result's scale)\n", failed ? "FAILED" : "all networks agree with the host reference", tol);
    clnas_ctx_destroy(ctx);
    return failed ? 1 : 0;
}
