/* bn.cl - BatchNorm2d in train mode (batch statistics, biased variance), PyTorch semantics.
 *
 * Layout: x, y are [N][C][HW] (NCHW, HW = H*W); gradients are [S][N][C][HW]. M = N*HW is
 * the number of elements of one channel. stats = [mean(C) | invstd(C)].
 *
 * Reductions use one work-group per channel (or per (seed, channel)); the work-group size
 * is a power of two <= BN_MAX_WG chosen by the host. Each work item sums a strided slice
 * serially with Kahan compensation, then the group combines the partial sums with a tree in
 * local memory, so no long plain float sums occur even for M ~ 1e5. */

#define BN_MAX_WG 256

/* Kahan step: adds v to (sum, comp). The compiler keeps this exact (no fast-math). */
#define KAHAN_ADD(sum, comp, v)          \
    do {                                 \
        float y_ = (v) - (comp);         \
        float t_ = (sum) + y_;           \
        (comp) = (t_ - (sum)) - y_;      \
        (sum) = t_;                      \
    } while (0)

/* Tree sum of buf[0..lsz) into buf[0]; lsz is a power of two. Ends with a barrier. */
static void bn_tree(__local float *buf, int lid, int lsz)
{
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = lsz >> 1; h > 0; h >>= 1) {
        if (lid < h) buf[lid] += buf[lid + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

/* bn_fwd_stats: per-channel mean and invstd = 1/sqrt(var_biased + eps), two passes.
 * NDRange: 1-D, global = C * lws, local = lws (power of two <= BN_MAX_WG); group g = channel. */
__kernel void bn_fwd_stats(__global const float *x, int x_off, __global float *stats,
                           int st_off, int N, int C, int HW, float eps)
{
    __local float buf[BN_MAX_WG];
    const int c = (int)get_group_id(0);
    const int lid = (int)get_local_id(0);
    const int lsz = (int)get_local_size(0);
    const int M = N * HW;
    __global const float *xc = x + x_off + (size_t)c * HW;
    const size_t nstride = (size_t)C * HW;

    float s = 0.0f, comp = 0.0f;
    for (int j = lid; j < M; j += lsz) {
        int n = j / HW, i = j - n * HW;
        KAHAN_ADD(s, comp, xc[n * nstride + i]);
    }
    buf[lid] = s;
    bn_tree(buf, lid, lsz);
    const float mean = buf[0] / (float)M;
    barrier(CLK_LOCAL_MEM_FENCE); /* everyone has read buf[0] before it is overwritten */

    s = 0.0f;
    comp = 0.0f;
    for (int j = lid; j < M; j += lsz) {
        int n = j / HW, i = j - n * HW;
        float d = xc[n * nstride + i] - mean;
        KAHAN_ADD(s, comp, d * d);
    }
    buf[lid] = s;
    bn_tree(buf, lid, lsz);
    if (lid == 0) {
        float var = buf[0] / (float)M;
        stats[st_off + c] = mean;
        stats[st_off + C + c] = 1.0f / sqrt(var + eps);
    }
}

/* bn_fwd_apply: y = gamma[c] * (x - mean[c]) * invstd[c] + beta[c].
 * NDRange: 1-D over N*C*HW elements (rounded up; guarded). */
__kernel void bn_fwd_apply(__global const float *x, int x_off, __global const float *gamma,
                           int g_off, __global const float *beta, int b_off,
                           __global const float *stats, int st_off, __global float *y, int y_off,
                           int C, int HW, int total)
{
    const int e = (int)get_global_id(0);
    CLNAS_GUARD(e < total);
    const int c = (e / HW) % C;
    const float xhat = (x[x_off + e] - stats[st_off + c]) * stats[st_off + C + c];
    y[y_off + e] = gamma[g_off + c] * xhat + beta[b_off + c];
}

/* bn_bwd_reduce: for seed s and channel c, sdy = sum dy and sdyx = sum dy * xhat over the
 * channel's M elements. Writes ws[s*2C + c] = sdy, ws[s*2C + C + c] = sdyx, and the parameter
 * gradients dbeta[db_off + s*g_ld + c] = sdy, dgamma[dg_off + s*g_ld + c] = sdyx.
 * NDRange: 2-D, global = (C * lws, S), local = (lws, 1); group (c, s). */
__kernel void bn_bwd_reduce(__global const float *x, int x_off, __global const float *stats,
                            int st_off, __global const float *dy, int dy_off,
                            __global float *ws, int ws_off, __global float *dgamma, int dg_off,
                            __global float *dbeta, int db_off, int g_ld, int N, int C, int HW)
{
    __local float b1[BN_MAX_WG];
    __local float b2[BN_MAX_WG];
    const int c = (int)get_group_id(0);
    const int s = (int)get_global_id(1);
    const int lid = (int)get_local_id(0);
    const int lsz = (int)get_local_size(0);
    const int M = N * HW;
    const size_t nstride = (size_t)C * HW;
    __global const float *xc = x + x_off + (size_t)c * HW;
    __global const float *dyc = dy + dy_off + (size_t)s * N * nstride + (size_t)c * HW;
    const float mean = stats[st_off + c], invstd = stats[st_off + C + c];

    float s1 = 0.0f, c1 = 0.0f, s2 = 0.0f, c2 = 0.0f;
    for (int j = lid; j < M; j += lsz) {
        int n = j / HW, i = j - n * HW;
        size_t e = n * nstride + i;
        float g = dyc[e];
        float xh = (xc[e] - mean) * invstd;
        KAHAN_ADD(s1, c1, g);
        KAHAN_ADD(s2, c2, g * xh);
    }
    b1[lid] = s1;
    b2[lid] = s2;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = lsz >> 1; h > 0; h >>= 1) {
        if (lid < h) {
            b1[lid] += b1[lid + h];
            b2[lid] += b2[lid + h];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) {
        ws[ws_off + s * 2 * C + c] = b1[0];
        ws[ws_off + s * 2 * C + C + c] = b2[0];
        dbeta[db_off + s * g_ld + c] = b1[0];
        dgamma[dg_off + s * g_ld + c] = b2[0];
    }
}

/* bn_bwd_dx: dx += gamma*invstd/M * (M*dy - sdy - xhat*sdyx), computed as
 * gamma*invstd * (dy - sdy/M - xhat*sdyx/M), with sdy, sdyx from ws ([S][2C]).
 * NDRange: 1-D over S*N*C*HW elements (rounded up; guarded); x is shared by the seeds. */
__kernel void bn_bwd_dx(__global const float *x, int x_off, __global const float *gamma,
                        int g_off, __global const float *stats, int st_off,
                        __global const float *dy, int dy_off, __global const float *ws,
                        int ws_off, __global float *dx, int dx_off, int N, int C, int HW,
                        int total)
{
    const int e = (int)get_global_id(0);
    CLNAS_GUARD(e < total);
    const int per_seed = N * C * HW;
    const int s = e / per_seed;
    const int r = e - s * per_seed;
    const int c = (r / HW) % C;
    const float invM = 1.0f / (float)(N * HW);
    const float invstd = stats[st_off + C + c];
    const float xh = (x[x_off + r] - stats[st_off + c]) * invstd;
    const float sdy = ws[ws_off + s * 2 * C + c];
    const float sdyx = ws[ws_off + s * 2 * C + C + c];
    const float g = dy[dy_off + e] - sdy * invM - xh * (sdyx * invM);
    dx[dx_off + e] += gamma[g_off + c] * invstd * g;
}
