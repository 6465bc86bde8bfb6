/* test_darts.c - the DARTS space: genotype notation (round trips, named genotypes, positioned
 * errors), the supernet state (edge order, MixedOp weights, JSON form, checks), the networks'
 * sizes (TE-NAS's proxies, §10.6) and parameter counts against a PyTorch build of DARTS's
 * evaluation networks (tools/darts_params_torch.py). */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
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

#ifndef CLNAS_SANITIZED
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
#endif

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
    cr_assert_eq(darts_trace_open(path, NULL, &w, err, sizeof err), CLNAS_OK, "%s", err);
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
        c[i].cost_s = i ? NAN : 2.5; /* the second: unknown (not written) */
        c[i].cost_gflop = 0.125;
        c[i].cost_kappa_evals = 6;
        c[i].cost_regions_evals = 6;
        sk->candidate(sk->ud, 1 + i, i ? "edges" : "ops", &c[i], 3);
    }
    c[1].pruned = 1;
    clnas_darts_alpha a;
    clnas_darts_alpha_supernet(&a);
    sk->round(sk->ud, 2, "edges", &a, &a, c, 2);
    cr_assert_eq(darts_trace_close(w, err, sizeof err), CLNAS_OK, "%s", err);
    clnas_trace_data td;
    cr_assert_eq(darts_trace_read(path, &td, err, sizeof err), CLNAS_OK, "%s", err);
    cr_expect(td.has_header && !td.dropped);
    cr_expect_str_eq(clnas_json_get_str(td.header, "edge_ntk", ""), "refresh");
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
    cr_expect_eq(td.cands[0].cost_s, 2.5);
    cr_expect_eq(td.cands[0].cost_gflop, 0.125);
    cr_expect_eq(td.cands[0].cost_kappa_evals, 6);
    cr_expect(isnan(td.cands[1].cost_s), "no cost written for an unknown one");
    clnas_trace_data_free(&td);
    /* an interrupted write leaves a partial last line: dropped, not an error */
    FILE *f = fopen(path, "a");
    fputs("{\"type\": \"candidate\", \"round\": 3, \"ce", f);
    fclose(f);
    cr_assert_eq(darts_trace_read(path, &td, err, sizeof err), CLNAS_OK, "%s", err);
    cr_expect(td.dropped && td.n == 2);
    clnas_trace_data_free(&td);
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

/* ---------------- scores against PyTorch, and the search ---------------- */
#include "clnas/search_darts.h"

#ifndef CLNAS_SANITIZED
/* clnas score --space darts STATE --dump, then tools/verify_torch.py on the dump. */
static void verify_state(const char *state_args)
{
    char dir[256], cmd[4096], *out = NULL;
    tu_mkdtemp(dir, sizeof dir, "clnas_dvt");
    const char *td = getenv("CLNAS_TEST_DEVICE");
    if (td && *td && !getenv("CLNAS_DEVICE")) setenv("CLNAS_DEVICE", td, 1);
    snprintf(cmd, sizeof cmd, "'%s' score --space darts %s --batch 6 --repeat 1 --lr-batch 500 --lr-batches 1 --dump '%s/d' 2>&1",
             CLNAS_BIN, state_args, dir);
    int rc = tu_run(cmd, &out);
    cr_assert_eq(rc, 0, "%s failed:\n%s", cmd, out);
    free(out);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/../tools/verify_torch.py' '%s/d' 2>&1", CLNAS_DATA_DIR, dir);
    rc = tu_run(cmd, &out);
    cr_expect_eq(rc, 0, "verify_torch.py failed for %s (python3-torch needed):\n%s", state_args, out);
    /* R exactly equal; single code bits may differ where a ReLU input is 0 up to rounding (fp32 vs fp64) */
    cr_expect(strstr(out, "verdict: PASS") != NULL, "%s", out);
    free(out);
    tu_rmrf(dir);
}
#endif

