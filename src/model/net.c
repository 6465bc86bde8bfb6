/* net.c - what every network offers whatever space built it: sizes, the parameter tensors and
 * their names, deterministic initialisation from the counter-based generator, FLOP counts and
 * the layer-by-layer summary. The graph itself is built in graph.c, by a space's builder. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/rng.h"
#include "model/graph.h"

void clnas_net_destroy(clnas_net *net)
{
    if (!net) return;
    free(net->tensors);
    free(net->layers);
    free(net);
}

size_t clnas_net_nparams(const clnas_net *net) { return net->nparams; }
size_t clnas_net_njacobian(const clnas_net *net) { return net->njac; }
int clnas_net_classes(const clnas_net *net) { return (int)tensor_size(&net->tensors[net->output]); }
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
    static _Thread_local char buf[sizeof ((layer *)0)->name + 8];
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
    char nm[sizeof ((layer *)0)->name + 8];
    for (int i = 0; i < net->nlayers; i++) {
        const layer *l = &net->layers[i];
        if (!l->w_len) continue;
        if (l->kind == L_BN || l->kind == L_LN) {
            for (size_t j = 0; j < l->w_len; j++) params[l->w_off + j] = 1.0f;
            for (size_t j = 0; j < l->b_len; j++) params[l->b_off + j] = 0.0f;
            continue;
        }
        size_t fan_in = (size_t)l->w_shape[1] * (l->w_shape[2] ? (size_t)l->w_shape[2] * l->w_shape[3] : 1);
        size_t fan_out = (size_t)l->w_shape[0] * (l->w_shape[2] ? (size_t)l->w_shape[2] * l->w_shape[3] : 1);
        snprintf(nm, sizeof nm, "%s.weight", l->name);
        uint64_t kw = clnas_key_module(seed, stream, nm);
        if (l->init == LAYER_INIT_TRUNC02) { /* timm trunc_normal_(std=.02, a=-2, b=2), bias 0 */
            fill(params + l->w_off, l->w_len, kw, 1, 0.02);
            for (size_t j = 0; j < l->w_len; j++)
                params[l->w_off + j] = params[l->w_off + j] > 2.0f ? 2.0f : params[l->w_off + j] < -2.0f ? -2.0f : params[l->w_off + j];
            for (size_t j = 0; j < l->b_len; j++) params[l->b_off + j] = 0.0f;
            continue;
        }
        if (init == CLNAS_INIT_PYTORCH || l->init == LAYER_INIT_TORCH) fill(params + l->w_off, l->w_len, kw, 0, 1.0 / sqrt((double)fan_in));
        else fill(params + l->w_off, l->w_len, kw, 1, sqrt(2.0 / (double)(init == CLNAS_INIT_KAIMING_FAN_IN ? fan_in : fan_out)));
        if (l->b_len) {
            snprintf(nm, sizeof nm, "%s.bias", l->name);
            if (init == CLNAS_INIT_PYTORCH || l->init == LAYER_INIT_TORCH) fill(params + l->b_off, l->b_len, clnas_key_module(seed, stream, nm), 0, 1.0 / sqrt((double)fan_in));
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
    char a[32], b2[32];
    fprintf(f, "%s\n", net->title);
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
    /* which layer kinds the Jacobian's weights come from */
    static const char *const wname[L_NKINDS] = {[L_CONV] = "conv weights", [L_BN] = "BN gamma", [L_LINEAR] = "linear weight",
                                                [L_DWCONV] = "depthwise conv weights",
                                                [L_LN] = "LN gamma", [L_TLINEAR] = "token-linear weight"};
    char kinds[256] = "";
    size_t kl = 0;
    for (int k = 0; k < L_NKINDS; k++) {
        int has = 0;
        for (int i = 0; i < net->nlayers && !has; i++) has = net->layers[i].kind == (layer_kind)k && net->layers[i].w_len;
        if (has && wname[k] && kl < sizeof kinds)
            kl += (size_t)snprintf(kinds + kl, sizeof kinds - kl, "%s%s", kl ? ", " : "", wname[k]);
    }
    fprintf(f, "NTK Jacobian parameters (%s): %s\n", kinds, b2);
    fmt_count(net->act_per_sample, a, sizeof a);
    fprintf(f, "activations per sample: %s floats; ReLU outputs per sample (linear-region bits): %zu\n", a, net->relu_bits);
}

void clnas_net_flops(const clnas_net *net, int batch, double *fwd, double *bwd)
{
    double f = 0, b = 0;
    for (int i = 0; i < net->nlayers; i++) {
        const layer *l = &net->layers[i];
        if (l->kind == L_SUM || l->kind == L_CONCAT) continue; /* no single input (and no MACs) */
        const tensor_desc *ti = &net->tensors[l->in], *to = &net->tensors[l->out];
        double macs = 0;
        if (l->kind == L_CONV) macs = (double)batch * to->c * to->h * to->w * ti->c * l->k * l->k;
        else if (l->kind == L_DWCONV) macs = (double)batch * to->c * to->h * to->w * l->k * l->k;
        else if (l->kind == L_LINEAR) macs = (double)batch * ti->c * l->cout;
        else if (l->kind == L_TLINEAR) macs = (double)batch * ti->h * ti->w * ti->c * l->cout;
        else if (l->kind == L_ATTN) { /* q k^T and p v: 2 * tokens * window tokens * C; backward twice that */
            macs = 2.0 * batch * to->h * to->w * (double)l->wh * l->ww * to->c;
            f += 2 * macs;
            b += 4 * macs;
            continue;
        } else continue;
        f += 2 * macs;
        /* weight gradient always; input gradient except into the network input */
        b += 2 * macs * (l->in == 0 ? 1 : 2);
    }
    *fwd = f;
    *bwd = b;
}
