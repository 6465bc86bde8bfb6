/* graph.c - building a network's layer graph (graph.h): the calls a search space's builder
 * emits, each appending one layer and one output tensor, and graph_finish, which lays out the
 * parameters and freezes the graph. Knows no search space. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model/graph.h"

static int fail(clnas_net *n, const char *fmt, ...) CLNAS_PRINTF(2, 3);
static int fail(clnas_net *n, const char *fmt, ...)
{
    if (!n->failed) {
        n->failed = 1;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(n->err, sizeof n->err, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int add_tensor(clnas_net *n, int c, int h, int w)
{
    if (c < 1 || h < 1 || w < 1) return fail(n, "a layer's output would be %d x %d x %d", c, h, w);
    if (n->ntensors == n->captensors) {
        int cap = n->captensors ? 2 * n->captensors : 64;
        void *p = realloc(n->tensors, (size_t)cap * sizeof *n->tensors);
        if (!p) return fail(n, "out of host memory building the network");
        n->tensors = p;
        n->captensors = cap;
    }
    tensor_desc *t = &n->tensors[n->ntensors];
    t->c = c;
    t->h = h;
    t->w = w;
    t->tok = 0;
    t->off = n->act_per_sample;
    t->parent = -1;
    t->c0 = 0;
    n->act_per_sample += (size_t)c * h * w;
    return n->ntensors++;
}

clnas_net *graph_new(int c, int h, int w)
{
    clnas_net *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    if (add_tensor(n, c, h, w) != 0) {
        clnas_net_destroy(n);
        return NULL;
    }
    return n;
}

/* Checks the input tensor id and the state; returns 0 when the call may go on. */
static int check_in(clnas_net *n, int x, const char *what)
{
    if (n->failed) return -1;
    if (n->finished) return fail(n, "%s: the network is finished", what);
    if (x < 0 || x >= n->ntensors) return fail(n, "%s: no tensor %d", what, x);
    return 0;
}

/* Appends a layer named by fmt/ap; NULL after a failure. */
static layer *add_layer(clnas_net *n, layer_kind kind, int in, const char *fmt, va_list ap)
{
    if (n->nlayers == n->caplayers) {
        int cap = n->caplayers ? 2 * n->caplayers : 64;
        void *p = realloc(n->layers, (size_t)cap * sizeof *n->layers);
        if (!p) {
            fail(n, "out of host memory building the network");
            return NULL;
        }
        n->layers = p;
        n->caplayers = cap;
    }
    layer *l = &n->layers[n->nlayers++];
    memset(l, 0, sizeof *l);
    l->kind = kind;
    l->in = in;
    vsnprintf(l->name, sizeof l->name, fmt, ap);
    return l;
}

/* out = (in + 2 pad - k) / stride + 1, or 0 when the window does not fit */
static int out_size(int in, int k, int stride, int pad)
{
    if (k < 1 || stride < 1 || pad < 0 || in + 2 * pad < k) return 0;
    return (in + 2 * pad - k) / stride + 1;
}

int graph_conv(clnas_net *n, int x, int cout, int k, int stride, int pad, const char *name, ...)
{
    if (check_in(n, x, "conv")) return -1;
    if (n->tensors[x].tok) return fail(n, "conv: tensor %d holds tokens; it needs an NCHW map", x);
    const tensor_desc t = n->tensors[x]; /* a copy: add_tensor may move the array */
    int out = add_tensor(n, cout, out_size(t.h, k, stride, pad), out_size(t.w, k, stride, pad));
    if (out < 0) return -1;
    va_list ap;
    va_start(ap, name);
    layer *l = add_layer(n, L_CONV, x, name, ap);
    va_end(ap);
    if (!l) return -1;
    l->out = out;
    l->k = k;
    l->stride = stride;
    l->pad = pad;
    l->cout = cout;
    l->w_len = (size_t)cout * t.c * k * k;
    l->w_shape[0] = cout;
    l->w_shape[1] = t.c;
    l->w_shape[2] = k;
    l->w_shape[3] = k;
    if (stride > 1) snprintf(l->desc, sizeof l->desc, "conv%dx%d %d->%d /%d", k, k, t.c, cout, stride);
    else snprintf(l->desc, sizeof l->desc, "conv%dx%d %d->%d", k, k, t.c, cout);
    return out;
}

