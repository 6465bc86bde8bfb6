/* util.c - hashing, timing, medians and the file-system helpers shared by the library: the one
 * rule for where clnas's cache lives, and creating a directory with its parents. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include "internal.h"

uint64_t clnas_fnv1a64(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

double clnas_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double clnas_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

clnas_status clnas_cache_dir(const char *sub, char *out, size_t len, char *err, size_t errlen)
{
    const char *d = getenv("CLNAS_CACHE_DIR"), *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
    if (len) out[0] = 0;
    if (d && strcmp(d, "off") == 0) {
        if (err && errlen) snprintf(err, errlen, "no cache directory: CLNAS_CACHE_DIR=off");
        return CLNAS_E_UNSUPPORTED;
    }
    int n;
    if (d && *d) n = snprintf(out, len, "%s/%s", d, sub);
    else if (x && *x) n = snprintf(out, len, "%s/clnas/%s", x, sub);
    else if (h && *h) n = snprintf(out, len, "%s/.cache/clnas/%s", h, sub);
    else {
        if (err && errlen)
            snprintf(err, errlen, "no cache directory: neither CLNAS_CACHE_DIR, XDG_CACHE_HOME nor HOME is set");
        return CLNAS_E_UNSUPPORTED;
    }
    if (n < 0 || (size_t)n >= len) {
        if (len) out[0] = 0;
        if (err && errlen) snprintf(err, errlen, "the cache directory's path is longer than %zu bytes", len ? len - 1 : 0);
        return CLNAS_E_INVALID_ARG;
    }
    return CLNAS_OK;
}

clnas_status clnas_mkdir_p(const char *path, char *err, size_t errlen)
{
    char tmp[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof tmp) {
        if (err && errlen) snprintf(err, errlen, "cannot create directory \"%.200s\": %s", path, n ? "path too long" : "empty path");
        return CLNAS_E_INVALID_ARG;
    }
    memcpy(tmp, path, n + 1);
    /* every prefix that ends at a '/', then the whole path; an existing directory is fine */
    for (char *p = tmp + 1;; p++) {
        if (*p != '/' && *p != 0) continue;
        const char c = *p;
        *p = 0;
        struct stat sb;
        if (mkdir(tmp, 0755) != 0 && !(errno == EEXIST && stat(tmp, &sb) == 0 && S_ISDIR(sb.st_mode))) {
            const int e = errno == EEXIST ? ENOTDIR : errno;
            if (err && errlen) snprintf(err, errlen, "cannot create directory %s: %s", tmp, strerror(e));
            return CLNAS_E_IO;
        }
        *p = c;
        if (!c) break;
    }
    return CLNAS_OK;
}
