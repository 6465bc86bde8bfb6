/* kappa.c - timing whole evaluations: one kappa stage by stage (with the device memory it
 * holds and the process's peak resident memory), one R, the CLBlast SGEMM rate, and the two
 * measurements built from them: `clnas bench`'s overview and its scaling over batch and network
 * size. Every NTK is created with bounded device memory: an impossible request fails at once,
 * from sizes alone, with a message naming them. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench/bench_impl.h"
#include "model/graph.h"

static double mib(double bytes) { return bytes / 1048576.0; }

/* ---- peak resident memory of this process (Linux) ----
 * On a CPU device the device buffers are host memory, so the process's peak RSS shows what
 * a computation really touched, CLBlast's temporary buffers included, which the byte counts
 * of our own buffers miss. Writing "5" to clear_refs resets the peak (Linux >= 4.0); where
 * that is not possible the peak is reported as unknown rather than as a lifetime maximum. */
static int rss_reset(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return 0;
    int ok = fputs("5", f) >= 0;
    return (fclose(f) == 0) && ok;
}
static double rss_peak_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    double kb = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) { kb = strtod(line + 6, NULL); break; }
    fclose(f);
    return kb < 0 ? -1 : kb * 1024.0;
}

clnas_status bench_sgemm_rate(clnas_ctx *ctx, size_t m, size_t n, size_t k, int reps, double *gflops)
{
    cl_mem a = NULL, b = NULL, c = NULL;
    double *t = calloc((size_t)reps, sizeof *t);
    clnas_status st = t ? CLNAS_OK : clnas_set_error(ctx, CLNAS_E_NOMEM, "out of host memory");
    if (st == CLNAS_OK) st = clnas_buf_alloc(ctx, m * k * 4, &a);
    if (st == CLNAS_OK) st = clnas_buf_alloc(ctx, k * n * 4, &b);
    if (st == CLNAS_OK) st = clnas_buf_alloc(ctx, m * n * 4, &c);
    if (st == CLNAS_OK) st = clnas_buf_zero(ctx, a, 0, m * k * 4);
    if (st == CLNAS_OK) st = clnas_buf_zero(ctx, b, 0, k * n * 4);
    for (int r = -1; st == CLNAS_OK && r < reps; r++) {
        double t0 = clnas_now();
        st = clnas_gemm(ctx, 0, 0, m, n, k, 1.0f, a, 0, k, b, 0, n, 0.0f, c, 0, n);
        if (st == CLNAS_OK) st = clnas_ctx_finish(ctx);
        if (r >= 0) t[r] = clnas_now() - t0;
    }
    if (st == CLNAS_OK) *gflops = 2.0 * m * n * k / clnas_median(t, reps) / 1e9;
    free(t);
    clnas_buf_free(a);
    clnas_buf_free(b);
    clnas_buf_free(c);
    return st;
}

clnas_status bench_build_net(clnas_ctx *ctx, const clnas_nb201_config *cfg, const char *archstr, clnas_net **net)
{
    clnas_nb201_arch arch;
    char err[256];
    if (clnas_nb201_parse(archstr, &arch, err, sizeof err) != CLNAS_OK ||
        clnas_nb201_build(cfg, &arch, net, err, sizeof err) != CLNAS_OK)
        return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "%s", err);
    return CLNAS_OK;
}

/* The device's largest allocation and global memory, as the fit checks see them: capped by
 * $CLNAS_BENCH_MEM_CAP (bytes) when it is set (tests force the refusals with it). */
static void device_mem(const clnas_device_info *d, double *maxa, double *glob)
{
    *maxa = (double)d->max_alloc_bytes;
    *glob = (double)d->global_mem_bytes;
    const char *e = getenv("CLNAS_BENCH_MEM_CAP");
    const double cap = e ? strtod(e, NULL) : 0;
    if (cap > 0) {
        if (*maxa <= 0 || *maxa > cap) *maxa = cap;
        if (*glob <= 0 || *glob > cap) *glob = cap;
    }
}

/* Whether the NTK of net at batch B fits the device, from sizes alone (nothing is allocated),
 * so an impossible request fails at once with a message naming the sizes instead of an
 * allocation error deep inside a long run (or, on a CPU device, the host swapping). The
 * activation gradients of S seeds (act_per_sample * B * S floats) and the Jacobian G
 * (B x nparams floats) are single buffers, so each must fit the device's largest allocation,
 * and with the activations they must stay within its global memory. seeds: as given (> 0), or
 * 0 = checked for one seed, the least any choice needs. *cap: the most seeds whose gradients
 * fit one allocation and, with G and the activations, 90 % of global memory (at least 1).
 * Not counted: CLBlast's temporary copies of G during the Gram product (on its indirect path
 * up to two padded copies of G while the Gram runs), which the margin only partly covers. */