int graph_bn(clnas_net *n, int x, const char *name, ...)
{
    if (check_in(n, x, "batchnorm")) return -1;
    if (n->tensors[x].tok) return fail(n, "batchnorm: tensor %d holds tokens; it needs an NCHW map", x);
    const tensor_desc t = n->tensors[x];
    int out = add_tensor(n, t.c, t.h, t.w);
    if (out < 0) return -1;
    va_list ap;
    va_start(ap, name);
    layer *l = add_layer(n, L_BN, x, name, ap);
    va_end(ap);
    if (!l) return -1;
    l->out = out;
    l->w_len = l->b_len = (size_t)t.c;
    l->w_shape[0] = t.c;
    snprintf(l->desc, sizeof l->desc, "batchnorm(%d), train mode", t.c);
    return out;
}

int graph_relu(clnas_net *n, int x, const char *name, ...)
{
    if (check_in(n, x, "relu")) return -1;
    const tensor_desc t = n->tensors[x];
    int out = add_tensor(n, t.c, t.h, t.w);
    if (out < 0) return -1;
    va_list ap;
    va_start(ap, name);
    layer *l = add_layer(n, L_RELU, x, name, ap);
    va_end(ap);
    if (!l) return -1;
    l->out = out;
    n->tensors[out].tok = t.tok;
    snprintf(l->desc, sizeof l->desc, "relu");
    n->relu_bits += tensor_size(&t);
    return out;
}

int graph_avgpool(clnas_net *n, int x, int k, int stride, int pad, const char *name, ...)
{
    if (check_in(n, x, "avgpool")) return -1;
    if (n->tensors[x].tok) return fail(n, "avgpool: tensor %d holds tokens; it needs an NCHW map", x);
    const tensor_desc t = n->tensors[x];
    int out = add_tensor(n, t.c, out_size(t.h, k, stride, pad), out_size(t.w, k, stride, pad));
    if (out < 0) return -1;
    va_list ap;
    va_start(ap, name);
    layer *l = add_layer(n, L_AVGPOOL, x, name, ap);
    va_end(ap);
    if (!l) return -1;
    l->out = out;
    l->k = k;
    l->stride = stride;
    l->pad = pad;
    snprintf(l->desc, sizeof l->desc, "avgpool%dx%d s%d p%d (count_include_pad=False)", k, k, stride, pad);
    return out;
}

int graph_sum(clnas_net *n, int nin, const int *ins, const float *coef, int c, int h, int w, const char *name, ...)
{
    if (n->failed) return -1;
    if (n->finished) return fail(n, "sum: the network is finished");
    if (nin < 0 || nin > MAX_SUM_IN) return fail(n, "sum: %d inputs (at most %d)", nin, MAX_SUM_IN);
    for (int j = 0; j < nin; j++) {
        if (ins[j] < 0 || ins[j] >= n->ntensors) return fail(n, "sum: no tensor %d", ins[j]);
        const tensor_desc *t = &n->tensors[ins[j]];
        if (t->c != c || t->h != h || t->w != w)
            return fail(n, "sum: input %d is %d x %d x %d, the sum %d x %d x %d", j, t->c, t->h, t->w, c, h, w);
        if (t->tok != n->tensors[ins[0]].tok)
            return fail(n, "sum: input %d is %s, input 0 %s", j, t->tok ? "tokens" : "NCHW", t->tok ? "NCHW" : "tokens");
    }
    const int tok = nin > 0 ? n->tensors[ins[0]].tok : 0;
    int out = add_tensor(n, c, h, w);
    if (out < 0) return -1;
    n->tensors[out].tok = tok;
    va_list ap;
    va_start(ap, name);
    layer *l = add_layer(n, L_SUM, -1, name, ap);
    va_end(ap);
    if (!l) return -1;
    l->out = out;
    l->nin = nin;
    for (int j = 0; j < nin; j++) {
        l->ins[j] = ins[j];
        l->coef[j] = coef[j];
    }
    snprintf(l->desc, sizeof l->desc, "sum of %d", nin);
    return out;
}

