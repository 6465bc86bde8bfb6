/* shapes.c - `clnas bench --shapes`: the achieved rate of every op shape the two TE-NAS proxies
 * run. The shapes are read off the networks' layer graphs (so they follow the networks); each is
 * timed on its own through the op functions the executor calls (forward, backward-data and
 * backward-weight for convolutions, the backward of BN, ReLU, average pooling and edge sums) at
 * the seeds in flight the NTK uses; each shape's share of a kappa's time is then estimated from
 * how often one kappa runs it. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "bench/bench_impl.h"
#include "clnas/darts.h"
#include "model/graph.h"
#include "ops/ops.h"

#define MIN_REPEAT_S 0.005 /* a timed repeat runs the op this long at least (batched calls) */

static const char *op_name(clnas_bench_op k)
{
    switch (k) {
    case CLNAS_BENCH_CONV: return "conv";
    case CLNAS_BENCH_BN: return "bn";
    case CLNAS_BENCH_RELU: return "relu";
    case CLNAS_BENCH_AVGPOOL: return "avgpool";
    case CLNAS_BENCH_SUM: return "sum";
    case CLNAS_BENCH_DWCONV: return "dwconv";
    case CLNAS_BENCH_MAXPOOL: return "maxpool";
    case CLNAS_BENCH_SHIFT: return "shift";
    }
    return "?";
}

/* Adds one call of a shape to rows (deduplicated by kind and shape). 0 when rows are full
 * (collect() turns that into CLNAS_E_UNSUPPORTED). */
