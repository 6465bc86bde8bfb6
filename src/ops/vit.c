/* vit.c - OpenCL launches of the vision-transformer ops (ops/vit.h): LayerNorm, token linear
 * (CLBlast GEMMs + bias/column-sum kernels), GELU/tanh, window attention (partition kernels,
 * CLBlast strided-batched GEMMs, softmax kernels), unfold and token mean-pool (cl/vit.cl).
 * Every size and offset a kernel sees as int is checked first; a failure names the op. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/vit.h"

#define VIT_LWS 64

static clnas_dt none_dt(void) { clnas_dt t = {NULL, 0}; return t; }

/* 1 when [off, off + n) stays below INT_MAX. */
static int fits(size_t off, size_t n) { return clnas_fits_int(off, n); }

/* The parameter gradient rows of S seeds: s*g_ld + n must fit an int. */
static int grad_rows_fit(size_t off, size_t g_ld, int S, size_t n)
{
    if (S > 1 && (g_ld < n || g_ld > (size_t)INT_MAX / (size_t)(S - 1))) return 0;
    return fits(off, (S > 1 ? (size_t)(S - 1) * g_ld : 0) + n);
}

/* ---------------- LayerNorm ---------------- */

clnas_status clnas_ln_fwd(clnas_ctx *ctx, int rows, int d, double eps, clnas_dt x, clnas_dt gamma,
                          clnas_dt beta, clnas_dt y, clnas_dt stats)
{
    if (rows < 1 || d < 1 || !(eps >= 0) || !isfinite(eps))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_ln_fwd: bad shape rows=%d d=%d eps=%g", rows, d, eps);
    const size_t n = (size_t)rows * d;
    if (!fits(x.off, n) || !fits(y.off, n) || !fits(gamma.off, (size_t)d) || !fits(beta.off, (size_t)d) ||
        !fits(stats.off, 2 * (size_t)rows))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_ln_fwd: %d x %d or offsets exceed INT_MAX", rows, d);
    cl_kernel k;
    clnas_status st = clnas_kernel_get(ctx, "vit.cl", "", "ln_fwd", &k);
    if (st == CLNAS_OK)
        st = clnas_kernel_args(ctx, k, "mimimimimiiif", x.m, (int)x.off, gamma.m, (int)gamma.off, beta.m, (int)beta.off,
                               y.m, (int)y.off, stats.m, (int)stats.off, rows, d, (double)(float)eps);
    size_t gws = (size_t)rows, lws = VIT_LWS;
    return st == CLNAS_OK ? clnas_launch(ctx, k, 1, &gws, &lws) : st;
}

clnas_status clnas_ln_bwd(clnas_ctx *ctx, int rows, int d, int S, clnas_dt x, clnas_dt gamma,
                          clnas_dt stats, clnas_dt dy, clnas_dt dx, int accumulate, clnas_dt dgamma,
                          clnas_dt dbeta, size_t g_ld)
{
    if (rows < 1 || d < 1 || S < 1)
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_ln_bwd: bad shape rows=%d d=%d S=%d", rows, d, S);
    const size_t n = (size_t)rows * d;
    if (n > (size_t)INT_MAX / (size_t)S || !fits(x.off, n) || !fits(dy.off, n * S) || (dx.m && !fits(dx.off, n * S)) ||
        !fits(gamma.off, (size_t)d) || !fits(stats.off, 2 * (size_t)rows) || !grad_rows_fit(dgamma.off, g_ld, S, (size_t)d) ||
        !grad_rows_fit(dbeta.off, g_ld, S, (size_t)d))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_ln_bwd: %d x %d x %d seeds, g_ld %zu or offsets exceed INT_MAX",
                               rows, d, S, g_ld);
    cl_kernel k;
    clnas_status st;
    if (dx.m) {
        st = clnas_kernel_get(ctx, "vit.cl", "", "ln_bwd_data", &k);
        if (st == CLNAS_OK)
            st = clnas_kernel_args(ctx, k, "mimimimimiiii", x.m, (int)x.off, gamma.m, (int)gamma.off, stats.m,
                                   (int)stats.off, dy.m, (int)dy.off, dx.m, (int)dx.off, rows, d, accumulate ? 1 : 0);
        size_t gws[2] = {(size_t)rows, (size_t)S}, lws[2] = {VIT_LWS, 1};
        if (st == CLNAS_OK) st = clnas_launch(ctx, k, 2, gws, lws);
        if (st != CLNAS_OK) return st;
    }
    st = clnas_kernel_get(ctx, "vit.cl", "", "ln_bwd_param", &k);
    if (st == CLNAS_OK)
        st = clnas_kernel_args(ctx, k, "mimimimimiiii", x.m, (int)x.off, stats.m, (int)stats.off, dy.m, (int)dy.off,
                               dgamma.m, (int)dgamma.off, dbeta.m, (int)dbeta.off, S > 1 ? (int)g_ld : 0, rows, d);
    size_t gws[2] = {(size_t)d, (size_t)S}, lws[2] = {VIT_LWS, 1};
    return st == CLNAS_OK ? clnas_launch(ctx, k, 2, gws, lws) : st;
}