int graph_gap(clnas_net *n, int x, const char *name, ...)
{
    if (check_in(n, x, "global pool")) return -1;
    if (n->tensors[x].tok) return fail(n, "global pool: tensor %d holds tokens; it needs an NCHW map", x);
    int out = add_tensor(n, n->tensors[x].c, 1, 1);
    if (out < 0) return -1;
    va_list ap;
    va_start(ap, name);
    layer *l = add_layer(n, L_GAP, x, name, ap);
    va_end(ap);
    if (!l) return -1;
    l->out = out;
    snprintf(l->desc, sizeof l->desc, "global average pool");
    return out;
}

int graph_linear(clnas_net *n, int x, int cout, int bias, const char *name, ...)
{
    if (check_in(n, x, "linear")) return -1;
    const int cin = (int)tensor_size(&n->tensors[x]);
    int out = add_tensor(n, cout, 1, 1);
    if (out < 0) return -1;
    va_list ap;
    va_start(ap, name);
    layer *l = add_layer(n, L_LINEAR, x, name, ap);
    va_end(ap);
    if (!l) return -1;
    l->out = out;
    l->cout = cout;
    l->w_len = (size_t)cout * cin;
    l->b_len = bias ? (size_t)cout : 0;
    l->w_shape[0] = cout;
    l->w_shape[1] = cin;
    snprintf(l->desc, sizeof l->desc, "linear %d->%d%s", cin, cout, bias ? " (+bias)" : "");
    return out;
}

int graph_dwconv(clnas_net *n, int x, int k, int stride, int dil, const char *name, ...)
{
    if (check_in(n, x, "dwconv")) return -1;
    if (k < 1 || k % 2 == 0 || stride < 1 || dil < 1)
        return fail(n, "dwconv: kernel %d, stride %d, dilation %d (need an odd kernel, stride and dilation >= 1)",
                    k, stride, dil);
    const tensor_desc t = n->tensors[x];
    const int pad = (k - 1) * dil / 2, ke = (k - 1) * dil + 1; /* extent of the dilated window */
    int out = add_tensor(n, t.c, out_size(t.h, ke, stride, pad), out_size(t.w, ke, stride, pad));
    if (out < 0) return -1;
    va_list ap;
    va_start(ap, name);
    layer *l = add_layer(n, L_DWCONV, x, name, ap);
    va_end(ap);
    if (!l) return -1;
    l->out = out;
    l->k = k;
    l->stride = stride;
    l->pad = pad;
    l->dil = dil;
    l->cout = t.c;
    l->w_len = (size_t)t.c * k * k;
    l->w_shape[0] = t.c;
    l->w_shape[1] = 1;
    l->w_shape[2] = k;
    l->w_shape[3] = k;
    snprintf(l->desc, sizeof l->desc, "dwconv%dx%d %d%s%s", k, k, t.c, stride > 1 ? " /2" : "",
             dil > 1 ? " dil2" : "");
    if (stride > 2 || dil > 2) snprintf(l->desc, sizeof l->desc, "dwconv%dx%d %d s%d d%d", k, k, t.c, stride, dil);
    return out;
}

