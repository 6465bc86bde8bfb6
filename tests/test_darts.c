/* test_darts.c - the DARTS space: genotype notation (round trips, named genotypes, positioned
 * errors), the supernet state (edge order, MixedOp weights, JSON form, checks), the networks'
 * sizes (TE-NAS's proxies, §10.6) and parameter counts against a PyTorch build of DARTS's
 * evaluation networks (tools/darts_params_torch.py). */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "clnas/darts.h"
#include "util/testutil.h"

static const char *const V2 =
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), "
    "('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
    "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
    "('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";

Test(darts_geno, edge_order_is_tenas_sorted_keys)
{
    /* TE-NAS's rows: sorted "i<-j" strings */
    static const char *const keys[14] = {"0<-0", "0<-1", "1<-0", "1<-1", "1<-2", "2<-0", "2<-1",
                                         "2<-2", "2<-3", "3<-0", "3<-1", "3<-2", "3<-3", "3<-4"};
    for (int e = 0; e < CLNAS_DARTS_EDGES; e++) {
        int i, j;
        char k[8];
        clnas_darts_edge_nodes(e, &i, &j);
        snprintf(k, sizeof k, "%d<-%d", i, j);
        cr_expect_str_eq(k, keys[e], "edge %d", e);
        cr_expect_eq(clnas_darts_edge_index(i, j), e);
        if (e > 0) cr_expect(strcmp(keys[e - 1], keys[e]) < 0, "keys sorted");
    }
    cr_expect_str_eq(clnas_darts_op_name(2), "sep_conv_3x3");
    cr_expect_str_eq(clnas_darts_op_name(7), "max_pool_3x3");
    cr_expect_null(clnas_darts_op_name(8));
}

Test(darts_geno, round_trip_and_names)
{
    clnas_darts_genotype g, h;
    char err[512], buf[2048];
    cr_assert_eq(clnas_darts_genotype_parse(V2, &g, err, sizeof err), CLNAS_OK, "%s", err);
    clnas_darts_genotype_format(&g, buf, sizeof buf);
    cr_expect_str_eq(buf, V2);
    cr_assert_eq(clnas_darts_genotype_parse("DARTS_V2", &h, err, sizeof err), CLNAS_OK, "%s", err);
    cr_expect(!memcmp(&g, &h, sizeof g));
    cr_assert_eq(clnas_darts_genotype_parse("DARTS", &h, err, sizeof err), CLNAS_OK, "%s", err);
    cr_expect(!memcmp(&g, &h, sizeof g));
    cr_expect_eq(g.normal.steps, 4);
    cr_expect_eq(g.normal.op[7], CLNAS_DARTS_DIL3);
    cr_expect_eq(g.normal.from[7], 2);
    cr_expect_eq(g.reduce.op[0], CLNAS_DARTS_MAX3);
    for (int i = 0; i < clnas_darts_named_count(); i++) {
        const char *text, *name = clnas_darts_named(i, &text);
        cr_expect_eq(clnas_darts_genotype_parse(name, &h, err, sizeof err), CLNAS_OK, "%s: %s", name, err);
        cr_expect_eq(clnas_darts_genotype_parse(text, &g, err, sizeof err), CLNAS_OK, "%s: %s", name, err);
        cr_expect(!memcmp(&g, &h, sizeof g));
    }
    /* range(2, 6), double quotes, line breaks, trailing commas, fields in another order */
    const char *alt = "Genotype(\n reduce=[(\"max_pool_3x3\", 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1),\n"
                      " ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1),],\n"
                      " normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
                      "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)],\n"
                      " normal_concat=range(2, 6), reduce_concat = [2,3,4,5],\n)";
    cr_assert_eq(clnas_darts_genotype_parse(alt, &h, err, sizeof err), CLNAS_OK, "%s", err);
    clnas_darts_genotype_parse(V2, &g, err, sizeof err);
    cr_expect(!memcmp(&g, &h, sizeof g));
}