static int add_row(clnas_bench_row *rows, int *n, const clnas_bench_row *key, int dx)
{
    for (int i = 0; i < *n; i++) {
        clnas_bench_row *r = &rows[i];
        if (r->kind == key->kind && r->c == key->c && r->cout == key->cout && r->h == key->h && r->w == key->w &&
            r->k == key->k && r->stride == key->stride && r->pad == key->pad && r->dil == key->dil) {
            r->calls++;
            r->dx_calls += dx;
            return 1;
        }
    }
    if (*n == CLNAS_BENCH_MAX_ROWS) return 0;
    rows[*n] = *key;
    rows[*n].op = op_name(key->kind);
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
 * convolutions alone; otherwise the other kinds alone. 0 when rows are full. */
static int collect_rows(const clnas_net *net, int conv_only, clnas_bench_row *rows, int *n)
{
    for (int i = 0; i < net->nlayers; i++) {
        const layer *l = &net->layers[i];
        clnas_bench_row key;
        memset(&key, 0, sizeof key);
        if (l->kind == L_SUM) {
            if (conv_only) continue;
            const tensor_desc *to = &net->tensors[l->out];
            key.kind = CLNAS_BENCH_SUM;
            key.c = to->c; key.h = to->h; key.w = to->w;
            for (int j = 0; j < l->nin; j++)
                if (l->ins[j] != 0 && !add_row(rows, n, &key, 0)) return 0;
            continue;
        }
        if (l->kind == L_CONCAT) continue; /* no input tensor of its own, no kernel */
        const tensor_desc *ti = &net->tensors[l->in];
        key.c = ti->c; key.h = ti->h; key.w = ti->w;
        if (l->kind == L_CONV) {
            if (!conv_only) continue;
            key.kind = CLNAS_BENCH_CONV;
            key.cout = l->cout; key.k = l->k; key.stride = l->stride; key.pad = l->pad;
            if (!add_row(rows, n, &key, l->in != 0)) return 0;
        } else if (!conv_only && (l->kind == L_BN || l->kind == L_RELU)) {
            key.kind = l->kind == L_BN ? CLNAS_BENCH_BN : CLNAS_BENCH_RELU;
            if (!add_row(rows, n, &key, 0)) return 0;
        } else if (!conv_only && (l->kind == L_AVGPOOL || l->kind == L_MAXPOOL) && l->in != 0) {
            key.kind = l->kind == L_AVGPOOL ? CLNAS_BENCH_AVGPOOL : CLNAS_BENCH_MAXPOOL;
            key.k = l->k; key.stride = l->stride; key.pad = l->pad;
            if (!add_row(rows, n, &key, 0)) return 0;
        } else if (!conv_only && l->kind == L_DWCONV) {
            key.kind = CLNAS_BENCH_DWCONV;
            key.k = l->k; key.stride = l->stride; key.dil = l->dil; key.pad = (l->k - 1) * l->dil / 2;
            if (!add_row(rows, n, &key, 0)) return 0;
        } else if (!conv_only && l->kind == L_SHIFT && l->in != 0) {
            key.kind = CLNAS_BENCH_SHIFT;
            if (!add_row(rows, n, &key, 0)) return 0;
        }
    }
    return 1;
}

/* The device buffers and shapes of one row, and which op a call runs. */
typedef struct op_bench {
    const clnas_bench_row *row;
    int N;                   /* batch */
    clnas_conv_shape cs;
    clnas_bn_shape bs;
    clnas_pool_shape ps;
    clnas_dwconv_shape ds;
    clnas_map_shape ms;
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
    case CLNAS_BENCH_CONV:
        if (which == 0) return clnas_conv_fwd(ctx, &b->cs, x, w, y);
        if (which == 1) return clnas_conv_bwd_data(ctx, &b->cs, S, w, dy, dx);
        return clnas_conv_bwd_weight(ctx, &b->cs, S, x, dy, dw, b->g_ld, ws);
    case CLNAS_BENCH_BN: { /* w = [gamma | beta], dw rows = [dgamma | dbeta] */
        const clnas_dt beta = {b->w, (size_t)b->bs.c}, dbeta = {b->dw, (size_t)b->bs.c};
        if (which == 0) return clnas_bn_fwd(ctx, &b->bs, x, w, beta, y, stats);
        return clnas_bn_bwd(ctx, &b->bs, S, x, w, stats, dy, dx, dw, dbeta, b->g_ld);
    }
    case CLNAS_BENCH_RELU: return clnas_relu_bwd(ctx, b->n_in, S, x, dy, dx);
    case CLNAS_BENCH_AVGPOOL: return clnas_avgpool_bwd(ctx, &b->ps, S, dy, dx);
    case CLNAS_BENCH_SUM: return clnas_axpby(ctx, b->n_out * (size_t)S, 0.5f, dy, 1.0f, dx);
    case CLNAS_BENCH_DWCONV: {
        if (which == 0) return clnas_dwconv_fwd(ctx, &b->ds, x, w, y);
        clnas_status st = clnas_dwconv_bwd_data(ctx, &b->ds, S, w, dy, dx, 1);
        return st == CLNAS_OK ? clnas_dwconv_bwd_weight(ctx, &b->ds, S, x, dy, dw, b->g_ld) : st;
    }
    case CLNAS_BENCH_MAXPOOL:
        if (which == 0) return clnas_maxpool_fwd(ctx, &b->ps, x, y);
        return clnas_maxpool_bwd(ctx, &b->ps, S, x, dy, dx, 1, ws);
    case CLNAS_BENCH_SHIFT:
        if (which == 0) return clnas_shift_fwd(ctx, &b->ms, x, y);
        return clnas_shift_bwd(ctx, &b->ms, S, dy, dx, 1);
    }
    return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "unknown op kind %d", (int)b->row->kind);
}

static clnas_status once_and_finish(clnas_ctx *ctx, const op_bench *b, int which, int S)
{
    clnas_status st = op_once(ctx, b, which, S);
    return st == CLNAS_OK ? clnas_ctx_finish(ctx) : st;
}

/* Median seconds per call of op `which` with S seeds. Two untimed calls first: the first
 * compiles the kernel and touches the buffers, the second sizes the repeats: tiny ops are
 * enqueued several times per repeat (as the executor enqueues them, without waiting between
 * ops), so each timed repeat lasts MIN_REPEAT_S at least and the queue round trip of one
 * finish does not dominate. */