static clnas_status ntk_check_fit(clnas_ctx *ctx, const clnas_net *net, int B, int seeds, int *cap)
{
    const clnas_device_info *d = clnas_ctx_device(ctx);
    const double G = (double)B * (double)net->nparams * sizeof(float);
    const double act = (double)net->act_per_sample * B * sizeof(float); /* one copy, = one seed of gradients */
    double maxa, glob;
    device_mem(d, &maxa, &glob);
    if (maxa > 0 && G > maxa)
        return clnas_set_error(ctx, CLNAS_E_DEVICE_MEM,
                               "the Jacobian G (batch %d x %zu parameters, float) needs %.1f MiB in one buffer, more "
                               "than the largest single allocation of \"%s\" (%.1f MiB): use a smaller batch",
                               B, net->nparams, mib(G), d->name, mib(maxa));
    const int s_lo = seeds > 0 ? (seeds < B ? seeds : B) : 1;
    if (maxa > 0 && act * s_lo > maxa)
        return clnas_set_error(ctx, CLNAS_E_DEVICE_MEM,
                               "the activation gradients of %d seed(s) at batch %d need %.1f MiB in one buffer, more "
                               "than the largest single allocation of \"%s\" (%.1f MiB): use a smaller batch%s",
                               s_lo, B, mib(act * s_lo), d->name, mib(maxa), seeds > 1 ? " or fewer seeds" : "");
    const double need = G + act * (1 + s_lo);
    if (glob > 0 && need > glob)
        return clnas_set_error(ctx, CLNAS_E_DEVICE_MEM,
                               "the NTK at batch %d needs at least %.1f MiB (Jacobian G %.1f MiB + activations %.1f MiB "
                               "+ %d seed(s) of activation gradients %.1f MiB) but \"%s\" has %.1f MiB of global memory",
                               B, mib(need), mib(G), mib(act), s_lo, mib(act * s_lo), d->name, mib(glob));
    double c = B;
    if (maxa > 0 && floor(maxa / act) < c) c = floor(maxa / act);
    if (glob > 0 && floor((0.9 * glob - G - act) / act) < c) c = floor((0.9 * glob - G - act) / act);
    *cap = c < 1 ? 1 : (int)c;
    return CLNAS_OK;
}

/* The NTK of net at batch B with bounded device memory: seeds > 0 is used as given; 0 takes
 * the NTK's own choice, lowered to ntk_check_fit's cap when it is higher (or cannot be
 * allocated). */
static clnas_status ntk_create_bounded(clnas_ctx *ctx, const clnas_net *net, int B, int seeds, clnas_ntk **out)
{
    *out = NULL;
    int cap;
    clnas_status st = ntk_check_fit(ctx, net, B, seeds, &cap);
    if (st != CLNAS_OK) return st;
    clnas_ntk_config nc = {B, seeds, 0};
    st = clnas_ntk_create(ctx, net, &nc, out);
    if (seeds == 0 && (st == CLNAS_E_DEVICE_MEM || (st == CLNAS_OK && clnas_ntk_seeds(*out) > cap))) {
        clnas_ntk_destroy(*out);
        *out = NULL;
        nc.seeds = cap;
        st = clnas_ntk_create(ctx, net, &nc, out);
    }
    if (st == CLNAS_E_NOMEM) return clnas_set_error(ctx, st, "out of host memory creating the NTK at batch %d", B);
    if (st != CLNAS_OK) return st; /* the message is in ctx */
    const clnas_device_info *d = clnas_ctx_device(ctx);
    double maxa, glob;
    device_mem(d, &maxa, &glob);
    const double have = (double)clnas_ntk_device_bytes(*out);
    if (glob > 0 && have > glob) {
        const int s = clnas_ntk_seeds(*out);
        clnas_ntk_destroy(*out);
        *out = NULL;
        return clnas_set_error(ctx, CLNAS_E_DEVICE_MEM,
                               "the NTK at batch %d with %d seeds in flight holds %.1f MiB, more than the %.1f MiB of "
                               "global memory of \"%s\": use fewer seeds or a smaller batch",
                               B, s, mib(have), mib(glob), d->name);
    }
    return CLNAS_OK;
}

