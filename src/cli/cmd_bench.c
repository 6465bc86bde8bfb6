/* cmd_bench.c - `clnas bench`: performance measurements, never run by the unit tests.
 *
 * Three modes (--shapes and --scaling may be combined; without either, the default):
 * - default: one kappa (proxy supernet and a single path) and one R, stage by stage, as
 *   medians over repeats, with the achieved FLOP rate next to the device's CLBlast SGEMM rate
 *   measured in the same run;
 * - --shapes: the achieved rate of every convolution shape the two TE-NAS proxies run
 *   (forward, backward-data and backward-weight separately, through the op functions the
 *   executor calls, at the seeds in flight the NTK uses), each shape's share of a kappa's
 *   convolution time, and the effective bandwidth of the non-convolution backward ops;
 * - --scaling: one kappa of the proxy supernet at growing batches and of the full NB201
 *   evaluation network, with time, FLOP rate, seeds in flight and device memory, and how
 *   they grow from one batch to the next.
 * The shape lists are read off the networks' layer graphs, so they follow the networks. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "clnas/score.h"
#include "internal.h"
#include "model/graph.h"

static double mib(double bytes) { return bytes / 1048576.0; }

/* JSON string body of s (quotes and backslashes escaped, control characters blanked). */
static void json_escape(const char *s, char *out, size_t len)
{
    size_t o = 0;
    for (const char *c = s; *c && o + 2 < len; c++) {
        if (*c == '"' || *c == '\\') out[o++] = '\\';
        out[o++] = (unsigned char)*c < 0x20 ? ' ' : *c;
    }
    out[o] = 0;
}

/* A JSON number, or null for a value that was not measured (negative) or is not finite. */
static void json_num(const char *key, double v, const char *fmt, int comma)
{
    printf("%s\"%s\": ", comma ? ", " : "", key);
    if (v < 0 || !isfinite(v)) printf("null");
    else printf(fmt, v);
}

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

/* SGEMM rate: median of `reps` runs of an m x n x k product (after one warm-up that compiles). */
static int sgemm_rate(clnas_ctx *ctx, size_t m, size_t n, size_t k, int reps, double *gflops)
{
    cl_mem a = NULL, b = NULL, c = NULL;
    int ok = clnas_buf_alloc(ctx, m * k * 4, &a) == CLNAS_OK && clnas_buf_alloc(ctx, k * n * 4, &b) == CLNAS_OK &&
             clnas_buf_alloc(ctx, m * n * 4, &c) == CLNAS_OK && clnas_buf_zero(ctx, a, 0, m * k * 4) == CLNAS_OK &&
             clnas_buf_zero(ctx, b, 0, k * n * 4) == CLNAS_OK;
    double *t = calloc((size_t)reps, sizeof *t);
    ok = ok && t;
    for (int r = -1; ok && r < reps; r++) {
        double t0 = clnas_now();
        ok = clnas_gemm(ctx, 0, 0, m, n, k, 1.0f, a, 0, k, b, 0, n, 0.0f, c, 0, n) == CLNAS_OK && clnas_ctx_finish(ctx) == CLNAS_OK;
        if (r >= 0) t[r] = clnas_now() - t0;
    }
    if (ok) *gflops = 2.0 * m * n * k / clnas_cli_median(t, reps) / 1e9;
    free(t);
    clnas_buf_free(a);
    clnas_buf_free(b);
    clnas_buf_free(c);
    return ok;
}

/* ---------------- one kappa ---------------- */

static int build_net(clnas_ctx *ctx, const clnas_nb201_config *cfg, const char *archstr, clnas_net **net)
{
    clnas_nb201_arch arch;
    char err[256];
    if (clnas_nb201_parse(archstr, &arch, err, sizeof err) != CLNAS_OK ||
        clnas_nb201_build(cfg, &arch, net, err, sizeof err) != CLNAS_OK) {
        clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "%s", err);
        return 0;
    }
    return 1;
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
    const double maxa = (double)d->max_alloc_bytes, glob = (double)d->global_mem_bytes;
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
    const double have = (double)clnas_ntk_device_bytes(*out), glob = (double)d->global_mem_bytes;
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

typedef struct kappa_run {
    int batch, seeds, reps;
    size_t P, nparams, dev_bytes, g_bytes;
    double fwd, bwd, gram, eig, total, gflop, rate;
    double rss; /* peak RSS during the timed runs, bytes; < 0 unknown */
} kappa_run;

/* Times one kappa of net (weights `params`) at batch B: `warmup` untimed evaluations, then the
 * medians of `reps` timed ones. FLOP count: forward, B backward seeds, Gram (multiply-add = 2). */
static int run_kappa(clnas_ctx *ctx, const clnas_dataset *data, const clnas_net *net, const float *params, int B,
                     int seeds, int reps, int warmup, kappa_run *kr)
{
    float *x = malloc((size_t)B * net->tensors[0].c * net->tensors[0].h * net->tensors[0].w * sizeof *x);
    double *tf = calloc((size_t)reps, sizeof(double)), *tb = calloc((size_t)reps, sizeof(double));
    double *tg = calloc((size_t)reps, sizeof(double)), *te = calloc((size_t)reps, sizeof(double));
    double *tt = calloc((size_t)reps, sizeof(double));
    clnas_sampler *s = NULL;
    clnas_ntk *ntk = NULL;
    int ok = x && tf && tb && tg && te && tt;
    if (!ok) clnas_set_error(ctx, CLNAS_E_NOMEM, "out of host memory");
    const int rss_ok = ok && rss_reset();
    ok = ok && clnas_sampler_create(data, 0, 1, &s) == CLNAS_OK && ntk_create_bounded(ctx, net, B, seeds, &ntk) == CLNAS_OK &&
         clnas_ntk_set_params(ntk, params) == CLNAS_OK;
    for (int r = -warmup; ok && r < reps; r++) { /* r < 0: warm-up (compiles, first touches) */
        clnas_sampler_batch(s, B, 1, x, NULL);
        clnas_kappa k;
        clnas_ntk_times t;
        double t0 = clnas_now();
        ok = clnas_ntk_eval(ntk, x, &k, NULL, NULL, NULL, NULL, &t) == CLNAS_OK;
        if (ok && r >= 0) { tf[r] = t.forward; tb[r] = t.backward; tg[r] = t.gram; te[r] = t.eig; tt[r] = clnas_now() - t0; }
    }
    if (ok) {
        double f, b;
        clnas_net_flops(net, B, &f, &b);
        kr->batch = B;
        kr->reps = reps;
        kr->P = net->njac;
        kr->nparams = net->nparams;
        kr->gflop = (f + B * b + 2.0 * B * B * (double)kr->P) / 1e9;
        kr->fwd = clnas_cli_median(tf, reps); kr->bwd = clnas_cli_median(tb, reps); kr->gram = clnas_cli_median(tg, reps); kr->eig = clnas_cli_median(te, reps);
        kr->total = clnas_cli_median(tt, reps);
        kr->rate = kr->gflop / kr->total;
        kr->seeds = clnas_ntk_seeds(ntk);
        kr->dev_bytes = clnas_ntk_device_bytes(ntk);
        kr->g_bytes = (size_t)B * net->nparams * sizeof(float);
        kr->rss = rss_ok ? rss_peak_bytes() : -1;
    }
    free(tf); free(tb); free(tg); free(te); free(tt);
    clnas_ntk_destroy(ntk);
    clnas_sampler_destroy(s);
    free(x);
    return ok;
}