int graph_maxpool(clnas_net *n, int x, int k, int stride, int pad, const char *name, ...)
{
    if (check_in(n, x, "maxpool")) return -1;
    if (pad < 0 || 2 * pad > k) return fail(n, "maxpool: padding %d for a %dx%d window (PyTorch needs pad <= k/2)", pad, k, k);
    const tensor_desc t = n->tensors[x];
    int out = add_tensor(n, t.c, out_size(t.h, k, stride, pad), out_size(t.w, k, stride, pad));
    if (out < 0) return -1;
    va_list ap;
    va_start(ap, name);
    layer *l = add_layer(n, L_MAXPOOL, x, name, ap);
    va_end(ap);
    if (!l) return -1;
    l->out = out;
    l->k = k;
    l->stride = stride;
    l->pad = pad;
    snprintf(l->desc, sizeof l->desc, "maxpool%dx%d s%d p%d", k, k, stride, pad);
    return out;
}

int graph_shift(clnas_net *n, int x, const char *name, ...)
{
    if (check_in(n, x, "shift")) return -1;
    const tensor_desc t = n->tensors[x];
    int out = add_tensor(n, t.c, t.h, t.w);
    if (out < 0) return -1;
    va_list ap;
    va_start(ap, name);
    layer *l = add_layer(n, L_SHIFT, x, name, ap);
    va_end(ap);
    if (!l) return -1;
    l->out = out;
    snprintf(l->desc, sizeof l->desc, "shift x[:, :, 1:, 1:], zero-padded");
    return out;
}

int graph_kind_writes_views(layer_kind k)
{
    return k == L_SUM || k == L_CONV || k == L_DWCONV || k == L_AVGPOOL || k == L_MAXPOOL || k == L_SHIFT ||
           k == L_RELU;
}

int graph_kind_reads_views(layer_kind k)
{
    return k == L_SUM || k == L_RELU || k == L_AVGPOOL || k == L_MAXPOOL || k == L_DWCONV || k == L_SHIFT;
}

const char *graph_kind_name(layer_kind k)
{
    static const char *const names[L_NKINDS] = {"conv", "bn", "relu", "avgpool", "sum", "gap", "linear",
                                                "dwconv", "maxpool", "shift", "concat",
                                                "layernorm", "tlinear", "gelu", "tanh", "attention", "unfold",
                                                "tokpool"};
    return (int)k >= 0 && (int)k < L_NKINDS ? names[k] : "?";
}

int graph_concat(clnas_net *n, int nin, const int *ins, const char *name, ...)
{
    if (n->failed) return -1;
    if (n->finished) return fail(n, "concat: the network is finished");
    if (nin < 1 || nin > MAX_SUM_IN) return fail(n, "concat: %d inputs (1 to %d)", nin, MAX_SUM_IN);
    int c = 0;
    for (int j = 0; j < nin; j++) {
        const int t = ins[j];
        if (t <= 0 || t >= n->ntensors)
            return fail(n, "concat: input %d is tensor %d (need a layer's output, not the network input)", j, t);
        if (n->tensors[t].parent >= 0)
            return fail(n, "concat: input %d (tensor %d) is already in concatenation %d", j, t, n->tensors[t].parent);
        for (int i = 0; i < j; i++)
            if (ins[i] == t) return fail(n, "concat: tensor %d appears twice (inputs %d and %d)", t, i, j);
        if (n->tensors[t].h != n->tensors[ins[0]].h || n->tensors[t].w != n->tensors[ins[0]].w)
            return fail(n, "concat: input %d is %dx%d, input 0 %dx%d", j, n->tensors[t].h, n->tensors[t].w,
                        n->tensors[ins[0]].h, n->tensors[ins[0]].w);
        c += n->tensors[t].c;
    }
    int out = add_tensor(n, c, n->tensors[ins[0]].h, n->tensors[ins[0]].w);
    if (out < 0) return -1;
    va_list ap;
    va_start(ap, name);
    layer *l = add_layer(n, L_CONCAT, -1, name, ap);
    va_end(ap);
    if (!l) return -1;
    l->out = out;
    l->nin = nin;
    for (int j = 0, c0 = 0; j < nin; j++) {
        l->ins[j] = ins[j];
        n->tensors[ins[j]].parent = out;
        n->tensors[ins[j]].c0 = c0;
        c0 += n->tensors[ins[j]].c;
    }
    snprintf(l->desc, sizeof l->desc, "concat of %d (in place)", nin);
    return out;
}

