/* jvp.c - forward-mode derivatives of a whole network (graph.h, clnas_plan_jvp / clnas_ref_jvp):
 * the tangent of every tensor along one input direction, layer by layer after a forward pass,
 * on the device and in the double host reference. As-ViT's length distortion needs dy/dt
 * along a curve x(t) in input space: one such pass per point instead of one reverse pass per
 * output coordinate. Train-mode BatchNorm has no tangent pass here (its batch statistics couple
 * the samples; As-ViT has none): such a network is refused with a clear error. */
#include <stdlib.h>
#include <string.h>
#include "model/graph.h"

static clnas_dt dt(cl_mem m, size_t off) { clnas_dt t = {m, off}; return t; }

/* The kinds without a tangent pass: train-mode batchnorm, and the DARTS kinds (no network that
 * needs a JVP uses them yet). */
static int no_jvp(layer_kind k)
{
    return k == L_BN || k == L_DWCONV || k == L_MAXPOOL || k == L_SHIFT || k == L_CONCAT;
}

static clnas_status no_bn(clnas_ctx *ctx, const clnas_net *net)
{
    for (int i = 0; i < net->nlayers; i++)
        if (no_jvp(net->layers[i].kind))
            return clnas_set_error(ctx, CLNAS_E_UNSUPPORTED,
                                   "forward-mode derivatives (JVP) are not implemented for %s layers (layer %d %s)",
                                   net->layers[i].kind == L_BN ? "train-mode batchnorm" : graph_kind_name(net->layers[i].kind),
                                   i, net->layers[i].name);
    return CLNAS_OK;
}

/* The tangent of layer l's output from its input's (tangents of tensor t at plan_grad_off(t),
 * the gradient arena's seed-0 slot). */
static clnas_status jvp_layer(clnas_plan *p, const layer *l)
{
    const clnas_net *net = p->net;
    clnas_ctx *ctx = p->ctx;
    const int N = p->batch;
    const tensor_desc *ti = l->kind == L_SUM ? NULL : &net->tensors[l->in], *to = &net->tensors[l->out];
    const clnas_dt x = ti ? dt(p->act, plan_act_off(p, l->in)) : dt(NULL, 0), W = dt(p->params, l->w_off);
    const clnas_dt tx = ti ? dt(p->grad, plan_grad_off(p, l->in)) : dt(NULL, 0), ty = dt(p->grad, plan_grad_off(p, l->out));
    const clnas_dt aux = dt(p->act, l->aux ? plan_act_off(p, l->aux) : 0), none = dt(NULL, 0);
    const int rows = ti ? N * ti->h * ti->w : 0;
    switch (l->kind) {
    case L_CONV: {
        clnas_conv_shape cs;
        clnas_conv_shape_init(&cs, N, ti->c, ti->h, ti->w, l->cout, l->k, l->stride, l->pad);
        return clnas_conv_fwd(ctx, &cs, tx, W, ty);
    }
    case L_BN: case L_DWCONV: case L_MAXPOOL: case L_SHIFT: case L_CONCAT: return no_bn(ctx, net);
    case L_RELU: return clnas_relu_bwd_ex(ctx, tensor_size(ti) * (size_t)N, 1, x, tx, ty, 0);
    case L_AVGPOOL: {
        clnas_pool_shape ps;
        clnas_pool_shape_init(&ps, N, ti->c, ti->h, ti->w, l->k, l->stride, l->pad);
        return clnas_avgpool_fwd(ctx, &ps, tx, ty);
    }
    case L_SUM: {
        const size_t n = tensor_size(to) * (size_t)N;
        clnas_status st = l->nin ? CLNAS_OK : clnas_buf_zero(ctx, p->grad, ty.off * sizeof(float), n * sizeof(float));
        for (int j = 0; j < l->nin && st == CLNAS_OK; j++)
            st = clnas_axpby(ctx, n, l->coef[j], dt(p->grad, plan_grad_off(p, l->ins[j])), j ? 1.0f : 0.0f, ty);
        return st;
    }
    case L_GAP: return clnas_gap_fwd(ctx, N, ti->c, ti->h * ti->w, tx, ty);
    case L_LINEAR: return clnas_tlinear_fwd(ctx, N, (int)tensor_size(ti), l->cout, tx, W, none, ty);
    case L_LN: return clnas_ln_jvp(ctx, rows, ti->c, x, W, aux, tx, ty);
    case L_TLINEAR: return clnas_tlinear_fwd(ctx, rows, ti->c, l->cout, tx, W, none, ty);
    case L_GELU: return clnas_act_bwd(ctx, CLNAS_ACT_GELU, tensor_size(ti) * (size_t)N, 1, x, tx, ty, 0);
    case L_TANH: return clnas_act_bwd(ctx, CLNAS_ACT_TANH, tensor_size(ti) * (size_t)N, 1, x, tx, ty, 0);
    case L_ATTN: {
        clnas_attn_shape as;
        clnas_attn_shape_init(&as, N, ti->h, ti->w, to->c, l->heads, l->wh, l->ww);
        return clnas_attn_jvp(ctx, &as, x, aux, tx, ty, dt(p->ws, 0));
    }
    case L_UNFOLD: {
        clnas_unfold_shape us;
        clnas_unfold_shape_init(&us, N, ti->c, ti->h, ti->w, l->k, l->stride, l->pad, l->pad_hi, ti->tok);
        return clnas_unfold_fwd(ctx, &us, tx, ty);
    }
    case L_TOKPOOL: return clnas_tokpool_fwd(ctx, N, ti->h * ti->w, ti->c, tx, ty);
    }
    return clnas_set_error(ctx, CLNAS_E_UNSUPPORTED, "JVP: unknown layer kind %d", (int)l->kind);
}

