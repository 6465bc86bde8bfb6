/* eltwise.c - elementwise ops: ReLU (reference + OpenCL forward/backward over S seeds),
 * y = a*x + b*y, and the one-hot seed rows that start the NTK backward (cl/eltwise.cl). */
#include <limits.h>
#include <math.h>

#include "ops/ops.h"

#define ELT_LWS 256 /* PoCL vectorises the work-item loop; bigger groups mean fewer of them */


void clnas_relu_fwd_ref(size_t count, const double *x, double *y)
{
    for (size_t i = 0; i < count; i++) y[i] = x[i] > 0 ? x[i] : 0.0;
}

void clnas_relu_bwd_ref(size_t count, const double *x, const double *dy, double *dx)
{
    for (size_t i = 0; i < count; i++)
        if (x[i] > 0) dx[i] += dy[i];
}

clnas_status clnas_relu_fwd(clnas_ctx *ctx, size_t count, clnas_dt x, clnas_dt y)
{
    if (count == 0) return CLNAS_OK;
    if (!clnas_fits_int(x.off, count) || !clnas_fits_int(y.off, count))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_relu_fwd: count %zu or offsets exceed INT_MAX", count);
    cl_kernel k;
    clnas_status st = clnas_kernel_get(ctx, "eltwise.cl", "", "relu_fwd", &k);
    if (st != CLNAS_OK) return st;
    st = clnas_kernel_args(ctx, k, "mimii", x.m, (int)x.off, y.m, (int)y.off, (int)count);
    if (st != CLNAS_OK) return st;
    size_t lws;
    if ((st = clnas_lws_capped(ctx, k, ELT_LWS, &lws)) != CLNAS_OK) return st;
    return clnas_launch(ctx, k, 1, &count, &lws);
}

clnas_status clnas_relu_bwd(clnas_ctx *ctx, size_t count, int S, clnas_dt x, clnas_dt dy,
                            clnas_dt dx)
{
    return clnas_relu_bwd_ex(ctx, count, S, x, dy, dx, 1);
}

clnas_status clnas_relu_bwd_ex(clnas_ctx *ctx, size_t count, int S, clnas_dt x, clnas_dt dy,
                               clnas_dt dx, int accumulate)
{
    if (S < 1) return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_relu_bwd: S=%d < 1", S);
    if (count == 0) return CLNAS_OK;
    if (count > (size_t)INT_MAX / (size_t)S)
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_relu_bwd: %zu x %d elements exceed INT_MAX", count, S);
    size_t total = count * (size_t)S;
    if (!clnas_fits_int(x.off, count) || !clnas_fits_int(dy.off, total) || !clnas_fits_int(dx.off, total))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_relu_bwd: offsets exceed INT_MAX");
    cl_kernel k;
    clnas_status st = clnas_kernel_get(ctx, "eltwise.cl", "", "relu_bwd", &k);
    if (st != CLNAS_OK) return st;
    st = clnas_kernel_args(ctx, k, "mimimiii", x.m, (int)x.off, dy.m, (int)dy.off, dx.m,
                           (int)dx.off, (int)count, accumulate ? 1 : 0);
    if (st != CLNAS_OK) return st;
    size_t gws[2] = {count, (size_t)S}, lws[2] = {ELT_LWS, 1};
    if ((st = clnas_lws_capped(ctx, k, ELT_LWS, &lws[0])) != CLNAS_OK) return st;
    return clnas_launch(ctx, k, 2, gws, lws);
}

void clnas_relu_sign_pack_ref(size_t count, int batch, const double *x, uint32_t *out, size_t out_ld, int *flag)
{
    const size_t words = (count + 31) / 32;
    for (int s = 0; s < batch; s++)
        for (size_t w = 0; w < words; w++) {
            uint32_t bits = 0;
            for (size_t b = 0; b < 32 && 32 * w + b < count; b++) {
                const double v = x[(size_t)s * count + 32 * w + b];
                if (v > 0) bits |= (uint32_t)1 << b;
                if (!isfinite(v)) *flag = 1;
            }
            out[(size_t)s * out_ld + w] = bits;
        }
}

