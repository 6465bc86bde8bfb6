/* linear.c - the classifier's fully connected layer (PyTorch nn.Linear, W is [out][in]):
 * double host reference and OpenCL forward/backward over S seeds (cl/linear.cl). */
#include <limits.h>

#include "ops/ops.h"


void clnas_linear_fwd_ref(int n, int in, int out, const double *x, const double *W,
                          const double *b, double *y)
{
    for (int r = 0; r < n; r++)
        for (int o = 0; o < out; o++) {
            double acc = b[o];
            for (int i = 0; i < in; i++) acc += x[(size_t)r * in + i] * W[(size_t)o * in + i];
            y[(size_t)r * out + o] = acc;
        }
}

void clnas_linear_bwd_ref(int n, int in, int out, const double *x, const double *W,
                          const double *dy, double *dx, double *dW, double *db)
{
    for (int r = 0; r < n; r++)
        for (int i = 0; i < in; i++) {
            double acc = 0;
            for (int o = 0; o < out; o++) acc += dy[(size_t)r * out + o] * W[(size_t)o * in + i];
            dx[(size_t)r * in + i] += acc;
        }
    for (int o = 0; o < out; o++) {
        double sb = 0;
        for (int r = 0; r < n; r++) sb += dy[(size_t)r * out + o];
        db[o] = sb;
        for (int i = 0; i < in; i++) {
            double acc = 0;
            for (int r = 0; r < n; r++) acc += dy[(size_t)r * out + o] * x[(size_t)r * in + i];
            dW[(size_t)o * in + i] = acc;
        }
    }
}

static clnas_status check_linear(clnas_ctx *ctx, int n, int in, int out, int S, const char *fn)
{
    if (n < 1 || in < 1 || out < 1 || S < 1)
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "%s: bad shape n=%d in=%d out=%d S=%d", fn, n,
                               in, out, S);
    size_t big = (size_t)(in > out ? in : out) + 1;
    if ((size_t)n * big > (size_t)INT_MAX / (size_t)S || (size_t)out * big > (size_t)INT_MAX)
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "%s: tensor exceeds INT_MAX elements", fn);
    return CLNAS_OK;
}

clnas_status clnas_linear_fwd(clnas_ctx *ctx, int n, int in, int out, clnas_dt x, clnas_dt W,
                              clnas_dt b, clnas_dt y)
{
    clnas_status st = check_linear(ctx, n, in, out, 1, "clnas_linear_fwd");
    if (st != CLNAS_OK) return st;
    if (!clnas_fits_int(x.off, (size_t)n * in) || !clnas_fits_int(W.off, (size_t)out * in) || !clnas_fits_int(b.off, (size_t)out) ||
        !clnas_fits_int(y.off, (size_t)n * out))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_linear_fwd: offsets exceed INT_MAX");
    cl_kernel k;
    st = clnas_kernel_get(ctx, "linear.cl", "", "linear_fwd", &k);
    if (st != CLNAS_OK) return st;
    st = clnas_kernel_args(ctx, k, "mimimimiiii", x.m, (int)x.off, W.m, (int)W.off, b.m,
                           (int)b.off, y.m, (int)y.off, n, in, out);
    if (st != CLNAS_OK) return st;
    size_t gws[2] = {(size_t)out, (size_t)n};
    return clnas_launch(ctx, k, 2, gws, NULL);
}

clnas_status clnas_linear_bwd(clnas_ctx *ctx, int n, int in, int out, int S, clnas_dt x,
                              clnas_dt W, clnas_dt dy, clnas_dt dx, clnas_dt dW, clnas_dt db,
                              size_t g_ld)
{
    clnas_status st = check_linear(ctx, n, in, out, S, "clnas_linear_bwd");
    if (st != CLNAS_OK) return st;
    const size_t nw = (size_t)out * in;
    if (S > 1 && (g_ld < nw || g_ld < (size_t)out))
        return clnas_set_error(ctx, CLNAS_E_SHAPE,
                               "clnas_linear_bwd: g_ld=%zu smaller than the %zu weights of one seed",
                               g_ld, nw);
    if (S > 1 && g_ld > (size_t)INT_MAX / (size_t)(S - 1))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_linear_bwd: g_ld*S exceeds INT_MAX");
    const size_t rows = S > 1 ? (size_t)(S - 1) * g_ld : 0;
    const size_t sn = (size_t)S * n;
    if (!clnas_fits_int(x.off, (size_t)n * in) || !clnas_fits_int(W.off, nw) || !clnas_fits_int(dy.off, sn * out) ||
        !clnas_fits_int(dx.off, sn * in) || rows > (size_t)INT_MAX || !clnas_fits_int(dW.off, rows + nw) ||
        !clnas_fits_int(db.off, rows + (size_t)out))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_linear_bwd: offsets exceed INT_MAX");

    cl_kernel k;
    st = clnas_kernel_get(ctx, "linear.cl", "", "linear_bwd_data", &k);
    if (st != CLNAS_OK) return st;
    st = clnas_kernel_args(ctx, k, "mimimiiiii", W.m, (int)W.off, dy.m, (int)dy.off, dx.m,
                           (int)dx.off, n, in, out, S);
    if (st != CLNAS_OK) return st;
    size_t g1[3] = {(size_t)in, (size_t)n, (size_t)S};
    st = clnas_launch(ctx, k, 3, g1, NULL);
    if (st != CLNAS_OK) return st;

    st = clnas_kernel_get(ctx, "linear.cl", "", "linear_bwd_param", &k);
    if (st != CLNAS_OK) return st;
    st = clnas_kernel_args(ctx, k, "mimimimiiiiii", x.m, (int)x.off, dy.m, (int)dy.off, dW.m,
                           (int)dW.off, db.m, (int)db.off, S > 1 ? (int)g_ld : 0, n, in, out, S);
    if (st != CLNAS_OK) return st;
    size_t g2[3] = {(size_t)in + 1, (size_t)out, (size_t)S};
    return clnas_launch(ctx, k, 3, g2, NULL);
}