static clnas_status time_op(clnas_ctx *ctx, const op_bench *b, int which, int S, int reps, double *sec)
{
    double tw = 0;
    for (int i = 0; i < 2; i++) {
        double t0 = clnas_now();
        clnas_status st = once_and_finish(ctx, b, which, S);
        if (st != CLNAS_OK) return st;
        tw = clnas_now() - t0;
    }
    int inner = tw >= MIN_REPEAT_S ? 1 : (int)ceil(MIN_REPEAT_S / (tw > 1e-7 ? tw : 1e-7));
    if (inner > 1000) inner = 1000;
    double *t = calloc((size_t)reps, sizeof *t);
    if (!t) return clnas_set_error(ctx, CLNAS_E_NOMEM, "out of host memory");
    clnas_status st = CLNAS_OK;
    for (int r = 0; st == CLNAS_OK && r < reps; r++) {
        double t0 = clnas_now();
        for (int i = 0; st == CLNAS_OK && i < inner; i++) st = op_once(ctx, b, which, S);
        if (st == CLNAS_OK) st = clnas_ctx_finish(ctx);
        t[r] = (clnas_now() - t0) / inner;
    }
    if (st == CLNAS_OK) *sec = clnas_median(t, reps);
    free(t);
    return st;
}

/* A device buffer of `floats` floats, uniform in [-1, 1) (random) or zero. Values only have to
 * be ordinary floats: the kernels' speed does not depend on them, except that denormals or
 * NaNs could slow a CPU down. floats == 0: nothing is allocated. */
static clnas_status buf_make(clnas_ctx *ctx, size_t floats, int random, uint64_t seed, cl_mem *m)
{
    if (floats == 0) return CLNAS_OK;
    clnas_status st = clnas_buf_alloc(ctx, floats * sizeof(float), m);
    if (st != CLNAS_OK) return st;
    if (!random) return clnas_buf_zero(ctx, *m, 0, floats * sizeof(float));
    float *h = malloc(floats * sizeof *h);
    if (!h) return clnas_set_error(ctx, CLNAS_E_NOMEM, "out of host memory");
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
    for (size_t i = 0; i < floats; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        h[i] = (float)((double)(s >> 40) / 8388608.0 - 1.0); /* 24 random bits -> [-1, 1) */
    }
    st = clnas_buf_write(ctx, *m, 0, floats * sizeof(float), h);
    free(h);
    return st;
}

/* Shapes of row r at batch N with S seeds: fills b and the float counts of its buffers. */
static void row_shapes(const clnas_bench_row *r, int N, int S, op_bench *b, size_t n[5])
{
    size_t nx = 0, nw = 0, ny = 0, nws = 0, nstats = 0;
    b->n_in = (size_t)N * r->c * r->h * r->w;
    switch (r->kind) {
    case CLNAS_BENCH_CONV:
        clnas_conv_shape_init(&b->cs, N, r->c, r->h, r->w, r->cout, r->k, r->stride, r->pad);
        nx = b->n_in;
        nw = b->g_ld = (size_t)r->cout * r->c * r->k * r->k;
        ny = b->n_out = (size_t)N * r->cout * b->cs.hout * b->cs.wout;
        nws = clnas_conv_workspace_floats(&b->cs, S);
        break;
    case CLNAS_BENCH_BN:
        b->bs.n = N; b->bs.c = r->c; b->bs.h = r->h; b->bs.w = r->w; b->bs.eps = CLNAS_BN_EPS;
        nx = ny = b->n_out = b->n_in;
        nw = b->g_ld = 2 * (size_t)r->c;
        nstats = 2 * (size_t)r->c;
        break;
    case CLNAS_BENCH_RELU: nx = b->n_out = b->n_in; break;
    case CLNAS_BENCH_AVGPOOL:
        clnas_pool_shape_init(&b->ps, N, r->c, r->h, r->w, r->k, r->stride, r->pad);
        b->n_out = (size_t)N * r->c * b->ps.hout * b->ps.wout;
        break;
    case CLNAS_BENCH_SUM: b->n_out = b->n_in; break;
    case CLNAS_BENCH_DWCONV:
        clnas_dwconv_shape_init(&b->ds, N, r->c, r->h, r->w, r->k, r->stride, r->dil);
        nx = b->n_in;
        nw = b->g_ld = (size_t)r->c * r->k * r->k;
        ny = b->n_out = (size_t)N * r->c * b->ds.hout * b->ds.wout;
        break;
    case CLNAS_BENCH_MAXPOOL:
        clnas_pool_shape_init(&b->ps, N, r->c, r->h, r->w, r->k, r->stride, r->pad);
        nx = b->n_in;
        ny = b->n_out = (size_t)N * r->c * b->ps.hout * b->ps.wout;
        nws = clnas_maxpool_workspace_floats(&b->ps);
        break;
    case CLNAS_BENCH_SHIFT:
        b->ms = clnas_map_shape_make(N, r->c, r->h, r->w, r->c, r->c);
        nx = ny = b->n_out = b->n_in;
        break;
    }
    n[0] = nx; n[1] = nw; n[2] = ny; n[3] = nws; n[4] = nstats;
}

