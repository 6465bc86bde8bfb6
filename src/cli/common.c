/* common.c - what the subcommands share: the score options, the parsers of enumerated values,
 * the command line for figure metadata, the median of benchmark repeats. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/fault.h"
#include "cli/cli.h"
#include "clnas/data.h"



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

int cli_parse_dataset(const char *cmd, const char *opt, const char *val, void *ud)
{
    if (clnas_dataset_parse_kind(val, (clnas_dataset_kind *)ud) == CLNAS_OK) return 1;
    char e[256];
    fprintf(stderr, "clnas %s: %s expects cifar10, cifar100, imagenet16 or imagenet (got \"%s\")\n", cmd, opt,
            clnas_escape(val, e, sizeof e));
    return 0;
}

int cli_parse_init(const char *cmd, const char *opt, const char *val, void *ud)
{
    clnas_init *i = ud;
    if (!strcmp(val, "pytorch")) *i = CLNAS_INIT_PYTORCH;
    else if (!strcmp(val, "kaiming_fan_in")) *i = CLNAS_INIT_KAIMING_FAN_IN;
    else if (!strcmp(val, "kaiming_fan_out")) *i = CLNAS_INIT_KAIMING_FAN_OUT;
    else {
        char e[256];
        fprintf(stderr, "clnas %s: %s expects pytorch, kaiming_fan_in or kaiming_fan_out (got \"%s\")\n", cmd, opt,
                clnas_escape(val, e, sizeof e));
        return 0;
    }
    return 1;
}

static int parse_space(const char *cmd, const char *opt, const char *val, void *ud)
{
    if (!strcmp(val, "nb201") || !strcmp(val, "darts") || !strcmp(val, "asvit")) {
        *(const char **)ud = val; /* darts, asvit: the commands hand over to their cmd_darts* / cmd_asvit* files */
        return 1;
    }
    fprintf(stderr, "clnas %s: %s expects nb201, darts or asvit (got \"%s\")\n", cmd, opt, val);
    return 0;
}

int cli_wants_darts(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--space=darts")) return 1;
        if (!strcmp(argv[i], "--space") && i + 1 < argc && !strcmp(argv[i + 1], "darts")) return 1;
    }
    return 0;
}

void cli_add_space(cli *c, const char **space) { cli_add_fn(c, "space", parse_space, space, NULL); }

int cli_parse_deprecated_seeds(const char *cmd, const char *opt, const char *val, void *ud)
{
    long n;
    if (strchr(val, '-')) {
        fprintf(stderr, "clnas %s: %s A-B (a range of random seeds) is not something clnas %s repeats over "
                        "(--seeds-in-flight N sets the NTK's backward seeds run together)\n", cmd, opt, cmd);
        return 0;
    }
    if (!cli_int(cmd, "--seeds-in-flight", val, 1, 100000, &n)) return 0;
    fprintf(stderr, "clnas %s: warning: %s N is the old spelling of --seeds-in-flight N (--seeds now means a range of "
                    "random seeds, as in clnas search); it still works for now\n", cmd, opt);
    *(int *)ud = (int)n;
    return 1;
}

void cli_add_score_opts(cli *c, clnas_score_opts *o, const char **data, const char **device)
{
    cli_add_fn(c, "dataset", cli_parse_dataset, &o->dataset, NULL);
    cli_add(c, "data", data);
    cli_add(c, "batch", &o->batch);
    cli_add_help(c, "repeat", &o->repeats, "repeats (default 3): same weights, a new batch and new patches each");
    cli_add(c, "lr-batch", &o->lr_batch);
    cli_add(c, "lr-batches", &o->lr_batches);
    cli_add(c, "seeds-in-flight", &o->seeds);
    cli_add(c, "device", device);
}

