/* tune_seeds.c - `clnas tune`, part 2: how many NTK backward seeds to run at once. One kappa of
 * the TE-NAS proxy supernet and of one single path is timed for a few seed counts S, and one
 * activation-gradient budget in bytes is chosen for every network (choose_budget); the NTK reads
 * it back through its context as the per-device value CLNAS_NTK_SEED_BUDGET_KEY
 * (metrics/ntk_seeds.h). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench/bench_impl.h"
#include "metrics/ntk_seeds.h"
#include "model/graph.h"

#define BATCH CLNAS_TUNE_BATCH
#define NETS 2

/* The nets' weights and per-seed bytes; net[j] and p[j] are the caller's to free. */
static clnas_status sweep_nets(clnas_ctx *ctx, clnas_tune_seed_net *sn, clnas_net **net, float **p)
{
    for (int j = 0; j < NETS; j++) {
        clnas_nb201_arch arch;
        clnas_nb201_config cfg;
        clnas_nb201_config_ntk(&cfg, 10, 32);
        if (clnas_nb201_parse(sn[j].arch, &arch, NULL, 0) != CLNAS_OK ||
            clnas_nb201_build(&cfg, &arch, &net[j], NULL, 0) != CLNAS_OK ||
            (p[j] = malloc(clnas_net_nparams(net[j]) * sizeof(float))) == NULL)
            return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "cannot build the %s network", sn[j].what);
        sn[j].per_seed = (double)net[j]->act_per_sample * BATCH * sizeof(float);
        clnas_net_init_params(net[j], 0, 0, CLNAS_INIT_PYTORCH, p[j]);
    }
    return CLNAS_OK;
}

/* One round's progress line: every network's time at every S. */
static void log_round(const clnas_tune_opts *o, const clnas_tune_seed_net *sn, const double *t, int nS, int rounds, int r)
{
    char line[1024];
    size_t n = (size_t)snprintf(line, sizeof line, "  round %d/%d:", r + 1, rounds);
    for (int j = 0; j < NETS && n < sizeof line; j++) {
        n += (size_t)snprintf(line + n, sizeof line - n, "  %s", sn[j].what);
        for (int q = 0; q < nS && n < sizeof line; q++)
            n += (size_t)snprintf(line + n, sizeof line - n, " %.2f", t[((size_t)j * (size_t)nS + (size_t)q) * (size_t)rounds + (size_t)r]);
    }
    bench_log(o, "%s s", line);
}

/* Times one kappa of each network for every seed count in S. The machine's load drifts while
 * this runs (minutes), and a sweep from small to large S would turn that drift into a trend, so
 * the work goes in rounds: each round visits every S (in alternating directions) and, for each,
 * every network: a fresh NTK object, one warm-up evaluation (first touches of its buffers,
 * kernel builds), one timed evaluation. Each time is the median over the rounds. */
static clnas_status seed_sweep(clnas_ctx *ctx, const clnas_tune_opts *o, const clnas_dataset *data,
                               clnas_tune_seed_net *sn, const int *S, int nS, int rounds)
{
    clnas_net *net[NETS] = {NULL, NULL};
    float *p[NETS] = {NULL, NULL}, *x = malloc((size_t)BATCH * 3 * 32 * 32 * sizeof *x);
    double *t = calloc((size_t)NETS * (size_t)nS * (size_t)rounds, sizeof *t);
    clnas_sampler *smp = NULL;
    clnas_status st = x && t && clnas_sampler_create(data, 0, 1, &smp) == CLNAS_OK
                          ? CLNAS_OK : clnas_set_error(ctx, CLNAS_E_NOMEM, "out of host memory");
    if (st == CLNAS_OK) st = sweep_nets(ctx, sn, net, p);
    for (int r = 0; st == CLNAS_OK && r < rounds; r++) {
        for (int ii = 0; st == CLNAS_OK && ii < nS; ii++) {
            const int i = r % 2 ? nS - 1 - ii : ii;
            for (int j = 0; st == CLNAS_OK && j < NETS; j++) {
                clnas_ntk_config nc = {BATCH, S[i], 0};
                clnas_ntk *ntk = NULL;
                st = clnas_ntk_create(ctx, net[j], &nc, &ntk);
                if (st == CLNAS_OK) st = clnas_ntk_set_params(ntk, p[j]);
                for (int e = 0; st == CLNAS_OK && e < 2; e++) { /* e = 0: warm-up */
                    clnas_sampler_batch(smp, BATCH, 1, x, NULL);
                    clnas_kappa k;
                    double t0 = clnas_now();
                    st = clnas_ntk_eval(ntk, x, &k, NULL, NULL, NULL, NULL, NULL);
                    if (e) t[((size_t)j * (size_t)nS + (size_t)i) * (size_t)rounds + (size_t)r] = clnas_now() - t0;
                }
                clnas_ntk_destroy(ntk);
            }
        }
        if (st == CLNAS_OK) log_round(o, sn, t, nS, rounds, r);
    }
    for (int j = 0; st == CLNAS_OK && j < NETS; j++) {
        sn[j].best = 0;
        for (int i = 0; i < nS; i++) {
            sn[j].t[i] = clnas_median(&t[((size_t)j * (size_t)nS + (size_t)i) * (size_t)rounds], rounds);
            if (sn[j].t[i] < sn[j].t[sn[j].best]) sn[j].best = i;
        }
    }
    for (int j = 0; j < NETS; j++) {
        free(p[j]);
        clnas_net_destroy(net[j]);
    }
    free(x);
    free(t);
    clnas_sampler_destroy(smp);
    return st;
}