/* Measures one row at batch N with S seeds and, when rem > 0, with the rem seeds of the last
 * backward pass of a kappa too. fwd_only: the convolution's forward alone (the linear-region
 * proxy never runs a backward). */
static clnas_status bench_row(clnas_ctx *ctx, clnas_bench_row *r, int N, int S, int rem, int fwd_only, int reps)
{
    op_bench b;
    memset(&b, 0, sizeof b);
    b.row = r;
    b.N = N;
    size_t n[5]; /* x, w, y, workspace, BN statistics */
    row_shapes(r, N, S, &b, n);
    const size_t Sm = fwd_only ? 0 : (size_t)S; /* seed blocks to allocate */
    clnas_status st = buf_make(ctx, n[0], 1, 1, &b.x);
    if (st == CLNAS_OK) st = buf_make(ctx, n[1], 1, 2, &b.w);
    if (st == CLNAS_OK) st = buf_make(ctx, n[2], 0, 0, &b.y);
    if (st == CLNAS_OK) st = buf_make(ctx, n[4], 0, 0, &b.stats);
    if (st == CLNAS_OK && Sm) st = buf_make(ctx, Sm * b.n_out, 1, 3, &b.dy);
    if (st == CLNAS_OK && Sm) st = buf_make(ctx, Sm * b.n_in, 0, 0, &b.dx);
    if (st == CLNAS_OK && Sm && n[1]) st = buf_make(ctx, Sm * n[1], 0, 0, &b.dw);
    if (st == CLNAS_OK && Sm && n[3]) st = buf_make(ctx, n[3], 0, 0, &b.ws);
    /* BN's backward reads the batch statistics its forward wrote */
    if (st == CLNAS_OK && r->kind == CLNAS_BENCH_BN) st = once_and_finish(ctx, &b, 0, S);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++) r->t[i][j] = -1;
    if (r->kind == CLNAS_BENCH_CONV) {
        if (st == CLNAS_OK) st = time_op(ctx, &b, 0, S, reps, &r->t[0][0]);
        if (st == CLNAS_OK && !fwd_only) st = time_op(ctx, &b, 1, S, reps, &r->t[0][1]);
        if (st == CLNAS_OK && !fwd_only) st = time_op(ctx, &b, 2, S, reps, &r->t[0][2]);
        if (st == CLNAS_OK && !fwd_only && rem > 0) st = time_op(ctx, &b, 1, rem, reps, &r->t[1][1]);
        if (st == CLNAS_OK && !fwd_only && rem > 0) st = time_op(ctx, &b, 2, rem, reps, &r->t[1][2]);
    } else {
        if (st == CLNAS_OK) st = time_op(ctx, &b, 1, S, reps, &r->t[0][0]);
        if (st == CLNAS_OK && rem > 0) st = time_op(ctx, &b, 1, rem, reps, &r->t[1][0]);
    }
    clnas_buf_free(b.x); clnas_buf_free(b.w); clnas_buf_free(b.y); clnas_buf_free(b.stats);
    clnas_buf_free(b.dy); clnas_buf_free(b.dx); clnas_buf_free(b.dw); clnas_buf_free(b.ws);
    return st;
}

/* FLOP of one convolution call over the batch for one seed (multiply-add = 2); the backward
 * ops do this once per seed. */
static double conv_flop(const clnas_bench_row *r, int N)
{
    const int ho = (r->h + 2 * r->pad - r->k) / r->stride + 1, wo = (r->w + 2 * r->pad - r->k) / r->stride + 1;
    return 2.0 * N * r->cout * ho * wo * (double)r->c * r->k * r->k;
}

