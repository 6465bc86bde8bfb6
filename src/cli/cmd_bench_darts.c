/* cmd_bench_darts.c - `clnas bench --space darts`: what one candidate of TE-NAS's DARTS search
 * costs on a device (the current supernet and a candidate without one op: kappa pairs and R
 * pairs, stage by stage) and the default search extrapolated from it. Never run by the tests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench/bench.h"
#include "cli/cli.h"
#include "clnas/darts.h"
#include "clnas/search_darts.h"
#include "core/util.h"

static const char USAGE[] =
"usage: clnas bench --space darts [--dataset cifar10|imagenet] [--repeat K] [--batch B] [--seeds-in-flight N]\n"
"       clnas bench --space darts --shapes [--repeat K] [--batch B] [--seeds-in-flight N]\n"
"\n"
"Times one round-1 candidate of TE-NAS's DARTS search on the device: kappa of the NTK supernet\n"
"(all 7 ops) and of the candidate without sep_conv_5x5 on the normal cell's edge 0<-0, on the same\n"
"batch (forward, backward, Gram, eigenvalues), and R of both thin nets on 3,000 patches; a candidate\n"
"does K such pairs of each (K = 3 in TE-NAS). Prints the time per candidate and the default search\n"
"extrapolated from it (round-1 candidates are the most expensive, so it is an upper bound).\n"
"\n"
"Launching versus computing: the runtime counts the commands the timed pairs enqueue (kernels of\n"
"clnas's ops, GEMM calls into CLBlast, buffer fills and copies, blocking reads and writes). Then the\n"
"fixed cost of one launch is measured on the same queue: a kernel of one work-item that writes one\n"
"float, 1000 launches in a row and one wait (the executor's pattern), median of 5 such streams; and\n"
"an 8 x 8 x 8 SGEMM call the same way. The launch overhead is estimated as kernels and fills times\n"
"the per-launch cost plus GEMM calls times the tiny GEMM's cost; its share of the wall time is\n"
"printed (and a bound with the cost of a launch waited for alone, the slowest pattern); the rest is\n"
"the kernels' work, the transfers and the host's own (eigenvalues, R's\n"
"counting). An estimate: a real kernel's launch may cost more than the trivial one's (more\n"
"arguments, larger work-groups to schedule), and on a busy machine both are inflated alike.\n"
"\n"
"--shapes: every distinct op shape of TE-NAS's DARTS NTK supernet, timed on its own through the op\n"
"functions the executor calls (as clnas bench --shapes does for NB201): the 1x1 convolutions with\n"
"GFLOP/s; the backward of BN, ReLU, pooling (average and max), depthwise convolution (data + weight\n"
"in one call), FactorizedReduce's shift and edge sums with effective GB/s (the least traffic a call\n"
"needs over its time); each row's seconds per kappa from how often one kappa runs it. Concatenations\n"
"have no kernel (producers write into their slices) and are not listed.\n";

typedef struct pair_times {
    double fwd, bwd, gram, eig, lr;
} pair_times;

static clnas_status make(clnas_ctx *ctx, const clnas_darts_alpha *al, const clnas_score_opts *o, int classes, clnas_ntk **ntk,
                         clnas_lr **lr, clnas_net **nn, clnas_net **ln)
{
    char err[512];
    clnas_status st = clnas_darts_proxies(al, classes, clnas_dataset_hw(o->dataset), nn, ln, err, sizeof err);
    if (st != CLNAS_OK) return fprintf(stderr, "clnas bench: %s\n", err), st;
    float *p = malloc(clnas_net_nparams(*nn) * sizeof *p), *q = malloc(clnas_net_nparams(*ln) * sizeof *q);
    if (!p || !q) st = CLNAS_E_NOMEM;
    clnas_ntk_config nc = {o->batch, o->seeds, o->fp64_gram};
    if (st == CLNAS_OK) {
        clnas_net_init_params(*nn, 0, 1, o->init, p);
        clnas_net_init_params(*ln, 0, 2, o->init, q);
        st = clnas_ntk_create(ctx, *nn, &nc, ntk);
    }
    if (st == CLNAS_OK) st = clnas_ntk_set_params(*ntk, p);
    if (st == CLNAS_OK) st = clnas_lr_create(ctx, *ln, o->lr_batch, lr);
    if (st == CLNAS_OK) st = clnas_lr_set_params(*lr, q);
    free(p);
    free(q);
    return st;
}

static void shape_label(const clnas_bench_row *r, char *buf, size_t len)
{
    if (r->kind == CLNAS_BENCH_CONV)
        snprintf(buf, len, "conv %d->%d %dx%d k%d s%d", r->c, r->cout, r->h, r->w, r->k, r->stride);
    else if (r->kind == CLNAS_BENCH_DWCONV)
        snprintf(buf, len, "dwconv %d %dx%d k%d s%d d%d", r->c, r->h, r->w, r->k, r->stride, r->dil);
    else if (r->kind == CLNAS_BENCH_AVGPOOL || r->kind == CLNAS_BENCH_MAXPOOL)
        snprintf(buf, len, "%s %d %dx%d k%d s%d", r->op, r->c, r->h, r->w, r->k, r->stride);
    else
        snprintf(buf, len, "%s %d %dx%d", r->op, r->c, r->h, r->w);
}

/* --shapes: the per-shape table of the DARTS NTK supernet. */
static int run_shapes(clnas_ctx *ctx, const clnas_dataset *d, const clnas_score_opts *o)
{
    clnas_bench_shapes *sr = NULL;
    if (clnas_bench_shapes_darts_run(ctx, d, o->batch, o->seeds, o->repeats, &sr) != CLNAS_OK) {
        fprintf(stderr, "clnas bench: %s\n", clnas_ctx_errmsg(ctx));
        return 1;
    }
    const int S = sr->seeds;
    printf("device %s; DARTS NTK supernet at batch %d, S = %d seeds in flight (%d backward pass(es) of S%s); medians of %d\n\n",
           clnas_ctx_device(ctx)->name, sr->batch, S, sr->full, sr->rem ? " + 1 of the rest" : "", o->repeats);
    printf("%-28s %4s %5s %9s %8s %8s %8s %9s\n", "convolution", "n", "dx", "MFLOP", "fwd ms", "GFLOP/s", "bwd ms",
           "s/kappa");
    for (int i = 0; i < sr->nconv; i++) {
        const clnas_bench_row *r = &sr->conv[i];
        char lab[80];
        shape_label(r, lab, sizeof lab);
        double bwd = r->t[0][1] + r->t[0][2];
        printf("%-28s %4d %5d %9.3f %8.3f %8.2f %8.3f %9.4f\n", lab, r->calls, r->dx_calls, r->flop / 1e6, r->t[0][0] * 1e3,
               r->flop / r->t[0][0] / 1e9, bwd * 1e3, r->per_s);
    }
    printf("\n%-28s %5s %9s %8s %7s %9s\n", "backward op C HxW", "calls", "MB/call", "ms/call", "GB/s", "s/kappa");
    for (int i = 0; i < sr->nother; i++) {
        const clnas_bench_row *r = &sr->other[i];
        char lab[80];
        shape_label(r, lab, sizeof lab);
        printf("%-28s %5d %9.3f %8.3f %7.2f %9.4f\n", lab, r->calls, r->bytes / 1e6, r->t[0][0] * 1e3,
               r->bytes / r->t[0][0] / 1e9, r->per_s);
    }
    const clnas_bench_kappa *k = &sr->kappa;
    printf("\nOne measured supernet kappa: %.3f s (forward %.3f s, backward %.3f s, Gram %.3f s, eigen %.4f s); summed from\n"
           "the rows: convolutions %.3f s, backward ops %.3f s (one call per layer and pass: an upper bound where the\n"
           "executor fuses). One R: %.3f s.\n", k->total, k->fwd, k->bwd, k->gram, k->eig, sr->conv_s, sr->other_s, sr->lr_s);
    free(sr);
    return 0;
}

