/* test_ops_asvit.c - the vision-transformer ops of As-ViT (ops/vit.h, graph.h "Token layout"):
 *   1. the graph builders: shapes, parameter counts, layouts and the errors of bad calls;
 *   2. the double host references against central finite differences (every backward);
 *   3. OpenCL forward/backward against the references on random data with awkward shapes
 *      (token counts not multiples of 16, odd head dims, batch 1 and 3, S = 1 and 3 seeds,
 *      accumulate and overwrite, parameter gradients at a padded row stride);
 *   4. a small network (patch embedding, one transformer block, patch merging, token pool)
 *      on the device executor against the host reference, forward and gradients. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/graph.h"
#include "util/testutil.h"

#define OKC(ctx, call) cr_assert_eq((call), CLNAS_OK, "%s: %s", #call, clnas_ctx_errmsg(ctx))

static double *dalloc(size_t n)
{
    double *p = calloc(n ? n : 1, sizeof(double));
    cr_assert(p, "out of host memory");
    return p;
}

static inline void fillr(double *d, size_t n, uint64_t seed, double lo, double hi)
{
    tu_fill(d, n, seed, lo, hi);
    tu_round_to_float(d, n);
}

/* A mini As-ViT: image 3 x hw x hw -> patch embedding (k1, stride 4, As-ViT's padding) -> LN
 * -> one pre-LN block (window attention, GELU MLP of ratio e) -> patch merging (k2) -> token
 * pool. Returns the network (finished) or fails the test. With ln == 0 the LayerNorms are left
 * out (As-ViT's length-distortion variant). */
typedef struct vit_cfg { int hw, d, k1, heads, win, e, k2, ln; } vit_cfg;

static int block(clnas_net *n, int x, const vit_cfg *c, int dim)
{
    int h = c->ln ? graph_layernorm(n, x, "blocks.0.norm1") : x;
    int qkv = graph_tlinear(n, h, 3 * dim, 1, "blocks.0.attn.qkv");
    graph_init_rule(n, LAYER_INIT_TRUNC02);
    int grid = n->failed ? 1 : n->tensors[x].h;
    int win = c->win >= grid ? grid : c->win;
    int a = graph_attention(n, qkv, c->heads, win, win, "blocks.0.attn");
    int pr = graph_tlinear(n, a, dim, 1, "blocks.0.attn.proj");
    graph_init_rule(n, LAYER_INIT_TRUNC02);
    int ins[2] = {x, pr};
    const float one[2] = {1, 1};
    int r1 = graph_sum(n, 2, ins, one, dim, grid, grid, "blocks.0.res1");
    int h2 = c->ln ? graph_layernorm(n, r1, "blocks.0.mlps.0.0") : r1;
    int f1 = graph_tlinear(n, h2, c->e * dim, 1, "blocks.0.mlps.0.1.fc1");
    graph_init_rule(n, LAYER_INIT_TRUNC02);
    int g = graph_gelu(n, f1, "blocks.0.mlps.0.1.act");
    int f2 = graph_tlinear(n, g, dim, 1, "blocks.0.mlps.0.1.fc2");
    graph_init_rule(n, LAYER_INIT_TRUNC02);
    ins[0] = r1;
    ins[1] = f2;
    return graph_sum(n, 2, ins, one, dim, grid, grid, "blocks.0.res2");
}

static clnas_net *mini_vit(const vit_cfg *c)
{
    clnas_net *n = graph_new(3, c->hw, c->hw);
    cr_assert(n);
    int t = graph_patch_embed(n, 0, c->d, c->k1, 4, (c->k1 - 4) / 2, (c->k1 - 3) / 2, "patch_embed.proj");
    if (c->ln) t = graph_layernorm(n, t, "patch_embed.norm");
    t = block(n, t, c, c->d);
    t = graph_unfold(n, t, c->k2, 2, (c->k2 - 2) / 2, (c->k2 - 1) / 2, "downsample.unfold");
    if (c->ln) t = graph_layernorm(n, t, "downsample.norm");
    t = graph_tlinear(n, t, 2 * c->d, 0, "downsample.reduction");
    graph_init_rule(n, LAYER_INIT_TRUNC02);
    t = graph_tokpool(n, t, "avgpool");
    char err[256];
    cr_assert_eq(graph_finish(n, t, err, sizeof err), CLNAS_OK, "%s", err);
    return n;
}

