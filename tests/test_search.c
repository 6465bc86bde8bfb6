/* test_search.c - the TE-NAS ranking rules on hand-made candidate tables whose answers are
 * worked out by hand, Python's rounding, and a whole (reduced) search on the device. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "clnas/search.h"
#include "util/testutil.h"

Test(search, python_round_half_even_on_the_exact_double)
{
    cr_expect_eq(clnas_py_round(0.0625, 3), 0.062);   /* exact tie -> even */
    cr_expect_eq(clnas_py_round(0.0635, 3), 0.064);   /* 0.0635 is 0.063500000000000000888... in binary */
    cr_expect_eq(clnas_py_round(2.675, 2), 2.67);     /* Python's documented example */
    cr_expect_eq(clnas_py_round(-0.0005, 3), -0.001); /* -0.000500000000000000010... */
    cr_expect_eq(clnas_py_round(1.0005, 3), 1.0);     /* 1.000499999... */
    cr_expect_eq(clnas_py_round(0.1235, 3), 0.123);   /* 0.12349999999999999866... (values checked with Python 3.11) */
    cr_expect_eq(clnas_py_round(-1.0 / 3.0, 3), -0.333);
    cr_expect(clnas_py_round(0.0, 3) == 0.0);
    /* 3 significant figures, TE-NAS's round_to */
    cr_expect(fabs(clnas_round_sig(0.12345, 3) - 0.123) < 1e-15);
    cr_expect(fabs(clnas_round_sig(-0.5, 3) + 0.5) < 1e-15);
    cr_expect(fabs(clnas_round_sig(1234.5, 3) - 1230.0) < 1e-9);
    cr_expect(fabs(clnas_round_sig(0.0012349, 3) - 0.00123) < 1e-15);
    cr_expect_eq(clnas_round_sig(0.0, 3), 0.0);
}

static clnas_candidate cand(int edge, int op, double dk, double dr)
{
    clnas_candidate c;
    memset(&c, 0, sizeof c);
    c.edge = edge;
    c.op = op;
    c.dk = dk;
    c.dr = dr;
    return c;
}

Test(search, ranking_rules_on_a_hand_made_table)
{
    /* dK descending: c1 0.3, c2 0.3 (stable: c1 first), c0 0.1, c3 -0.2 -> dense ranks 0, 0, 1, 2
       dR ascending:  c1 -0.1, c3 -0.1, c0 0.0, c2 0.2              -> dense ranks 0, 0, 1, 2
       sums: c0 1+1 = 2, c1 0+0 = 0, c2 0+2 = 2, c3 2+0 = 2
       stable sort by sum over the dK order [c1, c2, c0, c3]: c1, c2, c0, c3
       first per edge: edge 0 -> c1, edge 1 -> c2 */
    clnas_candidate c[4] = {cand(0, 1, 0.1, 0.0), cand(0, 2, 0.3, -0.1), cand(1, 1, 0.3, 0.2), cand(1, 3, -0.2, -0.1)};
    clnas_search_rank(c, 4, 1);
    int rk[4] = {1, 0, 0, 2}, rr[4] = {1, 0, 2, 0}, order[4] = {2, 0, 1, 3}, pruned[4] = {0, 1, 1, 0};
    for (int i = 0; i < 4; i++) {
        cr_expect_eq(c[i].rank_k, rk[i], "c%d rank_k %d", i, c[i].rank_k);
        cr_expect_eq(c[i].rank_r, rr[i], "c%d rank_r %d", i, c[i].rank_r);
        cr_expect_eq(c[i].order, order[i], "c%d order %d", i, c[i].order);
        cr_expect_eq(c[i].pruned, pruned[i], "c%d pruned %d", i, c[i].pruned);
    }
}

Test(search, sort_key_is_rounded_but_dense_rank_uses_exact_values)
{
    /* keys round_to(0.12339) = round_to(0.12341) = 0.123: a tie for the sort, which keeps c0 first;
       the exact values differ, so c1 gets the next rank even though it is larger (the original's quirk) */
    clnas_candidate c[3] = {cand(0, 1, 0.12339, 0.5), cand(0, 2, 0.12341, 0.5), cand(0, 3, 0.05, 0.5)};
    clnas_search_rank(c, 3, 1);
    cr_expect_eq(c[0].rank_k, 0);
    cr_expect_eq(c[1].rank_k, 1);
    cr_expect_eq(c[2].rank_k, 2);
    /* all dR equal: one rank */
    for (int i = 0; i < 3; i++) cr_expect_eq(c[i].rank_r, 0);
    cr_expect(c[0].pruned && !c[1].pruned && !c[2].pruned);
    /* two ops per edge pruned when k_prune = 2 */
    clnas_candidate d[4] = {cand(2, 1, 0.4, 0), cand(2, 2, 0.3, 0), cand(2, 3, 0.2, 0), cand(2, 4, 0.1, 0)};
    clnas_search_rank(d, 4, 2);
    cr_expect(d[0].pruned && d[1].pruned && !d[2].pruned && !d[3].pruned);
}