/* Fills kr from the per-repeat stage times t[0..4][reps] (forward, backward, Gram, eigen, total). */
static void kappa_summary(const clnas_net *net, const clnas_ntk *ntk, int B, int reps, double *const t[5],
                          double rss, clnas_bench_kappa *kr)
{
    double f, b;
    clnas_net_flops(net, B, &f, &b);
    kr->batch = B;
    kr->reps = reps;
    kr->P = net->njac;
    kr->nparams = net->nparams;
    kr->gflop = (f + B * b + 2.0 * B * B * (double)kr->P) / 1e9;
    kr->fwd = clnas_median(t[0], reps);
    kr->bwd = clnas_median(t[1], reps);
    kr->gram = clnas_median(t[2], reps);
    kr->eig = clnas_median(t[3], reps);
    kr->total = clnas_median(t[4], reps);
    kr->rate = kr->gflop / kr->total;
    kr->seeds = clnas_ntk_seeds(ntk);
    kr->dev_bytes = clnas_ntk_device_bytes(ntk);
    kr->g_bytes = (size_t)B * net->nparams * sizeof(float);
    kr->rss = rss;
}

/* Times one kappa of net (weights `params`) at batch B: `warmup` untimed evaluations, then the
 * medians of `reps` timed ones. FLOP count: forward, B backward seeds, Gram (multiply-add = 2). */
static clnas_status run_kappa(clnas_ctx *ctx, const clnas_dataset *data, const clnas_net *net, const float *params,
                              int B, int seeds, int reps, int warmup, clnas_bench_kappa *kr)
{
    float *x = malloc((size_t)B * net->tensors[0].c * net->tensors[0].h * net->tensors[0].w * sizeof *x);
    double *tbuf = calloc(5 * (size_t)reps, sizeof(double));
    double *t[5];
    for (int i = 0; i < 5; i++) t[i] = tbuf ? tbuf + (size_t)i * (size_t)reps : NULL;
    clnas_sampler *s = NULL;
    clnas_ntk *ntk = NULL;
    clnas_status st = x && tbuf ? CLNAS_OK : clnas_set_error(ctx, CLNAS_E_NOMEM, "out of host memory");
    const int rss_ok = st == CLNAS_OK && rss_reset();
    if (st == CLNAS_OK) st = clnas_sampler_create(data, 0, 1, &s);
    if (st == CLNAS_OK) st = ntk_create_bounded(ctx, net, B, seeds, &ntk);
    if (st == CLNAS_OK) st = clnas_ntk_set_params(ntk, params);
    for (int r = -warmup; st == CLNAS_OK && r < reps; r++) { /* r < 0: warm-up (compiles, first touches) */
        clnas_sampler_batch(s, B, 1, x, NULL);
        clnas_kappa k;
        clnas_ntk_times tm;
        double t0 = clnas_now();
        st = clnas_ntk_eval(ntk, x, &k, NULL, NULL, NULL, NULL, &tm);
        if (st == CLNAS_OK && r >= 0) {
            t[0][r] = tm.forward; t[1][r] = tm.backward; t[2][r] = tm.gram; t[3][r] = tm.eig;
            t[4][r] = clnas_now() - t0;
        }
    }
    if (st == CLNAS_OK) kappa_summary(net, ntk, B, reps, t, rss_ok ? rss_peak_bytes() : -1, kr);
    free(tbuf);
    clnas_ntk_destroy(ntk);
    clnas_sampler_destroy(s);
    free(x);
    return st;
}

/* The weights of net (TE-NAS's init, seed 0, stream 0) in a malloc'd array. */
static clnas_status init_weights(clnas_ctx *ctx, const clnas_net *net, uint64_t stream, float **p)
{
    *p = malloc(clnas_net_nparams(net) * sizeof **p);
    if (!*p) return clnas_set_error(ctx, CLNAS_E_NOMEM, "out of host memory");
    clnas_net_init_params(net, 0, stream, CLNAS_INIT_PYTORCH, *p);
    return CLNAS_OK;
}

clnas_status bench_kappa_of(clnas_ctx *ctx, const clnas_dataset *data, const clnas_net *net, int B, int reps, int seeds,
                            clnas_bench_kappa *kr)
{
    float *p = NULL;
    clnas_status st = init_weights(ctx, net, 0, &p);
    if (st == CLNAS_OK) st = run_kappa(ctx, data, net, p, B, seeds, reps, 1, kr);
    free(p);
    return st;
}