Test(darts_torch, kappa_and_regions_match_pytorch, .timeout = 300)
{
#ifdef CLNAS_SANITIZED
    cr_skip_test("the PyTorch cross-check runs in the plain build only");
#else
    char dir[256], path[512];
    tu_mkdtemp(dir, sizeof dir, "clnas_dalpha");
    snprintf(path, sizeof path, "%s/half.json", dir);
    /* a half-pruned state: every other op removed, by edge parity, different in the two cells */
    clnas_darts_alpha al;
    clnas_darts_alpha_supernet(&al);
    for (int c = 0; c < 2; c++)
        for (int e = 0; e < CLNAS_DARTS_EDGES; e++)
            for (int o = 1; o < CLNAS_DARTS_NOPS; o++)
                if ((o + e + c) % 2) clnas_darts_remove(&al, c, e, o);
    char *js = clnas_darts_alpha_to_json(&al);
    tu_write_file(path, js);
    free(js);
    char arg[600];
    verify_state("--alpha supernet");
    snprintf(arg, sizeof arg, "--alpha '%s'", path);
    verify_state(arg);
    verify_state("--genotype DARTS_V2"); /* a single-path state */
    /* reduction-heavy: FactorizedReduce edges, 5x5 and dilated convs, pools and a `none` */
    verify_state("--genotype \"Genotype(normal=[('skip_connect', 0), ('skip_connect', 1), ('avg_pool_3x3', 0), ('max_pool_3x3', 1), "
                 "('skip_connect', 2), ('dil_conv_5x5', 3), ('sep_conv_5x5', 4), ('none', 0)], normal_concat=[2, 3, 4, 5], "
                 "reduce=[('skip_connect', 0), ('sep_conv_5x5', 1), ('dil_conv_3x3', 0), ('max_pool_3x3', 1), ('avg_pool_3x3', 0), "
                 "('skip_connect', 1), ('sep_conv_3x3', 1), ('dil_conv_5x5', 0)], reduce_concat=[2, 3, 4, 5])\"");
    tu_rmrf(dir);
#endif
}

#ifndef CLNAS_SANITIZED
/* A sink that keeps every candidate with its round. */
typedef struct keep {
    clnas_candidate c[400];
    int round[400];
    int n;
} keep;

static void keep_candidate(void *ud, int round, const char *phase, const clnas_candidate *c, int repeats)
{
    (void)phase;
    (void)repeats;
    keep *k = ud;
    if (k->n < 400) {
        k->c[k->n] = *c;
        k->round[k->n++] = round;
    }
}

static int refresh_edges; /* opts.edge_ntk_refresh of short_search */

static clnas_status short_search(const clnas_dataset *d, const clnas_darts_alpha *start, const keep *resume, int nresume,
                                 keep *out, clnas_darts_search_result *res)
{
    clnas_darts_search_opts o;
    clnas_darts_search_opts_default(&o);
    o.edge_ntk_refresh = refresh_edges;
    o.score.batch = 4;
    o.score.repeats = 1;
    o.score.lr_batch = 100;
    o.score.lr_batches = 1;
    o.quiet = 1;
    o.start = start;
    clnas_darts_search_sink sink = {out, NULL, keep_candidate, NULL};
    o.trace = &sink;
    if (resume) {
        o.resume = resume->c;
        o.resume_round = resume->round;
        o.nresume = nresume;
    }
    out->n = 0;
    return clnas_search_darts(tu_ctx(), d, &o, res);
}
#endif

