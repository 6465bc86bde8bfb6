/* cmd_devices.c - `clnas devices`: list every OpenCL platform/device with the global index
 * that --device N takes, and mark the device the default choice would open. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "clnas/context.h"
#include "report/json.h"
#include "runtime/tune.h"

static const char USAGE[] =
"usage: clnas devices [--json]\n"
"\n"
"Lists every OpenCL platform and device: the index that --device N takes, platform,\n"
"device name, type, compute units, global/local memory, largest single allocation,\n"
"fp64 support, OpenCL C version, driver version and GEMM tuning (a tuning file from\n"
"`clnas tune`, clnas's shipped default for that kind of device, or none). The device\n"
"marked '*' is the one commands use when no device is named.\n";

static const char FOOTER[] =
"Device choice (every command that computes):\n"
"  --device N       the device with index N in this list\n"
"  --device NAME    the first device whose name, vendor or platform name contains NAME\n"
"                   (case-insensitive), e.g. --device pocl or --device nvidia\n"
"  CLNAS_DEVICE     the same, as an environment variable, used when --device is absent\n"
"  default          the first GPU, else the first device\n"
"\n"
"No devices? Install an OpenCL driver: for the CPU, `apt-get install pocl-opencl-icd`;\n"
"`clinfo -l` shows what the OpenCL loader sees.\n";

/* Human-readable byte count: "15.6 GiB", "64 KiB". */
static void fmt_bytes(uint64_t b, char *out, size_t n)
{
    static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)b;
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        u++;
    }
    if (u == 0 || v == (double)(uint64_t)v) snprintf(out, n, "%.0f %s", v, unit[u]);
    else snprintf(out, n, "%.1f %s", v, unit[u]);
}

/* Trims trailing blanks that some drivers leave in their strings (in place). */
static void rtrim(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\t')) s[--n] = 0;
}

static json_t *json_device(const clnas_device_info *d, int chosen)
{
    char path[1200];
    const int have_path = clnas_tune_path(d, path, sizeof path, NULL, 0) == CLNAS_OK;
    return json_pack("{s:i, s:i, s:o, s:o, s:o, s:o, s:o, s:i, s:I, s:I, s:I, s:I, s:b, s:o, s:o, s:o, s:s, s:o, s:b}",
                     "index", d->index, "platform_index", d->platform_index, "platform", clnas_json_str(d->platform_name),
                     "platform_version", clnas_json_str(d->platform_version), "name", clnas_json_str(d->name), "vendor",
                     clnas_json_str(d->vendor), "type", clnas_json_str(d->type ? d->type : "OTHER"), "compute_units",
                     (int)d->compute_units, "global_mem_bytes", (json_int_t)d->global_mem_bytes, "local_mem_bytes",
                     (json_int_t)d->local_mem_bytes, "max_alloc_bytes", (json_int_t)d->max_alloc_bytes, "max_work_group",
                     (json_int_t)d->max_work_group, "fp64", d->fp64, "opencl_c_version",
                     clnas_json_str(d->opencl_c_version), "device_version", clnas_json_str(d->device_version),
                     "driver_version", clnas_json_str(d->driver_version), "gemm_tuning", clnas_device_tuning_source(d),
                     "tuning_file", have_path ? clnas_json_str(path) : json_null(), "default", d->index == chosen);
}

/* A JSON array of the devices (an empty one for none), one device per line as before (scripts
 * such as tools/gpu_check.sh read it line by line); each object is written by jansson. 0 when it
 * cannot be written. */
static int print_json(const clnas_device_info *d, int n, int chosen)
{
    int ok = fputs("[", stdout) != EOF;
    for (int i = 0; ok && i < n; i++) {
        json_t *o = json_device(&d[i], chosen);
        char *text = o ? json_dumps(o, CLNAS_JSON_FLAGS) : NULL;
        ok = text && printf("%s\n  %s", i ? "," : "", text) > 0;
        free(text);
        json_decref(o);
    }
    ok = ok && printf("%s]\n", n ? "\n" : "") > 0 && fflush(stdout) == 0;
    if (!ok) fprintf(stderr, "clnas devices: cannot write the list (out of memory, or standard output failed)\n");
    return ok;
}

