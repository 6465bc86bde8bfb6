/* bn_eval.cl - BatchNorm2d in eval mode: the statistics are given (running mean and variance),
 * not computed from the batch, so every sample is normalised on its own:
 *   y = gamma[c] * (x - mean[c]) * invstd[c] + beta[c],  stats = [mean(C) | invstd(C)].
 * Layout as cl/bn.cl: x, y [N][C][HW]; gradients [S][N][C][HW]. */

#define BNE_MAX_WG 256

/* One work item per element of x (total = N*C*HW). */
__kernel void bn_eval_fwd(__global const float *x, int x_off, __global const float *gamma, int g_off,
                          __global const float *beta, int b_off, __global const float *stats, int st_off,
                          __global float *y, int y_off, int C, int HW, int total)
{
    const int i = (int)get_global_id(0);
    if (i >= total) return;
    const int c = (i / HW) % C;
    const float xh = (x[x_off + i] - stats[st_off + c]) * stats[st_off + C + c];
    y[y_off + i] = gamma[g_off + c] * xh + beta[b_off + c];
}

/* Group (c, s): g = dy_scale * dy of seed s; dbeta = sum g, dgamma = sum g * xhat over the
 * channel's N*HW elements (tree in local memory, fixed order), then
 * dx (+)= gamma * invstd * g (no batch-statistics terms: the statistics are constants).
 * NDRange 2-D: global (C * lws, S), local (lws, 1), lws a power of two <= BNE_MAX_WG. */
__kernel void bn_eval_bwd(__global const float *x, int x_off, __global const float *gamma, int g_off,
                          __global const float *stats, int st_off, __global const float *dy, int dy_off,
                          __global float *dx, int dx_off, __global float *dgamma, int dg_off,
                          __global float *dbeta, int db_off, int g_ld, int N, int C, int HW,
                          float dy_scale, int acc)
{
    __local float b1[BNE_MAX_WG];
    __local float b2[BNE_MAX_WG];
    const int c = (int)get_group_id(0);
    const int s = (int)get_global_id(1);
    const int lid = (int)get_local_id(0);
    const int lsz = (int)get_local_size(0);
    const int M = N * HW;
    const size_t nstride = (size_t)C * HW;
    const size_t soff = (size_t)s * N * nstride + (size_t)c * HW;
    const float mean = stats[st_off + c], invstd = stats[st_off + C + c];
    float s1 = 0.0f, s2 = 0.0f;
    for (int v = lid; v < M; v += lsz) {
        const int n = v / HW, i = v - n * HW;
        const size_t e = (size_t)n * nstride + i;
        const float g = dy[dy_off + soff + e];
        s1 += g;
        s2 += g * (x[x_off + (size_t)c * HW + e] - mean) * invstd;
    }
    b1[lid] = s1;
    b2[lid] = s2;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = lsz / 2; h > 0; h /= 2) {
        if (lid < h) {
            b1[lid] += b1[lid + h];
            b2[lid] += b2[lid + h];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) {
        dbeta[db_off + s * g_ld + c] = b1[0] * dy_scale;
        dgamma[dg_off + s * g_ld + c] = b2[0] * dy_scale;
    }
    const float k = gamma[g_off + c] * invstd * dy_scale;
    for (int v = lid; v < M; v += lsz) {
        const int n = v / HW, i = v - n * HW;
        const size_t e = soff + (size_t)n * nstride + i;
        const float d = k * dy[dy_off + e];
        if (acc)
            dx[dx_off + e] += d;
        else
            dx[dx_off + e] = d;
    }
}