/* Bytes one backward call of a non-conv op must move at least, with S seeds: the shared
 * forward input once, each seed's output gradient read, each seed's input gradient read and
 * written (they accumulate). A kernel that reads something twice moves more than this, so this
 * "effective" rate is a lower bound of the bandwidth the kernel really achieves. */
static double op_bytes(const clnas_bench_row *r, int N, int S)
{
    const double n = (double)N * r->c * r->h * r->w;
    switch (r->kind) {
    case CLNAS_BENCH_BN:
    case CLNAS_BENCH_RELU: return 4.0 * (n + 3.0 * S * n);
    case CLNAS_BENCH_SUM: return 4.0 * 3.0 * S * n;
    case CLNAS_BENCH_AVGPOOL:
    case CLNAS_BENCH_MAXPOOL: { /* max pooling also reads the shared forward input */
        const int ho = (r->h + 2 * r->pad - r->k) / r->stride + 1, wo = (r->w + 2 * r->pad - r->k) / r->stride + 1;
        return 4.0 * S * ((double)N * r->c * ho * wo + 2.0 * n) + (r->kind == CLNAS_BENCH_MAXPOOL ? 4.0 * n : 0);
    }
    case CLNAS_BENCH_SHIFT: return 4.0 * 3.0 * S * n;
    case CLNAS_BENCH_DWCONV: { /* x once; per seed dy read, dx read and written, dw written */
        const int e = r->dil * (r->k - 1) + 1;
        const int ho = (r->h + 2 * r->pad - e) / r->stride + 1, wo = (r->w + 2 * r->pad - e) / r->stride + 1;
        return 4.0 * (n + S * ((double)N * r->c * ho * wo + 2.0 * n + (double)r->c * r->k * r->k));
    }
    case CLNAS_BENCH_CONV: break;
    }
    return 0;
}

/* Seconds the row accounts for in one kappa: `full` backward passes of S seeds and one of rem
 * seeds (conv rows add their forward calls). */
static double row_kappa_s(const clnas_bench_row *r, int full, int rem)
{
    if (r->kind == CLNAS_BENCH_CONV) {
        double t = r->calls * r->t[0][0] + full * (r->dx_calls * r->t[0][1] + r->calls * r->t[0][2]);
        if (rem > 0) t += r->dx_calls * r->t[1][1] + r->calls * r->t[1][2];
        return t;
    }
    return full * r->calls * r->t[0][0] + (rem > 0 ? r->calls * r->t[1][0] : 0);
}

/* The shape lists of the two proxies. */
static clnas_status collect(clnas_ctx *ctx, const clnas_net *ntk_net, const clnas_net *lr_net, clnas_bench_shapes *sr)
{
    sr->nconv = sr->nother = sr->nlr = 0;
    if (!collect_rows(ntk_net, 1, sr->conv, &sr->nconv) || !collect_rows(ntk_net, 0, sr->other, &sr->nother) ||
        !collect_rows(lr_net, 1, sr->lr, &sr->nlr))
        return clnas_set_error(ctx, CLNAS_E_UNSUPPORTED, "more than %d distinct op shapes", CLNAS_BENCH_MAX_ROWS);
    return CLNAS_OK;
}

