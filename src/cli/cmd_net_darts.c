/* cmd_net_darts.c - `clnas net --space darts`: DARTS's evaluation network of a genotype, or one
 * of TE-NAS's proxies of a supernet state, printed layer by layer with parameter counts. Also
 * the state arguments the DARTS commands share (--genotype / --alpha). */
#include <stdio.h>
#include <string.h>
#include "cli/cli.h"
#include "clnas/darts.h"

static const char USAGE[] =
"usage: clnas net --space darts --genotype G [--C 36 --layers 20 --classes 10 | --dataset imagenet [--C 48 --layers 14]]\n"
"       clnas net --space darts --proxy ntk|lr (--alpha FILE|supernet | --genotype G) [--dataset D] [--classes K]\n"
"\n"
"Builds the network a DARTS genotype describes, as DARTS's own code does (NetworkCIFAR: stem conv3x3\n"
"3->3C + BN, `layers` cells with reductions at layers/3 and 2*layers/3; NetworkImageNet: its two-stage\n"
"stem at 224x224), and prints it layer by layer with parameter counts. The auxiliary head is counted\n"
"separately, as DARTS counts model sizes. With --proxy: TE-NAS's NTK or linear-region network of a\n"
"supernet state (C=1, a normal and a reduction cell).\n";

static const char FOOTER[] =
"Genotypes are written as DARTS prints them, e.g. \"Genotype(normal=[('sep_conv_3x3', 0), ...],\n"
"normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=[2, 3, 4, 5])\", or by name: DARTS_V1,\n"
"DARTS_V2 (= DARTS), PC_DARTS.\n";

int darts_cli_state(const char *cmd, const char *genotype, const char *alpha, clnas_darts_alpha *al, char *label,
                    size_t len)
{
    char err[1024];
    if (!!genotype == !!alpha) {
        fprintf(stderr, "clnas %s: give one of --genotype G or --alpha FILE|supernet\n", cmd);
        return 2;
    }
    if (genotype) {
        clnas_darts_genotype g;
        if (clnas_darts_genotype_parse(genotype, &g, err, sizeof err) != CLNAS_OK ||
            clnas_darts_alpha_from_genotype(&g, al, err, sizeof err) != CLNAS_OK) {
            fprintf(stderr, "clnas %s: --genotype: %s\n", cmd, err);
            return 2;
        }
        clnas_darts_genotype_format(&g, label, len);
        return 0;
    }
    clnas_status st = clnas_darts_alpha_load(alpha, al, err, sizeof err);
    if (st == CLNAS_OK) st = clnas_darts_alpha_check(al, err, sizeof err);
    if (st != CLNAS_OK) {
        fprintf(stderr, "clnas %s: --alpha: %s\n", cmd, err);
        return st == CLNAS_E_IO ? 1 : 2;
    }
    snprintf(label, len, "alpha %s", alpha);
    return 0;
}

typedef struct net_args {
    const char *space, *genotype, *alpha, *proxy;
    clnas_dataset_kind dataset;
    int C, layers, classes;
} net_args;

static int parse_proxy(const char *cmd, const char *opt, const char *val, void *ud)
{
    if (strcmp(val, "ntk") && strcmp(val, "lr")) {
        fprintf(stderr, "clnas %s: %s expects ntk or lr, got \"%s\"\n", cmd, opt, val);
        return 0;
    }
    *(const char **)ud = val;
    return 1;
}

static int print_proxy(const net_args *a, int classes)
{
    clnas_darts_alpha al;
    char label[1200], err[1024];
    int rc = darts_cli_state("net", a->genotype, a->alpha, &al, label, sizeof label);
    if (rc) return rc;
    clnas_net *n = NULL;
    int ntk = !strcmp(a->proxy, "ntk");
    if (clnas_darts_proxies(&al, classes, clnas_dataset_hw(a->dataset), ntk ? &n : NULL, ntk ? NULL : &n, err, sizeof err) !=
        CLNAS_OK) {
        fprintf(stderr, "clnas net: %s\n", err);
        return 2;
    }
    printf("state %s\n", label);
    clnas_net_print_summary(n, stdout);
    clnas_net_destroy(n);
    return 0;
}

int clnas_cmd_net_darts(int argc, char **argv)
{
    net_args a = {0};
    a.dataset = CLNAS_DS_CIFAR10;
    cli c;
    cli_init(&c, "net", USAGE, FOOTER);
    cli_add_space(&c, &a.space);
    cli_add(&c, "genotype", &a.genotype);
    cli_add(&c, "alpha", &a.alpha);
    cli_add_fn(&c, "proxy", parse_proxy, &a.proxy, "ntk or lr: TE-NAS's proxy of a supernet state (--alpha or --genotype)");
    cli_add_fn(&c, "dataset", cli_parse_dataset, &a.dataset, "cifar10 (default) or imagenet: classes and layout");
    cli_add_help(&c, "C", &a.C, "initial channels (default 36 CIFAR, 48 ImageNet)");
    cli_add(&c, "layers", &a.layers);
    cli_add_help(&c, "classes", &a.classes, "classifier outputs (default: the data set's, 10 / 1000)");
    int pr = cli_parse(&c, argc, argv, NULL, NULL);
    if (pr != CLI_OK) return pr == CLI_HELP ? 0 : 2;
    int classes = a.classes ? a.classes : clnas_dataset_classes(a.dataset);
    if (a.proxy) return print_proxy(&a, classes);
    if (!a.genotype || a.alpha) {
        fprintf(stderr, "clnas net: --space darts builds the network of --genotype G (a supernet state --alpha needs --proxy)\n");
        return 2;
    }
    clnas_darts_eval_config cfg;
    if (a.dataset == CLNAS_DS_IMAGENET) clnas_darts_eval_config_imagenet(&cfg);
    else clnas_darts_eval_config_cifar(&cfg);
    if (a.C) cfg.C = a.C;
    if (a.layers) cfg.layers = a.layers;
    cfg.classes = classes;
    clnas_darts_genotype g;
    char err[1024];
    if (clnas_darts_genotype_parse(a.genotype, &g, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas net: --genotype: %s\n", err);
        return 2;
    }
    clnas_net *n = NULL;
    if (clnas_darts_eval_build(&cfg, &g, &n, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas net: %s\n", err);
        return 2;
    }
    clnas_net_print_summary(n, stdout);
    printf("auxiliary head (not included above): %zu parameters; with it: %zu\n", clnas_darts_aux_params(&cfg, &g),
           clnas_net_nparams(n) + clnas_darts_aux_params(&cfg, &g));
    clnas_net_destroy(n);
    return 0;
}