/* ---------------- token linear ---------------- */

clnas_status clnas_tlinear_fwd(clnas_ctx *ctx, int rows, int in, int out, clnas_dt x, clnas_dt W,
                               clnas_dt b, clnas_dt y)
{
    if (rows < 1 || in < 1 || out < 1)
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_tlinear_fwd: bad shape rows=%d in=%d out=%d", rows, in, out);
    if (!fits(y.off, (size_t)rows * out) || (b.m && !fits(b.off, (size_t)out)))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_tlinear_fwd: %d x %d or offsets exceed INT_MAX", rows, out);
    clnas_status st = clnas_gemm(ctx, 0, 1, (size_t)rows, (size_t)out, (size_t)in, 1.0f, x.m, x.off, (size_t)in, W.m,
                                 W.off, (size_t)in, 0.0f, y.m, y.off, (size_t)out);
    if (st != CLNAS_OK || !b.m) return st;
    cl_kernel k;
    st = clnas_kernel_get(ctx, "vit.cl", "", "bias_rows", &k);
    if (st == CLNAS_OK) st = clnas_kernel_args(ctx, k, "mimiii", y.m, (int)y.off, b.m, (int)b.off, rows, out);
    size_t gws[2] = {(size_t)out, (size_t)rows};
    return st == CLNAS_OK ? clnas_launch(ctx, k, 2, gws, NULL) : st;
}

clnas_status clnas_tlinear_bwd(clnas_ctx *ctx, int rows, int in, int out, int S, clnas_dt x,
                               clnas_dt W, clnas_dt dy, clnas_dt dx, int accumulate, clnas_dt dW,
                               clnas_dt db, size_t g_ld)
{
    if (rows < 1 || in < 1 || out < 1 || S < 1)
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_tlinear_bwd: bad shape rows=%d in=%d out=%d S=%d", rows, in, out, S);
    const size_t nw = (size_t)out * in;
    if ((size_t)rows * out > (size_t)INT_MAX / (size_t)S || !fits(dy.off, (size_t)S * rows * out) ||
        !grad_rows_fit(dW.off, g_ld, S, nw) || (db.m && !grad_rows_fit(db.off, g_ld, S, (size_t)out)))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_tlinear_bwd: %d x %d x %d seeds, g_ld %zu or offsets exceed INT_MAX",
                               rows, out, S, g_ld);
    clnas_status st = CLNAS_OK;
    if (dx.m) /* dX[S*rows x in] (+)= dY[S*rows x out] W[out x in]: the seeds are more rows */
        st = clnas_gemm(ctx, 0, 0, (size_t)S * rows, (size_t)in, (size_t)out, 1.0f, dy.m, dy.off, (size_t)out, W.m, W.off,
                        (size_t)in, accumulate ? 1.0f : 0.0f, dx.m, dx.off, (size_t)in);
    /* dW_s[out x in] = dY_s^T X: one product per seed */
    for (int s = 0; s < S && st == CLNAS_OK; s++)
        st = clnas_gemm(ctx, 1, 0, (size_t)out, (size_t)in, (size_t)rows, 1.0f, dy.m, dy.off + (size_t)s * rows * out,
                        (size_t)out, x.m, x.off, (size_t)in, 0.0f, dW.m, dW.off + (size_t)s * g_ld, (size_t)in);
    if (st != CLNAS_OK || !db.m) return st;
    cl_kernel k;
    st = clnas_kernel_get(ctx, "vit.cl", "", "col_sums", &k);
    if (st == CLNAS_OK)
        st = clnas_kernel_args(ctx, k, "mimiiii", dy.m, (int)dy.off, db.m, (int)db.off, S > 1 ? (int)g_ld : 0, rows, out);
    size_t gws[2] = {(size_t)out, (size_t)S};
    return st == CLNAS_OK ? clnas_launch(ctx, k, 2, gws, NULL) : st;
}

