/* test_runtime.c - the OpenCL runtime layer: CLBlast GEMM against the host reference, device
 * choice and its error messages, the on-disk program-binary cache (hit, miss, corruption),
 * build-failure reporting, buffer limits, and status names. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "util/testutil.h"

/* ------------------------------------------------------------------ GEMM */


static const size_t gemm_sizes[] = {1, 7, 13, 65, 100};
#define NSIZES (sizeof gemm_sizes / sizeof gemm_sizes[0])

static void gemm_all_sizes(int ta, int tb)
{
    clnas_ctx *ctx = tu_ctx();
    uint64_t seed = 1000u * (uint64_t)(2 * ta + tb);
    for (size_t a = 0; a < NSIZES; a++)
        for (size_t b = 0; b < NSIZES; b++)
            for (size_t c = 0; c < NSIZES; c++)
                tu_check_gemm(ctx, ta, tb, gemm_sizes[a], gemm_sizes[b], gemm_sizes[c], seed++, 1e-5);
}

Test(gemm, nn) { gemm_all_sizes(0, 0); }
Test(gemm, nt) { gemm_all_sizes(0, 1); }
Test(gemm, tn) { gemm_all_sizes(1, 0); }
Test(gemm, tt) { gemm_all_sizes(1, 1); }

Test(gemm, k_zero_scales_c)
{
    /* k == 0: C = beta * C (op(A) op(B) is an empty sum), as in BLAS. */
    tu_check_gemm(tu_ctx(), 0, 0, 7, 13, 0, 77, 1e-5);
    tu_check_gemm(tu_ctx(), 1, 1, 13, 7, 0, 78, 1e-5);
    /* beta == 0 overwrites C, even where it held NaN. */
    clnas_ctx *ctx = tu_ctx();
    double c[2 * 3 + 1], got[2 * 3 + 1];
    for (int i = 0; i < 7; i++) c[i] = (i % 3 == 2) ? 9.0 : (double)NAN; /* ldc 3: column 2 is padding */
    cl_mem dC = tu_upload(ctx, c, 7);
    cr_assert_eq(clnas_gemm(ctx, 0, 0, 2, 2, 0, 1.0f, dC, 0, 1, dC, 0, 2, 0.0f, dC, 0, 3), CLNAS_OK, "%s",
                 clnas_ctx_errmsg(ctx));
    tu_read(ctx, dC, 0, 7, got);
    for (int i = 0; i < 6; i++) cr_expect_eq(got[i], (i % 3 == 2) ? 9.0 : 0.0, "C[%d] = %g", i, got[i]);
    clnas_buf_free(dC);
}

Test(gemm, empty_is_a_no_op)
{
    clnas_ctx *ctx = tu_ctx();
    double c[4] = {1, 2, 3, 4}, got[4];
    cl_mem dC = tu_upload(ctx, c, 4);
    cr_assert_eq(clnas_gemm(ctx, 0, 0, 0, 2, 2, 1.0f, dC, 0, 2, dC, 0, 2, 0.0f, dC, 0, 2), CLNAS_OK);
    cr_assert_eq(clnas_gemm(ctx, 0, 0, 2, 0, 2, 1.0f, dC, 0, 2, dC, 0, 2, 0.0f, dC, 0, 2), CLNAS_OK);
    tu_read(ctx, dC, 0, 4, got);
    tu_expect_close("C untouched by empty GEMMs", got, c, 4, 0);
    clnas_buf_free(dC);
}

