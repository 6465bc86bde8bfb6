/* ref.c - the host reference executor: runs a clnas_net forward and backward in double with
 * the ops' plain-loop references. It is the oracle for the device executor (plan.c) and for
 * every number clnas reports; it is slow on purpose (no cleverness to get wrong). */
#include <stdlib.h>
#include <string.h>
#include "model/graph.h"

typedef struct ref_state {
    double *act;   /* act_per_sample * batch */
    double *stats; /* nstats */
} ref_state;

/* The reference keeps every tensor in its own storage, slices of a concatenation too (an
 * oracle independent of the device's aliasing): forward copies each input into its channel
 * range of the output (back = 0); backward adds the output gradient's ranges to the inputs'
 * gradients (back = 1). */
static void concat_ref(const clnas_net *net, const layer *l, int N, double *buf, int back)
{
    const tensor_desc *to = &net->tensors[l->out];
    const size_t hw = (size_t)to->h * to->w;
    double *y = buf + to->off * (size_t)N;
    for (int j = 0; j < l->nin; j++) {
        const tensor_desc *tj = &net->tensors[l->ins[j]];
        double *xj = buf + tj->off * (size_t)N;
        const size_t len = (size_t)tj->c * hw;
        for (int n = 0; n < N; n++) {
            double *ys = y + ((size_t)n * to->c + (size_t)tj->c0) * hw, *xs = xj + (size_t)n * len;
            for (size_t e = 0; e < len; e++) {
                if (back) xs[e] += ys[e];
                else ys[e] = xs[e];
            }
        }
    }
}

/* The vision-transformer kinds (ops/vit.h); act is the whole activation arena (aux tensors). */
static void ref_fwd_vit(const clnas_net *net, int N, const double *P, const layer *l, const double *x, double *y,
                        double *act)
{
    const tensor_desc *ti = &net->tensors[l->in], *to = &net->tensors[l->out];
    const int rows = N * ti->h * ti->w;
    double *aux = l->aux ? act + net->tensors[l->aux].off * (size_t)N : NULL;
    switch (l->kind) {
    case L_LN: clnas_ln_fwd_ref(rows, ti->c, CLNAS_LN_EPS, x, P + l->w_off, P + l->b_off, y, aux); break;
    case L_TLINEAR: clnas_tlinear_fwd_ref(rows, ti->c, l->cout, x, P + l->w_off, l->b_len ? P + l->b_off : NULL, y); break;
    case L_GELU: clnas_act_fwd_ref(CLNAS_ACT_GELU, tensor_size(ti) * (size_t)N, x, y); break;
    case L_TANH: clnas_act_fwd_ref(CLNAS_ACT_TANH, tensor_size(ti) * (size_t)N, x, y); break;
    case L_ATTN: {
        clnas_attn_shape as;
        clnas_attn_shape_init(&as, N, ti->h, ti->w, to->c, l->heads, l->wh, l->ww);
        clnas_attn_fwd_ref(&as, x, y, aux);
        break;
    }
    case L_UNFOLD: {
        clnas_unfold_shape us;
        clnas_unfold_shape_init(&us, N, ti->c, ti->h, ti->w, l->k, l->stride, l->pad, l->pad_hi, ti->tok);
        clnas_unfold_fwd_ref(&us, x, y);
        break;
    }
    case L_TOKPOOL: clnas_tokpool_fwd_ref(N, ti->h * ti->w, ti->c, x, y); break;
    default: break;
    }
}

/* Backward of the vision-transformer kinds; dx NULL when the input gradient is not wanted. */
static void ref_bwd_vit(const clnas_net *net, int N, const double *P, const layer *l, const double *x, const double *dy,
                        double *dx, const double *act, double *pgrad)
{
    const tensor_desc *ti = &net->tensors[l->in], *to = &net->tensors[l->out];
    const int rows = N * ti->h * ti->w;
    const double *aux = l->aux ? act + net->tensors[l->aux].off * (size_t)N : NULL;
    switch (l->kind) {
    case L_LN: clnas_ln_bwd_ref(rows, ti->c, x, P + l->w_off, aux, dy, dx, pgrad + l->w_off, pgrad + l->b_off); break;
    case L_TLINEAR:
        clnas_tlinear_bwd_ref(rows, ti->c, l->cout, x, P + l->w_off, dy, dx, pgrad + l->w_off, l->b_len ? pgrad + l->b_off : NULL);
        break;
    case L_GELU: clnas_act_bwd_ref(CLNAS_ACT_GELU, tensor_size(ti) * (size_t)N, x, dy, dx); break;
    case L_TANH: clnas_act_bwd_ref(CLNAS_ACT_TANH, tensor_size(ti) * (size_t)N, x, dy, dx); break;
    case L_ATTN: {
        clnas_attn_shape as;
        clnas_attn_shape_init(&as, N, ti->h, ti->w, to->c, l->heads, l->wh, l->ww);
        clnas_attn_bwd_ref(&as, x, aux, dy, dx);
        break;
    }
    case L_UNFOLD: {
        clnas_unfold_shape us;
        clnas_unfold_shape_init(&us, N, ti->c, ti->h, ti->w, l->k, l->stride, l->pad, l->pad_hi, ti->tok);
        clnas_unfold_bwd_ref(&us, dy, dx);
        break;
    }
    case L_TOKPOOL: clnas_tokpool_bwd_ref(N, ti->h * ti->w, ti->c, dy, dx); break;
    default: break;
    }
}