/* The error names the position and what was expected. */
static void expect_error(const char *s, const char *pos, const char *what)
{
    clnas_darts_genotype g;
    char err[512] = "";
    cr_expect_eq(clnas_darts_genotype_parse(s, &g, err, sizeof err), CLNAS_E_PARSE, "accepted: %s", s);
    cr_expect(strstr(err, pos) != NULL, "message lacks \"%s\": %s", pos, err);
    cr_expect(strstr(err, what) != NULL, "message lacks \"%s\": %s", what, err);
}

Test(darts_geno, malformed_strings_name_the_token)
{
    expect_error("", "position 1", "Genotype(");
    expect_error("DARTS_V3", "position 1", "named genotype");
    expect_error("Genotype(normal=[('sep_conv_7x7', 0)", "position 20", "not 'sep_conv_7x7'");
    expect_error("Genotype(normal=[('sep_conv_3x3', 2), ('skip_connect', 0)]", "position 35", "input of node 0 (0, 1 the cell inputs, 2.. earlier nodes) in [0, 1]");
    expect_error("Genotype(normal=[('sep_conv_3x3', 0)], normal_concat=[2]", "position 37", "even");
    expect_error("Genotype(normal=[('sep_conv_3x3', 0) ('skip_connect', 1)]", "position 38", "',' or ']'");
    expect_error("Genotype(normal=[('sep_conv_3x3, 0)])", "position 19", "closing quote");
    expect_error("Genotype(normal=[], normal=[])", "position 18", "even");
    expect_error("Genotype(foo=[])", "position 10", "a field");
    char buf[2048];
    snprintf(buf, sizeof buf, "%s x", V2);
    expect_error(buf, "position", "the end of the string");
    /* a concat that names a state the cell does not have */
    expect_error("Genotype(normal=[('skip_connect', 0), ('skip_connect', 1)], normal_concat=[2, 3], "
                 "reduce=[('skip_connect', 0), ('skip_connect', 1)], reduce_concat=[2])",
                 "position 75", "states below 3");
}

Test(darts_alpha, supernet_weights_and_removed_edges)
{
    clnas_darts_alpha al;
    clnas_darts_alpha_supernet(&al);
    double w[CLNAS_DARTS_NOPS];
    clnas_darts_edge_weights(&al, 0, 3, w);
    cr_expect_eq(w[0], 0.0);
    for (int o = 1; o < CLNAS_DARTS_NOPS; o++) cr_expect_float_eq(w[o], 1.0 / 7, 1e-7);
    cr_expect_eq(clnas_darts_edge_count(&al, 1, 13), 7);
    cr_expect_not(clnas_darts_is_single_path(&al));
    /* all eight at -1000: the edge contributes nothing (not 1/8 each) */
    for (int o = 0; o < CLNAS_DARTS_NOPS; o++) clnas_darts_remove(&al, 0, 0, o);
    clnas_darts_edge_weights(&al, 0, 0, w);
    for (int o = 0; o < CLNAS_DARTS_NOPS; o++) cr_expect_eq(w[o], 0.0);
    char err[512];
    cr_expect_eq(clnas_darts_alpha_check(&al, err, sizeof err), CLNAS_OK);
    for (int o = 0; o < CLNAS_DARTS_NOPS; o++) clnas_darts_remove(&al, 0, 1, o);
    cr_expect_eq(clnas_darts_alpha_check(&al, err, sizeof err), CLNAS_E_INVALID_ARG);
    cr_expect(strstr(err, "normal cell's node 0") != NULL, "%s", err);
}

