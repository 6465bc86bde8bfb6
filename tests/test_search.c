/* test_search.c - the TE-NAS ranking rules on hand-made candidate tables whose answers are
 * worked out by hand, Python's rounding, a whole (reduced) search on the device, its trace
 * (written and read back through src/report/trace.c) and the result files of `clnas search`,
 * also for paths that JSON must escape. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "clnas/search.h"
#include "core/rng.h"
#include "report/trace.h"
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
    cr_assert_eq(clnas_search_rank(c, 4, 1), CLNAS_OK);
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
    cr_assert_eq(clnas_search_rank(c, 3, 1), CLNAS_OK);
    cr_expect_eq(c[0].rank_k, 0);
    cr_expect_eq(c[1].rank_k, 1);
    cr_expect_eq(c[2].rank_k, 2);
    /* all dR equal: one rank */
    for (int i = 0; i < 3; i++) cr_expect_eq(c[i].rank_r, 0);
    cr_expect(c[0].pruned && !c[1].pruned && !c[2].pruned);
    /* two ops per edge pruned when k_prune = 2 */
    clnas_candidate d[4] = {cand(2, 1, 0.4, 0), cand(2, 2, 0.3, 0), cand(2, 3, 0.2, 0), cand(2, 4, 0.1, 0)};
    cr_assert_eq(clnas_search_rank(d, 4, 2), CLNAS_OK);
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
    FILE *mem = open_memstream(&buf, &len);
    clnas_trace_writer *w = clnas_trace_writer_stream(mem);
    cr_assert_not_null(w);
    o.trace = clnas_trace_writer_sink(w);
    clnas_search_result r1, r2;
    cr_assert_eq(clnas_search_nb201(ctx, d, &o, &r1), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    cr_assert_eq(clnas_trace_writer_close(w, err, sizeof err), CLNAS_OK, "%s", err);
    fclose(mem);
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

/* A trace without its candidates' "cost" objects (the seconds differ from run to run), in place. */
static char *strip_cost(char *t)
{
    char *p;
    while ((p = strstr(t, ", \"cost\": {")) != NULL) {
        char *q = strchr(p, '}');
        cr_assert(q);
        memmove(p, q + 1, strlen(q + 1) + 1);
    }
    return t;
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
    cr_expect_str_eq(strip_cost(again), strip_cost(full), "the resumed trace must equal the uninterrupted one");
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
    char path[600], err[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    clnas_trace_writer *w = NULL;
    cr_assert_eq(clnas_trace_writer_open(path, &w, err, sizeof err), CLNAS_OK, "%s", err);
    o.trace = clnas_trace_writer_sink(w);
    cr_assert_eq(clnas_search_nb201(ctx, d, &o, res), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    cr_assert_eq(clnas_trace_writer_close(w, err, sizeof err), CLNAS_OK, "%s", err);
    clnas_trace_data t;
    cr_assert_eq(clnas_trace_read(path, &t, err, sizeof err), CLNAS_OK, "%s", err);
    cr_assert_eq(t.n, 54);
    for (int i = 0; i < t.n; i++) cr_assert_eq(t.rounds[i], i < 24 ? 1 : i < 42 ? 2 : 3);
    cr_expect(t.has_header && !t.dropped);
    cr_expect_eq(t.shared_batches, o.shared_batches, "the trace records the mode");
    *n = t.n;
    clnas_candidate *c = t.cands;
    t.cands = NULL;
    clnas_trace_data_free(&t);
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

/* kappa as the trace holds it: 17 significant digits, so it reads back exactly */
static void expect_kappa(double traced, double exact, const char *what, int i, int r)
{
    cr_expect(traced == exact, "%s of candidate %d, repeat %d: trace %.17g, recomputed %.17g", what, i,
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
    cr_expect_str_eq(strip_cost(t1), strip_cost(t2), "same seed, same mode: the same trace");
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

/* ---- the trace (src/report/trace.c) ---- */

/* a candidate line as clnas wrote it before the mode was recorded: kappa with 10 digits */
#define OLD_CAND "{\"type\": \"candidate\", \"round\": 1, \"edge\": \"1<-0\", \"op\": \"skip_connect\", \"dK\": -0.747, " \
                 "\"dR\": -0.41899999999999998, \"kappa_cur\": [20.47587709], \"kappa_cand\": [35.76945868], \"R_cur\": [31], " \
                 "\"R_cand\": [44], \"kappa_undefined\": 0}\n"
#define OLD_CAND2 "{\"type\": \"candidate\", \"round\": 1, \"edge\": \"3<-2\", \"op\": \"avg_pool_3x3\", \"dK\": 0.5, " \
                  "\"dR\": 0, \"kappa_cur\": [1], \"kappa_cand\": [2], \"R_cur\": [3], \"R_cand\": [4], \"kappa_undefined\": 1}\n"
#define ROUND_LINE "{\"type\": \"round\", \"round\": 1, \"arch_before\": \"x\", \"arch_after\": \"y\", \"candidates\": []}\n"

/* Reads path expecting status want; returns the trace (empty on failure) and leaves the message in err. */
static clnas_trace_data read_expect(const char *path, clnas_status want, char *err, size_t errlen)
{
    clnas_trace_data t;
    err[0] = 0;
    clnas_status st = clnas_trace_read(path, &t, err, errlen);
    cr_expect_eq(st, want, "status %d (%s), expected %d: %s", st, clnas_status_str(st), want, err);
    if (st != CLNAS_OK) cr_expect(t.n == 0 && !t.cands && !t.rounds, "a failed read leaves nothing");
    return t;
}

Test(trace, mode_of_old_and_new_traces)
{
    char dir[256], path[600], err[1024];
    tu_mkdtemp(dir, sizeof dir, "clnas_tmode");
    snprintf(path, sizeof path, "%s/t.jsonl", dir);
    /* a trace of a clnas that did not record the mode starts with a candidate: the original mode */
    tu_write_file(path, OLD_CAND);
    clnas_trace_data t = read_expect(path, CLNAS_OK, err, sizeof err);
    cr_expect(!t.has_header && t.shared_batches == 0 && t.n == 1 && !t.dropped);
    cr_expect(t.cands[0].edge == 0 && t.cands[0].op == 1 && t.rounds[0] == 1);
    cr_expect(t.cands[0].dk == -0.747 && t.cands[0].dr == -0.41899999999999998);
    cr_expect(t.cands[0].kappa_cur[0] == 20.47587709 && t.cands[0].kappa_cand[0] == 35.76945868);
    cr_expect(t.cands[0].r_cur[0] == 31 && t.cands[0].r_cand[0] == 44 && t.cands[0].kappa_undefined == 0);
    clnas_trace_data_free(&t);
    tu_write_file(path, "{\"type\": \"search\", \"batches\": \"shared\"}\n" OLD_CAND);
    t = read_expect(path, CLNAS_OK, err, sizeof err);
    cr_expect(t.has_header && t.shared_batches == 1 && t.n == 1);
    clnas_trace_data_free(&t);
    tu_write_file(path, "{\"type\": \"search\", \"batches\": \"per-candidate\"}\n");
    t = read_expect(path, CLNAS_OK, err, sizeof err);
    cr_expect(t.has_header && t.shared_batches == 0 && t.n == 0);
    clnas_trace_data_free(&t);
    tu_write_file(path, "{\"type\": \"search\", \"batches\": \"sometimes\"}\n");
    t = read_expect(path, CLNAS_E_PARSE, err, sizeof err);
    cr_expect(strstr(err, "t.jsonl:1: search line: unknown batch mode") != NULL, "%s", err);
    snprintf(path, sizeof path, "%s/missing.jsonl", dir);
    t = read_expect(path, CLNAS_E_IO, err, sizeof err);
    cr_expect(strstr(err, "missing.jsonl") != NULL, "%s", err);
    tu_rmrf(dir);
    cr_expect_str_eq(clnas_search_batches_name(1), "shared");
    cr_expect_str_eq(clnas_search_batches_name(0), "per-candidate");
}

Test(trace, interrupted_last_line_and_malformed_lines)
{
    char dir[256], path[600], err[1024];
    tu_mkdtemp(dir, sizeof dir, "clnas_tbad");
    snprintf(path, sizeof path, "%s/t.jsonl", dir);
    /* a partial last line (an interrupted write): left out, counted, no error */
    tu_write_file(path, "{\"type\": \"search\", \"batches\": \"per-candidate\"}\n" OLD_CAND "\n" ROUND_LINE OLD_CAND2
                        "{\"type\": \"candidate\", \"round\": 2, \"edge\": \"1<-0\", \"op\": \"nor_c");
    clnas_trace_data t = read_expect(path, CLNAS_OK, err, sizeof err);
    cr_expect(t.n == 2 && t.dropped == 1, "n %d dropped %d", t.n, t.dropped);
    cr_expect(t.n == 2 && t.cands[1].edge == 5 && t.cands[1].op == 4 && t.cands[1].kappa_undefined == 1);
    clnas_trace_data_free(&t);
    /* the same line complete but without its newline: still what an interruption leaves */
    tu_write_file(path, OLD_CAND OLD_CAND2 "{\"type\": \"round\", \"round\": 1}");
    t = read_expect(path, CLNAS_OK, err, sizeof err);
    cr_expect(t.n == 2 && t.dropped == 1);
    clnas_trace_data_free(&t);
    /* a last line that is not JSON, trailing blank lines after it */
    tu_write_file(path, OLD_CAND "{\"type\": \"cand\n\n  \n");
    t = read_expect(path, CLNAS_OK, err, sizeof err);
    cr_expect(t.n == 1 && t.dropped == 1);
    clnas_trace_data_free(&t);
    /* complete traces: nothing dropped */
    tu_write_file(path, OLD_CAND ROUND_LINE);
    t = read_expect(path, CLNAS_OK, err, sizeof err);
    cr_expect(t.n == 1 && t.dropped == 0);
    clnas_trace_data_free(&t);
    /* a malformed line in the middle is an error naming file, line and column */
    struct { const char *text, *want; } bad[] = {
        {OLD_CAND "{\"type\": \"candidate\", \"round\": 1,,}\n" OLD_CAND2, "t.jsonl:2:34: malformed JSON"},
        {OLD_CAND "\n{\"type\": \"cand\n" OLD_CAND2, "t.jsonl:3:"},
        {OLD_CAND "[1, 2]\n" OLD_CAND2, "t.jsonl:2: not a JSON object"},
        {"{\"type\": \"candidate\", \"round\": 1, \"edge\": \"1<-0\", \"op\": \"skip_connect\"}\n" OLD_CAND,
         "t.jsonl:1: candidate line: no number \"dK\""},
        {"{\"type\": \"candidate\", \"round\": 1, \"edge\": \"1<-0\", \"op\": \"conv_5x5\", \"dK\": 0, \"dR\": 0}\n" OLD_CAND,
         "t.jsonl:1: candidate line: no NB201 op"},
        {"{\"type\": \"candidate\", \"round\": 1, \"edge\": \"2<-2\", \"op\": \"skip_connect\"}\n" OLD_CAND,
         "t.jsonl:1: candidate line: no NB201 edge"},
        {"{\"type\": \"candidate\", \"round\": 1, \"edge\": \"1<-0\", \"op\": \"skip_connect\", \"dK\": 1, \"dR\": 1, "
         "\"kappa_cur\": [1, 2], \"kappa_cand\": [1], \"R_cur\": [1], \"R_cand\": [1], \"kappa_undefined\": 0}\n" OLD_CAND,
         "differ in length"},
        {"{\"type\": \"candidate\", \"round\": 1, \"edge\": \"1<-0\", \"op\": \"skip_connect\", \"dK\": 1, \"dR\": 1, "
         "\"kappa_cur\": [1], \"kappa_cand\": [1], \"R_cur\": [-1], \"R_cand\": [1], \"kappa_undefined\": 0}\n" OLD_CAND,
         "lists of counts"},
        {OLD_CAND "{\"type\": \"round\", \"round\": 1, \"round\": 2}\n" OLD_CAND2, "t.jsonl:2:37: malformed JSON: duplicate"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tu_write_file(path, bad[i].text);
        t = read_expect(path, CLNAS_E_PARSE, err, sizeof err);
        cr_expect(strstr(err, bad[i].want) != NULL, "case %zu: \"%s\" not in \"%s\"", i, bad[i].want, err);
    }
    tu_rmrf(dir);
}

/* every double the trace holds reads back bit for bit; NaN (which JSON cannot hold) as null */
Test(trace, writer_round_trip_and_key_order)
{
    char dir[256], path[600], err[1024];
    tu_mkdtemp(dir, sizeof dir, "clnas_trt");
    snprintf(path, sizeof path, "%s/t.jsonl", dir);
    clnas_search_opts o;
    clnas_search_opts_default(&o);
    o.shared_batches = 1;
    o.score.repeats = 3;
    o.score.seed = 2147483647;
    clnas_candidate c[2];
    c[0] = cand(2, 3, 0.1 + 0.2, -1.0 / 3.0);
    c[1] = cand(5, 1, NAN, 1e-300);
    const double kv[3] = {1e5, 123456.78901234567, 5e-324};
    for (int r = 0; r < 3; r++) {
        c[0].kappa_cur[r] = kv[r];
        c[0].kappa_cand[r] = kv[2 - r] * 3;
        c[0].r_cur[r] = (size_t)1 << (40 + r);
        c[0].r_cand[r] = (size_t)r;
        c[1].kappa_cur[r] = c[1].kappa_cand[r] = 2.5;
    }
    c[1].kappa_undefined = 3;
    clnas_nb201_arch a, b;
    memset(&a, 0x1e, sizeof a);
    memset(&b, 0x02, sizeof b);
    clnas_trace_writer *w = NULL;
    cr_assert_eq(clnas_trace_writer_open(path, &w, err, sizeof err), CLNAS_OK, "%s", err);
    const clnas_search_sink *sk = clnas_trace_writer_sink(w);
    sk->begin(sk->ud, &o);
    sk->candidate(sk->ud, 1, &c[0], 3);
    sk->candidate(sk->ud, 7, &c[1], 3);
    sk->round(sk->ud, 7, &a, &b, c, 2);
    cr_assert_eq(clnas_trace_writer_close(w, err, sizeof err), CLNAS_OK, "%s", err);
    clnas_trace_data t = read_expect(path, CLNAS_OK, err, sizeof err);
    cr_assert_eq(t.n, 2);
    cr_expect(t.has_header && t.shared_batches == 1 && !t.dropped);
    cr_expect(t.rounds[0] == 1 && t.rounds[1] == 7);
    for (int i = 0; i < 2; i++) {
        const clnas_candidate *x = &t.cands[i], *y = &c[i];
        cr_expect(x->edge == y->edge && x->op == y->op && x->kappa_undefined == y->kappa_undefined);
        cr_expect(x->dk == y->dk || (isnan(x->dk) && isnan(y->dk)), "dK %.17g vs %.17g", x->dk, y->dk);
        cr_expect(x->dr == y->dr, "dR %.17g vs %.17g", x->dr, y->dr);
        for (int r = 0; r < 3; r++) {
            cr_expect(x->kappa_cur[r] == y->kappa_cur[r] && x->kappa_cand[r] == y->kappa_cand[r], "kappa of %d/%d", i, r);
            cr_expect(x->r_cur[r] == y->r_cur[r] && x->r_cand[r] == y->r_cand[r], "R of %d/%d", i, r);
        }
    }
    clnas_trace_data_free(&t);
    /* the lines' keys in the order clnas has always written them */
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    char line[4][8192];
    for (int i = 0; i < 4; i++) cr_assert_not_null(fgets(line[i], sizeof line[i], f), "line %d", i + 1);
    fclose(f);
    cr_expect(!strncmp(line[0], "{\"type\": \"search\", \"space\": \"nb201\", \"batches\": \"shared\", \"dataset\": \"cifar10\", "
                                "\"seed\": 2147483647, \"batch\": 72, \"repeats\": 3, \"lr_batch\": 1000, \"lr_batches\": 3, "
                                "\"prune_number\": 1}\n", 8192), "%s", line[0]);
    const char *keys[] = {"\"type\": \"candidate\"", "\"round\": 1,", "\"edge\": \"2<-1\"", "\"op\": \"nor_conv_3x3\"", "\"dK\": ",
                          "\"dR\": ", "\"kappa_cur\": [100000.0, ", "\"kappa_cand\": [", "\"R_cur\": [1099511627776, ",
                          "\"R_cand\": [0, 1, 2]", "\"kappa_undefined\": 0, ", "\"cost\": {\"s\": 0.0, \"kappa_evals\": 0, "
                          "\"regions_evals\": 0, \"kappa_gflop\": 0.0}}"};
    const char *p = line[1];
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        const char *q = strstr(p, keys[k]);
        cr_expect(q != NULL, "%s missing or out of order in %s", keys[k], line[1]);
        if (q) p = q;
    }
    cr_expect(strstr(line[2], "\"dK\": null") != NULL, "%s", line[2]);
    const char *rkeys[] = {"\"type\": \"round\"", "\"round\": 7", "\"arch_before\": \"|", "\"arch_after\": \"|",
                           "\"candidates\": [{\"edge\": \"2<-1\", \"op\": \"nor_conv_3x3\", \"dK\": ", "\"rank_K\": 0, \"rank_R\": 0, "
                           "\"rank_sum\": 0, \"order\": 0, \"pruned\": false}, {\"edge\": \"3<-2\""};
    p = line[3];
    for (size_t k = 0; k < sizeof rkeys / sizeof rkeys[0]; k++) {
        const char *q = strstr(p, rkeys[k]);
        cr_expect(q != NULL, "%s missing or out of order in %s", rkeys[k], line[3]);
        if (q) p = q;
    }
    tu_rmrf(dir);
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
    cr_expect_str_eq(strip_cost(again), strip_cost(full), "the resumed trace must equal the uninterrupted one");
    char *a1 = strstr(res1, "\"arch\""), *a2 = strstr(res2, "\"arch\"");
    cr_assert(a1 && a2);
    cr_expect_eq(strncmp(a1, a2, (size_t)(strchr(a1 + 9, '"') - a1)), 0, "same architecture after resuming");
    /* the result counts the whole search: the resumed run computed in round 2 its shared
       kappa_cur / R_cur (K = 2) again and 14 candidates x K, in round 3 K + 12 x K (30 + 26), and
       the trace recorded for the 28 candidates before (round 1: K + 24 x K, round 2: K + 4 x K) */
    cr_expect(strstr(res2, "\"kappa_evals\": 116, \"regions_evals\": 116") != NULL, "%s", res2);
    free(full); free(res1); free(again); free(res2);
    tu_rmrf(dir);
}

/* ---- result files with paths JSON must escape ---- */

/* Runs the clnas binary with argv, without a shell (the arguments may hold any byte); stdout and
 * stderr go to log. Returns the exit status. */
static int run_argv(char *const argv[], const char *log)
{
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0) _exit(126);
        execv(CLNAS_BIN, argv);
        _exit(127);
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* A file of clnas search's --out folder, parsed strictly by jansson. */
static json_t *load_json(const char *dir, const char *name)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    json_error_t je;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    cr_assert_not_null(j, "%s is not JSON: %d:%d: %s", name, je.line, je.column, je.text);
    return j;
}

/* Searches (reduced) with --data data --out out; checks that every file written parses and holds
 * the data path as `want`, and that a second run reads the finished seed back. */
static void hostile_search(const char *dir, const char *data, const char *out, const char *want)
{
    char log[600];
    snprintf(log, sizeof log, "%s/log.txt", dir);
    char *argv[] = {"clnas", "search", "--data", (char *)data, "--out", (char *)out, "--batch", "4", "--repeat", "1",
                    "--lr-batch", "50", "--lr-batches", "1", "--quiet", NULL};
    int rc = run_argv(argv, log);
    char *text = NULL;
    char cmd[700];
    snprintf(cmd, sizeof cmd, "cat '%s'", log);
    tu_run(cmd, &text);
    cr_assert_eq(rc, 0, "clnas search exit %d: %s", rc, text);
    free(text);
    json_t *r = load_json(out, "search_seed0.json"), *sum = load_json(out, "search.json");
    cr_expect_str_eq(json_string_value(json_object_get(r, "data")), want);
    cr_expect(json_is_string(json_object_get(r, "device")) && json_string_length(json_object_get(r, "device")) > 0);
    json_t *run0 = json_array_get(json_object_get(sum, "runs"), 0);
    cr_expect_str_eq(json_string_value(json_object_get(run0, "data")), want);
    cr_expect(json_equal(run0, r), "the summary holds the seed's result");
    json_decref(r);
    json_decref(sum);
    char tpath[2048], err[4400];
    snprintf(tpath, sizeof tpath, "%s/trace_seed0.jsonl", out);
    clnas_trace_data t;
    cr_expect_eq(clnas_trace_read(tpath, &t, err, sizeof err), CLNAS_OK, "%s", err);
    cr_expect(t.n == 54 && !t.dropped && t.has_header);
    clnas_trace_data_free(&t);
    /* again: the finished seed is read back (through jansson) instead of searched */
    rc = run_argv(argv, log);
    snprintf(cmd, sizeof cmd, "cat '%s'", log);
    tu_run(cmd, &text);
    cr_expect_eq(rc, 0, "%s", text);
    cr_expect(strstr(text, "seed 0: |") && strstr(text, "(from "), "%s", text);
    free(text);
    sum = load_json(out, "search.json");
    run0 = json_array_get(json_object_get(sum, "runs"), 0);
    cr_expect_str_eq(json_string_value(json_object_get(run0, "data")), want);
    json_decref(sum);
}

Test(search, result_files_escape_hostile_paths)
{
    char dir[256], sub[512], data[1024], out[1024];
    tu_mkdtemp(dir, sizeof dir, "clnas_hostile");
    /* a quote, a backslash, a newline, a tab and a byte that is not UTF-8 in the data path and the
       --out folder: the files must still be JSON; the path reads back with every byte outside
       ASCII replaced by '?', as clnas_json_str documents for strings that are not UTF-8 */
    const char *nasty = "q\"b\\s\nn\tt\xff-";
    snprintf(sub, sizeof sub, "%s/d%s", dir, nasty);
    cr_assert_eq(mkdir(sub, 0755), 0);
    snprintf(data, sizeof data, "%s/train%s.bin", sub, nasty);
    cr_assert_eq(symlink(CLNAS_DATA_DIR "/cifar10/train_10k.bin", data), 0);
    snprintf(out, sizeof out, "%s/o%s", dir, nasty);
    char want[1024];
    snprintf(want, sizeof want, "%s", data);
    for (char *p = want; *p; p++)
        if ((unsigned char)*p >= 0x80) *p = '?';
    hostile_search(dir, data, out, want);
    /* valid UTF-8 with the same control characters: read back exactly */
    const char *utf8 = "q\"b\\s\nn\tt\xc3\xa9-";
    snprintf(sub, sizeof sub, "%s/e%s", dir, utf8);
    cr_assert_eq(mkdir(sub, 0755), 0);
    snprintf(data, sizeof data, "%s/train%s.bin", sub, utf8);
    cr_assert_eq(symlink(CLNAS_DATA_DIR "/cifar10/train_10k.bin", data), 0);
    snprintf(out, sizeof out, "%s/u%s", dir, utf8);
    hostile_search(dir, data, out, data);
    tu_rmrf(dir);
}

/* ---- clnas rank (scores many architectures, then clnas stats) ---- */

Test(rank, archs_file_resume_and_usage_errors)
{
    char dir[256], archs[600], csv[600], cmd[2048];
    tu_mkdtemp(dir, sizeof dir, "clnas_rank");
    snprintf(archs, sizeof archs, "%s/archs.txt", dir);
    snprintf(csv, sizeof csv, "%s/scores.csv", dir);
    tu_write_file(archs, "# two cells\n"
                         "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|\n\n"
                         "  |avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|\n");
    const char *small = "--batch 4 --repeat 2 --lr-batch 50 --lr-batches 1 --seed 3";
    char *out = NULL;
    snprintf(cmd, sizeof cmd, "%s rank --space nb201 --archs '%s' --out '%s' %s 2>&1", CLNAS_BIN, archs, csv, small);
    cr_assert_eq(tu_run(cmd, &out), 0, "%s", out);
    cr_expect(strstr(out, "2 architectures, 0 already in") && strstr(out, "Kendall tau-b"), "%s", out);
    free(out);
    char *text = NULL;
    snprintf(cmd, sizeof cmd, "cat '%s'", csv);
    cr_assert_eq(tu_run(cmd, &text), 0);
    cr_expect(!strncmp(text, "index,arch,kappa,kappa_r1,kappa_r2,R,R_r1,R_r2,cifar10_test,cifar100_test,imagenet16_test,"
                             "kappa_status\n", 96), "%s", text);
    int lines = 0;
    for (const char *p = text; *p; p++) lines += *p == '\n';
    cr_expect_eq(lines, 3, "%s", text);
    /* again: nothing left to score, the same file */
    snprintf(cmd, sizeof cmd, "%s rank --archs '%s' --out '%s' %s 2>&1", CLNAS_BIN, archs, csv, small);
    cr_assert_eq(tu_run(cmd, &out), 0, "%s", out);
    cr_expect(strstr(out, "2 architectures, 2 already in") != NULL, "%s", out);
    free(out);
    char *again = NULL;
    snprintf(cmd, sizeof cmd, "cat '%s'", csv);
    cr_assert_eq(tu_run(cmd, &again), 0);
    cr_expect_str_eq(again, text);
    free(again);
    free(text);
    /* usage errors: exit 2 */
    const char *bad[] = {"--archs x.txt", "--sample 3 --all --out x.csv", "--sample 0 --out x.csv", "--all --out x.csv --space darts",
                         "--all --out x.csv --seeds 0-3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(cmd, sizeof cmd, "%s rank %s 2>&1", CLNAS_BIN, bad[i]);
        cr_expect_eq(tu_run(cmd, &out), 2, "rank %s: %s", bad[i], out);
        free(out);
    }
    /* a malformed architecture: FILE:LINE, exit 2 */
    tu_write_file(archs, "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|\n|bogus~0|\n");
    snprintf(cmd, sizeof cmd, "%s rank --archs '%s' --out '%s' %s 2>&1", CLNAS_BIN, archs, csv, small);
    cr_expect_eq(tu_run(cmd, &out), 2, "%s", out);
    cr_expect(strstr(out, "archs.txt:2:") != NULL, "%s", out);
    free(out);
    tu_rmrf(dir);
}