/* Every view is written by exactly one layer of a kind that can write a slice and read only by
 * kinds that can read one; the output is not a view. */
static void check_views(clnas_net *n, int output)
{
    if (n->tensors[output].parent >= 0)
        fail(n, "the output tensor %d is a slice of concatenation %d (use the concatenation)", output,
             n->tensors[output].parent);
    for (int i = 0; i < n->nlayers && !n->failed; i++) {
        const layer *l = &n->layers[i];
        if (n->tensors[l->out].parent >= 0 && !graph_kind_writes_views(l->kind))
            fail(n, "layer %d (%s, a %s) cannot write its output into a concatenation's channel slice", i, l->name,
                 graph_kind_name(l->kind));
        if (l->kind == L_CONCAT) continue;
        const int nin = l->kind == L_SUM ? l->nin : 1;
        for (int j = 0; j < nin && !n->failed; j++) {
            const int t = l->kind == L_SUM ? l->ins[j] : l->in;
            if (n->tensors[t].parent >= 0 && !graph_kind_reads_views(l->kind))
                fail(n, "layer %d (%s, a %s) cannot read tensor %d, a channel slice of concatenation %d: give it the "
                     "whole concatenation or put a relu/sum in between", i, l->name, graph_kind_name(l->kind), t,
                     n->tensors[t].parent);
        }
    }
}

/* ---- vision-transformer layers (graph.h) ---- */

/* Checks that tensor x holds tokens; 0 when the call may go on. */
static int check_tok(clnas_net *n, int x, const char *what)
{
    if (check_in(n, x, what)) return -1;
    if (!n->tensors[x].tok) return fail(n, "%s: tensor %d is an NCHW map; it needs tokens", what, x);
    return 0;
}

/* Adds a token tensor c x h x w; -1 after a failure. */
static int add_tokens(clnas_net *n, int c, int h, int w)
{
    int t = add_tensor(n, c, h, w);
    if (t >= 0) n->tensors[t].tok = 1;
    return t;
}

int graph_layernorm(clnas_net *n, int x, const char *name, ...)
{
    if (check_tok(n, x, "layernorm")) return -1;
    const tensor_desc t = n->tensors[x];
    int out = add_tokens(n, t.c, t.h, t.w);
    int aux = out < 0 ? -1 : add_tokens(n, 2, t.h, t.w);
    if (aux < 0) return -1;
    va_list ap;
    va_start(ap, name);
    layer *l = add_layer(n, L_LN, x, name, ap);
    va_end(ap);
    if (!l) return -1;
    l->out = out;
    l->aux = aux;
    l->w_len = l->b_len = (size_t)t.c;
    l->w_shape[0] = t.c;
    snprintf(l->desc, sizeof l->desc, "layernorm(%d)", t.c);
    return out;
}

int graph_tlinear(clnas_net *n, int x, int cout, int bias, const char *name, ...)
{
    if (check_tok(n, x, "token linear")) return -1;
    const tensor_desc t = n->tensors[x];
    int out = add_tokens(n, cout, t.h, t.w);
    if (out < 0) return -1;
    va_list ap;
    va_start(ap, name);
    layer *l = add_layer(n, L_TLINEAR, x, name, ap);
    va_end(ap);
    if (!l) return -1;
    l->out = out;
    l->cout = cout;
    l->w_len = (size_t)cout * t.c;
    l->b_len = bias ? (size_t)cout : 0;
    l->w_shape[0] = cout;
    l->w_shape[1] = t.c;
    snprintf(l->desc, sizeof l->desc, "linear %d->%d per token%s", t.c, cout, bias ? " (+bias)" : "");
    return out;
}

