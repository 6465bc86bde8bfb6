/* plan.c - the device executor: memory planned once per (network, batch, seeds), then
 * forward and S-seed backward passes that only enqueue kernels (no allocation, no host
 * round-trips inside a pass). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model/graph.h"
#include "ops/bn_eval.h"

static clnas_dt dt(cl_mem m, size_t off) { clnas_dt t = {m, off}; return t; }

_Static_assert(MAX_SUM_IN <= 64, "clnas_plan.over keeps one bit per sum input in 64 bits");

/* Can layer kind k's backward write its input gradient instead of adding to it? */
static int can_overwrite(layer_kind k)
{
    return k == L_CONV || k == L_BN || k == L_RELU || k == L_AVGPOOL || k == L_SUM || k == L_DWCONV ||
           k == L_MAXPOOL || k == L_SHIFT || k == L_LN || k == L_TLINEAR || k == L_GELU || k == L_TANH || k == L_ATTN ||
           k == L_UNFOLD || k == L_TOKPOOL;
}
/* Can it read its output gradient scaled (an aliased edge-sum input)? */
static int can_scale(layer_kind k) { return k == L_BN || k == L_AVGPOOL || k == L_SUM; }
/* ... and scaled from a concatenation's channel slice? */
static int can_scale_slice(layer_kind k) { return k == L_AVGPOOL || k == L_SUM; }

/* Resolves the alias chains (parent links, link scales coef) into alias_root / alias_scale. */
static void resolve_roots(clnas_plan *p, const int *parent, const float *coef)
{
    const int T = p->net->ntensors;
    for (int t = 0; t < T; t++) {
        int r = t;
        float sc = 1.0f;
        for (int guard = 0; parent[r] >= 0 && guard <= T; guard++) { sc *= coef[r]; r = parent[r]; }
        p->alias_root[t] = r;
        p->alias_scale[t] = sc;
    }
}

static int touches_slice(const clnas_net *net, const layer *l);

/* An identity edge t -> sum next to a same-size avgpool of t aliased into the same sum (NB201's
 * skip_connect beside avg_pool_3x3): the pool's backward adds the identity's gradient in its own
 * pass (pool_skip), and the sum leaves that input out (skip_fused). Slices are left alone. */
static void fuse_pool_skips(clnas_plan *p, const int *producer)
{
    const clnas_net *net = p->net;
    for (int i = 0; i < net->nlayers; i++) {
        const layer *l = &net->layers[i];
        if (l->kind != L_SUM || touches_slice(net, l) || net->tensors[p->alias_root[l->out]].parent >= 0) continue;
        for (int k = 0; k < l->nin; k++) {
            const int pk = producer[l->ins[k]];
            if (pk < 0 || p->alias_root[l->ins[k]] != p->alias_root[l->out]) continue;
            const layer *pl = &net->layers[pk];
            const tensor_desc *ti = &net->tensors[pl->in], *to = &net->tensors[pl->out];
            if (pl->kind != L_AVGPOOL || pl->stride != 1 || ti->h != to->h || ti->w != to->w || p->pool_skip[pk] != 0.0f ||
                touches_slice(net, pl))
                continue;
            for (int j = 0; j < l->nin; j++) {
                const float sc = l->coef[j] * p->alias_scale[l->out];
                if (j == k || l->ins[j] != pl->in || p->alias_root[pl->in] != pl->in || sc == 0.0f ||
                    ((p->skip_fused[i] >> j) & 1u))
                    continue;
                p->pool_skip[pk] = sc;
                p->skip_fused[i] |= (uint64_t)1 << j; /* j < MAX_SUM_IN = 64 */
                break;
            }
        }
    }
}

/* The backward schedule (graph.h): aliases, folded ReLUs, overwrites and the tensors to zero.
 * $CLNAS_FUSE=0 turns the first three off (every gradient materialised and zeroed, every op
 * accumulating: the straightforward schedule, kept as a cross-check). */
