/* darts.c - the DARTS space's builders: its ops as layer-graph calls, the search cell of a
 * supernet state (TE-NAS's NASNetSearchCell with MixedOp) and the cell of a genotype (DARTS's
 * Cell), TE-NAS's two proxies (§4.3) and DARTS's evaluation networks (NetworkCIFAR /
 * NetworkImageNet). Module names follow the original's structure (stem, cells.I.preprocess0,
 * cells.I.edges.J<-K.OP..., lastact, classifier), so weights and dumps key on them. */
#include <stdio.h>
#include <string.h>
#include "clnas/darts.h"
#include "model/graph.h"

/* Set only while clnas_darts_eval_build builds a config with no_bn: every BatchNorm is left out
 * (synflow's BatchNorm-free copy, as nb201_build_nobn does for NB201). */
static _Thread_local int g_no_bn;

static int bn(clnas_net *n, int x, const char *name, const char *sfx)
{
    return g_no_bn ? x : graph_bn(n, x, "%s%s", name, sfx);
}

/* ReLU -> Conv kxk -> BN */
static int relu_conv_bn(clnas_net *n, int x, int cout, const char *p)
{
    int r = graph_relu(n, x, "%s.relu", p);
    int c = graph_conv(n, r, cout, 1, 1, 0, "%s.conv", p);
    return bn(n, c, p, ".bn");
}

/* FactorizedReduce (stride 2): ReLU; conv1x1/2 on x into C/2 channels and on x shifted by one
 * pixel (zero padded) into C - C/2; concatenated; BN. */
static int factorized_reduce(clnas_net *n, int x, int cout, const char *p)
{
    int r = graph_relu(n, x, "%s.relu", p);
    int a = graph_conv(n, r, cout / 2, 1, 2, 0, "%s.convs.0", p);
    int s = graph_shift(n, r, "%s.shift", p);
    int b = graph_conv(n, s, cout - cout / 2, 1, 2, 0, "%s.convs.1", p);
    int ins[2] = {a, b};
    int cat = graph_concat(n, 2, ins, "%s.cat", p);
    return bn(n, cat, p, ".bn");
}

/* ReLU -> depthwise kxk (stride, dilation) -> pointwise 1x1 -> BN (TE-NAS's SepConv) */
static int sep_block(clnas_net *n, int x, int C, int k, int stride, int dil, const char *p)
{
    int r = graph_relu(n, x, "%s.relu", p);
    int d = graph_dwconv(n, r, k, stride, dil, "%s.dw", p);
    int c = graph_conv(n, d, C, 1, 1, 0, "%s.pw", p);
    return bn(n, c, p, ".bn");
}

/* One op of the space on x (C channels); -1 for `none` (it adds nothing to a sum). */
static int darts_op(clnas_net *n, int x, int op, int C, int stride, const char *p)
{
    char q[160];
    switch (op) {
    case CLNAS_DARTS_SKIP:
        return stride == 1 ? x : factorized_reduce(n, x, C, p);
    case CLNAS_DARTS_SEP3:
    case CLNAS_DARTS_SEP5: {
        int k = op == CLNAS_DARTS_SEP3 ? 3 : 5;
        snprintf(q, sizeof q, "%s.op_a", p);
        int y = sep_block(n, x, C, k, stride, 1, q);
        snprintf(q, sizeof q, "%s.op_b", p);
        return sep_block(n, y, C, k, 1, 1, q);
    }
    case CLNAS_DARTS_DIL3:
        return sep_block(n, x, C, 3, stride, 2, p);
    case CLNAS_DARTS_DIL5:
        return sep_block(n, x, C, 5, stride, 2, p);
    case CLNAS_DARTS_AVG3:
        return graph_avgpool(n, x, 3, stride, 1, "%s.pool", p);
    case CLNAS_DARTS_MAX3:
        return graph_maxpool(n, x, 3, stride, 1, "%s.pool", p);
    default:
        return -1;
    }
}

/* The two preprocessed inputs of cell ci. */
static void preprocess(clnas_net *n, int *s0, int *s1, int ci, int C, int reduction_prev)
{
    char p[64];
    snprintf(p, sizeof p, "cells.%d.preprocess0", ci);
    *s0 = reduction_prev ? factorized_reduce(n, *s0, C, p) : relu_conv_bn(n, *s0, C, p);
    snprintf(p, sizeof p, "cells.%d.preprocess1", ci);
    *s1 = relu_conv_bn(n, *s1, C, p);
}