static int eltwise(clnas_net *n, int x, layer_kind kind, const char *what, const char *name, va_list ap)
{
    if (check_in(n, x, what)) return -1;
    const tensor_desc t = n->tensors[x];
    int out = add_tensor(n, t.c, t.h, t.w);
    if (out < 0) return -1;
    n->tensors[out].tok = t.tok;
    layer *l = add_layer(n, kind, x, name, ap);
    if (!l) return -1;
    l->out = out;
    snprintf(l->desc, sizeof l->desc, "%s", what);
    return out;
}

int graph_gelu(clnas_net *n, int x, const char *name, ...)
{
    va_list ap;
    va_start(ap, name);
    int out = eltwise(n, x, L_GELU, "gelu (erf)", name, ap);
    va_end(ap);
    return out;
}

int graph_tanh(clnas_net *n, int x, const char *name, ...)
{
    va_list ap;
    va_start(ap, name);
    int out = eltwise(n, x, L_TANH, "tanh", name, ap);
    va_end(ap);
    return out;
}

int graph_attention(clnas_net *n, int qkv, int heads, int wh, int ww, const char *name, ...)
{
    if (check_tok(n, qkv, "attention")) return -1;
    const tensor_desc t = n->tensors[qkv];
    if (t.c % 3) return fail(n, "attention: the qkv tensor has %d features, not 3 x C", t.c);
    const int c = t.c / 3;
    clnas_attn_shape as;
    if (!clnas_attn_shape_init(&as, 1, t.h, t.w, c, heads, wh, ww))
        return fail(n, "attention: %d heads and a %d x %d window do not fit %d features on a %d x %d grid "
                    "(heads must divide the features, the window the grid)", heads, wh, ww, c, t.h, t.w);
    int out = add_tokens(n, c, t.h, t.w);
    int aux = out < 0 ? -1 : add_tokens(n, heads * as.wn, t.h, t.w);
    if (aux < 0) return -1;
    va_list ap;
    va_start(ap, name);
    layer *l = add_layer(n, L_ATTN, qkv, name, ap);
    va_end(ap);
    if (!l) return -1;
    l->out = out;
    l->aux = aux;
    l->heads = heads;
    l->wh = wh;
    l->ww = ww;
    if (wh == t.h && ww == t.w) snprintf(l->desc, sizeof l->desc, "attention %d heads x %d, global", heads, as.hd);
    else snprintf(l->desc, sizeof l->desc, "attention %d heads x %d, %dx%d windows", heads, as.hd, wh, ww);
    return out;
}

int graph_unfold(clnas_net *n, int x, int k, int stride, int pad, int pad_hi, const char *name, ...)
{
    if (check_in(n, x, "unfold")) return -1;
    const tensor_desc t = n->tensors[x];
    clnas_unfold_shape us;
    if (!clnas_unfold_shape_init(&us, 1, t.c, t.h, t.w, k, stride, pad, pad_hi, t.tok))
        return fail(n, "unfold: a %dx%d window at stride %d with padding %d/%d does not fit a %d x %d map", k, k,
                    stride, pad, pad_hi, t.h, t.w);
    int out = add_tokens(n, t.c * k * k, us.hout, us.wout);
    if (out < 0) return -1;
    va_list ap;
    va_start(ap, name);
    layer *l = add_layer(n, L_UNFOLD, x, name, ap);
    va_end(ap);
    if (!l) return -1;
    l->out = out;
    l->k = k;
    l->stride = stride;
    l->pad = pad;
    l->pad_hi = pad_hi;
    snprintf(l->desc, sizeof l->desc, "unfold %dx%d /%d pad %d,%d%s", k, k, stride, pad, pad_hi,
             t.tok ? "" : " (from NCHW)");
    return out;
}