/* The launch overhead of the timed pairs: commands counted, fixed cost per launch measured. */
static int launch_split(clnas_ctx *ctx, const clnas_bench_launches *b0, const clnas_bench_launches *b1, int repeats,
                        double wall)
{
    clnas_bench_launches d;
    clnas_bench_launches_diff(b0, b1, &d);
    clnas_bench_launch_cost lc;
    if (clnas_bench_launch_cost_run(ctx, 1000, 5, &lc) != CLNAS_OK) {
        fprintf(stderr, "clnas bench: measuring the launch cost: %s\n", clnas_ctx_errmsg(ctx));
        return 1;
    }
    double k = (double)d.kernels / repeats, g = (double)d.gemms / repeats, f = (double)d.fills / repeats;
    double over = (k + f) * lc.stream_s + g * lc.gemm_s, per = wall / repeats;
    printf("commands per kappa pair + R pair: %.0f kernel launches, %.0f CLBlast GEMM calls, %.0f fills/copies, %.0f blocking "
           "reads/writes\n", k, g, f, (double)d.transfers / repeats);
    printf("fixed cost of one launch on this queue: %.1f us in a stream of launches (%.1f us launched and waited for alone); "
           "one 8x8x8 GEMM call %.1f us\n", lc.stream_s * 1e6, lc.sync_s * 1e6, lc.gemm_s * 1e6);
    double worst = (k + f) * lc.sync_s + g * lc.gemm_s; /* every launch as costly as one waited for alone */
    printf("launching versus computing (estimate, per pair): launch overhead %.3f s = %.1f %% of the wall time %.3f s; the "
           "other %.1f %% computing, transferring and host work; per round-1 candidate (3 pairs) %.0f launches, %.2f s\n",
           over, 100 * over / per, per, 100 * (1 - over / per), 3 * (k + g + f), 3 * over);
    printf("(bound: were every launch as costly as one launched and waited for alone, %.3f s = %.1f %%)\n", worst,
           100 * worst / per);
    return 0;
}