/* Builds the NTK proxy (C=3, N=1, 32x32, 10 classes) of archstr with TE-NAS's init and times its kappa. */
static int bench_kappa(clnas_ctx *ctx, const clnas_dataset *data, const char *archstr, int B, int reps, int seeds,
                       kappa_run *kr)
{
    clnas_nb201_config cfg;
    clnas_nb201_config_ntk(&cfg, 10, 32);
    clnas_net *net = NULL;
    if (!build_net(ctx, &cfg, archstr, &net)) return 0;
    float *p = malloc(net->nparams * sizeof *p);
    int ok = p != NULL;
    if (!ok) clnas_set_error(ctx, CLNAS_E_NOMEM, "out of host memory");
    if (ok) clnas_net_init_params(net, 0, 0, CLNAS_INIT_PYTORCH, p);
    ok = ok && run_kappa(ctx, data, net, p, B, seeds, reps, 1, kr);
    free(p);
    clnas_net_destroy(net);
    return ok;
}

#define LR_SAMPLES 3000 /* patches per R, as TE-NAS: 3 batches of 1000 */
#define LR_BATCH 1000

static int bench_lr(clnas_ctx *ctx, const clnas_dataset *data, int reps, double *t_med, size_t *R)
{
    clnas_nb201_config cfg;
    clnas_nb201_config_lr(&cfg, 10);
    clnas_net *net = NULL;
    if (!build_net(ctx, &cfg, "supernet", &net)) return 0;
    size_t np = clnas_net_nparams(net);
    float *p = malloc(np * sizeof *p), *x = malloc(LR_SAMPLES * 9 * sizeof *x);
    double *t = calloc((size_t)reps, sizeof *t);
    clnas_sampler *s = NULL;
    clnas_lr *lr = NULL;
    int ok = p && x && t;
    if (!ok) clnas_set_error(ctx, CLNAS_E_NOMEM, "out of host memory");
    if (ok) clnas_net_init_params(net, 0, 1, CLNAS_INIT_PYTORCH, p);
    ok = ok && clnas_sampler_create(data, 0, 2, &s) == CLNAS_OK && clnas_lr_create(ctx, net, LR_BATCH, &lr) == CLNAS_OK &&
         clnas_lr_set_params(lr, p) == CLNAS_OK;
    for (int r = -1; ok && r < reps; r++) {
        clnas_sampler_patches(s, LR_SAMPLES, x);
        double t0 = clnas_now();
        ok = clnas_lr_count(lr, x, LR_SAMPLES, R, NULL, NULL) == CLNAS_OK;
        if (r >= 0) t[r] = clnas_now() - t0;
    }
    if (ok) *t_med = clnas_cli_median(t, reps);
    free(t);
    clnas_lr_destroy(lr);
    clnas_sampler_destroy(s);
    clnas_net_destroy(net);
    free(p);
    free(x);
    return ok;
}

/* ---------------- --shapes: per-op rates ---------------- */

/* One distinct op shape of a network and how often one pass runs it. */
typedef struct op_row {
    layer_kind kind;                    /* L_CONV, L_BN, L_RELU, L_AVGPOOL or L_SUM */
    int c, cout, h, w, k, stride, pad;  /* c: input channels (SUM: output channels); cout, k.. per kind */
    int calls;                          /* conv: layers (forward calls = backward-weight calls);
                                           others: calls per backward pass */
    int dx_calls;                       /* conv: layers whose backward computes the input gradient */
    double t[2][3];                     /* median s per call at [S seeds / the last, smaller seed batch]
                                           [forward, backward-data, backward-weight] (non-conv: [.][0]) */
} op_row;

#define MAX_ROWS 256
#define MIN_REPEAT_S 0.005 /* a timed repeat runs the op this long at least (batched calls) */

static const char *kind_name(layer_kind k)
{
    switch (k) {
    case L_CONV: return "conv";
    case L_BN: return "bn";
    case L_RELU: return "relu";
    case L_AVGPOOL: return "avgpool";
    case L_SUM: return "sum";
    default: return "?";
    }
}

/* Adds one call of a shape to rows (deduplicated by kind and shape). */
static int add_row(op_row *rows, int *n, const op_row *key, int dx)
{
    for (int i = 0; i < *n; i++) {
        op_row *r = &rows[i];
        if (r->kind == key->kind && r->c == key->c && r->cout == key->cout && r->h == key->h && r->w == key->w &&
            r->k == key->k && r->stride == key->stride && r->pad == key->pad) {
            r->calls++;
            r->dx_calls += dx;
            return 1;
        }
    }
    if (*n == MAX_ROWS) return 0;
    rows[*n] = *key;
    rows[*n].calls = 1;
    rows[*n].dx_calls = dx;
    (*n)++;
    return 1;
}

/* Walks net's layers and counts the calls of an NTK backward (no input gradient) with one op
 * call per layer: every conv runs forward and backward-weight, and backward-data unless it
 * reads the network input; BN and ReLU run one backward each; average pooling only when it
 * does not read the input; an edge sum one axpby per summand that is not the input. The
 * convolution counts are what any executor must run; an executor that folds ReLUs into the
 * convolutions' backward or reads edge-sum gradients in place runs fewer non-conv calls than
 * counted here. GAP and the linear layer are left out (a few hundred floats). conv_only: the
 * convolutions alone. */
static int collect_rows(const clnas_net *net, int conv_only, op_row *rows, int *n)
{
    for (int i = 0; i < net->nlayers; i++) {
        const layer *l = &net->layers[i];
        op_row key;
        memset(&key, 0, sizeof key);
        key.kind = l->kind;
        if (l->kind == L_SUM) {
            if (conv_only) continue;
            const tensor_desc *to = &net->tensors[l->out];
            key.c = to->c; key.h = to->h; key.w = to->w;
            for (int j = 0; j < l->nin; j++)
                if (l->ins[j] != 0 && !add_row(rows, n, &key, 0)) return 0;
            continue;
        }
        const tensor_desc *ti = &net->tensors[l->in];
        key.c = ti->c; key.h = ti->h; key.w = ti->w;
        if (l->kind == L_CONV) {
            key.cout = l->cout; key.k = l->k; key.stride = l->stride; key.pad = l->pad;
            if (!add_row(rows, n, &key, l->in != 0)) return 0;
        } else if (!conv_only && (l->kind == L_BN || l->kind == L_RELU)) {
            if (!add_row(rows, n, &key, 0)) return 0;
        } else if (!conv_only && l->kind == L_AVGPOOL && l->in != 0) {
            key.k = l->k; key.stride = l->stride; key.pad = l->pad;
            if (!add_row(rows, n, &key, 0)) return 0;
        }
    }
    return 1;
}

