/* vit_ref.c - the double host references of the vision-transformer ops (ops/vit.h) and their
 * shape helpers: plain loops, double accumulation, one seed. The oracle for cl/vit.cl. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/vit.h"

/* ---------------- LayerNorm ---------------- */

void clnas_ln_fwd_ref(int rows, int d, double eps, const double *x, const double *gamma,
                      const double *beta, double *y, double *stats)
{
    for (size_t r = 0; r < (size_t)rows; r++) {
        const double *xr = x + r * d;
        double mu = 0, var = 0;
        for (int j = 0; j < d; j++) mu += xr[j];
        mu /= d;
        for (int j = 0; j < d; j++) var += (xr[j] - mu) * (xr[j] - mu);
        const double is = 1.0 / sqrt(var / d + eps);
        stats[2 * r] = mu;
        stats[2 * r + 1] = is;
        for (int j = 0; j < d; j++) y[r * d + j] = gamma[j] * (xr[j] - mu) * is + beta[j];
    }
}

void clnas_ln_bwd_ref(int rows, int d, const double *x, const double *gamma, const double *stats,
                      const double *dy, double *dx, double *dgamma, double *dbeta)
{
    for (int j = 0; j < d; j++) dgamma[j] = dbeta[j] = 0;
    for (size_t r = 0; r < (size_t)rows; r++) {
        const double mu = stats[2 * r], is = stats[2 * r + 1];
        const double *xr = x + r * d, *dyr = dy + r * d;
        double sg = 0, sgx = 0; /* sums of g = dy*gamma and g*xhat over the row */
        for (int j = 0; j < d; j++) {
            const double xh = (xr[j] - mu) * is, g = dyr[j] * gamma[j];
            sg += g;
            sgx += g * xh;
            dgamma[j] += dyr[j] * xh;
            dbeta[j] += dyr[j];
        }
        if (!dx) continue;
        for (int j = 0; j < d; j++) {
            const double xh = (xr[j] - mu) * is;
            dx[r * d + j] += is * (dyr[j] * gamma[j] - sg / d - xh * sgx / d);
        }
    }
}

/* ---------------- token linear ---------------- */

void clnas_tlinear_fwd_ref(int rows, int in, int out, const double *x, const double *W,
                           const double *b, double *y)
{
    for (size_t r = 0; r < (size_t)rows; r++)
        for (int o = 0; o < out; o++) {
            double acc = b ? b[o] : 0.0;
            for (int i = 0; i < in; i++) acc += x[r * in + i] * W[(size_t)o * in + i];
            y[r * out + o] = acc;
        }
}

void clnas_tlinear_bwd_ref(int rows, int in, int out, const double *x, const double *W,
                           const double *dy, double *dx, double *dW, double *db)
{
    for (size_t r = 0; dx && r < (size_t)rows; r++)
        for (int i = 0; i < in; i++) {
            double acc = 0;
            for (int o = 0; o < out; o++) acc += dy[r * out + o] * W[(size_t)o * in + i];
            dx[r * in + i] += acc;
        }
    for (int o = 0; o < out; o++) {
        double sb = 0;
        for (size_t r = 0; r < (size_t)rows; r++) sb += dy[r * out + o];
        if (db) db[o] = sb;
        for (int i = 0; i < in; i++) {
            double acc = 0;
            for (size_t r = 0; r < (size_t)rows; r++) acc += dy[r * out + o] * x[r * in + i];
            dW[(size_t)o * in + i] = acc;
        }
    }
}

/* ---------------- GELU, tanh ---------------- */

void clnas_act_fwd_ref(clnas_act a, size_t count, const double *x, double *y)
{
    for (size_t i = 0; i < count; i++)
        y[i] = a == CLNAS_ACT_GELU ? 0.5 * x[i] * (1.0 + erf(x[i] / sqrt(2.0))) : tanh(x[i]);
}

void clnas_act_bwd_ref(clnas_act a, size_t count, const double *x, const double *dy, double *dx)
{
    const double inv_sqrt_2pi = 0.39894228040143267794;
    for (size_t i = 0; i < count; i++) {
        double d;
        if (a == CLNAS_ACT_GELU)
            d = 0.5 * (1.0 + erf(x[i] / sqrt(2.0))) + x[i] * inv_sqrt_2pi * exp(-0.5 * x[i] * x[i]);
        else {
            const double t = tanh(x[i]);
            d = 1.0 - t * t;
        }
        dx[i] += dy[i] * d;
    }
}

