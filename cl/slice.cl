/* slice.cl - elementwise maps over tensors that may be channel slices of a concatenation
 * (graph_concat), and FactorizedReduce's shifted input.
 * A tensor of C channels in a storage of cs >= C channels: element i (< C*H*W) of sample b
 * is at off + b*cs*H*W + i; with cs = C this is the plain contiguous layout. Gradients fold
 * the seed into b (b = s*N + n, nb = S*N samples). Every buffer comes with an int offset in
 * floats; the host checks the index range.
 * NDRange of every kernel: 2-D (C*H*W, nb), the first dimension rounded up and guarded. */

/* shift_fwd: y[b][c][h][w] = x[b][c][h+1][w+1], 0 in the last row and column. */
__kernel void shift_fwd(__global const float *x, int x_off, int xcs, __global float *y, int y_off, int ycs, int C,
                        int H, int W)
{
    const int i = (int)get_global_id(0), b = (int)get_global_id(1);
    CLNAS_GUARD(i < C * H * W);
    const int w = i % W, h = (i / W) % H;
    const float v = (h + 1 < H && w + 1 < W) ? x[x_off + b * xcs * H * W + i + W + 1] : 0.0f;
    y[y_off + b * ycs * H * W + i] = v;
}

/* shift_bwd: dx[b][c][h][w] (+)= dy[b][c][h-1][w-1] for h, w >= 1 (0 elsewhere); accum == 0
 * stores without reading dx. */
__kernel void shift_bwd(__global const float *dy, int dy_off, int ycs, __global float *dx, int dx_off, int xcs, int C,
                        int H, int W, int accum)
{
    const int i = (int)get_global_id(0), b = (int)get_global_id(1);
    CLNAS_GUARD(i < C * H * W);
    const int w = i % W, h = (i / W) % H;
    const float g = (h >= 1 && w >= 1) ? dy[dy_off + b * ycs * H * W + i - W - 1] : 0.0f;
    __global float *d = dx + dx_off + b * xcs * H * W + i;
    *d = accum ? *d + g : g;
}

/* relu_sl_fwd: y = max(x, 0). */
__kernel void relu_sl_fwd(__global const float *x, int x_off, int xcs, __global float *y, int y_off, int ycs, int C,
                          int HW)
{
    const int i = (int)get_global_id(0), b = (int)get_global_id(1);
    CLNAS_GUARD(i < C * HW);
    const float v = x[x_off + b * xcs * HW + i];
    y[y_off + b * ycs * HW + i] = v > 0.0f ? v : 0.0f;
}

/* relu_sl_fwd_frozen: the ReLU frozen at a reference input xr (x's layout): y = xr > 0 ? x : 0
 * (clnas_plan_freeze; at x = xr it is relu_sl_fwd). */
__kernel void relu_sl_fwd_frozen(__global const float *xr, int xr_off, __global const float *x, int x_off, int xcs,
                                 __global float *y, int y_off, int ycs, int C, int HW)
{
    const int i = (int)get_global_id(0), b = (int)get_global_id(1);
    CLNAS_GUARD(i < C * HW);
    const int xi = b * xcs * HW + i;
    y[y_off + b * ycs * HW + i] = xr[xr_off + xi] > 0.0f ? x[x_off + xi] : 0.0f;
}

/* relu_sl_bwd: dx (+)= x > 0 ? dy : 0 (a select: a non-finite dy where x <= 0 is dropped);
 * x is the forward input of sample b % N, shared by the seeds. */
__kernel void relu_sl_bwd(__global const float *x, int x_off, int xcs, __global const float *dy, int dy_off, int ycs,
                          __global float *dx, int dx_off, int C, int HW, int N, int accum)
{
    const int i = (int)get_global_id(0), b = (int)get_global_id(1);
    CLNAS_GUARD(i < C * HW);
    __global float *d = dx + dx_off + b * xcs * HW + i;
    const float old = accum ? *d : 0.0f;
    const float g = dy[dy_off + b * ycs * HW + i];
    *d = x[x_off + (b % N) * xcs * HW + i] > 0.0f ? old + g : old;
}

/* axpby_sl: y = a*x + b*y; y is not read when bcoef == 0, x not when a == 0. */
__kernel void axpby_sl(float a, __global const float *x, int x_off, int xcs, float bcoef, __global float *y, int y_off,
                       int ycs, int C, int HW)
{
    const int i = (int)get_global_id(0), b = (int)get_global_id(1);
    CLNAS_GUARD(i < C * HW);
    __global float *d = y + y_off + b * ycs * HW + i;
    const float u = a != 0.0f ? a * x[x_off + b * xcs * HW + i] : 0.0f;
    *d = bcoef != 0.0f ? u + bcoef * *d : u;
}
