/* asvit.c - the As-ViT builder: a topology (asvit.h) and a configuration become the layer
 * graph (graph.h) of the original's Transformer (lib/models/cell_infers/transformer.py):
 *   patch_embed: ZeroPad2d((K1-4)/2, (K1-3)/2) -> Conv K1 /4 (+bias) 3->D -> tokens -> LN
 *   stage i (dim d_i = min(1024, D 2^i), heads H/2^(3-i)): L_i pre-LN blocks
 *       x = x + proj(WMSA(qkv(LN x)))      (window = grid/S_i, global when it covers the grid)
 *       x = x + fc2(GELU(fc1(LN x)))       (hidden E_i d_i)
 *   between stages, PatchMerging: ZeroPad2d((K-2)/2, (K-1)/2) -> Unfold K /2 -> LN(K^2 d)
 *       -> Linear(K^2 d -> min(1024, 2d), no bias)
 *   head: LN -> mean over tokens -> Linear -> Tanh -> Linear(classes); or, without the head,
 *   the mean of the last stage's tokens (forward_features(x)[1]).
 * Module names are the original's, so dumps map onto a PyTorch state_dict. Linear weights are
 * truncated normal (std 0.02) with zero biases, the patch conv PyTorch's default. */
#include <stdio.h>
#include <string.h>
#include "clnas/asvit.h"
#include "model/graph.h"

static int stage_dim(const clnas_asvit_config *cfg, int i)
{
    long d = (long)cfg->dim << i;
    return d > 1024 ? 1024 : (int)d;
}

/* One pre-LN block of stage i. */
static int block(clnas_net *n, int x, const clnas_asvit_topo *t, const clnas_asvit_config *cfg, int i, int j)
{
    int g, d, heads, win;
    clnas_asvit_stage(t, cfg, i, &g, &d, &heads, &win);
    const int inner = heads * (d / heads);
    char p[64];
    snprintf(p, sizeof p, "layers.%d.blocks.%d", i, j);
    int y = cfg->norm ? graph_layernorm(n, x, "%s.norm1", p) : x;
    y = graph_tlinear(n, y, 3 * inner, 1, "%s.attn.qkv", p);
    graph_init_rule(n, LAYER_INIT_TRUNC02);
    y = graph_attention(n, y, heads, win, win, "%s.attn.core", p);
    y = graph_tlinear(n, y, d, 1, "%s.attn.proj", p);
    graph_init_rule(n, LAYER_INIT_TRUNC02);
    int ins[2] = {x, y};
    const float one[2] = {1, 1};
    x = graph_sum(n, 2, ins, one, d, g, g, "%s.res1", p);
    graph_describe(n, "x + attn(x)");
    y = cfg->norm ? graph_layernorm(n, x, "%s.mlps.0.0", p) : x;
    y = graph_tlinear(n, y, t->expand[i] * d, 1, "%s.mlps.0.1.fc1", p);
    graph_init_rule(n, LAYER_INIT_TRUNC02);
    y = graph_gelu(n, y, "%s.mlps.0.1.act", p);
    y = graph_tlinear(n, y, d, 1, "%s.mlps.0.1.fc2", p);
    graph_init_rule(n, LAYER_INIT_TRUNC02);
    ins[0] = x;
    ins[1] = y;
    x = graph_sum(n, 2, ins, one, d, g, g, "%s.res2", p);
    graph_describe(n, "x + mlp(x)");
    return x;
}

/* PatchMerging after stage i (kernel K_{i+2}). */
static int merging(clnas_net *n, int x, const clnas_asvit_topo *t, const clnas_asvit_config *cfg, int i)
{
    const int k = t->kernel[i + 1];
    x = graph_unfold(n, x, k, 2, (k - 2) / 2, (k - 1) / 2, "layers.%d.downsample.soft_split", i);
    if (cfg->norm) x = graph_layernorm(n, x, "layers.%d.downsample.norm", i);
    int d = stage_dim(cfg, i);
    x = graph_tlinear(n, x, 2 * d > 1024 ? 1024 : 2 * d, 0, "layers.%d.downsample.reduction", i);
    graph_init_rule(n, LAYER_INIT_TRUNC02);
    return x;
}

