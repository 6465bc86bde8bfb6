/* net.c - builds NAS-Bench-201 networks as a static layer graph, lays out their parameters,
 * initialises them from the counter-based generator, and prints model summaries. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/rng.h"
#include "model/graph.h"

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

/* ---- graph construction ---- */
typedef struct builder {
    clnas_net *net;
    int failed;
} builder;

static int add_tensor(builder *b, int c, int h, int w)
{
    clnas_net *n = b->net;
    if (n->ntensors == n->captensors) {
        int cap = n->captensors ? 2 * n->captensors : 64;
        void *p = realloc(n->tensors, (size_t)cap * sizeof *n->tensors);
        if (!p) { b->failed = 1; return 0; }
        n->tensors = p;
        n->captensors = cap;
    }
    tensor_desc *t = &n->tensors[n->ntensors];
    t->c = c; t->h = h; t->w = w;
    t->off = n->act_per_sample;
    n->act_per_sample += (size_t)c * h * w;
    return n->ntensors++;
}

static layer *add_layer(builder *b, layer_kind kind, int in, const char *fmt, ...)
{
    clnas_net *n = b->net;
    if (n->nlayers == n->caplayers) {
        int cap = n->caplayers ? 2 * n->caplayers : 64;
        void *p = realloc(n->layers, (size_t)cap * sizeof *n->layers);
        if (!p) { b->failed = 1; return NULL; }
        n->layers = p;
        n->caplayers = cap;
    }
    layer *l = &n->layers[n->nlayers++];
    memset(l, 0, sizeof *l);
    l->kind = kind;
    l->in = in;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->name, sizeof l->name, fmt, ap);
    va_end(ap);
    return l;
}

/* Parameter offsets are assigned after the graph is built (weights first, then biases). */
static int conv(builder *b, int in, int cout, int k, int stride, int pad, const char *name)
{
    const tensor_desc t = b->net->tensors[in]; /* a copy: add_tensor may move the array */
    int cin = t.c, ho = (t.h + 2 * pad - k) / stride + 1, wo = (t.w + 2 * pad - k) / stride + 1;
    int out = add_tensor(b, cout, ho, wo);
    layer *l = add_layer(b, L_CONV, in, "%s", name);
    if (!l) return 0;
    l->out = out; l->k = k; l->stride = stride; l->pad = pad; l->cout = cout;
    l->w_len = (size_t)cout * cin * k * k;
    l->w_shape[0] = cout; l->w_shape[1] = cin; l->w_shape[2] = k; l->w_shape[3] = k;
    snprintf(l->desc, sizeof l->desc, "conv%dx%d %d->%d%s", k, k, cin, cout, stride == 2 ? " /2" : "");
    return out;
}

static int bn(builder *b, int in, const char *name)
{
    const tensor_desc t = b->net->tensors[in];
    int out = add_tensor(b, t.c, t.h, t.w);
    layer *l = add_layer(b, L_BN, in, "%s", name);
    if (!l) return 0;
    l->out = out;
    l->w_len = l->b_len = (size_t)t.c;
    l->w_shape[0] = t.c;
    snprintf(l->desc, sizeof l->desc, "batchnorm(%d), train mode", t.c);
    return out;
}

static int relu(builder *b, int in, const char *name)
{
    const tensor_desc t = b->net->tensors[in];
    int out = add_tensor(b, t.c, t.h, t.w);
    layer *l = add_layer(b, L_RELU, in, "%s", name);
    if (!l) return 0;
    l->out = out;
    snprintf(l->desc, sizeof l->desc, "relu");
    b->net->relu_bits += tensor_size(&t);
    return out;
}

static int avgpool(builder *b, int in, int k, int stride, int pad, const char *name)
{
    const tensor_desc t = b->net->tensors[in];
    int out = add_tensor(b, t.c, (t.h + 2 * pad - k) / stride + 1, (t.w + 2 * pad - k) / stride + 1);
    layer *l = add_layer(b, L_AVGPOOL, in, "%s", name);
    if (!l) return 0;
    l->out = out; l->k = k; l->stride = stride; l->pad = pad;
    snprintf(l->desc, sizeof l->desc, "avgpool%dx%d s%d p%d (count_include_pad=False)", k, k, stride, pad);
    return out;
}