Test(search, reduced_search_runs_end_to_end_and_is_deterministic)
{
    clnas_ctx *ctx = tu_ctx();
    clnas_dataset *d = NULL;
    char err[512];
    cr_assert_eq(clnas_dataset_load(CLNAS_DS_CIFAR10, NULL, &d, err, sizeof err), CLNAS_OK, "%s", err);
    clnas_search_opts o;
    clnas_search_opts_default(&o);
    o.score.batch = 4;
    o.score.repeats = 1;
    o.score.lr_batch = 50;
    o.score.lr_batches = 1;
    o.score.seed = 1;
    o.quiet = 1;
    char *buf = NULL;
    size_t len = 0;
    o.trace = open_memstream(&buf, &len);
    clnas_search_result r1, r2;
    cr_assert_eq(clnas_search_nb201(ctx, d, &o, &r1), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    fclose(o.trace);
    o.trace = NULL;
    cr_assert(clnas_nb201_is_single_path(&r1.arch));
    cr_expect_eq(r1.rounds, 3);
    cr_expect_eq(r1.candidates, 24 + 18 + 12);
    for (int e = 0; e < CLNAS_NB201_EDGES; e++) cr_expect_eq(r1.arch.ops[e] & 1, 0, "none is removed up front");
    /* the trace: 54 candidate lines and 3 round lines */
    int ncand = 0, nround = 0;
    for (char *p = buf; (p = strstr(p, "\"type\": ")); p++) {
        if (!strncmp(p + 8, "\"candidate\"", 11)) ncand++;
        if (!strncmp(p + 8, "\"round\"", 7)) nround++;
    }
    cr_expect_eq(ncand, 54);
    cr_expect_eq(nround, 3);
    free(buf);
    cr_assert_eq(clnas_search_nb201(ctx, d, &o, &r2), CLNAS_OK);
    cr_expect_eq(memcmp(&r1.arch, &r2.arch, sizeof r1.arch), 0, "same seed, same device: same architecture");
    clnas_dataset_destroy(d);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert(f, "cannot open %s", path);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return strdup(buf);
}

Test(search, interrupted_search_resumes_from_its_trace)
{
    char dir[] = "/tmp/clnas_resumeXXXXXX", cmd[2048], trace[600], result[600];
    cr_assert(mkdtemp(dir));
    const char *args = "search --batch 4 --repeat 2 --lr-batch 50 --lr-batches 1 --seed 7 --quiet";
    snprintf(cmd, sizeof cmd, "%s %s --out %s > /dev/null", CLNAS_BIN, args, dir);
    cr_assert_eq(system(cmd), 0);
    snprintf(trace, sizeof trace, "%s/trace_seed7.jsonl", dir);
    snprintf(result, sizeof result, "%s/search_seed7.json", dir);
    char *full = slurp(trace), *res1 = slurp(result);
    /* interrupt: keep 30 lines and half of the 31st, drop the result */
    char *cut = full;
    for (int i = 0; i < 30; i++) cut = strchr(cut, '\n') + 1;
    FILE *f = fopen(trace, "w");
    fwrite(full, 1, (size_t)(cut - full) + 40, f);
    fclose(f);
    cr_assert_eq(remove(result), 0);
    snprintf(cmd, sizeof cmd, "%s %s --out %s > %s/out.txt", CLNAS_BIN, args, dir, dir);
    cr_assert_eq(system(cmd), 0);
    char *again = slurp(trace), *res2 = slurp(result);
    cr_expect_str_eq(again, full, "the resumed trace must equal the uninterrupted one");
    char *a1 = strstr(res1, "\"arch\""), *a2 = strstr(res2, "\"arch\"");
    cr_assert(a1 && a2);
    cr_expect_eq(strncmp(a1, a2, (size_t)(strchr(a1 + 9, '"') - a1)), 0, "same architecture after resuming");
    snprintf(cmd, sizeof cmd, "%s/out.txt", dir);
    char *out = slurp(cmd);
    cr_expect(strstr(out, "resuming") != NULL, "%s", out);
    free(full); free(res1); free(again); free(res2); free(out);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}