/* ======================= 1. graph builders ======================= */

Test(asvit_graph, shapes_and_parameter_counts)
{
    const vit_cfg c = {28, 8, 8, 2, 7, 3, 3, 1};
    clnas_net *n = mini_vit(&c);
    const int D = 8, K1 = 8, E = 3, K2 = 3;
    size_t want = (size_t)D * 3 * K1 * K1 + D           /* patch conv + bias */
                  + 2 * D                               /* patch norm */
                  + 2 * D + (3 * D * D + 3 * D) + (D * D + D) /* norm1, qkv, proj */
                  + 2 * D + (E * D * D + E * D) + (E * D * D + D) /* norm2, fc1, fc2 */
                  + 2 * K2 * K2 * D + (size_t)K2 * K2 * D * 2 * D; /* merge norm, reduction */
    size_t bias = D + D + D + 3 * D + D + D + E * D + D + K2 * K2 * D; /* patch, its norm, norm1, qkv, proj, norm2, fc1, fc2, merge norm */
    cr_expect_eq(clnas_net_nparams(n), want, "params %zu, want %zu", clnas_net_nparams(n), want);
    cr_expect_eq(clnas_net_njacobian(n), want - bias, "Jacobian %zu, want %zu", clnas_net_njacobian(n), want - bias);
    /* 28 / 4 = 7 tokens a side; the merge halves it (rounding down, as Unfold does) */
    const tensor_desc *o = &n->tensors[n->output];
    cr_expect(o->c == 2 * D && o->h == 1 && o->w == 1);
    int found = 0;
    for (int i = 0; i < n->nlayers; i++) {
        const layer *l = &n->layers[i];
        const tensor_desc *to = &n->tensors[l->out];
        if (l->kind == L_ATTN) {
            found++;
            cr_expect(l->wh == 7 && l->ww == 7 && to->c == D && to->tok, "attention layer");
            cr_expect_eq(tensor_size(&n->tensors[l->aux]), (size_t)49 * 2 * 49, "probability storage");
        }
        if (l->kind == L_UNFOLD && i > 0) cr_expect(to->h == 3 && to->w == 3 && to->c == D * 9);
        if (l->kind == L_SUM) cr_expect(to->tok, "a sum of tokens is tokens");
    }
    cr_expect_eq(found, 1);
    /* the patch conv keeps a conv's weight shape and PyTorch's default init */
    const char *name;
    size_t off, cnt;
    int shape[4];
    clnas_net_param_tensor(n, 0, &name, &off, &cnt, shape);
    cr_expect_str_eq(name, "patch_embed.proj.weight");
    cr_expect(shape[0] == D && shape[1] == 3 && shape[2] == K1 && shape[3] == K1);
    float *p = malloc(clnas_net_nparams(n) * sizeof *p);
    clnas_net_init_params(n, 1, 0, CLNAS_INIT_KAIMING_FAN_IN, p);
    double bound = 1.0 / sqrt(3.0 * K1 * K1), mx = 0;
    for (size_t i = 0; i < cnt; i++) mx = fmax(mx, fabs(p[off + i]));
    cr_expect(mx <= bound && mx > 0.9 * bound, "patch conv init max %g, bound %g", mx, bound);
    for (int i = 0; i < clnas_net_nparam_tensors(n); i++) {
        clnas_net_param_tensor(n, i, &name, &off, &cnt, shape);
        double s2 = 0, s1 = 0;
        for (size_t j = 0; j < cnt; j++) { s1 += p[off + j]; s2 += (double)p[off + j] * p[off + j]; }
        if (strstr(name, "norm") && strstr(name, ".weight")) cr_expect(s1 == (double)cnt && s2 == (double)cnt, "%s gamma 1", name);
        else if (strstr(name, "norm") || (strstr(name, ".bias") && !strstr(name, "patch_embed"))) cr_expect(s2 == 0, "%s zero", name);
        else if (strstr(name, "qkv.weight") || strstr(name, "reduction.weight"))
            cr_expect(fabs(sqrt(s2 / (double)cnt) / 0.02 - 1) < 0.2, "%s std %g", name, sqrt(s2 / (double)cnt));
    }
    free(p);
    clnas_net_destroy(n);
}