clnas_status clnas_plan_jvp(clnas_plan *p, const float *tangent, float *out_tangent)
{
    const clnas_net *net = p->net;
    clnas_status st = no_bn(p->ctx, net);
    const size_t nin = tensor_size(&net->tensors[0]) * (size_t)p->batch;
    if (st == CLNAS_OK) st = clnas_buf_write(p->ctx, p->grad, plan_grad_off(p, 0) * sizeof(float), nin * sizeof(float), tangent);
    for (int i = 0; i < net->nlayers && st == CLNAS_OK; i++) {
        st = jvp_layer(p, &net->layers[i]);
        if (st != CLNAS_OK) clnas_append_error(p->ctx, " [JVP, layer %d %s]", i, net->layers[i].name);
    }
    if (st == CLNAS_OK)
        st = clnas_buf_read(p->ctx, p->grad, plan_grad_off(p, net->output) * sizeof(float),
                            tensor_size(&net->tensors[net->output]) * (size_t)p->batch * sizeof(float), out_tangent);
    return st;
}

/* ---- host reference ---- */

static void ref_jvp_layer(const clnas_net *net, int N, const double *P, const layer *l, const double *act, double *tan)
{
    const tensor_desc *ti = l->kind == L_SUM ? NULL : &net->tensors[l->in], *to = &net->tensors[l->out];
    const double *x = ti ? act + ti->off * (size_t)N : NULL, *tx = ti ? tan + ti->off * (size_t)N : NULL;
    const double *aux = l->aux ? act + net->tensors[l->aux].off * (size_t)N : NULL;
    double *ty = tan + to->off * (size_t)N;
    const size_t ny = tensor_size(to) * (size_t)N;
    const int rows = ti ? N * ti->h * ti->w : 0;
    memset(ty, 0, ny * sizeof *ty);
    switch (l->kind) {
    case L_CONV: {
        clnas_conv_shape cs;
        clnas_conv_shape_init(&cs, N, ti->c, ti->h, ti->w, l->cout, l->k, l->stride, l->pad);
        clnas_conv_fwd_ref(&cs, tx, P + l->w_off, ty);
        break;
    }
    case L_BN: case L_DWCONV: case L_MAXPOOL: case L_SHIFT: case L_CONCAT: break; /* refused before */
    case L_RELU: clnas_relu_bwd_ref(ny, x, tx, ty); break;
    case L_AVGPOOL: {
        clnas_pool_shape ps;
        clnas_pool_shape_init(&ps, N, ti->c, ti->h, ti->w, l->k, l->stride, l->pad);
        clnas_avgpool_fwd_ref(&ps, tx, ty);
        break;
    }
    case L_SUM:
        for (int j = 0; j < l->nin; j++) {
            const double *tj = tan + net->tensors[l->ins[j]].off * (size_t)N;
            for (size_t e = 0; e < ny; e++) ty[e] += (double)l->coef[j] * tj[e];
        }
        break;
    case L_GAP: clnas_gap_fwd_ref(N, ti->c, ti->h * ti->w, tx, ty); break;
    case L_LINEAR: clnas_tlinear_fwd_ref(N, (int)tensor_size(ti), l->cout, tx, P + l->w_off, NULL, ty); break;
    case L_LN: clnas_ln_jvp_ref(rows, ti->c, x, P + l->w_off, aux, tx, ty); break;
    case L_TLINEAR: clnas_tlinear_fwd_ref(rows, ti->c, l->cout, tx, P + l->w_off, NULL, ty); break;
    case L_GELU: clnas_act_bwd_ref(CLNAS_ACT_GELU, ny, x, tx, ty); break;
    case L_TANH: clnas_act_bwd_ref(CLNAS_ACT_TANH, ny, x, tx, ty); break;
    case L_ATTN: {
        clnas_attn_shape as;
        clnas_attn_shape_init(&as, N, ti->h, ti->w, to->c, l->heads, l->wh, l->ww);
        clnas_attn_jvp_ref(&as, x, aux, tx, ty);
        break;
    }
    case L_UNFOLD: {
        clnas_unfold_shape us;
        clnas_unfold_shape_init(&us, N, ti->c, ti->h, ti->w, l->k, l->stride, l->pad, l->pad_hi, ti->tok);
        clnas_unfold_fwd_ref(&us, tx, ty);
        break;
    }
    case L_TOKPOOL: clnas_tokpool_fwd_ref(N, ti->h * ti->w, ti->c, tx, ty); break;
    }
}

clnas_status clnas_ref_jvp(const clnas_net *net, int batch, const double *params, const double *input,
                           const double *tangent, double *out, double *out_tangent)
{
    if (batch < 1) return CLNAS_E_INVALID_ARG;
    if (no_bn(NULL, net) != CLNAS_OK) return CLNAS_E_UNSUPPORTED;
    const size_t n = net->act_per_sample * (size_t)batch;
    double *act = calloc(n, sizeof *act), *tan = calloc(n, sizeof *tan);
    clnas_status st = act && tan ? CLNAS_OK : CLNAS_E_NOMEM;
    if (st == CLNAS_OK) st = clnas_ref_forward_acts(net, batch, params, input, act);
    if (st == CLNAS_OK) {
        memcpy(tan, tangent, tensor_size(&net->tensors[0]) * (size_t)batch * sizeof *tan);
        for (int i = 0; i < net->nlayers; i++) ref_jvp_layer(net, batch, params, &net->layers[i], act, tan);
        const size_t no = tensor_size(&net->tensors[net->output]) * (size_t)batch, oo = net->tensors[net->output].off * (size_t)batch;
        if (out) memcpy(out, act + oo, no * sizeof *out);
        memcpy(out_tangent, tan + oo, no * sizeof *out_tangent);
    }
    free(act);
    free(tan);
    return st;
}