static clnas_status ref_fwd(const clnas_net *net, int N, const double *P, const double *input, ref_state *s)
{
    memcpy(s->act, input, tensor_size(&net->tensors[0]) * (size_t)N * sizeof(double));
    for (int i = 0; i < net->nlayers; i++) {
        const layer *l = &net->layers[i];
        const tensor_desc *ti = l->in < 0 ? NULL : &net->tensors[l->in];
        const tensor_desc *to = &net->tensors[l->out];
        double *y = s->act + to->off * (size_t)N;
        const double *x = ti ? s->act + ti->off * (size_t)N : NULL;
        switch (l->kind) {
        case L_CONV: {
            clnas_conv_shape cs;
            clnas_conv_shape_init(&cs, N, ti->c, ti->h, ti->w, l->cout, l->k, l->stride, l->pad);
            clnas_conv_fwd_ref(&cs, x, P + l->w_off, y);
            break;
        }
        case L_BN: {
            clnas_bn_shape bs = {N, ti->c, ti->h, ti->w, CLNAS_BN_EPS};
            clnas_bn_fwd_ref(&bs, x, P + l->w_off, P + l->b_off, y, s->stats + l->stats_off,
                             s->stats + l->stats_off + ti->c);
            break;
        }
        case L_RELU: clnas_relu_fwd_ref(tensor_size(ti) * (size_t)N, x, y); break;
        case L_AVGPOOL: {
            clnas_pool_shape ps;
            clnas_pool_shape_init(&ps, N, ti->c, ti->h, ti->w, l->k, l->stride, l->pad);
            clnas_avgpool_fwd_ref(&ps, x, y);
            break;
        }
        case L_SUM: {
            size_t n = tensor_size(to) * (size_t)N;
            memset(y, 0, n * sizeof(double));
            for (int j = 0; j < l->nin; j++) {
                const double *xj = s->act + net->tensors[l->ins[j]].off * (size_t)N;
                for (size_t e = 0; e < n; e++) y[e] += (double)l->coef[j] * xj[e];
            }
            break;
        }
        case L_GAP: clnas_gap_fwd_ref(N, ti->c, ti->h * ti->w, x, y); break;
        case L_LINEAR: clnas_linear_fwd_ref(N, ti->c, l->cout, x, P + l->w_off, P + l->b_off, y); break;
        case L_DWCONV: {
            clnas_dwconv_shape ds;
            clnas_dwconv_shape_init(&ds, N, ti->c, ti->h, ti->w, l->k, l->stride, l->dil);
            clnas_dwconv_fwd_ref(&ds, x, P + l->w_off, y);
            break;
        }
        case L_MAXPOOL: {
            clnas_pool_shape ps;
            clnas_pool_shape_init(&ps, N, ti->c, ti->h, ti->w, l->k, l->stride, l->pad);
            clnas_maxpool_fwd_ref(&ps, x, y);
            break;
        }
        case L_SHIFT: clnas_shift_fwd_ref(N, ti->c, ti->h, ti->w, x, y); break;
        case L_CONCAT: concat_ref(net, l, N, s->act, 0); break;
        case L_LN: case L_TLINEAR: case L_GELU: case L_TANH: case L_ATTN: case L_UNFOLD: case L_TOKPOOL:
            ref_fwd_vit(net, N, P, l, x, y, s->act);
            break;
        }
    }
    return CLNAS_OK;
}

static clnas_status alloc_state(const clnas_net *net, int N, ref_state *s)
{
    s->act = calloc(net->act_per_sample * (size_t)N, sizeof(double));
    s->stats = calloc(net->nstats + 1, sizeof(double));
    if (!s->act || !s->stats) {
        free(s->act);
        free(s->stats);
        return CLNAS_E_NOMEM;
    }
    return CLNAS_OK;
}

clnas_status clnas_ref_forward(const clnas_net *net, int batch, const double *params,
                               const double *input, double *logits)
{
    ref_state s;
    if (batch < 1) return CLNAS_E_INVALID_ARG;
    if (alloc_state(net, batch, &s) != CLNAS_OK) return CLNAS_E_NOMEM;
    clnas_status st = ref_fwd(net, batch, params, input, &s);
    if (st == CLNAS_OK)
        memcpy(logits, s.act + net->tensors[net->output].off * (size_t)batch,
           (size_t)batch * (size_t)tensor_size(&net->tensors[net->output]) * sizeof(double));
    free(s.act);
    free(s.stats);
    return st;
}

