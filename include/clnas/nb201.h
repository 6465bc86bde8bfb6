/* clnas/nb201.h - NAS-Bench-201 architecture strings, single-path and supernet.
 *
 * A cell has 4 nodes and 6 edges i<-j (j < i), in the order of the arch string:
 *   edge 0: 1<-0 | edge 1: 2<-0, edge 2: 2<-1 | edge 3: 3<-0, edge 4: 3<-1, edge 5: 3<-2
 * Standard form:  |op~0|+|op~0|op~1|+|op~0|op~1|op~2|
 * Supernet form (clnas extension): an edge may name several ops joined by ',' —
 *   |skip_connect,nor_conv_3x3~0|+...  — the edge output is then the MEAN of its active ops
 * (TE-NAS's alpha = 0 / -1000 weighting); ops not in the set are pruned and never executed.
 * The op set of an edge is a bitmask over clnas_nb201_op. */
#ifndef CLNAS_NB201_H
#define CLNAS_NB201_H

#include <stddef.h>
#include "clnas/data.h"
#include "clnas/net.h"
#include "clnas/status.h"

#ifdef __cplusplus
extern "C" {
#endif
CLNAS_API_BEGIN

#define CLNAS_NB201_EDGES 6
#define CLNAS_NB201_NOPS 5

typedef enum clnas_nb201_op {
    CLNAS_NB201_NONE = 0,   /* none: output zero */
    CLNAS_NB201_SKIP = 1,   /* skip_connect: identity */
    CLNAS_NB201_CONV1 = 2,  /* nor_conv_1x1: ReLU -> Conv1x1 -> BN */
    CLNAS_NB201_CONV3 = 3,  /* nor_conv_3x3: ReLU -> Conv3x3 pad 1 -> BN */
    CLNAS_NB201_POOL3 = 4   /* avg_pool_3x3: AvgPool 3x3 s1 p1, count_include_pad = false */
} clnas_nb201_op;

typedef struct clnas_nb201_arch {
    unsigned char ops[CLNAS_NB201_EDGES]; /* bit o set = op o active on that edge */
} clnas_nb201_arch;

/* "none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"; NULL if out of range. */
const char *clnas_nb201_op_name(int op);
/* Source node j and target node i of edge e (0..5). */
void clnas_nb201_edge_nodes(int e, int *to, int *from);

/* Parses an arch string (standard or supernet form). Also accepts the words "supernet"
 * (all four non-none ops on every edge, TE-NAS's starting point) and "full" (all five).
 * On failure returns CLNAS_E_PARSE and writes into err (if not NULL) a message that names
 * the character position (1-based) and what was expected there. */
clnas_status clnas_nb201_parse(const char *s, clnas_nb201_arch *out, char *err, size_t errlen);

/* Writes the arch string; ops within an edge in op order. Returns the length that the full
 * string needs (like snprintf); the output is truncated if len is too small. */
size_t clnas_nb201_format(const clnas_nb201_arch *a, char *buf, size_t len);

/* NAS-Bench-201 macro skeleton (TinyNetwork / TinyNetworkDarts):
 *   [stem: conv3x3 in->C, BN] -> N cells @C -> ResBlock C->2C /2 -> N cells @2C
 *   -> ResBlock 2C->4C /2 -> N cells @4C -> BN -> ReLU -> global avg pool -> Linear(+bias).
 * depth > 0 keeps only the first `depth` entries of the 3N+2 cells/blocks (TE-NAS's thin
 * linear-region net is C=1, N=1, depth=1, no stem); the head then sits on the last kept one. */
typedef struct clnas_nb201_config {
    int C;           /* channels of the first stage (16 in NB201; 3 for TE-NAS's NTK proxy) */
    int N;           /* cells per stage (5 in NB201; 1 for the proxies) */
    int classes;     /* 10, 100 or 120 */
    int input_hw;    /* input height = width (32 for CIFAR, 16 for ImageNet16-120) */
    int in_channels; /* input channels; 0 = derived: min(3, C) with a stem, C without */
    int use_stem;    /* 1: stem conv + BN; 0: the input goes straight into the first cell */
    int depth;       /* -1: all 3N+2 cells/blocks; otherwise how many to keep */
} clnas_nb201_config;

/* C=16, N=5, 10 classes, 32x32, stem, full depth: the NB201 evaluation network. */
void clnas_nb201_config_default(clnas_nb201_config *cfg);
/* TE-NAS NTK proxy: C=3, N=1, stem, full depth. */
void clnas_nb201_config_ntk(clnas_nb201_config *cfg, int classes, int input_hw);
/* TE-NAS linear-region proxy: C=1, N=1, no stem, depth 1, 1 input channel, 3x3 input. */
void clnas_nb201_config_lr(clnas_nb201_config *cfg, int classes);

/* The NAS-Bench-201 builder: emits the network of cfg with `arch` in every cell (net.h says
 * what a network is). Module names follow the original code: stem.conv, stem.bn,
 * cells.I.edges.J<-K.OP.{relu,conv,bn,pool}, cells.I.node*, cells.I.conv_a/conv_b/downsample
 * (reduction blocks), lastact.bn, lastact.relu, global_pooling, classifier. On failure returns
 * CLNAS_E_INVALID_ARG (or CLNAS_E_NOMEM) with a message in err; *out is NULL. The caller
 * destroys *out with clnas_net_destroy. (Before clnas 0.2 this was clnas_net_nb201.) */
clnas_status clnas_nb201_build(const clnas_nb201_config *cfg, const clnas_nb201_arch *arch,
                               clnas_net **out, char *err, size_t errlen);

/* TE-NAS's two proxies of an architecture for a data set (its classes and image size): the NTK
 * network (clnas_nb201_config_ntk) and the thin linear-region network (clnas_nb201_config_lr).
 * Either pointer may be NULL to skip that network. On failure neither is left allocated. */
clnas_status clnas_nb201_proxies(const clnas_nb201_arch *arch, clnas_dataset_kind dataset,
                                 clnas_net **ntk_net, clnas_net **lr_net, char *err, size_t errlen);

/* 1 when every edge has exactly one op. */
int clnas_nb201_is_single_path(const clnas_nb201_arch *a);
/* Number of active ops on edge e. */
int clnas_nb201_edge_count(const clnas_nb201_arch *a, int e);

CLNAS_API_END
#ifdef __cplusplus
}
#endif
#endif