/* The device buffers and shapes of one row, and which op a call runs. */
typedef struct op_bench {
    op_row *row;
    int N;                   /* batch */
    clnas_conv_shape cs;
    clnas_bn_shape bs;
    clnas_pool_shape ps;
    size_t n_in, n_out;      /* floats of one seed's input / output over the batch */
    cl_mem x, w, y, dy, dx, dw, ws, stats;
    size_t g_ld;             /* row stride of the parameter gradients (= their count) */
} op_bench;

/* One call of op `which` (0 forward, 1 backward-data / the backward of a non-conv op,
 * 2 backward-weight) with S seeds through the op API of ops.h, in its plain form (input
 * gradients accumulated, no fused ReLU). */
static clnas_status op_once(clnas_ctx *ctx, const op_bench *b, int which, int S)
{
    const clnas_dt x = {b->x, 0}, w = {b->w, 0}, y = {b->y, 0}, dy = {b->dy, 0}, dx = {b->dx, 0};
    const clnas_dt dw = {b->dw, 0}, ws = {b->ws, 0}, stats = {b->stats, 0};
    switch (b->row->kind) {
    case L_CONV:
        if (which == 0) return clnas_conv_fwd(ctx, &b->cs, x, w, y);
        if (which == 1) return clnas_conv_bwd_data(ctx, &b->cs, S, w, dy, dx);
        return clnas_conv_bwd_weight(ctx, &b->cs, S, x, dy, dw, b->g_ld, ws);
    case L_BN: { /* w = [gamma | beta], dw rows = [dgamma | dbeta] */
        const clnas_dt beta = {b->w, (size_t)b->bs.c}, dbeta = {b->dw, (size_t)b->bs.c};
        if (which == 0) return clnas_bn_fwd(ctx, &b->bs, x, w, beta, y, stats);
        return clnas_bn_bwd(ctx, &b->bs, S, x, w, stats, dy, dx, dw, dbeta, b->g_ld);
    }
    case L_RELU: return clnas_relu_bwd(ctx, b->n_in, S, x, dy, dx);
    case L_AVGPOOL: return clnas_avgpool_bwd(ctx, &b->ps, S, dy, dx);
    case L_SUM: return clnas_axpby(ctx, b->n_out * (size_t)S, 0.5f, dy, 1.0f, dx);
    default: return CLNAS_E_INVALID_ARG;
    }
}

/* Median seconds per call of op `which` with S seeds. Two untimed calls first: the first
 * compiles the kernel and touches the buffers, the second sizes the repeats: tiny ops are
 * enqueued several times per repeat (as the executor enqueues them, without waiting between
 * ops), so each timed repeat lasts MIN_REPEAT_S at least and the queue round trip of one
 * finish does not dominate. */
static int time_op(clnas_ctx *ctx, const op_bench *b, int which, int S, int reps, double *sec)
{
    double tw = 0;
    for (int i = 0; i < 2; i++) {
        double t0 = clnas_now();
        if (op_once(ctx, b, which, S) != CLNAS_OK || clnas_ctx_finish(ctx) != CLNAS_OK) return 0;
        tw = clnas_now() - t0;
    }
    int inner = tw >= MIN_REPEAT_S ? 1 : (int)ceil(MIN_REPEAT_S / (tw > 1e-7 ? tw : 1e-7));
    if (inner > 1000) inner = 1000;
    double *t = calloc((size_t)reps, sizeof *t);
    if (!t) { clnas_set_error(ctx, CLNAS_E_NOMEM, "out of host memory"); return 0; }
    int ok = 1;
    for (int r = 0; ok && r < reps; r++) {
        double t0 = clnas_now();
        for (int i = 0; ok && i < inner; i++) ok = op_once(ctx, b, which, S) == CLNAS_OK;
        ok = ok && clnas_ctx_finish(ctx) == CLNAS_OK;
        t[r] = (clnas_now() - t0) / inner;
    }
    if (ok) *sec = clnas_cli_median(t, reps);
    free(t);
    return ok;
}

/* A device buffer of `floats` floats, uniform in [-1, 1) (random) or zero. Values only have to
 * be ordinary floats: the kernels' speed does not depend on them, except that denormals or
 * NaNs could slow a CPU down. */
static int buf_make(clnas_ctx *ctx, size_t floats, int random, uint64_t seed, cl_mem *m)
{
    if (floats == 0) floats = 1;
    if (clnas_buf_alloc(ctx, floats * sizeof(float), m) != CLNAS_OK) return 0;
    if (!random) return clnas_buf_zero(ctx, *m, 0, floats * sizeof(float)) == CLNAS_OK;
    float *h = malloc(floats * sizeof *h);
    if (!h) { clnas_set_error(ctx, CLNAS_E_NOMEM, "out of host memory"); return 0; }
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
    for (size_t i = 0; i < floats; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        h[i] = (float)((double)(s >> 40) / 8388608.0 - 1.0); /* 24 random bits -> [-1, 1) */
    }
    int ok = clnas_buf_write(ctx, *m, 0, floats * sizeof(float), h) == CLNAS_OK;
    free(h);
    return ok;
}

/* Measures one row at batch N with S seeds and, when rem > 0, with the rem seeds of the last
 * backward pass of a kappa too. fwd_only: the convolution's forward alone (the linear-region
 * proxy never runs a backward). */
