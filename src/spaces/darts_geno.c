/* darts_geno.c - the DARTS space's notation: op names, the 14-edge order, genotypes in DARTS's
 * Python notation (parser with positioned errors, printer, named genotypes), and the supernet
 * state alpha (softmax weights as TE-NAS's MixedOp uses them, JSON form, genotype derivation). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "clnas/darts.h"

static const char *const op_names[CLNAS_DARTS_NOPS] = {"none",         "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
                                                       "dil_conv_3x3", "dil_conv_5x5", "avg_pool_3x3", "max_pool_3x3"};
/* sorted "i<-j" keys: node i, source j */
static const int edge_node[CLNAS_DARTS_EDGES] = {0, 0, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 3};
static const int edge_from[CLNAS_DARTS_EDGES] = {0, 1, 0, 1, 2, 0, 1, 2, 3, 0, 1, 2, 3, 4};

const char *clnas_darts_op_name(int op)
{
    return op >= 0 && op < CLNAS_DARTS_NOPS ? op_names[op] : NULL;
}

int clnas_darts_op_parse(const char *name)
{
    for (int o = 0; o < CLNAS_DARTS_NOPS; o++)
        if (!strcmp(name, op_names[o])) return o;
    return -1;
}

void clnas_darts_edge_nodes(int e, int *node, int *from)
{
    *node = edge_node[e];
    *from = edge_from[e];
}

int clnas_darts_edge_index(int node, int from)
{
    for (int e = 0; e < CLNAS_DARTS_EDGES; e++)
        if (edge_node[e] == node && edge_from[e] == from) return e;
    return -1;
}

/* ---------------- genotype parser ---------------- */

static const struct { const char *name, *text; } named[] = {
    {"DARTS_V1", "Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), ('sep_conv_3x3', 1), "
                 "('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 2)], normal_concat=[2, 3, 4, 5], "
                 "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), ('max_pool_3x3', 0), "
                 "('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)], reduce_concat=[2, 3, 4, 5])"},
    {"DARTS_V2", "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
                 "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
                 "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
                 "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"},
    {"PC_DARTS", "Genotype(normal=[('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 0), ('dil_conv_3x3', 1), "
                 "('sep_conv_5x5', 0), ('sep_conv_3x3', 1), ('avg_pool_3x3', 0), ('dil_conv_3x3', 1)], normal_concat=range(2, 6), "
                 "reduce=[('sep_conv_5x5', 1), ('max_pool_3x3', 0), ('sep_conv_5x5', 1), ('sep_conv_5x5', 2), ('sep_conv_3x3', 0), "
                 "('sep_conv_3x3', 3), ('sep_conv_3x3', 1), ('sep_conv_3x3', 2)], reduce_concat=range(2, 6))"},
};
#define NNAMED ((int)(sizeof named / sizeof named[0]))

int clnas_darts_named_count(void) { return NNAMED; }

const char *clnas_darts_named(int i, const char **genotype)
{
    if (i < 0 || i >= NNAMED) return NULL;
    if (genotype) *genotype = named[i].text;
    return named[i].name;
}

typedef struct parser {
    const char *s;
    size_t p;
    char *err;
    size_t errlen;
    int failed;
} parser;

static void skip_ws(parser *ps)
{
    while (isspace((unsigned char)ps->s[ps->p])) ps->p++;
}

static clnas_status fail_at(parser *ps, size_t pos, const char *what)
{
    if (!ps->failed && ps->err && ps->errlen) {
        const char *at = ps->s + pos;
        char near[40];
        snprintf(near, sizeof near, "%.24s%s", at, strlen(at) > 24 ? "..." : "");
        snprintf(ps->err, ps->errlen, "malformed DARTS genotype at position %zu: expected %s, found %s%s%s", pos + 1, what,
                 *at ? "\"" : "", *at ? near : "the end of the string", *at ? "\"" : "");
    }
    ps->failed = 1;
    return CLNAS_E_PARSE;
}