static clnas_status plan_schedule(clnas_plan *p)
{
    const clnas_net *net = p->net;
    const int L = net->nlayers, T = net->ntensors;
    const char *fe = getenv("CLNAS_FUSE");
    const int fuse = !(fe && fe[0] == '0');
    p->alias_root = malloc((size_t)T * sizeof *p->alias_root);
    p->alias_scale = malloc((size_t)T * sizeof *p->alias_scale);
    p->fuse_relu = malloc((size_t)L * sizeof *p->fuse_relu);
    p->skip_bwd = calloc((size_t)L, 1);
    p->over = calloc((size_t)L, sizeof *p->over);
    p->zero_at = malloc(((size_t)L + 1) * sizeof *p->zero_at);
    p->zero_list = malloc(((size_t)T + 1) * sizeof *p->zero_list);
    p->pool_skip = calloc((size_t)L, sizeof *p->pool_skip);
    p->skip_fused = calloc((size_t)L, sizeof *p->skip_fused);
    int *uses = calloc((size_t)T, sizeof *uses), *producer = malloc((size_t)T * sizeof *producer);
    int *parent = malloc((size_t)T * sizeof *parent);
    float *coef = malloc((size_t)T * sizeof *coef);
    char *written = calloc((size_t)T + 1, 1);
    clnas_status st = CLNAS_OK;
    if (!p->alias_root || !p->alias_scale || !p->fuse_relu || !p->skip_bwd || !p->over || !p->zero_at ||
        !p->zero_list || !p->pool_skip || !p->skip_fused || !uses || !producer || !parent || !coef || !written) {
        st = clnas_set_error(p->ctx, CLNAS_E_NOMEM, "plan: out of host memory");
        goto done;
    }
    for (int t = 0; t < T; t++) {
        producer[t] = -1; parent[t] = -1; coef[t] = 1.0f; p->alias_root[t] = t; p->alias_scale[t] = 1.0f;
    }
    for (int i = 0; i < L; i++) {
        const layer *l = &net->layers[i];
        p->fuse_relu[i] = -1;
        producer[l->out] = i;
        if (l->kind == L_SUM)
            for (int j = 0; j < l->nin; j++) uses[l->ins[j]]++;
        else if (l->kind != L_CONCAT)
            uses[l->in]++;
    }
    if (fuse) {
        for (int i = 0; i < L; i++) {
            const layer *l = &net->layers[i];
            if (l->kind == L_SUM) {
                for (int j = 0; j < l->nin; j++) {
                    const int t = l->ins[j], pr = producer[t];
                    /* uses == 1 also rules out the same tensor twice in this sum; a slice of a
                       concatenation has the concatenation as a second (implicit) consumer */
                    if (t == 0 || t == net->output || uses[t] != 1 || pr < 0 || !can_scale(net->layers[pr].kind) ||
                        net->tensors[t].parent >= 0)
                        continue;
                    parent[t] = l->out;
                    coef[t] = l->coef[j];
                }
            } else if (l->kind == L_CONV) {
                const int t = l->in, pr = producer[t];
                if (t != 0 && t != net->output && uses[t] == 1 && pr >= 0 && net->layers[pr].kind == L_RELU &&
                    net->tensors[net->layers[pr].in].parent < 0) { /* the fused backward writes contiguous dx */
                    p->fuse_relu[i] = pr;
                    p->skip_bwd[pr] = 1;
                }
            }
        }
        /* an alias chain may end at a slice of a concatenation: only producers that read
           their output gradient from a slice may stay on it; cut the others' links */
        resolve_roots(p, parent, coef);
        for (int t = 0; t < T; t++)
            if (p->alias_root[t] != t && net->tensors[p->alias_root[t]].parent >= 0 &&
                !can_scale_slice(net->layers[producer[t]].kind))
                parent[t] = -1;
        resolve_roots(p, parent, coef);
        fuse_pool_skips(p, producer);
    }
    /* walk the backward: zero a gradient that is read before anything wrote it, or whose
       first contribution comes from an op that can only accumulate */
    written[net->output] = 1; /* written whole by the caller */
    int nz = 0;
    /* a slice's gradient is part of its concatenation's: written[] is kept per storage, and a
       slice is never overwritten (its first contribution zeroes the whole storage) */
#define SLICE(t) (net->tensors[t].parent >= 0)
#define STORE(t) tensor_storage(net, t)
    for (int i = L - 1; i >= 0; i--) {
        const layer *l = &net->layers[i];
        p->zero_at[i] = nz;
        if (p->skip_bwd[i] || l->kind == L_CONCAT) continue;
        const int r = STORE(p->alias_root[l->out]);
        if (!written[r]) { written[r] = 1; p->zero_list[nz++] = r; }
        if (l->kind == L_SUM) {
            for (int j = 0; j < l->nin; j++) {
                const int t = l->ins[j];
                if (p->alias_root[t] != t) continue; /* aliased: its producer reads our gradient */
                if ((p->skip_fused[i] >> j) & 1u) continue; /* a pool's backward adds it (pool_skip) */
                if (SLICE(t)) {
                    if (!written[STORE(t)]) { written[STORE(t)] = 1; p->zero_list[nz++] = STORE(t); }
                } else if (!written[t]) { written[t] = 1; p->over[i] |= fuse ? (uint64_t)1 << j : 0u; /* j < MAX_SUM_IN = 64 */ if (!fuse) p->zero_list[nz++] = t; }
            }
        } else {
            const int t = p->fuse_relu[i] >= 0 ? net->layers[p->fuse_relu[i]].in : l->in;
            if (SLICE(t)) {
                if (!written[STORE(t)]) { written[STORE(t)] = 1; p->zero_list[nz++] = STORE(t); }
            } else if (!written[t]) {
                written[t] = 1;
                if (fuse && can_overwrite(l->kind)) p->over[i] = 1u;
                else p->zero_list[nz++] = t;
            }
        }
    }
#undef SLICE
#undef STORE
    p->zero_at[L] = nz;
done:
    free(uses);
    free(producer);
    free(parent);
    free(coef);
    free(written);
    return st;
}