/* ---------------- window attention ---------------- */

int clnas_attn_shape_init(clnas_attn_shape *s, int n, int h, int w, int c, int heads, int wh, int ww)
{
    memset(s, 0, sizeof *s);
    if (n < 1 || h < 1 || w < 1 || c < 1 || heads < 1 || wh < 1 || ww < 1) return 0;
    if (c % heads || h % wh || w % ww) return 0;
    s->n = n; s->h = h; s->w = w; s->c = c; s->heads = heads; s->wh = wh; s->ww = ww;
    s->hd = c / heads;
    s->wn = wh * ww;
    s->nwin = (h / wh) * (w / ww);
    s->scale = 1.0 / sqrt((double)s->hd);
    return 1;
}

size_t clnas_attn_probs_floats(const clnas_attn_shape *s)
{
    return (size_t)s->n * s->h * s->w * s->heads * s->wn;
}

/* Token index (within its sample) of position p of window win. */
static size_t win_tok(const clnas_attn_shape *s, int win, int p)
{
    const int nwx = s->w / s->ww, wy = win / nwx, wx = win % nwx;
    return (size_t)(wy * s->wh + p / s->ww) * s->w + (size_t)(wx * s->ww + p % s->ww);
}

void clnas_attn_fwd_ref(const clnas_attn_shape *s, const double *qkv, double *y, double *probs)
{
    const size_t T = (size_t)s->h * s->w, C = (size_t)s->c, n = (size_t)s->wn;
    for (int b = 0; b < s->n; b++)
        for (int win = 0; win < s->nwin; win++)
            for (int hh = 0; hh < s->heads; hh++) {
                double *P = probs + (((size_t)b * s->nwin + win) * s->heads + hh) * n * n;
                for (size_t i = 0; i < n; i++) {
                    const double *q = qkv + ((size_t)b * T + win_tok(s, win, (int)i)) * 3 * C + (size_t)hh * s->hd;
                    double mx = -INFINITY, sum = 0;
                    for (size_t j = 0; j < n; j++) {
                        const double *k = qkv + ((size_t)b * T + win_tok(s, win, (int)j)) * 3 * C + C + (size_t)hh * s->hd;
                        double a = 0;
                        for (int d = 0; d < s->hd; d++) a += q[d] * s->scale * k[d];
                        P[i * n + j] = a;
                        if (a > mx) mx = a;
                    }
                    for (size_t j = 0; j < n; j++) sum += P[i * n + j] = exp(P[i * n + j] - mx);
                    for (size_t j = 0; j < n; j++) P[i * n + j] /= sum;
                    double *yo = y + ((size_t)b * T + win_tok(s, win, (int)i)) * C + (size_t)hh * s->hd;
                    for (int d = 0; d < s->hd; d++) {
                        double acc = 0;
                        for (size_t j = 0; j < n; j++)
                            acc += P[i * n + j] * qkv[((size_t)b * T + win_tok(s, win, (int)j)) * 3 * C + 2 * C + (size_t)hh * s->hd + d];
                        yo[d] = acc;
                    }
                }
            }
}

/* One window and head of the backward: q, k, v, dq, dk, dv point at the head's slice of
 * token 0's features; tok[i] are the window's token indices (row stride 3C for qkv, C for dy). */
static void attn_bwd_head(const clnas_attn_shape *s, const double *qkv, const double *P, const double *dy,
                          double *dqkv, const size_t *tok, double *dP)
{
    const size_t C = (size_t)s->c, n = (size_t)s->wn;
    const int hd = s->hd;
    for (size_t i = 0; i < n; i++) {
        const double *dyi = dy + tok[i] * C;
        double rs = 0;
        for (size_t j = 0; j < n; j++) {
            const double *v = qkv + tok[j] * 3 * C + 2 * C;
            double a = 0;
            for (int d = 0; d < hd; d++) a += dyi[d] * v[d];
            dP[i * n + j] = a;
            rs += a * P[i * n + j];
        }
        for (size_t j = 0; j < n; j++) dP[i * n + j] = P[i * n + j] * (dP[i * n + j] - rs); /* dS */
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            const double ds = dP[i * n + j], p = P[i * n + j];
            const double *qi = qkv + tok[i] * 3 * C, *kj = qkv + tok[j] * 3 * C + C, *dyi = dy + tok[i] * C;
            for (int d = 0; d < hd; d++) {
                dqkv[tok[i] * 3 * C + d] += s->scale * ds * kj[d];
                dqkv[tok[j] * 3 * C + C + d] += s->scale * ds * qi[d];
                dqkv[tok[j] * 3 * C + 2 * C + d] += p * dyi[d];
            }
        }
}

