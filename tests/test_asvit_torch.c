/* test_asvit_torch.c - the independent PyTorch check of `clnas score --space asvit`: for three
 * topologies at reduced resolution runs `clnas score --space asvit ... --dump DIR` and then
 * `/usr/bin/python3 tools/verify_asvit_torch.py DIR`, which rebuilds the network in PyTorch
 * (float64) from the dump's metadata, recomputes kappa by autograd and L by forward-mode JVP
 * from the dumped weights, images and circles, and exits 0 only when all agree within 1e-3.
 * Runs once, in the plain tree (not under the sanitizers). Needs python3-torch. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "util/testutil.h"

#define PYTHON "/usr/bin/python3"
#define VERIFY_PY CLNAS_DATA_DIR "/../tools/verify_asvit_torch.py"

#ifndef CLNAS_SANITIZED
static int run(const char *cmd, char **out)
{
    char full[4096];
    if (snprintf(full, sizeof full, "%s 2>&1", cmd) >= (int)sizeof full) cr_assert_fail("command too long: %s", cmd);
    return tu_run(full, out);
}

/* Scores `arch` with `flags` into a dump and has PyTorch recompute it; returns the checker's output. */
static void check(const char *arch, const char *flags)
{
    char *out;
    cr_assert_eq(run(PYTHON " -c 'import torch'", &out), 0, "python3-torch is needed for this check:\n%s", out);
    free(out);
    const char *t = getenv("TMPDIR");
    char dir[512], cmd[2048];
    snprintf(dir, sizeof dir, "%s/clnas_avt_XXXXXX", t && *t ? t : "/tmp");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(cmd, sizeof cmd, "'%s' score --space asvit --arch '%s' %s --dump '%s/d'", CLNAS_BIN, arch, flags, dir);
    int rc = run(cmd, &out);
    cr_assert_eq(rc, 0, "%s failed (exit %d):\n%s", cmd, rc, out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s '%s' '%s/d'", PYTHON, VERIFY_PY, dir);
    rc = run(cmd, &out);
    cr_log_info("%s\n%s", cmd, out);
    cr_expect_eq(rc, 0, "PyTorch disagrees with clnas:\n%s\n%s", cmd, out);
    cr_expect(strstr(out, "all agree") != NULL, "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (rc == 0 && system(cmd) != 0) cr_log_warn("could not remove %s", dir);
}

TestSuite(asvit_torch, .timeout = 600);

Test(asvit_torch, seed_topology_reference_32)
{
    check("8,2,3|4,1,2|4,1,4|4,1,6|32", "--input 32 --D 8 --batch 4 --repeat 2 --reference");
}

Test(asvit_torch, local_windows_and_depth_reference_64)
{
    check("6,4,5|3,2,3|2,2,6|3,1,2|16", "--input 64 --D 8 --depths 1,2,1,1 --batch 3 --repeat 1 --reference");
}

Test(asvit_torch, odd_kernels_reference_32)
{
    check("5,2,2,1|3,1,6,1|3,2,3,1|2,1,4,2|64,16", "--input 32 --batch 3 --repeat 1 --reference");
}

Test(asvit_torch, device_64)
{
    check("7,8,2|2,4,5|4,1,3|2,1,6|32", "--input 64 --D 16 --batch 4 --repeat 1");
}

/* The checker is not a rubber stamp: the same dump with another topology in its metadata fails. */
Test(asvit_torch, detects_a_wrong_topology)
{
    char *out;
    const char *t = getenv("TMPDIR");
    char dir[512], cmd[2048];
    snprintf(dir, sizeof dir, "%s/clnas_avt_XXXXXX", t && *t ? t : "/tmp");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(cmd, sizeof cmd, "'%s' score --space asvit --arch '8,2,3|4,1,2|4,1,4|4,1,6|32' --input 64 --D 8 --batch 3 "
             "--repeat 1 --reference --dump '%s/d'", CLNAS_BIN, dir);
    cr_assert_eq(run(cmd, &out), 0, "%s", out);
    free(out);
    /* S1 2 -> 4 (window 16 -> 4 tokens): same tensors, other attention windows; header padded back */
    snprintf(cmd, sizeof cmd, "%s -c \"import sys; p=sys.argv[1]; b=open(p,'rb').read(); n=int.from_bytes(b[:8],'little'); "
             "h=b[8:8+n].replace(b'8,2,3|4,1,2', b'8,4,3|4,1,2'); open(p,'wb').write(b[:8]+h+b[8+n:])\" '%s/d/asvit.safetensors'",
             PYTHON, dir);
    cr_assert_eq(run(cmd, &out), 0, "%s", out);
    free(out);
    /* at init (weights of std 0.02) the attention is nearly uniform, so the window changes kappa
       by about 1e-4 only: compare tightly (correct dumps agree to about 1e-6 or better) */
    snprintf(cmd, sizeof cmd, "%s '%s' '%s/d' --rtol 2e-5", PYTHON, VERIFY_PY, dir);
    int rc = run(cmd, &out);
    cr_expect_neq(rc, 0, "the checker accepted a dump with the wrong topology:\n%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) cr_log_warn("could not remove %s", dir);
}
#else
Test(asvit_torch, skipped_under_sanitizers) { cr_skip_test("the PyTorch check runs once, in the plain build"); }
#endif