/* The seeds a budget gives a network, as the NTK chooses them (ntk_seeds.h, without $CLNAS_SEEDS
 * and the device's allocation limit). */
static int seeds_for(double budget, double per_seed) { return clnas_ntk_seeds_for_budget(budget, per_seed, 0, BATCH); }

/* Estimated kappa time of a net at s seeds: measured where tested, linear between tested
 * neighbours. Callers never ask outside the tested range. */
static double time_at(const clnas_tune_seed_net *sn, const int *S, int nS, int s)
{
    for (int i = 0; i < nS; i++) {
        if (S[i] == s) return sn->t[i];
        if (S[i] > s && i > 0) {
            double w = (double)(s - S[i - 1]) / (double)(S[i] - S[i - 1]);
            return (1 - w) * sn->t[i - 1] + w * sn->t[i];
        }
    }
    return sn->t[nS - 1];
}

/* One budget for every network. The right S differs by network, and a budget in bytes carries
 * over to networks never timed: the same budget gives a network with more activations per sample
 * proportionally fewer seeds, i.e. about the same bytes (and work) per kernel launch. Among the
 * budgets that put one of the tested networks exactly on a tested S (and none outside the tested
 * range), the one with the smallest mean ratio of each network's time to its own best time, so
 * that the small single path counts as much as the big supernet and one noisy point cannot
 * decide alone; ties go to the smaller budget (less memory). *worst gets the largest ratio. */
static double choose_budget(const clnas_tune_seed_net *nets, int nn, const int *S, int nS, double *worst)
{
    double best_b = 0, best_mean = INFINITY, best_worst = 0;
    for (int a = 0; a < nn; a++)
        for (int i = 0; i < nS; i++) {
            double b = (double)S[i] * nets[a].per_seed, mean = 0, w = 0;
            int fits = 1;
            for (int j = 0; j < nn && fits; j++) {
                int s = seeds_for(b, nets[j].per_seed);
                if (s > S[nS - 1] || s < S[0]) fits = 0;
                double r = time_at(&nets[j], S, nS, s) / nets[j].t[nets[j].best];
                mean += r / nn;
                w = fmax(w, r);
            }
            if (fits && (mean < best_mean - 1e-9 || (fabs(mean - best_mean) <= 1e-9 && b < best_b))) {
                best_mean = mean;
                best_worst = w;
                best_b = b;
            }
        }
    if (best_b == 0) {
        /* the networks are too far apart for the tested range: the smallest of their own best
         * budgets, which gives no network more seeds than its best */
        best_b = INFINITY;
        for (int j = 0; j < nn; j++) best_b = fmin(best_b, (double)S[nets[j].best] * nets[j].per_seed);
        for (int j = 0; j < nn; j++) {
            int s = seeds_for(best_b, nets[j].per_seed);
            s = s < S[0] ? S[0] : s > S[nS - 1] ? S[nS - 1] : s;
            best_worst = fmax(best_worst, time_at(&nets[j], S, nS, s) / nets[j].t[nets[j].best]);
        }
    }
    *worst = best_worst;
    return best_b;
}