/* Consumes the literal `lit` after white space. */
static int expect(parser *ps, const char *lit, const char *what)
{
    skip_ws(ps);
    size_t n = strlen(lit);
    if (strncmp(ps->s + ps->p, lit, n) != 0) {
        fail_at(ps, ps->p, what);
        return 0;
    }
    ps->p += n;
    return 1;
}

static int peek(parser *ps, char c)
{
    skip_ws(ps);
    return ps->s[ps->p] == c;
}

static int parse_int(parser *ps, int lo, int hi, const char *what, int *v)
{
    skip_ws(ps);
    size_t start = ps->p;
    long x = 0;
    if (!isdigit((unsigned char)ps->s[ps->p])) {
        fail_at(ps, start, what);
        return 0;
    }
    while (isdigit((unsigned char)ps->s[ps->p]) && x < 100000) x = x * 10 + (ps->s[ps->p++] - '0');
    if (x < lo || x > hi) {
        char w[160];
        snprintf(w, sizeof w, "%s in [%d, %d]", what, lo, hi);
        fail_at(ps, start, w);
        return 0;
    }
    *v = (int)x;
    return 1;
}

/* ('op_name', j) */
static int parse_pair(parser *ps, unsigned char *op, unsigned char *from, int node)
{
    if (!expect(ps, "(", "'(' opening an (op, input) pair")) return 0;
    skip_ws(ps);
    char q = ps->s[ps->p];
    if (q != '\'' && q != '"') return fail_at(ps, ps->p, "a quoted op name"), 0;
    size_t start = ++ps->p;
    while (ps->s[ps->p] && ps->s[ps->p] != q) ps->p++;
    if (!ps->s[ps->p]) return fail_at(ps, start - 1, "a closing quote after the op name"), 0;
    char name[48];
    size_t n = ps->p - start;
    snprintf(name, sizeof name, "%.*s", (int)(n < 47 ? n : 47), ps->s + start);
    int o = n < 47 ? clnas_darts_op_parse(name) : -1;
    if (o < 0) {
        char w[256];
        snprintf(w, sizeof w, "an op of the DARTS space (none, skip_connect, sep_conv_3x3, sep_conv_5x5, dil_conv_3x3, "
                              "dil_conv_5x5, avg_pool_3x3, max_pool_3x3), not '%s'", name);
        return fail_at(ps, start, w), 0;
    }
    ps->p++;
    if (!expect(ps, ",", "',' after the op name")) return 0;
    char what[96];
    snprintf(what, sizeof what, "the input of node %d (0, 1 the cell inputs, 2.. earlier nodes)", node);
    int j;
    if (!parse_int(ps, 0, node + 1, what, &j)) return 0;
    if (!expect(ps, ")", "')' closing the pair")) return 0;
    *op = (unsigned char)o;
    *from = (unsigned char)j;
    return 1;
}

/* [pair, pair, ...] with an even count */
static int parse_cell_list(parser *ps, clnas_darts_cell_gene *c)
{
    if (!expect(ps, "[", "'[' opening the list of (op, input) pairs")) return 0;
    int n = 0;
    if (!peek(ps, ']'))
        for (;;) {
            if (n == 2 * CLNAS_DARTS_MAX_STEPS) return fail_at(ps, ps->p, "']': at most 16 pairs (8 nodes)"), 0;
            if (!parse_pair(ps, &c->op[n], &c->from[n], n / 2)) return 0;
            n++;
            if (peek(ps, ',')) {
                ps->p++;
                if (peek(ps, ']')) break; /* Python allows a trailing comma */
                continue;
            }
            break;
        }
    size_t close = ps->p;
    if (!expect(ps, "]", "',' or ']' in the list of pairs")) return 0;
    if (n == 0 || n % 2) return fail_at(ps, close, "an even, non-zero number of pairs (two per node)"), 0;
    c->steps = n / 2;
    return 1;
}