Test(darts_search, shortened_search_and_resume, .timeout = 300)
{
#ifdef CLNAS_SANITIZED
    cr_skip_test("searches run in the plain build only");
#else
    clnas_dataset *d = NULL;
    char err[512];
    cr_assert_eq(clnas_dataset_load(CLNAS_DS_CIFAR10, NULL, &d, err, sizeof err), CLNAS_OK, "%s", err);
    /* start from two ops per edge (skip_connect, avg_pool_3x3): one op round (56 candidates),
       then the edge phase (2 x (3 + 4 + 5) = 24) */
    clnas_darts_alpha start;
    clnas_darts_alpha_supernet(&start);
    for (int c = 0; c < 2; c++)
        for (int e = 0; e < CLNAS_DARTS_EDGES; e++)
            for (int o = 2; o < CLNAS_DARTS_NOPS; o++)
                if (o != CLNAS_DARTS_AVG3) clnas_darts_remove(&start, c, e, o);
    static keep full, part;
    clnas_darts_search_result a, b;
    cr_assert_eq(short_search(d, &start, NULL, 0, &full, &a), CLNAS_OK, "%s", clnas_ctx_errmsg(tu_ctx()));
    cr_expect_eq(a.op_rounds, 1);
    cr_expect_eq(a.op_candidates, 56);
    cr_expect_eq(a.edge_candidates, 24);
    cr_expect_eq(a.candidates, 80);
    cr_expect_eq(a.kappa_evals, 160);
    cr_expect_eq(a.rounds, 7);
    cr_assert_eq(full.n, 80);
    /* the final state: every node keeps exactly 2 incoming edges of one op each */
    for (int c = 0; c < 2; c++)
        for (int node = 0; node < CLNAS_DARTS_STEPS; node++) {
            int live = 0;
            for (int j = 0; j < node + 2; j++) {
                int k = clnas_darts_edge_count(&a.alpha, c, clnas_darts_edge_index(node, j));
                cr_expect(k <= 1);
                live += k;
            }
            cr_expect_eq(live, 2, "cell %d node %d keeps %d edges", c, node, live);
        }
    /* interrupted in the op round and in the edge phase: resuming gives the same search */
    int cuts[2] = {30, 70};
    for (int t = 0; t < 2; t++) {
        cr_assert_eq(short_search(d, &start, &full, cuts[t], &part, &b), CLNAS_OK, "%s", clnas_ctx_errmsg(tu_ctx()));
        cr_expect(!memcmp(&a.alpha, &b.alpha, sizeof a.alpha), "cut %d: another final state", cuts[t]);
        cr_expect_eq(b.kappa_evals, 2 * (80 - cuts[t]));
        cr_assert_eq(part.n, 80);
        for (int i = cuts[t]; i < 80; i++) {
            cr_expect_eq(part.c[i].dk, full.c[i].dk, "cut %d candidate %d: dK %g vs %g", cuts[t], i, part.c[i].dk, full.c[i].dk);
            cr_expect_eq(part.c[i].dr, full.c[i].dr, "cut %d candidate %d", cuts[t], i);
        }
    }
    /* --edge-ntk-refresh: the same op round and the same first node; later nodes compare their
       candidates with a rebuilt current network, so their kappa_cur may differ */
    refresh_edges = 1;
    cr_assert_eq(short_search(d, &start, &full, 56, &part, &b), CLNAS_OK, "%s", clnas_ctx_errmsg(tu_ctx()));
    refresh_edges = 0;
    cr_expect_eq(b.candidates, 80);
    /* candidates 56-58: the normal cell's node 1 (3 edges), 59-62 its node 2, 63-67 its node 3 */
    for (int i = 56; i < 59; i++) cr_expect_eq(part.c[i].kappa_cur[0], full.c[i].kappa_cur[0], "node 1's current network");
    int differ = 0;
    for (int i = 59; i < 68; i++) differ |= part.c[i].kappa_cur[0] != full.c[i].kappa_cur[0];
    cr_expect(differ, "a rebuilt current network for nodes 2 and 3 of the normal cell");
    clnas_dataset_destroy(d);
#endif
}

/* A shortened ImageNet search through the command: a small ImageNet-style JPEG folder made from
 * the bundled CIFAR images (PIL), a start state of one op per edge (edge phase only). */
