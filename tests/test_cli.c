/* test_cli.c - runs the built `clnas` program (CLNAS_BIN) and checks exit codes and output of
 * the commands that need no model: --help, --version, devices (text and JSON), bad usage. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <jansson.h>
#include "clnas/context.h"
#include "util/testutil.h"

#ifndef CLNAS_BIN
#error "CMake defines CLNAS_BIN as the path of the clnas executable"
#endif

/* Runs `env CLNAS_BIN args` through the shell; captures stdout (and stderr when merge) into a
 * malloc'd string; returns the exit status (or 128+signal). */
static int run(const char *env, const char *args, int merge, char **out)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s '%s' %s %s", env ? env : "", CLNAS_BIN, args, merge ? "2>&1" : "2>/dev/null");
    return tu_run(cmd, out);
}

/* Parses out as JSON (duplicate keys rejected), failing the test with jansson's message. */
static json_t *parse_json(const char *out)
{
    json_error_t e;
    json_t *j = json_loads(out, JSON_REJECT_DUPLICATES, &e);
    cr_assert_not_null(j, "not JSON (%s at line %d, column %d):\n%s", e.text, e.line, e.column, out);
    return j;
}

/* The device objects of `devices --json` with "default": true. */
static int count_defaults(const json_t *arr)
{
    int n = 0;
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) n += json_is_true(json_object_get(v, "default"));
    return n;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

/* ---- tests ---- */

Test(cli, help_lists_commands)
{
    char *out = NULL;
    int rc = run(NULL, "--help", 0, &out);
    cr_expect_eq(rc, 0, "clnas --help exited %d", rc);
    cr_expect(strstr(out, "usage: clnas") != NULL, "%s", out);
    const char *cmds[] = {"devices", "net", "selftest"};
    for (int i = 0; i < 3; i++) cr_expect(strstr(out, cmds[i]) != NULL, "--help does not list %s:\n%s", cmds[i], out);
    cr_expect(strstr(out, "--device") != NULL, "--help should explain device choice:\n%s", out);
    free(out);
}

Test(cli, no_arguments_is_usage_error)
{
    char *out = NULL;
    int rc = run(NULL, "", 1, &out);
    cr_expect_eq(rc, 2, "clnas with no command exited %d", rc);
    cr_expect(strstr(out, "usage") != NULL, "%s", out);
    free(out);
}

Test(cli, version)
{
    char *out = NULL;
    int rc = run(NULL, "--version", 0, &out);
    cr_expect_eq(rc, 0);
    cr_expect(strncmp(out, "clnas ", 6) == 0, "%s", out);
    free(out);
}

Test(cli, unknown_command_exits_2)
{
    char *out = NULL;
    int rc = run(NULL, "no-such-command", 1, &out);
    cr_expect_eq(rc, 2, "exit %d", rc);
    cr_expect(strstr(out, "unknown command") != NULL, "%s", out);
    cr_expect(strstr(out, "no-such-command") != NULL, "%s", out);
    free(out);
}

Test(cli, devices_lists_every_device)
{
    clnas_device_info *d = NULL;
    int n = 0;
    cr_assert_eq(clnas_devices_list(&d, &n, NULL, 0), CLNAS_OK);
    cr_assert_gt(n, 0, "no OpenCL device (install pocl-opencl-icd)");
    char *out = NULL;
    int rc = run("CLNAS_DEVICE=", "devices", 0, &out);
    cr_expect_eq(rc, 0, "clnas devices exited %d:\n%s", rc, out);
    int pocl = 0;
    for (int i = 0; i < n; i++) {
        /* Names are printed with trailing blanks trimmed. */
        char name[256];
        snprintf(name, sizeof name, "%s", d[i].name);
        for (size_t l = strlen(name); l > 0 && name[l - 1] == ' '; l--) name[l - 1] = 0;
        cr_expect(strstr(out, name) != NULL, "device %d \"%s\" missing from:\n%s", i, name, out);
        if (strstr(d[i].platform_name, "Portable Computing Language")) pocl = 1;
    }
    if (pocl) cr_expect(strstr(out, "Portable Computing Language") != NULL, "PoCL platform missing:\n%s", out);
    cr_expect(strstr(out, "fp64") != NULL && strstr(out, "compute units") != NULL && strstr(out, "driver") != NULL,
              "%s", out);
    cr_expect_eq(count(out, "(default"), 1, "exactly one device should be marked default:\n%s", out);
    free(out);
    free(d);
}