clnas_status clnas_plan_create(clnas_ctx *ctx, const clnas_net *net, int batch, int seeds, unsigned flags,
                               clnas_plan **out)
{
    *out = NULL;
    if (!net->finished)
        return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "plan: the network was not finished by its builder");
    if (batch < 1 || seeds < 1)
        return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "plan: batch (%d) and seeds (%d) must be >= 1", batch, seeds);
    clnas_plan *p = calloc(1, sizeof *p);
    if (!p) return clnas_set_error(ctx, CLNAS_E_NOMEM, "plan: out of host memory");
    p->ctx = ctx;
    p->net = net;
    p->batch = batch;
    p->seeds = seeds;
    p->flags = flags;
    size_t ws = 1;
    for (int i = 0; i < net->nlayers; i++) {
        const layer *l = &net->layers[i];
        const tensor_desc *ti = l->in < 0 ? NULL : &net->tensors[l->in];
        size_t need = 0;
        if (l->kind == L_CONV) {
            clnas_conv_shape cs;
            clnas_conv_shape_init(&cs, batch, ti->c, ti->h, ti->w, l->cout, l->k, l->stride, l->pad);
            need = clnas_conv_workspace_floats(&cs, seeds);
        } else if (l->kind == L_ATTN) {
            clnas_attn_shape as;
            clnas_attn_shape_init(&as, batch, ti->h, ti->w, net->tensors[l->out].c, l->heads, l->wh, l->ww);
            need = clnas_attn_workspace_floats(&as, seeds);
        } else if (l->kind == L_MAXPOOL) {
            clnas_pool_shape ps;
            clnas_pool_shape_init(&ps, batch, ti->c, ti->h, ti->w, l->k, l->stride, l->pad);
            need = clnas_maxpool_workspace_floats(&ps);
        }
        if (need > ws) ws = need;
    }
    p->ws_floats = ws;
    const size_t F = sizeof(float);
    size_t act = net->act_per_sample * (size_t)batch;
    size_t pgrad = flags & CLNAS_PLAN_PARAM_GRADS ? (size_t)seeds * net->nparams : 0;
    clnas_status st;
    CLNAS_TRY(clnas_buf_alloc(ctx, net->nparams * F, &p->params));
    CLNAS_TRY(clnas_buf_alloc(ctx, act * F, &p->act));
    const size_t grad = net->grad_per_sample * (size_t)batch;
    CLNAS_TRY(clnas_buf_alloc(ctx, grad * (size_t)seeds * F, &p->grad));
    CLNAS_TRY(clnas_buf_alloc(ctx, (net->nstats + 1) * F, &p->stats));
    CLNAS_TRY(clnas_buf_alloc(ctx, ws * F, &p->ws));
    if (pgrad) CLNAS_TRY(clnas_buf_alloc(ctx, pgrad * F, &p->pgrad));
    if ((st = plan_schedule(p)) != CLNAS_OK) goto fail;
    p->profile = getenv("CLNAS_PROFILE") ? atoi(getenv("CLNAS_PROFILE")) : 0;
    if (p->profile < 0) p->profile = 0;
    if (p->profile >= 2 && !(p->prof_layer = calloc(2 * (size_t)net->nlayers, sizeof(double)))) p->profile = 1;
    p->bytes = (net->nparams + act + grad * (size_t)seeds + net->nstats + 1 + ws + pgrad) * F;
    *out = p;
    return CLNAS_OK;
fail:
    clnas_append_error(ctx, " (planning %d samples x %d seeds for a network of %zu activations/sample)",
                       batch, seeds, net->act_per_sample);
    clnas_plan_destroy(p);
    return st;
}


void clnas_plan_destroy(clnas_plan *p)
{
    if (!p) return;
    if (p->profile) {
        fprintf(stderr, "clnas profile (batch %d, %d seeds): seconds per layer kind\n", p->batch, p->seeds);
        for (int d = 0; d < 2; d++)
            for (int k = 0; k < L_NKINDS; k++)
                if (p->prof_n[d][k])
                    fprintf(stderr, "  %s %-8s %9.4f s over %ld calls\n", d ? "backward" : "forward ", graph_kind_name((layer_kind)k),
                            p->prof[d][k], p->prof_n[d][k]);
        if (p->prof_layer) {
            fprintf(stderr, "clnas profile: seconds per layer (forward, backward), largest backward first\n");
            const int n = p->net->nlayers;
            char *done = calloc((size_t)n, 1);
            for (int r = 0; done && r < n; r++) { /* selection by backward time: profiling only */
                int best = -1;
                for (int i = 0; i < n; i++)
                    if (!done[i] && (best < 0 || p->prof_layer[n + i] > p->prof_layer[n + best])) best = i;
                done[best] = 1;
                const layer *l = &p->net->layers[best];
                const tensor_desc *t = &p->net->tensors[l->out];
                fprintf(stderr, "  %4d %-8s %-28s %3dx%-3dx%-3d %9.4f %9.4f\n", best, graph_kind_name(l->kind), l->name,
                        t->c, t->h, t->w, p->prof_layer[best], p->prof_layer[n + best]);
            }
            free(done);
        }
    }
    free(p->prof_layer);
    clnas_buf_free(p->params);
    clnas_buf_free(p->act);
    clnas_buf_free(p->ref_act);
    clnas_buf_free(p->grad);
    clnas_buf_free(p->stats);
    clnas_buf_free(p->ws);
    clnas_buf_free(p->pgrad);
    free(p->alias_root);
    free(p->alias_scale);
    free(p->fuse_relu);
    free(p->skip_bwd);
    free(p->over);
    free(p->zero_at);
    free(p->zero_list);
    free(p->pool_skip);
    free(p->skip_fused);
    free(p);
}

size_t clnas_plan_device_bytes(const clnas_plan *p) { return p->bytes; }

clnas_status clnas_plan_set_params(clnas_plan *p, const float *params)
{
    return clnas_buf_write(p->ctx, p->params, 0, p->net->nparams * sizeof(float), params);
}

/* Does layer l read or write a concatenation's channel slice? */
static int touches_slice(const clnas_net *net, const layer *l)
{
    if (net->tensors[l->out].parent >= 0) return 1;
    if (l->kind == L_SUM) {
        for (int j = 0; j < l->nin; j++)
            if (net->tensors[l->ins[j]].parent >= 0) return 1;
        return 0;
    }
    return l->in >= 0 && net->tensors[l->in].parent >= 0;
}