int graph_patch_embed(clnas_net *n, int x, int cout, int k, int stride, int pad, int pad_hi, const char *name, ...)
{
    char nm[sizeof ((layer *)0)->name];
    va_list ap;
    va_start(ap, name);
    vsnprintf(nm, sizeof nm, name, ap);
    va_end(ap);
    if (check_in(n, x, "patch embedding")) return -1;
    const int cin = n->tensors[x].c;
    int u = graph_unfold(n, x, k, stride, pad, pad_hi, "%s.unfold", nm);
    int out = graph_tlinear(n, u, cout, 1, "%s", nm);
    if (out < 0) return -1;
    layer *l = &n->layers[n->nlayers - 1];
    l->w_shape[0] = cout;
    l->w_shape[1] = cin;
    l->w_shape[2] = l->w_shape[3] = k;
    l->init = LAYER_INIT_TORCH;
    snprintf(l->desc, sizeof l->desc, "conv%dx%d %d->%d /%d (+bias) as unfold+linear", k, k, cin, cout, stride);
    return out;
}

int graph_tokpool(clnas_net *n, int x, const char *name, ...)
{
    if (check_tok(n, x, "token pool")) return -1;
    int out = add_tensor(n, n->tensors[x].c, 1, 1);
    if (out < 0) return -1;
    va_list ap;
    va_start(ap, name);
    layer *l = add_layer(n, L_TOKPOOL, x, name, ap);
    va_end(ap);
    if (!l) return -1;
    l->out = out;
    snprintf(l->desc, sizeof l->desc, "mean over %d tokens", n->tensors[x].h * n->tensors[x].w);
    return out;
}

void graph_init_rule(clnas_net *n, layer_init rule)
{
    if (n->failed || n->nlayers == 0) return;
    n->layers[n->nlayers - 1].init = (int)rule;
}

void graph_describe(clnas_net *n, const char *fmt, ...)
{
    if (n->failed || n->nlayers == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(n->layers[n->nlayers - 1].desc, sizeof n->layers[0].desc, fmt, ap);
    va_end(ap);
}

void graph_title(clnas_net *n, const char *fmt, ...)
{
    size_t len = strlen(n->title);
    if (len + 1 >= sizeof n->title) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(n->title + len, sizeof n->title - len - 1, fmt, ap);
    va_end(ap);
    len = strlen(n->title);
    n->title[len] = '\n';
    n->title[len + 1] = 0;
}

clnas_status graph_finish(clnas_net *n, int output, char *err, size_t errlen)
{
    if (!n->failed && (output < 0 || output >= n->ntensors)) fail(n, "no output tensor %d", output);
    if (!n->failed && n->nlayers == 0) fail(n, "a network needs at least one layer");
    if (!n->failed) check_views(n, output);
    if (n->failed) {
        if (err && errlen) snprintf(err, errlen, "cannot build the network: %s", n->err);
        return strstr(n->err, "out of host memory") ? CLNAS_E_NOMEM : CLNAS_E_INVALID_ARG;
    }
    n->output = output;
    /* parameter layout: all weights (the Jacobian set) first, in layer order, then the biases */
    size_t off = 0;
    n->nptensors = 0;
    for (int i = 0; i < n->nlayers; i++) {
        layer *l = &n->layers[i];
        if (l->w_len) { l->w_off = off; off += l->w_len; n->nptensors++; }
    }
    n->njac = off;
    n->nstats = 0;
    for (int i = 0; i < n->nlayers; i++) {
        layer *l = &n->layers[i];
        if (l->b_len) { l->b_off = off; off += l->b_len; n->nptensors++; }
        if (l->kind == L_BN) { l->stats_off = n->nstats; n->nstats += 2 * (size_t)n->tensors[l->in].c; }
    }
    n->nparams = off;
    n->finished = 1;
    return CLNAS_OK;
}