/* The seed counts to time: the caller's, else a list for the kind of device. */
static void seed_counts(const clnas_device_info *d, const clnas_tune_opts *o, clnas_tune_result *r)
{
    if (o->nseed_counts > 0) {
        r->ncounts = o->nseed_counts < CLNAS_TUNE_MAX_COUNTS ? o->nseed_counts : CLNAS_TUNE_MAX_COUNTS;
        memcpy(r->counts, o->seed_counts, (size_t)r->ncounts * sizeof *r->counts);
        return;
    }
    static const int full[] = {1, 2, 3, 4, 6, 8, 12, 24, 36, 72}, q[] = {2, 4, 8};
    const int gpu = d->type && strcmp(d->type, "GPU") == 0;
    r->ncounts = o->quick ? 3 : gpu ? 10 : 7; /* GPUs want many seeds at once; CPUs run out of cache */
    memcpy(r->counts, o->quick ? q : full, (size_t)r->ncounts * sizeof *r->counts);
}

/* Times the counts and chooses the budget (r->budget_bytes, r->seed_worst, nets' budget_seeds). */
static clnas_status measure(clnas_ctx *ctx, const clnas_tune_opts *o, clnas_tune_result *r)
{
    char err[512], line[256];
    clnas_dataset *data = NULL;
    if (clnas_dataset_load(CLNAS_DS_CIFAR10, NULL, &data, err, sizeof err) != CLNAS_OK)
        return clnas_set_error(ctx, CLNAS_E_IO, "%s", err);
    size_t n = (size_t)snprintf(line, sizeof line, "  seeds in flight: one kappa at batch %d for S =", BATCH);
    for (int i = 0; i < r->ncounts && n < sizeof line; i++) n += (size_t)snprintf(line + n, sizeof line - n, " %d", r->counts[i]);
    bench_log(o, "%s, %d round%s (a minute or a few)", line, r->seed_rounds, r->seed_rounds > 1 ? "s" : "");
    clnas_status st = seed_sweep(ctx, o, data, r->nets, r->counts, r->ncounts, r->seed_rounds);
    clnas_dataset_destroy(data);
    if (st != CLNAS_OK) {
        char why[CLNAS_ERRMSG_LEN];
        snprintf(why, sizeof why, "%s", clnas_ctx_errmsg(ctx));
        return clnas_set_error(ctx, st, "timing the seeds in flight failed: %.3900s", why);
    }
    r->budget_bytes = choose_budget(r->nets, NETS, r->counts, r->ncounts, &r->seed_worst);
    for (int j = 0; j < NETS; j++) r->nets[j].budget_seeds = seeds_for(r->budget_bytes, r->nets[j].per_seed);
    r->seeds_done = 1;
    return CLNAS_OK;
}

clnas_status tune_seed_search(clnas_ctx *ctx, const clnas_tune_opts *o, const clnas_tuning *keep, clnas_tune_result *r)
{
    r->nets[0].what = "proxy supernet";
    r->nets[0].arch = "supernet";
    r->nets[1].what = "single path";
    r->nets[1].arch = CLNAS_BENCH_SINGLE_PATH;
    r->seed_rounds = o->quick ? 1 : 3;
    seed_counts(clnas_ctx_device(ctx), o, r);
    /* the per-device values of the current tuning stay; the NTK's budget is measured anew */
    r->best.nparams = 0;
    for (int i = 0; keep && i < keep->nparams; i++) {
        clnas_status st = clnas_tuning_set_param(ctx, &r->best, keep->params[i].key, keep->params[i].value);
        if (st != CLNAS_OK) return st;
    }
    double b = 0;
    r->budget_bytes = clnas_tuning_param(&r->best, CLNAS_NTK_SEED_BUDGET_KEY, &b) ? b : 0;
    if (o->no_seeds) return CLNAS_OK;
    clnas_status st = measure(ctx, o, r);
    if (st == CLNAS_OK) st = clnas_tuning_set_param(ctx, &r->best, CLNAS_NTK_SEED_BUDGET_KEY, r->budget_bytes);
    return st;
}
