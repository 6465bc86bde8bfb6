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

/* ---- a minimal JSON syntax checker (RFC 8259 grammar, no semantic checks) ---- */
struct jp { const char *s; int depth; int top_items; };
static void ws(struct jp *j) { while (*j->s == ' ' || *j->s == '\n' || *j->s == '\r' || *j->s == '\t') j->s++; }
static int jvalue(struct jp *j);
static int jstring(struct jp *j)
{
    if (*j->s != '"') return 0;
    for (j->s++; *j->s != '"'; j->s++) {
        if ((unsigned char)*j->s < 0x20) return 0;
        if (*j->s == '\\') {
            j->s++;
            if (*j->s == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!isxdigit((unsigned char)j->s[i])) return 0;
                j->s += 4;
            } else if (!strchr("\"\\/bfnrt", *j->s) || !*j->s) {
                return 0;
            }
        }
    }
    j->s++;
    return 1;
}
static int jnumber(struct jp *j)
{
    const char *st = j->s;
    if (*j->s == '-') j->s++;
    if (!isdigit((unsigned char)*j->s)) return 0;
    if (*j->s == '0') j->s++;
    else while (isdigit((unsigned char)*j->s)) j->s++;
    if (*j->s == '.') {
        j->s++;
        if (!isdigit((unsigned char)*j->s)) return 0;
        while (isdigit((unsigned char)*j->s)) j->s++;
    }
    if (*j->s == 'e' || *j->s == 'E') {
        j->s++;
        if (*j->s == '+' || *j->s == '-') j->s++;
        if (!isdigit((unsigned char)*j->s)) return 0;
        while (isdigit((unsigned char)*j->s)) j->s++;
    }
    return j->s > st;
}
static int jseq(struct jp *j, char close, int object)
{
    int top = j->depth == 1, n = 0;
    j->s++;
    ws(j);
    if (*j->s == close) { j->s++; return 1; }
    for (;;) {
        ws(j);
        if (object) {
            if (!jstring(j)) return 0;
            ws(j);
            if (*j->s++ != ':') return 0;
        }
        if (!jvalue(j)) return 0;
        n++;
        if (top) j->top_items = n;
        ws(j);
        if (*j->s == ',') { j->s++; continue; }
        if (*j->s == close) { j->s++; return 1; }
        return 0;
    }
}
static int jvalue(struct jp *j)
{
    ws(j);
    int ok;
    switch (*j->s) {
    case '{': j->depth++; ok = jseq(j, '}', 1); j->depth--; return ok;
    case '[': j->depth++; ok = jseq(j, ']', 0); j->depth--; return ok;
    case '"': return jstring(j);
    case 't': return strncmp(j->s, "true", 4) == 0 ? (j->s += 4, 1) : 0;
    case 'f': return strncmp(j->s, "false", 5) == 0 ? (j->s += 5, 1) : 0;
    case 'n': return strncmp(j->s, "null", 4) == 0 ? (j->s += 4, 1) : 0;
    default: return jnumber(j);
    }
}
/* 1 when s is exactly one JSON array (surrounding blanks allowed); *items = its length. */
static int json_array(const char *s, int *items)
{
    struct jp j = {s, 0, 0};
    ws(&j);
    if (*j.s != '[') return 0;
    if (!jvalue(&j)) return 0;
    ws(&j);
    *items = j.top_items;
    return *j.s == 0;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

/* ---- tests ---- */

Test(json_checker, sanity)
{
    int n = -1;
    cr_expect(json_array("[]", &n) && n == 0);
    cr_expect(json_array(" [ {\"a\": 1, \"b\": [true, null, -2.5e3]}, {\"c\": \"x\\\"y\"} ]\n", &n) && n == 2);
    cr_expect(!json_array("[1,]", &n));
    cr_expect(!json_array("[{\"a\" 1}]", &n));
    cr_expect(!json_array("[\"unterminated]", &n));
    cr_expect(!json_array("{}", &n));
    cr_expect(!json_array("[1] x", &n));
}

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
    cr_assert_eq(clnas_devices_list(&d, &n, NULL, 0), CLNAS_OK);
    char *out = NULL;
    int rc = run("CLNAS_DEVICE=", "devices --json", 0, &out);
    cr_expect_eq(rc, 0, "exit %d", rc);
    int items = -1;
    cr_assert(json_array(out, &items), "not a JSON array:\n%s", out);
    cr_expect_eq(items, n, "%d devices listed in JSON, %d exist", items, n);
    cr_expect_eq(count(out, "\"default\": true"), 1, "%s", out);
    cr_expect(strstr(out, "\"index\": 0") != NULL, "%s", out);
    cr_expect(strstr(out, "\"fp64\": ") != NULL, "%s", out);
    cr_expect(strstr(out, "\"global_mem_bytes\": ") != NULL, "%s", out);
    free(out);
    free(d);
}

Test(cli, devices_marks_clnas_device)
{
    clnas_device_info *d = NULL;
    int n = 0;
    cr_assert_eq(clnas_devices_list(&d, &n, NULL, 0), CLNAS_OK);
    cr_assert_gt(n, 0);
    char env[64], want[64];
    snprintf(env, sizeof env, "CLNAS_DEVICE=%d", n - 1);
    snprintf(want, sizeof want, "\"index\": %d,", n - 1);
    char *out = NULL;
    cr_expect_eq(run(env, "devices --json", 0, &out), 0);
    const char *at = strstr(out, want);
    cr_assert_not_null(at, "%s", out);
    const char *end = strchr(at, '}');
    cr_assert_not_null(end);
    const char *def = strstr(at, "\"default\": true");
    cr_expect(def && def < end, "CLNAS_DEVICE=%d should mark that device:\n%s", n - 1, out);
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
    int items = -1;
    cr_expect(json_array(out, &items) && items == 0, "--json should still print an (empty) array:\n%s", out);
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