clnas_status bench_kappa(clnas_ctx *ctx, const clnas_dataset *data, const char *archstr, int B, int reps, int seeds,
                         clnas_bench_kappa *kr)
{
    clnas_nb201_config cfg;
    clnas_nb201_config_ntk(&cfg, 10, 32);
    clnas_net *net = NULL;
    float *p = NULL;
    clnas_status st = bench_build_net(ctx, &cfg, archstr, &net);
    if (st == CLNAS_OK) st = init_weights(ctx, net, 0, &p);
    if (st == CLNAS_OK) st = run_kappa(ctx, data, net, p, B, seeds, reps, 1, kr);
    free(p);
    clnas_net_destroy(net);
    return st;
}

clnas_status bench_lr(clnas_ctx *ctx, const clnas_dataset *data, int reps, double *t_med, size_t *R)
{
    clnas_nb201_config cfg;
    clnas_nb201_config_lr(&cfg, 10);
    clnas_net *net = NULL;
    clnas_status st = bench_build_net(ctx, &cfg, "supernet", &net);
    if (st == CLNAS_OK) st = bench_lr_of(ctx, data, net, reps, t_med, R);
    clnas_net_destroy(net);
    return st;
}

clnas_status bench_lr_of(clnas_ctx *ctx, const clnas_dataset *data, const clnas_net *net, int reps, double *t_med, size_t *R)
{
    float *p = NULL, *x = malloc(CLNAS_BENCH_LR_SAMPLES * 9 * sizeof *x);
    double *t = calloc((size_t)reps, sizeof *t);
    clnas_sampler *s = NULL;
    clnas_lr *lr = NULL;
    clnas_status st = x && t ? CLNAS_OK : clnas_set_error(ctx, CLNAS_E_NOMEM, "out of host memory");
    if (st == CLNAS_OK) st = init_weights(ctx, net, 1, &p);
    if (st == CLNAS_OK) st = clnas_sampler_create(data, 0, 2, &s);
    if (st == CLNAS_OK) st = clnas_lr_create(ctx, net, CLNAS_BENCH_LR_BATCH, &lr);
    if (st == CLNAS_OK) st = clnas_lr_set_params(lr, p);
    for (int r = -1; st == CLNAS_OK && r < reps; r++) {
        clnas_sampler_patches(s, CLNAS_BENCH_LR_SAMPLES, x);
        double t0 = clnas_now();
        st = clnas_lr_count(lr, x, CLNAS_BENCH_LR_SAMPLES, R, NULL, NULL);
        if (r >= 0) t[r] = clnas_now() - t0;
    }
    if (st == CLNAS_OK) *t_med = clnas_median(t, reps);
    free(t);
    clnas_lr_destroy(lr);
    clnas_sampler_destroy(s);
    free(p);
    free(x);
    return st;
}

clnas_status clnas_bench_overview_run(clnas_ctx *ctx, const clnas_dataset *data, int batch, int seeds, int reps,
                                      clnas_bench_overview *o)
{
    memset(o, 0, sizeof *o);
    o->batch = batch;
    o->reps = reps;
    o->what[0] = "kappa, proxy supernet";
    o->what[1] = "kappa, single path";
    o->arch[0] = "supernet";
    o->arch[1] = CLNAS_BENCH_SINGLE_PATH;
    o->have_host = clnas_bench_host_open(&o->host);
    clnas_status st = bench_sgemm_rate(ctx, 1024, 1024, 1024, reps, &o->sgemm_1024);
    if (st == CLNAS_OK) st = clnas_bench_host_sgemm(ctx, &o->host, 1024, 1024, 1024, 0, reps, &o->host_1024);
    if (st == CLNAS_OK) st = bench_kappa(ctx, data, o->arch[0], batch, reps, seeds, &o->kappa[0]);
    if (st == CLNAS_OK) st = bench_sgemm_rate(ctx, (size_t)batch, (size_t)batch, o->kappa[0].P, reps, &o->sgemm_gram);
    if (st == CLNAS_OK)
        st = clnas_bench_host_sgemm(ctx, &o->host, (size_t)batch, (size_t)batch, o->kappa[0].P, 1, reps, &o->host_gram);
    clnas_bench_host_close(&o->host);
    if (st == CLNAS_OK) st = bench_kappa(ctx, data, o->arch[1], batch, reps, seeds, &o->kappa[1]);
    if (st == CLNAS_OK) st = bench_lr(ctx, data, reps, &o->lr_s, &o->regions);
    return st;
}

/* ---------------- --scaling ---------------- */