/* ---------------- GELU, tanh ---------------- */

clnas_status clnas_act_fwd(clnas_ctx *ctx, clnas_act a, size_t count, clnas_dt x, clnas_dt y)
{
    if (count == 0) return CLNAS_OK;
    if (!fits(x.off, count) || !fits(y.off, count))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_act_fwd: %zu elements or offsets exceed INT_MAX", count);
    cl_kernel k;
    clnas_status st = clnas_kernel_get(ctx, "vit.cl", "", "act_fwd", &k);
    if (st == CLNAS_OK) st = clnas_kernel_args(ctx, k, "mimiii", x.m, (int)x.off, y.m, (int)y.off, (int)count, (int)a);
    size_t lws = 256;
    return st == CLNAS_OK ? clnas_launch(ctx, k, 1, &count, &lws) : st;
}

clnas_status clnas_act_bwd(clnas_ctx *ctx, clnas_act a, size_t count, int S, clnas_dt x, clnas_dt dy,
                           clnas_dt dx, int accumulate)
{
    if (S < 1) return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_act_bwd: S=%d < 1", S);
    if (count == 0) return CLNAS_OK;
    if (count > (size_t)INT_MAX / (size_t)S || !fits(x.off, count) || !fits(dy.off, count * S) || !fits(dx.off, count * S))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_act_bwd: %zu x %d elements or offsets exceed INT_MAX", count, S);
    cl_kernel k;
    clnas_status st = clnas_kernel_get(ctx, "vit.cl", "", "act_bwd", &k);
    if (st == CLNAS_OK)
        st = clnas_kernel_args(ctx, k, "mimimiiii", x.m, (int)x.off, dy.m, (int)dy.off, dx.m, (int)dx.off, (int)count, (int)a,
                               accumulate ? 1 : 0);
    size_t gws[2] = {count, (size_t)S}, lws[2] = {256, 1};
    return st == CLNAS_OK ? clnas_launch(ctx, k, 2, gws, lws) : st;
}

/* ---------------- window attention ---------------- */

size_t clnas_attn_workspace_floats(const clnas_attn_shape *s, int S)
{
    const size_t part = (size_t)s->n * s->h * s->w * s->c;
    (void)S; /* the backward runs the seeds one after the other through the same scratch */
    return 7 * part + clnas_attn_probs_floats(s) + 1;
}

/* Moves `parts` parts between tokens and the window layout (gather: tokens -> windows). */
static clnas_status attn_move(clnas_ctx *ctx, const clnas_attn_shape *s, int gather, clnas_dt src, clnas_dt dst,
                              int parts, double scale0, int acc)
{
    cl_kernel k;
    const int ntok = s->n * s->h * s->w;
    clnas_status st = clnas_kernel_get(ctx, "vit.cl", "", gather ? "attn_gather" : "attn_scatter", &k);
    if (st != CLNAS_OK) return st;
    if (gather)
        st = clnas_kernel_args(ctx, k, "mimiiiiiiiiif", src.m, (int)src.off, dst.m, (int)dst.off, ntok, s->h, s->w, s->c,
                               s->heads, s->wh, s->ww, parts, scale0);
    else
        st = clnas_kernel_args(ctx, k, "mimiiiiiiiiifi", src.m, (int)src.off, dst.m, (int)dst.off, ntok, s->h, s->w, s->c,
                               s->heads, s->wh, s->ww, parts, scale0, acc ? 1 : 0);
    size_t gws[3] = {(size_t)s->c, (size_t)ntok, (size_t)parts};
    return st == CLNAS_OK ? clnas_launch(ctx, k, 3, gws, NULL) : st;
}

/* A row-wise softmax map over nrows rows of n (name: "softmax_rows" or "softmax_bwd_rows").
 * CPUs take the one-item-per-row kernels (measured on PoCL, 2 cores, 12,544 rows of 784:
 * 0.015 CPU-s against 0.075 with groups of 64); other devices one work-group per row of the
 * largest power of two <= min(n, 256, the device's and the kernel's limits).
 * $CLNAS_SOFTMAX=item or =group forces one (the tests run both). */