/* One kappa pair and one R pair on the same data; times summed over the two nets. */
static clnas_status one_pair(clnas_ntk *const nt[2], clnas_lr *const lr[2], const float *images, const float *patches, int n,
                             pair_times *t)
{
    for (int k = 0; k < 2; k++) {
        clnas_kappa kk;
        clnas_ntk_times tm;
        clnas_status st = clnas_ntk_eval(nt[k], images, &kk, NULL, NULL, NULL, NULL, &tm);
        if (st != CLNAS_OK) return st;
        t->fwd += tm.forward;
        t->bwd += tm.backward;
        t->gram += tm.gram;
        t->eig += tm.eig;
        size_t R;
        double t0 = clnas_now();
        if ((st = clnas_lr_count(lr[k], patches, n, &R, NULL, NULL)) != CLNAS_OK) return st;
        t->lr += clnas_now() - t0;
    }
    return CLNAS_OK;
}

int clnas_cmd_bench_darts(int argc, char **argv)
{
    clnas_score_opts o;
    clnas_score_opts_default(&o);
    const char *space = NULL, *data_path = NULL, *device = NULL;
    int shapes = 0;
    cli c;
    cli_init(&c, "bench", USAGE, NULL);
    cli_add_space(&c, &space);
    cli_add_score_opts(&c, &o, &data_path, &device);
    cli_add_help(&c, "shapes", &shapes, "time every op shape of the DARTS NTK supernet (see above)");
    int pr = cli_parse(&c, argc, argv, NULL, NULL);
    if (pr != CLI_OK) return pr == CLI_HELP ? 0 : 2;
    if (!cli_given(&c, "batch")) o.batch = o.dataset == CLNAS_DS_IMAGENET ? 24 : 14;
    char err[1024];
    clnas_dataset *d = NULL;
    clnas_ctx *ctx = NULL;
    if (clnas_dataset_load(o.dataset, data_path, &d, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas bench: %s\n", err);
        return 1;
    }
    int rc = 1, n = o.lr_batch * o.lr_batches, hw = clnas_dataset_hw(o.dataset);
    clnas_darts_alpha al[2];
    clnas_darts_alpha_supernet(&al[0]);
    al[1] = al[0];
    clnas_darts_remove(&al[1], 0, 0, CLNAS_DARTS_SEP5);
    clnas_ntk *nt[2] = {NULL, NULL};
    clnas_lr *lr[2] = {NULL, NULL};
    clnas_net *nn[2] = {NULL, NULL}, *ln[2] = {NULL, NULL};
    float *images = malloc((size_t)o.batch * 3 * hw * hw * sizeof *images), *patches = malloc((size_t)n * 9 * sizeof *patches);
    clnas_sampler *si = NULL, *sp = NULL;
    pair_times t = {0, 0, 0, 0, 0};
    clnas_status st = images && patches ? clnas_ctx_create(device, &ctx) : CLNAS_E_NOMEM;
    int shapes_ran = st == CLNAS_OK && shapes;
    if (shapes_ran) {
        rc = run_shapes(ctx, d, &o);
        st = CLNAS_E_UNSUPPORTED; /* nothing more runs; rc says how it went */
    }
    if (st == CLNAS_OK) st = clnas_sampler_create(d, 0, 1, &si);
    if (st == CLNAS_OK) st = clnas_sampler_create(d, 0, 2, &sp);
    for (int k = 0; k < 2 && st == CLNAS_OK; k++) st = make(ctx, &al[k], &o, clnas_dataset_num_classes(d), &nt[k], &lr[k], &nn[k], &ln[k]);
    clnas_bench_launches b0 = {0, 0, 0, 0}, b1 = b0;
    if (ctx) clnas_bench_launch_counts(ctx, &b0);
    double t0 = clnas_now();
    clock_t c0 = clock();
    for (int r = 0; r < o.repeats && st == CLNAS_OK; r++) {
        clnas_sampler_batch(si, o.batch, 1, images, NULL);
        clnas_sampler_patches(sp, n, patches);
        st = one_pair(nt, lr, images, patches, n, &t);
    }
    double wall = clnas_now() - t0, cpu = (double)(clock() - c0) / CLOCKS_PER_SEC;
    if (ctx) clnas_bench_launch_counts(ctx, &b1);
    if (shapes_ran) {
    } else if (st != CLNAS_OK) {
        fprintf(stderr, "clnas bench: %s\n", ctx ? clnas_ctx_errmsg(ctx) : "out of memory");
    } else {
        clnas_darts_search_opts so;
        clnas_darts_search_opts_for(&so, o.dataset);
        int cands = o.dataset == CLNAS_DS_IMAGENET ? 196 + 140 + 84 + 24 : 196 + 112 + 24;
        double per = wall / o.repeats * 3; /* TE-NAS: 3 repeats per candidate */
        printf("device %s; DARTS NTK supernet P = %zu, batch %d, %d seeds in flight; %d patches per R\n",
               clnas_ctx_device(ctx)->name, clnas_net_njacobian(nn[0]), o.batch, clnas_ntk_seeds(nt[0]), n);
        printf("per kappa pair + R pair (mean of %d): forward %.3f s, backward %.3f s, Gram %.3f s, eigen %.4f s, R %.3f s; "
               "wall %.3f s; CPU time of the process (all threads) %.3f s\n", o.repeats, t.fwd / o.repeats, t.bwd / o.repeats,
               t.gram / o.repeats, t.eig / o.repeats, t.lr / o.repeats, wall / o.repeats, cpu / o.repeats);
        printf("round-1 candidate (3 pairs): %.1f s; default %s search (%d candidates, prune %d): at most %.0f s (%.2f h)\n", per,
               clnas_dataset_name(o.dataset), cands, so.prune_number, per * cands, per * cands / 3600);
        printf("(on a busy machine the wall time exceeds the CPU time: compare the two; CLNAS_PROFILE=1 clnas score --space darts --alpha supernet --metric ntk --repeat 1 splits the time by layer kind)\n");
        rc = launch_split(ctx, &b0, &b1, o.repeats, wall);
    }
    for (int k = 0; k < 2; k++) {
        clnas_ntk_destroy(nt[k]);
        clnas_lr_destroy(lr[k]);
        clnas_net_destroy(nn[k]);
        clnas_net_destroy(ln[k]);
    }
    clnas_sampler_destroy(si);
    clnas_sampler_destroy(sp);
    free(images);
    free(patches);
    clnas_ctx_destroy(ctx);
    clnas_dataset_destroy(d);
    return rc;
}
