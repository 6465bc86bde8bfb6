/* fuzz_util.h - what the libFuzzer targets of tests/fuzz/ share: the readers under test take
 * paths, so each input is written to a per-process scratch file first. Built only with
 * -DCLNAS_FUZZ=ON and clang (tools/fuzz.sh). */
#ifndef CLNAS_FUZZ_UTIL_H
#define CLNAS_FUZZ_UTIL_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Writes data to <dir>/clnas_fuzz_<pid><suffix> and returns that path (static storage); dir is
 * /dev/shm when there is one (a file system in memory: several times more inputs per second),
 * else /tmp. */
static const char *fuzz_file(const uint8_t *data, size_t size, const char *suffix)
{
    static char path[256];
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(path, sizeof path, "%s/clnas_fuzz_%ld%s", dir, (long)getpid(), suffix);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f) != 0) abort();
    return path;
}

/* A NUL-terminated copy (malloc'd). */
static char *fuzz_string(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) abort();
    memcpy(s, data, size);
    s[size] = 0;
    return s;
}
#endif