static int bench_row(clnas_ctx *ctx, op_row *r, int N, int S, int rem, int fwd_only, int reps)
{
    op_bench b;
    memset(&b, 0, sizeof b);
    b.row = r;
    b.N = N;
    size_t nx = 0, nw = 0, ny = 0, nws = 0, nstats = 0;
    b.n_in = (size_t)N * r->c * r->h * r->w;
    switch (r->kind) {
    case L_CONV:
        clnas_conv_shape_init(&b.cs, N, r->c, r->h, r->w, r->cout, r->k, r->stride, r->pad);
        nx = b.n_in;
        nw = b.g_ld = (size_t)r->cout * r->c * r->k * r->k;
        ny = b.n_out = (size_t)N * r->cout * b.cs.hout * b.cs.wout;
        nws = clnas_conv_workspace_floats(&b.cs, S);
        break;
    case L_BN:
        b.bs.n = N; b.bs.c = r->c; b.bs.h = r->h; b.bs.w = r->w; b.bs.eps = CLNAS_BN_EPS;
        nx = ny = b.n_out = b.n_in;
        nw = b.g_ld = 2 * (size_t)r->c;
        nstats = 2 * (size_t)r->c;
        break;
    case L_RELU: nx = b.n_out = b.n_in; break;
    case L_AVGPOOL:
        clnas_pool_shape_init(&b.ps, N, r->c, r->h, r->w, r->k, r->stride, r->pad);
        b.n_out = (size_t)N * r->c * b.ps.hout * b.ps.wout;
        break;
    case L_SUM: b.n_out = b.n_in; break;
    default: return 0;
    }
    const size_t Sm = fwd_only ? 0 : (size_t)S; /* seed blocks to allocate */
    int ok = (!nx || buf_make(ctx, nx, 1, 1, &b.x)) && (!nw || buf_make(ctx, nw, 1, 2, &b.w)) &&
             (!ny || buf_make(ctx, ny, 0, 0, &b.y)) && (!nstats || buf_make(ctx, nstats, 0, 0, &b.stats)) &&
             (!Sm || buf_make(ctx, Sm * b.n_out, 1, 3, &b.dy)) && (!Sm || buf_make(ctx, Sm * b.n_in, 0, 0, &b.dx)) &&
             (!Sm || !nw || buf_make(ctx, Sm * nw, 0, 0, &b.dw)) && (!Sm || !nws || buf_make(ctx, nws, 0, 0, &b.ws));
    /* BN's backward reads the batch statistics its forward wrote */
    if (ok && r->kind == L_BN) ok = op_once(ctx, &b, 0, S) == CLNAS_OK && clnas_ctx_finish(ctx) == CLNAS_OK;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++) r->t[i][j] = -1;
    if (r->kind == L_CONV) {
        ok = ok && time_op(ctx, &b, 0, S, reps, &r->t[0][0]);
        if (!fwd_only) {
            ok = ok && time_op(ctx, &b, 1, S, reps, &r->t[0][1]) && time_op(ctx, &b, 2, S, reps, &r->t[0][2]);
            if (rem > 0) ok = ok && time_op(ctx, &b, 1, rem, reps, &r->t[1][1]) && time_op(ctx, &b, 2, rem, reps, &r->t[1][2]);
        }
    } else {
        ok = ok && time_op(ctx, &b, 1, S, reps, &r->t[0][0]);
        if (rem > 0) ok = ok && time_op(ctx, &b, 1, rem, reps, &r->t[1][0]);
    }
    clnas_buf_free(b.x); clnas_buf_free(b.w); clnas_buf_free(b.y); clnas_buf_free(b.stats);
    clnas_buf_free(b.dy); clnas_buf_free(b.dx); clnas_buf_free(b.dw); clnas_buf_free(b.ws);
    return ok;
}

/* FLOP of one convolution call over the batch for one seed (multiply-add = 2); the backward
 * ops do this once per seed. */
static double conv_flop(const op_row *r, int N)
{
    const int ho = (r->h + 2 * r->pad - r->k) / r->stride + 1, wo = (r->w + 2 * r->pad - r->k) / r->stride + 1;
    return 2.0 * N * r->cout * ho * wo * (double)r->c * r->k * r->k;
}

/* Bytes one backward call of a non-conv op must move at least, with S seeds: the shared
 * forward input once, each seed's output gradient read, each seed's input gradient read and
 * written (they accumulate). A kernel that reads something twice moves more than this, so this
 * "effective" rate is a lower bound of the bandwidth the kernel really achieves. */
static double op_bytes(const op_row *r, int N, int S)
{
    const double n = (double)N * r->c * r->h * r->w;
    switch (r->kind) {
    case L_BN:
    case L_RELU: return 4.0 * (n + 3.0 * S * n);
    case L_SUM: return 4.0 * 3.0 * S * n;
    case L_AVGPOOL: {
        const int ho = (r->h + 2 * r->pad - r->k) / r->stride + 1, wo = (r->w + 2 * r->pad - r->k) / r->stride + 1;
        return 4.0 * S * ((double)N * r->c * ho * wo + 2.0 * n);
    }
    default: return 0;
    }
}

/* Seconds the row accounts for in one kappa: `full` backward passes of S seeds and one of rem
 * seeds (conv rows add their forward calls). */
static double row_kappa_s(const op_row *r, int full, int rem)
{
    if (r->kind == L_CONV) {
        double t = r->calls * r->t[0][0] + full * (r->dx_calls * r->t[0][1] + r->calls * r->t[0][2]);
        if (rem > 0) t += r->dx_calls * r->t[1][1] + r->calls * r->t[1][2];
        return t;
    }
    return full * r->calls * r->t[0][0] + (rem > 0 ? r->calls * r->t[1][0] : 0);
}

typedef struct shapes_result {
    int B, S, full, rem;
    kappa_run kappa;          /* a measured supernet kappa, for reference */
    double t_lr;              /* a measured R */
    size_t regions;
    op_row conv[MAX_ROWS], other[MAX_ROWS], lr[MAX_ROWS];
    int nconv, nother, nlr;
    double conv_s, other_s, lr_s; /* estimated per kappa / per R from the per-call medians */
} shapes_result;

static int bench_shapes(clnas_ctx *ctx, const clnas_dataset *data, int B, int seeds, int reps, shapes_result *sr)
{
    sr->B = B;
    /* a whole kappa first: it gives the seeds in flight the NTK picks, a reference time, and
       compiles every kernel the rows below run */
    if (!bench_kappa(ctx, data, "supernet", B, reps, seeds, &sr->kappa)) return 0;
    if (!bench_lr(ctx, data, reps, &sr->t_lr, &sr->regions)) return 0;
    const int S = sr->S = sr->kappa.seeds;
    sr->full = B / S;
    sr->rem = B % S;
    clnas_nb201_config cfg;
    clnas_net *ntk_net = NULL, *lr_net = NULL;
    clnas_nb201_config_ntk(&cfg, 10, 32);
    int ok = build_net(ctx, &cfg, "supernet", &ntk_net);
    clnas_nb201_config_lr(&cfg, 10);
    ok = ok && build_net(ctx, &cfg, "supernet", &lr_net);
    sr->nconv = sr->nother = sr->nlr = 0;
    if (ok && (!collect_rows(ntk_net, 1, sr->conv, &sr->nconv) || !collect_rows(ntk_net, 0, sr->other, &sr->nother) ||
               !collect_rows(lr_net, 1, sr->lr, &sr->nlr))) {
        clnas_set_error(ctx, CLNAS_E_UNSUPPORTED, "more than %d distinct op shapes", MAX_ROWS);
        ok = 0;
    }
    /* collect_rows(.., 0, ..) lists the convolutions too: keep the other kinds only */
    int m = 0;
    for (int i = 0; ok && i < sr->nother; i++)
        if (sr->other[i].kind != L_CONV) sr->other[m++] = sr->other[i];
    sr->nother = m;
    sr->conv_s = sr->other_s = sr->lr_s = 0;
    for (int i = 0; ok && i < sr->nconv; i++) {
        ok = bench_row(ctx, &sr->conv[i], B, S, sr->rem, 0, reps);
        if (ok) sr->conv_s += row_kappa_s(&sr->conv[i], sr->full, sr->rem);
    }
    for (int i = 0; ok && i < sr->nother; i++) {
        ok = bench_row(ctx, &sr->other[i], B, S, sr->rem, 0, reps);
        if (ok) sr->other_s += row_kappa_s(&sr->other[i], sr->full, sr->rem);
    }
    for (int i = 0; ok && i < sr->nlr; i++) {
        ok = bench_row(ctx, &sr->lr[i], LR_BATCH, 1, 0, 1, reps);
        if (ok) sr->lr_s += (LR_SAMPLES / LR_BATCH) * sr->lr[i].calls * sr->lr[i].t[0][0];
    }
    clnas_net_destroy(ntk_net);
    clnas_net_destroy(lr_net);
    return ok;
}

