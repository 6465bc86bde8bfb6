/* asvit_cli.h - the As-ViT forms of `clnas net|score|search` (cmd_asvit*.c) and their shared
 * options. */
#ifndef CLNAS_ASVIT_CLI_H
#define CLNAS_ASVIT_CLI_H
#include "cli/opts.h"
#include "clnas/asvit.h"

/* 1 when argv carries `--space NAME` or `--space=NAME` (before a `--`). */
int cli_argv_space_is(int argc, char **argv, const char *name);

typedef struct asvit_net_opts {
    int dim;                            /* --D (0: not given) */
    int depths[CLNAS_ASVIT_STAGES + 1]; /* --depths; [4] = 1 when given */
    int input, classes;
} asvit_net_opts;

void asvit_net_opts_default(asvit_net_opts *o);
/* --arch / --topology, --D, --depths, --input, --classes. */
void asvit_add_net_opts(cli *c, asvit_net_opts *o, const char **arch);
/* CLI_FN parser of --depths "1,1,1,1" into int[5] (the 5th set to 1). */
int asvit_parse_depths(const char *cmd, const char *opt, const char *val, void *ud);
/* Parses the topology and resolves the configuration (flags vs the string), checks that it fits.
 * Returns 0, or 2 after printing the error. */
int asvit_resolve(const char *cmd, const char *arch, const char *topo_opt, const asvit_net_opts *o,
                  clnas_asvit_topo *t, clnas_asvit_config *cfg);

int clnas_cmd_net_asvit(int argc, char **argv);
int clnas_cmd_score_asvit(int argc, char **argv);
int clnas_cmd_search_asvit(int argc, char **argv);
int clnas_cmd_grow_asvit(int argc, char **argv);
/* `clnas grow`: only --space asvit has a scaling loop. */
int clnas_cmd_grow(int argc, char **argv);
#endif