clnas_status clnas_ref_forward_acts(const clnas_net *net, int batch, const double *params, const double *input,
                                    double *acts)
{
    ref_state s;
    if (batch < 1) return CLNAS_E_INVALID_ARG;
    s.act = acts;
    s.stats = calloc(net->nstats + 1, sizeof(double));
    if (!s.stats) return CLNAS_E_NOMEM;
    clnas_status st = ref_fwd(net, batch, params, input, &s);
    free(s.stats);
    return st;
}

clnas_status clnas_ref_backward(const clnas_net *net, int batch, const double *params,
                                const double *input, const double *dlogits, double *pgrad,
                                double *dinput)
{
    const int N = batch;
    ref_state s;
    if (batch < 1) return CLNAS_E_INVALID_ARG;
    if (alloc_state(net, N, &s) != CLNAS_OK) return CLNAS_E_NOMEM;
    double *g = calloc(net->act_per_sample * (size_t)N, sizeof(double));
    if (!g) {
        free(s.act);
        free(s.stats);
        return CLNAS_E_NOMEM;
    }
    if (ref_fwd(net, N, params, input, &s) != CLNAS_OK) {
        free(g);
        free(s.act);
        free(s.stats);
        return CLNAS_E_INVALID_ARG;
    }
    memset(pgrad, 0, net->nparams * sizeof(double));
    memcpy(g + net->tensors[net->output].off * (size_t)N, dlogits,
           (size_t)N * (size_t)tensor_size(&net->tensors[net->output]) * sizeof(double));
    for (int i = net->nlayers - 1; i >= 0; i--) {
        const layer *l = &net->layers[i];
        const tensor_desc *ti = l->in < 0 ? NULL : &net->tensors[l->in];
        const tensor_desc *to = &net->tensors[l->out];
        const double *dy = g + to->off * (size_t)N;
        const double *x = ti ? s.act + ti->off * (size_t)N : NULL;
        double *dx = ti ? g + ti->off * (size_t)N : NULL;
        switch (l->kind) {
        case L_CONV: {
            clnas_conv_shape cs;
            clnas_conv_shape_init(&cs, N, ti->c, ti->h, ti->w, l->cout, l->k, l->stride, l->pad);
            clnas_conv_bwd_data_ref(&cs, params + l->w_off, dy, dx);
            clnas_conv_bwd_weight_ref(&cs, x, dy, pgrad + l->w_off);
            break;
        }
        case L_BN: {
            clnas_bn_shape bs = {N, ti->c, ti->h, ti->w, CLNAS_BN_EPS};
            clnas_bn_bwd_ref(&bs, x, params + l->w_off, s.stats + l->stats_off, s.stats + l->stats_off + ti->c,
                             dy, dx, pgrad + l->w_off, pgrad + l->b_off);
            break;
        }
        case L_RELU: clnas_relu_bwd_ref(tensor_size(ti) * (size_t)N, x, dy, dx); break;
        case L_AVGPOOL: {
            clnas_pool_shape ps;
            clnas_pool_shape_init(&ps, N, ti->c, ti->h, ti->w, l->k, l->stride, l->pad);
            clnas_avgpool_bwd_ref(&ps, dy, dx);
            break;
        }
        case L_SUM: {
            size_t n = tensor_size(to) * (size_t)N;
            for (int j = 0; j < l->nin; j++) {
                double *dxj = g + net->tensors[l->ins[j]].off * (size_t)N;
                for (size_t e = 0; e < n; e++) dxj[e] += (double)l->coef[j] * dy[e];
            }
            break;
        }
        case L_GAP: clnas_gap_bwd_ref(N, ti->c, ti->h * ti->w, dy, dx); break;
        case L_LINEAR:
            clnas_linear_bwd_ref(N, ti->c, l->cout, x, params + l->w_off, dy, dx, pgrad + l->w_off, pgrad + l->b_off);
            break;
        case L_DWCONV: {
            clnas_dwconv_shape ds;
            clnas_dwconv_shape_init(&ds, N, ti->c, ti->h, ti->w, l->k, l->stride, l->dil);
            clnas_dwconv_bwd_data_ref(&ds, params + l->w_off, dy, dx);
            clnas_dwconv_bwd_weight_ref(&ds, x, dy, pgrad + l->w_off);
            break;
        }
        case L_MAXPOOL: {
            clnas_pool_shape ps;
            clnas_pool_shape_init(&ps, N, ti->c, ti->h, ti->w, l->k, l->stride, l->pad);
            clnas_maxpool_bwd_ref(&ps, x, dy, dx);
            break;
        }
        case L_SHIFT: clnas_shift_bwd_ref(N, ti->c, ti->h, ti->w, dy, dx); break;
        case L_CONCAT: concat_ref(net, l, N, g, 1); break;
        case L_LN: case L_TLINEAR: case L_GELU: case L_TANH: case L_ATTN: case L_UNFOLD: case L_TOKPOOL:
            ref_bwd_vit(net, N, params, l, x, dy, dx, s.act, pgrad);
            break;
        }
    }
    if (dinput) memcpy(dinput, g, tensor_size(&net->tensors[0]) * (size_t)N * sizeof(double));
    free(g);
    free(s.act);
    free(s.stats);
    return CLNAS_OK;
}
