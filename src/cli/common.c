/* common.c - option parsing helpers shared by the subcommands. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"

const char *clnas_cli_opt(int argc, char **argv, int *i, const char *name)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0) return NULL;
    if (a[n] == '=') return a + n + 1;
    if (a[n] != 0) return NULL;
    if (*i + 1 >= argc) {
        fprintf(stderr, "clnas: option %s needs a value\n", name);
        return "";
    }
    (*i)++;
    return argv[*i];
}

int clnas_cli_int(const char *opt, const char *val, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(val, &end, 10);
    if (!*val || errno || *end || v < lo || v > hi) {
        fprintf(stderr, "clnas: %s expects an integer in [%ld, %ld], got \"%s\"\n", opt, lo, hi, val);
        return 0;
    }
    *out = v;
    return 1;
}