/* ReLU -> Conv -> BN (ReLUConvBN of NB201). */
static int relu_conv_bn(builder *b, int in, int cout, int k, int stride, int pad, const char *prefix)
{
    char nm[96];
    snprintf(nm, sizeof nm, "%s.relu", prefix);
    int r = relu(b, in, nm);
    snprintf(nm, sizeof nm, "%s.conv", prefix);
    int c = conv(b, r, cout, k, stride, pad, nm);
    snprintf(nm, sizeof nm, "%s.bn", prefix);
    return bn(b, c, nm);
}

/* node = sum of coef_i * ins_i (ins may be empty: zero tensor). */
static int sum(builder *b, int n, const int *ins, const float *coef, int c, int h, int w, const char *name,
               const char *desc)
{
    int out = add_tensor(b, c, h, w);
    layer *l = add_layer(b, L_SUM, -1, "%s", name);
    if (!l) return 0;
    l->out = out;
    l->nin = n;
    for (int i = 0; i < n; i++) { l->ins[i] = ins[i]; l->coef[i] = coef[i]; }
    snprintf(l->desc, sizeof l->desc, "%s", desc);
    return out;
}

static int cell(builder *b, int in, int ci, const clnas_nb201_arch *a)
{
    int nodes[4];
    nodes[0] = in;
    const tensor_desc t = b->net->tensors[in];
    int e = 0;
    for (int i = 1; i <= 3; i++) {
        int ins[MAX_SUM_IN];
        float coef[MAX_SUM_IN];
        int n = 0;
        char desc[192] = "";
        size_t dl = 0;
        static const char *const shortname[CLNAS_NB201_NOPS] = {"none", "skip", "conv1x1", "conv3x3", "pool3x3"};
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
                if (o == CLNAS_NB201_CONV1) y = relu_conv_bn(b, nodes[j], t.c, 1, 1, 0, prefix);
                else if (o == CLNAS_NB201_CONV3) y = relu_conv_bn(b, nodes[j], t.c, 3, 1, 1, prefix);
                else if (o == CLNAS_NB201_POOL3) {
                    char nm[112];
                    snprintf(nm, sizeof nm, "%s.pool", prefix);
                    y = avgpool(b, nodes[j], 3, 1, 1, nm);
                }
                ins[n] = y;
                coef[n] = cf;
                n++;
                last = o;
            }
            /* `none` contributes nothing but still counts in the mean's denominator k */
            if (dl < sizeof desc) {
                if (k == 1)
                    dl += (size_t)snprintf(desc + dl, sizeof desc - dl, "%s%s(n%d)", dl ? " + " : "",
                                           shortname[last < 0 ? 0 : last], j);
                else
                    dl += (size_t)snprintf(desc + dl, sizeof desc - dl, "%smean%d(n%d)", dl ? " + " : "", k, j);
            }
        }
        char nm[64];
        snprintf(nm, sizeof nm, "cells.%d.node%d", ci, i);
        char full[192];
        snprintf(full, sizeof full, "node%d = %s", i, n ? desc : "0 (no active op)");
        nodes[i] = sum(b, n, ins, coef, t.c, t.h, t.w, nm, full);
    }
    return nodes[3];
}

static int resblock(builder *b, int in, int ci, int cout)
{
    char p[64], nm[96];
    snprintf(p, sizeof p, "cells.%d.conv_a", ci);
    int a = relu_conv_bn(b, in, cout, 3, 2, 1, p);
    snprintf(p, sizeof p, "cells.%d.conv_b", ci);
    int bb = relu_conv_bn(b, a, cout, 3, 1, 1, p);
    snprintf(nm, sizeof nm, "cells.%d.downsample.pool", ci);
    int d = avgpool(b, in, 2, 2, 0, nm);
    snprintf(nm, sizeof nm, "cells.%d.downsample.conv", ci);
    int dc = conv(b, d, cout, 1, 1, 0, nm);
    int ins[2] = {dc, bb};
    float coef[2] = {1, 1};
    snprintf(nm, sizeof nm, "cells.%d.out", ci);
    const tensor_desc t = b->net->tensors[bb];
    return sum(b, 2, ins, coef, t.c, t.h, t.w, nm, "out = downsample + conv_b");
}