Test(darts_alpha, genotype_state_and_back)
{
    clnas_darts_genotype g, h;
    clnas_darts_alpha al;
    char err[512];
    cr_assert_eq(clnas_darts_genotype_parse("DARTS_V1", &g, err, sizeof err), CLNAS_OK);
    cr_assert_eq(clnas_darts_alpha_from_genotype(&g, &al, err, sizeof err), CLNAS_OK, "%s", err);
    cr_expect(clnas_darts_is_single_path(&al));
    clnas_darts_genotype_from_alpha(&al, &h);
    /* the same edges and ops per node (the order within a node follows the weights) */
    for (int c = 0; c < 2; c++) {
        const clnas_darts_cell_gene *a = c ? &g.reduce : &g.normal, *b = c ? &h.reduce : &h.normal;
        for (int i = 0; i < 4; i++) {
            int same = (a->from[2 * i] == b->from[2 * i] && a->op[2 * i] == b->op[2 * i] && a->from[2 * i + 1] == b->from[2 * i + 1] &&
                        a->op[2 * i + 1] == b->op[2 * i + 1]) ||
                       (a->from[2 * i] == b->from[2 * i + 1] && a->op[2 * i] == b->op[2 * i + 1] &&
                        a->from[2 * i + 1] == b->from[2 * i] && a->op[2 * i + 1] == b->op[2 * i]);
            cr_expect(same, "cell %d node %d", c, i);
        }
    }
    /* JSON round trip */
    char *js = clnas_darts_alpha_to_json(&al);
    cr_assert_not_null(js);
    clnas_darts_alpha back;
    cr_assert_eq(clnas_darts_alpha_parse_json(js, &back, err, sizeof err), CLNAS_OK, "%s", err);
    cr_expect(!memcmp(&al, &back, sizeof al));
    free(js);
    cr_expect_eq(clnas_darts_alpha_parse_json("{\"normal\": [[0]]}", &back, err, sizeof err), CLNAS_E_PARSE);
    cr_expect(strstr(err, "14 rows") != NULL, "%s", err);
    cr_expect_eq(clnas_darts_alpha_parse_json("{\"normal\": [", &back, err, sizeof err), CLNAS_E_PARSE);
    cr_expect(strstr(err, "line 1") != NULL, "%s", err);
    /* a genotype with one edge named twice is no supernet state */
    cr_assert_eq(clnas_darts_genotype_parse("Genotype(normal=[('skip_connect', 0), ('sep_conv_3x3', 0), ('skip_connect', 0), "
                                            "('skip_connect', 1), ('skip_connect', 0), ('skip_connect', 1), ('skip_connect', 0), "
                                            "('skip_connect', 1)], normal_concat=[2, 3, 4, 5], reduce=[('skip_connect', 0), "
                                            "('skip_connect', 1), ('skip_connect', 0), ('skip_connect', 1), ('skip_connect', 0), "
                                            "('skip_connect', 1), ('skip_connect', 0), ('skip_connect', 1)], reduce_concat=[2, 3, 4, 5])",
                                            &g, err, sizeof err), CLNAS_OK, "%s", err);
    cr_expect_eq(clnas_darts_alpha_from_genotype(&g, &al, err, sizeof err), CLNAS_E_INVALID_ARG);
    cr_expect(strstr(err, "edge 0<-0 twice") != NULL, "%s", err);
}

/* ---------------- networks ---------------- */