/* [2, 3, 4, 5] or range(a, b) */
static int parse_concat(parser *ps, clnas_darts_cell_gene *c)
{
    skip_ws(ps);
    int maxstate = CLNAS_DARTS_MAX_STEPS + 1;
    if (!strncmp(ps->s + ps->p, "range", 5)) {
        ps->p += 5;
        int a, b;
        if (!expect(ps, "(", "'(' after range") || !parse_int(ps, 0, maxstate, "a state index", &a) ||
            !expect(ps, ",", "',' in range(a, b)") || !parse_int(ps, a + 1, maxstate + 1, "the end of the range", &b) ||
            !expect(ps, ")", "')' closing range(a, b)"))
            return 0;
        c->nconcat = b - a;
        for (int i = 0; i < c->nconcat; i++) c->concat[i] = (unsigned char)(a + i);
        return 1;
    }
    if (!expect(ps, "[", "'[' or range( opening the concat list")) return 0;
    c->nconcat = 0;
    for (;;) {
        int v;
        if (c->nconcat == CLNAS_DARTS_MAX_STEPS + 2) return fail_at(ps, ps->p, "']' (too many states)"), 0;
        if (!parse_int(ps, 0, maxstate, "a state index", &v)) return 0;
        c->concat[c->nconcat++] = (unsigned char)v;
        if (peek(ps, ',')) { ps->p++; continue; }
        break;
    }
    return expect(ps, "]", "',' or ']' in the concat list");
}

/* concat entries must name states that exist (< steps + 2) */
static int check_concat(parser *ps, const clnas_darts_cell_gene *c, size_t pos, const char *key)
{
    for (int i = 0; i < c->nconcat; i++)
        if (c->concat[i] >= c->steps + 2) {
            char w[160];
            snprintf(w, sizeof w, "%s states below %d (the cell has %d nodes), not %d", key, c->steps + 2, c->steps, c->concat[i]);
            return fail_at(ps, pos, w), 0;
        }
    return 1;
}

static clnas_status parse_text(parser *ps, clnas_darts_genotype *g)
{
    static const char *const keys[4] = {"normal_concat", "normal", "reduce_concat", "reduce"};
    size_t at[4] = {0};
    int seen[4] = {0};
    if (!expect(ps, "Genotype", "'Genotype(' or a named genotype (DARTS_V1, DARTS_V2, DARTS, PC_DARTS)") ||
        !expect(ps, "(", "'(' after Genotype"))
        return CLNAS_E_PARSE;
    for (int k = 0; k < 4; k++) {
        if (k > 0 && !expect(ps, ",", "',' between the fields")) return CLNAS_E_PARSE;
        skip_ws(ps);
        int which = -1;
        for (int i = 0; i < 4 && which < 0; i++) {
            size_t n = strlen(keys[i]);
            if (!strncmp(ps->s + ps->p, keys[i], n) && !isalnum((unsigned char)ps->s[ps->p + n]) && ps->s[ps->p + n] != '_')
                which = i;
        }
        if (which < 0 || seen[which])
            return fail_at(ps, ps->p, which < 0 ? "a field: normal, normal_concat, reduce or reduce_concat"
                                                : "a field not given before");
        seen[which] = 1;
        ps->p += strlen(keys[which]);
        if (!expect(ps, "=", "'=' after the field name")) return CLNAS_E_PARSE;
        skip_ws(ps);
        at[which] = ps->p;
        clnas_darts_cell_gene *c = which < 2 ? &g->normal : &g->reduce;
        int ok = (which == 0 || which == 2) ? parse_concat(ps, c) : parse_cell_list(ps, c);
        if (!ok) return CLNAS_E_PARSE;
    }
    if (peek(ps, ',')) ps->p++;
    if (!expect(ps, ")", "')' closing Genotype(")) return CLNAS_E_PARSE;
    skip_ws(ps);
    if (ps->s[ps->p]) return fail_at(ps, ps->p, "the end of the string");
    if (!check_concat(ps, &g->normal, at[0], "normal_concat") || !check_concat(ps, &g->reduce, at[2], "reduce_concat"))
        return CLNAS_E_PARSE;
    return CLNAS_OK;
}

