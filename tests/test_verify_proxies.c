/* test_verify_proxies.c - the independent PyTorch check of the zero-cost proxies: for a few
 * architectures runs `clnas score --metric all --batch 16 --dump DIR` and then
 * `/usr/bin/python3 tools/verify_proxies.py DIR`, which rebuilds the NB201 network in PyTorch
 * (float64), recomputes every proxy from the dumped weights, images and labels with autograd
 * (grasp by exact double backward) and exits 0 only when each agrees within 1e-3 (relative;
 * zico, ill-conditioned in float32 (see the script), within 2e-2).
 * Expensive (minutes): run once, in the plain build, not under the sanitizers. Needs Debian's
 * python3-torch. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "util/testutil.h"

#ifndef CLNAS_BIN
#error "CMake defines CLNAS_BIN as the path of the clnas executable"
#endif
#define PYTHON "/usr/bin/python3"
#define VERIFY_PY CLNAS_DATA_DIR "/../tools/verify_proxies.py"

#ifndef CLNAS_SANITIZED
static void require_torch(void)
{
    char *out = NULL;
    if (access(PYTHON, X_OK) != 0 || tu_run(PYTHON " -c 'import torch, numpy' 2>&1", &out) != 0)
        cr_assert_fail("%s with torch and numpy is needed (apt-get install python3-torch): %s", PYTHON, out ? out : "");
    free(out);
}

/* Dumps the proxies of arch and runs the PyTorch check with extra arguments; returns its exit status. */
static int check(const char *arch, const char *metric, int batch, const char *extra, char **out)
{
    require_torch();
    const char *td = getenv("CLNAS_TEST_DEVICE");
    if (td && *td && !getenv("CLNAS_DEVICE")) setenv("CLNAS_DEVICE", td, 1);
    char dir[512], cmd[4096];
    tu_mkdtemp(dir, sizeof dir, "clnas_vp");
    snprintf(cmd, sizeof cmd, "'%s' score --arch '%s' --metric %s --batch %d --dump '%s' 2>&1", CLNAS_BIN, arch, metric,
             batch, dir);
    int rc = tu_run(cmd, out);
    cr_assert_eq(rc, 0, "%s failed (exit %d):\n%s", cmd, rc, *out);
    free(*out);
    snprintf(cmd, sizeof cmd, "%s '%s' '%s' %s 2>&1", PYTHON, VERIFY_PY, dir, extra);
    rc = tu_run(cmd, out);
    cr_log_info("%s\n%s", cmd, *out);
    tu_rmrf(dir);
    return rc;
}

TestSuite(verify_proxies, .timeout = 1200);

static void check_all(const char *arch)
{
    char *out = NULL;
    int rc = check(arch, "all", 16, "", &out);
    cr_expect_eq(rc, 0, "PyTorch disagrees with clnas on %s:\n%s", arch, out);
    cr_expect(strstr(out, "PASS (13 proxies") != NULL, "%s", out);
    free(out);
}

Test(verify_proxies, conv3x3_cell)
{
    check_all("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|");
}

Test(verify_proxies, every_op_kind_and_none)
{
    check_all("|avg_pool_3x3~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|");
}

/* Not a rubber stamp: float32 clnas against float64 PyTorch cannot agree to 1e-12. */
Test(verify_proxies, a_tight_tolerance_fails)
{
    char *out = NULL;
    int rc = check("|nor_conv_1x1~0|+|skip_connect~0|nor_conv_3x3~1|+|nor_conv_1x1~0|none~1|nor_conv_3x3~2|", "snip", 8,
                   "--tol 1e-12", &out);
    cr_expect_eq(rc, 1, "%s", out);
    cr_expect(strstr(out, "MISMATCH") != NULL && strstr(out, "FAIL") != NULL, "%s", out);
    free(out);
}
#else
Test(verify_proxies, skipped_under_sanitizers)
{
    cr_skip_test("the PyTorch check of the proxies runs once, in the plain build");
}
#endif