Test(darts_net, proxy_sizes_of_tenas)
{
    /* TENAS.md §10.6 and §2.3: the DARTS NTK supernet (all 7 ops) has 5,431 parameters, P = 5,138
     * (13,058 with ImageNet's 1000 classes); the thin net's code has 1,987 bits */
    clnas_darts_alpha al;
    clnas_darts_alpha_supernet(&al);
    clnas_net *n = NULL, *l = NULL;
    char err[512];
    cr_assert_eq(clnas_darts_proxies(&al, 10, 32, &n, &l, err, sizeof err), CLNAS_OK, "%s", err);
    cr_expect_eq(clnas_net_nparams(n), 5431);
    cr_expect_eq(clnas_net_njacobian(n), 5138);
    cr_expect_eq(clnas_net_relu_bits(l), 1987);
    int c, h, w;
    clnas_net_input_shape(l, &c, &h, &w);
    cr_expect(c == 1 && h == 3 && w == 3);
    clnas_net_destroy(n);
    clnas_net_destroy(l);
    cr_assert_eq(clnas_darts_proxies(&al, 1000, 32, &n, NULL, err, sizeof err), CLNAS_OK, "%s", err);
    cr_expect_eq(clnas_net_njacobian(n), 13058);
    clnas_net_destroy(n);
    /* a single-path state (DARTS_V2's cells) is much smaller; a state with a dead node is refused */
    clnas_darts_genotype g;
    cr_assert_eq(clnas_darts_genotype_parse("DARTS_V2", &g, err, sizeof err), CLNAS_OK);
    cr_assert_eq(clnas_darts_alpha_from_genotype(&g, &al, err, sizeof err), CLNAS_OK);
    cr_assert_eq(clnas_darts_proxies(&al, 10, 32, &n, NULL, err, sizeof err), CLNAS_OK, "%s", err);
    cr_expect_lt(clnas_net_njacobian(n), 5138 / 2);
    /* by hand: stem 27+1; cell 0 (C=1): pre 1+1, 1+1; 5 sep3 x 2 x (9+1+1); dil3 9+1+1;
       cell 1 (C=2, reduction): pre 2+2, 8+2; skips at stride 1 only (from nodes) and max pools: none;
       lastact 8; classifier 80 */
    size_t want = 28 + 4 + 5 * 22 + 11 + 14 + 8 + 80;
    cr_expect_eq(clnas_net_njacobian(n), want, "P of DARTS_V2's single-path state: %zu, by hand %zu", clnas_net_njacobian(n), want);
    clnas_net_destroy(n);
    for (int o = 0; o < CLNAS_DARTS_NOPS; o++) {
        clnas_darts_remove(&al, 1, 0, o);
        clnas_darts_remove(&al, 1, 1, o);
    }
    cr_expect_eq(clnas_darts_proxies(&al, 10, 32, &n, NULL, err, sizeof err), CLNAS_E_INVALID_ARG);
    cr_expect_null(n);
    cr_expect(strstr(err, "reduction cell's node 0") != NULL, "%s", err);
}

/* Parameter count of DARTS's own network for genotype text g, from PyTorch. */
static void torch_count(const char *g, int C, int layers, int classes, const char *kind, size_t *params, size_t *aux)
{
    char cmd[4096], *out = NULL;
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/../tools/darts_params_torch.py' \"%s\" %d %d %d %s 2>&1", CLNAS_DATA_DIR, g, C,
             layers, classes, kind);
    int rc = tu_run(cmd, &out);
    cr_assert_eq(rc, 0, "%s failed (python3-torch is needed: apt-get install python3-torch):\n%s", cmd, out ? out : "");
    cr_assert_eq(sscanf(out, "params %zu aux %zu", params, aux), 2, "unexpected output: %s", out);
    free(out);
}