static void conv_label(const op_row *r, char *buf, size_t len)
{
    snprintf(buf, len, "%d->%d %dx%d k%d s%d p%d", r->c, r->cout, r->h, r->w, r->k, r->stride, r->pad);
}
static void other_label(const op_row *r, char *buf, size_t len)
{
    if (r->kind == L_AVGPOOL)
        snprintf(buf, len, "avgpool %d %dx%d k%d s%d p%d", r->c, r->h, r->w, r->k, r->stride, r->pad);
    else
        snprintf(buf, len, "%s %d %dx%d", r->kind == L_SUM ? "sum (axpby)" : kind_name(r->kind), r->c, r->h, r->w);
}

static void print_shapes(const clnas_device_info *d, long reps, const shapes_result *sr)
{
    const kappa_run *k = &sr->kappa;
    printf("device %d: %s (%s, %u compute units), medians of %ld repeats\n\n", d->index, d->name, d->type,
           d->compute_units, reps);
    printf("Convolutions of the NTK proxy supernet (C=3, N=1, 32x32; %d distinct shapes) at batch %d with S = %d seeds\n"
           "in flight (one kappa = 1 forward + %d backward pass(es) of %d seeds%s), and of the linear-region proxy\n"
           "(C=1, one cell, 3x3 input; forward only, %d batches of %d per R). FLOP per call: multiply-add = 2; the\n"
           "backward ops do S seeds per call. n: layers of the shape; dx: of those, with a backward-data call.\n"
           "s/kappa: n x (forward + backward-weight) + dx x backward-data over a kappa's passes; share: of the\n"
           "convolution time of one kappa (of one R for the linear-region rows).\n\n",
           sr->nconv, sr->B, sr->S, sr->full, sr->S, sr->rem ? " + 1 of the rest" : "", LR_SAMPLES / LR_BATCH, LR_BATCH);
    printf("%-22s %5s %4s %3s %3s %9s %8s %7s %9s %8s %7s %8s %7s %9s %7s\n", "shape Cin->Cout HxW", "batch", "S", "n",
           "dx", "fwd MFLOP", "fwd ms", "GFLOP/s", "bwd MFLOP", "data ms", "GFLOP/s", "wgt ms", "GFLOP/s", "s/kappa",
           "share");
    for (int i = 0; i < sr->nconv; i++) {
        const op_row *r = &sr->conv[i];
        char lab[64];
        conv_label(r, lab, sizeof lab);
        const double f = conv_flop(r, sr->B), ks = row_kappa_s(r, sr->full, sr->rem);
        printf("%-22s %5d %4d %3d %3d %9.2f %8.3f %7.2f %9.2f %8.3f %7.2f %8.3f %7.2f %9.4f %6.1f%%\n", lab, sr->B, sr->S,
               r->calls, r->dx_calls, f / 1e6, r->t[0][0] * 1e3, f / r->t[0][0] / 1e9, sr->S * f / 1e6,
               r->t[0][1] * 1e3, sr->S * f / r->t[0][1] / 1e9, r->t[0][2] * 1e3, sr->S * f / r->t[0][2] / 1e9, ks,
               100 * ks / sr->conv_s);
    }
    for (int i = 0; i < sr->nlr; i++) {
        const op_row *r = &sr->lr[i];
        char lab[64];
        conv_label(r, lab, sizeof lab);
        const double f = conv_flop(r, LR_BATCH), rs = (LR_SAMPLES / LR_BATCH) * r->calls * r->t[0][0];
        printf("%-22s %5d %4s %3d %3s %9.2f %8.3f %7.2f %9s %8s %7s %8s %7s %9.4f %6.1f%%  (per R)\n", lab, LR_BATCH, "-",
               r->calls, "-", f / 1e6, r->t[0][0] * 1e3, f / r->t[0][0] / 1e9, "-", "-", "-", "-", "-", rs,
               100 * rs / sr->lr_s);
    }
    printf("\nNon-convolution backward ops of the supernet kappa, one call per layer and backward pass (calls); an\n"
           "executor that folds ReLUs into the convolutions or reads edge sums in place makes fewer calls, so s/kappa\n"
           "is an upper bound. GB/s is effective: the least traffic a call needs (the shared forward input read\n"
           "once, each seed's output gradient read, its input gradient read and written) over its time.\n\n");
    printf("%-30s %5s %4s %5s %9s %8s %7s %9s\n", "op C HxW", "batch", "S", "calls", "MB/call", "ms/call", "GB/s",
           "s/kappa");
    for (int i = 0; i < sr->nother; i++) {
        const op_row *r = &sr->other[i];
        char lab[64];
        other_label(r, lab, sizeof lab);
        const double by = op_bytes(r, sr->B, sr->S);
        printf("%-30s %5d %4d %5d %9.2f %8.3f %7.2f %9.4f\n", lab, sr->B, sr->S, r->calls, by / 1e6, r->t[0][0] * 1e3,
               by / r->t[0][0] / 1e9, row_kappa_s(r, sr->full, sr->rem));
    }
    printf("\nOne measured supernet kappa: %.3f s (forward %.3f s, backward %.3f s, Gram %.3f s, eigen %.4f s).\n", k->total,
           k->fwd, k->bwd, k->gram, k->eig);
    printf("Summed from the per-call medians: convolutions %.3f s (%.0f%% of the kappa); the non-conv backward\n"
           "ops above, one call per layer, %.3f s (%.0f%%). The rest of the kappa (%.3f s; negative when fused or\n"
           "skipped calls make the per-layer count too high) is the forward's other ops, zeroing, GAP/linear, the\n"
           "Gram, the eigensolve, and whatever calls in sequence cost beyond calls in isolation.\n",
           sr->conv_s, 100 * sr->conv_s / k->total, sr->other_s, 100 * sr->other_s / k->total,
           k->total - sr->conv_s - sr->other_s);
    printf("One measured R (%d patches): %.4f s, of which convolutions %.4f s.\n", LR_SAMPLES, sr->t_lr, sr->lr_s);
}

