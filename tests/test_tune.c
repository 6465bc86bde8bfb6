/* test_tune.c - per-device GEMM tuning: CLBlast's parameter constraints, the tuning file (round
 * trip, key mismatch, corruption, atomic replacement), what a context applies (file > shipped >
 * none, CLNAS_TUNE=off, per-device values and the NTK's seed budget reaching the NTK, files of
 * the older format), GEMM correctness with tuned
 * parameters on both of CLBlast's kernels, and `clnas tune` end to end. Every test runs with
 * CLNAS_CACHE_DIR in a fresh temporary folder, so the user's own tuning is never touched. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include "clnas/nb201.h"
#include "clnas/score.h"
#include "metrics/ntk_seeds.h"
#include "model/graph.h"
#include "util/testutil.h"

#ifndef CLNAS_BIN
#error "CMake defines CLNAS_BIN as the path of the clnas executable"
#endif

static char g_dir[256];

static void setup(void)
{
    tu_mkdtemp(g_dir, sizeof g_dir, "clnas_tune");
    cr_assert_eq(setenv("CLNAS_CACHE_DIR", g_dir, 1), 0);
    unsetenv("CLNAS_TUNE");
    unsetenv("CLNAS_SEEDS");
}
static void teardown(void) { tu_rmrf(g_dir); }

/* A device that exists only on paper: the file functions need nothing else. */
static clnas_device_info fake_dev(const char *name, const char *driver)
{
    clnas_device_info d;
    memset(&d, 0, sizeof d);
    snprintf(d.platform_name, sizeof d.platform_name, "Test Platform ");
    snprintf(d.name, sizeof d.name, "%s", name);
    snprintf(d.driver_version, sizeof d.driver_version, "%s", driver);
    d.type = "GPU";
    d.local_mem_bytes = 65536;
    d.max_work_group = 1024;
    return d;
}

/* A valid, non-default tuning: CLBlast's generic Xgemm set, a direct set with 2-wide vectors, the
 * NTK's budget and one more per-device value. */
static clnas_tuning sample_tuning(void)
{
    clnas_tuning t = {1,
                      {0, 1, 32, 2, 8, 8, 32, 16, 16, 32, 1, 1, 0, 0, 4, 2},
                      {2, 8, 8, 8, 8, 1, 1, 2, 2, 32},
                      448,
                      2,
                      {{CLNAS_NTK_SEED_BUDGET_KEY, 123456789.0}, {"other.value", 0.125}},
                      CLNAS_KERNELS_GPU};
    return t;
}

/* The NTK's budget in t (-1 when there is none). */
static double budget_of(const clnas_tuning *t)
{
    double v = -1;
    return clnas_tuning_param(t, CLNAS_NTK_SEED_BUDGET_KEY, &v) ? v : -1;
}

/* The tuning file path of d (asserts there is one). */
static void path_of(const clnas_device_info *d, char *path, size_t len)
{
    char err[256];
    cr_assert_eq(clnas_tune_path(d, path, len, err, sizeof err), CLNAS_OK, "%s", err);
}

