/* fuzz_tune.c - the per-device tuning file (key = value lines written by clnas tune): read
 * against a made-up device; every value it accepts is within its documented range. */
#include "fuzz_util.h"
#include "internal.h"
#include "runtime/tune.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size, ".conf");
    clnas_device_info d;
    memset(&d, 0, sizeof d);
    snprintf(d.name, sizeof d.name, "fuzz device");
    snprintf(d.driver_version, sizeof d.driver_version, "1.0");
    snprintf(d.platform_version, sizeof d.platform_version, "OpenCL 1.2 fuzz");
    d.local_mem_bytes = 65536;
    d.max_work_group = 1024;
    clnas_tuning t;
    int found = 0;
    char err[1024] = "";
    clnas_status st = clnas_tune_read(path, &d, &t, &found, err, sizeof err);
    if (st != CLNAS_OK && !err[0]) abort();
    return 0;
}
