/* test_verify_proxies.c - the independent PyTorch check of the zero-cost proxies: for a few
 * architectures runs `clnas score --metric all --batch 16 --dump DIR` and then
 * `/usr/bin/python3 tools/verify_proxies.py DIR`, which rebuilds the NB201 network in PyTorch
 * (float64), recomputes every proxy from the dumped weights, images and labels with autograd
 * (grasp by exact double backward) and exits 0 only when each agrees within 1e-3 (relative;
 * zico, ill-conditioned in float32 (see the script), within 2e-2; grasp within 1e-3 or, where
 * float32 rounding can flip ReLU units near zero, 3x how far flipping them moves it - the script
 * prints that bound); grasp also at batch 32, and synflow also by its float32 device path.
 * AZ-NAS's components are recomputed by its reference code on the dumped Kaiming weights, random
 * input and probe key, within 1e-3. jacov_kaiming (VKDNW's jacov) is recomputed by VKDNW's
 * compute_jacov_score.py on its dumped Kaiming weights, at batch 64 within 1e-4 (its values lie near
 * -B, so 1e-3 would not tell it from jacob_cov on some architectures).
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
static int check_env(const char *env, const char *arch, const char *metric, int batch, const char *extra, char **out)
{
    require_torch();
    const char *td = getenv("CLNAS_TEST_DEVICE");
    if (td && *td && !getenv("CLNAS_DEVICE")) setenv("CLNAS_DEVICE", td, 1);
    char dir[512], cmd[4096];
    tu_mkdtemp(dir, sizeof dir, "clnas_vp");
    snprintf(cmd, sizeof cmd, "%s '%s' score --arch '%s' --metric %s --batch %d --dump '%s' 2>&1", env, CLNAS_BIN, arch,
             metric, batch, dir);
    int rc = tu_run(cmd, out);
    cr_assert_eq(rc, 0, "%s failed (exit %d):\n%s", cmd, rc, *out);
    free(*out);
    snprintf(cmd, sizeof cmd, "%s '%s' '%s' %s 2>&1", PYTHON, VERIFY_PY, dir, extra);
    rc = tu_run(cmd, out);
    cr_log_info("%s\n%s", cmd, *out);
    tu_rmrf(dir);
    return rc;
}

static int check(const char *arch, const char *metric, int batch, const char *extra, char **out)
{
    return check_env("", arch, metric, batch, extra, out);
}

TestSuite(verify_proxies, .timeout = 1200);

static void check_all(const char *arch)
{
    char *out = NULL;
    int rc = check(arch, "all", 16, "", &out);
    cr_expect_eq(rc, 0, "PyTorch disagrees with clnas on %s:\n%s", arch, out);
    cr_expect(strstr(out, "PASS (17 proxies") != NULL, "%s", out);
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

/* A second batch size for grasp (whose H W is a central difference), and synflow by the float64
 * host reference instead of its default float32 device path (per-tensor power-of-two scales). */
Test(verify_proxies, grasp_batch_32_and_synflow_float64)
{
    char *out = NULL;
    int rc = check_env("CLNAS_SYNFLOW=f64", "|nor_conv_1x1~0|+|nor_conv_3x3~0|skip_connect~1|+|nor_conv_3x3~0|avg_pool_3x3~1|nor_conv_3x3~2|",
                       "grasp,synflow", 32, "", &out);
    cr_expect_eq(rc, 0, "PyTorch disagrees with clnas:\n%s", out);
    cr_expect(strstr(out, "PASS (2 proxies") != NULL, "%s", out);
    free(out);
}

/* AZ-NAS's components on architectures with the special cases of its reference: an identity
 * cell (trainability -inf), a cell with no active op (zero features: expressivity and
 * progressivity -inf, zero input gradients), and batch 64 (the reference's). */
static void check_az(const char *arch, int batch)
{
    char *out = NULL;
    int rc = check(arch, "az_nas", batch, "", &out);
    cr_expect_eq(rc, 0, "PyTorch disagrees with clnas on %s:\n%s", arch, out);
    cr_expect(strstr(out, "PASS (4 proxies") != NULL, "%s", out);
    free(out);
}

Test(verify_proxies, az_nas_identity_and_zero_cells)
{
    check_az("|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|", 16);
    check_az("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|none~2|", 16);
}

Test(verify_proxies, az_nas_batch64)
{
    check_az("|nor_conv_1x1~0|+|skip_connect~0|nor_conv_3x3~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|", 64);
}

/* VKDNW's jacov at its batch (64), checked within 1e-4 (float32 against float64: ~1e-6 measured),
 * next to jacob_cov on the same images; and on a network whose output does not depend on its
 * input, where both are undefined (the references: NaN from their try/except). */
Test(verify_proxies, jacov_kaiming_batch64_and_undefined)
{
    char *out = NULL;
    int rc = check("|avg_pool_3x3~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|",
                   "jacob_cov,jacov_kaiming", 64, "--tol 1e-4", &out);
    cr_expect_eq(rc, 0, "PyTorch disagrees with clnas:\n%s", out);
    cr_expect(strstr(out, "PASS (2 proxies") != NULL && strstr(out, "jacov_kaiming clnas") != NULL, "%s", out);
    free(out);
    rc = check("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "jacob_cov,jacov_kaiming", 16, "", &out);
    cr_expect_eq(rc, 0, "%s", out);
    cr_expect(strstr(out, "jacov_kaiming clnas nan  torch nan") != NULL && strstr(out, "PASS (2 proxies") != NULL, "%s", out);
    free(out);
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