Test(darts_search, imagenet_folder_search_cli, .timeout = 300)
{
#ifdef CLNAS_SANITIZED
    cr_skip_test("searches run in the plain build only");
#else
    char dir[256], path[600], cmd[4096], *out = NULL;
    tu_mkdtemp(dir, sizeof dir, "clnas_dimnet");
    snprintf(path, sizeof path, "%s/make.py", dir);
    snprintf(cmd, sizeof cmd,
             "import numpy as np, os\nfrom PIL import Image\n"
             "raw = np.fromfile('%s/cifar10/train_10k.bin', np.uint8).reshape(-1, 3073)\n"
             "for k, c in enumerate(['n01', 'n02', 'n03']):\n"
             "    os.makedirs('%s/tree/' + c)\n"
             "    for j, i in enumerate([i for i in range(len(raw)) if raw[i, 0] == k][:10]):\n"
             "        Image.fromarray(raw[i, 1:].reshape(3, 32, 32).transpose(1, 2, 0)).resize((48, 40)).save("
             "'%s/tree/%%s/i%%d.JPEG' %% (c, j))\n",
             CLNAS_DATA_DIR, dir, dir);
    tu_write_file(path, cmd);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' 2>&1", path);
    int rc = tu_run(cmd, &out);
    cr_assert_eq(rc, 0, "building the JPEG folder failed (python3-pil and python3-numpy needed):\n%s", out);
    free(out);
    clnas_darts_alpha al;
    clnas_darts_alpha_supernet(&al);
    for (int c = 0; c < 2; c++)
        for (int e = 0; e < CLNAS_DARTS_EDGES; e++)
            for (int o = 1; o < CLNAS_DARTS_NOPS; o++)
                if (o != (e % 2 ? CLNAS_DARTS_SKIP : CLNAS_DARTS_MAX3)) clnas_darts_remove(&al, c, e, o);
    char *js = clnas_darts_alpha_to_json(&al);
    snprintf(path, sizeof path, "%s/start.json", dir);
    tu_write_file(path, js);
    free(js);
    snprintf(cmd, sizeof cmd, "'%s' search --space darts --dataset imagenet --data '%s/tree' --alpha '%s' --batch 4 --repeat 1 "
             "--lr-batch 100 --lr-batches 1 --out '%s/runs' 2>&1", CLNAS_BIN, dir, path, dir);
    rc = tu_run(cmd, &out);
    cr_assert_eq(rc, 0, "%s\n%s", cmd, out);
    cr_expect(strstr(out, "30 images, 3 classes") && strstr(out, "2 ops pruned per edge") && strstr(out, "24 candidates"), "%s", out);
    cr_expect(strstr(out, "seed 0: Genotype(normal=[") != NULL, "%s", out);
    free(out);
    snprintf(path, sizeof path, "%s/runs/search_seed0.json", dir);
    cr_expect_eq(access(path, R_OK), 0);
    snprintf(cmd, sizeof cmd, "grep -c '\"phase\": \"edges\"' '%s/runs/trace_seed0.jsonl'", dir);
    rc = tu_run(cmd, &out);
    cr_expect(rc == 0 && atoi(out) == 24 + 6, "candidate and round lines of the edge phase: %s", out);
    free(out);
    /* the same --out with other settings: the finished seed is not taken for this search */
    snprintf(cmd, sizeof cmd, "'%s' search --space darts --dataset imagenet --data '%s/tree' --alpha '%s/start.json' --batch 6 "
             "--repeat 1 --lr-batch 100 --lr-batches 1 --out '%s/runs' 2>&1", CLNAS_BIN, dir, dir, dir);
    rc = tu_run(cmd, &out);
    cr_expect_eq(rc, 1, "%s", out);
    cr_expect(strstr(out, "was computed with other settings: batch 4 (this run: 6)") != NULL, "%s", out);
    free(out);
    tu_rmrf(dir);
#endif
}

#ifndef CLNAS_SANITIZED
/* Rewrites a trace as clnas before per-candidate costs wrote it: no "cost" and no
 * "regions_undefined" in candidate lines, no "data", "device" and "version" in the search line. */