static int out_hw(int hw, int reduction) { return reduction ? (hw - 1) / 2 + 1 : hw; }

/* TE-NAS's search cell at state `al`: node i = sum over its live edges of the softmax-weighted
 * active ops (MixedOp; a fully removed edge adds nothing); output = concat of the 4 nodes. */
static int search_cell(clnas_net *n, int s0, int s1, int ci, int C, int reduction, int reduction_prev,
                       const clnas_darts_alpha *al)
{
    preprocess(n, &s0, &s1, ci, C, reduction_prev);
    if (s0 < 0 || s1 < 0) return -1;
    int states[2 + CLNAS_DARTS_STEPS] = {s0, s1};
    int hw = out_hw(n->tensors[s1].h, reduction), cell = reduction ? 1 : 0;
    for (int i = 0; i < CLNAS_DARTS_STEPS; i++) {
        int ins[MAX_SUM_IN], cnt = 0;
        float coef[MAX_SUM_IN];
        for (int j = 0; j < i + 2; j++) {
            int e = clnas_darts_edge_index(i, j);
            double w[CLNAS_DARTS_NOPS];
            clnas_darts_edge_weights(al, cell, e, w);
            for (int o = 1; o < CLNAS_DARTS_NOPS; o++) {
                if (w[o] <= 0) continue;
                char p[96];
                snprintf(p, sizeof p, "cells.%d.edges.%d<-%d.%s", ci, i, j, clnas_darts_op_name(o));
                int y = darts_op(n, states[j], o, C, reduction && j < 2 ? 2 : 1, p);
                if (y < 0) return -1;
                ins[cnt] = y;
                coef[cnt++] = (float)w[o];
            }
        }
        states[i + 2] = graph_sum(n, cnt, ins, coef, C, hw, hw, "cells.%d.node%d", ci, i + 2);
        graph_describe(n, "node %d: %d weighted op outputs", i + 2, cnt);
    }
    return graph_concat(n, CLNAS_DARTS_STEPS, states + 2, "cells.%d.concat", ci);
}

/* DARTS's Cell of a genotype: node i = op(2i)(state) + op(2i+1)(state); output = concat. */
static int genotype_cell(clnas_net *n, int s0, int s1, int ci, int C, int reduction, int reduction_prev,
                         const clnas_darts_cell_gene *g)
{
    preprocess(n, &s0, &s1, ci, C, reduction_prev);
    if (s0 < 0 || s1 < 0) return -1;
    int states[2 + CLNAS_DARTS_MAX_STEPS] = {s0, s1};
    int hw = out_hw(n->tensors[s1].h, reduction);
    for (int i = 0; i < g->steps; i++) {
        int ins[2], cnt = 0;
        float coef[2] = {1, 1};
        for (int k = 0; k < 2; k++) {
            int j = g->from[2 * i + k], op = g->op[2 * i + k];
            char p[96];
            snprintf(p, sizeof p, "cells.%d.ops.%d.%s", ci, 2 * i + k, clnas_darts_op_name(op));
            int y = darts_op(n, states[j], op, C, reduction && j < 2 ? 2 : 1, p);
            if (y >= 0) ins[cnt++] = y;
            else if (op != CLNAS_DARTS_NONE) return -1;
        }
        states[i + 2] = graph_sum(n, cnt, ins, coef, C, hw, hw, "cells.%d.node%d", ci, i + 2);
        graph_describe(n, "node %d = %s(s%d) + %s(s%d)", i + 2, clnas_darts_op_name(g->op[2 * i]), g->from[2 * i],
                       clnas_darts_op_name(g->op[2 * i + 1]), g->from[2 * i + 1]);
    }
    int cat[CLNAS_DARTS_MAX_STEPS + 2];
    for (int k = 0; k < g->nconcat; k++) cat[k] = states[g->concat[k]];
    return graph_concat(n, g->nconcat, cat, "cells.%d.concat", ci);
}

static clnas_status finish(clnas_net *net, int x, clnas_net **out, char *err, size_t errlen)
{
    clnas_status st = graph_finish(net, x, err, errlen);
    if (st != CLNAS_OK) {
        clnas_net_destroy(net);
        return st;
    }
    *out = net;
    return CLNAS_OK;
}

