/* test_ops_asvit.c - the vision-transformer ops of As-ViT (ops/vit.h, graph.h "Token layout"):
 *   1. the graph builders: shapes, parameter counts, layouts and the errors of bad calls;
 *   2. the double host references against central finite differences (every backward);
 *   3. OpenCL forward/backward against the references on random data with awkward shapes
 *      (token counts not multiples of 16, odd head dims, batch 1 and 3, S = 1 and 3 seeds,
 *      accumulate and overwrite, parameter gradients at a padded row stride);
 *   4. a small network (patch embedding, one transformer block, patch merging, token pool)
 *      on the device executor against the host reference, forward and gradients. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/graph.h"
#include "util/testutil.h"

#define OKC(ctx, call) cr_assert_eq((call), CLNAS_OK, "%s: %s", #call, clnas_ctx_errmsg(ctx))

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
    /* the saved states (LN statistics, attention probabilities) have no gradient slot: they
       come after every tensor with a gradient */
    size_t aux = 0;
    for (int t = 0; t < n->ntensors; t++)
        if (n->tensors[t].aux) {
            aux += tensor_size(&n->tensors[t]);
            cr_expect(n->tensors[t].off >= n->grad_per_sample, "aux tensor %d inside the gradient layout", t);
        } else {
            cr_expect(n->tensors[t].off + tensor_size(&n->tensors[t]) <= n->grad_per_sample, "tensor %d outside", t);
        }
    cr_expect(aux > 0 && n->grad_per_sample + aux == n->act_per_sample, "grad %zu + aux %zu != act %zu", n->grad_per_sample,
              aux, n->act_per_sample);
    cr_expect_eq(n->tensors[0].off, 0);
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
        aux = tu_dalloc(2 * (size_t)o->rows);
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
        aux = tu_dalloc(clnas_attn_probs_floats(&o->as));
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
    double *aux = NULL, *y = tu_dalloc(fd_nout(o));
    switch (o->kind) {
    case L_LN: {
        const size_t nx = (size_t)o->rows * o->d;
        aux = tu_dalloc(2 * (size_t)o->rows);
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
        aux = tu_dalloc(clnas_attn_probs_floats(&o->as));
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
    double *in = tu_dalloc(nin), *w = tu_dalloc(nout), *g = tu_dalloc(nin);
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

/* ======================= 3. device vs reference ======================= */

#define TOL 2e-5       /* device (fp32) vs reference, relative to the output's scale */
#define SENTINEL 777.0 /* fills buffers around the tensors: writes outside show */
#define PAD 5          /* floats before each tensor in its buffer (nonzero offsets) */

/* A buffer of PAD + n + 3 floats, SENTINEL around h[0..n) (h NULL: all SENTINEL). */
static cl_mem put(clnas_ctx *ctx, const double *h, size_t n) { return tu_put(ctx, h, n, PAD, SENTINEL); }

static clnas_dt at(cl_mem m) { clnas_dt t = {m, PAD}; return t; }

/* Reads the whole buffer of n floats at PAD, checks the sentinels around it, returns the n. */
static double *get(clnas_ctx *ctx, cl_mem m, size_t n, const char *what)
{
    double *f = tu_dalloc(PAD + n + 3), *o = tu_dalloc(n);
    tu_read(ctx, m, 0, PAD + n + 3, f);
    for (size_t i = 0; i < PAD; i++) cr_expect_eq(f[i], SENTINEL, "%s: float %zu before the tensor was written", what, i);
    for (size_t i = 0; i < 3; i++) cr_expect_eq(f[PAD + n + i], SENTINEL, "%s: float %zu after the tensor was written", what, i);
    memcpy(o, f + PAD, n * sizeof *o);
    free(f);
    return o;
}

static void cmp(const char *what, const double *got, const double *ref, size_t n, double tol)
{
    fprintf(stderr, "  %-52s rel err %.3g\n", what, tu_rel_err(got, ref, n));
    tu_expect_close(what, got, ref, n, tol);
}

/* Random initial dx (garbage when overwriting, to show it is not read); returns the expected
 * result base: the initial values when accumulating, 0 otherwise. */
static double *init_dx(size_t n, int acc, uint64_t seed, double **expect)
{
    double *d = tu_dalloc(n);
    tu_fill_rounded(d, n, seed, -1, 1);
    *expect = tu_dalloc(n);
    if (acc) memcpy(*expect, d, n * sizeof(double));
    if (!acc) for (size_t i = 0; i < n; i += 7) d[i] = NAN;
    return d;
}

static void dev_ln(int rows, int d, int S, int acc)
{
    clnas_ctx *ctx = tu_ctx();
    char what[96];
    const size_t n = (size_t)rows * d, g_ld = 2 * (size_t)d + 3;
    double *x = tu_dalloc(n), *ga = tu_dalloc(d), *be = tu_dalloc(d), *dy = tu_dalloc(n * S);
    tu_fill_rounded(x, n, 21, -2, 3);
    tu_fill_rounded(ga, d, 22, 0.5, 1.5);
    tu_fill_rounded(be, d, 23, -1, 1);
    tu_fill_rounded(dy, n * S, 24, -1, 1);
    double *y = tu_dalloc(n), *stats = tu_dalloc(2 * (size_t)rows), *dxe, *dx0 = init_dx(n * S, acc, 25, &dxe);
    double *dge = tu_dalloc(S * g_ld);
    clnas_ln_fwd_ref(rows, d, CLNAS_LN_EPS, x, ga, be, y, stats);
    for (int s = 0; s < S; s++)
        clnas_ln_bwd_ref(rows, d, x, ga, stats, dy + s * n, dxe + s * n, dge + s * g_ld, dge + s * g_ld + d);
    cl_mem mx = put(ctx, x, n), mg = put(ctx, ga, d), mb = put(ctx, be, d), my = put(ctx, NULL, n);
    cl_mem ms = put(ctx, NULL, 2 * (size_t)rows), mdy = put(ctx, dy, n * S), mdx = put(ctx, dx0, n * S);
    cl_mem mG = put(ctx, NULL, S * g_ld);
    OKC(ctx, clnas_ln_fwd(ctx, rows, d, CLNAS_LN_EPS, at(mx), at(mg), at(mb), at(my), at(ms)));
    OKC(ctx, clnas_ln_bwd(ctx, rows, d, S, at(mx), at(mg), at(ms), at(mdy), at(mdx), acc, at(mG), clnas_dt_at(at(mG), d), g_ld));
    double *gy = get(ctx, my, n, "ln y"), *gs = get(ctx, ms, 2 * (size_t)rows, "ln stats");
    double *gdx = get(ctx, mdx, n * S, "ln dx"), *gG = get(ctx, mG, S * g_ld, "ln dgamma/dbeta");
    snprintf(what, sizeof what, "layernorm %d x %d: y", rows, d);
    cmp(what, gy, y, n, TOL);
    cmp("  mean / invstd", gs, stats, 2 * (size_t)rows, TOL);
    snprintf(what, sizeof what, "  dx (S=%d, %s)", S, acc ? "accumulate" : "overwrite");
    cmp(what, gdx, dxe, n * S, TOL);
    for (int s = 0; s < S; s++) {
        for (int j = 2 * d; j < (int)g_ld; j++) gG[s * g_ld + j] = dge[s * g_ld + j] = 0; /* row padding */
    }
    cmp("  dgamma, dbeta (padded rows)", gG, dge, S * g_ld, TOL);
    cl_mem ms_[] = {mx, mg, mb, my, ms, mdy, mdx, mG};
    for (size_t i = 0; i < sizeof ms_ / sizeof ms_[0]; i++) clnas_buf_free(ms_[i]);
    free(x); free(ga); free(be); free(dy); free(y); free(stats); free(dxe); free(dx0); free(dge);
    free(gy); free(gs); free(gdx); free(gG);
}

Test(asvit_device, layernorm)
{
    dev_ln(3 * 13, 37, 1, 1);
    dev_ln(1 * 25, 8, 3, 0);
    dev_ln(2 * 7, 1, 2, 1);
    dev_ln(3 * 49, 9 * 16, 3, 1); /* a patch-merging norm: 3x3 unfold of 16 features */
}

static void dev_tlinear(int rows, int in, int out, int bias, int S, int acc)
{
    clnas_ctx *ctx = tu_ctx();
    char what[96];
    const size_t nx = (size_t)rows * in, ny = (size_t)rows * out, nw = (size_t)out * in, g_ld = nw + out + 2;
    double *x = tu_dalloc(nx), *W = tu_dalloc(nw), *b = tu_dalloc(out), *dy = tu_dalloc(ny * S);
    tu_fill_rounded(x, nx, 31, -1, 1);
    tu_fill_rounded(W, nw, 32, -0.5, 0.5);
    tu_fill_rounded(b, out, 33, -1, 1);
    tu_fill_rounded(dy, ny * S, 34, -1, 1);
    double *y = tu_dalloc(ny), *dxe, *dx0 = init_dx(nx * S, acc, 35, &dxe), *G = tu_dalloc(S * g_ld);
    clnas_tlinear_fwd_ref(rows, in, out, x, W, bias ? b : NULL, y);
    for (int s = 0; s < S; s++)
        clnas_tlinear_bwd_ref(rows, in, out, x, W, dy + s * ny, dxe + s * nx, G + s * g_ld, bias ? G + s * g_ld + nw : NULL);
    cl_mem mx = put(ctx, x, nx), mW = put(ctx, W, nw), mb = put(ctx, b, out), my = put(ctx, NULL, ny);
    cl_mem mdy = put(ctx, dy, ny * S), mdx = put(ctx, dx0, nx * S), mG = put(ctx, NULL, S * g_ld);
    clnas_dt nob = {NULL, 0};
    OKC(ctx, clnas_tlinear_fwd(ctx, rows, in, out, at(mx), at(mW), bias ? at(mb) : nob, at(my)));
    OKC(ctx, clnas_tlinear_bwd(ctx, rows, in, out, S, at(mx), at(mW), at(mdy), at(mdx), acc, at(mG),
                               bias ? clnas_dt_at(at(mG), nw) : nob, g_ld));
    double *gy = get(ctx, my, ny, "tlinear y"), *gdx = get(ctx, mdx, nx * S, "tlinear dx"), *gG = get(ctx, mG, S * g_ld, "tlinear dW");
    snprintf(what, sizeof what, "token linear %d x %d -> %d%s: y", rows, in, out, bias ? " +b" : "");
    cmp(what, gy, y, ny, TOL);
    snprintf(what, sizeof what, "  dx (S=%d, %s)", S, acc ? "accumulate" : "overwrite");
    cmp(what, gdx, dxe, nx * S, TOL);
    for (int s = 0; s < S; s++)
        for (size_t j = nw + (bias ? (size_t)out : 0); j < g_ld; j++) {
            cr_expect_eq(gG[s * g_ld + j], SENTINEL, "tlinear: gradient padding %zu of seed %d written", j, s);
            gG[s * g_ld + j] = G[s * g_ld + j] = 0;
        }
    cmp("  dW, db", gG, G, S * g_ld, TOL);
    cl_mem ms_[] = {mx, mW, mb, my, mdy, mdx, mG};
    for (size_t i = 0; i < sizeof ms_ / sizeof ms_[0]; i++) clnas_buf_free(ms_[i]);
    free(x); free(W); free(b); free(dy); free(y); free(dxe); free(dx0); free(G); free(gy); free(gdx); free(gG);
}

Test(asvit_device, token_linear)
{
    dev_tlinear(3 * 13, 37, 19, 1, 3, 1);
    dev_tlinear(1 * 25, 8, 24, 0, 1, 0);
    dev_tlinear(2 * 9, 75, 5, 1, 2, 0);
}

static void dev_act(clnas_act a, size_t count, int S, int acc)
{
    clnas_ctx *ctx = tu_ctx();
    double *x = tu_dalloc(count), *dy = tu_dalloc(count * S), *y = tu_dalloc(count), *dxe, *dx0 = init_dx(count * S, acc, 41, &dxe);
    tu_fill_rounded(x, count, 42, -5, 5);
    tu_fill_rounded(dy, count * S, 43, -1, 1);
    clnas_act_fwd_ref(a, count, x, y);
    for (int s = 0; s < S; s++) clnas_act_bwd_ref(a, count, x, dy + s * count, dxe + s * count);
    cl_mem mx = put(ctx, x, count), my = put(ctx, NULL, count), mdy = put(ctx, dy, count * S), mdx = put(ctx, dx0, count * S);
    OKC(ctx, clnas_act_fwd(ctx, a, count, at(mx), at(my)));
    OKC(ctx, clnas_act_bwd(ctx, a, count, S, at(mx), at(mdy), at(mdx), acc));
    double *gy = get(ctx, my, count, "act y"), *gdx = get(ctx, mdx, count * S, "act dx");
    cmp(a == CLNAS_ACT_GELU ? "gelu y" : "tanh y", gy, y, count, TOL);
    cmp(acc ? "  dx (accumulate)" : "  dx (overwrite)", gdx, dxe, count * S, TOL);
    clnas_buf_free(mx); clnas_buf_free(my); clnas_buf_free(mdy); clnas_buf_free(mdx);
    free(x); free(dy); free(y); free(dxe); free(dx0); free(gy); free(gdx);
}

Test(asvit_device, gelu_and_tanh)
{
    dev_act(CLNAS_ACT_GELU, 1001, 1, 1);
    dev_act(CLNAS_ACT_GELU, 333, 3, 0);
    dev_act(CLNAS_ACT_TANH, 1001, 2, 1);
    dev_act(CLNAS_ACT_TANH, 17, 1, 0);
}

static double attn_range = 2.0; /* qkv drawn from [-attn_range, attn_range] */

static void dev_attn(int n, int h, int w, int c, int heads, int wh, int ww, int S, int acc)
{
    clnas_ctx *ctx = tu_ctx();
    char what[128];
    clnas_attn_shape as;
    cr_assert(clnas_attn_shape_init(&as, n, h, w, c, heads, wh, ww));
    const size_t part = (size_t)n * h * w * c, np = clnas_attn_probs_floats(&as), nws = clnas_attn_workspace_floats(&as, S);
    double *qkv = tu_dalloc(3 * part), *dy = tu_dalloc(part * S), *y = tu_dalloc(part), *P = tu_dalloc(np);
    tu_fill_rounded(qkv, 3 * part, 51, -attn_range, attn_range);
    tu_fill_rounded(dy, part * S, 52, -1, 1);
    double *dxe, *dx0 = init_dx(3 * part * S, acc, 53, &dxe);
    clnas_attn_fwd_ref(&as, qkv, y, P);
    for (int s = 0; s < S; s++) clnas_attn_bwd_ref(&as, qkv, P, dy + s * part, dxe + s * 3 * part);
    cl_mem mq = put(ctx, qkv, 3 * part), my = put(ctx, NULL, part), mP = put(ctx, NULL, np), mws = put(ctx, NULL, nws);
    cl_mem mdy = put(ctx, dy, part * S), mdx = put(ctx, dx0, 3 * part * S);
    OKC(ctx, clnas_attn_fwd(ctx, &as, at(mq), at(my), at(mP), at(mws)));
    OKC(ctx, clnas_attn_bwd(ctx, &as, S, at(mq), at(mP), at(mdy), at(mdx), acc, at(mws)));
    double *gy = get(ctx, my, part, "attn y"), *gP = get(ctx, mP, np, "attn probs"), *gdx = get(ctx, mdx, 3 * part * S, "attn dqkv");
    free(get(ctx, mws, nws, "attn workspace"));
    snprintf(what, sizeof what, "attention %dx%dx%d c%d %d heads (hd %d) %dx%d win: y", n, h, w, c, heads, as.hd, wh, ww);
    cmp(what, gy, y, part, TOL);
    cmp("  probabilities", gP, P, np, TOL);
    snprintf(what, sizeof what, "  dqkv (S=%d, %s)", S, acc ? "accumulate" : "overwrite");
    /* float scores of size ~range^2 carry absolute errors ~range^2 * 6e-8 into the softmax's
       gradient: the tolerance grows with the range */
    cmp(what, gdx, dxe, 3 * part * S, TOL * (attn_range > 2.0 ? attn_range * attn_range / 4.0 : 1.0));
    cl_mem ms_[] = {mq, my, mP, mws, mdy, mdx};
    for (size_t i = 0; i < sizeof ms_ / sizeof ms_[0]; i++) clnas_buf_free(ms_[i]);
    free(qkv); free(dy); free(y); free(P); free(dxe); free(dx0); free(gy); free(gP); free(gdx);
}

Test(asvit_device, window_attention)
{
    dev_attn(3, 6, 4, 10, 2, 3, 2, 1, 1);   /* 24 tokens, 4 windows of 3x2, head dim 5 */
    dev_attn(1, 5, 5, 9, 3, 5, 5, 3, 0);    /* global over 25 tokens, head dim 3 */
    dev_attn(3, 7, 7, 7, 1, 7, 7, 2, 1);    /* global, one head of 7 */
    dev_attn(1, 14, 14, 8, 2, 7, 7, 1, 0);  /* As-ViT-like: 4 windows of 49 */
}

/* the other softmax kernels: one work-group per row (what GPUs get), and 1-token windows */
Test(asvit_device, window_attention_group_softmax)
{
    setenv("CLNAS_SOFTMAX", "group", 1);
    dev_attn(3, 6, 4, 10, 2, 3, 2, 2, 1);
    dev_attn(1, 14, 14, 8, 2, 7, 7, 1, 0);
    dev_attn(2, 3, 3, 4, 2, 1, 1, 1, 1);
    unsetenv("CLNAS_SOFTMAX");
    setenv("CLNAS_SOFTMAX", "item", 1);
    dev_attn(2, 3, 3, 4, 2, 1, 1, 1, 1);
    dev_attn(1, 5, 7, 4, 1, 5, 7, 2, 0); /* 35 keys: a float4 body and a tail of 3 */
    unsetenv("CLNAS_SOFTMAX");
}

/* scores in the thousands: exp would overflow without the max subtraction */
Test(asvit_device, softmax_is_stable_for_large_scores)
{
    attn_range = 40.0;
    for (int g = 0; g < 2; g++) {
        setenv("CLNAS_SOFTMAX", g ? "group" : "item", 1);
        dev_attn(1, 4, 4, 8, 2, 4, 4, 1, 0);
    }
    unsetenv("CLNAS_SOFTMAX");
    attn_range = 2.0;
}

static void dev_unfold(int n, int c, int h, int w, int k, int st, int pad, int pad_hi, int tok, int S, int acc)
{
    clnas_ctx *ctx = tu_ctx();
    char what[128];
    clnas_unfold_shape us;
    cr_assert(clnas_unfold_shape_init(&us, n, c, h, w, k, st, pad, pad_hi, tok));
    const size_t nx = (size_t)n * c * h * w, ny = (size_t)n * us.hout * us.wout * c * k * k;
    double *x = tu_dalloc(nx), *dy = tu_dalloc(ny * S), *y = tu_dalloc(ny), *dxe, *dx0 = init_dx(nx * S, acc, 61, &dxe);
    tu_fill_rounded(x, nx, 62, -1, 1);
    tu_fill_rounded(dy, ny * S, 63, -1, 1);
    clnas_unfold_fwd_ref(&us, x, y);
    for (int s = 0; s < S; s++) clnas_unfold_bwd_ref(&us, dy + s * ny, dxe + s * nx);
    cl_mem mx = put(ctx, x, nx), my = put(ctx, NULL, ny), mdy = put(ctx, dy, ny * S), mdx = put(ctx, dx0, nx * S);
    OKC(ctx, clnas_unfold_fwd(ctx, &us, at(mx), at(my)));
    OKC(ctx, clnas_unfold_bwd(ctx, &us, S, at(mdy), at(mdx), acc));
    double *gy = get(ctx, my, ny, "unfold y"), *gdx = get(ctx, mdx, nx * S, "unfold dx");
    snprintf(what, sizeof what, "unfold %s %dx%dx%dx%d k%d s%d pad %d,%d: y", tok ? "tokens" : "NCHW", n, c, h, w, k, st, pad, pad_hi);
    cmp(what, gy, y, ny, 0);
    snprintf(what, sizeof what, "  dx (S=%d, %s)", S, acc ? "accumulate" : "overwrite");
    cmp(what, gdx, dxe, nx * S, TOL);
    clnas_buf_free(mx); clnas_buf_free(my); clnas_buf_free(mdy); clnas_buf_free(mdx);
    free(x); free(dy); free(y); free(dxe); free(dx0); free(gy); free(gdx);
}

Test(asvit_device, unfold)
{
    dev_unfold(3, 5, 7, 6, 3, 2, 0, 1, 1, 2, 1);   /* patch merging k3 of an odd grid */
    dev_unfold(1, 4, 14, 14, 4, 2, 1, 1, 1, 3, 0); /* patch merging k4 */
    dev_unfold(2, 3, 13, 11, 7, 4, 1, 2, 0, 1, 1); /* patch embedding k7 from NCHW */
    dev_unfold(1, 3, 16, 16, 8, 4, 2, 2, 0, 1, 0); /* patch embedding k8 */
}

static void dev_tokpool(int n, int t, int d, int S, int acc)
{
    clnas_ctx *ctx = tu_ctx();
    const size_t nx = (size_t)n * t * d, ny = (size_t)n * d;
    double *x = tu_dalloc(nx), *dy = tu_dalloc(ny * S), *y = tu_dalloc(ny), *dxe, *dx0 = init_dx(nx * S, acc, 71, &dxe);
    tu_fill_rounded(x, nx, 72, -1, 2);
    tu_fill_rounded(dy, ny * S, 73, -1, 1);
    clnas_tokpool_fwd_ref(n, t, d, x, y);
    for (int s = 0; s < S; s++) clnas_tokpool_bwd_ref(n, t, d, dy + s * ny, dxe + s * nx);
    cl_mem mx = put(ctx, x, nx), my = put(ctx, NULL, ny), mdy = put(ctx, dy, ny * S), mdx = put(ctx, dx0, nx * S);
    OKC(ctx, clnas_tokpool_fwd(ctx, n, t, d, at(mx), at(my)));
    OKC(ctx, clnas_tokpool_bwd(ctx, n, t, d, S, at(mdy), at(mdx), acc));
    double *gy = get(ctx, my, ny, "tokpool y"), *gdx = get(ctx, mdx, nx * S, "tokpool dx");
    cmp("token pool y", gy, y, ny, TOL);
    cmp(acc ? "  dx (accumulate)" : "  dx (overwrite)", gdx, dxe, nx * S, TOL);
    clnas_buf_free(mx); clnas_buf_free(my); clnas_buf_free(mdy); clnas_buf_free(mdx);
    free(x); free(dy); free(y); free(dxe); free(dx0); free(gy); free(gdx);
}

Test(asvit_device, token_pool)
{
    dev_tokpool(3, 13, 11, 3, 1);
    dev_tokpool(1, 49, 8, 1, 0);
}

Test(asvit_device, bad_shapes_are_errors)
{
    clnas_ctx *ctx = tu_ctx();
    cl_mem m = put(ctx, NULL, 64);
    clnas_attn_shape as;
    memset(&as, 0, sizeof as);
    as.n = 1; as.h = 4; as.w = 4; as.c = 6; as.heads = 4; as.wh = 2; as.ww = 2; /* 4 heads do not divide 6 */
    cr_expect_eq(clnas_attn_fwd(ctx, &as, at(m), at(m), at(m), at(m)), CLNAS_E_SHAPE);
    cr_expect(strstr(clnas_ctx_errmsg(ctx), "clnas_attn_fwd"), "%s", clnas_ctx_errmsg(ctx));
    clnas_unfold_shape us;
    memset(&us, 0, sizeof us);
    us.n = 1; us.c = 1; us.h = 2; us.w = 2; us.k = 3; us.stride = 1;
    cr_expect_eq(clnas_unfold_fwd(ctx, &us, at(m), at(m)), CLNAS_E_SHAPE);
    cr_expect_eq(clnas_ln_fwd(ctx, 0, 4, 1e-5, at(m), at(m), at(m), at(m), at(m)), CLNAS_E_SHAPE);
    cr_expect_eq(clnas_tlinear_bwd(ctx, 2, 3, 4, 2, at(m), at(m), at(m), at(m), 1, at(m), at(m), 5), CLNAS_E_SHAPE,
                 "a gradient row stride below the weights of one seed");
    cr_expect_eq(clnas_tokpool_bwd(ctx, 1, 0, 4, 1, at(m), at(m), 1), CLNAS_E_SHAPE);
    clnas_buf_free(m);
}

/* ======================= 4. a small network: executor vs reference ======================= */

/* Device executor against the host reference: features, every parameter gradient of S seeds
 * and the input gradient. */
static void net_device_vs_reference(const vit_cfg *c, int B, int S)
{
    clnas_ctx *ctx = tu_ctx();
    clnas_net *net = mini_vit(c);
    const size_t nx = (size_t)B * 3 * c->hw * c->hw, np = clnas_net_nparams(net), no = (size_t)B * clnas_net_classes(net);
    float *x = malloc(nx * sizeof *x), *p = malloc(np * sizeof *p), *out = malloc(no * sizeof *out);
    float *dl = malloc(S * no * sizeof *dl), *pg = malloc(S * np * sizeof *pg), *dx = malloc(S * nx * sizeof *dx);
    double *xd = tu_dalloc(nx), *pd = tu_dalloc(np), *outd = tu_dalloc(no), *dld = tu_dalloc(S * no), *pgd = tu_dalloc(np);
    double *dxd = tu_dalloc(nx), *tmp = tu_dalloc(np + nx + no);
    tu_fill_rounded(xd, nx, 81, -2, 2);
    for (size_t i = 0; i < nx; i++) x[i] = (float)xd[i];
    clnas_net_init_params(net, 7, 0, CLNAS_INIT_PYTORCH, p);
    /* As-ViT's init makes the biases 0 and LN affine trivial: perturb them so their gradients
       and the paths they open are exercised */
    for (size_t i = 0; i < np; i++) p[i] += (float)(0.05 * sin(1.0 + (double)i));
    for (size_t i = 0; i < np; i++) pd[i] = p[i];
    tu_fill_rounded(dld, S * no, 82, -1, 1);
    for (size_t i = 0; i < S * no; i++) dl[i] = (float)dld[i];
    clnas_plan *plan = NULL;
    OKC(ctx, clnas_plan_create(ctx, net, B, S, CLNAS_PLAN_PARAM_GRADS, &plan));
    OKC(ctx, clnas_plan_set_params(plan, p));
    OKC(ctx, clnas_plan_forward(plan, x));
    OKC(ctx, clnas_plan_read_logits(plan, out));
    OKC(ctx, clnas_plan_backward_host(plan, S, dl, pg, dx));
    cr_assert_eq(clnas_ref_forward(net, B, pd, xd, outd), CLNAS_OK);
    char what[128];
    snprintf(what, sizeof what, "mini As-ViT %d^2 D%d k%d win%d e%d k%d%s, B=%d: features", c->hw, c->d, c->k1, c->win, c->e,
             c->k2, c->ln ? "" : " (no LN)", B);
    for (size_t i = 0; i < no; i++) tmp[i] = out[i];
    cmp(what, tmp, outd, no, 1e-5);
    for (int s = 0; s < S; s++) {
        cr_assert_eq(clnas_ref_backward(net, B, pd, xd, dld + s * no, pgd, dxd), CLNAS_OK);
        for (size_t i = 0; i < np; i++) tmp[i] = pg[(size_t)s * np + i];
        snprintf(what, sizeof what, "  parameter gradients, seed %d", s);
        cmp(what, tmp, pgd, np, 1e-4);
        for (size_t i = 0; i < nx; i++) tmp[i] = dx[(size_t)s * nx + i];
        cmp("  input gradient", tmp, dxd, nx, 1e-4);
    }
    clnas_plan_destroy(plan);
    clnas_net_destroy(net);
    free(x); free(p); free(out); free(dl); free(pg); free(dx);
    free(xd); free(pd); free(outd); free(dld); free(pgd); free(dxd); free(tmp);
}

Test(asvit_net, transformer_block_on_device_matches_host_reference)
{
    const vit_cfg a = {28, 8, 8, 2, 7, 3, 3, 1};  /* global attention over 7x7 tokens, merge k3 */
    net_device_vs_reference(&a, 1, 1);
    net_device_vs_reference(&a, 3, 3);
    const vit_cfg b = {32, 6, 5, 3, 4, 2, 4, 1};  /* 8x8 tokens in 4 windows of 4x4, heads of 2, merge k4 */
    net_device_vs_reference(&b, 2, 2);
    const vit_cfg c = {32, 6, 6, 2, 4, 4, 2, 0};  /* without LayerNorms (the length-distortion variant) */
    net_device_vs_reference(&c, 1, 2);
}

Test(asvit_net, unfused_schedule_matches_host_reference)
{
    setenv("CLNAS_FUSE", "0", 1);
    const vit_cfg a = {32, 6, 5, 3, 4, 2, 4, 1};
    net_device_vs_reference(&a, 2, 2);
    unsetenv("CLNAS_FUSE");
}

/* the host reference of the whole network against central finite differences:
 * L = sum_k w_k features_k, w.r.t. every parameter (sampled) and the input */
typedef struct { const clnas_net *net; int B; double *params, *x; int wrt_input; } net_fd;

static void net_fd_fn(void *ud, const double *in, double *out)
{
    const net_fd *u = ud;
    clnas_ref_forward(u->net, u->B, u->wrt_input ? u->params : in, u->wrt_input ? in : u->x, out);
}

Test(asvit_net, host_reference_backward_matches_finite_differences)
{
    const vit_cfg cfgs[2] = {{16, 4, 6, 2, 2, 2, 3, 1}, {16, 4, 7, 1, 4, 3, 2, 0}};
    for (int t = 0; t < 2; t++) {
        clnas_net *net = mini_vit(&cfgs[t]);
        const int B = 2;
        const size_t nx = (size_t)B * 3 * 16 * 16, np = clnas_net_nparams(net), no = (size_t)B * clnas_net_classes(net);
        float *pf = malloc(np * sizeof *pf);
        double *p = tu_dalloc(np), *x = tu_dalloc(nx), *w = tu_dalloc(no), *pg = tu_dalloc(np), *dx = tu_dalloc(nx);
        clnas_net_init_params(net, 3, 0, CLNAS_INIT_PYTORCH, pf);
        for (size_t i = 0; i < np; i++) p[i] = pf[i] + 0.1 * sin(2.0 + (double)i);
        tu_fill(x, nx, 91, -1, 1);
        tu_fill(w, no, 92, -1, 1);
        cr_assert_eq(clnas_ref_backward(net, B, p, x, w, pg, dx), CLNAS_OK);
        net_fd u = {net, B, p, x, 0};
        double e1 = tu_gradcheck(net_fd_fn, &u, p, np, no, w, pg, 1e-5, 300);
        u.wrt_input = 1;
        double e2 = tu_gradcheck(net_fd_fn, &u, x, nx, no, w, dx, 1e-5, 300);
        fprintf(stderr, "  fd mini As-ViT %d: params %.3g, input %.3g\n", t, e1, e2);
        cr_expect(e1 < 1e-6 && e2 < 1e-6, "network %d: finite differences disagree (%g, %g)", t, e1, e2);
        clnas_net_destroy(net);
        free(pf); free(p); free(x); free(w); free(pg); free(dx);
    }
}

/* ======================= 5. forward-mode derivatives (JVP) ======================= */

/* Central difference of f along t at x: (f(x + h t) - f(x - h t)) / 2h. */
static void fd_dir(tu_fn f, void *ud, const double *x, const double *t, size_t nin, size_t nout, double h, double *out)
{
    double *xp = tu_dalloc(nin), *yp = tu_dalloc(nout), *ym = tu_dalloc(nout);
    for (size_t i = 0; i < nin; i++) xp[i] = x[i] + h * t[i];
    f(ud, xp, yp);
    for (size_t i = 0; i < nin; i++) xp[i] = x[i] - h * t[i];
    f(ud, xp, ym);
    for (size_t i = 0; i < nout; i++) out[i] = (yp[i] - ym[i]) / (2 * h);
    free(xp); free(yp); free(ym);
}

/* LN forward with gamma/beta fixed (the JVP is w.r.t. x only) */
typedef struct { int rows, d; const double *ga, *be; } ln_ud;
static void ln_x(void *ud, const double *x, double *y)
{
    const ln_ud *u = ud;
    double *st = tu_dalloc(2 * (size_t)u->rows);
    clnas_ln_fwd_ref(u->rows, u->d, CLNAS_LN_EPS, x, u->ga, u->be, y, st);
    free(st);
}

static void attn_x(void *ud, const double *x, double *y)
{
    const clnas_attn_shape *s = ud;
    double *P = tu_dalloc(clnas_attn_probs_floats(s));
    clnas_attn_fwd_ref(s, x, y, P);
    free(P);
}

Test(asvit_jvp, op_tangents_match_finite_differences_and_device)
{
    clnas_ctx *ctx = tu_ctx();
    /* LayerNorm 13 rows x 11 */
    const int rows = 13, d = 11;
    const size_t n = (size_t)rows * d;
    double *x = tu_dalloc(n), *t = tu_dalloc(n), *ga = tu_dalloc(d), *be = tu_dalloc(d), *y = tu_dalloc(n), *st = tu_dalloc(2 * (size_t)rows);
    double *ty = tu_dalloc(n), *fd = tu_dalloc(n);
    tu_fill_rounded(x, n, 101, -2, 2); tu_fill_rounded(t, n, 102, -1, 1); tu_fill_rounded(ga, d, 103, 0.5, 1.5); tu_fill_rounded(be, d, 104, -1, 1);
    clnas_ln_fwd_ref(rows, d, CLNAS_LN_EPS, x, ga, be, y, st);
    clnas_ln_jvp_ref(rows, d, x, ga, st, t, ty);
    ln_ud lu = {rows, d, ga, be};
    fd_dir(ln_x, &lu, x, t, n, n, 1e-5, fd);
    cmp("layernorm JVP vs finite differences", ty, fd, n, 1e-8);
    cl_mem mx = put(ctx, x, n), mg = put(ctx, ga, d), ms = put(ctx, st, 2 * (size_t)rows), mt = put(ctx, t, n), my = put(ctx, NULL, n);
    OKC(ctx, clnas_ln_jvp(ctx, rows, d, at(mx), at(mg), at(ms), at(mt), at(my)));
    double *g = get(ctx, my, n, "ln jvp");
    cmp("  device vs reference", g, ty, n, TOL);
    free(g);
    clnas_buf_free(mx); clnas_buf_free(mg); clnas_buf_free(ms); clnas_buf_free(mt); clnas_buf_free(my);
    free(x); free(t); free(ga); free(be); free(y); free(st); free(ty); free(fd);

    /* attention: 2 samples of 6x4 tokens, 2 heads of 5, 3x2 windows; then global 5x5 */
    const int shapes[2][7] = {{2, 6, 4, 10, 2, 3, 2}, {1, 5, 5, 9, 3, 5, 5}};
    for (int k = 0; k < 2; k++) {
        const int *q = shapes[k];
        clnas_attn_shape as;
        cr_assert(clnas_attn_shape_init(&as, q[0], q[1], q[2], q[3], q[4], q[5], q[6]));
        const size_t part = (size_t)q[0] * q[1] * q[2] * q[3], np = clnas_attn_probs_floats(&as);
        double *qkv = tu_dalloc(3 * part), *tq = tu_dalloc(3 * part), *ay = tu_dalloc(part), *P = tu_dalloc(np);
        double *aty = tu_dalloc(part), *afd = tu_dalloc(part);
        tu_fill_rounded(qkv, 3 * part, 105 + k, -2, 2);
        tu_fill_rounded(tq, 3 * part, 107 + k, -1, 1);
        clnas_attn_fwd_ref(&as, qkv, ay, P);
        clnas_attn_jvp_ref(&as, qkv, P, tq, aty);
        fd_dir(attn_x, &as, qkv, tq, 3 * part, part, 1e-5, afd);
        cmp("attention JVP vs finite differences", aty, afd, part, 1e-8);
        const size_t nws = clnas_attn_workspace_floats(&as, 1);
        cl_mem mq = put(ctx, qkv, 3 * part), mP = put(ctx, P, np), mtq = put(ctx, tq, 3 * part), mty = put(ctx, NULL, part);
        cl_mem mws = put(ctx, NULL, nws);
        OKC(ctx, clnas_attn_jvp(ctx, &as, at(mq), at(mP), at(mtq), at(mty), at(mws)));
        double *ag = get(ctx, mty, part, "attn jvp");
        free(get(ctx, mws, nws, "attn jvp workspace"));
        cmp("  device vs reference", ag, aty, part, TOL);
        free(ag);
        clnas_buf_free(mq); clnas_buf_free(mP); clnas_buf_free(mtq); clnas_buf_free(mty); clnas_buf_free(mws);
        free(qkv); free(tq); free(ay); free(P); free(aty); free(afd);
    }
}

typedef struct { const clnas_net *net; int B; const double *p; } fwd_ud;
static void net_x(void *ud, const double *x, double *y)
{
    const fwd_ud *u = ud;
    clnas_ref_forward(u->net, u->B, u->p, x, y);
}

/* the whole network: reference JVP vs central differences of the reference forward, and the
 * device's clnas_plan_jvp vs the reference */
static void net_jvp(const vit_cfg *c, int B)
{
    clnas_ctx *ctx = tu_ctx();
    clnas_net *net = mini_vit(c);
    const size_t nx = (size_t)B * 3 * c->hw * c->hw, np = clnas_net_nparams(net), no = (size_t)B * clnas_net_classes(net);
    float *pf = malloc(np * sizeof *pf), *xf = malloc(nx * sizeof *xf), *tf = malloc(nx * sizeof *tf), *of = malloc(no * sizeof *of);
    double *p = tu_dalloc(np), *x = tu_dalloc(nx), *t = tu_dalloc(nx), *out = tu_dalloc(no), *to = tu_dalloc(no), *fd = tu_dalloc(no), *g = tu_dalloc(no);
    clnas_net_init_params(net, 5, 0, CLNAS_INIT_PYTORCH, pf);
    for (size_t i = 0; i < np; i++) { pf[i] += (float)(0.05 * sin(3.0 + (double)i)); p[i] = pf[i]; }
    tu_fill_rounded(x, nx, 111, -2, 2);
    tu_fill_rounded(t, nx, 112, -1, 1);
    for (size_t i = 0; i < nx; i++) { xf[i] = (float)x[i]; tf[i] = (float)t[i]; }
    cr_assert_eq(clnas_ref_jvp(net, B, p, x, t, out, to), CLNAS_OK);
    fwd_ud u = {net, B, p};
    fd_dir(net_x, &u, x, t, nx, no, 1e-5, fd);
    char what[128];
    snprintf(what, sizeof what, "network JVP %d^2 D%d win%d%s B=%d vs finite differences", c->hw, c->d, c->win, c->ln ? "" : " no LN", B);
    cmp(what, to, fd, no, 1e-7);
    clnas_plan *plan = NULL;
    OKC(ctx, clnas_plan_create(ctx, net, B, 1, 0, &plan));
    OKC(ctx, clnas_plan_set_params(plan, pf));
    OKC(ctx, clnas_plan_forward(plan, xf));
    OKC(ctx, clnas_plan_jvp(plan, tf, of));
    for (size_t i = 0; i < no; i++) g[i] = of[i];
    cmp("  device clnas_plan_jvp vs reference", g, to, no, 1e-4);
    clnas_plan_destroy(plan);
    clnas_net_destroy(net);
    free(pf); free(xf); free(tf); free(of); free(p); free(x); free(t); free(out); free(to); free(fd); free(g);
}

Test(asvit_jvp, network_tangent_matches_finite_differences_and_device)
{
    const vit_cfg a = {32, 6, 5, 3, 4, 2, 4, 1};
    net_jvp(&a, 2);
    const vit_cfg b = {32, 6, 6, 2, 4, 4, 2, 0}; /* As-ViT's length-distortion network has no LayerNorm */
    net_jvp(&b, 3);
}

Test(asvit_jvp, batchnorm_is_refused)
{
    clnas_ctx *ctx = tu_ctx();
    clnas_net *n = graph_new(2, 4, 4);
    int t = graph_bn(n, graph_conv(n, 0, 3, 3, 1, 1, "c"), "bn");
    char err[256];
    cr_assert_eq(graph_finish(n, graph_gap(n, t, "gap"), err, sizeof err), CLNAS_OK, "%s", err);
    clnas_plan *plan = NULL;
    OKC(ctx, clnas_plan_create(ctx, n, 1, 1, 0, &plan));
    float x[32] = {0}, o[3];
    cr_expect_eq(clnas_plan_jvp(plan, x, o), CLNAS_E_UNSUPPORTED);
    cr_expect(strstr(clnas_ctx_errmsg(ctx), "batchnorm"), "%s", clnas_ctx_errmsg(ctx));
    clnas_plan_destroy(plan);
    clnas_net_destroy(n);
}

/* ======================= 6. the references against PyTorch ======================= */
#ifndef CLNAS_SANITIZED /* an end-to-end check: once, in the plain tree */
#include <unistd.h>

static void put_arr(FILE *f, const char *name, const double *v, size_t n)
{
    fprintf(f, "%s %zu", name, n);
    for (size_t i = 0; i < n; i++) fprintf(f, " %.17g", v[i]);
    fputc('\n', f);
}

static FILE *case_file(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.case", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert(f, "cannot write %s", path);
    return f;
}

/* random inputs and upstream gradient; writes x, gy */
static double *rnd(size_t n, uint64_t seed, double lo, double hi)
{
    double *d = tu_dalloc(n);
    tu_fill(d, n, seed, lo, hi);
    return d;
}

static void case_ln(const char *dir, int rows, int d)
{
    const size_t n = (size_t)rows * d;
    double *x = rnd(n, 1, -2, 2), *g = rnd(d, 2, 0.5, 1.5), *b = rnd(d, 3, -1, 1), *gy = rnd(n, 4, -1, 1), *t = rnd(n, 5, -1, 1);
    double *y = tu_dalloc(n), *st = tu_dalloc(2 * (size_t)rows), *dx = tu_dalloc(n), *dg = tu_dalloc(d), *db = tu_dalloc(d), *jv = tu_dalloc(n);
    clnas_ln_fwd_ref(rows, d, CLNAS_LN_EPS, x, g, b, y, st);
    clnas_ln_bwd_ref(rows, d, x, g, st, gy, dx, dg, db);
    clnas_ln_jvp_ref(rows, d, x, g, st, t, jv);
    FILE *f = case_file(dir, "ln");
    fprintf(f, "ln %d %d\n", rows, d);
    put_arr(f, "x", x, n); put_arr(f, "gamma", g, d); put_arr(f, "beta", b, d); put_arr(f, "y", y, n); put_arr(f, "gy", gy, n);
    put_arr(f, "dx", dx, n); put_arr(f, "dp1", dg, d); put_arr(f, "dp2", db, d); put_arr(f, "tangent", t, n); put_arr(f, "jvp", jv, n);
    fclose(f);
    free(x); free(g); free(b); free(gy); free(t); free(y); free(st); free(dx); free(dg); free(db); free(jv);
}

static void case_act(const char *dir, clnas_act a)
{
    const size_t n = 101;
    double *x = rnd(n, 6, -5, 5), *gy = rnd(n, 7, -1, 1), *y = tu_dalloc(n), *dx = tu_dalloc(n);
    clnas_act_fwd_ref(a, n, x, y);
    clnas_act_bwd_ref(a, n, x, gy, dx);
    const char *nm = a == CLNAS_ACT_GELU ? "gelu" : "tanh";
    FILE *f = case_file(dir, nm);
    fprintf(f, "%s\n", nm);
    put_arr(f, "x", x, n); put_arr(f, "y", y, n); put_arr(f, "gy", gy, n); put_arr(f, "dx", dx, n);
    fclose(f);
    free(x); free(gy); free(y); free(dx);
}

static void case_attn(const char *dir, const char *name, int B, int H, int W, int C, int heads, int wh, int ww)
{
    clnas_attn_shape as;
    cr_assert(clnas_attn_shape_init(&as, B, H, W, C, heads, wh, ww));
    const size_t part = (size_t)B * H * W * C, np = clnas_attn_probs_floats(&as);
    double *x = rnd(3 * part, 8, -2, 2), *gy = rnd(part, 9, -1, 1), *t = rnd(3 * part, 10, -1, 1);
    double *y = tu_dalloc(part), *P = tu_dalloc(np), *dx = tu_dalloc(3 * part), *jv = tu_dalloc(part);
    clnas_attn_fwd_ref(&as, x, y, P);
    clnas_attn_bwd_ref(&as, x, P, gy, dx);
    clnas_attn_jvp_ref(&as, x, P, t, jv);
    FILE *f = case_file(dir, name);
    fprintf(f, "attn %d %d %d %d %d %d %d\n", B, H, W, C, heads, wh, ww);
    put_arr(f, "x", x, 3 * part); put_arr(f, "y", y, part); put_arr(f, "probs", P, np); put_arr(f, "gy", gy, part);
    put_arr(f, "dx", dx, 3 * part); put_arr(f, "tangent", t, 3 * part); put_arr(f, "jvp", jv, part);
    fclose(f);
    free(x); free(gy); free(t); free(y); free(P); free(dx); free(jv);
}

static void case_merge(const char *dir, const char *name, int B, int C, int H, int W, int k)
{
    clnas_unfold_shape us;
    const int pad = (k - 2) / 2, pad_hi = (k - 1) / 2;
    cr_assert(clnas_unfold_shape_init(&us, B, C, H, W, k, 2, pad, pad_hi, 1));
    const size_t nx = (size_t)B * C * H * W, ny = (size_t)B * us.hout * us.wout * C * k * k;
    double *x = rnd(nx, 11, -1, 1), *gy = rnd(ny, 12, -1, 1), *y = tu_dalloc(ny), *dx = tu_dalloc(nx);
    clnas_unfold_fwd_ref(&us, x, y);
    clnas_unfold_bwd_ref(&us, gy, dx);
    FILE *f = case_file(dir, name);
    fprintf(f, "merge %d %d %d %d %d %d %d\n", B, C, H, W, k, pad, pad_hi);
    put_arr(f, "x", x, nx); put_arr(f, "y", y, ny); put_arr(f, "gy", gy, ny); put_arr(f, "dx", dx, nx);
    fclose(f);
    free(x); free(gy); free(y); free(dx);
}

/* the patch embedding as clnas builds it (unfold + token linear with bias) against a conv */
static void case_embed(const char *dir, const char *name, int B, int H, int D, int k)
{
    const int C = 3, st = 4, pad = (k - 4) / 2, pad_hi = (k - 3) / 2;
    clnas_unfold_shape us;
    cr_assert(clnas_unfold_shape_init(&us, B, C, H, H, k, st, pad, pad_hi, 0));
    const int rows = B * us.hout * us.wout, in = C * k * k;
    const size_t nx = (size_t)B * C * H * H, nu = (size_t)rows * in, ny = (size_t)rows * D, nw = (size_t)D * in;
    double *x = rnd(nx, 13, -1, 1), *w = rnd(nw, 14, -0.3, 0.3), *b = rnd(D, 15, -1, 1), *gy = rnd(ny, 16, -1, 1);
    double *u = tu_dalloc(nu), *y = tu_dalloc(ny), *du = tu_dalloc(nu), *dx = tu_dalloc(nx), *dw = tu_dalloc(nw), *db = tu_dalloc(D);
    clnas_unfold_fwd_ref(&us, x, u);
    clnas_tlinear_fwd_ref(rows, in, D, u, w, b, y);
    clnas_tlinear_bwd_ref(rows, in, D, u, w, gy, du, dw, db);
    clnas_unfold_bwd_ref(&us, du, dx);
    FILE *f = case_file(dir, name);
    fprintf(f, "embed %d %d %d %d %d %d %d %d %d\n", B, C, H, H, D, k, st, pad, pad_hi);
    put_arr(f, "x", x, nx); put_arr(f, "w", w, nw); put_arr(f, "b", b, D); put_arr(f, "y", y, ny); put_arr(f, "gy", gy, ny);
    put_arr(f, "dx", dx, nx); put_arr(f, "dp1", dw, nw); put_arr(f, "dp2", db, D);
    fclose(f);
    free(x); free(w); free(b); free(gy); free(u); free(y); free(du); free(dx); free(dw); free(db);
}

static void case_pool(const char *dir, int B, int T, int D)
{
    const size_t nx = (size_t)B * T * D, ny = (size_t)B * D;
    double *x = rnd(nx, 17, -1, 1), *gy = rnd(ny, 18, -1, 1), *y = tu_dalloc(ny), *dx = tu_dalloc(nx);
    clnas_tokpool_fwd_ref(B, T, D, x, y);
    clnas_tokpool_bwd_ref(B, T, D, gy, dx);
    FILE *f = case_file(dir, "pool");
    fprintf(f, "pool %d %d %d\n", B, T, D);
    put_arr(f, "x", x, nx); put_arr(f, "y", y, ny); put_arr(f, "gy", gy, ny); put_arr(f, "dx", dx, nx);
    fclose(f);
    free(x); free(gy); free(y); free(dx);
}

Test(asvit_torch, references_agree_with_pytorch, .timeout = 300)
{
    if (access("/usr/bin/python3", X_OK) != 0)
        cr_assert_fail("/usr/bin/python3 is missing: install python3 and python3-torch to run the PyTorch check of the ViT ops");
    char dir[256], cmd[1024];
    tu_mkdtemp(dir, sizeof dir, "clnas_vitops");
    case_ln(dir, 13, 11);
    case_act(dir, CLNAS_ACT_GELU);
    case_act(dir, CLNAS_ACT_TANH);
    case_attn(dir, "attn_windows", 2, 6, 4, 10, 2, 3, 2);
    case_attn(dir, "attn_global", 1, 5, 5, 9, 3, 5, 5);
    case_merge(dir, "merge_k2", 2, 3, 6, 6, 2);
    case_merge(dir, "merge_k3", 1, 4, 6, 4, 3);
    case_merge(dir, "merge_k4", 2, 2, 4, 6, 4);
    for (int k = 4; k <= 8; k++) {
        char nm[32];
        snprintf(nm, sizeof nm, "embed_k%d", k);
        case_embed(dir, nm, k == 5 ? 2 : 1, 16, 3, k);
    }
    case_pool(dir, 3, 7, 5);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/../tools/verify_vit_ops_torch.py %s 2>&1", CLNAS_DATA_DIR, dir);
    char *out = NULL;
    int rc = tu_run(cmd, &out);
    fprintf(stderr, "%s", out ? out : "");
    cr_expect_eq(rc, 0, "the ViT op references disagree with PyTorch (or torch is missing: apt-get install python3-torch):\n%s",
                 out ? out : "");
    free(out);
    tu_rmrf(dir);
}
#endif