/* The GEMM tuning a context on this device would apply (reads its tuning file, opens nothing). */
static void print_tuning(const clnas_device_info *d)
{
    const char *src = clnas_device_tuning_source(d);
    char path[1200];
    const int have_path = clnas_tune_path(d, path, sizeof path, NULL, 0) == CLNAS_OK;
    if (strcmp(src, "file") == 0 && have_path)
        printf("    GEMM tuning     tuning file %s\n", path);
    else if (strcmp(src, "shipped") == 0)
        printf("    GEMM tuning     shipped default for %s; `clnas tune --device %d` measures this device\n",
               clnas_tune_shipped_name(d), d->index);
    else if (strcmp(src, "off") == 0)
        printf("    GEMM tuning     off (CLNAS_TUNE=off)\n");
    else
        printf("    GEMM tuning     none: CLBlast's generic parameters; run `clnas tune --device %d`\n", d->index);
    clnas_tuning t;
    char msg[512];
    int found = 0;
    if (strcmp(src, "off") != 0 && have_path && clnas_tune_read(path, d, &t, &found, msg, sizeof msg) != CLNAS_OK)
        printf("                    (%s)\n", msg);
}

static void print_text(const clnas_device_info *d, int n, int chosen, const char *why)
{
    printf("%d OpenCL device%s (--device N takes the index; * = used when no device is named):\n", n,
           n == 1 ? "" : "s");
    for (int i = 0; i < n; i++) {
        char g[32], l[32], a[32];
        fmt_bytes(d[i].global_mem_bytes, g, sizeof g);
        fmt_bytes(d[i].local_mem_bytes, l, sizeof l);
        fmt_bytes(d[i].max_alloc_bytes, a, sizeof a);
        int is = d[i].index == chosen;
        printf("\n%c %d: %s%s%s%s\n", is ? '*' : ' ', d[i].index, d[i].name, is ? "  (default: " : "",
               is ? why : "", is ? ")" : "");
        printf("    platform        %d: %s (%s)\n", d[i].platform_index, d[i].platform_name,
               d[i].platform_version);
        printf("    vendor          %s\n", d[i].vendor);
        printf("    type            %s\n", d[i].type ? d[i].type : "OTHER");
        printf("    compute units   %u\n", d[i].compute_units);
        printf("    global memory   %s\n", g);
        printf("    local memory    %s\n", l);
        printf("    max allocation  %s\n", a);
        printf("    max work-group  %zu\n", d[i].max_work_group);
        printf("    fp64            %s\n", d[i].fp64 ? "yes" : "no");
        printf("    OpenCL C        %s\n", d[i].opencl_c_version);
        printf("    device version  %s\n", d[i].device_version);
        printf("    driver version  %s\n", d[i].driver_version);
        print_tuning(&d[i]);
    }
}

int clnas_cmd_devices(int argc, char **argv)
{
    int json = 0;
    cli c;
    cli_init(&c, "devices", USAGE, FOOTER);
    cli_add_help(&c, "json", &json, "print a JSON array of objects (one per device) instead of text");
    const int pr = cli_parse(&c, argc, argv, NULL, NULL);
    if (pr != CLI_OK) return pr == CLI_HELP ? 0 : 2;

    clnas_device_info *devs = NULL;
    int n = 0;
    char err[512];
    clnas_status st = clnas_devices_list(&devs, &n, err, sizeof err);
    if (st != CLNAS_OK) {
        fprintf(stderr, "clnas devices: %s\n", err);
        if (json) printf("[]\n");
        return 1;
    }
    if (n == 0) {
        free(devs);
        fprintf(stderr, "clnas devices: no OpenCL platform or device found.\n"
                        "Install an OpenCL driver: for the CPU, `apt-get install pocl-opencl-icd` "
                        "(PoCL); for a GPU, its vendor's OpenCL ICD.\n"
                        "`clinfo -l` shows what the OpenCL loader sees (/etc/OpenCL/vendors/*.icd).\n");
        if (json) printf("[]\n");
        return 1;
    }
    for (int i = 0; i < n; i++) {
        rtrim(devs[i].name);
        rtrim(devs[i].platform_name);
    }

    /* Which device would a command open with no --device? Ask the library itself so the
     * answer can never drift from the real choice (it honours CLNAS_DEVICE). */
    int chosen = -1;
    const char *env = getenv("CLNAS_DEVICE");
    char why[160];
    if (env && *env) snprintf(why, sizeof why, "CLNAS_DEVICE=%s", env);
    else snprintf(why, sizeof why, "%s", "first GPU, else first device");
    clnas_ctx *ctx = NULL;
    st = clnas_ctx_create(NULL, &ctx);
    if (st == CLNAS_OK) {
        chosen = clnas_ctx_device(ctx)->index;
    } else {
        fprintf(stderr, "clnas devices: warning: the default device cannot be opened (%s): %s\n",
                clnas_status_str(st), ctx ? clnas_ctx_errmsg(ctx) : "out of host memory");
    }
    clnas_ctx_destroy(ctx);

    int rc = 0;
    if (json) rc = print_json(devs, n, chosen) ? 0 : 1;
    else print_text(devs, n, chosen, why);
    free(devs);
    return rc;
}
