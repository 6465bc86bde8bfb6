/* test_tools.c - smoke tests of the benchmarking tools (well under 30 s):
 *   tools/bench_torch.py: a tiny side-by-side run (--batch 4 --repeat 1, one torch thread, random
 *     inputs) against CLNAS_BIN, as JSON: both sides ran, the three measurements are there with
 *     positive times and ratios, the Jacobian sizes agree, and each side names its device;
 *   tools/gpu_check.sh: parses (bash -n), --help works, an unknown option is refused;
 *     shellcheck-clean where shellcheck is installed;
 *   tools/imagenet_sample.sh: lays a flat folder of <wnid>_*.JPEG out as one folder per class.
 * bench_torch needs Debian's python3-torch (as test_verify_torch does); without it the test FAILs. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
#define TOOLS CLNAS_DATA_DIR "/../tools/"

/* Runs cmd through the shell (stdout only, or stdout+stderr when merge); returns the exit
 * status (128+signal when killed) and the output (malloc'd). */
static int run(const char *cmd, int merge, char **out)
{
    char full[4096];
    if (snprintf(full, sizeof full, "%s%s", cmd, merge ? " 2>&1" : "") >= (int)sizeof full) cr_assert_fail("command too long: %s", cmd);
    return tu_run(full, out);
}

TestSuite(tools, .timeout = 120);