clnas_status clnas_darts_genotype_parse(const char *s, clnas_darts_genotype *g, char *err, size_t errlen)
{
    memset(g, 0, sizeof *g);
    if (err && errlen) err[0] = 0;
    if (!s) s = "";
    const char *text = s;
    for (int i = 0; i < NNAMED; i++)
        if (!strcmp(s, named[i].name)) text = named[i].text;
    if (!strcmp(s, "DARTS")) text = named[1].text; /* DARTS's genotypes.py: DARTS = DARTS_V2 */
    parser ps = {text, 0, err, errlen, 0};
    clnas_status st = parse_text(&ps, g);
    if (st != CLNAS_OK) memset(g, 0, sizeof *g);
    return st;
}

static size_t format_cell(const clnas_darts_cell_gene *c, char *b, size_t len)
{
    size_t n = (size_t)snprintf(b, len, "[");
    for (int i = 0; i < 2 * c->steps; i++)
        n += (size_t)snprintf(b + (n < len ? n : len), n < len ? len - n : 0, "%s('%s', %d)", i ? ", " : "",
                              op_names[c->op[i] % CLNAS_DARTS_NOPS], c->from[i]);
    n += (size_t)snprintf(b + (n < len ? n : len), n < len ? len - n : 0, "]");
    return n;
}

static size_t format_concat(const clnas_darts_cell_gene *c, char *b, size_t len)
{
    size_t n = (size_t)snprintf(b, len, "[");
    for (int i = 0; i < c->nconcat; i++)
        n += (size_t)snprintf(b + (n < len ? n : len), n < len ? len - n : 0, "%s%d", i ? ", " : "", c->concat[i]);
    n += (size_t)snprintf(b + (n < len ? n : len), n < len ? len - n : 0, "]");
    return n;
}

size_t clnas_darts_genotype_format(const clnas_darts_genotype *g, char *buf, size_t len)
{
    char nc[512], rc[512], ncat[64], rcat[64];
    format_cell(&g->normal, nc, sizeof nc);
    format_cell(&g->reduce, rc, sizeof rc);
    format_concat(&g->normal, ncat, sizeof ncat);
    format_concat(&g->reduce, rcat, sizeof rcat);
    int n = snprintf(buf, buf ? len : 0, "Genotype(normal=%s, normal_concat=%s, reduce=%s, reduce_concat=%s)", nc, ncat, rc, rcat);
    return n < 0 ? 0 : (size_t)n;
}

/* ---------------- supernet state ---------------- */

void clnas_darts_alpha_supernet(clnas_darts_alpha *al)
{
    for (int c = 0; c < 2; c++)
        for (int e = 0; e < CLNAS_DARTS_EDGES; e++)
            for (int o = 0; o < CLNAS_DARTS_NOPS; o++) al->a[c][e][o] = o == CLNAS_DARTS_NONE ? CLNAS_DARTS_PRUNED : 0.0f;
}

static int edge_removed(const clnas_darts_alpha *al, int c, int e)
{
    /* the original's test: sum(alphas) <= -INF * len(alphas) */
    double s = 0;
    for (int o = 0; o < CLNAS_DARTS_NOPS; o++) s += al->a[c][e][o];
    return s <= (double)CLNAS_DARTS_PRUNED * CLNAS_DARTS_NOPS;
}