/* Forward of the DARTS kinds and of ReLU / sum over slices (the other kinds: forward()). */
static clnas_status fwd_ext(clnas_plan *p, const layer *l)
{
    const clnas_net *net = p->net;
    const int N = p->batch, cx = l->in >= 0 ? plan_stride_c(net, l->in) : 0, cy = plan_stride_c(net, l->out);
    const tensor_desc *ti = l->in >= 0 ? &net->tensors[l->in] : NULL, *to = &net->tensors[l->out];
    clnas_dt y = dt(p->act, plan_act_off(p, l->out)), x = ti ? dt(p->act, plan_act_off(p, l->in)) : y;
    switch (l->kind) {
    case L_DWCONV: {
        clnas_dwconv_shape ds;
        clnas_dwconv_shape_init(&ds, N, ti->c, ti->h, ti->w, l->k, l->stride, l->dil);
        ds.xcs = cx;
        ds.ycs = cy;
        return clnas_dwconv_fwd(p->ctx, &ds, x, dt(p->params, l->w_off), y);
    }
    case L_MAXPOOL: {
        clnas_pool_shape ps;
        clnas_pool_shape_init(&ps, N, ti->c, ti->h, ti->w, l->k, l->stride, l->pad);
        ps.xcs = cx;
        ps.ycs = cy;
        return p->frozen ? clnas_maxpool_fwd_frozen(p->ctx, &ps, dt(p->ref_act, x.off), x, y)
                         : clnas_maxpool_fwd(p->ctx, &ps, x, y);
    }
    case L_SHIFT: {
        clnas_map_shape m = clnas_map_shape_make(N, ti->c, ti->h, ti->w, cx, cy);
        return clnas_shift_fwd(p->ctx, &m, x, y);
    }
    case L_RELU: {
        clnas_map_shape m = clnas_map_shape_make(N, ti->c, ti->h, ti->w, cx, cy);
        return p->frozen ? clnas_relu_sl_fwd_frozen(p->ctx, &m, dt(p->ref_act, x.off), x, y)
                         : clnas_relu_sl_fwd(p->ctx, &m, x, y);
    }
    case L_SUM: {
        clnas_status st = CLNAS_OK;
        clnas_map_shape m = clnas_map_shape_make(N, to->c, to->h, to->w, cy, cy);
        if (l->nin == 0) st = clnas_axpby_sl(p->ctx, &m, N, 0.0f, y, 0.0f, y);
        for (int j = 0; j < l->nin && st == CLNAS_OK; j++) {
            m.xcs = plan_stride_c(net, l->ins[j]);
            st = clnas_axpby_sl(p->ctx, &m, N, l->coef[j], dt(p->act, plan_act_off(p, l->ins[j])), j ? 1.0f : 0.0f, y);
        }
        return st;
    }
    case L_CONCAT: return CLNAS_OK; /* its inputs wrote their slices */
    default:
        return clnas_set_error(p->ctx, CLNAS_E_INVALID_ARG, "layer kind %s cannot run on a channel slice",
                               graph_kind_name(l->kind));
    }
}

/* Forward of the vision-transformer kinds (ops/vit.h). */
static clnas_status forward_vit(clnas_plan *p, const layer *l, clnas_dt x, clnas_dt y)
{
    const clnas_net *net = p->net;
    const tensor_desc *ti = &net->tensors[l->in], *to = &net->tensors[l->out];
    const int N = p->batch, rows = N * ti->h * ti->w;
    const clnas_dt aux = dt(p->act, l->aux ? plan_act_off(p, l->aux) : 0), W = dt(p->params, l->w_off);
    switch (l->kind) {
    case L_LN: return clnas_ln_fwd(p->ctx, rows, ti->c, CLNAS_LN_EPS, x, W, dt(p->params, l->b_off), y, aux);
    case L_TLINEAR: return clnas_tlinear_fwd(p->ctx, rows, ti->c, l->cout, x, W, l->b_len ? dt(p->params, l->b_off) : dt(NULL, 0), y);
    case L_GELU: return clnas_act_fwd(p->ctx, CLNAS_ACT_GELU, tensor_size(ti) * (size_t)N, x, y);
    case L_TANH: return clnas_act_fwd(p->ctx, CLNAS_ACT_TANH, tensor_size(ti) * (size_t)N, x, y);
    case L_ATTN: {
        clnas_attn_shape as;
        clnas_attn_shape_init(&as, N, ti->h, ti->w, to->c, l->heads, l->wh, l->ww);
        return clnas_attn_fwd(p->ctx, &as, x, y, aux, dt(p->ws, 0));
    }
    case L_UNFOLD: {
        clnas_unfold_shape us;
        clnas_unfold_shape_init(&us, N, ti->c, ti->h, ti->w, l->k, l->stride, l->pad, l->pad_hi, ti->tok);
        return clnas_unfold_fwd(p->ctx, &us, x, y);
    }
    case L_TOKPOOL: return clnas_tokpool_fwd(p->ctx, N, ti->h * ti->w, ti->c, x, y);
    default: return clnas_set_error(p->ctx, CLNAS_E_UNSUPPORTED, "layer kind %s is not a transformer op", graph_kind_name(l->kind));
    }
}

/* Backward of the vision-transformer kinds: dx (+)= (acc) the input gradient unless !want_dx,
 * parameter gradients at g + offset, row stride g_ld. */
