/* nb201.c - the NAS-Bench-201 builder: turns a config (TinyNetwork's macro skeleton) and a cell
 * (an arch string, single-path or supernet) into the space-agnostic layer graph (graph.h), and
 * builds TE-NAS's two proxies of an architecture. Module names follow the original's
 * (cells.I.edges.J<-K.OP...), so the weight generator and the dumps key on them. */
#include <stdio.h>
#include <string.h>
#include "clnas/nb201.h"
#include "model/graph.h"
#include "spaces/nb201_internal.h"

/* Set only while nb201_build_nobn runs: every BatchNorm is left out (synflow's bn=False copy). */
static _Thread_local int g_no_bn;

static int maybe_bn(clnas_net *n, int x, const char *name)
{
    return g_no_bn ? x : graph_bn(n, x, "%s", name);
}

void clnas_nb201_config_default(clnas_nb201_config *c)
{
    c->C = 16; c->N = 5; c->classes = 10; c->input_hw = 32; c->in_channels = 0; c->use_stem = 1; c->depth = -1;
}

void clnas_nb201_config_ntk(clnas_nb201_config *c, int classes, int input_hw)
{
    c->C = 3; c->N = 1; c->classes = classes; c->input_hw = input_hw; c->in_channels = 0; c->use_stem = 1; c->depth = -1;
}

void clnas_nb201_config_lr(clnas_nb201_config *c, int classes)
{
    c->C = 1; c->N = 1; c->classes = classes; c->input_hw = 3; c->in_channels = 1; c->use_stem = 0; c->depth = 1;
}

/* ReLU -> Conv -> BN (ReLUConvBN of NB201). */
static int relu_conv_bn(clnas_net *n, int in, int cout, int k, int stride, int pad, const char *prefix)
{
    int r = graph_relu(n, in, "%s.relu", prefix);
    int c = graph_conv(n, r, cout, k, stride, pad, "%s.conv", prefix);
    char bn[160];
    snprintf(bn, sizeof bn, "%s.bn", prefix);
    return maybe_bn(n, c, bn);
}

/* One search cell: node i = sum over j < i of edge(i<-j)(node j), each edge the mean of its
 * active ops (TE-NAS's alpha = 0 / -1000 weighting; `none` counts in the mean's denominator). */
static int cell(clnas_net *n, int in, int ci, const clnas_nb201_arch *a)
{
    static const char *const shortname[CLNAS_NB201_NOPS] = {"none", "skip", "conv1x1", "conv3x3", "pool3x3"};
    int nodes[4];
    nodes[0] = in;
    if (in < 0) return -1;
    const tensor_desc t = n->tensors[in];
    int e = 0;
    for (int i = 1; i <= 3; i++) {
        int ins[MAX_SUM_IN], cnt = 0;
        float coef[MAX_SUM_IN];
        char desc[192] = "";
        size_t dl = 0;
        for (int j = 0; j < i; j++, e++) {
            int k = clnas_nb201_edge_count(a, e);
            if (k == 0) continue;
            float cf = 1.0f / (float)k;
            int last = -1;
            for (int o = 1; o < CLNAS_NB201_NOPS; o++) {
                if (!(a->ops[e] & (1u << o))) continue;
                char prefix[96];
                snprintf(prefix, sizeof prefix, "cells.%d.edges.%d<-%d.%s", ci, i, j, clnas_nb201_op_name(o));
                int y = nodes[j];
                if (o == CLNAS_NB201_CONV1) y = relu_conv_bn(n, nodes[j], t.c, 1, 1, 0, prefix);
                else if (o == CLNAS_NB201_CONV3) y = relu_conv_bn(n, nodes[j], t.c, 3, 1, 1, prefix);
                else if (o == CLNAS_NB201_POOL3) y = graph_avgpool(n, nodes[j], 3, 1, 1, "%s.pool", prefix);
                ins[cnt] = y;
                coef[cnt] = cf;
                cnt++;
                last = o;
            }
            if (dl < sizeof desc) {
                if (k == 1)
                    dl += (size_t)snprintf(desc + dl, sizeof desc - dl, "%s%s(n%d)", dl ? " + " : "",
                                           shortname[last < 0 ? 0 : last], j);
                else
                    dl += (size_t)snprintf(desc + dl, sizeof desc - dl, "%smean%d(n%d)", dl ? " + " : "", k, j);
            }
        }
        nodes[i] = graph_sum(n, cnt, ins, coef, t.c, t.h, t.w, "cells.%d.node%d", ci, i);
        graph_describe(n, "node%d = %s", i, cnt ? desc : "0 (no active op)");
    }
    return nodes[3];
}

/* ResNetBasicblock(C, 2C, stride 2): ReLUConvBN a (/2), ReLUConvBN b, shortcut avgpool 2x2 + conv1x1. */
static int resblock(clnas_net *n, int in, int ci, int cout)
{
    char p[64];
    snprintf(p, sizeof p, "cells.%d.conv_a", ci);
    int a = relu_conv_bn(n, in, cout, 3, 2, 1, p);
    snprintf(p, sizeof p, "cells.%d.conv_b", ci);
    int bb = relu_conv_bn(n, a, cout, 3, 1, 1, p);
    int d = graph_avgpool(n, in, 2, 2, 0, "cells.%d.downsample.pool", ci);
    int dc = graph_conv(n, d, cout, 1, 1, 0, "cells.%d.downsample.conv", ci);
    if (bb < 0 || dc < 0) return -1;
    int ins[2] = {dc, bb};
    float coef[2] = {1, 1};
    const tensor_desc t = n->tensors[bb];
    int out = graph_sum(n, 2, ins, coef, t.c, t.h, t.w, "cells.%d.out", ci);
    graph_describe(n, "out = downsample + conv_b");
    return out;
}

