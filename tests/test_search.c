/* test_search.c - the TE-NAS ranking rules on hand-made candidate tables whose answers are
 * worked out by hand, Python's rounding, and a whole (reduced) search on the device. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "clnas/search.h"
#include "core/rng.h"
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

/* ---- the two batch modes ---- */

/* weight-stream keys of search.c, repeated here on purpose: the default mode's results depend
   on them, so a change there must show up as a failing test */
#define KEY_NTK_ROUND 0x4e544b5f726f756eULL
#define KEY_LR_CAND 0x4c525f63616e64ULL
#define KEY_LR_ROUND 0x4c525f726f756e64ULL
#define SEARCH_K 2 /* repeats of the reduced searches below */

static void small_opts(clnas_search_opts *o, uint64_t seed, int shared)
{
    clnas_search_opts_default(o);
    o->score.batch = 4;
    o->score.repeats = SEARCH_K;
    o->score.lr_batch = 50;
    o->score.lr_batches = 1;
    o->score.seed = seed;
    o->quiet = 1;
    o->shared_batches = shared;
}

/* Runs a reduced search writing its trace to dir/name; returns the trace's candidates. */
static clnas_candidate *run_traced(clnas_ctx *ctx, const clnas_dataset *d, const clnas_search_opts *o0, const char *dir,
                                   const char *name, clnas_search_result *res, int *n)
{
    clnas_search_opts o = *o0;
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    o.trace = fopen(path, "w");
    cr_assert_not_null(o.trace, "cannot write %s", path);
    cr_assert_eq(clnas_search_nb201(ctx, d, &o, res), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    fclose(o.trace);
    clnas_candidate *c = NULL;
    int *rounds = NULL;
    cr_assert_eq(clnas_search_load_trace(path, &c, &rounds, n), CLNAS_OK);
    cr_assert_eq(*n, 54);
    for (int i = 0; i < *n; i++) cr_assert_eq(rounds[i], i < 24 ? 1 : i < 42 ? 2 : 3);
    free(rounds);
    int shared = -1;
    cr_assert_eq(clnas_search_trace_mode(path, &shared), CLNAS_OK);
    cr_expect_eq(shared, o.shared_batches, "the trace records the mode");
    return c;
}

/* Weights and evaluators built by hand, independently of search.c's helpers. */
static clnas_ntk *make_ntk(clnas_ctx *ctx, const clnas_nb201_arch *a, const clnas_score_opts *so, uint64_t stream, clnas_net **net)
{
    char err[512];
    cr_assert_eq(clnas_nb201_proxies(a, so->dataset, net, NULL, err, sizeof err), CLNAS_OK, "%s", err);
    float *p = malloc(clnas_net_nparams(*net) * sizeof *p);
    cr_assert_not_null(p);
    clnas_net_init_params(*net, so->seed, stream, so->init, p);
    clnas_ntk_config nc = {so->batch, so->seeds, so->fp64_gram};
    clnas_ntk *k = NULL;
    cr_assert_eq(clnas_ntk_create(ctx, *net, &nc, &k), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    cr_assert_eq(clnas_ntk_set_params(k, p), CLNAS_OK);
    free(p);
    return k;
}

static clnas_lr *make_lr(clnas_ctx *ctx, const clnas_nb201_arch *a, const clnas_score_opts *so, uint64_t stream, clnas_net **net)
{
    char err[512];
    cr_assert_eq(clnas_nb201_proxies(a, so->dataset, NULL, net, err, sizeof err), CLNAS_OK, "%s", err);
    float *p = malloc(clnas_net_nparams(*net) * sizeof *p);
    cr_assert_not_null(p);
    clnas_net_init_params(*net, so->seed, stream, so->init, p);
    clnas_lr *l = NULL;
    cr_assert_eq(clnas_lr_create(ctx, *net, so->lr_batch, &l), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    cr_assert_eq(clnas_lr_set_params(l, p), CLNAS_OK);
    free(p);
    return l;
}

static double kappa_of(clnas_ntk *k, const float *images)
{
    clnas_kappa out;
    cr_assert_eq(clnas_ntk_eval(k, images, &out, NULL, NULL, NULL, NULL, NULL), CLNAS_OK);
    cr_assert_eq(out.status, CLNAS_KAPPA_OK, "the reduced search's kappas are all defined");
    return out.kappa;
}

static size_t regions_of(clnas_lr *l, const float *patches, int n)
{
    size_t r = 0;
    cr_assert_eq(clnas_lr_count(l, patches, n, &r, NULL, NULL), CLNAS_OK);
    return r;
}

/* kappa as the trace prints it (%.10g) */
static void expect_kappa(double traced, double exact, const char *what, int i, int r)
{
    cr_expect(fabs(traced - exact) <= 1e-9 * fabs(exact), "%s of candidate %d, repeat %d: trace %.10g, recomputed %.10g", what, i,
              r, traced, exact);
}

/* Round 1 of a candidate: the supernet (none removed) with op `op` of edge `edge` removed too. */
static clnas_nb201_arch round1_cand(const clnas_candidate *c)
{
    clnas_nb201_arch a;
    for (int e = 0; e < CLNAS_NB201_EDGES; e++) a.ops[e] = 0x1e;
    a.ops[c->edge] &= (unsigned char)~(1u << c->op);
    return a;
}

Test(search, default_mode_is_the_original_procedure)
{
    /* Pins what the default mode computes, independently of search.c: in round 1 candidate i's
       repeat r sees NTK batch i*K+r and patch set i*K+r of the seed's samplers, kappa_cur is the
       supernet with the round's NTK weights on that batch, and the thin nets of candidate i get
       the candidate's own weight stream. Recomputed for the first, second and last candidate. */
    clnas_ctx *ctx = tu_ctx();
    clnas_dataset *d = NULL;
    char err[512], dir[256];
    cr_assert_eq(clnas_dataset_load(CLNAS_DS_CIFAR10, NULL, &d, err, sizeof err), CLNAS_OK, "%s", err);
    tu_mkdtemp(dir, sizeof dir, "clnas_pin");
    clnas_search_opts o;
    small_opts(&o, 5, 0);
    clnas_search_result res;
    int n = 0;
    clnas_candidate *c = run_traced(ctx, d, &o, dir, "trace.jsonl", &res, &n);
    cr_expect_eq(res.kappa_evals, 2L * SEARCH_K * 54, "two kappas per candidate and repeat");
    cr_expect_eq(res.regions_evals, 2L * SEARCH_K * 54, "two region counts per candidate and repeat");

    const clnas_score_opts *so = &o.score;
    clnas_sampler *si = NULL, *sp = NULL;
    cr_assert_eq(clnas_sampler_create(d, so->seed, 0x4e544bu, &si), CLNAS_OK);
    cr_assert_eq(clnas_sampler_create(d, so->seed, 0x4c52u, &sp), CLNAS_OK);
    int hw = clnas_dataset_hw(so->dataset), np = so->lr_batch * so->lr_batches;
    float *img = malloc((size_t)so->batch * 3 * hw * hw * sizeof *img), *pat = malloc((size_t)np * 9 * sizeof *pat);
    cr_assert(img && pat);
    clnas_nb201_arch super;
    for (int e = 0; e < CLNAS_NB201_EDGES; e++) super.ops[e] = 0x1e;
    uint64_t ntk_stream = clnas_key_combine(KEY_NTK_ROUND, 1);
    clnas_net *ncur_net = NULL;
    clnas_ntk *ncur = make_ntk(ctx, &super, so, ntk_stream, &ncur_net);
    for (int i = 0; i < 24; i++) {
        int check = i == 0 || i == 1 || i == 23;
        clnas_nb201_arch a = round1_cand(&c[i]);
        clnas_net *nn = NULL, *ln = NULL, *lcn = NULL;
        clnas_ntk *nk = check ? make_ntk(ctx, &a, so, ntk_stream, &nn) : NULL;
        uint64_t lr_stream = clnas_key_combine(clnas_key_combine(KEY_LR_CAND, 1), (uint64_t)i);
        clnas_lr *lk = check ? make_lr(ctx, &a, so, lr_stream, &ln) : NULL;
        clnas_lr *lc = check ? make_lr(ctx, &super, so, lr_stream, &lcn) : NULL;
        double dk = 0, dr = 0;
        for (int r = 0; r < so->repeats; r++) {
            clnas_sampler_batch(si, so->batch, 1, img, NULL);
            if (!check) continue;
            double kc = kappa_of(ncur, img), kd = kappa_of(nk, img);
            expect_kappa(c[i].kappa_cur[r], kc, "kappa_cur", i, r);
            expect_kappa(c[i].kappa_cand[r], kd, "kappa_cand", i, r);
            dk += clnas_py_round((kc - kd) / kc, 3);
        }
        for (int r = 0; r < so->repeats; r++) {
            clnas_sampler_patches(sp, np, pat);
            if (!check) continue;
            size_t rc = regions_of(lc, pat, np), rd = regions_of(lk, pat, np);
            cr_expect_eq(c[i].r_cur[r], rc, "R_cur of candidate %d, repeat %d: %zu vs %zu", i, r, c[i].r_cur[r], rc);
            cr_expect_eq(c[i].r_cand[r], rd, "R_cand of candidate %d, repeat %d: %zu vs %zu", i, r, c[i].r_cand[r], rd);
            dr += clnas_py_round(((double)rc - (double)rd) / (double)rc, 3);
        }
        if (check) {
            cr_expect_eq(c[i].dk, dk / so->repeats, "dK of candidate %d: %.17g vs %.17g", i, c[i].dk, dk / so->repeats);
            cr_expect_eq(c[i].dr, dr / so->repeats, "dR of candidate %d: %.17g vs %.17g", i, c[i].dr, dr / so->repeats);
            clnas_ntk_destroy(nk);
            clnas_lr_destroy(lk);
            clnas_lr_destroy(lc);
            clnas_net_destroy(nn);
            clnas_net_destroy(ln);
            clnas_net_destroy(lcn);
        }
    }
    clnas_ntk_destroy(ncur);
    clnas_net_destroy(ncur_net);
    clnas_sampler_destroy(si);
    clnas_sampler_destroy(sp);
    free(img);
    free(pat);
    free(c);
    tu_rmrf(dir);
    clnas_dataset_destroy(d);
}

Test(search, shared_batches_share_the_round_data_and_current_scores)
{
    clnas_ctx *ctx = tu_ctx();
    clnas_dataset *d = NULL;
    char err[512], dir[256];
    cr_assert_eq(clnas_dataset_load(CLNAS_DS_CIFAR10, NULL, &d, err, sizeof err), CLNAS_OK, "%s", err);
    tu_mkdtemp(dir, sizeof dir, "clnas_shared");
    clnas_search_opts o;
    small_opts(&o, 5, 1);
    clnas_search_result res, res2;
    int n = 0, n2 = 0;
    clnas_candidate *c = run_traced(ctx, d, &o, dir, "shared.jsonl", &res, &n);
    /* kappa_cur and R_cur once per batch per round, one kappa_cand and R_cand per candidate and
       repeat: K * (54 + 3) instead of the original's 2 * K * 54 */
    cr_expect_eq(res.kappa_evals, (long)SEARCH_K * (54 + 3), "%ld kappa evaluations", res.kappa_evals);
    cr_expect_eq(res.regions_evals, (long)SEARCH_K * (54 + 3), "%ld region counts", res.regions_evals);
    cr_expect_eq(res.candidates, 54);
    cr_assert(clnas_nb201_is_single_path(&res.arch));
    /* every candidate of a round sees the same current scores */
    for (int i = 1; i < n; i++) {
        int first = i < 24 ? 0 : i < 42 ? 24 : 42;
        for (int r = 0; r < SEARCH_K; r++) {
            cr_expect_eq(c[i].kappa_cur[r], c[first].kappa_cur[r], "candidate %d, repeat %d: kappa_cur not shared", i, r);
            cr_expect_eq(c[i].r_cur[r], c[first].r_cur[r], "candidate %d, repeat %d: R_cur not shared", i, r);
        }
    }
    /* the rounds draw fresh batches: round 2 does not reuse round 1's */
    cr_expect(c[24].kappa_cur[0] != c[0].kappa_cur[0]);

    /* recompute round 1 by hand: batch r / patch set r are the seed's first K draws, the NTK nets
       take the round's weights, the thin nets the round's thin-net weights (all candidates) */
    const clnas_score_opts *so = &o.score;
    clnas_sampler *si = NULL, *sp = NULL;
    cr_assert_eq(clnas_sampler_create(d, so->seed, 0x4e544bu, &si), CLNAS_OK);
    cr_assert_eq(clnas_sampler_create(d, so->seed, 0x4c52u, &sp), CLNAS_OK);
    int hw = clnas_dataset_hw(so->dataset), np = so->lr_batch * so->lr_batches;
    size_t isz = (size_t)so->batch * 3 * hw * hw;
    float *img = malloc(SEARCH_K * isz * sizeof *img), *pat = malloc((size_t)SEARCH_K * np * 9 * sizeof *pat);
    cr_assert(img && pat);
    for (int r = 0; r < SEARCH_K; r++) clnas_sampler_batch(si, so->batch, 1, img + r * isz, NULL);
    for (int r = 0; r < SEARCH_K; r++) clnas_sampler_patches(sp, np, pat + (size_t)r * np * 9);
    clnas_nb201_arch super;
    for (int e = 0; e < CLNAS_NB201_EDGES; e++) super.ops[e] = 0x1e;
    uint64_t ntk_stream = clnas_key_combine(KEY_NTK_ROUND, 1), lr_stream = clnas_key_combine(KEY_LR_ROUND, 1);
    clnas_net *n1 = NULL, *n2n = NULL, *l1 = NULL, *l2 = NULL;
    clnas_ntk *kcur = make_ntk(ctx, &super, so, ntk_stream, &n1);
    clnas_lr *lcur = make_lr(ctx, &super, so, lr_stream, &l1);
    int last = 23;
    clnas_nb201_arch a = round1_cand(&c[last]);
    clnas_ntk *kcand = make_ntk(ctx, &a, so, ntk_stream, &n2n);
    clnas_lr *lcand = make_lr(ctx, &a, so, lr_stream, &l2);
    double dk = 0, dr = 0;
    for (int r = 0; r < SEARCH_K; r++) {
        double kc = kappa_of(kcur, img + r * isz), kd = kappa_of(kcand, img + r * isz);
        expect_kappa(c[last].kappa_cur[r], kc, "kappa_cur", last, r);
        expect_kappa(c[last].kappa_cand[r], kd, "kappa_cand", last, r);
        dk += clnas_py_round((kc - kd) / kc, 3);
        size_t rc = regions_of(lcur, pat + (size_t)r * np * 9, np), rd = regions_of(lcand, pat + (size_t)r * np * 9, np);
        cr_expect_eq(c[last].r_cur[r], rc, "R_cur, repeat %d: %zu vs %zu", r, c[last].r_cur[r], rc);
        cr_expect_eq(c[last].r_cand[r], rd, "R_cand, repeat %d: %zu vs %zu", r, c[last].r_cand[r], rd);
        dr += clnas_py_round(((double)rc - (double)rd) / (double)rc, 3);
    }
    cr_expect_eq(c[last].dk, dk / SEARCH_K);
    cr_expect_eq(c[last].dr, dr / SEARCH_K);
    clnas_ntk_destroy(kcur);
    clnas_ntk_destroy(kcand);
    clnas_lr_destroy(lcur);
    clnas_lr_destroy(lcand);
    clnas_net_destroy(n1);
    clnas_net_destroy(n2n);
    clnas_net_destroy(l1);
    clnas_net_destroy(l2);
    clnas_sampler_destroy(si);
    clnas_sampler_destroy(sp);
    free(img);
    free(pat);

    /* same seed, same mode: the same search, value for value */
    clnas_candidate *c2 = run_traced(ctx, d, &o, dir, "shared2.jsonl", &res2, &n2);
    cr_expect_eq(memcmp(&res.arch, &res2.arch, sizeof res.arch), 0);
    cr_expect_eq(res2.kappa_evals, res.kappa_evals);
    for (int i = 0; i < n; i++) cr_expect(c[i].dk == c2[i].dk && c[i].dr == c2[i].dr, "candidate %d differs between runs", i);
    char p1[600], p2[600];
    snprintf(p1, sizeof p1, "%s/shared.jsonl", dir);
    snprintf(p2, sizeof p2, "%s/shared2.jsonl", dir);
    char *t1 = slurp(p1), *t2 = slurp(p2);
    cr_expect_str_eq(t1, t2, "same seed, same mode: the same trace");
    free(t1);
    free(t2);
    free(c);
    free(c2);
    tu_rmrf(dir);
    clnas_dataset_destroy(d);
}

Test(search, library_refuses_to_resume_candidates_of_the_other_mode)
{
    clnas_ctx *ctx = tu_ctx();
    clnas_dataset *d = NULL;
    char err[512];
    cr_assert_eq(clnas_dataset_load(CLNAS_DS_CIFAR10, NULL, &d, err, sizeof err), CLNAS_OK, "%s", err);
    for (int shared = 0; shared < 2; shared++) {
        clnas_search_opts o;
        small_opts(&o, 5, shared);
        clnas_candidate old = cand(0, 1, 0.1, 0.1);
        int round = 1;
        o.resume = &old;
        o.resume_round = &round;
        o.nresume = 1;
        o.resume_shared_batches = !shared;
        clnas_search_result r;
        cr_expect_eq(clnas_search_nb201(ctx, d, &o, &r), CLNAS_E_INVALID_ARG);
        cr_expect(strstr(clnas_ctx_errmsg(ctx), "cannot be mixed") != NULL, "%s", clnas_ctx_errmsg(ctx));
        cr_expect_eq(r.kappa_evals, 0, "refused before any work");
    }
    clnas_dataset_destroy(d);
}

Test(search, trace_mode_of_old_and_new_traces)
{
    char dir[256], path[600];
    tu_mkdtemp(dir, sizeof dir, "clnas_tmode");
    snprintf(path, sizeof path, "%s/t.jsonl", dir);
    int shared = -1;
    /* a trace of a clnas that did not record the mode starts with a candidate: the original mode */
    tu_write_file(path, "{\"type\": \"candidate\", \"round\": 1, \"edge\": \"1<-0\", \"op\": \"skip_connect\"}\n");
    cr_expect_eq(clnas_search_trace_mode(path, &shared), CLNAS_OK);
    cr_expect_eq(shared, 0);
    tu_write_file(path, "{\"type\": \"search\", \"batches\": \"shared\"}\n");
    cr_expect_eq(clnas_search_trace_mode(path, &shared), CLNAS_OK);
    cr_expect_eq(shared, 1);
    tu_write_file(path, "{\"type\": \"search\", \"batches\": \"per-candidate\"}\n");
    cr_expect_eq(clnas_search_trace_mode(path, &shared), CLNAS_OK);
    cr_expect_eq(shared, 0);
    tu_write_file(path, "{\"type\": \"search\", \"batches\": \"sometimes\"}\n");
    cr_expect_eq(clnas_search_trace_mode(path, &shared), CLNAS_E_PARSE);
    snprintf(path, sizeof path, "%s/missing.jsonl", dir);
    cr_expect_eq(clnas_search_trace_mode(path, &shared), CLNAS_E_IO);
    tu_rmrf(dir);
    cr_expect_str_eq(clnas_search_batches_name(1), "shared");
    cr_expect_str_eq(clnas_search_batches_name(0), "per-candidate");
}

Test(search, shared_batches_resume_and_refuse_to_mix_modes)
{
    char dir[256], cmd[2048], trace[600], result[600];
    tu_mkdtemp(dir, sizeof dir, "clnas_sresume");
    const char *args = "search --batch 4 --repeat 2 --lr-batch 50 --lr-batches 1 --seed 7 --quiet";
    snprintf(cmd, sizeof cmd, "%s %s --shared-batches --out %s > /dev/null", CLNAS_BIN, args, dir);
    cr_assert_eq(system(cmd), 0);
    snprintf(trace, sizeof trace, "%s/trace_seed7.jsonl", dir);
    snprintf(result, sizeof result, "%s/search_seed7.json", dir);
    char *full = slurp(trace), *res1 = slurp(result);
    cr_expect(strncmp(full, "{\"type\": \"search\", \"space\": \"nb201\", \"batches\": \"shared\"", 54) == 0, "%.200s", full);
    cr_expect(strstr(res1, "\"batches\": \"shared\"") != NULL, "%s", res1);
    cr_expect(strstr(res1, "\"kappa_evals\": 114, \"regions_evals\": 114") != NULL, "%s", res1);
    char sum[600];
    snprintf(sum, sizeof sum, "%s/search.json", dir);
    char *summary = slurp(sum);
    cr_expect(strncmp(summary, "{\"space\": \"nb201\", \"batches\": \"shared\"", 38) == 0, "%.200s", summary);
    free(summary);

    /* the finished seed was searched with shared batches: a run without the option refuses it */
    char *out = NULL;
    snprintf(cmd, sizeof cmd, "%s %s --out %s 2>&1", CLNAS_BIN, args, dir);
    cr_expect_eq(tu_run(cmd, &out), 1);
    cr_expect(strstr(out, "search_seed7.json was searched with shared batches") && strstr(out, "cannot mix"), "%s", out);
    free(out);

    /* interrupt in round 2 (header, 24 candidates, 1 round line, 4 candidates and a half) */
    char *cut = full;
    for (int i = 0; i < 30; i++) cut = strchr(cut, '\n') + 1;
    size_t keep = (size_t)(cut - full) + 40;
    FILE *f = fopen(trace, "w");
    cr_assert_not_null(f);
    fwrite(full, 1, keep, f);
    fclose(f);
    cr_assert_eq(remove(result), 0);
    /* resuming it without --shared-batches is refused, and leaves the trace as it was */
    cr_expect_eq(tu_run(cmd, &out), 1);
    cr_expect(strstr(out, "28 candidates scored with shared batches") && strstr(out, "cannot mix"), "%s", out);
    free(out);
    char *after = slurp(trace);
    cr_expect(strlen(after) == keep && !strncmp(after, full, keep), "a refused resume must not touch the trace");
    free(after);
    /* with --shared-batches it resumes, and ends where the uninterrupted search ended */
    snprintf(cmd, sizeof cmd, "%s %s --shared-batches --out %s 2>&1", CLNAS_BIN, args, dir);
    cr_expect_eq(tu_run(cmd, &out), 0);
    cr_expect(strstr(out, "resuming") != NULL, "%s", out);
    free(out);
    char *again = slurp(trace), *res2 = slurp(result);
    cr_expect_str_eq(again, full, "the resumed trace must equal the uninterrupted one");
    char *a1 = strstr(res1, "\"arch\""), *a2 = strstr(res2, "\"arch\"");
    cr_assert(a1 && a2);
    cr_expect_eq(strncmp(a1, a2, (size_t)(strchr(a1 + 9, '"') - a1)), 0, "same architecture after resuming");
    /* the resumed run computed only the rest: in round 2 its shared kappa_cur / R_cur (K = 2)
       and 14 candidates x K, in round 3 K + 12 x K: 30 + 26 */
    cr_expect(strstr(res2, "\"kappa_evals\": 56, \"regions_evals\": 56") != NULL, "%s", res2);
    free(full); free(res1); free(again); free(res2);
    tu_rmrf(dir);
}