/* NASNetworkDARTS(C=1, N=1, depth=2, stem multiplier 1, steps 4, multiplier 4): stem (NTK
 * only), normal cell at C=1, reduction cell at C=2, BN + ReLU, GAP, Linear. */
static clnas_status build_proxy(const clnas_darts_alpha *al, int classes, int hw, int stem, clnas_net **out, char *err,
                                size_t errlen)
{
    *out = NULL;
    clnas_net *net = graph_new(stem ? 3 : 1, hw, hw);
    if (!net) {
        if (err && errlen) snprintf(err, errlen, "out of host memory building the network");
        return CLNAS_E_NOMEM;
    }
    graph_title(net, "DARTS search network (TE-NAS %s proxy)  C=1, stem %s, normal cell C=1 + reduction cell C=2, classes=%d, "
                "input %dx%dx%d", stem ? "NTK" : "linear-region", stem ? "conv3x3 3->1 + BN" : "none", classes, stem ? 3 : 1, hw, hw);
    int x = 0;
    if (stem) {
        x = graph_conv(net, x, 1, 3, 1, 1, "stem.conv");
        x = graph_bn(net, x, "stem.bn");
    }
    int s0 = x, s1 = x;
    int c0 = search_cell(net, s0, s1, 0, 1, 0, 0, al);
    int c1 = c0 < 0 ? -1 : search_cell(net, s1, c0, 1, 2, 1, 0, al);
    x = graph_bn(net, c1, "lastact.bn");
    x = graph_relu(net, x, "lastact.relu");
    x = graph_gap(net, x, "global_pooling");
    x = graph_linear(net, x, classes, 1, "classifier");
    return finish(net, x, out, err, errlen);
}

clnas_status clnas_darts_proxies(const clnas_darts_alpha *al, int classes, int input_hw, clnas_net **ntk_net,
                                 clnas_net **lr_net, char *err, size_t errlen)
{
    if (ntk_net) *ntk_net = NULL;
    if (lr_net) *lr_net = NULL;
    if (classes < 1 || classes > 100000 || input_hw < 2 || input_hw > 4096) {
        if (err && errlen) snprintf(err, errlen, "invalid DARTS proxy: classes %d (1..100000), input %d (2..4096)", classes, input_hw);
        return CLNAS_E_INVALID_ARG;
    }
    clnas_status st = clnas_darts_alpha_check(al, err, errlen);
    if (st == CLNAS_OK && ntk_net) st = build_proxy(al, classes, input_hw, 1, ntk_net, err, errlen);
    if (st == CLNAS_OK && lr_net) st = build_proxy(al, classes, 3, 0, lr_net, err, errlen);
    if (st != CLNAS_OK && ntk_net) {
        clnas_net_destroy(*ntk_net);
        *ntk_net = NULL;
    }
    return st;
}

/* ---------------- evaluation networks ---------------- */

void clnas_darts_eval_config_cifar(clnas_darts_eval_config *c)
{
    c->C = 36; c->layers = 20; c->classes = 10; c->imagenet = 0; c->input_hw = 32; c->no_bn = 0;
}

void clnas_darts_eval_config_imagenet(clnas_darts_eval_config *c)
{
    c->C = 48; c->layers = 14; c->classes = 1000; c->imagenet = 1; c->input_hw = 224; c->no_bn = 0;
}

static const char *check_gene(const clnas_darts_cell_gene *g, const char *cn, char *why, size_t len)
{
    if (g->steps < 1 || g->nconcat < 1) return snprintf(why, len, "the %s cell is empty", cn), why;
    for (int k = 0; k < g->nconcat; k++) {
        if (g->concat[k] < 2 || g->concat[k] >= g->steps + 2)
            return snprintf(why, len, "%s_concat may name only the cell's nodes (states 2..%d), not %d", cn, g->steps + 1,
                            g->concat[k]), why;
        for (int j = 0; j < k; j++)
            if (g->concat[j] == g->concat[k]) return snprintf(why, len, "%s_concat names state %d twice", cn, g->concat[k]), why;
    }
    return NULL;
}