clnas_status clnas_relu_sign_pack(clnas_ctx *ctx, size_t count, int batch, clnas_dt x, clnas_dt out,
                                  size_t out_ld, clnas_dt flag)
{
    return clnas_relu_sign_pack_ld(ctx, count, batch, x, count, out, out_ld, flag);
}

clnas_status clnas_relu_sign_pack_ld(clnas_ctx *ctx, size_t count, int batch, clnas_dt x, size_t x_ld, clnas_dt out,
                                     size_t out_ld, clnas_dt flag)
{
    const size_t words = (count + 31) / 32;
    if (x_ld < count)
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_relu_sign_pack: sample stride %zu < %zu values", x_ld, count);
    if (batch < 1 || out_ld < words)
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_relu_sign_pack: batch %d, row of %zu words for %zu values",
                               batch, out_ld, count);
    if (flag.off != 0)
        return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "clnas_relu_sign_pack: the flag must start its buffer");
    if (count == 0) return CLNAS_OK;
    if (count > (size_t)INT_MAX / (size_t)batch || out_ld > (size_t)INT_MAX / (size_t)batch ||
        x_ld > (size_t)INT_MAX / (size_t)batch || !clnas_fits_int(x.off, x_ld * (size_t)batch) || !clnas_fits_int(out.off, out_ld * (size_t)batch) ||
        !clnas_fits_int(flag.off, 1))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_relu_sign_pack: sizes or offsets exceed INT_MAX");
    cl_kernel k;
    clnas_status st = clnas_kernel_get(ctx, "eltwise.cl", "", "relu_sign_pack", &k);
    if (st != CLNAS_OK) return st;
    st = clnas_kernel_args(ctx, k, "miiimiim", x.m, (int)x.off, (int)x_ld, (int)count, out.m, (int)out.off, (int)out_ld,
                           flag.m);
    if (st != CLNAS_OK) return st;
    size_t gws[2] = {words, (size_t)batch};
    return clnas_launch(ctx, k, 2, gws, NULL);
}

clnas_status clnas_axpby(clnas_ctx *ctx, size_t count, float a, clnas_dt x, float b, clnas_dt y)
{
    if (count == 0) return CLNAS_OK;
    if (!clnas_fits_int(x.off, count) || !clnas_fits_int(y.off, count))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_axpby: count %zu or offsets exceed INT_MAX", count);
    cl_kernel k;
    clnas_status st = clnas_kernel_get(ctx, "eltwise.cl", "", "axpby", &k);
    if (st != CLNAS_OK) return st;
    st = clnas_kernel_args(ctx, k, "ifmifmi", (int)count, (double)a, x.m, (int)x.off, (double)b,
                           y.m, (int)y.off);
    if (st != CLNAS_OK) return st;
    size_t lws;
    if ((st = clnas_lws_capped(ctx, k, ELT_LWS, &lws)) != CLNAS_OK) return st;
    return clnas_launch(ctx, k, 1, &count, &lws);
}

clnas_status clnas_seed_rows(clnas_ctx *ctx, int S, int n, int k, int row0, clnas_dt dlogits)
{
    if (S < 1 || n < 1 || k < 1 || row0 < 0 || row0 > n - S)
        return clnas_set_error(ctx, CLNAS_E_SHAPE,
                               "clnas_seed_rows: need S >= 1, n, k >= 1 and 0 <= row0 <= n - S "
                               "(S=%d n=%d k=%d row0=%d)", S, n, k, row0);
    size_t total = (size_t)S * (size_t)n * (size_t)k;
    if (!clnas_fits_int(dlogits.off, total))
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "clnas_seed_rows: size or offset exceeds INT_MAX");
    cl_kernel kern;
    clnas_status st = clnas_kernel_get(ctx, "eltwise.cl", "", "seed_rows", &kern);
    if (st != CLNAS_OK) return st;
    st = clnas_kernel_args(ctx, kern, "miiiii", dlogits.m, (int)dlogits.off, n, k, row0, (int)total);
    if (st != CLNAS_OK) return st;
    size_t lws;
    if ((st = clnas_lws_capped(ctx, kern, ELT_LWS, &lws)) != CLNAS_OK) return st;
    return clnas_launch(ctx, kern, 1, &total, &lws);
}