static void json_conv_row(const op_row *r, const char *net, int N, int S, int full, int rem, double total, int first)
{
    const double f = conv_flop(r, N);
    const int lr = S == 0;
    printf("%s{\"net\": \"%s\", \"cin\": %d, \"cout\": %d, \"h\": %d, \"w\": %d, \"k\": %d, \"stride\": %d, \"pad\": %d, "
           "\"batch\": %d, \"layers\": %d, \"dx_layers\": %d, \"flop_fwd\": %.0f",
           first ? "" : ", ", net, r->c, r->cout, r->h, r->w, r->k, r->stride, r->pad, N, r->calls,
           lr ? 0 : r->dx_calls, f);
    json_num("seeds", lr ? -1 : S, "%.0f", 1);
    json_num("flop_bwd", lr ? -1 : S * f, "%.0f", 1);
    json_num("fwd_s", r->t[0][0], "%.9f", 1);
    json_num("bwd_data_s", lr ? -1 : r->t[0][1], "%.9f", 1);
    json_num("bwd_weight_s", lr ? -1 : r->t[0][2], "%.9f", 1);
    json_num("fwd_gflops", f / r->t[0][0] / 1e9, "%.3f", 1);
    json_num("bwd_data_gflops", lr ? -1 : S * f / r->t[0][1] / 1e9, "%.3f", 1);
    json_num("bwd_weight_gflops", lr ? -1 : S * f / r->t[0][2] / 1e9, "%.3f", 1);
    const double ts = lr ? (LR_SAMPLES / LR_BATCH) * r->calls * r->t[0][0] : row_kappa_s(r, full, rem);
    json_num(lr ? "per_r_s" : "per_kappa_s", ts, "%.6f", 1);
    json_num("share", ts / total, "%.4f", 1);
    printf("}");
}

static void json_shapes(const shapes_result *sr)
{
    const kappa_run *k = &sr->kappa;
    printf("\"shapes\": {\"batch\": %d, \"seeds_in_flight\": %d, \"backward_passes\": %d, \"kappa_s\": %.6f, "
           "\"kappa_forward_s\": %.6f, \"kappa_backward_s\": %.6f, \"kappa_conv_s\": %.6f, \"kappa_other_backward_s\": %.6f, "
           "\"lr_samples\": %d, \"lr_batch\": %d, \"lr_s\": %.6f, \"lr_conv_s\": %.6f, \"conv\": [",
           sr->B, sr->S, sr->full + (sr->rem > 0), k->total, k->fwd, k->bwd, sr->conv_s, sr->other_s, LR_SAMPLES,
           LR_BATCH, sr->t_lr, sr->lr_s);
    for (int i = 0; i < sr->nconv; i++) json_conv_row(&sr->conv[i], "ntk", sr->B, sr->S, sr->full, sr->rem, sr->conv_s, i == 0);
    for (int i = 0; i < sr->nlr; i++) json_conv_row(&sr->lr[i], "lr", LR_BATCH, 0, 0, 0, sr->lr_s, sr->nconv == 0 && i == 0);
    printf("], \"backward_ops\": [");
    for (int i = 0; i < sr->nother; i++) {
        const op_row *r = &sr->other[i];
        const double by = op_bytes(r, sr->B, sr->S);
        printf("%s{\"op\": \"%s\", \"c\": %d, \"h\": %d, \"w\": %d, \"k\": %d, \"stride\": %d, \"pad\": %d, \"batch\": %d, "
               "\"seeds\": %d, \"calls_per_pass\": %d, \"bytes\": %.0f",
               i ? ", " : "", kind_name(r->kind), r->c, r->h, r->w, r->k, r->stride, r->pad, sr->B, sr->S, r->calls, by);
        json_num("s", r->t[0][0], "%.9f", 1);
        json_num("gbps", by / r->t[0][0] / 1e9, "%.3f", 1);
        json_num("per_kappa_s", row_kappa_s(r, sr->full, sr->rem), "%.6f", 1);
        printf("}");
    }
    printf("]}");
}

/* ---------------- --scaling ---------------- */

#define FULL_ARCH "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
#define MAX_SCALE_ROWS 8

typedef struct scale_row {
    const char *net;
    kappa_run k;
} scale_row;

/* Times one kappa of one network at each batch in `batches` (ascending; those <= max_batch).
 * A kappa at the smallest of them runs first, untimed: it compiles every kernel of the network
 * (programs are built per shape, not per batch) and, on PoCL, most of the per-work-group-size
 * variants that a batch of the same divisibility needs, so rows with a single repeat (the full
 * network) do not pay for compilation; it costs about (smallest / largest batch)^2 of the
 * largest row. */
static int scale_net(clnas_ctx *ctx, const clnas_dataset *data, const char *name, const clnas_nb201_config *cfg,
                     const char *archstr, const int *batches, int nb, long max_batch, int reps, int seeds,
                     scale_row *rows, int *nrows)
{
    clnas_net *net = NULL;
    if (!build_net(ctx, cfg, archstr, &net)) return 0;
    float *p = malloc(net->nparams * sizeof *p);
    int ok = p != NULL;
    if (!ok) clnas_set_error(ctx, CLNAS_E_NOMEM, "out of host memory");
    if (ok) clnas_net_init_params(net, 0, 0, CLNAS_INIT_PYTORCH, p);
    kappa_run warm;
    if (ok && nb > 0 && batches[0] <= max_batch) ok = run_kappa(ctx, data, net, p, batches[0], seeds, 1, 0, &warm);
    for (int i = 0; ok && i < nb; i++) {
        if (batches[i] > max_batch) continue;
        if (*nrows == MAX_SCALE_ROWS) break;
        scale_row *r = &rows[*nrows];
        r->net = name;
        ok = run_kappa(ctx, data, net, p, batches[i], seeds, reps, 0, &r->k);
        if (ok) (*nrows)++;
        else clnas_append_error(ctx, " [%s, batch %d]", name, batches[i]);
    }
    free(p);
    clnas_net_destroy(net);
    return ok;
}

/* Checks that every row of a network fits the device before any row runs: the full network's
 * rows take minutes, and a batch that cannot fit should not be found out after them. */
static int scale_check(clnas_ctx *ctx, const char *name, const clnas_nb201_config *cfg, const char *archstr,
                       const int *batches, int nb, long max_batch, int seeds)
{
    clnas_net *net = NULL;
    if (!build_net(ctx, cfg, archstr, &net)) return 0;
    int ok = 1, cap;
    for (int i = 0; ok && i < nb; i++) {
        if (batches[i] > max_batch) continue;
        ok = ntk_check_fit(ctx, net, batches[i], seeds, &cap) == CLNAS_OK;
        if (!ok) clnas_append_error(ctx, " [%s, batch %d]", name, batches[i]);
    }
    clnas_net_destroy(net);
    return ok;
}