static void make_old_format(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert(f != NULL, "%s", path);
    char *line = NULL, *text = calloc(1, 1);
    size_t cap = 0, len = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *j = json_loads(line, 0, NULL);
        cr_assert(j != NULL, "%s", line);
        static const char *const drop[] = {"cost", "regions_undefined", "data", "device", "version"};
        for (int k = 0; k < 5; k++) json_object_del(j, drop[k]);
        char *d = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(17));
        text = realloc(text, len + strlen(d) + 2);
        len += (size_t)sprintf(text + len, "%s\n", d);
        free(d);
        json_decref(j);
    }
    free(line);
    fclose(f);
    tu_write_file(path, text);
    free(text);
}
#endif

/* Through the command: the trace records each candidate's cost; a search interrupted after 10
 * candidates resumes from a trace in the older format (no costs, no data/device/version) with
 * warnings and ends at the genotype of an uninterrupted run. Edge phase only (24 candidates). */
Test(darts_search, cli_cost_in_trace_and_resume_from_old_trace, .timeout = 300)
{
#ifdef CLNAS_SANITIZED
    cr_skip_test("searches run in the plain build only");
#else
    char dir[256], path[600], cmd[4096], *out = NULL, geno[1400] = "";
    tu_mkdtemp(dir, sizeof dir, "clnas_doldtrace");
    clnas_darts_alpha al;
    clnas_darts_alpha_supernet(&al);
    for (int c = 0; c < 2; c++)
        for (int e = 0; e < CLNAS_DARTS_EDGES; e++)
            for (int o = 1; o < CLNAS_DARTS_NOPS; o++)
                if (o != (e % 3 ? CLNAS_DARTS_SEP3 : CLNAS_DARTS_AVG3)) clnas_darts_remove(&al, c, e, o);
    char *js = clnas_darts_alpha_to_json(&al);
    snprintf(path, sizeof path, "%s/start.json", dir);
    tu_write_file(path, js);
    free(js);
    const char *runs[3] = {"full", "part", "part"};
    for (int k = 0; k < 3; k++) {
        snprintf(cmd, sizeof cmd, "%s '%s' search --space darts --alpha '%s' --batch 4 --repeat 1 --lr-batch 100 "
                 "--lr-batches 1 --out '%s/%s' 2>&1", k == 1 ? "CLNAS_STOP_AFTER=10" : "", CLNAS_BIN, path, dir, runs[k]);
        int rc = tu_run(cmd, &out);
        cr_assert_eq(rc, k == 1 ? 75 : 0, "%s\n%s", cmd, out);
        char *g = strstr(out, "seed 0: Genotype(");
        if (k == 0) {
            cr_assert(g != NULL, "%s", out);
            snprintf(geno, sizeof geno, "%.*s", (int)strcspn(g, "\n"), g);
        } else if (k == 1) { /* the interrupted trace: every candidate line has its cost */
            char tp[700];
            snprintf(tp, sizeof tp, "%s/part/trace_seed0.jsonl", dir);
            clnas_trace_data td;
            char err[4800];
            cr_assert_eq(darts_trace_read(tp, &td, err, sizeof err), CLNAS_OK, "%s", err);
            cr_expect_eq(td.n, 10);
            for (int i = 0; i < td.n; i++)
                cr_expect(td.cands[i].cost_s > 0 && td.cands[i].cost_kappa_evals == 2 && td.cands[i].cost_regions_evals == 2 &&
                          td.cands[i].cost_gflop > 0, "candidate %d: cost %g s, %ld kappa, %ld R, %g GFLOP", i,
                          td.cands[i].cost_s, td.cands[i].cost_kappa_evals, td.cands[i].cost_regions_evals,
                          td.cands[i].cost_gflop);
            cr_expect_str_eq(clnas_json_get_str(td.header, "space", ""), "darts");
            cr_expect(json_object_get(td.header, "version") != NULL);
            clnas_trace_data_free(&td);
            make_old_format(tp);
        } else {
            cr_expect(strstr(out, "resuming from") && strstr(out, "(10 candidates already scored)"), "%s", out);
            cr_expect(strstr(out, "does not record data, device, version") != NULL, "%s", out);
            cr_expect(strstr(out, "10 candidates taken over from an interrupted run's trace (their cost is not recorded")
                      != NULL, "%s", out);
            cr_expect(g && !strncmp(g, geno, strlen(geno)), "resumed: %s\nuninterrupted: %s", out, geno);
        }
        free(out);
    }
    /* a finished seed searched otherwise is refused, naming the setting and the flag */
    snprintf(cmd, sizeof cmd, "'%s' search --space darts --alpha '%s' --batch 4 --repeat 1 --lr-batch 100 --lr-batches 1 "
             "--edge-ntk-refresh --out '%s/full' 2>&1", CLNAS_BIN, path, dir);
    cr_expect_eq(tu_run(cmd, &out), 1, "%s", out);
    cr_expect(strstr(out, "edge_ntk \"fixed\" (this run: \"refresh\")") && strstr(out, "(without --edge-ntk-refresh)"), "%s",
              out);
    free(out);
    /* the resumed trace is whole again: 24 candidates, the 14 computed now with their cost */
    snprintf(cmd, sizeof cmd, "grep -c '\"cost\"' '%s/part/trace_seed0.jsonl'", dir);
    tu_run(cmd, &out);
    cr_expect_eq(atoi(out), 14, "%s", out);
    free(out);
    tu_rmrf(dir);
#endif
}