static clnas_status backward_vit(clnas_plan *p, const layer *l, int S, clnas_dt x, clnas_dt dy, clnas_dt dx, int want_dx,
                                 int acc, clnas_dt g, size_t g_ld)
{
    const clnas_net *net = p->net;
    const tensor_desc *ti = &net->tensors[l->in], *to = &net->tensors[l->out];
    const int N = p->batch, rows = N * ti->h * ti->w;
    const clnas_dt aux = dt(p->act, l->aux ? plan_act_off(p, l->aux) : 0), W = dt(p->params, l->w_off);
    const clnas_dt dxo = want_dx ? dx : dt(NULL, 0);
    switch (l->kind) {
    case L_LN:
        return clnas_ln_bwd(p->ctx, rows, ti->c, S, x, W, aux, dy, dxo, acc, clnas_dt_at(g, l->w_off), clnas_dt_at(g, l->b_off), g_ld);
    case L_TLINEAR:
        return clnas_tlinear_bwd(p->ctx, rows, ti->c, l->cout, S, x, W, dy, dxo, acc, clnas_dt_at(g, l->w_off),
                                 l->b_len ? clnas_dt_at(g, l->b_off) : dt(NULL, 0), g_ld);
    default: break;
    }
    if (!want_dx) return CLNAS_OK; /* the rest have no parameters */
    switch (l->kind) {
    case L_GELU: return clnas_act_bwd(p->ctx, CLNAS_ACT_GELU, tensor_size(ti) * (size_t)N, S, x, dy, dx, acc);
    case L_TANH: return clnas_act_bwd(p->ctx, CLNAS_ACT_TANH, tensor_size(ti) * (size_t)N, S, x, dy, dx, acc);
    case L_ATTN: {
        clnas_attn_shape as;
        clnas_attn_shape_init(&as, N, ti->h, ti->w, to->c, l->heads, l->wh, l->ww);
        return clnas_attn_bwd(p->ctx, &as, S, x, aux, dy, dx, acc, dt(p->ws, 0));
    }
    case L_UNFOLD: {
        clnas_unfold_shape us;
        clnas_unfold_shape_init(&us, N, ti->c, ti->h, ti->w, l->k, l->stride, l->pad, l->pad_hi, ti->tok);
        return clnas_unfold_bwd(p->ctx, &us, S, dy, dx, acc);
    }
    case L_TOKPOOL: return clnas_tokpool_bwd(p->ctx, N, ti->h * ti->w, ti->c, S, dy, dx, acc);
    default: return clnas_set_error(p->ctx, CLNAS_E_UNSUPPORTED, "layer kind %s is not a transformer op", graph_kind_name(l->kind));
    }
}

/* Runs the forward pass on whatever is in the input slot (tensor 0). */
static clnas_status forward(clnas_plan *p)
{
    const clnas_net *net = p->net;
    clnas_ctx *ctx = p->ctx;
    const int N = p->batch;
    clnas_status st = CLNAS_OK;
    for (int i = 0; i < net->nlayers && st == CLNAS_OK; i++) {
        const layer *l = &net->layers[i];
        const tensor_desc *ti = l->in < 0 ? NULL : &net->tensors[l->in];
        const tensor_desc *to = &net->tensors[l->out];
        clnas_dt y = dt(p->act, plan_act_off(p, l->out));
        clnas_dt x = ti ? dt(p->act, plan_act_off(p, l->in)) : y;
        double tp = p->profile ? clnas_now() : 0;
        if ((l->kind == L_RELU || l->kind == L_SUM) && touches_slice(net, l)) st = fwd_ext(p, l);
        else switch (l->kind) {
        case L_CONV: {
            clnas_conv_shape cs;
            clnas_conv_shape_init(&cs, N, ti->c, ti->h, ti->w, l->cout, l->k, l->stride, l->pad);
            cs.ycs = plan_stride_c(net, l->out);
            st = clnas_conv_fwd(ctx, &cs, x, dt(p->params, l->w_off), y);
            break;
        }
        case L_BN: {
            clnas_bn_shape bs = {N, ti->c, ti->h, ti->w, CLNAS_BN_EPS};
            if (p->bn_eval)
                st = clnas_bn_eval_fwd(ctx, &bs, x, dt(p->params, l->w_off), dt(p->params, l->b_off), dt(p->stats, l->stats_off), y);
            else
                st = clnas_bn_fwd(ctx, &bs, x, dt(p->params, l->w_off), dt(p->params, l->b_off), y, dt(p->stats, l->stats_off));
            break;
        }
        case L_RELU:
            if (p->frozen) /* y = x where the reference input was > 0: relu_bwd's gate, overwriting */
                st = clnas_relu_bwd_ex(ctx, tensor_size(ti) * (size_t)N, 1, dt(p->ref_act, x.off), x, y, 0);
            else
                st = clnas_relu_fwd(ctx, tensor_size(ti) * (size_t)N, x, y);
            break;
        case L_AVGPOOL: {
            clnas_pool_shape ps;
            clnas_pool_shape_init(&ps, N, ti->c, ti->h, ti->w, l->k, l->stride, l->pad);
            ps.xcs = plan_stride_c(net, l->in);
            ps.ycs = plan_stride_c(net, l->out);
            st = clnas_avgpool_fwd(ctx, &ps, x, y);
            break;
        }
        case L_SUM: {
            size_t n = tensor_size(to) * (size_t)N;
            if (l->nin == 0) st = clnas_buf_zero(ctx, p->act, y.off * sizeof(float), n * sizeof(float));
            for (int j = 0; j < l->nin && st == CLNAS_OK; j++)
                st = clnas_axpby(ctx, n, l->coef[j], dt(p->act, plan_act_off(p, l->ins[j])), j ? 1.0f : 0.0f, y);
            break;
        }
        case L_GAP: st = clnas_gap_fwd(ctx, N, ti->c, ti->h * ti->w, x, y); break;
        case L_LINEAR:
            st = clnas_linear_fwd(ctx, N, ti->c, l->cout, x, dt(p->params, l->w_off), dt(p->params, l->b_off), y);
            break;
        case L_DWCONV: case L_MAXPOOL: case L_SHIFT: case L_CONCAT: st = fwd_ext(p, l); break;
        case L_LN: case L_TLINEAR: case L_GELU: case L_TANH: case L_ATTN: case L_UNFOLD: case L_TOKPOOL:
            st = forward_vit(p, l, x, y);
            break;
        }
        if (st != CLNAS_OK) clnas_append_error(ctx, " [forward, layer %d %s]", i, l->name);
        if (p->profile && st == CLNAS_OK) {
            st = clnas_ctx_finish(ctx);
            p->prof[0][l->kind] += clnas_now() - tp;
            p->prof_n[0][l->kind]++;
            if (p->prof_layer) p->prof_layer[i] += clnas_now() - tp;
        }
    }
    return st;
}