void clnas_attn_bwd_ref(const clnas_attn_shape *s, const double *qkv, const double *probs,
                        const double *dy, double *dqkv)
{
    const size_t T = (size_t)s->h * s->w, C = (size_t)s->c, n = (size_t)s->wn;
    double *dP = malloc(n * n * sizeof *dP);
    size_t *tok = malloc(n * sizeof *tok);
    if (!dP || !tok) { /* references are test oracles: a failed allocation poisons the result */
        for (size_t e = 0; e < (size_t)s->n * T * 3 * C; e++) dqkv[e] = NAN;
        free(dP);
        free(tok);
        return;
    }
    for (int b = 0; b < s->n; b++)
        for (int win = 0; win < s->nwin; win++) {
            for (size_t p = 0; p < n; p++) tok[p] = (size_t)b * T + win_tok(s, win, (int)p);
            for (int hh = 0; hh < s->heads; hh++) {
                const double *P = probs + (((size_t)b * s->nwin + win) * s->heads + hh) * n * n;
                const size_t o = (size_t)hh * s->hd;
                attn_bwd_head(s, qkv + o, P, dy + o, dqkv + o, tok, dP);
            }
        }
    free(dP);
    free(tok);
}

/* ---------------- unfold ---------------- */

int clnas_unfold_shape_init(clnas_unfold_shape *s, int n, int c, int h, int w, int k, int stride,
                            int pad, int pad_hi, int tok_in)
{
    memset(s, 0, sizeof *s);
    if (n < 1 || c < 1 || h < 1 || w < 1 || k < 1 || stride < 1 || pad < 0 || pad_hi < 0) return 0;
    if (h + pad + pad_hi < k || w + pad + pad_hi < k) return 0;
    s->n = n; s->c = c; s->h = h; s->w = w; s->k = k; s->stride = stride; s->pad = pad; s->pad_hi = pad_hi;
    s->tok_in = tok_in ? 1 : 0;
    s->hout = (h + pad + pad_hi - k) / stride + 1;
    s->wout = (w + pad + pad_hi - k) / stride + 1;
    return 1;
}

/* Index of input element (b, ch, iy, ix) in either layout. */
static size_t unf_in(const clnas_unfold_shape *s, int b, int ch, int iy, int ix)
{
    if (s->tok_in) return (((size_t)b * s->h + iy) * s->w + ix) * s->c + ch;
    return (((size_t)b * s->c + ch) * s->h + iy) * s->w + ix;
}

void clnas_unfold_fwd_ref(const clnas_unfold_shape *s, const double *x, double *y)
{
    const int k = s->k;
    size_t e = 0;
    for (int b = 0; b < s->n; b++)
        for (int oy = 0; oy < s->hout; oy++)
            for (int ox = 0; ox < s->wout; ox++)
                for (int ch = 0; ch < s->c; ch++)
                    for (int ki = 0; ki < k; ki++)
                        for (int kj = 0; kj < k; kj++, e++) {
                            const int iy = oy * s->stride - s->pad + ki, ix = ox * s->stride - s->pad + kj;
                            y[e] = iy >= 0 && iy < s->h && ix >= 0 && ix < s->w ? x[unf_in(s, b, ch, iy, ix)] : 0.0;
                        }
}