/* `clnas bench --space darts --shapes`: the DARTS kinds have rows of their own with times. */
Test(darts_bench, shapes_lists_the_darts_kinds, .timeout = 120)
{
#ifdef CLNAS_SANITIZED
    cr_skip_test("benchmarks run in the plain build only");
#else
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd, "'%s' bench --space darts --shapes --repeat 1 --batch 4 2>&1", CLNAS_BIN);
    int rc = tu_run(cmd, &out);
    cr_assert_eq(rc, 0, "%s\n%s", cmd, out);
    static const char *const rows[] = {"\ndwconv 1 32x32 k5 s1 d2 ", "\nmaxpool 2 32x32 k3 s2 ", "\nshift 2 32x32 ",
                                       "\nconv 2->1 32x32 k1 s2 ", "\navgpool 1 32x32 k3 s1 "};
    for (int i = 0; i < 5; i++) {
        const char *r = strstr(out, rows[i]);
        cr_expect(r != NULL, "no row %s:\n%s", rows[i] + 1, out);
        if (!r) continue;
        double v[5] = {0};
        int n = sscanf(r + strlen(rows[i]), "%lf %lf %lf %lf %lf", &v[0], &v[1], &v[2], &v[3], &v[4]);
        cr_expect(n == 5 && v[0] >= 1 && v[2] > 0 && v[4] > 0, "row %s: calls, times and s/kappa:\n%s", rows[i] + 1, out);
    }
    cr_expect(strstr(out, "concat") == NULL, "concatenations have no kernel: not listed");
    free(out);
#endif
}

Test(darts_search, ranking_survives_non_finite_values)
{
    /* the search never feeds a non-finite dK/dR to the ranking (an undefined kappa counts as 1e5),
       but the ranking itself must not crash or lose candidates on one either */
    clnas_candidate c[6];
    memset(c, 0, sizeof c);
    const double dk[6] = {0.1, NAN, INFINITY, -INFINITY, 0.1, -0.2};
    for (int i = 0; i < 6; i++) {
        c[i].edge = i % 2 ? CLNAS_DARTS_EDGES + 3 : 5;
        c[i].op = i + 1;
        c[i].dk = dk[i];
        c[i].dr = -dk[i];
    }
    cr_assert_eq(clnas_search_rank(c, 6, 2), CLNAS_OK);
    int seen[6] = {0}, pruned = 0;
    for (int i = 0; i < 6; i++) {
        cr_assert(c[i].order >= 0 && c[i].order < 6);
        seen[c[i].order]++;
        pruned += c[i].pruned;
    }
    for (int i = 0; i < 6; i++) cr_expect_eq(seen[i], 1, "order %d taken %d times", i, seen[i]);
    cr_expect_eq(pruned, 4, "2 per edge");
}

