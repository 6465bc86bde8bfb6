/* cmd_asvit.c - the As-ViT forms of the commands (`clnas net|score|search --space asvit`): the
 * general commands hand their arguments here when they see --space asvit, so their own option
 * tables stay NB201's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/asvit_cli.h"
#include "cli/cli.h"
#include "clnas/asvit.h"

int cli_argv_space_is(int argc, char **argv, const char *name)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) break;
        if (!strcmp(argv[i], "--space") && i + 1 < argc) return !strcmp(argv[i + 1], name);
        if (!strncmp(argv[i], "--space=", 8)) return !strcmp(argv[i] + 8, name);
    }
    return 0;
}

int asvit_parse_depths(const char *cmd, const char *opt, const char *val, void *ud)
{
    int *d = ud, n = 0;
    const char *p = val;
    while (n < CLNAS_ASVIT_STAGES) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > CLNAS_ASVIT_MAX_DEPTH) break;
        d[n++] = (int)v;
        p = end;
        if (n < CLNAS_ASVIT_STAGES && *p++ != ',') break;
    }
    if (n != CLNAS_ASVIT_STAGES || *p) {
        fprintf(stderr, "clnas %s: %s expects four depths in [1, %d] joined by ',' (e.g. 1,1,1,1), got \"%s\"\n", cmd,
                opt, CLNAS_ASVIT_MAX_DEPTH, val);
        return 0;
    }
    d[CLNAS_ASVIT_STAGES] = 1; /* given */
    return 1;
}

int asvit_resolve(const char *cmd, const char *arch, const char *topo_opt, const asvit_net_opts *o, clnas_asvit_topo *t,
                  clnas_asvit_config *cfg)
{
    char err[768];
    if (!arch || !*arch) {
        fprintf(stderr, "clnas %s: --arch is required with --space asvit (a topology such as 8,2,3|4,1,2|4,1,4|4,1,6|32; "
                "see clnas %s --space asvit --help)\n", cmd, cmd);
        return 2;
    }
    if (clnas_asvit_parse(arch, t, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas %s: %s: %s\n", cmd, topo_opt, err);
        return 2;
    }
    clnas_asvit_config_default(cfg);
    cfg->input_hw = o->input;
    cfg->classes = o->classes;
    if (clnas_asvit_config_apply(cfg, t, o->depths[CLNAS_ASVIT_STAGES] ? o->depths : NULL, o->dim, err, sizeof err) !=
        CLNAS_OK) {
        fprintf(stderr, "clnas %s: %s\n", cmd, err);
        return 2;
    }
    char why[320];
    const char *bad = clnas_asvit_check(t, cfg, why, sizeof why);
    if (bad) {
        fprintf(stderr, "clnas %s: %s %s does not fit: %s\n", cmd, topo_opt, arch, bad);
        return 2;
    }
    return 0;
}

void asvit_net_opts_default(asvit_net_opts *o)
{
    memset(o, 0, sizeof *o);
    o->input = 224;
    o->classes = 1000;
}

void asvit_add_net_opts(cli *c, asvit_net_opts *o, const char **arch)
{
    cli_add_help(c, "arch", arch, "As-ViT topology K1,S1,E1|K2,S2,E2|K3,S3,E3|K4,1,E4|H (optionally K,S,E,L per\n"
                 "stage and H,D), e.g. 8,2,3|4,1,2|4,1,4|4,1,6|32 (the paper's seed)");
    cli_add_help(c, "topology", arch, "the same as --arch");
    cli_add_help(c, "D", &o->dim, "embed dim of stage 1 (default 32; stage i has min(1024, D 2^(i-1)))");
    cli_add_fn(c, "depths", asvit_parse_depths, o->depths, "blocks per stage, e.g. 1,1,1,1 (default)");
    cli_add_help(c, "input", &o->input, "input height and width (default 224; 32 and 64 work, any multiple of 32)");
    cli_add_help(c, "classes", &o->classes, "classifier outputs (default 1000)");
}

/* 1234567 -> "1,234,567" */
static void group3(size_t v, char *buf, size_t len)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%zu", v);
    size_t o = 0;
    for (int i = 0; i < n && o + 2 < len; i++) {
        if (i && (n - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = 0;
}

static const char NET_USAGE[] =
"usage: clnas net --space asvit --arch TOPOLOGY [--D 32] [--depths 1,1,1,1] [--input 224] [--classes 1000]\n"
"\n"
"Builds an As-ViT network (the original's Transformer) and prints it layer by layer with output\n"
"shapes and parameter counts, then the totals, and the size of the NTK's Jacobian: the network\n"
"the NTK and the length distortion differentiate ends at the mean of the last stage's tokens\n"
"(no final LayerNorm, no head). Depths and D written in the topology win; a flag that\n"
"contradicts them is an error.\n";

int clnas_cmd_net_asvit(int argc, char **argv)
{
    asvit_net_opts o;
    asvit_net_opts_default(&o);
    const char *arch = NULL, *space = NULL;
    cli c;
    cli_init(&c, "net", NET_USAGE, NULL);
    cli_add_space(&c, &space);
    asvit_add_net_opts(&c, &o, &arch);
    const int pr = cli_parse(&c, argc, argv, NULL, NULL);
    if (pr != CLI_OK) return pr == CLI_HELP ? 0 : 2;
    clnas_asvit_topo t;
    clnas_asvit_config cfg;
    int rc = asvit_resolve("net", arch, cli_given(&c, "topology") ? "--topology" : "--arch", &o, &t, &cfg);
    if (rc) return rc;
    clnas_net *net = NULL, *feat = NULL;
    char err[512];
    if (clnas_asvit_build(&t, &cfg, &net, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas net: %s\n", err);
        return 2;
    }
    clnas_asvit_config fc = cfg;
    fc.head = 0;
    if (clnas_asvit_build(&t, &fc, &feat, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas net: %s\n", err);
        clnas_net_destroy(net);
        return 2;
    }
    clnas_net_print_summary(net, stdout);
    char a[32], b[32];
    group3(clnas_net_nparams(feat), a, sizeof a);
    group3(clnas_net_njacobian(feat), b, sizeof b);
    printf("NTK / length-distortion network (output: mean of the last stage's tokens, %d features; no final LN, "
           "no head): %s parameters, %s in the NTK's Jacobian (weights: linear, LayerNorm gamma, patch conv)\n",
           clnas_net_classes(feat), a, b);
    clnas_net_destroy(feat);
    clnas_net_destroy(net);
    return 0;
}
