/* bn_eval.cl - BatchNorm2d in eval mode: the statistics are given (running mean and variance),
 * not computed from the batch, so every sample is normalised on its own:
 *   y = gamma[c] * (x - mean[c]) * invstd[c] + beta[c],  stats = [mean(C) | invstd(C)].
 * Layout as cl/bn.cl: x, y [N][C][HW]; gradients [S][N][C][HW]. */

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