clnas_status clnas_net_nb201(const clnas_nb201_config *cfg, const clnas_nb201_arch *arch,
                             clnas_net **out, char *err, size_t errlen)
{
    *out = NULL;
    const char *bad = NULL;
    if (cfg->C < 1 || cfg->C > 4096) bad = "C must be in [1, 4096]";
    else if (cfg->N < 1 || cfg->N > 64) bad = "N must be in [1, 64]";
    else if (cfg->classes < 1 || cfg->classes > 100000) bad = "classes must be in [1, 100000]";
    else if (cfg->input_hw < 1 || cfg->input_hw > 4096) bad = "input size must be in [1, 4096]";
    else if (cfg->depth == 0 || cfg->depth < -1) bad = "depth must be -1 (all) or positive";
    char why[128];
    if (!bad) {
        /* each kept reduction block halves the image; its two branches agree only on even sizes */
        int hw = cfg->input_hw, nblocks = 3 * cfg->N + 2, keep = cfg->depth < 0 ? nblocks : cfg->depth;
        for (int i = 0; i < keep && i < nblocks && !bad; i++) {
            if (i != cfg->N && i != 2 * cfg->N + 1) continue;
            if (hw < 2 || hw % 2) {
                snprintf(why, sizeof why, "input size %d: the reduction block at depth %d needs an even size >= 2, got %d",
                         cfg->input_hw, i + 1, hw);
                bad = why;
            }
            hw /= 2;
        }
    }
    if (bad) {
        if (err && errlen) snprintf(err, errlen, "invalid network configuration: %s", bad);
        return CLNAS_E_INVALID_ARG;
    }
    clnas_net *net = calloc(1, sizeof *net);
    if (!net) return CLNAS_E_NOMEM;
    net->cfg = *cfg;
    net->arch = *arch;
    int inc = cfg->in_channels > 0 ? cfg->in_channels : (cfg->use_stem ? (cfg->C < 3 ? cfg->C : 3) : cfg->C);
    net->cfg.in_channels = inc;
    builder b = {net, 0};
    int x = add_tensor(&b, inc, cfg->input_hw, cfg->input_hw);
    if (cfg->use_stem) {
        x = conv(&b, x, cfg->C, 3, 1, 1, "stem.conv");
        x = bn(&b, x, "stem.bn");
    } else if (inc != cfg->C) {
        if (err && errlen) snprintf(err, errlen, "without a stem the input must have C=%d channels (got %d)", cfg->C, inc);
        clnas_net_destroy(net);
        return CLNAS_E_INVALID_ARG;
    }
    int nblocks = 3 * cfg->N + 2, keep = cfg->depth < 0 ? nblocks : (cfg->depth < nblocks ? cfg->depth : nblocks);
    int c = cfg->C;
    for (int i = 0; i < keep && !b.failed; i++) {
        if (i == cfg->N || i == 2 * cfg->N + 1) {
            c *= 2;
            x = resblock(&b, x, i, c);
        } else {
            x = cell(&b, x, i, arch);
        }
    }
    x = bn(&b, x, "lastact.bn");
    x = relu(&b, x, "lastact.relu");
    int g = add_tensor(&b, net->tensors[x].c, 1, 1);
    layer *l = add_layer(&b, L_GAP, x, "global_pooling");
    if (l) { l->out = g; snprintf(l->desc, sizeof l->desc, "global average pool"); }
    int cin = net->tensors[g].c;
    int y = add_tensor(&b, cfg->classes, 1, 1);
    l = add_layer(&b, L_LINEAR, g, "classifier");
    if (l) {
        l->out = y; l->cout = cfg->classes;
        l->w_len = (size_t)cfg->classes * cin;
        l->b_len = (size_t)cfg->classes;
        l->w_shape[0] = cfg->classes; l->w_shape[1] = cin;
        snprintf(l->desc, sizeof l->desc, "linear %d->%d (+bias)", cin, cfg->classes);
    }
    if (b.failed) { clnas_net_destroy(net); return CLNAS_E_NOMEM; }
    net->logits = y;
    /* parameter layout: all weights (the Jacobian set) first, in layer order, then the biases */
    size_t off = 0;
    for (int i = 0; i < net->nlayers; i++) {
        layer *ly = &net->layers[i];
        if (ly->w_len) { ly->w_off = off; off += ly->w_len; net->nptensors++; }
    }
    net->njac = off;
    for (int i = 0; i < net->nlayers; i++) {
        layer *ly = &net->layers[i];
        if (ly->b_len) { ly->b_off = off; off += ly->b_len; net->nptensors++; }
        if (ly->kind == L_BN) { ly->stats_off = net->nstats; net->nstats += 2 * (size_t)net->tensors[ly->in].c; }
    }
    net->nparams = off;
    *out = net;
    return CLNAS_OK;
}