static clnas_status rows_kernel(clnas_ctx *ctx, const char *name, clnas_dt p, clnas_dt dp, int nrows, int n)
{
    const char *force = getenv("CLNAS_SOFTMAX");
    int item = ctx->info.type && strcmp(ctx->info.type, "CPU") == 0;
    if (force && strcmp(force, "item") == 0) item = 1;
    if (force && strcmp(force, "group") == 0) item = 0;
    char kname[64];
    snprintf(kname, sizeof kname, "%s%s", name, item ? "_item" : "");
    cl_kernel k;
    clnas_status st = clnas_kernel_get(ctx, "vit.cl", "", kname, &k);
    if (st != CLNAS_OK) return st;
    size_t lws = 1;
    if (!item) {
        size_t kmax = 0, cap = 256;
        CL_CHECK(ctx, clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kmax, &kmax, NULL));
        if (ctx->info.max_work_group && ctx->info.max_work_group < cap) cap = ctx->info.max_work_group;
        if (kmax && kmax < cap) cap = kmax;
        if ((size_t)n < cap) cap = (size_t)n;
        while (lws * 2 <= cap) lws *= 2;
    } else {
        lws = VIT_LWS;
    }
    if (dp.m) st = clnas_kernel_args(ctx, k, "mimiii", p.m, (int)p.off, dp.m, (int)dp.off, nrows, n);
    else st = clnas_kernel_args(ctx, k, "miii", p.m, (int)p.off, nrows, n);
    size_t gws = item ? (size_t)nrows : (size_t)nrows * lws;
    return st == CLNAS_OK ? clnas_launch(ctx, k, 1, &gws, &lws) : st;
}

/* Checks the shape and that every index the kernels form fits an int. */
static clnas_status attn_check(clnas_ctx *ctx, const clnas_attn_shape *s, int S, const char *fn, clnas_dt qkv, clnas_dt y,
                               clnas_dt probs, clnas_dt ws)
{
    clnas_attn_shape t;
    if (!s || S < 1 || !clnas_attn_shape_init(&t, s->n, s->h, s->w, s->c, s->heads, s->wh, s->ww))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "%s: bad shape (the window must divide the grid, the heads the features)", fn);
    const size_t part = (size_t)s->n * s->h * s->w * s->c, np = clnas_attn_probs_floats(s);
    if (part > (size_t)INT_MAX / 3 / (size_t)S || !fits(qkv.off, 3 * part) || !fits(y.off, part * S) ||
        !fits(probs.off, np) || !fits(ws.off, clnas_attn_workspace_floats(s, S)))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "%s: tensors or offsets exceed INT_MAX floats", fn);
    return CLNAS_OK;
}

clnas_status clnas_attn_fwd(clnas_ctx *ctx, const clnas_attn_shape *s, clnas_dt qkv, clnas_dt y,
                            clnas_dt probs, clnas_dt ws)
{
    clnas_status st = attn_check(ctx, s, 1, "clnas_attn_fwd", qkv, y, probs, ws);
    if (st != CLNAS_OK) return st;
    const size_t part = (size_t)s->n * s->h * s->w * s->c, wn = (size_t)s->wn, hd = (size_t)s->hd;
    const size_t count = (size_t)s->n * s->nwin * s->heads;
    const clnas_dt Q = ws, K = clnas_dt_at(ws, part), V = clnas_dt_at(ws, 2 * part);
    st = attn_move(ctx, s, 1, qkv, Q, 3, s->scale, 0);
    /* scores P_i = (scale Q_i) K_i^T, softmax, O_i = P_i V_i (O over Q's scratch) */
    if (st == CLNAS_OK)
        st = clnas_gemm_strided(ctx, 0, 1, wn, wn, hd, 1.0f, Q.m, Q.off, hd, wn * hd, K.m, K.off, hd, wn * hd, 0.0f, probs.m,
                                probs.off, wn, wn * wn, count);
    if (st == CLNAS_OK) st = rows_kernel(ctx, "softmax_rows", probs, none_dt(), (int)(count * wn), (int)wn);
    if (st == CLNAS_OK)
        st = clnas_gemm_strided(ctx, 0, 0, wn, hd, wn, 1.0f, probs.m, probs.off, wn, wn * wn, V.m, V.off, hd, wn * hd, 0.0f,
                                Q.m, Q.off, hd, wn * hd, count);
    if (st == CLNAS_OK) st = attn_move(ctx, s, 0, Q, y, 1, 1.0, 0);
    return st;
}

