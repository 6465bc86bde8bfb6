/* clnas/darts.h - the DARTS search space as TE-NAS uses it (../shared/docs/TENAS.md §4):
 * its ops, genotypes (DARTS's own Python notation), the supernet state alpha, and the networks
 * they describe (DARTS's evaluation networks and TE-NAS's two proxies).
 *
 * OPS (TE-NAS's column order, §4.1): none, skip_connect, sep_conv_3x3, sep_conv_5x5,
 * dil_conv_3x3, dil_conv_5x5, avg_pool_3x3, max_pool_3x3.
 *
 * CELL: two inputs (states 0 and 1: the outputs of the cell before the previous one and of the
 * previous one, after preprocessing), 4 intermediate nodes (states 2..5), each the sum of its
 * incoming edges; the output is the channel concatenation of the nodes named in `concat`.
 * In a reduction cell the edges from states 0 and 1 have stride 2.
 *
 * SUPERNET EDGES (§4.2): node i (0..3) has an edge from every state j < i + 2: 14 edges, in the
 * order of the sorted "i<-j" keys TE-NAS uses for its alpha rows:
 *   0<-0 0<-1 | 1<-0 1<-1 1<-2 | 2<-0 2<-1 2<-2 2<-3 | 3<-0 3<-1 3<-2 3<-3 3<-4
 * (rows 0-1 feed node 0, 2-4 node 1, 5-8 node 2, 9-13 node 3). */
#ifndef CLNAS_DARTS_H
#define CLNAS_DARTS_H

#include <stddef.h>
#include "clnas/data.h"
#include "clnas/net.h"
#include "clnas/status.h"

