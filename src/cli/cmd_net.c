/* cmd_net.c - `clnas net`: build a NAS-Bench-201 network and print its summary. */
#include <stdio.h>
#include <string.h>
#include "cli/asvit_cli.h"
#include "cli/cli.h"
#include "clnas/nb201.h"

static const char USAGE[] =
"usage: clnas net [--space nb201] --arch STR [--C 16] [--N 5] [--classes 10] [--input 32] [--no-stem] [--depth D]\n"
"\n"
"Builds a NAS-Bench-201 network and prints it layer by layer with output shapes and parameter\n"
"counts, then the totals: use it to check that a network is the one you mean.\n"
"DARTS networks: clnas net --space darts --help.\n"
"As-ViT networks: clnas net --space asvit --arch TOPOLOGY (see clnas net --space asvit --help).\n";

static const char FOOTER[] =
"--proxy applies where it appears: it sets C, N, the stem, the depth and the input channels (lr also\n"
"the input size, 3) and keeps the classes and input size given before it; options after it change\n"
"what it set.\n";

/* --proxy ntk|lr, applied where it appears: the proxy's configuration with the classes and input
 * size given so far; a --no-stem given before it no longer holds (the proxy sets the stem). */
typedef struct net_args {
    clnas_nb201_config cfg;
    int no_stem;
} net_args;

static int parse_proxy(const char *cmd, const char *opt, const char *val, void *ud)
{
    net_args *a = ud;
    if (!strcmp(val, "ntk")) clnas_nb201_config_ntk(&a->cfg, a->cfg.classes, a->cfg.input_hw);
    else if (!strcmp(val, "lr")) clnas_nb201_config_lr(&a->cfg, a->cfg.classes);
    else {
        fprintf(stderr, "clnas %s: %s expects ntk or lr, got \"%s\"\n", cmd, opt, val);
        return 0;
    }
    a->no_stem = 0;
    return 1;
}

int clnas_cmd_net(int argc, char **argv)
{
    if (cli_wants_darts(argc, argv)) return clnas_cmd_net_darts(argc, argv);
    if (cli_argv_space_is(argc, argv, "asvit")) return clnas_cmd_net_asvit(argc, argv);
    net_args a;
    clnas_nb201_config_default(&a.cfg);
    a.no_stem = 0;
    const char *arch_s = NULL, *space = NULL;
    cli c;
    cli_init(&c, "net", USAGE, FOOTER);
    cli_add_space(&c, &space);
    cli_add_help(&c, "arch", &arch_s, "NB201 arch string, e.g.\n"
                 "'|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|'\n"
                 "An edge may list several ops joined by ',' (supernet form: the edge output is\n"
                 "their mean); 'supernet' = all four non-none ops on every edge.");
    cli_add_help(&c, "C", &a.cfg.C, "channels of the first stage (default 16; TE-NAS NTK proxy: 3)");
    cli_add_help(&c, "N", &a.cfg.N, "cells per stage (default 5; proxies: 1)");
    cli_add_help(&c, "classes", &a.cfg.classes, "classifier outputs (10 CIFAR-10, 100 CIFAR-100, 120 ImageNet16-120)");
    cli_add_help(&c, "input", &a.cfg.input_hw, "input height and width (32 CIFAR, 16 ImageNet16-120)");
    cli_add_help(&c, "in-channels", &a.cfg.in_channels, "input channels (default: min(3, C) with a stem, C without)");
    cli_add_help(&c, "no-stem", &a.no_stem, "feed the input straight into the first cell");
    cli_add_help(&c, "depth", &a.cfg.depth, "keep only the first D cells/blocks (TE-NAS LR proxy: --C 1 --N 1 --no-stem --depth 1)");
    cli_add_fn(&c, "proxy", parse_proxy, &a, "the TE-NAS proxies: ntk = C 3, N 1; lr = C 1, N 1, no stem, depth 1, 1x3x3 input");
    const int pr = cli_parse(&c, argc, argv, NULL, NULL);
    if (pr != CLI_OK) return pr == CLI_HELP ? 0 : 2;
    if (a.no_stem) a.cfg.use_stem = 0;
    clnas_nb201_config cfg = a.cfg;
    if (!arch_s || !*arch_s) {
        fprintf(stderr, "clnas net: --arch is required (see clnas net --help)\n");
        return 2;
    }
    clnas_nb201_arch arch;
    char err[512];
    if (clnas_nb201_parse(arch_s, &arch, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas net: --arch: %s\n", err);
        return 2;
    }
    clnas_net *net = NULL;
    if (clnas_nb201_build(&cfg, &arch, &net, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas net: %s\n", err);
        return 2;
    }
    clnas_net_print_summary(net, stdout);
    clnas_net_destroy(net);
    return 0;
}