static const char *check_config(const clnas_nb201_config *cfg, char *why, size_t len)
{
    if (cfg->C < 1 || cfg->C > 4096) return "C must be in [1, 4096]";
    if (cfg->N < 1 || cfg->N > 64) return "N must be in [1, 64]";
    if (cfg->classes < 1 || cfg->classes > 100000) return "classes must be in [1, 100000]";
    if (cfg->input_hw < 1 || cfg->input_hw > 4096) return "input size must be in [1, 4096]";
    if (cfg->depth == 0 || cfg->depth < -1) return "depth must be -1 (all) or positive";
    /* each kept reduction block halves the image; its two branches agree only on even sizes */
    int hw = cfg->input_hw, nblocks = 3 * cfg->N + 2, keep = cfg->depth < 0 ? nblocks : cfg->depth;
    for (int i = 0; i < keep && i < nblocks; i++) {
        if (i != cfg->N && i != 2 * cfg->N + 1) continue;
        if (hw < 2 || hw % 2) {
            snprintf(why, len, "input size %d: the reduction block at depth %d needs an even size >= 2, got %d",
                     cfg->input_hw, i + 1, hw);
            return why;
        }
        hw /= 2;
    }
    return NULL;
}

clnas_status clnas_nb201_build(const clnas_nb201_config *cfg, const clnas_nb201_arch *arch, clnas_net **out,
                               char *err, size_t errlen)
{
    *out = NULL;
    char why[128];
    const char *bad = check_config(cfg, why, sizeof why);
    if (bad) {
        if (err && errlen) snprintf(err, errlen, "invalid network configuration: %s", bad);
        return CLNAS_E_INVALID_ARG;
    }
    int inc = cfg->in_channels > 0 ? cfg->in_channels : (cfg->use_stem ? (cfg->C < 3 ? cfg->C : 3) : cfg->C);
    if (!cfg->use_stem && inc != cfg->C) {
        if (err && errlen) snprintf(err, errlen, "without a stem the input must have C=%d channels (got %d)", cfg->C, inc);
        return CLNAS_E_INVALID_ARG;
    }
    clnas_net *net = graph_new(inc, cfg->input_hw, cfg->input_hw);
    if (!net) {
        if (err && errlen) snprintf(err, errlen, "out of host memory building the network");
        return CLNAS_E_NOMEM;
    }
    char archs[512], depth[32];
    clnas_nb201_format(arch, archs, sizeof archs);
    snprintf(depth, sizeof depth, "%d", cfg->depth);
    graph_title(net, "NAS-Bench-201 network  C=%d N=%d classes=%d input=%dx%dx%d stem=%s depth=%s", cfg->C, cfg->N,
                cfg->classes, inc, cfg->input_hw, cfg->input_hw, cfg->use_stem ? "yes" : "no",
                cfg->depth < 0 ? "all" : depth);
    graph_title(net, "arch %s", archs);
    int x = 0;
    if (cfg->use_stem) {
        x = graph_conv(net, x, cfg->C, 3, 1, 1, "stem.conv");
        x = maybe_bn(net, x, "stem.bn");
    }
    int nblocks = 3 * cfg->N + 2, keep = cfg->depth < 0 ? nblocks : (cfg->depth < nblocks ? cfg->depth : nblocks);
    int c = cfg->C;
    for (int i = 0; i < keep && x >= 0; i++) {
        if (i == cfg->N || i == 2 * cfg->N + 1) {
            c *= 2;
            x = resblock(net, x, i, c);
        } else {
            x = cell(net, x, i, arch);
        }
    }
    x = maybe_bn(net, x, "lastact.bn");
    x = graph_relu(net, x, "lastact.relu");
    x = graph_gap(net, x, "global_pooling");
    x = graph_linear(net, x, cfg->classes, 1, "classifier");
    clnas_status st = graph_finish(net, x, err, errlen);
    if (st != CLNAS_OK) {
        clnas_net_destroy(net);
        return st;
    }
    *out = net;
    return CLNAS_OK;
}

clnas_status nb201_build_nobn(const clnas_nb201_config *cfg, const clnas_nb201_arch *arch, clnas_net **out,
                              char *err, size_t errlen)
{
    g_no_bn = 1;
    clnas_status st = clnas_nb201_build(cfg, arch, out, err, errlen);
    g_no_bn = 0;
    return st;
}

clnas_status clnas_nb201_proxies(const clnas_nb201_arch *arch, clnas_dataset_kind dataset, clnas_net **ntk_net,
                                 clnas_net **lr_net, char *err, size_t errlen)
{
    clnas_nb201_config c;
    clnas_status st = CLNAS_OK;
    if (ntk_net) {
        *ntk_net = NULL;
        clnas_nb201_config_ntk(&c, clnas_dataset_classes(dataset), clnas_dataset_hw(dataset));
        st = clnas_nb201_build(&c, arch, ntk_net, err, errlen);
    }
    if (st == CLNAS_OK && lr_net) {
        *lr_net = NULL;
        clnas_nb201_config_lr(&c, clnas_dataset_classes(dataset));
        st = clnas_nb201_build(&c, arch, lr_net, err, errlen);
        if (st != CLNAS_OK && ntk_net) {
            clnas_net_destroy(*ntk_net);
            *ntk_net = NULL;
        }
    }
    return st;
}