void clnas_darts_edge_weights(const clnas_darts_alpha *al, int c, int e, double w[CLNAS_DARTS_NOPS])
{
    /* softmax in float, as torch computes it, then the 0.01 threshold */
    float m = al->a[c][e][0], sum = 0, ex[CLNAS_DARTS_NOPS];
    for (int o = 1; o < CLNAS_DARTS_NOPS; o++) m = al->a[c][e][o] > m ? al->a[c][e][o] : m;
    for (int o = 0; o < CLNAS_DARTS_NOPS; o++) sum += ex[o] = expf(al->a[c][e][o] - m);
    int removed = edge_removed(al, c, e);
    for (int o = 0; o < CLNAS_DARTS_NOPS; o++) {
        float p = ex[o] / sum;
        w[o] = !removed && p > 0.01f ? (double)p : 0.0;
    }
}

int clnas_darts_active(const clnas_darts_alpha *al, int c, int e, int op)
{
    double w[CLNAS_DARTS_NOPS];
    clnas_darts_edge_weights(al, c, e, w);
    return w[op] > 0;
}

int clnas_darts_edge_count(const clnas_darts_alpha *al, int c, int e)
{
    double w[CLNAS_DARTS_NOPS];
    clnas_darts_edge_weights(al, c, e, w);
    int k = 0;
    for (int o = 0; o < CLNAS_DARTS_NOPS; o++) k += w[o] > 0;
    return k;
}

void clnas_darts_remove(clnas_darts_alpha *al, int c, int e, int op)
{
    al->a[c][e][op] = CLNAS_DARTS_PRUNED;
}

clnas_status clnas_darts_alpha_check(const clnas_darts_alpha *al, char *err, size_t errlen)
{
    for (int c = 0; c < 2; c++)
        for (int node = 0; node < CLNAS_DARTS_STEPS; node++) {
            int live = 0;
            for (int j = 0; j < node + 2; j++) live += clnas_darts_edge_count(al, c, clnas_darts_edge_index(node, j)) > 0;
            if (!live) {
                if (err && errlen)
                    snprintf(err, errlen, "the %s cell's node %d (state %d) has no input left: every op on its edges %d<-0 .. %d<-%d "
                             "is removed (alpha <= -1000); keep at least one op on one of them",
                             c ? "reduction" : "normal", node, node + 2, node, node, node + 1);
                return CLNAS_E_INVALID_ARG;
            }
        }
    return CLNAS_OK;
}

int clnas_darts_is_single_path(const clnas_darts_alpha *al)
{
    for (int c = 0; c < 2; c++)
        for (int e = 0; e < CLNAS_DARTS_EDGES; e++)
            if (clnas_darts_edge_count(al, c, e) > 1) return 0;
    return clnas_darts_alpha_check(al, NULL, 0) == CLNAS_OK;
}

clnas_status clnas_darts_alpha_from_genotype(const clnas_darts_genotype *g, clnas_darts_alpha *al, char *err, size_t errlen)
{
    for (int c = 0; c < 2; c++)
        for (int e = 0; e < CLNAS_DARTS_EDGES; e++)
            for (int o = 0; o < CLNAS_DARTS_NOPS; o++) al->a[c][e][o] = CLNAS_DARTS_PRUNED;
    for (int c = 0; c < 2; c++) {
        const clnas_darts_cell_gene *cg = c ? &g->reduce : &g->normal;
        const char *cn = c ? "reduce" : "normal";
        int ok = cg->steps == CLNAS_DARTS_STEPS && cg->nconcat == 4;
        for (int i = 0; ok && i < 4; i++) ok = cg->concat[i] == i + 2;
        if (!ok) {
            if (err && errlen)
                snprintf(err, errlen, "the %s cell: a TE-NAS supernet state needs 4 nodes (8 pairs) and %s_concat [2, 3, 4, 5]", cn, cn);
            return CLNAS_E_INVALID_ARG;
        }
        for (int i = 0; i < 8; i++) {
            int e = clnas_darts_edge_index(i / 2, cg->from[i]);
            if (clnas_darts_edge_count(al, c, e) > 0) {
                if (err && errlen)
                    snprintf(err, errlen, "the %s cell names edge %d<-%d twice; the supernet has one edge per (node, input), so this "
                             "genotype is not a state of it", cn, i / 2, cg->from[i]);
                return CLNAS_E_INVALID_ARG;
            }
            al->a[c][e][cg->op[i]] = 0;
        }
    }
    return CLNAS_OK;
}