Test(asvit_graph, bad_calls_are_errors)
{
    char err[256];
    struct { int kind; const char *msg; } cases[] = {
        {0, "holds tokens"}, {1, "needs tokens"}, {2, "do not fit"}, {3, "do not fit"}, {4, "does not fit"}, {5, "not 3 x C"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        clnas_net *n = graph_new(3, 8, 8);
        int t = graph_patch_embed(n, 0, 6, 4, 4, 0, 0, "pe"); /* 6 x 2 x 2 tokens */
        switch (cases[i].kind) {
        case 0: t = graph_bn(n, t, "bn"); break;
        case 1: t = graph_layernorm(n, 0, "ln"); break;
        case 2: t = graph_attention(n, graph_tlinear(n, t, 18, 1, "qkv"), 4, 2, 2, "attn"); break; /* 4 heads, 6 features */
        case 3: t = graph_attention(n, graph_tlinear(n, t, 18, 1, "qkv"), 2, 3, 2, "attn"); break; /* window 3 on a grid of 2 */
        case 4: t = graph_unfold(n, t, 5, 2, 0, 0, "unfold"); break;
        case 5: t = graph_attention(n, graph_tlinear(n, t, 7, 1, "qkv"), 1, 2, 2, "attn"); break;
        }
        cr_expect_eq(t, -1, "case %zu", i);
        cr_expect_neq(graph_finish(n, t, err, sizeof err), CLNAS_OK, "case %zu", i);
        cr_expect(strstr(err, cases[i].msg), "case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].msg);
        clnas_net_destroy(n);
    }
}

/* ======================= 2. references vs finite differences ======================= */

/* One op's forward as a function of all its inputs packed in `in` (x, then the parameters). */
typedef struct fd_op {
    int kind;                  /* L_LN, L_TLINEAR, L_GELU, L_TANH, L_ATTN, L_UNFOLD, L_TOKPOOL */
    int rows, d, out;          /* LN: rows x d; TLINEAR: rows x d -> rows x out; TOKPOOL: n=rows, t=out, d */
    size_t count;              /* GELU/TANH */
    clnas_attn_shape as;
    clnas_unfold_shape us;
    int bias;
} fd_op;

static size_t fd_nin(const fd_op *o)
{
    switch (o->kind) {
    case L_LN: return (size_t)o->rows * o->d + 2 * (size_t)o->d;
    case L_TLINEAR: return (size_t)o->rows * o->d + (size_t)o->out * o->d + (o->bias ? (size_t)o->out : 0);
    case L_GELU: case L_TANH: return o->count;
    case L_ATTN: return (size_t)o->as.n * o->as.h * o->as.w * 3 * o->as.c;
    case L_UNFOLD: return (size_t)o->us.n * o->us.c * o->us.h * o->us.w;
    case L_TOKPOOL: return (size_t)o->rows * o->out * o->d;
    default: return 0;
    }
}

static size_t fd_nout(const fd_op *o)
{
    switch (o->kind) {
    case L_LN: return (size_t)o->rows * o->d;
    case L_TLINEAR: return (size_t)o->rows * o->out;
    case L_GELU: case L_TANH: return o->count;
    case L_ATTN: return (size_t)o->as.n * o->as.h * o->as.w * o->as.c;
    case L_UNFOLD: return (size_t)o->us.n * o->us.hout * o->us.wout * o->us.c * o->us.k * o->us.k;
    case L_TOKPOOL: return (size_t)o->rows * o->d;
    default: return 0;
    }
}

static void fd_fwd(void *ud, const double *in, double *out)
{
    const fd_op *o = ud;
    double *aux = NULL;
    switch (o->kind) {
    case L_LN: {
        const size_t nx = (size_t)o->rows * o->d;
        aux = dalloc(2 * (size_t)o->rows);
        clnas_ln_fwd_ref(o->rows, o->d, CLNAS_LN_EPS, in, in + nx, in + nx + o->d, out, aux);
        break;
    }
    case L_TLINEAR: {
        const size_t nx = (size_t)o->rows * o->d, nw = (size_t)o->out * o->d;
        clnas_tlinear_fwd_ref(o->rows, o->d, o->out, in, in + nx, o->bias ? in + nx + nw : NULL, out);
        break;
    }
    case L_GELU: clnas_act_fwd_ref(CLNAS_ACT_GELU, o->count, in, out); break;
    case L_TANH: clnas_act_fwd_ref(CLNAS_ACT_TANH, o->count, in, out); break;
    case L_ATTN:
        aux = dalloc(clnas_attn_probs_floats(&o->as));
        clnas_attn_fwd_ref(&o->as, in, out, aux);
        break;
    case L_UNFOLD: clnas_unfold_fwd_ref(&o->us, in, out); break;
    case L_TOKPOOL: clnas_tokpool_fwd_ref(o->rows, o->out, o->d, in, out); break;
    default: break;
    }
    free(aux);
}

/* The reference backward of dy = w into grad (packed like `in`). */
static void fd_bwd(const fd_op *o, const double *in, const double *w, double *grad)
{
    memset(grad, 0, fd_nin(o) * sizeof *grad);
    double *aux = NULL, *y = dalloc(fd_nout(o));
    switch (o->kind) {
    case L_LN: {
        const size_t nx = (size_t)o->rows * o->d;
        aux = dalloc(2 * (size_t)o->rows);
        clnas_ln_fwd_ref(o->rows, o->d, CLNAS_LN_EPS, in, in + nx, in + nx + o->d, y, aux);
        clnas_ln_bwd_ref(o->rows, o->d, in, in + nx, aux, w, grad, grad + nx, grad + nx + o->d);
        break;
    }
    case L_TLINEAR: {
        const size_t nx = (size_t)o->rows * o->d, nw = (size_t)o->out * o->d;
        clnas_tlinear_bwd_ref(o->rows, o->d, o->out, in, in + nx, w, grad, grad + nx, o->bias ? grad + nx + nw : NULL);
        break;
    }
    case L_GELU: clnas_act_bwd_ref(CLNAS_ACT_GELU, o->count, in, w, grad); break;
    case L_TANH: clnas_act_bwd_ref(CLNAS_ACT_TANH, o->count, in, w, grad); break;
    case L_ATTN:
        aux = dalloc(clnas_attn_probs_floats(&o->as));
        clnas_attn_fwd_ref(&o->as, in, y, aux);
        clnas_attn_bwd_ref(&o->as, in, aux, w, grad);
        break;
    case L_UNFOLD: clnas_unfold_bwd_ref(&o->us, w, grad); break;
    case L_TOKPOOL: clnas_tokpool_bwd_ref(o->rows, o->out, o->d, w, grad); break;
    default: break;
    }
    free(aux);
    free(y);
}

static void fd_check(fd_op *o, const char *what, uint64_t seed)
{
    const size_t nin = fd_nin(o), nout = fd_nout(o);
    double *in = dalloc(nin), *w = dalloc(nout), *g = dalloc(nin);
    tu_fill(in, nin, seed, -1.5, 1.5);
    tu_fill(w, nout, seed + 1, -1, 1);
    if (o->kind == L_LN) /* gamma away from 0, beta anything */
        for (int j = 0; j < o->d; j++) in[(size_t)o->rows * o->d + j] += 2.0;
    fd_bwd(o, in, w, g);
    double e = tu_gradcheck(fd_fwd, o, in, nin, nout, w, g, 1e-5, 400);
    fprintf(stderr, "  fd %-40s worst rel err %.3g\n", what, e);
    cr_expect(e < 1e-6, "%s: finite differences disagree with the reference backward (%g)", what, e);
    free(in);
    free(w);
    free(g);
}

Test(asvit_ref, backward_matches_finite_differences)
{
    fd_op o;
    memset(&o, 0, sizeof o);
    o.kind = L_LN; o.rows = 7; o.d = 5;
    fd_check(&o, "layernorm 7 x 5", 1);
    o.rows = 3; o.d = 1; /* one feature: the output is beta, the gradient w.r.t. x is 0 */
    fd_check(&o, "layernorm 3 x 1", 2);
    memset(&o, 0, sizeof o);
    o.kind = L_TLINEAR; o.rows = 5; o.d = 7; o.out = 3; o.bias = 1;
    fd_check(&o, "token linear 5 x 7 -> 3, bias", 3);
    o.bias = 0;
    fd_check(&o, "token linear 5 x 7 -> 3, no bias", 4);
    memset(&o, 0, sizeof o);
    o.kind = L_GELU; o.count = 37;
    fd_check(&o, "gelu", 5);
    o.kind = L_TANH;
    fd_check(&o, "tanh", 6);
    memset(&o, 0, sizeof o);
    o.kind = L_ATTN;
    cr_assert(clnas_attn_shape_init(&o.as, 2, 4, 6, 6, 2, 2, 3)); /* 4 windows of 2x3, 2 heads of 3 */
    fd_check(&o, "attention 2 x 4x6, 2 heads, 2x3 windows", 7);
    cr_assert(clnas_attn_shape_init(&o.as, 1, 3, 3, 5, 1, 3, 3)); /* global, 1 head of 5 */
    fd_check(&o, "attention 1 x 3x3, global", 8);
    memset(&o, 0, sizeof o);
    o.kind = L_UNFOLD;
    cr_assert(clnas_unfold_shape_init(&o.us, 2, 3, 5, 4, 3, 2, 0, 1, 1));
    fd_check(&o, "unfold tokens k3 s2 pad 0,1", 9);
    cr_assert(clnas_unfold_shape_init(&o.us, 1, 2, 9, 7, 6, 4, 1, 1, 0));
    fd_check(&o, "unfold NCHW k6 s4 pad 1,1", 10);
    memset(&o, 0, sizeof o);
    o.kind = L_TOKPOOL; o.rows = 3; o.out = 5; o.d = 4;
    fd_check(&o, "token pool 3 x 5 x 4", 11);
}

/* hand-computed values: softmax of a 2-token window, GELU and unfold's feature order */
Test(asvit_ref, hand_computed_values)
{
    /* one head, hd = 1, 1x2 window: q = (1, 2), k = (ln 2 ... ) */
    clnas_attn_shape as;
    cr_assert(clnas_attn_shape_init(&as, 1, 1, 2, 1, 1, 1, 2));
    const double qkv[6] = {1, log(3.0), 10, 2, 0, 20}; /* token 0: q k v, token 1: q k v */
    double y[2], P[4];
    clnas_attn_fwd_ref(&as, qkv, y, P);
    /* token 0: scores (1*ln3, 1*0) -> softmax (3/4, 1/4); y = 7.5 + 5 */
    cr_expect(fabs(P[0] - 0.75) < 1e-12 && fabs(P[1] - 0.25) < 1e-12, "P row 0 %g %g", P[0], P[1]);
    cr_expect(fabs(y[0] - 12.5) < 1e-12, "y0 %g", y[0]);
    /* token 1: scores (2 ln 3, 0) -> (9/10, 1/10); y = 9 + 2 */
    cr_expect(fabs(y[1] - 11.0) < 1e-12, "y1 %g", y[1]);
    double g[3] = {-1, 0, 1}, gy[3];
    clnas_act_fwd_ref(CLNAS_ACT_GELU, 3, g, gy);
    cr_expect(fabs(gy[0] + 0.15865525393145705) < 1e-15 && gy[1] == 0 && fabs(gy[2] - 0.8413447460685429) < 1e-15);
    /* unfold of a 1-channel 2x2 NCHW map, k2 s2 no pad: one token with features in row-major order */
    clnas_unfold_shape us;
    cr_assert(clnas_unfold_shape_init(&us, 1, 2, 2, 2, 2, 2, 0, 0, 0));
    double x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, u[8];
    clnas_unfold_fwd_ref(&us, x, u);
    for (int i = 0; i < 8; i++) cr_expect(u[i] == x[i], "unfold feature %d", i);
    us.tok_in = 1; /* tokens: token t has features (2t+1, 2t+2): channel 0 of the 4 tokens is 1,3,5,7 */
    clnas_unfold_fwd_ref(&us, x, u);
    const double want[8] = {1, 3, 5, 7, 2, 4, 6, 8};
    for (int i = 0; i < 8; i++) cr_expect(u[i] == want[i], "unfold of tokens feature %d: %g", i, u[i]);
}