void clnas_unfold_bwd_ref(const clnas_unfold_shape *s, const double *dy, double *dx)
{
    const int k = s->k;
    size_t e = 0;
    for (int b = 0; b < s->n; b++)
        for (int oy = 0; oy < s->hout; oy++)
            for (int ox = 0; ox < s->wout; ox++)
                for (int ch = 0; ch < s->c; ch++)
                    for (int ki = 0; ki < k; ki++)
                        for (int kj = 0; kj < k; kj++, e++) {
                            const int iy = oy * s->stride - s->pad + ki, ix = ox * s->stride - s->pad + kj;
                            if (iy >= 0 && iy < s->h && ix >= 0 && ix < s->w) dx[unf_in(s, b, ch, iy, ix)] += dy[e];
                        }
}

/* ---------------- token mean-pool ---------------- */

void clnas_tokpool_fwd_ref(int n, int t, int d, const double *x, double *y)
{
    for (size_t b = 0; b < (size_t)n; b++)
        for (int j = 0; j < d; j++) {
            double acc = 0;
            for (size_t i = 0; i < (size_t)t; i++) acc += x[(b * t + i) * d + j];
            y[b * d + j] = acc / t;
        }
}

void clnas_tokpool_bwd_ref(int n, int t, int d, const double *dy, double *dx)
{
    for (size_t b = 0; b < (size_t)n; b++)
        for (size_t i = 0; i < (size_t)t; i++)
            for (int j = 0; j < d; j++) dx[(b * t + i) * d + j] += dy[b * d + j] / t;
}

/* ---------------- forward-mode derivatives ---------------- */

void clnas_ln_jvp_ref(int rows, int d, const double *x, const double *gamma, const double *stats,
                      const double *dx, double *dy)
{
    for (size_t r = 0; r < (size_t)rows; r++) {
        const double mu = stats[2 * r], is = stats[2 * r + 1];
        const double *xr = x + r * d, *t = dx + r * d;
        double m = 0, mx = 0;
        for (int j = 0; j < d; j++) {
            m += t[j];
            mx += (xr[j] - mu) * is * t[j];
        }
        m /= d;
        mx /= d;
        for (int j = 0; j < d; j++) dy[r * d + j] = gamma[j] * is * (t[j] - m - (xr[j] - mu) * is * mx);
    }
}

void clnas_attn_jvp_ref(const clnas_attn_shape *s, const double *qkv, const double *probs,
                        const double *dqkv, double *dy)
{
    const size_t T = (size_t)s->h * s->w, C = (size_t)s->c, n = (size_t)s->wn;
    double *dP = malloc(n * sizeof *dP);
    size_t *tok = malloc(n * sizeof *tok);
    if (!dP || !tok) {
        for (size_t e = 0; e < (size_t)s->n * T * C; e++) dy[e] = NAN;
        free(dP);
        free(tok);
        return;
    }
    for (int b = 0; b < s->n; b++)
        for (int win = 0; win < s->nwin; win++) {
            for (size_t p = 0; p < n; p++) tok[p] = ((size_t)b * T + win_tok(s, win, (int)p));
            for (int hh = 0; hh < s->heads; hh++) {
                const double *P = probs + (((size_t)b * s->nwin + win) * s->heads + hh) * n * n;
                const size_t o = (size_t)hh * s->hd;
                for (size_t i = 0; i < n; i++) {
                    const double *qi = qkv + tok[i] * 3 * C + o, *dqi = dqkv + tok[i] * 3 * C + o;
                    double rs = 0;
                    for (size_t j = 0; j < n; j++) {
                        const double *kj = qkv + tok[j] * 3 * C + C + o, *dkj = dqkv + tok[j] * 3 * C + C + o;
                        double a = 0;
                        for (int d = 0; d < s->hd; d++) a += dqi[d] * kj[d] + qi[d] * dkj[d];
                        dP[j] = s->scale * a;
                        rs += P[i * n + j] * dP[j];
                    }
                    for (size_t j = 0; j < n; j++) dP[j] = P[i * n + j] * (dP[j] - rs);
                    for (int d = 0; d < s->hd; d++) {
                        double acc = 0;
                        for (size_t j = 0; j < n; j++)
                            acc += dP[j] * qkv[tok[j] * 3 * C + 2 * C + o + d] + P[i * n + j] * dqkv[tok[j] * 3 * C + 2 * C + o + d];
                        dy[tok[i] * C + o + d] = acc;
                    }
                }
            }
        }
    free(dP);
    free(tok);
}