Test(cli, devices_json_is_an_array)
{
    clnas_device_info *d = NULL;
    int n = 0;
    char err[256];
    cr_assert_eq(clnas_devices_list(&d, &n, err, sizeof err), CLNAS_OK, "%s", err);
    char *out = NULL;
    int rc = run("CLNAS_DEVICE=", "devices --json", 0, &out);
    cr_expect_eq(rc, 0, "exit %d", rc);
    json_t *j = parse_json(out);
    cr_assert(json_is_array(j), "not a JSON array:\n%s", out);
    cr_assert_eq((int)json_array_size(j), n, "%zu devices listed in JSON, %d exist", json_array_size(j), n);
    cr_expect_eq(count_defaults(j), 1, "%s", out);
    for (int i = 0; i < n; i++) {
        const json_t *o = json_array_get(j, (size_t)i);
        cr_expect_eq(json_integer_value(json_object_get(o, "index")), d[i].index);
        cr_expect(json_is_boolean(json_object_get(o, "fp64")) && json_is_true(json_object_get(o, "fp64")) == (d[i].fp64 != 0));
        cr_expect_eq((uint64_t)json_integer_value(json_object_get(o, "global_mem_bytes")), d[i].global_mem_bytes);
        cr_expect_eq((uint64_t)json_integer_value(json_object_get(o, "max_alloc_bytes")), d[i].max_alloc_bytes);
        /* names are printed with trailing blanks trimmed */
        const char *name = json_string_value(json_object_get(o, "name"));
        cr_assert_not_null(name);
        cr_expect(strncmp(name, d[i].name, strlen(name)) == 0 && strspn(d[i].name + strlen(name), " \t\n") == strlen(d[i].name + strlen(name)),
                  "name \"%s\" vs device \"%s\"", name, d[i].name);
        const char *g = json_string_value(json_object_get(o, "gemm_tuning"));
        cr_expect(g && (!strcmp(g, "file") || !strcmp(g, "shipped") || !strcmp(g, "none") || !strcmp(g, "off")), "%s", out);
    }
    json_decref(j);
    free(out);
    free(d);
}

Test(cli, devices_json_escapes_strings)
{
    /* a cache folder whose name needs escaping: the tuning file paths carry it into the JSON */
    char dir[] = "/tmp/clnas \"json\\ test\" XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char env[256];
    snprintf(env, sizeof env, "CLNAS_DEVICE= CLNAS_CACHE_DIR='%s'", dir);
    char *out = NULL;
    cr_expect_eq(run(env, "devices --json", 0, &out), 0);
    json_t *j = parse_json(out);
    cr_assert(json_is_array(j) && json_array_size(j) > 0, "%s", out);
    const char *path = json_string_value(json_object_get(json_array_get(j, 0), "tuning_file"));
    cr_assert_not_null(path, "%s", out);
    cr_expect(strncmp(path, dir, strlen(dir)) == 0 && strstr(path, "/tune/"), "tuning_file \"%s\" is not under \"%s\"", path, dir);
    json_decref(j);
    free(out);
    rmdir(dir);
}

Test(cli, devices_marks_clnas_device)
{
    clnas_device_info *d = NULL;
    int n = 0;
    cr_assert_eq(clnas_devices_list(&d, &n, NULL, 0), CLNAS_OK);
    cr_assert_gt(n, 0);
    char env[64];
    snprintf(env, sizeof env, "CLNAS_DEVICE=%d", n - 1);
    char *out = NULL;
    cr_expect_eq(run(env, "devices --json", 0, &out), 0);
    json_t *j = parse_json(out);
    cr_expect_eq(count_defaults(j), 1, "%s", out);
    cr_expect(json_is_true(json_object_get(json_array_get(j, (size_t)(n - 1)), "default")),
              "CLNAS_DEVICE=%d should mark that device:\n%s", n - 1, out);
    json_decref(j);
    free(out);
    /* A CLNAS_DEVICE that matches nothing still lists, with a warning and no default. */
    cr_expect_eq(run("CLNAS_DEVICE=no-such-device-xyz", "devices", 1, &out), 0);
    cr_expect(strstr(out, "warning") != NULL && strstr(out, "no-such-device-xyz") != NULL, "%s", out);
    cr_expect_eq(count(out, "(default"), 0, "%s", out);
    free(out);
    free(d);
}

Test(cli, devices_help_and_bad_option)
{
    char *out = NULL;
    cr_expect_eq(run(NULL, "devices --help", 0, &out), 0);
    cr_expect(strstr(out, "--device N") != NULL && strstr(out, "CLNAS_DEVICE") != NULL, "%s", out);
    free(out);
    cr_expect_eq(run(NULL, "devices --bogus", 1, &out), 2);
    cr_expect(strstr(out, "--bogus") != NULL, "%s", out);
    free(out);
}

Test(cli, devices_without_any_driver)
{
    /* Point the ICD loader (ocl-icd) at an empty vendor directory: no platform at all. */
    char dir[] = "/tmp/clnas-no-icd-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char env[128];
    snprintf(env, sizeof env, "OCL_ICD_VENDORS='%s' OCL_ICD_FILENAMES=", dir);
    char *out = NULL;
    int rc = run(env, "devices", 1, &out);
    cr_expect_eq(rc, 1, "exit %d:\n%s", rc, out);
    cr_expect(strstr(out, "pocl-opencl-icd") != NULL, "the message should name pocl-opencl-icd:\n%s", out);
    free(out);
    rc = run(env, "devices --json", 0, &out);
    cr_expect_eq(rc, 1);
    json_t *j = parse_json(out);
    cr_expect(json_is_array(j) && json_array_size(j) == 0, "--json should still print an (empty) array:\n%s", out);
    json_decref(j);
    free(out);
    /* the library says so too, without a context: no platform is not an error, just none */
    clnas_device_info *d = NULL;
    int n = -1;
    char err[256] = "x";
    cr_assert_eq(setenv("OCL_ICD_VENDORS", dir, 1), 0);
    cr_assert_eq(setenv("OCL_ICD_FILENAMES", "", 1), 0);
    cr_expect_eq(clnas_devices_list(&d, &n, err, sizeof err), CLNAS_OK, "%s", err);
    cr_expect_eq(n, 0);
    cr_expect_null(d);
    cr_expect_str_eq(err, "");
    rmdir(dir);
}