void clnas_darts_genotype_from_alpha(const clnas_darts_alpha *al, clnas_darts_genotype *g)
{
    memset(g, 0, sizeof *g);
    for (int c = 0; c < 2; c++) {
        clnas_darts_cell_gene *cg = c ? &g->reduce : &g->normal;
        cg->steps = CLNAS_DARTS_STEPS;
        cg->nconcat = 4;
        for (int i = 0; i < 4; i++) cg->concat[i] = (unsigned char)(i + 2);
        for (int node = 0; node < CLNAS_DARTS_STEPS; node++) {
            /* edges by their best non-none weight, descending, stable (Python's sorted) */
            int idx[6];
            double best[6];
            int bestop[6];
            for (int j = 0; j < node + 2; j++) {
                double w[CLNAS_DARTS_NOPS];
                /* the original ranks by raw softmax weights (no threshold) */
                float m = al->a[c][clnas_darts_edge_index(node, j)][0], sum = 0, ex[CLNAS_DARTS_NOPS];
                const float *row = al->a[c][clnas_darts_edge_index(node, j)];
                for (int o = 1; o < CLNAS_DARTS_NOPS; o++) m = row[o] > m ? row[o] : m;
                for (int o = 0; o < CLNAS_DARTS_NOPS; o++) sum += ex[o] = expf(row[o] - m);
                for (int o = 0; o < CLNAS_DARTS_NOPS; o++) w[o] = ex[o] / sum;
                idx[j] = j;
                best[j] = -1;
                bestop[j] = 1;
                for (int o = 1; o < CLNAS_DARTS_NOPS; o++)
                    if (w[o] > best[j]) { best[j] = w[o]; bestop[j] = o; }
            }
            for (int a = 1; a < node + 2; a++)
                for (int b = a; b > 0 && best[idx[b - 1]] < best[idx[b]]; b--) {
                    int t = idx[b]; idx[b] = idx[b - 1]; idx[b - 1] = t;
                }
            for (int k = 0; k < 2; k++) {
                cg->op[2 * node + k] = (unsigned char)bestop[idx[k]];
                cg->from[2 * node + k] = (unsigned char)idx[k];
            }
        }
    }
}

/* ---------------- JSON form ---------------- */

static clnas_status read_cell(json_t *root, const char *key, float out[CLNAS_DARTS_EDGES][CLNAS_DARTS_NOPS], char *err,
                              size_t errlen)
{
    json_t *m = json_object_get(root, key);
    if (!json_is_array(m) || json_array_size(m) != CLNAS_DARTS_EDGES) {
        if (err && errlen)
            snprintf(err, errlen, "alpha: \"%s\": expected an array of 14 rows (edges 0<-0, 0<-1, 1<-0, ..., 3<-4), found %s",
                     key, !m ? "nothing" : json_is_array(m) ? "an array of another length" : "another type");
        return CLNAS_E_PARSE;
    }
    for (int e = 0; e < CLNAS_DARTS_EDGES; e++) {
        json_t *row = json_array_get(m, (size_t)e);
        if (!json_is_array(row) || json_array_size(row) != CLNAS_DARTS_NOPS) {
            if (err && errlen)
                snprintf(err, errlen, "alpha: \"%s\"[%d] (edge %d<-%d): expected an array of 8 numbers (none, skip_connect, "
                         "sep_conv_3x3, sep_conv_5x5, dil_conv_3x3, dil_conv_5x5, avg_pool_3x3, max_pool_3x3)",
                         key, e, edge_node[e], edge_from[e]);
            return CLNAS_E_PARSE;
        }
        for (int o = 0; o < CLNAS_DARTS_NOPS; o++) {
            json_t *v = json_array_get(row, (size_t)o);
            if (!json_is_number(v) || !isfinite(json_number_value(v))) {
                if (err && errlen)
                    snprintf(err, errlen, "alpha: \"%s\"[%d][%d] (edge %d<-%d, %s): expected a finite number", key, e, o,
                             edge_node[e], edge_from[e], op_names[o]);
                return CLNAS_E_PARSE;
            }
            out[e][o] = (float)json_number_value(v);
        }
    }
    return CLNAS_OK;
}