/* Times every row and fills the derived columns (flop, bytes, per_s, share) and the sums. */
static clnas_status time_rows(clnas_ctx *ctx, clnas_bench_shapes *sr, int reps)
{
    const int B = sr->batch, S = sr->seeds;
    clnas_status st = CLNAS_OK;
    sr->conv_s = sr->other_s = sr->lr_conv_s = 0;
    for (int i = 0; st == CLNAS_OK && i < sr->nconv; i++) {
        clnas_bench_row *r = &sr->conv[i];
        st = bench_row(ctx, r, B, S, sr->rem, 0, reps);
        r->flop = conv_flop(r, B);
        r->per_s = row_kappa_s(r, sr->full, sr->rem);
        sr->conv_s += r->per_s;
    }
    for (int i = 0; st == CLNAS_OK && i < sr->nother; i++) {
        clnas_bench_row *r = &sr->other[i];
        st = bench_row(ctx, r, B, S, sr->rem, 0, reps);
        r->bytes = op_bytes(r, B, S);
        r->per_s = row_kappa_s(r, sr->full, sr->rem);
        sr->other_s += r->per_s;
    }
    for (int i = 0; st == CLNAS_OK && i < sr->nlr; i++) {
        clnas_bench_row *r = &sr->lr[i];
        st = bench_row(ctx, r, CLNAS_BENCH_LR_BATCH, 1, 0, 1, reps);
        r->flop = conv_flop(r, CLNAS_BENCH_LR_BATCH);
        r->per_s = (CLNAS_BENCH_LR_SAMPLES / CLNAS_BENCH_LR_BATCH) * r->calls * r->t[0][0];
        sr->lr_conv_s += r->per_s;
    }
    for (int i = 0; st == CLNAS_OK && i < sr->nconv; i++) sr->conv[i].share = sr->conv[i].per_s / sr->conv_s;
    for (int i = 0; st == CLNAS_OK && i < sr->nlr; i++) sr->lr[i].share = sr->lr[i].per_s / sr->lr_conv_s;
    return st;
}

/* A kappa and an R of the two proxies first (the seeds in flight the NTK picks, reference times,
 * and every kernel the rows run compiled), then every row. */
static clnas_status shapes_run(clnas_ctx *ctx, const clnas_dataset *data, const clnas_net *ntk_net, const clnas_net *lr_net,
                               int batch, int seeds, int reps, clnas_bench_shapes **out)
{
    clnas_bench_shapes *sr = calloc(1, sizeof *sr);
    *out = NULL;
    if (!sr) return clnas_set_error(ctx, CLNAS_E_NOMEM, "out of host memory");
    sr->batch = batch;
    clnas_status st = bench_kappa_of(ctx, data, ntk_net, batch, reps, seeds, &sr->kappa);
    if (st == CLNAS_OK) st = bench_lr_of(ctx, data, lr_net, reps, &sr->lr_s, &sr->regions);
    if (st == CLNAS_OK) {
        sr->seeds = sr->kappa.seeds;
        sr->full = batch / sr->seeds;
        sr->rem = batch % sr->seeds;
        st = collect(ctx, ntk_net, lr_net, sr);
    }
    if (st == CLNAS_OK) st = time_rows(ctx, sr, reps);
    if (st != CLNAS_OK) {
        free(sr);
        return st;
    }
    *out = sr;
    return CLNAS_OK;
}

clnas_status clnas_bench_shapes_run(clnas_ctx *ctx, const clnas_dataset *data, int batch, int seeds, int reps,
                                    clnas_bench_shapes **out)
{
    clnas_nb201_config cfg;
    clnas_net *ntk_net = NULL, *lr_net = NULL;
    clnas_nb201_config_ntk(&cfg, 10, 32);
    clnas_status st = bench_build_net(ctx, &cfg, "supernet", &ntk_net);
    clnas_nb201_config_lr(&cfg, 10);
    if (st == CLNAS_OK) st = bench_build_net(ctx, &cfg, "supernet", &lr_net);
    if (st == CLNAS_OK) st = shapes_run(ctx, data, ntk_net, lr_net, batch, seeds, reps, out);
    clnas_net_destroy(ntk_net);
    clnas_net_destroy(lr_net);
    return st;
}

clnas_status clnas_bench_shapes_darts_run(clnas_ctx *ctx, const clnas_dataset *data, int batch, int seeds, int reps,
                                          clnas_bench_shapes **out)
{
    clnas_darts_alpha al;
    clnas_darts_alpha_supernet(&al);
    clnas_net *ntk_net = NULL, *lr_net = NULL;
    char err[512];
    clnas_status st = clnas_darts_proxies(&al, clnas_dataset_num_classes(data), clnas_dataset_hw(clnas_dataset_kind_of(data)),
                                          &ntk_net, &lr_net, err, sizeof err);
    if (st != CLNAS_OK) st = clnas_set_error(ctx, st, "%s", err);
    if (st == CLNAS_OK) st = shapes_run(ctx, data, ntk_net, lr_net, batch, seeds, reps, out);
    clnas_net_destroy(ntk_net);
    clnas_net_destroy(lr_net);
    return st;
}
