/* fault.c - the testing hooks of fault.h and checked reading of environment variables. */
#define _POSIX_C_SOURCE 200809L
#undef malloc /* the hook's own allocations are the real ones (core/alloc_hook.h) */
#undef calloc
#undef realloc
#include "core/fault.h"
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *clnas_escape(const char *s, char *out, size_t len)
{
    size_t k = 0;
    if (!len) return out;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p && k + 5 < len; p++) {
        if (*p == '\n') k += (size_t)snprintf(out + k, len - k, "\\n");
        else if (*p == '\t') k += (size_t)snprintf(out + k, len - k, "\\t");
        else if (*p < 0x20 || *p == 0x7f) k += (size_t)snprintf(out + k, len - k, "\\x%02x", *p);
        else out[k++] = (char)*p;
    }
    out[k] = 0;
    return out;
}

int clnas_env_long(const char *name, long lo, long hi, long *out, char *err, size_t errlen)
{
    const char *v = getenv(name);
    if (!v || !*v) return 0;
    char *end = NULL, shown[96];
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        if (err && errlen)
            snprintf(err, errlen, "%s=%s: expected an integer from %ld to %ld (unset it for the default)", name,
                     clnas_escape(v, shown, sizeof shown), lo, hi);
        return -1;
    }
    *out = x;
    return 1;
}

/* A hook's N, read once: 0 when unset. A malformed value ends the process (a test asked for it). */
static long hook_value(const char *name, long *cache, int *read)
{
    if (!*read) {
        char err[256];
        long v = 0;
        if (clnas_env_long(name, 1, LONG_MAX, &v, err, sizeof err) < 0) {
            fprintf(stderr, "clnas: %s\n", err);
            exit(2);
        }
        *cache = v;
        *read = 1;
    }
    return *cache;
}

static long write_n, alloc_n, stop_n;
static int write_read, alloc_read, stop_read;
static long write_count, alloc_count, stop_count;

int clnas_fault_write(void)
{
    long n = hook_value("CLNAS_FAIL_WRITE", &write_n, &write_read);
    if (n > 0 && ++write_count >= n) {
        errno = ENOSPC;
        return 1;
    }
    return 0;
}

int clnas_flush_checked(FILE *f)
{
    errno = 0;
    if (fflush(f) != 0 || ferror(f)) {
        if (!errno) errno = EIO;
        return -1;
    }
    return clnas_fault_write() ? -1 : 0;
}

int clnas_fault_alloc(void)
{
    long n = hook_value("CLNAS_FAIL_ALLOC", &alloc_n, &alloc_read);
    return n > 0 && ++alloc_count == n;
}

void *clnas_malloc(size_t n) { return clnas_fault_alloc() ? NULL : malloc(n); }
void *clnas_calloc(size_t n, size_t size) { return clnas_fault_alloc() ? NULL : calloc(n, size); }
void *clnas_realloc(void *p, size_t n) { return clnas_fault_alloc() ? NULL : realloc(p, n); }

void clnas_stop_point(const char *what)
{
    long n = hook_value("CLNAS_STOP_AFTER", &stop_n, &stop_read);
    if (n > 0 && ++stop_count >= n) {
        fprintf(stderr, "clnas: stopped after %ld %s%s (CLNAS_STOP_AFTER, a testing aid)\n", n, what, n == 1 ? "" : "s");
        _exit(75);
    }
}

int clnas_mul_size(size_t a, size_t b, size_t *out)
{
    if (b && a > SIZE_MAX / b) return 0;
    *out = a * b;
    return 1;
}

int clnas_add_size(size_t a, size_t b, size_t *out)
{
    if (a > SIZE_MAX - b) return 0;
    *out = a + b;
    return 1;
}