Test(gemm, double_precision)
{
    clnas_ctx *ctx = tu_ctx();
    const size_t m = 13, n = 7, k = 65, off = 2;
    double A[2 + 13 * 65], B[2 + 65 * 7], C[2 + 13 * 7], ref[2 + 13 * 7];
    tu_fill(A, sizeof A / sizeof A[0], 11, -1, 1);
    tu_fill(B, sizeof B / sizeof B[0], 12, -1, 1);
    tu_fill(C, sizeof C / sizeof C[0], 13, -1, 1);
    memcpy(ref, C, sizeof C);
    cl_mem dA = NULL, dB = NULL, dC = NULL;
    cr_assert_eq(clnas_buf_alloc(ctx, sizeof A, &dA), CLNAS_OK);
    cr_assert_eq(clnas_buf_alloc(ctx, sizeof B, &dB), CLNAS_OK);
    cr_assert_eq(clnas_buf_alloc(ctx, sizeof C, &dC), CLNAS_OK);
    cr_assert_eq(clnas_buf_write(ctx, dA, 0, sizeof A, A), CLNAS_OK);
    cr_assert_eq(clnas_buf_write(ctx, dB, 0, sizeof B, B), CLNAS_OK);
    cr_assert_eq(clnas_buf_write(ctx, dC, 0, sizeof C, C), CLNAS_OK);
    clnas_status st = clnas_dgemm(ctx, 0, 0, m, n, k, 0.75, dA, off, k, dB, off, n, 2.0, dC, off, n);
    if (!clnas_ctx_device(ctx)->fp64) {
        cr_expect_eq(st, CLNAS_E_UNSUPPORTED, "dgemm without fp64 must say so, got %s", clnas_status_str(st));
    } else {
        cr_assert_eq(st, CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
        cr_assert_eq(clnas_buf_read(ctx, dC, 0, sizeof C, C), CLNAS_OK);
        clnas_gemm_ref(0, 0, m, n, k, 0.75, A + off, k, B + off, n, 2.0, ref + off, n);
        tu_expect_close("dgemm", C, ref, sizeof C / sizeof C[0], 1e-12);
    }
    clnas_buf_free(dA);
    clnas_buf_free(dB);
    clnas_buf_free(dC);
}

/* ------------------------------------------------------------------ device choice */

static const char *test_device(void) { return getenv("CLNAS_TEST_DEVICE"); }

Test(device, list_is_consistent)
{
    clnas_device_info *d = NULL;
    int n = 0;
    cr_assert_eq(clnas_devices_list(&d, &n, NULL, 0), CLNAS_OK);
    cr_assert_gt(n, 0, "no OpenCL device (install pocl-opencl-icd)");
    for (int i = 0; i < n; i++) {
        cr_expect_eq(d[i].index, i);
        cr_expect_neq(d[i].type, NULL);
        cr_expect_gt(strlen(d[i].name), 0);
        cr_expect_gt(d[i].compute_units, 0);
        cr_expect_gt(d[i].global_mem_bytes, 0);
        cr_expect_gt(d[i].max_alloc_bytes, 0);
        cr_expect_leq(d[i].max_alloc_bytes, d[i].global_mem_bytes);
        if (i > 0) cr_expect_geq(d[i].platform_index, d[i - 1].platform_index);
    }
    free(d);
}

Test(device, unknown_name_lists_devices)
{
    clnas_device_info *d = NULL;
    int n = 0;
    cr_assert_eq(clnas_devices_list(&d, &n, NULL, 0), CLNAS_OK);
    cr_assert_gt(n, 0);
    clnas_ctx *ctx = NULL;
    clnas_status st = clnas_ctx_create("no-such-device-xyz", &ctx);
    cr_assert_not_null(ctx, "the context must be returned on failure so the message can be read");
    cr_expect_eq(st, CLNAS_E_NO_DEVICE, "got %s", clnas_status_str(st));
    const char *msg = clnas_ctx_errmsg(ctx);
    cr_expect(strstr(msg, "no-such-device-xyz") != NULL, "message should name the request: %s", msg);
    for (int i = 0; i < n; i++)
        cr_expect(strstr(msg, d[i].name) != NULL, "message should list device %d \"%s\": %s", i, d[i].name, msg);
    clnas_ctx_destroy(ctx);
    free(d);
}

Test(device, index_zero_opens)
{
    clnas_ctx *ctx = NULL;
    clnas_status st = clnas_ctx_create("0", &ctx);
    cr_assert_eq(st, CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    cr_expect_eq(clnas_ctx_device(ctx)->index, 0);
    cr_expect_eq(clnas_ctx_finish(ctx), CLNAS_OK);
    clnas_ctx_destroy(ctx);
}

Test(device, index_out_of_range_fails)
{
    clnas_device_info *d = NULL;
    int n = 0;
    cr_assert_eq(clnas_devices_list(&d, &n, NULL, 0), CLNAS_OK);
    free(d);
    const char *bad[3];
    char past_end[32];
    snprintf(past_end, sizeof past_end, "%d", n);
    bad[0] = past_end;
    bad[1] = "999999";
    bad[2] = "99999999999999999999999";
    for (int i = 0; i < 3; i++) {
        clnas_ctx *ctx = NULL;
        clnas_status st = clnas_ctx_create(bad[i], &ctx);
        cr_expect_eq(st, CLNAS_E_NO_DEVICE, "--device %s: got %s", bad[i], clnas_status_str(st));
        cr_expect(ctx && strstr(clnas_ctx_errmsg(ctx), "Devices that exist") != NULL,
                  "--device %s: message should list the devices: %s", bad[i], ctx ? clnas_ctx_errmsg(ctx) : "");
        clnas_ctx_destroy(ctx);
    }
}

Test(device, name_substring_is_case_insensitive)
{
    clnas_device_info *d = NULL;
    int n = 0;
    cr_assert_eq(clnas_devices_list(&d, &n, NULL, 0), CLNAS_OK);
    cr_assert_gt(n, 0);
    /* The last device's full name, upper-cased, must open a device with that name. */
    char want[256];
    snprintf(want, sizeof want, "%s", d[n - 1].name);
    for (char *c = want; *c; c++)
        if (*c >= 'a' && *c <= 'z') *c = (char)(*c - 'a' + 'A');
    clnas_ctx *ctx = NULL;
    clnas_status st = clnas_ctx_create(want, &ctx);
    cr_assert_eq(st, CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    cr_expect_str_eq(clnas_ctx_device(ctx)->name, d[n - 1].name);
    clnas_ctx_destroy(ctx);
    free(d);
}

Test(device, default_honours_clnas_device)
{
    /* Criterion runs each test in its own process, so the environment change stays here. */
    cr_assert_eq(setenv("CLNAS_DEVICE", "no-such-device-xyz", 1), 0);
    clnas_ctx *ctx = NULL;
    cr_expect_eq(clnas_ctx_create(NULL, &ctx), CLNAS_E_NO_DEVICE);
    cr_expect(strstr(clnas_ctx_errmsg(ctx), "CLNAS_DEVICE") != NULL,
              "a bad choice from the environment should say so: %s", clnas_ctx_errmsg(ctx));
    clnas_ctx_destroy(ctx);
    ctx = NULL;
    cr_assert_eq(setenv("CLNAS_DEVICE", "0", 1), 0);
    cr_expect_eq(clnas_ctx_create("", &ctx), CLNAS_OK, "%s", ctx ? clnas_ctx_errmsg(ctx) : "");
    cr_expect_eq(clnas_ctx_device(ctx)->index, 0);
    clnas_ctx_destroy(ctx);
    ctx = NULL;
    /* An explicit choice wins over the environment. */
    cr_assert_eq(setenv("CLNAS_DEVICE", "no-such-device-xyz", 1), 0);
    cr_expect_eq(clnas_ctx_create("0", &ctx), CLNAS_OK, "%s", ctx ? clnas_ctx_errmsg(ctx) : "");
    clnas_ctx_destroy(ctx);
    unsetenv("CLNAS_DEVICE");
}

Test(device, destroy_null_is_a_no_op) { clnas_ctx_destroy(NULL); }

/* ------------------------------------------------------------------ program cache */

static char g_tmpdir[256];

/* Removes dir/cl/<files>, dir/cl and dir (the cache layout is flat). */
static void rm_cache_tree(const char *dir)
{
    char sub[512];
    snprintf(sub, sizeof sub, "%s/cl", dir);
    DIR *dd = opendir(sub);
    if (dd) {
        struct dirent *e;
        while ((e = readdir(dd)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            char p[1024];
            snprintf(p, sizeof p, "%s/%s", sub, e->d_name);
            remove(p);
        }
        closedir(dd);
    }
    rmdir(sub);
    rmdir(dir);
}

static void cache_setup(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(g_tmpdir, sizeof g_tmpdir, "%s/clnas-cache-test-XXXXXX", t && *t ? t : "/tmp");
    cr_assert_not_null(mkdtemp(g_tmpdir), "mkdtemp failed");
    cr_assert_eq(setenv("CLNAS_CACHE_DIR", g_tmpdir, 1), 0);
}

static void cache_teardown(void)
{
    if (g_tmpdir[0]) rm_cache_tree(g_tmpdir);
    unsetenv("CLNAS_CACHE_DIR");
}

/* Counts files in the cache directory; *bin gets the path of the last *.bin, *tmp counts leftovers. */
static int cache_files(char *bin, size_t binlen, int *tmp)
{
    char sub[512];
    snprintf(sub, sizeof sub, "%s/cl", g_tmpdir);
    int nbin = 0;
    *tmp = 0;
    DIR *dd = opendir(sub);
    if (!dd) return 0;
    struct dirent *e;
    while ((e = readdir(dd)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l > 4 && strcmp(e->d_name + l - 4, ".bin") == 0) {
            nbin++;
            if (bin) snprintf(bin, binlen, "%s/%s", sub, e->d_name);
        } else if (strstr(e->d_name, ".tmp")) {
            (*tmp)++;
        }
    }
    closedir(dd);
    return nbin;
}

/* Opens a fresh context, gets selftest_fill, runs it, checks the output and the cache counters. */
static void run_selftest_ctx(const char *when, int want_hits, int want_compiled)
{
    clnas_ctx *ctx = NULL;
    cr_assert_eq(clnas_ctx_create(test_device(), &ctx), CLNAS_OK, "%s", ctx ? clnas_ctx_errmsg(ctx) : "");
    cl_kernel k = NULL;
    clnas_status st = clnas_kernel_get(ctx, "selftest.cl", "-DCLNAS_SELFTEST_TAG=1", "selftest_fill", &k);
    cr_assert_eq(st, CLNAS_OK, "%s: %s", when, clnas_ctx_errmsg(ctx));
    /* A second lookup is served from the in-memory cache and counts nothing. */
    cl_kernel k2 = NULL;
    cr_assert_eq(clnas_kernel_get(ctx, "selftest.cl", "-DCLNAS_SELFTEST_TAG=1", "selftest_fill", &k2), CLNAS_OK);
    cr_expect_eq(k, k2, "%s: the kernel should come from the in-memory cache", when);
    int hits = -1, compiled = -1;
    clnas_ctx_cache_stats(ctx, &hits, &compiled);
    cr_expect_eq(hits, want_hits, "%s: disk hits %d, expected %d", when, hits, want_hits);
    cr_expect_eq(compiled, want_compiled, "%s: compiled %d, expected %d", when, compiled, want_compiled);

    const int n = 37, off = 5;
    cl_mem buf = NULL;
    cr_assert_eq(clnas_buf_alloc(ctx, (size_t)(off + n + 3) * sizeof(float), &buf), CLNAS_OK);
    cr_assert_eq(clnas_buf_zero(ctx, buf, 0, (size_t)(off + n + 3) * sizeof(float)), CLNAS_OK);
    cr_assert_eq(clnas_kernel_args(ctx, k, "miif", buf, off, n, 2.5), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    size_t gws = (size_t)n, lws = 8;
    cr_assert_eq(clnas_launch(ctx, k, 1, &gws, &lws), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    double got[45], want[45];
    tu_read(ctx, buf, 0, (size_t)(off + n + 3), got);
    for (int i = 0; i < off + n + 3; i++) want[i] = (i >= off && i < off + n) ? 2.5 + (i - off) : 0.0;
    char what[128];
    snprintf(what, sizeof what, "selftest_fill output (%s)", when);
    tu_expect_close(what, got, want, (size_t)(off + n + 3), 0);
    clnas_buf_free(buf);
    clnas_ctx_destroy(ctx);
}

static void corrupt_and_check(const char *how)
{
    char bin[1024];
    int tmp = 0;
    run_selftest_ctx("first context", 0, 1);
    cr_assert_eq(cache_files(bin, sizeof bin, &tmp), 1, "the first build should store one binary");
    cr_expect_eq(tmp, 0, "no temporary files may be left behind");
    run_selftest_ctx("second context", 1, 0);

    struct stat sb;
    cr_assert_eq(stat(bin, &sb), 0);
    if (strcmp(how, "truncate") == 0) {
        cr_assert_eq(truncate(bin, sb.st_size / 2), 0);
    } else if (strcmp(how, "empty") == 0) {
        cr_assert_eq(truncate(bin, 0), 0);
    } else if (strcmp(how, "flip_payload") == 0 || strcmp(how, "flip_header") == 0) {
        FILE *f = fopen(bin, "r+b");
        cr_assert_not_null(f);
        long at = strcmp(how, "flip_header") == 0 ? 2 : (long)sb.st_size - 40;
        cr_assert_eq(fseek(f, at, SEEK_SET), 0);
        unsigned char junk[16];
        memset(junk, 0xA5, sizeof junk);
        cr_assert_eq(fwrite(junk, 1, sizeof junk, f), sizeof junk);
        fclose(f);
    } else if (strcmp(how, "garbage_with_valid_header") == 0) {
        /* Header and checksum are right, but the "binary" is not one: the driver must reject
         * it and the runtime must compile instead of failing. */
        FILE *f = fopen(bin, "r+b");
        cr_assert_not_null(f);
        unsigned char hdr[32];
        cr_assert_eq(fread(hdr, 1, sizeof hdr, f), sizeof hdr);
        unsigned char payload[256];
        for (size_t i = 0; i < sizeof payload; i++) payload[i] = (unsigned char)(i * 37 + 11);
        uint64_t n = sizeof payload, sum = clnas_fnv1a64(CLNAS_FNV_INIT, payload, sizeof payload);
        memcpy(hdr + 16, &n, 8);
        memcpy(hdr + 24, &sum, 8);
        fclose(f);
        f = fopen(bin, "wb");
        cr_assert_not_null(f);
        cr_assert_eq(fwrite(hdr, 1, sizeof hdr, f), sizeof hdr);
        cr_assert_eq(fwrite(payload, 1, sizeof payload, f), sizeof payload);
        fclose(f);
    }
    run_selftest_ctx("after corrupting the cache file", 0, 1);
    /* The rebuild replaced the bad file, so the next context hits again. */
    cr_expect_eq(cache_files(NULL, 0, &tmp), 1);
    run_selftest_ctx("after the rebuild", 1, 0);
}

TestSuite(cache, .init = cache_setup, .fini = cache_teardown);

Test(cache, truncated_file_is_rebuilt) { corrupt_and_check("truncate"); }
Test(cache, empty_file_is_rebuilt) { corrupt_and_check("empty"); }
Test(cache, flipped_payload_is_rebuilt) { corrupt_and_check("flip_payload"); }
Test(cache, flipped_header_is_rebuilt) { corrupt_and_check("flip_header"); }
Test(cache, bogus_binary_is_rebuilt)
{
    /* Mesa's rusticl (22.3) aborts the whole process (a Rust panic inside
     * clCreateProgramWithBinary) instead of returning CL_INVALID_BINARY, so the runtime cannot
     * recover there; every other corruption above is caught by clnas's own header checks. */
    clnas_ctx *ctx = NULL;
    cr_assert_eq(clnas_ctx_create(test_device(), &ctx), CLNAS_OK, "%s", ctx ? clnas_ctx_errmsg(ctx) : "");
    int rusticl = strstr(clnas_ctx_device(ctx)->platform_name, "rusticl") != NULL;
    clnas_ctx_destroy(ctx);
    if (rusticl) cr_skip_test("rusticl aborts on an invalid program binary (driver bug)");
    corrupt_and_check("garbage_with_valid_header");
}

Test(cache, off_disables_the_disk_cache)
{
    cr_assert_eq(setenv("CLNAS_CACHE_DIR", "off", 1), 0);
    run_selftest_ctx("cache off, first", 0, 1);
    run_selftest_ctx("cache off, second", 0, 1);
    int tmp = 0;
    cr_expect_eq(cache_files(NULL, 0, &tmp), 0, "CLNAS_CACHE_DIR=off must not write files");
}

Test(cache, different_defines_are_different_programs)
{
    clnas_ctx *ctx = NULL;
    cr_assert_eq(clnas_ctx_create(test_device(), &ctx), CLNAS_OK, "%s", ctx ? clnas_ctx_errmsg(ctx) : "");
    cl_kernel a = NULL, b = NULL;
    cr_assert_eq(clnas_kernel_get(ctx, "selftest.cl", "-DCLNAS_SELFTEST_TAG=1", "selftest_fill", &a), CLNAS_OK,
                 "%s", clnas_ctx_errmsg(ctx));
    cr_assert_eq(clnas_kernel_get(ctx, "selftest.cl", "-DCLNAS_SELFTEST_TAG=2", "selftest_fill", &b), CLNAS_OK,
                 "%s", clnas_ctx_errmsg(ctx));
    cr_expect_neq(a, b);
    int hits = -1, compiled = -1;
    clnas_ctx_cache_stats(ctx, &hits, &compiled);
    cr_expect_eq(compiled, 2);
    cr_expect_eq(hits, 0);
    int tmp = 0;
    cr_expect_eq(cache_files(NULL, 0, &tmp), 2);
    clnas_ctx_destroy(ctx);
}

/* ------------------------------------------------------------------ build failures */

/* The one rule for where the cache lives (program binaries in "cl", tuning files in "tune"). */
Test(cache, directory_rule)
{
    char out[256], err[256];
    setenv("CLNAS_CACHE_DIR", "/x/c", 1);
    setenv("XDG_CACHE_HOME", "/x/xdg", 1);
    setenv("HOME", "/x/home", 1);
    cr_expect_eq(clnas_cache_dir("cl", out, sizeof out, err, sizeof err), CLNAS_OK);
    cr_expect_str_eq(out, "/x/c/cl");
    setenv("CLNAS_CACHE_DIR", "", 1); /* empty: as if unset */
    cr_expect_eq(clnas_cache_dir("tune", out, sizeof out, err, sizeof err), CLNAS_OK);
    cr_expect_str_eq(out, "/x/xdg/clnas/tune");
    unsetenv("XDG_CACHE_HOME");
    cr_expect_eq(clnas_cache_dir("cl", out, sizeof out, err, sizeof err), CLNAS_OK);
    cr_expect_str_eq(out, "/x/home/.cache/clnas/cl");
    unsetenv("HOME");
    cr_expect_eq(clnas_cache_dir("cl", out, sizeof out, err, sizeof err), CLNAS_E_UNSUPPORTED);
    cr_expect(strstr(err, "HOME"), "%s", err);
    setenv("CLNAS_CACHE_DIR", "off", 1);
    cr_expect_eq(clnas_cache_dir("cl", out, sizeof out, err, sizeof err), CLNAS_E_UNSUPPORTED);
    cr_expect(strstr(err, "CLNAS_CACHE_DIR=off"), "%s", err);
    setenv("CLNAS_CACHE_DIR", "/a/rather/long/folder/name", 1);
    cr_expect_eq(clnas_cache_dir("cl", out, 10, err, sizeof err), CLNAS_E_INVALID_ARG);
    cr_expect_str_eq(out, "");
}

Test(cache, mkdir_p_creates_parents_and_reports_failures)
{
    char path[600], err[512];
    snprintf(path, sizeof path, "%s/a/b//c/", g_tmpdir);
    cr_expect_eq(clnas_mkdir_p(path, err, sizeof err), CLNAS_OK, "%s", err);
    struct stat sb;
    snprintf(path, sizeof path, "%s/a/b/c", g_tmpdir);
    cr_expect(stat(path, &sb) == 0 && S_ISDIR(sb.st_mode), "%s was not created", path);
    cr_expect_eq(clnas_mkdir_p(path, err, sizeof err), CLNAS_OK, "an existing directory is fine: %s", err);
    /* a file where a directory should be */
    snprintf(path, sizeof path, "%s/a/file", g_tmpdir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fclose(f);
    snprintf(path, sizeof path, "%s/a/file/sub", g_tmpdir);
    cr_expect_eq(clnas_mkdir_p(path, err, sizeof err), CLNAS_E_IO);
    cr_expect(strstr(err, "a/file") != NULL, "%s", err);
    cr_expect_eq(clnas_mkdir_p("", err, sizeof err), CLNAS_E_INVALID_ARG);
    snprintf(path, sizeof path, "%s/a/file", g_tmpdir);
    remove(path);
    const char *dirs[] = {"a/b/c", "a/b", "a"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", g_tmpdir, dirs[i]);
        rmdir(path);
    }
}

TestSuite(build, .init = cache_setup, .fini = cache_teardown);

Test(build, failure_reports_the_build_log)
{
    clnas_ctx *ctx = tu_ctx();
    cl_kernel k = NULL;
    clnas_status st = clnas_kernel_get(ctx, "selftest.cl", "-DCLNAS_SELFTEST_BREAK", "selftest_fill", &k);
    cr_assert_eq(st, CLNAS_E_BUILD, "got %s", clnas_status_str(st));
    const char *msg = clnas_ctx_errmsg(ctx);
    cr_expect(strstr(msg, "selftest.cl") != NULL, "message should name the file: %s", msg);
    cr_expect(strstr(msg, "-DCLNAS_SELFTEST_BREAK") != NULL, "message should name the options: %s", msg);
    cr_expect(strstr(msg, "Build log") != NULL, "message should carry the build log: %s", msg);
    cr_expect(strstr(msg, "deliberate build failure") != NULL, "the compiler's own text is missing: %s", msg);
    int tmp = 0;
    cr_expect_eq(cache_files(NULL, 0, &tmp), 0, "a failed build must not be cached");
    /* The context stays usable. */
    cr_assert_eq(clnas_kernel_get(ctx, "selftest.cl", "", "selftest_fill", &k), CLNAS_OK, "%s",
                 clnas_ctx_errmsg(ctx));
}

Test(build, missing_kernel_and_file)
{
    clnas_ctx *ctx = tu_ctx();
    cl_kernel k = NULL;
    clnas_status st = clnas_kernel_get(ctx, "selftest.cl", "", "no_such_kernel", &k);
    cr_expect_eq(st, CL_INVALID_KERNEL_NAME, "got %s", clnas_status_str(st));
    cr_expect(strstr(clnas_ctx_errmsg(ctx), "no_such_kernel") != NULL, "%s", clnas_ctx_errmsg(ctx));
    st = clnas_kernel_get(ctx, "no_such_file.cl", "", "x", &k);
    cr_expect_eq(st, CLNAS_E_IO, "got %s", clnas_status_str(st));
    cr_expect(strstr(clnas_ctx_errmsg(ctx), "no_such_file.cl") != NULL, "%s", clnas_ctx_errmsg(ctx));
}

Test(build, bad_kernel_arg_format)
{
    clnas_ctx *ctx = tu_ctx();
    cl_kernel k = NULL;
    cr_assert_eq(clnas_kernel_get(ctx, "selftest.cl", "", "selftest_fill", &k), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    cr_expect_eq(clnas_kernel_args(ctx, k, "mx", NULL, 0), CLNAS_E_INVALID_ARG);
}

/* ------------------------------------------------------------------ buffers and status */

Test(buffer, too_large_is_device_mem)
{
    clnas_ctx *ctx = tu_ctx();
    uint64_t max = clnas_ctx_device(ctx)->max_alloc_bytes;
    cr_assert_gt(max, 0);
    cl_mem m = NULL;
    clnas_status st = clnas_buf_alloc(ctx, (size_t)max + 4096, &m);
    cr_expect_eq(st, CLNAS_E_DEVICE_MEM, "got %s", clnas_status_str(st));
    cr_expect_null(m);
    cr_expect(strstr(clnas_ctx_errmsg(ctx), "MiB") != NULL, "%s", clnas_ctx_errmsg(ctx));
}

Test(buffer, write_read_round_trip)
{
    clnas_ctx *ctx = tu_ctx();
    double h[100], got[100];
    tu_fill(h, 100, 5, -3, 3);
    tu_round_to_float(h, 100);
    cl_mem m = tu_upload(ctx, h, 100);
    tu_read(ctx, m, 0, 100, got);
    tu_expect_close("round trip", got, h, 100, 0);
    cr_assert_eq(clnas_buf_zero(ctx, m, 40, 80), CLNAS_OK);
    tu_read(ctx, m, 0, 100, got);
    for (int i = 10; i < 30; i++) h[i] = 0;
    tu_expect_close("after zeroing [10,30)", got, h, 100, 0);
    cr_expect_eq(clnas_buf_zero(ctx, m, 2, 8), CLNAS_E_INVALID_ARG);
    clnas_buf_free(m);
    clnas_buf_free(NULL);
}

Test(status, names)
{
    cr_expect_str_eq(clnas_status_str(CL_SUCCESS), "CL_SUCCESS");
    cr_expect_str_eq(clnas_status_str(CL_OUT_OF_RESOURCES), "CL_OUT_OF_RESOURCES");
    cr_expect_str_eq(clnas_status_str(CL_BUILD_PROGRAM_FAILURE), "CL_BUILD_PROGRAM_FAILURE");
    cr_expect_str_eq(clnas_status_str(CL_INVALID_KERNEL_NAME), "CL_INVALID_KERNEL_NAME");
    cr_expect_str_eq(clnas_status_str(CLNAS_E_PARSE), "CLNAS_E_PARSE");
    cr_expect_str_eq(clnas_status_str(CLNAS_E_NO_DEVICE), "CLNAS_E_NO_DEVICE");
    cr_expect_str_eq(clnas_status_str(CLNAS_E_BUILD), "CLNAS_E_BUILD");
    cr_expect_str_eq(clnas_status_str(-999), "CL_UNKNOWN_ERROR");
    cr_expect_str_eq(clnas_status_str(-5000), "CLNAS_UNKNOWN_STATUS");
    cr_expect_str_eq(clnas_status_str(42), "CLNAS_UNKNOWN_STATUS");
    /* Every clnas code has its own CLNAS_E_ name. */
    for (int s = CLNAS_E_INVALID_ARG; s >= CLNAS_E_UNSUPPORTED; s--) {
        const char *a = clnas_status_str(s);
        cr_expect(strncmp(a, "CLNAS_E_", 8) == 0, "%d -> %s", s, a);
        for (int t = s - 1; t >= CLNAS_E_UNSUPPORTED; t--)
            cr_expect_str_neq(a, clnas_status_str(t), "%d and %d share a name", s, t);
    }
    /* Every OpenCL code is named (never NULL). */
    for (int s = -1; s > -80; s--) cr_expect_not_null(clnas_status_str(s));
}

/* ---- the buffer cache (src/runtime/buffer.c): released buffers are handed out again ---- */

static size_t buf_size(cl_mem m)
{
    size_t b = 0;
    cr_assert_eq(clGetMemObjectInfo(m, CL_MEM_SIZE, sizeof b, &b, NULL), CL_SUCCESS);
    return b;
}

Test(bufcache, reuses_a_released_buffer_that_fits)
{
    clnas_ctx *ctx = tu_ctx();
    size_t live = clnas_buf_in_use();
    cl_mem a = NULL, b = NULL, c = NULL;
    cr_assert_eq(clnas_buf_alloc(ctx, 10u << 20, &a), CLNAS_OK);
    cr_expect_geq(buf_size(a), 10u << 20);
    cr_expect_eq(clnas_buf_in_use(), live + buf_size(a), "live bytes count the buffer");
    clnas_buf_free(a);
    cr_expect_eq(clnas_buf_in_use(), live, "a kept buffer is not counted as live");
    /* a slightly smaller request takes it (within 1.5x) ... */
    cr_assert_eq(clnas_buf_alloc(ctx, 9u << 20, &b), CLNAS_OK);
    cr_expect_eq(b, a, "9 MiB should reuse the released 10 MiB buffer");
    /* ... and a much smaller one does not hold the large buffer back */
    clnas_buf_free(b);
    cr_assert_eq(clnas_buf_alloc(ctx, 1u << 20, &c), CLNAS_OK);
    cr_expect_neq(c, a, "1 MiB must not take a 10 MiB buffer");
    cr_expect_lt(buf_size(c), 2u << 20);
    /* a larger request never gets a smaller buffer */
    cl_mem d = NULL;
    cr_assert_eq(clnas_buf_alloc(ctx, 11u << 20, &d), CLNAS_OK);
    cr_expect_geq(buf_size(d), 11u << 20);
    clnas_buf_free(c);
    clnas_buf_free(d);
}

Test(bufcache, kept_buffers_never_make_an_allocation_fail)
{
    /* the limit counts live buffers only: 3 x 8 MiB under a 20 MB limit, one at a time */
    setenv("CLNAS_DEVICE_MEM_LIMIT", "20000000", 1);
    clnas_ctx *ctx = tu_ctx();
    for (int i = 0; i < 3; i++) {
        cl_mem m = NULL;
        size_t want = (size_t)(8 + i) << 20; /* different sizes: each may be a new buffer */
        cr_assert_eq(clnas_buf_alloc(ctx, want, &m), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
        cr_expect_leq(clnas_buf_in_use(), 20000000u);
        clnas_buf_free(m);
    }
    /* what is live still counts: two 8 MiB buffers do not fit under 10 MB */
    setenv("CLNAS_DEVICE_MEM_LIMIT", "10000000", 1);
    cl_mem a = NULL, b = NULL;
    cr_assert_eq(clnas_buf_alloc(ctx, 8u << 20, &a), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    cr_expect_eq(clnas_buf_alloc(ctx, 8u << 20, &b), CLNAS_E_DEVICE_MEM);
    cr_expect(strstr(clnas_ctx_errmsg(ctx), "CLNAS_DEVICE_MEM_LIMIT"), "%s", clnas_ctx_errmsg(ctx));
    clnas_buf_free(a);
    unsetenv("CLNAS_DEVICE_MEM_LIMIT");
}

Test(bufcache, off_gives_buffers_of_the_exact_size)
{
    setenv("CLNAS_BUF_CACHE", "0", 1);
    clnas_ctx *ctx = tu_ctx();
    cl_mem a = NULL;
    cr_assert_eq(clnas_buf_alloc(ctx, (10u << 20) + 12, &a), CLNAS_OK);
    clnas_buf_free(a);
    cr_assert_eq(clnas_buf_alloc(ctx, (10u << 20) + 8, &a), CLNAS_OK);
    cr_expect_eq(buf_size(a), (10u << 20) + 8, "with the cache off a buffer has the size asked for");
    clnas_buf_free(a);
    unsetenv("CLNAS_BUF_CACHE");
}