Test(tools, bench_torch_side_by_side_json)
{
    cr_assert(access(PYTHON, X_OK) == 0, "%s is missing (apt-get install python3-torch)", PYTHON);
    char cmd[2048], *out;
    const char *td = getenv("CLNAS_TEST_DEVICE");
    /* validate the device name before it goes into a shell command */
    int dev_ok = td && *td && strspn(td, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-.") == strlen(td);
    snprintf(cmd, sizeof cmd,
             "%s '%sbench_torch.py' --batch 4 --repeat 1 --threads 1 --random-inputs --torch-device cpu "
             "--clnas '%s' --json%s%s%s",
             PYTHON, TOOLS, CLNAS_BIN, dev_ok ? " --device '" : "", dev_ok ? td : "", dev_ok ? "'" : "");
    int rc = run(cmd, 0, &out);
    cr_log_info("%s\n%s", cmd, out);
    cr_assert_eq(rc, 0, "%s failed (exit %d):\n%s", cmd, rc, out);
    /* a JSON checker in the same python: both sides present, positive times, P equal */
    char chk[700];
    snprintf(chk, sizeof chk, "%s/clnas_tools_XXXXXX", getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    int fd = mkstemp(chk);
    cr_assert(fd >= 0, "mkstemp failed");
    FILE *f = fdopen(fd, "w");
    cr_assert_not_null(f);
    fputs(out, f);
    fclose(f);
    free(out);
    snprintf(cmd, sizeof cmd,
             "%s -c 'import json,sys\n"
             "j = json.load(open(sys.argv[1]))\n"
             "assert j[\"clnas\"][\"error\"] is None, j[\"clnas\"][\"error\"]\n"
             "assert j[\"torch\"][\"device_name\"].startswith(\"CPU: \"), j[\"torch\"][\"device_name\"]\n"
             "assert j[\"clnas\"][\"device\"], \"no clnas device\"\n"
             "rows = j[\"comparison\"]\n"
             "assert [r[\"what\"] for r in rows] == [\"kappa, proxy supernet\", \"kappa, single path\", \"R, LR proxy supernet\"]\n"
             "assert all(r[\"torch_s\"] > 0 and r[\"clnas_s\"] > 0 and r[\"ratio_torch_over_clnas\"] > 0 for r in rows)\n"
             "for t, c in zip(j[\"torch\"][\"kappa\"], j[\"clnas\"][\"result\"][\"kappa\"]):\n"
             "    assert t[\"jacobian_params\"] == c[\"jacobian_params\"], (t[\"jacobian_params\"], c[\"jacobian_params\"])\n"
             "assert 1 <= j[\"torch\"][\"lr\"][\"regions\"][0] <= 3000\n"
             "print(\"ok\")' '%s'",
             PYTHON, chk);
    rc = run(cmd, 1, &out);
    unlink(chk);
    cr_expect_eq(rc, 0, "bench_torch.py --json output fails the check:\n%s", out);
    cr_expect(strstr(out, "ok") != NULL, "%s", out);
    free(out);
}

Test(tools, gpu_check_parses_and_has_help)
{
    char *out;
    int rc = run("bash -n '" TOOLS "gpu_check.sh'", 1, &out);
    cr_expect_eq(rc, 0, "bash -n gpu_check.sh:\n%s", out);
    free(out);
    rc = run("'" TOOLS "gpu_check.sh' --help", 1, &out);
    cr_expect_eq(rc, 0, "gpu_check.sh --help exit %d:\n%s", rc, out);
    cr_expect(strstr(out, "--fetch-debs") != NULL && strstr(out, "--quick") != NULL, "help text:\n%s", out);
    free(out);
    rc = run("'" TOOLS "gpu_check.sh' --no-such-option", 1, &out);
    cr_expect_eq(rc, 2, "an unknown option should exit 2, got %d:\n%s", rc, out);
    free(out);
    if (system("command -v shellcheck >/dev/null 2>&1") == 0) {
        rc = run("shellcheck '" TOOLS "gpu_check.sh'", 1, &out);
        cr_expect_eq(rc, 0, "shellcheck gpu_check.sh:\n%s", out);
        free(out);
    }
}

/* tools/imagenet_sample.sh: a flat folder of <wnid>_*.JPEG files becomes one sub-folder per class;
 * a name without a WordNet id is reported and left out; a missing source folder and an empty one
 * are errors. (The files need not be JPEGs: the script only moves names around.) */
Test(tools, imagenet_sample_lays_out_classes)
{
    char dir[512], path[1024], cmd[2600], *out;
    tu_mkdtemp(dir, sizeof dir, "imgsample");
    snprintf(path, sizeof path, "%s/src", dir);
    cr_assert_eq(mkdir(path, 0755), 0, "mkdir %s", path);
    const char *names[] = {"n01440764_tench.JPEG", "n01443537_goldfish.JPEG", "n01440764_2.jpg", "readme_tench.JPEG"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/src/%s", dir, names[i]);
        tu_write_file(path, "not really a jpeg");
    }
    snprintf(cmd, sizeof cmd, "'" TOOLS "imagenet_sample.sh' '%s/src' '%s/train'", dir, dir);
    int rc = run(cmd, 1, &out);
    cr_expect_eq(rc, 0, "%s exit %d:\n%s", cmd, rc, out);
    cr_expect(strstr(out, "3 images in 2 class folders") != NULL, "summary line:\n%s", out);
    cr_expect(strstr(out, "skipped 'readme_tench.JPEG'") != NULL, "the name without a WordNet id is reported:\n%s", out);
    free(out);
    const char *want[] = {"n01440764/n01440764_tench.JPEG", "n01440764/n01440764_2.jpg", "n01443537/n01443537_goldfish.JPEG"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/train/%s", dir, want[i]);
        cr_expect(access(path, R_OK) == 0, "%s is missing", path);
    }
    snprintf(path, sizeof path, "%s/train/readme", dir);
    cr_expect(access(path, F_OK) != 0, "%s should not exist", path);

    snprintf(cmd, sizeof cmd, "'" TOOLS "imagenet_sample.sh' '%s/no-such-folder' '%s/x'", dir, dir);
    rc = run(cmd, 1, &out);
    cr_expect_eq(rc, 1, "a missing source folder: exit %d:\n%s", rc, out);
    cr_expect(strstr(out, "is not a folder") != NULL, "%s", out);
    free(out);
    snprintf(path, sizeof path, "%s/empty", dir);
    cr_assert_eq(mkdir(path, 0755), 0, "mkdir %s", path);
    snprintf(cmd, sizeof cmd, "'" TOOLS "imagenet_sample.sh' '%s/empty' '%s/y'", dir, dir);
    rc = run(cmd, 1, &out);
    cr_expect_eq(rc, 1, "an empty source folder: exit %d:\n%s", rc, out);
    cr_expect(strstr(out, "no <wnid>_*.JPEG files") != NULL, "%s", out);
    free(out);
    tu_rmrf(dir);
}