void clnas_net_destroy(clnas_net *net)
{
    if (!net) return;
    free(net->tensors);
    free(net->layers);
    free(net);
}

size_t clnas_net_nparams(const clnas_net *net) { return net->nparams; }
size_t clnas_net_njacobian(const clnas_net *net) { return net->njac; }
int clnas_net_classes(const clnas_net *net) { return net->cfg.classes; }
size_t clnas_net_relu_bits(const clnas_net *net) { return net->relu_bits; }

void clnas_net_input_shape(const clnas_net *net, int *c, int *h, int *w)
{
    *c = net->tensors[0].c;
    *h = net->tensors[0].h;
    *w = net->tensors[0].w;
}

/* Parameter tensor i: weights in layer order, then biases in layer order (the vector's order). */
static const layer *ptensor(const clnas_net *net, int i, int *is_bias)
{
    int k = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int j = 0; j < net->nlayers; j++) {
            const layer *l = &net->layers[j];
            if ((pass == 0 ? l->w_len : l->b_len) == 0) continue;
            if (k++ == i) { *is_bias = pass; return l; }
        }
    return NULL;
}

int clnas_net_nparam_tensors(const clnas_net *net) { return net->nptensors; }

void clnas_net_param_tensor(const clnas_net *net, int i, const char **name, size_t *offset,
                            size_t *count, int shape[4])
{
    static _Thread_local char buf[128];
    int is_bias = 0;
    const layer *l = ptensor(net, i, &is_bias);
    if (!l) { *name = NULL; *offset = *count = 0; return; }
    snprintf(buf, sizeof buf, "%s.%s", l->name, is_bias ? "bias" : "weight");
    *name = buf;
    *offset = is_bias ? l->b_off : l->w_off;
    *count = is_bias ? l->b_len : l->w_len;
    if (is_bias) { shape[0] = (int)l->b_len; shape[1] = shape[2] = shape[3] = 0; }
    else for (int d = 0; d < 4; d++) shape[d] = l->w_shape[d];
}

static void fill(float *dst, size_t n, uint64_t key, int normal, double scale)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (float)(normal ? scale * clnas_ctr_normal(key, i) : scale * (2.0 * clnas_ctr_uniform(key, i) - 1.0));
}