/* Reads path for d: the status, *found and the message. */
static clnas_status read_file(const char *path, const clnas_device_info *d, clnas_tuning *t, int *found, char *msg,
                              size_t len)
{
    *found = -1;
    return clnas_tune_read(path, d, t, found, msg, len);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

/* ------------------------------------------------------------------ constraints */

Test(constraints, clblast_database_sets_pass_and_broken_ones_fail)
{
    const size_t x_cpu[16] = {0, 1, 32, 2, 16, 16, 64, 8, 8, 64, 0, 0, 0, 0, 4, 4};
    const size_t x_gen[16] = {0, 1, 32, 2, 8, 8, 32, 16, 16, 32, 1, 1, 0, 0, 4, 2};
    const size_t x_k1[16] = {1, 16, 1, 1, 2, 2, 64, 2, 2, 128, 0, 0, 0, 0, 8, 2}; /* GEMMK=1 entry */
    const size_t d_cpu[10] = {2, 8, 8, 8, 8, 1, 1, 4, 4, 32};
    const size_t d_gen[10] = {2, 8, 8, 8, 8, 1, 1, 1, 1, 16};
    cr_expect(clnas_tune_xgemm_ok(x_cpu, 65536, 1024));
    cr_expect(clnas_tune_xgemm_ok(x_gen, 65536, 1024));
    cr_expect(clnas_tune_xgemm_ok(x_k1, 65536, 1024));
    cr_expect(clnas_tune_direct_ok(d_cpu, 65536, 1024));
    cr_expect(clnas_tune_direct_ok(d_gen, 65536, 1024));
    size_t x[16], d[10];
    memcpy(x, x_gen, sizeof x);
    x[6] = 48; /* MWG not a multiple of MDIMC * VWM */
    cr_expect_not(clnas_tune_xgemm_ok(x, 65536, 1024));
    memcpy(x, x_gen, sizeof x);
    x[14] = 3; /* no 3-wide OpenCL vectors */
    cr_expect_not(clnas_tune_xgemm_ok(x, 65536, 1024));
    memcpy(x, x_gen, sizeof x);
    cr_expect_not(clnas_tune_xgemm_ok(x, 4096, 1024), "32x32 + 32x32 floats of local memory do not fit 4 KiB");
    cr_expect_not(clnas_tune_xgemm_ok(x_gen, 65536, 64), "256 work-items do not fit a 64-item work-group");
    memcpy(d, d_cpu, sizeof d);
    d[0] = 3; /* KWID does not divide WGD */
    cr_expect_not(clnas_tune_direct_ok(d, 65536, 1024));
    memcpy(d, d_cpu, sizeof d);
    d[1] = 16; /* MDIMAD * VWMD = 64 > WGD */
    cr_expect_not(clnas_tune_direct_ok(d, 65536, 1024));
    memcpy(d, d_cpu, sizeof d);
    d[5] = 2; /* PADA is a flag */
    cr_expect_not(clnas_tune_direct_ok(d, 65536, 1024));
}

/* ------------------------------------------------------------------ the tuning file */

TestSuite(file, .init = setup, .fini = teardown);

Test(file, round_trip)
{
    clnas_device_info d = fake_dev("Test Device 1 (rev. A)", "1.0");
    char path[1200];
    path_of(&d, path, sizeof path);
    cr_expect(strncmp(path, g_dir, strlen(g_dir)) == 0 && strstr(path, "/tune/"), "path %s not under %s/tune", path, g_dir);
    clnas_tuning t = sample_tuning(), r;
    memset(&r, 0xab, sizeof r);
    cr_assert_eq(clnas_tune_write(NULL, path, &d, &t, "measured.note=round trip\n"), CLNAS_OK);
    char msg[512];
    int found;
    cr_assert_eq(read_file(path, &d, &r, &found, msg, sizeof msg), CLNAS_OK, "%s", msg);
    cr_expect_eq(found, 1);
    cr_expect_eq(r.gemm, 1);
    cr_expect(memcmp(r.xgemm, t.xgemm, sizeof t.xgemm) == 0);
    cr_expect(memcmp(r.direct, t.direct, sizeof t.direct) == 0);
    cr_expect_eq(r.min_indirect, t.min_indirect);
    /* per-device values come back by key, exactly, in order */
    cr_expect_eq(r.nparams, 2);
    cr_expect_eq(budget_of(&r), 123456789.0);
    double v = 0;
    cr_expect(clnas_tuning_param(&r, "other.value", &v) && v == 0.125);
    cr_expect_not(clnas_tuning_param(&r, "no.such.key", &v));
    /* the kernel variant: both choices come back; "the default rule" writes no line */
    cr_expect_eq(r.kernels, CLNAS_KERNELS_GPU);
    cr_expect(strstr(slurp(path), "\nkernels=gpu\n"), "%s", slurp(path));
    t.kernels = CLNAS_KERNELS_CPU;
    cr_assert_eq(clnas_tune_write(NULL, path, &d, &t, NULL), CLNAS_OK);
    cr_assert_eq(read_file(path, &d, &r, &found, msg, sizeof msg), CLNAS_OK, "%s", msg);
    cr_expect_eq(r.kernels, CLNAS_KERNELS_CPU);
    t.kernels = 7;
    cr_expect_eq(clnas_tune_write(NULL, path, &d, &t, NULL), CLNAS_E_INVALID_ARG, "an unknown variant is not written");
    /* "keep CLBlast's" round-trips too, with only the seed budget */
    clnas_tuning keep = {0, {0}, {0}, 0, 1, {{CLNAS_NTK_SEED_BUDGET_KEY, 1048576.0}}, CLNAS_KERNELS_RULE};
    cr_assert_eq(clnas_tune_write(NULL, path, &d, &keep, NULL), CLNAS_OK);
    cr_assert_eq(read_file(path, &d, &r, &found, msg, sizeof msg), CLNAS_OK, "%s", msg);
    cr_expect_eq(r.gemm, 0);
    cr_expect_eq(r.nparams, 1);
    cr_expect_eq(budget_of(&r), 1048576.0);
    cr_expect_eq(r.kernels, CLNAS_KERNELS_RULE);
    cr_expect_null(strstr(slurp(path), "kernels="), "%s", slurp(path));
    /* no file at all is not an error */
    clnas_device_info other = fake_dev("Another Device", "1.0");
    char p2[1200];
    path_of(&other, p2, sizeof p2);
    cr_expect_str_neq(p2, path);
    cr_expect_eq(read_file(p2, &other, &r, &found, msg, sizeof msg), CLNAS_OK);
    cr_expect_eq(found, 0);
    cr_expect_str_eq(msg, "");
    cr_expect_str_eq(clnas_device_tuning_source(&other), "none");
    cr_expect_str_eq(clnas_device_tuning_source(&d), "file");
}

Test(file, key_mismatch_is_ignored)
{
    clnas_device_info d = fake_dev("Test Device 1", "1.0");
    char path[1200], msg[512];
    path_of(&d, path, sizeof path);
    clnas_tuning t = sample_tuning(), r;
    cr_assert_eq(clnas_tune_write(NULL, path, &d, &t, NULL), CLNAS_OK);
    /* a driver upgrade: same device, same file name, stale content */
    clnas_device_info newer = fake_dev("Test Device 1", "2.0");
    char p2[1200];
    path_of(&newer, p2, sizeof p2);
    cr_expect_str_eq(p2, path, "the file is found again after a driver upgrade (and reported)");
    int found;
    cr_expect_eq(read_file(path, &newer, &r, &found, msg, sizeof msg), CLNAS_E_UNSUPPORTED);
    cr_expect_eq(found, 1);
    cr_expect(strstr(msg, "driver") && strstr(msg, "\"1.0\"") && strstr(msg, "\"2.0\""), "%s", msg);
    cr_expect_str_eq(clnas_device_tuning_source(&newer), "none");
    /* another CLBlast version */
    char *text = strdup(slurp(path));
    char *v = strstr(text, "clblast=");
    cr_assert_not_null(v);
    v[8] = '0'; /* "1.5.3" -> "0.5.3" */
    tu_write_file(path, text);
    free(text);
    cr_expect_eq(read_file(path, &d, &r, &found, msg, sizeof msg), CLNAS_E_UNSUPPORTED);
    cr_expect(strstr(msg, "clblast"), "%s", msg);
    /* a file copied from another device */
    clnas_device_info other = fake_dev("Test Device 2", "1.0");
    cr_assert_eq(clnas_tune_write(NULL, path, &other, &t, NULL), CLNAS_OK);
    cr_expect_eq(read_file(path, &d, &r, &found, msg, sizeof msg), CLNAS_E_UNSUPPORTED);
    cr_expect(strstr(msg, "device"), "%s", msg);
}

/* Writes the sample file, replaces `from` in its text by `to` (the whole text when from is NULL;
 * cut off at `from` when to is NULL) and checks that reading fails as corrupt. */
static void expect_corrupt(const char *what, const char *from, const char *to)
{
    clnas_device_info d = fake_dev("Test Device 1", "1.0");
    char path[1200], msg[512];
    path_of(&d, path, sizeof path);
    clnas_tuning t = sample_tuning(), r;
    cr_assert_eq(clnas_tune_write(NULL, path, &d, &t, NULL), CLNAS_OK);
    char *text = strdup(slurp(path));
    char *edited = malloc(strlen(text) + (to ? strlen(to) : 0) + 1);
    cr_assert(text && edited);
    if (from && !to) { /* cut the file off where `from` starts */
        char *at = strstr(text, from);
        cr_assert_not_null(at, "%s: \"%s\" not in the file", what, from);
        *at = 0;
        strcpy(edited, text);
    } else if (from) {
        char *at = strstr(text, from);
        cr_assert_not_null(at, "%s: \"%s\" not in the file", what, from);
        size_t pre = (size_t)(at - text);
        memcpy(edited, text, pre);
        strcpy(edited + pre, to);
        strcat(edited, at + strlen(from));
    } else {
        strcpy(edited, to);
    }
    tu_write_file(path, edited);
    memset(&r, 0, sizeof r);
    int found;
    clnas_status got = read_file(path, &d, &r, &found, msg, sizeof msg);
    cr_expect_eq(got, CLNAS_E_IO, "%s: read returned %s", what, clnas_status_str(got));
    cr_expect_eq(found, 1, "%s", what);
    cr_expect(strstr(msg, "corrupt") && strstr(msg, path), "%s: message \"%s\"", what, msg);
    cr_expect_str_eq(clnas_device_tuning_source(&d), "none", "%s", what);
    free(text);
    free(edited);
}

Test(file, corrupt_is_ignored_with_a_reason)
{
    expect_corrupt("garbage", NULL, "\x01\x02 this is not a tuning file\n");
    expect_corrupt("empty", NULL, "");
    expect_corrupt("no format", "format=1\n", "");
    expect_corrupt("newer format", "format=1\n", "format=99\n");
    expect_corrupt("line without =", "gemm=tuned\n", "gemm tuned\n");
    expect_corrupt("bad gemm", "gemm=tuned\n", "gemm=maybe\n");
    expect_corrupt("not a number", "xgemm.KWG=32\n", "xgemm.KWG=32x\n");
    expect_corrupt("negative", "xgemm.KWG=32\n", "xgemm.KWG=-32\n");
    expect_corrupt("missing parameter", "direct.WGD=32\n", "");
    expect_corrupt("breaks constraints", "xgemm.MWG=32\n", "xgemm.MWG=48\n");
    expect_corrupt("truncated", "direct.NDIMBD=", NULL);
    expect_corrupt("truncated in a value", "direct.NDIMBD=8", "direct.NDIMBD=");
    expect_corrupt("bad budget", "seed_budget_bytes=123456789\n", "seed_budget_bytes=lots\n");
    expect_corrupt("bad value", "param.other.value=0.125\n", "param.other.value=1/8\n");
    expect_corrupt("infinite value", "param.other.value=0.125\n", "param.other.value=inf\n");
    expect_corrupt("bad key", "param.other.value=0.125\n", "param.other value=0.125\n");
    expect_corrupt("bad kernel variant", "kernels=gpu\n", "kernels=fast\n");
    expect_corrupt("empty kernel variant", "kernels=gpu\n", "kernels=\n");
}

Test(file, unknown_keys_and_comments_are_fine)
{
    clnas_device_info d = fake_dev("Test Device 1", "1.0");
    char path[1200], msg[512];
    path_of(&d, path, sizeof path);
    clnas_tuning t = sample_tuning(), r;
    cr_assert_eq(clnas_tune_write(NULL, path, &d, &t, "measured.anything=1.5\nfuture.key=x\n# comment\n\n"), CLNAS_OK);
    int found;
    cr_expect_eq(read_file(path, &d, &r, &found, msg, sizeof msg), CLNAS_OK, "%s", msg);
    cr_expect_eq(budget_of(&r), 123456789.0);
}

Test(file, write_is_atomic)
{
    clnas_device_info d = fake_dev("Test Device 1", "1.0");
    char path[1200], tunedir[1300], msg[512];
    path_of(&d, path, sizeof path);
    snprintf(tunedir, sizeof tunedir, "%s/tune", g_dir);
    clnas_tuning t = sample_tuning(), r;
    cr_assert_eq(clnas_tune_write(NULL, path, &d, &t, NULL), CLNAS_OK);
    cr_assert_eq(clnas_tuning_set_param(NULL, &t, CLNAS_NTK_SEED_BUDGET_KEY, 42), CLNAS_OK);
    cr_assert_eq(clnas_tune_write(NULL, path, &d, &t, NULL), CLNAS_OK);
    /* replaced through a temporary file and rename: the complete new file, nothing left over */
    cr_expect_eq(count_entries(tunedir), 1, "only the tuning file remains in %s", tunedir);
    int found;
    cr_assert_eq(read_file(path, &d, &r, &found, msg, sizeof msg), CLNAS_OK, "%s", msg);
    cr_expect_eq(budget_of(&r), 42.0);
    /* a failed write leaves the old file as it was */
    cr_assert_eq(chmod(tunedir, 0555), 0);
    cr_assert_eq(clnas_tuning_set_param(NULL, &t, CLNAS_NTK_SEED_BUDGET_KEY, 7), CLNAS_OK);
    clnas_status st = clnas_tune_write(NULL, path, &d, &t, NULL);
    chmod(tunedir, 0755);
    if (geteuid() != 0) { /* root writes anyway */
        cr_expect_eq(st, CLNAS_E_IO);
        cr_assert_eq(read_file(path, &d, &r, &found, msg, sizeof msg), CLNAS_OK, "%s", msg);
        cr_expect_eq(budget_of(&r), 42.0);
    }
    /* a path that cannot be created at all is an error, not a crash */
    char blocked[1400];
    snprintf(blocked, sizeof blocked, "%s/tune/%s/x.conf", g_dir, strrchr(path, '/') + 1);
    cr_expect_eq(clnas_tune_write(NULL, blocked, &d, &t, NULL), CLNAS_E_IO);
    /* nothing that breaks CLBlast's constraints is ever written */
    t.xgemm[6] = 48;
    cr_expect_eq(clnas_tune_write(NULL, path, &d, &t, NULL), CLNAS_E_INVALID_ARG);
}

Test(file, no_cache_dir_no_file)
{
    clnas_device_info d = fake_dev("Test Device 1", "1.0");
    char path[1200];
    cr_assert_eq(setenv("CLNAS_CACHE_DIR", "off", 1), 0);
    char err[256];
    cr_expect_eq(clnas_tune_path(&d, path, sizeof path, err, sizeof err), CLNAS_E_UNSUPPORTED);
    cr_expect(strstr(err, "CLNAS_CACHE_DIR=off"), "%s", err);
    cr_expect_str_eq(clnas_device_tuning_source(&d), "none");
    int removed = -1;
    cr_expect_eq(clnas_tune_delete(&d, path, sizeof path, &removed, err, sizeof err), CLNAS_E_UNSUPPORTED);
    cr_expect_eq(removed, 0);
    /* a path that does not fit is an error with a reason, not a cut-off path */
    cr_assert_eq(setenv("CLNAS_CACHE_DIR", g_dir, 1), 0);
    cr_expect_eq(clnas_tune_path(&d, path, 20, err, sizeof err), CLNAS_E_INVALID_ARG);
    cr_expect_str_eq(path, "");
}

/* Files written before per-device values were generic: the NTK's budget as seed_budget_bytes=N.
 * They must give the same budget; and files written now keep that line for older readers. */
Test(file, older_format_is_read_and_written)
{
    clnas_device_info d = fake_dev("Test Device 1", "1.0");
    char path[1200], msg[512], tunedir[1300];
    path_of(&d, path, sizeof path);
    snprintf(tunedir, sizeof tunedir, "%s/tune", g_dir);
    mkdir(tunedir, 0755);
    char old[2048];
    snprintf(old, sizeof old,
             "# clnas GEMM tuning of one OpenCL device, written by `clnas tune`.\n"
             "format=1\nplatform=Test Platform\ndevice=Test Device 1\ndriver=1.0\nclblast=%s\ngemm=default\n"
             "seed_budget_bytes=316318464\nmeasured.date=2026-11-29T10:00:00Z\n", clnas_clblast_version());
    tu_write_file(path, old);
    clnas_tuning r;
    int found;
    memset(&r, 0x5a, sizeof r);
    cr_assert_eq(read_file(path, &d, &r, &found, msg, sizeof msg), CLNAS_OK, "%s", msg);
    cr_expect_eq(r.nparams, 1);
    cr_expect_eq(budget_of(&r), 316318464.0);
    cr_expect_eq(r.kernels, CLNAS_KERNELS_RULE, "no kernels line: the default rule");
    /* 0 meant "no budget" */
    char *z = strstr(old, "316318464");
    memcpy(z, "0\n", 3);
    z[2] = 0;
    strcat(old, "measured.mode=quick\n");
    tu_write_file(path, old);
    cr_assert_eq(read_file(path, &d, &r, &found, msg, sizeof msg), CLNAS_OK, "%s", msg);
    cr_expect_eq(r.nparams, 0);
    cr_expect_eq(budget_of(&r), -1);
    /* written now: the param.* line and the older spelling, which an older reader understands */
    clnas_tuning t = sample_tuning();
    cr_assert_eq(clnas_tune_write(NULL, path, &d, &t, NULL), CLNAS_OK);
    const char *text = slurp(path);
    cr_expect(strstr(text, "\nparam.ntk.seed_budget_bytes=123456789\n"), "%s", text);
    cr_expect(strstr(text, "\nseed_budget_bytes=123456789\n"), "%s", text);
    cr_expect(strstr(text, "\nparam.other.value=0.125\n"), "%s", text);
    /* the param.* line wins over the older spelling, wherever it stands */
    char both[2048];
    snprintf(both, sizeof both, "%sseed_budget_bytes=5\n", text);
    tu_write_file(path, both);
    cr_assert_eq(read_file(path, &d, &r, &found, msg, sizeof msg), CLNAS_OK, "%s", msg);
    cr_expect_eq(budget_of(&r), 123456789.0);
    /* a budget that is no whole number is not written the older way (an older reader would stop) */
    cr_assert_eq(clnas_tuning_set_param(NULL, &t, CLNAS_NTK_SEED_BUDGET_KEY, 1.5), CLNAS_OK);
    cr_assert_eq(clnas_tune_write(NULL, path, &d, &t, NULL), CLNAS_OK);
    cr_expect_null(strstr(slurp(path), "\nseed_budget_bytes="), "%s", slurp(path));
    cr_assert_eq(read_file(path, &d, &r, &found, msg, sizeof msg), CLNAS_OK, "%s", msg);
    cr_expect_eq(budget_of(&r), 1.5);
}

Test(file, per_device_values)
{
    clnas_tuning t;
    memset(&t, 0, sizeof t);
    cr_expect_eq(clnas_tuning_set_param(NULL, &t, "a.b", 1), CLNAS_OK);
    cr_expect_eq(clnas_tuning_set_param(NULL, &t, "a.b", 2), CLNAS_OK, "setting again replaces");
    cr_expect_eq(t.nparams, 1);
    cr_expect_eq(clnas_tuning_set_param(NULL, &t, "has space", 1), CLNAS_E_INVALID_ARG);
    cr_expect_eq(clnas_tuning_set_param(NULL, &t, "", 1), CLNAS_E_INVALID_ARG);
    cr_expect_eq(clnas_tuning_set_param(NULL, &t, "x", NAN), CLNAS_E_INVALID_ARG);
    char key[32];
    for (int i = 1; i < CLNAS_TUNE_MAX_PARAMS; i++) {
        snprintf(key, sizeof key, "k%d", i);
        cr_expect_eq(clnas_tuning_set_param(NULL, &t, key, i), CLNAS_OK);
    }
    cr_expect_eq(clnas_tuning_set_param(NULL, &t, "one.too.many", 1), CLNAS_E_INVALID_ARG);
    double v = 0;
    cr_expect(clnas_tuning_param(&t, "a.b", &v) && v == 2);
    cr_expect(clnas_tuning_param(&t, "k15", &v) && v == 15);
}

/* The shipped PoCL default carries the budget it always had (301.7 MiB: 4 / 8 seeds). */
Test(file, shipped_pocl_default_keeps_its_budget)
{
    clnas_device_info d = fake_dev("pthread-skylake-avx512-Intel(R) Xeon(R) Processor", "3.1");
    snprintf(d.platform_name, sizeof d.platform_name, "Portable Computing Language");
    d.type = "CPU";
    clnas_tuning t;
    cr_assert(clnas_tune_shipped(&d, &t));
    cr_expect_eq(t.gemm, 1);
    cr_expect_eq(budget_of(&t), 316318464.0);
}

/* ------------------------------------------------------------------ what a context applies */

TestSuite(context, .init = setup, .fini = teardown);

static clnas_ctx *open_ctx(void)
{
    clnas_ctx *ctx = NULL;
    clnas_status st = clnas_ctx_create(getenv("CLNAS_TEST_DEVICE"), &ctx);
    cr_assert_eq(st, CLNAS_OK, "no usable OpenCL device: %s", clnas_ctx_errmsg(ctx));
    return ctx;
}

static const char *shipped_or_none(const clnas_device_info *d)
{
    clnas_tuning t;
    return clnas_tune_shipped(d, &t) ? "shipped" : "none";
}

Test(context, file_beats_shipped_and_sets_the_seed_budget)
{
    clnas_ctx *ctx = open_ctx();
    const clnas_device_info *d = clnas_ctx_device(ctx);
    cr_expect_str_eq(clnas_ctx_tuning_source(ctx), shipped_or_none(d));
    cr_expect_str_eq(clnas_ctx_tuning_note(ctx), "");
    char path[1200];
    path_of(d, path, sizeof path);
    clnas_tuning keep;
    memset(&keep, 0, sizeof keep);
    /* budget for exactly 3 seeds of the single path at batch 72 */
    clnas_nb201_arch arch;
    clnas_nb201_config cfg;
    clnas_net *net = NULL;
    cr_assert_eq(clnas_nb201_parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
                                   &arch, NULL, 0), CLNAS_OK);
    clnas_nb201_config_ntk(&cfg, 10, 32);
    cr_assert_eq(clnas_nb201_build(&cfg, &arch, &net, NULL, 0), CLNAS_OK);
    const double per_seed = (double)net->act_per_sample * 72 * 4;
    cr_assert_eq(clnas_tuning_set_param(ctx, &keep, CLNAS_NTK_SEED_BUDGET_KEY, 3.5 * per_seed), CLNAS_OK);
    cr_assert_eq(clnas_tune_write(ctx, path, d, &keep, NULL), CLNAS_OK);
    clnas_ctx_destroy(ctx);

    ctx = open_ctx();
    cr_expect_str_eq(clnas_ctx_tuning_source(ctx), "file");
    double b = 0;
    cr_expect(clnas_ctx_device_param(ctx, CLNAS_NTK_SEED_BUDGET_KEY, &b) && b == 3.5 * per_seed);
    clnas_ntk_config nc = {72, 0, 0};
    clnas_ntk *ntk = NULL;
    cr_assert_eq(clnas_ntk_create(ctx, net, &nc, &ntk), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    cr_expect_eq(clnas_ntk_seeds(ntk), 3, "the tuned budget gives 3 seeds, got %d", clnas_ntk_seeds(ntk));
    clnas_ntk_destroy(ntk);
    /* an explicit seed count and CLNAS_SEEDS still win over the budget */
    nc.seeds = 5;
    cr_assert_eq(clnas_ntk_create(ctx, net, &nc, &ntk), CLNAS_OK);
    cr_expect_eq(clnas_ntk_seeds(ntk), 5);
    clnas_ntk_destroy(ntk);
    nc.seeds = 0;
    setenv("CLNAS_SEEDS", "2", 1);
    cr_assert_eq(clnas_ntk_create(ctx, net, &nc, &ntk), CLNAS_OK);
    cr_expect_eq(clnas_ntk_seeds(ntk), 2);
    clnas_ntk_destroy(ntk);
    unsetenv("CLNAS_SEEDS");
    clnas_ctx_destroy(ctx);

    /* CLNAS_TUNE=off: nothing applied, the built-in 256 MiB budget */
    setenv("CLNAS_TUNE", "off", 1);
    ctx = open_ctx();
    cr_expect_str_eq(clnas_ctx_tuning_source(ctx), "off");
    cr_expect_str_eq(clnas_device_tuning_source(clnas_ctx_device(ctx)), "off");
    cr_expect_not(clnas_ctx_device_param(ctx, CLNAS_NTK_SEED_BUDGET_KEY, &b));
    cr_assert_eq(clnas_ntk_create(ctx, net, &nc, &ntk), CLNAS_OK);
    int want = (int)(256.0 * 1048576.0 / per_seed);
    cr_expect_eq(clnas_ntk_seeds(ntk), want < 72 ? (want < 1 ? 1 : want) : 72);
    clnas_ntk_destroy(ntk);
    clnas_ctx_destroy(ctx);
    unsetenv("CLNAS_TUNE");
    clnas_net_destroy(net);
}

/* A tuning file of the older format (seed_budget_bytes=N) sets the NTK's seeds as it did. */
Test(context, older_format_budget_reaches_the_ntk)
{
    clnas_ctx *ctx = open_ctx();
    const clnas_device_info *d = clnas_ctx_device(ctx);
    char path[1200], text[2048], tunedir[1300];
    path_of(d, path, sizeof path);
    snprintf(tunedir, sizeof tunedir, "%s/tune", g_dir);
    mkdir(tunedir, 0755);
    clnas_nb201_arch arch;
    clnas_nb201_config cfg;
    clnas_net *net = NULL;
    cr_assert_eq(clnas_nb201_parse("supernet", &arch, NULL, 0), CLNAS_OK);
    clnas_nb201_config_ntk(&cfg, 10, 32);
    cr_assert_eq(clnas_nb201_build(&cfg, &arch, &net, NULL, 0), CLNAS_OK);
    const double per_seed = (double)net->act_per_sample * 72 * 4;
    /* written as `clnas tune` wrote it before: 5 seeds of the supernet; the platform and device
       names as the driver pads them (the reader trims) */
    snprintf(text, sizeof text, "format=1\nplatform=%s\ndevice=%s\ndriver=%s\nclblast=%s\ngemm=default\n"
             "seed_budget_bytes=%.0f\nmeasured.mode=full\n", d->platform_name, d->name, d->driver_version,
             clnas_clblast_version(), 5 * per_seed);
    tu_write_file(path, text);
    clnas_ctx_destroy(ctx);
    ctx = open_ctx();
    cr_expect_str_eq(clnas_ctx_tuning_source(ctx), "file", "note: %s", clnas_ctx_tuning_note(ctx));
    clnas_ntk_config nc = {72, 0, 0};
    clnas_ntk *ntk = NULL;
    cr_assert_eq(clnas_ntk_create(ctx, net, &nc, &ntk), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    cr_expect_eq(clnas_ntk_seeds(ntk), 5);
    clnas_ntk_destroy(ntk);
    clnas_ctx_destroy(ctx);
    clnas_net_destroy(net);
}

Test(context, corrupt_file_is_reported_and_passed_over)
{
    clnas_ctx *ctx = open_ctx();
    const clnas_device_info *d = clnas_ctx_device(ctx);
    char path[1200], tunedir[1300];
    path_of(d, path, sizeof path);
    snprintf(tunedir, sizeof tunedir, "%s/tune", g_dir);
    mkdir(tunedir, 0755);
    tu_write_file(path, "format=1\ngemm=tuned\nxgemm.KWG=banana\n");
    clnas_ctx_destroy(ctx);
    ctx = open_ctx();
    cr_expect_str_eq(clnas_ctx_tuning_source(ctx), shipped_or_none(clnas_ctx_device(ctx)));
    cr_expect(strstr(clnas_ctx_tuning_note(ctx), "corrupt") != NULL, "note: \"%s\"", clnas_ctx_tuning_note(ctx));
    clnas_ctx_destroy(ctx);
}

/* ------------------------------------------------------------------ the kernel variant */

/* A device's own variant name for $CLNAS_KERNEL_VARIANT. */
static const char *env_name(int v) { return v == CLNAS_KERNELS_CPU ? "cpu" : "gpu"; }

/* $CLNAS_KERNEL_VARIANT as the test found it, restored by restore_variant_env. */
static char g_variant_env[32];
static int g_had_variant_env;
static void save_variant_env(void)
{
    const char *e = getenv("CLNAS_KERNEL_VARIANT");
    g_had_variant_env = e != NULL;
    snprintf(g_variant_env, sizeof g_variant_env, "%s", e ? e : "");
    unsetenv("CLNAS_KERNEL_VARIANT");
}
static void restore_variant_env(void)
{
    if (g_had_variant_env) setenv("CLNAS_KERNEL_VARIANT", g_variant_env, 1);
    else unsetenv("CLNAS_KERNEL_VARIANT");
}

/* Precedence: $CLNAS_KERNEL_VARIANT, then the tuning file's kernels= choice, then the default
 * rule; a corrupt choice passes the file over with a note naming it. */
Test(context, kernel_variant_env_beats_tuned_beats_rule)
{
    save_variant_env();
    clnas_ctx *ctx = open_ctx();
    const clnas_device_info *d = clnas_ctx_device(ctx);
    const int rule = strcmp(d->type, "CPU") == 0 ? CLNAS_KERNELS_CPU : CLNAS_KERNELS_GPU;
    const int other = rule == CLNAS_KERNELS_CPU ? CLNAS_KERNELS_GPU : CLNAS_KERNELS_CPU;
    const char *src = NULL;
    cr_expect_eq(clnas_kernel_variant(ctx, &src), rule);
    cr_expect_str_eq(src, "default rule");
    /* a tuning that chose the other variant (GEMM and values as the device has them now) */
    clnas_tuning t;
    memset(&t, 0, sizeof t);
    clnas_tune_shipped(d, &t);
    t.kernels = other;
    char path[1200];
    path_of(d, path, sizeof path);
    cr_assert_eq(clnas_tune_write(ctx, path, d, &t, NULL), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    clnas_ctx_destroy(ctx);
    ctx = open_ctx();
    cr_expect_str_eq(clnas_ctx_tuning_source(ctx), "file", "note: %s", clnas_ctx_tuning_note(ctx));
    cr_expect_eq(clnas_kernel_variant(ctx, &src), other);
    cr_expect_str_eq(src, "tuned");
    /* the environment wins, whatever the file says; a value it does not know is ignored */
    setenv("CLNAS_KERNEL_VARIANT", env_name(rule), 1);
    cr_expect_eq(clnas_kernel_variant(ctx, &src), rule);
    cr_expect_str_eq(src, "env");
    setenv("CLNAS_KERNEL_VARIANT", env_name(other), 1);
    cr_expect_eq(clnas_kernel_variant(ctx, &src), other);
    cr_expect_str_eq(src, "env");
    setenv("CLNAS_KERNEL_VARIANT", "fastest", 1);
    cr_expect_eq(clnas_kernel_variant(ctx, &src), other);
    cr_expect_str_eq(src, "tuned");
    unsetenv("CLNAS_KERNEL_VARIANT");
    clnas_ctx_destroy(ctx);
    /* CLNAS_TUNE=off applies no tuning: the default rule */
    setenv("CLNAS_TUNE", "off", 1);
    ctx = open_ctx();
    cr_expect_eq(clnas_kernel_variant(ctx, &src), rule);
    cr_expect_str_eq(src, "default rule");
    clnas_ctx_destroy(ctx);
    unsetenv("CLNAS_TUNE");
    /* a corrupt choice: the whole file is passed over, and the note names the file and the line */
    char *text = strdup(slurp(path));
    char *at = strstr(text, "kernels=");
    cr_assert_not_null(at, "%s", text);
    char edited[4096];
    snprintf(edited, sizeof edited, "%.*skernels=maybe\n%s", (int)(at - text), text, strchr(at, '\n') + 1);
    tu_write_file(path, edited);
    free(text);
    ctx = open_ctx();
    const char *note = clnas_ctx_tuning_note(ctx);
    cr_expect(strstr(note, path) && strstr(note, "corrupt") && strstr(note, "kernels") && strstr(note, "maybe"),
              "note: \"%s\"", note);
    cr_expect_str_neq(clnas_ctx_tuning_source(ctx), "file");
    cr_expect_eq(clnas_kernel_variant(ctx, &src), rule);
    cr_expect_str_eq(src, "default rule");
    clnas_ctx_destroy(ctx);
    restore_variant_env();
}

/* The two variants compute the same kappa (and Theta) up to float rounding: the same proxy
 * supernet, weights and images, one NTK, switched between evaluations. */
Test(context, both_kernel_variants_give_the_same_kappa, .timeout = 120)
{
    save_variant_env();
    clnas_ctx *ctx = open_ctx();
    clnas_nb201_arch arch;
    clnas_nb201_config cfg;
    clnas_net *net = NULL;
    cr_assert_eq(clnas_nb201_parse("supernet", &arch, NULL, 0), CLNAS_OK);
    clnas_nb201_config_ntk(&cfg, 10, 32);
    cr_assert_eq(clnas_nb201_build(&cfg, &arch, &net, NULL, 0), CLNAS_OK);
    const int B = 16;
    float *p = malloc(clnas_net_nparams(net) * sizeof *p), *x = malloc((size_t)B * 3 * 32 * 32 * sizeof *x);
    double *theta[2] = {malloc((size_t)B * B * sizeof(double)), malloc((size_t)B * B * sizeof(double))};
    cr_assert(p && x && theta[0] && theta[1]);
    clnas_net_init_params(net, 7, 0, CLNAS_INIT_PYTORCH, p);
    for (size_t i = 0; i < (size_t)B * 3 * 32 * 32; i++) x[i] = (float)(((i * 2654435761u) >> 8) % 2001) / 1000.0f - 1.0f;
    clnas_ntk_config nc = {B, 3, 0}; /* 3 seeds in flight: a last pass of one seed too */
    clnas_ntk *ntk = NULL;
    cr_assert_eq(clnas_ntk_create(ctx, net, &nc, &ntk), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    cr_assert_eq(clnas_ntk_set_params(ntk, p), CLNAS_OK);
    clnas_kappa k[2];
    for (int v = 0; v < 2; v++) {
        setenv("CLNAS_KERNEL_VARIANT", v ? "gpu" : "cpu", 1);
        cr_assert_eq(clnas_ntk_eval(ntk, x, &k[v], theta[v], NULL, NULL, NULL, NULL), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
        cr_assert_eq(k[v].status, CLNAS_KAPPA_OK);
    }
    double tmax = 0, dmax = 0;
    for (int i = 0; i < B * B; i++) {
        tmax = fmax(tmax, fabs(theta[0][i]));
        dmax = fmax(dmax, fabs(theta[0][i] - theta[1][i]));
    }
    cr_expect(dmax <= 1e-5 * tmax, "Theta: largest difference %g of a largest entry %g", dmax, tmax);
    cr_expect(fabs(k[0].kappa - k[1].kappa) <= 1e-4 * k[0].kappa, "kappa: cpu-shaped %.9g, gpu-shaped %.9g", k[0].kappa,
              k[1].kappa);
    cr_log_info("kappa cpu %.9g gpu %.9g; Theta max diff %g of %g", k[0].kappa, k[1].kappa, dmax, tmax);
    clnas_ntk_destroy(ntk);
    clnas_net_destroy(net);
    free(p);
    free(x);
    free(theta[0]);
    free(theta[1]);
    clnas_ctx_destroy(ctx);
    restore_variant_env();
}

/* ------------------------------------------------------------------ GEMM with tuned parameters */


/* The supernet's Gram (72 x 72 x 14364, B transposed, as the NTK runs it) and small odd shapes
 * in every transpose combination. */
static void check_shapes(const clnas_tuning *t)
{
    clnas_ctx *ctx = tu_ctx();
    cr_assert_eq(clnas_tune_apply(ctx, t), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    tu_check_gemm(ctx, 0, 1, 72, 72, 14364, 11, 2e-5);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) tu_check_gemm(ctx, ta, tb, 7, 5, 13, 12 + (uint64_t)(2 * ta + tb), 2e-5);
    tu_check_gemm(ctx, 0, 0, 65, 33, 100, 20, 2e-5);
}

/* CLBlast's 2D-register kernel (GEMMK=1) with 24x24 tiles, as measured best on PoCL */
static clnas_tuning gemmk1_tuning(void)
{
    clnas_tuning t = {1,
                      {1, 4, 1, 1, 2, 2, 24, 2, 2, 24, 0, 0, 0, 0, 4, 4},
                      {2, 4, 4, 4, 4, 0, 0, 4, 4, 32},
                      288,
                      0,
                      {{"", 0}},
                      CLNAS_KERNELS_RULE};
    return t;
}

TestSuite(tuned_gemm, .init = setup, .fini = teardown);

/* Both kernels, forced by the switch-over size: 0 sends every GEMM to Xgemm (padded copies),
 * 4096 every GEMM to XgemmDirect. */
Test(tuned_gemm, indirect_kernel_is_correct)
{
    clnas_tuning t = sample_tuning();
    t.min_indirect = 0;
    check_shapes(&t);
}
Test(tuned_gemm, indirect_2d_register_kernel_is_correct)
{
    clnas_tuning t = gemmk1_tuning();
    t.min_indirect = 0;
    check_shapes(&t);
}
Test(tuned_gemm, direct_kernel_is_correct)
{
    clnas_tuning t = sample_tuning();
    t.min_indirect = 4096;
    check_shapes(&t);
}
/* What this device gets shipped (the GEMMK=1 set above when there is no entry for it). */
Test(tuned_gemm, shipped_default_is_correct)
{
    clnas_tuning t = gemmk1_tuning();
    clnas_tune_shipped(clnas_ctx_device(tu_ctx()), &t);
    check_shapes(&t);
}

Test(tuned_gemm, broken_parameters_are_refused)
{
    clnas_ctx *ctx = tu_ctx();
    clnas_tuning t = sample_tuning();
    t.direct[9] = 24; /* WGD not a multiple of MDIMCD * VWMD = 16 */
    cr_expect_eq(clnas_tune_apply(ctx, &t), CLNAS_E_INVALID_ARG);
    cr_expect(strstr(clnas_ctx_errmsg(ctx), "constraints"), "%s", clnas_ctx_errmsg(ctx));
}

/* ------------------------------------------------------------------ the command */

static int run(const char *args, char **out)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "CLNAS_CACHE_DIR='%s' '%s' %s 2>&1", g_dir, CLNAS_BIN, args);
    return tu_run(cmd, out);
}

TestSuite(cli, .init = setup, .fini = teardown);

/* The same with stdout alone in *out (stderr goes to a file in the test's folder, shown on failure). */
static int run_stdout(const char *args, char **out, char *errfile, size_t len)
{
    char cmd[4096];
    snprintf(errfile, len, "%s/stderr.txt", g_dir);
    snprintf(cmd, sizeof cmd, "CLNAS_CACHE_DIR='%s' '%s' %s 2>'%s'", g_dir, CLNAS_BIN, args, errfile);
    return tu_run(cmd, out);
}

Test(cli, bad_options_are_clear_errors)
{
    char *out = NULL;
    cr_expect_eq(run("tune --bogus", &out), 2);
    cr_expect(strstr(out, "unknown option") && strstr(out, "--bogus"), "%s", out);
    free(out);
    cr_expect_eq(run("tune --repeat 0", &out), 2);
    cr_expect(strstr(out, "--repeat"), "%s", out);
    free(out);
    cr_expect_eq(run("tune --repeat 101", &out), 2);
    cr_expect(strstr(out, "[1, 100]"), "%s", out);
    free(out);
    cr_expect_eq(run("tune --device no-such-device-xyz", &out), 1);
    cr_expect(strstr(out, "no-such-device-xyz"), "%s", out);
    free(out);
    cr_expect_eq(run("tune --seed-counts 0,4", &out), 2);
    cr_expect(strstr(out, "--seed-counts"), "%s", out);
    free(out);
    cr_expect_eq(run("tune --seed-counts 4,4", &out), 2);
    free(out);
    cr_expect_eq(run("tune --seed-counts 2 --no-seeds", &out), 2);
    cr_expect(strstr(out, "contradict"), "%s", out);
    free(out);
    /* the old spelling --seeds LIST: same checks, and a warning that names the new one */
    cr_expect_eq(run("tune --seeds 0,4", &out), 2);
    cr_expect(strstr(out, "--seeds"), "%s", out);
    free(out);
    cr_expect_eq(run("tune --seeds 2 --no-seeds", &out), 2);
    cr_expect(strstr(out, "warning") && strstr(out, "--seed-counts"), "%s", out);
    free(out);
    cr_expect_eq(run("tune --seeds 0-4", &out), 2, "a range of random seeds is not a list of counts");
    cr_expect(strstr(out, "--seed-counts"), "%s", out);
    free(out);
    cr_expect_eq(run("tune --help", &out), 0);
    cr_expect(strstr(out, "usage: clnas tune") && strstr(out, "--seed-counts") && strstr(out, "--no-seeds") &&
              strstr(out, "--budget") && strstr(out, "--reset") && strstr(out, "--repeat") && strstr(out, "CLNAS_TUNE=off") &&
              strstr(out, "--kernels-only") && strstr(out, "--no-kernels") && strstr(out, "CLNAS_KERNEL_VARIANT"),
              "%s", out);
    cr_expect_null(strstr(out, "\n  --seeds "), "the old spelling is not listed among the options:\n%s", out);
    free(out);
}

Test(cli, quick_tune_writes_a_file_that_later_runs_use, .timeout = 600)
{
    char *out = NULL, errfile[1300];
    /* one seed count keeps this test short; the seed sweep itself is the same code for any list */
    int rc = run_stdout("tune --quick --seed-counts 4 --kernel-batch 16 --json", &out, errfile, sizeof errfile);
    cr_assert_eq(rc, 0, "clnas tune --quick failed:\n%s\n%s", out, slurp(errfile));
    json_error_t e;
    json_t *j = json_loads(out, JSON_REJECT_DUPLICATES, &e);
    cr_assert_not_null(j, "not one JSON object (%s, line %d col %d):\n%s", e.text, e.line, e.column, out);
    char path[1200], msg[512];
    clnas_ctx *ctx = open_ctx();
    const clnas_device_info *d = clnas_ctx_device(ctx);
    path_of(d, path, sizeof path);
    cr_expect_str_eq(json_string_value(json_object_get(j, "device")), d->name);
    cr_expect_str_eq(json_string_value(json_object_get(j, "tuning_file")), path);
    cr_expect_str_eq(json_string_value(json_object_get(j, "mode")), "quick");
    const json_t *shapes = json_object_get(j, "shapes");
    cr_assert_eq(json_array_size(shapes), 3, "%s", out);
    for (size_t i = 0; i < 3; i++)
        cr_expect_gt(json_number_value(json_object_get(json_array_get(shapes, i), "clblast_gflops")), 0, "%s", out);
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(shapes, 1), "m")), 72);
    const json_t *seeds = json_object_get(j, "seeds");
    cr_assert(json_is_object(seeds), "%s", out);
    cr_expect(json_array_size(json_object_get(seeds, "tested")) == 1 &&
              json_integer_value(json_array_get(json_object_get(seeds, "tested"), 0)) == 4, "%s", out);
    const json_int_t budget = json_integer_value(json_object_get(seeds, "budget_bytes"));
    cr_expect_gt(budget, 0, "%s", out);
    cr_expect_eq(json_array_size(json_object_get(seeds, "nets")), 2, "%s", out);
    cr_expect(json_is_array(json_object_get(j, "candidates")) && json_array_size(json_object_get(j, "candidates")) > 0);
    /* the kernel variants were timed and the faster stored with the GEMM parameters */
    const json_t *kj = json_object_get(j, "kernels");
    cr_assert(json_is_true(json_object_get(kj, "measured")), "%s", out);
    const char *chosen = json_string_value(json_object_get(kj, "chosen"));
    cr_assert(chosen && (!strcmp(chosen, "cpu") || !strcmp(chosen, "gpu")), "%s", out);
    const json_int_t rounds = json_integer_value(json_object_get(kj, "rounds"));
    cr_expect(rounds == 2 || rounds == 1, "--quick: 2 rounds (1 after a clear cut)\n%s", out);
    cr_expect_eq(json_integer_value(json_object_get(kj, "batch")), 16, "%s", out);
    for (int v = 0; v < 2; v++) {
        const json_t *ve = json_object_get(kj, v ? "gpu" : "cpu");
        cr_expect(json_number_value(json_object_get(ve, "seconds")) > 0 && json_number_value(json_object_get(ve, "kappa")) > 1,
                  "%s", out);
    }
    /* the file is there, readable, and what the device now reports */
    cr_expect_str_eq(clnas_ctx_tuning_source(ctx), "file");
    clnas_tuning t;
    int found;
    cr_expect_eq(read_file(path, d, &t, &found, msg, sizeof msg), CLNAS_OK, "%s", msg);
    cr_expect_eq(budget_of(&t), (double)budget);
    double b = 0;
    cr_expect(clnas_ctx_device_param(ctx, CLNAS_NTK_SEED_BUDGET_KEY, &b) && b == (double)budget);
    cr_expect(strstr(slurp(path), "measured.gflops.gram_supernet.clblast="), "%s", slurp(path));
    cr_expect_eq(t.kernels, strcmp(chosen, "cpu") == 0 ? CLNAS_KERNELS_CPU : CLNAS_KERNELS_GPU);
    clnas_ctx_destroy(ctx);
    json_decref(j);
    free(out);
    cr_expect_eq(run("devices --json", &out), 0);
    cr_expect(strstr(out, "\"gemm_tuning\": \"file\""), "%s", out);
    free(out);
    /* --reset removes it (and says so in JSON) */
    cr_expect_eq(run_stdout("tune --reset --json", &out, errfile, sizeof errfile), 0, "%s", slurp(errfile));
    j = json_loads(out, JSON_REJECT_DUPLICATES, &e);
    cr_assert_not_null(j, "%s", out);
    cr_expect(json_is_true(json_object_get(j, "removed")), "%s", out);
    cr_expect_str_eq(json_string_value(json_object_get(j, "tuning_file")), path);
    json_decref(j);
    free(out);
    struct stat sb;
    cr_expect_neq(stat(path, &sb), 0, "%s still exists after --reset", path);
}