Test(darts_cli, score_errors_and_dump_round_trip, .timeout = 120)
{
    char dir[256], cmd[2048], *out = NULL;
    tu_mkdtemp(dir, sizeof dir, "clnas_dscore");
    int rc = tu_run("'" CLNAS_BIN "' score --genotype DARTS_V2 2>&1", &out);
    cr_expect_eq(rc, 2);
    cr_expect(strstr(out, "add --space darts") != NULL, "%s", out);
    free(out);
    rc = tu_run("'" CLNAS_BIN "' score --space darts --alpha /nonexistent/a.json 2>&1", &out);
    cr_expect_eq(rc, 1);
    cr_expect(strstr(out, "cannot open the alpha file /nonexistent/a.json") != NULL, "%s", out);
    free(out);
    char path[512];
    snprintf(path, sizeof path, "%s/dead.json", dir);
    clnas_darts_alpha al;
    clnas_darts_alpha_supernet(&al);
    for (int o = 0; o < CLNAS_DARTS_NOPS; o++) {
        clnas_darts_remove(&al, 0, 9, o);
        for (int e = 10; e < 14; e++) clnas_darts_remove(&al, 0, e, o);
    }
    char *js = clnas_darts_alpha_to_json(&al);
    tu_write_file(path, js);
    free(js);
    snprintf(cmd, sizeof cmd, "'%s' score --space darts --alpha '%s' 2>&1", CLNAS_BIN, path);
    rc = tu_run(cmd, &out);
    cr_expect_eq(rc, 2, "a state with a dead node is refused before any work");
    cr_expect(strstr(out, "normal cell's node 3 (state 5) has no input left") != NULL, "%s", out);
    free(out);
    /* a dump of a DARTS score recomputes to the same kappa and R */
    snprintf(cmd, sizeof cmd, "'%s' score --space darts --genotype DARTS_V1 --batch 4 --repeat 1 --lr-batch 200 --lr-batches 1 "
             "--json --dump '%s/d' 2>&1", CLNAS_BIN, dir);
    rc = tu_run(cmd, &out);
    cr_assert_eq(rc, 0, "%s", out);
    char *k1 = strstr(out, "\"kappa\": ["), *r1 = strstr(out, "\"regions\": [");
    cr_assert(k1 && r1, "%s", out);
    char a[64], b[64];
    snprintf(a, sizeof a, "%.40s", k1);
    snprintf(b, sizeof b, "%.30s", r1);
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' score --from '%s/d' --json 2>&1", CLNAS_BIN, dir);
    rc = tu_run(cmd, &out);
    cr_assert_eq(rc, 0, "%s", out);
    cr_expect(strstr(out, a) && strstr(out, b), "--from gives %s / %s:\n%s", a, b, out);
    free(out);
    tu_rmrf(dir);
}

Test(darts_search, start_state_that_would_never_shrink_is_refused)
{
    /* edge 0<-0 of the normal cell sets the ops pruned per round (TENAS.md §9.2): with one op
       there and more elsewhere the original would loop forever; clnas refuses */
    clnas_dataset *d = NULL;
    char err[512];
    cr_assert_eq(clnas_dataset_load(CLNAS_DS_CIFAR10, NULL, &d, err, sizeof err), CLNAS_OK, "%s", err);
    clnas_darts_alpha start;
    clnas_darts_alpha_supernet(&start);
    for (int o = 2; o < CLNAS_DARTS_NOPS; o++) clnas_darts_remove(&start, 0, 0, o);
    clnas_darts_search_opts o;
    clnas_darts_search_opts_default(&o);
    o.quiet = 1;
    o.start = &start;
    clnas_darts_search_result r;
    cr_expect_eq(clnas_search_darts(tu_ctx(), d, &o, &r), CLNAS_E_INVALID_ARG);
    cr_expect(strstr(clnas_ctx_errmsg(tu_ctx()), "edge 0<-0 has one op left") != NULL, "%s", clnas_ctx_errmsg(tu_ctx()));
    clnas_dataset_destroy(d);
}