static void titles(clnas_net *n, const clnas_asvit_topo *t, const clnas_asvit_config *cfg)
{
    char ts[256];
    clnas_asvit_format(t, ts, sizeof ts);
    graph_title(n, "As-ViT network  D=%d depths=%d,%d,%d,%d input=3x%dx%d %s%s", cfg->dim, cfg->depth[0],
                cfg->depth[1], cfg->depth[2], cfg->depth[3], cfg->input_hw, cfg->input_hw,
                cfg->head ? "head=LN,mean,Linear-Tanh-Linear" : "output=mean of last-stage tokens (no final LN)",
                cfg->norm ? "" : "  LayerNorms=identity");
    graph_title(n, "topology %s", ts);
    for (int i = 0; i < CLNAS_ASVIT_STAGES; i++) {
        int g, d, h, w;
        clnas_asvit_stage(t, cfg, i, &g, &d, &h, &w);
        graph_title(n, "stage %d: %dx%d tokens, dim %d, %d heads, %s window %d, MLP x%d, %d block%s", i + 1, g, g, d, h,
                    w == g ? "global" : "local", w, t->expand[i], cfg->depth[i], cfg->depth[i] > 1 ? "s" : "");
    }
}

clnas_status clnas_asvit_build(const clnas_asvit_topo *t, const clnas_asvit_config *cfg, clnas_net **out, char *err,
                               size_t errlen)
{
    *out = NULL;
    char why[320];
    const char *bad = clnas_asvit_check(t, cfg, why, sizeof why);
    if (bad) {
        if (err && errlen) snprintf(err, errlen, "As-ViT topology does not fit: %s", bad);
        return CLNAS_E_INVALID_ARG;
    }
    clnas_net *n = graph_new(3, cfg->input_hw, cfg->input_hw);
    if (!n) {
        if (err && errlen) snprintf(err, errlen, "out of host memory building the network");
        return CLNAS_E_NOMEM;
    }
    titles(n, t, cfg);
    const int k1 = t->kernel[0];
    int x = graph_patch_embed(n, 0, cfg->dim, k1, 4, (k1 - 4) / 2, (k1 - 3) / 2, "patch_embed.proj");
    if (cfg->norm) x = graph_layernorm(n, x, "patch_embed.norm");
    for (int i = 0; i < CLNAS_ASVIT_STAGES; i++) {
        for (int j = 0; j < cfg->depth[i]; j++) x = block(n, x, t, cfg, i, j);
        if (i < CLNAS_ASVIT_STAGES - 1) x = merging(n, x, t, cfg, i);
    }
    if (cfg->head) {
        const int nf = stage_dim(cfg, CLNAS_ASVIT_STAGES - 1);
        if (cfg->norm) x = graph_layernorm(n, x, "norm");
        x = graph_tokpool(n, x, "avgpool");
        x = graph_linear(n, x, nf, 1, "head.0");
        graph_init_rule(n, LAYER_INIT_TRUNC02);
        x = graph_tanh(n, x, "head.1");
        x = graph_linear(n, x, cfg->classes, 1, "head.2");
        graph_init_rule(n, LAYER_INIT_TRUNC02);
    } else {
        x = graph_tokpool(n, x, "avgpool");
        graph_describe(n, "mean over tokens (forward_features(x)[1])");
    }
    clnas_status st = graph_finish(n, x, err, errlen);
    if (st != CLNAS_OK) {
        clnas_net_destroy(n);
        return st;
    }
    *out = n;
    return CLNAS_OK;
}

size_t clnas_asvit_count_params(const clnas_asvit_topo *t, const clnas_asvit_config *cfg)
{
    clnas_net *n = NULL;
    if (clnas_asvit_build(t, cfg, &n, NULL, 0) != CLNAS_OK) return 0;
    size_t p = clnas_net_nparams(n);
    clnas_net_destroy(n);
    return p;
}