clnas_status clnas_attn_bwd(clnas_ctx *ctx, const clnas_attn_shape *s, int S, clnas_dt qkv,
                            clnas_dt probs, clnas_dt dy, clnas_dt dqkv, int accumulate, clnas_dt ws)
{
    clnas_status st = attn_check(ctx, s, S, "clnas_attn_bwd", qkv, dy, probs, ws);
    if (st != CLNAS_OK) return st;
    const size_t part = (size_t)s->n * s->h * s->w * s->c, wn = (size_t)s->wn, hd = (size_t)s->hd;
    const size_t count = (size_t)s->n * s->nwin * s->heads, mat = wn * hd;
    if (!fits(dqkv.off, 3 * part * S))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_attn_bwd: the gradient or its offset exceeds INT_MAX floats");
    /* scratch: [Qs | K | V] [dO] [dQ | dK | dV] [dP] */
    const clnas_dt Q = ws, K = clnas_dt_at(ws, part), V = clnas_dt_at(ws, 2 * part), dO = clnas_dt_at(ws, 3 * part);
    const clnas_dt dQ = clnas_dt_at(ws, 4 * part), dK = clnas_dt_at(ws, 5 * part), dV = clnas_dt_at(ws, 6 * part);
    const clnas_dt dP = clnas_dt_at(ws, 7 * part);
    st = attn_move(ctx, s, 1, qkv, Q, 3, s->scale, 0);
    for (int sd = 0; sd < S && st == CLNAS_OK; sd++) {
        st = attn_move(ctx, s, 1, clnas_dt_at(dy, (size_t)sd * part), dO, 1, 1.0, 0);
        if (st == CLNAS_OK) /* dV_i = P_i^T dO_i */
            st = clnas_gemm_strided(ctx, 1, 0, wn, hd, wn, 1.0f, probs.m, probs.off, wn, wn * wn, dO.m, dO.off, hd, mat, 0.0f,
                                    dV.m, dV.off, hd, mat, count);
        if (st == CLNAS_OK) /* dP_i = dO_i V_i^T */
            st = clnas_gemm_strided(ctx, 0, 1, wn, wn, hd, 1.0f, dO.m, dO.off, hd, mat, V.m, V.off, hd, mat, 0.0f, dP.m,
                                    dP.off, wn, wn * wn, count);
        if (st == CLNAS_OK) st = rows_kernel(ctx, "softmax_bwd_rows", probs, dP, (int)(count * wn), (int)wn);
        if (st == CLNAS_OK) /* d(scale q)_i = dS_i K_i */
            st = clnas_gemm_strided(ctx, 0, 0, wn, hd, wn, 1.0f, dP.m, dP.off, wn, wn * wn, K.m, K.off, hd, mat, 0.0f, dQ.m,
                                    dQ.off, hd, mat, count);
        if (st == CLNAS_OK) /* dK_i = dS_i^T (scale Q_i) */
            st = clnas_gemm_strided(ctx, 1, 0, wn, hd, wn, 1.0f, dP.m, dP.off, wn, wn * wn, Q.m, Q.off, hd, mat, 0.0f, dK.m,
                                    dK.off, hd, mat, count);
        if (st == CLNAS_OK) st = attn_move(ctx, s, 0, dQ, clnas_dt_at(dqkv, (size_t)sd * 3 * part), 3, s->scale, accumulate);
    }
    return st;
}

/* ---------------- unfold ---------------- */

static clnas_status unfold_check(clnas_ctx *ctx, const clnas_unfold_shape *s, int S, const char *fn, clnas_dt x, clnas_dt y)
{
    clnas_unfold_shape t;
    if (!s || S < 1 || !clnas_unfold_shape_init(&t, s->n, s->c, s->h, s->w, s->k, s->stride, s->pad, s->pad_hi, s->tok_in) ||
        t.hout != s->hout || t.wout != s->wout)
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "%s: bad shape (use clnas_unfold_shape_init)", fn);
    const size_t nx = (size_t)s->n * s->c * s->h * s->w, ny = (size_t)s->n * s->hout * s->wout * s->c * s->k * s->k;
    if (nx > (size_t)INT_MAX / (size_t)S || ny > (size_t)INT_MAX / (size_t)S || !fits(x.off, nx * S) || !fits(y.off, ny * S))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "%s: tensors or offsets exceed INT_MAX floats", fn);
    return CLNAS_OK;
}