clnas_status clnas_plan_forward(clnas_plan *p, const float *input)
{
    size_t n = tensor_size(&p->net->tensors[0]) * (size_t)p->batch;
    clnas_status st = clnas_buf_write(p->ctx, p->act, 0, n * sizeof(float), input);
    return st != CLNAS_OK ? st : forward(p);
}

clnas_status clnas_plan_read_logits(clnas_plan *p, float *logits)
{
    return clnas_buf_read(p->ctx, p->act, plan_act_off(p, p->net->output) * sizeof(float),
                          (size_t)p->batch * tensor_size(&p->net->tensors[p->net->output]) * sizeof(float), logits);
}


clnas_dt clnas_plan_dlogits(const clnas_plan *p) { return dt(p->grad, plan_grad_off(p, p->net->output)); }

/* Backward of the DARTS kinds and of ReLU / sum over slices: layer i, dy scaled by dys, dx
 * accumulated when acc (the other kinds: clnas_plan_backward). */
static clnas_status bwd_ext(clnas_plan *p, int i, int S, clnas_dt g, size_t g_ld, int want_dx, int need_input_grad)
{
    const clnas_net *net = p->net;
    const layer *l = &net->layers[i];
    const int N = p->batch, acc = !(p->over[i] & 1u), root = p->alias_root[l->out];
    const int cx = l->in >= 0 ? plan_stride_c(net, l->in) : 0, cy = plan_stride_c(net, root);
    const tensor_desc *ti = l->in >= 0 ? &net->tensors[l->in] : NULL, *to = &net->tensors[l->out];
    clnas_dt dy = dt(p->grad, plan_grad_off(p, root));
    clnas_dt x = ti ? dt(p->act, plan_act_off(p, l->in)) : dy, dx = ti ? dt(p->grad, plan_grad_off(p, l->in)) : dy;
    clnas_status st = CLNAS_OK;
    /* frozen: the ReLUs' masks and the max pools' winners come from the reference input (the
       depthwise convolution's weight gradient below still reads x itself) */
    const clnas_dt xk = ti && p->frozen ? dt(p->ref_act, x.off) : x;
    switch (l->kind) {
    case L_DWCONV: {
        clnas_dwconv_shape ds;
        clnas_dwconv_shape_init(&ds, N, ti->c, ti->h, ti->w, l->k, l->stride, l->dil);
        ds.xcs = cx;
        ds.ycs = cy;
        if (want_dx) st = clnas_dwconv_bwd_data(p->ctx, &ds, S, dt(p->params, l->w_off), dy, dx, acc);
        if (st == CLNAS_OK) st = clnas_dwconv_bwd_weight(p->ctx, &ds, S, x, dy, clnas_dt_at(g, l->w_off), g_ld);
        return st;
    }
    case L_MAXPOOL: {
        clnas_pool_shape ps;
        clnas_pool_shape_init(&ps, N, ti->c, ti->h, ti->w, l->k, l->stride, l->pad);
        ps.xcs = cx;
        ps.ycs = cy;
        return want_dx ? clnas_maxpool_bwd(p->ctx, &ps, S, xk, dy, dx, acc, dt(p->ws, 0)) : CLNAS_OK;
    }
    case L_SHIFT: {
        clnas_map_shape m = clnas_map_shape_make(N, ti->c, ti->h, ti->w, cx, cy);
        return want_dx ? clnas_shift_bwd(p->ctx, &m, S, dy, dx, acc) : CLNAS_OK;
    }
    case L_RELU: {
        clnas_map_shape m = clnas_map_shape_make(N, ti->c, ti->h, ti->w, cx, cy);
        return want_dx ? clnas_relu_sl_bwd(p->ctx, &m, S, xk, dy, dx, acc) : CLNAS_OK;
    }
    case L_SUM: {
        const float dys = p->alias_scale[l->out];
        clnas_map_shape m = clnas_map_shape_make(N, to->c, to->h, to->w, cy, cy);
        for (int j = 0; j < l->nin && st == CLNAS_OK; j++) {
            const int t = l->ins[j];
            if ((t == 0 && !need_input_grad) || p->alias_root[t] != t) continue;
            m.ycs = plan_stride_c(net, t);
            st = clnas_axpby_sl(p->ctx, &m, S * N, l->coef[j] * dys, dy, (p->over[i] >> j) & 1u ? 0.0f : 1.0f,
                                dt(p->grad, plan_grad_off(p, t)));
        }
        return st;
    }
    case L_CONCAT: return CLNAS_OK; /* the slices' gradients are the concatenation's */
    default:
        return clnas_set_error(p->ctx, CLNAS_E_INVALID_ARG, "layer kind %s cannot run on a channel slice",
                               graph_kind_name(l->kind));
    }
}

