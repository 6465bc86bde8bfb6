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

/* Joins argv into one shell-like line, quoting what needs it. */
void clnas_cli_command_line(int argc, char **argv, char *out, size_t len)
{
    size_t n = (size_t)snprintf(out, len, "clnas");
    for (int i = 0; i < argc && n < len; i++) {
        const char *a = argv[i];
        int plain = *a != 0;
        for (const char *q = a; *q; q++)
            if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%", *q)) plain = 0;
        if (plain) n += (size_t)snprintf(out + n, len - n, " %s", a);
        else {
            n += (size_t)snprintf(out + n, len - n, " '");
            for (const char *q = a; *q && n < len; q++)
                n += (size_t)(*q == '\'' ? snprintf(out + n, len - n, "'\\''") : snprintf(out + n, len - n, "%c", *q));
            if (n < len) n += (size_t)snprintf(out + n, len - n, "'");
        }
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double clnas_cli_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