clnas_status clnas_unfold_fwd(clnas_ctx *ctx, const clnas_unfold_shape *s, clnas_dt x, clnas_dt y)
{
    clnas_status st = unfold_check(ctx, s, 1, "clnas_unfold_fwd", x, y);
    if (st != CLNAS_OK) return st;
    cl_kernel k;
    st = clnas_kernel_get(ctx, "vit.cl", "", "unfold_fwd", &k);
    if (st == CLNAS_OK)
        st = clnas_kernel_args(ctx, k, "mimiiiiiiiiiii", x.m, (int)x.off, y.m, (int)y.off, s->n, s->c, s->h, s->w, s->k,
                               s->stride, s->pad, s->hout, s->wout, s->tok_in);
    size_t gws[2] = {(size_t)s->c * s->k * s->k, (size_t)s->n * s->hout * s->wout};
    return st == CLNAS_OK ? clnas_launch(ctx, k, 2, gws, NULL) : st;
}

clnas_status clnas_unfold_bwd(clnas_ctx *ctx, const clnas_unfold_shape *s, int S, clnas_dt dy,
                              clnas_dt dx, int accumulate)
{
    clnas_status st = unfold_check(ctx, s, S, "clnas_unfold_bwd", dx, dy);
    if (st != CLNAS_OK) return st;
    cl_kernel k;
    st = clnas_kernel_get(ctx, "vit.cl", "", "unfold_bwd", &k);
    if (st == CLNAS_OK)
        st = clnas_kernel_args(ctx, k, "mimiiiiiiiiiiii", dy.m, (int)dy.off, dx.m, (int)dx.off, s->n, s->c, s->h, s->w, s->k,
                               s->stride, s->pad, s->hout, s->wout, s->tok_in, accumulate ? 1 : 0);
    size_t gws[2] = {(size_t)s->n * s->c * s->h * s->w, (size_t)S}, lws[2] = {VIT_LWS, 1};
    return st == CLNAS_OK ? clnas_launch(ctx, k, 2, gws, lws) : st;
}

/* ---------------- token mean-pool ---------------- */

clnas_status clnas_tokpool_fwd(clnas_ctx *ctx, int n, int t, int d, clnas_dt x, clnas_dt y)
{
    if (n < 1 || t < 1 || d < 1 || (size_t)n * t * d > (size_t)INT_MAX || !fits(x.off, (size_t)n * t * d) ||
        !fits(y.off, (size_t)n * d))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_tokpool_fwd: bad shape n=%d t=%d d=%d or offsets beyond INT_MAX", n, t, d);
    cl_kernel k;
    clnas_status st = clnas_kernel_get(ctx, "vit.cl", "", "tokpool_fwd", &k);
    if (st == CLNAS_OK) st = clnas_kernel_args(ctx, k, "mimiiii", x.m, (int)x.off, y.m, (int)y.off, n, t, d);
    size_t gws[2] = {(size_t)d, (size_t)n};
    return st == CLNAS_OK ? clnas_launch(ctx, k, 2, gws, NULL) : st;
}

clnas_status clnas_tokpool_bwd(clnas_ctx *ctx, int n, int t, int d, int S, clnas_dt dy, clnas_dt dx,
                               int accumulate)
{
    const size_t total = (size_t)n * t * d;
    if (n < 1 || t < 1 || d < 1 || S < 1 || total > (size_t)INT_MAX / (size_t)S || !fits(dx.off, total * S) ||
        !fits(dy.off, (size_t)n * d * S))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_tokpool_bwd: bad shape n=%d t=%d d=%d S=%d or offsets beyond INT_MAX",
                               n, t, d, S);
    cl_kernel k;
    clnas_status st = clnas_kernel_get(ctx, "vit.cl", "", "tokpool_bwd", &k);
    if (st == CLNAS_OK)
        st = clnas_kernel_args(ctx, k, "mimiiiii", dy.m, (int)dy.off, dx.m, (int)dx.off, n, t, d, accumulate ? 1 : 0);
    size_t gws[2] = {total, (size_t)S}, lws[2] = {VIT_LWS, 1};
    return st == CLNAS_OK ? clnas_launch(ctx, k, 2, gws, lws) : st;
}

/* ---------------- forward-mode derivatives ---------------- */

