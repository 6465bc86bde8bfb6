/* clnas/asvit.h - As-ViT (ICLR 2022) topologies: the string, its search space and the network.
 *
 * TOPOLOGY STRING  "K1,S1,E1|K2,S2,E2|K3,S3,E3|K4,S4,E4|H", each stage optionally with a 4th
 * number L (blocks in that stage) and the head part optionally with a 2nd number D (embed dim):
 * "K1,S1,E1,L1|...|K4,S4,E4,L4|H,D". The seed of the paper is 8,2,3|4,1,2|4,1,4|4,1,6|32.
 *   K1       kernel of the overlapping patch-embedding convolution (stride 4), 3 -> D
 *   K2..K4   kernel of the overlapping unfold (stride 2) of the patch merging before stage i
 *   S_i      window split: the attention window side is (stage grid side) / S_i; a window that
 *            covers the whole grid means global attention. S4 is always 1 (global).
 *   E_i      MLP expansion ratio of the blocks of stage i (hidden = E_i * dim)
 *   H        heads of the last stage; stages 1..4 have H/8, H/4, H/2, H heads
 *   L_i, D   depth of stage i (default 1) and embed dim of stage 1 (default 32); stage i has
 *            dim min(1024, D * 2^(i-1))
 * Search space (the original's SEARCH_SPACE, 12 categorical choices in this order; the issue and
 * TENAS.md say 13, but SEARCH_SPACE has 12 keys and their product 5*27*18*625*3 = 4.6 M is theirs):
 *   K1 {4,5,6,7,8}, K2 K3 K4 {2,3,4}, S1 {2,4,8}, S2 {1,2,4}, S3 {1,2},
 *   E1..E4 {2,3,4,5,6}, H {16,32,64}. */
#ifndef CLNAS_ASVIT_H
#define CLNAS_ASVIT_H

#include <stddef.h>
#include "clnas/net.h"
#include "clnas/status.h"

#ifdef __cplusplus
extern "C" {
#endif
CLNAS_API_BEGIN

#define CLNAS_ASVIT_STAGES 4
#define CLNAS_ASVIT_NCHOICES 12
#define CLNAS_ASVIT_MAX_DEPTH 64
#define CLNAS_ASVIT_MAX_DIM 4096

typedef struct clnas_asvit_topo {
    int kernel[CLNAS_ASVIT_STAGES]; /* K1 (patch conv), K2..K4 (merging unfold) */
    int split[CLNAS_ASVIT_STAGES];  /* S1..S4 (S4 = 1) */
    int expand[CLNAS_ASVIT_STAGES]; /* E1..E4 */
    int heads;                      /* H */
    int depth[CLNAS_ASVIT_STAGES];  /* L1..L4; 0 = not written in the string */
    int dim;                        /* D; 0 = not written in the string */
} clnas_asvit_topo;

/* Parses a topology string. Every K, S, E and H must be one of the search space's values (S4
 * must be 1); L and D, when written, in [1, 64] and [1, 4096]. On failure returns CLNAS_E_PARSE
 * with a message naming the field (e.g. "S2"), its 1-based position and the allowed values. */
clnas_status clnas_asvit_parse(const char *s, clnas_asvit_topo *out, char *err, size_t errlen);
/* Writes the string: the short form when no depth and no D are set, otherwise the long form
 * (missing depths written as 1, a missing D as 32). Returns the length needed (like snprintf). */
size_t clnas_asvit_format(const clnas_asvit_topo *t, char *buf, size_t len);

/* The 12 categorical choices: name ("K1", "S2", ...), number of values and the values. */
const char *clnas_asvit_choice_name(int i);
int clnas_asvit_choice_count(int i);
int clnas_asvit_choice_value(int i, int k);
/* Topology from one value index per choice (a[i] in [0, count(i))); depth and D unset. */
void clnas_asvit_from_choices(const int a[CLNAS_ASVIT_NCHOICES], clnas_asvit_topo *t);
/* The value indices of a topology; -1 for a value outside the space. Returns how many are -1. */
int clnas_asvit_to_choices(const clnas_asvit_topo *t, int a[CLNAS_ASVIT_NCHOICES]);

/* Network configuration. */
typedef struct clnas_asvit_config {
    int input_hw;                  /* input side (224 in the paper; 32 and 64 work) */
    int dim;                       /* D: embed dim of stage 1 */
    int depth[CLNAS_ASVIT_STAGES]; /* blocks per stage */
    int classes;                   /* classifier outputs (1000) */
    int head;                      /* 1: final LN, mean pool, Linear-Tanh-Linear head (the
                                      classifier); 0: output = mean-pooled last-stage tokens
                                      without the final LN (forward_features(x)[1], what the
                                      NTK and the length distortion differentiate) */
    int norm;                      /* 1: LayerNorms; 0: every LayerNorm replaced by identity
                                      (the length-distortion network, switch_norm('id')) */
} clnas_asvit_config;

/* D = 32, depths 1,1,1,1, 224x224, 1000 classes, head, LayerNorms: the search network. */
void clnas_asvit_config_default(clnas_asvit_config *cfg);
/* Applies the depths and D written in the topology string to cfg. Values the caller set
 * explicitly (flags) are passed as given_depth / given_dim (NULL / 0 = not given): a
 * contradiction is an error naming both values. */
clnas_status clnas_asvit_config_apply(clnas_asvit_config *cfg, const clnas_asvit_topo *t,
                                      const int *given_depth, int given_dim, char *err, size_t errlen);
/* Checks that the topology fits the configuration: the token grids (input/4, then halved by
 * every merging, which needs an even grid), the attention windows (a window must divide its
 * grid), the heads (at most one per channel). NULL when it fits, else a message in why. */
const char *clnas_asvit_check(const clnas_asvit_topo *t, const clnas_asvit_config *cfg, char *why, size_t len);

/* Stage i's token grid side, dim, heads and attention window side (= grid side when global). */
void clnas_asvit_stage(const clnas_asvit_topo *t, const clnas_asvit_config *cfg, int i, int *grid, int *dim,
                       int *heads, int *window);
/* Parameter count of the network of (t, cfg) without building it (for the grow step's limits). */
size_t clnas_asvit_count_params(const clnas_asvit_topo *t, const clnas_asvit_config *cfg);

/* The As-ViT builder (net.h says what a network is). Module names follow the original's
 * (patch_embed.proj, layers.I.blocks.J.attn.qkv, layers.I.downsample.reduction, head.0, ...).
 * On failure CLNAS_E_INVALID_ARG (or CLNAS_E_NOMEM) with a message in err; *out is NULL. */
clnas_status clnas_asvit_build(const clnas_asvit_topo *t, const clnas_asvit_config *cfg, clnas_net **out,
                               char *err, size_t errlen);

CLNAS_API_END
#ifdef __cplusplus
}
#endif
#endif