static void print_scaling(const clnas_device_info *d, const scale_row *rows, int n)
{
    printf("device %d: %s (%s, %u compute units; %.0f MiB global memory, %.0f MiB largest allocation)\n\n", d->index,
           d->name, d->type, d->compute_units, mib((double)d->global_mem_bytes), mib((double)d->max_alloc_bytes));
    printf("One kappa per row: median of `reps`, after one untimed kappa of the network at its smallest batch.\n"
           "GFLOP: forward, B backward seeds and the Gram matrix (multiply-add = 2). dev MiB: what the NTK holds\n"
           "(plan MiB: activations, S seeds of activation gradients, workspace; G MiB: the Jacobian, B x nparams\n"
           "floats; Theta). peak RSS: the process's resident peak during the row (on a CPU device it includes the\n"
           "device buffers actually touched and CLBlast's temporaries, plus the runtime's own baseline).\n"
           "x time, x mem: ratio to the previous row of the same network.\n\n");
    printf("%-34s %5s %4s %5s %8s %9s %8s %8s %9s %9s %8s %9s %8s %8s %9s %7s %6s\n", "network", "batch", "reps", "seeds",
           "P", "forward", "backward", "gram", "total", "GFLOP", "GFLOP/s", "dev MiB", "plan MiB", "G MiB", "peak RSS",
           "x time", "x mem");
    for (int i = 0; i < n; i++) {
        const kappa_run *k = &rows[i].k;
        const size_t other = k->dev_bytes - k->g_bytes;
        printf("%-34s %5d %4d %5d %8zu %8.3fs %8.3fs %7.3fs %8.3fs %9.2f %8.2f %9.1f %8.1f %8.1f ", rows[i].net, k->batch,
               k->reps, k->seeds, k->P, k->fwd, k->bwd, k->gram, k->total, k->gflop, k->rate, mib((double)k->dev_bytes),
               mib((double)other), mib((double)k->g_bytes));
        if (k->rss >= 0) printf("%9.1f ", mib(k->rss));
        else printf("%9s ", "-");
        if (i > 0 && rows[i - 1].net == rows[i].net)
            printf("%6.2fx %5.2fx\n", k->total / rows[i - 1].k.total, (double)k->dev_bytes / (double)rows[i - 1].k.dev_bytes);
        else
            printf("%7s %6s\n", "-", "-");
    }
}

static void json_scaling(const scale_row *rows, int n)
{
    printf("\"scaling\": [");
    for (int i = 0; i < n; i++) {
        const kappa_run *k = &rows[i].k;
        const int prev = i > 0 && rows[i - 1].net == rows[i].net;
        printf("%s{\"network\": \"%s\", \"batch\": %d, \"repeats\": %d, \"seeds_in_flight\": %d, \"jacobian_params\": %zu, "
               "\"params\": %zu, \"gflop\": %.3f, \"forward_s\": %.6f, \"backward_s\": %.6f, \"gram_s\": %.6f, "
               "\"eig_s\": %.6f, \"total_s\": %.6f, \"gflops\": %.3f, \"device_bytes\": %zu, \"jacobian_bytes\": %zu",
               i ? ", " : "", rows[i].net, k->batch, k->reps, k->seeds, k->P, k->nparams, k->gflop, k->fwd, k->bwd,
               k->gram, k->eig, k->total, k->rate, k->dev_bytes, k->g_bytes);
        json_num("peak_rss_bytes", k->rss, "%.0f", 1);
        json_num("time_ratio", prev ? k->total / rows[i - 1].k.total : -1, "%.4f", 1);
        json_num("memory_ratio", prev ? (double)k->dev_bytes / (double)rows[i - 1].k.dev_bytes : -1, "%.4f", 1);
        printf("}");
    }
    printf("]");
}

/* ---------------- the command ---------------- */

static void usage(void)
{
    printf("usage: clnas bench [--device D] [--repeat N] [--batch B] [--seeds S] [--json]\n"
           "       clnas bench --shapes [--device D] [--repeat N] [--batch B] [--seeds S] [--json]\n"
           "       clnas bench --scaling [--scaling-max-batch M] [--no-full] [--device D] [--repeat N] [--seeds S] [--json]\n\n"
           "Default: times, as medians over N repeats (default 5) after one warm-up run:\n"
           "  the device's CLBlast SGEMM rate (1024^3, and the Gram shape B x B x P),\n"
           "  one kappa of the TE-NAS NTK proxy supernet (all four non-none ops on every edge) at batch B,\n"
           "  one kappa of the single path |nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|,\n"
           "  one R of the linear-region proxy supernet (3000 patches),\n"
           "stage by stage, with the FLOPs of each kappa (convolutions, linear layers and the Gram matrix;\n"
           "multiply-add = 2) and the achieved rate as a fraction of the SGEMM rate.\n\n"
           "--shapes: every distinct convolution shape of the NTK proxy supernet (batch B, the NTK's seeds in\n"
           "  flight) and of the linear-region proxy (batch 1000, forward only), read off the networks: GFLOP/s of\n"
           "  forward, backward-data and backward-weight (median of N, default 5), each shape's share of a kappa's\n"
           "  convolution time; then the non-convolution backward ops (BN, ReLU, edge sums, pooling) as effective\n"
           "  GB/s, and a measured kappa and R for reference.\n"
           "--scaling: one kappa of the proxy supernet at batch 16, 32, 72 and 128 (median of N, default 3) and of\n"
           "  the full NB201 network (C=16, N=5, all nor_conv_3x3, 1.53 M parameters) at batch 16 and 64 (one\n"
           "  run each; batch 64 takes minutes on a CPU): time, GFLOP/s, seeds in flight, device memory and how\n"
           "  they grow. --scaling-max-batch M skips batches above M; --no-full skips the full network.\n"
           "--batch B applies to the default mode and --shapes. --seeds S fixes the seeds in flight everywhere; by\n"
           "  default the NTK chooses, lowered where the activation gradients would not fit the device's memory.\n");
}