/* --kernels-only: the variants alone; the GEMM part and the values of what the device had (here the
 * shipped default, or nothing) are written back unchanged next to the choice. */
Test(cli, kernels_only_keeps_gemm_and_values, .timeout = 300)
{
    char *out = NULL, errfile[1300], path[1200], msg[512];
    int rc = run_stdout("tune --kernels-only --repeat 1 --kernel-batch 16 --json", &out, errfile, sizeof errfile);
    cr_assert_eq(rc, 0, "clnas tune --kernels-only failed:\n%s\n%s", out, slurp(errfile));
    json_error_t e;
    json_t *j = json_loads(out, JSON_REJECT_DUPLICATES, &e);
    cr_assert_not_null(j, "%s", out);
    cr_expect(json_is_false(json_object_get(j, "gemm_searched")) && json_is_null(json_object_get(j, "shapes")) &&
              json_is_null(json_object_get(j, "seeds")), "%s", out);
    const json_t *kj = json_object_get(j, "kernels");
    cr_expect_eq(json_integer_value(json_object_get(kj, "rounds")), 1, "%s", out);
    const double k0 = json_number_value(json_object_get(json_object_get(kj, "cpu"), "kappa"));
    const double k1 = json_number_value(json_object_get(json_object_get(kj, "gpu"), "kappa"));
    cr_expect(k0 > 1 && fabs(k0 - k1) <= 1e-3 * k0, "the variants' kappas: %g and %g", k0, k1);
    clnas_ctx *ctx = open_ctx();
    const clnas_device_info *d = clnas_ctx_device(ctx);
    clnas_tuning t, sh;
    memset(&sh, 0, sizeof sh);
    clnas_tune_shipped(d, &sh);
    path_of(d, path, sizeof path);
    int found;
    cr_assert_eq(read_file(path, d, &t, &found, msg, sizeof msg), CLNAS_OK, "%s", msg);
    cr_expect_eq(t.gemm, sh.gemm);
    cr_expect(memcmp(t.xgemm, sh.xgemm, sizeof t.xgemm) == 0 && memcmp(t.direct, sh.direct, sizeof t.direct) == 0);
    cr_expect_eq(budget_of(&t), budget_of(&sh));
    cr_expect(t.kernels == CLNAS_KERNELS_CPU || t.kernels == CLNAS_KERNELS_GPU);
    const char *src = NULL;
    if (!getenv("CLNAS_KERNEL_VARIANT")) {
        cr_expect_eq(clnas_kernel_variant(ctx, &src), t.kernels);
        cr_expect_str_eq(src, "tuned");
    }
    clnas_ctx_destroy(ctx);
    json_decref(j);
    free(out);
    /* the text report names the choice; contradicting options are usage errors */
    cr_expect_eq(run("tune --kernels-only --no-kernels", &out), 2);
    cr_expect(strstr(out, "--kernels-only"), "%s", out);
    free(out);
    cr_expect_eq(run("tune --kernels-only --seed-counts 2", &out), 2);
    free(out);
    cr_expect_eq(run("tune --no-kernels --kernel-batch 8", &out), 2);
    cr_expect(strstr(out, "contradict"), "%s", out);
    free(out);
    cr_expect_eq(run("tune --kernel-batch 1", &out), 2);
    free(out);
}