clnas_status clnas_plan_backward(clnas_plan *p, int S, clnas_dt g, size_t g_ld, int need_input_grad)
{
    const clnas_net *net = p->net;
    clnas_ctx *ctx = p->ctx;
    const int N = p->batch;
    if (S < 1 || S > p->seeds)
        return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "backward: %d seeds requested, plan holds %d", S, p->seeds);
    if (g_ld < net->nparams)
        return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "backward: gradient row stride %zu < %zu parameters", g_ld, net->nparams);
    clnas_status st = CLNAS_OK;
    clnas_dt ws = dt(p->ws, 0);
    for (int i = net->nlayers - 1; i >= 0 && st == CLNAS_OK; i--) {
        const layer *l = &net->layers[i];
        if (p->skip_bwd[i]) continue; /* a ReLU folded into its convolution's backward */
        const tensor_desc *ti = l->in < 0 ? NULL : &net->tensors[l->in];
        const tensor_desc *to = &net->tensors[l->out];
        const float dys = p->alias_scale[l->out]; /* 1 unless the output feeds a sum directly */
        clnas_dt dy = dt(p->grad, plan_grad_off(p, p->alias_root[l->out]));
        const int relu = l->kind == L_CONV ? p->fuse_relu[i] : -1;
        const int tin = relu >= 0 ? net->layers[relu].in : l->in; /* whose gradient we produce */
        clnas_dt x = ti ? dt(p->act, plan_act_off(p, l->in)) : dy;
        clnas_dt dx = ti ? dt(p->grad, plan_grad_off(p, tin)) : dy;
        const int acc = !(p->over[i] & 1u);
        int want_dx = ti && (tin != 0 || need_input_grad);
        if (p->profile && st == CLNAS_OK) st = clnas_ctx_finish(ctx); /* bill queued work to its own layer */
        double tp = p->profile ? clnas_now() : 0;
        /* zero the gradients this layer reads or adds into first that nothing wrote yet */
        for (int z = p->zero_at[i]; z < (i > 0 ? p->zero_at[i - 1] : p->zero_at[net->nlayers]) && st == CLNAS_OK; z++) {
            int t = p->zero_list[z];
            st = clnas_buf_zero(ctx, p->grad, plan_grad_off(p, t) * sizeof(float),
                                tensor_size(&net->tensors[t]) * (size_t)N * (size_t)S * sizeof(float));
        }
        /* the output gradient may sit in a slice too: an edge sum aliased into a node sum */
        if (st == CLNAS_OK && (l->kind == L_RELU || l->kind == L_SUM) &&
            (touches_slice(net, l) || net->tensors[p->alias_root[l->out]].parent >= 0))
            st = bwd_ext(p, i, S, g, g_ld, want_dx, need_input_grad);
        else switch (l->kind) {
        case L_CONV: {
            clnas_conv_shape cs;
            clnas_conv_shape_init(&cs, N, ti->c, ti->h, ti->w, l->cout, l->k, l->stride, l->pad);
            cs.ycs = plan_stride_c(net, p->alias_root[l->out]);
            clnas_dt mask = relu >= 0 ? dt(p->frozen ? p->ref_act : p->act, plan_act_off(p, tin)) : dt(NULL, 0);
            if (want_dx && st == CLNAS_OK) st = clnas_conv_bwd_data_ex(ctx, &cs, S, dt(p->params, l->w_off), dy, dx, acc, mask);
            if (st == CLNAS_OK && !p->skip_conv_wgrad) st = clnas_conv_bwd_weight(ctx, &cs, S, x, dy, clnas_dt_at(g, l->w_off), g_ld, ws);
            break;
        }
        case L_BN: {
            clnas_bn_shape bs = {N, ti->c, ti->h, ti->w, CLNAS_BN_EPS};
            if (st == CLNAS_OK && p->bn_eval)
                st = clnas_bn_eval_bwd(ctx, &bs, S, x, dt(p->params, l->w_off), dt(p->stats, l->stats_off), dy, dys, dx,
                                       acc, clnas_dt_at(g, l->w_off), clnas_dt_at(g, l->b_off), g_ld);
            else if (st == CLNAS_OK)
                st = clnas_bn_bwd_ex(ctx, &bs, S, x, dt(p->params, l->w_off), dt(p->stats, l->stats_off), dy, dys, dx,
                                     acc, clnas_dt_at(g, l->w_off), clnas_dt_at(g, l->b_off), g_ld);
            break;
        }
        case L_RELU:
            if (p->frozen) x = dt(p->ref_act, x.off);
            if (st == CLNAS_OK) st = clnas_relu_bwd_ex(ctx, tensor_size(ti) * (size_t)N, S, x, dy, dx, acc);
            break;
        case L_AVGPOOL: {
            clnas_pool_shape ps;
            clnas_pool_shape_init(&ps, N, ti->c, ti->h, ti->w, l->k, l->stride, l->pad);
            ps.xcs = plan_stride_c(net, l->in);
            ps.ycs = plan_stride_c(net, p->alias_root[l->out]);
            if (want_dx && st == CLNAS_OK) st = clnas_avgpool_bwd_skip(ctx, &ps, S, dy, dys, p->pool_skip[i], dx, acc);
            break;
        }
        case L_SUM: {
            size_t n = tensor_size(to) * (size_t)N;
            for (int j = 0; j < l->nin && st == CLNAS_OK; j++) {
                const int t = l->ins[j];
                if (t == 0 && !need_input_grad) continue;
                if (p->alias_root[t] != t) continue; /* its producer reads our gradient directly */
                if ((p->skip_fused[i] >> j) & 1u) continue; /* added by a pool's backward (pool_skip) */
                /* seed blocks of every tensor are contiguous with stride n, so one axpby covers all S */
                st = clnas_axpby(ctx, n * (size_t)S, l->coef[j] * dys, dy, (p->over[i] >> j) & 1u ? 0.0f : 1.0f,
                                 dt(p->grad, plan_grad_off(p, t)));
            }
            break;
        }
        case L_GAP: if (st == CLNAS_OK) st = clnas_gap_bwd(ctx, N, ti->c, ti->h * ti->w, S, dy, dx); break;
        case L_LINEAR:
            if (st == CLNAS_OK)
                st = clnas_linear_bwd(ctx, N, ti->c, l->cout, S, x, dt(p->params, l->w_off), dy, dx,
                                      clnas_dt_at(g, l->w_off), clnas_dt_at(g, l->b_off), g_ld);
            break;
        case L_DWCONV: case L_MAXPOOL: case L_SHIFT: case L_CONCAT:
            if (st == CLNAS_OK) st = bwd_ext(p, i, S, g, g_ld, want_dx, need_input_grad);
            break;
        case L_LN: case L_TLINEAR: case L_GELU: case L_TANH: case L_ATTN: case L_UNFOLD: case L_TOKPOOL:
            if (st == CLNAS_OK) st = backward_vit(p, l, S, x, dy, dx, want_dx, acc, g, g_ld);
            break;
        }
        if (st != CLNAS_OK) clnas_append_error(ctx, " [backward, layer %d %s]", i, l->name);
        if (p->profile && st == CLNAS_OK) {
            st = clnas_ctx_finish(ctx);
            p->prof[1][l->kind] += clnas_now() - tp;
            p->prof_n[1][l->kind]++;
            if (p->prof_layer) p->prof_layer[net->nlayers + i] += clnas_now() - tp;
        }
    }
    return st;
}