int clnas_cmd_bench(int argc, char **argv)
{
    const char *device = NULL, *v;
    long reps = 5, B = 72, seeds = 0, max_batch = 1000000;
    int json = 0, shapes = 0, scaling = 0, full = 1, reps_set = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage();
            return 0;
        } else if ((v = clnas_cli_opt(argc, argv, &i, "--device"))) device = v;
        else if ((v = clnas_cli_opt(argc, argv, &i, "--repeat"))) { if (!clnas_cli_int("--repeat", v, 1, 1000, &reps)) return 2; reps_set = 1; }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--batch"))) { if (!clnas_cli_int("--batch", v, 2, 10000, &B)) return 2; }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--seeds"))) { if (!clnas_cli_int("--seeds", v, 1, 10000, &seeds)) return 2; }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--scaling-max-batch"))) { if (!clnas_cli_int("--scaling-max-batch", v, 2, 1000000, &max_batch)) return 2; }
        else if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--shapes")) shapes = 1;
        else if (!strcmp(argv[i], "--scaling")) scaling = 1;
        else if (!strcmp(argv[i], "--no-full")) full = 0;
        else { fprintf(stderr, "clnas bench: unknown option \"%s\"\n", argv[i]); return 2; }
    }
    clnas_ctx *ctx = NULL;
    char err[1024];
    clnas_dataset *data = NULL;
    if (clnas_dataset_load(CLNAS_DS_CIFAR10, NULL, &data, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas bench: %s\n", err);
        return 1;
    }
    if (clnas_ctx_create(device, &ctx) != CLNAS_OK) {
        fprintf(stderr, "clnas bench: %s\n", clnas_ctx_errmsg(ctx));
        clnas_ctx_destroy(ctx);
        clnas_dataset_destroy(data);
        return 1;
    }
    const clnas_device_info *d = clnas_ctx_device(ctx);
    char dn[512];
    json_escape(d->name, dn, sizeof dn);
    int rc = 0;
    if (shapes || scaling) {
        shapes_result *sr = shapes ? calloc(1, sizeof *sr) : NULL;
        scale_row rows[MAX_SCALE_ROWS];
        int nrows = 0, ok = !shapes || sr;
        if (!ok) clnas_set_error(ctx, CLNAS_E_NOMEM, "out of host memory");
        ok = ok && (!shapes || bench_shapes(ctx, data, (int)B, (int)seeds, (int)reps, sr));
        if (ok && scaling) {
            /* proxy rows: a few repeats (default 3: batch 128 takes seconds); full-net rows: one run each */
            const int sreps = reps_set ? (int)reps : 3;
            static const int proxy_b[] = {16, 32, 72, 128}, full_b[] = {16, 64};
            static const char proxy_name[] = "NTK proxy supernet (C=3, N=1)", full_name[] = "NB201 C=16 N=5, all nor_conv_3x3";
            clnas_nb201_config pcfg, fcfg;
            clnas_nb201_config_ntk(&pcfg, 10, 32);
            clnas_nb201_config_default(&fcfg);
            ok = scale_check(ctx, proxy_name, &pcfg, "supernet", proxy_b, 4, max_batch, (int)seeds) &&
                 (!full || scale_check(ctx, full_name, &fcfg, FULL_ARCH, full_b, 2, max_batch, (int)seeds));
            ok = ok && scale_net(ctx, data, proxy_name, &pcfg, "supernet", proxy_b, 4, max_batch, sreps, (int)seeds, rows,
                                 &nrows);
            if (ok && full)
                ok = scale_net(ctx, data, full_name, &fcfg, FULL_ARCH, full_b, 2, max_batch, 1, (int)seeds, rows, &nrows);
        }
        if (!ok) {
            fprintf(stderr, "clnas bench: %s\n", clnas_ctx_errmsg(ctx));
            rc = 1;
        } else if (json) {
            printf("{\"device\": \"%s\", \"device_type\": \"%s\", \"device_index\": %d, \"repeats\": %ld, ", dn, d->type,
                   d->index, reps);
            if (shapes) json_shapes(sr);
            if (shapes && scaling) printf(", ");
            if (scaling) json_scaling(rows, nrows);
            printf("}\n");
        } else {
            if (shapes) print_shapes(d, reps, sr);
            if (shapes && scaling) printf("\n");
            if (scaling) print_scaling(d, rows, nrows);
        }
        free(sr);
        clnas_ctx_destroy(ctx);
        clnas_dataset_destroy(data);
        return rc;
    }
    double g1024 = 0, ggram = 0;
    static const char *const what[2] = {"kappa, proxy supernet", "kappa, single path"};
    static const char *const arch[2] = {
        "supernet", "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"};
    kappa_run kb[2];
    double tlr = 0;
    size_t R = 0;
    if (!sgemm_rate(ctx, 1024, 1024, 1024, (int)reps, &g1024) ||
        !bench_kappa(ctx, data, arch[0], (int)B, (int)reps, (int)seeds, &kb[0]) ||
        !sgemm_rate(ctx, (size_t)B, (size_t)B, kb[0].P, (int)reps, &ggram) ||
        !bench_kappa(ctx, data, arch[1], (int)B, (int)reps, (int)seeds, &kb[1]) || !bench_lr(ctx, data, (int)reps, &tlr, &R)) {
        fprintf(stderr, "clnas bench: %s\n", clnas_ctx_errmsg(ctx));
        rc = 1;
    } else if (json) {
        printf("{\"device\": \"%s\", \"device_type\": \"%s\", \"device_index\": %d, \"repeats\": %ld, \"batch\": %ld, \"sgemm_gflops_1024\": %.3f, \"sgemm_gflops_gram\": %.3f, \"kappa\": [",
               dn, d->type, d->index, reps, B, g1024, ggram);
        for (int i = 0; i < 2; i++)
            printf("%s{\"what\": \"%s\", \"arch\": \"%s\", \"jacobian_params\": %zu, \"seeds_in_flight\": %d, \"gflop\": %.3f, "
                   "\"forward_s\": %.6f, \"backward_s\": %.6f, \"gram_s\": %.6f, \"eig_s\": %.6f, \"total_s\": %.6f, \"gflops\": %.3f}",
                   i ? ", " : "", what[i], arch[i], kb[i].P, kb[i].seeds, kb[i].gflop, kb[i].fwd, kb[i].bwd, kb[i].gram,
                   kb[i].eig, kb[i].total, kb[i].rate);
        printf("], \"lr\": {\"samples\": %d, \"seconds\": %.6f, \"regions\": %zu}}\n", LR_SAMPLES, tlr, R);
    } else {
        printf("device %d: %s (%s, %u compute units), medians of %ld repeats\n\n", d->index, d->name, d->type,
               d->compute_units, reps);
        printf("CLBlast SGEMM 1024x1024x1024: %.1f GFLOP/s;  Gram shape %ldx%ldx%zu: %.1f GFLOP/s\n\n", g1024, B, B,
               kb[0].P, ggram);
        printf("%-24s %8s %6s %9s %9s %9s %9s %9s %10s %8s %14s\n", "stage", "P", "seeds", "forward", "backward", "gram",
               "eigen", "total", "GFLOP", "GFLOP/s", "of SGEMM rate");
        for (int i = 0; i < 2; i++)
            printf("%-24s %8zu %6d %8.3fs %8.3fs %8.3fs %8.4fs %8.3fs %10.2f %8.2f %13.1f%%\n", what[i], kb[i].P, kb[i].seeds,
                   kb[i].fwd, kb[i].bwd, kb[i].gram, kb[i].eig, kb[i].total, kb[i].gflop, kb[i].rate, 100 * kb[i].rate / g1024);
        printf("%-24s %8s %6s %9s %9s %9s %9s %8.3fs  (%d patches, R = %zu)\n", "R, LR proxy supernet", "-", "-", "-", "-",
               "-", "-", tlr, LR_SAMPLES, R);
        printf("\nFLOP floor at the SGEMM rate: supernet kappa %.3f s, single-path kappa %.3f s (aim: within 2x)\n",
               kb[0].gflop / g1024, kb[1].gflop / g1024);
    }
    clnas_ctx_destroy(ctx);
    clnas_dataset_destroy(data);
    return rc;
}
