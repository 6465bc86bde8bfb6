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
#include "clnas/status.h"

#ifdef __cplusplus
extern "C" {
#endif

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

/* 1 when every edge has exactly one op. */
int clnas_nb201_is_single_path(const clnas_nb201_arch *a);
/* Number of active ops on edge e. */
int clnas_nb201_edge_count(const clnas_nb201_arch *a, int e);

#ifdef __cplusplus
}
#endif
#endif