Test(darts_net, eval_params_equal_pytorch)
{
#ifdef CLNAS_SANITIZED
    cr_skip_test("the PyTorch cross-check runs in the plain build only");
#else
    static const struct { const char *g; int imagenet, C, layers; } cases[] = {
        {"DARTS_V2", 0, 36, 20}, {"DARTS_V1", 0, 36, 20}, {"PC_DARTS", 0, 36, 20}, {"DARTS_V2", 1, 48, 14}, {"PC_DARTS", 0, 16, 8},
        /* a reduction-heavy, all-sep_conv_5x5 genotype with FactorizedReduce edges */
        {"Genotype(normal=[('sep_conv_5x5', 0), ('dil_conv_5x5', 1), ('avg_pool_3x3', 2), ('skip_connect', 1), ('sep_conv_5x5', 3), "
         "('dil_conv_3x3', 0), ('max_pool_3x3', 4), ('sep_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('skip_connect', 0), "
         "('skip_connect', 1), ('sep_conv_5x5', 0), ('dil_conv_5x5', 1), ('skip_connect', 2), ('sep_conv_5x5', 0), "
         "('dil_conv_3x3', 1), ('avg_pool_3x3', 4)], reduce_concat=[2, 3, 4, 5])", 0, 20, 6},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        clnas_darts_genotype g;
        char err[512], text[2048];
        cr_assert_eq(clnas_darts_genotype_parse(cases[i].g, &g, err, sizeof err), CLNAS_OK, "%s", err);
        clnas_darts_genotype_format(&g, text, sizeof text);
        clnas_darts_eval_config cfg;
        if (cases[i].imagenet) clnas_darts_eval_config_imagenet(&cfg);
        else clnas_darts_eval_config_cifar(&cfg);
        cfg.C = cases[i].C;
        cfg.layers = cases[i].layers;
        clnas_net *n = NULL;
        cr_assert_eq(clnas_darts_eval_build(&cfg, &g, &n, err, sizeof err), CLNAS_OK, "%s", err);
        size_t p, aux;
        torch_count(text, cfg.C, cfg.layers, cfg.classes, cfg.imagenet ? "imagenet" : "cifar", &p, &aux);
        cr_expect_eq(clnas_net_nparams(n), p, "case %zu: clnas %zu, PyTorch %zu", i, clnas_net_nparams(n), p);
        cr_expect_eq(clnas_darts_aux_params(&cfg, &g), aux, "case %zu aux: clnas %zu, PyTorch %zu", i,
                     clnas_darts_aux_params(&cfg, &g), aux);
        clnas_net_destroy(n);
    }
#endif
}

Test(darts_net, cli_net_prints_the_count)
{
    char *out = NULL;
    int rc = tu_run("'" CLNAS_BIN "' net --space darts --genotype DARTS_V2 2>&1", &out);
    cr_assert_eq(rc, 0, "%s", out);
    cr_expect(strstr(out, "total parameters: 3,349,342") != NULL, "DARTS's own count (its paper: 3.3M):\n%.2000s", out);
    cr_expect(strstr(out, "cells.6.preprocess0") != NULL, "cells are listed");
    free(out);
    rc = tu_run("'" CLNAS_BIN "' net --space darts --genotype \"Genotype(normal=[('sep_conv_9x9', 0)\" 2>&1", &out);
    cr_expect_eq(rc, 2);
    cr_expect(strstr(out, "position 20") && strstr(out, "not 'sep_conv_9x9'"), "%s", out);
    free(out);
}

/* ---------------- search trace ---------------- */
#include "report/trace_darts.h"