#ifdef __cplusplus
extern "C" {
#endif
CLNAS_API_BEGIN

#define CLNAS_DARTS_NOPS 8
#define CLNAS_DARTS_EDGES 14
#define CLNAS_DARTS_STEPS 4     /* intermediate nodes of a supernet cell */
#define CLNAS_DARTS_MAX_STEPS 8 /* intermediate nodes a genotype may have */
#define CLNAS_DARTS_PRUNED (-1000.0f) /* TE-NAS's alpha of a removed op (-INF in prune_tenas.py) */

typedef enum clnas_darts_op {
    CLNAS_DARTS_NONE = 0,  /* zeros (a strided subsample times 0) */
    CLNAS_DARTS_SKIP = 1,  /* identity; FactorizedReduce at stride 2 */
    CLNAS_DARTS_SEP3 = 2,  /* two (ReLU, depthwise 3x3, pointwise 1x1, BN), the first strided */
    CLNAS_DARTS_SEP5 = 3,  /* the same with 5x5 */
    CLNAS_DARTS_DIL3 = 4,  /* one (ReLU, depthwise 3x3 dilation 2, pointwise, BN) */
    CLNAS_DARTS_DIL5 = 5,  /* the same with 5x5 */
    CLNAS_DARTS_AVG3 = 6,  /* average pool 3x3 pad 1, count_include_pad = False, no BN */
    CLNAS_DARTS_MAX3 = 7   /* max pool 3x3 pad 1, no BN */
} clnas_darts_op;

/* "none", "skip_connect", ...; NULL if out of range. */
const char *clnas_darts_op_name(int op);
/* The op of a name, or -1. */
int clnas_darts_op_parse(const char *name);
/* Edge e (0..13): target node i (0..3) and source state j (0..i+1). */
void clnas_darts_edge_nodes(int e, int *node, int *from);
/* The edge index of (node, from), or -1. */
int clnas_darts_edge_index(int node, int from);

/* ---------------- genotypes ----------------
 * DARTS's namedtuple Genotype(normal, normal_concat, reduce, reduce_concat): per cell type a
 * list of (op, source state) pairs, two per intermediate node (node i takes pairs 2i and 2i+1,
 * its sources are states < i + 2), and the states concatenated into the cell output. */
typedef struct clnas_darts_cell_gene {
    int steps;                                   /* intermediate nodes (pairs / 2) */
    unsigned char op[2 * CLNAS_DARTS_MAX_STEPS];   /* clnas_darts_op of each pair */
    unsigned char from[2 * CLNAS_DARTS_MAX_STEPS]; /* its source state */
    int nconcat;
    unsigned char concat[CLNAS_DARTS_MAX_STEPS + 2];
} clnas_darts_cell_gene;

typedef struct clnas_darts_genotype {
    clnas_darts_cell_gene normal, reduce;
} clnas_darts_genotype;

/* Parses a genotype as DARTS prints it:
 *   Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5],
 *            reduce=[...], reduce_concat=[2, 3, 4, 5])
 * (either quote; `range(2, 6)` for a concat list; white space anywhere between tokens), or a
 * name: DARTS_V1, DARTS_V2 (= DARTS, DARTS's own cell), PC_DARTS (PC-DARTS's CIFAR-10 cell).
 * On failure returns CLNAS_E_PARSE and writes into err the 1-based position and what was
 * expected there (an unknown op is named, with the ops of the space). */
clnas_status clnas_darts_genotype_parse(const char *s, clnas_darts_genotype *g, char *err, size_t errlen);
/* Writes DARTS's notation (as TE-NAS's genotype2cmd prints it). Returns the length the full
 * string needs (like snprintf). */
size_t clnas_darts_genotype_format(const clnas_darts_genotype *g, char *buf, size_t len);
/* The named genotypes: count, and the i-th one's name and genotype string (NULL past the end). */
int clnas_darts_named_count(void);
const char *clnas_darts_named(int i, const char **genotype);

/* ---------------- the supernet state ----------------
 * alpha[cell][edge][op], cell 0 = normal, 1 = reduction, TE-NAS's rows and columns. As in
 * TE-NAS an op is active when its softmax weight on the edge exceeds 0.01, and an active op's
 * output is weighted by that softmax weight (0 / -1000 gives the mean of the kept ops); an edge
 * whose alphas are all <= -1000 contributes nothing. */
typedef struct clnas_darts_alpha {
    float a[2][CLNAS_DARTS_EDGES][CLNAS_DARTS_NOPS];
} clnas_darts_alpha;

/* TE-NAS's starting point: every op but `none` active (alpha 0), `none` at -1000. */
void clnas_darts_alpha_supernet(clnas_darts_alpha *al);
/* The single-path state of a genotype: each pair's edge holds its op (alpha 0), everything
 * else -1000. CLNAS_E_INVALID_ARG (message in err) unless the genotype has 4 steps, concat
 * [2, 3, 4, 5] in both cells and no edge named twice in a cell (the supernet has one edge per
 * (node, source)). */
clnas_status clnas_darts_alpha_from_genotype(const clnas_darts_genotype *g, clnas_darts_alpha *al, char *err,
                                             size_t errlen);
/* The softmax weight of each op (0 for inactive ones, and for all ops of a fully removed
 * edge), as the supernet uses them. */
void clnas_darts_edge_weights(const clnas_darts_alpha *al, int cell, int edge, double w[CLNAS_DARTS_NOPS]);
/* 1 when op is active on (cell, edge). */
int clnas_darts_active(const clnas_darts_alpha *al, int cell, int edge, int op);
/* Active ops of (cell, edge). */
int clnas_darts_edge_count(const clnas_darts_alpha *al, int cell, int edge);
/* Sets (cell, edge, op) to -1000 (removed). */
void clnas_darts_remove(clnas_darts_alpha *al, int cell, int edge, int op);
/* 1 when every edge that is not fully removed has exactly one active op, and every node keeps
 * at least one input. */
int clnas_darts_is_single_path(const clnas_darts_alpha *al);
/* CLNAS_OK, or CLNAS_E_INVALID_ARG with err naming the first node of a cell that has no input
 * left (the original cannot build such a network). */
clnas_status clnas_darts_alpha_check(const clnas_darts_alpha *al, char *err, size_t errlen);
/* Reads/writes the JSON form {"normal": [[8 numbers] x 14], "reduce": [...]} (the format of
 * clnas score --alpha and of the search trace). Parse errors name the position (JSON path or
 * line/column) and what was expected. json_text is the whole text. */
clnas_status clnas_darts_alpha_parse_json(const char *json_text, clnas_darts_alpha *al, char *err, size_t errlen);
/* Reads a state from a JSON file (as above), or the word "supernet" (clnas_darts_alpha_supernet).
 * CLNAS_E_IO when the file cannot be read, CLNAS_E_PARSE with the position otherwise. */
clnas_status clnas_darts_alpha_load(const char *path, clnas_darts_alpha *al, char *err, size_t errlen);
/* Returns a malloc'd string (caller frees), or NULL when out of memory. One row per line. */
char *clnas_darts_alpha_to_json(const clnas_darts_alpha *al);
/* The genotype TE-NAS derives from a state (NASNetworkDARTS.genotype): per node the 2 incoming
 * edges with the largest non-none weight, and on each the best non-none op; concat [2..5]. */
void clnas_darts_genotype_from_alpha(const clnas_darts_alpha *al, clnas_darts_genotype *g);

/* ---------------- networks ---------------- */
/* DARTS's evaluation networks (NetworkCIFAR / NetworkImageNet of DARTS's model.py):
 *   CIFAR:    stem conv3x3 3->3C + BN; `layers` cells, reductions (channels x2) at layers/3 and
 *             2*layers/3; global average pool; Linear(+bias).
 *   ImageNet: stem0 conv3x3/2 3->C/2, BN, ReLU, conv3x3/2 C/2->C, BN; stem1 ReLU, conv3x3/2,
 *             BN; the cells; 7x7 average pool (global on 224 inputs); Linear.
 * Each cell preprocesses its inputs with ReLU-Conv1x1-BN (FactorizedReduce after a reduction)
 * and has the genotype's cell. The auxiliary head (training only) is not part of the graph;
 * clnas_darts_aux_params counts it. Module names follow DARTS (stem, cells.I.preprocess0,
 * cells.I._ops.K..., classifier). */
typedef struct clnas_darts_eval_config {
    int C;          /* initial channels: 36 CIFAR, 48 ImageNet */
    int layers;     /* cells: 20 CIFAR, 14 ImageNet */
    int classes;    /* 10 / 1000 */
    int imagenet;   /* 1: NetworkImageNet (input 224) */
    int input_hw;   /* 32 CIFAR, 224 ImageNet */
    int no_bn;      /* 1: every BatchNorm left out (the identity): synflow's BatchNorm-free copy; default 0 */
} clnas_darts_eval_config;

void clnas_darts_eval_config_cifar(clnas_darts_eval_config *c);    /* C 36, 20 layers, 10 classes, 32 */
void clnas_darts_eval_config_imagenet(clnas_darts_eval_config *c); /* C 48, 14 layers, 1000 classes, 224 */
clnas_status clnas_darts_eval_build(const clnas_darts_eval_config *cfg, const clnas_darts_genotype *g, clnas_net **out,
                                    char *err, size_t errlen);
/* Parameters of the auxiliary head DARTS attaches after cell 2*layers/3 (not in the graph). */
size_t clnas_darts_aux_params(const clnas_darts_eval_config *cfg, const clnas_darts_genotype *g);

/* TE-NAS's proxies of a supernet state (§4.3; NASNetworkDARTS with C=1, N=1, depth 2, stem
 * multiplier 1, 4 steps, multiplier 4): NTK net = stem conv3x3 3->1 + BN, normal cell (C=1),
 * reduction cell (C=2), BN(8) + ReLU, GAP, Linear(8, classes), on input_hw x input_hw images;
 * LR net = the same two cells without the stem on 1x3x3 patches. Module names follow the
 * original (stem.0, cells.0.edges.0<-1.sep_conv_3x3.op_a.op.1, lastact.0, classifier).
 * Either pointer may be NULL. The state must pass clnas_darts_alpha_check. */
clnas_status clnas_darts_proxies(const clnas_darts_alpha *al, int classes, int input_hw, clnas_net **ntk_net,
                                 clnas_net **lr_net, char *err, size_t errlen);

CLNAS_API_END
#ifdef __cplusplus
}
#endif
#endif