clnas_status clnas_ln_jvp(clnas_ctx *ctx, int rows, int d, clnas_dt x, clnas_dt gamma, clnas_dt stats,
                          clnas_dt dx, clnas_dt dy)
{
    const size_t n = (size_t)rows * d;
    if (rows < 1 || d < 1 || !fits(x.off, n) || !fits(dx.off, n) || !fits(dy.off, n) || !fits(gamma.off, (size_t)d) ||
        !fits(stats.off, 2 * (size_t)rows))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_ln_jvp: bad shape rows=%d d=%d or offsets beyond INT_MAX", rows, d);
    cl_kernel k;
    clnas_status st = clnas_kernel_get(ctx, "vit.cl", "", "ln_jvp", &k);
    if (st == CLNAS_OK)
        st = clnas_kernel_args(ctx, k, "mimimimimiii", x.m, (int)x.off, gamma.m, (int)gamma.off, stats.m, (int)stats.off,
                               dx.m, (int)dx.off, dy.m, (int)dy.off, rows, d);
    size_t gws = (size_t)rows, lws = VIT_LWS;
    return st == CLNAS_OK ? clnas_launch(ctx, k, 1, &gws, &lws) : st;
}

clnas_status clnas_attn_jvp(clnas_ctx *ctx, const clnas_attn_shape *s, clnas_dt qkv, clnas_dt probs,
                            clnas_dt dqkv, clnas_dt dy, clnas_dt ws)
{
    clnas_status st = attn_check(ctx, s, 1, "clnas_attn_jvp", qkv, dy, probs, ws);
    if (st != CLNAS_OK) return st;
    const size_t part = (size_t)s->n * s->h * s->w * s->c, wn = (size_t)s->wn, hd = (size_t)s->hd;
    const size_t count = (size_t)s->n * s->nwin * s->heads, mat = wn * hd, pp = wn * wn;
    if (!fits(dqkv.off, 3 * part))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_attn_jvp: the tangent or its offset exceeds INT_MAX floats");
    /* scratch: [Qs | K | V] [dQs | dK | dV] [dO] [dS -> dP] */
    const clnas_dt Q = ws, K = clnas_dt_at(ws, part), V = clnas_dt_at(ws, 2 * part);
    const clnas_dt dQ = clnas_dt_at(ws, 3 * part), dK = clnas_dt_at(ws, 4 * part), dV = clnas_dt_at(ws, 5 * part);
    const clnas_dt dO = clnas_dt_at(ws, 6 * part), dP = clnas_dt_at(ws, 7 * part);
    st = attn_move(ctx, s, 1, qkv, Q, 3, s->scale, 0);
    if (st == CLNAS_OK) st = attn_move(ctx, s, 1, dqkv, dQ, 3, s->scale, 0);
    if (st == CLNAS_OK) /* dS = Qs dK^T + dQs K^T */
        st = clnas_gemm_strided(ctx, 0, 1, wn, wn, hd, 1.0f, Q.m, Q.off, hd, mat, dK.m, dK.off, hd, mat, 0.0f, dP.m, dP.off,
                                wn, pp, count);
    if (st == CLNAS_OK)
        st = clnas_gemm_strided(ctx, 0, 1, wn, wn, hd, 1.0f, dQ.m, dQ.off, hd, mat, K.m, K.off, hd, mat, 1.0f, dP.m, dP.off,
                                wn, pp, count);
    /* the softmax's Jacobian is symmetric: its tangent map is its backward map */
    if (st == CLNAS_OK) st = rows_kernel(ctx, "softmax_bwd_rows", probs, dP, (int)(count * wn), (int)wn);
    if (st == CLNAS_OK) /* dO = dP V + P dV */
        st = clnas_gemm_strided(ctx, 0, 0, wn, hd, wn, 1.0f, dP.m, dP.off, wn, pp, V.m, V.off, hd, mat, 0.0f, dO.m, dO.off,
                                hd, mat, count);
    if (st == CLNAS_OK)
        st = clnas_gemm_strided(ctx, 0, 0, wn, hd, wn, 1.0f, probs.m, probs.off, wn, pp, dV.m, dV.off, hd, mat, 1.0f, dO.m,
                                dO.off, hd, mat, count);
    if (st == CLNAS_OK) st = attn_move(ctx, s, 0, dO, dy, 1, 1.0, 0);
    return st;
}