Test(darts_trace, round_trip_and_partial_last_line)
{
    char dir[256], path[512], err[4800];
    tu_mkdtemp(dir, sizeof dir, "clnas_dtrace");
    snprintf(path, sizeof path, "%s/trace.jsonl", dir);
    darts_trace_writer *w = NULL;
    cr_assert_eq(darts_trace_open(path, &w, err, sizeof err), CLNAS_OK, "%s", err);
    const clnas_darts_search_sink *sk = darts_trace_sink(w);
    clnas_darts_search_opts o;
    clnas_darts_search_opts_default(&o);
    o.edge_ntk_refresh = 1;
    sk->begin(sk->ud, &o);
    clnas_candidate c[2];
    memset(c, 0, sizeof c);
    c[0].edge = 3;                     /* normal 1<-1 */
    c[0].op = CLNAS_DARTS_SEP5;
    c[1].edge = CLNAS_DARTS_EDGES + 13; /* reduce 3<-4 */
    c[1].op = CLNAS_DARTS_MAX3;
    for (int i = 0; i < 2; i++) {
        c[i].dk = 0.1 / 3 + i;
        c[i].dr = -1.0 / 7;
        for (int r = 0; r < 3; r++) {
            c[i].kappa_cur[r] = 1234.5678901234567 + r;
            c[i].kappa_cand[r] = 1e5;
            c[i].r_cur[r] = 2999 - (size_t)r;
            c[i].r_cand[r] = 17;
        }
        c[i].kappa_undefined = i;
        sk->candidate(sk->ud, 1 + i, i ? "edges" : "ops", &c[i], 3);
    }
    c[1].pruned = 1;
    clnas_darts_alpha a;
    clnas_darts_alpha_supernet(&a);
    sk->round(sk->ud, 2, "edges", &a, &a, c, 2);
    cr_assert_eq(darts_trace_close(w, err, sizeof err), CLNAS_OK, "%s", err);
    darts_trace_data td;
    cr_assert_eq(darts_trace_read(path, &td, err, sizeof err), CLNAS_OK, "%s", err);
    cr_expect(td.has_header && td.edge_ntk_refresh && !td.dropped);
    cr_assert_eq(td.n, 2);
    for (int i = 0; i < 2; i++) {
        cr_expect_eq(td.rounds[i], 1 + i);
        cr_expect_eq(td.cands[i].edge, c[i].edge);
        cr_expect_eq(td.cands[i].op, c[i].op);
        cr_expect_eq(td.cands[i].dk, c[i].dk, "bit for bit");
        cr_expect_eq(td.cands[i].dr, c[i].dr);
        cr_expect_eq(td.cands[i].kappa_cur[2], c[i].kappa_cur[2]);
        cr_expect_eq(td.cands[i].r_cur[1], 2998);
        cr_expect_eq(td.cands[i].kappa_undefined, i);
    }
    darts_trace_data_free(&td);
    /* an interrupted write leaves a partial last line: dropped, not an error */
    FILE *f = fopen(path, "a");
    fputs("{\"type\": \"candidate\", \"round\": 3, \"ce", f);
    fclose(f);
    cr_assert_eq(darts_trace_read(path, &td, err, sizeof err), CLNAS_OK, "%s", err);
    cr_expect(td.dropped && td.n == 2);
    darts_trace_data_free(&td);
    /* a bad line in the middle is an error naming the line */
    f = fopen(path, "a");
    fputs("\n{\"type\": \"candidate\"}\n", f);
    fclose(f);
    cr_expect_eq(darts_trace_read(path, &td, err, sizeof err), CLNAS_E_PARSE);
    cr_expect(strstr(err, "trace.jsonl:5") != NULL, "%s", err);
    tu_rmrf(dir);
}

Test(darts_figure, cost_figure_from_a_result_file)
{
    char dir[256], res[512], png[512], cmd[2048], *out = NULL;
    tu_mkdtemp(dir, sizeof dir, "clnas_dfig");
    snprintf(res, sizeof res, "%s/search.json", dir);
    snprintf(png, sizeof png, "%s/cost.png", dir);
    char body[2048];
    snprintf(body, sizeof body, "{\"space\": \"darts\", \"dataset\": \"cifar10\", \"runs\": [{\"space\": \"darts\", \"genotype\": \"%s\", "
             "\"params\": 3349342, \"dataset\": \"cifar10\", \"device\": \"Unit CPU\", \"wall_s\": 812.5, \"seed\": 0}]}", V2);
    tu_write_file(res, body);
    snprintf(cmd, sizeof cmd, "'%s' figure cost --space darts --trace '%s' --out '%s' 2>&1", CLNAS_BIN, res, png);
    int rc = tu_run(cmd, &out);
    cr_assert_eq(rc, 0, "%s", out);
    cr_expect(strstr(out, "TE-NAS") && strstr(out, "4320") && strstr(out, "3349342 parameters"), "%s", out);
    cr_expect_eq(access(png, R_OK), 0);
    free(out);
    /* an NB201 result is refused with a message naming the file */
    tu_write_file(res, "{\"arch\": \"x\", \"wall_s\": 3}");
    rc = tu_run(cmd, &out);
    cr_expect_eq(rc, 1);
    cr_expect(strstr(out, "not a result of clnas search --space darts") != NULL, "%s", out);
    free(out);
    tu_rmrf(dir);
}
