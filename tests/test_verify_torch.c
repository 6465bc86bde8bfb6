/* test_verify_torch.c - the independent PyTorch check of `clnas score`: for a handful of
 * architectures runs `clnas score --batch 16 --repeat 2 --dump DIR` (CLNAS_BIN) and then
 * `/usr/bin/python3 tools/verify_torch.py DIR`, which rebuilds both TE-NAS proxies in PyTorch
 * (float64) from the arch string, recomputes kappa and R from the dumped weights and inputs
 * and exits 0 only when every kappa agrees within 1e-3 (relative) and every R is equal.
 * Needs Debian's python3-torch; without it the tests FAIL (CI installs it). */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "util/testutil.h"

#ifndef CLNAS_BIN
#error "CMake defines CLNAS_BIN as the path of the clnas executable"
#endif
#ifndef CLNAS_DATA_DIR
#error "CMake defines CLNAS_DATA_DIR"
#endif
#define PYTHON "/usr/bin/python3"
#define VERIFY_PY CLNAS_DATA_DIR "/../tools/verify_torch.py"

/* Runs cmd through the shell with stderr merged; returns the exit status (128+signal when
 * killed) and the output (malloc'd). */
static int run(const char *cmd, char **out)
{
    char full[4096];
    if (snprintf(full, sizeof full, "%s 2>&1", cmd) >= (int)sizeof full) cr_assert_fail("command too long: %s", cmd);
    return tu_run(full, out);
}

static void require_torch(void)
{
    if (access(PYTHON, X_OK) != 0)
        cr_assert_fail("%s is missing: install python3 and python3-torch (apt-get install python3-torch) to run the "
                "independent PyTorch check of clnas score", PYTHON);
    char *out;
    int rc = run(PYTHON " -c 'import torch; print(torch.__version__)'", &out);
    if (rc != 0) {
        cr_assert_fail("%s cannot import torch: install python3-torch (apt-get install python3-torch; CI installs it) "
                "to run the independent PyTorch check of clnas score.\n%s", PYTHON, out);
    }
    free(out);
}

static void rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[1024];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    closedir(d);
    rmdir(dir);
}

static void check_arch(const char *arch)
{
    require_torch();
    /* the test suite's device choice applies to the child too */
    const char *td = getenv("CLNAS_TEST_DEVICE");
    if (td && *td && !getenv("CLNAS_DEVICE")) setenv("CLNAS_DEVICE", td, 1);
    const char *t = getenv("TMPDIR");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/clnas_vt_XXXXXX", t && *t ? t : "/tmp");
    cr_assert_not_null(mkdtemp(dir), "mkdtemp failed");
    char dump[600], cmd[2048], *out;
    snprintf(dump, sizeof dump, "%s/dump", dir);
    snprintf(cmd, sizeof cmd, "'%s' score --arch '%s' --batch 16 --repeat 2 --dump '%s'", CLNAS_BIN, arch, dump);
    int rc = run(cmd, &out);
    cr_assert_eq(rc, 0, "%s failed (exit %d):\n%s", cmd, rc, out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s '%s' '%s'", PYTHON, VERIFY_PY, dump);
    rc = run(cmd, &out);
    cr_log_info("%s\n%s", cmd, out);
    cr_expect_eq(rc, 0, "the PyTorch check disagrees with clnas (exit %d):\n%s\n%s", rc, cmd, out);
    cr_expect(strstr(out, "verdict: PASS") != NULL, "no PASS verdict:\n%s", out);
    free(out);
    if (rc == 0) rm_dir(dump); /* a failing dump is kept for inspection */
    rmdir(dir);
}

TestSuite(verify_torch, .timeout = 1200);

Test(verify_torch, supernet) { check_arch("supernet"); }

Test(verify_torch, single_path_all_op_kinds)
{
    check_arch("|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_3x3~0|none~1|avg_pool_3x3~2|");
}

Test(verify_torch, none_edges)
{
    check_arch("|none~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|nor_conv_1x1~2|");
}

Test(verify_torch, partial_supernet_with_none_in_the_mean)
{
    check_arch("|skip_connect,nor_conv_1x1~0|+|none,avg_pool_3x3~0|nor_conv_3x3~1|+"
               "|skip_connect~0|none~1|nor_conv_1x1,nor_conv_3x3,avg_pool_3x3~2|");
}

Test(verify_torch, conv3x3_with_one_skip)
{
    check_arch("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|");
}

/* The checker is not a rubber stamp: a dump whose arch metadata is changed (same parameter
 * tensors, but 'none' dropped from an edge's mean) must be rejected. */
Test(verify_torch, detects_a_wrong_mean)
{
    require_torch();
    const char *t = getenv("TMPDIR");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/clnas_vt_XXXXXX", t && *t ? t : "/tmp");
    cr_assert_not_null(mkdtemp(dir), "mkdtemp failed");
    char dump[600], cmd[4096], *out;
    snprintf(dump, sizeof dump, "%s/dump", dir);
    snprintf(cmd, sizeof cmd, "'%s' score --arch '|none,nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+"
             "|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|' --batch 8 --repeat 1 --lr-batches 1 --dump '%s'",
             CLNAS_BIN, dump);
    int rc = run(cmd, &out);
    cr_assert_eq(rc, 0, "%s failed (exit %d):\n%s", cmd, rc, out);
    free(out);
    /* rewrite inputs.safetensors: the arch loses 'none' on edge 1<-0 (header padded back) */
    char script[700];
    snprintf(script, sizeof script, "%s/rewrite.py", dir);
    FILE *f = fopen(script, "w");
    cr_assert_not_null(f);
    fputs("import sys\n"
          "p = sys.argv[1]\n"
          "b = open(p, 'rb').read()\n"
          "n = int.from_bytes(b[:8], 'little')\n"
          "h = b[8:8 + n]\n"
          "assert h.count(b'|none,nor_conv_3x3~0|') == 1\n"
          "h2 = h.replace(b'|none,nor_conv_3x3~0|', b'|nor_conv_3x3~0|')\n"
          "h2 += b' ' * (n - len(h2))\n"
          "open(p, 'wb').write(b[:8] + h2 + b[8 + n:])\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s '%s' '%s/inputs.safetensors'", PYTHON, script, dump);
    rc = run(cmd, &out);
    cr_assert_eq(rc, 0, "rewriting the dump failed:\n%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s '%s' '%s'", PYTHON, VERIFY_PY, dump);
    rc = run(cmd, &out);
    cr_expect_eq(rc, 1, "the PyTorch check should reject a dump whose arch lost a 'none' (exit %d):\n%s", rc, out);
    cr_expect(strstr(out, "verdict: FAIL") != NULL, "%s", out);
    free(out);
    rm_dir(dump);
    unlink(script);
    rmdir(dir);
}