void clnas_net_init_params(const clnas_net *net, uint64_t seed, uint64_t stream, clnas_init init, float *params)
{
    char nm[128];
    for (int i = 0; i < net->nlayers; i++) {
        const layer *l = &net->layers[i];
        if (!l->w_len) continue;
        if (l->kind == L_BN) {
            for (size_t j = 0; j < l->w_len; j++) params[l->w_off + j] = 1.0f;
            for (size_t j = 0; j < l->b_len; j++) params[l->b_off + j] = 0.0f;
            continue;
        }
        size_t fan_in = (size_t)l->w_shape[1] * (l->w_shape[2] ? (size_t)l->w_shape[2] * l->w_shape[3] : 1);
        size_t fan_out = (size_t)l->w_shape[0] * (l->w_shape[2] ? (size_t)l->w_shape[2] * l->w_shape[3] : 1);
        snprintf(nm, sizeof nm, "%s.weight", l->name);
        uint64_t kw = clnas_key_module(seed, stream, nm);
        if (init == CLNAS_INIT_PYTORCH) fill(params + l->w_off, l->w_len, kw, 0, 1.0 / sqrt((double)fan_in));
        else fill(params + l->w_off, l->w_len, kw, 1, sqrt(2.0 / (double)(init == CLNAS_INIT_KAIMING_FAN_IN ? fan_in : fan_out)));
        if (l->b_len) {
            snprintf(nm, sizeof nm, "%s.bias", l->name);
            if (init == CLNAS_INIT_PYTORCH) fill(params + l->b_off, l->b_len, clnas_key_module(seed, stream, nm), 0, 1.0 / sqrt((double)fan_in));
            else for (size_t j = 0; j < l->b_len; j++) params[l->b_off + j] = 0.0f;
        }
    }
}

static void fmt_count(size_t v, char *buf, size_t n)
{
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%zu", v);
    size_t len = strlen(tmp), o = 0;
    for (size_t i = 0; i < len && o + 2 < n; i++) {
        if (i && (len - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = 0;
}

void clnas_net_print_summary(const clnas_net *net, FILE *f)
{
    char arch[512], a[32], b2[32];
    clnas_nb201_format(&net->arch, arch, sizeof arch);
    const clnas_nb201_config *c = &net->cfg;
    fprintf(f, "NAS-Bench-201 network  C=%d N=%d classes=%d input=%dx%dx%d stem=%s depth=%s\n", c->C, c->N,
            c->classes, c->in_channels, c->input_hw, c->input_hw, c->use_stem ? "yes" : "no",
            c->depth < 0 ? "all" : (snprintf(a, sizeof a, "%d", c->depth), a));
    fprintf(f, "arch %s\n\n", arch);
    fprintf(f, "%-4s %-44s %-46s %-14s %10s\n", "#", "layer", "operation", "output", "params");
    for (int i = 0; i < net->nlayers; i++) {
        const layer *l = &net->layers[i];
        const tensor_desc *t = &net->tensors[l->out];
        char shape[32];
        if (t->h == 1 && t->w == 1) snprintf(shape, sizeof shape, "%d", t->c);
        else snprintf(shape, sizeof shape, "%dx%dx%d", t->c, t->h, t->w);
        fmt_count(l->w_len + l->b_len, a, sizeof a);
        fprintf(f, "%-4d %-44s %-46.46s %-14s %10s\n", i, l->name, l->desc, shape, l->w_len + l->b_len ? a : "-");
    }
    fmt_count(net->nparams, a, sizeof a);
    fmt_count(net->njac, b2, sizeof b2);
    fprintf(f, "\ntotal parameters: %s\n", a);
    fprintf(f, "NTK Jacobian parameters (conv weights, BN gamma, linear weight): %s\n", b2);
    fmt_count(net->act_per_sample, a, sizeof a);
    fprintf(f, "activations per sample: %s floats; ReLU outputs per sample (linear-region bits): %zu\n", a, net->relu_bits);
}

void clnas_net_flops(const clnas_net *net, int batch, double *fwd, double *bwd)
{
    double f = 0, b = 0;
    for (int i = 0; i < net->nlayers; i++) {
        const layer *l = &net->layers[i];
        const tensor_desc *ti = &net->tensors[l->in], *to = &net->tensors[l->out];
        double macs = 0;
        if (l->kind == L_CONV) macs = (double)batch * to->c * to->h * to->w * ti->c * l->k * l->k;
        else if (l->kind == L_LINEAR) macs = (double)batch * ti->c * l->cout;
        else continue;
        f += 2 * macs;
        /* weight gradient always; input gradient except into the network input */
        b += 2 * macs * (l->in == 0 ? 1 : 2);
    }
    *fwd = f;
    *bwd = b;
}