static const char *check_eval(const clnas_darts_eval_config *c, const clnas_darts_genotype *g, char *why, size_t len)
{
    if (c->C < 2 || c->C > 4096 || c->C % 2) return "C must be even and in [2, 4096] (FactorizedReduce halves it)";
    if (c->layers < 3 || c->layers > 1000) return "layers must be in [3, 1000]";
    if (c->classes < 1 || c->classes > 100000) return "classes must be in [1, 100000]";
    if (c->input_hw < 8 || c->input_hw > 4096) return "the input size must be in [8, 4096]";
    const char *bad = check_gene(&g->normal, "normal", why, len);
    return bad ? bad : check_gene(&g->reduce, "reduce", why, len);
}

static int imagenet_stem(clnas_net *n, int C, int *s0)
{
    int x = graph_conv(n, 0, C / 2, 3, 2, 1, "stem0.conv0");
    x = bn(n, x, "stem0.bn0", "");
    x = graph_relu(n, x, "stem0.relu");
    x = graph_conv(n, x, C, 3, 2, 1, "stem0.conv1");
    *s0 = bn(n, x, "stem0.bn1", "");
    x = graph_relu(n, *s0, "stem1.relu");
    x = graph_conv(n, x, C, 3, 2, 1, "stem1.conv");
    return bn(n, x, "stem1.bn", "");
}

static clnas_status eval_build(const clnas_darts_eval_config *cfg, const clnas_darts_genotype *g, clnas_net **out,
                               char *err, size_t errlen)
{
    *out = NULL;
    char why[160];
    const char *bad = check_eval(cfg, g, why, sizeof why);
    if (bad) {
        if (err && errlen) snprintf(err, errlen, "invalid DARTS evaluation network: %s", bad);
        return CLNAS_E_INVALID_ARG;
    }
    clnas_net *net = graph_new(3, cfg->input_hw, cfg->input_hw);
    if (!net) {
        if (err && errlen) snprintf(err, errlen, "out of host memory building the network");
        return CLNAS_E_NOMEM;
    }
    char gs[1200];
    clnas_darts_genotype_format(g, gs, sizeof gs);
    graph_title(net, "DARTS evaluation network (%s)  C=%d layers=%d classes=%d input 3x%dx%d", cfg->imagenet ? "NetworkImageNet"
                : "NetworkCIFAR", cfg->C, cfg->layers, cfg->classes, cfg->input_hw, cfg->input_hw);
    graph_title(net, "genotype %s", gs);
    if (cfg->no_bn) graph_title(net, "without BatchNorm (every BN the identity: synflow's copy)");
    graph_title(net, "auxiliary head (training only, not counted below): %zu parameters", clnas_darts_aux_params(cfg, g));
    int s0, s1, reduction_prev = cfg->imagenet, C = cfg->C;
    if (cfg->imagenet) {
        s1 = imagenet_stem(net, C, &s0);
    } else {
        s0 = graph_conv(net, 0, 3 * C, 3, 1, 1, "stem.conv");
        s0 = s1 = bn(net, s0, "stem.bn", "");
    }
    for (int i = 0; i < cfg->layers && s1 >= 0; i++) {
        int reduction = i == cfg->layers / 3 || i == 2 * cfg->layers / 3;
        if (reduction) C *= 2;
        int y = genotype_cell(net, s0, s1, i, C, reduction, reduction_prev, reduction ? &g->reduce : &g->normal);
        s0 = s1;
        s1 = y;
        reduction_prev = reduction;
    }
    int x = graph_gap(net, s1, "global_pooling");
    x = graph_linear(net, x, cfg->classes, 1, "classifier");
    return finish(net, x, out, err, errlen);
}

clnas_status clnas_darts_eval_build(const clnas_darts_eval_config *cfg, const clnas_darts_genotype *g, clnas_net **out,
                                    char *err, size_t errlen)
{
    g_no_bn = cfg->no_bn != 0;
    clnas_status st = eval_build(cfg, g, out, err, errlen);
    g_no_bn = 0;
    return st;
}

size_t clnas_darts_aux_params(const clnas_darts_eval_config *cfg, const clnas_darts_genotype *g)
{
    /* the channels after cell 2*layers/3 (a reduction cell): its concat width x 4C */
    size_t Caux = (size_t)g->reduce.nconcat * 4 * (size_t)cfg->C;
    size_t p = Caux * 128 + 2 * 128 + 128 * 768 * 4 + 768 * (size_t)cfg->classes + (size_t)cfg->classes;
    if (!cfg->imagenet) p += 2 * 768; /* AuxiliaryHeadCIFAR has BN(768); the ImageNet head omits it */
    return p;
}