#define FULL_ARCH "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
static const char PROXY_NAME[] = "NTK proxy supernet (C=3, N=1)", FULL_NAME[] = "NB201 C=16 N=5, all nor_conv_3x3";

/* Times one kappa of one network at each batch in `batches` (ascending; those <= max_batch).
 * A kappa at the smallest of them runs first, untimed: it compiles every kernel of the network
 * (programs are built per shape, not per batch) and, on PoCL, most of the per-work-group-size
 * variants that a batch of the same divisibility needs, so rows with a single repeat (the full
 * network) do not pay for compilation; it costs about (smallest / largest batch)^2 of the
 * largest row. */
static clnas_status scale_net(clnas_ctx *ctx, const clnas_dataset *data, const char *name, const clnas_nb201_config *cfg,
                              const char *archstr, const int *batches, int nb, const clnas_bench_scaling_opts *o, int reps,
                              clnas_bench_scale_row *rows, int *nrows)
{
    clnas_net *net = NULL;
    float *p = NULL;
    clnas_status st = bench_build_net(ctx, cfg, archstr, &net);
    if (st == CLNAS_OK) st = init_weights(ctx, net, 0, &p);
    clnas_bench_kappa warm;
    if (st == CLNAS_OK && nb > 0 && batches[0] <= o->max_batch)
        st = run_kappa(ctx, data, net, p, batches[0], o->seeds, 1, 0, &warm);
    for (int i = 0; st == CLNAS_OK && i < nb; i++) {
        if (batches[i] > o->max_batch) continue;
        if (*nrows == CLNAS_BENCH_MAX_SCALE_ROWS) break;
        clnas_bench_scale_row *r = &rows[*nrows];
        r->net = name;
        st = run_kappa(ctx, data, net, p, batches[i], o->seeds, reps, 0, &r->k);
        if (st != CLNAS_OK) {
            clnas_append_error(ctx, " [%s, batch %d]", name, batches[i]);
            break;
        }
        const int prev = *nrows > 0 && rows[*nrows - 1].net == name;
        r->time_ratio = prev ? r->k.total / rows[*nrows - 1].k.total : -1;
        r->memory_ratio = prev ? (double)r->k.dev_bytes / (double)rows[*nrows - 1].k.dev_bytes : -1;
        (*nrows)++;
    }
    free(p);
    clnas_net_destroy(net);
    return st;
}

/* Checks that every row of a network fits the device before any row runs: the full network's
 * rows take minutes, and a batch that cannot fit should not be found out after them. */
static clnas_status scale_check(clnas_ctx *ctx, const char *name, const clnas_nb201_config *cfg, const char *archstr,
                                const int *batches, int nb, const clnas_bench_scaling_opts *o)
{
    clnas_net *net = NULL;
    clnas_status st = bench_build_net(ctx, cfg, archstr, &net);
    int cap;
    for (int i = 0; st == CLNAS_OK && i < nb; i++) {
        if (batches[i] > o->max_batch) continue;
        st = ntk_check_fit(ctx, net, batches[i], o->seeds, &cap);
        if (st != CLNAS_OK) clnas_append_error(ctx, " [%s, batch %d]", name, batches[i]);
    }
    clnas_net_destroy(net);
    return st;
}

clnas_status clnas_bench_scaling_run(clnas_ctx *ctx, const clnas_dataset *data, const clnas_bench_scaling_opts *o,
                                     clnas_bench_scale_row rows[CLNAS_BENCH_MAX_SCALE_ROWS], int *nrows)
{
    static const int proxy_b[] = {16, 32, 72, 128}, full_b[] = {16, 64};
    clnas_nb201_config pcfg, fcfg;
    clnas_nb201_config_ntk(&pcfg, 10, 32);
    clnas_nb201_config_default(&fcfg);
    *nrows = 0;
    clnas_status st = scale_check(ctx, PROXY_NAME, &pcfg, "supernet", proxy_b, 4, o);
    if (st == CLNAS_OK && o->full) st = scale_check(ctx, FULL_NAME, &fcfg, FULL_ARCH, full_b, 2, o);
    /* proxy rows: o->reps repeats (batch 128 takes seconds); full-network rows: one run each */
    if (st == CLNAS_OK) st = scale_net(ctx, data, PROXY_NAME, &pcfg, "supernet", proxy_b, 4, o, o->reps, rows, nrows);
    if (st == CLNAS_OK && o->full) st = scale_net(ctx, data, FULL_NAME, &fcfg, FULL_ARCH, full_b, 2, o, 1, rows, nrows);
    return st;
}