clnas_status clnas_darts_alpha_parse_json(const char *text, clnas_darts_alpha *al, char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_loads(text ? text : "", 0, &je);
    if (!root) {
        if (err && errlen) snprintf(err, errlen, "alpha: not valid JSON at line %d, column %d: %s", je.line, je.column, je.text);
        return CLNAS_E_PARSE;
    }
    clnas_status st = CLNAS_OK;
    if (!json_is_object(root)) {
        if (err && errlen) snprintf(err, errlen, "alpha: expected a JSON object with \"normal\" and \"reduce\"");
        st = CLNAS_E_PARSE;
    }
    if (st == CLNAS_OK) st = read_cell(root, "normal", al->a[0], err, errlen);
    if (st == CLNAS_OK) st = read_cell(root, "reduce", al->a[1], err, errlen);
    json_decref(root);
    return st;
}

char *clnas_darts_alpha_to_json(const clnas_darts_alpha *al)
{
    size_t cap = 8192, n = 0;
    char *b = malloc(cap);
    if (!b) return NULL;
    n += (size_t)snprintf(b + n, cap - n, "{");
    for (int c = 0; c < 2; c++) {
        n += (size_t)snprintf(b + n, cap - n, "%s\"%s\": [\n", c ? ",\n " : "", c ? "reduce" : "normal");
        for (int e = 0; e < CLNAS_DARTS_EDGES; e++) {
            n += (size_t)snprintf(b + n, cap - n, "  [");
            for (int o = 0; o < CLNAS_DARTS_NOPS; o++)
                n += (size_t)snprintf(b + n, cap - n, "%s%.9g", o ? ", " : "", (double)al->a[c][e][o]);
            n += (size_t)snprintf(b + n, cap - n, "]%s\n", e + 1 < CLNAS_DARTS_EDGES ? "," : "");
        }
        n += (size_t)snprintf(b + n, cap - n, " ]");
    }
    snprintf(b + n, cap - n, "}\n");
    return b;
}

clnas_status clnas_darts_alpha_load(const char *src, clnas_darts_alpha *al, char *err, size_t errlen)
{
    if (src && !strcmp(src, "supernet")) {
        clnas_darts_alpha_supernet(al);
        return CLNAS_OK;
    }
    FILE *f = src ? fopen(src, "rb") : NULL;
    if (!f) {
        if (err && errlen) snprintf(err, errlen, "cannot open the alpha file %s", src ? src : "(none)");
        return CLNAS_E_IO;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    size_t got = 0;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *nb = cap < (1u << 24) ? realloc(buf, 2 * cap + 1) : NULL;
            if (!nb) { free(buf); buf = NULL; break; }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf) {
        if (err && errlen) snprintf(err, errlen, "the alpha file %s is too large (or out of memory)", src);
        return CLNAS_E_NOMEM;
    }
    buf[n] = 0;
    char e2[400] = "";
    clnas_status st = clnas_darts_alpha_parse_json(buf, al, e2, sizeof e2);
    free(buf);
    if (st != CLNAS_OK && err && errlen) snprintf(err, errlen, "%s: %s", src, e2);
    return st;
}
