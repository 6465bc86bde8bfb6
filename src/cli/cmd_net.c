/* cmd_net.c - `clnas net`: build a NAS-Bench-201 network and print its summary. */
#include <stdio.h>
#include <string.h>
#include "cli/cli.h"
#include "clnas/nb201.h"

static void help(FILE *f)
{
    fprintf(f,
            "usage: clnas net --arch STR [--C 16] [--N 5] [--classes 10] [--input 32] [--no-stem] [--depth D]\n"
            "\n"
            "Builds a NAS-Bench-201 network and prints it layer by layer with output shapes and parameter\n"
            "counts, then the totals: use it to check that a network is the one you mean.\n"
            "\n"
            "  --arch STR     NB201 arch string, e.g.\n"
            "                 '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|'\n"
            "                 An edge may list several ops joined by ',' (supernet form: the edge output is\n"
            "                 their mean); 'supernet' = all four non-none ops on every edge.\n"
            "  --C N          channels of the first stage (default 16; TE-NAS NTK proxy: 3)\n"
            "  --N N          cells per stage (default 5; proxies: 1)\n"
            "  --classes K    classifier outputs (10 CIFAR-10, 100 CIFAR-100, 120 ImageNet16-120)\n"
            "  --input S      input height and width (32 CIFAR, 16 ImageNet16-120)\n"
            "  --in-channels  input channels (default: min(3, C) with a stem, C without)\n"
            "  --no-stem      feed the input straight into the first cell\n"
            "  --depth D      keep only the first D cells/blocks (TE-NAS LR proxy: --C 1 --N 1 --no-stem --depth 1)\n"
            "  --proxy ntk|lr the TE-NAS proxies: ntk = C 3, N 1; lr = C 1, N 1, no stem, depth 1, 1x3x3 input\n");
}

int clnas_cmd_net(int argc, char **argv)
{
    clnas_nb201_config cfg;
    clnas_nb201_config_default(&cfg);
    const char *arch_s = NULL, *v;
    long n;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { help(stdout); return 0; }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--arch"))) arch_s = v;
        else if ((v = clnas_cli_opt(argc, argv, &i, "--C"))) { if (!clnas_cli_int("--C", v, 1, 4096, &n)) return 2; cfg.C = (int)n; }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--N"))) { if (!clnas_cli_int("--N", v, 1, 64, &n)) return 2; cfg.N = (int)n; }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--classes"))) { if (!clnas_cli_int("--classes", v, 1, 100000, &n)) return 2; cfg.classes = (int)n; }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--input"))) { if (!clnas_cli_int("--input", v, 1, 4096, &n)) return 2; cfg.input_hw = (int)n; }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--in-channels"))) { if (!clnas_cli_int("--in-channels", v, 1, 4096, &n)) return 2; cfg.in_channels = (int)n; }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--depth"))) { if (!clnas_cli_int("--depth", v, -1, 1000, &n)) return 2; cfg.depth = (int)n; }
        else if (!strcmp(argv[i], "--no-stem")) cfg.use_stem = 0;
        else if ((v = clnas_cli_opt(argc, argv, &i, "--proxy"))) {
            if (!strcmp(v, "ntk")) clnas_nb201_config_ntk(&cfg, cfg.classes, cfg.input_hw);
            else if (!strcmp(v, "lr")) clnas_nb201_config_lr(&cfg, cfg.classes);
            else { fprintf(stderr, "clnas net: --proxy expects ntk or lr, got \"%s\"\n", v); return 2; }
        } else {
            fprintf(stderr, "clnas net: unknown option \"%s\" (see clnas net --help)\n", argv[i]);
            return 2;
        }
    }
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