clnas_status clnas_plan_backward_host(clnas_plan *p, int S, const float *dlogits, float *pgrad, float *dinput)
{
    clnas_ctx *ctx = p->ctx;
    const clnas_net *net = p->net;
    if (S < 1 || S > p->seeds)
        return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "backward: %d seeds requested, plan holds %d", S, p->seeds);
    if (!p->pgrad)
        return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "backward: the plan was created without CLNAS_PLAN_PARAM_GRADS");
    size_t nlog = (size_t)p->batch * tensor_size(&net->tensors[net->output]);
    clnas_status st = CLNAS_OK;
    for (int s = 0; s < S && st == CLNAS_OK; s++)
        st = clnas_buf_write(ctx, p->grad, (plan_grad_off(p, net->output) + (size_t)s * nlog) * sizeof(float),
                             nlog * sizeof(float), dlogits + (size_t)s * nlog);
    if (st == CLNAS_OK) st = clnas_plan_backward(p, S, dt(p->pgrad, 0), net->nparams, dinput != NULL);
    if (st == CLNAS_OK)
        st = clnas_buf_read(ctx, p->pgrad, 0, (size_t)S * net->nparams * sizeof(float), pgrad);
    if (st == CLNAS_OK && dinput)
        st = clnas_buf_read(ctx, p->grad, 0, tensor_size(&net->tensors[0]) * (size_t)p->batch * (size_t)S * sizeof(float), dinput);
    return st;
}

clnas_status clnas_plan_freeze(clnas_plan *p, int on)
{
    clnas_ctx *ctx = p->ctx;
    p->frozen = 0;
    if (!on) return CLNAS_OK;
    size_t bytes = p->net->act_per_sample * (size_t)p->batch * sizeof(float);
    if (!p->ref_act) {
        clnas_status st = clnas_buf_alloc(ctx, bytes, &p->ref_act);
        if (st != CLNAS_OK) return st;
    }
    CL_CHECK(ctx, clEnqueueCopyBuffer(ctx->queue, p->act, p->ref_act, 0, 0, bytes, 0, NULL, NULL));
    ctx->n_fills++;
    p->frozen = 1;
    return CLNAS_OK;
}

clnas_status clnas_plan_bn_eval(clnas_plan *p, int on)
{
    p->bn_eval = 0;
    if (!on || !p->net->nstats) return CLNAS_OK;
    const clnas_net *net = p->net;
    float *st = malloc(net->nstats * sizeof(float));
    if (!st) return clnas_set_error(p->ctx, CLNAS_E_NOMEM, "clnas_plan_bn_eval: out of host memory");
    for (int i = 0; i < net->nlayers; i++) {
        const layer *l = &net->layers[i];
        if (l->kind != L_BN) continue;
        const size_t C = (size_t)net->tensors[l->in].c;
        for (size_t c = 0; c < C; c++) {
            st[l->stats_off + c] = 0.0f;                                        /* running mean */
            st[l->stats_off + C + c] = (float)(1.0 / sqrt(1.0 + CLNAS_BN_EPS)); /* 1/sqrt(running var + eps) */
        }
    }
    clnas_status s = clnas_buf_write(p->ctx, p->stats, 0, net->nstats * sizeof(float), st);
    free(st);
    if (s == CLNAS_OK) p->bn_eval = 1;
    return s;
}
